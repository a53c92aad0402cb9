/// Turns a `GrepSpec` into the fastest sound `LineFilter`: `memmem` for one case-sensitive
/// literal, PCRE2 JIT (with a required-literal prefilter where one exists) for the rest.
public enum MatcherBuilder {
    static let metacharacters = Set("\\^$.[]|()?*+{}".utf8)

    public static func isLiteral(_ pattern: String) -> Bool {
        isLiteral(Array(pattern.utf8))
    }

    static func isLiteral(_ pattern: [UInt8]) -> Bool {
        !pattern.contains(where: metacharacters.contains)
    }

    /// Bytes that make a basic regular expression more than a literal (`+ ? | ( ) { }` are
    /// literal there).
    static let basicMetacharacters = Set("\\^$.[]*".utf8)

    /// The patterns of `spec`, one per line of each, as PCRE2 patterns (grep's `-G`/`-E`
    /// translated by `PosixPattern`), or as literals when every one is a literal in its syntax
    /// (then the literal fast paths apply). `warnings`: grep's warnings about the patterns.
    static func pcrePatterns(for spec: GrepSpec, warnings: inout [String]) throws -> (patterns: [[UInt8]], literal: Bool) {
        // Split on the newline byte (a Character split would keep "\r\n" whole).
        var patterns = spec.patternBytes.flatMap { pattern in
            pattern.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
        }
        // Where each came from (`-f FILE` lines), for grep's `FILE:LINE: ` before a refusal.
        let origins = patternOrigins(spec)
        // -z: a literal holding a NUL can never match (no record holds one; GNU grep -zF
        // matches such a pattern against the record's terminator, which it should not).
        func literals() -> [[UInt8]] { spec.nullData ? patterns.filter { !$0.contains(0) } : patterns }
        switch spec.syntax {
        case .fixed:
            return (literals(), true)
        case .perl:
            if spec.fixedStrings || patterns.allSatisfy(isLiteral) { return (literals(), true) }
            guard spec.nullData else { return (patterns, false) }
            var refused: [String] = []
            for index in patterns.indices where RegexMatcher.compileError(patterns[index], caseless: spec.ignoreCase) == nil {
                // (A pattern PCRE2 refuses stays as given, for its message.)
                do {
                    patterns[index] = try PerlNulData.translate(patterns[index])
                } catch {
                    let origin = index < origins.count ? origins[index] : nil
                    refused.append((origin.map { "\($0): " } ?? "") + error.message)
                }
            }
            try throwRefusals(refused)
            return (patterns, false)
        case .basic, .extended:
            if spec.fixedStrings { return (literals(), true) }
            let special = spec.syntax == .basic ? basicMetacharacters : metacharacters
            if patterns.allSatisfy({ !$0.contains(where: special.contains) }) { return (literals(), true) }
            // Every pattern refused is reported (once, however often it is given), in grep's
            // words alone, after its `FILE:LINE: ` when it came from -f.
            var refused: [String] = []
            var reported = Set<[UInt8]>()
            var translated: [[UInt8]] = []
            for (pattern, origin) in zip(patterns, origins) {
                do {
                    // ASCII: bytes >= 0x80 are written \x{hh}
                    translated.append(try PosixPattern.translate(pattern, syntax: spec.syntax, caseless: spec.ignoreCase,
                                                                 nullData: spec.nullData, warnings: &warnings))
                } catch let error as SluiceError {
                    if error.place == nil { throw error }  // grep's "stack overflow": alone, at once
                    if reported.insert(pattern).inserted { refused.append((origin.map { "\($0): " } ?? "") + error.message) }
                }
            }
            try throwRefusals(refused)
            return (translated, false)
        }
    }

    /// Per pattern line (after splitting on newlines), where it came from.
    static func patternOrigins(_ spec: GrepSpec) -> [String?] {
        spec.patternBytes.indices.flatMap { index in
            let origin = index < spec.patternOrigins.count ? spec.patternOrigins[index] : nil
            return Array(repeating: origin, count: spec.patternBytes[index].count { $0 == 0x0A } + 1)
        }
    }

