#!/usr/bin/env bash
# Idempotent publish by record id (issue #16; publish.dedupe.*): a batch sent again with the same
# ids is answered with the first copy's positions and "duplicate": true and stored once; another
# record under a known id is a 409 for that record only; ids racing from concurrent requests are
# stored once; ids the broker generates are never merged; the window and the per-port bound
# forget ids; the counters on /metrics say how many. Kafka is read back with kcat.
. "$(dirname "$0")/lib.sh"
plan 16
start_kafka 3
start_broker B -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
PORT=weather/2/outputports/observations
http GET "$B_URL/v1/ports/$PORT"
TOPIC=$(echo "$HTTP_BODY" | jq -r .topic)
[ -n "$TOPIC" ] && [ "$TOPIC" != null ] || bail "no topic for $PORT: $HTTP_BODY"
# rec ID N: one observation record with producer id ID and temperature N.
rec() {
  printf '{"id":"%s","key":"st-%s","value":{"observationId":"00000000-0000-4000-8000-%012d","stationId":"st-%s","observedAt":1795256130000,"location":{"lat":48.1,"lon":11.6},"temperatureC":%s.5,"condition":"SNOW"}}' \
    "$1" "$2" "$2" "$2" "$2"
}
batch() { local IFS=,; echo "{\"records\":[$*]}"; }
count() { kcat -b "$BROKERS" -C -t "$TOPIC" -o beginning -e -q -f '%h\n' 2>/dev/null | grep -c "ce_id=$1"; }
positions() { jq -c '[.results[] | [.partition, .offset]]'; }
metric() { curl -sS --max-time 5 "$B_URL/metrics" | grep "^$1{product=\"weather\",major=\"2\",port=\"observations\"," | awk '{ print $NF }'; }

# ---- a batch sent again ----
B1=$(batch "$(rec a1 1)" "$(rec a2 2)" "$(rec a3 3)")
http POST "$B_URL/v1/ports/$PORT/records" -d "$B1"
FIRST=$(echo "$HTTP_BODY" | positions)
is "first publish: 200, no duplicate flag" "$HTTP_STATUS $(echo "$HTTP_BODY" | jq '[.results[] | has("duplicate")] | any')" "200 false"
http POST "$B_URL/v1/ports/$PORT/records" -d "$B1"
is "the same batch again: 200, every result \"duplicate\": true at the first copy's position" \
  "$HTTP_STATUS $(echo "$HTTP_BODY" | jq '[.results[].duplicate] | all') $(echo "$HTTP_BODY" | positions)" "200 true $FIRST"
is "Kafka holds each of a1, a2, a3 once" "$(count a1) $(count a2) $(count a3)" "1 1 1"

# ---- another record under a known id ----
http POST "$B_URL/v1/ports/$PORT/records" -d "$(batch "$(rec a1 99)" "$(rec b1 4)")"
is "another value under id a1: 207, that record 409, the other stored" \
  "$HTTP_STATUS $(echo "$HTTP_BODY" | jq -c '[.results[0].error_code, (.results[1].offset | type), .failed]')" '207 [409,"number",1]'
like "the 409 says why" "$(echo "$HTTP_BODY" | jq -r '.results[0].error')" "another record .* under this id .* ids must be unique per record"
is "a1 is still stored once" "$(count a1)" 1

# ---- the same id twice in one batch ----
http POST "$B_URL/v1/ports/$PORT/records" -d "$(batch "$(rec c1 5)" "$(rec c1 5)")"
is "one batch, one id twice: both 200 at one position, the second a duplicate" \
  "$HTTP_STATUS $(echo "$HTTP_BODY" | jq -c '[(.results[0].offset == .results[1].offset), (.results[0] | has("duplicate")), .results[1].duplicate]')" \
  '200 [true,false,true]'

