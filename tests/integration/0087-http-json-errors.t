#!/usr/bin/env bash
# Every answer of the HTTP front door is the API's JSON error shape (DESIGN §5, issue #13), also
# where libevent 2.1 would write its own HTML page: bodies over the limit (413, the limit in the
# message), bad Content-Length and chunk sizes (400), folded or oversized headers, unknown
# methods and transfer codings (501), a bad Expect (417). Each refusal closes the connection.
# Clients: raw Python sockets (exact bytes, and whether the server closed) and curl.
. "$(dirname "$0")/lib.sh"
plan 32

# publish.max.body.bytes = 1024: the server's body limit is 1024 + 1 MiB = 1049600 bytes.
start_broker A -o publish.max.body.bytes=1024 -o http.max.header.bytes=8192 || bail "serve did not start"
wait_ready "$A_URL" || bail "A not ready"
port=$(cat "$T/A.port")

# raw REQUEST [CHUNKS SIZE]: tests/py/rawhttp.py (status line, body, Content-Type, closed/open).
raw() { timeout 15 /usr/bin/python3 tests/py/rawhttp.py --content-type "$port" "$@" 2>&1; }
post='POST /v1/ports/tripExecution/1/outputports/tripEvents/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
J='application/json closed$'

like "Content-Length over the limit -> 413 JSON naming the limit, closed" \
  "$(raw "${post}Content-Length: 2000000\r\n\r\n")" \
  '^HTTP/1.1 413 Payload Too Large \{"error_code":413,"message":"the request body of 2000000 bytes is larger than the limit of 1049600 bytes \(publish.max.body.bytes plus 1 MiB\)"\} '"$J"
like "... with Expect: 100-continue too (no 100, no 417)" \
  "$(raw "${post}Content-Length: 2000000\r\nExpect: 100-continue\r\n\r\n")" \
  '^HTTP/1.1 413 .*"the request body of 2000000 bytes is larger than the limit of 1049600 bytes.*'"$J"
like "chunked body over the limit -> 413 JSON, closed" \
  "$(raw "${post}Transfer-Encoding: chunked\r\n\r\n" 40 65536)" \
  '^HTTP/1.1 413 Payload Too Large \{"error_code":413,"message":"the chunked request body is larger than the limit of 1049600 bytes \(publish.max.body.bytes plus 1 MiB\)"\} '"$J"
like "... after a 100 Continue the answer is still JSON" \
  "$(raw "${post}Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n" 40 65536)" \
  '^HTTP/1.1 100 Continue .*"error_code":413,.*chunked request body is larger than the limit'
like "one huge chunk size -> 413 before its data" \
  "$(raw "${post}Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFF\r\n")" '^HTTP/1.1 413 .*chunked request body is larger.*'"$J"
like "negative Content-Length -> 400 JSON, closed" "$(raw "${post}Content-Length: -5\r\n\r\nabc")" \
  '^HTTP/1.1 400 Bad Request \{"error_code":400,"message":"Content-Length .-5. is not a number of bytes \(digits only\)"\} '"$J"
like "Content-Length '+5' (libevent takes it) -> 400, closed" "$(raw "${post}Content-Length: +5\r\n\r\n{}   ")" \
  '^HTTP/1.1 400 .*Content-Length .\+5. is not a number of bytes.*'"$J"
like "Content-Length 'abc' -> 400, closed" "$(raw "${post}Content-Length: abc\r\n\r\n")" '^HTTP/1.1 400 .*Content-Length .abc. is not.*'"$J"
like "chunk size 'zz' -> 400 (not libevent's 413), closed" \
  "$(raw "${post}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")" \
  '^HTTP/1.1 400 Bad Request \{"error_code":400,"message":"invalid chunked body: chunk size .zz. after 0 bytes of the body is not hexadecimal digits \(no extensions, no blanks\)"\} '"$J"
like "chunk size '0x2' (strtoll would take it) -> 400" \
  "$(raw "${post}Transfer-Encoding: chunked\r\n\r\n0x2\r\n{}\r\n0\r\n\r\n")" '^HTTP/1.1 400 .*chunk size .0x2. .*'"$J"
like "chunk size '-1' -> 400" "$(raw "${post}Transfer-Encoding: chunked\r\n\r\n-1\r\n")" '^HTTP/1.1 400 .*chunk size .-1. .*'"$J"
like "chunk size with a trailing word ('2 x', libevent takes it) -> 400" \
  "$(raw "${post}Transfer-Encoding: chunked\r\n\r\n2 x\r\n{}\r\n0\r\n\r\n")" '^HTTP/1.1 400 .*chunk size .2 x. .*'"$J"
like "chunk data not followed by CRLF -> 400" \
  "$(raw "${post}Transfer-Encoding: chunked\r\n\r\n2\r\n{}X\r\n0\r\n\r\n")" \
  '^HTTP/1.1 400 .*chunk data not followed by CRLF \(after 2 bytes of the body\).*'"$J"
like "an endless chunk-size line -> 400 without waiting for its end" \
  "$(raw "${post}Transfer-Encoding: chunked\r\n\r\n000000000000000000000000000000000")" '^HTTP/1.1 400 .*chunk-size line longer than 16 bytes.*'"$J"
