#!/usr/bin/env bash
# GET /v1/ports/{port}/sample (the console's sample data, issue #17) with curl: who may read it
# (DESIGN §9: the port's own product or admin; not another product, not a subscriber through the
# output port), the limit and its config key sample.max.records, newest records first, an input
# port's routed records, and with Kafka down: the read runs off the loop thread (/healthz answers
# while it waits), sample.max.pending answers 503 + Retry-After, sample.timeout.ms bounds it.
. "$(dirname "$0")/lib.sh"
plan 17
NS=urn:dpds:com.acme:dataproducts
tok() { local out; out=$("$PB_BIN" token "$2") || bail "portbroker token $2 failed"
  eval "TOK_$1=$(sed -n 's/^token: //p' <<<"$out")"; sed -n 's/^line: *//p' <<<"$out" >>"$T/tokens.txt"; }
tok admin admin
tok trip "$NS:tripExecution:*"
tok billing "$NS:billing:1"
tok spy "$NS:spy:1"
start_kafka 3
start_broker B -o kafka.bootstrap.servers="$BROKERS" -o products.dir=schemas/examples -o mesh.namespace=com.acme \
  -o auth.tokens.file="$T/tokens.txt" -o sample.max.records=4 -o sample.max.pending=1 -o sample.timeout.ms=3000 \
  || bail "serve did not start"
wait_ready "$B_URL" 60 || bail "not ready: $(tail -5 "$T/B.log")"
TRIPS=$NS:tripExecution:1:outputports:tripEvents
IN=$NS:billing:1:inputports:trips
S="$B_URL/v1/ports/$TRIPS/sample"
A=(-H "Authorization: Bearer $TOK_trip")

now=$(date +%s000)
for i in 1 2 3 4 5 6; do
  body=$(jq -cn --argjson now "$now" --arg i "$i" '{records: [{key: "trip-1", value: {eventId: "00000000-0000-4000-9000-00000000000\($i)",
    tripId: "00000000-0000-4000-a000-000000000001", occurredAt: $now, eventType: "STARTED", customerId: "c-\($i)",
    vehicle: {vehicleId: "v-1"}, route: {origin: {name: "A", lat: 1.0, lon: 2.0}, destination: {name: "B", lat: 3.0, lon: 4.0}},
    serviceDate: 20000}}]}')
  http POST "$B_URL/v1/ports/$TRIPS/records" "${A[@]}" -H 'Content-Type: application/json' -d "$body"
  [ "$HTTP_STATUS" = 200 ] || bail "publish $i: $HTTP_STATUS $HTTP_BODY"
done

http GET "$S"
like "no credentials: 401" "$HTTP_STATUS $HTTP_BODY" '^401 .*authentication required'
http GET "$S" -H "Authorization: Bearer $TOK_spy"
like "another product: 403 naming the principal and who may" "$HTTP_STATUS $HTTP_BODY" \
  "^403 .*principal $NS:spy:1 may not .*only product $NS:tripExecution:1 or admin may"
http GET "$S" -H "Authorization: Bearer $TOK_billing"
is "a subscriber reads its own input port, not the output port: 403" "$HTTP_STATUS" 403
http GET "$S?limit=2" "${A[@]}"
is "the owner: 200, the 2 newest records first (one partition: offsets 5, 4)" \
  "$HTTP_STATUS $(jq -c '[.limit, .complete, [.records[] | [.offset, .value.customerId]]]' <<<"$HTTP_BODY")" \
  '200 [2,true,[[5,"c-6"],[4,"c-5"]]]'
is "a sample record has the stream's shape (headers, schema id, time)" \
  "$(jq -c '.records[0] | [.key, (.headers.ce_source), (.schema_id|type), (.time|type), .value.tripId]' <<<"$HTTP_BODY")" \
  "[\"trip-1\",\"$TRIPS\",\"number\",\"string\",\"00000000-0000-4000-a000-000000000001\"]"
