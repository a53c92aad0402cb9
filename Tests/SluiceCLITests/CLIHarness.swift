import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// The harness the CLI tests share: where the binary and the fixtures are, how a child process is
// run (stdout and stderr drained concurrently, stdin fed from another thread, a timeout that
// kills it), and the oracles (grep, zcat, tr, sed, perl, split) run through /bin/sh.

// MARK: - Paths

enum Paths {
    /// The repository root: this file is `<repo>/Tests/SluiceCLITests/CLIHarness.swift`.
    static let repository: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent()

    static let fixtures: URL = repository.appendingPathComponent("Fixtures")

    static func fixture(_ name: String) -> String {
        fixtures.appendingPathComponent(name).path
    }

    static func loghub(_ name: String) -> String {
        fixtures.appendingPathComponent("loghub").appendingPathComponent(name).path
    }

    /// The eight loghub logs (2,000 real lines each, CRLF ends, most without a final newline).
    static let loghubLogs: [String] = [
        "Android_2k.log", "Apache_2k.log", "HDFS_2k.log", "Hadoop_2k.log",
        "Linux_2k.log", "OpenSSH_2k.log", "Spark_2k.log", "Zookeeper_2k.log",
    ]

    /// The small hand-made plain fixtures, each holding one byte-level oddity.
    static let oddityFixtures: [String] = [
        "crlf.log", "no-final-newline.log", "cr-only.log", "nul-bytes.log",
        "invalid-utf8.log", "empty.log", "whitespace.log",
    ]
}

/// The sluice executable under test: `$SLUICE_BIN`, else `sluice` beside the running test
/// executable (the test target depends on the executable, so SwiftPM builds it there), else
/// `<repo>/.build/debug/sluice`.
enum SluiceBinary {
    static let path: String = {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["SLUICE_BIN"], !explicit.isEmpty {
            return explicit
        }
        if let testExecutable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            let besideTests = URL(fileURLWithPath: testExecutable)
                .deletingLastPathComponent()
                .appendingPathComponent("sluice").path
            if FileManager.default.isExecutableFile(atPath: besideTests) {
                return besideTests
            }
        }
        return Paths.repository.appendingPathComponent(".build/debug/sluice").path
    }()

    static var exists: Bool { FileManager.default.isExecutableFile(atPath: path) }
}

/// Tools an oracle may need that a minimal machine might lack.
/// Whether the suite runs under a sanitizer (`make sanitize` sets SLUICE_SANITIZER): every
/// process is 10-20x slower, so the broadest differential sweeps run a rotating part.
let underSanitizer = ProcessInfo.processInfo.environment["SLUICE_SANITIZER"] != nil

enum Tool {
    static func available(_ name: String) -> Bool {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/\(name)")
        }
    }

    static let hasBgzip = available("bgzip")
}

// MARK: - Temporary directories

/// A fresh directory under the system temporary folder; call `remove()` (in a `defer`).
struct TemporaryDirectory: Sendable {
    let url: URL

    init() throws {
        var template = Array(
            FileManager.default.temporaryDirectory.appendingPathComponent("sluice-cli-XXXXXX").path.utf8CString
        )
        guard let made = mkdtemp(&template) else {
            throw HarnessError("mkdtemp failed: errno \(errno)")
        }
        url = URL(fileURLWithPath: String(cString: made))
    }

