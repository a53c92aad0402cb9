import Glibc
import SluiceCLI

// grep, transforms and exports to files and SQLite; `-O postgresql://` and `clickhouse://`
// are written by `sluice-servers`, which this process becomes for them (`runMain`).
exit(runToCompletion { await runMain(servers: nil) })
