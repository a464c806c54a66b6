#!/usr/bin/env bash
# Exactly-once routing across crashes (issue #5): 100,000 records in an output-port topic, the
# broker killed with SIGKILL while it routes them, restarted: every record arrives in the input-port
# topic exactly once and in per-key order. Then two instances share the binding and one is killed
# mid-stream: still no loss and no duplicate. `portbroker kafka` runs in its own process.
. "$(dirname "$0")/lib.sh"
plan 8
PY=/usr/bin/python3
start_kafka 3
# lz4 keeps the embedded cluster's ~5 MiB per partition enough for 150,000 records with headers.
serve() { start_broker "$1" -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme -o kafka.compression.codec=lz4; }
OUT=com.acme.weather.v2.observations
IN=com.acme.tripExecution.v1.in.weather
serve A || bail "serve did not start"
wait_ready "$A_URL" || bail "not ready"
writer_id=$(curl -sS --max-time 5 "$A_URL/subjects/$OUT-value/versions/latest" | jq .id)
wait_until 30 grep -q "partition .* of $OUT assigned: starts" "$T/A.log"
diag "$SECONDS s: producing"
timeout 60 $PY tests/py/route_crash.py killwhen "$BROKERS" "$IN" 20000 "$A_PID" >"$T/at" &
killer=$!
timeout 60 $PY tests/py/route_crash.py produce "$BROKERS" "$OUT" "$writer_id" 100000 0 || bail "produce failed"
{ wait "$killer"; wait "$A_PID"; } 2>/dev/null  # no "Killed" job notice in the TAP output
at=$(cat "$T/at")
diag "$SECONDS s: killed"
routed=$(timeout 60 $PY tests/py/route_crash.py settle "$BROKERS" "$IN" 1)
check "killed mid-stream: $at routed at SIGKILL, $routed once settled, of 100000" test "$at" -lt 100000 -a "$routed" -lt 100000
serve C || bail "serve C did not start"
# The group hands the partitions over once the killed member's session (6 s) expires.
wait_until 30 grep -q "partition .* of $OUT assigned: resumes" "$T/C.log"
settled=$(timeout 60 $PY tests/py/route_crash.py settle "$BROKERS" "$IN" 2)
is "after the restart the input topic settles at 100000 records" "$settled" 100000
like "the restart resumed from the lineage headers" "$(grep "of $OUT assigned: resumes at offset" "$T/C.log" | head -1)" 'lineage header of input offset [0-9]+'
check "each id exactly once, per-key order kept" timeout 60 $PY tests/py/route_crash.py check "$BROKERS" "$IN" 100000
diag "$(cat "$T/check.out")"

diag "$SECONDS s: checked"
# Two instances on one binding, one killed while routing.
serve D || bail "serve D did not start"
# One reader per instance for both bound output topics: the group balances their partitions
# together, so D may take partitions of either.
wait_until 30 grep -q "partition .* of com\.acme\..* assigned: \(resumes\|starts\)" "$T/D.log"
diag "$SECONDS s: D assigned"
check "the second instance took partitions" grep -q "partition .* of com\.acme\..* assigned" "$T/D.log"
n_before=$(grep -c "partition .* of $OUT assigned" "$T/D.log")
# The killer watches while the records are produced (started after the produce, it could find
# every record routed already).
timeout 60 $PY tests/py/route_crash.py killwhen "$BROKERS" "$IN" 110000 "$C_PID" >"$T/at2" &
killer=$!
timeout 60 $PY tests/py/route_crash.py produce "$BROKERS" "$OUT" "$writer_id" 50000 100000 || bail "produce 2 failed"
{ wait "$killer"; wait "$C_PID"; } 2>/dev/null
at=$(cat "$T/at2")
diag "$SECONDS s: C killed"
more_assigned() { [ "$(grep -c "partition .* of $OUT assigned" "$T/D.log")" -gt "$n_before" ]; }
wait_until 30 more_assigned
diag "$SECONDS s: D took over"
settled=$(timeout 60 $PY tests/py/route_crash.py settle "$BROKERS" "$IN" 2)
check "one instance killed mid-stream ($at of 150000 routed)" test "$at" -lt 150000
is "the input topic settles at 150000" "$settled" 150000
check "each of 150000 ids exactly once, per-key order kept" timeout 60 $PY tests/py/route_crash.py check "$BROKERS" "$IN" 150000
diag "$(cat "$T/check.out")"
finish
