import Foundation
import Testing

/// Issue 11: `-O sqlite:PATH[?table=NAME]`, checked with the sqlite3 shell as the oracle:
/// the rows are grep's lines (with their file and number), a transaction per batch, and a run
/// killed at any moment then resumed leaves every line exactly once.
@Suite(.enabled(if: Tool.available("sqlite3"), "needs the sqlite3 shell"))
struct SQLiteOutputTests {
    /// `(source, line_no, line)` rows, in `id` order.
    static func rows(_ database: String, table: String = "logs") async throws -> [String] {
        let out = try await Shell.output("sqlite3 -separator ' ' \(Shell.quote(database)) 'select source, line_no, hex(line) from \(table) order by id'")
        return String(decoding: out, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// What the rows must be: for each file, `zcat -f FILE | grep -n -a ARGS` as
    /// `FILE NUMBER HEX(LINE)`.
    static func expectedRows(_ grepArguments: [String], files: [(name: String, path: String)]) async throws -> [String] {
        var expected: [String] = []
        for file in files {
            let result = try await Shell.run("zcat -f \(Shell.quote(file.path)) | grep -n -a \(Shell.quote(grepArguments))")
            for line in result.stdout.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast() {
                let colon = line.firstIndex(of: UInt8(ascii: ":"))!
                let number = String(decoding: line[..<colon], as: UTF8.self)
                var hex: [UInt8] = []
                hex.reserveCapacity(2 * line.count)
                for byte in line[(colon + 1)...] {
                    hex.append(Self.hexDigits[Int(byte >> 4)])
                    hex.append(Self.hexDigits[Int(byte & 15)])
                }
                expected.append("\(file.name) \(number) \(String(decoding: hex, as: UTF8.self))")
            }
        }
        return expected
    }

    static let hexDigits = Array("0123456789ABCDEF".utf8)

    /// The first row where `rows` and `expected` differ (nil: equal), short enough to read.
    static func firstDifference(_ rows: [String], _ expected: [String]) -> String? {
        for index in 0..<max(rows.count, expected.count) {
            let got = index < rows.count ? rows[index] : "(none)"
            let want = index < expected.count ? expected[index] : "(none)"
            if got != want { return "row \(index + 1): got \(got.prefix(120)), expected \(want.prefix(120))" }
        }
        return nil
    }

    static func oddInputs(in directory: TemporaryDirectory) async throws -> [(name: String, path: String)] {
        var text: [UInt8] = []
        for index in 1...3000 {
            let level = index % 7 == 0 ? "ERROR" : (index % 5 == 0 ? "WARN" : "INFO")
            text += Array("2026-12-01 10:00:\(index % 60) \(level) worker-\(index % 13) message \(index)\n".utf8)
        }
        try directory.write("plain.log", text)
        try directory.write("odd.log", Array("ERROR caf\u{e9}\r\n".utf8) + [0x45, 0x52, 0x52, 0x4F, 0x52, 0x00, 0xFF, 0x0A, 0x0A] + Array("ERROR no newline".utf8))
        try directory.write("empty.log", [])
        _ = try await Shell.output("cd \(Shell.quote(directory.path)) && gzip -c plain.log > again.log.gz")
        return ["plain.log", "odd.log", "empty.log", "again.log.gz"].map { ($0, directory.path($0)) }
    }

    @Test("rows are grep's lines with their file and number: plain, gzip, CRLF, NUL, invalid UTF-8, no final newline, across batches")
    func rowsAreGrepsLines() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = try await Self.oddInputs(in: directory)
        for batch in ["1", "7", "100", "100000"] {
            let database = "db-\(batch).sqlite"
            let result = try await Sluice.run(["ERROR", "-b", batch, "-O", "sqlite:\(database)"] + files.map(\.name), currentDirectory: directory.path)
            #expect(result.status == 0, "\(result.stderr)")
            let rows = try await Self.rows(directory.path(database))
            let expected = try await Self.expectedRows(["ERROR"], files: files)
            #expect(rows.count == expected.count, "-b \(batch)")
            #expect(Self.firstDifference(rows, expected) == nil, "-b \(batch)")
        }
        // -v, and no pattern at all (every line), into a named table.
        let inverted = try await Sluice.run(["-v", "-e", "INFO", "-O", "sqlite:v.sqlite?table=not_info"] + files.map(\.name), currentDirectory: directory.path)
        #expect(inverted.status == 0, "\(inverted.stderr)")
        #expect(try await Self.rows(directory.path("v.sqlite"), table: "not_info") == Self.expectedRows(["-v", "-e", "INFO"], files: files))
        let all = try await Sluice.run(["-p", "batch 50", "-O", "sqlite:all.sqlite"] + files.map(\.name), currentDirectory: directory.path)
        #expect(all.status == 0, "\(all.stderr)")
        #expect(try await Self.rows(directory.path("all.sqlite")) == Self.expectedRows(["-e", ""], files: files))
    }

    @Test("one transaction per batch: a reader sees whole batches only while the input is open")
    func aTransactionPerBatch() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // 250 lines into a pipe that stays open: -b 100 commits two batches, the other 50 wait
        // in an open transaction (no timeout), then the end of input commits them.
        let script = """
            cd \(Shell.quote(directory.path))
            mkfifo in
            "$SLUICE" -e ERROR -b 100 --batch-timeout 0 -O sqlite:db < in & p=$!
            exec 3> in
            seq -f 'ERROR %g' 1 250 >&3
            n=0; while [ "$(sqlite3 db 'select count(*) from logs' 2>/dev/null)" != 200 ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done
            sleep 0.3; echo "open: $(sqlite3 db 'select count(*) from logs')"
            exec 3>&-
            wait $p; echo "status: $?"
            echo "closed: $(sqlite3 db 'select count(*) from logs')"
            echo "source: $(sqlite3 db 'select distinct source from logs')"
            """
        let result = try await Shell.bash(script, timeout: .seconds(60))
        #expect(result.stdoutText == "open: 200\nstatus: 0\nclosed: 250\nsource: (standard input)\n", "\(result.stdoutText) \(result.stderr)")
    }

