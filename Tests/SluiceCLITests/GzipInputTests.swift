import Foundation
import Testing

/// The committed gzip fixtures (made by Fixtures/make_gzip_fixtures.py): every member, BGZF,
/// optional header fields, trailing padding and garbage, truncation and a bad CRC.
@Suite struct GzipInputTests {
    @Test("valid gzip variants decode to what zcat prints", arguments: [
        "app.log.gz", "multi-member.log.gz", "bgzf.log.gz", "headers.log.gz", "zero-padded.log.gz",
    ])
    func validVariants(fixture: String) async throws {
        let input = Paths.fixture(fixture)
        for flags in [[], ["-e", "ERROR"], ["-c", "-i", "-e", "error"], ["-v", "-e", "INFO"]] {
            let oracle = try await Oracle.grep(
                Oracle.grepArguments(forSluiceFilter: flags), inputs: [input], decompressor: "zcat"
            )
            let sluice = try await Sluice.run(Sluice.filter(flags) + [input])
            expectMatchesOracle(sluice, oracle, "sluice \(Shell.quote(flags)) \(fixture)")
            #expect(sluice.stderr.isEmpty, "\(fixture): trailing zeros and header fields are silent; stderr: \(sluice.stderr)")
        }
    }

    @Test("the demo input holds many ERROR lines")
    func demoInputIsMeaningful() async throws {
        let count = try await Sluice.run(["-c", "-F", "-e", "ERROR", Paths.fixture("app.log.gz")])
        let errors = Int(count.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(errors >= 100, "only \(errors) ERROR lines in app.log.gz")
        let all = try await Sluice.run(["-e", "", "-c", Paths.fixture("app.log.gz")])
        #expect((Int(all.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) >= 5000)
    }

    @Test("trailing garbage: everything decoded is printed, a warning, exit status unaffected")
    func garbageTail() async throws {
        let input = Paths.fixture("garbage-tail.log.gz")
        let expected = try await Shell.run("zcat \(Shell.quote(input)) 2>/dev/null | LC_ALL=C grep -a -i -e error")
        let sluice = try await Sluice.run(["-i", "-e", "error", input])
        expectSameBytes(sluice.stdout, expected.stdout, "sluice -i -e error garbage-tail.log.gz")
        #expect(sluice.status == 0, "a warning must not change the exit status; stderr: \(sluice.stderr)")
        #expect(!sluice.stderr.isEmpty, "trailing garbage must give a warning")
        let none = try await Sluice.run(["-e", "no such text anywhere", input])
        #expect(none.status == 1, "stderr: \(none.stderr)")
    }

    /// Issue 8, finding 13: `seq -f 'line %06g some text here' 1 3000 | gzip -6n | head -c 203`
    /// ends `line 00006` in gzip -dc's output; sluice wrote `line 0000`. Cut after a first
    /// whole member too (the cut member starts inside the file), from a file and from a pipe.
    @Test("a cut gzip stream: exactly gzip -dc's stdout (last line ended), one error, exit 2",
          arguments: [203, 1000, 5013, 5020], [false, true])
    func cutStreamGivesWhatGzipWrites(cut: Int, afterAMember: Bool) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let whole = try await Shell.output("seq -f 'line %06g some text here' 1 3000 | gzip -6n")
        let first = afterAMember ? try await Shell.output("printf 'first member\\n' | gzip -n") : []
        let path = try directory.write("cut.gz", first + Array(whole[..<cut]))
        let gzip = try await Shell.run("gzip -dc \(Shell.quote(path))")
        #expect(gzip.status == 1 && gzip.stderr.contains("unexpected end of file"), "\(gzip.stderr)")
        for (how, sluice) in [("file", try await Sluice.run(["-e", "", path])),
                              ("pipe", try await Sluice.run(["-e", ""], stdin: .bytes(try readBytes(path))))] {
            expectSameBytes(sluice.stdout, endingInNewline(gzip.stdout), "sluice (\(how)) on a cut at \(cut)")
            #expect(sluice.status == 2, "\(how): \(sluice.stderr)")
            #expect(sluice.stderr.split(separator: "\n").count == 1 && sluice.stderr.contains("gzip stream truncated"),
                    "\(how): \(sluice.stderr)")
        }
    }

    /// What follows a member, with `gzip -dc` as the oracle: zeros then the end are padding
    /// (silent); zeros then anything, even a member, or two bytes that are not `1f 8b`, are
    /// trailing garbage (gzip warns: sluice warns, exit status unchanged); one byte, or `1f 8b`
    /// and no complete header, is a cut member (gzip: "unexpected end of file": sluice exit 2).
    @Test("bytes after a member: the same output as gzip -dc, a warning where gzip warns, exit 2 where it fails",
          arguments: [
              ("zeros", [UInt8](repeating: 0, count: 16)),
              ("one zero", [0]),
              ("zeros then a member", [UInt8](repeating: 0, count: 8) + [0x1F, 0x8B]),
              ("garbage", Array("garbage\n".utf8)),
              ("zeros then garbage", [0, 0, 0] + Array("garbage".utf8)),
              ("1f", [0x1F]),
              ("1f 8b", [0x1F, 0x8B]),
              ("1f 8b 08", [0x1F, 0x8B, 0x08]),
              ("one other byte", [0x67]),
              ("zero then 1f", [0, 0x1F]),
              ("1f then other", [0x1F, 0x58]),
          ])
    func bytesAfterAMember(name: String, tail: [UInt8]) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let member = try await Shell.output("printf 'first line\\nsecond line\\n' | gzip -n")
        let second = try await Shell.output("printf 'other member\\n' | gzip -n")
        // "zeros then a member" ends with a whole member, not only its magic bytes.
        let bytes = member + (name == "zeros then a member" ? Array(tail.dropLast(2)) + second : tail)
        let path = try directory.write("tail.gz", bytes)
        let gzip = try await Shell.run("gzip -dc \(Shell.quote(path))")
        let sluice = try await Sluice.run(["-e", "", path])
        expectSameBytes(sluice.stdout, endingInNewline(gzip.stdout), "sluice \(name) against gzip -dc")
        switch gzip.status {
        case 0:
            #expect(sluice.status == 0 && sluice.stderr.isEmpty, "\(name): gzip is silent; sluice: \(sluice.status) \(sluice.stderr)")
        case 2:
            #expect(gzip.stderr.contains("trailing garbage ignored"), "\(name): \(gzip.stderr)")
            #expect(sluice.status == 0, "\(name): gzip only warns; stderr: \(sluice.stderr)")
            #expect(sluice.stderr.contains("warning") && sluice.stderr.contains("trailing garbage"), "\(name): \(sluice.stderr)")
        default:
            #expect(gzip.stderr.contains("unexpected end of file"), "\(name): \(gzip.stderr)")
            #expect(sluice.status == 2, "\(name): gzip fails; sluice: \(sluice.status) \(sluice.stderr)")
            #expect(sluice.stderr.contains("sluice: \(path): gzip stream truncated"), "\(name): \(sluice.stderr)")
        }
    }

    @Test("truncated gzip: every complete line before the damage, then an error naming the file, exit 2")
    func truncatedStream() async throws {
        let input = Paths.fixture("truncated.log.gz")
        // The fixture is made so that exactly lines 1-1000 of Hadoop_2k.log can be recovered.
        let recovered = try await Shell.run("head -n 1000 \(Shell.quote(Paths.loghub("Hadoop_2k.log")))")
        let zcatRecovered = try await Shell.run("zcat \(Shell.quote(input)) 2>/dev/null")
        try #require(recovered.stdout == zcatRecovered.stdout, "fixture and oracle disagree: regenerate truncated.log.gz")
        for flags in [[], ["-e", "ERROR"], ["-c", "-e", "INFO"]] {
            let oracle = try await Shell.run(
                "head -n 1000 \(Shell.quote(Paths.loghub("Hadoop_2k.log"))) | LC_ALL=C grep -a \(Shell.quote(Oracle.grepArguments(forSluiceFilter: flags)))"
            )
            let sluice = try await Sluice.run(Sluice.filter(flags) + [input])
            expectSameBytes(sluice.stdout, oracle.stdout, "sluice \(Shell.quote(flags)) truncated.log.gz")
            #expect(sluice.status == 2, "sluice \(Shell.quote(flags)) truncated.log.gz; stderr: \(sluice.stderr)")
            #expect(sluice.stderr.contains("sluice: \(input): "), "stderr: \(sluice.stderr)")
            #expect(sluice.stderr.contains("truncated"), "stderr: \(sluice.stderr)")
        }
    }

    @Test("truncated gzip on stdin and before another input: the next input is still read")
    func truncatedThenMore() async throws {
        let input = Paths.fixture("truncated.log.gz")
        let after = Paths.fixture("crlf.log")
        let expected = try await Shell.run(
            "{ head -n 1000 \(Shell.quote(Paths.loghub("Hadoop_2k.log"))); cat \(Shell.quote(after)); } | LC_ALL=C grep -a -e ERROR"
        )
        let sluice = try await Sluice.run(["-h", "-e", "ERROR", input, after])
        expectSameBytes(sluice.stdout, expected.stdout, "sluice -e ERROR truncated.log.gz crlf.log")
        #expect(sluice.status == 2)
        #expect(sluice.stderr.contains("truncated"), "stderr: \(sluice.stderr)")

        let fromStdin = try await Sluice.run(["-e", "ERROR"], stdin: .file(input))
        let head = try await Shell.run("head -n 1000 \(Shell.quote(Paths.loghub("Hadoop_2k.log"))) | LC_ALL=C grep -a -e ERROR")
        expectSameBytes(fromStdin.stdout, head.stdout, "sluice -e ERROR < truncated.log.gz")
        #expect(fromStdin.status == 2)
        #expect(fromStdin.stderr.contains("truncated"), "stderr: \(fromStdin.stderr)")
    }

    @Test("gzip cut at every kind of place is an error, never a crash or a hang", arguments: [2, 5, 10, 11, 20, 2_000, -8, -4, -1])
    func truncatedAnywhere(cut: Int) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let whole = try readBytes(Paths.fixture("headers.log.gz"))
        let keep = cut > 0 ? cut : whole.count + cut
        let input = try directory.write("cut.log.gz", Array(whole[0..<keep]))
        let sluice = try await Sluice.run(["-e", "ERROR", input], timeout: .seconds(20))
        #expect(!sluice.timedOut)
        #expect(sluice.status == 2, "cut at \(keep) of \(whole.count) bytes; stderr: \(sluice.stderr)")
        #expect(sluice.stderr.contains("sluice: \(input): "), "stderr: \(sluice.stderr)")
        let full = try await Oracle.grep(["-e", "ERROR"], inputs: [Paths.fixture("headers.log.gz")])
        #expect(full.stdout.starts(with: sluice.stdout), "what is printed must be a prefix of the full output")
    }

    @Test("a CRC mismatch is an error naming the file, exit 2")
    func badCRC() async throws {
        let input = Paths.fixture("bad-crc.log.gz")
        let sluice = try await Sluice.run(["-i", "-e", "error", input])
        #expect(sluice.status == 2)
        #expect(sluice.stderr.contains("sluice: \(input): "), "stderr: \(sluice.stderr)")
        let full = try await Oracle.grep(["-i", "-e", "error"], inputs: [Paths.loghub("Apache_2k.log")])
        #expect(full.stdout.starts(with: sluice.stdout), "what is printed must be a prefix of the full output")
    }
}
