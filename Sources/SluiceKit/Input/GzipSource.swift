import CISAL
import Glibc

/// A gzip stream decoded with ISA-L's `isal_inflate`.
///
/// Decodes every member of a multi-member file (BGZF included) and every header flag. After a
/// member, gzip's rules (`gzip -dc` as the oracle): `1f 8b` starts the next member; zero bytes
/// up to the end are padding, ignored silently; anything else, or anything after zero bytes
/// (a member included), ends the stream with a trailing-garbage warning; a single byte before
/// the end is a member cut short, an error. A stream cut short or damaged ends with a
/// diagnostic giving the compressed byte offset, after every byte decoded before the damage
/// has been returned.
struct GzipSource: ByteSource {
    private let state: UnsafeMutablePointer<inflate_state>
    private let input: UnsafeMutableRawBufferPointer
    let fd: Int32
    let name: String
    /// Bytes read from `fd` so far (compressed).
    private(set) var consumedByteCount = 0
    /// Valid bytes are `input[inputStart ..< inputEnd]` (mirrored into `state.next_in`).
    private var atEndOfFile = false
    private var betweenMembers = false
    /// Zero bytes were skipped after the last member: only more zeros or the end may follow.
    private var inPadding = false
    /// Compressed offset of the current member's first deflate byte, and the bytes ISA-L
    /// decoded of that member: for a member cut short, `GzipCutStreamModel` decodes it again.
    private var deflateStart = 0
    private var memberOutput = 0
    /// Where the input's byte 0 is in `fd` (pread), or nil for a pipe: then the current
    /// member's compressed bytes from `retainedStart` are kept, up to `retentionLimit`.
    private let fileOffset: Int?
    private var retained: [UInt8] = []
    /// `retained[retainedHead]` is the byte at compressed offset `retainedStart` (the bytes
    /// before it, of earlier members, are dropped lazily: BGZF members are small).
    private var retainedHead = 0
    private var retainedStart = 0
    private var retentionOverflowed = false
    /// Decoded bytes still to hand on, then the failure that ends the stream.
    private var pendingTail: [UInt8] = []
    private var pendingFailure: SluiceError?
    /// Set while a member header is being read (by `GzipHeaderParser`, not ISA-L).
    private var header: GzipHeaderParser? = GzipHeaderParser()
    private var ended = false

    static let inputCapacity = 256 * 1024
    /// Compressed bytes of one member kept from a pipe, to decode it again if it is cut short.
    static let retentionLimit = 4 << 20
    /// Input bytes ISA-L is not shown while a member's data is being decoded (see `fill`).
    static let reserve = 2

    /// Ends the source early (a stop or a cancellation), even while a read waits on a pipe.
    let interrupt: Interrupt?
    /// `fd` is a pipe, terminal or socket: a read may wait for ever.
    let mayBlock: Bool

    /// Why gzip cannot be decoded here (ISA-L, loaded at the first use, is missing), or nil.
    static var decoderUnavailable: String? {
        sluice_isal_load().map { "cannot decode gzip: " + String(cString: $0) }
    }

