/// Why a batch was closed.
public enum BatchClosing: Sendable, Equatable {
    /// It reached the batch size.
    case size
    /// It reached the byte bound (`BatchPolicy.maxBytes`) before the batch size.
    case bytes
    /// Its first line had waited for the batch timeout (a trickling input).
    case timeout
    /// The input ended.
    case end
    /// Not a batch boundary: a piece of a batch too large to hold, handed on early so memory
    /// stays bounded (only when the policy sets `pieceBytes`).
    case partial
}

/// A batch of lines: the chunks (or parts of chunks) that make it up, in order.
public struct LineBatch: Sendable {
    public var segments: [LineChunk]
    public var lineCount: Int
    public var closing: BatchClosing
    /// How many batch ends this holds: 0 for a `.partial` piece or an empty batch, else 1,
    /// or more when the policy lets a chunk through uncut (`exactBoundaries == false`).
    public var ends: Int

    public init(segments: [LineChunk], lineCount: Int, closing: BatchClosing, ends: Int? = nil) {
        self.segments = segments
        self.lineCount = lineCount
        self.closing = closing
        self.ends = ends ?? (closing == .partial || lineCount == 0 ? 0 : 1)
    }

    public var byteCount: Int { segments.reduce(0) { $0 + $1.byteCount } }

    /// Diagnostics carried by the batch's chunks, in order.
    public var notes: [SluiceError] { segments.flatMap(\.notes) }

    /// The batch's bytes in one buffer.
    public func joined() -> [UInt8] {
        if segments.count == 1 { return segments[0].bytes }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(byteCount)
        for segment in segments { segment.withUnsafeBufferPointer { bytes.append(contentsOf: $0) } }
        return bytes
    }
}

/// How lines are grouped into batches: `size` lines or `maxBytes` bytes, whichever comes
/// first (vector's `max_events` and `max_bytes`), or fewer once the first line of the batch is
/// `timeout` old (nil: only the bounds or the end of input close a batch).
public struct BatchPolicy: Sendable, Equatable {
    public var size: Int
    public var timeout: Duration?
    /// The byte bound: a batch closes (`.bytes`) before a line that would take it past this
    /// many bytes; one line longer than the bound is a batch of its own. nil: lines only.
    /// With `--exec` it cuts what each command is given (vector's `max_bytes`). Without
    /// `--exec` the runner turns it into `pieceBytes` instead (batches, and `{n}` files, stay
    /// cut by line count; only what is held is bounded).
    public var maxBytes: Int?
    /// The default byte bound: none. `--exec` is streamed (a command gets its batch as it
    /// forms, and memory holds two chunks of it, whatever its size), so a default bound would
    /// only change what each command is given, where `-b N` should mean what `split -l N
    /// --filter` means. (Before streaming, a 2 MiB default bounded `-e '' -b 500000 --exec cat`
    /// on 200 MB at 51 MiB; streamed, it peaks at about 30 MiB without any byte bound.)
    public static let defaultMaxBytes: Int? = nil
    /// Lines per batch into a database when no size is given: a batch is a transaction, and a
    /// transaction costs round trips and a commit's flush whatever its size. ERROR and WARN of
    /// 1 GB (850,000 rows) into PostgreSQL, `-j2`: 6.5 s in batches of 1000, 3.4 s of 10,000,
    /// 4.8 s of 100,000 (`grep | psql \copy`, one transaction: 4.0 s).
    public static let databaseSize = 10_000
    /// Lines per batch into ClickHouse when no size is given: each INSERT is a part on disk
    /// that the server writes, then merges with the others, so fewer and larger is cheaper
    /// for it; the sink holds `-j` + 2 batches until they are stored (at most 4 MiB of lines
    /// each). INFO of 100 MB (469,357 rows), -j2: 2.3-2.6 s in batches of 10,000, 1.7-2.4 s
    /// of 20,000, 1.9-2.5 s of 30,000; peak RSS 48, 56-58 and 63 MiB. Of 1 GB (4.47 M rows):
    /// 22.8-25.9 s and 63.2-63.4 MiB in batches of 20,000, 22.6 s and 60.1 MiB of 16,000,
    /// 25.2 s and 55.6 MiB of 12,000 (batches of 80,000: 20.2 s, but 98.5 MiB).
    public static let clickHouseSize = 16_000
    /// When set, an open batch holding this many bytes is handed on as a `.partial` piece
    /// (its lines still count towards `size`). nil: batches are whole. (`--exec` sets 1: each
    /// chunk goes to its command as the batch forms.)
    public var pieceBytes: Int?
    /// Whether a batch ends exactly after `size` lines, a chunk straddling the end being cut
    /// there. When nothing downstream needs whole batches (no `--exec`; file sinks count
    /// lines themselves), cutting is a serial scan for nothing: chunks then pass uncut, and a
    /// handed-on batch carries the number of batch ends it completed (`LineBatch.ends`).
    public var exactBoundaries: Bool

