import Glibc

/// A bounded FIFO between producers and a consumer, any of which may be a plain thread
/// (blocking calls) or a task (async calls): the one kind of queue in sluice, between the
/// reader and the stages, between stages, from a sink to its thread, and from a compressing
/// sink to its worker threads.
///
/// Shaped as swift-async-algorithms shapes its channels: `ChannelState`, a value-type state
/// machine, decides every transition and returns what must happen (a continuation to resume,
/// a condition to signal); this class is the storage that holds it under a mutex and carries
/// those actions out after releasing it. Continuations are never resumed with the lock held.
///
/// Bound: at most `capacity` elements wait, and, when `byteCapacity` is given, at most that
/// many bytes as `weigh` counts them (one heavier element waits alone, so anything can pass).
/// A producer that finds it full blocks (thread) or suspends (task) until the consumer takes
/// one, so a slow consumer slows the producer. End: `finish(throwing:)` lets the consumer drain
/// what is queued, then see the end or the error. Cancellation: `cancel()` drops what is
/// queued, wakes everyone, and makes every later `send` return false and every `receive`
/// return `.cancelled`; a consumer task cancelled while it waits cancels the channel; a
/// producer task cancelled while it waits for room gives up (its `send` returns false) and
/// leaves the channel as it was.
///
/// Consumers: one task, or any number of threads in `receiveBlocking` (the compression
/// workers share one channel of jobs).
///
/// `@unchecked Sendable`: `state` is read and written only while `lock` is held.
public final class BoundedChannel<Element: Sendable>: @unchecked Sendable {
    public enum Received: Sendable {
        case element(Element)
        case finished
        case failed(any Error)
        case timedOut
        /// The channel was cancelled (its consumer task was, or its owner went away): not an
        /// end of the stream, so a consumer throws `CancellationError` instead of finishing.
        case cancelled
    }

    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    /// Signalled when room appears, for producer threads waiting in `sendBlocking`.
    private let spaceAvailable = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Signalled when an element is queued, the stream ends or the channel is cancelled, for
    /// consumer threads waiting in `receiveBlocking`.
    private let itemAvailable = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var state: ChannelState<Element>
    private let weigh: (@Sendable (Element) -> Int)?

    /// `byteCapacity`/`weigh`: a second bound, on the sum of the waiting elements' weights.
    public init(capacity: Int, byteCapacity: Int = .max, weigh: (@Sendable (Element) -> Int)? = nil) {
        precondition(capacity > 0)
        state = ChannelState(capacity: capacity, byteCapacity: weigh == nil ? .max : byteCapacity)
        self.weigh = weigh
        pthread_mutex_init(lock, nil)
        pthread_cond_init(spaceAvailable, nil)
        // On the monotonic clock: `receiveBlocking(waitingAtMost:)` must not wait longer (or
        // shorter) when the wall clock is set.
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(itemAvailable, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        state.timer?.task.cancel()
        pthread_cond_destroy(spaceAvailable)
        pthread_cond_destroy(itemAvailable)
        pthread_mutex_destroy(lock)
        lock.deallocate()
        spaceAvailable.deallocate()
        itemAvailable.deallocate()
    }

    private func locked<R>(_ body: (inout ChannelState<Element>) -> R) -> R {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return body(&state)
    }

    public var isCancelled: Bool { locked { $0.cancelled } }

    // MARK: producer

    /// Enqueues `element`, blocking the calling thread while the channel is full.
    /// Returns false (and drops the element) once the channel is cancelled.
    ///
    /// A send that was waiting when the stream was finished (a stop request) still delivers its
    /// element, past the bound, then returns false: what a reader already read is not lost.
    @discardableResult
    public func sendBlocking(_ element: Element) -> Bool {
        let weight = weigh?(element) ?? 0
        pthread_mutex_lock(lock)
        state.blockedSenders += 1
        while !state.hasRoom(for: weight) && !state.cancelled && !state.finished {
            state.threadsWaitingForRoom += 1
            pthread_cond_wait(spaceAvailable, lock)
            state.threadsWaitingForRoom -= 1
        }
        state.blockedSenders -= 1
        let action = state.send(element, weight: weight, pastEnd: true)
        if state.finished && state.blockedSenders == 0 {
            // The end was held back for this sender: every consumer thread asleep must see
            // it now, not only the one its element wakes.
            pthread_cond_broadcast(itemAvailable)
        }
        return carryOut(action)
    }

    /// Enqueues `element`, suspending while the channel is full. Returns false (and drops the
    /// element) once the channel is cancelled or finished, or when the calling task is
    /// cancelled while it waits for room.
    @discardableResult
    public func send(_ element: Element) async -> Bool {
        let weight = weigh?(element) ?? 0
        while true {
            pthread_mutex_lock(lock)
            if state.cancelled || state.finished || state.hasRoom(for: weight) {
                return carryOut(state.send(element, weight: weight, pastEnd: false))
            }
            let id = state.nextWaitID()
            pthread_mutex_unlock(lock)
            if Task.isCancelled { return false }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    // Checked under the lock: a cancellation handler that ran before this
                    // found nothing to remove, so this wait must not begin.
                    let resumeNow = locked { Task.isCancelled || $0.suspendProducer(id: id, continuation, weight: weight) }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                locked { $0.removeProducer(id: id) }?.resume()
            }
            if Task.isCancelled {
                // Room this producer was woken for goes to the next one waiting.
                locked { $0.nextProducerIfRoom() }?.resume()
                return false
            }
        }
    }

