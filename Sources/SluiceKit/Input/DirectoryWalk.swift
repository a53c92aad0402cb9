import Glibc

/// grep's `-r` and `-R`: the files under each folder operand, in the order grep visits them
/// (depth first, each folder's entries in the order the file system lists them, as fts does
/// without sorting), filtered by `--include`, `--exclude` and `--exclude-dir` (globs on the
/// base name, as fnmatch reads them). `-r` follows symbolic links named on the command line
/// only, and skips devices, FIFOs and sockets met while recursing; `-R` follows all links and
/// reads those too (grep's `-D read` default applies to them under `-R`).
public struct DirectoryWalk: Sendable {
    public var followAllLinks = false
    public var include: [String] = []
    public var exclude: [String] = []
    public var excludeDirectories: [String] = []

    public init() {}

    /// The inputs the operands stand for (no operand: the working folder, named without a
    /// `./` prefix, as grep names them), and the folders that could not be read.
    public func expand(_ operands: [String]) -> (inputs: [InputName], errors: [SluiceError]) {
        var inputs: [InputName] = []
        var errors: [SluiceError] = []
        if operands.isEmpty {
            var info = stat()
            var ancestors: [(UInt, UInt)] = stat(".", &info) == 0 ? [(UInt(info.st_dev), UInt(info.st_ino))] : []
            walk(folder: ".", shownAs: "", ancestors: &ancestors, into: &inputs, errors: &errors)
            return (inputs, errors)
        }
        for operand in operands {
            if operand == "-" {
                inputs.append(.standardInput)
                continue
            }
            var info = stat()
            if stat(operand, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
                if matches(excludeDirectories, base(operand)) { continue }
                var ancestors: [(UInt, UInt)] = [(UInt(info.st_dev), UInt(info.st_ino))]
                walk(folder: operand, shownAs: operand.hasSuffix("/") ? operand : operand + "/", ancestors: &ancestors,
                     into: &inputs, errors: &errors)
            } else {
                // A file named on the command line: --include/--exclude apply to it too.
                if !include.isEmpty && !matches(include, base(operand)) { continue }
                if matches(exclude, base(operand)) || matches(exclude, operand) { continue }
                inputs.append(.path(operand))  // missing or unreadable: the reader reports it
            }
        }
        return (inputs, errors)
    }

    /// `ancestors`: the folders (device, inode) on the way down, so a link back up one of them
    /// (`-R`) is grep's "recursive directory loop" warning, not an endless walk.
    private func walk(folder: String, shownAs prefix: String, ancestors: inout [(UInt, UInt)],
                      into inputs: inout [InputName], errors: inout [SluiceError]) {
        guard let directory = opendir(folder) else {
            errors.append(SluiceError(.input, place: prefix.isEmpty ? folder : String(prefix.dropLast()), SluiceError.systemReason(errno)))
            return
        }
        var entries: [(name: String, type: UInt8)] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            entries.append((name, entry.pointee.d_type))
        }
        closedir(directory)
        for entry in entries {
            let path = (folder == "." && prefix.isEmpty) ? entry.name : folder + (folder.hasSuffix("/") ? "" : "/") + entry.name
            let shown = prefix + entry.name
            var info = stat()
            let found = followAllLinks ? stat(path, &info) : lstat(path, &info)
            guard found == 0 else {
                // A dangling link under -R: grep reports it; under -r links are not followed.
                if followAllLinks { errors.append(SluiceError(.input, place: shown, SluiceError.systemReason(errno))) }
                continue
            }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                if matches(excludeDirectories, entry.name) { continue }
                let identity = (UInt(info.st_dev), UInt(info.st_ino))
                if ancestors.contains(where: { $0 == identity }) {
                    errors.append(SluiceError(.warning, place: shown, "warning: recursive directory loop"))
                    continue
                }
                ancestors.append(identity)
                walk(folder: path, shownAs: shown + "/", ancestors: &ancestors, into: &inputs, errors: &errors)
                ancestors.removeLast()
            case S_IFREG:
                if !include.isEmpty && !matches(include, entry.name) { continue }
                if matches(exclude, entry.name) { continue }
                inputs.append(.path(shown.isEmpty ? path : (prefix.isEmpty ? path : shown)))
            case S_IFLNK:
                continue  // under -r, links met while recursing are not followed
            default:
                // Devices, FIFOs, sockets: read under -R (grep's default), skipped under -r.
                if followAllLinks && (include.isEmpty || matches(include, entry.name)) && !matches(exclude, entry.name) {
                    inputs.append(.path(path))
                }
            }
        }
    }

    private func base(_ path: String) -> String {
        let trimmed = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
        return trimmed.split(separator: "/").last.map(String.init) ?? trimmed
    }

    private func matches(_ globs: [String], _ name: String) -> Bool {
        globs.contains { fnmatch($0, name, 0) == 0 }
    }
}
