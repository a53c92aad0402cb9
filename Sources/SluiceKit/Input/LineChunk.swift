import CSluiceSearch
import CSluiceMappedFile
import Glibc
import Synchronization

/// The unit that flows between stages: one owned buffer of whole lines.
///
/// Every line in `bytes` ends with `\n` (the framer terminates a last line that had none,
/// as grep does on output), so a chunk can be written out or searched as one block. The one
/// exception is an `--exec` command's output, written byte for byte: see `endsWithoutNewline`.
/// `notes` carries diagnostics (a damaged gzip stream, an unreadable file) that belong
/// after these lines: the sink reports them once the lines before them are written.
public struct LineChunk: Sendable {
    /// Where the bytes live: an owned array, or a window of a mapped file (read without a
    /// copy; see `MappedWindow`).
    enum Storage: Sendable {
        case owned([UInt8])
        case mapped(MappedWindow)
    }

    /// The buffer the lines live in; the chunk is `storage[range]`, so cutting a chunk in two
    /// (a batch boundary) shares the buffer instead of copying it.
    private var storage: Storage
    private var range: Range<Int>
    /// The number of lines in the chunk, when a stage has counted them.
    public var knownLineCount: Int?
    /// Diagnostics to report after this chunk's lines are written.
    public var notes: [SluiceError]
    /// Input bytes (before decompression) this chunk accounts for, for `--stats`.
    public var inputByteCount: Int
    /// The mapped file the lines were read from, after they were copied out of it; with
    /// `lostPages` when they were dropped because the file shrank under them (`LossGuard`).
    var origin: MappedFile?
    var lostPages = false
    /// The last line had no `\n` where it came from (an `--exec` command's output, which is
    /// passed on byte for byte). The buffer still ends with one, so the line is framed like the
    /// others (it counts as a line for `-m`, `-c`, `--stats`, and a cut keeps it whole), but
    /// sinks write the bytes without it (`withWrittenBytes`). Steps that read lines make new
    /// chunks without this mark: what they write is lines, newline-terminated.
    public var endsWithoutNewline = false
    /// `--follow --record`: the followed input has gone quiet (no byte for `quietSpell`): the
    /// record held open at its end ends here (an empty chunk; the record framer takes it).
    var endsRecord = false
    /// The input (its index among the run's inputs) these lines came from: a chunk never
    /// holds lines of two inputs.
    public var input = 0
    /// The number (from 1) of the chunk's first line in its input; 0 when lines are not
    /// numbered (`ChunkSource.numbersLines`).
    public var firstLine = 0
    /// The first chunk of its input (possibly empty), when the reader marks inputs.
    public var startsInput = false
    /// The input could not be opened or read at all (on its first chunk).
    public var inputUnreadable = false
    /// A stop (SIGINT/SIGTERM) ended the input before its end: no per-input summary (`-c`,
    /// `-L`) may speak for it, as grep, killed there, prints none.
    public var inputCutShort = false
    /// The grep stage's selected lines in this chunk, when its output lines are not those
    /// lines one for one (`-o`: a line gives a line per match, or none), with the byte offset
    /// where each one's output ends (so `-m` can cut after a selected line).
    public var selectionEnds: [Int]?
    /// Context output (`-A/-B/-C`): the starts of the chunk's selected lines (the chunk itself
    /// passes whole, for `ContextLines` to write them with the lines around them).
    public var selectedStarts: [Int]?
    /// With `selectedStarts` from `GrepLineSelector`: each selected line's index among the
    /// chunk's lines (from 0), counted by the worker so the sequential context stage need not
    /// count the chunk's newlines again.
    var selectedLineIndices: [Int]?
    /// Context output with `--record`: the starts of the selected records' lines that matched
    /// (written with `:`, the record's other lines with `-`); nil when every line of a
    /// selected record is marked (`-v`, or no pattern).
    public var markedStarts: [Int]?
    /// The binary-file rule (`BinaryFileGate`): the input chunk held a NUL byte, so the lines
    /// from grep's buffer holding it on are binary; this chunk's output holds only the lines
    /// before them, and `binaryTailSelects` says whether any of the others was selected.
    var holdsNul = false
    /// grep's `-I` (`BinaryFiles.withoutMatch`): the input chunk held a NUL byte; this chunk's
    /// output holds only the lines before grep's buffer holding it, and the input ends here,
    /// counted as having no selected line (unless `-l`, `-L` or `-m` was done with it first).
    var binaryEndsInput = false
    /// `-m` on standard input: where each selected line ends in the input (`StandardInputResume`).
    var selectedInputEnds: [Int]?

