import Glibc

/// What one fill of a buffer produced: `count` bytes, then possibly the end of this source
/// (`ended`) and a diagnostic about why it ended early (`failure`).
struct FillResult {
    var count: Int
    var ended: Bool
    var failure: SluiceError?
}

/// A decoded byte stream (plain or gzip) read from one descriptor.
protocol ByteSource {
    /// Writes decoded bytes at the start of `buffer`. Returns after filling it, or earlier
    /// when the descriptor had no more data ready (a pipe) so trickling input moves on.
    mutating func fill(_ buffer: UnsafeMutableRawBufferPointer) -> FillResult
    /// Bytes read from the descriptor so far.
    var consumedByteCount: Int { get }
}

/// Reads up to `count` bytes, retrying on EINTR. Returns 0 at end of file, -errno on error.
func readRetrying(_ fd: Int32, _ pointer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    while true {
        let n = read(fd, pointer, count)
        if n >= 0 { return n }
        if errno == EINTR { continue }
        return -Int(errno)
    }
}

/// An undecoded source: bytes pass through as read.
struct PlainSource: ByteSource {
    let fd: Int32
    let name: String
    var prefix: [UInt8]
    private(set) var consumedByteCount: Int

    init(fd: Int32, name: String, prefix: [UInt8]) {
        self.fd = fd
        self.name = name
        self.prefix = prefix
        self.consumedByteCount = prefix.count
    }

    mutating func fill(_ buffer: UnsafeMutableRawBufferPointer) -> FillResult {
        var produced = 0
        if !prefix.isEmpty {
            let n = min(prefix.count, buffer.count)
            prefix.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: n) }
            prefix.removeFirst(n)
            produced = n
            // Hand the first bytes on at once: on a pipe, more may take a long time to come.
            return FillResult(count: produced, ended: false)
        }
        while produced < buffer.count {
            let want = buffer.count - produced
            let n = readRetrying(fd, buffer.baseAddress! + produced, want)
            if n < 0 {
                return FillResult(count: produced, ended: true,
                                  failure: SluiceError(.input, place: name, "read error: \(SluiceError.systemReason(Int32(-n)))"))
            }
            if n == 0 { return FillResult(count: produced, ended: true) }
            produced += n
            consumedByteCount += n
            if n < want { break }  // a pipe or terminal: hand on what arrived
        }
        return FillResult(count: produced, ended: false)
    }
}
