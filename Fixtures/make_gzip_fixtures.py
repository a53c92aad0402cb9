#!/usr/bin/env python3
"""Regenerates the gzip fixtures in this folder from the plain fixtures beside them.

    python3 Fixtures/make_gzip_fixtures.py [--gen-corpus PATH/gen_corpus.py]

Every output is deterministic (mtime 0, fixed compression level), so running the script again
leaves `git status` clean. The outputs are committed; the tests never run this script.

| file                 | what it holds                                                        |
|----------------------|----------------------------------------------------------------------|
| app.log.gz           | demo input: gen_corpus.py --lines 20000 --seed 7 --gzip (one member) |
| multi-member.log.gz  | Zookeeper_2k.log as 3 members: cut mid-line, an empty member, rest   |
| bgzf.log.gz          | Hadoop_2k.log in BGZF blocks (bgzip when installed, else written here)|
| headers.log.gz       | Hadoop_2k.log, one member with FEXTRA, FNAME, FCOMMENT and FHCRC set |
| zero-padded.log.gz   | Apache_2k.log member followed by 1 KiB of zero bytes                 |
| garbage-tail.log.gz  | Apache_2k.log member followed by a line of non-gzip bytes            |
| truncated.log.gz     | Hadoop_2k.log, full flush after line 1000, cut inside the next block |
| bad-crc.log.gz       | Apache_2k.log member whose CRC-32 trailer bytes are inverted         |

truncated.log.gz is made so that the bytes a decoder can recover are exactly lines 1-1000
(`TRUNCATED_KEPT_LINES`): the cut falls 40 bytes into the dynamic-Huffman block that follows
a full flush, before that block's first symbol can be decoded. The script checks this with
zlib and with `gzip -dc`.
"""

import argparse
import gzip
import os
import shutil
import struct
import subprocess
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
LOGHUB = os.path.join(HERE, "loghub")
TRUNCATED_KEPT_LINES = 1000
TRUNCATED_CUT_INTO_NEXT_BLOCK = 40


def read(name):
    with open(os.path.join(LOGHUB, name), "rb") as f:
        return f.read()


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
    print(f"{name}: {len(data)} bytes", file=sys.stderr)


def member(data, level=6):
    """One plain gzip member: no name, mtime 0, OS 255 (unknown)."""
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    body = c.compress(data) + c.flush()
    header = b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x00\xff"
    return header + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def bgzf_python(data):
    """BGZF as htslib writes it: members of at most 0xff00 input bytes, each with a
    'BC' FEXTRA subfield holding the member size minus one, then the 28-byte EOF member."""
    out = bytearray()
    for start in range(0, len(data), 0xFF00):
        block = data[start:start + 0xFF00]
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        body = c.compress(block) + c.flush()
        bsize = 12 + 6 + len(body) + 8  # header + extra + deflate + trailer
        out += b"\x1f\x8b\x08\x04" + struct.pack("<I", 0) + b"\x00\xff"
        out += struct.pack("<H", 6) + b"BC" + struct.pack("<HH", 2, bsize - 1)
        out += body + struct.pack("<II", zlib.crc32(block), len(block))
    out += bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
    return bytes(out)


def bgzf(data):
    bgzip = shutil.which("bgzip")
    if bgzip:
        made = subprocess.run([bgzip, "-c"], input=data, stdout=subprocess.PIPE, check=True).stdout
    else:
        made = bgzf_python(data)
    assert made[:4] == b"\x1f\x8b\x08\x04" and made[12:14] == b"BC", "not BGZF"
    assert gzip.decompress(made) == data
    return made


def all_headers_member(data):
    flags = 0x02 | 0x04 | 0x08 | 0x10  # FHCRC | FEXTRA | FNAME | FCOMMENT
    header = bytearray(b"\x1f\x8b\x08" + bytes([flags]) + struct.pack("<I", 0) + b"\x00\x03")
    extra = b"sl" + struct.pack("<H", 11) + b"sluice-test"
    header += struct.pack("<H", len(extra)) + extra
    header += b"Hadoop_2k.log\x00"
    header += b"fixture with FEXTRA, FNAME, FCOMMENT and FHCRC\x00"
    header += struct.pack("<H", zlib.crc32(bytes(header)) & 0xFFFF)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = c.compress(data) + c.flush()
    return bytes(header) + body + struct.pack("<II", zlib.crc32(data), len(data))


def truncated(data):
    lines = data.splitlines(keepends=True)
    kept = b"".join(lines[:TRUNCATED_KEPT_LINES])
    rest = b"".join(lines[TRUNCATED_KEPT_LINES:])
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    head = c.compress(kept) + c.flush(zlib.Z_FULL_FLUSH)
    tail = c.compress(rest) + c.flush()
    header = b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x00\xff"
    whole = header + head + tail + struct.pack("<II", zlib.crc32(data), len(data))
    cut = len(header) + len(head) + TRUNCATED_CUT_INTO_NEXT_BLOCK
    assert cut < len(whole) - 8 - 1000, "the cut must fall well inside the deflate data"
    made = whole[:cut]
    # What zlib can recover is exactly the kept lines, and so is what gzip -dc prints.
    recovered = zlib.decompressobj(31).decompress(made)
    assert recovered == kept, (len(recovered), len(kept))
    if shutil.which("gzip"):
        p = subprocess.run(["gzip", "-dc"], input=made, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert p.returncode != 0 and p.stdout == kept, (p.returncode, len(p.stdout))
    return made


def bad_crc(data):
    good = member(data)
    crc = bytes(b ^ 0xFF for b in good[-8:-4])
    return good[:-8] + crc + good[-4:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_gen = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "bench", "gen_corpus.py"))
    parser.add_argument("--gen-corpus", default=default_gen,
                        help="path of shared/bench/gen_corpus.py (app.log.gz is kept as is when missing)")
    args = parser.parse_args()

    hadoop = read("Hadoop_2k.log")
    zookeeper = read("Zookeeper_2k.log")
    apache = read("Apache_2k.log")

    if os.path.exists(args.gen_corpus):
        out = os.path.join(HERE, "app.log.gz")
        subprocess.run([sys.executable, args.gen_corpus, "--lines", "20000", "--seed", "7",
                        "--gzip", "--quiet", "--out", out], check=True)
        print(f"app.log.gz: {os.path.getsize(out)} bytes", file=sys.stderr)
    else:
        print(f"app.log.gz: kept ({args.gen_corpus} not found)", file=sys.stderr)

    cut = 100_000
    assert zookeeper[cut - 1:cut] != b"\n", "the first member must end mid-line"
    multi = member(zookeeper[:cut]) + member(b"") + member(zookeeper[cut:])
    assert gzip.decompress(multi) == zookeeper
    write("multi-member.log.gz", multi)

    write("bgzf.log.gz", bgzf(hadoop))

    headers = all_headers_member(hadoop)
    assert gzip.decompress(headers) == hadoop
    write("headers.log.gz", headers)

    write("zero-padded.log.gz", member(apache) + bytes(1024))
    write("garbage-tail.log.gz", member(apache) + b"this is trailing garbage, not gzip\n")
    write("truncated.log.gz", truncated(hadoop))
    write("bad-crc.log.gz", bad_crc(apache))


if __name__ == "__main__":
    main()
