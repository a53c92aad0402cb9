import CSluiceSearch
import Foundation
import Testing

@testable import SluiceKit

/// Every line `matcher` selects in `buffer` (which must hold whole lines), as strings with `\n`.
func selectedLines(_ matcher: any Matcher, _ buffer: String) -> [String] {
    selectedLines(matcher, buffer.bytes).map(text)
}

func selectedLines(_ matcher: any Matcher, _ bytes: [UInt8]) -> [[UInt8]] {
    var result: [[UInt8]] = []
    bytes.withUnsafeBufferPointer { buffer in
        var scratch = matcher.makeScratch()
        var position = 0
        while let (start, newline) = matcher.nextMatchingLine(in: buffer, from: position, scratch: &scratch) {
            precondition(start >= position && newline >= start && buffer[newline] == 0x0A)
            precondition(start == 0 || buffer[start - 1] == 0x0A)
            result.append(Array(buffer[start...newline]))
            position = newline + 1
        }
    }
    return result
}

func builtMatcher(_ patterns: [String], fixed: Bool = false, ignoreCase: Bool = false,
                  word: Bool = false, line: Bool = false) throws -> any Matcher {
    try MatcherBuilder.matcher(for: GrepSpec(patterns: patterns, fixedStrings: fixed, ignoreCase: ignoreCase,
                                             wordRegexp: word, lineRegexp: line, syntax: .perl)).0
}

/// The per-line reference: PCRE2 run on the line alone (newline excluded), as grep -P does.
func referenceMatches(_ pattern: String, caseless: Bool = false, line: [UInt8]) throws -> Bool {
    let matcher = try RegexMatcher(pattern: pattern, caseless: caseless, place: "test")
    let scratch = matcher.makeScratch()
    let body = line.last == 0x0A ? Array(line.dropLast()) : line
    return body.withUnsafeBufferPointer { buffer in
        var gaveUp = false
        return matcher.match(buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!, length: buffer.count, offset: 0,
                             scratch: scratch, gaveUp: &gaveUp) != nil
    }
}

@Suite struct LiteralMatcherTests {
    let buffer = "alpha\nbeta gamma\n\nerror: ERROR\nlast error\n"

    @Test func findsEveryLineHoldingTheNeedle() {
        #expect(selectedLines(LiteralMatcher("error".bytes), buffer) == ["error: ERROR\n", "last error\n"])
        #expect(selectedLines(LiteralMatcher("a".bytes), buffer) == ["alpha\n", "beta gamma\n", "last error\n"])
        #expect(selectedLines(LiteralMatcher("zzz".bytes), buffer).isEmpty)
    }

    @Test func needleAtTheVeryStartAndEnd() {
        #expect(selectedLines(LiteralMatcher("al".bytes), "al\nxal\nalx\n") == ["al\n", "xal\n", "alx\n"])
        #expect(selectedLines(LiteralMatcher("r".bytes), "r\n") == ["r\n"])
    }

    @Test func aHitIsReportedOncePerLine() {
        #expect(selectedLines(LiteralMatcher("o".bytes), "foo boo\nxo\n") == ["foo boo\n", "xo\n"])
    }

    @Test func bytesAreBytes() {
        let buffer: [UInt8] = [0xFF, 0x00, 0x41, 0x0A, 0x41, 0x0A]
        #expect(selectedLines(LiteralMatcher([0x00, 0x41]), buffer) == [[0xFF, 0x00, 0x41, 0x0A]])
    }

    /// The NUL test the search does on its way (`sluice_nul_watch_begin`), as the workers use it:
    /// a filter's loop (find, skip to the line's end, find again; some searches bounded short of
    /// the end) over random lines, a NUL put at every offset in turn (or none), through each
    /// code path. The watch must report a NUL exactly when the buffer holds one, and the
    /// searches must find what they find without it.
    @Test(arguments: [Int32(SLUICE_FIND_PORTABLE), Int32(SLUICE_FIND_SSE2), Int32(SLUICE_FIND_AVX2)])
    func theSearchTestsForNulOnItsWay(path: Int32) {
        var random = SeededGenerator(seed: UInt64(path) + 11)
        for round in 0..<40 {
            let needle = Array(["ab", "ERROR", "x", "needle with spaces in it", "zq"][round % 5].utf8)
            let search = LiteralSearch(needle)
            var lines: [UInt8] = []
            let size = Int.random(in: 1...700, using: &random)
            while lines.count < size {
                let length = Int.random(in: 0...90, using: &random)
                var line = (0..<length).map { _ in UInt8.random(in: 0x61...0x7A, using: &random) }
                if Bool.random(using: &random) && length >= needle.count {
                    let at = Int.random(in: 0...(length - needle.count), using: &random)
                    line.replaceSubrange(at..<(at + needle.count), with: needle)
                }
                lines += line + [0x0A]
            }
            for nulAt in [nil] + Array(0..<lines.count) {
                var buffer = lines
                if let nulAt { buffer[nulAt] = 0 }
                let bounded = round % 3 == 0  // some searches stop short of the end (MultiLiteralSearch)
                func scan(watching: Bool) -> (hits: [Int], nul: Bool) {
                    buffer.withUnsafeBufferPointer { all in
                        let base = all.baseAddress!
                        if watching { sluice_nul_watch_begin(base, all.count) }
                        var hits: [Int] = []
                        var from = 0
                        while from < all.count {
                            let limit = bounded ? min(all.count, from + 200) : all.count
                            guard let at = search.find(in: base, from: from, count: limit, using: path) else {
                                if limit == all.count { break }
                                from = limit - needle.count + 1
                                continue
                            }
                            hits.append(at)
                            from = (memchr(base + at, 0x0A, all.count - at).map { base.distance(to: $0.assumingMemoryBound(to: UInt8.self)) } ?? all.count - 1) + 1
                        }
                        return (hits, watching ? sluice_nul_watch_end() != 0 : false)
                    }
                }
                let watched = scan(watching: true)
                #expect(watched.nul == (nulAt != nil), "NUL at \(nulAt.map(String.init) ?? "none") of \(buffer.count), round \(round)")
                #expect(watched.hits == scan(watching: false).hits)
                if watched.nul != (nulAt != nil) { return }
            }
        }
        #expect(sluice_nul_watch_end() == 0, "no watch is left open")
    }

