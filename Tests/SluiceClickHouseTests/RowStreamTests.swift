import CZlib
import NIOCore
import SluiceKit
import Testing
@testable import SluiceClickHouse

/// A batch's rows as the INSERT's body, a piece at a time (`RowStream`).
struct RowStreamTests {
    /// `count` chunks of text, logfmt and JSON lines with bytes TabSeparated escapes, each
    /// line numbered, the chunks of two inputs.
    static func batch(chunks count: Int) -> PendingLines {
        var generator = SystemRandomNumberGenerator()
        var lines = PendingLines()
        var number = 1
        for chunk in 0..<count {
            var bytes: [UInt8] = []
            var positions = LinePositions()
            for _ in 0..<Int.random(in: 50...400, using: &generator) {
                let line: String
                switch Int.random(in: 0..<4, using: &generator) {
                case 0: line = "2026-11-30T14:00:\(number % 60 < 10 ? "0" : "")\(number % 60)Z ERROR [api] boom user=\(number) path=C:\\tmp\ttab"
                case 1: line = "level=info msg=\"a \\\"quoted\\\" b\" n=\(number)"
                case 2: line = "{\"level\":\"warn\",\"n\":\(number),\"user\":{\"id\":7}}"
                default: line = "no time, no level \(number)\r"
                }
                bytes += Array(line.utf8) + [0x0A]
                positions.append(input: chunk % 2, number: number, end: bytes.count)
                number += 1
            }
            var lineChunk = LineChunk(bytes: bytes)
            lineChunk.positions = positions
            lines.append(lineChunk)
        }
        return lines
    }

    static func encoder() throws -> RowEncoder {
        let columns = try RowColumns(format: .auto, time: LogTime(year: 2026), yearGiven: true, inputs: [])
        return RowEncoder(sourceNames: ["host:/var/log/a.log#1.2.x", "host:/var/log/b\tc.log#3.4.y"], columns: columns)
    }

    static func pieces(_ stream: RowStream) async throws -> [[UInt8]] {
        var pieces: [[UInt8]] = []
        for try await piece in stream { pieces.append(Array(piece.readableBytesView)) }
        return pieces
    }

    @Test("the pieces, none empty and each but the last at least pieceBytes, are the rows of the whole batch; a second pass gives them again")
    func piecesAreTheRows() async throws {
        let lines = Self.batch(chunks: 60)
        let encoder = try Self.encoder()
        let whole = Array(encoder.encode(lines).readableBytesView)
        let stream = RowStream(lines: lines, encoder: encoder, gzip: false)
        let pieces = try await Self.pieces(stream)
        #expect(pieces.count > 2, "\(whole.count) bytes in \(pieces.count) pieces")
        #expect(pieces.allSatisfy { !$0.isEmpty })
        #expect(pieces.dropLast().allSatisfy { $0.count >= RowStream.pieceBytes })
        #expect(Array(pieces.joined()) == whole)
        #expect(try await Self.pieces(stream) == pieces)  // a retried batch is encoded again
        #expect(try await Self.pieces(RowStream(lines: PendingLines(), encoder: encoder, gzip: false)).isEmpty)
    }

    @Test("gzipped, the pieces are one gzip member of the rows of the whole batch, also for an empty batch")
    func gzippedPiecesAreOneMember() async throws {
        let encoder = try Self.encoder()
        for chunks in [0, 1, 60] {
            let lines = Self.batch(chunks: chunks)
            let whole = Array(encoder.encode(lines).readableBytesView)
            let pieces = try await Self.pieces(RowStream(lines: lines, encoder: encoder, gzip: true))
            #expect(pieces.allSatisfy { !$0.isEmpty })
            #expect(try Self.gunzip(Array(pieces.joined())) == whole, "\(chunks) chunks")
        }
    }

    struct InflateFailure: Error {}

    /// One gzip member's bytes, which must end with the input.
    static func gunzip(_ input: [UInt8]) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { throw InflateFailure() }
        defer { inflateEnd(&stream) }
        var out: [UInt8] = []
        var space = [UInt8](repeating: 0, count: 1 << 16)
        var status = Z_OK
        var input = input
        input.withUnsafeMutableBufferPointer { bytes in
            stream.next_in = bytes.baseAddress
            stream.avail_in = uInt(bytes.count)
            while status == Z_OK {
                space.withUnsafeMutableBufferPointer { room in
                    stream.next_out = room.baseAddress
                    stream.avail_out = uInt(room.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    out += room[..<(room.count - Int(stream.avail_out))]
                }
            }
        }
        guard status == Z_STREAM_END, stream.avail_in == 0 else { throw InflateFailure() }
        return out
    }
}
