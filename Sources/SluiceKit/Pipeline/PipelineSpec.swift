import Glibc

/// What to select: grep's patterns and modifiers. Patterns are OR-ed; a pattern holding
/// newlines is several patterns, as in grep.
public struct GrepSpec: Sendable, Equatable {
    /// The patterns as given: bytes, as grep reads its arguments and pattern files (a byte
    /// that is not UTF-8, `caf\xe9`, is a byte to match, never U+FFFD).
    public var patternBytes: [[UInt8]]
    /// Where each of `patternBytes` came from, for messages: `FILE:LINE` for a line of a `-f`
    /// file, nil for `-e` (empty: nil for all), as grep names a pattern it refuses.
    public var patternOrigins: [String?] = []
    /// The patterns as text (bytes that are not UTF-8 shown as U+FFFD): for messages and
    /// for callers that build a spec from text.
    public var patterns: [String] {
        get { patternBytes.map { String(decoding: $0, as: UTF8.self) } }
        set { patternBytes = newValue.map { Array($0.utf8) } }
    }
    public var fixedStrings = false
    public var ignoreCase = false
    public var invert = false
    public var wordRegexp = false
    public var lineRegexp = false
    /// How the patterns are read: grep's basic (`-G`, its default), extended (`-E`), fixed
    /// strings (`-F`, the same as `fixedStrings`) or Perl (`-P`).
    public var syntax: PatternSyntax
    /// `--where`, `--level`, `--since`, `--until`: what a selected line's fields must say,
    /// AND-ed with the patterns (`-v` inverts the patterns only; with no pattern, the fields'
    /// conditions).
    public var fields: FieldFilterSpec?
    /// grep's `-z`: the lines matched are NUL-terminated records, read with NUL and newline
    /// exchanged (`NulData`); the patterns are translated for that form.
    public var nullData = false

    public init(patterns: [String], fixedStrings: Bool = false, ignoreCase: Bool = false,
                invert: Bool = false, wordRegexp: Bool = false, lineRegexp: Bool = false,
                syntax: PatternSyntax = .basic) {
        self.init(patternBytes: patterns.map { Array($0.utf8) }, fixedStrings: fixedStrings, ignoreCase: ignoreCase,
                  invert: invert, wordRegexp: wordRegexp, lineRegexp: lineRegexp, syntax: syntax)
    }

    public init(patternBytes: [[UInt8]], fixedStrings: Bool = false, ignoreCase: Bool = false,
                invert: Bool = false, wordRegexp: Bool = false, lineRegexp: Bool = false,
                syntax: PatternSyntax = .basic) {
        self.syntax = syntax
        self.patternBytes = patternBytes
        self.fixedStrings = fixedStrings
        self.ignoreCase = ignoreCase
        self.invert = invert
        self.wordRegexp = wordRegexp
        self.lineRegexp = lineRegexp
    }
}

/// One stage of the chain, in the order lines pass through it.
public enum Stage: Sendable, Equatable {
    case grep(GrepSpec)
    case map(MapSpec)
    case exec(String)
}

