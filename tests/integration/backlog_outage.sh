# Shared by 0036 and 0037 (source it after lib.sh): routing a backlog through a Kafka outage.
#
# outage_start BACKLOG KILL_AT PROBE_S [serve options...]: broker A routes 1,000 records of the
# weather port and stops; BACKLOG more are written while no instance routes; broker B (started
# with the options) catches up on them, and the brokers go down (SIGUSR1) once KILL_AT records are
# routed. KILL_AT "held:F": instead, the cluster answers the next F Produce requests with
# NOT_ENOUGH_REPLICAS (retriable: librdkafka sends them again) from before B starts, so B's routed
# records surely stay in flight; the brokers go down once B's /metrics shows records in flight
# (portbroker_router_inflight_records > 0; the figure then is in $INFLIGHT_AT_DOWN). A loop probe
# (tests/integration/loop_probe.py, at most PROBE_S seconds) times /healthz and /metrics from B's
# start. Returns once the brokers are down.
# outage_finish TOTAL WHAT: the probe stops; checks (4 points) that no probe took 1 s and every one
# answered 200 (WHAT names the situation), and that the input topic holds each of TOTAL ids
# exactly once, in per-key order.
PY=/usr/bin/python3
OUT=com.acme.weather.v2.observations
IN=com.acme.tripExecution.v1.in.weather
serve() { start_broker "$@" -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme -o kafka.compression.codec=lz4; }

outage_start() {
  local backlog=$1 kill_at=$2 probe_s=$3; shift 3
  start_kafka 3
  serve A || bail "serve did not start"
  wait_ready "$A_URL" || bail "not ready"
  writer_id=$(curl -sS --max-time 5 "$A_URL/subjects/$OUT-value/versions/latest" | jq .id)
  wait_until 30 grep -q "partition .* of $OUT assigned: starts" "$T/A.log" || bail "A was not assigned"
  # A first 1,000 records routed: the input topic's lineage headers say where a restart resumes.
  timeout 60 $PY tests/py/route_crash.py produce "$BROKERS" "$OUT" "$writer_id" 1000 0 || bail "produce failed"
  local settled
  settled=$(timeout 60 $PY tests/py/route_crash.py settle "$BROKERS" "$IN" 1)
  [ "$settled" = 1000 ] || bail "the first 1000 records were not routed ($settled)"
  stop_pid "$A_PID"
  timeout 60 $PY tests/py/route_crash.py produce "$BROKERS" "$OUT" "$writer_id" "$backlog" 1000 || bail "produce 2 failed"
  local downer=
  if [ "${kill_at%%:*}" = held ]; then
    echo "fail Produce ${kill_at#held:} NOT_ENOUGH_REPLICAS" | kcat -P -b "$BROKERS" -t _portbroker.embedded.control 2>/dev/null
    wait_until 10 grep -q "the next ${kill_at#held:} Produce requests answer NOT_ENOUGH_REPLICAS" "$T/kafka.err" \
      || bail "the embedded cluster did not take the fault: $(tail -3 "$T/kafka.err")"
  else
    timeout 90 $PY tests/py/route_crash.py killwhen "$BROKERS" "$IN" "$kill_at" "$KAFKA_PID" USR1 >"$T/at" 2>/dev/null &
    downer=$!; _pids+=("$downer")
  fi
  serve B "$@" || bail "serve B did not start"
  wait_ready "$B_URL" || bail "B not ready"
  rm -f "$T/stop"
  $PY tests/integration/loop_probe.py "$B_URL" "$T/probe.lat" "$T/stop" "$probe_s" & PROBE_PID=$!; _pids+=("$PROBE_PID")
  if [ -z "$downer" ]; then
    INFLIGHT_AT_DOWN=0
    local end=$((SECONDS + 60))
    while [ "$SECONDS" -lt "$end" ]; do
      INFLIGHT_AT_DOWN=$(curl -sS --max-time 2 "$B_URL/metrics" | awk '$1 == "portbroker_router_inflight_records" {print $2}')
      [ "${INFLIGHT_AT_DOWN:-0}" -gt 0 ] && break
      sleep 0.05
    done
    [ "${INFLIGHT_AT_DOWN:-0}" -gt 0 ] || bail "B never had routed records in flight"
    kill -USR1 "$KAFKA_PID"
    diag "$SECONDS s: brokers down with $INFLIGHT_AT_DOWN routed records in flight (produces held by the fault)"
    return
  fi
  wait_until 60 bash -c "! kill -0 $downer" || bail "the brokers were never taken down"
  diag "$SECONDS s: brokers down at $(cat "$T/at") routed records"
}

outage_finish() {
  local total=$1 what=$2 settled n max bad
  settled=$(timeout 90 $PY tests/py/route_crash.py settle "$BROKERS" "$IN" 3)
  touch "$T/stop"; wait_until 20 bash -c "! kill -0 $PROBE_PID" || kill -KILL "$PROBE_PID"
  n=$(wc -l <"$T/probe.lat")
  max=$(awk '{print $3}' "$T/probe.lat" | sort -n | tail -1)
  bad=$(awk '$2 != 200' "$T/probe.lat" | wc -l)
  diag "probe: $n requests, max ${max} ms, non-200: $bad"
  check "$what /healthz and /metrics never took 1 s ($n requests, max ${max} ms)" \
    awk -v m="${max:-99999}" -v n="$n" 'BEGIN {exit !(m < 1000 && n >= 20)}'
  is "every probe answered 200" "$bad" 0
  is "the input topic settles at $total records" "$settled" "$total"
  check "each of $total ids exactly once, per-key order kept" timeout 60 $PY tests/py/route_crash.py check "$BROKERS" "$IN" "$total"
  diag "$(cat "$T/check.out" 2>/dev/null)"
}