like "Transfer-Encoding gzip -> 501 JSON, closed" "$(raw "${post}Transfer-Encoding: gzip\r\n\r\n")" \
  '^HTTP/1.1 501 Not Implemented \{"error_code":501,"message":"Transfer-Encoding .gzip. is not supported.*"\} '"$J"
like "Content-Length with Transfer-Encoding -> 400 before any body is read" \
  "$(raw "${post}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n")" \
  '^HTTP/1.1 400 .*ambiguous request framing: both Content-Length and Transfer-Encoding.*'"$J"
like "unknown method -> 501 JSON, closed" "$(raw 'BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n')" \
  '^HTTP/1.1 501 Not Implemented \{"error_code":501,"message":"method BREW is not supported"\} '"$J"
like "folded header line -> 400 JSON, closed" "$(raw 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  2\r\n\r\n')" \
  '^HTTP/1.1 400 .*obsolete line folding.*'"$J"
like "header line without ':' -> 400 JSON, closed" "$(raw 'GET /healthz HTTP/1.1\r\nHost x\r\n\r\n')" \
  '^HTTP/1.1 400 .*the header line .Host x. has no .:.*'"$J"
like "request line without a version -> 400 JSON, closed" "$(raw 'GET /healthz\r\n\r\n')" \
  '^HTTP/1.1 400 .*the request line .GET /healthz. is not .METHOD target HTTP/1.1.*'"$J"
like "headers over http.max.header.bytes (8192) -> 431 JSON naming it, closed" \
  "$(raw "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: $(head -c 9000 /dev/zero | tr '\0' a)\r\n\r\n")" \
  '^HTTP/1.1 431 Request Header Fields Too Large \{"error_code":431,"message":"the request line and headers are larger than the limit of 8192 bytes \(http.max.header.bytes\)"\} '"$J"
like "headers just under it still pass" \
  "$(raw "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: $(head -c 8000 /dev/zero | tr '\0' a)\r\n\r\n")" '^HTTP/1.1 200 OK .* open$'
like "Expect other than 100-continue -> 417 JSON, closed" \
  "$(raw "${post}Expect: teapot\r\nContent-Length: 2\r\n\r\n{}")" '^HTTP/1.1 417 Expectation Failed \{"error_code":417,.*100-continue.*'"$J"
# After a kept-alive request the parser is behind evhttp: the page evhttp writes itself still comes
# out as JSON, with a reason from its status.
like "pipelined bad request behind good ones -> JSON 400, closed" \
  "$(raw 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\nBAD\r\n\r\n')" \
  'HTTP/1.1 400 Bad Request.*"error_code":400,"message":"the request is not valid HTTP/1.1.*closed$'
like "a good request still works on a kept-alive connection" "$(raw 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')" \
  '^HTTP/1.1 200 OK \{"status":"ok"\} application/json open$'
like "a request line longer than the parser keeps (a long query) still works" \
  "$(raw "GET /healthz?pad=$(head -c 300 /dev/zero | tr '\0' a) HTTP/1.1\r\nHost: x\r\n\r\n")" '^HTTP/1.1 200 OK .* open$'
like "a good chunked publish still works" \
  "$(raw "${post}Transfer-Encoding: chunked\r\n\r\ne\r\n{\"records\":[]}\r\n0\r\nX-T: 1\r\n\r\n")" '^HTTP/1.1 [0-9]+ .*application/json open$'

# curl, a client nobody here wrote: a body over the limit (curl sends Expect: 100-continue for
# it), chunked and not, and an unknown method.
big=$T/big; head -c 3000000 /dev/zero >"$big"
out=$(curl -sS --max-time 10 -i -X POST -H 'Content-Type: application/json' --data-binary @"$big" "$A_URL/v1/ports/tripExecution/1/outputports/tripEvents/records" 2>&1)
like "curl: 3 MB body -> 413 JSON naming the limit" "$out" '"error_code":413,"message":"the request body of 3000000 bytes is larger than the limit of 1049600 bytes'
out=$(curl -sS --max-time 10 -i -X POST -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary @"$big" "$A_URL/v1/ports/tripExecution/1/outputports/tripEvents/records" 2>&1)
like "curl: 3 MB chunked body -> 413 JSON" "$out" 'Content-Type: application/json.*|"error_code":413,"message":"the chunked request body is larger than the limit of 1049600 bytes'
check "... and no HTML anywhere" bash -c "! printf '%s' \"\$1\" | grep -qi '<html'" _ "$out"
out=$(curl -sS --max-time 10 -i -X BREW "$A_URL/healthz" 2>&1)
like "curl: unknown method -> 501 JSON with Connection: close" "$(printf '%s' "$out" | tr -d '\r' | tr '\n' ' ')" \
  '^HTTP/1.1 501 Not Implemented Content-Type: application/json Content-Length: [0-9]+ Connection: close +\{"error_code":501,"message":"method BREW is not supported"\}$'
check "the log says why, once per kind (rate-limited)" grep -q 'refused a request from 127.0.0.1:[0-9]* with 413: the request body of 2000000 bytes is larger than the limit' "$T/A.log"
