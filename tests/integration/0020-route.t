#!/usr/bin/env bash
# Routing (issue #5): records produced straight to an output-port topic by kafkajs with
# @kafkajs/confluent-schema-registry arrive in the bound input-port topic projected into the
# reader schema, framed with the reader's id, with lineage/trace/contract headers; bad records go
# to the dead-letter topic with Kafka Connect's error headers; a writer version registered
# mid-stream is routed without a restart. Read back with kcat and python3-confluent-kafka.
. "$(dirname "$0")/lib.sh"
[ -d tests/js/node_modules/kafkajs ] || bail "tests/js/node_modules missing: run deploy/install-deps.sh --test"
plan 31
start_kafka 3
start_broker B -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
OUT=com.acme.weather.v2.observations
IN=com.acme.tripExecution.v1.in.weather
PY=/usr/bin/python3
count() { # count TOPIC: records in a topic (all partitions)
  kcat -b "$BROKERS" -C -t "$1" -o beginning -e -q -f 'x\n' 2>/dev/null | wc -l
}
has() { [ "$(count "$1")" -ge "$2" ]; }
reader_id=$(curl -sS --max-time 5 "$B_URL/subjects/$IN-value/versions/latest" | jq .id)
like "the input port's reader schema has an id" "$reader_id" '^[0-9]+$'
wait_until 30 grep -q "router started: .*observations -> .*inputports:weather" "$T/B.log"
check "a router started for the weather binding" grep -q "group portbroker.route.$IN" "$T/B.log"

sent=$(timeout 60 node tests/js/route_produce.js "$B_URL" "$BROKERS" good 5) || bail "kafkajs produce failed"
writer_id=$(jq .schemaId <<<"$sent")
wait_until 30 has "$IN" 5
is "5 records routed into $IN" "$(count "$IN")" 5
# kcat: every header as text, the frame's schema id.
kcat -b "$BROKERS" -C -t "$IN" -o beginning -e -q -f '%o|%k|%h\n' >"$T/kcat.txt"
first=$(head -1 "$T/kcat.txt")
like "producer headers kept (kcat)" "$first" 'ce_id=id-good-0,ce_time=2026-11-21T10:00:00.000Z,x-team=weather'
like "lineage headers: origin topic, partition, offset" "$first" "mesh.lineage.topic=$OUT,mesh.lineage.partition=0,mesh.lineage.offset=0"
like "hops: the broker's own count, the producer's 1 not trusted" "$first" 'mesh.lineage.hops=1$'
like "contract of the input port" "$first" 'mesh.contract=urn:dpds:com.acme:dataproducts:tripExecution:1:inputports:weather@1.0.0'
like "ce_dataschema names the reader schema" "$first" "ce_dataschema=$B_URL/schemas/ids/$reader_id,"
like "trace continued with a new span" "$first" 'traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01'
check "the producer's span is not reused" bash -c "! grep -q 00f067aa0ba902b7 '$T/kcat.txt'"
check "no forged contract survives" bash -c "! grep -q forged '$T/kcat.txt'"
frame=$(kcat -b "$BROKERS" -C -t "$IN" -o beginning -c 1 -e -q -f '%s' | head -c 5 | od -An -tx1 | tr -d ' \n')
is "frame: magic 0 and the reader schema id" "$frame" "$(printf '00%08x' "$reader_id")"
is "offsets 0..4 each once, in order" "$(cut -d'|' -f3 "$T/kcat.txt" | grep -o 'mesh.lineage.offset=[0-9]*' | tr '\n' ' ')" \
  "mesh.lineage.offset=0 mesh.lineage.offset=1 mesh.lineage.offset=2 mesh.lineage.offset=3 mesh.lineage.offset=4 "
# python3-confluent-kafka + python3-avro: decode with the schema the frame names.
$PY tests/py/route_read.py "$BROKERS" "$IN" --decode "$B_URL" >"$T/in.json" || bail "route_read failed"
v=$(head -1 "$T/in.json" | jq -c .value)
like "projected: reader-only field takes its default" "$v" '"visibilityKm":null'
like "projected: dropped writer fields are gone" "$(jq -c '.value | keys' <<<"$(head -1 "$T/in.json")")" '^\["condition","location","observationId","observedAt","stationId","temperatureC","visibilityKm"\]$'
like "projected: data kept (float promoted to double)" "$v" '"temperatureC":21.5.*"condition":"RAIN"'
is "same key" "$(head -1 "$T/in.json" | jq -r .key)" "st-0"

