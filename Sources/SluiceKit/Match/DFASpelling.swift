/// The spelling of a PCRE2 pattern that PCRE2's DFA matcher runs in time linear in the line
/// (`RegexMatcher.dfaMatches`): a single-position item repeated without bound, `X+` or
/// `X{m,}`, is written `XX*` or `X{m}X*`. The lines matched are the same. PCRE2's DFA keeps
/// one state for `X*`, but one per count for `X+` and `X{m,}`, so the threads that its
/// one-pass scan starts at every byte never merge: on a line of 4,096 a's,
/// `(?s:.*?)(?:a+\b)` anchored took 13.9 s and `(?s:.*?)(?:aa*\b)` 0.1 ms (C harness,
/// libpcre2 10.42). The JIT keeps the pattern as written: there `[0-9][0-9]*ms` was slower
/// than `[0-9]+ms` (0.64-0.74 s against 0.48-0.52 s on 300 MB).
enum DFASpelling {
    /// Whether `pattern` may hold an atomic group or a possessive quantifier (`(?>`, `(*`
    /// verbs such as `(*atomic:`, `++`, `*+`, `?+`, `}+`), read loosely: a yes may be wrong,
    /// a no is not. PCRE2's DFA matcher does not follow their semantics under repetition
    /// (`(?>a+)+a` on `aaa`: the DFA finds a match, the backtracking matcher none), so for such
    /// a pattern the DFA never decides a line (`RegexMatcher.decide`).
    static func mayBeAtomic(_ pattern: [UInt8]) -> Bool {
        let p = pattern
        var i = 0
        while i < p.count {
            switch p[i] {
            case UInt8(ascii: "\\"):
                // `\Q…\E` hides classes' ends and marks from this reading: a yes.
                if i + 1 < p.count, p[i + 1] == UInt8(ascii: "Q") { return true }
                i += 2  // an escaped byte is itself, not a mark
                continue
            case UInt8(ascii: "["):
                // A class's bytes are members (`[*+]`); its end is read as `respelled` reads it
                // (a POSIX name's `:]` may end it early here: then the rest is read as
                // outside, which can only say yes more often).
                var j = i + 1
                if j < p.count, p[j] == UInt8(ascii: "^") { j += 1 }
                if j < p.count, p[j] == UInt8(ascii: "]") { j += 1 }
                while j < p.count, p[j] != UInt8(ascii: "]") { j += p[j] == UInt8(ascii: "\\") ? 2 : 1 }
                i = j
            case UInt8(ascii: "("):
                if i + 1 < p.count, p[i + 1] == UInt8(ascii: "*") { return true }
                if i + 2 < p.count, p[i + 1] == UInt8(ascii: "?"), p[i + 2] == UInt8(ascii: ">") { return true }
                // `(?x)` and the like: `#` comments and spaces change the reading: a yes.
                if i + 1 < p.count, p[i + 1] == UInt8(ascii: "?"),
                   p[(i + 2)...].prefix(while: { (0x61...0x7A).contains($0) || (0x41...0x5A).contains($0) || $0 == UInt8(ascii: "^") || $0 == UInt8(ascii: "-") }).contains(UInt8(ascii: "x")) {
                    return true
                }
            case UInt8(ascii: "+"), UInt8(ascii: "*"), UInt8(ascii: "?"), UInt8(ascii: "}"):
                if i + 1 < p.count, p[i + 1] == UInt8(ascii: "+") { return true }
            default:
                break
            }
            i += 1
        }
        return false
    }

