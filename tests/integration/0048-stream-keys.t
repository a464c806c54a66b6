#!/usr/bin/env bash
# Keys and unions of logical types through streams, sample and the port CLI (issue 14, DESIGN.md
# §5a and §6), with a real `portbroker serve`, `portbroker kafka`, curl and python3-avro:
# - a port whose keySchema is a record (string, long, date) and one whose keySchema is a long:
#   publish stores the keys as Avro binary (python3-avro decodes them from the topic), and the
#   subscriber's stream, the port's sample and `portbroker consume` give them back decoded like
#   values: natural JSON by default, Avro's JSON encoding with encoding=avro;
# - a value with a union of logical types (timestamp-millis, decimal, date, uuid, null): streams
#   keep the branch wrapped ({"bytes": "12.50"}: §5a's wrapped form, which publish accepts), so
#   what a stream emits, republished with the same encoding (HTTP or `portbroker publish
#   --encoding`), is stored byte for byte as the original (keys and values).
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
plan 27
NS=urn:dpds:com.acme:dataproducts
ORD=$NS:shop:1:outputports:orders
CNT=$NS:shop:1:outputports:counts
IDS=$NS:shop:1:outputports:ids
AMT=$NS:shop:1:outputports:amounts
IN_ORD=$NS:audit:1:inputports:orders
IN_CNT=$NS:audit:1:inputports:counts
KEY_REC='{"type":"record","name":"OrderKey","namespace":"com.acme.shop","fields":[{"name":"region","type":"string"},{"name":"seq","type":"long"},{"name":"day","type":{"type":"int","logicalType":"date"}}]}'
VAL='{"type":"record","name":"Ev","namespace":"com.acme.shop","fields":[{"name":"n","type":"long"},{"name":"u","type":["null",{"type":"long","logicalType":"timestamp-millis"},{"type":"bytes","logicalType":"decimal","precision":10,"scale":2},{"type":"int","logicalType":"date"},{"type":"string","logicalType":"uuid"}],"default":null}]}'
mkdir -p "$T/products"
jq -n --argjson k "$KEY_REC" --argjson v "$VAL" '{dataProductDescriptor: "1.0.0",
  info: {fullyQualifiedName: "urn:dpds:com.acme:dataproducts:shop:1", name: "shop", version: "1.0.0",
         domain: "sales", owner: {id: "shop@acme.example"}},
  interfaceComponents: {outputPorts: [
    {name: "orders", version: "1.0.0", promises: {api: {format: "avro", schema: $v}},
     "x-portbroker": {partitions: 1, access: ["*"], keySchema: $k}},
    {name: "counts", version: "1.0.0", promises: {api: {format: "avro", schema: $v}},
     "x-portbroker": {partitions: 1, access: ["*"], keySchema: "long"}},
    {name: "ids", version: "1.0.0", promises: {api: {format: "avro", schema: $v}},
     "x-portbroker": {partitions: 1, access: ["*"], keySchema: {type: "string", logicalType: "uuid"}}},
    {name: "amounts", version: "1.0.0", promises: {api: {format: "avro", schema: $v}},
     "x-portbroker": {partitions: 1, access: ["*"],
                      keySchema: {type: "bytes", logicalType: "decimal", precision: 6, scale: 2}}}]}}' >"$T/products/shop.json"
jq -n --argjson v "$VAL" '{dataProductDescriptor: "1.0.0",
  info: {fullyQualifiedName: "urn:dpds:com.acme:dataproducts:audit:1", name: "audit", version: "1.0.0",
         domain: "sales", owner: {id: "audit@acme.example"}},
  interfaceComponents: {inputPorts: [
    {name: "orders", version: "1.0.0", from: "shop/1/outputports/orders",
     promises: {api: {format: "avro", schema: $v}}, "x-portbroker": {partitions: 1}},
    {name: "counts", version: "1.0.0", from: "shop/1/outputports/counts",
     promises: {api: {format: "avro", schema: $v}}, "x-portbroker": {partitions: 1}}]}}' >"$T/products/audit.json"

start_kafka 3
start_broker B -o kafka.bootstrap.servers="$BROKERS" -o products.dir="$T/products" \
  -o mesh.namespace=com.acme || bail "broker did not start"
wait_ready "$B_URL" 40 || bail "broker not ready: $(tail -5 "$T/B.log")"
# poll PORT N QUERY OUT: a bounded read of an input port's stream from the start, nothing committed
poll() { curl -sS -N --max-time 45 -o "$4" \
  "$B_URL/v1/ports/$1/records?max_records=$2&timeout_ms=30000&from=earliest&commit=manual$3"; }
# topic PORT KEY_SCHEMA N: the topic's records decoded by python3-avro (keys and values)
topic() { $PY tests/integration/keys_decode.py "$BROKERS" "com.acme.shop.v1.$1" "$2" "$VAL" "$3" \
  2>"$T/decode.err"; }

