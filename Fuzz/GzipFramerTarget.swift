// libFuzzer target: input decoding (PlainSource, GzipSource) and line framing (LineFramer).
//
// The fuzz input is the content of one input file. Each run makes up to three passes:
//
//   framer  LineFramer alone (target size 16-22) over the raw bytes from PieceSource, a fake
//           ByteSource that hands them out in uneven pieces with empty returns and ends with a
//           .corruptInput note, a .warning note or none (all chosen by a hash of the input).
//   file    the path of ChunkSource.readAll for `sluice FILE`: the bytes in a regular file,
//           ChunkSource.readPrefix, then GzipSource if they start 1f 8b, else PlainSource,
//           framed by LineFramer (target size 16, 64 or 4096) to the end, then finish().
//   socket  gzip input only: the same through a SOCK_SEQPACKET socket whose every read returns
//           one piece (1 byte to a few hundred, chosen by a hash of the input), as a pipe that
//           trickles would: magic bytes, headers, member boundaries and padding fall across reads.
//
// Checked on every pass:
//   * every chunk is empty or ends in "\n", and so does finish()'s result; a note comes only
//     with ended == true;
//   * framer / plain file: chunks + finish() == the input, plus "\n" if it is non-empty and
//     lacks one; the framer passes on the source's note (and no other);
//   * gzip, against zlib's inflate decoding the members one after another with GzipSource's
//     documented rules, which are gzip's (zero bytes to the end are padding; anything after
//     zeros, or two bytes not 1f 8b, is trailing garbage; one byte is a member cut short):
//       - zlib decodes everything             -> the same bytes (+ final "\n"), no note;
//       - zlib decodes, then trailing garbage -> the same bytes (+ final "\n"), a .warning note;
//       - zlib fails (corrupt, truncated)     -> a .corruptInput note, and sluice's bytes agree
//         with zlib's partial output as far as both go.
// A failed check prints "sluice-fuzz: check failed at …: what" and aborts (see FuzzCheck.swift).
// Built by Fuzz/run.sh: swiftc -sanitize=fuzzer,address, in one module with the SluiceKit
// sources so internal types are visible (or against a SluiceKit built with -enable-testing).

#if canImport(SluiceKit)
@testable import SluiceKit
#endif
import CZlib
import Glibc

/// One descriptor reused for every input: an unlinked temporary file (memfd_create is not
/// visible through Swift's Glibc module). Regular-file reads are what `sluice FILE` does.
nonisolated(unsafe) private var inputFD: Int32 = -1

private func openScratchFile() -> Int32 {
    var dirs: [String] = []
    if let tmp = getenv("TMPDIR") { dirs.append(String(cString: tmp)) }
    dirs += ["/dev/shm", "/tmp"]
    for dir in dirs {
        var template = Array("\(dir)/sluice-fuzz-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        if fd >= 0 {
            template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
            return fd
        }
    }
    fatalError("cannot create a scratch file")
}

private func load(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    if inputFD < 0 { inputFD = openScratchFile() }
    check(ftruncate(inputFD, 0) == 0, "ftruncate failed")
    var written = 0
    while written < size {
        let n = pwrite(inputFD, data + written, size - written, off_t(written))
        check(n > 0, "pwrite failed")
        written += n
    }
    check(lseek(inputFD, 0, SEEK_SET) == 0, "lseek failed")
    return inputFD
}

// MARK: - zlib oracle

enum ZlibOutcome { case complete, trailingGarbage, failed }