    /// One usage error for the patterns refused (the first, then the others), none if none.
    static func throwRefusals(_ refused: [String]) throws {
        guard let first = refused.first else { return }
        var error = SluiceError(.usage, first)
        error.others = Array(refused.dropFirst())
        throw error
    }

    /// The matcher for `spec`, and a short description for `--explain`.
    public static func matcher(for spec: GrepSpec, place: String = "-e") throws -> (any Matcher, String) {
        var warnings: [String] = []
        return try matcher(for: spec, place: place, warnings: &warnings)
    }

    /// As `matcher(for:place:)`, with grep's warnings about the patterns (`* at start of
    /// expression`) added to `warnings`.
    public static func matcher(for spec: GrepSpec, place: String = "-e", warnings: inout [String]) throws -> (any Matcher, String) {
        let (patterns, literal) = try pcrePatterns(for: spec, warnings: &warnings)
        if patterns.isEmpty { return (MatchNothing(), "no line (no pattern: an empty -f file)") }
        let plain = !spec.ignoreCase && !spec.wordRegexp && !spec.lineRegexp
        if literal && patterns.contains([]) && !spec.wordRegexp && !spec.lineRegexp {
            return (MatchEverything(), "every line (empty pattern)")  // -i or not
        }
        if literal && patterns.contains([]) && patterns.count > 2 {
            // With -w/-x the empty pattern selects some lines: its own regex beside the others'
            // matcher (the automaton refuses an empty needle, and one alternation of 20,000
            // words, a blank line among them, is "regular expression is too large").
            var rest = spec
            rest.patternBytes = patterns.filter { !$0.isEmpty }
            rest.patternOrigins = []
            let (others, how) = try matcher(for: rest, place: place, warnings: &warnings)
            let empty = try regexMatcher([[]], literal: true, spec: spec, place: place).0
            return (AnyOfMatcher([others, empty]), how + ", and the empty pattern by PCRE2 JIT")
        }
        if plain && literal && patterns.count == 1 {
            return (LiteralMatcher(patterns[0]), "literal, SIMD search over whole chunks")
        }
        // Many literals: one Aho-Corasick pass finds the lines, exact for -F and -i; with -w/-x
        // it finds the candidate lines PCRE2 then checks.
        let manyLiterals = literal && patterns.count >= Self.multiLiteralThreshold
            ? MultiLiteralSearch(patterns, caseless: spec.ignoreCase) : nil
        if let manyLiterals {
            let folded = spec.ignoreCase ? " (ASCII case folded)" : ""
            if !spec.wordRegexp && !spec.lineRegexp {
                return (MultiLiteralMatcher(manyLiterals), "\(patterns.count) literals\(folded), one Aho-Corasick pass over whole chunks")
            }
            let groups = stride(from: 0, to: patterns.count, by: Self.checkGroupSize).map { Array(patterns[$0..<min($0 + Self.checkGroupSize, patterns.count)]) }
            let checks = try groups.map { try regexMatcher($0, literal: true, spec: spec, place: place).0 }
            return (CandidateLinesMatcher(manyLiterals, checks: checks),
                    "\(patterns.count) literals\(folded): candidate lines by one Aho-Corasick pass, checked by \(checks.count) PCRE2 JIT pattern\(checks.count == 1 ? "" : "s")")
        }
        if !literal {
            // -P in the first (or only) grep stage: grep's words, PCRE2's message alone (after
            // `FILE:LINE: ` for a -f line), each refused pattern once; a later stage of -p
            // names itself and the pattern.
            let grepWords = spec.syntax == .perl && (place == "-e" || place == "grep stage 1")
            var refused: [String] = []
            var reported = Set<[UInt8]>()
            let origins = spec.syntax == .perl ? patternOrigins(spec) : []
            for (index, pattern) in patterns.enumerated() {
                guard let (why, offset) = RegexMatcher.compileError(pattern, caseless: spec.ignoreCase) else { continue }
                if !grepWords {
                    throw SluiceError(.usage, place: place, "invalid regular expression '\(String(decoding: pattern, as: UTF8.self))': \(why) at offset \(offset)")
                }
                let origin = index < origins.count ? origins[index] : nil
                if reported.insert(pattern).inserted { refused.append((origin.map { "\($0): " } ?? "") + why) }
            }
            try throwRefusals(refused)
        }
        if !literal && patterns.count >= Self.keyedThreshold {
            return try keyedMatcher(patterns, spec: spec, place: place)
        }
        if patterns.count > 1 && !literal && !patterns.allSatisfy(isJoinable) {
            let each = try patterns.map { try regexMatcher([$0], literal: false, spec: spec, place: place).0 }
            return (AnyOfMatcher(each), "any of \(each.count) PCRE2 JIT patterns (one cannot be joined to the others: a back-reference, a named group, a verb or extended mode)")
        }
        return try regexMatcher(patterns, literal: literal, spec: spec, place: place)
    }

