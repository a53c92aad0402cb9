
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
        return line(holding: at, from: from, in: base, count: buffer.count)
    }
}
