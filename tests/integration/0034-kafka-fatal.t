#!/usr/bin/env bash
# A shared Kafka client that fails for good (librdkafka's fatal error: here the cluster refuses the
# idempotent producer its producer id, as a real cluster does when the principal lacks the
# IdempotentWrite ACL): one ERROR line naming the cause and the remedy, /healthz 503 so a
# supervisor restarts the process, /readyz and publish 503 naming the same, no retry loop; after
# a restart (the cause gone) everything works. Fault injection through the embedded cluster's
# control topic (`fail <Api> <count> <ERROR>`).
. "$(dirname "$0")/lib.sh"
plan 13
start_kafka 1
CTL=_portbroker.embedded.control
echo "fail NoSuchApi 1 CLUSTER_AUTHORIZATION_FAILED" | kcat -P -b "$BROKERS" -t "$CTL" 2>/dev/null
wait_until 10 grep -q "ignored" "$T/kafka.err"
like "a bad fault-injection command is ignored, naming what it takes" "$(cat "$T/kafka.err")" \
  "control: 'fail NoSuchApi 1 CLUSTER_AUTHORIZATION_FAILED' ignored: the API must be one of Produce"
echo "fail InitProducerId 1 CLUSTER_AUTHORIZATION_FAILED" | kcat -P -b "$BROKERS" -t "$CTL" 2>/dev/null
wait_until 10 grep -q "InitProducerId requests answer" "$T/kafka.err"
like "the embedded cluster takes the fault" "$(cat "$T/kafka.err")" \
  'the next 1 InitProducerId requests answer CLUSTER_AUTHORIZATION_FAILED \(fault injection\)'

start_broker B -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme || bail "serve did not start"
health() { [ "$(curl -s -o "$T/h.body" -w '%{http_code}' --max-time 2 "$B_URL/healthz")" = "$1" ]; }
check "the client failed for good: /healthz answers 503" wait_until 20 health 503
like "/healthz says why: the cause as Kafka named it, and the remedy" "$(cat "$T/h.body")" \
  '"status":"failed","reason":"Kafka client [^ ]+ failed for good: CLUSTER_AUTHORIZATION_FAILED .*IdempotentWrite.*restarted'
http GET "$B_URL/readyz"; body=$HTTP_BODY
is "/readyz: 503" "$HTTP_STATUS" 503
like "/readyz gives the same reason" "$body" '"ready":false.*CLUSTER_AUTHORIZATION_FAILED'
URL="$B_URL/v1/ports/tripExecution/1/outputports/tripEvents/records"
REC='{"eventId":"0b0e7f06-9c3e-4c07-8d8e-2f2b9c7a1a11","tripId":"1b0e7f06-9c3e-4c07-8d8e-2f2b9c7a1a11","occurredAt":1700000000000,"eventType":"STARTED","customerId":"c1","vehicle":{"vehicleId":"v1","kind":"VAN","capacityKg":500},"route":{"origin":{"name":"A","lat":1.0,"lon":2.0},"destination":{"name":"B","lat":3.0,"lon":4.0}},"serviceDate":19000}'
http POST "$URL" -d "{\"records\":[{\"value\":$REC}]}"; body=$HTTP_BODY
is "publish: 503 at once" "$HTTP_STATUS" 503
like "publish names the cause, not a timeout" "$body" 'failed for good: CLUSTER_AUTHORIZATION_FAILED'
sleep 3
is "the log says it once, as an ERROR with the remedy" \
  "$(grep -c 'error \[kafka\] Kafka client .* failed for good: CLUSTER_AUTHORIZATION_FAILED.*IdempotentWrite' "$T/B.log")" 1
is "no start-up retry loop (no retry can help)" "$(grep -c 'trying again every second' "$T/B.log")" 0

# A restart with the cause gone (the injected refusal was used up): all is well.
stop_pid "$B_PID"
start_broker B -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme || bail "serve did not restart"
check "after a restart: /healthz 200" wait_until 20 health 200
check "after a restart: ready" wait_ready "$B_URL" 30
URL="$B_URL/v1/ports/tripExecution/1/outputports/tripEvents/records"
http POST "$URL" -d "{\"records\":[{\"value\":$REC}]}"; body=$HTTP_BODY
is "after a restart: publish 200" "$HTTP_STATUS" 200
stop_pid "$B_PID"

finish
