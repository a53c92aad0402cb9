import CZlib

/// Parses a gzip member header (RFC 1952) byte by byte, so a header that arrives over several
/// reads is read right (ISA-L's own header parser loses state between calls).
///
/// Accepts FTEXT, FHCRC (checked), FEXTRA, FNAME and FCOMMENT; rejects a method other than
/// deflate and the reserved flag bits, as gzip does.
struct GzipHeaderParser {
    enum Step: Equatable {
        /// More bytes are needed.
        case needMore
        /// The header ended; deflate data follows.
        case done
        /// Not a header gzip would accept.
        case invalid(String)
    }

    private enum Phase { case fixed, extraLength, extra, name, comment, headerCRC }

    private var phase = Phase.fixed
    private var fixed: [UInt8] = []
    private var flags: UInt8 = 0
    private var remaining = 0
    private var extraLength: [UInt8] = []
    private var storedCRC: [UInt8] = []
    private var crc: uLong = crc32(0, nil, 0)

    /// Consumes header bytes from `bytes`; returns how many it used and what comes next.
    mutating func consume(_ bytes: UnsafeBufferPointer<UInt8>) -> (used: Int, step: Step) {
        var used = 0
        while used < bytes.count {
            let byte = bytes[used]
            if phase != .headerCRC {
                var copy = byte
                crc = crc32(crc, &copy, 1)
            }
            used += 1
            switch phase {
            case .fixed:
                fixed.append(byte)
                guard fixed.count == 10 else { continue }
                if fixed[2] != 8 { return (used, .invalid("unknown compression method \(fixed[2])")) }
                flags = fixed[3]
                if flags & 0xE0 != 0 {
                    return (used, .invalid("reserved header flags 0x\(String(flags & 0xE0, radix: 16)) set (not supported)"))
                }
                if let step = advance(from: .fixed) { return (used, step) }
            case .extraLength:
                extraLength.append(byte)
                if extraLength.count == 2 {
                    remaining = Int(extraLength[0]) | Int(extraLength[1]) << 8
                    phase = .extra
                    if remaining == 0, let step = advance(from: .extra) { return (used, step) }
                }
            case .extra:
                remaining -= 1
                if remaining == 0, let step = advance(from: .extra) { return (used, step) }
            case .name:
                if byte == 0, let step = advance(from: .name) { return (used, step) }
            case .comment:
                if byte == 0, let step = advance(from: .comment) { return (used, step) }
            case .headerCRC:
                storedCRC.append(byte)
                if storedCRC.count == 2 {
                    let expected = UInt16(storedCRC[0]) | UInt16(storedCRC[1]) << 8
                    if UInt16(truncatingIfNeeded: crc) != expected { return (used, .invalid("header CRC mismatch")) }
                    return (used, .done)
                }
            }
        }
        return (used, .needMore)
    }

    /// Moves past `phase` to the next field the flags ask for; `.done` after the last.
    private mutating func advance(from finished: Phase) -> Step? {
        let order: [(Phase, UInt8)] = [(.extraLength, 0x04), (.name, 0x08), (.comment, 0x10), (.headerCRC, 0x02)]
        let start: Int
        switch finished {
        case .fixed: start = 0
        case .extraLength, .extra: start = 1
        case .name: start = 2
        case .comment: start = 3
        case .headerCRC: start = 4
        }
        for (next, bit) in order[start...] where flags & bit != 0 {
            phase = next
            return nil
        }
        return .done
    }
}
