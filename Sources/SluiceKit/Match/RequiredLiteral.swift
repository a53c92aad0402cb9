/// Finds a string that every match of a regular expression must contain, so `memmem` can
/// skip lines that cannot match.
///
/// Sound by construction: only top-level literal runs count (nothing inside a group, a class,
/// or under `?`/`*`/`{0,`), and any top-level `|` or inline option gives up. Returns the longest
/// such run of at least 3 bytes, or nil.
public enum RequiredLiteral {
    public static func extract(from pattern: String) -> [UInt8]? {
        extract(from: Array(pattern.utf8))
    }

    public static func extract(from p: [UInt8]) -> [UInt8]? {
        var runs: [[UInt8]] = []
        var current: [UInt8] = []
        var i = 0
        func endRun() {
            if !current.isEmpty { runs.append(current); current = [] }
        }
        /// After an atom `atom` (nil: not a literal byte), handle a following quantifier.
        func atom(_ byte: UInt8?, next: Int) -> Int {
            var j = next
            let quantifier: UInt8? = j < p.count ? p[j] : nil
            switch quantifier {
            case UInt8(ascii: "?"), UInt8(ascii: "*"):
                endRun()
                j += 1
            case UInt8(ascii: "+"):
                if let byte { current.append(byte) }
                endRun()
                j += 1
            case UInt8(ascii: "{") where Self.quantifierEnd(p, j) != nil:
                // {n}, {n,} or {n,m} with n >= 1 keeps one copy; {0,...} drops the atom. A `{`
                // that is not such a quantifier (`a{x|b}`) is a literal byte, PCRE2's reading:
                // skipping to the next `}` had passed over a top-level `|`.
                var k = j + 1
                var digits: [UInt8] = []
                while k < p.count, p[k] >= 0x30, p[k] <= 0x39 { digits.append(p[k]); k += 1 }
                let minimum = Int(String(decoding: digits, as: UTF8.self)) ?? 0
                if !digits.isEmpty, minimum >= 1, let byte { current.append(byte) }
                endRun()
                j = Self.quantifierEnd(p, j)!
            default:
                if let byte { current.append(byte) } else { endRun() }
                return j
            }
            if j < p.count, p[j] == UInt8(ascii: "?") || p[j] == UInt8(ascii: "+") { j += 1 }  // lazy/possessive
            return j
        }
        while i < p.count {
            let c = p[i]
            switch c {
            case UInt8(ascii: "|"):
                return nil
            case UInt8(ascii: "("):
                // A verb (`(*ACCEPT)` ends the match there, `(*UTF)` with -i folds `k` with the
                // Kelvin sign): give up.
                if i + 1 < p.count, p[i + 1] == UInt8(ascii: "*") { return nil }
                if i + 1 < p.count, p[i + 1] == UInt8(ascii: "?"), i + 2 < p.count,
                   p[i + 2] != UInt8(ascii: ":"), p[i + 2] != UInt8(ascii: "="), p[i + 2] != UInt8(ascii: "!"),
                   p[i + 2] != UInt8(ascii: "<"), p[i + 2] != UInt8(ascii: ">") {
                    return nil  // inline options such as (?i) change what later text means
                }
                // Skip the group (alternation inside is fine: the group is not a literal).
                var depth = 0
                var j = i
                while j < p.count {
                    if p[j] == UInt8(ascii: "\\") { j += 2; continue }
                    if p[j] == UInt8(ascii: "[") { j = skipClass(p, j); continue }
                    if p[j] == UInt8(ascii: "(") { depth += 1 }
                    if p[j] == UInt8(ascii: ")") { depth -= 1; if depth == 0 { break } }
                    j += 1
                }
                i = atom(nil, next: j + 1)
            case UInt8(ascii: "["):
                i = atom(nil, next: skipClass(p, i))
            case UInt8(ascii: "\\"):
                guard i + 1 < p.count else { return nil }
                let e = p[i + 1]
                let isWordChar = (e >= 0x30 && e <= 0x39) || (e >= 0x41 && e <= 0x5A) || (e >= 0x61 && e <= 0x7A)
                if isWordChar || e >= 0x80 {
                    // Class and assertion escapes stand alone; any other (\x41, \101, \cA, \g1,
                    // \k<n>, \p{L}, \N{U+41}, \Q...) takes arguments: give up rather than guess.
                    guard Array("dDwWsSbBhHvVR".utf8).contains(e) else { return nil }
                    i = atom(nil, next: i + 2)
                } else {
                    i = atom(e, next: i + 2)
                }
            case UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "$"):
                i = atom(nil, next: i + 1)
            case UInt8(ascii: ")"):
                return nil
            default:
                i = atom(c, next: i + 1)
            }
        }
        endRun()
        guard let best = runs.max(by: { $0.count < $1.count }), best.count >= 3 else { return nil }
        return best
    }

    /// The index just past a quantifier `{n}`, `{n,}` or `{n,m}` starting at `start`, nil
    /// when the `{` there is a literal (PCRE2 10.42, grep 3.8's: `{,m}` is a literal too).
    static func quantifierEnd(_ p: [UInt8], _ start: Int) -> Int? {
        var k = start + 1
        func digits() -> Int {
            let first = k
            while k < p.count, p[k] >= 0x30, p[k] <= 0x39 { k += 1 }
            return k - first
        }
        guard digits() > 0, k < p.count else { return nil }
        if p[k] == UInt8(ascii: ",") {
            k += 1
            _ = digits()
        }
        guard k < p.count, p[k] == UInt8(ascii: "}") else { return nil }
        return k + 1
    }

    /// The index just past the character class starting at `start` (`[`).
    static func skipClass(_ p: [UInt8], _ start: Int) -> Int {
        var j = start + 1
        if j < p.count, p[j] == UInt8(ascii: "^") { j += 1 }
        if j < p.count, p[j] == UInt8(ascii: "]") { j += 1 }
        while j < p.count {
            if p[j] == UInt8(ascii: "\\") { j += 2; continue }
            if p[j] == UInt8(ascii: "[") && j + 1 < p.count && p[j + 1] == UInt8(ascii: ":") {
                if let close = p[(j + 2)...].firstIndex(of: UInt8(ascii: "]")) { j = close + 1; continue }
            }
            if p[j] == UInt8(ascii: "]") { return j + 1 }
            j += 1
        }
        return j
    }
}
