#!/usr/bin/env bash
# Publish (POST /v1/ports/{output-port}/records): JSON, NDJSON and zstd bodies; 200 only with Kafka's
# offsets; what kcat sees on the wire (headers as text, Confluent frame); all-or-nothing 422 listing
# every bad record; 413 for each limit; 415; 404; every record a valid CloudEvent for the npm
# `cloudevents` package; partitions as kafkajs' Java-compatible murmur2 partitioner chooses them.
. "$(dirname "$0")/lib.sh"
[ -d tests/js/node_modules/kafkajs ] || bail "tests/js/node_modules missing: run deploy/install-deps.sh --test"
plan 53
start_kafka 3
start_broker B -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme \
  -o publish.max.records=60 -o publish.max.record.bytes=2000 -o publish.max.record.headers=4 \
  -o publish.max.record.header.bytes=200 -o publish.max.body.bytes=65536 || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"

TOPIC=com.acme.tripExecution.v1.tripEvents
PORT=urn:dpds:com.acme:dataproducts:tripExecution:1:outputports:tripEvents
URL="$B_URL/v1/ports/tripExecution/1/outputports/tripEvents/records"
SID=$(curl -s --max-time 5 "$B_URL/subjects/$TOPIC-value/versions/latest" | jq .id)
REC='{"eventId":"0b0e7f06-9c3e-4c07-8d8e-2f2b9c7a1a11","tripId":"1b0e7f06-9c3e-4c07-8d8e-2f2b9c7a1a11","occurredAt":1700000000000,"eventType":"STARTED","customerId":"c1","vehicle":{"vehicleId":"v1","kind":"VAN","capacityKg":500},"route":{"origin":{"name":"A","lat":1.0,"lon":2.0},"destination":{"name":"B","lat":3.0,"lon":4.0}},"distanceKm":12.5,"serviceDate":19000}'
: >"$T/acked.jsonl"

# pub CONTENT-TYPE FILE [curl args...]: POST the file; HTTP_STATUS, HTTP_BODY; acknowledged results
# are collected for the CloudEvents check.
pub() {
  local ct=$1 f=$2; shift 2
  HTTP_STATUS=$(curl -sS --max-time 20 -o "$T/pub.body" -w '%{http_code}' -H "Content-Type: $ct" --data-binary @"$f" "$@" "$URL")
  HTTP_BODY=$(cat "$T/pub.body")
  [ "$HTTP_STATUS" = 200 ] && jq -c '.results[]' "$T/pub.body" >>"$T/acked.jsonl"
  return 0
}
count() { kcat -b "$BROKERS" -C -t "$TOPIC" -e -q -f '.\n' 2>/dev/null | wc -l; }
# value_head P O: the first 5 bytes of the value at partition P offset O, as hex.
value_head() { kcat -b "$BROKERS" -C -t "$TOPIC" -p "$1" -o "$2" -c 1 -e -q -f '%s' 2>/dev/null | head -c 5 | od -An -tx1 | tr -d ' \n'; }
headers_at() { kcat -b "$BROKERS" -C -t "$TOPIC" -p "$1" -o "$2" -c 1 -e -q -f '%h' 2>/dev/null; }

# --- JSON ---
jq -cn --argjson v "$REC" '{records: [
  {key: "trip-1", value: $v, id: "rec-1", time: "2026-01-02T03:04:05.5+01:00",
   headers: {"x-user": "1", "ce_source": "forged", "mesh.lineage.hops": "7", "ce_causationid": "cause-9"}},
  {value: ($v | .occurredAt = 1600000000000)},
  {key: null, value: ($v | .distanceKm = {"double": 3.5} | .weatherAtStart = {"condition": "SUN", "temperatureC": 20.0})}]}' >"$T/b1.json"
