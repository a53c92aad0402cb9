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
        ["--map", "sideways"],
        ["--map", "s/unterminated"],
        ["--map", "s/(/x/"],
        ["--map", "s/a/b/q"],
        ["-e", "("],
        ["-e", "[z-a]"],
        ["-e", "x", "--exec"],
        ["-p"],
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
}