    /// What `-o` prints of a selected line: the patterns' matches, as one PCRE2 pattern (the
    /// literal fast paths find lines, not where in them each match is).
    public static func onlyMatching(for spec: GrepSpec, place: String = "-e") throws -> OnlyMatching {
        var warnings: [String] = []
        var (patterns, literal) = try pcrePatterns(for: spec, warnings: &warnings)
        // Literals, longest first: PCRE2 then takes the longest of those matching at a place
        // (POSIX's choice), with no DFA run per match (200 patterns, a line of 160,000 words:
        // 4.8 s with one; grep 0.02 s). -w/-x can reject a longer one: the DFA decides there.
        let longestFirst = literal && spec.syntax != .perl && !spec.wordRegexp && !spec.lineRegexp
        if longestFirst { patterns.sort { $0.count > $1.count } }
        // In order: runs of joinable patterns, at most `checkGroupSize` in one alternation (all
        // of thousands would pass PCRE2's compiled-size limit); one that cannot be joined (a
        // back-reference's number would point into another) alone.
        var groups: [[[UInt8]]] = []
        var run: [[UInt8]] = []
        for pattern in patterns {
            if literal || isJoinable(pattern) {
                run.append(pattern)
                if run.count == checkGroupSize { groups.append(run); run = [] }
            } else {
                if !run.isEmpty { groups.append(run); run = [] }
                groups.append([pattern])
            }
        }
        if !run.isEmpty || groups.isEmpty { groups.append(run) }
        let regexes = try groups.map { try regexMatcher($0, literal: literal, spec: spec, place: place).0 }
        return OnlyMatching(regexes: regexes, longest: spec.syntax != .perl && !longestFirst)
    }

    /// From this many regular expressions on, each runs only on the lines holding a literal
    /// it requires (`KeyedRegexesMatcher`). On 100 MB of the bench corpus with random
    /// `abc.defg` expressions, one PCRE2 alternation of 10 took 0.27 s, of 100 3.1 s (grep
    /// -f: 0.2 s for either).
    static let keyedThreshold = 8

