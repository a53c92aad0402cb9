import CSluiceProcess
import Glibc

/// `-o 'part-{n}.log'`: one file per `linesPerFile` lines, as `split -l` cuts. The first
/// file's temporary is created at the start (failing early if the folder is unwritable); a
/// file gets its final name once it holds `linesPerFile` lines, or at the end. No lines, no
/// files. Files are written, committed and renamed on the sink's own thread (`SinkThread`);
/// `SplitFileWriter` is the blocking half that runs there.
///
/// An earlier set: if any name of the template's set exists at the start, the sink refuses
/// to start, naming the first one, unless `overwrite`. With `overwrite`, each file replaces
/// its namesake when it is committed, and the old set's files numbered after this run's last
/// are removed by `removeSupersededFiles()` once the whole run has succeeded: a failed or
/// stopped run removes nothing it did not replace (exit 2 says the set is mixed).
///
/// When the digits run out (`{n:3}` past 999, `{n}` past 999,999) the sink throws
/// `output file suffixes exhausted` (split's words) after the files before are complete.
public final class SplitFileSink: LineSink, ThreadedSink {
    private let thread: SinkThread
    var sinkThread: SinkThread { thread }
    private let writer: SplitFileWriter
    /// `--follow`: a batch closed by its timeout ends its file too (renamed into place, its
    /// checkpoint written), so a live log's export rolls files by age as well as by size;
    /// otherwise a timeout only flushes (`split -l`: files of exactly `-b` lines).
    private let cutAtTimeouts: Bool

    /// `cutAtBatchEnds`: one file per batch as the batches end (`batchEnded`, a timeout close
    /// included), never cut by line count: for `--exec` output, whose bytes are the command's
    /// (a batch through `gzip -1` is one gzip stream, and its "lines" are newline bytes), so
    /// each file holds exactly one batch's output. A batch whose output is empty makes no file.
    ///
    /// `checkpoint` (`--checkpoint FILE`): the chunks carry their lines' positions, and after
    /// each file is renamed into place the checkpoints of every input go to that file
    /// (`CheckpointFile`). With `resume`, the run starts where it says: each input after its
    /// last line in a committed file, numbering on from its next file (files of this set
    /// already there are this set's, not refused).
    init(template: FileNameTemplate, linesPerFile: Int, compressionLevel: Int32 = 1, concurrency: Int = 2,
                overwrite: Bool = false, cutAtBatchEnds: Bool = false, cutAtTimeouts: Bool = false,
                checkpoint: (path: String, sources: [CheckpointSource], resume: Bool)? = nil,
                interrupt: Interrupt = Interrupt()) throws {
        self.cutAtTimeouts = cutAtTimeouts
        let writer = try SplitFileWriter(template: template, linesPerFile: linesPerFile, compressionLevel: compressionLevel,
                                         concurrency: concurrency, overwrite: overwrite, cutAtBatchEnds: cutAtBatchEnds,
                                         checkpoint: checkpoint, interrupt: interrupt)
        self.writer = writer
        // Idle: the members compressed meanwhile written, their files renamed into place and
        // their checkpoints written (on the thread, as every use of the writer).
        var idle: (@Sendable () throws -> Void)?
        if writer.compression != nil {
            idle = { [writer] in try writer.compression?.drainAll() }
        }
        thread = SinkThread(interrupt: interrupt, idle: idle)
    }

    public convenience init(template: FileNameTemplate, linesPerFile: Int, compressionLevel: Int32 = 1, concurrency: Int = 2,
                            overwrite: Bool = false, cutAtBatchEnds: Bool = false) throws {
        try self.init(template: template, linesPerFile: linesPerFile, compressionLevel: compressionLevel, concurrency: concurrency,
                      overwrite: overwrite, cutAtBatchEnds: cutAtBatchEnds, checkpoint: nil, interrupt: Interrupt())
    }

    public var resumePoints: [Int: ResumePoint] { writer.resumePoints }
    public var resumeNotes: [SluiceError] { writer.resumeNotes }

    /// The files committed so far, in order.
    public var committedFiles: [String] { writer.committed.withLock { $0 } }
    public var committedFileCount: Int? { committedFiles.count }
    public var replacedFiles: [FileIdentity] { writer.replacedFiles }

    public func write(_ chunk: LineChunk) async throws {
        try await thread.submit(weight: chunk.byteCount) { [writer] in try writer.write(chunk) }
    }

    public func batchEnded(_ closing: BatchClosing) async throws {
        if writer.cutAtBatchEnds {
            if closing != .partial { try await thread.submit { [writer] in try writer.endFile() } }
        } else if closing == .timeout {
            if cutAtTimeouts {
                try await thread.submit { [writer] in try writer.endFileAtTimeout() }
            } else {
                try await thread.submit { [writer] in try writer.flush() }
            }
        }
    }

    public func flushCompletely() async throws {
        try await thread.perform { [writer] in try writer.flush() }
    }

