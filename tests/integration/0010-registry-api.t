#!/usr/bin/env bash
# The registry through HTTP: products PUT/DELETE, port schema registration with the subscribers'
# check, impact dry runs, Schema Registry error codes, and levels over multi-version histories with
# soft deletes.
. "$(dirname "$0")/lib.sh"
plan 46
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

# --- subscriptions: binding an input port checks its reader against every live writer version ---
DASH='{"dataProductDescriptor":"1.0.0","info":{"fullyQualifiedName":"urn:dpds:com.acme:dataproducts:dash:1","name":"dash","version":"1.0.0","domain":"ops","owner":{"id":"ops@acme.example"}},
 "interfaceComponents":{"inputPorts":[{"name":"obs","promises":{"api":{"format":"avro","schema":{"type":"record","name":"Obs","namespace":"com.acme.weather","aliases":["com.acme.weather.Observation"],"fields":[{"name":"stationId","type":"string"},{"name":"temperatureC","type":"double"}]}}}}]}}'
http PUT "$B_URL/v1/products/dash/1" -d "$DASH"; is "PUT a subscriber product: 201" "$HTTP_STATUS" 201
SUB='{"from":"weather/2/outputports/observations","to":"dash/1/inputports/obs","start":"earliest"}'
http PUT "$B_URL/v1/subscriptions" -d "$SUB"
is "PUT /v1/subscriptions: 201" "$HTTP_STATUS" 201
sub_id=$(jq .id <<<"$HTTP_BODY")
like "the subscription object per DESIGN" "$HTTP_BODY" '"from":"urn:dpds:com.acme:dataproducts:weather:2:outputports:observations","to":"urn:dpds:com.acme:dataproducts:dash:1:inputports:obs","topic":"com.acme.dash.v1.in.obs","consumerGroup":"portbroker.route.com.acme.dash.v1.in.obs","readerSchemaId":[0-9]+.*"state":"bound"'
http PUT "$B_URL/v1/subscriptions" -d "$SUB"
is "again: 200 with the same id (idempotent on from+to)" "$HTTP_STATUS $(jq .id <<<"$HTTP_BODY")" "200 $sub_id"
http PUT "$B_URL/v1/subscriptions" -d '{"from":"weather/2/outputports/observations","to":"dash/1/inputports/obs","readerSchema":{"type":"record","name":"com.acme.weather.Observation","fields":[{"name":"pressureHpa","type":"double"}]}}'
like "a reader that cannot read a live writer version: 409 naming the version" "$HTTP_STATUS $HTTP_BODY" '^409 .*version'
http GET "$B_URL/v1/subscriptions"; like "GET /v1/subscriptions lists it" "$(jq -c '[.subscriptions[].id]' <<<"$HTTP_BODY")" "(\\[|,)$sub_id(,|\\])"
http GET "$B_URL/v1/subscriptions/$sub_id"; is "GET by id" "$(jq .id <<<"$HTTP_BODY")" "$sub_id"
http DELETE "$B_URL/v1/subscriptions/$sub_id"; is "DELETE: 200" "$HTTP_STATUS" 200
http GET "$B_URL/v1/subscriptions/$sub_id"; is "then 404" "$HTTP_STATUS" 404

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

# The other levels on a fresh three-version history h1 {a}, h2 {a, b=x}, h3 {a, b=x, c=0}.
setlv() { curl -s --max-time 5 "${SR[@]}" -o /dev/null -X PUT "$B_URL/config/$1" -d "{\"compatibility\":\"$2\"}"; }
setlv lh-value NONE
reg lh-value "$A" >/dev/null; reg lh-value "$AB" >/dev/null
reg lh-value "$(rec R '[{"name":"a","type":"int"},{"name":"b","type":"string","default":"x"},{"name":"c","type":"long","default":0}]')" >/dev/null
is "NONE: even a type change registers" "$(reg lh-value "$(rec R '[{"name":"a","type":"string"}]')")" 200
http DELETE "$B_URL/subjects/lh-value/versions/4"; is "soft-delete the type change" "$HTTP_STATUS" 200
# D drops b and c and adds d without default: old readers (h2, h3) still read D? (b, c have
# defaults: yes) -> FORWARD ok; D reading h1 lacks d's default -> BACKWARD fails.
D=$(rec R '[{"name":"a","type":"int"},{"name":"d","type":"int"}]')
setlv lh-value FORWARD_TRANSITIVE; is "FORWARD_TRANSITIVE: every old reader reads the new writer: accepted check" \
  "$(curl -s --max-time 5 "${SR[@]}" -X POST "$B_URL/compatibility/subjects/lh-value/versions" -d "$(jq -cn --arg s "$D" '{schema:$s}')" | jq .is_compatible)" true
setlv lh-value FULL; is "FULL: refused (the new reader cannot read the latest writer)" "$(reg lh-value "$D")" 409
# E adds e with a default: readable both ways against every version.
E=$(rec R '[{"name":"a","type":"int"},{"name":"b","type":"string","default":"x"},{"name":"c","type":"long","default":0},{"name":"e","type":"int","default":1}]')
setlv lh-value FULL_TRANSITIVE; is "FULL_TRANSITIVE: a change compatible both ways with every live version registers" "$(reg lh-value "$E")" 200
# F requires b without default: FULL (latest only: E has b) accepts, FULL_TRANSITIVE (h1 lacks b) refuses.
F=$(rec R '[{"name":"a","type":"int"},{"name":"b","type":"string"},{"name":"c","type":"long","default":0},{"name":"e","type":"int","default":1}]')
is "FULL_TRANSITIVE: refused against version 1" "$(reg lh-value "$F")" 409
like "the 409 names version 1" "$(cat "$T/http.body")" 'oldSchemaVersion: 1'
setlv lh-value FULL; is "FULL (latest only): the same schema registers" "$(reg lh-value "$F")" 200
finish
