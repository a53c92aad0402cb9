import Glibc

/// A field's value as read from a line: a JSON value, a logfmt value (always text), or a part
/// of a text log line (its timestamp, level, component, message, or a `key=value` in it).
public enum FieldValue: Sendable, Equatable {
    /// Text, escapes decoded (`"a\"b"` is `a"b`).
    case string([UInt8])
    /// A JSON number: its value and its text as written (`5e2` is 500, written `5e2`).
    case number(Double, [UInt8])
    case bool(Bool)
    case null
    /// A JSON object or array: its text as written.
    case composite([UInt8])

    /// The value as text: decoded strings, numbers as written, `true`, `false`, `null`, objects
    /// and arrays as written. What `--fields`, `--template` and `--count-by` print.
    public var text: [UInt8] {
        switch self {
        case .string(let bytes): bytes
        case .number(_, let raw): raw
        case .bool(let value): value ? Array("true".utf8) : Array("false".utf8)
        case .null: Array("null".utf8)
        case .composite(let raw): raw
        }
    }

    /// The value as a number: a JSON number, or text that is a whole decimal number (`500`,
    /// `-1.5`, `2e3`) as a logfmt or text field holds one; nil otherwise.
    public var number: Double? {
        switch self {
        case .number(let value, _): value
        case .string(let bytes): Self.parseNumber(bytes[...])
        default: nil
        }
    }

    /// `bytes` as a decimal number (JSON's grammar, plus a leading `+`), nil when it is not one.
    /// Integers up to 15 digits are read without strtod (most numbers in logs).
    static func parseNumber(_ bytes: ArraySlice<UInt8>) -> Double? {
        guard !bytes.isEmpty, bytes.count < 64 else { return nil }
        var index = bytes.startIndex
        var negative = false
        if bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
            negative = bytes[index] == UInt8(ascii: "-")
            index += 1
        }
        guard index < bytes.endIndex else { return nil }
        var integer = 0.0
        var digits = 0
        var simple = true
        var sawDigit = false
        var position = index
        while position < bytes.endIndex {
            let byte = bytes[position]
            if byte >= 0x30 && byte <= 0x39 {
                integer = integer * 10 + Double(byte - 0x30)
                digits += 1
                sawDigit = true
            } else if byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
                        || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") {
                simple = false
            } else {
                return nil
            }
            position += 1
        }
        guard sawDigit else { return nil }
        if simple && digits <= 15 { return negative ? -integer : integer }
        // strtod reads hex, inf and nan too: only JSON's decimal shape gets here.
        var text = [CChar](repeating: 0, count: bytes.count + 1)
        for (offset, byte) in bytes.enumerated() { text[offset] = CChar(bitPattern: byte) }
        var end: UnsafeMutablePointer<CChar>?
        let value = text.withUnsafeMutableBufferPointer { buffer -> Double in
            let result = strtod(buffer.baseAddress!, &end)
            return end == buffer.baseAddress! + bytes.count ? result : .nan
        }
        return value.isNaN ? nil : value
    }
}