/// A validated description of a whole run; flags and `-p` expressions both compile to it.
public struct PipelineSpec: Sendable, Equatable {
    public var inputs: [InputName] = []
    public var stages: [Stage] = []
    public var batch = BatchPolicy()
    /// Transforms in flight (chunks for filters and maps, batches for `--exec`).
    public var concurrency = 2
    /// The cores this process may run on (the executable reads its affinity mask): chunk
    /// steps and compression threads never outnumber them, whatever `concurrency` says.
    public var cores = 2
    public var ordered = true
    public var output: OutputTarget = .standardOutput
    /// A `{n}` output may replace an earlier set of its names (its later files are removed
    /// after a successful run); without it such a set is refused before reading.
    public var overwrite = false
    /// Stop after this many output lines.
    public var maxCount: Int?
    /// Print only the number of selected lines (per input, as grep; with `--exec`, of the
    /// command's output lines, in all).
    public var countOnly = false
    /// grep's output: names, line numbers, `-o`, `-l`/`-L`, `-Z`, `--label`, `-s`.
    public var presentation = GrepPresentation()
    /// Print nothing; stop at the first output line.
    public var quiet = false
    public var stats = false
    /// Write output as soon as it is produced (`--line-buffered`). Flushing only: batch
    /// boundaries (what each `exec` gets, where `{n}` files are cut) stay those of `batch`.
    public var lineBuffered = false
    /// `--progress`: a progress line on stderr (`ProgressLine`); the executable decides when.
    public var progress = false
    /// `--follow`: the named files are read as `tail -F` follows them (`ChunkSource.follows`).
    public var follow = false
    /// gzip level for `.gz` outputs: 1–3 ISA-L (fast), 4–9 zlib (smaller, slower).
    public var compressionLevel: Int32 = 1
    /// Chunk size read from the inputs.
    public var chunkSize = PipelineSpec.defaultChunkSize
    public static let defaultChunkSize = 512 * 1024
    /// The largest window a mapped file is cut into (`ChunkSource.mappedWindowLimit`): 2 MiB,
    /// except when the chunk size was chosen (tests of chunk boundaries, `SLUICE_CHUNK_KIB`) or
    /// the workers copy whole chunks out for the context stage.
    var mappedWindowLimit: Int {
        usesContext || chunkSize != Self.defaultChunkSize ? chunkSize : 2 << 20
    }
    /// Descriptor 0 was closed at start (its slot now holds /dev/null): `-` is an input error.
    public var standardInputClosed = false
    /// `--resume`: each input starts after the last line its checkpoint says was committed.
    public var resume = false
    /// `--checkpoint FILE` (a `{n}` output): the inputs' checkpoints, written after each file.
    public var checkpointPath: String?
    /// `--retry-max`: how long a database sink goes on retrying a batch after it lost its
    /// connection (the server restarting, the network), from the first failure.
    public var retryMax: Duration = .seconds(30)
    /// `--count-by`: a table of counts of the selected lines' values, instead of the lines.
    public var countBy: CountBySpec?
    /// `--record`: the unit selected, counted, batched and cut is a record, not a line.
    public var record: RecordMode = .line
    /// `--json`, `--template`, `--fields`: each selected line (or record) written in that shape.
    public var shape: OutputShape?
    /// `--format`: how fields are read for `shape`.
    public var shapeFormat: LogFormat = .auto
    /// A sink whose rows hold the line's time, level and fields (`-O clickhouse://`): how
    /// they are read.
    public var rowColumns: RowColumnsSpec?
    /// grep's `--binary-files`: `.binary` (grep's default) writes no line of an input from where
    /// a NUL byte shows it is binary, only grep's `NAME: binary file matches` when one is selected
    /// there; `.text` (`-a`) writes every line. Only where sluice writes grep's output
    /// (`binaryFilesApply`); exports always take every line.
    public var binaryFiles: BinaryFiles = .text
    /// Standard input is a regular file, not compressed: grep's `-m` leaves its offset after
    /// the last selected line (`RunReport.standardInputOffset`, counted from where reading began).
    public var standardInputSeekable = false
    /// grep's `-z` (`--null-data`): lines end in NUL bytes (`NulData`). Only for grep's lines
    /// written to standard output (`refuseWhatNullDataCannotTake`).
    public var nullData = false

    public init() {}
}

/// grep's `--binary-files=TYPE`; `withoutMatch` is `-I`: an input ends, counted as having no
/// selected line, at grep's buffer holding its first NUL byte (`PerInputRules.binaryWithoutMatch`).
public enum BinaryFiles: Sendable, Equatable {
    case binary, text, withoutMatch
}

extension PipelineSpec {
    /// Whether the first stage's selected lines are written decorated (names, numbers, `-o`),
    /// which `-c`, `-l`, `-L` and `-q` make moot.
    /// The first grep stage can select no line: no pattern at all (`-f` of an empty file), or
    /// `-v` with the empty pattern (which every line matches).
    public var selectsNoLine: Bool {
        guard case .grep(let grep) = stages.first, grep.fields == nil else { return false }
        let patterns = grep.patternBytes.flatMap { $0.split(separator: 0x0A, omittingEmptySubsequences: false) }
        if patterns.isEmpty { return !grep.invert }
        // grep's own test (keycc == 0): only when every pattern is empty; with another pattern
        // beside the empty one grep still reads the files (and -c prints their zeros).
        return grep.invert && patterns.allSatisfy { $0.isEmpty } && !grep.lineRegexp && !grep.wordRegexp
    }

    public var usesContext: Bool {
        (presentation.afterContext != nil || presentation.beforeContext != nil)
            && !countOnly && !quiet && presentation.listFiles == nil
            && stages.first.map { if case .grep = $0 { true } else { false } } == true
    }

    public var decoratesLines: Bool {
        (presentation.decoratesLines || shape != nil) && !countOnly && !quiet && presentation.listFiles == nil && !takesRows && countBy == nil
    }

    /// Whether the binary-file rule applies: grep's printed lines (`-c`, `-l`, `-L` and `-q`
    /// print none, and grep's rule changes nothing there), not records, rows, shapes, counts,
    /// `--exec` input or a followed file.
    public var binaryFilesApply: Bool {
        binaryFilesCount && binaryFiles == .binary && !countOnly && !quiet && presentation.listFiles == nil
    }

