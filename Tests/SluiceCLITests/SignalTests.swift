import Foundation
import Testing

/// DESIGN.md §3: on SIGINT/SIGTERM sluice stops reading, writes every selected line read so
/// far, renames complete files, removes temporary ones, and exits 130/143.
@Suite struct SignalTests {
    static let numbers = lines((1...25).map(String.init))

    @Test("SIGTERM and SIGINT: every line read so far is written, exit 128+signal", arguments: [SIGTERM, SIGINT])
    func signalFlushesStdout(signalNumber: Int32) async throws {
        let sluice = try await Sluice.run(
            ["-e", "."], stdin: .prefixThenHeldOpen(Self.numbers), timeout: .seconds(15),
            signal: (signalNumber, .milliseconds(1500))
        )
        #expect(!sluice.timedOut)
        #expect(sluice.status == 128 + signalNumber, "stderr: \(sluice.stderr)")
        expectSameBytes(sluice.stdout, Self.numbers, "stdout after signal \(signalNumber)")
    }

    @Test("SIGTERM and SIGINT stop sluice even when it starts with them blocked (a supervisor's or a test runner's inherited mask): the main thread waits with none blocked")
    func signalWithInheritedBlockedMask() async throws {
        let result = try await Shell.bash("""
            python3 -c '
            import os, signal, subprocess, time
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
            for number in (signal.SIGTERM, signal.SIGINT):
                p = subprocess.Popen([os.environ["SLUICE"], "-e", "."], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                p.stdin.write(b"a\\n"); p.stdin.flush()
                time.sleep(0.5)
                p.send_signal(number)
                try:
                    print(p.wait(timeout=20), p.stdout.read().decode().strip())
                except subprocess.TimeoutExpired:
                    print("did not stop"); p.kill(); p.wait()
            '
            """, timeout: .seconds(60))
        #expect(result.stdoutLines == ["143 a", "130 a"], "\(result.stdoutText) \(result.stderr)")
    }

