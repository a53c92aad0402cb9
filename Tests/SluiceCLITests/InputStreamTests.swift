import Foundation
import Testing

/// Inputs are read in argument order, each file's lines its own, as grep (and zgrep) read
/// them; bytes pass through unchanged; unreadable inputs are reported and skipped.
@Suite struct InputStreamTests {
    @Test("files and - are read in argument order, stdin where - stands, named as grep names them")
    func stdinDashBetweenFiles() async throws {
        let first = Paths.fixture("crlf.log")
        let last = Paths.loghub("OpenSSH_2k.log")
        let stdinBytes = try readBytes(Paths.fixture("no-final-newline.log"))
        let oracle = try await Oracle.grep(["-E", "-e", "ERROR|Failed"], inputs: [first, "-", last], stdin: .bytes(stdinBytes))
        let sluice = try await Sluice.run(["-E", "-e", "ERROR|Failed", first, "-", last], stdin: .bytes(stdinBytes))
        expectMatchesOracle(sluice, oracle, "crlf.log - OpenSSH_2k.log")
    }

    @Test("gzip on stdin between plain and gzip files")
    func gzipStdinBetweenFiles() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let gz = directory.path("Linux.log.gz")
        _ = try await Shell.output("gzip -c < \(Shell.quote(Paths.loghub("Linux_2k.log"))) > \(Shell.quote(gz))")
        let stdinBytes = try readBytes(Paths.fixture("multi-member.log.gz"))
        let plain = Paths.loghub("Apache_2k.log")
        let oracle = try await Oracle.grep(["-i", "-e", "error"], inputs: [plain, "-", gz], stdin: .bytes(stdinBytes))
        let sluice = try await Sluice.run(["-i", "-e", "error", plain, "-", gz], stdin: .bytes(stdinBytes))
        expectMatchesOracle(sluice, oracle, "Apache_2k.log - Linux.log.gz with multi-member gzip on stdin")
    }

    @Test("a file's last line without a newline ends at its end, never joined to the next file's first")
    func missingFinalNewlineJoinsNextFile() async throws {
        let inputs = [Paths.fixture("no-final-newline.log"), Paths.fixture("crlf.log"), Paths.fixture("no-final-newline.log")]
        for flags in [["-e", "without newline2024"], ["-c"], ["-e", "ERROR"], ["-x", "-e", "INFO first line"]] {
            let oracle = try await Oracle.grep(Oracle.grepArguments(forSluiceFilter: flags), inputs: inputs)
            expectMatchesOracle(try await Sluice.run(Sluice.filter(flags) + inputs), oracle, "sluice \(Shell.quote(flags)) over three inputs")
        }
        let joined = try await Sluice.run(["-e", "without newline2024"] + inputs)
        #expect(joined.stdoutText == "" && joined.status == 1, "the last line of one file and the first of the next were read as one")
        let separate = try await Sluice.run(["-h", "-e", "ERROR without newline$"] + inputs)
        #expect(separate.stdoutText == "last line ERROR without newline\nlast line ERROR without newline\n")
    }

    @Test("gzip is recognised by its magic bytes, never by its name")
    func compressionFromContentNotName() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let disguised = directory.path("looks-plain.log")
        try FileManager.default.copyItem(atPath: Paths.fixture("app.log.gz"), toPath: disguised)
        let plainNamedGz = directory.path("not-compressed.log.gz")
        try FileManager.default.copyItem(atPath: Paths.fixture("crlf.log"), toPath: plainNamedGz)
        let oracle = try await Oracle.grep(["-h", "-e", "ERROR"], inputs: [Paths.fixture("app.log.gz"), Paths.fixture("crlf.log")])
        let sluice = try await Sluice.run(["-h", "-e", "ERROR", disguised, plainNamedGz])
        expectMatchesOracle(sluice, oracle, "gzip named .log, then plain text named .gz")
        #expect(sluice.stderr.isEmpty, "stderr: \(sluice.stderr)")
    }

    @Test("no input arguments reads stdin; empty stdin selects nothing")
    func emptyStdin() async throws {
        let nothing = try await Sluice.run(["-e", "x"], stdin: .bytes([]))
        #expect(nothing.stdout.isEmpty)
        #expect(nothing.status == 1)
        let counted = try await Sluice.run(["-e", "", "-c"], stdin: .bytes([]))
        #expect(counted.stdoutText == "0\n")
        #expect(counted.status == 1)
        let everything = try await Sluice.run(["-e", ""], stdin: .bytes(Array("a\nb".utf8)))
        #expect(everything.stdoutText == "a\nb\n")
        #expect(everything.status == 0)
    }

    @Test("an empty file between others changes nothing")
    func emptyFileBetweenOthers() async throws {
        let inputs = [Paths.fixture("no-final-newline.log"), Paths.fixture("empty.log"), Paths.fixture("crlf.log")]
        let oracle = try await Oracle.grep(["-e", ""], inputs: inputs)
        expectMatchesOracle(try await Sluice.run(["-e", ""] + inputs), oracle, "no-final-newline.log empty.log crlf.log")
    }

    @Test("NUL bytes, invalid UTF-8 and lone CRs are data", arguments: [
        ("nul-bytes.log", ["-e", "ERROR"]),
        ("nul-bytes.log", ["-w", "-e", "nul"]),
        ("nul-bytes.log", ["-v", "-e", "ERROR"]),
        ("invalid-utf8.log", ["-e", "ERROR"]),
        ("invalid-utf8.log", ["-i", "-e", "error"]),
        ("invalid-utf8.log", ["-e", "bad bytes .. here"]),
        ("invalid-utf8.log", ["-x", "-e", ".*RROR.*"]),
        ("cr-only.log", ["-e", "two"]),
        ("cr-only.log", ["-c", "-e", "INFO"]),
        ("cr-only.log", ["-x", "-e", "INFO four.error five."]),
    ])
    func bytesPassThrough(fixture: String, flags: [String]) async throws {
        let input = Paths.fixture(fixture)
        let oracle = try await Oracle.grep(Oracle.grepArguments(forSluiceFilter: flags), inputs: [input])
        let sluice = try await Sluice.run(Sluice.filter(flags) + [input])
        expectMatchesOracle(sluice, oracle, "sluice \(Shell.quote(flags)) \(fixture)")
        #expect(sluice.stderr.isEmpty, "stderr: \(sluice.stderr)")
    }

    @Test("a 3 MB line and a 3 MB last line without newline, plain and gzip")
    func longLines() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var bytes = Array("short INFO line\n".utf8)
        bytes += [UInt8](repeating: UInt8(ascii: "A"), count: 3_000_000) + Array(" ERROR in the middle BBBB\n".utf8)
        bytes += Array("after the long line ERROR\n".utf8)
        bytes += [UInt8](repeating: UInt8(ascii: "c"), count: 3_000_000) + [UInt8(ascii: "\n")]
        bytes += Array("tail ERROR ".utf8) + [UInt8](repeating: UInt8(ascii: "z"), count: 3_000_000)
        let plain = try directory.write("long-line.log", bytes)
        let gz = directory.path("long-line.log.gz")
        _ = try await Shell.output("gzip -c < \(Shell.quote(plain)) > \(Shell.quote(gz))")
        let flagSets: [[String]] = [
            ["-e", "ERROR"], ["-c", "-e", "ERROR"], ["-v", "-e", "ERROR"],
            ["-e", "ERROR in the [a-z]+ B+$"], ["-x", "-e", "A+ ERROR.*"], ["-e", "z$"], ["-c"],
        ]
        for flags in flagSets {
            let oracle = try await Oracle.grep(Oracle.grepArguments(forSluiceFilter: flags), inputs: [plain])
            expectMatchesOracle(try await Sluice.run(Sluice.filter(flags) + [plain]), oracle, "sluice \(Shell.quote(flags)) long-line.log")
            expectMatchesOracle(try await Sluice.run(Sluice.filter(flags) + [gz]), oracle, "sluice \(Shell.quote(flags)) long-line.log.gz")
        }
    }

    @Test("a missing input is reported, the others are still read, exit 2")
    func missingInput() async throws {
        let missing = "/nonexistent-sluice-test/missing.log"
        let present = Paths.loghub("Hadoop_2k.log")
        let oracle = try await Oracle.grep(["-e", "ERROR"], inputs: [present])
        for inputs in [[missing, present], [present, missing]] {
            let sluice = try await Sluice.run(["-h", "-e", "ERROR"] + inputs)
            expectSameBytes(sluice.stdout, oracle.stdout, "stdout of sluice -h -e ERROR \(inputs)")
            #expect(sluice.status == 2, "inputs \(inputs)")
            #expect(sluice.stderr.contains("sluice: \(missing): "), "stderr: \(sluice.stderr)")
        }
        let alone = try await Sluice.run(["-e", "ERROR", missing])
        #expect(alone.status == 2)
        #expect(alone.stdout.isEmpty)
        #expect(alone.stderr.contains("sluice: \(missing): "), "stderr: \(alone.stderr)")
        let noMatch = try await Sluice.run(["-e", "no such text anywhere", missing, present])
        #expect(noMatch.status == 2)
    }

    @Test("a directory as input is reported, the others are still read, exit 2")
    func directoryInput() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let present = Paths.fixture("crlf.log")
        let oracle = try await Oracle.grep(["-e", "ERROR"], inputs: [present, present])
        let sluice = try await Sluice.run(["-e", "ERROR", present, directory.path, present])
        expectSameBytes(sluice.stdout, oracle.stdout, "stdout with a directory between two inputs")
        #expect(sluice.status == 2)
        #expect(sluice.stderr.contains("sluice: \(directory.path): "), "stderr: \(sluice.stderr)")
    }

    @Test("with -q a selected line wins over an error: exit 0")
    func quietMatchBeatsError() async throws {
        let missing = "/nonexistent-sluice-test/missing.log"
        let present = Paths.loghub("Hadoop_2k.log")
        for inputs in [[missing, present], [present, missing]] {
            let sluice = try await Sluice.run(["-q", "-e", "ERROR"] + inputs)
            #expect(sluice.status == 0, "sluice -q -e ERROR \(inputs): stderr \(sluice.stderr)")
            #expect(sluice.stdout.isEmpty)
        }
        let nothing = try await Sluice.run(["-q", "-e", "no such text anywhere", missing, present])
        #expect(nothing.status == 2)
    }
}
