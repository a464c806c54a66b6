#!/usr/bin/env bash
# Idle routers stay in their groups (issue #15): librdkafka throws a member out of its group when
# the application has not polled for max.poll.interval.ms (5 min by default), and a router with no
# records used to be polled only when its queue woke the loop. With the interval at 7 s (the
# embedded cluster honours it), 20 idle seconds must not revoke anything, and routing still works.
. "$(dirname "$0")/lib.sh"
plan 4
start_kafka 3
start_broker B -c deploy/example.conf -o kafka.bootstrap.servers="$BROKERS" \
  -o kafka.max.poll.interval.ms=7000 -o kafka.session.timeout.ms=6000 || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
wait_until 30 grep -q "partition 2 of com.acme.weather.v2.observations assigned" "$T/B.log" || bail "router not assigned"
sleep 20
check "20 s idle: no 'maximum poll interval exceeded'" bash -c "! grep -q 'MAXPOLL\|maximum poll interval' '$T/B.log'"
check "20 s idle: no partition revoked" bash -c "! grep -q 'revoked' '$T/B.log'"
obs='{"records":[{"key":"st-1","value":{"observationId":"00000000-0000-4000-8000-000000000001","stationId":"st-1","observedAt":1764583200000,"location":{"lat":52.5,"lon":13.4,"elevationM":34.0},"temperatureC":4.5,"humidityPct":40.5,"condition":"RAIN","quality":{"qc":"ok"}}}]}'
http POST "$B_URL/v1/ports/weather/2/outputports/observations/records" -H 'content-type: application/json' --data "$obs"
is "publish after the idle time" "$HTTP_STATUS" 200
routed() { [ "$(kcat -b "$BROKERS" -C -t com.acme.tripExecution.v1.in.weather -o beginning -e -q -f 'x\n' 2>/dev/null | wc -l)" -ge 1 ]; }
check "the record is routed by the same members" wait_until 20 routed
finish
