#!/usr/bin/env bash
# Publish when Kafka fails: every broker of the embedded cluster down (SIGUSR1 to `portbroker kafka`)
# gives 503 + Retry-After once publish.timeout.ms has passed; back up (SIGUSR2), publishes succeed
# again without a restart. A client that disconnects before the reply loses nothing: its records are
# still delivered. Every record that got a 200 is in the topic exactly where the reply said.
. "$(dirname "$0")/lib.sh"
plan 19
start_kafka 3
start_broker B -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme \
  -o publish.timeout.ms=3000 -o kafka.reconnect.backoff.max.ms=200 || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
TOPIC=com.acme.tripExecution.v1.tripEvents
URL="$B_URL/v1/ports/tripExecution/1/outputports/tripEvents/records"
REC='{"eventId":"0b0e7f06-9c3e-4c07-8d8e-2f2b9c7a1a11","tripId":"1b0e7f06-9c3e-4c07-8d8e-2f2b9c7a1a11","occurredAt":1700000000000,"eventType":"STARTED","customerId":"c1","vehicle":{"vehicleId":"v1","kind":"VAN","capacityKg":500},"route":{"origin":{"name":"A","lat":1.0,"lon":2.0},"destination":{"name":"B","lat":3.0,"lon":4.0}},"serviceDate":19000}'
: >"$T/acked.jsonl"
# body PREFIX N: N records with ids PREFIX-0.., keys k0..
body() { jq -cn --argjson v "$REC" --arg p "$1" --argjson n "$2" '{records: [range($n) | {key: "k\(.)", id: "\($p)-\(.)", value: $v}]}'; }
# pub PREFIX N [curl args]: STATUS, BODY, HDRS; a 200's results are kept.
pub() {
  local p=$1 n=$2; shift 2
  body "$p" "$n" >"$T/req.json"
  STATUS=$(curl -sS --max-time 20 -D "$T/hdrs" -o "$T/pub.body" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"$T/req.json" "$@" "$URL" 2>/dev/null)
  BODY=$(cat "$T/pub.body" 2>/dev/null)
  [ "$STATUS" = 200 ] && jq -c '.results[]' "$T/pub.body" >>"$T/acked.jsonl"
  return 0
}

pub before 20
is "Kafka up: 200" "$STATUS" 200

kill -USR1 "$KAFKA_PID"
wait_until 5 grep -q 'SIGUSR1' "$T/kafka.err"
like "portbroker kafka logs the fault injection" "$(cat "$T/kafka.err")" 'SIGUSR1: every broker of the embedded cluster is DOWN'
t0=$(date +%s%N)
pub down 10
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
is "every broker down: 503" "$STATUS" 503
like "with Retry-After" "$(tr -d '\r' <"$T/hdrs")" 'Retry-After: [0-9]+'
like "the message names publish.timeout.ms and the ids to retry with" "$BODY" 'publish.timeout.ms \(3000 ms\).*same ids'
ok_time=$([ "$ms" -ge 2500 ] && [ "$ms" -lt 15000 ] && echo yes || echo "no ($ms ms)")
is "the 503 came after publish.timeout.ms, not before (took ${ms} ms)" "$ok_time" yes
# Once readiness knows Kafka is unreachable, publish answers 503 at once (issue #15).
wait_until 10 bash -c "curl -s --max-time 2 '$B_URL/readyz' | grep -q '\"kafka\":false'"
t0=$(date +%s%N)
pub known 10
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
is "Kafka known unreachable: 503 in under a second (took ${ms} ms)" "$STATUS $([ "$ms" -lt 1000 ] && echo fast || echo slow)" "503 fast"
kill -USR2 "$KAFKA_PID"
wait_ready "$B_URL" 20

# A client that gives up while the brokers are down (down again, not yet noticed by readiness:
# its records are queued); they come back within publish.timeout.ms.
kill -USR1 "$KAFKA_PID"
pub early 10 --max-time 0.5
is "the impatient client gave up before any reply" "$STATUS" 000
kill -USR2 "$KAFKA_PID"
wait_until 5 grep -q 'SIGUSR2' "$T/kafka.err"
early_in_topic() { [ "$(kcat -b "$BROKERS" -C -t "$TOPIC" -e -q -f '%h\n' 2>/dev/null | grep -c 'ce_id=early-')" -ge 10 ]; }
check "the records of the client that went away are delivered once the brokers are back" wait_until 20 early_in_topic

# Back up: publishes succeed again without a restart.
for i in $(seq 1 40); do pub after 20; [ "$STATUS" = 200 ] && break; sleep 0.5; done
is "brokers up again: 200 without a restart" "$STATUS" 200

# What the topic holds: ce_id -> partition/offset.
kcat -b "$BROKERS" -C -t "$TOPIC" -e -q -f '%p %o %h\n' 2>/dev/null |
  sed -nE 's/^([0-9]+) ([0-9]+) .*ce_id=([^,]*).*/\3 \1 \2/p' | sort >"$T/topic.txt"
jq -r '"\(.id) \(.partition) \(.offset)"' "$T/acked.jsonl" | sort >"$T/acked.txt"
is "every acknowledged record (40) is in the topic at the acknowledged partition/offset" \
  "$(comm -23 "$T/acked.txt" "$T/topic.txt" | wc -l | tr -d ' ') $(wc -l <"$T/acked.txt" | tr -d ' ')" "0 40"
is "each acknowledged id is in the topic exactly once" "$(grep -E '^(before|after)-' "$T/topic.txt" | cut -d' ' -f1 | sort | uniq -d | wc -l | tr -d ' ')" 0
is "the disconnected client's records were delivered, once each" "$(grep -c '^early-' "$T/topic.txt")" 10
is "nothing was acknowledged that failed: no 'down' record claims an offset" "$(grep -c '^down-' "$T/acked.txt")" 0
http GET "$B_URL/readyz"
is "the broker is ready again" "$HTTP_STATUS" 200

# A local produce queue that holds 5 messages: a batch of 10 is partly taken -> 207 per record.
start_broker Q -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme \
  -o kafka.queue.buffering.max.messages=5 || bail "second broker did not start"
wait_ready "$Q_URL" || bail "second broker not ready"
# The shared producer's queue also carries the start-up's OpenLineage events (one per product and
# binding: 5 here): wait until they are out, so the 5 places are the batch's (under ASan they were
# still queued and all 10 records were refused).
qlen() { curl -sS --max-time 5 "$Q_URL/v1/status" | jq -e '.health.kafka.produceQueue == 0' >/dev/null; }
wait_until 30 qlen || bail "Q's produce queue did not empty: $(curl -sS --max-time 5 "$Q_URL/v1/status" | jq -c .health.kafka)"
URL="$Q_URL/v1/ports/tripExecution/1/outputports/tripEvents/records"
pub partial 10
is "local queue full mid-batch: 207" "$STATUS" 207
is "5 results with offsets, 5 with a 503 error, in request order" \
  "$(jq -c '[.results[] | if has("offset") then "ok" else .error_code end] | [.[0:5], .[5:10], length]' <<<"$BODY")" \
  '[["ok","ok","ok","ok","ok"],[503,503,503,503,503],10]'
like "the failed ones say why" "$(jq -r '.results[9].error' <<<"$BODY")" 'Queue full|queue'
is "\"failed\" counts them" "$(jq .failed <<<"$BODY")" 5
finish
