import CSluiceSearch
import Glibc

extension AsyncSequence where Self: Sendable, Element == LineChunk {
    /// grep's context output (`-A`, `-B`, `-C`): each chunk arrives whole, in input order, with
    /// the starts of its selected lines (`selectedStarts`, found by `GrepLineSelector` in the
    /// concurrent step) and its first line's number; this stage, the only one that sees the
    /// chunks in sequence, writes the selected lines (`name:12:`), the lines around them
    /// (`name-13-`) and grep's group separator between groups that do not touch, across chunk
    /// and file boundaries. It also applies `-m` per input (trailing context is still written,
    /// as grep does) and tells the reader to skip the rest of an input it is done with.
    ///
    /// Bound: the current chunk, plus the last `before` lines of the previous chunk (copied).
    /// End: nil after the base's end (or once the last input is done with). Error: rethrows the
    /// base's. Cancellation: as the base.
    func contextLines(_ rules: ContextRules, skip: InputSkip) -> ContextLinesSequence<Self> {
        ContextLinesSequence(base: self, rules: rules, skip: skip)
    }
}

/// What `contextLines` writes.
struct ContextRules: Sendable {
    /// Whether context is written at all (otherwise chunks pass as they are).
    var active = false
    var before = 0
    var after = 0
    /// grep's `--`, `--group-separator=SEP`; nil with `--no-group-separator`.
    var separator: [UInt8]? = Array("--".utf8)
    /// The byte after the separator: a newline, also with `-z` (grep writes `--\n` between
    /// groups of NUL-ended records; the lines are exchanged then, so this is a NUL).
    var separatorEnd: UInt8 = 0x0A
    var names: [[UInt8]] = []
    /// `-T`: a tab after each head, and per input the columns of its line numbers.
    var initialTab = false
    var numberWidths: [Int] = []
    var namesShown = false
    /// `GrepPresentation.nameEnd`.
    var nameEnd: UInt8?
    var lineNumbers = false
    /// `-m` on standard input (`StandardInputResume`).
    var resume: StandardInputResume?
    /// `-b`.
    var byteOffsets = false
    var maxCount: Int?
    /// `-o`: selected lines are written as their matches; context lines are not written, but
    /// groups are still told apart by separators (as grep does).
    var onlyMatching = false
    /// Finds the matches for `-o` and `--color`.
    var extractor: OnlyMatching?
    var colors: GrepColors?
    /// `-v`: selected lines hold no match; with `--color`, context lines' matches are painted.
    var invert = false
    var lastInput = 0
    /// `--record`: the unit is a record (`RecordContextPrinter`).
    var records = false
}

struct ContextLinesSequence<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == LineChunk {
    typealias Element = LineChunk
    let base: Base
    let rules: ContextRules
    let skip: InputSkip

    func makeAsyncIterator() -> Iterator {
        Iterator(base: base.makeAsyncIterator(), printer: ContextPrinter(rules: rules),
                 recordPrinter: rules.records ? RecordContextPrinter(rules: rules) : nil, skip: skip)
    }

    struct Iterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        var printer: ContextPrinter
        var recordPrinter: RecordContextPrinter?
        let skip: InputSkip
        var ended = false

        mutating func next() async throws -> LineChunk? {
            if !printer.rules.active { return try await base.next() }
            while !ended {
                guard let chunk = try await base.next() else { return nil }
                if chunk.binaryMatch {
                    printer.binaryMatched()  // grep's `binary file matches`: a group, for the separator
                    return chunk
                }
                var out = recordPrinter != nil ? recordPrinter!.print(chunk) : printer.print(chunk)
                out.notes = chunk.notes
                out.input = chunk.input
                out.startsInput = chunk.startsInput
                out.inputUnreadable = chunk.inputUnreadable
                // -I: grep stopped reading the input once -m was reached (trailing context aside).
                out.binaryEndsInput = chunk.binaryEndsInput && !printer.limitReached && !printer.finishedInput
                if recordPrinter?.finishedInput ?? printer.finishedInput {
                    skip.skip(through: chunk.input)
                    if chunk.input >= printer.rules.lastInput { ended = true }
                }
                return out
            }
            return nil
        }
    }
}

