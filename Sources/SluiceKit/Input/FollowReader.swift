import Glibc

/// `--follow`: the named files read as `tail -F` follows them, on the reading thread of
/// `ChunkSource` (one thread for all of them: fan-in).
///
/// Each file is read from its start to its end, then again whenever it grows. Its name is
/// followed, not its descriptor:
/// - **rename and create** (logrotate's `create`): the name now holds another file (device
///   and inode). The old file is read to its end first, its last line without a newline
///   handed on as a line, then the new file from its start.
/// - **copytruncate**: the file became shorter than what was read of it. It is read again from
///   its start (a partial line read before is handed on as a line first).
/// - **a file that does not exist yet, or is deleted**: waited for; read from its start when it
///   (re)appears. Its error is reported once per change of state, not once per try.
/// Rotated siblings (`app.log.1`, `app.log.1.gz`) are never opened: only the names given are.
///
/// Waiting: `inotify(7)` on the files' folders (a change to any of them wakes the reader), and
/// a poll every second besides (a folder on NFS, or one that inotify could not watch); without
/// inotify, a poll every 250 ms. No wake-up otherwise: an idle follow costs no CPU.
///
/// End: a stop (SIGINT, SIGTERM) hands on the complete lines read so far and finishes the stream
/// (a partial line is dropped, as any reader drops one at a stop); a consumer done with every
/// input (`-m` reached, `-q` answered) ends it too; a cancellation returns at once.
extension ChunkSource {
    func followAll(into channel: BoundedChannel<LineChunk>, interrupt: Interrupt) {
        var files: [FollowedFile] = []
        for (index, input) in inputs.enumerated() {
            guard case .path(let path) = input else { continue }  // standard input: refused before (--follow)
            files.append(FollowedFile(index: index, path: path, chunkSize: chunkSize))
        }
        let watcher = FolderWatcher(paths: files.map(\.path))
        defer { for index in files.indices { files[index].closeAll() } }  // the descriptors this loop opened
        while true {
            if channel.isCancelled || interrupt.isCancelled { return }
            if interrupt.isStopping { break }
            var progressed = false
            var following = 0
            for index in files.indices where !files[index].isDone {
                interrupt.beginInput(files[index].index)  // a skip (-m, -q) is of this input
                let sender = { (file: FollowedFile) in
                    InputChunkSender(channel: channel, input: file.index, marks: self.marksInputs, numbersLines: self.numbersLines,
                                     skip: self.skipInputsBelow)
                }
                guard files[index].step(interrupt: interrupt, progressed: &progressed, makeSender: sender) else { return }
                if !files[index].isDone { following += 1 }
            }
            if following == 0 { break }  // the consumer is done with every input
            if !progressed && !interrupt.isInterrupted {
                watcher.wait(interrupt: interrupt, milliseconds: files.contains(where: \.isWaitingOnGrace) ? 50 : nil)
            }
        }
        channel.finish()
    }
}

/// One followed name, and the files it has named: the oldest is read (`generations[0]`), the
/// later ones are held open, waiting their turn.
///
/// A writer may go on writing into a file after it was renamed (a logger that reopens its file
/// only when told to, or that reopens for each write and had it open at the rename): a file
/// is left only when one of the name's later files has data and the file has not grown for
/// `rotationGrace`. The next files are opened as soon as they are seen, so a file renamed
/// again before its turn (logrotate every 0.2 s) is still read whole, from its descriptor.
struct FollowedFile {
    let index: Int
    let path: FileName
    private let chunkSize: Int
    private var generations: [Generation] = []
    /// The last error reported for this name (reported again only when it changes).
    private var lastReason: String?
    /// The consumer is done with this input (`-m`, `-q`).
    private(set) var isDone = false

    /// How long a renamed file must have stopped growing, once the name's next file has data,
    /// before it is closed. Its writers have moved on by then: a logger that reopens for each
    /// write does at its next write, one told by logrotate's postrotate at once.
    static let rotationGrace: Duration = .milliseconds(250)
    /// And a renamed file is kept this long after the rename was seen, however quiet: a logger
    /// told to reopen (logrotate's postrotate) may write a last line into it before it does.
    static let renamedMinimumHold: Duration = .seconds(1)

    /// One file the name has named: its descriptor, what was read of it, its partial line.
    struct Generation {
        let fd: Int32
        let identity: FileIdentityPair
        var offset = 0
        var framer: LineFramer
        var sender: InputChunkSender
        /// When a later file than the one being read was first seen with data.
        var dataSeenAt: ContinuousClock.Instant?
        /// When the name was seen holding another file (this one renamed away).
        var renamedAt: ContinuousClock.Instant?
        /// Its size when last looked at, and when that size last changed (or it was opened).
        var lastSize = 0
        var lastGrowth = ContinuousClock.now

