import CSluiceProcess
import Glibc
import Synchronization

/// Where output lines go.
public enum OutputTarget: Sendable, Equatable, CustomStringConvertible {
    case standardOutput
    /// One file holding every line; gzip if the name ends in `.gz`.
    case file(String)
    /// One file per `linesPerFile` lines, named from a template with `{n}` or `{n:WIDTH}`.
    case split(FileNameTemplate)

    public static func parse(_ text: String) throws -> OutputTarget {
        if text == "-" { return .standardOutput }
        if text.hasPrefix("-") {
            // `sluice -o -e ERROR app.log` (grep's -o, only-matching) would write a file "-e".
            throw SluiceError(.usage, place: "--output", "'\(text)' looks like an option, not a file name "
                + "(-o names the output; for a file of that name write ./\(text))")
        }
        if text.contains("{n") { return .split(try FileNameTemplate(parsing: text)) }
        if text.isEmpty || text.hasSuffix("/") {
            throw SluiceError(.usage, place: "--output", "'\(text)' is not a file name")
        }
        return .file(text)
    }

    public var description: String {
        switch self {
        case .standardOutput: "stdout"
        case .file(let path): path
        case .split(let template): template.text
        }
    }
}

/// The async sink protocol (issue 8, item 3): receives a run's output, batch by batch, and
/// commits (`finish`) or aborts. Every call is `async`, so a sink may wait on a connection or
/// a thread of its own instead of blocking; the database sinks planned next implement it with
/// one transaction per batch. Called by one task at a time, in order: writes, then `finish`
/// or `abort`. (The file sinks here still write(2) inline, each write bounded by their
/// buffers; stdout is written by a thread of its own.)
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
}

extension LineSink {
    public func flushCompletely() async throws { try await batchEnded(.timeout) }
    public var appendedFile: FileIdentity? { nil }
    public var replacedFiles: [FileIdentity] { [] }
    public func removeSupersededFiles() throws {}
    public var committedFileCount: Int? { nil }
}

/// Standard output, written from a thread of its own (`WriterThread`) as chunks arrive, so
/// every batch end is already a flush. Small chunks are gathered into 64 KiB blocks unless
/// line-buffered; a batch end hands over what was gathered.
public final class StandardOutputSink: LineSink {
    let writer = WriterThread(fd: 1, name: "(standard output)")
    let lineBuffered: Bool
    /// Standard output's file, when it is a regular file (`>> s.log`), as it was at the start.
    public let appendedFile = FileIdentity(regularFileOpenOn: 1)
    private var gathered: [UInt8] = []
    static let blockSize = 64 * 1024

    public init(lineBuffered: Bool) {
        self.lineBuffered = lineBuffered
    }

    public func write(_ chunk: LineChunk) async throws {
        if lineBuffered || chunk.byteCount >= Self.blockSize {
            try handOver()
            try writer.enqueue(chunk)
            return
        }
        chunk.withWrittenBytes { gathered.append(contentsOf: $0) }
        if gathered.count >= Self.blockSize { try handOver() }
    }

    private func handOver() throws {
        guard !gathered.isEmpty else { return }
        try writer.enqueue(LineChunk(bytesAsWritten: gathered))
        gathered = []
    }

    public func batchEnded(_ closing: BatchClosing) async throws {
        try handOver()
    }

    /// Everything written so far has reached the descriptor (before a diagnostic is printed).
    public func flushCompletely() async throws {
        try handOver()
        try writer.drain()
    }

    public func finish() async throws {
        try handOver()
        try writer.stop()
    }

    public func abort() async {
        try? handOver()
        try? writer.stop()
    }
}

/// One output file, written as `OutputDestination` decides: under a hidden temporary name in
/// its folder and renamed over the name when complete, or (a device, a FIFO) written through.
///
/// With a `CompressionQueue` (names ending `.gz`), bytes collect into pieces of
/// `memberSize` that the queue compresses as gzip members on worker threads and writes back
/// in order; the rename waits until every member is written.
final class AtomicFile {
    /// The name as given (the file's name once committed).
    let finalPath: String
    let destination: OutputDestination
    /// nil when the destination is written through.
    let temporaryPath: String?
    /// The temporary file's slot in the registry a second signal empties (-1: none).
    private let temporarySlot: Int32
    let writer: OutputWriter
    let compression: CompressionQueue?
    private var pending: [UInt8] = []
    private(set) var lineCount = 0
    /// Bytes given to `write` (before compression).
    private(set) var byteCount = 0
    private var closed = false
    static let memberSize = 512 * 1024

    convenience init(path: String, compression: CompressionQueue?) throws {
        try self.init(destination: OutputDestination(name: path), compression: compression)
    }

    init(destination: OutputDestination, compression: CompressionQueue?) throws {
        self.destination = destination
        finalPath = destination.name
        let (fd, temporaryPath) = try destination.open()
        self.temporaryPath = temporaryPath
        temporarySlot = temporaryPath.map { sluice_register_temporary($0) } ?? -1  // a second signal removes it
        writer = OutputWriter(fd: fd, name: destination.name, capacity: 256 * 1024)
        self.compression = compression
    }

