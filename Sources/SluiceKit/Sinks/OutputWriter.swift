import Glibc

/// Buffered writes to one descriptor: bytes collect in a `capacity` buffer and go out in one
/// write(2) per flush; a write larger than the buffer goes straight out.
///
/// Errors: a closed pipe throws `SluiceError.closedOutput`; anything else an `.output` error
/// naming `name` and the system's reason (`No space left on device`).
public final class OutputWriter {
    public let fd: Int32
    public let name: String
    private var buffer: UnsafeMutableRawBufferPointer
    private var used = 0
    /// Bytes handed to write(2) so far.
    public private(set) var writtenByteCount = 0

    public init(fd: Int32, name: String, capacity: Int = 64 * 1024) {
        self.fd = fd
        self.name = name
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
        try writeFully(fd, bytes, name: name)
        writtenByteCount += bytes.count
    }
}

/// write(2) until every byte is out, retrying on EINTR. A closed pipe throws
/// `SluiceError.closedOutput`; anything else an `.output` error naming `name`.
func writeFully(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, name: String) throws {
    var offset = 0
    while offset < bytes.count {
        let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if n < 0 {
            if errno == EINTR { continue }
            if errno == EPIPE { throw SluiceError.closedOutput }
            throw SluiceError(.output, place: name, "write failed: \(SluiceError.systemReason(errno))")
        }
        offset += n
    }
}

extension SluiceError {
    /// The reader of our stdout went away (`| head`): stop quietly.
    public static let closedOutput = SluiceError(.closedOutput, "output closed")
}
