#!/usr/bin/env bash
# librdkafka statistics of the shared Kafka clients on /metrics (portbroker_kafka_*): against
# `portbroker kafka` in its own process, with the example mesh (bindings: the routing producer
# and the fan-out reader exist), then with that cluster gone; and none with the key at 0.
. "$(dirname "$0")/lib.sh"
plan 12
start_kafka 3
start_broker B -c deploy/example.conf -o kafka.bootstrap.servers="$BROKERS" \
  -o metrics.kafka.stats.interval.ms=500 || bail "serve did not start"
wait_ready "$B_URL" 60 || bail "not ready: $(tail -3 "$T/B.log")"
m() { curl -fsS --max-time 5 "$B_URL/metrics" >"$T/m.txt"; }
# v NAME LABEL-REGEX: the values of NAME's samples whose labels match, one a line.
v() { awk -v n="$1" -v l="$2" 'index($1, n "{") == 1 && $1 ~ l { print $2 }' "$T/m.txt"; }
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
start_broker C -c deploy/example.conf \
  -o metrics.kafka.stats.interval.ms=0 || bail "serve C did not start"
wait_ready "$C_URL" 60; sleep 1.5; curl -fsS --max-time 5 -o "$T/c.txt" "$C_URL/metrics"
is "metrics.kafka.stats.interval.ms = 0 (embedded cluster): /metrics answers, no portbroker_kafka_* series" \
  "$(grep -c '^portbroker_build_info' "$T/c.txt") $(grep -c '^portbroker_kafka_' "$T/c.txt")" "1 0"
finish
