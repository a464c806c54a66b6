#!/usr/bin/env bash
# Start-up and Kafka outages (issue #15): `serve` started while its Kafka (`portbroker kafka` in its
# own process, brokers taken down with SIGUSR1) does not answer keeps serving /healthz, says why it
# is not ready, answers other routes 503 + Retry-After; once the brokers are back (SIGUSR2) it
# becomes ready without a restart. Publishes sent all through start-up get 503 (never 404) until
# the registry is replayed, then 200. With Kafka known unreachable, publish answers 503 at once.
. "$(dirname "$0")/lib.sh"
plan 15
start_kafka 3
kill -USR1 "$KAFKA_PID"; sleep 0.5
start_broker B -c deploy/example.conf -o kafka.bootstrap.servers="$BROKERS" || bail "serve did not start with Kafka down: $(tail -3 "$T/B.log")"
http GET "$B_URL/healthz"
is "Kafka down at start: /healthz 200" "$HTTP_STATUS" 200
http GET "$B_URL/readyz"
is "Kafka down at start: /readyz 503" "$HTTP_STATUS" 503
like "Kafka down at start: /readyz says why" "$HTTP_BODY" '"ready":false,"kafka":false,"reason":"Kafka has not answered since start-up'
hdr=$(curl -sS --max-time 5 -D - -o "$T/ports.body" "$B_URL/v1/ports/weather/2/outputports/observations" | tr -d '\r' | tr '\n' ' ')
like "Kafka down at start: a port route is 503 with Retry-After" "$hdr" '^HTTP/1.1 503.*Retry-After: 1'
check "serve is still running after 10 s without Kafka" bash -c "sleep 10; kill -0 $B_PID"
obs='{"records":[{"key":"st-1","value":{"observationId":"00000000-0000-4000-8000-000000000001","stationId":"st-1","observedAt":1764583200000,"location":{"lat":52.5,"lon":13.4,"elevationM":34.0},"temperatureC":4.5,"humidityPct":40.5,"condition":"RAIN","quality":{"qc":"ok"}}}]}'
# Brokers back; publish every 50 ms from before they answer until one succeeds.
publish() { curl -sS --max-time 10 -o /dev/null -w '%{http_code}\n' -X POST "$B_URL/v1/ports/weather/2/outputports/observations/records" -H 'content-type: application/json' --data "$obs"; }
kill -USR2 "$KAFKA_PID"
end=$((SECONDS + 60)); : >"$T/codes"
while [ $SECONDS -lt $end ]; do c=$(publish); echo "$c" >>"$T/codes"; [ "$c" = 200 ] && break; sleep 0.05; done
diag "publish answers in order: $(uniq -c "$T/codes" | awk '{print $2"x"$1}' | tr "\n" " ")"
codes=$(sort "$T/codes" | uniq -c | awk '{print $2"x"$1}' | tr '\n' ' ')
diag "publish answers during start-up: $codes"
# Once the registry is replayed every publish is answered at once. (Before, a start with Kafka
# down could queue librdkafka's first error events before the loop's wake-up was enabled; every
# delivery report behind them then went unannounced and publishes waited (curl 000).)
is "publishes during start-up: only 503 then 200, never 404 (or a hang)" "$(sort -u "$T/codes" | tr '\n' ' ')" "200 503 "
wait_ready "$B_URL" 30
http GET "$B_URL/readyz"
is "brokers back: ready without a restart" "$HTTP_STATUS" 200
check "the embedded cluster in its own process is recognised once it answers" grep -q "is a portbroker embedded cluster" "$T/B.log"
is "no Kafka event waited for the once-a-second check (every wake-up came)" "$(grep -c 'waiting without a wake-up' "$T/B.log")" 0
# Kafka goes away: once readiness knows, publish is 503 at once.
kill -USR1 "$KAFKA_PID"
wait_until 30 bash -c "curl -s --max-time 2 '$B_URL/readyz' | grep -q '\"kafka\":false'"
t0=$(date +%s%N); hdr=$(curl -sS --max-time 10 -D - -o "$T/pub.body" -X POST "$B_URL/v1/ports/weather/2/outputports/observations/records" -H 'content-type: application/json' --data "$obs" | tr -d '\r' | tr '\n' ' '); t1=$(date +%s%N)
like "Kafka unreachable: publish 503 with Retry-After" "$hdr" '^HTTP/1.1 503.*Retry-After'
ms=$(( (t1 - t0) / 1000000 ))
check "Kafka unreachable: answered at once (${ms} ms), not after publish.timeout.ms" test "$ms" -lt 1000
http GET "$B_URL/healthz"
is "Kafka unreachable: /healthz still 200" "$HTTP_STATUS" 200
kill -USR2 "$KAFKA_PID"
wait_ready "$B_URL" 30
is "brokers back again: publish 200" "$(publish)" 200

# SIGTERM with the brokers down: the broker still stops promptly (before, the lag poller's
# watermark look-ups each waited socket.timeout.ms, 60 s, and shutdown waited for them).
kill -USR1 "$KAFKA_PID"
wait_until 30 bash -c "curl -s --max-time 2 '$B_URL/readyz' | grep -q '\"kafka\":false'"
t0=$SECONDS
stop_pid "$B_PID" 30
# Exit status 1 when records were still undelivered after shutdown.timeout.ms (lineage events,
# here), and the log says how many; 0 when nothing was left.
like "SIGTERM with the brokers down: exits (0, or 1 with records undelivered) within 20 s" "rc=$STOP_RC after $((SECONDS - t0)) s" '^rc=[01] after ([0-9]|1[0-9]) s$'
if [ "$STOP_RC" = 1 ]; then
  like "exit status 1 is explained in the log" "$(tail -3 "$T/B.log")" 'messages were still undelivered after [0-9]+ ms at shutdown'
else
  ok "exit status 0: nothing was left undelivered"
fi
finish
