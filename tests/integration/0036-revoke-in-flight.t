#!/usr/bin/env bash
# A rebalance with routed records in flight does not stop the loop (issue #15): the fan-out
# reader's partitions are revoked while thousands of its routed records cannot be delivered (the
# brokers of `portbroker kafka` are down: the group session expires and the assignment is lost),
# and /healthz and /metrics keep answering at once. The revocation is a state of the routers (the
# partitions are held, read nothing, and are given up when the last delivery report comes in),
# not a wait on the loop: before, on_revoke flushed the producer for up to 10 s on the loop thread.
# Once the brokers are back the records land, the partitions are given up and taken again, and the
# input topic holds every record exactly once, in per-key order. Bounded waits only.
# The precondition (records in flight when the partitions are revoked) is made certain, not hoped
# for: before B starts, the embedded cluster is told to answer the next 200 Produce requests with
# NOT_ENOUGH_REPLICAS (retriable: librdkafka sends them again), so nothing B routes is acknowledged
# until they are used up, and the brokers go down as soon as B's /metrics shows records in flight.
# (Before, the brokers went down once 2,500 records had landed: in a loaded run all 12,000 had
# landed by then, and the revocation found none in flight.)
. "$(dirname "$0")/lib.sh"
plan 8
. "$(dirname "$0")/backlog_outage.sh"
# A backlog of 12,000: fewer than the routers' flow-control bound (20,000 in flight), so that the
# reader is still polled (and served its rebalance) while the brokers are down.
outage_start 12000 held:200 120 -o router.revoke.wait.ms=30000
check "routed records were in flight when the brokers went down ($INFLIGHT_AT_DOWN by /metrics)" \
  test "${INFLIGHT_AT_DOWN:-0}" -gt 0
# The session (3 s on the embedded cluster) expires: the group takes the partitions away.
wait_until 30 grep -q "fan-out reader: .* partitions revoked with [0-9]* records in flight" "$T/B.log"
like "the partitions were revoked with routed records in flight" \
  "$(grep "fan-out reader: .* partitions revoked with" "$T/B.log" | head -1)" 'revoked with [1-9][0-9]* records in flight'
diag "$(grep -o "fan-out reader: .* partitions revoked with [0-9]* records in flight" "$T/B.log" | head -1)"
sleep 4 # the loop keeps answering while the revocation is held
kill -USR2 "$KAFKA_PID"
wait_until 40 grep -q "revocation of .* partitions: their records in flight landed after" "$T/B.log"
like "once the brokers were back the records landed and the partitions were given up" \
  "$(grep "revocation of .* partitions:" "$T/B.log" | head -1)" 'records in flight landed after [0-9]+ ms; partitions given up'
diag "$(grep -o "revocation of .* partitions: .*" "$T/B.log" | head -1)"
check "no revocation was given up with records still in flight" bash -c "! grep -q 'given up anyway' '$T/B.log'"
outage_finish 13000 "through the outage and the held revocation"
