/// The async sink protocol (issue 8, item 3): receives a run's output, batch by batch, and
/// commits (`finish`) or aborts. Every call is `async`, so a sink may wait on a connection or
/// a thread of its own instead of blocking; the database sinks planned next implement it with
/// one transaction per batch. Called by one task at a time, in order: writes, then `finish`
/// or `abort`. The sinks here carry out their blocking work on a thread of their own
/// (`SinkThread`), never on the task that calls them.
public protocol LineSink: AnyObject {
    /// Lines of the open batch (a piece of it, or all of it), in order.
    func write(_ chunk: LineChunk) async throws
    /// A batch ended: the unit a sink commits (a `{n}` file; a transaction, for a database).
    /// A timeout closing means "make it visible", not "cut a file".
    func batchEnded(_ closing: BatchClosing) async throws
    /// Everything written so far has reached its file or descriptor (before a diagnostic).
    func flushCompletely() async throws
    /// Commits everything written (renames files into place). After it, only
    /// `removeSupersededFiles`.
    func finish() async throws
    /// Ends without committing what is not committed yet (temporary files removed; what a
    /// device or a committed file holds stays). Never throws; joins the sink's threads.
    func abort() async
    /// The regular file this sink appends to as lines come (stdout redirected to a file): an
    /// input that is that file would read what is being written, without end.
    var appendedFile: FileIdentity? { get }
    /// The existing regular files this sink replaces (an `-o` target): no input may be one.
    var replacedFiles: [FileIdentity] { get }
    /// Called once the whole run has succeeded (after `finish`, no error, no stop): removes
    /// what the output replaces but did not overwrite (an earlier `{n}` set's later files).
    func removeSupersededFiles() throws
    /// The batches as this sink counts them when it cuts its own (a `{n}` output: its files,
    /// since a timeout only flushes); nil when the batcher's count of batch ends stands.
    var committedFileCount: Int? { get }
    /// The lines and batches committed (a database: what `--stats` says was written, not what
    /// was handed to it); nil when what the sink was given is what it wrote.
    var committedRows: (lines: Int, batches: Int)? { get }
    /// Where each input resumes (`--resume`), by input index: a sink that keeps checkpoints
    /// read them when it was made; others have none.
    var resumePoints: [Int: ResumePoint] { get }
    /// Warnings about those points, reported when the run starts (a last line that grew).
    var resumeNotes: [SluiceError] { get }
    /// The interrupt of the thread this sink writes from, which a stop request must reach
    /// (nil: the sink writes on its caller's task). A requirement, not a cast: a failed
    /// `as? any P` scans every conformance record of the binary once (+2 ms per start).
    var writeInterrupt: Interrupt? { get }
}

extension LineSink {
    /// For a sink that carries out its work before returning: a timeout close is a flush.
    public func flushCompletely() async throws { try await batchEnded(.timeout) }
    public var appendedFile: FileIdentity? { nil }
    public var replacedFiles: [FileIdentity] { [] }
    public func removeSupersededFiles() throws {}
    public var committedFileCount: Int? { nil }
    public var committedRows: (lines: Int, batches: Int)? { nil }
    public var resumePoints: [Int: ResumePoint] { [:] }
    public var resumeNotes: [SluiceError] { [] }
    public var writeInterrupt: Interrupt? { nil }
}
