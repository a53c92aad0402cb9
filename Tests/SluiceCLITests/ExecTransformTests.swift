import Foundation
import Testing

/// `--exec CMD`: each batch of `-b` lines goes through `/bin/sh -c CMD`, whose stdout replaces the
/// batch; batches come out in input order under `-j N` even when they finish out of order.
@Suite struct ExecTransformTests {
    static func numbered(_ count: Int, prefix: String = "line ") -> [UInt8] {
        lines((1...count).map { "\(prefix)\($0)" })
    }

    @Test("each batch is one run of the command, with exactly -b lines")
    func batchBoundaries() async throws {
        let sluice = try await Sluice.run(["-e", "", "-b", "10", "--exec", "wc -l"], stdin: .bytes(Self.numbered(25)))
        #expect(sluice.stdoutText == "10\n10\n5\n", "stderr: \(sluice.stderr)")
        #expect(sluice.status == 0)
    }

    @Test("the command's stdout replaces the batch, after the filter and maps")
    func filterMapThenExec() async throws {
        let input = Paths.loghub("Hadoop_2k.log")
        let expected = try await Shell.output(
            "LC_ALL=C grep -a -e ERROR \(Shell.quote(input)) | LC_ALL=C tr a-z A-Z | cut -c1-40"
        )
        let sluice = try await Sluice.run(["-e", "ERROR", "--map", "upper", "--exec", "cut -c1-40", "-b", "16", input])
        expectSameBytes(sluice.stdout, expected, "sluice -e ERROR --map upper --exec 'cut -c1-40' -b 16")
        #expect(sluice.status == 0)
    }

    @Test("batches finishing out of order are written in input order (-j 4, decreasing sleeps)")
    func orderKeptWithDecreasingSleeps() async throws {
        // A rendezvous, not a stopwatch: each command leaves a mark and waits (20 s at most) for
        // four marks, so batches run one at a time fail (exit 1) instead of being merely slow.
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let marks = Shell.quote(directory.path)
        let command = #"read n; touch \#(marks)/$n; i=0; while [ $(ls \#(marks) | wc -l) -lt 4 ] && [ $i -lt 200 ]; do "#
            + #"sleep 0.1; i=$((i+1)); done; [ $(ls \#(marks) | wc -l) -ge 4 ] || exit 1; sleep 0.$((9 - n)); echo "out $n""#
        let sluice = try await Sluice.run(
            ["-e", "", "-b", "1", "-j", "4", "--exec", command],
            stdin: .bytes(lines((1...8).map(String.init)))
        )
        #expect(sluice.stdoutText == (1...8).map { "out \($0)\n" }.joined(), "stderr: \(sluice.stderr)")
        #expect(sluice.status == 0, "-j 4 ran the batches one at a time?")
    }

    static let randomSleepThenCat = #"perl -e 'select(undef, undef, undef, rand(0.15)); print while <STDIN>'"#

    @Test("batches with random delays keep input order", arguments: [["-j", "4", "-b", "3"], ["-j", "2", "-b", "7"]])
    func orderKeptWithRandomSleeps(options: [String]) async throws {
        let input = Self.numbered(60)
        let sluice = try await Sluice.run(["-e", ""] + options + ["--exec", Self.randomSleepThenCat], stdin: .bytes(input))
        expectSameBytes(sluice.stdout, input, "sluice \(Shell.quote(options)) --exec <random sleep; cat>")
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
    }

    @Test("--unordered gives the same lines, in any order")
    func unorderedSameMultiset() async throws {
        let input = Self.numbered(60)
        let sluice = try await Sluice.run(
            ["-e", "", "-j", "4", "-b", "3", "--unordered", "--exec", Self.randomSleepThenCat],
            stdin: .bytes(input)
        )
        #expect(sluice.stdoutLines.sorted() == (1...60).map { "line \($0)" }.sorted(), "stderr: \(sluice.stderr)")
        #expect(sluice.status == 0)

        let filtered = try await Sluice.run(["-j", "3", "-b", "5", "--unordered", "-e", "INFO", Paths.loghub("Spark_2k.log")])
        let oracle = try await Oracle.grep(["-e", "INFO"], inputs: [Paths.loghub("Spark_2k.log")])
        #expect(filtered.stdoutLines.sorted() == oracle.stdoutLines.sorted())
    }

    @Test("a command reading only part of its input is fine")
    func commandReadsPartOfInput() async throws {
        let sluice = try await Sluice.run(["-e", "", "-b", "1000", "--exec", "head -1"], stdin: .bytes(Self.numbered(5000)))
        #expect(sluice.stdoutText == "line 1\nline 1001\nline 2001\nline 3001\nline 4001\n", "stderr: \(sluice.stderr)")
        #expect(sluice.status == 0)
        #expect(sluice.stderr.isEmpty, "stderr: \(sluice.stderr)")
    }

