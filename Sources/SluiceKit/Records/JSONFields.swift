/// Reads the fields of a `FieldQuery` from one JSON object (a line): nested keys as `a.b`,
/// array items as `a.0`. Objects and arrays no field lies under are skipped without being
/// decoded; reading stops once every field has its value.
///
/// `read` returns false when the line is not a JSON object (or breaks off, or nests deeper than
/// 64 levels): the caller then treats it as text. Bytes after the object (other than blanks)
/// make it not an object, as `jq` refuses them.
struct JSONFields {
    let base: UnsafePointer<UInt8>
    let end: Int
    var position: Int
    /// The path to the value being read, keys joined by `.`: its first `pathCapacity` bytes
    /// (a longer path names no field, so its tail is never needed) and its whole length.
    let pathBytes: UnsafeMutablePointer<UInt8>
    let pathCapacity: Int
    var pathLength = 0
    let names: FieldNames
    /// Read the whole object, and refuse control bytes in strings (JSON's rule), instead of
    /// stopping once the fields asked for are found: `--json` writes the object as it is.
    var validating = false

    static let maximumDepth = 64

    /// Fills `slots` from the object in `line`; false if `line` is not one.
    static func read(_ line: UnsafeBufferPointer<UInt8>, names: FieldNames, into slots: inout FieldSlots,
                     path: PathBuffer, validating: Bool = false) -> Bool {
        guard let base = line.baseAddress else { return false }
        var reader = JSONFields(base: base, end: line.count, position: 0, pathBytes: path.bytes, pathCapacity: path.capacity, names: names)
        reader.validating = validating
        reader.skipBlanks()
        guard reader.position < reader.end, base[reader.position] == UInt8(ascii: "{") else { return false }
        switch reader.value(depth: 0, slots: &slots) {
        case .failed: return false
        case .stopped: return true
        case .done:
            reader.skipBlanks()
            return reader.position == reader.end
        }
    }

    /// Appends `count` bytes at `bytes` to the path (those that fit).
    @inline(__always)
    mutating func appendToPath(_ bytes: UnsafePointer<UInt8>, _ count: Int) {
        if pathLength < pathCapacity {
            memcpy(pathBytes + pathLength, bytes, min(count, pathCapacity - pathLength))
        }
        pathLength += count
    }

    @inline(__always)
    mutating func appendToPath(_ byte: UInt8) {
        if pathLength < pathCapacity { pathBytes[pathLength] = byte }
        pathLength += 1
    }