/// Decodes `input` as gzip members with zlib, following GzipSource's documented rules.
/// Also returns the FLG byte of every member header seen.
func zlibDecode(_ original: [UInt8], ignoreReservedFlags: Bool) -> ([UInt8], ZlibOutcome, [UInt8]) {
    var input = original
    var out: [UInt8] = []
    var memberFlags: [UInt8] = []
    var position = 0
    let outCapacity = 64 * 1024
    var buffer = [UInt8](repeating: 0, count: outCapacity)
    return input.withUnsafeMutableBufferPointer { inBuf -> ([UInt8], ZlibOutcome, [UInt8]) in
        while true {
            if inBuf.count - position > 3 { memberFlags.append(inBuf[position + 3]) }
            // FLG bits 5-7 are reserved (RFC 1952: a decoder must reject them; zlib does).
            if ignoreReservedFlags && inBuf.count - position > 3 { inBuf[position + 3] &= 0x1F }
            var stream = z_stream()
            guard sluice_inflate_init_gzip(&stream) == Z_OK else { fatalError("inflateInit2 failed") }
            defer { inflateEnd(&stream) }
            stream.next_in = inBuf.baseAddress! + position
            stream.avail_in = UInt32(inBuf.count - position)
            var status: Int32 = Z_OK
            while true {
                let produced: Int = buffer.withUnsafeMutableBufferPointer { ob in
                    stream.next_out = ob.baseAddress
                    stream.avail_out = UInt32(outCapacity)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return outCapacity - Int(stream.avail_out)
                }
                out.append(contentsOf: buffer[..<produced])
                if status == Z_STREAM_END { break }
                if status != Z_OK { return (out, .failed, memberFlags) }  // data/stream error, or Z_BUF_ERROR: truncated
                if produced == 0 && stream.avail_in == 0 { return (out, .failed, memberFlags) }
            }
            position = inBuf.count - Int(stream.avail_in)
            if position == inBuf.count { return (out, .complete, memberFlags) }
            if inBuf[position] == 0 {
                // Zero padding to the end; anything after it, a member included, is garbage.
                while position < inBuf.count && inBuf[position] == 0 { position += 1 }
                return (out, position == inBuf.count ? .complete : .trailingGarbage, memberFlags)
            }
            if inBuf.count - position == 1 { return (out, .failed, memberFlags) }  // a member cut after one byte
            if inBuf[position] == 0x1F && inBuf[position + 1] == 0x8B { continue }
            return (out, .trailingGarbage, memberFlags)
        }
    }
}

// MARK: - The target

/// `bytes` as the framer prints it: a last line without "\n" gets one.
func terminated(_ bytes: [UInt8]) -> [UInt8] {
    bytes.isEmpty || bytes.last == 0x0A ? bytes : bytes + [0x0A]
}

func hex(_ bytes: [UInt8], limit: Int = 64) -> String {
    let shown = bytes.prefix(limit).map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
    return shown.joined(separator: " ") + (bytes.count > limit ? " … (\(bytes.count) bytes)" : "")
}

/// Runs the source through a framer; returns the framed bytes and the notes.
func frame(_ source: inout some ByteSource, targetSize: Int) -> ([UInt8], [SluiceError]) {
    var framer = LineFramer(targetSize: targetSize)
    var output: [UInt8] = []
    var notes: [SluiceError] = []
    while true {
        let (chunk, ended, failure) = framer.nextChunk(from: &source)
        check(chunk.isEmpty || chunk.last == 0x0A, "chunk does not end in a newline: \(hex(Array(chunk.suffix(16))))")
        if let failure {
            check(ended, "a failure note came with ended == false: \(failure)")
            notes.append(failure)
        }
        output += chunk
        if ended { break }
    }
    let last = framer.finish()
    check(last.isEmpty || last.last == 0x0A, "finish() did not end in a newline")
    check(!framer.hasPartialLine, "finish() left a partial line behind")
    output += last
    return (output, notes)
}

// SLUICE_FUZZ_ALLOW names for this target (see FuzzCheck.swift):
//   reserved-flags  sluice (ISA-L) accepts gzip headers with reserved FLG bits set;
//   split-header    a member header with FEXTRA/FNAME/FCOMMENT/FHCRC read in more than one
//                   piece fails (ISA-L's isal_inflate does not resume such headers): skip the
//                   packet-socket pass for inputs with such headers;
//   lenient         zlib rejects a stream but sluice decodes it without a .corruptInput note.
let lenientGzip = allowed.contains("lenient")

