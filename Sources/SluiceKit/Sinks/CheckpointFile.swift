import Glibc

/// `--checkpoint FILE` for a `{n}` output: after each `{n}` file is renamed into place, the
/// checkpoints of every input so far and the number of the next file, written atomically
/// (a temporary renamed over FILE). A text file a person can read:
///
///     sluice checkpoint 1
///     next-file 7
///     input OFFSET LINES DEVICE INODE FINGERPRINT FINGERPRINT_LENGTH PATH
///
/// (PATH last, with `\` and newlines written `\\` and `\n`.)
///
/// Exactly once across a kill: the file is renamed into place before the checkpoint is
/// written. A kill between the two leaves a checkpoint one file behind; `--resume` then
/// writes that file again, from the same lines cut at the same count, so the same bytes
/// replace it.
struct CheckpointFile: Sendable, Equatable {
    var nextFile = 1
    var checkpoints: [Checkpoint] = []

    static let header = "sluice checkpoint 1"

    /// The checkpoint at `path`; an empty one when there is no file yet.
    static func read(_ path: String) throws -> CheckpointFile {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return CheckpointFile() }
            throw SluiceError(.output, place: path, "cannot read the checkpoint: \(SluiceError.systemReason(errno))")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw SluiceError(.output, place: path, "cannot read the checkpoint: \(SluiceError.systemReason(errno))") }
            if n == 0 { break }
            bytes += buffer[..<n]
        }
        return try parse(bytes, path: path)
    }

    static func parse(_ bytes: [UInt8], path: String) throws -> CheckpointFile {
        var file = CheckpointFile()
        let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
        func malformed(_ line: Int) -> SluiceError {
            SluiceError(.output, place: "\(path):\(line)", "not a sluice checkpoint line (written by another version, or damaged)")
        }
        guard let first = lines.first, String(decoding: first, as: UTF8.self) == header else { throw malformed(1) }
        for (index, line) in lines.enumerated().dropFirst() {
            let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 7, omittingEmptySubsequences: false)
                .map { String(decoding: $0, as: UTF8.self) }
            switch fields.first {
            case "next-file":
                guard fields.count == 2, let next = Int(fields[1]), next >= 1 else { throw malformed(index + 1) }
                file.nextFile = next
            case "input":
                guard fields.count == 8, let offset = Int(fields[1]), let lines = Int(fields[2]),
                      let device = UInt64(fields[3]), let inode = UInt64(fields[4]), let length = Int(fields[6]) else {
                    throw malformed(index + 1)
                }
                file.checkpoints.append(Checkpoint(key: unescape(fields[7]), offset: offset, lines: lines, device: device,
                                                   inode: inode, fingerprint: fields[5], fingerprintLength: length))
            default:
                throw malformed(index + 1)
            }
        }
        return file
    }

    var text: String {
        var text = "\(Self.header)\nnext-file \(nextFile)\n"
        for point in checkpoints {
            text += "input \(point.offset) \(point.lines) \(point.device) \(point.inode) \(point.fingerprint) \(point.fingerprintLength) \(Self.escape(point.key))\n"
        }
        return text
    }

    /// Writes it over `path` atomically (a temporary in the same folder, renamed).
    func write(to path: String, interrupt: Interrupt) throws {
        let file = try AtomicFile(path: path, compression: nil, interrupt: interrupt)
        do {
            let bytes = Array(text.utf8)
            try bytes.withUnsafeBytes { try file.write($0, lines: 0) }
            try file.commit()
        } catch {
            file.discard()
            throw error
        }
    }

    static func escape(_ path: String) -> String {
        var out = ""
        for character in path {
            switch character {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }

    static func unescape(_ text: String) -> String {
        var out = ""
        var escaped = false
        for character in text {
            if escaped {
                out.append(character == "n" ? "\n" : character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else {
                out.append(character)
            }
        }
        return out
    }

    /// Where each of `sources` resumes, by input index, and the warnings to report.
    func resumePoints(for sources: [CheckpointSource]) -> ([Int: ResumePoint], [SluiceError]) {
        CheckpointSource.resumePoints(for: sources, from: checkpoints)
    }
}
