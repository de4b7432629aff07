#!/usr/bin/env bash
# Product base import: generated YML feeds of 100,000 and 1,000,000 offers (500
# categories, 3 params an offer, 2 stocks on every 10th offer, ~720 bytes an offer)
# imported with `propel import yml` into a fresh data directory, then imported again
# over the existing base (stage, flip, delete the old generation). The import runs on one
# thread and is pinned to one core with taskset (BENCH_CPU, default 1), so its wall time
# is the one-core figure. Prints wall and CPU seconds (user + system), offers/s of wall
# and of CPU time (the machine may be shared), peak RSS of the import process, size on
# disk (main database and generation files), then how long the server takes to load the
# base and its resident size.
#
#   bench/catalog.sh [OFFERS...]      (default: 100000 1000000)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(100000 1000000)
[ -x /usr/bin/time ] || { echo "missing /usr/bin/time: apt-get install -y time" >&2; exit 1; }
command -v taskset >/dev/null || { echo "missing taskset (util-linux)" >&2; exit 1; }
CPU=${BENCH_CPU:-1}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/propel-catalog-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

cd "$ROOT"
cargo build --release -q -p propel --bin propel
cargo build --release -q -p propel-catalog --example yml_bench
BIN="$ROOT/target/release/propel"
GEN="$ROOT/target/release/examples/yml_bench"

field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

printf '%-10s %-9s %8s %8s %8s %10s %10s %9s %7s\n' offers run feed_MB wall_s cpu_s offers/s offers/cpu-s peak_MiB db_MB
for n in "${SIZES[@]}"; do
  feed="$TMP/feed-$n.xml" data="$TMP/data-$n"
  "$GEN" --write "$feed" "$n" >/dev/null
  # The generated feed's dirty pages are written out now, not during the import (whose
  # fsyncs would otherwise queue behind them).
  sync
  pid=$("$BIN" partner create --name Bench --url https://bench.example --data "$data" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["partnerId"])')
  for run in first reimport; do
    PROPEL_LOG=warn /usr/bin/time -v taskset -c "$CPU" "$BIN" import yml --partner "$pid" "$feed" --data "$data" \
      >"$TMP/out.json" 2>"$TMP/time.txt" || { cat "$TMP/time.txt" >&2; exit 1; }
    imported=$(field "$TMP/out.json" imported)
    [ "$imported" = "$n" ] || { echo "imported $imported of $n" >&2; exit 1; }
    secs=$(field "$TMP/out.json" seconds)
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$TMP/time.txt")
    cpu=$(awk -F': ' '/User time|System time/ { t += $2 } END { print t }' "$TMP/time.txt")
    # The main database and the product base's generation files.
    db=$(du -cm "$data"/propel.db* "$data"/catalog | tail -1 | cut -f1)
    awk -v n="$n" -v run="$run" -v bytes="$(stat -c %s "$feed")" -v secs="$secs" -v rss="$rss" -v db="$db" -v cpu="$cpu" \
      'BEGIN { printf "%-10s %-9s %8.1f %8.2f %8.2f %10.0f %10.0f %9.1f %7s\n", n, run, bytes / 1e6, secs, cpu, n / secs, n / cpu, rss / 1024, db }'
  done
  # The server holds every base in memory: its resident size once this one is loaded.
  rm -f "$TMP/serve.out"
  t0=$(date +%s.%N)
  PROPEL_LOG=warn "$BIN" serve --listen 127.0.0.1:0 --data "$data" >"$TMP/serve.out" 2>/dev/null &
  spid=$!
  for _ in $(seq 1200); do grep -q listening "$TMP/serve.out" && break; sleep 0.05; done
  t1=$(date +%s.%N)
  srss=$(awk '/VmRSS/ { print $2 }' "/proc/$spid/status")
  kill "$spid"; wait "$spid" 2>/dev/null || true
  awk -v n="$n" -v r="$srss" -v s="$(echo "$t0 $t1" | awk '{ print $2 - $1 }')" \
    'BEGIN { printf "%-10s server start with this base: %.1f s to listening, %.1f MiB resident\n", n, s, r / 1024 }'
  rm -rf "$feed" "$data"
done
