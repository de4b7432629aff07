#!/usr/bin/env bash
# Recommendation serving against the ceiling measured in the same run.
#   bench/recommendations.sh   (ROUNDS=3 rounds of DURATION=8 seconds by default)
# A product base for the yoochoose items (all available, one category) is imported,
# the training file is replayed through visitorEvents, then h2load asks for `related`
# and `personalComposite`, alternating with the axum hello-world GET on the same core.
# Requests cycle over URL lists built from the training set: `related` over every
# product with events, `personalComposite` over every visitor (sessionExternalId
# v<visitorid>), both in a fixed shuffled order. personalComposite is measured twice:
# warm (answers cached per visitor, the default; the list is asked once before the
# rounds, and no event arrives during them) and cold (a second server on a copy of the
# data with PROPEL_RECS_PERSONAL_CACHE=0: every request computes its answer).
DURATION=${DURATION:-8}
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-3}
TRAIN=${TRAIN:-$ROOT/../shared/data/behaviour/yoochoose-100k-train.csv}
build
start_ceiling
start_propel
python3 - "$TRAIN" "$TMP" <<'PY'
import csv, json, sys, datetime, collections, random
rows = list(csv.DictReader(open(sys.argv[1])))
items = sorted({int(r["itemid"]) for r in rows})
with open(f"{sys.argv[2]}/feed.xml", "w") as f:
    f.write('<?xml version="1.0" encoding="UTF-8"?><yml_catalog><shop><categories><category id="1">All</category></categories><offers>')
    for i in items:
        f.write(f'<offer id="{i}"><price>{100 + i % 900}</price><categoryId>1</categoryId><name>Item {i}</name></offer>')
    f.write("</offers></shop></yml_catalog>")
kinds = {"view": "view", "addtocart": "addToBasket"}
envelopes = []
for r in rows:
    ts = datetime.datetime.fromtimestamp(int(r["timestamp"]) / 1000, datetime.timezone.utc).isoformat()
    kind = kinds.get(r["event"])
    if kind:
        envelopes.append({kind: {"sessionExternalId": f"v{r['visitorid']}", "productId": int(r["itemid"]), "timestamp": ts}})
for n, start in enumerate(range(0, len(envelopes), 1000)):
    json.dump(envelopes[start:start + 1000], open(f"{sys.argv[2]}/replay-{n:04d}.json", "w"))