# ---- ids racing from concurrent requests ----
R=$(batch $(for i in $(seq 1 50); do rec "r$i" "$((100 + i))"; echo; done))
racers=()
for j in $(seq 1 12); do
  curl -sS --max-time 20 -H 'Content-Type: application/json' -d "$R" -o "$T/race.$j" -w '%{http_code}\n' "$B_URL/v1/ports/$PORT/records" >"$T/race.$j.code" &
  racers+=("$!")
done
wait "${racers[@]}" # bounded by curl's --max-time
is "12 concurrent requests with the same 50 ids: all 200" "$(cat "$T"/race.*.code | sort | uniq -c | tr -s ' ')" " 12 200"
is "they agree on one position per id" "$(for j in $(seq 1 12); do positions <"$T/race.$j"; done | sort -u | wc -l)" 1
is "exactly 11 x 50 answers are duplicates" "$(cat $(for j in $(seq 1 12); do echo "$T/race.$j"; done) | jq '[.results[] | select(.duplicate)] | length' | jq -s add)" 550
is "Kafka holds each racing id once" "$(kcat -b "$BROKERS" -C -t "$TOPIC" -o beginning -e -q -f '%h\n' 2>/dev/null | grep -o 'ce_id=r[0-9]*' | sort | uniq -c | awk '$1 != 1' | wc -l) $(kcat -b "$BROKERS" -C -t "$TOPIC" -o beginning -e -q -f '%h\n' 2>/dev/null | grep -o 'ce_id=r[0-9]*' | sort -u | wc -l)" "0 50"

# ---- ids the broker generates are never merged ----
NOID='{"records":[{"key":"st-7","value":{"observationId":"00000000-0000-4000-8000-000000000007","stationId":"st-7","observedAt":1795256130000,"location":{"lat":48.1,"lon":11.6},"temperatureC":7.5,"condition":"SNOW"}}]}'
http POST "$B_URL/v1/ports/$PORT/records" -d "$NOID"; r1=$(echo "$HTTP_BODY" | jq -c '.results[0] | [.partition, .offset, has("duplicate")]')
http POST "$B_URL/v1/ports/$PORT/records" -d "$NOID"; r2=$(echo "$HTTP_BODY" | jq -c '.results[0] | [.partition, .offset, has("duplicate")]')
is "a record without an id, sent twice, is stored twice ($r1, then $r2)" "$([ "$r1" != "$r2" ] && echo differ) $(echo "$r2" | jq '.[2]')" "differ false"

# ---- /metrics ----
is "portbroker_publish_duplicates_total counts every duplicate answered (3 + 1 + 550)" "$(metric portbroker_publish_duplicates_total)" 554
like "portbroker_publish_dedupe_ids and _bytes show the table" \
  "$(curl -sS --max-time 5 "$B_URL/metrics" | grep -E '^portbroker_publish_dedupe_(ids|bytes) ' | tr '\n' ' ')" \
  "^portbroker_publish_dedupe_ids 5[0-9] portbroker_publish_dedupe_bytes [0-9]{4,} $"

# ---- the window and the per-port bound forget ----
start_broker W -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme \
  -o publish.dedupe.window.ms=1500 -o publish.dedupe.max.ids=2 || bail "second broker did not start"
wait_ready "$W_URL" || bail "second broker not ready"
for id in w1 w2 w3; do http POST "$W_URL/v1/ports/$PORT/records" -d "$(batch "$(rec $id 8)")"; done
http POST "$W_URL/v1/ports/$PORT/records" -d "$(batch "$(rec w3 8)" "$(rec w1 8)")"
is "publish.dedupe.max.ids=2: after w1 w2 w3, w3 is a duplicate and w1 (the port's oldest) is stored again" \
  "$(echo "$HTTP_BODY" | jq -c '[.results[0].duplicate, (.results[1] | has("duplicate"))]') $(count w1)" "[true,false] 2"
sleep 2
http POST "$W_URL/v1/ports/$PORT/records" -d "$(batch "$(rec w3 8)")"
is "publish.dedupe.window.ms=1500: 2 s later w3 is stored again" "$(echo "$HTTP_BODY" | jq '.results[0] | has("duplicate")') $(count w3)" "false 2"
finish