    /// Where each line starts (every line selected: no grep stage).
    var lineStarts: [Int] {
        withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return [] }
            var starts: [Int] = []
            var position = 0
            while position < buffer.count {
                starts.append(position)
                position = lineEnd(base, from: position, count: buffer.count) + 1
            }
            return starts
        }
    }
    /// Set by the reader: the partial line after this chunk's end (in the same read or mapped
    /// window, sent with the next chunk) has a NUL byte this many bytes after the end.
    var nulAfterEnd: Int?
    /// The input's last line, which had no newline: the reader added it (grep's binary-file
    /// rule reads `a\0` at the end as one line, `a\0\n` as two).
    var newlineAdded = false
    var binaryTailSelects = false
    /// A selected line in a binary input's binary part: grep's `binary file matches` (an empty
    /// chunk with that note), counted as one selected line.
    var binaryMatch = false
    /// How many lines this output chunk selects (context output passes its chunk whole).
    var selectionCount: Int { selectedStarts?.count ?? selectionEnds?.count ?? selectedLineCount ?? lineCount }
    /// The selected lines this chunk's output stands for, when not one per output line.
    public var selectedLineCount: Int?
    /// Where the chunk's first byte is in its input's bytes as read (after decompression),
    /// set by the reader: a checkpoint's offset is counted in these.
    public var inputOffset = 0
    /// Per line of the chunk, where it came from (`RowSelector`): what a database row and a
    /// checkpoint need. Kept through every cut and gathering of lines (`split`, `appendLines`).
    public var positions: LinePositions?
    /// `--record`: the chunk holds records (a line that starts one and the lines continuing
    /// it), and counts them, not lines: where each record ends (just past its last newline),
    /// relative to the chunk's first byte. Cuts (`split`) fall between records only, so a
    /// batch, a `{n}` file, an `--exec` input and `-m` always take records whole.
    public var recordEnds: [Int]?
    /// `--record`: how a record starts in this chunk's input (set by `framedAsRecords`, read
    /// by the record selector).
    var recordStart: RecordStart?

    public init(bytes: [UInt8], lineCount: Int? = nil, notes: [SluiceError] = [], inputByteCount: Int = 0) {
        precondition(bytes.isEmpty || bytes.last == UInt8(ascii: "\n"), "a LineChunk holds whole lines")
        self.storage = .owned(bytes)
        self.range = 0..<bytes.count
        self.knownLineCount = lineCount
        self.notes = notes
        self.inputByteCount = inputByteCount
    }

    /// Bytes to be written as they are (an `--exec` command's output): a last line without
    /// `\n` is framed with one, marked so it is written without it (`endsWithoutNewline`).
    public init(bytesAsWritten bytes: [UInt8]) {
        if let last = bytes.last, last != UInt8(ascii: "\n") {
            self.init(bytes: bytes + [UInt8(ascii: "\n")])
            endsWithoutNewline = true
        } else {
            self.init(bytes: bytes)
        }
    }

    /// The lines `window[range]` of a mapped file, in place.
    init(window: MappedWindow, range: Range<Int>, inputByteCount: Int) {
        self.storage = .mapped(window)
        self.range = range
        self.knownLineCount = nil
        self.notes = []
        self.inputByteCount = inputByteCount
    }

    /// The lines as one array (a copy when the chunk is part of a larger buffer or mapped).
    public var bytes: [UInt8] {
        get {
            if case .owned(let array) = storage, range.count == array.count { return array }
            return withUnsafeBufferPointer { Array($0) }
        }
        set {
            precondition(newValue.isEmpty || newValue.last == UInt8(ascii: "\n"), "a LineChunk holds whole lines")
            storage = .owned(newValue)
            range = 0..<newValue.count
            endsWithoutNewline = false
        }
    }

    /// The bytes a sink writes: the chunk's bytes, less the newline framing a last line that
    /// had none (`endsWithoutNewline`).
    public var writtenByteCount: Int { endsWithoutNewline ? range.count - 1 : range.count }

    /// Calls `body` with the bytes a sink writes (see `writtenByteCount`), without copying.
    public func withWrittenBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes { all in
            try body(endsWithoutNewline ? UnsafeRawBufferPointer(rebasing: all.dropLast()) : all)
        }
    }

    /// The mapped window the bytes are read from, if they are not owned.
    var window: MappedWindow? {
        if case .mapped(let window) = storage { return window }
        return nil
    }

    /// The same lines in an owned buffer (the chunk itself when it already owns them).
    func owned() -> LineChunk {
        guard window != nil else { return self }
        var copy = self
        copy.storage = .owned(bytes)
        copy.range = 0..<range.count
        return copy
    }

    public var byteCount: Int { range.count }
    public var isEmpty: Bool { range.isEmpty }

    /// The same chunk in buffers of its own size, for a chunk held a long time (a database
    /// batch kept until the server has stored it): the buffers a stage appended lines to are
    /// up to twice their bytes, and a mapped window is larger than the lines taken from it.
    /// (ClickHouse, 100 MB of text, -j2, three interleaved runs: peak RSS 59.7-63.0 MiB
    /// without, 59.4-59.8 with; the copy is one memcpy of lines the encoder reads anyway.)
    package func compacted() -> LineChunk {
        var copy = self
        if case .owned(let array) = storage, array.capacity - range.count <= range.count / 8 {
        } else {
            copy.storage = .owned(withUnsafeBufferPointer { Array($0) })
            copy.range = 0..<range.count
        }
        copy.positions = positions?.compacted()
        copy.recordEnds = recordEnds.map(Self.tight)
        return copy
    }

    /// `array` itself, or a copy without its spare capacity when that is more than an eighth.
    static func tight<Element>(_ array: [Element]) -> [Element] {
        array.capacity - array.count <= array.count / 8 ? array : array.withUnsafeBufferPointer { Array($0) }
    }

    /// Calls `body` with the chunk's bytes, without copying.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        switch storage {
        case .owned(let array):
            return try array.withUnsafeBufferPointer { all in
                try body(UnsafeBufferPointer(rebasing: all[range]))
            }
        case .mapped(let window):
            return try withExtendedLifetime(window) {
                try body(UnsafeBufferPointer(start: window.base + range.lowerBound, count: range.count))
            }
        }
    }

    /// Calls `body` with the chunk's bytes as raw memory, without copying.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBufferPointer { try body(UnsafeRawBufferPointer($0)) }
    }

    /// Lets `body` rewrite the bytes in place (copying first only if the buffer is shared).
    public mutating func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<UInt8>) throws -> R) rethrows -> R {
        var array: [UInt8]
        if case .owned(let owned) = storage, range.count == owned.count {
            array = owned
        } else {
            array = bytes
        }
        storage = .owned([])  // the array's only reference: mutated in place
        defer {
            storage = .owned(array)
            range = 0..<array.count
        }
        return try array.withUnsafeMutableBufferPointer { try body($0) }
    }

    /// Appends the lines of `other` (its bytes and line count, not its notes), growing this
    /// chunk's buffer in place when it owns it alone (a copy first otherwise).
    mutating func appendLines(of other: LineChunk, lines: Int) {
        var array: [UInt8]
        if case .owned(let owned) = storage, range.count == owned.count {
            array = owned
        } else {
            array = bytes
        }
        storage = .owned([])  // the array's only reference: appended to in place
        let offset = array.count
        other.withUnsafeBufferPointer { array.append(contentsOf: $0) }
        knownLineCount = knownLineCount.map { $0 + lines }
        if recordEnds != nil || other.recordEnds != nil {
            // A side without record ends (none framed) counts each of its lines as one.
            let mine = recordEnds ?? lineEnds(in: array, upTo: offset)
            recordEnds = mine + (other.recordEnds ?? other.lineEnds()).map { $0 + offset }
        }
        if positions != nil || other.positions != nil {
            positions = (positions ?? LinePositions()).appending(other.positions ?? LinePositions())
        }
        storage = .owned(array)
        range = 0..<array.count
    }

    /// The chunk cut after its first `lines` lines (notes stay with the second part). Shares
    /// the buffer; only the newlines up to the cut are scanned.
    public func split(afterLines lines: Int) -> (LineChunk, LineChunk) {
        let cut = byteOffset(afterLines: lines)
        var head = self
        head.range = range.lowerBound..<(range.lowerBound + cut)
        head.knownLineCount = lines
        head.notes = []
        head.inputByteCount = 0
        head.endsWithoutNewline = endsWithoutNewline && head.range.upperBound == range.upperBound
        var tail = self
        tail.range = (range.lowerBound + cut)..<range.upperBound
        tail.knownLineCount = knownLineCount.map { $0 - lines }
        if let positions { (head.positions, tail.positions) = positions.split(at: lines) }
        if let recordEnds { (head.recordEnds, tail.recordEnds) = Self.split(recordEnds, at: lines, cut: cut) }
        return (head, tail)
    }

    /// Where the chunk's first `lines` lines (records, with `recordEnds`) end.
    public func byteOffset(afterLines lines: Int) -> Int {
        guard lines > 0 else { return 0 }
        if let recordEnds { return recordEnds[Swift.min(lines, recordEnds.count) - 1] }
        var cut = 0
        withUnsafeBufferPointer { buffer in
            let base = buffer.baseAddress!
            for _ in 0..<lines { cut = lineEnd(base, from: cut, count: buffer.count) + 1 }
        }
        return cut
    }

    /// Record ends cut after the first `records` (which end at byte `cut`): the head's, and the
    /// tail's relative to its own start.
    static func split(_ ends: [Int], at records: Int, cut: Int) -> ([Int], [Int]) {
        let count = Swift.min(records, ends.count)
        return (Array(ends[..<count]), ends[count...].map { $0 - cut })
    }

    /// The chunk cut after its last line that ends within its first `bytes` bytes (at least
    /// one line, however long), with the number of lines in the head. Shares the buffer; the
    /// head's newlines are counted, the tail's count is kept when it was known.
    public func split(atMostBytes bytes: Int) -> (head: LineChunk, tail: LineChunk, headLines: Int) {
        var cut = 0
        var lines = 0
        withUnsafeBufferPointer { buffer in
            let base = buffer.baseAddress!
            let limit = Swift.min(bytes, buffer.count)
            if let recordEnds {
                // Whole records: those ending within the bound, at least one.
                let fitting = recordEnds.prefix { $0 <= limit }.count
                lines = Swift.max(1, fitting)
                cut = recordEnds[lines - 1]
                return
            }
            if limit > 0, let hit = memrchr(base, 0x0A, limit) {
                cut = base.distance(to: hit.assumingMemoryBound(to: UInt8.self)) + 1
            } else {
                cut = lineEnd(base, from: 0, count: buffer.count) + 1  // one line longer than the bound
            }
            lines = sluice_count_newlines(base, cut)
        }
        var head = self
        head.range = range.lowerBound..<(range.lowerBound + cut)
        head.knownLineCount = lines
        head.notes = []
        head.inputByteCount = 0
        var tail = self
        tail.range = (range.lowerBound + cut)..<range.upperBound
        tail.knownLineCount = knownLineCount.map { $0 - lines }
        if let positions { (head.positions, tail.positions) = positions.split(at: lines) }
        if let recordEnds { (head.recordEnds, tail.recordEnds) = Self.split(recordEnds, at: lines, cut: cut) }
        return (head, tail, lines)
    }

    /// The chunk without its first `count` bytes, which end with a newline (a resumed input
    /// starts after the lines a checkpoint has committed). Shares the buffer.
    func droppingFirst(_ count: Int) -> LineChunk {
        var rest = self
        rest.range = Swift.min(range.lowerBound + count, range.upperBound)..<range.upperBound
        rest.knownLineCount = nil
        rest.recordEnds = nil
        rest.endsWithoutNewline = endsWithoutNewline && !rest.range.isEmpty
        return rest
    }

    /// The chunk cut at byte `offset` (a line start): the lines before and the lines from it,
    /// sharing the buffer; tags go to both, the notes to the second, line numbers and input
    /// offsets follow the cut.
    func cut(atByte offset: Int) -> (LineChunk, LineChunk) {
        var head = self
        var tail = self
        head.range = range.lowerBound..<(range.lowerBound + offset)
        tail.range = (range.lowerBound + offset)..<range.upperBound
        head.knownLineCount = nil
        tail.knownLineCount = nil
        head.notes = []
        head.inputByteCount = 0
        head.recordEnds = nil
        tail.recordEnds = nil
        tail.startsInput = false
        if firstLine > 0 {
            tail.firstLine = firstLine + withUnsafeBufferPointer { sluice_count_newlines($0.baseAddress, offset) }
        }
        tail.inputOffset = inputOffset + offset
        return (head, tail)
    }

    /// The lines were read from `file`'s mapping after it shrank: not all are its own.
    mutating func markLost(_ file: MappedFile) {
        lostPages = true
        origin = file
    }

    /// Where each line ends (just past its newline), relative to the chunk's start.
    func lineEnds() -> [Int] {
        withUnsafeBufferPointer { buffer in Self.lineEnds(buffer) }
    }

    private func lineEnds(in array: [UInt8], upTo count: Int) -> [Int] {
        array.withUnsafeBufferPointer { Self.lineEnds(UnsafeBufferPointer(rebasing: $0[..<count])) }
    }

    static func lineEnds(_ buffer: UnsafeBufferPointer<UInt8>) -> [Int] {
        guard let base = buffer.baseAddress else { return [] }
        var ends: [Int] = []
        var position = 0
        while position < buffer.count {
            position = lineEnd(base, from: position, count: buffer.count) + 1
            ends.append(position)
        }
        return ends
    }

    /// The number of lines, counting newlines if no stage has.
    public var lineCount: Int {
        if let knownLineCount { return knownLineCount }
        if let recordEnds { return recordEnds.count }
        return withUnsafeBufferPointer { sluice_count_newlines($0.baseAddress, $0.count) }
    }

    /// Each row a database or checkpointed output takes, without its newline: each record
    /// (`recordEnds`, its lines joined by their newlines), else each line.
    public func forEachRow(_ body: (UnsafeBufferPointer<UInt8>) throws -> Void) rethrows {
        guard let recordEnds else { return try forEachLine(body) }
        try withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            var start = 0
            for end in recordEnds {
                precondition(end > start, "a record holds at least a line")  // one row per position
                try body(UnsafeBufferPointer(start: base + start, count: end - 1 - start))
                start = end
            }
        }
    }

    /// Calls `body` with each line, newline excluded, in order.
    public func forEachLine(_ body: (UnsafeBufferPointer<UInt8>) throws -> Void) rethrows {
        try withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            var start = 0
            let count = buffer.count
            while start < count {
                let end = lineEnd(base, from: start, count: count)
                try body(UnsafeBufferPointer(start: base + start, count: end - start))
                start = end + 1
            }
        }
    }

    /// The lines as arrays, newline included (for tests and API users; not the hot path).
    public var lines: [[UInt8]] {
        var result: [[UInt8]] = []
        forEachLine { result.append(Array($0) + [UInt8(ascii: "\n")]) }
        return result
    }
}