    @Test func emptyBufferAndFromAtTheEnd() {
        #expect(selectedLines(LiteralMatcher("a".bytes), "").isEmpty)
        let matcher = LiteralMatcher("a".bytes)
        "a\n".bytes.withUnsafeBufferPointer { buffer in
            var scratch = matcher.makeScratch()
            #expect(matcher.nextMatchingLine(in: buffer, from: 2, scratch: &scratch) == nil)
        }
    }
}

@Suite struct RegexMatcherTests {
    @Test(arguments: [
        ("a\\sb", "a\nb\n", [String]()),
        ("a\\sb", "a\nb\na b\n", ["a b\n"]),
        ("a[^x]b", "a\nb\n", []),
        ("x\\n", "x\ny\n", []),
        ("^b", "a\nb\nab\n", ["b\n"]),
        ("a$", "a\nba\nab\n", ["a\n", "ba\n"]),
        ("^$", "a\n\nb\n", ["\n"]),
        ("^", "a\n\n", ["a\n", "\n"]),
        ("[0-9]+ms", "took 12ms\nno\n5ms\n", ["took 12ms\n", "5ms\n"]),
        ("\\bword\\b", "words\na word\nword\n", ["a word\n", "word\n"]),
        ("a\\s*", "b\na\n", ["a\n"]),
    ] as [(String, String, [String])])
    func matchesLineByLine(pattern: String, buffer: String, expected: [String]) throws {
        let matcher = try RegexMatcher(pattern: pattern, caseless: false, place: "-e")
        #expect(selectedLines(matcher, buffer) == expected)
    }

    @Test func caseless() throws {
        let matcher = try RegexMatcher(pattern: "error", caseless: true, place: "-e")
        #expect(selectedLines(matcher, "ERROR\nErRoR\nnone\n") == ["ERROR\n", "ErRoR\n"])
    }

    @Test func prefilterGivesTheSameLines() throws {
        let buffer = "ERROR a timeout after 5ms\ntimeout after 5ms\nERROR timeout after xms\nERROR\ntimeout after 10ms ERROR\n"
        let plain = try RegexMatcher(pattern: "ERROR.*timeout after [0-9]+ms", caseless: false, place: "-e")
        let filtered = try RegexMatcher(pattern: "ERROR.*timeout after [0-9]+ms", caseless: false, place: "-e",
                                        prefilter: "timeout after ".bytes)
        #expect(selectedLines(plain, buffer) == ["ERROR a timeout after 5ms\n"])
        #expect(selectedLines(filtered, buffer) == selectedLines(plain, buffer))
    }

    @Test func invalidPatternIsAUsageErrorWithItsOffset() {
        let error = #expect(throws: SluiceError.self) {
            _ = try RegexMatcher(pattern: "abc(def", caseless: false, place: "-e")
        }
        #expect(error?.code == .usage)
        #expect(error?.place == "-e")
        #expect(error?.message.contains("invalid regular expression at offset 7") == true)
    }

    /// Several patterns are joined into one alternation only when that keeps each one's
    /// meaning; otherwise each is matched alone (`AnyOfMatcher`).
    @Test func eachPatternKeepsItsOwnGroupsAndSyntax() throws {
        let text = "aa\nbb\nab\ncc\na.b\nfoo\nxfoo\n"
        #expect(selectedLines(try builtMatcher(["(a)\\1", "(b)\\1"]), text) == ["aa\n", "bb\n"])
        #expect(selectedLines(try builtMatcher(["(z)", "(c)\\1"]), text) == ["cc\n"])
        #expect(selectedLines(try builtMatcher(["(?<k>a)\\k<k>", "(?<k>b)\\k<k>"]), text) == ["aa\n", "bb\n"])
        #expect(selectedLines(try builtMatcher(["(a)\\1", "(b)\\1"], line: true), text) == ["aa\n", "bb\n"])
        #expect(selectedLines(try builtMatcher(["\\Qa.b"], line: true), text) == ["a.b\n"])
        #expect(selectedLines(try builtMatcher(["\\Qa.b"], word: true), text) == ["a.b\n"])
        #expect(selectedLines(try builtMatcher(["\\Qz", "cc"]), text) == ["cc\n"])
        #expect(selectedLines(try builtMatcher(["(?x)foo#comment"], line: true), text) == ["foo\n"])
        #expect(selectedLines(try builtMatcher(["(?x) f o o #c", "bb"]), text) == ["bb\n", "foo\n", "xfoo\n"])
        #expect(selectedLines(try builtMatcher(["(*UTF)foo"], word: true), text) == ["foo\n"])
        #expect(selectedLines(try builtMatcher(["(?x)foo # c"], word: true), text) == ["foo\n"])
        #expect(selectedLines(try builtMatcher(["x(y)", "(a)?(?(1)b|c)d"]), "abd\ncd\nbd\n") == ["abd\n", "cd\n"])
        #expect(MatcherBuilder.leadingVerbs("(*UTF)(*LIMIT_MATCH=9)(*COMMIT)a") == ("(*UTF)(*LIMIT_MATCH=9)", "(*COMMIT)a"))
        #expect(MatcherBuilder.usesExtendedMode(Array("(?x)a # b".utf8)) && !MatcherBuilder.usesExtendedMode(Array("(?x)a(?-x) b".utf8)))
    }

    /// The next-hit cache of `AnyOfMatcher` over a buffer where the patterns' hits interleave.
    @Test func anyOfMatchesWhatEachPatternMatchesInOrder() throws {
        var random = SeededGenerator(seed: 5)
        let lines = (0..<3000).map { _ in ["aa", "bb", "ab", "cc", "ba", "x"].randomElement(using: &random)! }
        let text = lines.map { $0 + "\n" }.joined()
        let got = selectedLines(try builtMatcher(["(a)\\1", "(b)\\1", "^(c)\\1$"]), text)
        #expect(got == lines.filter { ["aa", "bb", "cc"].contains($0) }.map { $0 + "\n" })
    }

    /// Each pattern is checked alone: the message is about what the user wrote, not the joined
    /// alternation. With -P it is grep -P's words (PCRE2's message alone, as scripts see it).
    @Test func anInvalidPatternIsNamedWithItsOwnOffset() throws {
        for (patterns, word) in [(["ok", "ab["], false), (["ok", "ab["], true)] {
            let error = #expect(throws: SluiceError.self) { _ = try builtMatcher(patterns, word: word) }
            #expect(error?.message == "missing terminating ] for character class" && error?.place == nil)
        }
        let spec = GrepSpec(patterns: ["ok", "ab[[:alpha:]]"], syntax: .extended)
        var extended = spec
        extended.patterns = ["ok", "(ab"]
        let error = #expect(throws: SluiceError.self) { _ = try MatcherBuilder.matcher(for: extended) }
        #expect(error?.message == "Unmatched ( or \\(")
        _ = try MatcherBuilder.matcher(for: spec)
    }

    @Test func lookbehindDoesNotSeeThePreviousLine() throws {
        let matcher = try builtMatcher(["(?<=\\s)b"])
        #expect(selectedLines(matcher, "a\nb\n").isEmpty)
        #expect(selectedLines(matcher, "a\na b\n") == ["a b\n"])
        let negative = try builtMatcher(["(?<!a)b"])
        #expect(selectedLines(negative, "a\nb\nab\n") == ["b\n"])
    }

    /// grep -P: `printf 'a\nb\n' | grep -P 'a(?=\s)'` selects nothing: a lookahead cannot see
    /// the newline that ends the line.
    @Test(arguments: [("a(?=\\s)", "a b"), ("a(?=\\n)", nil), ("a(?=[^x])", "ay"), ("a(?!\\S)", "a ")] as [(String, String?)])
    func lookaheadDoesNotSeeTheNextLine(pattern: String, matchingLine: String?) throws {
        let matcher = try builtMatcher([pattern])
        let expected: [String] = pattern == "a(?!\\S)" ? ["a\n"] : []  // "a" alone: nothing non-blank follows
        #expect(selectedLines(matcher, "a\nb\n") == expected)
        if let matchingLine {
            #expect(selectedLines(matcher, matchingLine + "\nb\n") == [matchingLine + "\n"])
        }
    }

    /// grep -P: `printf 'a\nb\n' | grep -P '(?<!\s)b'` prints `b`: at the start of a line
    /// nothing precedes, so a negative lookbehind holds there.
    @Test(arguments: [("(?<!\\s)b", "a\nb\n", ["b\n"]), ("(?<![\\n])b", "a\nb\n", ["b\n"]),
                      ("(?<!a)b", "a\nb\nab\n", ["b\n"])])
    func negativeLookbehindAtALineStartHolds(pattern: String, buffer: String, expected: [String]) throws {
        let matcher = try builtMatcher([pattern])
        #expect(selectedLines(matcher, buffer) == expected)
    }

    /// grep -P: `printf 'a\nb\n' | grep -P '\Ab'` prints `b`, and `grep -P 'a\z'` prints `a`:
    /// subject anchors mean the line's start and end.
    @Test(arguments: [("\\Ab", "a\nb\nab\n", ["b\n"]), ("a\\z", "a\nb\nba\n", ["a\n", "ba\n"]),
                      ("a\\Z", "b\na\n", ["a\n"]), ("\\Aa", "a\nb\n", ["a\n"])])
    func subjectAnchorsMeanTheLine(pattern: String, buffer: String, expected: [String]) throws {
        let matcher = try builtMatcher([pattern])
        #expect(selectedLines(matcher, buffer) == expected)
    }
}

