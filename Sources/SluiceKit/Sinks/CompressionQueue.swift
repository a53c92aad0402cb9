import CISAL
import CZlib
import Dispatch

/// gzip members compressed on worker threads and written in order: a `.gz` output is a
/// series of complete members (as bgzip and pigz --independent write), so `-j` cores compress
/// at once. Levels 1–3 use ISA-L's deflate (several times faster than zlib at a similar
/// ratio); 4–9 use zlib for smaller files.
///
/// Scratch space is made only for the level that needs it: ISA-L's stream and level buffer
/// for 1–3, zlib's 256 KiB output piece for 4–9 (both were made, and the zlib piece zeroed,
/// for every worker: `-j 1024 -o x.gz` on 300 KB peaked at 290 MiB).
final class GzipMember {
    let level: Int32
    private let stream: UnsafeMutablePointer<isal_zstream>?
    private let levelBuffer: UnsafeMutableRawBufferPointer?
    private var scratch: [UInt8] = []

    /// A compressor whose buffers are reused member after member (one per worker thread).
    init(level: Int32) {
        self.level = level
        if level <= 3 {
            stream = .allocate(capacity: 1)
            levelBuffer = .allocate(byteCount: Int(sluice_isal_level_buffer_size(max(1, level))), alignment: 64)
        } else {
            stream = nil
            levelBuffer = nil
        }
    }

    deinit {
        stream?.deallocate()
        levelBuffer?.deallocate()
    }

    /// `input` as one complete gzip member.
    func compress(_ input: [UInt8]) throws -> [UInt8] {
        try input.withUnsafeBytes { level <= 3 ? try isal($0) : try zlib($0) }
    }

    private func isal(_ input: UnsafeRawBufferPointer) throws -> [UInt8] {
        guard let stream, let levelBuffer else { preconditionFailure("an ISA-L level without its buffers") }
        if let why = sluice_isal_load() { throw SluiceError(.output, "cannot write gzip: " + String(cString: why)) }
        sluice_isal_deflate_init(stream)
        stream.pointee.level = UInt32(max(1, level))
        stream.pointee.level_buf = levelBuffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
        stream.pointee.level_buf_size = UInt32(levelBuffer.count)
        stream.pointee.gzip_flag = UInt16(IGZIP_GZIP)
        stream.pointee.end_of_stream = 1
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
        stream.pointee.avail_in = UInt32(input.count)
        // Compressed straight into the member's own array (log lines compress 4-5×); more
        // pieces are appended only if that guess is short (incompressible input).
        var output: [UInt8] = []
        repeat {
            let room = output.isEmpty ? input.count / 2 + 4096 : max(output.count, 64 * 1024)
            var status = COMP_OK
            let piece = [UInt8](unsafeUninitializedCapacity: room) { buffer, initialized in
                stream.pointee.next_out = buffer.baseAddress
                stream.pointee.avail_out = UInt32(buffer.count)
                status = sluice_isal_deflate(stream)
                initialized = buffer.count - Int(stream.pointee.avail_out)
            }
            guard status == COMP_OK else {
                throw SluiceError(.output, "gzip compression failed (ISA-L status \(status))")
            }
            if output.isEmpty { output = piece } else { output.append(contentsOf: piece) }
        } while stream.pointee.internal_state.state != ZSTATE_END
        return output
    }

    private func zlib(_ input: UnsafeRawBufferPointer) throws -> [UInt8] {
        var stream = z_stream()
        guard sluice_deflate_init_gzip(&stream, level) == Z_OK else {
            throw SluiceError(.output, "cannot start gzip compression (level \(level))")
        }
        defer { deflateEnd(&stream) }
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(input.count)
        if scratch.isEmpty { scratch = [UInt8](repeating: 0, count: 256 * 1024) }
        var output: [UInt8] = []
        while true {
            let (status, produced) = scratch.withUnsafeMutableBufferPointer { buffer -> (Int32, Int) in
                stream.next_out = buffer.baseAddress
                stream.avail_out = uInt(buffer.count)
                let status = deflate(&stream, Z_FINISH)
                return (status, buffer.count - Int(stream.avail_out))
            }
            guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                throw SluiceError(.output, "gzip compression failed (zlib status \(status))")
            }
            output.append(contentsOf: scratch[..<produced])
            if status == Z_STREAM_END { return output }
        }
    }
}

/// `count` threads that compress members, each with its own reusable `GzipMember`, so a long
/// export allocates its compression buffers once. Jobs reach them through one
/// `BoundedChannel` (`count` deep: `CompressionQueue` keeps at most `count` members in
/// flight, so `run` never waits long). Threads end with `shutDown()`. Callers cap `count` at
/// the cores (`CompressionQueue`): more threads only hold more buffers.
final class CompressionWorkers: Sendable {
    private let jobs: BoundedChannel<@Sendable (GzipMember) -> Void>
    private let threads: [JoinableThread]

