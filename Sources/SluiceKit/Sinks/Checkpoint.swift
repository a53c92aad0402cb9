import Glibc

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
public struct CheckpointSource: Sendable, Equatable {
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

    /// Bytes of a file's start its fingerprint covers.
    static let fingerprintBytes = 1024

    /// The named files among `inputs`, as they are now (a file that cannot be opened has no
    /// source: it is reported when it is read).
    public static func of(_ inputs: [InputName]) -> [CheckpointSource] {
        inputs.enumerated().compactMap { index, input in
            guard case .path(let path) = input else { return nil }
            return CheckpointSource(index: index, path: path)
        }
    }

    /// A file named twice (`app.log ./app.log`, or two links to one file) would have two
    /// checkpoints that each move the other: refused before anything is read.
    public static func refuseDuplicates(_ sources: [CheckpointSource]) throws {
        var seen: [String: String] = [:]
        for source in sources {
            let identity = "\(source.device):\(source.inode)"
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
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes[..<count] {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return (String(repeating: "0", count: 16 - hex.count) + hex, count)
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
        guard checkpoint.offset > 0, checkpoint.fingerprintLength > 0 else { return nil }
        let fd = file.withCString { open($0, O_RDONLY | O_CLOEXEC | O_NONBLOCK) }
        guard fd >= 0 else { return nil }
        defer { close(fd) }
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
