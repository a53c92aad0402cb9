import CSluiceSearch

/// A fixed byte string searched with SIMD over a buffer: two of its rarest bytes (in log
/// text) are compared 64 (AVX2) or 16 (SSE2) positions at a time, candidates are confirmed
/// with memcmp.
public struct LiteralSearch: Sendable {
    public let needle: [UInt8]
    let first: Int
    let second: Int

    public init(_ needle: [UInt8]) {
        self.needle = needle
        var first = 0
        var second = 0
        needle.withUnsafeBytes { sluice_rare_offsets($0.baseAddress, $0.count, &first, &second) }
        self.first = first
        self.second = second
    }

    /// The offset of the first occurrence at or after `from` in `buffer[..<count]`.
    @inline(__always)
    func find(in base: UnsafePointer<UInt8>, from: Int, count: Int) -> Int? {
        let found = needle.withUnsafeBytes { n in
            sluice_find(base + from, count - from, n.baseAddress!, n.count, first, second)
        }
        guard let found else { return nil }
        return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
    }

    /// `find` through a chosen code path (`SLUICE_FIND_AVX2`, `_SSE2`, `_PORTABLE`), so tests
    /// cover the paths this CPU would not take.
    func find(in base: UnsafePointer<UInt8>, from: Int, count: Int, using path: Int32) -> Int? {
        let found = needle.withUnsafeBytes { n in
            sluice_find_using(path, base + from, count - from, n.baseAddress!, n.count, first, second)
        }
        guard let found else { return nil }
        return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
    }
}
