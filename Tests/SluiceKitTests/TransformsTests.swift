import Foundation
import Testing

@testable import SluiceKit

func mapped(_ spec: String, _ input: String) throws -> String {
    text(try MapSpec(parsing: spec).makeStep().apply(chunk(input)).bytes)
}

func mapped(_ spec: String, _ input: [UInt8]) throws -> [UInt8] {
    try MapSpec(parsing: spec).makeStep().apply(LineChunk(bytes: input)).bytes
}

@Suite struct MapSpecParsingTests {
    @Test(arguments: [
        ("upper", MapSpec.upper),
        ("lower", .lower),
        ("trim", .trim),
        ("s/a/b/", .substitute(pattern: "a", replacement: "b", global: false, caseless: false)),
        ("s/a/b/g", .substitute(pattern: "a", replacement: "b", global: true, caseless: false)),
        ("s/a/b/gi", .substitute(pattern: "a", replacement: "b", global: true, caseless: true)),
        ("s/a/b/I", .substitute(pattern: "a", replacement: "b", global: false, caseless: true)),
        ("s|/usr|/opt|g", .substitute(pattern: "/usr", replacement: "/opt", global: true, caseless: false)),
        ("s#a#b#", .substitute(pattern: "a", replacement: "b", global: false, caseless: false)),
        ("s,x,y,", .substitute(pattern: "x", replacement: "y", global: false, caseless: false)),
        ("s/a\\/b/c/", .substitute(pattern: "a/b", replacement: "c", global: false, caseless: false)),
        ("s/a/\\//", .substitute(pattern: "a", replacement: "/", global: false, caseless: false)),
        ("s/\\d+/<\\1>/", .substitute(pattern: "\\d+", replacement: "<\\1>", global: false, caseless: false)),
        ("s/(x)//", .substitute(pattern: "(x)", replacement: "", global: false, caseless: false)),
        ("s///", .substitute(pattern: "", replacement: "", global: false, caseless: false)),
        ("s/ /_/g", .substitute(pattern: " ", replacement: "_", global: true, caseless: false)),
        ("s1a1b1", .substitute(pattern: "a", replacement: "b", global: false, caseless: false)),
        ("sXaXbXg", .substitute(pattern: "a", replacement: "b", global: true, caseless: false)),
    ])
    func valid(text: String, expected: MapSpec) throws {
        #expect(try MapSpec(parsing: text) == expected)
    }

    @Test(arguments: [
        ("UPPER", "unknown transform"),
        ("", "unknown transform"),
        ("s", "unknown transform"),
        ("sa", "unknown transform"),
        ("strip", "unknown transform"),
        ("s1a1b", "unknown transform"),  // a letter or digit delimiter that does not close: a typo
        ("s\\a\\b\\", "unknown transform"),
        ("s/a/b", "unterminated substitution"),
        ("s/a", "unterminated substitution"),
        ("s/a\\/b/", "unterminated substitution"),
        ("s/a/b/x", "unknown substitution flag 'x'"),
        ("s/a/b/gq", "unknown substitution flag 'q'"),
    ])
    func invalid(text: String, messagePart: String) {
        let error = #expect(throws: SluiceError.self) { _ = try MapSpec(parsing: text) }
        #expect(error?.code == .usage)
        #expect(error?.place == "--map")
        #expect(error?.message.contains(messagePart) == true, "\(error?.message ?? "")")
    }

    @Test func invalidRegexAndMissingGroupFailWhenTheStepIsMade() {
        let regex = #expect(throws: SluiceError.self) { _ = try MapSpec(parsing: "s/a(/b/").makeStep() }
        #expect(regex?.code == .usage)
        let group = #expect(throws: SluiceError.self) { _ = try MapSpec(parsing: "s/(a)/\\2/").makeStep() }
        #expect(group?.code == .usage)
        #expect(group?.message.contains("group 2") == true)
        let named = #expect(throws: SluiceError.self) { _ = try MapSpec(parsing: "s/(?<k>a)/${nope}/").makeStep() }
        #expect(named?.message.contains("group 'nope'") == true)
        let escape = #expect(throws: SluiceError.self) { _ = try MapSpec(parsing: "s/(a)/\\U$1/").makeStep() }
        #expect(escape?.message.contains("unsupported escape '\\U'") == true, "\(escape?.message ?? "")")
    }

