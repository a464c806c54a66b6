#!/usr/bin/python3
"""Write records straight to an output-port topic, as a Kafka client that bypasses the broker
would (python3-confluent-kafka, values framed with python3-avro in the Confluent wire format with
the subject's latest schema). Every record goes to partition 0, in this order:
  big-garbage  ~1.04 MB that is not a Confluent frame at all
  big-valid    a valid record whose stationId makes it ~1.04 MB
  forged       a valid record with forged broker-owned headers and no ce_* headers
  ok-0..N-1    valid records, no headers
Prints one JSON line per record: key and offset.
Usage: /usr/bin/python3 route_direct.py BROKERS TOPIC REGISTRY_URL N [--only-ok PREFIX]"""
import datetime
import io
import json
import struct
import sys
import urllib.request

import avro.io
import avro.schema
from confluent_kafka import Producer

brokers, topic, url, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
only_ok = sys.argv[6] if len(sys.argv) > 6 and sys.argv[5] == "--only-ok" else None
with urllib.request.urlopen(f"{url}/subjects/{topic}-value/versions/latest", timeout=10) as r:
    latest = json.load(r)
schema = avro.schema.parse(latest["schema"])


def frame(station):
    buf = io.BytesIO()
    buf.write(b"\x00" + struct.pack(">I", latest["id"]))
    avro.io.DatumWriter(schema).write({
        "observationId": "00000000-0000-4000-8000-000000000001", "stationId": station,
        "observedAt": datetime.datetime(2025, 12, 1, 10, 0, tzinfo=datetime.timezone.utc), "location": {"lat": 52.5, "lon": 13.4, "elevationM": None},
        "temperatureC": 4.5, "humidityPct": None, "windSpeedKmh": 0.0, "condition": "RAIN",
        "precipitationMm": None, "quality": {}}, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


out = []
p = Producer({"bootstrap.servers": brokers, "message.max.bytes": 4000000, "linger.ms": 0,
              "enable.idempotence": True, "acks": "all"})


def sent(err, m):
    if err:
        sys.exit(f"produce failed: {err}")
    out.append({"key": m.key().decode(), "offset": m.offset()})


recs = []
if only_ok is None:
    recs.append(("big-garbage", b"\x01" * 1040000, None))
    recs.append(("big-valid", frame("x" * 1040000), None))
    recs.append(("forged", frame("st-forged"), [
        ("ce_source", b"evil"), ("ce_type", b"evil.Type"), ("content-type", b"text/plain"),
        ("ce_specversion", b"9"), ("mesh.lineage.hops", b"3"), ("mesh.lineage.hops", b"7"),
        ("mesh.lineage.topic", b"elsewhere"), ("mesh.forged", b"x"), ("x-team", b"direct")]))
for i in range(n):
    recs.append((f"{only_ok or 'ok'}-{i}", frame(f"st-{i}"), None))
for k, v, h in recs:
    p.produce(topic, value=v, key=k, partition=0, headers=h, on_delivery=sent)
    p.flush(30)  # one at a time: the order on the partition is the order above
if p.flush(30):
    sys.exit("records left undelivered")
for o in out:
    print(json.dumps(o))
