/// How a pattern is written: grep's `-G` (basic), `-E` (extended), `-F` (fixed strings) or
/// `-P` (PCRE2's own syntax).
public enum PatternSyntax: Sendable, Equatable {
    case basic, extended, fixed, perl
}

/// GNU grep 3.8's pattern syntaxes (`-G`, `-E`, `-F`) translated to PCRE2 syntax, C locale.
///
/// The output is for an 8-bit, non-UTF compile with `PCRE2_MULTILINE` (PCRE2_CASELESS for
/// `-i` is fine): every byte the source means literally is escaped, bytes >= 0x80 are written
/// `\x{hh}`, groups the source numbers stay capturing with the same numbers (every group added
/// here is `(?:…)`), back-references are `\g{n}`. Nothing the output matches spans a newline
/// (`.`, `[^…]`, `\W`, `\s` exclude it), so it is exact both per line and over a whole buffer.
///
/// Errors are grep's: the message is what `grep` prints after `grep: `, and comes from the
/// first mistake as glibc's regex parser (which grep runs first) finds it; the DFA-only error
/// about `[:space:]` comes only when nothing else is wrong. Warnings (`* at start of
/// expression`, `stray \ before d`) are what grep prints after `grep: `, in grep's order;
/// they are returned, never printed.
public enum PosixPattern {
    /// The PCRE2 pattern (bytes, for an 8-bit non-UTF compile) that selects exactly the lines
    /// `pattern` selects in GNU grep 3.8 -G (`.basic`), -E (`.extended`) or -F (`.fixed`), C
    /// locale; `.perl` comes back unchanged. Throws `SluiceError(.usage, place: place, …)`
    /// with grep's wording for what grep rejects.
    ///
    /// `caseless` is grep's `-i`, which the caller applies as PCRE2_CASELESS; it matters here
    /// only for ranges, which glibc checks with both ends upper-cased: under -i `[a-Z]` is
    /// valid (and matches nothing, as in grep) and `[Z-a]` is "Invalid range end".
    public static func translate(_ pattern: [UInt8], syntax: PatternSyntax, place: String = "-e",
                                 caseless: Bool = false) throws -> [UInt8] {
        var ignored: [String] = []
        return try translate(pattern, syntax: syntax, place: place, caseless: caseless, warnings: &ignored)
    }

    /// As `translate(_:syntax:place:)`; grep's warnings for the pattern (e.g. `warning: stray
    /// \ before d`, printed by grep 3.8 as `grep: warning: stray \ before d`) are appended to
    /// `warnings`, only when the pattern is valid.
    ///
    /// `nullData` (grep's `-z`): for lines read with NUL and newline exchanged (`NulData`),
    /// what the pattern says of a newline (`[[:space:]]`, `\s`, a range) is said of a NUL, and
    /// a NUL in the pattern is written as a newline (no record holds a NUL, no line a newline).
    public static func translate(_ pattern: [UInt8], syntax: PatternSyntax, place: String = "-e",
                                 caseless: Bool = false, nullData: Bool = false, warnings: inout [String]) throws -> [UInt8] {
        switch syntax {
        case .perl:
            return pattern
        case .fixed:
            return pattern.flatMap(escaped)
        case .basic, .extended:
            var translator = Translator(pattern, extended: syntax == .extended, caseless: caseless, nullData: nullData)
            do {
                let output = try translator.run()
                warnings += translator.warnings
                return output
            } catch let error as Failure {
                if error.message == Failure.stackOverflow.message { throw SluiceError(.usage, error.message) }
                throw SluiceError(.usage, place: place, error.message)
            }
        }
    }

    /// Whether the pattern uses back-references (`\1`…`\9`) after translation: PCRE2's DFA
    /// matcher cannot run them. False for an invalid pattern, `.fixed`; for `.perl`, whether
    /// a backslash-digit, `\g` or `\k` appears.
    public static func usesBackReferences(_ pattern: [UInt8], syntax: PatternSyntax) -> Bool {
        switch syntax {
        case .fixed:
            return false
        case .perl:
            return zip(pattern, pattern.dropFirst()).contains { first, second in
                first == UInt8(ascii: "\\") && ((0x31...0x39).contains(second) || second == UInt8(ascii: "g") || second == UInt8(ascii: "k"))
            }
        case .basic, .extended:
            var translator = Translator(pattern, extended: syntax == .extended, caseless: false)
            guard (try? translator.run()) != nil else { return false }
            return translator.usedBackReference
        }
    }

