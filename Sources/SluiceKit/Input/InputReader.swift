import CSluiceSearch
import Glibc
import Synchronization

/// One input named on the command line.
public enum InputName: Sendable, Equatable, CustomStringConvertible {
    case standardInput
    case path(FileName)

    public init(argument: String) {
        self.init(argument: FileName(argument))
    }

    public init(argument: FileName) {
        self = argument.bytes == [UInt8(ascii: "-")] ? .standardInput : .path(argument)
    }

    public var description: String {
        switch self {
        case .standardInput: "(standard input)"
        case .path(let path): path.description
        }
    }
}

/// A file name as the system knows it: bytes, not necessarily UTF-8 (`foo\xffbar` opens the
/// file of that name; a Swift `String` would have made the byte U+FFFD, another name).
public struct FileName: Sendable, Hashable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public var bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init(_ text: String) { bytes = Array(text.utf8) }
    public init(stringLiteral text: String) { self.init(text) }

    /// For messages (a byte that is not UTF-8 shows as U+FFFD).
    public var description: String { String(decoding: bytes, as: UTF8.self) }

    /// For what is kept (a database row's `source`, a checkpoint's key): valid UTF-8 as it is,
    /// each byte that is not as `\xHH`, so that two names differing only there stay two.
    public var escapedDescription: String {
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        var text = ""
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            let length = byte < 0x80 ? 1 : (0xC2...0xDF).contains(byte) ? 2 : (0xE0...0xEF).contains(byte) ? 3 : (0xF0...0xF4).contains(byte) ? 4 : 0
            if length > 0, index + length <= bytes.count, let character = String(validating: bytes[index..<index + length], as: UTF8.self) {
                text += character
                index += length
            } else {
                let hex = String(byte, radix: 16, uppercase: false)
                text += "\\x" + (hex.count == 1 ? "0" + hex : hex)
                index += 1
            }
        }
        return text
    }

    /// `body` given the name as a NUL-terminated C string.
    public func withCString<Result>(_ body: (UnsafePointer<CChar>) throws -> Result) rethrows -> Result {
        try (bytes + [0]).withUnsafeBufferPointer { buffer in
            try buffer.withMemoryRebound(to: CChar.self) { try body($0.baseAddress!) }
        }
    }

    public static func + (name: FileName, tail: FileName) -> FileName { FileName(name.bytes + tail.bytes) }
    public func hasSuffix(_ byte: UInt8) -> Bool { bytes.last == byte }
}

/// Reads the inputs in order on a dedicated thread (blocking reads and inflate stay off the
/// cooperative pool) and sends chunks of whole lines into a bounded channel.
///
/// Each input's lines are its own, as grep reads them: a last line without a newline ends at
/// its input's end (it gets one), never glued to the next input's first line. Every chunk
/// carries the index of its input (`LineChunk.input`); with `marksInputs`, every input sends
/// at least one chunk, the first marked `startsInput`, so per-input summaries (`-c`, `-L`) see
/// empty and unreadable inputs too; with `numbersLines`, each chunk knows the number of its
/// first line in its input (`firstLine`). Gzip is detected from the first two bytes of each
/// input. An input that cannot be opened or read adds a note
/// to the stream and the next input follows. Only one input descriptor is open at a time.
/// End: the stream finishes when the inputs are exhausted, or at a stop request (`StopRequest`:
/// after the last complete line read; the partial line after it is dropped). Cancellation:
/// dropping the iterator cancels the reader, which returns at once, even from a read waiting
/// on a pipe, and sends nothing more.
public struct ChunkSource: AsyncSequence, Sendable {
    public typealias Element = LineChunk
    public let inputs: [InputName]
    public let chunkSize: Int
    /// Chunks read ahead of the consumer.
    public let readAhead: Int

