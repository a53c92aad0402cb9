extension AsyncSequence where Self: Sendable, Element == LineBatch {
    /// Pipes each batch through `phases` (`--exec` commands, each with the line steps after it),
    /// streamed: a batch is fed to its first command as its pieces arrive (a `BatchPolicy` with
    /// `pieceBytes`), and the last command's output comes out as `.partial` pieces as it is
    /// read, followed by one empty batch with the batch's `closing` and its notes.
    ///
    /// Up to `limit` batches' commands run at once. Ordered: the output of batch k+1 is read
    /// only once batch k's output has ended, so a command ahead of its turn fills its stdout
    /// pipe and blocks. Unordered: each command is read as soon as it writes, one batch's
    /// output at a time, in the order their first output (or end) came.
    ///
    /// Bound: per batch in flight, two pieces of input (chunks) and two pieces of output
    /// (`ExecCommand.pieceSize`) per command, plus the pipes; nothing grows with the batch size
    /// or the output size (steps after an exec hold one line at most). End: after the last
    /// batch's closing. Error: a command's error is thrown after the output its batch wrote
    /// before it (no later batch follows it); the base's error after the batches before it.
    /// Cancellation: dropping the iterator (a consumer that stops: `-m`, `-q`, an error)
    /// cancels the intake and every job: each child gets SIGTERM, SIGKILL after 0.5 s, and is
    /// reaped by its reader thread, which the run's `RunScope` joins.
    func execStreamed(_ phases: [(ExecCommand, [any ChunkStep])], limit: Int, ordered: Bool) -> ExecStreamSequence<Self> {
        ExecStreamSequence(base: self, phases: phases, limit: limit, ordered: ordered)
    }
}

/// One batch going through the `--exec` commands: the channels between them, their children.
///
/// `input` is fed by whoever forms the batch and finished at its end; `output` is the last
/// command's, ended by its reader thread. `gate` lets the last command's output be read (its
/// turn, for ordered output). `cancel()` ends everything.
final class ExecJob: Sendable {
    let input: BoundedChannel<LineChunk>
    let output: BoundedChannel<LineChunk>
    let gate: BoundedChannel<Void>?
    private let channels: [BoundedChannel<LineChunk>]
    private let children: [ChildHandle]
    /// The batch's notes (diagnostics to report after its output) and how it closed.
    let ending = Locked<(notes: [SluiceError], closing: BatchClosing)>(([], .end))

    /// Starts one child per phase (nothing read from the last before `allowReading` when
    /// `gated`). A command that cannot start ends `output` with its error.
    /// `announce`: called with the job once, when its last command first has output or ends.
    init(phases: [(ExecCommand, [any ChunkStep])], gated: Bool, announce: (@Sendable (ExecJob) -> Void)? = nil) {
        precondition(!phases.isEmpty)
        channels = (0...phases.count).map { _ in BoundedChannel<LineChunk>(capacity: 2) }
        children = phases.map { _ in ChildHandle() }
        input = channels[0]
        output = channels[phases.count]
        gate = gated ? BoundedChannel<Void>(capacity: 1) : nil
        let announceSelf: (@Sendable () -> Void)?
        if let announce {
            announceSelf = { [self] in announce(self) }
        } else {
            announceSelf = nil
        }
        for (index, (command, steps)) in phases.enumerated() {
            let last = index == phases.count - 1
            do {
                try command.start(input: channels[index], output: channels[index + 1], gate: last ? gate : nil,
                                  steps: steps, child: children[index], announce: last ? announceSelf : nil)
            } catch {
                for started in 0..<index { children[started].kill(); channels[started].cancel() }
                channels[index].cancel()
                announceSelf?()
                output.finish(throwing: error)
                return
            }
        }
    }

    /// Its turn: the last command's output may be read.
    func allowReading() {
        _ = gate?.sendBlocking(())  // capacity 1, sent once: never waits
    }

    func cancel() {
        gate?.cancel()
        for child in children { child.kill() }
        for channel in channels { channel.cancel() }
    }
}

/// See `execStreamed(_:limit:ordered:)`.
///
/// Design: an intake task reads the batched pieces; at a batch's first piece it takes one of
/// `limit` slots, starts an `ExecJob` and hands it to the consumer (ordered: through `jobs`, in
/// input order; unordered: each job's reader puts it in `ready` when it first has output),
/// then sends the pieces to the job's input and finishes it at the batch's end. The consumer
/// opens a job's gate, passes its output on piece by piece, and gives the slot back at its end.
struct ExecStreamSequence<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == LineBatch {
    typealias Element = LineBatch
    let base: Base
    let phases: [(ExecCommand, [any ChunkStep])]
    let limit: Int
    let ordered: Bool

    func makeAsyncIterator() -> Iterator { Iterator(state: State(sequence: self)) }

    struct Iterator: AsyncIteratorProtocol {
        let state: State
        mutating func next() async throws -> LineBatch? { try await state.next() }
    }

    /// Jobs started and not yet drained, so that dropping the iterator cancels them all; for
    /// unordered output, the count of jobs not yet announced in `ready`.
    final class Jobs: Sendable {
        private struct State {
            var cancelled = false
            var live: [ObjectIdentifier: ExecJob] = [:]
            var unannounced = 0
            var intakeEnded = false
        }
        private let state = Locked(State())

