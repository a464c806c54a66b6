#!/usr/bin/env bash
# OpenLineage per data product and per binding (DESIGN.md §8) on the example mesh: the events a
# lineage server receives (a python http.server on 127.0.0.1 as lineage.url) rebuild the product
# graph of GET /v1/lineage exactly (ol_graph.py), they validate with ajv against the OpenLineage
# 2-0-2 schema vendored in tests/data/openlineage (ol_schema.js), and a product added then deleted
# through the API starts and completes its jobs.
. "$(dirname "$0")/lib.sh"
[ -d tests/js/node_modules/ajv ] || bail "tests/js/node_modules missing: run make test-deps"
plan 9
python3 tests/integration/ol_receiver.py "$T/ol.port" "$T/events" &
_pids+=($!)
wait_until 10 test -s "$T/ol.port" || bail "the receiver did not start"
start_broker B -c deploy/example.conf -o lineage.url="http://127.0.0.1:$(cat "$T/ol.port")/api/v1/lineage" \
  -o lineage.interval.ms=1000 || bail "serve did not start"
wait_ready "$B_URL" 60 || bail "not ready: $(tail -3 "$T/B.log")"
same() {
  curl -fsS --max-time 5 "$B_URL/v1/lineage" >"$T/lineage.json" &&
    python3 tests/integration/ol_graph.py "$T/events" "$T/lineage.json" >"$T/graph.out" 2>&1
}
wait_until 30 same
like "the graph rebuilt from the events is GET /v1/lineage's (nodes and edges)" "$(cat "$T/graph.out")" '^same: 8 nodes, 7 edges, 5 live jobs$'
jobs=$(jq -r 'select(.eventType == "START") | "\(.job.facets.jobType.jobType) \(.job.name)"' "$T/events" | sort)
is "START for each of the 3 products and the 2 bindings" "$jobs" "BINDING binding:urn:dpds:com.acme:dataproducts:tripExecution:1:outputports:tripEvents->urn:dpds:com.acme:dataproducts:billing:1:inputports:trips
BINDING binding:urn:dpds:com.acme:dataproducts:weather:2:outputports:observations->urn:dpds:com.acme:dataproducts:tripExecution:1:inputports:weather
DATA_PRODUCT urn:dpds:com.acme:dataproducts:billing:1
DATA_PRODUCT urn:dpds:com.acme:dataproducts:tripExecution:1
DATA_PRODUCT urn:dpds:com.acme:dataproducts:weather:2"
is "tripExecution's job reads its input port's topic and writes its output port's" \
  "$(jq -r 'select(.eventType == "START" and .job.name == "urn:dpds:com.acme:dataproducts:tripExecution:1") | "\([.inputs[].name] | join(",")) -> \([.outputs[].name] | join(","))"' "$T/events")" \
  "com.acme.tripExecution.v1.in.weather -> com.acme.tripExecution.v1.tripEvents"

# A product that appears and goes: START for it and its binding, then COMPLETE for both.
reader=$(cat schemas/examples/weather_reader.avsc)
cat >"$T/audit.json" <<JSON
{"dataProductDescriptor": "1.0.0",
 "info": {"fullyQualifiedName": "urn:dpds:com.acme:dataproducts:audit:1", "name": "audit", "version": "1.0.0",
          "domain": "compliance", "owner": {"id": "audit@acme.example"}},
 "interfaceComponents": {"inputPorts": [{"name": "weather", "version": "1.0.0",
   "from": "urn:dpds:com.acme:dataproducts:weather:2:outputports:observations",
   "promises": {"api": {"format": "avro", "schema": $reader}}}]}}
JSON
http PUT "$B_URL/v1/products/urn:dpds:com.acme:dataproducts:audit:1" -H 'content-type: application/json' --data-binary @"$T/audit.json"
like "PUT a new product (audit, reading weather)" "$HTTP_STATUS" '^20[01]$'
AB='binding:urn:dpds:com.acme:dataproducts:weather:2:outputports:observations->urn:dpds:com.acme:dataproducts:audit:1:inputports:weather'
started() { [ "$(jq -r --arg b "$AB" 'select(.eventType == "START" and (.job.name == "urn:dpds:com.acme:dataproducts:audit:1" or .job.name == $b)) | .job.name' "$T/events" | wc -l)" = 2 ]; }
wait_until 15 started
check "START for the new product's job and its binding's job" started
wait_until 15 same
like "the rebuilt graph follows (audit and its binding in it)" "$(cat "$T/graph.out")" '^same: 10 nodes, 9 edges, 7 live jobs$'
http DELETE "$B_URL/v1/products/urn:dpds:com.acme:dataproducts:audit:1"
completed() { [ "$(jq -r --arg b "$AB" 'select(.eventType == "COMPLETE" and (.job.name == "urn:dpds:com.acme:dataproducts:audit:1" or .job.name == $b)) | .job.name' "$T/events" | wc -l)" = 2 ]; }
wait_until 15 completed
check "DELETE the product: COMPLETE for its job and its binding's job (HTTP $HTTP_STATUS)" completed
wait_until 15 same
like "the rebuilt graph is the example mesh's again" "$(cat "$T/graph.out")" '^same: 8 nodes, 7 edges, 5 live jobs$'
stop_pid "$B_PID" 15
check "every event received is valid OpenLineage 2-0-2 (ajv, with its facets)" node tests/js/ol_schema.js tests/data/openlineage "$T/events"
finish
