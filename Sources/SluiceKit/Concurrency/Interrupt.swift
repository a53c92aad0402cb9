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
public final class Interrupt: Sendable {
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
    package var isInterrupted: Bool { state.load(ordering: .acquiring) != Self.running }

    /// A third, smaller request: *skip* the input being read (`-m` reached in it, `-l`
    /// answered; see `InputSkip`). Inputs are numbered; a read of input `current` is skipped
    /// once `skipBelow` passes it. Stale wake-ups (a skip of an input already left) are drained.
    private let skipBelow = Atomic<Int>(0)
    private let current = Atomic<Int>(0)

    /// The reader starts input `index`.
    func beginInput(_ index: Int) {
        current.store(index, ordering: .releasing)
    }

    /// Inputs below `index` are not to be read any further.
    func skipInputs(below index: Int) {
        var value = skipBelow.load(ordering: .relaxed)
        while value < index {
            let (exchanged, original) = skipBelow.compareExchange(expected: value, desired: index, ordering: .acquiringAndReleasing)
            if exchanged { ring(); return }
            value = original
        }
    }

    /// The input being read is to be skipped.
    var isSkippingCurrent: Bool { skipBelow.load(ordering: .acquiring) > current.load(ordering: .acquiring) }

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
    /// least 1), -errno on error, or nil once cancelled first, or once stopping and the output
    /// took nothing for `stopGraceMilliseconds` (`isStopping` tells which). `mayBlock`: `fd` may wait for a
    /// reader (`descriptorMayBlock`); then the write never waits in write(2) but in `poll(2)`,
    /// on the descriptor and the wake pipe, so a cancelled sink is never held by a reader that
    /// stopped reading. How it avoids waiting in write(2): on a pipe, `pwritev2` with
    /// `RWF_NOWAIT` (a partial write, or EAGAIN); on a descriptor opened non-blocking (the
    /// FIFOs and sockets `OutputDestination` opens), a plain write; elsewhere (a FIFO or a
    /// terminal inherited as stdout, whose open description sluice must not change), a poll
    /// for room and then at most `PIPE_BUF` bytes, which a pipe with room takes at once.
    /// Regular files and block devices never wait for a reader: plain write(2).
    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, mayBlock: Bool) -> Int? {
        if isCancelled { return nil }
        guard mayBlock && wake.read >= 0 else { return writeRetrying(fd, bytes) }
        let nonBlocking = fcntl(fd, F_GETFL) & O_NONBLOCK != 0
        var room = false
        while true {
            let written: Int
            if nonBlocking {
                written = writeRetrying(fd, bytes)
            } else if !noWaitRefused.load(ordering: .relaxed) {
                written = sluice_write_nowait(fd, bytes.baseAddress, bytes.count)
                if written == -Int(EOPNOTSUPP) || written == -Int(EINVAL) {
                    noWaitRefused.store(true, ordering: .relaxed)
                    continue
                }
                if written == -Int(EINTR) { continue }
            } else if room {
                written = writeRetrying(fd, UnsafeRawBufferPointer(rebasing: bytes.prefix(Int(PIPE_BUF))))
                room = false
            } else {
                written = -Int(EAGAIN)
            }
            if written != -Int(EAGAIN) && written != -Int(EWOULDBLOCK) { return written }
            // Once a stop is requested, a wait for room is bounded: an output that takes
            // nothing for `stopGrace` after a stop is given up (a pipe into a reader that
            // stopped reading held a stopped sluice for ever; grep dies at once).
            let stopping = isStopping
            var fds = [pollfd(fd: fd, events: Int16(POLLOUT), revents: 0),
                       pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
            var ready: Int32
            repeat { ready = poll(&fds, 2, stopping ? Self.stopGraceMilliseconds : -1) } while ready < 0 && errno == EINTR
            if isCancelled { return nil }
            if ready == 0 && stopping { return nil }
            if fds[1].revents != 0 { drainWake() }  // the stop was seen: later waits use the grace
            room = fds[0].revents != 0
        }
    }

    /// How long a write may wait for room after a stop request before it gives up (`write`).
    static let stopGraceMilliseconds: Int32 = 2000

    /// Empties the wake pipe (a writer's own interrupt only: readers rely on it staying
    /// readable after a stop), so that a wait after a stop sleeps until its grace ends or a
    /// cancellation rings again.
    private func drainWake() {
        var bytes = [UInt8](repeating: 0, count: 16)
        while Glibc.read(wake.read, &bytes, bytes.count) > 0 {}
    }

    /// Empties the wake pipe after a skip request, which leaves it readable while the reader
    /// goes on (a follow loop would otherwise never sleep again); a stop or cancellation, whose
    /// state is set before the pipe rings, keeps it readable.
    func drainSkipWakeUps() {
        if !isInterrupted { drainWake() }
    }

    /// The system answered `RWF_NOWAIT` with EOPNOTSUPP for this object's descriptor.
    private let noWaitRefused = Atomic<Bool>(false)

    /// Reads up to `count` bytes from `fd` into `pointer`, retrying on EINTR. Returns the
    /// count (0 at end of file), -errno on error, or nil when interrupted first: then nothing
    /// was read. `mayBlock`: the descriptor is a pipe, terminal or socket, where a read can wait
    /// for ever; it is polled together with the wake pipe first (one extra system call per read,
    /// only on such descriptors).
    func read(_ fd: Int32, _ pointer: UnsafeMutableRawPointer, _ count: Int, mayBlock: Bool) -> Int? {
        if isInterrupted || isSkippingCurrent { return nil }
        if mayBlock && wake.read >= 0 {
            while true {
                var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
                let ready = poll(&fds, 2, -1)
                if ready < 0 && errno == EINTR { continue }
                if isInterrupted || isSkippingCurrent { return nil }
                if ready < 0 || fds[0].revents != 0 { break }
                // Woken by the skip of an input already left: empty the pipe and wait again
                // (a stop or cancel sets the state before it rings, so none is lost here).
                drainWake()
            }
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

/// A read or write on `fd` may wait for ever (a pipe, FIFO, socket or terminal): anything but
/// a regular file or a block device (an unknown kind counts as one that may).
func descriptorMayBlock(_ fd: Int32) -> Bool {
    var kind = stat()
    guard fstat(fd, &kind) == 0 else { return true }
    let type = kind.st_mode & S_IFMT
    return !(type == S_IFREG || type == S_IFBLK)
}

/// A read of the input `fd` may wait for ever: `descriptorMayBlock`, or a "regular" file that
/// states no size, as the kernel's pseudo-files do (tracefs's `trace_pipe` blocks until an
/// event; /proc and /sys files state 0 too). Those are polled before each read as a pipe is
/// (poll(2) answers at once for a file that never blocks: one system call per read of a
/// file that is usually read in one go). Outputs keep `descriptorMayBlock`: a new output file
/// is empty, and its writes must not go through a poll loop.
func inputMayBlock(_ fd: Int32) -> Bool {
    var kind = stat()
    guard fstat(fd, &kind) == 0 else { return true }
    let type = kind.st_mode & S_IFMT
    if type == S_IFREG { return kind.st_size == 0 }
    return type != S_IFBLK
}
