#!/usr/bin/env bash
# Sponsored placements with 1,000 active campaigns against the ceiling measured in the same run.
#   bench/sponsored.sh   (ROUNDS=3 rounds of DURATION=8 seconds by default)
# A base of 10,000 products in 50 categories (20 vendors) is imported; 1,000 campaigns are
# created with mixed targeting (categories, vendors, price ranges, product ids, keywords,
# stocks, none), CPM and CPC bids, string banners and product shelves; then h2load asks a
# product placement for content, alternating with the axum hello-world GET on the same core.
# Before the load, 5,000 impressions are viewed and some clicked (see below), so that CPC
# campaigns compete at different click-through rates. The requests cycle through 10,000
# URLs: random products of the base, 5,000 visitors, a quarter of them in stock "msk", so
# no answer can come from a cache of one page or visitor.
# Every answer is a real impression: decided, recorded in memory and written to SQLite.
# PERF=path.data records a call-graph profile of the server during the last round's load
# (PERF_OPTS="--call-graph dwarf" for call graphs through code built without frame pointers).
DURATION=${DURATION:-8}
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-3}
build
start_ceiling
start_propel
python3 - "$URL" "$PARTNER" "$PROPEL_ADMIN_TOKEN" "$TMP" "$KEY" <<'PY'
import http.client, json, random, sys, urllib.parse
url, partner, token, tmp = sys.argv[1:5]
u = urllib.parse.urlparse(url)
conn = http.client.HTTPConnection(u.hostname, u.port)
def call(method, path, body=None, ctype="application/json"):
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = ctype
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    assert r.status in (200, 201), (path, r.status, data[:300])
    return json.loads(data)
random.seed(7)
cats = "".join(f'<category id="{c}">C{c}</category>' for c in range(1, 51))
offers = []
for i in range(1, 10_001):
    offers.append(f'<offer id="{i}" available="{"true" if i % 10 else "false"}"><price>{10 + i % 490}</price>'
                  f'<categoryId>{1 + i % 50}</categoryId><name>P{i}</name><vendor>V{i % 20}</vendor></offer>')
feed = f'<?xml version="1.0" encoding="UTF-8"?><yml_catalog><shop><categories>{cats}</categories><offers>{"".join(offers)}</offers></shop></yml_catalog>'
call("POST", f"/admin/partners/{partner}/feed", feed.encode(), "application/xml")
placement = call("POST", f"/admin/partners/{partner}/placements",
                 json.dumps({"kind": "product", "name": "card", "contentTypes": ["string", "productIds"]}))["placementId"]
advertiser = call("POST", "/admin/advertisers", json.dumps({"name": "bench"}))["advertiserId"]
for n in range(1000):
    kind = n % 7
    targeting = [
        {"categoryIds": [1 + n % 50]},
        {"vendors": [f"V{n % 20}"]},
        {"priceRange": {"min": n % 400, "max": n % 400 + 100}},
        {"productIds": random.sample(range(1, 10_001), 20)},
        {"keywords": [f"word{n}"]},
        {"stockIds": ["msk"]},
        {},
    ][kind]
    contents = [{"type": "string", "string": f"<div>banner {n}</div>"}]
    if n % 2:
        contents.append({"type": "productIds", "productIds": random.sample(range(1, 10_001), 8)})
    body = {"advertiserId": advertiser, "name": f"c{n}", "partnerIds": [partner],
            "budget": {"total": 1_000_000}, "targeting": targeting, "contents": contents,
            "pricing": {"model": "cpm" if n % 3 else "cpc", "bid": 1 + n % 17}}
    if n % 10 == 0:
        body["frequencyCap"] = {"count": 3, "periodHours": 24}
    call("POST", "/admin/campaigns", json.dumps(body))
open(f"{tmp}/placement", "w").write(placement)
# Views and clicks, so that CPC campaigns are valued at click-through rates that differ:
# 5,000 impressions asked for, all viewed, each clicked with its campaign's own rate
# (0-6%), reported through the tracking API in ordered batches.
key = sys.argv[5]
rate, events = {}, []
for i in range(5000):
    q = urllib.parse.urlencode({"apiKey": key, "sessionExternalId": f"v{random.randrange(5000)}",
                                "acceptContent": "string,productIds", "productId": random.randint(1, 10_000)})
    conn.request("GET", f"/v1/partners/{partner}/productPlacements/{placement}/impressions?{q}")
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        continue
    imp = json.loads(data)
    campaign = imp["content"]["id"].rsplit("-", 1)[0]
    rate.setdefault(campaign, random.uniform(0, 0.06))
    body = {"sessionExternalId": f"v{i % 5000}", "impressionContentId": imp["id"]}
    events.append({"impressionContentViewed": body})
    if random.random() < rate[campaign]:
        events.append({"impressionContentClicked": body})
for k in range(0, len(events), 1000):
    conn.request("POST", f"/1.0/visitorEvents?apiKey={key}&partnerId={partner}",
                 body=json.dumps(events[k:k + 1000]), headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    assert r.status == 200, r.read()[:300]
    r.read()
print(f"primed: {sum('impressionContentViewed' in e for e in events)} views, "
      f"{sum('impressionContentClicked' in e for e in events)} clicks on {len(rate)} campaigns")
PY
PLACEMENT=$(cat "$TMP/placement")
python3 - "$URL/v1/partners/$PARTNER/productPlacements/$PLACEMENT/impressions?apiKey=$KEY&acceptContent=string,productIds" "$TMP/uris" <<'PY'
import random, sys
base, out = sys.argv[1:3]
random.seed(11)
with open(out, "w") as f:
    for _ in range(10_000):
        stock = "&stockId=msk" if random.random() < 0.25 else ""
        f.write(f"{base}&sessionExternalId=v{random.randrange(5000)}&productId={random.randint(1, 10_000)}{stock}\n")
PY
ASK="$URL/v1/partners/$PARTNER/productPlacements/$PLACEMENT/impressions?apiKey=$KEY&sessionExternalId=bench&acceptContent=string,productIds&productId=4321"
curl -sf --http2-prior-knowledge "$ASK" | head -c 300; echo
echo "== GET, 16 connections x 10 streams; 1,000 active campaigns"
RATIOS=""; P99S=""
for r in $(seq "$ROUNDS"); do
  load "round $r: ceiling GET (axum hello)" "$CEILING_URL/" 16 10; CEIL=$RPS
  if [ -n "${PERF:-}" ] && [ "$r" = "$ROUNDS" ]; then
    perf record -F 999 ${PERF_OPTS:--g} -o "$PERF" -p "${PIDS[-1]}" -- sleep $((WARMUP + DURATION)) >/dev/null 2>&1 &
    PERF_PID=$!
  fi
  # h2load reads the URL list with --input-file (it replaces URLs given on the command line).
  load "round $r: propel product placement" "--input-file=$TMP/uris" 16 10
  [ -n "${PERF_PID:-}" ] && wait "$PERF_PID" || true
  RATIOS+="$(ratio "$RPS" "$CEIL") "; P99S+="$P99 "
done
echo
echo "== summary (medians over $ROUNDS rounds)"
echo "product placement: $(median $RATIOS)% of the ceiling's GET/s (per round: $RATIOS; target >= 50%); p99 $(median $P99S) ms (target <= 5 ms)"
