/// grep's `--color` escapes, from `GREP_COLORS` over grep's defaults
/// (`ms=01;31:mc=01;31:sl=:cx=:fn=35:ln=32:bn=32:se=36`): each colored part is written as
/// `ESC[<sgr>m ESC[K` part `ESC[m ESC[K` (`ne` drops the `ESC[K`s), byte for byte as GNU grep
/// 3.8 writes them.
public struct GrepColors: Sendable, Equatable {
    public var selectedMatch = "01;31"  // ms
    public var contextMatch = "01;31"   // mc
    public var fileName = "35"          // fn
    public var lineNumber = "32"        // ln
    public var byteOffset = "32"        // bn
    public var separator = "36"         // se
    public var eraseLine = true         // not `ne`

    public init() {}

    /// `GREP_COLORS` applied over the defaults. Throws for what sluice does not do yet
    /// (whole-line colours `sl`/`cx`, `rv`), naming it; unknown capabilities are ignored, as
    /// grep ignores them.
    /// grep's warning when the deprecated `GREP_COLOR` took effect (nil when it did not).
    public var legacyWarning: String?

    /// `legacy`: the deprecated `GREP_COLOR` (digits and `;` only, else ignored), the match
    /// colour unless `GREP_COLORS` sets `ms`/`mc`/`mt`; while it has an effect grep warns.
    public init(environment value: String?, legacy: String?) throws {
        if let legacy, !legacy.isEmpty, legacy.allSatisfy({ $0 == ";" || ("0"..."9").contains($0) }) {
            var base = GrepColors()
            base.selectedMatch = legacy
            base.contextMatch = legacy
            try self.init(over: base, environment: value)
            // grep warns while either match colour is still GREP_COLOR's.
            if !(setByColors.contains("ms") && setByColors.contains("mc")) {
                legacyWarning = "warning: GREP_COLOR='\(legacy)' is deprecated; use GREP_COLORS='mt=\(legacy)'"
            }
            return
        }
        try self.init(environment: value)
    }

    /// The capabilities `GREP_COLORS` set (`mt` sets `ms` and `mc`).
    private var setByColors: Set<String> = []

    private init(over base: GrepColors, environment value: String?) throws {
        self = base
        try apply(value)
    }

    public init(environment value: String?) throws {
        try apply(value)
    }

    private mutating func apply(_ value: String?) throws {
        guard let value, !value.isEmpty else { return }
        for item in value.split(separator: ":") {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            let name = parts[0]
            let sgr = parts.count > 1 ? parts[1] : ""
            switch name {
            case "mt":
                selectedMatch = sgr
                contextMatch = sgr
                setByColors.formUnion(["ms", "mc"])
            case "ms":
                selectedMatch = sgr
                setByColors.insert("ms")
            case "mc":
                contextMatch = sgr
                setByColors.insert("mc")
            case "fn": fileName = sgr
            case "ln": lineNumber = sgr
            case "se": separator = sgr
            case "bn": byteOffset = sgr
            case "ne": eraseLine = false
            case "sl", "cx":
                if !sgr.isEmpty {
                    throw SluiceError(.usage, place: "GREP_COLORS", "\(name)= (a colour for whole lines) is not supported yet")
                }
            case "rv": throw SluiceError(.usage, place: "GREP_COLORS", "rv is not supported yet")
            default: continue
            }
        }
    }

    /// `text` in colour `sgr` (as is when `sgr` is empty, as grep does).
    func paint(_ sgr: String, _ text: some Collection<UInt8>, into out: inout [UInt8]) {
        if sgr.isEmpty {
            out.append(contentsOf: text)
            return
        }
        out.append(contentsOf: [0x1B, UInt8(ascii: "[")])
        out.append(contentsOf: Array(sgr.utf8))
        out.append(UInt8(ascii: "m"))
        if eraseLine { out.append(contentsOf: [0x1B, UInt8(ascii: "["), UInt8(ascii: "K")]) }
        out.append(contentsOf: text)
        out.append(contentsOf: [0x1B, UInt8(ascii: "["), UInt8(ascii: "m")])
        if eraseLine { out.append(contentsOf: [0x1B, UInt8(ascii: "["), UInt8(ascii: "K")]) }
    }
}

/// The start of an output line as grep writes it: the name (and its separator, or a NUL
/// under `-Z`), the line number and its separator; `mark` is `:` for a selected line, `-` for
/// a context line.
///
/// `-T` (`tab`, with the length of what follows): the line number right-aligned in
/// `numberWidth` columns, and a tab after the head when there is a head and the line is not
/// empty, as grep 3.8 writes them.
func writeLineHead(_ out: inout [UInt8], name: [UInt8]?, nameEnd: UInt8?, lineNumber: Int?, mark: UInt8,
                   colors: GrepColors?, numberWidth: Int = 0, tabBeforeLength: Int? = nil, byteOffset: Int? = nil) {
    defer {
        if let length = tabBeforeLength, length > 0, name != nil || lineNumber != nil || byteOffset != nil { out.append(0x09) }
    }
    if let name {
        if let colors {
            colors.paint(colors.fileName, name, into: &out)
            if let nameEnd { out.append(nameEnd) } else { colors.paint(colors.separator, CollectionOfOne(mark), into: &out) }
        } else {
            out.append(contentsOf: name)
            out.append(nameEnd ?? mark)
        }
    }
    /// A number right-aligned in `numberWidth` columns (`-T`), in colour `sgr`, then `mark`.
    func writeNumber(_ value: Int, _ sgr: String?) {
        var digits = Array(String(value).utf8)
        if digits.count < numberWidth { digits.insert(contentsOf: repeatElement(0x20, count: numberWidth - digits.count), at: 0) }
        if let colors, let sgr {
            colors.paint(sgr, digits, into: &out)
            colors.paint(colors.separator, CollectionOfOne(mark), into: &out)
        } else {
            out.append(contentsOf: digits)
            out.append(mark)
        }
    }
    if let lineNumber { writeNumber(lineNumber, colors?.lineNumber) }
    // grep's -b (`--byte-offset`): where the line (or, with -o, the match) starts in its
    // input's bytes as read, after the line number, in the same columns under -T.
    if let byteOffset { writeNumber(byteOffset, colors?.byteOffset) }
}

