import CSluiceMain
import Glibc
import SluiceKit

/// The command line's run: parse, validate, open the output, run, map the outcome to an exit
/// status. Both executables call it: `sluice`, and `sluice-servers` with the sinks of database
/// servers (`-O postgresql://`, `clickhouse://`), which `sluice` becomes for such an output.

/// The name sluice was invoked by (`grep` when installed as grep), as GNU tools do.
let invokedAs: String = {
    guard let first = CommandLine.unsafeArgv[0] else { return "sluice" }
    // The last part of the path, found by strrchr: `split` was 1.2% of an empty run's time
    // (its generic code's first use instantiates its types' metadata).
    guard let slash = strrchr(first, 0x2F) else { return String(cString: first) }
    let name = String(cString: slash + 1)
    return name.isEmpty ? "sluice" : name
}()

/// The name messages start with: Debian's `egrep` and `fgrep` are scripts running `grep -E`
/// and `grep -F`, whose messages say `grep:`.
let programName = invokedAs == "egrep" || invokedAs == "fgrep" ? "grep" : invokedAs

func printError(_ line: String) {
    writeStandardError("\(programName): \(line)\n")
}

/// An error as grep writes one: a file name that is not UTF-8 keeps its bytes.
func printError(_ error: SluiceError, prefix: String = "") {
    writeStandardError(Array("\(programName): \(prefix)".utf8) + error.bytes + [0x0A])
}

func writeStandardError(_ text: String) {
    writeStandardError(Array(text.utf8))
}

func writeStandardError(_ text: [UInt8]) {
    var bytes = text[...]
    while !bytes.isEmpty {
        let n = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return }
        bytes = bytes.dropFirst(n)
    }
}

