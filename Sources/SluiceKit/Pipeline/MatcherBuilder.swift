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
        let alternatives = patterns.map { literal ? escape($0) : $0 }
        var regex = alternatives.count == 1 ? alternatives[0] : alternatives.map { "(?:\($0))" }.joined(separator: "|")
        if spec.lineRegexp {
            regex = "^(?:\(regex))$"
        } else if spec.wordRegexp {
            regex = "(?<![A-Za-z0-9_])(?:\(regex))(?![A-Za-z0-9_])"
        }
        let prefilter = patterns.count == 1 && !spec.ignoreCase
            ? (literal ? Array(patterns[0].utf8) : RequiredLiteral.extract(from: patterns[0]))
            : nil
        let looksPastItsLine = !literal && patterns.contains(where: canLookPastItsLine)
        let matcher = try RegexMatcher(pattern: regex, caseless: spec.ignoreCase, place: place,
                                       prefilter: (prefilter?.count ?? 0) >= 3 ? prefilter : nil,
                                       matchEachLine: looksPastItsLine)
        var how = looksPastItsLine ? "PCRE2 JIT line by line (the pattern looks around)" : "PCRE2 JIT over whole chunks"
        if let prefilter = matcher.prefilter {
            how += ", prefilter \"\(String(decoding: prefilter.needle, as: UTF8.self))\""
        }
        return (matcher, how)
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