    /// Finishing the stream early (a signal) goes through this.
    public let stop: StopRequest
    /// sluice was started with descriptor 0 closed (`<&-`): reading `-` is an error, as in grep.
    public var standardInputClosed = false
    /// The file the output goes to as it is written (stdout's `>> s.log`): an input that is it
    /// is skipped with grep's `input file is also the output` (reading it would read what is
    /// being written, without end), and the next input follows.
    public var outputFile: FileIdentity?
    /// Every input sends a first chunk marked `startsInput` (see the type's note).
    public var marksInputs = false
    /// Chunks carry their first line's number (`firstLine`): a count of newlines on the
    /// reading thread, done only when asked (grep's `-n`).
    public var numbersLines = false
    /// Where to start each input (by its index) instead of its first byte: after the lines
    /// a checkpoint says were committed (`--resume`). The bytes before are read (a compressed
    /// input must be decoded to get there) but not sent; lines are numbered on from there.
    public var resumePoints: [Int: ResumePoint] = [:]
    /// `--since` on a plain file whose timestamps ascend: where to start reading it, found by
    /// a binary search over its mapping (`SinceSeek`); nil: from its start.
    public var sinceSeek: SinceSeek?
    /// grep's `-z`: records end in NUL bytes; they are read with NUL and newline exchanged
    /// (`NulData`), plain files read rather than mapped.
    public var nullData = false
    /// The largest window a mapped file is cut into (at least `chunkSize`). Larger windows
    /// cost fewer mmap/munmap calls and chunk hand-offs: `-e ERROR` on 1 GB, 2 cores, 0.236 s
    /// with 512 KiB windows, 0.178 s with 2 MiB (rg 0.179 s); munmap alone was 8.7% of the CPU
    /// time, page-table work and TLB shootdowns included. Not for runs whose workers copy the
    /// whole chunk out for a later stage (context lines): `-C 3` went 0.38 -> 0.48 s, the
    /// copies' fresh pages faulted in each time. Only while `windowFeedback` says the workers
    /// hand on little of what they read.
    public var mappedWindowLimit = 0
    /// What the workers hand on of the mapped windows they read: windows wider than
    /// `chunkSize` only while that is at most an eighth (`MappedWindowFeedback`).
    public var windowFeedback: MappedWindowFeedback?
    /// Inputs the consumer is done with (`-m` reached in that file, `-l` answered): the reader
    /// stops reading an input whose index is below this and goes on with the next one.
    public let skipInputsBelow = InputSkip()

    public init(inputs: [InputName], chunkSize: Int = 512 * 1024, readAhead: Int = 4, stop: StopRequest = StopRequest()) {
        self.inputs = inputs.isEmpty ? [.standardInput] : inputs
        self.chunkSize = chunkSize
        self.readAhead = readAhead
        self.stop = stop
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(source: self)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let reader: ReaderHandle

        init(source: ChunkSource) {
            reader = ReaderHandle(source: source)
        }

        public mutating func next() async throws -> LineChunk? {
            reader.startIfNeeded()
            switch await reader.channel.receive() {
            case .element(let chunk): return chunk
            case .finished: return nil
            case .failed(let error): throw error
            case .timedOut: return nil
            case .cancelled: throw CancellationError()
            }
        }
    }

    /// Owns the reading thread; cancels it when the iterator goes away.
    final class ReaderHandle: @unchecked Sendable {
        // `started` is touched only by the iterator's owner (one task at a time).
        let channel: BoundedChannel<LineChunk>
        let source: ChunkSource
        let interrupt = Interrupt()
        private var started = false

        init(source: ChunkSource) {
            self.source = source
            channel = BoundedChannel(capacity: source.readAhead)
        }

        func startIfNeeded() {
            guard !started else { return }
            started = true
            source.stop.register(interrupt)
            source.skipInputsBelow.attach(interrupt)
            let source = self.source
            let channel = self.channel
            let interrupt = self.interrupt
            RunScope.thread(stackSize: 1 << 20) {
                source.readAll(into: channel, interrupt: interrupt)
            }
        }

        deinit {
            interrupt.cancel()
            channel.cancel()
            source.stop.unregister(interrupt)
            source.skipInputsBelow.detach(interrupt)
        }
    }

    /// `--follow`: the named files are read as `tail -F` reads them (`followAll`), never ending
    /// but at a stop.
    public var follows = false
    /// `--follow --record`: after this long without a new byte, each followed input's last
    /// record is taken as ended (vector's multiline `timeout_ms`); nil: lines only.
    public var recordQuietSpell: Duration?
    /// Followed and checkpointed: each file a name holds is recorded here, and the offsets
    /// handed on carry its serial (`FileGenerations`).
    public var generations: FileGenerations?

