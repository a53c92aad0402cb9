import CSluiceProcess
import Glibc

/// `--exec CMD`: runs `/bin/sh -c CMD` once per batch, the batch streamed to its stdin as it
/// forms, and passes its stdout on as it comes, byte for byte, as `parallel --pipe -k` does
/// (nothing added: `gzip` per batch gives a valid multi-member stream, `printf X` on three
/// batches gives `XXX`).
///
/// `start` runs one command between two bounded channels: a *writer* thread takes the pieces
/// of the batch from `input` and writes them to the child's stdin (a child that stops reading
/// early, `head -1`, is fine: the rest is received and dropped); a *reader* thread owns the
/// child: it waits for `gate` (its turn to be read, for ordered output), reads stdout in pieces
/// of at most `pieceSize` bytes into `output` (bounded: a full channel stops the reads, the
/// pipe fills and the command blocks), reaps the child and ends `output`, with an error if the
/// command failed. Blocking pipe I/O stays on these two threads, both counted in the caller's
/// `RunScope`, so the run joins them.
///
/// End: `output` finishes after the last piece. Error: exit status 1 with no output (grep
/// selecting nothing) is fine; any other non-zero exit or death by a signal finishes `output`
/// with a `SluiceError` naming the command, after the pieces read before it. An error that
/// reached the writer from `input` (an earlier command of the same batch failed) takes its
/// place. Cancellation (`ChildHandle.kill`, with the channels cancelled): the reader ends the
/// child and everything it started (it leads its own process group): SIGTERM to the group,
/// SIGKILL after `terminationGrace` if the shell has not exited by then (a command that
/// ignores SIGTERM), and reaps it; `output` is then left as cancelled.
///
/// Why not swift-subprocess (1.0.2, evaluated for issue 8 on 2026-11-30; numbers on this
/// project's 2-core machine, loaded): with its `SubprocessFoundation` trait off it links no
/// Foundation (only libdispatch, which the concurrency runtime links anyway), has process
/// groups (`processGroupID = 0`) and a SIGTERM-then-SIGKILL `teardownSequence`, and streams
/// both ways with back-pressure; a bare stdin→`cat`→stdout loop over it moved 200 MB in
/// 0.31–0.83 s against 0.43–0.63 s for `sluice -b 10000000 --exec cat` (no measurable
/// difference). It is not adopted because (1) its Linux spawn resets every signal to SIG_DFL
/// in the child (`_subprocess_fork_exec`), with no hook to keep one ignored: that breaks
/// finding 9 (a signal ignored when sluice starts stays ignored in its `--exec` children);
/// (2) it reaps children on a process-wide monitor thread that a run cannot join (`RunScope`);
/// (3) it and swift-system add 58 s wall (37 s CPU) to a fresh release build of the package,
/// which CI does on every run.
public struct ExecCommand: Sendable {
    public let command: String

    public init(_ command: String) {
        self.command = command
    }

    var place: String { "exec '\(command)'" }

    /// How long a cancelled command has between SIGTERM and SIGKILL (DESIGN.md §3: children
    /// never outlive sluice; a stop exits within 2 s).
    static let terminationGrace: Duration = .milliseconds(500)

    /// The largest piece of output read at once (a pipe holds 64 KiB unless enlarged).
    static let pieceSize = 256 * 1024

    /// Runs the command on `input` and returns its whole output (tests and API users; the
    /// pipeline streams through `start`). Cancellation ends the child and throws
    /// `CancellationError`.
    public func run(_ input: [UInt8]) async throws -> [UInt8] {
        let job = ExecJob(phases: [(self, [])], gated: false)
        if !input.isEmpty { _ = await job.input.send(LineChunk(bytesAsWritten: input)) }
        job.input.finish()
        var output: [UInt8] = []
        while true {
            switch await job.output.receive() {
            case .element(let chunk): chunk.withWrittenBytes { output.append(contentsOf: $0) }
            case .finished: return output
            case .failed(let error): throw error
            case .cancelled, .timedOut:
                job.cancel()
                throw CancellationError()
            }
        }
    }

