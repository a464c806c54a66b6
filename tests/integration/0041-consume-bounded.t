#!/usr/bin/env bash
# Consumer API (issue #16): max_records (at most N records, then the reply ends) and a bounded long
# poll that returns on a busy port; at-least-once across bounded polls (records beyond N, and
# records not committed, come again); from= seeks (earliest, latest, committed, offsets, time)
# with precise errors for partitions and offsets that do not exist. Read with curl and Python's
# http.client. Records are written straight into the input-port topic (as the router does).
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
plan 25
start_kafka 3
start_broker B -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme \
  -o sub.commit.interval.ms=200 || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
IN=urn:dpds:com.acme:dataproducts:tripExecution:1:inputports:weather
TOPIC=com.acme.tripExecution.v1.in.weather
REC="$B_URL/v1/ports/$IN/records"
http GET "$B_URL/v1/subscriptions"
SID=$(echo "$HTTP_BODY" | jq -r --arg to "$IN" '.subscriptions[] | select(.to == $to) | .readerSchemaId')
[ -n "$SID" ] || bail "no binding to $IN: $HTTP_BODY"
produce() { $PY tests/integration/sub_produce.py "$BROKERS" "$TOPIC" "$SID" schemas/examples/weather_reader.avsc "$@"; }
get() { curl -sS -N --max-time 40 -D "$1.h" -o "$1" "$REC?$2"; }

# ---- parameter errors ----
http GET "$REC?max_records=0"
like "max_records=0: 400 naming the range" "$HTTP_STATUS $HTTP_BODY" "^400 .*max_records: '0' is not an integer in \[1, 1000000000\]"
http GET "$REC?from=yesterday"
like "from=yesterday: 400 listing the forms" "$HTTP_STATUS $HTTP_BODY" "^400 .*from: 'yesterday' is not one of committed, earliest, latest, time:RFC3339, offsets:"
http GET "$REC?from=time:2026-13-01T00:00:00Z"
like "from=time: with a bad date: 400" "$HTTP_STATUS $HTTP_BODY" "^400 .*from: 'time:2026-13-01T00:00:00Z' is not time:RFC3339"
http GET "$REC?from=offsets:0:1,0:2"
like "from=offsets with a partition twice: 400" "$HTTP_STATUS $HTTP_BODY" "^400 .*partition 0 appears twice"
http GET "$REC?from=offsets:7:0"
like "from=offsets with a partition that does not exist: 422 naming the count" "$HTTP_STATUS $HTTP_BODY" "^422 .*partition 7: .* has 3 partitions \(0\.\.2\)"

# 3 partitions x 100 records = a busy port (more than any poll below takes)
produce 300 0 || bail "cannot produce"
http GET "$REC?from=offsets:0:5000&timeout_ms=2000"
like "from=offsets beyond the end: 422 naming partition, offset and end" "$HTTP_STATUS $HTTP_BODY" "^422 .*partition 0: offset 5000 is beyond its end \(the next offset to be written is [0-9]+\)"

# ---- bounded poll on a busy port: exactly N records, then the reply ends ----
t0=$(date +%s%N)
get "$T/p1" "max_records=50&timeout_ms=20000&commit=manual"
rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
is "bounded poll: curl ended by itself" "$rc" 0
is "bounded poll: exactly 50 records" "$(wc -l <"$T/p1")" 50
check "bounded poll returned long before timeout_ms (took ${ms} ms)" test "$ms" -lt 15000
# nothing committed (manual): the next poll starts again where the group was
get "$T/p2" "max_records=50&timeout_ms=20000&commit=manual"
check "manual, uncommitted: the next poll starts again at offset 0 of every partition it reads" \
  sh -c "jq -s 'group_by(.partition) | map(map(.offset) | min == 0) | all and length > 0' '$T/p2' | grep -qx true"
