import Foundation
import Testing

/// xz, bzip2 and zstd inputs end to end: the fixtures compressed by the system tools, sluice
/// against `xzcat`/`bzcat`/`zstdcat | grep` and the tools' own `xzgrep`/`bzgrep`/`zstdgrep`.
@Suite struct CompressedInputTests {
    enum Format: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case xz, bzip2, zstd

        var compress: String {
            switch self {
            case .xz: "xz -c -T1"
            case .bzip2: "bzip2 -c"
            case .zstd: "zstd -q -c"
            }
        }

        /// Decodes as the `*cat` tools do, without zstdcat's pass-through of other data.
        var cat: String {
            switch self {
            case .xz: "xzcat"
            case .bzip2: "bzcat"
            case .zstd: "zstd -q -dc"
            }
        }

        var grepScript: String {
            switch self {
            case .xz: "xzgrep"
            case .bzip2: "bzgrep"
            case .zstd: "zstdgrep"
            }
        }

        var suffix: String {
            switch self {
            case .xz: "xz"
            case .bzip2: "bz2"
            case .zstd: "zst"
            }
        }

        /// The shortest cut that is still recognised (a whole magic).
        var magicLength: Int { self == .xz ? 6 : self == .bzip2 ? 10 : 4 }  // bzip2: BZh, a digit, a block magic

