/// How a line's fields are read (`--format`): by its content (`auto`: a line starting with
/// `{` as JSON, one starting with `key=` as logfmt, any other as text), or as one format.
public enum LogFormat: String, Sendable, Equatable, CaseIterable {
    case auto, json, logfmt, text
}

/// What `--where`, `--level`, `--since` and `--until` ask of a line's fields; all must hold.
public struct FieldFilterSpec: Sendable {
    public var format: LogFormat = .auto
    public var whereText: String?
    public var level: LevelFilter?
    /// `--since` (inclusive) and `--until` (exclusive), in seconds since the epoch.
    public var since: Double?
    public var until: Double?
    public var time = LogTime(year: 1970)
    /// `--year` given: every input's timestamps written without a year take `time.year`.
    /// Otherwise each input's take the year it was last modified (standard input's, `time.year`).
    public var yearGiven = false

    public init() {}

    public var isEmpty: Bool { whereText == nil && level == nil && since == nil && until == nil }
}

extension FieldFilterSpec: Equatable {
    public static func == (a: FieldFilterSpec, b: FieldFilterSpec) -> Bool {
        a.format == b.format && a.whereText == b.whereText && a.level == b.level && a.since == b.since
            && a.until == b.until && a.time == b.time && a.yearGiven == b.yearGiven
    }
}

/// A compiled `FieldFilterSpec`: the query, the expression, and the prefilter literal.
public final class FieldPredicate: Sendable {
    let format: LogFormat
    let whereText: String?
    let query: FieldQuery
    let table: FieldNameTable
    let expression: WhereExpression?
    let regexCount: Int
    let level: LevelFilter?
    let levelSlot: Int?
    let since: Double?
    let until: Double?
    let timeSlot: Int?
    let time: LogTime
    /// Per input, how its times are read (the year of those written without one; empty: `time`).
    let inputTimes: [LogTime]
    /// A string every selected line holds (from `--where`), searched before any line is parsed.
    let prefilter: LiteralSearch?
    /// Lines starting with syslog's `<PRI>` are candidates too (their level is not written).
    let priCandidates: Bool

    /// `inputs`: the run's, for each one's year (`FieldFilterSpec.yearGiven`).
    public init(_ spec: FieldFilterSpec, inputs: [InputName] = []) throws {
        let now = LogTime.now()
        inputTimes = spec.yearGiven || spec.since == nil && spec.until == nil ? [] : inputs.map { spec.time.reading($0, now: now) ?? spec.time }
        var query = FieldQuery()
        var regexes = 0
        let expression = try spec.whereText.map { try WhereExpression.parse($0, query: &query, regexCount: &regexes) }
        format = spec.format
        whereText = spec.whereText
        level = spec.level
        levelSlot = spec.level != nil ? query.slot(for: "level") : nil
        since = spec.since
        until = spec.until
        timeSlot = spec.since != nil || spec.until != nil ? query.slot(for: "ts") : nil
        time = spec.time
        self.query = query
        table = FieldNameTable(query)
        self.expression = expression
        regexCount = regexes
        prefilter = expression?.requiredLiteral.map(LiteralSearch.init)
        // A text line's level may come from syslog's <PRI> (`<11>` is error), not written in
        // the line: such lines are candidates too when the literal may be a level's.
        let levelNames = Set(FieldQuery.aliasGroups[0])
        priCandidates = prefilter != nil && spec.format != .json && spec.format != .logfmt
            && query.fields.contains { levelNames.contains(String(decoding: $0, as: UTF8.self)) }
    }

    /// `--since`/`--until` alone (no `--where`, no `--level`), fields read by content or as text.
    var timeOnly: Bool { expression == nil && level == nil && timeSlot != nil && (format == .auto || format == .text) }

    /// `--since` alone: a text line's leading timestamp decides, and one at or after an
    /// accepted line's is accepted (`TimestampReference`).
    var sinceAlone: Bool { timeOnly && since != nil && until == nil }

    /// A text line's leading timestamp (after syslog's `<PRI>`), as `TextFields` reads its `ts`;
    /// nil for a JSON or logfmt line, or a line that does not start with one.
    @inline(__always)
    func leadingTime(_ line: UnsafeBufferPointer<UInt8>, time: LogTime) -> Double? { leadingStamp(line, time: time)?.seconds }

