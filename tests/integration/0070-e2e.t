#!/usr/bin/env bash
# End to end over the example mesh (weather -> tripExecution -> billing), with `portbroker kafka`
# in its own process: records published over HTTP to weather's output port are routed into
# tripExecution's input port and read from its HTTP stream in the reader schema; a "tripExecution
# app" publishes one trip event per observation it read (same flow id, its trace continued, the
# observation's id as causation id), which is routed into billing's input port and read there.
# kcat sees every header of a routed record as text; the npm cloudevents package parses every
# routed record as a valid CloudEvent.
. tests/integration/lib.sh
plan 27
N=60
W_OUT=urn:dpds:com.acme:dataproducts:weather:2:outputports:observations
T_IN=tripExecution/1/inputports/weather
T_OUT=urn:dpds:com.acme:dataproducts:tripExecution:1:outputports:tripEvents
B_IN=billing/1/inputports/trips
W_TOPIC=com.acme.weather.v2.observations
TW_TOPIC=com.acme.tripExecution.v1.in.weather
T_TOPIC=com.acme.tripExecution.v1.tripEvents
BT_TOPIC=com.acme.billing.v1.in.trips
TRACE=4bf92f3577b34da6a3ce929d0e0e4736
FLOW=flow-e2e-$$

start_kafka 3
start_broker B -o kafka.bootstrap.servers="$BROKERS" -o products.dir=schemas/examples \
  -o mesh.namespace=com.acme || bail "broker did not start"
wait_ready "$B_URL" 40 || bail "broker not ready: $(tail -5 "$T/B.log")"

# The reader schema ids of both bindings, from the subscriptions.
http GET "$B_URL/v1/subscriptions"
TW_READER=$(jq -r --arg to "urn:dpds:com.acme:dataproducts:tripExecution:1:inputports:weather" \
  '.subscriptions[] | select(.to == $to) | .readerSchemaId' <<<"$HTTP_BODY")
BT_READER=$(jq -r --arg to "urn:dpds:com.acme:dataproducts:billing:1:inputports:trips" \
  '.subscriptions[] | select(.to == $to) | .readerSchemaId' <<<"$HTTP_BODY")
like "both example bindings exist, with reader schema ids" "$TW_READER/$BT_READER" '^[0-9]+/[0-9]+$'

# Streams on both input ports first (joining the subscriber group takes a few seconds).
curl -sN --max-time 90 "$B_URL/v1/ports/$T_IN/records?format=ndjson&timeout_ms=40000" >"$T/tw.ndjson" 2>"$T/tw.err" &
TW_CURL=$!; _pids+=("$TW_CURL")
curl -sN --max-time 90 "$B_URL/v1/ports/$B_IN/records?format=ndjson&timeout_ms=40000" >"$T/bt.ndjson" 2>"$T/bt.err" &
BT_CURL=$!; _pids+=("$BT_CURL")

# Hop 1: N observations published over HTTP with a trace and a flow id.
now_ms=$(($(date +%s) * 1000))
jq -n --argjson n "$N" --argjson now "$now_ms" '{records: [range($n) | {
    key: "station-\(. % 7)", id: "obs-\(.)",
    value: {observationId: "00000000-0000-4000-8000-\(100000000000 + . | tostring)",
            stationId: "station-\(. % 7)", observedAt: ($now - 1000 + .),
            location: {lat: 52.5, lon: 13.4, elevationM: 34.0}, temperatureC: (. / 4),
            humidityPct: 40.5, condition: "RAIN", quality: {qc: "ok"}}}]}' >"$T/obs.json"
http POST "$B_URL/v1/ports/$W_OUT/records" -H 'Content-Type: application/json' \
  -H "traceparent: 00-$TRACE-00f067aa0ba902b7-01" -H "X-Flow-Id: $FLOW" --data-binary @"$T/obs.json"
is "publish $N observations: 200" "$HTTP_STATUS" 200
is "every observation acknowledged with an offset" \
  "$(jq '[.results[] | select(.offset >= 0)] | length' <<<"$HTTP_BODY")" "$N"

lines() { [ -s "$1" ] && [ "$(grep -c '"offset"' "$1")" -ge "$2" ]; }
if wait_until 45 lines "$T/tw.ndjson" "$N"; then ok "tripExecution's stream delivers the $N routed observations"
else not_ok "tripExecution's stream delivers the $N routed observations" "got $(grep -c . "$T/tw.ndjson") lines" "$(tail -3 "$T/B.log")"; fi
recs=$(grep '"offset"' "$T/tw.ndjson" | jq -s '.')
is "each observation id exactly once" \
  "$(jq '[.[].headers.ce_id] | unique | length' <<<"$recs")/$(jq 'length' <<<"$recs")" "$N/$N"
is "values in the reader schema: promoted double, visibilityKm default, no humidity or quality" \
  "$(jq -c '[.[] | .value | [(.temperatureC | type), .visibilityKm, has("humidityPct"), has("quality"), .location]] | unique' <<<"$recs")" \
  '[["number",null,false,false,{"lat":52.5,"lon":13.4}]]'
is "schema_id of every record is the binding's reader schema" \
  "$(jq -c '[.[].schema_id] | unique' <<<"$recs")" "[$TW_READER]"
is "lineage: origin topic, same partition, one hop" \
  "$(jq -c '[.[] | [.headers["mesh.lineage.topic"], (.headers["mesh.lineage.partition"] == (.partition | tostring)), .headers["mesh.lineage.hops"]]] | unique' <<<"$recs")" \
  "[[\"$W_TOPIC\",true,\"1\"]]"
