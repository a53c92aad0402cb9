import CSluiceSupport
import Glibc

/// Cuts a decoded byte stream into `LineChunk`s of whole lines.
///
/// Each chunk is one buffer filled straight from the source (no copy of the bulk), cut after
/// its last `\n`; the partial line after it is carried into the next buffer. Bound: a chunk
/// holds at most `targetSize` bytes unless one line is longer, in which case the buffer doubles
/// until the line fits: memory grows with the longest line, never with the input.
/// End of input: a last line without `\n` gets one (as grep prints it).
struct LineFramer {
    let targetSize: Int
    private var carry: [UInt8] = []

    init(targetSize: Int) {
        precondition(targetSize >= 16)
        self.targetSize = targetSize
    }

    var hasPartialLine: Bool { !carry.isEmpty }

    /// Starts the next buffer with `bytes`, a line without its newline yet (read elsewhere).
    mutating func setPartialLine(_ bytes: [UInt8]) {
        precondition(carry.isEmpty && !bytes.contains(0x0A))
        carry = bytes
    }

    /// Fills one buffer from `source` and returns the complete lines in it (possibly none)
    /// and whether the source ended (with its diagnostic, if any).
    mutating func nextChunk(from source: inout some ByteSource) -> (chunk: [UInt8], ended: Bool, failure: SluiceError?) {
        var capacity = max(targetSize, carry.count * 2)
        while true {
            var result = FillResult(count: 0, ended: false)
            let carried = carry
            var buffer = [UInt8](unsafeUninitializedCapacity: capacity) { storage, initialized in
                let raw = UnsafeMutableRawBufferPointer(storage)
                carried.withUnsafeBytes { raw.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                let room = UnsafeMutableRawBufferPointer(rebasing: raw[carried.count...])
                result = source.fill(room)
                initialized = carried.count + result.count
            }
            let lastNewline = buffer.withUnsafeBufferPointer { b -> Int? in
                guard b.count > 0, let hit = memrchr(b.baseAddress!, 0x0A, b.count) else { return nil }
                return b.baseAddress!.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            }
            if result.ended {
                carry = []
                if let failure = result.failure, failure.code == .corruptInput || failure.code == .input {
                    // Damage: the partial line decoded before it still counts as a line.
                    if buffer.last != 0x0A && !buffer.isEmpty { buffer.append(0x0A) }
                    return (buffer, true, failure)
                }
                if let lastNewline {
                    carry = Array(buffer[(lastNewline + 1)...])
                    buffer.removeSubrange((lastNewline + 1)...)
                } else {
                    carry = buffer
                    buffer = []
                }
                return (buffer, true, result.failure)
            }
            if let lastNewline {
                carry = Array(buffer[(lastNewline + 1)...])
                buffer.removeSubrange((lastNewline + 1)...)
                return (buffer, false, nil)
            }
            // No newline yet.
            carry = buffer
            if buffer.count < capacity / 2 && result.count > 0 {
                // A short read (a pipe): hand on nothing yet, read again into the same size.
                continue
            }
            if result.count == 0 { continue }
            capacity *= 2
        }
    }

    /// The partial last line of the whole stream, newline added; empty if there is none.
    mutating func finish() -> [UInt8] {
        defer { carry = [] }
        guard !carry.isEmpty else { return [] }
        return carry + [0x0A]
    }
}
