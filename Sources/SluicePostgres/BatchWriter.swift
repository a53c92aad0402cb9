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
        // The pool runs in a task of its own, not a child: a cancellation of the driver (the
        // sink's abort, or its send that found the driver failed) reaches the senders at once
        // but the pool only after they have all ended. The pool's shutdown closes the
        // connections it has lent, and a connection closed mid-COPY stops the process (see
        // CopyGate).
        let pool = Task { [client] in await client.run() }
        do {
            try await OrderedBatches.drive(batches, limit: limit, takesAhead: true) { batch, previous in
                try await self.send(batch, after: previous)
            }
        } catch {
            pool.cancel()  // its connections close
            await pool.value
            throw error
        }
        pool.cancel()
        await pool.value
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
        var pendingCommit: PendingCommit?
        while true {
            try Task.checkCancellation()
            do {
                if let pending = pendingCommit {
                    switch try await transactionStatus(pending, deadline: leaseDeadline(firstFailure)) {
                    case "committed":
                        markCommitted(batch)
                        return
                    case "in progress":
                        throw SluiceError(.output, place: place, "the server has not finished the commit yet")  // transient: asked again
                    default:
                        pendingCommit = nil  // aborted (or forgotten): sent again
                    }
                }
                let committing = Locked<PendingCommit?>(nil)
                do {
                    // A wait for a connection longer than the budget is a failure to connect
                    // (the pool retries connecting meanwhile), on a first attempt too.
                    try await leased(deadline: leaseDeadline(firstFailure)) { connection, gate in
                        try await self.transact(batch, on: connection, gate: gate, after: previous, committing: committing)
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
                if let why = try await RetryBackoff.pauseOrGiveUp(firstFailure: &firstFailure, attempt: &attempt, retryMax: retryMax,
                                                                   interrupt: interrupt) {
                    let reason = error is LeaseTimeout || error is ConnectionPoolError ? await connectReason() : ServerFailure.reason(error)
                    let rows = batch.rowCount == 1 ? "1 row" : "\(batch.rowCount) rows"
                    throw SluiceError(.output, place: place, "\(why); the batch being sent (\(rows)) and those after it are not committed: \(reason)")
                }
            }
        }
    }

    /// One transaction: BEGIN, COPY the rows, wait for the batch before to commit, move the
    /// checkpoints (after checking nobody else did), COMMIT. `committing` gets the
    /// transaction's id just before COMMIT is sent.
    private func transact(_ batch: OutgoingBatch, on connection: PostgresConnection, gate: CopyGate, after previous: Completion<Void>?,
                          committing: Locked<PendingCommit?>) async throws {
        try await connection.query("BEGIN", logger: logger)
        do {
            try gate.enterCopy()
            do {
                try await connection.copyFrom(table: table, columns: Self.binaryCopyColumns, logger: logger) { writer in
                    try await writer.write(batch.rows)  // one write (see OutgoingBatch.rows)
                }
            } catch {
                try gate.leaveCopy(connection)
                throw error
            }
            try gate.leaveCopy(connection)
            if let previous {
                do { try await previous.wait() } catch { throw EarlierBatchFailed() }
            }
            // One round trip per input: the update is the check (a row another run moved, or
            // locked and moved before this one got it, no longer has the offset this run
            // committed last) and brings the transaction's id. Against a SELECT ... FOR UPDATE,
            // an upsert and a SELECT txid_current(), 3 round trips a batch became 1: with -b 1000
            // (850 batches of 1 GB's ERROR and WARN lines), -j1 went from 8.3-8.7 s to 6.5-7.7 s.
            let known = seen.withLock { $0 }
            var xid: PendingCommit?
            for (input, position) in batch.reached.sorted(by: { $0.key < $1.key }) {
                guard let source = sources[input] else { continue }
                let checkpoint = source.checkpoint(end: position.end, lines: position.number)
                let rows = try await connection.query("""
                    UPDATE sluice_checkpoints SET byte_offset = \(Int64(checkpoint.offset)), line_no = \(Int64(checkpoint.lines)), \
                    device = \(Int64(bitPattern: checkpoint.device)), inode = \(Int64(bitPattern: checkpoint.inode)), \
                    fingerprint = \(checkpoint.fingerprint), fingerprint_length = \(checkpoint.fingerprintLength) \
                    WHERE target = \(table) AND source = \(source.key) AND byte_offset = \(Int64(known[source.key] ?? -1)) \
                    RETURNING txid_current(), \(unescaped: Self.serverStarted)
                    """, logger: logger)
                var updated = false
                for try await (id, started) in rows.decode((Int64, Double).self) {
                    xid = PendingCommit(xid: id, serverStarted: started)
                    updated = true
                }
                if !updated {
                    throw SluiceError(.output, place: place, "another run committed lines of \(source.name) into table \(table) "
                        + "while this one ran: this one stops, its last batch not committed (export each file from one run at a time)")
                }
            }
            if xid == nil {
                for try await (id, started) in try await connection.query("SELECT txid_current(), \(unescaped: Self.serverStarted)", logger: logger)
                    .decode((Int64, Double).self) { xid = PendingCommit(xid: id, serverStarted: started) }
            }
            committing.withLock { $0 = xid }
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
        try await connection.query("COMMIT", logger: logger)
    }

    /// The columns of the COPY, and its format: PostgresNIO 1.33.2's `copyFrom` offers only
    /// the text format, and builds its statement as `COPY "TABLE"("COLUMN",...) FROM STDIN WITH
    /// (FORMAT text)` with the names inserted as passed (its documentation says so). The last
    /// name closes the list, asks for the binary format and comments out the rest of the line:
    /// `COPY "logs"("source","line_no","line") FROM STDIN WITH (FORMAT binary) --") FROM ...`.
    /// (`RowEncoder` says what the binary format gains.)
    static let binaryCopyColumns = ["source", "line_no", #"line") FROM STDIN WITH (FORMAT binary) --"#]

    /// The rows and batches committed so far (`--stats`).
    let committed = Locked<(lines: Int, batches: Int)>((0, 0))

    private func markCommitted(_ batch: OutgoingBatch) {
        committed.withLock { $0 = ($0.lines + batch.rowCount, $0.batches + 1) }
        seen.withLock { seen in
            for (input, position) in batch.reached {
                guard let source = sources[input] else { continue }
                seen[source.key] = FileGenerations.split(position.end).offset
                source.committed(end: position.end)
            }
        }
    }

    /// `txid_status` of a transaction whose COMMIT got no answer.
    ///
    /// A server that crashed before its transaction counter reached the disk (a power cut, or
    /// `fsync=off` and an immediate stop) restarts below that transaction's id, and answers
    /// "transaction ID N is in the future" (SQLSTATE 22023): it has no record of it, so it was
    /// never committed there, and the batch is sent again. (Seen once in a fresh clone's
    /// `make test`: the server-restart test failed with that error.)
    private func transactionStatus(_ pending: PendingCommit, deadline: ContinuousClock.Instant) async throws -> String {
        try await leased(deadline: deadline) { connection, _ in
            var status = "aborted"
            do {
                let query: PostgresQuery = "SELECT txid_status(\(pending.xid)), \(unescaped: Self.serverStarted)"
                for try await (value, started) in try await connection.query(query, logger: self.logger).decode((String?, Double).self) {
                    status = value ?? "aborted"
                    // The server restarted since the COMMIT was sent: the backend that ran it is
                    // gone, so a transaction of that id in progress is another's (an id not
                    // written to the WAL before the crash is given out again; this run's next
                    // batch, waiting for this one, had it: the run gave up after --retry-max).
                    if status == "in progress" && started != pending.serverStarted { status = "aborted" }
                }
            } catch let error as PSQLError where error.code == .server && error.serverInfo?[.sqlState] == "22023" {
                return "aborted"  // in the future: unknown to this server
            }
            return status
        }
    }

    /// A transaction whose COMMIT got no answer: its id, and when the server that ran it started.
    struct PendingCommit: Sendable {
        var xid: Int64
        var serverStarted: Double
    }

    /// When the server started, as a number (seconds since the epoch).
    static let serverStarted = "extract(epoch from pg_postmaster_start_time())::float8"

    /// No connection could be leased before the deadline.
    private struct LeaseTimeout: Error {}

    /// Runs `body` on a connection of the pool. While the pool cannot connect (the server
    /// down), the wait for a connection ends at `deadline` (`LeaseTimeout`); once leased, the
    /// body runs to its end.
    private func leased<Result: Sendable>(deadline: ContinuousClock.Instant,
                                          _ body: @escaping @Sendable (PostgresConnection, CopyGate) async throws -> Result) async throws -> Result {
        let isLeased = Locked(false)
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask { [client] in
                try await client.withConnection { connection in
                    isLeased.withLock { $0 = true }
                    return try await Self.untilClosed(connection) { gate in try await body(connection, gate) }
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
    /// and leaves that task behind: it holds the batch and a closed connection, and can never
    /// run again (nothing will resume it). A cancellation outside a COPY also returns at once,
    /// the connection closed under the work, whose next step fails at once. These are the run's
    /// tasks not joined; a watcher, cancelled, ends within 100 ms.
    static func untilClosed<Result: Sendable>(_ connection: PostgresConnection,
                                             _ body: @escaping @Sendable (CopyGate) async throws -> Result) async throws -> Result {
        let outcome = Completion<Result>()
        let gate = CopyGate()
        let work = Task {
            do { outcome.complete(.success(try await body(gate))) } catch { outcome.complete(.failure(error)) }
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
            // Not in the middle of a COPY (see CopyGate): the work closes it when the COPY ends,
            // and this call returns then.
            work.cancel()
            if gate.closeUnlessCopying() {
                let _: EventLoopFuture<Void> = connection.close()
                outcome.complete(.failure(CancellationError()))
            }
        }
    }

    /// Sleeps `pause`, or less if a stop comes.
}

/// Whether a connection is in the middle of a COPY, when nobody may close it: PostgresNIO
/// 1.33.2 stops the process (a precondition failure in `ConnectionStateMachine`, "Invalid query
/// state machine action in state: .closing, action: wait") when `close()` comes while its
/// COPY is sending data. That was a batch in flight cancelled (another batch failed, or the
/// run stopped) with `-j2` or more, and the pool's own shutdown, which closes the connections
/// it has lent. So a cancellation asks for the close (`closeUnlessCopying`), the COPY's end
/// does it (`leaveCopy`), and the pool ends only after every batch's work has (`drive`). A
/// server that is lost mid-COPY closes the connection itself, which is no such close.
final class CopyGate: Sendable {
    private let state = Locked<(copying: Bool, closeWanted: Bool)>((false, false))

    /// Before a COPY: throws `CancellationError` when a close was asked for.
    func enterCopy() throws {
        let wanted = state.withLock { state in
            if !state.closeWanted { state.copying = true }
            return state.closeWanted
        }
        if wanted { throw CancellationError() }
    }

    /// After a COPY (ended or failed): closes `connection` and throws `CancellationError` when
    /// a close was asked for meanwhile.
    func leaveCopy(_ connection: PostgresConnection) throws {
        let wanted = state.withLock { state in
            state.copying = false
            return state.closeWanted
        }
        if wanted {
            let _: EventLoopFuture<Void> = connection.close()
            throw CancellationError()
        }
    }

    /// Asks for the connection to be closed: true when the caller may close it now (no COPY).
    func closeUnlessCopying() -> Bool {
        state.withLock { state in
            state.closeWanted = true
            return !state.copying
        }
    }
}
