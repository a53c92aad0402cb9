import CBzip2
import Glibc

/// bzip2 streams decoded by libbz2, their blocks on worker threads (`CompressedSource`
/// handles what lies between streams, as `bzcat` reads `cat a.bz2 b.bz2`).
///
/// A bzip2 block depends on nothing before it but the stream's header, and starts with a
/// 48-bit magic at any bit offset (lbzip2 decodes in parallel the same way). The stream's
/// bytes are scanned for the block and end-of-stream magics; each block's bits are copied
/// into a stream of their own (the header, the block, an end whose CRC is the block's), which
/// a worker decodes with libbz2; the blocks' output goes out in order. libbz2 checks each
/// block's CRC; the stream's combined CRC is checked here, as libbz2 would. A magic's bits
/// that happen to appear inside a block's data cut it in two: its first part fails to decode,
/// and is then decoded again with the next part (`merged`).
/// 300 MB of the bench corpus (`bzip2 -9`, 36 MB): 14.2 s with libbz2's streaming decoder
/// on one thread, 7.4 s with two workers (2 cores).
///
/// Threads: none for a stream of one block (decoded on the caller's thread); from the second
/// block on, up to `maximumThreads` workers (not more than the cores), owned by the decoder
/// and joined when it goes. Bound: at most `workers + 1` blocks in flight, each its
/// compressed bits (at most about 1 MB for `bzip2 -9`) and its output, at most
/// `outputLimit` bytes held (a block of long runs decodes to up to 46 MB: the rest of it is
/// decoded by the caller straight into the buffers it fills), and libbz2's state (3.6 MiB in
/// its fast mode).
/// Damage: the blocks before the damaged one, then what libbz2 decoded of it, then the
/// failure, placed at the end of that block's bytes (`DecodeStep.behind`). A stream cut short:
/// every whole block, then the need for more input (`CompressedSource` says where it ends).
final class Bzip2Decoder: StreamDecoder {
    static let maximumThreads = 4
    static let outputLimit = 1 << 20  // a 2 MiB buffer never grows; 8 MiB let a bzip2 bomb reach 136 MB (CompressedSourceTests)

    private enum Phase { case header, blocks, trailer, ended }
    private var phase = Phase.header
    private var header: [UInt8] = []
    /// The stream's bytes after its header from the one holding the current block's first
    /// bit (bit 0 is `pending[0]`'s high bit), as far as they were scanned.
    private var pending: [UInt8] = []
    /// The stream's bytes before `pending[0]`, counted from its first (header included).
    private var pendingBase = 0
    /// The last 64 bits scanned (the magics are 48).
    private var window: UInt64 = 0
    /// Where the current block starts (its magic), in `pending`'s bits; nil before the first.
    private var blockStart: Int?
    /// Where the end-of-stream magic is, in `pending`'s bits, once found.
    private var endBit = 0
    private var storedCombinedCRC: UInt32 = 0
    private var combinedCRC: UInt32 = 0
    /// A failure found while scanning (a bad header, data that starts with no magic).
    private var scanFailure: String?
    /// The stream was cut short in a block, which was tried (`isTail`).
    private var tailCut = false
    /// Blocks cut, in stream order, not yet written out.
    private var queue: [Bzip2Block] = []
    private var pool: Bzip2Workers?
    private let buffers = Bzip2Buffers()
    private let cores: Int

    static let blockMagic: UInt64 = 0x3141_5926_5359
    static let endMagic: UInt64 = 0x1772_4538_5090
    static let magicMask: UInt64 = (1 << 48) - 1

