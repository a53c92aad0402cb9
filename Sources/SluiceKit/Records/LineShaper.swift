/// `--json`, `--template`, `--fields`: what is written for each selected line (or record)
/// instead of the line itself.
public enum OutputShape: Sendable, Equatable {
    /// One JSON object per line: `{"input":NAME,"line":N,"text":TEXT,"fields":{...}}`.
    case json
    /// The template with each `{field}` replaced by the field's text (empty when missing; a
    /// newline or CR in it written `\n`, `\r`); `{{` and `}}` are braces, `\t` and `\n` in the
    /// template a tab and a newline, `\\` a backslash.
    case template(String)
    /// The fields' texts, tab-separated, as `jq -r '[...] | @tsv'` writes them.
    case fields([String])
}

/// Writes a selected line (or record) in an `OutputShape`. Made once per run; its per-chunk
/// memory is a `Scratch`.
final class LineShaper: Sendable {
    enum Part: Sendable {
        case text([UInt8])
        case field(Int)
    }

    let shape: OutputShape
    let format: LogFormat
    let query: FieldQuery
    let table: FieldNameTable
    let parts: [Part]
    /// Each input's name, for `--json`'s `input`.
    let inputNames: [[UInt8]]

    init(_ shape: OutputShape, format: LogFormat, inputs: [InputName], label: [UInt8]) throws {
        self.shape = shape
        self.format = format
        inputNames = (inputs.isEmpty ? [.standardInput] : inputs).map { input in
            if case .path(let path) = input { return path.bytes }
            return label
        }
        var query = FieldQuery()
        var parts: [Part] = []
        switch shape {
        case .json:
            break
        case .fields(let names):
            for (index, name) in names.enumerated() {
                if index > 0 { parts.append(.text([0x09])) }
                parts.append(.field(query.slot(for: name)))
            }
        case .template(let template):
            parts = try Self.parse(template, query: &query)
        }
        self.query = query
        self.parts = parts
        table = FieldNameTable(query)
    }