@Suite struct MatchEverythingTests {
    @Test func everyLine() {
        #expect(selectedLines(MatchEverything(), "a\n\nb\n") == ["a\n", "\n", "b\n"])
        #expect(selectedLines(MatchEverything(), "").isEmpty)
    }
}

@Suite struct RequiredLiteralTests {
    @Test(arguments: [
        ("ERROR.*timeout after [0-9]+ms", "timeout after " as String?),
        ("a|b", nil),
        ("(?i)abc", nil),
        ("ab?cde", "cde"),
        ("x+yz", nil),
        ("foo{0,2}bar", "bar"),
        ("\\d+ERROR", "ERROR"),
        ("[abc]def", "def"),
        ("a.b", nil),
        ("abc", "abc"),
        ("ab", nil),
        ("abc?", nil),
        ("abcd*", "abc"),
        ("(foo|bar)bazz", "bazz"),
        ("[|]xyz", "xyz"),
        ("\\.conf", ".conf"),
        ("abc(?=x)|def", nil),
        ("x\\Qa|b\\E", nil),
        ("pre(?:x|y)*post", "post"),
        // The review's: a verb gives up ((*ACCEPT) ends a match before the text after it);
        // a `{` that is no quantifier is a literal, never a skip past a top-level `|`.
        ("abc(*ACCEPT)defg", nil),
        ("(*UTF)kelvin", nil),
        ("foobar{x|qq}", nil),
        ("x{,2}yyy", "x{,2}yyy"),
        ("ab{2}cde", "cde"),
        ("abcd{1,}x", "abcd"),
    ] as [(String, String?)])
    func extract(pattern: String, expected: String?) {
        #expect(RequiredLiteral.extract(from: pattern).map(text) == expected)
    }

    /// Soundness: whatever literal is extracted must occur in every match. Each row gives a
    /// subject the pattern matches (checked with PCRE2 here), so the literal must be in it.
    @Test(arguments: [
        ("\\x41BCD", "ABCD"),
        ("\\x{41}BCD", "ABCD"),
        ("\\101BCD", "ABCD"),
        ("\\cAxyz", "\u{1}xyz"),
        ("(?<w>abc)-\\k<w>", "abc-abc"),
        ("(abc)\\g1xyz", "abcabcxyz"),
        ("\\o{101}BCD", "ABCD"),
        ("abc{x}def", "abc{x}def"),
        ("ab{2}cd", "abbcd"),
        ("[]a]bcd", "]bcd"),
        ("[^]a]bcd", "xbcd"),
        ("[[:digit:]]xyz", "1xyz"),
    ])
    func extractedLiteralIsInEveryMatch(pattern: String, subject: String) throws {
        #expect(try referenceMatches(pattern, line: subject.bytes), "the row's subject must match")
        if let literal = RequiredLiteral.extract(from: pattern) {
            #expect(subject.bytes.firstRange(of: literal) != nil,
                    "'\(text(literal))' extracted from '\(pattern)' is not in the match '\(subject)'")
        }
        // And end to end: the built matcher (with its prefilter) selects the subject.
        #expect(selectedLines(try builtMatcher([pattern]), subject + "\n") == [subject + "\n"])
    }
}

@Suite struct MatcherBuilderTests {
    @Test func plainPatternTakesTheLiteralFastPath() throws {
        let (matcher, how) = try MatcherBuilder.matcher(for: GrepSpec(patterns: ["ERROR"]))
        #expect(matcher is LiteralMatcher)
        #expect(how.contains("literal"))
        #expect(MatcherBuilder.isLiteral("plain text: 100% ok"))
        #expect(!MatcherBuilder.isLiteral("a.b"))
    }

