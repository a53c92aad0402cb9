/// Reads fields from a text log line by its shape:
///
/// - `TIMESTAMP LEVEL [component] message`, with the timestamp as ISO 8601 (`2026-11-26T10:15:30.124Z`,
///   `2015-10-18 18:01:47,978`), `17/06/09 20:10:40`, `081109 203615`, `03-17 16:13:38.811` or
///   `[Sun Dec 04 04:47:44 2005]`; a number (a pid) may stand before the level, `-` around it
///   (`- INFO  [x] - msg`), and the component may be `name:` instead of `[name]`, or Python
///   logging's `ts - name - LEVEL - msg`:
///   fields `ts`, `level`, `component`, `msg`.
/// - Android logcat (`03-17 16:13:38.811  1702  2395 D Tag: msg`): also `pid`, `tid`, `tag`
///   (`component`), with the one-letter level.
/// - syslog (`Nov 30 14:00:00 host prog[pid]: msg`): `ts`, `host`, `program`, `pid`, `msg`,
///   and `level` when the message opens with a level word (`prog[pid]: ERROR ...`);
///   `<PRI>` before it gives `level` (its severity).
/// - Apache/nginx access logs (`IP - user [30/Nov/2026:14:00:00 +0000] "GET /p HTTP/1.1" 200 512 "ref" "ua"`):
///   `client`, `user`, `ts`, `method`, `path`, `protocol`, `status`, `bytes`, `referer`, `user_agent`.
/// - A line that starts with a level word (`ERROR: disk full`, `[WARN] x`): `level`, `msg`.
///
/// Any `key=value` in the message is a field too (`user=u1 ip=10.0.0.1`), as logfmt reads it.
enum TextFields {
    /// The named parts of a line, as byte ranges (start, end) of the line.
    struct Parts {
        var named: [(name: StaticString, start: Int, end: Int)] = []
        var message: (Int, Int)?
        /// The level's severity from `<PRI>` (syslog), when the line has no level word.
        var priorityLevel: LogLevel?
        var level: (Int, Int)?
    }

    static func read(_ line: UnsafeBufferPointer<UInt8>, names: FieldNames, into slots: inout FieldSlots) {
        guard line.baseAddress != nil else { return }
        let parts = parse(line)
        func offer(_ name: StaticString, _ bytes: @autoclosure () -> [UInt8]) {
            if let wanted = names.lookup(name.utf8Start, name.utf8CodeUnitCount) { slots.offer(wanted, names: names, .string(bytes())) }
        }
        func slice(_ start: Int, _ end: Int) -> [UInt8] { Array(UnsafeBufferPointer(rebasing: line[start..<end])) }
        for part in parts.named {
            offer(part.name, slice(part.start, part.end))
        }
        if let (start, end) = parts.level {
            offer("level", slice(start, end))
        } else if let level = parts.priorityLevel {
            offer("level", level.nameBytes)
        }
        if let (start, end) = parts.message {
            offer("msg", slice(start, end))
            if slots.complete { return }  // the line's own parts gave every field
            // key=value pairs inside the message.
            let message = UnsafeBufferPointer(rebasing: line[start..<end])
            LogfmtPairs.read(message, names: names, into: &slots)
        }
    }

    /// The line's level word, if any, without reading the rest (`--level` on text logs).
    static func levelWord(_ line: UnsafeBufferPointer<UInt8>) -> (LogLevel, [UInt8])? {
        let parts = parse(line)
        if let (start, end) = parts.level {
            let word = Array(UnsafeBufferPointer(rebasing: line[start..<end]))
            if let level = LogLevel(word[...]) { return (level, word) }
        }
        if let level = parts.priorityLevel { return (level, level.nameBytes) }
        return nil
    }

