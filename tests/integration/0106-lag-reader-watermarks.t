#!/usr/bin/env bash
# Lag sweeps and the fan-out reader's watermarks (issue #15): a sweep takes the watermarks of the
# output partitions this instance's reader fetches from the reader's last fetch answers (no
# request) and asks Kafka only for the others. Two instances share the routers' group: B reads
# every partition first, then C joins and takes part of them. Records published after that must
# show in both instances' end offsets and lag: each asks Kafka for the partitions the other reads,
# and B must not use the figures its reader kept for the partitions it gave up (librdkafka keeps
# them after a revocation: they stay at what B last fetched, before these records).
. "$(dirname "$0")/lib.sh"
plan 6
start_kafka 3
serve() {
  start_broker "$1" -c deploy/example.conf -o kafka.bootstrap.servers="$BROKERS" \
    -o sub.lag.interval.ms=300 -o log.level=debug
}
serve B || bail "B did not start"
wait_ready "$B_URL" || bail "B not ready"
# The two bound output ports (weather observations, 3 partitions, to tripExecution's weather
# input; tripExecution tripEvents, 6 partitions, to billing's trips input): C takes half of the 10
# output partitions, at least 4 of them bound, so one of the two is split between B and C.
http GET "$B_URL/v1/subscriptions"
W=$(echo "$HTTP_BODY" | jq -r '.subscriptions[] | select(.to | endswith(":inputports:weather")) | .id')
TR=$(echo "$HTTP_BODY" | jq -r '.subscriptions[] | select(.to | endswith(":inputports:trips")) | .id')
[ -n "$W" ] && [ -n "$TR" ] || bail "bindings missing: $HTTP_BODY"
# B alone reads every partition, and its sweeps take them from its reader.
wait_until 30 grep -Eq "watermarks of [1-9][0-9]* partitions from the fan-out reader" "$T/B.log" ||
  bail "B's sweeps never took watermarks from its reader"
serve C || bail "C did not start"
wait_ready "$C_URL" || bail "C not ready"
check "C's reader is given part of the partitions" \
  wait_until 60 grep -Eq "fan-out reader: [1-9][0-9]* partitions started" "$T/C.log"
# Settled: the partitions C took are revoked in B and read by C.
sleep 3
obs() { printf '{"key":"st-%d","value":{"observationId":"00000000-0000-4000-8000-00000000000%d","stationId":"st-%d","observedAt":1764583200000,"location":{"lat":52.5,"lon":13.4,"elevationM":34.0},"temperatureC":4.5,"humidityPct":40.5,"condition":"RAIN","quality":{"qc":"ok"}}}' "$1" "$1" "$1"; }
trip() { printf '{"key":"trip-%d","value":{"eventId":"0b0e7f06-9c3e-4c07-8d8e-2f2b9c7a1a%02d","tripId":"1b0e7f06-9c3e-4c07-8d8e-2f2b9c7a1a11","occurredAt":1700000000000,"eventType":"STARTED","customerId":"c1","vehicle":{"vehicleId":"v1","kind":"VAN","capacityKg":500},"route":{"origin":{"name":"A","lat":1.0,"lon":2.0},"destination":{"name":"B","lat":3.0,"lon":4.0}},"distanceKm":12.5,"serviceDate":19000}}' "$1" "$1"; }
recs=""; for i in 1 2 3 4 5 6 7 8 9; do recs="$recs${recs:+,}$(obs $i)"; done
http POST "$B_URL/v1/ports/weather/2/outputports/observations/records" -H 'content-type: application/json' \
  --data "{\"records\":[$recs]}"
s1=$HTTP_STATUS
recs=""; for i in $(seq 1 18); do recs="$recs${recs:+,}$(trip $i)"; done
http POST "$B_URL/v1/ports/tripExecution/1/outputports/tripEvents/records" -H 'content-type: application/json' \
  --data "{\"records\":[$recs]}"
is "9 observations and 18 trip events published" "$s1 $HTTP_STATUS" "200 200"
# Per instance and binding: end offsets summed over the output partitions, route lag, subscriber
# lag (nobody reads the input ports).
FIG='[([.partitions[].route.endOffset // 0] | add), .route.lagRecords, .subscribers.lagRecords] | tostring'
figs() { echo "$(curl -sS --max-time 2 "$1/v1/subscriptions/$W/stats" | jq -r "$FIG") $(curl -sS --max-time 2 "$1/v1/subscriptions/$TR/stats" | jq -r "$FIG")"; }
want='[9,0,9] [18,0,18]'
export -f figs; export FIG W TR
wait_until 30 bash -c "[ \"\$(figs $B_URL)\" = '$want' ]"
is "B: every output partition's end offset, route lag 0, subscribers behind by all" "$(figs "$B_URL")" "$want"
wait_until 30 bash -c "[ \"\$(figs $C_URL)\" = '$want' ]"
is "C: the same figures" "$(figs "$C_URL")" "$want"
# Each instance took some output partitions from its reader and asked Kafka for the rest.
last() { grep -E "lag sweep: .*from the fan-out reader" "$T/$1.log" | tail -1; }
like "B's last sweep: some watermarks from its reader" "$(last B)" "watermarks of [1-9][0-9]* partitions from the fan-out reader"
like "C's last sweep: some watermarks from its reader" "$(last C)" "watermarks of [1-9][0-9]* partitions from the fan-out reader"
finish
