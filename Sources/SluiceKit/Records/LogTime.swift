import Glibc

/// Timestamps as logs write them, read into seconds since the epoch (UTC).
///
/// Shapes: ISO 8601 and RFC 3339 (`2026-11-30T14:00:00.123Z`, `2026-11-30 14:00:00,123+01:00`,
/// `2026-11-30`), syslog (`Nov 30 14:00:00`, the year from `year`), Apache access
/// (`30/Nov/2026:14:00:00 +0000`), Apache error (`[Sun Dec 04 04:47:44 2005]`), `17/06/09 20:10:40`
/// (yy/mm/dd), `081109 203615` (yymmdd hhmmss), Android (`03-17 16:13:38.811`, the year from
/// `year`), nginx's error log (`2026/11/30 14:00:00`), a bracketed ISO time (`[2026-11-30 14:00:00]`,
/// Laravel's), and epoch seconds or milliseconds as a number. A time without a zone is in
/// `zoneOffset` seconds east of UTC (0 unless `--tz` says).
public struct LogTime: Sendable, Equatable {
    /// The year for shapes that have none (syslog, Android): `--year`, else the current year.
    public var year: Int
    /// Seconds east of UTC for times written without a zone.
    public var zoneOffset: Int
    /// A time written without a year that would fall after this (seconds since the epoch) is
    /// of the year before: a file's lines are older than its last change (`Dec 31 23:59` in a
    /// file changed on January 1). The file's modification time plus a day, for a clock
    /// written in another zone; nil with `--year`.
    public var latest: Double?
    /// Without `--year`, how each input's times are read (`reading`): a `--since`/`--until`
    /// time written without a year must fall at the same time in each (`placeBound`).
    public var readings: [LogTime] = []

    public init(year: Int, zoneOffset: Int = 0) {
        self.year = year
        self.zoneOffset = zoneOffset
    }

    /// The months' three letters, lower case, each packed in a UInt32 as `monthIndex` packs them.
    static let months: [UInt32] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"].map {
        $0.utf8.reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// The month (0–11) named by the three letters at `at`, any case. (It packs the letters in
    /// an integer: an array of them was allocated for every line read, about a tenth of
    /// `--since`'s time.)
    @inline(__always)
    static func monthIndex(_ line: UnsafeBufferPointer<UInt8>, at: Int) -> Int? {
        guard at + 3 <= line.count, line[at] >= 0x41 else { return nil }
        let word = UInt32(line[at] | 0x20) << 16 | UInt32(line[at + 1] | 0x20) << 8 | UInt32(line[at + 2] | 0x20)
        return months.firstIndex(of: word)
    }

    /// Where a timestamp at `at` ends (any shape above but bare numbers), nil if none starts there.
    static func timestampEnd(_ line: UnsafeBufferPointer<UInt8>, at: Int) -> Int? {
        LogTime(year: 1970).read(line, at: at)?.end
    }

