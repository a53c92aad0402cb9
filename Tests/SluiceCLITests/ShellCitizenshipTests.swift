import Foundation
import Testing

/// How sluice behaves inside a shell pipeline: a closed stdout stops it quietly, trickling input
/// comes out promptly, `--stats` adds one line on stderr and nothing else.
@Suite struct ShellCitizenshipTests {
    struct HeadCase: Sendable, CustomTestStringConvertible {
        let arguments: [String]
        /// A shell filter printing the first line sluice would print.
        let firstLine: String
        let gzipInput: Bool

        var testDescription: String { "sluice \(Shell.quote(arguments)) \(gzipInput ? "BIG.gz" : "BIG") | head -1" }
    }

    static let headCases: [HeadCase] = [
        HeadCase(arguments: ["-e", ""], firstLine: "head -1", gzipInput: false),
        HeadCase(arguments: ["-e", "INFO"], firstLine: "grep -a -m1 -e INFO", gzipInput: false),
        HeadCase(arguments: ["-e", "", "--map", "upper"], firstLine: "head -1 | tr a-z A-Z", gzipInput: false),
        HeadCase(arguments: ["-j", "2", "-b", "100", "-i", "-e", "info"], firstLine: "grep -a -m1 -i -e info", gzipInput: false),
        HeadCase(arguments: ["-e", "ERROR"], firstLine: "grep -a -m1 -e ERROR", gzipInput: true),
    ]

