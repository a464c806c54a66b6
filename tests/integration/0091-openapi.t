#!/usr/bin/env bash
# docs/openapi.json against the route table: valid OpenAPI 3.1, the same paths and methods as
# `portbroker routes` at test time, and the error shape; a live 404 matches the documented shape.
. "$(dirname "$0")/lib.sh"
"$PB_BIN" routes >"$T/routes.jsonl" || bail "portbroker routes failed"
start_broker B -o products.dir=schemas/examples -o mesh.namespace=com.acme || bail "serve did not start"
wait_ready "$B_URL" 60 || bail "not ready"
node tests/js/openapi_contract.mjs docs/openapi.json "$T/routes.jsonl" "$B_URL" | grep -v '^1\.\.' | sed 's/^\(not \)\{0,1\}ok [0-9]* /\1ok /' >"$T/contract.tap"
plan $(( $(grep -c '^\(not \)\{0,1\}ok' "$T/contract.tap") + 2 ))
while IFS= read -r l; do
  case "$l" in "ok - "*) ok "${l#ok - }";; "not ok - "*) not_ok "${l#not ok - }";; "#"*) echo "$l";; esac
done <"$T/contract.tap"
http GET "$B_URL/v1/no-such-thing"
is "unknown path answers 404" "$HTTP_STATUS" 404
like "404 body has the documented error shape" "$HTTP_BODY" '^\{"error_code": ?404, ?"message": ?"[^"]+"\}$'
finish