    /// The reading loop; runs on its own thread.
    func readAll(into channel: BoundedChannel<LineChunk>, interrupt: Interrupt) {
        if follows { return followAll(into: channel, interrupt: interrupt) }
        var framer = LineFramer(targetSize: chunkSize)
        framer.exchangesNulAndNewline = nullData
        for (index, input) in inputs.enumerated() {
            if channel.isCancelled || interrupt.isCancelled { return }
            if interrupt.isStopping { break }
            interrupt.beginInput(index)
            let sender = InputChunkSender(channel: channel, input: index, marks: marksInputs,
                                          numbersLines: numbersLines, skip: skipInputsBelow,
                                          resume: resumePoints[index])
            var notes: [SluiceError] = []
            guard read(input, sender: sender, framer: &framer, notes: &notes, interrupt: interrupt) else { return }
            if interrupt.isCancelled { return }
            // The input's last line without a newline ends here. After a stop none is left
            // (the framer drops a partial line when its source is interrupted: never read whole).
            let last = sender.skipped ? [] : framer.finish()
            framer = LineFramer(targetSize: chunkSize)
            framer.exchangesNulAndNewline = nullData
            let cutShort = interrupt.isStopping
            if !last.isEmpty || !notes.isEmpty || !sender.sentAny || cutShort {
                var chunk = LineChunk(bytes: last, notes: notes)
                chunk.inputCutShort = cutShort
                chunk.newlineAdded = !last.isEmpty
                if !sender.send(chunk) { return }
            }
        }
        channel.finish()
    }