/// The index of the first `\n` at or after `from` (there always is one in a chunk).
@inline(__always)
func lineEnd(_ base: UnsafePointer<UInt8>, from: Int, count: Int) -> Int {
    guard let hit = memchr(base + from, 0x0A, count - from) else { return count - 1 }
    return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
}

/// The line holding byte `at` (a match), found by searching back no further than `from` (a
/// line start): its first byte and its `\n`. What every matcher reports for a hit.
@inline(__always)
func line(holding at: Int, from: Int, in base: UnsafePointer<UInt8>, count: Int) -> (start: Int, newline: Int) {
    var start = from
    if at > from, let hit = memrchr(base + from, 0x0A, at - from) {
        start = base.distance(to: hit.assumingMemoryBound(to: UInt8.self)) + 1
    }
    return (start, lineEnd(base, from: at, count: count))
}

/// The index where the line holding byte `at` starts.
@inline(__always)
func lineStart(_ base: UnsafePointer<UInt8>, before at: Int) -> Int {
    guard at > 0, let hit = memrchr(base, 0x0A, at) else { return 0 }
    return base.distance(to: hit.assumingMemoryBound(to: UInt8.self)) + 1
}

/// A plain regular file being read through mapped windows: a descriptor of its own (a dup,
/// closed when the last window goes) to ask the file's size after a window was read.
final class MappedFile: Sendable {
    let fd: Int32
    /// The file's name, for the error when it shrank.
    let name: String
    private let shrinkReported = Atomic<Bool>(false)