    var path: String { url.path }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let target = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: target))
        return target
    }

    func makeSubdirectory(_ name: String) throws -> String {
        let target = path(name)
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        return target
    }

    /// Every entry of a directory, hidden ones included, sorted.
    static func entries(of directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }

    func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func readBytes(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

// MARK: - Running a process

/// How much of stdout had arrived, and when (measured from the launch).
struct OutputArrival: Sendable {
    var totalBytes: Int
    var at: Duration
}

struct ProcessOutput: Sendable {
    var stdout: [UInt8]
    var stderr: String
    /// The exit status, or 128 + the signal number when a signal ended the process.
    var status: Int32
    /// From launch to exit (not to the end of the pipes).
    var elapsed: Duration
    var stdoutArrivals: [OutputArrival]
    var timedOut: Bool

    var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    /// The lines of stdout without their newline (split on bytes: a `String` would see "\r\n"
    /// as one character).
    var stdoutLines: [String] {
        stdout.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .dropLast()
            .map { String(decoding: $0, as: UTF8.self) }
    }
}

enum StandardInput: Sendable {
    /// `/dev/null`.
    case empty
    /// These bytes, then end of input.
    case bytes([UInt8])
    /// A file opened for reading.
    case file(String)
    /// A pipe whose write end stays open until the process ends: input that never finishes.
    case heldOpen
    /// These bytes (at most a pipe buffer, 64 KiB), then a write end held open until the
    /// process ends: input that stops coming but never finishes.
    case prefixThenHeldOpen([UInt8])
}

/// Child processes in flight at once, across all tests. Swift Testing runs every test case
/// concurrently; on a 2-core machine an unbounded fan-out of processes would make the timing
/// tests (trickling input, `| head -1`) meaningless.
actor ProcessSlots {
    static let shared = ProcessSlots(count: max(3, ProcessInfo.processInfo.activeProcessorCount + 1))

    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(count: Int) { free = count }

    func acquire() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty {
            free += 1
        } else {
            waiting.removeFirst().resume()
        }
    }
}

/// A one-shot event an async caller can wait for; fired from any thread, any number of times.
final class Latch: @unchecked Sendable {
    // @unchecked: every stored property is read and written only under `lock`.
    private let lock = NSLock()
    private var fired = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    /// When it fired: a waiting task may resume much later on a loaded machine (the full
    /// suite, two cores: a process that exited at once was seen 17 s after its start).
    private var firedInstant: ContinuousClock.Instant?

    var firedAt: ContinuousClock.Instant? {
        lock.lock()
        defer { lock.unlock() }
        return firedInstant
    }

    func fire() {
        lock.lock()
        if fired {
            lock.unlock()
            return
        }
        fired = true
        firedInstant = ContinuousClock.now
        let toResume = waiters
        waiters = []
        lock.unlock()
        for waiter in toResume { waiter.resume() }
    }

    var hasFired: Bool {
        lock.lock()
        defer { lock.unlock() }
        return fired
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            lock.lock()
            if fired {
                lock.unlock()
                continuation.resume()
            } else {
                waiters.append(continuation)
                lock.unlock()
            }
        }
    }

    /// Fires the latch after `delay` unless it fired before.
    func fire(after delay: Duration) {
        let nanoseconds = delay.components.seconds * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(nanoseconds))) { self.fire() }
    }
}

/// Drains a file descriptor to end of file on its own thread, recording when bytes arrived.
final class PipeDrain: @unchecked Sendable {
    // @unchecked: the mutable state is touched only under `lock`.
    private let lock = NSLock()
    private var bytes: [UInt8] = []
    private var arrivals: [OutputArrival] = []
    let finished = Latch()

    init(fileDescriptor: Int32, startedAt start: ContinuousClock.Instant) {
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(fileDescriptor, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                let now = ContinuousClock.now
                lock.lock()
                bytes.append(contentsOf: buffer[0..<count])
                arrivals.append(OutputArrival(totalBytes: bytes.count, at: now - start))
                lock.unlock()
            }
            close(fileDescriptor)
            finished.fire()
        }
        thread.start()
    }

    var snapshot: (bytes: [UInt8], arrivals: [OutputArrival]) {
        lock.lock()
        defer { lock.unlock() }
        return (bytes, arrivals)
    }
}

