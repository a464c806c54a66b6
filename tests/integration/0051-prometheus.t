#!/usr/bin/env bash
# The real Prometheus server (Debian package) scrapes a running broker every second with the
# shipped rules loaded; a port's series and throughput come back through Prometheus' HTTP API,
# a counter that moves (schema checks) moves there too, the recording rules evaluate, and the
# stale-port alert is pending for an idle port; records published to that port then show up as
# its throughput and make it fresh.
. "$(dirname "$0")/lib.sh"
plan 14
command -v prometheus >/dev/null || bail "prometheus (Debian package) is not installed"
start_broker B -o mesh.namespace=com.acme || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
BPORT=${B_URL##*:}

PP=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$T/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $PWD/deploy/prometheus/portbroker.rules.yml
scrape_configs:
  - job_name: portbroker
    static_configs:
      - targets: ['127.0.0.1:$BPORT']
YML
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom" \
  --web.listen-address="127.0.0.1:$PP" --log.level=warn >"$T/prometheus.log" 2>&1 &
PROM_PID=$!
_pids+=("$PROM_PID")
P="http://127.0.0.1:$PP"
check "Prometheus starts and is ready" wait_until 30 curl -fsS --max-time 2 "$P/-/ready"

# q QUERY: the first result's value ("" when none)
q() { curl -sS --max-time 5 -G "$P/api/v1/query" --data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // empty'; }
# q_is QUERY VALUE: poll until the query answers VALUE (bounded)
q_is() { [ "$(q "$1")" = "$2" ]; }
q_has() { [ -n "$(q "$1")" ]; }
q_gt0() { awk -v v="$(q "$1")" 'BEGIN { exit !(v != "" && v + 0 > 0) }'; }

check "Prometheus scrapes the broker (up == 1)" wait_until 20 q_is 'up{job="portbroker"}' 1
OBS='product="weather",major="2",port="observations",kind="output"'
check "an idle port's SLO gauge comes back" wait_until 10 q_is "portbroker_port_freshness_slo_seconds{$OBS}" 120
check "the recording rules evaluate on the broker's series" wait_until 10 q_is "portbroker:port_freshness_slo_seconds:max{$OBS}" 120
check "an idle port is stale through Prometheus" wait_until 10 q_is "portbroker_port_fresh{$OBS}" 0
check "the stale-port alert is pending for it" wait_until 15 q_is "count(ALERTS{alertname=\"PortbrokerPortStale\",$OBS})" 1

# Traffic: 20 records published with event time now.
now=$(date +%s%3N)
recs=$(jq -cn --argjson t "$now" '{records: [range(0; 20) | {key: "st\(.)", value: {observationId: "6f1c8a4e-3b2d-4c5e-9f10-00000000000\(. % 10)",
  stationId: "st\(.)", observedAt: $t, location: {lat: 1.5, lon: 2.5, elevationM: null}, temperatureC: 20.5,
  humidityPct: null, windSpeedKmh: 3.0, condition: "CLEAR", precipitationMm: null, quality: {}}}]}')
http POST "$B_URL/v1/ports/weather/2/outputports/observations/records" -H 'Content-Type: application/json' -d "$recs"
is "publish 20 records: 200" "$HTTP_STATUS" 200
RATE="rate(portbroker_port_records_total{$OBS,direction=\"in\",outcome=\"ok\"}[5s])"
check "the published records' counter reaches Prometheus (20)" wait_until 15 q_is "portbroker_port_records_total{$OBS,direction=\"in\",outcome=\"ok\"}" 20
check "the port's throughput (rate over 5s) is positive in Prometheus" wait_until 10 q_gt0 "$RATE"
check "the port is fresh in Prometheus" wait_until 10 q_is "portbroker_port_fresh{$OBS}" 1
diag "throughput read back: $(q "$RATE") records/s; recorded 5m rate: $(q "portbroker:port_records_in:rate5m{$OBS}")"

# A counter that moves: one schema registration runs one compatibility check.
SUM='sum(portbroker_schema_checks_total{result="compatible"})'
wait_until 10 q_has "$SUM"
before=$(q "$SUM")
s1=$(jq -cn '{schema: ({type:"record",name:"P",fields:[{name:"x",type:"int"}]} | tojson)}')
http POST "$B_URL/subjects/prom-test-value/versions" -H 'Content-Type: application/vnd.schemaregistry.v1+json' -d "$s1"
is "register a schema: 200" "$HTTP_STATUS" 200
check "the schema-check counter moves in Prometheus (+1)" wait_until 15 q_is "$SUM" $((before + 1))
check "and its rate is positive" wait_until 10 q_gt0 "rate(portbroker_schema_checks_total{result=\"compatible\",level=\"BACKWARD\"}[5s])"

stop_pid "$PROM_PID"
stop_pid "$B_PID"
is "the broker stops cleanly" "$STOP_RC" 0
finish
