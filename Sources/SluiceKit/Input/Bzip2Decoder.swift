import CBzip2

/// bzip2 streams decoded by libbz2, one stream at a time (`CompressedSource` handles what
/// lies between streams, as `bzcat` reads `cat a.bz2 b.bz2`). Memory: about 3.6 MiB for a
/// `-9` stream (libbz2's fast mode).
final class Bzip2Decoder: StreamDecoder {
    /// On the heap: libbz2's state points back to it.
    private let stream: UnsafeMutablePointer<bz_stream>
    private var active = false

    init() {
        stream = .allocate(capacity: 1)
        stream.initialize(to: bz_stream())
    }

    deinit {
        if active { BZ2_bzDecompressEnd(stream) }
        stream.deallocate()
    }

    func startStream() -> String? {
        if active { BZ2_bzDecompressEnd(stream) }
        stream.pointee = bz_stream()
        let status = BZ2_bzDecompressInit(stream, 0, 0)
        active = status == BZ_OK
        return active ? nil : Self.describe(status)
    }

    func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, inputEnded: Bool) -> DecodeStep {
        // libbz2 counts in UInt32: hand it at most that much.
        let inputCount = min(input.count, Int(UInt32.max))
        let outputCount = min(output.count, Int(UInt32.max))
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: CChar.self))
        stream.pointee.avail_in = UInt32(inputCount)
        stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: CChar.self)
        stream.pointee.avail_out = UInt32(outputCount)
        let status = BZ2_bzDecompress(stream)
        let consumed = inputCount - Int(stream.pointee.avail_in)
        let produced = outputCount - Int(stream.pointee.avail_out)
        switch status {
        case BZ_OK:
            return DecodeStep(consumed: consumed, produced: produced, outcome: .progress)
        case BZ_STREAM_END:
            return DecodeStep(consumed: consumed, produced: produced, outcome: .streamEnd)
        default:
            return DecodeStep(consumed: consumed, produced: produced, outcome: .failed(Self.describe(status)))
        }
    }

    static func describe(_ status: Int32) -> String {
        switch status {
        case BZ_DATA_ERROR: "compressed data is corrupt (a CRC or block check failed)"
        case BZ_DATA_ERROR_MAGIC: "not bzip2 data (bad magic)"
        case BZ_MEM_ERROR: "cannot allocate memory"
        case BZ_CONFIG_ERROR: "libbz2 is miscompiled"
        default: "libbz2 error \(status)"
        }
    }
}
