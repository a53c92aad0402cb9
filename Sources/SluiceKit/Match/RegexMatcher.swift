import CPCRE2
import CSluiceSearch
import Glibc
import Synchronization

/// The monotonic clock, in nanoseconds (vDSO: about 20 ns a read).
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}

/// A PCRE2 pattern (JIT-compiled, byte semantics as `LC_ALL=C grep`), matched over the whole
/// buffer with `^`/`$` at line boundaries.
///
/// A hit that spans a newline (`\s`, `[^x]` can match one) is checked again on its line alone.
/// A pattern that can look past its line (lookaround, `\A`, `\z`, `\G`) is matched line by line
/// (`matchEachLine`), so results always equal matching each line by itself. With a required literal (a string every match contains, found by
/// `RequiredLiteral`), `memmem` finds candidate lines first and PCRE2 runs only on those.
public final class RegexMatcher: Matcher, @unchecked Sendable {
    // `@unchecked`: `code` is immutable after init and PCRE2 documents compiled patterns,
    // JIT code included, as safe to share between threads; match data is per call.
    let code: OpaquePointer
    let prefilter: LiteralSearch?
    let matchEachLine: Bool
    /// Whether the JIT compiled the pattern: matches then go straight to `pcre2_jit_match`,
    /// skipping `pcre2_match`'s per-call option checks (a measurable share of per-line calls).
    let jitted: Bool
    public let pattern: String
    /// `-P`: a line PCRE2 gives up on ends the run with grep -P's message (`FILE: exceeded
    /// PCRE's backtracking limit`, exit 2), as grep -P dies there. Else (grep's BRE and ERE,
    /// translated) the DFA matcher decides the line, as grep's own DFA would.
    let givingUpEndsRun: Bool
    /// What `makeScanner` compiles again: the pattern's bytes and options, and `-x`.
    let patternBytes: [UInt8]
    let compileOptions: UInt32
    let wholeLine: Bool
    let perlNullData: Bool
    /// Whether PCRE2's DFA matcher may decide a line the JIT gave up on: not for a pattern that
    /// may hold an atomic group or a possessive quantifier (`DFASpelling.mayBeAtomic`), whose
    /// meaning the DFA does not keep; such a pattern keeps the JIT's default limit.
    let dfaDecides: Bool

    /// Compiles `pattern`. Throws a usage error naming `place` and the offset of the mistake.
    /// `wholeLine` is grep's `-x` (PCRE2's own `^(?:…)$`, sound for any pattern).
    public convenience init(pattern: String, caseless: Bool, place: String, prefilter: [UInt8]? = nil,
                            matchEachLine: Bool = false, wholeLine: Bool = false, givingUpEndsRun: Bool = false) throws {
        try self.init(patternBytes: Array(pattern.utf8), caseless: caseless, place: place, prefilter: prefilter,
                      matchEachLine: matchEachLine, wholeLine: wholeLine, givingUpEndsRun: givingUpEndsRun)
    }

