import ArgumentParser
import Glibc
import SluiceKit

/// The command line: flags only. Everything is validated into a `PipelineSpec` here; the
/// library does the work.
struct SluiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "Filter, transform and batch log lines: grep/zgrep-compatible, concurrent, streaming.",
        discussion: """
        Inputs (files, - for stdin; none means stdin) form one stream, as zcat -f would join them; \
        gzip is detected by content. Output equals LC_ALL=C grep -a on that stream.
        Exit status: 0 if a line was selected, 1 if none, 2 on error; 130/143 after SIGINT/SIGTERM.
        """,
        version: "0.1.0"
    )

    @Option(name: [.customShort("e"), .customLong("regexp")], help: ArgumentHelp("A pattern (PCRE syntax); repeat for OR.", valueName: "PATTERN"))
    var patterns: [String] = []
    @Flag(name: [.customShort("F"), .customLong("fixed-strings")], help: "Patterns are fixed strings.")
    var fixedStrings = false
    @Flag(name: [.customShort("E"), .customLong("extended-regexp"), .customShort("P"), .customLong("perl-regexp")],
          help: "Accepted for grep compatibility: patterns are always PCRE.")
    var regexSyntax = false
    @Flag(name: [.customShort("i"), .customLong("ignore-case")], help: "Ignore ASCII case.")
    var ignoreCase = false
    @Flag(name: [.customShort("v"), .customLong("invert-match")], help: "Select the lines that do not match.")
    var invert = false
    @Flag(name: [.customShort("w"), .customLong("word-regexp")], help: "Match whole words only.")
    var wordRegexp = false
    @Flag(name: [.customShort("x"), .customLong("line-regexp")], help: "Match whole lines only.")
    var lineRegexp = false
    @Option(name: [.customShort("m"), .customLong("max-count")], help: ArgumentHelp("Stop after N output lines (negative: no limit).", valueName: "N"))
    var maxCount: String?
    @Flag(name: [.customShort("c"), .customLong("count")], help: "Print only the number of selected lines.")
    var count = false
    @Flag(name: [.customShort("q"), .customLong("quiet"), .customLong("silent")], help: "Print nothing; exit 0 at the first selected line.")
    var quiet = false

    @Option(name: .customLong("map"), help: ArgumentHelp("Transform each line: upper, lower, trim, s/RE/REPL/[gi]. Repeatable, applied in order.", valueName: "SPEC"))
    var maps: [String] = []
    @Option(name: .customLong("exec"), help: ArgumentHelp("Pipe each batch through /bin/sh -c CMD; its output replaces the batch.", valueName: "CMD"))
    var execs: [String] = []

    @Option(name: [.customShort("j"), .customLong("concurrency")], help: ArgumentHelp("Transforms in flight (default: number of cores).", valueName: "N"))
    var concurrency: Int?
    @Flag(name: .customLong("unordered"), help: "Emit results as they finish instead of in input order.")
    var unordered = false
    @Option(name: [.customShort("b"), .customLong("batch-size")], help: ArgumentHelp("Lines per batch (and per {n} output file). Default 1000.", valueName: "N"))
    var batchSize: Int?
    @Option(name: .customLong("batch-bytes"), help: ArgumentHelp("Bound on the bytes a batch holds: 4MiB, 500KB, 65536. With --exec a batch closes at whichever of -b and this comes first; otherwise it only bounds memory ({n} files still hold -b lines). Default: none (lines only).", valueName: "SIZE"))
    var batchBytes: String?
    @Option(name: .customLong("batch-timeout"), help: ArgumentHelp("Close a partial batch when its first line is this old: 200ms, 1s; 0 = never. Default 200ms.", valueName: "DURATION"))
    var batchTimeout: String?

    @Option(name: [.customShort("o"), .customLong("output")], help: ArgumentHelp("Write to FILE (FILE.gz compresses; a device, FIFO or symlink is written through, as by > FILE); a name with {n} or {n:W} writes one file per batch, numbered in W digits (default 6) and no more.", valueName: "TARGET"))
    var output: String?
    @Flag(name: .customLong("overwrite"), help: "A {n} output replaces an earlier set of its names (its later files are removed after a successful run); without it an existing set is an error.")
    var overwrite = false
    @Option(name: .customLong("compression-level"), help: ArgumentHelp("gzip level for .gz outputs: 1-3 ISA-L (fast), 4-9 zlib (smaller, slower). Default 1.", valueName: "N"))
    var compressionLevel: Int32?
    @Option(name: [.customShort("p"), .customLong("pipeline")], help: ArgumentHelp("Stages as an expression: 'grep -i ERROR | map upper | exec \"cut -c1-80\" | batch 500 1s'.", valueName: "EXPR"))
    var pipeline: String?
    @Flag(name: .customLong("explain"), help: "Print the compiled stages and exit without reading input.")
    var explain = false
    @Flag(name: .customLong("stats"), help: "Print a summary line on stderr at the end.")
    var stats = false
    @Flag(name: .customLong("line-buffered"), help: "Flush output after every line (default on a terminal).")
    var lineBuffered = false

    @Argument(help: ArgumentHelp("Input files; - is stdin. None: stdin.", valueName: "INPUT"))
    var inputs: [String] = []

    /// The validated run description; usage errors name the flag.
    func makeSpec(cores: Int) throws -> PipelineSpec {
        var spec = PipelineSpec()
        spec.cores = max(1, cores)
        spec.inputs = inputs.map(InputName.init(argument:))
        if let pipeline {
            var mixed: [String] = []
            if !patterns.isEmpty { mixed.append("-e") }
            if fixedStrings { mixed.append("-F") }
            if ignoreCase { mixed.append("-i") }
            if invert { mixed.append("-v") }
            if wordRegexp { mixed.append("-w") }
            if lineRegexp { mixed.append("-x") }
            if !maps.isEmpty { mixed.append("--map") }
            if !execs.isEmpty { mixed.append("--exec") }
            if batchSize != nil { mixed.append("-b") }
            if batchTimeout != nil { mixed.append("--batch-timeout") }
            if batchBytes != nil { mixed.append("--batch-bytes") }
            if !mixed.isEmpty {
                throw SluiceError(.usage, place: "--pipeline", "cannot be combined with \(mixed.joined(separator: ", ")): spell those stages inside the expression")
            }
            let parsed = try ExpressionParser.parse(pipeline)
            spec.stages = parsed.stages
            if let batch = parsed.batch { spec.batch = batch }
        } else {
            if patterns.isEmpty && (fixedStrings || ignoreCase || invert || wordRegexp || lineRegexp) {
                throw SluiceError(.usage, place: "-e", "-F, -i, -v, -w and -x need a pattern (-e PATTERN)")
            }
            if !patterns.isEmpty {
                spec.stages.append(.grep(GrepSpec(patterns: patterns, fixedStrings: fixedStrings, ignoreCase: ignoreCase,
                                                  invert: invert, wordRegexp: wordRegexp, lineRegexp: lineRegexp)))
            }
            for map in maps { spec.stages.append(.map(try MapSpec(parsing: map))) }
            for command in execs {
                guard !command.isEmpty else { throw SluiceError(.usage, place: "--exec", "needs a command") }
                spec.stages.append(.exec(command))
            }
            if let batchSize {
                guard batchSize > 0 else { throw SluiceError(.usage, place: "--batch-size", "must be at least 1, not \(batchSize)") }
                spec.batch.size = batchSize
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
        if let concurrency {
            guard concurrency >= 1 && concurrency <= 1024 else {
                throw SluiceError(.usage, place: "--concurrency", "must be between 1 and 1024, not \(concurrency)")
            }
            spec.concurrency = concurrency
        } else {
            spec.concurrency = max(1, cores)
        }
        spec.ordered = !unordered
        if let maxCount {
            // As grep: a negative count is no limit, and a count past Int.max is Int.max.
            let digits = maxCount.hasPrefix("-") ? maxCount.dropFirst() : Substring(maxCount)
            guard !digits.isEmpty && digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                throw SluiceError(.usage, place: "--max-count", "'\(maxCount)' is not a number")
            }
            let value = Int(digits) ?? Int.max
            spec.maxCount = maxCount.hasPrefix("-") && value > 0 ? nil : value  // -0 is 0, as grep reads it
        }
        spec.countOnly = count
        spec.quiet = quiet
        spec.stats = stats
        spec.lineBuffered = lineBuffered  // flushing only: the batches stay those of -b and --batch-timeout
        let level = compressionLevel ?? 1
        guard (1...9).contains(level) else {
            throw SluiceError(.usage, place: "--compression-level", "must be 1 to 9, not \(level)")
        }
        spec.compressionLevel = level
        if let kib = getenv("SLUICE_CHUNK_KIB").flatMap({ Int(String(cString: $0)) }), kib >= 4 {
            spec.chunkSize = kib * 1024  // for benchmarking chunk sizes; not a documented knob
        }
        if let output { spec.output = try OutputTarget.parse(output) }
        if overwrite {
            guard case .split = spec.output else {
                throw SluiceError(.usage, place: "--overwrite", "applies to a {n} output only (-o 'NAME-{n}.log'); a single -o FILE is always replaced")
            }
            spec.overwrite = true
        }
        return spec
    }
}
