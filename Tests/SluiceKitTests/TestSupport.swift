import Foundation
import Synchronization
import Testing

@testable import SluiceKit

#if canImport(Glibc)
import Glibc
#endif

// Shared helpers for the SluiceKit unit tests: byte splitting, a fake `ByteSource`, a seeded
// random generator, temporary folders, a shell runner for oracles (gzip, zcat, perl), and
// small collectors for sinks and notes.

// MARK: - Bytes and lines

extension String {
    var bytes: [UInt8] { Array(utf8) }
}

/// The lines of `bytes`, each with its `\n` (a last line without one gets it, as grep prints).
func linesWithNewline(_ bytes: [UInt8]) -> [[UInt8]] {
    var lines: [[UInt8]] = []
    var current: [UInt8] = []
    for byte in bytes {
        current.append(byte)
        if byte == 0x0A {
            lines.append(current)
            current = []
        }
    }
    if !current.isEmpty { lines.append(current + [0x0A]) }
    return lines
}

/// nil when `a == b`, else where they part (a short message instead of a slow array diff).
func difference(_ a: [UInt8], _ b: [UInt8]) -> String? {
    if a == b { return nil }
    let common = zip(a, b).prefix { $0 == $1 }.count
    return "lengths \(a.count) and \(b.count), first difference at byte \(common)"
}

func chunk(_ text: String) -> LineChunk {
    LineChunk(bytes: text.bytes)
}

func text(_ bytes: [UInt8]) -> String {
    String(decoding: bytes, as: UTF8.self)
}

/// The chunk sizes STYLE.md asks every framing test to use.
let boundarySizes = [1, 2, 7, 4096]

// MARK: - Fake byte source

/// Hands out `bytes` in pieces whose sizes cycle through `pieces` (0 = an empty return that
/// does not end the stream), then ends, optionally with `failure`.
struct PieceSource: ByteSource {
    let bytes: [UInt8]
    let pieces: [Int]
    var failure: SluiceError?
    private var offset = 0
    private var index = 0

    init(_ bytes: [UInt8], pieces: [Int], failure: SluiceError? = nil) {
        precondition(pieces.contains { $0 > 0 })
        self.bytes = bytes
        self.pieces = pieces
        self.failure = failure
    }

    var consumedByteCount: Int { offset }

    mutating func fill(_ buffer: UnsafeMutableRawBufferPointer) -> FillResult {
        if offset == bytes.count { return FillResult(count: 0, ended: true, failure: failure) }
        let size = pieces[index % pieces.count]
        index += 1
        let n = min(size, buffer.count, bytes.count - offset)
        if n > 0 {
            bytes.withUnsafeBytes { source in
                buffer.baseAddress!.copyMemory(from: source.baseAddress! + offset, byteCount: n)
            }
        }
        offset += n
        return FillResult(count: n, ended: false)
    }
}

/// Everything a framer makes of `source`: the chunks (each of whole lines), the end diagnostic
/// and the final partial line.
func frameAll(_ source: inout some ByteSource, targetSize: Int) -> (chunks: [[UInt8]], failure: SluiceError?) {
    var framer = LineFramer(targetSize: targetSize)
    var chunks: [[UInt8]] = []
    var failure: SluiceError?
    var rounds = 0
    while true {
        rounds += 1
        precondition(rounds < 1_000_000, "the framer does not make progress")
        let (bytes, ended, fault) = framer.nextChunk(from: &source)
        if !bytes.isEmpty { chunks.append(bytes) }
        if ended {
            failure = fault
            break
        }
    }
    let last = framer.finish()
    if !last.isEmpty { chunks.append(last) }
    return (chunks, failure)
}

// MARK: - Random

/// SplitMix64: a small seeded generator, so random tests repeat exactly.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// MARK: - Files and processes

/// A fresh folder under the system's temporary folder, removed by `remove()`.
struct TemporaryFolder {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/sluice-unit-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let made else { throw SluiceError(.output, "mkdtemp failed") }
        path = String(cString: made)
    }

    func file(_ name: String) -> String { path + "/" + name }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let target = file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: target))
        return target
    }

    func read(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: file(name))))
    }

    func listing() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).sorted()
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

