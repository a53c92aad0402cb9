import Glibc

/// grep's command line, read as GNU getopt_long reads it: options and operands in any order
/// (until `--`, or the first operand when POSIXLY_CORRECT is set), short options in clusters
/// (`-inH`, `-e'x'`, `-A3`, `-5`), long options by any unambiguous prefix (`--ign`), with
/// `--name=value` or `--name value`. Arguments stay bytes until a value is used.
///
/// Not swift-argument-parser (used before issue 9): it cannot read `-NUM`, an optional value
/// (`--color[=WHEN]`) or bytes that are not UTF-8, and its start-up work cost 5 ms of every
/// run (`sluice --version`: 6.9 ms with it, static stdlib; a Swift "hello" starts in 1.5 ms).
struct GrepCommandLine {
    enum Argument { case none, required, optional }

    struct Option {
        let key: Key
        let short: UInt8?
        let long: [String]
        let argument: Argument
    }

    enum Key: Equatable {
        case regexp, file, ignoreCase, noIgnoreCase, invert, wordRegexp, lineRegexp, count
        case filesWithMatches, filesWithoutMatch, maxCount, onlyMatching, quiet, noMessages
        case lineNumber, withFilename, noFilename, afterContext, beforeContext, context
        case color, recursive, dereferenceRecursive, include, exclude, excludeDir, null, label
        case text, version, help, basic, extended, fixed, perl, lineBuffered, binary
        case groupSeparator, noGroupSeparator, byteOffset, initialTab, nullData, unixByteOffsets
        case directories, devices, binaryFiles, ignoreBinary, excludeFrom
        // sluice's own
        case concurrency, unordered, batchSize, batchBytes, batchTimeout, output, overwrite, resume, checkpoint, retryMax, follow
        case generateCompletionScript, generateManual, progress, noProgress
        case compressionLevel, pipeline, explain, stats, map, exec
        case whereExpression, level, since, until, format, timeZone, year, countBy, top, record, json, template, fields
    }