    /// Reads one input through the framer into `sender` (its open and read errors into
    /// `notes`). Returns false if the channel was cancelled.
    private func read(_ input: InputName, sender: InputChunkSender, framer: inout LineFramer,
                      notes: inout [SluiceError], interrupt: Interrupt) -> Bool {
        let fd: Int32
        var regularFileSize: Int?
        switch input {
        case .standardInput:
            if standardInputClosed {
                notes.append(SluiceError(.input, place: input.description, "Bad file descriptor"))
                sender.unreadable = true
                return true
            }
            if let outputFile, FileIdentity(regularFileOpenOn: 0) == outputFile {
                notes.append(.inputIsOutput(input))
                sender.unreadable = true
                return true
            }
            fd = 0
        case .path(let path):
            // A FIFO's open(2) waits for a writer, where no stop or cancellation could reach
            // the reader: it is opened without waiting, then read blocking, each read
            // after poll(2) with the wake pipe (it is not a regular file).
            var before = stat()
            let isFIFO = path.withCString { stat($0, &before) } == 0 && (before.st_mode & S_IFMT) == S_IFIFO
            fd = path.withCString { open($0, O_RDONLY | O_CLOEXEC | (isFIFO ? O_NONBLOCK : 0)) }
            if isFIFO && fd >= 0 { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) }
            if fd < 0 {
                notes.append(SluiceError(.input, file: path, SluiceError.systemReason(errno)))
                sender.unreadable = true
                return true
            }
            var info = stat()
            if fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
                close(fd)
                notes.append(SluiceError(.input, file: path, "Is a directory"))  // still counted (-c: 0), as grep
                return true
            }
            if let outputFile, (info.st_mode & S_IFMT) == S_IFREG, FileIdentity(info) == outputFile {
                close(fd)
                notes.append(.inputIsOutput(input))
                sender.unreadable = true
                return true
            }
            if (info.st_mode & S_IFMT) == S_IFREG { regularFileSize = Int(info.st_size) }
        }
        defer { if fd != 0 { close(fd) } }
        return read(fd: fd, name: input.description, regularFileSize: regularFileSize, sender: sender, framer: &framer,
                    notes: &notes, interrupt: interrupt)
    }

    /// Reads an open input (plain or compressed, by its first bytes) from where its descriptor
    /// is, through the framer into `sender`. Returns false if the channel was cancelled.
    func read(fd: Int32, name: String, regularFileSize: Int?, sender: InputChunkSender, framer: inout LineFramer,
              notes: inout [SluiceError], interrupt: Interrupt) -> Bool {
        let mayBlock = inputMayBlock(fd)
        guard let prefix = Self.readPrefix(fd: fd, name: name, notes: &notes, interrupt: interrupt, mayBlock: mayBlock) else {
            return true
        }
        let isGzip = prefix.count >= 2 && prefix[0] == 0x1F && prefix[1] == 0x8B
        if isGzip {
            if let why = GzipSource.decoderUnavailable {
                notes.append(SluiceError(.input, place: name, why))
                sender.unreadable = true
                return true
            }
            var gzip = GzipSource(fd: fd, name: name, prefix: prefix, interrupt: interrupt, mayBlock: mayBlock)
            defer { gzip.release() }
            return pump(&gzip, framer: &framer, notes: &notes, sender: sender)
        } else if let format = CompressedFormat(prefix: prefix) {
            var compressed = CompressedSource(format: format, fd: fd, name: name, prefix: prefix, interrupt: interrupt, mayBlock: mayBlock)
            return pump(&compressed, framer: &framer, notes: &notes, sender: sender)
        } else if let size = regularFileSize, size >= Self.mappingThreshold(chunkSize), !framer.hasPartialLine, !nullData {
            return pumpMapped(fd: fd, name: name, size: size, framer: &framer, notes: &notes, sender: sender, interrupt: interrupt)
        } else {
            var plain = PlainSource(fd: fd, name: name, prefix: prefix, interrupt: interrupt, mayBlock: mayBlock)
            return pump(&plain, framer: &framer, notes: &notes, sender: sender)
        }
    }

    /// The first `length` bytes of a regular file as decoded (plain or compressed), read from
    /// its start; fewer if it is shorter or damaged there. The descriptor is left at offset 0.
    static func decodedStart(fd: Int32, name: String, length: Int) -> [UInt8] {
        _ = lseek(fd, 0, SEEK_SET)
        defer { _ = lseek(fd, 0, SEEK_SET) }
        var out = [UInt8](repeating: 0, count: length)
        var filled = 0
        func drain(_ source: inout some ByteSource) {
            while filled < length {
                let result = out.withUnsafeMutableBytes { source.fill(UnsafeMutableRawBufferPointer(rebasing: $0[filled...])) }
                filled += result.count
                if result.ended || result.failure != nil || result.count == 0 { break }
            }
        }
        var notes: [SluiceError] = []
        guard let start = readPrefix(fd: fd, name: name, notes: &notes) else { return [] }
        if start.count >= 2 && start[0] == 0x1F && start[1] == 0x8B {
            guard GzipSource.decoderUnavailable == nil else { return [] }  // the read itself says why
            var gzip = GzipSource(fd: fd, name: name, prefix: start)
            defer { gzip.release() }
            drain(&gzip)
        } else if let format = CompressedFormat(prefix: start) {
            var compressed = CompressedSource(format: format, fd: fd, name: name, prefix: start)
            drain(&compressed)
        } else {
            var plain = PlainSource(fd: fd, name: name, prefix: start)
            drain(&plain)
        }
        return Array(out[..<filled])
    }

    /// Reads until at least two bytes (enough to spot gzip), up to six while they begin another
    /// format's magic (`CompressedFormat`), or end of file.
    /// Nil when the input cannot be read or the reader was interrupted first (a byte read
    /// without its line is dropped at a stop, as any partial line is).
    static func readPrefix(fd: Int32, name: String, notes: inout [SluiceError],
                           interrupt: Interrupt? = nil, mayBlock: Bool = false) -> [UInt8]? {
        // 96 KiB: grep's first buffer (`BinaryFileGate.grepBuffer`), whose lines a small
        // file's first chunk then holds whole (a read's bytes are handed on at once).
        var prefix = [UInt8](repeating: 0, count: 96 * 1024)
        var count = 0
        while count < CompressedFormat.bytesToRecognize(prefix[..<count]) {
            let n = prefix.withUnsafeMutableBytes { readInterruptibly(fd, $0.baseAddress! + count, $0.count - count, interrupt, mayBlock: mayBlock) }
            if n == interruptedRead {
                if count > 0, let newline = prefix[..<count].lastIndex(of: 0x0A) {
                    prefix.removeSubrange((newline + 1)...)  // whole lines before the stop are kept
                    return prefix
                }
                return nil
            }
            if n < 0 {
                notes.append(SluiceError(.input, place: name, SluiceError.systemReason(Int32(-n))))
                return nil
            }
            if n == 0 { break }
            count += n
        }
        prefix.removeSubrange(count...)
        return prefix
    }

    /// Plain files at least this large are mapped rather than read (below it, mapping costs
    /// more than the copy it saves).
    static func mappingThreshold(_ chunkSize: Int) -> Int { 4 * chunkSize }

    /// The windows a mapped file of `size` bytes is cut into: at least 8 of them (the workers
    /// share a small file), each at least `chunkSize` and at most `limit`, page-aligned.
    static func windowSize(fileSize size: Int, chunkSize: Int, limit: Int) -> Int {
        let eighth = (size / 8) & ~4095
        return Swift.max(chunkSize, Swift.min(limit, eighth))
    }

    /// Frames a plain regular file into the channel straight from mapped windows: no copy of
    /// the bulk (a `read` copies every byte once; on 1 GB that was a third of the CPU time).
    /// Each chunk is a window cut after its last newline; a line longer than the window
    /// doubles it. The tail without a newline becomes the framer's partial line, and whatever
    /// the file gained since `fstat` (a growing log) is read as usual, so the result is what
    /// reading would give. A file that shrinks under its windows is caught here (the reader
    /// stops at the window that lost its end and goes on with the next input) or by the worker
    /// that reads the lost pages (`MappedWindow.isIntact`, `lossGuarded`); either way it is
    /// reported once. Returns false if the channel was cancelled.
    private func pumpMapped(fd: Int32, name: String, size: Int, framer: inout LineFramer,
                            notes: inout [SluiceError], sender: InputChunkSender,
                            interrupt: Interrupt) -> Bool {
        if !notes.isEmpty {
            if !sender.send(LineChunk(bytes: [], notes: notes)) { return false }
            notes = []
        }
        guard let file = MappedFile(fd: fd, name: name) else {
            return pumpRead(fd: fd, name: name, from: 0, framer: &framer, notes: &notes, sender: sender, interrupt: interrupt)
        }
        var offset = 0
        let windowSize = Self.windowSize(fileSize: size, chunkSize: chunkSize, limit: mappedWindowLimit)
        if let sinceSeek, !sender.resumes, let whole = MappedWindow(file: file, offset: 0, length: size) {
            // The lines before the found start are never selected: not read (their newlines
            // are counted when lines are numbered).
            offset = sinceSeek.start(in: UnsafeBufferPointer(start: whole.base, count: size), input: sender.input, backOff: chunkSize)
            if offset > 0 {
                sender.skipTo(offset: offset, lines: sender.numbersLines ? sluice_count_newlines(whole.base, offset) : 0)
                // The rest is read, not mapped: nearly every line of it is selected, and a
                // mapped window's faults, unmapping and copy out cost more than read's copy
                // (`-c --since`, the last 10% of a sorted 1 GB log: 0.053 s mapped, 0.046 s read).
                let going = pumpRead(fd: fd, name: name, from: offset, framer: &framer, notes: &notes, sender: sender,
                                     interrupt: interrupt, origin: file)
                // Shrunk under the read (as the mapped windows tell): said, as they say it.
                if going, file.size < size, let note = file.shrinkReport() { notes.append(note) }
                return going
            }
        }
        while offset < size {
            if interrupt.isCancelled { return false }
            if interrupt.isStopping { return true }  // every window sent ended with a newline
            if sender.skipped { return true }
            // Not when lines are numbered here: counting them touches every page of a window,
            // so the windows read ahead are resident too (4 x 2 MiB: `-n ERROR` on 1 GB peaked
            // at 30 MiB instead of 16, `-O postgresql://` at 64 instead of 52).
            let wide = !sender.numbersLines && (windowFeedback?.wideWindowsPay ?? true)
            var length = Swift.min(wide ? windowSize : chunkSize, size - offset)
            while true {
                guard let window = MappedWindow(file: file, offset: offset, length: length) else {
                    return pumpRead(fd: fd, name: name, from: offset, framer: &framer, notes: &notes, sender: sender, interrupt: interrupt)
                }
                let hit = memrchr(window.base, 0x0A, length)
                let tail = hit == nil && offset + length >= size
                    ? Array(UnsafeBufferPointer(start: window.base, count: length)) : []
                if !window.isIntact {
                    // Shrunk since fstat: what follows is not the file's. Earlier chunks that
                    // read lost pages are caught by their workers.
                    if let note = file.shrinkReport() { notes.append(note) }
                    return true
                }
                if let hit {
                    let end = window.base.distance(to: hit.assumingMemoryBound(to: UInt8.self)) + 1
                    var chunk = LineChunk(window: window, range: 0..<end, inputByteCount: end)
                    // The partial line after it, read with the next window: grep's buffer may
                    // hold both (`BinaryFileGate.parts`).
                    chunk.nulAfterEnd = memchr(window.base + end, 0, length - end).map { window.base.distance(to: $0.assumingMemoryBound(to: UInt8.self)) - end }
                    if !sender.send(chunk) { return false }
                    offset += end
                    break
                }
                if offset + length >= size {
                    // Its bytes are counted now, its line at the end. (The copy is checked again:
                    // a file rewritten in place may have gained a newline since the search.)
                    guard !tail.contains(0x0A) else {
                        if let note = file.shrinkReport() { notes.append(note) }
                        return true
                    }
                    framer.setPartialLine(tail)
                    if !sender.send(LineChunk(bytes: [], inputByteCount: length)) { return false }
                    offset = size
                    break
                }
                length = Swift.min(length * 2, size - offset)  // one line longer than the window
            }
        }
        if file.size < size {
            if let note = file.shrinkReport() { notes.append(note) }
            return true
        }
        // What the file gained since fstat: its chunks carry the file too, so that if a window
        // before them lost its pages they are dropped with it (no lines after a hole).
        return pumpRead(fd: fd, name: name, from: size, framer: &framer, notes: &notes, sender: sender, interrupt: interrupt, origin: file)
    }

    /// Reads `fd` from `offset` to its end through the framer.
    private func pumpRead(fd: Int32, name: String, from offset: Int, framer: inout LineFramer,
                          notes: inout [SluiceError], sender: InputChunkSender,
                          interrupt: Interrupt, origin: MappedFile? = nil) -> Bool {
        if lseek(fd, off_t(offset), SEEK_SET) < 0 {
            notes.append(SluiceError(.input, place: name, "read error: \(SluiceError.systemReason(errno))"))
            return true
        }
        var plain = PlainSource(fd: fd, name: name, prefix: [], interrupt: interrupt)
        return pump(&plain, framer: &framer, notes: &notes, sender: sender, origin: origin)
    }

    /// Frames one source into the channel (its chunks marked as `origin`'s, when given).
    /// Returns false if the channel was cancelled. At a stop, returns true after the last
    /// complete line.
    private func pump(_ source: inout some ByteSource, framer: inout LineFramer,
                      notes: inout [SluiceError], sender: InputChunkSender, origin: MappedFile? = nil) -> Bool {
        var lastConsumed = 0
        while true {
            let (bytes, ended, failure) = framer.nextChunk(from: &source)
            if let failure, failure.code != .interrupted { notes.append(failure) }
            let consumed = source.consumedByteCount
            if !bytes.isEmpty || !notes.isEmpty || consumed != lastConsumed {
                var chunk = LineChunk(bytes: bytes, notes: notes, inputByteCount: consumed - lastConsumed)
                chunk.origin = origin
                chunk.nulAfterEnd = framer.nulInPartialLine
                notes = []
                lastConsumed = consumed
                if !sender.send(chunk) { return false }
            }
            if ended || sender.skipped { return true }
        }
    }
}

