import CSluiceSearch

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
    var names: [[UInt8]] = []
    /// `-T`: a tab after each head, and per input the columns of its line numbers.
    var initialTab = false
    var numberWidths: [Int] = []
    var namesShown = false
    var nullAfterName = false
    var lineNumbers = false
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
}

struct ContextLinesSequence<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == LineChunk {
    typealias Element = LineChunk
    let base: Base
    let rules: ContextRules
    let skip: InputSkip

    func makeAsyncIterator() -> Iterator {
        Iterator(base: base.makeAsyncIterator(), printer: ContextPrinter(rules: rules), skip: skip)
    }

    struct Iterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        var printer: ContextPrinter
        let skip: InputSkip
        var ended = false

        mutating func next() async throws -> LineChunk? {
            if !printer.rules.active { return try await base.next() }
            while !ended {
                guard let chunk = try await base.next() else { return nil }
                var out = printer.print(chunk)
                out.notes = chunk.notes
                out.input = chunk.input
                out.startsInput = chunk.startsInput
                out.inputUnreadable = chunk.inputUnreadable
                if printer.finishedInput {
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
    /// Whether anything was written in the whole run (a separator comes only between groups).
    private var anyGroup = false
    /// Lines still to write after the last selected line.
    private var afterPending = 0
    /// The last `before` lines of the previous chunks of this input, with their numbers.
    private var held: [(number: Int, bytes: [UInt8])] = []
    private var selectedInInput = 0
    /// `-m` reached: no more selected lines in this input, only its trailing context.
    private var limitReached = false
    /// The input is done with (after `-m` and its trailing context): the reader may skip it.
    private(set) var finishedInput = false

    init(rules: ContextRules) {
        self.rules = rules
    }

    mutating func print(_ chunk: LineChunk) -> LineChunk {
        if chunk.input != input {
            input = chunk.input
            lastPrinted = 0
            afterPending = 0
            held = []
            selectedInInput = 0
            limitReached = false
            finishedInput = false
        }
        if finishedInput { return LineChunk(bytes: []) }
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
            func head(_ lineNumber: Int, _ mark: UInt8, length: Int) {
                writeLineHead(&out, name: name, nullAfterName: rules.nullAfterName,
                              lineNumber: rules.lineNumbers ? lineNumber : nil, mark: mark, colors: colors,
                              numberWidth: width, tabBeforeLength: rules.initialTab ? length : nil)
            }
            /// A line of `lineBase` (this chunk, or a held copy), as selected or context.
            func writeLine(_ lineBase: UnsafePointer<UInt8>, _ start: Int, _ end: Int, _ lineNumber: Int, selectedLine: Bool) {
                let mark = selectedLine ? UInt8(ascii: ":") : UInt8(ascii: "-")
                if rules.onlyMatching {
                    // Only matches, of any line written: selected ones (none under -v) and,
                    // under -v, the context lines, which are the matching ones (as grep).
                    guard let extractor = rules.extractor, let scratch else { return }
                    extractor.forEachMatch(lineBase + start, length: end - start, scratch: scratch) { from, to in
                        head(lineNumber, mark, length: to - from)
                        let match = UnsafeBufferPointer(start: lineBase + start + from, count: to - from)
                        if let colors { colors.paint(colors.selectedMatch, match, into: &out) } else { out.append(contentsOf: match) }
                        out.append(0x0A)
                        outLines += 1
                    }
                    return
                }
                head(lineNumber, mark, length: end - start)
                // Matches are painted in selected lines, or (with -v) in context lines.
                if let colors, let extractor = rules.extractor, let scratch, selectedLine != rules.invert {
                    writePaintedLine(&out, lineBase, start: start, end: end, extractor: extractor, scratch: scratch, colors: colors,
                                     sgr: selectedLine ? colors.selectedMatch : colors.contextMatch)
                } else {
                    out.append(contentsOf: UnsafeBufferPointer(start: lineBase + start, count: end + 1 - start))
                }
                outLines += 1
            }
            func write(_ start: Int, _ end: Int, _ lineNumber: Int, selectedLine: Bool) {
                writeLine(base, start, end, lineNumber, selectedLine: selectedLine)
            }
            func writeHeld(_ bytes: [UInt8], _ lineNumber: Int) {
                bytes.withUnsafeBufferPointer { line in
                    writeLine(line.baseAddress!, 0, line.count - 1, lineNumber, selectedLine: false)
                }
            }
            func separateIfNeeded(firstLine: Int) {
                if anyGroup && (lastPrinted == 0 || firstLine > lastPrinted + 1), let separator = rules.separator {
                    if let colors { colors.paint(colors.separator, separator, into: &out) } else { out.append(contentsOf: separator) }
                    out.append(0x0A)
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
            for start in chunk.selectedStarts ?? [] {
                if limitReached { break }
                flushAfter(before: start)
                let lineNumber = number(at: start)
                // Leading context: up to `before` lines before it not yet written, from the
                // lines held from earlier chunks and those of this chunk before it.
                var leading: [(Int, Int)] = []  // (start, end) in this chunk, last first, then reversed
                var first = start
                while leading.count < rules.before && first > cursor {
                    let previousEnd = first - 1
                    var previousStart = previousEnd
                    while previousStart > 0 && base[previousStart - 1] != 0x0A { previousStart -= 1 }
                    leading.append((previousStart, previousEnd))  // an insert at 0 made -B 1000000 quadratic
                    first = previousStart
                }
                leading.reverse()
                let fromHeld = cursor == 0 ? held.filter { $0.number > lastPrinted && $0.number >= lineNumber - rules.before && $0.number < lineNumber - leading.count } : []
                let firstNumber = fromHeld.first?.number ?? (lineNumber - leading.count)
                if firstNumber > lastPrinted { separateIfNeeded(firstLine: firstNumber) }
                for line in fromHeld { writeHeld(line.bytes, line.number) }
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
                if let max = rules.maxCount, selectedInInput >= max { limitReached = true }
            }
            flushAfter(before: count)
            if limitReached && afterPending == 0 { finishedInput = true }
            // Hold the last `before` lines not written, for the next chunk's leading context.
            if rules.before > 0 {
                var kept: [(number: Int, bytes: [UInt8])] = []
                var lineEndOffset = count - 1
                let lastNumber = chunk.firstLine + (chunk.knownLineCount ?? sluice_count_newlines(base, count)) - 1
                var lineNumber = lastNumber
                while kept.count < rules.before && lineEndOffset >= cursor && lineNumber > lastPrinted {
                    var lineStart = lineEndOffset
                    while lineStart > 0 && base[lineStart - 1] != 0x0A { lineStart -= 1 }
                    kept.append((lineNumber, Array(UnsafeBufferPointer(start: base + lineStart, count: lineEndOffset + 1 - lineStart))))
                    lineEndOffset = lineStart - 1
                    lineNumber -= 1
                }
                kept.reverse()
                if kept.count < rules.before && cursor == 0 {
                    kept = held.filter { $0.number > lastPrinted }.suffix(rules.before - kept.count) + kept
                }
                held = kept
            }
        }
        if limitReached && afterPending == 0 { finishedInput = true }
        var result = LineChunk(bytes: out, lineCount: outLines)
        result.selectedLineCount = selected
        return result
    }
}

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
        var undecided: [SluiceError] = []
        chunk.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            var scratch = matcher.makeScratch()
            defer { undecided = scratch.undecided + scratch.parts.flatMap(\.undecided) }
            var position = 0
            while let (start, newline) = matcher.nextMatchingLine(in: buffer, from: position, scratch: &scratch) {
                if invert {
                    var line = position
                    while line < start {
                        starts.append(line)
                        line = lineEnd(base, from: line, count: start) + 1
                    }
                } else {
                    starts.append(start)
                }
                position = newline + 1
            }
            if invert {
                while position < buffer.count {
                    starts.append(position)
                    position = lineEnd(base, from: position, count: buffer.count) + 1
                }
            }
        }
        var out = chunk
        out.selectedStarts = starts
        out.notes += undecided
        return out
    }
}
