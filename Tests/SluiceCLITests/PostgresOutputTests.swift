import Foundation
import Testing

/// Issue 11: `-O postgresql://`, against a real server the tests start (`PostgresServer`),
/// with psql as the oracle's reader: the rows are grep's lines byte for byte (with their file
/// and number), a transaction per batch, exactly once across SIGKILL and `--resume`, across a
/// server stopped and started mid-run, and from several processes at once.
@Suite(.enabled(if: PostgresServer.available, "needs PostgreSQL's initdb, pg_ctl and psql (make deps)"))
struct PostgresOutputTests {
    /// `(file, line_no, HEX(line))` rows as `FILE NUMBER HEX`, the host taken off the source,
    /// ordered by file (as `files` lists them) and number: under `-j` batches commit in order
    /// but their rows' ids interleave.
    static func rows(_ server: PostgresServer, _ database: String, table: String = "logs", files: [String]) async throws -> [String] {
        let text = try await server.psql(database, """
            select substr(source, strpos(source, ':') + 1) || ' ' || line_no || ' ' || upper(encode(line, 'hex')) from \(table)
            """)
        let rows = text.split(separator: "\n").map(String.init)
        return rows.sorted { a, b in
            let (fa, na) = Self.key(a, files)
            let (fb, nb) = Self.key(b, files)
            return fa != fb ? fa < fb : na < nb
        }
    }

    private static func key(_ row: String, _ files: [String]) -> (Int, Int) {
        let parts = row.split(separator: " ", omittingEmptySubsequences: false)
        return (files.firstIndex(of: String(parts[0])) ?? -1, Int(parts[1]) ?? -1)
    }

