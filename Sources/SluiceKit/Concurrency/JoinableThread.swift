import Glibc

/// A POSIX thread that its owner joins: `join()` returns once `body` has returned (at most
/// once; later calls return at once). For threads a sink owns (writers, compressors), which
/// `finish`/`abort` join, so nothing a run used outlives it in a host process.
///
/// `@unchecked Sendable`: `thread` is written in init, before the handle is shared; `joined`
/// only under `lock`.
final class JoinableThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let lock = Locked(false)

    init(stackSize: Int = 1 << 20, _ body: @escaping @Sendable () -> Void) {
        final class Box: @unchecked Sendable {
            // `@unchecked`: handed from the creating thread to the new one, used there only.
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, max(stackSize, Int(PTHREAD_STACK_MIN)))
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let status = pthread_create(&thread, &attributes, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        precondition(status == 0, "pthread_create failed: \(status)")
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

    deinit {
        // Never joined (its owner went away without finish/abort): let it end on its own.
        if !lock.withLock({ $0 }) { pthread_detach(thread) }
    }
}
