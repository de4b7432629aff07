# Shared by the benchmark scripts: build, pinning, the ceiling, h2load figures.
# The server runs on core 0, h2load on core 1, so the figures are one core's.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN="$ROOT/target/release"
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
SERVER_CORE=${SERVER_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

need() { command -v "$1" >/dev/null || { echo "missing $1: apt-get install -y $2" >&2; exit 1; }; }
need h2load nghttp2-client
need taskset util-linux
need python3 python3

build() { (cd "$ROOT" && cargo build --release -q -p propel -p hello-ceiling); }

# start_pinned LOGNAME CMD...: starts CMD on the server core, waits for its "listening on URL" line, sets URL.
start_pinned() {
  local name=$1; shift
  taskset -c "$SERVER_CORE" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  PIDS+=($!)
  for _ in $(seq 100); do
    URL=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$TMP/$name.out" | head -1)
    [ -n "$URL" ] && return 0
    sleep 0.1
  done
  echo "$name did not start:" >&2; cat "$TMP/$name.err" >&2; exit 1
}

stop_last() { kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'; }

# load NAME URL CLIENTS STREAMS [BODYFILE]: h2load for DURATION seconds; prints
# "NAME req/s p50_ms p99_ms p99.9_ms ok_ratio" and stores req/s in RPS.
load() {
  local name=$1 url=$2 c=$3 m=$4 body=${5:-}
  local file="$TMP/$(echo "$name" | tr -c 'A-Za-z0-9' '_')"
  local args=(-c "$c" -m "$m" -D "$DURATION" --warm-up-time="$WARMUP" --log-file="$file.log")
  [ -n "$body" ] && args+=(-d "$body" -H 'content-type: application/json')
  taskset -c "$LOAD_CORE" h2load "${args[@]}" "$url" >"$file.h2load" 2>&1 || { cat "$file.h2load"; exit 1; }
  read -r RPS P50 P99 P999 OK < <(python3 - "$file.h2load" "$file.log" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"finished in [^,]+, ([0-9.]+) req/s", text).group(1))
m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded", text)
total, ok = int(m.group(3)), int(m.group(4))
lat = sorted(int(line.split("\t")[2]) for line in open(sys.argv[2]) if line.strip())
pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] / 1000.0 if lat else float("nan")
print(f"{rps:.0f} {pct(0.50):.3f} {pct(0.99):.3f} {pct(0.999):.3f} {ok / max(total, 1):.4f}")
PY
)
  printf "%-34s %12s req/s   p50 %8s ms   p99 %8s ms   p99.9 %8s ms   2xx %s\n" "$name" "$RPS" "$P50" "$P99" "$P999" "$OK"
}

# start_ceiling: the axum hello-world on the same core; sets CEILING_URL.
start_ceiling() {
  start_pinned hello "$BIN/hello-ceiling" 127.0.0.1:0
  CEILING_URL=$URL
  echo '{"x":1}' >"$TMP/ceiling.json"
}

# median of the arguments
median() { python3 -c "import statistics, sys; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }

# start_propel: a fresh data dir, admin token, one partner with unlimited rates: sets URL, PARTNER, KEY.
start_propel() {
  export PROPEL_ADMIN_TOKEN=bench-token PROPEL_LOG=warn
  start_pinned propel "$BIN/propel" serve --listen 127.0.0.1:0 --data "$TMP/data"
  local created
  created=$(curl -sf --http2-prior-knowledge -X POST -H "Authorization: Bearer $PROPEL_ADMIN_TOKEN" \
    -H 'content-type: application/json' -d '{"name":"bench","url":"https://bench.example"}' "$URL/admin/partners")
  PARTNER=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["partnerId"])' "$created")
  KEY=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["apiKey"])' "$created")
  curl -sf --http2-prior-knowledge -X PUT -H "Authorization: Bearer $PROPEL_ADMIN_TOKEN" -H 'content-type: application/json' \
    -d '{"trackingRps":1000000,"recommendationsRps":1000000,"sponsoredRps":1000000}' "$URL/admin/partners/$PARTNER/limits" >/dev/null
}

ratio() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]) * 100:.0f}')" "$1" "$2"; }