    /// Appends an array index's decimal digits.
    mutating func appendToPath(number: Int) {
        var divisor = 1
        while number / divisor >= 10 { divisor *= 10 }
        var rest = number
        while divisor > 0 {
            appendToPath(UInt8(0x30 + rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    enum Outcome { case done, stopped, failed }

    @inline(__always)
    mutating func skipBlanks() {
        while position < end {
            let byte = base[position]
            guard byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A else { return }
            position += 1
        }
    }

    /// Reads the value at `position`; `path` names it. Records it when the path is a field.
    mutating func value(depth: Int, slots: inout FieldSlots) -> Outcome {
        guard depth <= Self.maximumDepth else { return .failed }
        skipBlanks()
        guard position < end else { return .failed }
        let start = position
        let wanted = pathLength > 0 ? names.lookup(pathBytes, pathLength) : nil
        switch base[position] {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let open = base[position]
            position += 1
            // The top level is always read; a nested value only where a field lies under it.
            let descend = (open == UInt8(ascii: "{") && pathLength == 0) || (pathLength > 0 && names.descends(into: pathBytes, pathLength))
            if !descend && wanted == nil && !validating { return skipComposite(open: open) ? .done : .failed }
            let outcome = open == UInt8(ascii: "{") ? object(depth: depth, slots: &slots, descend: descend)
                : array(depth: depth, slots: &slots, descend: descend)
            if outcome == .done, let wanted {
                slots.offer(wanted, names: names, .composite(Array(UnsafeBufferPointer(start: base + start, count: position - start))))
            }
            return outcome
        case UInt8(ascii: "\""):
            guard let (contentStart, contentEnd, escaped) = string() else { return .failed }
            if let wanted {
                let text = UnsafeBufferPointer(start: base + contentStart, count: contentEnd - contentStart)
                slots.offer(wanted, names: names, .string(escaped ? Self.decode(text) : Array(text)))
            }
        case UInt8(ascii: "t"):
            guard literal("true") else { return .failed }
            if let wanted { slots.offer(wanted, names: names, .bool(true)) }
        case UInt8(ascii: "f"):
            guard literal("false") else { return .failed }
            if let wanted { slots.offer(wanted, names: names, .bool(false)) }
        case UInt8(ascii: "n"):
            guard literal("null") else { return .failed }
            if let wanted { slots.offer(wanted, names: names, .null) }
        default:
            while position < end, Self.isNumberByte(base[position]) { position += 1 }
            guard position > start else { return .failed }
            let raw = Array(UnsafeBufferPointer(start: base + start, count: position - start))
            guard let number = FieldValue.parseNumber(raw[...]), raw[0] != UInt8(ascii: "+") else { return .failed }
            if validating && !Self.isJSONNumber(raw) { return .failed }
            if let wanted { slots.offer(wanted, names: names, .number(number, raw)) }
        }
        return slots.complete && !validating ? .stopped : .done
    }

    /// JSON's number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    static func isJSONNumber(_ raw: [UInt8]) -> Bool {
        var index = 0
        func digits() -> Int {
            let start = index
            while index < raw.count && raw[index] >= 0x30 && raw[index] <= 0x39 { index += 1 }
            return index - start
        }
        if index < raw.count && raw[index] == UInt8(ascii: "-") { index += 1 }
        guard index < raw.count else { return false }
        if raw[index] == UInt8(ascii: "0") {
            index += 1
        } else if digits() == 0 {
            return false
        }
        if index < raw.count && raw[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { return false }
        }
        if index < raw.count && (raw[index] == UInt8(ascii: "e") || raw[index] == UInt8(ascii: "E")) {
            index += 1
            if index < raw.count && (raw[index] == UInt8(ascii: "+") || raw[index] == UInt8(ascii: "-")) { index += 1 }
            guard digits() > 0 else { return false }
        }
        return index == raw.count
    }

    @inline(__always)
    static func isNumberByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+")
            || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
    }

    mutating func literal(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard end - position >= count, memcmp(base + position, word.utf8Start, count) == 0 else { return false }
        position += count
        return true
    }

    /// The object after its `{`; `descend`: its keys extend the path (else only skipped).
    mutating func object(depth: Int, slots: inout FieldSlots, descend: Bool) -> Outcome {
        let parentLength = pathLength
        skipBlanks()
        if position < end && base[position] == UInt8(ascii: "}") { position += 1; return .done }
        while true {
            skipBlanks()
            guard position < end, base[position] == UInt8(ascii: "\""),
                  let (keyStart, keyEnd, escaped) = string() else { return .failed }
            skipBlanks()
            guard position < end, base[position] == UInt8(ascii: ":") else { return .failed }
            position += 1
            if parentLength > 0 { appendToPath(UInt8(ascii: ".")) }
            if escaped {
                let decoded = Self.decode(UnsafeBufferPointer(start: base + keyStart, count: keyEnd - keyStart))
                decoded.withUnsafeBufferPointer { appendToPath($0.baseAddress ?? base, $0.count) }
            } else {
                appendToPath(base + keyStart, keyEnd - keyStart)
            }
            let outcome = value(depth: depth + 1, slots: &slots)
            pathLength = parentLength
            if outcome != .done { return outcome }
            skipBlanks()
            guard position < end else { return .failed }
            let byte = base[position]
            position += 1
            if byte == UInt8(ascii: "}") { return .done }
            guard byte == UInt8(ascii: ",") else { return .failed }
        }
    }

    mutating func array(depth: Int, slots: inout FieldSlots, descend: Bool) -> Outcome {
        let parentLength = pathLength
        skipBlanks()
        if position < end && base[position] == UInt8(ascii: "]") { position += 1; return .done }
        var index = 0
        while true {
            appendToPath(UInt8(ascii: "."))
            appendToPath(number: index)
            let outcome = value(depth: depth + 1, slots: &slots)
            pathLength = parentLength
            if outcome != .done { return outcome }
            index += 1
            skipBlanks()
            guard position < end else { return .failed }
            let byte = base[position]
            position += 1
            if byte == UInt8(ascii: "]") { return .done }
            guard byte == UInt8(ascii: ",") else { return .failed }
        }
    }

    /// The string at `position` (its `"`): the content's range and whether it holds escapes;
    /// `position` moves past the closing quote. nil when it does not end in this line.
    mutating func string() -> (Int, Int, Bool)? {
        position += 1
        let start = position
        var escaped = false
        while position < end {
            // Most of a string is neither a quote nor a backslash: memchr-free byte loop, as
            // strings in logs are short (measured no faster with memchr pairs).
            let byte = base[position]
            if byte == UInt8(ascii: "\"") {
                position += 1
                return (start, position - 1, escaped)
            }
            if byte == UInt8(ascii: "\\") {
                escaped = true
                position += 2
                continue
            }
            if validating && byte < 0x20 { return nil }
            position += 1
        }
        return nil
    }

    /// Skips an object or array after its opening bracket, strings included.
    mutating func skipComposite(open: UInt8) -> Bool {
        var depth = 1
        while position < end {
            let byte = base[position]
            switch byte {
            case UInt8(ascii: "\""):
                guard string() != nil else { return false }
                continue
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                guard depth <= Self.maximumDepth else { return false }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 { position += 1; return true }
            default: break
            }
            position += 1
        }
        return false
    }

    /// A JSON string's content with its escapes decoded (`\uD83D\uDE00` as one UTF-8 scalar;
    /// a lone surrogate as U+FFFD, as jq writes it).
    static func decode(_ text: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var index = 0
        func hex4(_ at: Int) -> UInt32? {
            guard at + 4 <= text.count else { return nil }
            var value: UInt32 = 0
            for offset in 0..<4 {
                let byte = text[at + offset]
                let digit: UInt32
                switch byte {
                case 0x30...0x39: digit = UInt32(byte - 0x30)
                case 0x41...0x46: digit = UInt32(byte - 0x41 + 10)
                case 0x61...0x66: digit = UInt32(byte - 0x61 + 10)
                default: return nil
                }
                value = value << 4 | digit
            }
            return value
        }
        while index < text.count {
            let byte = text[index]
            guard byte == UInt8(ascii: "\\"), index + 1 < text.count else {
                out.append(byte)
                index += 1
                continue
            }
            let escape = text[index + 1]
            index += 2
            switch escape {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                guard var scalar = hex4(index) else { out += [0x5C, escape]; continue }
                index += 4
                if (0xD800..<0xDC00).contains(scalar) {
                    if index + 6 <= text.count, text[index] == UInt8(ascii: "\\"), text[index + 1] == UInt8(ascii: "u"),
                       let low = hex4(index + 2), (0xDC00..<0xE000).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        index += 6
                    } else {
                        scalar = 0xFFFD
                    }
                } else if (0xDC00..<0xE000).contains(scalar) {
                    scalar = 0xFFFD
                }
                out += Array(String(Character(Unicode.Scalar(scalar)!)).utf8)
            default: out.append(escape)  // \" \\ \/
            }
        }
        return out
    }
}

import Glibc

/// A JSON path's working memory, long enough for the query's longest name: made per chunk.
final class PathBuffer {
    let bytes: UnsafeMutablePointer<UInt8>
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        bytes = .allocate(capacity: self.capacity)
    }

    deinit { bytes.deallocate() }
}
