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

    /// The slot and rank of the key `key`, if it names a field of the query.
    @inline(__always)
    func lookup(_ key: UnsafeBufferPointer<UInt8>) -> (slot: Int, rank: Int)? {
        guard key.count <= longestName else { return nil }
        for entry in names where entry.name.count == key.count {
            if entry.name.withUnsafeBufferPointer({ memcmp($0.baseAddress!, key.baseAddress!, key.count) == 0 }) {
                return (entry.slot, entry.rank)
            }
        }
        return nil
    }

    /// Whether an object or array under `key` (a full path) may hold a field of the query.
    @inline(__always)
    func descends(into key: UnsafeBufferPointer<UInt8>) -> Bool {
        !objectPrefixes.isEmpty && objectPrefixes.contains(Array(key))
    }
}

import Glibc

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
        guard filled > 0 || values.contains(where: { $0 != nil }) else { return }
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

    /// Every slot holds its best name's value: nothing later in the line can change them.
    var complete: Bool {
        filled == values.count && ranks.allSatisfy { $0 == 0 }
    }
}
