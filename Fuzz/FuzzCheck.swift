// Checks for the fuzz targets. `precondition` drops its message at -O; these print it (to
// stderr, so it lands in the libFuzzer log next to the crash input) and abort, which libFuzzer
// reports as a crash.

import Glibc

@inline(never)
func failCheck(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> Never {
    fputs("sluice-fuzz: check failed at \(file):\(line): \(message)\n", stderr)
    abort()
}

@inline(__always)
func check(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if !condition { failCheck(message(), file: file, line: line) }
}

/// Known findings to step around, from SLUICE_FUZZ_ALLOW (comma-separated names), so that a run
/// can look for other problems before a reported one is fixed. Each target lists its names.
let allowed: Set<String> = {
    guard let value = getenv("SLUICE_FUZZ_ALLOW") else { return [] }
    return Set(String(cString: value).split(separator: ",").map { String($0) })
}()
