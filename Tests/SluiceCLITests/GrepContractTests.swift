import Foundation
import Testing

/// Issue 9: grep's command line is the contract. Each flag alone and in the combinations people
/// type, on real logs (plain, gzip, and several files at once), against GNU grep run on the same
/// files (zgrep's way for compressed ones: each file decompressed and named): same bytes, same
/// exit status.
@Suite struct GrepContractTests {
    static let flagSets: [[String]] = [
        ["ERROR"], ["-n", "ERROR"], ["-H", "-n", "ERROR"], ["-h", "-n", "ERROR"], ["-Hn", "-i", "error"],
        ["-c", "ERROR"], ["-c", "-v", "INFO"], ["-l", "ERROR"], ["-L", "ERROR"], ["-lv", "INFO"], ["-Lc", "WARN"],
        ["-o", "ERROR"], ["-o", "-E", "[0-9]{4,}"], ["-ow", "INFO"], ["-on", "-i", "error"], ["-o", "-v", "INFO"],
        ["-c", "-o", "INFO"], ["-oE", "(INFO|WARN)[A-Z ]*"], ["-o", "-P", "\\d+(?=ms)"], ["-o", "[a-z]*"],
        ["-Z", "-l", "INFO"], ["-Zc", "INFO"], ["-Zn", "ERROR"], ["-ZL", "ERROR"],
        ["-m", "3", "-n", "INFO"], ["-m2", "-c", "INFO"], ["-m1", "-l", "INFO"], ["-m", "2", "-o", "[0-9][0-9]*"],
        ["-v", "-n", "INFO"], ["-x", "-n", "-E", ".*ERROR.*"], ["-w", "-c", "block"], ["-nw", "-i", "failed"],
        ["-n", "ERROR\\|WARN"], ["-c", "-E", "ERROR|WARN"], ["-F", "-n", "[error]"], ["-n", "^2015"], ["-c", "a\\{3,\\}"],
        ["-e", "ERROR", "-e", "WARN", "-n"], ["-n", "-e", ""], ["-c", "-e", ""], ["-on", "\\<[A-Z][a-z]*\\>"],
    ]

    static let inputSets: [(name: String, files: [String])] = [
        ("one log", [Paths.loghub("Hadoop_2k.log")]),
        ("four files: no final newline, CRLF, empty, gzip", [
            Paths.fixture("no-final-newline.log"), Paths.fixture("crlf.log"), Paths.fixture("empty.log"), Paths.fixture("app.log.gz"),
        ]),
        ("three loghub logs", [Paths.loghub("HDFS_2k.log"), Paths.loghub("OpenSSH_2k.log"), Paths.loghub("Zookeeper_2k.log")]),
    ]

    @Test("each grep flag, alone and combined, gives grep's bytes and status", arguments: flagSets)
    func flagMatchesGrep(flags: [String]) async throws {
        for inputs in Self.inputSets {
            let oracle = try await Oracle.grep(flags, inputs: inputs.files)
            let sluice = try await Sluice.run(flags + inputs.files)
            expectMatchesOracle(sluice, oracle, "sluice \(Shell.quote(flags)) on \(inputs.name)")
        }
    }

    @Test("standard input: --label, -H, -c and - among files")
    func standardInput() async throws {
        let log = Paths.loghub("Spark_2k.log")
        let other = Paths.loghub("Apache_2k.log")
        for arguments in [["-H", "INFO"], ["--label=spark", "-H", "-n", "INFO"], ["-c", "INFO", "-", other],
                          ["--label=in", "-l", "error", other, "-"], ["-L", "notice", "-", other]] {
            let grep = try await Shell.run("LC_ALL=C grep -a \(Shell.quote(arguments))", stdin: .file(log))
            let sluice = try await Sluice.run(arguments, stdin: .file(log))
            expectMatchesOracle(sluice, grep, "sluice \(Shell.quote(arguments)) < Spark_2k.log")
        }
    }