    public init(size: Int = 1000, timeout: Duration? = .milliseconds(200), maxBytes: Int? = BatchPolicy.defaultMaxBytes,
                pieceBytes: Int? = nil, exactBoundaries: Bool = true) {
        precondition(size > 0 && (maxBytes ?? 1) > 0)
        self.size = size
        self.timeout = timeout
        self.maxBytes = maxBytes
        self.pieceBytes = pieceBytes
        self.exactBoundaries = exactBoundaries
    }
}

/// The batcher's decisions as a pure value: feed it chunks and the time, take batches out.
/// Tested without sleeping; `Batcher` drives it with a real clock.
public struct BatchStateMachine<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    public let policy: BatchPolicy
    /// The lines held now (the open batch, or its latest piece).
    private(set) var segments: [LineChunk] = []
    private(set) var pendingLines = 0
    private(set) var pendingBytes = 0
    /// Whether the last segment is the batcher's own buffer gathering small chunks.
    private var gathering = false
    /// Chunks this small are copied into one buffer of the batch instead of held each alone:
    /// a trickling input brings a line per read, and a batch of 20,000 chunks held ~3 KiB per
    /// line (the chunk, its buffer, the allocator's holes between them) instead of its bytes.
    static var gatherBelow: Int { 4096 }
    /// Lines of the open batch, including pieces already handed on.
    private(set) var batchLines = 0
    /// Bytes of the open batch, including pieces already handed on (what `maxBytes` bounds:
    /// with `--exec` streamed, the batch goes on in pieces of one chunk).
    private(set) var batchBytes = 0
    private(set) var openedAt: Instant?

    public init(policy: BatchPolicy) {
        self.policy = policy
    }

    public var isEmpty: Bool { segments.isEmpty }

    /// When the open batch must be closed by the timeout, if it has a line (held, or handed
    /// on already as a piece or an uncut chunk's tail: then the timeout only ends the batch).
    public var deadline: Instant? {
        guard let openedAt, let timeout = policy.timeout, !segments.isEmpty || batchLines > 0 else { return nil }
        return openedAt.advanced(by: timeout)
    }

    /// Adds a chunk that arrived at `now`; returns the batches (or pieces) it completed.
    public mutating func append(_ chunk: LineChunk, now: Instant) -> [LineBatch] {
        var closed: [LineBatch] = []
        var rest = chunk
        var lines = rest.lineCount
        if !policy.exactBoundaries && lines > 0 {
            if segments.isEmpty && openedAt == nil { openedAt = now }
            hold(rest, lines: lines)
            lines = 0
            rest = LineChunk(bytes: [])
            if batchLines >= policy.size {
                let ends = batchLines / policy.size
                let carried = batchLines % policy.size  // handed on already: the open batch's start
                closed.append(take(.size, ends: ends))
                batchLines = carried
                if carried > 0 { openedAt = now }
            } else if let limit = [policy.pieceBytes, policy.maxBytes].compactMap({ $0 }).min(), pendingBytes >= limit {
                closed.append(takePiece())  // uncut chunks: a byte bound can only hand on pieces
            }
        }
        while lines > 0 {
            if batchLines == 0 && openedAt == nil { openedAt = now }
            // Lines that fit the byte bound: all, or those ending within it (one at least into
            // an empty batch, however long; none when the next line would take a batch that
            // holds lines past the bound, which then closes and the line opens the next).
            var fit = lines
            var cut: (head: LineChunk, tail: LineChunk)?
            if let limit = policy.maxBytes, batchBytes + rest.byteCount > limit {
                let (head, tail, headLines) = rest.split(atMostBytes: max(0, limit - batchBytes))
                fit = head.byteCount > limit - batchBytes && batchLines > 0 ? 0 : headLines
                cut = (head, tail)
            }
            let moved = Swift.min(fit, policy.size - batchLines)
            if moved == lines {
                hold(rest, lines: lines)
                rest = LineChunk(bytes: [])
            } else if moved > 0 {
                let (head, tail) = moved == fit && cut != nil ? cut! : rest.split(afterLines: moved)
                hold(head, lines: moved)
                rest = tail
            }
            lines -= moved
            if batchLines == policy.size {
                closed.append(take(.size))
            } else if moved == fit && lines > 0 {
                closed.append(take(.bytes))
            } else if let limit = policy.pieceBytes, pendingBytes >= limit {
                closed.append(takePiece())
            }
        }
        if policy.timeout == .zero && pendingLines > 0 {
            closed.append(take(.timeout))  // a zero timeout (-q, -m): every arrival closes the batch
        }
        if !rest.notes.isEmpty || (chunk.lineCount == 0 && !chunk.notes.isEmpty) {
            // Notes with no lines ride with the open batch; alone, they start its clock so a
            // diagnostic never waits for lines that may not come.
            if segments.isEmpty && openedAt == nil { openedAt = now }
            segments.append(LineChunk(bytes: [], notes: rest.notes))
            gathering = false
        }
        return closed
    }

    private mutating func hold(_ chunk: LineChunk, lines: Int) {
        if chunk.byteCount < Self.gatherBelow && chunk.notes.isEmpty && !chunk.endsWithoutNewline {
            if gathering {
                segments[segments.count - 1].appendLines(of: chunk, lines: lines)
            } else {
                var gathered = LineChunk(bytes: chunk.withUnsafeBufferPointer { Array($0) }, lineCount: lines)  // its own buffer
                gathered.positions = chunk.positions
                gathered.recordEnds = chunk.recordEnds
                segments.append(gathered)
                gathering = true
            }
        } else {
            segments.append(chunk)
            gathering = false
        }
        pendingLines += lines
        pendingBytes += chunk.byteCount
        batchLines += lines
        batchBytes += chunk.byteCount
    }

    /// The open batch, if the deadline has passed at `now`.
    public mutating func timeout(now: Instant) -> LineBatch? {
        guard let deadline, now >= deadline else { return nil }
        return take(.timeout)
    }

    /// The open batch at the end of input (nil if it is empty).
    public mutating func finish() -> LineBatch? {
        if !segments.isEmpty { return take(.end) }
        guard batchLines > 0 else { return nil }
        // The open batch was handed on in pieces: only its end is left to count.
        return take(.end, ends: 1)
    }

    private mutating func takePiece() -> LineBatch {
        let piece = LineBatch(segments: segments, lineCount: pendingLines, closing: .partial)
        segments = []
        gathering = false
        pendingLines = 0
        pendingBytes = 0
        return piece
    }

    private mutating func take(_ closing: BatchClosing, ends: Int = 1) -> LineBatch {
        var batch = takePiece()
        batch.closing = closing
        batch.ends = batch.lineCount == 0 && batchLines == 0 ? 0 : ends
        batchLines = 0
        batchBytes = 0
        openedAt = nil
        return batch
    }
}