    public func finish() async throws {
        try await thread.finish { [writer] in try writer.finish() }
    }

    public func abort() async {
        await thread.abort { [writer] in writer.abort() }
    }

    public func removeSupersededFiles() throws {
        try writer.removeSupersededFiles()
    }
}

/// The blocking half of `SplitFileSink`, used by one thread at a time: built by the caller,
/// then used only on the sink's thread (and by `abort`'s cleanup after that thread's last
/// job). `@unchecked Sendable` for that hand-over; `committed` is read from other threads
/// behind its lock.
final class SplitFileWriter: @unchecked Sendable {
    let template: FileNameTemplate
    let linesPerFile: Int
    let compression: CompressionQueue?
    var current: AtomicFile?
    var number = 1
    /// Read by the sink's task while the thread may be writing: behind a lock.
    let committed = Locked<[String]>([])
    /// The earlier set's names found at the start (only with `overwrite`).
    let earlierSet: [(number: Int, path: String)]
    let replacedFiles: [FileIdentity]
    let interrupt: Interrupt

    let cutAtBatchEnds: Bool

    /// `--checkpoint FILE`: where it goes, what it holds so far (the inputs' checkpoints by
    /// key), and the run's named inputs by index.
    private let checkpointPath: String?
    private var checkpointFile = CheckpointFile()
    private let sources: [Int: CheckpointSource]
    let resumePoints: [Int: ResumePoint]
    let resumeNotes: [SluiceError]

    init(template: FileNameTemplate, linesPerFile: Int, compressionLevel: Int32, concurrency: Int,
         overwrite: Bool, cutAtBatchEnds: Bool, checkpoint: (path: String, sources: [CheckpointSource], resume: Bool)? = nil,
         interrupt: Interrupt) throws {
        self.interrupt = interrupt
        self.cutAtBatchEnds = cutAtBatchEnds
        precondition(linesPerFile > 0)
        self.template = template
        self.linesPerFile = linesPerFile
        checkpointPath = checkpoint?.path
        sources = Dictionary(uniqueKeysWithValues: (checkpoint?.sources ?? []).map { ($0.index, $0) })
        if let checkpoint { lock = try Self.lockCheckpoint(checkpoint.path) }
        if let checkpoint, checkpoint.resume {
            checkpointFile = try CheckpointFile.read(checkpoint.path)
            (resumePoints, resumeNotes) = checkpointFile.resumePoints(for: checkpoint.sources)
            number = checkpointFile.nextFile
            earlierSet = []  // the set is this one's: its files stay, the next ones follow
            for stale in template.staleTemporaries() + FileNameTemplate.staleTemporaries(of: checkpoint.path) { unlink(stale) }  // a killed run's
        } else {
            resumePoints = [:]
            resumeNotes = []
            let existing = template.existingNames()
            if let first = existing.first, !overwrite {
                throw SluiceError(.output, place: first.path, "already exists (a set of \(template.text) from an earlier run?): "
                    + "remove that set, or give --overwrite to replace it")
            }
            earlierSet = existing
        }
        replacedFiles = earlierSet.compactMap { FileIdentity(regularFileAt: $0.path) }
        guard number <= template.largestNumber else {
            throw SluiceError(.output, place: template.text, "output file suffixes exhausted: "
                + "\(template.name(template.largestNumber)) was the last name; write a wider {n:WIDTH} or a larger -b")
        }
        compression = compressionQueue(for: template.name(number), level: compressionLevel, concurrency: concurrency)
        current = try AtomicFile(path: template.name(number), compression: compression, interrupt: interrupt)
    }

    /// The lock on the checkpoint (`.NAME.sluice-lock` beside it, flock'd for the writer's
    /// life): two runs writing one checkpoint would each number the same files.
    private var lock: Int32 = -1

    deinit {
        if lock >= 0 { close(lock) }
    }