pub application/json "$T/b1.json" -H 'X-Flow-Id: flow-42' -H 'traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' -H 'tracestate: vendor=x'
is "JSON body: 200" "$HTTP_STATUS" 200
is "one result per record, in order, with the producer's id" "$(jq -c '[.results[] | has("partition") and has("offset")] + [.results[0].id]' <<<"$HTTP_BODY")" '[true,true,true,"rec-1"]'
like "a broker id is a UUID" "$(jq -r '.results[1].id' <<<"$HTTP_BODY")" '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
P0=$(jq '.results[0].partition' <<<"$HTTP_BODY"); O0=$(jq '.results[0].offset' <<<"$HTTP_BODY")
P1=$(jq '.results[1].partition' <<<"$HTTP_BODY"); O1=$(jq '.results[1].offset' <<<"$HTTP_BODY")
H=$(headers_at "$P0" "$O0")
like "kcat: ce_id, ce_specversion" "$H" "(^|,)ce_specversion=1\.0,ce_id=rec-1,"
like "kcat: ce_source is the port URN (the producer's is overwritten)" "$H" "ce_source=$PORT,"
like "kcat: ce_type is the record's full name" "$H" "ce_type=com\.acme\.logistics\.trip\.TripEvent,"
like "kcat: ce_time is the record's time (UTC)" "$H" "ce_time=2026-01-02T02:04:05\.500Z,"
like "kcat: ce_recordedtime is RFC 3339" "$H" "ce_recordedtime=20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z,"
like "kcat: content-type and ce_dataschema" "$H" "content-type=application/avro,ce_dataschema=$B_URL/schemas/ids/$SID,"
like "kcat: ce_correlationid from X-Flow-Id" "$H" "ce_correlationid=flow-42,"
like "kcat: traceparent keeps the trace id, new span" "$H" "traceparent=00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01,tracestate=vendor=x,"
unlike_span=$(grep -c 'b7ad6b7169203331' <<<"$H")
is "kcat: the broker's span is not the caller's" "$unlike_span" 0
like "kcat: mesh.contract = URN@port version" "$H" "mesh.contract=$PORT@1\.2\.0"
like "kcat: the producer's own headers are kept" "$H" "x-user=1.*ce_causationid=cause-9|ce_causationid=cause-9.*x-user=1"
is "kcat: no lineage headers on published records, no forged source" "$(grep -Ec 'mesh\.lineage|forged' <<<"$H")" 0
is "kcat: the value is a Confluent frame with the port's schema id" "$(value_head "$P0" "$O0")" "$(printf '00%08x' "$SID")"
like "ce_time falls back to the eventTimeField (occurredAt)" "$(headers_at "$P1" "$O1")" "ce_time=2020-09-13T12:26:40\.000Z,"
K=$(kcat -b "$BROKERS" -C -t "$TOPIC" -p "$P0" -o "$O0" -c 1 -e -q -f '%k' 2>/dev/null)
is "the key is the UTF-8 of \"key\"" "$K" trip-1

# --- NDJSON and zstd ---
{ jq -c --argjson v "$REC" -n '{key: "nd-1", value: $v}'; echo; echo '   '; jq -c --argjson v "$REC" -n '{value: $v, id: "nd-2"}'; } >"$T/b2.ndjson"
pub application/x-ndjson "$T/b2.ndjson"
is "NDJSON body (blank lines skipped): 200 with 2 results" "$HTTP_STATUS $(jq '.results | length' <<<"$HTTP_BODY")" "200 2"
zstd -q -c "$T/b1.json" >"$T/b1.json.zst"
pub application/json "$T/b1.json.zst" -H 'Content-Encoding: zstd'
is "zstd JSON body: 200 with 3 results" "$HTTP_STATUS $(jq '.results | length' <<<"$HTTP_BODY")" "200 3"
zstd -q -c "$T/b2.ndjson" >"$T/b2.ndjson.zst"
pub 'application/x-ndjson; charset=utf-8' "$T/b2.ndjson.zst" -H 'Content-Encoding: zstd'
is "zstd NDJSON body: 200 with 2 results" "$HTTP_STATUS $(jq '.results | length' <<<"$HTTP_BODY")" "200 2"

