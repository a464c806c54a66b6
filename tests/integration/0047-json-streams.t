#!/usr/bin/env bash
# Natural JSON end to end (DESIGN.md §5a, issue 14) over the example mesh: trip events published
# as people write them (decimal fare "12.50", RFC 3339 timestamps with offsets, a date, uuids)
# are stored as the schema means them (python3-avro decodes the raw Kafka bytes), come back from
# billing's input-port stream as natural JSON by default and as Avro's JSON encoding exactly with
# encoding=avro (a decimal whose bytes hold 0x00 escaped as \u0000), and values read back
# (console sample, either encoding) publish again to the very same bytes. portbroker consume
# prints both encodings.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
plan 24
T_OUT=urn:dpds:com.acme:dataproducts:tripExecution:1:outputports:tripEvents
B_IN=urn:dpds:com.acme:dataproducts:billing:1:inputports:trips
T_TOPIC=com.acme.tripExecution.v1.tripEvents

start_kafka 3
start_broker B -o kafka.bootstrap.servers="$BROKERS" -o products.dir=schemas/examples \
  -o mesh.namespace=com.acme || bail "broker did not start"
wait_ready "$B_URL" 40 || bail "broker not ready: $(tail -5 "$T/B.log")"
STREAM="$B_URL/v1/ports/$B_IN/records"
# a bounded poll of billing's stream from the start, nothing committed
poll() { curl -sS -N --max-time 45 -o "$1" "$STREAM?max_records=${3:-3}&timeout_ms=30000&from=earliest&commit=manual$2"; }

# ---- publish natural JSON: three trips, each fare's bytes hold a 0x00 but the first ----
jq -n '{records: [
  {key: "k0", value: {eventId: "00000000-0000-4000-9000-000000000000",
                      occurredAt: "2026-11-21T10:15:30Z", serviceDate: "2025-11-21", fare: "12.50"}},
  {key: "k1", value: {eventId: "00000000-0000-4000-9000-000000000001",
                      occurredAt: "2026-11-21T11:15:30.123+01:00", serviceDate: "2025-11-22", fare: "2.56"}},
  {key: "k2", value: {eventId: "00000000-0000-4000-9000-000000000002",
                      occurredAt: 1795256130000, serviceDate: 20413, fare: -2.56e0}}]}
  | .records[].value += {tripId: "00000000-0000-4000-a000-000000000001", eventType: "COMPLETED",
      customerId: "c-1", vehicle: {vehicleId: "v-1"},
      route: {origin: {name: "A", lat: 1.0, lon: 2.0}, destination: {name: "B", lat: 3.0, lon: 4.0}}}' >"$T/trips.json"
# a JSON number for a decimal is converted exactly from its text: one digit too many is refused
# with the field and the reason, and nothing is published (all or nothing)...
jq '.records[2].value.fare = -2.567' "$T/trips.json" >"$T/trips-bad.json"
http POST "$B_URL/v1/ports/$T_OUT/records" --data-binary @"$T/trips-bad.json"
like "a JSON number with more digits than the decimal's scale: 422 naming the field and why" \
  "$HTTP_STATUS $(jq -c '.errors' <<<"$HTTP_BODY")" \
  '^422 \[\{"index":2,"path":"/value/fare".*-2.567.*more than 2 digits after the decimal point'
# ... and -2.56 as a JSON number (its text, never a double) is taken with the strings
http POST "$B_URL/v1/ports/$T_OUT/records" --data-binary @"$T/trips.json"
is "publish 3 natural-JSON trip events (fares \"12.50\", \"2.56\", -2.56): 200, 3 offsets" \
  "$HTTP_STATUS $(jq '[.results[] | select(.offset >= 0)] | length' <<<"$HTTP_BODY")" "200 3"

# ---- what Kafka holds, decoded by python3-avro with the port's schema ----
$PY tests/integration/topic_decode.py "$BROKERS" "$T_TOPIC" schemas/examples/trip_event.avsc 3 \
  >"$T/kafka1.jsonl" 2>"$T/kafka1.err"
is "python3-avro reads 3 records from $T_TOPIC" "$(grep -c . "$T/kafka1.jsonl")" 3
is "python3-avro: the fares are the decimals written (no string bytes stored)" \
  "$(jq -sc '[.[].value.fare]' "$T/kafka1.jsonl")" '["12.50","2.56","-2.56"]'
is "python3-avro: occurredAt is the instant meant (offset applied), serviceDate the date" \
  "$(jq -sc '[.[].value | [.occurredAt, .serviceDate]]' "$T/kafka1.jsonl")" \
  '[["2026-11-21T10:15:30+00:00","2025-11-21"],["2026-11-21T10:15:30.123000+00:00","2025-11-22"],["2026-11-21T10:15:30+00:00","2025-11-21"]]'
like "the fare bytes: 0x04e2 (1250), 0x0100 (256), 0xff00 (-256) after the union index" \
  "$(jq -r '.hex' "$T/kafka1.jsonl" | tr '\n' ' ')" '020404e2.* .*02040100.* .*0204ff00'

# ---- billing's stream: natural JSON by default ----
poll "$T/nat.ndjson" ""
is "billing's stream (default encoding): 3 records" "$(grep -c '"offset"' "$T/nat.ndjson")" 3
nat=$(jq -sc 'sort_by(.key)' "$T/nat.ndjson")
is "fare comes back as the decimal string, \"12.50\" as \"12.50\" (union branch wrapped)" \
  "$(jq -c '[.[].value.fare]' <<<"$nat")" '[{"bytes":"12.50"},{"bytes":"2.56"},{"bytes":"-2.56"}]'
