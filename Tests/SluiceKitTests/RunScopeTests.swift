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
        let done = Completion()
        RunScope.thread(stackSize: 64 * 1024) { done.complete() }
        try await done.wait()
    }
}
