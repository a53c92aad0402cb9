/// A `-P` pattern for grep's `-z`, in the form sluice reads such input (`NulData`: NUL and
/// newline bytes exchanged), so that it selects what grep -zP selects.
///
/// The pattern is compiled with NUL as PCRE2's newline, without multi-line mode and with
/// `$` at the very end only (grep -zP's options), so `.`, `\N`, `^`, `$` and `\Z` treat a
/// NUL (a newline of the input) as grep -zP treats a newline. What the pattern itself says of
/// a newline it must say of a NUL and the reverse: `\n` and the other ways of writing a
/// newline (`\x0a`, `\012`, `\cJ`, `[\n]`) become `\x{00}`, a NUL written out becomes
/// `\x{0a}` (which no line holds, as no record holds a NUL), and the sets that hold a newline
/// (`\s`, `\v`, `\R`, `[[:space:]]`, a range over 10) gain NUL. What cannot be rewritten
/// exactly is refused, naming it: `\S` or `\V` inside a class, `[:^space:]`, `\p`, `\P`, `\X`,
/// the newline conventions (*CRLF), (*ANYCRLF) and (*ANY), `\` and two or more digits (a
/// back-reference or an octal code, as the groups decide), a NUL byte in the pattern.
enum PerlNulData {
    struct Refusal: Error {
        let construct: String
        var message: String { "\(construct) is not supported with -z (--null-data) and -P" }
    }

    static func translate(_ pattern: [UInt8]) throws(Refusal) -> [UInt8] {
        if pattern.contains(0) { throw Refusal(construct: "a NUL byte in the pattern") }
        var rewriter = Rewriter(bytes: pattern)
        try rewriter.run()
        return rewriter.out
    }

    /// `value` written as a PCRE2 escape, in the exchanged form: 10 is `\x{00}`, 0 is `\x{0a}`.
    static func exchangedValue(_ value: Int) -> [UInt8] {
        let exchanged = value == 10 ? 0 : value == 0 ? 10 : value
        return Array("\\x{\(String(exchanged, radix: 16))}".utf8)
    }

    struct Rewriter {
        let bytes: [UInt8]
        var index = 0
        var out: [UInt8] = []

        init(bytes: [UInt8]) {
            self.bytes = bytes
            out.reserveCapacity(bytes.count + 16)
        }

        func peek(_ offset: Int = 0) -> UInt8? {
            index + offset < bytes.count ? bytes[index + offset] : nil
        }

        mutating func copy(_ count: Int) {
            let end = min(bytes.count, index + count)
            out += bytes[index..<end]
            index = end
        }

        mutating func emit(_ text: String) { out += Array(text.utf8) }

        static func isHex(_ byte: UInt8) -> Bool {
            (0x30...0x39).contains(byte) || (0x41...0x46).contains(byte) || (0x61...0x66).contains(byte)
        }

        static func isOctal(_ byte: UInt8) -> Bool { (0x30...0x37).contains(byte) }

        /// At a backslash: the value of a character escape (`\xhh`, `\x{h…}`, `\o{…}`, `\0oo`,
        /// `\cX`, `\n`, and in a class `\ooo`), consumed; nil (nothing consumed) for another escape.
        mutating func valueEscape(inClass: Bool) -> Int? {
            guard let letter = peek(1) else { return nil }
            func number(from start: Int, count: Int, radix: Int) -> Int? {
                Int(String(decoding: bytes[start..<(start + count)], as: UTF8.self), radix: radix)
            }
            switch letter {
            case UInt8(ascii: "n"):
                index += 2
                return 10
            case UInt8(ascii: "x"):
                if peek(2) == UInt8(ascii: "{"), let close = bytes[(index + 3)...].firstIndex(of: UInt8(ascii: "}")),
                   let value = number(from: index + 3, count: close - index - 3, radix: 16) {
                    index = close + 1
                    return value
                }
                var count = 0
                while count < 2, let byte = peek(2 + count), Self.isHex(byte) { count += 1 }
                let value = count == 0 ? 0 : number(from: index + 2, count: count, radix: 16) ?? 0
                index += 2 + count
                return value
            case UInt8(ascii: "o"):
                guard peek(2) == UInt8(ascii: "{"), let close = bytes[(index + 3)...].firstIndex(of: UInt8(ascii: "}")),
                      let value = number(from: index + 3, count: close - index - 3, radix: 8) else { return nil }
                index = close + 1
                return value
            case UInt8(ascii: "c"):
                guard let control = peek(2) else { return nil }
                index += 3
                let upper = (0x61...0x7A).contains(control) ? control - 32 : control
                return Int(upper ^ 0x40)
            case UInt8(ascii: "0")...UInt8(ascii: "7") where letter == UInt8(ascii: "0") || inClass:
                var count = 1
                while count < 3, let byte = peek(1 + count), Self.isOctal(byte) { count += 1 }
                let value = number(from: index + 1, count: count, radix: 8) ?? 0
                index += 1 + count
                return value
            default:
                return nil
            }
        }

