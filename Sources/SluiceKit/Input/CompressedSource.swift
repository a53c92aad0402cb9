import Glibc

/// An xz, bzip2 or zstd stream (`CompressedFormat`) decoded with the system library, in the
/// shape of `GzipSource`: the framer pulls decoded bytes straight into its buffer.
///
/// Memory: one 256 KiB input buffer and the decoder's own state (its dictionary or window,
/// as the stream's header asks, within the library's limits: zstd's default 128 MiB window
/// cap); decoded bytes go only into the buffer `fill` is given, so a decompression bomb costs
/// time, never memory.
/// Multi-stream: streams follow one another as `xzcat`/`bzcat`/`zstdcat` decode them. After a
/// stream: the end of the input ends the source; a magic starts the next stream (for zstd,
/// skippable frames too); for xz, zero bytes are padding, skipped (a multiple of four, or the
/// data is corrupt, as `xz -d` says); anything else is trailing garbage: a warning (the exit
/// status is unchanged), gzip's rule in `GzipSource`. A part of a magic and then the end is a
/// stream cut short.
/// Damage: every byte decoded before it is returned, then the source ends with a
/// `.corruptInput` diagnostic naming the compressed byte offset: `xz stream truncated at byte
/// N` for a stream cut short, `xz data corrupt near byte N: reason` for bad data.
/// A stop or cancellation (`interrupt`) ends the source with an `.interrupted` failure, even
/// from a read waiting on a pipe.
struct CompressedSource: ByteSource {
    let format: CompressedFormat
    let fd: Int32
    let name: String
    /// Bytes read from `fd` so far (compressed).
    private(set) var consumedByteCount: Int
    private let decoder: any StreamDecoder
    private let input: InputBuffer
    /// Unread bytes are `input[inputStart ..< inputEnd]`.
    private var inputStart = 0
    private var inputEnd = 0
    private var atEndOfFile = false
    /// A stream ended: what follows decides between the next stream, padding, garbage, the end.
    private var betweenStreams = false
    /// The first stream has not been started: the end of input here is a cut, not an end.
    private var startsFirstStream = true
    /// Zero bytes skipped since the last stream ended (xz).
    private var paddingCount = 0
    private var ended = false
    /// Ends the source early (a stop or a cancellation), even while a read waits on a pipe.
    let interrupt: Interrupt?
    /// `fd` is a pipe, terminal or socket: a read may wait for ever.
    let mayBlock: Bool

    static let inputCapacity = 256 * 1024

