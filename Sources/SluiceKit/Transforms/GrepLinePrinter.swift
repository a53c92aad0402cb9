import CPCRE2
import CSluiceSearch
import Glibc

/// How grep presents what it selects: file names, line numbers, only the matching parts.
public struct GrepPresentation: Sendable, Equatable {
    /// `-H` (or several inputs, or `-r`): each output line starts with its input's name.
    public var fileNames = false
    /// `-n`: each output line starts with its line number in its input.
    public var lineNumbers = false
    /// grep's `-b` (`--byte-offset`): each output line shows where it (with `-o`, its match)
    /// starts in its input's bytes as read, after the line number. Only when sluice is invoked
    /// as `grep` is `-b` this; as `sluice`, `-b` is the batch size and `--byte-offset` this.
    public var byteOffsets = false
    /// `-o`: each match on its own line, not the whole line (empty matches print nothing).
    public var onlyMatching = false
    /// `-Z`: a name is followed by a NUL byte instead of `:` (or instead of its newline, for
    /// `-l` and `-L`).
    public var nullAfterName = false
    /// `-z` lines: they are written with NUL and newline exchanged (`NulData`), so `-Z`'s
    /// NUL after a name is written as a newline (set by the runner).
    var nullDataLines = false
    /// What follows a name before a line: `-Z`'s NUL (in the form the lines are written in),
    /// nil for grep's `:` or `-`.
    var nameEnd: UInt8? { nullAfterName ? (nullDataLines ? 0x0A : 0x00) : nil }
    /// `--label`: the name shown for standard input.
    public var standardInputLabel: [UInt8] = Array("(standard input)".utf8)
    /// `-l` / `-L`: print only the names of the inputs with (without) a selected line.
    public var listFiles: ListFiles?
    /// `-s`: no messages about inputs that cannot be opened or read (the exit status stays).
    public var suppressInputErrors = false
    /// `-A`, `-B`, `-C`, `-NUM` (nil: not given; grep writes separators even for `-A 0`).
    public var afterContext: Int?
    public var beforeContext: Int?
    /// `--color`: grep's escapes (nil: no colour).
    public var colors: GrepColors?
    /// `--group-separator=SEP` (default `--`); nil with `--no-group-separator`.
    public var groupSeparator: [UInt8]? = Array("--".utf8)
    /// `-T`: a tab after a line's head, line numbers right-aligned (`numberWidths`).
    public var initialTab = false

    public enum ListFiles: Sendable, Equatable { case withMatches, withoutMatch }

    public init() {}

    /// Whether selected lines are decorated (not written as they were read).
    public var decoratesLines: Bool { fileNames || lineNumbers || byteOffsets || onlyMatching || colors != nil }

    /// Per input, the columns `-T` right-aligns line numbers in, as grep 3.8 sizes them: the
    /// digits of a regular file's size plus one, else of the largest 64-bit number (a pipe,
    /// whose size is unknown, as a compressed file's text is to zgrep's grep); 0 without `-T`.
    public func numberWidths(_ inputs: [InputName]) -> [Int] {
        (inputs.isEmpty ? [.standardInput] : inputs).map { input in
            guard initialTab else { return 0 }
            var info = stat()
            var regular = switch input {
            case .standardInput: fstat(0, &info) == 0
            case .path(let path): path.withCString { stat($0, &info) } == 0
            }
            regular = regular && (info.st_mode & S_IFMT) == S_IFREG
            // Only a regular file is opened here (a FIFO's writer would see its reader come and go).
            let fd: Int32 = switch input {
            case .standardInput: 0
            case .path(let path): regular ? path.withCString { open($0, O_RDONLY | O_CLOEXEC) } : -1
            }
            defer { if fd > 0 { close(fd) } }
            if regular && fd >= 0 {
                var prefix = [UInt8](repeating: 0, count: 16)
                let n = prefix.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
                prefix = Array(prefix.prefix(max(0, n)))
                if prefix.starts(with: [0x1F, 0x8B]) || CompressedFormat(prefix: prefix) != nil { regular = false }
            }
            var largest = regular ? Int64(info.st_size) : Int64.max
            if lineNumbers && largest < Int64.max { largest += 1 }
            return String(largest).count
        }
    }

    /// The name of each input as grep prints it.
    public func displayNames(_ inputs: [InputName]) -> [[UInt8]] {
        (inputs.isEmpty ? [.standardInput] : inputs).map { input in
            switch input {
            case .standardInput: standardInputLabel
            case .path(let path): path.bytes
            }
        }
    }
}

