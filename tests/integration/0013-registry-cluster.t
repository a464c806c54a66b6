#!/usr/bin/env bash
# Two broker instances against one Kafka (portbroker kafka) register concurrently to the same
# subjects: both converge on one history (same ids, same versions, no id used twice). A restarted
# instance replays to exactly the same state; readiness waits for the replay.
. "$(dirname "$0")/lib.sh"
plan 11
start_kafka 3
start_broker A -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme || bail "A did not start"
start_broker B -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme || bail "B did not start"
wait_ready "$A_URL" && wait_ready "$B_URL" || bail "not ready"

schema() { # schema N: a record with N optional fields (each version adds one: BACKWARD compatible)
  local f='[{"name":"id","type":"string"}'
  for i in $(seq 1 "$1"); do f="$f,{\"name\":\"f$i\",\"type\":[\"null\",\"long\"],\"default\":null}"; done
  jq -cn --arg s "{\"type\":\"record\",\"name\":\"R\",\"fields\":$f]}" '{schema:$s}'
}
# 2 subjects x 12 versions, A and B racing on the same schemas, 8 requests in flight at a time.
# (Wait on the curls by PID: a bare `wait` would wait for Kafka and the brokers too.)
curls=()
for s in conc-a-value conc-b-value; do
  for i in $(seq 1 12); do
    for u in "$A_URL" "$B_URL"; do
      curl -s --max-time 20 -o "$T/r.$s.$i.${u##*:}" -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
        "$u/subjects/$s/versions" -d "$(schema "$i")" &
      curls+=($!)
    done
    if [ $((i % 4)) -eq 0 ]; then wait "${curls[@]}"; curls=(); fi
  done
done
[ ${#curls[@]} -gt 0 ] && wait "${curls[@]}"
ids=$(cat "$T"/r.* | jq -s -c 'map(.id) | unique')
like "every concurrent registration got an id" "$(cat "$T"/r.* | jq -s 'map(select(.id == null)) | length')" '^0$'
is "12 distinct schemas, raced from two instances into two subjects, got 12 distinct ids" "$(jq length <<<"$ids")" 12
state() { # the whole registry as one instance serves it
  for s in $(curl -s --max-time 5 "$1/subjects" | jq -r '.[]' | grep conc); do
    for v in $(curl -s --max-time 5 "$1/subjects/$s/versions" | jq -r '.[]'); do
      curl -s --max-time 5 "$1/subjects/$s/versions/$v" | jq -c '{subject, version, id, schema}'
    done
  done
}
sa=$(state "$A_URL"); sb=$(state "$B_URL")
is "both subjects have 12 versions on A" "$(grep -c . <<<"$sa")" 24
is "A and B serve the same history" "$sa" "$sb"
is "no id names two different schemas" "$(jq -s 'group_by(.id) | map(map(.schema) | unique | select(length > 1)) | length' <<<"$sa")" 0
is "each schema has one id, in both subjects" "$(jq -s 'group_by(.schema) | map(map(.id) | unique | select(length > 1)) | length' <<<"$sa")" 0

# Restart A: readiness only after the replay; then exactly the same state.
stop_pid "$A_PID" 10
start_broker A2 -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme || bail "A2 did not start"
check "restarted instance becomes ready" wait_ready "$A2_URL"
http GET "$A2_URL/readyz"
diag "readyz at first 200: $(jq -c .registry <<<"$HTTP_BODY")"
is "ready only once the replay reached the end the log had at start" "$(jq '.registry.position >= .registry.replayEnd' <<<"$HTTP_BODY")" true
check "and that log held the 50+ records written before" test "$(jq .registry.replayEnd <<<"$HTTP_BODY")" -ge 50
is "the restarted instance replays to the same state" "$(state "$A2_URL")" "$sa"
is "the descriptors were not written again (unchanged products add nothing)" \
  "$(grep -o 'written' "$T/A2.log" >/dev/null && grep -o '[0-9]* written' "$T/A2.log" | tail -1)" "0 written"
finish