    /// Many regular expressions: those that require a literal (a key) run on the lines one
    /// Aho-Corasick pass finds holding it; the others are joined in alternations of at most
    /// `checkGroupSize` (one of thousands passes PCRE2's compiled-size limit), or stand alone
    /// when they cannot be joined.
    static func keyedMatcher(_ patterns: [[UInt8]], spec: GrepSpec, place: String) throws -> (any Matcher, String) {
        var keyIndex: [[UInt8]: Int] = [:]
        var keys: [[UInt8]] = []
        var expressionsOfKey: [[Int]] = []
        var keyed: [RegexMatcher] = []
        var keyedPatterns: [[UInt8]] = []
        var joinable: [[UInt8]] = []
        var alone: [RegexMatcher] = []
        for pattern in patterns {
            // With -i the automaton folds ASCII case: keys equal when folded are one key.
            if let required = RequiredLiteral.extract(from: pattern) {
                let key = spec.ignoreCase ? required.map { (0x41...0x5A).contains($0) ? $0 + 32 : $0 } : required
                let index = keyIndex[key] ?? {
                    keys.append(key)
                    expressionsOfKey.append([])
                    keyIndex[key] = keys.count - 1
                    return keys.count - 1
                }()
                expressionsOfKey[index].append(keyed.count)
                keyed.append(try regexMatcher([pattern], literal: false, spec: spec, place: place).0)
                keyedPatterns.append(pattern)
            } else if isJoinable(pattern) {
                joinable.append(pattern)
            } else {
                alone.append(try regexMatcher([pattern], literal: false, spec: spec, place: place).0)
            }
        }
        var parts: [any Matcher] = []
        if !keys.isEmpty {
            if let search = MultiLiteralSearch(keys, caseless: spec.ignoreCase, keyed: true) {
                parts.append(KeyedRegexesMatcher(keys: search, expressionsOfKey: expressionsOfKey, regexes: keyed))
            } else {  // no memory for the automaton: they run as the others do
                joinable += keyedPatterns.filter(isJoinable)
                alone += try keyedPatterns.filter { !isJoinable($0) }.map { try regexMatcher([$0], literal: false, spec: spec, place: place).0 }
                keyed = []
            }
        }
        let groups = stride(from: 0, to: joinable.count, by: checkGroupSize).map { Array(joinable[$0..<min($0 + checkGroupSize, joinable.count)]) }
        for group in groups { parts.append(try regexMatcher(group, literal: false, spec: spec, place: place).0) }
        parts += alone as [any Matcher]
        let how = "\(patterns.count) PCRE2 JIT patterns: \(keyed.count) run on the lines holding one of \(keys.count) literals "
            + "(one Aho-Corasick pass), \(joinable.count) in \(groups.count) alternation\(groups.count == 1 ? "" : "s"), \(alone.count) alone"
        return (parts.count == 1 ? parts[0] : AnyOfMatcher(parts), how)
    }

    /// Literal patterns per PCRE2 check of `CandidateLinesMatcher` (well inside the compiled
    /// size limit even for long, escaped patterns).
    static let checkGroupSize = 100

    /// From this many literal patterns on, one Aho-Corasick pass (~750 MB/s whatever their
    /// number) beats PCRE2's alternation, whose JIT is faster for a few (its first-byte scan)
    /// and slower with each one more. On 300 MB of the bench corpus, PCRE2 / Aho-Corasick:
    /// 3 patterns 0.09 / 0.38 s, 10: 0.86 / 0.43 s, 50: 1.36 / 0.41 s, 200: 7.58 / 0.42 s.
    static let multiLiteralThreshold = 8