    init() {
        cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    deinit { pool?.stop() }

    func startStream() -> String? {
        phase = .header
        header = []
        pending = []
        pendingBase = 0
        window = 0
        blockStart = nil
        endBit = 0
        combinedCRC = 0
        scanFailure = nil
        tailCut = false
        queue = []
        return nil
    }

    /// Blocks in flight at most: one per worker and one more, so that a worker done first
    /// starts the next block at once.
    private var inFlightLimit: Int { 2 * min(cores, Self.maximumThreads) + 1 }

    func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, inputEnded: Bool) -> DecodeStep {
        var consumed = 0
        var produced = 0
        while true {
            if let head = queue.first {
                if !head.isDone {
                    if produced > 0 { break }  // hand on what is decoded before waiting
                    if queue.count < inFlightLimit, phase != .ended, scanFailure == nil, consumed < input.count {
                        consumed += absorb(UnsafeRawBufferPointer(rebasing: input[consumed...]))
                        continue
                    }
                    head.finish()
                }
                if head.failure != nil, let merged = merged(head) {
                    queue.removeFirst(2)
                    queue.insert(merged, at: 0)
                    continue
                }
                produced += head.drain(into: UnsafeMutableRawBufferPointer(rebasing: output[produced...]))
                guard head.isDrained else { break }  // output is full
                if let failure = head.failure {
                    let behind = 4 + pendingBase + pending.count - head.endByte
                    return DecodeStep(consumed: consumed, produced: produced, outcome: .failed(failure), behind: max(0, behind))
                }
                combinedCRC = (combinedCRC << 1 | combinedCRC >> 31) ^ head.crc
                queue.removeFirst()
                continue
            }
            if let scanFailure {
                return DecodeStep(consumed: consumed, produced: produced, outcome: .failed(scanFailure))
            }
            if phase == .ended {
                guard combinedCRC == storedCombinedCRC else {
                    return DecodeStep(consumed: consumed, produced: produced, outcome: .failed(Self.describe(BZ_DATA_ERROR)))
                }
                return DecodeStep(consumed: consumed, produced: produced, outcome: .streamEnd)
            }
            if consumed < input.count {
                consumed += absorb(UnsafeRawBufferPointer(rebasing: input[consumed...]))
                continue
            }
            if inputEnded && phase == .blocks && !tailCut, let start = blockStart, pending.count * 8 > start + 80 {
                // Cut short after this block's start: libbz2 writes a block it read whole
                // before it finds the stream cut, so the block is tried (`Bzip2Block.isTail`).
                tailCut = true
                queue.append(block(from: start, to: pending.count * 8, isTail: true))
                continue
            }
            break
        }
        return DecodeStep(consumed: consumed, produced: produced, outcome: .progress)
    }

    /// Scans `input` for the header, block boundaries and the stream's end, cutting blocks
    /// as their ends are found; stops after a cut when enough blocks are in flight, and at the
    /// stream's last byte. Returns the bytes taken.
    private func absorb(_ input: UnsafeRawBufferPointer) -> Int {
        var taken = 0
        while taken < input.count {
            let byte = input[taken]
            switch phase {
            case .header:
                header.append(byte)
                taken += 1
                if header.count == 4 {
                    guard header[0] == 0x42, header[1] == 0x5A, header[2] == 0x68, (0x31...0x39).contains(header[3]) else {
                        scanFailure = Self.describe(BZ_DATA_ERROR_MAGIC)
                        return taken
                    }
                    phase = .blocks
                }
            case .blocks:
                // Scanned with locals: a class's stored properties are checked for exclusive
                // access at each use (that was 4% of the run, on the thread every block waits on).
                let first = blockStart == nil
                let earliest = (blockStart ?? 0) + 80  // a next magic comes after this block's magic and CRC
                let before = pending.count
                var scan = window
                var index = taken
                var hit: (start: Int, value: UInt64)?
                var noStart = false
                while index < input.count {
                    scan = scan << 8 | UInt64(input[index])
                    index += 1
                    let end = (before + index - taken) * 8
                    if end < 48 { continue }
                    var k = 7
                    while k >= 0 {
                        let start = end - k - 48
                        let value = (scan >> UInt64(k)) & Self.magicMask
                        if start >= 0, value == Self.blockMagic || value == Self.endMagic, first ? start == 0 : start >= earliest {
                            hit = (start, value)
                            break
                        }
                        k -= 1
                    }
                    if hit != nil { break }
                    if first { noStart = true; break }  // no block and no end where the first must be
                }
                pending.append(contentsOf: input[taken..<index])
                window = scan
                taken = index
                if noStart {
                    scanFailure = Self.describe(BZ_DATA_ERROR)
                    return taken
                }
                guard let hit else { return taken }
                var at = hit.start
                if let current = blockStart { at -= cut(from: current, to: hit.start) }
                if hit.value == Self.blockMagic {
                    blockStart = at
                } else {
                    blockStart = nil
                    endBit = at
                    phase = .trailer
                    return taken + absorbTrailer(UnsafeRawBufferPointer(rebasing: input[taken...]))
                }
                if queue.count >= inFlightLimit { return taken }
            case .trailer:
                return taken + absorbTrailer(UnsafeRawBufferPointer(rebasing: input[taken...]))
            case .ended:
                return taken
            }
        }
        return taken
    }

