import Glibc
import SluiceKit

/// The command line, validated into a `PipelineSpec`: grep's options with grep's meaning, and
/// sluice's own (transforms, batches, outputs). The library does the work.
struct SluiceCommand {
    var patterns: [[UInt8]] = []
    /// Per pattern: `FILE:LINE` for a line of a -f file (grep's prefix for a refused pattern).
    var origins: [String?] = []
    var patternGiven = false  // -e or -f: then every operand is an input
    var syntax: PatternSyntax?
    var syntaxSpelling = ""
    var ignoreCase = false
    var invert = false
    var wordRegexp = false
    var lineRegexp = false
    var maxCount: String?
    var count = false
    var quiet = false
    var presentation = GrepPresentation()
    var fileNames: Bool?
    /// `-H` was given (not only implied by several files or -r).
    var withFilenameGiven = false
    var afterContext: Int?
    var beforeContext: Int?
    var bothContext: Int?
    enum ColorWhen { case never, auto, always }
    var colorWhen = ColorWhen.never
    var recursive = false
    /// grep's `-d skip`: directories named as operands are passed over in silence.
    var skipDirectories = false
    var walk = DirectoryWalk()
    /// Folders `-r` could not read (reported before the run, exit status 2).
    var walkErrors: [SluiceError] = []
    /// --include/--exclude left none of the file operands: nothing to read (not stdin).
    var filteredAway = false

    var maps: [String] = []
    var execs: [String] = []
    var concurrency: String?
    var unordered = false
    var batchSize: String?
    var batchBytes: String?
    var batchTimeout: String?
    var output: String?
    var overwrite = false
    var resume = false
    var checkpoint: String?
    var retryMax: String?
    var compressionLevel: String?
    var pipeline: String?
    var explain = false
    var stats = false
    var lineBuffered = false
    /// `-a`, `--binary-files=text`: lines after a NUL byte are written as any other; `-I`,
    /// `--binary-files=without-match`: an input ends there, as having no selected line.
    var binaryFiles: BinaryFiles = .binary
    /// grep's `-z`: NUL-terminated lines.
    var nullData = false
    var follow = false
    /// `--progress` (true), `--no-progress` (false); nil: when stderr is a terminal and the
    /// output is not (a progress line between output lines would garble them).
    var progress: Bool?
    var showHelp = false
    /// `--generate-completion-script SHELL`, `--generate-manual`: for `make install`.
    var completionShell: String?
    var showManual = false
    var showVersion = false
    var inputs: [InputName] = []
    /// `--where` (each; AND-ed), `--level`, `--since`, `--until`, `--format`, `--tz`, `--year`.
    var wheres: [String] = []
    var level: String?
    var since: String?
    var until: String?
    var format: String?
    var timeZone: String?
    var year: String?
    var countBy: String?
    var top: String?
    var record: String?
    /// `--json`, `--template T`, `--fields LIST`, with the spelling given (for messages).
    var shapes: [(OutputShape, String)] = []
    /// A field filter was given.
    var fieldFiltersGiven: Bool { !wheres.isEmpty || level != nil || since != nil || until != nil }
    /// A field option was given: then, as with -e, every operand is an input.
    var fieldsGiven: Bool { fieldFiltersGiven || countBy != nil || !shapes.isEmpty }
    /// The output's rows hold each line's time, level and fields (`-O clickhouse://`).
    var outputReadsFields: Bool { output?.hasPrefix("clickhouse://") ?? false }

    static let version = "sluice 0.2.0"

