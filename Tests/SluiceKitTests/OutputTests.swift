import Foundation
import Testing

@testable import SluiceKit

#if canImport(Glibc)
import Glibc
#endif

@Suite struct FileNameTemplateTests {
    @Test(arguments: [
        ("part-{n}.log", 1, "part-000001.log"),
        ("part-{n}.log", 1_234_567, "part-1234567.log"),
        ("out/{n:3}.gz", 7, "out/007.gz"),
        ("out/{n:3}.gz", 1234, "out/1234.gz"),
        ("{n:1}", 42, "42"),
        ("a{n}", 10, "a000010"),
        ("x-{n:20}", 5, "x-" + String(repeating: "0", count: 19) + "5"),
    ])
    func names(template: String, number: Int, expected: String) throws {
        #expect(try FileNameTemplate(parsing: template).name(number) == expected)
    }

    @Test(arguments: [
        ("part.log", "has no {n}"),
        ("part-{n.log", "unclosed {n"),
        ("part-{n:0}.log", "should be {n} or {n:WIDTH}"),
        ("part-{n:x}.log", "should be {n} or {n:WIDTH}"),
        ("part-{n:21}.log", "should be {n} or {n:WIDTH}"),
        ("part-{nx}.log", "should be {n} or {n:WIDTH}"),
        ("{n}-{n}.log", "more than one {n}"),
    ])
    func invalid(template: String, messagePart: String) {
        let error = #expect(throws: SluiceError.self) { _ = try FileNameTemplate(parsing: template) }
        #expect(error?.code == .usage)
        #expect(error?.place == "--output")
        #expect(error?.message.contains(messagePart) == true, "\(error?.message ?? "")")
    }

    @Test func outputTargetParsing() throws {
        #expect(try OutputTarget.parse("-") == .standardOutput)
        #expect(try OutputTarget.parse("out.log") == .file("out.log"))
        #expect(try OutputTarget.parse("p-{n:2}.log") == .split(try FileNameTemplate(parsing: "p-{n:2}.log")))
        for bad in ["", "dir/"] {
            let error = #expect(throws: SluiceError.self) { _ = try OutputTarget.parse(bad) }
            #expect(error?.code == .usage)
        }
    }
}

/// The names in `folder` that look like sluice's temporary files.
func temporaries(_ folder: TemporaryFolder) throws -> [String] {
    try folder.listing().filter { $0.hasPrefix(".") && $0.contains(".sluice-") && $0.hasSuffix(".tmp") }
}

@Suite struct SingleFileSinkTests {
    @Test func theFileAppearsOnlyAfterFinish() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let sink = try SingleFileSink(path: folder.file("out.log"))
        #expect(try temporaries(folder).count == 1, "created at the start, under a hidden name")
        #expect(try temporaries(folder).first?.hasPrefix(".out.log.sluice-") == true)
        try await sink.write(chunk("a\nb\n"))
        try await sink.batchEnded(.size)
        try await sink.write(chunk("c\u{0}\r\n"))
        try await sink.batchEnded(.timeout)
        #expect(!FileManager.default.fileExists(atPath: folder.file("out.log")))
        try await sink.finish()
        #expect(try folder.listing() == ["out.log"])
        #expect(try folder.read("out.log") == "a\nb\nc\u{0}\r\n".bytes)
    }

    @Test func abortRemovesTheTemporary() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let sink = try SingleFileSink(path: folder.file("out.log"))
        try await sink.write(chunk("a\n"))
        await sink.abort()
        #expect(try folder.listing().isEmpty)
    }

    @Test func noLinesStillMakesAnEmptyFile() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let sink = try SingleFileSink(path: folder.file("empty.log"))
        try await sink.finish()
        #expect(try folder.listing() == ["empty.log"])
        #expect(try folder.read("empty.log").isEmpty)
    }

    @Test(arguments: [1, 9])
    func gzipOutputDecodesToTheSameBytes(level: Int32) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let data = ChunkSourceTests.sampleLines(20_000)
        let sink = try SingleFileSink(path: folder.file("out.log.gz"), compressionLevel: level)
        for part in linesWithNewline(data).chunks(of: 777) { try await sink.write(LineChunk(bytes: Array(part.joined()))) }
        try await sink.finish()
        #expect(try folder.listing() == ["out.log.gz"])
        let decoded = try await shell("zcat '\(folder.file("out.log.gz"))'")
        #expect(decoded.status == 0)
        #expect(difference(decoded.output, data) == nil)
    }


    /// Random bytes do not compress: each member's output outgrows the first guess (half the
    /// input), so the compressor must append more pieces, at every level.
    @Test(arguments: [1, 3, 6])
    func incompressibleBytesDecodeToTheSameBytes(level: Int32) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var generator = SeededGenerator(seed: 42)
        var data = (0..<(1_300_000)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        data.append(UInt8(ascii: "\n"))
        let sink = try SingleFileSink(path: folder.file("noise.gz"), compressionLevel: level)
        try await sink.write(LineChunk(bytes: data))
        try await sink.finish()
        let decoded = try await shell("zcat '\(folder.file("noise.gz"))'")
        #expect(decoded.status == 0)
        #expect(difference(decoded.output, data) == nil)
    }
    @Test func aTimeoutMakesGzipBytesSoFarDecodable() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let sink = try SingleFileSink(path: folder.file("live.gz"))
        try await sink.write(chunk("first\nsecond\n"))
        try await sink.batchEnded(.timeout)
        // The flush runs on the sink's thread, after batchEnded returns: wait for it (a slow
        // machine or a sanitizer can take a while), but without any further call on the sink.
        let temporary = try #require(try temporaries(folder).first)
        var decoded = ""
        for _ in 0..<200 {
            decoded = text(try await shell("gzip -dc '\(folder.file(temporary))' 2>/dev/null").output)
            if decoded == "first\nsecond\n" { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(decoded == "first\nsecond\n")
        try await sink.finish()
        #expect(try await shell("zcat '\(folder.file("live.gz"))'").output == "first\nsecond\n".bytes)
    }

    @Test func anUnwritableTargetFailsAtOnce() {
        let error = #expect(throws: SluiceError.self) {
            _ = try SingleFileSink(path: "/nonexistent-sluice-dir/out.log")
        }
        #expect(error?.code == .output)
        #expect(error?.place == "/nonexistent-sluice-dir/out.log")
        #expect(error?.message.contains("No such file or directory") == true)
    }
}

