import Glibc
import NIOCore
import NIOPosix
import SluiceKit

/// Makes `-O clickhouse://` sinks (the executable hands it to `PipelineRunner.makeSink`).
public struct ClickHouseSinkMaker: DatabaseSinkMaker {
    public init() {}

    /// The AsyncHTTPClient this is built with (Package.swift pins it exactly).
    public static let packageVersion = "1.37.0"

    public func makeSink(_ request: DatabaseSinkRequest) async throws -> any LineSink {
        guard case .clickhouse(let address) = request.target.kind else {
            throw SluiceError(.output, place: request.target.description, "not a ClickHouse target")
        }
        return try await ClickHouseSink.open(address: address, request: request)
    }
}

/// `-O clickhouse://USER:PASSWORD@HOST:PORT/DB?table=NAME`: every selected line a row of a
/// ClickHouse table (`source, line_no, ts, level, line, fields`, a `ReplacingMergeTree`
/// ordered by `(source, line_no)`), each batch one `INSERT ... FORMAT TabSeparated` over HTTP,
/// then a row per input it took lines from in `sluice_checkpoints`. ClickHouse has no
/// transaction to hold both: a run killed between them sends the batch again when resumed,
/// and the table's key makes the two copies one when its parts merge (`SELECT ... FINAL`,
/// `OPTIMIZE TABLE ... FINAL`). So after a kill and `--resume`, every selected line is there
/// once.
///
/// **Ownership.** The sink owns one task (`driver`), the HTTP client (its pool: at most `-j`
/// connections) and the event-loop thread under it (`events`); `finish` and `abort` join all
/// three. The driver owns a task group of one child per batch in flight (at most `-j`).
/// Batches reach it through a channel of one: the caller (the run) is held when `-j` batches
/// are in flight, one more is taken by the driver and one waits, so memory holds at most
/// `-j` + 3 batches, each at most `-b` lines or `maxBatchBytes` of rows, plus the last
/// chunk's (a batch is held until it is stored, to be sent again after a failure).
///
/// **Order.** Batches are sent concurrently (`-j2`: two connections), but their checkpoints
/// are stored in order: a batch's only after the one before it is stored, so a checkpoint
/// never runs ahead of a batch that could still fail.
///
/// **Failures.** A connection refused, lost or timed out, and a 5xx answer other than for a
/// statement or rows the server cannot read (`ClickHouseFailure.isTransient`): the request
/// is sent again after a backoff (exponential with jitter, 100 ms doubling to 5 s) for at
/// most `--retry-max` from its first failure. Other answers (a wrong password, a missing
/// table) stop the run at once; everything stored before stays.
final class ClickHouseSink: LineSink {
    /// A batch's rows past this many bytes are sent early.
    static let maxBatchBytes = 8 << 20

    let place: String
    private let batches: BoundedChannel<OutgoingRows>
    private let driver: Task<Void, any Error>
    private let client: ClickHouseClient
    private let events: MultiThreadedEventLoopGroup
    private let encoder: RowEncoder
    private var open = OutgoingRows()
    private var closed = false
    let resumePoints: [Int: ResumePoint]
    let resumeNotes: [SluiceError]
    private let interrupt: Interrupt
    var writeInterrupt: Interrupt? { interrupt }
    private let committed: Locked<(lines: Int, batches: Int)>
    var committedRows: (lines: Int, batches: Int)? { committed.withLock { $0 } }

    private init(place: String, batches: BoundedChannel<OutgoingRows>, driver: Task<Void, any Error>, client: ClickHouseClient,
                 events: MultiThreadedEventLoopGroup, encoder: RowEncoder, resume: ([Int: ResumePoint], [SluiceError]),
                 interrupt: Interrupt, committed: Locked<(lines: Int, batches: Int)>) {
        self.place = place
        self.batches = batches
        self.driver = driver
        self.client = client
        self.events = events
        self.encoder = encoder
        (resumePoints, resumeNotes) = resume
        self.interrupt = interrupt
        self.committed = committed
    }

    /// A sink dropped without `finish` or `abort` (never handed to a run): its task ends.
    deinit {
        BatchWriter.cancel(batches)
        driver.cancel()
    }

