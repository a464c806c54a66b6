"""What the topic-decoding test clients share: read a topic from the beginning with
python3-confluent-kafka (no group commits), and turn python3-avro's datums into JSON-ready values
(decimal -> str(Decimal), timestamps -> ISO 8601 UTC, date and time -> ISO, uuid -> its text,
bytes -> hex)."""
import datetime
import decimal
import time
import uuid

from confluent_kafka import Consumer, TopicPartition


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
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, bytes):
        return v.hex()
    return v


def read_topic(brokers, topic, count, timeout):
    """Up to count messages of every partition of topic from offset 0, within timeout seconds."""
    c = Consumer({"bootstrap.servers": brokers, "group.id": "avrotopic-%d" % time.time_ns(),
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    md = c.list_topics(topic, timeout=10)
    c.assign([TopicPartition(topic, p, 0) for p in md.topics[topic].partitions])
    out = []
    end = time.time() + timeout
    while len(out) < count and time.time() < end:
        m = c.poll(0.5)
        if m is not None and not m.error():
            out.append(m)
    c.close()
    return out
