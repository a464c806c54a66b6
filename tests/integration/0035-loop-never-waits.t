#!/usr/bin/env bash
# The loop never waits on Kafka (issue #15): while the brokers of `portbroker kafka` (own process)
# go down (SIGUSR1) and up (SIGUSR2), while a PUT /v1/products needs topics from a cluster that does
# not answer, and while bindings are added and removed, /healthz and /metrics answer at once. A
# probe (python http.client, a new connection each, 15 s timeout so a stall is measured) runs
# through each phase; no request may take 1 s or more (before the jobs layer a concurrent GET
# /healthz took ~10 s behind a PUT /v1/products with Kafka down). Bounded waits only; the p99
# figures are printed, not asserted (bench/bench_loop.sh reports them).
# The same bound holds over the whole outage and the binding churn: the routers' resume look-ups
# (committed offsets, input tails, watermarks) run as jobs, the reader's new partitions held paused
# until they complete (before, they ran on the loop at every assignment: up to 5-10 s each).
. "$(dirname "$0")/lib.sh"
plan 14
PY=/usr/bin/python3
start_kafka 3
start_broker B -c deploy/example.conf -o kafka.bootstrap.servers="$BROKERS" || bail "serve did not start"
wait_ready "$B_URL" 60 || bail "not ready: $(tail -3 "$T/B.log")"

probe_start() { rm -f "$T/stop"; $PY tests/integration/loop_probe.py "$B_URL" "$T/$1.lat" "$T/stop" 240 & PROBE_PID=$!; _pids+=("$PROBE_PID"); sleep 0.5; }
# probe_stop NAME: stops the probe; sets N, P99 and MAX (ms) and BAD (answers other than 200).
probe_stop() {
  touch "$T/stop"; wait_until 20 bash -c "! kill -0 $PROBE_PID" || kill -KILL "$PROBE_PID"
  N=$(wc -l <"$T/$1.lat")
  P99=$(awk '{print $3}' "$T/$1.lat" | sort -n | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; print a[i]}')
  MAX=$(awk '{print $3}' "$T/$1.lat" | sort -n | tail -1)
  BAD=$(awk '$2 != 200' "$T/$1.lat" | wc -l)
  diag "$1: $N requests, p99 ${P99} ms, max ${MAX} ms, non-200: $BAD"
}
under_1s() { awk -v m="$1" 'BEGIN {exit !(m < 1000)}'; }

obs='{"records":[{"key":"st-1","value":{"observationId":"00000000-0000-4000-8000-000000000001","stationId":"st-1","observedAt":1764583200000,"location":{"lat":52.5,"lon":13.4,"elevationM":34.0},"temperatureC":4.5,"humidityPct":40.5,"condition":"RAIN","quality":{"qc":"ok"}}}]}'
dash() { # dash N: a subscriber product with one input port
  echo "{\"dataProductDescriptor\":\"1.0.0\",\"info\":{\"fullyQualifiedName\":\"urn:dpds:com.acme:dataproducts:dash$1:1\",\"name\":\"dash$1\",\"version\":\"1.0.0\",\"domain\":\"ops\",\"owner\":{\"id\":\"ops@acme.example\"}},\"interfaceComponents\":{\"inputPorts\":[{\"name\":\"obs\",\"promises\":{\"api\":{\"format\":\"avro\",\"schema\":{\"type\":\"record\",\"name\":\"Obs\",\"namespace\":\"com.acme.weather\",\"aliases\":[\"com.acme.weather.Observation\"],\"fields\":[{\"name\":\"stationId\",\"type\":\"string\"},{\"name\":\"temperatureC\",\"type\":\"double\"}]}}}}]}}"
}

