import CPCRE2
import Foundation
import Testing

@testable import SluiceKit

/// `PosixPattern` against the oracle, GNU grep 3.8 (`LC_ALL=C`): for every pattern, in -G and
/// -E, with and without -i, the lines grep selects from `PosixPatternTests.subject` must be the
/// lines the translation selects when compiled by PCRE2 (8-bit, non-UTF), byte for byte; grep's
/// exit status 2 and its message must be the error thrown; grep's warnings (with Debian's
/// `DEB_GREP_ENABLE_STRAY_BACKSLASH_WARN=1`, which restores upstream's stray-backslash ones)
/// must be the warnings returned.
@Suite struct PosixPatternTests {
    // MARK: - Exact output

    @Test(arguments: [
        ("a|b", PatternSyntax.basic, "a\\|b"),
        ("a\\|b", .basic, "a|b"),
        ("a\\(b\\)*\\1", .basic, "a(b)*\\g{1}"),
        ("(x)+", .basic, "\\(x\\)\\+"),
        ("*a", .basic, "\\*a"),
        ("*a", .extended, "a"),
        ("a**", .extended, "(?:a*)*"),
        ("a{,3}", .extended, "a{0,3}"),
        ("a{1", .extended, "a\\{1"),
        ("a\\{2,\\}", .basic, "a{2,}"),
        ("[^]a-c]", .basic, "[^\\]a-c\\n]"),
        ("[[:digit:]x-]", .extended, "[\\-0-9x]"),
        ("\\<w\\>", .extended, "\\b(?=\\w)w\\b(?<=\\w)"),
        ("a.b", .basic, "a[^\\n]b"),
        ("x^y$", .basic, "x\\^y$"),
        ("^*", .basic, "^\\*"),
        ("\\Qa", .basic, "Qa"),
        ("a+b", .fixed, "a\\+b"),
        ("a+b", .perl, "a+b"),
    ])
    func translatesTo(pattern: String, syntax: PatternSyntax, expected: String) throws {
        let output = try PosixPattern.translate(pattern.bytes, syntax: syntax)
        #expect(text(output) == expected)
    }

    @Test func highBytesBecomeHexEscapes() throws {
        let output = try PosixPattern.translate([0x61, 0xE9, 0x5B, 0x80, 0x2D, 0xFF, 0x5D], syntax: .extended)
        #expect(text(output) == "a\\x{e9}[\\x{80}-\\x{ff}]")
    }

    @Test func reportsBackReferencesAndWarnings() throws {
        #expect(PosixPattern.usesBackReferences("\\(a\\)\\1".bytes, syntax: .basic))
        #expect(!PosixPattern.usesBackReferences("(a)\\1".bytes, syntax: .basic))
        #expect(PosixPattern.usesBackReferences("(a)\\1".bytes, syntax: .extended))
        #expect(!PosixPattern.usesBackReferences("\\1".bytes, syntax: .extended))
        var warnings: [String] = []
        _ = try PosixPattern.translate("\\d+*".bytes, syntax: .extended, warnings: &warnings)
        #expect(warnings == ["warning: stray \\ before d"])
        let error = #expect(throws: SluiceError.self) { try PosixPattern.translate("a\\{1".bytes, syntax: .basic, place: "-e") }
        #expect(error?.code == .usage)
        #expect(error?.description == "-e: Unmatched \\{")
        // Under -i glibc checks ranges upper-cased.
        #expect(throws: SluiceError.self) { try PosixPattern.translate("[Z-a]".bytes, syntax: .basic, caseless: true) }
        #expect(text(try PosixPattern.translate("[a-Z]".bytes, syntax: .basic, caseless: true)) == "(?!)")
    }

    // MARK: - Against grep

    static let patterns: [[UInt8]] = textPatterns.map(\.bytes) + [
        [0xE9], [0x5B, 0x80, 0x2D, 0xFF, 0x5D], [0x5B, 0x5E, 0x80, 0x2D, 0xFF, 0x5D], [0x5B, 0x7E, 0x2D, 0x81, 0x5D],
        [0x5C, 0xE9], [0x2E, 0xFF], [0x5B, 0x5B, 0x2E, 0xE9, 0x2E, 0x5D, 0x5D], [0x5B, 0x5B, 0x3D, 0xE9, 0x3D, 0x5D, 0x5D],
        [0x5B, 0xFF, 0x2D, 0x80, 0x5D], [0x5C, 0x09], [0x5C, 0x01], [0x61, 0xC3, 0xA9, 0x2A],
    ]