    init(fd: Int32, name: String, prefix: [UInt8], interrupt: Interrupt? = nil, mayBlock: Bool = false) {
        self.fd = fd
        self.name = name
        self.interrupt = interrupt
        self.mayBlock = mayBlock
        var info = stat()
        let current = lseek(fd, 0, SEEK_CUR)
        if fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && current >= prefix.count {
            fileOffset = Int(current) - prefix.count
        } else {
            fileOffset = nil
            retained = prefix
        }
        state = .allocate(capacity: 1)
        input = .allocate(byteCount: Self.inputCapacity, alignment: 64)
        sluice_isal_inflate_init(state)
        state.pointee.crc_flag = UInt32(ISAL_GZIP_NO_HDR_VER)
        prefix.withUnsafeBytes { input.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        state.pointee.next_in = input.baseAddress!.assumingMemoryBound(to: UInt8.self)
        state.pointee.avail_in = UInt32(prefix.count)
        consumedByteCount = prefix.count
    }

    /// Frees the decoder state; call once when done with the source.
    func release() {
        state.deallocate()
        input.deallocate()
    }

    /// Compressed offset of the next byte the decoder will look at.
    private var position: Int { consumedByteCount - Int(state.pointee.avail_in) }

    /// Moves unread input to the front and reads more after it. Returns false at end of file.
    private mutating func refill() -> SluiceError? {
        let pending = Int(state.pointee.avail_in)
        let base = input.baseAddress!
        if pending > 0, let next = state.pointee.next_in, UnsafeMutableRawPointer(next) != base {
            memmove(base, next, pending)
        }
        state.pointee.next_in = base.assumingMemoryBound(to: UInt8.self)
        let want = Self.inputCapacity - pending
        let n = readInterruptibly(fd, base + pending, want, interrupt, mayBlock: mayBlock)
        if n == interruptedRead {
            state.pointee.avail_in = UInt32(pending)
            return SluiceError(.interrupted, place: name, "stopped")
        }
        if n < 0 {
            atEndOfFile = true
            return SluiceError(.input, place: name, "read error: \(SluiceError.systemReason(Int32(-n)))")
        }
        if n == 0 { atEndOfFile = true }
        if fileOffset == nil && n > 0 && !retentionOverflowed {
            if retained.count - retainedHead + n <= Self.retentionLimit {
                retained.append(contentsOf: UnsafeRawBufferPointer(start: base + pending, count: n))
            } else {
                retentionOverflowed = true
                retained = []
                retainedHead = 0
            }
        }
        consumedByteCount += n
        state.pointee.avail_in = UInt32(pending + n)
        return nil
    }

    mutating func fill(_ buffer: UnsafeMutableRawBufferPointer) -> FillResult {
        if ended { return FillResult(count: 0, ended: true) }
        var produced = 0
        while produced < buffer.count {
            if let failure = pendingFailure {
                let n = min(pendingTail.count, buffer.count - produced)
                pendingTail.withUnsafeBytes { (buffer.baseAddress! + produced).copyMemory(from: $0.baseAddress!, byteCount: n) }
                pendingTail.removeFirst(n)
                produced += n
                if pendingTail.isEmpty { return finish(produced, failure) }
                break
            }
            if betweenMembers {
                // Need two bytes to tell a next member from padding or garbage.
                while state.pointee.avail_in < 2 && !atEndOfFile {
                    if produced > 0 { return FillResult(count: produced, ended: false) }  // don't wait holding data
                    if let failure = refill() { return finish(produced, failure) }
                }
                let available = Int(state.pointee.avail_in)
                if available == 0 { return finish(produced, nil) }
                let next = state.pointee.next_in!
                if next[0] == 0 || inPadding {
                    // Zero padding (tar, some BGZF writers) up to the end: skipped silently.
                    // Anything after it, even a member, is trailing garbage (gzip stops there).
                    var zeros = 0
                    while zeros < available && next[zeros] == 0 { zeros += 1 }
                    state.pointee.next_in = next + zeros
                    state.pointee.avail_in -= UInt32(zeros)
                    if zeros < available {
                        return finish(produced, SluiceError(.warning, place: name,
                            "trailing garbage after gzip data at byte \(position) ignored"))
                    }
                    inPadding = true
                    if !atEndOfFile {
                        if produced > 0 { return FillResult(count: produced, ended: false) }
                        if let failure = refill() { return finish(produced, failure) }
                    }
                    continue
                }
                if available >= 2 && next[0] == 0x1F && next[1] == 0x8B {
                    betweenMembers = false
                    header = GzipHeaderParser()
                    continue
                }
                if available == 1 {
                    // One byte, then the end: gzip reads it as the start of a member cut short
                    // ("unexpected end of file"), not as garbage.
                    return finish(produced, SluiceError(.corruptInput, place: name,
                        "gzip stream truncated at byte \(consumedByteCount) (inside a member header)"))
                }
                return finish(produced, SluiceError(.warning, place: name,
                    "trailing garbage after gzip data at byte \(position) ignored"))
            }
            if header != nil {
                if state.pointee.avail_in == 0 {
                    if atEndOfFile {
                        return finish(produced, SluiceError(.corruptInput, place: name,
                            "gzip stream truncated at byte \(consumedByteCount) (inside a member header)"))
                    }
                    if produced > 0 { break }
                    if let failure = refill() { return finish(produced, failure) }
                    continue
                }
                let available = UnsafeBufferPointer(start: state.pointee.next_in, count: Int(state.pointee.avail_in))
                let (used, step) = header!.consume(available)
                state.pointee.next_in += used
                state.pointee.avail_in -= UInt32(used)
                switch step {
                case .needMore:
                    continue
                case .done:
                    header = nil
                    deflateStart = position
                    memberOutput = 0
                    if fileOffset == nil && !retentionOverflowed {
                        retainedHead = min(retained.count, retainedHead + deflateStart - retainedStart)
                        if retainedHead >= retained.count / 2 {
                            retained.removeFirst(retainedHead)
                            retainedHead = 0
                        }
                    }
                    retainedStart = deflateStart
                    let next = state.pointee.next_in
                    let pending = state.pointee.avail_in
                    sluice_isal_inflate_reset(state)
                    state.pointee.crc_flag = UInt32(ISAL_GZIP_NO_HDR_VER)
                    state.pointee.next_in = next
                    state.pointee.avail_in = pending
                    continue
                case .invalid(let reason):
                    return finish(produced, SluiceError(.corruptInput, place: name,
                        "invalid gzip header near byte \(position): \(reason)"))
                }
            }
            // Until the member's data is decoded (only its trailer is left), the last `reserve`
            // bytes read are hidden from ISA-L, also at the end of the input. So ISA-L never
            // decodes a symbol near a cut: gzip looks at most 15 bits past the end of a symbol,
            // so everything ISA-L decodes of a cut member, gzip -dc writes too, and the model
            // adds what gzip writes beyond it (`exactTail`). A member whose data ends in the
            // last 2 bytes cannot be whole: its 8-byte trailer would follow.
            let dataDone = state.pointee.block_state.rawValue >= ISAL_BLOCK_INPUT_DONE.rawValue
            let hidden = dataDone ? 0 : min(Self.reserve, Int(state.pointee.avail_in))
            if Int(state.pointee.avail_in) == hidden {
                if atEndOfFile {
                    // ISA-L may still hold decoded bytes: drain them before calling it truncated.
                    let out = buffer.baseAddress! + produced
                    state.pointee.next_out = out.assumingMemoryBound(to: UInt8.self)
                    let room = min(buffer.count - produced, Int(UInt32.max))
                    state.pointee.avail_out = UInt32(room)
                    state.pointee.avail_in = 0
                    let status = sluice_isal_inflate(state)
                    state.pointee.avail_in &+= UInt32(hidden)
                    let drained = room - Int(state.pointee.avail_out)
                    produced += drained
                    memberOutput += drained
                    if status < 0 {
                        return finish(produced, SluiceError(.corruptInput, place: name,
                            "gzip data corrupt near byte \(position): \(failureReason(status))"))
                    }
                    if state.pointee.block_state == ISAL_BLOCK_FINISH { betweenMembers = true; continue }
                    if drained > 0 { continue }
                    pendingFailure = SluiceError(.corruptInput, place: name, "gzip stream truncated at byte \(consumedByteCount)")
                    if !dataDone { pendingTail = exactTail() }
                    continue
                }
                if produced > 0 { break }  // hand on what we have before waiting for more input
                if let failure = refill() { return finish(produced, failure) }
                continue
            }
            let out = buffer.baseAddress! + produced
            state.pointee.next_out = out.assumingMemoryBound(to: UInt8.self)
            let room = min(buffer.count - produced, Int(UInt32.max))
            state.pointee.avail_out = UInt32(room)
            state.pointee.avail_in -= UInt32(hidden)
            let status = sluice_isal_inflate(state)
            // Wrapping: after corrupt data ISA-L may leave `avail_in` one below zero (its
            // rewind of `next_in` and `avail_in` disagree); with the hidden bytes back it is what
            // it would have been had they been shown.
            state.pointee.avail_in &+= UInt32(hidden)
            produced += room - Int(state.pointee.avail_out)
            memberOutput += room - Int(state.pointee.avail_out)
            if status < 0 {
                return finish(produced, SluiceError(.corruptInput, place: name,
                    "gzip data corrupt near byte \(position): \(failureReason(status))"))
            }
            if state.pointee.block_state == ISAL_BLOCK_FINISH {
                betweenMembers = true
            }
        }
        return FillResult(count: produced, ended: false)
    }

    /// The bytes `gzip -dc` writes of the member cut short beyond the `memberOutput` ISA-L
    /// decoded: the member decoded again from its first deflate byte by `GzipCutStreamModel`,
    /// read back with pread (a file) or from the retained copy (a pipe; none if the member's
    /// compressed bytes passed `retentionLimit`: then only ISA-L's bytes are written).
    private func exactTail() -> [UInt8] {
        let count = consumedByteCount - deflateStart
        var model: GzipCutStreamModel
        if let fileOffset {
            let reader = PositionalReader(fd: fd, offset: fileOffset + deflateStart)
            model = GzipCutStreamModel(count: count) { reader.byte(at: $0) }
        } else {
            guard !retentionOverflowed, retained.count - retainedHead == count else { return [] }
            let bytes = Array(retained[retainedHead...])
            model = GzipCutStreamModel(count: count) { bytes[$0] }
        }
        let written = model.run()
        guard written > memberOutput, written - memberOutput <= GzipCutStreamModel.windowSize else { return [] }
        return model.bytes(from: memberOutput)
    }

    private mutating func finish(_ produced: Int, _ failure: SluiceError?) -> FillResult {
        ended = true
        return FillResult(count: produced, ended: true, failure: failure)
    }

    /// What `status` means here. A bad trailer is a CRC or a length mismatch (ISA-L says
    /// "checksum" for both): as gzip, the CRC is blamed first, the length when the CRC is right.
    private func failureReason(_ status: Int32) -> String {
        guard status == ISAL_INCORRECT_CHECKSUM, let next = state.pointee.next_in,
              input.baseAddress!.distance(to: UnsafeMutableRawPointer(next)) >= 8 else { return Self.describe(status) }
        let trailer = UnsafeRawPointer(next) - 8
        let storedCRC = trailer.loadUnaligned(as: UInt32.self).littleEndian
        let storedLength = trailer.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian
        let length = state.pointee.total_out
        if storedCRC == state.pointee.crc && storedLength != length {
            return "length mismatch (the trailer says \(storedLength) bytes, the member has \(length))"
        }
        return Self.describe(status)
    }

    static func describe(_ status: Int32) -> String {
        switch status {
        case ISAL_INVALID_BLOCK: "invalid deflate block"
        case ISAL_INVALID_SYMBOL: "invalid deflate symbol"
        case ISAL_INVALID_LOOKBACK: "invalid back-reference distance"
        case ISAL_INVALID_WRAPPER: "invalid gzip header"
        case ISAL_UNSUPPORTED_METHOD: "unsupported compression method"
        case ISAL_INCORRECT_CHECKSUM: "CRC mismatch (data corrupt)"
        default: "inflate error \(status)"
        }
    }
}

/// Reads a file's bytes by position through a 64 KiB buffer (pread: the descriptor's offset is
/// left alone). A byte that cannot be read is 0 (the model only runs on bytes read before).
final class PositionalReader {
    let fd: Int32
    let offset: Int
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    private var bufferStart = 0
    private var bufferCount = 0

    init(fd: Int32, offset: Int) {
        self.fd = fd
        self.offset = offset
    }

    func byte(at index: Int) -> UInt8 {
        if index < bufferStart || index >= bufferStart + bufferCount {
            bufferStart = index
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, off_t(offset + index)) }
            bufferCount = max(0, n)
            if bufferCount == 0 { return 0 }
        }
        return buffer[index - bufferStart]
    }
}
