extension AsyncSequence where Self: Sendable, Element == LineChunk {
    /// Groups lines into batches of `policy.size`, closing a batch early when its first line
    /// has waited `policy.timeout` on `clock`, so a trickling input is never stuck.
    ///
    /// Bound: one open batch (at most `size` lines) plus two chunks read ahead. End: the last
    /// partial batch is emitted, then nil. Error: the base's error is thrown after the batches
    /// before it. Cancellation: throws `CancellationError` (the open batch is not emitted);
    /// dropping the iterator cancels the intake.
    public func batched<C: Clock>(_ policy: BatchPolicy, clock: C) -> BatchedLines<Self, C> where C.Duration == Duration {
        BatchedLines(base: self, policy: policy, clock: clock)
    }

    public func batched(_ policy: BatchPolicy) -> BatchedLines<Self, ContinuousClock> {
        batched(policy, clock: ContinuousClock())
    }
}

/// See `batched(_:clock:)`. An intake task moves chunks from the base into a bounded channel;
/// the iterator waits on that channel with the state machine's deadline.
public struct BatchedLines<Base: AsyncSequence & Sendable, C: Clock>: AsyncSequence, Sendable
where Base.Element == LineChunk, C.Duration == Duration {
    public typealias Element = LineBatch
    let base: Base
    let policy: BatchPolicy
    let clock: C

    public func makeAsyncIterator() -> Iterator {
        Iterator(sequence: self)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let intake: Intake
        var machine: BatchStateMachine<C.Instant>
        var ready: [LineBatch] = []
        var ended = false
        let clock: C

        init(sequence: BatchedLines) {
            intake = Intake(base: sequence.base)
            machine = BatchStateMachine(policy: sequence.policy)
            clock = sequence.clock
        }

        public mutating func next() async throws -> LineBatch? {
            intake.startIfNeeded()
            while true {
                if !ready.isEmpty { return ready.removeFirst() }
                if ended {
                    if let batch = machine.finish() { return batch }
                    if let error = intake.failure {
                        intake.failure = nil
                        throw error
                    }
                    return nil
                }
                switch await intake.channel.receive(deadline: machine.deadline, clock: clock) {
                case .element(let chunk):
                    ready = machine.append(chunk, now: clock.now)
                case .timedOut:
                    if let batch = machine.timeout(now: clock.now) { return batch }
                case .finished:
                    ended = true
                case .failed(let error):
                    ended = true
                    intake.failure = error
                case .cancelled:
                    // Not an end of input: the open batch is dropped, never emitted as if whole.
                    throw CancellationError()
                }
            }
        }
    }

    final class Intake: @unchecked Sendable {
        // `@unchecked`: `task` and `failure` are touched only by the iterator's owner.
        let channel = BoundedChannel<LineChunk>(capacity: 2)
        let base: Base
        var task: ScopedTask<Void>?
        var failure: (any Error)?

        init(base: Base) { self.base = base }

        func startIfNeeded() {
            guard task == nil else { return }
            let base = self.base
            let channel = self.channel
            task = RunScope.task {
                do {
                    for try await chunk in base {
                        if await !channel.send(chunk) { return }
                    }
                    channel.finish()
                } catch {
                    channel.finish(throwing: error)
                }
            }
        }

        deinit {
            task?.cancel()
            channel.cancel()
        }
    }
}
