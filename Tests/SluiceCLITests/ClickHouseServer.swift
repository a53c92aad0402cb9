import Foundation
import Testing

/// Two ClickHouse servers of the tests' own (issue 13, item 4): Debian's `clickhouse-server`,
/// each with its own config, `--path` and loopback ports, as the two shards of one cluster
/// (`logs`, in both configs' `remote_servers`), and a user with a password (`writer`) beside
/// the password-less `default`. Stopped when the test process ends, however it ends: a
/// watcher started beside them stops them once the test process is gone.
final class ClickHouseCluster: Sendable {
    static let user = "writer"
    static let password = "pw-of-the-tests"

    let directory: String
    /// Per shard: its HTTP port (sluice's) and native port (clickhouse-client's).
    let httpPorts: [Int]
    let tcpPorts: [Int]

    static var available: Bool { Tool.available("clickhouse-server") && Tool.available("clickhouse-client") }

    private init(directory: String, httpPorts: [Int], tcpPorts: [Int]) {
        self.directory = directory
        self.httpPorts = httpPorts
        self.tcpPorts = tcpPorts
    }

    /// The cluster the tests share (each test in a database of its own).
    static func shared() async throws -> ClickHouseCluster { try await Shared.instance.get() }

    private actor Shared {
        static let instance = Shared()
        private var starting: Task<ClickHouseCluster, any Error>?
        func get() async throws -> ClickHouseCluster {
            if let starting { return try await starting.value }
            let task = Task { try await ClickHouseCluster.start() }
            starting = task
            return try await task.value
        }
    }

    static func start() async throws -> ClickHouseCluster {
        let directory = try await Shell.output("mktemp -d /tmp/sluice-ch-XXXXXX").trimmedText
        for _ in 0..<5 {
            let base = Int.random(in: 20_000...59_000)
            let cluster = ClickHouseCluster(directory: directory, httpPorts: [base, base + 10], tcpPorts: [base + 1, base + 11])
            try cluster.writeConfigs()
            if try await cluster.startServer(0), try await cluster.startServer(1) {
                // The watcher: stops both servers once this test process has ended (a crash too).
                _ = try await Shell.bash("""
                    ( \(Shell.closesInherited)exec setsid sh -c '(while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done
                     for s in 0 1; do kill -9 $(cat \(directory)/$s/pid 2>/dev/null) 2>/dev/null; done; sleep 1
                     rm -rf \(directory))' ) </dev/null >/dev/null 2>&1 &
                    """)
                return cluster
            }
            await cluster.stopServer(0)
            await cluster.stopServer(1)
        }
        throw HarnessError("the ClickHouse test servers did not start: \((try? String(contentsOfFile: "\(directory)/0/log/server.err.log", encoding: .utf8)) ?? "")")
    }

    private func writeConfigs() throws {
        for shard in 0..<2 {
            let folder = "\(directory)/\(shard)"
            try FileManager.default.createDirectory(atPath: "\(folder)/data", withIntermediateDirectories: true)
            let replicas = tcpPorts.map { "<shard><replica><host>127.0.0.1</host><port>\($0)</port></replica></shard>" }.joined()
            try """
                <?xml version="1.0"?>
                <yandex>
                  <logger><level>warning</level><log>\(folder)/log/server.log</log><errorlog>\(folder)/log/server.err.log</errorlog><size>10M</size><count>1</count></logger>
                  <http_port>\(httpPorts[shard])</http_port>
                  <tcp_port>\(tcpPorts[shard])</tcp_port>
                  <interserver_http_port>\(httpPorts[shard] + 2)</interserver_http_port>
                  <listen_host>127.0.0.1</listen_host>
                  <path>\(folder)/data/</path>
                  <tmp_path>\(folder)/tmp/</tmp_path>
                  <user_files_path>\(folder)/user_files/</user_files_path>
                  <format_schema_path>\(folder)/format_schemas/</format_schema_path>
                  <users_config>\(folder)/users.xml</users_config>
                  <default_profile>default</default_profile>
                  <default_database>default</default_database>
                  <timezone>UTC</timezone>
                  <mark_cache_size>67108864</mark_cache_size>
                  <uncompressed_cache_size>67108864</uncompressed_cache_size>
                  <remote_servers><logs>\(replicas)</logs></remote_servers>
                </yandex>
                """.write(toFile: "\(folder)/config.xml", atomically: true, encoding: .utf8)
            try """
                <?xml version="1.0"?>
                <yandex>
                  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
                  <users>
                    <default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default>
                    <\(Self.user)><password>\(Self.password)</password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></\(Self.user)>
                  </users>
                  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
                </yandex>
                """.write(toFile: "\(folder)/users.xml", atomically: true, encoding: .utf8)
        }
    }

