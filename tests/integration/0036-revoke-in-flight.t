#!/usr/bin/env bash
# A rebalance with routed records in flight does not stop the loop (issue #15): the fan-out
# reader's partitions are revoked while thousands of its routed records cannot be delivered (the
# brokers of `portbroker kafka` are down: the group session expires and the assignment is lost),
# and /healthz and /metrics keep answering at once. The revocation is a state of the routers (the
# partitions are held, read nothing, and are given up when the last delivery report comes in),
# not a wait on the loop: before, on_revoke flushed the producer for up to 10 s on the loop thread.
# Once the brokers are back the records land, the partitions are given up and taken again, and the
# input topic holds every record exactly once, in per-key order. Bounded waits only.
. "$(dirname "$0")/lib.sh"
plan 7
PY=/usr/bin/python3
start_kafka 3
serve() { start_broker "$@" -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme -o kafka.compression.codec=lz4; }
OUT=com.acme.weather.v2.observations
IN=com.acme.tripExecution.v1.in.weather
serve A || bail "serve did not start"
wait_ready "$A_URL" || bail "not ready"
writer_id=$(curl -sS --max-time 5 "$A_URL/subjects/$OUT-value/versions/latest" | jq .id)
wait_until 30 grep -q "partition .* of $OUT assigned: starts" "$T/A.log" || bail "A was not assigned"
# A first 1,000 records routed: the input topic's lineage headers say where a restart resumes.
timeout 60 $PY tests/py/route_crash.py produce "$BROKERS" "$OUT" "$writer_id" 1000 0 || bail "produce failed"
settled=$(timeout 60 $PY tests/py/route_crash.py settle "$BROKERS" "$IN" 1)
[ "$settled" = 1000 ] || bail "the first 1000 records were not routed ($settled)"
stop_pid "$A_PID"
# A backlog written while no instance routes: B catches up on it at full speed, thousands in flight.
# Fewer than the routers' flow-control bound (20,000 in flight), so that the reader is still polled
# (and served its rebalance) while the brokers are down.
timeout 60 $PY tests/py/route_crash.py produce "$BROKERS" "$OUT" "$writer_id" 12000 1000 || bail "produce 2 failed"
# The brokers go down as soon as B routed some of them.
timeout 90 $PY tests/py/route_crash.py killwhen "$BROKERS" "$IN" 2500 "$KAFKA_PID" USR1 >"$T/at" 2>/dev/null &
downer=$!; _pids+=("$downer")
serve B -o router.revoke.wait.ms=30000 || bail "serve B did not start"
wait_ready "$B_URL" || bail "B not ready"
rm -f "$T/stop"
$PY tests/integration/loop_probe.py "$B_URL" "$T/probe.lat" "$T/stop" 120 & PROBE_PID=$!; _pids+=("$PROBE_PID")
wait_until 60 bash -c "! kill -0 $downer" || bail "the brokers were never taken down"
diag "$SECONDS s: brokers down at $(cat "$T/at") routed records"
# The session (3 s on the embedded cluster) expires: the group takes the partitions away.
wait_until 30 grep -q "fan-out reader: .* partitions revoked with [0-9]* records in flight" "$T/B.log"
like "the partitions were revoked with routed records in flight" \
  "$(grep "fan-out reader: .* partitions revoked with" "$T/B.log" | head -1)" 'revoked with [1-9][0-9]* records in flight'
sleep 4 # the loop keeps answering while the revocation is held
kill -USR2 "$KAFKA_PID"
wait_until 40 grep -q "revocation of .* partitions: their records in flight landed after" "$T/B.log"
like "once the brokers were back the records landed and the partitions were given up" \
  "$(grep "revocation of .* partitions:" "$T/B.log" | head -1)" 'records in flight landed after [0-9]+ ms; partitions given up'
check "no revocation was given up with records still in flight" bash -c "! grep -q 'given up anyway' '$T/B.log'"
settled=$(timeout 90 $PY tests/py/route_crash.py settle "$BROKERS" "$IN" 3)
touch "$T/stop"; wait_until 20 bash -c "! kill -0 $PROBE_PID" || kill -KILL "$PROBE_PID"
N=$(wc -l <"$T/probe.lat")
MAX=$(awk '{print $3}' "$T/probe.lat" | sort -n | tail -1)
BAD=$(awk '$2 != 200' "$T/probe.lat" | wc -l)
diag "probe: $N requests, max ${MAX} ms, non-200: $BAD"
check "through the outage and the held revocation /healthz and /metrics never took 1 s ($N requests, max ${MAX} ms)" \
  awk -v m="${MAX:-99999}" -v n="$N" 'BEGIN {exit !(m < 1000 && n >= 20)}'
is "every probe answered 200" "$BAD" 0
is "the input topic settles at 13000 records" "$settled" 13000
check "each of 13000 ids exactly once, per-key order kept" timeout 60 $PY tests/py/route_crash.py check "$BROKERS" "$IN" 13000
diag "$(cat "$T/check.out")"
finish