is "ce_source stays the weather port, flow id kept as ce_correlationid" \
  "$(jq -c '[.[] | [.headers.ce_source, .headers.ce_correlationid]] | unique' <<<"$recs")" "[[\"$W_OUT\",\"$FLOW\"]]"
is "traceparent keeps the publisher's trace id in a new span per hop" \
  "$(jq -r --arg t "$TRACE" '[.[] | .headers.traceparent | select(startswith("00-\($t)-") and (.[36:52] != "00f067aa0ba902b7"))] | length' <<<"$recs")" "$N"

# Hop 2: the tripExecution app publishes one trip event per observation it read.
jq --argjson now "$now_ms" '{records: [.[] | {
    key: .key, id: "trip-\(.headers.ce_id)",
    headers: {ce_causationid: .headers.ce_id},
    value: {eventId: "00000000-0000-4000-9000-\(100000000000 + .offset | tostring)",
            tripId: "00000000-0000-4000-a000-000000000001", occurredAt: $now,
            eventType: "STARTED", customerId: "c-1", vehicle: {vehicleId: "v-1"},
            route: {origin: {name: "A", lat: 1.0, lon: 2.0}, destination: {name: "B", lat: 3.0, lon: 4.0}},
            serviceDate: 20000, weatherAtStart: {condition: .value.condition, temperatureC: .value.temperatureC}}}]}' \
  <<<"$recs" >"$T/trips.json"
tp=$(jq -r '.[0].headers.traceparent' <<<"$recs")
http POST "$B_URL/v1/ports/$T_OUT/records" -H 'Content-Type: application/json' \
  -H "traceparent: $tp" -H "X-Flow-Id: $FLOW" --data-binary @"$T/trips.json"
is "publish $N trip events: 200" "$HTTP_STATUS" 200
if wait_until 45 lines "$T/bt.ndjson" "$N"; then ok "billing's stream delivers the $N routed trip events"
else not_ok "billing's stream delivers the $N routed trip events" "got $(grep -c . "$T/bt.ndjson") lines"; fi
brecs=$(grep '"offset"' "$T/bt.ndjson" | jq -s '.')
is "billing sees each trip event once, caused by the observation it came from" \
  "$(jq '[.[] | select(.headers.ce_id == "trip-\(.headers.ce_causationid)")] | length' <<<"$brecs")" "$N"
is "the flow id and the trace id survive two hops" \
  "$(jq -r --arg t "$TRACE" --arg f "$FLOW" '[.[] | select(.headers.ce_correlationid == $f and (.headers.traceparent | startswith("00-\($t)-")))] | length' <<<"$brecs")" "$N"
is "billing's records: lineage names tripEvents' topic; reader schema id" \
  "$(jq -c '[.[] | [.headers["mesh.lineage.topic"], .headers["mesh.lineage.hops"], .schema_id]] | unique' <<<"$brecs")" \
  "[[\"$T_TOPIC\",\"1\",$BT_READER]]"

# kcat: every header of a routed record, as text.
kcat -C -b "$BROKERS" -t "$TW_TOPIC" -o beginning -e -q -f '%h\n' >"$T/kcat.h" 2>"$T/kcat.err"
names=$(head -1 "$T/kcat.h" | tr ',' '\n' | cut -d= -f1 | sort | tr '\n' ' ')
missing=""
for h in traceparent ce_specversion ce_id ce_source ce_type ce_time ce_recordedtime content-type \
  ce_dataschema ce_correlationid mesh.contract mesh.lineage.topic mesh.lineage.partition \
  mesh.lineage.offset mesh.lineage.hops; do
  grep -qw -- "$h" <<<"$names" || missing="$missing $h"
done
is "kcat: a routed record carries every header of DESIGN §6" "${missing:-none}" none
is "kcat: $N records in $TW_TOPIC" "$(grep -c . "$T/kcat.h")" "$N"
like "kcat: header values are text (ce_source=URN, hops=1)" "$(head -1 "$T/kcat.h")" \
  "ce_source=$W_OUT.*mesh.lineage.hops=1"

# cloudevents (npm) over both input-port topics.
jq -n --arg b "$B_URL" --argjson twr "$TW_READER" --argjson btr "$BT_READER" \
  --argjson tw "$(jq -c '[.[].headers.ce_id]' <<<"$recs")" --argjson bt "$(jq -c '[.[].headers.ce_id]' <<<"$brecs")" '[
  {topic: "com.acme.tripExecution.v1.in.weather", count: ($tw | length), ids: $tw,
   source: "urn:dpds:com.acme:dataproducts:weather:2:outputports:observations",
   originTopic: "com.acme.weather.v2.observations", readerId: $twr, dataschemaPrefix: $b,
   contract: "urn:dpds:com.acme:dataproducts:tripExecution:1:inputports:weather@1.0.0"},
  {topic: "com.acme.billing.v1.in.trips", count: ($bt | length), ids: $bt,
   source: "urn:dpds:com.acme:dataproducts:tripExecution:1:outputports:tripEvents",
   originTopic: "com.acme.tripExecution.v1.tripEvents", readerId: $btr, dataschemaPrefix: $b,
   contract: "urn:dpds:com.acme:dataproducts:billing:1:inputports:trips@1.0.0"}]' >"$T/routed.json"
node tests/js/routed_check.js "$BROKERS" "$T/routed.json" >"$T/routed.tap" 2>&1
while read -r line; do
  case "$line" in
    "ok "*) ok "cloudevents: ${line#ok * - }" ;;
    "not ok "*) not_ok "cloudevents: ${line#not ok * - }" "$(grep '^#' "$T/routed.tap" | head -5)" ;;
  esac
done < <(grep -E '^(not )?ok ' "$T/routed.tap" | head -8)

stop_pid "$B_PID" 15
is "broker stops cleanly" "$STOP_RC" 0
finish