http GET "$S" -H "Authorization: Bearer $TOK_admin"
is "admin, no limit: the default 5 capped by sample.max.records=4" "$HTTP_STATUS $(jq '.records | length' <<<"$HTTP_BODY")" "200 4"
http GET "$S?limit=5" "${A[@]}"
is "limit above sample.max.records: 400 naming the range and the key" "$HTTP_STATUS $(jq -r .message <<<"$HTTP_BODY")" \
  "400 limit: '5' is not an integer in [1, 4] (sample.max.records)"
http GET "$S?limit=0" "${A[@]}"
is "limit=0: 400" "$HTTP_STATUS" 400
http GET "$S?limit=2x" "${A[@]}"
is "limit=2x: 400" "$HTTP_STATUS" 400
http GET "$S?encoding=xml" "${A[@]}"
like "encoding=xml: 400 naming the choices (the streams' message)" "$HTTP_STATUS $(jq -r .message <<<"$HTTP_BODY")" "^400 encoding: 'xml' is not one of json \\(natural JSON.*\\), avro \\(Avro's JSON encoding exactly\\)$"
http GET "$B_URL/v1/ports/$NS:tripExecution:1:outputports:nope/sample" "${A[@]}"
is "unknown port: 404" "$HTTP_STATUS" 404
wait_until 30 sh -c "curl -sS --max-time 5 -H 'Authorization: Bearer $TOK_billing' '$B_URL/v1/ports/$IN/sample?limit=4' | jq -e '.records | length == 4' >/dev/null"
http GET "$B_URL/v1/ports/$IN/sample?limit=1" -H "Authorization: Bearer $TOK_billing"
is "billing reads its input port: the routed records in its reader schema, with lineage headers" \
  "$HTTP_STATUS $(jq -c '.records[0] | [.headers["mesh.lineage.topic"], .headers["mesh.lineage.hops"], (.value | has("customerId"))]' <<<"$HTTP_BODY")" \
  '200 ["com.acme.tripExecution.v1.tripEvents","1",true]'

# Kafka down: a sample waits on the worker thread, never on the loop.
kill -USR1 "$KAFKA_PID"
wait_until 5 grep -q 'SIGUSR1' "$T/kafka.err" || bail "portbroker kafka did not take its brokers down"
t0=$(date +%s%N)
curl -sS --max-time 20 -o "$T/slow.body" -w '%{http_code}' "${A[@]}" "$S?limit=1" >"$T/slow.status" &
slow=$!
sleep 0.3
http GET "$S?limit=1" "${A[@]}"
hdr=$(curl -sS --max-time 5 -o /dev/null -D - "${A[@]}" "$S?limit=1" | tr -d '\r' | grep -i '^retry-after:')
like "a second sample while one is pending: 503 naming sample.max.pending, with Retry-After" \
  "$HTTP_STATUS $(jq -r .message <<<"$HTTP_BODY") $hdr" '^503 .*sample\.max\.pending.* Retry-After: 1$'
h0=$(date +%s%N); hz=$(curl -sS --max-time 2 -o /dev/null -w '%{http_code}' "$B_URL/healthz"); h1=$(date +%s%N)
ok_fast=$(( (h1 - h0) / 1000000 ))
is "/healthz answers at once while the sample waits on Kafka ($ok_fast ms)" "$hz $([ $ok_fast -lt 1000 ] && echo fast)" "200 fast"
wait "$slow"
t1=$(date +%s%N); el=$(( (t1 - t0) / 1000000 ))
like "the pending sample ends within sample.timeout.ms (3000) + slack: ${el} ms, $(cat "$T/slow.status")" \
  "$(cat "$T/slow.status") $([ $el -lt 8000 ] && echo bounded)" '^(503|200) bounded$'
kill -USR2 "$KAFKA_PID"
wait_until 20 sh -c "curl -sS --max-time 5 -H 'Authorization: Bearer $TOK_trip' '$S?limit=1' | jq -e '.records | length == 1' >/dev/null"
http GET "$S?limit=1" "${A[@]}"
is "Kafka back: samples answer again" "$HTTP_STATUS $(jq '.records[0].offset' <<<"$HTTP_BODY")" "200 5"
stop_pid "$B_PID"
is "the broker stops cleanly" "$STOP_RC" 0
finish
