/// `--record line|auto|REGEX`: what a record is.
public enum RecordMode: Sendable, Equatable {
    /// Each line is a record (the default).
    case line
    /// A record starts at a line of the shape the input's first lines start with (a timestamp,
    /// else a level word, else `{`); the lines after it that do not start that way continue it.
    case auto
    /// A record starts at each line matching this PCRE2 pattern.
    case regex(String)
}

/// How a record starts in one input, as `framedAsRecords` decided it (`auto` learns it from
/// the input's first lines).
public enum RecordStart: Sendable {
    /// Every line (auto found no shape: the input is read as lines).
    case everyLine
    /// A line that starts with a timestamp (`LogTime`'s shapes).
    case timestamp
    /// A line that starts with a level word (`ERROR`, `[warn]`, `INFO:`).
    case level
    /// A line that starts with `{` (JSON lines: a pretty-printed object's other lines continue it).
    case json
    case regex(RegexMatcher)

    /// The lines `auto` looks at to learn the shape.
    static let learningLines = 256

    /// The rule `mode` gives for an input whose first chunk is `chunk`.
    static func rule(for mode: RecordMode, firstChunk chunk: LineChunk, regex: RegexMatcher?) -> RecordStart {
        switch mode {
        case .line: return .everyLine
        case .regex: return .regex(regex!)
        case .auto: break
        }
        var timestamps = 0
        var levels = 0
        var objects = 0
        var seen = 0
        chunk.forEachLine { line in
            guard seen < learningLines, let base = line.baseAddress else { return }
            seen += 1
            if RecordStart.timestamp.starts(base, 0, line.count, scratch: nil) { timestamps += 1 }
            else if RecordStart.level.starts(base, 0, line.count, scratch: nil) { levels += 1 }
            else if line.first == UInt8(ascii: "{") { objects += 1 }
        }
        if timestamps > 0 { return .timestamp }
        if levels > 0 { return .level }
        if objects > 0 { return .json }
        return .everyLine
    }

    /// Whether the line `[start, newline)` of `base` starts a record.
    @inline(__always)
    func starts(_ base: UnsafePointer<UInt8>, _ start: Int, _ newline: Int, scratch: MatchScratch?) -> Bool {
        guard newline > start else { return self.startsEmptyLine }
        let first = base[start]
        switch self {
        case .everyLine:
            return true
        case .timestamp:
            // A timestamp starts with a digit, `[` or a month's capital letter.
            guard (first >= 0x30 && first <= 0x39) || first == UInt8(ascii: "[") || (first >= 0x41 && first <= 0x5A) else { return false }
            return LogTime.timestampEnd(UnsafeBufferPointer(start: base + start, count: newline - start), at: 0) != nil
        case .level:
            guard first != 0x20 && first != 0x09 else { return false }
            let line = UnsafeBufferPointer(start: base + start, count: newline - start)
            return TextFields.levelWord(Cursor(line), line) != nil
        case .json:
            return first == UInt8(ascii: "{")
        case .regex(let regex):
            let data = scratch ?? regex.makeScratch()
            var gaveUp = false
            if regex.match(base + start, length: newline - start, offset: 0, scratch: data, gaveUp: &gaveUp) != nil { return true }
            return gaveUp && regex.dfaMatches(base + start, length: newline - start) == true
        }
    }

    /// An empty line continues a record, but in line mode (it is a record of its own).
    private var startsEmptyLine: Bool {
        if case .everyLine = self { return true }
        return false
    }

    /// Working memory for `starts` (a regex's match data), made once per chunk.
    func makeScratch() -> MatchScratch? {
        if case .regex(let regex) = self { return regex.makeScratch() }
        return nil
    }

    /// The start of the record holding the line that starts at `first`, looking back no
    /// further than `floor` (a record start); `count`: the buffer's size.
    func recordStart(_ base: UnsafePointer<UInt8>, line first: Int, floor: Int, count: Int, scratch: MatchScratch?) -> Int {
        var start = first
        while start > floor {
            if starts(base, start, lineEnd(base, from: start, count: count), scratch: scratch) { return start }
            start = lineStart(base + floor, before: start - 1 - floor) + floor
        }
        return floor
    }

    /// Just past the record whose last line might end at `newline`: the start of the next line
    /// that starts a record, or `count`.
    func recordEnd(_ base: UnsafePointer<UInt8>, after newline: Int, count: Int, scratch: MatchScratch?) -> Int {
        var next = newline + 1
        while next < count {
            let end = lineEnd(base, from: next, count: count)
            if starts(base, next, end, scratch: scratch) { return next }
            next = end + 1
        }
        return count
    }
}