# --- all or nothing ---
before=$(count)
jq -cn --argjson v "$REC" '{records: [
  {value: $v},
  {value: ($v | del(.eventId))},
  {value: $v, time: "yesterday"},
  {value: ($v | .route.origin.lat = "north")},
  {value: $v, key: 7},
  {value: $v, headers: {"a": 1}},
  {value: $v, colour: "red"},
  {value: ($v | .eventId = "not-a-uuid")}]}' >"$T/bad.json"
pub application/json "$T/bad.json"
is "invalid records: 422" "$HTTP_STATUS" 422
is "the message counts them" "$(jq -r .message <<<"$HTTP_BODY")" "7 of 8 records are invalid; nothing was published"
is "every bad record is listed with index and path" "$(jq -c '[.errors[] | [.index, .path]]' <<<"$HTTP_BODY")" \
  '[[1,"/value/eventId"],[2,"/time"],[3,"/value/route/origin/lat"],[4,"/key"],[5,"/headers/a"],[6,"/colour"],[7,"/value/eventId"]]'
like "each with a reason" "$(jq -r '.errors[2].reason' <<<"$HTTP_BODY")" 'expected double'
like "a uuid field holding another string is refused naming the form" "$(jq -r '.errors[6].reason' <<<"$HTTP_BODY")" '"not-a-uuid" is not a UUID: expected RFC 4122 text'
printf '%s\n{"value": oops}\n' "$(jq -cn --argjson v "$REC" '{value: $v}')" >"$T/bad.ndjson"
pub application/x-ndjson "$T/bad.ndjson"
like "a line that is not JSON: 422 naming the record and line" "$HTTP_STATUS $(jq -c '.errors' <<<"$HTTP_BODY")" '^422 \[\{"index":1,"path":"","reason":"line 2 is not JSON'
echo '{"records": [' >"$T/syntax.json"
pub application/json "$T/syntax.json"
like "a JSON body that does not parse: 400 with line and column" "$HTTP_STATUS $HTTP_BODY" '^400 .*line [0-9]+ column [0-9]+'
is "nothing was produced by any refused request" "$(count)" "$before"

# --- limits ---
jq -cn --argjson v "$REC" '{records: [range(61) | {value: $v}]}' >"$T/many.json"
pub application/json "$T/many.json"
like "61 records: 413 naming publish.max.records and its value" "$HTTP_STATUS $HTTP_BODY" '^413 .*60.*"limit":"publish.max.records"'
jq -cn --argjson v "$REC" '{records: [{value: ($v | .customerId = ("x" * 3000))}]}' >"$T/big.json"
pub application/json "$T/big.json"
like "a record over publish.max.record.bytes: 413 with the limit" "$HTTP_STATUS $(jq -c '.errors[0]' <<<"$HTTP_BODY")" '^413 \{"index":0,"path":"","reason":"the encoded record is [0-9]+ bytes.*2000","limit":"publish.max.record.bytes"'
jq -cn --argjson v "$REC" '{records: [{value: $v, headers: {a: "1", b: "2", c: "3", d: "4", e: "5"}}]}' >"$T/hdrs.json"
pub application/json "$T/hdrs.json"
like "5 headers: 413 publish.max.record.headers" "$HTTP_STATUS $(jq -c '.errors[0]' <<<"$HTTP_BODY")" '^413 .*"/headers".*= 4","limit":"publish.max.record.headers"'
jq -cn --argjson v "$REC" '{records: [{value: $v, headers: {a: ("y" * 300)}}]}' >"$T/hbytes.json"
pub application/json "$T/hbytes.json"
like "300 header bytes: 413 publish.max.record.header.bytes" "$HTTP_STATUS $(jq -c '.errors[0]' <<<"$HTTP_BODY")" '^413 .*= 200","limit":"publish.max.record.header.bytes"'
{ printf '{"records": ['; head -c 70000 /dev/zero | tr '\0' ' '; printf ']}'; } >"$T/body.json"
pub application/json "$T/body.json"
like "a 70 kB body: 413 publish.max.body.bytes" "$HTTP_STATUS $HTTP_BODY" '^413 .*65536.*"limit":"publish.max.body.bytes"'
{ printf '{"records": ['; head -c 5000000 /dev/zero | tr '\0' ' '; printf ']}'; } | zstd -q -c >"$T/bomb.zst"
pub application/json "$T/bomb.zst" -H 'Content-Encoding: zstd'
like "$(stat -c %s "$T/bomb.zst") bytes of zstd inflating to 5 MB: 413 publish.max.body.bytes" "$HTTP_STATUS $HTTP_BODY" '^413 .*decompresses.*"limit":"publish.max.body.bytes"'
printf 'not zstd at all' >"$T/junk.zst"
pub application/json "$T/junk.zst" -H 'Content-Encoding: zstd'
like "corrupt zstd: 400" "$HTTP_STATUS $HTTP_BODY" '^400 .*zstd'
is "nothing was produced by any request over a limit" "$(count)" "$before"

