import Foundation
import Testing

/// Bad command lines: exit 2, a message on stderr, nothing on stdout, and no input read first.
@Suite struct UsageErrorTests {
    static let badCommandLines: [[String]] = [
        ["--no-such-option"],
        ["-m"],
        ["-m", "many", "-e", "x"],
        ["-b", "lots"],
        ["-j", "several"],
        ["--batch-timeout", "soon"],
        ["--batch-timeout", "5parsecs"],
        ["--batch-bytes", "lots"],
        ["--batch-bytes", "0"],
        ["--batch-bytes", "0MiB"],
        ["--batch-bytes", "-5"],
        ["--batch-bytes", "4XB"],
        ["--batch-bytes", "4 MiB"],
        ["--batch-bytes", "1.5MiB"],
        ["--batch-bytes", "2048GiB"],       // over 1 TiB
        ["--batch-bytes", "99999999999999999999"],
        ["--batch-bytes", ""],
        ["-p", "grep x", "--batch-bytes", "4MiB"],  // -p spells it inside: batch N T BYTES
        ["-p", "grep x | batch 10 1s 4MiB 5"],
        ["-p", "grep x | batch 10 4XB"],
        ["-p", "grep x | batch 10 4MiB 1s"],  // the timeout comes before the bytes
        ["--map", "sideways"],
        ["--map", "s/unterminated"],
        ["--map", "s/(/x/"],
        ["--map", "s/a/b/q"],
        ["-e", "("],
        ["-e", "[z-a]"],
        ["-e", "x", "--exec"],
        ["-p"],
        ["-m", "1x", "-e", "x"],
        ["-o", "-e", "x"],          // grep's -o: would make a file named "-e"
        ["--overwrite", "-e", "x"],  // only a {n} output has a set to replace
        ["--overwrite", "-o", "/tmp/sluice-usage-test-never-written.log", "-e", "x"],
    ]

    @Test("a bad command line: exit 2 before reading input", arguments: badCommandLines)
    func usageError(arguments: [String]) async throws {
        let sluice = try await Sluice.run(arguments, stdin: .heldOpen, timeout: .seconds(10))
        #expect(!sluice.timedOut, "sluice \(Shell.quote(arguments)) read input instead of failing")
        #expect(sluice.status == 2, "sluice \(Shell.quote(arguments)): stderr \(sluice.stderr)")
        #expect(sluice.stdout.isEmpty, "stdout: \(sluice.stdoutText)")
        #expect(!sluice.stderr.isEmpty)
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
        expectMatchesOracle(several, oracle, "one count for all inputs, no file names")
    }

    @Test("a pattern typed without -e: the file is still read (as cat would), then a hint")
    func forgottenPatternHint() async throws {
        let log = Paths.loghub("Hadoop_2k.log")
        let sluice = try await Sluice.run(["ERROR", log])
        #expect(sluice.status == 2)
        var whole = try Array(Data(contentsOf: URL(fileURLWithPath: log)))
        if whole.last != UInt8(ascii: "\n") { whole.append(UInt8(ascii: "\n")) }  // as grep ends a last line
        #expect(sluice.stdout == whole)
        let lines = sluice.stderr.split(separator: "\n").map(String.init)
        #expect(lines == ["sluice: ERROR: No such file or directory",
                          "sluice: hint: no pattern was given, so 'ERROR' was read as an input file; "
                          + "to select the lines that match it, write -e 'ERROR'"])
        for arguments in [["-e", "INFO", "ERROR", log], ["ERROR"], ["missing/ERROR", log]] {
            let other = try await Sluice.run(arguments, stdin: .bytes([]))
            #expect(other.status == 2)
            #expect(!other.stderr.contains("hint"), "sluice \(Shell.quote(arguments))")
        }
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
