import CSluiceProcess
import Glibc

/// Writes chunks to a descriptor from a thread of its own, so a slow reader of stdout (a pipe
/// into `less`, or a benchmark draining it) blocks that thread instead of one of the task
/// pool's few threads, which keep filtering meanwhile.
///
/// Bound: at most `capacity` chunks wait, holding at most `byteCapacity` bytes (one larger
/// chunk waits alone: `--exec` output comes as one chunk per batch, up to `--batch-bytes`).
/// Errors: the first write error is kept, later chunks
/// are dropped, and the next `enqueue`/`drain` throws it. `drain()` returns once everything
/// enqueued is written; `stop()` drains and ends the thread.
///
/// `@unchecked Sendable`: the queue and flags are touched only while `lock` is held.
final class WriterThread: @unchecked Sendable {
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var queue: [LineChunk] = []
    private var queuedBytes = 0
    private var writing = false
    private var stopping = false
    private var failure: SluiceError?
    private let capacity: Int
    private let byteCapacity: Int
    let fd: Int32
    let name: String
    /// Set once in init; joined by `stop()`.
    private var thread: JoinableThread?

    init(fd: Int32, name: String, capacity: Int = 8, byteCapacity: Int = 4 << 20) {
        self.fd = fd
        self.name = name
        self.capacity = capacity
        self.byteCapacity = byteCapacity
        pthread_mutex_init(lock, nil)
        pthread_cond_init(changed, nil)
        thread = JoinableThread(stackSize: 256 * 1024) { [self] in run() }
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(lock)
        lock.deallocate()
        changed.deallocate()
    }

    func enqueue(_ chunk: LineChunk) throws {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        while !queue.isEmpty && (queue.count >= capacity || queuedBytes + chunk.byteCount > byteCapacity) && failure == nil {
            pthread_cond_wait(changed, lock)
        }
        if let failure { throw failure }
        queue.append(chunk)
        queuedBytes += chunk.byteCount
        pthread_cond_broadcast(changed)
    }

    /// Waits until every enqueued chunk is written.
    func drain() throws {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        while (!queue.isEmpty || writing) && failure == nil { pthread_cond_wait(changed, lock) }
        if let failure { throw failure }
    }

    /// Drains, then ends the thread.
    func stop() throws {
        defer {
            pthread_mutex_lock(lock)
            stopping = true
            pthread_cond_broadcast(changed)
            pthread_mutex_unlock(lock)
            thread?.join()
        }
        try drain()
    }

    private func run() {
        sluice_block_sigpipe_in_thread()  // a closed pipe is EPIPE, handled, even if SIGPIPE is not ignored
        while true {
            pthread_mutex_lock(lock)
            while queue.isEmpty && !stopping { pthread_cond_wait(changed, lock) }
            if queue.isEmpty && stopping {
                pthread_mutex_unlock(lock)
                return
            }
            let chunk = queue.removeFirst()
            queuedBytes -= chunk.byteCount
            writing = true
            pthread_cond_broadcast(changed)
            let skip = failure != nil
            pthread_mutex_unlock(lock)

            let error = skip ? nil : writeAll(chunk)

            pthread_mutex_lock(lock)
            writing = false
            if let error, failure == nil { failure = error }
            pthread_cond_broadcast(changed)
            pthread_mutex_unlock(lock)
        }
    }

    private func writeAll(_ chunk: LineChunk) -> SluiceError? {
        do {
            try chunk.withWrittenBytes { try writeFully(fd, $0, name: name) }
            return nil
        } catch {
            return error as? SluiceError ?? SluiceError(.output, place: name, "\(error)")
        }
    }
}
