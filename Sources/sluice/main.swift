import ArgumentParser
import CSluiceSupport
import Foundation
import Glibc
import SluiceKit

/// Entry point: parse, validate, open the output, run, map the outcome to an exit status.
func printError(_ line: String) {
    FileHandle.standardError.write(Data("sluice: \(line)\n".utf8))
}

func runMain() async -> Int32 {
    signal(SIGPIPE, SIG_IGN)
    sluice_tune_malloc()
    let command: SluiceCommand
    do {
        command = try SluiceCommand.parse(ShortOptions.normalize(Array(CommandLine.arguments.dropFirst())))
    } catch {
        let code = SluiceCommand.exitCode(for: error)
        let message = SluiceCommand.fullMessage(for: error)
        if code == .success {
            print(message)
            return 0
        }
        let text = message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message
        FileHandle.standardError.write(Data("sluice: \(text)\n".utf8))
        return 2
    }
    let spec: PipelineSpec
    let runner: PipelineRunner
    do {
        spec = try command.makeSpec(cores: ProcessInfo.processInfo.activeProcessorCount)
        runner = try PipelineRunner(spec: spec)
    } catch {
        printError("\(error)")
        return 2
    }
    if command.explain {
        print(runner.explanation.joined(separator: "\n"))
        return 0
    }
    if spec.maxCount == 0 { return 1 }
    let sink: any LineSink
    do {
        sink = try runner.makeSink()
    } catch {
        printError("\(error)")
        return 2
    }
    let stop = StopRequest()
    let signalFD = sluice_install_signal_pipe()
    if signalFD >= 0 {
        let watcher = Thread {
            var byte: UInt8 = 0
            while read(signalFD, &byte, 1) < 0 && errno == EINTR {}
            stop.stop()
        }
        watcher.start()
    }
    let report = await runner.run(sink: sink, stop: stop) { error in
        printError(error.code == .warning ? "warning: \(error)" : "\(error)")
    }
    ExecCommand.terminateRunningCommands()
    if spec.stats { printError(report.summary) }
    var result = report
    let signal = sluice_received_signal()
    if signal != 0 { result.interruptedBy = signal }
    return result.exitStatus(quiet: spec.quiet)
}

exit(await runMain())
