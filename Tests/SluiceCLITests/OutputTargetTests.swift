import Foundation
import Testing

/// `-o FILE` and `-o 'dir/part-{n}.log'`: complete files under their final names only (hidden
/// temporary + rename), pieces equal to what `split -l B` makes, `.gz` names compressed.
@Suite struct OutputTargetTests {
    /// Fails when a hidden (temporary) entry is left in `directory`.
    static func expectNoHiddenFiles(in directory: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let hidden = try TemporaryDirectory.entries(of: directory).filter { $0.hasPrefix(".") }
        #expect(hidden.isEmpty, "temporary files left behind: \(hidden)", sourceLocation: sourceLocation)
    }

    /// What `split -l lines -a width --numeric-suffixes=1` makes of `bytes`: file name → content.
    static func splitPieces(
        _ bytes: [UInt8], lines: Int, prefix: String, width: Int, suffix: String, in directory: TemporaryDirectory
    ) async throws -> [String: [UInt8]] {
        let splitDirectory = try directory.makeSubdirectory("split-oracle")
        let input = try directory.write("split-input", bytes)
        _ = try await Shell.output(
            "cd \(Shell.quote(splitDirectory)) && split -l \(lines) -a \(width) --numeric-suffixes=1 "
                + "--additional-suffix=\(Shell.quote(suffix)) \(Shell.quote(input)) \(Shell.quote(prefix))"
        )
        var pieces: [String: [UInt8]] = [:]
        for name in try TemporaryDirectory.entries(of: splitDirectory) {
            pieces[name] = try readBytes("\(splitDirectory)/\(name)")
        }
        return pieces
    }