# Dead letters.
timeout 60 node tests/js/route_produce.js "$B_URL" "$BROKERS" bad >"$T/bad.json" || bail "kafkajs bad produce failed"
wait_until 30 has "$OUT.dlq" 3
$PY tests/py/route_read.py "$BROKERS" "$OUT.dlq" >"$T/dlq.json" || bail "route_read dlq failed"
is "3 dead letters" "$(wc -l <"$T/dlq.json")" 3
g=$(jq -c 'select(.key=="garbage") | .headers' "$T/dlq.json")
like "garbage: decode error at VALUE_CONVERTER" "$g" '"__connect.errors.stage":"VALUE_CONVERTER","__connect.errors.exception.class.name":"portbroker.DecodeError","__connect.errors.exception.message":"bad magic byte 0x6e, expected 0x00"'
like "garbage: origin position" "$g" "\"__connect.errors.topic\":\"$OUT\",\"__connect.errors.partition\":\"0\",\"__connect.errors.offset\":\"5\""
is "garbage: value kept as it was" "$(jq -r 'select(.key=="garbage") | .value_text' "$T/dlq.json")" "not avro at all"
like "unknown schema id" "$(jq -c 'select(.key=="unknown") | .headers' "$T/dlq.json")" '"portbroker.UnknownSchemaError","__connect.errors.exception.message":"schema id 999999 is not in the registry'
uid=$(jq .unreadableId "$T/bad.json")
like "unreadable writer: projection error naming both ids and the field" "$(jq -c 'select(.key=="unreadable") | .headers' "$T/dlq.json")" \
  "\"TRANSFORMATION\",\"__connect.errors.exception.class.name\":\"portbroker.ProjectionError\",\"__connect.errors.exception.message\":\"writer schema id $uid cannot be read as reader schema id $reader_id: .*stationId"
like "dead letters keep producer headers" "$g" '"ce_id":"id-bad-0"'

# A compatible new writer version, registered mid-stream, is routed without restart.
ev=$(timeout 60 node tests/js/route_produce.js "$B_URL" "$BROKERS" evolve 2) || bail "kafkajs evolve failed"
new_id=$(jq .schemaId <<<"$ev")
check "the new version has a new id ($writer_id -> $new_id)" test "$new_id" -gt "$writer_id"
wait_until 30 has "$IN" 7
$PY tests/py/route_read.py "$BROKERS" "$IN" --decode "$B_URL" >"$T/in2.json"
is "evolved records routed, framed with the reader id" "$(tail -2 "$T/in2.json" | jq -r '"\(.schema_id) \(.headers."mesh.lineage.offset")"' | tr '\n' ' ')" "$reader_id 8 $reader_id 9 "

# The subscriber changes its reader schema (PUT /v1/subscriptions on the same from/to): records
# from then on are projected into the new reader and framed with its id, without a restart.
reader2=$(jq -c '.fields += [{"name":"note","type":["null","string"],"default":null}]' schemas/examples/weather_reader.avsc)
http PUT "$B_URL/v1/subscriptions" -H 'Content-Type: application/json' \
  -d "{\"from\":\"urn:dpds:com.acme:dataproducts:weather:2:outputports:observations\",\"to\":\"urn:dpds:com.acme:dataproducts:tripExecution:1:inputports:weather\",\"readerSchema\":$reader2,\"start\":\"earliest\"}"
like "new reader schema accepted" "$HTTP_STATUS" '^20[01]$'
reader2_id=$(jq .readerSchemaId <<<"$HTTP_BODY")
check "the new reader has its own id ($reader_id -> $reader2_id)" test "$reader2_id" -ne "$reader_id"
timeout 60 node tests/js/route_produce.js "$B_URL" "$BROKERS" good 1 >/dev/null || bail "kafkajs produce failed"
wait_until 30 has "$IN" 8
$PY tests/py/route_read.py "$BROKERS" "$IN" --decode "$B_URL" >"$T/in3.json"
last=$(tail -1 "$T/in3.json")
is "after the change: framed with the new reader id, nothing routed twice" "$(jq -r '"\(.schema_id) \(.headers."mesh.lineage.offset") \(.headers.ce_dataschema | sub(".*/"; ""))"' <<<"$last") $(wc -l <"$T/in3.json")" "$reader2_id 10 $reader2_id 8"
like "projected into the new reader (its new field defaulted)" "$(jq -c .value <<<"$last")" '"note":null'
check "the broker was not restarted" kill -0 "$B_PID"
finish
