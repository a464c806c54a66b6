#!/usr/bin/env bash
# Direct producers (issue #15): records a Kafka client writes straight to an output-port topic are
# read by the fan-out reader and counted like published ones (throughput, rejects, freshness),
# with or without a subscriber; their routed copies get the CloudEvents headers they lack
# (ce_id from origin topic/partition/offset). Producers: python3-confluent-kafka.
. "$(dirname "$0")/lib.sh"
plan 6
PY=/usr/bin/python3
start_kafka 3
P="$T/products"
mkdir -p "$P"
cp schemas/examples/weather_observation.avsc schemas/examples/weather_reader.avsc "$P/"
for s in lone bound; do
  jq --arg s "$s" '.info.fullyQualifiedName = "urn:dpds:com.acme:dataproducts:\($s):1" | .info.name = $s | .info.version = "1.0.0"' \
    schemas/examples/weather.json >"$P/$s.json"
done
cat >"$P/sink.json" <<'JSON'
{"dataProductDescriptor": "1.0.0",
 "info": {"fullyQualifiedName": "urn:dpds:com.acme:dataproducts:sink:1", "name": "sink", "version": "1.0.0",
          "domain": "test", "owner": {"id": "sink@acme.example"}},
 "interfaceComponents": {"inputPorts": [
   {"name": "obs", "version": "1.0.0", "from": "urn:dpds:com.acme:dataproducts:bound:1:outputports:observations",
    "promises": {"api": {"format": "avro", "schema": {"$ref": "weather_reader.avsc"}}}}]}}
JSON
LONE=com.acme.lone.v1.observations
BOUND=com.acme.bound.v1.observations
IN=com.acme.sink.v1.in.obs
start_broker A -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme -o products.dir="$P" || bail "serve did not start"
wait_ready "$A_URL" 60 || bail "not ready"
wait_until 60 grep -q "fan-out reader: .* partitions assigned" "$T/A.log" || bail "reader not assigned"
wid=$(curl -sS --max-time 5 "$A_URL/subjects/$LONE-value/versions/latest" | jq .id)
L='product="lone",major="1",port="observations",kind="output"'
value() { curl -sS --max-time 5 "$A_URL/metrics" | awk -v k="$1" 'index($0, k " ") == 1 { print substr($0, length(k) + 2) }'; }
ok_is() { [ "$(value "portbroker_port_records_total{$L,direction=\"in\",outcome=\"ok\"}")" = "$1" ]; }
rej_is() { [ "$(value "portbroker_port_records_total{$L,direction=\"in\",outcome=\"rejected\"}")" = "$1" ]; }

timeout 60 $PY tests/py/route_crash.py produce "$BROKERS" "$LONE" "$wid" 20 0 || bail "produce failed"
timeout 30 $PY tests/py/direct_produce.py bad "$BROKERS" "$LONE" 3 || bail "produce bad failed"
wait_until 30 ok_is 20
is "20 records written straight to a port without subscribers are counted ok" \
  "$(value "portbroker_port_records_total{$L,direction=\"in\",outcome=\"ok\"}")" 20
wait_until 30 rej_is 3
is "3 that are not frames of a registered schema are counted rejected" \
  "$(value "portbroker_port_records_total{$L,direction=\"in\",outcome=\"rejected\"}")" 3
ts=$(value "portbroker_port_last_received_timestamp_seconds{$L}")
check "freshness moved: last received $ts" awk -v t="$ts" 'BEGIN { exit !(t + 0 > 1.7e9) }'
like "the reject is logged with its position" "$(grep "written straight to the topic is rejected" "$T/A.log" | head -1)" "$LONE\\[[0-9]+\\]@[0-9]+"
# Published through HTTP: counted once (by publish), not again by the reader.
curl -sS --max-time 10 -X POST -H 'Content-Type: application/json' "$A_URL/v1/ports/urn:dpds:com.acme:dataproducts:lone:1:outputports:observations/records" \
  -d '{"records":[{"key":"k1","value":{"observationId":"0b0e7f06-9c3e-4c07-8d8e-2f2b9c7a1a11","stationId":"x","observedAt":1700000000000,"location":{"lat":52.5,"lon":13.4,"elevationM":null},"temperatureC":21.5,"humidityPct":null,"windSpeedKmh":12.5,"condition":"CLEAR","precipitationMm":null,"quality":{}}}]}' >"$T/pub.json"
sleep 2
is "a published record counts once ($(head -c 200 "$T/pub.json"))" "$(value "portbroker_port_records_total{$L,direction=\"in\",outcome=\"ok\"}")" 21

# A bound port: direct records without ce_* headers are routed with them.
wid_b=$(curl -sS --max-time 5 "$A_URL/subjects/$BOUND-value/versions/latest" | jq .id)
timeout 60 $PY tests/py/route_crash.py produce "$BROKERS" "$BOUND" "$wid_b" 5 0 || bail "produce 2 failed"
timeout 60 $PY tests/py/route_crash.py settle "$BROKERS" "$IN" 1 >/dev/null
timeout 30 $PY tests/py/direct_produce.py headers "$BROKERS" "$IN" 5 >"$T/h.jsonl"
check "routed copies carry ce_specversion, ce_source, ce_type, ce_time" jq -e -s \
  'length == 5 and all(.[]; .ce_specversion == "1.0" and .ce_source == "urn:dpds:com.acme:dataproducts:bound:1:outputports:observations" and (.ce_type | length > 0) and (.ce_time | test("^20[0-9][0-9]-")))' "$T/h.jsonl"
diag "$(head -1 "$T/h.jsonl")"
finish