    @Test("a closed stdout (| head -1) stops sluice at once, quietly, killed by SIGPIPE as grep (141)", arguments: headCases)
    func closedStdout(headCase: HeadCase) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let input: String
        if headCase.gzipInput {
            // 20 concatenated copies of the demo input: ~12 MB of gzip, ~65 MB of text.
            input = directory.path("big.log.gz")
            _ = try await Shell.output(
                "for i in $(seq 20); do cat \(Shell.quote(Paths.fixture("app.log.gz"))); done > \(Shell.quote(input))"
            )
        } else {
            // ~50 MB: the loghub logs, 25 times over.
            input = directory.path("big.log")
            var block: [UInt8] = []
            for log in Paths.loghubLogs { block += try readBytes(Paths.loghub(log)) + [UInt8(ascii: "\n")] }
            _ = FileManager.default.createFile(atPath: input, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: input))
            for _ in 0..<25 { try handle.write(contentsOf: block) }
            try handle.close()
        }
        let expectedFirst = try await Shell.output("zcat -f \(Shell.quote(input)) | LC_ALL=C \(headCase.firstLine)")
        let errors = directory.path("stderr")
        let status = directory.path("status")
        let run = try await Shell.bash(
            "\"$SLUICE\" \(Shell.quote(headCase.arguments)) \(Shell.quote(input)) 2>\(Shell.quote(errors)) | head -1; "
                + "echo \"${PIPESTATUS[0]}\" > \(Shell.quote(status))",
            timeout: .seconds(30)
        )
        #expect(run.elapsed < .seconds(5), "\(headCase.testDescription) took \(run.elapsed)")
        expectSameBytes(run.stdout, expectedFirst, "first line of \(headCase.testDescription)")
        let exitStatus = (try? String(contentsOfFile: status, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(exitStatus == "141", "\(headCase.testDescription): sluice exited \(exitStatus ?? "?") (grep: 141)")
        let stderrText = (try? String(contentsOfFile: errors, encoding: .utf8)) ?? "<missing>"
        #expect(stderrText.isEmpty, "\(headCase.testDescription) printed on stderr: \(stderrText)")
    }

    struct TrickleCase: Sendable, CustomTestStringConvertible {
        let producer: String
        let arguments: [String]
        let expected: String

        var testDescription: String { "\(producer) | sluice \(Shell.quote(arguments))" }
    }

    static let trickleCases: [TrickleCase] = [
        TrickleCase(producer: "(echo a; sleep 2; echo b)", arguments: ["-e", "."], expected: "a\nb\n"),
        TrickleCase(producer: "(echo a; sleep 2; echo b)", arguments: ["-e", ""], expected: "a\nb\n"),
        TrickleCase(producer: "(echo a; sleep 2; echo b)", arguments: ["-e", "", "--map", "upper"], expected: "A\nB\n"),
        TrickleCase(producer: "(echo a; sleep 2; echo b)", arguments: ["-j", "2", "-b", "1000", "-E", "-e", "a|b"], expected: "a\nb\n"),
        TrickleCase(producer: "(echo a; sleep 2; echo b)", arguments: ["-e", "", "--exec", "cat"], expected: "a\nb\n"),
        TrickleCase(producer: "(echo a; sleep 2; echo b)", arguments: ["-p", "grep . | batch 1000 100ms"], expected: "a\nb\n"),
        TrickleCase(
            producer: "(echo a | gzip; sleep 2; echo b | gzip)", arguments: ["-e", "."], expected: "a\nb\n"
        ),
    ]

    @Test("trickling input reaches stdout within the batch timeout", arguments: trickleCases)
    func trickle(trickleCase: TrickleCase) async throws {
        let run = try await Shell.run("\(trickleCase.producer) | \"$SLUICE\" \(Shell.quote(trickleCase.arguments))")
        #expect(run.stdoutText == trickleCase.expected, "stderr: \(run.stderr)")
        #expect(run.status == 0)
        let firstLineBytes = Array(trickleCase.expected.utf8).firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
        let firstLineArrival = run.stdoutArrivals.first { $0.totalBytes >= firstLineBytes }?.at
        let lastArrival = run.stdoutArrivals.last?.at
        try #require(firstLineArrival != nil && lastArrival != nil, "no output at all")
        #expect(firstLineArrival! < .milliseconds(1500), "the first line arrived after \(firstLineArrival!)")
        #expect(lastArrival! - firstLineArrival! > .milliseconds(500), "the first line waited for the second one")
    }

    @Test("--batch-timeout 0 holds a partial batch until the end of input")
    func zeroTimeoutWaitsForEnd() async throws {
        let run = try await Shell.run("(echo a; sleep 1.5; echo b) | \"$SLUICE\" --batch-timeout 0 -e .")
        #expect(run.stdoutText == "a\nb\n")
        let firstArrival = run.stdoutArrivals.first?.at
        #expect((firstArrival ?? .zero) > .milliseconds(1200), "a partial batch was emitted at \(String(describing: firstArrival))")
    }

    @Test("--stats: one line on stderr, stdout unchanged", arguments: [
        ["-e", "ERROR"], ["-c", "-i", "-e", "error"], ["-v", "-e", "INFO"], ["-e", "no such text anywhere"],
    ])
    func statsLine(flags: [String]) async throws {
        let inputs = [Paths.loghub("Hadoop_2k.log"), Paths.fixture("multi-member.log.gz")]
        let oracle = try await Oracle.grep(Oracle.grepArguments(forSluiceFilter: flags), inputs: inputs)
        let sluice = try await Sluice.run(["--stats", "-j", "2"] + flags + inputs)
        expectMatchesOracle(sluice, oracle, "sluice --stats \(Shell.quote(flags))")
        #expect(sluice.stderr.hasSuffix("\n"), "stderr: \(escaped(Array(sluice.stderr.utf8)))")
        #expect(sluice.stderr.split(separator: "\n").count == 1, "stderr: \(sluice.stderr)")
        #expect(sluice.stderr.contains { $0.isNumber }, "stderr: \(sluice.stderr)")
    }

    /// Context lines are written, not selected: `--stats` says grep -c's number, with the
    /// per-input rules (-I, -m, -l) applied too.
    @Test("--stats: selected lines are grep -c's, context lines not among them", arguments: [
        ["-C", "2"], ["-I", "-C", "2"], ["-I", "-A", "1"], ["-B", "3", "-m", "5"], ["-I", "-C", "1", "-m", "7"],
    ])
    func statsSelectedWithContext(flags: [String]) async throws {
        let input = Paths.loghub("Hadoop_2k.log")
        let limit = flags.firstIndex(of: "-m").map { ["-m", flags[$0 + 1]] } ?? []
        let expected = try await Shell.output("LC_ALL=C grep -c \(Shell.quote(limit)) ERROR \(Shell.quote(input))")
        let sluice = try await Sluice.run(["--stats"] + flags + ["-e", "ERROR", input])
        #expect(sluice.stderr.contains("selected \(String(decoding: expected, as: UTF8.self).trimmingCharacters(in: .newlines)) lines"),
                "\(sluice.stderr)")
    }

    /// Batches are counted as if cut at every `-b` lines, whatever the chunking (stdout and
    /// single-file output let chunks through uncut).
    @Test("--stats counts ceil(lines / -b) batches", arguments: [
        (["-b", "1000"], 2000), (["-b", "7"], 2000), (["-b", "1"], 2000), (["-b", "3000"], 2000), (["-b", "400", "-O", "{dir}/all.log"], 2000),
        (["-b", "333", "-O", "{dir}/p-{n}.log"], 2000),
    ])
    func statsCountsBatches(flags: [String], lines: Int) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let arguments = flags.map { $0.replacingOccurrences(of: "{dir}", with: dir.path) }
        let sluice = try await Sluice.run(["--stats", "-j", "2", "-e", "."] + arguments + [Paths.loghub("Hadoop_2k.log")])
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
        let size = Int(flags[1])!
        let expected = (lines + size - 1) / size
        #expect(sluice.stderr.contains("wrote \(lines) lines in \(expected) batch\(expected == 1 ? "" : "es")"), "stderr: \(sluice.stderr)")
    }

    /// A closed descriptor is grep's "Bad file descriptor", not whatever descriptor the
    /// runtime opened in its place ("Invalid argument" from an epoll instance, before).
    @Test("closed stdout or stdin: exit 2 with 'Bad file descriptor', the other inputs still read")
    func closedStandardDescriptors() async throws {
        let log = Shell.quote(Paths.loghub("Hadoop_2k.log"))
        let noStdout = try await Shell.run("\"$SLUICE\" -e INFO \(log) >&-")
        #expect(noStdout.status == 2)
        #expect(noStdout.stderr == "sluice: (standard output): Bad file descriptor\n", "stderr: \(noStdout.stderr)")
        let noStdin = try await Shell.run("\"$SLUICE\" -h -e INFO \(log) - <&-")
        let oracle = try await Oracle.grep(["-e", "INFO"], inputs: [Paths.loghub("Hadoop_2k.log")])
        #expect(noStdin.stdout == oracle.stdout)
        #expect(noStdin.status == 2)
        #expect(noStdin.stderr == "sluice: (standard input): Bad file descriptor\n", "stderr: \(noStdin.stderr)")
        let quiet = try await Shell.run("\"$SLUICE\" -q -e INFO \(log) >&-")
        #expect(quiet.status == 0, "-q writes nothing: a closed stdout is no error")
    }

    @Test("no --stats, no error: stderr stays empty")
    func quietByDefault() async throws {
        let sluice = try await Sluice.run(["-e", "ERROR", Paths.fixture("app.log.gz"), Paths.loghub("Hadoop_2k.log")])
        #expect(sluice.stderr.isEmpty, "stderr: \(sluice.stderr)")
        #expect(sluice.status == 0)
    }
}

