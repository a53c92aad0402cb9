import Glibc

/// The owner of every task, thread and child process one pipeline run starts, so that the run
/// joins them all before it returns (DESIGN.md §4, "one task tree").
///
/// `PipelineRunner.run` binds a scope to `RunScope.current` for the stages it drives. Every
/// stage that starts work the task tree cannot see on its own (an unstructured `Task` that
/// outlives one `next()`, a thread for blocking reads or writes, the thread that waits for an
/// `--exec` child) starts it through `RunScope.task` or `RunScope.thread`, which count it in
/// the scope of the caller, and out again when its body has returned. `join()` waits until the
/// count is zero. Bound: nothing is stored per started item but the count.
///
/// Cancellation: the scope does not cancel; the stages do (dropping an iterator cancels what it
/// started). `join()` itself is not cancellable: a run that is cancelled still waits for its
/// work to end, which every stage guarantees promptly (a cancelled reader leaves `poll(2)`, a
/// cancelled `--exec` child gets SIGTERM, then SIGKILL after half a second).
final class RunScope: Sendable {
    @TaskLocal static var current: RunScope?

    private struct State {
        var running = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Locked(State())

    /// Items started and not yet ended.
    var runningCount: Int { state.withLock { $0.running } }

    func enter() {
        state.withLock { $0.running += 1 }
    }

    func leave() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.running -= 1
            precondition(state.running >= 0, "RunScope left more often than entered")
            guard state.running == 0 else { return [] }
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once everything started in this scope has ended.
    func join() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                if state.running == 0 { return true }
                state.waiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// An unstructured task counted in the caller's scope (if any) until its body returns.
    @discardableResult
    static func task<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> Task<T, any Error> {
        let scope = current
        scope?.enter()
        return Task {
            defer { scope?.leave() }
            return try await body()
        }
    }

    /// `task` for a body that cannot throw.
    @discardableResult
    static func task<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> Task<T, Never> {
        let scope = current
        scope?.enter()
        return Task {
            defer { scope?.leave() }
            return await body()
        }
    }

    /// A thread (see `startDetachedThread`) counted in the caller's scope until `body` returns.
    static func thread(stackSize: Int, _ body: @escaping @Sendable () -> Void) {
        let scope = current
        scope?.enter()
        startDetachedThread(stackSize: stackSize) {
            body()
            scope?.leave()
        }
    }
}
