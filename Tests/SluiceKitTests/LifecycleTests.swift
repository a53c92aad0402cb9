import Foundation
import Testing

@testable import SluiceKit

/// Issue 8, findings 2 and 3: `PipelineRunner.run` owns what it starts. Cancelling it is an
/// interrupted run (never a success, nothing committed), and when it returns no reader thread,
/// task or `--exec` child of it is left.
@Suite struct LifecycleTests {
    /// A pipe whose write end the test holds: input that never ends by itself.
    final class HeldPipe: @unchecked Sendable {
        // `@unchecked`: both descriptors are set in init and only closed in `close()`.
        let readEnd: Int32
        let writeEnd: Int32

        init() throws {
            var fds: [Int32] = [-1, -1]
            guard pipe(&fds) == 0 else { throw TestFailure(id: Int(errno)) }
            readEnd = fds[0]
            writeEnd = fds[1]
        }

        /// The read end as an input name (the reader opens the pipe anew through /proc).
        var input: InputName { .path("/proc/self/fd/\(readEnd)") }

        func write(_ text: String) {
            let bytes = Array(text.utf8)
            _ = bytes.withUnsafeBytes { Glibc.write(writeEnd, $0.baseAddress, $0.count) }
        }

        /// Descriptors of this process open on the pipe (the test's two included).
        var openDescriptors: Int {
            var own = stat()
            fstat(readEnd, &own)
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
            return entries.filter { entry in
                var info = stat()
                return stat("/proc/self/fd/\(entry)", &info) == 0 && info.st_ino == own.st_ino && info.st_dev == own.st_dev
            }.count
        }

        func close() {
            Glibc.close(readEnd)
            Glibc.close(writeEnd)
        }
    }

    /// A sink that records what reached it and fires `written` at its first write.
    class WatchedSink: LineSink, @unchecked Sendable {
        // `@unchecked`: the pipeline calls the sink from one task at a time; the test reads it
        // only after `run` has returned.
        var bytes: [UInt8] = []
        var finished = false
        var aborted = false
        let written = AsyncStream<Void>.makeStream()

        func write(_ chunk: LineChunk) async throws {
            bytes += chunk.bytes
            written.continuation.yield()
        }
        func batchEnded(_ closing: BatchClosing) async throws {}
        func finish() async throws { finished = true }
        func abort() async { aborted = true }
    }

    static func spec(_ input: InputName, stages: [Stage] = [], batch: Int = 1000) -> PipelineSpec {
        var spec = PipelineSpec()
        spec.inputs = [input]
        spec.stages = stages
        spec.batch = BatchPolicy(size: batch, timeout: nil)
        return spec
    }

    @Test("Cancelling run() is an interrupted run: the sink is aborted, not committed")
    func cancellationIsNotSuccess() async throws {
        let pipe = try HeldPipe()
        defer { pipe.close() }
        let runner = try PipelineRunner(spec: Self.spec(pipe.input, batch: 1))
        let sink = WatchedSink()
        pipe.write("one\ntwo\n")
        let run = Task { await runner.run(sink: sink) { _ in } }
        var arrivals = sink.written.stream.makeAsyncIterator()
        _ = await arrivals.next()  // the lines went through: the run is under way
        run.cancel()
        let report = await run.value
        #expect(report.cancelled)
        #expect(report.exitStatus(quiet: false) == 2)
        #expect(sink.aborted)
        #expect(!sink.finished)
    }

    @Test("Cancelling run() never emits the open batch as if it were whole")
    func cancellationDropsTheOpenBatch() async throws {
        let pipe = try HeldPipe()
        defer { pipe.close() }
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        // The command reports each batch it receives; a batch of 1000 never fills here.
        let marker = folder.file("batches")
        let runner = try PipelineRunner(spec: Self.spec(pipe.input, stages: [.exec("cat; echo >> '\(marker)'")]))
        let sink = WatchedSink()
        pipe.write("one\ntwo\n")
        let run = Task { await runner.run(sink: sink) { _ in } }
        try await Task.sleep(for: .milliseconds(300))  // time to read the two lines (not needed to pass)
        run.cancel()
        let report = await run.value
        #expect(report.cancelled)
        // The open batch's lines went to the command as they came, and what it wrote may have
        // reached the sink (--exec is streamed, issue 8, item 4): the sink is aborted, not
        // committed. The command never saw its input end, as it would for a whole batch.
        #expect(!FileManager.default.fileExists(atPath: marker))
        #expect(!sink.finished)
    }