    /// The end-of-stream magic's 48 bits, the combined CRC's 32, then padding to a byte.
    private func absorbTrailer(_ input: UnsafeRawBufferPointer) -> Int {
        let needed = (endBit + 80 + 7) / 8
        let take = min(input.count, max(0, needed - pending.count))
        pending.append(contentsOf: input[..<take])
        if pending.count >= needed {
            storedCombinedCRC = UInt32(truncatingIfNeeded: readBits(endBit + 48, 32))
            phase = .ended
        }
        return take
    }

    /// `count` (at most 57) bits of `pending` from bit `start`.
    private func readBits(_ start: Int, _ count: Int) -> UInt64 {
        var value: UInt64 = 0
        for bit in start..<(start + count) {
            value = value << 1 | UInt64(pending[bit >> 3] >> (7 - UInt8(bit & 7)) & 1)
        }
        return value
    }

    /// Queues the block in `pending`'s bits `start ..< end`; the bytes before its end's byte
    /// are dropped. Returns the bits dropped (`pending`'s indices move back by as many).
    private func cut(from start: Int, to end: Int) -> Int {
        queue.append(block(from: start, to: end))
        if queue.count == 2 && pool == nil {
            pool = Bzip2Workers(count: min(cores, Self.maximumThreads))
        }
        if let pool {
            for waiting in queue where !waiting.isSubmitted { pool.submit(waiting) }
        }
        let drop = end / 8
        pending.removeFirst(drop)
        pendingBase += drop
        blockStart = nil
        return drop * 8
    }

    /// The block in `pending`'s bits `start ..< end`, its CRC read from its header. Its bytes
    /// as they are: the worker shifts them to a byte's first bit (`Bzip2Block.run`).
    private func block(from start: Int, to end: Int, isTail: Bool = false) -> Bzip2Block {
        Bzip2Block(header: header, bytes: Array(pending[(start >> 3)..<((end + 7) >> 3)]), firstBit: start & 7, bits: end - start,
                   crc: UInt32(truncatingIfNeeded: readBits(start + 48, 32)), endByte: pendingBase + 4 + (end + 7) / 8,
                   buffers: buffers, isTail: isTail)
    }

    /// A block that failed and the part after it, as one: a magic's bits inside its data cut
    /// it in two, and then the first part fails and the two decode as one. Nil when there is
    /// no next part, or the two fail too (the first failure stands).
    private func merged(_ head: Bzip2Block) -> Bzip2Block? {
        guard queue.count >= 2, !head.wasMerged else { return nil }
        let next = queue[1]
        next.finish()
        var writer = BitWriter()
        writer.append(head.aligned(), bits: head.bits)
        writer.append(next.aligned(), bits: next.bits)
        let merged = Bzip2Block(header: header, bytes: writer.finished(), firstBit: 0, bits: head.bits + next.bits, crc: head.crc,
                                endByte: next.endByte, buffers: buffers)
        merged.wasMerged = true
        merged.finish()
        return merged.failure == nil ? merged : nil
    }