    @Test func descriptionRoundTrips() throws {
        for text in ["upper", "lower", "trim", "s/a/b/", "s/a+/X/gi"] {
            #expect(try MapSpec(parsing: text).description == text)
        }
    }
}

@Suite struct CaseAndTrimTests {
    static let allBytes: [UInt8] = (0...255).filter { $0 != 0x0A }.map(UInt8.init) + [0x0A]

    @Test func upperAndLowerAreASCIIOnlyLikeTr() async throws {
        let oracleUpper = try await shell("LC_ALL=C tr a-z A-Z", input: Self.allBytes).output
        let oracleLower = try await shell("LC_ALL=C tr A-Z a-z", input: Self.allBytes).output
        #expect(try mapped("upper", Self.allBytes) == oracleUpper)
        #expect(try mapped("lower", Self.allBytes) == oracleLower)
        let high = Self.allBytes.filter { $0 >= 0x80 }
        #expect(try mapped("upper", high + [0x0A]) == high + [0x0A], "bytes at or above 0x80 are untouched")
        #expect(try mapped("lower", "ÄÖÜ Straße\n") == "ÄÖÜ straße\n")
        #expect(try mapped("upper", "héllo wörld\n") == "HéLLO WöRLD\n")
    }

    @Test(arguments: [
        ("  a b  \n", "a b\n"),
        ("\t\r x\r\n", "x\n"),
        ("\u{0B}\u{0C}y\u{0C}\n", "y\n"),
        ("   \n\nz\n", "\n\nz\n"),
        ("no-blanks\n", "no-blanks\n"),
        ("\u{0}x\u{0}\n", "\u{0}x\u{0}\n"),
    ])
    func trim(input: String, expected: String) throws {
        #expect(try mapped("trim", input) == expected)
    }

    @Test func mapsKeepNotesAndInputBytes() throws {
        let note = SluiceError(.warning, place: "x", "w")
        for spec in ["upper", "lower", "trim", "s/a/b/"] {
            let out = try MapSpec(parsing: spec).makeStep().apply(LineChunk(bytes: "a\n".bytes, notes: [note], inputByteCount: 5))
            #expect(out.notes == [note], "\(spec)")
            #expect(out.inputByteCount == 5, "\(spec)")
        }
    }
}

@Suite struct SubstituteMapTests {
    static let sample = "abc abc\nxaxbx\nbbb\n\nfoo=1 bar=22\nAbC aBc\n2024-01-02 ERROR x\n"

    /// Each row: a sluice spec and the perl program that means the same (perl is the oracle:
    /// PCRE is Perl's syntax, and perl's empty-match rule is the one sluice follows).
    @Test(arguments: [
        ("s/b/X/", "s/b/X/"),
        ("s/b/X/g", "s/b/X/g"),
        ("s/B/X/gi", "s/B/X/gi"),
        ("s/(\\w+)=(\\d+)/$2=$1/g", "s/(\\w+)=(\\d+)/$2=$1/g"),
        ("s/(\\w+)=(\\d+)/\\2=\\1/g", "s/(\\w+)=(\\d+)/$2=$1/g"),
        ("s/(\\w+)=(\\d+)/${2}0=${1}/g", "s/(\\w+)=(\\d+)/${2}0=${1}/g"),
        ("s/a./[&]/g", "s/a./[$&]/g"),
        ("s/a./[$0]/", "s/a./[$&]/"),
        ("s/x*/-/g", "s/x*/-/g"),
        ("s/b*/-/g", "s/b*/-/g"),
        ("s/^/> /", "s/^/> /"),
        ("s/$/;/", "s/$/;/"),
        ("s/(?<=a)b/B/g", "s/(?<=a)b/B/g"),
        ("s/(\\d+)-(\\d+)-(\\d+)/\\3.\\2.\\1/", "s/(\\d+)-(\\d+)-(\\d+)/$3.$2.$1/"),
        ("s/(z)?a/<\\1>/g", "s/(z)?a/<$1>/g"),
        ("s/c/\\&\\$\\\\/g", "s/c/&\\$\\\\/g"),
        ("s/ /\\t/g", "s/ /\\t/g"),
    ])
    func agreesWithPerl(spec: String, perl: String) async throws {
        let oracle = try await shell("perl -lpe '\(perl.replacingOccurrences(of: "'", with: "'\\''"))'", input: Self.sample.bytes)
        #expect(oracle.status == 0)
        #expect(try mapped(spec, Self.sample) == text(oracle.output))
    }

