/// `-o FILE`: every line into one file, created at the start (so an unwritable target fails
/// before any input is read) and renamed into place at the end; a device or a FIFO is
/// written through instead (`OutputDestination`). The file is written from the sink's own
/// thread (`SinkThread`); `SingleFileWriter` is the blocking half that runs there.
public final class SingleFileSink: LineSink, ThreadedSink {
    private let thread: SinkThread
    var sinkThread: SinkThread { thread }
    private let writer: SingleFileWriter

    /// `interrupt`: a stop request's way to end the wait for a FIFO's reader (see `SinkThread`).
    init(path: String, compressionLevel: Int32 = 1, concurrency: Int = 2, interrupt: Interrupt) throws {
        thread = SinkThread(interrupt: interrupt)
        let compression = compressionQueue(for: path, level: compressionLevel, concurrency: concurrency)
        writer = SingleFileWriter(file: try AtomicFile(path: path, compression: compression, interrupt: thread.interrupt))
    }

    public convenience init(path: String, compressionLevel: Int32 = 1, concurrency: Int = 2) throws {
        try self.init(path: path, compressionLevel: compressionLevel, concurrency: concurrency, interrupt: Interrupt())
    }

    public var replacedFiles: [FileIdentity] { writer.file.destination.replacedFile.map { [$0] } ?? [] }

    public func write(_ chunk: LineChunk) async throws {
        try await thread.submit(weight: chunk.byteCount) { [writer] in
            try chunk.withWrittenBytes { try writer.file.write($0, lines: 0) }
        }
    }

    public func batchEnded(_ closing: BatchClosing) async throws {
        if closing == .timeout { try await thread.submit { [writer] in try writer.file.flush() } }
    }

    public func flushCompletely() async throws {
        try await thread.perform { [writer] in try writer.file.flush() }
    }

    public func finish() async throws {
        try await thread.finish { [writer] in try writer.finish() }
    }

    public func abort() async {
        await thread.abort { [writer] in writer.abort() }
    }
}

/// The blocking half of `SingleFileSink`, used by one thread at a time: built by the caller,
/// then used only on the sink's thread (and by `abort`'s cleanup after that thread's last
/// job). `@unchecked Sendable` for that hand-over.
final class SingleFileWriter: @unchecked Sendable {
    let file: AtomicFile

    init(file: AtomicFile) {
        self.file = file
    }

    func finish() throws {
        defer { file.compression?.shutDown() }
        try file.commit()
        try file.compression?.drainAll()
    }

    func abort() {
        file.compression?.abandon()
        file.discard()
        file.compression?.shutDown()
    }
}