    @Test func regexWithARequiredLiteralGetsAPrefilter() throws {
        let (matcher, how) = try MatcherBuilder.matcher(for: GrepSpec(patterns: ["ERROR.*timeout \\d+ms"], syntax: .perl))
        let regex = try #require(matcher as? RegexMatcher)
        #expect(regex.prefilter.map { text($0.needle) } == "timeout ")
        #expect(how.contains("prefilter"))
    }

    @Test func emptyPatternMatchesEverything() throws {
        let (matcher, _) = try MatcherBuilder.matcher(for: GrepSpec(patterns: [""]))
        #expect(matcher is MatchEverything)
        #expect(selectedLines(matcher, "a\n\n") == ["a\n", "\n"])
        let (either, _) = try MatcherBuilder.matcher(for: GrepSpec(patterns: ["zzz", ""]))
        #expect(selectedLines(either, "a\n\n") == ["a\n", "\n"])
    }

    @Test(arguments: [
        // (patterns, fixed, ignoreCase, word, line, buffer, expected)
        (["foo"], false, false, true, false, "foo\nfoobar\nbar foo.\n_foo\nfoo_\n", ["foo\n", "bar foo.\n"]),
        (["foo"], false, false, false, true, "foo\nfoo \n foo\nfoofoo\n", ["foo\n"]),
        (["fo+"], false, false, false, true, "foo\nfoox\n", ["foo\n"]),
        (["a|b"], false, false, false, true, "a\nb\nab\n", ["a\n", "b\n"]),
        (["error"], false, true, false, false, "ERROR\nError x\nnone\n", ["ERROR\n", "Error x\n"]),
        (["a.b"], true, false, false, false, "a.b\naxb\n", ["a.b\n"]),
        (["(x)[y]*"], true, false, false, false, "(x)[y]*\nxy\n", ["(x)[y]*\n"]),
        (["a.b"], true, true, false, false, "A.B\naxb\n", ["A.B\n"]),
        (["a+b"], true, false, true, false, "a+b\nxa+b\na+b!\n", ["a+b\n", "a+b!\n"]),
        (["foo", "bar"], false, false, false, false, "foo\nbar\nbaz\n", ["foo\n", "bar\n"]),
        (["fo.", "b[a]r"], false, false, false, false, "fox\nbar\nbaz\n", ["fox\n", "bar\n"]),
        (["foo\nbar"], false, false, false, false, "foo\nbar\nbaz\nfoo\\nbar\n", ["foo\n", "bar\n", "foo\\nbar\n"]),
        (["foo\nbar"], true, false, false, false, "foo\nbar\nbaz\n", ["foo\n", "bar\n"]),
        (["ä"], true, false, false, false, "ä\na\n", ["ä\n"]),
    ] as [([String], Bool, Bool, Bool, Bool, String, [String])])
    func modifiers(patterns: [String], fixed: Bool, ignoreCase: Bool, word: Bool, line: Bool,
                   buffer: String, expected: [String]) throws {
        let matcher = try builtMatcher(patterns, fixed: fixed, ignoreCase: ignoreCase, word: word, line: line)
        #expect(selectedLines(matcher, buffer) == expected)
    }

    @Test func fixedStringWithMetacharactersStaysLiteral() throws {
        let (matcher, _) = try MatcherBuilder.matcher(for: GrepSpec(patterns: ["a.b*"], fixedStrings: true))
        #expect(matcher is LiteralMatcher)
    }

    @Test func aPatternWithANewlineIsTwoPatterns() throws {
        let (matcher, _) = try MatcherBuilder.matcher(for: GrepSpec(patterns: ["x\ny"]))
        #expect(!(matcher is LiteralMatcher), "two patterns cannot be one memmem")
        #expect(selectedLines(matcher, "x\ny\nz\n") == ["x\n", "y\n"])
    }

    @Test func escapeMakesAPatternMatchItself() throws {
        for literal in ["a.b", "(x)", "[y]", "1+1=2", "$^", "\\d", "{3}", "a|b", "#-_ ~"] {
            let matcher = try RegexMatcher(pattern: MatcherBuilder.escape(literal), caseless: false, place: "t")
            #expect(selectedLines(matcher, "\(literal)\nother\n") == ["\(literal)\n"], "\(literal)")
        }
    }

    @Test func invalidRegexNamesThePlace() {
        let error = #expect(throws: SluiceError.self) {
            _ = try MatcherBuilder.matcher(for: GrepSpec(patterns: ["a("], syntax: .perl), place: "grep stage 2")
        }
        #expect(error?.code == .usage)
        #expect(error?.place == "grep stage 2")
    }
}

@Suite struct LineFilterTests {
    static let alphabet: [UInt8] = Array("aabbx _AB1\r\t".utf8) + [0x00, 0xFF]

    static func randomLines(_ random: inout SeededGenerator) -> [[UInt8]] {
        (0..<Int.random(in: 0...12, using: &random)).map { _ in
            (0..<Int.random(in: 0...9, using: &random)).map { _ in alphabet.randomElement(using: &random)! } + [0x0A]
        }
    }

    /// Several patterns, each through the builder, against PCRE2 on each line alone.
    @Test(arguments: ["ab", "a", "b\\s*a", "a\\sb", "^a", "b$", "^$", "a.?b", "[^a]b", "(?<=a)b",
                      "(?<!x)b", "\\bab\\b", "x|A", "a\\s", "\\s$"])
    func agreesWithALineByLineReference(pattern: String) throws {
        var random = SeededGenerator(seed: UInt64(pattern.utf8.reduce(17) { $0 &* 31 &+ Int($1) }.magnitude))
        let matcher = try builtMatcher([pattern])
        for round in 0..<40 {
            let lines = Self.randomLines(&random)
            let buffer = Array(lines.joined())
            let expected = try lines.map { try referenceMatches(pattern, line: $0) }
            for invert in [false, true] {
                let filtered = LineFilter(matcher: matcher, invert: invert).apply(LineChunk(bytes: buffer))
                let want = zip(lines, expected).filter { $0.1 != invert }.map(\.0)
                #expect(filtered.lines == want, "pattern \(pattern) invert \(invert) round \(round) input \(buffer)")
                if let known = filtered.knownLineCount {
                    #expect(known == want.count, "known line count")
                }
            }
        }
    }