    func write(_ bytes: UnsafeRawBufferPointer, lines: Int) throws {
        lineCount += lines
        byteCount += bytes.count
        guard let compression else { return try writer.write(bytes) }
        var rest = bytes
        while !rest.isEmpty {
            if pending.capacity == 0 { pending.reserveCapacity(Self.memberSize) }
            let take = min(rest.count, Self.memberSize - pending.count)
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest[..<take]))
            rest = UnsafeRawBufferPointer(rebasing: rest[take...])
            if pending.count == Self.memberSize {
                try compression.submit(pending, to: self)
                pending = []
            }
        }
    }

    /// Called by the queue, in order, with each compressed member.
    func writeCompressed(_ member: [UInt8]) throws {
        try writer.write(member)
    }

    /// Makes everything written so far reach the temporary file.
    func flush() throws {
        if let compression {
            if !pending.isEmpty {
                try compression.submit(pending, to: self)
                pending = []
            }
            try compression.drainAll()
        }
        try writer.flush()
    }

    /// Completes the file and gives it its final name (once its members are written, when
    /// compressing: call the queue's `drainAll` to be sure it happened).
    func commit() throws {
        guard let compression else { return try finishCommit() }
        if !pending.isEmpty || lineCount == 0 {
            try compression.submit(pending, to: self)  // an empty input still makes a valid gzip file
            pending = []
        }
        try compression.commitWhenWritten(self)
    }

    /// Flushes, closes and renames into place.
    func finishCommit() throws {
        guard !closed else { return }
        closed = true
        var open = true
        do {
            try writer.flush()
            open = false
            if close(writer.fd) != 0 {
                throw SluiceError(.output, place: finalPath, "close failed: \(SluiceError.systemReason(errno))")
            }
            if let temporaryPath, rename(temporaryPath, destination.path) != 0 {
                throw SluiceError(.output, place: finalPath, "cannot rename into place: \(SluiceError.systemReason(errno))")
            }
            sluice_unregister_temporary(temporarySlot)
        } catch {
            if open { close(writer.fd) }
            if let temporaryPath { unlink(temporaryPath) }
            sluice_unregister_temporary(temporarySlot)
            throw error
        }
    }

    /// Removes the temporary file (a destination written through keeps what reached it).
    func discard() {
        guard !closed else { return }
        closed = true
        close(writer.fd)
        if let temporaryPath { unlink(temporaryPath) }
        sluice_unregister_temporary(temporarySlot)
    }
}

/// The compression queue for `path`, or nil when it is not a `.gz` name.
func compressionQueue(for path: String, level: Int32, concurrency: Int) -> CompressionQueue? {
    path.hasSuffix(".gz") ? CompressionQueue(level: level, limit: concurrency) : nil
}

/// `-o FILE`: every line into one file, created at the start (so an unwritable target fails
/// before any input is read) and renamed into place at the end; a device or a FIFO is
/// written through instead (`OutputDestination`).
public final class SingleFileSink: LineSink {
    let file: AtomicFile

    public init(path: String, compressionLevel: Int32 = 1, concurrency: Int = 2) throws {
        file = try AtomicFile(path: path, compression: compressionQueue(for: path, level: compressionLevel, concurrency: concurrency))
    }

    public var replacedFiles: [FileIdentity] { file.destination.replacedFile.map { [$0] } ?? [] }

    public func write(_ chunk: LineChunk) async throws {
        try chunk.withWrittenBytes { try file.write($0, lines: 0) }
    }

    public func batchEnded(_ closing: BatchClosing) async throws {
        if closing == .timeout { try file.flush() }
    }

    public func finish() async throws {
        defer { file.compression?.shutDown() }
        try file.commit()
        try file.compression?.drainAll()
    }

    public func abort() async {
        file.compression?.abandon()
        file.discard()
        file.compression?.shutDown()
    }
}

/// `-o 'part-{n}.log'`: one file per `linesPerFile` lines, as `split -l` cuts. The first
/// file's temporary is created at the start (failing early if the folder is unwritable); a
/// file gets its final name once it holds `linesPerFile` lines, or at the end. No lines, no
/// files.
///
/// An earlier set: if any name of the template's set exists at the start, the sink refuses
/// to start, naming the first one, unless `overwrite`. With `overwrite`, each file replaces
/// its namesake when it is committed, and the old set's files numbered after this run's last
/// are removed by `removeSupersededFiles()` once the whole run has succeeded: a failed or
/// stopped run removes nothing it did not replace (exit 2 says the set is mixed).
///
/// When the digits run out (`{n:3}` past 999, `{n}` past 999,999) the sink throws
/// `output file suffixes exhausted` (split's words) after the files before are complete.
public final class SplitFileSink: LineSink {
    let template: FileNameTemplate
    let linesPerFile: Int
    let compression: CompressionQueue?
    var current: AtomicFile?
    var number = 1
    public private(set) var committedFiles: [String] = []
    public var committedFileCount: Int? { committedFiles.count }
    /// The earlier set's names found at the start (only with `overwrite`).
    let earlierSet: [(number: Int, path: String)]
    public let replacedFiles: [FileIdentity]

