#!/usr/bin/env bash
# Media types on state-changing routes (issue #13, DESIGN §5): a route that takes a body accepts
# only its JSON media types (parameters such as "; charset=utf-8" allowed, type case-insensitive);
# anything else, or a body without Content-Type, is 415 naming what was sent and what is accepted,
# and changes nothing. This closes the browser "simple request" hole: a cross-site form POST
# (text/plain, application/x-www-form-urlencoded, multipart/form-data) cannot register a schema.
. "$(dirname "$0")/lib.sh"
plan 15
start_broker B -o mesh.namespace=com.acme || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
OBS=$(cat schemas/examples/weather_observation.avsc)
wider=$(jq -c '.fields += [{"name":"uvIndex","type":["null","float"],"default":null}]' <<<"$OBS")
PORT="$B_URL/v1/ports/weather/2/outputports/observations"
SUBJ=com.acme.weather.v2.observations-value
SRBODY=$(jq -cn --arg s '"string"' '{schema:$s}')
before_port=$(curl -s --max-time 5 "$B_URL/subjects/$SUBJ/versions")
before_x=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$B_URL/subjects/x/versions")

# A browser's simple request: text/plain to the registry and to a port's schemas.
http POST "$B_URL/subjects/x/versions" -H 'Content-Type: text/plain' -d "$SRBODY"
like "text/plain POST /subjects/x/versions: 415 naming what was sent and what is accepted" "$HTTP_STATUS $HTTP_BODY" \
  "^415 \\{\"error_code\":415,\"message\":\"Content-Type 'text/plain' is not accepted on POST /subjects/\\{subject\\}/versions: send one of application/json, application/vnd.schemaregistry.v1\\+json, application/vnd.schemaregistry\\+json\"\\}$"
http POST "$PORT/schemas" -H 'Content-Type: text/plain;charset=UTF-8' -d "$wider"
like "text/plain POST /v1/ports/{p}/schemas: 415" "$HTTP_STATUS $HTTP_BODY" "^415 .*text/plain;charset=UTF-8.*not accepted on POST /v1/ports/\\{port\\}/schemas"
# curl -d without -H sends application/x-www-form-urlencoded: the form-POST hole.
code=$(curl -s --max-time 10 -o "$T/b" -w '%{http_code}' -X POST "$B_URL/subjects/x/versions" -d "$SRBODY")
like "curl -d (x-www-form-urlencoded) to the registry: 415" "$code $(cat "$T/b")" "^415 .*application/x-www-form-urlencoded"
code=$(curl -s --max-time 10 -o "$T/b" -w '%{http_code}' -X POST "$PORT/schemas" -F "schema=$wider")
like "multipart/form-data to a port's schemas: 415" "$code $(cat "$T/b")" "^415 .*multipart/form-data"
# A body and no Content-Type at all (raw socket: curl always names one for -d).
python3 - "${B_URL##*:}" "$SRBODY" >"$T/raw" <<'PY'
import socket, sys
port, body = int(sys.argv[1]), sys.argv[2].encode()
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(b"POST /subjects/x/versions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
data = b""
while True:
    c = s.recv(65536)
    if not c: break
    data += c
print(data.decode("latin-1").replace("\r", ""))
PY
like "a body without Content-Type: 415 saying so" "$(head -1 "$T/raw") $(tail -1 "$T/raw")" \
  "^HTTP/1.1 415 .*\"a [0-9]+-byte body without Content-Type is not accepted on POST /subjects/\\{subject\\}/versions"
like "the 415 is JSON" "$(grep -i '^content-type' "$T/raw")" '^Content-Type: application/json'
# Nothing was registered.
is "nothing registered under subject x" "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$B_URL/subjects/x/versions")" "$before_x"
is "nothing registered on the port's subject" "$(curl -s --max-time 5 "$B_URL/subjects/$SUBJ/versions")" "$before_port"
# Publish is also held: text/plain records are 415 (its own message names both JSON forms).
http POST "$PORT/records" -H 'Content-Type: text/plain' -d '{"records":[]}'
is "text/plain publish: 415" "$HTTP_STATUS" 415
http PUT "$B_URL/v1/subscriptions" -H 'Content-Type: application/x-www-form-urlencoded' -d '{"from":"a","to":"b"}'
like "form-encoded PUT /v1/subscriptions: 415 naming application/json" "$HTTP_STATUS $HTTP_BODY" "^415 .*PUT /v1/subscriptions: send one of application/json"

# The accepted types, with parameters and in any case, still reach the handler.
http POST "$B_URL/subjects/x/versions" -H 'Content-Type: Application/VND.SchemaRegistry.v1+JSON; charset=utf-8' -d "$SRBODY"
like "mixed-case type with charset: registered (200 with an id)" "$HTTP_STATUS $HTTP_BODY" '^200 \{"id":[0-9]+'
http POST "$PORT/schemas" -H 'Content-Type: application/json; charset=utf-8' -d "$wider"
like "application/json; charset=utf-8 on a port's schemas: 201" "$HTTP_STATUS $HTTP_BODY" '^201 .*"version":2'
http PUT "$B_URL/config/x" -H 'Content-Type: application/vnd.schemaregistry+json' -d '{"compatibility":"NONE"}'
is "application/vnd.schemaregistry+json on PUT /config/x: 200" "$HTTP_STATUS" 200
# A body-less DELETE on a route that takes a body needs no Content-Type.
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -X DELETE "$B_URL/config/x")
is "DELETE /config/x without body or Content-Type: 200" "$code" 200
# Routes without a body are not affected by a stray Content-Type.
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H 'Content-Type: text/plain' "$B_URL/v1/ports")
is "GET /v1/ports with Content-Type: text/plain: 200" "$code" 200
finish
