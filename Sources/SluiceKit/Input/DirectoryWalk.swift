import Glibc

/// grep's `-r` and `-R`: the files under each folder operand, in the order grep visits them
/// (depth first, each folder's entries in the order the file system lists them, as fts does
/// without sorting), filtered by `--include`, `--exclude` and `--exclude-dir` (globs on the
/// base name, as fnmatch reads them). `-r` follows symbolic links named on the command line
/// only, and skips devices, FIFOs and sockets met while recursing; `-R` follows all links and
/// reads those too (grep's `-D read` default applies to them under `-R`).
public struct DirectoryWalk: Sendable {
    public var followAllLinks = false
    /// grep's `-D`: nil reads devices, FIFOs and sockets met while recursing only under `-R`;
    /// true (`-D read`) always, false (`-D skip`) never.
    public var readDevices: Bool?
    /// `--include` and `--exclude` globs in the order given (`include`: true for --include).
    /// As GNU grep (gnulib's exclude): the last glob that matches a name decides; when none
    /// does, a name is left out if the first glob given was an --include.
    public var fileGlobs: [(glob: FileName, include: Bool)] = []
    /// `--exclude-dir` globs, trailing slashes dropped as grep drops them (`dir/` is `dir`).
    public var excludeDirectories: [FileName] = []

    public mutating func addExcludeDirectory(_ glob: FileName) {
        var glob = glob
        while glob.bytes.count > 1 && glob.hasSuffix(Self.slash) { glob.bytes.removeLast() }
        excludeDirectories.append(glob)
    }

    /// Whether a file is left out by the --include/--exclude globs: a name met while
    /// recursing is matched whole; a file named on the command line also by each part after
    /// a `/` (`--include=x/a` keeps the operand `x/a`, `--exclude='*.gz'` drops `d/f.gz`).
    func excludesFile(_ name: FileName, commandLine: Bool) -> Bool {
        guard let first = fileGlobs.first else { return false }
        let candidates = commandLine ? Self.unanchored(name) : [name]
        let last = fileGlobs.last { entry in candidates.contains { Self.fnmatches(entry.glob, $0) } }
        guard let last else { return first.include }
        return !last.include
    }

    /// A name and each part of it after a `/` (gnulib's unanchored matching).
    static func unanchored(_ name: FileName) -> [FileName] {
        var parts = [name]
        for (index, byte) in name.bytes.enumerated() where byte == slash && index + 1 < name.bytes.count && name.bytes[index + 1] != slash {
            parts.append(FileName(Array(name.bytes[(index + 1)...])))
        }
        return parts
    }

    public init() {}

    /// The inputs the operands stand for (no operand: the working folder, named without a
    /// `./` prefix, as grep names them), and the folders that could not be read.
    public func expand(_ operands: [FileName]) -> (inputs: [InputName], errors: [SluiceError]) {
        var inputs: [InputName] = []
        var errors: [SluiceError] = []
        if operands.isEmpty {
            var info = stat()
            var ancestors: [(UInt, UInt)] = stat(".", &info) == 0 ? [(UInt(info.st_dev), UInt(info.st_ino))] : []
            walk(folder: ".", shownAs: FileName([]), ancestors: &ancestors, into: &inputs, errors: &errors)
            return (inputs, errors)
        }
        for operand in operands {
            if operand.bytes == [UInt8(ascii: "-")] {
                inputs.append(.standardInput)
                continue
            }
            var info = stat()
            if operand.withCString({ stat($0, &info) }) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
                // As typed, as grep matches it: `a/` is not excluded by `--exclude-dir=a`,
                // nor `./` by `--exclude-dir=.` (grep searches them).
                if Self.unanchored(operand).contains(where: { matches(excludeDirectories, $0) }) { continue }
                var ancestors: [(UInt, UInt)] = [(UInt(info.st_dev), UInt(info.st_ino))]
                // As grep's fts: two or more trailing slashes are trimmed to one (`d//` shows
                // `d/a.log`), a name of two bytes kept (`//`).
                var folder = operand.bytes
                if folder.count > 2 && folder.last == Self.slash {
                    while folder.count > 1 && folder[folder.count - 2] == Self.slash { folder.removeLast() }
                }
                let trimmed = FileName(folder)
                walk(folder: trimmed, shownAs: trimmed.hasSuffix(Self.slash) ? trimmed : trimmed + "/", ancestors: &ancestors,
                     into: &inputs, errors: &errors)
            } else {
                // A file named on the command line: --include/--exclude apply to it too.
                if excludesFile(operand, commandLine: true) { continue }
                inputs.append(.path(operand))  // missing or unreadable: the reader reports it
            }
        }
        return (inputs, errors)
    }

    /// `ancestors`: the folders (device, inode) on the way down, so a link back up one of them
    /// (`-R`) is grep's "recursive directory loop" warning, not an endless walk.
    private func walk(folder: FileName, shownAs prefix: FileName, ancestors: inout [(UInt, UInt)],
                      into inputs: inout [InputName], errors: inout [SluiceError]) {
        guard let directory = folder.withCString({ opendir($0) }) else {
            let place = prefix.bytes.isEmpty ? folder : FileName(prefix.bytes.dropLast())
            errors.append(SluiceError(.input, file: place, SluiceError.systemReason(errno)))
            return
        }
        var entries: [(name: FileName, type: UInt8)] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in FileName(Array(raw.prefix { $0 != 0 })) }
            if name == "." || name == ".." { continue }
            entries.append((name, entry.pointee.d_type))
        }
        closedir(directory)
        for entry in entries {
            let path = (folder == "." && prefix.bytes.isEmpty) ? entry.name
                : folder + (folder.hasSuffix(Self.slash) ? "" : "/") + entry.name
            let shown = prefix + entry.name
            var info = stat()
            let found = path.withCString { followAllLinks ? stat($0, &info) : lstat($0, &info) }
            guard found == 0 else {
                // A dangling link under -R: grep reports it; under -r links are not followed.
                if followAllLinks { errors.append(SluiceError(.input, file: shown, SluiceError.systemReason(errno))) }
                continue
            }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                if matches(excludeDirectories, entry.name) { continue }
                let identity = (UInt(info.st_dev), UInt(info.st_ino))
                if ancestors.contains(where: { $0 == identity }) {
                    errors.append(SluiceError(.warning, file: shown, "warning: recursive directory loop"))
                    continue
                }
                ancestors.append(identity)
                walk(folder: path, shownAs: shown + "/", ancestors: &ancestors, into: &inputs, errors: &errors)
                ancestors.removeLast()
            case S_IFREG:
                if excludesFile(entry.name, commandLine: false) { continue }
                inputs.append(.path(prefix.bytes.isEmpty ? path : shown))
            case S_IFLNK:
                continue  // under -r, links met while recursing are not followed
            default:
                // Devices, FIFOs, sockets: read under -R (grep's default), skipped under -r.
                if (readDevices ?? followAllLinks) && !excludesFile(entry.name, commandLine: false) {
                    inputs.append(.path(path))
                }
            }
        }
    }

    private static let slash = UInt8(ascii: "/")

    private func matches(_ globs: [FileName], _ name: FileName) -> Bool {
        globs.contains { Self.fnmatches($0, name) }
    }

    /// fnmatch(3) on bytes (a glob or a name need not be UTF-8).
    static func fnmatches(_ glob: FileName, _ name: FileName) -> Bool {
        glob.withCString { glob in name.withCString { fnmatch(glob, $0, 0) == 0 } }
    }
}
