#!/usr/bin/env bash
# Connector throughput (#16): pb-source-file against `portbroker publish` sending the same NDJSON
# records, and pb-sink-file against `portbroker consume --commit` reading the same number of
# records, on one broker (`portbroker serve` with `portbroker kafka` in its own process) on
# loopback. Prints records/s of each and the ratios (connector / CLI). Processes are killed by PID.
# Usage: bench/bench_connectors.sh [N records, default 20000]  (B=build/release)
set -uo pipefail
cd "$(dirname "$0")/.."
B=${B:-build/release}
N=${1:-20000}
PB=$B/portbroker
T=$(mktemp -d /tmp/pbbench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT
waitfor() { local end=$((SECONDS + $1)); shift; until "$@" >/dev/null 2>&1; do [ $SECONDS -ge $end ] && return 1; sleep 0.1; done; }
now() { date +%s.%N; }
"$PB" kafka --brokers 1 --brokers-file "$T/brokers" >/dev/null 2>&1 & pids+=($!)
waitfor 30 test -s "$T/brokers" || { echo "kafka did not start"; exit 1; }
"$PB" serve -o http.listen=127.0.0.1:0 --port-file "$T/port" -o kafka.bootstrap.servers="$(cat "$T/brokers")" \
  -o mesh.namespace=com.acme >"$T/serve.log" 2>&1 & pids+=($!)
waitfor 30 test -s "$T/port" || { echo "serve did not start"; exit 1; }
export PORTBROKER_URL=http://127.0.0.1:$(cat "$T/port")
waitfor 60 curl -fsS --max-time 2 "$PORTBROKER_URL/readyz" || { echo "not ready"; exit 1; }
OUT=weather/2/outputports/observations IN=tripExecution/1/inputports/weather
awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"key\":\"st-%d\",\"value\":{\"observationId\":\"00000000-0000-4000-8000-%012d\",\"stationId\":\"st-%d\",\"observedAt\":1795256130000,\"location\":{\"lat\":48.1,\"lon\":11.6},\"temperatureC\":%d.5,\"condition\":\"SNOW\"}}\n", i, i, i, i }' >"$T/in.ndjson"
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }

t0=$(now); "$PB" publish "$OUT" -f "$T/in.ndjson" --batch 500 2>/dev/null; t1=$(now)
pub=$(rate "$N" "$t0" "$t1")
t0=$(now); "$B/connectors/pb-source-file" --port "$OUT" --file "$T/in.ndjson" --batch 500 --no-follow 2>/dev/null; t1=$(now)
src=$(rate "$N" "$t0" "$t1")
# Both halves routed into the input port before the readers start.
bid=$(curl -sS "$PORTBROKER_URL/v1/subscriptions" | jq -r '.subscriptions[] | select(.to | endswith("tripExecution:1:inputports:weather")) | .id')
waitfor 120 sh -c "[ \"\$(curl -sS --max-time 5 '$PORTBROKER_URL/v1/subscriptions/$bid/stats' | jq '[.partitions[].subscribers.endOffset] | add')\" -ge $((2 * N)) ]" \
  || echo "# routing incomplete"
t0=$(now); "$PB" consume "$IN" --max "$N" --commit --wait-ms 5000 >"$T/consume.out" 2>/dev/null; t1=$(now)
con=$(rate "$(wc -l <"$T/consume.out")" "$t0" "$t1")
# --once ends 500 ms after the last record (--wait-ms): that quiet tail is not counted.
t0=$(now); "$B/connectors/pb-sink-file" --port "$IN" --dir "$T/sink" --once --wait-ms 500 --batch 1000 2>/dev/null; t1=$(now)
got=$(cat "$T"/sink/*.ndjson | wc -l)
sink=$(awk -v n="$got" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a - 0.5) }')
printf '%-34s %10s\n' "records per side" "$N" "portbroker publish (rec/s)" "$pub" "pb-source-file (rec/s)" "$src" \
  "portbroker consume --commit (rec/s)" "$con" "pb-sink-file ($got rec, rec/s)" "$sink"
echo "publish_cli_rec_s=$pub"
echo "source_file_rec_s=$src"
echo "consume_cli_rec_s=$con"
echo "sink_file_rec_s=$sink"
awk -v a="$src" -v b="$pub" 'BEGIN { printf "source_file_vs_publish_ratio=%.2f\n", a / b }'
awk -v a="$sink" -v b="$con" 'BEGIN { printf "sink_file_vs_consume_ratio=%.2f\n", a / b }'
