import Glibc
import NIOCore
import SluiceKit
import Testing
@testable import SluicePostgres

/// The parts of `-O postgresql://` that need no server: COPY's text format for bytea, and
/// libpq's password file. (Everything against a server: SluiceCLITests/PostgresOutputTests.)
struct PostgresSinkTests {
    /// What PostgreSQL's COPY text reader, then bytea's escape-format reader, make of `field`.
    static func decoded(_ field: [UInt8]) -> [UInt8] {
        // COPY: `\\` is a backslash; `\t`, `\n`, `\r` and `\ooo` their bytes (none are made here
        // but `\\`). bytea: `\\` is a backslash, `\ooo` an octal byte, any other byte itself.
        var copy: [UInt8] = []
        var index = 0
        while index < field.count {
            if field[index] == 0x5C {
                copy.append(field[index + 1])  // only `\\` is ever written
                index += 2
            } else {
                copy.append(field[index])
                index += 1
            }
        }
        var bytes: [UInt8] = []
        index = 0
        while index < copy.count {
            if copy[index] == 0x5C {
                if copy[index + 1] == 0x5C {
                    bytes.append(0x5C)
                    index += 2
                } else {
                    bytes.append((copy[index + 1] - 0x30) << 6 | (copy[index + 2] - 0x30) << 3 | (copy[index + 3] - 0x30))
                    index += 4
                }
            } else {
                bytes.append(copy[index])
                index += 1
            }
        }
        return bytes
    }

    @Test("every byte value goes through COPY text and bytea's escape format unchanged, and no field holds a tab, newline or byte above 0x7E")
    func byteaRoundTrip() {
        let lines: [[UInt8]] = [
            Array(0...255).map { UInt8($0) }, [], Array("plain ascii line".utf8), Array("\\x41 \\N \\\\".utf8),
            Array("caf\u{e9} \u{1F600}".utf8), [0x09, 0x0A, 0x0D, 0x00],
        ]
        for line in lines {
            var buffer = ByteBuffer()
            line.withUnsafeBufferPointer { RowEncoder.appendBytea($0, to: &buffer) }
            let field = buffer.readBytes(length: buffer.readableBytes) ?? []
            #expect(field.allSatisfy { $0 >= 0x20 && $0 < 0x7F }, "\(line)")
            #expect(Self.decoded(field) == line)
        }
    }

    @Test("rows: source, tab, number, tab, line, newline; sources escaped for COPY; the checkpoint positions kept")
    func rows() {
        var chunk = LineChunk(bytes: Array("one\ntwo\\\n".utf8))
        var positions = LinePositions()
        positions.append(input: 0, number: 7, end: 100)
        positions.append(input: 1, number: 1, end: 5)
        chunk.positions = positions
        let encoder = RowEncoder(sourceNames: ["h:a.log", "h:tab\there\\"])
        var batch = OutgoingBatch()
        encoder.encode(chunk, positions: positions, into: &batch)
        var buffer = batch.rows
        #expect(buffer.readString(length: buffer.readableBytes) == "h:a.log\t7\tone\nh:tab\\there\\\\\t1\ttwo\\\\\\\\\n")
        #expect(batch.rowCount == 2)
        #expect(batch.reached[0]?.end == 100 && batch.reached[1]?.number == 1)
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
