/// A one-shot result that one task awaits and any thread delivers: how a sink's task learns
/// that its thread has carried out a job, or that the thread has ended.
///
/// `complete` may come before or after `wait`; only the first `complete` counts; any number of
/// tasks may wait.
final class Completion: Sendable {
    private struct State {
        var result: Result<Void, any Error>?
        var waiters: [CheckedContinuation<Void, any Error>] = []
    }
    private let state = Locked(State())

    var isCompleted: Bool { state.withLock { $0.result != nil } }

    func complete(_ result: Result<Void, any Error> = .success(())) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            guard state.result == nil else { return [] }
            state.result = result
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(with: result) }
    }

    /// Returns (or throws) once `complete` has been called. Not cancellable: the caller makes
    /// sure the work it waits for ends (a sink interrupts its thread's write first).
    func wait() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let ready = state.withLock { state -> Result<Void, any Error>? in
                if let result = state.result { return result }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}
