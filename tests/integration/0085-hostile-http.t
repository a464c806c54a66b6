#!/usr/bin/env bash
# The HTTP front door against hostile clients (issue #13), a real `portbroker serve` on loopback
# and plain Python sockets. Every client is bounded in time and count.
# - bad targets, ambiguous framing, CONNECT/TRACE: the API's JSON error and a close;
# - slowloris on headers and on bodies, idle keep-alive, silent connections: closed at deadlines
#   that reads do not restart (408 in the JSON shape while a request was being read);
# - a connection flood above http.max.connections: 503 and a close for the extra ones;
# - fd exhaustion: under `ulimit -n 320` the broker keeps 128 descriptors out of HTTP's reach
#   (Kafka clients need them), so a flood of 400 connections is refused, not starving Kafka;
#   CPU and log lines stay bounded and /healthz answers again once the flood lets go.
. "$(dirname "$0")/lib.sh"
plan 34

# Broker B runs under a hard fd limit of 320 (a wrapper, so this shell and the clients keep theirs).
printf '#!/bin/sh\nulimit -n 320 || exit 97\nexec "%s" "$@"\n' "$PB_BIN" >"$T/pb256"
chmod +x "$T/pb256"
REAL_BIN=$PB_BIN
PB_BIN=$T/pb256
start_broker B || bail "serve did not start"
PB_BIN=$REAL_BIN
check "broker ready under ulimit -n 320" wait_ready "$B_URL"
like "the log says how many HTTP connections the fd limit leaves" "$(cat "$T/B.log")" \
  "http.max.connections = 10000, but the file-descriptor limit is 320 and 128 of it are kept for Kafka clients and files: at most 168 HTTP connections are served \\(21 more are answered 503, then accepting pauses\\)"

# Bad percent-encoding in the path or query: 400 in the API's JSON shape, before any handler.
for t in "/v1/ports/%ff" "/v1/products/%ff" "/v1/products/%00" "/v1/ports?format=%ff" "/v1/products/%zz" "/v1/products/%c3%28"; do
  http GET "$B_URL$t"
  like "GET $t -> 400 JSON error" "$HTTP_STATUS $HTTP_BODY" '^400 \{"error_code":400,"message":"(request path|query string): '
done
# The message says where and what (jsontext's percent-decoder), as valid JSON.
http GET "$B_URL/v1/products/%zz"
is "a bad escape is named with its offset" \
  "$(printf '%s' "$HTTP_BODY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["message"])')" \
  "request path: at offset 13: '%' must be followed by two hex digits, not '%zz'"
http GET "$B_URL/v1/products/caf%C3%A9"
is "valid UTF-8 escape still reaches the handler (404 unknown product)" "$HTTP_STATUS" 404

# Raw requests over a socket: the status line, the JSON body, and whether the server closed.
raw() { timeout 15 /usr/bin/python3 tests/py/rawhttp.py "$port" "$1" 2>&1; }
port=$(cat "$T/B.port")
sm='POST /v1/ports/tripExecution/1/outputports/tripEvents/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
like "two different Content-Length -> 400 JSON, closed" "$(raw "${sm}Content-Length: 5\r\nContent-Length: 14\r\n\r\n{\"records\":[]}")" \
  '^HTTP/1.1 400 Bad Request \{"error_code":400,"message":"ambiguous request framing: more than one Content-Length header"\} closed$'
like "repeated equal Content-Length -> 400, closed" "$(raw "${sm}Content-Length: 14\r\nContent-Length: 14\r\n\r\n{\"records\":[]}")" \
  '^HTTP/1.1 400 .*more than one Content-Length.* closed$'
like "Content-Length with Transfer-Encoding -> 400 JSON, closed" "$(raw "${sm}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")" \
  '^HTTP/1.1 400 Bad Request \{"error_code":400,"message":"ambiguous request framing: both Content-Length and Transfer-Encoding"\} closed$'
like "CONNECT -> 501 JSON, closed" "$(raw 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n')" \
  '^HTTP/1.1 501 Not Implemented \{"error_code":501,"message":"method CONNECT is not supported"\} closed$'