    /// The leading timestamp's place in the line and its time.
    @inline(__always)
    func leadingStamp(_ line: UnsafeBufferPointer<UInt8>, time: LogTime) -> (start: Int, end: Int, seconds: Double)? {
        guard let first = line.first, first != UInt8(ascii: "{") else { return nil }
        var start = 0
        if first == UInt8(ascii: "<") {
            guard let close = line.prefix(6).firstIndex(of: UInt8(ascii: ">")) else { return nil }
            start = close + 1
        }
        guard let (end, seconds) = time.read(line, at: start) else { return nil }
        return (start, end, seconds)
    }

    /// A line's time, as `--since` reads it (its `ts` field); nil if it has none.
    func lineTime(_ line: UnsafeBufferPointer<UInt8>, scratch: Scratch) -> Double? {
        guard let timeSlot else { return nil }
        if (format == .auto || format == .text), let seconds = leadingTime(line, time: scratch.time) { return seconds }
        Self.read(line, format: format, names: table.names, slots: &scratch.slots, path: scratch.path)
        return scratch.slots.values[timeSlot].flatMap { scratch.time.seconds(of: $0) }
    }

    /// The binary search for `--since`'s start in a sorted plain file.
    public var sinceSeek: SinceSeek? { since.map { SinceSeek(since: $0, predicate: self) } }

    /// Per-chunk working memory.
    final class Scratch {
        var slots: FieldSlots
        let path: PathBuffer
        var regexScratch: [MatchScratch]
        /// The prefilter's next hit, found once and kept while lines before it are read.
        var nextHit: Int?
        /// `--since` alone: the first accepted line's timestamp, to compare others' bytes with.
        var sinceReference = TimestampReference()
        /// How times are read in the current input (its year: `FieldPredicate.inputTimes`).
        var time: LogTime
        let inputTimes: [LogTime]

        /// Reads the times of input `index` (the year of those written without one).
        func use(input index: Int) {
            if index < inputTimes.count { time = inputTimes[index] }
        }

        init(_ predicate: FieldPredicate) {
            slots = FieldSlots(count: predicate.query.fields.count)
            regexScratch = []
            path = PathBuffer(capacity: predicate.query.longestName)
            time = predicate.time
            inputTimes = predicate.inputTimes
        }
    }

    func makeScratch() -> Scratch {
        let scratch = Scratch(self)
        if let expression { scratch.regexScratch = Self.regexes(in: expression).map { $0.makeScratch() } }
        return scratch
    }

    static func regexes(in expression: WhereExpression) -> [RegexMatcher] {
        switch expression {
        case .match(_, let regex, _, _): [regex]
        case .and(let a, let b), .or(let a, let b): regexes(in: a) + regexes(in: b)
        case .not(let inner): regexes(in: inner)
        default: []
        }
    }

    /// Reads `line`'s fields (the query's) into `slots`, by `format`.
    static func read(_ line: UnsafeBufferPointer<UInt8>, format: LogFormat, names: FieldNames,
                     slots: inout FieldSlots, path: PathBuffer) {
        slots.reset()
        switch format {
        case .json:
            if !JSONFields.read(line, names: names, into: &slots, path: path) { slots.reset() }
        case .logfmt:
            LogfmtFields.read(line, names: names, into: &slots)
        case .text:
            TextFields.read(line, names: names, into: &slots)
        case .auto:
            switch autoShape(line) {
            case .jsonFirst:
                if JSONFields.read(line, names: names, into: &slots, path: path) { return }
                slots.reset()
            case .logfmt:
                LogfmtFields.read(line, names: names, into: &slots)
                return
            case .text:
                break
            }
            TextFields.read(line, names: names, into: &slots)
        }
    }

    /// How `--format auto` reads a line: as JSON when it opens with `{` (as text when that
    /// fails), as logfmt when it looks like logfmt, otherwise as text.
    enum AutoShape { case jsonFirst, logfmt, text }

    static func autoShape(_ line: UnsafeBufferPointer<UInt8>) -> AutoShape {
        var first = 0
        while first < line.count && (line[first] == 0x20 || line[first] == 0x09) { first += 1 }
        if first < line.count && line[first] == UInt8(ascii: "{") { return .jsonFirst }
        return LogfmtFields.looksLikeLogfmt(UnsafeBufferPointer(rebasing: line[first...])) ? .logfmt : .text
    }

