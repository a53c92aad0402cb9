import CSluiceSearch
import Glibc

/// Turns an `--exec` command's output, read in pieces of any size, into `LineChunk`s.
///
/// Without steps after the command, the bytes are passed as they were read, byte for byte: a
/// piece that ends inside a line is framed with a `\n` it is written without
/// (`LineChunk.endsWithoutNewline`) and counts only its newlines, so a line spanning reads
/// counts once, where it ends. Such a piece is held until the next read (or the end), so the
/// end can count the last line without `\n` as a line. Bound: one read piece held.
/// With steps (`exec ... | grep x`), the output is framed into whole lines (the partial last
/// line is carried to the next read: memory grows with the longest line, never with the
/// output) and the steps run on each chunk; at the end a last line without `\n` is a line for
/// them, and they write it with one. Errors: a step's error is thrown.
struct ExecOutputFramer {
    let steps: [any ChunkStep]
    private var held: LineChunk?
    private var carry: [UInt8] = []

    init(steps: [any ChunkStep]) {
        self.steps = steps
    }

    /// The chunks complete after `bytes`, the next piece of output.
    mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) throws -> [LineChunk] {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return [] }
        if steps.isEmpty {
            var ready: [LineChunk] = []
            if let held { ready.append(held) }
            held = nil
            let complete = bytes[bytes.count - 1] == 0x0A
            let copy = [UInt8](unsafeUninitializedCapacity: bytes.count + 1) { storage, initialized in
                UnsafeMutableRawPointer(storage.baseAddress!).copyMemory(from: base, byteCount: bytes.count)
                storage[bytes.count] = 0x0A
                initialized = complete ? bytes.count : bytes.count + 1
            }
            var chunk = LineChunk(bytes: copy, lineCount: sluice_count_newlines(base, bytes.count))
            if complete {
                ready.append(chunk)
            } else {
                chunk.endsWithoutNewline = true
                held = chunk
            }
            return ready
        }
        guard let hit = memrchr(base, 0x0A, bytes.count) else {
            carry.append(contentsOf: bytes)
            return []
        }
        let cut = base.distance(to: hit.assumingMemoryBound(to: UInt8.self)) + 1
        var lines = carry
        lines.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[..<cut]))
        carry = Array(UnsafeBufferPointer(rebasing: bytes[cut...]))
        return try applySteps(lines)
    }

    /// What is left at the end of the output.
    mutating func finish() throws -> [LineChunk] {
        if steps.isEmpty {
            guard var last = held else { return [] }
            held = nil
            last.knownLineCount = (last.knownLineCount ?? 0) + 1  // the last line, without its `\n`
            return [last]
        }
        guard !carry.isEmpty else { return [] }
        let last = carry + [0x0A]
        carry = []
        return try applySteps(last)
    }

    private func applySteps(_ lines: [UInt8]) throws -> [LineChunk] {
        let chunk = try steps.apply(LineChunk(bytes: lines))
        return chunk.isEmpty && chunk.notes.isEmpty ? [] : [chunk]
    }
}
