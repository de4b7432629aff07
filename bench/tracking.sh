#!/usr/bin/env bash
# Tracking throughput and latency against the ceiling measured in the same run.
#   bench/tracking.sh     (ROUNDS=3 rounds of DURATION=8 seconds by default)
# The machine is noisy, so the ceiling and propel are measured alternately, ROUNDS
# times, and the median ratio is reported. Needs h2load (Debian nghttp2-client) and
# 2 cores: both servers on core 0, the load generator on core 1.
DURATION=${DURATION:-8}
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-3}
build
start_ceiling
start_propel
VIEW="$URL/1.0/view?apiKey=$KEY&partnerId=$PARTNER"
BATCH="$URL/1.0/visitorEvents?apiKey=$KEY&partnerId=$PARTNER"
echo '{"sessionExternalId":"bench-visitor-1","productId":123456,"stockId":"NewYork"}' >"$TMP/view.json"
echo "== single events: POST /1.0/view vs the ceiling's POST, 16 connections x 10 streams; every 200 after fsync"
RATIOS=(); P99S=(); P999S=(); RATES=(); CEILS=()
for r in $(seq "$ROUNDS"); do
  load "round $r: ceiling POST (axum hello)" "$CEILING_URL/" 16 10 "$TMP/ceiling.json"; CEILS+=("$RPS")
  load "round $r: propel POST /1.0/view" "$VIEW" 16 10 "$TMP/view.json"; RATES+=("$RPS"); P99S+=("$P99"); P999S+=("$P999")
  RATIOS+=("$(ratio "${RATES[-1]}" "${CEILS[-1]}")")
done
load "ceiling GET (axum hello), for reference" "$CEILING_URL/" 16 10
python3 - "$TMP/batch.json" <<'PY'
import json, sys
events = []
for i in range(1000):
    kind = ["view", "view", "view", "addToBasket"][i % 4]
    events.append({kind: {"sessionExternalId": f"bench-{i % 50}", "productId": 100000 + i, "timestamp": "2026-01-01T00:00:00Z"}})
json.dump(events, open(sys.argv[1], "w"))
PY
# Real traffic: 1,000 consecutive clicks (by time) of the yoochoose sample, 284 visitors.
python3 - "$ROOT/../shared/data/behaviour/yoochoose-100k-train.csv" "$TMP/real.json" <<'PY'
import csv, json, sys
rows = sorted(csv.DictReader(open(sys.argv[1])), key=lambda r: int(r["timestamp"]))[:1000]
json.dump([{"view": {"sessionExternalId": f"yc-{r['visitorid']}", "productId": int(r["itemid"]),
                     "timestamp": "2026-01-01T00:00:00Z"}} for r in rows], open(sys.argv[2], "w"))
PY
echo "== ordered batches: POST /1.0/visitorEvents, 1,000 events a batch"
load "batch latency (1 conn x 1 stream)" "$BATCH" 1 1 "$TMP/batch.json"
BATCH_P50=$P50
load "batch throughput (4 conns x 2 streams)" "$BATCH" 4 2 "$TMP/batch.json"
BATCH_EPS=$(python3 -c "print(int(float('$RPS') * 1000))")
load "real clicks, 284 visitors (4 x 2)" "$BATCH" 4 2 "$TMP/real.json"
REAL_EPS=$(python3 -c "print(int(float('$RPS') * 1000))"); REAL_P50=$P50
echo
echo "== summary (medians over $ROUNDS rounds)"
echo "single events: $(median "${RATES[@]}") events/s, $(median "${RATIOS[@]}")% of the ceiling's POST/s (median ceiling $(median "${CEILS[@]}")); per-round ratios: ${RATIOS[*]}% (target >= 50%)"
echo "single events p99: $(median "${P99S[@]}") ms (target <= 5 ms); p99.9 $(median "${P999S[@]}") ms"
echo "1,000-event batch: median latency $BATCH_P50 ms (target <= 20 ms); $BATCH_EPS events/s with 4 connections"
echo "1,000 real clicks a batch (284 visitors): $REAL_EPS events/s with 4 connections, median $REAL_P50 ms"
