import Glibc

/// A regular file as the kernel knows it: its device and inode, whatever name reaches it
/// (a symlink, a hard link, `/dev/stdin`). GNU grep compares these to refuse an input that is
/// also its output (`grep x s.log >> s.log` would read what it writes, without end).
public struct FileIdentity: Hashable, Sendable {
    public let device: UInt64
    public let inode: UInt64

    init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }

    /// The regular file open on `fd`; nil for anything else (a pipe, a terminal, /dev/null)
    /// or a closed descriptor.
    public init?(regularFileOpenOn fd: Int32) {
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        self.init(info)
    }

    /// The regular file `path` names (symlinks followed); nil if there is none.
    public init?(regularFileAt path: String) {
        self.init(regularFileAt: FileName(path))
    }

    /// The regular file `path` names, by its bytes (symlinks followed); nil if there is none.
    public init?(regularFileAt path: FileName) {
        var info = stat()
        guard path.withCString({ stat($0, &info) }) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        self.init(info)
    }

    /// The regular file an input names: stdin's descriptor for `-`.
    init?(input: InputName) {
        switch input {
        case .standardInput: self.init(regularFileOpenOn: 0)
        case .path(let path): self.init(regularFileAt: path)
        }
    }
}

extension SluiceError {
    /// grep's words for an input that is also the output.
    static func inputIsOutput(_ input: InputName) -> SluiceError {
        if case .path(let file) = input { return SluiceError(.input, file: file, "input file is also the output") }
        return SluiceError(.input, place: input.description, "input file is also the output")
    }
}

extension PipelineSpec {
    /// Throws `input file is also the output` for the first input that is one of `outputs`
    /// (the files an `-o` target replaces): refused before anything is read, so the file is
    /// left as it was.
    func refuseInputs(among outputs: [FileIdentity]) throws {
        guard !outputs.isEmpty else { return }
        for input in inputs.isEmpty ? [.standardInput] : inputs {
            if let identity = FileIdentity(input: input), outputs.contains(identity) {
                throw SluiceError.inputIsOutput(input)
            }
        }
    }

    /// The file stdout writes to that no input may be, as grep 3.8 decides: stdout is a
    /// regular file (not a pipe, a terminal or /dev/null), and lines are printed (not `-q`
    /// or `-c`, and `-m` allows more than one). Such an input is skipped with
    /// `input file is also the output` (exit 2) and the other inputs are read.
    func inputsMayNotBe(_ sink: any LineSink) -> FileIdentity? {
        // As grep: -q, -c, -l, -L and -m 0 or 1 write at most a name or a count (or one
        // line) per input, so reading the output cannot run away.
        guard !quiet, !countOnly, presentation.listFiles == nil, (maxCount ?? .max) > 1 else { return nil }
        return sink.appendedFile
    }
}
