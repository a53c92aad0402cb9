import Foundation
import Testing

/// grep's ways of spelling options: attached values, clusters, and values that start with `-`.
@Suite struct OptionSpellingTests {
    @Test("option spellings give grep's output", arguments: [
        (["-e", "-> 200"], ["-e", "-> 200"]),
        (["-e-> 200"], ["-e", "-> 200"]),
        (["--regexp", "-> 200"], ["-e", "-> 200"]),
        (["-ce", "ERROR"], ["-c", "-e", "ERROR"]),
        (["-cieerror"], ["-c", "-i", "-e", "error"]),
        (["-m5", "-eINFO"], ["-m", "5", "-e", "INFO"]),
        (["-vxe", ""], ["-v", "-x", "-e", ""]),
        (["-E", "-e", "(WARN|ERROR) .*[0-9]{3}"], ["-E", "-e", "(WARN|ERROR) .*[0-9]{3}"]),
        (["-Pie", "error\\b"], ["-P", "-i", "-e", "error\\b"]),
    ])
    func spellings(sluiceFlags: [String], grepFlags: [String]) async throws {
        let input = Paths.fixture("app.log.gz")
        let sluice = try await Sluice.run(sluiceFlags + [input])
        let oracle = try await Shell.run("zcat \(Shell.quote(input)) | grep -a \(Shell.quote(grepFlags))")
        #expect(sluice.status == oracle.status, "stderr: \(sluice.stderr)")
        expectSameBytes(sluice.stdout, oracle.stdout, "sluice \(sluiceFlags)")
    }
}
