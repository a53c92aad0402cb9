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

/// What `readInterruptibly` returns when the reader was interrupted before reading.
let interruptedRead = Int.min

/// `readRetrying`, unless `interrupt` (when given) was requested first: then `interruptedRead`.
func readInterruptibly(_ fd: Int32, _ pointer: UnsafeMutableRawPointer, _ count: Int,
                       _ interrupt: Interrupt?, mayBlock: Bool) -> Int {
    guard let interrupt else { return readRetrying(fd, pointer, count) }
    return interrupt.read(fd, pointer, count, mayBlock: mayBlock) ?? interruptedRead
}

/// An undecoded source: bytes pass through as read.
struct PlainSource: ByteSource {
    let fd: Int32
    let name: String
    var prefix: [UInt8]
    private(set) var consumedByteCount: Int
    /// Ends the source early (a stop or a cancellation), even while a read waits on a pipe.
    let interrupt: Interrupt?
    /// `fd` is a pipe, terminal or socket: a read may wait for ever.
    let mayBlock: Bool

    init(fd: Int32, name: String, prefix: [UInt8], interrupt: Interrupt? = nil, mayBlock: Bool = false) {
        self.fd = fd
        self.name = name
        self.prefix = prefix
        self.consumedByteCount = prefix.count
        self.interrupt = interrupt
        self.mayBlock = mayBlock
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
            let n = readInterruptibly(fd, buffer.baseAddress! + produced, want, interrupt, mayBlock: mayBlock)
            if n == interruptedRead {
                return FillResult(count: produced, ended: true, failure: SluiceError(.interrupted, place: name, "stopped"))
            }
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
