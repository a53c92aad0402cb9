import Foundation
import Testing

/// `-p 'grep … | map … | exec "…" | batch N [TIMEOUT]'`: the same stages as the flags, in any
/// order and number, with shell-like quoting; `--explain`; mixing errors.
@Suite struct PipelineExpressionTests {
    struct ExpressionCase: Sendable, CustomTestStringConvertible {
        let expression: String
        /// A shell filter (stdin → stdout) meaning the same.
        let oracle: String
        let input: String

        var testDescription: String { "-p \(Shell.quote(expression))" }
    }

    static let cases: [ExpressionCase] = [
        ExpressionCase(expression: "grep ERROR", oracle: "grep -a -E -e ERROR", input: "Hadoop_2k.log"),
        ExpressionCase(expression: "grep -i error", oracle: "grep -a -E -i -e error", input: "Apache_2k.log"),
        ExpressionCase(expression: "grep -v -w INFO", oracle: "grep -a -E -v -w -e INFO", input: "Hadoop_2k.log"),
        ExpressionCase(expression: "grep -x '[0-9].*'", oracle: "grep -a -E -x -e '[0-9].*'", input: "Spark_2k.log"),
        ExpressionCase(expression: #"grep -F "[error]""#, oracle: "grep -a -F -e '[error]'", input: "Apache_2k.log"),
        ExpressionCase(
            expression: "grep -F 'workerEnv.init() ok'", oracle: "grep -a -F -e 'workerEnv.init() ok'", input: "Apache_2k.log"
        ),
        ExpressionCase(
            expression: "grep INFO | grep -i block",
            oracle: "grep -a -E -e INFO | grep -a -E -i -e block", input: "HDFS_2k.log"
        ),
        ExpressionCase(
            expression: #"grep -i error | grep -v -F "[notice]""#,
            oracle: "grep -a -E -i -e error | grep -a -v -F -e '[notice]'", input: "Apache_2k.log"
        ),
        ExpressionCase(expression: "grep 'ERROR\\|WARN'", oracle: "grep -a -E -e 'ERROR|WARN'", input: "Zookeeper_2k.log"),
        ExpressionCase(expression: "grep 'ERROR|WARN'", oracle: "grep -a -F -e 'ERROR|WARN'", input: "Zookeeper_2k.log"),
        ExpressionCase(expression: "grep -E 'ERROR|WARN'", oracle: "grep -a -E -e 'ERROR|WARN'", input: "Zookeeper_2k.log"),
        ExpressionCase(expression: "map lower | grep error", oracle: "tr A-Z a-z | grep -a -e error", input: "Zookeeper_2k.log"),
        ExpressionCase(expression: "grep error | map lower", oracle: "grep -a -e error | tr A-Z a-z", input: "Zookeeper_2k.log"),
        ExpressionCase(
            expression: #"grep ERROR | map upper | map "s/([0-9]+)/<$1>/g""#,
            oracle: #"grep -a -e ERROR | tr a-z A-Z | sed -E 's/([0-9]+)/<\1>/g'"#, input: "Hadoop_2k.log"
        ),
        ExpressionCase(
            expression: #"grep INFO | exec "tr a-z A-Z" | batch 50"#,
            oracle: "grep -a -e INFO | tr a-z A-Z", input: "Spark_2k.log"
        ),
        ExpressionCase(
            expression: #"batch 7 0 | grep -F "[error]" | exec 'cut -c1-30'"#,
            oracle: "grep -a -F -e '[error]' | cut -c1-30", input: "Apache_2k.log"
        ),
        ExpressionCase(expression: "map trim | batch 100 1s", oracle: #"perl -pe 's/^[ \t\r\x0b\x0c]+//; s/[ \t\r\x0b\x0c]+$//'"#, input: "Linux_2k.log"),
    ]

    @Test("an expression prints what the equivalent shell pipeline prints", arguments: cases)
    func expressionMatchesShellPipeline(expressionCase: ExpressionCase) async throws {
        let input = Paths.loghub(expressionCase.input)
        let oracle = try await Shell.run("(\(expressionCase.oracle)) < \(Shell.quote(input))")
        #expect(oracle.status <= 1, "oracle failed: \(oracle.stderr)")
        let sluice = try await Sluice.run(["-p", expressionCase.expression, input])
        expectSameBytes(sluice.stdout, endingInNewline(oracle.stdout), "sluice -p \(Shell.quote(expressionCase.expression)) \(expressionCase.input)")
        #expect(sluice.status == (oracle.stdout.isEmpty ? 1 : 0), "stderr: \(sluice.stderr)")
        #expect(sluice.stderr.isEmpty, "stderr: \(sluice.stderr)")
    }

    @Test("global options apply with -p: -j, --unordered, -o, --stats")
    func globalOptionsWithExpression() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let input = Paths.loghub("HDFS_2k.log")
        let oracle = try await Oracle.grep(["-e", "INFO"], inputs: [input])

        let ordered = try await Sluice.run(["-j", "4", "-p", "grep INFO | batch 10", input])
        expectSameBytes(ordered.stdout, oracle.stdout, "-j 4 -p 'grep INFO | batch 10'")

        let unordered = try await Sluice.run(["-j", "4", "--unordered", "-p", "grep INFO | batch 10", input])
        #expect(unordered.stdoutLines.sorted() == oracle.stdoutLines.sorted())

        let outputs = try directory.makeSubdirectory("out")
        let toFiles = try await Sluice.run(["-p", "grep INFO | batch 500", "-O", "\(outputs)/p-{n}.log", "--stats", input])
        #expect(toFiles.status == 0, "stderr: \(toFiles.stderr)")
        let names = try TemporaryDirectory.entries(of: outputs)
        let lineCount = oracle.stdoutLines.count
        #expect(names.count == (lineCount + 499) / 500, "files: \(names)")
        var joined: [UInt8] = []
        for name in names { joined += try readBytes("\(outputs)/\(name)") }
        expectSameBytes(joined, oracle.stdout, "concatenated -p ... | batch 500 -o p-{n}.log files")
        #expect(toFiles.stderr.split(separator: "\n").count == 1, "--stats prints one line: \(toFiles.stderr)")
    }

    static let stageFlags: [[String]] = [
        ["-e", "INFO"], ["--map", "upper"], ["--exec", "cat"], ["-b", "10"], ["--batch-timeout", "1s"],
    ]

    @Test("stage flags cannot be mixed with -p: usage error, exit 2", arguments: stageFlags)
    func mixingStageFlagsIsUsageError(flags: [String]) async throws {
        let sluice = try await Sluice.run(["-p", "grep ERROR"] + flags, stdin: .heldOpen, timeout: .seconds(10))
        #expect(!sluice.timedOut, "read input instead of failing")
        #expect(sluice.status == 2, "sluice -p 'grep ERROR' \(Shell.quote(flags)): stderr \(sluice.stderr)")
        #expect(sluice.stdout.isEmpty)
        #expect(!sluice.stderr.isEmpty)
    }

    /// DESIGN.md §2 counts `-e`'s modifiers among the stage flags.
    @Test("-e's modifiers cannot be mixed with -p either", arguments: [["-i"], ["-v"], ["-w"], ["-x"], ["-F"]])
    func mixingFilterModifiersIsUsageError(flags: [String]) async throws {
        let sluice = try await Sluice.run(["-p", "grep ERROR"] + flags, stdin: .heldOpen, timeout: .seconds(10))
        #expect(!sluice.timedOut, "read input instead of failing")
        #expect(sluice.status == 2, "sluice -p 'grep ERROR' \(Shell.quote(flags)): stderr \(sluice.stderr)")
    }

    static let malformed: [String] = [
        "grep",
        "grep ERROR |",
        "| grep ERROR",
        "grep ERROR | | map upper",
        #"grep "unterminated"#,
        "grep 'unterminated",
        "frobnicate ERROR",
        "map",
        "map sideways",
        "batch",
        "batch many",
        "batch 10 soon",
        "grep --no-such-option ERROR",
        "exec",
    ]

    @Test("a malformed expression: exit 2, the message says which column", arguments: malformed)
    func malformedExpression(expression: String) async throws {
        let sluice = try await Sluice.run(["-p", expression], stdin: .heldOpen, timeout: .seconds(10))
        #expect(!sluice.timedOut, "read input instead of failing")
        #expect(sluice.status == 2, "sluice -p \(Shell.quote(expression)): stderr \(sluice.stderr)")
        #expect(sluice.stdout.isEmpty)
        #expect(sluice.stderr.contains("column"), "sluice -p \(Shell.quote(expression)): stderr \(sluice.stderr)")
    }

    @Test("--explain prints the stages, reads no input, exit 0", arguments: [
        ["-p", "grep -i error | map upper | exec 'cut -c1-80' | batch 500 1s"],
        ["-e", "error", "-i", "--map", "upper", "--exec", "cut -c1-80", "-b", "500", "--batch-timeout", "1s"],
    ])
    func explain(arguments: [String]) async throws {
        let sluice = try await Sluice.run(["--explain"] + arguments, stdin: .heldOpen, timeout: .seconds(10))
        #expect(!sluice.timedOut, "--explain read its input")
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
        let text = sluice.stdoutText
        #expect(text.contains("error"), "the pattern is not shown: \(text)")
        #expect(text.contains("upper"), "the map is not shown: \(text)")
        #expect(text.contains("cut -c1-80"), "the command is not shown: \(text)")
        #expect(text.contains("500"), "the batch size is not shown: \(text)")
    }

    @Test("-p and the equivalent flags explain the same stages")
    func explainSameForFlagsAndExpression() async throws {
        let fromExpression = try await Sluice.run(["--explain", "-p", "grep -i error | map upper | batch 500 1s"])
        let fromFlags = try await Sluice.run(["--explain", "-i", "-e", "error", "--map", "upper", "-b", "500", "--batch-timeout", "1s"])
        #expect(fromExpression.status == 0 && fromFlags.status == 0)
        #expect(fromExpression.stdoutText == fromFlags.stdoutText)
    }
}
