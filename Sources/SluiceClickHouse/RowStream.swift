import CZlib
import NIOCore
import SluiceKit

/// A batch's rows as an INSERT's body, encoded a piece at a time as the connection takes them
/// (chunked transfer encoding): a batch in flight holds its lines and a piece or two of rows
/// (one with NIO, one being encoded), not all its rows (2 to 3 times its lines), so batches
/// can be as large as ClickHouse wants its INSERTs (each INSERT is a part on disk, which the
/// server merges: see `ClickHouseSink`). A piece is the rows of whole chunks, at least
/// `pieceBytes` of them (but the last): with the run's chunks of up to 512 KiB of lines, a
/// piece is at most about 1.5 MiB (gzipped, that and its compressed copy).
/// Made again for each attempt: a retried batch is encoded again from its lines.
struct RowStream: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    /// Rows are handed on once a piece holds this many bytes (the last one of a batch less).
    static let pieceBytes = 256 << 10

    let lines: PendingLines
    let encoder: RowEncoder
    /// Each piece compressed, the whole body one gzip member.
    let gzip: Bool
    /// Set once the attempt this body is sent by has ended: AsyncHTTPClient reads the body in
    /// a task of its own, which learns that the request is over only at its next write, so
    /// the next piece is not encoded for nothing (`next` throws).
    let over: Locked<Bool>

    func makeAsyncIterator() -> Iterator {
        Iterator(stream: self, scratch: encoder.makeScratch(), deflater: gzip ? Deflater() : nil)
    }

    struct AttemptOver: Error {}

    struct Iterator: AsyncIteratorProtocol {
        let stream: RowStream
        let scratch: RowColumns.Scratch
        let deflater: Deflater?
        /// The first chunk not yet encoded.
        var nextChunk = 0
        var ended = false
        /// The error a piece failed with: thrown again by any later call (a body must never
        /// go on past a piece it lost).
        var failure: (any Error)?

        /// The next piece; never an empty one.
        mutating func next() async throws -> ByteBuffer? {
            if let failure { throw failure }
            let lines = stream.lines
            while !ended {
                if stream.over.withLock({ $0 }) {
                    failure = AttemptOver()
                    throw AttemptOver()
                }
                var rows = ByteBuffer()
                var end = nextChunk
                while end < lines.chunks.count && rows.readableBytes < RowStream.pieceBytes {
                    stream.encoder.encode(lines.chunks[end], into: &rows, scratch: scratch)
                    end += 1
                }
                let last = end == lines.chunks.count
                if let deflater {
                    do {
                        rows = try deflater.compress(rows, finish: last)
                    } catch {
                        failure = error
                        throw error
                    }
                }
                nextChunk = end
                ended = last
                if rows.readableBytes > 0 { return rows }
            }
            return nil
        }
    }
}

/// One gzip member written a piece at a time (zlib, level 1: a body sent over a network,
/// where the bytes saved cost less than the time).
final class Deflater {
    /// At an address of its own: zlib keeps a pointer back to the stream and checks it.
    private let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    private let ready: Bool

    init() {
        stream.initialize(to: z_stream())
        ready = deflateInit2_(stream, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK
    }

    deinit {
        if ready { deflateEnd(stream) }
        stream.deinitialize(count: 1)
        stream.deallocate()
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
            stream.pointee.next_in = UnsafeMutablePointer(mutating: bytes.bindMemory(to: Bytef.self).baseAddress)
            stream.pointee.avail_in = uInt(bytes.count)
            defer { stream.pointee.next_in = nil }
            while true {
                out.reserveCapacity(out.writerIndex + max(64 << 10, bytes.count / 2))
                let (status, produced) = out.withUnsafeMutableWritableBytes { space in
                    stream.pointee.next_out = space.bindMemory(to: Bytef.self).baseAddress
                    stream.pointee.avail_out = uInt(space.count)
                    let status = deflate(stream, flush)
                    return (status, space.count - Int(stream.pointee.avail_out))
                }
                out.moveWriterIndex(forwardBy: produced)
                if status == Z_STREAM_END { break }
                guard status == Z_OK || status == Z_BUF_ERROR else { throw Failure() }
                // Without Z_FINISH, deflate is done with the input once it leaves output room.
                if !finish && stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 { break }
                // With room given and nothing made, zlib cannot go on (never expected).
                if status == Z_BUF_ERROR && produced == 0 { throw Failure() }
            }
        }
        return out
    }
}