# --- phase 1: brokers down, a PUT /v1/products that needs topics, brokers up -------------------
probe_start down
kill -USR1 "$KAFKA_PID"
wait_until 30 bash -c "curl -s --max-time 2 '$B_URL/readyz' | grep -q '\"kafka\":false'"
$PY tests/integration/loop_probe.py "$B_URL" "$T/put.lat" "$T/put.stop" 60 & PUT_PROBE=$!; _pids+=("$PUT_PROBE")
curl -sS --max-time 40 -o "$T/put.body" -w '%{http_code}' -X PUT "$B_URL/v1/products/dash1/1" \
  -H 'content-type: application/json' -d "$(dash 1)" >"$T/put.code" 2>/dev/null &
PUT_PID=$!; _pids+=("$PUT_PID")
t0=$(date +%s%N); code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -X POST "$B_URL/v1/ports/weather/2/outputports/observations/records" -H 'content-type: application/json' --data "$obs"); t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
is "brokers down: publish answers 503" "$code" 503
check "brokers down: publish answered at once (${ms} ms; publish.timeout.ms is 30000)" test "$ms" -lt 3000
wait_until 40 bash -c "! kill -0 $PUT_PID"; wait "$PUT_PID" 2>/dev/null
touch "$T/put.stop"; wait_until 20 bash -c "! kill -0 $PUT_PROBE"
PUT_MAX=$(awk '{print $3}' "$T/put.lat" | sort -n | tail -1); PUT_N=$(wc -l <"$T/put.lat")
diag "while the PUT waited on Kafka: $PUT_N requests, max ${PUT_MAX} ms"
check "while a PUT /v1/products waited on Kafka (down), /healthz never took 1 s ($PUT_N requests, max ${PUT_MAX} ms)" under_1s "${PUT_MAX:-99999}"
check "and the probe got answers all along (at least 20)" test "$PUT_N" -ge 20
is "brokers down: PUT /v1/products answers 503 (its topics cannot be created)" "$(cat "$T/put.code")" 503
like "the 503 says which product and why" "$(cat "$T/put.body")" 'cannot create the topics of urn:dpds:com.acme:dataproducts:dash1:1'
kill -USR2 "$KAFKA_PID"
wait_ready "$B_URL" 60
kill -USR1 "$KAFKA_PID"; sleep 3; kill -USR2 "$KAFKA_PID"
wait_ready "$B_URL" 60
http GET "$B_URL/readyz"
is "brokers back: ready again" "$HTTP_STATUS" 200
probe_stop down
is "brokers down and up: every /healthz and /metrics answered 200" "$BAD" 0
check "brokers down and up: no request took 1 s or more ($N requests, p99 ${P99} ms, max ${MAX} ms)" under_1s "$MAX"

# --- phase 2: products and bindings added and removed ------------------------------------------
probe_start bind
http PUT "$B_URL/v1/products/dash1/1" -H 'content-type: application/json' -d "$(dash 1)"
is "brokers up: the same PUT /v1/products is 201" "$HTTP_STATUS" 201
ok_subs=0
for i in 1 2 3 4 5; do
  http PUT "$B_URL/v1/subscriptions" -H 'content-type: application/json' -d '{"from":"weather/2/outputports/observations","to":"dash1/1/inputports/obs","start":"earliest"}'
  id=$(jq .id <<<"$HTTP_BODY" 2>/dev/null)
  [ "$HTTP_STATUS" = 201 ] || continue
  wait_until 30 grep -q "router started: .*inputports:obs" "$T/B.log"
  http DELETE "$B_URL/v1/subscriptions/$id"
  [ "$HTTP_STATUS" = 200 ] && ok_subs=$((ok_subs + 1))
  sleep 0.5
done
is "5 bindings added and removed" "$ok_subs" 5
probe_stop bind
is "bindings: every /healthz and /metrics answered 200" "$BAD" 0
check "bindings added and removed: no request took 1 s or more ($N requests, p99 ${P99} ms, max ${MAX} ms)" under_1s "$MAX"
check "the broker is still running" kill -0 "$B_PID"
finish
