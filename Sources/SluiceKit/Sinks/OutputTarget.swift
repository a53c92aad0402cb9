/// Where output lines go.
public enum OutputTarget: Sendable, Equatable, CustomStringConvertible {
    case standardOutput
    /// One file holding every line; gzip if the name ends in `.gz`.
    case file(String)
    /// One file per `linesPerFile` lines, named from a template with `{n}` or `{n:WIDTH}`.
    case split(FileNameTemplate)
    /// Rows of a database table, a transaction per batch (`sqlite:PATH[?table=NAME]`).
    case database(DatabaseTarget)

    public static func parse(_ text: String) throws -> OutputTarget {
        if text == "-" { return .standardOutput }
        if let database = try DatabaseTarget(parsing: text) { return .database(database) }
        let lowered = text.lowercased()
        if ["postgresql:", "postgres:", "sqlite:", "clickhouse:"].contains(where: { lowered.hasPrefix($0) }) {
            // `postgresql:db` or `POSTGRESQL://...` would be a file of that name, written silently.
            throw SluiceError(.usage, place: "--output", "'\(PostgresAddress.redacted(text))' is not a database target (postgresql://USER@HOST:PORT/DB, "
                + "clickhouse://HOST:PORT/DB, sqlite:PATH, lower case); for a file of that name write ./\(PostgresAddress.redacted(text))")
        }
        if ["clickhouses:", "https:", "http:"].contains(where: { lowered.hasPrefix($0) }) {
            throw SluiceError(.usage, place: "--output", "'\(PostgresAddress.redacted(text))' is not an output sluice writes: ClickHouse's HTTP "
                + "interface is clickhouse://HOST:PORT/DB (TLS is not offered yet); for a file of that name write ./\(PostgresAddress.redacted(text))")
        }
        if text.hasPrefix("-") {
            // `sluice -o -e ERROR app.log` (grep's -o, only-matching) would write a file "-e".
            throw SluiceError(.usage, place: "--output", "'\(text)' looks like an option, not a file name "
                + "(-o names the output; for a file of that name write ./\(text))")
        }
        if text.contains("{n") { return .split(try FileNameTemplate(parsing: text)) }
        if text.isEmpty || text.hasSuffix("/") {
            throw SluiceError(.usage, place: "--output", "'\(text)' is not a file name")
        }
        return .file(text)
    }

    public var description: String {
        switch self {
        case .standardOutput: "stdout"
        case .file(let path): path
        case .split(let template): template.text
        case .database(let database): database.description
        }
    }
}

/// A database output: which database, and the table its rows go to (`logs` unless
/// `?table=NAME` says; letters, digits and `_`, not starting with a digit).
public struct DatabaseTarget: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// An SQLite file (created when missing).
        case sqlite(path: String)
        /// A PostgreSQL server (`postgresql://` or `postgres://`).
        case postgresql(PostgresAddress)
        /// A ClickHouse server's HTTP interface (`clickhouse://`).
        case clickhouse(ClickHouseAddress)
    }
    public var kind: Kind
    public var table: String

    /// A server (PostgreSQL, ClickHouse), reached over a network: its failures are retried.
    public var isServer: Bool {
        if case .sqlite = kind { return false }
        return true
    }

    /// Nil when `text` names no database (a file name); throws for a database target that
    /// is malformed.
    init?(parsing text: String) throws {
        if text.hasPrefix("clickhouse://") {
            var settings: [(String, String)] = []
            (kind, settings) = try ClickHouseAddress.parse(text)
            table = try Self.table(settings, in: text, allowed: "table=NAME, compress=gzip|none|auto, user and password")
            return
        }
        if text.hasPrefix("postgresql://") || text.hasPrefix("postgres://") {
            var settings: [(String, String)] = []
            (kind, settings) = try PostgresAddress.parse(text)
            table = try Self.table(settings, in: text, allowed: "table=NAME, sslmode=disable|prefer|require, host=SOCKET-FOLDER, port, user, password and dbname")
            return
        }
        guard text.hasPrefix("sqlite:") else { return nil }
        var rest = Substring(text.dropFirst("sqlite:".count))
        table = "logs"
        if let question = rest.firstIndex(of: "?") {
            let query = rest[rest.index(after: question)...]
            rest = rest[..<question]
            for item in query.split(separator: "&") {
                let pair = item.split(separator: "=", maxSplits: 1).map(String.init)
                guard pair.count == 2, pair[0] == "table" else {
                    throw SluiceError(.usage, place: "--output", "'\(item)' in '\(text)': the one setting is table=NAME")
                }
                table = pair[1]
            }
        }
        try Self.checkTable(table)
        guard !rest.isEmpty else {
            throw SluiceError(.usage, place: "--output", "'\(text)' names no database file (sqlite:PATH)")
        }
        kind = .sqlite(path: String(rest))
    }

    /// The `table` setting of a server's URL (`logs` without one); any other setting left
    /// over is refused, naming `allowed`.
    private static func table(_ settings: [(String, String)], in text: String, allowed: String) throws -> String {
        var table = "logs"
        for (name, value) in settings {
            guard name == "table" else {
                throw SluiceError(.usage, place: "--output", "'\(name)' in \(PostgresAddress.redacted(text)): the settings are \(allowed)")
            }
            table = value
        }
        try checkTable(table)
        return table
    }

    private static func checkTable(_ table: String) throws {
        guard isName(table) else {
            throw SluiceError(.usage, place: "--output", "table name '\(table)': letters, digits and _ only, not starting with a digit")
        }
    }

    /// Letters, digits and `_`, not starting with a digit: written into SQL unquoted.
    static func isName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return false }
        return name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0 | 0x20) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    /// The target as messages name it: never with a password.
    public var description: String {
        switch kind {
        case .sqlite(let path): "sqlite:\(path)?table=\(table)"
        case .postgresql(let address):
            "\(address)\(address.description.contains("?") ? "&" : "?")table=\(table)"
        case .clickhouse(let address):
            "\(address)?table=\(table)"
        }
    }
}
