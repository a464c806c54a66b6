#!/usr/bin/env bash
# Governance (issue 12): port subjects are protected through both APIs and descriptors. A breaking
# schema is refused at level NONE naming the subscriber; a port's subject and versions cannot be
# deleted (publish keeps working); topic overrides may not name internal topics; the Confluent
# python client sees the 409 with its code.
. "$(dirname "$0")/lib.sh"
plan 22
# Registry and lineage topics configured with names the '_' rule does not cover.
start_broker B -o mesh.namespace=com.acme -o registry.topic=mesh-registry -o lineage.topic=mesh-lineage || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
SR=(-H 'Content-Type: application/vnd.schemaregistry.v1+json')
S=com.acme.tripExecution.v1.tripEvents-value
PORT="$B_URL/v1/ports/tripExecution/1/outputports/tripEvents"
REC='{"eventId":"0b0e7f06-9c3e-4c07-8d8e-2f2b9c7a1a11","tripId":"1b0e7f06-9c3e-4c07-8d8e-2f2b9c7a1a11","occurredAt":1700000000000,"eventType":"STARTED","customerId":"c1","vehicle":{"vehicleId":"v1","kind":"VAN","capacityKg":500},"route":{"origin":{"name":"A","lat":1.0,"lon":2.0},"destination":{"name":"B","lat":3.0,"lon":4.0}},"distanceKm":12.5,"serviceDate":19000}'
BREAK=$(jq -c '.fields = [.fields[0]]' schemas/examples/trip_event.avsc)  # drops what billing reads
before=$(curl -s --max-time 5 "$B_URL/subjects/$S/versions")

http PUT "$B_URL/config/$S" -d '{"compatibility":"NONE"}'
is "PUT /config NONE on the port subject: 200" "$HTTP_STATUS" 200
http POST "$PORT/impact" -d "$BREAK"
is "impact at NONE: not compatible (billing breaks)" "$(jq -c .compatible <<<"$HTTP_BODY")" false
http POST "$PORT/schemas" -d "$BREAK"
like "port API: breaking schema at NONE is 409 naming billing" "$HTTP_STATUS $HTTP_BODY" '^409 .*"error_code":409.*billing:1:inputports'
jq -cn --arg s "$BREAK" '{schema:$s}' >"$T/brk.json"
code=$(curl -s --max-time 10 "${SR[@]}" -o "$T/b" -w '%{http_code}' -X POST "$B_URL/subjects/$S/versions" -d @"$T/brk.json")
like "SR API: the same schema is 409 naming billing" "$code $(cat "$T/b")" '^409 .*billing'
is "nothing was registered" "$(curl -s --max-time 5 "$B_URL/subjects/$S/versions")" "$before"

http DELETE "$B_URL/subjects/$S"
like "DELETE the port subject: 409/40910 naming the port and billing" "$HTTP_STATUS $HTTP_BODY" '^409 .*40910.*tripEvents.*billing.*new product major'
http DELETE "$B_URL/subjects/$S?permanent=true"
like "permanent DELETE: 409/40910" "$HTTP_STATUS $HTTP_BODY" '^409 .*40910'
http DELETE "$B_URL/subjects/$S/versions/1"
like "DELETE a version: 409/40910" "$HTTP_STATUS $HTTP_BODY" '^409 .*40910'
is "versions unchanged" "$(curl -s --max-time 5 "$B_URL/subjects/$S/versions")" "$before"
code=$(curl -s --max-time 10 -H 'Content-Type: application/json' -o "$T/p" -w '%{http_code}' -X POST "$PORT/records" -d "{\"records\":[{\"value\":$REC}]}")
is "publish still works after the refused deletes: 200" "$code $(head -c 300 "$T/p")" "200 $(head -c 300 "$T/p")"
like "and the reply carries an offset" "$code $(cat "$T/p")" '^200 .*"offset"' 