    static let textPatterns: [String] = [
        // literals and metacharacters each syntax gives no meaning
        "a", "ab", "abc", "a|b", "a+", "a?", "(x)", "{", "}", "a{", "a{x", "a{1", "a{1,", "a{,", "a{1,2",
        "a{ 1}", "a{1 }", "a{1x}", "a{1,2,3}", "a{1,,}", "a{}", "{1}", "{1}a", "{,2}", "#", " ", "a b", "\t",
        "\\Q", "\\Qa\\E", "\\E", "$", "^", "^$", "$^", "a^b", "a$b", "x$y", "^^", "$$", "^*", "^*a", "^+a", "^{2}a",
        "$*", "a^*", "a$*", "a$", "^a", ".", "..", "a.c", "\\.", "\\*", "\\[", "\\]", "\\^", "\\$", "\\\\", "\\{", "\\}",
        // stars and other repetitions
        "*", "*a", "**a", "a*", "a**", "a+*", "a*+", "a?+", "a+?", "a*?", "a{1}*", "a*{2}", "a{1}{2}", "a{1,2}{3}",
        "ab*c", "a*b*", "a|*b", "(*a)", "(*)", "(+)", "(?)", "({1})", "({)", "(*|a)", "(^*)", "(a^*)", "(a$*)",
        "(a\\<*)", "(a|+)", "a{0}", "a{0,0}b", "(a){0}b", "a{2}", "a{2,}", "a{,2}", "a{,}", "a{01}", "a{2,1}",
        "a{1000}", "a\\{32768\\}", "a{32768}", "a{99999999999}", "a\\{1", "a\\{1,", "a\\{x", "a\\{", "a\\{1\\}", "a\\{2,1\\}",
        "a\\{x\\}", "a\\{1,2\\}", "a\\{,2\\}", "a\\{1}", "a\\{1\\", "\\{1\\}", "\\{1\\}a", "x\\|\\{1\\}", "\\(\\{1\\}a\\)",
        "a\\{1\\}\\{2\\}", "a*\\{2\\}", "a\\{1,2\\}\\?", "a\\+", "a\\?", "\\+a", "\\?a", "^\\+", "a\\+\\?", "b\\{0\\}",
        // groups and alternatives
        "()", "()*", "(|)", "(a|)", "a|", "|a", "|", "a(|b)", "a(b|c)d", "((a)|b)+", ")", "a)", "(a))", "a)b", "(a",
        "(", "a(", "a|(", "a|)", "\\(", "\\)", "\\(a\\)", "\\(\\)", "\\(a", "a\\)", "\\(*a\\)", "\\(^a\\)", "\\(a$\\)",
        "a\\|*b", "a\\|^b", "a$\\|b", "\\(a\\|b\\)*c", "\\(^*a\\)", "x\\(a\\)\\{2\\}",
        // back-references
        "(a)\\1", "(a)\\2", "\\1", "(a\\1)", "(a)|\\1", "(a)(b)\\2", "((a)b)\\2\\1", "(.)\\1", "([a-c])x\\1",
        "(a*)\\1b", "\\(a\\)\\1", "\\(.\\)\\1", "\\(\\(a\\)b\\)\\2", "(a)\\10", "(a)*\\1",
        // word and space escapes, anchors
        "\\<", "\\>", "\\<a", "b\\>", "\\<ab\\>", "\\ba", "a\\b", "\\Ba", "\\B", "^\\B$", "\\w", "\\W", "\\w+", "\\W\\w",
        "\\s", "\\S", "\\s\\S", "^\\s*$", "\\`a", "a\\'", "\\`", "\\'", "a\\`", "\\<*a", "a\\<*", "\\b+a", "x\\>+",
        // stray and trailing backslashes
        "\\d", "\\a", "\\%", "\\ ", "\\/", "\\-", "\\,", "\\n", "\\t", "\\x", "\\z", "\\:", "\\_", "\\0", "\\#", "a\\", "\\",
        // bracket expressions
        "[]a]", "[^]a]", "[a-]", "[-a]", "[^-a]", "[]-a]", "[a-c]", "[^a-c]", "[z-a]", "[a-a]", "[--/]", "[!--]", "[a--]",
        "[a-b-c]", "[[:alpha:]]", "[[:digit:]]", "[[:alnum:]]", "[[:upper:]]", "[[:lower:]]", "[[:space:]]",
        "[[:blank:]]", "[[:punct:]]", "[[:print:]]", "[[:graph:]]", "[[:cntrl:]]", "[[:xdigit:]]", "[^[:lower:]]",
        "[^[:alnum:]]", "[[:alpha:][:digit:]]", "[[:alpha:]-z]", "[a-[:alpha:]]", "[[:foo:]]", "[[::]]", "[[=a=]]",
        "[[=a=]b]", "[[=ab=]]", "[[.a.]]", "[[.-.]]", "[[.ab.]]", "[[.space.]]", "[[..]]", "[[.a.]-c]", "[a-[.c.]]",
        "[[=a=]-z]", "[[.-.]-/]", "[\\]", "[\\n]", "[a\\]b]", "[[]", "[[a]", "[a[]", "[.]", "[*+?{]", "[|()]", "[$^]",
        "[:space:]", "[:alpha:]x", "[^:a:]", "[::]", "[:a-b:]", "[:[:alpha:]:]", "[:]:]", "[:a]", "[a:]", "[.ab.]",
        "[=a=]", "[[:space:]", "[[:alpha:]", "[[:", "[[.", "[[=", "[[.a", "[[:alpha", "[a", "[", "[^", "[]", "[^]",
        "[a-Z]", "[Z-a]", "[a-_]", "[_-a]", "[^a-Z]", "[[.a.]-Z]", "[a-[.Z.]]", "[[.a.]-~]", "[a-~]", "[A-z]", "\\(x\\)\\1[a-Z]",
        "a[", "[[:alpha:]]*x", "x[^x]*x", "[^ ]", "[ \t]", "[[:punct:]]+", "[]]", "[]-]",
    ]

