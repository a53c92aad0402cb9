/// The compressed formats besides gzip that an input is decoded from, recognised by their
/// magic bytes (never by name), as `GzipSource` recognises `1f 8b`.
///
/// - xz: `FD 37 7A 58 5A 00` (a stream header; zero bytes may pad streams, as the xz format
///   allows).
/// - bzip2: `42 5A 68` (`BZh`), a block-size digit `1`–`9`, and a block or end-of-stream magic.
/// - zstd: `28 B5 2F FD` (a frame), or `5? 2A 4D 18` (a skippable frame, which zstd skips, at
///   the start or between frames).
enum CompressedFormat: Sendable, CaseIterable {
    case xz
    case bzip2
    case zstd

    /// The name in messages (`xz stream truncated at byte N`).
    var name: String {
        switch self {
        case .xz: "xz"
        case .bzip2: "bzip2"
        case .zstd: "zstd"
        }
    }

    /// What bytes at the start of a stream say about this format.
    enum Recognition: Equatable {
        /// They start a stream.
        case stream
        /// They are fewer than a magic and begin one: a stream, or a cut one, or other data.
        case partialMagic
        /// They cannot start a stream.
        case other
    }

    /// The magics, each byte as the set of values it may take.
    private var magics: [[ClosedRange<UInt8>]] {
        switch self {
        case .xz: [[0xFD...0xFD, 0x37...0x37, 0x7A...0x7A, 0x58...0x58, 0x5A...0x5A, 0x00...0x00]]
        // `BZh1`-`9`, then a block's magic (the digits of pi) or the end of stream's (of the
        // square root of pi): a text line starting "BZh9 " is text, not a damaged bzip2 stream.
        case .bzip2: [[0x42...0x42, 0x5A...0x5A, 0x68...0x68, 0x31...0x39, 0x31...0x31, 0x41...0x41, 0x59...0x59, 0x26...0x26, 0x53...0x53, 0x59...0x59],
                      [0x42...0x42, 0x5A...0x5A, 0x68...0x68, 0x31...0x39, 0x17...0x17, 0x72...0x72, 0x45...0x45, 0x38...0x38, 0x50...0x50, 0x90...0x90]]
        case .zstd: [[0x28...0x28, 0xB5...0xB5, 0x2F...0x2F, 0xFD...0xFD],
                     [0x50...0x5F, 0x2A...0x2A, 0x4D...0x4D, 0x18...0x18]]
        }
    }

    /// The most bytes `recognize` needs to tell a stream from other data.
    var magicLength: Int { magics.map(\.count).max()! }

    /// Zero bytes after a stream are padding (xz's Stream Padding), skipped before the next
    /// stream or the end; for the other formats they are trailing garbage.
    var skipsZeroPadding: Bool { self == .xz }

    func recognize(_ bytes: some Collection<UInt8>) -> Recognition {
        var best = Recognition.other
        for magic in magics {
            let agrees = zip(magic, bytes).allSatisfy { $0.contains($1) }
            guard agrees else { continue }
            if bytes.count >= magic.count { return .stream }
            best = .partialMagic
        }
        return best
    }

    /// The format whose stream `prefix` starts, if any.
    init?(prefix: [UInt8]) {
        guard let format = Self.allCases.first(where: { $0.recognize(prefix) == .stream }) else { return nil }
        self = format
    }

    /// How many bytes of an input to read before deciding how to decode it: at least 2 (gzip's
    /// magic), and up to a whole magic while the bytes read so far begin one. Returns at most
    /// `prefix.count` once the bytes are enough, so `while count < bytesToRecognize(...)` stops.
    static func bytesToRecognize(_ prefix: some Collection<UInt8>) -> Int {
        var needed = 2
        if prefix.isEmpty { return needed }
        for format in allCases where format.recognize(prefix) == .partialMagic {
            needed = max(needed, format.magicLength)
        }
        return needed
    }

    /// A fresh decoder for this format's streams.
    func makeDecoder() -> any StreamDecoder {
        switch self {
        case .xz: XzDecoder()
        case .bzip2: Bzip2Decoder()
        case .zstd: ZstdDecoder()
        }
    }
}

/// Whether `prefix`, an input's first bytes (16 are enough), is a compressed stream sluice
/// decodes (gzip, xz, bzip2, zstd): offsets in its lines are not offsets in the file.
public func startsCompressedStream(_ prefix: [UInt8]) -> Bool {
    (prefix.count >= 2 && prefix[0] == 0x1F && prefix[1] == 0x8B) || CompressedFormat(prefix: prefix) != nil
}
