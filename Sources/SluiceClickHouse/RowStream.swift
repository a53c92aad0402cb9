import CZlib
import NIOCore

/// A batch's rows as an INSERT's body, encoded a piece at a time as the connection takes them
/// (chunked transfer encoding): a batch in flight holds its lines and one piece of rows, not
/// all its rows (about 3 times its lines), so batches can be as large as ClickHouse wants its
/// INSERTs (each INSERT is a part on disk, which the server merges: see `ClickHouseSink`).
/// Made again for each attempt: a retried batch is encoded again from its lines.
struct RowStream: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    /// Rows are handed on once a piece holds this many bytes (the last one of a batch less).
    static let pieceBytes = 256 << 10

    let lines: PendingLines
    let encoder: RowEncoder
    /// Each piece compressed, the whole body one gzip member.
    let gzip: Bool

    func makeAsyncIterator() -> Iterator {
        Iterator(lines: lines, encoder: encoder, scratch: encoder.makeScratch(), deflater: gzip ? Deflater() : nil)
    }

    struct Iterator: AsyncIteratorProtocol {
        let lines: PendingLines
        let encoder: RowEncoder
        let scratch: RowEncoder.Scratch
        let deflater: Deflater?
        var next = 0
        var ended = false

        /// The next piece; never an empty one (an empty chunk ends a chunked body).
        mutating func next() async throws -> ByteBuffer? {
            while !ended {
                var rows = ByteBuffer()
                while next < lines.chunks.count && rows.readableBytes < RowStream.pieceBytes {
                    encoder.encode(lines.chunks[next], into: &rows, scratch: scratch)
                    next += 1
                }
                ended = next == lines.chunks.count
                if let deflater { rows = try deflater.compress(rows, finish: ended) }
                if rows.readableBytes > 0 { return rows }
            }
            return nil
        }
    }
}

/// One gzip member written a piece at a time (zlib, level 1: a body sent over a network,
/// where the bytes saved cost less than the time).
final class Deflater {
    private var stream = z_stream()
    private var ready = false

    init() {
        ready = deflateInit2_(&stream, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK
    }

    deinit {
        if ready { deflateEnd(&stream) }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String { "zlib could not compress the rows" }
    }

    /// `input` compressed; with `finish`, the member's end too.
    func compress(_ input: ByteBuffer, finish: Bool) throws -> ByteBuffer {
        guard ready else { throw Failure() }
        var out = ByteBuffer()
        let flush = finish ? Z_FINISH : Z_NO_FLUSH
        try input.withUnsafeReadableBytes { bytes in
            stream.next_in = UnsafeMutablePointer(mutating: bytes.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(bytes.count)
            while true {
                out.reserveCapacity(out.writerIndex + max(64 << 10, bytes.count / 2))
                let (status, produced) = out.withUnsafeMutableWritableBytes { space in
                    stream.next_out = space.bindMemory(to: Bytef.self).baseAddress
                    stream.avail_out = uInt(space.count)
                    let status = deflate(&stream, flush)
                    return (status, space.count - Int(stream.avail_out))
                }
                out.moveWriterIndex(forwardBy: produced)
                if status == Z_STREAM_END { break }
                guard status == Z_OK || status == Z_BUF_ERROR else { throw Failure() }
                // Without Z_FINISH, deflate is done with the input once it leaves output room.
                if !finish && stream.avail_in == 0 && stream.avail_out > 0 { break }
            }
            stream.next_in = nil
        }
        return out
    }
}
