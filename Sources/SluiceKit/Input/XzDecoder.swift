import CLzma

/// xz streams decoded by liblzma, one stream at a time (`CompressedSource` handles what lies
/// between streams).
///
/// Threads: liblzma's threaded decoder, which decodes the blocks of a multi-block stream
/// (`xz -T0` and every threaded writer) in parallel and a single-block stream (`xz -T1`, the
/// default of xz 5.4) as the plain decoder does, with the same output up to damage. It uses
/// at most `maximumThreads` threads and `threadingMemory` bytes for them (fewer threads when
/// the blocks are large; one thread may exceed it, as `xz -d` would). It blocks in
/// `lzma_code` until it consumed the input or filled the output (no timeout: a call that
/// returns without progress would read as a cut stream): a stop waits for that, a block's
/// decoding at most.
/// No other memory limit, as `xz -d` by default: the stream's header says how large a
/// dictionary it needs (8 MiB for `xz -6`).
final class XzDecoder: StreamDecoder {
    static let maximumThreads: UInt32 = 4
    /// The threads' memory (each holds a whole block's output, 12 MiB for `xz -3 -T0`): 40 MiB
    /// keeps a run under the 64 MiB peak of DESIGN.md. 300 MB of the bench corpus as 24 such
    /// blocks: 256 MiB allowed, 80 MB peak RSS; 40 MiB, 57 MB, two threads still, the same
    /// time within the noise (2.1-2.3 s against 1.8-2.5 s; xzgrep 3.5 s). Larger blocks
    /// (`xz -6 -T0`: 24 MiB) are decoded by one thread.
    static let threadingMemory: UInt64 = 40 << 20

    private let stream: UnsafeMutablePointer<lzma_stream>

    init() {
        stream = .allocate(capacity: 1)
        stream.initialize(to: lzma_stream())
    }

    deinit {
        lzma_end(stream)
        stream.deallocate()
    }

    func startStream() -> String? {
        // Initialising a used stream again reuses its allocations.
        var options = lzma_mt()
        options.threads = max(1, min(lzma_cputhreads(), Self.maximumThreads))
        options.memlimit_threading = Self.threadingMemory
        options.memlimit_stop = UInt64.max
        options.timeout = 0
        let status = lzma_stream_decoder_mt(stream, &options)
        return status == LZMA_OK ? nil : Self.describe(status)
    }

    func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, inputEnded: Bool) -> DecodeStep {
        stream.pointee.next_in = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
        stream.pointee.avail_in = input.count
        stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
        stream.pointee.avail_out = output.count
        let status = lzma_code(stream, inputEnded ? LZMA_FINISH : LZMA_RUN)
        let consumed = input.count - stream.pointee.avail_in
        let produced = output.count - stream.pointee.avail_out
        switch status {
        case LZMA_OK, LZMA_BUF_ERROR:  // BUF_ERROR: no progress possible; the source decides
            return DecodeStep(consumed: consumed, produced: produced, outcome: .progress)
        case LZMA_STREAM_END:
            return DecodeStep(consumed: consumed, produced: produced, outcome: .streamEnd)
        default:
            return DecodeStep(consumed: consumed, produced: produced, outcome: .failed(Self.describe(status)))
        }
    }

    static func describe(_ status: lzma_ret) -> String {
        switch status {
        case LZMA_DATA_ERROR: "compressed data is corrupt"
        case LZMA_FORMAT_ERROR: "file format not recognized"
        case LZMA_OPTIONS_ERROR: "unsupported options"
        case LZMA_MEM_ERROR: "cannot allocate memory"
        case LZMA_MEMLIMIT_ERROR: "memory usage limit reached"
        case LZMA_UNSUPPORTED_CHECK: "unsupported integrity check"
        default: "liblzma error \(status.rawValue)"
        }
    }
}
