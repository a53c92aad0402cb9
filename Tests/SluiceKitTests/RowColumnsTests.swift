import Testing

@testable import SluiceKit

/// A ClickHouse row's time and level (`RowColumns.read`), which takes a text line's from its
/// one parse when its head has both, against `FieldPredicate.read`'s reading of the line.
struct RowColumnsTests {
    @Test("time and level as FieldPredicate.read gives them: text heads with both, one or none, pairs in the message that name a time or level, syslog, JSON, logfmt, --format text")
    func timeAndLevelAsTheFieldReaderReadsThem() throws {
        let lines = [
            "2026-11-30T14:00:00Z ERROR [api] boom level=info ts=1796047200 time=1",
            "2026-11-30T14:00:00Z [api] boom level=warn",
            "[api] boom ts=1796047200 level=E",
            "2026-11-30 16:00:00,123 WARN local time severity=error",
            "Nov 30 14:00:00 host sshd[42]: Failed password level=debug",
            "<11>Nov 30 14:00:00 host sshd[42]: priority only",
            "<11>Nov 30 14:00:00 host sshd[42]: ERROR word and priority",
            "{\"level\":\"warn\",\"ts\":\"2026-11-30T15:00:00.5+01:00\",\"msg\":\"slow\"}",
            "{\"level\":\"warn\",\"ts\":broken",
            "level=E msg=\"a b\" ts=1796047200",
            "  2026-11-30T14:00:00Z   INFO   spaced  ",
            "no time, no level",
            "",
        ]
        for format in [LogFormat.auto, .text] {
            let columns = try RowColumns(format: format, time: LogTime(year: 2026, zoneOffset: 7200), yearGiven: true, inputs: [])
            let scratch = columns.makeScratch()
            for line in lines {
                let bytes = Array(line.utf8)
                var fields: [UInt8] = []
                let got = bytes.withUnsafeBufferPointer { columns.read($0, input: 0, scratch: scratch, fields: &fields) }
                // The field reader, as the columns were read before the one-parse path.
                var slots = FieldSlots(count: 2)
                let path = PathBuffer(capacity: 64)
                bytes.withUnsafeBufferPointer {
                    FieldPredicate.read($0, format: format, names: columns.table.names, slots: &slots, path: path)
                }
                let seconds = slots.values[columns.timeSlot].flatMap { columns.time.seconds(of: $0) }
                var level: [UInt8] = []
                if let value = slots.values[columns.levelSlot], value != .null {
                    level = LogLevel(value: value).map(\.nameBytes) ?? value.text
                }
                #expect(got.seconds == seconds, "\(format) \(line)")
                #expect(got.level == level, "\(format) \(line): \(String(decoding: got.level, as: UTF8.self))")
            }
        }
    }
}
