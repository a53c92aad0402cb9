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

/// `dir/part-{n}.log.gz`: `{n}` is the file number from 1, zero-padded to 6 digits
/// (`{n:3}` for 3).
public struct FileNameTemplate: Sendable, Equatable {
    public let text: String
    let prefix: String
    let suffix: String
    let width: Int

    public init(parsing text: String) throws {
        self.text = text
        guard let open = text.firstRange(of: "{n") else {
            throw SluiceError(.usage, place: "--output", "'\(text)' has no {n}")
        }
        guard let close = text[open.upperBound...].firstIndex(of: "}") else {
            throw SluiceError(.usage, place: "--output", "unclosed {n in '\(text)'")
        }
        let spec = text[open.upperBound..<close]
        if spec.isEmpty {
            width = 6
        } else if spec.first == ":", let w = Int(spec.dropFirst()), w >= 1, w <= 20 {
            width = w
        } else {
            throw SluiceError(.usage, place: "--output", "'{n\(spec)}' in '\(text)' should be {n} or {n:WIDTH}")
        }
        prefix = String(text[..<open.lowerBound])
        suffix = String(text[text.index(after: close)...])
        if suffix.contains("{n") {
            throw SluiceError(.usage, place: "--output", "'\(text)' has more than one {n}")
        }
        if suffix.isEmpty && prefix.hasSuffix("/") == false && prefix.isEmpty == false && suffix.hasSuffix("/") {
            throw SluiceError(.usage, place: "--output", "'\(text)' is not a file name")
        }
    }

    public func name(_ number: Int) -> String {
        let digits = String(number)
        let padding = String(repeating: "0", count: max(0, width - digits.count))
        return prefix + padding + digits + suffix
    }
}

/// Receives output lines. Writes happen between `open` and either `finish` (success: files
/// get their final names) or `abort` (failure: temporary files are removed).
public protocol LineSink: AnyObject {
    func write(_ chunk: LineChunk) throws
    /// A batch ended; a timeout closing means "make it visible", not "cut a file".
    func batchEnded(_ closing: BatchClosing) throws
    /// Everything written so far has reached its file or descriptor (before a diagnostic).
    func flushCompletely() throws
    func finish() throws
    func abort()
}

extension LineSink {
    public func flushCompletely() throws { try batchEnded(.timeout) }
}

/// Standard output, written from a thread of its own (`WriterThread`) as chunks arrive, so
/// every batch end is already a flush. Small chunks are gathered into 64 KiB blocks unless
/// line-buffered; a batch end hands over what was gathered.
public final class StandardOutputSink: LineSink {
    let writer = WriterThread(fd: 1, name: "(standard output)")
    let lineBuffered: Bool
    private var gathered: [UInt8] = []
    static let blockSize = 64 * 1024

    public init(lineBuffered: Bool) {
        self.lineBuffered = lineBuffered
    }

    public func write(_ chunk: LineChunk) throws {
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

    public func batchEnded(_ closing: BatchClosing) throws {
        try handOver()
    }

    /// Everything written so far has reached the descriptor (before a diagnostic is printed).
    public func flushCompletely() throws {
        try handOver()
        try writer.drain()
    }

    public func finish() throws {
        try handOver()
        try writer.stop()
    }

    public func abort() {
        try? handOver()
        try? writer.stop()
    }
}

/// A file written under a hidden temporary name in its folder, renamed when complete.
///
/// With a `CompressionQueue` (names ending `.gz`), bytes collect into pieces of
/// `memberSize` that the queue compresses as gzip members on worker threads and writes back
/// in order; the rename waits until every member is written.
final class AtomicFile {
    let finalPath: String
    let temporaryPath: String
    let writer: OutputWriter
    let compression: CompressionQueue?
    private var pending: [UInt8] = []
    private(set) var lineCount = 0
    private var closed = false
    static let counter = Atomic<Int>(0)
    static let memberSize = 512 * 1024

