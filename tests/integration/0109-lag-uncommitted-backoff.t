#!/usr/bin/env bash
# Lag sweeps back off subscriber groups that never committed (issue #15, idle CPU): librdkafka
# 2.0.2 asks one group per request, so a sweep asking all of them costs one request per binding.
# A group found with no commit (and no stream on this instance) is asked again 12, 24, 48, then
# every PB_SUB_LAG_UNCOMMITTED_MAX = 60 sweeps (every 12th before): a commit through another
# instance shows within 60 sweeps, one through this instance (a cursor commit) at the next sweep.
. "$(dirname "$0")/lib.sh"
plan 7
start_kafka 3
serve() {
  start_broker "$1" -c deploy/example.conf -o kafka.bootstrap.servers="$BROKERS" \
    -o sub.lag.interval.ms=100 -o log.level=debug
}
serve B || bail "B did not start"
wait_ready "$B_URL" || bail "B not ready"
http GET "$B_URL/v1/subscriptions"
TR=$(echo "$HTTP_BODY" | jq -r '.subscriptions[] | select(.to | endswith(":inputports:trips")) | .id')
[ -n "$TR" ] || bail "binding missing: $HTTP_BODY"
sweeps() { grep -c "lag sweep: [1-9]" "$T/B.log"; }
# 150 sweeps of 2 bindings nobody reads (asked at sweeps 0, 12, 36, 84, 144): one ask in the last 60.
wait_until 60 bash -c "[ \$(grep -c 'lag sweep: [1-9]' $T/B.log) -ge 150 ]" || bail "B made $(sweeps) sweeps"
asking=$(grep "lag sweep: [1-9]" "$T/B.log" | tail -60 | grep -vc " and 0 subscriber groups")
diag "sweeps of the last 60 that asked subscriber groups: $asking"
# Every 12th sweep (before the back-off) would be 5.
like "at most 2 of the last 60 sweeps asked the uncommitted subscriber groups" "$asking" "^[0-2]$"
is "trips: no commit, lag counted from the first record" \
  "$(curl -sS --max-time 2 "$B_URL/v1/subscriptions/$TR/stats" | jq -c '[.subscribers.lagRecords, .partitions[0].subscribers.committedOffset]')" "[0,null]"
# A commit through another instance: B sees it within 60 sweeps (6 s at 100 ms) plus a sweep's
# own time.
serve C || bail "C did not start"
wait_ready "$C_URL" || bail "C not ready"
http POST "$C_URL/v1/ports/urn:dpds:com.acme:dataproducts:billing:1:inputports:trips/cursors" \
  --data '{"cursors":[{"partition":0,"offset":0}]}' --max-time 40
is "a cursor commit through C" "$HTTP_STATUS" "200"
committed() { curl -sS --max-time 2 "$1/v1/subscriptions/$TR/stats" | jq -r '.partitions[0].subscribers.committedOffset'; }
export -f committed; export TR
t0=$SECONDS
check "C's stats show it (a commit through C resets C's back-off)" wait_until 10 bash -c "[ \"\$(committed $C_URL)\" = 0 ]"
check "B's stats show it within 60 sweeps" wait_until 30 bash -c "[ \"\$(committed $B_URL)\" = 0 ]"
diag "B saw the commit after $((SECONDS - t0)) s"
# And from then on B asks the group at every sweep.
n=$(sweeps); wait_until 20 bash -c "[ \$(grep -c 'lag sweep: [1-9]' $T/B.log) -ge $((n + 10)) ]"
asking=$(grep "lag sweep: [1-9]" "$T/B.log" | tail -10 | grep -c " and [1-9][0-9]* subscriber groups")
is "B's last 10 sweeps each asked the committed group" "$asking" "10"
# A cursor commit through B itself of the other binding's group (backed off to 60 sweeps by now):
# B asks that group again at its next sweep, not up to 60 sweeps later.
n=$(sweeps)
http POST "$B_URL/v1/ports/urn:dpds:com.acme:dataproducts:tripExecution:1:inputports:weather/cursors" \
  --data '{"cursors":[{"partition":0,"offset":0}]}' --max-time 40
wait_until 20 bash -c "[ \$(grep -c 'lag sweep: [1-9]' $T/B.log) -ge $((n + 3)) ]"
asked=$(grep "lag sweep: [1-9]" "$T/B.log" | sed -n "$((n + 1)),$((n + 3))p" | grep -c " and [2-9] subscriber groups")
is "a cursor commit through B ($HTTP_STATUS): one of the 3 sweeps after it asks both groups" \
  "$([ "$asked" -ge 1 ] && echo yes || echo "no: $asked")" "yes"
finish
