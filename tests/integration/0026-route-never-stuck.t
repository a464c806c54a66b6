#!/usr/bin/env bash
# Routing never stops on one record, and the broker's headers are the broker's (issue #15). On the
# example mesh, python3-confluent-kafka writes straight to the weather output topic, partition 0:
# a ~1.04 MB record that is not Avro, a valid ~1.04 MB record (its routed copy is too large for the
# relay producer), a valid record with forged broker-owned headers (duplicates included) and no
# ce_* headers, then normal records. Both large records become truncated dead letters (counted,
# logged with their origin position), the rest is routed in order, also after a restart, and the
# routed copies parse as CloudEvents with the npm `cloudevents` package.
. "$(dirname "$0")/lib.sh"
[ -d tests/js/node_modules/cloudevents ] || bail "tests/js/node_modules missing: run make test-deps"
plan 19
PY=/usr/bin/python3
OUT=com.acme.weather.v2.observations
IN=com.acme.tripExecution.v1.in.weather
OUT_URN=urn:dpds:com.acme:dataproducts:weather:2:outputports:observations
start_kafka 3
start_broker B -c deploy/example.conf -o kafka.bootstrap.servers="$BROKERS" || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
wait_until 30 grep -q "partition 0 of $OUT assigned" "$T/B.log" || bail "weather router not assigned: $(tail -5 "$T/B.log")"
count() { kcat -b "$BROKERS" -C -t "$1" -p 0 -o beginning -e -q -f 'x\n' 2>/dev/null | wc -l; }
has() { [ "$(count "$1")" -ge "$2" ]; }

$PY tests/py/route_direct.py "$BROKERS" "$OUT" "$B_URL" 3 >"$T/sent.json" || bail "direct produce failed"
is "5 + 1 records written straight to partition 0" "$(jq -r .key "$T/sent.json" | tr '\n' ' ')" "big-garbage big-valid forged ok-0 ok-1 ok-2 "
big0=$(jq -r 'select(.key=="big-garbage") | .offset' "$T/sent.json")
big1=$(jq -r 'select(.key=="big-valid") | .offset' "$T/sent.json")
wait_until 40 has "$IN" 4
kcat -b "$BROKERS" -C -t "$IN" -p 0 -o beginning -e -q -f '%k|%h\n' >"$T/in.txt" 2>/dev/null
is "records behind the large ones are routed, in order" "$(cut -d'|' -f1 "$T/in.txt" | tr '\n' ' ')" "forged ok-0 ok-1 ok-2 "
wait_until 30 has "$OUT.dlq" 2
$PY tests/py/route_read.py "$BROKERS" "$OUT.dlq" >"$T/dlq.json" || bail "route_read dlq failed"
g=$(jq -c 'select(.key=="big-garbage")' "$T/dlq.json")
like "not-Avro large record: dead letter with its origin position" "$g" "\"__connect.errors.topic\":\"$OUT\",\"__connect.errors.partition\":\"0\",\"__connect.errors.offset\":\"$big0\""
like "not-Avro large record: truncated and marked so (original length)" "$g" '"mesh.dlq.value.truncated":"1040000"'
is "not-Avro large record: value cut to 64 KiB" "$(jq -r 'select(.key=="big-garbage") | .value_text | length' "$T/dlq.json")" 65536
v=$(jq -c 'select(.key=="big-valid")' "$T/dlq.json")
like "valid large record: refused routed copy dead-lettered at KAFKA_PRODUCE" "$v" '"__connect.errors.stage":"KAFKA_PRODUCE","__connect.errors.exception.class.name":"portbroker.RecordRefusedError"'
like "valid large record: the reason names the input topic and the size" "$v" "refused the routed copy \\([0-9]+ bytes\\).*value truncated to 65536 of [0-9]+ bytes"
like "valid large record: origin offset" "$v" "\"__connect.errors.offset\":\"$big1\""
m=$(curl -sS --max-time 5 "$B_URL/metrics")
like "dlq metric: decode counted" "$m" 'portbroker_dlq_records_total\{[^}]*port="observations"[^}]*reason="decode"\} 1'
like "dlq metric: too_large counted" "$m" 'portbroker_dlq_records_total\{[^}]*port="observations"[^}]*reason="too_large"\} 1'
check "the log names the origin position of the refused record" grep -q "$OUT\\[0\\]@$big1.*refused the routed copy" "$T/B.log"

# Broker-owned headers are the broker's: forged values and duplicates gone, CloudEvents complete.
f=$(grep '^forged|' "$T/in.txt")
is "one ce_source, one hops, one lineage topic (duplicates collapse)" \
  "$(tr ',' '\n' <<<"${f#*|}" | grep -c '^ce_source=\|^mesh.lineage.hops=\|^mesh.lineage.topic=')" 3
like "forged values replaced" "$f" "ce_specversion=1.0,ce_source=$OUT_URN,ce_type=com.acme.weather.Observation,content-type=application/avro,.*mesh.lineage.topic=$OUT,.*mesh.lineage.hops=1"
check "no forged mesh.* header survives" bash -c "! grep -q 'mesh.forged\|=evil\|text/plain' '$T/in.txt'"
like "the producer's own header is kept" "$f" 'x-team=direct'
$PY tests/py/route_read.py "$BROKERS" "$IN" >"$T/in.json" || bail "route_read in failed"
node tests/js/ce_parse.js <"$T/in.json" >"$T/ce.json"
is "every routed record is a valid CloudEvent (npm cloudevents)" "$(jq -r 'select(.error) | .key + ": " + .error' "$T/ce.json")" ""
fo=$(jq -r 'select(.key=="forged") | .offset' "$T/sent.json")
is "ce_id derived from the origin position; source, type, specversion the broker's" \
  "$(jq -c 'select(.key=="forged") | [.id, .source, .type, .specversion, .datacontenttype]' "$T/ce.json")" \
  "[\"$OUT/0/$fo\",\"$OUT_URN\",\"com.acme.weather.Observation\",\"1.0\",\"application/avro\"]"

# Across a restart: nothing is retried forever, new records are routed.
stop_pid "$B_PID" 20
start_broker B2 -c deploy/example.conf -o kafka.bootstrap.servers="$BROKERS" || bail "restart failed"
wait_ready "$B2_URL" || bail "not ready after restart"
$PY tests/py/route_direct.py "$BROKERS" "$OUT" "$B2_URL" 2 --only-ok after >/dev/null || bail "produce after restart failed"
wait_until 60 has "$IN" 6
is "after a restart: new records routed, none twice" "$(kcat -b "$BROKERS" -C -t "$IN" -p 0 -o beginning -e -q -f '%k\n' 2>/dev/null | tr '\n' ' ')" "forged ok-0 ok-1 ok-2 after-0 after-1 "
is "after a restart: the large records are not dead-lettered again" "$(count "$OUT.dlq")" 2
finish