/// Where standard input's reading starts, when it is a regular file holding plain text (grep's
/// `-m` leaves it after the last selected line: counted from here; a compressed stream's
/// offsets are not the file's); nil otherwise.
let standardInputStart: off_t? = {
    var info = stat()
    guard fstat(0, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
    let start = lseek(0, 0, SEEK_CUR)
    guard start >= 0 else { return nil }
    var head = [UInt8](repeating: 0, count: 16)
    let count = head.withUnsafeMutableBytes { pread(0, $0.baseAddress, 16, start) }
    guard count >= 0, !startsCompressedStream(Array(head[..<count])) else { return nil }
    return start
}()

/// `servers`: the sinks of database servers (in `sluice-servers`, with their client libraries);
/// nil in `sluice`, which then becomes `sluice-servers` for such an output (`becomeServers`).
/// `serverLibraries`: their names and versions, for `--version`.
public func runMain(servers: (any DatabaseSinkMaker)?, serverLibraries: [(name: String, version: String)] = []) async -> Int32 {
    // sluice: becomes sluice-servers for a database server's output; sluice-servers: keeps
    // nothing of that in the environment its --exec commands see.
    // The command line, read once (getopt's pass): which output, grep's warnings, the command.
    // Arguments are bytes (a pattern or a name need not be UTF-8). Installed as egrep or
    // fgrep: `grep -E` or `grep -F`, as Debian's egrep and fgrep scripts run (so `egrep -F` is
    // grep's "conflicting matchers specified").
    let implied: [[UInt8]] = invokedAs == "egrep" ? [Array("-E".utf8)] : invokedAs == "fgrep" ? [Array("-F".utf8)] : []
    let asGrep = ["grep", "egrep", "fgrep"].contains(invokedAs)
    let parsed = Result { () throws(GrepCommandLine.UsageError) in
        try GrepCommandLine.parse(implied + commandLineArguments(), posixlyCorrect: getenv("POSIXLY_CORRECT") != nil, shortBIsByteOffset: asGrep)
    }
    let serversUnavailable = servers == nil ? becomeServersIfAsked(parsed) : nil
    if servers != nil { unsetenv(becameServersMarker) }
    let closed = sluice_closed_standard_descriptors()  // bit N: descriptor N was closed at start
    let pipeIgnoredAtStart = sluice_ignore_sigpipe() != 0
    // Inherited "ignore SIGCHLD" makes the kernel reap --exec children itself, and their exit
    // status could never be read: children are sluice's own to wait for.
    signal(SIGCHLD, SIG_DFL)
    // Database runs (sluice-servers) hold batches until the server has stored them, made on
    // one thread and freed on another: in two heaps instead of four, ClickHouse batches of
    // 40,000 text lines at -j2 peak at 70 MiB instead of 90 (MALLOC_ARENA_MAX=2, same speed).
    sluice_tune_malloc(servers == nil ? 4 : 2)
    let command: SluiceCommand
    do {
        for warning in GrepCommandLine.warnings(parsed) { printError(warning) }
        command = try SluiceCommand(parsed: parsed)
    } catch let error as CommandLineError {
        if let message = error.message { printError(message) }
        if error.showUsage { writeStandardError(SluiceCommand.usage(programName) + "\n") }
        return error.status
    } catch {
        printError("\(error)")
        return 2
    }
    if command.showHelp {
        print(SluiceCommand.help(programName))
        return 0
    }
    if let shell = command.completionShell {
        guard let script = ShellFiles.completionScript(shell, help: SluiceCommand.help("sluice")) else {
            printError("--generate-completion-script: no script for '\(shell)' (bash, zsh or fish)")
            return 2
        }
        print(script, terminator: "")
        return 0
    }
    if command.showManual {
        print(ShellFiles.manual(help: SluiceCommand.help("sluice"), version: SluiceCommand.version, date: ShellFiles.manualDate), terminator: "")
        return 0
    }
    if command.showVersion {
        print(SluiceCommand.version)
        print("linked with " + (LibraryVersions.all + serverLibraries).map { "\($0.name) \($0.version)" }.joined(separator: ", "))
        if servers == nil { print("database servers (-O postgresql://, clickhouse://): \(serversExecutable), beside it") }
        return 0
    }
    for error in command.walkErrors where !command.presentation.suppressInputErrors { printError(error) }
    if (command.recursive || command.filteredAway) && command.inputs.isEmpty && !command.explain {
        return command.walkErrors.allSatisfy { $0.code == .warning } ? 1 : 2  // no file under the folders: nothing to read (not stdin)
    }
    var spec: PipelineSpec
    let runner: PipelineRunner
    do {
        spec = try command.makeSpec(cores: Int(sluice_available_cores()))
        spec.standardInputClosed = closed & 1 != 0
        spec.standardInputSeekable = standardInputStart != nil
        if closed & 2 != 0 && spec.output == .standardOutput && !spec.quiet && !command.explain {
            printError("(standard output): Bad file descriptor")
            return 2
        }
        runner = try PipelineRunner(spec: spec)
    } catch {
        printError("\(error)")
        for other in (error as? SluiceError)?.others ?? [] { printError(other) }
        return 2
    }
    // Debian's grep shows its "stray \" warnings only when asked to; sluice follows it.
    let strayWarnings = getenv("DEB_GREP_ENABLE_STRAY_BACKSLASH_WARN") != nil
    if let legacy = spec.presentation.colors?.legacyWarning { printError(legacy) }
    for warning in runner.warnings where strayWarnings || !warning.contains("stray \\") { printError(warning) }
    if command.explain {
        print(runner.explanation.joined(separator: "\n"))
        return 0
    }
    // grep's shortcut: when no line can be selected (-m 0, no pattern at all, -v with the
    // empty pattern) it exits 1 without opening any input, unless -L is to list them.
    if (spec.maxCount == 0 || spec.selectsNoLine) && spec.presentation.listFiles != .withoutMatch { return 1 }
    // Signals first: the sink creates its temporary files, which a second signal removes.
    //
    // Not swift-service-lifecycle's `UnixSignals` (evaluated for issue 8): on Linux a Dispatch
    // signal source replaces the process's sigaction handler with its own (measured: after
    // `DispatchSource.makeSignalSource(signal: SIGTERM)`, a C handler installed before never
    // runs again), so the C handler that must act on the *second* signal at once (remove the
    // temporaries, SIGKILL the children, async-signal-safe, even while the runtime is busy)
    // could not coexist with it; and it would catch signals ignored at start (`nohup`). The
    // C handler (CSluiceMain) writes to a pipe, read by this one thread.
    //
    // A followed run into -O FILE (a daemon's log) takes SIGHUP as "open your output again"
    // (logrotate's postrotate); any other run takes it as a stop, exit 129 (grep dies of it
    // with that status; dying left an -O run's temporary files behind).
    let stop = StopRequest()
    let reopen = ReopenRequest()
    var reopensOnHangup = false
    if spec.follow, case .file = spec.output { reopensOnHangup = true }  // only an appended -O FILE reopens
    let signalFD = sluice_install_signal_pipe(reopensOnHangup ? 1 : 0)
    if signalFD >= 0 {
        startDetachedThread(stackSize: 64 * 1024) { [reopensOnHangup] in
            while true {
                var byte: UInt8 = 0
                let n = read(signalFD, &byte, 1)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                if Int32(byte) == SIGHUP && reopensOnHangup {
                    reopen.request()
                } else {
                    stop.stop()
                    endStopHeldByAMatch()
                }
            }
        }
    }
    let sink: any LineSink
    do {
        sink = try await runner.makeSink(stop: stop, databases: servers, reopen: reopen)
    } catch let error as SluiceError where serversUnavailable != nil && error.code == .output {
        printError(serversUnavailable ?? "\(error)")  // the database server's sink is in sluice-servers, not found
        return 2
    } catch {
        let signal = sluice_received_signal()
        if signal != 0, (error as? SluiceError)?.code == .interrupted { return 128 + signal }  // stopped waiting for a FIFO's reader
        printError("\(error)")
        return 2
    }
    let quietInputs = spec.presentation.suppressInputErrors
    var report = await runner.run(sink: sink, stop: stop) { error in
        if quietInputs && error.code == .input && !error.endsRun { return }  // -s: the exit status still says 2 (grep -P's death is said)
        printError(error, prefix: error.code == .warning && !error.isNotice ? "warning: " : "")
    }
    if !report.failed && sluice_received_signal() == 0 {
        do {
            try sink.removeSupersededFiles()  // only after a run that succeeded: a failed one loses nothing
        } catch {
            printError("\(error)")
            report.failed = true
        }
    }
    if spec.stats { printError(report.summary) }
    if command.walkErrors.contains(where: { $0.code != .warning }) { report.failed = true }
    var result = report
    let signal = sluice_received_signal()
    if signal != 0 { result.interruptedBy = signal }
    // grep -m on standard input leaves its offset just past the last selected line (a pipe
    // cannot seek: nothing happens there, as in grep).
    if let offset = report.standardInputOffset, let start = standardInputStart { _ = lseek(0, start + off_t(offset), SEEK_SET) }
    if report.outputClosed && signal == 0 {
        // grep's end when its reader goes away (`| head -1`): killed by SIGPIPE, status 141;
        // with SIGPIPE ignored at start, a write error and exit 2.
        if pipeIgnoredAtStart {
            printError("write error: Broken pipe")
            return 2
        }
        sluice_die_of_sigpipe()
    }
    return result.exitStatus(quiet: spec.quiet)
}

/// After a stop: a run held for a whole second by PCRE2 calls on lines decided alone, none of
/// which ended meanwhile (`-P 'A.*B.*!'` on a 1 MB line: minutes, and a call PCRE2 cannot
/// break off), ends as a second signal ends it, with a line saying why, as grep dies at once of
/// the first. Calls that keep ending (a drain through many long lines) are progress: waited
/// for. Never returns; the process ends when the run does. (After the stop this thread reads
/// no more signal bytes: a second signal acts in the handler itself.)
func endStopHeldByAMatch() -> Never {
    var held: (since: ContinuousClock.Instant, ended: Int)?
    while true {
        usleep(100_000)
        let (running, ended) = RegexMatcher.longMatches
        guard running else {
            held = nil
            continue
        }
        let now = ContinuousClock.now
        guard let start = held, start.ended == ended else {
            held = (now, ended)  // a call ended since: progress
            continue
        }
        if start.since.duration(to: now) >= .seconds(1) {
            sluice_end_as_second_signal("\(programName): stopped while a pattern was being matched on a long line (PCRE2 cannot break off a match): "
                                        + "what was not yet written is lost, temporary files removed\n")
        }
    }
}

/// The arguments after the program name, as bytes (a pattern or a name need not be UTF-8).
func commandLineArguments() -> [[UInt8]] {
    (1..<Int(CommandLine.argc)).map { index in
        Array(UnsafeBufferPointer(start: CommandLine.unsafeArgv[index].map { UnsafeRawPointer($0).assumingMemoryBound(to: UInt8.self) },
                                  count: CommandLine.unsafeArgv[index].map { strlen($0) } ?? 0))
    }
}

/// The executable holding the sinks of database servers, installed beside `sluice`.
let serversExecutable = "sluice-servers"

/// Set in the environment of the `sluice-servers` that `sluice` becomes, and removed by it at
/// once: a `sluice` that finds it set was started as `sluice-servers` (a copy or a link of
/// `sluice` installed under that name) and must not exec again, endlessly.
let becameServersMarker = "SLUICE_BECAME_SERVERS"

/// `-O postgresql://…` or `-O clickhouse://…`: this process becomes `sluice-servers` (execv,
/// the same arguments, environment, descriptors and signal mask), which holds those sinks and
/// their client libraries (PostgresNIO, AsyncHTTPClient and what they bring: 7,100 of the
/// 9,300 protocol conformances the Swift runtime scanned at each start, and 140 of the 160 MB).
/// `sluice` alone starts in 4.1 ms instead of 5.7 (hyperfine, an empty input). Done before
/// anything else: nothing printed or created, no signal disposition changed, the mask the
/// process started with restored (execv runs on a pool thread, which blocks signals), and the
/// standard descriptors that were closed at start (CSluiceMain holds them with /dev/null)
/// closed again. Looked up beside the executable (/proc/self/exe), then beside argv[0], then on
/// PATH. Returns why it could not (nothing done then either; the run goes on, and fails only
/// if it comes to write to the server); nil when no server is asked for.
func becomeServersIfAsked(_ parsed: Result<GrepCommandLine.Parsed, GrepCommandLine.UsageError>) -> String? {
    guard let output = (try? parsed.get())?.options.last(where: { $0.key == .output })?.value,
          ["postgresql://", "postgres://", "clickhouse://"].contains(where: { output.starts(with: $0.utf8) }) else { return nil }
    if getenv(becameServersMarker) != nil {
        return "this \(serversExecutable) is sluice without the database servers' sinks (a copy or a link of sluice?): install the one built with it"
    }
    // Candidates, as bytes (a folder name need not be UTF-8).
    var candidates: [[UInt8]] = []
    var own = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
    let length = own.withUnsafeMutableBufferPointer { readlink("/proc/self/exe", UnsafeMutableRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), Int(PATH_MAX)) }
    if length > 0, let slash = own[..<length].lastIndex(of: UInt8(ascii: "/")) {
        candidates.append(Array(own[...slash]) + Array(serversExecutable.utf8))
    }
    if let first = CommandLine.unsafeArgv[0] {
        let argv0 = Array(UnsafeBufferPointer(start: UnsafeRawPointer(first).assumingMemoryBound(to: UInt8.self), count: strlen(first)))
        if let slash = argv0.lastIndex(of: UInt8(ascii: "/")) { candidates.append(Array(argv0[...slash]) + Array(serversExecutable.utf8)) }
    }
    let closed = sluice_closed_standard_descriptors()
    setenv(becameServersMarker, "1", 1)
    var poolMask = sigset_t()
    pthread_sigmask(SIG_BLOCK, nil, &poolMask)
    sluice_restore_initial_signal_mask()
    for fd in Int32(0)...2 where closed & (1 << fd) != 0 { close(fd) }
    var firstFailure: (path: [UInt8], errno: Int32)?
    for candidate in candidates {
        (candidate + [0]).withUnsafeBufferPointer { path in
            _ = execv(UnsafeRawPointer(path.baseAddress!).assumingMemoryBound(to: CChar.self), CommandLine.unsafeArgv)
        }
        if firstFailure == nil { firstFailure = (candidate, errno) }
    }
    execvp(serversExecutable, CommandLine.unsafeArgv)  // on PATH
    let failure = firstFailure ?? (Array(serversExecutable.utf8), errno)
    // Nothing was done: as it was.
    for fd in Int32(0)...2 where closed & (1 << fd) != 0 {
        let null = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY)
        if null >= 0 && null != fd { dup2(null, fd); close(null) }
    }
    unsetenv(becameServersMarker)
    pthread_sigmask(SIG_SETMASK, &poolMask, nil)
    return String(decoding: failure.path, as: UTF8.self) + ": " + String(cString: strerror(failure.errno))
        + " (\(serversExecutable), which writes to database servers, is installed beside sluice)"
}

