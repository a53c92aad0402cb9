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
            files.append(FollowedFile(index: index, path: path, chunkSize: chunkSize, generations: generations, outputFile: outputFile))
            files[files.count - 1].marksRecordEnds = recordQuietSpell != nil
        }
        let watcher = FolderWatcher(paths: files.map(\.path))
        defer { for index in files.indices { files[index].closeAll() } }  // the descriptors this loop opened
        func sender(_ file: FollowedFile) -> FollowedFile.MakeSender {
            { offsetBase, continuing in
                InputChunkSender(channel: channel, input: file.index, marks: self.marksInputs, numbersLines: self.numbersLines,
                                 skip: self.skipInputsBelow, offsetBase: offsetBase, continuing: continuing)
            }
        }
        // --resume: each file the checkpoint names is found (at its name, or renamed while
        // sluice was down) and read on from there, before the name's newer files.
        for index in files.indices {
            guard let checkpoint = resumePoints[files[index].index]?.followed else { continue }
            let (notes, backlog) = files[index].resume(from: checkpoint, makeSender: sender(files[index]))
            var unread = Set(backlog.map(\.fd))  // closed on every way out
            defer { for fd in unread { Glibc.close(fd) } }
            if !notes.isEmpty && !sender(files[index])(0, nil).send(LineChunk(bytes: [], notes: notes)) { return }
            // Compressed while sluice was down: read whole (from the checkpoint's line in its
            // own), oldest first, before the files the name queued.
            for item in backlog {
                if interrupt.isStopping || interrupt.isCancelled { break }
                let backlogSender = InputChunkSender(channel: channel, input: files[index].index, marks: marksInputs, numbersLines: numbersLines,
                                              skip: skipInputsBelow, resume: item.point,
                                              offsetBase: generations == nil ? 0 : FileGenerations.offsetBase(serial: item.serial))
                // The name goes on rotating meanwhile: its new files are opened as they come.
                let noticeSender = sender(files[index])
                backlogSender.afterSend = { _ = files[index].noticeNewFile(makeSender: noticeSender) }
                var framer = LineFramer(targetSize: chunkSize)
                var notes: [SluiceError] = []
                _ = lseek(item.fd, 0, SEEK_SET)
                let read = read(fd: item.fd, name: item.name.escapedDescription, regularFileSize: nil, sender: backlogSender,
                                framer: &framer, notes: &notes, interrupt: interrupt)
                Glibc.close(item.fd)
                unread.remove(item.fd)
                guard read else { return }
                let last = framer.finish()
                backlogSender.afterSend = nil
                if (!last.isEmpty || !notes.isEmpty) && !backlogSender.send(LineChunk(bytes: last, notes: notes)) { return }
                // --record: a record ends at its file's end.
                if recordQuietSpell != nil && !FollowedFile.sendRecordEnd(backlogSender) { return }
            }
        }
        while true {
            if channel.isCancelled || interrupt.isCancelled { return }
            if interrupt.isStopping { break }
            var progressed = false
            var following = 0
            for index in files.indices where !files[index].isDone {
                interrupt.beginInput(files[index].index)  // a skip (-m, -q) is of this input
                guard files[index].step(interrupt: interrupt, progressed: &progressed, makeSender: sender(files[index])) else { return }
                if !files[index].isDone { following += 1 }
            }
            if following == 0 { break }  // the consumer is done with every input
            if let quiet = recordQuietSpell {
                // --record: each file quiet for the spell ends its record (another busy file does not delay it).
                let now = ContinuousClock.now
                for index in files.indices where !files[index].isDone {
                    guard files[index].endRecordIfQuiet(now: now, spell: quiet) else { return }
                }
            }
            if !progressed && !interrupt.isInterrupted {
                // Sooner than the poll when a renamed file waits out its grace, or a retry (or a
                // record's quiet spell) is due.
                let now = ContinuousClock.now
                var soonest: Duration? = files.contains(where: \.isWaitingOnGrace) ? .milliseconds(50) : nil
                for file in files {
                    let dues = [file.retryDue, recordQuietSpell.flatMap { file.recordEndDue(spell: $0) }].compactMap { $0 }
                    for due in dues { soonest = Swift.min(soonest ?? .seconds(1), Swift.max(due - now, .milliseconds(1))) }
                }
                watcher.wait(interrupt: interrupt, milliseconds: soonest.map { Int32($0 / .milliseconds(1)) + 1 })
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
    /// Checkpointed runs: where each file's identity is recorded, by its serial (from 1).
    private let registry: FileGenerations?
    private var nextSerial = 1

    /// Makes the sender of one file: the offset added to its offsets (its serial's, when
    /// checkpointed), and where its reading starts when not at its first byte.
    typealias MakeSender = (_ offsetBase: Int, _ continuing: ResumePoint?) -> InputChunkSender
    /// The last error reported for this name (reported again only when it changes).
    private var lastReason: String?
    /// Retries of an open that failed for another reason than a missing file (permissions, a
    /// stale NFS handle), and of a failed read: with backoff. A missing file is not retried on
    /// a clock: inotify tells when it appears.
    private var openRetry = Backoff()
    private var readRetry = Backoff()

    /// The next retry due, if one is waited for.
    var retryDue: ContinuousClock.Instant? {
        guard !isDone else { return nil }
        let now = ContinuousClock.now
        return [openRetry.until, readRetry.until].compactMap { $0 }.filter { $0 > now }.min()
    }

    /// 100 ms after a failure, doubling with each failure in a row up to 5 s; a success resets it.
    struct Backoff {
        static let first: Duration = .milliseconds(100)
        static let limit: Duration = .seconds(5)
        private(set) var delay = first
        private(set) var until: ContinuousClock.Instant?

        mutating func failed(at now: ContinuousClock.Instant = .now) {
            until = now + delay
            delay = Swift.min(delay * 2, Self.limit)
        }

        mutating func succeeded() {
            delay = Self.first
            until = nil
        }

        func isWaiting(_ now: ContinuousClock.Instant = .now) -> Bool { until.map { now < $0 } ?? false }
    }
    /// The consumer is done with this input (`-m`, `-q`).
    private(set) var isDone = false
    /// `--record`: the end of each file, and quiet spells (`endRecordIfQuiet`), end the record open.
    var marksRecordEnds = false
    /// `--record`: when lines were last handed on, if no quiet spell has ended their record since.
    private var lastSent: ContinuousClock.Instant?
    /// The last step read the file to its end (a record is ended for a quiet spell only then:
    /// not while a reader behind its file waits on a slow output).
    private var caughtUp = false

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
        /// Its number among the name's files (`FileGenerations`); a truncated file gets a new one.
        var serial: Int
        /// Bytes of its start its recorded fingerprint covers (grows to 1 KiB as it is read).
        var fingerprinted = 0
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

    /// The file the output appends to (`ChunkSource.outputFile`): never followed.
    private let outputFile: FileIdentity?

    init(index: Int, path: FileName, chunkSize: Int, generations: FileGenerations? = nil, outputFile: FileIdentity? = nil) {
        self.index = index
        self.path = path
        self.chunkSize = chunkSize
        registry = generations
        self.outputFile = outputFile
    }

    /// The offset base of a file's serial: its serial's when checkpointed, else 0.
    private func offsetBase(_ serial: Int) -> Int { registry == nil ? 0 : FileGenerations.offsetBase(serial: serial) }

    /// Takes the next serial for a file opened on `fd` and records its identity, fingerprinted
    /// over its first `covering` bytes (at most 1 KiB).
    private mutating func newSerial(fd: Int32, identity: FileIdentityPair, covering: Int) -> (serial: Int, fingerprinted: Int) {
        let serial = nextSerial
        nextSerial += 1
        let fingerprinted = record(serial: serial, fd: fd, identity: identity, covering: covering)
        return (serial, fingerprinted)
    }

    private func record(serial: Int, fd: Int32, identity: FileIdentityPair, covering: Int) -> Int {
        guard let registry else { return 0 }
        let (hash, length) = CheckpointSource.fingerprint(fd: fd, length: Swift.min(covering, CheckpointSource.fingerprintBytes))
        registry.record(input: index, serial: serial, stamp: .init(device: identity.device, inode: identity.inode,
                                                                   fingerprint: hash, fingerprintLength: length))
        return length
    }

    /// A file waits for a renamed one to finish and a later one has data: the loop wakes often
    /// enough to see the grace end (otherwise it sleeps on inotify).
    var isWaitingOnGrace: Bool { generations.count > 1 && generations.dropFirst().contains { $0.lastSize > 0 } }

    /// How many chunks one file may hand on before the next file's turn (fairness between
    /// a busy log and a quiet one).
    private static let chunksPerTurn = 8

    /// `--record`: once `spell` has passed since lines were last handed on, tells the record
    /// framer that the name has gone quiet, so that the record held open at the end of what was
    /// read ends there (once per quiet spell). False if the channel was cancelled.
    mutating func endRecordIfQuiet(now: ContinuousClock.Instant, spell: Duration) -> Bool {
        guard caughtUp, let due = recordEndDue(spell: spell), now >= due, let head = generations.first else { return true }
        lastSent = nil
        return Self.sendRecordEnd(head.sender)
    }

    /// When the record held open ends if nothing more comes (nil: none is held open).
    /// (None while a line is half written: the record goes on, and waits for its newline.)
    func recordEndDue(spell: Duration) -> ContinuousClock.Instant? {
        guard !isDone, generations.first.map({ !$0.framer.hasPartialLine }) ?? true else { return nil }
        return lastSent.map { $0 + spell }
    }

    /// The mark that ends the record held open (`LineChunk.endsRecord`). False if the channel was cancelled.
    static func sendRecordEnd(_ sender: InputChunkSender) -> Bool {
        var marker = LineChunk(bytes: [])
        marker.endsRecord = true
        return sender.send(marker)
    }

    /// How long a renamed file that keeps growing holds back the name's later files (a writer
    /// that never reopens): then it is left, with a warning, and its further lines are not read.
    static let renamedHoldLimit: Duration = .seconds(5)

    /// Opens, reads what is new and notices rotation. `progressed`: set when something was
    /// read or the file changed (the caller then looks again before it waits). False if the
    /// channel was cancelled.
    mutating func step(interrupt: Interrupt, progressed: inout Bool, makeSender: MakeSender) -> Bool {
        if generations.isEmpty {
            guard !openRetry.isWaiting(), openName(makeSender: makeSender, reportErrors: true) else { return true }
            progressed = true
        }
        // Has the name moved on? Looked at every turn, and after each chunk handed on, not only
        // at the end of the file being read: a reader behind (a large file, a slow output) must
        // still see every rotation.
        if noticeNewFile(makeSender: makeSender) { progressed = true }
        caughtUp = false
        if readRetry.isWaiting() { return true }
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
            if registry != nil && head.fingerprinted < CheckpointSource.fingerprintBytes && consumed > head.fingerprinted {
                // Its fingerprint covers what is read of it, up to 1 KiB, before a line of it
                // can be checkpointed.
                head.fingerprinted = record(serial: head.serial, fd: head.fd, identity: head.identity, covering: consumed)
            }
            // A read error (EIO, an NFS hiccup) is reported once per reason and tried again
            // from where the reading stopped, with backoff (`readRetry`).
            let note = failure.flatMap { failure -> SluiceError? in
                defer { lastReason = failure.message }
                return failure.message == lastReason ? nil : failure
            }
            if failure == nil && lastReason != nil { lastReason = nil }
            if failure == nil { readRetry.succeeded() } else { readRetry.failed() }
            if !bytes.isEmpty || note != nil || consumed != head.offset {
                if !bytes.isEmpty { progressed = true }
                if !head.sender.send(LineChunk(bytes: bytes, notes: note.map { [$0] } ?? [], inputByteCount: consumed - head.offset)) {
                    return false
                }
                // (After the send, which may have waited on a slow output: the quiet spell is the file's.)
                if marksRecordEnds && !bytes.isEmpty { lastSent = .now }
                sent += 1
                // The send may have waited on a slow output: the name may have moved on. (The
                // head is written back first: queueing a file marks the one before it renamed.)
                generations[0] = head
                _ = noticeNewFile(makeSender: makeSender)
                head = generations[0]
            }
            head.offset = consumed
            rememberGrowth(of: head)
            if failure != nil { return true }
            if ended {
                atEnd = true
                break
            }
        }
        caughtUp = atEnd
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
                remember(fd: head.fd, identity: head.identity)  // its new start (its old one stays among readStarts)
                // Another file in the same inode: a serial of its own.
                (head.serial, head.fingerprinted) = newSerial(fd: head.fd, identity: head.identity, covering: Int(open.st_size))
                head.sender = makeSender(offsetBase(head.serial), nil)
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
        if marksRecordEnds {
            // A record ends at its file's end: the name's next file starts its own.
            lastSent = nil
            if !Self.sendRecordEnd(head.sender) { return false }
        }
        remember(fd: head.fd, identity: head.identity)  // as it ends
        Glibc.close(head.fd)
        generations.removeFirst()
        progressed = true
        return true
    }

    /// Opens and queues the file the name holds now if it is none of the name's files yet (a
    /// rotation). True if one was queued.
    mutating func noticeNewFile(makeSender: MakeSender) -> Bool {
        var named = stat()
        guard path.withCString({ stat($0, &named) }) == 0 else { return false }
        let identity = (UInt64(named.st_dev), UInt64(named.st_ino))
        guard !generations.contains(where: { $0.identity == identity }), !openRetry.isWaiting() else { return false }
        return openName(makeSender: makeSender, reportErrors: true)
    }

    /// The name's rotated siblings (`NAME.1`, `NAME-20261201.backup`) that are not news: those
    /// there when the name was first opened (older than what is followed: never read) and
    /// every file the name has held since, by device and inode, with the fingerprint of their
    /// first KiB: logrotate frees an inode (the file it compressed) and the next file created
    /// takes it at once, so an inode alone would hide that file. One missing from three
    /// listings in a row is forgotten (one listing may miss a file renamed under it).
    private var knownSiblings: [FileIdentity: (hash: String, length: Int, absent: Int)] = [:]
    private var siblingsListed = false
    /// The starts (first KiB, or the whole file while shorter) the name's files have been seen
    /// with, the last `readStartsLimit` of them: a copy of one (copytruncate's `NAME.1`, made
    /// at any moment of the file's growth, and of a file truncated since) is not news.
    private var readStarts: [String: Int] = [:]
    private var readStartOrder: [String] = []
    static let readStartsLimit = 256

    /// Remembers the file open on `fd` as one of the name's (its start as it is now).
    private mutating func remember(fd: Int32, identity: FileIdentityPair) {
        let (hash, length) = CheckpointSource.fingerprint(fd: fd, length: CheckpointSource.fingerprintBytes)
        remember(FileIdentity(device: identity.device, inode: identity.inode), hash: hash, length: length)
    }

    private mutating func remember(_ identity: FileIdentity, hash: String, length: Int) {
        knownSiblings[identity] = (hash, length, 0)
        let key = "\(hash).\(length)"
        guard length > 0, readStarts.updateValue(length, forKey: key) == nil else { return }
        readStartOrder.append(key)
        if readStartOrder.count > Self.readStartsLimit { readStarts[readStartOrder.removeFirst()] = nil }
    }

    /// A file of the name's that has grown since it was remembered, while its start is short:
    /// remembered again (a copy taken at any length is then known).
    private mutating func rememberGrowth(of generation: Generation) {
        let known = knownSiblings[FileIdentity(device: generation.identity.device, inode: generation.identity.inode)]?.length ?? 0
        if known < CheckpointSource.fingerprintBytes && generation.offset > known { remember(fd: generation.fd, identity: generation.identity) }
    }

    /// A listed sibling is a known file: one open now, or the same inode with the same start
    /// (an empty one still empty); or a copy of one (copytruncate's: another inode, a start
    /// seen before).
    private func isKnown(_ sibling: Sibling, opening: FileIdentityPair?) -> Bool {
        if generations.contains(where: { $0.identity == (sibling.device, sibling.inode) }) { return true }  // an inode open is not reused
        if let opening, opening == (sibling.device, sibling.inode) { return true }  // the name's new file, renamed since it was opened
        if let known = knownSiblings[sibling.identity] {
            let start = sibling.start.prefix(known.length)
            if start.count == known.length && (known.length == 0 ? sibling.start.isEmpty : CheckpointSource.hash(start) == known.hash) { return true }
        }
        return !sibling.start.isEmpty && readStarts["\(CheckpointSource.hash(sibling.start)).\(sibling.start.count)"] != nil
    }

    /// Files that held the name between two looks at it and were rotated before the reader
    /// saw them: a loaded machine, a reader stopped (SIGSTOP) or waiting on its output for
    /// longer than logrotate's period, or logrotate's `create` finding the name already taken
    /// again by a logger that reopens for each write (it renames that file to
    /// `NAME-DATE.backup`). Each rotated sibling still plain that is not known is such a file:
    /// queued, oldest first (logrotate's order), before the name's new file. One compressed
    /// before it was seen is not found (its lines are lost, as `tail -F` loses them).
    private mutating func queueMissedSiblings(opening: FileIdentityPair?, makeSender: MakeSender) {
        for generation in generations { remember(fd: generation.fd, identity: generation.identity) }  // grown since
        let listed = Self.plainRotatedSiblings(of: path)
        guard siblingsListed else {
            siblingsListed = true
            for sibling in listed { remember(sibling.identity, hash: CheckpointSource.hash(sibling.start), length: sibling.start.count) }
            return
        }
        let present = Set(listed.map(\.identity) + generations.map { FileIdentity(device: $0.identity.device, inode: $0.identity.inode) })
        for (key, known) in knownSiblings {
            if present.contains(key) {
                knownSiblings[key]?.absent = 0
            } else if known.absent >= 2 {
                knownSiblings[key] = nil
            } else {
                knownSiblings[key]?.absent += 1
            }
        }
        let missed = listed.filter { !isKnown($0, opening: opening) }.sorted { Sibling.older($0, than: $1) }
        guard !missed.isEmpty else { return }
        let renamed = generations.count - 1  // the file the name held when last seen
        for sibling in missed {
            guard let fd = sibling.open() else { continue }  // moved again since it was listed
            queue(fd: fd, at: nil, makeSender: makeSender)
        }
        if renamed >= 0 { generations[renamed].renamedAt = .now }  // its own hold, as openName gives it
    }

    /// Opens the file the name holds now and queues it, after any file the name held unseen
    /// since the last look (`queueMissedSiblings`). False if it cannot be opened (then
    /// reported once per reason when `reportErrors`).
    private mutating func openName(makeSender: MakeSender, reportErrors: Bool) -> Bool {
        let descriptor = path.withCString { Glibc.open($0, O_RDONLY | O_CLOEXEC | O_NONBLOCK) }
        let openError = errno
        var info = stat()
        let examined = descriptor >= 0 && fstat(descriptor, &info) == 0
        let isOutput = examined && outputFile != nil && FileIdentity(info) == outputFile
        if !examined || (info.st_mode & S_IFMT) != S_IFREG || isOutput {
            // The output itself (-O FILE appended to): following it would read what is
            // written, without end (grep's words).
            let reason = descriptor < 0 ? SluiceError.systemReason(openError)
                : isOutput ? "input file is also the output"
                : (info.st_mode & S_IFMT) == S_IFDIR ? "Is a directory" : "not a regular file: --follow reads files"
            if descriptor >= 0 { Glibc.close(descriptor) }
            // The name gone between its stat and its open (a rotation under way) is no news.
            let vanished = descriptor < 0 && openError == ENOENT && !generations.isEmpty
            if descriptor < 0 && openError == ENOENT { openRetry.succeeded() } else { openRetry.failed() }  // inotify tells when it appears
            if reportErrors && !vanished && reason != lastReason {
                lastReason = reason
                let note = SluiceError(.warning, file: path, "\(reason) (following the name: read when it appears)")
                _ = makeSender(0, nil).send(LineChunk(bytes: [], notes: [note]))
            }
            return false
        }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
        lastReason = nil
        openRetry.succeeded()
        // Listed after the name's file is open (a rotation meanwhile moves it among them, known)
        // and queued before it (serials in reading order).
        let identity = (UInt64(info.st_dev), UInt64(info.st_ino))
        queueMissedSiblings(opening: identity, makeSender: makeSender)
        if !generations.isEmpty { generations[generations.count - 1].renamedAt = .now }
        remember(fd: descriptor, identity: identity)
        let (serial, fingerprinted) = newSerial(fd: descriptor, identity: identity, covering: Int(info.st_size))
        generations.append(Generation(fd: descriptor, identity: identity, serial: serial, fingerprinted: fingerprinted,
                                      framer: LineFramer(targetSize: chunkSize), sender: makeSender(offsetBase(serial), nil),
                                      lastSize: Int(info.st_size)))
        return true
    }

    /// How many times `resume` lists the siblings before it gives the checkpoint's file up.
    static let resumeSearches = 5

    /// A rotated file to read whole before the name's queue (a compressed one: read as any
    /// input is, from `point`), open on `fd` (closed by the reader once read).
    struct Backlog {
        let fd: Int32
        let name: FileName
        let point: ResumePoint?
        let serial: Int
    }

    /// `--resume`: finds the file `checkpoint` names and arranges for it to be read on after
    /// its last committed line, then the files rotated after it while sluice was down, then the
    /// name's own file. The file is the one at the name, or else a sibling (`app.log.1`,
    /// `app.log.2.gz`, `app.log-20261201`): the one with the checkpoint's device and inode
    /// (renamed: create), or one of logrotate's shapes whose first bytes, decoded, hash as the
    /// checkpoint's (copied: copytruncate; compressed since). The files rotated after it are the
    /// siblings of logrotate's shapes newer than it (`NAME.N`: a smaller N; `NAME-DATE`: a later
    /// name). Compressed ones come back in `backlog`, oldest first, to be read whole first; plain
    /// ones are queued, then the name's file (opened before the siblings are listed: a rotation
    /// meanwhile finds it among them, and the name's next file is seen at the first step).
    /// Serials are given in reading order (the backlog first), so forgetting the files before a
    /// committed one never forgets one still to be read. Returns the warnings to report.
    mutating func resume(from checkpoint: Checkpoint, makeSender: MakeSender) -> (notes: [SluiceError], backlog: [Backlog]) {
        // Listed before the name is opened: a file that takes the name after that and is
        // rotated during the search is not known, so the first look after it finds it.
        siblingsListed = false
        queueMissedSiblings(opening: nil, makeSender: makeSender)  // with none queued yet: only lists
        let nameFD = path.withCString { Glibc.open($0, O_RDONLY | O_CLOEXEC | O_NONBLOCK) }
        var named = stat()
        if nameFD >= 0 && (fstat(nameFD, &named) != 0 || named.st_mode & S_IFMT != S_IFREG) {
            Glibc.close(nameFD)
            return ([], [])  // not a file to resume in: the first step reports what it is
        }
        if nameFD >= 0 { _ = fcntl(nameFD, F_SETFL, fcntl(nameFD, F_GETFL) & ~O_NONBLOCK) }
        if nameFD >= 0 && UInt64(named.st_dev) == checkpoint.device && UInt64(named.st_ino) == checkpoint.inode,
           let (point, note) = CheckpointSource.resumePoint(after: checkpoint, fd: nameFD, name: path.escapedDescription) {
            queue(fd: nameFD, at: point, makeSender: makeSender)
            return (note.map { [$0] } ?? [], [])
        }
        let current = nameFD >= 0 ? (UInt64(named.st_dev), UInt64(named.st_ino)) : nil
        // logrotate may be at work while the siblings are looked at (renaming under readdir,
        // a `.2.gz` still being written beside its `.2`): the files are listed until two
        // listings agree, and every file needed is opened (and checked to be the one listed)
        // before anything is read; a file that moved meanwhile starts the search again, up to
        // `resumeSearches` times (about a second), before the checkpoint's file is given up.
        var search: (found: (sibling: Sibling, point: ResumePoint, note: SluiceError?), opened: [(Sibling, Int32, ResumePoint?)])?
        for attempt in 0..<Self.resumeSearches where search == nil {
            if attempt > 0 { usleep(200_000) }
            let listed = Self.stableSiblings(of: path)
            let isCurrent = { (sibling: Sibling) in current.map { (sibling.device, sibling.inode) == $0 } ?? false }
            // The name's file renamed during the search: the files after it are read after it.
            search = Self.findRotated(checkpoint, among: listed.filter { !isCurrent($0) }, before: listed.first(where: isCurrent))
        }
        guard let search else {
            if nameFD >= 0 { queue(fd: nameFD, at: nil, makeSender: makeSender) }
            return ([SluiceError(.warning, file: path, "the file its checkpoint names (line \(checkpoint.lines) of inode \(checkpoint.inode)) "
                + "is no longer there nor beside it (removed, or rotated past recognition while sluice was down): reading the name's file from its start")], [])
        }
        let found = search.found
        let opened = search.opened
        var backlog: [Backlog] = []
        for (sibling, fd, point) in opened where sibling.compressed {
            let serial = nextSerial
            nextSerial += 1
            if let registry {
                // Its identity as a checkpoint will find it again: its decoded first bytes.
                let start = ChunkSource.decodedStart(fd: fd, name: sibling.name.escapedDescription, length: CheckpointSource.fingerprintBytes)
                registry.record(input: index, serial: serial, stamp: .init(device: sibling.device, inode: sibling.inode,
                                                                           fingerprint: CheckpointSource.hash(start), fingerprintLength: start.count))
            }
            backlog.append(Backlog(fd: fd, name: sibling.name, point: point, serial: serial))
        }
        for (sibling, fd, point) in opened where !sibling.compressed {
            queue(fd: fd, at: point, makeSender: makeSender)
        }
        if nameFD >= 0 { queue(fd: nameFD, at: nil, makeSender: makeSender) }
        return (found.note.map { [$0] } ?? [], backlog)
    }

    /// The checkpoint's file among `siblings` (by inode, then by its decoded first bytes,
    /// newest first) and the files rotated after it, oldest first, each open: the checkpoint's
    /// from its point, the others from their start. Nil if it is not there, or if a file moved
    /// before it was opened (nothing is left open then).
    static func findRotated(_ checkpoint: Checkpoint, among siblings: [Sibling], before limit: Sibling? = nil)
        -> (found: (sibling: Sibling, point: ResumePoint, note: SluiceError?), opened: [(Sibling, Int32, ResumePoint?)])? {
        var found: (sibling: Sibling, fd: Int32, point: ResumePoint, note: SluiceError?)?
        let sameInode = siblings.filter { $0.device == checkpoint.device && $0.inode == checkpoint.inode && !$0.compressed }
        let sameStart = checkpoint.fingerprintLength < 64 ? [] : siblings.filter(\.rotatedShape).sorted { Sibling.older($1, than: $0) }
        for sibling in sameInode + sameStart {
            guard let fd = sibling.open() else { return nil }  // moved since it was listed
            if !sibling.compressed {
                if let (point, note) = CheckpointSource.resumePoint(after: checkpoint, fd: fd, name: sibling.name.escapedDescription) {
                    found = (sibling, fd, point, note)
                    break
                }
            } else {
                let start = ChunkSource.decodedStart(fd: fd, name: sibling.name.escapedDescription, length: checkpoint.fingerprintLength)
                if start.count == checkpoint.fingerprintLength && CheckpointSource.hash(start) == checkpoint.fingerprint {
                    found = (sibling, fd, ResumePoint(offset: checkpoint.offset, lines: checkpoint.lines), nil)
                    break
                }
            }
            Glibc.close(fd)
        }
        guard let found else { return nil }
        // Newer than it, oldest first. A `.2` being compressed has its `.2.gz` beside it until it
        // is removed: of such a pair the plain one is read (it is whole).
        var newer: [Sibling] = []
        for sibling in siblings.filter({ sibling in sibling.rotatedShape && sibling.name != found.sibling.name && Sibling.older(found.sibling, than: sibling)
                                            && limit.map { Sibling.older(sibling, than: $0) } ?? true })
            .sorted(by: { Sibling.older($0, than: $1) }) {
            if let last = newer.last, last.number != nil, last.number == sibling.number, last.compressed != sibling.compressed {
                if last.compressed { newer[newer.count - 1] = sibling }
                continue
            }
            newer.append(sibling)
        }
        var opened: [(Sibling, Int32, ResumePoint?)] = [(found.sibling, found.fd, found.point)]
        for sibling in newer {
            guard let fd = sibling.open() else {
                for (_, fd, _) in opened { Glibc.close(fd) }
                return nil
            }
            opened.append((sibling, fd, nil))
        }
        return ((found.sibling, found.point, found.note), opened)
    }

    /// `siblings(of:)` once two listings 50 ms apart agree (at most 20 listings): a rotation
    /// renames every numbered file, and a listing taken meanwhile may show one twice or not at all.
    static func stableSiblings(of path: FileName) -> [Sibling] {
        func shape(_ list: [Sibling]) -> Set<[UInt8]> {
            Set(list.map { $0.name.bytes + withUnsafeBytes(of: $0.inode) { Array($0) } })
        }
        var last = siblings(of: path)
        for _ in 0..<19 {
            usleep(50_000)
            let next = siblings(of: path)
            if shape(next) == shape(last) { return next }
            last = next
        }
        return last
    }

    /// Queues the file open on `fd` (its own from now on), read from `point` (nil: its start).
    private mutating func queue(fd: Int32, at point: ResumePoint?, makeSender: MakeSender) {
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            Glibc.close(fd)
            return
        }
        let offset = Swift.min(point?.offset ?? 0, Int(info.st_size))
        _ = lseek(fd, off_t(offset), SEEK_SET)
        let identity = (UInt64(info.st_dev), UInt64(info.st_ino))
        remember(fd: fd, identity: identity)
        let (serial, fingerprinted) = newSerial(fd: fd, identity: identity, covering: Swift.max(offset, CheckpointSource.fingerprintBytes))
        var generation = Generation(fd: fd, identity: identity, serial: serial, fingerprinted: fingerprinted,
                                    framer: LineFramer(targetSize: chunkSize),
                                    sender: makeSender(offsetBase(serial), point.map { ResumePoint(offset: offset, lines: $0.lines) }),
                                    lastSize: Int(info.st_size))
        generation.offset = offset
        if !generations.isEmpty { generations[generations.count - 1].renamedAt = .now - Self.renamedMinimumHold }
        generations.append(generation)
    }

    /// A file beside a followed one whose name starts with its name.
    struct Sibling {
        let name: FileName
        let device: UInt64
        let inode: UInt64
        /// logrotate's shapes: `NAME.1`, `NAME.2.gz` (`number`), `NAME-20261201` (the name,
        /// `.` or `-`, a digit).
        let rotatedShape: Bool
        let number: Int?
        let compressed: Bool
        let suffix: [UInt8]
        /// A plain file's first KiB (all of it, if shorter) when listed: its fingerprint's bytes.
        /// Empty for a compressed one (a long history of `.gz` must not hold a KiB each).
        let start: [UInt8]

        var identity: FileIdentity { FileIdentity(device: device, inode: inode) }

        /// The names of compressed files (`app.log.2.gz`).
        static let compressedSuffixes = [".gz", ".xz", ".bz2", ".zst", ".Z", ".lz4", ".lzma", ".lz", ".zip", ".br"]

        /// Whether a name's `suffix` ends as a compressed file's does.
        static func hasCompressedName(_ suffix: [UInt8]) -> Bool {
            compressedSuffixes.contains { suffix.reversed().starts(with: $0.utf8.reversed()) }
        }

        /// logrotate's suffixes: `.` or `-`, then a digit.
        static func isRotated(suffix: [UInt8]) -> Bool {
            suffix.count >= 2 && (suffix[0] == UInt8(ascii: ".") || suffix[0] == UInt8(ascii: "-"))
                && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(suffix[1])
        }

        init(name: FileName, info: stat, suffix: [UInt8], start: [UInt8] = []) {
            self.name = name
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
            self.suffix = suffix
            // A compressed name counts as compressed whatever it holds yet: logrotate's `.2.gz`
            // being written beside its `.2` (empty, or a byte of its header, when listed) was
            // read as a plain file, and the gzip bytes it then held became lines (seen once in
            // the kill-and-resume test under a rotation every 0.2 s).
            compressed = CompressedFormat(prefix: Array(start.prefix(6))) != nil || start.starts(with: [0x1F, 0x8B])
                || Self.hasCompressedName(suffix)
            self.start = compressed ? [] : start
            let digit = { (byte: UInt8) in (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
            rotatedShape = Self.isRotated(suffix: suffix)
            let digits = suffix.dropFirst().prefix(while: digit)
            number = rotatedShape && suffix[0] == UInt8(ascii: ".") && (digits.count == suffix.count - 1 || suffix[digits.count + 1] == UInt8(ascii: "."))
                ? Int(String(decoding: digits, as: UTF8.self)) : nil
        }

        /// Opened, if the name still holds the file it held when listed (a rotation since moved it).
        func open() -> Int32? {
            let fd = name.withCString { Glibc.open($0, O_RDONLY | O_CLOEXEC) }
            guard fd >= 0 else { return nil }
            var info = stat()
            guard fstat(fd, &info) == 0, UInt64(info.st_dev) == device, UInt64(info.st_ino) == inode else {
                Glibc.close(fd)
                return nil
            }
            return fd
        }

        /// logrotate's order: `NAME.3.gz` before `NAME.2.gz` before `NAME.1`; dated names by date.
        static func older(_ a: Sibling, than b: Sibling) -> Bool {
            if let x = a.number, let y = b.number { return x > y }
            return a.suffix.lexicographicallyPrecedes(b.suffix)
        }
    }

    /// The regular files in `path`'s folder whose names start with its name (and are longer),
    /// looked at and closed again (a long rotation history must not hold a descriptor each).
    static func siblings(of path: FileName, where wanted: ([UInt8]) -> Bool = { _ in true }) -> [Sibling] {
        let slash = path.bytes.lastIndex(of: UInt8(ascii: "/"))
        let folder = slash.map { $0 == 0 ? [UInt8(ascii: "/")] : Array(path.bytes[..<$0]) } ?? [UInt8(ascii: ".")]
        let base = Array(slash.map { path.bytes[($0 + 1)...] } ?? path.bytes[...])
        guard let directory = FileName(folder).withCString({ opendir($0) }) else { return [] }
        defer { closedir(directory) }
        var found: [Sibling] = []
        var seen: Set<[UInt64]> = []
        while let entry = readdir(directory) {
            let entryName: [UInt8] = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                Array(raw.prefix { $0 != 0 })
            }
            guard entryName.count > base.count, entryName.starts(with: base), wanted(Array(entryName[base.count...])) else { continue }
            let full = FileName(slash == nil ? entryName : folder + (folder == [UInt8(ascii: "/")] ? [] : [UInt8(ascii: "/")]) + entryName)
            let descriptor = full.withCString { Glibc.open($0, O_RDONLY | O_CLOEXEC | O_NONBLOCK) }
            guard descriptor >= 0 else { continue }
            defer { Glibc.close(descriptor) }
            var info = stat()
            // A file renamed during the listing may be seen twice: once.
            guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG,
                  seen.insert([UInt64(info.st_dev), UInt64(info.st_ino)]).inserted else { continue }
            // Its first KiB: its header (compressed or not) and, for a plain one, its fingerprint's
            // bytes, so that it need not be opened again to be recognized.
            var start = [UInt8](repeating: 0, count: CheckpointSource.fingerprintBytes)
            let count = start.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress!, $0.count, 0) }
            start.removeSubrange(Swift.max(count, 0)...)
            found.append(Sibling(name: full, info: info, suffix: Array(entryName[base.count...]), start: start))
        }
        return found
    }

    /// The rotated siblings of `path` (`NAME.1`, `NAME-DATE`) that are plain files. Names of
    /// compressed files are passed over unopened (a long rotation history is thousands of
    /// `.gz`); a name without such a suffix is looked at for a compressed header too.
    static func plainRotatedSiblings(of path: FileName) -> [Sibling] {
        siblings(of: path) { suffix in
            Sibling.isRotated(suffix: suffix) && !Sibling.hasCompressedName(suffix)
        }.filter { !$0.compressed }
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

