/// `--since` on a plain file: where its first line at or after the time can start, found by a
/// binary search over the file's lines instead of reading it from its start.
///
/// Each probe reads the time of the first line with one after the probe's offset (up to 64
/// lines on). The search keeps the file's order honest: every probe's time must lie between
/// the times of the probes around it, and the first and last lines must be in order; if one is
/// not, or a probe finds no time, the file is read from its start (a scan). The start is backed
/// off by `backOff` bytes before the last line found earlier than the time, so lines a little
/// out of order (threads logging in turn) are still read and filtered.
public struct SinceSeek: Sendable {
    public let since: Double
    let predicate: FieldPredicate

    init(since: Double, predicate: FieldPredicate) {
        self.since = since
        self.predicate = predicate
    }

    /// The time of the first line at or after `offset` (a line start) that has one, within 64
    /// lines: its start and its time.
    func timeAt(_ file: UnsafeBufferPointer<UInt8>, lineFrom offset: Int, scratch: FieldPredicate.Scratch) -> (Int, Double)? {
        guard let base = file.baseAddress else { return nil }
        var start = offset
        for _ in 0..<64 {
            guard start < file.count else { return nil }
            let newline = lineEnd(base, from: start, count: file.count)
            let end = newline < file.count && base[newline] == 0x0A ? newline : file.count
            if let seconds = predicate.lineTime(UnsafeBufferPointer(start: base + start, count: end - start), scratch: scratch) {
                return (start, seconds)
            }
            start = end + 1
        }
        return nil
    }

    /// Where to start reading `file`, input number `input` (a line start), 0 to read it all.
    func start(in file: UnsafeBufferPointer<UInt8>, input: Int = 0, backOff: Int) -> Int {
        guard let base = file.baseAddress, file.count > 4 * backOff else { return 0 }
        let scratch = predicate.makeScratch()
        scratch.use(input: input)
        guard let (_, firstTime) = timeAt(file, lineFrom: 0, scratch: scratch), firstTime < since else { return 0 }
        // The last line's time: the file's order must hold between the two ends.
        let lastStart = lineStart(base, before: max(0, file.count - 2))
        guard let (_, lastTime) = timeAt(file, lineFrom: lastStart, scratch: scratch), lastTime >= firstTime else { return 0 }
        var low = 0, lowTime = firstTime
        var high = file.count, highTime = lastTime
        while high - low > backOff {
            let middle = low + (high - low) / 2
            let lineAfter = lineEnd(base, from: middle, count: file.count) + 1
            guard let (probeStart, probeTime) = timeAt(file, lineFrom: lineAfter, scratch: scratch), probeStart < high else { break }
            guard probeTime >= lowTime && probeTime <= highTime else { return 0 }  // not in order: scan
            if probeTime < since {
                low = probeStart
                lowTime = probeTime
            } else {
                high = middle
                highTime = probeTime
            }
        }
        // Back off, then start at a line's start.
        let backed = low - backOff
        guard backed > 0 else { return 0 }
        return lineEnd(base, from: backed, count: file.count) + 1
    }
}
