import CSQLite
import Glibc

/// `-O sqlite:PATH[?table=NAME]`: every selected line a row of an SQLite table, one
/// transaction per batch, each with the checkpoints of the inputs it took lines from
/// (`sluice_checkpoints`), so a run killed at any moment and started again with `--resume`
/// leaves every selected line in the table exactly once.
///
/// The database is opened, and the table created or checked, when the sink is made: a bad
/// target fails before any input is read. The blocking work (SQLite's calls) runs on the
/// sink's own thread (`SinkThread`); `SQLiteWriter` is that half. WAL journal with
/// `synchronous=NORMAL`: a commit survives the process being killed (it is in the WAL);
/// the last commits may be lost to a power failure, and then their checkpoints with them.
public final class SQLiteSink: LineSink, ThreadedSink {
    private let thread: SinkThread
    var sinkThread: SinkThread { thread }
    private let writer: SQLiteWriter
    public let resumePoints: [Int: ResumePoint]
    public let resumeNotes: [SluiceError]

    /// `sources`: the run's named inputs (rows name them; checkpoints key them). `resume`:
    /// read their checkpoints now (`resumePoints`). `interrupt`: a stop's way to end a wait
    /// for the database's lock.
    init(path: String, table: String, sources: [CheckpointSource], inputNames: [String], resume: Bool,
         interrupt: Interrupt = Interrupt()) throws {
        thread = SinkThread(interrupt: interrupt)
        writer = try SQLiteWriter(path: path, table: table, sources: sources, inputNames: inputNames, interrupt: interrupt)
        (resumePoints, resumeNotes) = resume ? try writer.resumePoints() : ([:], [])
    }

    public func write(_ chunk: LineChunk) async throws {
        guard chunk.positions != nil, !chunk.isEmpty else { return }
        try await thread.submit(weight: chunk.byteCount) { [writer] in try writer.insert(chunk) }
    }

    /// Every batch end commits (a timeout's too: it makes the lines so far visible); a
    /// piece of a batch does not.
    public func batchEnded(_ closing: BatchClosing) async throws {
        guard closing != .partial else { return }
        try await thread.submit { [writer] in try writer.commit() }
    }

    public func flushCompletely() async throws {
        try await thread.perform { [writer] in try writer.commit() }
    }

    public func finish() async throws {
        try await thread.finish { [writer] in
            try writer.commit()
            writer.close()
        }
    }

    public func abort() async {
        await thread.abort { [writer] in writer.rollbackAndClose() }
    }

    public var committedRows: (lines: Int, batches: Int)? { writer.committed.withLock { $0 } }
}

/// The blocking half of `SQLiteSink`: one connection, its prepared statements and the open
/// transaction. Made by the caller, then used only on the sink's thread (`@unchecked
/// Sendable` for that hand-over).
final class SQLiteWriter: @unchecked Sendable {
    /// The table's columns, as `-O sqlite:` creates them.
    static let columns: [(name: String, type: String)] = [
        ("id", "INTEGER"), ("source", "TEXT"), ("line_no", "INTEGER"), ("ts", "TEXT"),
        ("level", "TEXT"), ("line", "BLOB"), ("fields", "TEXT"),
    ]
    static var columnsText: String {
        columns.map { $0.name == "id" ? "id INTEGER PRIMARY KEY" : "\($0.name) \($0.type)" }.joined(separator: ", ")
    }

    let place: String
    let table: String
    private var db: OpaquePointer?
    private var insertRow: OpaquePointer?
    private var upsertCheckpoint: OpaquePointer?
    private var readCheckpoint: OpaquePointer?
    private var inTransaction = false
    /// Per input index: its source (named files), and its name for rows.
    private let sources: [Int: CheckpointSource]
    /// Per input index, its name for rows as a C string (bound without a copy).
    private let sourceNames: [UnsafeMutablePointer<CChar>]
    private var boundInput = -1
    /// Per input touched by the open transaction: the last line's (end offset, number).
    private var reached: [Int: (end: Int, number: Int)] = [:]
    /// Rows of the open transaction, and what has been committed (read from other threads).
    private var pendingRows = 0
    let committed = Locked<(lines: Int, batches: Int)>((0, 0))

