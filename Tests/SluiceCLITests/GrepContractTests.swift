import Foundation
import Testing

/// Issue 9: grep's command line is the contract. Each flag alone and in the combinations people
/// type, on real logs (plain, gzip, and several files at once), against GNU grep run on the same
/// files (zgrep's way for compressed ones: each file decompressed and named): same bytes, same
/// exit status.
@Suite struct GrepContractTests {
    static let flagSets: [[String]] = [
        ["ERROR"], ["-n", "ERROR"], ["-H", "-n", "ERROR"], ["-h", "-n", "ERROR"], ["-Hn", "-i", "error"],
        ["-c", "ERROR"], ["-c", "-v", "INFO"], ["-l", "ERROR"], ["-L", "ERROR"], ["-lv", "INFO"], ["-Lc", "WARN"],
        ["-o", "ERROR"], ["-o", "-E", "[0-9]{4,}"], ["-ow", "INFO"], ["-on", "-i", "error"], ["-o", "-v", "INFO"],
        ["-c", "-o", "INFO"], ["-oE", "(INFO|WARN)[A-Z ]*"], ["-o", "-P", "\\d+(?=ms)"], ["-o", "[a-z]*"],
        ["-Z", "-l", "INFO"], ["-Zc", "INFO"], ["-Zn", "ERROR"], ["-ZL", "ERROR"],
        ["-m", "3", "-n", "INFO"], ["-m2", "-c", "INFO"], ["-m1", "-l", "INFO"], ["-m", "2", "-o", "[0-9][0-9]*"],
        ["-v", "-n", "INFO"], ["-x", "-n", "-E", ".*ERROR.*"], ["-w", "-c", "block"], ["-nw", "-i", "failed"],
        ["-n", "ERROR\\|WARN"], ["-c", "-E", "ERROR|WARN"], ["-F", "-n", "[error]"], ["-n", "^2015"], ["-c", "a\\{3,\\}"],
        ["-e", "ERROR", "-e", "WARN", "-n"], ["-n", "-e", ""], ["-c", "-e", ""], ["-on", "\\<[A-Z][a-z]*\\>"],
    ]

    static let inputSets: [(name: String, files: [String])] = [
        ("one log", [Paths.loghub("Hadoop_2k.log")]),
        ("four files: no final newline, CRLF, empty, gzip", [
            Paths.fixture("no-final-newline.log"), Paths.fixture("crlf.log"), Paths.fixture("empty.log"), Paths.fixture("app.log.gz"),
        ]),
        ("three loghub logs", [Paths.loghub("HDFS_2k.log"), Paths.loghub("OpenSSH_2k.log"), Paths.loghub("Zookeeper_2k.log")]),
    ]

    @Test("each grep flag, alone and combined, gives grep's bytes and status", arguments: flagSets)
    func flagMatchesGrep(flags: [String]) async throws {
        for inputs in Self.inputSets {
            let oracle = try await Oracle.grep(flags, inputs: inputs.files)
            let sluice = try await Sluice.run(flags + inputs.files)
            expectMatchesOracle(sluice, oracle, "sluice \(Shell.quote(flags)) on \(inputs.name)")
        }
    }

    @Test("standard input: --label, -H, -c and - among files")
    func standardInput() async throws {
        let log = Paths.loghub("Spark_2k.log")
        let other = Paths.loghub("Apache_2k.log")
        for arguments in [["-H", "INFO"], ["--label=spark", "-H", "-n", "INFO"], ["-c", "INFO", "-", other],
                          ["--label=in", "-l", "error", other, "-"], ["-L", "notice", "-", other]] {
            let grep = try await Shell.run("LC_ALL=C grep -a \(Shell.quote(arguments))", stdin: .file(log))
            let sluice = try await Sluice.run(arguments, stdin: .file(log))
            expectMatchesOracle(sluice, grep, "sluice \(Shell.quote(arguments)) < Spark_2k.log")
        }
    }

    @Test("-f FILE, -s, missing files and -q: grep's output and status")
    func patternFilesAndErrors() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let patterns = try directory.write("patterns", Array("ERROR\nWARN\\|FATAL\n".utf8))
        let empty = try directory.write("none", [])
        let log = Paths.loghub("Zookeeper_2k.log")
        let missing = directory.path("missing.log")
        for arguments in [["-f", patterns, log], ["-c", "-f", patterns, log], ["-f", empty, log], ["-v", "-c", "-f", empty, log],
                          ["-s", "ERROR", missing, log], ["-c", "ERROR", log, missing], ["-q", "ERROR", missing, log],
                          ["-sq", "NOTHING", missing, log], ["-l", "-s", "WARN", missing, log]] {
            let grep = try await Shell.run("LC_ALL=C grep -a \(Shell.quote(arguments))")
            let sluice = try await Sluice.run(arguments)
            expectMatchesOracle(sluice, grep, "sluice \(Shell.quote(arguments))")
            #expect(sluice.stderr.replacingOccurrences(of: "sluice: ", with: "grep: ") == grep.stderr,
                    "sluice \(Shell.quote(arguments)): stderr \(sluice.stderr), grep's \(grep.stderr)")
        }
    }

    @Test("usage mistakes in grep's words, with its usage lines")
    func usageMessages() async throws {
        for arguments in [["-k", "x"], ["--count=2", "x"], ["-E", "-F", "x"], ["-e"], ["-E", "a{1,2,3}"], ["-E", "(a"], ["a\\{1"],
                          ["[[:nope:]]"], ["[:space:]"], ["x\\"]] {
            let grep = try await Shell.run("LC_ALL=C grep \(Shell.quote(arguments)) /dev/null")
            let sluice = try await Sluice.run(arguments + ["/dev/null"])
            #expect(sluice.status == grep.status, "sluice \(Shell.quote(arguments)): stderr \(sluice.stderr)")
            #expect(sluice.stderr.replacingOccurrences(of: "sluice", with: "grep") == grep.stderr,
                    "sluice \(Shell.quote(arguments)): stderr \(sluice.stderr), grep's \(grep.stderr)")
        }
    }
}
