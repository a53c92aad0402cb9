import Glibc
import Synchronization

/// How far an output has committed one input: the offset just past the last line committed
/// (in the input's bytes as read, after decompression) and the number of lines up to there,
/// with what identifies the file (device and inode when it was read, and a fingerprint of its
/// first bytes as stored). The database sinks keep one per input in `sluice_checkpoints`, in
/// the transaction of the batch they describe; `--resume` starts each input after its own.
///
/// The identity decides whether a checkpoint still speaks for the file at that name: the
/// first `fingerprintLength` bytes must hash as they did (a log rotated or rewritten since
/// then starts again from its first line); device and inode are recorded for finding a
/// rotated file by them (follow mode).
public struct Checkpoint: Sendable, Equatable {
    /// The input's absolute path when it was read (`CheckpointSource.key`).
    public var key: String
    public var offset: Int
    public var lines: Int
    public var device: UInt64
    public var inode: UInt64
    /// FNV-1a (64 bits, hex) of the first `fingerprintLength` bytes of the file as stored.
    public var fingerprint: String
    public var fingerprintLength: Int

    public init(key: String, offset: Int, lines: Int, device: UInt64, inode: UInt64, fingerprint: String, fingerprintLength: Int) {
        self.key = key
        self.offset = offset
        self.lines = lines
        self.device = device
        self.inode = inode
        self.fingerprint = fingerprint
        self.fingerprintLength = fingerprintLength
    }
}

/// One input of a run as its checkpoints name it (named files only: standard input has no
/// place to resume from).
public struct CheckpointSource: Sendable {
    /// The input's index in the run.
    public var index: Int
    /// The name as given (a database row's `source`; `FileName.escapedDescription`).
    public var name: String
    /// The name as the system knows it (what is opened).
    public var file: FileName
    /// The absolute path, the key of its checkpoint: the same file named from another folder
    /// is the same input.
    public var key: String
    public var device: UInt64
    public var inode: UInt64
    public var fingerprint: String
    public var fingerprintLength: Int
    /// `--follow`: the files the name has held since the run began; a checkpoint names the
    /// one its line came from (`checkpoint(end:lines:)`).
    public var generations: FileGenerations?

    /// Bytes of a file's start its fingerprint covers.
    static let fingerprintBytes = 1024

    /// The named files among `inputs`, as they are now (a file that cannot be opened has no
    /// source: it is reported when it is read). Followed (`generations`): every named file,
    /// also one that does not exist yet (it is waited for, and its lines are checkpointed).
    public static func of(_ inputs: [InputName], generations: FileGenerations? = nil) -> [CheckpointSource] {
        inputs.enumerated().compactMap { index, input in
            guard case .path(let path) = input else { return nil }
            guard var source = CheckpointSource(index: index, path: path) ?? generations.map({ _ in CheckpointSource(missing: path, index: index) }) else {
                return nil
            }
            source.generations = generations
            return source
        }
    }

    /// A followed name that holds no regular file yet.
    private init(missing path: FileName, index: Int) {
        self.index = index
        file = path
        name = path.escapedDescription
        key = Self.absolute(path.escapedDescription)
        device = 0
        inode = 0
        fingerprint = ""
        fingerprintLength = 0
    }

    /// The checkpoint after a line of this input that ends at `end` (as `LinePositions` holds
    /// it) and is line `lines` of its file: of the file the run found at the name, or, followed,
    /// of the file the line was read from.
    public func checkpoint(end: Int, lines: Int) -> Checkpoint {
        let (serial, offset) = FileGenerations.split(end)
        if serial > 0, let stamp = generations?.stamp(input: index, serial: serial) {
            return Checkpoint(key: key, offset: offset, lines: lines, device: stamp.device, inode: stamp.inode,
                              fingerprint: stamp.fingerprint, fingerprintLength: stamp.fingerprintLength)
        }
        return Checkpoint(key: key, offset: offset, lines: lines, device: device, inode: inode,
                          fingerprint: fingerprint, fingerprintLength: fingerprintLength)
    }

    /// A checkpoint after the line that ends at `end` is committed: the files the name held
    /// before that line's are never asked for again.
    public func committed(end: Int) {
        let serial = FileGenerations.split(end).serial
        if serial > 1 { generations?.forget(input: index, below: serial) }
    }

    /// A file named twice (`app.log ./app.log`, or two links to one file) would have two
    /// checkpoints that each move the other: refused before anything is read.
    public static func refuseDuplicates(_ sources: [CheckpointSource]) throws {
        var seen: [String: String] = [:]
        for source in sources {
            let identity = source.inode == 0 ? source.key : "\(source.device):\(source.inode)"  // not there yet (followed)
            if let first = seen[source.key] ?? seen[identity] {
                throw SluiceError(.usage, place: source.name, "names the same file as \(first): a file has one checkpoint, name it once")
            }
            seen[source.key] = source.name
            seen[identity] = source.name
        }
    }

