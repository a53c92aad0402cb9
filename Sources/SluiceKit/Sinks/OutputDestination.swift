import Glibc
import Synchronization

/// Where one output file's bytes go, decided as a shell redirect (`> NAME`) decides it,
/// except that a regular file is never half-written under its name (DESIGN.md §3):
///
/// - **Nothing there, or a regular file**: the bytes go to a hidden temporary file in the
///   same folder (`.NAME.sluice-PID-N.tmp`), renamed over the name once complete. An existing
///   file's mode, and its owner and group (as root; otherwise where the process may set them,
///   and without set-user/group-ID bits when it may not), are given to the temporary first, so
///   the replacement looks like the file it replaces. A file the process may not write is
///   refused (`Permission denied`), as the redirect refuses it.
/// - **A symlink** is followed, every hop (a relative one from its link's folder): its final
///   target is replaced, or created for a dangling link, in the target's folder, and the link
///   stays a link.
/// - **A device, a FIFO or a socket** is opened and written through: no temporary, and a
///   gzip name's stream goes straight through. Opening a FIFO waits for its reader, as the
///   shell's open does, but a stop request ends the wait (`open`). A Unix stream socket, which open(2) cannot open (the shell says
///   `No such device or address`), is connected to and written (as `socat - UNIX-CONNECT:`
///   would); a datagram socket is refused.
///
/// - **`/dev/stdout`, `/dev/stderr`, `/dev/fd/N`** (and `/proc/self/fd/N`) name a descriptor of
///   this process: it is duplicated and written through, as bash's redirect does, so a regular
///   file behind it is appended to where the shell left it, never replaced.
///
/// **Hard links: the rename breaks them.** The name gets a new file; the file's other names
/// keep the old bytes. A shell redirect truncates in place and so keeps the links, but then a
/// reader, a failure or a kill finds a half-written file under the name, and "no partial file
/// under a final name" takes priority. (`cp --remove-destination`, `sed -i` and `sort -o`
/// replace files the same way.)
public struct OutputDestination {
    enum Kind {
        /// Written to a temporary, renamed over `path`; `existing` is the file replaced.
        case replace(existing: stat?)
        /// `path` itself is opened and written.
        case writeThrough
        /// `path` is a Unix socket: connected to and written.
        case connect
        /// `path` names this descriptor of the process (`/dev/stdout`): duplicated, written.
        case descriptor(Int32)
    }

    /// The descriptor `name` stands for, as bash reads `/dev/stdout`, `/dev/stderr`, `/dev/fd/N`.
    static func ownDescriptor(_ name: String) -> Int32? {
        switch name {
        case "/dev/stdout": return 1
        case "/dev/stderr": return 2
        default:
            for prefix in ["/dev/fd/", "/proc/self/fd/"] where name.hasPrefix(prefix) {
                if let fd = Int32(name.dropFirst(prefix.count)), fd >= 0 { return fd }
            }
            return nil
        }
    }

    /// `name` is written through rather than replaced: a device, a FIFO, a socket, or a
    /// descriptor of this process (`/dev/stdout`).
    public static func isWrittenThrough(_ name: String) -> Bool {
        if ownDescriptor(name) != nil { return true }
        var info = stat()
        return stat(name, &info) == 0 && [S_IFIFO, S_IFCHR, S_IFSOCK].contains(info.st_mode & S_IFMT)
    }

    /// The name as given (messages name it).
    let name: String
    /// What is written or replaced: `name`, or a symlink's final target.
    let path: String
    let kind: Kind

    /// Numbers the temporary files of one process.
    private static let serial = Atomic<Int>(0)

