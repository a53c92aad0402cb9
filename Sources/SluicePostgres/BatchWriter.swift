import Logging
import NIOCore
import PostgresNIO
import SluiceKit
import _ConnectionPoolModule

/// The half of `PostgresSink` that runs in its driver task: the pool, and each batch's
/// transaction, sent again after a lost connection (see `PostgresSink`).
final class BatchWriter: Sendable {
    let client: PostgresClient
    let table: String
    let place: String
    /// Per input index: its checkpoint source (named files).
    let sources: [Int: CheckpointSource]
    let retryMax: Duration
    let interrupt: Interrupt
    /// Each input's committed offset as this run last saw it (read at the start, then as it
    /// commits): a commit that finds another offset there means another run is exporting the
    /// same file into the same table, and stops this one before it duplicates lines.
    /// Commits happen one at a time, in order (each waits for the one before).
    private let seen: Locked<[String: Int]>
    private let logger = Setup.logger
    /// Why a connection cannot be made now (a connection attempt of its own: the pool keeps
    /// its errors to itself).
    private let probe: @Sendable () async -> String

    init(client: PostgresClient, table: String, place: String, sources: [CheckpointSource], seen: [String: Int],
         retryMax: Duration, interrupt: Interrupt, probe: @escaping @Sendable () async -> String) {
        self.probe = probe
        self.client = client
        self.table = table
        self.place = place
        self.sources = Dictionary(uniqueKeysWithValues: sources.map { ($0.index, $0) })
        self.seen = Locked(seen)
        self.retryMax = retryMax
        self.interrupt = interrupt
    }

    /// Runs the pool and sends the batches of `batches`, at most `limit` at once, until the
    /// channel finishes (then returns once every batch has committed) or a batch fails (then
    /// throws its error, the others cancelled). Ends the pool either way.
    func drive(_ batches: BoundedChannel<OutgoingBatch>, limit: Int) async throws {
        // The failure that ended the run: a batch after the failed one ends with a
        // cancellation, which may reach the group first.
        let failure = Locked<(any Error)?>(nil)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { [client] in await client.run() }
                defer { group.cancelAll() }  // ends the pool: its connections close
                try await withThrowingDiscardingTaskGroup { senders in
                    var inFlight: [Completion<Void>] = []
                    var previous: Completion<Void>?
                    receiving: while true {
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
                                    try await self.send(batch, after: before)
                                    committed.complete()
                                } catch {
                                    if !(error is CancellationError) { failure.withLock { $0 = $0 ?? error } }
                                    committed.complete(.failure(error))
                                    // The run learns of it at its next write, not after the input ends.
                                    Self.cancel(batches)
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
            }
        } catch {
            throw failure.withLock { $0 } ?? error
        }
    }

    /// Cancels `batches`: a caller blocked in `send` wakes (and reads the driver's error); the
    /// batches it held never commit, and their flushes are told so.
    static func cancel(_ batches: BoundedChannel<OutgoingBatch>) {
        for dropped in batches.cancel() { dropped.committed?.complete(.failure(CancellationError())) }
    }

    /// Why a batch was not sent again.
    private struct EarlierBatchFailed: Error {}