    // MARK: - Errors grep reports (glibc's wording)

    struct Failure: Error {
        let message: String
        static let unmatchedOpen = Failure(message: "Unmatched ( or \\(")
        static let unmatchedClose = Failure(message: "Unmatched ) or \\)")
        static let unmatchedBrace = Failure(message: "Unmatched \\{")
        static let badInterval = Failure(message: "Invalid content of \\{\\}")
        static let tooBig = Failure(message: "Regular expression too big")
        static let badRange = Failure(message: "Invalid range end")
        static let unmatchedBracket = Failure(message: "Unmatched [, [^, [:, [., or [=")
        static let badClassName = Failure(message: "Invalid character class name")
        static let badCollation = Failure(message: "Invalid collation character")
        static let trailingBackslash = Failure(message: "Trailing backslash")
        static let badBackReference = Failure(message: "Invalid back reference")
        static let badPattern = Failure(message: "Invalid regular expression")
        static let confusingBrackets = Failure(message: "character class syntax is [[:space:]], not [:space:]")
        /// Groups nested deeper than `maximumNesting`: GNU grep's parser runs out of its 8 MiB
        /// stack there (10,000 open parentheses: "Unmatched ( or \(", 30,000: this), and says
        /// so alone, with no file or pattern before it (GNU grep's test stack-overflow).
        static let stackOverflow = Failure(message: "stack overflow")
    }

    /// The deepest nesting of groups taken (see `Failure.stackOverflow`).
    static let maximumNesting = 20_000

    /// glibc's RE_DUP_MAX: the largest count an interval may name.
    static let maximumRepeat = 32767

    // MARK: - Output bytes

    /// `byte` as a PCRE2 pattern matching itself, in or out of a class: letters, digits and
    /// `_` as they are, other printable ASCII after a backslash, the rest as `\x{hh}`.
    static func escaped(_ byte: UInt8) -> [UInt8] {
        if isWordByte(byte) { return [byte] }
        if (0x20...0x7E).contains(byte) { return [UInt8(ascii: "\\"), byte] }
        let hex = Array("0123456789abcdef".utf8)
        return Array("\\x{".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 15)], UInt8(ascii: "}")]
    }

    static func isWordByte(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || byte == 0x5F
    }

    /// The bytes of a C-locale character class, nil for a name grep does not know.
    static func classBytes(_ name: [UInt8]) -> [ClosedRange<UInt8>]? {
        switch String(decoding: name, as: UTF8.self) {
        case "alpha": return [0x41...0x5A, 0x61...0x7A]
        case "upper": return [0x41...0x5A]
        case "lower": return [0x61...0x7A]
        case "digit": return [0x30...0x39]
        case "alnum": return [0x30...0x39, 0x41...0x5A, 0x61...0x7A]
        case "xdigit": return [0x30...0x39, 0x41...0x46, 0x61...0x66]
        case "space": return [0x09...0x0D, 0x20...0x20]
        case "blank": return [0x09...0x09, 0x20...0x20]
        case "punct": return [0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E]
        case "print": return [0x20...0x7E]
        case "graph": return [0x21...0x7E]
        case "cntrl": return [0x00...0x1F, 0x7F...0x7F]
        default: return nil
        }
    }

    /// A byte set as a PCRE2 class: `[…]`, or `[^…\n]` when `negated` (the source's `[^…]`,
    /// kept negated so that PCRE2_CASELESS folds it as grep -i does). The newline is never
    /// in it: lines do not hold one.
    static func classPattern(_ members: [Bool], negated: Bool) -> [UInt8] {
        var set = members
        set[0x0A] = false
        var body: [UInt8] = []
        var byte = 0
        while byte < 256 {
            guard set[byte] else { byte += 1; continue }
            var last = byte
            while last + 1 < 256 && set[last + 1] { last += 1 }
            body += escaped(UInt8(byte))
            if last - byte >= 2 { body.append(UInt8(ascii: "-")) }
            if last > byte { body += escaped(UInt8(last)) }
            byte = last + 1
        }
        if negated { return Array("[^".utf8) + body + Array("\\n]".utf8) }
        if body.isEmpty { return Array("(?!)".utf8) }
        return [UInt8(ascii: "[")] + body + [UInt8(ascii: "]")]
    }
}

