/// A `--where` expression, parsed:
///
///     level == "ERROR" and (status >= 500 or exists(error.stack)) and not msg ~ /timeout/i
///
/// Comparisons `== != < <= > >=` of a field with a string or number literal: with a number
/// literal, a value that is a number (a JSON number, or text such as logfmt's `status=503`)
/// compares as a number; everything else compares as bytes (the value's text: decoded strings,
/// numbers as written). `~ /regex/` and `!~` match the value's text (PCRE2, flags `i`, `x`,
/// `s`); `exists(field)`; `and`, `or`, `not` (also `&&`, `||`, `!`), parentheses.
///
/// A field missing from a line (or JSON null) makes every comparison on it false, `!=` and `!~`
/// included: `not (x == 1)` is how to ask for lines without `x == 1`.
public indirect enum WhereExpression: Sendable {
    public enum Comparison: String, Sendable { case equal = "==", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">=" }
    public enum Literal: Sendable, Equatable {
        case string([UInt8])
        case number(Double, [UInt8])
    }

    case compare(slot: Int, Comparison, Literal)
    case match(slot: Int, RegexMatcher, regex: Int, negated: Bool)
    case exists(slot: Int)
    case and(WhereExpression, WhereExpression)
    case or(WhereExpression, WhereExpression)
    case not(WhereExpression)

    /// Parses `text`; field names go into `query` (their slots). Errors are usage errors
    /// that name `place` and the 1-based column.
    public static func parse(_ text: String, query: inout FieldQuery, regexCount: inout Int, place: String = "--where") throws -> WhereExpression {
        var parser = WhereParser(text: Array(text.utf8), place: place)
        let expression = try parser.expression(&query, &regexCount)
        parser.skipBlanks()
        if parser.index < parser.text.count {
            throw parser.error("unexpected '\(parser.rest)' after the end of the expression (join conditions with 'and' or 'or')")
        }
        return expression
    }

    /// Whether the line whose fields are in `slots` satisfies the expression.
    func evaluate(_ slots: FieldSlots, regexScratch: [MatchScratch]) -> Bool {
        switch self {
        case .compare(let slot, let comparison, let literal):
            guard let value = slots.values[slot], value != .null else { return false }
            return Self.compare(value, comparison, literal)
        case .match(let slot, let regex, let index, let negated):
            guard let value = slots.values[slot], value != .null else { return false }
            let text = value.text
            let decision = text.withUnsafeBufferPointer { buffer in
                regex.decide(buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!, length: buffer.count, scratch: regexScratch[index])
            }
            guard case .match = decision else { return negated }
            return !negated
        case .exists(let slot):
            return slots.values[slot] != nil
        case .and(let left, let right):
            return left.evaluate(slots, regexScratch: regexScratch) && right.evaluate(slots, regexScratch: regexScratch)
        case .or(let left, let right):
            return left.evaluate(slots, regexScratch: regexScratch) || right.evaluate(slots, regexScratch: regexScratch)
        case .not(let inner):
            return !inner.evaluate(slots, regexScratch: regexScratch)
        }
    }

    static func compare(_ value: FieldValue, _ comparison: Comparison, _ literal: Literal) -> Bool {
        let order: Int
        switch literal {
        case .number(let number, let raw):
            if let mine = value.number {
                order = mine < number ? -1 : (mine > number ? 1 : 0)
            } else {
                order = byteOrder(value.text, raw)
            }
        case .string(let bytes):
            order = byteOrder(value.text, bytes)
        }
        switch comparison {
        case .equal: return order == 0
        case .notEqual: return order != 0
        case .less: return order < 0
        case .lessOrEqual: return order <= 0
        case .greater: return order > 0
        case .greaterOrEqual: return order >= 0
        }
    }

    static func byteOrder(_ a: [UInt8], _ b: [UInt8]) -> Int {
        let common = min(a.count, b.count)
        let result = a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in common == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, common) } }
        if result != 0 { return result < 0 ? -1 : 1 }
        return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
    }

    /// A string every selected line contains as it is written (`level == "ERROR"` needs
    /// `ERROR`): the literal prefilter. Only literals of printable ASCII other than `"`, `\`
    /// and `/` qualify (JSON and logfmt write those as themselves, unless by a `\u` escape,
    /// which the prefilter looks for too). nil when no conjunct gives one.
    var requiredLiteral: [UInt8]? {
        switch self {
        case .compare(_, .equal, .string(let bytes)):
            guard !bytes.isEmpty, bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C && $0 != 0x2F }) else { return nil }
            return bytes
        case .and(let left, let right):
            switch (left.requiredLiteral, right.requiredLiteral) {
            case (let a?, let b?): return a.count >= b.count ? a : b
            case (let a?, nil): return a
            case (nil, let b): return b
            }
        default:
            return nil
        }
    }
}

