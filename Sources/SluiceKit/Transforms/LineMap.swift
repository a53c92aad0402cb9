import CPCRE2

/// A `--map` transform: a one-line-in, one-line-out rewrite of each line's bytes.
public enum MapSpec: Sendable, Equatable, CustomStringConvertible {
    /// ASCII letters to upper case (as `LC_ALL=C tr a-z A-Z`).
    case upper
    /// ASCII letters to lower case.
    case lower
    /// Strips spaces, tabs, CR, VT and FF from both ends of each line.
    case trim
    /// sed-like substitution; `global` replaces every match, `caseless` ignores case.
    case substitute(pattern: String, replacement: String, global: Bool, caseless: Bool)

    /// Parses `upper`, `lower`, `trim` or `s/RE/REPLACEMENT/[gi]` (any delimiter after `s`,
    /// escaped inside with a backslash).
    public init(parsing text: String) throws {
        switch text {
        case "upper": self = .upper; return
        case "lower": self = .lower; return
        case "trim": self = .trim; return
        default: break
        }
        let chars = Array(text)
        let unknown = SluiceError(.usage, place: "--map", "unknown transform '\(text)' (expected upper, lower, trim or s/REGEX/REPLACEMENT/[gi])")
        // Any delimiter but backslash and newline, letters and digits included, as in GNU sed.
        guard chars.count >= 2, chars[0] == "s", chars[1] != "\\", chars[1] != "\n" else { throw unknown }
        let delimiter = chars[1]
        var parts: [String] = []
        var current = ""
        var i = 2
        while i < chars.count && parts.count < 2 {
            let c = chars[i]
            if c == "\\" && i + 1 < chars.count && chars[i + 1] == delimiter {
                current.append(delimiter)
                i += 2
                continue
            }
            if c == "\\" && i + 1 < chars.count {
                current.append(c)
                current.append(chars[i + 1])
                i += 2
                continue
            }
            if c == delimiter {
                parts.append(current)
                current = ""
                i += 1
                continue
            }
            current.append(c)
            i += 1
        }
        guard parts.count == 2 else {
            if chars[1].isLetter || chars[1].isNumber { throw unknown }  // `strip`: not meant as s///
            throw SluiceError(.usage, place: "--map", "unterminated substitution '\(text)' (expected s\(delimiter)REGEX\(delimiter)REPLACEMENT\(delimiter)[gi])")
        }
        var global = false
        var caseless = false
        for flag in chars[i...] {
            switch flag {
            case "g": global = true
            case "i", "I": caseless = true
            default:
                throw SluiceError(.usage, place: "--map", "unknown substitution flag '\(flag)' in '\(text)' (expected g or i)")
            }
        }
        self = .substitute(pattern: parts[0], replacement: parts[1], global: global, caseless: caseless)
    }

    public var description: String {
        switch self {
        case .upper: "upper"
        case .lower: "lower"
        case .trim: "trim"
        case let .substitute(pattern, replacement, global, caseless):
            "s/\(Self.escapeSlashes(pattern))/\(Self.escapeSlashes(replacement))/\(global ? "g" : "")\(caseless ? "i" : "")"
        }
    }

    static func escapeSlashes(_ text: String) -> String {
        text.split(separator: "/", omittingEmptySubsequences: false).joined(separator: "\\/")
    }

    /// The step that carries out this transform.
    public func makeStep() throws -> any ChunkStep {
        switch self {
        case .upper: return CaseMap(upper: true)
        case .lower: return CaseMap(upper: false)
        case .trim: return TrimMap()
        case let .substitute(pattern, replacement, global, caseless):
            return try SubstituteMap(pattern: pattern, replacement: replacement, global: global, caseless: caseless)
        }
    }
}

/// ASCII case mapping over the whole buffer at once (newlines are unaffected).
struct CaseMap: ChunkStep {
    let upper: Bool
    func apply(_ chunk: LineChunk) -> LineChunk {
        var chunk = chunk
        let (low, high): (UInt8, UInt8) = upper ? (0x61, 0x7A) : (0x41, 0x5A)
        chunk.withUnsafeMutableBufferPointer { buffer in
            for i in buffer.indices {
                let byte = buffer[i]
                if byte &- low <= high &- low { buffer[i] = byte ^ 0x20 }
            }
        }
        return chunk
    }
}