/// grep's selection and its output in one step: the lines `matcher` selects (or, inverted,
/// the others), each preceded by its input's name and its line number as `presentation` asks,
/// or only its matches (`-o`). Runs in the concurrent map's tasks: holds no mutable state.
/// The output chunk keeps the input chunk's `input`; with `-o`, `selectionEnds` says where
/// each selected line's output ends (`-m` counts selected lines, not matches).
public struct GrepLinePrinter: ChunkStep {
    let matcher: any Matcher
    let invert: Bool
    let presentation: GrepPresentation
    /// Each input's name, when names are shown.
    let names: [[UInt8]]
    let extractor: OnlyMatching?
    /// `-T`: per input, the columns of its line numbers.
    let numberWidths: [Int]
    /// `--json`, `--template`, `--fields`: each selected line written in that shape instead.
    let shaper: LineShaper?

    init(matcher: any Matcher, invert: Bool, presentation: GrepPresentation, names: [[UInt8]],
         extractor: OnlyMatching?, numberWidths: [Int] = [], shaper: LineShaper? = nil) {
        self.numberWidths = numberWidths
        self.shaper = shaper
        self.matcher = matcher
        self.invert = invert
        self.presentation = presentation
        self.names = presentation.fileNames ? names : []
        self.extractor = presentation.onlyMatching || presentation.colors != nil ? extractor : nil
        precondition(!presentation.onlyMatching || extractor != nil, "-o needs a match extractor")
    }

    public func apply(_ chunk: LineChunk) -> LineChunk {
        var out: [UInt8] = []
        var outLines = 0
        var ends: [Int] = []
        var undecided: [SluiceError] = []
        let name: [UInt8]? = names.isEmpty ? nil : names[min(chunk.input, names.count - 1)]
        let width = numberWidths.isEmpty ? 0 : numberWidths[min(chunk.input, numberWidths.count - 1)]
        let tab = presentation.initialTab
        let onlyMatching = presentation.onlyMatching
        let numbers = presentation.lineNumbers || shaper != nil
        let offsets = presentation.byteOffsets
        let colors = presentation.colors
        let nameEnd = presentation.nameEnd
        chunk.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            var scratch = matcher.makeScratch()
            scratch.use(input: chunk.input)
            let extractScratch = extractor?.makeScratch()
            let shapeScratch = shaper?.makeScratch()
            defer { undecided = scratch.undecided + scratch.parts.flatMap(\.undecided) }
            var lineNumber = chunk.firstLine
            var counted = 0  // newlines before this offset are in lineNumber
            func emit(_ start: Int, _ newline: Int) {
                if numbers {
                    lineNumber += sluice_count_newlines(base + counted, start - counted)
                    counted = start
                }
                if let shaper, let shapeScratch {
                    let before = out.count
                    shaper.write(record: UnsafeBufferPointer(start: base + start, count: newline + 1 - start),
                                 line: UnsafeBufferPointer(start: base + start, count: newline - start),
                                 number: lineNumber, input: chunk.input, into: &out, scratch: shapeScratch)
                    // A template may write several lines for one (`\n` in it): -m counts selected lines.
                    outLines += out[before...].count { $0 == 0x0A }
                    ends.append(out.count)
                    return
                }
                if onlyMatching, let extractor, let extractScratch {
                    if invert { ends.append(out.count); return }  // grep -o -v prints nothing
                    extractor.forEachMatch(base + start, length: newline - start, scratch: extractScratch) { from, to in
                        writeLineHead(&out, name: name, nameEnd: nameEnd, lineNumber: numbers ? lineNumber : nil,
                                      mark: UInt8(ascii: ":"), colors: colors, numberWidth: width, tabBeforeLength: tab ? to - from : nil,
                                      byteOffset: offsets ? chunk.inputOffset + start + from : nil)
                        let match = UnsafeBufferPointer(start: base + start + from, count: to - from)
                        if let colors { colors.paint(colors.selectedMatch, match, into: &out) } else { out.append(contentsOf: match) }
                        out.append(0x0A)
                        outLines += 1
                    }
                    ends.append(out.count)
                    return
                }
                writeLineHead(&out, name: name, nameEnd: nameEnd, lineNumber: numbers ? lineNumber : nil,
                              mark: UInt8(ascii: ":"), colors: colors, numberWidth: width, tabBeforeLength: tab ? newline - start : nil,
                              byteOffset: offsets ? chunk.inputOffset + start : nil)
                if let colors, !invert, let extractor, let extractScratch {
                    writePaintedLine(&out, base, start: start, end: newline, extractor: extractor, scratch: extractScratch,
                                     colors: colors, sgr: colors.selectedMatch)
                } else {
                    out.append(contentsOf: UnsafeBufferPointer(start: base + start, count: newline + 1 - start))
                }
                outLines += 1
            }
            var position = 0
            while let (start, newline) = matcher.nextMatchingLine(in: buffer, from: position, scratch: &scratch),
                  start < scratch.stoppedAt ?? .max {
                if invert {
                    var line = position
                    while line < start {
                        let end = lineEnd(base, from: line, count: start)
                        emit(line, end)
                        line = end + 1
                    }
                } else {
                    emit(start, newline)
                }
                position = newline + 1
            }
            if invert {
                let stop = min(buffer.count, scratch.stoppedAt ?? .max)  // -P gave up there
                while position < stop {
                    let end = lineEnd(base, from: position, count: buffer.count)
                    emit(position, end)
                    position = end + 1
                }
            }
        }
        if let last = out.last, last != 0x0A {
            // Only for a mapped file changed under us (see LineFilter): the runner drops it.
            out.append(0x0A)
        }
        var result = LineChunk(bytes: out, lineCount: outLines, notes: chunk.notes + undecided,
                               inputByteCount: chunk.inputByteCount)
        result.input = chunk.input
        result.startsInput = chunk.startsInput
        result.inputUnreadable = chunk.inputUnreadable
        if onlyMatching || shaper != nil { result.selectionEnds = ends }
        return result
    }
}

