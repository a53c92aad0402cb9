import Foundation
import Testing

/// Issue 11, item 3 for files: `--checkpoint FILE` with a `{n}` output. A run killed at any
/// moment and resumed (`--resume`) gives the same files as one run, each holding the same
/// lines: grep's lines, each once.
@Suite struct CheckpointOutputTests {
    @Test("SIGKILL at random moments, then --resume: the {n}.gz files hold the lines one run writes in them, grep's, each once")
    func killAndResume() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let script = """
            cd \(Shell.quote(directory.path))
            seq 1 \(underSanitizer ? 200_000 : 1_000_000) | awk '{ print $1, ($1 % 3 == 0 ? "ERROR" : "INFO"), "payload of a log line", $1 * 13 }' > a.log
            head -c \(underSanitizer ? 1_000_000 : 5_000_000) a.log | gzip -1 > b.log.gz; printf 'ERROR last line without newline' > c.log
            mkdir one resumed
            "$SLUICE" -h ERROR -b 1000 -O 'one/p-{n:4}.log.gz' --checkpoint one.ck a.log b.log.gz c.log
            kills=0
            for delay in 0.05 0.1 0.03 0.15 0.02 0.08 0.12 0.2 0.05 0.1; do
              "$SLUICE" -h ERROR -b 1000 -O 'resumed/p-{n:4}.log.gz' --checkpoint resumed.ck --resume a.log b.log.gz c.log 2>>err & p=$!
              sleep $delay; kill -KILL $p 2>/dev/null && kills=$((kills+1)); wait $p
            done
            "$SLUICE" -h ERROR -b 1000 -O 'resumed/p-{n:4}.log.gz' --checkpoint resumed.ck --resume a.log b.log.gz c.log 2>>err
            echo "kills: $kills"
            (cd one && ls) > one.list; (cd resumed && ls -A) > resumed.list
            cmp one.list resumed.list && echo "same names"
            # The same lines in each file (its gzip members may be cut elsewhere: a resumed run
            # reads its input in other chunks).
            for f in one/*; do zcat "resumed/${f#one/}" | cmp - <(zcat "$f") || echo "differs: $f"; done
            { grep ERROR a.log; zcat b.log.gz | grep ERROR; grep ERROR c.log; } > expected
            zcat one/* | cmp - expected && echo "grep's lines"
            cat err
            """
        let result = try await Shell.bash(script, timeout: .seconds(300))
        let lines = result.stdoutLines
        let kills = lines.first { $0.hasPrefix("kills: ") }.flatMap { Int($0.dropFirst(7)) } ?? 0
        #expect(kills >= 3, "\(result.stdoutText)")
        #expect(lines.contains("same names"), "\(result.stdoutText)")
        #expect(lines.contains("grep's lines"), "\(result.stdoutText)")
        #expect(!lines.contains { $0.hasPrefix("differs") }, "\(result.stdoutText)")
    }

    @Test("the checkpoint file: what it says, and a resumed run that finds nothing new")
    func checkpointContents() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("app.log", Array("ERROR one\nINFO two\nERROR three\n".utf8))
        let first = try await Sluice.run(["ERROR", "-b", "1", "-O", "p-{n}.log", "--checkpoint", "ck", "app.log"], currentDirectory: directory.path)
        #expect(first.status == 0, "\(first.stderr)")
        let text = String(decoding: try readBytes(directory.path("ck")), as: UTF8.self)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.count == 3 && lines[0] == "sluice checkpoint 1" && lines[1] == "next-file 3", "\(text)")
        #expect(lines.count == 3 && lines[2].hasPrefix("input 31 3 ") && lines[2].hasSuffix(" 31 \(directory.path("app.log"))"), "\(text)")
        // Grown by one line: one more file, numbered on.
        try directory.write("app.log", Array("ERROR one\nINFO two\nERROR three\nERROR four\n".utf8))
        let resumed = try await Sluice.run(["ERROR", "-b", "1", "-O", "p-{n}.log", "--checkpoint", "ck", "--resume", "app.log"], currentDirectory: directory.path)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try TemporaryDirectory.entries(of: directory.path).filter { $0.hasPrefix("p-") } == ["p-000001.log", "p-000002.log", "p-000003.log"])
        #expect(try readBytes(directory.path("p-000003.log")) == Array("ERROR four\n".utf8))
        let nothing = try await Sluice.run(["ERROR", "-b", "1", "-O", "p-{n}.log", "--checkpoint", "ck", "--resume", "app.log"], currentDirectory: directory.path)
        #expect(nothing.status == 1, "\(nothing.stderr)")
        // Two runs on one checkpoint at once: the second is refused before it reads.
        let held = try await Shell.bash("""
            cd \(Shell.quote(directory.path)); mkfifo slow
            "$SLUICE" -e '' -O 'q-{n}.log' --checkpoint q.ck slow & p=$!
            sleep 0.5; "$SLUICE" -e '' -O 'r-{n}.log' --checkpoint q.ck app.log; echo "second: $?"
            echo x > slow; wait $p; echo "first: $?"
            """, timeout: .seconds(60))
        #expect(held.stdoutLines == ["second: 2", "first: 0"], "\(held.stdoutText) \(held.stderr)")
        #expect(held.stderr.contains("sluice: q.ck: another sluice run is writing this checkpoint: one run at a time"), "\(held.stderr)")
        // Without --resume, an existing set is still refused.
        let again = try await Sluice.run(["ERROR", "-O", "p-{n}.log", "--checkpoint", "ck", "app.log"], currentDirectory: directory.path)
        #expect(again.status == 2)
        #expect(again.stderr.contains("p-000001.log: already exists"), "\(again.stderr)")
    }

    @Test("--checkpoint and --resume misused: one-line usage errors")
    func misuse() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("app.log", Array("ERROR one\n".utf8))
        try directory.write("bad.ck", Array("not a checkpoint\n".utf8))
        let cases: [(arguments: [String], message: String)] = [
            (["ERROR", "-O", "out.log", "--checkpoint", "ck", "app.log"], "--checkpoint: applies to a {n} output (-O 'NAME-{n}.log'); a database keeps its checkpoints in its own table"),
            (["ERROR", "--checkpoint", "ck", "app.log"], "--checkpoint: applies to a {n} output (-O 'NAME-{n}.log'); a database keeps its checkpoints in its own table"),
            (["-c", "ERROR", "-O", "p-{n}.log", "--checkpoint", "ck", "app.log"], "--checkpoint: checkpoints the selected lines as read; -c does not apply"),
            (["ERROR", "-O", "p-{n}.log", "--checkpoint", "ck", "app.log", "app.log"], "--checkpoint: checkpoints the selected lines as read; a file name before each line (several files, or -H: give -h) does not apply"),
            (["-n", "ERROR", "-O", "p-{n}.log", "--checkpoint", "ck", "app.log"], "--checkpoint: checkpoints the selected lines as read; -n does not apply"),
            (["ERROR", "-O", "p-{n}.log", "--resume", "app.log"], "--resume: needs an output that keeps checkpoints (-O sqlite:PATH, -O postgresql://..., -O clickhouse://..., or a {n} output with --checkpoint FILE)"),
            (["ERROR", "-O", "p-{n}.log", "--checkpoint", "bad.ck", "--resume", "app.log"], "bad.ck:1: not a sluice checkpoint line (written by another version, or damaged)"),
        ]
        try await Sluice.expectErrors(cases, in: directory.path)
    }
}
