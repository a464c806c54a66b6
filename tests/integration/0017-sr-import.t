#!/usr/bin/env bash
# Migration (issue 19 point 5): `portbroker registry import --from URL` copies a running
# Confluent-compatible registry into a portbroker. A second portbroker on its own embedded cluster
# stands in for the source (it speaks the same API); the target runs on 'portbroker kafka'. Ids,
# versions, levels, modes, references and data contracts identical; a re-run copies nothing twice;
# a version the target holds with another id is refused with the reason; records framed with the
# source's ids route through the target once the products are declared.
. "$(dirname "$0")/lib.sh"
[ -d tests/js/node_modules/kafkajs ] || bail "tests/js/node_modules missing: run deploy/install-deps.sh --test"
plan 27
mkdir -p "$T/none"
start_kafka 3
start_broker S -o products.dir="$T/none" || bail "source did not start"
start_broker B -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme -o products.dir="$T/none" || bail "target did not start"
wait_ready "$S_URL" && wait_ready "$B_URL" || bail "not ready"
timeout 60 /usr/bin/python3 tests/sr_cases.py "$S_URL" tests/data/sr/import/source.case >"$T/source.tap"
check "the source registry is set up (tests/data/sr/import/source.case)" grep -q '^1\.\.' "$T/source.tap" -a ! grep -q '^not ok' "$T/source.tap"
grep '^not ok' -A3 "$T/source.tap" | sed 's/^/# /'

# --- the import ---
"$PB_BIN" registry import --from "$S_URL" --to "$B_URL" --json >"$T/imp1.json" 2>"$T/imp1.err"
is "import: exit 0" "$?" 0
is "import: every live version copied (7), none refused" "$(jq -c '[.versions, .copied, .present, (.refused | length)]' "$T/imp1.json")" '[7,7,0,0]'
is "import: 2 subject levels, the subject mode and the global level set" "$(jq .settings "$T/imp1.json")" 4

snapshot() { # snapshot URL: every subject's versions with id, schema, references, metadata, ruleSet, level, mode
  local u=$1 s
  for s in $(curl -s --max-time 5 "$u/subjects" | jq -r '.[]'); do
    for v in $(curl -s --max-time 5 "$u/subjects/$s/versions" | jq '.[]'); do
      curl -s --max-time 5 "$u/subjects/$s/versions/$v" | jq -c '{subject, version, id, schema, references, metadata, ruleSet}'
    done
    echo "$s level=$(curl -s --max-time 5 "$u/config/$s" | jq -r '.compatibilityLevel // "-"') mode=$(curl -s --max-time 5 "$u/mode/$s" | jq -r '.mode // "-"')"
  done
  echo "global level=$(curl -s --max-time 5 "$u/config" | jq -r .compatibilityLevel) mode=$(curl -s --max-time 5 "$u/mode" | jq -r .mode)"
}
snapshot "$S_URL" >"$T/src.snap"
snapshot "$B_URL" >"$T/dst.snap"
check "target and source: the same subjects, versions, ids, schemas, references, contracts, levels, modes" diff "$T/src.snap" "$T/dst.snap"
is "ids kept: the shop's orders is id 4, the referrer id 6" "$(curl -s "$B_URL/subjects/com.acme.shop.v1.orders-value/versions/1" | jq .id) $(curl -s "$B_URL/subjects/refunds-value/versions/1" | jq .id)" "4 6"
is "soft-deleted versions are not copied: legacy-value has versions 1 and 3" "$(curl -s "$B_URL/subjects/legacy-value/versions?deleted=true" | jq -c .)" '[1,3]'
is "levels: legacy-value NONE, global FULL" "$(curl -s "$B_URL/config/legacy-value" | jq -r .compatibilityLevel) $(curl -s "$B_URL/config" | jq -r .compatibilityLevel)" "NONE FULL"
is "modes: frozen-value READONLY; imported subjects back to the global mode" "$(curl -s "$B_URL/mode/frozen-value" | jq -r .mode) $(curl -s "$B_URL/mode/legacy-value" | jq -r .error_code)" "READONLY 40409"
is "the referencing schema resolves in the target (referencedby)" "$(curl -s "$B_URL/subjects/com.acme.shared.Money/versions/1/referencedby" | jq -c .)" '[6]'
is "the data contract came along" "$(curl -s "$B_URL/subjects/contract-value/versions/1" | jq -c '[.metadata.properties.owner, .ruleSet.domainRules[0].name]')" '["risk","notEmpty"]'
http POST "$B_URL/subjects/frozen-value/versions" -H 'Content-Type: application/vnd.schemaregistry.v1+json' -d '{"schema":"\"string\""}'
like "the frozen subject refuses writes in the target too (42205)" "$HTTP_STATUS $HTTP_BODY" '^422 .*42205'
http POST "$B_URL/subjects/brand-new/versions" -H 'Content-Type: application/vnd.schemaregistry.v1+json' -d '{"schema":"{\"type\":\"fixed\",\"name\":\"F\",\"size\":2}"}'
like "a new schema in the target gets an id above every imported one" "$HTTP_STATUS $(jq .id <<<"$HTTP_BODY")" '^200 (1[0-9]|[2-9][0-9])$'

