import Glibc
import SluiceKit

/// The password libpq would use when the URI gives none: `PGPASSWORD`, then the password file
/// (`PGPASSFILE`, or `~/.pgpass`): lines `hostname:port:database:username:password`, `*`
/// matching anything, `\:` and `\\` escaping, the first matching line winning. As libpq, a
/// file that its group or others may read is ignored (with a warning on stderr); a socket
/// connection matches the host `localhost`.
enum PostgresPassword {
    static func lookup(_ address: PostgresAddress, environment: (String) -> String? = { getenv($0).map { String(cString: $0) } }) -> String? {
        if let password = environment("PGPASSWORD") { return password }
        let path: String
        if let file = environment("PGPASSFILE") {
            path = file
        } else if let home = environment("HOME") ?? homeFolder() {
            path = home + "/.pgpass"
        } else {
            return nil
        }
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        if info.st_mode & 0o077 != 0 {
            let warning = "sluice: warning: password file \"\(path)\" has group or world access; permissions should be u=rw (0600) or less\n"
            _ = warning.withCString { write(2, $0, strlen($0)) }
            return nil
        }
        guard let text = readFile(path) else { return nil }
        let host: String
        switch address.endpoint {
        case .tcp(let name, _): host = name
        case .socket: host = "localhost"
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) where !line.hasPrefix("#") {
            let fields = split(line)
            guard fields.count == 5 else { continue }
            let wanted = [host, String(address.port), address.database, address.user]
            if zip(fields.prefix(4), wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
        }
        return nil
    }

    /// A line's fields at unescaped `:`, with `\:` and `\\` read as `:` and `\`.
    static func split(_ line: Substring) -> [String] {
        var fields: [String] = []
        var field = ""
        var escaped = false
        for character in line {
            if escaped {
                field.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == ":" && fields.count < 4 {
                fields.append(field)
                field = ""
            } else {
                field.append(character)
            }
        }
        fields.append(field)
        return fields
    }

    private static func homeFolder() -> String? {
        guard let entry = getpwuid(geteuid()), let home = entry.pointee.pw_dir else { return nil }
        return String(cString: home)
    }

    private static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 20 {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += buffer[..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