    static func describe(_ status: Int32) -> String {
        switch status {
        case BZ_DATA_ERROR: "compressed data is corrupt (a CRC or block check failed)"
        case BZ_DATA_ERROR_MAGIC: "not bzip2 data (bad magic)"
        case BZ_MEM_ERROR: "cannot allocate memory"
        case BZ_CONFIG_ERROR: "libbz2 is miscompiled"
        default: "libbz2 error \(status)"
        }
    }
}

/// Bits written high bit first, as bzip2 writes them.
struct BitWriter {
    private(set) var bytes: [UInt8] = []
    private var partial: UInt8 = 0
    private var partialCount = 0

    init(bytes: [UInt8] = []) { self.bytes = bytes }

    /// The low `count` bits of `value`.
    mutating func write(_ value: UInt64, count: Int) {
        var left = count
        while left > 0 {
            left -= 1
            partial |= UInt8(truncatingIfNeeded: value >> UInt64(left) & 1) << UInt8(7 - partialCount)
            partialCount += 1
            if partialCount == 8 {
                bytes.append(partial)
                partial = 0
                partialCount = 0
            }
        }
    }

    /// The first `bits` bits of `payload`.
    mutating func append(_ payload: [UInt8], bits: Int) {
        let whole = bits / 8
        if partialCount == 0 {
            bytes.append(contentsOf: payload[..<whole])
        } else {
            for byte in payload[..<whole] { write(UInt64(byte), count: 8) }
        }
        let rest = bits % 8
        if rest > 0 { write(UInt64(payload[whole] >> UInt8(8 - rest)), count: rest) }
    }

    /// The bytes, the last one padded with zero bits.
    func finished() -> [UInt8] { partialCount > 0 ? bytes + [partial] : bytes }
}

/// One block of a bzip2 stream (or two, `merged`), decoded as a stream of its own by a
/// worker or by the decoder's caller. Its output is read by the caller once `isDone`.
///
/// `@unchecked Sendable`: the fields the worker writes (`output`, `stream`'s state,
/// `failure`) are written before `done` is completed and read only after it is waited for.
final class Bzip2Block: @unchecked Sendable {
    let header: [UInt8]
    /// The stream's bytes holding the block, from `firstBit` of the first on.
    let bytes: [UInt8]
    let firstBit: Int
    let bits: Int
    let crc: UInt32
    /// The stream byte just past the block's last bit (for a failure's place).
    let endByte: Int
    /// The last bits of a stream cut short, from a block's start: its output is kept only if
    /// the block was whole (its CRC is the one its header holds), as libbz2 writes a whole
    /// block before it finds the cut; either way no failure is said (the cut is).
    let isTail: Bool
    var wasMerged = false
    private(set) var isSubmitted = false
    private let done = BoundedChannel<Bool>(capacity: 1)
    private var finished = false

    /// The block as a stream of its own, kept while libbz2 may read it.
    private var stream: [UInt8] = []
    private var state: UnsafeMutablePointer<bz_stream>?
    /// Decoded bytes `output[drained ..< outputCount]` wait to be written out.
    private var output: UnsafeMutableRawBufferPointer?
    private var outputCount = 0
    private var drained = 0
    private let buffers: Bzip2Buffers
    /// libbz2 reached the stream's end (or failed): nothing more comes after `output`.
    private var ended = false
    private(set) var failure: String?

    init(header: [UInt8], bytes: [UInt8], firstBit: Int, bits: Int, crc: UInt32, endByte: Int, buffers: Bzip2Buffers,
         isTail: Bool = false) {
        self.isTail = isTail
        self.header = header
        self.bytes = bytes
        self.firstBit = firstBit
        self.bits = bits
        self.crc = crc
        self.endByte = endByte
        self.buffers = buffers
    }

