#!/usr/bin/env bash
# Descriptor limits that keep one write bounded (issue #15): topic.partitions.max,
# descriptor.ports.max and descriptor.partitions.max refuse a descriptor with 413 and the number
# before any topic is created, through the API and at start-up (exit 2).
. "$(dirname "$0")/lib.sh"
plan 11
start_kafka 1
LIM=(-o topic.partitions.max=8 -o descriptor.ports.max=3 -o descriptor.partitions.max=20)
start_broker B -c deploy/example.conf -o kafka.bootstrap.servers="$BROKERS" "${LIM[@]}" || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
URN=urn:dpds:com.acme:dataproducts:limits:1
# desc NAME:PARTITIONS...: a descriptor with one output port per argument.
desc() {
  jq -n --arg urn "$URN" --argjson ports "$(printf '%s\n' "$@" | jq -R 'split(":") | {name: .[0], version: "1.0.0",
      promises: {api: {format: "avro", schema: {type: "record", name: "R", fields: [{name: "a", type: "string"}]}}},
      "x-portbroker": {partitions: (.[1] | tonumber)}}' | jq -s .)" \
    '{dataProductDescriptor: "1.0.0", info: {fullyQualifiedName: $urn, name: "limits", version: "1.0.0",
      domain: "test", owner: {id: "t@x"}}, interfaceComponents: {outputPorts: $ports}}'
}
put() { http PUT "$B_URL/v1/products/$URN" -H 'content-type: application/json' --data "$(desc "$@")"; }
topics() { kcat -b "$BROKERS" -L -J 2>/dev/null | jq -r '.topics[].topic' | grep -c '^com.acme.limits' ; }
put big:9
is "a port of 9 partitions: 413" "$HTTP_STATUS" 413
like "... naming the port, the number and the key" "$HTTP_BODY" 'outputports:big: 9 partitions, at most 8 are allowed \(topic.partitions.max\)'
put a:1 b:1 c:1 d:1
is "4 ports: 413" "$HTTP_STATUS" 413
like "... with the number and the key" "$HTTP_BODY" 'declares 4 ports, at most 3 are allowed in one descriptor \(descriptor.ports.max\)'
put a:6 b:6
is "2 ports x 6 partitions (+ dead-letter topics = 24): 413" "$HTTP_STATUS" 413
like "... with the total and the key" "$HTTP_BODY" 'add up to 24 partitions, at most 20 are allowed in one descriptor \(descriptor.partitions.max\)'
is "nothing was created for the refused descriptors" "$(topics)" 0
put a:5 b:5
like "within the limits (20 partitions): stored" "$HTTP_STATUS" '^20[01]$'
is "... and its 4 topics exist (2 ports, 2 dead-letter topics)" "$(topics)" 4
# At start-up: a products.dir over the limits stops serve with exit 2 and the reason.
mkdir -p "$T/prod"; desc big:9 >"$T/prod/limits.json"
out=$("$PB_BIN" serve -o http.listen=127.0.0.1:0 -o products.dir="$T/prod" -o mesh.namespace=com.acme \
  -o kafka.bootstrap.servers="$BROKERS" "${LIM[@]}" 2>&1); rc=$?
is "start-up over a limit: exit 2" "$rc" 2
like "start-up over a limit: says which" "$out" '9 partitions, at most 8 are allowed \(topic.partitions.max\)'
finish