    static func open(address: ClickHouseAddress, request: DatabaseSinkRequest) async throws -> ClickHouseSink {
        let place = request.target.description
        let table = request.target.table
        let host = hostName()
        // Checkpoints of a server shared by many hosts: each host's own, by its name.
        let sources = request.sources.map { source in
            var keyed = source
            keyed.key = "\(host):\(source.key)"
            return keyed
        }
        let connections = min(max(1, request.connections), 32)
        let events = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let client = ClickHouseClient(address: address, connections: connections, events: events)
        let resume: ([Int: ResumePoint], [SluiceError])
        do {
            resume = try await Setup.run(client: client, table: table, sources: sources, resume: request.resume, place: place)
        } catch {
            await client.shutdown()
            try? await events.shutdownGracefully()
            throw error
        }
        let gzip = address.compression == .gzip || (address.compression == .auto && !address.isLoopback)
        let writer = BatchWriter(client: client, table: table, place: place, sources: sources, retryMax: request.retryMax,
                                 interrupt: request.interrupt, gzip: gzip)
        let batches = BoundedChannel<OutgoingRows>(capacity: 1)
        let driver = Task {
            defer { BatchWriter.cancel(batches) }  // a failed driver: the caller's next send returns false
            try await writer.drive(batches, limit: connections)
        }
        // An input without a checkpoint (standard input) is named with the run's start too:
        // another run's rows of the same numbers are other rows, not copies to merge away.
        let named = Set(request.sources.map(\.index))
        let stamp = Self.isoTime(request.startedAt)
        let names = request.inputNames.enumerated().map { index, name in
            named.contains(index) ? "\(host):\(name)" : "\(host):\(name)@\(stamp)"
        }
        let columns = try request.columns ?? RowColumns(format: .auto, time: LogTime(year: LogTime.currentYear(request.startedAt)),
                                                        yearGiven: false, inputs: [])
        return ClickHouseSink(place: place, batches: batches, driver: driver, client: client, events: events,
                              encoder: RowEncoder(sourceNames: names, columns: columns), resume: resume,
                              interrupt: request.interrupt, committed: writer.committed)
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `2026-12-02T05:10:00.123456Z`.
    static func isoTime(_ seconds: Double) -> String {
        var time = time_t(seconds.rounded(.down))
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let micros = Int((seconds - seconds.rounded(.down)) * 1_000_000)
        let fraction = String(micros + 1_000_000).dropFirst()
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(fraction)Z"
    }

    func write(_ chunk: LineChunk) async throws {
        guard let positions = chunk.positions, !chunk.isEmpty else { return }
        encoder.encode(chunk, positions: positions, into: &open)
        if open.byteCount >= Self.maxBatchBytes { try await send() }
    }

    /// Every batch end sends (a timeout's too: it makes the lines so far visible); a piece
    /// of a batch does not.
    func batchEnded(_ closing: BatchClosing) async throws {
        guard closing != .partial else { return }
        try await send()
    }

    /// Sends what is open and waits until every batch so far is stored.
    func flushCompletely() async throws {
        open.committed = Completion<Void>()
        let committed = open.committed
        let sent = try await send(always: true)
        if sent { try await committed?.wait() }
    }

    /// Hands the open batch to the driver (suspending while `-j` batches are in flight and
    /// one waits). Returns whether a batch was sent.
    @discardableResult
    private func send(always: Bool = false) async throws -> Bool {
        guard !open.isEmpty || (always && open.committed != nil) else { return false }
        let batch = open
        open = OutgoingRows()
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

    func finish() async throws {
        guard !closed else { return }
        closed = true
        do {
            try await send()
            batches.finish()
            try await driver.value
        } catch {
            driver.cancel()
            _ = await driver.result
            await shutDown()
            throw error
        }
        await shutDown()
    }

    /// Ends without sending the open batch; requests in flight are cancelled (a batch the
    /// server took all the same is sent again by a resumed run, and merges away).
    func abort() async {
        guard !closed else { return }
        closed = true
        BatchWriter.cancel(batches)
        driver.cancel()
        _ = await driver.result
        await shutDown()
    }

    private func shutDown() async {
        await client.shutdown()
        try? await events.shutdownGracefully()
    }
}