    /// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146097 + dayOfEra - 719468
    }

    /// A time written without a year: in `year`, or the year before if that is after `latest`.
    @inline(__always)
    func yearless(month: Int, day: Int, time: Double) -> Double {
        let seconds = Double(Self.days(year: year, month: month, day: day) * 86400 - zoneOffset) + time
        guard let latest, seconds > latest else { return seconds }
        return Double(Self.days(year: year - 1, month: month, day: day) * 86400 - zoneOffset) + time
    }

    /// Where a `--since`/`--until` value falls.
    public enum BoundPlacement: Equatable {
        case time(Double)
        case notATime
        /// Written without a year, it falls differently in the inputs (last modified in
        /// different years, or one across New Year): it names no one time.
        case ambiguous
    }

    /// `text` as a `--since`/`--until` value, placed as each input's lines are (`readings`).
    public func placeBound(_ text: String, now: Double) -> BoundPlacement {
        let values = (readings.isEmpty ? [self] : readings).map { $0.bound(parsing: text, now: now) }
        guard let first = values.first, let seconds = first, !values.contains(nil) else { return .notATime }
        return values.allSatisfy({ $0 == seconds }) ? .time(seconds) : .ambiguous
    }

    /// The timestamp at `at`: where it ends and its time in seconds since the epoch.
    func read(_ line: UnsafeBufferPointer<UInt8>, at start: Int) -> (end: Int, seconds: Double)? {
        var reader = DigitReader(line: line, index: start)
        let count = line.count
        func digit(_ offset: Int) -> Bool { offset < count && line[offset] >= 0x30 && line[offset] <= 0x39 }
        // [Sun Dec 04 04:47:44 2005], [Sun Dec 04 04:47:44.123456 2005] (Apache's error log)
        if start < count, line[start] == UInt8(ascii: "["), start + 26 <= count, line[start + 4] == 0x20,
           let month = Self.monthIndex(line, at: start + 5) {
            reader.index = start + 9
            guard let day = reader.number(2), reader.skip(0x20), let time = reader.clock(), reader.skip(0x20),
                  let year = reader.number(4), reader.skip(UInt8(ascii: "]")) else { return nil }
            let seconds = Double(Self.days(year: year, month: month + 1, day: day) * 86400 - zoneOffset) + time
            return (reader.index, seconds)
        }
        // [2026-11-30 14:00:00] (Laravel), [2026-11-30T14:00:00.123Z]
        if start + 12 <= count, line[start] == UInt8(ascii: "["), digit(start + 1), line[start + 5] == UInt8(ascii: "-"),
           let (end, seconds) = read(line, at: start + 1), end < count, line[end] == UInt8(ascii: "]") {
            return (end + 1, seconds)
        }
        // Nov 30 14:00:00 (syslog; the day may be space-padded)
        if let month = Self.monthIndex(line, at: start), start + 14 <= count, line[start + 3] == 0x20 {
            reader.index = start + 4
            if reader.peek == 0x20 { reader.index += 1 }
            guard let day = reader.number(1...2), reader.skip(0x20), let time = reader.clock() else { return nil }
            return (reader.index, yearless(month: month + 1, day: day, time: time))
        }
        guard digit(start) else { return nil }
        // 2026-11-30[T ]14:00:00[.fff][Z|+hh:mm]
        if digit(start + 3), start + 10 <= count, line[start + 4] == UInt8(ascii: "-"), line[start + 7] == UInt8(ascii: "-") {
            guard let year = reader.number(4), reader.skip(UInt8(ascii: "-")), let month = reader.number(2),
                  reader.skip(UInt8(ascii: "-")), let day = reader.number(2), (1...12).contains(month), (1...31).contains(day) else { return nil }
            var seconds = Double(Self.days(year: year, month: month, day: day) * 86400)
            let afterDate = reader.index
            if let separator = reader.peek, separator == UInt8(ascii: "T") || separator == 0x20, digit(reader.index + 1) {
                reader.index += 1
                guard let time = reader.clock() else { return (afterDate, seconds - Double(zoneOffset)) }
                seconds += time
                if let zone = reader.zone() { return (reader.index, seconds - Double(zone)) }
            }
            return (reader.index, seconds - Double(zoneOffset))
        }
        // 2026/11/30 14:00:00 (nginx's error log)
        if digit(start + 3), start + 19 <= count, line[start + 4] == UInt8(ascii: "/"), line[start + 7] == UInt8(ascii: "/") {
            guard let year = reader.number(4), reader.skip(UInt8(ascii: "/")), let month = reader.number(2), reader.skip(UInt8(ascii: "/")),
                  let day = reader.number(2), reader.skip(0x20), let time = reader.clock(), (1...12).contains(month) else { return nil }
            return (reader.index, Double(Self.days(year: year, month: month, day: day) * 86400 - zoneOffset) + time)
        }
        // 30/Nov/2026:14:00:00 +0000 (Apache access)
        if start + 11 <= count, line[start + 2] == UInt8(ascii: "/"), let month = Self.monthIndex(line, at: start + 3),
           line[start + 6] == UInt8(ascii: "/") {
            guard let day = reader.number(2) else { return nil }
            reader.index = start + 7
            guard let year = reader.number(4), reader.skip(UInt8(ascii: ":")), let time = reader.clock() else { return nil }
            var seconds = Double(Self.days(year: year, month: month + 1, day: day) * 86400) + time
            let beforeZone = reader.index
            if reader.skip(0x20), let zone = reader.zone() {
                seconds -= Double(zone)
            } else {
                reader.index = beforeZone
                seconds -= Double(zoneOffset)
            }
            return (reader.index, seconds)
        }
        // 17/06/09 20:10:40 (yy/mm/dd, Spark)
        if start + 17 <= count, line[start + 2] == UInt8(ascii: "/"), line[start + 5] == UInt8(ascii: "/"), line[start + 8] == 0x20 {
            guard let year = reader.number(2), reader.skip(UInt8(ascii: "/")), let month = reader.number(2),
                  reader.skip(UInt8(ascii: "/")), let day = reader.number(2), reader.skip(0x20), let time = reader.clock(),
                  (1...12).contains(month) else { return nil }
            let seconds = Double(Self.days(year: 2000 + year, month: month, day: day) * 86400 - zoneOffset) + time
            return (reader.index, seconds)
        }
        // 03-17 16:13:38.811 (Android: mm-dd)
        if start + 14 <= count, line[start + 2] == UInt8(ascii: "-"), line[start + 5] == 0x20, line[start + 8] == UInt8(ascii: ":") {
            guard let month = reader.number(2), reader.skip(UInt8(ascii: "-")), let day = reader.number(2), reader.skip(0x20),
                  let time = reader.clock(), (1...12).contains(month) else { return nil }
            return (reader.index, yearless(month: month, day: day, time: time))
        }
        // 081109 203615 (yymmdd hhmmss, HDFS)
        if start + 13 <= count, line[start + 6] == 0x20, (0..<6).allSatisfy({ digit(start + $0) && digit(start + 7 + $0) }),
           start + 13 == count || !digit(start + 13) {
            guard let year = reader.number(2), let month = reader.number(2), let day = reader.number(2), reader.skip(0x20),
                  let hour = reader.number(2), let minute = reader.number(2), let second = reader.number(2),
                  (1...12).contains(month), hour < 24, minute < 60, second < 61 else { return nil }
            let seconds = Self.days(year: 2000 + year, month: month, day: day) * 86400 + hour * 3600 + minute * 60 + second - zoneOffset
            return (reader.index, Double(seconds))
        }
        return nil
    }

    /// A field's value as a time: a timestamp in any shape, or a number of epoch seconds
    /// (milliseconds when above 10^11, microseconds above 10^14, nanoseconds above 10^17).
    func seconds(of value: FieldValue) -> Double? {
        if let number = value.number {
            switch abs(number) {
            case 1e17...: return number / 1e9
            case 1e14...: return number / 1e6
            case 1e11...: return number / 1e3
            default: return number
            }
        }
        let text = value.text
        return text.withUnsafeBufferPointer { read($0, at: 0)?.seconds }
    }
}

