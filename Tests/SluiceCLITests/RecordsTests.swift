import Foundation
import Testing

/// `--record auto|REGEX` against a Python oracle: a record is a line starting with a timestamp
/// and the lines after it that do not; a record is selected, counted, batched and cut whole.
/// Inputs: the generated multi-line corpus (`Fixtures/corpus-text.log.gz`, Java stack traces
/// after 30% of ERROR and WARN events), also as gzip members cut inside records, at 4 KiB
/// chunks (records across many chunks) and the default, -j1 and -j2.
@Suite struct RecordsTests {
    static let corpus = Paths.fixture("corpus-text.log.gz")

    /// The oracle: prints the records of stdin (split where `start` matches a line) that
    /// `select` accepts, or their count (`mode` "count"), each record's lines as read.
    static func oracle(start: String = #"^\d{4}-\d\d-\d\dT"#, select: String, mode: String = "print", limit: Int? = nil) -> String {
        """
        python3 -c '
        import re, sys
        data = sys.stdin.buffer.read()
        lines = data.split(b"\\n")
        if lines and lines[-1] == b"": lines.pop()
        records, current = [], []
        for line in lines:
            if re.match(rb"\(start)", line) and current:
                records.append(current); current = []
            current.append(line)
        if current: records.append(current)
        chosen = [r for r in records if \(select)]
        \(limit.map { "chosen = chosen[:\($0)]" } ?? "")
        if "\(mode)" == "count":
            print(len(chosen))
        elif "\(mode)" == "withLevel":
            for r in chosen:
                sys.stdout.buffer.write(b"".join(l + b"\\n" for l in r) + r[0].split(b" ")[1] + b"\\n")
        else:
            sys.stdout.buffer.write(b"".join(l + b"\\n" for r in chosen for l in r))
        '
        """
    }

    /// Under a sanitizer (every process 10-20x slower), one of them: 4 KiB chunks at -j2.
    static let runs: [(chunkKiB: Int, jobs: Int)] = underSanitizer ? [(4, 2)] : [(4, 1), (4, 2), (0, 2)]

    static func sluice(_ arguments: String, _ input: String, _ run: (chunkKiB: Int, jobs: Int)) -> String {
        let chunk = run.chunkKiB > 0 ? "SLUICE_CHUNK_KIB=\(run.chunkKiB) " : ""
        return "\(chunk)\"$SLUICE\" -j \(run.jobs) \(arguments) \(Shell.quote(input))"
    }

