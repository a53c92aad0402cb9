import Glibc

/// Starts `body` on a new detached POSIX thread with a stack of `stackSize` bytes.
///
/// For blocking work kept off the cooperative pool (reads, inflate, writes, child processes)
/// whose end is reported otherwise (`RunScope.thread`); a thread its owner must wait for is a
/// `JoinableThread`. Plain pthreads rather than Foundation's `Thread`: the library then links
/// no Foundation, whose shared libraries (with ICU) added about 7 MiB to the resident size of
/// every run.
public func startDetachedThread(stackSize: Int = 1 << 20, _ body: @escaping @Sendable () -> Void) {
    _ = createThread(stackSize: stackSize, detached: true, body)
}

/// `pthread_create` with `body` as the thread's work; traps if the system refuses a thread.
func createThread(stackSize: Int, detached: Bool, _ body: @escaping @Sendable () -> Void) -> pthread_t {
    final class Box: @unchecked Sendable {
        // `@unchecked`: handed from the creating thread to the new one, used there only.
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    if detached { pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED)) }
    pthread_attr_setstacksize(&attributes, max(stackSize, Int(PTHREAD_STACK_MIN)))
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let status = pthread_create(&thread, &attributes, { raw in
        let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
        box.body()
        return nil
    }, box)
    precondition(status == 0, "pthread_create failed: \(status)")
    return thread
}