    @Test("a command printing nothing is fine: no output, exit 1")
    func commandPrintsNothing() async throws {
        let sluice = try await Sluice.run(["-e", "", "-b", "10", "--exec", "cat > /dev/null"], stdin: .bytes(Self.numbered(25)))
        #expect(sluice.stdout.isEmpty)
        #expect(sluice.status == 1, "exit status follows the lines written; stderr: \(sluice.stderr)")
        #expect(sluice.stderr.isEmpty, "stderr: \(sluice.stderr)")
    }

    @Test("grep finding nothing in a batch (exit 1, no output) is not a fault; the other batches are kept")
    func grepFindingNothingIsNotAFault() async throws {
        let sluice = try await Sluice.run(["-e", "", "-b", "10", "--exec", "grep '^line 2'"], stdin: .bytes(Self.numbered(35)))
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
        #expect(sluice.stderr.isEmpty, "stderr: \(sluice.stderr)")
        let expected = (1...35).map { "line \($0)" }.filter { $0.hasPrefix("line 2") }
        #expect(sluice.stdoutText == expected.map { $0 + "\n" }.joined())
    }

    @Test("the last line reaches the command with its newline")
    func lastLineWithoutNewline() async throws {
        let sluice = try await Sluice.run(["-e", "", "--exec", "od -An -c | tr -s ' '"], stdin: .bytes(Array("a\nb".utf8)))
        #expect(sluice.stdoutText == " a \\n b \\n\n", "stderr: \(sluice.stderr)")
    }

    @Test("the command's output is passed byte for byte: no newline added after a batch (parallel --pipe -k)")
    func outputPassedByteForByte() async throws {
        let sluice = try await Sluice.run(["-e", "", "-b", "10", "--exec", "printf X"], stdin: .bytes(Self.numbered(25)))
        #expect(sluice.stdoutText == "XXX", "stderr: \(sluice.stderr)")
        #expect(sluice.status == 0, "a last line without a newline still counts as a line")
    }

    @Test("--exec 'gzip -1' gives a valid multi-member gzip stream of the input (zcat as oracle)")
    func gzipPerBatchDecodes() async throws {
        let input = Self.numbered(2500)
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let sluice = try await Sluice.run(["-e", "", "-b", "1000", "-O", directory.path("members.bin"), "--exec", "gzip -1"], stdin: .bytes(input))
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
        let decoded = try await Shell.output("gzip -dc < \(Shell.quote(directory.path("members.bin")))")
        expectSameBytes(decoded, input, "sluice -b 1000 --exec 'gzip -1' | gzip -dc")
    }

    @Test("an exec after an exec gets the first command's bytes unchanged")
    func execAfterExecGetsRawBytes() async throws {
        let sluice = try await Sluice.run(["-e", "", "-b", "2", "--exec", "printf 'a\\nb'", "--exec", "od -An -c | tr -s ' '"],
                                          stdin: .bytes(Self.numbered(4)))
        #expect(sluice.stdoutText == " a \\n b\n a \\n b\n", "stderr: \(sluice.stderr)")
    }

