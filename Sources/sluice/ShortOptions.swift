/// Rewrites grep-style options into words ArgumentParser reads the way grep would:
/// `-j2` → `--concurrency=2`, `-eERROR` and `-e ERROR` → `--regexp=ERROR`, `-ive x` →
/// `-i -v --regexp=x`, `--map -x` → `--map=-x`. The `=` form keeps a value that starts with
/// `-` (`-e '-> 200'`) from being read as an option. Words after `--`, and words that are not
/// option clusters, pass unchanged.
enum ShortOptions {
    static let flags: Set<Character> = ["F", "E", "P", "i", "v", "w", "x", "c", "q", "h"]
    static let valued: [Character: String] = [
        "e": "regexp", "m": "max-count", "j": "concurrency", "b": "batch-size", "o": "output", "p": "pipeline",
    ]
    static let valuedLong: Set<String> = [
        "--regexp", "--max-count", "--concurrency", "--batch-size", "--output", "--pipeline",
        "--map", "--exec", "--batch-timeout", "--batch-bytes", "--compression-level",
    ]

    static func normalize(_ arguments: [String]) -> [String] {
        var out: [String] = []
        var index = 0
        while index < arguments.count {
            let word = arguments[index]
            index += 1
            if word == "--" {
                out.append(contentsOf: arguments[(index - 1)...])
                break
            }
            if valuedLong.contains(word), index < arguments.count {
                out.append(contentsOf: option(word, arguments[index]))
                index += 1
                continue
            }
            guard word.count >= 2, word.hasPrefix("-"), !word.hasPrefix("--") else {
                out.append(word)
                continue
            }
            let letters = Array(word.dropFirst())
            let optionLetters = letters.prefix { valued[$0] == nil }
            guard optionLetters.allSatisfy(flags.contains) else {
                out.append(word)
                continue
            }
            out.append(contentsOf: optionLetters.map { "-\($0)" })
            guard optionLetters.count < letters.count else { continue }
            let long = valued[letters[optionLetters.count]]!
            let attached = String(letters[(optionLetters.count + 1)...])
            if !attached.isEmpty {
                out.append(contentsOf: option("--\(long)", attached))
            } else if index < arguments.count {
                out.append(contentsOf: option("--\(long)", arguments[index]))
                index += 1
            } else {
                out.append("--\(long)")  // ArgumentParser reports the missing value
            }
        }
        return out
    }

    /// Splits normalized words into options (with their values), input names and `-e`
    /// patterns, so inputs and patterns never go through ArgumentParser: its parsing is
    /// quadratic in the number of words (5,000 files took 1.5 s, 70 s under ThreadSanitizer;
    /// 2,000 `-e` took 0.7 s). After `--` every word is an input; `-` alone is one (stdin).
    static func separateInputs(_ words: [String]) -> (options: [String], inputs: [String], patterns: [String]) {
        var options: [String] = []
        var inputs: [String] = []
        var patterns: [String] = []
        var index = 0
        while index < words.count {
            let word = words[index]
            index += 1
            if word == "--" {
                inputs.append(contentsOf: words[index...])
                break
            }
            guard word.count >= 2, word.hasPrefix("-") else {
                inputs.append(word)
                continue
            }
            if word == "--regexp", index < words.count {
                patterns.append(words[index])
                index += 1
                continue
            }
            if word.hasPrefix("--regexp=") {
                patterns.append(String(word.dropFirst("--regexp=".count)))
                continue
            }
            options.append(word)
            if valuedLong.contains(word), index < words.count {
                options.append(words[index])
                index += 1
            }
        }
        return (options, inputs, patterns)
    }

    /// `--name=value` when the value starts with `-` (so it is not read as an option), else
    /// two words (ArgumentParser reads `--name=` with an empty value as a missing one).
    static func option(_ name: String, _ value: String) -> [String] {
        value.hasPrefix("-") ? ["\(name)=\(value)"] : [name, value]
    }
}