    /// Compiles the pattern `bytes` (without UTF: a byte of 0x80 and above matches itself).
    /// `perlNullData`: grep -zP's options for records read with NUL and newline exchanged
    /// (`PerlNulData`): NUL as PCRE2's newline, no multi-line mode, `$` at the end only; each
    /// line is then matched alone (`matchEachLine`).
    public init(patternBytes bytes: [UInt8], caseless: Bool, place: String, prefilter: [UInt8]? = nil,
                matchEachLine: Bool = false, wholeLine: Bool = false, givingUpEndsRun: Bool = false,
                perlNullData: Bool = false) throws {
        self.pattern = String(decoding: bytes, as: UTF8.self)
        self.givingUpEndsRun = givingUpEndsRun
        self.patternBytes = bytes
        self.wholeLine = wholeLine
        self.perlNullData = perlNullData
        self.dfaDecides = !DFASpelling.mayBeAtomic(bytes)
        var options = perlNullData ? UInt32(PCRE2_DOLLAR_ENDONLY) : UInt32(PCRE2_MULTILINE)
        if caseless { options |= UInt32(PCRE2_CASELESS) }
        var errorCode: Int32 = 0
        var errorOffset = 0
        let context = wholeLine || perlNullData ? pcre2_compile_context_create_8(nil) : nil
        defer { if let context { pcre2_compile_context_free_8(context) } }
        if let context, wholeLine { pcre2_set_compile_extra_options_8(context, UInt32(PCRE2_EXTRA_MATCH_LINE)) }
        if let context, perlNullData { pcre2_set_newline_8(context, UInt32(PCRE2_NEWLINE_NUL)) }
        let compiled = bytes.withUnsafeBufferPointer {
            pcre2_compile_8($0.baseAddress ?? UnsafePointer(bitPattern: 1), $0.count, options, &errorCode, &errorOffset, context)
        }
        guard let compiled else {
            throw SluiceError(.usage, place: place, "invalid regular expression at offset \(errorOffset): \(Self.errorMessage(errorCode))")
        }
        var allOptions: UInt32 = 0
        pcre2_pattern_info_8(compiled, UInt32(PCRE2_INFO_ALLOPTIONS), &allOptions)
        if allOptions & UInt32(PCRE2_UTF) != 0 {
            // `(*UTF)` in the pattern: logs hold invalid UTF-8, which must be data (never
            // matched, as grep -P does), not an error for the whole buffer, nor undefined
            // behaviour in `pcre2_jit_match` (which skips the UTF check).
            pcre2_code_free_8(compiled)
            let again = bytes.withUnsafeBufferPointer {
                pcre2_compile_8($0.baseAddress ?? UnsafePointer(bitPattern: 1), $0.count,
                                options | UInt32(PCRE2_MATCH_INVALID_UTF), &errorCode, &errorOffset, context)
            }
            guard let again else {
                throw SluiceError(.usage, place: place, "invalid regular expression at offset \(errorOffset): error \(errorCode)")
            }
            code = again
            compileOptions = options | UInt32(PCRE2_MATCH_INVALID_UTF)
        } else {
            code = compiled
            compileOptions = options
        }
        jitted = pcre2_jit_compile_8(code, UInt32(PCRE2_JIT_COMPLETE)) == 0
        self.prefilter = caseless ? nil : prefilter.map(LiteralSearch.init)
        self.matchEachLine = matchEachLine
    }

    deinit { pcre2_code_free_8(code) }

    /// PCRE2's text for a compile error code.
    static func errorMessage(_ code: Int32) -> String {
        var message = [UInt8](repeating: 0, count: 256)
        let length = pcre2_get_error_message_8(code, &message, message.count)
        return length > 0 ? String(decoding: message[..<Int(length)], as: UTF8.self) : "error \(code)"
    }

    /// Why `pattern` alone does not compile (with its offset in the pattern), nil if it does.
    /// Each `-e` is checked alone before any joining, so the message is about what the user wrote.
    static func compileError(_ bytes: [UInt8], caseless: Bool) -> (message: String, offset: Int)? {
        var errorCode: Int32 = 0
        var errorOffset = 0
        let options = UInt32(PCRE2_MULTILINE) | (caseless ? UInt32(PCRE2_CASELESS) : 0)
        let compiled = bytes.withUnsafeBufferPointer {
            pcre2_compile_8($0.baseAddress ?? UnsafePointer(bitPattern: 1), $0.count, options, &errorCode, &errorOffset, nil)
        }
        guard let compiled else { return (errorMessage(errorCode), errorOffset) }
        pcre2_code_free_8(compiled)
        return nil
    }

    public func makeScratch() -> MatchScratch {
        let data = pcre2_match_data_create_from_pattern_8(code, nil)
        return MatchScratch(pointer: data) { pcre2_match_data_free_8(data) }
    }

    /// Whether `subject[offset...]` holds a match; the match's range if so. `gaveUp`: PCRE2
    /// stopped without an answer (its match, depth or heap limit: a pattern that backtracks
    /// exponentially on this subject); nil is then not "no match".
    @inline(__always)
    func match(_ subject: UnsafePointer<UInt8>, length: Int, offset: Int, scratch: MatchScratch,
               gaveUp: inout Bool) -> (Int, Int)? {
        let rc = matchResult(subject, length: length, offset: offset, data: scratch.pointer)
        guard rc > 0 else {
            if rc != PCRE2_ERROR_NOMATCH && rc != PCRE2_ERROR_PARTIAL { gaveUp = true }
            return nil
        }
        let ovector = pcre2_get_ovector_pointer_8(scratch.pointer)!
        return (ovector[0], ovector[1])
    }

