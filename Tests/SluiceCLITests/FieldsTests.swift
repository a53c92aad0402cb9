import Foundation
import Testing

/// `--where`, `--level`, `--since`, `--until` against oracles: jq on JSON, Miller on logfmt,
/// awk and Python on text logs. The generated corpora (`Fixtures/corpus-*.log.gz`, from
/// shared/bench/gen_corpus.py, seed 10) are read through gzip by sluice, with 4 KiB chunks
/// (every record boundary case many times over) and the default, at -j1 and -j2.
@Suite struct FieldsTests {
    static let json = Paths.fixture("corpus-json.log.gz")
    static let logfmt = Paths.fixture("corpus-logfmt.log.gz")
    static let text = Paths.fixture("corpus-text.log.gz")
    static let mixed = Paths.fixture("corpus-mixed.log.gz")

    /// The ways each comparison is run: chunk size (KiB, 0 for the default) and -j.
    /// Under a sanitizer (every process 10-20x slower), one of them: 4 KiB chunks at -j2.
    static let runs: [(chunkKiB: Int, jobs: Int)] = underSanitizer ? [(4, 2)] : [(4, 1), (4, 2), (0, 2)]

    /// Line numbers sluice selects with `arguments` on `input`, one per line.
    static func selectedLines(_ arguments: String, _ input: String, chunkKiB: Int, jobs: Int) async throws -> [UInt8] {
        let chunk = chunkKiB > 0 ? "SLUICE_CHUNK_KIB=\(chunkKiB) " : ""
        let result = try await Shell.run("\(chunk)\"$SLUICE\" -n -j \(jobs) \(arguments) \(Shell.quote(input)) | cut -d: -f1")
        #expect(result.stderr.isEmpty, "\(arguments): \(result.stderr)")
        return result.stdout
    }

    /// `arguments` on `input` selects the line numbers `expected`, in every run configuration.
    static func expectSelected(_ arguments: String, _ input: String, _ expected: [UInt8],
                               sourceLocation: SourceLocation = #_sourceLocation) async throws {
        for run in runs {
            let actual = try await selectedLines(arguments, input, chunkKiB: run.chunkKiB, jobs: run.jobs)
            expectSameBytes(actual, expected, "\(arguments) \(run)", sourceLocation: sourceLocation)
        }
    }

    struct JQCase: Sendable, CustomTestStringConvertible {
        let expression: String
        let jq: String
        var testDescription: String { expression }
    }