    static func parse(_ line: UnsafeBufferPointer<UInt8>) -> Parts {
        var cursor = Cursor(line)
        var parts = Parts()
        // syslog's <PRI>
        if cursor.peek == UInt8(ascii: "<"), let close = cursor.find(UInt8(ascii: ">"), within: 5),
           let priority = Int(String(decoding: UnsafeBufferPointer(rebasing: line[(cursor.index + 1)..<close]), as: UTF8.self)) {
            parts.priorityLevel = LogLevel(syslogSeverity: priority & 7)
            cursor.index = close + 1
        }
        if let access = accessLog(&cursor, line) { return access }
        let tsStart = cursor.index
        if let tsEnd = timestamp(cursor) {
            // A bracketed time (`[Sun Dec 04 ...]`, `[2026-11-30 10:00:00]`) without its brackets.
            let bracketed = line[tsStart] == UInt8(ascii: "[") && line[tsEnd - 1] == UInt8(ascii: "]")
            parts.named.append(("ts", bracketed ? tsStart + 1 : tsStart, bracketed ? tsEnd - 1 : tsEnd))
            cursor.index = tsEnd
            cursor.skipBlanks()
            if syslogTimestamp(line, at: tsStart) || rfc3339SyslogHead(line, timestamp: tsStart, rest: cursor.index) {
                // host program[pid]: message
                let hostStart = cursor.index
                cursor.skipWord()
                parts.named.append(("host", hostStart, cursor.index))
                cursor.skipBlanks()
                let programStart = cursor.index
                while !cursor.atEnd, let byte = cursor.peek, byte != UInt8(ascii: "["), byte != UInt8(ascii: ":"), byte != 0x20 {
                    cursor.index += 1
                }
                if cursor.index > programStart { parts.named.append(("program", programStart, cursor.index)) }
                if cursor.peek == UInt8(ascii: "["), let close = cursor.find(UInt8(ascii: "]"), within: 24) {
                    parts.named.append(("pid", cursor.index + 1, close))
                    cursor.index = close + 1
                }
                if cursor.peek == UInt8(ascii: ":") { cursor.index += 1 }
                cursor.skipBlanks()
                // A level word opening the message, in capitals, bracketed or before a colon
                // (`app[1]: ERROR ...`, `[warn]`, `<error>`, `error: ...`; not a sentence's first
                // word: `Alert rule resolved`, `Fatal error`): the level, over a `<PRI>`.
                if let (start, end, after) = levelWord(cursor, line),
                   after > end || line[start..<end].allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) {
                    parts.level = (start, end)
                    cursor.index = after
                    cursor.skipBlanks()
                }
                parts.message = (cursor.index, line.count)
                return parts
            }
        }
        // Up to two numbers (pid, tid) and a `-` before the level.
        var numbers: [(Int, Int)] = []
        var afterDash = false
        for _ in 0..<3 {
            let start = cursor.index
            if let mark = cursor.peek, mark == UInt8(ascii: "-") || mark == UInt8(ascii: "|"), cursor.byte(at: start + 1) == 0x20 {
                cursor.index += 1  // `- INFO` (Zookeeper), `| ERROR |` (loguru)
                cursor.skipBlanks()
                afterDash = true
                continue
            }
            // Python logging's default `ts - name - LEVEL - msg`: the logger's name between dashes.
            if afterDash, levelWord(cursor, line) == nil, let space = cursor.find(0x20, within: 128),
               cursor.byte(at: space + 1) == UInt8(ascii: "-"), cursor.byte(at: space + 2) == 0x20 {
                var after = cursor
                after.index = space + 3
                after.skipBlanks()
                if levelWord(after, line) != nil {
                    parts.named.append(("component", cursor.index, space))
                    cursor = after
                    break
                }
            }
            // A thread before the level (`[main] ERROR`, logback's default).
            if cursor.peek == UInt8(ascii: "["), levelWord(cursor, line) == nil, let close = cursor.find(UInt8(ascii: "]"), within: 64),
               cursor.byte(at: close + 1) == 0x20 {
                var after = cursor
                after.index = close + 1
                after.skipBlanks()
                if levelWord(after, line) != nil {
                    parts.named.append(("thread", cursor.index + 1, close))
                    cursor = after
                    break
                }
            }
            var end = start
            while let byte = cursor.byte(at: end), byte >= 0x30 && byte <= 0x39 { end += 1 }
            guard end > start, cursor.byte(at: end) == 0x20 else { break }
            numbers.append((start, end))
            cursor.index = end
            cursor.skipBlanks()
        }
        let android = numbers.count == 2 && parts.named.first.map { $0.end - $0.start == 18 } == true
        let levelStart = cursor.index
        var levelRange: (Int, Int)?
        if android, let letter = cursor.peek, cursor.byte(at: levelStart + 1) == 0x20,
           LogLevel([letter][...]) != nil {
            levelRange = (levelStart, levelStart + 1)
            cursor.index += 1
            parts.named.append(("pid", numbers[0].0, numbers[0].1))
            parts.named.append(("tid", numbers[1].0, numbers[1].1))
        } else if let (start, end, after) = levelWord(cursor, line) {
            levelRange = (start, end)
            cursor.index = after
        }
        guard let levelRange else {
            // No level: the rest is the message (a line of no known shape is all message,
            // its `key=value` pairs fields).
            cursor.index = levelStart
            parts.message = (cursor.index, line.count)
            return parts
        }
        parts.level = levelRange
        if numbers.count == 1 { parts.named.append(("pid", numbers[0].0, numbers[0].1)) }
        cursor.skipBlanks()
        // [component] or name: (a word ending in ':'), then an optional '-'.
        if cursor.peek == UInt8(ascii: "["), let close = cursor.find(UInt8(ascii: "]"), within: 256) {
            parts.named.append(("component", cursor.index + 1, close))
            cursor.index = close + 1
        } else {
            let start = cursor.index
            var end = start
            while let byte = cursor.byte(at: end), byte != 0x20, byte != UInt8(ascii: ":") { end += 1 }
            if end > start, cursor.byte(at: end) == UInt8(ascii: ":"), cursor.byte(at: end + 1) == 0x20 || cursor.byte(at: end + 1) == nil {
                parts.named.append(("component", start, end))
                cursor.index = end + 1
            }
        }
        cursor.skipBlanks()
        if cursor.peek == UInt8(ascii: "-"), cursor.byte(at: cursor.index + 1) == 0x20 {
            cursor.index += 1
            cursor.skipBlanks()
        }
        parts.message = (cursor.index, line.count)
        return parts
    }

    /// A level word at the cursor: `ERROR`, `[error]`, `<warn>`, `ERROR:`; its range and where
    /// the text after it starts.
    static func levelWord(_ cursor: Cursor, _ line: UnsafeBufferPointer<UInt8>) -> (Int, Int, Int)? {
        var start = cursor.index
        var close: UInt8?
        if cursor.peek == UInt8(ascii: "[") { close = UInt8(ascii: "]"); start += 1 }
        if cursor.peek == UInt8(ascii: "<") { close = UInt8(ascii: ">"); start += 1 }
        var end = start
        while let byte = cursor.byte(at: end), (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) { end += 1 }
        guard end - start >= 3, LogLevel(UnsafeBufferPointer(rebasing: line[start..<end])) != nil else { return nil }
        var after = end
        if let close {
            guard cursor.byte(at: end) == close else { return nil }
            after += 1
        } else if cursor.byte(at: end) == UInt8(ascii: ":") {
            return (start, end, end + 1)  // `ERROR: x`, Python's `ERROR:root:x`
        } else if cursor.byte(at: end) == UInt8(ascii: "["), end - start == 4 {
            return (start, end, end)  // logrus's `ERRO[0001] x`
        }
        guard cursor.byte(at: after) == nil || cursor.byte(at: after) == 0x20 || cursor.byte(at: after) == 0x09 else { return nil }
        return (start, end, after)
    }

    /// rsyslog's high-precision format (Debian 12's default), `journalctl -o short-iso`:
    /// `2026-11-30T14:00:00.123456+00:00 host program[pid]: msg`. An RFC 3339 time, then a
    /// host that is not a level word, a program and `[pid]` or not, then `: ` (so that
    /// `TIME INFO main: started` stays a text line with its level).
    static func rfc3339SyslogHead(_ line: UnsafeBufferPointer<UInt8>, timestamp start: Int, rest: Int) -> Bool {
        guard line.count - start > 19, line[start + 4] == UInt8(ascii: "-"), line[start + 10] == UInt8(ascii: "T") else { return false }
        var cursor = Cursor(line)
        cursor.index = rest
        guard levelWord(cursor, line) == nil else { return false }
        let hostStart = cursor.index
        cursor.skipWord()
        guard cursor.index > hostStart, cursor.byte(at: cursor.index) == 0x20 else { return false }
        cursor.skipBlanks()
        let programStart = cursor.index
        while let byte = cursor.peek, byte != 0x20, byte != 0x09, byte != UInt8(ascii: "["), byte != UInt8(ascii: ":") { cursor.index += 1 }
        guard cursor.index > programStart else { return false }
        if cursor.peek == UInt8(ascii: "[") {
            guard let close = cursor.find(UInt8(ascii: "]"), within: 24) else { return false }
            cursor.index = close + 1
        }
        guard cursor.peek == UInt8(ascii: ":") else { return false }
        let after = cursor.byte(at: cursor.index + 1)
        return after == nil || after == 0x20
    }

    /// `Nov 30 14:00:00` at `start`.
    static func syslogTimestamp(_ line: UnsafeBufferPointer<UInt8>, at start: Int) -> Bool {
        line.count - start >= 15 && LogTime.monthIndex(line, at: start) != nil && line[start + 3] == 0x20
    }

    /// The end of a timestamp at the cursor, nil if none is there.
    static func timestamp(_ cursor: Cursor) -> Int? {
        LogTime.timestampEnd(cursor.line, at: cursor.index)
    }

    /// `IP - user [date] "REQUEST" status bytes "referer" "agent"`.
    static func accessLog(_ cursor: inout Cursor, _ line: UnsafeBufferPointer<UInt8>) -> Parts? {
        var probe = cursor
        let clientStart = probe.index
        probe.skipWord()
        let clientEnd = probe.index
        guard clientEnd > clientStart, probe.peek == 0x20 else { return nil }
        probe.index += 1
        let identStart = probe.index
        probe.skipWord()
        guard probe.index > identStart, probe.peek == 0x20 else { return nil }
        probe.index += 1
        let userStart = probe.index
        probe.skipWord()
        let userEnd = probe.index
        guard userEnd > userStart, probe.peek == 0x20 else { return nil }
        probe.index += 1
        guard probe.peek == UInt8(ascii: "["), let close = probe.find(UInt8(ascii: "]"), within: 40) else { return nil }
        let tsStart = probe.index + 1
        probe.index = close + 1
        guard probe.peek == 0x20, probe.byte(at: probe.index + 1) == UInt8(ascii: "\"") else { return nil }
        var parts = Parts()
        parts.named.append(("client", clientStart, clientEnd))
        parts.named.append(("user", userStart, userEnd))
        parts.named.append(("ts", tsStart, close))
        probe.index += 2
        let requestStart = probe.index
        guard let requestEnd = probe.find(UInt8(ascii: "\""), within: line.count, from: requestStart) else { return nil }
        // METHOD PATH PROTOCOL
        var words: [(Int, Int)] = []
        var position = requestStart
        while position < requestEnd {
            let start = position
            while position < requestEnd && line[position] != 0x20 { position += 1 }
            words.append((start, position))
            while position < requestEnd && line[position] == 0x20 { position += 1 }
        }
        if words.count >= 1 { parts.named.append(("method", words[0].0, words[0].1)) }
        if words.count >= 2 { parts.named.append(("path", words[1].0, words[1].1)) }
        if words.count >= 3 { parts.named.append(("protocol", words[2].0, words[2].1)) }
        probe.index = requestEnd + 1
        probe.skipBlanks()
        let statusStart = probe.index
        probe.skipWord()
        parts.named.append(("status", statusStart, probe.index))
        probe.skipBlanks()
        let bytesStart = probe.index
        probe.skipWord()
        parts.named.append(("bytes", bytesStart, probe.index))
        probe.skipBlanks()
        for name: StaticString in ["referer", "user_agent"] {
            guard probe.peek == UInt8(ascii: "\""), let end = probe.find(UInt8(ascii: "\""), within: line.count, from: probe.index + 1) else { break }
            parts.named.append((name, probe.index + 1, end))
            probe.index = end + 1
            probe.skipBlanks()
        }
        cursor = probe
        return parts
    }
}