    init?(index: Int, path: FileName) {
        let fd = path.withCString { open($0, O_RDONLY | O_CLOEXEC | O_NONBLOCK) }
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        let (hash, length) = Self.fingerprint(fd: fd, length: Self.fingerprintBytes)
        self.index = index
        file = path
        name = path.escapedDescription
        key = Self.absolute(path.escapedDescription)
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        fingerprint = hash
        fingerprintLength = length
    }

    /// What tells this file from another that had its name or its inode (a log rotated, or
    /// truncated and written again): `DEVICE.INODE.HASH`, the hash (FNV-1a, 32 bits shown) of
    /// its first line, or first KiB (a first line not yet ended hashes what is written of it).
    /// Unlike `fingerprint`, it does not change as the file grows past its first line.
    package var identity: String {
        let fd = file.withCString { open($0, O_RDONLY | O_CLOEXEC | O_NONBLOCK) }
        var first: [UInt8] = []
        if fd >= 0 {
            var bytes = [UInt8](repeating: 0, count: Self.fingerprintBytes)
            let count = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, 0) }
            close(fd)
            if count > 0 {
                first = Array(bytes[..<count])
                if let newline = first.firstIndex(of: 0x0A) { first = Array(first[...newline]) }
            }
        }
        return "\(device).\(inode).\(Self.hash(first[...]).prefix(8))"
    }

    /// FNV-1a over the first `length` bytes of `fd` (fewer if the file is shorter): the hash
    /// in hex and the bytes it covers.
    static func fingerprint(fd: Int32, length: Int) -> (String, Int) {
        var bytes = [UInt8](repeating: 0, count: length)
        var count = 0
        while count < length {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + count, length - count, off_t(count)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            count += n
        }
        return (hash(bytes[..<count]), count)
    }

    /// FNV-1a (64 bits) of `bytes`, in hex.
    static func hash(_ bytes: some Sequence<UInt8>) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// `path` from the root, its `.`, `..` and repeated `/` taken out as text, without
    /// resolving links (a `current.log` link re-pointed is another file, which its fingerprint
    /// tells): `./app.log` and `app.log` are one key.
    static func absolute(_ path: String) -> String {
        var full = path
        if !path.hasPrefix("/") {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            if getcwd(&buffer, buffer.count) != nil {
                full = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/" + path
            }
        }
        var parts: [Substring] = []
        for part in full.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// Where each of `sources` resumes among `checkpoints` (one output's): the checkpoint of
    /// its own path, or else one written under another name for this very file (the same
    /// device and inode, its first bytes unchanged: renamed by a rotation, `app.log` now
    /// `app.log.1`). A checkpoint that no longer speaks for its file gives no point: the file
    /// is read from its first line. Also returns the warnings to report.
    package static func resumePoints(for sources: [CheckpointSource], from checkpoints: [Checkpoint]) -> ([Int: ResumePoint], [SluiceError]) {
        var byKey: [String: Checkpoint] = [:]
        for checkpoint in checkpoints { byKey[checkpoint.key] = checkpoint }
        var points: [Int: ResumePoint] = [:]
        var notes: [SluiceError] = []
        for source in sources {
            if source.generations != nil {
                // Followed: the reader finds the file the checkpoint names, at the name or
                // among its rotated siblings (`FollowedFile.resume`).
                if let checkpoint = byKey[source.key], checkpoint.offset > 0, checkpoint.fingerprintLength > 0 {  // not the row a database sink starts with
                    points[source.index] = ResumePoint(offset: checkpoint.offset, lines: checkpoint.lines, followed: checkpoint)
                }
                continue
            }
            var found = byKey[source.key].flatMap { source.resumePoint(after: $0) }
            if found == nil {
                for checkpoint in checkpoints where checkpoint.key != source.key
                    && checkpoint.device == source.device && checkpoint.inode == source.inode {
                    if let point = source.resumePoint(after: checkpoint) { found = point; break }
                }
            }
            guard let (point, note) = found else { continue }
            points[source.index] = point
            if let note { notes.append(note) }
        }
        return (points, notes)
    }

    /// Where this input resumes after `checkpoint`: nil when the checkpoint speaks for
    /// another file (its first bytes changed: rotated, replaced or rewritten) or one that
    /// has become shorter than the offset (truncated in place, as copytruncate does).
    ///
    /// A file whose last line had no newline when it was committed, and that has grown since
    /// (a writer caught in mid-line), goes on after that line's rest: the row already holds its
    /// start, and the rest of it is not made a line of its own. The note says so.
    func resumePoint(after checkpoint: Checkpoint) -> (ResumePoint, SluiceError?)? {
        let fd = file.withCString { open($0, O_RDONLY | O_CLOEXEC | O_NONBLOCK) }
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return Self.resumePoint(after: checkpoint, fd: fd, name: name)
    }

    /// `resumePoint(after:)` in the file open on `fd`, named `name` in the note.
    static func resumePoint(after checkpoint: Checkpoint, fd: Int32, name: String) -> (ResumePoint, SluiceError?)? {
        guard checkpoint.offset > 0, checkpoint.fingerprintLength > 0 else { return nil }
        let (hash, length) = Self.fingerprint(fd: fd, length: checkpoint.fingerprintLength)
        guard length == checkpoint.fingerprintLength, hash == checkpoint.fingerprint else { return nil }
        // A plain file: the byte before the offset ends a line, and the file reaches it.
        var header = [UInt8](repeating: 0, count: 6)
        let headerCount = header.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, 6, 0) }
        if headerCount >= 0, CompressedFormat(prefix: Array(header[..<headerCount])) == nil,
           !(headerCount >= 2 && header[0] == 0x1F && header[1] == 0x8B) {
            var info = stat()
            guard fstat(fd, &info) == 0 else { return nil }
            if Int(info.st_size) == checkpoint.offset - 1 {
                // The last line had no newline (the reader gave it one) and the file has not
                // grown since: it is all committed.
                return (ResumePoint(offset: checkpoint.offset, lines: checkpoint.lines), nil)
            }
            var here: UInt8 = 0
            guard pread(fd, &here, 1, off_t(checkpoint.offset - 1)) == 1 else { return nil }
            if here != 0x0A {
                // Grown after a last line without a newline (the reader had given it one at
                // offset - 1): go on after the rest of that line.
                guard let end = Self.nextNewline(fd: fd, from: checkpoint.offset - 1) else {
                    return (ResumePoint(offset: Int(info.st_size) + 1, lines: checkpoint.lines), nil)  // still no newline: nothing new yet
                }
                let note = SluiceError(.warning, place: name, "line \(checkpoint.lines) had no newline when it was committed and has grown since: its rest (\(end + 1 - (checkpoint.offset - 1)) bytes) is not exported")
                return (ResumePoint(offset: end + 1, lines: checkpoint.lines), note)
            }
        }
        return (ResumePoint(offset: checkpoint.offset, lines: checkpoint.lines), nil)
    }

    /// The offset of the first newline in `fd` at or after `offset`.
    static func nextNewline(fd: Int32, from offset: Int) -> Int? {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var position = offset
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, off_t(position)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            if let hit = buffer[..<n].firstIndex(of: 0x0A) { return position + hit }
            position += n
        }
    }
}

