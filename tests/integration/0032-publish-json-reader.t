#!/usr/bin/env bash
# Publish reads bodies with the data plane's one JSON reader (issue 14: jsontok, RFC 8259, no
# jansson tree): what it refuses is a 400 with line and column (duplicate keys, a raw NUL byte after
# a number, which jansson silently dropped), what does not fit the schema is a 422 naming the record,
# the JSON pointer and why (an integer beyond int64, a double overflow, a NUL in a header name or a
# member name), all or nothing, and no message names a library flag. Then U+0000 where JSON allows
# it: a string value holding it is stored as its bytes (kcat sees them).
. "$(dirname "$0")/lib.sh"
plan 14
start_kafka 3
start_broker B -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"

TOPIC=com.acme.tripExecution.v1.tripEvents
URL="$B_URL/v1/ports/tripExecution/1/outputports/tripEvents/records"
REC='{"eventId":"0b0e7f06-9c3e-4c07-8d8e-2f2b9c7a1a11","tripId":"1b0e7f06-9c3e-4c07-8d8e-2f2b9c7a1a11","occurredAt":1700000000000,"eventType":"STARTED","customerId":"c1","vehicle":{"vehicleId":"v1","kind":"VAN","capacityKg":500},"route":{"origin":{"name":"A","lat":1.0,"lon":2.0},"destination":{"name":"B","lat":3.0,"lon":4.0}},"distanceKm":12.5,"serviceDate":19000}'
# pub FILE [content-type]: POST it; HTTP_STATUS, HTTP_BODY
pub() {
  HTTP_STATUS=$(curl -sS --max-time 20 -o "$T/pub.body" -w '%{http_code}' -H "Content-Type: ${2:-application/json}" --data-binary @"$1" "$URL")
  HTTP_BODY=$(cat "$T/pub.body")
}
count() { kcat -b "$BROKERS" -C -t "$TOPIC" -e -q -f '.\n' 2>/dev/null | wc -l; }
before=$(count)

# --- 400: not RFC 8259 JSON, with line and column ---
printf '{"records": [\n  {"value": %s, "key": "a", "key": "b"}]}' "$REC" >"$T/dup.json"
pub "$T/dup.json"
like "a repeated key: 400 naming line, column and why" "$HTTP_STATUS $(jq -r .message <<<"$HTTP_BODY")" \
  '^400 body is not JSON: line 2 column [0-9]+ \(byte [0-9]+\): duplicate object key$'
{ printf '{"records": [{"value": %s, "key": "k"}], "n": 1' "$REC"; printf '\000}'; } >"$T/nul.json"
pub "$T/nul.json"
like "a raw NUL byte after a number (jansson dropped it): 400" "$HTTP_STATUS $(jq -r .message <<<"$HTTP_BODY")" \
  '^400 body is not JSON: line 1 column [0-9]+ \(byte [0-9]+\): '
check "no message names a library flag" sh -c "! grep -q 'JSON_\|json_' '$T/pub.body'"

# --- 422: JSON the schema does not take (record 0: distanceKm 1e400), every bad record listed ---
jq -cn --argjson v "$REC" '{records: [
  {value: $v},
  {value: ($v | .occurredAt = 1)},
  {value: $v, headers: {"x\u0000y": "1"}},
  {value: $v, "ke\u0000y": "k"}]}' >"$T/b422.json"
# integers and numbers jq cannot keep as written go in as text
sed -e 's/"occurredAt":1,/"occurredAt":9223372036854775808,/' "$T/b422.json" >"$T/b422b.json"
sed -i -e '0,/"distanceKm":12.5/s//"distanceKm":1e400/' "$T/b422b.json"
pub "$T/b422b.json"
is "422: every bad record listed, in order" "$HTTP_STATUS $(jq -c '[.errors[].index]' <<<"$HTTP_BODY")" '422 [0,1,2,3]'
is "an integer beyond int64 for a long: the field and out of range, as written" \
  "$(jq -c '.errors[1] | [.path, .reason]' <<<"$HTTP_BODY")" \
  '["/value/occurredAt","value 9223372036854775808 out of range for long"]'
like "a double overflow (1e400): out of range, naming the number" \
  "$(jq -c '.errors[0] | [.path, .reason]' <<<"$HTTP_BODY")" '^\["/value/distanceKm",".*1e400 is out of range for double"\]$'
like "a header name holding U+0000: refused by name" "$(jq -c '.errors[2]' <<<"$HTTP_BODY")" \
  '"path":"/headers/x.*","reason":"a header name cannot contain U\+0000'
like "a record member name holding U+0000: unknown member" "$(jq -c '.errors[3]' <<<"$HTTP_BODY")" \
  '"reason":"unknown member \(a record has key, value, id, time, headers\)"'
is "nothing published" "$(count)" "$before"

# --- NDJSON: a line the reader refuses is its record's error ---
{ jq -cn --argjson v "$REC" '{value: $v}'; printf '{"value": 1,}\n'; } >"$T/b.ndjson"
pub "$T/b.ndjson" application/x-ndjson
like "NDJSON: the bad line is a 422 for its record with its column" \
  "$HTTP_STATUS $(jq -c '.errors' <<<"$HTTP_BODY")" \
  '^422 \[\{"index":1,"path":"","reason":"line 2 is not JSON: column 13 \(byte 12\): string or .\}. expected"\}\]$'

# --- U+0000 where JSON allows it: in a string value ---
jq -cn --argjson v "$REC" '{records: [{key: "nul\u0000key", value: ($v | .customerId = "c\u0000d")}]}' >"$T/ok.json"
pub "$T/ok.json"
is "a key and a string value holding U+0000: 200" "$HTTP_STATUS" 200
P=$(jq '.results[0].partition' <<<"$HTTP_BODY"); O=$(jq '.results[0].offset' <<<"$HTTP_BODY")
is "kcat: the key is the bytes sent, NUL included" \
  "$(kcat -b "$BROKERS" -C -t "$TOPIC" -p "$P" -o "$O" -c 1 -e -q -f '%k' 2>/dev/null | od -An -c | tr -s ' ' | sed 's/^ //')" \
  'n u l \0 k e y'
like "kcat: the value holds c, NUL, d as the string's bytes" \
  "$(kcat -b "$BROKERS" -C -t "$TOPIC" -p "$P" -o "$O" -c 1 -e -q -f '%s' 2>/dev/null | od -An -tx1 | tr -d ' \n')" \
  '06630064'
is "one record more on the topic" "$(count)" "$((before + 1))"