    public init(template: FileNameTemplate, linesPerFile: Int, compressionLevel: Int32 = 1, concurrency: Int = 2,
                overwrite: Bool = false) throws {
        precondition(linesPerFile > 0)
        self.template = template
        self.linesPerFile = linesPerFile
        let existing = template.existingNames()
        if let first = existing.first, !overwrite {
            throw SluiceError(.output, place: first.path, "already exists (a set of \(template.text) from an earlier run?): "
                + "remove that set, or give --overwrite to replace it")
        }
        earlierSet = existing
        replacedFiles = existing.compactMap { FileIdentity(regularFileAt: $0.path) }
        compression = compressionQueue(for: template.name(1), level: compressionLevel, concurrency: concurrency)
        current = try AtomicFile(path: template.name(1), compression: compression)
    }

    /// A chunk whose last line has no newline (`endsWithoutNewline`) is cut as if it had one.
    public func write(_ chunk: LineChunk) async throws {
        try chunk.withWrittenBytes { raw in
            guard let start = raw.baseAddress else { return }
            let base = start.assumingMemoryBound(to: UInt8.self)
            var offset = 0
            var lines = chunk.knownLineCount ?? -1
            while offset < raw.count {
                if current == nil {
                    try startNextFile()
                }
                let file = current!
                let room = linesPerFile - file.lineCount
                if lines < 0 { lines = chunk.lineCount }
                if lines <= room {
                    try file.write(UnsafeRawBufferPointer(rebasing: raw[offset...]), lines: lines)
                    offset = raw.count
                    lines = 0
                } else {
                    var cut = offset
                    for _ in 0..<room { cut = lineEnd(base, from: cut, count: raw.count) + 1 }
                    try file.write(UnsafeRawBufferPointer(rebasing: raw[offset..<cut]), lines: room)
                    offset = cut
                    lines -= room
                }
                if file.lineCount == linesPerFile {
                    try file.commit()
                    committedFiles.append(file.finalPath)
                    current = nil
                    trimHeapNow(after: file)
                }
            }
        }
    }

    /// Bytes given to files since the heap was last looked at.
    private var bytesSinceTrim = 0
    /// The heap is looked at once per this many bytes of output.
    static let trimInterval = 16 << 20
    /// Free heap memory above which it is trimmed: the 4 arenas may each keep 4 MiB at their
    /// top (`sluice_tune_malloc`), so less than that is the normal state.
    static let trimAbove = 24 << 20

    /// Returns the heap's free pages once they pass `trimAbove`, looking every `trimInterval`
    /// bytes of output. Each file's buffers, freed between chunk-sized buffers of other
    /// threads, leave holes in glibc's arenas that trimming at the top never returns: writing
    /// 895 `{n}` files (`-e INFO -b 5000` on 1 GB) grew the resident size by about 170 KiB a
    /// file, to 155 MiB, wherever closing and renaming were slow (a folder next to the corpus:
    /// 2x slower writes), and stayed at 24 MiB elsewhere (heaptrack: heap peak 6 MiB, the rest
    /// was free memory). Trimming unconditionally every 16 MiB cost the plain `-b 100000`
    /// export 0.5 s of CPU on 1 GB (pages given back are faulted in again), so only a heap
    /// that holds that much free memory is trimmed.
    private func trimHeapNow(after file: AtomicFile) {
        bytesSinceTrim += file.byteCount
        guard bytesSinceTrim >= Self.trimInterval else { return }
        bytesSinceTrim = 0
        _ = sluice_trim_heap_above(Self.trimAbove)
    }

    /// Opens the next file, or throws when the template has no name left for it (once the
    /// files before it are renamed into place).
    private func startNextFile() throws {
        guard number < template.largestNumber else {
            try compression?.drainAll()
            throw SluiceError(.output, place: template.text, "output file suffixes exhausted: "
                + "\(template.name(number)) was the last name; write a wider {n:WIDTH} or a larger -b")
        }
        number += 1
        current = try AtomicFile(path: template.name(number), compression: compression)
    }

    public func batchEnded(_ closing: BatchClosing) async throws {
        if closing == .timeout { try current?.flush() }
    }

    public func finish() async throws {
        if let file = current {
            current = nil
            if file.lineCount == 0 {
                file.discard()
            } else {
                try file.commit()
                committedFiles.append(file.finalPath)
            }
        }
        defer { compression?.shutDown() }
        try compression?.drainAll()
    }

    public func abort() async {
        compression?.abandon()
        current?.discard()
        current = nil
        compression?.shutDown()
    }

    /// After a run that succeeded (`finish` returned and nothing failed): removes the earlier
    /// set's names numbered after this run's last file, so the set holds this run alone.
    public func removeSupersededFiles() throws {
        for old in earlierSet where old.number > committedFiles.count {
            if unlink(old.path) != 0 && errno != ENOENT {
                throw SluiceError(.output, place: old.path, "cannot remove the earlier run's file: \(SluiceError.systemReason(errno))")
            }
        }
    }
}
