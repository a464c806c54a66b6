#!/usr/bin/python3
"""Read every record of a topic from the beginning with python3-confluent-kafka and decode its
key with python3-avro (not our codec) as raw Avro binary of the port's key schema (no Confluent
frame: DESIGN.md §6), and its value (Confluent frame) with the value schema. One JSON line a
record, in topic order per partition: key (python3-avro's datum, logical types as text), key and
value bytes in hex. Used by 0048-stream-keys.t.
usage: keys_decode.py BROKERS TOPIC KEY_SCHEMA_JSON VALUE_SCHEMA_JSON COUNT [TIMEOUT_S]"""
import datetime
import decimal
import io
import json
import sys
import time

import avro.io
import avro.schema
from confluent_kafka import Consumer, TopicPartition

brokers, topic, kschema, vschema, count = sys.argv[1:6]
timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 30.0
kreader = avro.io.DatumReader(avro.schema.parse(kschema))
vreader = avro.io.DatumReader(avro.schema.parse(vschema))


def plain(v):
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).isoformat()
    if isinstance(v, (datetime.date, datetime.time)):
        return v.isoformat()
    if hasattr(v, "hex") and not isinstance(v, (int, float)):
        return str(v)
    return v


c = Consumer({"bootstrap.servers": brokers, "group.id": "keys-decode-%d" % time.time_ns(),
              "enable.auto.commit": False, "auto.offset.reset": "earliest"})
md = c.list_topics(topic, timeout=10)
c.assign([TopicPartition(topic, p, 0) for p in md.topics[topic].partitions])
out = []
end = time.time() + timeout
while len(out) < int(count) and time.time() < end:
    m = c.poll(0.5)
    if m is None or m.error():
        continue
    k = m.key()
    kb = io.BytesIO(k)
    key = kreader.read(avro.io.BinaryDecoder(kb))
    if kb.read():
        raise SystemExit("trailing bytes after the key datum")
    v = m.value()
    val = vreader.read(avro.io.BinaryDecoder(io.BytesIO(v[5:])))
    out.append({"partition": m.partition(), "offset": m.offset(), "key": plain(key),
                "value": plain(val), "khex": k.hex(), "vhex": v[5:].hex()})
c.close()
out.sort(key=lambda r: (r["partition"], r["offset"]))
for r in out:
    print(json.dumps(r, sort_keys=True))