    /// Decides a line on which the backtracking matcher gave up, with PCRE2's DFA matcher
    /// (no backtracking, so no such limit, as grep's own DFA decides such lines): true or
    /// false, or nil when it cannot (a back-reference, or its own workspace running out).
    ///
    /// The DFA runs once over the line, anchored at its start, on the pattern behind a lazy
    /// `.*?` (`makeScanner`), so every start position is followed in that one pass: left to
    /// find its own start positions, `pcre2_dfa_match` runs again from each, which is
    /// quadratic when the pattern's states live to the line's end (`GET.*HTTP.*[;!]` on a
    /// 64 KB line of requests: 1.7 s, against 6 ms in one pass). It stays linear because the
    /// translation spells `X+` as `XX*` (`PosixPattern`): threads that PCRE2's DFA would keep
    /// apart by their counts merge.
    func dfaMatches(_ subject: UnsafePointer<UInt8>, length: Int, scratch: MatchScratch) -> Bool? {
        let scanner = scratch.scanner(for: self)
        let dfa = scratch.dfa()
        let options = UInt32(PCRE2_DFA_SHORTEST) | (scanner.anchored ? UInt32(PCRE2_ANCHORED) : 0)
        let rc = pcre2_dfa_match_8(scanner.code, subject, length, 0, options, dfa.data, nil, dfa.workspace, DFAScratch.workspaceCount)
        if rc >= 0 { return true }  // 0: a match, more of them than the match data holds
        if rc == PCRE2_ERROR_NOMATCH { return false }
        // A workspace too small for the pattern's states on this line is grown (to 4 MiB), not
        // taken for "cannot decide": `(x+x+)+[^xy]` on 200 x's needs more than 4,096 ints.
        guard rc == PCRE2_ERROR_DFA_WSSIZE || rc == PCRE2_ERROR_DFA_RECURSE else { return nil }
        var size = DFAScratch.workspaceCount * 8
        while size <= 1 << 20 {
            var workspace = [Int32](repeating: 0, count: size)
            let rc = workspace.withUnsafeMutableBufferPointer {
                pcre2_dfa_match_8(scanner.code, subject, length, 0, options, dfa.data, nil, $0.baseAddress, $0.count)
            }
            if rc >= 0 { return true }
            if rc == PCRE2_ERROR_NOMATCH { return false }
            guard rc == PCRE2_ERROR_DFA_WSSIZE || rc == PCRE2_ERROR_DFA_RECURSE else { return nil }
            size *= 8
        }
        return nil
    }

    /// The code `dfaMatches` runs: `(?s:.*?)(?:PATTERN)` in `DFASpelling`'s spelling, compiled
    /// as the pattern was, matched anchored. Under `-x` (PCRE2 wraps the pattern in `^(?:…)$`,
    /// which a prefix would enter) the respelled pattern alone, anchored (it can only start at
    /// the line's start); with `-zP`'s options, or if the text does not compile, the pattern
    /// itself.
    func makeScanner() -> DFAScanner {
        guard !perlNullData else { return DFAScanner(code: code, anchored: false, owned: false) }
        let spelled = DFASpelling.respelled(patternBytes) ?? patternBytes
        let text = wholeLine ? spelled : Array("(?s:.*?)(?:".utf8) + spelled + Array("\\E)".utf8)
        var errorCode: Int32 = 0
        var errorOffset = 0
        let context = wholeLine ? pcre2_compile_context_create_8(nil) : nil
        defer { if let context { pcre2_compile_context_free_8(context) } }
        if let context { pcre2_set_compile_extra_options_8(context, UInt32(PCRE2_EXTRA_MATCH_LINE)) }
        let compiled = text.withUnsafeBufferPointer {
            pcre2_compile_8($0.baseAddress!, $0.count, compileOptions, &errorCode, &errorOffset, context)
        }
        guard let compiled else { return DFAScanner(code: code, anchored: wholeLine, owned: false) }
        return DFAScanner(code: compiled, anchored: true, owned: true)
    }

    /// The end of the longest match that starts at `start` (PCRE2's DFA matcher, anchored
    /// there: its first result is the longest), nil when it cannot tell (a back-reference).
    func longestMatchEnd(_ subject: UnsafePointer<UInt8>, length: Int, at start: Int, scratch: MatchScratch? = nil) -> Int? {
        // The DFA's match data and workspace, kept in the scratch when there is one (made and
        // zeroed for each call, 16 KiB, they were most of -o's time with many matches a line).
        let dfa = scratch.map { $0.dfa() } ?? DFAScratch()
        let rc = pcre2_dfa_match_8(code, subject, length, start, UInt32(PCRE2_ANCHORED), dfa.data, nil, dfa.workspace, DFAScratch.workspaceCount)
        guard rc >= 0 else { return nil }
        return pcre2_get_ovector_pointer_8(dfa.data)![1]
    }

