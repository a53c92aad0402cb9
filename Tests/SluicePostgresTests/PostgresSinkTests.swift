import Glibc
import NIOCore
import SluiceKit
import Testing
@testable import SluicePostgres

/// The parts of `-O postgresql://` that need no server: COPY's binary format, and
/// libpq's password file. (Everything against a server: SluiceCLITests/PostgresOutputTests.)
struct PostgresSinkTests {
    /// What PostgreSQL's binary COPY reader makes of `rows`: per row its fields (nil: NULL).
    static func decoded(_ rows: ByteBuffer) throws -> [[[UInt8]?]] {
        var buffer = rows
        #expect(buffer.readBytes(length: 19) == RowEncoder.header)
        var decoded: [[[UInt8]?]] = []
        while true {
            let fields = buffer.readInteger(as: Int16.self)
            try #require(fields != nil, "no trailer")
            if fields == -1 { break }
            var row: [[UInt8]?] = []
            for _ in 0..<fields! {
                let length = buffer.readInteger(as: Int32.self) ?? -2
                try #require(length >= -1 && Int(length) <= buffer.readableBytes, "a field cut short")
                row.append(length < 0 ? nil : buffer.readBytes(length: Int(length)))
            }
            decoded.append(row)
        }
        #expect(buffer.readableBytes == 0, "bytes after the trailer")
        return decoded
    }

    @Test("binary COPY: a header, per row source, line_no (int8) and line (every byte value as read), a trailer; the checkpoint positions kept")
    func rows() throws {
        let lines: [[UInt8]] = [
            Array(0...255).filter { $0 != 0x0A }.map { UInt8($0) }, [], Array("\\x41 \\N \\\\".utf8),
            Array("caf\u{e9} \u{1F600}".utf8), [0x09, 0x0D, 0x00, 0xFF],
        ]
        var chunk = LineChunk(bytes: lines.flatMap { $0 + [0x0A] })
        var positions = LinePositions()
        for (index, _) in lines.enumerated() { positions.append(input: index % 2, number: 7 + index, end: 100 + index) }
        chunk.positions = positions
        let encoder = RowEncoder(sourceNames: ["h:a.log", "h:tab\there\\"])
        var batch = OutgoingBatch(rows: ByteBuffer())
        try encoder.encode(chunk, positions: positions, into: &batch, place: "p")
        RowEncoder.seal(&batch)
        let rows = try Self.decoded(batch.rows)
        #expect(rows.count == lines.count)
        for (index, row) in rows.enumerated() {
            #expect(row.count == 3)
            #expect(row[0] == Array((index % 2 == 0 ? "h:a.log" : "h:tab\there\\").utf8))
            var number = ByteBuffer(bytes: row[1] ?? [])
            #expect(number.readInteger(as: Int64.self) == Int64(7 + index) && number.readableBytes == 0)
            #expect(row[2] == lines[index])
        }
        #expect(batch.rowCount == lines.count)
        #expect(batch.reached[0]?.end == 104 && batch.reached[1]?.number == 10)
    }

    @Test("the password file: fields split at unescaped colons, * matches, the first matching line wins, a readable file is ignored")
    func passwordFile() throws {
        #expect(PostgresPassword.split("h\\:x:5432:db:u:pa:ss\\\\") == ["h:x", "5432", "db", "u", "pa:ss\\"])
        let folder = "/tmp/sluice-pgpass-\(getpid())"
        mkdir(folder, 0o700)
        defer { unlink(folder + "/pass"); rmdir(folder) }
        let text = "# comment\nother:*:*:*:no\n127.0.0.1:*:logs:sluice:first\n*:*:*:*:second\n"
        let fd = open(folder + "/pass", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        _ = text.withCString { write(fd, $0, strlen($0)) }
        close(fd)
        let address = PostgresAddress(user: "sluice", password: nil, endpoint: .tcp(host: "127.0.0.1", port: 5432), database: "logs", tls: .prefer)
        let environment: (String) -> String? = { $0 == "PGPASSFILE" ? folder + "/pass" : nil }
        #expect(PostgresPassword.lookup(address, environment: environment) == "first")
        var other = address
        other.database = "elsewhere"
        #expect(PostgresPassword.lookup(other, environment: environment) == "second")
        #expect(PostgresPassword.lookup(address, environment: { $0 == "PGPASSWORD" ? "env" : environment($0) }) == "env")
        chmod(folder + "/pass", 0o644)
        #expect(PostgresPassword.lookup(address, environment: environment) == nil)
    }
}
