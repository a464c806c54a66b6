#!/usr/bin/env bash
# Consumer API and authorization (DESIGN §9, issue #16): a bounded poll, a seek and a cursor commit
# through the group (no stream open on the instance) are the input port's product's (or admin's)
# only: another product gets 403 naming the principal and who may, no credentials 401, and a
# refused commit changes nothing.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
NS=urn:dpds:com.acme:dataproducts
plan 9
tok() {
  local out; out=$("$PB_BIN" token "$2") || bail "portbroker token $2 failed"
  eval "TOK_$1=$(sed -n 's/^token: //p' <<<"$out")"
  sed -n 's/^line: *//p' <<<"$out" >>"$T/tokens.txt"
}
echo "# tokens" >"$T/tokens.txt"
tok trip "$NS:tripExecution:*"
tok billing "$NS:billing:1"
start_kafka 3
start_broker B -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme \
  -o auth.tokens.file="$T/tokens.txt" || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
IN=$NS:tripExecution:1:inputports:weather
TOPIC=com.acme.tripExecution.v1.in.weather
SID=$(curl -sS --max-time 5 -H "Authorization: Bearer $TOK_trip" "$B_URL/v1/subscriptions" | jq -r --arg to "$IN" '.subscriptions[] | select(.to == $to) | .readerSchemaId')
[ -n "$SID" ] || bail "no binding to $IN"
$PY tests/integration/sub_produce.py "$BROKERS" "$TOPIC" "$SID" schemas/examples/weather_reader.avsc 30 0 || bail "cannot produce"
REC="$B_URL/v1/ports/$IN/records?max_records=10&from=earliest&commit=manual&timeout_ms=15000"
CUR="$B_URL/v1/ports/$IN/cursors"

http GET "$REC"
is "bounded poll without credentials: 401" "$HTTP_STATUS" 401
http GET "$REC" -H "Authorization: Bearer $TOK_billing"
like "bounded poll as another product: 403 naming the principal" "$HTTP_STATUS $HTTP_BODY" "^403 .*$NS:billing:1"
http POST "$CUR" -H "Authorization: Bearer $TOK_billing" -d '{"cursors":[{"partition":0,"offset":5}]}'
like "cursors through the group as another product: 403 naming the principal" "$HTTP_STATUS $HTTP_BODY" "^403 .*$NS:billing:1"
http POST "$CUR" -d '{"cursors":[{"partition":0,"offset":5}]}'
is "cursors without credentials: 401" "$HTTP_STATUS" 401
http GET "$REC" -H "Authorization: Bearer $TOK_trip"
is "bounded poll as the owner: 200, 10 records" "$HTTP_STATUS $(printf '%s\n' "$HTTP_BODY" | grep -c '^{')" "200 10"
http POST "$CUR" -H "Authorization: Bearer $TOK_trip" -d '{"cursors":[{"partition":0,"offset":3}]}' --max-time 40
is "cursors through the group as the owner: 200, stream null" "$HTTP_STATUS $(echo "$HTTP_BODY" | jq -c '[.stream, .committed]')" '200 [null,[{"partition":0,"offset":3}]]'
http GET "$B_URL/v1/ports/$IN/records?max_records=1000&commit=manual&timeout_ms=3000&from=committed" -H "Authorization: Bearer $TOK_trip"
P0=$(printf '%s\n' "$HTTP_BODY" | grep '^{' | jq -s '[.[] | select(.partition == 0) | .offset] | min')
is "the owner's commit took effect (partition 0 continues at 3); billing's changed nothing" "$P0" 3
like "the log says which cursors moved the group, and from where" "$(grep 'committed through the group' "$T/B.log")" "cursors of group portbroker.sub.$TOPIC committed through the group for 127.0.0.1:[0-9]+: 0:3\$"
check "broker healthy" curl -fsS --max-time 2 "$B_URL/healthz"
finish
