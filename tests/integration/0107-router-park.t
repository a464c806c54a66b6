#!/usr/bin/env bash
# Parked output partitions (router.park.idle.ms, issue #15): the fan-out reader stops fetching an
# output partition it is caught up on and that has had no record for the idle time, so an idle
# mesh sends no fetch for it. A parked partition is read again at once when this instance
# publishes to its port, and otherwise when a lag sweep (sub.lag.interval.ms) finds records in it
# beyond the reader's position (a producer writing straight to Kafka): then it waits up to one
# sweep. Instance A (sweep every 60 s): its partitions park; an HTTP publish is routed at once
# (the publish read them again, not a sweep); a record written straight to a parked partition with
# kcat is NOT routed within 8 s (no sweep came: nothing else reads it again). Instance B (sweep
# every second) then routes that record at start, parks, and routes another direct write after a
# sweep. Every record lands once, in per-key order. Then a rebalance: D (idle time 4 s) parks
# everything; E joins (takes part of the partitions: D forgets their parking) and leaves again; the
# partitions D is given back start read: an HTTP publish through D right after (before D parks them
# again) is routed at once. librdkafka keeps a paused partition paused across a revocation and a
# new assignment: without the resume at revocation they would not be fetched (and, not marked
# parked, a publish would not read them again). Last, a new binding from `earliest` joins D's
# parked weather port: the reader goes back for it at once (the binding reads the partitions
# again; a new binding also starts a lag sweep at once, which would find them behind too), and
# it gets every record once, in order. Bounded waits only.
. "$(dirname "$0")/lib.sh"
plan 25
PY=/usr/bin/python3
OUT=com.acme.weather.v2.observations
IN=com.acme.tripExecution.v1.in.weather
serve() { # serve NAME PARK_MS [serve args...]
  local name=$1 park=$2; shift 2
  start_broker "$name" "$@" -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme \
    -o router.park.idle.ms="$park" -o log.level=debug
}
metric() { curl -sS --max-time 5 "$1/metrics" | awk -v n="$2" '$1 == n {print $2}'; }
# parked URL: "parked/read" as /metrics says; all_parked URL: every partition read is parked.
parked() { echo "$(metric "$1" portbroker_router_parked_partitions)/$(metric "$1" portbroker_router_read_partitions)"; }
all_parked() { local p; p=$(parked "$1"); [ "${p%/*}" = "${p#*/}" ] && [ "${p%/*}" -gt 0 ]; }
unparks() { metric "$1" "portbroker_router_unparks_total{reason=\"$2\"}"; }
ends() { timeout 30 $PY tests/py/route_crash.py settle "$BROKERS" "$IN" "${1:-1}"; }
obs() { # obs ID KEY SEQ: an HTTP publish record (a weather observation)
  printf '{"key":"%s","id":"%d","headers":{"seq":"%d"},"value":{"observationId":"00000000-0000-4000-8000-%012d","stationId":"%s","observedAt":1764583200000,"location":{"lat":52.5,"lon":13.4,"elevationM":34.0},"temperatureC":4.5,"humidityPct":40.5,"condition":"RAIN","quality":{"qc":"ok"}}}' "$2" "$1" "$3" "$1" "$2"
}
# direct ID KEY SEQ: the same record as a Confluent frame, produced straight to $OUT with kcat
# (partitioned by key as the broker's publishing producer does: murmur2).
direct() {
  $PY - "$writer_id" "$1" "$2" >"$T/rec$1" <<'PYEOF'
import struct, sys
def zz(n):
    n = (n << 1) ^ (n >> 63); out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80); n >>= 7
    out.append(n); return bytes(out)
def s(t): b = t.encode(); return zz(len(b)) + b
sid, i, key = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
body = (s("00000000-0000-4000-8000-%012d" % i) + s(key) + zz(1764583200000)
        + struct.pack("<dd", 52.5, 13.4) + b"\x00" + struct.pack("<f", 21.5) + b"\x00"
        + struct.pack("<f", 12.5) + b"\x00" + b"\x00" + b"\x00")
sys.stdout.buffer.write(b"\x00" + struct.pack(">I", sid) + body)
PYEOF
  timeout 20 kcat -P -b "$BROKERS" -t "$OUT" -X partitioner=murmur2_random -k "$2" \
    -H "ce_id=$1" -H "seq=$3" "$T/rec$1"
}

