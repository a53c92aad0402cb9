#!/usr/bin/env bash
# GNU grep 3.8's own test suite, run against sluice installed as `grep` (issue 9's yardstick).
#
# Usage: Tests/GrepSuite/run.sh [SLUICE] [WORKDIR]
# Fetches Debian's source package `grep` (adds a deb-src entry when run as root and none is
# present), builds GNU grep once, runs `make check` with it (the baseline: the tests GNU grep
# itself passes here), then again with src/grep replaced by sluice (`egrep`/`fgrep` stay the
# suite's own scripts, which run `grep -E`/`grep -F`). Prints the tests GNU grep passes and
# sluice does not, and the counts. The suite is not committed; this runner is.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SLUICE=$(realpath "${1:-$HERE/../../.build/release/sluice}")
WORK=${2:-/tmp/sluice-grep-suite}
mkdir -p "$WORK" && cd "$WORK" || exit 2
if ! ls grep_*.orig.tar.xz >/dev/null 2>&1; then
    if ! apt-get source --download-only -qq grep >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && ! grep -rqs '^Types: deb-src' /etc/apt/sources.list.d/; then
            printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
                > /etc/apt/sources.list.d/sluice-src.sources
            apt-get update -qq
        fi
        apt-get source --download-only -qq grep || { echo "cannot fetch grep's source" >&2; exit 2; }
    fi
fi
SRC=$(tar tf grep_*.orig.tar.xz | head -1 | cut -d/ -f1)
if [ ! -x "$SRC/src/grep.gnu" ]; then
    rm -rf "$SRC" && tar xf grep_*.orig.tar.xz
    (cd "$SRC" && ./configure -q --disable-nls >/dev/null && make -s -j"$(nproc)" >/dev/null) || { echo "build failed" >&2; exit 2; }
    cp "$SRC/src/grep" "$SRC/src/grep.gnu"
fi
results() {  # test name and result, one per line, from the .trs files make check leaves
    for f in "$SRC"/tests/*.trs; do
        printf '%s %s\n' "$(basename "$f" .trs)" "$(sed -n 's/^:test-result: //p' "$f" | head -1)"
    done | sort
}
run() {  # $1: label; src/grep already in place
    find "$SRC/tests" -name '*.trs' -delete
    # In tests/, not the top: the top's `make check` relinks src/grep when the sluice binary
    # (the symlink's target) is older than grep's objects, and the link replaces the symlink
    # with GNU grep (a run of sluice then measured GNU grep: 74 of 74).
    (cd "$SRC/tests" && make -s -k check >/dev/null 2>&1)
    results > "$WORK/$1.results"
}
# --remove-destination: src/grep may be the symlink to sluice a run left, and a plain cp would
# write GNU grep through it, over the sluice binary.
cp --remove-destination "$SRC/src/grep.gnu" "$SRC/src/grep" && touch "$SRC/src/grep" && run gnu
# A symlink named grep: sluice's messages then say "grep:", as the suite expects.
rm -f "$SRC/src/grep" && ln -s "$SLUICE" "$SRC/src/grep" && touch -h "$SRC/src/grep" && run sluice
cp --remove-destination "$SRC/src/grep.gnu" "$SRC/src/grep"
passes() { awk '$2 == "PASS" { print $1 }' "$1"; }
gnu=$(passes "$WORK/gnu.results" | wc -l)
both=$(comm -12 <(passes "$WORK/gnu.results") <(passes "$WORK/sluice.results") | wc -l)
echo "GNU grep passes $gnu tests here; sluice passes $both of them."
echo "Passed by GNU grep, not by sluice:"
comm -23 <(passes "$WORK/gnu.results") <(passes "$WORK/sluice.results") | sed 's/^/  /'