    static let options: [Option] = [
        Option(key: .regexp, short: UInt8(ascii: "e"), long: ["regexp"], argument: .required),
        Option(key: .file, short: UInt8(ascii: "f"), long: ["file"], argument: .required),
        Option(key: .ignoreCase, short: UInt8(ascii: "i"), long: ["ignore-case"], argument: .none),
        Option(key: .ignoreCase, short: UInt8(ascii: "y"), long: [], argument: .none),
        Option(key: .noIgnoreCase, short: nil, long: ["no-ignore-case"], argument: .none),
        Option(key: .invert, short: UInt8(ascii: "v"), long: ["invert-match"], argument: .none),
        Option(key: .wordRegexp, short: UInt8(ascii: "w"), long: ["word-regexp"], argument: .none),
        Option(key: .lineRegexp, short: UInt8(ascii: "x"), long: ["line-regexp"], argument: .none),
        Option(key: .count, short: UInt8(ascii: "c"), long: ["count"], argument: .none),
        Option(key: .filesWithMatches, short: UInt8(ascii: "l"), long: ["files-with-matches"], argument: .none),
        Option(key: .filesWithoutMatch, short: UInt8(ascii: "L"), long: ["files-without-match"], argument: .none),
        Option(key: .maxCount, short: UInt8(ascii: "m"), long: ["max-count"], argument: .required),
        Option(key: .onlyMatching, short: UInt8(ascii: "o"), long: ["only-matching"], argument: .none),
        Option(key: .quiet, short: UInt8(ascii: "q"), long: ["quiet", "silent"], argument: .none),
        Option(key: .noMessages, short: UInt8(ascii: "s"), long: ["no-messages"], argument: .none),
        Option(key: .lineNumber, short: UInt8(ascii: "n"), long: ["line-number"], argument: .none),
        Option(key: .withFilename, short: UInt8(ascii: "H"), long: ["with-filename"], argument: .none),
        Option(key: .noFilename, short: UInt8(ascii: "h"), long: ["no-filename"], argument: .none),
        Option(key: .afterContext, short: UInt8(ascii: "A"), long: ["after-context"], argument: .required),
        Option(key: .beforeContext, short: UInt8(ascii: "B"), long: ["before-context"], argument: .required),
        Option(key: .context, short: UInt8(ascii: "C"), long: ["context"], argument: .required),
        Option(key: .color, short: nil, long: ["color", "colour"], argument: .optional),
        Option(key: .recursive, short: UInt8(ascii: "r"), long: ["recursive"], argument: .none),
        Option(key: .dereferenceRecursive, short: UInt8(ascii: "R"), long: ["dereference-recursive"], argument: .none),
        Option(key: .include, short: nil, long: ["include"], argument: .required),
        Option(key: .exclude, short: nil, long: ["exclude"], argument: .required),
        Option(key: .excludeFrom, short: nil, long: ["exclude-from"], argument: .required),
        Option(key: .excludeDir, short: nil, long: ["exclude-dir"], argument: .required),
        Option(key: .null, short: UInt8(ascii: "Z"), long: ["null"], argument: .none),
        Option(key: .label, short: nil, long: ["label"], argument: .required),
        Option(key: .text, short: UInt8(ascii: "a"), long: ["text"], argument: .none),
        Option(key: .version, short: UInt8(ascii: "V"), long: ["version"], argument: .none),
        Option(key: .help, short: nil, long: ["help"], argument: .none),
        Option(key: .basic, short: UInt8(ascii: "G"), long: ["basic-regexp"], argument: .none),
        Option(key: .extended, short: UInt8(ascii: "E"), long: ["extended-regexp"], argument: .none),
        Option(key: .fixed, short: UInt8(ascii: "F"), long: ["fixed-strings", "fixed-regexp"], argument: .none),
        Option(key: .perl, short: UInt8(ascii: "P"), long: ["perl-regexp"], argument: .none),
        Option(key: .lineBuffered, short: nil, long: ["line-buffered"], argument: .none),
        Option(key: .follow, short: nil, long: ["follow"], argument: .none),
        Option(key: .progress, short: nil, long: ["progress"], argument: .none),
        Option(key: .noProgress, short: nil, long: ["no-progress"], argument: .none),
        Option(key: .generateCompletionScript, short: nil, long: ["generate-completion-script"], argument: .required),
        Option(key: .generateManual, short: nil, long: ["generate-manual"], argument: .none),
        Option(key: .binary, short: UInt8(ascii: "U"), long: ["binary"], argument: .none),
        Option(key: .groupSeparator, short: nil, long: ["group-separator"], argument: .required),
        Option(key: .noGroupSeparator, short: nil, long: ["no-group-separator"], argument: .none),
        Option(key: .byteOffset, short: nil, long: ["byte-offset"], argument: .none),
        Option(key: .initialTab, short: UInt8(ascii: "T"), long: ["initial-tab"], argument: .none),
        Option(key: .nullData, short: UInt8(ascii: "z"), long: ["null-data"], argument: .none),
        Option(key: .unixByteOffsets, short: UInt8(ascii: "u"), long: ["unix-byte-offsets"], argument: .none),
        Option(key: .directories, short: UInt8(ascii: "d"), long: ["directories"], argument: .required),
        Option(key: .devices, short: UInt8(ascii: "D"), long: ["devices"], argument: .required),
        Option(key: .binaryFiles, short: nil, long: ["binary-files"], argument: .required),
        Option(key: .ignoreBinary, short: UInt8(ascii: "I"), long: [], argument: .none),
        Option(key: .concurrency, short: UInt8(ascii: "j"), long: ["concurrency"], argument: .required),
        Option(key: .unordered, short: nil, long: ["unordered"], argument: .none),
        Option(key: .batchSize, short: UInt8(ascii: "b"), long: ["batch-size"], argument: .required),
        Option(key: .batchBytes, short: nil, long: ["batch-bytes"], argument: .required),
        Option(key: .batchTimeout, short: nil, long: ["batch-timeout"], argument: .required),
        Option(key: .output, short: UInt8(ascii: "O"), long: ["output"], argument: .required),
        Option(key: .overwrite, short: nil, long: ["overwrite"], argument: .none),
        Option(key: .resume, short: nil, long: ["resume"], argument: .none),
        Option(key: .checkpoint, short: nil, long: ["checkpoint"], argument: .required),
        Option(key: .retryMax, short: nil, long: ["retry-max"], argument: .required),
        Option(key: .compressionLevel, short: nil, long: ["compression-level"], argument: .required),
        Option(key: .pipeline, short: UInt8(ascii: "p"), long: ["pipeline"], argument: .required),
        Option(key: .explain, short: nil, long: ["explain"], argument: .none),
        Option(key: .stats, short: nil, long: ["stats"], argument: .none),
        Option(key: .map, short: nil, long: ["map"], argument: .required),
        Option(key: .exec, short: nil, long: ["exec"], argument: .required),
        Option(key: .whereExpression, short: nil, long: ["where"], argument: .required),
        Option(key: .level, short: nil, long: ["level"], argument: .required),
        Option(key: .since, short: nil, long: ["since"], argument: .required),
        Option(key: .until, short: nil, long: ["until"], argument: .required),
        Option(key: .format, short: nil, long: ["format"], argument: .required),
        Option(key: .timeZone, short: nil, long: ["tz"], argument: .required),
        Option(key: .year, short: nil, long: ["year"], argument: .required),
        Option(key: .countBy, short: nil, long: ["count-by"], argument: .required),
        Option(key: .top, short: nil, long: ["top"], argument: .required),
        Option(key: .record, short: nil, long: ["record"], argument: .required),
        Option(key: .json, short: nil, long: ["json"], argument: .none),
        Option(key: .template, short: nil, long: ["template"], argument: .required),
        Option(key: .fields, short: nil, long: ["fields"], argument: .required),
    ]

