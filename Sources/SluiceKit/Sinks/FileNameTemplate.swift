import Glibc

/// `dir/part-{n}.log.gz`: `{n}` is the file number from 1, zero-padded to 6 digits
/// (`{n:3}` for 3). The numbers stop where the digits do (`largestNumber`), so the names of a
/// set sort as their numbers do.
public struct FileNameTemplate: Sendable, Equatable {
    public let text: String
    let prefix: String
    let suffix: String
    let width: Int

    public init(parsing text: String) throws {
        self.text = text
        guard let open = text.firstRange(of: "{n") else {
            throw SluiceError(.usage, place: "--output", "'\(text)' has no {n}")
        }
        guard let close = text[open.upperBound...].firstIndex(of: "}") else {
            throw SluiceError(.usage, place: "--output", "unclosed {n in '\(text)'")
        }
        let spec = text[open.upperBound..<close]
        if spec.isEmpty {
            width = 6
        } else if spec.first == ":", let w = Int(spec.dropFirst()), w >= 1, w <= 20 {
            width = w
        } else {
            throw SluiceError(.usage, place: "--output", "'{n\(spec)}' in '\(text)' should be {n} or {n:WIDTH}")
        }
        prefix = String(text[..<open.lowerBound])
        suffix = String(text[text.index(after: close)...])
        if suffix.contains("{n") {
            throw SluiceError(.usage, place: "--output", "'\(text)' has more than one {n}")
        }
        if suffix.isEmpty && prefix.hasSuffix("/") == false && prefix.isEmpty == false && suffix.hasSuffix("/") {
            throw SluiceError(.usage, place: "--output", "'\(text)' is not a file name")
        }
    }

    public func name(_ number: Int) -> String {
        let digits = String(number)
        let padding = String(repeating: "0", count: max(0, width - digits.count))
        return prefix + padding + digits + suffix
    }
}

extension FileNameTemplate {
    /// The last number that fits the width: 999 for `{n:3}`, 999,999 for `{n}` (as `split -a`,
    /// whose suffixes run out rather than grow and break the order of a glob).
    public var largestNumber: Int {
        width >= 19 ? Int.max : (1...width).reduce(1) { value, _ in value * 10 } - 1
    }

    /// The names of this template's set that exist now (any kind of file), by number: what an
    /// earlier run into the same names left. A name counts only if it is exactly `name(n)` for
    /// some n (`part-0000001.log` is not of `part-{n}.log`'s set).
    public func existingNames() -> [(number: Int, path: String)] {
        let slash = prefix.lastIndex(of: "/")
        let folder = slash.map { String(prefix[...$0]) } ?? ""
        let stem = Array((slash.map { String(prefix[prefix.index(after: $0)...]) } ?? prefix).utf8)
        let entryEnd = Array((suffix.firstIndex(of: "/").map { String(suffix[..<$0]) } ?? suffix).utf8)
        guard let directory = opendir(folder.isEmpty ? "." : folder) else { return [] }
        defer { closedir(directory) }
        var found: [(number: Int, path: String)] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: &entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            guard name.count > stem.count + entryEnd.count, name.starts(with: stem),
                  name.suffix(entryEnd.count).elementsEqual(entryEnd) else { continue }
            let digits = name[stem.count..<(name.count - entryEnd.count)]
            guard digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                  let number = Int(String(decoding: digits, as: UTF8.self)), number >= 1 else { continue }
            let path = self.name(number)
            var info = stat()
            guard path == folder + String(decoding: stem + digits, as: UTF8.self) + suffix, lstat(path, &info) == 0 else { continue }
            found.append((number, path))
        }
        return found.sorted { $0.number < $1.number }
    }

    /// Hidden temporaries of this set's names (`.NAME.sluice-PID-N.tmp`, as `AtomicFile`
    /// makes them) whose process is gone: what a killed run left. A resumed run removes them.
    public func staleTemporaries() -> [String] {
        guard !suffix.contains("/") else { return [] }
        let slash = prefix.lastIndex(of: "/")
        let folder = slash.map { String(prefix[...$0]) } ?? ""
        return Self.staleTemporaries(inFolder: folder) { existsInSet($0) }
    }

    /// Whether `path` is `name(n)` for some n.
    func existsInSet(_ path: String) -> Bool {
        guard path.hasPrefix(prefix), path.hasSuffix(suffix), path.count > prefix.count + suffix.count else { return false }
        let digits = path.dropFirst(prefix.count).dropLast(suffix.count)
        guard digits.allSatisfy(\.isASCII) && digits.allSatisfy(\.isNumber), let number = Int(digits), number >= 1 else { return false }
        return name(number) == path
    }

    /// Hidden temporaries of the file at `path` (`.NAME.sluice-PID-N.tmp`) whose process is
    /// gone: a killed run's (the `--checkpoint` file's own, for one).
    public static func staleTemporaries(of path: String) -> [String] {
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { String(path[...$0]) } ?? ""
        return staleTemporaries(inFolder: folder) { $0 == folder + (slash.map { String(path[path.index(after: $0)...]) } ?? path) }
    }

    /// The entries `.NAME.sluice-PID-N.tmp` of `folder` (`""`: the current one) whose PID is
    /// no running process and whose `folder + NAME` is one `isTarget` takes, sorted.
    static func staleTemporaries(inFolder folder: String, isTarget: (String) -> Bool) -> [String] {
        guard let directory = opendir(folder.isEmpty ? "." : folder) else { return [] }
        defer { closedir(directory) }
        var stale: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: &entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name.hasPrefix("."), name.hasSuffix(".tmp"), let marker = name.ranges(of: ".sluice-").last else { continue }
            let target = folder + String(name[name.index(after: name.startIndex)..<marker.lowerBound])
            let tail = name[marker.upperBound...].dropLast(4).split(separator: "-")
            guard tail.count == 2, let pid = Int32(tail[0]), Int(tail[1]) != nil else { continue }
            guard isTarget(target), kill(pid, 0) != 0 && errno == ESRCH else { continue }
            stale.append(folder + name)
        }
        return stale.sorted()
    }
}
