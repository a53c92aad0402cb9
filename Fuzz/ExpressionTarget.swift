// libFuzzer target: the `-p` pipeline expression parser (ExpressionParser) and what
// PipelineRunner builds from its result (MatcherBuilder, RegexMatcher/PCRE2, MapSpec steps).
//
// Input bytes -> String (lossy UTF-8) -> ExpressionParser.parse. Checked:
//   * nothing traps or crashes (ASan instruments the Swift code and the C targets, e.g. sluice_find;
//     PCRE2 itself is the uninstrumented system library);
//   * a parse error is a SluiceError with code .usage whose message starts "column N: " with
//     1 <= N <= (characters in the expression) + 1;
//   * a parsed expression has a stage or a batch; put into a PipelineSpec (stages, and batch if
//     given, as SluiceCommand does), PipelineRunner(spec:) builds or throws a SluiceError with
//     code .usage, nothing else;
//   * a built runner's grep/map steps (the exec commands are not run) apply to a sample chunk
//     without throwing, give whole lines, and a knownLineCount they set is the real count.
// A failed check prints "sluice-fuzz: check failed at …: what" and aborts (see FuzzCheck.swift).
// Built by Fuzz/run.sh: swiftc -sanitize=fuzzer,address, in one module with the SluiceKit
// sources so internal types are visible (or against a SluiceKit built with -enable-testing).

#if canImport(SluiceKit)
@testable import SluiceKit
#endif

/// Lines for the steps of a built runner: empty, blank, ASCII, UTF-8, a NUL, CR, a long line.
let sampleChunk = LineChunk(bytes: Array((
    "\n" + "   \t\n" + "2024-05-01 ERROR disk full on /var\n" + "info: all good\r\n"
    + "Grüße, naïve café — ünïcödé\n" + "a\u{0}b\n" + "abcabcabc aaa bbb 123 456\n"
    + String(repeating: "x", count: 300) + "\n"
).utf8))

/// The N of a message "column N: …", or nil.
func column(of message: String) -> Int? {
    guard message.hasPrefix("column ") else { return nil }
    let digits = message.dropFirst("column ".count).prefix { $0.isNumber && $0.isASCII }
    guard !digits.isEmpty, message.dropFirst("column ".count + digits.count).hasPrefix(": ") else { return nil }
    return Int(digits)
}

// SLUICE_FUZZ_ALLOW names for this target (see FuzzCheck.swift):
//   huge-duration  skip expressions with a word like 1e10s (parseDuration traps converting
//                  more than Int64.max nanoseconds);
//   crlf-pattern   skip building grep stages whose pattern holds "\r\n" (one Character, so
//                  MatcherBuilder's split on "\n" misses it and LiteralMatcher traps).
let skipHugeDurations = allowed.contains("huge-duration")
let skipCRLFPatterns = allowed.contains("crlf-pattern")

/// Whether parseDuration would trap on `text` (mirrors its arithmetic).
func overflowsDuration(_ text: String) -> Bool {
    for (unit, scale) in [("ms", 1e-3), ("us", 1e-6), ("s", 1.0), ("m", 60.0)] where text.hasSuffix(unit) {
        guard let value = Double(text.dropLast(unit.count)), value >= 0, value.isFinite else { return false }
        return (value * scale * 1e9).rounded() >= 0x1p63
    }
    return false
}

@_cdecl("LLVMFuzzerTestOneInput")
public func sluiceFuzzExpression(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let expression = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if skipHugeDurations, let words = try? ExpressionParser.tokenize(expression),
       words.contains(where: { overflowsDuration($0.text) }) {
        return 0
    }
    let parsed: ExpressionParser.Parsed
    do {
        parsed = try ExpressionParser.parse(expression)
    } catch let error as SluiceError {
        check(error.code == .usage, "parse threw \(error.code), not .usage: \(error)")
        guard let n = column(of: error.message) else {
            failCheck("parse error without 'column N: ': \(error)")
        }
        check(n >= 1 && n <= expression.count + 1,
                     "column \(n) outside 1...\(expression.count + 1): \(error)")
        return 0
    } catch {
        failCheck("parse threw a non-SluiceError: \(error)")
    }
    // A pipeline of only `record` or `count-by` is whole: it frames records, or counts every line.
    check(!parsed.stages.isEmpty || parsed.batch != nil || parsed.record != nil || parsed.countBy != nil,
          "parsed an empty pipeline")

    if skipCRLFPatterns && parsed.stages.contains(where: {
        if case .grep(let grep) = $0 { return grep.patterns.contains { $0.contains("\r\n") } }
        return false
    }) {
        return 0
    }
    var spec = PipelineSpec()
    spec.stages = parsed.stages
    if let batch = parsed.batch { spec.batch = batch }
    let runner: PipelineRunner
    do {
        runner = try PipelineRunner(spec: spec)
    } catch let error as SluiceError {
        check(error.code == .usage, "PipelineRunner threw \(error.code), not .usage: \(error)")
        return 0
    } catch {
        failCheck("PipelineRunner threw a non-SluiceError: \(error)")
    }
    check(runner.explanation.count >= 3, "explanation too short: \(runner.explanation)")

    // The steps as they would run, minus the exec commands themselves.
    var chunk = sampleChunk
    do {
        chunk = try runner.headSteps.apply(chunk)
        for (_, steps) in runner.execPhases {
            chunk = try steps.apply(chunk.isEmpty ? sampleChunk : chunk)
        }
    } catch {
        failCheck("a grep/map step threw: \(error)")
    }
    let counted = chunk.withUnsafeBufferPointer { $0.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) } }
    if let known = chunk.knownLineCount {
        check(known == counted, "knownLineCount \(known) but the chunk holds \(counted) lines")
    }
    return 0
}
