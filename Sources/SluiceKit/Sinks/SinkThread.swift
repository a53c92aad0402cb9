import CSluiceProcess
import Glibc

/// The thread a sink's blocking work runs on, so that writes, closes, renames and the waits
/// for deflate never occupy one of the cooperative pool's threads (DESIGN.md §4), which keep
/// filtering meanwhile; a slow reader of the output (a pipe into `less`) blocks this thread
/// alone.
///
/// The sink's async methods hand it jobs through a `BoundedChannel` and go on (`submit`), or
/// wait for one to be carried out (`perform`). Bound: at most `capacity` jobs, holding at
/// most `byteCapacity` bytes of lines, wait (one larger job waits alone); a full channel
/// suspends the sink's caller, so a slow output slows the pipeline instead of filling memory.
///
/// Errors: the first job that throws makes every later job skip; the next `submit` or
/// `perform` throws that error. Ending: `finish()` lets the queued jobs run, then joins the
/// thread; `abort()` drops the queued jobs, wakes a write that waits for a reader (through
/// `interrupt`: a FIFO nobody reads, a stopped pipe) and joins. A task cancelled while it
/// waits for a job or for room wakes that write too, so a cancelled run is never held by a
/// stalled output.
final class SinkThread: Sendable {
    struct Job: Sendable {
        let work: @Sendable () throws -> Void
        /// Bytes of lines the job holds (the channel's second bound).
        let weight: Int
        let done: Completion<Void>?
    }

    /// Wakes a write of this thread that waits for room (see `Interrupt.write`), and the
    /// wait for a FIFO output's reader (`OutputDestination.open`).
    let interrupt: Interrupt
    private let jobs: BoundedChannel<Job>
    private let failure = Locked<(any Error)?>(nil)
    /// Set by `abort(then:)`: run by the thread once it has left its last job.
    private let cleanup = Locked<(@Sendable () -> Void)?>(nil)

    /// How long the thread waits for a job before it runs `idle`.
    static let idleAfter: Duration = .milliseconds(50)

    /// `interrupt`: given when a stop must reach the sink before the run starts (the runner
    /// registers it with the stop request while the sink opens its files).
    ///
    /// `idle`: run on the thread once no job has come for `idleAfter` (then not again until
    /// the next job): work left pending between jobs, such as writing and committing the
    /// members still being compressed. Without it, a trickling `--follow` export's last file
    /// waited for the next batch to be renamed into place (a deflate slower than the sink's
    /// look at it: the sanitizer's run held a 1 s file 15 s). An error fails the sink as a
    /// job's does.
    init(capacity: Int = 8, byteCapacity: Int = 4 << 20, interrupt: Interrupt = Interrupt(),
         idle: (@Sendable () throws -> Void)? = nil) {
        self.interrupt = interrupt
        let jobs = BoundedChannel<Job>(capacity: capacity, byteCapacity: byteCapacity, weigh: { $0.weight })
        let failure = self.failure
        let cleanup = self.cleanup
        self.jobs = jobs
        // Started by the first job (`started`): a run that writes nothing (grep on an empty
        // file) starts no thread; creating it and handing it the end was
        // part of such a run's start-up cost (see `StandardOutputSink.finish`).
        started = Locked(.notYet { JoinableThread(stackSize: 512 * 1024) {
            sluice_block_sigpipe_in_thread()  // a closed pipe is EPIPE, handled, even if SIGPIPE is not ignored
            func next() -> BoundedChannel<Job>.Received {
                guard let idle else { return jobs.receiveBlocking() }
                if let received = jobs.receiveBlocking(waitingAtMost: Self.idleAfter) { return received }
                if failure.withLock({ $0 }) == nil {
                    do { try idle() } catch { failure.withLock { $0 = $0 ?? error } }
                }
                return jobs.receiveBlocking()
            }
            while case .element(let job) = next() {
                let result: Result<Void, any Error>
                if let earlier = failure.withLock({ $0 }) {
                    result = .failure(earlier)
                } else {
                    result = Result { try job.work() }
                    if case .failure(let error) = result { failure.withLock { $0 = $0 ?? error } }
                }
                job.done?.complete(result)
            }
            cleanup.withLock { pending in defer { pending = nil }; return pending }?()
        } })
    }

    /// The thread, started at the first job; nil if none came (nothing to join).
    private enum Start {
        case notYet(@Sendable () -> JoinableThread)
        case running(JoinableThread)
        case never
    }
    private let started: Locked<Start>