/// Reads fixed-width numbers and clock times from a line.
struct DigitReader {
    let line: UnsafeBufferPointer<UInt8>
    var index: Int

    var peek: UInt8? { index < line.count ? line[index] : nil }

    mutating func skip(_ byte: UInt8) -> Bool {
        guard peek == byte else { return false }
        index += 1
        return true
    }

    mutating func number(_ width: Int) -> Int? { number(width...width) }

    mutating func number(_ widths: ClosedRange<Int>) -> Int? {
        var value = 0
        var digits = 0
        while digits < widths.upperBound, let byte = peek, byte >= 0x30 && byte <= 0x39 {
            value = value * 10 + Int(byte - 0x30)
            digits += 1
            index += 1
        }
        return widths.contains(digits) ? value : nil
    }

    /// `hh:mm[:ss[.fff|,fff]]`: seconds since midnight.
    mutating func clock() -> Double? {
        guard let hour = number(2), hour < 25, skip(UInt8(ascii: ":")), let minute = number(2), minute < 60 else { return nil }
        var seconds = Double(hour * 3600 + minute * 60)
        let beforeSeconds = index
        if skip(UInt8(ascii: ":")) {
            guard let second = number(2), second < 61 else { index = beforeSeconds; return seconds }
            seconds += Double(second)
            if let mark = peek, mark == UInt8(ascii: ".") || mark == UInt8(ascii: ","),
               index + 1 < line.count, line[index + 1] >= 0x30 && line[index + 1] <= 0x39 {
                index += 1
                var scale = 0.1
                while let byte = peek, byte >= 0x30 && byte <= 0x39 {
                    seconds += Double(byte - 0x30) * scale
                    scale /= 10
                    index += 1
                }
            }
        }
        return seconds
    }