extension Array {
    func chunks(of size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}

@Suite struct SplitFileSinkTests {
    static func write(_ lines: [String], in pieces: [Int], to sink: SplitFileSink, knownCounts: Bool) async throws {
        var index = 0
        var piece = 0
        while index < lines.count {
            let size = min(pieces[piece % pieces.count], lines.count - index)
            piece += 1
            let bytes = lines[index..<(index + size)].joined().bytes
            try await sink.write(LineChunk(bytes: bytes, lineCount: knownCounts ? size : nil))
            index += size
        }
    }

    @Test(arguments: [[1], [2], [7], [4096], [3, 1, 5, 2]], [false, true])
    func exactLinesPerFile(pieces: [Int], knownCounts: Bool) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let lines = (0..<23).map { "line \($0)\n" }
        let sink = try SplitFileSink(template: FileNameTemplate(parsing: folder.file("part-{n:3}.log")), linesPerFile: 5)
        try await Self.write(lines, in: pieces, to: sink, knownCounts: knownCounts)
        try await sink.finish()
        let names = ["part-001.log", "part-002.log", "part-003.log", "part-004.log", "part-005.log"]
        #expect(try folder.listing() == names)
        #expect(sink.committedFiles == names.map(folder.file))
        for (i, name) in names.enumerated() {
            #expect(text(try folder.read(name)) == lines[(i * 5)..<min(i * 5 + 5, 23)].joined(), "\(name)")
        }
        // The oracle: split -l cuts the same way.
        let reference = try TemporaryFolder()
        defer { reference.remove() }
        _ = try await shell("cd '\(reference.path)' && split -l 5 -a 3 -d - ref-", input: lines.joined().bytes)
        let referenceNames = try reference.listing()
        #expect(referenceNames.count == names.count)
        for (mine, theirs) in zip(names, referenceNames) {
            #expect(try folder.read(mine) == reference.read(theirs), "\(mine) vs split's \(theirs)")
        }
    }

