#!/usr/bin/python3
"""Read a whole topic (python3-confluent-kafka) and print one JSON line per record: partition,
offset, key, headers (text), the frame's schema id and, with --decode URL, the value decoded with
the writer schema the frame names (python3-avro, fetched from the registry at URL/schemas/ids/N).
Usage: /usr/bin/python3 route_read.py BROKERS TOPIC [--decode URL]"""
import io
import json
import struct
import sys
import urllib.request

import avro.io
import avro.schema
from confluent_kafka import Consumer, TopicPartition

brokers, topic = sys.argv[1], sys.argv[2]
url = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--decode" else None
schemas = {}


def schema(i):
    if i not in schemas:
        with urllib.request.urlopen(f"{url}/schemas/ids/{i}", timeout=10) as r:
            schemas[i] = avro.schema.parse(json.load(r)["schema"])
    return schemas[i]


c = Consumer({"bootstrap.servers": brokers, "group.id": "pb-test-reader", "enable.auto.commit": False})
md = c.list_topics(timeout=10)
parts = md.topics[topic].partitions
tps = []
for p in parts:
    lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
    if hi > lo:
        tps.append((p, lo, hi))
c.assign([TopicPartition(topic, p, lo) for p, lo, hi in tps])
left = {p: hi for p, lo, hi in tps}
while left:
    m = c.poll(10)
    if m is None:
        sys.exit("timeout reading " + topic)
    if m.error():
        continue
    v = m.value() or b""
    rec = {
        "partition": m.partition(), "offset": m.offset(),
        "key": m.key().decode("utf-8", "replace") if m.key() is not None else None,
        "headers": {k: (val.decode("utf-8", "replace") if val is not None else None) for k, val in (m.headers() or [])},
        "schema_id": struct.unpack(">I", v[1:5])[0] if len(v) >= 5 and v[0] == 0 else None,
        "value_text": v.decode("utf-8", "replace") if url is None else None,
    }
    if url and rec["schema_id"]:
        rd = avro.io.DatumReader(schema(rec["schema_id"]))
        rec["value"] = rd.read(avro.io.BinaryDecoder(io.BytesIO(v[5:])))
    print(json.dumps(rec, default=str), flush=True)
    if m.offset() + 1 >= left.get(m.partition(), 0):
        left.pop(m.partition(), None)
c.close()
