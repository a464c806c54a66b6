#!/usr/bin/env bash
# JWT bearer tokens (OIDC) signed by npm jose: RS256 and ES256 checked against a JWKS from a file
# and from a URL served on 127.0.0.1 (refreshed in the background: a rotated key is picked up);
# tampered signature, another key, wrong issuer or audience, expired, alg none and HS256 → 401.
. "$(dirname "$0")/lib.sh"
[ -d tests/js/node_modules/jose ] || bail "tests/js/node_modules missing: run make test-deps"
NS=urn:dpds:com.acme:dataproducts
ISS=https://idp.test AUD=portbroker
mkdir -p "$T/k1" "$T/k2" "$T/www"
(cd tests/js && node jwt_tool.mjs keys "$T/k1" && node jwt_tool.mjs keys "$T/k2") || bail "jose could not make keys"
jwt() { (cd tests/js && node jwt_tool.mjs sign "$@"); } # jwt DIR ALG SUB ISS AUD EXP
start_broker F -o mesh.namespace=com.acme -o auth.jwks.file="$T/k1/jwks.json" \
  -o auth.jwt.issuer=$ISS -o auth.jwt.audience=$AUD || bail "serve did not start"
wait_ready "$F_URL" || bail "not ready"
A() { echo "Authorization: Bearer $1"; }

RS=$(jwt "$T/k1" RS256 "$NS:billing:1" $ISS $AUD 300)
ES=$(jwt "$T/k1" ES256 admin $ISS $AUD 300)
http GET "$F_URL/v1/products" -H "$(A "$RS")"
is "RS256 JWT (jose) for billing: catalog read 200" "$HTTP_STATUS" 200
http GET "$F_URL/v1/ports/billing/1/inputports/trips/records?max_records=1&timeout_ms=100" -H "$(A "$RS")"
is "... billing reads its own stream: 200" "$HTTP_STATUS" 200
http POST "$F_URL/v1/ports/tripExecution/1/outputports/tripEvents/records" -H "$(A "$RS")" -H 'Content-Type: application/json' -d '{"records":[]}'
like "... but may not publish to trip's port: 403 naming the principal" "$HTTP_STATUS $HTTP_BODY" "^403 .*principal $NS:billing:1"
http PUT "$F_URL/config" -H "$(A "$ES")" -d '{"compatibility":"BACKWARD"}'
is "ES256 JWT for admin: global config 200" "$HTTP_STATUS" 200
http PUT "$F_URL/config" -u "client:$ES" -d '{"compatibility":"BACKWARD"}'
is "... the same JWT as a Basic password: 200" "$HTTP_STATUS" 200

