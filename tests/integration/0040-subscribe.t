#!/usr/bin/env bash
# Subscriber streams (issue #5): GET /v1/ports/{input-port}/records as ndjson and SSE (read by curl
# and python requests), commit=manual + cursors, at-least-once across reconnects, long-poll
# timeout beyond http.timeout.ms, two streams sharing the group's partitions, the stream limit,
# backpressure (broker memory stays bounded while a client reads nothing), subscription stats lag,
# and precise errors. Records are written straight into the input-port topic in Confluent wire
# format with the binding's reader schema id, as the router writes them.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
plan 40
start_kafka 3
start_broker B -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme \
  -o http.timeout.ms=3000 -o sub.lag.interval.ms=500 -o sub.commit.interval.ms=200 \
  -o sub.max.streams=2 -o sub.max.batch=500 || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
IN=urn:dpds:com.acme:dataproducts:tripExecution:1:inputports:weather
TOPIC=com.acme.tripExecution.v1.in.weather
REC="$B_URL/v1/ports/$IN/records"
http GET "$B_URL/v1/subscriptions"
BID=$(echo "$HTTP_BODY" | jq -r --arg to "$IN" '.subscriptions[] | select(.to == $to) | .id')
SID=$(echo "$HTTP_BODY" | jq -r --arg to "$IN" '.subscriptions[] | select(.to == $to) | .readerSchemaId')
[ -n "$BID" ] && [ -n "$SID" ] || bail "no binding to $IN: $HTTP_BODY"
produce() { $PY tests/integration/sub_produce.py "$BROKERS" "$TOPIC" "$SID" schemas/examples/weather_reader.avsc "$@"; }
# stream OUT [query]: read a stream to its end (bounded) into OUT, headers into OUT.h.
stream() { curl -sS -N --max-time 40 -D "$1.h" -o "$1" "$REC?$2"; }
stats() { curl -sS --max-time 5 "$B_URL/v1/subscriptions/$BID/stats"; }

# ---- errors ----
http GET "$B_URL/v1/ports/com.acme/nosuch/1/inputports/x/records"
is "unknown port: 404" "$HTTP_STATUS" 404
http GET "$REC?format=xml"
is "bad format: 400" "$HTTP_STATUS" 400
like "bad format names parameter and choices" "$HTTP_BODY" "format: 'xml' is not one of ndjson, sse"
http GET "$REC?batch=0"
like "batch=0: 400 naming the range and the limit" "$HTTP_STATUS $HTTP_BODY" "^400 .*batch: '0' is not an integer in \[1, 500\].*sub.max.batch"
http GET "$REC?batch=501"
is "batch above sub.max.batch: 400" "$HTTP_STATUS" 400
http GET "$REC?timeout_ms=-5"
like "bad timeout_ms" "$HTTP_STATUS $HTTP_BODY" "^400 .*timeout_ms: '-5'"
http GET "$REC?commit=sometimes"
like "bad commit" "$HTTP_STATUS $HTTP_BODY" "^400 .*commit: 'sometimes' is not one of auto, manual"
http GET "$B_URL/v1/ports/urn:dpds:com.acme:dataproducts:weather:2:outputports:observations/records"
like "output port is not a subscription stream: 405" "$HTTP_STATUS $HTTP_BODY" "^405 .*output port"
http POST "$B_URL/v1/ports/$IN/cursors" -d '{"cursors":[{"partition":0,"offset":1}]}'
like "cursors without an open stream go through the group: an offset past the end is 422" "$HTTP_STATUS $HTTP_BODY" "^422 .*partition 0: offset 1 is beyond its end \(the next offset to be written is 0\)"
http GET "$B_URL/v1/subscriptions/999/stats"
is "stats of an unknown subscription: 404" "$HTTP_STATUS" 404

