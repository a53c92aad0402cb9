#!/usr/bin/env bash
# Builds the libFuzzer targets and runs them. See Fuzz/README.md.
#
#   Fuzz/run.sh [TARGET|all] [SECONDS]      TARGET: gzip-framer | expression (default: all, 60 s)
#
# Each target runs SECONDS on a work copy of its seed corpus (.build-fuzz/corpus/TARGET; the
# seeds in Fuzz/corpus/ are never modified). Crash, timeout and OOM inputs are saved in
# .build-fuzz/crashes/. Exit status: 0 if no target found anything, 1 if one did, 2 if the
# build failed.
#
# Environment:
#   FUZZ_KEEP_GOING=1   keep fuzzing after a crash (libFuzzer -fork=1 -ignore_crashes=1 ...),
#                       to see whether more than one problem turns up in the time.
#   FUZZ_PARALLEL=0|1   run the targets one after the other / at the same time (default: at
#                       the same time when there are at least 2 CPUs).
#   FUZZ_FRESH=1        start from the seeds only (drop inputs earlier runs added to the work corpus).
#   FUZZ_REBUILD=1      rebuild even if the binaries are newer than the sources.
#   SLUICE_FUZZ_ALLOW   known findings to step around, e.g. split-header,crlf-pattern (Fuzz/README.md).
#   FUZZ_ARGS           extra libFuzzer flags, e.g. FUZZ_ARGS='-seed=1 -jobs=2'.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="$ROOT/.build-fuzz"
ALL_TARGETS=(gzip-framer expression)

target="${1:-all}"
seconds="${2:-60}"
case "$target" in
    all) targets=("${ALL_TARGETS[@]}") ;;
    gzip-framer|expression) targets=("$target") ;;
    -h|--help) sed -n '2,19p' "$0" | sed -E 's/^# ?//'; exit 0 ;;
    *) echo "run.sh: unknown target '$target' (gzip-framer, expression or all)" >&2; exit 2 ;;
esac
# (libFuzzer reads -max_total_time=0 as "no limit".)
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: SECONDS must be a whole number >= 1, not '$seconds'" >&2; exit 2; }

export SWIFT_BACKTRACE=enable=no   # the Swift backtracer can hang a crashing fuzzer
started=$(date +%s)

# ---------------------------------------------------------------- build
swiftc="$(command -v swiftc)" || { echo "run.sh: swiftc not found" >&2; exit 2; }
clang="$(dirname "$swiftc")/clang"
[ -x "$clang" ] || clang="$(command -v clang)"
# The library's C targets (CSluiceMain is the executable's, not fuzzed).
c_targets=(CSluiceSearch CSluiceMappedFile CSluiceProcess)
mkdir -p "$OUT/obj" "$OUT/logs" "$OUT/crashes" "$OUT/corpus"

# SwiftPM generates the C targets' module maps; a plain swiftc build needs its own.
for c in "${c_targets[@]}"; do
    mkdir -p "$OUT/modules/$c"
    cat > "$OUT/modules/$c/module.modulemap" <<EOF
module $c {
    header "$OUT/src/$c/include/$c.h"
    export *
}
EOF
done

# Compile a snapshot of Sources/ (.build-fuzz/src): swiftc refuses a file that changes while it
# builds, and people edit Sources/ while a run goes on. Stack traces name .build-fuzz/src/.
snapshot() {
    rm -rf "$OUT/src.new" && mkdir -p "$OUT/src.new"
    touch "$OUT/obj/snapshot-time"   # the binaries get this time: later edits make them stale
    cp -pR Sources/SluiceKit "${c_targets[@]/#/Sources/}" Sources/CISAL Sources/CPCRE2 Sources/CZlib Sources/CLzma Sources/CBzip2 Sources/CZstd Sources/CSQLite "$OUT/src.new/"
    rm -rf "$OUT/src" && mv "$OUT/src.new" "$OUT/src"
}

# Same linker as `swift build` uses here (lld if the toolchain has it: gold floods the log with
# "Cannot export local symbol" warnings about ASan's helpers).
link_flags=()
if [ -x "$(dirname "$swiftc")/ld.lld" ]; then link_flags+=(-use-ld=lld); fi

target_file() {
    case "$1" in
        gzip-framer) echo Fuzz/GzipFramerTarget.swift ;;
        expression) echo Fuzz/ExpressionTarget.swift ;;
    esac
}

