import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 8, findings 5, 6, 11 and 12: what `-o` does to what is already at its name (a
/// device, a FIFO, a symlink, a read-only file, an earlier `{n}` set), an output that is also
/// an input, `{n:W}` running out of digits, and `--stats` for `{n}` outputs.
extension OutputTargetTests {
    static func fileType(_ path: String) -> mode_t? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return info.st_mode & S_IFMT
    }

    static func statOf(_ path: String) throws -> stat {
        var info = stat()
        guard stat(path, &info) == 0 else { throw HarnessError("stat \(path): errno \(errno)") }
        return info
    }

    // MARK: Finding 5: devices, FIFOs, symlinks, existing files

    /// A new user's finding: `-o /dev/stdout` with stdout a regular file replaced that file by
    /// rename, losing what the shell wrote around it. bash duplicates the descriptor instead.
    @Test("-o /dev/stdout, /dev/stderr, /dev/fd/N write through the descriptor, as bash's redirect does")
    func ownDescriptorsAreWrittenThrough() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let input = try directory.write("in.log", Array("x1\ny\nx2\n".utf8))
        let script = """
            cd \(Shell.quote(directory.path))
            { echo a; "$SLUICE" -e x -O /dev/stdout in.log; echo "rc=$?"; echo b; } > out1
            { echo a >&2; "$SLUICE" -e x -O /dev/stderr in.log; echo b >&2; } 2> out2
            { echo a; "$SLUICE" -e x -O /dev/fd/3 in.log 3>&1; echo b; } > out3
            cat out1 out2 out3
            """
        _ = input
        let result = try await Shell.run(script)
        #expect(result.stdoutText == "a\nx1\nx2\nrc=0\nb\n" + "a\nx1\nx2\nb\n" + "a\nx1\nx2\nb\n", "stderr: \(result.stderr)")
    }

    @Test("-o onto a device node writes through it: the node stays a device (/dev/full: ENOSPC)",
          .enabled(if: geteuid() == 0, "mknod needs root"))
    func deviceTargetIsWrittenThrough() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let null = directory.path("null"), full = directory.path("full")
        _ = try await Shell.output("mknod \(Shell.quote(null)) c 1 3 && mknod \(Shell.quote(full)) c 1 7")
        let input = Paths.loghub("Hadoop_2k.log")

        let toNull = try await Sluice.run(["-e", "INFO", "-O", null, input])
        #expect(toNull.status == 0, "stderr: \(toNull.stderr)")
        #expect(Self.fileType(null) == S_IFCHR, "-o onto a character device replaced it")

        // The bytes really go to the device: /dev/full refuses them, as `grep > /dev/full` sees.
        let oracle = try await Shell.run("grep INFO \(Shell.quote(input)) > \(Shell.quote(full))")
        let toFull = try await Sluice.run(["-e", "INFO", "-O", full, input])
        #expect(oracle.status == 2 && oracle.stderr.contains("No space left on device"), "oracle: \(oracle.stderr)")
        #expect(toFull.status == 2, "stderr: \(toFull.stderr)")
        #expect(toFull.stderr.contains("No space left on device"), "stderr: \(toFull.stderr)")
        #expect(Self.fileType(full) == S_IFCHR, "-o onto a character device replaced it")
        try Self.expectNoHiddenFiles(in: directory.path)
    }

    @Test("-o onto a FIFO writes through it (a gzip name: the gzip stream goes through)",
          arguments: ["fifo", "fifo.gz"])
    func fifoTargetIsWrittenThrough(name: String) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let fifo = directory.path(name), received = directory.path("received")
        let input = Paths.loghub("Spark_2k.log")
        // If sluice replaced the FIFO, the reader would wait forever: it is killed then.
        let run = try await Shell.run("""
            mkfifo \(Shell.quote(fifo)) || exit 99
            cat \(Shell.quote(fifo)) > \(Shell.quote(received)) & reader=$!
            "$SLUICE" -e INFO -O \(Shell.quote(fifo)) \(Shell.quote(input)); status=$?
            if [ -p \(Shell.quote(fifo)) ]; then wait $reader; else kill $reader; echo 'the FIFO was replaced' >&2; fi
            exit $status
            """, timeout: .seconds(60))
        #expect(!run.timedOut)
        #expect(run.status == 0, "stderr: \(run.stderr)")
        #expect(Self.fileType(fifo) == S_IFIFO, "stderr: \(run.stderr)")
        let oracle = try await Oracle.grep(["-e", "INFO"], inputs: [input])
        let got = name.hasSuffix(".gz") ? try await Shell.output("zcat \(Shell.quote(received))") : try readBytes(received)
        expectSameBytes(got, oracle.stdout, "what the FIFO's reader got")
        try Self.expectNoHiddenFiles(in: directory.path)
    }

    @Test("-o onto a Unix stream socket connects and writes through it; the socket stays",
          .enabled(if: Tool.available("python3")))
    func socketTargetIsWrittenThrough() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let socket = directory.path("sock"), received = directory.path("received")
        let input = Paths.loghub("Spark_2k.log")
        let server = #"""
            import socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(sys.argv[1]); s.listen(1)
            c, _ = s.accept()
            with open(sys.argv[2], "wb") as f:
                while True:
                    d = c.recv(65536)
                    if not d: break
                    f.write(d)
            """#
        let run = try await Shell.run("""
            python3 -c \(Shell.quote(server)) \(Shell.quote(socket)) \(Shell.quote(received)) >/dev/null 2>&1 & server=$!
            i=0; while [ ! -S \(Shell.quote(socket)) ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
            "$SLUICE" -e INFO -O \(Shell.quote(socket)) \(Shell.quote(input)); status=$?
            # If sluice never connected, one empty connection lets the server end.
            [ $status -eq 0 ] || python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' \(Shell.quote(socket))
            wait $server
            exit $status
            """, timeout: .seconds(60))
        #expect(!run.timedOut)
        #expect(run.status == 0, "stderr: \(run.stderr)")
        #expect(Self.fileType(socket) == S_IFSOCK)
        let oracle = try await Oracle.grep(["-e", "INFO"], inputs: [input])
        expectSameBytes(try readBytes(received), oracle.stdout, "what the socket's server got")
        try Self.expectNoHiddenFiles(in: directory.path)
    }

    @Test("-o through a symlink replaces its target, not the link (a dangling link's target is created)",
          arguments: ["old.log", "missing.log", "old.log.gz"])
    func symlinkIsFollowed(targetName: String) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let real = try directory.makeSubdirectory("real")
        let target = "\(real)/\(targetName)"
        if targetName.hasPrefix("old") { try directory.write("real/\(targetName)", Array("old content\n".utf8)) }
        // The name given decides gzip, as it would for a new file.
        let link = directory.path(targetName.hasSuffix(".gz") ? "link.log.gz" : "link.log")
        #expect(symlink("real/\(targetName)", link) == 0)  // relative to the link's folder
        let input = Paths.loghub("Spark_2k.log")
        let sluice = try await Sluice.run(["-e", "INFO", "-O", link, input])
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
        #expect(Self.fileType(link) == S_IFLNK, "the link was replaced")
        #expect(Self.fileType(target) == S_IFREG)
        let oracle = try await Oracle.grep(["-e", "INFO"], inputs: [input])
        let got = targetName.hasSuffix(".gz") ? try await Shell.output("zcat \(Shell.quote(target))") : try readBytes(target)
        expectSameBytes(got, oracle.stdout, "the link's target")
        try Self.expectNoHiddenFiles(in: directory.path)
        try Self.expectNoHiddenFiles(in: real)
    }

    /// The documented choice (`OutputDestination`): the file is replaced by a rename, so it is
    /// never half-written under its name; its mode and owner are kept, a hard link is not.
    @Test("-o over an existing read-only file keeps its mode, owner and group; a hard link keeps the old bytes",
          .enabled(if: geteuid() == 0, "chown needs root"))
    func existingFileKeepsModeAndOwner() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let target = try directory.write("report.log", Array("old content\n".utf8))
        let other = directory.path("other-name.log")
        #expect(link(target, other) == 0)
        #expect(chown(target, 1234, 5678) == 0)
        #expect(chmod(target, 0o440) == 0)
        let input = Paths.loghub("Spark_2k.log")
        let sluice = try await Sluice.run(["-e", "INFO", "-O", target, input])
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
        let info = try Self.statOf(target)
        #expect(info.st_mode & 0o7777 == 0o440, "mode \(String(info.st_mode & 0o7777, radix: 8))")
        #expect(info.st_uid == 1234 && info.st_gid == 5678, "owner \(info.st_uid):\(info.st_gid)")
        let oracle = try await Oracle.grep(["-e", "INFO"], inputs: [input])
        expectSameBytes(try readBytes(target), oracle.stdout, "the replaced file")
        #expect(try readBytes(other) == Array("old content\n".utf8), "the other hard link")
        try Self.expectNoHiddenFiles(in: directory.path)
    }

    /// As another user, a file that user may not write is refused, as the redirect refuses
    /// it (the folder being writable would let a rename replace it).
    @Test("-o over a file the user may not write is refused, as > FILE is, and left as it was",
          .enabled(if: geteuid() == 0 && Tool.available("setpriv"), "needs root to become nobody"))
    func unwritableExistingFileIsRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        #expect(chmod(directory.path, 0o777) == 0)
        let target = try directory.write("ro.log", Array("old content\n".utf8))
        #expect(chown(target, 65534, 65534) == 0 && chmod(target, 0o444) == 0)
        let input = try directory.write("in.log", lines(["INFO a"]))
        let asNobody = "setpriv --reuid=65534 --regid=65534 --clear-groups"
        let shell = try await Shell.run("\(asNobody) sh -c 'cat \(input) > \(target)'")
        let sluice = try await Shell.run("\(asNobody) \"$SLUICE\" -e INFO -O \(Shell.quote(target)) \(Shell.quote(input))")
        #expect(shell.status != 0 && shell.stderr.contains("Permission denied"), "shell: \(shell.stderr)")
        #expect(sluice.status == 2)
        #expect(sluice.stderr == "sluice: \(target): cannot write the output: Permission denied\n", "stderr: \(sluice.stderr)")
        #expect(try readBytes(target) == Array("old content\n".utf8))
        try Self.expectNoHiddenFiles(in: directory.path)
    }

    // MARK: Finding 6: an output that is also an input

    struct SameFileCase: Sendable, CustomTestStringConvertible {
        /// A shell command line; PROG is grep (with `-h`, as sluice prints no file names) or sluice.
        let script: String
        var testDescription: String { script }
    }

    /// grep 3.8 is the oracle: same stderr (modulo the program name), exit status and file.
    @Test("an input that is also stdout's file is refused as grep refuses it", arguments: [
        SameFileCase(script: "PROG -e kernel s.log >> s.log"),
        SameFileCase(script: "PROG -e kernel t.log s.log t.log >> s.log"),
        SameFileCase(script: "PROG -e kernel < s.log >> s.log"),
        SameFileCase(script: "PROG -e kernel - t.log < s.log >> s.log"),
        SameFileCase(script: "PROG -e kernel empty.log t.log >> empty.log"),
        SameFileCase(script: "PROG -e kernel s.log 1<>s.log"),
        SameFileCase(script: "PROG -c -e kernel s.log >> s.log"),
        SameFileCase(script: "PROG -m 1 -e kernel s.log >> s.log"),
        SameFileCase(script: "PROG -q -e kernel s.log >> s.log"),
        SameFileCase(script: "PROG -e kernel s.log > /dev/null"),
        SameFileCase(script: "ln s.log hard.log; PROG -e kernel hard.log >> s.log"),
    ])
    func inputThatIsStdoutIsRefused(sameFile: SameFileCase) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var results: [(ProcessOutput, [UInt8])] = []
        for (name, program) in [("grep", "grep -h"), ("sluice", "\"$SLUICE\" -h")] {
            let folder = try directory.makeSubdirectory(name)
            try directory.write("\(name)/s.log", lines(["kernel: one", "user: two", "kernel: three"]))
            try directory.write("\(name)/t.log", lines(["kernel: from t"]))
            try directory.write("\(name)/empty.log", [])
            let script = sameFile.script.replacingOccurrences(of: "PROG", with: program)
            let run = try await Shell.run("cd \(Shell.quote(folder)) && \(script)", timeout: .seconds(30))
            #expect(!run.timedOut, "\(name): \(script)")
            let file = sameFile.script.contains("empty.log >>") ? "empty.log" : "s.log"
            results.append((run, try readBytes("\(folder)/\(file)")))
        }
        let (grep, sluice) = (results[0], results[1])
        #expect(sluice.0.status == grep.0.status, "sluice stderr: \(sluice.0.stderr)")
        #expect(sluice.0.stderr.replacingOccurrences(of: "sluice: ", with: "grep: ") == grep.0.stderr,
                "sluice: \(sluice.0.stderr)\ngrep: \(grep.0.stderr)")
        expectSameBytes(sluice.1, grep.1, "the file both read and appended to")
    }

    @Test("-o naming an input (or a link to it) is refused before reading; the file is untouched",
          arguments: [["-O", "s.log", "t.log", "s.log"], ["-O", "link.log", "s.log"], ["-O", "s.log", "-"],
                      ["-O", "hard.log", "s.log"], ["--overwrite", "-b", "1", "-O", "p-{n:1}.log", "s.log"]])
    func outputNamingAnInputIsRefused(arguments: [String]) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let content = lines(["kernel: one", "user: two"])
        let source = try directory.write("s.log", content)
        try directory.write("t.log", lines(["kernel: from t"]))
        #expect(symlink("s.log", directory.path("link.log")) == 0)
        #expect(link(source, directory.path("hard.log")) == 0)
        #expect(link(source, directory.path("p-2.log")) == 0)  // in an earlier {n:1} set
        let stdin: StandardInput = arguments.contains("-") ? .file(source) : .heldOpen
        let sluice = try await Sluice.run(["-e", "kernel"] + arguments, stdin: stdin, currentDirectory: directory.path,
                                          timeout: .seconds(20))
        #expect(!sluice.timedOut)
        #expect(sluice.status == 2)
        let input = arguments.contains("-") ? "(standard input)" : "s.log"
        #expect(sluice.stderr == "sluice: \(input): input file is also the output\n", "stderr: \(sluice.stderr)")
        #expect(try readBytes(source) == content)
        try Self.expectNoHiddenFiles(in: directory.path)
    }

    // MARK: Finding 11: an earlier {n} set; {n:W} running out

    @Test("a {n} output refuses an existing set, naming its first file, before reading input")
    func existingSetIsRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let outputs = try directory.makeSubdirectory("out")
        for number in [3, 4, 12] { try directory.write("out/p-\(String(format: "%06d", number)).log", lines(["old"])) }
        try directory.write("out/p-0000001.log", lines(["not of the set: 7 digits with a leading zero"]))
        try directory.write("out/p-x.log", lines(["not of the set"]))
        let before = try TemporaryDirectory.entries(of: outputs)
        let sluice = try await Sluice.run(["-e", "", "-b", "1", "-O", "\(outputs)/p-{n}.log"], stdin: .heldOpen, timeout: .seconds(20))
        #expect(!sluice.timedOut, "sluice read input instead of refusing")
        #expect(sluice.status == 2)
        #expect(sluice.stderr.hasPrefix("sluice: \(outputs)/p-000003.log: "), "stderr: \(sluice.stderr)")
        #expect(sluice.stderr.contains("--overwrite"), "stderr: \(sluice.stderr)")
        #expect(try TemporaryDirectory.entries(of: outputs) == before)
    }

    @Test("--overwrite replaces an existing set: the old run's higher-numbered files are removed",
          arguments: ["p-{n}.log", "p-{n:2}.log.gz"])
    func overwriteReplacesTheSet(pattern: String) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let outputs = try directory.makeSubdirectory("out")
        let template = "\(outputs)/\(pattern)"
        let old = try await Sluice.run(["-e", "", "-b", "2", "-O", template], stdin: .bytes(lines((1...9).map { "old \($0)" })))
        #expect(old.status == 0, "stderr: \(old.stderr)")
        #expect(try TemporaryDirectory.entries(of: outputs).count == 5)
        let new = lines((1...3).map { "new \($0)" })
        let sluice = try await Sluice.run(["-e", "", "--overwrite", "-b", "2", "-O", template], stdin: .bytes(new))
        #expect(sluice.status == 0, "stderr: \(sluice.stderr)")
        let names = try TemporaryDirectory.entries(of: outputs)
        #expect(names.count == 2, "\(names)")
        let all = try await Shell.output("cd \(Shell.quote(outputs)) && zcat -f -- *")
        expectSameBytes(all, new, "zcat -f out/*")
    }

    @Test("--overwrite after a failing run removes nothing that was not overwritten")
    func overwriteKeepsOldFilesWhenTheRunFails() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let outputs = try directory.makeSubdirectory("out")
        let template = "\(outputs)/p-{n:1}.log"
        _ = try await Sluice.run(["-e", "", "-b", "1", "-O", template], stdin: .bytes(lines(["o1", "o2", "o3", "o4"])))
        let failing = #"input=$(cat); case "$input" in *n3*) exit 3;; esac; printf '%s\n' "$input""#
        let sluice = try await Sluice.run(["-e", "", "--overwrite", "-b", "1", "-j", "1", "--exec", failing, "-O", template],
                                          stdin: .bytes(lines(["n1", "n2", "n3", "n4"])))
        #expect(sluice.status == 2, "stderr: \(sluice.stderr)")
        #expect(try TemporaryDirectory.entries(of: outputs) == ["p-1.log", "p-2.log", "p-3.log", "p-4.log"])
        #expect(try readBytes("\(outputs)/p-1.log") == lines(["n1"]))
        #expect(try readBytes("\(outputs)/p-3.log") == lines(["o3"]))
    }

    @Test("{n:W} stops with split's 'output file suffixes exhausted' when W digits run out; files written stay complete",
          arguments: ["q-{n:1}.log", "q-{n:1}.log.gz"])
    func suffixesExhausted(pattern: String) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let outputs = try directory.makeSubdirectory("out")
        let input = lines((1...12).map { "line \($0)" })
        let oracle = try await Shell.run("cd \(Shell.quote(directory.path)) && split -l 1 -a 1 -d - q-", stdin: .bytes(input))
        #expect(oracle.stderr == "split: output file suffixes exhausted\n")
        let sluice = try await Sluice.run(["-e", "", "-b", "1", "-O", "\(outputs)/\(pattern)"], stdin: .bytes(input))
        #expect(sluice.status == 2)
        #expect(sluice.stderr.contains(": output file suffixes exhausted"), "stderr: \(sluice.stderr)")
        let names = try TemporaryDirectory.entries(of: outputs)
        #expect(names == (1...9).map { pattern.replacingOccurrences(of: "{n:1}", with: String($0)) })
        for (index, name) in names.enumerated() {
            let content = try await Shell.output("zcat -f \(Shell.quote("\(outputs)/\(name)"))")
            expectSameBytes(content, lines(["line \(index + 1)"]), name)
        }
    }

    // MARK: Finding 12: --stats counts {n} files

    /// The input waits until a timeout has flushed the first line into the first file's
    /// temporary, and again for the second (so at least two timeouts happened), then the rest
    /// comes: 5 lines at -b 3 are 2 files, whatever the timing.
    @Test("--stats counts the files of a {n} output, not the timeout flushes")
    func statsCountsFiles() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let outputs = try directory.makeSubdirectory("out")
        let run = try await Shell.run("""
            out=\(Shell.quote(outputs))
            flushed() {
              i=0
              while [ $i -lt 200 ]; do
                for f in "$out"/.p-*.tmp; do [ -f "$f" ] && [ "$(wc -c < "$f")" -ge "$1" ] && return; done
                sleep 0.05; i=$((i + 1))
              done
            }
            { echo 1; flushed 2; echo 2; flushed 4; echo 3; echo 4; echo 5; } |
              "$SLUICE" -e "" --stats -b 3 --batch-timeout 20ms -O "$out/p-{n}.log"
            """)
        #expect(run.status == 0, "stderr: \(run.stderr)")
        #expect(try TemporaryDirectory.entries(of: outputs) == ["p-000001.log", "p-000002.log"])
        #expect(run.stderr.contains("wrote 5 lines in 2 batches"), "stderr: \(run.stderr)")
    }
}
