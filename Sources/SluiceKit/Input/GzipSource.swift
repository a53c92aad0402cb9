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
    /// Set while a member header is being read (by `GzipHeaderParser`, not ISA-L).
    private var header: GzipHeaderParser? = GzipHeaderParser()
    private var ended = false

    static let inputCapacity = 256 * 1024

    init(fd: Int32, name: String, prefix: [UInt8]) {
        self.fd = fd
        self.name = name
        state = .allocate(capacity: 1)
        input = .allocate(byteCount: Self.inputCapacity, alignment: 64)
        isal_inflate_init(state)
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
        let n = readRetrying(fd, base + pending, want)
        if n < 0 {
            atEndOfFile = true
            return SluiceError(.input, place: name, "read error: \(SluiceError.systemReason(Int32(-n)))")
        }
        if n == 0 { atEndOfFile = true }
        consumedByteCount += n
        state.pointee.avail_in = UInt32(pending + n)
        return nil
    }

    mutating func fill(_ buffer: UnsafeMutableRawBufferPointer) -> FillResult {
        if ended { return FillResult(count: 0, ended: true) }
        var produced = 0
        while produced < buffer.count {
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
                    let next = state.pointee.next_in
                    let pending = state.pointee.avail_in
                    isal_inflate_reset(state)
                    state.pointee.crc_flag = UInt32(ISAL_GZIP_NO_HDR_VER)
                    state.pointee.next_in = next
                    state.pointee.avail_in = pending
                    continue
                case .invalid(let reason):
                    return finish(produced, SluiceError(.corruptInput, place: name,
                        "invalid gzip header near byte \(position): \(reason)"))
                }
            }
            if state.pointee.avail_in == 0 {
                if atEndOfFile {
                    // ISA-L may still hold decoded bytes: drain them before calling it truncated.
                    let out = buffer.baseAddress! + produced
                    state.pointee.next_out = out.assumingMemoryBound(to: UInt8.self)
                    let room = min(buffer.count - produced, Int(UInt32.max))
                    state.pointee.avail_out = UInt32(room)
                    let status = isal_inflate(state)
                    let drained = room - Int(state.pointee.avail_out)
                    produced += drained
                    if status < 0 {
                        return finish(produced, SluiceError(.corruptInput, place: name,
                            "gzip data corrupt near byte \(position): \(failureReason(status))"))
                    }
                    if state.pointee.block_state == ISAL_BLOCK_FINISH { betweenMembers = true; continue }
                    if drained > 0 { continue }
                    return finish(produced, SluiceError(.corruptInput, place: name,
                        "gzip stream truncated at byte \(consumedByteCount)"))
                }
                if produced > 0 { break }  // hand on what we have before waiting for more input
                if let failure = refill() { return finish(produced, failure) }
                continue
            }
            let out = buffer.baseAddress! + produced
            state.pointee.next_out = out.assumingMemoryBound(to: UInt8.self)
            let room = min(buffer.count - produced, Int(UInt32.max))
            state.pointee.avail_out = UInt32(room)
            let status = isal_inflate(state)
            produced += room - Int(state.pointee.avail_out)
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