/// Writes bytes to a file descriptor on its own thread, then closes it. A reader that goes
/// away early (EPIPE) just ends the writing.
private func feed(_ bytes: [UInt8], to fileDescriptor: Int32) {
    let thread = Thread {
        var offset = 0
        bytes.withUnsafeBytes { raw in
            while offset < raw.count {
                let written = write(fileDescriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { break }
                offset += written
            }
        }
        close(fileDescriptor)
    }
    thread.start()
}

/// A copy of `fileDescriptor` that children spawned concurrently by other tests do not inherit
/// (an inherited write end would delay the end of a pipe until that other child exits).
private func duplicateClosingOnExec(_ fileDescriptor: Int32) -> Int32 {
    fcntl(fileDescriptor, F_DUPFD_CLOEXEC, 0)
}

private let ignoreSigpipeOnce: Void = {
    // The stdin feeder must survive a child that exits without reading everything. Children
    // get SIGPIPE back at its default through `env --default-signal=PIPE` (see `launch`).
    signal(SIGPIPE, SIG_IGN)
}()

/// Runs `executable` with `arguments` and returns everything it printed and its status.
///
/// The child runs under `env --default-signal=PIPE` so that it sees the SIGPIPE disposition a
/// shell would give it whatever the test process does, with `SWIFT_BACKTRACE=enable=no` (a
/// crashing Swift child must not hang in the backtracer holding the pipes). After `timeout` its
/// whole process group is killed and `timedOut` is set. Waiting for the end of stdout/stderr is
/// bounded too, so a grandchild that keeps a pipe open cannot hang the suite. `signal`, when
/// given, is sent to the child alone after a delay. Foundation reports the exit only once every
/// descendant has let go of the child's file descriptors, so `elapsed` covers them too.
func runProcess(
    _ executable: String,
    _ arguments: [String],
    stdin: StandardInput = .empty,
    environment extra: [String: String] = [:],
    currentDirectory: String? = nil,
    timeout: Duration = .seconds(60),
    signal: (number: Int32, after: Duration)? = nil
) async throws -> ProcessOutput {
    _ = ignoreSigpipeOnce
    await ProcessSlots.shared.acquire()
    do {
        let output = try await launch(
            executable, arguments, stdin: stdin, environment: extra,
            currentDirectory: currentDirectory, timeout: timeout, signal: signal
        )
        await ProcessSlots.shared.release()
        return output
    } catch {
        await ProcessSlots.shared.release()
        throw error
    }
}

private func launch(
    _ executable: String,
    _ arguments: [String],
    stdin: StandardInput,
    environment extra: [String: String],
    currentDirectory: String?,
    timeout: Duration,
    signal: (number: Int32, after: Duration)?
) async throws -> ProcessOutput {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["--default-signal=PIPE", executable] + arguments
    var environment = ProcessInfo.processInfo.environment
    environment["SWIFT_BACKTRACE"] = "enable=no"
    for (key, value) in extra { environment[key] = value }
    process.environment = environment
    if let currentDirectory {
        process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory)
    }

    let stdoutPipe = Pipe()
    let stderrPipe = Pipe()
    process.standardOutput = stdoutPipe
    process.standardError = stderrPipe

    var stdinPipe: Pipe?
    switch stdin {
    case .empty:
        process.standardInput = FileHandle.nullDevice
    case .file(let path):
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw HarnessError("cannot open \(path) for stdin")
        }
        process.standardInput = handle
    case .bytes, .heldOpen, .prefixThenHeldOpen:
        let pipe = Pipe()
        stdinPipe = pipe
        process.standardInput = pipe
    }

    let exited = Latch()
    process.terminationHandler = { _ in exited.fire() }

    let start = ContinuousClock.now
    try process.run()
    let stdoutDrain = PipeDrain(fileDescriptor: duplicateClosingOnExec(stdoutPipe.fileHandleForReading.fileDescriptor), startedAt: start)
    let stderrDrain = PipeDrain(fileDescriptor: duplicateClosingOnExec(stderrPipe.fileHandleForReading.fileDescriptor), startedAt: start)
    try? stdoutPipe.fileHandleForReading.close()
    try? stderrPipe.fileHandleForReading.close()

    var heldStdin: Int32 = -1
    if let stdinPipe {
        let writeEnd = duplicateClosingOnExec(stdinPipe.fileHandleForWriting.fileDescriptor)
        try? stdinPipe.fileHandleForWriting.close()
        switch stdin {
        case .bytes(let bytes):
            feed(bytes, to: writeEnd)
        case .prefixThenHeldOpen(let bytes):
            precondition(bytes.count <= 65536, "the prefix must fit in the pipe buffer")
            _ = bytes.withUnsafeBytes { write(writeEnd, $0.baseAddress, $0.count) }
            heldStdin = writeEnd
        default:
            heldStdin = writeEnd
        }
    }

    // `env` execs the program, so this is the program's own process id.
    let pid = process.processIdentifier
    if let signal {
        let nanoseconds = signal.after.components.seconds * 1_000_000_000 + signal.after.components.attoseconds / 1_000_000_000
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(nanoseconds))) {
            if !exited.hasFired { kill(pid, signal.number) }
        }
    }
    let killer = Latch()
    let timedOutFlag = Latch()
    let nanoseconds = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
    DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(nanoseconds))) {
        if !exited.hasFired && !killer.hasFired {
            timedOutFlag.fire()
            // Foundation starts each child as the leader of its own process group; kill the
            // group, so that a grandchild holding the pipes (or Foundation's exit-watching
            // socket) cannot keep the test waiting.
            kill(-pid, SIGKILL)
        }
    }

    await exited.wait()
    killer.fire()
    let elapsed = (exited.firedAt ?? ContinuousClock.now) - start
    if heldStdin >= 0 { close(heldStdin) }

    // The pipes end when the last holder closes them; a leftover grandchild may hold them.
    let drained = Latch()
    Task {
        await stdoutDrain.finished.wait()
        await stderrDrain.finished.wait()
        drained.fire()
    }
    drained.fire(after: .seconds(10))
    await drained.wait()

    let status: Int32 = switch process.terminationReason {
    case .exit: process.terminationStatus
    case .uncaughtSignal: 128 + process.terminationStatus
    @unknown default: process.terminationStatus
    }
    let out = stdoutDrain.snapshot
    return ProcessOutput(
        stdout: out.bytes,
        stderr: String(decoding: stderrDrain.snapshot.bytes, as: UTF8.self),
        status: status,
        elapsed: elapsed,
        stdoutArrivals: out.arrivals,
        timedOut: timedOutFlag.hasFired
    )
}

