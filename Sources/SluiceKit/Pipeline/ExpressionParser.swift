/// Parses a `-p` pipeline expression:
///
///     grep [-i -v -w -x -G -E -F -P] PATTERN | map SPEC | exec "CMD" | batch N [TIMEOUT] [BYTES]
///
/// Stages in any order and number (`grep A | grep B` is AND; `grep -e A -e B` is OR). Words
/// are quoted as in the shell (`'…'`, `"…"` with `\"` and `\\`, `\x` outside quotes); an
/// unquoted `|` separates stages. Errors are usage errors that give the 1-based column.
public struct ExpressionParser {
    public struct Parsed: Sendable, Equatable {
        public var stages: [Stage]
        public var batch: BatchPolicy?
        /// `record auto|line|REGEX`.
        public var record: RecordMode?
        /// `count-by FIELD[,FIELD] [N]`: the table, with its top N.
        public var countBy: CountBySpec?
    }

    struct Word: Equatable {
        var text: String
        var column: Int
        var isPipe = false
        /// The column just past the word as written (its quotes included).
        var end = 0
    }

    /// `time`: how `since`/`until` times are read (`--tz`, the year of one written without
    /// one; else UTC and the current year); `yearGiven`: `--year` said that year.
    public static func parse(_ expression: String, now: Double? = nil, time: LogTime? = nil, yearGiven: Bool = false) throws -> Parsed {
        let template = time
        let words = try tokenize(expression)
        let characters = Array(expression)
        var stages: [Stage] = []
        var batch: BatchPolicy?
        var record: RecordMode?
        var countBy: CountBySpec?
        /// The stage's words as written (quotes kept): a `where` expression.
        func source(_ args: [Word]) -> String {
            guard let first = args.first, let last = args.last else { return "" }
            return String(characters[(first.column - 1)..<(last.end - 1)])
        }
        func fieldStage(_ fields: FieldFilterSpec) {
            var grep = GrepSpec(patternBytes: [[]])
            grep.fields = fields
            stages.append(.grep(grep))
        }
        func single(_ args: [Word], _ name: Word, _ what: String) throws -> Word {
            guard args.count == 1 else {
                throw error(args.count > 1 ? args[1].column : name.end, "\(name.text) takes \(what) (quote it if it has spaces)")
            }
            return args[0]
        }
        var groups: [[Word]] = [[]]
        for word in words {
            if word.isPipe {
                if groups[groups.count - 1].isEmpty { throw error(word.column, "empty stage before '|'") }
                groups.append([])
            } else {
                groups[groups.count - 1].append(word)
            }
        }
        if groups.last!.isEmpty {
            throw error(expression.count + 1, groups.count == 1 ? "empty pipeline (expected a stage: grep, map, exec or batch)" : "empty stage after '|'")
        }
        for group in groups {
            let name = group[0]
            let args = Array(group.dropFirst())
            switch name.text {
            case "grep":
                stages.append(.grep(try parseGrep(args, after: name)))
            case "map":
                guard args.count == 1 else {
                    throw error(args.count > 1 ? args[1].column : name.end, "map takes one transform (upper, lower, trim or s/RE/REPL/[gi])")
                }
                do {
                    stages.append(.map(try MapSpec(parsing: args[0].text)))
                } catch let failure as SluiceError {
                    throw error(args[0].column, failure.message)
                }
            case "exec":
                guard !args.isEmpty else { throw error(name.end, "exec needs a command") }
                stages.append(.exec(args.map(\.text).joined(separator: " ")))
            case "where":
                guard !args.isEmpty else { throw error(name.end, "where needs an expression (where level == \"ERROR\")") }
                // One word: the expression, unquoted (where 'a == "x"'); several: as written.
                let text = args.count == 1 ? args[0].text : source(args)
                var query = FieldQuery()
                var regexes = 0
                do {
                    _ = try WhereExpression.parse(text, query: &query, regexCount: &regexes)
                } catch let failure as SluiceError {
                    // The expression's own column, counted from the start of -p's text.
                    let inner = failure.message.split(separator: ":", maxSplits: 1)
                    if inner.count == 2, inner[0].hasPrefix("column "), let column = Int(inner[0].dropFirst(7)) {
                        let offset = args.count == 1 && args[0].end - args[0].column > args[0].text.count ? 1 : 0  // a quote before it
                        throw error(args[0].column + offset + column - 1, String(inner[1].dropFirst()))
                    }
                    throw error(args[0].column, failure.message)
                }
                var fields = FieldFilterSpec()
                fields.whereText = text
                fieldStage(fields)
            case "level":
                let word = try single(args, name, "a level (level error, level warn+)")
                guard let level = LevelFilter(parsing: word.text) else {
                    throw error(word.column, "'\(word.text)' is not a level (trace, debug, info, notice, warn, error, fatal; LEVEL+ for that level and worse)")
                }
                var fields = FieldFilterSpec()
                fields.level = level
                fieldStage(fields)
            case "since", "until":
                let word = try single(args, name, "a time (since 2026-11-30T14:00:00Z, since -15m)")
                let time = template ?? LogTime(year: LogTime.currentYear(now ?? LogTime.now()))
                let seconds: Double
                switch time.placeBound(word.text, now: now ?? LogTime.now()) {
                case .time(let placed): seconds = placed
                case .ambiguous:
                    throw error(word.column, "'\(word.text)' has no year, and falls in different years in the files (by when each was "
                                + "last modified): give one (--year YYYY, or the date with its year)")
                case .notATime:
                    throw error(word.column, "'\(word.text)' is not a time (2026-11-30T14:00:00Z, 2026-11-30, 1796047200, -15m, -2h, -1d)")
                }
                var fields = FieldFilterSpec()
                fields.time = time
                fields.yearGiven = yearGiven
                if name.text == "since" { fields.since = seconds } else { fields.until = seconds }
                fieldStage(fields)
            case "record":
                let word = try single(args, name, "line, auto or a REGEX")
                if record != nil { throw error(name.column, "only one record stage is allowed") }
                record = word.text == "line" ? .line : word.text == "auto" ? .auto : .regex(word.text)
            case "count-by":
                guard (1...2).contains(args.count) else { throw error(args.count > 2 ? args[2].column : name.end, "count-by takes fields and an optional top N (count-by level,service 10)") }
                let fields = args[0].text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                guard fields.allSatisfy(FieldQuery.isValidName) else { throw error(args[0].column, "'\(args[0].text)' names no field (count-by level,service)") }
                var spec = CountBySpec(fields: fields)
                if args.count == 2 {
                    guard let top = Int(args[1].text), top > 0 else { throw error(args[1].column, "'\(args[1].text)' is not a positive whole number") }
                    spec.top = top
                }
                if countBy != nil { throw error(name.column, "only one count-by stage is allowed") }
                countBy = spec
            case "batch":
                guard (1...3).contains(args.count) else {
                    throw error(args.count > 3 ? args[3].column : name.end,
                                "batch takes a size, an optional timeout and an optional byte bound (batch 500 1s 4MiB)")
                }
                guard let size = Int(args[0].text), size > 0 else {
                    throw error(args[0].column, "batch size '\(args[0].text)' is not a positive whole number")
                }
                var policy = BatchPolicy(size: size)
                var timeoutSeen = false
                var bytesSeen = false
                for arg in args.dropFirst() {
                    // A byte bound has a byte unit (4MiB, 500KB); anything else is a timeout.
                    if !bytesSeen, arg.text.last.map({ "bB".contains($0) }) == true {
                        guard let bytes = parseByteSize(arg.text) else {
                            throw error(arg.column, "batch byte bound '\(arg.text)' is not a size (4MiB, 500KB, 1048576B)")
                        }
                        policy.maxBytes = bytes
                        bytesSeen = true
                    } else if !timeoutSeen && !bytesSeen {
                        guard let timeout = parseDuration(arg.text) else {
                            throw error(arg.column, "batch timeout '\(arg.text)' is not a duration (200ms, 1s, 0)")
                        }
                        policy.timeout = timeout
                        timeoutSeen = true
                    } else {
                        throw error(arg.column, "batch takes a size, an optional timeout and an optional byte bound (batch 500 1s 4MiB)")
                    }
                }
                if batch != nil { throw error(name.column, "only one batch stage is allowed") }
                batch = policy
            default:
                throw error(name.column, "unknown stage '\(name.text)' (expected grep, where, level, since, until, record, count-by, map, exec or batch)")
            }
        }
        return Parsed(stages: stages, batch: batch, record: record, countBy: countBy)
    }

