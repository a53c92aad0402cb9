import Foundation
import Testing

/// `-j` far above the cores: chunk steps and gzip workers are capped at the cores (more only
/// held more buffers), `--exec` children are not; the output is what grep gives either way.
@Suite struct ManyThreadsTests {
    @Test("-j 1024 -o x.gz: valid gzip holding what grep selects", arguments: ["1", "9"])
    func manyThreadsGzipOutput(level: String) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let inputs = [Paths.loghub("Zookeeper_2k.log"), Paths.loghub("Spark_2k.log")]
        let oracle = try await Oracle.grep(["-e", "INFO"], inputs: inputs)
        let target = directory.path("x.log.gz")
        let sluice = try await Sluice.run(["-e", "INFO", "-j", "1024", "--compression-level", level, "-O", target] + inputs)
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
        let unzipped = try await Shell.run("gzip -t \(Shell.quote(target)) && zcat \(Shell.quote(target))")
        #expect(unzipped.status == 0, "not valid gzip: \(unzipped.stderr)")
        expectSameBytes(unzipped.stdout, oracle.stdout, "zcat of -j 1024 -o x.log.gz (level \(level))")
    }

    @Test("-j 1024 --map upper gives grep | tr, in order")
    func manyThreadsMap() async throws {
        let input = Paths.loghub("Hadoop_2k.log")
        let expected = try await Shell.output("LC_ALL=C grep -a -e INFO \(Shell.quote(input)) | LC_ALL=C tr a-z A-Z")
        let sluice = try await Sluice.run(["-j", "1024", "-e", "INFO", "--map", "upper", input])
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
        expectSameBytes(sluice.stdout, expected, "-j 1024 --map upper")
    }
}
