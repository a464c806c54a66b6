#!/usr/bin/env bash
# Streams end cleanly, saying why, when what they read goes away (issue #13): deleting the
# subscription of an input port ends its NDJSON stream with a last line
# {"end":"subscription deleted",...}; deleting the product ends its SSE stream with `event: end`
# {"end":"port deleted",...}. A stream on a port that keeps its binding goes on. Clients: curl.
. "$(dirname "$0")/lib.sh"
plan 12
start_broker B -o mesh.namespace=com.acme || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
IN=urn:dpds:com.acme:dataproducts:billing:1:inputports:trips
OTHER=urn:dpds:com.acme:dataproducts:tripExecution:1:inputports:weather
http GET "$B_URL/v1/subscriptions"
BID=$(echo "$HTTP_BODY" | jq -r --arg to "$IN" '.subscriptions[] | select(.to == $to) | .id')
[ -n "$BID" ] || bail "no binding to $IN: $HTTP_BODY"

# open NAME PORT QUERY: a stream read by curl in the background (bounded to 40 s), its headers in
# $T/NAME.h, its body in $T/NAME, curl's exit code in $T/NAME.rc once it ends.
open() {
  (curl -sS -N --max-time 40 -D "$T/$1.h" -o "$T/$1" "$B_URL/v1/ports/$2/records?$3"; echo $? >"$T/$1.rc") &
  _pids+=("$!")
  wait_until 20 grep -q X-Stream-Id "$T/$1.h"
}
check "ndjson stream on $IN open" open nd "$IN" "timeout_ms=60000"
check "a stream on another port open" open other "$OTHER" "timeout_ms=60000"

http DELETE "$B_URL/v1/subscriptions/$BID"
is "subscription $BID deleted" "$HTTP_STATUS" 200
check "the ndjson stream ends by itself within 5 s (timeout_ms was 60 s)" wait_until 5 test -s "$T/nd.rc"
is "... and curl saw a complete reply (exit 0)" "$(cat "$T/nd.rc")" 0
like "its last line says why" "$(tail -n 1 "$T/nd")" \
  '^\{"end":"subscription deleted","message":"no subscription binds urn:dpds:com.acme:dataproducts:billing:1:inputports:trips any more \(it was deleted: DELETE /v1/subscriptions/\{id\}\)","records":0\}$'

# The port is still declared (unbound): a stream opens, then the product goes.
check "SSE stream on the unbound port open" open sse "$IN" "format=sse&timeout_ms=60000"
http DELETE "$B_URL/v1/products/urn:dpds:com.acme:dataproducts:billing:1"
is "product billing:1 deleted" "$HTTP_STATUS" 200
check "the SSE stream ends by itself within 5 s" wait_until 5 test -s "$T/sse.rc"
like "its last event is 'end' with the reason as data" "$(tail -n 3 "$T/sse" | tr '\n' '|')" \
  '^event: end\|data: \{"end":"port deleted","message":"urn:dpds:com.acme:dataproducts:billing:1:inputports:trips is no longer declared \(its product.s descriptor was deleted or changed\)","records":0\}\|\|$'
check "the stream on a port that kept its binding is still open" test ! -e "$T/other.rc"
check "the log names why each stream ended" grep -q "ended (0 records, subscription deleted: no subscription binds $IN" "$T/B.log"
