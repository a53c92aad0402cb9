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
        var pairs = 0
        scan(line, insideText: false) { key, value, escaped, bare in
            if !bare { pairs += 1 }
            if let wanted = names.lookup(key) {
                slots.offer(wanted, names: names, .string(escaped ? JSONFields.decode(value) : Array(value)))
            }
            return !slots.complete
        }
        return pairs > 0
    }

    /// Each `key=value` of a logfmt line (a bare key with an empty value), values decoded.
    static func forEachPair(_ line: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) -> Void) {
        scan(line, insideText: false) { key, value, escaped, _ in
            if escaped {
                JSONFields.decode(value).withUnsafeBufferPointer { body(key, $0) }
            } else {
                body(key, value)
            }
            return true
        }
    }

    /// The pairs of `line`: `body(key, value, escaped, bare)` for each, until it returns false.
    /// A value is up to a blank, or quoted (`"a \"b\""`: its content, escapes still in it).
    /// `insideText`: pairs among the words of a text message, whose keys are made of key bytes
    /// and follow a blank, `(` or `,` (or start the message), whose unquoted values also end at
    /// `,` and `)`, and whose other words are skipped; otherwise (logfmt) a word without `=`
    /// is a bare key.
    @inline(__always)
    static func scan(_ line: UnsafeBufferPointer<UInt8>, insideText: Bool,
                     _ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>, Bool, Bool) -> Bool) {
        guard let base = line.baseAddress else { return }
        let end = line.count
        var position = 0
        @inline(__always) func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D }
        @inline(__always) func endsWord(_ byte: UInt8) -> Bool { isBlank(byte) || (insideText && (byte == 0x2C || byte == 0x29 || byte == 0x28)) }
        while position < end {
            while position < end && (isBlank(base[position]) || (insideText && (base[position] == 0x28 || base[position] == 0x2C))) { position += 1 }
            guard position < end else { return }
            let keyStart = position
            if insideText {
                while position < end, isKeyByte(base[position]) { position += 1 }
            } else {
                while position < end, base[position] != UInt8(ascii: "="), !isBlank(base[position]) { position += 1 }
            }
            let key = UnsafeBufferPointer(start: base + keyStart, count: position - keyStart)
            guard position > keyStart || !insideText, position < end, base[position] == UInt8(ascii: "=") else {
                if insideText {
                    // Not a pair: skip the word (at least one byte, so the scan always moves on).
                    if position == keyStart { position += 1 }
                    while position < end && !endsWord(base[position]) { position += 1 }
                    continue
                }
                if !body(key, UnsafeBufferPointer(start: base + position, count: 0), false, true) { return }
                continue
            }
            position += 1
            let value: UnsafeBufferPointer<UInt8>
            var escaped = false
            if position < end && base[position] == UInt8(ascii: "\"") {
                position += 1
                let valueStart = position
                while position < end && base[position] != UInt8(ascii: "\"") {
                    if base[position] == UInt8(ascii: "\\") { escaped = true; position += 1 }
                    position += 1
                }
                value = UnsafeBufferPointer(start: base + valueStart, count: min(position, end) - valueStart)
                position = min(position + 1, end)
            } else {
                let valueStart = position
                while position < end && !endsWord(base[position]) { position += 1 }
                value = UnsafeBufferPointer(start: base + valueStart, count: position - valueStart)
            }
            if !body(key, value, escaped, false) { return }
        }
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
