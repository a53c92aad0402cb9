import CSluiceSearch
import Glibc

/// Cuts a decoded byte stream into `LineChunk`s of whole lines.
///
/// Each chunk is one buffer filled straight from the source (no copy of the bulk), cut after
/// its last `\n`; the partial line after it is carried into the next buffer. Bound: a chunk
/// holds at most `targetSize` bytes unless one line is longer, in which case the buffer doubles
/// until the line fits: memory grows with the longest line, never with the input. A chunk
/// much smaller than its buffer (a short read: a trickling pipe) is copied into one of its
/// own size (`rightSize`), so that each line read alone does not hold a whole buffer while
/// it waits in a batch.
/// End of input: a last line without `\n` gets one (as grep prints it). A stop (the source
/// ends with an `.interrupted` failure) is not an end of input: the partial line is dropped.
struct LineFramer {
    let targetSize: Int
    /// grep's `-z`: each NUL and newline byte read is exchanged before framing (`NulData`).
    var exchangesNulAndNewline = false
    private var carry: [UInt8] = []

    init(targetSize: Int) {
        precondition(targetSize >= 16)
        self.targetSize = targetSize
    }

    var hasPartialLine: Bool { !carry.isEmpty }

    /// Where the partial line held for the next buffer has a NUL byte (`LineChunk.nulAfterEnd`).
    var nulInPartialLine: Int? { carry.firstIndex(of: 0) }

    /// Starts the next buffer with `bytes`, a line without its newline yet (read elsewhere).
    mutating func setPartialLine(_ bytes: [UInt8]) {
        precondition(carry.isEmpty && !bytes.contains(0x0A))
        carry = bytes
    }

    /// Bytes of partial lines copied into a new, larger buffer so far: at most about twice
    /// the longest line, since buffers double (reading a long line in small pieces must not
    /// copy it once per piece).
    private(set) var carriedBytes = 0

    /// Fills one buffer from `source` and returns the complete lines in it (possibly none)
    /// and whether the source ended (with its diagnostic, if any). Reads until the buffer
    /// holds a newline (a short read with one is handed on at once: a trickling pipe), the
    /// buffer is full (it doubles, for a line longer than it) or the source ends.
    mutating func nextChunk(from source: inout some ByteSource) -> (chunk: [UInt8], ended: Bool, failure: SluiceError?) {
        var capacity = max(targetSize, carry.count * 2)
        while true {
            var ended = false
            var failure: SluiceError?
            var lastNewline: Int?
            let carried = carry
            carriedBytes += carried.count
            var buffer = [UInt8](unsafeUninitializedCapacity: capacity) { storage, initialized in
                let raw = UnsafeMutableRawBufferPointer(storage)
                carried.withUnsafeBytes { raw.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                var filled = carried.count
                while filled < raw.count {
                    let piece = source.fill(UnsafeMutableRawBufferPointer(rebasing: raw[filled...]))
                    if exchangesNulAndNewline {
                        NulData.exchange(UnsafeMutableRawBufferPointer(rebasing: raw[filled..<(filled + piece.count)]))
                    }
                    if piece.count > 0, let hit = memrchr(raw.baseAddress! + filled, 0x0A, piece.count) {
                        lastNewline = raw.baseAddress!.distance(to: hit)
                    }
                    filled += piece.count
                    if piece.ended {
                        ended = true
                        failure = piece.failure
                        break
                    }
                    if lastNewline != nil { break }
                }
                initialized = filled
            }
            if ended {
                carry = []
                if let failure, failure.code == .interrupted {
                    // A stop: the lines read so far are whole; the partial one after them is
                    // dropped, never written as if it were complete.
                    if let lastNewline { buffer.removeSubrange((lastNewline + 1)...) } else { buffer = [] }
                    return (buffer, true, failure)
                }
                if let failure, failure.code == .corruptInput || failure.code == .input {
                    // Damage: the partial line decoded before it still counts as a line.
                    if buffer.last != 0x0A && !buffer.isEmpty { buffer.append(0x0A) }
                    return (buffer, true, failure)
                }
                if let lastNewline {
                    carry = Array(buffer[(lastNewline + 1)...])
                    Self.rightSize(&buffer, count: lastNewline + 1)
                } else {
                    carry = buffer
                    buffer = []
                }
                return (buffer, true, failure)
            }
            if let lastNewline {
                carry = Array(buffer[(lastNewline + 1)...])
                Self.rightSize(&buffer, count: lastNewline + 1)
                return (buffer, false, nil)
            }
            // Full, and no newline yet: one line longer than the buffer.
            carry = buffer
            capacity *= 2
        }
    }

    /// Keeps the first `count` bytes of `buffer`: cut in place, or copied into an array of
    /// their size when they fill at most a quarter of its capacity. A line read alone held its whole 512 KiB buffer
    /// (`python3 trickle.py | sluice -e . -b 100000 --batch-timeout 10s --exec cat`: 264 MiB
    /// for 50,000 lines). Files are mapped and gzip fills whole buffers, so the copy happens on
    /// short pipe reads only.
    static func rightSize(_ buffer: inout [UInt8], count: Int) {
        if count * 4 <= buffer.capacity {
            // Not `Array(buffer[..<count])`: a slice of the whole array gives its storage back.
            buffer = buffer.withUnsafeBufferPointer { old in
                [UInt8](unsafeUninitializedCapacity: count) { new, initialized in
                    _ = new.initialize(from: old[..<count])
                    initialized = count
                }
            }
        } else {
            buffer.removeSubrange(count...)
        }
    }

    /// The partial last line of the whole stream, newline added; empty if there is none.
    mutating func finish() -> [UInt8] {
        defer { carry = [] }
        guard !carry.isEmpty else { return [] }
        return carry + [0x0A]
    }
}