    @Test func literalAndCaselessAgreeWithTheReference() throws {
        var random = SeededGenerator(seed: 42)
        for (patterns, ignoreCase) in [(["ab"], false), (["ab"], true), (["ab", "x"], false), (["a", ""], false)] {
            let matcher = try builtMatcher(patterns, ignoreCase: ignoreCase)
            for _ in 0..<50 {
                let lines = Self.randomLines(&random)
                let want = lines.filter { line in
                    let body = ignoreCase ? line.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 } : line
                    return patterns.contains { $0.isEmpty || body.firstRange(of: $0.bytes) != nil }
                }
                let got = LineFilter(matcher: matcher, invert: false).apply(LineChunk(bytes: Array(lines.joined())))
                #expect(got.lines == want, "\(patterns) -i \(ignoreCase)")
            }
        }
    }

    @Test func notesAndInputBytesAreKept() throws {
        let note = SluiceError(.input, place: "x", "gone")
        let filter = LineFilter(matcher: LiteralMatcher("zzz".bytes), invert: false)
        let out = filter.apply(LineChunk(bytes: "a\nb\n".bytes, notes: [note], inputByteCount: 9))
        #expect(out.isEmpty)
        #expect(out.notes == [note])
        #expect(out.inputByteCount == 9)
        let everything = LineFilter(matcher: LiteralMatcher("zzz".bytes), invert: true).apply(LineChunk(bytes: "a\nb\n".bytes, notes: [note]))
        #expect(everything.lines.map(text) == ["a\n", "b\n"])
        #expect(everything.notes == [note])
        #expect(everything.lineCount == 2)
    }

    /// Runs of selected lines are copied whole; a chunk selected entirely is passed on as it is,
    /// with its line count known.
    @Test func runsOfSelectedLinesAndAWholeChunk() {
        let filter = LineFilter(matcher: LiteralMatcher("a".bytes), invert: false)
        let all = filter.apply(chunk("a1\na2\na3\n"))
        #expect(all.lines.map(text) == ["a1\n", "a2\n", "a3\n"])
        #expect(all.knownLineCount == 3)
        let runs = filter.apply(chunk("a1\na2\nx\na3\nx\nx\na4\na5\n"))
        #expect(runs.lines.map(text) == ["a1\n", "a2\n", "a3\n", "a4\n", "a5\n"])
        #expect(runs.knownLineCount == 5)
        let tail = filter.apply(chunk("x\na1\na2\n"))
        #expect(tail.lines.map(text) == ["a1\n", "a2\n"])
        #expect(tail.knownLineCount == 2)
    }

    /// `(*UTF)` turns on UTF-8 mode; invalid sequences in the logs are data that never
    /// matches, and the valid lines (and valid parts of lines) still match.
    @Test func utfPatternOnInvalidUTF8() throws {
        let matcher = try builtMatcher(["(*UTF)é+"])
        let input: [UInt8] = [0xFF] + " bad é\n".bytes + "ok é\n".bytes + [0xC3, 0x0A] + "plain\n".bytes
        let out = LineFilter(matcher: matcher, invert: false).apply(LineChunk(bytes: input))
        #expect(out.lines == [[0xFF] + " bad é\n".bytes, "ok é\n".bytes])
    }

    @Test func singleLineChunkCountsOneLine() {
        let out = LineFilter(matcher: LiteralMatcher("a".bytes), invert: false).apply(chunk("abc\n"))
        #expect(out.lineCount == 1)
        #expect(out.lines.map(text) == ["abc\n"])
    }

    @Test func stepsApplyInOrderAndStopAtAnEmptyChunk() throws {
        let steps: [any ChunkStep] = [
            LineFilter(matcher: LiteralMatcher("a".bytes), invert: false),
            LineFilter(matcher: LiteralMatcher("b".bytes), invert: false),
        ]
        #expect(try steps.apply(chunk("ab\na\nb\nba\n")).lines.map(text) == ["ab\n", "ba\n"])
        #expect(try steps.apply(chunk("x\n")).isEmpty)
    }
}

@Suite struct MultiLiteralSearchTests {
    /// Table budgets (cells) down to the root's row alone (0 and 7: these needles have at most
    /// 6 byte classes), where every other state is sparse: children and failure links, chains
    /// that cross from sparse states to table rows, sparse states that accept.
    static let budgets = [0, 7, 50, 4 << 20]

