/// Reads the fields of a `FieldQuery` from a logfmt line: `key=value` pairs separated by
/// blanks, a value quoted as `"a \"b\""` (escapes `\"`, `\\`, `\n`, `\t`, `\r`, `\uXXXX` decoded),
/// a key without `=` as an empty value (as `mlr --ilogfmt` reads one).
///
/// Every value is text; `--where` compares it as a number when it is one (`status>=500`).
enum LogfmtFields {
    /// Fills `slots` from `line` (its `\n` excluded). Returns false when the line holds no
    /// `key=value` pair at all.
    @discardableResult
    static func read(_ line: UnsafeBufferPointer<UInt8>, names: FieldNames, into slots: inout FieldSlots) -> Bool {
        guard let base = line.baseAddress else { return false }
        let end = line.count
        var position = 0
        var pairs = 0
        while position < end {
            while position < end && (base[position] == 0x20 || base[position] == 0x09 || base[position] == 0x0D) { position += 1 }
            guard position < end else { break }
            let keyStart = position
            while position < end {
                let byte = base[position]
                if byte == UInt8(ascii: "=") || byte == 0x20 || byte == 0x09 || byte == 0x0D { break }
                position += 1
            }
            let key = UnsafeBufferPointer(start: base + keyStart, count: position - keyStart)
            guard position < end, base[position] == UInt8(ascii: "=") else {
                // A bare word: a key with an empty value.
                if let wanted = names.lookup(key) { slots.offer(wanted.slot, rank: wanted.rank, .string([])) }
                continue
            }
            pairs += 1
            position += 1
            let wanted = names.lookup(key)
            if position < end && base[position] == UInt8(ascii: "\"") {
                position += 1
                let valueStart = position
                var escaped = false
                while position < end && base[position] != UInt8(ascii: "\"") {
                    if base[position] == UInt8(ascii: "\\") { escaped = true; position += 1 }
                    position += 1
                }
                let valueEnd = min(position, end)
                position = min(position + 1, end)
                if let wanted {
                    let text = UnsafeBufferPointer(start: base + valueStart, count: valueEnd - valueStart)
                    slots.offer(wanted.slot, rank: wanted.rank, .string(escaped ? JSONFields.decode(text) : Array(text)))
                }
            } else {
                let valueStart = position
                while position < end && base[position] != 0x20 && base[position] != 0x09 && base[position] != 0x0D { position += 1 }
                if let wanted {
                    slots.offer(wanted.slot, rank: wanted.rank, .string(Array(UnsafeBufferPointer(start: base + valueStart, count: position - valueStart))))
                }
            }
            if slots.complete { return true }
        }
        return pairs > 0
    }

    /// Whether `line` starts as logfmt does: a key (letters, digits, `_ . - @ /`) then `=`.
    static func looksLikeLogfmt(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        var index = 0
        while index < line.count {
            let byte = line[index]
            if byte == UInt8(ascii: "=") { return index > 0 }
            guard isKeyByte(byte) else { return false }
            index += 1
        }
        return false
    }

    @inline(__always)
    static func isKeyByte(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39)
            || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
            || byte == UInt8(ascii: "@") || byte == UInt8(ascii: "/")
    }
}