    /// Whether grep's binary files are read as grep reads them: from the buffer holding the
    /// first NUL byte on, each NUL ends a line for the matching (grep's `zap_nuls`), which
    /// `-c`, `-l`, `-L` and `-q` see.
    /// Only for grep's output to standard output (a file or batches named by `-O` are an
    /// export), in input order (`--unordered` gives up grep's per-file order).
    public var binaryFilesCount: Bool {
        guard binaryFiles != .text, output == .standardOutput, ordered, !takesRows, countBy == nil, shape == nil,
              record == .line, !follow else { return false }
        // No stage: `-e ''` (every line), which needs no filter. Field filters (`--where`,
        // `--level`, `--since`) read logs, not grep's files: every line is text to them.
        return stages.allSatisfy { if case .grep(let grep) = $0 { grep.fields == nil } else { false } }
    }

    /// What `-z` cannot take yet, refused before anything is read: it holds for grep's lines
    /// written to standard output (with names, numbers, offsets, `-o`, colour), and their
    /// counts and lists, and context lines (`ContextRules.separatorEnd`); not for exports,
    /// commands, fields, records or `--follow`.
    public func refuseWhatNullDataCannotTake() throws {
        guard nullData else { return }
        func refuse(_ what: String) throws {
            throw SluiceError(.usage, place: "-z", "\(what) cannot be combined with -z (--null-data) yet")
        }
        if output != .standardOutput { try refuse("-O (an output other than standard output)") }
        if follow { try refuse("--follow") }
        if record != .line { try refuse("--record") }
        if countBy != nil || shape != nil { try refuse("--count-by, --json, --template and --fields") }
        for stage in stages {
            switch stage {
            case .grep(let grep): if grep.fields != nil { try refuse("--where, --level, --since and --until") }
            case .map, .exec: try refuse("--map and --exec")
            }
        }
    }

    /// Whether the sink exchanges NUL and newline back (`-z` writing grep's lines, not counts
    /// or names).
    public var writesNullDataLines: Bool {
        nullData && !countOnly && !quiet && presentation.listFiles == nil
    }

    /// The names grep shows before lines, in the form the lines are in (`-z`: NUL and newline
    /// exchanged, so that writing them exchanges them back).
    public var namesBeforeLines: [[UInt8]] {
        let names = presentation.displayNames(inputs)
        return writesNullDataLines ? names.map(NulData.exchanged) : names
    }

    /// `--follow --record`: a followed file's last record ends after this long without a new
    /// byte (a logger writes a stack trace in one go, or line by line within milliseconds).
    public static let recordQuietSpell: Duration = .seconds(1)

    /// The output takes rows (each line with its source, number and offset), not bytes: a
    /// database.
    public var takesRows: Bool {
        switch output {
        case .database: return true
        case .split: return checkpointPath != nil
        default: return false
        }
    }

    /// What a row output cannot take, refused before anything is read: a row is one selected
    /// line as read, with its source and number in their own columns.
    func refuseWhatRowsCannotTake() throws {
        func refuse(_ what: String) throws {
            if case .database = output {
                throw SluiceError(.usage, place: "--output", "\(output) takes the selected lines as rows; \(what) does not apply (write to a file or stdout for that)")
            }
            throw SluiceError(.usage, place: "--checkpoint", "checkpoints the selected lines as read; \(what) does not apply")
        }
        if countOnly { try refuse("-c") }
        if quiet { try refuse("-q") }
        if let listFiles = presentation.listFiles { try refuse(listFiles == .withoutMatch ? "-L" : "-l") }
        if presentation.onlyMatching { try refuse("-o") }
        if presentation.afterContext != nil || presentation.beforeContext != nil { try refuse("context (-A, -B, -C)") }
        if case .database = output {
            if presentation.lineNumbers { try refuse("-n (the line_no column holds the numbers)") }
        } else {
            if presentation.lineNumbers { try refuse("-n") }
            // Names before lines (several files, -H) would be dropped without a word.
            if presentation.fileNames { try refuse("a file name before each line (several files, or -H: give -h)") }
        }
        if resume && (inputs.isEmpty || inputs.contains(.standardInput)) {
            throw SluiceError(.usage, place: "--resume", "standard input has no checkpoint to resume from: name the files")
        }
        if presentation.colors != nil { try refuse("--color") }
        if presentation.initialTab { try refuse("-T") }
        if presentation.nullAfterName { try refuse("-Z") }
        if !ordered { try refuse("--unordered (checkpoints need the lines in order)") }
        for stage in stages.dropFirst() {
            switch stage {
            case .grep: try refuse("a second grep stage")
            case .map: try refuse("--map")
            case .exec: try refuse("--exec")
            }
        }
        if case .map = stages.first { try refuse("--map") }
        if case .exec = stages.first { try refuse("--exec") }
    }

}
