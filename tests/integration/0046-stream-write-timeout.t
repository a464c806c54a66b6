#!/usr/bin/env bash
# A stream closed by the write timeout says so (issue #13): a client that stops reading a busy
# stream (a Python socket with a tiny receive buffer that never reads past the headers) is dropped
# after http.timeout.ms with bytes queued, and the log line that ends the stream names that
# timeout, not "client left". A client that really leaves is still "client left".
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
plan 5
start_kafka 1
start_broker B -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme \
  -o http.timeout.ms=1500 || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
IN=urn:dpds:com.acme:dataproducts:tripExecution:1:inputports:weather
TOPIC=com.acme.tripExecution.v1.in.weather
http GET "$B_URL/v1/subscriptions"
SID=$(echo "$HTTP_BODY" | jq -r --arg to "$IN" '.subscriptions[] | select(.to == $to) | .readerSchemaId')
[ -n "$SID" ] || bail "no binding to $IN: $HTTP_BODY"
# ~9 MB of records: more than the kernel's socket buffers (4 MB) and sub.max.buffered.bytes hold.
$PY tests/integration/sub_produce.py "$BROKERS" "$TOPIC" "$SID" schemas/examples/weather_reader.avsc 8000 0 1000 ||
  bail "cannot produce"

# stall.py URL PATH: read the reply's first bytes, then nothing for 12 s (bounded); prints how
# many bytes it read and whether the server closed the connection meanwhile.
cat >"$T/stall.py" <<'PY'
import socket, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.settimeout(10)
s.connect((u.hostname, u.port))
s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % sys.argv[2]).encode())
got = len(s.recv(1024))
time.sleep(12)
print(got)
PY
t0=$SECONDS
$PY "$T/stall.py" "$B_URL" "/v1/ports/$IN/records?from=earliest&batch=500" >"$T/stall.out" 2>&1 &
STALL=$!
_pids+=("$STALL")
check "the stalled stream is ended within 10 s" \
  wait_until 10 grep -q 'ended ([0-9]* records, write timeout' "$T/B.log"
diag "$(grep 'ended (' "$T/B.log" | tail -1)"
like "its log line names the write timeout, its value and what was left queued" \
  "$(grep -o 'ended ([0-9]* records, [^)]*)' "$T/B.log" | tail -1)" \
  '^ended \([0-9]+ records, write timeout: the client read nothing for http.timeout.ms = 1500 ms with [0-9]+ bytes queued\)$'
check "... not 'client left'" bash -c "! grep -q 'records, client left' '$T/B.log'"
kill "$STALL" 2>/dev/null; wait "$STALL" 2>/dev/null

# A client that leaves (curl cut by --max-time) is still reported as leaving.
curl -sS -N --max-time 2 -o /dev/null "$B_URL/v1/ports/$IN/records?from=latest" 2>/dev/null
check "a client that leaves is logged as 'client left'" wait_until 5 grep -q 'records, client left)' "$T/B.log"
check "the broker still serves" curl -fsS --max-time 2 "$B_URL/healthz"
