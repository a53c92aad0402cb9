import Foundation
import Testing

/// Perl-only syntax, compared with `LC_ALL=C grep -a -P` (which takes one pattern). Most of these
/// are traps for a matcher that searches a whole chunk instead of one line at a time: `\s`, `[^…]`
/// and `(?s).` can cross a newline, `\A`/`\z` mean the line's ends, lookbehind must not see the
/// previous line, and `-w` means `(?<!\w)…(?!\w)` as in grep -P.
@Suite struct PCREDifferentialTests {
    static let flagSets: [[String]] = [
        ["-e", #"ERROR[^a-z]+2015"#],
        ["-e", #"ERROR\s+2015"#],
        ["-e", #"(?s)ERROR.*2015"#],
        ["-e", #"\A2015"#],
        ["-e", #"ERROR\z"#],
        ["-e", #"ERROR\Z"#],
        ["-e", #"(?m)^2015"#],
        ["-e", #"(?<=ERROR\n)2015"#],
        ["-e", #"R\n2"#],
        ["-e", #"(?<![a-z])2015"#],
        ["-e", #"\d{4}-\d{2}"#],
        ["-e", #"(?i)error"#],
        ["-e", #"^(?!.*INFO).*$"#],
        ["-v", "-e", #"\A.{0,40}\z"#],
        ["-c", "-e", #"\bINFO\b"#],
        ["-i", "-w", "-e", #"e\w+r"#],
        ["-w", "-e", #"\[error\]"#],
        ["-x", "-e", #"\d+ .*"#],
        ["-m", "7", "-e", #"(?<=\s)\d{3}\b"#],
    ]

    /// ~1.6 MB whose lines are arranged so that cross-line matches are possible everywhere:
    /// a line ending in ERROR followed by one starting with 2015, and so on. Line lengths vary so
    /// that chunk boundaries fall at every kind of place.
    static func lineBoundaryInput() -> [UInt8] {
        var text = ""
        for index in 0..<24_000 {
            let padding = String(repeating: "x", count: (index * 37) % 91)
            switch index % 7 {
            case 0: text += "foo \(padding) ERROR\n"
            case 1: text += "2015 bar \(padding)\n"
            case 2: text += "INFO \(index) ERROR 2015-07 \(padding)\r\n"
            case 3: text += "\n"
            case 4: text += "[error] @\(index)@ WARN\t\n"
            case 5: text += "ERROR\r\n2015\r\n"
            default: text += "\(index) 2015 e1r e_r ERRORS \(padding)\n"
            }
        }
        return Array(text.utf8)
    }

    @Test("Perl syntax and line-boundary traps match grep -P on a crafted multi-chunk input")
    func lineBoundaries() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let plain = try directory.write("boundaries.log", Self.lineBoundaryInput())
        let gz = directory.path("boundaries.log.gz")
        _ = try await Shell.output("gzip -c < \(Shell.quote(plain)) > \(Shell.quote(gz))")
        for flags in Self.flagSets {
            let oracle = try await Oracle.grep(["-P"] + flags, inputs: [plain])
            for input in [plain, gz] {
                let sluice = try await Sluice.run(["-P"] + flags + [input])
                expectMatchesOracle(sluice, oracle, "sluice \(Shell.quote(flags)) \((input as NSString).lastPathComponent)")
            }
        }
    }

    @Test("Perl syntax matches grep -P on the fixtures", arguments: Paths.loghubLogs + Paths.oddityFixtures)
    func fixtures(name: String) async throws {
        let input = Paths.loghubLogs.contains(name) ? Paths.loghub(name) : Paths.fixture(name)
        for flags in Self.flagSets {
            let oracle = try await Oracle.grep(["-P"] + flags, inputs: [input])
            expectMatchesOracle(try await Sluice.run(["-a", "-P"] + flags + [input]), oracle, "sluice \(Shell.quote(flags)) \(name)")
        }
    }
}

/// Issue 9: when PCRE2 gave up on a line (its backtracking limit), sluice read it as "no
/// match" and skipped the rest of the 512 KiB chunk: `(a+)*c|x` printed nothing where grep -E
/// prints `zx` and `ax`, and `-c` on 400,000 lines was short by thousands (each such line
/// costs PCRE2 its whole match limit, about 25 ms in a debug build: the test keeps to 100). Such a line is now
/// decided by PCRE2's DFA matcher (no backtracking, as grep's own DFA); one that cannot be
/// decided (a back-reference) is an error naming the pattern and the line, exit 2, and the
/// other lines are still decided. With `-P` the run ends there, as grep -P's does (GNU grep's
/// own tests pcre-abort and filename-lineno).
@Suite struct BacktrackingLimitTests {
    @Test("A line PCRE2 gives up on is decided as grep -E decides it, and nothing after it is skipped")
    func decidedLikeGrep() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var text = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\nzx\nax\n"
        for i in 0..<5_000 {
            text += i % 50 == 0 ? String(repeating: "a", count: 20 + i % 21) + "b\n" : (i % 3 == 0 ? "line \(i) ax\n" : "line \(i) q\n")
        }
        let input = try directory.write("bt.log", Array(text.utf8))
        for flags in [["-e", "(a+)*c|x"], ["-c", "-e", "(a+)*c|x"], ["-v", "-e", "(a+)*c|x"]] {
            let oracle = try await Oracle.grep(["-E"] + flags, inputs: [input])
            let sluice = try await Sluice.run(["-E"] + flags + [input])
            #expect(sluice.status == oracle.status, "\(flags): stderr \(sluice.stderr)")
            expectSameBytes(sluice.stdout, oracle.stdout, "sluice \(flags.joined(separator: " "))")
        }
    }

    /// Lines of kilobytes to megabytes, where a backtracking matcher's cost grows with a power
    /// of the line's length (one JIT step can walk the whole line) and grep's DFA's does not:
    /// each pattern selects grep -E's lines. Before, `G.*T.*!` took minutes here; how fast
    /// each runs now is the benchmark's (`long lines` rows), not this test's.
    @Test("Long lines and patterns that backtrack on them: grep -E's lines", arguments: [
        "GET.*HTTP.*[;!]", "G.*T.*!", "(GET|POST) .*HTTP.*[;]", "(A+)+B", "a+\\b", "a+a[bc]", "a+.*[bc]",
        "[a-z ]+.*[;!]", "\\bq[a-z]*k\\b.*\\bz", "a{3,}{4,}b", "(a|aa)+$", "([a-z]+ )+[0-9]",
    ])
    func longLines(pattern: String) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let request = "GET /a/b?x=1 HTTP/1.1 200 12 "
        var text = String(repeating: request, count: 65_536 / request.count) + "\n" + "hello!\n"
        for _ in 0..<4 { text += String(repeating: request, count: 262_144 / request.count) + "\n" }
        text += "GET / HTTP;\nwow!\n" + String(repeating: "A", count: 20_000) + "CB\n" + String(repeating: "a", count: 4_096) + "\n"
        text += String(repeating: "a", count: 3_000) + "b\n" + String(repeating: "a", count: 90_001) + "\n"
        let words = ["alpha", "beta", "quick", "gamma", "delta", "log", "user", "error", "id"]
        for i in 0..<200 {
            var line = ""
            while line.count < 2_000 + (i * 37) % 3_000 { line += words[(line.count / 7 + i) % words.count] + " " }
            text += line + (i % 50 == 0 ? "zz 7;" : "") + "\n"
        }
        let input = try directory.write("long.log", Array(text.utf8))
        for flags in [["-n"], ["-c", "-v"]] {
            let oracle = try await Oracle.grep(["-E"] + flags + ["-e", pattern], inputs: [input])
            let sluice = try await Sluice.run(["-E"] + flags + ["-e", pattern, input])
            #expect(sluice.status == oracle.status, "\(flags) \(pattern): stderr \(sluice.stderr)")
            expectSameBytes(sluice.stdout, oracle.stdout, "sluice -E \(flags.joined(separator: " ")) -e '\(pattern)'")
        }
    }

    @Test("A line not even the DFA matcher can decide is an error naming the pattern; the rest is decided")
    func undecidableLineIsAnError() async throws {
        let sluice = try await Sluice.run(["-E", "-e", #"(a+)*\1c|x"#],
                                          stdin: .bytes(Array("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\nzx\nax\n".utf8)))
        #expect(sluice.status == 2)
        #expect(sluice.stdoutText == "zx\nax\n")
        #expect(sluice.stderr.contains(#"c|x': PCRE2 exceeded its backtracking limit on the line starting 'aaaa"#),
                "\(sluice.stderr)")
    }

    @Test("-P: a line PCRE2 gives up on ends the run with grep -P's message, output and status")
    func perlEndsTheRunAsGrepP() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let bad = String(repeating: "a", count: 33) + "b\n"
        let one = try directory.write("one.log", Array("x1\nq\n\(bad)x2\nq x\n".utf8))
        let two = try directory.write("two.log", Array("x3\n".utf8))
        var lines = ""
        for i in 0..<30_000 { lines += i == 20_000 ? bad : "line \(i) \(i % 7 == 0 ? "x" : "q")\n" }
        let long = try directory.write("long.log", Array(lines.utf8))  // the line deep in a chunk
        for (flags, inputs) in [([String](), [one, two]), (["-v"], [one]), (["-c"], [one, two]), (["-n", "-C", "1"], [one]),
                                (["-v", "-n", "-C", "1"], [one]), (["-o"], [one]), (["-n"], [long]), (["-c", "-v"], [long])] {
            let arguments = ["-P"] + flags + ["-e", "((a+)*)+$|x"]
            let grep = try await Shell.run("cd \(Shell.quote([directory.path])) && LC_ALL=C grep \(Shell.quote(arguments)) "
                                           + Shell.quote(inputs.map { ($0 as NSString).lastPathComponent }))
            let sluice = try await Sluice.run(arguments + inputs.map { ($0 as NSString).lastPathComponent }, currentDirectory: directory.path)
            expectMatchesOracle(sluice, grep, "sluice \(arguments.joined(separator: " "))")
            #expect(grep.status == 2)
            #expect(sluice.stderr == grep.stderr.replacingOccurrences(of: "grep: ", with: "sluice: "), "\(flags)")
        }
    }
}
