/// What the sinks of database servers (`-O postgresql://`, `-O clickhouse://`) share: a batch
/// on its way, the hand-off from the run's task to the sink's driver task, the driver's loop
/// that sends batches concurrently and completes them in order, and the backoff of retries.

/// A batch on its way to a server: its rows in the server's format, and where it leaves each input.
package struct ServerBatch<Rows: Sendable>: Sendable {
    package var rows: Rows
    package var rowCount = 0
    /// Per input it took lines from: the last line's end offset and number.
    package var reached: [Int: (end: Int, number: Int)] = [:]
    /// Completed when this batch is stored (`flushCompletely` waits for it).
    package var committed: Completion<Void>?

    package var isEmpty: Bool { rowCount == 0 }

    package init(rows: Rows) {
        self.rows = rows
    }
}

/// The run's side of a server sink: the open batch, handed to the sink's driver task through
/// a channel of one. The caller is held while the driver has `-j` batches in flight and one
/// waits. Not Sendable: the run's task alone uses it.
package final class BatchHandoff<Rows: Sendable> {
    package var open: ServerBatch<Rows>
    private let empty: @Sendable () -> Rows
    /// Called on a batch with rows just before it is handed over (a format's trailer).
    private let seal: (inout ServerBatch<Rows>) -> Void
    private let batches = BoundedChannel<ServerBatch<Rows>>(capacity: 1)
    private let driver: Task<Void, any Error>
    private var closed = false

    /// Starts the driver: `drive` receives the batches until the channel finishes (then
    /// returns once every batch is stored) or fails (then throws).
    package init(empty: @escaping @Sendable () -> Rows, seal: @escaping (inout ServerBatch<Rows>) -> Void = { _ in },
                drive: @escaping @Sendable (BoundedChannel<ServerBatch<Rows>>) async throws -> Void) {
        self.empty = empty
        self.seal = seal
        open = ServerBatch(rows: empty())
        let batches = batches
        driver = Task {
            defer { OrderedBatches.cancel(batches) }  // a failed driver: the caller's next send returns false
            try await drive(batches)
        }
    }

    /// A sink dropped without `finish` or `abort` (never handed to a run): its task ends.
    deinit {
        OrderedBatches.cancel(batches)
        driver.cancel()
    }

    /// Hands the open batch to the driver. Returns whether a batch was sent (`always`: also
    /// an empty one that carries a completion to wait for).
    @discardableResult
    package func send(always: Bool = false) async throws -> Bool {
        guard !open.isEmpty || (always && open.committed != nil) else { return false }
        var batch = open
        open = ServerBatch(rows: empty())
        if !batch.isEmpty { seal(&batch) }
        guard await batches.send(batch) else {
            // The driver failed (its error), or this task was cancelled while it waited for
            // room (the driver, healthy, is ended with it).
            batch.committed?.complete(.failure(CancellationError()))
            driver.cancel()
            try await driver.value
            throw CancellationError()
        }
        return true
    }

    /// Sends what is open and waits until every batch so far is stored.
    package func flushCompletely() async throws {
        open.committed = Completion<Void>()
        let committed = open.committed
        if try await send(always: true) { try await committed?.wait() }
    }

    /// Sends what is open and waits for the driver to store everything; on a failure, the
    /// driver is ended before the error is thrown.
    package func finish() async throws {
        guard !closed else { return }
        closed = true
        do {
            try await send()
            batches.finish()
            try await driver.value
        } catch {
            driver.cancel()
            _ = await driver.result
            throw error
        }
    }

    /// Ends the driver without sending the open batch; batches in flight are cancelled.
    package func abort() async {
        guard !closed else { return }
        closed = true
        OrderedBatches.cancel(batches)
        driver.cancel()
        _ = await driver.result
    }
}

