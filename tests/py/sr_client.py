#!/usr/bin/python3
"""confluent_kafka's SchemaRegistryClient (Debian python3-confluent-kafka) against portbroker:
register, look up, versions, config, compatibility tests and deletes, unchanged. Prints TAP.
Usage: /usr/bin/python3 sr_client.py URL"""
import json
import sys

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from tap import failed, ok

url = sys.argv[1]
client = SchemaRegistryClient({"url": url})


def error_code(fn):
    try:
        fn()
    except SchemaRegistryError as e:
        return e.error_code
    return None


print("1..16")
subject = "py-orders-value"
v1 = {"type": "record", "name": "Order", "namespace": "com.acme.py",
      "fields": [{"name": "id", "type": "string"}, {"name": "amount", "type": "long"}]}
v2 = dict(v1, fields=v1["fields"] + [{"name": "note", "type": ["null", "string"], "default": None}])
bad = dict(v1, fields=v1["fields"] + [{"name": "required", "type": "int"}])

sid = client.register_schema(subject, Schema(json.dumps(v1), "AVRO"))
ok(isinstance(sid, int) and sid > 0, "register_schema returns an id", sid)
ok(client.register_schema(subject, Schema(json.dumps(v1), "AVRO")) == sid, "registering again returns the same id")
reg = client.lookup_schema(subject, Schema(json.dumps(v1), "AVRO"))
ok(reg.schema_id == sid and reg.version == 1 and reg.subject == subject, "lookup_schema finds subject, version and id", vars(reg))
ok(json.loads(client.get_schema(sid).schema_str)["name"] == "Order", "get_schema by id returns the schema")
ok(client.get_compatibility() == "BACKWARD", "global compatibility is BACKWARD", client.get_compatibility())
ok(client.test_compatibility(subject, Schema(json.dumps(v2), "AVRO")) is True, "test_compatibility: adding an optional field is compatible")
ok(client.test_compatibility(subject, Schema(json.dumps(bad), "AVRO")) is False, "test_compatibility: a new required field is not")
ok(error_code(lambda: client.register_schema(subject, Schema(json.dumps(bad), "AVRO"))) == 409, "register of an incompatible schema: 409")
sid2 = client.register_schema(subject, Schema(json.dumps(v2), "AVRO"))
latest = client.get_latest_version(subject)
ok(latest.version == 2 and latest.schema_id == sid2, "get_latest_version is version 2", vars(latest))
ok(client.get_versions(subject) == [1, 2], "get_versions lists 1 and 2", client.get_versions(subject))
res = client.set_compatibility(subject, "FULL")
ok(res == {"compatibility": "FULL"}, "set_compatibility on the subject answers Confluent's body", res)
ok(client.get_compatibility(subject) == "FULL", "get_compatibility of the subject", client.get_compatibility(subject))
ok(error_code(lambda: client.get_version(subject, 7)) == 40402, "unknown version: 40402")
ok(error_code(lambda: client.get_latest_version("no-such-subject")) == 40401, "unknown subject: 40401")
ok(client.delete_version(subject, 2) == 2, "delete_version (soft) returns the version")
ok(client.get_latest_version(subject).version == 1, "after the soft delete, latest is version 1")
sys.exit(1 if failed() else 0)
