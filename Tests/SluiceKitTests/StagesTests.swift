import Foundation
import Synchronization
import Testing

@testable import SluiceKit

/// A `Received` as text, so it can leave a task (`Received` is not `Sendable`).
func received(_ value: BoundedChannel<Int>.Received) -> String {
    switch value {
    case .element(let element): "element(\(element))"
    case .finished: "finished"
    case .failed(let error): "failed(\(error))"
    case .timedOut: "timedOut"
    case .cancelled: "cancelled"
    }
}

@Suite struct BoundedChannelTests {
    @Test func keepsOrderAcrossAThreadProducer() async {
        let channel = BoundedChannel<Int>(capacity: 3)
        let thread = Thread {
            for i in 0..<200 { channel.sendBlocking(i) }
            channel.finish()
        }
        thread.start()
        var received: [Int] = []
        loop: while true {
            switch await channel.receive() {
            case .element(let value): received.append(value)
            case .finished: break loop
            case .failed, .timedOut, .cancelled: Issue.record("unexpected end"); break loop
            }
        }
        #expect(received == Array(0..<200))
    }

    @Test func aFullChannelHoldsTheProducerBack() async throws {
        let channel = BoundedChannel<Int>(capacity: 2)
        let sent = Counter()
        let producer = Task {
            for i in 0..<5 {
                await channel.send(i)
                sent.increment()
            }
            channel.finish()
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(sent.value == 2)
        guard case .element(0) = await channel.receive() else { Issue.record("expected 0"); return }
        try await Task.sleep(for: .milliseconds(50))
        #expect(sent.value == 3)
        var rest: [Int] = []
        while case .element(let value) = await channel.receive() { rest.append(value) }
        #expect(rest == [1, 2, 3, 4])
        await producer.value
    }

    @Test func aBlockedThreadProducerWaitsForSpace() async throws {
        let channel = BoundedChannel<Int>(capacity: 1)
        let sent = Counter()
        let thread = Thread {
            for i in 0..<3 {
                channel.sendBlocking(i)
                sent.increment()
            }
        }
        thread.start()
        try await Task.sleep(for: .milliseconds(50))
        #expect(sent.value == 1)
        _ = await channel.receive()
        _ = await channel.receive()
        _ = await channel.receive()
        try await Task.sleep(for: .milliseconds(20))
        #expect(sent.value == 3)
    }

    @Test func finishWithAnErrorComesAfterTheQueuedElements() async {
        let channel = BoundedChannel<Int>(capacity: 4)
        await channel.send(1)
        await channel.send(2)
        channel.finish(throwing: TestFailure(id: 7))
        #expect(await channel.send(3) == false, "sends after finish are dropped")
        guard case .element(1) = await channel.receive(), case .element(2) = await channel.receive() else {
            Issue.record("queued elements first")
            return
        }
        guard case .failed(let error) = await channel.receive() else { Issue.record("expected the error"); return }
        #expect(error as? TestFailure == TestFailure(id: 7))
        guard case .failed = await channel.receive() else { Issue.record("the error stays"); return }
    }

    @Test func cancelWakesAWaitingConsumerAndProducers() async throws {
        let consumerChannel = BoundedChannel<Int>(capacity: 1)
        let consumer = Task { received(await consumerChannel.receive()) }
        try await Task.sleep(for: .milliseconds(20))
        consumerChannel.cancel()
        #expect(await consumer.value == "cancelled", "the consumer is told, not shown an end")

        let full = BoundedChannel<Int>(capacity: 1)
        await full.send(0)
        let asyncProducer = Task { await full.send(1) }
        let threadResult = Box<Bool?>(nil)
        let thread = Thread { let ok = full.sendBlocking(2); threadResult.withLock { $0 = ok } }
        thread.start()
        try await Task.sleep(for: .milliseconds(20))
        full.cancel()
        #expect(await asyncProducer.value == false)
        for _ in 0..<200 where threadResult.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(5)) }
        #expect(threadResult.withLock { $0 } == false)
        #expect(full.isCancelled)
        guard case .cancelled = await full.receive() else { Issue.record("a cancelled channel says so"); return }
    }

    @Test func aCancelledConsumerTaskCancelsTheChannel() async throws {
        let channel = BoundedChannel<Int>(capacity: 1)
        let consumer = Task { received(await channel.receive()) }
        try await Task.sleep(for: .milliseconds(20))
        consumer.cancel()
        #expect(await consumer.value == "cancelled")
        #expect(channel.isCancelled)
        #expect(await channel.send(1) == false)
    }

    @Test func receiveWithADeadlineTimesOut() async {
        let channel = BoundedChannel<Int>(capacity: 1)
        let clock = ContinuousClock()
        let start = clock.now
        let result = await channel.receive(deadline: start.advanced(by: .milliseconds(30)), clock: clock)
        guard case .timedOut = result else { Issue.record("expected .timedOut, got \(result)"); return }
        #expect(clock.now - start >= .milliseconds(30))
        // The channel still works after a timeout.
        await channel.send(5)
        guard case .element(5) = await channel.receive(deadline: clock.now.advanced(by: .seconds(5)), clock: clock) else {
            Issue.record("expected the element")
            return
        }
    }

    @Test func anElementBeforeTheDeadlineWins() async throws {
        let channel = BoundedChannel<Int>(capacity: 1)
        let clock = ContinuousClock()
        let producer = Task {
            try await Task.sleep(for: .milliseconds(20))
            await channel.send(9)
        }
        // A far deadline: a loaded machine under ThreadSanitizer once kept the producer from
        // running for 10 s. Only the order matters here, not the time.
        let result = await channel.receive(deadline: clock.now.advanced(by: .seconds(120)), clock: clock)
        guard case .element(9) = result else { Issue.record("got \(result)"); return }
        try await producer.value
    }

    @Test func aPastDeadlineWithAQueuedElementReturnsTheElement() async {
        let channel = BoundedChannel<Int>(capacity: 1)
        await channel.send(1)
        let clock = ContinuousClock()
        guard case .element(1) = await channel.receive(deadline: clock.now.advanced(by: .seconds(-1)), clock: clock) else {
            Issue.record("a ready element comes first")
            return
        }
    }
}