# ---- lag grows while nobody reads ----
produce 30 0 || bail "cannot produce"
wait_until 15 sh -c "curl -sS --max-time 2 '$B_URL/v1/subscriptions/$BID/stats' | jq -e '.subscribers.lagRecords == 30 and .lagSeconds > 0'"
S1=$(stats)
is "stats: subscriber lag 30 records before anyone reads" "$(echo "$S1" | jq -c '[.subscribers.lagRecords, (.partitions | map(.subscribers.lagRecords) | add), .id, .to]')" "[30,30,$BID,\"$IN\"]"
like "stats: per partition route and subscriber offsets" "$(echo "$S1" | jq -c '.partitions[0] | keys, (.subscribers | keys)' | tr -d '\n')" '\["partition","route","subscribers"\].*\["committedOffset","endOffset","lagRecords","lagSeconds"\]'
sleep 1.2
S2=$(stats)
check "stats: lag seconds keep growing while nobody reads" \
  jq -en --argjson a "$(echo "$S1" | jq .subscribers.lagSeconds)" --argjson b "$(echo "$S2" | jq .subscribers.lagSeconds)" '$b > $a + 0.9'

# ---- ndjson, manual commit, long poll beyond http.timeout.ms (3 s) ----
t0=$SECONDS
stream "$T/s1" "commit=manual&timeout_ms=3500&batch=7"
rc=$?
is "long poll ended by itself (curl exit 0), not cut by http.timeout.ms" "$rc" 0
check "long poll lasted at least timeout_ms after the last record" test $((SECONDS - t0)) -ge 3
is "stream 1: 30 records" "$(wc -l <"$T/s1")" 30
like "stream 1 headers: ndjson, stream id, group" "$(tr -d '\r' <"$T/s1.h")" "Content-Type: application/x-ndjson"
like "stream 1: X-Stream-Id and X-Consumer-Group" "$(tr -d '\r' <"$T/s1.h" | grep -E '^X-' | tr '\n' ' ')" "X-Stream-Id: s-[0-9]+ X-Consumer-Group: portbroker.sub.$TOPIC"
R=$(jq -c --argjson sid "$SID" 'select(.key == "k5") | [(keys | sort), .value.stationId, .value.visibilityKm, .value.temperatureC, .headers.ce_id, .schema_id == $sid, .time]' "$T/s1")
is "record: all fields, value decoded in the reader schema, headers, time from ce_time" "$R" \
  '[["headers","key","offset","partition","schema_id","time","value"],"st-5",null,20.5,"id-5",true,"2026-01-02T03:04:05.005Z"]'
is "30 distinct keys, partitions 0-2" "$(jq -r '.key' "$T/s1" | sort -u | wc -l) $(jq -r .partition "$T/s1" | sort -u | tr '\n' ,)" "30 0,1,2,"
check "offsets are consecutive per partition from 0" sh -c "jq -s 'group_by(.partition) | map([.[].offset] == [range(0; length)]) | all' '$T/s1' | grep -qx true"

# ---- at-least-once: nothing was committed, so everything comes again ----
stream "$T/s2" "timeout_ms=1500"
is "reconnect after no commit: the same 30 records again" "$(jq -r .key "$T/s2" | sort | tr -d '\n' | md5sum)" "$(jq -r .key "$T/s1" | sort | tr -d '\n' | md5sum)"
# commit=auto committed them when the stream ended cleanly
wait_until 10 sh -c "curl -sS --max-time 2 '$B_URL/v1/subscriptions/$BID/stats' | jq -e '.subscribers.lagRecords == 0'"
is "stats after reading with commit: subscriber lag 0 records, 0 seconds" "$(stats | jq -c '[.subscribers.lagRecords, .subscribers.lagSeconds, ([.partitions[].subscribers.committedOffset] | add)]')" "[0,0,30]"
stream "$T/s3" "timeout_ms=1000"
is "reconnect after auto commit: nothing again" "$(wc -c <"$T/s3")" 0

# ---- SSE + cursors: commit only partition 0, the rest comes again ----
$PY - "$REC?format=sse&commit=manual&timeout_ms=6000" "$T/sse" <<'EOF' &
import json, sys, requests
url, out = sys.argv[1], sys.argv[2]
events, ev = [], {}
with requests.get(url, stream=True, timeout=30) as r:
    sid = r.headers.get("X-Stream-Id")
    ctype = r.headers.get("Content-Type")
    for line in r.iter_lines(decode_unicode=True):
        if line == "":
            if "data" in ev:
                events.append(ev)
            ev = {}
        elif line.startswith(":"):
            continue
        else:
            k, _, v = line.partition(":")
            ev[k] = v[1:] if v.startswith(" ") else v
        with open(out + ".partial", "w") as f:
            f.write("%s %d\n" % (sid, len(events)))