    init(count: Int, level: Int32) {
        let jobs = BoundedChannel<@Sendable (GzipMember) -> Void>(capacity: max(1, count))
        self.jobs = jobs
        threads = (0..<count).map { _ in
            JoinableThread(stackSize: 512 * 1024) {
                let compressor = GzipMember(level: level)
                while case .element(let job) = jobs.receiveBlocking() { job(compressor) }
            }
        }
    }

    func run(_ job: @escaping @Sendable (GzipMember) -> Void) {
        jobs.sendBlocking(job)
    }

    /// Ends the threads once the jobs before have run, and joins them. Idempotent.
    func shutDown() {
        jobs.finish()
        for thread in threads { thread.join() }
    }
}

/// Compresses members on worker threads, at most `limit` at once, and carries out the file
/// writes and commits in the order they were asked for.
///
/// Used by one sink, on its thread (`SinkThread`): `submit` blocks that thread (waiting for
/// the oldest member) once `limit` members are in flight, back-pressure instead of an
/// unbounded queue. `steps` is not a queue between threads but that thread's list of results
/// still to write, in order (as `ConcurrentMap` keeps its task handles), at most `limit`
/// members long. Errors (compression or write) surface from the call that reaches them.
final class CompressionQueue {
    /// A member being compressed. `@unchecked Sendable`: `result` is written by the worker
    /// before `done.signal()` and read only after `done.wait()`.
    final class Job: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        var result: Result<[UInt8], any Error> = .success([])
        var finished = false
    }

    enum Step {
        case member(AtomicFile, Job)
        case commit(AtomicFile)
        /// Work that must follow the commits before it (a checkpoint after its file).
        case then(() throws -> Void)
    }

    /// Members in flight, and worker threads: `-j`, at most the number of cores (deflate is
    /// CPU-bound, and each member in flight holds 512 KiB of input and its output).
    let limit: Int
    private let workers: CompressionWorkers
    /// Steps not carried out yet (a handful: submitting waits once `limit` members are in
    /// flight), so removing from the front is cheap and releases each member at once.
    private var steps: [Step] = []
    private var inFlight = 0

    /// `cores`: the cores this process may use (`PipelineSpec.cores`; the caller may have
    /// capped `limit` already).
    init(level: Int32, limit: Int, cores: Int = .max) {
        self.limit = max(1, min(limit, cores))
        workers = CompressionWorkers(count: self.limit, level: level)
    }

    deinit { workers.shutDown() }

    /// Ends and joins the worker threads (after `drainAll` or `abandon`); the sink's `finish`
    /// and `abort` call it, so no thread of a run outlives it.
    func shutDown() { workers.shutDown() }

    func submit(_ bytes: [UInt8], to file: AtomicFile) throws {
        let job = Job()
        workers.run { compressor in
            job.result = Result { try compressor.compress(bytes) }
            job.done.signal()
        }
        steps.append(.member(file, job))
        inFlight += 1
        try drain(waitingWhileAbove: limit)
    }

    func commitWhenWritten(_ file: AtomicFile) throws {
        steps.append(.commit(file))
        try drain(waitingWhileAbove: limit)
    }

    /// Runs `work` once every file committed before it is in place (on the thread that
    /// drains: the sink's).
    func afterCommits(_ work: @escaping () throws -> Void) throws {
        steps.append(.then(work))
        try drain(waitingWhileAbove: limit)
    }

    /// Writes and commits everything asked for so far.
    func drainAll() throws {
        try drain(waitingWhileAbove: 0)
    }

    /// Waits for the jobs still running (their results are dropped) and forgets every step.
    func abandon() {
        for step in steps {
            if case .member(let file, let job) = step {
                job.done.wait()
                file.discard()
            } else if case .commit(let file) = step {
                file.discard()
            }  // a `.then` is dropped: what it would record was not committed
        }
        steps = []
        inFlight = 0
    }

    /// Carries out finished steps from the front; waits for the front member while more than
    /// `bound` are in flight.
    private func drain(waitingWhileAbove bound: Int) throws {
        while let step = steps.first {
            switch step {
            case .member(let file, let job):
                if inFlight <= bound && job.done.wait(timeout: .now()) == .timedOut { return }
                if inFlight > bound { job.done.wait() }
                inFlight -= 1
                steps.removeFirst()
                try file.writeCompressed(try job.result.get())
            case .commit(let file):
                // Removed once done: a commit refused (a cancelled run) stays for `abandon`,
                // which removes its temporary file.
                try file.finishCommit()
                steps.removeFirst()
            case .then(let work):
                steps.removeFirst()
                try work()
            }
        }
    }
}