/// `-m N` and `-q` stop reading once satisfied, as grep does: they must not wait for an input
/// that has not ended.
@Suite struct EarlyStopTests {
    @Test("-m and -q exit once satisfied while stdin stays open", arguments: [
        (["-m", "1", "-e", "a"], "a\n"),
        (["-m", "2", "-c", "-e", "a"], "2\n"),
        (["-q", "-e", "a"], ""),
    ])
    func stopsWithoutEndOfInput(arguments: [String], expected: String) async throws {
        let sluice = try await Sluice.run(
            arguments, stdin: .prefixThenHeldOpen(Array("a\nb\na\n".utf8)), timeout: .seconds(10)
        )
        #expect(!sluice.timedOut, "sluice \(Shell.quote(arguments)) waited for the end of input")
        #expect(sluice.stdoutText == expected)
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
        #expect(sluice.elapsed < .seconds(8), "took \(sluice.elapsed)")
    }
}

/// `--line-buffered` flushes: each line is written once read and selected, even with no batch
/// timeout to close the batch.
@Suite struct LineBufferedTests {
    @Test("--line-buffered writes selected lines while stdin stays open (no batch timeout)")
    func writesBeforeEndOfInput() async throws {
        let sluice = try await Sluice.run(
            ["--line-buffered", "--batch-timeout", "0", "-e", "a"],
            stdin: .prefixThenHeldOpen(Array("a\nb\na\n".utf8)), timeout: .seconds(10)
        )
        #expect(sluice.timedOut, "stdin never ends, so sluice is stopped by the test's timeout")
        #expect(sluice.stdoutText == "a\na\n", "nothing written before the end of input; stderr: \(sluice.stderr)")
    }
}

/// Issue 9: `sluice … | head -1` exited 0 where grep is killed by SIGPIPE (141, what `set -o
/// pipefail` scripts and PIPESTATUS see); with SIGPIPE ignored at start grep says "write
/// error: Broken pipe" and exits 2. sluice now ends the same way in both cases.
@Suite struct ClosedPipeTests {
    @Test("A reader that goes away: the same status as grep, SIGPIPE default and ignored", arguments: [false, true])
    func closedPipeStatus(ignored: Bool) async throws {
        let input = Paths.loghub("Hadoop_2k.log")
        let script = """
            \(ignored ? "trap '' PIPE" : "")
            for i in 1 2 3 4 5 6 7 8; do cat \(Shell.quote(input)); done > /tmp/closed-pipe-$$.log
            "$SLUICE" -e INFO /tmp/closed-pipe-$$.log 2>/tmp/closed-pipe-$$.err | head -1 >/dev/null; s=${PIPESTATUS[0]}
            LC_ALL=C grep -e INFO /tmp/closed-pipe-$$.log 2>/dev/null | head -1 >/dev/null; g=${PIPESTATUS[0]}
            echo "$s $g $(sed 's/^[a-z]*: //' /tmp/closed-pipe-$$.err)"; rm -f /tmp/closed-pipe-$$.*
            """
        let result = try await Shell.bash(script, timeout: .seconds(30))
        let expected = ignored ? "2 2 write error: Broken pipe\n" : "141 141 \n"
        #expect(result.stdoutText == expected, "stderr: \(result.stderr)")
    }
}
