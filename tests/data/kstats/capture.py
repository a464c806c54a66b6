#!/usr/bin/python3
"""Capture librdkafka statistics JSON (statistics.interval.ms) from real clients against the
embedded mock cluster, for tests/data/kstats/*.json (run_kstats_cases compares the parse of each
with its .expected). Not run by the tests; kept so the samples can be captured again:

    build/release/portbroker kafka > /tmp/k.out &   # first line BROKERS=...
    /usr/bin/python3 tests/data/kstats/capture.py BROKERS OUTDIR

Writes producer-busy.json (a producer with records queued past a full queue), consumer.json
(a group consumer reading a topic) and producer-down.json (the producer once the cluster is
gone: kill the cluster when the script says so)."""
import json
import sys
import time

from confluent_kafka import Consumer, Producer

brokers, out = sys.argv[1], sys.argv[2]
stats = []


def keep(s):
    stats.append(s)


topic = "kstats.capture"
p = Producer({"bootstrap.servers": brokers, "statistics.interval.ms": 500,
              "stats_cb": keep, "linger.ms": 2000, "queue.buffering.max.messages": 1000,
              "enable.idempotence": True, "client.id": "capture"})
for i in range(5000):
    try:
        p.produce(topic, value=b"x" * 100, key=str(i).encode())
    except BufferError:
        break
deadline = time.time() + 1.6
while time.time() < deadline:
    p.poll(0.1)
busy = [s for s in stats if json.loads(s)["msg_cnt"] > 0]
open(out + "/producer-busy.json", "w").write(busy[-1] if busy else stats[-1])
p.flush(10)

stats.clear()
c = Consumer({"bootstrap.servers": brokers, "group.id": "kstats.capture",
              "statistics.interval.ms": 500, "stats_cb": keep, "auto.offset.reset": "earliest",
              "client.id": "capture"})
c.subscribe([topic])
deadline = time.time() + 4
while time.time() < deadline:
    c.poll(0.1)
open(out + "/consumer.json", "w").write(stats[-1])
c.close()

stats.clear()
print("kill the cluster now", flush=True)
sys.stdin.readline()
for i in range(10):
    p.produce(topic, value=b"y" * 10)
deadline = time.time() + 6
while time.time() < deadline:
    p.poll(0.1)
open(out + "/producer-down.json", "w").write(stats[-1])
