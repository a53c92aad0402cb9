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

    /// Working memory for reading rows' columns: one per stream of rows (`RowStream`).
    func makeScratch() -> RowColumns.Scratch { columns.makeScratch() }

    /// The rows of `lines`, at once (tests; a batch is sent as a `RowStream`).
    func encode(_ lines: PendingLines) -> ByteBuffer {
        var rows = ByteBuffer()
        let scratch = makeScratch()
        for chunk in lines.chunks { encode(chunk, into: &rows, scratch: scratch) }
        return rows
    }

    /// Appends the rows of `chunk`'s lines to `rows`.
    func encode(_ chunk: LineChunk, into rows: inout ByteBuffer, scratch: RowColumns.Scratch) {
        guard let positions = chunk.positions else { return }
        rows.reserveCapacity(rows.writerIndex + chunk.byteCount * 3 + 4096)  // text rows: about 2.3 times the lines
        // Locals, not a scratch object's properties: those are checked for exclusive access
        // at each use (with `appendFields`' buffers, 10% of an export's CPU).
        var fields: [UInt8] = []
        var digits = [UInt8](repeating: 0, count: 24)
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

    /// Adds `chunk`'s lines to `batch`: its rows are counted, and where it leaves each input.
    /// The chunk is held compacted: a batch is held until stored.
    static func take(_ chunk: LineChunk, positions: LinePositions, into batch: inout OutgoingRows) {
        batch.rows.append(chunk.compacted())
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
}