    /// With `lock` held (released here): carries out a send's action.
    private func carryOut(_ action: ChannelState<Element>.SendAction) -> Bool {
        switch action {
        case .rejected:
            pthread_mutex_unlock(lock)
            return false
        case .queued(let accepted):
            let wake = state.threadsWaitingForItems > 0
            pthread_mutex_unlock(lock)
            if wake { pthread_cond_signal(itemAvailable) }
            return accepted
        case .handedOver(let consumer, let element, let accepted):
            pthread_mutex_unlock(lock)
            consumer.resume(returning: .element(element))
            return accepted
        }
    }

    /// Ends the stream: the consumer drains what is queued, then sees the end (or `error`).
    public func finish(throwing error: (any Error)? = nil) {
        pthread_mutex_lock(lock)
        let action = state.finish(throwing: error)
        pthread_cond_broadcast(spaceAvailable)  // a blocked sender delivers, then stops
        pthread_cond_broadcast(itemAvailable)
        pthread_mutex_unlock(lock)
        action.consumer?.resume(returning: action.received)
        for producer in action.producers { producer.resume() }
    }

    /// Drops what is queued (returning it, so the caller can release it) and wakes every
    /// waiter; later sends return false.
    @discardableResult
    public func cancel() -> [Element] {
        pthread_mutex_lock(lock)
        let action = state.cancel()
        pthread_cond_broadcast(spaceAvailable)
        pthread_cond_broadcast(itemAvailable)
        pthread_mutex_unlock(lock)
        action.timer?.cancel()
        action.consumer?.resume(returning: .cancelled)
        for producer in action.producers { producer.resume() }
        return action.dropped
    }

    // MARK: consumer

    /// The next element, or the end, blocking the calling thread while the channel is empty
    /// (for consumers that are plain threads: an `--exec` child's stdin writer, a sink's
    /// thread, the compression workers).
    public func receiveBlocking() -> Received {
        receiveBlocking(until: nil)!
    }

    /// As `receiveBlocking()`, but nil once the channel has stayed empty for `timeout` (a
    /// thread with work of its own to do when idle: `SinkThread`).
    public func receiveBlocking(waitingAtMost timeout: Duration) -> Received? {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let timeout = Swift.max(timeout, .zero)
        let nanoseconds = Int(deadline.tv_nsec) + Int(timeout.components.attoseconds / 1_000_000_000)
        deadline.tv_sec += Int(timeout.components.seconds) + nanoseconds / 1_000_000_000
        deadline.tv_nsec = nanoseconds % 1_000_000_000
        return receiveBlocking(until: deadline)
    }

    /// Nil only when `deadline` (CLOCK_MONOTONIC) passed with nothing to receive.
    private func receiveBlocking(until deadline: timespec?) -> Received? {
        var deadline = deadline
        pthread_mutex_lock(lock)
        while true {
            if let taken = state.take() {
                tookLocked(taken)
                return taken.received
            }
            state.threadsWaitingForItems += 1
            let status = deadline == nil ? pthread_cond_wait(itemAvailable, lock) : pthread_cond_timedwait(itemAvailable, lock, &deadline!)
            state.threadsWaitingForItems -= 1
            if status == ETIMEDOUT, state.queuedCount == 0, !state.finished, !state.cancelled {
                pthread_mutex_unlock(lock)
                return nil
            }
        }
    }

    /// The next element, or the end. Waits while the channel is empty.
    public func receive() async -> Received {
        await receive(deadline: nil as ContinuousClock.Instant?, clock: ContinuousClock())
    }

