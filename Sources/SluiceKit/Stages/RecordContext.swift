import CSluiceSearch
import Glibc

/// Context output over records (`--record` with `-A/-B/-C`): `ContextPrinter`'s job, with a
/// record as the unit. `-A 1` writes the record after each selected one, `-B 1` the one before;
/// grep's `--` separates groups of records that do not touch, and `-m` counts records per input
/// (its trailing context still written). Each line of a record is written with its own head
/// (`-H`, `-n`): `:` after the selected records' matching lines (all of them under `-v` or with
/// no pattern), `-` after the others and after every line of a context record; coloured, or
/// only the matches with `-o`, as `GrepLineWriter` writes grep's selected and context lines.
///
/// Fed, in input order, the chunks `RecordSelector(marksForContext:)` passes whole: each ends
/// where a record ends, with every record's end (`recordEnds`), the selected records' starts
/// (`selectedStarts`) and their matching lines' starts (`markedStarts`).
///
/// Bound: the current chunk, plus copies of the last `before` records of earlier chunks not
/// written (each at most the framer's record bound, 16 MiB).
struct RecordContextPrinter {
    let rules: ContextRules
    private var input: Int?
    /// Records of this input in the chunks before this one.
    private var ordinal = 0
    /// The ordinal of the last record written in this input (-1: none yet).
    private var lastWritten = -1
    /// Whether anything was written in the whole run (a separator comes only between groups).
    private var anyGroup = false
    /// Records still to write after the last selected one.
    private var afterPending = 0
    /// The last `before` records of earlier chunks not written, oldest first.
    private var held: [(ordinal: Int, firstLine: Int, bytes: [UInt8])] = []
    private var selectedInInput = 0
    /// `-m` reached: no more selected records in this input, only its trailing context.
    private var limitReached = false
    /// The input is done with (after `-m` and its trailing context): the reader may skip it.
    private(set) var finishedInput = false

    init(rules: ContextRules) {
        self.rules = rules
    }

    mutating func print(_ chunk: LineChunk) -> LineChunk {
        if chunk.input != input {
            input = chunk.input
            ordinal = 0
            lastWritten = -1
            afterPending = 0
            held.removeAll()
            selectedInInput = 0
            limitReached = false
            finishedInput = false
        }
        guard !finishedInput, let ends = chunk.recordEnds, !ends.isEmpty else { return LineChunk(bytes: []) }
        var out: [UInt8] = []
        var outEnds: [Int] = []
        var outLines = 0
        var selectedCount = 0
        let name: [UInt8]? = rules.namesShown ? rules.names[min(chunk.input, rules.names.count - 1)] : nil
        let width = rules.numberWidths.isEmpty ? 0 : rules.numberWidths[min(chunk.input, rules.numberWidths.count - 1)]
        let selected = chunk.selectedStarts ?? []
        let marked = chunk.markedStarts
        chunk.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            // Each record's first line number (only counted when shown).
            var firstLines: [Int] = []
            if rules.lineNumbers {
                firstLines.reserveCapacity(ends.count)
                var line = chunk.firstLine
                var start = 0
                for end in ends {
                    firstLines.append(line)
                    line += sluice_count_newlines(base + start, end - start)
                    start = end
                }
            }
            var nextMarked = 0  // index into `marked`
            let writer = GrepLineWriter(name: name, nameEnd: rules.nameEnd, lineNumbers: rules.lineNumbers,
                                        numberWidth: width, initialTab: rules.initialTab, colors: rules.colors,
                                        onlyMatching: rules.onlyMatching, invert: rules.invert, extractor: rules.extractor)
            let scratch = writer.makeScratch()
            /// Writes one record (`bytes[start..<end]`, whole lines) with a head on each line.
            func write(_ bytes: UnsafePointer<UInt8>, _ start: Int, _ end: Int, firstLine: Int, selectedRecord: Bool) {
                var line = start
                var number = firstLine
                while line < end {
                    let newline = lineEnd(bytes, from: line, count: end)
                    var mark = UInt8(ascii: "-")
                    if selectedRecord {
                        if let marked {
                            while nextMarked < marked.count && marked[nextMarked] < line { nextMarked += 1 }
                            if nextMarked < marked.count && marked[nextMarked] == line { mark = UInt8(ascii: ":") }
                        } else {
                            mark = UInt8(ascii: ":")
                        }
                    }
                    outLines += writer.write(&out, bytes, start: line, newline: newline, number: number,
                                             selected: mark == UInt8(ascii: ":"), scratch: scratch)
                    number += 1
                    line = newline + 1
                }
                outEnds.append(out.count)
            }
            func start(of index: Int) -> Int { index == 0 ? 0 : ends[index - 1] }
            func writeRecord(_ index: Int, selectedRecord: Bool) {
                write(base, start(of: index), ends[index], firstLine: rules.lineNumbers ? firstLines[index] : 0, selectedRecord: selectedRecord)
                lastWritten = ordinal + index
            }
            /// grep's separator before a group starting at record `first`, unless it touches the last.
            func separate(before first: Int) {
                if anyGroup && (lastWritten < 0 || first > lastWritten + 1), let separator = rules.separator {
                    writer.writeSeparator(&out, separator, end: rules.separatorEnd)
                    outLines += 1
                }
                anyGroup = true
            }
            var nextSelected = 0  // index into `selected`
            for index in ends.indices {
                let recordStart = start(of: index)
                while nextSelected < selected.count && selected[nextSelected] < recordStart { nextSelected += 1 }
                let isSelected = nextSelected < selected.count && selected[nextSelected] == recordStart
                let current = ordinal + index
                if isSelected && !limitReached {
                    // Leading context: up to `before` records not yet written, held ones first.
                    let lowest = max(lastWritten + 1, current - rules.before)
                    separate(before: lowest)
                    for record in held where record.ordinal >= lowest {
                        record.bytes.withUnsafeBufferPointer { bytes in
                            write(bytes.baseAddress!, 0, bytes.count, firstLine: record.firstLine, selectedRecord: false)
                        }
                        lastWritten = record.ordinal
                    }
                    for previous in max(lowest - ordinal, 0)..<index { writeRecord(previous, selectedRecord: false) }
                    writeRecord(index, selectedRecord: true)
                    selectedCount += 1
                    selectedInInput += 1
                    afterPending = rules.after
                    if let max = rules.maxCount, selectedInInput >= max { limitReached = true }
                } else if afterPending > 0 {
                    writeRecord(index, selectedRecord: false)
                    afterPending -= 1
                }
                if limitReached && afterPending == 0 {
                    finishedInput = true
                    break
                }
            }
            // Hold the last `before` records not written, for the next chunk's leading context;
            // earlier chunks' stay held only while nothing of this chunk was written.
            if rules.before > 0 && !finishedInput {
                let firstUnwritten = max(0, lastWritten + 1 - ordinal)
                if firstUnwritten > 0 { held.removeAll() } else { held.removeAll { $0.ordinal <= lastWritten } }
                let from = max(firstUnwritten, ends.count - rules.before)
                for index in from..<ends.count {
                    held.append((ordinal + index, rules.lineNumbers ? firstLines[index] : 0,
                                 Array(UnsafeBufferPointer(start: base + start(of: index), count: ends[index] - start(of: index)))))
                }
                if held.count > rules.before { held.removeFirst(held.count - rules.before) }
            }
        }
        ordinal += ends.count
        var result = LineChunk(bytes: out, lineCount: outLines)
        result.recordEnds = outEnds
        result.knownLineCount = outEnds.count
        result.selectedLineCount = selectedCount
        return result
    }
}
