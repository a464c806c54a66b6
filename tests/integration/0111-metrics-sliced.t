#!/usr/bin/env bash
# GET /metrics of a mesh whose text takes several loop turns (150 products, 300 ports: ~1.2 MB,
# rendered in 512 KiB slices, one a turn): the whole text arrives (every port's series, the
# families after the ports', promtool clean); scrapes sent together are answered one after the
# other, each whole; /healthz is answered while they run; a scraper that leaves early breaks
# nothing; a product deleted while scrapes are in flight (the registry frees it between two
# slices) is in the text of those scrapes and gone from the next, and the broker does not crash
# (run with SAN=asan for use-after-free); SIGTERM with scrapes in flight exits cleanly.
. "$(dirname "$0")/lib.sh"
plan 17
N=150
mkdir -p "$T/products"
for i in $(seq 0 $((N - 1))); do
  from=""
  [ "$i" -gt 0 ] && from=",\"from\":\"urn:dpds:t.scrape:dataproducts:p$((i - 1)):1:outputports:out\""
  cat >"$T/products/p$i.json" <<JSON
{"dataProductDescriptor":"1.0.0","info":{"fullyQualifiedName":"urn:dpds:t.scrape:dataproducts:p$i:1",
 "name":"p$i","version":"1.0.0","domain":"d","owner":{"id":"o@example.org"}},
 "interfaceComponents":{
  "outputPorts":[{"name":"out","version":"1.0.0","promises":{"api":{"schema":"string"},"slo":{"freshness":"5m"}},"x-portbroker":{"partitions":1}}],
  "inputPorts":[{"name":"in","version":"1.0.0","promises":{"api":{"schema":"string"},"slo":{"freshness":"5m"}}$from}]}}
JSON
done
start_broker B -o mesh.namespace=t.scrape -o products.dir="$T/products" -o log.level=warn || bail "serve did not start"
wait_ready "$B_URL" 120 || bail "not ready"

# scrape FILE: GET /metrics into FILE; prints the status
scrape() { curl -sS --max-time 60 -o "$1" -w '%{http_code}' "$B_URL/metrics"; }
ports_in() { grep -c '^portbroker_port_info{' "$1"; }
whole() { tail -1 "$1" | grep -q '^portbroker_publish_dedupe_bytes '; }

is "GET /metrics answers 200" "$(scrape "$T/m.txt")" 200
size=$(wc -c <"$T/m.txt")
[ "$size" -gt $((2 * 512 * 1024)) ] && ok "the text ($size bytes) takes at least three slices" ||
  not_ok "the text takes at least three slices" "got $size bytes"
is "port_info for every declared port" "$(ports_in "$T/m.txt")" $((2 * N))
is "every port's e2e histogram ends with its _count" "$(grep -c '^portbroker_port_e2e_latency_seconds_count{' "$T/m.txt")" $((2 * N))
check "the series after the ports' are there, last the dedupe table's" whole "$T/m.txt"
promtool check metrics <"$T/m.txt" >"$T/promtool.out" 2>&1
is "promtool check metrics exits 0" "$?" 0
[ -s "$T/promtool.out" ] && diag "promtool: $(head -5 "$T/promtool.out")"

# Six scrapes at once, /healthz polled meanwhile.
pids=()
for k in 1 2 3 4 5 6; do scrape "$T/c$k.txt" >"$T/c$k.status" & pids+=($!); done
healthz_ok=0
for _ in $(seq 1 20); do
  [ "$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "$B_URL/healthz")" = 200 ] && healthz_ok=$((healthz_ok + 1))
done
wait "${pids[@]}" # not a bare wait: the broker is a child too
statuses=$(for f in "$T"/c?.status; do cat "$f"; echo; done | sort -u | tr "\n" " ")
is "six concurrent scrapes all answer 200" "$statuses" "200 "
bad=0
for k in 1 2 3 4 5 6; do
  { [ "$(ports_in "$T/c$k.txt")" = $((2 * N)) ] && whole "$T/c$k.txt" && promtool check metrics <"$T/c$k.txt" >/dev/null 2>&1; } || bad=$((bad + 1))
done
is "each of them whole (every port, the tail) and promtool clean" "$bad" 0
is "/healthz answered 200 twenty times meanwhile" "$healthz_ok" 20

# A scraper that leaves after 5 ms (mostly before the text is done), then a whole scrape.
for k in 1 2 3; do curl -sS --max-time 0.005 -o /dev/null "$B_URL/metrics" 2>/dev/null; done
is "a scrape after scrapers left early answers 200" "$(scrape "$T/after.txt")" 200
check "and is whole" whole "$T/after.txt"

# Delete the last product (nobody reads its output) while three scrapes are in flight.
pids=()
for k in 1 2 3; do scrape "$T/d$k.txt" >"$T/d$k.status" & pids+=($!); done
http DELETE "$B_URL/v1/products/urn:dpds:t.scrape:dataproducts:p$((N - 1)):1"
is "DELETE the last product meanwhile: 200" "$HTTP_STATUS" 200
wait "${pids[@]}"
is "the scrapes in flight answer 200" "$(for f in "$T"/d?.status; do cat "$f"; echo; done | sort -u | tr "\n" " ")" "200 "
bad=0
for k in 1 2 3; do whole "$T/d$k.txt" && promtool check metrics <"$T/d$k.txt" >/dev/null 2>&1 || bad=$((bad + 1)); done
is "and are whole and promtool clean" "$bad" 0
scrape "$T/next.txt" >/dev/null
is "the next scrape has the product's two ports gone" "$(ports_in "$T/next.txt")" $((2 * N - 2))
check "the broker is still running" kill -0 "$B_PID"

# SIGTERM with scrapes in flight: they are dropped, the broker exits cleanly (under SAN=asan,
# nothing leaked: the queued scrapes and the kept snapshot are freed).
pids=()
for k in 1 2; do curl -sS --max-time 20 -o /dev/null "$B_URL/metrics" 2>/dev/null & pids+=($!); done
sleep 0.05
stop_pid "$B_PID" 30
is "SIGTERM while scrapes are in flight: exit status 0" "$STOP_RC" 0
wait "${pids[@]}"
finish
