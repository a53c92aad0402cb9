import Glibc

/// The one error type SluiceKit throws (besides `CancellationError`).
///
/// `description` is the line printed after `sluice: `: it names the place (a file, a flag,
/// a column of a pipeline expression) and what happened, so a person can act on it.
public struct SluiceError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// A flag or a pipeline expression is invalid (exit 2, nothing read).
        case usage
        /// An input could not be opened or read; the other inputs go on.
        case input
        /// A gzip stream is damaged; lines decoded before the damage were kept.
        case corruptInput
        /// A warning that does not change the exit status (e.g. trailing garbage after gzip).
        case warning
        /// An output could not be created or written.
        case output
        /// An `--exec` command failed.
        case exec
        /// The reader of the output went away (a closed pipe): stop quietly.
        case closedOutput
        /// A reader was stopped (`StopRequest`) before its input ended: never reported; it
        /// travels from a byte source to the line framer, which then drops the partial line.
        case interrupted
    }

    public var code: Code
    /// What failed, e.g. a path, `--map`, `-p` or `exec 'cmd'`; nil when nothing names it.
    public var place: String?
    public var message: String

    public init(_ code: Code, place: String? = nil, _ message: String) {
        self.code = code
        self.place = place
        self.message = message
    }

    public var description: String {
        if let place { return "\(place): \(message)" }
        return message
    }

    /// Further errors of the same kind, each a line of its own (grep reports every pattern it
    /// refuses, not only the first).
    public var others: [String] = []

    /// The place as bytes when it is a file name (which need not be UTF-8): written as grep
    /// writes it, byte for byte.
    public var placeBytes: [UInt8]?

    /// An error about the file `file`, named by its bytes.
    public init(_ code: Code, file: FileName, _ message: String) {
        self.init(code, place: file.description, message)
        placeBytes = file.bytes
    }

    /// `description` as bytes, with the file name's own bytes.
    public var bytes: [UInt8] {
        guard let placeBytes else { return Array(description.utf8) }
        return placeBytes + Array(": \(message)".utf8)
    }

    /// grep would die here (`grep -P` when PCRE2 gives up on a line): the runner names the
    /// input as the place (grep's `FILE: message`) and stops the run after reporting it.
    public var endsRun = false

    /// A `.warning` printed as it is, without `warning: ` (grep's `NAME: binary file matches`).
    public var isNotice = false

    /// Whether this error makes the run's exit status 2.
    public var isFatalToStatus: Bool { code != .warning }

    /// The system's words for `errno` (`No such file or directory`).
    public static func systemReason(_ errno: Int32) -> String {
        String(cString: strerror(errno))
    }
}