    /// Random needle sets over a small alphabet (needles inside needles, shared prefixes and
    /// suffixes: the failure links' cases) against a per-line scan, case-sensitive and folded.
    @Test(arguments: [false, true], MultiLiteralSearchTests.budgets)
    func findsTheLinesAPlainScanFinds(caseless: Bool, maxCells: Int) throws {
        var random = SeededGenerator(seed: caseless ? 11 : 12)
        let alphabet = Array("abAB \n".utf8)
        for _ in 0..<300 {
            let needles = (0..<Int.random(in: 1...6, using: &random)).map { _ in
                (0..<Int.random(in: 1...4, using: &random)).map { _ in Array("abAB ".utf8).randomElement(using: &random)! }
            }
            var haystack = (0..<Int.random(in: 0...120, using: &random)).map { _ in alphabet.randomElement(using: &random)! }
            haystack.append(0x0A)
            let search = try #require(MultiLiteralSearch(needles, caseless: caseless, maxCells: maxCells))
            let fold: ([UInt8]) -> [UInt8] = { caseless ? $0.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 } : $0 }
            let expected = linesWithNewline(haystack).filter { line in
                let folded = fold(line)
                return needles.contains { needle in
                    let n = fold(needle)
                    return folded.count >= n.count && (0...(folded.count - n.count)).contains { Array(folded[$0..<($0 + n.count)]) == n }
                }
            }
            #expect(selectedLines(MultiLiteralMatcher(search), haystack) == expected, "\(needles.map(text)) in \(text(haystack))")
        }
    }

    /// Needles sharing a prefix of 3 bytes or more: the SIMD search for the prefix, then the
    /// automaton from each place it is found, over at most the longest needle (a window that
    /// may end inside a needle, or run into the next line).
    @Test(arguments: [false, true])
    func needlesWithACommonPrefixFindTheLinesAPlainScanFinds(caseless: Bool) throws {
        var random = SeededGenerator(seed: caseless ? 31 : 32)
        let alphabet = Array("ab-1\n".utf8)
        for _ in 0..<400 {
            let prefix = caseless ? Array("-1-".utf8) : Array("ab-".utf8)
            let needles = (0..<Int.random(in: 1...6, using: &random)).map { _ in
                // Now and then a long needle: windows then overlap and are merged.
                prefix + (0..<(Int.random(in: 0...3, using: &random) == 0 ? Int.random(in: 10...40, using: &random) : Int.random(in: 0...5, using: &random)))
                    .map { _ in Array("ab-1".utf8).randomElement(using: &random)! }
            }
            var haystack: [UInt8] = []
            while haystack.count < Int.random(in: 0...150, using: &random) {
                haystack += Bool.random(using: &random) ? prefix : [alphabet.randomElement(using: &random)!]
            }
            haystack.append(0x0A)
            let search = try #require(MultiLiteralSearch(needles, caseless: caseless))
            #expect(caseless || search.commonPrefix != nil)  // folded, a prefix with letters is not searched
            let expected = linesWithNewline(haystack).filter { line in
                needles.contains { n in line.count >= n.count && (0...(line.count - n.count)).contains { Array(line[$0..<($0 + n.count)]) == n } }
            }
            #expect(selectedLines(MultiLiteralMatcher(search), haystack) == expected, "\(needles.map(text)) in \(text(haystack))")
        }
    }

    /// `keysIn` (which needles a line holds, for `KeyedRegexesMatcher`) against a plain scan:
    /// needles inside needles (found through the output links), case folded, sparse states.
    @Test(arguments: [false, true], MultiLiteralSearchTests.budgets)
    func keysAreTheNeedlesALineHolds(caseless: Bool, maxCells: Int) throws {
        var random = SeededGenerator(seed: caseless ? 21 : 22)
        let fold: ([UInt8]) -> [UInt8] = { caseless ? $0.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 } : $0 }
        for round in 0..<300 {
            var needles: [[UInt8]] = []
            for _ in 0..<Int.random(in: 1...8, using: &random) {
                let needle = fold((0..<Int.random(in: 1...4, using: &random)).map { _ in Array("abAB".utf8).randomElement(using: &random)! })
                if !needles.contains(needle) { needles.append(needle) }  // keyed needles are distinct
            }
            let line = (0..<Int.random(in: 0...40, using: &random)).map { _ in Array("abAB -".utf8).randomElement(using: &random)! }
            let search = try #require(MultiLiteralSearch(needles, caseless: caseless, maxCells: maxCells, keyed: true))
            let folded = fold(line)
            let expected = Set(needles.indices.filter { index in
                let n = needles[index]
                return folded.count >= n.count && (0...(folded.count - n.count)).contains { Array(folded[$0..<($0 + n.count)]) == n }
            })
            var found = [Int32](repeating: -1, count: needles.count)
            var seen = [Int32](repeating: 0, count: needles.count)
            let count = line.withUnsafeBufferPointer { bytes in
                found.withUnsafeMutableBufferPointer { found in
                    seen.withUnsafeMutableBufferPointer { seen in
                        search.keysIn(bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!, length: bytes.count,
                                      found: found.baseAddress!, seen: seen.baseAddress!, generation: Int32(round + 1))
                    }
                }
            }
            #expect(count == expected.count && Set(found.prefix(count).map(Int.init)) == expected,
                    "\(needles.map(text)) in \(text(line)): \(found.prefix(count))")
        }
    }

    /// The earliest-ending match, from the root's row alone (budgets 0 and 7) to every state's:
    /// a deep state's failure chain to a shorter needle, a needle inside a longer one (a state
    /// that accepts by its failure link), a byte in no needle back to the root.
    @Test(arguments: MultiLiteralSearchTests.budgets)
    func findsTheEarliestEndThroughSparseStates(maxCells: Int) throws {
        let needles = ["abcdef", "cdz", "bcd", "xy"].map { Array($0.utf8) }
        let search = try #require(MultiLiteralSearch(needles, caseless: false, maxCells: maxCells))
        let ends: [(String, Int?)] = [("abcdef", 3), ("abcdz", 3), ("zabcdz", 4), ("abcxy", 4), ("acdz", 3), ("abc-cdz", 6),
                                      ("abce", nil), ("ab", nil)]
        for (haystack, end) in ends {
            let got = Array(haystack.utf8).withUnsafeBufferPointer { search.find(in: $0.baseAddress!, from: 0, count: $0.count) }
            #expect(got == end, "\(haystack)")
        }
    }

    /// 100,000 distinct random words of 5 to 10 lowercase letters, made once for both budgets.
    static let hundredThousandWords: (words: [[UInt8]], distinct: Set<[UInt8]>) = {
        var random = SeededGenerator(seed: 100_000)
        let letters = Array("abcdefghijklmnopqrstuvwxyz".utf8)
        var words: [[UInt8]] = []
        var distinct = Set<[UInt8]>()
        while words.count < 100_000 {
            var bits = random.next()  // one draw a word: 6 x 26^10 < 2^64
            let length = 5 + Int(bits % 6)
            bits /= 6
            let word = (0..<length).map { _ in
                defer { bits /= 26 }
                return letters[Int(bits % 26)]
            }
            if distinct.insert(word).inserted { words.append(word) }
        }
        return (words, distinct)
    }()

    /// 100,000 random words (grep -F -f of a word list: a row for every state would be about
    /// 49 MB, which the automaton refused before its deep states were sparse) against a plain
    /// scan of a few lines: planted words, near misses, random text; the default table budget
    /// and one of 151 rows.
    @Test(arguments: [4 << 20, 1 << 12])
    func aHundredThousandNeedles(maxCells: Int) throws {
        let (needles, distinct) = Self.hundredThousandWords
        let letters = Array("abcdefghijklmnopqrstuvwxyz".utf8)
        var random = SeededGenerator(seed: 7)
        let search = try #require(MultiLiteralSearch(needles, caseless: false, maxCells: maxCells))
        func filler(_ count: Int, _ random: inout SeededGenerator) -> [UInt8] {
            (0..<count).map { _ in letters.randomElement(using: &random)! }
        }
        var lines: [[UInt8]] = []
        for index in stride(from: 0, to: 100_000, by: 9_973) {
            lines.append(filler(20, &random) + [0x20] + needles[index] + [0x20] + filler(20, &random))
            var nearMiss = needles[index]
            nearMiss[nearMiss.count - 1] = nearMiss.last! == 0x7A ? 0x61 : nearMiss.last! + 1
            lines.append(Array("near ".utf8) + nearMiss + Array(" miss".utf8))
            lines.append(filler(60, &random))
        }
        let haystack: [UInt8] = lines.flatMap { $0 + [0x0A] }
        let expected: [[UInt8]] = lines.filter { line in
            (5...10).contains { length in
                line.count >= length && (0...(line.count - length)).contains { distinct.contains(Array(line[$0..<($0 + length)])) }
            }
        }.map { $0 + [0x0A] }
        #expect(expected.count >= 11 && expected.count < lines.count, "planted words hit, some lines miss")
        #expect(selectedLines(MultiLiteralMatcher(search), haystack) == expected)
    }

    /// 256 distinct first bytes: 257 byte classes, more than a byte can number (the sparse
    /// states' labels are a byte: class - 1).
    @Test(arguments: [0, 4 << 20])
    func everyByteValueIsItsOwnClass(maxCells: Int) throws {
        let needles = (0...255).map { [UInt8($0), UInt8(255 - $0)] }
        let search = try #require(MultiLiteralSearch(needles, caseless: false, maxCells: maxCells))
        var random = SeededGenerator(seed: 3)
        for _ in 0..<200 {
            let haystack = (0..<64).map { _ in UInt8.random(in: 0...255, using: &random) }
            let expected = (1..<haystack.count).first { haystack[$0] == 255 - haystack[$0 - 1] }
            let got = haystack.withUnsafeBufferPointer { search.find(in: $0.baseAddress!, from: 0, count: $0.count) }
            #expect(got == expected)
        }
    }

    /// An empty needle is the caller's case (it matches every line); a table budget too small
    /// for the needles is no longer one (the automaton refused then), only slower.
    @Test func anEmptyNeedleIsNoAutomatonButATinyTableBudgetIsOne() throws {
        #expect(MultiLiteralSearch([[], Array("a".utf8)], caseless: false) == nil)
        #expect(MultiLiteralSearch([], caseless: false) == nil)
        let search = try #require(MultiLiteralSearch([Array("abcdef".utf8), Array("ghij".utf8)], caseless: false, maxCells: 20))
        #expect(selectedLines(MultiLiteralMatcher(search), "abcdeg\nxxghijxx\nabcdefghij\nghi abcde\nabcabcdef\n")
                == ["xxghijxx\n", "abcdefghij\n", "abcabcdef\n"])
    }

    @Test func manyFixedStringsWithWordAndLineMatchTheRegexAlone() throws {
        let words = ["error", "warn", "fail", "x.y", "p1", "p2", "p3", "p4", "p5"]  // past multiLiteralThreshold
        let text = "error here\nwarning\nfail\nx.y\nxay\nERROR\nsome error\n"
        for (word, line, ignoreCase) in [(true, false, false), (false, true, false), (true, false, true), (false, true, true)] {
            let fast = try builtMatcher(words, fixed: true, ignoreCase: ignoreCase, word: word, line: line)
            #expect(fast is CandidateLinesMatcher, "the automaton finds the candidate lines")
            let slow = try RegexMatcher(pattern: (word ? "(?<![A-Za-z0-9_])(?:" : "^(?:") + words.map(MatcherBuilder.escape).joined(separator: "|") + (word ? ")(?![A-Za-z0-9_])" : ")$"),
                                        caseless: ignoreCase, place: "test")
            #expect(selectedLines(fast, text) == selectedLines(slow, text), "-w \(word) -x \(line) -i \(ignoreCase)")
        }
    }
}

