extension AsyncSequence where Self: Sendable, Element == LineChunk {
    /// `--record`: re-cuts the reader's chunks so that each ends where a record ends, and tags
    /// each with its input's `RecordStart` (learned from the input's first chunk for `auto`).
    /// nil `mode` (or `.line`): chunks pass as they are.
    ///
    /// A chunk's last record may go on in the next chunk: it is held back and sent with the
    /// next chunk's lines up to that chunk's first record start (a copy of those lines only;
    /// the rest of the next chunk passes without a copy). A record ends at its input's end.
    /// `interleaved` (`--follow`): the inputs' chunks come mixed, none ends, and each input's
    /// held record and rule are kept while another's chunks pass (a record ends at a mark the
    /// reader sends, `endsRecord`, after a quiet spell or at a rotated file's end).
    ///
    /// Bound: a held record grows to `maximumBytes` at most; one longer than that is passed on
    /// in parts of about that size (each part then counts as a record), so memory stays
    /// bounded whatever the input (with `interleaved`: per input). End: the held record, then nil. Errors: rethrown after the
    /// held record. Cancellation: as the base.
    func framedAsRecords(_ mode: RecordMode?, regex: RegexMatcher?, maximumBytes: Int, interleaved: Bool = false) -> RecordFramedChunks<Self> {
        RecordFramedChunks(base: self, mode: mode == .line ? nil : mode, regex: regex, maximumBytes: maximumBytes, interleaved: interleaved)
    }
}

/// See `framedAsRecords(_:regex:maximumBytes:)`.
struct RecordFramedChunks<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == LineChunk {
    typealias Element = LineChunk
    let base: Base
    let mode: RecordMode?
    let regex: RegexMatcher?
    let maximumBytes: Int
    let interleaved: Bool

    func makeAsyncIterator() -> Iterator {
        Iterator(base: base.makeAsyncIterator(), mode: mode, regex: regex, maximumBytes: maximumBytes, interleaved: interleaved)
    }

    struct Iterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let mode: RecordMode?
        let regex: RegexMatcher?
        let maximumBytes: Int
        /// The record that may go on in the next chunk (with its chunk's tags).
        var held: LineChunk?
        var rule = RecordStart.everyLine
        var currentInput: Int?
        /// Whether `rule` was learned from the current input's lines: not from an empty chunk
        /// (a resumed input's first chunks are empty when the checkpoint is past them; `auto`
        /// learned "every line a record" from them).
        var learned = false
        var ready: [LineChunk] = []
        var ended = false
        /// The base's error, thrown once the held record before it is sent.
        var failure: (any Error)?
        let interleaved: Bool
        /// `interleaved`: the other inputs' held records and rules, while one input's chunks pass.
        var parked: [Int: (held: LineChunk?, rule: RecordStart, learned: Bool)] = [:]

        init(base: Base.AsyncIterator, mode: RecordMode?, regex: RegexMatcher?, maximumBytes: Int, interleaved: Bool) {
            self.base = base
            self.mode = mode
            self.regex = regex
            self.maximumBytes = maximumBytes
            self.interleaved = interleaved
        }

        /// Every held record goes (the end of the chunks, or a failure).
        mutating func flushAll() {
            flushHeld()
            for input in parked.keys.sorted() {
                if let record = parked[input]?.held { ready.append(record) }
            }
            parked.removeAll()
        }

        mutating func next() async throws -> LineChunk? {
            guard let mode else { return try await base.next() }
            while ready.isEmpty && !ended {
                let chunk: LineChunk?
                do {
                    chunk = try await base.next()
                } catch {
                    failure = error
                    ended = true
                    flushAll()
                    break
                }
                guard var chunk else {
                    ended = true
                    flushAll()
                    break
                }
                if interleaved && chunk.input != currentInput {
                    // Another input's turn: this one's record is kept, that one's taken up.
                    if let currentInput { parked[currentInput] = (held, rule, learned) }
                    let resumed = parked.removeValue(forKey: chunk.input)
                    held = resumed?.held
                    rule = resumed?.rule ?? .everyLine
                    learned = resumed?.learned ?? false
                    currentInput = chunk.input
                }
                if chunk.input != currentInput || chunk.startsInput {
                    flushHeld()  // a record ends at its input's end
                    currentInput = chunk.input
                    learned = false
                }
                if !learned && !chunk.isEmpty {
                    rule = RecordStart.rule(for: mode, firstChunk: chunk, regex: regex)
                    learned = true
                }
                chunk.recordStart = rule
                frame(chunk)
                if chunk.endsRecord { flushHeld() }  // --follow: the input went quiet
            }
            if !ready.isEmpty { return ready.removeFirst() }
            if let failure {
                self.failure = nil
                throw failure
            }
            return nil
        }

