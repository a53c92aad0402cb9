import Glibc
import SluiceCLI
import SluiceClickHouse
import SluiceKit
import SluicePostgres

// sluice with the sinks of database servers and their client libraries: what `sluice` becomes
// for `-O postgresql://` and `-O clickhouse://` (and a whole sluice by itself).
exit(runToCompletion {
    await runMain(servers: DatabaseServers(), serverLibraries: [("PostgresNIO", PostgresSinkMaker.packageVersion),
                                                              ("AsyncHTTPClient", ClickHouseSinkMaker.packageVersion)])
})

/// The sinks of database servers, each in a module of its own with its client library.
struct DatabaseServers: DatabaseSinkMaker {
    func makeSink(_ request: DatabaseSinkRequest) async throws -> any LineSink {
        if case .clickhouse = request.target.kind { return try await ClickHouseSinkMaker().makeSink(request) }
        return try await PostgresSinkMaker().makeSink(request)
    }
}
