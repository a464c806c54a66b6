#!/usr/bin/env bash
# U+0000 in the control plane (issue 14): schemas whose defaults and docs hold "\u0000" are
# registered, answered and replayed unchanged through the Schema Registry API (curl and
# python3-confluent-kafka's SchemaRegistryClient), descriptors (PUT and products.dir files) and
# /v1/ports/{port}/schemas; a raw NUL where text is expected is refused with a message that says
# so (never a library flag).
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
plan 22
SRH=(-H 'Content-Type: application/vnd.schemaregistry.v1+json')
NS=urn:dpds:com.acme:dataproducts
# a record whose defaults (bytes, string, map, fixed) and docs hold U+0000
SCHEMA=$(jq -cn '{type: "record", name: "Nul", namespace: "com.acme.nul", doc: "x\u0000y",
  fields: [{name: "b", type: "bytes", default: "\u0000x"},
           {name: "s", type: "string", default: "a\u0000b", doc: "\u0000"},
           {name: "m", type: {type: "map", values: "string"}, default: {k: "\u0000"}},
           {name: "f", type: {type: "fixed", name: "F", size: 2}, default: "\u0000\u00ff"}]}')
# a descriptor of product NAME whose output port has that schema
descriptor() {
  jq -c --arg n "$1" --argjson s "$SCHEMA" '.info.fullyQualifiedName = "urn:dpds:com.acme:dataproducts:\($n):1"
    | .info.name = $n | .info.version = "1.0.0"
    | .interfaceComponents.outputPorts[0].promises.api.schema = $s
    | del(.interfaceComponents.outputPorts[0]["x-portbroker"].eventTimeField)' schemas/examples/weather.json
}
same() { jq -n --argjson a "$1" --argjson b "$2" '$a == $b'; }

mkdir -p "$T/prod"
descriptor disk >"$T/prod/disk.json"
start_kafka 1
start() {
  start_broker B -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme \
    -o products.dir="$T/prod" || bail "serve did not start"
  wait_ready "$B_URL" 40 || bail "not ready: $(tail -5 "$T/B.log")"
}
start

# ---- Schema Registry API ----
jq -cn --arg s "$SCHEMA" '{schema: $s}' >"$T/reg.json"
http POST "$B_URL/subjects/nul-value/versions" "${SRH[@]}" --data-binary @"$T/reg.json"
is "SR: register a schema with \\u0000 in defaults and docs: 200" "$HTTP_STATUS" 200
ID=$(jq -r .id <<<"$HTTP_BODY")
http GET "$B_URL/subjects/nul-value/versions/1/schema"
is "GET /subjects/nul-value/versions/1/schema: 200, the schema as registered" \
  "$HTTP_STATUS $(same "$HTTP_BODY" "$SCHEMA")" "200 true"
http GET "$B_URL/schemas/ids/$ID/schema"
is "GET /schemas/ids/$ID/schema: 200, the schema as registered" "$HTTP_STATUS $(same "$HTTP_BODY" "$SCHEMA")" "200 true"
is "the docs keep what follows the NUL (x\\u0000y, not x)" \
  "$(jq -c '[(.doc | explode), (.fields[1].doc | explode)]' <<<"$HTTP_BODY")" '[[120,0,121],[0]]'
http GET "$B_URL/schemas/ids/$ID"
is "GET /schemas/ids/$ID: its schema string is the schema" "$HTTP_STATUS $(same "$(jq -r .schema <<<"$HTTP_BODY")" "$SCHEMA")" "200 true"
http POST "$B_URL/subjects/nul-value" "${SRH[@]}" --data-binary @"$T/reg.json"
is "POST /subjects/nul-value (lookup) finds version 1" "$HTTP_STATUS $(jq -c '[.version, .id]' <<<"$HTTP_BODY")" "200 [1,$ID]"
http POST "$B_URL/subjects/nul-value/versions" "${SRH[@]}" --data-binary @"$T/reg.json"
is "registering it again returns the same id" "$HTTP_STATUS $(jq .id <<<"$HTTP_BODY")" "200 $ID"
http POST "$B_URL/subjects/nul-value/versions" "${SRH[@]}" -d '{"schema": "\"string\"", "schemaType": "AVRO\u0000"}'
like "SR: \\u0000 outside the schema text: 400 saying so, no library flag" "$HTTP_STATUS $(jq -r .message <<<"$HTTP_BODY")" \
  '^400 Invalid request body: \\u0000 \(U\+0000\) is allowed only inside the schema text.s strings'