    static func lockCheckpoint(_ path: String) throws -> Int32 {
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { String(path[...$0]) } ?? ""
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let lockPath = "\(folder).\(base).sluice-lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw SluiceError(.output, place: path, "cannot lock the checkpoint: \(SluiceError.systemReason(errno))")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let reason = errno
            close(fd)
            if reason == EWOULDBLOCK {
                throw SluiceError(.output, place: path, "another sluice run is writing this checkpoint: one run at a time")
            }
            throw SluiceError(.output, place: path, "cannot lock the checkpoint: \(SluiceError.systemReason(reason))")
        }
        return fd
    }

    /// Lines `from..<from + count` of `chunk` are in the current file: their inputs' checkpoints
    /// move past them (committed with the file).
    private func advanceCheckpoints(_ chunk: LineChunk, from: Int, count: Int) {
        guard checkpointPath != nil, let positions = chunk.positions, count > 0 else { return }
        for index in from..<Swift.min(from + count, positions.count) {
            pending[Int(positions.inputs[index])] = (positions.ends[index], positions.lastNumber(index))
        }
    }

    /// The last line of each input (by index) in the current file, not committed yet.
    private var pending: [Int: (end: Int, lines: Int)] = [:]

    /// The current file (number `number`) was renamed into place: its checkpoints are written.
    private func commitCheckpoints() throws {
        guard let checkpointPath else { return }
        for (input, last) in pending {
            guard let source = sources[input] else { continue }
            let checkpoint = source.checkpoint(end: last.end, lines: last.lines)
            if let index = checkpointFile.checkpoints.firstIndex(where: { $0.key == source.key }) {
                checkpointFile.checkpoints[index] = checkpoint
            } else {
                checkpointFile.checkpoints.append(checkpoint)
            }
            source.committed(end: last.end)
        }
        pending = [:]
        checkpointFile.nextFile = number + 1
        // A gzip file is renamed once its last member is written: its checkpoint waits for it.
        let snapshot = checkpointFile
        let interrupt = self.interrupt
        if let compression {
            try compression.afterCommits { try snapshot.write(to: checkpointPath, interrupt: interrupt) }
        } else {
            try snapshot.write(to: checkpointPath, interrupt: interrupt)
        }
    }

    /// A chunk whose last line has no newline (`endsWithoutNewline`) is cut as if it had one.
    func write(_ chunk: LineChunk) throws {
        if cutAtBatchEnds {
            if current == nil { try startNextFile() }
            let file = current!
            try chunk.withWrittenBytes { try file.write($0, lines: 0) }
            return
        }
        try chunk.withWrittenBytes { raw in
            guard let start = raw.baseAddress else { return }
            let base = start.assumingMemoryBound(to: UInt8.self)
            var offset = 0
            var lines = chunk.knownLineCount ?? -1
            var done = 0  // lines of the chunk in files already
            while offset < raw.count {
                if current == nil {
                    try startNextFile()
                }
                let file = current!
                let room = linesPerFile - file.lineCount
                if lines < 0 { lines = chunk.lineCount }
                if lines <= room {
                    try file.write(UnsafeRawBufferPointer(rebasing: raw[offset...]), lines: lines)
                    advanceCheckpoints(chunk, from: done, count: lines)
                    done += lines
                    offset = raw.count
                    lines = 0
                } else {
                    var cut = offset
                    if chunk.recordEnds != nil {
                        cut = chunk.byteOffset(afterLines: done + room)  // --record: records whole
                    } else {
                        for _ in 0..<room { cut = lineEnd(base, from: cut, count: raw.count) + 1 }
                    }
                    try file.write(UnsafeRawBufferPointer(rebasing: raw[offset..<cut]), lines: room)
                    advanceCheckpoints(chunk, from: done, count: room)
                    done += room
                    offset = cut
                    lines -= room
                }
                if file.lineCount == linesPerFile {
                    try file.commit()
                    committed.withLock { $0.append(file.finalPath) }
                    current = nil
                    try commitCheckpoints()
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
        current = try AtomicFile(path: template.name(number), compression: compression, interrupt: interrupt)
    }

    func flush() throws {
        try current?.flush()
    }

    /// `cutAtBatchEnds`: a batch ended; its file (if it holds any bytes) is committed.
    func endFile() throws {
        guard let file = current, file.byteCount > 0 else { return }
        try file.commit()
        committed.withLock { $0.append(file.finalPath) }
        current = nil
        trimHeapNow(after: file)
    }

    /// A batch closed by its timeout (`cutAtTimeouts`): the file so far is committed with its
    /// checkpoints; the next line starts the next file.
    func endFileAtTimeout() throws {
        guard let file = current, file.lineCount > 0 else { return }
        try file.commit()
        committed.withLock { $0.append(file.finalPath) }
        current = nil
        try commitCheckpoints()
        trimHeapNow(after: file)
    }

    func finish() throws {
        if let file = current {
            if file.byteCount == 0 {
                current = nil
                file.discard()
            } else {
                // `current` stays set until the commit is under way: a write failing inside
                // it (an earlier member's) leaves the file for `abort` to remove.
                try file.commit()
                current = nil
                committed.withLock { $0.append(file.finalPath) }
                try commitCheckpoints()
            }
        }
        defer { compression?.shutDown() }
        try compression?.drainAll()
    }

    func abort() {
        compression?.abandon()
        current?.discard()
        current = nil
        compression?.shutDown()
    }

    /// After a run that succeeded (`finish` returned and nothing failed): removes the earlier
    /// set's names numbered after this run's last file, so the set holds this run alone.
    func removeSupersededFiles() throws {
        let count = committed.withLock { $0.count }
        for old in earlierSet where old.number > count {
            if unlink(old.path) != 0 && errno != ENOENT {
                throw SluiceError(.output, place: old.path, "cannot remove the earlier run's file: \(SluiceError.systemReason(errno))")
            }
        }
    }
}
