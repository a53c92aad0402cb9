import Glibc
import Synchronization

/// `--follow -O FILE`: the lines appended to FILE as they come (as `>> FILE` would, created if
/// missing), each chunk written when it comes, and FILE opened again by name after each
/// SIGHUP (`ReopenRequest`): logrotate's `create` with `postrotate kill -HUP` rotates sluice's
/// own output without losing a line. A followed run never ends, so the temporary-and-rename of
/// `-O FILE` (`SingleFileSink`) would never put anything in place.
///
/// Written from the sink's own thread (`SinkThread`). Bound: the writer's 64 KiB buffer.
public final class AppendFileSink: LineSink, ThreadedSink {
    private let thread: SinkThread
    var sinkThread: SinkThread { thread }
    private let writer: AppendFileWriter

    init(path: String, reopen: ReopenRequest, interrupt: Interrupt) throws {
        thread = SinkThread(interrupt: interrupt)
        writer = try AppendFileWriter(path: path, reopen: reopen, interrupt: thread.interrupt)
    }

    public var appendedFile: FileIdentity? { writer.identity }

    public func write(_ chunk: LineChunk) async throws {
        try await thread.submit(weight: chunk.byteCount) { [writer] in
            try writer.reopenIfAsked()
            // Each chunk reaches the file as it comes (a followed file's chunks are its reads):
            // a reader of FILE sees lines with tail -F's delay, not a batch's.
            try chunk.withWrittenBytes { try writer.output.write($0) }
            try writer.output.flush()
        }
    }

    public func batchEnded(_ closing: BatchClosing) async throws {
        try await thread.submit { [writer] in try writer.output.flush() }
    }

    public func flushCompletely() async throws {
        try await thread.perform { [writer] in try writer.output.flush() }
    }

    public func finish() async throws {
        try await thread.finish { [writer] in try writer.close() }
    }

    public func abort() async {
        await thread.abort { [writer] in try? writer.close() }  // what reached the file stays: it is appended to
    }
}

/// The blocking half of `AppendFileSink`: built by the caller, then used on the sink's thread
/// only (`@unchecked Sendable` for that hand-over).
final class AppendFileWriter: @unchecked Sendable {
    let path: String
    private let reopen: ReopenRequest
    private let interrupt: Interrupt
    private var fd: Int32
    private(set) var output: OutputWriter
    private(set) var identity: FileIdentity?
    private var seenReopens: Int

    init(path: String, reopen: ReopenRequest, interrupt: Interrupt) throws {
        self.path = path
        self.reopen = reopen
        self.interrupt = interrupt
        seenReopens = reopen.count
        fd = try Self.open(path)
        output = OutputWriter(fd: fd, name: path, capacity: 64 * 1024, interrupt: interrupt)
        identity = FileIdentity(regularFileOpenOn: fd)
    }

    static func open(_ path: String) throws -> Int32 {
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw SluiceError(.output, place: path, SluiceError.systemReason(errno)) }
        return fd
    }

    /// After a SIGHUP: what was written goes to the file open now, then the name is opened
    /// again (the file logrotate created there, or a new one).
    func reopenIfAsked() throws {
        let asked = reopen.count
        guard asked != seenReopens else { return }
        seenReopens = asked
        try output.flush()
        let next = try Self.open(path)
        Glibc.close(fd)
        fd = next
        output = OutputWriter(fd: fd, name: path, capacity: 64 * 1024, interrupt: interrupt)
        identity = FileIdentity(regularFileOpenOn: fd)
    }

    func close() throws {
        defer {
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
        }
        try output.flush()
    }
}

/// SIGHUP's request to open the outputs again by name (`--follow -O FILE`): a count the signal
/// thread raises and the sink compares before each write.
public final class ReopenRequest: Sendable {
    private let requests = Atomic<Int>(0)

    public init() {}

    public func request() { requests.add(1, ordering: .releasing) }

    var count: Int { requests.load(ordering: .acquiring) }
}