    @Test("--record auto selects whole records, as the Python oracle splits them")
    func selectsWholeRecords() async throws {
        let cases: [(String, String, String, Int?)] = [
            ("-e ERROR", #"any(b"ERROR" in l for l in r)"#, "print", nil),
            ("-e SocketTimeoutException", #"any(b"SocketTimeoutException" in l for l in r)"#, "print", nil),
            ("-v -e INFO", #"not any(b"INFO" in l for l in r)"#, "print", nil),
            ("-c -e Caused", #"any(b"Caused" in l for l in r)"#, "count", nil),
            ("-m 7 -e 'at com.shop.Thread'", #"any(b"at com.shop.Thread" in l for l in r)"#, "print", 7),
            ("--level error", #"b" ERROR " in r[0]"#, "print", nil),
            (#"--where 'level == "WARN"' -e Exception"#, #"b" WARN " in r[0] and any(b"Exception" in l for l in r)"#, "print", nil),
        ]
        for (arguments, select, mode, limit) in cases {
            let expected = try await Shell.output("zcat \(Shell.quote(Self.corpus)) | \(Self.oracle(select: select, mode: mode, limit: limit))")
            #expect(expected.count > 1, "\(arguments)")
            for run in Self.runs {
                let actual = try await Shell.output(Self.sluice("--record auto \(arguments)", Self.corpus, run))
                expectSameBytes(actual, expected, "--record auto \(arguments) \(run)")
            }
        }
        // REGEX: a record starts at each line matching it.
        let regex = try await Shell.output("zcat \(Shell.quote(Self.corpus)) | \(Self.oracle(start: "(?:java|Caused)", select: #"any(b"Read timed out" in l for l in r)"#))")
        let actual = try await Shell.output(Self.sluice("--record '^(java|Caused)' -e 'Read timed out'", Self.corpus, (4, 2)))
        expectSameBytes(actual, regex, "--record REGEX")
    }

    /// gzip members cut inside records, read as one stream; the last record has no newline.
    @Test("records across gzip members and chunk boundaries")
    func acrossMembers() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let members = directory.path("members.log.gz")
        let plain = directory.path("plain.log")
        _ = try await Shell.output("""
            zcat \(Shell.quote(Self.corpus)) | head -c 400000 > \(plain)
            head -c 100000 \(plain) | gzip > \(members)
            tail -c +100001 \(plain) | head -c 150000 | gzip >> \(members)
            tail -c +250001 \(plain) | gzip >> \(members)
            """)
        let expected = try await Shell.output("cat \(plain) | \(Self.oracle(select: #"any(b"Exception" in l for l in r)"#))")
        for run in Self.runs {
            let actual = try await Shell.output(Self.sluice("--record auto -e Exception", members, run))
            expectSameBytes(actual, expected, "members \(run)")
        }
    }

    /// -b counts records; a {n} file and an --exec batch hold records whole.
    @Test("batches, {n} files and --exec take records whole")
    func batchesTakeWholeRecords() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let expected = try await Shell.output("zcat \(Shell.quote(Self.corpus)) | \(Self.oracle(select: #"any(b"ERROR" in l or b"WARN" in l for l in r)"#))")
        _ = try await Shell.output(Self.sluice("--record auto -E -e 'ERROR|WARN' -b 5 -O \(Shell.quote(directory.path("part-{n:4}.log")))", Self.corpus, (4, 2)))
        let files = try TemporaryDirectory.entries(of: directory.url.path).sorted()
        #expect(files.count > 10)
        var joined: [UInt8] = []
        for (index, file) in files.enumerated() {
            let bytes = try readBytes(directory.path(file))
            joined += bytes
            // Each file: 5 records (the last one at most 5), each starting at a timestamp.
            let starts = bytes.split(separator: 0x0A).filter { $0.starts(with: Array("2026-".utf8)) }.count
            #expect(bytes.starts(with: Array("2026-".utf8)), "\(file) starts inside a record")
            #expect(index == files.count - 1 ? starts <= 5 : starts == 5, "\(file): \(starts) records")
        }
        expectSameBytes(joined, expected, "{n} files joined")
        // --exec gets each batch whole: the number of record starts in each is 3 (the last <= 3).
        let counts = try await Shell.output(Self.sluice("--record auto -E -e 'ERROR|WARN' -b 3 -j 2 --exec \"grep -c '^2026-'\"", Self.corpus, (4, 2)))
        let numbers = String(decoding: counts, as: UTF8.self).split(separator: "\n")
        #expect(numbers.count > 10)
        #expect(numbers.dropLast().allSatisfy { $0 == "3" }, "\(numbers.prefix(20))")
    }

    /// Context counts records: GNU grep is the oracle, run on the records joined into one
    /// line each (their newlines as \x01), its output split back. Its group separators, -m
    /// with trailing context and -v come out as grep's; -B 40 holds records across 4 KiB chunks.
    @Test("-A, -B, -C count records, as grep counts lines of records joined into one")
    func contextCountsRecords() async throws {
        let joined = #"python3 -c 'import re,sys; d=sys.stdin.buffer.read(); sys.stdout.buffer.write(re.sub(rb"\n(?!\d{4}-\d\d-\d\dT|$)", b"\x01", d))'"#
        let cases: [(sluice: String, grep: String)] = [
            ("-A 2 -e SocketTimeoutException", "-A 2 -e SocketTimeoutException"),
            ("-B 3 -e 'Caused by'", "-B 3 -e 'Caused by'"),
            ("-C 1 -m 5 -e ERROR", "-C 1 -m 5 -e ERROR"),
            ("-B 40 -e NullPointerException", "-B 40 -e NullPointerException"),
            ("-v -A 1 -e INFO", "-v -A 1 -e INFO"),
            ("-2 --no-group-separator --level warn", "-2 --no-group-separator -P '^\\S+ WARN '"),
            ("-A 1 --group-separator=XX -e 'at com.shop.Thread'", "-A 1 --group-separator=XX -e 'at com.shop.Thread'"),
        ]
        for (arguments, grep) in cases {
            let expected = try await Shell.output("zcat \(Shell.quote(Self.corpus)) | \(joined) | LC_ALL=C grep -a \(grep) | tr '\\001' '\\n'")
            #expect(expected.count > 1, "\(grep)")
            for run in Self.runs {
                let actual = try await Shell.output(Self.sluice("--record auto \(arguments)", Self.corpus, run))
                expectSameBytes(actual, expected, "--record auto \(arguments) \(run)")
            }
        }
        // Two files, cut inside a stack trace: -m and context per file, `--` between files,
        // nothing held across the boundary (the second file starts with a record of its own).
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let first = directory.path("a.log"), second = directory.path("b.log")
        _ = try await Shell.output("""
            zcat \(Shell.quote(Self.corpus)) | head -n 6029 > \(first)
            zcat \(Shell.quote(Self.corpus)) | tail -n +6030 | head -n 5000 > \(second)
            \(joined) < \(first) > \(first).joined; \(joined) < \(second) > \(second).joined
            """)
        for (arguments, grep) in [("-m 1 -A 2 -e Caused", "-m 1 -A 2 -e Caused"), ("-B 3 -e SocketTimeout", "-B 3 -e SocketTimeout"),
                                  ("-C 2 -m 4 --level error", "-C 2 -m 4 -P '^\\S+ ERROR '")] {
            let expected = try await Shell.output("LC_ALL=C grep -h -a \(grep) \(first).joined \(second).joined | tr '\\001' '\\n'")
            #expect(expected.count > 1, "\(grep)")
            for run in Self.runs {
                let actual = try await Shell.output(Self.sluice("--record auto -h \(arguments) \(first)", second, run))
                expectSameBytes(actual, expected, "two files --record auto \(arguments) \(run)")
            }
        }
    }

    /// -n and -H write each line of a record with its number, `:` after those that matched,
    /// `-` after the others.
    @Test("-n and -H mark a record's lines as grep marks selected and context lines")
    func numbersAndNames() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let input = try directory.write("app.log", Array("""
            2026-11-30T10:00:00Z INFO start
            2026-11-30T10:00:01Z ERROR failed
            java.lang.IllegalStateException: boom
            \tat a.b(C.java:1)
            2026-11-30T10:00:02Z INFO done
            """.utf8))
        let result = try await Sluice.run(["--record", "auto", "-n", "-H", "-e", "boom", input])
        #expect(String(decoding: result.stdout, as: UTF8.self) == """
            \(input)-2-2026-11-30T10:00:01Z ERROR failed
            \(input):3:java.lang.IllegalStateException: boom
            \(input)-4-\tat a.b(C.java:1)

            """)
        let count = try await Sluice.run(["--record", "auto", "-c", "-v", "-e", "boom", input])
        #expect(String(decoding: count.stdout, as: UTF8.self) == "2\n")
        // Context records: every line `-`, separators between groups that do not touch.
        let context = try await Sluice.run(["--record", "auto", "-n", "-B", "1", "-e", "done", input])
        #expect(String(decoding: context.stdout, as: UTF8.self) == """
            2-2026-11-30T10:00:01Z ERROR failed
            3-java.lang.IllegalStateException: boom
            4-\tat a.b(C.java:1)
            5:2026-11-30T10:00:02Z INFO done

            """)
        // -o: the matches of the lines that matched; -v -o nothing, as grep, with grep's status.
        let only = try await Sluice.run(["--record", "auto", "-o", "-n", "-e", "b[a-z]*", input])
        #expect(String(decoding: only.stdout, as: UTF8.self) == "3:boom\n4:b\n")
        // -o with no pattern prints nothing (grep -o ''), with the status of the records selected.
        let noPattern = try await Sluice.run(["--record", "auto", "-o", "--level", "error", input])
        #expect(noPattern.stdout.isEmpty && noPattern.status == 0)
        let onlyInverted = try await Sluice.run(["--record", "auto", "-o", "-v", "-e", "boom", input])
        #expect(onlyInverted.stdout.isEmpty && onlyInverted.status == 0)
        // Colour in context records: heads and grep's separator painted, matches in `:` lines.
        let painted = try await Sluice.run(["--record", "auto", "--color=always", "-n", "-A", "0", "-e", "start", "-e", "done", input])
        let head = { (number: Int, mark: String) in "\u{1B}[32m\u{1B}[K\(number)\u{1B}[m\u{1B}[K\u{1B}[36m\u{1B}[K\(mark)\u{1B}[m\u{1B}[K" }
        let match = { (text: String) in "\u{1B}[01;31m\u{1B}[K\(text)\u{1B}[m\u{1B}[K" }
        #expect(String(decoding: painted.stdout, as: UTF8.self) == """
            \(head(1, ":"))2026-11-30T10:00:00Z INFO \(match("start"))
            \u{1B}[36m\u{1B}[K--\u{1B}[m\u{1B}[K
            \(head(5, ":"))2026-11-30T10:00:02Z INFO \(match("done"))

            """)
    }

    /// -o and --color on records give grep's bytes: `-o -n` is exactly grep's (every matching
    /// line is in a selected record); `--color=always -n` writes each line of a selected record
    /// as grep writes it with context around it (the oracle: grep with a context wider than the
    /// file, its lines picked by the Python record splitter).
    @Test("-o and --color write a record's lines as grep writes selected and context lines")
    func onlyMatchingAndColour() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let plain = directory.path("plain.log")
        _ = try await Shell.output("zcat \(Shell.quote(Self.corpus)) > \(plain)")
        for pattern in ["-e Exception", "-E -e 'timeout after [0-9]+ms|Caused by'", "-i -w -e 'at'"] {
            let expected = try await Shell.output("LC_ALL=C grep -a -o -n \(pattern) \(plain)")
            #expect(expected.count > 1, "\(pattern)")
            for run in Self.runs {
                let actual = try await Shell.output(Self.sluice("--record auto -o -n \(pattern)", Self.corpus, run))
                expectSameBytes(actual, expected, "--record auto -o -n \(pattern) \(run)")
            }
        }
        for (pattern, python) in [("-e SocketTimeoutException", #"rb"SocketTimeoutException""#), ("-E -e 'ERROR|Caused by'", #"rb"ERROR|Caused by""#)] {
            let expected = try await Shell.output("""
                LC_ALL=C grep -a -n --color=always -C 100000000 \(pattern) \(plain) > \(plain).painted
                python3 -c '
                import re, sys
                lines = open(sys.argv[1], "rb").read().split(b"\\n")[:-1]
                painted = open(sys.argv[2], "rb").read().split(b"\\n")[:-1]
                assert len(lines) == len(painted)
                records, current = [], []
                for number, line in enumerate(lines):
                    if re.match(rb"\\d{4}-\\d\\d-\\d\\dT", line) and current:
                        records.append(current); current = []
                    current.append(number)
                records.append(current)
                out = [painted[n] + b"\\n" for r in records if any(re.search(\(python), lines[n]) for n in r) for n in r]
                sys.stdout.buffer.write(b"".join(out))
                ' \(plain) \(plain).painted
                """)
            #expect(expected.count > 1, "\(pattern)")
            for run in Self.runs {
                let actual = try await Shell.output(Self.sluice("--record auto --color=always -n \(pattern)", Self.corpus, run))
                expectSameBytes(actual, expected, "--record auto --color=always -n \(pattern) \(run)")
            }
        }
    }

    /// What a review and a new user found, each a line of input and what it must give.
    @Test("corners: mixed formats, a crash in a JSON log, invalid JSON, shared names, -v, shapes of several files")
    func corners() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        func run(_ arguments: [String], _ input: String) async throws -> String {
            let path = try directory.write("in-\(abs(input.hashValue)).log", Array(input.utf8))
            let result = try await Sluice.run(arguments + [path], currentDirectory: directory.url.path)
            return String(decoding: result.stdout, as: UTF8.self)
        }
        // Mixed formats: each JSON or logfmt line starts a record of its own.
        let mixed = "2026-11-30T14:00:00Z INFO [a] text line\n{\"level\":\"error\",\"msg\":\"json\"}\nts=1 level=error msg=x\n"
        #expect(try await run(["--record", "auto", "--level", "error", "-c"], mixed) == "2\n")
        // A pretty-printed JSON body after a line continues its record (a lone `{` starts none).
        let body = "2026-11-30T14:00:00Z ERROR [a] bad payload:\n{\n  \"order\": 1\n}\n2026-11-30T14:00:01Z INFO [a] ok\n"
        #expect(try await run(["--record", "auto", "-e", "bad payload"], body) == "2026-11-30T14:00:00Z ERROR [a] bad payload:\n{\n  \"order\": 1\n}\n")
        // A JSON log with a crash: the crash and its trace a record, the JSON lines their own.
        let node = "{\"level\":30,\"msg\":\"a\"}\n{\"level\":50,\"msg\":\"b\"}\nError: boom\n    at x\n{\"level\":\"50\",\"msg\":\"c\"}\n"
        #expect(try await run(["--record", "auto", "--level", "error"], node)
                == "{\"level\":50,\"msg\":\"b\"}\nError: boom\n    at x\n{\"level\":\"50\",\"msg\":\"c\"}\n")
        // --json writes a line's object only when it is valid JSON.
        let json = try await run(["--json", "-e", ""], "{\"a\":[1}}\n{\"n\":01}\n{\"cut\":\"x\n{\"ok\":[1,{\"b\":null}]}\n")
        let fields = try await Shell.output("jq -c .fields", stdin: .bytes(Array(json.utf8)))
        #expect(String(decoding: fields, as: UTF8.self) == "{\"msg\":\"{\\\"a\\\":[1}}\"}\n{\"msg\":\"{\\\"n\\\":01}\"}\n{\"msg\":\"{\\\"cut\\\":\\\"x\"}\n{\"ok\":[1,{\"b\":null}]}\n")
        // Two names of one field, each asked for.
        #expect(try await run(["--fields", "level,severity"], "{\"level\":\"info\",\"severity\":\"error\"}\n") == "info\terror\n")
        // -v with no pattern inverts the field conditions; -c prints its count.
        #expect(try await run(["-c", "-v", "--level", "error"], mixed) == "1\n")
        // A template writes one line per line: a value's newline as \n; -m counts lines in.
        #expect(try await run(["--template", "{msg}", "-m", "1"], "{\"msg\":\"first\\nsecond\"}\n{\"msg\":\"third\"}\n") == "first\\nsecond\n")
        // syslog's <PRI> level, though not written, passes the literal prefilter.
        #expect(try await run(["--where", #"level == "error""#], "<11>Nov 30 14:00:00 host app[1]: x\n<14>Nov 30 14:00:01 host app[1]: y\n")
                == "<11>Nov 30 14:00:00 host app[1]: x\n")
        // syslog: a level word opening the message, in capitals or before a colon, is the
        // line's level (over <PRI>); a sentence's first word is not.
        #expect(try await run(["--level", "error+"], "Nov 30 14:00:00 host app[1]: ERROR disk full\n<11>Nov 30 14:00:01 host app[1]: INFO ok\n"
                              + "Nov 30 14:00:02 host cron: error: x\nNov 30 14:00:03 host app: Errors: 0\n"
                              + "Nov 30 14:00:04 host app: Fatal error in x\nNov 30 14:00:05 host app: Alert rule resolved\n")
                == "Nov 30 14:00:00 host app[1]: ERROR disk full\nNov 30 14:00:02 host cron: error: x\n")
        // rsyslog's high-precision syslog (Debian 12's default) is syslog; `TIME LEVEL name:` is not.
        #expect(try await run(["--fields", "host,program,pid,level,msg"],
                              "2026-11-30T13:00:02.123456+00:00 web1 app[2]: ERROR iso syslog\n2026-11-30T13:00:03Z INFO main: started\n")
                == "web1\tapp\t2\tERROR\tiso syslog\n\t\t\tINFO\tstarted\n")
        // A line of no known shape: its key=value pairs are fields.
        #expect(try await run(["--where", "status >= 500"], "request done status=500\nrequest done status=200\n") == "request done status=500\n")
        // An empty line can start a record when REGEX says so.
        #expect(try await run(["--record", "^$", "-c", "-e", ""], "a\nb\n\nc\nd\n") == "2\n")
        // A --map that adds lines: each {n} file still starts at a record.
        let trace = (1...40).map { "2026-11-30T14:00:\(String(format: "%02d", $0))Z ERROR [a] e\($0)\njava.lang.X: boom\n\tat a.b(C.java:1)\n" }.joined()
        _ = try await run(["--record", "auto", "--map", "s/boom/bo\\nom/", "-b", "3", "-O", "part-{n}.log", "-e", "ERROR"], trace)
        let parts = try TemporaryDirectory.entries(of: directory.url.path).filter { $0.hasPrefix("part-") }
        #expect(parts.count > 5)
        for part in parts {
            #expect(try !readBytes(directory.path(part)).isEmpty, "\(part) is empty")
        }
    }

    /// The rows a record output must hold: `NUMBER HEX(RECORD)` for each record of the file
    /// with a line containing `needle` (`NUMBER`: its first line's; the record's lines joined by
    /// their newlines, without the last), as the Python splitter finds them.
    static func expectedRecordRows(_ file: String, needle: String, prefix: String = "") async throws -> [String] {
        let out = try await Shell.output("""
            zcat -f \(Shell.quote(file)) | python3 -c '
            import re, sys
            lines = sys.stdin.buffer.read().split(b"\\n")
            if lines and lines[-1] == b"": lines.pop()
            records, current, first = [], [], 1
            for number, line in enumerate(lines, 1):
                if re.match(rb"\\d{4}-\\d\\d-\\d\\dT", line) and current:
                    records.append((first, current)); current = []
                if not current: first = number
                current.append(line)
            if current: records.append((first, current))
            for first, r in records:
                if any(b"\(needle)" in l for l in r):
                    print("\(prefix)%d %s" % (first, b"\\n".join(r).hex().upper()))
            '
            """)
        return String(decoding: out, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// Into SQLite and a checkpointed `{n}` output, a record is a row (its first line's number,
    /// its lines joined), and its checkpoint is after its last line: runs killed at random
    /// moments and resumed leave every selected record once, whole, in order.
    @Test("records as rows: SQLite and --checkpoint, killed and resumed, each record once and whole")
    func recordsAsRows() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let copies = underSanitizer ? 1 : 4
        _ = try await Shell.output("""
            cd \(Shell.quote(directory.path))
            for i in $(seq \(copies)); do zcat \(Shell.quote(Self.corpus)); done > a.log
            head -c 2000000 a.log | gzip -1 > b.log.gz; tail -c +2000001 a.log | gzip -1 >> b.log.gz
            """)
        let expected = try await Self.expectedRecordRows(directory.path("a.log"), needle: "Exception", prefix: "a.log ")
            + Self.expectedRecordRows(directory.path("b.log.gz"), needle: "Exception", prefix: "b.log.gz ")
        #expect(expected.count > 100)
        let script = """
            cd \(Shell.quote(directory.path))
            kills=0
            for delay in 0.05 0.15 0.3 0.02 0.5 0.1 0.25 0.07; do
              "$SLUICE" --record auto -e Exception -b 7 -O sqlite:db --resume a.log b.log.gz 2>>err & p=$!
              "$SLUICE" --record auto -h -e Exception -b 5 -O 'p-{n:5}.log' --checkpoint cp --resume a.log b.log.gz 2>>err & q=$!
              sleep $delay; kill -KILL $p $q 2>/dev/null && kills=$((kills+1)); wait $p $q
            done
            "$SLUICE" --record auto -e Exception -b 7 -O sqlite:db --resume a.log b.log.gz 2>>err; echo "sqlite: $?"
            "$SLUICE" --record auto -h -e Exception -b 5 -O 'p-{n:5}.log' --checkpoint cp --resume a.log b.log.gz 2>>err; echo "files: $?"
            echo "kills: $kills"
            cat err
            """
        let result = try await Shell.bash(script, timeout: .seconds(300))
        #expect(result.stdoutText.contains("sqlite: 0") || result.stdoutText.contains("sqlite: 1"), "\(result.stdoutText)")
        #expect(result.stdoutText.contains("files: 0") || result.stdoutText.contains("files: 1"), "\(result.stdoutText)")
        let rows = try await Shell.output("sqlite3 -separator ' ' \(Shell.quote(directory.path("db"))) 'select source, line_no, hex(line) from logs order by id'")
        let got = String(decoding: rows, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(got.count == expected.count, "\(result.stdoutText)")
        #expect(SQLiteOutputTests.firstDifference(got, expected) == nil)
        // The files, joined: the same records, each whole, in order.
        let files = try await Shell.output("cd \(Shell.quote(directory.path)) && cat p-*.log")
        let records = expected.map { row -> String in
            let hex = Array(row.split(separator: " ")[2].utf8)
            var bytes: [UInt8] = []
            for index in stride(from: 0, to: hex.count, by: 2) { bytes.append(UInt8(String(decoding: hex[index..<index + 2], as: UTF8.self), radix: 16)!) }
            return String(decoding: bytes, as: UTF8.self) + "\n"
        }.joined()
        expectSameBytes(files, Array(records.utf8), "{n} files joined")
        // Each file holds 5 records (the last of a run fewer), each starting at a timestamp.
        for file in try TemporaryDirectory.entries(of: directory.url.path) where file.hasPrefix("p-") {
            #expect(try readBytes(directory.path(file)).starts(with: Array("2026-".utf8)), "\(file) starts inside a record")
        }
    }

}
