#!/usr/bin/python3
"""Read every record of a topic from the beginning with python3-confluent-kafka and decode its
value with python3-avro (not our codec): one JSON line a record, sorted by key, with the key,
the schema id of the Confluent frame, the value bytes in hex and the datum as python3-avro
understands it (decimal -> str(Decimal), timestamps -> ISO 8601 UTC, date -> ISO date).
Used by 0045-json-streams.t.
usage: topic_decode.py BROKERS TOPIC SCHEMA_FILE COUNT [TIMEOUT_S]"""
import io
import json
import os
import struct
import sys

import avro.io
import avro.schema

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "py"))
from avrotopic import plain, read_topic  # noqa: E402 (after the path)

brokers, topic, schema_file, count = sys.argv[1:5]
timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 30.0
schema = avro.schema.parse(open(schema_file).read())
reader = avro.io.DatumReader(schema)
out = []
for m in read_topic(brokers, topic, int(count), timeout):
    raw = m.value()
    magic, sid = struct.unpack(">bI", raw[:5])
    datum = reader.read(avro.io.BinaryDecoder(io.BytesIO(raw[5:])))
    out.append({"key": m.key().decode(), "offset": m.offset(), "partition": m.partition(),
                "magic": magic, "schema_id": sid, "hex": raw[5:].hex(), "value": plain(datum)})
for r in sorted(out, key=lambda r: (r["key"], r["partition"], r["offset"])):
    print(json.dumps(r, sort_keys=True))
sys.exit(0 if len(out) >= int(count) else 1)
