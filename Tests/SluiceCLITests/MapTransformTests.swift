import Foundation
import Testing

/// `--map upper|lower|trim|s/RE/REPL/[gi]`, compared with tr, sed -E and perl -pe on the same
/// lines. The oracles keep a missing final newline missing; sluice ends every line.
@Suite struct MapTransformTests {
    struct MapCase: Sendable, CustomTestStringConvertible {
        /// The `--map` specs, in order.
        let specs: [String]
        /// A filter reading stdin and writing stdout that means the same.
        let oracle: String

        var testDescription: String { specs.map { "--map \(Shell.quote($0))" }.joined(separator: " ") }
    }

    static let trimOracle = #"perl -pe 's/^[ \t\r\x0b\x0c]+//; s/[ \t\r\x0b\x0c]+$//'"#

    static let cases: [MapCase] = [
        MapCase(specs: ["upper"], oracle: "tr a-z A-Z"),
        MapCase(specs: ["lower"], oracle: "tr A-Z a-z"),
        MapCase(specs: ["trim"], oracle: trimOracle),
        MapCase(specs: ["s/ERROR/E!/"], oracle: "sed -E 's/ERROR/E!/'"),
        MapCase(specs: ["s/([0-9]+)/<$1>/g"], oracle: #"sed -E 's/([0-9]+)/<\1>/g'"#),
        MapCase(specs: [#"s/([0-9]+)/<\1>/g"#], oracle: #"sed -E 's/([0-9]+)/<\1>/g'"#),
        MapCase(specs: ["s/info|warn/[&]/gi"], oracle: "sed -E 's/info|warn/[&]/gI'"),
        MapCase(specs: ["s/error/&&/i"], oracle: "sed -E 's/error/&&/I'"),
        MapCase(specs: [#"s/(\w+) (\w+)/$2 $1/"#], oracle: #"perl -pe 's/(\w+) (\w+)/$2 $1/'"#),
        MapCase(specs: ["s/[0-9]{4}/($0)/"], oracle: "sed -E 's/[0-9]{4}/(&)/'"),
        MapCase(specs: ["s/ERROR//g"], oracle: "sed -E 's/ERROR//g'"),
        MapCase(specs: [#"s/\//|/g"#], oracle: #"sed -E 's/\//|/g'"#),
        MapCase(specs: ["s/^/> /"], oracle: "sed -E 's/^/> /'"),
        MapCase(specs: ["s/$/ <</"], oracle: "sed -E 's/$/ <</'"),
        MapCase(specs: ["s/ +/ /g"], oracle: "sed -E 's/ +/ /g'"),
        MapCase(specs: ["s/ERROR/error/", "upper"], oracle: "sed -E 's/ERROR/error/' | tr a-z A-Z"),
        MapCase(specs: ["upper", "s/ERROR/x/"], oracle: "tr a-z A-Z | sed -E 's/ERROR/x/'"),
        MapCase(specs: ["trim", "s/^/[/", "s/$/]/"], oracle: trimOracle + " | sed -E 's/^/[/; s/$/]/'"),
        MapCase(specs: ["lower", "s/(error|warn)/<$1>/g", "upper"], oracle: "tr A-Z a-z | sed -E 's/(error|warn)/<\\1>/g' | tr a-z A-Z"),
        // Any delimiter, letters and digits too, as GNU sed takes them.
        MapCase(specs: ["s1O1o1g"], oracle: "sed -E 's1O1o1g'"),
        MapCase(specs: ["sXEXeXg"], oracle: "sed -E 'sXEXeXg'"),
        MapCase(specs: ["s|a|\\||g"], oracle: "sed -E 's|a|\\||g'"),
        // A named group by name, as perl's $+{name}.
        MapCase(specs: ["s/(?<level>INFO|WARN)/<${level}>/g"], oracle: "perl -pe 's/(?<level>INFO|WARN)/<$+{level}>/g'"),
    ]

    static let inputs: [String] = [
        Paths.loghub("Apache_2k.log"), Paths.loghub("Linux_2k.log"), Paths.fixture("crlf.log"),
        Paths.fixture("invalid-utf8.log"), Paths.fixture("whitespace.log"), Paths.fixture("nul-bytes.log"),
        Paths.fixture("cr-only.log"), Paths.fixture("empty.log"),
    ]

    @Test("--map matches tr, sed and perl", arguments: cases)
    func mapMatchesOracle(mapCase: MapCase) async throws {
        for input in Self.inputs {
            let expected = endingInNewline(try await Shell.output("(\(mapCase.oracle)) < \(Shell.quote(input))"))
            let sluice = try await Sluice.run(["-e", ""] + mapCase.specs.flatMap { ["--map", $0] } + [input])
            expectSameBytes(sluice.stdout, expected, "\(mapCase.testDescription) \((input as NSString).lastPathComponent)")
            #expect(sluice.status == (expected.isEmpty ? 1 : 0), "\(mapCase.testDescription) \(input): \(sluice.stderr)")
            #expect(sluice.stderr.isEmpty, "stderr: \(sluice.stderr)")
        }
    }

    @Test("the filter selects on the original line, then maps run")
    func filterBeforeMap() async throws {
        let input = Paths.loghub("Zookeeper_2k.log")
        let lowered = try await Shell.output("LC_ALL=C grep -a -e ERROR \(Shell.quote(input)) | LC_ALL=C tr A-Z a-z")
        let sluice = try await Sluice.run(["-e", "ERROR", "--map", "lower", input])
        expectSameBytes(sluice.stdout, lowered, "sluice -e ERROR --map lower")
        #expect(sluice.status == 0)

        let counted = try await Sluice.run(["-c", "-e", "ERROR", "--map", "lower", input])
        let count = try await Oracle.grep(["-c", "-e", "ERROR"], inputs: [input])
        expectMatchesOracle(counted, count, "sluice -c -e ERROR --map lower")
    }

    @Test("maps keep input order under -j", arguments: [["-j", "4", "-b", "50"], ["-j", "2", "-b", "1"], ["-j", "1"]])
    func orderedUnderConcurrency(options: [String]) async throws {
        let input = Paths.loghub("HDFS_2k.log")
        let expected = try await Shell.output(#"LC_ALL=C sed -E 's/([0-9]+)/<\1>/g' "# + Shell.quote(input) + " | LC_ALL=C tr a-z A-Z")
        let sluice = try await Sluice.run(["-e", ""] + options + ["--map", "s/([0-9]+)/<$1>/g", "--map", "upper", input])
        expectSameBytes(sluice.stdout, expected, "sluice \(Shell.quote(options)) --map s/// --map upper HDFS")
    }
}
