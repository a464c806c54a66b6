#!/usr/bin/python3
"""Read every record of a topic from the beginning with python3-confluent-kafka and decode its
key with python3-avro (not our codec) as raw Avro binary of the port's key schema (no Confluent
frame: DESIGN.md §6), and its value (Confluent frame) with the value schema. One JSON line a
record, in topic order per partition: key (python3-avro's datum, logical types as text), key and
value bytes in hex. Used by 0048-stream-keys.t.
usage: keys_decode.py BROKERS TOPIC KEY_SCHEMA_JSON VALUE_SCHEMA_JSON COUNT [TIMEOUT_S]"""
import io
import json
import os
import sys

import avro.io
import avro.schema

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "py"))
from avrotopic import plain, read_topic  # noqa: E402 (after the path)

brokers, topic, kschema, vschema, count = sys.argv[1:6]
timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 30.0
kreader = avro.io.DatumReader(avro.schema.parse(kschema))
vreader = avro.io.DatumReader(avro.schema.parse(vschema))


out = []
for m in read_topic(brokers, topic, int(count), timeout):
    k = m.key()
    kb = io.BytesIO(k)
    key = kreader.read(avro.io.BinaryDecoder(kb))
    if kb.read():
        raise SystemExit("trailing bytes after the key datum")
    v = m.value()
    val = vreader.read(avro.io.BinaryDecoder(io.BytesIO(v[5:])))
    out.append({"partition": m.partition(), "offset": m.offset(), "key": plain(key),
                "value": plain(val), "khex": k.hex(), "vhex": v[5:].hex()})
out.sort(key=lambda r: (r["partition"], r["offset"]))
for r in out:
    print(json.dumps(r, sort_keys=True))
