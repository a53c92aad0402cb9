import Foundation
import Testing

/// Issue 12, `--follow`: the named files read as `tail -F` follows them, through rename and
/// create, copytruncate, a file that appears late, several files at once; Debian's logrotate
/// as the real rotator.
struct FollowTests {
    @Test("appends, rename and create (the old file finished first, its last line without a newline too), truncation, a file that appears late, -H -n")
    func followsTheNames() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let result = try await Shell.bash("""
            cd \(Shell.quote(directory.path))
            printf 'a ERROR 1\\nb INFO\\n' > app.log
            "$SLUICE" --follow -H -n ERROR app.log late.log > out 2> err & p=$!
            sleep 0.5; printf 'c ERROR 2\\npartial ERROR' >> app.log
            sleep 0.3; printf ' 3\\n' >> app.log
            mv app.log app.log.1; printf 'tail ERROR 4' >> app.log.1; printf 'new ERROR 5\\n' > app.log
            sleep 0.5; printf 'x ERROR 6\\ny ERROR 7\\n' >> app.log
            sleep 1.3; : > app.log
            sleep 0.3; printf 'after truncate ERROR 8\\n' >> app.log
            printf 'm ERROR 9\\n' > late.log
            sleep 1.2; kill -TERM $p; wait $p; echo "status $?"
            cat out; cat err
            """, timeout: .seconds(60))
        #expect(result.stdoutLines == [
            "status 143",
            "app.log:1:a ERROR 1", "app.log:3:c ERROR 2", "app.log:4:partial ERROR 3", "app.log:5:tail ERROR 4",
            "app.log:1:new ERROR 5", "app.log:2:x ERROR 6", "app.log:3:y ERROR 7", "app.log:1:after truncate ERROR 8",
            "late.log:1:m ERROR 9",
            "sluice: warning: late.log: No such file or directory (following the name: read when it appears)",
            "sluice: warning: app.log: file truncated: reading it again from its start",
        ], "\(result.stdoutText) \(result.stderr)")
    }

    @Test("a writer that goes on writing into the renamed file (it reopens late): its lines come first, then the new file's")
    func writerStillInTheRenamedFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let result = try await Shell.bash("""
            cd \(Shell.quote(directory.path))
            : > app.log
            "$SLUICE" --follow -e . app.log > out 2> err & p=$!
            exec 3>>app.log
            for i in 1 2 3; do echo "old $i" >&3; done
            sleep 0.3; mv app.log app.log.1; echo 'new 1' > app.log
            for i in 4 5 6 7 8; do sleep 0.1; echo "old $i" >&3; done
            exec 3>&-; echo 'new 2' >> app.log
            sleep 1; kill -TERM $p; wait $p
            cat out err
            """, timeout: .seconds(30))
        #expect(result.stdoutLines == ["old 1", "old 2", "old 3", "old 4", "old 5", "old 6", "old 7", "old 8", "new 1", "new 2"],
                "\(result.stdoutText) \(result.stderr)")
    }

    @Test("idle: no CPU while nothing changes; -m1 on one file ends the run at the first match (tail -F | grep -m1)")
    func idleAndFirstMatch() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let result = try await Shell.bash("""
            cd \(Shell.quote(directory.path))
            printf 'INFO\\n' > app.log
            "$SLUICE" --follow -e ERROR app.log > out & p=$!
            sleep 2; echo "cpu ticks $(awk '{print $14 + $15}' /proc/$p/stat)"
            kill -TERM $p; wait $p
            "$SLUICE" --follow -m1 -e ERROR app.log & q=$!
            sleep 0.5; printf 'x ERROR 1\\ny ERROR 2\\n' >> app.log
            wait $q; echo "status $?"
            """, timeout: .seconds(30))
        let lines = result.stdoutLines
        #expect(lines.count == 3, "\(result.stdoutText) \(result.stderr)")
        guard lines.count == 3 else { return }
        // Ticks of 10 ms: starting up takes a few; a busy loop would take ~200.
        let ticks = Int(lines[0].split(separator: " ").last ?? "") ?? 999
        #expect(ticks < 20, "\(lines[0])")
        #expect(Array(lines[1...]) == ["x ERROR 1", "status 0"])
    }

    @Test("what needs an end, or a checkpoint across rotation, is refused with --follow")
    func refusals() async throws {
        let result = try await Shell.bash("""
            printf 'x\\n' > /tmp/sluice-follow-refusal.log
            for flags in "-c x" "-l x" "--stats x" "-C1 x" "-O /tmp/sluice-follow-refusal.out x" "-m1 x /tmp/sluice-follow-refusal.log" "-O sqlite:/tmp/sluice-follow-refusal.db x" "x -"; do
                "$SLUICE" --follow $flags /tmp/sluice-follow-refusal.log < /dev/null; echo "status $?"
            done 2>&1
            rm -f /tmp/sluice-follow-refusal.log /tmp/sluice-follow-refusal.db
            """)
        let lines = result.stdoutLines
        #expect(lines.count == 16, "\(result.stdoutText)")
        for index in stride(from: 0, to: lines.count, by: 2) {
            #expect(lines[index].hasPrefix("sluice: --follow: "), "\(lines[index])")
            #expect(lines[index + 1] == "status 2", "\(lines[index])")
        }
    }

    static var logrotate: String? {
        ["/usr/sbin/logrotate", "/sbin/logrotate"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test("Debian's logrotate every 0.2 s in create mode (compress, delaycompress) under a writer of 50,000 numbered lines/s: every line once, in order, through {n} files",
          .enabled(if: logrotate != nil, "needs logrotate (make deps)"))
    func logrotateCreate() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let seconds = underSanitizer ? 4 : 8
        let result = try await Shell.bash("""
            cd \(Shell.quote(directory.path)); mkdir out
            cat > rotate.conf <<EOF
            \(directory.path)/app.log {
                rotate 1000
                create
                compress
                delaycompress
                missingok
            }
            EOF
            : > app.log
            "$SLUICE" --follow -e . -b 20000 -O 'out/p-{n}.log' app.log 2> err & p=$!
            # 500 lines every 10 ms, each burst through its own open of the name (as a logger that
            # reopens): 50,000 lines/s.
            python3 -c '
            import time, sys
            n, end = 0, time.time() + \(seconds)
            while time.time() < end:
                with open("app.log", "a") as f:
                    f.write("".join("line %d\\n" % (n + i) for i in range(1, 501)))
                n += 500
                time.sleep(0.01)
            print(n)
            ' > written & w=$!
            while kill -0 $w 2>/dev/null; do \(Self.logrotate ?? "logrotate") -f -s state rotate.conf; sleep 0.2; done
            sleep 1.5; kill -TERM $p; wait $p
            echo "rotated $(ls app.log.* | wc -l)"
            cat out/p-*.log > got; seq -f 'line %g' 1 $(cat written) > want
            cmp got want && echo same; wc -l < got; cat err
            """, timeout: .seconds(120))
        let lines = result.stdoutLines
        #expect(lines.count >= 3, "\(result.stdoutText) \(result.stderr)")
        guard lines.count >= 3 else { return }
        #expect((Int(lines[0].split(separator: " ").last ?? "") ?? 0) >= 10, "\(lines[0])")
        #expect(lines[1] == "same", "\(result.stdoutText)")
    }
}