    /// Shell lines that start shard `shard` (again, after `killScript`) and wait until it
    /// answers on both its ports; they fail when it does not in 60 s (a port taken).
    func startScript(_ shard: Int) -> String {
        let folder = "\(directory)/\(shard)"
        return """
            ( \(Shell.closesInherited)exec setsid clickhouse-server --config-file=\(folder)/config.xml </dev/null >>\(folder)/out 2>&1 ) & echo $! > \(folder)/pid
            up=0; for i in $(seq 600); do
              if [ "$(curl -s http://127.0.0.1:\(httpPorts[shard])/ping 2>/dev/null)" = "Ok." ] \\
                 && clickhouse-client --port \(tcpPorts[shard]) --query 'SELECT 1' >/dev/null 2>&1; then up=1; break; fi
              kill -0 $(cat \(folder)/pid) 2>/dev/null || break
              sleep 0.1
            done; [ $up = 1 ]
            """
    }

    /// Shell lines that kill shard `shard` (SIGKILL: as a crash would) and wait until it is gone.
    func killScript(_ shard: Int) -> String {
        """
        server=$(cat \(directory)/\(shard)/pid); kill -KILL $server; for i in $(seq 300); do kill -0 $server 2>/dev/null || break; sleep 0.1; done
        """
    }

    @discardableResult
    func startServer(_ shard: Int) async throws -> Bool {
        try await Shell.bash(startScript(shard), timeout: .seconds(90)).status == 0
    }

    func stopServer(_ shard: Int) async {
        _ = try? await Shell.bash("[ -f \(directory)/\(shard)/pid ] && { \(killScript(shard)); }", timeout: .seconds(60))
    }

    /// Stops both servers and removes their folder (a cluster of a test's own).
    func remove() async {
        await stopServer(0)
        await stopServer(1)
        _ = try? await Shell.bash("rm -rf \(Shell.quote(directory))")
    }

    /// A new, empty database on both shards: its name.
    func createDatabase() async throws -> String {
        let name = "t\(UInt32.random(in: 0...UInt32.max))"
        for shard in 0..<2 { try await query("CREATE DATABASE \(name)", shard: shard) }
        return name
    }

    /// sluice's `-O` URL for `database` on `shard` (as the user with a password).
    func url(_ database: String, shard: Int = 0, table: String? = nil) -> String {
        "clickhouse://\(Self.user):\(Self.password)@127.0.0.1:\(httpPorts[shard])/\(database)" + (table.map { "?table=\($0)" } ?? "")
    }

    /// clickhouse-client's output of `sql` on `shard` (throws if it fails).
    @discardableResult
    func query(_ sql: String, shard: Int = 0) async throws -> String {
        try await Shell.bashOutput("clickhouse-client --host 127.0.0.1 --port \(tcpPorts[shard]) --query \(Shell.quote(sql))")
    }

    /// The file name in a row's `source` (`HOST:/PATH/NAME#DEVICE.INODE.HASH`), as SQL.
    static let fileName = #"replaceRegexpOne(replaceRegexpOne(source, '#[0-9]+\.[0-9]+\.[0-9a-f]*$', ''), '^.*/', '')"#

    /// `FILE NUMBER HEX` per row (`SQLiteOutputTests.expectedRows`'s form), the host taken
    /// off the source, after the table's parts are merged (copies of a row are one).
    func rows(_ database: String, table: String = "logs", shard: Int = 0) async throws -> [String] {
        try await query("OPTIMIZE TABLE \(database).\(table) FINAL", shard: shard)
        let text = try await query("""
            SELECT concat(\(Self.fileName), ' ', toString(line_no), ' ', hex(line)) \
            FROM \(database).\(table) ORDER BY source, line_no FORMAT TabSeparatedRaw
            """, shard: shard)
        return text.split(separator: "\n").map(String.init)
    }
}