    @Test("rows are grep's lines with their file and number: plain, gzip, CRLF, NUL, invalid UTF-8, no final newline; -b and -j")
    func rowsAreGrepsLines() async throws {
        let server = try await PostgresServer.shared()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var files = try await SQLiteOutputTests.oddInputs(in: directory)
        try directory.write("bytes.log", (0...255).map { UInt8($0) }.filter { $0 != 0x0A } + [0x0A] + Array("ERROR \\x41 \\\\ \\N tab\there\n".utf8))
        files.append(("bytes.log", directory.path("bytes.log")))
        let names = files.map(\.name)
        let expected = try await SQLiteOutputTests.expectedRows(["ERROR"], files: files)
        for (batch, jobs) in [("1", "1"), ("7", "2"), ("1000", "4"), ("100000", "1")] {
            let database = try await server.createDatabase()
            let result = try await Shell.bash("""
                \(server.environment); cd \(Shell.quote(directory.path))
                "$SLUICE" ERROR -b \(batch) -j \(jobs) -O \(Shell.quote(database.url)) \(Shell.quote(names))
                """)
            #expect(result.status == 0, "-b \(batch) -j \(jobs): \(result.stderr)")
            let rows = try await Self.rows(server, database.name, files: names)
            #expect(rows.count == expected.count, "-b \(batch) -j \(jobs)")
            #expect(SQLiteOutputTests.firstDifference(rows, expected) == nil, "-b \(batch) -j \(jobs)")
        }
        // -v into a named table; the host names the source.
        let database = try await server.createDatabase()
        let inverted = try await Shell.bash("""
            \(server.environment); cd \(Shell.quote(directory.path))
            "$SLUICE" -v -e INFO -O \(Shell.quote(database.url + "?table=not_info")) \(Shell.quote(names))
            """)
        #expect(inverted.status == 0, "\(inverted.stderr)")
        #expect(try await Self.rows(server, database.name, table: "not_info", files: names)
                == SQLiteOutputTests.expectedRows(["-v", "-e", "INFO"], files: files))
        let host = try await Shell.output("hostname").trimmedText
        let sources = try await server.psql(database.name, "select distinct source from not_info")
        #expect(Set(sources.split(separator: "\n").map(String.init)) == Set(["plain.log", "odd.log", "again.log.gz", "bytes.log"].map { "\(host):\($0)" }), "\(sources)")
        // The table's shape, as the issue gives it.
        let columns = try await server.psql(database.name, """
            select column_name || ' ' || data_type from information_schema.columns where table_name = 'not_info' order by ordinal_position
            """)
        #expect(columns == "id bigint\nsource text\nline_no bigint\nts timestamp with time zone\nlevel text\nline bytea\nfields jsonb\n")
    }

    @Test("file names that are not UTF-8: each its own source and checkpoint, its bytes escaped as \\xHH (SQLite too)")
    func namesThatAreNotUTF8() async throws {
        let (server, database, directory) = try await PostgresServer.forOneTest()
        defer { directory.remove() }
        let result = try await Shell.bash("""
            \(server.environment); cd \(Shell.quote(directory.path))
            printf 'ERROR a\\n' > "$(printf 'x\\377.log')"; printf 'ERROR b\\n' > "$(printf 'x\\376.log')"
            "$SLUICE" ERROR -O \(Shell.quote(database.url)) --resume x*.log; echo "status $?"
            "$SLUICE" ERROR -O \(Shell.quote(database.url)) --resume x*.log; echo "again $?"
            "$SLUICE" ERROR -O sqlite:db --resume x*.log; echo "sqlite $?"
            sqlite3 db "select source || ' ' || cast(line as text) from logs order by source"
            """)
        #expect(result.stdoutText == "status 0\nagain 1\nsqlite 0\nx\\xfe.log ERROR b\nx\\xff.log ERROR a\n", "\(result.stdoutText) \(result.stderr)")
        let host = try await Shell.output("hostname").trimmedText
        #expect(try await server.psql(database.name, "select source || ' ' || convert_from(line, 'UTF8') from logs order by source")
                == "\(host):x\\xfe.log ERROR b\n\(host):x\\xff.log ERROR a\n")
    }

    /// `--record auto`: a record is a row (its first line's number, its lines joined), its
    /// checkpoint after its last line.
    @Test("records are rows: an ERROR with its stack trace is one row, and --resume adds nothing")
    func recordsAreRows() async throws {
        let (server, database, directory) = try await PostgresServer.forOneTest()
        defer { directory.remove() }
        let corpus = Paths.fixture("corpus-text.log.gz")
        let result = try await Shell.bash("""
            \(server.environment); cd \(Shell.quote(directory.path))
            "$SLUICE" --record auto -e Exception -b 7 -j 2 -O \(Shell.quote(database.url)) --resume \(Shell.quote(corpus)); echo "status $?"
            "$SLUICE" --record auto -e Exception -b 7 -O \(Shell.quote(database.url)) --resume \(Shell.quote(corpus)); echo "again $?"
            """)
        #expect(result.stdoutText == "status 0\nagain 1\n", "\(result.stdoutText) \(result.stderr)")
        let rows = try await server.psql(database.name, "select line_no || ' ' || upper(encode(line, 'hex')) from logs order by line_no")
        let expected = try await RecordsTests.expectedRecordRows(corpus, needle: "Exception")
        #expect(expected.count > 10)
        #expect(SQLiteOutputTests.firstDifference(rows.split(separator: "\n").map(String.init), expected) == nil)
    }

    @Test("one transaction per batch: -b N rows share one transaction id, and the checkpoint moves with them")
    func aTransactionPerBatch() async throws {
        let (server, database, directory) = try await PostgresServer.forOneTest()
        defer { directory.remove() }
        let result = try await Shell.bash("""
            \(server.environment); cd \(Shell.quote(directory.path))
            seq -f 'ERROR %g' 1 1000 > a.log
            "$SLUICE" -e '' -b 7 -j 2 --batch-timeout 0 -O \(Shell.quote(database.url)) a.log || echo "status $?"
            """)
        #expect(result.status == 0 && result.stdoutText.isEmpty, "\(result.stdoutText) \(result.stderr)")
        // 1000 rows in batches of 7: 142 transactions of 7 rows and one of 6, in line order.
        let sizes = try await server.psql(database.name, "select count(*) from logs group by xmin::text order by min(line_no)")
        let counts = sizes.split(separator: "\n").map { Int($0) ?? 0 }
        #expect(counts.count == 143 && counts.dropLast().allSatisfy { $0 == 7 } && counts.last == 6, "\(counts)")
        let checkpoint = try await server.psql(database.name, "select byte_offset, line_no from sluice_checkpoints")
        #expect(checkpoint == "\(try await Shell.output("wc -c < \(Shell.quote(directory.path("a.log")))").trimmedText)|1000\n")
    }

    @Test("--stats counts what committed: all of a run that ends well; none of one stopped while the table is locked (a lock waits 5 s at most, then is retried)")
    func statsCountCommittedRows() async throws {
        let (server, database, directory) = try await PostgresServer.forOneTest()
        defer { directory.remove() }
        let result = try await Shell.bash("""
            \(server.environment); cd \(Shell.quote(directory.path))
            seq -f 'ERROR %g' 1 1000 > a.log
            "$SLUICE" --stats -e '' -b 300 -O \(Shell.quote(database.url)) a.log 2>&1 | grep -o 'wrote.*batches'
            { echo 'begin; lock table logs;'; sleep 9; echo 'commit;'; } | psql -qX -d \(database.name) & sleep 0.5
            "$SLUICE" --stats -e '' -b 300 -O \(Shell.quote(database.url)) a.log 2> e & p=$!
            sleep 1.5; kill -TERM $p; wait $p; echo "status $?"; wait
            grep -o 'wrote.*batches' e; grep -c 'stopped while retrying; the batch being sent (300 rows) and those after it are not committed' e
            """, timeout: .seconds(60))
        #expect(result.stdoutLines == ["wrote 1000 lines in 4 batches", "status 143", "wrote 0 lines in 0 batches", "1"],
                "\(result.stdoutText) \(result.stderr)")
    }

    @Test("SIGKILL at random moments with -j2, then --resume until done: every selected line exactly once")
    func killAndResume() async throws {
        let (server, database, directory) = try await PostgresServer.forOneTest()
        defer { directory.remove() }
        let count = underSanitizer ? 100_000 : 400_000
        var text: [UInt8] = []
        for index in 1...count {
            text += Array("\(index) \(index % 3 == 0 ? "ERROR" : "INFO") some payload to make the line longer \(index * 7)\n".utf8)
        }
        try directory.write("a.log", text)
        _ = try await Shell.output("cd \(Shell.quote(directory.path)) && head -c \(count * 22) a.log | gzip -1 > b.log.gz && tail -c \(count * 7) a.log > c.log")
        let names = ["a.log", "b.log.gz", "c.log"]
        let expected = try await SQLiteOutputTests.expectedRows(["ERROR"], files: names.map { ($0, directory.path($0)) })
        let script = """
            \(server.environment); cd \(Shell.quote(directory.path))
            kills=0
            for delay in 0.1 0.3 0.05 0.6 0.2 0.45 0.15 0.8; do
              "$SLUICE" ERROR -b 997 -j 2 -O \(Shell.quote(database.url)) --resume a.log b.log.gz c.log 2>>err & p=$!
              sleep $delay; kill -KILL $p 2>/dev/null && kills=$((kills+1)); wait $p
            done
            "$SLUICE" ERROR -b 997 -j 2 -O \(Shell.quote(database.url)) --resume a.log b.log.gz c.log 2>>err; echo "last: $?"
            echo "kills: $kills"
            cat err
            """
        let result = try await Shell.bash(script, timeout: .seconds(300))
        #expect(result.stdoutText.contains("last: 0") || result.stdoutText.contains("last: 1"), "\(result.stdoutText)")
        let kills = result.stdoutLines.first { $0.hasPrefix("kills: ") }.flatMap { Int($0.dropFirst(7)) } ?? 0
        #expect(kills >= 3, "\(result.stdoutText)")
        let rows = try await Self.rows(server, database.name, files: names)
        #expect(rows.count == expected.count, "\(result.stdoutText)")
        #expect(SQLiteOutputTests.firstDifference(rows, expected) == nil)
        let again = try await Shell.bash("""
            \(server.environment); cd \(Shell.quote(directory.path))
            "$SLUICE" ERROR -O \(Shell.quote(database.url)) --resume a.log b.log.gz c.log
            """)
        #expect(again.status == 1, "\(again.stderr)")
        #expect(try await Self.rows(server, database.name, files: names).count == expected.count)
    }

    @Test("the server stopped (-m immediate) and started again mid-run: nothing lost, nothing twice; a server that stays down: exit 2 after --retry-max, what was committed kept")
    func serverRestart() async throws {
        let server = try await PostgresServer.start()
        defer { Task { await server.remove() } }
        let database = try await server.createDatabase()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // Lines trickle in for about 4 s (batches commit by the timeout as they come); the
        // server is killed once rows have committed (a server down before sluice's first
        // connection is refused at the start, by design) and started again 1.5 s later.
        let script = """
            \(server.environment); cd \(Shell.quote(directory.path))
            (for i in $(seq 0 39); do seq -f "%g ERROR x" $((i * 1000 + 1)) $((i * 1000 + 1000)); sleep 0.1; done) \\
              | timeout 60 "$SLUICE" ERROR -b 500 -j 2 --batch-timeout 50ms -O \(Shell.quote(database.url)) 2> err & p=$!
            for i in $(seq 1 300); do [ "$(psql -XAt -d \(database.name) -c 'select count(*) > 0 from logs' 2>/dev/null)" = t ] && break; sleep 0.1; done
            \(getuid() == 0 ? "runuser -u postgres -- " : "")\(server.binaries)/pg_ctl -D \(server.directory)/data -m immediate -w stop > /dev/null
            sleep 1.5
            \(Shell.definesDetach)detach \(getuid() == 0 ? "runuser -u postgres -- " : "")\(server.binaries)/pg_ctl -D \(server.directory)/data -l \(server.directory)/server.log -w \\
              -o "-p \(server.port) -k \(server.directory) -c listen_addresses=127.0.0.1 -c fsync=off" start > /dev/null
            wait $p; echo "status: $?"
            cat err
            """
        let result = try await Shell.bash(script, timeout: .seconds(120))
        #expect(result.stdoutLines.first == "status: 0", "\(result.stdoutText) \(result.stderr)")
        let counts = try await server.psql(database.name, "select count(*), count(distinct line_no), min(line_no), max(line_no) from logs")
        #expect(counts == "40000|40000|1|40000\n", "\(result.stdoutText)")
        let lines = try await server.psql(database.name, "select count(*) from logs where convert_from(line, 'UTF8') <> line_no || ' ERROR x'")
        #expect(lines == "0\n")

        // Down for good: the run gives up after --retry-max, exit 2, one line naming the reason;
        // every batch committed before stays, and its checkpoint with it.
        let database2 = try await server.createDatabase()
        let down = try await Shell.bash("""
            \(server.environment); cd \(Shell.quote(directory.path))
            seq -f "%g ERROR y" 1 20000 > y.log
            (cat y.log; sleep 4; cat y.log) | timeout 60 "$SLUICE" ERROR -b 1000 --batch-timeout 50ms --retry-max 2s -O \(Shell.quote(database2.url)) 2> err2 & p=$!
            for i in $(seq 1 40); do [ "$(psql -XAt -d \(database2.name) -c 'select count(*) from logs' 2>/dev/null)" = 20000 ] && break; sleep 0.1; done
            \(getuid() == 0 ? "runuser -u postgres -- " : "")\(server.binaries)/pg_ctl -D \(server.directory)/data -m immediate -w stop > /dev/null
            start=$(date +%s); wait $p; echo "status: $? after $(( $(date +%s) - start ))s"
            cat err2
            \(Shell.definesDetach)detach \(getuid() == 0 ? "runuser -u postgres -- " : "")\(server.binaries)/pg_ctl -D \(server.directory)/data -l \(server.directory)/server.log -w \\
              -o "-p \(server.port) -k \(server.directory) -c listen_addresses=127.0.0.1 -c fsync=off" start > /dev/null
            """, timeout: .seconds(120))
        let downLines = down.stdoutLines
        #expect(downLines.count == 2, "\(down.stdoutText) \(down.stderr)")
        guard downLines.count == 2 else { return }
        #expect(downLines[0].hasPrefix("status: 2 after "), "\(downLines[0])")
        #expect(downLines[1].hasPrefix("sluice: postgresql://sluice@127.0.0.1:\(server.port)/\(database2.name)?table=logs: gave up after 2"), "\(downLines[1])")
        #expect(downLines[1].contains("and those after it are not committed: ") && downLines[1].contains("Connection refused"), "\(downLines[1])")
        let kept = try await server.psql(database2.name, "select count(*), count(distinct line_no), coalesce(max(line_no), 0) from logs")
        let parts = kept.trimmingCharacters(in: .newlines).split(separator: "|").compactMap { Int($0) }
        #expect(parts.count == 3 && parts[0] == parts[1] && parts[0] == parts[2] && parts[0] >= 20000 && parts[0] % 1000 == 0, "\(kept)")
    }

    @Test("a connection lost during the setup (its backend ended while it waits for a lock) is retried: the run goes on, every line once")
    func setupRetried() async throws {
        let (server, database, directory) = try await PostgresServer.forOneTest()
        defer { directory.remove() }
        let url = Shell.quote(database.url)
        let result = try await Shell.bash("""
            \(server.environment); cd \(Shell.quote(directory.path))
            seq -f '%g ERROR a' 1 10 > a.log; seq -f '%g ERROR b' 1 1000 > b.log
            "$SLUICE" ERROR -O \(url) a.log || echo "first run: $?"
            { echo 'begin; lock table sluice_checkpoints;'; sleep 6; echo 'commit;'; } | psql -qX -d \(database.name) & l=$!
            for i in $(seq 1 100); do [ "$(psql -XAt -d \(database.name) -c "select count(*) from pg_locks l join pg_class c on c.oid = l.relation \\
              where c.relname = 'sluice_checkpoints' and l.mode = 'AccessExclusiveLock' and l.granted")" = 1 ] && break; sleep 0.1; done
            "$SLUICE" ERROR -O \(url) b.log 2> err & p=$!
            for i in $(seq 1 300); do
              n=$(psql -XAt -d \(database.name) -c "select count(pg_terminate_backend(pid)) from pg_stat_activity \\
                where wait_event_type = 'Lock' and datname = current_database()")
              [ "$n" -gt 0 ] && break; sleep 0.1
            done
            echo "ended: $n"
            wait $p; echo "status: $?"; wait $l
            cat err
            """, timeout: .seconds(120))
        #expect(result.stdoutLines == ["ended: 1", "status: 0"], "\(result.stdoutText) \(result.stderr)")
        let counts = try await server.psql(database.name, "select count(*), count(distinct (source, line_no)) from logs")
        #expect(counts == "1010|1010\n")
    }

    @Test("several sluice processes at once into one table (the scale-out recipe), then --resume of all: every line once")
    func severalProcessesIntoOneTable() async throws {
        let (server, database, directory) = try await PostgresServer.forOneTest()
        defer { directory.remove() }
        let lines = underSanitizer ? 20_000 : 100_000
        let result = try await Shell.bash("""
            \(server.environment); cd \(Shell.quote(directory.path))
            for f in 1 2 3 4; do seq -f "%g ERROR from $f" 1 \(lines) > h$f.log; done
            for f in 1 2 3 4; do "$SLUICE" ERROR -j 2 -b 2000 -O \(Shell.quote(database.url)) --resume h$f.log 2> e$f & done; wait
            "$SLUICE" ERROR -O \(Shell.quote(database.url)) --resume h1.log h2.log h3.log h4.log; echo "again: $?"
            cat e1 e2 e3 e4
            """, timeout: .seconds(180))
        #expect(result.stdoutText == "again: 1\n", "\(result.stdoutText) \(result.stderr)")
        let counts = try await server.psql(database.name, "select count(*), count(distinct (source, line_no)) from logs")
        #expect(counts == "\(4 * lines)|\(4 * lines)\n")
    }


    @Test("two --resume runs of the same file at once: the one that finds the checkpoint moved stops (exit 2) before it duplicates a line")
    func overlappingRunsOfOneFile() async throws {
        let (server, database, directory) = try await PostgresServer.forOneTest()
        defer { directory.remove() }
        let lines = underSanitizer ? 60_000 : 300_000
        let result = try await Shell.bash("""
            \(server.environment); cd \(Shell.quote(directory.path))
            seq -f '%g ERROR x' 1 \(lines) > big.log
            "$SLUICE" ERROR -b 2000 -O \(Shell.quote(database.url)) --resume big.log 2> e1 & a=$!
            "$SLUICE" ERROR -b 2000 -O \(Shell.quote(database.url)) --resume big.log 2> e2 & b=$!
            wait $a; sa=$?; wait $b; sb=$?
            "$SLUICE" ERROR -O \(Shell.quote(database.url)) --resume big.log; echo "after: $?"
            echo "exits: $(( sa + sb ))"
            cat e1 e2
            """, timeout: .seconds(120))
        let out = result.stdoutLines
        #expect(out.first == "after: 0" || out.first == "after: 1", "\(result.stdoutText) \(result.stderr)")
        // Both 0 when one run ended before the other began; else one stopped with exit 2.
        #expect(out.dropFirst().first == "exits: 0" || out.dropFirst().first == "exits: 2", "\(result.stdoutText)")
        if out.dropFirst().first == "exits: 2" {
            #expect(result.stdoutText.contains("another run committed lines of big.log into table logs while this one ran"), "\(result.stdoutText)")
        }
        let counts = try await server.psql(database.name, "select count(*), count(distinct line_no) from logs")
        #expect(counts == "\(lines)|\(lines)\n")
    }
    @Test("bad targets: a one-line error naming the server's reason, exit 2, nothing read")
    func badTargets() async throws {
        let server = try await PostgresServer.shared()
        let database = try await server.createDatabase()
        try await server.psql(database.name, "create table other (a text, b integer)")
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("app.log", Array("ERROR one\n".utf8))
        let base = "postgresql://sluice@127.0.0.1:\(server.port)"
        let closedPort = server.port == 65535 ? 65534 : server.port + 1
        let cases: [(arguments: String, message: String)] = [
            ("\(base)/\(database.name)?table=other", "\(base)/\(database.name)?table=other: table other has the columns (a text, b integer); sluice writes (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, source text, line_no bigint, ts timestamptz, level text, line bytea, fields jsonb): name another table with ?table=NAME"),
            ("\(base)/no_such_db", "\(base)/no_such_db?table=logs: cannot connect: database \"no_such_db\" does not exist [SQLSTATE 3D000]"),
            ("postgresql://nobody@127.0.0.1:\(server.port)/\(database.name)", "postgresql://nobody@127.0.0.1:\(server.port)/\(database.name)?table=logs: cannot connect: password authentication failed for user \"nobody\" [SQLSTATE 28P01]"),
            ("postgresql://sluice:wrong@127.0.0.1:\(server.port)/\(database.name)", "postgresql://sluice@127.0.0.1:\(server.port)/\(database.name)?table=logs: cannot connect: password authentication failed for user \"sluice\" [SQLSTATE 28P01]"),
            ("postgresql://sluice@127.0.0.1:\(closedPort)/\(database.name)", "postgresql://sluice@127.0.0.1:\(closedPort)/\(database.name)?table=logs: cannot connect: Connection refused"),
            ("postgresql://sluice@127.0.0.1:99999/x", "--output: postgresql://sluice@127.0.0.1:99999/x: '99999' is not a port (postgresql://USER@HOST:PORT/DATABASE?table=NAME)"),
            ("postgresql://sluice@127.0.0.1/x?tabel=y", "--output: 'tabel' in postgresql://sluice@127.0.0.1/x?tabel=y: the settings are table=NAME, sslmode=disable|prefer|require, host=SOCKET-FOLDER, port, user, password and dbname"),
            ("postgresql://sluice:secret@127.0.0.1/x?table=1x", "--output: table name '1x': letters, digits and _ only, not starting with a digit"),
            ("postgresql://sluice@127.0.0.1/x?password=secret&bad=1", "--output: 'bad' in postgresql://sluice@127.0.0.1/x?password=***&bad=1: the settings are table=NAME, sslmode=disable|prefer|require, host=SOCKET-FOLDER, port, user, password and dbname"),
            ("postgresql:\(database.name)", "--output: 'postgresql:\(database.name)' is not a database target (postgresql://USER@HOST:PORT/DB, clickhouse://HOST:PORT/DB, sqlite:PATH, lower case); for a file of that name write ./postgresql:\(database.name)"),
            ("POSTGRESQL://sluice@127.0.0.1/x", "--output: 'POSTGRESQL://sluice@127.0.0.1/x' is not a database target (postgresql://USER@HOST:PORT/DB, clickhouse://HOST:PORT/DB, sqlite:PATH, lower case); for a file of that name write ./POSTGRESQL://sluice@127.0.0.1/x"),
        ]
        for (target, message) in cases {
            let result = try await Shell.bash("""
                \(server.environment); cd \(Shell.quote(directory.path))
                "$SLUICE" ERROR -O \(Shell.quote(target)) app.log
                """)
            #expect(result.status == 2, "\(target)")
            #expect(result.stderr == "sluice: \(message)\n", "\(target)")
            #expect(!result.stderr.contains("secret") && !result.stderr.contains("wrong") && !result.stderr.contains(PostgresServer.password))
        }
        // A password that is a letter of the server's message leaves the message intact.
        let short = try await Shell.bash("""
            cd \(Shell.quote(directory.path)); "$SLUICE" ERROR -O 'postgresql://sluice:a@127.0.0.1:\(server.port)/\(database.name)' app.log
            """)
        #expect(short.stderr == "sluice: postgresql://sluice@127.0.0.1:\(server.port)/\(database.name)?table=logs: cannot connect: password authentication failed for user \"sluice\" [SQLSTATE 28P01]\n")
        // The same file named twice would have two checkpoints: refused, as for SQLite.
        let twice = try await Shell.bash("""
            \(server.environment); cd \(Shell.quote(directory.path)); ln -f app.log hard.log
            "$SLUICE" ERROR -O \(Shell.quote(database.url)) app.log ./app.log; echo "status $?"
            "$SLUICE" ERROR -O sqlite:db app.log hard.log; echo "status $?"
            """)
        #expect(twice.stdoutText == "status 2\nstatus 2\n")
        #expect(twice.stderr == "sluice: ./app.log: names the same file as app.log: a file has one checkpoint, name it once\nsluice: hard.log: names the same file as app.log: a file has one checkpoint, name it once\n")
        // No table was created by a refused run.
        let tables = try await server.psql(database.name, "select string_agg(tablename, ',' order by tablename) from pg_tables where schemaname = 'public'")
        #expect(tables == "other\n")
        // The password from ~/.pgpass when PGPASSWORD is not set (and a file others may read is ignored).
        let pgpass = try await Shell.bash("""
            cd \(Shell.quote(directory.path)); export HOME=\(Shell.quote(directory.path))
            echo '127.0.0.1:\(server.port):*:sluice:\(PostgresServer.password)' > .pgpass; chmod 600 .pgpass
            "$SLUICE" ERROR -O \(Shell.quote("\(base)/\(database.name)")) app.log; echo "pgpass: $?"
            chmod 644 .pgpass
            "$SLUICE" ERROR -O \(Shell.quote("\(base)/\(database.name)")) app.log 2>&1; echo "readable: $?"
            """)
        #expect(pgpass.stdoutLines.count == 4, "\(pgpass.stdoutText) \(pgpass.stderr)")
        #expect(pgpass.stdoutLines.first == "pgpass: 0", "\(pgpass.stdoutText) \(pgpass.stderr)")
        #expect(pgpass.stdoutLines.dropFirst().first == "sluice: warning: password file \"\(directory.path(".pgpass"))\" has group or world access; permissions should be u=rw (0600) or less")
        #expect(pgpass.stdoutLines.last == "readable: 2", "\(pgpass.stdoutText)")
        #expect(try await server.psql(database.name, "select count(*) from logs") == "1\n")
    }

    @Test("--follow into PostgreSQL, killed, rotated twice while down (once compressed), resumed: every line once, in order")
    func followResumedAcrossRotations() async throws {
        let (server, database, directory) = try await PostgresServer.forOneTest()
        defer { directory.remove() }
        let result = try await Shell.bash(FollowTests.resumeAfterRotations(
            directory, output: "-O \(Shell.quote(database.url))",
            readBack: "psql -X -A -t -q \(Shell.quote(database.url)) -c \"select convert_from(line, 'UTF8') from logs order by id\"",
            environment: server.environment), timeout: .seconds(60))
        #expect(result.stdoutLines == ["status 143", "same"], "\(result.stdoutText) \(result.stderr)")
    }
}
