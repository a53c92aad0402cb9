import CSluiceSupport

/// A case-sensitive fixed string, found with a SIMD search over the whole buffer (ripgrep's
/// approach): one call skips every line without the string.
public struct LiteralMatcher: Matcher {
    public let search: LiteralSearch
    public var needle: [UInt8] { search.needle }

    public init(_ needle: [UInt8]) {
        precondition(!needle.contains(0x0A), "patterns never hold a newline")
        precondition(!needle.isEmpty, "an empty pattern is MatchEverything")
        search = LiteralSearch(needle)
    }

    public func makeScratch() -> MatchScratch { MatchScratch() }

    public func nextMatchingLine(in buffer: UnsafeBufferPointer<UInt8>, from: Int, scratch: inout MatchScratch) -> (start: Int, newline: Int)? {
        guard let base = buffer.baseAddress, from < buffer.count else { return nil }
        guard let at = search.find(in: base, from: from, count: buffer.count) else { return nil }
        let start: Int
        if at > from, let hit = memrchr(base + from, 0x0A, at - from) {
            start = base.distance(to: hit.assumingMemoryBound(to: UInt8.self)) + 1
        } else {
            start = from
        }
        return (start, lineEnd(base, from: at, count: buffer.count))
    }
}
