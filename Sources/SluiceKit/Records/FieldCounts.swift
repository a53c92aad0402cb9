import Synchronization

/// `--count-by FIELD[,FIELD...]`: how many selected lines hold each value (or combination of
/// values), printed largest first.
public struct CountBySpec: Sendable, Equatable {
    public var fields: [String]
    public var format: LogFormat = .auto
    /// `--top N`: only the N largest counts.
    public var top: Int?

    public init(fields: [String], format: LogFormat = .auto, top: Int? = nil) {
        self.fields = fields
        self.format = format
        self.top = top
    }
}

/// The counts of one run, shared by the workers: each counts its chunk in a table of its own,
/// then merges it here under the lock (one merge per chunk, so the lock is rarely contended and
/// the count scales with -j). Bound: one entry per distinct value, as `sort | uniq -c` holds them.
/// (`Locked`, not `Mutex`: ThreadSanitizer cannot see Mutex's futex and reported a race.)
public final class FieldCounts: Sendable {
    let table = Locked<[[UInt8]: Int]>([:])
    let lines = Atomic<Int>(0)

    public init() {}

    func merge(_ counts: [[UInt8]: Int], lines counted: Int) {
        lines.add(counted, ordering: .relaxed)
        table.withLock { table in
            if table.isEmpty {
                table = counts
                return
            }
            for (key, count) in counts { table[key, default: 0] += count }
        }
    }

    /// Lines counted so far.
    public var countedLines: Int { lines.load(ordering: .relaxed) }

    /// The table as text: `COUNT<TAB>VALUE[<TAB>VALUE...]` per line, the largest count first,
    /// equal counts in byte order of their values; a missing field is an empty value.
    public func rendered(top: Int?) -> [UInt8] {
        let entries = table.withLock { $0.map { ($0.key, $0.value) } }
        var sorted = entries.sorted { a, b in
            a.1 != b.1 ? a.1 > b.1 : WhereExpression.byteOrder(a.0, b.0) < 0
        }
        if let top { sorted = Array(sorted.prefix(top)) }
        var out: [UInt8] = []
        for (key, count) in sorted {
            out += Array(String(count).utf8)
            out.append(0x09)
            out += key
            out.append(0x0A)
        }
        return out
    }
}

/// Counts the values of `--count-by`'s fields in each chunk (the last step, after every
/// filter), merges them into the run's `FieldCounts`, and passes on nothing: the table is
/// written when the input ends.
struct FieldCounter: ChunkStep {
    let query: FieldQuery
    let table: FieldNameTable
    let format: LogFormat
    let counts: FieldCounts

    init(_ spec: CountBySpec, counts: FieldCounts) {
        var query = FieldQuery()
        for field in spec.fields { _ = query.slot(for: field) }
        self.query = query
        table = FieldNameTable(query)
        format = spec.format
        self.counts = counts
    }

    func apply(_ chunk: LineChunk) -> LineChunk {
        var local = ByteCounts()
        var slots = FieldSlots(count: query.fields.count)
        let path = PathBuffer(capacity: query.longestName)
        let names = table.names
        var lines = 0
        chunk.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            var start = 0
            var key: [UInt8] = []
            key.reserveCapacity(256)
            // --record: a record's fields are those of its first line.
            let recordEnds = chunk.recordEnds
            var record = 0
            while start < buffer.count {
                let newline = lineEnd(base, from: start, count: buffer.count)
                var end = newline
                if end > start && base[end - 1] == 0x0D { end -= 1 }
                FieldPredicate.read(UnsafeBufferPointer(start: base + start, count: end - start), format: format, names: names,
                                    slots: &slots, path: path)
                key.removeAll(keepingCapacity: true)
                for (index, value) in slots.values.enumerated() {
                    if index > 0 { key.append(0x09) }
                    // JSON's null is no value (as a missing field, and as `--fields` shows it).
                    if let value, value != .null { Self.appendShown(value.text, to: &key) }
                }
                key.withUnsafeBufferPointer { local.add($0) }
                lines += 1
                if let recordEnds {
                    start = recordEnds[record]
                    record += 1
                } else {
                    start = newline + 1
                }
            }
        }
        counts.merge(local.dictionary, lines: lines)
        return LineChunk(bytes: [], lineCount: 0, notes: chunk.notes, inputByteCount: chunk.inputByteCount)
    }

    /// A value in the table: tabs, newlines, carriage returns and NUL written `\t`, `\n`, `\r`,
    /// `\0` (and a backslash `\\`), as jq's `@tsv`, so each row stays one line of columns.
    static func appendShown(_ text: [UInt8], to key: inout [UInt8]) {
        if !text.contains(where: { $0 == 0x09 || $0 == 0x0A || $0 == 0x0D || $0 == 0x5C || $0 == 0 }) {
            key += text
            return
        }
        for byte in text {
            switch byte {
            case 0x09: key += [0x5C, UInt8(ascii: "t")]
            case 0x0A: key += [0x5C, UInt8(ascii: "n")]
            case 0x0D: key += [0x5C, UInt8(ascii: "r")]
            case 0x5C: key += [0x5C, 0x5C]
            case 0x00: key += [0x5C, UInt8(ascii: "0")]  // as jq's @tsv
            default: key.append(byte)
            }
        }
    }
}