/// The sequential half of context output, as a value: fed chunks in order, it returns what to
/// write for each.
struct ContextPrinter {
    let rules: ContextRules
    private var input: Int?
    /// Number of the last line written (or passed over as context under `-o`) in this input.
    private var lastPrinted = 0
    /// The number of the next chunk's first line in this input, for chunks the reader did
    /// not number.
    private var nextLine = 1
    /// Whether anything was written in the whole run (a separator comes only between groups).
    private var anyGroup = false
    /// Lines still to write after the last selected line.
    private var afterPending = 0
    /// The last `before` lines of the previous chunks of this input, with their numbers.
    private var held = HeldLines()
    private var selectedInInput = 0
    /// `-m` reached: no more selected lines in this input, only its trailing context.
    private(set) var limitReached = false
    /// The input is done with (after `-m` and its trailing context): the reader may skip it.
    private(set) var finishedInput = false

    init(rules: ContextRules) {
        self.rules = rules
    }

    /// An input's `binary file matches` was said: grep writes a separator before the next group.
    mutating func binaryMatched() { anyGroup = true }

    mutating func print(_ chunk: LineChunk) -> LineChunk {
        if chunk.input != input {
            input = chunk.input
            nextLine = 1
            lastPrinted = 0
            afterPending = 0
            held.removeAll()
            selectedInInput = 0
            limitReached = false
            finishedInput = false
        }
        if finishedInput { return LineChunk(bytes: []) }
        var chunk = chunk
        if chunk.lostPages || (chunk.firstLine != 0 && chunk.firstLine != nextLine) {
            // Not the lines right after the previous chunk's: a hole where the file shrank
            // (these lines were dropped, as are its later chunks but a last line without a
            // newline the reader still had), or --unordered, which hands chunks on as they are
            // done. Nothing before is context here, and a group starts with a separator (it
            // went without one when the numbers went backwards).
            held.removeAll()
            afterPending = 0
            lastPrinted = 0
        }
        if chunk.firstLine == 0 {
            // Not numbered by the reader (`-n` not asked): numbered here, in sequence, from the
            // line counts the workers made. The chunks of an input come whole up to where
            // nothing more of it is written (its binary part) or up to a hole (above), so the
            // numbers tell adjacent lines wherever a line is written.
            chunk.firstLine = nextLine
        }
        nextLine = chunk.firstLine + (chunk.knownLineCount ?? chunk.lineCount)
        var out: [UInt8] = []
        var outLines = 0
        var selected = 0
        let name: [UInt8]? = rules.namesShown ? rules.names[min(chunk.input, rules.names.count - 1)] : nil
        let colors = rules.colors
        let scratch = rules.extractor?.makeScratch()
        chunk.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress, buffer.count > 0 else { return }
            let count = buffer.count
            var counted = 0
            var countedLine = chunk.firstLine
            /// The number of the line starting at `offset` (offsets asked in increasing order).
            func number(at offset: Int) -> Int {
                countedLine += sluice_count_newlines(base + counted, offset - counted)
                counted = offset
                return countedLine
            }
            var cursor = 0  // offset of the first line of this chunk not yet written or passed
            let width = rules.numberWidths.isEmpty ? 0 : rules.numberWidths[min(chunk.input, rules.numberWidths.count - 1)]
            let writer = GrepLineWriter(name: name, nameEnd: rules.nameEnd, lineNumbers: rules.lineNumbers,
                                        byteOffsets: rules.byteOffsets, numberWidth: width, initialTab: rules.initialTab, colors: colors,
                                        onlyMatching: rules.onlyMatching, invert: rules.invert, extractor: rules.extractor)
            /// A line of `lineBase` (this chunk, or a held copy), as selected or context. With
            /// -o and without -v a context line prints nothing, even one that matches (the
            /// trailing context after -m: `-o -m1 -A1` printed its match).
            func writeLine(_ lineBase: UnsafePointer<UInt8>, _ start: Int, _ end: Int, _ lineNumber: Int, selectedLine: Bool, offset: Int) {
                outLines += writer.write(&out, lineBase, start: start, newline: end, number: lineNumber, selected: selectedLine,
                                         scratch: scratch, offset: offset)
            }
            func write(_ start: Int, _ end: Int, _ lineNumber: Int, selectedLine: Bool) {
                writeLine(base, start, end, lineNumber, selectedLine: selectedLine, offset: chunk.inputOffset + start)
            }
            func writeHeld(_ bytes: [UInt8], _ lineNumber: Int) {
                bytes.withUnsafeBufferPointer { line in
                    writeLine(line.baseAddress!, 0, line.count - 1, lineNumber, selectedLine: false, offset: held.offset(numbered: lineNumber))
                }
            }
            func separateIfNeeded(firstLine: Int) {
                if anyGroup && (lastPrinted == 0 || firstLine > lastPrinted + 1), let separator = rules.separator {
                    writer.writeSeparator(&out, separator, end: rules.separatorEnd)
                    outLines += 1
                }
                anyGroup = true
            }
            /// Trailing context: lines from `cursor` on, up to `afterPending` of them, before `limit`.
            func flushAfter(before limit: Int) {
                while afterPending > 0 && cursor < limit {
                    let end = lineEnd(base, from: cursor, count: count)
                    let lineNumber = number(at: cursor)
                    write(cursor, end, lineNumber, selectedLine: false)
                    lastPrinted = lineNumber
                    afterPending -= 1
                    cursor = end + 1
                }
            }
            let starts = chunk.selectedStarts ?? []
            // The selected lines' numbers as the worker counted them (`GrepLineSelector`).
            let indices = chunk.selectedLineIndices.flatMap { $0.count == starts.count ? $0 : nil }
            for (which, start) in starts.enumerated() {
                if limitReached { break }
                flushAfter(before: start)
                if let indices {
                    counted = start
                    countedLine = chunk.firstLine + indices[which]
                }
                let lineNumber = number(at: start)
                // Leading context: up to `before` lines before it not yet written, from the
                // lines held from earlier chunks and those of this chunk before it.
                var leading: [(Int, Int)] = []  // (start, end) in this chunk, last first, then reversed
                var first = start
                while leading.count < rules.before && first > cursor {
                    let previousEnd = first - 1
                    // memrchr: a byte loop here was a good part of -C 3's time.
                    let previousStart = previousEnd == 0 ? 0
                        : memrchr(base, 0x0A, previousEnd).map { base.distance(to: $0.assumingMemoryBound(to: UInt8.self)) + 1 } ?? 0
                    leading.append((previousStart, previousEnd))  // an insert at 0 made -B 1000000 quadratic
                    first = previousStart
                }
                leading.reverse()
                // Held lines are numbered consecutively: the ones wanted are a range of them.
                let lowest = max(lastPrinted + 1, lineNumber - rules.before, held.firstNumber)
                let fromHeld = cursor == 0 ? lowest..<max(lowest, min(lineNumber - leading.count, held.endNumber)) : 0..<0
                let firstNumber = fromHeld.isEmpty ? lineNumber - leading.count : fromHeld.lowerBound
                if firstNumber > lastPrinted { separateIfNeeded(firstLine: firstNumber) }
                for number in fromHeld { writeHeld(held.line(numbered: number), number) }
                for (index, (lineStart, lineEnd)) in leading.enumerated() {
                    write(lineStart, lineEnd, lineNumber - leading.count + index, selectedLine: false)
                }
                let end = lineEnd(base, from: start, count: count)
                write(start, end, lineNumber, selectedLine: true)
                lastPrinted = lineNumber
                cursor = end + 1
                selected += 1
                selectedInInput += 1
                afterPending = rules.after
                if let max = rules.maxCount, selectedInInput >= max {
                    limitReached = true
                    if let resume = rules.resume, chunk.input == resume.input {
                        resume.offset.store(chunk.inputOffset + end + 1, ordering: .relaxed)
                    }
                }
            }
            flushAfter(before: count)
            if limitReached && afterPending == 0 { finishedInput = true }
            // Hold the last `before` lines not written, for the next chunk's leading context.
            // Lines of earlier chunks stay held only while nothing of this chunk was written.
            if rules.before > 0 {
                if cursor > 0 { held.removeAll() } else { held.dropThrough(lastPrinted) }
                // On from where the line numbers were counted to (not the whole chunk again).
                let lastNumber = chunk.knownLineCount.map { chunk.firstLine + $0 - 1 } ?? (number(at: count) - 1)
                // The last `before` lines from `cursor` on (all numbered after lastPrinted).
                var tailStart = count
                var tailLines = 0
                while tailLines < rules.before && tailStart > cursor {
                    var lineStart = tailStart - 1
                    while lineStart > cursor && base[lineStart - 1] != 0x0A { lineStart -= 1 }
                    tailStart = lineStart
                    tailLines += 1
                }
                if tailLines > 0 {
                    held.append(base, from: tailStart, to: count, firstNumber: lastNumber - tailLines + 1, inputOffset: chunk.inputOffset)
                }
                held.keepLast(rules.before)
            }
        }
        if limitReached && afterPending == 0 { finishedInput = true }
        var result = LineChunk(bytes: out, lineCount: outLines)
        result.selectedLineCount = selected
        return result
    }
}