    /// PCRE2's result for one match attempt at `offset` (captures in `data`): the JIT when it
    /// compiled the pattern, the interpreter when not or when the JIT's stack runs out (a
    /// pathological pattern on a long line), so a match is never missed for want of stack.
    @inline(__always)
    func matchResult(_ subject: UnsafePointer<UInt8>, length: Int, offset: Int, data: OpaquePointer?,
                     context: OpaquePointer? = nil) -> Int32 {
        let rc = jitted
            ? pcre2_jit_match_8(code, subject, length, offset, 0, data, context)
            : pcre2_match_8(code, subject, length, offset, 0, data, context)
        if rc != PCRE2_ERROR_JIT_STACKLIMIT { return rc }
        return pcre2_match_8(code, subject, length, offset, UInt32(PCRE2_NO_JIT), data, context)
    }

    /// How a subject decided alone came out.
    enum Decision {
        case match, noMatch
        /// Neither matcher could decide (PCRE2's result): `-P`, where grep -P dies, or a
        /// back-reference beyond the JIT's limit.
        case undecided(Int32)
    }

    /// Whether `subject` (one line, or a field's text) holds a match, decided alone.
    ///
    /// The JIT's match limit counts steps, but one step may walk the whole line (backing off a
    /// `.*` one byte at a time is one step), so with its default limit (10 million)
    /// `G.*T.*!` spent 137 s on one 64 KB line of requests before giving up, where the DFA
    /// matcher, whose cost is about 60 ns a byte whatever the pattern, decides it in 6 ms.
    /// So the JIT runs first with a limit of about 4 million bytes walked (`firstLimit`), then,
    /// if it gives up, again with 8 times the limit, and so on, for as long as the time spent
    /// with the next attempt's likely cost stays below the DFA's expected time for the line;
    /// past that, the DFA decides. A line costs at most a few times the cheaper of the two. Most lines never
    /// reach a limit: their cost is one JIT call, as before. `-P` keeps PCRE2's default limit
    /// and grep -P's error (the DFA cannot run Perl's constructs).
    func decide(_ subject: UnsafePointer<UInt8>, length: Int, scratch: MatchScratch) -> Decision {
        if givingUpEndsRun || !dfaDecides {
            // First with the bounded limit (the same answer whenever it gives one: the search
            // runs in the same order), so that only a line it gives up on is matched in one
            // call that may last minutes (`unbounded`).
            var rc = matchResult(subject, length: length, offset: 0, data: scratch.pointer, context: scratch.matchContext(limit: Self.firstLimit(length)))
            if Self.gaveUp(rc) {
                rc = Self.unbounded { matchResult(subject, length: length, offset: 0, data: scratch.pointer) }
            }
            return rc >= 0 ? .match : Self.gaveUp(rc) ? .undecided(rc) : .noMatch
        }
        var limit = Self.firstLimit(length)
        // Timed from 1 KiB on (two clock reads against a short line's one JIT call would show).
        let first = length >= 1024 ? monotonicNanoseconds() : 0
        var rc = matchResult(subject, length: length, offset: 0, data: scratch.pointer, context: scratch.matchContext(limit: limit))
        if !Self.gaveUp(rc) { return rc >= 0 ? .match : .noMatch }
        let dfaNanoseconds = UInt64(length) * 60 + 2_000
        var last: UInt64 = length >= 1024 ? monotonicNanoseconds() &- first : 0
        var spent = last
        // Another attempt costs about 8 times the last: made only while that fits in the DFA's
        // expected time (`[a-z ]+.*[;!]` on 2-5 KB lines of words: the first attempt gives up
        // after about 40 us, the DFA decides in about 200).
        while limit < Self.defaultLimit && spent + 8 * last < dfaNanoseconds {
            limit = min(Self.defaultLimit, limit * 8)
            let began = monotonicNanoseconds()
            rc = matchResult(subject, length: length, offset: 0, data: scratch.pointer, context: scratch.matchContext(limit: limit))
            last = monotonicNanoseconds() &- began
            spent += last
            if !Self.gaveUp(rc) { return rc >= 0 ? .match : .noMatch }
        }
        if let decided = dfaMatches(subject, length: length, scratch: scratch) { return decided ? .match : .noMatch }
        // The DFA matcher cannot (a back-reference): the JIT with PCRE2's default limit.
        if limit < Self.defaultLimit {
            rc = Self.unbounded { matchResult(subject, length: length, offset: 0, data: scratch.pointer) }
            if !Self.gaveUp(rc) { return rc >= 0 ? .match : .noMatch }
        }
        return .undecided(rc)
    }