/// A chunk's counts by key: open addressing over one byte arena, a 64-bit multiply hash, no
/// allocation per line (a `[[UInt8]: Int]` hashed with SipHash and checked for uniqueness
/// per line took a fifth of `--count-by`'s time). Turned into a dictionary once per chunk.
struct ByteCounts {
    private var arena: [UInt8] = []
    /// Per bucket: key offset + 1 (0 = empty), key length, count, hash.
    private var offsets: [Int] = Array(repeating: 0, count: 64)
    private var lengths: [Int] = Array(repeating: 0, count: 64)
    private var counts: [Int] = Array(repeating: 0, count: 64)
    private var hashes: [UInt64] = Array(repeating: 0, count: 64)
    private var used = 0

    static func hash(_ key: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var hash: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(key.count)
        var index = 0
        if let base = key.baseAddress {
            while index + 8 <= key.count {
                var word: UInt64 = 0
                memcpy(&word, base + index, 8)
                hash = (hash ^ word) &* 0xFF51_AFD7_ED55_8CCD
                hash ^= hash >> 32
                index += 8
            }
            var tail: UInt64 = 0
            if index < key.count { memcpy(&tail, base + index, key.count - index) }
            hash = (hash ^ tail) &* 0xC4CE_B9FE_1A85_EC53
        }
        return hash ^ (hash >> 29)
    }

    mutating func add(_ key: UnsafeBufferPointer<UInt8>) {
        let hash = Self.hash(key)
        var bucket = Int(truncatingIfNeeded: hash) & (offsets.count - 1)
        while offsets[bucket] != 0 {
            if hashes[bucket] == hash && lengths[bucket] == key.count
                && (key.count == 0 || arena.withUnsafeBufferPointer { memcmp($0.baseAddress! + offsets[bucket] - 1, key.baseAddress!, key.count) == 0 }) {
                counts[bucket] += 1
                return
            }
            bucket = (bucket + 1) & (offsets.count - 1)
        }
        offsets[bucket] = arena.count + 1
        lengths[bucket] = key.count
        counts[bucket] = 1
        hashes[bucket] = hash
        arena.append(contentsOf: key)
        used += 1
        if used * 2 > offsets.count { grow() }
    }

    private mutating func grow() {
        let old = (offsets, lengths, counts, hashes)
        let size = offsets.count * 2
        offsets = Array(repeating: 0, count: size)
        lengths = Array(repeating: 0, count: size)
        counts = Array(repeating: 0, count: size)
        hashes = Array(repeating: 0, count: size)
        for index in old.0.indices where old.0[index] != 0 {
            var bucket = Int(truncatingIfNeeded: old.3[index]) & (size - 1)
            while offsets[bucket] != 0 { bucket = (bucket + 1) & (size - 1) }
            offsets[bucket] = old.0[index]
            lengths[bucket] = old.1[index]
            counts[bucket] = old.2[index]
            hashes[bucket] = old.3[index]
        }
    }

    var dictionary: [[UInt8]: Int] {
        var result: [[UInt8]: Int] = [:]
        result.reserveCapacity(used)
        for index in offsets.indices where offsets[index] != 0 {
            let start = offsets[index] - 1
            result[Array(arena[start..<(start + lengths[index])])] = counts[index]
        }
        return result
    }
}

import Glibc