start_kafka 3
serve A 1000 -o sub.lag.interval.ms=60000 || bail "serve A did not start"
wait_ready "$A_URL" || bail "A not ready"
writer_id=$(curl -sS --max-time 5 "$A_URL/subjects/$OUT-value/versions/latest" | jq .id)
wait_until 30 grep -q "partition .* of $OUT assigned: starts" "$T/A.log" || bail "A was not assigned"
check "A parks every output partition it reads once idle" wait_until 30 all_parked "$A_URL"
diag "A: parked/read $(parked "$A_URL")"
like "A logs a summary of what it parked" "$(grep 'idle partitions parked' "$T/A.log" | head -1)" \
  "fan-out reader: [1-9][0-9]* idle partitions parked .* are parked now"

# An HTTP publish to the parked port: routed at once, though A's next sweep is a minute away.
recs=""; for i in $(seq 0 9); do recs="$recs${recs:+,}$(obs "$i" "k$((i % 5))" $((i / 5)))"; done
http POST "$A_URL/v1/ports/weather/2/outputports/observations/records" --data "{\"records\":[$recs]}"
is "10 observations published through A" "$HTTP_STATUS" 200
t0=$SECONDS
check "they are routed within 15 s (no sweep runs for 60 s)" wait_until 15 bash -c "[ \"\$(timeout 20 $PY tests/py/route_crash.py settle $BROKERS $IN 0.3)\" = 10 ]"
diag "routed after about $((SECONDS - t0)) s"
check "the publish read the parked partitions again (unparks{reason=publish} >= 1)" test "$(unparks "$A_URL" publish)" -ge 1
is "no sweep read any again" "$(unparks "$A_URL" sweep)" 0

# A direct write to a parked partition: nothing reads it again before a sweep.
check "A parks them again" wait_until 30 all_parked "$A_URL"
direct 10 k0 2 || bail "kcat could not produce"
sleep 8
is "the direct write is not routed within 8 s by A (sweep every 60 s)" "$(ends 0.5)" 10
stop_pid "$A_PID"

# B sweeps every second: the record A left is routed when B starts (its partitions start unparked),
# then a direct write into a parked partition is routed after a sweep.
serve B 1000 -o sub.lag.interval.ms=1000 || bail "serve B did not start"
wait_ready "$B_URL" || bail "B not ready"
check "B routes the record A left (11 in the input topic)" wait_until 30 bash -c "[ \"\$(timeout 20 $PY tests/py/route_crash.py settle $BROKERS $IN 0.3)\" = 11 ]"
check "B parks every output partition it reads" wait_until 30 all_parked "$B_URL"
direct 11 k1 2 || bail "kcat could not produce"
t0=$SECONDS
check "B routes a direct write into a parked partition after a sweep" wait_until 20 bash -c "[ \"\$(timeout 20 $PY tests/py/route_crash.py settle $BROKERS $IN 0.3)\" = 12 ]"
diag "routed after about $((SECONDS - t0)) s"
check "a sweep read it again (unparks{reason=sweep} >= 1)" test "$(unparks "$B_URL" sweep)" -ge 1
is "no publish on B" "$(unparks "$B_URL" publish)" 0
check "each of 12 ids exactly once, per-key order kept" timeout 60 $PY tests/py/route_crash.py check "$BROKERS" "$IN" 12
diag "$(cat "$T/check.out")"
stop_pid "$B_PID"

