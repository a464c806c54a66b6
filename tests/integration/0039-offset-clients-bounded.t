#!/usr/bin/env bash
# Offset jobs share the instance's Kafka clients (issue #15): 200 consumer-API offset requests over
# 50 consumer groups (cursor commits through the group, where no stream of the port is open here,
# and start positions checked against the partitions) make no client per request, job or group.
# The process's threads and librdkafka clients (one `rdk:main` thread each) are sampled from /proc
# every 50 ms before, during and after: for the 45 groups Kafka takes a commit from outside
# (nobody ever joined them), both stay exactly where they were; for the 5 groups the embedded
# cluster takes commits from members only (a bounded poll joined each once), at most
# sub.commit.clients (2) group committers join, commit and leave, and they are closed after
# sub.commit.client.idle.ms. python3-confluent-kafka reads the committed offsets back.
. "$(dirname "$0")/lib.sh"
plan 12
PY=/usr/bin/python3
start_kafka 3
P="$T/products"
mkdir -p "$P"
cp schemas/examples/weather_observation.avsc schemas/examples/weather_reader.avsc "$P/"
jq '.info.fullyQualifiedName = "urn:dpds:com.acme:dataproducts:wa:1" | .info.name = "wa" | .info.version = "1.0.0"' \
  schemas/examples/weather.json >"$P/wa.json"
# 5 products x 10 input ports, all bound to wa's observations: 50 input ports, 50 subscriber groups.
for c in 0 1 2 3 4; do
  ports=$(for i in 0 1 2 3 4 5 6 7 8 9; do
    printf '{"name": "p%d", "version": "1.0.0", "from": "urn:dpds:com.acme:dataproducts:wa:1:outputports:observations", "promises": {"api": {"format": "avro", "schema": {"$ref": "weather_reader.avsc"}}}}\n' "$i"
  done | jq -s -c .)
  jq -n --arg c "c$c" --argjson ports "$ports" '{dataProductDescriptor: "1.0.0",
    info: {fullyQualifiedName: "urn:dpds:com.acme:dataproducts:\($c):1", name: $c, version: "1.0.0",
           domain: "test", owner: {id: "\($c)@acme.example"}},
    interfaceComponents: {inputPorts: $ports}}' >"$P/c$c.json"
done
start_broker B -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme -o products.dir="$P" \
  -o sub.lag.interval.ms=500 -o sub.commit.clients=2 -o sub.commit.client.idle.ms=8000 \
  -o log.level=debug || bail "serve did not start"
wait_ready "$B_URL" 60 || bail "not ready"
n=$(curl -sS --max-time 5 "$B_URL/v1/subscriptions" | jq '.subscriptions | length')
is "50 bindings to 50 input ports" "$n" 50
port() { echo "urn:dpds:com.acme:dataproducts:c$1:1:inputports:p$2"; } # PRODUCT PORT
group() { echo "portbroker.sub.com.acme.c$1.v1.in.p$2"; }
# The 5 groups the cluster will take commits from members only: c4's p5..p9, joined once each.
for i in 5 6 7 8 9; do
  curl -sS -N --max-time 20 -o /dev/null "$B_URL/v1/ports/$(port 4 $i)/records?max_records=1&timeout_ms=300"
