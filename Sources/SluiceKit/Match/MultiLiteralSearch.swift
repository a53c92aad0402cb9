import CSluiceSearch

/// Several fixed byte strings searched at once (Aho-Corasick, `sluice_ac_*`): one pass over a
/// buffer whatever their number, where a PCRE2 alternation of 2,000 literals tried each one at
/// every position (9 s on 3.5 MB; grep -F: 0.02 s). ASCII letters fold with `caseless`.
/// Any number of needles: the shallow states have table rows, the deep ones are sparse (grep -F
/// -f of 100,000 random words failed when the automaton was all table, and its PCRE2 fallback
/// was "regular expression is too large").
public final class MultiLiteralSearch: @unchecked Sendable {
    // `@unchecked`: the automaton is built once and only read after.
    private let automaton: OpaquePointer

    /// nil when a needle is empty (it matches every line: the caller's case), there is no
    /// needle, the needles pass 2 GiB, or memory runs out; never for their number. `maxCells`
    /// is the budget of the automaton's table (4 bytes a cell), whose rows are the states
    /// nearest the root, one load per byte scanned; the other states cost 12 bytes each and a
    /// few look-ups per byte. The default, 4 Mi cells (16 MiB), measured with 100,000 random words of 5-10
    /// letters (456,507 states, 27 byte classes) on 20 MB of the bench corpus (C harness, best
    /// of 5): 16 MiB of table 406-421 MB/s, 4 MiB 365, 1 MiB 208. On 100 MB, `-c -F -f` of
    /// them: 0.45 s, 47 MB peak RSS (grep 1.8 s, 46 MB); near misses of log lines (20,000
    /// patterns of 20-40 bytes, the scan among sparse states): 2.1 s, 40 MB (grep 6.6 s, 27 MB).
    /// Tests pass a tiny budget to exercise the sparse states.
    /// `keyed`: also able to say which needles a line holds (`keysIn`); the needles must then
    /// be distinct.
    public init?(_ needles: [[UInt8]], caseless: Bool, maxCells: Int = 4 << 20, keyed: Bool = false) {
        guard !needles.isEmpty, !needles.contains(where: \.isEmpty) else { return nil }
        // One buffer for all the needles' bytes (a copy each was 100,000 allocations for
        // 100,000 needles), a pointer into it per needle.
        let lengths = needles.map(\.count)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(lengths.reduce(0, +))
        for needle in needles { bytes.append(contentsOf: needle) }
        let built = bytes.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            guard let base = buffer.baseAddress else { return nil }
            var offset = 0
            let pointers: [UnsafePointer<UInt8>?] = lengths.map { length in
                defer { offset += length }
                return base + offset
            }
            return sluice_ac_build_keyed(pointers, lengths, lengths.count, caseless ? 1 : 0, maxCells, keyed ? 1 : 0)
        }
        guard let built else { return nil }
        automaton = built
        count = needles.count
        // The needles' common prefix, when they have one of 3 bytes or more (and, folded, no
        // letter in it): a SIMD search for it skips the bytes between candidates, where the
        // automaton steps through each.
        var prefix = needles[0]
        for needle in needles.dropFirst() where prefix.count > 0 {
            let common = zip(prefix, needle).prefix { $0 == $1 }.count
            prefix.removeLast(prefix.count - common)
        }
        let hasLetters = prefix.contains { (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }
        commonPrefix = prefix.count >= 3 && !(caseless && hasLetters) ? LiteralSearch(prefix) : nil
        longest = needles.map(\.count).max() ?? 0
    }

    /// Bytes of merged windows past which the rest of the buffer is left to the automaton.
    static let mergeLimit = 1 << 16

    /// A prefix every needle starts with, searched first (nil: none worth it).
    let commonPrefix: LiteralSearch?
    let longest: Int

    /// How many needles there are.
    let count: Int