/// The line `[start, end)` (without its newline) with each match in colour `sgr`, then `\n`.
func writePaintedLine(_ out: inout [UInt8], _ base: UnsafePointer<UInt8>, start: Int, end: Int,
                      extractor: OnlyMatching, scratch: MatchScratch, colors: GrepColors, sgr: String) {
    var written = start
    extractor.forEachMatch(base + start, length: end - start, scratch: scratch) { from, to in
        out.append(contentsOf: UnsafeBufferPointer(start: base + written, count: start + from - written))
        colors.paint(sgr, UnsafeBufferPointer(start: base + start + from, count: to - from), into: &out)
        written = start + to
    }
    out.append(contentsOf: UnsafeBufferPointer(start: base + written, count: end - written))
    out.append(0x0A)
}

/// One input line as grep writes it among selected and context lines: its head (`:` after a
/// selected line, `-` after a context line), then the line with its matches painted, or, with
/// `-o`, only its matches, each on a line of its own. Under `-v` a selected line holds no match,
/// and it is the context lines' matches that are painted (`mc`) or, with `-o`, written; without
/// `-v` a context line is written plain, and with `-o` not at all. Used by context output
/// (`ContextPrinter`) and by records (`RecordSelector`, `RecordContextPrinter`), whose lines are
/// marked the same way. Without an extractor (no pattern) lines are written whole.
struct GrepLineWriter {
    var name: [UInt8]?
    /// `GrepPresentation.nameEnd`.
    var nameEnd: UInt8?
    var lineNumbers = false
    /// `-b`: each line's byte offset (`write`'s `offset`).
    var byteOffsets = false
    /// `-T`: the columns of line numbers, and a tab after each head.
    var numberWidth = 0
    var initialTab = false
    var colors: GrepColors?
    var onlyMatching = false
    var invert = false
    var extractor: OnlyMatching?

    /// Whether `write` writes anything but the line as read (a head, colours, only matches).
    var decorates: Bool { name != nil || lineNumbers || byteOffsets || colors != nil || (onlyMatching && extractor != nil) }

    func makeScratch() -> MatchScratch? { extractor?.makeScratch() }

    /// grep's group separator (`--`, `--group-separator=SEP`) and its newline (`end`),
    /// coloured `se`.
    func writeSeparator(_ out: inout [UInt8], _ separator: [UInt8], end: UInt8) {
        if let colors { colors.paint(colors.separator, separator, into: &out) } else { out.append(contentsOf: separator) }
        out.append(end)
    }

    /// Writes the line `[start, newline)` of `base` (its newline at `newline`); returns the
    /// number of output lines written.
    @discardableResult
    func write(_ out: inout [UInt8], _ base: UnsafePointer<UInt8>, start: Int, newline: Int, number: Int,
               selected: Bool, scratch: MatchScratch?, offset: Int = 0) -> Int {
        let mark = selected ? UInt8(ascii: ":") : UInt8(ascii: "-")
        let shownNumber = lineNumbers ? number : nil
        if onlyMatching, let extractor, let scratch {
            guard selected || invert else { return 0 }
            var written = 0
            extractor.forEachMatch(base + start, length: newline - start, scratch: scratch) { from, to in
                writeLineHead(&out, name: name, nameEnd: nameEnd, lineNumber: shownNumber, mark: mark, colors: colors,
                              numberWidth: numberWidth, tabBeforeLength: initialTab ? to - from : nil,
                              byteOffset: byteOffsets ? offset + from : nil)
                let match = UnsafeBufferPointer(start: base + start + from, count: to - from)
                if let colors { colors.paint(colors.selectedMatch, match, into: &out) } else { out.append(contentsOf: match) }
                out.append(0x0A)
                written += 1
            }
            return written
        }
        writeLineHead(&out, name: name, nameEnd: nameEnd, lineNumber: shownNumber, mark: mark, colors: colors,
                      numberWidth: numberWidth, tabBeforeLength: initialTab ? newline - start : nil,
                      byteOffset: byteOffsets ? offset : nil)
        if let colors, let extractor, let scratch, selected != invert {
            writePaintedLine(&out, base, start: start, end: newline, extractor: extractor, scratch: scratch, colors: colors,
                             sgr: selected ? colors.selectedMatch : colors.contextMatch)
        } else {
            out.append(contentsOf: UnsafeBufferPointer(start: base + start, count: newline + 1 - start))
        }
        return 1
    }
}
