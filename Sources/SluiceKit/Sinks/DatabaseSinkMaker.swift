/// Makes the sink of a database server (`-O postgresql://`). Such sinks live in modules of
/// their own (SluicePostgres), which bring their client libraries; the executable hands its
/// maker to `PipelineRunner.makeSink`.
public protocol DatabaseSinkMaker: Sendable {
    /// Connects, creates or checks the table and reads the checkpoints (`--resume`) before
    /// any input is read: a bad target fails here.
    func makeSink(_ request: DatabaseSinkRequest) async throws -> any LineSink
}

/// What a database sink is made from.
public struct DatabaseSinkRequest: Sendable {
    public var target: DatabaseTarget
    /// The run's named inputs (checkpoints key them).
    public var sources: [CheckpointSource]
    /// Per input index, its name for rows.
    public var inputNames: [String]
    /// Read the checkpoints now (`LineSink.resumePoints`).
    public var resume: Bool
    /// `-j`: at most this many connections, batches in flight.
    public var connections: Int
    /// `--retry-max`: how long a lost connection is retried, from its first failure.
    public var retryMax: Duration
    /// Hears a stop while the sink connects and while it waits.
    public var interrupt: Interrupt
    /// The rows' time, level and fields (`PipelineSpec.rowColumns`); nil for a sink that
    /// stores the line only.
    public var columns: RowColumns?
    /// When the run began (seconds since the epoch): names the rows of an input without a
    /// checkpoint (standard input) apart from another run's.
    public var startedAt: Double = LogTime.now()

    public init(target: DatabaseTarget, sources: [CheckpointSource], inputNames: [String], resume: Bool,
                connections: Int, retryMax: Duration, interrupt: Interrupt) {
        self.target = target
        self.sources = sources
        self.inputNames = inputNames
        self.resume = resume
        self.connections = connections
        self.retryMax = retryMax
        self.interrupt = interrupt
    }
}