    /// Kept alive for SQLite's busy handler, which reads it.
    private let interrupt: Interrupt

    init(path: String, table: String, sources: [CheckpointSource], inputNames: [String], interrupt: Interrupt) throws {
        self.interrupt = interrupt
        place = "sqlite:\(path)"
        self.table = table
        self.sources = Dictionary(uniqueKeysWithValues: sources.map { ($0.index, $0) })
        sourceNames = inputNames.map { strdup($0)! }
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { String(path[...$0]) } ?? "."
        var info = stat()
        if stat(folder, &info) != 0 {
            throw SluiceError(.output, place: place, "cannot create the database: \(SluiceError.systemReason(errno))")
        }
        if stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR {
            throw SluiceError(.output, place: place, "cannot open the database: Is a directory")
        }
        let status = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        guard status == SQLITE_OK else {
            let reason = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(db)
            db = nil
            throw SluiceError(.output, place: place, "cannot open the database: \(reason)")
        }
        do {
            // Other writers of the same file (several sluice processes) wait their turn, up to
            // 30 s, but a stop or a cancellation ends the wait (SQLITE_BUSY: the sink fails,
            // naming the output, as a stalled output does after a stop).
            sqlite3_busy_handler(db, { context, tries in
                let interrupt = Unmanaged<Interrupt>.fromOpaque(context!).takeUnretainedValue()
                if interrupt.isInterrupted || tries >= 3000 { return 0 }
                usleep(10_000)
                return 1
            }, Unmanaged.passUnretained(interrupt).toOpaque())
            // 16 KiB pages for a new database (an existing one keeps its own): fewer pages to
            // write twice (WAL, then the checkpoint). ERROR and WARN of 1 GB (850,000 rows),
            // three runs each: 4 KiB 1.57-1.82 s, 16 KiB 1.18-1.59 s, 64 KiB 1.41-1.66 s.
            try execute("PRAGMA page_size=16384")
            try execute("PRAGMA journal_mode=WAL")
            try execute("PRAGMA synchronous=NORMAL")
            try execute("CREATE TABLE IF NOT EXISTS \(Self.quoted(table)) (\(Self.columnsText))")
            try checkColumns()
            try execute("""
                CREATE TABLE IF NOT EXISTS sluice_checkpoints (target TEXT NOT NULL, source TEXT NOT NULL, \
                byte_offset INTEGER NOT NULL, line_no INTEGER NOT NULL, device INTEGER, inode INTEGER, \
                fingerprint TEXT, fingerprint_length INTEGER, PRIMARY KEY (target, source))
                """)
            readCheckpoint = try prepare("SELECT byte_offset FROM sluice_checkpoints WHERE target = ?1 AND source = ?2")
            for source in sources { seenOffsets[source.key] = .some(try committedOffset(source.key)) }
            insertRow = try prepare("INSERT INTO \(Self.quoted(table)) (source, line_no, line) VALUES (?1, ?2, ?3)")
            upsertCheckpoint = try prepare("""
                INSERT INTO sluice_checkpoints VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                ON CONFLICT (target, source) DO UPDATE SET byte_offset = excluded.byte_offset, \
                line_no = excluded.line_no, device = excluded.device, inode = excluded.inode, \
                fingerprint = excluded.fingerprint, fingerprint_length = excluded.fingerprint_length
                """)
        } catch {
            close()
            throw error
        }
    }

    deinit {
        close()
        for name in sourceNames { free(name) }
    }

    /// `"name"` (a table name is letters, digits and `_`: `DatabaseTarget` checks).
    static func quoted(_ identifier: String) -> String { "\"\(identifier)\"" }