/// The driver's loop: batches sent concurrently, at most `limit` at once, each told when the
/// one before it is stored (so that it stores its checkpoints, or commits, after it).
package enum OrderedBatches {
    /// Sends the batches of `batches` until the channel finishes (then returns once every
    /// batch is stored) or a batch fails (then throws its error, the others cancelled).
    /// `send(batch, previous)` stores a batch; `previous` completes when the batch before it is stored.
    ///
    /// `takesAhead`: the next batch is taken from the channel while `limit` are in flight,
    /// and waits in the driver's hands for one of them to end, so that the caller can put
    /// one more in the channel: `-j` + 3 batches held instead of `-j` + 2. PostgreSQL's
    /// batches of 10,000 lines keep it (ERROR|WARN of 1 GB, -j2, four interleaved pairs:
    /// 2.4-3.7 s with, 2.9-3.9 s without; a second set of runs was within noise); ClickHouse's
    /// larger ones do not (INFO of 100 MB, -j2, batches of 20,000: 1.9-2.3 s either way, peak
    /// RSS 63-65 MiB with, 59-60 without).
    package static func drive<Rows: Sendable>(_ batches: BoundedChannel<ServerBatch<Rows>>, limit: Int, takesAhead: Bool,
                                             send: @escaping @Sendable (ServerBatch<Rows>, Completion<Void>?) async throws -> Void) async throws {
        // The failure that ended the run: a batch after the failed one ends with a
        // cancellation, which may reach the group first.
        let failure = Locked<(any Error)?>(nil)
        do {
            try await withThrowingDiscardingTaskGroup { senders in
                var inFlight: [Completion<Void>] = []
                var previous: Completion<Void>?
                receiving: while true {
                    // Without `takesAhead`, a batch is taken only when it can be sent. A
                    // failure here leaves the channel's batch to `cancel`, which tells its
                    // flush.
                    if !takesAhead && inFlight.count >= limit { try await inFlight.removeFirst().wait() }
                    switch await batches.receive() {
                    case .element(let batch):
                        if inFlight.count >= limit {
                            do {
                                try await inFlight.removeFirst().wait()
                            } catch {
                                batch.committed?.complete(.failure(error))  // never sent: its flush must not wait
                                throw error
                            }
                        }
                        let committed = batch.committed ?? Completion<Void>()
                        let before = previous
                        senders.addTask {
                            do {
                                try await send(batch, before)
                                committed.complete()
                            } catch {
                                if !(error is CancellationError) { failure.withLock { $0 = $0 ?? error } }
                                committed.complete(.failure(error))
                                // The run learns of it at its next write, not after the input ends.
                                cancel(batches)
                                throw error
                            }
                        }
                        previous = committed
                        inFlight.append(committed)
                    case .finished, .timedOut:
                        break receiving
                    case .failed(let error):
                        throw error
                    case .cancelled:
                        throw CancellationError()
                    }
                }
            }
        } catch {
            throw failure.withLock { $0 } ?? error
        }
    }

    /// Cancels `batches`: a caller blocked in `send` wakes (and reads the driver's error); the
    /// batches it held are never stored, and their flushes are told so.
    package static func cancel<Rows: Sendable>(_ batches: BoundedChannel<ServerBatch<Rows>>) {
        for dropped in batches.cancel() { dropped.committed?.complete(.failure(CancellationError())) }
    }
}

/// Retries of a server's transient failures: exponential backoff with full jitter (up to
/// 100 ms, 200 ms, ... 5 s), for at most `--retry-max` from the first failure.
package enum RetryBackoff {
    /// The pause before attempt `attempt` + 1 (`attempt` ≥ 1 failures so far).
    package static func pause(after attempt: Int) -> Duration {
        let ceiling = min(5_000, 100 << min(attempt - 1, 6))
        return .milliseconds(Int.random(in: ceiling / 2...ceiling))
    }

    /// Sleeps `pause`, or less when a stop is asked for (checked every 50 ms).
    package static func pauseOrStop(_ pause: Duration, interrupt: Interrupt) async throws {
        let end = ContinuousClock.now + pause
        while ContinuousClock.now < end && !interrupt.isInterrupted {
            try await Task.sleep(for: min(.milliseconds(50), ContinuousClock.now.duration(to: end)))
        }
    }

    /// After a transient failure: nil once the pause before the next attempt is over, or why
    /// the retries end (`--retry-max` spent since `firstFailure`, which the first failure
    /// sets, or a stop asked for before or during the pause).
    package static func pauseOrGiveUp(firstFailure: inout ContinuousClock.Instant?, attempt: inout Int, retryMax: Duration,
                                      interrupt: Interrupt) async throws -> String? {
        let now = ContinuousClock.now
        let first = firstFailure ?? now
        firstFailure = first
        let waited = first.duration(to: now)
        if interrupt.isInterrupted { return "stopped while retrying" }
        if waited >= retryMax { return "gave up after \(seconds(waited)) of retries (--retry-max \(seconds(retryMax)))" }
        attempt += 1
        try await pauseOrStop(min(pause(after: attempt), retryMax - waited), interrupt: interrupt)
        // (A stop during the pause: no further attempt, which could last a connect's timeout.)
        return interrupt.isInterrupted ? "stopped while retrying" : nil
    }

    /// `2s`, `2.5s`: a duration as messages show it.
    package static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let tenths = Int(seconds) * 10 + Int(attoseconds / 100_000_000_000_000_000)
        return tenths % 10 == 0 ? "\(tenths / 10)s" : "\(tenths / 10).\(tenths % 10)s"
    }
}

/// A server sink whose run side is a `BatchHandoff`: a batch's end sends it, a flush waits for
/// everything sent (what `-O postgresql://` and `-O clickhouse://` share of `LineSink`).
package protocol HandoffSink: LineSink {
    associatedtype Rows: Sendable
    var handoff: BatchHandoff<Rows> { get }
}

extension HandoffSink {
    /// Every batch end sends (a timeout's too: it makes the lines so far visible); a piece of
    /// a batch does not.
    package func batchEnded(_ closing: BatchClosing) async throws {
        guard closing != .partial else { return }
        try await handoff.send()
    }

    /// Sends what is open and waits until every batch so far is stored.
    package func flushCompletely() async throws {
        try await handoff.flushCompletely()
    }
}
