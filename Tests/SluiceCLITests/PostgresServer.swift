import Foundation
import Testing

/// A PostgreSQL cluster of the tests' own (issue 11, item 5): `initdb` in a temporary folder,
/// the server on a free loopback port with password (SCRAM) authentication, run as the
/// `postgres` user when the tests run as root (the server refuses root). Stopped when the
/// test process ends, however it ends: a watcher started beside it stops it once the test
/// process is gone.
final class PostgresServer: Sendable {
    static let user = "sluice"
    static let password = "pw-of-the-tests"

    let directory: String
    let port: Int
    let binaries: String

    /// The folder of `initdb` and `pg_ctl` (Debian puts them under /usr/lib/postgresql/N/bin).
    static let binaryFolder: String? = {
        if Tool.available("initdb") && Tool.available("pg_ctl") {
            let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
            for folder in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(folder)/initdb") {
                return String(folder)
            }
        }
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        for version in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) {
            let folder = "/usr/lib/postgresql/\(version)/bin"
            if FileManager.default.isExecutableFile(atPath: "\(folder)/initdb") { return folder }
        }
        return nil
    }()

    static var available: Bool { binaryFolder != nil && Tool.available("psql") }

    /// Root runs the server as `postgres`.
    private static var asServerUser: String { getuid() == 0 ? "runuser -u postgres -- " : "" }

    private init(directory: String, port: Int, binaries: String) {
        self.directory = directory
        self.port = port
        self.binaries = binaries
    }

    /// The server most tests share (each in a database of its own).
    static func shared() async throws -> PostgresServer { try await SharedServer.instance.get() }

    /// One start, however many tests ask at once.
    private actor SharedServer {
        static let instance = SharedServer()
        private var starting: Task<PostgresServer, any Error>?
        func get() async throws -> PostgresServer {
            if let starting { return try await starting.value }
            let task = Task { try await PostgresServer.start() }
            starting = task
            return try await task.value
        }
    }

    /// A new cluster, started. The caller of a server of its own stops it (`stop`).
    static func start() async throws -> PostgresServer {
        guard let binaries = binaryFolder else { throw HarnessError("no initdb: install Debian's postgresql (make deps)") }
        let directory = try await Shell.output("mktemp -d /tmp/sluice-pg-XXXXXX").trimmedText
        let owner = getuid() == 0 ? "chown postgres \(Shell.quote(directory)) && " : ""
        let setup = try await Shell.bash("""
            set -e
            \(owner)cd \(Shell.quote(directory))
            \(asServerUser)sh -c 'echo \(password) > \(directory)/pw && \(binaries)/initdb -D \(directory)/data -U \(user) \
              --auth-local=trust --auth-host=scram-sha-256 --pwfile=\(directory)/pw -E UTF8 --no-sync > \(directory)/initdb.log 2>&1'
            """, timeout: .seconds(120))
        guard setup.status == 0 else { throw HarnessError("initdb failed: \(setup.stderr) \((try? String(contentsOfFile: "\(directory)/initdb.log", encoding: .utf8)) ?? "")") }
        for _ in 0..<5 {
            let port = Int.random(in: 20_000...60_000)
            let server = PostgresServer(directory: directory, port: port, binaries: binaries)
            if try await server.startServer() {
                // The watcher: stops the server once this test process has ended (a crash too).
                _ = try await Shell.bash("""
                    ( \(Shell.closesInherited)exec setsid sh -c '(while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done
                     \(asServerUser)\(binaries)/pg_ctl -D \(directory)/data -m immediate stop >/dev/null 2>&1
                     rm -rf \(directory))' ) </dev/null >/dev/null 2>&1 &
                    """)
                return server
            }
        }
        throw HarnessError("the test server did not start: \((try? String(contentsOfFile: "\(directory)/server.log", encoding: .utf8)) ?? "")")
    }

    /// Starts the server (again, after `stop`); false when it could not (the port taken).
    @discardableResult
    func startServer() async throws -> Bool {
        let result = try await Shell.bash("""
            \(Shell.definesDetach)detach \(Self.asServerUser)\(binaries)/pg_ctl -D \(directory)/data -l \(directory)/server.log -w -t 60 \
              -o "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60" start
            """, timeout: .seconds(90))
        return result.status == 0
    }

    /// `pg_ctl stop -m immediate` (as a crash would: no shutdown checkpoint) or `-m fast`.
    func stop(mode: String = "immediate") async throws {
        _ = try await Shell.bash("\(Self.asServerUser)\(binaries)/pg_ctl -D \(directory)/data -m \(mode) -w stop", timeout: .seconds(60))
    }

    /// Stops the server and removes its folder (a server of a test's own).
    func remove() async {
        _ = try? await stop()
        _ = try? await Shell.bash("rm -rf \(Shell.quote(directory))")
    }

    /// Shell lines that point psql and sluice at this server (password from PGPASSWORD).
    var environment: String {
        "export PGPASSWORD=\(Self.password) PGHOST=127.0.0.1 PGPORT=\(port) PGUSER=\(Self.user)"
    }

    /// A new, empty database; its `-O` URL (without the table).
    /// What most tests start with: the shared server, a database of their own, and a folder
    /// (the caller removes it: `defer { directory.remove() }`).
    static func forOneTest() async throws -> (PostgresServer, (name: String, url: String), TemporaryDirectory) {
        let server = try await shared()
        return (server, try await server.createDatabase(), try TemporaryDirectory())
    }

    func createDatabase() async throws -> (name: String, url: String) {
        let name = "t\(UInt32.random(in: 0...UInt32.max))"
        _ = try await psql("postgres", "CREATE DATABASE \(name)")
        return (name, "postgresql://\(Self.user)@127.0.0.1:\(port)/\(name)")
    }

    /// psql's unaligned, tuples-only output of `sql` in `database` (throws if it fails).
    @discardableResult
    func psql(_ database: String, _ sql: String) async throws -> String {
        try await Shell.bashOutput("\(environment); psql -X -v ON_ERROR_STOP=1 -At -d \(database) -c \(Shell.quote(sql))")
    }
}

extension Shell {
    /// stdout of a bash script that must succeed.
    static func bashOutput(_ script: String, timeout: Duration = .seconds(60)) async throws -> String {
        let result = try await bash(script, timeout: timeout)
        guard result.status == 0 else { throw HarnessError("failed (\(result.status)): \(script)\n\(result.stderr)") }
        return result.stdoutText
    }
}

extension [UInt8] {
    var trimmedText: String {
        String(decoding: self, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
