#!/usr/bin/env bash
# One configuration for every Kafka client (issue #15): the operator's kafka.* settings reach
# every client the process makes (registry follower, publishing and routing producers, routing
# and stream consumers, the offset reader of offset jobs, lag sweeps, samples and router resumes,
# a group committer), as librdkafka itself reports them (each client's settings beyond
# librdkafka's defaults, logged at debug level); the keys correctness depends on cannot be
# overridden (kafka.enable.auto.commit=true leaves routers on manual commits); a bad kafka.* key
# or value stops start-up with exit 2 naming the key and librdkafka's reason.
. "$(dirname "$0")/lib.sh"
plan 20
start_kafka 3
start_broker B -c deploy/example.conf -o kafka.bootstrap.servers="$BROKERS" -o log.level=debug \
  -o kafka.socket.keepalive.enable=true -o kafka.enable.auto.commit=true -o kafka.linger.ms=7 \
  -o kafka.acks=1 -o kafka.fetch.wait.max.ms=250 -o router.prefetch.kbytes=8192 \
  -o router.queue.kbytes=4096 || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
wait_until 30 grep -q "router started: .*inputports:trips" "$T/B.log" || bail "no router"
# A subscriber stream makes one more consumer.
curl -sS --max-time 10 -o /dev/null "$B_URL/v1/ports/urn:dpds:com.acme:dataproducts:billing:1:inputports:trips/records?max_records=1&timeout_ms=500"
wait_until 20 grep -q "(subscriber stream): settings" "$T/B.log"
# The stream is over, its group stays known to the cluster: a cursor commit here goes through the
# group, which (on the embedded cluster) takes it from a member only: a group committer joins.
http POST "$B_URL/v1/ports/urn:dpds:com.acme:dataproducts:billing:1:inputports:trips/cursors" \
  -H 'content-type: application/json' --data '{"cursors":[{"partition":0,"offset":0}]}' --max-time 40
is "a cursor commit through the group: 200" "$HTTP_STATUS" 200
wait_until 20 grep -q "(offset reader): settings" "$T/B.log"
wait_until 20 grep -q "(group committer): settings" "$T/B.log"
grep "settings beyond librdkafka's defaults" "$T/B.log" >"$T/clients.txt"
roles=$(sed -E 's/.*\(([a-z -]+)\): settings beyond.*/\1/' "$T/clients.txt" | LC_ALL=C sort -u | tr '\n' ',')
is "every kind of client logged its settings" "$roles" \
  "group committer,offset reader,publish producer,registry follower,relay producer,router consumer,subscriber stream,"
n=$(wc -l <"$T/clients.txt")
is "each of the $n clients got kafka.socket.keepalive.enable" "$(grep -c 'socket.keepalive.enable=true' "$T/clients.txt")" "$n"
check "the registry follower got the pass-through too" grep -q "(registry follower): .*socket.keepalive.enable=true" "$T/clients.txt"
consumers=$(grep -c '(router consumer\|registry follower\|subscriber stream\|offset reader\|group committer)' "$T/clients.txt")
is "kafka.enable.auto.commit=true: every consumer keeps manual commits" "$(grep -c 'enable.auto.commit=false' "$T/clients.txt")" "$consumers"
check "routers: auto commit off, offsets stored by the broker" grep -q "(router consumer): .*enable.auto.commit=false enable.auto.offset.store=false" "$T/clients.txt"
check "router.prefetch.kbytes bounds the fan-out reader's read-ahead" grep -q "(router consumer): .*queued.max.messages.kbytes=8192" "$T/clients.txt"
check "router.prefetch.kbytes is the reader's alone (streams keep their own bound)" bash -c "! grep '(subscriber stream\|registry follower\|publish producer\|relay producer)' '$T/clients.txt' | grep -q 'queued.max.messages.kbytes=8192'"
check "router.queue.kbytes bounds the routing producer's queue" grep -q "(relay producer): .*queue.buffering.max.kbytes=4096" "$T/clients.txt"
check "router.queue.kbytes is the routing producer's alone" bash -c "! grep -v '(relay producer)' '$T/clients.txt' | grep -q 'queue.buffering.max.kbytes=4096'"
check "kafka.fetch.wait.max.ms (a default) reaches routers" grep -q "(router consumer): .*fetch.wait.max.ms=250" "$T/clients.txt"
# acks=all is librdkafka's default (-1), so an acks line shows only when something changed it.
check "kafka.acks=1 cannot weaken producers (acks stays all)" bash -c "! grep '(publish producer\|relay producer)' '$T/clients.txt' | grep -q 'request.required.acks'"
check "producers: idempotence on, kafka.linger.ms applied" bash -c "[ \$(grep '(publish producer\|relay producer)' '$T/clients.txt' | grep -c 'enable.idempotence=true.*queue.buffering.max.ms=7') = \$(grep -c '(publish producer\|relay producer)' '$T/clients.txt') ]"
check "consumer-only keys stay off producers" bash -c "! grep '(publish producer\|relay producer)' '$T/clients.txt' | grep -q 'fetch.wait.max.ms\|enable.auto.commit'"
# Records still route with the operator's settings.
obs='{"records":[{"key":"st-1","value":{"observationId":"00000000-0000-4000-8000-000000000001","stationId":"st-1","observedAt":1764583200000,"location":{"lat":52.5,"lon":13.4,"elevationM":34.0},"temperatureC":4.5,"humidityPct":40.5,"condition":"RAIN","quality":{"qc":"ok"}}}]}'
http POST "$B_URL/v1/ports/weather/2/outputports/observations/records" -H 'content-type: application/json' --data "$obs"
is "publish works with the pass-through" "$HTTP_STATUS" 200
stop_pid "$B_PID" 15
# Bad keys and values: exit 2 before anything starts, naming the key and librdkafka's reason.
out=$("$PB_BIN" serve -c deploy/example.conf -o http.listen=127.0.0.1:0 -o kafka.bootstrap.servers="$BROKERS" -o kafka.no.such.thing=1 2>&1); rc=$?
is "unknown kafka.* key: exit 2" "$rc" 2
like "unknown kafka.* key: named with librdkafka's reason" "$out" 'kafka.no.such.thing = 1: librdkafka refuses it: No such configuration property: "no.such.thing"'
out=$("$PB_BIN" serve -c deploy/example.conf -o http.listen=127.0.0.1:0 -o kafka.bootstrap.servers="$BROKERS" -o kafka.socket.keepalive.enable=perhaps 2>&1); rc=$?
is "bad kafka.* value: exit 2" "$rc" 2
like "bad kafka.* value: says what is expected" "$out" 'kafka.socket.keepalive.enable = perhaps: .*Expected bool value for "socket.keepalive.enable": true or false'
out=$("$PB_BIN" serve -c deploy/example.conf -o http.listen=127.0.0.1:0 -o kafka.bootstrap.servers="$BROKERS" -o router.prefetch.kbytes=100 2>&1); rc=$?
like "router.prefetch.kbytes below its range: exit 2 naming the key" "$rc:$out" '^2:.*router.prefetch.kbytes'
finish