/// The last lines of an input's earlier chunks not written yet, for `-B`: their bytes back to
/// back (each with its newline), numbered consecutively. Appending a chunk's lines and
/// dropping lines from the front cost O(1) a line, amortized: before, each chunk copied every
/// held line again (-B 1000000000 on 500,000 lines that never matched: 2.9 s; grep 0.2 s).
/// As grep's, what it holds is bounded by `-B` alone.
struct HeldLines {
    private var bytes: [UInt8] = []
    /// Per line, the offset in `bytes` just past its newline.
    private var ends: [Int] = []
    /// The first line still held (lines before it are dropped, not yet compacted away).
    private var first = 0
    /// The number of line `first`.
    private(set) var firstNumber = 0
    /// Where the last byte held ends in its input (`-b`).
    private var endOffset = 0

    var count: Int { ends.count - first }
    /// One past the number of the last line held.
    var endNumber: Int { firstNumber + count }

    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        first = 0
    }

    /// Appends the whole lines of `base[start..<end]`, the first of them numbered `number`.
    /// Lines held that do not end just before it (a gap: the new lines alone are as many as
    /// are wanted) are dropped first, so the numbers stay consecutive.
    mutating func append(_ base: UnsafePointer<UInt8>, from start: Int, to end: Int, firstNumber number: Int, inputOffset: Int = 0) {
        endOffset = inputOffset + end
        if count == 0 || number != endNumber {
            removeAll()
            firstNumber = number
        }
        let offset = bytes.count - start
        bytes.append(contentsOf: UnsafeBufferPointer(start: base + start, count: end - start))
        var position = start
        while position < end {
            let newline = memchr(base + position, 0x0A, end - position).map { base.distance(to: $0.assumingMemoryBound(to: UInt8.self)) } ?? end - 1
            ends.append(offset + newline + 1)
            position = newline + 1
        }
    }

    /// Drops the lines numbered `number` and before.
    mutating func dropThrough(_ number: Int) {
        dropFirst(min(count, max(0, number - firstNumber + 1)))
    }

    /// Keeps the last `limit` lines.
    mutating func keepLast(_ limit: Int) {
        if count > limit { dropFirst(count - limit) }
    }

    private mutating func dropFirst(_ lines: Int) {
        guard lines > 0 else { return }
        first += lines
        firstNumber += lines
        if first == ends.count {
            let number = firstNumber
            removeAll()
            firstNumber = number
        } else if first > 1024 && first * 2 > ends.count {
            // Compact: the bytes of the dropped lines go, in one move for many lines.
            let cut = ends[first - 1]
            bytes.removeFirst(cut)
            ends = ends[first...].map { $0 - cut }
            first = 0
        }
    }

    /// Where the held line numbered `number` starts in its input.
    func offset(numbered number: Int) -> Int {
        let index = first + number - firstNumber
        return endOffset - (bytes.count - (index == 0 ? 0 : ends[index - 1]))
    }

    /// The bytes of the held line numbered `number` (with its newline).
    func line(numbered number: Int) -> [UInt8] {
        let index = first + number - firstNumber
        let start = index == 0 ? 0 : ends[index - 1]
        return Array(bytes[start..<ends[index]])
    }
}
