import CSluiceSupport

/// A case-sensitive fixed string, found with `memmem` over the whole buffer (ripgrep's
/// approach): one call skips every line without the string.
public struct LiteralMatcher: Matcher {
    public let needle: [UInt8]

    public init(_ needle: [UInt8]) {
        precondition(!needle.contains(0x0A), "patterns never hold a newline")
        precondition(!needle.isEmpty, "an empty pattern is MatchEverything")
        self.needle = needle
    }

    public func makeScratch() -> MatchScratch { MatchScratch() }

    public func nextMatchingLine(in buffer: UnsafeBufferPointer<UInt8>, from: Int, scratch: inout MatchScratch) -> (start: Int, newline: Int)? {
        guard let base = buffer.baseAddress, from < buffer.count else { return nil }
        let found = needle.withUnsafeBytes { n in
            sluice_find(base + from, buffer.count - from, n.baseAddress!, n.count)
        }
        guard let found else { return nil }
        let at = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
        let start: Int
        if at > from, let hit = memrchr(base + from, 0x0A, at - from) {
            start = base.distance(to: hit.assumingMemoryBound(to: UInt8.self)) + 1
        } else {
            start = from
        }
        return (start, lineEnd(base, from: at, count: buffer.count))
    }
}
