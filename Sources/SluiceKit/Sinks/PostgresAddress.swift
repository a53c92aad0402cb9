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
        let url = try ServerURL(text, fail: fail)
        var user = url.user
        var password = url.password
        var host = url.host
        var port = url.port
        var database = url.path
        var tls = TLSMode.prefer
        var others: [(String, String)] = []
        for (name, value) in url.settings {
            switch name {
            case "sslmode":
                guard let mode = TLSMode(rawValue: value) else { throw fail("sslmode '\(value)': disable, prefer or require") }
                tls = mode
            case "host": host = value
            case "port": port = try ServerURL.port(value, fail)
            case "user": user = value
            case "dbname": database = value
            case "password": password = value
            default: others.append((name, value))
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