    /// PCRE2's default match limit.
    static let defaultLimit: UInt32 = 10_000_000

    /// How many PCRE2 calls with its default limits on a line decided alone are under way: such
    /// a call cannot be interrupted and may last minutes on a long line (`-P 'A.*B.*!'` on a
    /// 1 MB line; grep -P is as slow, but dies of the first SIGTERM). The executable ends a
    /// stop that waits on one (`longMatchesInProgress`).
    private static let unboundedCalls = Atomic<Int>(0)
    /// How many of them have ended: a count that does not move while one runs means that no
    /// call has ended meanwhile.
    private static let unboundedCallsEnded = Atomic<Int>(0)

    /// Whether a call that may last minutes is under way, and how many have ended.
    public static var longMatches: (running: Bool, ended: Int) {
        (unboundedCalls.load(ordering: .acquiring) > 0, unboundedCallsEnded.load(ordering: .acquiring))
    }

    /// `call`, counted in `unboundedCalls` while it runs.
    @inline(__always)
    static func unbounded(_ call: () -> Int32) -> Int32 {
        unboundedCalls.add(1, ordering: .relaxed)
        defer {
            unboundedCallsEnded.add(1, ordering: .releasing)
            unboundedCalls.subtract(1, ordering: .releasing)
        }
        return call()
    }

    /// The JIT's first limit for a line of `length` bytes decided alone: 4 million bytes
    /// walked if each step walked the whole line, at least 100 steps (`decide`).
    @inline(__always)
    static func firstLimit(_ length: Int) -> UInt32 {
        UInt32(max(100, min(Int(defaultLimit), 4_000_000 / max(length, 1))))
    }

    /// Whether PCRE2 stopped without an answer (a limit, memory), rather than "no match".
    @inline(__always)
    static func gaveUp(_ rc: Int32) -> Bool {
        rc < 0 && rc != PCRE2_ERROR_NOMATCH && rc != PCRE2_ERROR_PARTIAL
    }

    /// Whether the line `[start, newline)` matches on its own (`decide`). A line neither
    /// matcher can decide is recorded in `scratch.undecided` (an error the filter reports) and
    /// not selected; under `-P` it ends the run there, as grep -P dies.
    @inline(__always)
    func lineMatches(_ base: UnsafePointer<UInt8>, start: Int, newline: Int, scratch: MatchScratch) -> Bool {
        switch decide(base + start, length: newline - start, scratch: scratch) {
        case .match: return true
        case .noMatch: return false
        case .undecided(let rc):
            if givingUpEndsRun {
                var error = SluiceError(.input, Self.grepPFailure(rc))
                error.endsRun = true
                scratch.undecided.append(error)
                scratch.stopAt = min(scratch.stopAt ?? start, start)
                return false
            }
            let shown = String(decoding: UnsafeBufferPointer(start: base + start, count: min(newline - start, 60)), as: UTF8.self)
            scratch.undecided.append(SluiceError(.input, place: "pattern '\(pattern)'",
                "PCRE2 exceeded its backtracking limit on the line starting '\(shown)', and its DFA matcher cannot decide it "
                + "(a back-reference, an atomic group or a possessive quantifier?): that line is not selected"))
            return false
        }
    }

    /// grep -P's words (pcresearch.c) for why PCRE2 stopped on a line.
    static func grepPFailure(_ rc: Int32) -> String {
        switch rc {
        case PCRE2_ERROR_MATCHLIMIT: "exceeded PCRE's backtracking limit"
        case PCRE2_ERROR_DEPTHLIMIT: "exceeded PCRE's nested backtracking limit"
        case PCRE2_ERROR_HEAPLIMIT: "exceeded PCRE's heap limit"
        case PCRE2_ERROR_RECURSELOOP: "PCRE detected recurse loop"
        case PCRE2_ERROR_NOMEMORY: "memory exhausted"
        case PCRE2_ERROR_JIT_STACKLIMIT: "exhausted PCRE JIT stack"
        default: "internal PCRE error: \(rc)"
        }
    }