# --- media types and ports ---
pub text/plain "$T/b1.json"
like "text/plain: 415 naming the accepted types" "$HTTP_STATUS $HTTP_BODY" '^415 .*application/json.*application/x-ndjson'
pub application/json "$T/b1.json" -H 'Content-Encoding: br'
like "Content-Encoding br: 415 naming zstd and gzip" "$HTTP_STATUS $HTTP_BODY" '^415 .*zstd or gzip'
http POST "$B_URL/v1/ports/tripExecution/1/outputports/nope/records" -H 'Content-Type: application/json' --data-binary @"$T/b1.json"
is "unknown port: 404" "$HTTP_STATUS" 404
http POST "$B_URL/v1/ports/tripExecution/1/inputports/weather/records" -H 'Content-Type: application/json' --data-binary @"$T/b1.json"
like "an input port: 404 saying to publish to output ports" "$HTTP_STATUS $HTTP_BODY" '^404 .*is an input port.*output ports only'
is "and nothing was produced" "$(count)" "$before"

# --- partitioning: 50 keys, as the Java client would place them ---
jq -cn --argjson v "$REC" '{records: [range(50) | {key: "customer-\(.)", value: $v}]}' >"$T/keys.json"
pub application/json "$T/keys.json"
is "50 keyed records: 200" "$HTTP_STATUS" 200
jq -c '[range(50) as $i | {key: "customer-\($i)", partition: .results[$i].partition}]' "$T/pub.body" >"$T/keys.out"
is "the keys spread over several of the 6 partitions" "$(jq '[.[].partition] | unique | length > 3' "$T/keys.out")" true
jq -c '[range(50) as $i | .results[$i] + {key: "customer-\($i)"}]' "$T/pub.body" >"$T/keyed.json"

# --- every acknowledged record, read back with kafkajs, is a valid CloudEvent ---
jq -cn --arg topic "$TOPIC" --arg source "$PORT" --argjson sid "$SID" --arg ds "$B_URL" \
  --slurpfile recs "$T/acked.jsonl" --slurpfile keys "$T/keys.out" --slurpfile keyed "$T/keyed.json" \
  '{topic: $topic, source: $source, type: "com.acme.logistics.trip.TripEvent", schemaId: $sid,
    dataschemaPrefix: $ds, partitions: 6, keys: $keys[0],
    records: (($keyed[0] | map(.id)) as $kids | [$recs[] | select(.id as $i | $kids | index($i) | not)] + $keyed[0])}' >"$T/expected.json"
is "$(jq '.records | length' "$T/expected.json") acknowledged records to check" "$(jq '.records | length' "$T/expected.json")" "$(wc -l <"$T/acked.jsonl" | tr -d ' ')"
timeout 60 node tests/js/publish_check.js "$BROKERS" "$T/expected.json" | sed 's/^\(not \)\{0,1\}ok [0-9]* - /&kafkajs: /' >"$T/node.tap"
while read -r line; do
  case "$line" in
    "ok "*) ok "${line#ok * - }" ;;
    "not ok "*) not_ok "${line#not ok * - }" ;;
    "#"*) echo "$line" ;;
  esac
done <"$T/node.tap"
finish
