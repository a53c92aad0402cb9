import Glibc

/// A ClickHouse server's HTTP interface, as `-O clickhouse://USER:PASSWORD@HOST:PORT/DB?table=NAME`
/// names it. Port 8123 unless given; the user and password from the URL, else
/// `CLICKHOUSE_USER` and `CLICKHOUSE_PASSWORD`, else ClickHouse's `default` user without one;
/// the database `default` unless the path names one. The password is never shown
/// (`description`).
public struct ClickHouseAddress: Sendable, Equatable, CustomStringConvertible {
    public enum Compression: String, Sendable, Equatable {
        /// gzip for a server elsewhere, none on loopback (where compressing costs more than it saves).
        case auto
        case gzip
        case none
    }
    public var host: String
    public var port: Int
    public var user: String
    /// From the URL or `CLICKHOUSE_PASSWORD` (messages never show it).
    public var password: String?
    public var database: String
    /// How request bodies are sent (`?compress=gzip|none`).
    public var compression: Compression

    public init(host: String, port: Int, user: String, password: String?, database: String, compression: Compression = .auto) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.compression = compression
    }

    /// The address and the settings of the query string sluice reads itself (`table`).
    static func parse(_ text: String, environment: [String: String] = ClickHouseAddress.environment()) throws -> (DatabaseTarget.Kind, [(String, String)]) {
        let shown = PostgresAddress.redacted(text)
        func fail(_ why: String) -> SluiceError {
            SluiceError(.usage, place: "--output", "\(shown): \(why) (clickhouse://USER:PASSWORD@HOST:PORT/DATABASE?table=NAME)")
        }
        var rest = Substring(text.dropFirst("clickhouse://".count))
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
                user = try PostgresAddress.decode(credentials[..<colon], fail)
                password = try PostgresAddress.decode(credentials[credentials.index(after: colon)...], fail)
            } else {
                user = try PostgresAddress.decode(credentials, fail)
            }
        }
        var host = String(rest)
        var port = 8123
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw fail("an IPv6 address opens '[' without ']'") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let number = Int(after.dropFirst()), (1...65535).contains(number) else { throw fail("'\(after)' is not a port") }
                port = number
            }
        } else if let colon = rest.lastIndex(of: ":") {
            let digits = rest[rest.index(after: colon)...]
            guard let number = Int(digits), (1...65535).contains(number) else { throw fail("'\(digits)' is not a port") }
            port = number
            host = String(rest[..<colon])
        }
        guard !host.isEmpty else { throw fail("names no host") }
        let database = path.isEmpty ? "default" : try PostgresAddress.decode(path, fail)
        guard DatabaseTarget.isName(database) else { throw fail("database name '\(database)': letters, digits and _ only, not starting with a digit") }
        var compression = Compression.auto
        var others: [(String, String)] = []
        for item in query.split(separator: "&") {
            let pair = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2 else { throw fail("'\(item)' is not NAME=VALUE") }
            switch pair[0] {
            case "compress":
                guard let value = Compression(rawValue: pair[1]) else { throw fail("compress=\(pair[1]): gzip, none or auto") }
                compression = value
            case "user": user = pair[1]
            case "password": password = pair[1]
            case "database": throw fail("the database is the path (/DATABASE)")
            default: others.append((pair[0], pair[1]))
            }
        }
        let address = ClickHouseAddress(host: host, port: port, user: user ?? environment["CLICKHOUSE_USER"] ?? "default",
                                        password: password ?? environment["CLICKHOUSE_PASSWORD"], database: database, compression: compression)
        return (.clickhouse(address), others)
    }

    static func environment() -> [String: String] {
        var values: [String: String] = [:]
        for name in ["CLICKHOUSE_USER", "CLICKHOUSE_PASSWORD"] {
            if let value = getenv(name) { values[name] = String(cString: value) }
        }
        return values
    }

    /// A loopback host: bodies are not compressed there unless `compress=gzip` says.
    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// `clickhouse://USER@HOST:PORT/DB`: never the password.
    public var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "clickhouse://\(user)@\(shownHost):\(port)/\(database)"
    }
}