    init?(fd: Int32, name: String) {
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard copy >= 0 else { return nil }
        self.fd = copy
        self.name = name
    }

    deinit { close(fd) }

    /// The error for a file that shrank while read, the first time it is asked for (the reader
    /// and several workers may each notice); nil after that.
    func shrinkReport() -> SluiceError? {
        guard !shrinkReported.exchange(true, ordering: .relaxed) else { return nil }
        return SluiceError(.input, place: name, MappedWindow.shrankMessage)
    }

    /// The file's size now (0 if it cannot be known).
    var size: Int {
        var info = stat()
        return fstat(fd, &info) == 0 ? Int(info.st_size) : 0
    }
}

/// A read-only window of a regular file mapped into memory, shared by the chunks cut from it
/// and unmapped when the last of them goes.
///
/// If the file shrinks while mapped (`logrotate copytruncate`), reading the pages it lost
/// gives zeros instead of SIGBUS and marks the window (`faulted`); the page holding the new
/// end raises nothing and its tail reads as zeros, so the file's size is checked as well.
/// Whoever reads a window checks `isIntact` afterwards and discards what it read if not.
final class MappedWindow: @unchecked Sendable {
    // `@unchecked`: the mapping is read-only and immutable; the fault mark is atomic in C.
    let base: UnsafePointer<UInt8>
    let length: Int
    let offset: Int
    let file: MappedFile
    private let slot: Int32

