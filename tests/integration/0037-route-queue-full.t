#!/usr/bin/env bash
# The router never waits for room in the producer's local queue (issue #15): with a small queue
# (kafka.queue.buffering.max.messages=1000) and the brokers of `portbroker kafka` down while a
# backlog is routed, the queue fills; each binding partition that meets a full queue stops and
# resumes from its input topic's tail once its records in flight landed (as after a failed
# delivery). Before, the shared producer was polled on the loop thread for up to 10 s per record
# (pb_kafka_producer_forward) or 100 x 100 ms (dead letters). /healthz answers at once throughout;
# once the brokers are back every record arrives exactly once, in per-key order. Bounded waits.
. "$(dirname "$0")/lib.sh"
plan 5
PY=/usr/bin/python3
start_kafka 3
serve() { start_broker "$@" -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme -o kafka.compression.codec=lz4; }
OUT=com.acme.weather.v2.observations
IN=com.acme.tripExecution.v1.in.weather
serve A || bail "serve did not start"
wait_ready "$A_URL" || bail "not ready"
writer_id=$(curl -sS --max-time 5 "$A_URL/subjects/$OUT-value/versions/latest" | jq .id)
wait_until 30 grep -q "partition .* of $OUT assigned: starts" "$T/A.log" || bail "A was not assigned"
timeout 60 $PY tests/py/route_crash.py produce "$BROKERS" "$OUT" "$writer_id" 1000 0 || bail "produce failed"
settled=$(timeout 60 $PY tests/py/route_crash.py settle "$BROKERS" "$IN" 1)
[ "$settled" = 1000 ] || bail "the first 1000 records were not routed ($settled)"
stop_pid "$A_PID"
timeout 60 $PY tests/py/route_crash.py produce "$BROKERS" "$OUT" "$writer_id" 8000 1000 || bail "produce 2 failed"
timeout 90 $PY tests/py/route_crash.py killwhen "$BROKERS" "$IN" 1500 "$KAFKA_PID" USR1 >"$T/at" 2>/dev/null &
downer=$!; _pids+=("$downer")
serve B -o kafka.queue.buffering.max.messages=1000 -o router.revoke.wait.ms=30000 || bail "serve B did not start"
wait_ready "$B_URL" || bail "B not ready"
rm -f "$T/stop"
$PY tests/integration/loop_probe.py "$B_URL" "$T/probe.lat" "$T/stop" 180 & PROBE_PID=$!; _pids+=("$PROBE_PID")
wait_until 60 bash -c "! kill -0 $downer" || bail "the brokers were never taken down"
diag "$SECONDS s: brokers down at $(cat "$T/at") routed records"
wait_until 30 grep -q "not produced to $IN: .*[Qq]ueue full" "$T/B.log"
like "the producer's queue filled while the brokers were down" \
  "$(grep "not produced to $IN" "$T/B.log" | head -1)" '[Qq]ueue full'
sleep 5
kill -USR2 "$KAFKA_PID"
wait_until 120 bash -c "timeout 20 $PY tests/py/route_crash.py settle '$BROKERS' '$IN' 1 | grep -qx 9000"
settled=$(timeout 90 $PY tests/py/route_crash.py settle "$BROKERS" "$IN" 3)
touch "$T/stop"; wait_until 20 bash -c "! kill -0 $PROBE_PID" || kill -KILL "$PROBE_PID"
N=$(wc -l <"$T/probe.lat")
MAX=$(awk '{print $3}' "$T/probe.lat" | sort -n | tail -1)
BAD=$(awk '$2 != 200' "$T/probe.lat" | wc -l)
diag "probe: $N requests, max ${MAX} ms, non-200: $BAD"
check "with the queue full and the brokers down /healthz and /metrics never took 1 s ($N requests, max ${MAX} ms)" \
  awk -v m="${MAX:-99999}" -v n="$N" 'BEGIN {exit !(m < 1000 && n >= 20)}'
is "every probe answered 200" "$BAD" 0
is "the input topic settles at 9000 records" "$settled" 9000
check "each of 9000 ids exactly once, per-key order kept" timeout 60 $PY tests/py/route_crash.py check "$BROKERS" "$IN" 9000
diag "$(cat "$T/check.out")"
finish