# commit=auto commits exactly what was delivered: the next poll continues after it
get "$T/p3" "max_records=120&timeout_ms=20000"
is "auto: 120 records" "$(wc -l <"$T/p3")" 120
get "$T/p4" "max_records=1000&timeout_ms=3000"
is "auto: the next poll gets the other 180, none twice, none lost" \
  "$(cat "$T/p3" "$T/p4" | jq -r '"\(.partition):\(.offset)"' | sort -u | wc -l) $(wc -l <"$T/p4")" "300 180"

# ---- a long poll on a quiet port ends at timeout_ms ----
t0=$(date +%s%N)
get "$T/p5" "max_records=10&timeout_ms=1500"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
is "quiet port: no records" "$(wc -c <"$T/p5")" 0
check "quiet port: the poll lasted timeout_ms (${ms} ms, at least 1500)" test "$ms" -ge 1500

# ---- the issue's case: records keep arriving; the poll still returns within timeout_ms ----
( for i in 1 2 3 4 5 6; do produce 20 $((1000 + i * 20)); sleep 0.5; done ) &
PRODUCER=$!
_pids+=("$PRODUCER")
t0=$(date +%s%N)
get "$T/p6" "max_records=100000&timeout_ms=2500"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
wait "$PRODUCER"
check "busy port, large max_records: the poll ended after timeout_ms from the assignment (${ms} ms)" test "$ms" -lt 12000
check "busy port: it returned the records that arrived meanwhile" test "$(wc -l <"$T/p6")" -gt 0

# ---- from= seeks ----
get "$T/drain" "max_records=100000&timeout_ms=2000" # commit what the producer above left
get "$T/e" "from=earliest&max_records=1000&timeout_ms=2500&commit=manual"
N_ALL=$(wc -l <"$T/e")
is "from=earliest: everything again (rewind)" "$N_ALL" 420
get "$T/l" "from=latest&max_records=10&timeout_ms=1500&commit=manual"
is "from=latest: nothing (only new records)" "$(wc -c <"$T/l")" 0
get "$T/o" "from=offsets:1:95&max_records=1000&timeout_ms=2500&commit=manual"
P1_END=$(jq -r 'select(.partition == 1) | .offset' "$T/e" | sort -n | tail -1)
is "from=offsets:1:95: partition 1 from offset 95 to its end" \
  "$(jq -r 'select(.partition == 1) | .offset' "$T/o" | sort -n | head -1) $(jq -r 'select(.partition == 1) | .offset' "$T/o" | sort -n | tail -1)" "95 $P1_END"
is "from=offsets: other partitions at the committed offsets (all delivered: none)" "$(jq -r 'select(.partition != 1)' "$T/o" | wc -c)" 0

# by time: records produced after T are exactly those from=time:T returns
sleep 1.1
TS=$($PY -c 'import datetime; print(datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")')
sleep 0.3
produce 30 5000 || bail "cannot produce"
get "$T/t" "from=time:$TS&max_records=1000&timeout_ms=2500&commit=manual"
is "from=time:T: the 30 records written after T, and only those" "$(jq -r .key "$T/t" | sort | tr '\n' ' ' | md5sum)" "$(for i in $(seq 5000 5029); do echo "k$i"; done | sort | tr '\n' ' ' | md5sum)"
get "$T/t2" "from=time:2030-01-01T00:00:00Z&max_records=10&timeout_ms=1500&commit=manual"
is "from=time in the future: nothing" "$(wc -c <"$T/t2")" 0

# Python's http.client: a bounded poll, read to its end (the server closes the reply)
R=$($PY - "$B_URL" "$IN" <<'PYEOF'
import http.client, json, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
c.request("GET", "/v1/ports/" + sys.argv[2] + "/records?from=earliest&max_records=7&commit=manual&timeout_ms=10000")
r = c.getresponse()
lines = [json.loads(l) for l in r.read().decode().splitlines()]
print(r.status, r.getheader("Content-Type"), len(lines), all("offset" in l for l in lines))
PYEOF
)
is "http.client: 200 ndjson, exactly 7 records" "$R" "200 application/x-ndjson 7 True"
check "broker still healthy" curl -fsS --max-time 2 "$B_URL/healthz"
check "no stream left open" sh -c "! grep -q 'ERROR' '$T/B.log'"
finish
