import CSluiceSupport
import Glibc

/// The unit that flows between stages: one owned buffer of whole lines.
///
/// Every line in `bytes` ends with `\n` (the framer terminates a last line that had none,
/// as grep does on output), so a chunk can be written out or searched as one block.
/// `notes` carries diagnostics (a damaged gzip stream, an unreadable file) that belong
/// after these lines: the sink reports them once the lines before them are written.
public struct LineChunk: Sendable {
    /// The buffer the lines live in; the chunk is `storage[range]`, so cutting a chunk in two
    /// (a batch boundary) shares the buffer instead of copying it.
    private var storage: [UInt8]
    private var range: Range<Int>
    /// The number of lines in the chunk, when a stage has counted them.
    public var knownLineCount: Int?
    /// Diagnostics to report after this chunk's lines are written.
    public var notes: [SluiceError]
    /// Input bytes (before decompression) this chunk accounts for, for `--stats`.
    public var inputByteCount: Int

    public init(bytes: [UInt8], lineCount: Int? = nil, notes: [SluiceError] = [], inputByteCount: Int = 0) {
        precondition(bytes.isEmpty || bytes.last == UInt8(ascii: "\n"), "a LineChunk holds whole lines")
        self.storage = bytes
        self.range = 0..<bytes.count
        self.knownLineCount = lineCount
        self.notes = notes
        self.inputByteCount = inputByteCount
    }

    /// The lines as one array (a copy when the chunk is part of a larger buffer).
    public var bytes: [UInt8] {
        get { range.count == storage.count ? storage : Array(storage[range]) }
        set {
            precondition(newValue.isEmpty || newValue.last == UInt8(ascii: "\n"), "a LineChunk holds whole lines")
            storage = newValue
            range = 0..<newValue.count
        }
    }

    public var byteCount: Int { range.count }
    public var isEmpty: Bool { range.isEmpty }

    /// Calls `body` with the chunk's bytes, without copying.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try storage.withUnsafeBufferPointer { all in
            try body(UnsafeBufferPointer(rebasing: all[range]))
        }
    }

    /// Calls `body` with the chunk's bytes as raw memory, without copying.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBufferPointer { try body(UnsafeRawBufferPointer($0)) }
    }

    /// Lets `body` rewrite the bytes in place (copying first only if the buffer is shared).
    public mutating func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<UInt8>) throws -> R) rethrows -> R {
        if range.count != storage.count {
            storage = Array(storage[range])
            range = 0..<storage.count
        }
        return try storage.withUnsafeMutableBufferPointer { try body($0) }
    }

    /// The chunk cut after its first `lines` lines (notes stay with the second part). Shares
    /// the buffer; only the newlines up to the cut are scanned.
    public func split(afterLines lines: Int) -> (LineChunk, LineChunk) {
        var cut = 0
        withUnsafeBufferPointer { buffer in
            let base = buffer.baseAddress!
            for _ in 0..<lines { cut = lineEnd(base, from: cut, count: buffer.count) + 1 }
        }
        var head = self
        head.range = range.lowerBound..<(range.lowerBound + cut)
        head.knownLineCount = lines
        head.notes = []
        head.inputByteCount = 0
        var tail = self
        tail.range = (range.lowerBound + cut)..<range.upperBound
        tail.knownLineCount = knownLineCount.map { $0 - lines }
        return (head, tail)
    }

    /// The number of lines, counting newlines if no stage has.
    public var lineCount: Int {
        if let knownLineCount { return knownLineCount }
        return withUnsafeBufferPointer { sluice_count_newlines($0.baseAddress, $0.count) }
    }

    /// Calls `body` with each line, newline excluded, in order.
    public func forEachLine(_ body: (UnsafeBufferPointer<UInt8>) throws -> Void) rethrows {
        try withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            var start = 0
            let count = buffer.count
            while start < count {
                let end = lineEnd(base, from: start, count: count)
                try body(UnsafeBufferPointer(start: base + start, count: end - start))
                start = end + 1
            }
        }
    }

    /// The lines as arrays, newline included (for tests and API users; not the hot path).
    public var lines: [[UInt8]] {
        var result: [[UInt8]] = []
        forEachLine { result.append(Array($0) + [UInt8(ascii: "\n")]) }
        return result
    }
}

/// The index of the first `\n` at or after `from` (there always is one in a chunk).
@inline(__always)
func lineEnd(_ base: UnsafePointer<UInt8>, from: Int, count: Int) -> Int {
    guard let hit = memchr(base + from, 0x0A, count - from) else { return count - 1 }
    return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
}

/// The index where the line holding byte `at` starts.
@inline(__always)
func lineStart(_ base: UnsafePointer<UInt8>, before at: Int) -> Int {
    guard at > 0, let hit = memrchr(base, 0x0A, at) else { return 0 }
    return base.distance(to: hit.assumingMemoryBound(to: UInt8.self)) + 1
}
