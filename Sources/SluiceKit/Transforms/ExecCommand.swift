import CSluiceProcess
import Glibc

/// `--exec CMD`: runs `/bin/sh -c CMD` once per batch, the batch on its stdin, and returns
/// its stdout byte for byte, as `parallel --pipe -k` passes it on (nothing added: `gzip` per
/// batch gives a valid multi-member stream, `printf X` on three batches gives `XXX`).
///
/// The child runs on a dedicated thread (its pipes are blocking I/O). A child that stops
/// reading early (`head -1`) is fine: the rest of the batch is dropped. Exit status 1 with no
/// output (grep selecting nothing) is fine too. Any other non-zero exit or death
/// by a signal throws a `SluiceError` naming the command. Cancellation ends the child and
/// everything it started (it leads its own process group): SIGTERM to the group, SIGKILL
/// after `terminationGrace` if the shell has not exited by then (a command that ignores
/// SIGTERM), and the child is reaped before `run` throws `CancellationError`. The thread that
/// waits for the child belongs to the caller's `RunScope`, so the run joins it.
public struct ExecCommand: Sendable {
    public let command: String

    public init(_ command: String) {
        self.command = command
    }

    var place: String { "exec '\(command)'" }

    /// How long a cancelled command has between SIGTERM and SIGKILL (DESIGN.md §3: children
    /// never outlive sluice; a stop exits within 2 s).
    static let terminationGrace: Duration = .milliseconds(500)

    public func run(_ input: [UInt8]) async throws -> [UInt8] {
        let child = ChildHandle()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt8], any Error>) in
                RunScope.thread(stackSize: 512 * 1024) {
                    sluice_block_sigpipe_in_thread()
                    continuation.resume(with: Result { try runBlocking(input, child: child) })
                }
            }
        } onCancel: {
            child.kill()
        }
    }

    func runBlocking(_ input: [UInt8], child: ChildHandle) throws -> [UInt8] {
        var toChild: [Int32] = [-1, -1]
        var fromChild: [Int32] = [-1, -1]
        guard sluice_pipe_cloexec(&toChild) == 0 else { throw failure("cannot create a pipe: \(SluiceError.systemReason(errno))") }
        guard sluice_pipe_cloexec(&fromChild) == 0 else {
            close(toChild[0]); close(toChild[1])
            throw failure("cannot create a pipe: \(SluiceError.systemReason(errno))")
        }
        let pid = sluice_spawn_shell(command, toChild[0], fromChild[1])
        close(toChild[0])
        close(fromChild[1])
        guard pid > 0 else {
            close(toChild[1]); close(fromChild[0])
            throw failure("cannot start /bin/sh: \(SluiceError.systemReason(-pid))")
        }
        child.started(pid)
        defer { child.finished() }
        let wake = child.interrupt.wakeDescriptor

        var output: [UInt8] = []
        var readBuffer = [UInt8](repeating: 0, count: 64 * 1024)
        let writeFD = toChild[1]
        let readFD = fromChild[0]
        _ = fcntl(writeFD, F_SETFL, fcntl(writeFD, F_GETFL) | O_NONBLOCK)
        var written = 0
        var writing = true
        if input.isEmpty { close(writeFD); writing = false }
        var reading = true
        while reading || writing {
            if child.interrupt.isCancelled {
                if writing { close(writeFD) }
                close(readFD)
                terminate(pid)
                throw CancellationError()
            }
            var fds: [pollfd] = []
            if reading { fds.append(pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)) }
            if writing { fds.append(pollfd(fd: writeFD, events: Int16(POLLOUT), revents: 0)) }
            if wake >= 0 { fds.append(pollfd(fd: wake, events: Int16(POLLIN), revents: 0)) }
            let ready = poll(&fds, nfds_t(fds.count), -1)
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            for entry in fds where entry.revents != 0 && entry.fd != wake {
                if entry.fd == readFD {
                    let n = readBuffer.withUnsafeMutableBytes { readRetrying(readFD, $0.baseAddress!, $0.count) }
                    if n <= 0 { reading = false } else { output.append(contentsOf: readBuffer[..<n]) }
                } else {
                    let n = input.withUnsafeBytes { write(writeFD, $0.baseAddress! + written, $0.count - written) }
                    if n > 0 {
                        written += n
                        if written == input.count { close(writeFD); writing = false }
                    } else if n < 0 && errno != EAGAIN && errno != EINTR {
                        // EPIPE: the command stopped reading (head -1); not a fault.
                        close(writeFD); writing = false
                    }
                }
            }
        }
        if writing { close(writeFD) }
        close(readFD)
        var status: Int32 = 0
        if !child.interrupt.isCancelled {
            // The command closed its output; it exits now, or is cancelled while it lingers.
            var reaped = false
            while !reaped {
                let result = waitpid(pid, &status, WNOHANG)
                if result == pid || (result < 0 && errno != EINTR) { reaped = true; break }
                var wait = [pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
                _ = poll(&wait, wake >= 0 ? 1 : 0, 10)
                if child.interrupt.isCancelled { break }
            }
            if !reaped {
                terminate(pid)
                throw CancellationError()
            }
        } else {
            terminate(pid)
            throw CancellationError()
        }
        let signal = status & 0x7F
        if signal != 0 {
            throw failure("killed by signal \(signal) (\(Self.signalName(signal)))")
        }
        let code = (status >> 8) & 0xFF
        // Status 1 with no output is grep's "nothing selected" (`--exec 'grep x'` on a batch
        // without x), not a failure; any other non-zero status is.
        if code != 0 && !(code == 1 && output.isEmpty) { throw failure("exited with status \(code)") }
        return output
    }

    /// Ends a cancelled child's process group: SIGTERM, SIGKILL after `terminationGrace` (or
    /// at once once the shell is gone, for what it left running), then reaps the shell.
    func terminate(_ pid: pid_t) {
        Glibc.kill(-pid, SIGTERM)
        var status: Int32 = 0
        var reaped = false
        let deadline = ContinuousClock.now + Self.terminationGrace
        while ContinuousClock.now < deadline {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid || (result < 0 && errno != EINTR) { reaped = true; break }
            usleep(5_000)
        }
        Glibc.kill(-pid, SIGKILL)
        if !reaped { while waitpid(pid, &status, 0) < 0 && errno == EINTR {} }
    }

    func failure(_ message: String) -> SluiceError {
        SluiceError(.exec, place: place, message)
    }

    static func signalName(_ signal: Int32) -> String {
        switch signal {
        case SIGKILL: "SIGKILL"
        case SIGTERM: "SIGTERM"
        case SIGINT: "SIGINT"
        case SIGSEGV: "SIGSEGV"
        case SIGABRT: "SIGABRT"
        case SIGPIPE: "SIGPIPE"
        case SIGHUP: "SIGHUP"
        default: "signal \(signal)"
        }
    }
}

/// One `--exec` child: its pid for the second-signal handler (which kills every registered
/// group before exiting at once), and the request that wakes its waiting thread on cancellation.
final class ChildHandle: Sendable {
    private let pid = Locked<pid_t>(0)
    let interrupt = ReadInterrupt()

    func started(_ child: pid_t) {
        pid.withLock { $0 = child }
        sluice_register_child(child)
    }

    func finished() {
        let child = pid.withLock { value -> pid_t in
            let old = value
            value = 0
            return old
        }
        if child > 0 { sluice_unregister_child(child) }
    }

    /// Cancellation: the waiting thread terminates the child (see `ExecCommand.terminate`).
    func kill() {
        interrupt.cancel()
    }
}
