#!/usr/bin/env bash
# A rebalance with routed records in flight does not stop the loop (issue #15): the fan-out
# reader's partitions are revoked while thousands of its routed records cannot be delivered (the
# brokers of `portbroker kafka` are down: the group session expires and the assignment is lost),
# and /healthz and /metrics keep answering at once. The revocation is a state of the routers (the
# partitions are held, read nothing, and are given up when the last delivery report comes in),
# not a wait on the loop: before, on_revoke flushed the producer for up to 10 s on the loop thread.
# Once the brokers are back the records land, the partitions are given up and taken again, and the
# input topic holds every record exactly once, in per-key order. Bounded waits only.
. "$(dirname "$0")/lib.sh"
plan 7
. "$(dirname "$0")/backlog_outage.sh"
# A backlog of 12,000: fewer than the routers' flow-control bound (20,000 in flight), so that the
# reader is still polled (and served its rebalance) while the brokers are down, taken down once B
# routed 2,500 of them.
outage_start 12000 2500 120 -o router.revoke.wait.ms=30000
# The session (3 s on the embedded cluster) expires: the group takes the partitions away.
wait_until 30 grep -q "fan-out reader: .* partitions revoked with [0-9]* records in flight" "$T/B.log"
like "the partitions were revoked with routed records in flight" \
  "$(grep "fan-out reader: .* partitions revoked with" "$T/B.log" | head -1)" 'revoked with [1-9][0-9]* records in flight'
sleep 4 # the loop keeps answering while the revocation is held
kill -USR2 "$KAFKA_PID"
wait_until 40 grep -q "revocation of .* partitions: their records in flight landed after" "$T/B.log"
like "once the brokers were back the records landed and the partitions were given up" \
  "$(grep "revocation of .* partitions:" "$T/B.log" | head -1)" 'records in flight landed after [0-9]+ ms; partitions given up'
check "no revocation was given up with records still in flight" bash -c "! grep -q 'given up anyway' '$T/B.log'"
outage_finish 13000 "through the outage and the held revocation"