needs_build() {  # binary missing or older than any input
    local bin="$OUT/$1"
    [ "${FUZZ_REBUILD:-0}" = 1 ] && return 0
    [ -x "$bin" ] || return 0
    [ -n "$(find Sources/SluiceKit "${c_targets[@]/#/Sources/}" Sources/CISAL Sources/CPCRE2 Sources/CZlib \
            Fuzz/FuzzCheck.swift "$(target_file "$1")" Fuzz/run.sh -newer "$bin" -print -quit)" ]
}

build_start=$(date +%s)
to_build=()
for t in "${targets[@]}"; do needs_build "$t" && to_build+=("$t"); done
if [ ${#to_build[@]} -gt 0 ]; then
    echo "== building ${to_build[*]} (swiftc -sanitize=fuzzer,address -O) from $(git rev-parse --short HEAD 2>/dev/null || echo '?')$( [ -n "$(git status --porcelain -- Sources 2>/dev/null)" ] && echo ' + uncommitted changes in Sources/')"
    snapshot
    mapfile -t kit_sources < <(find "$OUT/src/SluiceKit" -name '*.swift' | LC_ALL=C sort)
    c_objects=()
    c_includes=()
    for c in "${c_targets[@]}"; do
        for file in "$OUT/src/$c"/*.c; do
            "$clang" -c -O1 -g -fsanitize=address,fuzzer-no-link \
                -I "$OUT/src/$c/include" "$file" -o "$OUT/obj/$c-$(basename "$file" .c).o"
            c_objects+=("$OUT/obj/$c-$(basename "$file" .c).o")
        done
        c_includes+=(-I "$OUT/modules/$c")
    done
    pids=()
    for t in "${to_build[@]}"; do
        # The SluiceKit sources and the harness form one module, so internal types are visible.
        "$swiftc" -sanitize=fuzzer,address -parse-as-library -module-name SluiceFuzz -package-name sluice -O -g \
            "${c_includes[@]}" -I "$OUT/src/CISAL" -I "$OUT/src/CPCRE2" -I "$OUT/src/CZlib" -I "$OUT/src/CLzma" -I "$OUT/src/CBzip2" -I "$OUT/src/CZstd" -I "$OUT/src/CSQLite" \
            "${kit_sources[@]}" Fuzz/FuzzCheck.swift "$(target_file "$t")" "${c_objects[@]}" \
            -lisal "${link_flags[@]}" -o "$OUT/$t.new" >"$OUT/logs/build-$t.log" 2>&1 &
        pids+=($!)
    done
    failed=0
    for i in "${!pids[@]}"; do
        t="${to_build[$i]}"
        if wait "${pids[$i]}"; then
            touch -r "$OUT/obj/snapshot-time" "$OUT/$t.new" && mv "$OUT/$t.new" "$OUT/$t"
        else
            failed=1
            echo "run.sh: building $t failed:" >&2
            grep -v 'Cannot export local symbol' "$OUT/logs/build-$t.log" | tail -40 >&2
        fi
    done
    [ $failed = 0 ] || exit 2
else
    echo "== ${targets[*]}: up to date"
fi
build_seconds=$(( $(date +%s) - build_start ))
echo "== build: ${build_seconds}s"

# ---------------------------------------------------------------- run
fuzz_flags=(-max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
if [ "${FUZZ_KEEP_GOING:-0}" = 1 ]; then
    fuzz_flags+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
fi
read -r -a extra_flags <<<"${FUZZ_ARGS:-}"

run_one() {
    local t="$1" corpus="$OUT/corpus/$1" log="$OUT/logs/$1.log"
    [ "${FUZZ_FRESH:-0}" = 1 ] && rm -rf "$corpus"
    mkdir -p "$corpus"
    cp -pR "Fuzz/corpus/$t/." "$corpus/"
    local flags=("${fuzz_flags[@]}" -artifact_prefix="$OUT/crashes/$t-")
    [ "$t" = expression ] && flags+=(-dict=Fuzz/expression.dict)
    "$OUT/$t" "${flags[@]}" "${extra_flags[@]}" "$corpus" >"$log" 2>&1
}

# Inputs saved from now on are this run's (libFuzzer rewrites a file it finds again).
run_stamp="$OUT/logs/run-started"
touch "$run_stamp"
sleep 1   # file times have 1 s granularity on some file systems

parallel="${FUZZ_PARALLEL:-}"
if [ -z "$parallel" ]; then
    if [ "$(nproc 2>/dev/null || echo 1)" -ge 2 ]; then parallel=1; else parallel=0; fi
fi
run_start=$(date +%s)
declare -A status
if [ "$parallel" = 1 ] && [ ${#targets[@]} -gt 1 ]; then
    echo "== fuzzing ${targets[*]} for ${seconds}s each, at the same time"
    declare -A pid
    for t in "${targets[@]}"; do run_one "$t" & pid[$t]=$!; done
    for t in "${targets[@]}"; do
        if wait "${pid[$t]}"; then status[$t]=0; else status[$t]=$?; fi
    done
else
    for t in "${targets[@]}"; do
        echo "== fuzzing $t for ${seconds}s"
        if run_one "$t"; then status[$t]=0; else status[$t]=$?; fi
    done
fi
run_seconds=$(( $(date +%s) - run_start ))

# ---------------------------------------------------------------- report
demangle=cat
if [ -x "$(dirname "$swiftc")/swift-demangle" ]; then demangle="$(dirname "$swiftc")/swift-demangle --simplified"; fi

# What failed on one input: the harness's check message, or the trap and the first frames in
# Sources/ (demangled), or the sanitizer's summary.
signature() {
    local out
    out="$(timeout 60 "$OUT/$1" -timeout=10 -rss_limit_mb=2048 "$2" 2>&1 || true)"
    local msg
    msg="$(grep -a -m1 '^sluice-fuzz: check failed' <<<"$out" | sed -E 's/ at SluiceFuzz\/[A-Za-z]+\.swift:[0-9]+//' || true)"
    if [ -z "$msg" ]; then
        msg="$(grep -aE '^ +#[0-9]+ 0x[0-9a-f]+ in .*(/src/SluiceKit/|runtime failure)' <<<"$out" | head -3 \
            | sed -E "s/^ +#[0-9]+ 0x[0-9a-f]+ in //; s# /<compiler-generated>##; s#$OUT/src/##; s#:[0-9]+\$##" | $demangle | paste -sd '|' - | sed 's/|/ <- /g' || true)"
    fi
    [ -n "$msg" ] || msg="$(grep -aE -m1 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|ALARM|SUMMARY' <<<"$out" | sed -E 's/==[0-9]+==//' || true)"
    echo "${msg:-no failure on replay (flaky?)}"
}
stat() { grep -a "^stat::$1:" "$2" | tail -1 | awk '{print $2}' || true; }
found=0
echo
for t in "${targets[@]}"; do
    log="$OUT/logs/$t.log"
    execs="$(stat number_of_executed_units "$log")"
    rate="$(stat average_exec_per_sec "$log")"
    rss="$(stat peak_rss_mb "$log")"
    # Last status line: "#N  REDUCE cov: C ft: F corp: K/S ..." (fork mode: "#N: cov: ...").
    last="$(grep -aE '^#[0-9]+:?[[:space:]]' "$log" | tail -1 || true)"
    [ -n "$execs" ] || execs="$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")"
    [ -n "$rate" ] || rate="$(grep -oE 'exec/s: [0-9]+' <<<"$last" | awk '{print $2}' || true)"
    cov="$(grep -oE 'cov: [0-9]+' <<<"$last" | awk '{print $2}' || true)"
    ft="$(grep -oE 'ft: [0-9]+' <<<"$last" | awk '{print $2}' || true)"
    corp="$(grep -oE 'corp: [0-9]+(/[0-9]+[a-zA-Z]*)?' <<<"$last" | awk '{print $2}' || true)"
    new_artifacts=()
    while IFS= read -r f; do
        [ -n "$f" ] && new_artifacts+=("$f")
    done < <(find "$OUT/crashes" -maxdepth 1 -type f -name "$t-*" -newer "$run_stamp" -printf '%f\n' 2>/dev/null | LC_ALL=C sort)
    printf '%-12s %s executions (%s/s), coverage %s edges, %s features, corpus %s, peak RSS %s MB\n' \
        "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}"
    if [ "${status[$t]}" != 0 ] || [ ${#new_artifacts[@]} -gt 0 ]; then
        found=1
        echo "  FOUND ${#new_artifacts[@]} input(s) that fail (libFuzzer exit ${status[$t]}); log: $log"
        # Replay each input to name what failed, and group the inputs by that.
        # (Numbers are left out of the grouping: byte offsets differ from input to input.)
        declare -A groups=() example=() message=()
        for f in "${new_artifacts[@]:0:50}"; do
            sig="$(signature "$t" "$OUT/crashes/$f")"
            key="$(sed -E 's/[0-9]+/N/g' <<<"$sig")"
            groups[$key]=$(( ${groups[$key]:-0} + 1 ))
            [ -n "${example[$key]:-}" ] || { example[$key]="$f"; message[$key]="$sig"; }
        done
        [ ${#new_artifacts[@]} -le 50 ] || echo "  (replayed the first 50 of ${#new_artifacts[@]})"
        for key in "${!groups[@]}"; do
            f="${example[$key]}"
            echo "  - ${groups[$key]} input(s): ${message[$key]}"
            echo "    e.g. $OUT/crashes/$f ($(wc -c <"$OUT/crashes/$f") bytes):"
            od -A x -t x1z -v "$OUT/crashes/$f" | head -8 | sed 's/^/      /'
            echo "    reproduce: SWIFT_BACKTRACE=enable=no $OUT/$t $OUT/crashes/$f"
        done
        unset groups example message
    else
        echo "  no crash, timeout or leak"
    fi
done
echo "== total wall time $(( $(date +%s) - started ))s (build ${build_seconds}s, fuzzing ${run_seconds}s)"
exit $found
