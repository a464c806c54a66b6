#!/usr/bin/env bash
# Consumer API (issue #16) behind a load balancer: two `portbroker serve` on one `portbroker kafka`.
# A bounded poll on instance A, its cursors committed on instance B (no stream there): the next poll
# on A continues after them. A commit on B while a stream is open on A (the group has a member).
# Precise errors for partitions and offsets that do not exist. SSE resume: npm `eventsource` is
# served by B, the stream ends (timeout_ms), the client reconnects by itself with Last-Event-ID
# and gets only what came after (the URL's from=time: notwithstanding).
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
plan 20
start_kafka 3
serve() { start_broker "$1" -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme -o sub.commit.interval.ms=200; }
serve A || bail "A did not start"
serve B || bail "B did not start"
wait_ready "$A_URL" && wait_ready "$B_URL" || bail "not ready"
IN=urn:dpds:com.acme:dataproducts:tripExecution:1:inputports:weather
TOPIC=com.acme.tripExecution.v1.in.weather
http GET "$A_URL/v1/subscriptions"
SID=$(echo "$HTTP_BODY" | jq -r --arg to "$IN" '.subscriptions[] | select(.to == $to) | .readerSchemaId')
[ -n "$SID" ] || bail "no binding to $IN: $HTTP_BODY"
produce() { $PY tests/integration/sub_produce.py "$BROKERS" "$TOPIC" "$SID" schemas/examples/weather_reader.avsc "$@"; }
get() { curl -sS -N --max-time 40 -o "$2" "$1/v1/ports/$IN/records?$3"; }
# cursor FILE: {"cursors": [...]} committing everything in an ndjson file (next offsets)
cursor() { jq -sc 'group_by(.partition) | map({partition: .[0].partition, offset: (map(.offset) | max + 1)}) | {cursors: .}' "$1"; }

produce 60 0 || bail "cannot produce"
get "$A_URL" "$T/a1" "max_records=25&timeout_ms=20000&commit=manual"
is "poll on A: 25 records" "$(wc -l <"$T/a1")" 25
C1=$(cursor "$T/a1")
http POST "$B_URL/v1/ports/$IN/cursors" -H 'Content-Type: application/json' -d "$C1"
is "cursors committed on B, where no stream is open: 200 naming the group" \
  "$HTTP_STATUS $(echo "$HTTP_BODY" | jq -c '[.stream, .consumerGroup, (.committed | sort_by(.partition))]')" \
  "200 [null,\"portbroker.sub.$TOPIC\",$(echo "$C1" | jq -c '.cursors | sort_by(.partition)')]"
get "$A_URL" "$T/a2" "max_records=1000&timeout_ms=3000&commit=manual"
is "the next poll on A: the other 35 records, none of the committed ones" \
  "$(wc -l <"$T/a2") $(cat "$T/a1" "$T/a2" | jq -r '"\(.partition):\(.offset)"' | sort -u | wc -l)" "35 60"
http GET "$B_URL/v1/ports/$IN/records?max_records=1000&timeout_ms=2000&commit=manual&from=committed"
is "a poll on B sees the same committed position" "$(printf '%s\n' "$HTTP_BODY" | grep -c '^{')" 35

# ---- errors on the group path: nothing is committed ----
http POST "$B_URL/v1/ports/$IN/cursors" -d '{"cursors":[{"partition":3,"offset":0}]}'
like "a partition that does not exist: 422 naming the partition count" "$HTTP_STATUS $HTTP_BODY" "^422 .*cursors\[0\]: partition 3 does not exist: .* has 3 partitions \(0\.\.2\)"
http POST "$B_URL/v1/ports/$IN/cursors" -d '{"cursors":[{"partition":0,"offset":0},{"partition":1,"offset":999}]}'
like "an offset past the end: 422 naming partition, offset and end; nothing committed" "$HTTP_STATUS $HTTP_BODY" "^422 .*partition 1: offset 999 is beyond its end \(the next offset to be written is [0-9]+\); nothing was committed"
http POST "$B_URL/v1/ports/$IN/cursors" -d '{"cursors":[{"partition":0,"offset":-1}]}'
like "a negative offset: 422" "$HTTP_STATUS $HTTP_BODY" "^422 .*cursors\[0\].offset: expected a non-negative integer"
http POST "$B_URL/v1/ports/$IN/cursors" -d '{"cursors":[{"partition":0,"offset":1},{"partition":0,"offset":2}]}'
like "a partition twice: 422" "$HTTP_STATUS $HTTP_BODY" "^422 .*partition 0 appears twice"
get "$A_URL" "$T/a3" "max_records=1000&timeout_ms=2000&commit=manual"
is "after the refused commits the group's position is unchanged (35 records still to read)" "$(wc -l <"$T/a3")" 35

