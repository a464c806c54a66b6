#!/usr/bin/env bash
# The shared Kafka clients on /metrics (portbroker_kafka_*), against `portbroker kafka` in its own
# process with the example mesh (bindings: the routing producer and the fan-out reader exist).
# librdkafka statistics switched on (metrics.kafka.stats.interval.ms, off by default): the
# per-broker series, then with that cluster gone. With the defaults (no statistics): no per-broker
# series, but portbroker_kafka_reachable and the produce queue series, read from the producers at
# each scrape: the queue fills while Kafka refuses produces (fault injection through the cluster's
# control topic, `fail Produce N ERROR`) and empties once they are taken; reachability goes to 0
# with the brokers down (SIGUSR1) and back to 1 with them up (SIGUSR2); maxima are the settings the
# clients got (a kafka.* override).
. "$(dirname "$0")/lib.sh"
plan 26
start_kafka 3
start_broker B -c deploy/example.conf -o kafka.bootstrap.servers="$BROKERS" \
  -o metrics.kafka.stats.interval.ms=500 || bail "serve did not start"
wait_ready "$B_URL" 60 || bail "not ready: $(tail -3 "$T/B.log")"
m() { curl -fsS --max-time 5 "$B_URL/metrics" >"$T/m.txt"; }
# v NAME LABEL-REGEX: the values of NAME's samples whose labels match, one a line.
v() { awk -v n="$1" -v l="$2" 'index($1, n "{") == 1 && $1 ~ l { print $2 }' "$T/m.txt"; }
# v0 NAME: the value of a series without labels.
v0() { awk -v n="$1" '$1 == n { print $2 }' "$T/m.txt"; }
has_all() {
  m && [ -n "$(v portbroker_kafka_broker_up 'client="publish"' | grep -x 1)" ] &&
    [ -n "$(v portbroker_kafka_broker_rtt_avg_seconds 'client="reader"')" ] &&
    [ -n "$(v portbroker_kafka_produce_queue_max_messages 'client="relay"')" ]
}
wait_until 30 has_all
check "promtool check metrics accepts the exposition with the portbroker_kafka_* series" promtool check metrics <"$T/m.txt"
like "publish, relay and reader each report (stats timestamp per client)" \
  "$(grep -c '^portbroker_kafka_stats_timestamp_seconds{client="\(publish\|relay\|reader\)"}' "$T/m.txt")" '^3$'
