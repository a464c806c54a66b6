#!/usr/bin/env bash
# SIGHUP reloads descriptors: a new product appears with its topics; a broken descriptor is refused
# with file, path and reason in the log, and the previous set stays in force.
. "$(dirname "$0")/lib.sh"
plan 7
mkdir -p "$T/products"
cp schemas/examples/* "$T/products/"
start_broker R -o mesh.namespace=com.acme -o products.dir="$T/products" || bail "serve did not start"
check "ready" wait_ready "$R_URL"
http GET "$R_URL/v1/products"; is "three products at start" "$(jq '.products|length' <<<"$HTTP_BODY")" 3

# Add a fourth product (a copy of weather under another name and major).
jq '.info.fullyQualifiedName = "urn:dpds:com.acme:dataproducts:radar:1" | .info.name = "radar" | .info.version = "1.0.0"' \
  "$T/products/weather.json" >"$T/products/radar.json"
kill -HUP "$R_PID"
count() { curl -s --max-time 2 "$R_URL/v1/products" | jq '.products|length'; }
has_count() { [ "$(count)" = "$1" ]; }
check "SIGHUP: the new product appears" wait_until 10 has_count 4
http GET "$R_URL/v1/ports/radar/1/outputports/observations"
is "SIGHUP: the new port resolves with its topic" "$(jq -r .topic <<<"$HTTP_BODY")" "com.acme.radar.v1.observations"

# Break a descriptor: refused, old set kept, the log says where and why.
jq '.interfaceComponents.outputPorts[0]["x-portbroker"].partitions = 0' "$T/products/radar.json" >"$T/radar.bad" && mv "$T/radar.bad" "$T/products/radar.json"
kill -HUP "$R_PID"
check "SIGHUP with a bad descriptor: the log says reload refused" wait_until 10 grep -q "reload refused" "$T/R.log"
like "the refusal names file and JSON path" "$(grep 'reload refused' "$T/R.log")" "radar.json: /interfaceComponents/outputPorts/0/x-portbroker/partitions"
is "the previous four products stay" "$(count)" 4
finish