done
# The lag sweeps have made the offset reader; the bounded polls' consumers are closed.
wait_until 30 grep -q "(offset reader): settings" "$T/B.log" || bail "no offset reader"
handles() { grep -lx 'rdk:main' /proc/"$B_PID"/task/*/comm 2>/dev/null | wc -l; }
threads() { awk '/^Threads/ {print $2}' /proc/"$B_PID"/status; }
settled() { [ "$(handles)" = "$1" ]; }
sleep 2
H0=$(handles)
T0=$(threads)
diag "before: $T0 threads, $H0 librdkafka clients"
sampler() { while kill -0 "$B_PID" 2>/dev/null; do echo "$(threads) $(handles)"; sleep 0.05; done; }
sampler >"$T/samples" &
SAMPLER=$!
_pids+=("$SAMPLER")

# ---- 180 requests over the 45 groups nobody joined: 8 at a time ----
: >"$T/reqs"
for round in 0 1 2 3; do
  for c in 0 1 2 3 4; do
    for i in 0 1 2 3 4 5 6 7 8 9; do
      [ "$c" = 4 ] && [ "$i" -ge 5 ] && continue
      if [ "$i" = $((round + 2)) ]; then # a start position past the end: the job answers 422
        echo "GET $(port $c $i)/records?from=offsets:0:7&max_records=1&timeout_ms=300" >>"$T/reqs"
      else
        echo "POST $(port $c $i)/cursors" >>"$T/reqs"
      fi
    done
  done
done
req() { # METHOD PATH: prints one line: the status, the method and the body's first 200 characters
  local f="$T/r.$BASHPID" code
  if [ "$1" = POST ]; then
    code=$(curl -sS --max-time 40 -w '%{http_code}' -o "$f" -H 'content-type: application/json' \
      --data '{"cursors":[{"partition":0,"offset":0},{"partition":2,"offset":0}]}' "$B_URL/v1/ports/$2")
  else
    code=$(curl -sS --max-time 40 -w '%{http_code}' -o "$f" "$B_URL/v1/ports/$2")
  fi
  echo "$code $1 $(head -c 200 "$f")"
  rm -f "$f"
}
export -f req
export B_URL T
t0=$SECONDS
xargs -P 8 -L 1 bash -c 'req "$0" "$1"' <"$T/reqs" >"$T/answers"
diag "180 requests in $((SECONDS - t0)) s"
sleep 0.3
kill "$SAMPLER" 2>/dev/null
wait "$SAMPLER" 2>/dev/null
NC=$(grep -c '^POST' "$T/reqs")
NG=$(grep -c '^GET' "$T/reqs")
is "$NC cursor commits through the group: all 200" "$(grep -c '^200 POST {"stream":null,' "$T/answers")" "$NC"
is "$NG start positions past the end: all 422 from the offset job" \
  "$(grep -c '^422 GET .*partition 0: offset 7 is beyond its end' "$T/answers")" "$NG"
read -r tmax hmax <<<"$(sort -n "$T/samples" | tail -1 | awk '{print $1}') $(awk '{print $2}' "$T/samples" | sort -n | tail -1)"
diag "during: $(wc -l <"$T/samples") samples, at most $tmax threads and $hmax librdkafka clients"
is "librdkafka clients while they ran: always $H0, as before" \
  "$(awk '{print $2}' "$T/samples" | sort -u | tr '\n' ' ')" "$H0 "
check "threads while they ran: never more than before ($T0)" test "$tmax" -le "$T0"
check "no client made for a job or a group" bash -c "! grep -q '(offset job\|group committer\|lag probe): settings' '$T/B.log'"

# ---- 20 commits over the 5 groups that take them from members only ----
sampler >"$T/samples2" &
SAMPLER=$!
_pids+=("$SAMPLER")
t0=$SECONDS
: >"$T/answers2"
# Two in a row per group (the second reuses the first's committer), twice over the 5 groups: a
# third group closes the least recently used of the 2 committers.
for round in 0 1; do
  for i in 5 6 7 8 9; do
    req POST "$(port 4 $i)/cursors" >>"$T/answers2"
    req POST "$(port 4 $i)/cursors" >>"$T/answers2"
  done
done
diag "20 joined commits in $((SECONDS - t0)) s"
sleep 0.3
kill "$SAMPLER" 2>/dev/null
wait "$SAMPLER" 2>/dev/null
is "20 commits that join their group: all 200" "$(grep -c '^200 POST {"stream":null,' "$T/answers2")" 20
hmax2=$(awk '{print $2}' "$T/samples2" | sort -n | tail -1)
tmax2=$(awk '{print $1}' "$T/samples2" | sort -n | tail -1)
made=$(grep -c '(group committer): settings' "$T/B.log")
diag "joined commits: at most $tmax2 threads and $hmax2 librdkafka clients; $made group committers made"
check "at most sub.commit.clients (2) group committers at once: $hmax2 clients <= $H0 + 2" test "$hmax2" -le $((H0 + 2))
is "a group's second commit reuses its committer (10 made for 20 commits); a third group closes the least recently used" \
  "$made $(grep -c 'group committer of .* closed (room for another group)' "$T/B.log")" "10 8"
check "committers idle past sub.commit.client.idle.ms are closed: back to $H0 clients" wait_until 20 settled "$H0"
check "and back to $T0 threads" wait_until 5 sh -c "[ \$(awk '/^Threads/ {print \$2}' /proc/$B_PID/status) -le $T0 ]"

# ---- the commits are Kafka's: python3-confluent-kafka reads them back ----
cat >"$T/committed.py" <<'PY'
import sys
from confluent_kafka import Consumer, TopicPartition
out = []
for g in sys.argv[2:]:
    topic = g[len("portbroker.sub."):]
    c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": g})
    got = c.committed([TopicPartition(topic, p) for p in (0, 1, 2)], timeout=10)
    out.append(",".join(str(tp.offset) for tp in got))
    c.close()
print(" ".join(out))
PY
is "committed offsets of 3 groups committed from outside and 2 joined ones: partitions 0 and 2 at 0, 1 untouched" \
  "$(timeout 60 $PY "$T/committed.py" "$BROKERS" "$(group 0 0)" "$(group 2 7)" "$(group 4 4)" "$(group 4 5)" "$(group 4 9)")" \
  "0,-1001,0 0,-1001,0 0,-1001,0 0,-1001,0 0,-1001,0"
finish