/// The matches of a pattern within one line, for `-o`: leftmost first, each as grep reports
/// it. POSIX syntaxes (`-G`, `-E`, `-F`) take the longest match at each start, which PCRE2's
/// DFA matcher gives (PCRE2's own matcher takes the first alternative that matches: `ab|abcd`
/// on `abcd` is `ab`, grep's is `abcd`); `-P` keeps PCRE2's. Empty matches are skipped.
public final class OnlyMatching: Sendable {
    /// The patterns, in order, as one PCRE2 alternation or (thousands of patterns, past PCRE2's
    /// compiled-size limit) as several: at each offset the leftmost match of any wins; of
    /// matches starting at one place, the longest (POSIX) or the earliest pattern's (`-P`).
    let regexes: [RegexMatcher]
    let longest: Bool

    public convenience init(regex: RegexMatcher, longest: Bool) {
        self.init(regexes: [regex], longest: longest)
    }

    public init(regexes: [RegexMatcher], longest: Bool) {
        self.regexes = regexes
        self.longest = longest
    }

    func makeScratch() -> MatchScratch {
        if regexes.count == 1 { return regexes[0].makeScratch() }
        let scratch = MatchScratch()
        scratch.parts = regexes.map { $0.makeScratch() }
        return scratch
    }

    /// Each regex's next match in the current line, as found from an earlier offset: still
    /// the answer while the offset has not passed its start (nil: none to the line's end).
    private struct NextMatches {
        var known: [Bool]
        var matches: [(start: Int, end: Int)?]
    }

    /// The leftmost match at or after `offset` (its end the longest there when `longest`).
    /// With several regexes, each one's next match is kept until the offset passes it (each
    /// was run again for every match: 200 patterns on a line of 160,000 words, 6.3 s).
    private func firstMatch(_ line: UnsafePointer<UInt8>, length: Int, offset: Int, scratch: MatchScratch,
                            next: inout NextMatches) -> (Int, Int)? {
        var best: (start: Int, end: Int, regex: Int)?
        var single: (start: Int, end: Int)?
        for (index, regex) in regexes.enumerated() {
            if regexes.count == 1 || !next.known[index] || (next.matches[index].map { $0.start < offset } ?? false) {
                var gaveUp = false
                let part = regexes.count == 1 ? scratch : scratch.parts[index]
                if let (start, end) = regex.match(line, length: length, offset: offset, scratch: part, gaveUp: &gaveUp) {
                    var last = end
                    if longest, let longer = regex.longestMatchEnd(line, length: length, at: start, scratch: part), longer > last { last = longer }
                    single = (start, last)
                } else {
                    single = nil
                }
                if regexes.count > 1 {  // one regex: nothing to keep (no arrays to make per line)
                    next.matches[index] = single
                    next.known[index] = true
                }
            }
            guard let (start, last) = regexes.count == 1 ? single : next.matches[index] else { continue }
            if let current = best {
                // Leftmost first; at one start, the longest (POSIX) or the earlier pattern (-P).
                if start > current.start || (start == current.start && (!longest || last <= current.end)) { continue }
            }
            best = (start, last, index)
        }
        return best.map { ($0.start, $0.end) }
    }

    func forEachMatch(_ line: UnsafePointer<UInt8>, length: Int, scratch: MatchScratch,
                      _ body: (Int, Int) -> Void) {
        var offset = 0
        var next = regexes.count == 1 ? NextMatches(known: [], matches: [])
            : NextMatches(known: Array(repeating: false, count: regexes.count), matches: Array(repeating: nil, count: regexes.count))
        while offset <= length {
            guard let (start, last) = firstMatch(line, length: length, offset: offset, scratch: scratch, next: &next) else { return }
            if last == start {
                offset = start + 1  // an empty match prints nothing, as in grep
                continue
            }
            body(start, last)
            offset = last
        }
    }
}
