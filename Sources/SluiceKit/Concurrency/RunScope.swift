import Glibc

/// The owner of every task, thread and child process one pipeline run starts: they are all
/// children of one task group, which the run awaits before it returns (DESIGN.md §4, "one task
/// tree").
///
/// `RunScope.run` opens the group and binds the scope to `RunScope.current` for the body and
/// everything started below it. A stage that starts work outliving one `next()` (an intake
/// task, a task per chunk, a thread for blocking reads or writes, the threads that feed and
/// reap an `--exec` child) starts it through `RunScope.task` or `RunScope.thread`. Both send a
/// start request to the group's owner, which adds the work as a child task of the group: a task
/// runs there, a thread is awaited there until its body returns. So the group, and with it the
/// run, ends only when the body and all that work have ended.
///
/// Bound: the start requests waiting for the owner (one per started item, taken at once) and one
/// `ScopedTask` per task that is running; the stages bound how many they start (their slots).
///
/// Cancellation: cancelling the run's task cancels every child (the group's). A stage cancels
/// what it started on its own through the `ScopedTask` handle (dropping an iterator cancels its
/// intake). Awaiting the group is not cancellable: a cancelled run still waits for its work to
/// end, which every stage guarantees promptly (a cancelled reader leaves `poll(2)`, a cancelled
/// `--exec` child gets SIGTERM, then SIGKILL after half a second).
///
/// Outside a run (`current == nil`, the stages driven on their own in unit tests) a task is a
/// plain unstructured task and a thread a detached thread.
final class RunScope: Sendable {
    @TaskLocal static var current: RunScope?

    typealias Start = @Sendable () async -> Void

    private struct State {
        /// Items requested and not yet ended, plus one for the body while it runs.
        var running = 1
        /// Start requests the owner has not taken yet.
        var pending: [Start] = []
        /// The owner, waiting (not cancellably) for a request or the end.
        var owner: CheckedContinuation<Start?, Never>?
    }
    private let state = Locked(State())

    private init() {}

    /// The next start request, or nil once nothing is left running. Not cancellable: a
    /// cancelled run still starts (already cancelled) what its items ask for.
    private func nextStart() async -> Start? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Start?, Never>) in
            let ready = state.withLock { state -> Start?? in
                if !state.pending.isEmpty { return .some(state.pending.removeFirst()) }
                if state.running == 0 { return .some(nil) }
                state.owner = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Runs `body` in a new scope and returns its result once `body` and everything started in
    /// the scope (by it, or by what it started) have ended.
    static func run<T: Sendable>(_ body: @escaping @Sendable () async -> T) async -> T {
        // The owner takes every request as soon as it runs, and a request exists only for an
        // item that will run: `pending` holds a handful (see the type's comment). Not an
        // AsyncStream: its iteration ends when the owner is cancelled, and a request made
        // after that would be dropped (a `ScopedTask` never completed, a thread never run).
        let scope = RunScope()
        let result = Locked<T?>(nil)
        await $current.withValue(scope) {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    let value = await body()
                    result.withLock { $0 = value }
                    scope.leave()
                }
                while let start = await scope.nextStart() {
                    group.addTask { await start() }
                }
            }
        }
        return result.withLock { $0 }!
    }

    /// One item (or the body) ended; the last one ends the owner's loop.
    private func leave() {
        let owner = state.withLock { state -> CheckedContinuation<Start?, Never>? in
            state.running -= 1
            precondition(state.running >= 0, "RunScope left more often than entered")
            guard state.running == 0 else { return nil }
            defer { state.owner = nil }
            return state.owner
        }
        owner?.resume(returning: nil)
    }

    /// Counts one more item and hands it to the owner. (The scope cannot have ended: an item is
    /// requested only by the body or by an item, which are still counted while they request.)
    private func start(_ item: @escaping Start) {
        let wrapped: Start = { [self] in
            await item()
            leave()
        }
        let owner = state.withLock { state -> CheckedContinuation<Start?, Never>? in
            precondition(state.running > 0, "RunScope: work started after the scope ended")
            state.running += 1
            guard let owner = state.owner else { state.pending.append(wrapped); return nil }
            state.owner = nil
            return owner
        }
        owner?.resume(returning: wrapped)
    }

    /// A task started as a child of the caller's run (or unstructured outside a run): its body
    /// runs until it returns or the handle (or the run) cancels it.
    @discardableResult
    static func task<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> ScopedTask<T> {
        let handle = ScopedTask<T>()
        guard let scope = current else {
            handle.attach(Task { handle.complete(await Result(catching: body)) })
            return handle
        }
        scope.start { await handle.run(body) }
        return handle
    }

    /// A thread (see `startDetachedThread`) that a child task of the caller's run awaits until
    /// `body` returns (outside a run: detached).
    static func thread(stackSize: Int, _ body: @escaping @Sendable () -> Void) {
        guard let scope = current else {
            startDetachedThread(stackSize: stackSize, body)
            return
        }
        scope.start {
            let ended = Completion<Void>()
            startDetachedThread(stackSize: stackSize) {
                body()
                ended.complete()
            }
            try? await ended.wait()
        }
    }
}

/// The handle on a task started with `RunScope.task`: its result, and a cancel that reaches
/// that task alone (a child of a task group cannot be cancelled by itself, so the body runs in a
/// group of its own whose owner waits for either the body's end or the cancel).
final class ScopedTask<Success: Sendable>: Sendable {
    private struct State {
        var finished = false
        var cancelled = false
        /// The owner of the body's group, waiting for the body's end or a cancel.
        var watcher: CheckedContinuation<Void, Never>?
        /// Outside a run: the unstructured task.
        var task: Task<Void, Never>?
    }
    private let state = Locked(State())
    private let result = Completion<Success>()

    /// Cancels the task (as `Task.cancel`: the body sees it at its next cancellation point).
    func cancel() {
        let (watcher, task) = state.withLock { state -> (CheckedContinuation<Void, Never>?, Task<Void, Never>?) in
            state.cancelled = true
            defer { state.watcher = nil }
            return (state.watcher, state.task)
        }
        watcher?.resume()
        task?.cancel()
    }

    /// The body's result, once it has returned (as `Task.value`: waiting is not cancellable).
    var value: Success {
        get async throws { try await result.wait() }
    }

    fileprivate func attach(_ task: Task<Void, Never>) {
        let cancelled = state.withLock { state -> Bool in
            state.task = task
            return state.cancelled
        }
        if cancelled { task.cancel() }
    }

    /// Gives the body's result to its waiters and releases the body's group.
    fileprivate func complete(_ outcome: Result<Success, any Error>) {
        result.complete(outcome)
        let watcher = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.finished = true
            defer { state.watcher = nil; state.task = nil }
            return state.watcher
        }
        watcher?.resume()
    }

    /// Runs `body` in the calling child task, cancelled when `cancel` is called.
    fileprivate func run(_ body: @escaping @Sendable () async throws -> Success) async {
        await withDiscardingTaskGroup { group in
            group.addTask { self.complete(await Result(catching: body)) }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let waits = state.withLock { state -> Bool in
                    if state.finished || state.cancelled { return false }
                    state.watcher = continuation
                    return true
                }
                if !waits { continuation.resume() }
            }
            if !state.withLock({ $0.finished }) { group.cancelAll() }
        }
    }
}

extension Result where Failure == any Error {
    /// The result of an async body, as `Result(catching:)` gives a synchronous one's.
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