refuse() { # refuse DESCRIPTION TOKEN REGEX
  http GET "$F_URL/v1/products" -H "$(A "$2")"
  like "$1: 401" "$HTTP_STATUS $HTTP_BODY" "^401 .*$3"
}
# Flip one character of the payload: the signature no longer holds.
p=${RS#*.}; p=${p%%.*}; c=${p:10:1}; [ "$c" = A ] && n=B || n=A
refuse "tampered payload" "${RS%%.*}.${p:0:10}$n${p:11}.${RS##*.}" "signature does not verify"
refuse "signed by a key not in the JWKS" "$(jwt "$T/k2" ES256 admin $ISS $AUD 300)" "signature does not verify"
refuse "wrong issuer" "$(jwt "$T/k1" ES256 admin https://evil.test $AUD 300)" "issuer"
refuse "wrong audience" "$(jwt "$T/k1" ES256 admin $ISS other 300)" "audience"
refuse "expired (beyond the leeway)" "$(jwt "$T/k1" RS256 admin $ISS $AUD -120)" "expired at"
b64() { printf '%s' "$1" | base64 -w0 | tr '+/' '-_' | tr -d '='; }
body=$(b64 "{\"sub\":\"admin\",\"iss\":\"$ISS\",\"aud\":\"$AUD\",\"exp\":$(( $(date +%s) + 300 ))}")
refuse "alg none" "$(b64 '{"alg":"none"}').$body." "alg 'none' is refused"
sig=$(printf '%s' "$(b64 '{"alg":"HS256"}').$body" | openssl dgst -sha256 -hmac "$(cat "$T/k1/jwks.json")" -binary | base64 -w0 | tr '+/' '-_' | tr -d '=')
refuse "alg HS256 keyed with the public JWKS" "$(b64 '{"alg":"HS256"}').$body.$sig" "alg 'HS256' is refused"
refuse "a principal that is not one" "$(jwt "$T/k1" ES256 bob $ISS $AUD 300)" "claim .{1,2}sub"

# --- SIGHUP re-reads auth.jwks.file ---
cp "$T/k1/jwks.json" "$T/k1-only.json"
K2=$(jwt "$T/k2" ES256 admin $ISS $AUD 300)
http GET "$F_URL/v1/products" -H "$(A "$K2")"
is "a key not in the JWKS file: 401" "$HTTP_STATUS" 401
jq -c -s '{keys: (.[0].keys + .[1].keys)}' "$T/k1/jwks.json" "$T/k2/jwks.json" >"$T/both.json"
cp "$T/both.json" "$T/k1/jwks.json.new" && mv "$T/k1/jwks.json.new" "$T/k1/jwks.json"
kill -HUP "$F_PID"
wait_until 10 sh -c "curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H 'Authorization: Bearer $K2' '$F_URL/v1/products' | grep -qx 200"
is "after SIGHUP the JWKS file's new key is accepted" "$?" 0

# --- JWKS from a URL, refreshed in the background ---
cp "$T/k1-only.json" "$T/www/jwks.json"
python3 - "$T/www" "$T/www.port" <<'PY' >"$T/www.log" 2>&1 &
import functools, http.server, sys
h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), h)
open(sys.argv[2], "w").write(str(s.server_address[1]))
s.serve_forever()
PY
WWW_PID=$!; _pids+=("$WWW_PID")
wait_until 10 test -s "$T/www.port" || bail "the JWKS server did not start"
start_broker U -o mesh.namespace=com.acme -o registry.topic=_pb_jwks_url \
  -o auth.jwks.url="http://127.0.0.1:$(cat "$T/www.port")/jwks.json" -o auth.jwks.refresh.ms=1000 \
  -o auth.jwks.max.bytes=20000 -o auth.jwks.timeout.ms=2000 -o auth.jwt.issuer=$ISS -o auth.jwt.audience=$AUD || bail "serve (jwks url) did not start"
wait_ready "$U_URL" || bail "U not ready"
ok200() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H "Authorization: Bearer $1" "$U_URL/v1/products")" = 200 ]; }
wait_until 10 ok200 "$RS"
is "auth.jwks.url: a JWT signed by a served key is accepted" "$?" 0
K2=$(jwt "$T/k2" ES256 admin $ISS $AUD 300)
http GET "$U_URL/v1/products" -H "$(A "$K2")"
is "a key not served yet: 401" "$HTTP_STATUS" 401
cp "$T/k2/jwks.json" "$T/www/jwks.json.tmp" && mv "$T/www/jwks.json.tmp" "$T/www/jwks.json"
wait_until 10 ok200 "$K2"
is "the rotated key is picked up by the background refresh" "$?" 0
# An answer over auth.jwks.max.bytes is refused, named in the log, and the keys held stay.
jq -c --arg pad "$(head -c 30000 /dev/zero | tr '\0' x)" '. + {pad: $pad}' "$T/k2/jwks.json" >"$T/www/jwks.json.tmp" \
  && mv "$T/www/jwks.json.tmp" "$T/www/jwks.json"
wait_until 10 grep -q "answer larger than 20000 bytes" "$T/U.log"
is "a JWKS answer over auth.jwks.max.bytes (30 kB > 20000) is refused and logged" "$?" 0
ok200 "$K2"
is "... and the key held before is still accepted" "$?" 0
http GET "$U_URL/healthz"
is "the loop stayed responsive" "$HTTP_STATUS" 200
plan "$_n"
finish
