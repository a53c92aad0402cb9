extension AsyncSequence where Self: Sendable, Element: Sendable {
    /// Transforms up to `limit` elements at once, emitting results in input order (or, with
    /// `ordered: false`, as they finish).
    ///
    /// Bound: at most `limit` transforms run, and at most `limit + lookahead` are started and
    /// not yet consumed; a slow consumer stops the intake. `lookahead` lets a worker go on
    /// while an earlier, slower element holds up ordered output (with 0, a worker that
    /// finishes first idles until its predecessor is consumed). End: after the base ends and every
    /// transform has been emitted. Error: the first error (from the base or a transform, in
    /// emission order) is thrown and the rest is cancelled. Cancellation: dropping the iterator
    /// cancels the intake and every transform still running.
    public func concurrentMap<T: Sendable>(
        limit: Int, ordered: Bool = true, lookahead: Int = 0,
        _ transform: @escaping @Sendable (Element) async throws -> T
    ) -> ConcurrentMapSequence<Self, T> {
        ConcurrentMapSequence(base: self, limit: limit, ordered: ordered, lookahead: lookahead, transform: transform)
    }
}

/// See `concurrentMap(limit:ordered:_:)`.
///
/// Design: an intake task pulls from the base and starts one child `Task` per element; the
/// handles travel through a channel, so the consumer awaits them in input order (ordered) or
/// receives results as they complete (unordered). A slot channel of `limit + lookahead` tokens
/// bounds the tasks started but not yet consumed, and a running channel of `limit` tokens the
/// tasks running (taken before a task starts, given back as it finishes). Child tasks are unstructured so results can be
/// awaited one at a time; their lifetime is tied to the iterator, which cancels them on deinit.
public struct ConcurrentMapSequence<Base: AsyncSequence & Sendable, T: Sendable>: AsyncSequence, Sendable where Base.Element: Sendable {
    public typealias Element = T
    let base: Base
    let limit: Int
    let ordered: Bool
    let lookahead: Int
    let transform: @Sendable (Base.Element) async throws -> T

    public func makeAsyncIterator() -> Iterator {
        Iterator(sequence: self)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let state: State

        init(sequence: ConcurrentMapSequence) {
            state = State(sequence: sequence)
        }

        public mutating func next() async throws -> T? {
            try await state.next()
        }
    }

    final class State: @unchecked Sendable {
        // `@unchecked`: `intake` is set once, by the single consumer task, before anything
        // else reads it; the channels are thread-safe.
        let sequence: ConcurrentMapSequence
        let handles: BoundedChannel<Completion<T>>
        let results: BoundedChannel<Result<T, any Error>>
        let slots: BoundedChannel<Void>
        let running: BoundedChannel<Void>
        var intake: ScopedTask<Void>?

        init(sequence: ConcurrentMapSequence) {
            self.sequence = sequence
            let limit = Swift.max(1, sequence.limit)
            let window = limit + Swift.max(0, sequence.lookahead)
            handles = BoundedChannel(capacity: window)
            results = BoundedChannel(capacity: window)
            slots = BoundedChannel(capacity: window)
            running = BoundedChannel(capacity: limit)
        }

        deinit {
            intake?.cancel()
            _ = handles.cancel()  // promises nobody will await: their tasks end with the intake
            results.cancel()
            slots.cancel()
            running.cancel()
        }

        func start() {
            let sequence = self.sequence
            let handles = self.handles
            let results = self.results
            let slots = self.slots
            let running = self.running
            if sequence.ordered {
                // Each element's transform is a child of the intake's own group, which gives
                // its result to a promise sent in input order (cancelling the intake cancels
                // them all). One task per 512 KiB chunk: a handle with a group of its own per
                // chunk cost ~10% of a 1 GB literal search.
                intake = RunScope.task {
                    await withDiscardingTaskGroup { group in
                        do {
                            for try await element in sequence.base {
                                // A slot per element, released when the consumer takes its result.
                                guard await slots.send(()) else { return }
                                guard await running.send(()) else { return }
                                let promise = Completion<T>()
                                group.addTask {
                                    let result = await Result(catching: { try await sequence.transform(element) })
                                    _ = await running.receive()
                                    promise.complete(result)
                                }
                                if await !handles.send(promise) { return }
                            }
                            handles.finish()
                        } catch {
                            handles.finish(throwing: error)
                        }
                    }
                }
            } else {
                intake = RunScope.task {
                    var failure: (any Error)?
                    await withDiscardingTaskGroup { group in
                        do {
                            for try await element in sequence.base {
                                guard await slots.send(()) else { break }
                                guard await running.send(()) else { break }
                                group.addTask {
                                    let result = await Result(catching: { try await sequence.transform(element) })
                                    _ = await running.receive()
                                    await results.send(result)
                                }
                            }
                        } catch {
                            failure = error
                        }
                    }  // every child has sent its result here
                    results.finish(throwing: failure)
                }
            }
        }

        func next() async throws -> T? {
            if intake == nil { start() }
            if sequence.ordered {
                switch await handles.receive() {
                case .element(let promise):
                    // A consumer cancelled while it waits ends the intake, and with it the
                    // transforms of its group (this one's among them).
                    let intake = self.intake
                    let value = try await withTaskCancellationHandler {
                        try await promise.wait()
                    } onCancel: {
                        intake?.cancel()
                    }
                    _ = await slots.receive()
                    return value
                case .finished, .timedOut: return nil
                case .failed(let error): throw error
                case .cancelled: throw CancellationError()
                }
            }
            switch await results.receive() {
            case .element(let result):
                _ = await slots.receive()
                return try result.get()
            case .finished, .timedOut: return nil
            case .failed(let error): throw error
            case .cancelled: throw CancellationError()
            }
        }
    }
}