/// The channel's second bound (bytes), cancellable sends, and its state machine on its own.
@Suite struct BoundedChannelBoundsTests {
    @Test func theByteBoundHoldsTheProducerBackButAHeavyElementPassesAlone() async throws {
        let channel = BoundedChannel<Int>(capacity: 100, byteCapacity: 10, weigh: { $0 })
        let sent = Counter()
        let producer = Task {
            for weight in [4, 4, 4, 50, 1] {
                await channel.send(weight)
                sent.increment()
            }
            channel.finish()
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(sent.value == 2)  // 4 + 4 wait; a third 4 would pass 10 bytes
        guard case .element(4) = await channel.receive() else { Issue.record("expected 4"); return }
        try await Task.sleep(for: .milliseconds(50))
        #expect(sent.value == 3)  // 4 + 4 again; 50 waits for an empty channel
        var rest: [Int] = []
        while case .element(let value) = await channel.receive() { rest.append(value) }
        #expect(rest == [4, 4, 50, 1])
        await producer.value
    }

    @Test func aProducerTaskCancelledWhileWaitingGivesUpAndLeavesTheChannelAsItWas() async throws {
        let channel = BoundedChannel<Int>(capacity: 1)
        #expect(await channel.send(1))
        let waiting = Task { await channel.send(2) }
        try await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        #expect(await waiting.value == false)
        #expect(!channel.isCancelled)
        guard case .element(1) = await channel.receive() else { Issue.record("expected 1"); return }
        #expect(await channel.send(3))  // room again, for a producer that was not cancelled
        guard case .element(3) = await channel.receive() else { Issue.record("expected 3"); return }
    }

    @Test func aProducerTaskCancelledBeforeItWaitsDoesNotWait() async {
        let channel = BoundedChannel<Int>(capacity: 1)
        await channel.send(1)
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await channel.send(2)
        }
        #expect(await task.value == false)
    }

    @Test func severalThreadConsumersShareTheElementsAndAllSeeTheEnd() async {
        let channel = BoundedChannel<Int>(capacity: 4)
        let seen = Locked<[Int]>([])
        let ends = Counter()
        let threads = (0..<3).map { _ in
            Thread {
                while case .element(let value) = channel.receiveBlocking() { seen.withLock { $0.append(value) } }
                ends.increment()
            }
        }
        for thread in threads { thread.start() }
        for i in 0..<1000 { await channel.send(i) }
        channel.finish()
        while ends.value < 3 { try? await Task.sleep(for: .milliseconds(5)) }
        #expect(seen.withLock { $0.sorted() } == Array(0..<1000))
    }