    /// `Z`, `+hh:mm`, `+hhmm`, `-hh`: seconds east of UTC; nil (and nothing read) if none.
    mutating func zone() -> Int? {
        guard let sign = peek else { return nil }
        if sign == UInt8(ascii: "Z") || sign == UInt8(ascii: "z") { index += 1; return 0 }
        guard sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") else { return nil }
        let start = index
        index += 1
        guard let hours = number(2) else { index = start; return nil }
        var minutes = 0
        if skip(UInt8(ascii: ":")) {
            guard let value = number(2) else { index = start; return nil }
            minutes = value
        } else if let value = number(2) {
            minutes = value
        }
        guard minutes < 60 else { index = start; return nil }
        let offset = (hours * 3600 + minutes * 60) * (sign == UInt8(ascii: "-") ? -1 : 1)
        return offset
    }
}

extension LogTime {
    /// Now, in seconds since the epoch.
    public static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    /// The year (UTC) at `seconds` since the epoch.
    /// When `input` was last modified (seconds since the epoch); nil for standard input or
    /// what is not a regular file (missing, a directory).
    public static func modificationTime(of input: InputName) -> Double? {
        guard case .path(let name) = input else { return nil }
        var info = stat()
        guard name.withCString({ stat($0, &info) }) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        return Double(info.st_mtim.tv_sec)
    }

    /// How input `input`'s times are read without `--year`: in the year it was last
    /// modified, none later than that (standard input: now). Nil for a path that is not a
    /// regular file (nothing of it is read).
    public func reading(_ input: InputName, now: Double) -> LogTime? {
        var time = self
        time.readings = []
        let modified: Double
        if case .standardInput = input {
            modified = now
        } else {
            guard let known = Self.modificationTime(of: input) else { return nil }
            modified = known
        }
        time.year = Self.currentYear(modified + Double(zoneOffset))
        time.latest = modified + 86400
        return time
    }

    public static func currentYear(_ seconds: Double) -> Int {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        return Int(parts.tm_year) + 1900
    }

    /// A `--since`/`--until` value in seconds since the epoch: a timestamp in any shape above
    /// (`2026-11-30`, `2026-11-30T14:00:00+01:00`, `Nov 30 14:00:00`, `30/Nov/2026:14:00:00 +0000`),
    /// epoch seconds or milliseconds (`1796047200`, `@1796047200`), or a time before `now`
    /// (`-15m`, `-2h`, `-1d`, `-30s`, `-1w`). nil when it is none of these.
    public func bound(parsing text: String, now: Double) -> Double? {
        var body = Substring(text)
        if body.hasPrefix("-"), let unit = body.last, let scale = ["s": 1.0, "m": 60, "h": 3600, "d": 86400, "w": 604800][unit],
           let amount = Double(body.dropFirst().dropLast()), amount >= 0 {
            return now - amount * scale
        }
        if body.hasPrefix("@") { body = body.dropFirst() }
        if !body.isEmpty, body.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), let number = Double(body) {
            return seconds(of: .number(number, Array(body.utf8)))
        }
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { buffer in
            guard let (end, seconds) = read(buffer, at: 0), end == buffer.count else { return nil }
            // A date that does not exist (`2026-02-30`) is a mistake, not March 2.
            if buffer.count >= 10, buffer[4] == UInt8(ascii: "-"), buffer[7] == UInt8(ascii: "-") {
                func number(_ offset: Int, _ width: Int) -> Int { (offset..<offset + width).reduce(0) { $0 * 10 + Int(buffer[$1] &- 0x30) } }
                guard number(8, 2) <= Self.daysIn(month: number(5, 2), year: number(0, 4)) else { return nil }
            }
            return seconds
        }
    }

    /// The number of days in `month` (1–12) of `year`.
    static func daysIn(month: Int, year: Int) -> Int {
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    }
}

/// `--tz`'s value: seconds east of UTC (`+01:00`, `-0500`, `UTC`, `Z`).
public func parseZoneOffset(_ text: String) -> Int? {
    if text == "UTC" || text == "utc" { return 0 }
    let bytes = Array(text.utf8)
    return bytes.withUnsafeBufferPointer { buffer -> Int? in
        var reader = DigitReader(line: buffer, index: 0)
        // Zones in use run from UTC-12 to UTC+14.
        guard let zone = reader.zone(), reader.index == buffer.count, abs(zone) <= 14 * 3600 else { return nil }
        return zone
    }
}