    static func parseGrep(_ args: [Word], after name: Word) throws -> GrepSpec {
        var spec = GrepSpec(patterns: [])
        var positional: [Word] = []
        var i = 0
        var optionsEnded = false
        while i < args.count {
            let word = args[i]
            if !optionsEnded && word.text == "--" { optionsEnded = true; i += 1; continue }
            if !optionsEnded && word.text.hasPrefix("-") && word.text.count > 1 {
                var letters = Array(word.text.dropFirst())
                while let letter = letters.first {
                    letters.removeFirst()
                    switch letter {
                    case "i": spec.ignoreCase = true
                    case "v": spec.invert = true
                    case "w": spec.wordRegexp = true
                    case "x": spec.lineRegexp = true
                    case "F": spec.fixedStrings = true
                    case "E": spec.syntax = .extended
                    case "P": spec.syntax = .perl
                    case "G": spec.syntax = .basic
                    case "e":
                        if !letters.isEmpty {
                            spec.patterns.append(String(letters))
                            letters = []
                        } else {
                            guard i + 1 < args.count else { throw error(word.column, "grep -e needs a pattern") }
                            i += 1
                            spec.patterns.append(args[i].text)
                        }
                    default:
                        throw error(word.column, "unknown grep option '-\(letter)' (grep takes -i -v -w -x -G -E -F -P -e)")
                    }
                }
                i += 1
                continue
            }
            positional.append(word)
            i += 1
        }
        if spec.patterns.isEmpty {
            guard let first = positional.first else { throw error(name.end, "grep needs a pattern") }
            spec.patterns.append(first.text)
            positional.removeFirst()
        }
        if let extra = positional.first {
            throw error(extra.column, "unexpected word '\(extra.text)' after the grep pattern (quote a pattern with spaces)")
        }
        return spec
    }