    @Test("-o FILE holds exactly what stdout would, and nothing is printed")
    func singleFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let outputs = try directory.makeSubdirectory("out")
        let input = Paths.loghub("Hadoop_2k.log")
        let oracle = try await Oracle.grep(["-e", "ERROR"], inputs: [input])
        let sluice = try await Sluice.run(["-e", "ERROR", "-O", "\(outputs)/errors.log", input])
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
        #expect(sluice.stdout.isEmpty)
        expectSameBytes(try readBytes("\(outputs)/errors.log"), oracle.stdout, "content of -o errors.log")
        #expect(try TemporaryDirectory.entries(of: outputs) == ["errors.log"])
    }

    @Test("-o over an existing file replaces it")
    func replacesExistingFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let target = try directory.write("out.log", Array(String(repeating: "old content\n", count: 5000).utf8))
        let sluice = try await Sluice.run(["-e", "ERROR", "-O", target, Paths.fixture("crlf.log")])
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
        let oracle = try await Oracle.grep(["-e", "ERROR"], inputs: [Paths.fixture("crlf.log")])
        expectSameBytes(try readBytes(target), oracle.stdout, "content of the replaced file")
        try Self.expectNoHiddenFiles(in: directory.path)
    }

    @Test("-o FILE.gz is gzip holding what stdout would")
    func singleGzipFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let input = Paths.fixture("app.log.gz")
        let target = directory.path("errors.log.gz")
        let sluice = try await Sluice.run(["-e", "ERROR", "-O", target, input])
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
        let oracle = try await Oracle.grep(["-e", "ERROR"], inputs: [input])
        let unzipped = try await Shell.run("gzip -t \(Shell.quote(target)) && zcat \(Shell.quote(target))")
        #expect(unzipped.status == 0, "not valid gzip: \(unzipped.stderr)")
        expectSameBytes(unzipped.stdout, oracle.stdout, "zcat of -o errors.log.gz")
        try Self.expectNoHiddenFiles(in: directory.path)
    }

    struct PerBatchCase: Sendable, CustomTestStringConvertible {
        let pattern: String
        let batchSize: Int
        /// What `split` is given to name the same files.
        let prefix: String
        let width: Int
        let suffix: String
        let gzip: Bool

        var testDescription: String { "-b \(batchSize) -o \(pattern)" }
    }

    @Test("-o with {n}: one file per batch, the pieces split -l makes", arguments: [
        PerBatchCase(pattern: "part-{n}.log", batchSize: 100, prefix: "part-", width: 6, suffix: ".log", gzip: false),
        PerBatchCase(pattern: "x-{n:3}.txt", batchSize: 250, prefix: "x-", width: 3, suffix: ".txt", gzip: false),
        PerBatchCase(pattern: "{n:2}", batchSize: 333, prefix: "", width: 2, suffix: "", gzip: false),
        PerBatchCase(pattern: "part-{n}.log.gz", batchSize: 250, prefix: "part-", width: 6, suffix: ".log.gz", gzip: true),
        PerBatchCase(pattern: "one-{n}.log", batchSize: 100_000, prefix: "one-", width: 6, suffix: ".log", gzip: false),
    ])
    func filePerBatch(perBatch: PerBatchCase) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let outputs = try directory.makeSubdirectory("out")
        let inputs = [Paths.loghub("Zookeeper_2k.log"), Paths.loghub("Spark_2k.log")]
        let oracle = try await Oracle.grep(["-e", "INFO"], inputs: inputs)
        let sluice = try await Sluice.run(
            ["-e", "INFO", "-b", String(perBatch.batchSize), "-O", "\(outputs)/\(perBatch.pattern)"] + inputs
        )
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
        #expect(sluice.stdout.isEmpty)
        try Self.expectNoHiddenFiles(in: outputs)

        let expected = try await Self.splitPieces(
            oracle.stdout, lines: perBatch.batchSize, prefix: perBatch.prefix, width: perBatch.width,
            suffix: perBatch.gzip ? String(perBatch.suffix.dropLast(3)) : perBatch.suffix, in: directory
        )
        let written = try TemporaryDirectory.entries(of: outputs)
        let expectedNames = expected.keys.map { perBatch.gzip ? $0 + ".gz" : $0 }.sorted()
        #expect(written == expectedNames)
        for name in written where expectedNames.contains(name) {
            let path = "\(outputs)/\(name)"
            let content = perBatch.gzip ? try await Shell.output("zcat \(Shell.quote(path))") : try readBytes(path)
            let splitName = perBatch.gzip ? String(name.dropLast(3)) : name
            expectSameBytes(content, expected[splitName] ?? [], "content of \(name)")
        }
    }

    @Test("a multiple of -b lines makes no empty last file")
    func exactMultiple() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let input = lines((1...600).map(String.init))
        let sluice = try await Sluice.run(["-e", "", "-b", "200", "-O", directory.path("p-{n}.log")], stdin: .bytes(input))
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
        #expect(try TemporaryDirectory.entries(of: directory.path) == ["p-000001.log", "p-000002.log", "p-000003.log"])
        expectSameBytes(try readBytes(directory.path("p-000003.log")), lines((401...600).map(String.init)), "p-000003.log")
    }

    @Test("the batch timeout never cuts a {n} file short")
    func timeoutDoesNotCutFiles() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let outputs = try directory.makeSubdirectory("out")
        let sluice = try await Shell.run(
            "(for i in 1 2 3 4 5 6 7; do echo $i; sleep 0.15; done) | \"$SLUICE\" -e '' -b 3 --batch-timeout 50ms -O "
                + Shell.quote("\(outputs)/p-{n}.log")
        )
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
        #expect(try TemporaryDirectory.entries(of: outputs) == ["p-000001.log", "p-000002.log", "p-000003.log"])
        #expect(try readBytes("\(outputs)/p-000001.log") == lines(["1", "2", "3"]))
        #expect(try readBytes("\(outputs)/p-000002.log") == lines(["4", "5", "6"]))
        #expect(try readBytes("\(outputs)/p-000003.log") == lines(["7"]))
    }

    @Test("-o works with -j and --exec, in order")
    func outputWithConcurrency() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let input = Paths.loghub("HDFS_2k.log")
        let target = directory.path("all.log")
        let sluice = try await Sluice.run(["-e", "", "-j", "4", "-b", "64", "--exec", "tr a-z A-Z", "-O", target, input])
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
        let expected = endingInNewline(try await Shell.output("LC_ALL=C tr a-z A-Z < \(Shell.quote(input))"))
        expectSameBytes(try readBytes(target), expected, "-j 4 --exec 'tr a-z A-Z' -o all.log")
        try Self.expectNoHiddenFiles(in: directory.path)
    }

    @Test("a failing --exec: no temporary file is left, what has a final name is complete")
    func failingExecLeavesNoTemporaryFiles() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let command = #"input=$(cat); case "$input" in *15*) exit 3;; esac; printf '%s\n' "$input""#
        let input = lines((1...30).map(String.init))
        let toStdout = try await Sluice.run(["-e", "", "-b", "10", "-j", "1", "--exec", command], stdin: .bytes(input))
        #expect(toStdout.status == 2)
        for target in ["out.log", "p-{n}.log", "q-{n}.log.gz"] {
            let outputs = try directory.makeSubdirectory(target.replacingOccurrences(of: "{n}", with: "n"))
            let sluice = try await Sluice.run(
                ["-e", "", "-b", "10", "-j", "1", "--exec", command, "-O", "\(outputs)/\(target)"], stdin: .bytes(input)
            )
            #expect(sluice.status == 2, "-o \(target): stderr \(sluice.stderr)")
            try Self.expectNoHiddenFiles(in: outputs)
            var written: [UInt8] = []
            for name in try TemporaryDirectory.entries(of: outputs) {
                let path = "\(outputs)/\(name)"
                let content = name.hasSuffix(".gz") ? try await Shell.output("zcat \(Shell.quote(path))") : try readBytes(path)
                if target.contains("{n}") {
                    #expect(content.filter { $0 == UInt8(ascii: "\n") }.count == 10, "\(name) is not a whole batch")
                }
                written += content
            }
            #expect(toStdout.stdout.starts(with: written), "-o \(target) holds more than stdout got: \(escaped(written))")
        }
    }

    static let unwritableTargets: [String] = [
        "/nonexistent-sluice-test/dir/x.log",
        "/nonexistent-sluice-test/dir/part-{n}.log",
        "/nonexistent-sluice-test/dir/x.log.gz",
        "FILE/x.log",
        "FILE/part-{n}.log.gz",
        "DIR",                       // an existing folder, as a file name
        "DIR/part-{n:1}.log",        // its first file name is a folder
        "DIR.gz",
    ]

    @Test("an unwritable target fails with exit 2 before any input is read", arguments: unwritableTargets)
    func unwritableTargetFailsFirst(target: String) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let aFile = try directory.write("a-file", Array("x\n".utf8))
        for folder in ["folder", "folder/part-1.log", "folder.gz"] {
            try FileManager.default.createDirectory(atPath: directory.path + "/" + folder, withIntermediateDirectories: true)
        }
        let resolved = target.replacingOccurrences(of: "FILE", with: aFile)
            .replacingOccurrences(of: "DIR", with: directory.path + "/folder")
        // stdin never ends: sluice must fail on the target, not wait for input.
        let sluice = try await Sluice.run(["-e", "x", "-O", resolved], stdin: .heldOpen, timeout: .seconds(10))
        #expect(!sluice.timedOut, "sluice waited for input instead of failing on \(resolved)")
        #expect(sluice.status == 2, "stderr: \(sluice.stderr)")
        #expect(sluice.elapsed < .seconds(8), "took \(sluice.elapsed)")
        #expect(!sluice.stderr.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "/nonexistent-sluice-test"), "sluice created directories")
    }
}