/// The recursive-descent parser behind `WhereExpression.parse`.
struct WhereParser {
    let text: [UInt8]
    let place: String
    var index = 0

    init(text: [UInt8], place: String) {
        self.text = text
        self.place = place
    }

    var rest: String { String(decoding: text[index...].prefix(20), as: UTF8.self) }

    func error(_ message: String, at column: Int? = nil) -> SluiceError {
        SluiceError(.usage, place: place, "column \((column ?? index) + 1): \(message)")
    }

    mutating func skipBlanks() {
        while index < text.count && (text[index] == 0x20 || text[index] == 0x09 || text[index] == 0x0A) { index += 1 }
    }

    /// The keyword at the cursor (a whole word), consumed if it is `word`.
    mutating func keyword(_ word: String) -> Bool {
        skipBlanks()
        let bytes = Array(word.utf8)
        guard index + bytes.count <= text.count, Array(text[index..<(index + bytes.count)]) == bytes else { return false }
        if index + bytes.count < text.count, Self.isNameByte(text[index + bytes.count]) { return false }
        index += bytes.count
        return true
    }

    mutating func symbol(_ word: String) -> Bool {
        skipBlanks()
        let bytes = Array(word.utf8)
        guard index + bytes.count <= text.count, Array(text[index..<(index + bytes.count)]) == bytes else { return false }
        index += bytes.count
        return true
    }

