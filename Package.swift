// swift-tools-version:6.0
import PackageDescription

// Startup (an empty run: 12.6 -> 7.9 ms, hyperfine, 150 runs each, the same objects linked
// both ways): a position-dependent executable has no relocations to apply (907 -> 608 page
// faults), and without --export-dynamic its 41,000 dynamic symbols become 600, which the Swift
// runtime's backtrace set-up searched linearly (dladdr) at every start. Release only: the
// sanitizers' builds stay PIE.
let linkerSettings: [LinkerSetting] = [
    .unsafeFlags(["-Xclang-linker", "-no-pie", "-Xlinker", "--no-export-dynamic"], .when(configuration: .release)),
]

// Startup: without this, code that needs a concrete generic type's metadata (`[UInt8]`,
// `BoundedChannel<LineChunk>`) asks the runtime to demangle the type's name at its first use,
// which also checks each generic requirement by a conformance lookup. Release only.
//
// Release builds also leave out the dynamic exclusivity checks (`-enforce-exclusivity=unchecked`):
// every access to a class's stored property in a loop (a shaper's scratch buffers) recorded
// itself in a thread-local access set, 10% of a ClickHouse export's CPU. The compiler's static
// checks stay, and debug builds (the tests, the sanitizers) keep the dynamic ones.
let swiftSettings: [SwiftSetting] = [
    .unsafeFlags(["-Xfrontend", "-disable-concrete-type-metadata-mangled-name-accessors", "-enforce-exclusivity=unchecked"],
                 .when(configuration: .release)),
]

let package = Package(
    name: "sluice",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sluice", targets: ["sluice"]),
        .executable(name: "sluice-servers", targets: ["sluice-servers"]),
        .library(name: "SluiceKit", targets: ["SluiceKit"]),
    ],
    dependencies: [
        // -O postgresql://: the connection pool and COPY FROM STDIN (README, "Why these libraries").
        .package(url: "https://github.com/vapor/postgres-nio", exact: "1.33.2"),
        // -O clickhouse://: pooled HTTP/1.1 to ClickHouse's HTTP interface (issue 13).
        .package(url: "https://github.com/swift-server/async-http-client", exact: "1.37.0"),
    ],
    targets: [
        // Two executables, one command line (SluiceCLI): `sluice` without the database servers'
        // client libraries (PostgresNIO, AsyncHTTPClient, Foundation: most of the conformances
        // the Swift runtime scans at each start, and 140 of 160 MB), and `sluice-servers` with
        // them, which `sluice` becomes (execv) for `-O postgresql://` and `-O clickhouse://`.
        .executableTarget(
            name: "sluice",
            dependencies: ["SluiceCLI"],
            swiftSettings: swiftSettings,
            linkerSettings: linkerSettings
        ),
        .executableTarget(
            name: "sluice-servers",
            dependencies: ["SluiceCLI", "SluiceKit", "SluicePostgres", "SluiceClickHouse"],
            swiftSettings: swiftSettings,
            linkerSettings: linkerSettings
        ),
        // The command line and its run (grep's options, sluice's own, the exit status); the
        // executables hold only the process-wide setup (CSluiceMain) and which sinks they have.
        .target(
            name: "SluiceCLI",
            dependencies: ["SluiceKit", "CSluiceMain"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SluiceKit",
            dependencies: ["CSluiceSearch", "CSluiceMappedFile", "CSluiceProcess", "CISAL", "CPCRE2", "CZlib", "CLzma", "CBzip2", "CZstd", "CSQLite"],
            swiftSettings: swiftSettings
        ),
        // -O postgresql://: its own target, so that the libFuzzer build of SluiceKit (Fuzz/run.sh,
        // plain swiftc) needs no package.
        .target(
            name: "SluicePostgres",
            dependencies: [
                "SluiceKit",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // ConnectionPoolError: the pool's "cannot connect", retried as a lost connection.
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // -O clickhouse://: its own target, as SluicePostgres is.
        .target(
            name: "SluiceClickHouse",
            dependencies: [
                "SluiceKit",
                "CZlib",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        // C by concern: literal search (SIMD, Aho-Corasick), mapped input windows, child
        // processes; CSluiceMain is the executable's process-wide setup (signals, fds 0-2,
        // malloc tuning), which the library never links.
        .target(name: "CSluiceSearch"),
        .target(name: "CSluiceMappedFile"),
        .target(name: "CSluiceProcess"),
        .target(name: "CSluiceMain", dependencies: ["CSluiceProcess"]),
        // ISA-L is not linked: loaded at its first use (Sources/CISAL/shim.h says why).
        .systemLibrary(name: "CISAL", providers: [.apt(["libisal-dev"])]),
        .systemLibrary(name: "CPCRE2", providers: [.apt(["libpcre2-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        // The other compressed inputs (detected by content, decoded on the reader thread).
        .systemLibrary(name: "CLzma", providers: [.apt(["liblzma-dev"])]),
        .systemLibrary(name: "CBzip2", providers: [.apt(["libbz2-dev"])]),
        .systemLibrary(name: "CZstd", providers: [.apt(["libzstd-dev"])]),
        // -O sqlite:PATH: SQLite's C API (Debian's libsqlite3-dev; README, "Why these libraries").
        .systemLibrary(name: "CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .testTarget(name: "SluiceKitTests", dependencies: ["SluiceKit", "CSluiceSearch"]),
        .testTarget(name: "SluiceCLITests", dependencies: ["sluice", "sluice-servers"]),
        .testTarget(name: "SluicePostgresTests", dependencies: ["SluicePostgres", "SluiceKit"]),
        .testTarget(name: "SluiceClickHouseTests", dependencies: ["SluiceClickHouse", "SluiceKit", "CZlib"]),
    ]
)
