#!/usr/bin/env bash
# The port CLI (issue #16): `portbroker publish PORT` (NDJSON from a file and stdin, batched,
# per-record results, ids kept, bad input refused naming the line with nothing published) and
# `portbroker consume PORT` (--max, --commit, kcat-like -f), through a live broker that routes
# weather/2 observations into tripExecution/1's input port; kcat reads the output topic to check
# what was really published, curl reads the stream to check what was committed.
. "$(dirname "$0")/lib.sh"
plan 17
start_kafka 3
start_broker B -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme \
  -o sub.commit.interval.ms=200 || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
OUT=weather/2/outputports/observations
IN=tripExecution/1/inputports/weather
export PORTBROKER_URL=$B_URL
rec() { # rec I: one observation record line with key st-I
  printf '{"key":"st-%d","value":{"observationId":"00000000-0000-4000-8000-%012d","stationId":"st-%d","observedAt":1795256130000,"location":{"lat":48.1,"lon":11.6},"temperatureC":%d.5,"condition":"SNOW"}}\n' "$1" "$1" "$1" "$1"
}
for i in $(seq 1 25); do rec "$i"; done >"$T/in.ndjson"

# ---- errors ----
"$PB_BIN" publish >"$T/e.out" 2>&1; rc=$?
like "publish without PORT: exit 2 saying what is expected" "$rc $(cat "$T/e.out")" "^2 .*expected one PORT"
"$PB_BIN" publish "$OUT" --batch 0 -f "$T/in.ndjson" >"$T/e.out" 2>&1; rc=$?
like "publish --batch 0: exit 2 naming the flag and range" "$rc $(cat "$T/e.out")" "^2 .*--batch: '0' is not an integer in \[1, 10000\]"
{ rec 100; echo '{"key":"x", "value": '; rec 101; } >"$T/bad.ndjson"
"$PB_BIN" publish "$OUT" -f "$T/bad.ndjson" >"$T/e.out" 2>&1; rc=$?
like "publish of a file with a bad line: exit 2 naming file:line, nothing published" "$rc $(tr "\n" " " <"$T/e.out")" "^2 .*bad.ndjson:2:.*not JSON.*nothing was published"
"$PB_BIN" publish "$OUT" --url http://127.0.0.1:1 -f "$T/in.ndjson" --retries 0 >"$T/e.out" 2>&1; rc=$?
like "publish to a closed port: exit 1 saying it cannot connect" "$rc $(cat "$T/e.out")" "^1 .*cannot connect to 127.0.0.1:1"
printf '{"key":"st-1","value":{"stationId":"st-1"}}\n' | "$PB_BIN" publish "$OUT" >"$T/e.out" 2>&1; rc=$?
like "publish of an invalid record: exit 1 with the broker's 422 and the field path by line" "$rc $(tr "\n" " " <"$T/e.out")" "^1 .*HTTP 422.*line 1: /value/observationId: missing required field"
"$PB_BIN" consume "$IN" --url "$B_URL/nope" --max 1 >"$T/e.out" 2>&1; rc=$?
like "consume with a wrong URL path: exit 1 with the broker's 404" "$rc $(cat "$T/e.out")" "^1 .*stream: HTTP 404"

# ---- publish: file, batches of 10, per-record results with ids ----
"$PB_BIN" publish "$OUT" -f "$T/in.ndjson" --batch 10 --id-prefix cli-a- --results >"$T/res" 2>"$T/pub.err"; rc=$?
is "publish 25 records in batches of 10: exit 0" "$rc" 0
is "publish: 25 per-record results with line, partition, offset and the given ids" \
  "$(jq -s -c '[length, (map(select(.partition >= 0 and .offset >= 0)) | length), .[0].line, .[24].id]' "$T/res")" '[25,25,1,"cli-a-25"]'
like "publish: a summary on stderr" "$(cat "$T/pub.err")" "25 acknowledged, 0 failed, 3 batches"
# stdin, random ids
for i in $(seq 26 30); do rec "$i"; done | "$PB_BIN" publish "$OUT" --results >"$T/res2" 2>/dev/null
is "publish from stdin: 5 results with UUID ids" "$(jq -s -c '[length, (map(select(.id | test("^[0-9a-f]{8}-[0-9a-f]{4}-4"))) | length)]' "$T/res2")" '[5,5]'

# ---- consume: the routed records, -f format, --max, --commit ----
wait_until 30 sh -c "curl -sS --max-time 3 '$B_URL/v1/subscriptions' | jq -e '.subscriptions[] | select(.to | endswith(\"tripExecution:1:inputports:weather\")) | .state == \"bound\"'" \
  || diag "binding not reported bound"
"$PB_BIN" consume "$IN" --max 10 --commit --wait-ms 20000 -f '%p:%o key=%k temp=%v\n' >"$T/c1" 2>"$T/c1.err"; rc=$?
is "consume --max 10 --commit: exit 0, 10 lines" "$rc $(wc -l <"$T/c1")" "0 10"
like "consume -f: partition:offset, raw key, value JSON" "$(head -1 "$T/c1")" '^[0-9]+:[0-9]+ key=st-[0-9]+ temp=\{.*"stationId":"st-[0-9]+"'
like "consume: summary says committed" "$(cat "$T/c1.err")" "10 records, committed"
# What is committed does not come again: the next consumer reads the other 20, each once.
"$PB_BIN" consume "$IN" --commit --wait-ms 3000 >"$T/c2" 2>"$T/c2.err"; rc=$?
is "consume the rest: 20 records, none of the first 10" \
  "$(jq -r '.key' "$T/c1" 2>/dev/null | wc -l) $(wc -l <"$T/c2") $(cut -d' ' -f2 "$T/c1" | sed 's/key=//' | sort >"$T/k1"; jq -r .key "$T/c2" | sort >"$T/k2"; comm -12 "$T/k1" "$T/k2" | wc -l)" "0 20 0"
is "every published key was read exactly once" "$(cat "$T/k1" "$T/k2" | sort | uniq | wc -l) $(cat "$T/k1" "$T/k2" | wc -l)" "30 30"
# Without --commit nothing is committed: a curl stream sees nothing new.
N=$(curl -sN --max-time 20 "$B_URL/v1/ports/urn:dpds:com.acme:dataproducts:$(echo $IN | sed 's|/|:|g')/records?format=ndjson&timeout_ms=2000" | wc -l)
is "after everything was committed, a new stream (curl) has nothing to read" "$N" 0
# --from goes into the query percent-encoded: a time with a '+hh:mm' offset is that time, not a
# space (a raw '+' in a query value reads as a space); nothing is committed, so all 30 are there.
"$PB_BIN" consume "$IN" --from 'time:2000-01-01T01:00:00+01:00' --max 3 --wait-ms 20000 >"$T/c3" 2>"$T/c3.err"; rc=$?
is "consume --from time:...+01:00: exit 0, 3 records" "$rc $(wc -l <"$T/c3")" "0 3"
finish