like "TRACE -> 501 JSON, closed" "$(raw 'TRACE / HTTP/1.1\r\nHost: x\r\n\r\n')" '^HTTP/1.1 501 .*TRACE is not supported.* closed$'

# ---- deadlines that reads do not restart, and the connection limit (broker D) ----
start_broker D -o http.header.timeout.ms=1500 -o http.body.timeout.ms=1500 \
  -o http.idle.timeout.ms=1000 -o http.max.connections=20 || bail "serve D did not start"
wait_ready "$D_URL" || bail "D not ready"
dport=$(cat "$T/D.port")
cat >"$T/slow.py" <<'PY'
# slow.py PORT MODE: one client, bounded to 10 s. Prints "<status line or -> <seconds> closed|open"
import socket, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.settimeout(0.3)
t0, data, closed = time.time(), b"", False
def pump():
    global data, closed
    try:
        b = s.recv(65536)
        if not b:
            closed = True
        data += b
    except socket.timeout:
        pass
    except OSError:
        closed = True
if mode == "idle":
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    while b"\r\n\r\n" not in data and not closed and time.time() - t0 < 10:
        pump()
    data, t0 = b"", time.time()  # the answer is in: time the idle close from here
drip = {"headers": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200,
        "body": b"POST /v1/ports/x/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 200\r\n\r\n" + b" " * 200}.get(mode, b"")
sent = 0
if mode == "body":  # the headers at once, then the body one byte at a time
    i = drip.index(b"\r\n\r\n") + 4
    s.sendall(drip[:i])
    sent = i
while not closed and time.time() - t0 < 10:
    if sent < len(drip):
        try:
            s.sendall(drip[sent:sent + 1])
            sent += 1
        except OSError:
            closed = True
            break
    pump()
line = data.split(b"\r\n")[0].decode(errors="replace") if data else "-"
body = data.partition(b"\r\n\r\n")[2].decode(errors="replace")
print(line, "%.1f" % (time.time() - t0), "closed" if closed else "open", body)
PY
slow() { timeout 15 /usr/bin/python3 "$T/slow.py" "$dport" "$1" 2>&1; }
out=$(slow headers)
diag "slow headers: $out"
like "headers dripped a byte every 0.3 s: 408 JSON at http.header.timeout.ms, closed" "$out" \
  '^HTTP/1.1 408 Request Timeout [0-9.]+ closed \{"error_code":408,"message":"the request headers did not arrive within 1500 ms \(http.header.timeout.ms\)"\}$'
check "... within 5 s though bytes kept coming (the deadline does not restart)" \
  test "$(echo "$out" | awk '{print int($4)}')" -lt 5
out=$(slow body)
diag "slow body: $out"
like "body dripped a byte every 0.3 s: 408 JSON at http.body.timeout.ms, closed" "$out" \
  '^HTTP/1.1 408 Request Timeout [0-9.]+ closed \{"error_code":408,"message":"the request body did not arrive within 1500 ms \(http.body.timeout.ms\)"\}$'
check "... within 5 s" test "$(echo "$out" | awk '{print int($4)}')" -lt 5
out=$(slow idle)
diag "idle keep-alive: $out"
like "a kept-alive connection idle past http.idle.timeout.ms is closed, quietly" "$out" '^- [0-9.]+ closed $'
check "... within 4 s" test "$(echo "$out" | awk '{print int($2)}')" -lt 4
out=$(slow silent)
like "a connection that never sends a byte is closed at http.header.timeout.ms" "$out" '^- [0-9.]+ closed $'
grep -q 'no request within 1500 ms (http.header.timeout.ms)' "$T/D.log"
check "the log names the timeout that closed a silent connection" grep -q 'no request within 1500 ms (http.header.timeout.ms)' "$T/D.log"
check "the log names the timeout that closed a slow client" grep -q 'request headers did not arrive within 1500 ms (http.header.timeout.ms) (a slow or stalled client)' "$T/D.log"

