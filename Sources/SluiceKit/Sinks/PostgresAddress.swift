import Glibc

/// A PostgreSQL server, database and user, as `-O postgresql://USER@HOST:PORT/DB?table=NAME`
/// names them (libpq's URI form, also `postgres://`). What the URI leaves out comes from
/// libpq's environment variables (`PGUSER`, `PGHOST`, `PGPORT`, `PGDATABASE`), then libpq's
/// defaults: the login name, Debian's socket folder `/var/run/postgresql`, port 5432, a
/// database named as the user. A password in the URI (`USER:PASSWORD@`) is taken but never
/// shown (`description`); otherwise `PGPASSWORD`, then `~/.pgpass` (`PostgresPassword`).
public struct PostgresAddress: Sendable, Equatable, CustomStringConvertible {
    public enum Endpoint: Sendable, Equatable {
        case tcp(host: String, port: Int)
        /// libpq's form: the socket is `FOLDER/.s.PGSQL.PORT`.
        case socket(folder: String, port: Int)
    }
    public enum TLSMode: String, Sendable, Equatable {
        case disable, prefer, require
    }
    public var user: String
    /// From the URI only (messages never show it).
    public var password: String?
    public var endpoint: Endpoint
    public var database: String
    /// libpq's `sslmode` (`verify-ca` and `verify-full` are not offered): `prefer` by default.
    public var tls: TLSMode

    public init(user: String, password: String?, endpoint: Endpoint, database: String, tls: TLSMode) {
        self.user = user
        self.password = password
        self.endpoint = endpoint
        self.database = database
        self.tls = tls
    }

    /// The address and the settings of the query string sluice reads itself (`table`).
    static func parse(_ text: String, environment: [String: String] = PostgresAddress.environment()) throws -> (DatabaseTarget.Kind, [(String, String)]) {
        let shown = redacted(text)
        func fail(_ why: String) -> SluiceError {
            SluiceError(.usage, place: "--output", "\(shown): \(why) (postgresql://USER@HOST:PORT/DATABASE?table=NAME)")
        }
        var rest = Substring(text[text.firstRange(of: "://")!.upperBound...])
        var query: Substring = ""
        if let question = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: question)...]
            rest = rest[..<question]
        }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var user: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                user = try decode(credentials[..<colon], fail)
                password = try decode(credentials[credentials.index(after: colon)...], fail)
            } else {
                user = try decode(credentials, fail)
            }
        }
        var host: String?
        var port: Int?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw fail("an IPv6 address opens '[' without ']'") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            rest = rest[rest.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { throw fail("'\(rest)' after the host") }
                rest = rest.dropFirst()
                guard let number = Int(rest), (1...65535).contains(number) else { throw fail("'\(rest)' is not a port") }
                port = number
            }
        } else {
            if let colon = rest.lastIndex(of: ":") {
                let text = rest[rest.index(after: colon)...]
                guard let number = Int(text), (1...65535).contains(number) else { throw fail("'\(text)' is not a port") }
                port = number
                rest = rest[..<colon]
            }
            if !rest.isEmpty { host = try decode(rest, fail) }
        }
        var database = path.isEmpty ? nil : try decode(path, fail)
        var tls = TLSMode.prefer
        var others: [(String, String)] = []
        for item in query.split(separator: "&") {
            let pair = item.split(separator: "=", maxSplits: 1).map { String($0) }
            guard pair.count == 2 else { throw fail("'\(item)' is not NAME=VALUE") }
            let value = try decode(Substring(pair[1]), fail)
            switch pair[0] {
            case "sslmode":
                guard let mode = TLSMode(rawValue: value) else { throw fail("sslmode '\(value)': disable, prefer or require") }
                tls = mode
            case "host": host = value
            case "port":
                guard let number = Int(value), (1...65535).contains(number) else { throw fail("'\(value)' is not a port") }
                port = number
            case "user": user = value
            case "dbname": database = value
            case "password": password = value
            default: others.append((pair[0], value))
            }
        }
        let resolvedUser = user ?? environment["PGUSER"] ?? loginName()
        let resolvedPort = port ?? environment["PGPORT"].flatMap { Int($0) } ?? 5432
        let resolvedHost = host ?? environment["PGHOST"] ?? "/var/run/postgresql"
        guard !resolvedUser.isEmpty else { throw fail("names no user") }
        let address = PostgresAddress(
            user: resolvedUser, password: password,
            endpoint: resolvedHost.hasPrefix("/") ? .socket(folder: resolvedHost, port: resolvedPort) : .tcp(host: resolvedHost, port: resolvedPort),
            database: database ?? environment["PGDATABASE"] ?? resolvedUser, tls: tls)
        return (.postgresql(address), others)
    }

    /// `%XX` decoded (URI escapes in a user, password, host or database name).
    static func decode(_ text: Substring, _ fail: (String) -> SluiceError) throws -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        var index = text.utf8.startIndex
        let utf8 = text.utf8
        while index < utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "%") {
                let first = utf8.index(after: index)
                guard first < utf8.endIndex, utf8.index(after: first) < utf8.endIndex,
                      let value = UInt8(String(decoding: utf8[first...utf8.index(after: first)], as: UTF8.self), radix: 16) else {
                    throw fail("'%' is not followed by two hex digits")
                }
                bytes.append(value)
                index = utf8.index(first, offsetBy: 2)
            } else {
                bytes.append(byte)
                index = utf8.index(after: index)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The URI with its password, if any, replaced by `***` (for messages): `USER:PASSWORD@`
    /// and a `password=` setting.
    static func redacted(_ text: String) -> String {
        guard let scheme = text.firstRange(of: "://") else { return text }
        var shown = text
        let rest = text[scheme.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        if let at = rest[..<authorityEnd].lastIndex(of: "@"), let colon = rest[..<at].firstIndex(of: ":") {
            shown = String(text[..<rest.index(after: colon)]) + "***" + String(text[at...])
        }
        guard let question = shown.firstIndex(of: "?") else { return shown }
        let settings = shown[shown.index(after: question)...].split(separator: "&", omittingEmptySubsequences: false).map { item in
            item.hasPrefix("password=") ? "password=***" : String(item)
        }
        return String(shown[...question]) + settings.joined(separator: "&")
    }

    static func environment() -> [String: String] {
        var values: [String: String] = [:]
        for name in ["PGUSER", "PGHOST", "PGPORT", "PGDATABASE"] {
            if let value = getenv(name) { values[name] = String(cString: value) }
        }
        return values
    }

    static func loginName() -> String {
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return getenv("USER").map { String(cString: $0) } ?? ""
    }

    /// libpq's host form: a socket folder, or a name or address.
    public var host: String {
        switch endpoint {
        case .tcp(let host, _): host
        case .socket(let folder, _): folder
        }
    }

    public var port: Int {
        switch endpoint {
        case .tcp(_, let port), .socket(_, let port): port
        }
    }

    /// `postgresql://USER@HOST:PORT/DATABASE` (never the password).
    public var description: String {
        switch endpoint {
        case .tcp(let host, let port):
            "postgresql://\(user)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)"
        case .socket(let folder, let port):
            "postgresql://\(user)@:\(port)/\(database)?host=\(folder)"
        }
    }
}
