import Synchronization

extension AsyncSequence where Self: Sendable, Element == LineChunk {
    /// grep's per-input rules over the selected lines, which arrive in input order: `-m` stops
    /// each input after its own N selected lines (and tells the reader to skip the rest of it
    /// through `skip`), `-c` replaces an input's lines with its count, `-l`/`-L` with its name.
    /// Every input must come with a first chunk marked `startsInput` (`ChunkSource.marksInputs`).
    ///
    /// Bound: one chunk in, at most two out. End: the last input's summary, then nil. Error:
    /// rethrows the base's, after the chunks before it. Cancellation: as the base.
    func perInput(_ rules: PerInputRules, skip: InputSkip, counters: RunCounters) -> PerInputLines<Self> {
        PerInputLines(base: self, rules: rules, skip: skip, counters: counters)
    }
}

/// grep's `-m` on standard input: where the input's bytes are left after the last selected
/// line, so that the next reader of the same open file (`while grep -m1 ... ; do`, `{ grep
/// -m2 x; sed ...; } < file`) goes on from there, as grep's lseek does.
final class StandardInputResume: Sendable {
    /// The index of standard input among the run's inputs.
    let input: Int
    /// Just past the last selected line when -m ended the input; -1 while it did not.
    let offset = Atomic<Int>(-1)

    init(input: Int) { self.input = input }
}

/// What `perInput` applies.
struct PerInputRules: Sendable {
    /// `-m` on standard input (`StandardInputResume`).
    var resume: StandardInputResume?
    /// Whether any rule applies (otherwise chunks pass as they are, counted as selected).
    var active: Bool { maxCount != nil || count || listFiles != nil || binaryWithoutMatch }
    /// grep's `-I`: an input whose chunk says `binaryEndsInput` ends there with no selected
    /// line (its lines written before stay written; `-c` says 0, the exit status counts none
    /// of them), unless grep had stopped reading it before: `-m` reached, or a line selected
    /// under `-l`, `-L` or `-q`.
    var binaryWithoutMatch = false
    /// `-q`: grep stops at the first selected line (with `-I`, before any later binary buffer).
    var quiet = false
    /// `-m`: selected lines per input.
    var maxCount: Int?
    /// `-c`.
    var count = false
    var listFiles: GrepPresentation.ListFiles?
    /// Each input's name; shown before a count when `namesShown`.
    var names: [[UInt8]] = []
    var namesShown = false
    /// `-Z`.
    var nullAfterName = false
    /// `--color`: names in grep's file-name colour, `:` in its separator colour.
    var colors: GrepColors?
    /// The index of the last input: once it is done (`-m`, `-l`), the stream ends at once,
    /// without waiting for the rest of that input (a pipe may never end).
    var lastInput = 0
}

/// See `perInput(_:skip:counters:)`.
struct PerInputLines<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == LineChunk {
    typealias Element = LineChunk
    let base: Base
    let rules: PerInputRules
    let skip: InputSkip
    let counters: RunCounters

    func makeAsyncIterator() -> Iterator {
        Iterator(base: base.makeAsyncIterator(), rules: rules, skip: skip, counters: counters)
    }

    struct Iterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let rules: PerInputRules
        let skip: InputSkip
        let counters: RunCounters
        var ready: [LineChunk] = []
        var current: Int?
        var unreadable = false
        var selectedInInput = 0
        var done = false
        var ended = false

        init(base: Base.AsyncIterator, rules: PerInputRules, skip: InputSkip, counters: RunCounters) {
            self.base = base
            self.rules = rules
            self.skip = skip
            self.counters = counters
        }

        mutating func next() async throws -> LineChunk? {
            if !rules.active {
                let chunk = try await base.next()
                if let chunk { counters.selected.add(chunk.selectedLineCount ?? chunk.selectionEnds?.count ?? chunk.lineCount, ordering: .relaxed) }
                return chunk
            }
            while ready.isEmpty {
                if ended { return nil }
                guard let chunk = try await base.next() else {
                    ended = true
                    if let summary = closeInput() { ready.append(summary) }
                    break
                }
                if chunk.input != current {
                    if let summary = closeInput() { ready.append(summary) }
                    current = chunk.input
                    unreadable = chunk.inputUnreadable
                    selectedInInput = 0
                    done = false
                }
                if chunk.inputCutShort { unreadable = true }  // no summary for a file a stop cut short
                if let out = take(chunk) { ready.append(out) }
                if done && chunk.input >= rules.lastInput {
                    ended = true
                    if let summary = closeInput() { ready.append(summary) }
                    current = nil
                }
            }
            return ready.isEmpty ? nil : ready.removeFirst()
        }