        mutating func flushHeld() {
            if let record = held { ready.append(record) }
            held = nil
        }

        /// Adds `chunk` after the held record: sends what ends before the chunk's last record
        /// start, holds the rest.
        mutating func frame(_ chunk: LineChunk) {
            let holding = held != nil
            let rule = self.rule
            let (firstStart, lastStart) = chunk.withUnsafeBufferPointer { buffer -> (Int, Int)? in
                guard let base = buffer.baseAddress, !buffer.isEmpty else { return nil }
                let scratch = rule.makeScratch()
                // The last line that starts a record (looking back from the end).
                var start = lineStart(base, before: buffer.count - 1)
                while !rule.starts(base, start, lineEnd(base, from: start, count: buffer.count), scratch: scratch) {
                    if start == 0 { return nil }
                    start = lineStart(base, before: start - 1)
                }
                let last = start
                // The first one, when a held record is to be completed by the lines before it.
                guard holding else { return (0, last) }
                var first = 0
                while first < last {
                    let end = lineEnd(base, from: first, count: buffer.count)
                    if rule.starts(base, first, end, scratch: scratch) { break }
                    first = end + 1
                }
                return (first, last)
            } ?? (-1, -1)
            var lines = chunk
            lines.notes = []
            lines.inputByteCount = 0
            let before = ready.count
            if lastStart >= 0 {
                var rest = lines
                if firstStart > 0 {
                    let (continuation, after) = rest.cut(atByte: firstStart)
                    hold(continuation)
                    rest = after
                }
                flushHeld()
                let (complete, tail) = rest.cut(atByte: lastStart - firstStart)
                if !complete.isEmpty { ready.append(complete) }
                hold(tail)
            } else {
                hold(lines)  // no record starts here: it all continues the held record
            }
            if chunk.startsInput && !ready[before...].contains(where: { $0.startsInput }) {
                // The input's mark comes first, even when all its lines are held.
                var mark = lines.cut(atByte: 0).0
                mark.startsInput = true
                ready.insert(mark, at: before)
                held?.startsInput = false
            }
            if ready.count > before {
                ready[before].inputByteCount += chunk.inputByteCount
            } else {
                held?.inputByteCount += chunk.inputByteCount
            }
            if !chunk.notes.isEmpty {
                // Notes belong after the lines before them: what is held goes now, with them.
                flushHeld()
                if ready.isEmpty {
                    var empty = lines.cut(atByte: 0).0
                    empty.startsInput = false
                    ready.append(empty)
                }
                ready[ready.count - 1].notes += chunk.notes
            }
        }

        /// Adds `lines` to the held record; a record grown past the bound is sent as it is.
        mutating func hold(_ lines: LineChunk) {
            guard !lines.isEmpty else { return }
            // Lines copied out of a mapping that lost pages (the file shrank): the held record
            // says so, and the runner drops it as it drops such a window (`lossGuarded`).
            let shrunk = lines.window.flatMap { $0.isIntact ? nil : $0.file }
            guard var record = held else {
                held = lines
                if let shrunk { held?.markLost(shrunk) }
                return
            }
            held = nil  // the record's buffer has one owner: appended to in place
            record.appendLines(of: lines, lines: lines.lineCount)
            if let shrunk { record.markLost(shrunk) }
            if record.byteCount >= maximumBytes {
                ready.append(record)
            } else {
                held = record
            }
        }
    }
}

