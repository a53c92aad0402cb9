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
        // Each test has its own tmux server (-L): on the shared default one, a test killing its
        // last session stopped the server under the other test ("server exited unexpectedly").
        // The pane is polled, not sampled after fixed sleeps: a loaded CI machine is slow.
        let socket = "sluice-progress-\(getpid())"
        let result = try await Shell.bash("""
            \(Shell.definesDetach)cd \(Shell.quote(directory.path))
            t() { detach tmux -L \(socket) "$@"; }
            trap 't kill-server 2>/dev/null' EXIT
            # A session that lives as long as the script: killing a run's session must not stop
            # the server, or the next new-session can reach the exiting server ("server exited
            # unexpectedly", seen once in CI: the --no-progress screen came back empty).
            t new-session -d -s keep "sleep 600"
            slow='{ seq 1 200000; sleep 2.5; seq 1 10; }'
            # Prints 1 if MB/s was on the screen at some point before "ended", then the screen.
            watch() {
                seen=0
                for i in $(seq 200); do
                    screen=$(t capture-pane -p -t run)
                    case "$screen" in *MB/s*) seen=1 ;; esac
                    case "$screen" in *ended*) break ;; esac
                    sleep 0.05
                done
                echo $seen
                t capture-pane -p -t run | grep -v '^$' | tr '\\n' '|'; echo
                t kill-session -t run
            }
            for flags in "" "--no-progress"; do
                t new-session -d -s run -x 150 -y 8 "$slow | \\"$SLUICE\\" $flags -e 1 > out; echo ended; sleep 30"
                watch
            done
            t new-session -d -s run -x 150 -y 8 "$slow | \\"$SLUICE\\" -e 199999; echo ended; sleep 30"
            watch | sed -n 1p
            """, timeout: .seconds(90))
        #expect(result.stdoutLines == ["1", "ended|", "0", "ended|", "0"], "\(result.stdoutText) \(result.stderr)")
    }

    @Test("--color=auto in a terminal: the same escapes as grep's, as the terminal shows them (capture-pane -e); none on a pipe")
    func coloursInATerminal() async throws {
        let session = "sluice-colours-\(getpid())"
        let result = try await Shell.bash("""
            \(Shell.definesDetach)tmux() { detach tmux -L \(session) "$@"; }
            trap 'tmux kill-server 2>/dev/null' EXIT
            # NO_COLOR (which sluice, unlike grep, honours) may be set around the tests.
            lines="printf 'a ERROR b ERROR\\\\nplain\\\\nz ERROR\\\\n'"
            tmux new-session -d -s \(session) -x 150 -y 12 "unset NO_COLOR; $lines | \\"$SLUICE\\" --color=auto -n ERROR; echo ==; $lines | grep --color=auto -n ERROR; echo ==; $lines | \\"$SLUICE\\" --color=auto ERROR | cat; echo END; sleep 30"
            for i in $(seq 100); do tmux capture-pane -p -t \(session) | grep -q '^END$' && break; sleep 0.1; done
            tmux capture-pane -e -p -t \(session) | grep -v '^$' | grep -v '^END$'
            tmux kill-session -t \(session)
            """, timeout: .seconds(30))
        let parts = result.stdoutText.components(separatedBy: "==\n")
        #expect(parts.count == 3, "\(result.stdoutText) \(result.stderr)")
        guard parts.count == 3 else { return }
        #expect(parts[0] == parts[1], "sluice:\n\(parts[0])grep:\n\(parts[1])")
        #expect(parts[0].contains("\u{1B}["), "\(parts[0])")
        #expect(parts[2] == "a ERROR b ERROR\nz ERROR\n", "\(parts[2])")
    }
}
