import CSluiceProcess
import Glibc
import Synchronization

/// Tells one thread to stop a blocking call: a reader waiting in `read(2)` on a pipe or
/// terminal, or a writer waiting in `write(2)` on a pipe nobody reads (`interruptibleWrite`).
///
/// Two requests: *stop* (SIGINT/SIGTERM through `StopRequest`): the reader ends its input at
/// the end of the last complete line it has read, hands those lines on and finishes the stream
/// normally, so everything downstream drains; *cancel* (the consumer went away): the reader
/// returns at once and sends nothing more. A reader of a descriptor that may block waits in
/// `poll(2)` on that descriptor and on this object's wake pipe, so either request wakes it.
/// The pipe is closed on deinit; it is never read, so it holds at most one byte per request.
final class Interrupt: Sendable {
    private static let running = 0, stopping = 1, cancelled = 2
    private let state = Atomic<Int>(Interrupt.running)
    /// [read end, write end], both non-blocking and close-on-exec; -1 if pipe2 failed (then a
    /// request is seen only between reads).
    private let wake: (read: Int32, write: Int32)

    init() {
        var fds: [Int32] = [-1, -1]
        if sluice_pipe_cloexec(&fds) == 0 {
            for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        } else {
            fds = [-1, -1]
        }
        wake = (fds[0], fds[1])
    }

    deinit {
        if wake.read >= 0 { close(wake.read) }
        if wake.write >= 0 { close(wake.write) }
    }

    /// Readable once a request was made: for a `poll(2)` set of one's own (-1 if none).
    var wakeDescriptor: Int32 { wake.read }

    /// A stop was requested (and no cancellation).
    var isStopping: Bool { state.load(ordering: .acquiring) == Self.stopping }
    var isCancelled: Bool { state.load(ordering: .acquiring) == Self.cancelled }
    /// Either request was made: the reader must not start another read.
    var isInterrupted: Bool { state.load(ordering: .acquiring) != Self.running }

    func stop() {
        if state.compareExchange(expected: Self.running, desired: Self.stopping, ordering: .acquiringAndReleasing).exchanged {
            ring()
        }
    }

    func cancel() {
        if state.exchange(Self.cancelled, ordering: .acquiringAndReleasing) != Self.cancelled { ring() }
    }

    private func ring() {
        guard wake.write >= 0 else { return }
        var byte: UInt8 = 1
        _ = Glibc.write(wake.write, &byte, 1)
    }

    /// Writes some of `bytes` to `fd` without waiting for ever: returns the count written (at
    /// least 1), -errno on error, or nil once cancelled first. On a pipe or FIFO the write asks
    /// not to block (`pwritev2` with `RWF_NOWAIT`: a partial write, or EAGAIN) and waits in
    /// `poll(2)` on the descriptor and the wake pipe for room, so a cancelled sink is never
    /// held by a reader that stopped reading. Where the system refuses `RWF_NOWAIT` (a
    /// terminal, a socket on older kernels), it polls for room and then writes as usual.
    /// Regular files and devices never wait for a reader: plain write(2).
    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, mayBlock: Bool) -> Int? {
        if isCancelled { return nil }
        guard mayBlock && wake.read >= 0 else { return writeRetrying(fd, bytes) }
        while true {
            if !noWaitRefused.load(ordering: .relaxed) {
                let written = sluice_write_nowait(fd, bytes.baseAddress, bytes.count)
                if written >= 0 { return written }
                switch Int32(-written) {
                case EINTR: continue
                case EAGAIN: break
                case EOPNOTSUPP, EINVAL: noWaitRefused.store(true, ordering: .relaxed)
                default: return written
                }
            }
            var fds = [pollfd(fd: fd, events: Int16(POLLOUT), revents: 0),
                       pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
            while poll(&fds, 2, -1) < 0 && errno == EINTR {}
            if isCancelled { return nil }
            if noWaitRefused.load(ordering: .relaxed) { return writeRetrying(fd, bytes) }
        }
    }

    /// The system answered `RWF_NOWAIT` with EOPNOTSUPP for this object's descriptor.
    private let noWaitRefused = Atomic<Bool>(false)

    /// Reads up to `count` bytes from `fd` into `pointer`, retrying on EINTR. Returns the
    /// count (0 at end of file), -errno on error, or nil when interrupted first: then nothing
    /// was read. `mayBlock`: the descriptor is a pipe, terminal or socket, where a read can wait
    /// for ever; it is polled together with the wake pipe first (one extra system call per read,
    /// only on such descriptors).
    func read(_ fd: Int32, _ pointer: UnsafeMutableRawPointer, _ count: Int, mayBlock: Bool) -> Int? {
        if isInterrupted { return nil }
        if mayBlock && wake.read >= 0 {
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
            while true {
                let ready = poll(&fds, 2, -1)
                if ready >= 0 || errno != EINTR { break }
            }
            if isInterrupted { return nil }
        }
        return readRetrying(fd, pointer, count)
    }
}

/// write(2) of `bytes` (some of them), retrying on EINTR: the count, or -errno.
func writeRetrying(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int {
    while true {
        let written = Glibc.write(fd, bytes.baseAddress, bytes.count)
        if written >= 0 { return written }
        if errno != EINTR { return -Int(errno) }
    }
}