        mutating func run() throws(Refusal) {
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\\"):
                    try escapeOutsideClass()
                case UInt8(ascii: "["):
                    try characterClass()
                case UInt8(ascii: "(") where peek(1) == UInt8(ascii: "*"):
                    let close = bytes[index...].firstIndex(of: UInt8(ascii: ")")) ?? bytes.count - 1
                    let name = String(decoding: bytes[(index + 2)..<close], as: UTF8.self)
                    // A newline convention: (*CR) means what it says of the exchanged line
                    // too, (*LF) and (*NUL) trade places; those naming CRLF or any break
                    // cannot be written for a NUL.
                    if ["CRLF", "ANYCRLF", "ANY"].contains(name) {
                        throw Refusal(construct: "the newline convention (*\(name))")
                    }
                    if name == "LF" || name == "NUL" {
                        emit(name == "LF" ? "(*NUL)" : "(*LF)")
                        index = close + 1
                    } else {
                        copy(close + 1 - index)
                    }
                case UInt8(ascii: "(") where peek(1) == UInt8(ascii: "?") && peek(2) == UInt8(ascii: "#"):
                    let close = bytes[index...].firstIndex(of: UInt8(ascii: ")")) ?? bytes.count - 1
                    copy(close + 1 - index)
                default:
                    copy(1)
                }
            }
        }

        mutating func escapeOutsideClass() throws(Refusal) {
            guard let letter = peek(1) else { return copy(1) }
            if let value = valueEscape(inClass: false) {
                out += PerlNulData.exchangedValue(value)
                return
            }
            switch letter {
            case UInt8(ascii: "Q"):
                // Literal text up to `\E`: its bytes are neither NUL nor newline.
                copyQuoted()
            case UInt8(ascii: "s"): index += 2; emit("[\\s\\x{00}]")
            case UInt8(ascii: "S"): index += 2; emit("[^\\s\\x{00}]")
            case UInt8(ascii: "v"): index += 2; emit("[\\v\\x{00}]")
            case UInt8(ascii: "V"): index += 2; emit("[^\\v\\x{00}]")
            // Atomic, as `\R` is: a CRLF of the input is `\r` and a NUL here, one break.
            case UInt8(ascii: "R"): index += 2; emit("(?>\\r\\x{00}|\\x{00}|\\R)")
            case UInt8(ascii: "p"), UInt8(ascii: "P"), UInt8(ascii: "X"):
                throw Refusal(construct: "\\\(Character(UnicodeScalar(letter)))")
            case UInt8(ascii: "1")...UInt8(ascii: "9"):
                if let next = peek(2), (0x30...0x39).contains(next) {
                    throw Refusal(construct: "\\ and two or more digits (a back-reference or an octal code)")
                }
                copy(2)
            default:
                copy(2)
            }
        }

        /// One `[...]` class: its members rewritten, NUL added when it holds a newline.
        mutating func characterClass() throws(Refusal) {
            copy(1)
            if peek() == UInt8(ascii: "^") { copy(1) }
            var addsNul = false
            var first = true
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "]") && !first {
                    if addsNul { emit("\\x{00}") }
                    copy(1)
                    return
                }
                first = false
                if byte == UInt8(ascii: "["), peek(1) == UInt8(ascii: ":"), let close = posixClassEnd() {
                    let name = String(decoding: bytes[(index + 2)..<close], as: UTF8.self)
                    if name == "^space" { throw Refusal(construct: "[:^space:]") }
                    if name == "space" { addsNul = true }
                    copy(close + 2 - index)
                    continue
                }
                if byte == UInt8(ascii: "\\"), let letter = peek(1), valueEscapeStarts(letter) == false {
                    switch letter {
                    case UInt8(ascii: "s"), UInt8(ascii: "v"): addsNul = true
                    case UInt8(ascii: "S"), UInt8(ascii: "V"):
                        throw Refusal(construct: "\\\(Character(UnicodeScalar(letter))) inside a class")
                    case UInt8(ascii: "p"), UInt8(ascii: "P"):
                        throw Refusal(construct: "\\\(Character(UnicodeScalar(letter)))")
                    case UInt8(ascii: "Q"):
                        copyQuoted()
                        continue
                    default: break
                    }
                    copy(2)
                    continue
                }
                // A single character, maybe the start of a range (written as given, unless it
                // is a NUL or a newline).
                let start = index
                let low = member()
                if peek() == UInt8(ascii: "-"), let after = peek(1), after != UInt8(ascii: "]"),
                   !(after == UInt8(ascii: "[") && peek(2) == UInt8(ascii: ":")),
                   !(after == UInt8(ascii: "\\") && !(peek(2).map(valueEscapeStarts) ?? false)) {
                    index += 1
                    let high = member()
                    let coversNewline = low <= 10 && 10 <= high
                    let coversNul = low == 0
                    if coversNewline && !coversNul { addsNul = true }
                    if coversNul && !coversNewline {
                        // 0 to below 10: the NUL is written as the newline it stands for.
                        out += PerlNulData.exchangedValue(0)
                        if high >= 1 { out += Array("\\x{1}-\\x{\(String(high, radix: 16))}".utf8) }
                    } else {
                        out += bytes[start..<index]
                    }
                } else if low == 0 || low == 10 {
                    out += PerlNulData.exchangedValue(low)
                } else {
                    out += bytes[start..<index]
                }
            }
        }

        /// At `[:` in a class: where its `:]` is, nil when a `]` comes first (then `[` is a
        /// member), as PCRE2's check_posix_syntax reads it (`\]` and `\\` skipped).
        func posixClassEnd() -> Int? {
            var at = index + 2
            while at + 1 < bytes.count {
                if bytes[at] == UInt8(ascii: "\\"), bytes[at + 1] == UInt8(ascii: "]") || bytes[at + 1] == UInt8(ascii: "\\") {
                    at += 2
                    continue
                }
                if bytes[at] == UInt8(ascii: "]") { return nil }
                if bytes[at] == UInt8(ascii: ":"), bytes[at + 1] == UInt8(ascii: "]") { return at }
                at += 1
            }
            return nil
        }

        /// At `\Q`: the literal text up to `\E` (or the end) copied as it is (its bytes are
        /// neither NUL nor newline).
        mutating func copyQuoted() {
            let end = (index + 2..<bytes.count).first { bytes[$0] == UInt8(ascii: "\\") && $0 + 1 < bytes.count && bytes[$0 + 1] == UInt8(ascii: "E") }
            copy((end.map { $0 + 2 } ?? bytes.count) - index)
        }

        /// Whether `\letter` in a class is a character written by its code.
        func valueEscapeStarts(_ letter: UInt8) -> Bool {
            letter == UInt8(ascii: "n") || letter == UInt8(ascii: "x") || letter == UInt8(ascii: "o")
                || letter == UInt8(ascii: "c") || Self.isOctal(letter)
                || "aefrtb".utf8.contains(letter) || !PosixPattern.isWordByte(letter)
        }

        /// One class member that is a single character (a byte, or an escape writing one), its
        /// value; consumed.
        mutating func member() -> Int {
            if bytes[index] == UInt8(ascii: "\\"), let letter = peek(1) {
                if let value = valueEscape(inClass: true) { return value }
                index += 2
                switch letter {
                case UInt8(ascii: "a"): return 7
                case UInt8(ascii: "e"): return 27
                case UInt8(ascii: "f"): return 12
                case UInt8(ascii: "r"): return 13
                case UInt8(ascii: "t"): return 9
                case UInt8(ascii: "b"): return 8
                default: return Int(letter)  // `\]`, `\-`, `\\`: the character itself
                }
            }
            index += 1
            return Int(bytes[index - 1])
        }
    }
}
