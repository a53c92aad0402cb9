import CSluiceProcess
import Glibc

/// One output file, written as `OutputDestination` decides: under a hidden temporary name in
/// its folder and renamed over the name when complete, or (a device, a FIFO) written through.
///
/// With a `CompressionQueue` (names ending `.gz`), bytes collect into pieces of
/// `memberSize` that the queue compresses as gzip members on worker threads and writes back
/// in order; the rename waits until every member is written.
///
/// Blocking: used on a sink's thread (`SinkThread`), by one thread at a time.
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

    convenience init(path: String, compression: CompressionQueue?, interrupt: Interrupt? = nil) throws {
        try self.init(destination: OutputDestination(name: path), compression: compression, interrupt: interrupt)
    }

    /// `interrupt`: the sink thread's, so an aborted sink's write to a FIFO nobody reads ends.
    init(destination: OutputDestination, compression: CompressionQueue?, interrupt: Interrupt? = nil) throws {
        self.destination = destination
        finalPath = destination.name
        let (fd, temporaryPath) = try destination.open(interrupt: interrupt)
        self.temporaryPath = temporaryPath
        temporarySlot = temporaryPath.map { sluice_register_temporary($0) } ?? -1  // a second signal removes it
        writer = OutputWriter(fd: fd, name: destination.name, capacity: 256 * 1024, interrupt: interrupt)
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
        // A cancelled run never commits, even a file whose bytes are all written already.
        if writer.interrupt?.isCancelled == true { throw CancellationError() }
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
