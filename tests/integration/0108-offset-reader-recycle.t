#!/usr/bin/env bash
# The offset reader is recycled (issue #15, idle CPU): librdkafka 2.0.2 keeps every topic a client
# has read until the client is destroyed and scans them all every second, so the instance's
# offset reader (stream positions, port samples, the lag sweep's oldest-record reads) is closed
# when it sat unused for sub.reader.idle.ms, or replaced past sub.reader.topics.max topics, and
# the next look-up makes a new one. The figures it gives must stay right across readers: lag
# seconds from the oldest unconsumed record, samples, a stream from a time.
. "$(dirname "$0")/lib.sh"
plan 8
start_kafka 3
start_broker B -c deploy/example.conf -o kafka.bootstrap.servers="$BROKERS" \
  -o sub.lag.interval.ms=300 -o sub.reader.idle.ms=1000 -o sub.reader.topics.max=1 \
  -o log.level=debug || bail "B did not start"
wait_ready "$B_URL" || bail "B not ready"
http GET "$B_URL/v1/subscriptions"
W=$(echo "$HTTP_BODY" | jq -r '.subscriptions[] | select(.to | endswith(":inputports:weather")) | .id')
TR=$(echo "$HTTP_BODY" | jq -r '.subscriptions[] | select(.to | endswith(":inputports:trips")) | .id')
[ -n "$W" ] && [ -n "$TR" ] || bail "bindings missing: $HTTP_BODY"
metric() { curl -sS --max-time 2 "$B_URL/metrics" | awk -v s="$1" '$1 == s {print $2}'; }
closed() { metric "portbroker_kafka_offset_reader_closed_total{reason=\"$1\"}"; }
obs() { printf '{"key":"st-%d","value":{"observationId":"00000000-0000-4000-8000-00000000000%d","stationId":"st-%d","observedAt":1764583200000,"location":{"lat":52.5,"lon":13.4,"elevationM":34.0},"temperatureC":4.5,"humidityPct":40.5,"condition":"RAIN","quality":{"qc":"ok"}}}' "$1" "$1" "$1"; }
trip() { printf '{"key":"trip-%d","value":{"eventId":"0b0e7f06-9c3e-4c07-8d8e-2f2b9c7a1a%02d","tripId":"1b0e7f06-9c3e-4c07-8d8e-2f2b9c7a1a11","occurredAt":1700000000000,"eventType":"STARTED","customerId":"c1","vehicle":{"vehicleId":"v1","kind":"VAN","capacityKg":500},"route":{"origin":{"name":"A","lat":1.0,"lon":2.0},"destination":{"name":"B","lat":3.0,"lon":4.0}},"distanceKm":12.5,"serviceDate":19000}}' "$1" "$1"; }
recs=""; for i in 1 2 3; do recs="$recs${recs:+,}$(obs $i)"; done
http POST "$B_URL/v1/ports/weather/2/outputports/observations/records" --data "{\"records\":[$recs]}"
is "3 observations published" "$HTTP_STATUS" "200"
# Nobody reads the input port: the sweep reads its oldest unconsumed record through the reader.
SUBS='[.subscribers.lagRecords, (.subscribers.lagSeconds > 0)] | tostring'
subs() { curl -sS --max-time 2 "$B_URL/v1/subscriptions/$1/stats" | jq -r "$SUBS"; }
export -f subs; export SUBS B_URL
wait_until 30 bash -c "[ \"\$(subs $W)\" = '[3,true]' ]"
is "weather: subscribers 3 behind, lag seconds from the oldest record" "$(subs "$W")" "[3,true]"
wait_until 20 bash -c "[ \"\$(curl -sS --max-time 2 $B_URL/metrics | awk '\$1 ~ /offset_reader_closed_total.*idle/ {print \$2}')\" -ge 1 ]"
like "the reader that read it was closed idle" "$(closed idle)" "^[1-9][0-9]*$"
like "the reader's log line says why" "$(grep -m1 'offset reader closed' "$T/B.log")" "offset reader closed \(idle; it knew [1-9][0-9]* topics\)"
# After the close: a new reader reads the other input port's oldest record (a new sweep read).
recs=""; for i in $(seq 1 4); do recs="$recs${recs:+,}$(trip $i)"; done
http POST "$B_URL/v1/ports/tripExecution/1/outputports/tripEvents/records" --data "{\"records\":[$recs]}"
wait_until 30 bash -c "[ \"\$(subs $TR)\" = '[4,true]' ]"
is "trips: subscribers 4 behind, lag seconds through a new reader" "$(subs "$TR")" "[4,true]"
# In steady use (samples of two ports, 300 ms apart: never idle for 1 s) a reader that read more
# than sub.reader.topics.max = 1 topics is replaced once it is sub.reader.idle.ms old.
t0=$(closed topics)
end=$((SECONDS + 15))
samples_ok=1
while [ $SECONDS -lt $end ] && [ "$(closed topics)" = "$t0" ]; do
  for p in weather/2/outputports/observations tripExecution/1/outputports/tripEvents; do
    n=$(curl -sS --max-time 5 "$B_URL/v1/ports/$p/sample" | jq '.records | length')
    [ "$n" -ge 1 ] 2>/dev/null || samples_ok=0
    sleep 0.3
  done
done
like "a reader past sub.reader.topics.max was replaced" "$(closed topics)" "^[1-9][0-9]*$"
is "every sample meanwhile held records" "$samples_ok" "1"
# And after it: a sample and a stream starting from a time, through the new reader.
n=$(curl -sS --max-time 5 "$B_URL/v1/ports/weather/2/outputports/observations/sample" | jq '.records | length')
s=$(curl -sS --max-time 15 "$B_URL/v1/ports/tripExecution/1/inputports/weather/records?from=time:2000-01-01T00:00:00Z&max_records=3&timeout_ms=8000" | grep -c '"offset"')
is "after it: a sample of 3 and a stream from a time with 3 records" "$n $s" "3 3"
finish