/// Runs `body` (an executable's `runMain`) as a task on the concurrency pool while the calling
/// thread, the process's main thread, waits for its exit status; for a synchronous `main`.
///
/// An `async` top-level `main` parks the main thread in `dispatch_main` and runs its code on
/// the main queue, which Dispatch serves from a thread of its own: the run started by one hop
/// and ended by another onto a newly created thread (an empty input: 4.33 -> 4.23 ms a call,
/// medians of interleaved loops of 200 calls, fork and exec included).
/// Signals reach the main thread (the pool's threads block them), whose handler (CSluiceMain)
/// interrupts this wait; the wait goes on. The thread waits with no signal blocked, as
/// `dispatch_main`'s `sigsuspend` did: a mask inherited blocked (a test runner's spawn, a
/// supervisor's) would otherwise keep SIGTERM from ever reaching sluice.
public func runToCompletion(_ body: @escaping @Sendable () async -> Int32) -> Int32 {
    final class Outcome: @unchecked Sendable {
        // `@unchecked`: `status` is written once by the task before `sem_post`, read after
        // `sem_wait` returns (the semaphore orders the two).
        var status: Int32 = 0
        let done = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
        init() { sem_init(done, 0, 0) }
    }
    let outcome = Outcome()
    Task.detached {
        outcome.status = await body()
        sem_post(outcome.done)
    }
    var none = sigset_t()
    sigemptyset(&none)
    pthread_sigmask(SIG_SETMASK, &none, nil)
    while sem_wait(outcome.done) != 0 && errno == EINTR {}
    return outcome.status
}
