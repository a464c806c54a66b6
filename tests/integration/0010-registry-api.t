#!/usr/bin/env bash
# The registry through HTTP: products PUT/DELETE, port schema registration with the subscribers'
# check, impact dry runs, Schema Registry error codes, and levels over multi-version histories with
# soft deletes.
. "$(dirname "$0")/lib.sh"
plan 29
start_broker B -o mesh.namespace=com.acme || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
SR=(-H 'Content-Type: application/vnd.schemaregistry.v1+json')
reg() { jq -cn --arg s "$2" '{schema:$s}' | curl -s --max-time 10 "${SR[@]}" -o "$T/http.body" -w '%{http_code}' -X POST "$B_URL/subjects/$1/versions" -d @-; }
rec() { # rec NAME FIELDS-JSON: a record schema text
  jq -cn --arg n "$1" --argjson f "$2" '{type:"record",name:$n,fields:$f}'; }

# --- products ---
D=$(jq -c --slurpfile s schemas/examples/weather_observation.avsc \
  '.info.fullyQualifiedName="urn:dpds:com.acme:dataproducts:radar:1" | .info.name="radar" | .info.version="1.0.0"
   | .interfaceComponents.outputPorts[0].promises.api.schema = $s[0]' schemas/examples/weather.json)
http PUT "$B_URL/v1/products/urn:dpds:com.acme:dataproducts:radar:1" -d "$D"
is "PUT a new product: 201" "$HTTP_STATUS" 201
like "the reply names the port's subject and schema id" "$HTTP_BODY" '"subject":"com.acme.radar.v1.observations-value","id":[0-9]+,"version":1'
http PUT "$B_URL/v1/products/radar/1" -d "$D"
is "PUT the same descriptor again (short form): 200" "$HTTP_STATUS" 200
http PUT "$B_URL/v1/products/radar/1" -d '{"dataProductDescriptor":"1.0.0"}'
is "PUT an invalid descriptor: 422" "$HTTP_STATUS" 422
like "the error names the JSON path and reason" "$HTTP_BODY" 'PUT /v1/products/urn:dpds:com.acme:dataproducts:radar:1: .*/info'
http PUT "$B_URL/v1/products/radar/1" -d "$(jq -c '.interfaceComponents.outputPorts[0].promises.api.schema = {"$ref":"x.avsc"}' <<<"$D")"
like "a \$ref over HTTP is refused: 422" "$HTTP_STATUS $HTTP_BODY" '^422 .*\$ref'
http GET "$B_URL/v1/ports/radar/1/outputports/observations"
is "the new port lists its schema version" "$(jq -c '.schemas | map(.version)' <<<"$HTTP_BODY")" '[1]'
http DELETE "$B_URL/v1/products/weather/2"
like "DELETE a product others subscribe to: 409 naming the binding" "$HTTP_STATUS $HTTP_BODY" '^409 .*tripExecution:1:inputports:weather'
http DELETE "$B_URL/v1/products/radar/1"
is "DELETE an unbound product: 200" "$HTTP_STATUS" 200
http GET "$B_URL/v1/products/radar/1"
is "then it is gone: 404" "$HTTP_STATUS" 404

# --- the subscribers' view ---
OBS=$(cat schemas/examples/weather_observation.avsc)
narrow=$(jq -c '.fields |= map(select(.name != "stationId"))' <<<"$OBS")  # tripExecution reads stationId
http POST "$B_URL/v1/ports/weather/2/outputports/observations/impact" -d "$narrow"
is "impact: the change would break a subscriber" "$(jq -c '[.subscribers[] | select(.compatible==false) | .input]' <<<"$HTTP_BODY")" '["urn:dpds:com.acme:dataproducts:tripExecution:1:inputports:weather"]'
before=$(curl -s --max-time 5 "$B_URL/subjects/com.acme.weather.v2.observations-value/versions")
http POST "$B_URL/v1/ports/weather/2/outputports/observations/schemas" -d "$narrow"
like "registering it: 409 naming the subscriber's input port" "$HTTP_STATUS $HTTP_BODY" '^409 .*urn:dpds:com.acme:dataproducts:tripExecution:1:inputports:weather'
is "and nothing was registered" "$(curl -s --max-time 5 "$B_URL/subjects/com.acme.weather.v2.observations-value/versions")" "$before"
wider=$(jq -c '.fields += [{"name":"uvIndex","type":["null","float"],"default":null}]' <<<"$OBS")
http POST "$B_URL/v1/ports/weather/2/outputports/observations/schemas" -d "$wider"
like "a change every subscriber can read: 201 with version 2" "$HTTP_STATUS $HTTP_BODY" '^201 .*"version":2'

# --- Schema Registry error codes through HTTP ---
http GET "$B_URL/subjects/nope/versions"; like "unknown subject: 40401" "$HTTP_STATUS $HTTP_BODY" '^404 .*"error_code":40401'
http GET "$B_URL/subjects/com.acme.weather.v2.observations-value/versions/99"; like "unknown version: 40402" "$HTTP_STATUS $HTTP_BODY" '^404 .*"error_code":40402'
http GET "$B_URL/schemas/ids/9999"; like "unknown schema id: 40403" "$HTTP_STATUS $HTTP_BODY" '^404 .*"error_code":40403'
is "invalid schema: 422" "$(reg bad-value '{"type":"record","name":"X","fields":[{"name":"a","type":"int","default":"x"}]}')" 422
like "invalid schema: 42201 naming the bad default" "$(cat "$T/http.body")" '"error_code":42201.*/fields/0'
http GET "$B_URL/subjects/com.acme.weather.v2.observations-value/versions/zero"; like "invalid version: 42202" "$HTTP_STATUS $HTTP_BODY" '^422 .*"error_code":42202'
http PUT "$B_URL/config" "${SR[@]}" -d '{"compatibility":"SIDEWAYS"}'; like "invalid level: 42203" "$HTTP_STATUS $HTTP_BODY" '^422 .*"error_code":42203'
http GET "$B_URL/config/lv-value"; like "no subject level: 40408" "$HTTP_STATUS $HTTP_BODY" '^404 .*"error_code":40408'

# --- levels over a history with a soft delete ---
A=$(rec R '[{"name":"a","type":"int"}]')
AB=$(rec R '[{"name":"a","type":"int"},{"name":"b","type":"string","default":"x"}]')
B_=$(rec R '[{"name":"b","type":"string","default":"x"}]')
reg lv-value "$A" >/dev/null; reg lv-value "$AB" >/dev/null
http PUT "$B_URL/config/lv-value" "${SR[@]}" -d '{"compatibility":"FORWARD"}'
is "PUT subject level FORWARD" "$HTTP_BODY" '{"compatibility":"FORWARD"}'
# B_ drops a: FORWARD (latest AB reads B_ writer? AB.a has no default) -> incompatible.
is "FORWARD: dropping a field without default is refused (409)" "$(reg lv-value "$B_")" 409
http PUT "$B_URL/config/lv-value" "${SR[@]}" -d '{"compatibility":"BACKWARD"}'
is "BACKWARD: the same change is accepted (the new reader ignores a)" "$(reg lv-value "$B_")" 200
# Now BACKWARD_TRANSITIVE: a new schema needing 'a' without default cannot read v3 (B_), but
# after soft-deleting v3 only v1, v2 count.
NEEDA=$(rec R '[{"name":"a","type":"int"},{"name":"c","type":"long","default":0}]')
http PUT "$B_URL/config/lv-value" "${SR[@]}" -d '{"compatibility":"BACKWARD_TRANSITIVE"}'
is "BACKWARD_TRANSITIVE: refused while v3 (no 'a') is live" "$(reg lv-value "$NEEDA")" 409
http DELETE "$B_URL/subjects/lv-value/versions/3"
is "soft delete of version 3 answers 3" "$HTTP_BODY" 3
is "after the soft delete the same schema registers (ignored by checks)" "$(reg lv-value "$NEEDA")" 200
is "numbering goes on after the soft delete: version 4" "$(curl -s --max-time 5 "$B_URL/subjects/lv-value/versions/latest" | jq .version)" 4
finish
