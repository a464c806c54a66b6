#!/usr/bin/env bash
# systemd readiness (Type=notify in deploy/systemd/portbroker.service): with NOTIFY_SOCKET set, serve
# sends READY=1 once /readyz answers 200 and not before (Kafka taken down before start: STATUS says
# why it is not ready); SIGHUP sends RELOADING=1 (with MONOTONIC_USEC) then READY=1 when the
# reload is refused, or applied and its descriptors stored (/readyz 200 again); SIGTERM sends STOPPING=1. systemd's side is a Python datagram
# socket (notify_receiver.py), a path one and an abstract ('@') one; a bad NOTIFY_SOCKET is logged
# and the broker serves anyway.
. "$(dirname "$0")/lib.sh"
plan 16
R=tests/integration/notify_receiver.py
msgs() { python3 -c 'import json,sys; [print(json.dumps(json.loads(l)["msg"], sort_keys=True)) for l in open(sys.argv[1])]' "$1"; }
has() { grep -q "$2" "$1"; }
mkdir -p "$T/products"; cp schemas/examples/* "$T/products/"
start_kafka 3
kill -USR1 "$KAFKA_PID"; sleep 0.5
python3 "$R" "$T/notify.sock" "$T/n.jsonl" "$T/A.port" & _pids+=($!)
wait_until 10 test -S "$T/notify.sock" || bail "receiver did not bind"
NOTIFY_SOCKET="$T/notify.sock" start_broker A -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme \
  -o products.dir="$T/products" || bail "serve did not start"
check "Kafka down: STATUS says not ready and why" wait_until 15 has "$T/n.jsonl" '"STATUS": "not ready: [^"]*Kafka'
sleep 2
is "Kafka down: no READY=1 after 3 s" "$(grep -c '"READY": "1"' "$T/n.jsonl")" 0
is "Kafka down: /readyz 503 meanwhile" "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$A_URL/readyz")" 503
kill -USR2 "$KAFKA_PID"
check "Kafka back: READY=1 arrives" wait_until 90 has "$T/n.jsonl" '"READY": "1"'
is "/readyz answered 200 the moment READY=1 arrived" "$(python3 -c 'import json,sys; print([json.loads(l)["readyz"] for l in open(sys.argv[1]) if json.loads(l)["msg"].get("READY")][0])' "$T/n.jsonl")" 200
like "READY=1 carries a STATUS" "$(grep '"READY": "1"' "$T/n.jsonl" | head -1)" '"STATUS": "ready: 3 products, HTTP port [0-9]+"'
# SIGHUP, applied: RELOADING=1 then READY=1.
: >"$T/n.jsonl"
jq '.info.fullyQualifiedName = "urn:dpds:com.acme:dataproducts:radar:1" | .info.name = "radar" | .info.version = "1.0.0"' \
  "$T/products/weather.json" >"$T/products/radar.json"
kill -HUP "$A_PID"
check "SIGHUP: READY=1 after the reload" wait_until 30 has "$T/n.jsonl" '"READY": "1"'
is "SIGHUP: RELOADING=1 (MONOTONIC_USEC) then READY=1 (reloaded 4 products)" "$(msgs "$T/n.jsonl" | head -2 | sed 's/"MONOTONIC_USEC": "[0-9]\{6,\}"/"MONOTONIC_USEC": "N"/')" \
  '{"MONOTONIC_USEC": "N", "RELOADING": "1", "STATUS": "reloading (SIGHUP): descriptors, credentials, certificates"}
{"READY": "1", "STATUS": "ready; reloaded 4 products"}'
is "the reload was applied and served when READY=1 came (/readyz then)" "$(grep -c 'reloaded 4 products' "$T/A.log") $(grep '"READY": "1"' "$T/n.jsonl" | jq -r .readyz)" "1 200"
# SIGHUP, refused (a broken descriptor): still RELOADING=1 then READY=1, the status says why.
: >"$T/n.jsonl"
jq '.interfaceComponents.outputPorts[0]["x-portbroker"].partitions = 0' "$T/products/radar.json" >"$T/radar.bad" && mv "$T/radar.bad" "$T/products/radar.json"
kill -HUP "$A_PID"
check "SIGHUP refused: READY=1 all the same" wait_until 30 has "$T/n.jsonl" '"READY": "1"'
like "SIGHUP refused: RELOADING=1 first, then READY=1 saying why" "$(msgs "$T/n.jsonl" | tr '\n' ' ')" \
  '^\{[^}]*"RELOADING": "1"[^}]*\} \{"READY": "1", "STATUS": "ready; the last reload was refused: [^"]*radar.json: /interfaceComponents/outputPorts/0/x-portbroker/partitions'
stop_pid "$A_PID" 20
check "SIGTERM: STOPPING=1" has "$T/n.jsonl" '"STOPPING": "1"'
# An abstract socket, as systemd may hand out.
abs="@pb-notify-$$-$RANDOM"
python3 "$R" "$abs" "$T/m.jsonl" "$T/B.port" & _pids+=($!)
wait_until 10 test -s "$T/m.jsonl" || bail "abstract receiver did not bind"
NOTIFY_SOCKET="$abs" start_broker B -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme \
  -o products.dir=schemas/examples || bail "serve did not start"
check "abstract NOTIFY_SOCKET: READY=1 arrives" wait_until 60 has "$T/m.jsonl" '"READY": "1"'
is "abstract NOTIFY_SOCKET: /readyz was 200 then" "$(grep '"READY": "1"' "$T/m.jsonl" | jq -r .readyz)" 200
stop_pid "$B_PID" 20
# A bad NOTIFY_SOCKET: said in the log, served anyway.
NOTIFY_SOCKET="relative/notify" start_broker C -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme \
  -o products.dir=schemas/examples || bail "serve did not start"
check "bad NOTIFY_SOCKET: the broker still gets ready" wait_ready "$C_URL" 60
like "bad NOTIFY_SOCKET: the log names it and the rule" "$(grep -i 'notify_socket' "$T/C.log")" 'NOTIFY_SOCKET=relative/notify: not an absolute path or an .@. abstract name; readiness is not reported'
finish