@_cdecl("LLVMFuzzerTestOneInput")
public func sluiceFuzzGzipFramer(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let fd = load(data, size)
    var prefixNotes: [SluiceError] = []
    guard let prefix = ChunkSource.readPrefix(fd: fd, name: "fuzz", notes: &prefixNotes) else {
        failCheck("reading the scratch file failed: \(prefixNotes)")
    }
    check(prefix == Array(input.prefix(prefix.count)), "readPrefix returned bytes that are not the input's")
    let isGzip = prefix.count >= 2 && prefix[0] == 0x1F && prefix[1] == 0x8B

    // The framer alone, on the raw bytes from a source that hands them out in uneven pieces,
    // with empty returns, ending with or without a note: a pipe's behaviour, deterministic.
    do {
        var source = PieceSource(input)
        let (output, notes) = frame(&source, targetSize: 16 + size % 7)
        check(notes.map(\.code) == source.endNote.map { [$0.code] } ?? [],
              "framer: passed on notes \(notes), the source gave \(String(describing: source.endNote))")
        check(output == terminated(input),
              "framer: framed output differs: got \(output.count) bytes \(hex(output)), want \(terminated(input).count)")
    }

    if !isGzip {
        // 16 is the smallest size LineFramer accepts: every boundary case comes up.
        let targetSize = [16, 64, 4096][size % 3]
        var source = PlainSource(fd: fd, name: "fuzz", prefix: prefix)
        let (output, notes) = frame(&source, targetSize: targetSize)
        check(notes.isEmpty, "file: plain input gave notes: \(notes)")
        check(source.consumedByteCount == size, "file: consumed \(source.consumedByteCount) of \(size) bytes")
        check(output == terminated(input),
              "file: plain output differs: got \(output.count) bytes \(hex(output)), want \(terminated(input).count)")
        return 0
    }

    let (expected, outcome, memberFlags) = zlibDecode(input, ignoreReservedFlags: allowed.contains("reserved-flags"))
    // Large outputs (a compression bomb) with tiny chunks would time out, not find bugs.
    let targetSize = expected.count > 1 << 20 ? 64 * 1024 : [16, 64, 4096][size % 3]

    // The file pass: readPrefix's one read gets everything (as `sluice file.gz`).
    var source = GzipSource(fd: fd, name: "fuzz", prefix: prefix)
    let (output, notes) = frame(&source, targetSize: targetSize)
    source.release()
    checkGzip(output, notes, expected, outcome, size: size, how: "file")

    // The socket pass: each read gets one piece (as from a pipe that trickles). With
    // SLUICE_FUZZ_ALLOW=split-header, skipped when a member header has optional fields.
    let optionalFields = memberFlags.contains { $0 & 0x1E != 0 }
    if !(allowed.contains("split-header") && optionalFields), let pieces = packetSocket(input) {
        var packetNotes: [SluiceError] = []
        let packetPrefix = ChunkSource.readPrefix(fd: pieces, name: "fuzz", notes: &packetNotes)!
        var source = GzipSource(fd: pieces, name: "fuzz", prefix: packetPrefix)
        let (output, notes) = frame(&source, targetSize: targetSize)
        let consumed = source.consumedByteCount
        source.release()
        close(pieces)
        checkGzip(output, notes, expected, outcome, size: size, how: "socket")
        if outcome == .complete {
            check(consumed == size, "socket: read \(consumed) of \(size) bytes")
        }
    }
    return 0
}