    static let jqCases: [JQCase] = [
        JQCase(expression: #"level == "ERROR""#, jq: #".level == "ERROR""#),
        JQCase(expression: #"level == "ERROR" and status >= 500"#, jq: #".level == "ERROR" and .status >= 500"#),
        JQCase(expression: #"status >= 400 and status < 500 or latency_ms > 900"#, jq: #"(.status >= 400 and .status < 500) or .latency_ms > 900"#),
        JQCase(expression: #"msg ~ /timeout|refused/i"#, jq: #".msg | test("timeout|refused"; "i")"#),
        JQCase(expression: #"not (service == "api-gateway") and user ~ /^u1/"#, jq: #"(.service == "api-gateway" | not) and (.user | test("^u1"))"#),
        JQCase(expression: #"service != "api-gateway" && (level == "WARN" || level == "FATAL")"#,
               jq: #".service != "api-gateway" and (.level == "WARN" or .level == "FATAL")"#),
        JQCase(expression: #"latency_ms <= 20 and status == 200"#, jq: #".latency_ms <= 20 and .status == 200"#),
        JQCase(expression: #"user > "u5" and user < "u6""#, jq: #".user > "u5" and .user < "u6""#),
        JQCase(expression: #"exists(user) and not exists(nothing)"#, jq: #"has("user") and (has("nothing") | not)"#),
        JQCase(expression: #"msg !~ /HTTP/"#, jq: #".msg | test("HTTP") | not"#),
    ]

    @Test("--where on JSON selects the lines jq's select does", arguments: jqCases)
    func whereMatchesJQ(_ whereCase: JQCase) async throws {
        let expected = try await Shell.output("zcat \(Shell.quote(Self.json)) | jq -c \(Shell.quote("select(\(whereCase.jq)) | input_line_number"))")
        #expect(!expected.isEmpty)
        try await Self.expectSelected("--where \(Shell.quote(whereCase.expression))", Self.json, expected)
    }

    /// Miller 6.6 (Debian's) has no logfmt reader: its DKVP reader split on blanks reads the
    /// unquoted fields of the corpus the same way (the quoted `msg` is not compared).
    @Test("--where on logfmt selects the lines Miller's filter does")
    func whereMatchesMiller() async throws {
        let cases: [(String, String)] = [
            (#"level == "ERROR" and status >= 500"#, #"$level == "ERROR" && $status >= 500"#),
            (#"latency_ms > 800 or service == "auth-svc""#, #"$latency_ms > 800 || $service == "auth-svc""#),
            (#"user =~ /^u2/ and status != 200"#, #"$user =~ "^u2" && $status != 200"#),
        ]
        for (expression, miller) in cases {
            let expected = try await Shell.output("zcat \(Shell.quote(Self.logfmt)) | mlr --idkvp --ifs ' ' --ips '=' put -q \(Shell.quote("if (\(miller)) {print NR}"))")
            #expect(!expected.isEmpty)
            try await Self.expectSelected("--where \(Shell.quote(expression))", Self.logfmt, expected)
        }
    }

    /// The corpus writes "ERROR" in ERROR lines only, once: in every format of a mixed log,
    /// the level field says what grep finds.
    @Test("--where and --level read JSON, logfmt and text lines of one log")
    func mixedFormats() async throws {
        let errors = try await Shell.output("zcat \(Shell.quote(Self.mixed)) | grep -n ERROR | cut -d: -f1")
        let fatalOrError = try await Shell.output("zcat \(Shell.quote(Self.mixed)) | grep -n -E 'ERROR|FATAL' | cut -d: -f1")
        #expect(!errors.isEmpty)
        for run in Self.runs {
            expectSameBytes(try await Self.selectedLines(#"--where 'level == "ERROR"'"#, Self.mixed, chunkKiB: run.chunkKiB, jobs: run.jobs), errors, "where \(run)")
            expectSameBytes(try await Self.selectedLines("--level error", Self.mixed, chunkKiB: run.chunkKiB, jobs: run.jobs), errors, "level \(run)")
            expectSameBytes(try await Self.selectedLines("--level E+", Self.mixed, chunkKiB: run.chunkKiB, jobs: run.jobs), fatalOrError, "level+ \(run)")
        }
        // A pattern ANDs with the fields; -v inverts the pattern only.
        let withPattern = try await Shell.output("zcat \(Shell.quote(Self.mixed)) | grep -n ERROR | grep payment | cut -d: -f1")
        expectSameBytes(try await Self.selectedLines("--level error -e payment", Self.mixed, chunkKiB: 4, jobs: 2), withPattern, "-e")
        let inverted = try await Shell.output("zcat \(Shell.quote(Self.mixed)) | grep -n ERROR | grep -v payment | cut -d: -f1")
        expectSameBytes(try await Self.selectedLines("--level error -v -e payment", Self.mixed, chunkKiB: 4, jobs: 2), inverted, "-v -e")
        // -c counts per file, as with patterns.
        let count = try await Sluice.run(["-c", "--level", "error", Self.mixed, Self.json])
        let mixedCount = try await Shell.output("zcat \(Shell.quote(Self.mixed)) | grep -c ERROR")
        let jsonCount = try await Shell.output("zcat \(Shell.quote(Self.json)) | grep -c ERROR")
        #expect(String(decoding: count.stdout, as: UTF8.self)
                == "\(Self.mixed):\(String(decoding: mixedCount, as: UTF8.self))\(Self.json):\(String(decoding: jsonCount, as: UTF8.self))")
        // Python logging's default format: `ts - name - LEVEL - msg`.
        let python = try await Shell.output(#"printf '2026-12-01 10:00:01,000 - app.db - ERROR - failed\n2026-12-01 10:00:02,000 - app - INFO - ok\n' | "$SLUICE" --fields level,component,msg"#)
        #expect(String(decoding: python, as: UTF8.self) == "ERROR\tapp.db\tfailed\nINFO\tapp\tok\n")
    }

    /// Each loghub log's level sits at a known place; awk reads it there.
    @Test("--level reads the levels of real logs", arguments: [
        ("Hadoop_2k.log", "$3 == \"ERROR\"", "error"),
        ("Hadoop_2k.log", "$3 == \"WARN\" || $3 == \"ERROR\" || $3 == \"FATAL\"", "warn+"),
        ("HDFS_2k.log", "$4 == \"WARN\"", "warn"),
        ("Spark_2k.log", "$3 == \"INFO\"", "i"),
        ("Zookeeper_2k.log", "$4 == \"ERROR\"", "error"),
        ("Zookeeper_2k.log", "$4 == \"WARN\"", "warn"),
        ("Android_2k.log", "$5 == \"E\"", "error"),
        ("Android_2k.log", "$5 == \"W\" || $5 == \"E\" || $5 == \"F\"", "warn+"),
        ("Android_2k.log", "$5 == \"D\"", "debug"),
        ("Apache_2k.log", "$6 == \"[error]\"", "error"),
        ("Apache_2k.log", "$6 == \"[notice]\"", "notice"),
    ])
    func levelOfRealLogs(_ log: String, _ awk: String, _ level: String) async throws {
        let input = Paths.loghub(log)
        let expected = try await Shell.output("awk \(Shell.quote("\(awk) {print NR}")) \(Shell.quote(input))")
        #expect(!expected.isEmpty)
        let actual = try await Self.selectedLines("--level \(level)", input, chunkKiB: 4, jobs: 2)
        expectSameBytes(actual, expected, "\(log) --level \(level)")
    }

    /// Python parses each line's timestamp; --since is inclusive, --until exclusive.
    @Test("--since and --until select the lines Python's datetime puts in the window")
    func timeWindow() async throws {
        let windows: [(String, String, String)] = [
            ("2026-11-26T10:15:40Z", "2026-11-26T10:15:45.5Z", "2026-11-26T10:15:40+00:00|2026-11-26T10:15:45.5+00:00"),
            ("2026-11-26T11:15:35+01:00", "2026-11-26 10:15:38", "2026-11-26T10:15:35+00:00|2026-11-26T10:15:38+00:00"),
            ("1795688150", "@1795688152000", "2026-11-26T10:15:50+00:00|2026-11-26T10:15:52+00:00"),
        ]
        for input in [Self.text, Self.json, Self.logfmt] {
            for (since, until, window) in windows {
                let bounds = window.split(separator: "|")
                let python = """
                import gzip, json, re, sys, datetime
                lo = datetime.datetime.fromisoformat('\(bounds[0])'); hi = datetime.datetime.fromisoformat('\(bounds[1])')
                for n, line in enumerate(gzip.open(sys.argv[1], 'rt', encoding='utf-8', errors='replace'), 1):
                    m = re.search(r'(?:^|"ts":"|ts=)(\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d+)Z', line)
                    if m and line.startswith(('2', '{', 'ts=')):
                        t = datetime.datetime.fromisoformat(m.group(1) + '+00:00')
                        if lo <= t < hi: print(n)
                """
                let expected = try await Shell.output("python3 -c \(Shell.quote(python)) \(Shell.quote(input))")
                #expect(!expected.isEmpty)
                try await Self.expectSelected("--since \(Shell.quote(since)) --until \(Shell.quote(until))", input, expected)
            }
        }
    }

    /// A syslog time has no year: each file's lines take the year it was last modified (as
    /// the issue asks), unless --year says; a bound without a year takes the files' year.
    @Test("syslog times take their file's modification year, or --year")
    func syslogYearFromModificationTime() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let old = try directory.write("messages.1", Array("Dec 30 10:00:00 host app: thirtieth\nDec 31 10:00:00 host app: last day\n".utf8))
        let new = try directory.write("messages", Array("Jan  1 09:00:00 host cron: other\nJan  1 10:00:00 host app: new year\n".utf8))
        _ = try await Shell.output("touch -d '2024-12-31 23:00:00Z' \(Shell.quote(old)); touch -d '2025-01-01 12:00:00Z' \(Shell.quote(new))")
        func run(_ arguments: [String]) async throws -> String {
            let result = try await Sluice.run(arguments)
            #expect(result.status == 0 || result.status == 1, "\(arguments): \(result.stderr)")
            return String(decoding: result.stdout, as: UTF8.self)
        }
        #expect(try await run(["-h", "--since", "2024-12-31T00:00:00Z", "-e", "app", old, new]) == "Dec 31 10:00:00 host app: last day\nJan  1 10:00:00 host app: new year\n")
        #expect(try await run(["-h", "--until", "2025-01-01", old, new]) == "Dec 30 10:00:00 host app: thirtieth\nDec 31 10:00:00 host app: last day\n")
        // -p reads them the same way, also in a stage after one that dropped lines.
        #expect(try await run(["-h", "-p", "grep app | since 2024-12-31T00:00:00Z", old, new]) == "Dec 31 10:00:00 host app: last day\nJan  1 10:00:00 host app: new year\n")
        // --year: every file's lines in that year, with -p too.
        #expect(try await run(["-h", "--year", "2025", "--until", "2025-01-01", old, new]) == "")
        #expect(try await run(["-h", "--year", "2025", "-p", "until 2025-01-01", old, new]) == "")
        // A bound without a year: the year the files were last modified, when they agree;
        // when they do not, it names no one time.
        #expect(try await run(["--since", "Dec 31 00:00:00", old]) == "Dec 31 10:00:00 host app: last day\n")
        #expect(try await run(["-h", "--since", "Dec 31 00:00:00", old, new])
                == "Dec 31 10:00:00 host app: last day\nJan  1 09:00:00 host cron: other\nJan  1 10:00:00 host app: new year\n")
        let ancient = try directory.write("messages.9", Array("Dec 31 10:00:00 host app: long ago\n".utf8))
        _ = try await Shell.output("touch -d '2023-06-01 12:00:00Z' \(Shell.quote(ancient))")
        let differ = try await Sluice.run(["--since", "Dec 31 00:00:00", old, ancient])
        #expect(differ.status == 2 && differ.stderr == "sluice: --since: 'Dec 31 00:00:00' has no year, and falls in different years in the files (by when each was last modified): give one (--year YYYY, or the date with its year)\n")
        // A missing file is reported as grep reports it; it places nothing.
        let missing = try await Sluice.run(["-h", "--since", "Dec 31 00:00:00", old, directory.path("missing.log")])
        #expect(missing.status == 2 && missing.stdoutText == "Dec 31 10:00:00 host app: last day\n" && !missing.stderr.contains("no year"),
                "\(missing.stderr)")
        let differP = try await Sluice.run(["-p", "since 'Dec 31 00:00:00'", old, ancient])
        #expect(differP.status == 2 && differP.stderr.contains("column 7: 'Dec 31 00:00:00' has no year"), "\(differP.stderr)")
        // Across New Year: a time after the file's last change is of the year before.
        let rolled = try directory.write("syslog.1", Array("Dec 31 23:59:00 host app: old year\nJan  1 00:01:00 host app: new year\n".utf8))
        _ = try await Shell.output("touch -d '2026-01-01 00:02:00Z' \(Shell.quote(rolled))")
        #expect(try await run(["--since", "2026-01-01", rolled]) == "Jan  1 00:01:00 host app: new year\n")
        #expect(try await run(["--until", "2026-01-01", rolled]) == "Dec 31 23:59:00 host app: old year\n")
        #expect(try await run(["--since", "Dec 31 00:00:00", "--until", "Jan 1 00:00:30", rolled]) == "Dec 31 23:59:00 host app: old year\n")
    }

    /// Aliases, nesting, escapes, numbers written as text, CRLF: what each hand-made line gives.
    @Test("--where on JSON's corners: aliases, nesting, escapes, CRLF")
    func jsonCorners() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let lines = [
            #"{"level":"ERROR","status":503,"http":{"status":502,"method":"GET"},"tags":["a","b"],"msg":"upstream timeout"}"#,
            #"{"level":"\u0045RROR","status":500,"msg":"escaped level"}"#,
            #"{"level":"error","status":"500","msg":"string status"}"#,
            #"{"lvl":"ERROR","status":404,"msg":"alias lvl"}"#,
            #"{"severity":"WARN","status":200,"msg":"alias severity"}"#,
            #"{"log":{"level":"ERROR"},"status":501,"msg":"nested log.level"}"#,
            #"{"level":"INFO","status":200,"msg":"a \"quoted\" word and a \\ backslash","trace_id":null}"#,
            #"{"level":"ERROR","status":5e2,"msg":"exponent"}"#,
            #"{"level":"ERROR","msg":"no status"}"#,
            "{\"level\":\"ERROR\",\"status\":503,\"msg\":\"crlf line\"}\r",
            #"{"level":"DEBUG","status":200,"tags":[],"http":{},"msg":"empty composites"}"#,
            #"{"level":"ERROR","status":599.5,"msg":"fraction","user":"u100"}"#,
            #"{ "level" : "ERROR" , "status" : 500 , "msg" : "blanks" }"#,
            #"{"level":"ERROR","status":500,"msg":"unicode \u00e9\ud83d\ude00"}"#,
            #"{"level":"FATAL","status":500,"msg":"fatal"} trailing"#,
            #"{"level":"ERROR","status":500"#,
        ]
        let input = try directory.write("corners.jsonl", Array(lines.joined(separator: "\n").utf8))  // no final newline
        let cases: [(String, String)] = [
            // 16 is cut short, but holds what was asked before it ends: a line is read as JSON
            // as far as the fields asked for (15's trailing text is not read either).
            (#"level == "ERROR""#, "1 2 4 6 8 9 10 12 13 14 16"),
            (#"level == "ERROR" and status >= 500"#, "1 2 6 8 10 12 13 14 16"),
            (#"status == 500"#, "2 3 8 13 14 15 16"),
            (#"status != 500"#, "1 4 5 6 7 10 11 12"),
            (#"http.status >= 500 or tags.1 == "b""#, "1"),
            (#"exists(trace_id) or exists(http)"#, "1 7 11"),
            (#"msg == "a \"quoted\" word and a \\ backslash""#, "7"),
            (#"msg ~ /é😀$/"#, "14"),
            (#"msg == "crlf line""#, "10"),
            (#"level == "error""#, "3"),
        ]
        for (expression, expected) in cases {
            let result = try await Sluice.run(["-n", "--where", expression, input])
            let numbers = result.stdout.split(separator: 0x0A).map { String(decoding: $0.prefix { $0 != UInt8(ascii: ":") }, as: UTF8.self) }
                .joined(separator: " ")
            #expect(numbers == expected, "--where '\(expression)'")
        }
        // Not a JSON object: a text line, whose fields are what a text line gives.
        let text = try await Sluice.run(["-c", "--where", #"level == "ERROR""#, try directory.write("t.log", Array("{ERROR oops\n{\"level\" x\n".utf8))])
        #expect(String(decoding: text.stdout, as: UTF8.self) == "0\n")
    }

    @Test("mistakes in field options are usage errors naming the option and the column")
    func usageErrors() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        _ = try directory.write("in.log", Array("x\n".utf8))
        try await Sluice.expectErrors([
            (["--where", #"level = = "x""#, "in.log"], #"--where: column 9: expected a string ("...") or a number after '=', not '= "x"'"#),
            (["--where", #"level == "ERROR" status > 1"#, "in.log"],
             "--where: column 18: unexpected 'status > 1' after the end of the expression (join conditions with 'and' or 'or')"),
            (["--where", #"(level == "x""#, "in.log"], "--where: column 14: expected ')' at the end"),
            (["--where", #""level" == 1"#, "in.log"], #"--where: column 1: expected a field name, not a string (the field goes on the left: level == "ERROR")"#),
            (["--where", #"msg ~ /(/"#, "in.log"], "--where: column 7: invalid regex: invalid regular expression at offset 1: missing closing parenthesis"),
            (["--where", #"level == "x"#, "in.log"], "--where: column 10: this string has no closing \""),
            (["--where", "level", "in.log"], "--where: column 6: expected a comparison after 'level' (==, !=, <, <=, >, >=, ~ /regex/, !~) at the end"),
            (["--level", "loud", "in.log"], "--level: 'loud' is not a level (trace, debug, info, notice, warn, error, fatal; LEVEL+ for that level and worse: --level warn+)"),
            (["--since", "yesterday", "in.log"], "--since: 'yesterday' is not a time (2026-11-30T14:00:00Z, 2026-11-30, 'Nov 30 14:00:00', 1796047200, -15m, -2h, -1d)"),
            (["--format", "xml", "--level", "error", "in.log"], "--format: 'xml' is not a format (auto, json, logfmt, text)"),
            (["--format", "json", "-e", "x", "in.log"], "--format: says how to read fields, and no option reads any (--where, --level, --since, --until, --count-by, -O clickhouse://)"),
            (["--tz", "Mars", "--since", "2026-01-01", "in.log"], "--tz: 'Mars' is not an offset from UTC (+01:00, -0500, UTC)"),
            (["--tz", "+25:00", "--since", "2026-01-01", "in.log"], "--tz: '+25:00' is not an offset from UTC (+01:00, -0500, UTC)"),
            (["--since", "2026-02-30", "in.log"], "--since: '2026-02-30' is not a time (2026-11-30T14:00:00Z, 2026-11-30, 'Nov 30 14:00:00', 1796047200, -15m, -2h, -1d)"),
        ], in: directory.url.path)
    }

    /// Field options take every operand as an input (no pattern operand), as -e does.
    @Test("with a field option every operand is an input")
    func operandsAreInputs() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        _ = try directory.write("a.log", Array("2026-11-30T10:00:00Z ERROR [x] one\n2026-11-30T10:00:01Z INFO [x] two\n".utf8))
        _ = try directory.write("b.log", Array("{\"level\":\"error\",\"msg\":\"three\"}\n".utf8))
        let result = try await Sluice.run(["--level", "error", "a.log", "b.log"], currentDirectory: directory.url.path)
        #expect(String(decoding: result.stdout, as: UTF8.self) == "a.log:2026-11-30T10:00:00Z ERROR [x] one\nb.log:{\"level\":\"error\",\"msg\":\"three\"}\n")
        #expect(result.status == 0)
        let none = try await Sluice.run(["--level", "critical", "a.log"], currentDirectory: directory.url.path)
        #expect(none.status == 1 && none.stdout.isEmpty)
    }

    /// The table against `jq -r | sort | uniq -c` (and Miller's count -g), reshaped to
    /// sluice's `COUNT<TAB>VALUE`, largest first, ties in byte order.
    @Test("--count-by counts as jq | sort | uniq -c and Miller's count -g do")
    func countByMatchesOracles() async throws {
        let reshape = "sort | uniq -c | awk '{n=$1; sub(/^ *[0-9]+ /, \"\"); print n \"\\t\" $0}' | sort -t \"$(printf '\\t')\" -k1,1nr -k2,2"
        let cases: [(input: String, arguments: String, oracle: String)] = [
            (Self.json, "--count-by service", "zcat \(Shell.quote(Self.json)) | jq -r .service | \(reshape)"),
            (Self.json, "--count-by level,status", "zcat \(Shell.quote(Self.json)) | jq -r '[.level, (.status|tostring)] | join(\"\\t\")' | \(reshape)"),
            (Self.json, #"--where 'status >= 500' --count-by service --top 5"#,
             "zcat \(Shell.quote(Self.json)) | jq -r 'select(.status >= 500) | .service' | \(reshape) | head -5"),
            (Self.logfmt, "--count-by service",
             "zcat \(Shell.quote(Self.logfmt)) | mlr --idkvp --ifs ' ' --ips '=' --onidx --ofs '\\t' count -g service then sort -nr count -f service then reorder -f count"),
            // Text: the level word, as awk finds it (stack-trace lines have none: an empty value).
            (Self.text, "--count-by level", "zcat \(Shell.quote(Self.text)) | awk '{ if ($1 ~ /^2026-/) print $2; else print \"\" }' | \(reshape)"),
        ]
        for testCase in cases {
            let expected = try await Shell.output(testCase.oracle)
            #expect(expected.count > 20)
            for run in Self.runs {
                let chunk = run.chunkKiB > 0 ? "SLUICE_CHUNK_KIB=\(run.chunkKiB) " : ""
                let actual = try await Shell.output("\(chunk)\"$SLUICE\" -j \(run.jobs) \(testCase.arguments) \(Shell.quote(testCase.input))")
                expectSameBytes(actual, expected, "\(testCase.arguments) \(testCase.input) \(run)")
            }
        }
        // Several files count as one table; nothing counted is exit 1.
        let both = try await Sluice.run(["--count-by", "level", Self.json, Self.logfmt])
        let levels = try await Shell.output("zcat \(Shell.quote(Self.json)) | jq -r .level > /tmp/sluice-levels.$$; zcat \(Shell.quote(Self.logfmt)) "
                                            + "| sed -E 's/^.* level=([A-Z]+) .*$/\\1/' >> /tmp/sluice-levels.$$; cat /tmp/sluice-levels.$$ | \(reshape); rm /tmp/sluice-levels.$$")
        expectSameBytes(both.stdout, levels, "two files")
        let none = try await Sluice.run(["--where", #"level == "NOPE""#, "--count-by", "service", Self.text])
        #expect(none.status == 1 && none.stdout.isEmpty)
        let refused = try await Sluice.run(["-c", "--count-by", "service", Self.text])
        #expect(refused.status == 2 && refused.stderr == "sluice: --count-by: prints a table of counts, not lines: -c does not apply\n")
        // JSON's null counts as a missing value (empty), as jq's `.level // ""` would.
        let nulls = try await Shell.output(#"printf '{"level":null}\n{"level":"info"}\n{"x":1}\n' | "$SLUICE" --count-by level"#)
        #expect(String(decoding: nulls, as: UTF8.self) == "2\t\n1\tinfo\n")
    }

    /// `--fields` as jq's `@tsv`, `--json` read back by jq, `--template` as Miller prints.
    @Test("--fields, --json and --template write what jq and Miller write")
    func outputShapes() async throws {
        for run in Self.runs {
            let chunk = run.chunkKiB > 0 ? "SLUICE_CHUNK_KIB=\(run.chunkKiB) " : ""
            let sluice = "\(chunk)\"$SLUICE\" -j \(run.jobs)"
            // --fields: tab-separated, escapes as @tsv's.
            let tsv = try await Shell.output("zcat \(Shell.quote(Self.json)) | jq -r '[.ts, .level, .msg, .status, .nothing] | @tsv'")
            expectSameBytes(try await Shell.output("\(sluice) --fields ts,level,msg,status,nothing -e '' \(Shell.quote(Self.json))"), tsv, "--fields \(run)")
            // --json: the JSON line's own object as fields, the line as text, grep -n's numbers.
            let selected = try await Shell.output("zcat \(Shell.quote(Self.json)) | grep -n WARN")
            let fromJSON = try await Shell.output("\(sluice) --json -e WARN \(Shell.quote(Self.json)) | jq -r '\"\\(.line):\\(.fields | tojson)\"'")
            let jqOwn = try await Shell.output("zcat \(Shell.quote(Self.json)) | grep -n WARN | sed 's/:.*//' > /tmp/fields-n.$$; "
                                               + "zcat \(Shell.quote(Self.json)) | grep WARN | jq -c . | paste -d: /tmp/fields-n.$$ -; rm /tmp/fields-n.$$")
            expectSameBytes(fromJSON, jqOwn, "--json fields \(run)")
            let texts = try await Shell.output("\(sluice) --json -e WARN \(Shell.quote(Self.json)) | jq -r '\"\\(.line):\\(.text)\"'")
            expectSameBytes(texts, selected, "--json text \(run)")
            // --template on logfmt.
            let template = try await Shell.output("zcat \(Shell.quote(Self.logfmt)) | mlr --idkvp --ifs ' ' --ips '=' put -q 'print $level . \" {\" . $service . \"} \" . $status'")
            expectSameBytes(try await Shell.output("\(sluice) --template '{level} {{{service}}} {status}' -e '' \(Shell.quote(Self.logfmt))"), template, "--template \(run)")
        }
        // A record's text is the whole record; its fields are its first line's.
        let records = try await Shell.output("\"$SLUICE\" --record auto --json -e Caused \(Shell.quote(Self.text)) | jq -r '.text, .fields.level'")
        let expected = try await Shell.output("zcat \(Shell.quote(Self.text)) | \(RecordsTests.oracle(select: #"any(b"Caused" in l for l in r)"#, mode: "withLevel"))")
        expectSameBytes(records, expected, "--record auto --json")
        let refused = try await Sluice.run(["--json", "-n", "-e", "x", Self.text])
        #expect(refused.status == 2 && refused.stderr == "sluice: --json: writes each selected line in its own shape: -n (the JSON has the line number) does not apply\n")
    }

    /// Each `-p` stage means what its option means.
    @Test("-p stages where, level, since, until, record and count-by equal their options")
    func pipelineStages() async throws {
        let pairs: [(String, String, String)] = [
            (#"where 'level == "ERROR" and status >= 500'"#, #"--where 'level == "ERROR" and status >= 500'"#, Self.json),
            (#"where level == "ERROR" and status >= 500"#, #"--where 'level == "ERROR" and status >= 500'"#, Self.json),
            ("level warn+ | grep -i payment", "--level warn+ -i -e payment", Self.mixed),
            ("since 2026-11-26T10:15:40Z | until 2026-11-26T10:15:41Z", "--since 2026-11-26T10:15:40Z --until 2026-11-26T10:15:41Z", Self.logfmt),
            ("record auto | grep Caused", "--record auto -e Caused", Self.text),
            ("record auto | level error | count-by service 5", "--record auto --level error --count-by service --top 5", Self.text),
            // Each stage after `record` selects from the records the one before kept.
            ("record auto | level error | grep Exception", "--record auto --level error -e Exception", Self.text),
            (#"record auto | where level == "ERROR" | where service == "api-gateway""#,
             #"--record auto --where 'level == "ERROR"' --where 'service == "api-gateway"'"#, Self.text),
            ("record auto | since 2026-11-26T10:15:40Z | until 2026-11-26T10:15:50Z | level warn+",
             "--record auto --since 2026-11-26T10:15:40Z --until 2026-11-26T10:15:50Z --level warn+", Self.text),
        ]
        for (expression, options, input) in pairs {
            let viaExpression = try await Shell.output("SLUICE_CHUNK_KIB=4 \"$SLUICE\" -p \(Shell.quote(expression)) \(Shell.quote(input))")
            let viaOptions = try await Shell.output("SLUICE_CHUNK_KIB=4 \"$SLUICE\" \(options) \(Shell.quote(input))")
            #expect(viaOptions.count > 10, "\(options)")
            expectSameBytes(viaExpression, viaOptions, "-p '\(expression)'")
        }
        // Two files: names are written by the last selection stage, so each before it reads
        // the lines as they are.
        let files = "\(Shell.quote(Self.mixed)) \(Shell.quote(Self.text))"
        for (expression, options) in [("grep -i payment | level warn+", "--level warn+ -i -e payment"),
                                      ("record auto | level error | grep Exception", "-h --record auto --level error -e Exception")] {
            let prefix = options.hasPrefix("-h") ? "-h " : ""
            let viaExpression = try await Shell.output("\"$SLUICE\" \(prefix)-p \(Shell.quote(expression)) \(files)")
            let viaOptions = try await Shell.output("\"$SLUICE\" \(options) \(files)")
            #expect(viaOptions.count > 10, "\(options)")
            expectSameBytes(viaExpression, viaOptions, "two files -p '\(expression)'")
        }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        _ = try directory.write("in.log", Array("x\n".utf8))
        try await Sluice.expectErrors([
            (["-p", "where level = = 3", "in.log"], #"--pipeline: column 15: expected a string ("...") or a number after '=', not '= 3'"#),
            (["-p", "level loud", "in.log"], "--pipeline: column 7: 'loud' is not a level (trace, debug, info, notice, warn, error, fatal; LEVEL+ for that level and worse)"),
            (["-p", "since never", "in.log"], "--pipeline: column 7: 'never' is not a time (2026-11-30T14:00:00Z, 2026-11-30, 1796047200, -15m, -2h, -1d)"),
            (["-p", "grep x", "--since", "-1h", "in.log"], "--pipeline: cannot be combined with --since: spell those stages inside the expression"),
            (["-n", "-p", "grep x | level error", "in.log"], "--pipeline: -n, --json, --template and --fields need the first stage to be the only selection before a map or exec: join the selections in one (grep -e A --where ..., or the options)"),
        ], in: directory.url.path)
    }

    /// A sorted plain file is searched for --since's start; one out of order is scanned. Both
    /// give what Python's filter gives, with grep -n's line numbers.
    @Test("--since on a large plain file: the binary search's start, or a scan where the order does not hold")
    func sinceSeek() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let make = """
            import sys, datetime
            base = datetime.datetime(2026, 11, 30, tzinfo=datetime.timezone.utc)
            out = open(sys.argv[1], "w")
            order = list(range(120000))
            if sys.argv[2] == "unsorted":
                order = order[60000:] + order[:60000]   # the newer half first
            for n in order:
                t = base + datetime.timedelta(milliseconds=37 * n)
                out.write(t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ INFO [svc] event %d padding padding padding padding\\n" % (t.microsecond // 1000, n))
                if n % 1000 == 7: out.write("\\tat a.trace.Line(X.java:1)\\n")
            """
        for kind in ["sorted", "unsorted"] {
            let file = directory.path("\(kind).log")
            _ = try await Shell.output("python3 -c \(Shell.quote(make)) \(file) \(kind)")
            // With milliseconds, as the file writes them: awk compares them as strings.
            for since in ["2026-11-30T01:10:00.000Z", "2026-11-30T00:00:00.000Z", "2026-11-30T00:37:00.500Z", "2026-11-30T01:13:59.000Z"] {
                let expected = try await Shell.output("LC_ALL=C grep -n '' \(file) | awk -F: '{ split($0, a, \" \"); t = substr(a[1], length($1) + 2) } t >= \"\(since)\" && t ~ /^2026/'")
                let actual = try await Shell.output("\"$SLUICE\" -n --since \(since) \(file)")
                expectSameBytes(actual, expected, "\(kind) --since \(since)")
            }
        }
    }

    /// Without -n, --since takes runs of lines whose timestamps' bytes are at or after an
    /// accepted line's (TimestampReference); a line of another shape has its time read. Python
    /// reads every line's time: lines a little out of order both ways, another zone, month 13,
    /// a shorter fraction, a blank for the T, CRLF, a line without a time.
    @Test("--since by runs: out of order, other zones and shapes, CRLF, as Python reads the times")
    func sinceRuns() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = directory.path("mixed.log")
        let make = """
            import sys, datetime
            base = datetime.datetime(2026, 11, 30, tzinfo=datetime.timezone.utc)
            out = open(sys.argv[1], "w", newline="")
            for n in range(150000):
                t = base + datetime.timedelta(milliseconds=37 * n)
                if n % 997 == 0: t -= datetime.timedelta(seconds=5)
                if n % 991 == 0: t += datetime.timedelta(seconds=5)
                stamp = t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)
                if n % 1009 == 0: stamp = (t + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.") + "%03d+01:00" % (t.microsecond // 1000)
                if n % 1013 == 0: stamp = stamp[:5] + "13" + stamp[7:]
                if n % 1021 == 0: stamp = stamp[:22] + "Z"
                if n % 1031 == 0: stamp = stamp[:10] + " " + stamp[11:]
                end = "\\r\\n" if n % 1019 == 0 else "\\n"
                out.write(stamp + " INFO [svc] event %d padding padding padding" % n + end)
                if n % 1000 == 7: out.write("\\tat a.trace.Line(X.java:1)\\n")
            """
        _ = try await Shell.output("python3 -c \(Shell.quote(make)) \(file)")
        for since in ["2026-11-30T01:10:00.000Z", "2026-11-30T00:00:00Z", "2026-11-30T01:00:30.5Z", "2026-11-30T02:30:00+01:00"] {
            let oracle = """
                import re, sys, calendar, datetime
                lo = datetime.datetime.fromisoformat('\(since)'.replace('Z', '+00:00')).timestamp()
                pattern = re.compile(rb'(\\d{4})-(\\d\\d)-(\\d\\d)[T ](\\d\\d):(\\d\\d):(\\d\\d)(?:[.,](\\d+))?(Z|[+-]\\d\\d:\\d\\d)?')
                for line in open(sys.argv[1], 'rb'):
                    m = pattern.match(line)
                    if not m: continue
                    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
                    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 25 and mi < 60 and s < 61): continue
                    t = calendar.timegm((y, mo, d, 0, 0, 0)) + h * 3600 + mi * 60 + s + float(b'0.' + (m.group(7) or b'0'))
                    zone = (m.group(8) or b'').decode()
                    if zone and zone not in ('Z',):
                        t -= (1 if zone[0] == '+' else -1) * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
                    if t >= lo: sys.stdout.buffer.write(line)
                """
            let expected = try await Shell.output("python3 -c \(Shell.quote(oracle)) \(file)")
            #expect(expected.count > 1000, "\(since)")
            for run in [(chunk: 4, jobs: 1), (chunk: 4, jobs: 2), (chunk: 0, jobs: 2)] {
                let chunk = run.chunk > 0 ? "SLUICE_CHUNK_KIB=\(run.chunk) " : ""
                let actual = try await Shell.output("\(chunk)\"$SLUICE\" -j \(run.jobs) --since \(Shell.quote(since)) \(file)")
                expectSameBytes(actual, expected, "--since \(since) \(run)")
                let count = try await Shell.output("\(chunk)\"$SLUICE\" -j \(run.jobs) -c --since \(Shell.quote(since)) \(file)")
                #expect(String(decoding: count, as: UTF8.self) == "\(expected.split(separator: 0x0A, omittingEmptySubsequences: false).count - 1)\n")
            }
        }
    }
}