    /// `--exec` output whose last line has no newline: the files hold the bytes as written, cut
    /// as if that line had one.
    @Test func lastLineWithoutNewlineIsWrittenAsIs() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let sink = try SplitFileSink(template: FileNameTemplate(parsing: folder.file("p{n:1}.log")), linesPerFile: 2)
        try await sink.write(LineChunk(bytesAsWritten: "a\nb\nc".bytes))
        try await sink.write(LineChunk(bytesAsWritten: "X".bytes))
        try await sink.finish()
        #expect(try folder.listing() == ["p1.log", "p2.log"])
        #expect(text(try folder.read("p1.log")) == "a\nb\n")
        #expect(text(try folder.read("p2.log")) == "cX")
        let single = try SingleFileSink(path: folder.file("all.log"))
        try await single.write(LineChunk(bytesAsWritten: "a\nb".bytes))
        try await single.write(LineChunk(bytesAsWritten: "c".bytes))
        try await single.finish()
        #expect(text(try folder.read("all.log")) == "a\nbc")
    }

    @Test func aFileAppearsOnlyWhenComplete() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let sink = try SplitFileSink(template: FileNameTemplate(parsing: folder.file("p{n:1}.log")), linesPerFile: 3)
        #expect(try temporaries(folder).count == 1, "the first temporary is made at once")
        try await sink.write(chunk("a\nb\n"))
        try await sink.batchEnded(.timeout)  // a timeout flushes, never cuts a file short
        try await sink.flushCompletely()  // the sink's thread has carried out what it was given
        #expect(try folder.listing().filter { !$0.hasPrefix(".") }.isEmpty)
        try await sink.write(chunk("c\nd\n"))
        try await sink.flushCompletely()
        #expect(try folder.listing().filter { !$0.hasPrefix(".") } == ["p1.log"])
        #expect(text(try folder.read("p1.log")) == "a\nb\nc\n")
        try await sink.finish()
        #expect(try folder.listing() == ["p1.log", "p2.log"])
        #expect(text(try folder.read("p2.log")) == "d\n")
    }

    @Test func noLinesNoFilesAndNoTemporaries() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let sink = try SplitFileSink(template: FileNameTemplate(parsing: folder.file("p{n}.log")), linesPerFile: 3)
        try await sink.finish()
        #expect(try folder.listing().isEmpty)
        #expect(sink.committedFiles.isEmpty)
    }

    @Test func anExactMultipleLeavesNoEmptyLastFile() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let sink = try SplitFileSink(template: FileNameTemplate(parsing: folder.file("p{n:1}")), linesPerFile: 2)
        try await sink.write(chunk("a\nb\nc\nd\n"))
        try await sink.finish()
        #expect(try folder.listing() == ["p1", "p2"])
    }

    @Test func abortRemovesTheOpenTemporaryAndKeepsCompleteFiles() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let sink = try SplitFileSink(template: FileNameTemplate(parsing: folder.file("p{n:1}.log")), linesPerFile: 2)
        try await sink.write(chunk("a\nb\nc\n"))
        try await sink.flushCompletely()  // written; what is queued when abort comes is dropped
        await sink.abort()
        #expect(try folder.listing() == ["p1.log"])
        #expect(try temporaries(folder).isEmpty)
    }

    @Test func gzipPartsDecodeToTheirLines() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let lines = (0..<10).map { "gz line \($0)\n" }
        let sink = try SplitFileSink(template: FileNameTemplate(parsing: folder.file("p{n:1}.log.gz")), linesPerFile: 4)
        try await Self.write(lines, in: [3], to: sink, knownCounts: false)
        try await sink.finish()
        #expect(try folder.listing() == ["p1.log.gz", "p2.log.gz", "p3.log.gz"])
        for (i, name) in ["p1.log.gz", "p2.log.gz", "p3.log.gz"].enumerated() {
            let decoded = try await shell("zcat '\(folder.file(name))'")
            #expect(decoded.status == 0)
            #expect(text(decoded.output) == lines[(i * 4)..<min(i * 4 + 4, 10)].joined())
        }
    }

    @Test func anUnwritableFolderFailsAtOnce() {
        let error = #expect(throws: SluiceError.self) {
            _ = try SplitFileSink(template: FileNameTemplate(parsing: "/nonexistent-sluice-dir/p{n}.log"), linesPerFile: 2)
        }
        #expect(error?.code == .output)
    }
}