check "... and no message names JSON_ALLOW_NUL" sh -c "! grep -q ALLOW_NUL '$T/http.body'"

# python3-confluent-kafka's client, unchanged
cat >"$T/sr.py" <<'PYEOF'
import json, sys
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
url, sid, text = sys.argv[1], int(sys.argv[2]), sys.argv[3]
c = SchemaRegistryClient({"url": url})
got = json.loads(c.get_schema(sid).schema_str)
reg = c.lookup_schema("nul-value", Schema(text, "AVRO"))
again = c.register_schema("nul-value", Schema(text, "AVRO"))
print(json.dumps([got == json.loads(text), got["fields"][0]["default"], reg.schema_id == sid, again == sid]))
PYEOF
is "SchemaRegistryClient: get_schema equals the schema (default \"\\u0000x\"), lookup and register find the id" \
  "$(timeout 30 $PY "$T/sr.py" "$B_URL" "$ID" "$SCHEMA" 2>&1)" '[true, "\u0000x", true, true]'

# ---- descriptors ----
http PUT "$B_URL/v1/products/$NS:radar:1" --data-binary "$(descriptor radar)"
is "PUT a descriptor whose schema has \\u0000 defaults: 201" "$HTTP_STATUS" 201
http GET "$B_URL/subjects/com.acme.radar.v1.observations-value/versions/1/schema"
is "its port subject answers the schema as declared" "$HTTP_STATUS $(same "$HTTP_BODY" "$SCHEMA")" "200 true"
http GET "$B_URL/subjects/com.acme.disk.v1.observations-value/versions/1/schema"
is "a products.dir file with such defaults loads; its subject answers the schema" \
  "$HTTP_STATUS $(same "$HTTP_BODY" "$SCHEMA")" "200 true"
http PUT "$B_URL/v1/products/$NS:radar2:1" --data-binary "$(descriptor radar2 | jq -c '.info.name = "ra\u0000dar2"')"
like "a NUL in a descriptor's name: 422 naming the field" "$HTTP_STATUS $(jq -r .message <<<"$HTTP_BODY")" \
  '^422 .*info.*name.*NUL'

# ---- /v1/ports/{port}/schemas ----
V2=$(jq -c '.fields += [{name: "t", type: "string", default: "\u0000"}]' <<<"$SCHEMA")
http POST "$B_URL/v1/ports/$NS:radar:1:outputports:observations/schemas" --data-binary "$(jq -cn --argjson s "$V2" '{schema: $s}')"
like "POST a new port schema version with a \\u0000 default: 2xx" "$HTTP_STATUS" '^20[01]$'
http GET "$B_URL/subjects/com.acme.radar.v1.observations-value/versions/2/schema"
is "version 2 answers with its \\u0000 default" "$HTTP_STATUS $(same "$HTTP_BODY" "$V2")" "200 true"
http POST "$B_URL/v1/ports/$NS:radar:1:outputports:observations/schemas" -d '{"schema": "{\"type\": \"str\u0000ing\"}"}'
like "schema text (a string) with a raw NUL: 422 saying to escape it" "$HTTP_STATUS $(jq -r .message <<<"$HTTP_BODY")" \
  '^422 .*raw U\+0000 \(inside its strings write \\u0000\)'

# ---- everything replays from Kafka after a restart ----
stop_pid "$B_PID" 15
is "broker stops cleanly" "$STOP_RC" 0
start
http GET "$B_URL/schemas/ids/$ID/schema"
is "after a restart: /schemas/ids/$ID/schema is the schema" "$HTTP_STATUS $(same "$HTTP_BODY" "$SCHEMA")" "200 true"
http GET "$B_URL/subjects/com.acme.radar.v1.observations-value/versions/2/schema"
is "after a restart: the PUT product's version 2 is there" "$HTTP_STATUS $(same "$HTTP_BODY" "$V2")" "200 true"
check "the replay skipped no registry record" sh -c "! grep -Ei 'skip|not JSON' '$T/B.log'"
stop_pid "$B_PID" 15
is "broker stops cleanly again" "$STOP_RC" 0
finish
