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

    /// The regular file open on `fd`; nil for anything else (a pipe, a terminal, /dev/null)
    /// or a closed descriptor.
    public init?(regularFileOpenOn fd: Int32) {
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        self.init(info)
    }

    /// The regular file `path` names (symlinks followed); nil if there is none.
    public init?(regularFileAt path: String) {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
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