    static func isNameStart(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "@")
    }

    static func isNameByte(_ byte: UInt8) -> Bool {
        isNameStart(byte) || (byte >= 0x30 && byte <= 0x39) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
    }

    mutating func expression(_ query: inout FieldQuery, _ regexes: inout Int) throws -> WhereExpression {
        var left = try conjunction(&query, &regexes)
        while keyword("or") || symbol("||") {
            left = .or(left, try conjunction(&query, &regexes))
        }
        return left
    }

    mutating func conjunction(_ query: inout FieldQuery, _ regexes: inout Int) throws -> WhereExpression {
        var left = try negation(&query, &regexes)
        while keyword("and") || symbol("&&") {
            left = .and(left, try negation(&query, &regexes))
        }
        return left
    }

    mutating func negation(_ query: inout FieldQuery, _ regexes: inout Int) throws -> WhereExpression {
        skipBlanks()
        if keyword("not") { return .not(try negation(&query, &regexes)) }
        if index + 1 < text.count, text[index] == UInt8(ascii: "!"), text[index + 1] != UInt8(ascii: "=") && text[index + 1] != UInt8(ascii: "~") {
            index += 1
            return .not(try negation(&query, &regexes))
        }
        return try primary(&query, &regexes)
    }

    mutating func primary(_ query: inout FieldQuery, _ regexes: inout Int) throws -> WhereExpression {
        skipBlanks()
        guard index < text.count else { throw error("expected a condition (a field, 'not', 'exists(' or '(') at the end") }
        if symbol("(") {
            let inner = try expression(&query, &regexes)
            guard symbol(")") else { throw error(index < text.count ? "expected ')' before '\(rest)'" : "expected ')' at the end") }
            return inner
        }
        let start = index
        if keyword("exists") {
            guard symbol("(") else { throw error("expected '(' after exists") }
            skipBlanks()
            let name = try fieldName()
            guard symbol(")") else { throw error("expected ')' after exists(\(name)") }
            return .exists(slot: query.slot(for: name))
        }
        index = start
        let name = try fieldName()
        let slot = query.slot(for: name)
        skipBlanks()
        let operatorColumn = index
        for (spelling, comparison) in [("==", WhereExpression.Comparison.equal), ("!=", .notEqual), ("<=", .lessOrEqual),
                                       (">=", .greaterOrEqual), ("<", .less), (">", .greater)] where symbol(spelling) {
            return .compare(slot: slot, comparison, try literal(after: spelling))
        }
        for (spelling, negated) in [("!~", true), ("=~", false), ("~", false)] where symbol(spelling) {
            let regex = try regexLiteral(after: spelling)
            regexes += 1
            return .match(slot: slot, regex, regex: regexes - 1, negated: negated)
        }
        if symbol("=") { return .compare(slot: slot, .equal, try literal(after: "=")) }
        if index >= text.count {
            throw error("expected a comparison after '\(name)' (==, !=, <, <=, >, >=, ~ /regex/, !~) at the end", at: operatorColumn)
        }
        throw error("expected a comparison after '\(name)' (==, !=, <, <=, >, >=, ~ /regex/, !~), not '\(rest)'", at: operatorColumn)
    }

    mutating func fieldName() throws -> String {
        skipBlanks()
        guard index < text.count else { throw error("expected a field name at the end") }
        if text[index] == UInt8(ascii: "\"") || text[index] == UInt8(ascii: "'") {
            throw error("expected a field name, not a string (the field goes on the left: level == \"ERROR\")")
        }
        guard Self.isNameStart(text[index]) else {
            throw error("expected a field name (letters, digits, _ . - @), not '\(rest)'")
        }
        let start = index
        while index < text.count && Self.isNameByte(text[index]) { index += 1 }
        return String(decoding: text[start..<index], as: UTF8.self)
    }

    mutating func literal(after spelling: String) throws -> WhereExpression.Literal {
        skipBlanks()
        guard index < text.count else { throw error("expected a string or a number after '\(spelling)' at the end") }
        let quote = text[index]
        if quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") {
            let start = index
            index += 1
            var bytes: [UInt8] = []
            while index < text.count && text[index] != quote {
                if text[index] == UInt8(ascii: "\\"), index + 1 < text.count {
                    index += 1
                    switch text[index] {
                    case UInt8(ascii: "n"): bytes.append(0x0A)
                    case UInt8(ascii: "t"): bytes.append(0x09)
                    default: bytes.append(text[index])
                    }
                } else {
                    bytes.append(text[index])
                }
                index += 1
            }
            guard index < text.count else { throw error("this string has no closing \(quote == 0x22 ? "\"" : "'")", at: start) }
            index += 1
            return .string(bytes)
        }
        let start = index
        while index < text.count && (JSONFields.isNumberByte(text[index])) { index += 1 }
        let raw = Array(text[start..<index])
        if !raw.isEmpty, let number = FieldValue.parseNumber(raw[...]),
           index == text.count || !Self.isNameByte(text[index]) {
            return .number(number, raw)
        }
        index = start
        if keyword("true") { return .string(Array("true".utf8)) }
        if keyword("false") { return .string(Array("false".utf8)) }
        throw error("expected a string (\"...\") or a number after '\(spelling)', not '\(rest)'")
    }

    mutating func regexLiteral(after spelling: String) throws -> RegexMatcher {
        skipBlanks()
        let start = index
        guard index < text.count else { throw error("expected /regex/ after '\(spelling)' at the end") }
        let open = text[index]
        let close: UInt8
        switch open {
        case UInt8(ascii: "/"): close = open
        case UInt8(ascii: "\""), UInt8(ascii: "'"): close = open
        default: throw error("expected /regex/ after '\(spelling)', not '\(rest)'")
        }
        index += 1
        var pattern: [UInt8] = []
        while index < text.count && text[index] != close {
            if text[index] == UInt8(ascii: "\\"), index + 1 < text.count, text[index + 1] == close {
                pattern.append(close)
                index += 2
                continue
            }
            pattern.append(text[index])
            index += 1
        }
        guard index < text.count else { throw error("this regex has no closing \(String(UnicodeScalar(close)))", at: start) }
        index += 1
        var flags: [UInt8] = []
        while index < text.count, [UInt8(ascii: "i"), UInt8(ascii: "x"), UInt8(ascii: "s")].contains(text[index]) {
            flags.append(text[index])
            index += 1
        }
        if index < text.count, close == UInt8(ascii: "/"), Self.isNameByte(text[index]) {
            throw error("unknown regex flag '\(String(UnicodeScalar(text[index])))' (the flags are i, x and s)")
        }
        let inline = flags.filter { $0 != UInt8(ascii: "i") }
        let source = inline.isEmpty ? pattern : Array("(?".utf8) + inline + Array(")".utf8) + pattern
        do {
            return try RegexMatcher(patternBytes: source, caseless: flags.contains(UInt8(ascii: "i")), place: place)
        } catch let failure as SluiceError {
            throw error("invalid regex: \(failure.message)", at: start)
        }
    }
}

import Glibc
