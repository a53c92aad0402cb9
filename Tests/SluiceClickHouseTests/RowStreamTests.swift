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

    static func stream(_ lines: PendingLines, _ encoder: RowEncoder, gzip: Bool, over: Locked<Bool> = Locked(false)) -> RowStream {
        RowStream(lines: lines, encoder: encoder, gzip: gzip, over: over)
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
        let stream = Self.stream(lines, encoder, gzip: false)
        let pieces = try await Self.pieces(stream)
        #expect(pieces.count > 2, "\(whole.count) bytes in \(pieces.count) pieces")
        #expect(pieces.allSatisfy { !$0.isEmpty })
        #expect(pieces.dropLast().allSatisfy { $0.count >= RowStream.pieceBytes })
        #expect(Array(pieces.joined()) == whole)
        #expect(try await Self.pieces(stream) == pieces)  // a retried batch is encoded again
        #expect(try await Self.pieces(Self.stream(PendingLines(), encoder, gzip: false)).isEmpty)
    }

    @Test("gzipped, the pieces are one gzip member of the rows of the whole batch, also for an empty batch")
    func gzippedPiecesAreOneMember() async throws {
        let encoder = try Self.encoder()
        for chunks in [0, 1, 60] {
            let lines = Self.batch(chunks: chunks)
            let whole = Array(encoder.encode(lines).readableBytesView)
            let pieces = try await Self.pieces(Self.stream(lines, encoder, gzip: true))
            #expect(pieces.allSatisfy { !$0.isEmpty })
            #expect(try Self.gunzip(Array(pieces.joined())) == whole, "\(chunks) chunks")
        }
    }

    @Test("a chunk is never cut: a piece is whole chunks' rows, at least pieceBytes of them but the last; incompressible and repetitive rows gzip whole")
    func bigChunksAndGzipExtremes() async throws {
        let encoder = try Self.encoder()
        var generator = SystemRandomNumberGenerator()
        // A chunk of 600 KB of lines of random bytes (no newline: every escape, nothing to
        // compress), one of the same line about 12,000 times (everything to compress), and a small one.
        var lines = PendingLines()
        var number = 1
        for kind in 0..<3 {
            var bytes: [UInt8] = []
            var positions = LinePositions()
            while bytes.count < (kind == 2 ? 1_000 : 600_000) {
                if kind == 1 {
                    bytes += Array("2026-11-30T14:00:00Z INFO [api] same line user=7".utf8)
                } else {
                    bytes += (0..<Int.random(in: 1...300, using: &generator)).map { _ in
                        var byte = UInt8.random(in: 0...255, using: &generator)
                        if byte == 0x0A { byte = 0x0B }
                        return byte
                    }
                }
                bytes.append(0x0A)
                positions.append(input: 0, number: number, end: bytes.count)
                number += 1
            }
            var chunk = LineChunk(bytes: bytes)
            chunk.positions = positions
            lines.append(chunk)
        }
        var chunkRows: [[UInt8]] = []
        for chunk in lines.chunks {
            var one = PendingLines()
            one.append(chunk)
            chunkRows.append(Array(encoder.encode(one).readableBytesView))
        }
        let plain = try await Self.pieces(Self.stream(lines, encoder, gzip: false))
        // Each of the two big chunks' rows is past pieceBytes: a piece each, the small one last.
        #expect(plain == chunkRows, "\(plain.map(\.count)) \(chunkRows.map(\.count))")
        let gzipped = try await Self.pieces(Self.stream(lines, encoder, gzip: true))
        #expect(gzipped.allSatisfy { !$0.isEmpty })
        #expect(try Self.gunzip(Array(gzipped.joined())) == Array(chunkRows.joined()))
    }

    @Test("once its attempt is over, the body ends with an error at its next piece, and stays ended")
    func overAttemptThrows() async throws {
        let encoder = try Self.encoder()
        let over = Locked(false)
        var iterator = Self.stream(Self.batch(chunks: 60), encoder, gzip: false, over: over).makeAsyncIterator()
        #expect(try await iterator.next() != nil)
        over.withLock { $0 = true }
        await #expect(throws: RowStream.AttemptOver.self) { _ = try await iterator.next() }
        await #expect(throws: RowStream.AttemptOver.self) { _ = try await iterator.next() }
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
