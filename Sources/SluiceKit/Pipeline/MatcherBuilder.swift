/// Turns a `GrepSpec` into the fastest sound `LineFilter`: `memmem` for one case-sensitive
/// literal, PCRE2 JIT (with a required-literal prefilter where one exists) for the rest.
public enum MatcherBuilder {
    static let metacharacters = Set("\\^$.[]|()?*+{}".utf8)

    public static func isLiteral(_ pattern: String) -> Bool {
        !pattern.utf8.contains(where: metacharacters.contains)
    }

    /// The matcher for `spec`, and a short description for `--explain`.
    public static func matcher(for spec: GrepSpec, place: String = "-e") throws -> (any Matcher, String) {
        // Split on the newline byte (a Character split would keep "\r\n" whole).
        let patterns = spec.patterns.flatMap { pattern in
            Array(pattern.utf8).split(separator: 0x0A, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        }
        let literal = spec.fixedStrings || patterns.allSatisfy(isLiteral)
        let plain = !spec.ignoreCase && !spec.wordRegexp && !spec.lineRegexp
        if plain && literal && patterns.contains("") {
            return (MatchEverything(), "every line (empty pattern)")
        }
        if plain && literal && patterns.count == 1 {
            return (LiteralMatcher(Array(patterns[0].utf8)), "literal, SIMD search over whole chunks")
        }
        // Many literals: one Aho-Corasick pass finds the lines, exact for -F and -i; with -w/-x
        // it finds the candidate lines PCRE2 then checks.
        let manyLiterals = literal && patterns.count >= Self.multiLiteralThreshold
            ? MultiLiteralSearch(patterns.map { Array($0.utf8) }, caseless: spec.ignoreCase) : nil
        if let manyLiterals, !spec.wordRegexp && !spec.lineRegexp {
            return (MultiLiteralMatcher(manyLiterals), "\(patterns.count) literal\(patterns.count == 1 ? "" : "s")\(spec.ignoreCase ? " (ASCII case folded)" : ""), one Aho-Corasick pass over whole chunks")
        }
        for pattern in patterns where !literal {
            if let why = RegexMatcher.compileError(pattern, caseless: spec.ignoreCase) {
                throw SluiceError(.usage, place: place, "invalid regular expression '\(pattern)': \(why)")
            }
        }
        if patterns.count > 1 && !literal && !patterns.allSatisfy(isJoinable) {
            let each = try patterns.map { try regexMatcher([$0], literal: false, spec: spec, place: place).0 }
            return (AnyOfMatcher(each), "any of \(each.count) PCRE2 JIT patterns (one cannot be joined to the others: a back-reference, a named group, a verb or extended mode)")
        }
        return try regexMatcher(patterns, literal: literal, spec: spec, place: place, anyLiteral: manyLiterals)
    }

    /// From this many literal patterns on, one Aho-Corasick pass (~750 MB/s whatever their
    /// number) beats PCRE2's alternation, whose JIT is faster for a few (its first-byte scan)
    /// and slower with each one more. On 300 MB of the bench corpus, PCRE2 / Aho-Corasick:
    /// 3 patterns 0.09 / 0.38 s, 10: 0.86 / 0.43 s, 50: 1.36 / 0.41 s, 200: 7.58 / 0.42 s.
    static let multiLiteralThreshold = 8

    /// One PCRE2 matcher for `patterns` joined with `|`, with grep's `-x`/`-w`, the prefilter
    /// and the line-by-line mode as the patterns allow.
    static func regexMatcher(_ patterns: [String], literal: Bool, spec: GrepSpec, place: String,
                             anyLiteral: MultiLiteralSearch? = nil) throws -> (RegexMatcher, String) {
        let alternatives = patterns.map { literal ? escape($0) : $0 }
        // `\E` ends a `\Q` a pattern left open, so the text that follows stays syntax.
        var regex = alternatives.count == 1 ? alternatives[0] : alternatives.map { "(?:\($0)\\E)" }.joined(separator: "|")
        if spec.wordRegexp && !spec.lineRegexp {
            let (verbs, rest) = leadingVerbs(regex)  // `(*UTF)` and the like stay at the start
            regex = "\(verbs)(?<![A-Za-z0-9_])(?:\(rest)\\E)(?![A-Za-z0-9_])"
        }
        let prefilter = patterns.count == 1 && !spec.ignoreCase
            ? (literal ? Array(patterns[0].utf8) : RequiredLiteral.extract(from: patterns[0]))
            : nil
        let looksPastItsLine = !literal && patterns.contains(where: canLookPastItsLine)
        let matcher = try RegexMatcher(pattern: regex, caseless: spec.ignoreCase, place: place,
                                       prefilter: (prefilter?.count ?? 0) >= 3 ? prefilter : nil,
                                       anyLiteral: (prefilter?.count ?? 0) >= 3 ? nil : anyLiteral,
                                       matchEachLine: looksPastItsLine, wholeLine: spec.lineRegexp)
        var how = looksPastItsLine ? "PCRE2 JIT line by line (the pattern looks around)" : "PCRE2 JIT over whole chunks"
        if let prefilter = matcher.prefilter {
            how += ", prefilter \"\(String(decoding: prefilter.needle, as: UTF8.self))\""
        } else if let anyLiteral = matcher.anyLiteral {
            how += ", prefilter: any of \(anyLiteral.needles.count) literals (Aho-Corasick)"
        }
        return (matcher, how)
    }

    /// A pattern's leading `(*VERB)`s (`(*UTF)`, `(*CRLF)`, `(*LIMIT_MATCH=9)`), which PCRE2
    /// accepts only at the very start, and the rest.
    static func leadingVerbs(_ pattern: String) -> (String, String) {
        var rest = Substring(pattern)
        var verbs = ""
        while rest.hasPrefix("(*"), let close = rest.firstIndex(of: ")"),
              rest[rest.index(rest.startIndex, offsetBy: 2)..<close].allSatisfy({ $0.isUppercase || $0.isNumber || $0 == "_" || $0 == "=" }) {
            verbs += rest[...close]
            rest = rest[rest.index(after: close)...]
        }
        return (verbs, String(rest))
    }

    /// Whether a pattern keeps its meaning inside `(?:…)|(?:…)` after other patterns: not so
    /// for a back-reference or subroutine call by number (`\1`, `\g2`, `(?1)`: the numbers
    /// shift), named groups (two patterns may use one name), `(*VERB)`s (only at the start),
    /// branch resets, and extended mode (a `#` comment would swallow the closing parenthesis).
    static func isJoinable(_ pattern: String) -> Bool {
        let bytes = Array(pattern.utf8)
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
                    if "0123456789+-R&P|'".utf8.contains(kind) { return false }
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
    static func canLookPastItsLine(_ pattern: String) -> Bool {
        ["(?=", "(?!", "(?<", "(*", "\\A", "\\Z", "\\z", "\\G", "\\K"].contains { pattern.contains($0) }
    }

    /// `text` as a PCRE2 pattern matching itself literally (non-alphanumeric ASCII escaped).
    public static func escape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x80 && !(scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)) {
                out.append("\\")
            }
            out.unicodeScalars.append(scalar)
        }
        return out
    }
}
