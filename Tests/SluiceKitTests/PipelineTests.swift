import Foundation
import Testing

@testable import SluiceKit

@Suite struct ExpressionParserTests {
    @Test func theFullExample() throws {
        let parsed = try ExpressionParser.parse(#"grep -i ERROR | map upper | exec "cut -c1-80" | batch 500 1s"#)
        #expect(parsed.stages == [
            .grep(GrepSpec(patterns: ["ERROR"], ignoreCase: true)),
            .map(.upper),
            .exec("cut -c1-80"),
        ])
        #expect(parsed.batch == BatchPolicy(size: 500, timeout: .seconds(1)))
    }

    @Test(arguments: [
        ("grep A | grep B", [Stage.grep(GrepSpec(patterns: ["A"])), .grep(GrepSpec(patterns: ["B"]))]),
        ("grep -e A -e B", [.grep(GrepSpec(patterns: ["A", "B"]))]),
        ("grep -eERR", [.grep(GrepSpec(patterns: ["ERR"]))]),
        ("grep -vwxF -e 'a b'", [.grep(GrepSpec(patterns: ["a b"], fixedStrings: true, invert: true, wordRegexp: true, lineRegexp: true))]),
        ("grep -E x", [.grep(GrepSpec(patterns: ["x"], syntax: .extended))]),
        ("grep -P x", [.grep(GrepSpec(patterns: ["x"], syntax: .perl))]),
        ("grep -G 'a|b'", [.grep(GrepSpec(patterns: ["a|b"]))]),
        ("grep 'a|b'", [.grep(GrepSpec(patterns: ["a|b"]))]),
        (#"grep "say \"hi\" \\ \$x""#, [.grep(GrepSpec(patterns: [#"say "hi" \ $x"#]))]),
        (#"grep "a\d""#, [.grep(GrepSpec(patterns: [#"a\d"#]))]),
        (#"grep a\ b"#, [.grep(GrepSpec(patterns: ["a b"]))]),
        (#"grep 'x'"y"z"#, [.grep(GrepSpec(patterns: ["xyz"]))]),
        ("grep -- -v", [.grep(GrepSpec(patterns: ["-v"]))]),
        ("grep -", [.grep(GrepSpec(patterns: ["-"]))]),
        ("grep ''", [.grep(GrepSpec(patterns: [""]))]),
        ("grep a|grep b", [.grep(GrepSpec(patterns: ["a"])), .grep(GrepSpec(patterns: ["b"]))]),
        ("  map   lower\t|\tmap trim ", [.map(.lower), .map(.trim)]),
        ("map 's/a b/c/g'", [.map(.substitute(pattern: "a b", replacement: "c", global: true, caseless: false))]),
        ("exec sort -u", [.exec("sort -u")]),
        ("exec 'sort | uniq -c'", [.exec("sort | uniq -c")]),
    ] as [(String, [Stage])])
    func stages(expression: String, expected: [Stage]) throws {
        let parsed = try ExpressionParser.parse(expression)
        #expect(parsed.stages == expected)
        #expect(parsed.batch == nil)
    }

    @Test(arguments: [
        ("batch 500", BatchPolicy(size: 500, timeout: .milliseconds(200))),
        ("batch 7 0", BatchPolicy(size: 7, timeout: nil)),
        ("batch 1 250ms", BatchPolicy(size: 1, timeout: .milliseconds(250))),
        ("batch 2 1.5s", BatchPolicy(size: 2, timeout: .milliseconds(1500))),
    ])
    func batch(expression: String, expected: BatchPolicy) throws {
        let parsed = try ExpressionParser.parse("grep x | " + expression)
        #expect(parsed.batch == expected)
    }

    @Test(arguments: [
        ("grep a | frob x", 10, "unknown stage 'frob'"),
        ("grep 'abc", 6, "unterminated single quote"),
        ("grep \"abc", 6, "unterminated double quote"),
        ("grep", 5, "grep needs a pattern"),
        ("grep -i", 5, "grep needs a pattern"),
        ("map upper | grep", 17, "grep needs a pattern"),
        ("grep -e", 6, "grep -e needs a pattern"),
        ("grep a |", 9, "empty stage after '|'"),
        ("| grep a", 1, "empty stage before '|'"),
        ("grep a || grep b", 9, "empty stage before '|'"),
        ("", 1, "empty pipeline"),
        ("grep a b", 8, "unexpected word 'b'"),
        ("grep -z a", 6, "unknown grep option '-z'"),
        ("batch x", 7, "is not a positive whole number"),
        ("batch 0", 7, "is not a positive whole number"),
        ("batch", 6, "batch takes a size"),
        ("batch 1 2s 3", 12, "batch takes a size"),
        ("batch 5 soon", 9, "is not a duration"),
        ("batch 5 | batch 6", 11, "only one batch stage"),
        ("map", 4, "map takes one transform"),
        ("map upper lower", 11, "map takes one transform"),
        ("map s/a/b/x", 5, "unknown substitution flag 'x'"),
        ("map shout", 5, "unknown transform 'shout'"),
        ("exec", 5, "exec needs a command"),
        ("where", 6, "where needs an expression"),
        ("count-by", 9, "count-by takes fields"),
        ("count-by level 3 4", 18, "count-by takes fields"),
        ("count-by level 0", 16, "is not a positive whole number"),
        ("level", 6, "level takes a level"),
        ("level a b", 9, "level takes a level"),
        ("since", 6, "since takes a time"),
        ("record", 7, "record takes line, auto or a REGEX"),
        ("grep a\\", 7, "a backslash ends the expression"),
    ])
    func errorsGiveTheColumn(expression: String, column: Int, messagePart: String) {
        let error = #expect(throws: SluiceError.self) { _ = try ExpressionParser.parse(expression) }
        #expect(error?.code == .usage)
        #expect(error?.place == "--pipeline")
        #expect(error?.message.hasPrefix("column \(column): ") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains(messagePart) == true, "\(error?.message ?? "")")
    }
}

@Suite struct ParseDurationTests {
    @Test(arguments: [
        ("200ms", Duration.milliseconds(200) as Duration?),
        ("1s", .seconds(1)),
        ("1.5s", .milliseconds(1500)),
        ("2m", .seconds(120)),
        ("10us", .microseconds(10)),
        ("0", nil),
        ("0s", nil),
        ("0ms", nil),
        ("0.0s", nil),
    ])
    func valid(text: String, expected: Duration?) {
        let parsed = parseDuration(text)
        #expect(parsed != nil, "'\(text)' is a duration")
        #expect(parsed.flatMap { $0 } == expected)
    }

    @Test(arguments: ["", "abc", "-1s", "5", "1h", "ms", "s", "infs", "nanms", "1 s", "1.5.2s"])
    func invalid(text: String) {
        #expect(parseDuration(text) == nil, "'\(text)'")
    }

    /// Whole milliseconds must come out exact (binary floating point must not shave a
    /// nanosecond off: 1025 × 1e-3 × 1e9 = 1024999999.9999999 truncates to 1024999999).
    @Test(arguments: [("1025ms", 1025), ("1001ms", 1001), ("1.001s", 1001), ("2049ms", 2049), ("0.007s", 7)])
    func wholeMillisecondsAreExact(text: String, milliseconds: Int) {
        #expect(parseDuration(text) == .some(.milliseconds(milliseconds)))
    }
}

@Suite struct RunReportTests {
    @Test(arguments: [
        // (selected, failed, quiet, signal, status)
        (0, false, false, nil, 1),
        (3, false, false, nil, 0),
        (3, true, false, nil, 2),
        (0, true, false, nil, 2),
        (3, true, true, nil, 0),
        (0, true, true, nil, 2),
        (0, false, true, nil, 1),
        (3, false, false, 2, 130),
        (3, true, false, 15, 143),
    ] as [(Int, Bool, Bool, Int32?, Int32)])
    func exitStatus(selected: Int, failed: Bool, quiet: Bool, signal: Int32?, status: Int32) {
        var report = RunReport()
        report.selectedLines = selected
        report.failed = failed
        report.interruptedBy = signal
        #expect(report.exitStatus(quiet: quiet) == status)
    }

    @Test func summaryMentionsTheCounts() async {
        var report = RunReport()
        report.bytesRead = 2_000_000
        report.bytesDecoded = 2_000_000
        report.linesRead = 10
        report.selectedLines = 4
        report.writtenLines = 3
        report.batches = 2
        report.seconds = 0.5
        #expect(report.summary == "read 2.00 MB in 10 lines, selected 4 lines, wrote 3 lines in 2 batches, 0.500 s, 4.0 MB/s")
        report.bytesRead = 500_000  // some input was gzip: MB/s counts the lines' bytes
        report.linesRead = 1
        report.selectedLines = 1
        report.writtenLines = 1
        report.batches = 1
        #expect(report.summary == "read 2.00 MB in 1 line (0.50 MB compressed), selected 1 line, wrote 1 line in 1 batch, 0.500 s, 4.0 MB/s")
        report.counted = true
        report.writtenLines = 0
        #expect(report.summary == "read 2.00 MB in 1 line (0.50 MB compressed), selected 1 line, counted (-c), 0.500 s, 4.0 MB/s")
    }
}

extension ChildProcessTests {
    @Suite struct PipelineRunnerTests {
        struct Outcome {
            var report: RunReport
            var sink: CollectingSink
            var notes: [SluiceError]
        }

        static let logLines: [String] = (0..<3000).map { i in
            let level = ["INFO", "WARN", "ERROR"][i % 3]
            let extra = i % 7 == 0 ? " timeout after \(i)ms" : ""
            return "\(i) \(level) request \(i * 31 % 1000)\(extra)\n"
        }

        static func run(_ spec: PipelineSpec) async throws -> Outcome {
            let runner = try PipelineRunner(spec: spec)
            let sink = CollectingSink()
            let notes = NoteLog()
            let report = await runner.run(sink: sink) { notes.add($0) }
            return Outcome(report: report, sink: sink, notes: notes.all)
        }

        static func spec(_ inputs: [String], stages: [Stage], chunkSize: Int = 1024, batch: BatchPolicy = BatchPolicy(size: 100, timeout: nil)) -> PipelineSpec {
            var spec = PipelineSpec()
            spec.inputs = inputs.map(InputName.init(argument:))
            spec.stages = stages
            spec.chunkSize = chunkSize
            spec.batch = batch
            spec.concurrency = 3
            return spec
        }

        func withLog<R>(_ body: (String, TemporaryFolder) async throws -> R) async throws -> R {
            let folder = try TemporaryFolder()
            defer { folder.remove() }
            let path = try folder.write("app.log", Self.logLines.joined().bytes)
            return try await body(path, folder)
        }

        @Test(arguments: [16, 100, 4096, 512 * 1024])
        func grepSelectsInOrder(chunkSize: Int) async throws {
            try await withLog { path, _ in
                let outcome = try await Self.run(Self.spec([path], stages: [.grep(GrepSpec(patterns: ["ERROR.*timeout"]))], chunkSize: chunkSize))
                let expected = Self.logLines.filter { $0.contains("ERROR") && $0.contains("timeout") }
                #expect(outcome.sink.lines == expected)
                #expect(outcome.report.selectedLines == expected.count)
                #expect(outcome.report.writtenLines == expected.count)
                #expect(outcome.report.exitStatus(quiet: false) == 0)
                #expect(outcome.sink.finished && !outcome.sink.aborted)
                #expect(outcome.notes.isEmpty)
                #expect(outcome.report.bytesRead == Self.logLines.joined().utf8.count)
            }
        }

        @Test func noMatchIsExitOne() async throws {
            try await withLog { path, _ in
                let outcome = try await Self.run(Self.spec([path], stages: [.grep(GrepSpec(patterns: ["NOPE"]))]))
                #expect(outcome.sink.bytes.isEmpty)
                #expect(outcome.report.selectedLines == 0)
                #expect(outcome.report.exitStatus(quiet: false) == 1)
            }
        }

        @Test func noStagesPassesEveryLine() async throws {
            try await withLog { path, _ in
                let outcome = try await Self.run(Self.spec([path], stages: []))
                #expect(outcome.sink.lines == Self.logLines)
                #expect(outcome.report.batches == 30)
            }
        }

        @Test func grepStagesAreAndAndMapsApplyInOrder() async throws {
            try await withLog { path, _ in
                let stages: [Stage] = [
                    .grep(GrepSpec(patterns: ["WARN"])),
                    .grep(GrepSpec(patterns: ["request 1"])),
                    .map(.lower),
                    .map(.substitute(pattern: "^(\\d+) ", replacement: "[$1] ", global: false, caseless: false)),
                ]
                let outcome = try await Self.run(Self.spec([path], stages: stages))
                let expected = Self.logLines.filter { $0.contains("WARN") && $0.contains("request 1") }
                    .map { line -> String in
                        let lower = line.lowercased()
                        let space = lower.firstIndex(of: " ")!
                        return "[" + lower[..<space] + "]" + lower[space...]
                    }
                #expect(outcome.sink.lines == expected)
            }
        }

        @Test(arguments: [1, 5, 99, 100, 101, 250])
        func maxCountTruncates(max: Int) async throws {
            try await withLog { path, _ in
                var spec = Self.spec([path], stages: [.grep(GrepSpec(patterns: ["INFO"]))], batch: BatchPolicy(size: 100, timeout: nil))
                spec.maxCount = max
                let outcome = try await Self.run(spec)
                let expected = Array(Self.logLines.filter { $0.contains("INFO") }.prefix(max))
                #expect(outcome.sink.lines == expected)
                #expect(outcome.report.selectedLines == max)
                #expect(outcome.report.writtenLines == max)
                #expect(outcome.report.exitStatus(quiet: false) == 0)
            }
        }

        @Test func countOnlyWritesTheNumber() async throws {
            try await withLog { path, _ in
                var spec = Self.spec([path], stages: [.grep(GrepSpec(patterns: ["ERROR"], invert: true))])
                spec.countOnly = true
                let outcome = try await Self.run(spec)
                #expect(outcome.sink.lines == ["2000\n"])
                #expect(outcome.report.selectedLines == 2000)
                #expect(outcome.report.writtenLines == 0)
                spec.maxCount = 7
                #expect(try await Self.run(spec).sink.lines == ["7\n"])
            }
        }

        @Test func quietWritesNothingAndStopsEarly() async throws {
            try await withLog { path, _ in
                var spec = Self.spec([path], stages: [.grep(GrepSpec(patterns: ["WARN"]))])
                spec.quiet = true
                let outcome = try await Self.run(spec)
                #expect(outcome.sink.bytes.isEmpty)
                #expect(outcome.report.selectedLines > 0)
                #expect(outcome.report.selectedLines < 1000, "stops at the first batch with a line")
                #expect(outcome.report.writtenLines == 0)
                #expect(outcome.report.exitStatus(quiet: true) == 0)
            }
        }

        @Test func anUnreadableInputIsReportedAndTheOthersGoOn() async throws {
            try await withLog { path, folder in
                let missing = folder.file("missing.log")
                let outcome = try await Self.run(Self.spec([missing, path, folder.path], stages: [.grep(GrepSpec(patterns: ["^1 "]))]))
                #expect(outcome.sink.lines == ["1 WARN request 31\n"])
                #expect(outcome.notes.map(\.place) == [missing, folder.path])
                #expect(outcome.report.failed)
                #expect(outcome.report.exitStatus(quiet: false) == 2)
            }
        }

        @Test func aTruncatedGzipKeepsTheLinesBeforeAndFails() async throws {
            let folder = try TemporaryFolder()
            defer { folder.remove() }
            let data = Self.logLines.joined().bytes
            let compressed = try await gzipped(data)
            let path = try folder.write("cut.gz", Array(compressed.dropLast(6)))
            let outcome = try await Self.run(Self.spec([path], stages: []))
            #expect(difference(outcome.sink.bytes, data) == nil)
            #expect(outcome.notes.map(\.code) == [.corruptInput])
            #expect(outcome.report.exitStatus(quiet: false) == 2)
        }

        @Test func execTransformsEachBatchInOrder() async throws {
            try await withLog { path, _ in
                let stages: [Stage] = [.grep(GrepSpec(patterns: ["ERROR"])), .exec("tr a-z A-Z"), .grep(GrepSpec(patterns: ["REQUEST 9"]))]
                let outcome = try await Self.run(Self.spec([path], stages: stages, batch: BatchPolicy(size: 37, timeout: nil)))
                let expected = Self.logLines.filter { $0.contains("ERROR") }.map { $0.uppercased() }.filter { $0.contains("REQUEST 9") }
                #expect(outcome.sink.lines == expected)
                #expect(outcome.report.exitStatus(quiet: false) == 0)
            }
        }

        @Test func aFailingExecIsReportedAndNothingComesOutOfOrder() async throws {
            try await withLog { path, _ in
                // The third batch fails: its first line is line 200.
                let command = "awk 'NR == 1 && /^200 / { exit 4 } { print }'"
                let outcome = try await Self.run(Self.spec([path], stages: [.exec(command)], batch: BatchPolicy(size: 100, timeout: nil)))
                #expect(outcome.report.failed)
                #expect(outcome.report.exitStatus(quiet: false) == 2)
                let note = try #require(outcome.notes.first)
                #expect(note.code == .exec)
                #expect(note.description.contains(command))
                #expect(note.message.contains("status 4"))
                #expect(outcome.sink.lines == Array(Self.logLines.prefix(200)))
            }
        }

        /// Another run (or any ExecCommand user) in the same process must keep its children.
        @Test func aRunEndingLeavesOtherCommandsAlone() async throws {
            let folder = try TemporaryFolder()
            defer { folder.remove() }
            let empty = try folder.write("empty.log", [])
            let other = Task { try await ExecCommand("sleep 0.5; echo done").run([]) }
            try await Task.sleep(for: .milliseconds(150))
            _ = try await Self.run(Self.spec([empty], stages: []))
            let result = await other.result
            #expect(throws: Never.self) { try result.get() }
            #expect((try? result.get()) == "done\n".bytes)
        }

        @Test func explanationListsTheStages() throws {
            var spec = Self.spec(["a.log"], stages: [.grep(GrepSpec(patterns: ["ERROR"], ignoreCase: true)), .map(.upper), .exec("sort")])
            spec.maxCount = 3
            let lines = try PipelineRunner(spec: spec).explanation
            #expect(lines.first?.hasPrefix("1. read     a.log") == true)
            #expect(lines.contains { $0.contains("grep     -i -e 'ERROR'") })
            #expect(lines.contains { $0.contains("map      upper") })
            #expect(lines.contains { $0.contains("exec     /bin/sh -c 'sort'") })
            #expect(lines.contains { $0.contains("limit    stop after 3") })
        }

        @Test func anInvalidPatternFailsWhenTheRunnerIsBuilt() {
            let error = #expect(throws: SluiceError.self) {
                _ = try PipelineRunner(spec: Self.spec([], stages: [.grep(GrepSpec(patterns: ["ok"])), .grep(GrepSpec(patterns: ["(bad"], syntax: .perl))]))
            }
            #expect(error?.code == .usage)
            #expect(error?.place == "grep stage 2")
        }

        @Test func makeSinkFailsEarlyForAnUnwritableFile() async {
            var spec = PipelineSpec()
            spec.output = .file("/nonexistent-sluice-dir/out.log")
            let error = await #expect(throws: SluiceError.self) { _ = try await PipelineRunner(spec: spec).makeSink() }
            #expect(error?.code == .output)
        }

        @Test func endToEndIntoSplitFiles() async throws {
            try await withLog { path, folder in
                var spec = Self.spec([path], stages: [.grep(GrepSpec(patterns: ["WARN"]))], batch: BatchPolicy(size: 400, timeout: nil))
                spec.output = .split(try FileNameTemplate(parsing: folder.file("out-{n:2}.log")))
                let runner = try PipelineRunner(spec: spec)
                let sink = try await runner.makeSink()
                let report = await runner.run(sink: sink) { _ in }
                #expect(report.exitStatus(quiet: false) == 0)
                let names = try folder.listing().filter { $0.hasPrefix("out-") }
                #expect(names == ["out-01.log", "out-02.log", "out-03.log"])
                let warn = Self.logLines.filter { $0.contains("WARN") }
                #expect(text(try folder.read("out-01.log")) == warn[0..<400].joined())
                #expect(text(try folder.read("out-03.log")) == warn[800...].joined())
                #expect(try temporaries(folder).isEmpty)
            }
        }
    }
}

/// `--progress`'s line (drawn in a terminal: ProgressLineTests in SluiceCLITests).
struct ProgressLineTextTests {
    @Test("done of total, percent, rate, time left; no total for standard input; minutes past a minute")
    func text() {
        #expect(ProgressLine.line(done: 250_000_000, total: 1_000_000_000, elapsed: 2) == "sluice: 250.0 MB of 1000.0 MB (25%), 125.0 MB/s, 6 s left")
        #expect(ProgressLine.line(done: 3_000_000, total: nil, elapsed: 2) == "sluice: 3.0 MB, 1.5 MB/s")
        #expect(ProgressLine.line(done: 1_000_000, total: 200_000_000, elapsed: 1) == "sluice: 1.0 MB of 200.0 MB (0%), 1.0 MB/s, 3 min 19 s left")
    }
}
