#!/usr/bin/env bash
# GET /metrics with Accept-Encoding: gzip (Prometheus sends it): Content-Encoding: gzip and Vary,
# a body that gunzips to the same series as the plain text and passes promtool; without the
# header, or with gzip;q=0, or for HEAD, the text as it is. The gzip runs on a jobs.c worker
# (PB_JOB_GZIP), off the loop; scrapes sent together while one is compressed all get theirs; SIGTERM
# with gzip scrapes in flight exits cleanly.
. "$(dirname "$0")/lib.sh"
plan 12
start_broker B -o mesh.namespace=com.acme || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
# series: the sample names and labels of a text, values and comments left out (they move), and the
# lag series (they appear with the first lag sweep)
series() { grep -v '^#' "$1" | sed 's/ [^ ]*$//' | grep -v '^process_\|^portbroker_threads\|^portbroker_subscription_lag_' | sort; }

curl -sS --max-time 20 -D "$T/plain.h" -o "$T/plain.txt" "$B_URL/metrics"
curl -sS --max-time 20 -H 'Accept-Encoding: gzip' -D "$T/gz.h" -o "$T/gz.bin" "$B_URL/metrics"
is "Accept-Encoding: gzip: Content-Encoding: gzip" "$(tr -d '\r' <"$T/gz.h" | grep -c '^Content-Encoding: gzip$')" 1
is "and Vary: Accept-Encoding" "$(tr -d '\r' <"$T/gz.h" | grep -c '^Vary: Accept-Encoding$')" 1
gunzip -c <"$T/gz.bin" >"$T/gz.txt" 2>"$T/gunzip.err"
is "the body is gzip (gunzip exits 0)" "$?" 0
[ "$(wc -c <"$T/gz.bin")" -lt "$(wc -c <"$T/gz.txt")" ] && ok "and smaller than the text it holds" ||
  not_ok "and smaller than the text it holds" "$(wc -c <"$T/gz.bin") vs $(wc -c <"$T/gz.txt")"
promtool check metrics <"$T/gz.txt" >"$T/promtool.out" 2>&1
is "promtool check metrics on the gunzipped text exits 0" "$?" 0
is "the same series as the plain text" "$(series "$T/gz.txt" | md5sum)" "$(series "$T/plain.txt" | md5sum)"
like "without Accept-Encoding: no Content-Encoding" "$(tr -d '\r' <"$T/plain.h" | grep -ci '^content-encoding' || true)" '^0$'
curl -sS --max-time 20 -H 'Accept-Encoding: gzip;q=0' -D "$T/q0.h" -o "$T/q0.txt" "$B_URL/metrics"
is "gzip;q=0: the text as it is" "$(grep -c '^portbroker_port_info{' "$T/q0.txt")" "$(grep -c '^portbroker_port_info{' "$T/plain.txt")"
like "HEAD with gzip accepted: 200, no Content-Encoding" \
  "$(curl -sS --max-time 20 -I -H 'Accept-Encoding: gzip' "$B_URL/metrics" | tr -d '\r' | grep -i '^HTTP/\|^content-encoding' | tr '\n' ' ')" \
  '^HTTP/1.1 200 OK $'
# Five at once with curl --compressed: each whole.
pids=()
for k in 1 2 3 4 5; do curl -sS --max-time 30 --compressed -o "$T/c$k.txt" "$B_URL/metrics" & pids+=($!); done
wait "${pids[@]}"
bad=0
for k in 1 2 3 4 5; do promtool check metrics <"$T/c$k.txt" >/dev/null 2>&1 && tail -1 "$T/c$k.txt" | grep -q '^portbroker_publish_dedupe_bytes ' || bad=$((bad + 1)); done
is "five concurrent curl --compressed scrapes: each whole and promtool clean" "$bad" 0
check "the broker is still running" kill -0 "$B_PID"
# SIGTERM while texts are being gzipped or wait for it: a clean exit (SAN=asan: nothing leaked).
pids=()
for k in 1 2 3; do curl -sS --max-time 20 --compressed -o /dev/null "$B_URL/metrics" 2>/dev/null & pids+=($!); done
sleep 0.05
stop_pid "$B_PID" 30
is "SIGTERM with gzip scrapes in flight: exit status 0" "$STOP_RC" 0
wait "${pids[@]}"
finish