    deinit {
        if let state {
            BZ2_bzDecompressEnd(state)
            state.deallocate()
        }
        if let output { buffers.give(output) }
    }

    /// The block's bits from a byte's first bit on (the last byte's unused bits zero).
    func aligned() -> [UInt8] {
        let count = (bits + 7) / 8
        let shift = UInt8(firstBit)
        return bytes.withUnsafeBufferPointer { source in
            [UInt8](unsafeUninitializedCapacity: count) { out, initialized in
                for index in 0..<count {
                    let high = source[index] << shift
                    let low = shift > 0 && index + 1 < source.count ? source[index + 1] >> (8 - shift) : 0
                    out[index] = high | low
                }
                let rest = bits % 8
                if rest > 0 { out[count - 1] &= 0xFF << UInt8(8 - rest) }
                initialized = count
            }
        }
    }

    func markSubmitted() { isSubmitted = true }

    var isDone: Bool { finished }

    /// Decodes (on a worker): at most `Bzip2Decoder.outputLimit` bytes are held; the rest is
    /// decoded by `drain`.
    func run() {
        var writer = BitWriter(bytes: header)
        writer.append(aligned(), bits: bits)
        writer.write(Bzip2Decoder.endMagic, count: 48)
        writer.write(UInt64(crc), count: 32)
        stream = writer.finished()
        let state = UnsafeMutablePointer<bz_stream>.allocate(capacity: 1)
        state.initialize(to: bz_stream())
        let status = BZ2_bzDecompressInit(state, 0, 0)
        guard status == BZ_OK else {
            state.deallocate()
            failure = Bzip2Decoder.describe(status)
            ended = true
            return
        }
        self.state = state
        stream.withUnsafeMutableBufferPointer { bytes in
            state.pointee.next_in = UnsafeMutableRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self)
            state.pointee.avail_in = UInt32(bytes.count)
        }
        var buffer = buffers.take()
        while !ended && outputCount < Bzip2Decoder.outputLimit {
            if buffer.count - outputCount < 256 << 10 {
                let larger = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.count * 2, alignment: 64)
                larger.baseAddress!.copyMemory(from: buffer.baseAddress!, byteCount: outputCount)
                buffer.deallocate()
                buffer = larger
            }
            outputCount += step(UnsafeMutableRawBufferPointer(rebasing: buffer[outputCount...]))
        }
        output = buffer
        if isTail {
            // Whole (its CRC holds) or not, nothing more is decoded and no failure is said.
            let whole = ended && Bzip2CRC.of(UnsafeRawBufferPointer(rebasing: buffer[..<outputCount])) == crc
            if !whole { outputCount = 0 }
            ended = true
            failure = nil
        }
        if ended { release() }
    }

    /// One call of libbz2 into `out`; returns the bytes it wrote.
    private func step(_ out: UnsafeMutableRawBufferPointer) -> Int {
        guard let state else { return 0 }
        state.pointee.next_out = out.baseAddress!.assumingMemoryBound(to: CChar.self)
        state.pointee.avail_out = UInt32(min(out.count, Int(UInt32.max)))
        let given = state.pointee.avail_out
        let unread = state.pointee.avail_in
        let status = BZ2_bzDecompress(state)
        let made = Int(given - state.pointee.avail_out)
        switch status {
        case BZ_STREAM_END:
            ended = true
        case BZ_OK:
            // No byte read or written with room for both, or all read and none written: a
            // stream that ends nowhere (its block was cut short).
            if made == 0 && (state.pointee.avail_in == 0 || state.pointee.avail_in == unread) {
                ended = true
                failure = Bzip2Decoder.describe(BZ_DATA_ERROR)
            }
        default:
            ended = true
            failure = Bzip2Decoder.describe(status)
        }
        return made
    }

    private func release() {
        if let state {
            BZ2_bzDecompressEnd(state)
            state.deallocate()
        }
        state = nil
        stream = []
    }

    /// Called by a worker when `run` returned.
    func complete() { _ = done.sendBlocking(true) }

    /// Waits for the worker, or runs the block here when no worker has it.
    func finish() {
        guard !finished else { return }
        if isSubmitted {
            _ = done.receiveBlocking()
        } else {
            run()
        }
        finished = true
    }

    /// Writes what is decoded into `out` (decoding the rest of a large block there); returns
    /// the bytes written.
    func drain(into out: UnsafeMutableRawBufferPointer) -> Int {
        var written = 0
        if let output, drained < outputCount {
            let count = min(out.count, outputCount - drained)
            out.baseAddress!.copyMemory(from: output.baseAddress! + drained, byteCount: count)
            drained += count
            written = count
        }
        if let buffer = output, drained == outputCount {
            buffers.give(buffer)
            output = nil
        }
        while output == nil && !ended && written < out.count {
            written += step(UnsafeMutableRawBufferPointer(rebasing: out[written...]))
        }
        if ended { release() }
        return written
    }

    /// Everything decoded was written out and nothing more comes.
    var isDrained: Bool { ended && output == nil }
}

