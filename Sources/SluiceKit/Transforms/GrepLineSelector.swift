import CSluiceSearch

/// grep's selection for context output: the chunk passes whole, with the starts of the lines
/// `matcher` selects (or, inverted, of the others) in `selectedStarts`; `ContextLines` writes.
public struct GrepLineSelector: ChunkStep {
    let matcher: any Matcher
    let invert: Bool

    public init(matcher: any Matcher, invert: Bool) {
        self.matcher = matcher
        self.invert = invert
    }

    public func apply(_ chunk: LineChunk) -> LineChunk {
        var starts: [Int] = []
        var indices: [Int] = []
        var lineCount = 0
        var undecided: [SluiceError] = []
        var stop: Int?
        chunk.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            var scratch = matcher.makeScratch()
            scratch.use(input: chunk.input)
            defer {
                undecided = scratch.undecided + scratch.parts.flatMap(\.undecided)
                stop = scratch.stoppedAt
            }
            // Lines are counted here, on the worker, up to each selected one: the context
            // stage, which runs in sequence, numbers them from these (counting the newlines of
            // every chunk there was ~10% of `-C 3 ERROR` on 1 GB, all of it on one thread).
            var position = 0
            var index = 0  // the index of the line starting at `position`
            while let (start, newline) = matcher.nextMatchingLine(in: buffer, from: position, scratch: &scratch),
                  start < scratch.stoppedAt ?? .max {
                if invert {
                    var line = position
                    while line < start {
                        starts.append(line)
                        indices.append(index)
                        index += 1
                        line = lineEnd(base, from: line, count: start) + 1
                    }
                } else {
                    index += sluice_count_newlines(base + position, start - position)
                    starts.append(start)
                    indices.append(index)
                }
                index += 1
                position = newline + 1
            }
            if invert {
                let stop = min(buffer.count, scratch.stoppedAt ?? .max)  // -P gave up there
                while position < stop {
                    starts.append(position)
                    indices.append(index)
                    index += 1
                    position = lineEnd(base, from: position, count: buffer.count) + 1
                }
            }
            lineCount = index + sluice_count_newlines(base + position, max(0, buffer.count - position))
        }
        var out = chunk
        if let stop {
            // -P gave up on the line at `stop`: it and the lines after it are not even context.
            let lines = chunk.withUnsafeBufferPointer { sluice_count_newlines($0.baseAddress!, stop) }
            out = chunk.split(afterLines: lines).0
            out.inputByteCount = chunk.inputByteCount
            out.notes = chunk.notes
        } else if !chunk.isEmpty {
            out.knownLineCount = lineCount
        }
        out.selectedStarts = starts
        out.selectedLineIndices = indices
        out.notes += undecided
        return out
    }
}