    init(path: String, compression: CompressionQueue?) throws {
        var existing = stat()
        if stat(path, &existing) == 0 && (existing.st_mode & S_IFMT) == S_IFDIR {
            throw SluiceError(.output, place: path, "cannot write the output: Is a directory")
        }
        finalPath = path
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { String(path[...$0]) } ?? ""
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let serial = Self.counter.add(1, ordering: .relaxed).newValue
        temporaryPath = "\(folder).\(base).sluice-\(getpid())-\(serial).tmp"
        let fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        guard fd >= 0 else {
            throw SluiceError(.output, place: path, "cannot create file: \(SluiceError.systemReason(errno))")
        }
        writer = OutputWriter(fd: fd, name: path, capacity: 256 * 1024)
        self.compression = compression
    }

    func write(_ bytes: UnsafeRawBufferPointer, lines: Int) throws {
        lineCount += lines
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
            if rename(temporaryPath, finalPath) != 0 {
                throw SluiceError(.output, place: finalPath, "cannot rename into place: \(SluiceError.systemReason(errno))")
            }
        } catch {
            if open { close(writer.fd) }
            unlink(temporaryPath)
            throw error
        }
    }

    /// Removes the temporary file.
    func discard() {
        guard !closed else { return }
        closed = true
        close(writer.fd)
        unlink(temporaryPath)
    }
}

/// The compression queue for `path`, or nil when it is not a `.gz` name.
func compressionQueue(for path: String, level: Int32, concurrency: Int) -> CompressionQueue? {
    path.hasSuffix(".gz") ? CompressionQueue(level: level, limit: concurrency) : nil
}

/// `-o FILE`: every line into one file, created at the start (so an unwritable target fails
/// before any input is read) and renamed into place at the end.
public final class SingleFileSink: LineSink {
    let file: AtomicFile

    public init(path: String, compressionLevel: Int32 = 1, concurrency: Int = 2) throws {
        file = try AtomicFile(path: path, compression: compressionQueue(for: path, level: compressionLevel, concurrency: concurrency))
    }

    public func write(_ chunk: LineChunk) throws {
        try chunk.withWrittenBytes { try file.write($0, lines: 0) }
    }

    public func batchEnded(_ closing: BatchClosing) throws {
        if closing == .timeout { try file.flush() }
    }

    public func finish() throws {
        try file.commit()
        try file.compression?.drainAll()
    }

    public func abort() {
        file.compression?.abandon()
        file.discard()
    }
}

/// `-o 'part-{n}.log'`: one file per `linesPerFile` lines, as `split -l` cuts. The first
/// file's temporary is created at the start (failing early if the folder is unwritable); a
/// file gets its final name once it holds `linesPerFile` lines, or at the end. No lines, no
/// files.
public final class SplitFileSink: LineSink {
    let template: FileNameTemplate
    let linesPerFile: Int
    let compression: CompressionQueue?
    var current: AtomicFile?
    var number = 1
    public private(set) var committedFiles: [String] = []

    public init(template: FileNameTemplate, linesPerFile: Int, compressionLevel: Int32 = 1, concurrency: Int = 2) throws {
        precondition(linesPerFile > 0)
        self.template = template
        self.linesPerFile = linesPerFile
        compression = compressionQueue(for: template.name(1), level: compressionLevel, concurrency: concurrency)
        current = try AtomicFile(path: template.name(1), compression: compression)
    }

    /// A chunk whose last line has no newline (`endsWithoutNewline`) is cut as if it had one.
    public func write(_ chunk: LineChunk) throws {
        try chunk.withWrittenBytes { raw in
            guard let start = raw.baseAddress else { return }
            let base = start.assumingMemoryBound(to: UInt8.self)
            var offset = 0
            var lines = chunk.knownLineCount ?? -1
            while offset < raw.count {
                if current == nil {
                    number += 1
                    current = try AtomicFile(path: template.name(number), compression: compression)
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
                }
            }
        }
    }

    public func batchEnded(_ closing: BatchClosing) throws {
        if closing == .timeout { try current?.flush() }
    }

    public func finish() throws {
        if let file = current {
            current = nil
            if file.lineCount == 0 {
                file.discard()
            } else {
                try file.commit()
                committedFiles.append(file.finalPath)
            }
        }
        try compression?.drainAll()
    }

    public func abort() {
        compression?.abandon()
        current?.discard()
        current = nil
    }
}