def cursor(i):
    return {int(p): int(o) for p, o in (x.split(":") for x in i.split(","))}
ok = all(e.get("event") == "record" and cursor(e["id"])[json.loads(e["data"])["partition"]] == json.loads(e["data"])["offset"] + 1 for e in events)
with open(out, "w") as f:
    json.dump({"stream": sid, "type": ctype, "n": len(events), "ids_match": ok, "keys": sorted(json.loads(e["data"])["key"] for e in events),
               "p0": max([json.loads(e["data"])["offset"] for e in events if json.loads(e["data"])["partition"] == 0] or [-1])}, f)
EOF
SSE_PID=$!
_pids+=("$SSE_PID")
produce 9 100 || bail "cannot produce"
wait_until 20 sh -c "grep -q ' 9$' '$T/sse.partial'"
STREAM=$(cut -d' ' -f1 "$T/sse.partial")
http POST "$B_URL/v1/ports/$IN/cursors" -H "X-Stream-Id: $STREAM" -d '{"cursors":[{"partition":0,"offset":100000}]}'
like "cursor beyond what was delivered: 422 saying how far" "$HTTP_STATUS $HTTP_BODY" "^422 .*offset 100000 is beyond what stream $STREAM delivered from partition 0 \(at most [0-9]+"
http POST "$B_URL/v1/ports/$IN/cursors" -H "X-Stream-Id: $STREAM" -d '{"cursors":[{"partition":9,"offset":1}]}'
like "cursor on a partition that does not exist: 422" "$HTTP_STATUS $HTTP_BODY" "^422 .*partition 9 does not exist: .* has 3 partitions \(0\.\.2\)"
http POST "$B_URL/v1/ports/$IN/cursors" -H "X-Stream-Id: $STREAM" -d '{"cursors":[{"partition":0}]}'
like "cursor without offset: 422" "$HTTP_STATUS $HTTP_BODY" "^422 .*cursors\[0\].offset: expected a non-negative integer"
http POST "$B_URL/v1/ports/$IN/cursors" -H "X-Stream-Id: s-999" -d '{"cursors":[{"partition":0,"offset":100000}]}'
like "cursor of a stream not on this instance goes through the group: past the end is 422" "$HTTP_STATUS $HTTP_BODY" "^422 .*partition 0: offset 100000 is beyond its end"
wait_until 10 sh -c "curl -sS --max-time 2 '$B_URL/v1/subscriptions/$BID/stats' | jq -e '[.partitions[].subscribers.endOffset] | add == 39'"
END0=$(stats | jq '.partitions[0].subscribers.endOffset')
http POST "$B_URL/v1/ports/$IN/cursors" -H "X-Stream-Id: $STREAM" -d "{\"cursors\":[{\"partition\":0,\"offset\":$END0}]}"
is "cursors: 200 with what was committed" "$HTTP_STATUS $(echo "$HTTP_BODY" | jq -c '[.stream, .committed]')" "200 [\"$STREAM\",[{\"partition\":0,\"offset\":$END0}]]"
wait "$SSE_PID"
is "SSE read by python requests: 9 events, ids are cursors (partition:next offset), text/event-stream" "$(jq -c '[.n, .ids_match, .type]' "$T/sse")" '[9,true,"text/event-stream"]'
stream "$T/s4" "timeout_ms=1500"
N0=$(jq -r '.keys | length' "$T/sse")
check "after committing partition 0 only: the other partitions' records come again, partition 0's do not" \
  sh -c "[ \$(wc -l <'$T/s4') -gt 0 ] && [ \$(wc -l <'$T/s4') -lt $N0 ] && ! jq -e 'select(.partition == 0)' '$T/s4' >/dev/null"
curl -sS -N --max-time 5 "$REC?format=sse&timeout_ms=500" -o "$T/s5"
like "SSE by curl -N: a comment line first" "$(head -1 "$T/s5")" "^: stream s-[0-9]+ on $IN"

