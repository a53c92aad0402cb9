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
        FieldPredicate.read(body, format: format, names: table.names, slots: &scratch.slots, path: scratch.path)
        let clock = input < inputTimes.count ? inputTimes[input] : time
        let seconds = scratch.slots.values[timeSlot].flatMap { clock.seconds(of: $0) }
        var level: [UInt8] = []
        if let value = scratch.slots.values[levelSlot], value != .null {
            level = LogLevel(value: value).map(\.nameBytes) ?? value.text
        }
        shaper.appendFields(body, to: &fields, scratch: scratch.shaper, withMessage: false)
        return (seconds, level)
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
