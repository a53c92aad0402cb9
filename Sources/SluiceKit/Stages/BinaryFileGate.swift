import CSluiceSearch
import Glibc
import Synchronization

extension AsyncSequence where Self: Sendable, Element == LineChunk {
    /// grep's binary-file rule (`--binary-files=binary`, its default), over the filtered chunks
    /// in input order. An input is binary from grep's buffer that holds its first NUL byte on
    /// (`BinaryFileGate.parts`, applied by the workers): the lines before it are written as
    /// usual; at the first line selected after it, the input's output ends with grep's note
    /// `NAME: binary file matches` (on stderr, exit status 0) and the reader skips the rest of
    /// the input (grep stops reading it there).
    ///
    /// Bound: one chunk in, at most two out. End and errors: the base's. Cancellation: as the base.
    func binaryFileGate(names: [[UInt8]], skip: InputSkip, active: Bool) -> BinaryFileGate<Self> {
        BinaryFileGate(base: self, names: names, skip: skip, active: active)
    }
}

/// See `binaryFileGate(names:skip:)`.
struct BinaryFileGate<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == LineChunk {
    typealias Element = LineChunk
    let base: Base
    let names: [[UInt8]]
    let skip: InputSkip
    /// Off: chunks pass as they are.
    let active: Bool

    /// grep 3.8 reads 96 KiB at a time (`INITIAL_BUFSIZE`) and tests each buffer for NUL
    /// bytes before it searches it. Its later reads are a page or so shorter (the partial
    /// line kept, where malloc put the buffer), so this is exact for the first 96 KiB and
    /// close after: regions of this many bytes stand for its buffers.
    static var grepBuffer: Int { 96 * 1024 }

    /// A chunk holding a NUL byte (or followed by a partial line holding one), cut where
    /// grep's buffer holding the first one begins (at the line that ends in it): the lines
    /// before, and the binary lines; nil without a NUL. A NUL in a later chunk whose buffer
    /// starts in this one (other than in the partial line just after it) is not seen here:
    /// lines of this chunk grep would not print are then printed.
    static func parts(of chunk: LineChunk) -> (head: LineChunk, tail: LineChunk)? {
        let cut: Int? = chunk.withUnsafeBufferPointer { buffer -> Int? in
            guard let base = buffer.baseAddress else { return nil }
            let at: Int
            if let nul = memchr(base, 0, buffer.count) {
                at = base.distance(to: nul.assumingMemoryBound(to: UInt8.self))
            } else if let after = chunk.nulAfterEnd {
                at = buffer.count + after
            } else {
                return nil
            }
            let region = (chunk.inputOffset + at) / grepBuffer * grepBuffer - chunk.inputOffset
            if region >= buffer.count { return buffer.count }  // binary from the next chunk on
            guard region > 0, let newline = memrchr(base, 0x0A, region) else { return 0 }
            return base.distance(to: newline.assumingMemoryBound(to: UInt8.self)) + 1
        }
        guard let cut else { return nil }
        let lines = chunk.withUnsafeBufferPointer { sluice_count_newlines($0.baseAddress!, cut) }
        var (head, tail) = chunk.split(afterLines: lines)
        head.notes = chunk.notes
        head.inputByteCount = chunk.inputByteCount
        tail.notes = []
        tail.inputByteCount = 0
        return (head, tail)
    }

    /// `steps` applied to `chunk` under grep's binary-file rule: for a chunk holding a NUL, the
    /// lines before grep's buffer with the NUL, and whether any line from there on is selected
    /// (`binaryFileGate` decides; `writesBinary` false, for -c, -l, -L, -q: both parts joined),
    /// each NUL there ending a line as in grep.
    ///
    /// The test for a NUL rides on the steps' own search where they have one (a literal, or a
    /// regex's required literal: `sluice_nul_watch_begin`): the chunk is filtered first, and
    /// only one that holds a NUL is cut and filtered again. A separate pass for NUL bytes read
    /// each chunk from memory once more (-e ERROR on 1 GB, 15 interleaved runs: 0.206 -> 0.186 s
    /// median, rg 0.251; with that pass, the run took 16% longer than with no test at all, -a).
    /// `lastBinaryInput`, the run's: the last input found to hold a NUL, whose later chunks are
    /// tested first (a binary file holds NULs throughout, and each chunk of it was filtered
    /// twice: `-c ERROR` on 50 MB with a NUL every 10 KB took 0.192 s of CPU, 0.117 so).
    /// `withoutMatch` (grep's `-I`): the binary lines are not searched; the output holds the
    /// lines before them and ends the input (`binaryEndsInput`).
    static func apply(_ steps: [any ChunkStep], to chunk: LineChunk, writesBinary: Bool, withoutMatch: Bool = false,
                      lastBinaryInput: borrowing Atomic<Int>) throws -> LineChunk {
        if chunk.nulAfterEnd == nil && lastBinaryInput.load(ordering: .relaxed) != chunk.input {
            var filtered: LineChunk?
            let holdsNul = try chunk.withUnsafeBufferPointer { buffer -> Bool in
                sluice_nul_watch_begin(buffer.baseAddress, buffer.count)
                do {
                    filtered = try steps.apply(chunk)
                } catch {
                    _ = sluice_nul_watch_end()
                    throw error
                }
                return sluice_nul_watch_end() != 0
            }
            if !holdsNul, let filtered { return filtered }
            lastBinaryInput.store(chunk.input, ordering: .relaxed)
        }
        guard let (before, binary) = parts(of: chunk) else { return try steps.apply(chunk) }
        var out = try steps.apply(before)
        if withoutMatch {
            out.binaryEndsInput = true
            return out
        }
        let rest = try steps.apply(zapped(binary))
        guard writesBinary else { return joined(out, rest) }
        out.holdsNul = true
        out.binaryTailSelects = rest.selectionCount > 0
        out.notes += rest.notes
        return out
    }

