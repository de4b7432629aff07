#!/usr/bin/env bash
# Tracking throughput and latency against the ceiling measured in the same run.
#   bench/tracking.sh            (DURATION=10 seconds per measurement by default)
# Needs h2load (Debian nghttp2-client) and 2 cores: server on core 0, load on core 1.
source "$(dirname "$0")/lib.sh"
build
echo "== ceiling: axum hello-world, h2c, one core; 16 connections x 10 streams"
ceiling
start_propel
echo "== propel: POST /1.0/view, 16 connections x 10 streams, every answer after fsync"
echo "{\"sessionExternalId\":\"bench-visitor-1\",\"productId\":123456,\"stockId\":\"NewYork\"}" >"$TMP/view.json"
load "propel POST /1.0/view" "$URL/1.0/view?apiKey=$KEY&partnerId=$PARTNER" 16 10 "$TMP/view.json"
VIEW_RPS=$RPS; VIEW_P99=$P99
python3 - "$TMP/batch.json" <<'PY'
import json, sys
events = []
for i in range(1000):
    s = f"bench-{i % 50}"
    kind = ["view", "view", "view", "addToBasket"][i % 4]
    events.append({kind: {"sessionExternalId": s, "productId": 100000 + i, "timestamp": "2026-01-01T00:00:00Z"}})
json.dump(events, open(sys.argv[1], "w"))
PY
echo "== propel: POST /1.0/visitorEvents, 1,000 events a batch"
load "batch latency (1 conn x 1)" "$URL/1.0/visitorEvents?apiKey=$KEY&partnerId=$PARTNER" 1 1 "$TMP/batch.json"
BATCH_P50=$P50
load "batch throughput (4 conns x 2)" "$URL/1.0/visitorEvents?apiKey=$KEY&partnerId=$PARTNER" 4 2 "$TMP/batch.json"
BATCH_EPS=$((RPS * 1000))
stop_last
echo
echo "== summary"
echo "single events: $VIEW_RPS events/s = $(ratio "$VIEW_RPS" "$CEIL_POST") of the ceiling's $CEIL_POST POST/s (target >= 50%); p99 $VIEW_P99 ms (target <= 5 ms)"
echo "1,000-event batch: median $BATCH_P50 ms (target <= 20 ms); $BATCH_EPS events/s with 4 connections"
