/// grep's `-z` (`--null-data`): lines end in NUL bytes, and a newline is a byte like any other.
///
/// sluice reads such input with every NUL and newline byte exchanged (`LineFramer`), so that
/// its line machinery, which ends lines at newlines, sees each NUL-terminated record as a line
/// and each newline inside one as a NUL; the sink exchanges them back where it writes grep's
/// lines (`StandardOutputSink`), and the patterns are read in the same exchanged form
/// (`PosixPattern`, `PerlNulData`). Nothing else changes: byte offsets are the input's, `-n`
/// counts records, and `-c`, `-l` and group separators end in a newline, as in grep.
enum NulData {
    /// Exchanges NUL and newline bytes in place.
    static func exchange(_ buffer: UnsafeMutableRawBufferPointer) {
        // Branch-free per byte: x ^ 0x0A when x is 0x00 or 0x0A (the compiler vectorizes it).
        for index in buffer.indices {
            let byte = buffer[index]
            let hit: UInt8 = byte == 0 || byte == 0x0A ? 0x0A : 0
            buffer[index] = byte ^ hit
        }
    }

    static func exchanged(_ bytes: [UInt8]) -> [UInt8] {
        var copy = bytes
        copy.withUnsafeMutableBytes { exchange($0) }
        return copy
    }
}