    @Test("SIGKILL at random moments, then --resume until done: every selected line exactly once, in order")
    func killAndResume() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var text: [UInt8] = []
        // Smaller under a sanitizer, whose binary is several times slower (the runs are still
        // killed mid-way) and which shares the machine with the rest of the suite.
        let count = underSanitizer ? 100_000 : 400_000
        for index in 1...count {
            text += Array("\(index) \(index % 3 == 0 ? "ERROR" : "INFO") some payload to make the line longer \(index * 7)\n".utf8)
        }
        try directory.write("a.log", text)
        _ = try await Shell.output("cd \(Shell.quote(directory.path)) && head -c \(count * 22) a.log | gzip -1 > b.log.gz && tail -c \(count * 7) a.log > c.log")
        let files = ["a.log", "b.log.gz", "c.log"].map { ($0, directory.path($0)) }
        let expected = try await Self.expectedRows(["ERROR"], files: files)
        let script = """
            cd \(Shell.quote(directory.path))
            kills=0
            for delay in 0.05 0.15 0.3 0.02 0.5 0.1 0.25 0.4 0.07 0.6; do
              "$SLUICE" ERROR -b 997 -O sqlite:db --resume a.log b.log.gz c.log 2>>err & p=$!
              sleep $delay; kill -KILL $p 2>/dev/null && kills=$((kills+1)); wait $p
            done
            "$SLUICE" ERROR -b 997 -O sqlite:db --resume a.log b.log.gz c.log 2>>err; echo "last: $?"
            echo "kills: $kills"
            cat err
            """
        let result = try await Shell.bash(script, timeout: .seconds(300))
        #expect(result.stdoutText.contains("last: 0") || result.stdoutText.contains("last: 1"), "\(result.stdoutText)")
        // Most runs must have been killed mid-way, or the test proves nothing.
        let kills = result.stdoutLines.first { $0.hasPrefix("kills: ") }.flatMap { Int($0.dropFirst(7)) } ?? 0
        #expect(kills >= 3, "\(result.stdoutText)")
        let rows = try await Self.rows(directory.path("db"))
        #expect(rows.count == expected.count, "\(result.stdoutText)")
        #expect(Self.firstDifference(rows, expected) == nil)
        // A run over the same files again: nothing new, nothing added (grep's status 1).
        let again = try await Sluice.run(["ERROR", "-O", "sqlite:db", "--resume", "a.log", "b.log.gz", "c.log"], currentDirectory: directory.path)
        #expect(again.status == 1, "\(again.stderr)")
        #expect(try await Self.rows(directory.path("db")).count == expected.count)
    }

    @Test("--resume starts a file again from its first line when its first bytes changed (rotated, replaced)")
    func resumeOfAReplacedFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("app.log", Array("ERROR one\nINFO two\nERROR three\n".utf8))
        _ = try await Sluice.run(["ERROR", "-O", "sqlite:db", "app.log"], currentDirectory: directory.path)
        // Grown: only the new lines.
        try directory.write("app.log", Array("ERROR one\nINFO two\nERROR three\nERROR four\n".utf8))
        _ = try await Sluice.run(["ERROR", "-O", "sqlite:db", "--resume", "app.log"], currentDirectory: directory.path)
        // Replaced by another file under the same name: all of it.
        try directory.write("app.log", Array("ERROR new one\nERROR new two\n".utf8))
        _ = try await Sluice.run(["ERROR", "-O", "sqlite:db", "--resume", "app.log"], currentDirectory: directory.path)
        let rows = try await Shell.output("sqlite3 \(Shell.quote(directory.path("db"))) \"select line_no || ' ' || cast(line as text) from logs order by id\"")
        #expect(String(decoding: rows, as: UTF8.self) == "1 ERROR one\n3 ERROR three\n4 ERROR four\n1 ERROR new one\n2 ERROR new two\n")
    }

    @Test("--resume as a cron job meets it: a writer caught in mid-line, ./name and name, a rotation by rename")
    func resumeAsACronJobMeetsIt() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let script = """
            cd \(Shell.quote(directory.path))
            seq -f 'line %g' 1 1000 > w.log; printf 'line 10' >> w.log
            "$SLUICE" -e '' -O sqlite:db w.log
            printf '01\\nline 1002\\n' >> w.log
            "$SLUICE" -e '' -O sqlite:db --resume w.log 2> warning; echo "grown: $?"
            "$SLUICE" -e '' -O sqlite:db --resume ./w.log; echo "dot: $?"
            mv w.log w.log.1; seq -f 'new %g' 1 5 > w.log
            "$SLUICE" -e '' -O sqlite:db --resume w.log w.log.1; echo "rotated: $?"
            sqlite3 db 'select count(*) from logs'
            sqlite3 db "select source || ' ' || line_no || ' ' || cast(line as text) from logs where id > 999 order by id"
            cat warning
            """
        let result = try await Shell.bash(script, timeout: .seconds(60))
        #expect(result.stdoutLines == [
            "grown: 0", "dot: 1", "rotated: 0", "1007",
            "w.log 1000 line 1000", "w.log 1001 line 10", "w.log 1002 line 1002",
            "w.log 1 new 1", "w.log 2 new 2", "w.log 3 new 3", "w.log 4 new 4", "w.log 5 new 5",
            "sluice: warning: w.log: line 1001 had no newline when it was committed and has grown since: its rest (3 bytes) is not exported",
        ], "\(result.stdoutText) \(result.stderr)")
    }

    static let overlapLines = underSanitizer ? 60_000 : 300_000

    @Test("two --resume runs of the same file at once: one stops before it duplicates a line; a stop ends a wait for the lock")
    func overlappingRunsAndALockedDatabase() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let script = """
            cd \(Shell.quote(directory.path))
            seq -f '%g ERROR x' 1 \(Self.overlapLines) > big.log
            "$SLUICE" ERROR -O sqlite:c.db --resume big.log 2> e1 & "$SLUICE" ERROR -O sqlite:c.db --resume big.log 2> e2 & wait
            "$SLUICE" ERROR -O sqlite:c.db --resume big.log; echo "after: $?"
            echo "rows: $(sqlite3 c.db 'select count(*), count(distinct line_no) from logs')"
            cat e1 e2 | grep -c 'another run committed lines of big.log into table logs while this one ran'
            printf 'ERROR a\\n' > small.log; "$SLUICE" ERROR -O sqlite:l.db small.log
            { echo 'begin immediate;'; sleep 20; } | sqlite3 l.db & sleep 0.5
            "$SLUICE" ERROR -O sqlite:l.db --resume big.log 2> e3 & p=$!
            sleep 1; start=$(date +%s%N); kill -TERM $p; wait $p; status=$?
            echo "stopped: $status $(( ($(date +%s%N) - start) / 1000000 ))"
            cat e3; kill %1 2>/dev/null; wait 2>/dev/null
            """
        let result = try await Shell.bash(script, timeout: .seconds(120))
        let lines = result.stdoutLines
        #expect(lines.count >= 5, "stdout: \(result.stdoutText) stderr: \(result.stderr)")
        guard lines.count >= 5 else { return }
        #expect(lines[1] == "rows: \(Self.overlapLines)|\(Self.overlapLines)", "\(result.stdoutText)")
        #expect(lines[2] == "1" || lines[2] == "0", "\(result.stdoutText)")  // 0 when one run ended before the other began
        let stopped = lines[3].split(separator: " ")
        #expect(stopped.count == 3 && stopped[1] == "143" && (Int(stopped[2]) ?? 99_999) < 3000, "\(lines[3])")
        #expect(lines[4] == "sluice: sqlite:l.db: cannot run 'BEGIN IMMEDIATE': database is locked", "\(result.stdoutText)")
    }

    @Test("bad targets and combinations: a one-line error naming the problem, exit 2, nothing read")
    func badTargets() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("app.log", Array("ERROR one\n".utf8))
        _ = try await Shell.output("cd \(Shell.quote(directory.path)) && sqlite3 other.sqlite 'create table logs (a TEXT, b INTEGER)' && mkdir folder.sqlite")
        let cases: [(arguments: [String], message: String)] = [
            (["ERROR", "-O", "sqlite:missing/db.sqlite", "app.log"], "sqlite:missing/db.sqlite: cannot create the database: No such file or directory"),
            (["ERROR", "-O", "sqlite:other.sqlite", "app.log"], "sqlite:other.sqlite: table logs has the columns (a TEXT, b INTEGER); sluice writes (id INTEGER PRIMARY KEY, source TEXT, line_no INTEGER, ts TEXT, level TEXT, line BLOB, fields TEXT): name another table with ?table=NAME"),
            (["ERROR", "-O", "sqlite:folder.sqlite", "app.log"], "sqlite:folder.sqlite: cannot open the database: Is a directory"),
            (["ERROR", "-O", "sqlite:db?table=1x", "app.log"], "--output: table name '1x': letters, digits and _ only, not starting with a digit"),
            (["ERROR", "-O", "sqlite:db?tabel=x", "app.log"], "--output: 'tabel=x' in 'sqlite:db?tabel=x': the one setting is table=NAME"),
            (["ERROR", "-O", "sqlite:", "app.log"], "--output: 'sqlite:' names no database file (sqlite:PATH)"),
            (["-c", "ERROR", "-O", "sqlite:db", "app.log"], "--output: sqlite:db?table=logs takes the selected lines as rows; -c does not apply (write to a file or stdout for that)"),
            (["-n", "ERROR", "-O", "sqlite:db", "app.log"], "--output: sqlite:db?table=logs takes the selected lines as rows; -n (the line_no column holds the numbers) does not apply (write to a file or stdout for that)"),
            (["ERROR", "--exec", "cat", "-O", "sqlite:db", "app.log"], "--output: sqlite:db?table=logs takes the selected lines as rows; --exec does not apply (write to a file or stdout for that)"),
            (["ERROR", "--resume", "app.log"], "--resume: needs an output that keeps checkpoints (-O sqlite:PATH, -O postgresql://..., -O clickhouse://..., or a {n} output with --checkpoint FILE)"),
            (["ERROR", "-O", "sqlite:db", "--resume", "app.log", "-"], "--resume: standard input has no checkpoint to resume from: name the files"),
        ]
        try await Sluice.expectErrors(cases, in: directory.path)
        #expect(!FileManager.default.fileExists(atPath: directory.path("db")), "a refused run created the database")
    }
}
