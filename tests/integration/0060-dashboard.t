#!/usr/bin/env bash
# /dashboard in headless Chromium (playwright-core) against a broker with 200 generated ports:
# a row per port within seconds, the fast port (4 s freshness SLO) red once the SLO passes, one SVG
# edge per binding, no request off the broker's origin; screenshot in build/dashboard.png. Also
# checks /v1/status and /v1/lineage (JSON and dot) shapes with curl + jq.
. "$(dirname "$0")/lib.sh"
[ -d tests/js/node_modules/playwright-core ] || bail "tests/js/node_modules missing: run deploy/install-deps.sh --test"
[ -x /usr/bin/chromium ] || bail "/usr/bin/chromium missing (Debian package chromium)"
plan 11
node tests/js/gen_products.js "$T/products" 50 4s || bail "cannot generate products"
start_broker B -o products.dir="$T/products" -o mesh.namespace=com.test -o status.sample.ms=500 \
  -o lineage.interval.ms=2000 || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready: $(tail -5 "$T/B.log")"
FAST=urn:dpds:com.test:dataproducts:p0:1:outputports:a

http GET "$B_URL/v1/status"
is "GET /v1/status answers 200" "$HTTP_STATUS" 200
is "/v1/status lists 200 ports and 49 bindings" \
  "$(jq -c '[.summary.ports, (.ports|length), (.bindings|length), .summary.none]' <<<"$HTTP_BODY")" "[200,200,49,50]"
like "a port object has every field the page uses" \
  "$(jq -c --arg f "$FAST" '.ports[] | select(.fqn==$f) | [.product,.major,.name,.kind,.topic,.freshnessSloSeconds,.state,(.samples|type),.dlq.total,.rejects,(.subscriptions|type)]' <<<"$HTTP_BODY")" \
  '^\["urn:dpds:com.test:dataproducts:p0:1",1,"a","output","com.test.p0.v1.a",4(\.0)?,"red","array",0,0,"array"\]$'
sleep 1.2
http GET "$B_URL/v1/status"
like "throughput samples accumulate every status.sample.ms" \
  "$(jq --arg f "$FAST" '.ports[] | select(.fqn==$f) | .samples|length' <<<"$HTTP_BODY")" '^[1-9][0-9]*$'

http GET "$B_URL/v1/lineage"
is "/v1/lineage: 250 nodes (50 products, 200 ports), 249 edges (150 produces, 50 consumes, 49 bindings)" \
  "$(jq -c '[(.nodes|length), (.edges|length), ([.edges[]|select(.type=="binding")]|length)]' <<<"$HTTP_BODY")" "[250,249,49]"
is "every edge joins two nodes" \
  "$(jq '[.nodes[].id] as $ids | [.edges[] | select((.from as $f | $ids | index($f)) == null or (.to as $t | $ids | index($t)) == null)] | length' <<<"$HTTP_BODY")" 0
curl -sS --max-time 10 -D "$T/dot.h" -o "$T/lineage.dot" "$B_URL/v1/lineage?format=dot"
like "/v1/lineage?format=dot is a Graphviz digraph" "$(head -1 "$T/lineage.dot") $(grep -ic 'content-type: text/vnd.graphviz' "$T/dot.h")" '^digraph lineage \{ 1$'
is "dot: one statement per node and edge" "$(grep -c ' -> ' "$T/lineage.dot") $(grep -c '\[shape=' "$T/lineage.dot")" "249 250"
if [ -x /usr/bin/dot ]; then check "dot accepts it" /usr/bin/dot -Tsvg -o /dev/null "$T/lineage.dot"
else ok "dot accepts it # SKIP /usr/bin/dot not installed"; fi
http GET "$B_URL/v1/lineage?format=yaml"
is "/v1/lineage?format=yaml: 400 naming the format and the choices" \
  "$HTTP_STATUS $(jq -r '"\(.error_code) \(.message)"' <<<"$HTTP_BODY")" "400 400 format 'yaml' is not supported: use json or dot"

mkdir -p build
timeout 90 node tests/js/dashboard.js "$B_URL" 200 49 "$FAST" 4 build/dashboard.png "$T/chromium-profile" >"$T/browser.tap" 2>"$T/browser.err"
rc=$?
sed 's/^/# /' "$T/browser.tap"
[ -s "$T/browser.err" ] && sed 's/^/# stderr: /' "$T/browser.err" | head -20
if [ $rc -eq 0 ] && ! grep -q '^not ok' "$T/browser.tap"; then ok "dashboard in headless Chromium ($(grep -c '^ok' "$T/browser.tap") checks)"
else not_ok "dashboard in headless Chromium" "exit $rc" "$(grep -A3 '^not ok' "$T/browser.tap" | head -20)"; fi
stop_pid "$B_PID"
finish