    /// Whether the line `[start, newline)` of `base` passes.
    func accepts(_ base: UnsafePointer<UInt8>, start: Int, newline: Int, scratch: Scratch) -> Bool {
        var end = newline
        if end > start && base[end - 1] == 0x0D { end -= 1 }  // CRLF: the CR is not part of the last value
        let line = UnsafeBufferPointer(start: base + start, count: end - start)
        if timeOnly {
            // --since alone: a line whose timestamp's bytes are at or after those of a line
            // already accepted is accepted (TimestampReference).
            if sinceAlone && scratch.sinceReference.isAtOrAfter(line) { return true }
            if let stamp = leadingStamp(line, time: scratch.time) {
                // Only the time is asked, and a text line's time is its leading timestamp: read
                // that alone (5.8 s -> 0.8 s for --since on 1 GB).
                if let since, stamp.seconds < since { return false }
                if let until, stamp.seconds >= until { return false }
                if sinceAlone && stamp.start == 0 && scratch.sinceReference.isEmpty { scratch.sinceReference.learn(line, end: stamp.end) }
                return true
            }
        }
        Self.read(line, format: format, names: table.names, slots: &scratch.slots, path: scratch.path)
        if let level, let levelSlot {
            guard let value = scratch.slots.values[levelSlot], let found = LogLevel(value: value), level.accepts(found) else { return false }
        }
        if let timeSlot {
            guard let value = scratch.slots.values[timeSlot], let seconds = scratch.time.seconds(of: value) else { return false }
            if let since, seconds < since { return false }
            if let until, seconds >= until { return false }
        }
        if let expression, !expression.evaluate(scratch.slots, regexScratch: scratch.regexScratch) { return false }
        return true
    }
}

/// Lines that pass a `FieldPredicate` and (when given) match grep's patterns: `--where`,
/// `--level`, `--since`, `--until`, AND-ed with `-e` (whose `-v` inverts the patterns only).
///
/// With a prefilter literal and no pattern, a SIMD search finds candidate lines; a line
/// without the literal is parsed only when it holds an escape that could spell it (`\u`).
public struct FieldMatcher: Matcher {
    let predicate: FieldPredicate
    let patterns: (any Matcher)?
    let invertPatterns: Bool
    /// `-v` with no pattern: the lines the fields' conditions do not select.
    let invertPredicate: Bool

    public init(predicate: FieldPredicate, patterns: (any Matcher)?, invertPatterns: Bool, invertPredicate: Bool = false) {
        self.predicate = predicate
        self.patterns = patterns
        self.invertPatterns = invertPatterns
        self.invertPredicate = invertPredicate
    }

    public func makeScratch() -> MatchScratch {
        let scratch = MatchScratch()
        scratch.fields = predicate.makeScratch()
        if let patterns { scratch.parts = [patterns.makeScratch()] }
        return scratch
    }

    /// `--since` alone: after an accepted line, the lines that follow it are taken as one run
    /// while their timestamps' bytes say they are at or after the first accepted line's (a
    /// line the bytes do not decide has its time read). The last 10% of a sorted 1 GB log,
    /// `-c --since`: 0.10 s a line per call, reading each time; 0.06 s by runs.
    public func nextMatchingRun(in buffer: UnsafeBufferPointer<UInt8>, from: Int, scratch: inout MatchScratch) -> (start: Int, end: Int, lines: Int)? {
        guard let first = nextMatchingLine(in: buffer, from: from, scratch: &scratch) else { return nil }
        guard predicate.sinceAlone, patterns == nil, !invertPredicate, let base = buffer.baseAddress, let fields = scratch.fields else {
            return (first.start, first.newline + 1, 1)
        }
        var reference = fields.sinceReference
        let count = buffer.count
        var end = first.newline + 1
        var lines = 1
        while end < count {
            let newline = lineEnd(base, from: end, count: count)
            var lineEnd = newline
            if lineEnd > end && base[lineEnd - 1] == 0x0D { lineEnd -= 1 }  // as `accepts` reads a CRLF line
            guard reference.isAtOrAfter(UnsafeBufferPointer(start: base + end, count: lineEnd - end))
                    || predicate.accepts(base, start: end, newline: newline, scratch: fields) else { break }
            if reference.isEmpty { reference = fields.sinceReference }  // learned by `accepts`
            end = newline + 1
            lines += 1
        }
        return (first.start, end, lines)
    }