    static func tokenize(_ expression: String) throws -> [Word] {
        var words: [Word] = []
        let chars = Array(expression)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == " " || c == "\t" || c == "\n" { i += 1; continue }
            if c == "|" {
                words.append(Word(text: "|", column: i + 1, isPipe: true))
                i += 1
                continue
            }
            let start = i
            var text = ""
            while i < chars.count {
                let c = chars[i]
                if c == " " || c == "\t" || c == "\n" || c == "|" { break }
                if c == "'" {
                    guard let close = chars[(i + 1)...].firstIndex(of: "'") else {
                        throw error(i + 1, "unterminated single quote")
                    }
                    text += String(chars[(i + 1)..<close])
                    i = close + 1
                } else if c == "\"" {
                    var j = i + 1
                    var closed = false
                    while j < chars.count {
                        if chars[j] == "\\", j + 1 < chars.count, "\"\\$`".contains(chars[j + 1]) {
                            text.append(chars[j + 1]); j += 2; continue
                        }
                        if chars[j] == "\"" { closed = true; break }
                        text.append(chars[j])
                        j += 1
                    }
                    guard closed else { throw error(i + 1, "unterminated double quote") }
                    i = j + 1
                } else if c == "\\" {
                    guard i + 1 < chars.count else { throw error(i + 1, "a backslash ends the expression") }
                    text.append(chars[i + 1])
                    i += 2
                } else {
                    text.append(c)
                    i += 1
                }
            }
            words.append(Word(text: text, column: start + 1, end: i + 1))
        }
        return words
    }

    static func error(_ column: Int, _ message: String) -> SluiceError {
        SluiceError(.usage, place: "--pipeline", "column \(column): \(message)")
    }
}

/// `200ms`, `1s`, `1.5s`, `2m`, or `0` (no timeout, returned as nil inside .some).
public func parseDuration(_ text: String) -> Duration?? {
    if text == "0" { return .some(nil) }
    let units: [(String, Double)] = [("ms", 1e-3), ("us", 1e-6), ("s", 1), ("m", 60)]
    for (unit, scale) in units where text.hasSuffix(unit) {
        guard let value = Double(text.dropLast(unit.count)), value >= 0, value * scale < 1e9 else { return nil }  // under ~31 years
        if value == 0 { return .some(nil) }
        return .some(.nanoseconds(Int64((value * scale * 1e9).rounded())))
    }
    return nil
}

/// A byte count: digits with an optional unit, `B`, `KB`/`MB`/`GB` (10^3 steps) or
/// `K`/`KiB`, `M`/`MiB`, `G`/`GiB` (2^10 steps), case-insensitive: `4MiB`, `500KB`, `65536`.
/// nil for anything else, for zero, and for more than 2^40 (1 TiB).
public func parseByteSize(_ text: String) -> Int? {
    let lower = text.lowercased()
    let digits = lower.prefix { $0.isASCII && $0.isNumber }
    guard !digits.isEmpty, digits.count <= 13, let value = Int(digits), value > 0 else { return nil }
    let units: [String: Int] = ["": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "kb": 1000,
                                "m": 1 << 20, "mib": 1 << 20, "mb": 1_000_000,
                                "g": 1 << 30, "gib": 1 << 30, "gb": 1_000_000_000]
    guard let scale = units[String(lower.dropFirst(digits.count))] else { return nil }
    let (bytes, overflow) = value.multipliedReportingOverflow(by: scale)
    guard !overflow, bytes <= 1 << 40 else { return nil }
    return bytes
}

/// `bytes` as the shortest exact spelling `parseByteSize` reads back: `8MiB`, `500KB`, `100B`.
public func formatByteSize(_ bytes: Int) -> String {
    for (unit, scale) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1000)]
    where bytes % scale == 0 {
        return "\(bytes / scale)\(unit)"
    }
    return "\(bytes)B"
}
