import Synchronization

/// A request to stop reading (SIGINT/SIGTERM), as `DESIGN.md` §3 defines a stop: each reader
/// ends its input at the end of the last *complete* line it has read; every complete line read
/// before the stop is processed and written, a partial line never is. Nothing is cancelled:
/// the source finishes and everything downstream drains, so files are committed as at a real
/// end of input. (Cancelling the task that runs the pipeline is the other way to end it: that
/// is an interrupted run, and nothing more is committed.)
///
/// `stop()` may be called from any thread, any number of times, before or during a run.
public final class StopRequest: Sendable {
    private let readers = Locked<[Interrupt]>([])
    private let requested = Atomic<Bool>(false)

    public init() {}

    /// A reader starting: it is told at once if the stop came first.
    func register(_ reader: Interrupt) {
        readers.withLock { $0.append(reader) }
        if requested.load(ordering: .acquiring) { reader.stop() }
    }

    func unregister(_ reader: Interrupt) {
        readers.withLock { $0.removeAll { $0 === reader } }
    }

    public func stop() {
        requested.store(true, ordering: .releasing)
        for reader in readers.withLock({ $0 }) { reader.stop() }
    }

    public var isRequested: Bool { requested.load(ordering: .acquiring) }
}
