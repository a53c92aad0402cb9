import Testing

@testable import SluiceKit

/// `TimestampReference` (`--since`'s byte comparison) against `LogTime`'s reading of the same
/// lines: for every pair, "at or after by bytes" must imply "at or after by time", and it must
/// say so for every valid line of the reference's shape.
@Suite struct TimestampReferenceTests {
    static let time = LogTime(year: 2026)

    static func seconds(_ line: [UInt8]) -> Double? {
        line.withUnsafeBufferPointer { time.read($0, at: 0)?.seconds }
    }

    static func reference(_ line: String) -> TimestampReference {
        let bytes = Array(line.utf8)
        var reference = TimestampReference()
        bytes.withUnsafeBufferPointer { buffer in
            if let (end, _) = time.read(buffer, at: 0) { reference.learn(buffer, end: end) }
        }
        return reference
    }

    static func after(_ reference: TimestampReference, _ line: String) -> Bool {
        Array(line.utf8).withUnsafeBufferPointer { reference.isAtOrAfter($0) }
    }

    @Test("shapes learned and refused")
    func shapes() {
        #expect(!Self.reference("2026-11-30T14:00:00.123Z INFO a long enough line to load").isEmpty)
        #expect(!Self.reference("2026-11-30 14:00:00,123 INFO x").isEmpty)
        #expect(!Self.reference("2026-11-30T14:00:00+05:30 INFO a long enough line to load").isEmpty)
        #expect(Self.reference("2026-11-30 INFO date only").isEmpty)
        #expect(Self.reference("Nov 30 14:00:00 host x").isEmpty)
        #expect(Self.reference("2026-11-30T14:00:00.123456789+05:30 too long to hold").isEmpty)
        #expect(Self.reference("2026-11-30T14:00:00").isEmpty, "nothing after it: its end is not known")
    }

    /// A reference LogTime rolls over (Feb 31 is March 3) would put lines before it in time
    /// after it by bytes: it is not kept.
    @Test("a rolled-over date or time is no reference")
    func rolledOver() {
        for line in ["2026-02-31T00:00:00Z a long enough line to load", "2026-04-31T00:00:00Z a long enough line to load",
                     "2026-11-30T24:30:00Z a long enough line to load", "2026-11-30T23:59:60.500Z a long enough line to load",
                     "2025-02-29T10:00:00Z a long enough line to load"] {
            #expect(Self.reference(line).isEmpty, "\(line)")
        }
        #expect(!Self.reference("2024-02-29T10:00:00Z a leap day, long enough to load").isEmpty)
    }

    @Test("a line is at or after by bytes only when it is by time")
    func agreesWithTheTimes() {
        let reference = Self.reference("2026-11-30T14:00:00.500Z INFO [svc] a message long enough")
        let cases: [(String, Bool)] = [
            ("2026-11-30T14:00:00.500Z INFO [svc] the same time", true),
            ("2026-11-30T14:00:00.501Z INFO later by a millisecond", true),
            ("2026-11-30T14:00:00.499Z INFO earlier by a millisecond", false),
            ("2027-01-01T00:00:00.000Z INFO next year, every digit differs", true),
            ("2026-11-30T14:00:00.500+01:00 INFO another zone: read, not compared", false),
            ("2026-11-30T14:00:00.5Z INFO a shorter fraction: another shape", false),
            ("2026-13-30T14:00:00.500Z INFO month 13 is no date", false),
            ("2026-11-32T14:00:00.500Z INFO day 32", false),
            ("2026-11-30T14:61:00.500Z INFO minute 61", false),
            ("2026-11-30T14:00:61.500Z INFO second 61", false),
            ("2026-11-30T14:00:60.500Z INFO a leap second", true),
            ("2026-11-3xT14:00:00.500Z INFO not a digit", false),
            ("2026-11-30 14:00:00.500Z INFO a blank for the T", false),
            ("2026-11-30T14:00:00.500Z", false),
            ("2026-11-30T14:00:00.500Z\tINFO another byte after it", false),
            ("2026-11-30T14:00:01.000Z x", true),
            ("2026-11-30T13:59:59.999Z x", false),
        ]
        for (line, expected) in cases {
            #expect(Self.after(reference, line) == expected, "\(line)")
        }
    }

    /// Random lines of the reference's shape and of nearby shapes: whenever the bytes say
    /// "at or after", the times agree; for valid lines of the same shape they always say so.
    @Test("random timestamps: the bytes never disagree with the times")
    func randomLines() {
        var generator = SystemRandomNumberGenerator()
        let referenceLine = "2026-06-15T12:30:30.500Z INFO [svc] reference line, long enough to load"
        let reference = Self.reference(referenceLine)
        let referenceTime = Self.seconds(Array(referenceLine.utf8))!
        func two(_ range: ClosedRange<Int>) -> String {
            let value = Int.random(in: range, using: &generator)
            return value < 10 ? "0\(value)" : "\(value)"
        }
        for _ in 0..<20_000 {
            let fraction = ["500", "000", "999", "5", "50", "5000"].randomElement(using: &generator)!
            let zone = ["Z", "Z", "Z", "+00:00", "z"].randomElement(using: &generator)!
            let line = "202\(Int.random(in: 5...7, using: &generator))-\(two(0...13))-\(two(0...32))T\(two(0...25)):\(two(0...61)):\(two(0...62)).\(fraction)\(zone) INFO x, long enough to load"
            let bytes = Array(line.utf8)
            let byBytes = Self.after(reference, line)
            let seconds = Self.seconds(bytes)
            if byBytes {
                #expect(seconds.map { $0 >= referenceTime } == true, "\(line): bytes say at or after, time \(String(describing: seconds))")
            } else if fraction.count == 3 && zone == "Z", let seconds, seconds >= referenceTime,
                      bytes.withUnsafeBufferPointer({ TimestampReference.isDateAndTime($0) }) {
                Issue.record("\(line): at or after by time, not by bytes")
            }
        }
    }
}
