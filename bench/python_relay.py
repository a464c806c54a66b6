#!/usr/bin/python3
"""What a team would write instead of a portbroker binding: a python3-confluent-kafka +
python3-avro relay that consumes an output-port topic, decodes each Confluent frame with its writer
schema, resolves it into the reader schema, re-encodes it framed with a reader id, and produces it
with the producer's headers plus lineage headers to the same partition of an input topic.
Usage: python_relay.py BROKERS SRC DST N WRITER.avsc READER.avsc; prints python_relay_rps=X."""
import io
import struct
import sys
import time

import avro.io
import avro.schema
from confluent_kafka import Consumer, Producer

brokers, src, dst, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
writer = avro.schema.parse(open(sys.argv[5]).read())
reader = avro.schema.parse(open(sys.argv[6]).read())
datum_reader = avro.io.DatumReader(writer, reader)
datum_writer = avro.io.DatumWriter(reader)
READER_ID = 2
c = Consumer({"bootstrap.servers": brokers, "group.id": "python-relay", "auto.offset.reset": "earliest",
              "enable.auto.commit": False, "fetch.wait.max.ms": 10})
p = Producer({"bootstrap.servers": brokers, "enable.idempotence": True, "acks": "all", "linger.ms": 5,
              "queue.buffering.max.messages": 1000000})
acked = 0


def on_delivery(err, msg):
    global acked
    if err is None:
        acked += 1


c.subscribe([src])
sent = 0
t0 = None
while sent < n:
    for m in c.consume(1000, 1.0):
        if m.error() or sent >= n:
            continue
        if t0 is None:
            t0 = time.time()
        v = m.value()
        datum = datum_reader.read(avro.io.BinaryDecoder(io.BytesIO(v[5:])))
        out = io.BytesIO()
        out.write(b"\x00" + struct.pack(">I", READER_ID))
        datum_writer.write(datum, avro.io.BinaryEncoder(out))
        headers = [(k, val) for k, val in (m.headers() or []) if not k.startswith("mesh.")]
        headers += [("mesh.lineage.topic", src.encode()), ("mesh.lineage.partition", b"%d" % m.partition()),
                    ("mesh.lineage.offset", b"%d" % m.offset()), ("mesh.lineage.hops", b"1")]
        while True:
            try:
                p.produce(dst, out.getvalue(), key=m.key(), partition=m.partition(), headers=headers,
                          on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.01)
        p.poll(0)
        sent += 1
p.flush(60)
t1 = time.time()
c.close()
if acked != n:
    sys.exit("python relay: %d of %d acknowledged" % (acked, n))
print("python_relay_rps=%.0f" % (n / (t1 - t0)))