    /// Sends `batch` in a transaction that commits after `previous` has, again after each
    /// transient failure (`ServerFailure.isTransient`) until `retryMax` has passed since the
    /// first.
    func send(_ batch: OutgoingBatch, after previous: Completion<Void>?) async throws {
        guard !batch.isEmpty else {
            if let previous { try await previous.wait() }
            return
        }
        var firstFailure: ContinuousClock.Instant?
        var attempt = 0
        // The transaction whose COMMIT was sent but not answered: committed or not, its id tells.
        var pendingCommit: Int64?
        while true {
            try Task.checkCancellation()
            do {
                if let xid = pendingCommit {
                    switch try await transactionStatus(xid, deadline: leaseDeadline(firstFailure)) {
                    case "committed":
                        markCommitted(batch)
                        return
                    case "in progress":
                        throw SluiceError(.output, place: place, "the server has not finished the commit yet")  // transient: asked again
                    default:
                        pendingCommit = nil  // aborted (or forgotten): sent again
                    }
                }
                let committing = Locked<Int64?>(nil)
                do {
                    // A wait for a connection longer than the budget is a failure to connect
                    // (the pool retries connecting meanwhile), on a first attempt too.
                    try await leased(deadline: leaseDeadline(firstFailure)) { connection in
                        try await self.transact(batch, on: connection, after: previous, committing: committing)
                    }
                } catch {
                    pendingCommit = committing.withLock { $0 }
                    throw error
                }
                markCommitted(batch)
                return
            } catch {
                if error is EarlierBatchFailed || Task.isCancelled { throw CancellationError() }
                let transient = ServerFailure.isTransient(error) || error is LeaseTimeout
                    || (pendingCommit != nil && (error as? SluiceError)?.message == "the server has not finished the commit yet")
                guard transient else {
                    throw ServerFailure.sluiceError(error, place: place, doing: "cannot write a batch")
                }
                let now = ContinuousClock.now
                let first = firstFailure ?? now
                firstFailure = first
                let waited = first.duration(to: now)
                if waited >= retryMax || interrupt.isInterrupted {
                    let reason = error is LeaseTimeout || error is ConnectionPoolError ? await connectReason() : ServerFailure.reason(error)
                    let why = interrupt.isInterrupted ? "stopped while retrying" : "gave up after \(Self.seconds(waited)) of retries (--retry-max \(Self.seconds(retryMax)))"
                    throw SluiceError(.output, place: place, "\(why); the last batch (\(batch.rowCount) rows) is not committed: \(reason)")
                }
                attempt += 1
                // Exponential backoff with full jitter: up to 100 ms, 200 ms, ... 5 s.
                let ceiling = min(5_000, 100 << min(attempt - 1, 6))
                let pause = Duration.milliseconds(Int.random(in: ceiling / 2...ceiling))
                try await pauseOrStop(min(pause, retryMax - waited))
            }
        }
    }

    /// One transaction: BEGIN, COPY the rows, wait for the batch before to commit, move the
    /// checkpoints (after checking nobody else did), COMMIT. `committing` gets the
    /// transaction's id just before COMMIT is sent.
    private func transact(_ batch: OutgoingBatch, on connection: PostgresConnection, after previous: Completion<Void>?,
                          committing: Locked<Int64?>) async throws {
        try await connection.query("BEGIN", logger: logger)
        do {
            try await connection.copyFrom(table: table, columns: ["source", "line_no", "line"], logger: logger) { writer in
                try await writer.write(batch.rows)  // one write (see OutgoingBatch.rows)
            }
            if let previous {
                do { try await previous.wait() } catch { throw EarlierBatchFailed() }
            }
            let known = seen.withLock { $0 }
            for (input, position) in batch.reached.sorted(by: { $0.key < $1.key }) {
                guard let source = sources[input] else { continue }
                let rows = try await connection.query("""
                    SELECT byte_offset FROM sluice_checkpoints WHERE target = \(table) AND source = \(source.key) FOR UPDATE
                    """, logger: logger)
                var now: Int?
                for try await offset in rows.decode(Int64.self) { now = Int(offset) }
                if now != known[source.key] {
                    throw SluiceError(.output, place: place, "another run committed lines of \(source.name) into table \(table) "
                        + "while this one ran: this one stops, its last batch not committed (export each file from one run at a time)")
                }
                try await connection.query("""
                    INSERT INTO sluice_checkpoints VALUES (\(table), \(source.key), \(Int64(position.end)), \(Int64(position.number)), \
                    \(Int64(bitPattern: source.device)), \(Int64(bitPattern: source.inode)), \(source.fingerprint), \(source.fingerprintLength)) \
                    ON CONFLICT (target, source) DO UPDATE SET byte_offset = excluded.byte_offset, line_no = excluded.line_no, \
                    device = excluded.device, inode = excluded.inode, fingerprint = excluded.fingerprint, \
                    fingerprint_length = excluded.fingerprint_length
                    """, logger: logger)
            }
            var xid: Int64?
            for try await id in try await connection.query("SELECT txid_current()", logger: logger).decode(Int64.self) { xid = id }
            committing.withLock { $0 = xid }
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
        try await connection.query("COMMIT", logger: logger)
    }

    private func markCommitted(_ batch: OutgoingBatch) {
        seen.withLock { seen in
            for (input, position) in batch.reached {
                if let source = sources[input] { seen[source.key] = position.end }
            }
        }
    }

    /// `txid_status` of a transaction whose COMMIT got no answer.
    private func transactionStatus(_ xid: Int64, deadline: ContinuousClock.Instant) async throws -> String {
        try await leased(deadline: deadline) { connection in
            var status = "aborted"
            for try await value in try await connection.query("SELECT txid_status(\(xid))", logger: self.logger).decode(String?.self) {
                status = value ?? "aborted"
            }
            return status
        }
    }

    /// No connection could be leased before the deadline.
    private struct LeaseTimeout: Error {}

    /// Runs `body` on a connection of the pool. While the pool cannot connect (the server
    /// down), the wait for a connection ends at `deadline` (`LeaseTimeout`); once leased, the
    /// body runs to its end.
    private func leased<Result: Sendable>(deadline: ContinuousClock.Instant,
                                          _ body: @escaping @Sendable (PostgresConnection) async throws -> Result) async throws -> Result {
        let isLeased = Locked(false)
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask { [client] in
                try await client.withConnection { connection in
                    isLeased.withLock { $0 = true }
                    return try await Self.untilClosed(connection) { try await body(connection) }
                }
            }
            group.addTask { [interrupt] in
                // Until the deadline, or 2 s after a stop (SIGTERM while the server is down: the
                // run ends soon; a server that is up gives a connection well within that).
                var end = deadline
                while ContinuousClock.now < end && !Task.isCancelled {
                    if interrupt.isInterrupted { end = min(end, ContinuousClock.now + .seconds(2)) }
                    try? await Task.sleep(for: min(.milliseconds(50), ContinuousClock.now.duration(to: end)))
                }
                if isLeased.withLock({ $0 }) || Task.isCancelled { return nil }
                throw LeaseTimeout()
            }
            while let result = try await group.next() {
                if let result {
                    group.cancelAll()
                    return result
                }
            }
            throw CancellationError()
        }
    }

