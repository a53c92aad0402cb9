import Glibc

/// A bounded FIFO between one producer and one consumer, either of which may be a plain
/// thread (blocking calls) or a task (async calls).
///
/// Bound: at most `capacity` elements wait; a producer that finds it full blocks (thread) or
/// suspends (task) until the consumer takes one, so a slow consumer slows the producer.
/// End: `finish(throwing:)` lets the consumer drain what is queued, then see the end or the
/// error. Cancellation: `cancel()` drops what is queued, wakes everyone, and makes every later
/// `send` return false and every `receive` return `.cancelled`; a consumer task that is
/// cancelled while waiting cancels the channel.
///
/// `@unchecked Sendable`: every stored property is read and written only while `lock` is
/// held, and continuations are resumed after it is released.
public final class BoundedChannel<Element: Sendable>: @unchecked Sendable {
    public enum Received {
        case element(Element)
        case finished
        case failed(any Error)
        case timedOut
        /// The channel was cancelled (its consumer task was, or its owner went away): not an
        /// end of the stream, so a consumer throws `CancellationError` instead of finishing.
        case cancelled
    }

    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let spaceAvailable = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Signalled when an element is queued, the stream ends or the channel is cancelled, for a
    /// consumer thread waiting in `receiveBlocking`.
    private let itemAvailable = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let capacity: Int
    private var items: [Element?] = []  // taken slots are nil'ed at once, so memory is released
    private var head = 0
    private var finished = false
    private var cancelled = false
    private var failure: (any Error)?
    private var waitingConsumer: (id: UInt64, continuation: CheckedContinuation<Received, Never>, deadline: AnyHashable?)?
    /// The timer of the consumer's deadline, kept for every wait with that same deadline: a
    /// trickling input waits once per line for one batch deadline, and a timer per wait (each
    /// cancelled, but held by the executor until its deadline) kept ~0.7 KiB per line alive
    /// for as long as the batch timeout (`--batch-timeout 10s`: 47 MiB for 50,000 lines).
    private var timer: (deadline: AnyHashable, task: Task<Void, Never>)?
    private var waitingProducers: [CheckedContinuation<Void, Never>] = []
    /// Threads waiting in `sendBlocking`: the end is not reported while one may still deliver.
    private var blockedSenders = 0
    private var nextWaitID: UInt64 = 0

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        pthread_mutex_init(lock, nil)
        pthread_cond_init(spaceAvailable, nil)
        pthread_cond_init(itemAvailable, nil)
    }

    deinit {
        timer?.task.cancel()
        pthread_cond_destroy(spaceAvailable)
        pthread_cond_destroy(itemAvailable)
        pthread_mutex_destroy(lock)
        lock.deallocate()
        spaceAvailable.deallocate()
        itemAvailable.deallocate()
    }

    private var queuedCount: Int { items.count - head }

    public var isCancelled: Bool {
        pthread_mutex_lock(lock); defer { pthread_mutex_unlock(lock) }
        return cancelled
    }

    // MARK: producer

    /// Enqueues `element`, blocking the calling thread while the channel is full.
    /// Returns false (and drops the element) once the channel is cancelled.
    @discardableResult
    ///
    /// A send that was waiting when the stream was finished (a stop request) still delivers its
    /// element, past the bound, then returns false: what a reader already read is not lost.
    public func sendBlocking(_ element: Element) -> Bool {
        pthread_mutex_lock(lock)
        blockedSenders += 1
        while queuedCount >= capacity && !cancelled && !finished {
            pthread_cond_wait(spaceAvailable, lock)
        }
        blockedSenders -= 1
        if finished && !cancelled {
            deliverLocked(element)
            return false
        }
        return enqueueLocked(element)
    }

    /// With `lock` held (released here): hands `element` to the waiting consumer or queues it.
    private func deliverLocked(_ element: Element) {
        if let consumer = waitingConsumer {
            waitingConsumer = nil
            pthread_mutex_unlock(lock)
            consumer.continuation.resume(returning: .element(element))
            return
        }
        items.append(element)
        pthread_cond_signal(itemAvailable)
        pthread_mutex_unlock(lock)
    }

    /// Enqueues `element`, suspending while the channel is full.
    /// Returns false (and drops the element) once the channel is cancelled.
    @discardableResult
    public func send(_ element: Element) async -> Bool {
        while true {
            pthread_mutex_lock(lock)
            if cancelled || queuedCount < capacity { return enqueueLocked(element) }
            pthread_mutex_unlock(lock)
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                pthread_mutex_lock(lock)
                if cancelled || queuedCount < capacity {
                    pthread_mutex_unlock(lock)
                    continuation.resume()
                } else {
                    waitingProducers.append(continuation)
                    pthread_mutex_unlock(lock)
                }
            }
        }
    }

    /// Called with `lock` held; releases it.
    private func enqueueLocked(_ element: Element) -> Bool {
        guard !cancelled, !finished else {
            pthread_mutex_unlock(lock)
            return false
        }
        deliverLocked(element)
        return true
    }

    /// Ends the stream: the consumer drains what is queued, then sees the end (or `error`).
    public func finish(throwing error: (any Error)? = nil) {
        pthread_mutex_lock(lock)
        guard !finished else { pthread_mutex_unlock(lock); return }
        finished = true
        failure = error
        pthread_cond_broadcast(spaceAvailable)  // a blocked sender delivers, then stops
        pthread_cond_broadcast(itemAvailable)
        let consumer = blockedSenders == 0 ? waitingConsumer : nil
        if consumer != nil { waitingConsumer = nil }
        pthread_mutex_unlock(lock)
        consumer?.continuation.resume(returning: error.map { .failed($0) } ?? .finished)
    }

    /// Drops what is queued (returning it, so the caller can release it) and wakes every
    /// waiter; later sends return false.
    @discardableResult
    public func cancel() -> [Element] {
        pthread_mutex_lock(lock)
        cancelled = true
        let dropped = items[head...].compactMap { $0 }
        items.removeAll()
        head = 0
        let consumer = waitingConsumer
        waitingConsumer = nil
        let producers = waitingProducers
        waitingProducers = []
        pthread_cond_broadcast(spaceAvailable)
        pthread_cond_broadcast(itemAvailable)
        pthread_mutex_unlock(lock)
        consumer?.continuation.resume(returning: .cancelled)
        for producer in producers { producer.resume() }
        return dropped
    }

    // MARK: consumer

    /// The next element, or the end, blocking the calling thread while the channel is empty
    /// (for a consumer that is a plain thread, such as an `--exec` child's stdin writer).
    public func receiveBlocking() -> Received {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        while true {
            if let received = takeLocked() { return received }
            pthread_cond_wait(itemAvailable, lock)
        }
    }

    /// The next element, or the end. Waits while the channel is empty.
    public func receive() async -> Received {
        await receive(deadline: nil as ContinuousClock.Instant?, clock: ContinuousClock())
    }

    /// The next element, the end, or `.timedOut` once `deadline` (on `clock`) passes first.
    /// One timer serves every wait with the same deadline; it is cancelled when the deadline
    /// changes or the stream ends.
    public func receive<C: Clock>(deadline: C.Instant?, clock: C) async -> Received {
        if Task.isCancelled {
            // A cancelled consumer gets nothing more, also while elements are queued.
            cancel()
            return .cancelled
        }
        let key = deadline.map { AnyHashable($0) }
        pthread_mutex_lock(lock)
        if let immediate = takeLocked() {
            pthread_mutex_unlock(lock)
            return ended(immediate)
        }
        if let deadline, clock.now >= deadline {
            pthread_mutex_unlock(lock)
            return .timedOut
        }
        nextWaitID += 1
        let id = nextWaitID
        var stale: Task<Void, Never>?
        if let current = timer, current.deadline != key {
            stale = current.task
            timer = nil
        }
        let arm = key != nil && timer == nil
        pthread_mutex_unlock(lock)
        stale?.cancel()
        if let deadline, let key, arm {
            let task = Task { [weak self] in
                try? await clock.sleep(until: deadline, tolerance: nil)
                if Task.isCancelled { return }
                self?.timeOut(deadline: AnyHashable(deadline))
            }
            pthread_mutex_lock(lock)
            timer = (key, task)
            pthread_mutex_unlock(lock)
        }

        let received = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Received, Never>) in
                pthread_mutex_lock(lock)
                if let immediate = takeLocked() {
                    pthread_mutex_unlock(lock)
                    continuation.resume(returning: immediate)
                    return
                }
                if let deadline, clock.now >= deadline {  // its timer fired before this wait
                    pthread_mutex_unlock(lock)
                    continuation.resume(returning: .timedOut)
                    return
                }
                waitingConsumer = (id, continuation, key)
                pthread_mutex_unlock(lock)
            }
        } onCancel: {
            self.cancel()
        }
        return ended(received)
    }

    /// `received`, after cancelling the deadline's timer if the stream is over.
    private func ended(_ received: Received) -> Received {
        switch received {
        case .element, .timedOut: break
        case .finished, .failed, .cancelled:
            pthread_mutex_lock(lock)
            let task = timer?.task
            timer = nil
            pthread_mutex_unlock(lock)
            task?.cancel()
        }
        return received
    }

    private func timeOut(deadline: AnyHashable) {
        pthread_mutex_lock(lock)
        if timer?.deadline == deadline { timer = nil }
        guard let consumer = waitingConsumer, consumer.deadline == deadline else {
            pthread_mutex_unlock(lock)
            return
        }
        waitingConsumer = nil
        pthread_mutex_unlock(lock)
        consumer.continuation.resume(returning: .timedOut)
    }

    /// With `lock` held: an element or the end if one is ready, waking a producer.
    private func takeLocked() -> Received? {
        if cancelled { return .cancelled }
        if queuedCount > 0 {
            let element = items[head]!
            items[head] = nil
            head += 1
            if head == items.count {
                items.removeAll(keepingCapacity: true)
                head = 0
            } else if head > 64 && head * 2 > items.count {
                items.removeFirst(head)
                head = 0
            }
            pthread_cond_signal(spaceAvailable)
            if !waitingProducers.isEmpty {
                let producer = waitingProducers.removeFirst()
                // Resuming while holding the lock is safe: resume never runs the task inline.
                producer.resume()
            }
            return .element(element)
        }
        if finished && blockedSenders == 0 { return failure.map { .failed($0) } ?? .finished }
        return nil
    }
}