    /// The chunk with each NUL byte a newline (grep's `zap_nuls` in a binary buffer).
    static func zapped(_ chunk: LineChunk) -> LineChunk {
        var bytes = chunk.withUnsafeBufferPointer { Array($0) }
        // A last line that had no newline and ends in a NUL ends there, as in grep.
        if chunk.newlineAdded && bytes.count >= 2 && bytes[bytes.count - 2] == 0 { bytes.removeLast() }
        for index in bytes.indices where bytes[index] == 0 { bytes[index] = 0x0A }
        var out = LineChunk(bytes: bytes)
        out.input = chunk.input
        out.inputOffset = chunk.inputOffset
        return out
    }

    /// Two outputs of one chunk as one (the selected lines of both, for counting).
    static func joined(_ first: LineChunk, _ second: LineChunk) -> LineChunk {
        var bytes = first.withUnsafeBufferPointer { Array($0) }
        second.withUnsafeBufferPointer { bytes.append(contentsOf: $0) }
        var out = LineChunk(bytes: bytes, lineCount: first.lineCount + second.lineCount, notes: first.notes + second.notes,
                            inputByteCount: first.inputByteCount)
        out.input = first.input
        return out
    }

    func makeAsyncIterator() -> Iterator { Iterator(base: base.makeAsyncIterator(), names: names, skip: skip, active: active) }

    struct Iterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let names: [[UInt8]]
        let skip: InputSkip
        let active: Bool
        var current = -1
        /// The current input is binary from an earlier chunk on.
        var binary = false
        /// Its `binary file matches` was sent: nothing more of it is written.
        var matched = false
        var pending: LineChunk?

        init(base: Base.AsyncIterator, names: [[UInt8]], skip: InputSkip, active: Bool) {
            self.base = base
            self.names = names
            self.skip = skip
            self.active = active
        }

        mutating func next() async throws -> LineChunk? {
            if !active { return try await base.next() }
            if let pending {
                self.pending = nil
                return pending
            }
            guard let chunk = try await base.next() else { return nil }
            if chunk.input != current {
                current = chunk.input
                binary = false
                matched = false
            }
            if matched { return emptied(chunk) }
            if binary {
                return chunk.selectionCount > 0 || chunk.binaryTailSelects ? binaryMatch(chunk) : emptied(chunk)
            }
            guard chunk.holdsNul else { return chunk }
            binary = true
            if chunk.binaryTailSelects {
                var match = binaryMatch(chunk)
                match.notes.removeFirst(chunk.notes.count)  // they go with the lines before
                match.startsInput = false
                match.inputByteCount = 0  // counted with the chunk before it
                match.inputUnreadable = false
                pending = match  // after the lines before the binary part
            }
            return chunk
        }

        /// The chunk without its lines (its notes and input marks kept).
        func emptied(_ chunk: LineChunk) -> LineChunk {
            var empty = LineChunk(bytes: [], notes: chunk.notes, inputByteCount: chunk.inputByteCount)
            empty.input = chunk.input
            empty.startsInput = chunk.startsInput
            empty.inputUnreadable = chunk.inputUnreadable
            empty.inputCutShort = chunk.inputCutShort
            return empty
        }

        /// grep's `NAME: binary file matches` for the current input, which ends here.
        mutating func binaryMatch(_ chunk: LineChunk) -> LineChunk {
            matched = true
            skip.skip(through: chunk.input)
            var match = emptied(chunk)
            let name = names.isEmpty ? Array("(standard input)".utf8) : names[Swift.min(chunk.input, names.count - 1)]
            var note = SluiceError(.warning, file: FileName(name), "binary file matches")
            note.isNotice = true
            match.notes.append(note)
            match.binaryMatch = true
            match.selectedLineCount = 1
            return match
        }
    }
}