/// Inputs a consumer is done with: the reader skips the rest of any input whose index is
/// below `value` (`-m` reached in it, `-l` answered).
public final class InputSkip: Sendable {
    private let below = Atomic<Int>(0)
    /// The reading thread's interrupt, woken by a skip when it waits on a pipe.
    private let readers = Locked<[Interrupt]>([])
    public init() {}

    func attach(_ interrupt: Interrupt) {
        readers.withLock { $0.append(interrupt) }
    }

    func detach(_ interrupt: Interrupt) {
        readers.withLock { $0.removeAll { $0 === interrupt } }
    }

    public var value: Int { below.load(ordering: .acquiring) }
    /// Done with every input up to and including `input`.
    public func skip(through input: Int) {
        var current = below.load(ordering: .relaxed)
        while current <= input {
            let (exchanged, original) = below.compareExchange(expected: current, desired: input + 1, ordering: .acquiringAndReleasing)
            if exchanged {
                for reader in readers.withLock({ $0 }) { reader.skipInputs(below: input + 1) }
                return
            }
            current = original
        }
    }
}

/// Sends one input's chunks on the reading thread, tagging each with its input (and the first
/// one `startsInput`, the line number of its first line when counting). Used by one thread.
final class InputChunkSender {
    let channel: BoundedChannel<LineChunk>
    let input: Int
    let marks: Bool
    let numbersLines: Bool
    let skip: InputSkip
    private(set) var sentAny = false
    /// The input could not be opened or read at all (marked on its first chunk).
    var unreadable = false
    /// Called after each chunk is handed on (follow mode's backlog: the followed name is looked
    /// at while a rotated file is read whole).
    var afterSend: (() -> Void)?
    private var nextLine = 1
    /// The offset of the next byte sent, in the input's bytes as read.
    private var nextOffset = 0
    /// Bytes still to drop before the first one sent (a resumed input).
    private var toSkip = 0

