import Glibc

/// A POSIX thread that its owner joins: `join()` returns once `body` has returned (at most
/// once; later calls return at once). For threads a sink owns (its writer thread, the
/// compression workers), which `finish`/`abort` join, so nothing a run used outlives it in a
/// host process. A task waits with `joined()`, which suspends until the body has returned
/// instead of blocking one of the cooperative pool's threads.
///
/// `@unchecked Sendable`: `thread` is set in init, before the handle is shared; `joined`
/// only under `lock`.
final class JoinableThread: @unchecked Sendable {
    private let thread: pthread_t
    private let lock = Locked(false)
    private let ended = Completion<Void>()

    init(stackSize: Int = 1 << 20, _ body: @escaping @Sendable () -> Void) {
        let ended = self.ended
        thread = createThread(stackSize: stackSize, detached: false) {
            body()
            ended.complete()
        }
    }

    /// Waits for the body to return (blocking the calling thread: call it once the body has
    /// been told to end).
    func join() {
        let first = lock.withLock { joined -> Bool in
            defer { joined = true }
            return !joined
        }
        if first { pthread_join(thread, nil) }
    }

    /// The body has returned.
    var hasEnded: Bool { ended.isCompleted }

    /// `join()` for a task: suspends until the body has returned, then joins (at once).
    func joined() async {
        try? await ended.wait()
        join()
    }

    deinit {
        // Never joined (its owner went away without finish/abort): let it end on its own.
        if !lock.withLock({ $0 }) { pthread_detach(thread) }
    }
}