    @Test("steps after an exec work on lines: a last line without a newline is a line for them, written with one")
    func stepsAfterExecFrameTheLastLine() async throws {
        let sluice = try await Sluice.run(["-p", #"exec "printf 'a\nbx'" | grep x | map upper | batch 2"#],
                                          stdin: .bytes(Self.numbered(4)))
        #expect(sluice.stdoutText == "BX\nBX\n", "stderr: \(sluice.stderr)")
        let counted = try await Sluice.run(["-e", "", "-c", "-b", "10", "--exec", "printf 'a\\nb'"], stdin: .bytes(Self.numbered(25)))
        #expect(counted.stdoutText == "6\n", "-c counts a last line without a newline per batch; stderr: \(counted.stderr)")
        let limited = try await Sluice.run(["-e", "", "-m", "3", "-b", "10", "--exec", "printf 'a\\nb'"], stdin: .bytes(Self.numbered(25)))
        #expect(limited.stdoutText == "a\nba\n", "stderr: \(limited.stderr)")
    }

    @Test("--line-buffered only flushes: --exec still gets batches of exactly -b lines, across read chunks",
          arguments: [["-b", "1000"], ["-b", "3000", "--batch-timeout", "0"]])
    func lineBufferedKeepsBatches(options: [String]) async throws {
        // 100,000 lines, 589 KB: more than one 512 KiB read chunk, cut at no multiple of -b.
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let input = try directory.write("numbers.txt", lines((1...100_000).map(String.init)))
        let size = Int(options[1])!
        var expected = String(repeating: "\(size)\n", count: 100_000 / size)
        if 100_000 % size != 0 { expected += "\(100_000 % size)\n" }
        let plain = try await Sluice.run(["-e", ""] + options + ["--exec", "wc -l", input])
        let lineBuffered = try await Sluice.run(["-e", ""] + options + ["--line-buffered", "--exec", "wc -l", input])
        #expect(plain.stdoutText == expected, "stderr: \(plain.stderr)")
        #expect(lineBuffered.stdoutText == expected, "--line-buffered changed the batches; stderr: \(lineBuffered.stderr)")
        #expect(lineBuffered.status == 0)
    }

    @Test("a failing command: error naming it, exit 2")
    func failingCommand() async throws {
        let command = "cat; exit 7"
        let sluice = try await Sluice.run(["-e", "", "-b", "5", "--exec", command], stdin: .bytes(Self.numbered(12)))
        #expect(sluice.status == 2)
        #expect(sluice.stderr.contains(command), "stderr must name the command: \(sluice.stderr)")
    }

    @Test("a failing middle batch: no later batch is written")
    func failingMiddleBatch() async throws {
        let command = #"read n; if [ "$n" = 3 ]; then exit 3; fi; sleep 0.$((9 - n)); echo "$n""#
        let sluice = try await Sluice.run(
            ["-e", "", "-b", "1", "-j", "2", "--exec", command],
            stdin: .bytes(lines((1...6).map(String.init)))
        )
        #expect(sluice.status == 2)
        #expect("1\n2\n".utf8.starts(with: sluice.stdout), "got \(escaped(sluice.stdout))")
    }

    // MARK: streamed (issue 8, item 4): the batch goes in as it forms, the output comes out as
    // it is written; the bytes are those of running the command on each whole batch.

    /// `split -l B --filter CMD` runs CMD once per B lines, in order: the unstreamed semantics.
    @Test("streamed output is what the command gives on each whole batch (split --filter as oracle)",
          arguments: ["cat", "wc -l", "sort -r", "head -1", "printf X", "tail -c 5", "grep 7"])
    func streamedMatchesWholeBatches(command: String) async throws {
        // 30,000 lines (about 290 KB): batches of 7,000 lines are larger than a pipe holds.
        let input = Self.numbered(30_000)
        let expected = try await Shell.output("split -l 7000 --filter \(Shell.quote(command))", stdin: .bytes(input))
        for jobs in ["1", "3"] {
            let sluice = try await Sluice.run(["-e", "", "-b", "7000", "--batch-timeout", "0", "-j", jobs, "--exec", command], stdin: .bytes(input))
            expectSameBytes(sluice.stdout, expected, "sluice -b 7000 -j \(jobs) --exec \(Shell.quote(command))")
            #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
        }
    }

    @Test("--exec 'gzip -1' on batches larger than a pipe: zcat gives the input back")
    func streamedGzipRoundTrip() async throws {
        let input = Self.numbered(60_000)
        let sluice = try await Sluice.run(["-e", "", "-b", "25000", "--batch-timeout", "0", "-j", "2", "--exec", "gzip -1"], stdin: .bytes(input))
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
        let decoded = try await Shell.output("zcat", stdin: .bytes(sluice.stdout))
        expectSameBytes(decoded, input, "sluice -b 25000 --exec 'gzip -1' | zcat")
    }

    @Test("large outputs of commands of different speeds keep input order (-j 4)")
    func streamedOrderKeptWithLargeOutputs() async throws {
        // Each batch's output (about 100 KB) is larger than a pipe: a later command that is
        // faster must wait, blocked on its full pipe, until the earlier output has ended.
        let input = Self.numbered(40_000)
        let command = #"perl -e 'select(undef, undef, undef, rand(0.2)); print while <STDIN>; print for 1..3000'"#
        var expected: [UInt8] = []
        for batch in 0..<8 {
            expected += lines((batch * 5000 + 1...batch * 5000 + 5000).map { "line \($0)" })
            expected += Array((1...3000).map(String.init).joined().utf8)
        }
        let sluice = try await Sluice.run(["-e", "", "-b", "5000", "--batch-timeout", "0", "-j", "4", "--exec", command], stdin: .bytes(input))
        expectSameBytes(sluice.stdout, expected, "sluice -b 5000 -j 4 --exec <random sleep; cat; 3000 numbers>")
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
    }

    @Test("an error in batch 2 of 5: batch 1, then what batch 2 wrote before failing, then nothing")
    func errorInSecondOfFiveBatches() async throws {
        let command = #"read first; if [ "$first" = "line 6" ]; then cat; exit 4; fi; echo "$first"; cat"#
        let sluice = try await Sluice.run(["-e", "", "-b", "5", "--batch-timeout", "0", "-j", "4", "--exec", command], stdin: .bytes(Self.numbered(25)))
        #expect(sluice.status == 2)
        #expect(sluice.stderr.contains("exited with status 4") && sluice.stderr.contains(command), "stderr: \(sluice.stderr)")
        // Batch 2's output is passed on as it comes (as parallel --pipe -k does); its status is
        // known only once it has ended, and nothing of batches 3-5 follows it.
        let expected = lines((1...5).map { "line \($0)" } + (7...10).map { "line \($0)" })
        expectSameBytes(sluice.stdout, expected, "sluice -b 5 -j 4 --exec <fails on batch 2>")
    }

    @Test("-m stops a command that never stops writing", arguments: [["-m", "5"], ["-q"]])
    func maxCountStopsAnEndlessCommand(options: [String]) async throws {
        let sluice = try await Sluice.run(["-e", ""] + options + ["-j", "2", "--exec", "cat >/dev/null; yes"],
                                          stdin: .bytes(Self.numbered(10)), timeout: .seconds(30))
        #expect(!sluice.timedOut, "sluice did not stop the endless command")
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
        #expect(sluice.stdoutText == (options == ["-q"] ? "" : String(repeating: "y\n", count: 5)))
    }

    @Test("--unordered streams each batch's output whole, never interleaved with another's")
    func unorderedKeepsEachBatchTogether() async throws {
        let command = #"read n; sleep 0.$((9 - n)); yes "batch $n" | head -20000"#
        let sluice = try await Sluice.run(["-e", "", "-b", "1", "-j", "4", "--unordered", "--exec", command],
                                          stdin: .bytes(lines((1...8).map(String.init))))
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
        var runs: [(String, Int)] = []
        for line in sluice.stdoutLines {
            if let last = runs.last, last.0 == line { runs[runs.count - 1].1 += 1 } else { runs.append((line, 1)) }
        }
        #expect(runs.map(\.1) == Array(repeating: 20000, count: 8), "runs: \(runs.map { "\($0.0) x\($0.1)" })")
        #expect(Set(runs.map(\.0)) == Set((1...8).map { "batch \($0)" }))
    }

    /// The new user's finding: with `--exec`, a `{n}` export cut files every -b "lines" of the
    /// command's output (newline bytes, in gzip data), giving 13 broken gzip files for 61
    /// batches. Each file now holds exactly one batch's output, as `split -l N --filter` makes
    /// them; a batch closed by its timeout is a batch too, and a batch with no output makes no
    /// file.
    @Test("--exec with a {n} output: one file per batch, each exactly that batch's output", arguments: [false, true])
    func execIntoNumberedFiles(trickle: Bool) async throws {
        let script = """
            set -e; cd "$(mktemp -d)"; seq -f 'line %g' 1 1234 > in; mkdir out w none t
            \(trickle ? "{ head -n 300 in; sleep 1.2; tail -n +301 in; } | \"$SLUICE\" --batch-timeout 0.5s" : "\"$SLUICE\"") \
                -e line -b 100 --exec 'gzip -1' -O 'out/x-{n:3}.bin' \(trickle ? "" : "in")
            ls out | tr '\\n' ' '; echo
            split -l 100 -d -a 3 in s-
            for f in out/*; do gzip -t "$f"; done
            i=0; for f in out/*; do zcat "$f" | cmp - "s-$(printf %03d $i)"; i=$((i + 1)); done; echo ok
            \"$SLUICE\" -e line -b 1000 --exec 'wc -l' -O 'w/c-{n}.log' in; cat w/*
            \"$SLUICE\" -e line -b 100 --exec 'grep -v line' -O 'none/n-{n}.log' in || echo "status $?"; ls none | wc -l
            { seq 1 50; sleep 1.2; seq 51 60; } | \"$SLUICE\" --batch-timeout 0.5s -e . -b 100 --exec cat -O 't/t-{n:1}.log'
            echo "$(ls t | tr '\\n' ' ')$(wc -l < t/t-1.log) $(head -1 t/t-2.log)"
            """
        let result = try await Shell.bash(script, timeout: .seconds(60))
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let outputLines = result.stdoutText.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(outputLines.first == (1...13).map { String(format: "x-%03d.bin", $0) }.joined(separator: " ") + " ",
                "files: \(outputLines.first ?? "")")
        #expect(Array(outputLines.dropFirst().prefix(4)) == ["ok", "1000", "234", "status 1"], "\(result.stdoutText)")
        #expect(outputLines.dropFirst(5).first == "0")
        #expect(outputLines.dropFirst(6).first == "t-1.log t-2.log 50 51", "a batch closed by its timeout is a file")
    }
}