/// Strips blanks from both ends of each line.
struct TrimMap: ChunkStep {
    @inline(__always)
    static func isBlank(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0B || byte == 0x0C
    }

    func apply(_ chunk: LineChunk) -> LineChunk {
        var out: [UInt8] = []
        out.reserveCapacity(chunk.byteCount)
        var lines = 0
        chunk.forEachLine { line in
            var start = 0
            var end = line.count
            while start < end && Self.isBlank(line[start]) { start += 1 }
            while end > start && Self.isBlank(line[end - 1]) { end -= 1 }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: line[start..<end]))
            out.append(0x0A)
            lines += 1
        }
        return LineChunk(bytes: out, lineCount: lines, notes: chunk.notes, inputByteCount: chunk.inputByteCount)
    }
}

/// `s/REGEX/REPLACEMENT/[gi]` with PCRE2, per line. In the replacement, `$N`, `${N}` and `\N`
/// insert capture N (empty if it did not take part), `$0` and `&` the whole match, `\&`, `\$`
/// and `\\` the character itself, and `\n`, `\t` a newline or a tab.
final class SubstituteMap: ChunkStep, @unchecked Sendable {
    // `@unchecked`: the matcher is immutable and thread-safe (see RegexMatcher); `template`
    // is immutable.
    enum Piece { case literal([UInt8]), group(Int) }
    /// The template flattened for the per-match loop (no reference counting there): each step
    /// is a capture group, or (`group < 0`) the bytes `literals[start ..< start + count]`.
    struct Step { var group: Int; var start: Int; var count: Int }
    let matcher: RegexMatcher
    let template: [Piece]
    let steps: [Step]
    let literals: [UInt8]
    let global: Bool
    /// Whether the replacement can insert a newline (`\n`): if not, lines in = lines out,
    /// and the output's line count is known without scanning it.
    let insertsNewlines: Bool

    init(pattern: String, replacement: String, global: Bool, caseless: Bool) throws {
        matcher = try RegexMatcher(pattern: pattern, caseless: caseless, place: "--map s///")
        self.global = global
        let code = matcher.code
        template = try Self.parse(Array(replacement.utf8)) { name in
            let number = pcre2_substring_number_from_name_8(code, name)
            guard number > 0 else {
                throw SluiceError(.usage, place: "--map", "replacement refers to group '\(name)' but '\(pattern)' has no group of that name")
            }
            return Int(number)
        }
        var steps: [Step] = []
        var literals: [UInt8] = []
        for piece in template {
            switch piece {
            case .literal(let bytes):
                steps.append(Step(group: -1, start: literals.count, count: bytes.count))
                literals.append(contentsOf: bytes)
            case .group(let n):
                steps.append(Step(group: n, start: 0, count: 0))
            }
        }
        self.steps = steps
        self.literals = literals
        insertsNewlines = literals.contains(0x0A)
        let groups = Int(Self.captureCount(matcher))
        for case .group(let n) in template where n > groups {
            throw SluiceError(.usage, place: "--map", "replacement refers to group \(n) but '\(pattern)' has \(groups)")
        }
    }

    static func captureCount(_ matcher: RegexMatcher) -> UInt32 {
        var count: UInt32 = 0
        pcre2_pattern_info_8(matcher.code, UInt32(PCRE2_INFO_CAPTURECOUNT), &count)
        return count
    }