# --- a re-run copies nothing twice ---
"$PB_BIN" registry import --from "$S_URL" --to "$B_URL" --json >"$T/imp2.json" 2>"$T/imp2.err"
is "re-run: exit 0" "$?" 0
is "re-run: nothing copied, every version already present, no setting changed" "$(jq -c '[.copied, .present, (.refused | length), .settings]' "$T/imp2.json")" '[0,7,0,0]'
snapshot "$B_URL" | grep -v brand-new >"$T/dst2.snap"
check "re-run: the target is unchanged" diff "$T/dst.snap" "$T/dst2.snap"
"$PB_BIN" registry import --from "$S_URL" --to "$B_URL" >"$T/imp3.txt" 2>&1
like "the text summary" "$(tr '\n' ' ' <"$T/imp3.txt")" 'copied \(ids and versions kept\): 0 .*already present in the target: 7 .*refused: 0'

# --- refusals are named, nothing is overwritten ---
curl -s -X POST "$S_URL/subjects/clash-value/versions" -H 'Content-Type: application/vnd.schemaregistry.v1+json' -d '{"schema":"\"double\""}' >/dev/null
curl -s -X POST "$B_URL/subjects/clash-value/versions" -H 'Content-Type: application/vnd.schemaregistry.v1+json' -d '{"schema":"\"boolean\""}' >/dev/null
"$PB_BIN" registry import --from "$S_URL" --to "$B_URL" --subjects clash --json >"$T/imp4.json" 2>"$T/imp4.err"
is "a clash: exit 1" "$?" 1
like "the refusal names the subject, version, ids and why" "$(jq -c '.refused[0]' "$T/imp4.json")" '"subject":"clash-value","version":1,"id":[0-9]+,"reason":"the target.s version 1 of this subject holds id [0-9]+, not [0-9]+: not overwritten"'
is "the target's version is kept" "$(curl -s "$B_URL/subjects/clash-value/versions/1/schema")" '"boolean"'
"$PB_BIN" registry import --from http://127.0.0.1:1 --to "$B_URL" >/dev/null 2>"$T/imp5.err"
is "an unreachable source: exit 2" "$?" 2
like "and says which one and why" "$(cat "$T/imp5.err")" 'source registry http://127.0.0.1:1: connect to 127.0.0.1:1'
"$PB_BIN" registry import --to "$B_URL" >/dev/null 2>"$T/imp6.err"
like "--from is required: exit 2" "$? $(cat "$T/imp6.err")" '^2 .*--from URL is required'

# --- records framed with the source's ids route through the target ---
D=tests/data/sr/products
http PUT "$B_URL/v1/products/shop/1" -d "$(cat $D/shop.json)"
like "the shop product is declared on the imported subject: no new version" "$HTTP_STATUS $(jq -c '.ports[0] | [.id, .version]' <<<"$HTTP_BODY")" '^20[01] \[4,1\]$'
http PUT "$B_URL/v1/products/ledger/1" -d "$(cat $D/ledger.json)"
is "the ledger subscribes to it" "$HTTP_STATUS" 201
wait_until 30 grep -q "router started: .*shop:1:outputports:orders" "$T/B.log" || diag "no router line yet"
out=$(timeout 90 node tests/js/sr_import_route.js "$B_URL" "$BROKERS" 4 3)
is "kafkajs framed 3 records with the source's id 4" "$(jq -c .frame <<<"$out")" '[4,4,4]'
is "they were routed into the ledger's input port and decode there" "$(jq -c '[.routed[] | .orderId] | sort' <<<"$out")" '["m-0","m-1","m-2"]'
finish