        mutating func noteSize(_ now: ContinuousClock.Instant) {
            var info = stat()
            guard fstat(fd, &info) == 0, Int(info.st_size) != lastSize else { return }
            lastSize = Int(info.st_size)
            lastGrowth = now
        }
    }

    typealias FileIdentityPair = (device: UInt64, inode: UInt64)

    init(index: Int, path: FileName, chunkSize: Int) {
        self.index = index
        self.path = path
        self.chunkSize = chunkSize
    }

    /// A file waits for a renamed one to finish and a later one has data: the loop wakes often
    /// enough to see the grace end (otherwise it sleeps on inotify).
    var isWaitingOnGrace: Bool { generations.count > 1 && generations.dropFirst().contains { $0.lastSize > 0 } }

    /// How many chunks one file may hand on before the next file's turn (fairness between
    /// a busy log and a quiet one).
    private static let chunksPerTurn = 8

    /// How long a renamed file that keeps growing holds back the name's later files (a writer
    /// that never reopens): then it is left, with a warning, and its further lines are not read.
    static let renamedHoldLimit: Duration = .seconds(5)

    /// Opens, reads what is new and notices rotation. `progressed`: set when something was
    /// read or the file changed (the caller then looks again before it waits). False if the
    /// channel was cancelled.
    mutating func step(interrupt: Interrupt, progressed: inout Bool,
                       makeSender: (FollowedFile) -> InputChunkSender) -> Bool {
        if generations.isEmpty {
            guard openName(makeSender: makeSender, reportErrors: true) else { return true }
            progressed = true
        }
        // Has the name moved on? Looked at every turn, not only at the end of the file being
        // read: a reader behind (a large file, a slow output) must still see every rotation.
        var named = stat()
        if path.withCString({ stat($0, &named) }) == 0 {
            let identity = (UInt64(named.st_dev), UInt64(named.st_ino))
            if !generations.contains(where: { $0.identity == identity }) && openName(makeSender: makeSender, reportErrors: true) {
                progressed = true
            }
        }
        var head = generations[0]
        defer { if !generations.isEmpty && generations[0].fd == head.fd { generations[0] = head } }
        var plain = PlainSource(fd: head.fd, name: path.description, prefix: [], interrupt: interrupt)
        let base = head.offset  // this turn's reads start there
        var sent = 0
        var atEnd = false
        while sent < Self.chunksPerTurn {
            if head.sender.skipped {
                isDone = true
                closeAll()
                return true
            }
            let (bytes, ended, failure) = head.framer.nextChunk(from: &plain)
            if let failure, failure.code == .interrupted { return true }  // a stop: the loop ends
            let consumed = base + plain.consumedByteCount
            // A read error (EIO, an NFS hiccup) is reported once per reason and tried again
            // at the next wake-up, from where the reading stopped.
            let note = failure.flatMap { failure -> SluiceError? in
                defer { lastReason = failure.message }
                return failure.message == lastReason ? nil : failure
            }
            if failure == nil && lastReason != nil { lastReason = nil }
            if !bytes.isEmpty || note != nil || consumed != head.offset {
                if !bytes.isEmpty { progressed = true }
                if !head.sender.send(LineChunk(bytes: bytes, notes: note.map { [$0] } ?? [], inputByteCount: consumed - head.offset)) {
                    return false
                }
                sent += 1
            }
            head.offset = consumed
            if failure != nil { return true }
            if ended {
                atEnd = true
                break
            }
        }
        guard atEnd else {
            progressed = true  // more to read: another turn before any wait
            return true
        }
        if generations.count == 1 {
            var open = stat()
            if fstat(head.fd, &open) == 0 && Int(open.st_size) < head.offset {
                // Truncated (copytruncate): read again from its start, numbered from 1.
                let last = head.framer.finish()
                let note = SluiceError(.warning, file: path, "file truncated: reading it again from its start")
                if !head.sender.send(LineChunk(bytes: last, notes: [note])) { return false }
                _ = lseek(head.fd, 0, SEEK_SET)
                head.offset = 0
                head.sender = makeSender(self)
                progressed = true
            }
            return true
        }
        // Renamed: finished once a later file has data and this one has stopped growing (its
        // size, not what was read of it: a file that waited its turn was read long after it
        // was written, and must not wait the grace again). Any later one: a file created and
        // renamed again before anything was written to it never gets data, and must not hold
        // the queue.
        let now = ContinuousClock.now
        head.noteSize(now)
        var laterHasData = false
        for index in generations.indices.dropFirst() {
            generations[index].noteSize(now)
            if generations[index].lastSize > 0 && !laterHasData {
                laterHasData = true
                if generations[index].dataSeenAt == nil { generations[index].dataSeenAt = now }
            }
        }
        guard laterHasData, head.lastSize == head.offset else { return true }  // more came since: read it first
        let heldSince = generations.dropFirst().compactMap(\.dataSeenAt).min() ?? now
        let stillWritten = now - head.lastGrowth < Self.rotationGrace || now - (head.renamedAt ?? now) < Self.renamedMinimumHold
        if stillWritten && now - heldSince < Self.renamedHoldLimit { return true }
        if stillWritten {
            let note = SluiceError(.warning, file: path, "a renamed file is still being written to after \(Self.renamedHoldLimit): "
                + "left for the name's new file; lines written into it from now on are not read (have the logger reopen its file)")
            if !head.sender.send(LineChunk(bytes: [], notes: [note])) { return false }
        }
        let last = head.framer.finish()  // its last line without a newline ends with it
        if !last.isEmpty && !head.sender.send(LineChunk(bytes: last, notes: [])) { return false }
        Glibc.close(head.fd)
        generations.removeFirst()
        progressed = true
        return true
    }

