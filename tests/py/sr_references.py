#!/usr/bin/python3
"""confluent_kafka's SchemaRegistryClient (Debian python3-confluent-kafka) registers and fetches
Avro schemas with references against portbroker, unchanged. Prints TAP.
Usage: /usr/bin/python3 sr_references.py URL"""
import json
import sys

from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from tap import failed, ok, started

client = SchemaRegistryClient({"url": sys.argv[1]})


def error_code(fn):
    try:
        fn()
    except SchemaRegistryError as e:
        return e.error_code
    return None


if not started():
    print("1..9")
address = {"type": "record", "name": "Address", "namespace": "com.acme.py.shared",
           "fields": [{"name": "street", "type": "string"}, {"name": "city", "type": "string"}]}
customer = {"type": "record", "name": "Customer", "namespace": "com.acme.py",
            "fields": [{"name": "id", "type": "string"}, {"name": "home", "type": "com.acme.py.shared.Address"},
                       {"name": "work", "type": ["null", "com.acme.py.shared.Address"], "default": None}]}
aid = client.register_schema("py-address", Schema(json.dumps(address), "AVRO"))
ok(aid > 0, "register the referenced schema", aid)
refs = [SchemaReference("com.acme.py.shared.Address", "py-address", 1)]
cid = client.register_schema("py-customer-value", Schema(json.dumps(customer), "AVRO", refs))
ok(cid > aid, "register a schema with a reference", cid)
got = client.get_schema(cid)
ok([(r.name, r.subject, r.version) for r in got.references] == [("com.acme.py.shared.Address", "py-address", 1)],
   "get_schema returns the references", repr(got))
ok(json.loads(got.schema_str)["fields"][1]["type"] == "com.acme.py.shared.Address",
   "get_schema returns the schema as registered (the referenced type by name)", got.schema_str)
reg = client.lookup_schema("py-customer-value", Schema(json.dumps(customer), "AVRO", refs))
ok(reg.schema_id == cid and reg.version == 1, "lookup_schema with the references finds it", repr(reg))
latest = client.get_latest_version("py-customer-value")
# (this client version gives the latest version's references as plain dicts)
ok(latest.schema_id == cid and [r["subject"] if isinstance(r, dict) else r.subject
                                for r in latest.schema.references] == ["py-address"],
   "get_latest_version carries the references", repr(latest))
ok(error_code(lambda: client.register_schema("py-orphan-value", Schema(json.dumps(customer), "AVRO"))) == 42201,
   "without the reference the schema is invalid: 42201")
ok(error_code(lambda: client.delete_version("py-address", 1)) == 42206,
   "deleting the referenced version: 42206")
ok(client.delete_version("py-customer-value", 1) == 1 and client.delete_version("py-address", 1) == 1,
   "after the referrer is deleted, the referenced version can be")
sys.exit(1 if failed() else 0)