/// The worker threads of one `Bzip2Decoder`, which owns them: `stop` ends and joins them.
final class Bzip2Workers: Sendable {
    private let jobs: BoundedChannel<Bzip2Block>
    private let threads: [JoinableThread]

    init(count: Int) {
        let jobs = BoundedChannel<Bzip2Block>(capacity: Bzip2Decoder.maximumThreads + 2)
        self.jobs = jobs
        threads = (0..<count).map { _ in
            JoinableThread(stackSize: 256 << 10) {
                while case .element(let block) = jobs.receiveBlocking() {
                    block.run()
                    block.complete()
                }
            }
        }
    }

    func submit(_ block: Bzip2Block) {
        block.markSubmitted()
        _ = jobs.sendBlocking(block)
    }

    /// Ends the workers (a block being decoded is finished first) and joins them.
    func stop() {
        _ = jobs.cancel()
        for thread in threads { thread.join() }
    }
}

/// Output buffers kept for the next blocks (fresh ones cost a page fault per 4 KiB: 0.45 s of
/// system time on 300 MB). Bound: at most `limit` kept, of `initialSize` (one a block of long
/// runs grew, up to twice `Bzip2Decoder.outputLimit`, is freed).
final class Bzip2Buffers: @unchecked Sendable {
    // `@unchecked`: the buffers are owned by whoever took them; the list is under its lock.
    private let spare = Locked<[UnsafeMutableRawBufferPointer]>([])
    static let initialSize = 2 << 20
    static let limit = 2 * Bzip2Decoder.maximumThreads + 2

    func take() -> UnsafeMutableRawBufferPointer {
        spare.withLock { $0.popLast() } ?? .allocate(byteCount: Self.initialSize, alignment: 64)
    }

    func give(_ buffer: UnsafeMutableRawBufferPointer) {
        let kept = spare.withLock { list -> Bool in
            guard list.count < Self.limit, buffer.count == Self.initialSize else { return false }  // a grown one goes
            list.append(buffer)
            return true
        }
        if !kept { buffer.deallocate() }
    }

    deinit {
        for buffer in spare.withLock({ $0 }) { buffer.deallocate() }
    }
}

/// bzip2's CRC: CRC-32 (polynomial 0x04C11DB7) fed high bit first, as a block's header holds it.
enum Bzip2CRC {
    static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index) << 24
        for _ in 0..<8 { value = value & 0x8000_0000 != 0 ? value << 1 ^ 0x04C1_1DB7 : value << 1 }
        return value
    }

    static func of(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { table in
            for byte in bytes { crc = crc << 8 ^ table[Int(crc >> 24 ^ UInt32(byte))] }
        }
        return ~crc
    }
}
