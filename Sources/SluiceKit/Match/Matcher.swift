import CPCRE2
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
    /// The next run of matching lines that follow each other, at or after `from`: its first
    /// byte, the offset just past its last `\n`, and how many lines it holds (at least one).
    /// A run may stop before the last of such lines. The default is one line; a matcher that
    /// decides whole runs faster than one line per call overrides it (`FieldMatcher`).
    func nextMatchingRun(in buffer: UnsafeBufferPointer<UInt8>, from: Int, scratch: inout MatchScratch) -> (start: Int, end: Int, lines: Int)?
}

extension Matcher {
    public func nextMatchingRun(in buffer: UnsafeBufferPointer<UInt8>, from: Int, scratch: inout MatchScratch) -> (start: Int, end: Int, lines: Int)? {
        nextMatchingLine(in: buffer, from: from, scratch: &scratch).map { ($0.start, $0.newline + 1, 1) }
    }
}

/// Working memory a matcher needs while scanning one chunk (not thread-safe, never shared).
/// A scratch serves one buffer, scanned with `from` never decreasing.
public final class MatchScratch {
    let release: () -> Void
    let pointer: OpaquePointer?
    /// `AnyOfMatcher`: each matcher's scratch, and its next matching line once known (a line
    /// at or after every `from` asked since, so it stays the answer until `from` passes it).
    var parts: [MatchScratch] = []
    var nextHits: [(start: Int, newline: Int)?] = []
    var known: [Bool] = []
    /// Lines a matcher could not decide in this buffer (PCRE2 gave up on them, and its DFA
    /// matcher too): reported by the filter, never dropped silently.
    var undecided: [SluiceError] = []
    /// `-P`: the start of the line on which PCRE2 gave up (grep -P dies there): no line from
    /// it on is selected, also under `-v`; nil while none.
    var stopAt: Int?
    /// `stopAt`, of this scratch or of any of its parts' (`AnyOfMatcher`, keyed regexes).
    var stoppedAt: Int? {
        var at = stopAt
        for part in parts { if let other = part.stoppedAt { at = min(at ?? other, other) } }
        return at
    }
    /// `KeyedRegexesMatcher`'s working memory.
    var keyed: KeyedScratch?
    /// `FieldMatcher`'s working memory (the line's fields).
    var fields: FieldPredicate.Scratch?
    /// The DFA matcher's working memory (`RegexMatcher.longestMatchEnd`), made on first use.
    private var dfaScratch: DFAScratch?

    /// `RegexMatcher`'s next long line in this buffer, once searched: (searched, found).
    private var longLine: (searched: Bool, found: (start: Int, newline: Int)?) = (false, nil)
    /// The next long line at or after `from`: `search`'s answer, asked again only once `from`
    /// has passed the one it found (each call searching on to the buffer's end made a search
    /// with a hit on most lines 4x slower).
    func nextLongLine(from: Int, search: () -> (start: Int, newline: Int)?) -> (start: Int, newline: Int)? {
        if longLine.searched, longLine.found.map({ $0.start >= from }) ?? true { return longLine.found }
        longLine = (true, search())
        return longLine.found
    }

    /// PCRE2's match context for a line decided alone (`RegexMatcher.decide`), made on first use.
    /// Its heap limit bounds the interpreter's backtracking frames, which it takes when the
    /// JIT's stack runs out: `(A|B)+$` on a 50 MB line took 714 MB of them (a frame per
    /// repetition) before the match limit stopped it; past 16 MiB it gives up, and the DFA
    /// decides the line.
    private var limitedContext: OpaquePointer?
    static let decideHeapLimitKiB: UInt32 = 16 * 1024
    func matchContext(limit: UInt32) -> OpaquePointer? {
        if limitedContext == nil {
            limitedContext = pcre2_match_context_create_8(nil)
            pcre2_set_heap_limit_8(limitedContext, Self.decideHeapLimitKiB)
        }
        pcre2_set_match_limit_8(limitedContext, limit)
        return limitedContext
    }

    /// `RegexMatcher.dfaMatches`'s code, compiled at its first use in this scratch (the
    /// scratch serves one matcher).
    private var dfaScanner: (matcher: ObjectIdentifier, scanner: DFAScanner)?
    func scanner(for matcher: RegexMatcher) -> DFAScanner {
        if let dfaScanner, dfaScanner.matcher == ObjectIdentifier(matcher) { return dfaScanner.scanner }
        let made = matcher.makeScanner()
        dfaScanner = (ObjectIdentifier(matcher), made)
        return made
    }

    func dfa() -> DFAScratch {
        if let dfaScratch { return dfaScratch }
        let made = DFAScratch()
        dfaScratch = made
        return made
    }

    /// Tells the matchers which input the buffer is from (`--since` in a syslog file reads
    /// its times in the year the file was last modified).
    func use(input index: Int) {
        fields?.use(input: index)
        for part in parts { part.use(input: index) }
    }

    init(pointer: OpaquePointer? = nil, release: @escaping () -> Void = {}) {
        self.pointer = pointer
        self.release = release
    }
    deinit {
        release()
        if let limitedContext { pcre2_match_context_free_8(limitedContext) }
    }
}

/// Lines that match any of several matchers: the `-e` patterns that cannot be joined into one
/// PCRE2 alternation (a back-reference's group number would point into another pattern).
/// Each matcher's next hit is remembered, so a buffer is scanned once per matcher.
public struct AnyOfMatcher: Matcher {
    let matchers: [any Matcher]

    public init(_ matchers: [any Matcher]) { self.matchers = matchers }

    public func makeScratch() -> MatchScratch {
        let scratch = MatchScratch()
        scratch.parts = matchers.map { $0.makeScratch() }
        scratch.nextHits = Array(repeating: nil, count: matchers.count)
        scratch.known = Array(repeating: false, count: matchers.count)
        return scratch
    }

    public func nextMatchingLine(in buffer: UnsafeBufferPointer<UInt8>, from: Int, scratch: inout MatchScratch) -> (start: Int, newline: Int)? {
        var best: (start: Int, newline: Int)?
        for index in matchers.indices {
            if !scratch.known[index] || (scratch.nextHits[index].map { $0.start < from } ?? false) {
                scratch.nextHits[index] = matchers[index].nextMatchingLine(in: buffer, from: from, scratch: &scratch.parts[index])
                scratch.known[index] = true
            }
            if let hit = scratch.nextHits[index], hit.start < (best?.start ?? Int.max) { best = hit }
        }
        return best
    }
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

/// Selects no line (no pattern at all: `-f` of an empty file, as grep).
public struct MatchNothing: Matcher {
    public init() {}
    public func makeScratch() -> MatchScratch { MatchScratch() }
    public func nextMatchingLine(in buffer: UnsafeBufferPointer<UInt8>, from: Int, scratch: inout MatchScratch) -> (start: Int, newline: Int)? {
        nil
    }
}
