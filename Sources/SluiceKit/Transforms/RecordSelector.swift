import CSluiceSearch

/// `--record`: grep's selection over records. A record is selected when any of its lines
/// matches (`-v`: when none does); it is written whole, and counts as one (`recordEnds` of the
/// output says where each ends, and `-c`, `-m`, `-b`, `{n}` and `--exec` count and cut by it).
///
/// With names or line numbers (`-H`, `-n`), each line of a selected record is written with
/// its own, `:` after those of the lines that matched and `-` after the others (grep's marks
/// for selected and context lines); `--color` paints them as grep paints such lines, and `-o`
/// writes the matches of the lines that matched (`GrepLineWriter`).
///
/// Works on the chunks `framedAsRecords` made (each ends where a record ends, and is tagged
/// with its input's `RecordStart`). Holds no mutable state; runs in the concurrent map.
struct RecordSelector: ChunkStep {
    let matcher: any Matcher
    let invert: Bool
    /// Every record is selected (no pattern): only the framing is done.
    let selectsAll: Bool
    /// `--where`, `--level`, `--since`, `--until`: what the record's first line's fields must
    /// say (a record's fields are its first line's).
    let predicate: FieldPredicate?
    let presentation: GrepPresentation
    let names: [[UInt8]]
    /// `-o`, `--color`: the matches in a line (nil: neither, or no pattern).
    let extractor: OnlyMatching?
    /// `-T`: per input, the columns of its line numbers.
    let numberWidths: [Int]
    /// `--json`, `--template`, `--fields`: each selected record written in that shape.
    let shaper: LineShaper?

    /// `-v` with no pattern: the records whose fields' conditions fail.
    let invertPredicate: Bool
    /// Context output (`-A/-B/-C`): nothing is written here; the chunk passes whole with where
    /// its records end and which are selected, for `contextLines` to write.
    let marksForContext: Bool
    /// A database or checkpointed output: each selected record is a row, with its position
    /// (its first line's number, its last line's, the offset past it: `LinePositions`). The
    /// chunk must carry its first line's number and input offset (`ChunkSource.numbersLines`).
    let rows: Bool

    init(matcher: any Matcher, invert: Bool, selectsAll: Bool = false, predicate: FieldPredicate? = nil, invertPredicate: Bool = false,
         presentation: GrepPresentation, names: [[UInt8]], extractor: OnlyMatching? = nil, numberWidths: [Int] = [],
         shaper: LineShaper? = nil, marksForContext: Bool = false, rows: Bool = false) {
        self.rows = rows
        self.extractor = extractor
        self.numberWidths = numberWidths
        self.marksForContext = marksForContext
        self.invertPredicate = invertPredicate
        self.shaper = shaper
        self.matcher = matcher
        self.invert = invert
        self.selectsAll = selectsAll
        self.predicate = predicate
        self.presentation = presentation
        self.names = presentation.fileNames ? names : []
    }