struct ShellResult {
    var status: Int32
    var output: [UInt8]
}

/// Runs `/bin/sh -c command` with `input` on stdin; stdout comes back. Input and output go
/// through temporary files, so nothing can deadlock on a full pipe; the wait is a termination
/// handler, so no cooperative thread is blocked while the command runs.
func shell(_ command: String, input: [UInt8] = []) async throws -> ShellResult {
    let folder = try TemporaryFolder()
    defer { folder.remove() }
    let inputPath = try folder.write("in", input)
    let outputPath = folder.file("out")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", "(\(command)) < '\(inputPath)' > '\(outputPath)'"]
    let status: Int32 = try await withCheckedThrowingContinuation { continuation in
        process.terminationHandler = { finished in continuation.resume(returning: finished.terminationStatus) }
        do {
            try process.run()
        } catch {
            process.terminationHandler = nil
            continuation.resume(throwing: error)
        }
    }
    let output = (try? Data(contentsOf: URL(fileURLWithPath: outputPath))).map { [UInt8]($0) } ?? []
    return ShellResult(status: status, output: output)
}

/// `bytes` compressed by /bin/gzip (one member).
func gzipped(_ bytes: [UInt8], level: Int = 6) async throws -> [UInt8] {
    let result = try await shell("gzip -c -\(level)", input: bytes)
    precondition(result.status == 0)
    return result.output
}

/// Ignores SIGPIPE in this process, as the sluice executable does, so a closed pipe is an
/// EPIPE error instead of a fatal signal.
func ignoreBrokenPipes() {
    signal(SIGPIPE, SIG_IGN)
}

// MARK: - Collectors

// The test helpers lock with `Locked` (a pthread mutex), not `Synchronization.Mutex`, whose
// futex ThreadSanitizer cannot see: it reported a race on a value the Mutex did protect
// (`severalThreadConsumersShareTheElementsAndAllSeeTheEnd`, the "1 warnings" of a CI run).

/// Diagnostics reported by a run, collected from any thread.
final class NoteLog: Sendable {
    private let notes = Locked<[SluiceError]>([])
    func add(_ note: SluiceError) { notes.withLock { $0.append(note) } }
    var all: [SluiceError] { notes.withLock { $0 } }
}

/// A `LineSink` that keeps everything in memory.
final class CollectingSink: LineSink {
    var bytes: [UInt8] = []
    var writes = 0
    var batchEnds: [BatchClosing] = []
    var finished = false
    var aborted = false

    func write(_ chunk: LineChunk) async throws {
        bytes += chunk.bytes
        writes += 1
    }
    func batchEnded(_ closing: BatchClosing) async throws { batchEnds.append(closing) }
    func finish() async throws { finished = true }
    func abort() async { aborted = true }

    var lines: [String] { linesWithNewline(bytes).map(text) }
}

/// The highest number of bodies running at once.
final class ConcurrencyGauge: Sendable {
    private let state = Locked<(current: Int, peak: Int)>((0, 0))
    func enter() { state.withLock { $0.current += 1; $0.peak = max($0.peak, $0.current) } }
    func leave() { state.withLock { $0.current -= 1 } }
    var peak: Int { state.withLock { $0.peak } }
}

/// An async sequence of `elements`, optionally ending with `error`.
func stream<E: Sendable>(_ elements: [E], thenThrow error: (any Error)? = nil) -> AsyncThrowingStream<E, any Error> {
    AsyncThrowingStream { continuation in
        for element in elements { continuation.yield(element) }
        continuation.finish(throwing: error)
    }
}

struct TestFailure: Error, Equatable {
    var id: Int
}

/// A counter shared between tasks and threads.
final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    func increment() { count.add(1, ordering: .sequentiallyConsistent) }
    var value: Int { count.load(ordering: .sequentiallyConsistent) }
}

/// A value shared between tasks and threads.
final class Box<Value: Sendable>: Sendable {
    private let storage: Locked<Value>
    init(_ value: Value) { storage = Locked(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { storage.withLock(body) }
}

/// Suites that start `--exec` children, one at a time (a suite's timing must not depend on
/// another's children competing for two cores).
@Suite(.serialized) enum ChildProcessTests {}
