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
        let url = try ServerURL(text, fail: fail)
        var user = url.user
        var password = url.password
        guard let host = url.host, !host.isEmpty else { throw fail("names no host") }
        let port = url.port ?? 8123
        let database = url.path ?? "default"
        guard DatabaseTarget.isName(database) else { throw fail("database name '\(database)': letters, digits and _ only, not starting with a digit") }
        var compression = Compression.auto
        var others: [(String, String)] = []
        for (name, value) in url.settings {
            switch name {
            case "compress":
                guard let chosen = Compression(rawValue: value) else { throw fail("compress=\(value): gzip, none or auto") }
                compression = chosen
            case "user": user = value
            case "password": password = value
            case "database": throw fail("the database is the path (/DATABASE)")
            default: others.append((name, value))
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