    @Test("run() returns after its reader thread has let go of the input (none left in read(2))")
    func runJoinsTheReader() async throws {
        let pipe = try HeldPipe()
        defer { pipe.close() }
        let runner = try PipelineRunner(spec: Self.spec(pipe.input, batch: 1))
        let sink = WatchedSink()
        pipe.write("one\n")
        let run = Task { await runner.run(sink: sink) { _ in } }
        var arrivals = sink.written.stream.makeAsyncIterator()
        _ = await arrivals.next()
        #expect(pipe.openDescriptors == 3)  // the test's two ends and the reader's
        run.cancel()
        _ = await run.value
        #expect(pipe.openDescriptors == 2, "the reader thread still holds the input after run() returned")
    }

    @Test("run() returns after its --exec child and everything it started are gone, even one that ignores SIGTERM")
    func runJoinsExecChildren() async throws {
        let pipe = try HeldPipe()
        defer { pipe.close() }
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pidFile = folder.file("pid")
        let command = "trap '' TERM; echo $$ > '\(pidFile).tmp'; mv '\(pidFile).tmp' '\(pidFile)'; cat > /dev/null; sleep 60"
        let runner = try PipelineRunner(spec: Self.spec(pipe.input, stages: [.exec(command)], batch: 1))
        pipe.write("one\n")
        let run = Task { await runner.run(sink: WatchedSink()) { _ in } }
        var group: pid_t = 0
        for _ in 0..<600 where group == 0 {  // the command starts (at most 60 s on a loaded machine)
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                group = pid
            } else {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        try #require(group > 0, "the command never started")
        #expect(kill(-group, 0) == 0)
        run.cancel()
        let report = await run.value
        #expect(report.cancelled)
        // SIGKILL reached the whole group before run() returned; what it killed may take a
        // moment to be reaped by init (a zombie still answers kill -0), so look for the living.
        var alive: [String] = []
        for _ in 0..<100 {
            alive = Self.livingMembers(of: group)
            if alive.isEmpty { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(alive.isEmpty, "the command's process group outlived run(): \(alive)")
    }

    /// Processes of group `group` that are not zombies, as "pid state".
    static func livingMembers(of group: pid_t) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> String? in
            guard Int32(entry) != nil, let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 3, pid_t(fields[2]) == group, fields[0] != "Z" else { return nil }
            return "\(entry) \(fields[0])"
        }
    }

    /// The review's R1b: with the sink as the bottleneck, batches wait in the channels; a
    /// cancellation must still end the run there, uncommitted (it used to run to the end and
    /// commit, `cancelled` false).
    @Test("Cancelling run() while batches wait for a slow sink: nothing more written, nothing committed")
    func cancellationWithASlowSink() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        // 4 MB: several chunks, so batches wait in the channels while the sink holds the first.
        let input = try folder.write("in.log", Array((1...400_000).map { "line \($0)\n" }.joined().utf8))
        let runner = try PipelineRunner(spec: Self.spec(.path(FileName(input)), batch: 1))
        /// Holds its first write until the test has cancelled the run.
        final class HeldSink: WatchedSink, @unchecked Sendable {
            let cancelled = Locked(false)
            override func write(_ chunk: LineChunk) async throws {
                try await super.write(chunk)
                while !cancelled.withLock({ $0 }) { usleep(1_000) }
            }
        }
        let sink = HeldSink()
        let run = Task { await runner.run(sink: sink) { _ in } }
        var arrivals = sink.written.stream.makeAsyncIterator()
        _ = await arrivals.next()
        run.cancel()
        sink.cancelled.withLock { $0 = true }
        let report = await run.value
        #expect(report.cancelled)
        #expect(!sink.finished)
        #expect(sink.bytes.count < 4_000_000, "the batches waiting in the channels were written")
        #expect(sink.aborted)
    }

    @Test("JoinableThread.join returns after the body has returned, once")
    func joinWaitsForTheBody() {
        let done = Locked(false)
        let thread = JoinableThread(stackSize: 64 * 1024) {
            usleep(50_000)
            done.withLock { $0 = true }
        }
        thread.join()
        #expect(done.withLock { $0 })
        thread.join()  // a second join returns at once
    }

