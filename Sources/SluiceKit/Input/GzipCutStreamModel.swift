/// How much of a deflate stream cut short `gzip -dc` (GNU gzip 1.12) writes, and those bytes.
///
/// gzip's own inflate reads bits through table lookups that need a fixed number of bits ahead
/// (9 for a literal/length code, 6 for a distance code, fewer for short codes, more for a long
/// code's second-level table), and it stops at the first lookup that needs a byte past the
/// end of the file: everything decoded before that is written. ISA-L decodes a different
/// amount of a cut stream (sometimes one byte more, sometimes one less), so for a truncated
/// member `GzipSource` decodes it again with this model to write exactly what gzip writes.
///
/// This is a model of gzip's decoder, not a fast one: it runs only on a member that was cut,
/// from the member's first deflate byte to the end of the input, in bounded memory (a 32 KiB
/// window; the input is read through `byte(at:)`). On corrupt data it stops where gzip would
/// report the corruption; only the amount decoded before the cut is meant to be relied on.
struct GzipCutStreamModel {
    /// One entry of a gzip decoding table (`huft`): `extra` 16 = literal, 15 = end of block,
    /// 99 = invalid, above 16 = a link to a table of `extra - 16` bits at `value`, else a
    /// length or distance base in `value` with `extra` extra bits; `bits` to drop.
    struct Entry {
        var extra: Int = 99
        var bits: Int = 0
        var value: Int = 0
    }

    /// Tables built the way gzip's `huft_build` builds them, all in one array.
    struct Table {
        var entries: [Entry] = []
        var root = 0
        /// Bits of the root lookup (gzip's `bl`/`bd`).
        var rootBits = 0
    }

