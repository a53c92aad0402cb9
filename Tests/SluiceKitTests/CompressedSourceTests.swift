import Foundation
import Testing

@testable import SluiceKit

/// xz, bzip2 and zstd input (`CompressedSource`), through the public `ChunkSource` as gzip's
/// tests do, with the system tools as compressors and oracles.
@Suite struct CompressedSourceTests {
    typealias Collected = ChunkSourceTests.Collected

    /// The tool that writes `format`, reading stdin (one stream), and the one that decodes it
    /// as `xzcat`/`bzcat`/`zstdcat` do (no pass-through of other data).
    static func compressor(_ format: CompressedFormat) -> String {
        switch format {
        case .xz: "xz -c -T1"
        case .bzip2: "bzip2 -c"
        case .zstd: "zstd -q -c"
        }
    }

    static func decompressor(_ format: CompressedFormat) -> String {
        switch format {
        case .xz: "xz -dc"
        case .bzip2: "bzip2 -dc"
        case .zstd: "zstd -q -dc"
        }
    }

    static func compressed(_ bytes: [UInt8], _ format: CompressedFormat, options: String = "") async throws -> [UInt8] {
        let result = try await shell("\(compressor(format)) \(options)", input: bytes)
        precondition(result.status == 0, "\(compressor(format)) failed")
        return result.output
    }

    static let formats = CompressedFormat.allCases

    @Test(arguments: formats.map { ($0, "") } + [(.xz, "-T2 --block-size=16KiB")], [100, 4096, 512 * 1024])
    func roundTrip(format: (CompressedFormat, String), chunkSize: Int) async throws {
        let (format, options) = format
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let data = ChunkSourceTests.sampleLines(5000) + "last line without newline".bytes
        let compressed = try await Self.compressed(data, format, options: options)
        let path = try folder.write("app.log", compressed)  // detected by content, not name
        let got = try await ChunkSourceTests.collect([path], chunkSize: chunkSize)
        #expect(got.notes.isEmpty, "\(got.notes)")
        #expect(difference(got.bytes, data + [0x0A]) == nil)
        #expect(got.inputBytes == compressed.count, "--stats counts compressed bytes")
    }