    /// Maps `length` bytes of `file` from `offset`; nil if that fails (read instead).
    init?(file: MappedFile, offset: Int, length: Int) {
        var slot: Int32 = -1
        guard length > 0, let data = sluice_map_window(file.fd, off_t(offset), length, &slot) else { return nil }
        base = data.assumingMemoryBound(to: UInt8.self)
        self.length = length
        self.offset = offset
        self.file = file
        self.slot = slot
    }

    deinit { sluice_unmap_window(base, length, slot) }

    var name: String { file.name }

    /// Whether everything read from the window so far was the file's: no lost page was
    /// touched and the file still reaches the window's end.
    var isIntact: Bool {
        sluice_window_faulted(slot) == 0 && file.size >= offset + length
    }

    static let shrankMessage = "the file shrank while being read (truncated?): its lines from here on are lost"
}

extension AsyncSequence where Self: Sendable, Element == LineChunk {
    /// The chunks in order, except that once a chunk of a mapped file was dropped because the
    /// file shrank under it (`lostPages`), that file's later chunks are emptied too (their
    /// notes kept). Workers check their windows independently, so a later window may have
    /// been read intact before an earlier one lost its pages: without this, a truncated file
    /// could give lines after a hole. With it, it gives a prefix of its lines, then the error
    /// (with `--unordered`, chunks come in completion order: only those after the loss in that
    /// order are dropped, so there is no prefix to keep). A last line without a newline is
    /// held by the framer and may still follow.
    func lossGuarded() -> LossGuardedChunks<Self> { LossGuardedChunks(base: self) }
}

