import Foundation
import Testing

/// Bad command lines: exit 2, a message on stderr, nothing on stdout, and no input read first.
@Suite struct UsageErrorTests {
    static let badCommandLines: [[String]] = [
        ["--no-such-option"],
        ["-e", "x", "-m"],
        ["-m", "many", "-e", "x"],
        ["-e", "x", "-b", "lots"],
        ["-e", "x", "-j", "several"],
        ["-e", "x", "--batch-timeout", "soon"],
        ["-e", "x", "--batch-timeout", "5parsecs"],
        ["-e", "x", "--batch-bytes", "lots"],
        ["-e", "x", "--batch-bytes", "0"],
        ["-e", "x", "--batch-bytes", "0MiB"],
        ["-e", "x", "--batch-bytes", "-5"],
        ["-e", "x", "--batch-bytes", "4XB"],
        ["-e", "x", "--batch-bytes", "4 MiB"],
        ["-e", "x", "--batch-bytes", "1.5MiB"],
        ["-e", "x", "--batch-bytes", "2048GiB"],       // over 1 TiB
        ["-e", "x", "--batch-bytes", "99999999999999999999"],
        ["-e", "x", "--batch-bytes", ""],
        ["-p", "grep x", "--batch-bytes", "4MiB"],  // -p spells it inside: batch N T BYTES
        ["-p", "grep x | batch 10 1s 4MiB 5"],
        ["-p", "grep x | batch 10 4XB"],
        ["-p", "grep x | batch 10 4MiB 1s"],  // the timeout comes before the bytes
        ["-e", "x", "--map", "sideways"],
        ["-e", "x", "--map", "s/unterminated"],
        ["-e", "x", "--map", "s/(/x/"],
        ["-e", "x", "--map", "s/a/b/q"],
        ["-E", "-e", "("],
        ["-e", "[z-a]"],
        ["-e", "x", "--exec"],
        ["-p"],
        ["-m", "1x", "-e", "x"],
        ["-k", "x"],                // not a grep option: getopt's wording, then the usage lines
        [],                          // no pattern
        ["-E", "-F", "x"],           // grep: conflicting matchers specified
        ["--co", "x"],               // ambiguous: --count, --color, --context, --concurrency, ...
        ["--count=3", "x"],          // doesn't allow an argument
        ["--color=sometimes", "x"],
        ["-A", "-1", "x"],           // grep: -1: invalid context length argument
        ["--binary-files=maybe", "x"],  // grep: unknown binary-files type
        ["-z", "--record", "auto", "x"],  // -z with --record: not yet
        ["--overwrite", "-e", "x"],  // only a {n} output has a set to replace
        ["--overwrite", "-O", "/tmp/sluice-usage-test-never-written.log", "-e", "x"],
    ]

    @Test("a bad command line: exit 2 before reading input", arguments: badCommandLines)
    func usageError(arguments: [String]) async throws {
        let sluice = try await Sluice.run(arguments, stdin: .heldOpen, timeout: .seconds(10))
        #expect(!sluice.timedOut, "sluice \(Shell.quote(arguments)) read input instead of failing")
        #expect(sluice.status == 2, "sluice \(Shell.quote(arguments)): stderr \(sluice.stderr)")
        #expect(sluice.stdout.isEmpty, "stdout: \(sluice.stdoutText)")
        #expect(!sluice.stderr.isEmpty)
    }

    @Test("an abbreviation ambiguous among grep's options names grep's possibilities, not sluice's own",
          arguments: ["--re", "--co", "--ex"])
    func ambiguousAbbreviation(prefix: String) async throws {
        let sluice = try await Sluice.run([prefix, "x"], stdin: .heldOpen, timeout: .seconds(10))
        let grep = try await Shell.run("grep \(prefix) x /dev/null")
        func possibilities(_ stderr: String) -> Set<String> {
            guard let line = stderr.split(separator: "\n").first, let colon = line.range(of: "possibilities: ") else { return [] }
            return Set(line[colon.upperBound...].split(separator: " ").map(String.init))
        }
        #expect(sluice.status == 2 && grep.status == 2)
        #expect(possibilities(sluice.stderr) == possibilities(grep.stderr), "sluice: \(sluice.stderr) grep: \(grep.stderr)")
        #expect(!possibilities(sluice.stderr).isEmpty)
    }

    @Test("-c prints only the number; exit 1 when it is 0")
    func countFormat() async throws {
        let some = try await Sluice.run(["-c", "-e", "ERROR", Paths.loghub("Hadoop_2k.log")])
        #expect(some.stdoutText == "151\n")
        #expect(some.status == 0)
        let none = try await Sluice.run(["-c", "-e", "ERROR", Paths.loghub("Spark_2k.log")])
        #expect(none.stdoutText == "0\n")
        #expect(none.status == 1)
        let several = try await Sluice.run(["-c", "-e", "ERROR", Paths.loghub("Hadoop_2k.log"), Paths.loghub("Zookeeper_2k.log")])
        let oracle = try await Oracle.grep(["-c", "-e", "ERROR"], inputs: [Paths.loghub("Hadoop_2k.log"), Paths.loghub("Zookeeper_2k.log")])
        expectMatchesOracle(several, oracle, "a count per input, named as grep names them")
    }

    @Test("the first operand is the pattern and -o, -h, -c, -q mean what they mean in grep")
    func grepReflexes() async throws {
        let log = Paths.loghub("Hadoop_2k.log")
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        for arguments in [["ERROR", log], ["-c", "ERROR", log], ["-o", "ERROR", log], ["-h", "-e", "ERROR", log],
                          ["-q", "NO_SUCH", log], ["-q", "ERROR", log], ["-n", "ERROR", log], ["-Hn", "ERROR", log]] {
            let sluice = try await Shell.run("cd \(Shell.quote(directory.path)) && \"$SLUICE\" \(Shell.quote(arguments))")
            let grep = try await Shell.run("cd \(Shell.quote(directory.path)) && LC_ALL=C grep \(Shell.quote(arguments))")
            expectMatchesOracle(sluice, grep, "sluice \(Shell.quote(arguments))")
            #expect(try TemporaryDirectory.entries(of: directory.path).isEmpty, "sluice \(Shell.quote(arguments)) made a file")
        }
        let help = try await Sluice.run(["--help"])
        #expect(help.status == 0 && help.stdoutText.hasPrefix("Usage: sluice [OPTION]... PATTERNS [FILE]..."))
        let usage = try await Sluice.run([])
        #expect(usage.status == 2 && usage.stderr == "Usage: sluice [OPTION]... PATTERNS [FILE]...\nTry 'sluice --help' for more information.\n")
    }

    @Test("-m: a negative count is no limit and a huge one is accepted, as grep does")
    func maxCountSpellings() async throws {
        let log = Paths.loghub("Hadoop_2k.log")
        for count in ["-1", "-5", "-0", "99999999999999999999"] {
            let sluice = try await Sluice.run(["-m", count, "-e", "INFO", log])
            let oracle = try await Oracle.grep(["-m", count, "-e", "INFO"], inputs: [log])
            expectMatchesOracle(sluice, oracle, "-m \(count)")
        }
    }
}
