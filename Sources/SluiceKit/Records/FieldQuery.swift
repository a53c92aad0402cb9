/// The fields a run reads from each line (those `--where`, `--count-by`, `--fields` name),
/// each with the names that mean the same (`level` is also `lvl`, `severity`, `log.level`).
///
/// A line is parsed once per query: the extractors fill one slot per field, and stop reading a
/// line once every slot is filled. Where a line holds several of a field's names, the one the
/// user wrote wins, then the aliases in their order here.
public struct FieldQuery: Sendable {
    /// Names as the user wrote them, one per slot.
    public private(set) var fields: [[UInt8]] = []
    /// Per slot, the names that fill it, best first.
    private(set) var candidates: [[[UInt8]]] = []
    /// Every name any slot takes, with its slot and rank (lookups per key in a line).
    private(set) var names: [(name: [UInt8], slot: Int, rank: Int)] = []
    /// The longest name: a key longer than this fills no slot.
    private(set) var longestName = 0
    /// Every proper prefix of a name that ends before a `.` (`log` for `log.level`): an object
    /// under such a key is read; any other nested object is skipped unread.
    private(set) var objectPrefixes: Set<[UInt8]> = []

    /// Names that mean the same, as users of log tools expect (the list, plus the
    /// common spellings of the same groups in loggers' JSON).
    static let aliasGroups: [[String]] = [
        ["level", "lvl", "severity", "log.level", "loglevel", "levelname"],
        ["ts", "time", "timestamp", "@timestamp", "datetime", "date"],
        ["msg", "message", "@message"],
        // A text log's `[component]` is usually the service that wrote it.
        ["service", "component"],
    ]

    public init() {}

    public init(_ fields: [String]) {
        for field in fields { _ = slot(for: field) }
    }

    /// The slot `field` is read into (added if new).
    public mutating func slot(for field: String) -> Int {
        let bytes = Array(field.utf8)
        if let existing = fields.firstIndex(of: bytes) { return existing }
        let slot = fields.count
        fields.append(bytes)
        var list = [bytes]
        if let group = Self.aliasGroups.first(where: { $0.contains(field) }) {
            list += group.filter { $0 != field }.map { Array($0.utf8) }
        }
        candidates.append(list)
        for (rank, name) in list.enumerated() {
            names.append((name, slot, rank))
            longestName = max(longestName, name.count)
            for (index, byte) in name.enumerated() where byte == UInt8(ascii: ".") {
                objectPrefixes.insert(Array(name[..<index]))
            }
        }
        return slot
    }

    public var isEmpty: Bool { fields.isEmpty }

    /// Whether `name` can name a field: letters, digits, `_ . - @`, not starting with a digit,
    /// `.` or `-` (as `--where` reads names).
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, WhereParser.isNameStart(first) else { return false }
        return name.utf8.allSatisfy(WhereParser.isNameByte)
    }
}

import Glibc

/// `FieldQuery`'s names laid out flat, for the per-line lookups: plain pointers into memory
/// `FieldNameTable` owns, so reading them costs no reference counting (with the query's
/// arrays, the workers' retains and releases of the same buffers took 20% of `--count-by`).
struct FieldNames {
    struct Entry {
        var offset: Int32
        var length: Int32
        /// The slot filled, or -1 for a prefix of a nested name (`log` of `log.level`).
        var slot: Int32
        var rank: Int32
        /// The next entry with the same name for another slot (`--fields level,severity`:
        /// `severity` fills both), or -1.
        var next: Int32 = -1
    }

    /// A key that names a field: its first entry's slot and rank, and the entry (for the others).
    struct Match {
        let slot: Int
        let rank: Int
        let entry: Int
    }

    let bytes: UnsafePointer<UInt8>
    let entries: UnsafePointer<Entry>
    let count: Int
    /// The longest name: a key longer than this fills no slot and leads to none.
    let longest: Int

    /// The slot and rank of the key `key[..<length]`, if it names a field of the query.
    @inline(__always)
    func lookup(_ key: UnsafePointer<UInt8>, _ length: Int) -> Match? {
        guard length <= longest else { return nil }
        for index in 0..<count {
            let entry = entries[index]
            if entry.slot >= 0, Int(entry.length) == length, memcmp(bytes + Int(entry.offset), key, length) == 0 {
                return Match(slot: Int(entry.slot), rank: Int(entry.rank), entry: index)
            }
        }
        return nil
    }