    @Test("-f FILE, -s, missing files and -q: grep's output and status")
    func patternFilesAndErrors() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let patterns = try directory.write("patterns", Array("ERROR\nWARN\\|FATAL\n".utf8))
        let empty = try directory.write("none", [])
        let log = Paths.loghub("Zookeeper_2k.log")
        let missing = directory.path("missing.log")
        for arguments in [["-f", patterns, log], ["-c", "-f", patterns, log], ["-f", empty, log], ["-v", "-c", "-f", empty, log],
                          ["-s", "ERROR", missing, log], ["-c", "ERROR", log, missing], ["-q", "ERROR", missing, log],
                          ["-sq", "NOTHING", missing, log], ["-l", "-s", "WARN", missing, log]] {
            let grep = try await Shell.run("LC_ALL=C grep -a \(Shell.quote(arguments))")
            let sluice = try await Sluice.run(arguments)
            expectMatchesOracle(sluice, grep, "sluice \(Shell.quote(arguments))")
            #expect(sluice.stderr.replacingOccurrences(of: "sluice: ", with: "grep: ") == grep.stderr,
                    "sluice \(Shell.quote(arguments)): stderr \(sluice.stderr), grep's \(grep.stderr)")
        }
    }

    @Test("usage mistakes in grep's words, with its usage lines")
    func usageMessages() async throws {
        for arguments in [["-k", "x"], ["--count=2", "x"], ["-E", "-F", "x"], ["-e"], ["-E", "a{1,2,3}"], ["-E", "(a"], ["a\\{1"],
                          ["[[:nope:]]"], ["[:space:]"], ["x\\"], ["-A", "x", "y"], ["-C", "-2", "y"],
                          ["-P", "(a"], ["-Pw", "(.)\\2"], ["-P", "a{2,1}"], ["-P", "[z-a]"]] {
            let grep = try await Shell.run("LC_ALL=C grep \(Shell.quote(arguments)) /dev/null")
            let sluice = try await Sluice.run(arguments + ["/dev/null"])
            #expect(sluice.status == grep.status, "sluice \(Shell.quote(arguments)): stderr \(sluice.stderr)")
            #expect(sluice.stderr.replacingOccurrences(of: "sluice", with: "grep") == grep.stderr,
                    "sluice \(Shell.quote(arguments)): stderr \(sluice.stderr), grep's \(grep.stderr)")
        }
    }

    static let contextFlagSets: [[String]] = [
        ["-C", "2", "ERROR"], ["-A", "3", "-n", "ERROR"], ["-B", "4", "-n", "WARN"], ["-2", "-H", "INFO"], ["-C1", "-v", "INFO"],
        ["-A1", "-B3", "-c", "ERROR"], ["-Hn", "-C2", "error"], ["-m", "2", "-A", "5", "-n", "INFO"], ["-o", "-C1", "-E", "ERROR|WARN"],
        ["-A0", "ERROR"], ["--group-separator=##", "-B1", "ERROR"], ["--no-group-separator", "-A2", "ERROR"], ["-C", "0", "-n", "x"],
        ["-B", "100", "-n", "block"], ["-A", "50", "-Z", "-n", "Exception"], ["-C3", "-w", "-i", "fail"],
        ["-B", "99999999999999999999", "-n", "Exception"],  // held lines across many chunks (HeldLines)
    ]

    @Test("context: -A, -B, -C, -NUM and separators as grep, across files and chunk boundaries", arguments: contextFlagSets)
    func contextMatchesGrep(flags: [String]) async throws {
        // grep itself on several plain files (its separators run across files); gzip alone.
        let plainSets = [[Paths.loghub("Hadoop_2k.log")],
                         [Paths.fixture("no-final-newline.log"), Paths.fixture("crlf.log"), Paths.fixture("empty.log"), Paths.loghub("HDFS_2k.log")],
                         [Paths.loghub("HDFS_2k.log"), Paths.loghub("OpenSSH_2k.log"), Paths.loghub("Zookeeper_2k.log")]]
        for files in plainSets {
            let grep = try await Shell.run("LC_ALL=C grep -a \(Shell.quote(flags + files))")
            expectMatchesOracle(try await Sluice.run(flags + files), grep, "sluice \(Shell.quote(flags)) on \(files.count) files")
            // Chunks of 4 KiB: context and separators decided across chunk boundaries.
            let small = try await Shell.run("SLUICE_CHUNK_KIB=4 \"$SLUICE\" \(Shell.quote(flags + files))")
            expectMatchesOracle(small, grep, "SLUICE_CHUNK_KIB=4 sluice \(Shell.quote(flags)) on \(files.count) files")
        }
        let gz = Paths.fixture("app.log.gz")
        let oracle = try await Oracle.grep(flags, inputs: [gz])
        let small = try await Shell.run("SLUICE_CHUNK_KIB=4 \"$SLUICE\" \(Shell.quote(flags + [gz]))")
        expectMatchesOracle(small, oracle, "SLUICE_CHUNK_KIB=4 sluice \(Shell.quote(flags)) app.log.gz")
    }

    @Test("--unordered with context: each group is lines that follow one another in the input, the lines grep prints")
    func unorderedContextGroupsAreTheInputs() async throws {
        // The context stage numbers lines itself only in input order; --unordered hands it
        // chunks as they are done, so the reader numbers them (before, a chunk done early was
        // numbered first, and the held end of a later chunk became a match's leading context).
        let directory = try TemporaryDirectory()
        let lines = (1...6000).map { $0 % 97 == 0 ? "line \($0) MATCH" : "line \($0)" }
        let file = try directory.write("numbered.log", Array((lines.joined(separator: "\n") + "\n").utf8))
        let grep = try await Shell.run("LC_ALL=C grep -B 2 -A 1 MATCH \(Shell.quote([file]))")
        let wanted = Set(String(decoding: grep.stdout, as: UTF8.self).split(separator: "\n").filter { $0 != "--" })
        for round in 0..<4 {
            let run = try await Shell.run("SLUICE_CHUNK_KIB=4 \"$SLUICE\" --unordered -j 2 -B 2 -A 1 MATCH \(Shell.quote([file]))")
            #expect(run.status == 0)
            let text = String(decoding: run.stdout, as: UTF8.self)
            var printed = Set<Substring>()
            for group in text.split(separator: "--\n") {
                let numbers = group.split(separator: "\n").map { line in
                    printed.insert(line)
                    return Int(line.split(separator: " ")[1]) ?? -1
                }
                #expect(numbers == Array((numbers.first ?? 0)..<((numbers.first ?? 0) + numbers.count)),
                        "round \(round): a group of lines that do not follow one another: \(numbers)")
            }
            #expect(printed == wanted, "round \(round): other lines than grep -B 2 -A 1 prints")
        }
    }

    @Test("-r, -R, --include, --exclude, --exclude-dir: grep's files, in grep's order, named as grep names them")
    func recursiveSearch() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let setup = """
            cd \(Shell.quote(directory.path)) && mkdir -p t/sub/deep t/skip t/.hidden && cd t
            cp \(Shell.quote(Paths.loghub("HDFS_2k.log"))) a.log; cp \(Shell.quote(Paths.loghub("Hadoop_2k.log"))) sub/b.txt
            cp \(Shell.quote(Paths.fixture("crlf.log"))) sub/deep/c.log; cp \(Shell.quote(Paths.fixture("no-final-newline.log"))) skip/d.log
            cp \(Shell.quote(Paths.fixture("empty.log"))) .hidden/e.log; ln -s a.log link.log; ln -s sub linkdir
            """
        _ = try await Shell.output(setup)
        let root = directory.path + "/t"
        for arguments in [["-r", "ERROR"], ["-r", "ERROR", "."], ["-rn", "ERROR", "sub"], ["-rc", "INFO"], ["-rl", "ERROR"], ["-rL", "WARN"],
                          ["-R", "ERROR"], ["-R", "ERROR", "linkdir", "link.log"], ["-r", "ERROR", "link.log"], ["-r", "ERROR", "a.log"],
                          ["-r", "--include=*.log", "ERROR"], ["-r", "--exclude=*.txt", "-c", "ERROR"], ["-r", "--exclude-dir=skip", "-l", "."],
                          ["-rh", "-m1", "INFO"], ["-r", "-C1", "disk"], ["--exclude=a*", "ERROR", "a.log", "sub/b.txt"], ["-rZl", "INFO", "sub", "skip"],
                          // GNU grep's include-exclude: the last glob that matches decides, else the first's kind;
                          // operands also by their parts after a '/'; --exclude-dir=DIR/ is DIR.
                          ["-rl", "--exclude=Rumpel", "--include=a*", "--exclude=a*", "."], ["-rl", "--exclude-dir=sub/", "."],
                          ["-rl", "--include=*.txt", "--exclude=b*", "."], ["-l", "--include=sub/b.txt", ".", "a.log", "sub/b.txt"],
                          ["-l", "--exclude=b.txt", ".", "a.log", "sub/b.txt"], ["-rl", "--exclude=*.log", "--include=c*", "."],
                          // Trailing slashes, as fts trims them.
                          ["-rl", "ERROR", "sub//", "./sub///", ".//"], ["-rc", "ERROR", "sub/deep/"],
                          // --exclude-dir against an operand as typed: `sub/` and `./` are searched.
                          ["-rl", "--exclude-dir=sub", "ERROR", "sub/", "./sub/deep/"], ["-rl", "--exclude-dir=.", "ERROR", "./"],
                          ["-rl", "--exclude-dir=deep", "ERROR", "sub/deep", "sub"]] {
            let grep = try await Shell.run("cd \(Shell.quote(root)) && LC_ALL=C grep -a \(Shell.quote(arguments))")
            let sluice = try await Shell.run("cd \(Shell.quote(root)) && \"$SLUICE\" \(Shell.quote(arguments))")
            expectMatchesOracle(sluice, grep, "sluice \(Shell.quote(arguments))")
        }
        // -r skips a FIFO met while recursing (grep reads devices only when named, or under -R).
        _ = try await Shell.output("mkfifo \(Shell.quote(root + "/sub/fifo"))")
        let withFifo = try await Shell.run("cd \(Shell.quote(root)) && \"$SLUICE\" -rc ERROR sub", timeout: .seconds(10))
        let grepFifo = try await Shell.run("cd \(Shell.quote(root)) && LC_ALL=C grep -rc ERROR sub", timeout: .seconds(10))
        expectMatchesOracle(withFifo, grepFifo, "sluice -rc ERROR sub (with a FIFO in it)")
        // A link back up the tree: grep's warning, once, and the walk ends (it ran until memory ran out).
        _ = try await Shell.output("rm \(Shell.quote(root + "/sub/fifo")); ln -s .. \(Shell.quote(root + "/sub/deep/up"))")
        for arguments in [["-R", "-c", "ERROR", "sub"], ["-r", "-c", "ERROR", "sub"]] {
            let grep = try await Shell.run("cd \(Shell.quote(root)) && LC_ALL=C grep -a \(Shell.quote(arguments))")
            let sluice = try await Shell.run("cd \(Shell.quote(root)) && \"$SLUICE\" \(Shell.quote(arguments))", timeout: .seconds(20))
            expectMatchesOracle(sluice, grep, "sluice \(Shell.quote(arguments)) with a link loop")
            #expect(sluice.stderr.replacingOccurrences(of: "sluice: ", with: "grep: ") == grep.stderr, "\(sluice.stderr)")
        }
        let empty = try directory.makeSubdirectory("empty")
        let none = try await Shell.run("cd \(Shell.quote(empty)) && \"$SLUICE\" -r x", stdin: .heldOpen, timeout: .seconds(10))
        #expect(!none.timedOut && none.status == 1, "-r in an empty folder read stdin or found something")
    }

    @Test("--color=always writes grep's escapes byte for byte, with GREP_COLORS", arguments: [
        "", "ms=04;32:fn=01;34:ln=33:se=35", "mt=7:ne", "ms=:fn=", "mc=01;33",
    ])
    func colorMatchesGrep(grepColors: String) async throws {
        let files = [Paths.loghub("HDFS_2k.log"), Paths.fixture("crlf.log"), Paths.fixture("no-final-newline.log")]
        for flags in [["ERROR"], ["-n", "-i", "error"], ["-o", "-E", "[0-9]+"], ["-c", "INFO"], ["-l", "WARN"], ["-L", "WARN"],
                      ["-C1", "-n", "ERROR"], ["-v", "-A1", "INFO"], ["-h", "-w", "block"], ["-Z", "-n", "ERROR"], ["-E", "x*"]] {
            let arguments = ["--color=always"] + flags
            let environment = "GREP_COLORS=\(Shell.quote(grepColors))"
            let grep = try await Shell.run("\(environment) LC_ALL=C grep -a \(Shell.quote(arguments + files))")
            let sluice = try await Shell.run("\(environment) \"$SLUICE\" \(Shell.quote(arguments + files))")
            expectMatchesOracle(sluice, grep, "GREP_COLORS='\(grepColors)' sluice \(Shell.quote(arguments))")
            let single = try await Shell.run("\(environment) \"$SLUICE\" \(Shell.quote(arguments + [files[0]]))")
            let grepSingle = try await Shell.run("\(environment) LC_ALL=C grep -a \(Shell.quote(arguments + [files[0]]))")
            expectMatchesOracle(single, grepSingle, "GREP_COLORS='\(grepColors)' sluice \(Shell.quote(arguments)) one file")
        }
        // The deprecated GREP_COLOR: the match colour unless GREP_COLORS sets it, with grep's
        // warning while it has an effect (GNU grep's color-colors).
        for legacy in ["GREP_COLOR=36", "GREP_COLOR=36 GREP_COLORS=ln=35", "GREP_COLOR=36 GREP_COLORS=ms=31", "GREP_COLOR=36 GREP_COLORS=mt=32",
                       "GREP_COLOR='1;32'", "GREP_COLOR=3x6"] {
            let grep = try await Shell.run("unset GREP_COLORS; \(legacy) LC_ALL=C grep --color=always -n ERROR \(Shell.quote(files[0]))")
            let sluice = try await Shell.run("unset GREP_COLORS; \(legacy) \"$SLUICE\" --color=always -n ERROR \(Shell.quote(files[0]))")
            expectMatchesOracle(sluice, grep, legacy)
            #expect(sluice.stderr.replacingOccurrences(of: "sluice:", with: "grep:") == grep.stderr, "\(legacy): \(sluice.stderr)")
        }
        let never = try await Sluice.run(["--color=never", "-n", "ERROR", files[0]])
        let auto = try await Sluice.run(["--color", "-n", "ERROR", files[0]])  // stdout is a pipe: no colour
        #expect(!never.stdout.contains(0x1B) && !auto.stdout.contains(0x1B) && never.stdout == auto.stdout)
    }

    @Test("-l and -m on a pipe that stays open go on with the next file at once, as grep")
    func skipAnInputStillBeingWritten() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let log = Paths.loghub("Apache_2k.log")
        for arguments in [["-l", "foo", "-", log], ["-m1", "-c", "foo", "-", log], ["-m1", "-A1", "foo", "-", log]] {
            // A process substitution: the shell does not wait for the writer, which holds the pipe open.
            let fifo = Shell.quote(directory.path + "/in-\(arguments[0])")
            let elapsed = directory.path + "/ms-\(arguments[0])"
            // The writer holds the pipe open 6 s; sluice must be done with it long before.
            let script = "mkfifo \(fifo); (echo foo; echo foo; exec sleep 6) > \(fifo) 2>/dev/null < /dev/null & "
                + "s=$(date +%s%N); \"$SLUICE\" \(Shell.quote(arguments)) < \(fifo); st=$?; "
                + "echo $(( ($(date +%s%N) - s) / 1000000 )) > \(Shell.quote(elapsed)); exit $st"
            let grepScript = "(echo foo; echo foo; sleep 1) | LC_ALL=C grep \(Shell.quote(arguments))"
            let sluice = try await Shell.bash(script, timeout: .seconds(20))
            let grep = try await Shell.run(grepScript)
            let milliseconds = Int(String(decoding: try readBytes(elapsed), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 99_999
            #expect(milliseconds < 4000, "sluice \(Shell.quote(arguments)) waited \(milliseconds) ms for the writer to finish")
            expectMatchesOracle(sluice, grep, "sluice \(Shell.quote(arguments)) on a pipe held open")
        }
    }

    @Test("grep's corner cases: a folder operand, -o -v with context, nothing left to read, nothing to match, BZh text")
    func cornerCases() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let setup = """
            cd \(Shell.quote(directory.path)) && mkdir d && printf 'foo\\nbar\\nfoo\\nbaz\\n' > ctx.txt
            printf 'BZh9 is a tag\\nerror here\\n' > bz.txt && printf 'x foo\\n' > small.txt && printf 'abab cdcd\\nxyxy\\n' > br.txt
            printf 'a1\\na2\\nb\\n' > am.txt && python3 -c "print('x'*200+'y')" > bt.txt
            """
        _ = try await Shell.output(setup)
        for arguments in [["-c", "foo", "d", "small.txt"], ["-L", "zzz", "d", "small.txt"], ["-A1", "-v", "-o", "foo", "ctx.txt"],
                          ["-B1", "-v", "-o", "-n", "foo", "ctx.txt"], ["--exclude=*.txt", "foo", "small.txt"],
                          ["-f", "/dev/null", "-c", "small.txt"], ["-v", "", "small.txt", "missing.log"], ["-m0", "-L", "foo", "small.txt", "ctx.txt"],
                          ["error", "bz.txt"], ["-r", "foo", "-"], ["--ma", "1", "foo", "ctx.txt"], ["--fixed-r", "foo", "ctx.txt"],
                          // Numbers as grep reads them: blanks and a sign before, past Int's range the largest.
                          ["-A", "99999999999999999999", "bar", "ctx.txt"], ["-B", "99999999999999999999", "baz", "ctx.txt"],
                          ["-m", " 1", "foo", "ctx.txt"], ["-m", "+1", "foo", "ctx.txt"], ["-A", " +1", "bar", "ctx.txt"],
                          ["-m", "1k", "foo", "ctx.txt"], ["-A", "0x1", "foo", "ctx.txt"], ["-C", "-1", "foo", "ctx.txt"],
                          // -o with back-references in two patterns: each keeps its own group numbers.
                          ["-o", "-E", "-e", "(ab)\\1", "-e", "(cd)\\1", "-e", "xy", "br.txt"],
                          // The second new-user trial's: -o prints nothing of a context line, even a
                          // matching one after -m; -v with an empty pattern beside another still reads
                          // the files; the empty pattern keeps its context; a DFA workspace that grows.
                          ["-o", "-m1", "-A1", "a", "am.txt"], ["-o", "-n", "-m1", "-A1", "a", "am.txt"],
                          ["-c", "-v", "-e", "zzz", "-e", "", "ctx.txt", "small.txt"], ["-A1", "", "ctx.txt", "small.txt"],
                          ["-m1", "-A1", "", "ctx.txt"], ["-E", "-c", "(x+x+)+[^xy]", "bt.txt"]] {
            let grep = try await Shell.run("cd \(Shell.quote(directory.path)) && LC_ALL=C grep \(Shell.quote(arguments)) < ctx.txt")
            let sluice = try await Shell.run("cd \(Shell.quote(directory.path)) && \"$SLUICE\" \(Shell.quote(arguments)) < ctx.txt",
                                             timeout: .seconds(10))
            expectMatchesOracle(sluice, grep, "sluice \(Shell.quote(arguments))")
        }
        // `-ERROR` (for `-e ERROR`) is -E -R -R -O R: grep refuses -O; sluice's -O must begin
        // its own word, so no file named R is written.
        let typo = try await Shell.run("cd \(Shell.quote(directory.path)) && \"$SLUICE\" -ERROR small.txt", timeout: .seconds(10))
        #expect(typo.status == 2 && typo.stderr.contains("invalid option -- 'O'"), "\(typo.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/R"))
    }

    /// Arguments are bytes: a pattern, a pattern file, a file name or a label that is not
    /// UTF-8 means those bytes (read as Swift strings, `caf\xe9` had become U+FFFD and
    /// matched nothing; `foo\xffbar` could not be opened).
    @Test("patterns, pattern files, file names and labels that are not UTF-8 are bytes, as grep reads them")
    func argumentsAreBytes() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let setup = """
            printf 'caf\\xe9\\nCAF\\xe9 x\\ncafe\\ncaf\\xc3\\xa9\\n' > in
            cp in $'foo\\xffbar' && mkdir d && cp in $'d/x\\xfey' && printf 'caf\\xe9\\nzz\\n' > pats && cp pats $'pat\\xe9'
            mkdir inc && echo cafe > $'inc/caf\\xe9.log' && echo cafe > inc/other.log
            """
        try await Self.makeFiles(setup, in: directory)
        let many = (1...9).map { "-e w\($0)" }.joined(separator: " ")  // past the Aho-Corasick threshold
        let commands = [
            "PROG $'caf\\xe9' in", "PROG -F $'caf\\xe9' in", "PROG -i $'caf\\xe9' in", "PROG -E $'ca(f)\\xe9' in",
            "PROG -o $'a.\\xe9' in", "PROG -x $'caf\\xe9' in", "PROG -w -i $'caf\\xe9' in", "PROG -P $'caf\\xe9' in",
            "PROG -c $'[\\xe9]' in", "PROG -f pats in", "PROG -F \(many) -e $'caf\\xe9' in", "PROG -F -w \(many) -e $'caf\\xe9' in",
            "PROG -c caf $'foo\\xffbar' in", "PROG -r caf d", "PROG -H --label=$'l\\xe9' caf < in", "PROG -l cafe in $'foo\\xffbar'",
            // A -f file and --include/--exclude globs by their bytes.
            "PROG -f $'pat\\xe9' in", "PROG -r --include=$'caf\\xe9*' cafe inc", "PROG -r --exclude=$'caf\\xe9*' cafe inc",
            "PROG -r --exclude-dir=$'d\\xe9' cafe inc",
            // The message names a missing file by its bytes.
            "{ PROG caf in $'miss\\xff'; echo \"status $?\"; } 2>&1 | sed 's/^[a-z]*: /P: /'",
        ]
        try await Self.expectGrepsOutput(commands, in: directory)
    }

    /// grep's `-d ACTION` and `-D ACTION` (refused before): directories and devices named as
    /// operands skipped or read, the last of `-d`, `-r`, `-R` winning, FIFOs never opened
    /// under `-D skip`.
    @Test("-d read|skip|recurse and -D read|skip as grep")
    func directoriesAndDevices() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let made = try await Shell.bash("cd \(Shell.quote(directory.path)) && mkdir d && echo x > d/f && echo x > f && mkfifo ff")
        try #require(made.status == 0, "setup: \(made.stderr)")
        for arguments in [["-d", "skip", "x", "d"], ["-d", "skip", "x", "d", "f"], ["-d", "skip", "-r", "x", "d"], ["-r", "-d", "skip", "x", "d"],
                          ["-d", "recurse", "x", "d"], ["-d", "read", "x", "d"], ["-D", "skip", "x", "/dev/null", "f"],
                          ["-D", "skip", "x", "ff", "f"], ["-D", "skip", "x", "ff"], ["-D", "skip", "-R", "x", "."], ["-d", "skip", "x"],
                          ["--directories=skip", "-c", "x", "d", "f"], ["-D", "foo", "x", "f"], ["-d", "foo", "x", "f"]] {
            let cd = "cd \(Shell.quote(directory.path)) && "
            let grep = try await Shell.run(cd + "LC_ALL=C grep \(Shell.quote(arguments)) < f", timeout: .seconds(10))
            let sluice = try await Shell.run(cd + "\"$SLUICE\" \(Shell.quote(arguments)) < f", timeout: .seconds(10))
            expectMatchesOracle(sluice, grep, "sluice \(Shell.quote(arguments))")
            #expect(sluice.stderr.replacingOccurrences(of: "sluice", with: "grep") == grep.stderr, "\(arguments): \(sluice.stderr)")
        }
    }

    /// grep names a refused pattern of a -f file by `FILE:LINE: `, reports every refused
    /// pattern (each once), and -e patterns without a prefix (GNU grep's filename-lineno test).
    @Test("every refused pattern reported, -f lines as FILE:LINE, as grep")
    func refusedPatternsNamedByFileAndLine() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let made = try await Shell.bash("cd \(Shell.quote(directory.path)) && printf '1\\n2[[\\n3\\n4[[\\n' > g && "
            + "printf '5\\n6\\n7[[\\n' > h && printf '1[[\\n\\n3[[\\n\\n5[[\\n' > g2 && printf '1[[\\n\\n\\n4[[\\n\\n6[[\\n' > h2")
        try #require(made.status == 0, "setup: \(made.stderr)")
        for arguments in [["-f", "g"], ["-f", "g", "-f", "h"], ["-f", "g2", "-f", "h2"], ["-e", "1[[", "-e", "2[["], ["-E", "-f", "g"],
                          ["-e", "1[[", "-e", "1[["], ["-F", "-f", "g"], ["-e", "a\\{1", "-f", "h"]] {
            let cd = "cd \(Shell.quote(directory.path)) && "
            let grep = try await Shell.run(cd + "LC_ALL=C grep \(Shell.quote(arguments)) /dev/null")
            let sluice = try await Shell.run(cd + "\"$SLUICE\" \(Shell.quote(arguments)) /dev/null")
            expectMatchesOracle(sluice, grep, "sluice \(Shell.quote(arguments))")
            #expect(sluice.stderr.replacingOccurrences(of: "sluice", with: "grep") == grep.stderr, "\(arguments): \(sluice.stderr)")
        }
    }

    /// GNU grep's in-eq-out-infloop: reading the file stdout appends to is refused (exit 2)
    /// unless at most a name, a count or one line is written per input (-q, -c, -l, -L, -m1).
    @Test("input that is also the output: refused as grep refuses it, and let through where grep lets it")
    func inputIsAlsoTheOutput() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        for operand in ["out", "-", ""] {
            for flags in [[], ["-q"], ["-m1"], ["-l"], ["-L"], ["-c"], ["-2"]] {
                var statuses: [Int32] = []
                for program in ["grep", "\"$SLUICE\""] {  // Shell.bash runs with LC_ALL=C
                    let made = try await Shell.bash("cd \(Shell.quote(directory.path)) && printf '%0200d\\n' 0 > out")
                    try #require(made.status == 0)
                    let run = try await Shell.bash("cd \(Shell.quote(directory.path)) && timeout 10 \(program) \(Shell.quote(flags)) 0 \(operand) < out >> out",
                                                   timeout: .seconds(20))
                    statuses.append(run.status)
                    if run.status == 2 {
                        #expect(run.stderr.hasSuffix(": input file is also the output\n"), "\(program) \(flags) \(operand): \(run.stderr)")
                    }
                }
                #expect(statuses[0] == statuses[1], "\(flags) \(operand): grep \(statuses[0]), sluice \(statuses[1])")
            }
        }
    }

    /// grep's `-T` (refused before): a tab after a line's head (none for an empty line), line
    /// numbers right-aligned to the digits of the file's size plus one, or 19 for a pipe and
    /// a compressed file (as zgrep's grep sees it), with context, -o and colour (GNU grep's
    /// initial-tab).
    @Test("-T as grep: tabs after heads, line numbers aligned by the input's size")
    func initialTab() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await Self.makeFiles("printf 'x\\n\\n' > in && printf '%s\\n' a b c d e f g h i j > in1 && seq 1 20000 > big && gzip -k in1",
                                 in: directory)
        try await Self.expectGrepsOutput( ["PROG -T '^' in", "PROG -T '^' in /dev/null", "PROG -Tn a in1 /dev/null", "PROG -Tn 1 big", "PROG -THo '[a-c]' in1",
                        "PROG -Tn -C1 e in1", "PROG -THn --color=always e in1", "PROG -Tc a in1 in", "PROG -T -n -A1 x in",
                        "cat in1 | PROG -Tn a", "PROG -Tn a < in1", "PROG -Tn -B2 999 big"], in: directory)
        let zgrep = try await Shell.bash("cd \(Shell.quote(directory.path)) && zgrep -Tn e in1.gz")
        let sluice = try await Shell.bash("cd \(Shell.quote(directory.path)) && \"$SLUICE\" -Tn e in1.gz")
        expectMatchesOracle(sluice, zgrep, "-Tn e in1.gz")
    }

    /// The review's unsound keys and prefilters: a literal a -P pattern does not need (text
    /// after `(*ACCEPT)`, a `{` that is no quantifier before a top-level `|`, `(*UTF)` with
    /// -i), alone (the prefilter) and among 8 patterns (the keyed matcher); and an empty -F
    /// pattern among many with -i, -w or -x (it fell back to one PCRE2 alternation, too large).
    @Test("literals a pattern does not need are never required, alone or among many")
    func unneededLiteralsAreNotRequired() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let filler = (1...7).map { "-e zzfiller\($0)q" }.joined(separator: " ")
        let made = try await Shell.bash("cd \(Shell.quote(directory.path)) && printf 'abc\\nabcdefg\\nqq}\\nfoobar{x\\n\\xe2\\x84\\xaaelvin\\n\\nword\\n' > in "
            + "&& (seq 1 20000 | sed 's/^/w/'; echo) > words && (seq 1 50 | sed 's/^/w/'; echo x; echo; echo W3) > text")
        try #require(made.status == 0, "setup: \(made.stderr)")
        // grep -P takes one pattern: among fillers that match nothing, sluice must select what
        // grep -P selects with the pattern alone.
        let pairs: [(grep: String, sluice: String)] = [
            ("-P 'abc(*ACCEPT)defg' in", "-P 'abc(*ACCEPT)defg' in"), ("-P 'abc(*ACCEPT)defg' in", "-P \(filler) -e 'abc(*ACCEPT)defg' in"),
            ("-P 'foobar{x|qq}' in", "-P 'foobar{x|qq}' in"), ("-P 'foobar{x|qq}' in", "-P \(filler) -e 'foobar{x|qq}' in"),
            ("-P -i '(*UTF)kelvin' in", "-P -i '(*UTF)kelvin' in"), ("-P -i '(*UTF)kelvin' in", "-P -i \(filler) -e '(*UTF)kelvin' in"),
            ("-c -F -x -f words text", "-c -F -x -f words text"), ("-c -F -i -f words text", "-c -F -i -f words text"),
            ("-c -F -w -f words text", "-c -F -w -f words text"), ("-c -F -w -i -f words text", "-c -F -w -i -f words text"),
        ]
        for (grepArguments, sluiceArguments) in pairs {
            let cd = "cd \(Shell.quote(directory.path)) && "
            let grep = try await Shell.bash(cd + "grep " + grepArguments)
            let sluice = try await Shell.bash(cd + "\"$SLUICE\" " + sluiceArguments)
            expectMatchesOracle(sluice, grep, sluiceArguments)
        }
    }

    /// -o with many literal patterns, some prefixes of others: the longest at each place, as
    /// grep's leftmost-longest (the literals run longest first, in groups of 100).
    @Test("-o with 150 literal patterns that are prefixes of each other: grep's matches")
    func onlyMatchingManyLiterals() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await Self.makeFiles("seq 1 150 | sed 's/^/w/' > pats && (for i in 1 2 3; do echo 'w1 w12 w123 w150x W15 xw149w1 w1w2w3 w99999'; "
                                 + "done; seq 1 3000 | sed 's/^/w/' | paste -sd' ') > text", in: directory)
        try await Self.expectGrepsOutput(["-o -F", "-o", "-o -i -F", "-o -n -F", "-o -w -F", "-c -o -F"].map { "PROG \($0) -f pats text" },
                                         in: directory)
    }

    /// Groups nested past GNU grep's stack (30,000 open parentheses) give its "stack overflow"
    /// alone; 10,000 are still unmatched (GNU grep's test stack-overflow).
    @Test("deeply nested groups: grep's words and status")
    func deepNesting() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await Self.makeFiles("printf %010000d 0 | tr 0 '(' > p10k && printf %030000d 0 | tr 0 '(' > p30k "
                                 + "&& sed 's/(/\\\\(/g' p30k > b30k && echo x > in", in: directory)
        try await Self.expectGrepsOutput(["-E -f p10k", "-E -f p30k", "-f b30k"].map { "PROG \($0) in 2>err; echo $?; sed 's/^sluice:/grep:/' err" },
                                         in: directory)
    }

    /// grep's binary-file rule (its default, `--binary-files=binary`): no line from grep's
    /// 96 KiB buffer holding a NUL byte on, but `NAME: binary file matches` on stderr at the
    /// first one selected there (exit 0); `-c`, `-l`, `-q` unchanged; `-a` prints every line.
    /// GNU grep's tests binary-file-matches, pcre-count and null-byte's large file. The files
    /// are regular files, as grep reads them (its first buffer is exactly 96 KiB).
    @Test("binary files: grep's 'binary file matches', its buffer, -a and --binary-files=text")
    func binaryFiles() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await Self.makeFiles("printf 'a\\0' > nul1 && printf 'x a\\nb\\0 a\\nc a\\n' > nul2 && printf 'a\\nb\\n' > text "
                                 + "&& (echo xxx && yes yyy | head -n 100000 && printf 'z\\n\\0') > big "
                                 + "&& printf 'a\\n%032768d\\nb\\0\\n%032768d\\na\\n' 0 0 > pc "
                                 + "&& (yes 'line a' | head -n 12000 && printf 'a\\0a\\n' && yes 'line a' | head -n 100) > mid "
                                 + "&& printf 'x\\\\n%040db\\\\n' 0 | tr 0 a > pc2 && printf 'a\\\\0b\\\\0c\\\\0\\\\n' > e6 && gzip -c nul2 > nul2.gz", in: directory)
        var commands: [String] = []
        for flags in ["", "-s", "-n", "-o", "-c", "-l", "-L", "-q", "-v", "-m 1", "-H", "-n -C 1", "-a", "--binary-files=text", "--binary-files=binary"] {
            commands.append("PROG \(flags) a nul1 nul2 text")
        }
        commands += ["PROG xxx big", "PROG -E 'xxx|z' big", "PROG -n -E 'xxx|z' big", "PROG -c -E 'xxx|z' big", "PROG -a -E 'xxx|z' big",
                     "PROG -P a pc", "PROG -Pc a pc", "PROG -n a mid", "PROG -c a mid", "PROG -v line mid",
                     "PROG '' nul2 text", "PROG -c '' e6", "PROG -s -P '^((a+)*)+$' pc2"]
        try await Self.expectGrepsOutput(commands.map { "\($0) 2>&1 | sed 's/^[^ :]*sluice:/grep:/'; echo \"${PIPESTATUS[0]}\"" }, in: directory)
        // zgrep decompresses into grep's standard input: the same rule, named as zgrep names it.
        let zgrep = try await Shell.bash("cd \(Shell.quote([directory.path])) && zgrep -n a nul2.gz 2>&1; echo $?")
        let sluice = try await Shell.bash("cd \(Shell.quote([directory.path])) && \"$SLUICE\" -n a nul2.gz 2>&1 | sed 's/^[^ :]*sluice:/grep:/'; echo \"${PIPESTATUS[0]}\"")
        #expect(sluice.stdoutText == zgrep.stdoutText)
    }

    /// grep's `-I` (`--binary-files=without-match`, a new user's habit: `grep -rIl`): from grep's
    /// buffer holding a file's first NUL byte, the file is read no further and counts as having
    /// no selected line, though lines printed from its earlier buffers stay printed (grep -I on
    /// `big` prints its first 96 KiB's lines and exits 1); `-c` says 0 and `-L` lists it, unless
    /// `-l`, `-L`, `-q` or `-m` was done with the file before (then grep never reads that far).
    @Test("-I and --binary-files=without-match, as grep: per file, with -c -l -L -q -m -n -C and -r")
    func binaryFilesWithoutMatch() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await Self.makeFiles("printf 'a\\0' > nul1 && printf 'x a\\nb\\0 a\\nc a\\n' > nul2 && printf 'a\\nb\\n' > text && printf 'b\\0\\n' > none "
                                 + "&& (yes 'line a' | head -n 20000 && printf 'x\\0y\\na z\\n') > big "
                                 + "&& (yes 'line b' | head -n 20000 && printf 'a\\0\\n') > late "
                                 + "&& (printf 'x\\0\\n' && yes 'line b' | head -n 400000 && echo 'a end') > hdr "
                                 + "&& (echo 'a first' && yes 'line b' | head -n 30000 && printf 'a\\0\\n') > early "
                                 + "&& mkdir -p tree/sub && cp nul2 text tree && cp big late tree/sub", in: directory)
        var commands: [String] = []
        for flags in ["-I", "--binary-files=without-match", "-I -c", "-I -l", "-I -L", "-I -q", "-I -n -H", "-I -v", "-I -c -v", "-I -m 1", "-I -c -m 2",
                      "-I -o", "-I -n -C 1", "-a -I", "-I -a", "-I -l -v", "-I -L -v"] {
            commands.append("PROG \(flags) a nul1 nul2 text none big late | md5sum")
            commands.append("PROG \(flags) a big")
            commands.append("PROG \(flags) a none text")
        }
        commands += ["PROG -rI a tree | sort", "PROG -rIl a tree | sort", "PROG -rIc a tree | sort", "PROG -I -A 2 'line a' big | tail -n 3",
                     "PROG -I -c b late", "PROG -I -n a late text",
                     // A NUL in the first buffer, the match megabytes later (past the first chunk).
                     // -m reached under context: grep read no further.
                     "PROG -cI a hdr", "PROG -lI a hdr text", "PROG -I -m1 -A1 a early", "PROG -I -m1 -C1 -c a early",
                     "PROG -I -m2 -A1 a early | tail -n 2",
                     // -q: the lines from the binary buffer on are not selected, one before it is.
                     "PROG -qI a hdr", "PROG -qI a hdr text", "PROG -qI a early", "PROG -qI a late", "PROG -qvI 'line' hdr",
                     "PROG -qI a - text < hdr", "PROG -cI a - text < hdr"]
        try await Self.expectGrepsOutput(commands.map { "\($0) 2>&1 | sed 's/^[^ :]*sluice:/grep:/'; echo \"${PIPESTATUS[0]}\"" }, in: directory)
    }

    /// As grep: with standard output on /dev/null only the exit status can matter, so each
    /// input is read up to its first selected line (grep's `dev_null_output`), with the exit
    /// status and messages of a full run: a FIFO that goes on after a match is left at once;
    /// standard input is read to its end, as grep drains it.
    @Test("standard output on /dev/null: grep's exit status and messages, each input read up to its first selected line")
    func standardOutputOnDevNull() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await Self.makeFiles("printf 'a\\nb\\n' > ab && printf 'b\\n' > b && : > empty && printf 'a\\0\\n' > bin", in: directory)
        var commands: [String] = []
        for flags in ["", "-c", "-l", "-L", "-v", "-q", "-m 1", "-C 2", "-o", "-n -H", "-I", "-s"] {
            commands.append("PROG \(flags) a ab b empty bin missing > /dev/null 2> err; echo $?; sed 's/^[^ :]*sluice:/grep:/' err")
            commands.append("PROG \(flags) x ab b empty > /dev/null; echo $?")
        }
        commands.append("rm -f fifo; mkfifo fifo; (echo a; exec sleep 40) > fifo 2>/dev/null & w=$!; PROG a fifo > /dev/null; echo $?; kill -9 $w")
        commands.append("rm -f fifo; mkfifo fifo; (echo b; echo a; exec sleep 40) > fifo 2>/dev/null & w=$!; PROG -c a ab fifo > /dev/null; echo $?; kill -9 $w")
        // Standard input is read to its end: its writer is not cut off (no SIGPIPE).
        commands.append("(echo a; sleep 0.3; echo b) | PROG a > /dev/null; echo ${PIPESTATUS[@]}")
        commands.append("(echo a; sleep 0.3; echo b) | PROG -c a - ab > /dev/null; echo ${PIPESTATUS[@]}")
        try await Self.expectGrepsOutput(commands, in: directory)
    }

    /// The NUL test done by the search on its way (`sluice_nul_watch_begin`), in the CLI: a NUL
    /// in the part of a selected line after the match (more than the 64 bytes a search step
    /// reads past it, so no search passes it), before the
    /// match in the same line, in the first bytes (before the needle's rare byte), in the last
    /// bytes without a newline, where no line matches, or far into a file: each file is binary
    /// where grep says, for a literal, `-F`, a regex with a required literal, `-i`, `-c`, `-n`,
    /// `-o` and `-v`. (Files within grep's first 96 KiB buffer, where its rule is exact; the
    /// property test `theSearchTestsForNulOnItsWay` puts a NUL at every offset.)
    @Test("binary files found by the search's own NUL test: every place a NUL can hide")
    func binaryFilesFoundOnTheWay() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let lines = "yes 'plain text line' | head -n 300"
        try await Self.makeFiles("printf 'ERROR one\\nok\\n' > base "
                                 + "&& { cat base; printf 'ERROR two %0100d \\0 rest\\n' 0; \(lines); } > after "
                                 + "&& { cat base; printf 'x\\0 ERROR three\\n'; \(lines); } > before "
                                 + "&& { \(lines); printf '\\0\\n'; \(lines); echo ERROR four; } > nomatch "
                                 + "&& { cat base; \(lines); printf 'ok\\0'; } > tail "
                                 + "&& { for i in $(seq 1 15); do \(lines); echo ERROR $i; done; printf 'ERROR \\0\\n'; } > late "
                                 + "&& { printf '\\0ERROR first\\n'; cat base; \(lines); } > head && cat base base > text", in: directory)
        let commands = ["ERROR", "-F ERROR", "-E 'ERR(OR|XX) [a-z0-9]+'", "-i error", "-c ERROR", "-n ERROR", "-o ERROR", "-v ERROR", "-a -c ERROR"].map {
            "PROG \($0) after before nomatch tail late head text"
        }
        try await Self.expectGrepsOutput(commands.map { "\($0) 2>&1 | sed 's/^[^ :]*sluice:/grep:/'; echo \"${PIPESTATUS[0]}\"" }, in: directory)
    }

    /// grep's -b (byte offsets): `--byte-offset` always, and `-b` when sluice is installed as
    /// grep (GNU grep's tests foad1 and yesno); as `sluice`, `-b` stays the batch size.
    @Test("byte offsets: --byte-offset, and -b when invoked as grep, as grep writes them")
    func byteOffsets() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await Self.makeFiles("ln -s \"$SLUICE\" grep && printf 'XwA YwB/ZwC/\\n' | tr / '\\n' > w "
                                 + "&& for i in 01 02 03 04 05 06 07 08 09 10 11 12 13 14; do echo \"[$i $( [ $((10#$i % 3)) = 0 ] && echo yes || echo 'no ')]\"; done > yn "
                                 + "&& seq 1 200000 | sed 's/^/line /' > big && gzip -c yn > yn.gz", in: directory)
        let cd = "cd \(Shell.quote([directory.path])) && "
        let cases = ["w -o -b w", "w -F -o -b w", "w -F -o -b -i w", "-b -3 w w", "-F -n -b -m 2 -v yes yn", "-F -n -b -m 3 -v -C 1 -o yes yn",
                     "-F -n -b -m 3 -v -C 1 yes yn", "-b -c yes yn", "-bT yes yn", "-b -H yes yn", "-b --color=always -n yes yn",
                     "-b 9999 big", "-o -b 1999 big", "-b -C 2 -n 150000 big", "-b -A 1 -v [0-7]$ big"]
        for arguments in cases {
            let grep = try await Shell.bash(cd + "grep \(arguments) 2>&1; echo $?")
            let sluice = try await Shell.bash(cd + "./grep \(arguments) 2>&1; echo $?")
            expectSameBytes(sluice.stdout, grep.stdout, "grep \(arguments)")
        }
        let long = try await Shell.bash(cd + "\"$SLUICE\" --byte-offset -n yes yn; grep -b -n yes yn")
        let halves = long.stdoutText.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(halves.count == 9 && Array(halves[0..<4]) == Array(halves[4..<8]), "\(long.stdoutText)")
        let zgrep = try await Shell.bash(cd + "zgrep -b -n yes yn.gz; ./grep -b -n yes yn.gz")
        let both = zgrep.stdoutText.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(both.count == 9 && Array(both[0..<4]) == Array(both[4..<8]), "\(zgrep.stdoutText)")
        let batch = try await Sluice.run(["-b", "2", "-e", "yes", directory.path + "/yn"])
        #expect(batch.status == 0 && batch.stdoutText.hasPrefix("[03 yes]\n"), "as sluice, -b is the batch size: \(batch.stderr)")
    }

    /// grep's `-z`: records end in NUL bytes, a newline is a byte like any other; `.` and the
    /// classes match it (`-P`: `\n`, `\s`, `(?s).`), `^` and `$` are the record's ends.
    @Test("-z (--null-data): NUL-terminated records as grep -z reads and writes them, -G/-E/-F/-P, plain and gzip")
    func nullData() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await Self.makeFiles("printf 'abcadc\\0a\\nb\\0x\\n\\0\\nNUL\\0\\n\\n\\nafter 3\\0a b\\0ERROR\\tone\\nb\\0c' > z "
                                 + "&& printf 'line one\\nERROR two\\0second\\0ERROR\\0' > z2 && gzip -c z > z.gz "
                                 + "&& { for i in $(seq 1 30000); do printf 'rec %d\\nline two\\0' $i; done; } > big", in: directory)
        let gnu = ["a", "-c a", "-o 'a[^c]*c'", "'a.b'", "'^b'", "'a$'", "-x 'a.b'", "-n --byte-offset a", "-H -n a z2", "-v a", "-l ERROR z2",
                   "-lZ ERROR z2", "-m1 a", "-F 'a\nb'", "'a[[:space:]]b'", "'a\\sb'", "'a\\Sb'", "-E 'a[^x]b'", "-i 'A.B'", "-w b",
                   "-c ''", "--color=always -n a", "-o --byte-offset 'b.'", "-E -o '[[:cntrl:]]+'", "-E 'a\\s*b$'", "-F -x b", "-F -c ERROR",
                   "-P 'a\\nb'", "-P '(?s)a.b'", "-P 'a.b'", "-P '^b'", "-P 'a$'", "-P '\\s$'", "-Po '(?<=\\n\\n\\n).*'",
                   "-P '[\\n]'", "-P 'a[\\s]b'", "-P 'a\\x0ab'", "-P 'a\\x{0a}b'", "-P 'a\\012b'", "-P 'a[^c]'", "-P '\\Rb'",
                   "-P 'a\\vb'", "-Po '[\\t-\\r]+'", "-P -x 'a'", "-P -w 'one'", "-P -c '\\S\\n'", "-Po '\\N+'", "-Pio 'error\\s\\w+'"]
        var commands = gnu.map { "PROG -z \($0) z | od -c; echo $?" }
        commands += ["PROG -zc 'line two$' big; echo $?", "PROG -zn -m2 -o '^rec [0-9]*' big | od -c",
                     "printf 'x\\n\\0' | PROG -zP 'x$'; echo $?", "printf 'a\\nb\\0' | PROG -zxP a; echo $?",
                     "echo | PROG -zP '\\s$' | od -c", "echo x | PROG -Pz '[^a]' | od -c",
                     // A CRLF is one \R; a [:...:] that a ] ends first is no class; conventions.
                     "printf 'a\\r\\nb\\0x\\r\\ny\\0ab\\n:]\\0\\x03\\0' > crlf; PROG -zP 'a\\Rb' crlf | od -c; PROG -zPo '\\R' crlf | od -c",
                     "PROG -zPc 'a[[:b]\\n:]' crlf; PROG -zPc '[\\x00-\\x05]' crlf; PROG -zPc '[\\x{1}-\\x{9}]' crlf",
                     "printf 'a\\rb\\0a\\nb\\0' > cr; PROG -zPc '(*CR)a.b' cr; PROG -zPc '(*LF)a.b' cr; PROG -zPc '(*NUL)a.b' cr",
                     "PROG -zc -A1 a z; PROG -zl -C2 a z; echo $?",
                     // Context: records around, `--` and a newline between groups (across a chunk boundary in big).
                     "PROG -z -A1 a z | od -c", "PROG -z -n -B1 ERROR z | od -c", "PROG -z -C1 -n --byte-offset a z2 z | od -c",
                     "PROG -z -A0 --group-separator=\"$(printf 'x\\ny\\0')\" a z | od -c", "PROG -z --color=always -n -C1 b z | od -c",
                     "PROG -z -o -C1 'a.' z | od -c", "PROG -z -m2 -A1 a z | od -c", "PROG -z -n -C2 'rec [0-9]*99[^0-9]' big | md5sum",
                     // -Z: a NUL after each name, which may hold a newline.
                     "mkdir -p d && cp z z2 d && cp z \"d/new\nline\" && PROG -z -Z -r -n ERROR d | od -c", "PROG -zZ a z z2 | od -c",
                     "PROG -zZ --color=always -H -n -C1 a z z2 | od -c", "PROG -zZ -o -H --byte-offset 'a.' z | od -c"]
        try await Self.expectGrepsOutput(commands, in: directory)
        // zgrep refuses -z ("option not supported"): the oracle is gzip -dc | grep -z.
        let zgrep = try await Shell.bash("cd \(Shell.quote(directory.path)) && gzip -dc z.gz | grep -z -n ERROR | od -c; \"$SLUICE\" -z -n ERROR z.gz | od -c")
        let halves = zgrep.stdoutText.components(separatedBy: "\n")
        #expect(halves.count % 2 == 1 && halves[..<(halves.count / 2)] == halves[(halves.count / 2)..<(halves.count - 1)], "\(zgrep.stdoutText)")
        // What -z cannot take yet, or a -P pattern it cannot rewrite exactly: a usage error.
        for arguments in [["-z", "-O", "x.log", "a"], ["-zP", "\\p{L}"], ["-zP", "[\\S]"], ["-z", "--where", "a == 1"]] {
            let refused = try await Sluice.run(arguments + [directory.path + "/z"])
            #expect(refused.status == 2 && refused.stderr.contains("-z") && refused.stdout.isEmpty, "\(arguments): \(refused.stderr)")
        }
    }

    /// Installed as egrep or fgrep, sluice is `grep -E` or `grep -F` (Debian's scripts), with
    /// their messages; `-u` is grep 3.8's no-op with its warning.
    @Test("egrep and fgrep as Debian's scripts run grep -E and grep -F; -u warns as grep")
    func egrepFgrepAndU() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await Self.makeFiles("ln -s \"$SLUICE\" egrep && ln -s \"$SLUICE\" fgrep && ln -s \"$SLUICE\" grep "
                                 + "&& printf 'a+b\\naab\\nx(y\\nab|cd\\ncd\\n' > in", in: directory)
        let cd = "cd \(Shell.quote([directory.path])) && "
        let cases = ["egrep 'a+b' in", "egrep 'ab|cd' in", "fgrep 'a+b' in", "fgrep 'ab|cd' in", "fgrep -c 'x(y' in",
                     "egrep -F x in", "fgrep -E x in", "egrep -G x in", "egrep -E -n 'a+' in", "egrep '(' in", "fgrep -x -e cd -e aab in",
                     "grep -u a+b in", "grep -u -u -n cd in", "grep --unix-byte-offsets -c cd in", "grep -u --bogus x in",
                     "grep -u -A"]
        for command in cases {
            let oracle = try await Shell.bash(cd + "\(command) 2>&1; echo $?")
            let sluice = try await Shell.bash(cd + "./\(command) 2>&1; echo $?")
            expectSameBytes(sluice.stdout, oracle.stdout, command)
        }
    }

    /// grep -m on standard input from a file leaves its offset just past the last selected line,
    /// for whatever reads the file next (GNU grep's test yesno; `while grep -m1 ...` loops).
    @Test("-m on standard input leaves the file's offset after the last selected line, as grep")
    func maxCountLeavesStandardInput() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await Self.makeFiles("for i in 01 02 03 04 05 06 07 08 09 10 11 12 13 14; do echo \"[$i $( [ $((10#$i % 3)) = 0 ] && echo yes || echo 'no ')]\"; done > yn "
                                 + "&& seq 1 300000 | sed 's/^/line /' > big", in: directory)
        var commands: [String] = []
        for flags in ["-m 2", "-n -m 2 -C 1", "-m 2 -v", "-o -m 3", "-c -m 2", "-F -n --byte-offset -m 3 -v -C 1", "-m 1 -x", "-m 9"] {
            commands.append("{ PROG \(flags) yes; echo \"?$?\"; sed 's/^/X/'; } < yn")
        }
        commands += ["{ PROG -m 3 9999; echo \"?$?\"; head -2; } < big", "{ PROG -m 2 -A 3 -n 12345; echo \"?$?\"; head -2; } < big",
                     "{ PROG -m 1 ''; echo \"?$?\"; head -1; } < big",
                     // Reading began past the file's start: the offset is counted from there.
                     "{ PROG -m1 yes; PROG -m1 yes; echo \"?$?\"; cat; } < yn", "{ read -r l; PROG -m1 -n yes; cat; } < yn",
                     // A pipe cannot seek: whatever was read is gone, as with grep (a small input: all of it).
                     "cat yn | { PROG -m1 yes; cat; }"]
        try await Self.expectGrepsOutput(commands, in: directory)
    }

    /// Makes files in `directory` with a bash script, which must succeed.
    static func makeFiles(_ script: String, in directory: TemporaryDirectory) async throws {
        let made = try await Shell.bash("cd \(Shell.quote(directory.path)) && " + script)
        try #require(made.status == 0, "setup: \(made.stderr)")
    }

    /// Runs each command line in `directory` (bash, LC_ALL=C) with PROG as GNU grep and as
    /// sluice, and expects the same bytes and exit status.
    static func expectGrepsOutput(_ commands: [String], in directory: TemporaryDirectory,
                                  sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let cd = "cd \(Shell.quote(directory.path)) && "
        for command in commands {
            let grep = try await Shell.bash(cd + command.replacingOccurrences(of: "PROG", with: "grep"))
            let sluice = try await Shell.bash(cd + command.replacingOccurrences(of: "PROG", with: "\"$SLUICE\""), timeout: .seconds(20))
            expectMatchesOracle(sluice, grep, command, sourceLocation: sourceLocation)
        }
    }
}
