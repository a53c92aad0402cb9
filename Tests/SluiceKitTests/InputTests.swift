import Foundation
import Testing

@testable import SluiceKit

@Suite struct LineFramerTests {
    static let oddInput: [UInt8] =
        "a\r\nbb\n\nccc\u{0}dd\n".bytes + [0xFF, 0xFE, 0xC3, 0x28, 0x0A] + "ünïcode line\r\n".bytes + "no newline at the end".bytes

    static let inputs: [[UInt8]] = [
        [],
        "\n".bytes,
        "one line without newline".bytes,
        "x\n".bytes,
        "\n\n\n".bytes,
        oddInput,
        (0..<300).map { "line \($0) " + String(repeating: "z", count: $0 % 37) + "\n" }.joined().bytes,
    ]

    @Test(arguments: boundarySizes, inputs.indices)
    func framedLinesEqualInputLines(pieceSize: Int, inputIndex: Int) {
        let input = Self.inputs[inputIndex]
        var source = PieceSource(input, pieces: [pieceSize])
        let (chunks, failure) = frameAll(&source, targetSize: 16)
        #expect(failure == nil)
        for chunk in chunks { #expect(chunk.last == 0x0A, "every chunk holds whole lines") }
        #expect(chunks.flatMap(linesWithNewline) == linesWithNewline(input))
    }

    @Test(arguments: [[0, 1], [3, 0, 0, 5], [0, 0, 7, 0], [4096, 0]])
    func emptyReturnsInBetweenChangeNothing(pieces: [Int]) {
        var source = PieceSource(Self.oddInput, pieces: pieces)
        let (chunks, _) = frameAll(&source, targetSize: 16)
        #expect(chunks.flatMap(linesWithNewline) == linesWithNewline(Self.oddInput))
    }

    @Test func splitAtEveryByteOfAShortInput() {
        let input = "ab\r\ncd\n\u{0}\n\nlast".bytes
        for cut in 0...input.count {
            // Two pieces: the first `cut` bytes, then the rest.
            var source = PieceSource(input, pieces: [max(cut, 1), input.count])
            if cut == 0 { source = PieceSource(input, pieces: [input.count]) }
            let (chunks, _) = frameAll(&source, targetSize: 16)
            #expect(chunks.flatMap(linesWithNewline) == linesWithNewline(input), "cut at \(cut)")
            #expect(chunks.joined().elementsEqual(input + [0x0A]), "bytes pass through unchanged, cut at \(cut)")
        }
    }

    @Test func crlfNulAndInvalidUTF8AreKeptByteForByte() {
        var source = PieceSource(Self.oddInput, pieces: [7])
        let (chunks, _) = frameAll(&source, targetSize: 16)
        #expect(Array(chunks.joined()) == Self.oddInput + [0x0A])
    }

    @Test func emptyInputGivesNoLines() {
        var source = PieceSource([], pieces: [1])
        let (chunks, failure) = frameAll(&source, targetSize: 16)
        #expect(chunks.isEmpty)
        #expect(failure == nil)
    }

    @Test(arguments: [1, 7, 100, 4096])
    func lineLongerThanTheTargetSize(pieceSize: Int) {
        let long = [UInt8](repeating: UInt8(ascii: "L"), count: 1000) + [0x0A]
        let input = "short\n".bytes + long + "after\n".bytes + long.dropLast()
        var source = PieceSource(input, pieces: [pieceSize])
        let (chunks, _) = frameAll(&source, targetSize: 16)
        #expect(chunks.flatMap(linesWithNewline) == linesWithNewline(input))
        // Memory grows with the longest line: never more than twice it.
        #expect(chunks.allSatisfy { $0.count <= 2 * long.count })
    }

    /// A long line arriving in small pieces (a pipe) is copied into larger buffers only as
    /// they double: about twice its length in all, not once per piece (2 MB in 4 KiB pieces
    /// copied ~250 GB before).
    @Test func aLongLineInSmallPiecesIsNotCopiedPerPiece() {
        let line = [UInt8](repeating: UInt8(ascii: "x"), count: 2_000_000) + [0x0A]
        var source = PieceSource(line + "next\n".bytes, pieces: [4096])
        var framer = LineFramer(targetSize: 64 * 1024)
        var seen: [UInt8] = []
        while true {
            let (bytes, ended, _) = framer.nextChunk(from: &source)
            seen += bytes
            if ended { break }
        }
        seen += framer.finish()
        #expect(seen == line + "next\n".bytes)
        #expect(framer.carriedBytes <= 2 * line.count, "copied \(framer.carriedBytes) bytes of partial lines")
    }

    /// LineFramer's documented bound: "a chunk holds at most `targetSize` bytes unless one
    /// line is longer".
    @Test(arguments: [1, 7, 4096])
    func chunkHoldsAtMostTargetSizeUnlessOneLineIsLonger(pieceSize: Int) {
        // Lines of 10 bytes with a 16-byte target: every line fits, so every chunk must too.
        let input = (0..<50).map { _ in "123456789\n" }.joined().bytes
        var source = PieceSource(input, pieces: [pieceSize])
        let (chunks, _) = frameAll(&source, targetSize: 16)
        #expect(chunks.flatMap(linesWithNewline) == linesWithNewline(input))
        let oversized = chunks.filter { $0.count > 16 }.map(\.count)
        #expect(oversized.isEmpty, "chunk sizes above the 16-byte target: \(oversized)")
    }

    @Test func damageEndsTheStreamWithThePartialLineKept() {
        let failure = SluiceError(.corruptInput, place: "x.gz", "gzip stream truncated at byte 9")
        var source = PieceSource("one\ntwo\nthr".bytes, pieces: [2], failure: failure)
        let (chunks, fault) = frameAll(&source, targetSize: 16)
        #expect(fault == failure)
        #expect(chunks.flatMap(linesWithNewline).map(text) == ["one\n", "two\n", "thr\n"])
    }

    @Test func aWarningKeepsThePartialLineForTheNextInput() {
        let warning = SluiceError(.warning, place: "x.gz", "trailing garbage")
        var framer = LineFramer(targetSize: 16)
        var source = PieceSource("a\npart".bytes, pieces: [3], failure: warning)
        var seen: [UInt8] = []
        while true {
            let (bytes, ended, fault) = framer.nextChunk(from: &source)
            seen += bytes
            if ended {
                #expect(fault == warning)
                break
            }
        }
        #expect(text(seen) == "a\n")
        #expect(framer.hasPartialLine)
        #expect(text(framer.finish()) == "part\n")
    }
}

/// A short read (a trickling pipe) gives a chunk in a buffer of its own size, not the whole
/// read buffer; full reads keep theirs (no copy on the bulk path). Same lines either way.
@Suite struct LineFramerRightSizeTests {
    @Test(arguments: [[90], [45, 45], [1000], [70_000], [65_536, 1]])
    func shortReadsAreRightSized(pieces: [Int]) {
        let line = Array(String(repeating: "x", count: 89).utf8) + [0x0A]
        let input = Array((0..<2000).map { _ in line }.joined())
        var source = PieceSource(input, pieces: pieces)
        var framer = LineFramer(targetSize: 64 * 1024)
        var framed: [UInt8] = []
        while true {
            let (bytes, ended, _) = framer.nextChunk(from: &source)
            framed += bytes
            if !bytes.isEmpty {
                // Each chunk either fills a quarter of its buffer or was copied into its own.
                #expect(bytes.count * 4 > bytes.capacity || bytes.capacity < 2 * bytes.count + 64,
                        "\(bytes.count) bytes kept a buffer of \(bytes.capacity) (reads of \(pieces))")
            }
            if ended { break }
        }
        framed += framer.finish()
        #expect(framed == input)
    }
}

