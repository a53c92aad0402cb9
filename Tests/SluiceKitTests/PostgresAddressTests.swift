import Testing
@testable import SluiceKit

/// `-O postgresql://...` parsed as libpq parses its URIs, the environment filling what is left
/// out, and the password never shown.
struct PostgresAddressTests {
    static func target(_ text: String, _ environment: [String: String] = [:]) throws -> (PostgresAddress, [(String, String)]) {
        let (kind, settings) = try PostgresAddress.parse(text, environment: environment)
        guard case .postgresql(let address) = kind else { throw SluiceError(.usage, "not postgresql") }
        return (address, settings)
    }

    @Test("user, password, host, port, database, settings; percent escapes; IPv6; defaults from PG* variables")
    func parsing() throws {
        let (full, settings) = try Self.target("postgresql://ann:p%40ss@db.example:6543/logs%5F1?table=t&sslmode=require")
        #expect(full == PostgresAddress(user: "ann", password: "p@ss", endpoint: .tcp(host: "db.example", port: 6543), database: "logs_1", tls: .require))
        #expect(settings.map { "\($0.0)=\($0.1)" } == ["table=t"])
        #expect(full.description == "postgresql://ann@db.example:6543/logs_1")
        let (v6, _) = try Self.target("postgres://u@[::1]:5433/d")
        #expect(v6.endpoint == .tcp(host: "::1", port: 5433) && v6.description == "postgresql://u@[::1]:5433/d")
        let (defaults, _) = try Self.target("postgresql://", ["PGUSER": "bob", "PGHOST": "10.0.0.1", "PGPORT": "7777"])
        #expect(defaults == PostgresAddress(user: "bob", password: nil, endpoint: .tcp(host: "10.0.0.1", port: 7777), database: "bob", tls: .prefer))
        let (socket, _) = try Self.target("postgresql://u@/d?host=/run/pg")
        #expect(socket.endpoint == .socket(folder: "/run/pg", port: 5432))
        let (debian, _) = try Self.target("postgresql://u@/d")
        #expect(debian.endpoint == .socket(folder: "/var/run/postgresql", port: 5432))
    }

    @Test("a password never appears in a message: the target's description, a parse error")
    func passwordNeverShown() throws {
        let target = try DatabaseTarget(parsing: "postgresql://ann:hunter2@h:1/d?table=x")
        #expect(target?.description == "postgresql://ann@h:1/d?table=x")
        #expect(PostgresAddress.redacted("postgresql://ann:hunter2@h:1/d") == "postgresql://ann:***@h:1/d")
        do {
            _ = try DatabaseTarget(parsing: "postgresql://ann:hunter2@h:x/d")
            Issue.record("a bad port was taken")
        } catch let error as SluiceError {
            #expect(!error.description.contains("hunter2"))
            #expect(error.description == "--output: postgresql://ann:***@h:x/d: 'x' is not a port (postgresql://USER@HOST:PORT/DATABASE?table=NAME)")
        }
    }
}