    public func nextMatchingLine(in buffer: UnsafeBufferPointer<UInt8>, from: Int, scratch: inout MatchScratch) -> (start: Int, newline: Int)? {
        guard let base = buffer.baseAddress, let fields = scratch.fields else { return nil }
        let count = buffer.count
        var position = from
        if let patterns, !invertPatterns {
            while position < count, let (start, newline) = patterns.nextMatchingLine(in: buffer, from: position, scratch: &scratch.parts[0]) {
                if predicate.accepts(base, start: start, newline: newline, scratch: fields) { return (start, newline) }
                position = newline + 1
            }
            return nil
        }
        // Inverted patterns: the next line they do not match, then the predicate.
        var nextPatternLine: (start: Int, newline: Int)? = nil
        var patternKnown = false
        func patternsMatch(_ start: Int, _ scratch: inout MatchScratch) -> Bool {
            guard let patterns else { return false }
            if !patternKnown || (nextPatternLine.map { $0.start < start } ?? false) {
                nextPatternLine = patterns.nextMatchingLine(in: buffer, from: start, scratch: &scratch.parts[0])
                patternKnown = true
            }
            return nextPatternLine?.start == start
        }
        if invertPredicate {
            while position < count {
                let newline = lineEnd(base, from: position, count: count)
                if !predicate.accepts(base, start: position, newline: newline, scratch: fields) { return (position, newline) }
                position = newline + 1
            }
            return nil
        }
        while position < count {
            var start = position
            if let prefilter = predicate.prefilter {
                guard let candidate = nextCandidate(prefilter, base: base, from: position, count: count, scratch: fields) else { return nil }
                start = candidate
            }
            let newline = lineEnd(base, from: start, count: count)
            let matched = patternsMatch(start, &scratch)
            if patterns != nil, let stop = scratch.stoppedAt, start >= stop { return nil }  // -P gave up there
            if !matched, predicate.accepts(base, start: start, newline: newline, scratch: fields) {
                return (start, newline)
            }
            position = newline + 1
        }
        return nil
    }

    /// The start of the first line at or after `from` that holds the prefilter's literal, or
    /// an escape (`\u`, `\U`, `\x`) that might decode to it.
    func nextCandidate(_ prefilter: LiteralSearch, base: UnsafePointer<UInt8>, from: Int, count: Int,
                       scratch: FieldPredicate.Scratch) -> Int? {
        let hit: Int?
        if let known = scratch.nextHit, known >= from {
            hit = known == count ? nil : known
        } else {
            hit = prefilter.find(in: base, from: from, count: count)
            scratch.nextHit = hit ?? count
        }
        let limit = hit ?? count
        // An escape before the hit: its line is a candidate first.
        var first = limit
        var search = from
        while search < limit, let found = memchr(base + search, 0x5C, limit - search) {
            let at = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
            if at + 1 < count {
                let next = base[at + 1]
                if next == UInt8(ascii: "u") || next == UInt8(ascii: "U") || next == UInt8(ascii: "x") {
                    first = at
                    break
                }
            }
            search = at + 1
        }
        if predicate.priCandidates {
            // A line starting `<DIGIT` (syslog's priority) before that.
            search = from
            while search < first, let found = memchr(base + search, 0x3C, first - search) {
                let at = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
                if (at == from || base[at - 1] == 0x0A), at + 1 < count, base[at + 1] >= 0x30 && base[at + 1] <= 0x39 {
                    first = at
                    break
                }
                search = at + 1
            }
        }
        if first < limit { return lineStart(base + from, before: first - from) + from }
        guard let hit else { return nil }
        return lineStart(base + from, before: hit - from) + from
    }
}

import Glibc

extension FieldPredicate {
    /// The conditions, for `--explain`.
    var explanation: String {
        var parts: [String] = []
        if let whereText { parts.append("where \(whereText)") }
        if let level { parts.append("level \(level.level.name)\(level.orWorse ? " or worse" : "")") }
        if let since { parts.append("since \(since)") }
        if let until { parts.append("until \(until)") }
        return parts.joined(separator: " and ") + (format == .auto ? "" : " (as \(format.rawValue))")
    }
}