    @Test func theStateMachineDecidesWithoutWaiting() {
        var state = ChannelState<Int>(capacity: 2, byteCapacity: 5)
        #expect(state.hasRoom(for: 9))  // empty: anything passes alone
        guard case .queued(accepted: true) = state.send(9, weight: 9, pastEnd: false) else { Issue.record("not queued"); return }
        #expect(!state.hasRoom(for: 1))
        #expect(state.take().map { received($0.received) } == "element(9)")
        #expect(state.take().map { received($0.received) } == nil)  // empty and open: the consumer waits
        let finish = state.finish(throwing: nil)
        #expect(finish.consumer == nil && finish.producers.isEmpty)
        guard case .rejected = state.send(1, weight: 1, pastEnd: false) else { Issue.record("a task's send after the end"); return }
        guard case .queued(accepted: false) = state.send(2, weight: 1, pastEnd: true) else { Issue.record("a blocked send delivers"); return }
        #expect(state.take().map { received($0.received) } == "element(2)")
        #expect(state.take().map { received($0.received) } == "finished")
        let cancel = state.cancel()
        #expect(cancel.dropped.isEmpty)
        #expect(state.take().map { received($0.received) } == "cancelled")
    }
}

/// `receiveBlocking`: a consumer that is a plain thread (the writer of a streamed `--exec`).
@Suite struct BoundedChannelBlockingReceiveTests {
    /// Runs `body` on a thread; the result comes back through an async stream.
    static func onThread(_ body: @escaping @Sendable () -> [String]) async -> [String] {
        let (stream, continuation) = AsyncStream<[String]>.makeStream()
        Thread {
            continuation.yield(body())
            continuation.finish()
        }.start()
        for await value in stream { return value }
        return []
    }

    @Test func aThreadConsumerGetsEveryElementInOrderThenTheEnd() async {
        let channel = BoundedChannel<Int>(capacity: 2)
        let producer = Task {
            for i in 0..<500 { await channel.send(i) }
            channel.finish(throwing: TestFailure(id: 7))
        }
        let got = await Self.onThread {
            var seen: [String] = []
            while true {
                let value = channel.receiveBlocking()
                seen.append(received(value))
                if case .element = value { continue }
                return seen
            }
        }
        await producer.value
        #expect(got.dropLast() == (0..<500).map { "element(\($0))" })
        #expect(got.last?.hasPrefix("failed(") == true)
    }

    @Test func cancellingWakesAThreadWaitingOnAnEmptyChannel() async throws {
        let channel = BoundedChannel<Int>(capacity: 1)
        let waiter = Task { await Self.onThread { [received(channel.receiveBlocking())] } }
        try await Task.sleep(for: .milliseconds(50))  // the thread is waiting, most likely (not needed to pass)
        channel.cancel()
        #expect(await waiter.value == ["cancelled"])
    }
}

@Suite struct ConcurrentMapTests {
    @Test(arguments: [1, 2, 4, 8])
    func orderedOutputFollowsInputOrderWhenLaterElementsFinishFirst(limit: Int) async throws {
        let input = Array(0..<8)
        let mapped = stream(input).concurrentMap(limit: limit) { i in
            try await Task.sleep(for: .milliseconds(5 * (8 - i)))
            return i * 10
        }
        var output: [Int] = []
        for try await value in mapped { output.append(value) }
        #expect(output == input.map { $0 * 10 })
    }

    @Test func unorderedGivesTheSameMultiset() async throws {
        let input = Array(0..<30)
        let mapped = stream(input).concurrentMap(limit: 4, ordered: false) { i in
            try await Task.sleep(for: .milliseconds((30 - i) % 7))
            return i
        }
        var output: [Int] = []
        for try await value in mapped { output.append(value) }
        #expect(output.sorted() == input)
    }

    @Test(arguments: [true, false])
    func anErrorFromTheTransformIsThrown(ordered: Bool) async {
        let mapped = stream(Array(0..<10)).concurrentMap(limit: 3, ordered: ordered) { i -> Int in
            if i == 4 { throw TestFailure(id: i) }
            return i
        }
        var seen: [Int] = []
        let error = await #expect(throws: TestFailure.self) {
            for try await value in mapped { seen.append(value) }
        }
        #expect(error == TestFailure(id: 4))
        if ordered { #expect(seen == [0, 1, 2, 3]) }
    }

