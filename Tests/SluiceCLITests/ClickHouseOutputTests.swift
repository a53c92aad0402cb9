import Foundation
import Testing

/// Issue 13: `-O clickhouse://`, against two real servers the tests start (`ClickHouseCluster`),
/// with clickhouse-client as the oracle's reader: the rows are grep's lines byte for byte (with
/// their file and number), every line once after merges across SIGKILL and `--resume` and
/// across a server killed and started again mid-run, two hosts' loads read back through a
/// `Distributed` table, and each bad target a one-line error.
@Suite(.enabled(if: ClickHouseCluster.available, "needs Debian's clickhouse-server and clickhouse-client (make deps)"))
struct ClickHouseOutputTests {
    /// `rows` and `expected` (`FILE NUMBER HEX`) ordered alike: by file name, then number.
    static func sorted(_ rows: [String]) -> [String] {
        func key(_ row: String) -> (String, Int) {
            let parts = row.split(separator: " ", omittingEmptySubsequences: false)
            return (String(parts[0]), Int(parts[1]) ?? -1)
        }
        return rows.sorted { key($0) < key($1) }
    }

    @Test("rows are grep's lines with their file and number: plain, gzip, CRLF, NUL, every byte, invalid UTF-8, no final newline; -b and -j; gzip bodies")
    func rowsAreGrepsLines() async throws {
        let cluster = try await ClickHouseCluster.shared()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var files = try await SQLiteOutputTests.oddInputs(in: directory)
        try directory.write("bytes.log", (0...255).map { UInt8($0) }.filter { $0 != 0x0A } + [0x0A] + Array("ERROR \\x41 \\\\ \\N tab\there\\t\n".utf8))
        files.append(("bytes.log", directory.path("bytes.log")))
        let names = files.map(\.name)
        let expected = Self.sorted(try await SQLiteOutputTests.expectedRows(["ERROR"], files: files))
        // Under the sanitizer (each request some 10x slower, the run took 20 minutes) batches of
        // 50 and 70 still cut the files' lines at many places.
        let small = underSanitizer ? ("50", "70") : ("5", "7")
        for (batch, jobs, compress) in [(small.0, "1", "none"), (small.1, "2", "gzip"), ("1000", "4", "auto"), ("100000", "1", "gzip")] {
            let database = try await cluster.createDatabase()
            let result = try await Shell.bash("""
                cd \(Shell.quote(directory.path))
                "$SLUICE" ERROR -b \(batch) -j \(jobs) -O \(Shell.quote(cluster.url(database) + "?compress=\(compress)")) \(Shell.quote(names))
                """)
            #expect(result.status == 0, "-b \(batch) -j \(jobs): \(result.stderr)")
            let rows = Self.sorted(try await cluster.rows(database))
            #expect(rows.count == expected.count, "-b \(batch) -j \(jobs)")
            #expect(SQLiteOutputTests.firstDifference(rows, expected) == nil, "-b \(batch) -j \(jobs)")
        }
        // The table's shape, as the issue gives it; the host names the source.
        let database = try await cluster.createDatabase()
        let inverted = try await Shell.bash("""
            cd \(Shell.quote(directory.path))
            CLICKHOUSE_USER=\(ClickHouseCluster.user) CLICKHOUSE_PASSWORD=\(ClickHouseCluster.password) \
              "$SLUICE" -v -e INFO -O 'clickhouse://127.0.0.1:\(cluster.httpPorts[0])/\(database)?table=not_info' \(Shell.quote(names))
            """)
        #expect(inverted.status == 0, "\(inverted.stderr)")
        #expect(Self.sorted(try await cluster.rows(database, table: "not_info"))
                == Self.sorted(try await SQLiteOutputTests.expectedRows(["-v", "-e", "INFO"], files: files)))
        let host = try await Shell.output("hostname").trimmedText
        let sources = try await cluster.query("SELECT DISTINCT source FROM \(database).not_info")
        let inodes = try await Shell.output("cd \(Shell.quote(directory.path)) && stat -c '%d.%i' plain.log odd.log again.log.gz bytes.log").trimmedText
        let expectedSources = zip(["plain.log", "odd.log", "again.log.gz", "bytes.log"], inodes.split(separator: "\n")).map {
            "\(host):\(directory.path($0))#\($1)."
        }
        #expect(Set(sources.split(separator: "\n").map { String($0.prefix { $0 != "." } + $0.dropFirst($0.prefix { $0 != "." }.count).prefix(1)) }).count == 4)
        for prefix in expectedSources {
            #expect(sources.split(separator: "\n").contains { $0.hasPrefix(prefix) && $0.count == prefix.count + 8 }, "\(prefix) in \(sources)")
        }
        let columns = try await cluster.query("SELECT name, type, engine_full FROM system.columns ANY LEFT JOIN system.tables USING (database) WHERE database = '\(database)' AND table = 'not_info' AND name = 'source' AND system.tables.name = 'not_info'")
        #expect(columns.hasPrefix("source\tString\tReplacingMergeTree ORDER BY (source, line_no)"), "\(columns)")
        let shape = try await cluster.query("SELECT name, type FROM system.columns WHERE database = '\(database)' AND table = 'not_info'")
        #expect(shape == "source\tString\nline_no\tUInt64\nts\tDateTime\nlevel\tString\nline\tString\nfields\tString\n")
    }

    @Test("each row's time, level and fields, read as --where and --json read them: text, JSON, logfmt, syslog (--year), --tz; none: zero and empty")
    func timeLevelAndFields() async throws {
        let cluster = try await ClickHouseCluster.shared()
        let database = try await cluster.createDatabase()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("mixed.log", Array("""
            2026-11-30T14:00:00Z ERROR [api] boom user=7 msg=inner
            {"level":"warn","ts":"2026-11-30T15:00:00.5+01:00","msg":"slow","user":{"id":7}}
            level=E msg="a \\"quoted\\" b" ts=1796047200
            Nov 30 14:00:00 host sshd[42]: Failed password
            2026-11-30 16:00:00 info local time
            no time, no level

            """.utf8))
        let result = try await Shell.bash("""
            cd \(Shell.quote(directory.path))
            "$SLUICE" -e '' --year 2025 --tz +02:00 -O \(Shell.quote(cluster.url(database))) mixed.log
            """)
        #expect(result.status == 0, "\(result.stderr)")
        _ = try await cluster.query("OPTIMIZE TABLE \(database).logs FINAL")
        let rows = try await cluster.query("SELECT line_no, toUnixTimestamp(ts), level FROM \(database).logs ORDER BY line_no")
        #expect(rows == """
            1\t1796047200\terror
            2\t1796047200\twarn
            3\t1796047200\terror
            4\t1764504000\t
            5\t1796047200\tinfo
            6\t0\t

            """, "\(rows)")
        // The fields column is JSON: a JSON line's own object, the others' parts as strings;
        // a text line's message is not repeated there (the row holds the line), its pairs are
        // (line 1's msg=inner is a pair of its message).
        let fields = try await Shell.bashOutput("""
            clickhouse-client --port \(cluster.tcpPorts[0]) --query "SELECT fields FROM \(database).logs ORDER BY line_no FORMAT TabSeparatedRaw" \
              | jq -c '[.msg // .message, .user, .level, .component]'
            """)
        #expect(fields == """
            ["inner","7","ERROR","api"]
            ["slow",{"id":7},"warn",null]
            ["a \\"quoted\\" b",null,"E",null]
            [null,null,null,null]
            [null,null,"info",null]
            [null,null,null,null]

            """, "\(fields)")
    }

    @Test("two hosts, two shards: each sluice loads its own log into its own server, and the Distributed table holds exactly grep's lines")
    func twoShards() async throws {
        let cluster = try await ClickHouseCluster.shared()
        let database = try await cluster.createDatabase()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        _ = try await Shell.output("""
            cd \(Shell.quote(directory.path))
            zcat \(Shell.quote(Paths.fixture("corpus-text.log.gz"))) > a.log; zcat \(Shell.quote(Paths.fixture("corpus-mixed.log.gz"))) > b.log
            """)
        let result = try await Shell.bash("""
            cd \(Shell.quote(directory.path))
            "$SLUICE" -E 'ERROR|WARN' -j 2 -O \(Shell.quote(cluster.url(database, shard: 0))) a.log 2> err0 & p0=$!
            "$SLUICE" -E 'ERROR|WARN' -j 2 -O \(Shell.quote(cluster.url(database, shard: 1))) b.log 2> err1 & p1=$!
            wait $p0; echo "shard 0: $?"; wait $p1; echo "shard 1: $?"; cat err0 err1
            """, timeout: .seconds(300))
        #expect(result.stdoutText == "shard 0: 0\nshard 1: 0\n", "\(result.stdoutText)")
        // The user's side of the recipe: one Distributed table over both shards' tables.
        try await cluster.query("CREATE TABLE \(database).logs_all AS \(database).logs ENGINE = Distributed(logs, \(database), logs)")
        for shard in 0..<2 { try await cluster.query("OPTIMIZE TABLE \(database).logs FINAL", shard: shard) }
        let lines = try await Shell.run("""
            clickhouse-client --port \(cluster.tcpPorts[0]) --query "SELECT line FROM \(database).logs_all ORDER BY source, line_no FORMAT TabSeparatedRaw"
            """)
        let grep = try await Shell.run("cd \(Shell.quote(directory.path)) && LC_ALL=C grep -E 'ERROR|WARN' a.log; LC_ALL=C grep -E 'ERROR|WARN' b.log")
        #expect(lines.status == 0 && lines.stdout.count > 1000)
        #expect(lines.stdout == grep.stdout, "\(lines.stdout.count) bytes against grep's \(grep.stdout.count)")
        // The queries a user runs next: counts by level (a.log's, whose level is its second word).
        let byLevel = try await cluster.query("SELECT level, count() FROM \(database).logs_all WHERE source LIKE '%/a.log#%' GROUP BY level ORDER BY level")
        let levels = try await Shell.output("""
            cd \(Shell.quote(directory.path)) && LC_ALL=C grep -E 'ERROR|WARN' a.log | awk '{print tolower($2)}' | sort | uniq -c | awk '{print $2 "\\t" $1}'
            """).trimmedText
        #expect(byLevel.trimmingCharacters(in: .whitespacesAndNewlines) == levels, "\(byLevel)")
    }

    @Test("SIGKILL at random moments with -j2, then --resume until done: after the parts merge, every selected line exactly once")
    func killAndResume() async throws {
        let cluster = try await ClickHouseCluster.shared()
        let database = try await cluster.createDatabase()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let count = underSanitizer ? 100_000 : 400_000
        var text: [UInt8] = []
        for index in 1...count {
            text += Array("\(index) \(index % 3 == 0 ? "ERROR" : "INFO") some payload to make the line longer \(index * 7)\n".utf8)
        }
        try directory.write("a.log", text)
        _ = try await Shell.output("cd \(Shell.quote(directory.path)) && head -c \(count * 22) a.log | gzip -1 > b.log.gz && tail -c \(count * 7) a.log > c.log")
        let names = ["a.log", "b.log.gz", "c.log"]
        let expected = Self.sorted(try await SQLiteOutputTests.expectedRows(["ERROR"], files: names.map { ($0, directory.path($0)) }))
        let url = Shell.quote(cluster.url(database))
        let result = try await Shell.bash("""
            cd \(Shell.quote(directory.path))
            kills=0
            for delay in 0.1 0.3 0.05 0.6 0.2 0.45 0.15 0.8; do
              "$SLUICE" ERROR -b 997 -j 2 -O \(url) --resume a.log b.log.gz c.log 2>>err & p=$!
              sleep $delay; kill -KILL $p 2>/dev/null && kills=$((kills+1)); wait $p
            done
            "$SLUICE" ERROR -b 997 -j 2 -O \(url) --resume a.log b.log.gz c.log 2>>err; echo "last: $?"
            echo "kills: $kills"
            cat err
            """, timeout: .seconds(300))
        #expect(result.stdoutText.contains("last: 0") || result.stdoutText.contains("last: 1"), "\(result.stdoutText)")
        let kills = result.stdoutLines.first { $0.hasPrefix("kills: ") }.flatMap { Int($0.dropFirst(7)) } ?? 0
        #expect(kills >= 3, "\(result.stdoutText)")
        let rows = Self.sorted(try await cluster.rows(database))
        #expect(rows.count == expected.count, "\(result.stdoutText)")
        #expect(SQLiteOutputTests.firstDifference(rows, expected) == nil)
        // Done: a further --resume finds nothing to send.
        let again = try await Shell.bash("""
            cd \(Shell.quote(directory.path)); "$SLUICE" ERROR --stats -O \(url) --resume a.log b.log.gz c.log
            """)
        #expect(again.status == 1, "\(again.stderr)")
        #expect(again.stderr.contains("selected 0 lines"), "\(again.stderr)")
    }

    @Test("the server killed and started again mid-run: nothing lost; a server that stays down: exit 2 after --retry-max, what was stored kept")
    func serverRestart() async throws {
        // A cluster of its own: the other tests' server is not killed under them.
        let cluster = try await ClickHouseCluster.start()
        defer { Task { await cluster.remove() } }
        let database = try await cluster.createDatabase()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // Lines trickle in for about 4 s (batches are sent by the timeout as they come); the
        // second shard's server is killed after 1 s and started again 1.5 s later.
        let result = try await Shell.bash("""
            cd \(Shell.quote(directory.path))
            (for i in $(seq 0 39); do seq -f "%g ERROR x" $((i * 1000 + 1)) $((i * 1000 + 1000)); sleep 0.1; done) \\
              | timeout 90 "$SLUICE" ERROR -b 500 -j 2 --batch-timeout 50ms --retry-max 60s -O \(Shell.quote(cluster.url(database, shard: 1))) 2> err & p=$!
            sleep 1
            \(cluster.killScript(1))
            sleep 1.5
            \(cluster.startScript(1))
            wait $p; echo "status: $?"
            cat err
            """, timeout: .seconds(150))
        #expect(result.stdoutLines.first == "status: 0", "\(result.stdoutText) \(result.stderr)")
        try await cluster.query("OPTIMIZE TABLE \(database).logs FINAL", shard: 1)
        let counts = try await cluster.query("SELECT count(), uniqExact(line_no), min(line_no), max(line_no), countIf(line != concat(toString(line_no), ' ERROR x')) FROM \(database).logs", shard: 1)
        #expect(counts == "40000\t40000\t1\t40000\t0\n", "\(counts)")

        // Down for good: the run gives up after --retry-max, exit 2, one line naming the reason;
        // every batch stored before stays.
        let database2 = try await cluster.createDatabase()
        let down = try await Shell.bash("""
            cd \(Shell.quote(directory.path))
            seq -f "%g ERROR y" 1 20000 > y.log
            (cat y.log; while [ ! -f go ]; do sleep 0.1; done; cat y.log) | timeout 60 "$SLUICE" ERROR -b 1000 --batch-timeout 50ms --retry-max 2s -O \(Shell.quote(cluster.url(database2, shard: 1))) 2> err2 & p=$!
            for i in $(seq 1 600); do [ "$(clickhouse-client --port \(cluster.tcpPorts[1]) --query 'SELECT count() FROM \(database2).logs' 2>/dev/null)" = 20000 ] && break; sleep 0.1; done
            \(cluster.killScript(1))
            touch go
            start=$(date +%s); wait $p; echo "status: $? after $(( $(date +%s) - start ))s"
            cat err2
            \(cluster.startScript(1)) > /dev/null
            """, timeout: .seconds(150))
        let downLines = down.stdoutLines
        #expect(downLines.count == 2, "\(down.stdoutText) \(down.stderr)")
        guard downLines.count == 2 else { return }
        #expect(downLines[0].hasPrefix("status: 2 after "), "\(downLines[0])")
        #expect(downLines[1].hasPrefix("sluice: clickhouse://writer@127.0.0.1:\(cluster.httpPorts[1])/\(database2)?table=logs: gave up after 2"), "\(downLines[1])")
        #expect(downLines[1].contains("and those after it are not stored: ") && downLines[1].contains("Connection refused"), "\(downLines[1])")
        let kept = try await cluster.query("SELECT count() FROM \(database2).logs", shard: 1)
        #expect((Int(kept.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) >= 20000, "\(kept)")
    }

    @Test("the cron recipe through logrotate (create, then copytruncate): the new file's lines 1... are new rows, none replaces the old file's")
    func rotatedFileIsAnotherSource() async throws {
        let cluster = try await ClickHouseCluster.shared()
        let database = try await cluster.createDatabase()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let url = Shell.quote(cluster.url(database))
        let result = try await Shell.bash("""
            cd \(Shell.quote(directory.path))
            seq -f 'first %g ERROR' 1 3000 > app.log
            "$SLUICE" ERROR --resume -O \(url) app.log; echo "first $?"
            seq -f 'first %g ERROR' 3001 3500 >> app.log
            mv app.log app.log.1; seq -f 'second %g ERROR' 1 2000 > app.log
            "$SLUICE" ERROR --resume -O \(url) app.log app.log.1; echo "second $?"
            cp app.log app.log.2; : > app.log; seq -f 'third %g ERROR' 1 1000 >> app.log
            "$SLUICE" ERROR --resume -O \(url) app.log; echo "third $?"
            """)
        #expect(result.stdoutText == "first 0\nsecond 0\nthird 0\n", "\(result.stdoutText) \(result.stderr)")
        try await cluster.query("OPTIMIZE TABLE \(database).logs FINAL")
        let counts = try await cluster.query("""
            SELECT splitByChar(' ', line)[1] AS file, count(), uniqExact(line), min(line_no), max(line_no) FROM \(database).logs GROUP BY file ORDER BY file
            """)
        // The renamed file's last 500 lines are read on from its checkpoint (found by its
        // inode), as rows of app.log.1; the copy (app.log.2) is not exported again.
        #expect(counts == "first\t3500\t3500\t1\t3500\nsecond\t2000\t2000\t1\t2000\nthird\t1000\t1000\t1\t1000\n", "\(counts)")
    }

    @Test("a batch sent again merges with its first copy: a small file grown since, a file renamed by a rotation since its checkpoint fell behind, a file named another way")
    func resentRowsMerge() async throws {
        let cluster = try await ClickHouseCluster.shared()
        let database = try await cluster.createDatabase()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let url = Shell.quote(cluster.url(database))
        let host = try await Shell.output("hostname").trimmedText
        let result = try await Shell.bash("""
            cd \(Shell.quote(directory.path)); mkdir sub
            printf 'ERROR a\\nERROR b\\n' > small.log
            "$SLUICE" ERROR -O \(url) small.log; echo "small $?"
            printf 'ERROR c\\n' >> small.log
            "$SLUICE" ERROR -O \(url) small.log; echo "grown $?"
            "$SLUICE" ERROR -O \(url) ./small.log ../\(Shell.quote(URL(fileURLWithPath: directory.path).lastPathComponent))/small.log 2>&1; echo "named twice $?"
            cd sub && "$SLUICE" ERROR -O \(url) ../small.log; echo "from elsewhere $?"; cd ..
            seq -f 'rot %g ERROR' 1 200 > rot.log
            "$SLUICE" ERROR -b 50 --resume -O \(url) rot.log; echo "rot $?"
            """)
        #expect(result.stdoutLines.filter { !$0.hasPrefix("sluice:") } == ["small 0", "grown 0", "named twice 2", "from elsewhere 0", "rot 0"],
                "\(result.stdoutText) \(result.stderr)")
        // The last two batches' checkpoints lost (as by a kill between a batch and its
        // checkpoint): the checkpoint says line 100, at a later version.
        let key = "\(host):\(directory.path("rot.log"))"
        let stored = try await cluster.query("""
            SELECT device, inode, fingerprint, fingerprint_length FROM \(database).sluice_checkpoints FINAL WHERE source = '\(key)'
            """).trimmingCharacters(in: .newlines).split(separator: "\t").map(String.init)
        #expect(stored.count == 4, "\(stored)")
        guard stored.count == 4 else { return }
        let offset = try await Shell.output("cd \(Shell.quote(directory.path)) && head -100 rot.log | wc -c").trimmedText
        try await cluster.query("""
            INSERT INTO \(database).sluice_checkpoints VALUES ('logs', '\(key)', \(offset), 100, \(stored[0]), \(stored[1]), '\(stored[2])', \(stored[3]), 99999999999999999)
            """)
        let rotated = try await Shell.bash("""
            cd \(Shell.quote(directory.path))
            mv rot.log rot.log.1; seq -f 'new %g ERROR' 1 30 > rot.log
            "$SLUICE" ERROR --stats --resume -O \(url) rot.log.1 rot.log
            """)
        #expect(rotated.status == 0, "\(rotated.stderr)")
        #expect(rotated.stderr.contains("selected 130 lines"), "\(rotated.stderr)")
        try await cluster.query("OPTIMIZE TABLE \(database).logs FINAL")
        let counts = try await cluster.query("""
            SELECT splitByChar(' ', line)[1] AS file, count(), uniqExact(line) FROM \(database).logs GROUP BY file ORDER BY file
            """)
        #expect(counts == "ERROR\t3\t3\nnew\t30\t30\nrot\t200\t200\n", "\(counts)")
    }

    @Test("bad targets: a one-line error naming the server's reason, exit 2, nothing read; what cannot go with a ClickHouse table is refused")
    func badTargets() async throws {
        let cluster = try await ClickHouseCluster.shared()
        let database = try await cluster.createDatabase()
        try await cluster.query("CREATE TABLE \(database).other (a String, b UInt8) ENGINE = MergeTree ORDER BY a")
        let shape = "source String, line_no UInt64, ts DateTime, level String, line String, fields String"
        try await cluster.query("CREATE TABLE \(database).plain (\(shape)) ENGINE = MergeTree ORDER BY (source, line_no)")
        try await cluster.query("CREATE TABLE \(database).spread AS \(database).plain ENGINE = Distributed(logs, \(database), plain)")
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("app.log", Array("ERROR one\n".utf8))
        let port = cluster.httpPorts[0]
        let base = "clickhouse://writer@127.0.0.1:\(port)"
        let engineAdvice = "sluice writes into a ReplacingMergeTree ORDER BY (source, line_no), where a batch sent twice is one copy once parts merge "
            + "(on a cluster: each host into its shard's table, queries through a Distributed one): name another table with ?table=NAME"
        let closed = try await Shell.output("python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])'").trimmedText
        let cases: [(target: String, message: String)] = [
            ("clickhouse://writer:\(ClickHouseCluster.password)@127.0.0.1:\(port)/\(database)?table=other",
             "\(base)/\(database)?table=other: table \(database).other has the columns (a String, b UInt8); sluice writes (source String, line_no UInt64, ts DateTime, level String, line String, fields String): name another table with ?table=NAME"),
            ("clickhouse://writer:\(ClickHouseCluster.password)@127.0.0.1:\(port)/\(database)?table=plain",
             "\(base)/\(database)?table=plain: table \(database).plain is 'MergeTree ORDER BY (source, line_no) SETTINGS index_granularity = 8192'; \(engineAdvice)"),
            ("clickhouse://writer:\(ClickHouseCluster.password)@127.0.0.1:\(port)/\(database)?table=spread",
             "\(base)/\(database)?table=spread: table \(database).spread is 'Distributed(logs, \(database), plain)'; \(engineAdvice)"),
            ("clickhouse://writer:\(ClickHouseCluster.password)@127.0.0.1:\(port)/no_such_db", "\(base)/no_such_db?table=logs: cannot connect: Database no_such_db doesn't exist"),
            ("clickhouse://writer:wrong@127.0.0.1:\(port)/\(database)", "\(base)/\(database)?table=logs: cannot connect: Wrong password for user writer"),
            ("clickhouse://nobody@127.0.0.1:\(port)/\(database)", "clickhouse://nobody@127.0.0.1:\(port)/\(database)?table=logs: cannot connect: Unknown user nobody"),
            ("clickhouse://127.0.0.1:\(closed)/\(database)", "clickhouse://default@127.0.0.1:\(closed)/\(database)?table=logs: cannot connect: Connection refused"),
            ("clickhouse://127.0.0.1:99999/x", "--output: clickhouse://127.0.0.1:99999/x: '99999' is not a port (clickhouse://USER:PASSWORD@HOST:PORT/DATABASE?table=NAME)"),
            ("clickhouse://u:secret@127.0.0.1/x?tabel=y", "--output: 'tabel' in clickhouse://u:***@127.0.0.1/x?tabel=y: the settings are table=NAME, compress=gzip|none|auto, user and password"),
            ("clickhouse://127.0.0.1/x?compress=zstd", "--output: clickhouse://127.0.0.1/x?compress=zstd: compress=zstd: gzip, none or auto (clickhouse://USER:PASSWORD@HOST:PORT/DATABASE?table=NAME)"),
            ("clickhouse://127.0.0.1/x-y", "--output: clickhouse://127.0.0.1/x-y: database name 'x-y': letters, digits and _ only, not starting with a digit (clickhouse://USER:PASSWORD@HOST:PORT/DATABASE?table=NAME)"),
            ("clickhouses://u:secret@h/db", "--output: 'clickhouses://u:***@h/db' is not an output sluice writes: ClickHouse's HTTP interface is clickhouse://HOST:PORT/DB (TLS is not offered yet); for a file of that name write ./clickhouses://u:***@h/db"),
            ("clickhouse:x", "--output: 'clickhouse:x' is not a database target (postgresql://USER@HOST:PORT/DB, clickhouse://HOST:PORT/DB, sqlite:PATH, lower case); for a file of that name write ./clickhouse:x"),
        ]
        for (target, message) in cases {
            let result = try await Shell.bash("""
                cd \(Shell.quote(directory.path)); unset CLICKHOUSE_USER CLICKHOUSE_PASSWORD
                "$SLUICE" ERROR -O \(Shell.quote(target)) app.log
                """)
            #expect(result.status == 2, "\(target)")
            #expect(result.stderr == "sluice: \(message)\n", "\(target)")
            #expect(!result.stderr.contains("secret") && !result.stderr.contains("wrong") && !result.stderr.contains(ClickHouseCluster.password))
        }
        // The refused runs created nothing.
        let tables = try await cluster.query("SELECT name FROM system.tables WHERE database = '\(database)' ORDER BY name")
        #expect(tables == "other\nplain\nspread\n", "\(tables)")
        let refused = try await Shell.bash("""
            cd \(Shell.quote(directory.path))
            "$SLUICE" --follow ERROR -O \(Shell.quote(cluster.url(database))) app.log; echo "follow $?"
            "$SLUICE" --json -e ERROR -O \(Shell.quote(cluster.url(database))) app.log; echo "json $?"
            """)
        #expect(refused.stdoutText == "follow 2\njson 2\n")
        let prefixes = ["sluice: --follow: cannot be combined with -O clickhouse://", "sluice: --json: shapes the lines written"]
        let messages = refused.stderr.split(separator: "\n")
        #expect(messages.count == 2 && zip(messages, prefixes).allSatisfy { $0.hasPrefix($1) }, "\(refused.stderr)")
    }

    /// `--record auto`: each selected record is a row, `line_no` its first line's, `line` its
    /// lines joined, `level` and `ts` its first line's.
    @Test("records are rows: an ERROR with its stack trace is one row")
    func recordsAreRows() async throws {
        let cluster = try await ClickHouseCluster.shared()
        let database = try await cluster.createDatabase()
        let corpus = Paths.fixture("corpus-text.log.gz")
        let result = try await Shell.bash("\"$SLUICE\" --record auto -e Exception -b 7 -O \(Shell.quote(cluster.url(database))) \(Shell.quote(corpus))")
        #expect(result.status == 0, "\(result.stderr)")
        let rows = try await cluster.query("SELECT line_no, hex(line) FROM \(database).logs FINAL ORDER BY line_no")
        let expected = try await RecordsTests.expectedRecordRows(corpus, needle: "Exception")
        let got = rows.split(separator: "\n").map { $0.replacingOccurrences(of: "\t", with: " ") }
        #expect(got.count == expected.count && expected.count > 10)
        #expect(SQLiteOutputTests.firstDifference(got, expected) == nil)
        // The level of a row is its first line's (`TIME LEVEL [component] ...`).
        let levels = try await cluster.query("SELECT level FROM \(database).logs FINAL ORDER BY line_no")
        let firstLevels = try await Shell.output("zcat \(Shell.quote(corpus)) | \(RecordsTests.oracle(select: #"any(b"Exception" in l for l in r)"#))"
                                                 + " | grep -E '^[0-9]{4}-' | awk '{print tolower($2)}'")
        #expect(levels == String(decoding: firstLevels, as: UTF8.self), "\(levels.prefix(200))")
    }
}
