import Glibc
/// What a database row holds besides the line (`-O clickhouse://`): the line's time, its level
/// and its fields, read as `--where`, `--level` and `--json` read them (`--format`, `--tz`,
/// `--year` or each file's year).
public final class RowColumns: Sendable {
    let format: LogFormat
    let table: FieldNameTable
    let timeSlot: Int
    let levelSlot: Int
    /// Per input, how its times are read (the year of those written without one).
    let inputTimes: [LogTime]
    let time: LogTime
    let shaper: LineShaper

    /// `inputs`: the run's, for each one's year (`yearGiven`: `time.year` for all).
    public init(format: LogFormat, time: LogTime, yearGiven: Bool, inputs: [InputName]) throws {
        var query = FieldQuery()
        timeSlot = query.slot(for: "ts")
        levelSlot = query.slot(for: "level")
        table = FieldNameTable(query)
        self.format = format
        self.time = time
        let now = LogTime.now()
        inputTimes = yearGiven ? [] : inputs.map { time.reading($0, now: now) ?? time }
        shaper = try LineShaper(.json, format: format, inputs: inputs, label: [])
    }

    /// Per-sink working memory (one per thread that encodes rows).
    public final class Scratch {
        var slots: FieldSlots
        let path: PathBuffer
        let shaper: LineShaper.Scratch

        init(_ columns: RowColumns) {
            slots = FieldSlots(count: 2)
            path = PathBuffer(capacity: columns.shaper.query.longestName + 16)
            shaper = columns.shaper.makeScratch()
        }
    }

    public func makeScratch() -> Scratch { Scratch(self) }

    /// One line's columns: `line` without its newline (a CR before it is dropped here).
    /// `seconds`: its time (nil when it has none); `level`: the level's name as `--count-by
    /// level` prints it (`error` for `E`, `ERR`, `Error`), or the field's text when it names no
    /// level; `fields` gets the line's fields as a JSON object, as `--json` writes them but
    /// for a text line's message (`msg`), which is the line's own tail: a row holds the line.
    /// (It was more than half of a text line's row: the server's CPU for 469,357 rows in one
    /// INSERT, 2.2-2.4 s with it, 1.1-1.7 s without, the peer's lines alone 0.5-0.6 s.)
    public func read(_ line: UnsafeBufferPointer<UInt8>, input: Int, scratch: Scratch,
                     fields: inout [UInt8]) -> (seconds: Double?, level: [UInt8]) {
        var body = line
        // A record's row (`--record`): its fields are its first line's.
        if let base = line.baseAddress, let newline = memchr(base, 0x0A, line.count) {
            body = UnsafeBufferPointer(start: base, count: base.distance(to: newline.assumingMemoryBound(to: UInt8.self)))
        }
        if body.last == 0x0D { body = UnsafeBufferPointer(rebasing: body.dropLast()) }
        let clock = input < inputTimes.count ? inputTimes[input] : time
        // A text line is parsed once for its time, level and fields (twice, it was 12% of an
        // export's CPU). When its head names both a time and a level, no other field can win
        // over them (each is its name's first choice, offered first), so they are taken from
        // the parse as `FieldPredicate.read` would take them; otherwise that reads the line.
        let parts = isText(body) ? TextFields.parse(body) : nil
        let seconds: Double?
        var level: [UInt8] = []
        if let parts, let head = Self.timeAndLevel(parts, body) {
            seconds = clock.seconds(of: .string(head.time))
            let value = FieldValue.string(head.level)
            level = LogLevel(value: value).map(\.nameBytes) ?? value.text
        } else {
            FieldPredicate.read(body, format: format, names: table.names, slots: &scratch.slots, path: scratch.path)
            seconds = scratch.slots.values[timeSlot].flatMap { clock.seconds(of: $0) }
            if let value = scratch.slots.values[levelSlot], value != .null {
                level = LogLevel(value: value).map(\.nameBytes) ?? value.text
            }
        }
        shaper.appendFields(body, to: &fields, scratch: scratch.shaper, withMessage: false, textParts: parts)
        return (seconds, level)
    }

    /// Whether `FieldPredicate.read` reads `line` as text (not after a failed JSON reading:
    /// such a line takes the reader's path).
    private func isText(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        switch format {
        case .text: true
        case .json, .logfmt: false
        case .auto: FieldPredicate.autoShape(line) == .text
        }
    }

    /// The first `ts` part and the first level of a text line's head, in `TextFields.read`'s
    /// order, when it has both.
    static func timeAndLevel(_ parts: TextFields.Parts, _ line: UnsafeBufferPointer<UInt8>) -> (time: [UInt8], level: [UInt8])? {
        func slice(_ start: Int, _ end: Int) -> [UInt8] { Array(UnsafeBufferPointer(rebasing: line[start..<end])) }
        var time: [UInt8]?
        var level: [UInt8]?
        func isNamed(_ name: StaticString, _ wanted: StaticString) -> Bool {
            name.utf8CodeUnitCount == wanted.utf8CodeUnitCount && memcmp(name.utf8Start, wanted.utf8Start, name.utf8CodeUnitCount) == 0
        }
        for part in parts.named {
            if time == nil && isNamed(part.name, "ts") { time = slice(part.start, part.end) }
            if level == nil && isNamed(part.name, "level") { level = slice(part.start, part.end) }
        }
        if level == nil {
            if let (start, end) = parts.level { level = slice(start, end) } else { level = parts.priorityLevel?.nameBytes }
        }
        guard let time, let level else { return nil }
        return (time, level)
    }
}

/// How a database sink that stores times, levels and fields reads them (`--format`, `--tz`,
/// `--year`).
public struct RowColumnsSpec: Sendable, Equatable {
    public var format: LogFormat = .auto
    public var time = LogTime(year: 1970)
    public var yearGiven = false

    public init() {}
}
