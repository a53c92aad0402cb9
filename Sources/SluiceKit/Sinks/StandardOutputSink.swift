import Glibc

/// Standard output, written from a thread of its own (`SinkThread`) as chunks arrive, so
/// every batch end is already a flush and a slow reader of stdout (a pipe into `less`) blocks
/// that thread instead of one of the task pool's few threads. Small chunks are gathered into
/// 64 KiB blocks unless line-buffered; a batch end hands over what was gathered.
///
/// Bound: 8 blocks or 4 MiB wait for the thread (one larger chunk, `--exec` output up to
/// `--batch-bytes`, waits alone). A reader that stops reading holds the run at that bound; a
/// stop request still writes everything read (DESIGN.md §3), a cancelled run does not wait
/// for it (`Interrupt.write`).
public final class StandardOutputSink: LineSink, ThreadedSink {
    private let thread = SinkThread(capacity: 8, byteCapacity: 4 << 20)
    var sinkThread: SinkThread { thread }
    let lineBuffered: Bool
    /// Standard output's file, when it is a regular file (`>> s.log`), as it was at the start.
    public let appendedFile = FileIdentity(regularFileOpenOn: 1)
    /// A write to stdout may wait for a reader (a pipe, FIFO, socket or terminal).
    private let mayBlock = descriptorMayBlock(1)
    private var gathered: [UInt8] = []
    static let blockSize = 64 * 1024

    /// grep's `-z` lines: NUL and newline bytes exchanged back as they are written (`NulData`).
    let exchangesNulAndNewline: Bool

    public init(lineBuffered: Bool, exchangesNulAndNewline: Bool = false) {
        self.lineBuffered = lineBuffered
        self.exchangesNulAndNewline = exchangesNulAndNewline
    }

    public func write(_ chunk: LineChunk) async throws {
        if exchangesNulAndNewline {
            var bytes: [UInt8] = []
            chunk.withWrittenBytes { bytes.append(contentsOf: $0) }
            bytes.withUnsafeMutableBytes { NulData.exchange($0) }
            return try await write(bytes: LineChunk(bytesAsWritten: bytes))
        }
        try await write(bytes: chunk)
    }

    private func write(bytes chunk: LineChunk) async throws {
        if lineBuffered || chunk.byteCount >= Self.blockSize {
            try await handOver()
            try await send(chunk)
            return
        }
        chunk.withWrittenBytes { gathered.append(contentsOf: $0) }
        if gathered.count >= Self.blockSize { try await handOver() }
    }

    private func handOver() async throws {
        guard !gathered.isEmpty else { return }
        let block = LineChunk(bytesAsWritten: gathered)
        gathered = []
        try await send(block)
    }

    private func send(_ chunk: LineChunk) async throws {
        let (interrupt, mayBlock) = (thread.interrupt, mayBlock)
        try await thread.submit(weight: chunk.byteCount) {
            try chunk.withWrittenBytes { try writeFully(1, $0, name: "(standard output)", interrupt: interrupt, mayBlock: mayBlock) }
        }
    }

    public func batchEnded(_ closing: BatchClosing) async throws {
        try await handOver()
    }

    /// Everything written so far has reached the descriptor (before a diagnostic is printed).
    public func flushCompletely() async throws {
        try await handOver()
        try await thread.drained()
    }

    public func finish() async throws {
        do {
            try await handOver()
        } catch {
            await thread.finish()
            throw error
        }
        try await thread.finishChecked()  // a run that wrote nothing started no thread
    }

    public func abort() async {
        gathered = []
        await thread.abort()
    }
}