/// The SIMD newline count (`-n`, context) against a plain count: every length around the
/// 64-byte blocks and the 63-round flush of the byte lanes, newlines dense (all of them: a lane
/// at its most) and sparse, at every alignment.
@Suite struct CountNewlinesTests {
    @Test(arguments: [0, 1, 63, 64, 65, 4031, 4032, 4033, 64 * 63 * 3 + 17, 1 << 20])
    func countsWhatAPlainLoopCounts(length: Int) {
        var random = SeededGenerator(seed: UInt64(length) + 1)
        for density in [0, 1, 30, 255] {  // newlines in 255: none, few, many, all
            let bytes = (0..<(length + 3)).map { _ in
                density == 255 || (density > 0 && Int.random(in: 0..<255, using: &random) < density) ? UInt8(0x0A) : UInt8(0x61)
            }
            for offset in 0...3 where offset <= bytes.count - length {
                let expected = bytes[offset..<(offset + length)].count { $0 == 0x0A }
                let got = bytes.withUnsafeBufferPointer { sluice_count_newlines($0.baseAddress! + offset, length) }
                #expect(got == expected, "length \(length), density \(density), offset \(offset)")
            }
        }
    }
}

@Suite struct LiteralSearchTests {
    /// Every code path of the search, whichever this CPU would pick (an AVX2 path on a CPU
    /// without AVX2 runs SSE2, so the list is the same everywhere).
    static let paths: [Int32] = [Int32(SLUICE_FIND_PORTABLE), Int32(SLUICE_FIND_SSE2), Int32(SLUICE_FIND_AVX2)]

    @Test func findUsesTheBestPathThisCPUHas() {
        let haystack = Array("xxERRORyy".utf8)
        let search = LiteralSearch(Array("ERROR".utf8))
        let best = sluice_find_best_isa()
        #if arch(x86_64)
        #expect(best >= Int32(SLUICE_FIND_SSE2))
        #endif
        haystack.withUnsafeBufferPointer {
            #expect(search.find(in: $0.baseAddress!, from: 0, count: $0.count) == 2)
            #expect(search.find(in: $0.baseAddress!, from: 0, count: $0.count, using: best) == 2)
        }
    }

    /// A needle planted at every position of a haystack long enough for the 64-byte AVX2 steps
    /// (low and high halves, the step's end, the scalar tail), among near misses.
    @Test(arguments: [2, 5, 20, 64, 100], LiteralSearchTests.paths)
    func findsAPlantedNeedleAtEveryPosition(needleLength: Int, path: Int32) {
        var random = SeededGenerator(seed: UInt64(needleLength) &+ 77)
        let alphabet = Array("ab ERO\n".utf8)
        let needle = (0..<needleLength).map { _ in alphabet.randomElement(using: &random)! }
        let search = LiteralSearch(needle)
        let filler = (0..<400).map { _ in alphabet.randomElement(using: &random)! }
        for position in 0...(filler.count - needleLength) {
            var haystack = filler
            haystack.replaceSubrange(position..<(position + needleLength), with: needle)
            let expected = (0...(haystack.count - needleLength)).first { Array(haystack[$0..<($0 + needleLength)]) == needle }
            let got = haystack.withUnsafeBufferPointer { search.find(in: $0.baseAddress!, from: 0, count: $0.count, using: path) }
            #expect(got == expected, "needle at \(position)")
            #expect(expected! <= position)
        }
    }