    /// Decides how `name` is written (throws for a folder, a loop of links, a file that may
    /// not be written, or a name that cannot be looked up).
    init(name: String) throws {
        self.name = name
        var info = stat()
        if let fd = Self.ownDescriptor(name) {
            guard fstat(fd, &info) == 0 else {
                throw SluiceError(.output, place: name, "cannot write the output: \(SluiceError.systemReason(errno))")
            }
            path = name
            kind = .descriptor(fd)
        } else if stat(name, &info) == 0 {
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                throw SluiceError(.output, place: name, "cannot write the output: Is a directory")
            case S_IFREG:
                path = try Self.finalTarget(of: name)
                if faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) != 0 && errno == EACCES {
                    throw SluiceError(.output, place: name, "cannot write the output: \(SluiceError.systemReason(EACCES))")
                }
                kind = .replace(existing: info)
            case S_IFSOCK:
                path = name
                kind = .connect
            default:
                path = name
                kind = .writeThrough
            }
        } else if errno == ENOENT {
            path = try Self.finalTarget(of: name)  // nothing there, or a dangling symlink's target
            kind = .replace(existing: nil)
        } else {
            throw SluiceError(.output, place: name, "cannot create file: \(SluiceError.systemReason(errno))")
        }
    }

    /// Opens the FIFO at `path` for writing once it has a reader (see `open`). The descriptor
    /// stays non-blocking, as `nonBlocking` would make it.
    private func openFIFO(interrupt: Interrupt?) throws -> Int32 {
        while true {
            let fd = Glibc.open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
            if fd >= 0 { return fd }
            guard errno == ENXIO || errno == EINTR else {
                throw SluiceError(.output, place: name, "cannot open: \(SluiceError.systemReason(errno))")
            }
            if let interrupt, interrupt.isInterrupted {
                throw SluiceError(.interrupted, place: name, "stopped while waiting for a reader")
            }
            var wake = [pollfd(fd: interrupt?.wakeDescriptor ?? -1, events: Int16(POLLIN), revents: 0)]
            _ = poll(&wake, 1, 50)
        }
    }

    /// The regular file an existing target replaces (nil for a new file or a device).
    var replacedFile: FileIdentity? {
        if case .replace(let existing?) = kind { return FileIdentity(existing) }
        return nil
    }

    /// `fd` (a description this process opened itself, shared with no one) made non-blocking
    /// when a write to it may wait for a reader: its writes then go through `Interrupt.write`,
    /// which waits in poll(2), so an aborted sink is never held by a FIFO nobody reads (a FIFO
    /// refuses `RWF_NOWAIT`). A dup'd `/dev/stdout` shares fd 1's description and stays as it is.
    static func nonBlocking(_ fd: Int32) -> Int32 {
        if descriptorMayBlock(fd) { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        return fd
    }

    /// Opens the destination: the descriptor to write, and the temporary file's path (nil
    /// when written through). The temporary already has the replaced file's mode and owner.
    ///
    /// A FIFO waits for its reader, as the shell's open does, but where `interrupt` can end the
    /// wait (the shell's blocking open(2) would wait where no stop reaches it): a non-blocking
    /// open, retried every 50 ms while there is no reader (ENXIO), until `interrupt` is
    /// stopped or cancelled, which throws an `.interrupted` error.
    func open(interrupt: Interrupt? = nil) throws -> (fd: Int32, temporaryPath: String?) {
        switch kind {
        case .writeThrough:
            var info = stat()
            if stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFIFO {
                return (try openFIFO(interrupt: interrupt), nil)
            }
            var fd: Int32
            repeat { fd = Glibc.open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY) } while fd < 0 && errno == EINTR
            guard fd >= 0 else {
                throw SluiceError(.output, place: name, "cannot open: \(SluiceError.systemReason(errno))")
            }
            return (Self.nonBlocking(fd), nil)
        case .connect:
            return (Self.nonBlocking(try connectToSocket()), nil)
        case .descriptor(let own):
            let fd = fcntl(own, F_DUPFD_CLOEXEC, 3)
            guard fd >= 0 else {
                throw SluiceError(.output, place: name, "cannot write the output: \(SluiceError.systemReason(errno))")
            }
            return (fd, nil)
        case .replace(let existing):
            let slash = path.lastIndex(of: "/")
            let folder = slash.map { String(path[...$0]) } ?? ""
            let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
            let serial = Self.serial.add(1, ordering: .relaxed).newValue
            let temporaryPath = "\(folder).\(base).sluice-\(getpid())-\(serial).tmp"
            let fd = Glibc.open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            guard fd >= 0 else {
                throw SluiceError(.output, place: name, "cannot create file: \(SluiceError.systemReason(errno))")
            }
            if let existing, let failure = Self.copyOwnerAndMode(of: existing, to: fd) {
                close(fd)
                unlink(temporaryPath)
                throw SluiceError(.output, place: name, "cannot give the new file the old one's mode: \(SluiceError.systemReason(failure))")
            }
            return (fd, temporaryPath)
        }
    }

    /// A stream connection to the Unix socket at `path`.
    private func connectToSocket() throws -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw SluiceError(.output, place: name, "cannot connect: \(SluiceError.systemReason(ENAMETOOLONG))")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw SluiceError(.output, place: name, "cannot connect: \(SluiceError.systemReason(errno))")
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let reason = errno == EPROTOTYPE ? "not a stream socket (a datagram socket cannot take lines of any length)"
                : SluiceError.systemReason(errno)
            close(fd)
            throw SluiceError(.output, place: name, "cannot connect: \(reason)")
        }
        return fd
    }

    /// Gives `fd` the owner, group and mode of `existing`; returns the errno of a failed chmod.
    /// Owner first (a chown clears set-ID bits); when the owner cannot be kept (not root), the
    /// set-user/group-ID bits are dropped rather than given to another owner's file.
    private static func copyOwnerAndMode(of existing: stat, to fd: Int32) -> Int32? {
        var mode = existing.st_mode & 0o7777
        var current = stat()
        if fstat(fd, &current) == 0 && (current.st_uid != existing.st_uid || current.st_gid != existing.st_gid) {
            if fchown(fd, existing.st_uid, existing.st_gid) != 0 {
                mode &= ~(S_ISUID | S_ISGID)
            }
        }
        return fchmod(fd, mode) == 0 ? nil : errno
    }

    /// Follows `name` while it is a symlink (at most 40 hops, as the kernel does); returns the
    /// first name that is not one (which may not exist: a dangling link's target).
    static func finalTarget(of name: String) throws -> String {
        var current = name
        for _ in 0..<40 {
            var info = stat()
            guard lstat(current, &info) == 0, (info.st_mode & S_IFMT) == S_IFLNK else { return current }
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let count = readlink(current, &buffer, buffer.count - 1)
            guard count >= 0 else {
                throw SluiceError(.output, place: name, "cannot follow the symlink: \(SluiceError.systemReason(errno))")
            }
            let target = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if target.hasPrefix("/") {
                current = target
            } else {
                let folder = current.lastIndex(of: "/").map { String(current[...$0]) } ?? ""
                current = folder + target
            }
        }
        throw SluiceError(.output, place: name, "cannot create file: \(SluiceError.systemReason(ELOOP))")
    }
}