# ---- a commit on B while a stream is open on A (the group has a live member) ----
curl -sS -N --max-time 60 -o "$T/live" "$A_URL/v1/ports/$IN/records?commit=manual&timeout_ms=9000" &
LIVE=$!
_pids+=("$LIVE")
wait_until 20 sh -c "[ \$(wc -l <'$T/live') -ge 35 ]"
is "the live stream on A got the 35 uncommitted records" "$(wc -l <"$T/live")" 35
C2=$(cursor "$T/live")
t0=$SECONDS
http POST "$B_URL/v1/ports/$IN/cursors" -d "$C2" --max-time 40
is "cursors on B while A's stream is open: 200 (B joined the group briefly)" "$HTTP_STATUS" 200
diag "commit through a joined group took $((SECONDS - t0)) s"
wait "$LIVE"
get "$B_URL" "$T/b1" "max_records=1000&timeout_ms=2000&commit=manual"
is "everything is committed: a poll on B gets nothing" "$(wc -c <"$T/b1")" 0

# ---- SSE resume with Last-Event-ID (npm eventsource reconnects by itself) ----
sleep 1.1
TS=$($PY -c 'import datetime; print(datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")')
sleep 0.2
produce 30 100 || bail "cannot produce"
# from=time:TS gives the 30; were the reconnect to seek by time again, they would come twice
node tests/js/sse_resume.mjs "$B_URL/v1/ports/$IN/records?format=sse&commit=manual&from=time:$TS&timeout_ms=1500" 40 40000 "$T/sse.status" >"$T/sse.json" 2>"$T/sse.err" &
NODE=$!
_pids+=("$NODE")
wait_until 30 sh -c "grep -Eq '^[2-9] 30$' '$T/sse.status'" || diag "status: $(cat "$T/sse.status" 2>/dev/null)"
produce 10 200 || bail "cannot produce"
wait "$NODE"
R=$(cat "$T/sse.json")
is "eventsource: 40 events over at least 2 connections, none twice" "$(echo "$R" | jq -c '[.why, .events, (.opens >= 2), .dups]')" '["enough",40,true,0]'
is "eventsource: the 30 from before the reconnect and the 10 after, each once" \
  "$(echo "$R" | jq -r '.keys | join(" ")')" "$( (seq 100 129; seq 200 209) | sed 's/^/k/' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"
like "the last event id is the cursor (partition:next offset for every partition)" "$(echo "$R" | jq -r .lastId)" '^0:[0-9]+,1:[0-9]+,2:[0-9]+$'
# Last-Event-ID by hand (curl): resumes after it; a malformed one is a 400
LAST=$(echo "$R" | jq -r .lastId)
http GET "$A_URL/v1/ports/$IN/records?format=sse&commit=manual&from=earliest&max_records=5&timeout_ms=1500" -H "Last-Event-ID: $LAST"
is "curl with Last-Event-ID: nothing after the last event" "$HTTP_STATUS $(printf '%s' "$HTTP_BODY" | grep -c '^event: record')" "200 0"
http GET "$A_URL/v1/ports/$IN/records?format=sse" -H "Last-Event-ID: 0:abc"
like "malformed Last-Event-ID: 400" "$HTTP_STATUS $HTTP_BODY" "^400 .*Last-Event-ID: '0:abc' is not an event id of this API"

# ---- portbroker consume --from/--max/--commit on A, then on B: it continues after the commit ----
"$PB_BIN" consume "$IN" --url "$A_URL" --from earliest --max 5 --commit -f '%p %o\n' >"$T/c1" 2>"$T/c1.err"; rc=$?
is "consume --from earliest --max 5 --commit on A: exit 0, 5 records, committed" "$rc $(wc -l <"$T/c1") $(grep -c '5 records, committed' "$T/c1.err")" "0 5 1"
"$PB_BIN" consume "$IN" --url "$B_URL" --max 1000 --wait-ms 3000 -f '%p %o\n' >"$T/c2" 2>"$T/c2.err"; rc=$?
is "consume on B: exit 0" "$rc" 0
check "consume on B continues right after what A committed on each partition A read (the rewind was committed)" \
  sh -c "awk 'NR==FNR { if (!(\$1 in m) || \$2 > m[\$1]) m[\$1] = \$2; next } { if (!(\$1 in n) || \$2 < n[\$1]) n[\$1] = \$2 } END { if (length(m) == 0) exit 1; for (p in m) if (!(p in n) || n[p] != m[p] + 1) exit 1 }' '$T/c1' '$T/c2'"
finish