    @Test(arguments: [true, false])
    func anErrorFromTheBaseIsThrownAfterItsElements(ordered: Bool) async {
        let mapped = stream([1, 2, 3], thenThrow: TestFailure(id: 99)).concurrentMap(limit: 2, ordered: ordered) { $0 }
        var seen: [Int] = []
        let error = await #expect(throws: TestFailure.self) {
            for try await value in mapped { seen.append(value) }
        }
        #expect(error == TestFailure(id: 99))
        #expect(seen.sorted() == [1, 2, 3])
    }

    /// "Bound: at most `limit` transforms run" (ConcurrentMap.swift).
    @Test(arguments: [(1, true, 0), (2, true, 0), (3, true, 0), (1, false, 0), (2, false, 0), (3, false, 0),
                      (1, true, 2), (2, true, 2), (3, true, 2), (1, false, 2), (2, false, 2), (3, false, 2)])
    func atMostLimitTransformsRunAtOnce(limit: Int, ordered: Bool, lookahead: Int) async throws {
        let gauge = ConcurrencyGauge()
        let mapped = stream(Array(0..<12)).concurrentMap(limit: limit, ordered: ordered, lookahead: lookahead) { i in
            gauge.enter()
            defer { gauge.leave() }
            try await Task.sleep(for: .milliseconds(15))
            return i
        }
        var count = 0
        for try await _ in mapped { count += 1 }
        #expect(count == 12)
        #expect(gauge.peak <= limit, "peak \(gauge.peak) transforms at once with limit \(limit)")
        #expect(gauge.peak >= 1)
    }

    /// While a slow first element holds up ordered output, `lookahead` more elements are
    /// started (not only `limit`), and no more than that.
    @Test(arguments: [0, 1, 2, 5])
    func lookaheadLetsWorkersPassASlowElement(lookahead: Int) async throws {
        let started = Locked<Int>(0)
        // Counted as the first element finishes: once it is consumed its slot frees at once,
        // and the intake may start one more before the consumer could look.
        let startedWhenTheFirstFinished = Locked<Int>(0)
        let mapped = stream(Array(0..<12)).concurrentMap(limit: 2, lookahead: lookahead) { i in
            started.withLock { $0 += 1 }
            if i == 0 {
                // Hold the first element until the others have had their chance (a loaded
                // machine may take a while: under ThreadSanitizer with the whole suite running
                // on 2 cores, 10 s was not enough), then a little longer for any overshoot.
                let deadline = ContinuousClock.now + .seconds(60)
                while started.withLock({ $0 }) < 2 + lookahead && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(5))
                }
                try await Task.sleep(for: .milliseconds(100))
                startedWhenTheFirstFinished.withLock { $0 = started.withLock { $0 } }
            } else {
                try await Task.sleep(for: .milliseconds(1))
            }
            return i
        }
        var output: [Int] = []
        for try await value in mapped { output.append(value) }
        #expect(output == Array(0..<12))
        #expect(startedWhenTheFirstFinished.withLock { $0 } == 2 + lookahead)
    }

    @Test func emptyBaseEndsAtOnce() async throws {
        var count = 0
        for try await _ in stream([Int]()).concurrentMap(limit: 2, { $0 }) { count += 1 }
        #expect(count == 0)
    }
}

/// A hand-driven instant for the batch state machine: time moves only when a test says so.
struct FakeInstant: InstantProtocol {
    var offset: Duration
    static let zero = FakeInstant(offset: .zero)
    func advanced(by duration: Duration) -> FakeInstant { FakeInstant(offset: offset + duration) }
    func duration(to other: FakeInstant) -> Duration { other.offset - offset }
    static func < (a: FakeInstant, b: FakeInstant) -> Bool { a.offset < b.offset }
}

func lines(_ range: Range<Int>, prefix: String = "l") -> LineChunk {
    LineChunk(bytes: range.map { "\(prefix)\($0)\n" }.joined().bytes)
}

func batchLines(_ batch: LineBatch) -> [String] {
    batch.segments.flatMap(\.lines).map(text)
}

@Suite struct BatchStateMachineTests {
    let t0 = FakeInstant.zero

    @Test func closesBySize() {
        var machine = BatchStateMachine<FakeInstant>(policy: BatchPolicy(size: 3, timeout: nil))
        #expect(machine.append(lines(0..<2), now: t0).isEmpty)
        let closed = machine.append(lines(2..<4), now: t0)
        #expect(closed.count == 1)
        #expect(closed[0].lineCount == 3)
        #expect(closed[0].closing == .size)
        #expect(batchLines(closed[0]) == ["l0\n", "l1\n", "l2\n"])
        let last = machine.finish()
        #expect(last.map(batchLines) == ["l3\n"])
        #expect(last?.closing == .end)
        #expect(machine.finish() == nil)
    }