    /// `resume`: the bytes before its offset are dropped. `offsetBase`: added to every offset
    /// handed on (a followed file's serial, `FileGenerations`); `continuing`: the reading
    /// starts at that point of the file (a followed file sought there), nothing dropped.
    init(channel: BoundedChannel<LineChunk>, input: Int, marks: Bool, numbersLines: Bool, skip: InputSkip,
         resume: ResumePoint? = nil, offsetBase: Int = 0, continuing: ResumePoint? = nil) {
        self.channel = channel
        self.input = input
        self.marks = marks
        self.numbersLines = numbersLines
        self.skip = skip
        nextOffset = offsetBase
        if let resume {
            toSkip = resume.offset
            nextOffset += resume.offset
            nextLine = resume.lines + 1
        } else if let continuing {
            nextOffset += continuing.offset
            nextLine = continuing.lines + 1
        }
    }

    /// Whether the input starts at a checkpoint (`--resume`).
    var resumes: Bool { toSkip > 0 }

    /// The input is read from `offset`, past `lines` lines (`SinceSeek`); no line sent yet.
    func skipTo(offset: Int, lines: Int) {
        nextOffset += offset
        nextLine += lines
    }

    /// The consumer is done with this input: read no more of it.
    var skipped: Bool { skip.value > input }

