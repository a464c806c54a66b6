#!/usr/bin/env bash
# The ops console (DESIGN.md §8, issue #17) in headless Chromium at 1366x768 and 1920x1080 (and wall
# mode) over the example mesh plus 200 generated ports, after traffic: weather observations and trip
# events published (routed to tripExecution and billing), and one rejected trip event, which spends
# tripEvents' 0.1 % reject budget. tests/js/console.js asserts on the rendered page; screenshots in
# build/console-*.png. /v1/status is checked with jq for the numbers the page shows.
. "$(dirname "$0")/lib.sh"
[ -d tests/js/node_modules/playwright-core ] || bail "tests/js/node_modules missing: run make test-deps"
[ -x /usr/bin/chromium ] || bail "/usr/bin/chromium missing (Debian package chromium)"
plan 5
NS=urn:dpds:com.acme:dataproducts
mkdir -p "$T/products"
cp schemas/examples/*.json schemas/examples/*.avsc "$T/products/"
node tests/js/gen_products.js "$T/products" 50 1h || bail "cannot generate products"
start_broker B -o products.dir="$T/products" -o mesh.namespace=com.acme -o status.sample.ms=500 \
  || bail "serve did not start"
wait_ready "$B_URL" 60 || bail "not ready: $(tail -5 "$T/B.log")"
NPORTS=$(curl -sS --max-time 10 "$B_URL/v1/status" | jq '.ports | length')
TRIPS=$NS:tripExecution:1:outputports:tripEvents
OBS=$NS:weather:2:outputports:observations

now=$(date +%s000)
obs=$(jq -cn --argjson now "$now" '{records: [range(5) | {key: "st-\(.)", value: {observationId: "00000000-0000-4000-8000-00000000000\(.)",
  stationId: "st-\(.)", observedAt: $now, location: {lat: 52.5, lon: 13.4}, temperatureC: 4.5, condition: "RAIN"}}]}')
http POST "$B_URL/v1/ports/$OBS/records" -H 'Content-Type: application/json' -d "$obs"
s1=$HTTP_STATUS
trip() { jq -cn --argjson now "$now" --arg id "$1" --arg trip "$2" '{eventId: $id, tripId: $trip, occurredAt: $now,
  eventType: "STARTED", customerId: "c-1", vehicle: {vehicleId: "v-1"},
  route: {origin: {name: "A", lat: 1.0, lon: 2.0}, destination: {name: "B", lat: 3.0, lon: 4.0}},
  serviceDate: 20000, fare: "12.50"}'; }
good=$(jq -cn --argjson a "$(trip 00000000-0000-4000-9000-000000000001 00000000-0000-4000-a000-000000000001)" \
  --argjson b "$(trip 00000000-0000-4000-9000-000000000002 00000000-0000-4000-a000-000000000001)" '{records: [{key: "t1", value: $a}, {key: "t1", value: $b}]}')
http POST "$B_URL/v1/ports/$TRIPS/records" -H 'Content-Type: application/json' -d "$good"
s2=$HTTP_STATUS
bad=$(jq -cn --argjson a "$(trip 00000000-0000-4000-9000-000000000003 00000000-0000-4000-a000-000000000001)" '{records: [{key: "t1", value: ($a | .customerId = 5)}]}')
http POST "$B_URL/v1/ports/$TRIPS/records" -H 'Content-Type: application/json' -d "$bad"
is "traffic: observations 200, trip events 200, a bad trip event 422" "$s1 $s2 $HTTP_STATUS" "200 200 422"

# The broker computes what the page shows: the reject budget is spent on tripEvents (1 of 3 > 0.1 %).
wait_until 20 sh -c "curl -sS --max-time 5 '$B_URL/v1/status' | jq -e '.ports[] | select(.fqn==\"$TRIPS\") | .subscribers[0].lag | length > 0' >/dev/null"
http GET "$B_URL/v1/status"
is "/v1/status: tripEvents' reject ratio 1/3, budget spent (1 - ratio/0.001), state red" \
  "$(jq -c --arg f "$TRIPS" '.ports[] | select(.fqn==$f) | [(.rejectRatio*1000|round), .slo.rejectsMaxRatio, .rejectBudgetLeft, .rejectState]' <<<"$HTTP_BODY")" \
  "[333,0.001,-332.333,\"red\"]"
is "/v1/status: observations within budget (0 rejects of 5), green; subscriber labelled by product" \
  "$(jq -c --arg f "$OBS" '.ports[] | select(.fqn==$f) | [.rejectRatio, .rejectBudgetLeft, .rejectState, .subscribers[0].product, ([.subscribers[0].lag[].role]|sort)]' <<<"$HTTP_BODY")" \
  '[0,1,"green","tripExecution v1",["consumers","routing"]]'

# The sample the port page shows must exist before the browser looks (routing is asynchronous).
wait_until 20 sh -c "curl -sS --max-time 5 '$B_URL/v1/ports/$TRIPS/sample?limit=1' | jq -e '.records | length == 1' >/dev/null"
ok "tripEvents has a sample record"

mkdir -p build
timeout 150 node tests/js/console.js "$B_URL" "$NPORTS" "$TRIPS" "$OBS" build "$T/chromium-profile" >"$T/browser.tap" 2>"$T/browser.err"
rc=$?
sed 's/^/# /' "$T/browser.tap"
[ -s "$T/browser.err" ] && sed 's/^/# stderr: /' "$T/browser.err" | head -20
if [ $rc -eq 0 ] && ! grep -q '^not ok' "$T/browser.tap" && grep -q '^ok 33 ' "$T/browser.tap"; then
  ok "console in headless Chromium at 1366x768, 1920x1080 and wall mode ($(grep -c '^ok' "$T/browser.tap") checks; build/console-*.png)"
else not_ok "console in headless Chromium" "exit $rc" "$(grep -A3 '^not ok' "$T/browser.tap" | head -30)"; fi
stop_pid "$B_PID"
finish