    @Test(arguments: [1, 2, 3, 5, 7, 10, 11])
    func splitsAChunkAcrossBatches(size: Int) {
        var machine = BatchStateMachine<FakeInstant>(policy: BatchPolicy(size: size, timeout: nil))
        var batches = machine.append(lines(0..<10), now: t0)
        #expect(batches.allSatisfy { $0.lineCount == size && $0.closing == .size })
        if let last = machine.finish() { batches.append(last) }
        #expect(batches.flatMap(batchLines) == (0..<10).map { "l\($0)\n" })
        #expect(batches.map(\.lineCount) == batches.map { batchLines($0).count })
        #expect(batches.count == (10 + size - 1) / size)
    }

    @Test func timeoutCountsFromTheFirstLine() {
        var machine = BatchStateMachine<FakeInstant>(policy: BatchPolicy(size: 100, timeout: .milliseconds(200)))
        #expect(machine.deadline == nil, "no line, no deadline")
        _ = machine.append(lines(0..<1), now: t0.advanced(by: .milliseconds(10)))
        #expect(machine.deadline == t0.advanced(by: .milliseconds(210)))
        _ = machine.append(lines(1..<2), now: t0.advanced(by: .milliseconds(150)))
        #expect(machine.deadline == t0.advanced(by: .milliseconds(210)), "later lines do not move it")
        #expect(machine.timeout(now: t0.advanced(by: .milliseconds(209))) == nil)
        let batch = machine.timeout(now: t0.advanced(by: .milliseconds(210)))
        #expect(batch?.closing == .timeout)
        #expect(batch?.lineCount == 2)
        #expect(machine.deadline == nil)
        #expect(machine.timeout(now: t0.advanced(by: .seconds(5))) == nil)
        _ = machine.append(lines(2..<3), now: t0.advanced(by: .seconds(1)))
        #expect(machine.deadline == t0.advanced(by: .milliseconds(1200)))
    }

    @Test func aBatchOpenedBySplitRemaindersStartsItsOwnClock() {
        var machine = BatchStateMachine<FakeInstant>(policy: BatchPolicy(size: 2, timeout: .seconds(1)))
        _ = machine.append(lines(0..<1), now: t0)
        let closed = machine.append(lines(1..<3), now: t0.advanced(by: .milliseconds(500)))
        #expect(closed.map(\.lineCount) == [2])
        #expect(machine.deadline == t0.advanced(by: .milliseconds(1500)))
    }

    @Test func zeroTimeoutClosesOnEachArrival() {
        var machine = BatchStateMachine<FakeInstant>(policy: BatchPolicy(size: 3, timeout: .zero))
        let first = machine.append(lines(0..<2), now: t0)
        #expect(first.map(\.closing) == [.timeout])
        #expect(first.map(\.lineCount) == [2])
        let second = machine.append(lines(2..<6), now: t0)
        #expect(second.map(\.closing) == [.size, .timeout])
        #expect(second.map(\.lineCount) == [3, 1])
        let exact = machine.append(lines(6..<9), now: t0)
        #expect(exact.map(\.closing) == [.size])
        #expect(machine.finish() == nil)
    }

    @Test func nilTimeoutNeverHasADeadline() {
        var machine = BatchStateMachine<FakeInstant>(policy: BatchPolicy(size: 3, timeout: nil))
        _ = machine.append(lines(0..<1), now: t0)
        #expect(machine.deadline == nil)
        #expect(machine.timeout(now: t0.advanced(by: .seconds(3600))) == nil)
    }

    @Test func notesAreCarriedInOrder() {
        let early = SluiceError(.input, place: "a", "missing")
        let late = SluiceError(.corruptInput, place: "b.gz", "truncated")
        var machine = BatchStateMachine<FakeInstant>(policy: BatchPolicy(size: 2, timeout: nil))
        var batches = machine.append(LineChunk(bytes: "x1\nx2\nx3\n".bytes, notes: [early]), now: t0)
        batches += machine.append(LineChunk(bytes: [], notes: [late]), now: t0)
        if let last = machine.finish() { batches.append(last) }
        #expect(batches.flatMap(\.notes) == [early, late])
        #expect(batches.flatMap(batchLines) == ["x1\n", "x2\n", "x3\n"])
        // A note belongs after its chunk's lines: it travels with the batch holding the last line.
        #expect(batches.first?.notes.isEmpty == true)
    }