    /// The next element, the end, or `.timedOut` once `deadline` (on `clock`) passes first.
    /// One timer serves every wait with the same deadline; it is cancelled when the deadline
    /// changes or the stream ends. (A timer per wait, each cancelled but held by the executor
    /// until its deadline, kept ~0.7 KiB per line of a trickling input alive for as long as the
    /// batch timeout: `--batch-timeout 10s`, 47 MiB for 50,000 lines.)
    public func receive<C: Clock>(deadline: C.Instant?, clock: C) async -> Received {
        if Task.isCancelled {
            // A cancelled consumer gets nothing more, also while elements are queued.
            cancel()
            return .cancelled
        }
        let key = deadline.map { AnyHashable($0) }
        pthread_mutex_lock(lock)
        if let taken = state.take() {
            tookLocked(taken)
            return ended(taken.received)
        }
        if let deadline, clock.now >= deadline {
            pthread_mutex_unlock(lock)
            return .timedOut
        }
        let id = state.nextWaitID()
        let (stale, arm) = state.prepareTimer(for: key)
        pthread_mutex_unlock(lock)
        stale?.cancel()
        if let deadline, let key, arm {
            let task = Task { [weak self] in
                try? await clock.sleep(until: deadline, tolerance: nil)
                if Task.isCancelled { return }
                self?.timeOut(deadline: AnyHashable(deadline))
            }
            locked { $0.timer = (key, task) }
        }

        let received = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Received, Never>) in
                pthread_mutex_lock(lock)
                if let taken = state.take() {
                    tookLocked(taken)
                    continuation.resume(returning: taken.received)
                    return
                }
                if let deadline, clock.now >= deadline {  // its timer fired before this wait
                    pthread_mutex_unlock(lock)
                    continuation.resume(returning: .timedOut)
                    return
                }
                state.consumer = (id, continuation, key)
                pthread_mutex_unlock(lock)
            }
        } onCancel: {
            self.cancel()
        }
        return ended(received)
    }

    /// With `lock` held (released here), after a take: wakes a producer thread or task that
    /// waits for room. Signalled after unlocking, and only when a thread waits: a thread woken
    /// while the signaller still held the lock went straight back to sleep on it (a plain
    /// `{n}` export of 1 GB lost 17% of its speed to that ping-pong with its sink thread).
    private func tookLocked(_ taken: (received: Received, producer: CheckedContinuation<Void, Never>?)) {
        let wake = state.threadsWaitingForRoom > 0
        pthread_mutex_unlock(lock)
        if wake { pthread_cond_signal(spaceAvailable) }
        taken.producer?.resume()
    }

    /// `received`, after cancelling the deadline's timer if the stream is over.
    private func ended(_ received: Received) -> Received {
        switch received {
        case .element, .timedOut: break
        case .finished, .failed, .cancelled:
            locked { $0.takeTimer() }?.cancel()
        }
        return received
    }

    private func timeOut(deadline: AnyHashable) {
        locked { $0.timeOut(deadline: deadline) }?.resume(returning: .timedOut)
    }
}

/// The state of a `BoundedChannel`, as a value: every transition is a mutating method that
/// returns what the storage must do once it has released its lock. No locks, no waiting, no
/// resuming here.
struct ChannelState<Element: Sendable> {
    typealias Consumer = CheckedContinuation<BoundedChannel<Element>.Received, Never>

    let capacity: Int
    let byteCapacity: Int
    /// Waiting elements from `head` on; taken slots are nil'ed at once, so memory is released.
    private var items: [(element: Element, weight: Int)?] = []
    private var head = 0
    private var queuedWeight = 0
    private(set) var finished = false
    private(set) var cancelled = false
    private var failure: (any Error)?
    /// The consumer task waiting for an element, with the deadline it waits for.
    var consumer: (id: UInt64, continuation: Consumer, deadline: AnyHashable?)?
    /// Producer tasks waiting for room, in order, with the weight each wants to add.
    private var producers: [(id: UInt64, continuation: CheckedContinuation<Void, Never>, weight: Int)] = []
    /// Threads in `sendBlocking`: the end is not reported while one may still deliver.
    var blockedSenders = 0
    /// Threads asleep on the storage's conditions (signalled only when one is).
    var threadsWaitingForRoom = 0
    var threadsWaitingForItems = 0
    /// The timer of the consumer's deadline (see `receive(deadline:clock:)`).
    var timer: (deadline: AnyHashable, task: Task<Void, Never>)?
    private var waitIDs: UInt64 = 0

    init(capacity: Int, byteCapacity: Int) {
        self.capacity = capacity
        self.byteCapacity = byteCapacity
    }

    var queuedCount: Int { items.count - head }

    mutating func nextWaitID() -> UInt64 {
        waitIDs += 1
        return waitIDs
    }

    /// An element of `weight` may be queued now.
    func hasRoom(for weight: Int) -> Bool {
        queuedCount == 0 || (queuedCount < capacity && queuedWeight + weight <= byteCapacity)
    }

    enum SendAction {
        /// Dropped (cancelled, or finished for a task's send).
        case rejected
        /// Queued; `accepted` is false for an element delivered past the end (see `sendBlocking`).
        case queued(accepted: Bool)
        /// The waiting consumer takes it at once.
        case handedOver(Consumer, Element, accepted: Bool)
    }

