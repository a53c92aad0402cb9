import NIOCore
import SluiceKit

/// The half of `ClickHouseSink` that runs in its driver task: each batch's INSERT, then (in
/// batch order) its checkpoints, each sent again after a transient failure (see
/// `ClickHouseSink`).
final class BatchWriter: Sendable {
    let client: ClickHouseClient
    let insertRows: String
    let insertCheckpoints: String
    let table: String
    let place: String
    /// Per input index: its checkpoint source (named files).
    let sources: [Int: CheckpointSource]
    let retryMax: Duration
    let interrupt: Interrupt
    let gzip: Bool
    let encoder: RowEncoder
    /// The rows and batches stored so far (`--stats`).
    let committed = Locked<(lines: Int, batches: Int)>((0, 0))
    /// The last checkpoint version written: versions only grow, even if the clock steps back.
    private let version = Locked<UInt64>(0)

    init(client: ClickHouseClient, table: String, place: String, sources: [CheckpointSource], retryMax: Duration,
         interrupt: Interrupt, gzip: Bool, encoder: RowEncoder) {
        self.client = client
        let database = client.address.database
        insertRows = "INSERT INTO \(database).\(table) (\(Setup.columns.map(\.name).joined(separator: ", "))) FORMAT TabSeparated"
        insertCheckpoints = "INSERT INTO \(database).\(Setup.checkpointsTable) FORMAT TabSeparated"
        self.table = table
        self.place = place
        self.sources = Dictionary(uniqueKeysWithValues: sources.map { ($0.index, $0) })
        self.retryMax = retryMax
        self.interrupt = interrupt
        self.gzip = gzip
        self.encoder = encoder
    }

    /// The checkpoints of the batches stored since the last were written: per input, where
    /// the last stored batch's lines from it end. Filled in batch order (a batch's entry after
    /// the batch before it is stored), so it always describes a prefix of the batches.
    private let pendingCheckpoints = Locked<[Int: (end: Int, number: Int)]>([:])

    /// How often the checkpoints of stored batches are written, at most. Each INSERT is a part
    /// the server writes and later merges: a checkpoint row after every batch (16,000 lines)
    /// doubled the INSERTs, 30 of them cost the server 0.43 s of CPU, a fifth of what it spent
    /// on the batches' rows. A run killed between two writes sends the batches of that second
    /// again when resumed, and their copies merge away (the table's key), as a batch sent twice
    /// always did.
    static let checkpointInterval = Duration.seconds(1)

