#!/usr/bin/env bash
# connectors/pb-source-file and pb-sink-file end to end (issue #16) against a live broker: an
# NDJSON file followed into weather/2's output port, routed into tripExecution/1's input port, and
# written by pb-sink-file into NDJSON files. Each is killed with SIGKILL mid-stream and restarted:
# every source line reaches the port once (ids pbsf-EPOCH-OFFSET; a batch sent again keeps its ids
# and the broker answers it as duplicates) and the sink's files hold every record of the input topic exactly once. SIGTERM ends both
# cleanly with a summary.
. "$(dirname "$0")/lib.sh"
plan 20
CB=$(dirname "$PB_BIN")/connectors
SRC=$CB/pb-source-file
SINK=$CB/pb-sink-file
start_kafka 3
start_broker B -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
export PORTBROKER_URL=$B_URL
OUT=weather/2/outputports/observations
IN=tripExecution/1/inputports/weather
rec() {
  printf '{"key":"st-%d","value":{"observationId":"00000000-0000-4000-8000-%012d","stationId":"st-%d","observedAt":1795256130000,"location":{"lat":48.1,"lon":11.6},"temperatureC":%d.5,"condition":"SNOW"}}\n' "$1" "$1" "$1" "$1"
}
N1=3000 N2=500
for i in $(seq 1 $N1); do rec "$i"; done >"$T/in.ndjson"

# ---- usage ----
"$SRC" --help >"$T/h" 2>&1; rc=$?
like "pb-source-file --help: exit 0 with the flags" "$rc $(tr '\n' ' ' <"$T/h")" "^0 usage: pb-source-file --port .*--checkpoint"
"$SINK" --port "$IN" --dir "$T/out" --batch 0 >"$T/h" 2>&1; rc=$?
like "pb-sink-file --batch 0: exit 2 naming the flag and range" "$rc $(cat "$T/h")" "^2 pb-sink-file: --batch: '0' is not an integer in \[1, 1000000\]"
"$SRC" --file "$T/in.ndjson" >"$T/h" 2>&1; rc=$?
like "pb-source-file without --port: exit 2" "$rc $(head -1 "$T/h")" "^2 .*--port and --file are required"
like "pb-source-file without --port: the message names what is missing" "$(head -1 "$T/h")" "; missing: --port$"
# The usage comes from the same option table the parser reads: every flag with its default and
# environment variable, the broker options included.
"$SINK" --help >"$T/h" 2>&1
like "pb-sink-file --help: defaults and choices from the option table" "$(tr '\n' ' ' <"$T/h")" "--codec C .*one of null, deflate, zstandard \(default null\).*--batch N .*\(default 1000\).*--cacert FILE .*(env PORTBROKER_CACERT)"
"$SINK" --port "$IN" --dir "$T/out" --codec lz4 >"$T/h" 2>&1; rc=$?
is "pb-sink-file --codec lz4: exit 2 naming the choices" "$rc $(head -1 "$T/h")" "2 pb-sink-file: --codec: 'lz4' is not one of null, deflate, zstandard"
PB_PORT="$IN" "$SINK" --dir "$T/out" stray >"$T/h" 2>&1; rc=$?
is "pb-sink-file with a stray argument: exit 2 naming it" "$rc $(head -1 "$T/h")" "2 pb-sink-file: unexpected argument 'stray' (every option is --name VALUE)"

# ---- source: kill -9 mid-file, restart, follow appended lines, SIGTERM ----
"$SRC" --port "$OUT" --file "$T/in.ndjson" --batch 50 >"$T/src1.out" 2>"$T/src1.err" &
SP=$!; _pids+=("$SP")
wait_until 60 sh -c "jq -e '.offset > 20000' '$T/in.ndjson.pb-checkpoint'" || diag "source made no progress: $(cat "$T/src1.err")"
kill -KILL "$SP"; wait "$SP" 2>/dev/null
OFF1=$(jq .offset "$T/in.ndjson.pb-checkpoint")
check "source killed mid-file (checkpoint at byte $OFF1 of $(stat -c %s "$T/in.ndjson"))" test "$OFF1" -lt "$(stat -c %s "$T/in.ndjson")"
"$SRC" --port "$OUT" --file "$T/in.ndjson" --batch 50 --poll-ms 100 >"$T/src2.out" 2>"$T/src2.err" &
SP=$!; _pids+=("$SP")
wait_until 10 test -s "$T/src2.err"
like "restart resumes at the checkpoint" "$(head -1 "$T/src2.err")" "resuming .*in.ndjson at byte $OFF1"
for i in $(seq $((N1 + 1)) $((N1 + N2))); do rec "$i"; done >>"$T/in.ndjson"
SIZE=$(stat -c %s "$T/in.ndjson")
check "followed file: the appended lines are published (checkpoint reaches byte $SIZE)" \
  wait_until 60 sh -c "jq -e '.offset == $SIZE' '$T/in.ndjson.pb-checkpoint'"