    /// `pastEnd`: a blocked sender whose stream was finished meanwhile still delivers.
    mutating func send(_ element: Element, weight: Int, pastEnd: Bool) -> SendAction {
        if cancelled || (finished && !pastEnd) { return .rejected }
        let accepted = !finished
        if let waiting = consumer {
            consumer = nil
            return .handedOver(waiting.continuation, element, accepted: accepted)
        }
        items.append((element, weight))
        queuedWeight += weight
        return .queued(accepted: accepted)
    }

    /// A producer task waits for room; true: there is room (or the channel ended) already,
    /// resume it at once.
    mutating func suspendProducer(id: UInt64, _ continuation: CheckedContinuation<Void, Never>, weight: Int) -> Bool {
        if cancelled || finished || hasRoom(for: weight) { return true }
        producers.append((id, continuation, weight))
        return false
    }

    /// A waiting producer task was cancelled: its continuation, if it still waits.
    mutating func removeProducer(id: UInt64) -> CheckedContinuation<Void, Never>? {
        guard let index = producers.firstIndex(where: { $0.id == id }) else { return nil }
        return producers.remove(at: index).continuation
    }

    /// An element or the end if one is ready (and the producer task to wake, if room now
    /// suits the first waiting one); nil when the consumer must wait.
    mutating func take() -> (received: BoundedChannel<Element>.Received, producer: CheckedContinuation<Void, Never>?)? {
        if cancelled { return (.cancelled, nil) }
        if queuedCount > 0 {
            let (element, weight) = items[head]!
            items[head] = nil
            head += 1
            queuedWeight -= weight
            if head == items.count {
                items.removeAll(keepingCapacity: true)
                head = 0
            } else if head > 64 && head * 2 > items.count {
                items.removeFirst(head)
                head = 0
            }
            return (.element(element), nextProducerIfRoom())
        }
        if finished && blockedSenders == 0 { return (failure.map { .failed($0) } ?? .finished, nil) }
        return nil
    }

    /// The first waiting producer task, removed, if there is room for its element now.
    mutating func nextProducerIfRoom() -> CheckedContinuation<Void, Never>? {
        guard let first = producers.first, hasRoom(for: first.weight) else { return nil }
        return producers.removeFirst().continuation
    }

    /// Ends the stream: the waiting consumer (if nothing is queued and no thread may still
    /// deliver) gets `received`; waiting producer tasks are resumed to see the end.
    mutating func finish(throwing error: (any Error)?) -> (consumer: Consumer?, received: BoundedChannel<Element>.Received,
                                                         producers: [CheckedContinuation<Void, Never>]) {
        let received: BoundedChannel<Element>.Received = error.map { .failed($0) } ?? .finished
        guard !finished else { return (nil, received, []) }
        finished = true
        failure = error
        var waiting: Consumer?
        if blockedSenders == 0, queuedCount == 0, let current = consumer {
            waiting = current.continuation
            consumer = nil
        }
        let resumed = producers.map(\.continuation)
        producers = []
        return (waiting, received, resumed)
    }

    mutating func cancel() -> (dropped: [Element], consumer: Consumer?, producers: [CheckedContinuation<Void, Never>],
                               timer: Task<Void, Never>?) {
        cancelled = true
        // A loop, not `compactMap`: unspecialized here, its associated-type lookup scanned
        // every protocol conformance in the binary at each run's end.
        var dropped: [Element] = []
        for index in head..<items.count {
            if let item = items[index] { dropped.append(item.element) }
        }
        items.removeAll()
        head = 0
        queuedWeight = 0
        let waiting = consumer?.continuation
        consumer = nil
        let resumed = producers.map(\.continuation)
        producers = []
        let task = timer?.task
        timer = nil
        return (dropped, waiting, resumed, task)
    }

    /// Before the consumer waits with the deadline `key`: the timer to cancel (another
    /// deadline's) and whether a timer must be armed for this one.
    mutating func prepareTimer(for key: AnyHashable?) -> (stale: Task<Void, Never>?, arm: Bool) {
        var stale: Task<Void, Never>?
        if let current = timer, current.deadline != key {
            stale = current.task
            timer = nil
        }
        return (stale, key != nil && timer == nil)
    }

    mutating func takeTimer() -> Task<Void, Never>? {
        defer { timer = nil }
        return timer?.task
    }

    /// The deadline `deadline` passed: the consumer to resume with `.timedOut`, if it waits
    /// for that deadline.
    mutating func timeOut(deadline: AnyHashable) -> Consumer? {
        if timer?.deadline == deadline { timer = nil }
        guard let waiting = consumer, waiting.deadline == deadline else { return nil }
        consumer = nil
        return waiting.continuation
    }
}