@Suite struct LineChunkTests {
    @Test func linesAndCounts() async {
        let c = chunk("a\n\nbc\r\n")
        #expect(c.lineCount == 3)
        #expect(c.lines.map(text) == ["a\n", "\n", "bc\r\n"])
        var seen: [String] = []
        c.forEachLine { seen.append(text(Array($0))) }
        #expect(seen == ["a", "", "bc\r"])
        #expect(LineChunk(bytes: []).lineCount == 0)
        #expect(LineChunk(bytes: []).isEmpty)
    }

    /// An `--exec` command's output keeps a last line without newline: framed as a line, written
    /// without the newline; a cut before it leaves the mark with the part that holds it.
    @Test func bytesAsWrittenFrameALastLineButWriteItAsIs() {
        let c = LineChunk(bytesAsWritten: "a\nb".bytes)
        #expect(c.lineCount == 2 && c.endsWithoutNewline && c.byteCount == 4)
        #expect(c.withWrittenBytes { text(Array($0)) } == "a\nb")
        let (head, tail) = c.split(afterLines: 1)
        #expect(head.withWrittenBytes { text(Array($0)) } == "a\n" && !head.endsWithoutNewline)
        #expect(tail.withWrittenBytes { text(Array($0)) } == "b" && tail.lineCount == 1)
        let whole = c.split(afterLines: 2).0
        #expect(whole.withWrittenBytes { text(Array($0)) } == "a\nb")
        #expect(!LineChunk(bytesAsWritten: "a\n".bytes).endsWithoutNewline)
        #expect(LineChunk(bytesAsWritten: []).isEmpty)
    }
}

