#!/usr/bin/python3
"""Direct producers for 0023 (python3-confluent-kafka): records written straight to an output-port
topic, not through the broker's HTTP publish. Subcommands:
  bad BROKERS TOPIC N          N records that are not Confluent frames of a registered schema
  headers BROKERS TOPIC N      read the first N records of TOPIC (all partitions) and print, per
      record, one JSON line of its headers (values as text)"""
import json
import sys

from confluent_kafka import Consumer, Producer, TopicPartition


def main():
    cmd, brokers, topic, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if cmd == "bad":
        p = Producer({"bootstrap.servers": brokers})
        for i in range(n):
            # A frame naming schema id 999999 (not registered), then plain text.
            p.produce(topic, b"\x00\x00\x0f\x42\x3f\x02" if i % 2 else b"not avro", key=b"k")
        sys.exit(1 if p.flush(10) else 0)
    if cmd == "headers":
        c = Consumer({"bootstrap.servers": brokers, "group.id": "pb-direct-test",
                      "enable.auto.commit": False})
        md = c.list_topics(topic, timeout=10)
        c.assign([TopicPartition(topic, p, 0) for p in md.topics[topic].partitions])
        got = 0
        while got < n:
            msgs = c.consume(n, 10)
            if not msgs:
                sys.exit("timeout: %d of %d records" % (got, n))
            for m in msgs:
                if m.error():
                    continue
                got += 1
                print(json.dumps({k: (v or b"").decode() for k, v in (m.headers() or [])}))
        return


if __name__ == "__main__":
    main()