# ---- publish: record keys (one a branch of the union each) and long keys ----
cat >"$T/orders.json" <<'J'
{"records": [
 {"key": {"region": "eu", "seq": 1, "day": "2025-11-21"}, "value": {"n": 1, "u": {"long": "2026-11-21T10:15:30.123+01:00"}}},
 {"key": {"region": "us", "seq": 2, "day": 20413}, "value": {"n": 2, "u": {"bytes": "2.56"}}},
 {"key": {"region": "eu\"\n\u00e9", "seq": -3, "day": "1969-12-31"}, "value": {"n": 3, "u": {"int": "2025-11-22"}}},
 {"key": {"region": "", "seq": 9007199254740993, "day": 0}, "value": {"n": 4, "u": {"string": "00000000-0000-4000-9000-000000000004"}}},
 {"key": {"region": "x", "seq": 0, "day": 1}, "value": {"n": 5, "u": null}}]}
J
http POST "$B_URL/v1/ports/$ORD/records" --data-binary @"$T/orders.json"
is "publish 5 records with record keys: 200, 5 offsets" \
  "$HTTP_STATUS $(jq '[.results[] | select(.offset >= 0)] | length' <<<"$HTTP_BODY")" "200 5"
http POST "$B_URL/v1/ports/$CNT/records" -d '{"records":[{"key":42,"value":{"n":1}},{"key":-7,"value":{"n":2}}]}'
is "publish 2 records with long keys: 200" "$HTTP_STATUS" 200

# ---- what Kafka holds: python3-avro reads the keys as Avro binary of the key schema ----
topic orders "$KEY_REC" 5 >"$T/k1.jsonl"
# (jq reads numbers as doubles: the long past 2^53 is checked in the text)
is "python3-avro: the 5 record keys as written (date as the day meant)" \
  "$(jq -sc '[.[].key | [.region, .day]]' "$T/k1.jsonl") $(grep -c '"seq": 9007199254740993' "$T/k1.jsonl")" \
  '[["eu","2025-11-21"],["us","2025-11-21"],["eu\"\né","1969-12-31"],["","1970-01-01"],["x","1970-01-02"]] 1'
is "python3-avro: the union values as written" \
  "$(jq -sc '[.[].value.u]' "$T/k1.jsonl")" \
  '["2026-11-21T09:15:30.123000+00:00","2.56","2025-11-22","00000000-0000-4000-9000-000000000004",null]'
is "python3-avro: the long keys" "$(topic counts '"long"' 2 | jq -sc '[.[].key]')" '[42,-7]'
is "kcat: the long keys are bare Avro varints (42 -> 0x54, -7 -> 0x0d), no Confluent frame" \
  "$(timeout 30 kcat -b "$BROKERS" -C -t com.acme.shop.v1.counts -o beginning -c 2 -e -f '%K %k\n' 2>/dev/null | od -An -c | tr -s ' \n' ' ')" \
  ' 1 T \n 1 \r \n '

# ---- the subscriber's stream decodes the keys ----
poll "$IN_ORD" 5 "" "$T/nat.ndjson"
is "audit's orders stream: 5 records, keys as natural JSON objects (date as YYYY-MM-DD)" \
  "$(jq -sc '[.[].key | del(.seq)]' "$T/nat.ndjson") $(jq -sc '[.[].key.seq][0:3]' "$T/nat.ndjson")" \
  '[{"region":"eu","day":"2025-11-21"},{"region":"us","day":"2025-11-21"},{"region":"eu\"\né","day":"1969-12-31"},{"region":"","day":"1970-01-01"},{"region":"x","day":"1970-01-02"}] [1,2,-3]'
is "the long past 2^53 is exact in the stream's text" "$(grep -c '"seq":9007199254740993' "$T/nat.ndjson")" 1
is "union values stay wrapped, logical types as text (DESIGN.md §5a)" \
  "$(jq -sc '[.[].value.u]' "$T/nat.ndjson")" \
  '[{"long":"2026-11-21T09:15:30.123Z"},{"bytes":"2.56"},{"int":"2025-11-22"},{"string":"00000000-0000-4000-9000-000000000004"},null]'
poll "$IN_ORD" 5 "&encoding=avro" "$T/avro.ndjson"
is "encoding=avro: keys in Avro's JSON encoding (the date its integer)" \
  "$(jq -sc '[.[].key.day]' "$T/avro.ndjson")" '[20413,20413,-1,0,1]'
is "encoding=avro: union values as Avro JSON (decimal bytes as code points)" \
  "$(jq -sc '[.[].value.u | if type == "object" and has("bytes") then {bytes: (.bytes | explode)} else . end]' "$T/avro.ndjson")" \
  '[{"long":1795252530123},{"bytes":[1,0]},{"int":20414},{"string":"00000000-0000-4000-9000-000000000004"},null]'
poll "$IN_CNT" 2 "" "$T/cnt.ndjson"
is "audit's counts stream: long keys as JSON numbers" "$(jq -sc '[.[].key]' "$T/cnt.ndjson")" '[42,-7]'

# ---- the output port's sample and portbroker consume ----
http GET "$B_URL/v1/ports/$ORD/sample?limit=5"
is "sample of orders: keys decoded" \
  "$HTTP_STATUS $(jq -c '[.records[].key.day] | sort' <<<"$HTTP_BODY")" \
  '200 ["1969-12-31","1970-01-01","1970-01-02","2025-11-21","2025-11-21"]'
