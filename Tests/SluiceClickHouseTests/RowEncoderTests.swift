import NIOCore
import SluiceKit
import Testing
@testable import SluiceClickHouse

/// The TabSeparated rows of `-O clickhouse://`, read back by this test's own reader of the
/// format (the CLI tests read them back through the server).
struct RowEncoderTests {
    @Test("every byte survives TabSeparated's escapes; numbers and times are written as ClickHouse 18.16 reads them")
    func escapes() {
        let all = (0...255).map { UInt8($0) }.filter { $0 != 0x0A }
        var buffer = ByteBuffer()
        RowEncoder.writeEscaped(all[...], into: &buffer)
        let written = Array(buffer.readableBytesView)
        #expect(!written.contains(0x09) && !written.contains(0x0A) && !written.contains(0x0D) && !written.contains(0x00))
        #expect(Setup.unescaped(written[...]) == all)
        var digits = [UInt8](repeating: 0, count: 24)
        var numbers = ByteBuffer()
        RowEncoder.writeNumber(0, into: &numbers, digits: &digits, width: 10)
        RowEncoder.writeNumber(1_764_511_200, into: &numbers, digits: &digits, width: 10)
        RowEncoder.writeNumber(UInt64.max, into: &numbers, digits: &digits)
        #expect(String(decoding: numbers.readableBytesView, as: UTF8.self) == "0000000000176451120018446744073709551615")
    }

    @Test("the server's answer as one line: its message without ClickHouse's decoration, and which answers are tried again")
    func failures() {
        let old = ClickHouseFailure(status: 404, answer: Array("Code: 81, e.displayText() = DB::Exception: Database nosuch doesn't exist, e.what() = DB::Exception\n".utf8))
        #expect(old.code == 81 && old.message == "Database nosuch doesn't exist" && !old.isTransient)
        let new = ClickHouseFailure(status: 500, answer: Array("Code: 252. DB::Exception: Too many parts (300). (TOO_MANY_PARTS) (version 23.8.1)\n".utf8))
        #expect(new.code == 252 && new.message == "Too many parts (300). (TOO_MANY_PARTS)" && new.isTransient)
        let parse = ClickHouseFailure(status: 500, answer: Array("Code: 27, e.displayText() = DB::Exception: Cannot parse input\n\nRow 1:".utf8))
        #expect(!parse.isTransient)
        #expect(ClickHouseFailure(status: 503, answer: []).isTransient)
        #expect(ClickHouseFailure(status: 503, answer: []).message == "HTTP status 503")
        #expect(ClickHouseClient.base64(Array("writer:s3cret".utf8)) == "d3JpdGVyOnMzY3JldA==")
        #expect(ClickHouseClient.base64(Array("ab".utf8)) == "YWI=")
        #expect(ClickHouseClient.literal("a'b\\c") == #"'a\'b\\c'"#)
    }
}
