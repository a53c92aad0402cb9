#!/usr/bin/env bash
# How sluice's time and peak memory grow with input size and with -j (README "Scaling").
# Usage: Benchmarks/scaling.sh [SLUICE] [DIR]   (corpora DIR/text-{100MB,1GB,5GB}.log, made if missing)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SLUICE=${1:-$HERE/../.build/release/sluice}
DIR=${2:-/tmp/sluice-bench}
SHARED=${SHARED:-$HERE/../../shared}
[ -d "$SHARED" ] || SHARED=/work/shared
mkdir -p "$DIR"
for size in 100MB 1GB 5GB; do
  f="$DIR/text-$size.log"
  [ -f "$f" ] || python3 "$SHARED/bench/gen_corpus.py" --bytes "$size" --seed 7 --out "$f" 2>/dev/null
  if [ ! -f "$f.gz" ]; then if command -v pigz >/dev/null; then pigz -6 -n -c "$f" > "$f.gz"; else gzip -6 -n -c "$f" > "$f.gz"; fi; fi
done

# median wall seconds and max RSS (MiB) of 3 runs; stdout drained through a pipe
measure() {
  local times=() rss=0 out
  for _ in 1 2 3; do
    out=$( { /usr/bin/time -f '%e %M' "$@" | cat > /dev/null; } 2>&1 | tail -1)
    times+=("${out% *}")
    local kb=${out#* }
    [ "$kb" -gt "$rss" ] && rss=$kb
  done
  printf '%s %d' "$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)" $((rss / 1024))
}

echo "| input | \`-e ERROR\` s | MiB | \`-e ERROR\` on .gz s | MiB | \`-v -e ERROR\` s | MiB | \`--map s/…/g\` -j1 s | -j2 s | MiB |"
echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
for size in 100MB 1GB 5GB; do
  f="$DIR/text-$size.log"
  cat "$f" > /dev/null
  read -r t1 m1 <<< "$(measure "$SLUICE" -e ERROR "$f")"
  read -r t2 m2 <<< "$(measure "$SLUICE" -e ERROR "$f.gz")"
  read -r t3 m3 <<< "$(measure "$SLUICE" -v -e ERROR "$f")"
  read -r t4 _ <<< "$(measure "$SLUICE" -e '' -j1 --map 's/([a-z_]+)=([^ ]+)/$2=$1/g' "$f")"
  read -r t5 m5 <<< "$(measure "$SLUICE" -e '' -j2 --map 's/([a-z_]+)=([^ ]+)/$2=$1/g' "$f")"
  echo "| $size | $t1 | $m1 | $t2 | $m2 | $t3 | $m3 | $t4 | $t5 | $m5 |"
done