    @Test func globalAndFirstOnly() throws {
        #expect(try mapped("s/o/0/", "foo boo\n") == "f0o boo\n")
        #expect(try mapped("s/o/0/g", "foo boo\n") == "f00 b00\n")
    }

    @Test func emptyMatchesMatchSed() async throws {
        // Where sed and perl agree.
        #expect(try mapped("s/x*/-/g", "abc\n\n") == "-a-b-c-\n-\n")
        let sed = try await shell("sed -E 's/x*/-/g'", input: "abc\n\n".bytes)
        #expect(try mapped("s/x*/-/g", "abc\n\n") == text(sed.output))
    }

    @Test func replacementWithANewlineMakesTwoLines() throws {
        let out = try MapSpec(parsing: "s/,/\\n/g").makeStep().apply(chunk("a,b\nc\n"))
        #expect(out.lines.map(text) == ["a\n", "b\n", "c\n"])
        #expect(out.lineCount == 3)
    }

    @Test(arguments: ["s/,/;/g", "s/(a)(,)/$2$1/", "s/^/> /", "s/x*//g"])
    func knownLineCountIsTheInputsWhenNoNewlineIsInserted(spec: String) throws {
        let out = try MapSpec(parsing: spec).makeStep().apply(chunk("a,b\n\nc,,\nlast\n"))
        #expect(out.knownLineCount == 4)
        #expect(out.lines.count == 4)
    }

    /// The JIT's 32 KiB stack runs out on `(a|b)*` over a long line; the interpreter must take
    /// over rather than leave the line unsubstituted (as it did before).
    @Test func aPatternThatExhaustsTheJITStackStillSubstitutes() throws {
        let line = String(repeating: "ab", count: 100_000)
        #expect(try mapped("s/^(a|b)*$/X/", line + "\n") == "X\n")
        #expect(try mapped("s/(a|b)*$/X/", "z" + line + "\n") == "zX\n")
    }

    @Test func bytesOutsideTheMatchPassThrough() throws {
        let input: [UInt8] = [0xFF, 0x61, 0x00, 0x0D, 0x0A]
        #expect(try mapped("s/a/b/", input) == [0xFF, 0x62, 0x00, 0x0D, 0x0A])
    }

    @Test func unsetGroupIsEmpty() async throws {
        #expect(try mapped("s/(x)|y/[$1]/g", "xy\n") == "[x][]\n")
    }
}

extension ChildProcessTests {
    @Suite struct ExecCommandTests {
        @Test(arguments: [0, 1, 100, 200_000])
        func catRoundTrip(lines: Int) async throws {
            let input = (0..<lines).map { "line \($0) \u{0}\r\n" }.joined().bytes
            #expect(difference(try await ExecCommand("cat").run(input), input) == nil)
        }

        @Test func outputIsPassedByteForByte() async throws {
            #expect(text(try await ExecCommand("printf 'a\\nb'").run("x\n".bytes)) == "a\nb")
        }

        @Test func emptyOutput() async throws {
            #expect(try await ExecCommand("cat >/dev/null").run("a\nb\n".bytes).isEmpty)
            #expect(try await ExecCommand("true").run([]).isEmpty)
        }

        @Test func nonZeroExitNamesTheCommandAndTheStatus() async {
            let error = await #expect(throws: SluiceError.self) {
                _ = try await ExecCommand("cat; exit 3").run("a\n".bytes)
            }
            #expect(error?.code == .exec)
            #expect(error?.description.contains("cat; exit 3") == true)
            #expect(error?.message.contains("status 3") == true)
        }