stop_pid "$SP" 10
is "source SIGTERM: exit 0" "$STOP_RC" 0
OTOPIC=$(curl -sS --max-time 5 "$B_URL/v1/ports/$OUT" | jq -r .topic)
kcat -b "$BROKERS" -C -t "$OTOPIC" -o beginning -e -q -f '%h\n' 2>/dev/null | grep -o 'ce_id=pbsf-[0-9a-f]*-[0-9]*' >"$T/ids"
is "after kill -9 and restart, the output port holds each source line once (records, distinct ids)" \
  "$(wc -l <"$T/ids") $(sort -u "$T/ids" | wc -l)" "$((N1 + N2)) $((N1 + N2))"
diag "batches answered as duplicates after the restart: $(curl -sS --max-time 5 "$B_URL/metrics" | grep '^portbroker_publish_duplicates_total{product="weather"' | awk '{print $NF}')"
# A truncated file is new content: a new epoch, so its lines are not taken for duplicates.
printf '%s\n' "$(rec 1)" "$(rec 2)" >"$T/tr.ndjson"
"$SRC" --port "$OUT" --file "$T/tr.ndjson" --no-follow >/dev/null 2>"$T/tr1.err"
E1=$(jq -r .epoch "$T/tr.ndjson.pb-checkpoint")
printf '%s\n' "$(rec 3)" >"$T/tr.ndjson" # shorter than the checkpoint's offset: truncated
"$SRC" --port "$OUT" --file "$T/tr.ndjson" --no-follow >/dev/null 2>"$T/tr2.err"
E2=$(jq -r .epoch "$T/tr.ndjson.pb-checkpoint")
like "a file truncated between runs gets a new epoch: its line at byte 0 is published, not taken for the old one" \
  "$([ "$E1" != "$E2" ] && echo new-epoch) $(tail -1 "$T/tr2.err")" "^new-epoch .*: 1 records published in 1 batches, 0 bad" 
like "source summary" "$(tail -1 "$T/src2.err")" "records published in [0-9]+ batches, 0 bad lines skipped, at byte $SIZE"

# ---- sink: kill -9 mid-stream, restart, SIGTERM ----
http GET "$B_URL/v1/subscriptions"
BID=$(echo "$HTTP_BODY" | jq -r '.subscriptions[] | select(.to | endswith("tripExecution:1:inputports:weather")) | .id')
topic_total() { curl -sS --max-time 5 "$B_URL/v1/subscriptions/$BID/stats" | jq '[.partitions[].subscribers.endOffset] | add'; }
wait_until 60 sh -c "[ \"\$(curl -sS --max-time 5 '$B_URL/v1/subscriptions/$BID/stats' | jq '[.partitions[].subscribers.endOffset] | add')\" -ge $((N1 + N2 + 3)) ]" || diag "routing incomplete: $(topic_total)"
TOTAL=$(topic_total)
diag "input topic holds $TOTAL records for $((N1 + N2 + 3)) source lines (3 from the truncation check)"
lines() { cat "$T"/out/*.ndjson 2>/dev/null | wc -l; }
"$SINK" --port "$IN" --dir "$T/out" --batch 100 --flush-ms 200 --rotate-bytes 400000 >"$T/sink1.out" 2>"$T/sink1.err" &
KP=$!; _pids+=("$KP")
wait_until 60 sh -c "[ \$(cat '$T'/out/*.ndjson 2>/dev/null | wc -l) -ge 1000 ]" || diag "sink made no progress: $(cat "$T/sink1.err")"
kill -KILL "$KP"; wait "$KP" 2>/dev/null
L1=$(lines)
check "sink killed mid-stream ($L1 of $TOTAL lines written)" test "$L1" -lt "$TOTAL"
"$SINK" --port "$IN" --dir "$T/out" --batch 100 --flush-ms 200 --rotate-bytes 400000 >"$T/sink2.out" 2>"$T/sink2.err" &
KP=$!; _pids+=("$KP")
wait_until 90 sh -c "[ \$(cat '$T'/out/*.ndjson 2>/dev/null | wc -l) -ge $TOTAL ]" || diag "sink incomplete: $(lines) of $TOTAL"
sleep 1
stop_pid "$KP" 10
is "sink SIGTERM: exit 0" "$STOP_RC" 0
like "sink summary" "$(tail -1 "$T/sink2.err")" "records written, [0-9]+ redeliveries skipped, [0-9]+ commits"
cat "$T"/out/*.ndjson >"$T/all.ndjson"
is "sink holds every record of the input topic exactly once (lines, distinct partition:offset)" \
  "$(wc -l <"$T/all.ndjson") $(jq -r '"\(.partition):\(.offset)"' "$T/all.ndjson" | sort -u | wc -l)" "$TOTAL $TOTAL"
is "every source line arrived, with its pbsf- id" \
  "$(jq -r '.headers.ce_id' "$T/all.ndjson" | grep -c '^pbsf-') $(jq -r '.headers.ce_id' "$T/all.ndjson" | sort -u | wc -l) $(jq -r .key "$T/all.ndjson" | sort -u | wc -l)" \
  "$((N1 + N2 + 3)) $((N1 + N2 + 3)) $((N1 + N2))"
check "files rotated by size (more than one file)" test "$(ls "$T"/out/*.ndjson | wc -l)" -gt 1
finish
