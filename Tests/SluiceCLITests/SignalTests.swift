import Foundation
import Testing

/// DESIGN.md §3: on SIGINT/SIGTERM sluice stops reading, writes every selected line read so
/// far, renames complete files, removes temporary ones, and exits 130/143.
@Suite struct SignalTests {
    static let numbers = lines((1...25).map(String.init))

    @Test("SIGTERM and SIGINT: every line read so far is written, exit 128+signal", arguments: [SIGTERM, SIGINT])
    func signalFlushesStdout(signalNumber: Int32) async throws {
        let sluice = try await Sluice.run(
            ["-e", "."], stdin: .prefixThenHeldOpen(Self.numbers), timeout: .seconds(15),
            signal: (signalNumber, .milliseconds(1500))
        )
        #expect(!sluice.timedOut)
        #expect(sluice.status == 128 + signalNumber, "stderr: \(sluice.stderr)")
        expectSameBytes(sluice.stdout, Self.numbers, "stdout after signal \(signalNumber)")
    }

    @Test("SIGTERM with {n} files: complete files renamed, a shorter last file, no temporary left")
    func signalCompletesBatchFiles() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let sluice = try await Sluice.run(
            ["-b", "10", "-o", directory.path("p-{n}.log")], stdin: .prefixThenHeldOpen(Self.numbers),
            timeout: .seconds(15), signal: (SIGTERM, .milliseconds(1500))
        )
        #expect(!sluice.timedOut)
        #expect(sluice.status == 143, "stderr: \(sluice.stderr)")
        #expect(try TemporaryDirectory.entries(of: directory.path) == ["p-000001.log", "p-000002.log", "p-000003.log"])
        #expect(try readBytes(directory.path("p-000001.log")) == lines((1...10).map(String.init)))
        #expect(try readBytes(directory.path("p-000002.log")) == lines((11...20).map(String.init)))
        #expect(try readBytes(directory.path("p-000003.log")) == lines((21...25).map(String.init)))
    }

    @Test("SIGTERM with a single .gz file: a complete gzip file holding every line read")
    func signalCompletesGzipFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let target = directory.path("all.log.gz")
        let sluice = try await Sluice.run(
            ["-o", target], stdin: .prefixThenHeldOpen(Self.numbers),
            timeout: .seconds(15), signal: (SIGTERM, .milliseconds(1500))
        )
        #expect(sluice.status == 143, "stderr: \(sluice.stderr)")
        #expect(try TemporaryDirectory.entries(of: directory.path) == ["all.log.gz"])
        let content = try await Shell.run("zcat \(Shell.quote(target))")
        #expect(content.status == 0, "not valid gzip: \(content.stderr)")
        expectSameBytes(content.stdout, Self.numbers, "zcat all.log.gz after SIGTERM")
    }
}