    /// The indices of the needles `base[0..<length]` holds (each once), written to the start
    /// of `found` (`count` entries); `seen` (also `count` entries) and `generation` (new for
    /// each call) keep a needle from being written twice. Only for a `keyed` search.
    func keysIn(_ base: UnsafePointer<UInt8>, length: Int, found: UnsafeMutablePointer<Int32>,
                seen: UnsafeMutablePointer<Int32>, generation: Int32) -> Int {
        sluice_ac_keys(automaton, base, length, found, seen, generation)
    }

    deinit { sluice_ac_free(automaton) }

    /// An offset inside the first line (at or after `from`) holding a needle, nil if none.
    @inline(__always)
    func find(in base: UnsafePointer<UInt8>, from: Int, count: Int) -> Int? {
        guard let commonPrefix else {
            let end = sluice_ac_find(automaton, base + from, count - from)
            return end < 0 ? nil : from + end
        }
        // Every match starts where the prefix does: the automaton runs from each place the
        // prefix is found, over at most the longest needle. 250 needles `user=uNNNN...` on
        // 100 MB of the bench corpus (the prefix on 3 lines in 4): 0.19 s of CPU by the
        // automaton alone, grep -F -f 0.08 s.
        // Windows that overlap are merged first, so that no byte is scanned twice (prefixes
        // found every few bytes with one long needle rescanned the same bytes: 118 s for 1 MB,
        // the review's case). A merged run longer than `mergeLimit` goes to the automaton
        // alone: the prefix is then too frequent to help.
        var position = from
        while position < count, let at = commonPrefix.find(in: base, from: position, count: count) {
            var end = min(count, at + longest)
            var next = at + 1
            // A prefix starting before `end` counts even where it runs past it.
            while next < end, let again = commonPrefix.find(in: base, from: next, count: min(count, end + commonPrefix.needle.count - 1)) {
                end = min(count, again + longest)
                next = again + 1
                if end - at > Self.mergeLimit {
                    end = count
                    break
                }
            }
            let found = sluice_ac_find(automaton, base + at, end - at)
            if found >= 0 { return at + found }
            position = end
        }
        return nil
    }
}

/// Lines holding any of many literals (grep -F with many -e): the search's hit is the line's
/// match, no regex needed.
public struct MultiLiteralMatcher: Matcher {
    let search: MultiLiteralSearch

    public init(_ search: MultiLiteralSearch) { self.search = search }

    public func makeScratch() -> MatchScratch { MatchScratch() }

    public func nextMatchingLine(in buffer: UnsafeBufferPointer<UInt8>, from: Int, scratch: inout MatchScratch) -> (start: Int, newline: Int)? {
        guard let base = buffer.baseAddress, from < buffer.count,
              let at = search.find(in: base, from: from, count: buffer.count) else { return nil }
        return line(holding: at, from: from, in: base, count: buffer.count)
    }
}

/// Lines holding one of many literals as grep's `-w` or `-x` wants it: the search finds the
/// candidate lines in one pass, then each is checked by PCRE2 regexes of at most
/// `groupSize` patterns (one alternation of 2,000 would pass PCRE2's compiled-size limit).
public struct CandidateLinesMatcher: Matcher {
    let search: MultiLiteralSearch
    let checks: [RegexMatcher]

    public init(_ search: MultiLiteralSearch, checks: [RegexMatcher]) {
        self.search = search
        self.checks = checks
    }

    public func makeScratch() -> MatchScratch {
        let scratch = MatchScratch()
        scratch.parts = checks.map { $0.makeScratch() }
        return scratch
    }

    public func nextMatchingLine(in buffer: UnsafeBufferPointer<UInt8>, from: Int, scratch: inout MatchScratch) -> (start: Int, newline: Int)? {
        guard let base = buffer.baseAddress else { return nil }
        var position = from
        while position < buffer.count, let at = search.find(in: base, from: position, count: buffer.count) {
            let (start, newline) = line(holding: at, from: position, in: base, count: buffer.count)
            for (check, part) in zip(checks, scratch.parts) where check.lineMatches(base, start: start, newline: newline, scratch: part) {
                return (start, newline)
            }
            position = newline + 1
        }
        return nil
    }
}