# The rebalance. trip ID: a trip event (6 partitions, bound to billing's trips input).
trip() { printf '{"key":"trip-%d","value":{"eventId":"0b0e7f06-9c3e-4c07-8d8e-2f2b9c7a%04d","tripId":"1b0e7f06-9c3e-4c07-8d8e-2f2b9c7a1a11","occurredAt":1700000000000,"eventType":"STARTED","customerId":"c1","vehicle":{"vehicleId":"v1","kind":"VAN","capacityKg":500},"route":{"origin":{"name":"A","lat":1.0,"lon":2.0},"destination":{"name":"B","lat":3.0,"lon":4.0}},"distanceKm":12.5,"serviceDate":19000}}' "$1" "$1"; }
IN2=com.acme.billing.v1.in.trips
started() { grep -c "fan-out reader: [1-9][0-9]* partitions started" "$T/$1.log"; }
serve D 4000 -o sub.lag.interval.ms=60000 || bail "serve D did not start"
wait_ready "$D_URL" || bail "D not ready"
check "D parks every output partition it reads" wait_until 40 all_parked "$D_URL"
n0=$(started D)
serve E 0 -o sub.lag.interval.ms=60000 || bail "serve E did not start"
wait_ready "$E_URL" || bail "E not ready"
wait_until 60 grep -Eq "fan-out reader: [1-9][0-9]* partitions started" "$T/E.log" || bail "E was given no partition"
p=$(parked "$D_URL")
check "D forgot the parking of what E took (parked/read $p, fewer than 10 read)" test "${p#*/}" -lt 10 -a "${p%/*}" -le "${p#*/}"
stop_pid "$E_PID"
wait_until 60 bash -c "[ \$(grep -c 'fan-out reader: [1-9][0-9]* partitions started' $T/D.log) -gt $n0 ]" || bail "D was not given the partitions back"
recs=""; for i in $(seq 12 41); do recs="$recs${recs:+,}$(obs "$i" "k$i" 0)"; done
http POST "$D_URL/v1/ports/weather/2/outputports/observations/records" --data "{\"records\":[$recs]}"
s1=$HTTP_STATUS
recs=""; for i in $(seq 1 60); do recs="$recs${recs:+,}$(trip "$i")"; done
http POST "$D_URL/v1/ports/tripExecution/1/outputports/tripEvents/records" --data "{\"records\":[$recs]}"
is "30 observations and 60 trip events published through D as soon as it got the partitions back" "$s1 $HTTP_STATUS" "200 200"
check "all of them routed within 15 s, the partitions given back included (D sweeps every 60 s)" \
  wait_until 15 bash -c "[ \"\$(timeout 20 $PY tests/py/route_crash.py settle $BROKERS $IN 0.3) \$(timeout 20 $PY tests/py/route_crash.py settle $BROKERS $IN2 0.3)\" = '42 60' ]"
diag "input topics: $(ends 0.3) weather, $(timeout 20 $PY tests/py/route_crash.py settle "$BROKERS" "$IN2" 0.3) trips"

# A new binding from earliest on D's parked weather port.
check "D parks them again" wait_until 40 all_parked "$D_URL"
jq -n --argjson s "$(cat schemas/examples/weather_reader.avsc)" '{dataProductDescriptor: "1.0.0",
  info: {fullyQualifiedName: "urn:dpds:com.acme:dataproducts:audit:1", name: "audit", version: "1.0.0",
         domain: "test", owner: {id: "audit@acme.example"}},
  interfaceComponents: {inputPorts: [{name: "obs", version: "1.0.0",
    promises: {api: {format: "avro", schema: $s}}}]}}' >"$T/audit.json"
http PUT "$D_URL/v1/products/urn:dpds:com.acme:dataproducts:audit:1" --data-binary @"$T/audit.json"
like "the audit product is stored" "$HTTP_STATUS" '^20[01]$'
http PUT "$D_URL/v1/subscriptions" --data '{"from":"urn:dpds:com.acme:dataproducts:weather:2:outputports:observations","to":"urn:dpds:com.acme:dataproducts:audit:1:inputports:obs","start":"earliest"}'
like "a binding from earliest" "$HTTP_STATUS" '^20[01]$'
IN3=com.acme.audit.v1.in.obs
check "it gets all 42 records within 20 s" \
  wait_until 20 bash -c "[ \"\$(timeout 20 $PY tests/py/route_crash.py settle $BROKERS $IN3 0.3)\" = 42 ]"
check "the binding read the parked partitions again (unparks{reason=binding} >= 1)" test "$(unparks "$D_URL" binding)" -ge 1
check "each of 42 ids exactly once, per-key order kept, in the new binding's topic" timeout 60 $PY tests/py/route_crash.py check "$BROKERS" "$IN3" 42
check "and still in the first one's" timeout 60 $PY tests/py/route_crash.py check "$BROKERS" "$IN" 42
stop_pid "$D_PID"
finish