extension PosixPattern {
    /// One pass over a -G or -E pattern, building PCRE2 text as it goes.
    struct Translator {
        /// One item of a branch: its PCRE2 text and what a following quantifier may do to it.
        struct Piece {
            enum Kind { case atom, quantified, anchor }
            var text: [UInt8]
            var kind: Kind
        }

        /// What grep's parsers need to know about the groups being read.
        struct Frame {
            var number: Int         // 0 for the whole pattern
            var pieces: [Piece] = []
            var branches: [[UInt8]] = []
            var completedAtStart: Set<Int>
            var completedInBranches: Set<Int> = []
        }

        let bytes: [UInt8]
        let extended: Bool
        let caseless: Bool
        var index = 0
        var warnings: [String] = []
        var usedBackReference = false
        var groupCount = 0
        /// Groups a back-reference may name here (glibc: closed, and not in another branch).
        var completed: Set<Int> = []
        var frames: [Frame]
        /// glibc (-E) skips a repetition operator where nothing precedes it (or an anchor
        /// does); a `)` right after makes its `(` unmatched.
        var afterSkippedRepetition = false
        /// Whether glibc would skip a repetition operator read now.
        var glibcAtStart = true
        var confusingBrackets = false

        /// grep's `-z`, for lines with NUL and newline exchanged (see `translate`).
        let nullData: Bool

        init(_ bytes: [UInt8], extended: Bool, caseless: Bool, nullData: Bool = false) {
            self.bytes = bytes
            self.extended = extended
            self.caseless = caseless
            self.nullData = nullData
            frames = [Frame(number: 0, completedAtStart: [])]
        }

        static let backslash = UInt8(ascii: "\\")

        mutating func run() throws -> [UInt8] {
            while index < bytes.count {
                try step()
            }
            if frames.count > 1 { throw Failure.unmatchedOpen }
            if confusingBrackets { throw Failure.confusingBrackets }
            return finishBranches(of: frames[0])
        }

        func finishBranches(of frame: Frame) -> [UInt8] {
            let last = frame.pieces.flatMap(\.text)
            return Array((frame.branches + [last]).joined(separator: [UInt8(ascii: "|")]))
        }

        /// dfa.c's `laststart`: nothing but anchors so far in this branch.
        var atBranchStart: Bool {
            frames[frames.count - 1].pieces.allSatisfy { $0.kind == .anchor }
        }

        var isFirstInBranch: Bool {
            frames[frames.count - 1].pieces.isEmpty
        }

        mutating func append(_ text: [UInt8], _ kind: Piece.Kind) {
            frames[frames.count - 1].pieces.append(Piece(text: text, kind: kind))
            glibcAtStart = kind == .anchor
            afterSkippedRepetition = false
        }

        mutating func literal(_ byte: UInt8) {
            append(PosixPattern.escaped(nullData && byte == 0 ? 0x0A : byte), .atom)
        }

        func peek(_ offset: Int = 0) -> UInt8? {
            index + offset < bytes.count ? bytes[index + offset] : nil
        }

        mutating func step() throws {
            let byte = bytes[index]
            index += 1
            if byte == Self.backslash {
                guard let next = peek() else { throw Failure.trailingBackslash }
                index += 1
                try escape(next)
                return
            }
            switch byte {
            case UInt8(ascii: "["):
                try bracket()
            case UInt8(ascii: "."):
                append(Array("[^\\n]".utf8), .atom)
            case UInt8(ascii: "*"):
                if !extended && atBranchStart {
                    literal(byte)
                } else {
                    repeatLast(min: 0, max: nil, warning: "* at start of expression", glibcSkips: true)
                }
            case UInt8(ascii: "^"):
                if extended || isFirstInBranch { append([byte], .anchor) } else { literal(byte) }
            case UInt8(ascii: "$"):
                if extended || isAtBranchEnd(index) { append([byte], .anchor) } else { literal(byte) }
            case UInt8(ascii: "+") where extended:
                repeatLast(min: 1, max: nil, warning: "+ at start of expression", glibcSkips: true)
            case UInt8(ascii: "?") where extended:
                repeatLast(min: 0, max: 1, warning: "? at start of expression", glibcSkips: true)
            case UInt8(ascii: "{") where extended:
                try interval()
            case UInt8(ascii: "(") where extended:
                try openGroup()
            case UInt8(ascii: ")") where extended:
                if frames.count > 1 { try closeGroup() } else { literal(byte) }
            case UInt8(ascii: "|") where extended:
                alternative()
            default:
                literal(byte)
            }
        }