    @inline(__always)
    func lookup(_ key: UnsafeBufferPointer<UInt8>) -> Match? {
        guard let base = key.baseAddress else { return nil }
        return lookup(base, key.count)
    }

    /// Whether an object or array under the path `key[..<length]` may hold a field.
    @inline(__always)
    func descends(into key: UnsafePointer<UInt8>, _ length: Int) -> Bool {
        guard length <= longest else { return false }
        for index in 0..<count {
            let entry = entries[index]
            if entry.slot < 0, Int(entry.length) == length, memcmp(bytes + Int(entry.offset), key, length) == 0 { return true }
        }
        return false
    }
}

/// Owns the memory of a query's `FieldNames` (immutable once made, so shared by the workers:
/// `@unchecked Sendable` for its pointers, which are only read).
final class FieldNameTable: @unchecked Sendable {
    let names: FieldNames
    private let bytes: UnsafeMutablePointer<UInt8>
    private let entries: UnsafeMutablePointer<FieldNames.Entry>

    init(_ query: FieldQuery) {
        var flat: [UInt8] = []
        var list: [FieldNames.Entry] = []
        for entry in query.names {
            list.append(.init(offset: Int32(flat.count), length: Int32(entry.name.count), slot: Int32(entry.slot), rank: Int32(entry.rank)))
            flat += entry.name
        }
        // Chain the entries of one name (a name in two slots' lists).
        for index in list.indices {
            let name = Array(flat[Int(list[index].offset)..<Int(list[index].offset + list[index].length)])
            if let later = list.indices.dropFirst(index + 1).first(where: {
                Array(flat[Int(list[$0].offset)..<Int(list[$0].offset + list[$0].length)]) == name
            }) {
                list[index].next = Int32(later)
            }
        }
        for prefix in query.objectPrefixes.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            list.append(.init(offset: Int32(flat.count), length: Int32(prefix.count), slot: -1, rank: 0))
            flat += prefix
        }
        bytes = .allocate(capacity: max(1, flat.count))
        bytes.initialize(from: flat, count: flat.count)
        entries = .allocate(capacity: max(1, list.count))
        entries.initialize(from: list, count: list.count)
        names = FieldNames(bytes: bytes, entries: entries, count: list.count, longest: query.longestName)
    }

    deinit {
        bytes.deallocate()
        entries.deallocate()
    }
}


/// One line's fields for a `FieldQuery`: a value and its rank per slot. Made once per chunk
/// and reset per line (no allocation per line beyond the values found).
public struct FieldSlots {
    public var values: [FieldValue?]
    var ranks: [Int]
    var filled = 0

    public init(count: Int) {
        values = Array(repeating: nil, count: count)
        ranks = Array(repeating: Int.max, count: count)
    }

    mutating func reset() {
        guard filled > 0 else { return }
        for index in values.indices {
            values[index] = nil
            ranks[index] = Int.max
        }
        filled = 0
    }

    /// Keeps `value` for `slot` when no better-ranked name filled it. The first of equal
    /// names wins (a key given twice: its first value).
    @inline(__always)
    mutating func offer(_ slot: Int, rank: Int, _ value: @autoclosure () -> FieldValue) {
        guard rank < ranks[slot] else { return }
        if ranks[slot] == Int.max { filled += 1 }
        ranks[slot] = rank
        values[slot] = value()
    }

    /// Offers `value` for the slot `match` names, and for every other slot the same key names.
    @inline(__always)
    mutating func offer(_ match: FieldNames.Match, names: FieldNames, rankOffset: Int = 0, _ value: @autoclosure () -> FieldValue) {
        let entry = names.entries[match.entry]
        guard entry.next >= 0 else {
            offer(match.slot, rank: match.rank + rankOffset, value())
            return
        }
        let made = value()
        var index = match.entry
        while index >= 0 {
            let linked = names.entries[index]
            offer(Int(linked.slot), rank: Int(linked.rank) + rankOffset, made)
            index = Int(linked.next)
        }
    }

    /// Every slot holds its best name's value: nothing later in the line can change them.
    var complete: Bool {
        filled == values.count && ranks.allSatisfy { $0 == 0 }
    }
}