    /// The replacement's pieces: `$N`, `${N}`, `\N`, `$0`/`&` (the match), `${name}` (a named
    /// group, numbered by `number(name)`), `\n`, `\t`; a backslash before any other
    /// punctuation makes it literal. Other escapes (sed's `\U`, `\L`) are an error rather than
    /// silently dropped.
    static func parse(_ r: [UInt8], number: (String) throws -> Int = { _ in 0 }) throws -> [Piece] {
        var pieces: [Piece] = []
        var literal: [UInt8] = []
        func flush() { if !literal.isEmpty { pieces.append(.literal(literal)); literal = [] } }
        func digits(_ from: Int) -> (Int, Int)? {
            var j = from
            var value = 0
            while j < r.count, r[j] >= 0x30, r[j] <= 0x39, j - from < 3 { value = value * 10 + Int(r[j] - 0x30); j += 1 }
            return j > from ? (value, j) : nil
        }
        var i = 0
        while i < r.count {
            let c = r[i]
            if c == UInt8(ascii: "$") {
                if i + 1 < r.count, r[i + 1] == UInt8(ascii: "{"), let (n, j) = digits(i + 2), j < r.count, r[j] == UInt8(ascii: "}") {
                    flush(); pieces.append(.group(n)); i = j + 1; continue
                }
                if let (n, j) = digits(i + 1) { flush(); pieces.append(.group(n)); i = j; continue }
                if i + 1 < r.count, r[i + 1] == UInt8(ascii: "{"), let close = r[(i + 2)...].firstIndex(of: UInt8(ascii: "}")) {
                    let name = String(decoding: r[(i + 2)..<close], as: UTF8.self)
                    if let first = name.unicodeScalars.first, first == "_" || first.properties.isAlphabetic,
                       name.unicodeScalars.allSatisfy({ $0 == "_" || ($0.isASCII && $0.properties.isAlphabetic) || ("0"..."9").contains($0) }) {
                        flush(); pieces.append(.group(try number(name))); i = close + 1; continue
                    }
                }
                literal.append(c); i += 1; continue
            }
            if c == UInt8(ascii: "&") { flush(); pieces.append(.group(0)); i += 1; continue }
            if c == UInt8(ascii: "\\"), i + 1 < r.count {
                let e = r[i + 1]
                if e >= 0x30 && e <= 0x39 { flush(); pieces.append(.group(Int(e - 0x30))); i += 2; continue }
                switch e {
                case UInt8(ascii: "n"): literal.append(0x0A)
                case UInt8(ascii: "t"): literal.append(0x09)
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"):
                    throw SluiceError(.usage, place: "--map", "unsupported escape '\\\(UnicodeScalar(e))' in the replacement "
                        + "(known: \\n, \\t, \\0-\\9, $N, ${N}, ${name}, & and \\ before punctuation)")
                default: literal.append(e)
                }
                i += 2
                continue
            }
            literal.append(c)
            i += 1
        }
        flush()
        return pieces
    }

    func apply(_ chunk: LineChunk) -> LineChunk {
        var out: [UInt8] = []
        out.reserveCapacity(chunk.byteCount + chunk.byteCount / 8)
        let scratch = matcher.makeScratch()
        let data = scratch.pointer
        var lines = 0
        steps.withUnsafeBufferPointer { steps in
        literals.withUnsafeBufferPointer { literals in
        chunk.forEachLine { line in
            lines += 1
            guard let base = line.baseAddress else { out.append(0x0A); return }
            var copied = 0
            var offset = 0
            while offset <= line.count {
                let rc = matcher.matchResult(base, length: line.count, offset: offset, data: data)
                guard rc > 0 else { break }
                let ovector = pcre2_get_ovector_pointer_8(data)!
                let (start, end) = (ovector[0], ovector[1])
                out.append(contentsOf: UnsafeBufferPointer(start: base + copied, count: start - copied))
                for step in steps {
                    if step.group < 0 {
                        out.append(contentsOf: UnsafeBufferPointer(rebasing: literals[step.start..<(step.start + step.count)]))
                        continue
                    }
                    let n = step.group
                    guard n < Int(rc) else { continue }
                    let s = ovector[2 * n], e = ovector[2 * n + 1]
                    if s != sluice_pcre2_unset() && e >= s {
                        out.append(contentsOf: UnsafeBufferPointer(start: base + s, count: e - s))
                    }
                }
                copied = end
                if !global { break }
                if end == start {
                    // An empty match: copy one byte and move on (perl's rule: s/b*/-/g on abc gives -a--c-).
                    if end < line.count { out.append(base[end]) }
                    copied = end + 1
                    offset = end + 1
                } else {
                    offset = end
                }
            }
            if copied < line.count {
                out.append(contentsOf: UnsafeBufferPointer(start: base + copied, count: line.count - copied))
            }
            out.append(0x0A)
        }
        }
        }
        return LineChunk(bytes: out, lineCount: insertsNewlines ? nil : lines, notes: chunk.notes, inputByteCount: chunk.inputByteCount)
    }
}