        /// BRE: whether a `$` ending at `position` is an anchor (pattern end, `\)`, `\|`).
        func isAtBranchEnd(_ position: Int) -> Bool {
            if position == bytes.count { return true }
            guard position + 1 < bytes.count, bytes[position] == Self.backslash else { return false }
            return bytes[position + 1] == UInt8(ascii: ")") || bytes[position + 1] == UInt8(ascii: "|")
        }

        mutating func escape(_ byte: UInt8) throws {
            switch byte {
            case UInt8(ascii: "1")...UInt8(ascii: "9"):
                let number = Int(byte - UInt8(ascii: "0"))
                guard completed.contains(number) else { throw Failure.badBackReference }
                usedBackReference = true
                append(Array("\\g{\(number)}".utf8), .atom)
            case UInt8(ascii: "<"): append(Array("\\b(?=\\w)".utf8), .anchor)
            case UInt8(ascii: ">"): append(Array("\\b(?<=\\w)".utf8), .anchor)
            case UInt8(ascii: "b"): append(Array("\\b".utf8), .anchor)
            case UInt8(ascii: "B"): append(Array("\\B".utf8), .anchor)
            case UInt8(ascii: "`"): append(Array("^".utf8), .anchor)
            case UInt8(ascii: "'"): append(Array("$".utf8), .anchor)
            case UInt8(ascii: "w"): append(Array("\\w".utf8), .atom)
            case UInt8(ascii: "W"): append(Array("[^\\w\\n]".utf8), .atom)
            // -z: a NUL of the exchanged line is a newline of the input, a space.
            case UInt8(ascii: "s"): append(Array((nullData ? "[\\x{00}\\t\\x{0b}-\\r ]" : "[^\\S\\n]").utf8), .atom)
            case UInt8(ascii: "S"): append(Array((nullData ? "[^\\s\\x{00}]" : "\\S").utf8), .atom)
            case UInt8(ascii: "."), UInt8(ascii: "*"), UInt8(ascii: "["), UInt8(ascii: "]"),
                 UInt8(ascii: "^"), UInt8(ascii: "$"), Self.backslash, UInt8(ascii: "}"):
                literal(byte)
            case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "|"), UInt8(ascii: "{"),
                 UInt8(ascii: "+"), UInt8(ascii: "?"):
                if extended {
                    literal(byte)
                    return
                }
                switch byte {
                case UInt8(ascii: "("): try openGroup()
                case UInt8(ascii: ")"):
                    guard frames.count > 1 else { throw Failure.unmatchedClose }
                    try closeGroup()
                case UInt8(ascii: "|"): alternative()
                case _ where atBranchStart:
                    // dfa.c: `\{`, `\+`, `\?` with nothing to repeat are stray backslashes.
                    stray(byte)
                case UInt8(ascii: "{"): try interval()
                case UInt8(ascii: "+"): repeatLast(min: 1, max: nil, warning: nil, glibcSkips: false)
                default: repeatLast(min: 0, max: 1, warning: nil, glibcSkips: false)
                }
            default:
                stray(byte)
            }
        }

        /// grep 3.8: a backslash before a character it gives no meaning matches the character,
        /// with a warning.
        mutating func stray(_ byte: UInt8) {
            if !(0x20...0x7E).contains(byte) {
                warnings.append("warning: stray \\ before unprintable character")
            } else if byte == 0x20 {
                warnings.append("warning: stray \\ before white space")
            } else {
                warnings.append("warning: stray \\ before \(Character(Unicode.Scalar(byte)))")
            }
            literal(byte)
        }

        mutating func openGroup() throws {
            if frames.count > PosixPattern.maximumNesting { throw Failure.stackOverflow }
            groupCount += 1
            afterSkippedRepetition = false
            frames.append(Frame(number: groupCount, completedAtStart: completed))
            glibcAtStart = true
        }

        mutating func alternative() {
            var frame = frames.removeLast()
            frame.branches.append(frame.pieces.flatMap(\.text))
            frame.pieces = []
            frame.completedInBranches.formUnion(completed)
            completed = frame.completedAtStart
            frames.append(frame)
            glibcAtStart = true
            afterSkippedRepetition = false
        }

        mutating func closeGroup() throws {
            if afterSkippedRepetition { throw Failure.unmatchedOpen }
            let frame = frames.removeLast()
            completed.formUnion(frame.completedInBranches)
            if frame.number <= 9 { completed.insert(frame.number) }
            append([UInt8(ascii: "(")] + finishBranches(of: frame) + [UInt8(ascii: ")")], .atom)
        }