// MARK: - sluice and the oracles

enum Sluice {
    /// Filter flags as the differential tests give them to sluice, meaning what
    /// `Oracle.grepArguments(forSluiceFilter:)` makes them mean to grep: extended syntax unless
    /// one is named, and `-e ''` (every line) when no pattern is given; `-a`, as the oracle
    /// runs `grep -a` (the binary-file rule has its own tests, `GrepContractTests.binaryFiles`).
    static func filter(_ flags: [String]) -> [String] {
        if flags.contains("-p") { return flags }
        let syntax = flags.contains { ["-F", "-P", "-G", "-E"].contains($0) } ? [] : ["-E"]
        return ["-a"] + syntax + flags + (flags.contains("-e") ? [] : ["-e", ""])
    }

    /// Runs the sluice binary. Fails the test early, with a clear message, when it is not built.
    static func run(
        _ arguments: [String],
        stdin: StandardInput = .empty,
        currentDirectory: String? = nil,
        timeout: Duration = .seconds(60),
        signal: (number: Int32, after: Duration)? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> ProcessOutput {
        try #require(
            SluiceBinary.exists,
            "sluice binary not found at \(SluiceBinary.path) (set SLUICE_BIN or build the package)",
            sourceLocation: sourceLocation
        )
        return try await runProcess(
            SluiceBinary.path, arguments, stdin: stdin,
            currentDirectory: currentDirectory, timeout: timeout, signal: signal
        )
    }
}

extension Sluice {
    /// Runs each command line in `directory` and expects grep's usage-error shape: exit 2,
    /// `sluice: MESSAGE` as the whole of stderr, nothing on stdout.
    static func expectErrors(_ cases: [(arguments: [String], message: String)], in directory: String,
                             sourceLocation: SourceLocation = #_sourceLocation) async throws {
        for (arguments, message) in cases {
            let result = try await run(arguments, currentDirectory: directory, sourceLocation: sourceLocation)
            #expect(result.status == 2, "\(arguments)", sourceLocation: sourceLocation)
            #expect(result.stderr == "sluice: \(message)\n", "\(arguments)", sourceLocation: sourceLocation)
            #expect(result.stdout.isEmpty, "\(arguments)", sourceLocation: sourceLocation)
        }
    }
}