        var testDescription: String { rawValue }
    }

    /// `source` compressed by `format`'s tool into `directory`.
    static func compress(_ source: String, _ format: Format, in directory: TemporaryDirectory, as name: String? = nil) async throws -> String {
        let target = directory.path((name ?? URL(fileURLWithPath: source).lastPathComponent) + "." + format.suffix)
        _ = try await Shell.output("\(format.compress) < \(Shell.quote(source)) > \(Shell.quote(target))")
        return target
    }

    static let filterFlags: [[String]] = [[], ["-e", "ERROR"], ["-c", "-i", "-e", "error"], ["-v", "-e", "INFO"]]

    @Test("each format on real logs: what `*cat | grep` prints", arguments: Format.allCases,
          ["Hadoop_2k.log", "Apache_2k.log", "OpenSSH_2k.log"])
    func realLogs(format: Format, log: String) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let input = try await Self.compress(Paths.loghub(log), format, in: directory)
        for flags in Self.filterFlags {
            let oracle = try await Oracle.grep(Oracle.grepArguments(forSluiceFilter: flags), inputs: [input], decompressor: format.cat)
            let sluice = try await Sluice.run(Sluice.filter(flags) + [input])
            expectMatchesOracle(sluice, oracle, "sluice \(Shell.quote(flags)) \(log).\(format.suffix)")
            #expect(sluice.stderr.isEmpty, "stderr: \(sluice.stderr)")
        }
    }

    /// The tools' grep scripts as the oracle (one file: no file name prefix). Lines end as
    /// grep ends them: the loghub logs lack a final newline.
    @Test("the same lines as xzgrep/bzgrep/zstdgrep", arguments: Format.allCases)
    func toolGrepScripts(format: Format) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let input = try await Self.compress(Paths.loghub("Zookeeper_2k.log"), format, in: directory)
        for flags in [["-e", "WARN"], ["-c", "-e", "INFO"], ["-v", "-i", "-e", "info"]] {
            let oracle = try await Shell.run("LC_ALL=C \(format.grepScript) -a -E \(Shell.quote(flags)) \(Shell.quote(input))")
            let sluice = try await Sluice.run(Sluice.filter(flags) + [input])
            expectMatchesOracle(sluice, oracle, "sluice \(Shell.quote(flags)) against \(format.grepScript)")
        }
    }

    @Test("small chunks (SLUICE_CHUNK_KIB=4), from a file and from a pipe", arguments: Format.allCases)
    func chunkBoundaries(format: Format) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let input = try await Self.compress(Paths.loghub("Android_2k.log"), format, in: directory)
        let oracle = try await Oracle.grep(["-E", "-e", "[0-9]{4}"], inputs: [input], decompressor: format.cat)
        for how in ["\(Shell.quote(input))", "< \(Shell.quote(input))", "- < \(Shell.quote(input))"] {
            let sluice = try await Shell.run("SLUICE_CHUNK_KIB=4 \"$SLUICE\" -E -e '[0-9]{4}' \(how)")
            expectMatchesOracle(sluice, oracle, "SLUICE_CHUNK_KIB=4 sluice \(how)")
            #expect(sluice.stderr.isEmpty, "stderr: \(sluice.stderr)")
        }
        // Through a pipe that hands the bytes over in small pieces.
        let trickled = try await Shell.run("perl -e 'open(my $f, \"<:raw\", $ARGV[0]); $| = 1; while (read($f, my $b, 7)) { print $b }' \(Shell.quote(input)) | SLUICE_CHUNK_KIB=4 \"$SLUICE\" -E -e '[0-9]{4}'")
        expectMatchesOracle(trickled, oracle, "a 7-byte trickle into sluice")
    }

    @Test("concatenated streams decode as the tools decode them", arguments: Format.allCases)
    func multiStream(format: Format) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let a = try await Self.compress(Paths.loghub("Linux_2k.log"), format, in: directory)
        let empty = try await Self.compress(Paths.fixture("empty.log"), format, in: directory)
        let b = try await Self.compress(Paths.fixture("crlf.log"), format, in: directory)
        let multi = directory.path("multi.\(format.suffix)")
        _ = try await Shell.output("cat \(Shell.quote([a, empty, b, a])) > \(Shell.quote(multi))")
        let plain = try await Shell.output("cat \(Shell.quote([Paths.loghub("Linux_2k.log"), Paths.fixture("crlf.log"), Paths.loghub("Linux_2k.log")]))")
        let decoded = try await Shell.output("\(format.cat) \(Shell.quote(multi))")
        try #require(decoded == plain, "\(format.cat) does not decode the concatenation as cat joins the inputs")
        for flags in [[], ["-e", "session"], ["-c", "-e", "a"]] {
            let oracle = try await Oracle.grep(Oracle.grepArguments(forSluiceFilter: flags), inputs: [multi], decompressor: format.cat)
            let sluice = try await Sluice.run(Sluice.filter(flags) + [multi])
            expectMatchesOracle(sluice, oracle, "sluice \(Shell.quote(flags)) on 4 concatenated \(format) streams")
            #expect(sluice.stderr.isEmpty, "stderr: \(sluice.stderr)")
        }
    }

    @Test("an empty compressed file: no lines, exit 1, silent", arguments: Format.allCases)
    func emptyFile(format: Format) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let input = try await Self.compress(Paths.fixture("empty.log"), format, in: directory)
        let sluice = try await Sluice.run(["-e", "", "-c", input])
        #expect(sluice.stdoutText == "0\n" && sluice.status == 1 && sluice.stderr.isEmpty, "\(sluice.stdoutText) \(sluice.status) \(sluice.stderr)")
    }

    @Test("no final newline, CRLF, NUL bytes, CR only, invalid UTF-8: byte for byte",
          arguments: Format.allCases, ["no-final-newline.log", "crlf.log", "nul-bytes.log", "cr-only.log", "invalid-utf8.log"])
    func oddities(format: Format, fixture: String) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let input = try await Self.compress(Paths.fixture(fixture), format, in: directory)
        for flags in [[], ["-e", "a"], ["-v", "-e", "e"]] {
            let oracle = try await Oracle.grep(Oracle.grepArguments(forSluiceFilter: flags), inputs: [input], decompressor: format.cat)
            let sluice = try await Sluice.run(Sluice.filter(flags) + [input])
            expectMatchesOracle(sluice, oracle, "sluice \(Shell.quote(flags)) \(fixture).\(format.suffix)")
        }
    }

    /// A stream cut anywhere: the lines decoded before the cut, the last one ended, then one
    /// error naming the file and the cut, exit 2; from a file and from a pipe. For xz, exactly
    /// what `xzcat` writes (the same library, and it writes all it decoded). `bzcat` drops its
    /// last 5000-byte piece when it fails, and `zstd -dc` the last block it decoded before a cut
    /// checksum: sluice writes at least what they write, and only the log's bytes.
    @Test("a cut stream: the lines before the cut, one error naming the byte, exit 2", arguments: Format.allCases)
    func truncated(format: Format) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let log = Paths.loghub("Hadoop_2k.log")
        let whole = try readBytes(try await Self.compress(log, format, in: directory))
        let original = try readBytes(log)
        for cut in [format.magicLength, format.magicLength + 1, 100, whole.count / 3, whole.count / 2, whole.count - 5, whole.count - 1] {
            let path = try directory.write("cut-\(cut).\(format.suffix)", Array(whole[..<cut]))
            let tool = try await Shell.run("\(format.cat) \(Shell.quote(path))")
            #expect(tool.status != 0, "\(format.cat) accepts the cut at \(cut)")
            for (how, sluice) in [("file", try await Sluice.run(["-e", "", path])),
                                  ("pipe", try await Sluice.run(["-e", ""], stdin: .bytes(Array(whole[..<cut]))))] {
                let context = "sluice (\(how)) on \(format) cut at \(cut) of \(whole.count)"
                if format != .xz {
                    #expect(sluice.stdout.starts(with: tool.stdout), "\(context): less than \(format.cat) writes")
                    let body = sluice.stdout.last == 0x0A && !original.starts(with: sluice.stdout) ? Array(sluice.stdout.dropLast()) : sluice.stdout
                    #expect(original.starts(with: body), "\(context): not a prefix of the log")
                } else {
                    expectSameBytes(sluice.stdout, endingInNewline(tool.stdout), context)
                }
                #expect(sluice.status == 2, "\(context): \(sluice.stderr)")
                let place = how == "file" ? path : "(standard input)"
                #expect(sluice.stderr == "sluice: \(place): \(format) stream truncated at byte \(cut)\n", "\(context): \(sluice.stderr)")
            }
        }
    }

    /// Blocks with their sizes in their headers (every threaded writer): liblzma decodes them
    /// on several threads, with the single-threaded decoder's output, up to a cut too.
    @Test("a multi-block xz (xz -T2 --block-size): what xzcat writes, whole and cut")
    func multiBlockXz() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("blocks.xz")
        _ = try await Shell.output("cat \(Shell.quote(Paths.loghubLogs.map { Paths.loghub($0) })) | xz -c -T2 --block-size=64KiB > \(Shell.quote(path))")
        let blocks = try await Shell.output("xz --robot -l \(Shell.quote(path)) | awk '$1 == \"totals\" { print $3 }'")
        try #require((Int(String(decoding: blocks, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) > 1, "not multi-block")
        for flags in [["-e", "ERROR"], ["-c", "-e", "INFO"]] {
            let oracle = try await Oracle.grep(Oracle.grepArguments(forSluiceFilter: flags), inputs: [path], decompressor: "xzcat")
            expectMatchesOracle(try await Sluice.run(Sluice.filter(flags) + [path]), oracle, "sluice \(Shell.quote(flags)) on a multi-block xz")
        }
        let whole = try readBytes(path)
        for cut in [whole.count / 3, whole.count / 2, whole.count - 30] {
            let cutPath = try directory.write("cut-\(cut).xz", Array(whole[..<cut]))
            let tool = try await Shell.run("xzcat \(Shell.quote(cutPath))")
            let sluice = try await Sluice.run(["-e", "", cutPath])
            expectSameBytes(sluice.stdout, endingInNewline(tool.stdout), "sluice on a multi-block xz cut at \(cut)")
            #expect(sluice.status == 2 && sluice.stderr == "sluice: \(cutPath): xz stream truncated at byte \(cut)\n", "\(sluice.stderr)")
        }
    }

    /// bzip2's blocks (100 KB each with `-1`) are decoded on worker threads and written in
    /// order: what bzcat writes, for streams of several levels one after another, cut in a
    /// block, cut at a block's end, and with a byte flipped in a middle block.
    @Test("a multi-block bzip2 (bzip2 -1, blocks on worker threads): what bzcat writes, whole, cut and damaged")
    func multiBlockBzip2() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let logs = Shell.quote(Paths.loghubLogs.map { Paths.loghub($0) })
        let path = directory.path("blocks.bz2")
        // Three streams: many small blocks, one block, a few large ones (the levels differ).
        _ = try await Shell.output("{ cat \(logs) | bzip2 -1; head -c 5000 \(logs) | bzip2 -9; cat \(logs) \(logs) | bzip2 -4; } > \(Shell.quote(path))")
        for flags in [["-e", ""], ["-e", "ERROR"], ["-c", "-e", "INFO"], ["-n", "-e", "block"]] {
            let oracle = try await Oracle.grep(Oracle.grepArguments(forSluiceFilter: flags), inputs: [path], decompressor: "bzcat")
            expectMatchesOracle(try await Sluice.run(Sluice.filter(flags) + [path]), oracle, "sluice \(Shell.quote(flags)) on a multi-block bzip2")
        }
        let whole = try readBytes(path)
        let decoded = try await Shell.output("bzcat \(Shell.quote(path))")
        for cut in [whole.count / 5, whole.count / 3, whole.count / 2, whole.count - 30, whole.count - 3] {
            let cutPath = try directory.write("cut-\(cut).bz2", Array(whole[..<cut]))
            let tool = try await Shell.run("bzcat \(Shell.quote(cutPath))")
            let sluice = try await Sluice.run(["-a", "-e", "", cutPath])
            // bzcat writes in pieces of 5,000 bytes and drops the last one at a cut: sluice writes
            // every whole block (a prefix of the data, at least what bzcat writes).
            #expect(sluice.stdout.starts(with: tool.stdout), "sluice on a multi-block bzip2 cut at \(cut): less than bzcat writes")
            let body = sluice.stdout.last == 0x0A && !decoded.starts(with: sluice.stdout) ? Array(sluice.stdout.dropLast()) : sluice.stdout
            #expect(decoded.starts(with: body), "sluice on a multi-block bzip2 cut at \(cut): not a prefix of the data")
            #expect(sluice.status == 2 && sluice.stderr == "sluice: \(cutPath): bzip2 stream truncated at byte \(cut)\n", "\(sluice.stderr)")
        }
        for at in [whole.count / 4, whole.count / 2 + 7] {
            var bytes = whole
            bytes[at] ^= 0x10
            let damaged = try directory.write("flipped-\(at).bz2", bytes)
            let tool = try await Shell.run("bzcat \(Shell.quote(damaged))")
            let sluice = try await Sluice.run(["-a", "-e", "", damaged])
            #expect(sluice.status == 2 && sluice.stderr.hasPrefix("sluice: \(damaged): bzip2 data corrupt near byte "), "\(sluice.stderr)")
            #expect(sluice.stdout.starts(with: tool.stdout), "a byte flipped at \(at): less than bzcat writes")
            let place = Int(sluice.stderr.split(separator: " ").last { Int($0.dropLast()) != nil }.map { String($0.dropLast()) } ?? "") ?? -1
            #expect(place >= at && place <= at + 1_000_000, "the damage at \(at) said to be at \(place): \(sluice.stderr)")
        }
    }

    /// A stream, then the start of another on a pipe that stays open: every line of the first
    /// is written while sluice waits inside the second, and a SIGTERM ends the wait (the reads
    /// go through the same interruptible machinery as gzip's).
    @Test("a stop while a compressed pipe stalls: every line decoded so far, exit 143", arguments: Format.allCases)
    func stopWhileAPipeStalls(format: Format) async throws {
        let numbers = lines((1...25).map(String.init))
        let first = try await Shell.output(format.compress, stdin: .bytes(numbers))
        let second = try await Shell.output(format.compress, stdin: .bytes(lines(["never whole"])))
        let sluice = try await Sluice.run(
            ["-e", "."], stdin: .prefixThenHeldOpen(first + second.prefix(format.magicLength + 3)), timeout: .seconds(15),
            signal: (SIGTERM, .milliseconds(1500))
        )
        #expect(!sluice.timedOut)
        #expect(sluice.status == 143, "stderr: \(sluice.stderr)")
        expectSameBytes(sluice.stdout, numbers, "stdout after SIGTERM inside a second \(format) stream")
    }

    @Test("a flipped byte: an error naming the file and a byte, exit 2, what the tool writes first", arguments: Format.allCases)
    func flippedByte(format: Format) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var bytes = try readBytes(try await Self.compress(Paths.loghub("HDFS_2k.log"), format, in: directory))
        bytes[bytes.count / 2] ^= 0x55
        let path = try directory.write("flipped.\(format.suffix)", bytes)
        let tool = try await Shell.run("\(format.cat) \(Shell.quote(path))")
        #expect(tool.status != 0)
        let sluice = try await Sluice.run(["-a", "-e", "", path])  // -a: damaged data decodes to anything, NULs too
        #expect(sluice.status == 2, "\(sluice.stderr)")
        #expect(sluice.stderr.hasPrefix("sluice: \(path): \(format) data corrupt near byte "), "\(sluice.stderr)")
        #expect(sluice.stderr.split(separator: "\n").count == 1, "\(sluice.stderr)")
        #expect(sluice.stdout.starts(with: tool.stdout), "less than \(format.cat) writes")
    }

    @Test("trailing garbage after a stream: every line, a warning, exit status unchanged", arguments: Format.allCases)
    func trailingGarbage(format: Format) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let compressed = try readBytes(try await Self.compress(Paths.loghub("Apache_2k.log"), format, in: directory))
        let path = try directory.write("garbage.\(format.suffix)", compressed + Array("not compressed\n".utf8))
        let expected = try await Shell.run("LC_ALL=C grep -a -e error \(Shell.quote(Paths.loghub("Apache_2k.log")))")
        let sluice = try await Sluice.run(["-e", "error", path])
        expectSameBytes(sluice.stdout, expected.stdout, "sluice -e error \(format) with trailing garbage")
        #expect(sluice.status == 0, "a warning must not change the exit status: \(sluice.stderr)")
        #expect(sluice.stderr == "sluice: warning: \(path): trailing garbage after \(format) data at byte \(compressed.count) ignored\n",
                "\(sluice.stderr)")
    }

    /// Each input decoded by its own format and read as its own (a last line without a newline
    /// ends at its file), named as grep names several files: as zgrep, xzgrep... one by one.
    @Test("plain, gzip, xz, bzip2 and zstd inputs in one run, and --stats counts compressed bytes")
    func mixedInputs() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let plain = Paths.loghub("OpenSSH_2k.log")
        let gz = directory.path("Spark.gz")
        _ = try await Shell.output("gzip -c < \(Shell.quote(Paths.loghub("Spark_2k.log"))) > \(Shell.quote(gz))")
        let xz = try await Self.compress(Paths.loghub("Linux_2k.log"), .xz, in: directory)
        let bz2 = try await Self.compress(Paths.fixture("no-final-newline.log"), .bzip2, in: directory)
        let zst = try await Self.compress(Paths.loghub("HDFS_2k.log"), .zstd, in: directory)
        let crlf = Paths.fixture("crlf.log")
        let inputs = [xz, plain, bz2, gz, zst, crlf, xz]
        let decoders = [(xz, "xzcat"), (plain, "cat"), (bz2, "bzcat"), (gz, "zcat"), (zst, "zstd -q -dc"), (crlf, "cat"), (xz, "xzcat")]
        for flags in [[], ["-e", "ERROR|error"], ["-c", "-e", "[0-9]{3}"]] {
            let grep = Shell.quote(Oracle.grepArguments(forSluiceFilter: flags))
            let script = "st=1; " + decoders.map { path, decoder in
                "\(decoder) \(Shell.quote(path)) | LC_ALL=C grep -a -H --label=\(Shell.quote(path)) \(grep) && st=0"
            }.joined(separator: "; ") + "; exit $st"
            let oracle = try await Shell.run(script)
            let sluice = try await Sluice.run(Sluice.filter(flags) + inputs)
            expectMatchesOracle(sluice, oracle, "sluice \(Shell.quote(flags)) on a mix of formats")
            #expect(sluice.stderr.isEmpty, "stderr: \(sluice.stderr)")
        }
        let stats = try await Sluice.run(["--stats", "-c", "-e", "x"] + inputs)
        var compressed = 0
        for input in inputs { compressed += try readBytes(input).count }
        let megabytes = String(format: "%.2f", Double(compressed) / 1e6)
        #expect(stats.stderr.contains("(\(megabytes) MB compressed)"), "\(compressed) bytes read: \(stats.stderr)")
    }
}