"$PB_BIN" consume "$IN_CNT" --url "$B_URL" --max 2 --from earliest --wait-ms 30000 -f '%k\n' \
  >"$T/consume.out" 2>"$T/consume.err"
is "portbroker consume: exit 0, the long keys" "$? $(tr '\n' ' ' <"$T/consume.out")" "0 42 -7 "

# ---- round trip: what a stream emits, published again with the same encoding, is the same bytes ----
# (python3's json keeps integers exact; jq would round the long past 2^53)
$PY -c 'import json,sys; print(json.dumps({"records": [{"key": r["key"], "value": r["value"]} for r in map(json.loads, open(sys.argv[1]))]}))' \
  "$T/nat.ndjson" >"$T/again-nat.json"
http POST "$B_URL/v1/ports/$ORD/records" --data-binary @"$T/again-nat.json"
is "the natural stream output republished (HTTP, default encoding): 200" "$HTTP_STATUS" 200
$PY -c 'import json,sys; [print(json.dumps({"key": r["key"], "value": r["value"]})) for r in map(json.loads, open(sys.argv[1]))]' \
  "$T/avro.ndjson" >"$T/again-avro.ndjson"
"$PB_BIN" publish "$ORD" --url "$B_URL" --encoding avro -f "$T/again-avro.ndjson" 2>"$T/pub.err"
is "the avro stream output republished with portbroker publish --encoding avro: exit 0" \
  "$? $(tail -1 "$T/pub.err")" "0 portbroker publish: $T/again-avro.ndjson -> $ORD: 5 acknowledged, 0 failed, 1 batches"
"$PB_BIN" publish "$ORD" --url "$B_URL" <"$T/again-avro.ndjson" 2>"$T/pub2.err"
like "the same Avro JSON without --encoding avro: refused (a decimal's code points are not its text)" \
  "$? $(tr '\n' ' ' <"$T/pub2.err")" '^1 .*line 2: /value/u/bytes: decimal'
topic orders "$KEY_REC" 15 >"$T/k2.jsonl"
is "python3-avro reads 15 records" "$(grep -c . "$T/k2.jsonl")" 15
is "records i, i+5 and i+10 hold the same key and value bytes" \
  "$(jq -sc '[range(5) as $i | [.[$i], .[$i+5], .[$i+10]] | map([.khex, .vhex]) | unique | length]' "$T/k2.jsonl")" \
  '[1,1,1,1,1]'
"$PB_BIN" publish "$ORD" --url "$B_URL" --encoding xml </dev/null >"$T/bad.out" 2>&1
like "publish --encoding xml: exit 2 naming json, avro" "$? $(cat "$T/bad.out")" \
  "^2 portbroker publish: --encoding: 'xml' is not one of json, avro"

# ---- keys whose schema is a string or bytes with a logical type are that type, not raw bytes ----
http POST "$B_URL/v1/ports/$IDS/records" -d '{"records":[{"key":"INV-1","value":{"n":1}}]}'
like "uuid keySchema: a key that is not a UUID is a 422 naming /key" "$HTTP_STATUS $HTTP_BODY" '^422 .*"path":"/key".*is not a UUID'
http POST "$B_URL/v1/ports/$IDS/records" -d '{"records":[{"key":"00000000-0000-4000-8000-00000000000a","value":{"n":1}}]}'
is "uuid keySchema: a UUID key is taken" "$HTTP_STATUS" 200
is "python3-avro reads the uuid key as Avro binary of the key schema" \
  "$(topic ids '{"type":"string","logicalType":"uuid"}' 1 | jq -c '.key')" '"00000000-0000-4000-8000-00000000000a"'
http POST "$B_URL/v1/ports/$AMT/records" -d '{"records":[{"key":"12.50","value":{"n":1}},{"key":-0.07,"value":{"n":2}}]}'
is "decimal keySchema: keys as text and as a JSON number are taken" "$HTTP_STATUS" 200
is "python3-avro reads the decimal keys as decimals (not the text's bytes)" \
  "$(topic amounts '{"type":"bytes","logicalType":"decimal","precision":6,"scale":2}' 2 | jq -sc '[.[].key]')" '["12.50","-0.07"]'

# ---- a key its port's schema cannot read (another producer wrote it): its bytes as a string ----
$PY -c 'import sys; from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1]})
p.produce("com.acme.shop.v1.counts", key=b"\x80", value=b"x", headers=[("ce_source", sys.argv[2].encode())])
sys.exit(0 if p.flush(20) == 0 else 1)' "$BROKERS" "$CNT" || bail "python produce failed"
http GET "$B_URL/v1/ports/$CNT/sample?limit=3"
is "sample: a long key that does not decode (0x80, a cut varint) is the string U+0080, the others decode" \
  "$HTTP_STATUS $(jq -c '[.records[].key | if type == "string" then explode else . end]' <<<"$HTTP_BODY")" \
  '200 [[128],-7,42]'

stop_pid "$B_PID" 15
is "broker stops cleanly" "$STOP_RC" 0
finish