    /// Reads the arguments (after the program name) as `GrepCommandLine.parse` read them
    /// (installed as grep, `-b` is grep's byte offset there). Throws a usage error for what
    /// grep would refuse, and for grep options sluice does not have (naming them).
    init(parsed read: Result<GrepCommandLine.Parsed, GrepCommandLine.UsageError>) throws {
        let parsed: GrepCommandLine.Parsed
        do {
            parsed = try read.get()
        } catch {
            throw CommandLineError(error.message, showUsage: true)
        }
        func text(_ given: GrepCommandLine.Given) -> String { String(decoding: given.value ?? [], as: UTF8.self) }
        for given in parsed.options {
            switch given.key {
            case .regexp:
                patterns.append(given.value ?? [])
                origins.append(nil)
                patternGiven = true
            case .file:
                let lines = try Self.patternFile(FileName(given.value ?? []))
                patterns += lines
                origins += lines.indices.map { "\(text(given)):\($0 + 1)" }
                patternGiven = true
            case .ignoreCase: ignoreCase = true
            case .noIgnoreCase: ignoreCase = false
            case .invert: invert = true
            case .wordRegexp: wordRegexp = true
            case .lineRegexp: lineRegexp = true
            case .count: count = true
            case .filesWithMatches: presentation.listFiles = .withMatches
            case .filesWithoutMatch: presentation.listFiles = .withoutMatch
            case .maxCount: maxCount = text(given)
            case .onlyMatching: presentation.onlyMatching = true
            case .quiet: quiet = true
            case .noMessages: presentation.suppressInputErrors = true
            case .lineNumber: presentation.lineNumbers = true
            case .withFilename: fileNames = true; withFilenameGiven = true
            case .noFilename: fileNames = false; withFilenameGiven = false
            case .null: presentation.nullAfterName = true
            case .label: presentation.standardInputLabel = given.value ?? []
            case .text: binaryFiles = .text
            case .binary: break  // -U is a no-op on GNU systems
            case .unixByteOffsets: break  // as grep 3.8: no effect (its warning: GrepCommandLine.warnings)
            case .version: showVersion = true
            case .help: showHelp = true
            case .generateCompletionScript: completionShell = text(given)
            case .generateManual: showManual = true
            case .basic, .extended, .fixed, .perl:
                let chosen: PatternSyntax = switch given.key {
                case .basic: .basic
                case .extended: .extended
                case .fixed: .fixed
                default: .perl
                }
                if let syntax, syntax != chosen { throw CommandLineError("conflicting matchers specified") }
                syntax = chosen
                syntaxSpelling = given.spelling
            case .color:
                let when = given.value.map { String(decoding: $0, as: UTF8.self) } ?? "auto"
                switch when {
                case "never", "no", "none": colorWhen = .never
                case "auto", "tty", "if-tty": colorWhen = .auto
                case "always", "yes", "force": colorWhen = .always
                default:
                    throw CommandLineError("invalid argument '\(when)' for '--color'\nValid arguments are:\n  - 'always', 'yes', 'force'\n  - 'never', 'no', 'none'\n  - 'auto', 'tty', 'if-tty'", showUsage: true)
                }
            case .afterContext, .beforeContext, .context:
                let value = text(given)
                guard let lines = Self.grepNumber(given.value ?? []), lines >= 0 else {
                    throw CommandLineError("\(value): invalid context length argument")
                }
                switch given.key {
                case .afterContext: afterContext = lines
                case .beforeContext: beforeContext = lines
                default: bothContext = lines
                }
            case .recursive:
                recursive = true
                skipDirectories = false
            case .dereferenceRecursive:
                recursive = true
                skipDirectories = false
                walk.followAllLinks = true
            case .directories:
                // The last of -d, -r and -R wins, as in grep.
                switch text(given) {
                case "read":
                    recursive = false
                    skipDirectories = false
                case "skip":
                    recursive = false
                    skipDirectories = true
                case "recurse":
                    recursive = true
                    skipDirectories = false
                default:
                    // grep's words; argmatch's exit status is 1 here, not 2.
                    throw CommandLineError("invalid argument '\(text(given))' for '--directories'\nValid arguments are:\n  - 'read'\n  - 'recurse'\n  - 'skip'",
                                           showUsage: true, status: 1)
                }
            case .devices:
                switch text(given) {
                case "read": walk.readDevices = true
                case "skip": walk.readDevices = false
                default: throw CommandLineError("unknown devices method")
                }
            case .include: walk.fileGlobs.append((FileName(given.value ?? []), true))
            case .exclude: walk.fileGlobs.append((FileName(given.value ?? []), false))
            case .excludeDir: walk.addExcludeDirectory(FileName(given.value ?? []))
            case .excludeFrom:
                walk.fileGlobs += try Self.patternFile(FileName(given.value ?? [])).filter { !$0.isEmpty }.map { (FileName($0), false) }
            case .groupSeparator: presentation.groupSeparator = given.value ?? []
            case .noGroupSeparator: presentation.groupSeparator = nil
            case .byteOffset: presentation.byteOffsets = true
            case .initialTab: presentation.initialTab = true
            case .binaryFiles:
                switch text(given) {
                case "binary": binaryFiles = .binary
                case "text": binaryFiles = .text
                case "without-match": binaryFiles = .withoutMatch
                default: throw CommandLineError("unknown binary-files type")
                }
            case .nullData: nullData = true
            case .ignoreBinary: binaryFiles = .withoutMatch
            case .concurrency: concurrency = text(given)
            case .unordered: unordered = true
            case .lineBuffered: lineBuffered = true
            case .follow: follow = true
            case .progress: progress = true
            case .noProgress: progress = false
            case .batchSize: batchSize = text(given)
            case .batchBytes: batchBytes = text(given)
            case .batchTimeout: batchTimeout = text(given)
            case .output: output = text(given)
            case .overwrite: overwrite = true
            case .resume: resume = true
            case .checkpoint: checkpoint = text(given)
            case .retryMax: retryMax = text(given)
            case .compressionLevel: compressionLevel = text(given)
            case .pipeline: pipeline = text(given)
            case .explain: explain = true
            case .stats: stats = true
            case .map: maps.append(text(given))
            case .exec: execs.append(text(given))
            case .whereExpression: wheres.append(text(given))
            case .level, .since, .until, .record:
                // Given twice would silently keep one: refused (repeated --where options AND).
                let previous: String? = switch given.key { case .level: level; case .since: since; case .until: until; default: record }
                if previous != nil { throw CommandLineError("\(given.spelling) given twice (give it once; --where conditions can be joined with 'and')") }
                switch given.key {
                case .level: level = text(given)
                case .since: since = text(given)
                case .until: until = text(given)
                default: record = text(given)
                }
            case .format: format = text(given)
            case .timeZone: timeZone = text(given)
            case .year: year = text(given)
            case .countBy: countBy = text(given)
            case .top: top = text(given)
            case .json: shapes.append((.json, "--json"))
            case .template: shapes.append((.template(text(given)), "--template"))
            case .fields: shapes.append((.fields(text(given).split(separator: ",", omittingEmptySubsequences: false).map(String.init)), "--fields"))
            }
        }
        var operandBytes = parsed.operands
        if showHelp || showVersion || completionShell != nil || showManual { return }
        if !patternGiven && pipeline == nil && fieldsGiven {
            // Field options select: every operand is an input, and every line is a candidate.
            patterns = [[]]
            origins = [nil]
        } else if !patternGiven && pipeline == nil {
            guard !operandBytes.isEmpty else { throw CommandLineError(nil, showUsage: true) }
            patterns = [operandBytes.removeFirst()]
            origins = [nil]
            patternGiven = true
        }
        // -d skip: directories named are passed over; -D skip: devices, FIFOs and sockets named
        // (standard input is read whatever it is), as grep does.
        let operands = operandBytes.map(FileName.init).filter { name in
            guard skipDirectories || walk.readDevices == false, name != "-" else { return true }
            var info = stat()
            guard name.withCString({ stat($0, &info) }) == 0 else { return true }  // the reader reports it
            switch info.st_mode & S_IFMT {
            case S_IFDIR: return !skipDirectories
            case S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK: return walk.readDevices != false
            default: return true
            }
        }
        if !operandBytes.isEmpty && operands.isEmpty {
            filteredAway = true  // all skipped: nothing to read (not stdin, not the working folder)
            if fileNames == nil && operandBytes.count > 1 { fileNames = true }
        } else if recursive {
            // grep -r names its files unless it was given one operand that is not a folder.
            var info = stat()
            let oneFile = operands.count == 1
                && (operands[0] == "-" || operands[0].withCString({ stat($0, &info) }) != 0 || (info.st_mode & S_IFMT) != S_IFDIR)
            let (found, errors) = walk.expand(operands)
            inputs = found
            walkErrors = errors
            if fileNames == nil && !oneFile { fileNames = true }
        } else if !walk.fileGlobs.isEmpty {
            // Without -r, --include and --exclude still filter the file operands, as in grep.
            inputs = walk.expand(operands).inputs
            if fileNames == nil && operandBytes.count > 1 { fileNames = true }
            filteredAway = !operands.isEmpty && inputs.isEmpty
        } else {
            inputs = operands.map(InputName.init(argument:))
            if fileNames == nil && operandBytes.count > 1 { fileNames = true }  // as given, skipped ones too
        }
    }