    func apply(_ chunk: LineChunk) -> LineChunk {
        // Records are found by their input's rule, or, after an earlier selection (`-p 'record
        // auto | level error | grep x'`), where that selection said they end.
        let rule = chunk.recordStart
        // (Lines an --exec command wrote have no records: each is one.)
        let knownEnds = chunk.recordEnds ?? (rule == nil ? chunk.lineEnds() : nil)
        guard !chunk.isEmpty else { return chunk }
        var out: [UInt8] = []
        var ends: [Int] = []
        var positions = LinePositions()
        var undecided: [SluiceError] = []
        var writer = GrepLineWriter(name: names.isEmpty ? nil : names[min(chunk.input, names.count - 1)],
                                    nameEnd: presentation.nameEnd, lineNumbers: presentation.lineNumbers,
                                    numberWidth: numberWidths.isEmpty ? 0 : numberWidths[min(chunk.input, numberWidths.count - 1)],
                                    initialTab: presentation.initialTab, colors: presentation.colors,
                                    onlyMatching: presentation.onlyMatching, invert: invert, extractor: extractor)
        if writer.onlyMatching && writer.extractor == nil { writer.onlyMatching = false }  // no stage's pattern: whole lines
        let decorated = writer.decorates || shaper != nil
        var whole = false
        var contextMarks: (selected: [Int], marked: [Int]?)?
        chunk.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            let count = buffer.count
            let startScratch = rule?.makeScratch()
            /// The first known end after `offset`.
            func knownEnd(after offset: Int, _ ends: [Int]) -> Int {
                var low = 0, high = ends.count
                while low < high {
                    let middle = (low + high) / 2
                    if ends[middle] > offset { high = middle } else { low = middle + 1 }
                }
                return low < ends.count ? ends[low] : count
            }
            /// Where the record holding the line whose newline is at `newline` ends.
            func recordEnd(after newline: Int) -> Int {
                if let knownEnds { return knownEnd(after: newline, knownEnds) }
                return rule!.recordEnd(base, after: newline, count: count, scratch: startScratch)
            }
            /// Where the record holding the line starting at `line` starts (not before `floor`).
            func recordStart(line: Int, floor: Int) -> Int {
                if let knownEnds {
                    var low = 0, high = knownEnds.count
                    while low < high {
                        let middle = (low + high) / 2
                        if knownEnds[middle] > line { high = middle } else { low = middle + 1 }
                    }
                    return max(floor, low == 0 ? 0 : knownEnds[low - 1])
                }
                return rule!.recordStart(base, line: line, floor: floor, count: count, scratch: startScratch)
            }
            let fields = predicate?.makeScratch()
            fields?.use(input: chunk.input)
            func passes(_ start: Int) -> Bool {
                guard let predicate, let fields else { return true }
                return predicate.accepts(base, start: start, newline: lineEnd(base, from: start, count: count), scratch: fields) != invertPredicate
            }
            if selectsAll && !decorated && predicate == nil && !marksForContext && !rows {
                // Only where each record ends.
                var position = 0
                while position < count {
                    let end = recordEnd(after: lineEnd(base, from: position, count: count))
                    ends.append(end)
                    position = end
                }
                whole = true
                return
            }
            var scratch = matcher.makeScratch()
            scratch.use(input: chunk.input)
            defer { undecided = scratch.undecided + scratch.parts.flatMap(\.undecided) }
            // The next matching line at or after a position, kept until the position passes it.
            var nextHit: (start: Int, newline: Int)?
            var hitKnownFrom = -1
            func hit(from position: Int) -> (start: Int, newline: Int)? {
                if selectsAll { return position < count ? (position, lineEnd(base, from: position, count: count)) : nil }
                if hitKnownFrom < 0 || (nextHit.map { $0.start < position } ?? false) {
                    nextHit = matcher.nextMatchingLine(in: buffer, from: position, scratch: &scratch)
                    hitKnownFrom = position
                    // -P gave up on a line: nothing from there on is selected (grep -P dies).
                    if let stop = scratch.stoppedAt, (nextHit?.start ?? stop) >= stop { nextHit = nil }
                }
                return nextHit
            }
            var lineNumber = chunk.firstLine
            var counted = 0
            let lineScratch = writer.makeScratch()
            let shapeScratch = shaper?.makeScratch()
            func write(_ start: Int, _ end: Int) {
                if rows {
                    lineNumber += sluice_count_newlines(base + counted, start - counted)
                    let lines = sluice_count_newlines(base + start, end - start)
                    positions.append(input: chunk.input, number: lineNumber, lastNumber: lineNumber + lines - 1, end: chunk.inputOffset + end)
                    lineNumber += lines
                    counted = end
                    out.append(contentsOf: UnsafeBufferPointer(start: base + start, count: end - start))
                    ends.append(out.count)
                    return  // a row is the record as read (rows refuse decorations)
                }
                guard decorated else {
                    out.append(contentsOf: UnsafeBufferPointer(start: base + start, count: end - start))
                    ends.append(out.count)
                    return
                }
                if presentation.lineNumbers || shaper != nil {
                    lineNumber += sluice_count_newlines(base + counted, start - counted)
                    counted = start
                }
                if let shaper, let shapeScratch {
                    shaper.write(record: UnsafeBufferPointer(start: base + start, count: end - start),
                                 line: UnsafeBufferPointer(start: base + start, count: lineEnd(base, from: start, count: count) - start),
                                 number: lineNumber, input: chunk.input, into: &out, scratch: shapeScratch)
                    ends.append(out.count)
                    return
                }
                var line = start
                var number = lineNumber
                while line < end {
                    let newline = lineEnd(base, from: line, count: count)
                    let matched = invert || selectsAll || (hit(from: line).map { $0.start == line } ?? false)
                    writer.write(&out, base, start: line, newline: newline, number: number, selected: matched, scratch: lineScratch)
                    number += 1
                    line = newline + 1
                }
                ends.append(out.count)
            }
            var position = 0  // always a record start
            var going: Bool { position < count && position < scratch.stoppedAt ?? .max }
            if marksForContext {
                // Every record's end; the starts of the selected ones and of their matching lines.
                var selected: [Int] = []
                var marked: [Int] = []
                while going {
                    let end = recordEnd(after: lineEnd(base, from: position, count: count))
                    ends.append(end)
                    let matches = selectsAll || (hit(from: position).map { $0.start < end } ?? false)
                    if matches != invert && passes(position) {
                        selected.append(position)
                        if !invert && !selectsAll {
                            while let found = hit(from: position), found.start < end {
                                marked.append(found.start)
                                position = found.newline + 1
                            }
                        }
                    }
                    position = end
                }
                contextMarks = (selected, invert || selectsAll ? nil : marked)
                return
            }
            if invert || selectsAll {
                while going {
                    let end = recordEnd(after: lineEnd(base, from: position, count: count))
                    if invert, let found = hit(from: position), found.start < end {
                        // A line of this record matches: not selected.
                    } else if passes(position) {
                        write(position, end)
                    }
                    position = end
                }
                return
            }
            while let found = hit(from: position) {
                let start = recordStart(line: found.start, floor: position)
                let end = recordEnd(after: found.newline)
                if passes(start) { write(start, end) }
                position = end
                if position >= count { break }
            }
        }
        if let contextMarks {
            var result = chunk
            result.recordEnds = ends
            result.knownLineCount = nil
            result.selectedStarts = contextMarks.selected
            result.markedStarts = contextMarks.marked
            result.notes += undecided
            return result
        }
        var result: LineChunk
        if whole {
            result = chunk
        } else {
            if let last = out.last, last != 0x0A {
                // Only for a mapped file changed under us (see LineFilter): the runner drops it.
                out.append(0x0A)
                if !ends.isEmpty { ends[ends.count - 1] = out.count }
            }
            result = LineChunk(bytes: out, notes: chunk.notes + undecided, inputByteCount: chunk.inputByteCount)
            result.input = chunk.input
            result.startsInput = chunk.startsInput
            result.inputUnreadable = chunk.inputUnreadable
            result.firstLine = chunk.firstLine
        }
        result.recordEnds = ends
        result.knownLineCount = ends.count
        if rows {
            result.positions = positions
            result.inputOffset = chunk.inputOffset
        }
        return result
    }
}