    /// One option as given: its key, the spelling used (for messages) and its value.
    struct Given {
        let key: Key
        let spelling: String
        let value: [UInt8]?
    }

    /// A mistake in the command line, worded as getopt words it; the caller adds the usage lines.
    struct UsageError: Error {
        let message: String
        /// The options read before the mistake (grep has acted on them: `-u`'s warning).
        var before: [Given] = []
    }

    /// The options in order, the operands in order.
    typealias Parsed = (options: [Given], operands: [[UInt8]])

    /// grep's warnings about options, printed as getopt reads them, before any other message
    /// (a mistake later in the line included): `-u`, obsolete.
    static func warnings(_ parsed: Result<Parsed, UsageError>) -> [String] {
        let given: [Given]
        switch parsed {
        case .success(let read): given = read.options
        case .failure(let error): given = error.before
        }
        return given.filter { $0.key == .unixByteOffsets }.map { _ in "warning: --unix-byte-offsets (-u) is obsolete" }
    }

    /// The options in order, the operands in order, and a context count given as `-NUM`.
    static func parse(_ arguments: [[UInt8]], posixlyCorrect: Bool = false,
                      shortBIsByteOffset: Bool = false) throws(UsageError) -> (options: [Given], operands: [[UInt8]]) {
        var given: [Given] = []
        var operands: [[UInt8]] = []
        var index = 0
        var digits: [UInt8] = []  // -NUM, possibly spread over a cluster (`-1n2` is not valid; `-12` is 12)
        func flushDigits() {
            if !digits.isEmpty {
                given.append(Given(key: .context, spelling: "-NUM", value: digits))
                digits = []
            }
        }
        func readOptions() throws(UsageError) {
        while index < arguments.count {
            let word = arguments[index]
            index += 1
            if word == Array("--".utf8) {
                operands.append(contentsOf: arguments[index...])
                break
            }
            guard word.count >= 2, word[0] == UInt8(ascii: "-") else {
                operands.append(word)
                if posixlyCorrect {
                    operands.append(contentsOf: arguments[index...])
                    break
                }
                continue
            }
            if word[1] == UInt8(ascii: "-") {
                let body = word[2...]
                let nameBytes = body.prefix { $0 != UInt8(ascii: "=") }
                let name = String(decoding: nameBytes, as: UTF8.self)
                let inlineValue: [UInt8]? = nameBytes.count < body.count ? Array(body[(body.startIndex + nameBytes.count + 1)...]) : nil
                let option = try longOption(name)
                let spelling = "--" + (option.long.first { $0.hasPrefix(name) } ?? name)
                switch option.argument {
                case .none:
                    if inlineValue != nil { throw UsageError(message: "option '\(spelling)' doesn't allow an argument") }
                    given.append(Given(key: option.key, spelling: spelling, value: nil))
                case .optional:
                    given.append(Given(key: option.key, spelling: spelling, value: inlineValue))
                case .required:
                    if let inlineValue {
                        given.append(Given(key: option.key, spelling: spelling, value: inlineValue))
                    } else if index < arguments.count {
                        given.append(Given(key: option.key, spelling: spelling, value: arguments[index]))
                        index += 1
                    } else {
                        throw UsageError(message: "option '\(spelling)' requires an argument")
                    }
                }
                continue
            }
            var position = 1
            var lastWasDigit = false
            while position < word.count {
                let letter = word[position]
                position += 1
                if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(letter) {
                    // grep: digits in one run form one number; a new run starts a new number.
                    if !lastWasDigit { flushDigits() }
                    digits.append(letter)
                    lastWasDigit = true
                    continue
                }
                lastWasDigit = false
                let wanted: Key? = shortBIsByteOffset && letter == UInt8(ascii: "b") ? .byteOffset : nil
                guard let option = options.first(where: { candidate in wanted.map { candidate.key == $0 } ?? (candidate.short == letter) }) else {
                    throw UsageError(message: "invalid option -- '\(Self.shown(letter))'")
                }
                let spelling = "-" + Self.shown(letter)
                // sluice's -O writes a file: inside a cluster it is most likely a typo for grep
                // (`-ERROR` for `-e ERROR` would write a file named `R`), so it must stand first.
                if option.key == .output && position > 2 {
                    throw UsageError(message: "invalid option -- 'O' in '\(String(decoding: word, as: UTF8.self))': sluice's -O (--output) "
                        + "must begin its own word (-O FILE); did you mean -e?")
                }
                if option.argument == .none {
                    given.append(Given(key: option.key, spelling: spelling, value: nil))
                    continue
                }
                if position < word.count {
                    given.append(Given(key: option.key, spelling: spelling, value: Array(word[position...])))
                } else if index < arguments.count {
                    given.append(Given(key: option.key, spelling: spelling, value: arguments[index]))
                    index += 1
                } else {
                    throw UsageError(message: "option requires an argument -- '\(Self.shown(letter))'")
                }
                break
            }
            flushDigits()
        }
        }
        do {
            try readOptions()
        } catch {
            var mistake = error
            mistake.before = given
            throw mistake
        }
        return (given, operands)
    }

