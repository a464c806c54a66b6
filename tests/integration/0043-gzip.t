#!/usr/bin/env bash
# gzip both ways (issue #16, DESIGN.md §5): publish bodies with Content-Encoding: gzip (curl and
# Python's http.client), a gzip bomb refused with 413 after at most publish.max.body.bytes + 1
# bytes inflated, corrupt and truncated gzip 400; replies and subscriber streams gzip-compressed
# for clients that send Accept-Encoding: gzip (curl --compressed; http.client decoding the stream
# incrementally: every record is readable as soon as it is written, not only at the end).
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
plan 18
start_kafka 3
start_broker B -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme \
  -o publish.max.body.bytes=65536 || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
TOPIC=com.acme.tripExecution.v1.tripEvents
URL="$B_URL/v1/ports/tripExecution/1/outputports/tripEvents/records"
REC='{"eventId":"0b0e7f06-9c3e-4c07-8d8e-2f2b9c7a1a11","tripId":"1b0e7f06-9c3e-4c07-8d8e-2f2b9c7a1a11","occurredAt":1700000000000,"eventType":"STARTED","customerId":"c1","vehicle":{"vehicleId":"v1","kind":"VAN","capacityKg":500},"route":{"origin":{"name":"A","lat":1.0,"lon":2.0},"destination":{"name":"B","lat":3.0,"lon":4.0}},"distanceKm":12.5,"serviceDate":19000}'
count() { kcat -b "$BROKERS" -C -t "$TOPIC" -e -q -f '.\n' 2>/dev/null | wc -l; }
pub() {
  local f=$1; shift
  HTTP_STATUS=$(curl -sS --max-time 20 -o "$T/pub.body" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"$f" "$@" "$URL")
  HTTP_BODY=$(cat "$T/pub.body")
}

# ---- publish: gzip request bodies ----
jq -cn --argjson v "$REC" '{records: [range(0; 20) | {key: "k\(.)", value: $v, id: "gz-\(.)"}]}' >"$T/b.json"
gzip -c "$T/b.json" >"$T/b.json.gz"
pub "$T/b.json.gz" -H 'Content-Encoding: gzip'
is "curl, gzip body: 200 with 20 results" "$HTTP_STATUS $(echo "$HTTP_BODY" | jq '.results | length')" "200 20"
R=$($PY - "$URL" "$REC" <<'PYEOF'
import gzip, http.client, json, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
body = "\n".join(json.dumps({"key": "py%d" % i, "value": json.loads(sys.argv[2]), "id": "py-%d" % i}) for i in range(5)).encode()
c = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
c.request("POST", u.path, body=gzip.compress(body), headers={"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"})
r = c.getresponse()
d = json.loads(r.read())
print(r.status, [x["id"] for x in d["results"]])
PYEOF
)
is "http.client, gzip NDJSON body: 200, ids kept" "$R" "200 ['py-0', 'py-1', 'py-2', 'py-3', 'py-4']"
HTTP_STATUS=$(curl -sS --max-time 20 --compressed -D "$T/pubz.h" -o "$T/pubz.body" -w '%{http_code}' -H 'Content-Type: application/json' -H 'Content-Encoding: gzip' --data-binary @"$T/b.json.gz" "$URL")
is "publish with curl --compressed: the results come back gzip-compressed and decode" \
  "$HTTP_STATUS $(tr -d '\r' <"$T/pubz.h" | grep -ci '^content-encoding: gzip') $(jq '.results | length' "$T/pubz.body")" "200 1 20"
# two gzip members back to back (what `cat a.gz b.gz` gives) are one body
jq -cn --argjson v "$REC" '{key: "m1", value: $v}' | gzip -c >"$T/m.gz"
jq -cn --argjson v "$REC" '{key: "m2", value: $v}' | gzip -c >>"$T/m.gz"
HTTP_STATUS=$(curl -sS --max-time 20 -o "$T/pub.body" -w '%{http_code}' -H 'Content-Type: application/x-ndjson' -H 'Content-Encoding: gzip' --data-binary @"$T/m.gz" "$URL")
is "a body of two gzip members: both records" "$HTTP_STATUS $(jq '.results | length' "$T/pub.body")" "200 2"
before=$(count)
is "Kafka holds 27 records (the --compressed publish resent the 20 gz- ids: duplicates, not stored again)" "$before" 27

