import CZlib
import NIOCore
import SluiceKit

/// The selected lines of a batch, as the run handed them over: they are encoded as rows by
/// the task that sends the batch, so that `-j` batches are encoded at once (reading each
/// line's time, level and fields is most of a ClickHouse export's CPU).
struct PendingLines: Sendable {
    var chunks: [LineChunk] = []
    var byteCount = 0

    mutating func append(_ chunk: LineChunk) {
        chunks.append(chunk)
        byteCount += chunk.byteCount
    }
}

/// A batch on its way: its lines, and where it leaves each input.
typealias OutgoingRows = ServerBatch<PendingLines>

/// Rows as `INSERT ... (source, line_no, ts, level, line, fields) FORMAT TabSeparated` reads
/// them: a tab between values, a newline after each row; in a value a backslash, tab,
/// newline, CR and NUL written `\\`, `\t`, `\n`, `\r`, `\0`, every other byte as it is (a
/// String column holds bytes: invalid UTF-8 comes back as it went in). `ts` is 10 digits of
/// epoch seconds (ClickHouse 18.16 reads that form whatever the server's zone), zero for a
/// line without a time.
struct RowEncoder: Sendable {
    /// Per input index: its `source` value, escaped, with the tab after it.
    private let sources: [[UInt8]]
    private let columns: RowColumns

    init(sourceNames: [String], columns: RowColumns) {
        sources = sourceNames.map { name in
            var out: [UInt8] = []
            Self.appendEscaped(Array(name.utf8), to: &out)
            return out + [0x09]
        }
        self.columns = columns
    }

    /// The rows of `lines`.
    func encode(_ lines: PendingLines) -> ByteBuffer {
        var rows = ByteBuffer()
        rows.reserveCapacity(lines.byteCount * 3 + 4096)
        let scratch = columns.makeScratch()
        var fields: [UInt8] = []
        var digits = [UInt8](repeating: 0, count: 24)
        for chunk in lines.chunks {
            guard let positions = chunk.positions else { continue }
            var index = 0
            chunk.forEachRow { line in
                let input = Int(positions.inputs[index])
                rows.writeBytes(input < sources.count ? sources[input] : [0x09])
                Self.writeNumber(UInt64(max(0, positions.numbers[index])), into: &rows, digits: &digits)
                rows.writeInteger(UInt8(0x09))
                fields.removeAll(keepingCapacity: true)
                let (seconds, level) = columns.read(line, input: input, scratch: scratch, fields: &fields)
                var stamp: UInt64 = 0
                if let seconds, seconds >= 0, seconds < 4_294_967_296 { stamp = UInt64(seconds) }
                Self.writeNumber(stamp, into: &rows, digits: &digits, width: 10)
                rows.writeInteger(UInt8(0x09))
                level.withUnsafeBufferPointer { Self.writeEscaped($0, into: &rows) }
                rows.writeInteger(UInt8(0x09))
                Self.writeEscaped(line, into: &rows)
                rows.writeInteger(UInt8(0x09))
                fields.withUnsafeBufferPointer { Self.writeEscaped($0, into: &rows) }
                rows.writeInteger(UInt8(0x0A))
                index += 1
            }
        }
        return rows
    }

    /// Adds `chunk`'s lines to `batch`: its rows are counted, and where it leaves each input.
    static func take(_ chunk: LineChunk, positions: LinePositions, into batch: inout OutgoingRows) {
        batch.rows.append(chunk)
        batch.rowCount += positions.count
        for index in positions.inputs.indices {
            batch.reached[Int(positions.inputs[index])] = (positions.ends[index], positions.lastNumber(index))
        }
    }

