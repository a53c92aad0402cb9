import AsyncHTTPClient
import Glibc
import NIOCore
import NIOHTTP1
import NIOPosix
import SluiceKit

/// ClickHouse's HTTP interface through AsyncHTTPClient's pool: statements in the body of a
/// POST, an INSERT's statement in the URL with its rows as the body.
final class ClickHouseClient: Sendable {
    let http: HTTPClient
    let address: ClickHouseAddress
    /// `http://HOST:PORT/?database=DB`: the database a missing one is reported for.
    private let base: String
    private let authorization: String

    /// At most `connections` connections (`-j`). A connection that cannot be made fails its
    /// request at once (the batch's own backoff tries again; AsyncHTTPClient's would wait for
    /// the connect timeout in silence).
    init(address: ClickHouseAddress, connections: Int, events: any EventLoopGroup) {
        self.address = address
        var configuration = HTTPClient.Configuration()
        // Idle connections are let go before the server closes them (keep_alive_timeout: 3 s
        // in 18.16, 10 s later): a connection it closed, picked for the next batch, would
        // fail that batch's first attempt.
        configuration.connectionPool = .init(idleTimeout: .seconds(2), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(300))
        configuration.httpVersion = .http1Only
        configuration.decompression = .disabled
        http = HTTPClient(eventLoopGroup: events, configuration: configuration)
        let host = address.host.contains(":") ? "[\(address.host)]" : address.host
        base = "http://\(host):\(address.port)/?database=\(Self.percentEncoded(address.database))"
        let credentials = "\(address.user):\(address.password ?? "")"
        authorization = "Basic " + Self.base64(Array(credentials.utf8))
    }

    /// Runs `sql` (not an INSERT with data) and returns what the server answered.
    func query(_ sql: String, timeout: TimeAmount = .seconds(60)) async throws -> [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeString(sql)
        return try await post(url: base, body: .bytes(buffer), gzip: false, timeout: timeout, answerLimit: 16 << 20)
    }

    /// `statement` (an INSERT ... FORMAT) with `rows` as its data. The answer waits for the
    /// end of the INSERT (`wait_end_of_query`, no progress headers): a failure part-way is
    /// then a status other than 200, never a 200 whose body holds the exception.
    func insert(_ statement: String, rows: HTTPClientRequest.Body, gzip: Bool) async throws {
        let url = base + "&wait_end_of_query=1&send_progress_in_http_headers=0&query=" + Self.percentEncoded(statement)
        // A minute for a batch (a healthy server stores 100,000 rows in about a second): a
        // server that does not answer fails the attempt, which is retried.
        _ = try await post(url: url, body: rows, gzip: gzip, timeout: .seconds(60), answerLimit: 1 << 20)
    }

    private func post(url: String, body: HTTPClientRequest.Body, gzip: Bool, timeout: TimeAmount, answerLimit: Int) async throws -> [UInt8] {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Authorization", value: authorization)
        if gzip { request.headers.add(name: "Content-Encoding", value: "gzip") }
        request.body = body
        let response = try await http.execute(request, timeout: timeout)
        let answer = try await response.body.collect(upTo: answerLimit)
        let bytes = Array(answer.readableBytesView)
        guard response.status == .ok, response.headers["X-ClickHouse-Exception-Code"].isEmpty else {
            throw ClickHouseFailure(status: response.status == .ok ? 500 : Int(response.status.code), answer: bytes)
        }
        return bytes
    }

    func shutdown() async {
        try? await http.shutdown()
    }