    /// Opens the file the name holds now and queues it. False if it cannot be opened (then
    /// reported once per reason when `reportErrors`).
    private mutating func openName(makeSender: (FollowedFile) -> InputChunkSender, reportErrors: Bool) -> Bool {
        let descriptor = path.withCString { Glibc.open($0, O_RDONLY | O_CLOEXEC | O_NONBLOCK) }
        let openError = errno
        var info = stat()
        if descriptor < 0 || fstat(descriptor, &info) != 0 || (info.st_mode & S_IFMT) != S_IFREG {
            let reason = descriptor < 0 ? SluiceError.systemReason(openError)
                : (info.st_mode & S_IFMT) == S_IFDIR ? "Is a directory" : "not a regular file: --follow reads files"
            if descriptor >= 0 { Glibc.close(descriptor) }
            // The name gone between its stat and its open (a rotation under way) is no news.
            let vanished = descriptor < 0 && openError == ENOENT && !generations.isEmpty
            if reportErrors && !vanished && reason != lastReason {
                lastReason = reason
                let note = SluiceError(.warning, file: path, "\(reason) (following the name: read when it appears)")
                _ = makeSender(self).send(LineChunk(bytes: [], notes: [note]))
            }
            return false
        }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
        lastReason = nil
        if !generations.isEmpty { generations[generations.count - 1].renamedAt = .now }
        generations.append(Generation(fd: descriptor, identity: (UInt64(info.st_dev), UInt64(info.st_ino)),
                                      framer: LineFramer(targetSize: chunkSize), sender: makeSender(self), lastSize: Int(info.st_size)))
        return true
    }

    mutating func closeAll() {
        for generation in generations { Glibc.close(generation.fd) }
        generations = []
    }
}

/// Wakes the follow loop when something changes in the followed files' folders (inotify), or
/// after a second at most; every 250 ms without inotify.
final class FolderWatcher {
    private let fd: Int32
    private static let events = UInt32(IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ATTRIB | IN_CLOSE_WRITE)

    init(paths: [FileName]) {
        var folders: Set<[UInt8]> = []
        for path in paths {
            if let slash = path.bytes.lastIndex(of: UInt8(ascii: "/")) {
                folders.insert(slash == 0 ? [UInt8(ascii: "/")] : Array(path.bytes[..<slash]))
            } else {
                folders.insert([UInt8(ascii: ".")])
            }
        }
        let descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        fd = descriptor
        guard descriptor >= 0 else { return }
        for folder in folders {
            _ = FileName(folder).withCString { inotify_add_watch(descriptor, $0, Self.events) }
        }
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    /// Sleeps until a change, an interrupt, or the poll period (or `milliseconds`, if sooner).
    func wait(interrupt: Interrupt, milliseconds: Int32? = nil) {
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: interrupt.wakeDescriptor, events: Int16(POLLIN), revents: 0)]
        let ready = poll(&fds, 2, min(milliseconds ?? .max, fd >= 0 ? 1000 : 250))
        if ready > 0 && fds[0].revents != 0 {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while read(fd, &buffer, buffer.count) > 0 {}
        }
        if ready > 0 && fds[1].revents != 0 { interrupt.drainSkipWakeUps() }
    }
}