/// See `lossGuarded()`.
struct LossGuardedChunks<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == LineChunk {
    typealias Element = LineChunk
    let base: Base

    func makeAsyncIterator() -> Iterator { Iterator(base: base.makeAsyncIterator()) }

    struct Iterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        var lostFile: MappedFile?

        mutating func next() async throws -> LineChunk? {
            guard var chunk = try await base.next() else { return nil }
            guard let origin = chunk.origin else { return chunk }
            if chunk.lostPages {
                lostFile = origin
            } else if origin === lostFile {
                chunk = LineChunk(bytes: [], notes: chunk.notes, inputByteCount: chunk.inputByteCount)
            }
            return chunk
        }
    }
}

/// Where each line of a chunk came from: its input (the run's index), its number in that
/// input, and the offset just past it in the input's bytes as read. A checkpoint after a line
/// is (input, end, number); a database row stores the number. With `--record` a row is a
/// record: `numbers` holds its first line's number (the row's), `lastNumbers` its last line's
/// (the checkpoint's); `lastNumbers` is empty when every row is one line. Bound: two integers a
/// line of the chunk that carries it (three a record).
public struct LinePositions: Sendable, Equatable {
    public var inputs: [Int32] = []
    public var numbers: [Int] = []
    public var ends: [Int] = []
    public var lastNumbers: [Int] = []

