#!/usr/bin/env bash
# TLS on the HTTP listener with certificates made here by openssl: HTTPS only (curl --cacert
# works, plain HTTP to the port fails), mTLS where a client certificate's URI SAN (a product URN)
# is the principal, a certificate from another CA refused, and SIGHUP serving a renewed
# certificate (its fingerprint changes) on the same listener.
. "$(dirname "$0")/lib.sh"
NS=urn:dpds:com.acme:dataproducts
cd "$T" || bail "no temp dir"
ossl() { openssl "$@" 2>>"$T/openssl.log" || bail "openssl $1 failed: $(tail -3 "$T/openssl.log")"; }
ca() { ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.crt" -subj "/CN=$1" -days 2; }
# leaf NAME CA CN SAN: a certificate for NAME signed by CA
leaf() {
  ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$3"
  printf 'subjectAltName=%s\n' "$4" >"$1.ext"
  ossl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -set_serial "0x$(openssl rand -hex 8)" -days 2 -extfile "$1.ext" -out "$1.crt"
}
ca ca; ca otherca
leaf server ca 127.0.0.1 IP:127.0.0.1
leaf billing ca billing-client "URI:$NS:billing:1"
leaf rogue otherca rogue "URI:$NS:billing:1"
cd - >/dev/null || exit 1
"$PB_BIN" serve -o http.listen=127.0.0.1:0 -o http.tls.cert.file="$T/server.crt" >/dev/null 2>"$T/half.err"
like "a certificate without its key: exit 2 naming both keys" "$? $(cat "$T/half.err")" '^2 .*http.tls.cert.file and http.tls.key.file go together'
start_broker B -o mesh.namespace=com.acme -o http.tls.cert.file="$T/server.crt" -o http.tls.key.file="$T/server.key" \
  -o http.tls.client.ca.file="$T/ca.crt" || bail "serve did not start"
PORT=$(cat "$T/B.port"); S=https://127.0.0.1:$PORT
c() { curl -sS --max-time 10 --cacert "$T/ca.crt" "$@"; }
wait_until 30 c -f "$S/readyz" || bail "not ready over https"
is "curl --cacert: /healthz over HTTPS 200" "$(c -o /dev/null -w '%{http_code}' "$S/healthz")" 200
like "the log says https" "$(grep 'listening on' "$T/B.log")" "listening on https://127.0.0.1:$PORT"
out=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz" 2>&1)
like "plain HTTP to the TLS port fails" "$out" '^(000|curl)|Empty reply|reset|000$'
is "a client that does not trust the CA refuses the server" "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$S/healthz")" 000
http GET "$S/v1/products" --cacert "$T/ca.crt"
is "mTLS on, no certificate, no token: 401" "$HTTP_STATUS" 401
http GET "$S/v1/ports/billing/1/inputports/trips/records?max_records=1&timeout_ms=100" --cacert "$T/ca.crt" --cert "$T/billing.crt" --key "$T/billing.key"
is "a client certificate with URI SAN billing: billing reads its stream (200)" "$HTTP_STATUS" 200
http POST "$S/v1/ports/tripExecution/1/outputports/tripEvents/records" --cacert "$T/ca.crt" --cert "$T/billing.crt" --key "$T/billing.key" -H 'Content-Type: application/json' -d '{"records":[]}'
like "... but may not publish to trip's port: 403 naming the certificate's principal" "$HTTP_STATUS $HTTP_BODY" "^403 .*principal $NS:billing:1"
out=$(curl -sS --max-time 5 --cacert "$T/ca.crt" --cert "$T/rogue.crt" --key "$T/rogue.key" -o /dev/null -w '%{http_code}' "$S/v1/products" 2>&1)
like "a client certificate from another CA is refused in the handshake" "$out" '000'
fp() { openssl s_client -connect "127.0.0.1:$PORT" -servername 127.0.0.1 </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256; }
FP1=$(fp)
like "the served certificate's fingerprint" "$FP1" 'Fingerprint='
cd "$T" && leaf server2 ca 127.0.0.1 IP:127.0.0.1 && cd - >/dev/null
cp "$T/server2.crt" "$T/server.crt.new" && cp "$T/server2.key" "$T/server.key.new"
mv "$T/server.key.new" "$T/server.key" && mv "$T/server.crt.new" "$T/server.crt"
kill -HUP "$B_PID"
wait_until 10 grep -q 'certificate reloaded' "$T/B.log"
FP2=$(fp)
if [ -n "$FP2" ] && [ "$FP1" != "$FP2" ]; then ok "after SIGHUP the renewed certificate is served"; else not_ok "after SIGHUP the renewed certificate is served" "before $FP1" "after  $FP2"; fi
is "same listener, same port, still answering" "$(c -o /dev/null -w '%{http_code}' "$S/healthz")" 200
echo broken >"$T/server.crt"
kill -HUP "$B_PID"
wait_until 10 grep -q 'certificate reload refused' "$T/B.log"
like "a broken certificate on SIGHUP is refused, naming the file" "$(grep 'certificate reload refused' "$T/B.log")" "http.tls.cert.file $T/server.crt"
is "... and the renewed one is still served" "$(fp)" "$FP2"
plan "$_n"
finish
