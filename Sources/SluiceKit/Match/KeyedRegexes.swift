/// Lines matching any of many regular expressions (`grep -f` with hundreds or thousands of
/// them), found through literals each of them requires: one Aho-Corasick pass over the
/// buffer finds the lines holding a key, and only the expressions whose keys the line holds
/// run on it. Expressions without a key (`[0-9]+`, `a.b`) are joined into PCRE2 alternations
/// of at most `groupSize` and run over the whole buffer beside it.
///
/// One PCRE2 alternation of all of them, as before, ran at 0.6 MB/s with 1,000 expressions
/// (3.3 s on 2 MB of the bench corpus; grep -f: 0.29 s for 100 MB), and past about 2,000
/// PCRE2 refused to compile it ("regular expression is too large").
public struct KeyedRegexesMatcher: Matcher {
    let keys: MultiLiteralSearch
    /// For each key, the expressions (indices into `regexes`) that require it.
    let expressionsOfKey: [[Int]]
    let regexes: [RegexMatcher]

    init(keys: MultiLiteralSearch, expressionsOfKey: [[Int]], regexes: [RegexMatcher]) {
        self.keys = keys
        self.expressionsOfKey = expressionsOfKey
        self.regexes = regexes
    }

    /// The scratch's `keyed` holds one PCRE2 match data per expression, made on first use.
    public func makeScratch() -> MatchScratch {
        let scratch = MatchScratch()
        scratch.keyed = KeyedScratch(expressions: regexes.count, keys: keys.count)
        return scratch
    }

    public func nextMatchingLine(in buffer: UnsafeBufferPointer<UInt8>, from: Int, scratch: inout MatchScratch) -> (start: Int, newline: Int)? {
        guard let base = buffer.baseAddress, let state = scratch.keyed else { return nil }
        var position = from
        while position < buffer.count, let at = keys.find(in: base, from: position, count: buffer.count) {
            let (start, newline) = line(holding: at, from: position, in: base, count: buffer.count)
            state.line += 1
            let found = keys.keysIn(base + start, length: newline - start, found: state.found.baseAddress!,
                                    seen: state.seen.baseAddress!, generation: Int32(truncatingIfNeeded: state.line))
            for index in 0..<found {
                for expression in expressionsOfKey[Int(state.found[index])] {
                    let data = state.data(for: expression, of: regexes[expression])
                    if regexes[expression].lineMatches(base, start: start, newline: newline, scratch: data) {
                        scratch.undecided += data.undecided
                        data.undecided.removeAll()
                        return (start, newline)
                    }
                    if !data.undecided.isEmpty {
                        scratch.undecided += data.undecided
                        data.undecided.removeAll()
                    }
                }
            }
            position = newline + 1
        }
        return nil
    }
}

/// `KeyedRegexesMatcher`'s working memory for one buffer.
final class KeyedScratch {
    /// The number of lines looked at (the generation of `seen`).
    var line = 0
    /// The keys found in the current line, and per key the line it was last found on.
    let found: UnsafeMutableBufferPointer<Int32>
    let seen: UnsafeMutableBufferPointer<Int32>
    private var matchData: [MatchScratch?]

    init(expressions: Int, keys: Int) {
        found = .allocate(capacity: max(1, keys))
        seen = .allocate(capacity: max(1, keys))
        seen.initialize(repeating: 0)
        matchData = Array(repeating: nil, count: expressions)
    }

    deinit {
        found.deallocate()
        seen.deallocate()
    }

    func data(for expression: Int, of regex: RegexMatcher) -> MatchScratch {
        if let made = matchData[expression] { return made }
        let made = regex.makeScratch()
        matchData[expression] = made
        return made
    }
}
