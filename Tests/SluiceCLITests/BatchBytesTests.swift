import Foundation
import Testing

/// `--batch-bytes SIZE` (and `batch N TIMEOUT BYTES` in `-p`): with `--exec` a batch closes at
/// whichever of `-b` lines and SIZE bytes comes first; without it the bound only limits what
/// is held, and `{n}` files still hold `-b` lines. The output stays byte for byte the same.
@Suite struct BatchBytesTests {
    @Test("--exec is given at most SIZE bytes a batch (a longer line alone), every byte once", arguments: [
        ["--batch-bytes", "1KB"], ["--batch-bytes", "1000"], ["-p", "exec 'wc -c' | batch 100000 1s 1000B"],
    ])
    func execBatchesStayUnderTheBound(arguments: [String]) async throws {
        let input = Paths.loghub("Hadoop_2k.log")
        let size = try readBytes(input).count
        let flags = arguments[0] == "-p" ? arguments : ["-e", "", "-b", "100000", "--exec", "wc -c"] + arguments
        let sluice = try await Sluice.run(Sluice.filter(flags) + [input])
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
        let counts = sluice.stdoutText.split(separator: "\n").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let longest = try await Shell.output("awk '{ if (length($0) + 1 > m) m = length($0) + 1 } END { print m }' \(Shell.quote(input))")
        let longestLine = Int(String(decoding: longest, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(counts.count > size / 1000, "the line bound (100000) closed the batches, not the byte bound: \(counts.count) batches")
        #expect(counts.allSatisfy { $0 <= max(1000, longestLine) }, "a batch over 1000 bytes: \(counts.filter { $0 > 1000 })")
        #expect(counts.reduce(0, +) == size + (try readBytes(input).last == UInt8(ascii: "\n") ? 0 : 1))
    }

    @Test("--exec cat with a small byte bound gives what grep gives", arguments: ["1", "100B", "4KiB", "500KB"])
    func execOutputUnchanged(bound: String) async throws {
        let inputs = [Paths.loghub("Hadoop_2k.log"), Paths.loghub("Zookeeper_2k.log")]
        let oracle = try await Oracle.grep(["-e", "ERROR"], inputs: inputs)
        let sluice = try await Sluice.run(["-e", "ERROR", "-b", "700", "-j", "3", "--batch-bytes", bound, "--exec", "cat"] + inputs)
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
        expectSameBytes(sluice.stdout, oracle.stdout, "--batch-bytes \(bound) --exec cat")
    }

    @Test("{n} files hold -b lines whatever the byte bound without --exec; with --exec one batch each", arguments: [
        [String](), ["--exec", "cat"],
    ])
    func filesStayCutByLines(exec: [String]) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let outputs = try directory.makeSubdirectory("out")
        let inputs = [Paths.loghub("Zookeeper_2k.log"), Paths.loghub("Spark_2k.log")]
        let oracle = try await Oracle.grep(["-e", "INFO"], inputs: inputs)
        let sluice = try await Sluice.run(
            ["-e", "INFO", "-b", "250", "--batch-bytes", "2KB", "-O", "\(outputs)/part-{n}.log"] + exec + inputs
        )
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
        let written = try TemporaryDirectory.entries(of: outputs)
        if exec.isEmpty {
            // The byte bound only bounds memory: files are cut as split -l cuts.
            let expected = try await OutputTargetTests.splitPieces(
                oracle.stdout, lines: 250, prefix: "part-", width: 6, suffix: ".log", in: directory
            )
            #expect(written == expected.keys.sorted())
            for name in written {
                expectSameBytes(try readBytes("\(outputs)/\(name)"), expected[name] ?? [], "content of \(name)")
            }
        } else {
            // With --exec a batch closes at 2 KB (each command gets at most that), and each
            // file holds one batch's output: whole lines, at most 250, in order.
            var all: [UInt8] = []
            for name in written {
                let bytes = try readBytes("\(outputs)/\(name)")
                #expect(bytes.last == UInt8(ascii: "\n") && bytes.count <= 2000 + 1024, "\(name): \(bytes.count) bytes")
                #expect(bytes.filter { $0 == UInt8(ascii: "\n") }.count <= 250)
                all += bytes
            }
            #expect(written.count > 11, "the byte bound cut no batch: \(written.count) files")
            expectSameBytes(all, oracle.stdout, "the files in order")
        }
    }

    @Test("--explain shows the byte bound as given, or none by default", arguments: [
        (["-e", "x"], "1000 lines or 0.2 seconds"),
        (["-e", "x", "--batch-bytes", "4MiB"], "1000 lines or 4MiB or"),
        (["-e", "x", "--batch-bytes", "500kb", "-b", "20"], "20 lines or 500KB or"),
        (["-e", "x", "--batch-bytes", "64k"], "1000 lines or 64KiB or"),
        (["-p", "grep x | batch 10 1s 2MB"], "10 lines or 2MB or 1.0 seconds"),
        (["-p", "grep x | batch 10 3MiB"], "10 lines or 3MiB or"),
    ])
    func explainShowsTheBound(arguments: [String], shown: String) async throws {
        let sluice = try await Sluice.run(arguments + ["--explain"])
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
        #expect(sluice.stdoutText.contains(shown), "\(sluice.stdoutText)")
    }
}
