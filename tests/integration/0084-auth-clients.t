#!/usr/bin/env bash
# Confluent clients unchanged with credentials (DESIGN §9): python3-confluent-kafka's
# SchemaRegistryClient with basic.auth.user.info and @kafkajs/confluent-schema-registry with
# auth: {username, password}, the password being a portbroker token.
. "$(dirname "$0")/lib.sh"
[ -d tests/js/node_modules/@kafkajs ] || bail "tests/js/node_modules missing: run make test-deps"
NS=urn:dpds:com.acme:dataproducts
for p in "trip $NS:tripExecution:*" "billing $NS:billing:1"; do
  set -- $p
  out=$("$PB_BIN" token "$2") || bail "portbroker token failed"
  eval "TOK_$1=$(sed -n 's/^token: //p' <<<"$out")"
  sed -n 's/^line: *//p' <<<"$out" >>"$T/tokens.txt"
done
start_broker B -o mesh.namespace=com.acme -o auth.tokens.file="$T/tokens.txt" || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
SUBJ=com.acme.tripExecution.v1.tripEvents-value
echo "# python3-confluent-kafka"
timeout 60 /usr/bin/python3 tests/py/sr_auth.py "$B_URL" "$SUBJ" "$TOK_trip" "$TOK_billing" >"$T/py.tap"
py_rc=${PIPESTATUS[0]}
echo "# kafkajs"
(cd tests/js && timeout 60 node sr_auth.js "$B_URL" "$SUBJ" "$TOK_trip") >"$T/js.tap"
js_rc=$?
# Re-number both clients' points into this script's plan.
while read -r line; do
  case "$line" in
    ok\ *) ok "python: ${line#*- }" ;;
    not\ ok\ *) not_ok "python: ${line#*- }" ;;
    \#*) echo "$line" ;;
  esac
done <"$T/py.tap"
while read -r line; do
  case "$line" in
    ok\ *) ok "kafkajs: ${line#*- }" ;;
    not\ ok\ *) not_ok "kafkajs: ${line#*- }" ;;
    \#*) echo "$line" ;;
  esac
done <"$T/js.tap"
is "python client script exit" "$py_rc" 0
is "kafkajs client script exit" "$js_rc" 0
plan "$_n"
finish
