import CISAL
import CZlib

/// Compresses a byte stream into one gzip member and hands the compressed bytes to an
/// `OutputWriter`. Levels 1–3 use ISA-L's `isal_deflate` (several times faster than zlib at a
/// similar ratio); 4–9 use zlib for smaller files.
protocol GzipCompressor: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer) throws
    /// Makes everything written so far decodable from the file (a sync flush).
    func flush() throws
    /// Writes the gzip trailer; nothing can be written after this.
    func finish() throws
}

enum Gzip {
    static func compressor(out: OutputWriter, level: Int32) throws -> any GzipCompressor {
        level <= 3 ? try IsalGzipWriter(out: out, level: max(1, level)) : try ZlibGzipWriter(out: out, level: level)
    }
}

/// ISA-L deflate, levels 1–3.
final class IsalGzipWriter: GzipCompressor {
    private let stream: UnsafeMutablePointer<isal_zstream>
    private let levelBuffer: UnsafeMutableRawBufferPointer
    private let out: OutputWriter
    private var scratch = [UInt8](repeating: 0, count: 256 * 1024)

    init(out: OutputWriter, level: Int32) throws {
        self.out = out
        stream = .allocate(capacity: 1)
        let size = Int(sluice_isal_level_buffer_size(level))
        levelBuffer = .allocate(byteCount: size, alignment: 64)
        isal_deflate_init(stream)
        stream.pointee.level = UInt32(level)
        stream.pointee.level_buf = levelBuffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
        stream.pointee.level_buf_size = UInt32(size)
        stream.pointee.gzip_flag = UInt16(IGZIP_GZIP)
    }

    deinit {
        stream.deallocate()
        levelBuffer.deallocate()
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        var offset = 0
        while offset < bytes.count {
            // avail_in is 32-bit: feed at most 1 GiB at a time.
            let piece = min(bytes.count - offset, 1 << 30)
            try run(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + piece)]), flush: UInt16(NO_FLUSH), end: false)
            offset += piece
        }
    }

    func flush() throws {
        try run(UnsafeRawBufferPointer(start: nil, count: 0), flush: UInt16(SYNC_FLUSH), end: false)
        try out.flush()
    }

    func finish() throws {
        try run(UnsafeRawBufferPointer(start: nil, count: 0), flush: UInt16(NO_FLUSH), end: true)
        try out.flush()
    }

    private func run(_ input: UnsafeRawBufferPointer, flush: UInt16, end: Bool) throws {
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
        stream.pointee.avail_in = UInt32(input.count)
        stream.pointee.flush = flush
        stream.pointee.end_of_stream = end ? 1 : 0
        let capacity = scratch.count
        while true {
            let (status, produced) = scratch.withUnsafeMutableBufferPointer { buffer -> (Int32, Int) in
                stream.pointee.next_out = buffer.baseAddress
                stream.pointee.avail_out = UInt32(capacity)
                let status = isal_deflate(stream)
                return (status, capacity - Int(stream.pointee.avail_out))
            }
            guard status == COMP_OK else {
                throw SluiceError(.output, place: out.name, "gzip compression failed (ISA-L status \(status))")
            }
            if produced > 0 { try scratch.withUnsafeBytes { try out.write(UnsafeRawBufferPointer(rebasing: $0[..<produced])) } }
            let done = end
                ? stream.pointee.internal_state.state == ZSTATE_END
                : stream.pointee.avail_in == 0 && stream.pointee.avail_out != 0
            if done { break }
        }
    }
}

/// zlib deflate, levels 4–9.
final class ZlibGzipWriter: GzipCompressor {
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

    func flush() throws {
        try run(UnsafeRawBufferPointer(start: nil, count: 0), flush: Z_SYNC_FLUSH)
        try out.flush()
    }

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
            let (status, produced) = scratch.withUnsafeMutableBufferPointer { buffer -> (Int32, Int) in
                stream.next_out = buffer.baseAddress
                stream.avail_out = uInt(capacity)
                let status = deflate(&stream, flush)
                return (status, capacity - Int(stream.avail_out))
            }
            if status == Z_STREAM_ERROR {
                throw SluiceError(.output, place: out.name, "gzip compression failed")
            }
            if produced > 0 { try scratch.withUnsafeBytes { try out.write(UnsafeRawBufferPointer(rebasing: $0[..<produced])) } }
            if flush == Z_FINISH ? status == Z_STREAM_END : stream.avail_out != 0 { break }
        }
    }
}
