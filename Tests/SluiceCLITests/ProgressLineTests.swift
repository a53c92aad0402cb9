import Foundation
import Testing

/// Issue 12, `--progress`: checked as a person sees it, in a real terminal (tmux, its pane
/// captured): drawn while a run lasts, cleared at its end, never when the output is the same
/// terminal or with --no-progress.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"), "needs tmux (make deps)"))
struct ProgressLineTests {
    @Test("a run over a second shows bytes and MB/s on stderr in a terminal, then clears the line; none with --no-progress or output on the terminal")
    func progressInATerminal() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let session = "sluice-progress-\(getpid())"
        let result = try await Shell.bash("""
            cd \(Shell.quote(directory.path))
            slow='{ seq 1 200000; sleep 2.5; seq 1 10; }'
            for flags in "" "--no-progress"; do
                tmux new-session -d -s \(session) -x 150 -y 8 "$slow | \\"$SLUICE\\" $flags -e 1 > out; echo ended; sleep 30"
                sleep 1.8; tmux capture-pane -p -t \(session) | grep -c 'MB/s'
                sleep 2.5; tmux capture-pane -p -t \(session) | grep -v '^$' | tr '\\n' '|'; echo
                tmux kill-session -t \(session)
            done
            tmux new-session -d -s \(session) -x 150 -y 8 "$slow | \\"$SLUICE\\" -e 199999; sleep 30"
            sleep 1.8; tmux capture-pane -p -t \(session) | grep -c 'MB/s'
            tmux kill-session -t \(session)
            """, timeout: .seconds(60))
        #expect(result.stdoutLines == ["1", "ended|", "0", "ended|", "0"], "\(result.stdoutText) \(result.stderr)")
    }
}
