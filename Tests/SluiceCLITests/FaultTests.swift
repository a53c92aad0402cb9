import Foundation
import Testing

/// Faults injected for real: a full disk (/dev/full and a 2 MiB tmpfs), SIGKILL mid-export,
/// a second signal while an --exec command hangs, thousands of inputs, a 200 MB line, a huge
/// batch streamed into its file.
@Suite(.serialized) struct FaultTests {
    /// Mounts a fresh 2 MiB tmpfs; nil where mounting is not allowed (not root, a container).
    /// The caller unmounts it (`unmount`), so no run leaves mounts behind.
    static func mountSmallDisk() -> String? {
        guard getuid() == 0 else { return nil }
        let path = NSTemporaryDirectory() + "sluice-full-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard run("/bin/mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", path]) else {
            try? FileManager.default.removeItem(atPath: path)
            return nil
        }
        return path
    }

    static func unmount(_ path: String) {
        _ = run("/bin/umount", ["-l", path])
        try? FileManager.default.removeItem(atPath: path)
    }

    private static func run(_ tool: String, _ arguments: [String]) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    /// Whether a tmpfs can be mounted here (tried once).
    static let canMountSmallDisk: Bool = {
        guard let path = mountSmallDisk() else { return false }
        unmount(path)
        return true
    }()

    /// Peak-memory limits mean nothing under a sanitizer's shadow memory (`make sanitize` sets this).
    static let measuresMemory = ProcessInfo.processInfo.environment["SLUICE_SANITIZER"] == nil
        && FileManager.default.isExecutableFile(atPath: "/usr/bin/time")

    static func bigInput(_ directory: TemporaryDirectory, lines count: Int) throws -> String {
        var text = ""
        text.reserveCapacity(count * 60)
        for i in 1...count { text += "2026-11-26 12:00:\(i % 60) ERROR request \(i) failed after 30ms\n" }
        return try directory.write("big.log", Array(text.utf8))
    }

    /// Makes `big.log` with `create` (a shell command), runs `sluice PATTERN big.log` into a
    /// fifo nobody reads until sluice has written its first line, then runs `change` on the
    /// file and reads the rest: the file changes under a running sluice, blocked far from the
    /// end. `next`, when given, is written to a second input read after it. Returns the run
    /// (stdout holds all of sluice's output, status is sluice's).
    static func runWhileTheFileChanges(create: String, pattern: String, change: String,
                                       next: String? = nil) async throws -> (ProcessOutput, String) {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let big = Shell.quote(directory.path + "/big.log")
        let fifo = Shell.quote(directory.path + "/out")
        let second = next.map { _ in Shell.quote(directory.path + "/next.log") } ?? ""
        let script = """
            \(create) > \(big)
            \(next.map { "printf '%s' \(Shell.quote($0)) > \(second)" } ?? "")
            mkfifo \(fifo)
            "$SLUICE" -h -e \(pattern) \(big) \(second) > \(fifo) &
            exec 3< \(fifo)
            IFS= read -r first <&3 && printf '%s\\n' "$first"
            \(change) \(big)
            cat <&3
            wait $!
            """
        return (try await Shell.bash(script), directory.path + "/big.log")
    }

    /// Large plain files are read through mapped windows; a page the file lost (truncated
    /// while sluice reads it, as `logrotate copytruncate` does) raises SIGBUS. It must end in
    /// one error naming the file, with only the file's real lines written before it (numbered:
    /// a prefix, no hole), and the next input must still be read, as after any input error.
    @Test("a file truncated while being read: exit 2 naming it, a prefix of its lines, the next input still read")
    func fileTruncatedWhileRead() async throws {
        let (result, big) = try await Self.runWhileTheFileChanges(
            create: "seq -f 'line %.0f of the log that will be truncated under sluice' 1 1200000",
            pattern: "line", change: "truncate -s 100000", next: "line of the next file\n")
        #expect(result.status == 2, "status \(result.status), stderr: \(result.stderr)")
        let errors = result.stderr.split(separator: "\n")
        #expect(errors.count == 1 && result.stderr.contains(big) && result.stderr.contains("shrank"), "stderr: \(result.stderr)")
        var lines = result.stdoutLines
        #expect(lines.last == "line of the next file")
        lines.removeLast()
        #expect(!lines.isEmpty && lines.count < 1_200_000, "\(lines.count) lines")
        let prefix = (1...lines.count).map { "line \($0) of the log that will be truncated under sluice" }
        #expect(lines == prefix, "not a prefix of the file's lines")
        #expect(!result.stdout.contains(0), "NUL bytes from zero-filled pages reached the output")
    }

    /// A growing log (appended to while sluice reads its mapped windows) is read to its new end,
    /// as reading would: the appended lines come out, after the others, in order.
    @Test("a file appended to while being read: the new lines are read too")
    func fileAppendedWhileRead() async throws {
        let (result, _) = try await Self.runWhileTheFileChanges(
            create: "{ yes 'a line of the log' | head -n 1000000; printf 'no newline yet, '; }",
            pattern: ".", change: "printf 'now one\\nappended 1\\nappended 2\\n' >>")
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let lines = result.stdoutLines
        #expect(lines.count == 1_000_003)
        #expect(Array(lines.suffix(3)) == ["no newline yet, now one", "appended 1", "appended 2"])
    }

    /// grep's words, which scripts match (GNU grep's write-error-msg test: `^[^:]*: write
    /// error: [a-z]+`), with and without --line-buffered.
    @Test("stdout on /dev/full: exit 2 with grep's 'write error' and the system's reason", arguments: [[], ["--line-buffered"]])
    func standardOutputOnDevFull(extra: [String]) async throws {
        let result = try await Shell.run("\"$SLUICE\" \(Shell.quote(extra)) -e ERROR \(Shell.quote(Paths.loghub("Hadoop_2k.log"))) > /dev/full")
        #expect(result.status == 2)
        #expect(result.stderr == "sluice: write error: No space left on device\n", "stderr: \(result.stderr)")
    }

    @Test("disk full with -o FILE: exit 2 naming the file, nothing under the final name, no temporary",
          .enabled(if: canMountSmallDisk, "needs root to mount a 2 MiB tmpfs"))
    func diskFullSingleFile() async throws {
        let disk = try #require(Self.mountSmallDisk())
        defer { Self.unmount(disk) }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let input = try Self.bigInput(directory, lines: 80_000)  // ~4.5 MB: more than the disk
        let folder = disk + "/single"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let target = folder + "/all.log"
        let result = try await Sluice.run(["-e", "ERROR", "-O", target, input])
        #expect(result.status == 2)
        #expect(result.stderr.contains(target) && result.stderr.contains("No space left on device"), "stderr: \(result.stderr)")
        #expect(try TemporaryDirectory.entries(of: folder).isEmpty)
    }

    @Test("disk full with {n} files: every file under a final name is complete, no temporary",
          .enabled(if: canMountSmallDisk, "needs root to mount a 2 MiB tmpfs"))
    func diskFullSplitFiles() async throws {
        let disk = try #require(Self.mountSmallDisk())
        defer { Self.unmount(disk) }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let input = try Self.bigInput(directory, lines: 80_000)
        let output = disk + "/split"
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: output) }
        let result = try await Sluice.run(["-e", "ERROR", "-b", "5000", "-O", output + "/p-{n}.log", input])
        #expect(result.status == 2)
        #expect(result.stderr.contains("No space left on device"), "stderr: \(result.stderr)")
        let names = try TemporaryDirectory.entries(of: output)
        #expect(!names.contains { $0.hasPrefix(".") }, "temporary left: \(names)")
        let expected = try await Shell.output("grep ERROR \(Shell.quote(input))")
        var offset = 0
        for name in names {
            let bytes = try readBytes(output + "/" + name)
            #expect(bytes.filter { $0 == 0x0A }.count == 5000, "\(name) is not complete")
            #expect(Array(expected[offset..<(offset + bytes.count)]) == bytes, "\(name) is not the next 5000 lines")
            offset += bytes.count
        }
    }

    @Test("SIGKILL mid-export: every file under a final name holds exactly -b lines")
    func sigkillLeavesNoPartialFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let input = try Self.bigInput(directory, lines: 200_000)
        let output = try directory.makeSubdirectory("out")
        for delay in [50, 150, 400] {
            let result = try await Sluice.run(
                ["-e", "", "-b", "1000", "--exec", "sleep 0.01; cat", "-O", output + "/p-{n}.log.gz", input],
                timeout: .seconds(30), signal: (SIGKILL, .milliseconds(delay)))
            #expect(result.status == 128 + SIGKILL || result.status == 0)
            for name in try TemporaryDirectory.entries(of: output) where !name.hasPrefix(".") {
                let count = try await Shell.output("zcat \(Shell.quote(output + "/" + name)) | wc -l")
                #expect(String(decoding: count, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "1000", "\(name) after SIGKILL at \(delay) ms")
            }
            _ = try await Shell.run("rm -rf \(Shell.quote(output))/* \(Shell.quote(output))/.[!.]*")
        }
    }

    @Test("a second signal exits at once, taking a hanging --exec command down with it")
    func secondSignalExitsAtOnce() async throws {
        let script = """
            printf 'a line\\n' | "$SLUICE" -e . --exec 'exec sleep 37' > /dev/null & pid=$!
            sleep 1; kill -TERM $pid; sleep 0.5; kill -TERM $pid
            wait $pid; status=$?
            sleep 0.2
            if pgrep -f '^sleep 37$' >/dev/null; then echo "child left behind"; pkill -f '^sleep 37$'; fi
            echo "status=$status"
            """
        let clock = ContinuousClock()
        let started = clock.now
        let result = try await Shell.bash(script, timeout: .seconds(40))
        // Far below the child's 37 s (a sanitizer on a loaded machine took 13 s to start and stop).
        #expect(clock.now - started < .seconds(25))
        #expect(result.stdoutText.contains("status=143"), "\(result.stdoutText)")
        #expect(!result.stdoutText.contains("child left behind"))
    }

    @Test("5,000 input files: same bytes as cat | grep, with only a few descriptors allowed")
    func thousandsOfInputs() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var names: [String] = []
        for i in 0..<5000 {
            names.append(try directory.write("in-\(i).log", Array("file \(i) line a\(i % 3 == 0 ? " ERROR" : "")\nfile \(i) line b\n".utf8)))
        }
        let list = try directory.write("list", Array(names.joined(separator: "\n").utf8))
        let result = try await Shell.bash("ulimit -n 24; xargs -a \(Shell.quote(list)) -d '\\n' sh -c '\"$SLUICE\" -h -e ERROR \"$@\"' sluice")
        let expected = try await Shell.output("xargs -a \(Shell.quote(list)) -d '\\n' cat | grep ERROR")
        #expect(result.status == 0, "stderr: \(result.stderr)")
        expectSameBytes(result.stdout, expected, "5000 inputs")
    }

    @Test("a single 200 MB line: same bytes as grep, peak memory under 3.5x the line",
          .enabled(if: measuresMemory, "needs /usr/bin/time and no sanitizer"))
    func twoHundredMegabyteLine() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("long.log")
        _ = try await Shell.output("{ head -c 100000000 /dev/zero | tr '\\0' x; printf ' ERROR '; head -c 100000000 /dev/zero | tr '\\0' y; echo; echo short ERROR; } > \(Shell.quote(path))")
        let result = try await Shell.run("/usr/bin/time -f '%M' \"$SLUICE\" -e ERROR \(Shell.quote(path)) 2>&1 >/dev/null; \"$SLUICE\" -e ERROR \(Shell.quote(path)) | cmp - \(Shell.quote(path)) && echo same",
                                         timeout: .seconds(120))
        let lines = result.stdoutText.split(separator: "\n")
        let kilobytes = Int(lines.first ?? "") ?? .max
        #expect(kilobytes * 1024 < 700_000_000, "peak RSS \(kilobytes) KiB for a 200 MB line")
        #expect(lines.last == "same", "\(result.stdoutText) \(result.stderr)")
    }

    @Test("-b 100000000 into a file streams: peak memory under 64 MiB on 300 MB",
          .enabled(if: measuresMemory, "needs /usr/bin/time and no sanitizer"))
    func hugeBatchStreamsIntoItsFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let script = """
            yes '2026-11-26 12:00:00 INFO service=api request handled in 12ms user=alice status=200' | head -c 300000000 \
              | /usr/bin/time -f '%M' "$SLUICE" -e "" -b 100000000 -O \(Shell.quote(directory.path("part-{n}.log"))) 2>&1
            wc -c < \(Shell.quote(directory.path("part-000001.log")))
            """
        let result = try await Shell.bash(script, timeout: .seconds(120))
        let lines = result.stdoutText.split(separator: "\n")
        #expect(lines.count == 2, "\(result.stdoutText) \(result.stderr)")
        let kilobytes = Int(lines.first ?? "") ?? .max
        #expect(kilobytes < 64 * 1024, "peak RSS \(kilobytes) KiB")
        #expect(lines.last == "300000001")  // head -c cut the last line: it gets a newline
    }
}