    /// `pattern` respelled, or nil when it holds a construct this reader does not follow
    /// (`\Q`, options, verbs, named groups, back-references, Unicode properties): the caller
    /// then keeps the pattern as it is, which is slower on such lines but never wrong.
    static func respelled(_ pattern: [UInt8]) -> [UInt8]? {
        let p = pattern
        var out: [UInt8] = []
        out.reserveCapacity(p.count + 16)
        /// Where the last single-position item starts in `out` (nil: the last thing is not one).
        var lastAtom: Int?
        var i = 0
        func isAlphanumeric(_ byte: UInt8) -> Bool {
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
        }
        /// The end of a `\x{…}` escape starting at `at` (the backslash), nil if it is not one.
        func hexEnd(_ at: Int) -> Int? {
            guard at + 2 < p.count, p[at + 1] == UInt8(ascii: "x"), p[at + 2] == UInt8(ascii: "{"),
                  let close = p[(at + 3)...].firstIndex(of: UInt8(ascii: "}")) else { return nil }
            return close + 1
        }
        /// A lazy or possessive mark right after a quantifier ending at `at`.
        func marked(_ at: Int) -> Bool { at < p.count && (p[at] == UInt8(ascii: "?") || p[at] == UInt8(ascii: "+")) }
        while i < p.count {
            let byte = p[i]
            switch byte {
            case UInt8(ascii: "\\"):
                guard i + 1 < p.count else { return nil }
                let next = p[i + 1]
                if let end = hexEnd(i) {
                    lastAtom = out.count
                    out += p[i..<end]
                    i = end
                    continue
                }
                if "wWsSdDhHvVntrfea".utf8.contains(next) || !isAlphanumeric(next) {
                    lastAtom = out.count
                } else if "bBAzZGE".utf8.contains(next) {
                    lastAtom = nil  // zero-width, or the end of a `\Q` that never began
                } else {
                    return nil
                }
                out += p[i...(i + 1)]
                i += 2
            case UInt8(ascii: "["):
                var j = i + 1
                if j < p.count, p[j] == UInt8(ascii: "^") { j += 1 }
                if j < p.count, p[j] == UInt8(ascii: "]") { j += 1 }
                while j < p.count, p[j] != UInt8(ascii: "]") {
                    if p[j] == UInt8(ascii: "\\") {
                        guard j + 1 < p.count else { return nil }
                        if let end = hexEnd(j) { j = end; continue }
                        if isAlphanumeric(p[j + 1]) && !"wWsSdDhHvVntrfea".utf8.contains(p[j + 1]) { return nil }
                        j += 2
                    } else if p[j] == UInt8(ascii: "["), j + 1 < p.count, p[j + 1] == UInt8(ascii: ":") {
                        // A POSIX name only if `:]` comes before any other `]`, `[` or `\`
                        // (in `[[:]b:]]` PCRE2 reads `[[:]` as a class of `[` and `:`): when
                        // it is not plainly one, the pattern is kept as written.
                        var k = j + 2
                        while k + 1 < p.count, p[k] != UInt8(ascii: ":") || p[k + 1] != UInt8(ascii: "]") {
                            if p[k] == UInt8(ascii: "]") || p[k] == UInt8(ascii: "[") || p[k] == UInt8(ascii: "\\") { return nil }
                            k += 1
                        }
                        guard k + 1 < p.count else { return nil }
                        j = k + 2
                    } else if p[j] == UInt8(ascii: "["), j + 1 < p.count, p[j + 1] == UInt8(ascii: ".") || p[j + 1] == UInt8(ascii: "=") {
                        return nil
                    } else {
                        j += 1
                    }
                }
                guard j < p.count else { return nil }
                lastAtom = out.count
                out += p[i...j]
                i = j + 1
            case UInt8(ascii: "("):
                var opening = 1
                if i + 1 < p.count, p[i + 1] == UInt8(ascii: "?") {
                    let rest = p[(i + 1)...]
                    guard let kind = ["?:", "?=", "?!", "?<=", "?<!"].first(where: { rest.starts(with: $0.utf8) }) else { return nil }
                    opening += kind.utf8.count
                } else if i + 1 < p.count, p[i + 1] == UInt8(ascii: "*") {
                    return nil
                }
                out += p[i..<(i + opening)]
                i += opening
                lastAtom = nil
            case UInt8(ascii: "+"):
                if let atom = lastAtom, !marked(i + 1) {
                    out += Array(out[atom...]) + [UInt8(ascii: "*")]
                } else {
                    out.append(byte)
                }
                lastAtom = nil
                i += 1
            case UInt8(ascii: "{"):
                // `{m}`, `{m,}`, `{m,n}` are quantifiers; any other `{` is a literal (PCRE2).
                var j = i + 1
                while j < p.count, (0x30...0x39).contains(p[j]) { j += 1 }
                let minimum = p[(i + 1)..<j]
                var maximum: ArraySlice<UInt8>? = nil
                if j < p.count, p[j] == UInt8(ascii: ","), !minimum.isEmpty {
                    var k = j + 1
                    while k < p.count, (0x30...0x39).contains(p[k]) { k += 1 }
                    maximum = p[(j + 1)..<k]
                    j = k
                }
                guard !minimum.isEmpty, j < p.count, p[j] == UInt8(ascii: "}") else {
                    lastAtom = out.count  // a literal `{`
                    out.append(byte)
                    i += 1
                    continue
                }
                if let atom = lastAtom, maximum?.isEmpty == true, !marked(j + 1) {
                    let item = Array(out[atom...])
                    out += [UInt8(ascii: "{")] + minimum + [UInt8(ascii: "}")] + item + [UInt8(ascii: "*")]
                } else {
                    out += p[i...j]
                }
                lastAtom = nil
                i = j + 1
            case UInt8(ascii: ")"), UInt8(ascii: "|"), UInt8(ascii: "*"), UInt8(ascii: "?"), UInt8(ascii: "^"), UInt8(ascii: "$"):
                out.append(byte)
                lastAtom = nil
                i += 1
            default:
                lastAtom = out.count
                out.append(byte)
                i += 1
            }
        }
        return out
    }
}