    /// Every byte but the unreserved ones (RFC 3986) as `%XX`.
    static func percentEncoded(_ text: String) -> String {
        var out: [UInt8] = []
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func base64(_ bytes: [UInt8]) -> String {
        let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value = 0
            for (offset, byte) in chunk.enumerated() { value |= Int(byte) << (16 - 8 * offset) }
            for position in 0..<4 {
                out.append(position <= chunk.count ? table[(value >> (18 - 6 * position)) & 63] : UInt8(ascii: "="))
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `text` as a ClickHouse string literal.
    static func literal(_ text: String) -> String {
        var out = "'"
        for character in text.unicodeScalars {
            switch character {
            case "'": out += "\\'"
            case "\\": out += "\\\\"
            default: out.unicodeScalars.append(character)
            }
        }
        return out + "'"
    }
}

/// An answer other than 200: its status, and ClickHouse's exception code and message.
struct ClickHouseFailure: Error {
    let status: Int
    let code: Int?
    let message: String

    init(status: Int, answer: [UInt8]) {
        self.status = status
        // 18.16: `Code: 81, e.displayText() = DB::Exception: Database x doesn't exist, e.what() = DB::Exception`;
        // later: `Code: 81. DB::Exception: Database x doesn't exist. (UNKNOWN_DATABASE) (version ...)`.
        var text = String(decoding: answer.prefix { $0 != 0x0A }, as: UTF8.self)
        var code: Int?
        if text.hasPrefix("Code: ") {
            let digits = text.dropFirst(6).prefix { $0.isNumber }
            code = Int(digits)
        }
        if let range = text.firstRange(of: "DB::Exception: ") { text = String(text[range.upperBound...]) }
        if let range = text.firstRange(of: ", e.what() = ") { text = String(text[..<range.lowerBound]) }
        if let range = text.firstRange(of: " (version ") { text = String(text[..<range.lowerBound]) }
        text = text.trimming(" .")
        self.code = code
        message = text.isEmpty ? "HTTP status \(status)" : text
    }

    /// ClickHouse's codes for what may pass on another try: a timeout (159), too many
    /// queries (202), a socket timeout or network error between servers (209, 210), no
    /// memory (241), a table read-only for now (242), too many parts (252), an INSERT whose
    /// outcome is unknown (319), ZooKeeper (999) and Keeper (425 in later versions: SYSTEM_ERROR).
    /// A query cancelled or aborted as the server shuts down (394, 236) is one too.
    static let transientCodes: Set<Int> = [159, 202, 209, 210, 236, 241, 242, 252, 319, 394, 425, 999]

    /// A server going away or starting (502, 503, 504 from a proxy; 408), a 5xx answer
    /// without an exception code, or one of `transientCodes`. Everything else (a statement
    /// or rows it cannot read, a table or database not there, a refused user) fails at once.
    var isTransient: Bool {
        if let code { return Self.transientCodes.contains(code) }
        return status == 408 || status >= 500
    }
}

extension String {
    func trimming(_ characters: String) -> String {
        let set = Set(characters)
        var text = Substring(self)
        while let first = text.first, set.contains(first) { text = text.dropFirst() }
        while let last = text.last, set.contains(last) { text = text.dropLast() }
        return String(text)
    }
}

/// A failed request as one line that names the server's reason, and whether trying again may help.
enum ServerFailure {
    static func isTransient(_ error: any Error) -> Bool {
        if let failure = error as? ClickHouseFailure { return failure.isTransient }
        // Connections: refused, reset, closed, timed out.
        if error is IOError || error is NIOConnectionError || error is ChannelError { return true }
        // The server went away in the middle of its answer (killed, restarted): NIO's parser
        // says the stream ended early. Seen once in the kill-and-restart test under load.
        if let error = error as? HTTPParserError { return error == .invalidEOFState || error == .closedConnection }
        if let error = error as? HTTPClientError {
            return [HTTPClientError.connectTimeout, .readTimeout, .remoteConnectionClosed, .deadlineExceeded, .writeTimeout].contains(error)
        }
        return false
    }

    static func reason(_ error: any Error) -> String {
        if let failure = error as? ClickHouseFailure { return failure.message }
        if let error = error as? SluiceError { return error.message }
        if let error = error as? IOError { return SluiceError.systemReason(error.errnoCode) }
        if let error = error as? NIOConnectionError {
            if let first = error.connectionErrors.first { return reason(first.error) }
            if error.dnsAAAAError != nil || error.dnsAError != nil { return "the host name is not known" }
            return "no connection could be made"
        }
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout: return "no connection could be made in 10s"
            case .readTimeout: return "the server did not answer in time"
            case .remoteConnectionClosed: return "the server closed the connection"
            default: return "\(error)"
            }
        }
        if let error = error as? ChannelError { return "the connection was lost (\(error))" }
        return "\(error)"
    }

    static func sluiceError(_ error: any Error, place: String, doing: String) -> SluiceError {
        if let error = error as? SluiceError { return error }
        return SluiceError(.output, place: place, "\(doing): \(reason(error))")
    }
}
