#!/usr/bin/python3
"""Write weather-reader records straight into an input-port topic, as the router would: Confluent
wire format with the reader schema id, key, ce_time/ce_id headers. Used by 0040-subscribe.t.
usage: sub_produce.py BROKERS TOPIC SCHEMA_ID SCHEMA_FILE COUNT [FIRST] [PAD_BYTES] [PARTITION]"""
import datetime
import io
import struct
import sys

import avro.io
import avro.schema
from confluent_kafka import Producer

brokers, topic, sid, schema_file, count = sys.argv[1:6]
first = int(sys.argv[6]) if len(sys.argv) > 6 else 0
pad = int(sys.argv[7]) if len(sys.argv) > 7 else 0
partition = int(sys.argv[8]) if len(sys.argv) > 8 else -1
schema = avro.schema.parse(open(schema_file).read())
writer = avro.io.DatumWriter(schema)
p = Producer({"bootstrap.servers": brokers, "linger.ms": 5, "queue.buffering.max.kbytes": 1048576})
for i in range(first, first + int(count)):
    datum = {
        "observationId": "00000000-0000-4000-8000-%012d" % i,
        "stationId": "st-%d" % i + ("x" * pad),
        "observedAt": datetime.datetime.fromtimestamp(1700000000 + i / 1000.0, datetime.timezone.utc),
        "location": {"lat": 52.5, "lon": 13.25},
        "temperatureC": 20.5,
        "condition": "RAIN",
        "visibilityKm": None,
    }
    buf = io.BytesIO()
    buf.write(struct.pack(">bI", 0, int(sid)))
    writer.write(datum, avro.io.BinaryEncoder(buf))
    kw = {}
    if partition >= 0:
        kw["partition"] = partition
    while True:
        try:
            p.produce(topic, key=("k%d" % i).encode(), value=buf.getvalue(),
                      headers=[("ce_id", b"id-%d" % i), ("ce_time", b"2026-01-02T03:04:05.%03dZ" % (i % 1000))], **kw)
            break
        except BufferError:
            p.poll(0.1)
    p.poll(0)
left = p.flush(30)
sys.exit(1 if left else 0)