/// The checks against zlib's result; `how` names the way the input was read.
func checkGzip(_ output: [UInt8], _ notes: [SluiceError], _ expected: [UInt8], _ outcome: ZlibOutcome,
               size: Int, how: String) {
    check(notes.count <= 1, "\(how): more than one note: \(notes)")
    let note = notes.first
    switch outcome {
    case .complete:
        check(note == nil, "\(how): zlib decoded all \(size) bytes (\(expected.count) out) but sluice said: \(note!)")
        check(output == terminated(expected),
              "\(how): gzip output differs from zlib: got \(output.count) bytes, want \(terminated(expected).count)")
    case .trailingGarbage:
        check(note?.code == .warning, "\(how): trailing garbage: want a warning, sluice said: \(String(describing: note))")
        check(output == terminated(expected),
              "\(how): gzip output (before trailing garbage) differs from zlib: got \(output.count) bytes, want \(terminated(expected).count)")
    case .failed:
        if !lenientGzip {
            check(note?.code == .corruptInput,
                  "\(how): zlib rejects this stream (after \(expected.count) bytes out) but sluice said: \(String(describing: note)) (\(output.count) bytes out)")
        }
        // The framer adds "\n" after the last partial line: drop it before comparing.
        let decoded = output.isEmpty ? output : Array(output.dropLast())
        let common = min(decoded.count, expected.count)
        check(decoded[..<common] == expected[..<common],
              "\(how): sluice and zlib decoded different bytes before the damage (sluice \(decoded.count), zlib \(expected.count))")
    }
}

/// The read end of a SOCK_SEQPACKET pair holding `input` as pieces, the writing end closed:
/// every read returns one piece, then 0. Piece sizes come from a hash of the input, so a
/// run is reproducible; 1-byte pieces are common. nil if the socket cannot hold the pieces.
func packetSocket(_ input: [UInt8]) -> Int32? {
    var fds: [Int32] = [-1, -1]
    guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &fds) == 0 else { return nil }
    var bufferSize: Int32 = 4 << 20
    _ = setsockopt(fds[0], SOL_SOCKET, SO_SNDBUFFORCE, &bufferSize, socklen_t(MemoryLayout<Int32>.size))
    _ = setsockopt(fds[1], SOL_SOCKET, SO_RCVBUFFORCE, &bufferSize, socklen_t(MemoryLayout<Int32>.size))
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a
    for byte in input { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    var offset = 0
    var pieces = 0
    var ok = true
    while offset < input.count && ok {
        hash = hash &* 6364136223846793005 &+ 1442695040888963407
        let r = Int(truncatingIfNeeded: hash >> 33)
        var length = pieces >= 48 ? input.count - offset : [1, 1, 2, 3, 7, 10, 64, 300][r & 7] + (r >> 3) % 8
        length = min(length, input.count - offset)
        let sent = input.withUnsafeBytes { send(fds[0], $0.baseAddress! + offset, length, Int32(MSG_DONTWAIT)) }
        ok = sent == length
        offset += length
        pieces += 1
    }
    close(fds[0])
    if !ok { close(fds[1]); return nil }
    return fds[1]
}

/// A ByteSource serving `bytes` in pieces whose sizes come from a hash of the bytes: some
/// fills return nothing (without ending), some stop short of the buffer; the end may carry a
/// note (.corruptInput, .warning or none), as GzipSource's do.
struct PieceSource: ByteSource {
    let bytes: [UInt8]
    var offset = 0
    var state: UInt64
    var consumedByteCount: Int { offset }
    let endNote: SluiceError?
    var emptyReturns = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        var hash: UInt64 = 0x84222325cbf29ce4
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        state = hash
        switch hash % 3 {
        case 0: endNote = SluiceError(.corruptInput, place: "fuzz", "gzip data corrupt (fake)")
        case 1: endNote = SluiceError(.warning, place: "fuzz", "trailing garbage (fake)")
        default: endNote = nil
        }
    }

    mutating func fill(_ buffer: UnsafeMutableRawBufferPointer) -> FillResult {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        let r = Int(truncatingIfNeeded: state >> 33)
        if r % 5 == 0 && emptyReturns < 64 {
            emptyReturns += 1
            return FillResult(count: 0, ended: false)
        }
        let remaining = bytes.count - offset
        let want = [1, 2, 3, 7, 15, 64, buffer.count, buffer.count][(r >> 3) & 7]
        let n = min(want, buffer.count, remaining)
        bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: n) }
        offset += n
        if offset == bytes.count && (r >> 6) & 1 == 0 {
            return FillResult(count: n, ended: true, failure: endNote)
        }
        if n == 0 { return FillResult(count: 0, ended: true, failure: endNote) }
        return FillResult(count: n, ended: false)
    }
}
