#!/usr/bin/env bash
# Schema references end to end (issue 19 point 4), with clients nobody here wrote: kafkajs'
# @kafkajs/confluent-schema-registry registers the shared type and a port schema version that
# references it, encodes records with it, produces them to the port topic; the broker routes them
# (writer with the referenced types resolved) into an input port whose reader has the shared
# type inline; kafkajs reads them back. python3-confluent-kafka's SchemaRegistryClient registers,
# fetches and looks up schemas with references. A ruleSet on the port's latest version: the port
# page says its rules are not enforced.
. "$(dirname "$0")/lib.sh"
[ -d tests/js/node_modules/kafkajs ] || bail "tests/js/node_modules missing: run deploy/install-deps.sh --test"
plan 22
start_kafka 3
start_broker B -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme \
  -o products.dir="$PWD/tests/data/sr/products" || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
wait_until 30 grep -q "router started: .*shop:1:outputports:orders" "$T/B.log" || bail "no router for the shop binding: $(tail -5 "$T/B.log")"
TAP_START=0 timeout 120 node tests/js/sr_references.js "$B_URL" "$BROKERS" | sed 's/^1\.\.[0-9]*$//' | grep -v '^$'
_n=9
TAP_START=9 timeout 60 /usr/bin/python3 tests/py/sr_references.py "$B_URL"
_n=18
PORT=shop/1/outputports/orders
http GET "$B_URL/v1/ports/$PORT"
is "no rules yet: the port page says nothing about enforcement" "$(jq -c 'has("rulesEnforced")' <<<"$HTTP_BODY")" false
latest=$(curl -sS --max-time 5 "$B_URL/subjects/com.acme.shop.v1.orders-value/versions/latest")
body=$(jq -c '{schema, references, ruleSet: {domainRules: [{name: "positiveTotal", kind: "CONDITION", type: "CEL", mode: "WRITE", expr: "message.total.cents > 0"}]}}' <<<"$latest")
http POST "$B_URL/subjects/com.acme.shop.v1.orders-value/versions" -H 'Content-Type: application/vnd.schemaregistry.v1+json' -d "$body"
like "a ruleSet registered on the port subject is stored (a new version)" "$HTTP_STATUS $(jq -c .ruleSet.domainRules[0].name <<<"$HTTP_BODY")" '^200 "positiveTotal"$'
http GET "$B_URL/v1/ports/$PORT"
is "GET /v1/ports/{port}: rulesEnforced false" "$(jq -c .rulesEnforced <<<"$HTTP_BODY")" false
http GET "$B_URL/v1/ports"
is "GET /v1/ports says it too" "$(jq -c '.ports[] | select(.name=="orders" and .kind=="output") | .rulesEnforced' <<<"$HTTP_BODY")" false
finish
