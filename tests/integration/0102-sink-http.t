#!/usr/bin/env bash
# connectors/pb-sink-http end to end (issue #16): records routed into tripExecution/1's input port
# POSTed to a Python webhook receiver that checks the HMAC-SHA256 signature, fails one key always
# (dead-letter file after the retries) and another once per record (retried). Killed with SIGKILL
# mid-stream and restarted: every record reaches the receiver or the dead-letter file, at most the
# one in flight twice with the same X-PB-Id, in offset order per key. SIGTERM ends it with a summary.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
plan 11
SINK=$(dirname "$PB_BIN")/connectors/pb-sink-http
start_kafka 3
start_broker B -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
export PORTBROKER_URL=$B_URL
IN=tripExecution/1/inputports/weather
N=2000
awk -v n=$N 'BEGIN { for (i = 1; i <= n; i++) printf "{\"key\":\"st-%d\",\"value\":{\"observationId\":\"00000000-0000-4000-8000-%012d\",\"stationId\":\"st-%d\",\"observedAt\":1795256130000,\"location\":{\"lat\":48.1,\"lon\":11.6},\"temperatureC\":%d.5,\"condition\":\"SNOW\"}}\n", i % 50, i, i % 50, i }' >"$T/in.ndjson"
"$PB_BIN" publish weather/2/outputports/observations -f "$T/in.ndjson" --id-prefix wh- 2>"$T/pub.err" || bail "publish: $(cat "$T/pub.err")"
$PY tests/integration/webhook_receiver.py "$T/wport" "$T/got.ndjson" s3cret >"$T/recv.log" 2>&1 &
_pids+=($!)
wait_until 10 test -s "$T/wport" || bail "receiver did not start"
HOOK=http://127.0.0.1:$(cat "$T/wport")/hook

"$SINK" --port "$IN" --target "$HOOK" >"$T/h" 2>&1; rc=$?
like "without --checkpoint: exit 2 naming what is required" "$rc $(head -1 "$T/h")" "^2 .*--port, --target and --checkpoint are required"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'X-PB-Signature: sha256=00' -d '{}' "$HOOK")
is "the receiver refuses a wrong signature (the check can fail)" "$code" 401

run() { "$SINK" --port "$IN" --target "$HOOK" --secret s3cret --checkpoint "$T/ck" --retries 2 --backoff-ms 20 --flush-ms 200 >>"$T/sink.out" 2>>"$T/sink.err" & KP=$!; _pids+=("$KP"); }
run
wait_until 90 sh -c "[ \$(wc -l <'$T/got.ndjson' 2>/dev/null || echo 0) -ge 400 ]" || diag "no progress: $(tail -3 "$T/sink.err")"
kill -KILL "$KP"; wait "$KP" 2>/dev/null
L1=$(wc -l <"$T/got.ndjson")
check "killed mid-stream ($L1 delivered)" test "$L1" -lt $((N - 40))
run
wait_until 120 sh -c "[ \$(jq -r .id '$T/got.ndjson' | sort -u | wc -l) -ge $((N - 40)) ] && [ \$(wc -l <'$T/ck.dlq.ndjson' 2>/dev/null || echo 0) -ge 40 ]" \
  || diag "incomplete: $(jq -r .id "$T/got.ndjson" | sort -u | wc -l) delivered, $(wc -l <"$T/ck.dlq.ndjson" 2>/dev/null) dead"
sleep 0.5
stop_pid "$KP" 10
is "SIGTERM: exit 0" "$STOP_RC" 0
like "summary" "$(tail -1 "$T/sink.err")" "pb-sink-http: .*: [0-9]+ delivered, [0-9]+ dead-lettered .*failed attempts"
is "every record but key st-13's delivered (distinct X-PB-Id)" "$(jq -r .id "$T/got.ndjson" | sort -u | wc -l)" $((N - 40))
check "at most the record in flight at the kill delivered twice" test $(($(wc -l <"$T/got.ndjson") - N + 40)) -le 1
is "dead-letter file: key st-13's 40 records, each with the 500 and 3 attempts" \
  "$(jq -s -c '[length, (map(.record.key) | unique), (map(.attempts) | unique), (map(.error | startswith("HTTP 500")) | unique)]' "$T/ck.dlq.ndjson")" '[40,["st-13"],[3],[true]]'
is "key st-7 delivered after its 503s (40 records)" "$(jq -r 'select(.key == "st-7") | .id' "$T/got.ndjson" | sort -u | wc -l)" 40
check "per-key order: each key's offsets never go back in delivery order" \
  jq -s -e 'group_by(.key) | map(. as $g | [range(1; length)] | map($g[.].offset >= $g[. - 1].offset) | all) | all' "$T/got.ndjson"
is "X-PB-Key header carries the key" "$(jq -r 'select(.hdr_key != .key)' "$T/got.ndjson" | wc -l)" 0
finish
