#!/usr/bin/python3
"""confluent_kafka's SchemaRegistryClient (Debian python3-confluent-kafka) with credentials:
basic.auth.user.info carries a portbroker token as the password, unchanged client code. Prints TAP.
Usage: /usr/bin/python3 sr_auth.py URL SUBJECT OWNER_TOKEN OTHER_TOKEN"""
import sys

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from tap import failed, ok

url, subject, owner, other = sys.argv[1:5]


def status(fn):
    try:
        fn()
    except SchemaRegistryError as e:
        return e.http_status_code, e.error_message
    return 200, ""


print("1..6")
c = SchemaRegistryClient({"url": url, "basic.auth.user.info": "svc-trip:" + owner})
latest = c.get_latest_version(subject)
ok(latest.version >= 1, "owner: get_latest_version with basic.auth.user.info", latest.version)
sid = c.register_schema(subject, Schema(latest.schema.schema_str, "AVRO"))
ok(sid == latest.schema_id, "owner: register_schema of the live schema returns its id", sid)
bad = SchemaRegistryClient({"url": url, "basic.auth.user.info": "svc-trip:not-a-token"})
st, msg = status(lambda: bad.get_subjects())
ok(st == 401, "a wrong password: 401", (st, msg))
anon = SchemaRegistryClient({"url": url})
st, msg = status(lambda: anon.get_subjects())
ok(st == 401, "no credentials: 401", (st, msg))
o = SchemaRegistryClient({"url": url, "basic.auth.user.info": "svc-billing:" + other})
ok(subject in o.get_subjects(), "another product reads the catalog")
st, msg = status(lambda: o.register_schema(subject, Schema(latest.schema.schema_str, "AVRO")))
ok(st == 403 and "may not" in msg, "another product registers on the owner's subject: 403", (st, msg))
sys.exit(1 if failed() else 0)