/// `--record` with a line-by-line step after the selection (`--map`): the step sees lines;
/// the records around them are kept (each keeps its lines, as the step keeps their number).
/// A step that changed the number of lines (a substitution writing a newline) leaves each
/// of that chunk's lines a record of its own.
struct KeepingRecords: ChunkStep {
    let step: any ChunkStep

    init(_ step: any ChunkStep) { self.step = step }

    func apply(_ chunk: LineChunk) throws -> LineChunk {
        guard let ends = chunk.recordEnds else { return try step.apply(chunk) }
        // Lines per record, before.
        var perRecord: [Int] = []
        perRecord.reserveCapacity(ends.count)
        chunk.withUnsafeBufferPointer { buffer in
            var start = 0
            for end in ends {
                perRecord.append(sluice_count_newlines(buffer.baseAddress! + start, end - start))
                start = end
            }
        }
        var out = try step.apply(chunk)
        let total = perRecord.reduce(0, +)
        guard out.withUnsafeBufferPointer({ sluice_count_newlines($0.baseAddress, $0.count) }) == total else {
            // The step changed the number of lines: each line is a record of its own (the
            // chunk still counts records, so batches and {n} files stay in step with it).
            out.recordEnds = out.lineEnds()
            out.knownLineCount = out.recordEnds?.count
            return out
        }
        var newEnds: [Int] = []
        newEnds.reserveCapacity(ends.count)
        out.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            var position = 0
            for lines in perRecord {
                for _ in 0..<lines { position = lineEnd(base, from: position, count: buffer.count) + 1 }
                newEnds.append(position)
            }
        }
        out.recordEnds = newEnds
        out.knownLineCount = newEnds.count
        return out
    }
}