    /// Starts the thread unless it runs (or the sink has ended without one).
    private func startIfNeeded() {
        started.withLock { start in
            if case .notYet(let make) = start { start = .running(make()) }
        }
    }

    /// The thread, if a job has started it (for tests).
    var startedThread: JoinableThread? {
        if case .running(let thread) = started.withLock({ $0 }) { return thread }
        return nil
    }

    /// The thread if it was started; after this no job starts it.
    private func endStarting() -> JoinableThread? {
        started.withLock { start in
            switch start {
            case .running(let thread): return thread
            case .notYet, .never:
                start = .never
                return nil
            }
        }
    }

    /// A sink dropped without `finish` or `abort` (its init threw after this was made): the
    /// thread leaves its loop and ends on its own (`JoinableThread` detaches it).
    deinit {
        jobs.cancel()
    }

    /// Hands `work` to the thread, suspending while the channel is full; throws the error of
    /// an earlier job, or `CancellationError` if the calling task is cancelled meanwhile.
    func submit(weight: Int = 0, _ work: @escaping @Sendable () throws -> Void) async throws {
        if let error = failure.withLock({ $0 }) { throw error }
        startIfNeeded()
        let sent = await withTaskCancellationHandler {
            await jobs.send(Job(work: work, weight: weight, done: nil))
        } onCancel: { [interrupt] in
            interrupt.cancel()
        }
        guard sent else { throw failure.withLock({ $0 }) ?? CancellationError() }
    }

    /// Runs `work` on the thread after every job before it, and returns once it has run
    /// (throwing its error, or an earlier job's).
    func perform(_ work: @escaping @Sendable () throws -> Void) async throws {
        let done = Completion<Void>()
        startIfNeeded()
        let sent = await withTaskCancellationHandler {
            await jobs.send(Job(work: work, weight: 0, done: done))
        } onCancel: { [interrupt] in
            interrupt.cancel()
        }
        guard sent else { throw failure.withLock({ $0 }) ?? CancellationError() }
        try await withTaskCancellationHandler {
            try await done.wait()
        } onCancel: { [interrupt] in
            interrupt.cancel()  // the job ends promptly (a write waiting for room gives up)
        }
    }

    /// Returns once every job handed over so far has run (throwing the first job's error):
    /// `perform {}`, without starting the thread when no job ever came.
    func drained() async throws {
        if case .running = started.withLock({ $0 }) { return try await perform {} }
        if let error = failure.withLock({ $0 }) { throw error }
    }

    /// Runs the queued jobs, ends and joins the thread (if one was started), then throws the
    /// first job's error: `finish(after: {})` for a sink with nothing left to do at its end.
    /// A cancelled caller wakes a write that waits for room (as `perform`'s does).
    func finishChecked() async throws {
        await withTaskCancellationHandler {
            await finish()
        } onCancel: { [interrupt] in
            interrupt.cancel()
        }
        if let error = failure.withLock({ $0 }) { throw error }
    }

    /// Runs `work` after the queued jobs, then ends and joins the thread whether it threw or
    /// not (throwing its error): the commit step every sink's `finish` is.
    func finish(after work: @escaping @Sendable () throws -> Void) async throws {
        do {
            try await perform(work)
        } catch {
            await finish()
            throw error
        }
        await finish()
    }

    /// Runs the queued jobs, then ends and joins the thread. Idempotent.
    func finish() async {
        jobs.finish()
        await endStarting()?.joined()
    }

    /// Drops the queued jobs (their waiters get `CancellationError`), wakes a waiting write,
    /// runs `cleanup` on the thread once its last job has returned (removing temporary files,
    /// waiting for compression workers: blocking work, kept off the pool), and joins it. After
    /// a `finish` (the thread has ended), `cleanup` runs on the caller. Idempotent.
    func abort(then cleanup: @escaping @Sendable () -> Void = {}) async {
        self.cleanup.withLock { $0 = cleanup }
        interrupt.cancel()
        for job in jobs.cancel() { job.done?.complete(.failure(CancellationError())) }
        await endStarting()?.joined()
        self.cleanup.withLock { pending in defer { pending = nil }; return pending }?()
    }
}

/// A sink whose blocking work runs on a `SinkThread`: the runner registers that thread's
/// interrupt with the run's `StopRequest`, so that after a stop a write waiting for a reader
/// waits at most `Interrupt.stopGraceMilliseconds` for room.
protocol ThreadedSink: LineSink {
    var sinkThread: SinkThread { get }
}

extension ThreadedSink {
    public var writeInterrupt: Interrupt? { sinkThread.interrupt }
}
