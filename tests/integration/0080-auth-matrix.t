#!/usr/bin/env bash
# The authorization matrix (DESIGN §9), generated from `portbroker routes`: every route and method
# x {no credentials, invalid token, expired JWT, wrong product, owning product, admin} on the
# example mesh with auth on (tokens + a JWKS; JWTs signed by npm jose). A route added without the
# rule this test expects fails it: only /healthz, /readyz and / (a redirect to /dashboard, which
# needs a reader) may be open.
. "$(dirname "$0")/lib.sh"
[ -d tests/js/node_modules/jose ] || bail "tests/js/node_modules missing: run make test-deps"
NS=urn:dpds:com.acme:dataproducts
tok() { # tok NAME PRINCIPAL: a token from `portbroker token`, its line into tokens.txt
  local out; out=$("$PB_BIN" token "$2") || bail "portbroker token $2 failed"
  eval "TOK_$1=$(sed -n 's/^token: //p' <<<"$out")"
  sed -n 's/^line: *//p' <<<"$out" >>"$T/tokens.txt"
}
tok admin admin
tok trip "$NS:tripExecution:*"
tok billing "$NS:billing:1"
tok spy "$NS:spy:1"
(cd tests/js && node jwt_tool.mjs keys "$T") || bail "jose could not make keys"
JWT_EXPIRED=$(cd tests/js && node jwt_tool.mjs sign "$T" ES256 "$NS:billing:1" https://idp.test portbroker -120)
start_broker B -o mesh.namespace=com.acme -o auth.tokens.file="$T/tokens.txt" \
  -o auth.jwks.file="$T/jwks.json" -o auth.jwt.issuer=https://idp.test -o auth.jwt.audience=portbroker \
  || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
OUT=tripExecution/1/outputports/tripEvents
IN=billing/1/inputports/trips
SUBJ=com.acme.tripExecution.v1.tripEvents-value
BID=$(curl -sS --max-time 10 -H "Authorization: Bearer $TOK_admin" "$B_URL/v1/subscriptions" \
  | jq -r --arg to "$NS:billing:1:inputports:trips" '.subscriptions[] | select(.to == $to) | .id')
[ -n "$BID" ] || bail "billing's binding not found"
SUB_BODY=$(jq -cn --arg f "$NS:tripExecution:1:outputports:tripEvents" --arg t "$NS:billing:1:inputports:trips" '{from:$f,to:$t}')

"$PB_BIN" routes >"$T/routes.jsonl" || bail "portbroker routes failed"
n_routes=$(wc -l <"$T/routes.jsonl")
[ "$n_routes" -gt 30 ] || bail "only $n_routes routes"
open=$(jq -r 'select(.access == "open") | .path' "$T/routes.jsonl" | sort -u | tr '\n' ' ')
is "only /, /healthz and /readyz are open to everyone" "$open" "/ /healthz /readyz "
root=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code} %{redirect_url}' "$B_URL/")
is "/ without credentials only redirects to the console" "$root" "302 $B_URL/dashboard"
unknown=$(jq -r 'select(.access | IN("open","metrics","read","product-owner","output-owner","input-owner","subscription","subject-owner","admin","port-owner") | not) | .path' "$T/routes.jsonl")
is "every route has a known access rule" "$unknown" ""

# The messages say who and why.
http POST "$B_URL/v1/ports/$OUT/records" -H "Authorization: Bearer $TOK_spy" -H 'Content-Type: application/json' -d '{"records":[]}'
like "403 names the principal, the action and who may" "$HTTP_BODY" "principal $NS:spy:1 may not publish records to an output port .*only product $NS:tripExecution:1 or admin may"
http GET "$B_URL/v1/products"
like "401 says how to authenticate, with WWW-Authenticate" "$HTTP_STATUS $HTTP_BODY" '^401 .*"error_code":40101.*Authorization: Bearer'
http GET "$B_URL/v1/products" -H "Authorization: Bearer $JWT_EXPIRED"
like "an expired JWT: 401 saying so" "$HTTP_STATUS $HTTP_BODY" '^401 .*JWT: expired at'

# A path outside the table is held to the strictest rule of its kind (writes: admin).
http POST "$B_URL/subjects/a/b/c/d" -d '{}'
is "a write to a path outside the table without credentials: 401" "$HTTP_STATUS" 401
http POST "$B_URL/subjects/a/b/c/d" -H "Authorization: Bearer $TOK_trip" -d '{}'
is "... with a product's token: 403" "$HTTP_STATUS" 403
http POST "$B_URL/subjects/a/b/c/d" -H "Authorization: Bearer $TOK_admin" -d '{}'
is "... as admin: the Schema Registry's 404" "$HTTP_STATUS" 404

# expect CLASS ACCESS: "pass" (the handler answers, whatever it says) or 401/403.
expect() {
  case "$1:$2" in
    *:open) echo pass ;;
    none:metrics|invalid:metrics|expired:metrics) echo pass ;;
    none:*|invalid:*|expired:*) echo 401 ;;
    wrong:read|wrong:metrics|owner:read|owner:metrics) echo pass ;;
    wrong:*) echo 403 ;;
    owner:admin) echo 403 ;;
    owner:*|admin:*) echo pass ;;
  esac
}
for cls in none invalid expired wrong owner admin; do
  while IFS=$'\t' read -r method path access json; do
    [ "$method" = HEAD ] && continue
    port=$OUT; owner=$TOK_trip
    case "$access" in input-owner|subscription) port=$IN; owner=$TOK_billing ;; esac
    id=1; case "$path" in /v1/subscriptions/*) id=$BID ;; esac
    url=${path//\{product\}/tripExecution/1}; url=${url//\{port\}/$port}; url=${url//\{id\}/$id}
    url=${url//\{subject\}/$SUBJ}; url=${url//\{version\}/1}
    [ "$method $path" = "GET /v1/ports/{port}/records" ] && url="$url?max_records=1&timeout_ms=100"
    auth=()
    case "$cls" in
      invalid) auth=(-H "Authorization: Bearer pbt_not-a-token") ;;
      expired) auth=(-H "Authorization: Bearer $JWT_EXPIRED") ;;
      wrong) auth=(-H "Authorization: Bearer $TOK_spy") ;;
      owner) auth=(-H "Authorization: Bearer $owner") ;;
      admin) auth=(-H "Authorization: Bearer $TOK_admin") ;;
    esac
    body=()
    if [ "$json" = true ]; then
      b='{"matrix":true}'; [ "$path" = /v1/subscriptions ] && b=$SUB_BODY
      body=(-H 'Content-Type: application/json' --data-binary "$b")
    fi
    st=$(curl -sS --max-time 10 -o "$T/m.body" -w '%{http_code}' -X "$method" "${auth[@]}" "${body[@]}" "$B_URL$url")
    want=$(expect "$cls" "$access")
    got=$st; [ "$want" = pass ] && case "$st" in 401|403|429|000) ;; *) got=pass ;; esac
    is "$cls: $method $path ($access) -> $want" "$got" "$want"
    if [ "$got" != "$want" ]; then diag "body: $(head -c 400 "$T/m.body")"; fi
  done < <(jq -r '[.method, .path, .access, (.json|tostring)] | @tsv' "$T/routes.jsonl")
done

plan "$_n"
finish