    /// `prefix` holds the first bytes read from `fd` (at most `inputCapacity`), which start a
    /// stream of `format`.
    init(format: CompressedFormat, fd: Int32, name: String, prefix: [UInt8],
         interrupt: Interrupt? = nil, mayBlock: Bool = false) {
        precondition(prefix.count <= Self.inputCapacity)
        self.format = format
        self.fd = fd
        self.name = name
        self.interrupt = interrupt
        self.mayBlock = mayBlock
        decoder = format.makeDecoder()
        let input = InputBuffer(capacity: Self.inputCapacity)
        prefix.withUnsafeBytes { input.bytes.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        self.input = input
        inputEnd = prefix.count
        consumedByteCount = prefix.count
        // The prefix starts a stream (that is how the format was chosen): the between-streams
        // check starts it, and an input that only holds a magic's first bytes is a cut stream.
        betweenStreams = true
    }

    private var available: Int { inputEnd - inputStart }

    /// Compressed offset of the next byte the decoder will look at.
    private var position: Int { consumedByteCount - available }

    /// Moves unread input to the front and reads more after it.
    private mutating func refill() -> SluiceError? {
        let base = input.bytes.baseAddress!
        if inputStart > 0 {
            if available > 0 { memmove(base, base + inputStart, available) }
            inputEnd = available
            inputStart = 0
        }
        let n = readInterruptibly(fd, base + inputEnd, Self.inputCapacity - inputEnd, interrupt, mayBlock: mayBlock)
        if n == interruptedRead { return SluiceError(.interrupted, place: name, "stopped") }
        if n < 0 {
            atEndOfFile = true
            return SluiceError(.input, place: name, "read error: \(SluiceError.systemReason(Int32(-n)))")
        }
        if n == 0 { atEndOfFile = true }
        inputEnd += n
        consumedByteCount += n
        return nil
    }

    mutating func fill(_ buffer: UnsafeMutableRawBufferPointer) -> FillResult {
        if ended { return FillResult(count: 0, ended: true) }
        var produced = 0
        decoding: while produced < buffer.count {
            if betweenStreams {
                // Enough bytes to tell a next stream from padding, garbage or the end.
                while available < format.magicLength && !atEndOfFile {
                    if produced > 0 && mayBlock { return FillResult(count: produced, ended: false) }  // don't wait holding data
                    if let failure = refill() { return finish(produced, failure) }
                }
                let next = UnsafeRawBufferPointer(start: input.bytes.baseAddress! + inputStart, count: available)
                if next.isEmpty {
                    if startsFirstStream { return finish(produced, truncated()) }
                    if let failure = badPadding() { return finish(produced, failure) }
                    return finish(produced, nil)
                }
                if format.skipsZeroPadding && next[0] == 0 && !startsFirstStream {
                    let zeros = next.firstIndex(where: { $0 != 0 }) ?? next.count
                    inputStart += zeros
                    paddingCount += zeros
                    continue
                }
                switch format.recognize(next.prefix(format.magicLength)) {
                case .stream:
                    if let failure = badPadding() { return finish(produced, failure) }
                    paddingCount = 0
                    if let reason = decoder.startStream() {
                        return finish(produced, SluiceError(.corruptInput, place: name, "cannot decode \(format.name) data: \(reason)"))
                    }
                    betweenStreams = false
                    startsFirstStream = false
                    continue
                case .partialMagic:
                    // Fewer bytes than a magic, then the end of input.
                    return finish(produced, truncated())
                case .other:
                    return finish(produced, SluiceError(.warning, place: name,
                        "trailing garbage after \(format.name) data at byte \(position) ignored"))
                }
            }
            if available == 0 && !atEndOfFile {
                if produced > 0 && mayBlock { break }  // hand on what we have before waiting for more input
                if let failure = refill() { return finish(produced, failure) }
                continue
            }
            let out = UnsafeMutableRawBufferPointer(rebasing: buffer[produced...])
            let step = decoder.decode(UnsafeRawBufferPointer(start: input.bytes.baseAddress! + inputStart, count: available),
                                      into: out, inputEnded: atEndOfFile)
            inputStart += step.consumed
            produced += step.produced
            switch step.outcome {
            case .streamEnd:
                betweenStreams = true
            case .failed(let reason):
                return finish(produced, SluiceError(.corruptInput, place: name,
                    "\(format.name) data corrupt near byte \(position - step.behind): \(reason)"))
            case .progress:
                if step.consumed == 0 && step.produced == 0 {
                    // No progress with room for output: the decoder wants more input.
                    if atEndOfFile { return finish(produced, truncated()) }
                    if inputStart == 0 && inputEnd == Self.inputCapacity {
                        // Cannot happen with these libraries (they buffer what they are given);
                        // refusing is better than a loop that reads nothing.
                        return finish(produced, SluiceError(.corruptInput, place: name,
                            "\(format.name) data corrupt near byte \(position): the decoder made no progress"))
                    }
                    if produced > 0 && mayBlock { break decoding }
                    if let failure = refill() { return finish(produced, failure) }
                }
            }
        }
        return FillResult(count: produced, ended: false)
    }

    /// xz's Stream Padding is a multiple of four bytes; `xz -d` rejects any other as corrupt.
    private func badPadding() -> SluiceError? {
        guard paddingCount % 4 != 0 else { return nil }
        return SluiceError(.corruptInput, place: name,
            "\(format.name) data corrupt near byte \(position): stream padding of \(paddingCount) bytes is not a multiple of 4")
    }

    private func truncated() -> SluiceError {
        SluiceError(.corruptInput, place: name, "\(format.name) stream truncated at byte \(consumedByteCount)")
    }

    private mutating func finish(_ produced: Int, _ failure: SluiceError?) -> FillResult {
        ended = true
        return FillResult(count: produced, ended: true, failure: failure)
    }
}

/// A compressed input's read buffer, freed with its source.
private final class InputBuffer {
    let bytes: UnsafeMutableRawBufferPointer

    init(capacity: Int) {
        bytes = .allocate(byteCount: capacity, alignment: 64)
    }

    deinit { bytes.deallocate() }
}

/// What one call of a `StreamDecoder` did.
struct DecodeStep {
    enum Outcome: Equatable {
        /// Bytes were consumed or produced, or none (the decoder needs more input).
        case progress
        /// The stream ended (its last byte was consumed and every decoded byte produced).
        case streamEnd
        /// The data is damaged (or asks for more than the library allows), in its words.
        case failed(String)
    }

    var consumed: Int
    var produced: Int
    var outcome: Outcome
    /// A failure lies this many consumed bytes back (a decoder that reads ahead of what it
    /// decodes: bzip2's blocks).
    var behind = 0
}

/// One compressed format's streaming decoder (a system library's state, freed on deinit).
/// Used by one `CompressedSource`, on one thread at a time.
protocol StreamDecoder: AnyObject {
    /// Makes the decoder ready for a stream whose first byte is the next one given. Returns
    /// why it cannot, if it cannot.
    func startStream() -> String?
    /// Decodes from `input` into `output` (not empty). `inputEnded`: no byte follows `input`.
    func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, inputEnded: Bool) -> DecodeStep
}