    /// `{ts} {level}\t{msg}` as text and field parts.
    static func parse(_ template: String, query: inout FieldQuery) throws -> [Part] {
        let bytes = Array(template.utf8)
        var parts: [Part] = []
        var text: [UInt8] = []
        var index = 0
        func error(_ message: String) -> SluiceError {
            SluiceError(.usage, place: "--template", "column \(index + 1): \(message)")
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "{") && index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "{") {
                text.append(byte)
                index += 2
            } else if byte == UInt8(ascii: "}") && index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "}") {
                text.append(byte)
                index += 2
            } else if byte == UInt8(ascii: "{") {
                guard let close = bytes[index...].firstIndex(of: UInt8(ascii: "}")) else { throw error("'{' has no closing '}' ({{ for a brace)") }
                let name = String(decoding: bytes[(index + 1)..<close], as: UTF8.self)
                guard !name.isEmpty, name.utf8.allSatisfy({ WhereParser.isNameByte($0) }) else {
                    throw error("'{\(name)}' is not a field name (letters, digits, _ . - @)")
                }
                if !text.isEmpty { parts.append(.text(text)); text = [] }
                parts.append(.field(query.slot(for: name)))
                index = close + 1
            } else if byte == UInt8(ascii: "}") {
                throw error("a lone '}' (}} for a brace)")
            } else if byte == UInt8(ascii: "\\") && index + 1 < bytes.count
                        && [UInt8(ascii: "t"), UInt8(ascii: "n"), UInt8(ascii: "\\")].contains(bytes[index + 1]) {
                text.append(bytes[index + 1] == UInt8(ascii: "t") ? 0x09 : bytes[index + 1] == UInt8(ascii: "n") ? 0x0A : 0x5C)
                index += 2
            } else {
                text.append(byte)
                index += 1
            }
        }
        if !text.isEmpty { parts.append(.text(text)) }
        return parts
    }

    final class Scratch {
        var slots: FieldSlots
        let path: PathBuffer
        /// `appendFields`: the line's keys and values, copied one after the other, and where
        /// each pair is in them (kept from line to line: no array per key or value).
        var pairBytes: [UInt8] = []
        var pairs: [(keyStart: Int, keyEnd: Int, valueEnd: Int)] = []

        init(_ shaper: LineShaper) {
            slots = FieldSlots(count: shaper.query.fields.count)
            path = PathBuffer(capacity: shaper.query.longestName)
        }
    }

    func makeScratch() -> Scratch { Scratch(self) }

    /// Writes the shaped form of `record` (whose fields are those of `line`, its first line,
    /// newline excluded) to `out`, ending with a newline.
    func write(record: UnsafeBufferPointer<UInt8>, line: UnsafeBufferPointer<UInt8>, number: Int, input: Int,
               into out: inout [UInt8], scratch: Scratch) {
        var first = line
        if let last = first.last, last == 0x0D { first = UnsafeBufferPointer(rebasing: first.dropLast()) }
        switch shape {
        case .json:
            out += Array(#"{"input":"#.utf8)
            Self.appendJSONString(inputNames[min(input, inputNames.count - 1)], to: &out)
            out += Array(#","line":"#.utf8)
            out += Array(String(number).utf8)
            out += Array(#","text":"#.utf8)
            var text = record
            if text.last == 0x0A { text = UnsafeBufferPointer(rebasing: text.dropLast()) }
            Self.appendJSONString(text, to: &out)
            out += Array(#","fields":"#.utf8)
            appendFields(first, to: &out, scratch: scratch)
            out += Array("}\n".utf8)
        case .fields, .template:
            FieldPredicate.read(first, format: format, names: table.names, slots: &scratch.slots, path: scratch.path)
            let tabSeparated: Bool = if case .fields = shape { true } else { false }
            for part in parts {
                switch part {
                case .text(let bytes): out += bytes
                case .field(let slot):
                    guard let value = scratch.slots.values[slot], value != .null else { continue }
                    if tabSeparated {
                        FieldCounter.appendShown(value.text, to: &out)
                    } else {
                        // One line out per line in: a value's own line breaks written `\n`, `\r`.
                        for byte in value.text {
                            switch byte {
                            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
                            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
                            default: out.append(byte)
                            }
                        }
                    }
                }
            }
            out.append(0x0A)
        }
    }

    /// The line's fields as a JSON object: a JSON line's own object (as written); otherwise its
    /// logfmt pairs or text parts, each value a string.
    /// `withMessage: false`: a text line's message (`msg`, the line's tail after its time,
    /// level and component) is left out, its `key=value` pairs kept (a ClickHouse row, whose
    /// `line` holds the message already).
    /// `textParts`: the line's parse as text, when the caller has made it.
    func appendFields(_ line: UnsafeBufferPointer<UInt8>, to out: inout [UInt8], scratch: Scratch, withMessage: Bool = true,
                      textParts: TextFields.Parts? = nil) {
        var start = 0
        while start < line.count && (line[start] == 0x20 || line[start] == 0x09) { start += 1 }
        var end = line.count
        while end > start && (line[end - 1] == 0x20 || line[end - 1] == 0x09) { end -= 1 }
        let trimmed = UnsafeBufferPointer(rebasing: line[start..<end])
        if format != .logfmt && format != .text, trimmed.first == UInt8(ascii: "{") {
            // Written as it is only when it is a whole, valid object in valid UTF-8 (a line cut
            // short, text after it, a raw control byte: its fields are read as text's).
            var slots = FieldSlots(count: 0)
            if JSONFields.read(trimmed, names: FieldNameTable.empty.names, into: &slots, path: scratch.path, validating: true),
               Self.isValidUTF8(trimmed) {
                out.append(contentsOf: trimmed)
                return
            }
        }
        // The scratch's buffers are taken for the call and given back: appending to a class's
        // property checks exclusive access each time (swift_beginAccess and its access set:
        // 10% of a ClickHouse export's CPU with the row encoder's own).
        var pairBytes = scratch.pairBytes
        var pairs = scratch.pairs
        scratch.pairBytes = []
        scratch.pairs = []
        pairBytes.removeAll(keepingCapacity: true)
        pairs.removeAll(keepingCapacity: true)
        defer {
            scratch.pairBytes = pairBytes
            scratch.pairs = pairs
        }
        func take(_ key: UnsafeBufferPointer<UInt8>, _ value: UnsafeBufferPointer<UInt8>) {
            let keyStart = pairBytes.count
            pairBytes.append(contentsOf: key)
            let keyEnd = pairBytes.count
            pairBytes.append(contentsOf: value)
            pairs.append((keyStart, keyEnd, pairBytes.count))
        }
        let asLogfmt = format == .logfmt || (format == .auto && LogfmtFields.looksLikeLogfmt(trimmed))
        if asLogfmt {
            LogfmtFields.forEachPair(line, take)
        } else {
            TextFields.forEachPart(line, parts: textParts, withMessage: withMessage, take)
        }
        out.append(UInt8(ascii: "{"))
        pairBytes.withUnsafeBufferPointer { bytes in
            func key(_ index: Int) -> UnsafeBufferPointer<UInt8> {
                UnsafeBufferPointer(rebasing: bytes[pairs[index].keyStart..<pairs[index].keyEnd])
            }
            // The first of a key given twice; a line has few keys (a scan beats hashing them).
            for index in pairs.indices where !(0..<index).contains(where: { key($0).elementsEqual(key(index)) }) {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                Self.appendJSONString(key(index), to: &out)
                out.append(UInt8(ascii: ":"))
                Self.appendJSONString(UnsafeBufferPointer(rebasing: bytes[pairs[index].keyEnd..<pairs[index].valueEnd]), to: &out)
            }
        }
        out.append(UInt8(ascii: "}"))
    }

    /// `bytes` as a JSON string: `"`, `\` and control bytes escaped, valid UTF-8 as it is, each
    /// byte of an invalid sequence as U+FFFD (JSON text is UTF-8).
    static func appendJSONString<Bytes: Collection>(_ bytes: Bytes, to out: inout [UInt8]) where Bytes.Element == UInt8 {
        if let done: Void = bytes.withContiguousStorageIfAvailable({ appendJSONString($0, to: &out) }) { return done }
        Array(bytes).withUnsafeBufferPointer { appendJSONString($0, to: &out) }
    }

    /// Runs of bytes that need no escape (printable ASCII but `"` and `\`, valid UTF-8
    /// sequences) are appended whole: `--json` and ClickHouse's `fields` write every line's
    /// values through here (per-byte appends were 13% of a ClickHouse export's time).
    static func appendJSONString(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        out.reserveCapacity(out.count + bytes.count + 2)
        out.append(0x22)
        let hex: StaticString = "0123456789abcdef"
        var start = 0
        var index = 0
        @inline(__always) func flush(_ end: Int) {
            if end > start { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<end])) }
        }
        let quote = SIMD16<UInt8>(repeating: 0x22), backslash = SIMD16<UInt8>(repeating: 0x5C)
        let low = SIMD16<UInt8>(repeating: 0x20), high = SIMD16<UInt8>(repeating: 0x7E)
        while index < bytes.count {
            // 16 printable ASCII bytes without `"` or `\` at a time.
            if index + 16 <= bytes.count, let base = bytes.baseAddress {
                let block = UnsafeRawPointer(base + index).loadUnaligned(as: SIMD16<UInt8>.self)
                if !any((block .== quote) .| (block .== backslash) .| (block .< low) .| (block .> high)) {
                    index += 16
                    continue
                }
            }
            let byte = bytes[index]
            if byte >= 0x20 && byte < 0x7F && byte != 0x22 && byte != 0x5C {
                index += 1
                continue
            }
            if byte >= 0x80 {
                let length = utf8SequenceLength(bytes, at: index)
                if length > 0 {
                    index += length
                    continue
                }
            }
            flush(index)
            switch byte {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0x00..<0x20, 0x7F:
                hex.withUTF8Buffer { digits in
                    out += [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), digits[Int(byte >> 4)], digits[Int(byte & 15)]]
                }
            default:
                out += [0xEF, 0xBF, 0xBD]
            }
            index += 1
            start = index
        }
        flush(index)
        out.append(0x22)
    }

    static func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard bytes.contains(where: { $0 >= 0x80 }) else { return true }
        let array = Array(bytes)
        var index = 0
        while index < array.count {
            if array[index] < 0x80 { index += 1; continue }
            let length = utf8SequenceLength(array, at: index)
            guard length > 0 else { return false }
            index += length
        }
        return true
    }

    /// The length of the valid UTF-8 sequence at `index` (2–4), 0 if it is not one.
    static func utf8SequenceLength(_ bytes: [UInt8], at index: Int) -> Int {
        bytes.withUnsafeBufferPointer { utf8SequenceLength($0, at: index) }
    }

    static func utf8SequenceLength(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> Int {
        let lead = bytes[index]
        let length: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default: return 0
        }
        guard index + length <= bytes.count else { return 0 }
        for offset in 1..<length {
            let byte = bytes[index + offset]
            if offset == 1 { guard byte >= low && byte <= high else { return 0 } } else { guard byte >= 0x80 && byte <= 0xBF else { return 0 } }
        }
        return length
    }
}

