import Glibc
import Synchronization

/// What a run did, for the exit status and `--stats`.
public struct RunReport: Sendable {
    /// Input bytes as stored (compressed, for gzip inputs).
    public var bytesRead = 0
    /// Input bytes as lines (decompressed).
    public var bytesDecoded = 0
    public var linesRead: Int?
    /// `-c`: lines were counted, not written.
    public var counted = false
    public var selectedLines = 0
    public var writtenLines = 0
    public var batches = 0
    public var seconds = 0.0
    public var failed = false
    /// The task running the pipeline was cancelled before the input ended: the sink was
    /// aborted (nothing more committed; files committed before stay), the run is not a success.
    public var cancelled = false
    public var interruptedBy: Int32?
    /// The output's reader went away (`| head`): the run stopped quietly; the executable ends
    /// as grep does then (killed by SIGPIPE, or exit 2 when SIGPIPE was ignored at start).
    public var outputClosed = false
    /// grep's `-m` on standard input: where grep leaves its offset (just past the last selected
    /// line); the executable seeks it there.
    public var standardInputOffset: Int?

    /// grep's rule: 0 if a line was selected, 1 if none, 2 on error (but 0 for `-q` with a
    /// selected line); 128+N after signal N.
    public func exitStatus(quiet: Bool) -> Int32 {
        if let signal = interruptedBy { return 128 + signal }
        if cancelled { return 2 }
        if failed && !(quiet && selectedLines > 0) { return 2 }
        return selectedLines > 0 ? 0 : 1
    }

    /// `read 1000.00 MB in 9,000,000 lines (187.00 MB compressed), selected 12 lines, wrote 12
    /// lines in 1 batch, 1.234 s, 810.4 MB/s` (MB/s of lines, after decompression).
    public var summary: String {
        let megabytes = Double(bytesDecoded) / 1e6
        let rate = seconds > 0 ? megabytes / seconds : 0
        var text = "read \(Self.fixed(megabytes, 2)) MB"
        if let linesRead { text += " in \(Self.count(linesRead, "line"))" }
        if bytesRead != bytesDecoded { text += " (\(Self.fixed(Double(bytesRead) / 1e6, 2)) MB compressed)" }
        text += ", selected \(Self.count(selectedLines, "line")), "
        text += counted ? "counted (-c)" : "wrote \(Self.count(writtenLines, "line")) in \(batches) batch\(batches == 1 ? "" : "es")"
        return text + ", \(Self.fixed(seconds, 3)) s, \(Self.fixed(rate, 1)) MB/s"
    }

    static func count(_ number: Int, _ noun: String) -> String {
        "\(number) \(noun)\(number == 1 ? "" : "s")"
    }