    /// `value` in decimal, left-padded with zeros to `width`.
    static func writeNumber(_ value: UInt64, into buffer: inout ByteBuffer, digits: inout [UInt8], width: Int = 1) {
        var value = value
        var count = 0
        repeat {
            digits[digits.count - 1 - count] = UInt8(ascii: "0") + UInt8(value % 10)
            value /= 10
            count += 1
        } while value > 0 || count < width
        _ = digits.withUnsafeBytes { buffer.writeBytes(UnsafeRawBufferPointer(rebasing: $0[($0.count - count)...])) }
    }

    /// The escape of a byte that needs one (its letter after the backslash), else 0.
    @inline(__always)
    static func escape(_ byte: UInt8) -> UInt8 {
        switch byte {
        case 0x5C: UInt8(ascii: "\\")
        case 0x09: UInt8(ascii: "t")
        case 0x0A: UInt8(ascii: "n")
        case 0x0D: UInt8(ascii: "r")
        case 0x00: UInt8(ascii: "0")
        default: 0
        }
    }

    /// Writes runs of bytes that need no escape whole.
    static func writeEscaped<Bytes: Collection>(_ bytes: Bytes, into buffer: inout ByteBuffer) where Bytes.Element == UInt8, Bytes.Index == Int {
        var start = bytes.startIndex
        var index = start
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte <= 0x5C, case let letter = escape(byte), letter != 0 {
                if index > start { buffer.writeBytes(bytes[start..<index]) }
                buffer.writeBytes([0x5C, letter])
                start = index + 1
            }
            index += 1
        }
        if index > start { buffer.writeBytes(bytes[start..<index]) }
    }

    /// 16 bytes at a time: a block without a backslash or a byte below 0x0E is written as it
    /// is (a log line rarely needs an escape; the byte-at-a-time loop was 11% of an export's
    /// CPU).
    static func writeEscaped(_ bytes: UnsafeBufferPointer<UInt8>, into buffer: inout ByteBuffer) {
        guard let base = bytes.baseAddress else { return }
        var start = 0
        var index = 0
        let backslash = SIMD16<UInt8>(repeating: 0x5C)
        let controls = SIMD16<UInt8>(repeating: 0x0E)
        while index < bytes.count {
            if index + 16 <= bytes.count {
                let block = UnsafeRawPointer(base + index).loadUnaligned(as: SIMD16<UInt8>.self)
                if !any((block .== backslash) .| (block .< controls)) {
                    index += 16
                    continue
                }
            }
            let end = min(index + 16, bytes.count)
            while index < end {
                let letter = escape(bytes[index])
                if letter != 0 {
                    if index > start { buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[start..<index]))) }
                    buffer.writeBytes([0x5C, letter])
                    start = index + 1
                }
                index += 1
            }
        }
        if bytes.count > start { buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[start...]))) }
    }

    static func appendEscaped(_ bytes: [UInt8], to out: inout [UInt8]) {
        for byte in bytes {
            let letter = escape(byte)
            if letter != 0 { out += [0x5C, letter] } else { out.append(byte) }
        }
    }

    /// `rows` as one gzip member (zlib, level 1: a body sent over a network, where the bytes
    /// saved cost less than the time); nil if zlib fails (the rows are then sent as they are).
    static func gzip(_ rows: ByteBuffer) -> ByteBuffer? {
        var stream = z_stream()
        guard rows.readableBytes < Int(UInt32.max) / 2,
              deflateInit2_(&stream, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            return nil
        }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, UInt(rows.readableBytes))) + 64
        var out = ByteBuffer()
        out.reserveCapacity(bound)
        let written: Int = rows.withUnsafeReadableBytes { input in
            out.withUnsafeMutableWritableBytes { output in
                stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
                stream.avail_in = uInt(input.count)
                stream.next_out = output.bindMemory(to: Bytef.self).baseAddress
                stream.avail_out = uInt(output.count)
                guard deflate(&stream, Z_FINISH) == Z_STREAM_END else { return -1 }
                return output.count - Int(stream.avail_out)
            }
        }
        guard written >= 0 else { return nil }
        out.moveWriterIndex(forwardBy: written)
        return out
    }
}