@Suite struct OutputWriterTests {
    /// A pipe whose read end does not block.
    static func makePipe() -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        precondition(pipe(&fds) == 0)
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        return (fds[0], fds[1])
    }

    static func drain(_ fd: Int32) -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n <= 0 { return out }
            out += buffer[..<n]
        }
    }

    @Test func buffersUntilFlushAndKeepsOrder() throws {
        let (readEnd, writeEnd) = Self.makePipe()
        defer { close(readEnd) }
        let writer = OutputWriter(fd: writeEnd, name: "pipe", capacity: 16)
        try writer.write("abc".bytes)
        try writer.write("def".bytes)
        #expect(Self.drain(readEnd).isEmpty, "small writes wait in the buffer")
        try writer.write([UInt8](repeating: 0x78, count: 40))  // larger than the buffer: goes straight out
        try writer.write("tail\n".bytes)
        try writer.flush()
        close(writeEnd)
        #expect(Self.drain(readEnd) == "abcdef".bytes + [UInt8](repeating: 0x78, count: 40) + "tail\n".bytes)
        #expect(writer.writtenByteCount == 6 + 40 + 5)
    }

    @Test func aClosedPipeIsClosedOutput() throws {
        ignoreBrokenPipes()
        let (readEnd, writeEnd) = Self.makePipe()
        defer { close(writeEnd) }
        close(readEnd)
        let writer = OutputWriter(fd: writeEnd, name: "pipe", capacity: 16)
        try writer.write("a".bytes)
        let error = #expect(throws: SluiceError.self) { try writer.flush() }
        #expect(error?.code == .closedOutput)
    }

    @Test func aBadDescriptorIsAnOutputErrorNamingTheTarget() {
        let writer = OutputWriter(fd: -1, name: "somewhere.log", capacity: 4)
        let error = #expect(throws: SluiceError.self) { try writer.write("abcdef".bytes) }
        #expect(error?.code == .output)
        #expect(error?.place == "somewhere.log")
        #expect(error?.message.contains("write failed") == true)
    }
}

@Suite struct OutputDestinationTests {
    @Test func aChainOfRelativeLinksEndsAtItsTarget() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try FileManager.default.createDirectory(atPath: folder.file("a/b"), withIntermediateDirectories: true)
        #expect(symlink("b/second", folder.file("a/first")) == 0)
        #expect(symlink("../../final.log", folder.file("a/b/second")) == 0)
        let destination = try OutputDestination(name: folder.file("a/first"))
        #expect(destination.path == folder.file("a/b/../../final.log"))
        #expect(destination.name == folder.file("a/first"))
        #expect(destination.replacedFile == nil, "a dangling link: its target is created")
    }

    @Test func aLoopOfLinksIsAnError() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        #expect(symlink("two", folder.file("one")) == 0)
        #expect(symlink("one", folder.file("two")) == 0)
        let error = #expect(throws: SluiceError.self) { _ = try OutputDestination(name: folder.file("one")) }
        #expect(error?.code == .output)
        #expect(error?.message.contains("Too many levels of symbolic links") == true, "\(error?.message ?? "")")
    }

    @Test func aDeviceIsWrittenThroughAndNeverRemoved() throws {
        let destination = try OutputDestination(name: "/dev/null")
        guard case .writeThrough = destination.kind else {
            Issue.record("/dev/null would be replaced")
            return
        }
        let file = try AtomicFile(destination: destination, compression: nil)
        #expect(file.temporaryPath == nil)
        file.discard()
        var info = stat()
        #expect(stat("/dev/null", &info) == 0 && (info.st_mode & S_IFMT) == S_IFCHR)
    }
}

