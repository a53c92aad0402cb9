import Glibc
import Synchronization
import Testing

@testable import SluiceKit

/// Issue 8, item 1: what a run starts are children of one task group. `RunScope.run` returns
/// only after all of it has ended, a cancelled run cancels all of it, and a stage can still
/// cancel what it started on its own.
@Suite struct RunScopeTests {
    /// Waits (without a deadline the test could lose under load) until `condition` holds.
    static func eventually(_ condition: () -> Bool) async {
        while !condition() { try? await Task.sleep(for: .milliseconds(1)) }
    }

    @Test("run returns after every task and thread started below it, nested ones included")
    func runAwaitsEverything() async {
        let ended = Atomic<Int>(0)
        let value = await RunScope.run { () -> Int in
            RunScope.task {
                RunScope.task {
                    try? await Task.sleep(for: .milliseconds(50))
                    ended.add(1, ordering: .relaxed)
                }
                RunScope.thread(stackSize: 64 * 1024) {
                    usleep(50_000)
                    ended.add(1, ordering: .relaxed)
                }
                ended.add(1, ordering: .relaxed)
            }
            return 7
        }
        #expect(value == 7)
        #expect(ended.load(ordering: .relaxed) == 3)
    }

    @Test("cancelling the run's task cancels every task started in it (an unstructured task would run on)")
    func cancellingTheRunCancelsItsTasks() async {
        let started = Atomic<Int>(0)
        let sawCancel = Atomic<Int>(0)
        let run = Task {
            await RunScope.run {
                for _ in 0..<3 {
                    RunScope.task {
                        started.add(1, ordering: .relaxed)
                        // Far longer than the test: only a cancellation ends it early.
                        try? await Task.sleep(for: .seconds(3600))
                        if Task.isCancelled { sawCancel.add(1, ordering: .relaxed) }
                    }
                }
            }
        }
        await Self.eventually { started.load(ordering: .relaxed) == 3 }
        run.cancel()
        await run.value
        #expect(sawCancel.load(ordering: .relaxed) == 3)
    }

    @Test("a handle cancels its own task alone and gives its result")
    func handleCancelsOneTask() async throws {
        let (values, sawCancel) = await RunScope.run { () -> ([Int], Bool) in
            let slow = RunScope.task { () -> Bool in
                try? await Task.sleep(for: .seconds(3600))
                return Task.isCancelled
            }
            let quick = RunScope.task { () -> Int in
                try await Task.sleep(for: .milliseconds(10))
                return 42
            }
            let failing = RunScope.task { () -> Int in throw CancellationError() }
            slow.cancel()
            var values: [Int] = []
            values.append((try? await quick.value) ?? -1)
            values.append((try? await failing.value) ?? -1)
            return (values, (try? await slow.value) ?? false)
        }
        #expect(values == [42, -1])
        #expect(sawCancel)
    }

    @Test("a handle cancelled before its task started: the body sees the cancellation at once")
    func cancelBeforeStart() async {
        let sawCancel = await RunScope.run { () -> Bool in
            let task = RunScope.task { () -> Bool in
                try? await Task.sleep(for: .seconds(3600))
                return Task.isCancelled
            }
            task.cancel()
            return (try? await task.value) ?? false
        }
        #expect(sawCancel)
    }

    @Test("outside a run, tasks and threads still run (unstructured), and a handle still cancels")
    func outsideARun() async throws {
        let task = RunScope.task { () -> Int in 5 }
        #expect(try await task.value == 5)
        let slow = RunScope.task { () -> Bool in
            try? await Task.sleep(for: .seconds(3600))
            return Task.isCancelled
        }
        slow.cancel()
        #expect(try await slow.value)
        let done = Completion<Void>()
        RunScope.thread(stackSize: 64 * 1024) { done.complete() }
        try await done.wait()
    }

    /// True if `flag` is set within `seconds` (the task that should set it may hang for ever).
    static func within(_ seconds: Double, _ flag: Locked<Bool>) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if flag.withLock({ $0 }) { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return flag.withLock { $0 }
    }

    // The review's finds: the first version took start requests from an AsyncStream, whose
    // iteration ends when the run is cancelled, so a request made after it was dropped.

    @Test("a task started after the run was cancelled still runs, already cancelled, and its value comes")
    func taskStartedAfterCancel() async {
        let done = Locked(false)
        let value = Locked(0)
        let run = Task {
            let result = await RunScope.run { () -> Int in
                while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(1)) }
                let handle = RunScope.task { () -> Int in Task.isCancelled ? 42 : 0 }
                return (try? await handle.value) ?? -1
            }
            value.withLock { $0 = result }
            done.withLock { $0 = true }
        }
        try? await Task.sleep(for: .milliseconds(50))
        run.cancel()
        #expect(await Self.within(30, done), "RunScope.run hung on a ScopedTask whose start was dropped")
        #expect(value.withLock { $0 } == 42)
    }

    @Test("a thread started after the run was cancelled runs before run returns")
    func threadStartedAfterCancel() async {
        let ran = Locked(false)
        let run = Task {
            _ = await RunScope.run { () -> Int in
                while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(1)) }
                RunScope.thread(stackSize: 64 * 1024) {
                    usleep(100_000)
                    ran.withLock { $0 = true }
                }
                return 0
            }
        }
        try? await Task.sleep(for: .milliseconds(50))
        run.cancel()
        await run.value
        #expect(ran.withLock { $0 }, "RunScope.run returned and the thread never ran")
    }

    @Test("starts racing the run's cancellation all run", arguments: 0..<20)
    func startsRacingCancel(_ round: Int) async {
        let requested = Atomic<Int>(0)
        let ran = Atomic<Int>(0)
        let run = Task {
            await RunScope.run {
                RunScope.task {
                    while !Task.isCancelled {
                        RunScope.task { ran.add(1, ordering: .relaxed) }
                        requested.add(1, ordering: .relaxed)
                        await Task.yield()
                    }
                }
                while !Task.isCancelled { await Task.yield() }
            }
        }
        try? await Task.sleep(for: .milliseconds(5 + round % 7))
        run.cancel()
        await run.value
        #expect(requested.load(ordering: .relaxed) == ran.load(ordering: .relaxed))
    }

    struct Counting: AsyncSequence, Sendable {
        struct AsyncIterator: AsyncIteratorProtocol {
            var count = 0
            mutating func next() async throws -> Int? {
                count += 1
                await Task.yield()
                return count
            }
        }
        func makeAsyncIterator() -> AsyncIterator { AsyncIterator() }
    }

    @Test("a cancelled run over an ordered concurrent map always returns (500 cancels at varied moments)")
    func orderedMapCancel() async {
        var hung = 0
        for round in 0..<500 {
            let done = Locked(false)
            let run = Task {
                _ = await RunScope.run { () -> Int in
                    var sum = 0
                    do {
                        for try await value in Counting().concurrentMap(limit: 2, lookahead: 2, { $0 * 2 }) { sum &+= value }
                    } catch {}
                    return sum
                }
                done.withLock { $0 = true }
            }
            try? await Task.sleep(for: .microseconds(200 + (round % 10) * 100))
            run.cancel()
            if await !Self.within(30, done) { hung += 1 }
        }
        #expect(hung == 0, "\(hung) of 500 cancelled runs never returned")
    }
}