    /// Starts the command between `input` and `output` (see the type's note). `steps`: line
    /// steps applied to the output (then framed into whole lines; without steps the pieces are
    /// passed as read). `announce` is called once, before the first piece or the end is sent.
    /// Throws if the child cannot be started (nothing is left running then).
    func start(input: BoundedChannel<LineChunk>, output: BoundedChannel<LineChunk>, gate: BoundedChannel<Void>?,
               steps: [any ChunkStep], child: ChildHandle, announce: (@Sendable () -> Void)? = nil) throws {
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
        let upstream = Locked<SluiceError?>(nil)
        let writeFD = toChild[1]
        let readFD = fromChild[0]
        RunScope.thread(stackSize: 256 * 1024) {
            sluice_block_sigpipe_in_thread()
            feed(input, to: writeFD, child: child, upstream: upstream)
        }
        RunScope.thread(stackSize: 512 * 1024) {
            sluice_block_sigpipe_in_thread()
            let result = drain(readFD, pid: pid, into: output, gate: gate, steps: steps, child: child, announce: announce)
            child.finished()
            switch result {
            case .cancelled: output.cancel()
            case .finished(let error): output.finish(throwing: upstream.withLock { $0 } ?? error)
            }
        }
    }

    /// The writer thread: every piece of `input` to the child's stdin, then EOF.
    private func feed(_ input: BoundedChannel<LineChunk>, to fd: Int32, child: ChildHandle, upstream: Locked<SluiceError?>) {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var open = true
        receiving: while true {
            switch input.receiveBlocking() {
            case .element(let chunk):
                // After EPIPE (the command stopped reading) the rest of the batch is dropped.
                if open && !chunk.withWrittenBytes({ writeAll($0, to: fd, child: child) }) {
                    close(fd)
                    open = false
                }
            case .failed(let error):
                upstream.withLock { $0 = error as? SluiceError ?? SluiceError(.exec, place: place, "\(error)") }
                break receiving
            case .cancelled:
                // Not the end of the batch: the command must not see its input end (it would
                // finish as if the batch were whole). The descriptor is closed once it is reaped.
                if open { child.closeWhenReaped(fd) }
                return
            case .finished, .timedOut:
                break receiving
            }
        }
        if open { close(fd) }
    }