    @Test func notesAloneMakeABatchAtTheEnd() {
        let note = SluiceError(.input, place: "a", "missing")
        var machine = BatchStateMachine<FakeInstant>(policy: BatchPolicy(size: 2, timeout: nil))
        #expect(machine.append(LineChunk(bytes: [], notes: [note]), now: t0).isEmpty)
        #expect(machine.deadline == nil)
        let last = machine.finish()
        #expect(last?.notes == [note])
        #expect(last?.lineCount == 0)
    }

    /// A diagnostic with no lines never waits for lines that may not come (a missing file
    /// before a trickling stdin): it starts the batch clock like a line would.
    @Test func notesAloneCloseByTheTimeout() {
        let note = SluiceError(.input, place: "a", "missing")
        var machine = BatchStateMachine<FakeInstant>(policy: BatchPolicy(size: 2))
        #expect(machine.append(LineChunk(bytes: [], notes: [note]), now: t0).isEmpty)
        #expect(machine.deadline == t0.advanced(by: .milliseconds(200)))
        #expect(machine.timeout(now: t0.advanced(by: .milliseconds(100))) == nil)
        let batch = machine.timeout(now: t0.advanced(by: .milliseconds(200)))
        #expect(batch?.notes == [note])
        #expect(batch?.lineCount == 0)
        #expect(batch?.closing == .timeout)
    }

    @Test func chunkWithAKnownLineCountIsTrusted() {
        var machine = BatchStateMachine<FakeInstant>(policy: BatchPolicy(size: 2, timeout: nil))
        let batches = machine.append(LineChunk(bytes: "a\nb\nc\n".bytes, lineCount: 3), now: t0)
        #expect(batches.map(batchLines) == [["a\n", "b\n"]])
        #expect(machine.finish().map(batchLines) == ["c\n"])
    }

    /// Without exact boundaries, chunks pass uncut and the batch ends add up to what exact
    /// cutting would have made, for every chunking of the input.
    @Test(arguments: [1, 2, 3, 5, 7, 10, 11, 25])
    func unexactBoundariesCountTheSameEnds(size: Int) {
        for cuts in [[10], [1, 9], [3, 3, 4], [4, 6], [2, 2, 2, 2, 2], [9, 1]] {
            var exact = BatchStateMachine<FakeInstant>(policy: BatchPolicy(size: size, timeout: nil))
            var loose = BatchStateMachine<FakeInstant>(policy: BatchPolicy(size: size, timeout: nil, exactBoundaries: false))
            var exactBatches: [LineBatch] = []
            var looseBatches: [LineBatch] = []
            var start = 0
            for count in cuts {
                let piece = lines(start..<start + count)
                start += count
                exactBatches += exact.append(piece, now: t0)
                let handed = loose.append(piece, now: t0)
                #expect(handed.allSatisfy { $0.segments.allSatisfy { $0.lineCount == 0 || $0.byteCount > 0 } })
                looseBatches += handed
            }
            if let last = exact.finish() { exactBatches.append(last) }
            if let last = loose.finish() { looseBatches.append(last) }
            let context = "size \(size), chunks \(cuts)"
            #expect(looseBatches.flatMap(batchLines) == (0..<10).map { "l\($0)\n" }, "\(context)")
            #expect(looseBatches.reduce(0) { $0 + $1.ends } == exactBatches.count, "\(context)")
            #expect(exactBatches.allSatisfy { $0.ends == 1 }, "\(context)")
            #expect(looseBatches.map(\.segments.count).allSatisfy { $0 <= cuts.count }, "\(context)")
        }
    }

    @Test func unexactBoundariesKeepTheTimeout() {
        var machine = BatchStateMachine<FakeInstant>(policy: BatchPolicy(size: 3, timeout: .seconds(1), exactBoundaries: false))
        let handed = machine.append(lines(0..<4), now: t0)
        #expect(handed.map(\.lineCount) == [4], "the chunk is not cut at 3 lines")
        #expect(handed.map(\.ends) == [1])
        #expect(machine.deadline == t0.advanced(by: .seconds(1)), "line 3 was handed on, its batch is open")
        _ = machine.append(lines(4..<5), now: t0.advanced(by: .milliseconds(300)))
        #expect(machine.deadline == t0.advanced(by: .seconds(1)))
        let timedOut = machine.timeout(now: t0.advanced(by: .seconds(1)))
        #expect(timedOut?.lineCount == 1)
        #expect(timedOut?.ends == 1, "the timeout ends the batch holding lines 3 and 4")
        #expect(machine.finish() == nil)
        // A batch whose lines were all handed on still ends by the timeout, as a cut one would:
        // 1500 lines, a pause, 100 lines with -b 1000 make 3 batches either way.
        var loose = BatchStateMachine<FakeInstant>(policy: BatchPolicy(size: 1000, timeout: .seconds(1), exactBoundaries: false))
        var exact = BatchStateMachine<FakeInstant>(policy: BatchPolicy(size: 1000, timeout: .seconds(1)))
        var looseEnds = loose.append(lines(0..<1500), now: t0).reduce(0) { $0 + $1.ends }
        var exactEnds = exact.append(lines(0..<1500), now: t0).count
        let later = t0.advanced(by: .seconds(2))
        looseEnds += loose.timeout(now: later).map(\.ends) ?? 0
        exactEnds += exact.timeout(now: later) == nil ? 0 : 1
        looseEnds += loose.append(lines(1500..<1600), now: later).reduce(0) { $0 + $1.ends }
        exactEnds += exact.append(lines(1500..<1600), now: later).count
        looseEnds += loose.finish()?.ends ?? 0
        exactEnds += exact.finish() == nil ? 0 : 1
        #expect(looseEnds == 3)
        #expect(exactEnds == 3)
    }