    /// `value` with `digits` decimals, as printf's `%.Nf`.
    static func fixed(_ value: Double, _ digits: Int) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        _ = withVaList([value]) { vsnprintf(&buffer, buffer.count, "%.\(digits)f", $0) }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A value that passes to another task while its owner waits for that task (`run`'s sink).
private struct HandedOver<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Counters shared by the stages of one run.
extension PipelineRunner {
    /// The rest of the run's `-m` on standard input, when grep's lseek applies: `-m` with one
    /// grep stage (or none) and its own output (no --exec, no --follow), standard input read.
    var standardInputResumeIndex: Int? {
        guard spec.maxCount != nil, spec.standardInputSeekable, execPhases.isEmpty, !spec.follow, !spec.quiet, spec.presentation.listFiles == nil,
              spec.record == .line, spec.stages.count <= 1 else { return nil }
        if let first = spec.stages.first {
            guard case .grep(let grep) = first, grep.fields == nil else { return nil }
        }
        if spec.inputs.isEmpty { return 0 }
        return spec.inputs.firstIndex(of: .standardInput)
    }
}

final class RunCounters: Sendable {
    let bytesRead = Atomic<Int>(0)
    let bytesDecoded = Atomic<Int>(0)
    let linesRead = Atomic<Int>(0)
    let selected = Atomic<Int>(0)
    /// The last input a worker found a NUL byte in (`BinaryFileGate.apply`).
    let lastInputHoldingNul = Atomic<Int>(-1)
}

/// Compiles a `PipelineSpec` into stages and runs them:
///
///     ChunkSource ─▶ concurrentMap(steps before the first exec) ─▶ batched
///       ─▶ [concurrentMap(exec + the steps after it)] ─▶ sink
///
/// Diagnostics go to `report` as they happen, after the lines before them are written.
public struct PipelineRunner: Sendable {
    public let spec: PipelineSpec
    let headSteps: [any ChunkStep]
    let execPhases: [(ExecCommand, [any ChunkStep])]
    public let explanation: [String]
    /// grep's warnings about the patterns (`warning: * at start of expression`), as grep
    /// prints them after its name.
    public let warnings: [String]
    /// Followed and checkpointed (`--follow` into a checkpointed output): the files each name
    /// held, shared by the reader (records them) and the sink (checkpoints name them).
    let generations: FileGenerations?
    /// `--count-by`'s table, filled by the workers, written when the input ends.
    let counts: FieldCounts?
    /// `--record REGEX`: the pattern a record's first line matches.
    let recordRegex: RegexMatcher?
    /// `--since`: where a sorted plain file's reading may start (`SinceSeek`).
    let sinceSeek: SinceSeek?

    /// `parts.joined(separator:)` without the standard library's unspecialized generic path,
    /// whose associated-type lookups each scan every protocol conformance in the binary (9,300
    /// of them): two such scans were 0.3 ms of every run (`perf`, an empty input).
    static func join(_ parts: [String], _ separator: String) -> String {
        var text = ""
        for (index, part) in parts.enumerated() {
            if index > 0 { text += separator }
            text += part
        }
        return text
    }

    public init(spec: PipelineSpec) throws {
        var spec = spec
        spec.presentation.nullDataLines = spec.writesNullDataLines
        self.spec = spec
        generations = spec.follow && spec.takesRows ? FileGenerations() : nil
        var head: [any ChunkStep] = []
        var phases: [(ExecCommand, [any ChunkStep])] = []
        var lines: [String] = []
        var warnings: [String] = []
        let inputs = spec.inputs.isEmpty ? "(standard input)" : Self.join(spec.inputs.map(\.description), " ")
        lines.append("read     \(inputs)  (gzip detected by content; chunks of \(spec.chunkSize / 1024) KiB)")
        let parallel = "\(spec.concurrency) at once, \(spec.ordered ? "ordered" : "unordered")"
        // Chunk steps run at most one per core (runStages' chunkLimit); --exec children follow -j.
        let chunksParallel = "\(min(spec.concurrency, spec.cores)) at once, \(spec.ordered ? "ordered" : "unordered")"
        var batchShown = false
        func add(_ step: any ChunkStep) {
            if phases.isEmpty { head.append(step) } else { phases[phases.count - 1].1.append(step) }
        }
        func showBatch() {
            guard !batchShown else { return }
            batchShown = true
            let timeout = spec.batch.timeout.map { "\($0)" } ?? "no timeout"
            let bytes = spec.batch.maxBytes.map { " or \(formatByteSize($0))" } ?? ""
            lines.append("batch    \(spec.batch.size) lines\(bytes) or \(timeout)")
        }
        let records = spec.record != .line
        // --since alone decides which lines can be selected before it (no -v, no context, no
        // row output that checkpoints every line read): a sorted plain file is searched.
        if case .grep(let first) = spec.stages.first, let fields = first.fields, fields.since != nil, !first.invert,
           !spec.usesContext, !spec.takesRows, !spec.follow {
            sinceSeek = try FieldPredicate(fields, inputs: spec.inputs).sinceSeek
        } else {
            sinceSeek = nil
        }
        let shaper = try spec.shape.map { try LineShaper($0, format: spec.shapeFormat, inputs: spec.inputs, label: spec.presentation.standardInputLabel) }
        if case .regex(let pattern) = spec.record {
            recordRegex = try RegexMatcher(pattern: pattern, caseless: false, place: "--record")
        } else {
            recordRegex = nil
        }
        if records {
            switch spec.record {
            case .auto: lines.append("frame    records: a line starting as the input's first lines do (a timestamp, else a level) starts one")
            case .regex(let pattern): lines.append("frame    records: a line matching '\(pattern)' starts one")
            case .line: break
            }
        }
        let rows = spec.takesRows
        try spec.refuseWhatNullDataCannotTake()
        if records, spec.stages.first.map({ if case .grep = $0 { false } else { true } }) ?? true {
            // No pattern first: every record, framed (and decorated when asked, rows when taken).
            head.append(RecordSelector(matcher: MatchEverything(), invert: false, selectsAll: true,
                                       presentation: spec.decoratesLines ? spec.presentation : GrepPresentation(),
                                       names: spec.presentation.displayNames(spec.inputs),
                                       numberWidths: spec.decoratesLines ? spec.presentation.numberWidths(spec.inputs) : [], shaper: shaper,
                                       rows: rows))
        } else if spec.decoratesLines, spec.stages.first.map({ if case .grep = $0 { false } else { true } }) ?? true {
            // Names or line numbers without a pattern stage first: every line, decorated.
            var presentation = spec.presentation
            presentation.onlyMatching = false
            head.append(GrepLinePrinter(matcher: MatchEverything(), invert: false, presentation: presentation,
                                        names: spec.namesBeforeLines, extractor: nil,
                                        numberWidths: presentation.numberWidths(spec.inputs), shaper: shaper))
        }
        if rows {
            try spec.refuseWhatRowsCannotTake()
            if spec.stages.isEmpty && !records { head.append(SelectedRows()) }
        }
        // The selection stages that come first (`-p 'grep x | level error'`) select in turn;
        // the last of them writes the lines as shown (names, shapes), so that each before it
        // reads the lines as they are. Line numbers are known to the first only.
        let leadingSelections = spec.stages.prefix { if case .grep = $0 { true } else { false } }.count
        let decoratingStage = max(0, leadingSelections - 1)
        if leadingSelections > 1 && spec.decoratesLines && (spec.presentation.lineNumbers || spec.shape != nil) {
            throw SluiceError(.usage, place: "--pipeline", "-n, --json, --template and --fields need the first stage to be the only "
                              + "selection before a map or exec: join the selections in one (grep -e A --where ..., or the options)")
        }
        for (index, stage) in spec.stages.enumerated() {
            let decorates = index == decoratingStage
            switch stage {
            case .grep(let grep):
                var (matcher, how) = try MatcherBuilder.matcher(for: grep, place: "grep stage \(index + 1)", warnings: &warnings)
                var invert = grep.invert
                var fieldsShown = ""
                if records {
                    // A record: any line matches the patterns (-v: none does), and its first
                    // line's fields pass.
                    let predicate = try grep.fields.map { try FieldPredicate($0, inputs: spec.inputs) }
                    // No pattern: every record, its fields' conditions deciding (-v inverts them).
                    let noPattern = grep.patternBytes == [[]] && !grep.lineRegexp && !grep.wordRegexp && (!grep.invert || predicate != nil)
                    let shown = decorates && spec.decoratesLines
                    // (With no pattern, -o prints nothing, as grep -o '' and as on lines.)
                    let extractor = shown && (spec.presentation.onlyMatching || spec.presentation.colors != nil)
                        ? try MatcherBuilder.onlyMatching(for: grep) : nil
                    add(RecordSelector(matcher: matcher, invert: grep.invert && !noPattern, selectsAll: noPattern, predicate: predicate,
                                       invertPredicate: grep.invert && noPattern,
                                       presentation: shown ? spec.presentation : GrepPresentation(),
                                       names: spec.presentation.displayNames(spec.inputs), extractor: extractor,
                                       numberWidths: shown ? spec.presentation.numberWidths(spec.inputs) : [],
                                       shaper: decorates ? shaper : nil, marksForContext: index == 0 && spec.usesContext, rows: rows))
                    fieldsShown = predicate?.explanation ?? ""
                } else if let fields = grep.fields {
                    // The fields' predicate decides with the patterns; `-v` inverts the patterns only.
                    let predicate = try FieldPredicate(fields, inputs: spec.inputs)
                    // No pattern: the fields' conditions decide (-v inverts them).
                    let everyLine = grep.patternBytes == [[]] && !grep.lineRegexp && !grep.wordRegexp
                    matcher = FieldMatcher(predicate: predicate, patterns: everyLine ? nil : matcher, invertPatterns: grep.invert && !everyLine,
                                           invertPredicate: grep.invert && everyLine)
                    invert = false
                    fieldsShown = predicate.explanation
                    if everyLine && !grep.invert { how = predicate.prefilter.map { "literal prefilter '\(String(decoding: $0.needle, as: UTF8.self))', then fields" } ?? "fields of every line" }
                }
                if records {
                    // (added above)
                } else if rows {
                    add(GrepLineSelector(matcher: matcher, invert: invert))
                    add(SelectedRows())
                } else if index == 0 && spec.usesContext {
                    add(GrepLineSelector(matcher: matcher, invert: invert))
                } else if decorates && spec.decoratesLines {
                    let extractor = spec.presentation.onlyMatching || spec.presentation.colors != nil
                        ? try MatcherBuilder.onlyMatching(for: grep) : nil
                    add(GrepLinePrinter(matcher: matcher, invert: invert, presentation: spec.presentation,
                                        names: spec.namesBeforeLines, extractor: extractor,
                                        numberWidths: spec.presentation.numberWidths(spec.inputs), shaper: shaper))
                } else {
                    add(LineFilter(matcher: matcher, invert: invert))
                }
                var flags = ""
                if grep.fixedStrings { flags += "-F " }
                if grep.ignoreCase { flags += "-i " }
                if grep.invert { flags += "-v " }
                if grep.wordRegexp { flags += "-w " }
                if grep.lineRegexp { flags += "-x " }
                let patterns = Self.join(grep.patterns.map { "-e '\($0)'" }, " ")
                let what = grep.fields != nil && grep.patternBytes == [[]] && !grep.invert ? fieldsShown : "\(flags)\(patterns)\(fieldsShown.isEmpty ? "" : " and " + fieldsShown)"
                lines.append("\(grep.fields == nil ? "grep    " : "select  ") \(what)  (\(how); \(phases.isEmpty ? chunksParallel + " chunks" : "per batch"))")
            case .map(let map):
                add(records ? KeepingRecords(try map.makeStep()) : try map.makeStep())
                lines.append("map      \(map)  (\(phases.isEmpty ? chunksParallel + " chunks" : "per batch"))")
            case .exec(let command):
                showBatch()
                phases.append((ExecCommand(command), []))
                lines.append("exec     /bin/sh -c '\(command)'  (one process per batch, streamed in and out, \(parallel))")
            }
        }
        if let countBy = spec.countBy {
            let table = FieldCounts()
            add(FieldCounter(countBy, counts: table))
            counts = table
            lines.append("count    by \(Self.join(countBy.fields, ", ")) in each chunk (\(chunksParallel) chunks), merged"
                         + "; the table at the end, largest first\(countBy.top.map { ", top \($0)" } ?? "")")
        } else {
            counts = nil
        }
        showBatch()
        if let max = spec.maxCount { lines.append("limit    stop after \(max) output lines") }
        if spec.quiet {
            lines.append("write    nothing (-q): exit 0 at the first selected line")
        } else if spec.countOnly {
            lines.append("write    the number of selected lines to \(spec.output)")
        } else {
            switch spec.output {
            case .standardOutput: lines.append("write    stdout\(spec.lineBuffered ? " (line-buffered)" : "")")
            case .file(let path): lines.append("write    \(path)\(path.hasSuffix(".gz") ? " (gzip)" : "") via a hidden temporary file, renamed at the end")
            case .split(let template):
                lines.append("write    \(template.text): one file per \(spec.batch.size) lines\(template.text.hasSuffix(".gz") ? " (gzip)" : ""), each renamed when complete")
                if let path = spec.checkpointPath {
                    lines.append("checkpoint \(path): each input's position, written after each file\(spec.resume ? "; --resume: each input after its last line in a file" : "")")
                }
            case .database(let database): lines.append("write    rows into \(database): a transaction per batch, with each input's checkpoint\(spec.resume ? "; --resume: each input after its last committed line" : "")")
            }
        }
        headSteps = head
        execPhases = phases
        self.warnings = warnings
        explanation = lines.enumerated().map { "\($0.offset + 1). \($0.element)" }
    }

    /// Opens the output (failing before any input is read if it cannot be created, or if an
    /// input is a file it would replace: `input file is also the output`).
    ///
    /// A FIFO output waits for its reader, as the shell's open does, but a stop request ends
    /// the wait: it throws an `.interrupted` error (nothing was read or written). (A later
    /// `{n}` file that is a FIFO waits on the sink's thread, where the run's stop reaches it.)
    ///
    /// `databases` makes the sinks of servers (`-O postgresql://`), which live in modules of
    /// their own (SluicePostgres); without it such an output is refused.
    ///
    /// `reopen`: SIGHUP's requests, which a followed run's `-O FILE` (appended to) answers by
    /// opening the name again.
    public func makeSink(stop: StopRequest = StopRequest(), databases: (any DatabaseSinkMaker)? = nil,
                         reopen: ReopenRequest = ReopenRequest()) async throws -> any LineSink {
        if spec.quiet { return StandardOutputSink(lineBuffered: false) }
        if spec.takesRows { try CheckpointSource.refuseDuplicates(CheckpointSource.of(spec.inputs, generations: generations)) }
        // The sink's interrupt hears a stop while the sink opens its files (a FIFO waits for
        // its reader there); `run` registers it again for the run.
        let interrupt = Interrupt()
        stop.register(interrupt)
        defer { stop.unregister(interrupt) }
        let sink: any LineSink
        switch spec.output {
        case .standardOutput:
            return StandardOutputSink(lineBuffered: spec.lineBuffered || isatty(1) != 0, exchangesNulAndNewline: spec.writesNullDataLines)
        case .file(let path) where spec.follow && !OutputDestination.isWrittenThrough(path):
            sink = try AppendFileSink(path: path, reopen: reopen, interrupt: interrupt)
        case .file(let path):
            sink = try SingleFileSink(path: path, compressionLevel: spec.compressionLevel, concurrency: min(spec.concurrency, spec.cores),
                                      interrupt: interrupt)
        case .database(let database):
            switch database.kind {
            case .sqlite(let path):
                return try SQLiteSink(path: path, table: database.table, sources: CheckpointSource.of(spec.inputs, generations: generations),
                                      inputNames: rowSourceNames, resume: spec.resume, interrupt: interrupt)
            case .postgresql, .clickhouse:
                guard let databases else {
                    throw SluiceError(.output, place: database.description, "this build of sluice has no sink for database servers")
                }
                var request = DatabaseSinkRequest(
                    target: database, sources: CheckpointSource.of(spec.inputs, generations: generations), inputNames: rowSourceNames,
                    resume: spec.resume, connections: spec.concurrency, retryMax: spec.retryMax, interrupt: interrupt)
                request.columns = try spec.rowColumns.map {
                    try RowColumns(format: $0.format, time: $0.time, yearGiven: $0.yearGiven, inputs: spec.inputs)
                }
                return try await databases.makeSink(request)
            }
        case .split(let template):
            if spec.countOnly {
                sink = try SingleFileSink(path: template.name(1), compressionLevel: spec.compressionLevel, concurrency: min(spec.concurrency, spec.cores),
                                          interrupt: interrupt)
            } else {
                // --exec output: one file per batch, cut where each batch's output ends.
                sink = try SplitFileSink(template: template, linesPerFile: spec.batch.size, compressionLevel: spec.compressionLevel,
                                         concurrency: min(spec.concurrency, spec.cores), overwrite: spec.overwrite,
                                         cutAtBatchEnds: !execPhases.isEmpty, cutAtTimeouts: spec.follow,
                                         checkpoint: spec.checkpointPath.map { ($0, CheckpointSource.of(spec.inputs, generations: generations), spec.resume) },
                                         interrupt: interrupt)
            }
        }
        do {
            try spec.refuseInputs(among: sink.replacedFiles)
        } catch {
            await sink.abort()
            throw error
        }
        return sink
    }

    /// Runs to the end of input (or `-m`, `-q`, a closed output, an error, a stop request).
    ///
    /// Every task, thread and `--exec` child the stages start is a child of this call's task group (`RunScope`)
    /// and has ended when it returns. A stop request (`stop`) ends the input at a line
    /// boundary and the run finishes as at the end of input. Cancelling the calling task ends
    /// the run early: the report says `cancelled`, the sink is aborted, never committed.
    public func run(sink: any LineSink, stop: StopRequest = StopRequest(),
                    report: @escaping @Sendable (SluiceError) -> Void) async -> RunReport {
        // After a stop, the sink's writes wait a bounded time for a reader (Interrupt.write).
        let sinkInterrupt = sink.writeInterrupt
        if let sinkInterrupt { stop.register(sinkInterrupt) }
        defer { if let sinkInterrupt { stop.unregister(sinkInterrupt) } }
        // The body runs as a child of the run's group while this call awaits it: the sink
        // still has one user at a time (LineSink's rule), which the compiler cannot see.
        let handedOver = HandedOver(sink)
        return await RunScope.run {
            await runStages(sink: handedOver.value, stop: stop, report: report)
        }
    }

    private func runStages(sink: any LineSink, stop: StopRequest,
                           report: @escaping @Sendable (SluiceError) -> Void) async -> RunReport {
        let started = ContinuousClock.now
        let counters = RunCounters()
        // --progress: a task of this run, ended and joined before it returns.
        let progress = spec.progress ? Task { [counters, inputs = spec.inputs] in
            await ProgressLine.run(bytesRead: { counters.bytesRead.load(ordering: .relaxed) }, total: ProgressLine.total(of: inputs),
                                   started: started)
        } : nil
        let countInput = spec.stats
        let head = headSteps
        var source = ChunkSource(inputs: spec.inputs, chunkSize: spec.chunkSize, stop: stop)
        source.nullData = spec.nullData
        source.mappedWindowLimit = spec.mappedWindowLimit
        let windowFeedback = MappedWindowFeedback()
        source.windowFeedback = windowFeedback
        source.standardInputClosed = spec.standardInputClosed
        source.follows = spec.follow
        if spec.follow && spec.record != .line { source.recordQuietSpell = PipelineSpec.recordQuietSpell }
        source.generations = generations
        source.outputFile = spec.inputsMayNotBe(sink)
        // grep -m on standard input: where its bytes are left (`StandardInputResume`). The
        // selected lines' ends in the input come from the grep stage's matcher run again on
        // standard input's chunks (the printed lines do not say where they were).
        let resume = standardInputResumeIndex.map(StandardInputResume.init)
        let resumeSelector: GrepLineSelector? = if resume != nil, case .grep(let grep) = spec.stages.first {
            try? GrepLineSelector(matcher: MatcherBuilder.matcher(for: grep).0, invert: grep.invert)
        } else {
            nil
        }
        var rules = perInputRules
        rules.resume = resume
        source.marksInputs = rules.active
        // Context output without line numbers is numbered by the context stage itself, from the
        // workers' line counts (`ContextPrinter.print`): the reader's count of every chunk's
        // newlines was 10% of `-C 3 ERROR`'s CPU time on 1 GB, on the reading thread. Not with
        // --unordered: the chunks come in the order they were done, not the input's.
        let contextNumbers = spec.usesContext && (spec.presentation.lineNumbers || spec.record != .line || !spec.ordered)
        source.numbersLines = contextNumbers || (spec.decoratesLines && (spec.presentation.lineNumbers || spec.shape != nil)) || spec.takesRows
        source.resumePoints = sink.resumePoints
        source.sinceSeek = sinceSeek
        for note in sink.resumeNotes { report(note) }
        var context = contextRules
        context.resume = resume
        let skip = source.skipInputsBelow
        // Two chunks of lookahead: a worker done before its predecessor starts the next chunk
        // instead of idling (-j2 --map: 1.63x -> 1.74x of -j1, Benchmarks/README.md).
        // Chunk steps are CPU-bound and the task pool has a thread per core: -j beyond the cores
        // only held more chunks (-j 1024 -o x.gz on 200 MB: 1024 filtered chunks waiting on
        // deflate). -j still sets the --exec children in flight.
        let chunkLimit = min(spec.concurrency, spec.cores)
        let inputNames = spec.presentation.displayNames(spec.inputs)
        let binaryRule = spec.binaryFilesApply
        let binaryZap = spec.binaryFilesCount
        let binaryWithoutMatch = spec.binaryFiles == .withoutMatch
        // --record: chunks end where records end (a record longer than 16 MiB is cut there).
        let filtered = source.framedAsRecords(spec.record, regex: recordRegex, maximumBytes: 16 << 20, interleaved: spec.follow)
            .concurrentMap(limit: chunkLimit, ordered: spec.ordered, lookahead: 2) { chunk in
            counters.bytesRead.add(chunk.inputByteCount, ordering: .relaxed)
            counters.bytesDecoded.add(chunk.byteCount, ordering: .relaxed)
            if countInput { counters.linesRead.add(chunk.lineCount, ordering: .relaxed) }
            var out = binaryZap
                ? try BinaryFileGate<ChunkSource>.apply(head, to: chunk, writesBinary: binaryRule, withoutMatch: binaryWithoutMatch,
                                                        lastBinaryInput: counters.lastInputHoldingNul)
                : try head.apply(chunk)
            out.input = chunk.input
            if let resume, chunk.input == resume.input {
                let starts = resumeSelector.map { $0.apply(chunk).selectedStarts ?? [] } ?? chunk.lineStarts
                out.selectedInputEnds = chunk.withUnsafeBufferPointer { buffer in
                    starts.map { chunk.inputOffset + lineEnd(buffer.baseAddress!, from: $0, count: buffer.count) + 1 }
                }
            }
            if out.notes.contains(where: \.endsRun) {
                // grep -P's `FILE: exceeded PCRE's backtracking limit`: named by its input.
                let name = inputNames[min(chunk.input, inputNames.count - 1)]
                out.notes = out.notes.map { note in
                    guard note.endsRun, note.place == nil else { return note }
                    var named = note
                    named.place = String(decoding: name, as: UTF8.self)
                    named.placeBytes = name
                    return named
                }
            }
            out.startsInput = chunk.startsInput
            out.inputUnreadable = chunk.inputUnreadable
            out.origin = chunk.origin ?? chunk.window?.file
            if chunk.window != nil {
                out = out.owned()  // lines passed through unchanged are copied out of the mapping
                windowFeedback.record(read: chunk.byteCount, handedOn: out.byteCount)
            }
            // The file shrank under these lines (this window, or one a held --record record was
            // copied from): they are not all its own. Dropped, as is the rest of the file
            // (`lossGuarded`); the run goes on with the next input.
            let shrunk = chunk.window.flatMap { $0.isIntact ? nil : $0.file } ?? (chunk.lostPages ? chunk.origin : nil)
            if let shrunk {
                var notes = out.notes
                if let note = shrunk.shrinkReport() { notes.append(note) }
                let tagged = out
                out = LineChunk(bytes: [], notes: notes)
                out.input = tagged.input
                out.startsInput = tagged.startsInput
                out.origin = shrunk
                out.lostPages = true
            }
            if out.knownLineCount == nil && !out.isEmpty { out.knownLineCount = out.lineCount }
            return out
        }.lossGuarded().binaryFileGate(names: binaryRule ? inputNames : [], skip: skip, active: binaryRule)
            .contextLines(context, skip: skip).perInput(rules, skip: skip, counters: counters)
        var policy = spec.batch
        if execPhases.isEmpty {
            // Nothing needs whole batches: the byte bound only bounds what is held (pieces of
            // at most 4 MiB), batches and {n} files stay cut by lines (BatchPolicy.maxBytes).
            // --line-buffered: hand every chunk on at once as a piece, so it is written
            // without waiting for its batch to close.
            policy.pieceBytes = spec.lineBuffered ? 1 : min(policy.maxBytes ?? 4 << 20, 4 << 20)
            policy.maxBytes = nil
            // -q and -m stop at a line count: let each chunk through at once, not a timeout later.
            if spec.takesRows {
                // A database commits a transaction per batch: batches end after exactly -b rows.
            } else if spec.quiet || spec.maxCount != nil || rules.listFiles != nil {
                policy.timeout = .zero
            } else {
                policy.exactBoundaries = false  // sinks cut files by their own line count
            }
        } else {
            // --exec streams: each chunk of a batch goes to its command as it arrives (the
            // batch is never held whole); the batch still ends after exactly -b lines.
            policy.pieceBytes = 1
        }
        let batched = filtered.batched(policy)
        let stream: any AsyncSequence<LineBatch, any Error>
        if execPhases.isEmpty {
            stream = batched
        } else {
            // One command per batch, its output byte for byte (`ExecOutputFramer`: a last line
            // without `\n` is written without it and counts as a line for -m, -c, --stats and
            // the exit status; steps after an exec read it as a line and write it with one).
            stream = batched.execStreamed(execPhases, limit: spec.concurrency, ordered: spec.ordered)
        }

        var result = RunReport()
        var output = 0
        // -m, -c, -l and -L are per input (`perInput`) unless --exec output is what they count.
        let globalMax = rules.maxCount == nil && !spec.usesContext ? spec.maxCount : nil
        let countsHere = spec.countOnly && !execPhases.isEmpty && spec.presentation.listFiles == nil
        let writes = !spec.quiet && !countsHere
        do {
            loop: for try await incoming in stream {
                try Task.checkCancellation()  // a channel may still hold batches: not written
                var batch = incoming
                if let max = globalMax, output + batch.lineCount >= max {
                    batch = Self.truncate(batch, toLines: max - output)
                }
                output += batch.lineCount
                result.batches += batch.ends
                var endsRun = false
                for segment in batch.segments {
                    if writes && !segment.isEmpty { try await sink.write(segment) }
                    if !segment.notes.isEmpty {
                        try? await sink.flushCompletely()
                        for note in segment.notes {
                            if note.isFatalToStatus { result.failed = true }
                            report(note)
                            // grep -P dies on such an error: nothing after it is read or written.
                            if note.endsRun { endsRun = true; break }
                        }
                    }
                    if endsRun { break }
                }
                if endsRun {
                    if writes { try await sink.batchEnded(batch.closing) }
                    break loop
                }
                if writes { try await sink.batchEnded(batch.closing) }
                if spec.quiet && output > 0 { break loop }
                if spec.quiet && rules.active && counters.selected.load(ordering: .relaxed) > 0 { break loop }
                if let max = globalMax, output >= max { break loop }
            }
            try Task.checkCancellation()  // never commit a cancelled run
            if countsHere && !spec.quiet { try await sink.write(LineChunk(bytes: Array("\(output)\n".utf8), lineCount: 1)) }
            if let counts, let countBy = spec.countBy {
                let table = counts.rendered(top: countBy.top)
                if !table.isEmpty { try await sink.write(LineChunk(bytes: table, lineCount: table.count { $0 == 0x0A })) }
            }
            try await sink.finish()
        } catch let error as SluiceError where error.code == .closedOutput {
            result.outputClosed = true
            await sink.abort()
        } catch let error as SluiceError {
            result.failed = true
            report(error)
            if error.code == .output || error.code == .interrupted || Task.isCancelled {
                await sink.abort()
                result.cancelled = Task.isCancelled
            } else {
                await finishKeepingWhatWasWritten(sink, &result, report)
            }
        } catch is CancellationError {
            await sink.abort()
            result.cancelled = true
        } catch {
            result.failed = true
            report(SluiceError(.input, "\(error)"))
            await finishKeepingWhatWasWritten(sink, &result, report)  // as for any input error
        }
        if let files = sink.committedFileCount { result.batches = files }  // {n}: a file is a batch
        // Selected lines: those of the grep stage, per input (`perInput`), or with --exec the
        // command's output lines.
        result.selectedLines = execPhases.isEmpty ? counters.selected.load(ordering: .relaxed) : output
        if let resume, case let offset = resume.offset.load(ordering: .relaxed), offset >= 0 { result.standardInputOffset = offset }
        if let counts { result.selectedLines = counts.countedLines }
        if globalMax != nil || spec.quiet { result.selectedLines = min(result.selectedLines, output) }
        result.writtenLines = writes && !spec.countOnly ? output : 0
        if let committed = sink.committedRows { (result.writtenLines, result.batches) = committed }
        result.bytesRead = counters.bytesRead.load(ordering: .relaxed)
        result.bytesDecoded = counters.bytesDecoded.load(ordering: .relaxed)
        result.counted = spec.countOnly
        result.linesRead = countInput ? counters.linesRead.load(ordering: .relaxed) : nil
        let elapsed = ContinuousClock.now - started
        result.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        progress?.cancel()
        await progress?.value
        return result
    }

    /// Each input's name in a row's `source`: the name as given; standard input (also when
    /// no input is named) as `--label` names it, `(standard input)` by default.
    var rowSourceNames: [String] {
        let label = String(decoding: spec.presentation.standardInputLabel, as: UTF8.self)
        let inputs = spec.inputs.isEmpty ? [InputName.standardInput] : spec.inputs
        return inputs.map { input in
            if case .path(let path) = input { return path.escapedDescription }
            return label
        }
    }

    /// grep's per-input rules for this run (with `-q` only `-I`'s; with `--exec`, `-m` and
    /// `-c` count the command's output, after the stage they would run in).
    var perInputRules: PerInputRules {
        var rules = PerInputRules()
        rules.binaryWithoutMatch = spec.binaryFiles == .withoutMatch && spec.binaryFilesCount
        // -q -I: an input's lines from its binary buffer on are not selected (grep never reads
        // them); a line selected before it ends the run, as grep -q exits at its first.
        rules.quiet = spec.quiet
        rules.lastInput = max(0, spec.inputs.count - 1)
        guard !spec.quiet else { return rules }
        rules.listFiles = spec.presentation.listFiles
        rules.count = spec.countOnly && execPhases.isEmpty && rules.listFiles == nil
        rules.maxCount = execPhases.isEmpty && !spec.usesContext ? spec.maxCount : nil
        rules.names = spec.presentation.displayNames(spec.inputs)
        rules.namesShown = spec.presentation.fileNames
        rules.nullAfterName = spec.presentation.nullAfterName
        rules.colors = spec.presentation.colors
        return rules
    }

    /// grep's context output, when asked for (`-A`, `-B`, `-C`).
    var contextRules: ContextRules {
        var rules = ContextRules()
        guard spec.usesContext else { return rules }
        let presentation = spec.presentation
        rules.active = true
        rules.before = presentation.beforeContext ?? 0
        rules.after = presentation.afterContext ?? 0
        rules.separator = presentation.groupSeparator
        if spec.writesNullDataLines {
            // -z: written as the lines are, NUL and newline exchanged, so that the sink's
            // exchange gives grep's bytes.
            rules.separator = rules.separator.map(NulData.exchanged)
            rules.separatorEnd = 0x00
        }
        rules.names = presentation.displayNames(spec.inputs)
        rules.initialTab = presentation.initialTab
        rules.numberWidths = presentation.numberWidths(spec.inputs)
        rules.namesShown = presentation.fileNames
        rules.nameEnd = presentation.nameEnd
        rules.lineNumbers = presentation.lineNumbers
        rules.byteOffsets = presentation.byteOffsets
        rules.maxCount = spec.maxCount
        rules.onlyMatching = presentation.onlyMatching
        rules.colors = presentation.colors
        if presentation.onlyMatching || presentation.colors != nil, case .grep(let grep) = spec.stages.first {
            rules.extractor = try? MatcherBuilder.onlyMatching(for: grep)
            rules.invert = grep.invert
        }
        rules.lastInput = max(0, spec.inputs.count - 1)
        rules.records = spec.record != .line
        return rules
    }

    /// After a failure that is not the output's: commit what was written; if even that fails,
    /// remove the temporary files and report it.
    private func finishKeepingWhatWasWritten(_ sink: any LineSink, _ result: inout RunReport,
                                             _ report: (SluiceError) -> Void) async {
        do {
            try await sink.finish()
        } catch {
            await sink.abort()
            result.failed = true
            if let error = error as? SluiceError, error.code != .closedOutput { report(error) }
        }
    }

    /// The first `lines` lines of `batch`. A piece of `--exec` output that ends inside a line
    /// (`endsWithoutNewline`, counting only its newlines) is cut after its last counted line
    /// when that line is the last one wanted: the partial line after it is not one of them.
    static func truncate(_ batch: LineBatch, toLines lines: Int) -> LineBatch {
        var kept: [LineChunk] = []
        var remaining = lines
        for segment in batch.segments {
            let count = segment.lineCount
            if count < remaining || (count == remaining && !segment.endsWithoutNewline) {
                kept.append(segment)
                remaining -= count
            } else {
                if remaining > 0 {
                    kept.append(segment.split(afterLines: remaining).0)
                }
                break
            }
        }
        return LineBatch(segments: kept, lineCount: lines, closing: batch.closing)
    }
}