        /// Applies a repetition to the last piece of the branch, as dfa.c does: with nothing
        /// before it (-E) it repeats nothing, with a warning; on an anchor (zero-width) it
        /// keeps the anchor or drops it; on a repeated piece it repeats the whole.
        mutating func repeatLast(min: Int, max: Int?, warning: String?, glibcSkips: Bool) {
            let skipped = glibcSkips && extended && glibcAtStart
            if atBranchStart, let warning { warnings.append("warning: " + warning) }
            var frame = frames.removeLast()
            defer {
                frames.append(frame)
                afterSkippedRepetition = skipped
                glibcAtStart = skipped
            }
            guard var last = frame.pieces.popLast() else { return }
            switch last.kind {
            case .anchor:
                if min > 0 { frame.pieces.append(last) }
                return
            case .quantified:
                last.text = Array("(?:".utf8) + last.text + [UInt8(ascii: ")")]
            case .atom:
                break
            }
            switch (min, max) {
            case (0, nil): last.text.append(UInt8(ascii: "*"))
            case (1, nil): last.text.append(UInt8(ascii: "+"))
            case (0, 1): last.text.append(UInt8(ascii: "?"))
            case (_, nil): last.text += Array("{\(min),}".utf8)
            case (_, let max?) where max == min: last.text += Array("{\(min)}".utf8)
            case (_, let max?): last.text += Array("{\(min),\(max)}".utf8)
            }
            last.kind = .quantified
            frame.pieces.append(last)
        }

        // MARK: Intervals

        enum IntervalToken { case close, comma, end }

        /// glibc's `fetch_number`: a number (-1 none, -2 not a number) up to `}` (`\}` in
        /// BRE), `,` or the end, from `position`.
        func fetchNumber(from position: inout Int) -> (Int, IntervalToken) {
            var number = -1
            while true {
                guard position < bytes.count else { return (-2, .end) }
                var byte = bytes[position]
                var isCharacter = true
                position += 1
                if byte == Self.backslash && position < bytes.count {
                    byte = bytes[position]
                    position += 1
                    if !extended && byte == UInt8(ascii: "}") { return (number, .close) }
                    isCharacter = false
                } else if extended && byte == UInt8(ascii: "}") {
                    return (number, .close)
                }
                if isCharacter && byte == UInt8(ascii: ",") { return (number, .comma) }
                if !isCharacter || !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || number == -2 {
                    number = -2
                } else {
                    number = Swift.min(PosixPattern.maximumRepeat + 1, max(number, 0) * 10 + Int(byte - UInt8(ascii: "0")))
                }
            }
        }

        /// `{` (-E) or `\{` (-G) has been read: an interval as glibc reads it; in -E a `{`
        /// that starts none is a literal.
        mutating func interval() throws {
            var position = index
            var (start, token) = fetchNumber(from: &position)
            var end = -2
            if start == -1 {
                guard token == .comma else { throw Failure.badInterval }
                start = 0
            }
            if start != -2 {
                switch token {
                case .close: end = start
                case .comma: (end, token) = fetchNumber(from: &position)
                case .end: end = -2
                }
            }
            if start == -2 || end == -2 {
                guard extended else { throw token == .end ? Failure.unmatchedBrace : Failure.badInterval }
                // A literal `{`; glibc still skips it where it would skip `*`.
                if glibcAtStart && peek() == UInt8(ascii: ")") && frames.count > 1 { throw Failure.unmatchedOpen }
                literal(UInt8(ascii: "{"))
                return
            }
            if (end != -1 && start > end) || token != .close { throw Failure.badInterval }
            if (end == -1 ? start : end) > PosixPattern.maximumRepeat { throw Failure.tooBig }
            index = position
            repeatLast(min: start, max: end == -1 ? nil : end, warning: "{...} at start of expression", glibcSkips: false)
        }

        // MARK: Brackets

