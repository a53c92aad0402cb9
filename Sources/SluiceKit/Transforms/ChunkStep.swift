/// One synchronous line-level step (a filter or a map) applied to a whole chunk.
///
/// Steps run inside the concurrent map's tasks, many chunks at once, so they hold no mutable
/// state. A step that fails throws a `SluiceError`.
public protocol ChunkStep: Sendable {
    func apply(_ chunk: LineChunk) throws -> LineChunk
}

extension Array where Element == any ChunkStep {
    /// Applies every step in order; stops early once a chunk is empty (notes are kept).
    public func apply(_ chunk: LineChunk) throws -> LineChunk {
        var chunk = chunk
        let input = chunk.input
        for step in self {
            if chunk.isEmpty { break }
            chunk = try step.apply(chunk)
            chunk.input = input  // a step that made a new chunk: the next reads it as this input's (its year)
        }
        return chunk
    }
}

/// Keeps the lines `matcher` selects (or, inverted, the lines it does not).
public struct LineFilter: ChunkStep {
    public let matcher: any Matcher
    public let invert: Bool

    public init(matcher: any Matcher, invert: Bool) {
        self.matcher = matcher
        self.invert = invert
    }

    public func apply(_ chunk: LineChunk) -> LineChunk {
        var kept: [UInt8] = []
        var keptLines = 0
        var everything = false
        var undecided: [SluiceError] = []
        chunk.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            var scratch = matcher.makeScratch()
            scratch.use(input: chunk.input)
            defer { undecided = scratch.undecided + scratch.parts.flatMap(\.undecided) }
            var position = 0
            var countKnown = true
            // Selected lines that follow each other are copied as one run (a common pattern
            // selects most lines: one copy per run, not per line).
            var runStart = 0
            var runEnd = 0
            while let (start, end, lines) = matcher.nextMatchingRun(in: buffer, from: position, scratch: &scratch),
                  start < scratch.stoppedAt ?? .max {
                if invert {
                    if start > position {
                        if position == 0 && kept.isEmpty { kept.reserveCapacity(buffer.count) }
                        kept.append(contentsOf: UnsafeBufferPointer(start: base + position, count: start - position))
                        countKnown = false
                    }
                } else {
                    if start == 0 && end == buffer.count && runEnd == 0 { everything = true; keptLines = lines; return }
                    if start != runEnd {
                        if runEnd > runStart {
                            kept.append(contentsOf: UnsafeBufferPointer(start: base + runStart, count: runEnd - runStart))
                        }
                        runStart = start
                    }
                    runEnd = end
                    keptLines += lines
                }
                position = end
            }
            if runEnd > runStart {
                if runStart == 0 && runEnd == buffer.count { everything = true; return }
                kept.append(contentsOf: UnsafeBufferPointer(start: base + runStart, count: runEnd - runStart))
            }
            if invert {
                let stop = min(buffer.count, scratch.stoppedAt ?? .max)  // -P gave up there
                if position == 0 && stop == buffer.count { everything = true; return }
                if position < stop {
                    kept.append(contentsOf: UnsafeBufferPointer(start: base + position, count: stop - position))
                    countKnown = false
                }
                if !countKnown { keptLines = -1 }
            }
        }
        if everything {
            var same = chunk
            if !invert { same.knownLineCount = keptLines }
            same.notes += undecided
            return same
        }
        if let last = kept.last, last != 0x0A {
            // Only for a mapped file changed under us (its last newline overwritten or zeroed):
            // the runner discards this chunk (`MappedWindow.isIntact`); never trap on it.
            kept.append(0x0A)
        }
        return LineChunk(bytes: kept, lineCount: keptLines >= 0 ? keptLines : nil,
                         notes: chunk.notes + undecided, inputByteCount: chunk.inputByteCount)
    }
}
