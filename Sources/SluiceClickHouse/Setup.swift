import SluiceKit

/// What `ClickHouseSink.open` does before the run: the server reached (a bad host, user,
/// password or database fails here with the server's reason), the table created or checked,
/// the checkpoints table created, and the checkpoints read (`--resume`).
enum Setup {
    /// The table's columns as `-O clickhouse://` creates them (issue 13), with
    /// `system.columns`' names of their types.
    static let columns: [(name: String, type: String)] = [
        ("source", "String"), ("line_no", "UInt64"), ("ts", "DateTime"), ("level", "String"), ("line", "String"), ("fields", "String"),
    ]
    static var columnsText: String { columns.map { "\($0.name) \($0.type)" }.joined(separator: ", ") }

    /// Each input's position after its last stored batch, one row per store; the latest
    /// (`version`) wins, in queries (`argMax`) and when parts merge.
    static let checkpointsTable = "sluice_checkpoints"
    static let checkpointColumns = "target String, source String, byte_offset UInt64, line_no UInt64, device UInt64, inode UInt64, "
        + "fingerprint String, fingerprint_length UInt32, version UInt64"

    /// Where each input resumes, the warnings about those points, and, per input resumed from
    /// a checkpoint of another name (a log renamed by a rotation since), that name's key: its
    /// rows go on under the name they began under, so that a batch sent again merges.
    struct Resume {
        var points: [Int: ResumePoint] = [:]
        var notes: [SluiceError] = []
        var renamedFrom: [Int: String] = [:]
    }

    static func run(client: ClickHouseClient, table: String, sources: [CheckpointSource], resume: Bool,
                    place: String) async throws -> Resume {
        let database = client.address.database
        do {
            _ = try await client.query("SELECT 1", timeout: .seconds(30))
        } catch {
            throw ServerFailure.sluiceError(error, place: place, doing: "cannot connect")
        }
        do {
            _ = try await client.query("CREATE TABLE IF NOT EXISTS \(database).\(table) (\(columnsText)) ENGINE = ReplacingMergeTree ORDER BY (source, line_no)")
            let found = try await client.query("""
                SELECT name, type FROM system.columns WHERE database = \(ClickHouseClient.literal(database)) \
                AND table = \(ClickHouseClient.literal(table)) FORMAT TabSeparated
                """)
            let have = String(decoding: found, as: UTF8.self).split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).joined(separator: " ") }
            if have != columns.map({ "\($0.name) \($0.type)" }) {
                throw SluiceError(.output, place: place, "table \(database).\(table) has the columns (\(have.joined(separator: ", "))); "
                    + "sluice writes (\(columnsText)): name another table with ?table=NAME")
            }
            // Exactly once rests on the engine: copies of a row (a batch sent again) are one
            // row only in a ReplacingMergeTree keyed (source, line_no). A Distributed table
            // would also take an INSERT before its shards store it.
            let engine = String(decoding: try await client.query("""
                SELECT engine_full FROM system.tables WHERE database = \(ClickHouseClient.literal(database)) \
                AND name = \(ClickHouseClient.literal(table)) FORMAT TabSeparatedRaw
                """), as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
            if !(engine.hasPrefix("ReplacingMergeTree") || engine.hasPrefix("ReplicatedReplacingMergeTree")) || !engine.contains("ORDER BY (source, line_no)") {
                throw SluiceError(.output, place: place, "table \(database).\(table) is '\(engine.prefix(120))'; sluice writes into a ReplacingMergeTree "
                    + "ORDER BY (source, line_no), where a batch sent twice is one copy once parts merge (on a cluster: each host into its "
                    + "shard's table, queries through a Distributed one): name another table with ?table=NAME")
            }
            _ = try await client.query("""
                CREATE TABLE IF NOT EXISTS \(database).\(checkpointsTable) (\(checkpointColumns)) \
                ENGINE = ReplacingMergeTree(version) ORDER BY (target, source)
                """)
            guard resume else { return Resume() }
            let host = sources.first.map { String($0.key.prefix { $0 != ":" }) + ":" } ?? ""
            let stored = try await client.query("""
                SELECT source, argMax(byte_offset, version), argMax(line_no, version), argMax(device, version), argMax(inode, version), \
                argMax(fingerprint, version), argMax(fingerprint_length, version) FROM \(database).\(checkpointsTable) \
                WHERE target = \(ClickHouseClient.literal(table)) GROUP BY source FORMAT TabSeparated
                """)
            var checkpoints: [Checkpoint] = []
            for row in stored.split(separator: 0x0A) {
                let values = row.split(separator: 0x09, omittingEmptySubsequences: false).map { String(decoding: unescaped($0), as: UTF8.self) }
                guard values.count == 7, values[0].hasPrefix(host), let offset = Int(values[1]), let lines = Int(values[2]),
                      let device = UInt64(values[3]), let inode = UInt64(values[4]), let length = Int(values[6]) else { continue }
                checkpoints.append(Checkpoint(key: values[0], offset: offset, lines: lines, device: device, inode: inode,
                                              fingerprint: values[5], fingerprintLength: length))
            }
            var resumed = Resume()
            (resumed.points, resumed.notes) = CheckpointSource.resumePoints(for: sources, from: checkpoints)
            for source in sources where resumed.points[source.index] != nil {
                let same = { (checkpoint: Checkpoint) in checkpoint.device == source.device && checkpoint.inode == source.inode }
                if let own = checkpoints.first(where: { $0.key == source.key }), same(own) { continue }
                if let moved = checkpoints.first(where: { $0.key != source.key && same($0) }) { resumed.renamedFrom[source.index] = moved.key }
            }
            return resumed
        } catch {
            throw ServerFailure.sluiceError(error, place: place, doing: "cannot set up the table")
        }
    }

    /// A TabSeparated value as its bytes.
    static func unescaped(_ value: ArraySlice<UInt8>) -> [UInt8] {
        guard value.contains(0x5C) else { return Array(value) }
        var out: [UInt8] = []
        var index = value.startIndex
        while index < value.endIndex {
            let byte = value[index]
            if byte == 0x5C, index + 1 < value.endIndex {
                let next = value[index + 1]
                switch next {
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "0"): out.append(0x00)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                default: out.append(next)
                }
                index += 2
            } else {
                out.append(byte)
                index += 1
            }
        }
        return out
    }
}