    /// Whether standard output is /dev/null (grep's `dev_null_output`).
    static func standardOutputIsDevNull() -> Bool {
        var out = stat()
        var null = stat()
        guard fstat(1, &out) == 0, out.st_mode & S_IFMT == S_IFCHR, stat("/dev/null", &null) == 0 else { return false }
        return out.st_dev == null.st_dev && out.st_ino == null.st_ino
    }

    /// A number as grep reads one (`xstrtoimax`, base 10): blanks before it, a sign, then
    /// decimal digits only; past Int's range it is Int.max (Int.min when negative). nil when
    /// it is not such a number (`1x`, `0x1`, `1k`, empty).
    static func grepNumber(_ bytes: [UInt8]) -> Int? {
        var rest = bytes[...].drop { [0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D].contains($0) }
        var negative = false
        if let sign = rest.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
            negative = sign == UInt8(ascii: "-")
            rest = rest.dropFirst()
        }
        guard !rest.isEmpty, rest.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        var value = 0
        for digit in rest {
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (plus, overflow2) = times.addingReportingOverflow(Int(digit - 0x30))
            if overflow1 || overflow2 { return negative ? Int.min : Int.max }
            value = plus
        }
        return negative ? -value : value
    }

    static func notYet(_ spelling: String, _ what: String) -> CommandLineError {
        CommandLineError("\(spelling) is not supported yet (\(what))")
    }

    /// `-f FILE`: one pattern per line; a last newline ends the last pattern; an empty file
    /// is no pattern at all (nothing matches).
    static func patternFile(_ path: FileName) throws -> [[UInt8]] {
        let fd = path == "-" ? 0 : path.withCString { open($0, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { throw CommandLineError("\(path): \(String(cString: strerror(errno)))") }
        defer { if fd != 0 { close(fd) } }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw CommandLineError("\(path): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            bytes += buffer[..<n]
        }
        if bytes.isEmpty { return [] }
        if bytes.last == 0x0A { bytes.removeLast() }
        return bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
    }

    /// `--follow`: named files, read without end. What needs an end (counts, lists, a total)
    /// is refused.
    func refuseWhatFollowCannotDo(_ spec: inout PipelineSpec) throws {
        func refuse(_ what: String, _ why: String) throws {
            throw SluiceError(.usage, place: "--follow", "cannot be combined with \(what): \(why)")
        }
        if spec.inputs.isEmpty {
            throw SluiceError(.usage, place: "--follow", "follows named files, and none is named (the first operand is the pattern, "
                + "as in grep: sluice --follow PATTERN FILE...)")
        }
        if spec.inputs.contains(.standardInput) {
            throw SluiceError(.usage, place: "--follow", "follows named files (standard input is read to its end anyway: tail -F FILE | sluice ...)")
        }
        let output: FileIdentity? = if case .file(let path) = spec.output { FileIdentity(regularFileAt: path) } else { nil }
        for case .path(let path) in spec.inputs {
            var info = stat()
            if path.withCString({ stat($0, &info) }) == 0 && info.st_mode & S_IFMT == S_IFDIR {
                throw SluiceError(.usage, file: path, "Is a directory: --follow follows files (name them, or their glob)")
            }
            if let output, FileIdentity(regularFileAt: path) == output {
                throw SluiceError(.usage, file: path, "input file is also the output: a followed run would read what it writes")
            }
        }
        if recursive { try refuse("-r", "it follows the files named") }
        if case .database(let database) = spec.output, case .clickhouse = database.kind {
            // Rows are keyed (source, line_no) and collapse when parts merge; a followed name's
            // next file numbers its lines from 1 again, so its rows would replace the last one's.
            try refuse("-O clickhouse://", "a followed name's next file numbers its lines from 1 again, and rows with the same "
                       + "source and line_no are one row in that table; load whole files (with --resume), or follow into sqlite: or postgresql://")
        }
        if spec.countOnly { try refuse("-c", "a followed file never ends, so there is no count to print") }
        if let listFiles = spec.presentation.listFiles { try refuse(listFiles == .withoutMatch ? "-L" : "-l", "a followed file never ends") }
        if spec.stats { try refuse("--stats", "a followed file never ends") }
        if spec.usesContext {
            try refuse("-A/-B/-C", "context does not follow a file through its rotations yet (tail -F FILE | sluice -C N ...)")
        }
        if spec.inputs.count > 1 && spec.maxCount != nil {
            try refuse("-m", "with more than one file (their lines interleave); follow one file")
        }
        if case .file(let path) = spec.output, path.hasSuffix(".gz"), !OutputDestination.isWrittenThrough(path) {
            // Appended to as lines come (AppendFileSink): gzip members per write would be a
            // poor file; a {n} output compresses whole files.
            try refuse("-O FILE.gz", "a followed run appends to its -O FILE as lines come; "
                       + "compress one file per batch instead (-O 'NAME-{n}.log.gz')")
        }
        // A followed run is a shipper, restarted with its own command line: where its output
        // keeps checkpoints (--checkpoint with {n}, a database), it goes on from them
        // (--resume implied; with none yet, from the start).
        if spec.takesRows { spec.resume = true }
        // A live export's {n} files roll by age too: at a batch timeout (FollowTests). Its
        // default is 10 s there, not 200 ms: a file per trickled line is no one's wish.
        if case .split = spec.output, batchTimeout == nil, pipeline == nil {
            spec.batch.timeout = .seconds(10)
        }
        spec.follow = true
    }

    /// `--where`, `--level`, `--since`, `--until` (with `--format`, `--tz`, `--year`) as one
    /// filter; nil when none is given. Each is checked here, before anything is read.
    func fieldFilter(now: Double = Self.now()) throws -> FieldFilterSpec? {
        guard fieldFiltersGiven else { return nil }
        var spec = FieldFilterSpec()
        spec.format = try logFormat()
        if !wheres.isEmpty {
            spec.whereText = wheres.count == 1 ? wheres[0] : wheres.map { "(\($0))" }.joined(separator: " and ")
            // Checked now, so a mistake is a usage error naming its column before any input is read.
            for text in wheres {
                var query = FieldQuery()
                var regexes = 0
                _ = try WhereExpression.parse(text, query: &query, regexCount: &regexes)
            }
        }
        if let level {
            guard let parsed = LevelFilter(parsing: level) else {
                throw SluiceError(.usage, place: "--level", "'\(level)' is not a level (trace, debug, info, notice, warn, error, fatal; "
                                  + "LEVEL+ for that level and worse: --level warn+)")
            }
            spec.level = parsed
        }
        let time = try logTime(now: now)
        spec.time = time
        spec.yearGiven = year != nil
        for (text, place) in [(since, "--since"), (until, "--until")] {
            guard let text else { continue }
            let seconds: Double
            switch time.placeBound(text, now: now) {
            case .time(let placed): seconds = placed
            case .ambiguous: throw Self.noYear(text, place: place)
            case .notATime:
                throw SluiceError(.usage, place: place, "'\(text)' is not a time (2026-11-30T14:00:00Z, 2026-11-30, 'Nov 30 14:00:00', "
                                  + "1796047200, -15m, -2h, -1d)")
            }
            if place == "--since" { spec.since = seconds } else { spec.until = seconds }
        }
        if let since = spec.since, let until = spec.until, since >= until {
            throw SluiceError(.usage, place: "--until", "'\(self.until ?? "")' is not after --since '\(self.since ?? "")': no time is in that window")
        }
        return spec
    }

    /// `--format`, checked; refused when no option reads fields.
    func logFormat() throws -> LogFormat {
        guard let format else { return .auto }
        guard fieldsGiven || outputReadsFields else {
            throw SluiceError(.usage, place: "--format", "says how to read fields, and no option reads any (--where, --level, --since, --until, --count-by, -O clickhouse://)")
        }
        guard let chosen = LogFormat(rawValue: format) else {
            throw SluiceError(.usage, place: "--format", "'\(format)' is not a format (auto, json, logfmt, text)")
        }
        return chosen
    }

    /// `--count-by FIELD[,FIELD...]` and `--top N`, checked against what they cannot go with.
    func countBySpec(fromPipeline pipelineSpec: CountBySpec? = nil) throws -> CountBySpec? {
        var spec: CountBySpec
        if let countBy {
            let fields = countBy.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard !fields.isEmpty, fields.allSatisfy(FieldQuery.isValidName) else {
                throw SluiceError(.usage, place: "--count-by", "names no field ('\(countBy)'; --count-by level or --count-by service,status)")
            }
            spec = CountBySpec(fields: fields)
        } else if let pipelineSpec {
            spec = pipelineSpec
        } else {
            if let top { throw SluiceError(.usage, place: "--top", "'\(top)' applies to --count-by's table (--count-by FIELD --top N)") }
            return nil
        }
        spec.format = try logFormat()
        if let top {
            guard let value = Int(top), value > 0 else { throw SluiceError(.usage, place: "--top", "'\(top)' is not a positive whole number") }
            spec.top = value
        }
        func refuse(_ what: String) throws {
            throw SluiceError(.usage, place: "--count-by", "prints a table of counts, not lines: \(what) does not apply")
        }
        if count { try refuse("-c") }
        if quiet { try refuse("-q") }
        if let listFiles = presentation.listFiles { try refuse(listFiles == .withoutMatch ? "-L" : "-l") }
        if presentation.onlyMatching { try refuse("-o") }
        if presentation.lineNumbers { try refuse("-n") }
        if afterContext != nil || beforeContext != nil || bothContext != nil { try refuse("context (-A, -B, -C)") }
        if maxCount != nil { try refuse("-m") }
        if !execs.isEmpty { try refuse("--exec") }
        if follow { try refuse("--follow (a followed file never ends, so the table is never complete)") }
        if checkpoint != nil { try refuse("--checkpoint") }
        return spec
    }

    /// `--record line|auto|REGEX`.
    func recordMode(fromPipeline pipelineMode: RecordMode? = nil) throws -> RecordMode {
        let mode: RecordMode
        if let record {
            mode = switch record.lowercased() {
            case "line": .line
            case "auto": .auto
            default: .regex(record)
            }
        } else {
            mode = pipelineMode ?? .line
        }
        guard mode != .line else { return mode }
        if case .regex(let pattern) = mode, pattern.isEmpty { throw SluiceError(.usage, place: "--record", "needs line, auto or a REGEX a record's first line matches") }
        return mode
    }

    /// `--json`, `--template`, `--fields` (one of them), checked against what they replace.
    func outputShape() throws -> (OutputShape, String)? {
        guard let (shape, spelling) = shapes.last else { return nil }
        if shapes.count > 1, let other = shapes.first(where: { $0.1 != spelling }) {
            throw SluiceError(.usage, place: spelling, "cannot be combined with \(other.1): choose one shape for the lines written")
        }
        if case .fields(let names) = shape, names.contains(where: { !FieldQuery.isValidName($0) }) {
            throw SluiceError(.usage, place: spelling, "names no field in '\(names.joined(separator: ","))' (--fields ts,level,msg)")
        }
        func refuse(_ what: String) throws {
            throw SluiceError(.usage, place: spelling, "writes each selected line in its own shape: \(what) does not apply")
        }
        if count { try refuse("-c") }
        if presentation.listFiles != nil { try refuse("-l/-L") }
        if presentation.onlyMatching { try refuse("-o") }
        if presentation.lineNumbers { try refuse(shape == .json ? "-n (the JSON has the line number)" : "-n") }
        if withFilenameGiven { try refuse(shape == .json ? "-H (the JSON has the input's name)" : "-H") }
        if afterContext != nil || beforeContext != nil || bothContext != nil { try refuse("context (-A, -B, -C)") }
        if colorWhen != .never { try refuse("--color") }
        if countBy != nil { try refuse("--count-by") }
        return (shape, spelling)
    }

    static func now() -> Double { LogTime.now() }

    static func noYear(_ text: String, place: String) -> SluiceError {
        SluiceError(.usage, place: place, "'\(text)' has no year, and falls in different years in the files (by when each was "
                    + "last modified): give one (--year YYYY, or the date with its year)")
    }

    /// How times are read: `--tz`, and `--year` or the year the inputs were last modified
    /// (a `--since`/`--until` time written without a year is placed as their lines are).
    func logTime(now: Double) throws -> LogTime {
        var time = LogTime(year: Self.currentYear(now))
        if let timeZone {
            guard let offset = parseZoneOffset(timeZone) else {
                throw SluiceError(.usage, place: "--tz", "'\(timeZone)' is not an offset from UTC (+01:00, -0500, UTC)")
            }
            time.zoneOffset = offset
        }
        if let year {
            guard let value = Int(year), (1...9999).contains(value) else {
                throw SluiceError(.usage, place: "--year", "'\(year)' is not a year (2026)")
            }
            time.year = value
        } else {
            // As the inputs' lines are read (LogTime.reading); a bound is placed in each.
            let readings = (inputs.isEmpty ? [InputName.standardInput] : inputs).compactMap { time.reading($0, now: now) }
            if let first = readings.first, readings.allSatisfy({ $0.year == first.year }) { time.year = first.year }
            time.readings = readings
        }
        return time
    }


    static func currentYear(_ now: Double) -> Int { LogTime.currentYear(now) }

    /// The validated run description; usage errors name the flag.
    func makeSpec(cores: Int) throws -> PipelineSpec {
        var spec = PipelineSpec()
        var batchGiven = batchSize != nil
        var pipelineRecord: RecordMode?
        var pipelineCountBy: CountBySpec?
        spec.cores = max(1, cores)
        spec.inputs = inputs
        if let pipeline {
            var mixed: [String] = []
            if patternGiven { mixed.append("-e") }
            if syntax != nil { mixed.append(syntaxSpelling) }
            if ignoreCase { mixed.append("-i") }
            if invert { mixed.append("-v") }
            if wordRegexp { mixed.append("-w") }
            if lineRegexp { mixed.append("-x") }
            if presentation.onlyMatching { mixed.append("-o") }
            if !maps.isEmpty { mixed.append("--map") }
            if !execs.isEmpty { mixed.append("--exec") }
            if batchSize != nil { mixed.append("-b") }
            if batchTimeout != nil { mixed.append("--batch-timeout") }
            if batchBytes != nil { mixed.append("--batch-bytes") }
            if !wheres.isEmpty { mixed.append("--where") }
            if level != nil { mixed.append("--level") }
            if since != nil { mixed.append("--since") }
            if until != nil { mixed.append("--until") }
            if !mixed.isEmpty {
                throw SluiceError(.usage, place: "--pipeline", "cannot be combined with \(mixed.joined(separator: ", ")): spell those stages inside the expression")
            }
            // --tz and --year hold for the expression's since and until as for the options.
            let parsed = try ExpressionParser.parse(pipeline, time: logTime(now: Self.now()), yearGiven: year != nil)
            spec.stages = parsed.stages
            if let record = parsed.record {
                if self.record != nil { throw SluiceError(.usage, place: "--pipeline", "cannot be combined with --record: spell it inside the expression") }
                pipelineRecord = record
            }
            if let countBy = parsed.countBy {
                if self.countBy != nil { throw SluiceError(.usage, place: "--pipeline", "cannot be combined with --count-by: spell it inside the expression") }
                pipelineCountBy = countBy
            }
            if let batch = parsed.batch {
                spec.batch = batch
                batchGiven = true
            }
        } else {
            let syntax = syntax ?? .basic
            // (With context the grep stage stays: separators between files, trailing context after -m.)
            let selectsEverything = patterns == [[]] && !invert && !lineRegexp && !wordRegexp && !presentation.onlyMatching
                && afterContext == nil && beforeContext == nil && bothContext == nil
            let fields = try fieldFilter()
            if !selectsEverything || fields != nil {
                var grep = GrepSpec(patternBytes: patterns, fixedStrings: syntax == .fixed, ignoreCase: ignoreCase,
                                    invert: invert, wordRegexp: wordRegexp, lineRegexp: lineRegexp)
                grep.syntax = syntax
                grep.patternOrigins = origins
                grep.fields = fields
                spec.stages.append(.grep(grep))
            }
            for map in maps { spec.stages.append(.map(try MapSpec(parsing: map))) }
            for command in execs {
                guard !command.isEmpty else { throw SluiceError(.usage, place: "--exec", "needs a command") }
                spec.stages.append(.exec(command))
            }
            if let batchSize {
                guard let size = Int(batchSize), size > 0 else {
                    // A grep user's -b (byte offset) lands here: say what -b is in sluice.
                    throw SluiceError(.usage, place: "--batch-size", "must be a number of lines, at least 1, not '\(batchSize)' "
                                      + "(in sluice -b is --batch-size; grep's -b is --byte-offset)")
                }
                spec.batch.size = size
            }
            if let batchBytes {
                guard let bytes = parseByteSize(batchBytes) else {
                    throw SluiceError(.usage, place: "--batch-bytes", "'\(batchBytes)' is not a size from 1 byte to 1TiB (4MiB, 500KB, 65536)")
                }
                spec.batch.maxBytes = bytes
            }
            if let batchTimeout {
                guard let timeout = parseDuration(batchTimeout) else {
                    throw SluiceError(.usage, place: "--batch-timeout", "'\(batchTimeout)' is not a duration (200ms, 1s, 0)")
                }
                spec.batch.timeout = timeout
            }
        }
        _ = try logFormat()
        spec.countBy = try countBySpec(fromPipeline: pipelineCountBy)
        spec.record = try recordMode(fromPipeline: pipelineRecord)
        if presentation.byteOffsets && spec.record != .line {
            throw SluiceError(.usage, place: "--byte-offset", "is not supported with --record (a record's lines have their line numbers, -n)")
        }
        let shapeSpelling = try outputShape().map { shape, spelling in
            spec.shape = shape
            spec.shapeFormat = try logFormat()
            return spelling
        }
        if let concurrency {
            guard let value = Int(concurrency), value >= 1 && value <= 1024 else {
                throw SluiceError(.usage, place: "--concurrency", "must be between 1 and 1024, not '\(concurrency)'")
            }
            spec.concurrency = value
        } else {
            spec.concurrency = max(1, cores)
        }
        spec.ordered = !unordered
        if let maxCount {
            // As grep: a negative count is no limit, and a count past Int.max is Int.max.
            guard let value = Self.grepNumber(Array(maxCount.utf8)) else {
                throw SluiceError(.usage, "invalid max count")  // grep's words
            }
            spec.maxCount = value < 0 ? nil : value  // -0 is 0, as grep reads it
        }
        spec.countOnly = count
        spec.quiet = quiet
        var presentation = self.presentation
        presentation.fileNames = fileNames ?? (inputs.count > 1)
        // As grep: auto means a terminal that is not "dumb" (and, as many tools, no NO_COLOR).
        let term = getenv("TERM").map { String(cString: $0) }
        let colored = colorWhen == .always
            || (colorWhen == .auto && isatty(1) != 0 && term != nil && term != "dumb" && getenv("NO_COLOR") == nil)
        if colored {
            presentation.colors = try GrepColors(environment: getenv("GREP_COLORS").map { String(cString: $0) },
                                                 legacy: getenv("GREP_COLOR").map { String(cString: $0) })
        }
        // As grep: -A and -B win over -C (and -NUM), whatever their order.
        presentation.afterContext = afterContext ?? bothContext
        presentation.beforeContext = beforeContext ?? bothContext
        if presentation.afterContext != nil || presentation.beforeContext != nil {
            if pipeline != nil || !maps.isEmpty || !execs.isEmpty {
                throw SluiceError(.usage, place: "-A/-B/-C", "context lines cannot be combined with --map, --exec or -p yet")
            }
        }
        spec.presentation = presentation
        spec.stats = stats
        // grep -z: a NUL ends a line, so it never shows a file binary (nor, in the C locale,
        // does any other byte).
        spec.binaryFiles = nullData ? .text : binaryFiles
        spec.nullData = nullData
        spec.stages = spec.stages.map { stage in
            guard case .grep(var grep) = stage else { return stage }
            grep.nullData = nullData
            return .grep(grep)
        }
        spec.lineBuffered = lineBuffered  // flushing only: the batches stay those of -b and --batch-timeout
        let level = compressionLevel.map { Int32($0) ?? 0 } ?? 1
        guard (1...9).contains(level) else {
            throw SluiceError(.usage, place: "--compression-level", "must be 1 to 9, not '\(compressionLevel ?? "")'")
        }
        spec.compressionLevel = level
        if let kib = getenv("SLUICE_CHUNK_KIB").flatMap({ Int(String(cString: $0)) }), kib >= 4 {
            spec.chunkSize = kib * 1024  // for benchmarking chunk sizes; not a documented knob
        }
        if let output { spec.output = try OutputTarget.parse(output) }
        // As grep: with standard output on /dev/null only the exit status can matter
        // (`if grep x f >/dev/null`), so each file is read up to its first selected line, as
        // with -l (whose names go to /dev/null): 0.5 s -> 0.0 s for a match early in 200 MB.
        // Not standard input, which grep reads to its end there (its writer is never cut off).
        if output == nil, !quiet, !spec.inputs.isEmpty, !spec.inputs.contains(.standardInput), !follow, !stats, pipeline == nil, maps.isEmpty, execs.isEmpty, spec.shape == nil,
           spec.countBy == nil, spec.record == .line, Self.standardOutputIsDevNull() {
            spec.presentation.listFiles = .withMatches
            spec.countOnly = false
            spec.presentation.afterContext = nil
            spec.presentation.beforeContext = nil
        }
        if let shapeSpelling, spec.takesRows {
            throw SluiceError(.usage, place: shapeSpelling, "shapes the lines written, and \(spec.output) takes them as rows")
        }
        if outputReadsFields {
            var columns = RowColumnsSpec()
            columns.format = try logFormat()
            columns.time = try logTime(now: Self.now())
            columns.yearGiven = year != nil
            spec.rowColumns = columns
        }
        if !batchGiven, case .database(let target) = spec.output {
            if case .clickhouse = target.kind { spec.batch.size = BatchPolicy.clickHouseSize } else { spec.batch.size = BatchPolicy.databaseSize }
        }
        if overwrite {
            guard case .split = spec.output else {
                throw SluiceError(.usage, place: "--overwrite", "applies to a {n} output only (-O 'NAME-{n}.log'); a single -O FILE is always replaced")
            }
            spec.overwrite = true
        }
        if let checkpoint {
            guard case .split = spec.output else {
                throw SluiceError(.usage, place: "--checkpoint", "applies to a {n} output (-O 'NAME-{n}.log'); a database keeps its checkpoints in its own table")
            }
            guard !checkpoint.isEmpty else { throw SluiceError(.usage, place: "--checkpoint", "names no file") }
            spec.checkpointPath = checkpoint
        }
        if let retryMax {
            guard case .database(let database) = spec.output, database.isServer else {
                throw SluiceError(.usage, place: "--retry-max", "applies to a database server output (-O postgresql://..., -O clickhouse://...)")
            }
            guard let duration = parseDuration(retryMax) else {
                throw SluiceError(.usage, place: "--retry-max", "'\(retryMax)' is not a duration (30s, 2m, 0)")
            }
            spec.retryMax = duration ?? .zero  // 0: no retry
        }
        if resume {
            guard spec.takesRows else {
                throw SluiceError(.usage, place: "--resume", "needs an output that keeps checkpoints (-O sqlite:PATH, -O postgresql://..., -O clickhouse://..., or a {n} output with --checkpoint FILE)")
            }
            spec.resume = true
        }
        if spec.countBy != nil && spec.takesRows {
            throw SluiceError(.usage, place: "--count-by", "prints a table of counts, not lines: \(spec.output) takes lines as rows")
        }
        if follow { try refuseWhatFollowCannotDo(&spec) }
        let outputIsTerminal = spec.output == .standardOutput && isatty(1) != 0
        spec.progress = progress ?? (isatty(2) != 0 && !outputIsTerminal && !follow && !quiet)
        return spec
    }

    static func usage(_ program: String) -> String {
        "Usage: \(program) [OPTION]... PATTERNS [FILE]...\nTry '\(program) --help' for more information."
    }

    static func help(_ program: String) -> String {
        """
        Usage: \(program) [OPTION]... PATTERNS [FILE]...
        Search for PATTERNS in each FILE, as GNU grep does; transform the selected lines
        concurrently, batch them and export them. Compressed inputs (gzip, xz, bzip2, zstd) are
        read as text.
        Example: \(program) -i 'hello world' menu.h main.c
        PATTERNS can contain multiple patterns separated by newlines.

        Matching (as grep):
          -E, --extended-regexp     PATTERNS are extended regular expressions
          -F, --fixed-strings       PATTERNS are strings
          -G, --basic-regexp        PATTERNS are basic regular expressions (the default)
          -P, --perl-regexp         PATTERNS are Perl regular expressions (PCRE2)
          -e, --regexp=PATTERNS     use PATTERNS for matching
          -f, --file=FILE           take PATTERNS from FILE
          -i, --ignore-case         ignore case distinctions in patterns and data (ASCII)
              --no-ignore-case      do not ignore case distinctions (default)
          -w, --word-regexp         match only whole words
          -x, --line-regexp         match only whole lines

        Output control (as grep):
          -m, --max-count=NUM       stop after NUM selected lines (per file)
          -n, --line-number         print line number with output lines
              --line-buffered       flush output on every line
          -H, --with-filename       print file name with output lines
          -h, --no-filename         suppress the file name prefix on output
              --label=LABEL         use LABEL as the standard input file name prefix
          -o, --only-matching       show only nonempty parts of lines that match
          -q, --quiet, --silent     suppress all normal output
          -s, --no-messages         suppress error messages about files
          -v, --invert-match        select non-matching lines
          -L, --files-without-match  print only names of FILEs with no selected lines
          -l, --files-with-matches  print only names of FILEs with selected lines
          -c, --count               print only a count of selected lines per FILE
          -Z, --null                print 0 byte after FILE name
          -T, --initial-tab         make tabs line up (if needed)
          -a, --text                equivalent to --binary-files=text
          -I                        equivalent to --binary-files=without-match
          -z, --null-data           a data line ends in 0 byte, not newline
              --color[=WHEN]        colour matches, names, numbers: never, always, auto
          -V, --version             display version information and exit
              --help                display this help text and exit
        Context (as grep): -A NUM, -B NUM, -C NUM, -NUM, --group-separator=SEP, --no-group-separator.
        Files (as grep): -r, -R, --include=GLOB, --exclude=GLOB, --exclude-from=FILE, --exclude-dir=GLOB,
          -d, --directories=read|skip|recurse, -D, --devices=read|skip.
        Colour (as grep): --color[=WHEN] (never, auto, always), GREP_COLORS (ms mc fn ln bn se ne; not sl cx rv).
              --byte-offset         print the byte offset of each line (-o: match) in its input
        Different from grep: -b is --batch-size; grep's -b is --byte-offset (installed as grep, -b is it).

        Records and fields (sluice's own; with a field option every operand is a FILE):
              --record=auto|REGEX   the unit is a record: a line that starts one (auto: a
                                    timestamp, a JSON object or key=value first; a level word
                                    where the file shows no timestamps) and the lines
                                    continuing it (a stack trace); default: line; in a
                                    followed file a record also ends after 1 s without
                                    a new byte
              --where=EXPR          lines whose fields satisfy EXPR: level == "ERROR" and
                                    (status >= 500 or msg ~ /timeout/i); also !=, <, <=, >,
                                    exists(F), not, or; a.b for nested JSON keys
              --level=L[+]          lines of level L (error, warn, info, ...), or L and worse
              --since=T, --until=T  lines whose timestamp is at or after T, before T
                                    (2026-11-30T14:00Z, 2026-11-30, 1796047200, -15m, -2h)
              --count-by=F[,F]      print a table of counts of each value, largest first
              --top=N               only the N largest counts
              --json                write each selected line as a JSON object (input, line,
                                    text, fields)
              --template=T          write each selected line as T: '{ts} {level} {msg}'
              --fields=F[,F]        write the fields' values, tab-separated (as jq's @tsv)
              --format=F            read fields as auto (default: each line by its shape),
                                    json, logfmt or text
              --tz=OFFSET           zone of timestamps written without one (default UTC)
              --year=YYYY           year of timestamps written without one (syslog;
                                    default: the year each file was last modified)

        Transforms (sluice's own):
              --map=SPEC            transform each line: upper, lower, trim, s/RE/REPL/[gi]
                                    (repeatable, applied in order)
              --exec=CMD            pipe each batch through /bin/sh -c CMD; its output
                                    replaces the batch (as parallel --pipe -k)
          -j, --concurrency=N       transforms in flight (default: number of cores)
              --unordered           emit results as they finish, not in input order
          -p, --pipeline=EXPR       stages as an expression instead of PATTERNS:
                                    'grep -i error | map upper | exec "cut -c1-80" | batch 500 1s'
              --explain             print the compiled stages and exit

        Batching and output:
          -b, --batch-size=N        lines per batch and per {n} output file (default 1000; into a database 10000, ClickHouse 16000)
              --batch-bytes=SIZE    bound on the bytes of a batch (4MiB, 500KB)
              --batch-timeout=D     close a partial batch this old (200ms, 1s; 0 = never)
          -O, --output=TARGET       write to FILE (FILE.gz compresses), or one file per batch
                                    with {n} or {n:W} in the name; a device, FIFO or
                                    symlink is written through, as by > FILE;
                                    sqlite:PATH[?table=NAME]: rows of an SQLite table
                                    (default logs), a transaction per batch;
                                    postgresql://USER@HOST:PORT/DB[?table=NAME]: rows
                                    of a PostgreSQL table, a COPY per batch, -j
                                    connections (password: PGPASSWORD, ~/.pgpass);
                                    clickhouse://USER:PASSWORD@HOST:PORT/DB[?table=NAME]:
                                    rows of a ClickHouse table (with each line's time,
                                    level and fields; --format, --tz, --year), an
                                    INSERT per batch over HTTP, -j connections
                                    (CLICKHOUSE_USER, CLICKHOUSE_PASSWORD)
              --overwrite           a {n} output may replace an earlier set of its names
              --checkpoint=FILE     with a {n} output: each input's position, written
                                    after each file is complete
              --resume              start each input after the last line its checkpoint
                                    says was committed (-O sqlite:, postgresql:,
                                    clickhouse:, --checkpoint)
              --retry-max=DURATION  with postgresql:// or clickhouse://: retry a lost
                                    connection or a server's failure this
                                    long, from its first failure (default 30s)
              --compression-level=N gzip level 1-9 for .gz outputs (default 1)

        Runtime:
              --follow              read the named files from their start, then on as
                                    they grow, through rotation (as tail -F), until
                                    SIGINT or SIGTERM; {n} files roll at -b lines or
                                    10 s; -O FILE is appended to, reopened on SIGHUP;
                                    with a checkpoint, a restart goes on where it was
              --progress            a progress line on stderr (bytes, MB/s, time left) for
                                    runs over a second; default when stderr is a terminal
                                    and the output is not; --no-progress: never
              --stats               print a summary line on stderr at the end

        Examples, one per job:
          pipe logs through it:   kubectl logs -f api | \(program) -e ERROR --map upper
          extract, as zgrep -n:   \(program) -n ERROR app.log app.log.1.gz
          export in batches:      \(program) -E 'ERROR|WARN' -b 10000 -O 'out/err-{n}.log.gz' app.log.gz
                                  \(program) -E 'ERROR|WARN' -O sqlite:logs.db --resume app.log
          errors and traces:      \(program) --record auto --level error+ app.log.gz
          count what happened:    \(program) --count-by level,service --since -1h app.log

        With no FILE, read standard input; - is standard input. Each file's lines are its own.
        Exit status is 0 if any line is selected, 1 otherwise; if any error occurs and -q is
        not given, the exit status is 2; 128+N after signal N (SIGINT, SIGTERM).
        """
    }
}

/// A command-line mistake: `program: message`, then grep's two usage lines when asked.
struct CommandLineError: Error {
    let message: String?
    let showUsage: Bool
    let status: Int32

    init(_ message: String?, showUsage: Bool = false, status: Int32 = 2) {
        self.message = message
        self.showUsage = showUsage
        self.status = status
    }
}
