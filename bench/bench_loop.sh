#!/usr/bin/env bash
# Loop responsiveness (issue #15): p99 and max of GET /healthz (every 10th request GET /metrics),
# one request after another on new connections (tests/integration/loop_probe.py), against
# `portbroker serve` whose Kafka is `portbroker kafka` in its own process, while
#   1. a script takes the brokers down (SIGUSR1) and up (SIGUSR2) twice, a PUT /v1/products waiting
#      on topics the cluster cannot create in between, and
#   2. BINDINGS (default 100) bindings are added (PUT /v1/subscriptions, each to a new product's
#      input port) and removed again.
# Prints healthz_p99_ms_down_up=, healthz_p99_ms_bindings= (and max_ figures), then the goal line
# healthz_p99_ms= (the worse p99 of the two phases; goal < 10). Not a timed test: figures only.
set -uo pipefail
cd "$(dirname "$0")/.."
B=${B:-build/release}
BIN=$B/portbroker
N=${BINDINGS:-100}
PY=/usr/bin/python3
T=$(mktemp -d "${TMPDIR:-/tmp}/pbbench.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT
wait_until() { local end=$((SECONDS + $1)); shift; until "$@" >/dev/null 2>&1; do [ $SECONDS -ge $end ] && return 1; sleep 0.1; done; }

"$BIN" kafka --brokers 3 --brokers-file "$T/brokers" >/dev/null 2>"$T/kafka.err" & KPID=$!; pids+=("$KPID")
wait_until 20 test -s "$T/brokers" || { echo "portbroker kafka did not start" >&2; exit 1; }
"$BIN" serve -c deploy/example.conf -o http.listen=127.0.0.1:0 --port-file "$T/port" \
  -o kafka.bootstrap.servers="$(cat "$T/brokers")" -o log.level=warn >/dev/null 2>"$T/serve.log" & SPID=$!; pids+=("$SPID")
wait_until 30 test -s "$T/port" || { echo "serve did not start" >&2; exit 1; }
URL=http://127.0.0.1:$(cat "$T/port")
wait_until 60 curl -fsS --max-time 2 "$URL/readyz" || { echo "serve not ready" >&2; exit 1; }

probe_start() { rm -f "$T/stop"; $PY tests/integration/loop_probe.py "$URL" "$T/$1.lat" "$T/stop" 900 & PPID_=$!; pids+=("$PPID_"); sleep 0.5; }
probe_stop() { # probe_stop NAME: prints NAME's figures
  touch "$T/stop"; wait_until 20 bash -c "! kill -0 $PPID_" || kill -KILL "$PPID_"
  awk '{print $3}' "$T/$1.lat" | sort -n | awk -v name="$1" '{a[NR]=$1} END {
    i=int(NR*0.99); if (i<1) i=1; j=int(NR*0.5); if (j<1) j=1
    printf "healthz_requests_%s=%d\nhealthz_p50_ms_%s=%.2f\nhealthz_p99_ms_%s=%.2f\nhealthz_max_ms_%s=%.2f\n", name, NR, name, a[j], name, a[i], name, a[NR]}'
}
dash() {
  echo "{\"dataProductDescriptor\":\"1.0.0\",\"info\":{\"fullyQualifiedName\":\"urn:dpds:com.acme:dataproducts:bench$1:1\",\"name\":\"bench$1\",\"version\":\"1.0.0\",\"domain\":\"ops\",\"owner\":{\"id\":\"ops@acme.example\"}},\"interfaceComponents\":{\"inputPorts\":[{\"name\":\"obs\",\"promises\":{\"api\":{\"format\":\"avro\",\"schema\":{\"type\":\"record\",\"name\":\"Obs\",\"namespace\":\"com.acme.weather\",\"aliases\":[\"com.acme.weather.Observation\"],\"fields\":[{\"name\":\"stationId\",\"type\":\"string\"},{\"name\":\"temperatureC\",\"type\":\"double\"}]}}}}]}}"
}
kafka_known_down() { curl -s --max-time 2 "$URL/readyz" | grep -q '"kafka":false'; }

probe_start down_up
for round in 1 2; do
  kill -USR1 "$KPID"
  wait_until 30 kafka_known_down
  [ $round = 1 ] && curl -s --max-time 40 -o /dev/null -X PUT "$URL/v1/products/bench0/1" -H 'content-type: application/json' -d "$(dash 0)"
  sleep 2
  kill -USR2 "$KPID"
  wait_until 60 curl -fsS --max-time 2 "$URL/readyz"
done
probe_stop down_up | tee "$T/down_up.txt"

probe_start bindings
ids=()
for i in $(seq 1 "$N"); do
  curl -s --max-time 30 -o /dev/null -X PUT "$URL/v1/products/bench$i/1" -H 'content-type: application/json' -d "$(dash "$i")"
  id=$(curl -s --max-time 30 -X PUT "$URL/v1/subscriptions" -H 'content-type: application/json' \
    -d "{\"from\":\"weather/2/outputports/observations\",\"to\":\"bench$i/1/inputports/obs\",\"start\":\"latest\"}" | jq -r '.id // empty')
  [ -n "$id" ] && ids+=("$id")
done
for id in "${ids[@]}"; do curl -s --max-time 30 -o /dev/null -X DELETE "$URL/v1/subscriptions/$id"; done
echo "bindings_added_removed=${#ids[@]}"
probe_stop bindings | tee "$T/bindings.txt"
a=$(sed -n 's/^healthz_p99_ms_down_up=//p' "$T/down_up.txt"); b=$(sed -n 's/^healthz_p99_ms_bindings=//p' "$T/bindings.txt")
awk -v a="${a:-0}" -v b="${b:-0}" 'BEGIN {printf "healthz_p99_ms=%.2f\n", (a > b ? a : b)}'