    public init() {}

    public var count: Int { numbers.count }

    public mutating func append(input: Int, number: Int, end: Int) {
        inputs.append(Int32(input))
        numbers.append(number)
        ends.append(end)
    }

    /// A record's row: lines `number...lastNumber`, ending at `end`.
    mutating func append(input: Int, number: Int, lastNumber: Int, end: Int) {
        if lastNumbers.count < numbers.count { lastNumbers += numbers[lastNumbers.count...] }
        append(input: input, number: number, end: end)
        lastNumbers.append(lastNumber)
    }

    /// The same positions without the arrays' spare capacity (`LineChunk.compacted`).
    func compacted() -> LinePositions {
        var copy = self
        copy.inputs = LineChunk.tight(inputs)
        copy.numbers = LineChunk.tight(numbers)
        copy.ends = LineChunk.tight(ends)
        copy.lastNumbers = LineChunk.tight(lastNumbers)
        return copy
    }

    /// The number of the last line of row `index`: a checkpoint after the row holds it.
    public func lastNumber(_ index: Int) -> Int { lastNumbers.isEmpty ? numbers[index] : lastNumbers[index] }

    func appending(_ other: LinePositions) -> LinePositions {
        var joined = self
        if !lastNumbers.isEmpty || !other.lastNumbers.isEmpty {
            joined.lastNumbers = (lastNumbers.isEmpty ? numbers : lastNumbers) + (other.lastNumbers.isEmpty ? other.numbers : other.lastNumbers)
        }
        joined.inputs += other.inputs
        joined.numbers += other.numbers
        joined.ends += other.ends
        return joined
    }

    /// The first `lines` positions and the rest.
    func split(at lines: Int) -> (LinePositions, LinePositions) {
        let cut = Swift.min(lines, count)
        var head = LinePositions()
        head.inputs = Array(inputs[..<cut])
        head.numbers = Array(numbers[..<cut])
        head.ends = Array(ends[..<cut])
        var tail = LinePositions()
        tail.inputs = Array(inputs[cut...])
        tail.numbers = Array(numbers[cut...])
        tail.ends = Array(ends[cut...])
        if !lastNumbers.isEmpty {
            head.lastNumbers = Array(lastNumbers[..<cut])
            tail.lastNumbers = Array(lastNumbers[cut...])
        }
        return (head, tail)
    }
}
