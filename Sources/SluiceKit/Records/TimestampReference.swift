import Glibc

/// A line's leading ISO 8601 timestamp (`2026-11-30T14:00:00.123Z`, `2026-11-30 14:00:00,5+01:00`),
/// kept to decide other lines' by comparing bytes instead of reading their times: two
/// timestamps of the same shape (the same length, the same bytes where neither has a digit, so
/// the same zone) order as their bytes do, most significant digit first.
///
/// `--since` keeps the first line it accepts: a line at or after it (by bytes) is at or after
/// `--since` too. A line of another shape, or whose digits are no date (month 13), is read as
/// before.
struct TimestampReference {
    /// The reference's bytes, 8 to a lane as loaded from memory (little-endian), zero past its end.
    private var bytes = SIMD4<UInt64>()
    /// 0xFF at the bytes that must equal the reference's (all but the date's, time's and
    /// fraction's digits, up to its length).
    private var same = SIMD4<UInt64>()
    /// 0xFF at the bytes that must be digits.
    private var digits = SIMD4<UInt64>()
    /// The reference's length (0: none yet) and the byte after it in its line.
    private(set) var length = 0
    private var terminator: UInt8 = 0

    var isEmpty: Bool { length == 0 }

    /// Keeps `line`'s leading timestamp, `[0, end)`, if it is a whole ISO date and time of at
    /// most 32 bytes whose end is plain (a blank, a bracket: nothing that could continue a
    /// time or a zone).
    mutating func learn(_ line: UnsafeBufferPointer<UInt8>, end: Int) {
        guard end >= 19, end <= 32, end < line.count, Self.isDateAndTime(line), Self.isExactDateAndTime(line),
              !Self.continuesTime(line[end]) else { return }
        // Digits may differ in the date, the time and its fraction; a zone's must not (the
        // same zone, or the bytes would not order as the times do).
        var varying = 19
        if line[19] == UInt8(ascii: ".") || line[19] == UInt8(ascii: ",") {
            varying = 20
            while varying < end && Self.isDigit(line[varying]) { varying += 1 }
        }
        var bytes = SIMD4<UInt64>(), same = SIMD4<UInt64>(), digits = SIMD4<UInt64>()
        for offset in 0..<end {
            let lane = offset / 8, shift = UInt64(offset % 8) * 8
            bytes[lane] |= UInt64(line[offset]) << shift
            if offset < varying && Self.isDigit(line[offset]) { digits[lane] |= 0xFF << shift } else { same[lane] |= 0xFF << shift }
        }
        self.bytes = bytes
        self.same = same
        self.digits = digits
        length = end
        terminator = line[end]
    }

    /// Whether `line` starts with a timestamp of the reference's shape, a valid date and time,
    /// at or after the reference's. Compares 8 bytes at a time.
    @inline(__always)
    func isAtOrAfter(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        guard length > 0, line.count > length, line[length] == terminator else { return false }
        // The 32 bytes loaded must lie in the line.
        guard line.count >= 32, let base = line.baseAddress else { return isAtOrAfterBytewise(line) }
        let raw = UnsafeRawPointer(base)
        let loaded = SIMD4<UInt64>(raw.loadUnaligned(as: UInt64.self), raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                                   raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self), raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        // The same bytes where they must be; digits (high nibble 3, low nibble at most 9) where
        // the reference has them.
        let high = SIMD4<UInt64>(repeating: 0xF0F0_F0F0_F0F0_F0F0), threes = SIMD4<UInt64>(repeating: 0x3030_3030_3030_3030)
        let low = SIMD4<UInt64>(repeating: 0x0F0F_0F0F_0F0F_0F0F), six = SIMD4<UInt64>(repeating: 0x0606_0606_0606_0606)
        let carry = SIMD4<UInt64>(repeating: 0x1010_1010_1010_1010)
        let wrong = ((loaded ^ bytes) & same) | ((loaded & high ^ threes) & digits) | (((loaded & low) &+ six) & carry & digits)
        guard wrong == SIMD4<UInt64>() else { return false }
        // Up to the minute as the reference's: only the seconds can be out of range.
        if loaded[0] == bytes[0] && loaded[1] == bytes[1] {
            guard Int(line[17] &- 0x30) * 10 + Int(line[18] &- 0x30) < 61 else { return false }
        } else if !Self.isValidDateAndTime(line) {
            return false
        }
        let masked = loaded & (same | digits)
        for lane in 0..<4 where masked[lane] != bytes[lane] {
            return masked[lane].byteSwapped > bytes[lane].byteSwapped
        }
        return true
    }

    /// `isAtOrAfter` a byte at a time, for a line shorter than 32 bytes.
    private func isAtOrAfterBytewise(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        var order = 0
        for offset in 0..<length {
            let lane = offset / 8, shift = UInt64(offset % 8) * 8
            let reference = UInt8(truncatingIfNeeded: bytes[lane] >> shift)
            let byte = line[offset]
            if (digits[lane] >> shift) & 0xFF != 0 {
                guard Self.isDigit(byte) else { return false }
            } else {
                guard byte == reference else { return false }
            }
            if order == 0 && byte != reference { order = byte < reference ? -1 : 1 }
        }
        return order >= 0 && Self.isValidDateAndTime(line)
    }

    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool { byte &- 0x30 < 10 }

    /// Bytes that may go on a time or begin its zone: a timestamp ended before one of them is
    /// not known to end there in every line.
    static func continuesTime(_ byte: UInt8) -> Bool {
        isDigit(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: ",") || byte == UInt8(ascii: ":")
            || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "Z") || byte == UInt8(ascii: "z")
    }

    static let dateAndTimeDigits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]

    /// `YYYY-MM-DD[T ]hh:mm:ss` at the line's start.
    static func isDateAndTime(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        guard line.count >= 19 else { return false }
        for offset in dateAndTimeDigits where !isDigit(line[offset]) { return false }
        return line[4] == UInt8(ascii: "-") && line[7] == UInt8(ascii: "-") && (line[10] == UInt8(ascii: "T") || line[10] == 0x20)
            && line[13] == UInt8(ascii: ":") && line[16] == UInt8(ascii: ":") && isValidDateAndTime(line)
    }

    /// A date and time that `LogTime` does not roll over: the day in its month, the hour
    /// below 24, the second below 60. (A reference `2026-02-31` reads as March 3: a line of
    /// March 1, larger by bytes, would be taken as after it.) A line compared with an exact
    /// reference may roll over: that only makes its time later.
    static func isExactDateAndTime(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        func number(_ offset: Int, _ width: Int) -> Int {
            (offset..<offset + width).reduce(0) { $0 * 10 + Int(line[$1] &- 0x30) }
        }
        return number(8, 2) <= LogTime.daysIn(month: number(5, 2), year: number(0, 4)) && number(11, 2) < 24 && number(17, 2) < 60
    }

    /// The month, day, hour, minute and second digits are in the ranges `LogTime` reads.
    @inline(__always)
    static func isValidDateAndTime(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        func pair(_ offset: Int) -> Int { Int(line[offset] &- 0x30) * 10 + Int(line[offset + 1] &- 0x30) }
        let month = pair(5), day = pair(8)
        return month >= 1 && month <= 12 && day >= 1 && day <= 31 && pair(11) < 25 && pair(14) < 60 && pair(17) < 61
    }
}