    public func nextMatchingLine(in buffer: UnsafeBufferPointer<UInt8>, from: Int, scratch: inout MatchScratch) -> (start: Int, newline: Int)? {
        guard let base = buffer.baseAddress else { return nil }
        let count = buffer.count
        var position = from
        if let prefilter {
            while position < count {
                guard let at = prefilter.find(in: base, from: position, count: count) else { return nil }
                let (start, newline) = line(holding: at, from: position, in: base, count: count)
                if lineMatches(base, start: start, newline: newline, scratch: scratch) { return (start, newline) }
                if scratch.stopAt != nil { return nil }
                position = newline + 1
            }
            return nil
        }
        if matchEachLine {
            while position < count {
                let newline = lineEnd(base, from: position, count: count)
                if lineMatches(base, start: position, newline: newline, scratch: scratch) { return (position, newline) }
                if scratch.stopAt != nil { return nil }
                position = newline + 1
            }
            return nil
        }
        while position < count {
            // The search stops before the next line of `longLine` bytes or more, decided alone.
            let long = scratch.nextLongLine(from: position) { nextLongLine(base, from: position, count: count) }
            let end = long?.start ?? count
            if position < end, let hit = nextMatchingLine(base, from: position, end: end, scratch: scratch) { return hit }
            if scratch.stopAt != nil { return nil }
            guard let long else { return nil }
            if lineMatches(base, start: long.start, newline: long.newline, scratch: scratch) { return long }
            if scratch.stopAt != nil { return nil }
            position = long.newline + 1
        }
        return nil
    }

    /// Lines at least this long are never inside a search over the whole buffer, where the
    /// JIT's default limit (10 million steps) applies and one step may walk the whole line
    /// (`decide`): each is decided alone.
    static let longLine = 4096

    /// The buffer-wide search of `nextMatchingLine`, over the whole lines in `[from, end)`.
    private func nextMatchingLine(_ base: UnsafePointer<UInt8>, from: Int, end count: Int,
                                  scratch: MatchScratch) -> (start: Int, newline: Int)? {
        var position = from
        while position < count {
            var gaveUp = false
            guard let (matchStart, matchEnd) = match(base, length: count, offset: position, scratch: scratch, gaveUp: &gaveUp),
                  matchStart < count else {
                // PCRE2 gave up somewhere after `position` (a search over the whole buffer
                // would otherwise read as "no line matches" and skip the rest of the chunk):
                // the lines from here are decided one by one.
                guard gaveUp else { return nil }
                while position < count {
                    let newline = lineEnd(base, from: position, count: count)
                    if lineMatches(base, start: position, newline: newline, scratch: scratch) { return (position, newline) }
                    if scratch.stopAt != nil { return nil }
                    position = newline + 1
                }
                return nil
            }
            let (start, newline) = line(holding: matchStart, from: position, in: base, count: count)
            if matchEnd <= newline { return (start, newline) }
            if lineMatches(base, start: start, newline: newline, scratch: scratch) { return (start, newline) }
            if scratch.stopAt != nil { return nil }
            position = newline + 1
        }
        return nil
    }
}

extension RegexMatcher {
    /// The first line from `from` (a line start) holding a stretch of `longLine / 2` bytes
    /// without a newline (every line of `longLine` bytes or more holds one): its start and
    /// newline. It looks for a newline in each such stretch in turn, stopping at the first,
    /// so it reads about a line's length of every `longLine / 2` bytes (5% of a log of
    /// 100-byte lines), not the whole buffer.
    fileprivate func nextLongLine(_ base: UnsafePointer<UInt8>, from: Int, count: Int) -> (start: Int, newline: Int)? {
        let stretch = Self.longLine / 2
        var window = from
        while count - window >= stretch {
            if memchr(base + window, 0x0A, stretch) != nil {
                window += stretch
                continue
            }
            var start = window
            while start > from && base[start - 1] != 0x0A { start -= 1 }
            return (start, lineEnd(base, from: window, count: count))
        }
        return nil
    }
}

/// A compiled pattern for `RegexMatcher.dfaMatches`, freed with its scratch when it owns it.
final class DFAScanner {
    let code: OpaquePointer
    let anchored: Bool
    let owned: Bool

    init(code: OpaquePointer, anchored: Bool, owned: Bool) {
        self.code = code
        self.anchored = anchored
        self.owned = owned
    }

    deinit { if owned { pcre2_code_free_8(code) } }
}

/// `pcre2_dfa_match`'s match data and workspace (4,096 ints), made once and reused.
final class DFAScratch {
    static let workspaceCount = 4096
    let data: OpaquePointer?
    let workspace: UnsafeMutablePointer<Int32>

    init() {
        data = pcre2_match_data_create_8(1, nil)
        workspace = .allocate(capacity: Self.workspaceCount)
    }

    deinit {
        pcre2_match_data_free_8(data)
        workspace.deallocate()
    }
}