    /// The review's R2: a FIFO input without a writer held the reader in open(2), where no
    /// stop or cancellation reached it, and run() never returned.
    @Test("A FIFO input with no writer: a stop and a cancellation both end the run", .timeLimit(.minutes(1)), arguments: [false, true])
    func fifoWithoutAWriter(cancel: Bool) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let fifo = folder.file("fifo")
        try #require(mkfifo(fifo, 0o600) == 0)
        let runner = try PipelineRunner(spec: Self.spec(.path(FileName(fifo)), batch: 1))
        let stop = StopRequest()
        let sink = WatchedSink()
        let run = Task { await runner.run(sink: sink, stop: stop) { _ in } }
        try await Task.sleep(for: .milliseconds(200))  // the reader is waiting (not needed to pass)
        if cancel { run.cancel() } else { stop.stop() }
        let report = await run.value
        #expect(report.cancelled == cancel)
        #expect(sink.bytes.isEmpty)
        #expect(sink.finished != cancel)
    }

    /// A run of 20 MB into `-o FIFO` whose reader (returned, non-blocking) never reads.
    static func stalledFIFORun(in folder: TemporaryFolder) async throws
        -> (fifo: String, reader: Int32, runner: PipelineRunner, sink: any LineSink) {
        let fifo = folder.file("out")
        try #require(mkfifo(fifo, 0o600) == 0)
        let reader = open(fifo, O_RDONLY | O_NONBLOCK)  // a reader that never reads
        try #require(reader >= 0)
        let input = folder.file("in.log")
        let line = String(repeating: "x", count: 99) + "\n"
        try String(repeating: line, count: 200_000).write(toFile: input, atomically: false, encoding: .utf8)  // 20 MB
        var spec = Self.spec(.path(FileName(input)), batch: 1000)
        spec.output = .file(fifo)
        let runner = try PipelineRunner(spec: spec)
        return (fifo, reader, runner, try await runner.makeSink())
    }

    /// Item 3: a file sink writes from a thread of its own, and a cancelled run is not held by
    /// an output nobody reads. Before, `-o FIFO` wrote inline on the run's task, blocked in
    /// write(2) for as long as the FIFO's reader slept, and the cancellation waited with it.
    @Test("Cancelling a run whose -o FIFO is never read ends it promptly", .timeLimit(.minutes(1)))
    func cancelledRunWithAStalledOutput() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let (_, reader, runner, sink) = try await Self.stalledFIFORun(in: folder)
        defer { close(reader) }
        let run = Task { await runner.run(sink: sink) { _ in } }
        try await Task.sleep(for: .milliseconds(300))  // the FIFO (64 KiB) is full by now (not needed to pass)
        let cancelled = ContinuousClock.now
        run.cancel()
        let report = await run.value
        #expect(report.cancelled)
        // The FIFO's reader never reads: a run that waited for it would never end. The bound is
        // far from the usual 0.1 s so that a loaded machine (CI saw 6.2 s) does not fail it.
        #expect(ContinuousClock.now - cancelled < .seconds(30), "the run waited for the FIFO's reader")
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var received = 0
        while case let n = read(reader, &buffer, buffer.count), n > 0 { received += n }
        #expect(received < 20_000_000, "a cancelled run wrote everything")
    }

    /// The new user's finding: a stop request (SIGTERM) never ended a run whose output nobody
    /// read (`-o FIFO` with a reader that sleeps, or `| sleep 100`): the stop drained into an
    /// output that took nothing, for ever. Now a write waits at most 2 s for room after a stop,
    /// then the run ends with an error naming the output.
    @Test("A stop ends a run whose -o FIFO is never read, within the grace", .timeLimit(.minutes(1)))
    func stoppedRunWithAStalledOutput() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let (fifo, reader, runner, sink) = try await Self.stalledFIFORun(in: folder)
        defer { close(reader) }
        let stop = StopRequest()
        let errors = Locked<[SluiceError]>([])
        let run = Task { await runner.run(sink: sink, stop: stop) { error in errors.withLock { $0.append(error) } } }
        // Wait until the FIFO is full (64 KiB): the run's writes now wait for its reader.
        var queued: Int32 = 0
        for _ in 0..<3000 {
            _ = ioctl(reader, UInt(FIONREAD), &queued)
            if queued >= 60_000 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        try #require(queued >= 60_000, "the run never filled the FIFO")
        try await Task.sleep(for: .milliseconds(100))
        let stopped = ContinuousClock.now
        stop.stop()
        let report = await run.value
        let waited = ContinuousClock.now - stopped
        // Waiting for the reader would be for ever; 30 s keeps a loaded machine from failing it.
        #expect(waited < .seconds(30), "the stopped run waited \(waited) for the FIFO's reader")
        #expect(waited >= .seconds(1), "gave up before the grace: \(waited)")
        #expect(report.failed)
        let messages = errors.withLock { $0.map(\.description) }
        #expect(messages.contains { $0.contains(fifo) && $0.contains("after the stop request") }, "\(messages)")
    }

    /// The review's finds on the sink threads (each failed before its fix).
    @Test("A SinkThread dropped without finish or abort ends its thread (a sink whose init threw)")
    func droppedSinkThreadEnds() async throws {
        var sinkThread: SinkThread? = SinkThread()
        try await sinkThread!.submit {}  // the first job starts it
        let thread = try #require(sinkThread!.startedThread)
        sinkThread = nil
        for _ in 0..<200 where !thread.hasEnded { try await Task.sleep(for: .milliseconds(10)) }
        #expect(thread.hasEnded)
        #expect(throws: SluiceError.self) { _ = try SingleFileSink(path: "/nonexistent-sluice-dir/x.log") }
    }

    @Test("A SinkThread starts its thread at the first job: without one, finish, drained and abort start none, abort's cleanup runs on the caller, and a failed job's error still reaches finishChecked")
    func sinkThreadStartsAtFirstJob() async throws {
        struct Failed: Error {}
        let idle = SinkThread()
        try await idle.drained()
        try await idle.finishChecked()
        #expect(idle.startedThread == nil)
        await #expect(throws: CancellationError.self) { try await idle.submit {} }  // ended: no thread starts now
        #expect(idle.startedThread == nil)

        let aborted = SinkThread()
        let cleaned = Locked(false)
        await aborted.abort { cleaned.withLock { $0 = true } }
        #expect(cleaned.withLock { $0 })
        #expect(aborted.startedThread == nil)

        let ran = Locked(0)
        let failing = SinkThread()
        try await failing.submit { ran.withLock { $0 += 1 } }
        try await failing.submit { throw Failed() }
        #expect(failing.startedThread != nil)
        await #expect(throws: Failed.self) { try await failing.finishChecked() }
        #expect(ran.withLock { $0 } == 1)
        #expect(failing.startedThread?.hasEnded == true)
    }

    @Test("A SinkThread runs its idle work after its jobs, once per quiet spell (a trickling export's compressed file committed without waiting for the next batch); an error there fails the next job")
    func idleWorkRunsOncePerQuietSpell() async throws {
        struct Failed: Error {}
        let log = Locked<[String]>([])
        let thread = SinkThread(idle: {
            log.withLock { $0.append("idle") }
            if log.withLock({ $0.count }) > 6 { throw Failed() }
        })
        func waitForIdle(count: Int) async throws {
            for _ in 0..<500 where log.withLock({ $0.filter { $0 == "idle" }.count }) < count {
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        // Each spell's jobs are queued behind a gate the first of them waits on, so that no
        // quiet spell falls between them however slowly this task runs.
        let gate = DispatchSemaphore(value: 0)
        try await thread.submit { gate.wait(); log.withLock { $0.append("job 0") } }
        for index in 1..<3 { try await thread.submit { log.withLock { $0.append("job \(index)") } } }
        gate.signal()
        try await waitForIdle(count: 1)
        try await Task.sleep(for: .milliseconds(300))  // quiet: no second idle
        #expect(log.withLock { $0 } == ["job 0", "job 1", "job 2", "idle"])
        try await thread.submit { gate.wait(); log.withLock { $0.append("job 3") } }
        try await thread.submit { log.withLock { $0.append("job 4") } }
        gate.signal()
        try await waitForIdle(count: 2)
        #expect(log.withLock { $0 } == ["job 0", "job 1", "job 2", "idle", "job 3", "job 4", "idle"])
        await #expect(throws: Failed.self) { try await thread.perform {} }
        await thread.finish()
    }

    @Test("JoinableThread.joined() returns to every task that waits")
    func joinedByTwoTasks() async {
        let thread = JoinableThread(stackSize: 64 * 1024) { usleep(100_000) }
        async let first: Void = thread.joined()
        async let second: Void = thread.joined()
        _ = await (first, second)
        #expect(thread.hasEnded)
    }

    @Test("finish() with a blocked thread sender reaches every consumer thread", .timeLimit(.minutes(1)))
    func finishWithABlockedSenderWakesEveryConsumer() {
        for round in 0..<50 {
            let channel = BoundedChannel<Int>(capacity: 1)
            channel.sendBlocking(0)
            let producer = JoinableThread(stackSize: 64 * 1024) { channel.sendBlocking(1) }  // blocks: full
            usleep(200)
            let ended = Locked(0)
            let consumers = (0..<3).map { _ in
                JoinableThread(stackSize: 64 * 1024) {
                    while case .element = channel.receiveBlocking() {}
                    ended.withLock { $0 += 1 }
                }
            }
            if round % 2 == 0 { usleep(200) }
            channel.finish()
            var waited = 0
            while ended.withLock({ $0 }) < 3 && waited < 2000 { usleep(1000); waited += 1 }
            #expect(ended.withLock { $0 } == 3, "round \(round): a consumer thread never saw the end")
            if ended.withLock({ $0 }) < 3 { channel.cancel() }
            producer.join()
            for consumer in consumers { consumer.join() }
        }
    }
}

