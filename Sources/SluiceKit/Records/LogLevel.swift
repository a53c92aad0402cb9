/// A log level, ordered by severity: `--level error+` selects error and the levels above it.
///
/// Spellings are read without regard to case: `E`, `ERR`, `ERROR`, `error`, `Error`; `W`,
/// `WARN`, `WARNING`; `FATAL`, `CRIT`, `CRITICAL`, `PANIC`, `EMERG`, `ALERT`, `SEVERE` are worse
/// than error (one level, `critical`). Numbers in a JSON `level` field are pino's and
/// bunyan's (10 trace … 60 fatal); syslog's `<PRI>` gives its severity (0–7).
public enum LogLevel: Int, Sendable, Comparable, CaseIterable {
    case trace = 1, debug, info, notice, warn, error, critical

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }

    /// The name `--count-by level` prints for lines of this level.
    public var name: String {
        switch self {
        case .trace: "trace"
        case .debug: "debug"
        case .info: "info"
        case .notice: "notice"
        case .warn: "warn"
        case .error: "error"
        case .critical: "critical"
        }
    }

    static let spellings: [(String, LogLevel)] = [
        ("trace", .trace), ("trc", .trace), ("trac", .trace), ("finest", .trace), ("finer", .trace), ("verbose", .trace), ("v", .trace), ("t", .trace),
        ("debug", .debug), ("dbg", .debug), ("debu", .debug), ("fine", .debug), ("d", .debug),
        ("info", .info), ("inf", .info), ("information", .info), ("informational", .info), ("i", .info),
        ("notice", .notice), ("note", .notice), ("n", .notice),
        ("warn", .warn), ("warning", .warn), ("wrn", .warn), ("w", .warn),
        ("error", .error), ("err", .error), ("erro", .error), ("e", .error),
        ("critical", .critical), ("crit", .critical), ("fatal", .critical), ("fata", .critical), ("ftl", .critical), ("panic", .critical),
        ("pani", .critical), ("dpanic", .critical),
        ("emerg", .critical), ("emergency", .critical), ("alert", .critical), ("severe", .critical), ("f", .critical),
        ("c", .critical), ("a", .critical),
    ]

    /// The level a word spells (any case), nil if none. The word's letters, lowercased, are
    /// packed into two integers and compared with the spellings packed alike: no array per
    /// word (reading each row's level was 10% of a ClickHouse export's CPU with one).
    public init?<Bytes: Collection>(_ word: Bytes) where Bytes.Element == UInt8 {
        guard let key = Self.packed(word) else { return nil }
        for entry in Self.packedSpellings where entry.low == key.low && entry.high == key.high {
            self = entry.level
            return
        }
        return nil
    }

    /// A word of 1 to 16 ASCII letters, lowercased, one byte each from the low end (the rest
    /// zero, so words of different lengths differ); nil for anything else.
    @inline(__always)
    static func packed<Bytes: Collection>(_ word: Bytes) -> (low: UInt64, high: UInt64)? where Bytes.Element == UInt8 {
        var low: UInt64 = 0
        var high: UInt64 = 0
        var index: UInt64 = 0
        for byte in word {
            guard index < 16, (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) else { return nil }
            let letter = UInt64(byte | 0x20)
            if index < 8 { low |= letter << (8 * index) } else { high |= letter << (8 * (index - 8)) }
            index += 1
        }
        return index == 0 ? nil : (low, high)
    }

    static let packedSpellings: [(low: UInt64, high: UInt64, level: LogLevel)] = spellings.map { spelling, level in
        let key = packed(Array(spelling.utf8))!
        return (key.low, key.high, level)
    }

    /// `name`'s bytes, made once.
    static let nameBytes: [[UInt8]] = allCases.map { Array($0.name.utf8) }
    var nameBytes: [UInt8] { Self.nameBytes[rawValue - 1] }

    /// The level a user named (`--level error`, `--level W`).
    public init?(named text: String) {
        self.init(Array(text.utf8))
    }

    /// syslog's severity: 0 emerg, 1 alert, 2 crit, 3 err, 4 warning, 5 notice, 6 info, 7 debug.
    init(syslogSeverity severity: Int) {
        switch severity {
        case 0, 1, 2: self = .critical
        case 3: self = .error
        case 4: self = .warn
        case 5: self = .notice
        case 6: self = .info
        default: self = .debug
        }
    }

    /// pino and bunyan's numbers: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal.
    init?(number: Double) {
        switch number {
        case 10: self = .trace
        case 20: self = .debug
        case 30: self = .info
        case 40: self = .warn
        case 50: self = .error
        case 60: self = .critical
        default: return nil
        }
    }

    /// The level a field's value names.
    init?(value: FieldValue) {
        switch value {
        case .string(let bytes):
            if let level = LogLevel(bytes[...]) { self = level; return }
            guard let number = FieldValue.parseNumber(bytes[...]) else { return nil }
            self.init(number: number)
        case .number(let number, _): self.init(number: number)
        default: return nil
        }
    }
}

/// `--level LEVEL` (that level) or `--level LEVEL+` (that level and worse).
public struct LevelFilter: Sendable, Equatable {
    public var level: LogLevel
    public var orWorse: Bool

    public init(level: LogLevel, orWorse: Bool) {
        self.level = level
        self.orWorse = orWorse
    }

    /// Parses `error`, `error+`, `W+`; nil if the word names no level.
    public init?(parsing text: String) {
        var word = Substring(text)
        let orWorse = word.hasSuffix("+")
        if orWorse { word = word.dropLast() }
        guard let level = LogLevel(named: String(word)) else { return nil }
        self.init(level: level, orWorse: orWorse)
    }

    func accepts(_ level: LogLevel) -> Bool {
        orWorse ? level >= self.level : level == self.level
    }
}