    private func connectReason() async -> String { await probe() }

    /// How long a wait for a connection may last: until `retryMax` after the first failure;
    /// before any failure, `retryMax` or the connect timeout (10 s), whichever is longer
    /// (`--retry-max 0` still connects).
    private func leaseDeadline(_ firstFailure: ContinuousClock.Instant?) -> ContinuousClock.Instant {
        if let firstFailure { return firstFailure + retryMax }
        return .now + max(retryMax, .seconds(10))
    }

    /// The connection was lost and the operation on it never ended.
    struct ConnectionLost: Error {}

    /// Runs `body` (work on `connection`) to its end, or until the connection has been closed
    /// for a second, whichever comes first.
    ///
    /// PostgresNIO 1.33.2 can leave an operation suspended for ever when the connection is
    /// lost at the wrong moment: a query or COPY written to a channel that has just closed is
    /// dropped with its promise (`channel.write(..., promise: nil)`), and COPY's continuation
    /// is then leaked (Swift reports "leaked its continuation"); a run whose server was stopped
    /// mid-batch hung in 5 of 8 tries. So `body` runs in a task of its own, which this call
    /// awaits while it can: once the connection has been closed for a second, the call throws
    /// `ConnectionLost` (a transient failure: the batch is sent again on another connection)
    /// and leaves that task behind. It is the one task of the run not joined; it holds the
    /// batch and a closed connection, and can never run again (nothing will resume it).
    static func untilClosed<Result: Sendable>(_ connection: PostgresConnection,
                                             _ body: @escaping @Sendable () async throws -> Result) async throws -> Result {
        let outcome = Completion<Result>()
        let work = Task {
            do { outcome.complete(.success(try await body())) } catch { outcome.complete(.failure(error)) }
        }
        // Watches the connection while the work runs (a callback on closeFuture instead would
        // stay registered, with its Completion, for as long as the pooled connection lives).
        let watcher = Task {
            while !outcome.isCompleted && !Task.isCancelled {
                if connection.isClosed {
                    try? await Task.sleep(for: .seconds(1))
                    outcome.complete(.failure(ConnectionLost()))
                    return
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        defer { watcher.cancel() }
        return try await withTaskCancellationHandler {
            try await outcome.wait()
        } onCancel: {
            // PostgresNIO's queries do not listen to cancellation: the work would go on with a
            // connection the pool takes back. Closed, it fails (or is left behind, as above).
            let _: EventLoopFuture<Void> = connection.close()
            work.cancel()
            outcome.complete(.failure(CancellationError()))
        }
    }

    /// Sleeps `pause`, or less if a stop comes.
    private func pauseOrStop(_ pause: Duration) async throws {
        let end = ContinuousClock.now + pause
        while ContinuousClock.now < end && !interrupt.isInterrupted {
            try await Task.sleep(for: min(.milliseconds(50), ContinuousClock.now.duration(to: end)))
        }
    }

    static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let tenths = Int(seconds) * 10 + Int(attoseconds / 100_000_000_000_000_000)
        return tenths % 10 == 0 ? "\(tenths / 10)s" : "\(tenths / 10).\(tenths % 10)s"
    }
}