    /// Concatenated streams, an empty one among them, decode as the tools decode them; for
    /// xz with Stream Padding between them, for zstd with a skippable frame.
    @Test(arguments: formats)
    func multiStream(format: CompressedFormat) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let first = "first stream\nline two\n".bytes
        let third = ChunkSourceTests.sampleLines(200, seed: 7) + "tail without newline".bytes
        var between: [UInt8] = []
        switch format {
        case .xz: between = [0, 0, 0, 0, 0, 0, 0, 0]
        case .zstd: between = [0x5E, 0x2A, 0x4D, 0x18, 3, 0, 0, 0, 0xAA, 0xBB, 0xCC]  // skippable, 3 bytes
        case .bzip2: break
        }
        let bytes = try await Self.compressed(first, format) + between + Self.compressed([], format)
            + Self.compressed(third, format, options: format == .bzip2 ? "-1" : "")
        let path = try folder.write("multi", bytes)
        let oracle = try await shell("\(Self.decompressor(format)) '\(path)'")
        #expect(oracle.status == 0 && oracle.output == first + third, "the oracle disagrees with the test")
        let got = try await ChunkSourceTests.collect([path], chunkSize: 64)
        #expect(got.notes.isEmpty, "\(got.notes)")
        #expect(got.bytes == first + third + [0x0A])
        #expect(got.inputBytes == bytes.count)
    }

    @Test(arguments: formats)
    func emptyStreamGivesNothing(format: CompressedFormat) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = try folder.write("empty", try await Self.compressed([], format))
        let got = try await ChunkSourceTests.collect([path])
        #expect(got.bytes.isEmpty)
        #expect(got.notes.isEmpty, "\(got.notes)")
    }

    /// gzip's rule in this code base: bytes after a complete stream that do not start another
    /// are a warning (the exit status is unchanged), every decoded line kept.
    @Test(arguments: formats, ["garbage\n".bytes, [0x41], [0, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46]])
    func trailingGarbageIsAWarning(format: CompressedFormat, garbage: [UInt8]) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let data = "kept\nlines\n".bytes
        let compressed = try await Self.compressed(data, format)
        let path = try folder.write("garbage", compressed + garbage)
        let got = try await ChunkSourceTests.collect([path])
        #expect(got.bytes == data)
        #expect(got.notes.map(\.code) == [.warning], "\(got.notes)")
        #expect(got.notes.first?.place == path)
        let offset = compressed.count + (format == .xz && garbage.first == 0 ? 1 : 0)
        #expect(got.notes.first?.message == "trailing garbage after \(format.name) data at byte \(offset) ignored")
    }

    /// The first bytes of a magic and then the end, after a stream: a stream cut short.
    @Test(arguments: formats)
    func aCutMagicAfterAStreamIsTruncation(format: CompressedFormat) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let data = "kept\n".bytes
        let compressed = try await Self.compressed(data, format)
        let path = try folder.write("cut", compressed + compressed.prefix(2))
        let got = try await ChunkSourceTests.collect([path])
        #expect(got.bytes == data)
        #expect(got.notes.map(\.code) == [.corruptInput])
        #expect(got.notes.first?.message == "\(format.name) stream truncated at byte \(compressed.count + 2)")
    }

    /// xz's Stream Padding must be a multiple of four bytes (`xz -d`: "Compressed data is corrupt").
    @Test func xzPaddingNotAMultipleOfFourIsCorrupt() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let data = "kept\n".bytes
        let compressed = try await Self.compressed(data, .xz)
        let path = try folder.write("pad", compressed + [0, 0, 0])
        let got = try await ChunkSourceTests.collect([path])
        #expect(got.bytes == data)
        #expect(got.notes.map(\.code) == [.corruptInput])
        #expect(got.notes.first?.message.contains("padding") == true)
    }

    /// What the tool writes to stdout for each cut `from ..< compressed.count` of `compressed`.
    static func toolOutputs(of compressed: [UInt8], _ format: CompressedFormat, from: Int,
                            in folder: TemporaryFolder) async throws -> [[UInt8]] {
        let stream = try folder.write("whole", compressed)
        let script = try folder.write("cuts.pl", Array(#"""
            open(STDERR, ">", "/dev/null");
            my ($whole, $cut, $from, @tool) = @ARGV;
            open(my $in, "<:raw", $whole) or die; my $data = do { local $/; <$in> };
            binmode(STDOUT);
            for my $n ($from .. length($data) - 1) {
                open(my $out, ">:raw", $cut) or die; print $out substr($data, 0, $n); close $out;
                open(my $tool, "-|:raw", @tool, $cut) or die; my $got = do { local $/; <$tool> }; close $tool;
                $got //= ""; print length($got), "\n", $got;
            }
            """#.utf8))
        let tool = Self.decompressor(format).split(separator: " ").map { "'\($0)'" }.joined(separator: " ")
        let result = try await shell("perl '\(script)' '\(stream)' '\(folder.file("cut"))' \(from) \(tool)")
        var outputs: [[UInt8]] = []
        var rest = result.output[...]
        while let newline = rest.firstIndex(of: 0x0A) {
            let length = Int(String(decoding: rest[..<newline], as: UTF8.self))!
            outputs.append(Array(rest[(newline + 1)..<(newline + 1 + length)]))
            rest = rest[(newline + 1 + length)...]
        }
        precondition(outputs.count == compressed.count - from, "the \(format.name) oracle failed")
        return outputs
    }

    /// Cut at every byte after the magic: never a crash or a hang; one error naming the cut
    /// offset; the lines written are the original's (the last one ended), and at least what
    /// the tool writes. xz and zstd write exactly what the same library decodes; bzip2's
    /// `BZ2_bzRead` drops the last 5000-byte piece it decoded when it fails, so sluice may
    /// write more there.
    /// `xz -T2 --block-size`: a multi-block stream, which liblzma decodes on several threads.
    @Test(.timeLimit(.minutes(3)), arguments: formats.map { ($0, "") } + [(.xz, "-T2 --block-size=1KiB")])
    func everyCutKeepsWhatWasDecoded(format: CompressedFormat, options: String) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let data = ChunkSourceTests.sampleLines(120, seed: 11)
        // Small blocks, so that a bzip2 cut after the first block has something to keep.
        let compressed = try await Self.compressed(data, format, options: format == .bzip2 ? "-1" : options)
        let from = format.magicLength
        let outputs = try await Self.toolOutputs(of: compressed, format, from: from, in: folder)
        var wrong: [String] = []
        for cut in from..<compressed.count {
            let path = try folder.write("cut-\(format.name)", Array(compressed[..<cut]))
            let got = try await ChunkSourceTests.collect([path], chunkSize: 1024)
            let tool = outputs[cut - from]
            let framed = tool.isEmpty || tool.last == 0x0A ? tool : tool + [0x0A]
            let agrees = format == .bzip2
                ? got.bytes.starts(with: tool) && Self.isFramedPrefix(got.bytes, of: data)
                : got.bytes == framed
            let note = got.notes.first
            if !agrees || got.notes.count != 1 || note?.code != .corruptInput
                || note?.message != "\(format.name) stream truncated at byte \(cut)" {
                wrong.append("\(cut): \(got.bytes.count) bytes (tool \(tool.count)), \(got.notes)")
            }
        }
        #expect(wrong.isEmpty, "\(wrong.count) of \(compressed.count - from) cuts wrong, first \(wrong.prefix(5))")
    }

    /// `bytes` is a prefix of `data`, its last line ended by the framer if `data` goes on.
    static func isFramedPrefix(_ bytes: [UInt8], of data: [UInt8]) -> Bool {
        data.starts(with: bytes) || (bytes.last == 0x0A && data.starts(with: bytes.dropLast()))
    }

    /// A byte flipped in the middle: one error, and what the tool writes before it (the
    /// check of a block comes at its end, so xz and bzip2 may write damaged bytes first, as
    /// the tools do).
    @Test(.timeLimit(.minutes(1)), arguments: formats.map { ($0, "") } + [(.xz, "-T2 --block-size=64KiB")])
    func aFlippedByteIsCorruptInput(format: CompressedFormat, options: String) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let data = ChunkSourceTests.sampleLines(20000, seed: 5)
        var compressed = try await Self.compressed(data, format, options: format == .bzip2 ? "-1" : options)
        compressed[compressed.count / 2] ^= 0x55
        let path = try folder.write("flipped", compressed)
        let tool = try await shell("\(Self.decompressor(format)) '\(path)' 2>/dev/null")
        #expect(tool.status != 0)
        let got = try await ChunkSourceTests.collect([path], chunkSize: 4096)
        #expect(got.notes.map(\.code) == [.corruptInput], "\(got.notes)")
        #expect(got.notes.first?.place == path)
        #expect(got.notes.first?.message.hasPrefix("\(format.name) data corrupt near byte ") == true, "\(got.notes)")
        #expect(got.bytes.starts(with: tool.output), "at least what \(Self.decompressor(format)) writes")
        #expect(got.bytes.count > data.count / 4, "the lines before the damage are kept")
    }

    /// Plain inputs of 1 to 5 bytes that begin like a magic are plain (the prefix is read to
    /// 6 bytes only while it could be one).
    @Test(arguments: [
        [0xFD], [0xFD, 0x37], [0xFD, 0x37, 0x7A, 0x58, 0x5A], [0x42, 0x5A], [0x42, 0x5A, 0x68],
        [0x42, 0x5A, 0x68, 0x30], [0x28, 0xB5, 0x2F], [0x50, 0x2A, 0x4D], [0x28], "ab".bytes, "a\nb".bytes,
    ] as [[UInt8]])
    func shortPlainInputsThatBeginLikeAMagic(bytes: [UInt8]) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let got = try await ChunkSourceTests.collect([try folder.write("short", bytes)])
        #expect(got.notes.isEmpty, "\(got.notes)")
        #expect(got.bytes == bytes + [0x0A])
    }

    @Test func bytesToRecognize() {
        #expect(CompressedFormat.bytesToRecognize([UInt8]()) == 2)
        #expect(CompressedFormat.bytesToRecognize([0x41]) == 2)
        #expect(CompressedFormat.bytesToRecognize([0x41, 0x42]) == 2)
        #expect(CompressedFormat.bytesToRecognize([0xFD]) == 6)
        #expect(CompressedFormat.bytesToRecognize([0xFD, 0x37, 0x7A, 0x58, 0x5A]) == 6)
        #expect(CompressedFormat.bytesToRecognize([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) == 2)
        #expect(CompressedFormat.bytesToRecognize([0x42, 0x5A, 0x68]) == 10)  // BZh, a digit, a block's magic
        #expect(CompressedFormat.bytesToRecognize([0x28, 0xB5]) == 4)
        #expect(CompressedFormat(prefix: [0x42, 0x5A, 0x68, 0x39]) == nil)  // "BZh9" alone may be text
        #expect(CompressedFormat(prefix: Array("BZh9 is a tag\n".utf8)) == nil)
        #expect(CompressedFormat(prefix: [0x42, 0x5A, 0x68, 0x39, 0x31, 0x41, 0x59, 0x26, 0x53, 0x59]) == .bzip2)
        #expect(CompressedFormat(prefix: [0x42, 0x5A, 0x68, 0x39, 0x17, 0x72, 0x45, 0x38, 0x50, 0x90]) == .bzip2)
        #expect(CompressedFormat(prefix: [0x42, 0x5A, 0x68, 0x30]) == nil)
        #expect(CompressedFormat(prefix: [0x28, 0xB5, 0x2F, 0xFD]) == .zstd)
        #expect(CompressedFormat(prefix: [0x51, 0x2A, 0x4D, 0x18]) == .zstd)
        #expect(CompressedFormat(prefix: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00, 0x00]) == .xz)
        #expect(CompressedFormat(prefix: [0x1F, 0x8B, 0x08]) == nil)
    }

    /// A pipe that delivers one byte at a time: the prefix is read to the whole magic, and
    /// every line comes out.
    @Test(arguments: formats)
    func aPipeDeliveringOneByteAtATime(format: CompressedFormat) async throws {
        let data = ChunkSourceTests.sampleLines(40, seed: 3)
        let compressed = try await Self.compressed(data, format)
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        let writeEnd = ends[1]
        let writer = Thread {
            for byte in compressed {
                var one = byte
                _ = write(writeEnd, &one, 1)
                usleep(50)
            }
            close(writeEnd)
        }
        writer.start()
        defer { close(ends[0]) }
        var notes: [SluiceError] = []
        let prefix = try #require(ChunkSource.readPrefix(fd: ends[0], name: "pipe", notes: &notes, mayBlock: true))
        #expect(prefix.count >= format.magicLength)
        let detected = try #require(CompressedFormat(prefix: prefix))
        #expect(detected == format)
        var source = CompressedSource(format: detected, fd: ends[0], name: "pipe", prefix: prefix, mayBlock: true)
        let (chunks, failure) = frameAll(&source, targetSize: 64)
        #expect(failure == nil)
        #expect(Array(chunks.joined()) == data)
        #expect(source.consumedByteCount == compressed.count)
    }

    /// A decompression bomb costs only time: 1 GiB of one repeated byte (one xz stream, no
    /// newline; 256 MiB for the others, slower to make) decoded into a 1 MiB buffer: the peak
    /// memory grows by the decoder's state, far less than the output.
    @Test(.disabled(if: ProcessInfo.processInfo.environment["SLUICE_SANITIZER"] != nil, "shadow memory"),
          arguments: formats)
    func aBombIsDecodedInBoundedMemory(format: CompressedFormat) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let size = format == .xz ? 1 << 30 : 256 << 20
        let path = folder.file("bomb")
        let made = try await shell("head -c \(size) /dev/zero | tr '\\0' 'a' | \(Self.compressor(format)) \(format == .xz ? "-1" : "") > '\(path)'")
        try #require(made.status == 0)
        let fd = open(path, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        var notes: [SluiceError] = []
        let prefix = try #require(ChunkSource.readPrefix(fd: fd, name: path, notes: &notes))
        var source = CompressedSource(format: format, fd: fd, name: path, prefix: prefix)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        let before = Self.peakResidentBytes()
        var total = 0
        while true {
            let result = source.fill(buffer)
            total += result.count
            if result.ended {
                #expect(result.failure == nil)
                break
            }
        }
        let grown = Self.peakResidentBytes() - before
        #expect(total == size)
        #expect(grown < size / 2, "peak memory grew by \(grown >> 20) MiB decoding a 1 GiB bomb")
    }

    static func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }
}