        /// Registers `job`; false (and the job cancelled) once everything was cancelled.
        func add(_ job: ExecJob) -> Bool {
            let cancelled = state.withLock { state -> Bool in
                if !state.cancelled {
                    state.live[ObjectIdentifier(job)] = job
                    state.unannounced += 1
                }
                return state.cancelled
            }
            if cancelled { job.cancel() }
            return !cancelled
        }

        func remove(_ job: ExecJob) {
            _ = state.withLock { $0.live.removeValue(forKey: ObjectIdentifier(job)) }
        }

        /// A job was announced (unordered) or the intake ended: whether `ready` can end now.
        func announced() -> Bool { state.withLock { $0.unannounced -= 1; return $0.intakeEnded && $0.unannounced == 0 } }
        func intakeEnded() -> Bool { state.withLock { $0.intakeEnded = true; return $0.unannounced == 0 } }

        func cancelAll() {
            let jobs = state.withLock { state -> [ExecJob] in
                state.cancelled = true
                defer { state.live = [:] }
                return Array(state.live.values)
            }
            for job in jobs { job.cancel() }
        }
    }

    final class State: @unchecked Sendable {
        // `@unchecked`: `intake` and `current` are touched only by the single consumer task.
        let sequence: ExecStreamSequence
        let jobs = Jobs()
        /// Ordered: the jobs in input order. Unordered: in the order they first had output.
        let queue: BoundedChannel<ExecJob>
        let slots: BoundedChannel<Void>
        var intake: ScopedTask<Void>?
        var current: (job: ExecJob, lines: Int)?
        /// The intake's error, for unordered jobs still to be announced at its end.
        let failure = Locked<(any Error)?>(nil)

        init(sequence: ExecStreamSequence) {
            self.sequence = sequence
            let limit = Swift.max(1, sequence.limit)
            queue = BoundedChannel(capacity: limit)
            slots = BoundedChannel(capacity: limit)
        }

        deinit {
            // The jobs first: a command must not see its batch end because the intake stopped.
            jobs.cancelAll()
            for job in queue.cancel() { job.cancel() }
            slots.cancel()
            intake?.cancel()
        }

        func start() {
            let sequence = self.sequence
            let jobs = self.jobs
            let queue = self.queue
            let slots = self.slots
            let failure = self.failure
            intake = RunScope.task {
                await Self.feed(sequence, jobs: jobs, queue: queue, slots: slots, failure: failure)
            }
        }

        /// The intake: starts a job per batch and sends it the batch's pieces.
        static func feed(_ sequence: ExecStreamSequence, jobs: Jobs, queue: BoundedChannel<ExecJob>,
                         slots: BoundedChannel<Void>, failure: Locked<(any Error)?>) async {
            let announce: (@Sendable (ExecJob) -> Void)?
            if sequence.ordered {
                announce = nil
            } else {
                announce = { started in
                    queue.sendBlocking(started)
                    if jobs.announced() { queue.finish(throwing: failure.withLock { $0 }) }
                }
            }
            var job: ExecJob?
            do {
                for try await piece in sequence.base {
                    if job == nil {
                        guard await slots.send(()) else { return }
                        let next = ExecJob(phases: sequence.phases, gated: sequence.ordered, announce: announce)
                        guard jobs.add(next) else { return }
                        if sequence.ordered, await !queue.send(next) {
                            next.cancel()
                            return
                        }
                        job = next
                    }
                    guard let open = job else { continue }
                    for segment in piece.segments where !segment.isEmpty {
                        if await !open.input.send(segment) { return }
                    }
                    let notes = piece.notes
                    let closing = piece.closing
                    if closing != .partial || !notes.isEmpty {
                        open.ending.withLock { ending in
                            ending.notes += notes
                            if closing != .partial { ending.closing = closing }
                        }
                    }
                    if closing != .partial {
                        open.input.finish()
                        job = nil
                    }
                }
                job?.input.finish()
                if sequence.ordered || jobs.intakeEnded() { queue.finish() }
            } catch {
                // Cancelled: the open batch is not whole, its command must not see it end.
                if error is CancellationError { job?.cancel() } else { job?.input.finish() }
                // Unordered with jobs still to announce: the last announcement ends the queue.
                failure.withLock { $0 = error }
                if sequence.ordered || jobs.intakeEnded() { queue.finish(throwing: error) }
            }
        }

        func next() async throws -> LineBatch? {
            if intake == nil { start() }
            while true {
                if let (job, lines) = current {
                    switch await job.output.receive() {
                    case .element(let chunk):
                        let count = chunk.lineCount
                        current = (job, lines + count)
                        return LineBatch(segments: [chunk], lineCount: count, closing: .partial)
                    case .finished:
                        current = nil
                        jobs.remove(job)
                        _ = await slots.receive()
                        let (notes, closing) = job.ending.withLock { $0 }
                        return LineBatch(segments: notes.isEmpty ? [] : [LineChunk(bytes: [], notes: notes)],
                                         lineCount: 0, closing: closing, ends: lines > 0 ? 1 : 0)
                    case .failed(let error):
                        throw error
                    case .cancelled, .timedOut:
                        throw CancellationError()
                    }
                }
                switch await queue.receive() {
                case .element(let job):
                    job.allowReading()
                    current = (job, 0)
                case .finished:
                    return nil
                case .failed(let error):
                    throw error
                case .cancelled, .timedOut:
                    throw CancellationError()
                }
            }
        }
    }
}