# Rogue binding after the (refused) delete: a reader that cannot read the live versions is refused.
ROGUE='{"dataProductDescriptor":"1.0.0","info":{"fullyQualifiedName":"urn:dpds:com.acme:dataproducts:spy:1","name":"spy","version":"1.0.0","domain":"ops","owner":{"id":"o@acme.example"}},"interfaceComponents":{"inputPorts":[{"name":"t","promises":{"api":{"format":"avro","schema":{"type":"record","name":"TripEvent","namespace":"com.acme.logistics","fields":[{"name":"mustHave","type":"string"}]}}}}]}}'
http PUT "$B_URL/v1/products/spy/1" -d "$ROGUE"; is "PUT an unbound consumer product: 201" "$HTTP_STATUS" 201
http PUT "$B_URL/v1/subscriptions" -d '{"from":"tripExecution/1/outputports/tripEvents","to":"spy/1/inputports/t"}'
like "rogue binding via PUT /v1/subscriptions: 409 naming the field" "$HTTP_STATUS $HTTP_BODY" '^409 .*mustHave'
http PUT "$B_URL/v1/products/spy/1" -d "$(jq -c '.interfaceComponents.inputPorts[0].from="tripExecution/1/outputports/tripEvents"' <<<"$ROGUE")"
like "rogue binding via a descriptor: 409" "$HTTP_STATUS $HTTP_BODY" '^409 .*mustHave'

# Topic overrides naming internal topics, through a descriptor PUT.
D=$(cat schemas/examples/tripExecution.json)
for t in _portbroker _portbroker.lineage _portbroker.embedded.control __consumer_offsets; do
  X=$(jq -c --arg t "$t" --slurpfile s schemas/examples/trip_event.avsc '.interfaceComponents.outputPorts[0].promises.api.schema=$s[0] | .info.fullyQualifiedName="urn:dpds:com.acme:dataproducts:rogue:1" | .info.name="rogue"
      | .interfaceComponents.outputPorts[0]["x-portbroker"].topic=$t | del(.interfaceComponents.inputPorts)' <<<"$D")
  http PUT "$B_URL/v1/products/rogue/1" -d "$X"
  like "topic override '$t': 422 naming the rule and path" "$HTTP_STATUS $HTTP_BODY" "^422 .*x-portbroker/topic: topic '$t': names starting with '_' are reserved"
done
for t in registry lineage; do
  X=$(jq -c --arg t "mesh-$t" --slurpfile s schemas/examples/trip_event.avsc '.interfaceComponents.outputPorts[0].promises.api.schema=$s[0] | .info.fullyQualifiedName="urn:dpds:com.acme:dataproducts:rogue:1" | .info.name="rogue"
      | .interfaceComponents.outputPorts[0]["x-portbroker"].topic=$t | del(.interfaceComponents.inputPorts)' <<<"$D")
  http PUT "$B_URL/v1/products/rogue/1" -d "$X"
  like "topic override naming the configured $t.topic: 422 naming the setting" "$HTTP_STATUS $HTTP_BODY" "^422 .*topic 'mesh-$t' is this broker's $t.topic"
done
X=$(jq -c --slurpfile s schemas/examples/trip_event.avsc '.interfaceComponents.outputPorts[0].promises.api.schema=$s[0] | .info.fullyQualifiedName="urn:dpds:com.acme:dataproducts:rogue:1" | .info.name="rogue"
    | .interfaceComponents.outputPorts[0]["x-portbroker"].topic="com.acme.billing.v1.in.trips" | del(.interfaceComponents.inputPorts)' <<<"$D")
http PUT "$B_URL/v1/products/rogue/1" -d "$X"
like "topic override naming another product's topic: 409 naming its port" "$HTTP_STATUS $HTTP_BODY" "^409 .*already used by port .*billing:1:inputports:trips"

# The Confluent python client sees the 409 as an error with the code.
out=$(timeout 30 /usr/bin/python3 - "$B_URL" "$S" "$BREAK" <<'PY' 2>&1
import sys
from confluent_kafka.schema_registry import SchemaRegistryClient, Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError
c = SchemaRegistryClient({"url": sys.argv[1]})
try:
    c.register_schema(sys.argv[2], Schema(sys.argv[3], "AVRO"))
    print("registered")
except SchemaRegistryError as e:
    print("error", e.http_status_code, e.error_code)
try:
    c.delete_subject(sys.argv[2])
    print("deleted")
except SchemaRegistryError as e:
    print("error", e.http_status_code, e.error_code)
PY
)
is "python SchemaRegistryClient: register 409, delete 409/40910" "$(tr '\n' ' ' <<<"$out")" "error 409 409 error 409 40910 "
finish