# 10 slowloris clients at once: /healthz stays fast meanwhile.
slow_pids=()
for i in $(seq 1 10); do slow headers >/dev/null & slow_pids+=("$!"); _pids+=("$!"); done
sleep 0.5
t=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' --max-time 5 "$D_URL/healthz")
diag "healthz while 10 slowloris clients drip: $t"
check "healthz answers in under 1 s while slowloris clients drip ($t)" awk -v t="$t" 'BEGIN { split(t, a, " "); exit !(a[1] == 200 && a[2] < 1) }'
wait "${slow_pids[@]}"

cat >"$T/hold.py" <<'PY'
# hold.py PORT N SECONDS: opens N connections, prints how many got a 503 naming the limit (read
# within 2 s) and how many stayed open without an answer, holds the rest, then closes all.
import resource, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
port, n, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
socks = []
for _ in range(n):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
        socks.append(s)
    except OSError:
        s.close()
        break
    time.sleep(0.01)
refused = quiet = 0
end = time.time() + 2
for s in socks:
    s.settimeout(max(0.05, end - time.time()))
    try:
        b = s.recv(4096)
        if b.startswith(b"HTTP/1.1 503") and b"http.max.connections" in b:
            refused += 1
    except socket.timeout:
        quiet += 1
    except OSError:
        pass
print(len(socks), refused, quiet, flush=True)
time.sleep(hold)
for s in socks:
    s.close()
PY
timeout 20 /usr/bin/python3 "$T/hold.py" "$dport" 30 1 >"$T/hold.out" 2>&1
diag "30 connections against http.max.connections=20: opened, refused with 503, not answered: $(cat "$T/hold.out")"
like "beyond http.max.connections=20 each extra connection gets 503 naming the limit" "$(cat "$T/hold.out")" '^30 10 [0-9]+$'
check "the refusals are logged, rate-limited" grep -q 'connections are open, the limit (http.max.connections)' "$T/D.log"
check "D serves again once they are gone" wait_until 5 curl -fsS --max-time 2 "$D_URL/healthz"

# ---- fd exhaustion (broker B, hard fd limit 320: at most 168 + 21 HTTP connections) ----
lines_before=$(wc -l <"$T/B.log")
timeout 30 /usr/bin/python3 "$T/hold.py" "$port" 400 4 >"$T/flood.out" 2>&1 &
fpid=$!
_pids+=("$fpid")
sleep 1.5
cpu_pct "$B_PID" 3
diag "broker CPU during a flood of 400 connections under ulimit -n 320: $CPU_TEXT"
check "broker CPU under 30% during the flood (no accept busy loop): $CPU_TEXT" test "$CPU_PCT" -lt 3000
wait "$fpid"
diag "flood: opened, refused with 503, left waiting: $(cat "$T/flood.out")"
like "of the flood of 400, the 232 beyond the 168 served were refused with 503" "$(cat "$T/flood.out")" '^400 232 [0-9]+$'
lines=$(( $(wc -l <"$T/B.log") - lines_before ))
diag "log lines during the flood: $lines"
check "log bounded during the flood (<= 20 lines, got $lines)" test "$lines" -le 20
check "Kafka kept its descriptors: no 'Too many open files' in the log" bash -c "! grep -q 'Too many open files' '$T/B.log'"
check "healthz answers again after the flood" wait_until 10 curl -fsS --max-time 2 "$B_URL/healthz"
obs='{"records":[{"key":"st-1","value":{"observationId":"00000000-0000-4000-8000-000000000001","stationId":"st-1","observedAt":1764583200000,"location":{"lat":52.5,"lon":13.4,"elevationM":34.0},"temperatureC":4.5,"humidityPct":40.5,"condition":"RAIN","quality":{"qc":"ok"}}}]}'
http POST "$B_URL/v1/ports/com.acme/weather/2/outputports/observations/records" -H 'content-type: application/json' --data "$obs"
is "B still publishes after the flood (Kafka unharmed)" "$HTTP_STATUS" 200
finish