    /// Sends the batches (at most `connections` at once, `OrderedBatches.drive`) while a
    /// sibling task writes the stored batches' checkpoints every `checkpointInterval` (it looks
    /// every 50 ms whether the batches are all sent: a run's end waits that much at most);
    /// once every batch is stored, the last checkpoints are written. The first failure of
    /// either ends both: a checkpoint that cannot be stored stops the run as a batch does (the
    /// caller, held sending the next batch, wakes to the error). After a failure, the
    /// checkpoints of batches stored in the last interval are not written: a resumed run sends
    /// those batches again, and their copies merge.
    func drive(_ batches: BoundedChannel<OutgoingRows>, connections: Int) async throws {
        let sent = Locked(false)
        let failure = Locked<(any Error)?>(nil)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    do {
                        try await OrderedBatches.drive(batches, limit: connections, takesAhead: false) { batch, previous in
                            try await self.send(batch, after: previous)
                        }
                    } catch {
                        if !(error is CancellationError) { failure.withLock { $0 = $0 ?? error } }
                        throw error
                    }
                    sent.withLock { $0 = true }
                }
                group.addTask {
                    do {
                        var written = ContinuousClock.now
                        while !sent.withLock({ $0 }) {
                            try await Task.sleep(for: .milliseconds(50))
                            if written.duration(to: .now) >= Self.checkpointInterval {
                                try await self.writeCheckpoints()
                                written = .now
                            }
                        }
                    } catch {
                        if !(error is CancellationError) { failure.withLock { $0 = $0 ?? error } }
                        OrderedBatches.cancel(batches)  // the caller, held in a send, wakes
                        throw error
                    }
                }
                do {
                    try await group.waitForAll()
                } catch {
                    group.cancelAll()
                    throw error
                }
            }
        } catch {
            // The first real failure of either task, not the cancellation it caused in the
            // other (which may end first: the run then said nothing and exited 2).
            throw failure.withLock { $0 } ?? error
        }
        try await writeCheckpoints()
    }

    /// The batch's rows (`RowStream`); then, once the batch before it is stored, its
    /// checkpoints are due (`pendingCheckpoints`). A row sent twice (an answer lost after the
    /// server took the rows) is one row once the table's parts merge: its (source, line_no) is
    /// the table's key.
    func send(_ batch: OutgoingRows, after previous: Completion<Void>?) async throws {
        if !batch.isEmpty {
            let rowCount = batch.rowCount
            try await retrying(what: "the batch being sent (\(rowCount == 1 ? "1 row" : "\(rowCount) rows")) and those after it are",
                               doing: "cannot insert a batch") {
                let over = Locked(false)
                defer { over.withLock { $0 = true } }
                let rows = RowStream(lines: batch.rows, encoder: self.encoder, gzip: self.gzip, over: over)
                try await self.client.insert(self.insertRows, rows: .stream(rows, length: .unknown), gzip: self.gzip)
            }
        }
        if let previous {
            do { try await previous.wait() } catch { throw CancellationError() }
        }
        pendingCheckpoints.withLock { pending in
            for (input, position) in batch.reached where sources[input] != nil { pending[input] = position }
        }
        committed.withLock { $0 = ($0.lines + batch.rowCount, $0.batches + (batch.isEmpty ? 0 : 1)) }
    }

    /// Writes the checkpoints due (one row per input, one INSERT), if any.
    func writeCheckpoints() async throws {
        let due = pendingCheckpoints.withLock { pending in
            defer { pending = [:] }
            return pending
        }
        guard !due.isEmpty else { return }
        var rows = ByteBuffer()
        var digits = [UInt8](repeating: 0, count: 24)
        for (input, position) in due.sorted(by: { $0.key < $1.key }) {
            guard let source = sources[input] else { continue }
            let checkpoint = source.checkpoint(end: position.end, lines: position.number)
            RowEncoder.writeEscaped(Array(table.utf8)[...], into: &rows)
            rows.writeInteger(UInt8(0x09))
            RowEncoder.writeEscaped(Array(checkpoint.key.utf8)[...], into: &rows)
            for number in [UInt64(checkpoint.offset), UInt64(checkpoint.lines), checkpoint.device, checkpoint.inode] {
                rows.writeInteger(UInt8(0x09))
                RowEncoder.writeNumber(number, into: &rows, digits: &digits)
            }
            rows.writeInteger(UInt8(0x09))
            RowEncoder.writeEscaped(Array(checkpoint.fingerprint.utf8)[...], into: &rows)
            rows.writeInteger(UInt8(0x09))
            RowEncoder.writeNumber(UInt64(checkpoint.fingerprintLength), into: &rows, digits: &digits)
            rows.writeInteger(UInt8(0x09))
            RowEncoder.writeNumber(nextVersion(), into: &rows, digits: &digits)
            rows.writeInteger(UInt8(0x0A))
        }
        let checkpointRows = rows
        try await retrying(what: "the checkpoints of the batches stored in the last second are", doing: "cannot store the checkpoints of a batch") {
            try await self.client.insert(self.insertCheckpoints, rows: .bytes(checkpointRows), gzip: false)
        }
        for (input, position) in due {
            sources[input]?.committed(end: position.end)
        }
    }

    private struct StoppedWhileSending: Error {}

    /// Seconds a request in flight is given to end after a stop (SIGINT, SIGTERM) before it is
    /// cancelled: a server that does not answer must not hold the stop for the request's timeout.
    static let stopGrace = Duration.seconds(2)

    /// `request`, cancelled `stopGrace` after a stop (then `StoppedWhileSending`).
    private func untilStopped(_ request: @Sendable () async throws -> Void) async throws {
        try await withoutActuallyEscaping(request) { request in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await request() }
                group.addTask { [interrupt] in
                    while !interrupt.isInterrupted { try await Task.sleep(for: .milliseconds(50)) }
                    try await Task.sleep(for: Self.stopGrace)
                    throw StoppedWhileSending()
                }
                defer { group.cancelAll() }
                try await group.next()
            }
        }
    }

    /// Microseconds since the epoch, above the last one given.
    private func nextVersion() -> UInt64 {
        let now = UInt64(max(0, LogTime.now() * 1_000_000))
        return version.withLock { last in
            last = max(last + 1, now)
            return last
        }
    }

    /// `request`, again after each transient failure (`ServerFailure.isTransient`) until
    /// `retryMax` has passed since the first, with exponential backoff and full jitter (up
    /// to 100 ms, 200 ms, ... 5 s).
    /// `what`: what is lost if it gives up, for the message.
    private func retrying(what: String, doing: String, _ request: @Sendable () async throws -> Void) async throws {
        var firstFailure: ContinuousClock.Instant?
        var attempt = 0
        while true {
            try Task.checkCancellation()
            do {
                try await untilStopped(request)
                return
            } catch {
                if Task.isCancelled { throw CancellationError() }
                if error is StoppedWhileSending {
                    throw SluiceError(.output, place: place, "stopped while sending; \(what) not stored "
                        + "(the server may store it all the same: a resumed run sends it again, and the copies merge)")
                }
                guard ServerFailure.isTransient(error) else { throw ServerFailure.sluiceError(error, place: place, doing: doing) }
                if let why = try await RetryBackoff.pauseOrGiveUp(firstFailure: &firstFailure, attempt: &attempt, retryMax: retryMax,
                                                                   interrupt: interrupt) {
                    throw SluiceError(.output, place: place, "\(why); \(what) not stored: \(ServerFailure.reason(error))")
                }
            }
        }
    }
}