    /// The option a long name (or an unambiguous prefix of one) names.
    static func longOption(_ name: String) throws(UsageError) -> Option {
        if let exact = options.first(where: { $0.long.contains(name) }) { return exact }
        var matches: [(Option, String)] = []
        for option in options {
            for long in option.long where long.hasPrefix(name) && !name.isEmpty {
                matches.append((option, long))
            }
        }
        guard let first = matches.first else { throw UsageError(message: "unrecognized option '--\(name)'") }
        if matches.allSatisfy({ $0.0.key == first.0.key }) { return first.0 }
        // A prefix grep reads as one of its options keeps that meaning: sluice's own long
        // options never make a grep abbreviation ambiguous (`--ma` is --max-count, not --map).
        let grepMatches = matches.filter { !sluiceOwn.contains($0.0.key) }
        if let grepFirst = grepMatches.first, grepMatches.allSatisfy({ $0.0.key == grepFirst.0.key }) { return grepFirst.0 }
        // Ambiguous among grep's own options: name only those, as grep does (a grep user's
        // `--re` is between --regexp and --recursive, whatever sluice adds).
        let possibilities = (grepMatches.count > 1 ? grepMatches : matches).map { "'--\($0.1)'" }.joined(separator: " ")
        throw UsageError(message: "option '--\(name)' is ambiguous; possibilities: \(possibilities)")
    }

    /// sluice's own options (not grep's).
    static let sluiceOwn: Set<Key> = [.concurrency, .unordered, .batchSize, .batchBytes, .batchTimeout, .output, .overwrite,
                                      .resume, .checkpoint, .retryMax, .compressionLevel, .pipeline, .explain, .stats, .map, .exec,
                                      .whereExpression, .level, .since, .until, .format, .timeZone, .year, .countBy, .top, .record,
                                      .json, .template, .fields]

    static func shown(_ byte: UInt8) -> String {
        byte < 0x80 ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
    }
}
