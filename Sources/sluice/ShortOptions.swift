/// Rewrites grep-style attached short options into the separate words ArgumentParser reads:
/// `-j2` → `-j 2`, `-eERROR` → `-e ERROR`, `-ive x` → `-i -v -e x`. Words after `--`, and
/// words that are not option clusters, pass unchanged.
enum ShortOptions {
    static let flags: Set<Character> = ["F", "i", "v", "w", "x", "c", "q", "h"]
    static let valued: Set<Character> = ["e", "m", "j", "b", "o", "p"]

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
            guard word.count > 2, word.hasPrefix("-"), !word.hasPrefix("--") else {
                out.append(word)
                // A valued option's next word is its value, even if it starts with '-'.
                if word.count == 2, word.hasPrefix("-"), valued.contains(word.last!), index < arguments.count {
                    out.append(arguments[index])
                    index += 1
                }
                continue
            }
            let letters = Array(word.dropFirst())
            let optionLetters = letters.prefix { !valued.contains($0) }
            let clusterIsValid = optionLetters.allSatisfy(flags.contains) && (optionLetters.count < letters.count || !optionLetters.isEmpty)
            guard clusterIsValid else {
                out.append(word)
                continue
            }
            var position = 0
            while position < letters.count {
                let letter = letters[position]
                position += 1
                out.append("-\(letter)")
                if valued.contains(letter) {
                    if position < letters.count {
                        out.append(String(letters[position...]))
                    } else if index < arguments.count {
                        out.append(arguments[index])
                        index += 1
                    }
                    break
                }
            }
        }
        return out
    }
}
