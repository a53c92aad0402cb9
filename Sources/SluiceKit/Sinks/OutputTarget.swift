/// Where output lines go.
public enum OutputTarget: Sendable, Equatable, CustomStringConvertible {
    case standardOutput
    /// One file holding every line; gzip if the name ends in `.gz`.
    case file(String)
    /// One file per `linesPerFile` lines, named from a template with `{n}` or `{n:WIDTH}`.
    case split(FileNameTemplate)

    public static func parse(_ text: String) throws -> OutputTarget {
        if text == "-" { return .standardOutput }
        if text.hasPrefix("-") {
            // `sluice -o -e ERROR app.log` (grep's -o, only-matching) would write a file "-e".
            throw SluiceError(.usage, place: "--output", "'\(text)' looks like an option, not a file name "
                + "(-o names the output; for a file of that name write ./\(text))")
        }
        if text.contains("{n") { return .split(try FileNameTemplate(parsing: text)) }
        if text.isEmpty || text.hasSuffix("/") {
            throw SluiceError(.usage, place: "--output", "'\(text)' is not a file name")
        }
        return .file(text)
    }

    public var description: String {
        switch self {
        case .standardOutput: "stdout"
        case .file(let path): path
        case .split(let template): template.text
        }
    }
}