counts = collections.Counter(int(r["itemid"]) for r in rows)
by_visitor = collections.Counter(r["visitorid"] for r in rows)
# A visitor with a typical history: the median number of events.
typical = sorted(by_visitor.items(), key=lambda kv: kv[1])[len(by_visitor) // 2][0]
open(f"{sys.argv[2]}/probe", "w").write(f"{counts.most_common(1)[0][0]} v{typical} {len(items)} {len(envelopes)}\n")
rng = random.Random(7)
products = sorted(counts)
rng.shuffle(products)
visitors = sorted(by_visitor, key=int)
rng.shuffle(visitors)
open(f"{sys.argv[2]}/products", "w").write("".join(f"{p}\n" for p in products))
open(f"{sys.argv[2]}/visitors", "w").write("".join(f"v{v}\n" for v in visitors))
PY
read -r ITEM VISITOR NITEMS NEVENTS <"$TMP/probe"
curl -sf --http2-prior-knowledge -X POST -H "Authorization: Bearer $PROPEL_ADMIN_TOKEN" -H 'content-type: application/xml' \
  --data-binary @"$TMP/feed.xml" "$URL/admin/partners/$PARTNER/feed" >/dev/null
START=$(date +%s.%N)
for f in "$TMP"/replay-*.json; do
  curl -sf --http2-prior-knowledge -X POST -H 'content-type: application/json' --data-binary @"$f" \
    "$URL/1.0/visitorEvents?apiKey=$KEY&partnerId=$PARTNER" >/dev/null
done
echo "replayed $NEVENTS events through visitorEvents in $(python3 -c "import time; print(f'{time.time() - $START:.2f}')") s; $NITEMS products"
# Restart so the models are built from the stored events; the log says how long that took.
stop_last
cp -r "$TMP/data" "$TMP/data-cold"
PROPEL_LOG=info start_pinned propel "$BIN/propel" serve --listen 127.0.0.1:0 --data "$TMP/data"
BUILD=$(grep 'models built' "$TMP/propel.err" | grep -o '"seconds":[0-9.e-]*' | head -1 | cut -d: -f2 || true)
echo "full model build from the stored events at start: ${BUILD} s (target < 10 s)"
WARM_URL=$URL
PROPEL_RECS_PERSONAL_CACHE=0 start_pinned propel-cold "$BIN/propel" serve --listen 127.0.0.1:0 --data "$TMP/data-cold"
COLD_URL=$URL
Q="apiKey=$KEY&partnerId=$PARTNER"
# Each line of the lists (a product id, a session id) becomes one URL.
awk -v p="$WARM_URL/api/3.0/productRecommendations/related/?$Q&sessionExternalId=bench&productIds=" '{print p $0}' "$TMP/products" >"$TMP/related.uris"
awk -v p="$WARM_URL/api/3.0/partnerRecommendations/personalComposite/?$Q&sessionExternalId=" '{print p $0}' "$TMP/visitors" >"$TMP/personal.uris"
awk -v p="$COLD_URL/api/3.0/partnerRecommendations/personalComposite/?$Q&sessionExternalId=" '{print p $0}' "$TMP/visitors" >"$TMP/personal-cold.uris"
echo "URL lists: $(wc -l <"$TMP/related.uris") products for related, $(wc -l <"$TMP/personal.uris") visitors for personalComposite"
curl -sf --http2-prior-knowledge "$WARM_URL/api/3.0/productRecommendations/related/?$Q&sessionExternalId=bench&productIds=$ITEM" | head -c 200; echo
curl -sf --http2-prior-knowledge "$WARM_URL/api/3.0/partnerRecommendations/personalComposite/?$Q&sessionExternalId=$VISITOR" | head -c 200; echo
# Warm: every visitor's answer asked once (one client, in order) before the rounds.
taskset -c "$LOAD_CORE" h2load -c 1 -m 10 -n "$(wc -l <"$TMP/personal.uris")" --input-file="$TMP/personal.uris" >/dev/null
taskset -c "$LOAD_CORE" h2load -c 1 -m 10 -n "$(wc -l <"$TMP/related.uris")" --input-file="$TMP/related.uris" >/dev/null
echo "== GET, 16 connections x 10 streams; URL lists cycled (h2load --input-file)"
NAMES=(related personalComposite personalComposite-cold)
declare -A RATIO P50S P99S
for r in $(seq "$ROUNDS"); do
  load "round $r: ceiling GET (axum hello)" "$CEILING_URL/" 16 10; CEIL=$RPS
  for name in "${NAMES[@]}"; do
    case $name in
      related) uris=$TMP/related.uris ;;
      personalComposite) uris=$TMP/personal.uris ;;
      personalComposite-cold) uris=$TMP/personal-cold.uris ;;
    esac
    # h2load reads the URL list with --input-file (it replaces URLs given on the command line).
    load "round $r: propel $name" "--input-file=$uris" 16 10
    [ "$OK" = "1.0000" ] || echo "  (not every answer was a 2xx: $name figures are invalid)"
    RATIO[$name]+="$(ratio "$RPS" "$CEIL") "; P50S[$name]+="$P50 "; P99S[$name]+="$P99 "
  done
done
echo
echo "== summary (medians over $ROUNDS rounds)"
for name in "${NAMES[@]}"; do
  echo "$name: $(median ${RATIO[$name]})% of the ceiling's GET/s (per round: ${RATIO[$name]}; target >= 50%); p50 $(median ${P50S[$name]}) ms; p99 $(median ${P99S[$name]}) ms (target <= 5 ms)"
done