        @Test func killedBySignal() async {
            let error = await #expect(throws: SluiceError.self) {
                _ = try await ExecCommand("kill -KILL $$").run("a\n".bytes)
            }
            #expect(error?.code == .exec)
            #expect(error?.description.contains("kill -KILL $$") == true)
            #expect(error?.message.contains("signal 9") == true)
            #expect(error?.message.contains("SIGKILL") == true)
        }

        @Test func headClosingStdinEarlyIsNotAnError() async throws {
            ignoreBrokenPipes()
            let input = (0..<100_000).map { "line \($0)\n" }.joined().bytes  // far more than a pipe holds
            #expect(text(try await ExecCommand("head -1").run(input)) == "line 0\n")
        }

        /// A rendezvous, not a stopwatch: each command leaves a mark and waits (20 s at most) until
        /// all four have; run one after another, the first would give up and print nothing.
        @Test func commandsRunConcurrently() async throws {
            let folder = try TemporaryFolder()
            defer { folder.remove() }
            let marks = "'" + folder.path + "'"  // mkdtemp names hold no quote
            let command = "touch \(marks)/$$; i=0; while [ $(ls \(marks) | wc -l) -lt 4 ] && [ $i -lt 200 ]; do "
                + "sleep 0.1; i=$((i+1)); done; [ $(ls \(marks) | wc -l) -ge 4 ] && cat"
            try await withThrowingTaskGroup(of: [UInt8].self) { group in
                for _ in 0..<4 { group.addTask { try await ExecCommand(command).run("z\n".bytes) } }
                for try await out in group { #expect(out == "z\n".bytes, "the four commands did not run at once") }
            }
        }

        @Test func cancellationKillsTheChild() async throws {
            let clock = ContinuousClock()
            let start = clock.now
            let task = Task { try await ExecCommand("exec sleep 60").run("a\n".bytes) }
            try await Task.sleep(for: .milliseconds(200))
            task.cancel()
            let result = await task.result
            #expect(clock.now - start < .seconds(30), "the child was killed, not waited for")
            // Cancellation is not the command's failure: it surfaces as cancellation.
            #expect(throws: CancellationError.self) { try result.get() }
        }

        /// A command is usually a pipeline (`sort | uniq -c`): cancelling must stop the whole of
        /// it, not only /bin/sh while its children keep the output pipe open.
        @Test func cancellationStopsTheCommandsChildrenToo() async throws {
            let clock = ContinuousClock()
            let start = clock.now
            let task = Task { try await ExecCommand("sleep 60 | cat").run("a\n".bytes) }
            try await Task.sleep(for: .milliseconds(200))
            task.cancel()
            _ = await task.result
            #expect(clock.now - start < .seconds(30), "cancelled after 0.2 s but returned after \(clock.now - start)")
        }
    }
}

/// `--exec` output read in pieces of any size (issue 8, item 4): passed on byte for byte, each
/// line counted once, where it ends; steps after the exec see whole lines.
@Suite struct ExecOutputFramerTests {
    static let outputs = ["", "a", "a\n", "a\nbb", "a\n\nccc\n", "x\r\ny\u{0}z", String(repeating: "long", count: 3000) + "\nend"]

    static func frame(_ bytes: [UInt8], pieceSize: Int, steps: [any ChunkStep]) throws -> [LineChunk] {
        var framer = ExecOutputFramer(steps: steps)
        var chunks: [LineChunk] = []
        for start in stride(from: 0, to: bytes.count, by: pieceSize) {
            chunks += try Array(bytes[start..<min(start + pieceSize, bytes.count)]).withUnsafeBufferPointer { try framer.append($0) }
        }
        return chunks + (try framer.finish())
    }

    @Test(arguments: [1, 2, 7, 4096])
    func piecesKeepTheBytesAndCountEachLineOnce(pieceSize: Int) throws {
        for output in Self.outputs {
            let bytes = output.bytes
            let chunks = try Self.frame(bytes, pieceSize: pieceSize, steps: [])
            var written: [UInt8] = []
            for chunk in chunks { chunk.withWrittenBytes { written.append(contentsOf: $0) } }
            #expect(written == bytes, "\(text(bytes).debugDescription) in pieces of \(pieceSize)")
            let lines = bytes.filter { $0 == 0x0A }.count + (bytes.last.map { $0 == 0x0A ? 0 : 1 } ?? 0)
            #expect(chunks.reduce(0) { $0 + $1.lineCount } == lines, "\(text(bytes).debugDescription) in pieces of \(pieceSize)")
        }
    }

    @Test(arguments: [1, 2, 7, 4096])
    func stepsSeeWholeLinesAndTheLastLineWithANewline(pieceSize: Int) throws {
        let steps: [any ChunkStep] = [try MapSpec(parsing: "upper").makeStep()]
        for output in Self.outputs {
            let chunks = try Self.frame(output.bytes, pieceSize: pieceSize, steps: steps)
            let expected = output.isEmpty || output.hasSuffix("\n") ? output : output + "\n"
            #expect(text(chunks.flatMap(\.bytes)) == expected.uppercased(), "pieces of \(pieceSize)")
            #expect(chunks.allSatisfy { !$0.endsWithoutNewline })
        }
    }
}
