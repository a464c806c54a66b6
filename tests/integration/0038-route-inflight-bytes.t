#!/usr/bin/env bash
# Routed bytes in flight are bounded (router.inflight.kbytes), not only their count: a backlog of
# 240 records of 500-900 kB each (values padded with compressible bytes, so the embedded cluster's
# ~5 MiB per partition keeps them) is routed by an instance with a 2 MiB bound. Sampled from
# /metrics during the run and as the peak the routers keep, the bytes in flight never exceed the
# bound plus one record, and every record arrives once, in per-key order. The same backlog routed
# with the bound at its maximum holds many times more in flight (what the check above would see
# without the bound). Bounded waits only.
. "$(dirname "$0")/lib.sh"
plan 10
PY=/usr/bin/python3
OUT=com.acme.weather.v2.observations
IN=com.acme.tripExecution.v1.in.weather
PADMIN=500000 PADMAX=900000 N=240
BOUND_KB=2048
# One record in flight: its routed value (stationId plus ~100 bytes of other fields), key and
# headers (the producer's and the broker's: under 4 KiB).
ONE=$((PADMAX + 4096))
serve() { start_broker "$@" -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme -o kafka.compression.codec=lz4; }
metric() { curl -sS --max-time 5 "$1/metrics" | awk -v n="$2" '$1 == n {print $2}'; }

start_kafka 3
# A routes 200 small records: the input topic's lineage headers say where the next instance resumes.
serve A || bail "serve did not start"
wait_ready "$A_URL" || bail "not ready"
writer_id=$(curl -sS --max-time 5 "$A_URL/subjects/$OUT-value/versions/latest" | jq .id)
wait_until 30 grep -q "partition .* of $OUT assigned: starts" "$T/A.log" || bail "A was not assigned"
timeout 60 $PY tests/py/route_crash.py produce "$BROKERS" "$OUT" "$writer_id" 200 0 || bail "produce failed"
[ "$(timeout 60 $PY tests/py/route_crash.py settle "$BROKERS" "$IN" 1)" = 200 ] || bail "the first 200 records were not routed"
is "metrics: the bound is exported" "$(metric "$A_URL" portbroker_router_inflight_max_bytes)" $((64 * 1048576))
stop_pid "$A_PID"

# route_backlog NAME BOUND_KB FIRST: N large records written while no instance routes, then routed
# by NAME started with the bound; /metrics sampled every 50 ms until the input topic settles.
route_backlog() {
  local name=$1 kb=$2 first=$3 url
  timeout 120 $PY tests/py/route_crash.py produce "$BROKERS" "$OUT" "$writer_id" "$N" "$first" "$PADMIN" "$PADMAX" || bail "produce of large records failed"
  serve "$name" -o router.inflight.kbytes="$kb" || bail "serve $name did not start"
  url=$(eval echo "\$${name}_URL")
  wait_ready "$url" || bail "$name not ready"
  rm -f "$T/stop"; : >"$T/$name.samples"
  (while [ ! -f "$T/stop" ]; do metric "$url" portbroker_router_inflight_bytes >>"$T/$name.samples"; sleep 0.05; done) &
  local sampler=$!; _pids+=("$sampler")
  wait_until 60 grep -q "partition .* of $OUT assigned: resumes" "$T/$name.log" || bail "$name was not assigned"
  SETTLED=$(timeout 120 $PY tests/py/route_crash.py settle "$BROKERS" "$IN" 3)
  touch "$T/stop"; wait_until 10 bash -c "! kill -0 $sampler" || kill "$sampler"
  PEAK=$(metric "$url" portbroker_router_inflight_peak_bytes)
  SAMPLED=$(sort -n "$T/$name.samples" | tail -1)
  diag "$name (router.inflight.kbytes=$kb): $(wc -l <"$T/$name.samples") samples, largest ${SAMPLED:-none}; peak $PEAK bytes in flight; settled at $SETTLED"
}

route_backlog B "$BOUND_KB" 200
BOUND=$((BOUND_KB * 1024))
is "B routed the backlog: the input topic settles at $((200 + N))" "$SETTLED" $((200 + N))
check "the bound was reached (peak $PEAK >= $BOUND bytes): the test exercised it" test "${PEAK:-0}" -ge "$BOUND"
check "bytes in flight never exceeded the bound plus one record (peak $PEAK <= $BOUND + $ONE)" test "${PEAK:-999999999999}" -le $((BOUND + ONE))
check "no /metrics sample exceeded it either (largest ${SAMPLED:-none}, at most the peak)" \
  test "${SAMPLED:-999999999999}" -le "${PEAK:-0}"
is "nothing left in flight once settled" "$(metric "$B_URL" portbroker_router_inflight_bytes)" 0
check "each of $((200 + N)) ids exactly once, per-key order kept" timeout 60 $PY tests/py/route_crash.py check "$BROKERS" "$IN" $((200 + N))
diag "$(cat "$T/check.out")"
stop_pid "$B_PID"

# The control: the same backlog with the bound at its maximum (2 GiB) holds far more in flight.
route_backlog C 2097151 $((200 + N))
is "C routed its backlog: the input topic settles at $((200 + 2 * N))" "$SETTLED" $((200 + 2 * N))
check "without a small bound the peak ($PEAK) exceeds $BOUND + $ONE: the check above can fail" \
  test "${PEAK:-0}" -gt $((BOUND + ONE))
check "each of $((200 + 2 * N)) ids exactly once, per-key order kept" timeout 60 $PY tests/py/route_crash.py check "$BROKERS" "$IN" $((200 + 2 * N))
stop_pid "$C_PID"
finish