enum Shell {
    /// Runs `script` with `/bin/sh -c` and `LC_ALL=C` (byte semantics for grep, tr, sed, perl);
    /// `$SLUICE` names the binary under test.
    static func run(
        _ script: String,
        stdin: StandardInput = .empty,
        timeout: Duration = .seconds(60)
    ) async throws -> ProcessOutput {
        try await run(script, shell: "/bin/sh", stdin: stdin, timeout: timeout)
    }

    /// Runs `script` with `bash -c` (for `PIPESTATUS`).
    static func bash(
        _ script: String,
        stdin: StandardInput = .empty,
        timeout: Duration = .seconds(60)
    ) async throws -> ProcessOutput {
        try await run(script, shell: "/bin/bash", stdin: stdin, timeout: timeout)
    }

    private static func run(_ script: String, shell: String, stdin: StandardInput, timeout: Duration) async throws -> ProcessOutput {
        try await runProcess(
            shell, ["-c", script], stdin: stdin,
            environment: ["SLUICE": SluiceBinary.path, "LC_ALL": "C"], timeout: timeout
        )
    }

    /// The stdout of a script that must succeed (a failing oracle is a broken test, not a
    /// sluice bug, so it throws).
    static func output(_ script: String, stdin: StandardInput = .empty) async throws -> [UInt8] {
        let result = try await run(script, stdin: stdin)
        guard result.status == 0 else {
            throw HarnessError("oracle failed (\(result.status)): \(script)\n\(result.stderr)")
        }
        return result.stdout
    }

    /// Defines `detach COMMAND...` in a bash script: COMMAND runs with the script's descriptors
    /// above 2 closed, for a process that outlives the script (a database server, a tmux
    /// server). Foundation learns of a child's exit from a socket the child inherits: a server
    /// holding it kept a test waiting past its own timeout (which kills the script's process
    /// group; a daemon is in another). Closed in a subshell only: once the script itself closes
    /// it, Foundation's one watching thread waits (waitpid) for the script's end and notices no
    /// other child's exit meanwhile.
    /// (A background `detach X &` is two processes, `$!` the outer one: where `$!` must be
    /// the daemon's, write `( \(Shell.closesInherited)exec X ) &`.)
    static let definesDetach = #"detach() ( "# + closesInherited + #"exec "$@" ); "#
    /// Closes the (sub)shell's descriptors above 2 (bash).
    static let closesInherited = #"for fd in /proc/$BASHPID/fd/*; do n=${fd##*/}; [ "$n" -gt 2 ] 2>/dev/null && eval "exec $n>&-"; done; "#

    static func quote(_ word: String) -> String {
        "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    static func quote(_ words: [String]) -> String {
        words.map { quote($0) }.joined(separator: " ")
    }
}

enum Oracle {
    /// `zcat -f INPUTS | LC_ALL=C grep -a ARGS`: what sluice must print, and its exit status.
    /// With no inputs grep reads the script's stdin. `zcat -f` copies bytes after the last
    /// member (zero padding) to its output; `decompressor: "zcat"` drops them.
    static func grep(
        _ grepArguments: [String],
        inputs: [String],
        stdin: StandardInput = .empty,
        decompressor: String = "zcat -f"
    ) async throws -> ProcessOutput {
        let script: String
        if inputs.count <= 1 {
            let source = inputs.isEmpty ? "cat" : "\(decompressor) -- \(Shell.quote(inputs))"
            let label = inputs.first.map { $0 == "-" ? [] : ["--label=\($0)"] } ?? []
            script = "\(source) | LC_ALL=C grep -a \(Shell.quote(label + grepArguments))"
        } else {
            // As zgrep with several files: each file decompressed and searched on its own, its
            // name shown (unless the arguments say -h), grep's exit status over them all.
            script = "st=1; " + inputs.map { input in
                let label = input == "-" ? "(standard input)" : input
                return "\(decompressor) -- \(Shell.quote(input)) | LC_ALL=C grep -a -H --label=\(Shell.quote(label)) "
                    + "\(Shell.quote(grepArguments)); r=$?; if [ $r = 0 ]; then st=0; elif [ $r -gt 1 ]; then exit $r; fi"
            }.joined(separator: "; ") + "; exit $st"
        }
        let result = try await Shell.run(script, stdin: stdin)
        guard result.status <= 1 else {
            throw HarnessError("grep oracle failed (\(result.status)) for \(grepArguments) on \(inputs): \(result.stderr)")
        }
        return result
    }