        /// `[` has been read: a bracket expression as glibc reads it (errors included), with
        /// dfa.c's check for `[:space:]` written without its outer brackets.
        mutating func bracket() throws {
            var members = [Bool](repeating: false, count: 256)
            guard index < bytes.count else { throw Failure.badPattern }
            var negated = false
            if bytes[index] == UInt8(ascii: "^") {
                negated = true
                index += 1
                guard index < bytes.count else { throw Failure.badPattern }
            }
            // dfa.c's colon_warning_state: 1 starts with ':', 2 last was ':', 4 another
            // character, 8 a class or range.
            var colonState = bytes[index] == UInt8(ascii: ":") ? 1 : 0
            var first = true
            var ranges: [(UInt8, UInt8)] = []
            var usesSymbols = false
            while true {
                guard index < bytes.count else { throw Failure.unmatchedBracket }
                if bytes[index] == UInt8(ascii: "]") && !first {
                    index += 1
                    break
                }
                colonState &= ~2
                let start = try bracketElement(acceptHyphen: first)
                usesSymbols = usesSymbols || bracketedSymbol
                first = false
                guard index < bytes.count else { throw Failure.unmatchedBracket }
                if case .single = start, bytes[index] == UInt8(ascii: "-") {
                    guard index + 1 < bytes.count else { throw Failure.unmatchedBracket }
                    if bytes[index + 1] != UInt8(ascii: "]") {
                        index += 1
                        let end = try bracketElement(acceptHyphen: true)
                        usesSymbols = usesSymbols || bracketedSymbol
                        guard case .single(let low) = start, case .single(let high) = end,
                              caseless ? upper(low) <= upper(high) : low <= high else {
                            throw Failure.badRange
                        }
                        ranges.append((low, high))
                        colonState |= 8
                        continue
                    }
                }
                switch start {
                case .single(let byte):
                    members[Int(byte)] = true
                    if bracketedSymbol { colonState |= 8 } else { colonState |= byte == UInt8(ascii: ":") ? 2 : 4 }
                case .set(let ranges):
                    for range in ranges { for byte in range { members[Int(byte)] = true } }
                    colonState |= 8
                }
            }
            // Under -i grep's DFA matches a range as written (`[a-Z]`: nothing), except in a
            // bracket with `[.c.]` or `[=c=]`, which it leaves to glibc, which upper-cases it.
            for (low, high) in ranges {
                let (from, to) = caseless && usesSymbols ? (upper(low), upper(high)) : (low, high)
                if from <= to { for byte in from...to { members[Int(byte)] = true } }
            }
            if colonState == 7 { confusingBrackets = true }
            if nullData { members.swapAt(0, 0x0A) }
            append(PosixPattern.classPattern(members, negated: negated), .atom)
        }

        /// glibc's upper-casing of a -i pattern (C locale: ASCII letters only).
        func upper(_ byte: UInt8) -> UInt8 {
            (0x61...0x7A).contains(byte) ? byte - 0x20 : byte
        }

        enum BracketElement {
            case single(UInt8)  // a byte or a collating element: may end a range
            case set([ClosedRange<UInt8>])  // a class or an equivalence class: may not
        }

        /// Whether the last bracket element was written `[.c.]` (dfa.c counts it as a class).
        var bracketedSymbol = false

        /// glibc's `parse_bracket_element`: `[:name:]`, `[=c=]`, `[.c.]` or one byte. A `-`
        /// that is neither first, a range's end, nor last is "Invalid range end".
        mutating func bracketElement(acceptHyphen: Bool) throws -> BracketElement {
            let byte = bytes[index]
            if byte == UInt8(ascii: "["), index + 1 < bytes.count,
               let delimiter = Optional(bytes[index + 1]),
               delimiter == UInt8(ascii: ":") || delimiter == UInt8(ascii: ".") || delimiter == UInt8(ascii: "=") {
                var position = index + 2
                var name: [UInt8] = []
                while true {
                    guard position + 1 < bytes.count, name.count < 32 else { throw Failure.unmatchedBracket }
                    if bytes[position] == delimiter && bytes[position + 1] == UInt8(ascii: "]") { break }
                    name.append(bytes[position])
                    position += 1
                }
                index = position + 2
                bracketedSymbol = true
                if delimiter == UInt8(ascii: ":") {
                    guard let ranges = PosixPattern.classBytes(name) else { throw Failure.badClassName }
                    return .set(ranges)
                }
                guard name.count == 1 else { throw Failure.badCollation }
                return delimiter == UInt8(ascii: ".") ? .single(name[0]) : .set([name[0]...name[0]])
            }
            if byte == UInt8(ascii: "-") && !acceptHyphen {
                guard index + 1 < bytes.count else { throw Failure.unmatchedBracket }
                if bytes[index + 1] != UInt8(ascii: "]") { throw Failure.badRange }
            }
            index += 1
            bracketedSymbol = false
            return .single(byte)
        }
    }
}