    /// A few hundred lines: hand-written edge cases, then seeded random mixes of the tokens
    /// patterns care about.
    static let subject: [[UInt8]] = {
        var lines: [[UInt8]] = [
            "", "a", "b", "A", "B", "ab", "AB", "aB", "ba", "aa", "aaa", "aaaa", "abab", "abcabc", "abc", "ABC", "a b",
            "x", "xy", "x$y", "a^b", "a$b", "^", "$", "^$", "*", "**", "*a", "a*", "a+", "a?", "+a", "?a", "a|b", "|",
            "(x)", "()", ")", "a)", "(", "{", "}", "a{", "a{x", "a{1", "a{1,", "a{,", "a{1,2", "{1}", "{1}a", "a{1}",
            "a{ 1}", "\\", "\\\\", "a\\", "\\Q", "\\E", "[", "]", "[]", "[a]", "a-b", "-", "--", "/", ".", "a.c", "abc.",
            ":", "::", ":a:", "[:space:]", "#", " ", "  ", "\t", "a\tb", " a ", "word", "two words", "under_score",
            "x1y2", "123", "0", "9x", "foo_bar baz", "end.", "(a|b)", "a{2}", "%", "d", "\\d", "=", "_", "Qa", "n",
            "t", "z", "aab", "abb", "xax", "xaax", "aXa", "caca", "bb", "cc", "abcb", "axa", "xbx", "acb",
        ].map(\.bytes)
        lines += [[0xE9], [0x61, 0xE9], [0x80], [0xFF], [0x7F], [0x01], [0x0B, 0x0C], [0x0D], [0x7E], [0x81, 0x82],
                  [0x61, 0xC3, 0xA9], [0x5C, 0xE9], [0x2E, 0xFF], [0x20, 0x80, 0x20]]
        let tokens: [[UInt8]] = [
            "a", "b", "c", "A", "x", "ab", "*", "+", "?", "{", "}", "{1}", "(", ")", "|", "\\", "[", "]", "^", "$", ".",
            "-", ":", " ", "\t", "_", "1", "9", "d", "%", "=", "/", "#", ",", "word", "aa",
        ].map(\.bytes) + [[0x80], [0xE9], [0xFF], [0x7F]]
        var generator = SeededGenerator(seed: 0x5EED)
        for _ in 0..<260 {
            let count = Int.random(in: 0...6, using: &generator)
            lines.append((0..<count).flatMap { _ in tokens.randomElement(using: &generator)! })
        }
        return lines
    }()

    struct GrepRun {
        var status: Int32
        var lines: [[UInt8]]
        var stderr: [String]
    }