    /// An existing table must have exactly the columns this sink writes, in order.
    private func checkColumns() throws {
        let info = try prepare("PRAGMA table_info(\(Self.quoted(table)))")
        defer { sqlite3_finalize(info) }
        var found: [(String, String)] = []
        while sqlite3_step(info) == SQLITE_ROW {
            found.append((String(cString: sqlite3_column_text(info, 1)), String(cString: sqlite3_column_text(info, 2)).uppercased()))
        }
        guard found.map(\.0) != Self.columns.map(\.name) || found.map(\.1) != Self.columns.map(\.type) else { return }
        let have = found.map { $0.1.isEmpty ? $0.0 : "\($0.0) \($0.1)" }.joined(separator: ", ")
        throw SluiceError(.output, place: place, "table \(table) has the columns (\(have)); sluice writes (\(Self.columnsText)): name another table with ?table=NAME")
    }

    private func error(_ what: String) -> SluiceError {
        let reason = db.map { String(cString: sqlite3_errmsg($0)) } ?? "closed"
        return SluiceError(.output, place: place, "\(what): \(reason)")
    }

    private func execute(_ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw error("cannot run '\(sql.prefix(40))'") }
    }

    private func prepare(_ sql: String) throws -> OpaquePointer? {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil) == SQLITE_OK else {
            throw error("cannot prepare '\(sql.prefix(40))'")
        }
        return statement
    }

    /// The committed checkpoints of this run's inputs that still speak for their files (their
    /// own, or one left under an earlier name of the same file), and the warnings to report.
    func resumePoints() throws -> ([Int: ResumePoint], [SluiceError]) {
        let query = try prepare("""
            SELECT source, byte_offset, line_no, device, inode, fingerprint, fingerprint_length \
            FROM sluice_checkpoints WHERE target = ?1
            """)
        defer { sqlite3_finalize(query) }
        sqlite3_bind_text(query, 1, table, -1, SQLITE_TRANSIENT)
        var checkpoints: [Checkpoint] = []
        while sqlite3_step(query) == SQLITE_ROW {
            checkpoints.append(Checkpoint(key: sqlite3_column_text(query, 0).map { String(cString: $0) } ?? "",
                                          offset: Int(sqlite3_column_int64(query, 1)),
                                          lines: Int(sqlite3_column_int64(query, 2)),
                                          device: UInt64(bitPattern: sqlite3_column_int64(query, 3)),
                                          inode: UInt64(bitPattern: sqlite3_column_int64(query, 4)),
                                          fingerprint: sqlite3_column_text(query, 5).map { String(cString: $0) } ?? "",
                                          fingerprintLength: Int(sqlite3_column_int64(query, 6))))
        }
        return CheckpointSource.resumePoints(for: Array(sources.values), from: checkpoints)
    }

    /// Each input's committed offset as this run last saw it (read at the start, then as it
    /// commits): a commit that finds another offset there means another run is exporting the
    /// same file into the same table, and stops this one before it duplicates lines.
    private var seenOffsets: [String: Int?] = [:]

    private func committedOffset(_ key: String) throws -> Int? {
        sqlite3_reset(readCheckpoint)
        // Reset at once after: a statement left on its row keeps a read transaction open,
        // and a connection holding an old snapshot is refused the write lock (SQLITE_BUSY,
        // without waiting), as soon as another writer has committed.
        defer { sqlite3_reset(readCheckpoint) }
        sqlite3_bind_text(readCheckpoint, 1, table, -1, SQLITE_TRANSIENT)
        sqlite3_bind_text(readCheckpoint, 2, key, -1, SQLITE_TRANSIENT)
        switch sqlite3_step(readCheckpoint) {
        case SQLITE_ROW: return Int(sqlite3_column_int64(readCheckpoint, 0))
        case SQLITE_DONE: return nil
        default: throw error("cannot read a checkpoint")
        }
    }

    /// Adds the chunk's lines (with their positions) to the open transaction.
    func insert(_ chunk: LineChunk) throws {
        guard let positions = chunk.positions else { return }
        if !inTransaction {
            try execute("BEGIN IMMEDIATE")
            inTransaction = true
        }
        var index = 0
        try chunk.forEachRow { line in
            let input = Int(positions.inputs[index])
            sqlite3_reset(insertRow)
            if input != boundInput {
                // Bindings outlive a reset: the source is bound again only when it changes,
                // without a copy (the names live as long as the statement).
                boundInput = input
                sqlite3_bind_text(insertRow, 1, sourceNames[input], -1, nil)
            }
            sqlite3_bind_int64(insertRow, 2, Int64(positions.numbers[index]))
            // The line's bytes stay put until the step returns: no copy. An empty line is an
            // empty blob, not NULL.
            sqlite3_bind_blob(insertRow, 3, line.baseAddress ?? UnsafePointer(bitPattern: 1), Int32(line.count), nil)
            guard sqlite3_step(insertRow) == SQLITE_DONE else { throw error("cannot insert a row") }
            reached[input] = (positions.ends[index], positions.lastNumber(index))
            pendingRows += 1
            index += 1
        }
        sqlite3_bind_null(insertRow, 3)  // the chunk's buffer goes away
    }

    /// Commits the open transaction with the checkpoints of the inputs it took lines from.
    func commit() throws {
        guard inTransaction else { return }
        for (input, position) in reached {
            guard let source = sources[input] else { continue }
            let now = try committedOffset(source.key)
            if let seen = seenOffsets[source.key], seen != now {
                throw SluiceError(.output, place: place, "another run committed lines of \(source.name) into table \(table) "
                    + "while this one ran: this one stops, its last batch not committed (export each file from one run at a time)")
            }
            let checkpoint = source.checkpoint(end: position.end, lines: position.number)
            seenOffsets[source.key] = checkpoint.offset
            sqlite3_reset(upsertCheckpoint)
            sqlite3_bind_text(upsertCheckpoint, 1, table, -1, SQLITE_TRANSIENT)
            sqlite3_bind_text(upsertCheckpoint, 2, source.key, -1, SQLITE_TRANSIENT)
            sqlite3_bind_int64(upsertCheckpoint, 3, Int64(checkpoint.offset))
            sqlite3_bind_int64(upsertCheckpoint, 4, Int64(checkpoint.lines))
            sqlite3_bind_int64(upsertCheckpoint, 5, Int64(bitPattern: checkpoint.device))
            sqlite3_bind_int64(upsertCheckpoint, 6, Int64(bitPattern: checkpoint.inode))
            sqlite3_bind_text(upsertCheckpoint, 7, checkpoint.fingerprint, -1, SQLITE_TRANSIENT)
            sqlite3_bind_int64(upsertCheckpoint, 8, Int64(checkpoint.fingerprintLength))
            guard sqlite3_step(upsertCheckpoint) == SQLITE_DONE else { throw error("cannot write a checkpoint") }
        }
        try execute("COMMIT")
        for (input, position) in reached { sources[input]?.committed(end: position.end) }
        inTransaction = false
        reached = [:]
        let rows = pendingRows
        pendingRows = 0
        committed.withLock { $0 = ($0.lines + rows, $0.batches + 1) }
    }

    func rollbackAndClose() {
        if inTransaction { sqlite3_exec(db, "ROLLBACK", nil, nil, nil) }
        inTransaction = false
        pendingRows = 0
        close()
    }

    func close() {
        sqlite3_finalize(insertRow)
        sqlite3_finalize(upsertCheckpoint)
        sqlite3_finalize(readCheckpoint)
        insertRow = nil
        upsertCheckpoint = nil
        readCheckpoint = nil
        if db != nil { sqlite3_close(db) }
        db = nil
    }
}

/// SQLite's "copy the bytes now" destructor, which Swift cannot import as a constant.
let SQLITE_TRANSIENT = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