    /// Writes `bytes` to the non-blocking `fd`, waiting in poll(2) with the child's wake pipe.
    /// False when the command closed its stdin (EPIPE) or the child was cancelled.
    private func writeAll(_ bytes: UnsafeRawBufferPointer, to fd: Int32, child: ChildHandle) -> Bool {
        var written = 0
        let wake = child.interrupt.wakeDescriptor
        while written < bytes.count {
            if child.interrupt.isCancelled { return false }
            let n = write(fd, bytes.baseAddress! + written, bytes.count - written)
            if n > 0 { written += n; continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno != EAGAIN { return false }  // EPIPE: the command stopped reading; not a fault
            var fds = [pollfd(fd: fd, events: Int16(POLLOUT), revents: 0), pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
            _ = poll(&fds, wake >= 0 ? 2 : 1, -1)
        }
        return true
    }

    private enum DrainResult { case finished(SluiceError?), cancelled }

    /// The reader thread: waits for `gate`, reads the child's stdout into `output`, reaps it.
    private func drain(_ fd: Int32, pid: pid_t, into output: BoundedChannel<LineChunk>, gate: BoundedChannel<Void>?,
                       steps: [any ChunkStep], child: ChildHandle, announce: (@Sendable () -> Void)?) -> DrainResult {
        var announced = announce == nil
        func send(_ chunk: LineChunk) -> Bool {
            if !announced { announced = true; announce?() }
            return output.sendBlocking(chunk)
        }
        func cancelled() -> DrainResult {
            close(fd)
            terminate(pid)
            return .cancelled
        }
        if let gate {
            guard case .element = gate.receiveBlocking() else { return cancelled() }
        }
        let wake = child.interrupt.wakeDescriptor
        var buffer = [UInt8](repeating: 0, count: Self.pieceSize)
        var framer = ExecOutputFramer(steps: steps)
        var total = 0
        while true {
            if child.interrupt.isCancelled { return cancelled() }
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, wake >= 0 ? 2 : 1, -1)
            if ready < 0 && errno == EINTR { continue }
            if child.interrupt.isCancelled { return cancelled() }
            let n = buffer.withUnsafeMutableBytes { readRetrying(fd, $0.baseAddress!, $0.count) }
            if n < 0 && -n == Int(EAGAIN) { continue }
            if n <= 0 { break }
            total += n
            do {
                for chunk in try buffer.withUnsafeBufferPointer({ try framer.append(UnsafeBufferPointer(rebasing: $0[..<n])) }) {
                    if !send(chunk) { return cancelled() }
                }
            } catch {
                close(fd)
                terminate(pid)
                return .finished(error as? SluiceError ?? failure("\(error)"))
            }
        }
        close(fd)
        do {
            for chunk in try framer.finish() {
                if !send(chunk) { terminate(pid); return .cancelled }
            }
        } catch {
            terminate(pid)
            return .finished(error as? SluiceError ?? failure("\(error)"))
        }
        // The command closed its output; it exits now, or is cancelled while it lingers.
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { break }
            if result < 0 && errno != EINTR {
                // The child was reaped elsewhere (a host process's SIGCHLD handler, or
                // SIGCHLD ignored): its status is unknown, never read as success.
                return .finished(failure("exit status unknown: \(SluiceError.systemReason(errno))"))
            }
            var waiting = [pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
            _ = poll(&waiting, wake >= 0 ? 1 : 0, 10)
            if child.interrupt.isCancelled {
                terminate(pid)
                return .cancelled
            }
        }
        if !announced { announce?() }
        let signal = status & 0x7F
        if signal != 0 {
            return .finished(failure("killed by signal \(signal) (\(Self.signalName(signal)))"))
        }
        let code = (status >> 8) & 0xFF
        // Status 1 with no output is grep's "nothing selected" (`--exec 'grep x'` on a batch
        // without x), not a failure; any other non-zero status is.
        if code != 0 && !(code == 1 && total == 0) { return .finished(failure("exited with status \(code)")) }
        return .finished(nil)
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
    /// The child's stdin, when its writer was cancelled, to close after the child is reaped;
    /// `reaped` once it is.
    private let stdinAfterExit = Locked<(fd: Int32?, reaped: Bool)>((nil, false))
    let interrupt = Interrupt()

    /// `child` was spawned (and registered for the second-signal handler by `sluice_spawn_shell`).
    func started(_ child: pid_t) {
        pid.withLock { $0 = child }
    }

    /// The child has been reaped (or never started).
    func finished() {
        let child = pid.withLock { value -> pid_t in
            let old = value
            value = 0
            return old
        }
        if child > 0 { sluice_unregister_child(child) }
        let fd = stdinAfterExit.withLock { state -> Int32? in
            state.reaped = true
            defer { state.fd = nil }
            return state.fd
        }
        if let fd { close(fd) }
    }

    /// Closes `fd` (the cancelled child's stdin) once the child is reaped: closing it before
    /// would let the command see its input end and finish as if its batch were whole.
    func closeWhenReaped(_ fd: Int32) {
        let now = stdinAfterExit.withLock { state -> Bool in
            if state.reaped { return true }
            state.fd = fd
            return false
        }
        if now { close(fd) }
    }

    /// Cancellation: the waiting thread terminates the child (see `ExecCommand.terminate`).
    func kill() {
        interrupt.cancel()
    }
}
