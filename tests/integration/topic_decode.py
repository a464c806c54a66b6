#!/usr/bin/python3
"""Read every record of a topic from the beginning with python3-confluent-kafka and decode its
value with python3-avro (not our codec): one JSON line a record, sorted by key, with the key,
the schema id of the Confluent frame, the value bytes in hex and the datum as python3-avro
understands it (decimal -> str(Decimal), timestamps -> ISO 8601 UTC, date -> ISO date).
Used by 0045-json-streams.t.
usage: topic_decode.py BROKERS TOPIC SCHEMA_FILE COUNT [TIMEOUT_S]"""
import datetime
import decimal
import io
import json
import struct
import sys
import time

import avro.io
import avro.schema
from confluent_kafka import Consumer, TopicPartition

brokers, topic, schema_file, count = sys.argv[1:5]
timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 30.0
schema = avro.schema.parse(open(schema_file).read())
reader = avro.io.DatumReader(schema)
c = Consumer({"bootstrap.servers": brokers, "group.id": "topic-decode-%d" % time.time_ns(),
              "enable.auto.commit": False, "auto.offset.reset": "earliest"})
md = c.list_topics(topic, timeout=10)
c.assign([TopicPartition(topic, p, 0) for p in md.topics[topic].partitions])


def plain(v):
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).isoformat()
    if isinstance(v, (datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.hex()
    return v


out = []
end = time.time() + timeout
while len(out) < int(count) and time.time() < end:
    m = c.poll(0.5)
    if m is None or m.error():
        continue
    raw = m.value()
    magic, sid = struct.unpack(">bI", raw[:5])
    datum = reader.read(avro.io.BinaryDecoder(io.BytesIO(raw[5:])))
    out.append({"key": m.key().decode(), "offset": m.offset(), "partition": m.partition(),
                "magic": magic, "schema_id": sid, "hex": raw[5:].hex(), "value": plain(datum)})
c.close()
for r in sorted(out, key=lambda r: (r["key"], r["partition"], r["offset"])):
    print(json.dumps(r, sort_keys=True))
sys.exit(0 if len(out) >= int(count) else 1)