    /// False if the channel was cancelled.
    func send(_ chunk: LineChunk) -> Bool {
        var chunk = chunk
        if toSkip > 0 && !chunk.isEmpty {
            let dropped = Swift.min(toSkip, chunk.byteCount)
            chunk = chunk.droppingFirst(dropped)
            toSkip -= dropped
        }
        chunk.input = input
        chunk.inputOffset = nextOffset
        nextOffset += chunk.byteCount
        if !sentAny {
            sentAny = true
            chunk.startsInput = marks
            chunk.inputUnreadable = unreadable
        }
        if numbersLines {
            chunk.firstLine = nextLine
            let lines = chunk.lineCount
            chunk.knownLineCount = lines
            nextLine += lines
        }
        guard channel.sendBlocking(chunk) else { return false }
        afterSend?()
        return true
    }
}

/// Where a resumed input starts: just past the lines a checkpoint committed (`offset` bytes of
/// the input as read, holding `lines` lines).
public struct ResumePoint: Sendable, Equatable {
    public var offset: Int
    public var lines: Int
    /// A followed input's checkpoint as stored: the reader looks for the file it names (at
    /// the name, or renamed by a rotation while sluice was down) and goes on in it.
    public var followed: Checkpoint?

    public init(offset: Int, lines: Int, followed: Checkpoint? = nil) {
        self.offset = offset
        self.lines = lines
        self.followed = followed
    }
}

/// Whether a run's mapped windows may be wide (`ChunkSource.mappedWindowLimit`): the workers
/// copy what they hand on out of a window (the selected lines, a map's output), so the memory
/// that copies hold grows with the window where many lines are selected (`-v`, a `--map`, an
/// export of most lines: 2 MiB windows took `-e INFO -b 5000 -O {n}.log.gz` on 1 GB from 49 to
/// 65 MiB peak RSS, `-v -e ERROR` from 33 to 58). Windows are wide while the workers hand on
/// at most an eighth of what they read, over the last 4 to 8 MiB they read (the counts are
/// halved each time 8 MiB is reached, so a part of a file where most lines are selected
/// narrows the windows within a few MiB); a wide window's copies then hold less than a
/// 512 KiB window's whole copy would.
public final class MappedWindowFeedback: Sendable {
    private let counts = Locked((read: 0, handedOn: 0))

    public init() {}

    /// A worker read `read` bytes of a window and handed on `handedOn` bytes.
    func record(read bytes: Int, handedOn output: Int) {
        counts.withLock { counts in
            counts.read += bytes
            counts.handedOn += output
            if counts.read >= 8 << 20 {
                counts.read /= 2
                counts.handedOn /= 2
            }
        }
    }

    var wideWindowsPay: Bool {
        counts.withLock { $0.read >= 4 << 20 && $0.handedOn <= $0.read / 8 }
    }
}