like "the publishing producer is connected to some broker of the cluster (up 1, broker = an address of BROKERS)" \
  "$(grep '^portbroker_kafka_broker_up{client="publish"' "$T/m.txt" | grep ' 1$' | sed 's/.*broker="\([^"]*\)".*/\1/' | head -1)" \
  "^($(echo "$BROKERS" | sed 's/,/|/g'))$"
is "every client lists the 3 brokers of the cluster" \
  "$(grep -c '^portbroker_kafka_broker_request_errors_total{client="reader"' "$T/m.txt")" 3
is "the publish queue's maximum is librdkafka's queue.buffering.max.messages default (100000)" \
  "$(v portbroker_kafka_produce_queue_max_messages 'client="publish"')" 100000
is "the routing producer's maximum is its role default (1000000)" \
  "$(v portbroker_kafka_produce_queue_max_messages 'client="relay"')" 1000000
is "the reader is a consumer: no produce queue series" "$(v portbroker_kafka_produce_queue_messages 'client="reader"')" ""
rtt=$(v portbroker_kafka_broker_rtt_avg_seconds 'client="reader"' | head -1)
p99=$(v portbroker_kafka_broker_rtt_p99_seconds 'client="reader"' | head -1)
check "the reader's round-trip time is measured in seconds (avg $rtt, p99 $p99: 0 < avg <= p99 < 5)" \
  awk -v a="$rtt" -v p="$p99" 'BEGIN { exit !(a > 0 && a <= p && p < 5) }'
t0=$(v portbroker_kafka_stats_timestamp_seconds 'client="publish"')
err0=$(v portbroker_kafka_broker_request_errors_total 'client="publish"' | awk '{ s += $1 } END { print s + 0 }')
stop_pid "$KAFKA_PID" 10
# Every client's next report must say so (the idle relay notices the disconnect last).
down() { m && [ -z "$(grep -E '^portbroker_kafka_broker_up\{' "$T/m.txt" | grep ' 1$')" ]; }
wait_until 30 down
is "with the cluster gone, no client is connected to any broker (Kafka unreachable)" \
  "$(grep -E '^portbroker_kafka_broker_up\{' "$T/m.txt" | grep -c ' 1$')" 0
# Reports are stamped in whole seconds: wait (bounded) for one from a later second.
for _i in $(seq 1 40); do
  t1=$(v portbroker_kafka_stats_timestamp_seconds 'client="publish"')
  [ "${t1:-0}" -gt "$t0" ] && break
  sleep 0.25; m
done
err1=$(v portbroker_kafka_broker_request_errors_total 'client="publish"' | awk '{ s += $1 } END { print s + 0 }')
check "reports keep coming ($t0 -> $t1) and the publish client's request errors grow ($err0 -> $err1)" \
  awk -v a="$t0" -v b="$t1" -v e="$err0" -v f="$err1" 'BEGIN { exit !(b > a && f > e) }'
check "/metrics still answers at once (the loop does not wait on Kafka)" curl -fsS --max-time 2 -o /dev/null "$B_URL/metrics"
# ---- the defaults: no statistics ----
stop_pid "$B_PID"
rm -f "$T/brokers"
start_kafka 3
start_broker D -c deploy/example.conf -o kafka.bootstrap.servers="$BROKERS" \
  -o kafka.queue.buffering.max.messages=50000 || bail "serve D did not start"
wait_ready "$D_URL" 60 || bail "D not ready: $(tail -3 "$T/D.log")"
m() { curl -fsS --max-time 5 "$D_URL/metrics" >"$T/m.txt"; }
wait_until 20 sh -c "curl -fsS --max-time 5 '$D_URL/metrics' | grep -q '^portbroker_kafka_produce_queue_messages{client=\"relay\"}'"
m
check "promtool check metrics accepts the exposition without statistics" promtool check metrics <"$T/m.txt"
is "defaults: no statistics series (no report time, no per-broker series)" \
  "$(grep -c '^portbroker_kafka_\(stats_timestamp_seconds\|broker_\)' "$T/m.txt")" 0
is "defaults: Kafka reachable (the probe's verdict)" "$(v0 portbroker_kafka_reachable)" 1
is "defaults: both producers' queues are exported, empty: records publish, relay; bytes publish, relay" \
  "$(v portbroker_kafka_produce_queue_messages 'client="(publish|relay)"' | tr '\n' ' ')$(v portbroker_kafka_produce_queue_bytes 'client="(publish|relay)"' | tr '\n' ' ')" \
  "0 0 0 0 "
is "the maxima are what the clients got: kafka.queue.buffering.max.messages=50000 overrides both" \
  "$(v portbroker_kafka_produce_queue_max_messages 'client="(publish|relay)"' | tr '\n' ' ')" "50000 50000 "
is "and queue.buffering.max.kbytes (librdkafka's default, 1048576 kB) in bytes" \
  "$(v portbroker_kafka_produce_queue_max_bytes 'client="publish"')" 1073741824
is "the reader is a consumer: no produce queue series" "$(v portbroker_kafka_produce_queue_messages 'client="reader"')" ""

# Kafka refuses the next 60 produce requests (retriable: the producer retries every
# retry.backoff.ms, 100 ms): a publish of 20 records with one key (one partition: one produce
# request a round) waits in the publish queue meanwhile, well within publish.timeout.ms.
CTL=_portbroker.embedded.control
echo "fail Produce 60 NOT_ENOUGH_REPLICAS" | kcat -P -b "$BROKERS" -t "$CTL" 2>/dev/null
wait_until 10 grep -q "Produce requests answer NOT_ENOUGH_REPLICAS" "$T/kafka.err" || diag "fault not confirmed: $(tail -2 "$T/kafka.err")"
URL="$D_URL/v1/ports/tripExecution/1/outputports/tripEvents/records"
REC='{"eventId":"0b0e7f06-9c3e-4c07-8d8e-2f2b9c7a1a11","tripId":"1b0e7f06-9c3e-4c07-8d8e-2f2b9c7a1a11","occurredAt":1700000000000,"eventType":"STARTED","customerId":"c1","vehicle":{"vehicleId":"v1","kind":"VAN","capacityKg":500},"route":{"origin":{"name":"A","lat":1.0,"lon":2.0},"destination":{"name":"B","lat":3.0,"lon":4.0}},"serviceDate":19000}'
body=$(printf '{"records":[%s]}' "$(for i in $(seq 1 20); do printf '%s{"key":"k","value":%s}' "$([ "$i" -gt 1 ] && echo ,)" "$REC"; done)")
curl -sS --max-time 40 -o "$T/pub.body" -w '%{http_code}' -H 'Content-Type: application/json' \
  -d "$body" "$URL" >"$T/pub.code" 2>&1 &
PUB=$!
# Other records share the publish queue (OpenLineage events, a few kB each, refused as well):
# wait for the 20.
queued() { m && [ "$(v portbroker_kafka_produce_queue_messages 'client="publish"')" -ge 20 ]; }
wait_until 20 queued
qm=$(v portbroker_kafka_produce_queue_messages 'client="publish"'); qb=$(v portbroker_kafka_produce_queue_bytes 'client="publish"')
check "while Kafka refuses produces the publish queue holds the records ($qm records, $qb bytes: 20 <= records, 20 x 50 < bytes)" \
  awk -v a="${qm:-0}" -v b="${qb:-0}" 'BEGIN { exit !(a >= 20 && b > 1000) }'
wait "$PUB"
is "the publish is acknowledged once Kafka takes the records (nothing lost)" "$(cat "$T/pub.code")" 200
empty() { m && [ "$(v portbroker_kafka_produce_queue_messages 'client="publish"')" = 0 ] && [ "$(v portbroker_kafka_produce_queue_bytes 'client="publish"')" = 0 ]; }
wait_until 20 empty
is "then the publish queue is empty again: records, bytes" \
  "$(v portbroker_kafka_produce_queue_messages 'client="publish"') $(v portbroker_kafka_produce_queue_bytes 'client="publish"')" "0 0"
# The routed copies went through the routing producer (two example bindings read tripEvents).
relay_empty() { m && [ "$(v portbroker_kafka_produce_queue_messages 'client="relay"')" = 0 ] && [ "$(v portbroker_kafka_produce_queue_bytes 'client="relay"')" = 0 ]; }
check "and the routing producer's queue too (records, bytes 0)" wait_until 30 relay_empty

# Reachability: the brokers down, then up again.
kill -USR1 "$KAFKA_PID"
unreach() { m && [ "$(v0 portbroker_kafka_reachable)" = 0 ]; }
check "brokers down: portbroker_kafka_reachable goes to 0 (bounded 20 s)" wait_until 20 unreach
check "/metrics still answers at once with Kafka down" curl -fsS --max-time 2 -o /dev/null "$D_URL/metrics"
kill -USR2 "$KAFKA_PID"
reach() { m && [ "$(v0 portbroker_kafka_reachable)" = 1 ]; }
check "brokers up: portbroker_kafka_reachable back to 1 (bounded 30 s)" wait_until 30 reach

# The librdkafka pass-through kafka.statistics.interval.ms turns statistics on too, and its
# reports feed the same series (before, the clients got the interval but no callback: no series).
stop_pid "$D_PID"
start_broker E -c deploy/example.conf -o kafka.bootstrap.servers="$BROKERS" \
  -o kafka.statistics.interval.ms=500 || bail "serve E did not start"
wait_ready "$E_URL" 60 || bail "E not ready: $(tail -3 "$T/E.log")"
m() { curl -fsS --max-time 5 "$E_URL/metrics" >"$T/m.txt"; }
reports() { m && [ "$(grep -c '^portbroker_kafka_stats_timestamp_seconds{client="\(publish\|relay\|reader\)"}' "$T/m.txt")" = 3 ]; }
check "kafka.statistics.interval.ms=500: publish, relay and reader report (bounded 30 s)" wait_until 30 reports
finish