        /// The part of `chunk` to pass on (nil if nothing, not even notes).
        mutating func take(_ chunk: LineChunk) -> LineChunk? {
            let summarizes = rules.count || rules.listFiles != nil
            var lines = done ? LineChunk(bytes: []) : chunk
            lines.notes = []
            // grep's `binary file matches` counts as a selected line (exit status 0), and is
            // not said for an input -m already ended.
            // A -P failure in an input -m, -l or -L was done with: grep never read that far.
            if done && chunk.notes.contains(where: { $0.isNotice || $0.endsRun }) {
                var kept = LineChunk(bytes: [])
                kept.notes = chunk.notes.filter { !$0.isNotice && !$0.endsRun }
                kept.input = chunk.input
                return kept.notes.isEmpty ? nil : kept
            }
            // (A context stage's chunk says how many of its lines were selected.)
            var count = done ? 0 : chunk.binaryMatch ? 1 : (chunk.selectedLineCount ?? chunk.selectionEnds?.count ?? chunk.lineCount)
            if let max = rules.maxCount, !done, selectedInInput + count >= max {
                let keep = max - selectedInInput
                if let resume = rules.resume, chunk.input == resume.input, let ends = chunk.selectedInputEnds, keep >= 1, keep <= ends.count {
                    resume.offset.store(ends[keep - 1], ordering: .relaxed)
                }
                if !summarizes && keep < count { lines = Self.firstSelected(keep, of: chunk) }
                count = keep
                finishInput()
            }
            selectedInInput += count
            counters.selected.add(count, ordering: .relaxed)
            if rules.listFiles == .withMatches && selectedInInput > 0 && !done {
                finishInput()
            }
            if chunk.binaryEndsInput && rules.binaryWithoutMatch && !done && !((rules.listFiles != nil || rules.quiet) && selectedInInput > 0) {
                counters.selected.subtract(selectedInInput, ordering: .relaxed)
                selectedInInput = 0
                finishInput()
            }
            var out: LineChunk
            if summarizes {
                out = LineChunk(bytes: [])
                if rules.listFiles == .withMatches && count > 0 && selectedInInput == count {
                    out = nameLine()
                }
            } else {
                out = lines
            }
            out.notes = chunk.notes
            out.input = chunk.input
            return out.isEmpty && out.notes.isEmpty ? nil : out
        }

        /// The reader may skip the rest of this input; later chunks of it pass only notes.
        mutating func finishInput() {
            done = true
            if let current { skip.skip(through: current) }
        }

        /// The summary line of the input that just ended (`-c`, `-L`), if any.
        mutating func closeInput() -> LineChunk? {
            guard let current, !unreadable else { return nil }
            if rules.listFiles == .withoutMatch {
                return selectedInInput == 0 ? nameLine() : nil
            }
            guard rules.count, rules.listFiles == nil else { return nil }
            var bytes: [UInt8] = []
            if rules.namesShown {
                let name = rules.names[Swift.min(current, rules.names.count - 1)]
                if let colors = rules.colors {
                    colors.paint(colors.fileName, name, into: &bytes)
                    if rules.nullAfterName { bytes.append(0) } else { colors.paint(colors.separator, CollectionOfOne(UInt8(ascii: ":")), into: &bytes) }
                } else {
                    bytes += name
                    bytes.append(rules.nullAfterName ? 0 : UInt8(ascii: ":"))
                }
            }
            bytes += Array("\(selectedInInput)\n".utf8)
            var line = LineChunk(bytes: bytes, lineCount: 1)
            line.input = current
            return line
        }

        /// The current input's name as `-l`/`-L` print it (`-Z`: NUL instead of the newline).
        func nameLine() -> LineChunk {
            var name = rules.names[Swift.min(current ?? 0, rules.names.count - 1)]
            if let colors = rules.colors {
                var painted: [UInt8] = []
                colors.paint(colors.fileName, name, into: &painted)
                name = painted
            }
            var line = rules.nullAfterName ? LineChunk(bytesAsWritten: name + [0]) : LineChunk(bytes: name + [0x0A], lineCount: 1)
            line.input = current ?? 0
            return line
        }

        /// The output of the chunk's first `keep` selected lines.
        static func firstSelected(_ keep: Int, of chunk: LineChunk) -> LineChunk {
            guard keep > 0 else { return LineChunk(bytes: []) }
            if let ends = chunk.selectionEnds {
                let cut = ends[keep - 1]
                guard cut > 0 else { return LineChunk(bytes: []) }
                return cut >= chunk.byteCount ? chunk : chunk.split(atMostBytes: cut).head
            }
            return chunk.split(afterLines: keep).0
        }
    }
}