# a gzip bomb: 5 MB of spaces in about 5 KB
{ printf '{"records": ['; head -c 5000000 /dev/zero | tr '\0' ' '; printf ']}'; } | gzip -9 -c >"$T/bomb.gz"
pub "$T/bomb.gz" -H 'Content-Encoding: gzip'
like "$(stat -c %s "$T/bomb.gz") bytes of gzip inflating to 5 MB: 413 naming publish.max.body.bytes" "$HTTP_STATUS $HTTP_BODY" '^413 .*decompresses to more than 65536 bytes.*"limit":"publish.max.body.bytes"'
printf 'not gzip at all' >"$T/junk.gz"
pub "$T/junk.gz" -H 'Content-Encoding: gzip'
like "not gzip: 400 saying so" "$HTTP_STATUS $HTTP_BODY" '^400 .*body is not valid gzip'
head -c $(( $(stat -c %s "$T/b.json.gz") / 2 )) "$T/b.json.gz" >"$T/half.gz"
pub "$T/half.gz" -H 'Content-Encoding: gzip'
like "truncated gzip: 400 saying so" "$HTTP_STATUS $HTTP_BODY" '^400 .*gzip body is truncated'
pub "$T/b.json" -H 'Content-Encoding: br'
like "Content-Encoding br: 415 naming what is accepted" "$HTTP_STATUS $HTTP_BODY" '^415 .*zstd or gzip'
is "nothing was produced by the refused bodies" "$(count)" "$before"

# ---- repeated ids (docs/API.md "Repeated ids"): a gzip retry is answered as a duplicate ----
jq -cn --argjson v "$REC" '{records: [{key: "dup", value: $v, id: "same-id-1"}]}' | gzip -c >"$T/dup.gz"
pub "$T/dup.gz" -H 'Content-Encoding: gzip'; O1=$(echo "$HTTP_BODY" | jq -c '.results[0] | [.partition, .offset]')
pub "$T/dup.gz" -H 'Content-Encoding: gzip'; O2=$(echo "$HTTP_BODY" | jq -c '.results[0] | [.partition, .offset, .duplicate]')
is "the same id published twice: the second answered with the first's position, as a duplicate" "$O2" "${O1%]},true]"
is "one copy in Kafka" "$(kcat -b "$BROKERS" -C -t "$TOPIC" -e -q -f '%h\n' 2>/dev/null | grep -c 'ce_id=same-id-1')" 1

# ---- replies: gzip when asked ----
curl -sS --max-time 10 --compressed -D "$T/ports.h" -o "$T/ports.gz.json" "$B_URL/v1/ports"
curl -sS --max-time 10 -D "$T/ports.plain.h" -o "$T/ports.json" "$B_URL/v1/ports"
like "curl --compressed: Content-Encoding gzip" "$(tr -d '\r' <"$T/ports.h" | grep -i '^content-encoding')" '^Content-Encoding: gzip$'
is "without Accept-Encoding: no Content-Encoding" "$(tr -d '\r' <"$T/ports.plain.h" | grep -ci '^content-encoding')" 0
is "the decoded reply is the same JSON" "$(jq -S . "$T/ports.gz.json" | md5sum)" "$(jq -S . "$T/ports.json" | md5sum)"
R=$(curl -sS --max-time 10 -H 'Accept-Encoding: gzip;q=0' -D - -o /dev/null "$B_URL/v1/ports" | tr -d '\r' | grep -ci '^content-encoding')
is "Accept-Encoding gzip;q=0: not compressed" "$R" 0

# ---- streams: gzip, each record decodable as soon as it is written ----
IN=urn:dpds:com.acme:dataproducts:tripExecution:1:inputports:weather
ITOPIC=com.acme.tripExecution.v1.in.weather
SID=$(curl -sS --max-time 5 "$B_URL/v1/subscriptions" | jq -r --arg to "$IN" '.subscriptions[] | select(.to == $to) | .readerSchemaId')
$PY tests/integration/sub_produce.py "$BROKERS" "$ITOPIC" "$SID" schemas/examples/weather_reader.avsc 40 0 || bail "cannot produce"
curl -sS -N --max-time 40 --compressed -D "$T/s.h" -o "$T/s.ndjson" "$B_URL/v1/ports/$IN/records?max_records=40&timeout_ms=20000&commit=manual"
is "curl --compressed stream: gzip, 40 records decoded" "$(tr -d '\r' <"$T/s.h" | grep -ci '^content-encoding: gzip') $(jq -c . "$T/s.ndjson" | wc -l)" "1 40"
R=$($PY - "$B_URL" "$IN" <<'PYEOF'
import http.client, json, sys, time, urllib.parse, zlib
u = urllib.parse.urlparse(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
t0 = time.time()
c.request("GET", "/v1/ports/" + sys.argv[2] + "/records?format=sse&commit=manual&from=earliest&timeout_ms=5000", headers={"Accept-Encoding": "gzip"})
r = c.getresponse()
d = zlib.decompressobj(16 + zlib.MAX_WBITS)
text, t_all = "", None
while True:
    chunk = r.read1(65536)
    if not chunk:
        break
    text += d.decompress(chunk).decode()
    if t_all is None and text.count("event: record") >= 40:
        t_all = time.time()
t_end = time.time()
text += d.flush().decode()
print(r.getheader("Content-Encoding"), text.count("event: record"), d.eof, t_all is not None and t_end - t_all >= 4)
PYEOF
)
is "http.client SSE with gzip: 40 events decoded while the stream was open (5 s before it ended), a complete gzip member" "$R" "gzip 40 True True"
finish