extension FieldNameTable {
    /// A table of no names (reading a line only to check it).
    static let empty = FieldNameTable(FieldQuery())
}

extension TextFields {
    /// Each named part of a text line (`ts`, `level`, `component`, `msg`, ...), then each
    /// `key=value` of its message (`withMessage: false`: the pairs without the message).
    static func forEachPart(_ line: UnsafeBufferPointer<UInt8>, parts given: Parts? = nil, withMessage: Bool = true,
                            _ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) -> Void) {
        let parts = given ?? parse(line)
        func slice(_ start: Int, _ end: Int) -> UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: line[start..<end]) }
        func name(_ text: StaticString) -> UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount) }
        for part in parts.named {
            body(name(part.name), slice(part.start, part.end))
        }
        if let (start, end) = parts.level {
            body(name("level"), slice(start, end))
        } else if let level = parts.priorityLevel {
            level.nameBytes.withUnsafeBufferPointer { body(name("level"), $0) }
        }
        guard let (start, end) = parts.message else { return }
        if withMessage { body(name("msg"), slice(start, end)) }
        LogfmtPairs.forEach(UnsafeBufferPointer(rebasing: line[start..<end])) { key, value, escaped in
            if escaped {
                JSONFields.decode(value).withUnsafeBufferPointer { body(key, $0) }
            } else {
                body(key, value)
            }
        }
    }
}

import Glibc
