#!/usr/bin/env python3
"""Writes the seed corpora in Fuzz/corpus/ (deterministic: gzip mtime 0). Re-run after editing:
    python3 Fuzz/make_corpus.py
Every file stays under 4 KB."""
import os, struct, zlib

HERE = os.path.dirname(os.path.abspath(__file__))

def deflate(data, level=6, strategy=zlib.Z_DEFAULT_STRATEGY):
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 8, strategy)
    return c.compress(data) + c.flush()

def member(data, level=6, flags=0, name=None, comment=None, extra=None, hcrc=False,
           strategy=zlib.Z_DEFAULT_STRATEGY, crc=None, os_byte=3):
    flg = flags
    if hcrc: flg |= 0x02
    if extra is not None: flg |= 0x04
    if name is not None: flg |= 0x08
    if comment is not None: flg |= 0x10
    header = bytes([0x1F, 0x8B, 8, flg]) + struct.pack("<I", 0) + bytes([0, os_byte])
    if extra is not None: header += struct.pack("<H", len(extra)) + extra
    if name is not None: header += name + b"\0"
    if comment is not None: header += comment + b"\0"
    if hcrc: header += struct.pack("<H", zlib.crc32(header) & 0xFFFF)
    body = deflate(data, level, strategy)
    crc = zlib.crc32(data) if crc is None else crc
    return header + body + struct.pack("<II", crc & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)

LOG = b"".join(b"2024-05-01T12:00:%02d %s service=api request %d took %dms\n"
               % (i % 60, [b"INFO", b"WARN", b"ERROR"][i % 3], i, i * 7 % 500) for i in range(40))

gzip_framer = {
    # plain inputs
    "plain-lines.txt": b"first line\nsecond line\nthird\n",
    "plain-crlf.txt": b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\nbody\r\n",
    "plain-no-final-newline.txt": b"one\ntwo\nthree without newline",
    "plain-nul.bin": b"a\0b\nc\0\0\nd\0",
    "plain-empty-lines.txt": b"\n\n\nx\n\n",
    "plain-long-line.txt": b"short\n" + b"L" * 300 + b"\n" + b"M" * 200,
    "plain-log.txt": LOG,
    "plain-1f-only.bin": b"\x1f",
    "plain-1f-not-8b.bin": b"\x1f\x8cnot gzip\n",
    # gzip inputs
    "small.gz": member(b"hello\nworld\n"),
    "no-final-newline.gz": member(b"alpha\nbeta\ngamma"),
    "empty-member.gz": member(b""),
    "log-level9.gz": member(LOG, level=9),
    "stored.gz": member(b"stored block, level 0\nsecond\n", level=0),
    "fixed-huffman.gz": member(b"abcabcabcabc\n" * 10, strategy=zlib.Z_FIXED),
    "two-members.gz": member(b"member one\n") + member(b"member two\nno newline"),
    "members-split-line.gz": member(b"a line split acr") + member(b"oss two members\n"),
    "zero-padded.gz": member(b"padded\n") + b"\0" * 16,
    "zero-padding-between.gz": member(b"before padding\n") + b"\0" * 8 + member(b"after padding\n"),
    "trailing-garbage.gz": member(b"good data\n") + b"garbage after the member\n",
    "trailing-1f.gz": member(b"x\n") + b"\x1f",
    "truncated.gz": member(LOG)[:200],
    "truncated-header.gz": member(b"x\n", name=b"file.txt")[:12],
    "truncated-trailer.gz": member(b"abc\ndef\n")[:-3],
    "bad-crc.gz": member(b"checksum mismatch\n", crc=0x12345678),
    "header-flags.gz": member(b"with every header field\n", extra=b"AB\x02\x00hi",
                              name=b"log.txt", comment=b"a comment", hcrc=True),
    "fname.gz": member(b"named\n", name=b"app.log"),
    "fcomment.gz": member(b"commented\n", comment=b"rotated by logrotate"),
    "bgzf.gz": member(b"bgzf block\n", extra=b"BC\x02\x00\x00\x00") + member(b"", extra=b"BC\x02\x00\x1b\x00"),
    "crlf.gz": member(b"one\r\ntwo\r\n\r\n"),
    "nul.gz": member(b"\0\0\n\0x\0\n"),
}

expression = {
    "full.txt": 'grep -i ERROR | map upper | exec "cut -c1-80" | batch 500 1s',
    "grep.txt": "grep ERROR",
    "grep-or.txt": "grep -e a -e b",
    "grep-flags.txt": "grep -ivwxF -- -literal",
    "grep-attached-e.txt": "grep -eERROR -e'disk full'",
    "grep-and.txt": "grep WARN | grep -v health",
    "grep-regex.txt": r"grep '(?i)time(out|d out)\s+\d+ms'",
    "grep-lookaround.txt": r"grep '(?<=user=)\w+(?!@)'",
    "grep-newline.txt": 'grep "a\nb"',
    "map-sub.txt": "map s/a/b/g",
    "map-sub-groups.txt": r"map 's|(\w+)=(\d+)|$2:${1}\&&\n|gi'",
    "map-trim-lower.txt": "map trim | map lower",
    "exec.txt": "exec sort -u | batch 100",
    "exec-quotes.txt": r"""exec "awk '{print \$1}'" | grep x""",
    "batch-ms.txt": "batch 1 200ms",
    "batch-zero.txt": "batch 10 0",
    "escapes.txt": r"grep a\ b\|c",
    "unterminated-double.txt": 'grep "unterminated',
    "unterminated-single.txt": "grep 'unterminated",
    "trailing-backslash.txt": "grep abc\\",
    "empty-stage.txt": "grep a || map upper",
    "trailing-pipe.txt": "grep a |",
    "leading-pipe.txt": "| grep a",
    "unknown-stage.txt": "frob x",
    "map-bad.txt": "map s/unterminated",
    "map-bad-flag.txt": "map s/a/b/q",
    "map-bad-group.txt": "map s/(a)/$2/",
    "batch-bad.txt": "batch -5 1x",
    "batch-two.txt": "batch 1 | batch 2",
    "bad-regex.txt": "grep 'a(b'",
    "unicode.txt": "grep 'café' | map s/é/e/g",
    "tabs-newlines.txt": "grep\tx\n|\nmap\tupper",
    "empty.txt": "",
}

def write(dirname, files):
    path = os.path.join(HERE, "corpus", dirname)
    os.makedirs(path, exist_ok=True)
    for name, data in files.items():
        if isinstance(data, str): data = data.encode()
        assert len(data) < 4096, name
        with open(os.path.join(path, name), "wb") as f: f.write(data)

write("gzip-framer", gzip_framer)
write("expression", expression)
print(f"wrote {len(gzip_framer)} gzip-framer and {len(expression)} expression seeds")