    /// The byte bound beside the line bound (vector's `max_bytes`): a batch closes before the
    /// line that would take it past `maxBytes` bytes, or at `size` lines, whichever comes
    /// first; a line longer than the bound is a batch of its own. Checked against a line-by-line
    /// reference for every chunking of the input, so a chunk straddling the bound is cut.
    @Test(arguments: [1, 3, 1000])
    func closesAtTheByteBoundOrTheLineBound(size: Int) {
        // Lines of 3 to 12 bytes, and one of 40 (longer than every bound below but 64).
        let all = (0..<24).map { i in i == 9 ? String(repeating: "x", count: 39) + "\n" : "l\(i)" + String(repeating: "-", count: i % 7) + "\n" }
        for maxBytes in [1, 10, 16, 25, 64] {
            var reference: [(lines: [String], closing: BatchClosing)] = []
            var open: [String] = []
            for line in all {
                if !open.isEmpty && open.joined().utf8.count + line.utf8.count > maxBytes {
                    reference.append((open, .bytes))
                    open = []
                }
                open.append(line)
                if open.count == size {
                    reference.append((open, .size))
                    open = []
                }
            }
            if !open.isEmpty { reference.append((open, .end)) }
            for cuts in [[24], [1, 23], [5, 5, 5, 9], [2, 8, 1, 13], Array(repeating: 1, count: 24)] {
                var machine = BatchStateMachine<FakeInstant>(policy: BatchPolicy(size: size, timeout: nil, maxBytes: maxBytes))
                var batches: [LineBatch] = []
                var start = 0
                for count in cuts {
                    batches += machine.append(LineChunk(bytes: all[start..<start + count].joined().bytes), now: t0)
                    start += count
                }
                if let last = machine.finish() { batches.append(last) }
                let context = "size \(size), maxBytes \(maxBytes), chunks \(cuts)"
                #expect(batches.map(batchLines) == reference.map(\.lines), "\(context)")
                #expect(batches.map(\.closing) == reference.map(\.closing), "\(context)")
                #expect(batches.map(\.lineCount) == batches.map { batchLines($0).count }, "\(context)")
                #expect(batches.allSatisfy { $0.byteCount <= maxBytes || $0.lineCount == 1 }, "\(context)")
            }
        }
    }

    @Test func aBatchClosedByBytesStartsTheNextClock() {
        var machine = BatchStateMachine<FakeInstant>(policy: BatchPolicy(size: 1000, timeout: .seconds(1), maxBytes: 8))
        #expect(machine.append(chunk("aaa\n"), now: t0).isEmpty)
        #expect(machine.deadline == t0.advanced(by: .seconds(1)))
        let closed = machine.append(chunk("bbb\nccc\n"), now: t0.advanced(by: .milliseconds(400)))
        #expect(closed.map(batchLines) == [["aaa\n", "bbb\n"]])
        #expect(closed.map(\.closing) == [.bytes])
        #expect(closed.map(\.ends) == [1])
        #expect(machine.deadline == t0.advanced(by: .milliseconds(1400)), "ccc opened the next batch")
        let timedOut = machine.timeout(now: t0.advanced(by: .milliseconds(1400)))
        #expect(timedOut.map(batchLines) == ["ccc\n"])
        #expect(timedOut?.closing == .timeout)
    }