# ---- two streams share the group's partitions; the stream limit ----
stream "$T/a" "timeout_ms=9000" & SA_PID=$!
sleep 0.5
stream "$T/b" "timeout_ms=9000" & SB_PID=$!
_pids+=("$SA_PID" "$SB_PID")
sleep 0.5
http GET "$REC"
like "third stream beyond sub.max.streams=2: 503 with Retry-After" "$HTTP_STATUS $HTTP_BODY" "^503 .*2 subscriber streams are open on this instance, the limit \(sub.max.streams\)"
sleep 4 # the group rebalances (embedded cluster: session.timeout.ms - 1 s)
produce 60 200 || bail "cannot produce"
wait "$SA_PID" "$SB_PID"
PA=$(jq -r .partition "$T/a" | sort -u | tr '\n' ,)
PB=$(jq -r .partition "$T/b" | sort -u | tr '\n' ,)
is "two streams: every record once between them" "$(cat "$T/a" "$T/b" | jq -r 'select(.key | test("^k2[0-9][0-9]$")) | .key' | sort -u | wc -l) $(cat "$T/a" "$T/b" | jq -r 'select(.key | test("^k2[0-9][0-9]$")) | .key' | wc -l)" "60 60"
check "two streams: both got records, from disjoint partitions ($PA | $PB)" \
  bash -c "[ -n '$PA' ] && [ -n '$PB' ] && [ -z \"\$(comm -12 <(echo '$PA' | tr , '\n' | sort) <(echo '$PB' | tr , '\n' | sort) 2>/dev/null)\" ]"

# ---- backpressure: a client that reads (almost) nothing does not grow the broker's memory ----
rss() { awk '/^VmRSS/ {print $2}' /proc/"$B_PID"/status; }
produce 24000 1000 1000 || bail "cannot produce 24 MB"
# The embedded cluster lives in this process: let it absorb what was produced before the base
# reading (until two readings 0.5 s apart differ by under 512 kB; at most 5 s).
RSS0=$(rss)
for i in $(seq 1 10); do sleep 0.5; r=$(rss); [ $((r - RSS0)) -lt 512 ] && [ $((RSS0 - r)) -lt 512 ] && { RSS0=$r; break; }; RSS0=$r; done
$PY - "$B_URL" "/v1/ports/$IN/records?batch=500" "$T/slow" <<'EOF' &
import socket, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
s = socket.create_connection((u.hostname, u.port), timeout=30)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % sys.argv[2]).encode())
got = 0
end = time.time() + 6
while time.time() < end:   # a trickle: 4 KB every 0.5 s, so the connection is not idle
    got += len(s.recv(4096))
    time.sleep(0.5)
open(sys.argv[3], "w").write(str(got))
s.close()
EOF
SLOW_PID=$!
_pids+=("$SLOW_PID")
MAX=0
for i in $(seq 1 11); do sleep 0.5; r=$(rss); [ "$r" -gt "$MAX" ] && MAX=$r; done
wait "$SLOW_PID"
diag "broker RSS before ${RSS0} kB, max while the client did not read ${MAX} kB; client read $(cat "$T/slow") bytes"
if [[ "$PB_BIN" == */asan/* ]]; then
  ok "backpressure: broker RSS bound # SKIP ASan's quarantine keeps freed memory (see the next test)"
else
  check "backpressure: broker RSS grew by less than 16 MB while ~15 MB of records waited for a client that reads nothing" \
    test $((MAX - RSS0)) -lt 16384
fi
SENT=$(grep -oE 'ended \([0-9]* records, (client left|write timeout: [^)]*)\)' "$T/B.log" | tail -1 | grep -o '^ended ([0-9]*' | grep -o '[0-9]*')
check "backpressure: the stream stopped early (it took $SENT of 24000 records while the client read $(cat "$T/slow") bytes)" \
  test "${SENT:-99999}" -lt 8000
like "an idle stream's end is logged with its cause and value" "$(grep -o 'ended ([0-9]* records, idle: [^)]*)' "$T/B.log" | head -1)" \
  '^ended \([0-9]+ records, idle: no record for timeout_ms = [0-9]+ ms\)$'
check "broker still serves after the slow client left" curl -fsS --max-time 5 "$B_URL/healthz"

stop_pid "$B_PID" 15
is "clean stop with streams having been open" "$STOP_RC" 0
finish