    /// One PCRE2 matcher for `patterns` joined with `|`, with grep's `-x`/`-w`, the prefilter
    /// and the line-by-line mode as the patterns allow.
    static func regexMatcher(_ patterns: [[UInt8]], literal: Bool, spec: GrepSpec, place: String) throws -> (RegexMatcher, String) {
        let alternatives = patterns.map { literal ? escape($0) : $0 }
        // `\E` ends a `\Q` a pattern left open, so the text that follows stays syntax.
        var regex = alternatives.count == 1 ? alternatives[0]
            : Array(alternatives.map { Array("(?:".utf8) + $0 + Array("\\E)".utf8) }.joined(separator: [UInt8(ascii: "|")]))
        if spec.wordRegexp && !spec.lineRegexp {
            let (verbs, rest) = leadingVerbs(regex)  // `(*UTF)` and the like stay at the start
            // In extended mode a `#` comment runs to a newline: end it before the wrapper's `)`
            // (a newline is blank space there).
            let endComment = usesExtendedMode(rest) ? "\n" : ""
            regex = verbs + Array("(?<![A-Za-z0-9_])(?:".utf8) + rest + Array("\\E\(endComment))(?![A-Za-z0-9_])".utf8)
        }
        let prefilter = patterns.count == 1 && !spec.ignoreCase
            ? (literal ? patterns[0] : RequiredLiteral.extract(from: patterns[0]))
            : nil
        let looksPastItsLine = !literal && patterns.contains(where: canLookPastItsLine)
        // -zP: grep -zP's options on each record (`PerlNulData`).
        let perlNullData = spec.nullData && spec.syntax == .perl && !literal
        let matcher = try RegexMatcher(patternBytes: regex, caseless: spec.ignoreCase, place: place,
                                       prefilter: (prefilter?.count ?? 0) >= 3 ? prefilter : nil,
                                       matchEachLine: looksPastItsLine || perlNullData, wholeLine: spec.lineRegexp,
                                       givingUpEndsRun: spec.syntax == .perl, perlNullData: perlNullData)
        var how = perlNullData ? "PCRE2 JIT record by record (-z)"
            : looksPastItsLine ? "PCRE2 JIT line by line (the pattern looks around)" : "PCRE2 JIT over whole chunks"
        if let prefilter = matcher.prefilter {
            how += ", prefilter \"\(String(decoding: prefilter.needle, as: UTF8.self))\""
        }
        return (matcher, how)
    }

    /// A pattern's leading option settings (`(*UTF)`, `(*CRLF)`, `(*LIMIT_MATCH=9)`), which
    /// PCRE2 accepts only at the very start, and the rest. Backtracking verbs (`(*COMMIT)`,
    /// `(*F)`) stay where they are: their place is their meaning.
    static func leadingVerbs(_ pattern: [UInt8]) -> ([UInt8], [UInt8]) {
        // The verbs are ASCII: split the text form, then the bytes at the same offset.
        let (verbs, _) = leadingVerbs(String(decoding: pattern, as: UTF8.self))
        return (Array(verbs.utf8), Array(pattern[verbs.utf8.count...]))
    }

    static func leadingVerbs(_ pattern: String) -> (String, String) {
        let options: Set<Substring> = ["UTF", "UTF8", "UCP", "NO_AUTO_POSSESS", "NO_DOTSTAR_ANCHOR", "NO_JIT",
                                       "NO_START_OPT", "NOTEMPTY", "NOTEMPTY_ATSTART", "CR", "LF", "CRLF",
                                       "ANYCRLF", "ANY", "NUL", "BSR_ANYCRLF", "BSR_UNICODE"]
        let limits = ["LIMIT_HEAP=", "LIMIT_MATCH=", "LIMIT_DEPTH=", "LIMIT_RECURSION="]
        var rest = Substring(pattern)
        var verbs = ""
        while rest.hasPrefix("(*"), let close = rest.firstIndex(of: ")") {
            let name = rest[rest.index(rest.startIndex, offsetBy: 2)..<close]
            guard options.contains(name) || limits.contains(where: { name.hasPrefix($0) }) else { break }
            verbs += rest[...close]
            rest = rest[rest.index(after: close)...]
        }
        return (verbs, String(rest))
    }

