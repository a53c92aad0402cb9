/// A one-shot result that tasks await and any thread delivers: how a sink's task learns that
/// its thread has carried out a job, or that the thread has ended; and a `ScopedTask`'s value.
///
/// `complete` may come before or after `wait`; only the first `complete` counts; any number of
/// tasks may wait.
package final class Completion<Value: Sendable>: Sendable {
    private struct State {
        var result: Result<Value, any Error>?
        var waiters: [CheckedContinuation<Value, any Error>] = []
    }
    private let state = Locked(State())

    package init() {}

    package var isCompleted: Bool { state.withLock { $0.result != nil } }

    /// Delivers `result`; true if it was the first (it counts).
    @discardableResult
    package func complete(_ result: Result<Value, any Error>) -> Bool {
        let waiters = state.withLock { state -> [CheckedContinuation<Value, any Error>]? in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters ?? [] { waiter.resume(with: result) }
        return waiters != nil
    }

    /// Returns (or throws) once `complete` has been called. Not cancellable: the caller makes
    /// sure the work it waits for ends (a sink interrupts its thread's write first).
    package func wait() async throws -> Value {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
            let ready = state.withLock { state -> Result<Value, any Error>? in
                if let result = state.result { return result }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}

extension Completion where Value == Void {
    package func complete() { complete(.success(())) }
}