is "timestamps in UTC with Z and milliseconds, dates as YYYY-MM-DD, uuids as written" \
  "$(jq -c '[.[].value | [.occurredAt, .serviceDate, .eventId[-1:]]]' <<<"$nat")" \
  '[["2026-11-21T10:15:30.000Z","2025-11-21","0"],["2026-11-21T10:15:30.123Z","2025-11-22","1"],["2026-11-21T10:15:30.000Z","2025-11-21","2"]]'
is "?encoding=json is the default" "$(poll "$T/nat2.ndjson" "&encoding=json"; jq -sc 'sort_by(.key) | [.[].value]' "$T/nat2.ndjson")" \
  "$(jq -c '[.[].value]' <<<"$nat")"

# ---- encoding=avro: Avro's JSON encoding exactly ----
poll "$T/avro.ndjson" "&encoding=avro"
avr=$(jq -sc 'sort_by(.key)' "$T/avro.ndjson")
is "encoding=avro: the fares are the bytes as code points, NUL included" \
  "$(jq -c '[.[].value.fare.bytes | explode]' <<<"$avr")" '[[4,226],[1,0],[255,0]]'
check "encoding=avro: NUL is escaped as \\u0000 in the text, never a raw 0x00 byte" \
  sh -c "grep -qF '\\u0000' '$T/avro.ndjson' && ! LC_ALL=C grep -qaP '\\x00' '$T/avro.ndjson'"
is "encoding=avro: timestamps and dates are their integers" \
  "$(jq -c '[.[].value | [.occurredAt, .serviceDate]]' <<<"$avr")" \
  '[[1795256130000,20413],[1795256130123,20414],[1795256130000,20413]]'
http GET "$STREAM?encoding=xml&max_records=1&timeout_ms=1000"
like "encoding=xml: 400 naming the accepted values" "$HTTP_STATUS $(jq -r .message <<<"$HTTP_BODY")" \
  "^400 encoding: 'xml' is not one of json .*, avro "

# ---- portbroker consume prints either encoding (a NUL in a value does not stop it) ----
"$PB_BIN" consume "$B_IN" --url "$B_URL" --max 3 --from earliest --wait-ms 30000 --encoding avro \
  >"$T/consume.avro" 2>"$T/consume.err"
is "consume --encoding avro: exit 0, fares of the first three as code points" \
  "$? $(jq -sc 'sort_by(.key) | [.[].value.fare.bytes | explode]' "$T/consume.avro")" '0 [[4,226],[1,0],[255,0]]'
"$PB_BIN" consume "$B_IN" --url "$B_URL" --max 3 --from earliest --wait-ms 30000 -f '%k %v\n' \
  >"$T/consume.nat" 2>>"$T/consume.err"
is "consume (default): natural JSON" \
  "$? $(sort "$T/consume.nat" | cut -d' ' -f2 | jq -sc '[.[].fare.bytes]')" '0 ["12.50","2.56","-2.56"]'
"$PB_BIN" consume "$B_IN" --url "$B_URL" --encoding xml >"$T/consume.bad" 2>&1
like "consume --encoding xml: exit 2 naming json, avro" "$? $(cat "$T/consume.bad")" \
  "^2 portbroker consume: --encoding: 'xml' is not one of json, avro"

# ---- values read back publish again to the very same bytes ----
http GET "$B_URL/v1/ports/$T_OUT/sample?limit=3&encoding=avro"
is "console sample of tripEvents, encoding=avro: 3 records, fares as code points" \
  "$HTTP_STATUS $(jq -c '[.records | sort_by(.key)[] | .value.fare.bytes | explode]' <<<"$HTTP_BODY")" \
  '200 [[4,226],[1,0],[255,0]]'
jq -c '{records: [.records[] | {key, value}]}' <<<"$HTTP_BODY" >"$T/again-avro.json"
http GET "$B_URL/v1/ports/$T_OUT/sample?limit=3"
is "console sample, default encoding: natural JSON like the streams" \
  "$HTTP_STATUS $(jq -c '[.records | sort_by(.key)[] | .value | [.fare.bytes, .occurredAt]]' <<<"$HTTP_BODY")" \
  '200 [["12.50","2026-11-21T10:15:30.000Z"],["2.56","2026-11-21T10:15:30.123Z"],["-2.56","2026-11-21T10:15:30.000Z"]]'
jq -c '{records: [.records[] | {key, value}]}' <<<"$HTTP_BODY" >"$T/again-nat.json"
http POST "$B_URL/v1/ports/$T_OUT/records?encoding=avro" --data-binary @"$T/again-avro.json"
is "the avro-encoded values published back with ?encoding=avro: 200" "$HTTP_STATUS" 200
http POST "$B_URL/v1/ports/$T_OUT/records" --data-binary @"$T/again-nat.json"
is "the natural values published back (default encoding): 200" "$HTTP_STATUS" 200
$PY tests/integration/topic_decode.py "$BROKERS" "$T_TOPIC" schemas/examples/trip_event.avsc 9 \
  >"$T/kafka2.jsonl" 2>"$T/kafka2.err"
is "python3-avro reads 9 records" "$(grep -c . "$T/kafka2.jsonl")" 9
is "each key's three records hold the same bytes under the same schema id" \
  "$(jq -sc 'group_by(.key) | map([.[] | [.schema_id, .hex]] | unique | length)' "$T/kafka2.jsonl")" '[1,1,1]'

stop_pid "$B_PID" 15
is "broker stops cleanly" "$STOP_RC" 0
finish