/// Gzip decoding and file handling through the public `ChunkSource`.
@Suite struct LossGuardTests {
    /// Once a chunk of a file lost its pages, that file's later chunks (mapped or read after
    /// the mapped part: the growth of a live log) are emptied, notes kept; other inputs pass.
    @Test func afterALostChunkTheFileIsDroppedButNotTheOthers() async throws {
        let fd = open("/dev/null", O_RDONLY)
        defer { close(fd) }
        let file = try #require(MappedFile(fd: fd, name: "a.log"))
        let other = try #require(MappedFile(fd: fd, name: "b.log"))
        func piece(_ text: String, _ origin: MappedFile?, lost: Bool = false, note: String? = nil) -> LineChunk {
            var chunk = LineChunk(bytes: Array(text.utf8), notes: note.map { [SluiceError(.input, place: "a.log", $0)] } ?? [])
            chunk.origin = origin
            chunk.lostPages = lost
            return chunk
        }
        let chunks = [piece("a1\n", file), piece("", file, lost: true, note: "shrank"), piece("a3\n", file),
                      piece("a4 read after the mapping\n", file, note: "kept"), piece("b1\n", other), piece("c1\n", nil)]
        var got: [LineChunk] = []
        for try await chunk in stream(chunks).lossGuarded() { got.append(chunk) }
        #expect(got.map { text($0.bytes) } == ["a1\n", "", "", "", "b1\n", "c1\n"])
        #expect(got.flatMap(\.notes).map(\.message) == ["shrank", "kept"])
    }
}

@Suite struct ChunkSourceTests {
    struct Collected {
        var bytes: [UInt8] = []
        var notes: [SluiceError] = []
        var byInput: [Int: [UInt8]] = [:]
        var inputBytes = 0
    }

    static func collect(_ inputs: [String], chunkSize: Int = 64 * 1024) async throws -> Collected {
        var result = Collected()
        for try await chunk in ChunkSource(inputs: inputs.map(InputName.init(argument:)), chunkSize: chunkSize) {
            #expect(chunk.bytes.isEmpty || chunk.bytes.last == 0x0A)
            result.bytes += chunk.bytes
            result.byInput[chunk.input, default: []] += chunk.bytes
            result.notes += chunk.notes
            result.inputBytes += chunk.inputByteCount
        }
        return result
    }

    static func sampleLines(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
        var random = SeededGenerator(seed: seed)
        var out: [UInt8] = []
        for i in 0..<count {
            out += "\(i) \(UInt64.random(in: 0...UInt64.max, using: &random)) level=\(["INFO", "WARN", "ERROR"][i % 3])\n".bytes
        }
        return out
    }