/// `key=value` pairs inside a text message (keys of letters, digits, `_ . - @ /`, values up
/// to a blank, `,` or `)`, or quoted). They rank after the line's own parts.
enum LogfmtPairs {
    static func read(_ message: UnsafeBufferPointer<UInt8>, names: FieldNames, into slots: inout FieldSlots) {
        forEach(message) { key, value, escaped in
            if let wanted = names.lookup(key) {
                slots.offer(wanted, names: names, rankOffset: 100, .string(escaped ? JSONFields.decode(value) : Array(value)))
            }
        }
    }

    static func forEach(_ message: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>, Bool) -> Void) {
        guard let base = message.baseAddress, memchr(base, Int32(UInt8(ascii: "=")), message.count) != nil else { return }
        LogfmtFields.scan(message, insideText: true) { key, value, escaped, _ in
            body(key, value, escaped)
            return true
        }
    }
}

/// A read position in a line.
struct Cursor {
    let line: UnsafeBufferPointer<UInt8>
    var index = 0

    init(_ line: UnsafeBufferPointer<UInt8>) { self.line = line }

    var atEnd: Bool { index >= line.count }
    var peek: UInt8? { index < line.count ? line[index] : nil }

    @inline(__always)
    func byte(at offset: Int) -> UInt8? { offset < line.count ? line[offset] : nil }

    mutating func skipBlanks() {
        while index < line.count && (line[index] == 0x20 || line[index] == 0x09) { index += 1 }
    }

    mutating func skipWord() {
        while index < line.count && line[index] != 0x20 && line[index] != 0x09 { index += 1 }
    }

    /// The index of `byte` after the cursor, within `limit` bytes.
    func find(_ byte: UInt8, within limit: Int, from: Int? = nil) -> Int? {
        var position = (from ?? index) + (from == nil ? 1 : 0)
        let end = min(line.count, (from ?? index) + limit + 1)
        while position < end {
            if line[position] == byte { return position }
            position += 1
        }
        return nil
    }
}

import Glibc