@Suite struct FileNameSetTests {
    @Test func existingNamesAreExactlyTheSetsNames() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        for name in ["p-000001.log", "p-000012.log", "p-1234567.log", "p-0000001.log", "p-1.log", "p-x.log",
                     "p-000003.log.gz", "q-000004.log", ".p-000002.log.sluice-1-1.tmp", "p-000000.log"] {
            #expect(FileManager.default.createFile(atPath: folder.file(name), contents: Data("x\n".utf8)))
        }
        let template = try FileNameTemplate(parsing: folder.file("p-{n}.log"))
        #expect(template.existingNames().map(\.number) == [1, 12, 1_234_567])
        #expect(template.existingNames().first?.path == folder.file("p-000001.log"))
    }

    @Test func aSetAcrossFolders() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        for name in ["d01", "d02", "d03"] { try FileManager.default.createDirectory(atPath: folder.file(name), withIntermediateDirectories: true) }
        #expect(FileManager.default.createFile(atPath: folder.file("d01/x.log"), contents: Data()))
        #expect(FileManager.default.createFile(atPath: folder.file("d03/x.log"), contents: Data()))
        let template = try FileNameTemplate(parsing: folder.file("d{n:2}/x.log"))
        #expect(template.existingNames().map(\.number) == [1, 3])
    }

    @Test func aMissingFolderHasNoSet() throws {
        #expect(try FileNameTemplate(parsing: "/nonexistent-sluice-dir/p{n}.log").existingNames().isEmpty)
    }

    @Test(arguments: [(1, 9), (3, 999), (6, 999_999), (18, 999_999_999_999_999_999), (20, Int.max)])
    func largestNumber(width: Int, largest: Int) throws {
        #expect(try FileNameTemplate(parsing: "p{n:\(width)}").largestNumber == largest)
    }

    @Test func anExistingSetIsRefusedUnlessOverwriting() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let template = try FileNameTemplate(parsing: folder.file("p{n:1}.log"))
        for number in 1...4 { #expect(FileManager.default.createFile(atPath: template.name(number), contents: Data("old\n".utf8))) }
        let error = #expect(throws: SluiceError.self) { _ = try SplitFileSink(template: template, linesPerFile: 1) }
        #expect(error?.place == folder.file("p1.log"))
        #expect(try temporaries(folder).isEmpty)

        let sink = try SplitFileSink(template: template, linesPerFile: 1, overwrite: true)
        try await sink.write(chunk("a\nb\n"))
        try await sink.finish()
        #expect(try folder.listing().filter { !$0.hasPrefix(".") } == ["p1.log", "p2.log", "p3.log", "p4.log"],
                "nothing is removed before the run is known to have succeeded")
        try sink.removeSupersededFiles()
        #expect(try folder.listing() == ["p1.log", "p2.log"])
        #expect(text(try folder.read("p2.log")) == "b\n")
    }

    @Test(arguments: ["q{n:1}", "q{n:1}.gz"])
    func runningOutOfDigitsKeepsTheFilesBefore(name: String) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let sink = try SplitFileSink(template: FileNameTemplate(parsing: folder.file(name)), linesPerFile: 1)
        let error = await #expect(throws: SluiceError.self) {
            // Written on the sink's thread: the error surfaces from the write or the next call.
            try await sink.write(chunk((1...10).map { "\($0)\n" }.joined()))
            try await sink.flushCompletely()
        }
        #expect(error?.message.hasPrefix("output file suffixes exhausted") == true, "\(error?.message ?? "")")
        await sink.abort()
        #expect(try folder.listing() == (1...9).map { name.replacingOccurrences(of: "{n:1}", with: String($0)) })
        for number in 1...9 {
            let path = folder.file(name.replacingOccurrences(of: "{n:1}", with: String(number)))
            #expect(try await shell("zcat -f '\(path)'").output == "\(number)\n".bytes)
        }
    }
}

/// Compression workers: at most one per core whatever `-j` asks, and each level's compressor
/// makes valid gzip members (ISA-L for 1–3, zlib for 4–9, each with only its own buffers).
@Suite struct CompressionQueueTests {
    @Test func workersAreCappedAtTheCores() {
        #expect(CompressionQueue(level: 1, limit: 1024, cores: 2).limit == 2)
        #expect(CompressionQueue(level: 6, limit: 1, cores: 8).limit == 1)
        #expect(CompressionQueue(level: 1, limit: 0, cores: 4).limit == 1)
    }

    @Test(arguments: [1, 3, 4, 9])
    func membersDecompressToTheirInput(level: Int32) async throws {
        let input = Array((0..<5000).map { "line \($0) of level \(level)\n" }.joined().utf8)
        let member = GzipMember(level: level)
        for _ in 0..<2 {  // buffers reused member after member
            let compressed = try member.compress(input)
            let unzipped = try await shell("gzip -dc", input: compressed)
            #expect(unzipped.status == 0)
            #expect(unzipped.output == input)
        }
    }
}

/// The `--checkpoint` file's text: written, read back, escaped names.
@Suite struct CheckpointFileTests {
    @Test("round trip, with a name holding a space, a backslash and a newline")
    func roundTrip() throws {
        var file = CheckpointFile()
        file.nextFile = 12
        file.checkpoints = [
            Checkpoint(key: "/var/log/a b\\c\nd.log", offset: 123, lines: 4, device: 2049, inode: 99, fingerprint: "00ff00ff00ff00ff", fingerprintLength: 1024),
            Checkpoint(key: "/x", offset: 0, lines: 0, device: 0, inode: 0, fingerprint: "0000000000000000", fingerprintLength: 0),
        ]
        let parsed = try CheckpointFile.parse(Array(file.text.utf8), path: "ck")
        #expect(parsed == file)
        #expect(throws: SluiceError.self) { try CheckpointFile.parse(Array("sluice checkpoint 1\nnext-file x\n".utf8), path: "ck") }
        #expect(throws: SluiceError.self) { try CheckpointFile.parse(Array("sluice checkpoint 2\n".utf8), path: "ck") }
    }
}
