import CSluiceSearch

/// The rows a database or a checkpointed output takes: a chunk's selected lines (the starts
/// `GrepLineSelector` marked; every line when no pattern stage ran), each with where it came
/// from (`LinePositions`: input, line number, offset just past it). The chunk must carry its
/// first line's number and its offset in the input (`ChunkSource.numbersLines`, which the
/// runner sets for these outputs).
///
/// Runs in the concurrent step, after the selection. Bound: the selected lines, copied, and two
/// integers a line.
struct SelectedRows: ChunkStep {
    func apply(_ chunk: LineChunk) -> LineChunk {
        var out: [UInt8] = []
        var positions = LinePositions()
        chunk.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            var number = chunk.firstLine
            var counted = 0  // lines before `counted` are numbered below `number`
            func take(_ start: Int) -> Int {
                number += sluice_count_newlines(base + counted, start - counted)
                let end = lineEnd(base, from: start, count: buffer.count) + 1
                out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start..<end]))
                positions.append(input: chunk.input, number: number, end: chunk.inputOffset + end)
                number += 1
                counted = end
                return end
            }
            if let starts = chunk.selectedStarts {
                for start in starts { _ = take(start) }
            } else {
                out.reserveCapacity(buffer.count)
                var position = 0
                while position < buffer.count { position = take(position) }
            }
        }
        var rows = LineChunk(bytes: out, lineCount: positions.count, notes: chunk.notes, inputByteCount: chunk.inputByteCount)
        rows.input = chunk.input
        rows.firstLine = chunk.firstLine
        rows.inputOffset = chunk.inputOffset
        rows.positions = positions
        return rows
    }
}
