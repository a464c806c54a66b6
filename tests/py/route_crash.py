#!/usr/bin/python3
"""Helpers for the routing crash test (python3-confluent-kafka). Subcommands:
  produce BROKERS TOPIC SCHEMA_ID N FIRST [PADMIN PADMAX]   N weather observations (Confluent
      frames, hand-encoded Avro), ids FIRST..FIRST+N-1, 97 keys with per-key sequence numbers in
      the `seq` header; with PADMIN/PADMAX each stationId is padded to PADMIN..PADMAX bytes (large
      records, compressible: the embedded cluster keeps ~5 MiB per partition of what it stores)
  killwhen BROKERS TOPIC COUNT PID [SIG]    SIGKILL (or signal SIG, e.g. USR1) PID as soon as TOPIC
      holds COUNT records; print the count seen then
  settle BROKERS TOPIC SECONDS              wait until TOPIC's end offsets stop moving; print total
  check BROKERS TOPIC N                     each id 0..N-1 exactly once and per-key order; TAP-ish
      summary on stdout, exit 1 on failure
  checkall BROKERS T1,T2,... N              check for each topic; one line per failing topic"""
import os
import signal
import struct
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition

KEYS = 97


def zz(n):
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def s(text):
    b = text.encode()
    return zz(len(b)) + b


def observation(schema_id, i, key, seq, pad=0):
    station = key + "x" * max(0, pad - len(key))
    body = (s("00000000-0000-4000-8000-%012d" % i) + s(station) + zz(1700000000000 + seq)
            + struct.pack("<dd", 52.5, 13.4) + b"\x00" + struct.pack("<f", 21.5) + b"\x00"
            + struct.pack("<f", 12.5) + b"\x00" + b"\x00" + b"\x00")
    return b"\x00" + struct.pack(">I", schema_id) + body


def ends(c, topic):
    md = c.list_topics(topic=None, timeout=10)
    total = 0
    for p in md.topics[topic].partitions:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)
        total += hi
    return total


def consumer(brokers):
    return Consumer({"bootstrap.servers": brokers, "group.id": "pb-crash-test", "enable.auto.commit": False})


def main():
    cmd, brokers, topic = sys.argv[1], sys.argv[2], sys.argv[3]
    if cmd == "produce":
        schema_id, n, first = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
        padmin = int(sys.argv[7]) if len(sys.argv) > 8 else 0
        padmax = int(sys.argv[8]) if len(sys.argv) > 8 else 0
        p = Producer({"bootstrap.servers": brokers, "linger.ms": 20, "compression.type": "lz4",
                      "queue.buffering.max.messages": 1000000, "enable.idempotence": False,
                      "acks": "all", "max.in.flight": 1})
        for i in range(first, first + n):
            key = "k%d" % (i % KEYS)
            seq = i // KEYS
            while True:
                try:
                    pad = padmin + (i * 7919) % (padmax - padmin + 1) if padmax else 0
                    p.produce(topic, observation(schema_id, i, key, seq, pad), key=key,
                              headers=[("ce_id", b"%d" % i), ("seq", b"%d" % seq)])
                    break
                except BufferError:
                    p.poll(0.05)
        left = p.flush(30)
        sys.exit(1 if left else 0)
    if cmd == "killwhen":
        count, pid = int(sys.argv[4]), int(sys.argv[5])
        sig = getattr(signal, "SIG" + sys.argv[6]) if len(sys.argv) > 6 else signal.SIGKILL
        c = consumer(brokers)
        deadline = time.time() + 60
        while time.time() < deadline:
            n = ends(c, topic)
            if n >= count:
                os.kill(pid, sig)
                # The count that triggered the kill: one read after it would include what other
                # instances routed meanwhile (and a watermark query takes long enough for many).
                print(n)
                return
            time.sleep(0.002)
        sys.exit("never reached %d" % count)
    if cmd == "settle":
        secs = float(sys.argv[4])
        c = consumer(brokers)
        last, since = -1, time.time()
        deadline = time.time() + 60
        while time.time() < deadline:
            now = ends(c, topic)
            if now != last:
                last, since = now, time.time()
            elif time.time() - since >= secs:
                print(now)
                return
            time.sleep(0.1)
        print(last)
        return
    if cmd == "check":
        ok, summary = check(consumer(brokers), topic, int(sys.argv[4]))
        print(summary)
        sys.exit(0 if ok else 1)
    if cmd == "checkall":
        # TOPIC is a comma-separated list; each must hold ids 0..N-1 once in per-key order.
        n, bad = int(sys.argv[4]), 0
        c = consumer(brokers)
        for t in topic.split(","):
            ok, summary = check(c, t, n)
            if not ok:
                bad += 1
                print("%s: %s" % (t, summary))
        print("%d of %d topics hold every id once in per-key order" % (len(topic.split(",")) - bad,
                                                                      len(topic.split(","))))
        sys.exit(1 if bad else 0)


def check(c, topic, n):
    """(ok, summary): topic holds each id 0..n-1 once and per-key order."""
    md = c.list_topics(timeout=10)
    tps, left = [], {}
    for p in md.topics[topic].partitions:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        if hi > lo:
            tps.append(TopicPartition(topic, p, lo))
            left[p] = hi
    c.assign(tps)
    seen = {}
    last_seq = {}
    order_bad = 0
    lowest = {}
    deadline = time.time() + 30
    while left:
        if time.time() > deadline:
            return False, "timeout reading " + topic
        # Short waits: consume() returns at its count or its timeout, so a long one idles at the
        # end of every topic.
        for m in c.consume(1000, 0.2):
            if m.error():
                continue
            lowest.setdefault(m.partition(), m.offset())
            h = dict(m.headers() or [])
            i = int(h["ce_id"])
            seq = int(h["seq"])
            key = m.key().decode()
            seen[i] = seen.get(i, 0) + 1
            if key in last_seq and seq <= last_seq[key]:
                order_bad += 1
            last_seq[key] = seq
            if m.offset() + 1 >= left.get(m.partition(), 0):
                left.pop(m.partition(), None)
    c.unassign()
    dups = sum(1 for v in seen.values() if v > 1)
    missing = sum(1 for i in range(n) if i not in seen)
    return (dups == 0 and missing == 0 and order_bad == 0 and len(seen) == n,
            "records=%d distinct=%d duplicates=%d missing=%d out_of_order=%d first_offsets=%s"
            % (sum(seen.values()), len(seen), dups, missing, order_bad, sorted(lowest.items())))

main()