/// The files a followed name has held (`--follow`), so that a checkpoint names the one its lines
/// came from. The reader numbers an input's files from 1 (`serial`: a file that took the name,
/// or the same file truncated and written again) and records each one's identity here; the
/// offsets it hands on carry the serial above bit 40 (`offsetBase(serial:)`), which a sink turns
/// back into the file and the offset in it (`CheckpointSource.checkpoint(end:lines:)`). Serial
/// 0 is the file as the run found it, and every input that is not followed.
///
/// Shared by the reading thread (records) and the sink (looks up, and forgets an input's older
/// files once a later one's line is committed: lines come in order). Bound: the files whose
/// lines are between the reader and the last commit, at most `limitPerInput` an input. A file's
/// offsets must stay below 2^40 (1 TiB) for its serial to survive.
public final class FileGenerations: Sendable {
    struct Stamp: Sendable, Equatable {
        var device: UInt64
        var inode: UInt64
        var fingerprint: String
        var fingerprintLength: Int
    }

    private struct Key: Hashable {
        var input: Int
        var serial: Int
    }

    private let stamps = Mutex<[Key: Stamp]>([:])

    /// A file's offsets stay below 2^40 (1 TiB).
    static let serialShift = 40

    public init() {}

    static func offsetBase(serial: Int) -> Int { serial << serialShift }

    package static func split(_ end: Int) -> (serial: Int, offset: Int) {
        (end >> serialShift, end & ((1 << serialShift) - 1))
    }

    /// Files of one input remembered at most: an input none of whose lines is selected never
    /// commits, so nothing forgets its files; the oldest go first (4096 rotations behind the
    /// reader, no line of them can still be on its way to a sink).
    static let limitPerInput = 4096

    func record(input: Int, serial: Int, stamp: Stamp) {
        stamps.withLock { table in
            table[Key(input: input, serial: serial)] = stamp
            if serial > Self.limitPerInput { table[Key(input: input, serial: serial - Self.limitPerInput)] = nil }
        }
    }

    func stamp(input: Int, serial: Int) -> Stamp? {
        stamps.withLock { $0[Key(input: input, serial: serial)] }
    }

    func forget(input: Int, below serial: Int) {
        stamps.withLock { table in
            for key in table.keys where key.input == input && key.serial < serial { table[key] = nil }
        }
    }

    /// How many files are remembered (tests: the bound).
    var count: Int { stamps.withLock { $0.count } }
}