    /// Every pattern through grep in one shell: per pattern and flags, its output, stderr and
    /// exit status in files.
    static func runGrep(_ patterns: [[UInt8]], flags: String) async throws -> [GrepRun] {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let subjectPath = try folder.write("subject", subject.flatMap { $0 + [0x0A] })
        for (number, pattern) in patterns.enumerated() { try folder.write("p\(number)", pattern) }
        let script = """
            cd '\(folder.path)' && i=0; while [ $i -lt \(patterns.count) ]; do \
            LC_ALL=C DEB_GREP_ENABLE_STRAY_BACKSLASH_WARN=1 grep \(flags) -a -e "$(cat p$i)" '\(subjectPath)' > o$i 2> e$i; \
            echo $? > s$i; i=$((i+1)); done
            """
        let result = try await shell(script)
        precondition(result.status == 0, "the grep script failed")
        return try patterns.indices.map { number in
            let status = Int32(text(try folder.read("s\(number)")).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
            let lines = linesWithNewline(try folder.read("o\(number)")).map { Array($0.dropLast()) }
            let stderr = text(try folder.read("e\(number)")).split(separator: "\n").map(String.init)
            return GrepRun(status: status, lines: lines, stderr: stderr)
        }
    }

    /// The subject lines the PCRE2 pattern selects, each matched alone (without its newline).
    static func selectedLines(_ pattern: [UInt8], caseless: Bool) throws -> [[UInt8]] {
        var errorCode: Int32 = 0
        var errorOffset = 0
        let options = UInt32(PCRE2_MULTILINE) | (caseless ? UInt32(PCRE2_CASELESS) : 0)
        let code = pattern.withUnsafeBufferPointer {
            pcre2_compile_8($0.baseAddress ?? UnsafePointer(bitPattern: 1), $0.count, options, &errorCode, &errorOffset, nil)
        }
        guard let code else {
            throw SluiceError(.usage, "PCRE2 rejects \(text(pattern)) at \(errorOffset): \(RegexMatcher.errorMessage(errorCode))")
        }
        defer { pcre2_code_free_8(code) }
        let data = pcre2_match_data_create_from_pattern_8(code, nil)
        defer { pcre2_match_data_free_8(data) }
        // Over the whole buffer (as RegexMatcher runs it), no match may hold a newline.
        let buffer: [UInt8] = subject.flatMap { $0 + [0x0A] }
        var offset = 0
        while offset <= buffer.count {
            let rc = buffer.withUnsafeBufferPointer { pcre2_match_8(code, $0.baseAddress!, $0.count, offset, 0, data, nil) }
            guard rc > 0 else { break }
            let ovector = pcre2_get_ovector_pointer_8(data)!
            if buffer[ovector[0]..<ovector[1]].contains(0x0A) {
                throw SluiceError(.usage, "\(text(pattern)) matches across a newline at \(ovector[0])")
            }
            offset = max(ovector[1], ovector[0] + 1)
        }
        return try subject.filter { line in
            let rc = line.withUnsafeBufferPointer {
                pcre2_match_8(code, $0.baseAddress ?? UnsafePointer(bitPattern: 1), $0.count, 0, 0, data, nil)
            }
            guard rc > 0 || rc == PCRE2_ERROR_NOMATCH else { throw SluiceError(.usage, "PCRE2 match error \(rc)") }
            return rc > 0
        }
    }

    @Test(arguments: [(PatternSyntax.basic, false), (.extended, false), (.basic, true), (.extended, true)])
    func selectsTheLinesGrepSelects(syntax: PatternSyntax, caseless: Bool) async throws {
        let flags = (syntax == .basic ? "-G" : "-E") + (caseless ? " -i" : "")
        let runs = try await Self.runGrep(Self.patterns, flags: flags)
        var agreed = 0
        for (pattern, grep) in zip(Self.patterns, runs) {
            let shown = "grep \(flags) '\(String(decoding: pattern, as: UTF8.self))'"
            var warnings: [String] = []
            let grepErrors = grep.stderr.filter { !$0.hasPrefix("grep: warning: ") }
            let grepWarnings = grep.stderr.filter { $0.hasPrefix("grep: warning: ") }.map { String($0.dropFirst(6)) }
            do {
                let translated = try PosixPattern.translate(pattern, syntax: syntax, place: "-e", caseless: caseless, warnings: &warnings)
                #expect(grep.status != 2, "\(shown): grep says \(grep.stderr), translated to \(text(translated))")
                guard grep.status != 2 else { continue }
                #expect(warnings == grepWarnings, "\(shown): warnings")
                let selected = try Self.selectedLines(translated, caseless: caseless)
                #expect(selected == grep.lines, "\(shown) as \(text(translated)): \(selected.count) lines, grep \(grep.lines.count)")
                if selected == grep.lines && warnings == grepWarnings { agreed += 1 }
            } catch let error as SluiceError {
                #expect(grep.status == 2, "\(shown): grep accepts it (status \(grep.status)), we say \(error.message)")
                #expect(grepErrors == ["grep: " + error.message], "\(shown): message")
                if grepErrors == ["grep: " + error.message] { agreed += 1 }
            }
        }
        #expect(agreed == Self.patterns.count)
        #expect(Self.patterns.count >= 150 && Self.subject.count >= 300)
    }
}
