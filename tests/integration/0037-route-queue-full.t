#!/usr/bin/env bash
# The router never waits for room in the producer's local queue (issue #15): with a small queue
# (kafka.queue.buffering.max.messages=1000) and the brokers of `portbroker kafka` down while a
# backlog is routed, the queue fills; each binding partition that meets a full queue stops and
# resumes from its input topic's tail once its records in flight landed (as after a failed
# delivery). Before, the shared producer was polled on the loop thread for up to 10 s per record
# (pb_kafka_producer_forward) or 100 x 100 ms (dead letters). /healthz answers at once throughout;
# once the brokers are back every record arrives exactly once, in per-key order. Bounded waits.
. "$(dirname "$0")/lib.sh"
plan 5
. "$(dirname "$0")/backlog_outage.sh"
# Produce requests are held (answered NOT_ENOUGH_REPLICAS, retriable) from before B starts, so the
# queue surely fills and no produce is being appended when the brokers go down: librdkafka 2.0.2's
# mock cluster dedupes retried batches only for transactional producers, so a batch appended whose
# answer was lost to the outage came back twice (104 duplicates in one loaded ASan run).
outage_start 8000 held:200 180 -o kafka.queue.buffering.max.messages=1000 -o router.revoke.wait.ms=30000
wait_until 30 grep -q "not produced to $IN: .*[Qq]ueue full" "$T/B.log"
like "the producer's queue filled while the brokers were down" \
  "$(grep "not produced to $IN" "$T/B.log" | head -1)" '[Qq]ueue full'
sleep 5
kill -USR2 "$KAFKA_PID"
wait_until 120 bash -c "timeout 20 $PY tests/py/route_crash.py settle '$BROKERS' '$IN' 1 | grep -qx 9000"
outage_finish 9000 "with the queue full and the brokers down"
