#!/usr/bin/env bash
# docs/openapi.json against the route table: valid OpenAPI 3.1, the same paths and methods as
# `portbroker routes` at test time, and the error shape; live answers of the example mesh (every GET
# route, the main write routes, errors) match the documented status codes and schemas.
. "$(dirname "$0")/lib.sh"
"$PB_BIN" routes >"$T/routes.jsonl" || bail "portbroker routes failed"
start_broker B -o products.dir=schemas/examples -o mesh.namespace=com.acme || bail "serve did not start"
wait_ready "$B_URL" 60 || bail "not ready"
# A second broker with authentication on and a write limit of 1/s: its 401, 403 and 429 answers.
tok() { local out; out=$("$PB_BIN" token "$2") || bail "portbroker token $2 failed"
  eval "export TOK_$1=$(sed -n 's/^token: //p' <<<"$out")"; sed -n 's/^line: *//p' <<<"$out" >>"$T/tokens.txt"; }
tok ADMIN admin
tok SPY urn:dpds:com.acme:dataproducts:spy:1
start_broker A -o products.dir=schemas/examples -o mesh.namespace=com.acme -o auth.tokens.file="$T/tokens.txt" \
  -o limit.write.requests.per.s=1 || bail "serve with auth did not start"
wait_ready "$A_URL" 60 || bail "the broker with auth is not ready"
export AUTH_BASE=$A_URL
node tests/js/openapi_contract.mjs docs/openapi.json "$T/routes.jsonl" "$B_URL" | grep -v '^1\.\.' | sed 's/^\(not \)\{0,1\}ok [0-9]* /\1ok /' >"$T/contract.tap"
plan $(( $(grep -c '^\(not \)\{0,1\}ok' "$T/contract.tap") + 3 ))
while IFS= read -r l; do
  case "$l" in "ok - "*) ok "${l#ok - }";; "not ok - "*) not_ok "${l#not ok - }";; "#"*) echo "$l";; esac
done <"$T/contract.tap"
http GET "$B_URL/v1/no-such-thing"
is "unknown path answers 404" "$HTTP_STATUS" 404
like "404 body has the documented error shape" "$HTTP_BODY" '^\{"error_code": ?404, ?"message": ?"[^"]+"\}$'
status_line=$(curl -sS --max-time 5 -o /dev/null -D - "$B_URL/" | head -1 | tr -d '\r')
like "GET / answers 302 Found with its reason phrase (documented redirect)" "$status_line" '^HTTP/1\.1 302 Found$'
finish
