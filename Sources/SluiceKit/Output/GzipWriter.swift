import CZlib

/// Compresses a byte stream into gzip (zlib deflate, one member) and hands the compressed
/// bytes to an `OutputWriter`.
final class GzipWriter {
    private var stream = z_stream()
    private let out: OutputWriter
    private var scratch = [UInt8](repeating: 0, count: 64 * 1024)
    private var open = false

    init(out: OutputWriter, level: Int32) throws {
        self.out = out
        guard sluice_deflate_init_gzip(&stream, level) == Z_OK else {
            throw SluiceError(.output, place: out.name, "cannot start gzip compression (level \(level))")
        }
        open = true
    }

    deinit { if open { deflateEnd(&stream) } }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        try run(bytes, flush: Z_NO_FLUSH)
    }

    /// Makes everything written so far decodable from the file (a sync flush).
    func flush() throws {
        try run(UnsafeRawBufferPointer(start: nil, count: 0), flush: Z_SYNC_FLUSH)
        try out.flush()
    }

    /// Writes the gzip trailer; the stream cannot be written after this.
    func finish() throws {
        try run(UnsafeRawBufferPointer(start: nil, count: 0), flush: Z_FINISH)
        deflateEnd(&stream)
        open = false
        try out.flush()
    }

    private func run(_ input: UnsafeRawBufferPointer, flush: Int32) throws {
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(input.count)
        let capacity = scratch.count
        while true {
            let (status, produced) = scratch.withUnsafeMutableBufferPointer { out -> (Int32, Int) in
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(capacity)
                let status = deflate(&stream, flush)
                return (status, capacity - Int(stream.avail_out))
            }
            if status == Z_STREAM_ERROR {
                throw SluiceError(.output, place: out.name, "gzip compression failed")
            }
            if produced > 0 { try scratch.withUnsafeBytes { try out.write(UnsafeRawBufferPointer(rebasing: $0[..<produced])) } }
            if stream.avail_out != 0 && (flush != Z_FINISH || status == Z_STREAM_END) { break }
            if flush == Z_FINISH && status == Z_STREAM_END { break }
        }
    }
}
