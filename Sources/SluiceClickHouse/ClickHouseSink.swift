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
/// ordered by `(source, line_no)`), each batch one `INSERT ... FORMAT TabSeparated` over HTTP;
/// the stored batches' checkpoints (a row per input) go to `sluice_checkpoints` at most once a
/// second and at the end (`BatchWriter.checkpointInterval`). ClickHouse has no transaction to
/// hold both: a run killed between them sends the batches after its last checkpoint again when
/// resumed, and the table's key makes the copies one when its parts merge (`SELECT ... FINAL`,
/// `OPTIMIZE TABLE ... FINAL`). So after a kill and `--resume`, every selected line is there
/// once.
///
/// **Ownership.** The sink owns one task (`driver`), the HTTP client (its pool: at most `-j`
/// connections) and the event-loop thread under it (`events`); `finish` and `abort` join all
/// three. The driver owns a task group of one child per batch in flight (at most `-j`), and
/// the child that writes the checkpoints (`BatchWriter.drive`).
/// Batches reach it through a channel of one, which the driver reads only when fewer than
/// `-j` batches are in flight: the caller (the run) is held when `-j` batches are in flight
/// and one waits, so memory holds at most `-j` + 2 batches (the caller's open one too), each
/// at most `-b` lines or `maxBatchBytes` of lines plus the last chunk's (held compacted), and
/// each batch in flight a piece or two of its rows (`RowStream`): a batch is held until it is
/// stored, to be sent again after a failure. Each sending task encodes its own batch as the
/// connection takes it, so that `-j` batches are encoded at once.
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
final class ClickHouseSink: HandoffSink {
    /// A batch whose lines pass this many bytes is sent early (its rows are about 2 to 3
    /// times as large, with each line's fields).
    static let maxBatchBytes = 4 << 20

    let place: String
    let handoff: BatchHandoff<PendingLines>
    private let client: ClickHouseClient
    private let events: MultiThreadedEventLoopGroup
    let resumePoints: [Int: ResumePoint]
    let resumeNotes: [SluiceError]
    private let interrupt: Interrupt
    var writeInterrupt: Interrupt? { interrupt }
    private let committed: Locked<(lines: Int, batches: Int)>
    var committedRows: (lines: Int, batches: Int)? { committed.withLock { $0 } }

    private init(place: String, handoff: BatchHandoff<PendingLines>, client: ClickHouseClient, events: MultiThreadedEventLoopGroup,
                 resume: ([Int: ResumePoint], [SluiceError]), interrupt: Interrupt,
                 committed: Locked<(lines: Int, batches: Int)>) {
        self.place = place
        self.handoff = handoff
        self.client = client
        self.events = events
        (resumePoints, resumeNotes) = resume
        self.interrupt = interrupt
        self.committed = committed
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
        let resume: Setup.Resume
        do {
            resume = try await Setup.run(client: client, table: table, sources: sources, resume: request.resume, place: place)
        } catch {
            await client.shutdown()
            try? await events.shutdownGracefully()
            throw error
        }
        // Rows of the same (source, line_no) are one row once parts merge, so `source` names
        // the file, not only its name: a log rotated (or truncated) and written again from
        // line 1 under the same name is another file, whose rows must not replace the last
        // one's. A named file is `HOST:/ABSOLUTE/PATH#DEVICE.INODE.HASH` (its checkpoint's key,
        // the same however it is named, then `CheckpointSource.identity`, which a file keeps
        // as it grows); a file resumed from the checkpoint of the name it had (renamed by a
        // rotation) keeps that name, so that a batch sent again merges with its first copy.
        // Standard input is named with the run's start: its lines are numbered from 1 in
        // every run.
        let identities = Dictionary(uniqueKeysWithValues: sources.map {
            ($0.index, "\(resume.renamedFrom[$0.index] ?? $0.key)#\($0.identity)")
        })
        let stamp = Self.isoTime(request.startedAt)
        let names = request.inputNames.enumerated().map { index, name in
            identities[index] ?? "\(host):\(name)@\(stamp)"
        }
        let columns: RowColumns
        do {
            columns = try request.columns ?? RowColumns(format: .auto, time: LogTime(year: LogTime.currentYear(request.startedAt)),
                                                        yearGiven: false, inputs: [])
        } catch {
            await client.shutdown()
            try? await events.shutdownGracefully()
            throw error
        }
        let gzip = address.compression == .gzip || (address.compression == .auto && !address.isLoopback)
        let writer = BatchWriter(client: client, table: table, place: place, sources: sources, retryMax: request.retryMax,
                                 interrupt: request.interrupt, gzip: gzip, encoder: RowEncoder(sourceNames: names, columns: columns))
        let handoff = BatchHandoff<PendingLines>(empty: { PendingLines() }) { batches in
            try await writer.drive(batches, connections: connections)
        }
        return ClickHouseSink(place: place, handoff: handoff, client: client, events: events, resume: (resume.points, resume.notes),
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
        RowEncoder.take(chunk, positions: positions, into: &handoff.open)
        if handoff.open.rows.byteCount >= Self.maxBatchBytes { try await handoff.send() }
    }

    func finish() async throws {
        do {
            try await handoff.finish()
        } catch {
            await shutDown()
            throw error
        }
        await shutDown()
    }

    /// Ends without sending the open batch; requests in flight are cancelled (a batch the
    /// server took all the same is sent again by a resumed run, and merges away).
    func abort() async {
        await handoff.abort()
        await shutDown()
    }

    private var shutDownDone = false

    private func shutDown() async {
        guard !shutDownDone else { return }
        shutDownDone = true
        await client.shutdown()
        try? await events.shutdownGracefully()
    }

    /// A sink dropped without `finish` or `abort` (never handed to a run): its driver ends
    /// (`BatchHandoff`), and its client and thread are shut down here.
    deinit {
        guard !shutDownDone else { return }
        try? client.http.syncShutdown()
        try? events.syncShutdownGracefully()
    }
}
