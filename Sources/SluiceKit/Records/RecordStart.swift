/// `--record line|auto|REGEX`: what a record is.
public enum RecordMode: Sendable, Equatable {
    /// Each line is a record (the default).
    case line
    /// A record starts at a line that starts as an event does (a timestamp, a JSON object, a
    /// logfmt pair; a level word where the input's first lines show no timestamps); the lines
    /// after it that do not continue it.
    case auto
    /// A record starts at each line matching this PCRE2 pattern.
    case regex(String)
}

/// The shapes of line that start a record under `--record auto`.
public struct RecordShapes: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// A timestamp at the line's start (`LogTime`'s shapes).
    public static let timestamp = RecordShapes(rawValue: 1)
    /// A level word at the line's start (`ERROR`, `[warn]`, `INFO:`).
    public static let level = RecordShapes(rawValue: 2)
    /// A JSON object (`{`).
    public static let json = RecordShapes(rawValue: 4)
    /// A logfmt pair (`key=`).
    public static let logfmt = RecordShapes(rawValue: 8)
}

/// How a record starts in one input, as `framedAsRecords` decided it (`auto` learns it from
/// the input's first lines).
public enum RecordStart: Sendable {
    /// Every line (auto found no shape: the input is read as lines).
    case everyLine
    /// A line of one of these shapes; the others continue the record before them.
    case shapes(RecordShapes)
    case regex(RegexMatcher)

    /// The lines `auto` looks at to learn the shape.
    static let learningLines = 256

    /// The rule `mode` gives for an input whose first chunk is `chunk`: with `auto`, a line
    /// starting with a JSON object or a logfmt pair always starts a record (one event per
    /// line), and so does one starting with a timestamp; a level word starts one only when
    /// the input's first lines show no timestamp at a line's start (in a timestamped log, a
    /// line starting `Error:` is part of a message). No shape in the first lines: every line
    /// is a record.
    static func rule(for mode: RecordMode, firstChunk chunk: LineChunk, regex: RegexMatcher?) -> RecordStart {
        switch mode {
        case .line: return .everyLine
        case .regex: return .regex(regex!)
        case .auto: break
        }
        var seen: RecordShapes = []
        var count = 0
        chunk.forEachLine { line in
            guard count < learningLines, let base = line.baseAddress else { return }
            count += 1
            for shape in [RecordShapes.timestamp, .level, .json, .logfmt] where !seen.contains(shape) {
                if RecordStart.shapes(shape).starts(base, 0, line.count, scratch: nil) { seen.insert(shape) }
            }
        }
        guard !seen.isEmpty else { return .everyLine }
        var shapes: RecordShapes = [.timestamp, .json, .logfmt]
        if seen.contains(.level) && !seen.contains(.timestamp) { shapes.insert(.level) }
        return .shapes(shapes)
    }

    /// Whether the line `[start, newline)` of `base` starts a record.
    @inline(__always)
    func starts(_ base: UnsafePointer<UInt8>, _ start: Int, _ newline: Int, scratch: MatchScratch?) -> Bool {
        switch self {
        case .everyLine:
            return true
        case .shapes(let shapes):
            guard newline > start else { return false }  // an empty line continues a record
            let first = base[start]
            let line = UnsafeBufferPointer(start: base + start, count: newline - start)
            if shapes.contains(.json) && first == UInt8(ascii: "{") {
                // A JSON object's line: `{"`, `{ "` or `{}` (a lone `{` opens a pretty-printed
                // body, which continues the record before it).
                var index = start + 1
                while index < newline && (base[index] == 0x20 || base[index] == 0x09) { index += 1 }
                if index < newline && (base[index] == UInt8(ascii: "\"") || base[index] == UInt8(ascii: "}")) { return true }
            }
            // A timestamp starts with a digit, `[` or a month's capital letter.
            if shapes.contains(.timestamp), (first >= 0x30 && first <= 0x39) || first == UInt8(ascii: "[") || (first >= 0x41 && first <= 0x5A),
               LogTime.timestampEnd(line, at: 0) != nil { return true }
            if shapes.contains(.logfmt), (first >= 0x61 && first <= 0x7A) || first == UInt8(ascii: "_"),
               LogfmtFields.looksLikeLogfmt(line) { return true }
            if shapes.contains(.level), first != 0x20 && first != 0x09, TextFields.levelWord(Cursor(line), line) != nil { return true }
            return false
        case .regex(let regex):
            let data = scratch ?? regex.makeScratch()
            let subject = newline > start ? base + start : UnsafePointer<UInt8>(bitPattern: 1)!  // an empty line: `^$` may match it
            if case .match = regex.decide(subject, length: newline - start, scratch: data) { return true }
            return false
        }
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
