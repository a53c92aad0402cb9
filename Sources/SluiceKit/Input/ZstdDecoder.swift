import CZstd

/// zstd frames decoded by libzstd, one frame at a time (`CompressedSource` handles what lies
/// between frames; skippable frames are skipped by libzstd itself). Memory: the frame's
/// window, up to libzstd's default cap of 128 MiB (a frame asking for more fails as it does
/// in `zstdcat` without `--memory`).
final class ZstdDecoder: StreamDecoder {
    private let stream: OpaquePointer

    init() {
        stream = ZSTD_createDStream()!
    }

    deinit { ZSTD_freeDStream(stream) }

    /// How much input libzstd asked for last (its return value): about one block, and the
    /// next block's header. Feeding no more than that per call makes each call decode at most
    /// one block, so a damaged block fails alone: a failing call reports neither the input it
    /// consumed nor the output it wrote, and the blocks before it have been handed on.
    private var inputHint = 0

    func startStream() -> String? {
        let status = ZSTD_DCtx_reset(stream, ZSTD_reset_session_only)
        inputHint = 6  // ZSTD_FRAMEHEADERSIZE_MIN: a frame header's least size
        return ZSTD_isError(status) != 0 ? String(cString: ZSTD_getErrorName(status)) : nil
    }

    func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, inputEnded: Bool) -> DecodeStep {
        var consumed = 0
        var produced = 0
        while produced < output.count {
            let piece = min(input.count - consumed, max(inputHint, 1))
            var source = ZSTD_inBuffer(src: input.baseAddress.map { $0 + consumed }, size: piece, pos: 0)
            var target = ZSTD_outBuffer(dst: output.baseAddress! + produced, size: output.count - produced, pos: 0)
            let status = ZSTD_decompressStream(stream, &target, &source)
            if ZSTD_isError(status) != 0 {
                return DecodeStep(consumed: consumed, produced: produced, outcome: .failed(String(cString: ZSTD_getErrorName(status))))
            }
            consumed += source.pos
            produced += target.pos
            // 0: the frame is decoded and every byte of it flushed.
            if status == 0 { return DecodeStep(consumed: consumed, produced: produced, outcome: .streamEnd) }
            inputHint = status
            if source.pos == 0 && target.pos == 0 { break }  // it needs input this call did not have
        }
        return DecodeStep(consumed: consumed, produced: produced, outcome: .progress)
    }
}
