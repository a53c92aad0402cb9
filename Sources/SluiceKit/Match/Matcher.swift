/// Finds matching lines in a buffer of whole lines (every line ends with `\n`).
///
/// Matching runs over the whole buffer rather than line by line: the matcher finds the next
/// hit at or after `from` (always a line start) and reports the line that holds it.
public protocol Matcher: Sendable {
    /// The next matching line at or after `from`, as the offsets of its first byte and of its
    /// `\n`; nil when no line from `from` on matches.
    func nextMatchingLine(in buffer: UnsafeBufferPointer<UInt8>, from: Int, scratch: inout MatchScratch) -> (start: Int, newline: Int)?
    /// Per-call working memory (PCRE2 match data); made once per chunk, never shared.
    func makeScratch() -> MatchScratch
}

/// Working memory a matcher needs while scanning one chunk (not thread-safe, never shared).
public final class MatchScratch {
    let release: () -> Void
    let pointer: OpaquePointer?
    init(pointer: OpaquePointer? = nil, release: @escaping () -> Void = {}) {
        self.pointer = pointer
        self.release = release
    }
    deinit { release() }
}

/// Selects every line (an empty pattern).
public struct MatchEverything: Matcher {
    public init() {}
    public func makeScratch() -> MatchScratch { MatchScratch() }
    public func nextMatchingLine(in buffer: UnsafeBufferPointer<UInt8>, from: Int, scratch: inout MatchScratch) -> (start: Int, newline: Int)? {
        guard from < buffer.count else { return nil }
        return (from, lineEnd(buffer.baseAddress!, from: from, count: buffer.count))
    }
}