    @Test("SIGTERM with {n} files: complete files renamed, a shorter last file, no temporary left")
    func signalCompletesBatchFiles() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let sluice = try await Sluice.run(
            ["-e", "", "-b", "10", "-O", directory.path("p-{n}.log")], stdin: .prefixThenHeldOpen(Self.numbers),
            timeout: .seconds(15), signal: (SIGTERM, .milliseconds(1500))
        )
        #expect(!sluice.timedOut)
        #expect(sluice.status == 143, "stderr: \(sluice.stderr)")
        #expect(try TemporaryDirectory.entries(of: directory.path) == ["p-000001.log", "p-000002.log", "p-000003.log"])
        #expect(try readBytes(directory.path("p-000001.log")) == lines((1...10).map(String.init)))
        #expect(try readBytes(directory.path("p-000002.log")) == lines((11...20).map(String.init)))
        #expect(try readBytes(directory.path("p-000003.log")) == lines((21...25).map(String.init)))
    }

    @Test("SIGTERM with a single .gz file: a complete gzip file holding every line read")
    func signalCompletesGzipFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let target = directory.path("all.log.gz")
        let sluice = try await Sluice.run(
            ["-e", "", "-O", target], stdin: .prefixThenHeldOpen(Self.numbers),
            timeout: .seconds(15), signal: (SIGTERM, .milliseconds(1500))
        )
        #expect(sluice.status == 143, "stderr: \(sluice.stderr)")
        #expect(try TemporaryDirectory.entries(of: directory.path) == ["all.log.gz"])
        let content = try await Shell.run("zcat \(Shell.quote(target))")
        #expect(content.status == 0, "not valid gzip: \(content.stderr)")
        expectSameBytes(content.stdout, Self.numbers, "zcat all.log.gz after SIGTERM")
    }

    /// A new user's trial: a closed terminal or a dropped SSH session (SIGHUP) killed sluice
    /// and left `-O`'s hidden temporary file behind. SIGHUP is a stop, as SIGTERM is.
    @Test("SIGHUP is a stop: -O FILE and {n}.gz files complete, no temporary left, exit 129", arguments: [false, true])
    func hangupIsAStop(batches: Bool) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let target = directory.path(batches ? "p-{n}.log.gz" : "all.log")
        let sluice = try await Sluice.run(
            ["-e", ""] + (batches ? ["-b", "10"] : []) + ["-O", target], stdin: .prefixThenHeldOpen(Self.numbers),
            timeout: .seconds(15), signal: (SIGHUP, .milliseconds(1500))
        )
        #expect(!sluice.timedOut)
        #expect(sluice.status == 129, "stderr: \(sluice.stderr)")
        let names = try TemporaryDirectory.entries(of: directory.path)
        #expect(names == (batches ? ["p-000001.log.gz", "p-000002.log.gz", "p-000003.log.gz"] : ["all.log"]))
        let content = try await Shell.run("cd \(Shell.quote(directory.path)) && zcat -f \(names.joined(separator: " "))")
        expectSameBytes(content.stdout, Self.numbers, "the files after SIGHUP")
    }

    /// A new user's trial: `-P 'A.*B.*!'` on a 1 MB line is one PCRE2 call of minutes (grep -P's
    /// too), which nothing can break off; sluice's stop waited for it (still running 15 s after
    /// SIGTERM). A stop held that long by such a match ends as a second signal does, saying so.
    @Test("a stop held by a PCRE2 match on a long line ends within seconds, temporary file removed, exit 143")
    func stopHeldByALongMatch() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let input = directory.path("long.log")
        try Data(("before A\n" + String(repeating: "A", count: 500_000) + " ERROR " + String(repeating: "B", count: 500_000) + "\n").utf8)
            .write(to: URL(fileURLWithPath: input))
        let sluice = try await Sluice.run(["-P", "A.*B.*!", "-O", directory.path("out.log"), input], timeout: .seconds(60),
                                          signal: (SIGTERM, .milliseconds(1000)))
        #expect(!sluice.timedOut)
        #expect(sluice.status == 143, "stderr: \(sluice.stderr)")
        #expect(sluice.stderr.contains("stopped while a pattern was being matched on a long line"), "\(sluice.stderr)")
        #expect(try TemporaryDirectory.entries(of: directory.path) == ["long.log"])
    }

    /// Issue 8, finding 1: a stop while the reader waited for room downstream (a slow
    /// `--exec`) used to hand on the partial line it had read, with a newline added: a line
    /// that was never read whole, exported as if it were. Now the output is always whole lines
    /// and a prefix of the input, plain or gzip.
    @Test("A stop never writes a cut line: the output is a prefix of the input, whole lines", arguments: [false, true])
    func stopWritesOnlyWholeLines(gzip: Bool) async throws {
        let text = lines((1...150_000).map { "line " + String(repeating: "0", count: 6 - String($0).count) + "\($0) some text here" })
        let input = gzip ? try await Shell.output("gzip -1n", stdin: .bytes(text)) : text
        let sluice = try await Sluice.run(
            ["-e", "", "-b", "2000", "--exec", "sleep 0.05; cat"], stdin: .bytes(input), timeout: .seconds(60),
            signal: (SIGTERM, .milliseconds(700))
        )
        #expect(!sluice.timedOut)
        #expect(sluice.status == 143 || sluice.status == 0, "stderr: \(sluice.stderr)")
        #expect(sluice.stdout.last ?? 0x0A == 0x0A)
        if let mismatch = difference(sluice.stdout, Array(text.prefix(sluice.stdout.count))) {
            Issue.record("not a prefix of whole input lines (\(sluice.stdout.count) bytes written): \(mismatch)")
        }
    }

    /// Issue 8, item 9: a stop at a random moment, as the report's reproducer did it (a gzip
    /// stream on stdin, `-e INFO`, gzip `{n}` files): whatever was written is whole lines, a
    /// prefix of `grep INFO`, every file a complete gzip stream and no temporary file left.
    @Test("A stop at random moments: {n}.gz files hold a prefix of grep's lines, whole", arguments: [0, 1, 2, 3, 4, 5])
    func stopAtRandomMoments(seed: Int) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let text = lines((1...120_000).map { n in
            "2026-11-30 12:00:\(n % 60) \(n % 3 == 0 ? "INFO" : "DEBUG") worker-\(n % 7) request \(n) took \(n % 997) ms"
        })
        let input = seed % 2 == 0 ? try await Shell.output("gzip -1n", stdin: .bytes(text)) : text
        let expected = try await Shell.output("grep INFO", stdin: .bytes(text))
        var generator = SystemRandomNumberGenerator()
        let delay = 100 + Int.random(in: 0..<1200, using: &generator)
        let sluice = try await Sluice.run(
            ["-e", "INFO", "-b", "2000", "--exec", "sleep 0.02; cat", "-O", directory.path("p-{n}.log.gz")],
            stdin: .bytes(input), timeout: .seconds(60), signal: (SIGTERM, .milliseconds(delay))
        )
        #expect(!sluice.timedOut)
        #expect(sluice.status == 143 || sluice.status == 0, "stopped after \(delay) ms; stderr: \(sluice.stderr)")
        let names = try TemporaryDirectory.entries(of: directory.path)
        #expect(names.allSatisfy { $0.hasPrefix("p-") && $0.hasSuffix(".log.gz") }, "left behind: \(names)")
        // Every file must decode whole (a damaged one fails the oracle, which throws).
        let written = try await Shell.output("for f in \(Shell.quote(directory.path))/p-*.log.gz; do [ -e \"$f\" ] || continue; gzip -dc \"$f\" || exit 1; done")
        if let mismatch = difference(written, Array(expected.prefix(written.count))) {
            Issue.record("stopped after \(delay) ms: not a prefix of grep's whole lines: \(mismatch)")
        }
        #expect(written.last ?? 0x0A == 0x0A)
    }
}