    /// The SIMD search against a plain scan, on random haystacks over a small alphabet (many
    /// near misses) and needles of 2 to 20 bytes, at every start offset near the end.
    @Test(arguments: [2, 3, 5, 14, 20], LiteralSearchTests.paths)
    func findsWhatAPlainScanFinds(needleLength: Int, path: Int32) {
        var random = SeededGenerator(seed: UInt64(needleLength))
        let alphabet = Array("ab ERO\n".utf8)
        for _ in 0..<200 {
            let haystack = (0..<Int.random(in: 0...90, using: &random)).map { _ in alphabet.randomElement(using: &random)! }
            let needle = (0..<needleLength).map { _ in alphabet.randomElement(using: &random)! }
            let search = LiteralSearch(needle)
            haystack.withUnsafeBufferPointer { buffer in
                for from in 0..<max(1, haystack.count) {
                    let expected = from + needle.count <= haystack.count
                        ? (from...(haystack.count - needle.count)).first { Array(haystack[$0..<($0 + needle.count)]) == needle }
                        : nil
                    let got = buffer.baseAddress.flatMap { search.find(in: $0, from: from, count: haystack.count, using: path) }
                    #expect(got == expected, "needle \(needle) in \(haystack) from \(from)")
                }
            }
        }
    }
}

/// `DFASpelling`: unbounded repeats of one position spelled for PCRE2's DFA, the rest kept.
@Suite struct DFASpellingTests {
    @Test(arguments: [
        ("a+\\b", "aa*\\b"),
        ("[a-z ]+.*[;!]", "[a-z ][a-z ]*.*[;!]"),
        ("x{3,}y{2,5}z{4}", "x{3}x*y{2,5}z{4}"),
        ("\\x{e9}+[]a]+[^\\]]+[[:alpha:]_]+", "\\x{e9}\\x{e9}*[]a][]a]*[^\\]][^\\]]*[[:alpha:]_][[:alpha:]_]*"),
        ("(a+)+B", "(aa*)+B"),
        ("(?:a|b)+c\\w+", "(?:a|b)+c\\w\\w*"),
        ("a++b+?c{2,}+", "a++b+?c{2,}+"),
        ("a{x}+", "a{x}}*"),  // PCRE2: `{x}` is three literals, `+` repeats the `}`
        ("\\.+\\E", "\\.\\.*\\E"),
        ("(?<![A-Za-z0-9_])(?:[0-9]+\\E)(?![A-Za-z0-9_])", "(?<![A-Za-z0-9_])(?:[0-9][0-9]*\\E)(?![A-Za-z0-9_])"),
    ])
    func respells(pattern: String, expected: String) {
        #expect(DFASpelling.respelled(Array(pattern.utf8)).map { String(decoding: $0, as: UTF8.self) } == expected)
    }

    @Test(arguments: ["\\Qa+\\E", "(?i)a+", "(*UTF)a+", "(?<n>a)+", "\\1+", "\\p{L}+", "(a)\\g1", "[\\Q]\\E]",
                            // PCRE2 reads `[[:]` as a class of `[` and `:` (then `b:]]+`): not a POSIX name.
                            "[[:]b:]]+", "[[:a\\]:]]+", "[[.a.]]+"])
    func leavesWhatItDoesNotFollow(pattern: String) {
        #expect(DFASpelling.respelled(Array(pattern.utf8)) == nil)
    }

    @Test("Respelled and original select the same lines")
    func sameLines() throws {
        let patterns = ["a+\\b", "[a-z ]+.*[;!]", "x{2,}y", "(ab+)+c", "\\w+@\\w+\\.com", "[0-9]{1,}ms|id=[0-9]+\\b"]
        let lines = ["aaa", "aaa b", "ab;", "xxy", "xy", "abbabc", "abc", "me@host.com", "12ms", "id=42", "id=42x", "", ";", "zz!"]
        for pattern in patterns {
            let original = try RegexMatcher(pattern: pattern, caseless: false, place: "test")
            let spelled = try RegexMatcher(patternBytes: try #require(DFASpelling.respelled(Array(pattern.utf8))), caseless: false, place: "test")
            for line in lines {
                let bytes = Array(line.utf8)
                let a = original.makeScratch(), b = spelled.makeScratch()
                bytes.withUnsafeBufferPointer { buffer in
                    let base = buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!
                    let first = original.decide(base, length: buffer.count, scratch: a)
                    let second = spelled.dfaMatches(base, length: buffer.count, scratch: b)
                    let dfa = original.dfaMatches(base, length: buffer.count, scratch: a)
                    if case .match = first { #expect(second == true && dfa == true, "\(pattern) on \(line)") }
                    else { #expect(second == false && dfa == false, "\(pattern) on \(line)") }
                }
            }
        }
    }

    @Test(arguments: [("(?>a+)+a", true), ("a++b", true), ("a*+", true), ("a?+", true), ("a{2,}+", true),
                      ("(*atomic:a+)b", true), ("\\Qa\\E", true), ("(?x)a # [", true), ("(?ix)a", true),
                      ("a+b", false), ("\\++", false), ("[*+]+", false), ("(?i)a+", false), ("(?:a+)+", false),
                      ("(?=a+)b", false), ("[]+]+x", false)])
    func mayBeAtomic(pattern: String, expected: Bool) {
        #expect(DFASpelling.mayBeAtomic(Array(pattern.utf8)) == expected, "\(pattern)")
    }

    /// PCRE2's DFA finds `(?>a+)+a` in `aaa`, the JIT (rightly) not; the DFA must not decide
    /// a line for such a pattern, even when the JIT gives up on its other branch.
    @Test func theDFANeverDecidesForAnAtomicPattern() throws {
        let matcher = try RegexMatcher(pattern: "(?>a+)+a|(x+x+)+[=;]", caseless: false, place: "test")
        let scratch = matcher.makeScratch()
        func decided(_ line: String) -> RegexMatcher.Decision {
            Array(line.utf8).withUnsafeBufferPointer { matcher.decide($0.baseAddress!, length: $0.count, scratch: scratch) }
        }
        if case .noMatch = decided("aaa") {} else { Issue.record("aaa") }
        if case .match = decided("aaa " + String(repeating: "x", count: 30) + " y") { Issue.record("a match on a line the JIT gave up on") }
        if case .match = decided("aaa xxxx;") {} else { Issue.record("aaa xxxx;") }
    }
}
