import Glibc

/// What to select: grep's patterns and modifiers. Patterns are OR-ed; a pattern holding
/// newlines is several patterns, as in grep.
public struct GrepSpec: Sendable, Equatable {
    public var patterns: [String]
    public var fixedStrings = false
    public var ignoreCase = false
    public var invert = false
    public var wordRegexp = false
    public var lineRegexp = false

    public init(patterns: [String], fixedStrings: Bool = false, ignoreCase: Bool = false,
                invert: Bool = false, wordRegexp: Bool = false, lineRegexp: Bool = false) {
        self.patterns = patterns
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
    /// Print only the number of output lines.
    public var countOnly = false
    /// Print nothing; stop at the first output line.
    public var quiet = false
    public var stats = false
    /// Write output as soon as it is produced (`--line-buffered`). Flushing only: batch
    /// boundaries (what each `exec` gets, where `{n}` files are cut) stay those of `batch`.
    public var lineBuffered = false
    /// gzip level for `.gz` outputs: 1–3 ISA-L (fast), 4–9 zlib (smaller, slower).
    public var compressionLevel: Int32 = 1
    /// Chunk size read from the inputs.
    public var chunkSize = 512 * 1024
    /// Descriptor 0 was closed at start (its slot now holds /dev/null): `-` is an input error.
    public var standardInputClosed = false

    public init() {}
}

extension PipelineSpec {
    /// A hint for grep's habit of a pattern without `-e` (`sluice ERROR app.log`): with no
    /// filter stage, several inputs and a first one that names no file (and no folder), that
    /// name was most likely meant as the pattern. nil otherwise. Shown after the run's errors.
    public var forgottenPatternHint: String? {
        let filters = stages.contains { if case .grep = $0 { true } else { false } }
        guard !filters, inputs.count >= 2, case .path(let name) = inputs[0], !name.contains("/") else { return nil }
        var info = stat()
        guard stat(name, &info) != 0 && errno == ENOENT else { return nil }
        return "hint: no pattern was given, so '\(name)' was read as an input file; "
            + "to select the lines that match it, write -e '\(name)'"
    }
}
