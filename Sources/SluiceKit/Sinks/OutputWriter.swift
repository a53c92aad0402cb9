import Glibc

/// Buffered writes to one descriptor: bytes collect in a `capacity` buffer and go out in one
/// write(2) per flush; a write larger than the buffer goes straight out.
///
/// Errors: a closed pipe throws `SluiceError.closedOutput`; anything else an `.output` error
/// naming `name` and the system's reason (`No space left on device`). With an `interrupt`, a
/// write that waits for room (a FIFO nobody reads) gives up with `CancellationError` once it
/// is cancelled.
public final class OutputWriter {
    public let fd: Int32
    public let name: String
    let interrupt: Interrupt?
    /// `fd` may make a write wait for ever (`descriptorMayBlock`).
    let mayBlock: Bool
    private var buffer: UnsafeMutableRawBufferPointer
    private var used = 0
    /// Bytes handed to write(2) so far.
    public private(set) var writtenByteCount = 0

    public convenience init(fd: Int32, name: String, capacity: Int = 64 * 1024) {
        self.init(fd: fd, name: name, capacity: capacity, interrupt: nil)
    }

    init(fd: Int32, name: String, capacity: Int, interrupt: Interrupt?) {
        self.fd = fd
        self.name = name
        self.interrupt = interrupt
        mayBlock = interrupt != nil && descriptorMayBlock(fd)
        buffer = .allocate(byteCount: capacity, alignment: 64)
    }

    deinit { buffer.deallocate() }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        if used + bytes.count > buffer.count {
            try flush()
            if bytes.count >= buffer.count {
                try writeAll(bytes)
                return
            }
        }
        (buffer.baseAddress! + used).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        used += bytes.count
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    public func flush() throws {
        guard used > 0 else { return }
        let pending = UnsafeRawBufferPointer(rebasing: buffer[..<used])
        used = 0
        try writeAll(pending)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        try writeFully(fd, bytes, name: name, interrupt: interrupt, mayBlock: mayBlock)
        writtenByteCount += bytes.count
    }
}

/// write(2) until every byte is out, retrying on EINTR. A closed pipe throws
/// `SluiceError.closedOutput`; anything else an `.output` error naming `name`. With an
/// `interrupt`, each write goes through `Interrupt.write` (`mayBlock`: `fd` may wait for a
/// reader), and a cancelled interrupt throws `CancellationError`.
func writeFully(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, name: String,
                interrupt: Interrupt? = nil, mayBlock: Bool = false) throws {
    var offset = 0
    while offset < bytes.count {
        let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
        let n: Int
        if let interrupt {
            guard let written = interrupt.write(fd, rest, mayBlock: mayBlock) else {
                if interrupt.isStopping {
                    throw SluiceError(.output, place: name, "took nothing for \(Interrupt.stopGraceMilliseconds / 1000) s after "
                        + "the stop request; the lines not written yet are lost")
                }
                throw CancellationError()
            }
            n = written
        } else {
            n = writeRetrying(fd, rest)
        }
        if n < 0 {
            if Int32(-n) == EPIPE { throw SluiceError.closedOutput }
            // Standard output: grep's words ("grep: write error: No space left on device"),
            // which scripts match; a named output keeps its name.
            if name == "(standard output)" { throw SluiceError(.output, "write error: \(SluiceError.systemReason(Int32(-n)))") }
            throw SluiceError(.output, place: name, "write failed: \(SluiceError.systemReason(Int32(-n)))")
        }
        offset += n
    }
}

extension SluiceError {
    /// The reader of our stdout went away (`| head`): stop quietly.
    public static let closedOutput = SluiceError(.closedOutput, "output closed")
}
