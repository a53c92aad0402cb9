import Glibc

/// `--progress`: one line on stderr, redrawn four times a second once the run has lasted a
/// second: the input bytes read of their total (compressed inputs by their compressed bytes,
/// as they are on disk), the rate and the time left. Cleared when the run ends. Standard input
/// has no total: then bytes and rate only.
enum ProgressLine {
    /// The total size of the named inputs that are regular files; nil if any input has none
    /// (standard input, a pipe).
    static func total(of inputs: [InputName]) -> Int? {
        var sum = 0
        for input in inputs.isEmpty ? [.standardInput] : inputs {
            guard case .path(let path) = input else { return nil }
            var info = stat()
            guard path.withCString({ stat($0, &info) }) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
            sum += Int(info.st_size)
        }
        return sum
    }

    /// Draws until cancelled (the run's end), then clears what it drew.
    static func run(bytesRead: @Sendable () -> Int, total: Int?, started: ContinuousClock.Instant) async {
        var drawn = false
        defer { if drawn { write("\r\u{1B}[K") } }
        do { try await Task.sleep(for: .seconds(1)) } catch { return }
        while !Task.isCancelled {
            let done = bytesRead()
            let elapsed = seconds(ContinuousClock.now - started)
            write("\r" + line(done: done, total: total, elapsed: elapsed) + "\u{1B}[K")
            drawn = true
            do { try await Task.sleep(for: .milliseconds(250)) } catch { return }
        }
    }

    /// `sluice: 412.3 MB of 1000.0 MB (41%), 350.2 MB/s, 2 s left`
    static func line(done: Int, total: Int?, elapsed: Double) -> String {
        let rate = elapsed > 0 ? Double(done) / 1e6 / elapsed : 0
        var text = "sluice: \(megabytes(done)) MB"
        if let total, total > 0 {
            let percent = min(100, done * 100 / total)
            text += " of \(megabytes(total)) MB (\(percent)%)"
        }
        text += ", \(RunReport.fixed(rate, 1)) MB/s"
        if let total, rate > 0, done < total {
            let left = Double(total - done) / 1e6 / rate
            text += left < 60 ? ", \(Int(left.rounded(.up))) s left" : ", \(Int(left / 60)) min \(Int(left) % 60) s left"
        }
        return text
    }

    private static func megabytes(_ bytes: Int) -> String { RunReport.fixed(Double(bytes) / 1e6, 1) }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private static func write(_ text: String) {
        var bytes = Array(text.utf8)
        _ = Glibc.write(2, &bytes, bytes.count)
    }
}