    @Test(arguments: [16, 100, 4096, 64 * 1024])
    func plainFileRoundTrip(chunkSize: Int) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let data = Self.sampleLines(500) + "no newline".bytes
        let path = try folder.write("plain.log", data)
        let got = try await Self.collect([path], chunkSize: chunkSize)
        #expect(difference(got.bytes, data + [0x0A]) == nil)
        #expect(got.notes.isEmpty)
        #expect(got.inputBytes == data.count)
    }

    /// Mapped files (at least 4 chunks long) and read ones follow each other, each one's lines
    /// its own, as grep reads them: a last line without a newline ends at its file's end (it
    /// gets one), mapped or read; a line longer than the window doubles it.
    @Test(arguments: [16, 100, 4096])
    func eachFileEndsItsOwnLastLine(chunkSize: Int) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let long = [UInt8](repeating: UInt8(ascii: "L"), count: 20 * chunkSize) + [0x0A]
        let a = Self.sampleLines(300, seed: 2) + long + Self.sampleLines(50, seed: 3) + "a ends without newline, ".bytes
        let b = Self.sampleLines(300, seed: 4) + "b too".bytes
        let small = "small".bytes
        let c = Self.sampleLines(300, seed: 5)
        let d = Self.sampleLines(300, seed: 6) + long + "d ends without newline".bytes  // mapped, after a whole line
        let paths = [try folder.write("a.log", a), try folder.write("b.log", b),
                     try folder.write("small.log", small), try folder.write("c.log", c), try folder.write("d.log", d)]
        let got = try await Self.collect(paths, chunkSize: chunkSize)
        #expect(difference(got.bytes, a + [0x0A] + b + [0x0A] + small + [0x0A] + c + d + [0x0A]) == nil)
        for (index, file) in [a, b, small, c, d].enumerated() {
            #expect(difference(got.byInput[index] ?? [], file.last == 0x0A ? file : file + [0x0A]) == nil, "input \(index)")
        }
        #expect(got.notes.isEmpty)
        #expect(got.inputBytes == a.count + b.count + small.count + c.count + d.count)
    }

    @Test(arguments: [100, 4096, 512 * 1024])
    func singleMemberGzip(chunkSize: Int) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let data = Self.sampleLines(5000)
        let compressed = try await gzipped(data)
        let path = try folder.write("app.log", compressed)  // detected by content, not name
        let got = try await Self.collect([path], chunkSize: chunkSize)
        #expect(got.notes.isEmpty, "\(got.notes)")
        #expect(difference(got.bytes, data) == nil)
        #expect(got.inputBytes == compressed.count)
    }

    static func multiMember(_ first: [UInt8], _ third: [UInt8]) async throws -> [UInt8] {
        let a = try await gzipped(first)
        let b = try await gzipped([])
        let c = try await gzipped(third, level: 1)
        return a + b + c
    }

    @Test func multiMemberWithAnEmptyMember() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let first = "first member\nline two\n".bytes
        let third = Self.sampleLines(200, seed: 7) + "tail without newline".bytes
        let path = try folder.write("multi.gz", try await Self.multiMember(first, third))
        let got = try await Self.collect([path], chunkSize: 64)
        #expect(got.notes.isEmpty, "\(got.notes)")
        #expect(got.bytes == first + third + [0x0A])
    }

    @Test func trailingZerosAreIgnoredSilently() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let data = "padded\nmember\n".bytes
        let path = try folder.write("zeros.gz", try await gzipped(data) + [UInt8](repeating: 0, count: 1024))
        let got = try await Self.collect([path])
        #expect(got.notes.isEmpty, "\(got.notes)")
        #expect(got.bytes == data)
    }

    /// As `gzip -dc`: two bytes that do not start a member, or anything after zero padding (a
    /// member included), are trailing garbage. (A lone byte is a cut member: an error.)
    @Test(arguments: ["garbage".bytes, [0x1F, 0x41], [0, 0, 0x41], [0, 0x1F, 0x8B]])
    func trailingGarbageIsAWarning(garbage: [UInt8]) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let data = "kept\nlines\n".bytes
        let path = try folder.write("garbage.gz", try await gzipped(data) + garbage)
        let got = try await Self.collect([path])
        #expect(got.bytes == data)
        #expect(got.notes.count == 1)
        #expect(got.notes.first?.code == .warning)
        #expect(got.notes.first?.place == path)
        #expect(got.notes.first?.message.contains("trailing garbage") == true)
    }

    /// How many bytes `gzip -dc` writes to stdout for each cut `2 ..< compressed.count` of
    /// `compressed` (one gzip run per cut, stderr dropped).
    static func gzipOutputLengths(of compressed: [UInt8], in folder: TemporaryFolder) async throws -> [Int] {
        let stream = try folder.write("whole.gz", compressed)
        let script = try folder.write("cuts.pl", Array(#"""
            open(STDERR, ">", "/dev/null");
            my ($whole, $cut) = @ARGV;
            open(my $in, "<:raw", $whole) or die; my $data = do { local $/; <$in> };
            for my $n (2 .. length($data) - 1) {
                open(my $out, ">:raw", $cut) or die; print $out substr($data, 0, $n); close $out;
                open(my $gzip, "-|:raw", "gzip", "-dc", $cut) or die; my $got = do { local $/; <$gzip> }; close $gzip;
                print length($got // ""), "\n";
            }
            """#.utf8))
        let result = try await shell("perl '\(script)' '\(stream)' '\(folder.file("oracle-cut.gz"))'")
        let lengths = String(decoding: result.output, as: UTF8.self).split(separator: "\n").compactMap { Int($0) }
        precondition(lengths.count == compressed.count - 2, "the gzip oracle failed")
        return lengths
    }

    /// Inputs the gzip-framer fuzzer found while the cut-stream handling was written: corrupt
    /// data where ISA-L leaves `avail_in` below zero (an overflow trap), and code-length codes
    /// the model's tables did not cover (an index out of range). Both end with one error.
    @Test(arguments: [
        [0x1F, 0x8B, 0x08, 0, 0, 0, 0, 0, 0, 0x03, 0x0B, 0x00, 0x29, 0xC8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x48, 0x00,
         0x46, 0xB5, 0x59, 0xF6, 0x10, 0, 0, 0] as [UInt8],
        [0x1F, 0x8B, 0x08, 0, 0, 0, 0, 0xCB, 0x00, 0x1A, 0x0C, 0x30, 0x00, 0x00],
    ])
    func corruptOrCutStreamsFoundByTheFuzzer(input: [UInt8]) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let got = try await Self.collect([try folder.write("fuzz.gz", input)])
        #expect(got.notes.map(\.code) == [.corruptInput], "\(got.notes)")
    }

    /// Issue 8, finding 13: ISA-L decodes a different amount of a cut member than gzip (one
    /// byte more or less of the last partial line at about a fifth of cut points). At every
    /// cut of two small streams (one of repetitive lines, one of random numbers: short and
    /// long codes), sluice gives exactly gzip -dc's stdout (its last line ended, as every
    /// line is), then one truncation error.
    @Test(arguments: [(0, 6), (1, 9)])
    func everyCutGivesWhatGzipWrites(stream: Int, level: Int) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let data = stream == 0
            ? (1...1000).flatMap { "line \(String(repeating: "0", count: 6 - String($0).count))\($0) some text here\n".bytes }
            : Self.sampleLines(140, seed: 13)
        let compressed = try await gzipped(data, level: level)
        #expect((1500...4500).contains(compressed.count), "\(compressed.count) bytes")
        let lengths = try await Self.gzipOutputLengths(of: compressed, in: folder)
        var wrong: [Int] = []
        for cut in 2..<compressed.count {
            let expected = Array(data[..<lengths[cut - 2]])
            let path = try folder.write("cut.gz", Array(compressed[..<cut]))
            let got = try await Self.collect([path], chunkSize: 1024)
            let framed = expected.isEmpty || expected.last == 0x0A ? expected : expected + [0x0A]
            if got.bytes != framed || got.notes.map(\.code) != [.corruptInput] { wrong.append(cut) }
        }
        #expect(wrong.isEmpty, "\(wrong.count) of \(compressed.count - 2) cuts differ from gzip -dc, first \(wrong.prefix(10))")
    }

    /// DESIGN §3: "every line decoded before the damage is processed and written". With the
    /// trailer cut, every byte of data was decodable.
    @Test(arguments: [1024, 64 * 1024, 512 * 1024], [4, 6])
    func truncatedTrailerKeepsEveryLine(chunkSize: Int, cut: Int) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let data = Self.sampleLines(3000)
        let compressed = try await gzipped(data)
        let path = try folder.write("cut.gz", Array(compressed.dropLast(cut)))
        let got = try await Self.collect([path], chunkSize: chunkSize)
        #expect(difference(got.bytes, data) == nil, "decoded \(got.bytes.count) of \(data.count) bytes")
        #expect(got.notes.count == 1)
        let note = try #require(got.notes.first)
        #expect(note.code == .corruptInput)
        #expect(note.isFatalToStatus)
        #expect(note.message.contains("truncated"))
    }

    @Test(arguments: [1024, 512 * 1024])
    func truncatedMidStreamKeepsTheLinesBeforeTheDamage(chunkSize: Int) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let data = Self.sampleLines(10000)
        let compressed = try await gzipped(data)
        let path = try folder.write("half.gz", Array(compressed.prefix(compressed.count / 2)))
        let got = try await Self.collect([path], chunkSize: chunkSize)
        let note = try #require(got.notes.first)
        #expect(got.notes.count == 1)
        #expect(note.code == .corruptInput)
        #expect(note.message.contains("truncated at byte \(compressed.count / 2)"))
        let lines = linesWithNewline(got.bytes)
        let original = linesWithNewline(data)
        // The oracle: what gzip itself decodes before the cut.
        let oracle = try await shell("gzip -dc 2>/dev/null", input: Array(compressed.prefix(compressed.count / 2))).output
        #expect(got.bytes.count + 64 >= oracle.count, "sluice decoded \(got.bytes.count) bytes, gzip \(oracle.count)")
        #expect(lines.count <= original.count)
        // Whole lines equal the original's; the last one may be cut short (and newline-ended).
        #expect(difference(Array(lines.dropLast().joined()), Array(original.prefix(lines.count - 1).joined())) == nil)
        if let last = lines.last {
            #expect(original[lines.count - 1].starts(with: last.dropLast()))
        }
    }

    @Test func badCRCIsCorruptInputAfterTheLines() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let data = "crc\nwill\nnot\nmatch\n".bytes
        var compressed = try await gzipped(data)
        compressed[compressed.count - 8] ^= 0xFF  // first byte of the CRC32 trailer
        let path = try folder.write("crc.gz", compressed)
        let got = try await Self.collect([path])
        #expect(got.bytes == data)
        let note = try #require(got.notes.first)
        #expect(note.code == .corruptInput)
        #expect(note.message.contains("CRC"))
    }

    /// ISA-L reports a bad CRC and a bad length alike; the message tells them apart, as gzip does.
    @Test func badLengthIsALengthMismatch() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let data = "the length\nwill not match\n".bytes
        var compressed = try await gzipped(data)
        compressed[compressed.count - 4] ^= 0x01  // the low byte of ISIZE
        let got = try await Self.collect([try folder.write("length.gz", compressed)])
        #expect(got.bytes == data)
        let note = try #require(got.notes.first)
        #expect(note.code == .corruptInput)
        #expect(note.message.hasSuffix("length mismatch (the trailer says \(data.count ^ 1) bytes, the member has \(data.count))"), "\(note.message)")
    }

    @Test func missingFileAndDirectoryAreNotesAndTheOtherInputsGoOn() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let a = try folder.write("a.log", "a1\na2\n".bytes)
        let c = try folder.write("c.log.gz", try await gzipped("c1\n".bytes))
        let missing = folder.file("missing.log")
        let got = try await Self.collect([a, missing, folder.path, c])
        #expect(text(got.bytes) == "a1\na2\nc1\n")
        #expect(got.notes.map(\.code) == [.input, .input])
        #expect(got.notes.map(\.place) == [missing, folder.path])
        #expect(got.notes.first?.message == "No such file or directory")
        #expect(got.notes.last?.message == "Is a directory")
    }

    @Test func aMissingOnlyInputStillEndsTheStream() async throws {
        let got = try await Self.collect(["/nonexistent/sluice/input.log"])
        #expect(got.bytes.isEmpty)
        #expect(got.notes.count == 1)
    }

    @Test func emptyFileGivesNothing() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = try folder.write("empty.log", [])
        let got = try await Self.collect([path])
        #expect(got.bytes.isEmpty)
        #expect(got.notes.isEmpty)
    }

    @Test func inputNameParsing() {
        #expect(InputName(argument: "-") == .standardInput)
        #expect(InputName(argument: "x.log") == .path("x.log"))
        #expect(InputName.standardInput.description == "(standard input)")
    }
}

/// Which inputs are polled before each read (a read that may wait for ever must be reachable
/// by a stop): pipes, and "regular" files stating no size (kernel pseudo-files such as
/// tracefs's `trace_pipe`); never a file with bytes in it.
@Suite struct InputMayBlockTests {
    @Test("a pipe and a pseudo-file may block; a file with bytes may not")
    func kinds() throws {
        var ends: [Int32] = [-1, -1]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        #expect(inputMayBlock(ends[0]))
        let proc = open("/proc/self/status", O_RDONLY)
        defer { close(proc) }
        #expect(proc >= 0)
        #expect(inputMayBlock(proc))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("may-block-\(getpid())").path
        try "line\n".write(toFile: path, atomically: false, encoding: .utf8)
        defer { unlink(path) }
        let file = open(path, O_RDONLY)
        defer { close(file) }
        #expect(!inputMayBlock(file))
        #expect(!descriptorMayBlock(proc))  // outputs keep the old rule
    }
}

/// Issue 12, follow mode's parts that a clock or a rotation would make slow to test end to end.
struct FollowPartsTests {
    @Test("backoff: 100 ms after a failure, doubling up to 5 s, reset by a success")
    func backoff() {
        var backoff = FollowedFile.Backoff()
        let start = ContinuousClock.now
        #expect(!backoff.isWaiting(start))
        var waits: [Duration] = []
        for _ in 0..<8 {
            backoff.failed(at: start)
            waits.append(backoff.until! - start)
        }
        #expect(waits == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800),
                          .milliseconds(1600), .milliseconds(3200), .seconds(5), .seconds(5)])
        #expect(backoff.isWaiting(start + .seconds(4)))
        #expect(!backoff.isWaiting(start + .seconds(5)))
        backoff.succeeded()
        #expect(!backoff.isWaiting(start))
        backoff.failed(at: start)
        #expect(backoff.until! - start == .milliseconds(100))
    }

    @Test("a followed line's offset carries its file's serial; the checkpoint names that file; older files are forgotten once a later one is committed")
    func generationsInOffsets() throws {
        let generations = FileGenerations()
        generations.record(input: 0, serial: 1, stamp: .init(device: 1, inode: 10, fingerprint: "a", fingerprintLength: 5))
        generations.record(input: 0, serial: 2, stamp: .init(device: 1, inode: 20, fingerprint: "b", fingerprintLength: 7))
        let directory = try TemporaryFolder()
        defer { directory.remove() }
        try directory.write("app.log", Array("x\n".utf8))
        let source = try #require(CheckpointSource.of([.path(FileName(directory.file("app.log")))], generations: generations).first)
        let second = source.checkpoint(end: FileGenerations.offsetBase(serial: 2) + 42, lines: 3)
        #expect((second.offset, second.lines, second.inode, second.fingerprint) == (42, 3, 20, "b"))
        let first = source.checkpoint(end: FileGenerations.offsetBase(serial: 1) + 9, lines: 1)
        #expect((first.offset, first.inode) == (9, 10))
        source.committed(end: FileGenerations.offsetBase(serial: 2) + 42)
        #expect(generations.count == 1)
        // Not followed (serial 0): the file as the run found it.
        let plain = source.checkpoint(end: 2, lines: 1)
        #expect((plain.offset, plain.inode) == (2, source.inode))
        // A name with no file yet still has a source (its key) when followed.
        let missing = CheckpointSource.of([.path(FileName(directory.file("late.log")))], generations: generations)
        #expect(missing.count == 1 && missing[0].inode == 0)
        #expect(CheckpointSource.of([.path(FileName(directory.file("late.log")))]).isEmpty)
    }

    @Test("siblings in logrotate's order: NAME.3.gz, NAME.2.gz, NAME.1; dated names by date; other names are not rotations")
    func siblingOrder() throws {
        let directory = try TemporaryFolder()
        defer { directory.remove() }
        for name in ["app.log", "app.log.1", "app.log.2.gz", "app.log.10.gz", "app.log-20261130", "app.log-20261201", "app.log.ckpt", "app.logger"] {
            try directory.write(name, Array("x\n".utf8))
        }
        let siblings = FollowedFile.siblings(of: FileName(directory.file("app.log")))
        let rotated = siblings.filter(\.rotatedShape)
        #expect(Set(siblings.map { String(decoding: $0.suffix, as: UTF8.self) })
                == [".1", ".2.gz", ".10.gz", "-20261130", "-20261201", ".ckpt", "ger"])
        let numbered = rotated.filter { $0.number != nil }.sorted { FollowedFile.Sibling.older($0, than: $1) }
        #expect(numbered.map(\.number) == [10, 2, 1])
        let dated = rotated.filter { $0.number == nil }.sorted { FollowedFile.Sibling.older($0, than: $1) }
        #expect(dated.map { String(decoding: $0.suffix, as: UTF8.self) } == ["-20261130", "-20261201"])
    }
}

@Suite struct MappedWindowTests {
    @Test("windows: at least the chunk size, at most the limit, an eighth of a small file, page-aligned")
    func windowSizes() {
        let chunk = 512 * 1024
        #expect(ChunkSource.windowSize(fileSize: 1 << 30, chunkSize: chunk, limit: 2 << 20) == 2 << 20)
        #expect(ChunkSource.windowSize(fileSize: 12 << 20, chunkSize: chunk, limit: 2 << 20) == (12 << 20) / 8)
        #expect(ChunkSource.windowSize(fileSize: 3 << 20, chunkSize: chunk, limit: 2 << 20) == chunk)
        #expect(ChunkSource.windowSize(fileSize: 1 << 30, chunkSize: chunk, limit: 0) == chunk)
        #expect(ChunkSource.windowSize(fileSize: (12 << 20) + 1234, chunkSize: chunk, limit: 2 << 20) % 4096 == 0)
    }

    @Test("windows widen only while the workers hand on at most an eighth, and narrow within a few MiB of more")
    func feedback() {
        let feedback = MappedWindowFeedback()
        #expect(!feedback.wideWindowsPay)  // nothing known yet
        for _ in 0..<8 { feedback.record(read: 512 * 1024, handedOn: 10 * 1024) }
        #expect(feedback.wideWindowsPay)
        // A part where every line is selected: narrow again within 8 MiB.
        var narrowedAfter: Int?
        for chunk in 1...16 {
            feedback.record(read: 512 * 1024, handedOn: 512 * 1024)
            if !feedback.wideWindowsPay { narrowedAfter = chunk; break }
        }
        #expect(narrowedAfter != nil && narrowedAfter! <= 2)
        // Sparse again: wide again once the recent counts say so.
        var widenedAfter: Int?
        for chunk in 1...64 {
            feedback.record(read: 2 << 20, handedOn: 0)
            if feedback.wideWindowsPay { widenedAfter = chunk; break }
        }
        #expect(widenedAfter != nil && widenedAfter! <= 16)
    }
}