    static let windowSize = 32 * 1024
    static let lengthBases = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258, 0, 0]
    static let lengthExtras = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0, 99, 99]
    static let distanceBases = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
                                2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    static let distanceExtras = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]
    static let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    /// Deflate bytes available (from the member's first deflate byte to the end of the input).
    let count: Int
    let byte: (Int) -> UInt8
    private var bitBuffer: UInt64 = 0
    private var bitCount = 0
    private var next = 0
    /// Bytes written so far, and the last `windowSize` of them.
    private(set) var written = 0
    private var window = [UInt8](repeating: 0, count: windowSize)

    init(count: Int, byte: @escaping (Int) -> UInt8) {
        self.count = count
        self.byte = byte
    }

    /// Decodes until the input ends (or the data is corrupt, or the last block ends); returns
    /// how many bytes gzip writes.
    mutating func run() -> Int {
        while true {
            guard need(1) else { break }
            let last = take(1) == 1
            guard need(2) else { break }
            let kind = take(2)
            let ok: Bool
            switch kind {
            case 0: ok = stored()
            case 1: ok = fixed()
            case 2: ok = dynamic()
            default: ok = false
            }
            if !ok || last { break }
        }
        return written
    }

    /// The written bytes `from ..< written` (at most `windowSize` back).
    func bytes(from start: Int) -> [UInt8] {
        precondition(start <= written && written - start <= Self.windowSize)
        return (start..<written).map { window[$0 & (Self.windowSize - 1)] }
    }

    // MARK: - Bits, as gzip's NEEDBITS/DUMPBITS: whole bytes, and a lookup past the end stops.

    private mutating func need(_ bits: Int) -> Bool {
        while bitCount < bits {
            guard next < count else { return false }
            bitBuffer |= UInt64(byte(next)) << UInt64(bitCount)
            next += 1
            bitCount += 8
        }
        return true
    }

    private func peek(_ bits: Int) -> Int { Int(bitBuffer & ((1 << UInt64(bits)) - 1)) }

    private mutating func drop(_ bits: Int) {
        bitBuffer >>= UInt64(bits)
        bitCount -= bits
    }

    private mutating func take(_ bits: Int) -> Int {
        defer { drop(bits) }
        return peek(bits)
    }

    private mutating func put(_ value: UInt8) {
        window[written & (Self.windowSize - 1)] = value
        written += 1
    }

    // MARK: - Blocks

    private mutating func stored() -> Bool {
        drop(bitCount & 7)
        guard need(16) else { return false }
        let length = take(16)
        guard need(16) else { return false }
        guard length == (~peek(16) & 0xFFFF) else { return false }
        drop(16)
        for _ in 0..<length {
            guard need(8) else { return false }
            put(UInt8(take(8)))
        }
        return true
    }

    private mutating func fixed() -> Bool {
        let literalLengths = [Int](repeating: 8, count: 144) + [Int](repeating: 9, count: 112)
            + [Int](repeating: 7, count: 24) + [Int](repeating: 8, count: 8)
        guard let literals = Self.build(literalLengths, simple: 257, bases: Self.lengthBases, extras: Self.lengthExtras, rootBits: 7).table,
              let distances = Self.build([Int](repeating: 5, count: 30), simple: 0, bases: Self.distanceBases,
                                         extras: Self.distanceExtras, rootBits: 5).table
        else { return false }
        return codes(literals, distances)
    }

    private mutating func dynamic() -> Bool {
        guard need(5) else { return false }
        let literalCount = 257 + take(5)
        guard need(5) else { return false }
        let distanceCount = 1 + take(5)
        guard need(4) else { return false }
        let codeLengthCount = 4 + take(4)
        guard literalCount <= 286 && distanceCount <= 30 else { return false }
        var lengths = [Int](repeating: 0, count: 19)
        for index in 0..<codeLengthCount {
            guard need(3) else { return false }
            lengths[Self.codeLengthOrder[index]] = take(3)
        }
        let built = Self.build(lengths, simple: 19, bases: [], extras: [], rootBits: 7)
        guard let codeLengths = built.table, !built.incomplete, !codeLengths.entries.isEmpty else { return false }
        let total = literalCount + distanceCount
        var all = [Int](repeating: 0, count: total)
        var index = 0
        var previous = 0
        while index < total {
            guard need(codeLengths.rootBits) else { return false }
            let slot = codeLengths.root + peek(codeLengths.rootBits)
            guard slot < codeLengths.entries.count, codeLengths.entries[slot].extra != 99 else { return false }
            let entry = codeLengths.entries[slot]
            drop(entry.bits)
            let symbol = entry.value
            if symbol < 16 {
                all[index] = symbol
                previous = symbol
                index += 1
            } else {
                let (extraBits, base, value) = symbol == 16 ? (2, 3, previous) : symbol == 17 ? (3, 3, 0) : (7, 11, 0)
                guard need(extraBits) else { return false }
                let repeats = base + take(extraBits)
                guard index + repeats <= total else { return false }
                for _ in 0..<repeats { all[index] = value; index += 1 }
                if symbol != 16 { previous = 0 }
            }
        }
        let literalBuild = Self.build(Array(all[..<literalCount]), simple: 257, bases: Self.lengthBases,
                                      extras: Self.lengthExtras, rootBits: 9)
        guard let literals = literalBuild.table, !literalBuild.incomplete else { return false }
        let distanceBuild = Self.build(Array(all[literalCount...]), simple: 0, bases: Self.distanceBases,
                                       extras: Self.distanceExtras, rootBits: 6)
        guard let distances = distanceBuild.table, !distanceBuild.incomplete else { return false }
        return codes(literals, distances)
    }

    /// Looks a code up in `table` as gzip does: the root bits, then one table per level.
    private mutating func decode(_ table: Table) -> Entry? {
        guard !table.entries.isEmpty, need(table.rootBits) else { return nil }
        var slot = table.root + peek(table.rootBits)
        guard slot < table.entries.count else { return nil }  // only for corrupt data
        var entry = table.entries[slot]
        while entry.extra > 16 {
            guard entry.extra != 99 else { return nil }
            drop(entry.bits)
            let bits = entry.extra - 16
            guard need(bits) else { return nil }
            slot = entry.value + peek(bits)
            guard slot < table.entries.count else { return nil }
            entry = table.entries[slot]
        }
        drop(entry.bits)
        return entry
    }

    private mutating func codes(_ literals: Table, _ distances: Table) -> Bool {
        while true {
            guard let entry = decode(literals) else { return false }
            if entry.extra == 16 {
                put(UInt8(entry.value))
                continue
            }
            if entry.extra == 15 { return true }
            guard need(entry.extra) else { return false }
            let length = entry.value + take(entry.extra)
            guard let distanceEntry = decode(distances) else { return false }
            guard need(distanceEntry.extra) else { return false }
            let distance = distanceEntry.value + take(distanceEntry.extra)
            for _ in 0..<length {
                // gzip's window starts as zeros: a distance before the start copies zeros.
                let from = written - distance
                put(from >= 0 ? window[from & (Self.windowSize - 1)] : 0)
            }
        }
    }

    // MARK: - gzip's table building (huft_build)

    /// Builds the tables gzip builds for `lengths` (symbols below `simple` are literals, 256 the
    /// end of block; the others take `bases`/`extras`), with `rootBits` bounded by the shortest
    /// and longest code as gzip bounds it. nil table: an oversubscribed set.
    static func build(_ lengths: [Int], simple: Int, bases: [Int], extras: [Int], rootBits wanted: Int)
        -> (table: Table?, incomplete: Bool)
    {
        let maxBits = 16
        var counts = [Int](repeating: 0, count: maxBits + 1)
        for length in lengths { counts[length] += 1 }
        var table = Table()
        if counts[0] == lengths.count { return (table, false) }  // no codes at all

        var rootBits = wanted
        var shortest = 1
        while shortest <= maxBits && counts[shortest] == 0 { shortest += 1 }
        if rootBits < shortest { rootBits = shortest }
        var longest = maxBits
        while longest > 0 && counts[longest] == 0 { longest -= 1 }
        if rootBits > longest { rootBits = longest }
        table.rootBits = rootBits

        // Fill the last length with dummy codes if the set is incomplete.
        var dummies = 1 << shortest
        for length in shortest..<longest {
            dummies -= counts[length]
            if dummies < 0 { return (nil, false) }
            dummies <<= 1
        }
        dummies -= counts[longest]
        if dummies < 0 { return (nil, false) }
        counts[longest] += dummies

        // Symbols in order of code length.
        var offsets = [Int](repeating: 0, count: maxBits + 2)
        var running = 0
        if longest >= 2 {
            for length in 1..<longest {
                running += counts[length]
                offsets[length + 1] = running
            }
        }
        var symbols = [Int](repeating: 0, count: 288)
        var symbolCount = 0
        for (symbol, length) in lengths.enumerated() where length != 0 {
            symbols[offsets[length]] = symbol
            offsets[length] += 1
            symbolCount += 1
        }

        var prefixes = [Int](repeating: 0, count: maxBits + 1)  // each level's code prefix
        var starts = [Int](repeating: 0, count: maxBits)  // each level's table start
        var code = 0
        var level = -1
        var before = -rootBits  // bits decoded before the current table (gzip: rootBits * level)
        var current = 0
        var size = 0
        var nextSymbol = 0
        var length = shortest
        while length <= longest {
            var left = counts[length]
            while left > 0 {
                left -= 1
                while length > before + rootBits {
                    level += 1
                    before += rootBits
                    let limit = min(longest - before, rootBits)
                    var bits = length - before
                    var free = 1 << bits
                    if free > left + 1 {
                        free -= left + 1
                        var longer = length
                        while true {
                            bits += 1
                            if bits >= limit { break }
                            free <<= 1
                            longer += 1
                            if free <= counts[longer] { break }
                            free -= counts[longer]
                        }
                    }
                    size = 1 << bits
                    current = table.entries.count
                    table.entries.append(contentsOf: repeatElement(Entry(), count: size))
                    starts[level] = current
                    if level > 0 {
                        prefixes[level] = code
                        let link = Entry(extra: 16 + bits, bits: rootBits, value: current)
                        table.entries[starts[level - 1] + (code >> (before - rootBits))] = link
                    }
                }
                var entry = Entry(extra: 99, bits: length - before, value: 0)
                if nextSymbol < symbolCount {
                    let symbol = symbols[nextSymbol]
                    nextSymbol += 1
                    if symbol < simple {
                        entry.extra = symbol < 256 ? 16 : 15
                        entry.value = symbol
                    } else {
                        entry.extra = extras[symbol - simple]
                        entry.value = bases[symbol - simple]
                    }
                }
                var slot = code >> before
                while slot < size {
                    table.entries[current + slot] = entry
                    slot += 1 << (length - before)
                }
                // Next code of this length, counted with its bits reversed.
                var bit = 1 << (length - 1)
                while code & bit != 0 {
                    code ^= bit
                    bit >>= 1
                }
                code ^= bit
                // Back up over the tables that are full.
                while level >= 0 && (code & ((1 << before) - 1)) != prefixes[level] {
                    level -= 1
                    before -= rootBits
                }
            }
            length += 1
        }
        table.root = starts[0]
        return (table, dummies != 0 && longest != 1)
    }
}