    /// The grep arguments that mean what sluice's filter flags mean: `-E` unless `-F` is given
    /// (the patterns used are the same in PCRE and ERE), and `-e ''` when no pattern is given
    /// (sluice keeps every line).
    static func grepArguments(forSluiceFilter flags: [String]) -> [String] {
        var arguments = flags
        if !flags.contains("-e") { arguments += ["-e", ""] }
        return (flags.contains("-F") ? [] : ["-E"]) + arguments
    }
}

/// `bytes` with a newline appended when it does not end in one (sluice ends every line, as grep
/// does; tr, sed and perl keep a missing final newline missing).
func endingInNewline(_ bytes: [UInt8]) -> [UInt8] {
    if let last = bytes.last, last != UInt8(ascii: "\n") { return bytes + [UInt8(ascii: "\n")] }
    return bytes
}

func lines(_ strings: [String]) -> [UInt8] {
    Array(strings.map { $0 + "\n" }.joined().utf8)
}

// MARK: - Comparing bytes

/// Explains how `actual` differs from `expected`, or nil when they are equal: sizes, the first
/// differing byte, and the line around it in both, escaped.
func difference(_ actual: [UInt8], _ expected: [UInt8]) -> String? {
    if actual == expected { return nil }
    var index = 0
    while index < actual.count, index < expected.count, actual[index] == expected[index] { index += 1 }
    func lineAround(_ bytes: [UInt8]) -> String {
        guard index <= bytes.count else { return "" }
        var start = index
        while start > 0, bytes[start - 1] != UInt8(ascii: "\n"), index - start < 200 { start -= 1 }
        var end = index
        while end < bytes.count, bytes[end] != UInt8(ascii: "\n"), end - index < 200 { end += 1 }
        if end < bytes.count { end += 1 }
        return escaped(bytes[start..<end])
    }
    let lineNumber = expected[0..<min(index, expected.count)].filter { $0 == UInt8(ascii: "\n") }.count + 1
    return """
        got \(actual.count) bytes (\(actual.filter { $0 == 10 }.count) lines), \
        expected \(expected.count) bytes (\(expected.filter { $0 == 10 }.count) lines); \
        first difference at byte \(index), output line \(lineNumber)
          got:      \(index < actual.count ? lineAround(actual) : "<end of output>")
          expected: \(index < expected.count ? lineAround(expected) : "<end of output>")
        """
}

func escaped(_ bytes: some Collection<UInt8>) -> String {
    var text = "\""
    for byte in bytes {
        switch byte {
        case UInt8(ascii: "\n"): text += "\\n"
        case UInt8(ascii: "\r"): text += "\\r"
        case UInt8(ascii: "\t"): text += "\\t"
        case UInt8(ascii: "\""): text += "\\\""
        case UInt8(ascii: "\\"): text += "\\\\"
        case 0x20..<0x7F: text += String(UnicodeScalar(byte))
        default: text += String(format: "\\x%02x", byte)
        }
    }
    return text + "\""
}

/// Records an issue naming `context` when the bytes differ.
func expectSameBytes(
    _ actual: [UInt8],
    _ expected: [UInt8],
    _ context: @autoclosure () -> String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    if let difference = difference(actual, expected) {
        Issue.record("\(context())\n\(difference)", sourceLocation: sourceLocation)
    }
}

/// Records an issue when sluice's stdout or exit status differs from the oracle's.
func expectMatchesOracle(
    _ sluice: ProcessOutput,
    _ oracle: ProcessOutput,
    _ context: @autoclosure () -> String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let context = context()
    #expect(!sluice.timedOut, "timed out: \(context)", sourceLocation: sourceLocation)
    expectSameBytes(sluice.stdout, oracle.stdout, "stdout differs: \(context)", sourceLocation: sourceLocation)
    #expect(
        sluice.status == oracle.status,
        "exit status \(sluice.status), oracle \(oracle.status): \(context); stderr: \(sluice.stderr)",
        sourceLocation: sourceLocation
    )
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