    /// Whether the pattern turns on extended mode (`(?x)`, `(?xx)`, `(?ix:…)`) and never off
    /// (`(?-x)`), so that it ends in it.
    static func usesExtendedMode(_ pattern: [UInt8]) -> Bool {
        var on = false
        var i = pattern.startIndex
        let bytes = pattern
        while let open = bytes[i...].firstIndex(of: UInt8(ascii: "(")) {
            var j = bytes.index(after: open)
            guard j < bytes.endIndex, bytes[j] == UInt8(ascii: "?") else { i = j; continue }
            j = bytes.index(after: j)
            var negative = false
            while j < bytes.endIndex, let c = Optional(bytes[j]),
                  c == UInt8(ascii: "-") || c == UInt8(ascii: "^") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c)
                    || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c) {
                if c == UInt8(ascii: "-") { negative = true }
                if c == UInt8(ascii: "x") { on = !negative }
                j = bytes.index(after: j)
            }
            i = j
        }
        return on
    }

    /// Whether a pattern keeps its meaning inside `(?:…)|(?:…)` after other patterns: not so
    /// for a back-reference or subroutine call by number (`\1`, `\g2`, `(?1)`: the numbers
    /// shift), named groups (two patterns may use one name), `(*VERB)`s (only at the start),
    /// branch resets, and extended mode (a `#` comment would swallow the closing parenthesis).
    static func isJoinable(_ pattern: [UInt8]) -> Bool {
        let bytes = pattern
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            if byte == UInt8(ascii: "\\"), i + 1 < bytes.count {
                let next = bytes[i + 1]
                if next == UInt8(ascii: "Q") {  // literal text up to \E: skip it
                    i += 2
                    while i + 1 < bytes.count && !(bytes[i] == UInt8(ascii: "\\") && bytes[i + 1] == UInt8(ascii: "E")) { i += 1 }
                    i += 2
                    continue
                }
                if (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(next) || next == UInt8(ascii: "g") || next == UInt8(ascii: "k") {
                    return false
                }
                i += 2
                continue
            }
            if byte == UInt8(ascii: "("), i + 1 < bytes.count {
                let next = bytes[i + 1]
                if next == UInt8(ascii: "*") { return false }
                if next == UInt8(ascii: "?"), i + 2 < bytes.count {
                    let kind = bytes[i + 2]
                    // Calls and references by number or name, branch resets, conditionals
                    // (`(?(1)…)` tests a group by number).
                    if "0123456789+-R&P|'(".utf8.contains(kind) { return false }
                    if kind == UInt8(ascii: "<"), i + 3 < bytes.count, bytes[i + 3] != UInt8(ascii: "="), bytes[i + 3] != UInt8(ascii: "!") {
                        return false
                    }
                    // Inline options: (?x), (?ix-s), (?^x:
                    var j = i + 2
                    while j < bytes.count, bytes[j] == UInt8(ascii: "^") || bytes[j] == UInt8(ascii: "-")
                            || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(bytes[j]) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(bytes[j]) {
                        if bytes[j] == UInt8(ascii: "x") { return false }
                        j += 1
                    }
                }
            }
            i += 1
        }
        return true
    }

    /// Whether a pattern may see bytes outside its line when run over a whole buffer
    /// (lookaround, subject anchors, verbs): such patterns are matched one line at a time.
    static func canLookPastItsLine(_ pattern: [UInt8]) -> Bool {
        ["(?=", "(?!", "(?<", "(*", "\\A", "\\Z", "\\z", "\\G", "\\K"].contains { needle in
            let needle = Array(needle.utf8)
            return pattern.count >= needle.count && (0...(pattern.count - needle.count)).contains { pattern[$0..<($0 + needle.count)].elementsEqual(needle) }
        }
    }

    /// `text` as a PCRE2 pattern matching itself literally (non-alphanumeric ASCII escaped).
    public static func escape(_ text: String) -> String {
        String(decoding: escape(Array(text.utf8)), as: UTF8.self)
    }

    /// `bytes` as a PCRE2 pattern matching them literally: ASCII punctuation escaped, bytes of
    /// 0x80 and above left as they are (PCRE2 without UTF reads each as itself).
    static func escape(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            let alphanumeric = (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
            if byte < 0x80 && !alphanumeric { out.append(UInt8(ascii: "\\")) }
            out.append(byte)
        }
        return out
    }
}
