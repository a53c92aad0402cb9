import CSluiceProcess
import Glibc
import Synchronization

/// Tells one reading thread to stop, even while it waits in `read(2)` on a pipe or terminal.
///
/// Two requests: *stop* (SIGINT/SIGTERM through `StopRequest`): the reader ends its input at
/// the end of the last complete line it has read, hands those lines on and finishes the stream
/// normally, so everything downstream drains; *cancel* (the consumer went away): the reader
/// returns at once and sends nothing more. A reader of a descriptor that may block waits in
/// `poll(2)` on that descriptor and on this object's wake pipe, so either request wakes it.
/// The pipe is closed on deinit; it is never read, so it holds at most one byte per request.
final class ReadInterrupt: Sendable {
    private static let running = 0, stopping = 1, cancelled = 2
    private let state = Atomic<Int>(ReadInterrupt.running)
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
        _ = write(wake.write, &byte, 1)
    }

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