    /// Without exact boundaries (no `--exec`) chunks pass uncut, and the byte bound only hands
    /// on pieces: the batch, and its count of ends, stays cut by lines.
    @Test func unexactBoundariesTurnTheByteBoundIntoPieces() {
        var machine = BatchStateMachine<FakeInstant>(policy: BatchPolicy(size: 10, timeout: nil, maxBytes: 9, exactBoundaries: false))
        var handed = machine.append(lines(0..<3), now: t0)  // 9 bytes
        #expect(handed.map(\.closing) == [.partial])
        #expect(handed.map(\.ends) == [0])
        handed = machine.append(lines(3..<10), now: t0)
        #expect(handed.map(\.closing) == [.size])
        #expect(handed.map(\.ends) == [1])
        #expect(machine.finish() == nil)
    }

    @Test func splitAtMostBytesKeepsWholeLines() {
        let lines = chunk("ab\ncde\nf\n")
        for (bytes, head, count) in [(0, "ab\n", 1), (1, "ab\n", 1), (3, "ab\n", 1), (6, "ab\n", 1), (7, "ab\ncde\n", 2), (8, "ab\ncde\n", 2), (9, "ab\ncde\nf\n", 3), (100, "ab\ncde\nf\n", 3)] {
            let (first, rest, headLines) = lines.split(atMostBytes: bytes)
            #expect(text(first.bytes) == head, "at most \(bytes) bytes")
            #expect(headLines == count)
            #expect(first.lineCount == count)
            #expect(text(first.bytes + rest.bytes) == "ab\ncde\nf\n")
        }
    }

    @Test func joinedConcatenatesSegments() {
        let batch = LineBatch(segments: [chunk("a\n"), chunk("b\nc\n")], lineCount: 3, closing: .end)
        #expect(text(batch.joined()) == "a\nb\nc\n")
        #expect(batch.byteCount == 6)
    }
}

@Suite struct BatchedLinesTests {
    @Test func sizeAndEndWithAFastBase() async throws {
        let base = AsyncStream<LineChunk> { c in
            c.yield(lines(0..<5)); c.yield(lines(5..<7)); c.finish()
        }
        var got: [(Int, BatchClosing)] = []
        for try await batch in base.batched(BatchPolicy(size: 3, timeout: nil)) {
            got.append((batch.lineCount, batch.closing))
        }
        #expect(got.map(\.0) == [3, 3, 1])
        #expect(got.map(\.1) == [.size, .size, .end])
    }

    @Test func aTricklingInputClosesABatchByTimeout() async throws {
        let thirdSent = Counter()
        let firstBatchCame = Counter()
        let base = AsyncStream<LineChunk> { c in
            let task = Task {
                // Two lines at once (a 10 ms pause between them could pass the 50 ms timeout
                // on a loaded machine under ThreadSanitizer, splitting them).
                c.yield(lines(0..<1))
                c.yield(lines(1..<2))
                // The next line comes only once the first batch did (or after 60 s): a fixed
                // 700 ms was too short on a loaded machine under ThreadSanitizer, and so was
                // 10 s once (the whole suite under the sanitizer on 2 cores).
                let giveUp = ContinuousClock.now + .seconds(60)
                while firstBatchCame.value == 0 && ContinuousClock.now < giveUp {
                    try? await Task.sleep(for: .milliseconds(20))
                }
                thirdSent.increment()
                c.yield(lines(2..<3))
                c.finish()
            }
            c.onTermination = { _ in task.cancel() }
        }
        var batches: [LineBatch] = []
        var thirdSentWhenFirstBatchCame: Bool?
        for try await batch in base.batched(BatchPolicy(size: 100, timeout: .milliseconds(200))) {
            if batches.isEmpty {
                thirdSentWhenFirstBatchCame = thirdSent.value > 0
                firstBatchCame.increment()
            }
            batches.append(batch)
        }
        #expect(batches.map(\.closing) == [.timeout, .end])
        #expect(batches.map(batchLines) == [["l0\n", "l1\n"], ["l2\n"]])
        #expect(thirdSentWhenFirstBatchCame == false, "the first batch must not wait for the next line")
    }

    @Test func baseErrorComesAfterTheBatchesBeforeIt() async {
        let base = AsyncThrowingStream<LineChunk, any Error> { c in
            c.yield(lines(0..<4))
            c.finish(throwing: TestFailure(id: 3))
        }
        let sendableBase = base
        var counts: [Int] = []
        let error = await #expect(throws: TestFailure.self) {
            for try await batch in sendableBase.batched(BatchPolicy(size: 3, timeout: nil)) { counts.append(batch.lineCount) }
        }
        #expect(error == TestFailure(id: 3))
        #expect(counts == [3, 1])
    }
}
