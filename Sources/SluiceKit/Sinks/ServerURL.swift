/// The parts of a database server's URL, `SCHEME://USER:PASSWORD@HOST:PORT/PATH?NAME=VALUE&...`
/// (libpq's URI, ClickHouse's), each `%XX` decoded; a part left out is nil. An IPv6 host is
/// written in brackets (`[::1]:5432`).
struct ServerURL {
    var user: String?
    var password: String?
    var host: String?
    var port: Int?
    var path: String?
    var settings: [(name: String, value: String)] = []

    init(_ text: String, fail: (String) -> SluiceError) throws {
        var rest = Substring(text[text.firstRange(of: "://")!.upperBound...])
        var query: Substring = ""
        if let question = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: question)...]
            rest = rest[..<question]
        }
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            if !path.isEmpty { self.path = try Self.decode(path, fail) }
            rest = rest[..<slash]
        }
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                user = try Self.decode(credentials[..<colon], fail)
                password = try Self.decode(credentials[credentials.index(after: colon)...], fail)
            } else {
                user = try Self.decode(credentials, fail)
            }
        }
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw fail("an IPv6 address opens '[' without ']'") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            rest = rest[rest.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { throw fail("'\(rest)' after the host") }
                port = try Self.port(rest.dropFirst(), fail)
            }
        } else {
            if let colon = rest.lastIndex(of: ":") {
                port = try Self.port(rest[rest.index(after: colon)...], fail)
                rest = rest[..<colon]
            }
            if !rest.isEmpty { host = try Self.decode(rest, fail) }
        }
        for item in query.split(separator: "&") {
            let pair = item.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { throw fail("'\(item)' is not NAME=VALUE") }
            settings.append((String(pair[0]), try Self.decode(pair[1], fail)))
        }
    }

    static func port<Text: StringProtocol>(_ text: Text, _ fail: (String) -> SluiceError) throws -> Int {
        guard let number = Int(text), (1...65535).contains(number) else { throw fail("'\(text)' is not a port") }
        return number
    }

    /// `%XX` decoded (URI escapes in a user, password, host, database name or setting).
    static func decode(_ text: Substring, _ fail: (String) -> SluiceError) throws -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        var index = text.utf8.startIndex
        let utf8 = text.utf8
        while index < utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "%") {
                let first = utf8.index(after: index)
                guard first < utf8.endIndex, utf8.index(after: first) < utf8.endIndex,
                      let value = UInt8(String(decoding: utf8[first...utf8.index(after: first)], as: UTF8.self), radix: 16) else {
                    throw fail("'%' is not followed by two hex digits")
                }
                bytes.append(value)
                index = utf8.index(first, offsetBy: 2)
            } else {
                bytes.append(byte)
                index = utf8.index(after: index)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
