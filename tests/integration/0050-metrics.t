#!/usr/bin/env bash
# GET /metrics on a running broker: Prometheus text format that `promtool check metrics` accepts
# (exit 3, a lint warning, fails), every declared port's series from start-up with no traffic
# (stale, zeros, SLO gauges), ports added by PUT /v1/products appear and deleted ones go, schema
# compatibility checks (registrations and the compatibility endpoint) counted by result and level,
# metrics.enabled = false.
. "$(dirname "$0")/lib.sh"
plan 40
start_broker B -o mesh.namespace=com.acme || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
SR=(-H 'Content-Type: application/vnd.schemaregistry.v1+json')

scrape() { curl -sS --max-time 10 -D "$T/m.headers" -o "$T/m.txt" "$B_URL/metrics"; }
# value SERIES: the sample value of the exact series text (name{labels}), empty when absent
value() { awk -v k="$1" 'index($0, k " ") == 1 { print substr($0, length(k) + 2) }' "$T/m.txt"; }
L_TRIP='product="tripExecution",major="1",port="tripEvents",kind="output"'
L_WIN='product="tripExecution",major="1",port="weather",kind="input"'

scrape
like "GET /metrics answers 200 in text format 0.0.4" "$(head -1 "$T/m.headers") $(grep -i '^content-type' "$T/m.headers")" \
  '200.*text/plain; version=0\.0\.4'
promtool check metrics <"$T/m.txt" >"$T/promtool.out" 2>&1
is "promtool check metrics exits 0 (no lint warning)" "$?" 0
[ -s "$T/promtool.out" ] && diag "promtool: $(head -5 "$T/promtool.out")"

# Every port the registry declares has its series, with no traffic and no subscriber.
ports=$(curl -sS --max-time 10 "$B_URL/v1/ports" | jq -r '.ports[].fqn' | sort)
exported=$(grep '^portbroker_port_info{' "$T/m.txt" | sed 's/.*fqn="\([^"]*\)".*/\1/' | sort)
is "port_info for every declared port (5 in the examples)" "$exported" "$ports"
is "five ports" "$(wc -l <<<"$ports" | tr -d ' ')" 5
is "an idle output port: published ok 0" "$(value "portbroker_port_records_total{$L_TRIP,direction=\"in\",outcome=\"ok\"}")" 0
is "an idle output port: rejected 0" "$(value "portbroker_port_records_total{$L_TRIP,direction=\"in\",outcome=\"rejected\"}")" 0
is "an idle output port: dlq by reason 0" "$(value "portbroker_dlq_records_total{$L_TRIP,reason=\"decode\"}")" 0
is "an idle input port: routed in 0" "$(value "portbroker_port_records_total{$L_WIN,direction=\"in\",outcome=\"ok\"}")" 0
is "an idle port is stale (fresh 0)" "$(value "portbroker_port_fresh{$L_TRIP}")" 0
is "its last record timestamp is 0" "$(value "portbroker_port_last_record_timestamp_seconds{$L_TRIP}")" 0
is "freshness SLO 5m as a gauge" "$(value "portbroker_port_freshness_slo_seconds{$L_TRIP}")" 300
is "throughput.min 10/s as a gauge" "$(value "portbroker_port_throughput_min_records_per_second{$L_TRIP}")" 10
is "rejects.max 0.1% as a gauge" "$(value "portbroker_port_rejects_max_ratio{$L_TRIP}")" 0.001
is "the freshness SLO is an e2e bucket bound" "$(value "portbroker_port_e2e_latency_seconds_bucket{$L_TRIP,le=\"300\"}")" 0
like "build_info carries the version" "$(grep '^portbroker_build_info' "$T/m.txt")" "^portbroker_build_info\{version=\"$(cat VERSION)\"\} 1$"

# Schema checks: one compatible and one incompatible registration at BACKWARD.
key_ok="portbroker_schema_checks_total{result=\"compatible\",level=\"BACKWARD\"}"
key_bad="portbroker_schema_checks_total{result=\"incompatible\",level=\"BACKWARD\"}"
ok0=$(value "$key_ok"); bad0=$(value "$key_bad")
s1=$(jq -cn '{schema: ({type:"record",name:"M",fields:[{name:"x",type:"int"}]} | tojson)}')
s2=$(jq -cn '{schema: ({type:"record",name:"M",fields:[{name:"x",type:"int"},{name:"y",type:"string"}]} | tojson)}')
http POST "$B_URL/subjects/metrics-test-value/versions" "${SR[@]}" -d "$s1"
is "register a first version: 200" "$HTTP_STATUS" 200
http POST "$B_URL/subjects/metrics-test-value/versions" "${SR[@]}" -d "$s2"
is "register a field without default: 409" "$HTTP_STATUS" 409
http POST "$B_URL/subjects/metrics-test-value/versions" "${SR[@]}" -d "$s1"
scrape
is "compatible BACKWARD checks +1 (the re-register of a live schema runs no check)" "$(value "$key_ok")" $((ok0 + 1))
is "incompatible BACKWARD checks +1" "$(value "$key_bad")" $((bad0 + 1))
http POST "$B_URL/compatibility/subjects/metrics-test-value/versions/latest" "${SR[@]}" -d "$s2"
is "the compatibility endpoint answers is_compatible false" "$HTTP_BODY" '{"is_compatible":false}'
http POST "$B_URL/compatibility/subjects/metrics%2Dtest-value/versions" "${SR[@]}" -d "$s1"
is "and true (percent-encoded subject)" "$HTTP_BODY" '{"is_compatible":true}'
scrape
is "the compatibility endpoint's checks count too (+1 each)" \
  "$(value "$key_ok") $(value "$key_bad")" "$((ok0 + 2)) $((bad0 + 2))"

# A product added through the API has its series at once; a deleted one stops being exported.
D=$(jq -c --slurpfile s schemas/examples/weather_observation.avsc \
  '.info.fullyQualifiedName="urn:dpds:com.acme:dataproducts:radar:1" | .info.name="radar" | .info.version="1.0.0"
   | .interfaceComponents.outputPorts[0].promises.api.schema = $s[0]' schemas/examples/weather.json)
http PUT "$B_URL/v1/products/radar/1" -d "$D"
is "PUT a new product: 201" "$HTTP_STATUS" 201
scrape
L_RADAR='product="radar",major="1",port="observations",kind="output"'
is "its port has series right away" "$(value "portbroker_port_records_total{$L_RADAR,direction=\"in\",outcome=\"ok\"}")" 0
http DELETE "$B_URL/v1/products/radar/1"
scrape
is "a deleted product's ports are no longer exported" "$(grep -c 'product="radar"' "$T/m.txt")" 0
check "and the exposition is still promtool-clean" promtool check metrics <"$T/m.txt"

# Traffic through the publish endpoint: counts, bytes, event time (the port's eventTimeField)
# apart from receive time, freshness against the 2m SLO, the e2e histogram, rejects.
OBS='product="weather",major="2",port="observations",kind="output"'
obs() { # obs N EVENT_MS: a publish body of N observations with that event time
  jq -cn --argjson n "$1" --argjson t "$2" '{records: [range(0; $n) | {key: "st\(.)", value: {
    observationId: "6f1c8a4e-3b2d-4c5e-9f10-00000000000\(. % 10)", stationId: "st\(.)", observedAt: $t,
    location: {lat: 1.5, lon: 2.5, elevationM: null}, temperatureC: 20.5, humidityPct: null,
    windSpeedKmh: 3.0, condition: "CLEAR", precipitationMm: null, quality: {}}}]}'; }
PUB="$B_URL/v1/ports/weather/2/outputports/observations/records"
old_s=$(( $(date +%s) - 3600 ))
http POST "$PUB" -H 'Content-Type: application/json' -d "$(obs 3 $((old_s * 1000 + 250)))"
is "publish 3 records an hour old (event time): 200" "$HTTP_STATUS" 200
sleep 1.2
scrape
is "published ok: 3" "$(value "portbroker_port_records_total{$OBS,direction=\"in\",outcome=\"ok\"}")" 3
is "last record timestamp is the event time (observedAt), not the receive time" \
  "$(value "portbroker_port_last_record_timestamp_seconds{$OBS}")" "$old_s.25"
like "last received timestamp is now" "$(awk -v v="$(value "portbroker_port_last_received_timestamp_seconds{$OBS}")" -v now="$(date +%s)" \
  'BEGIN { print (now - v < 30 && now - v > -5) ? "recent" : "off by " now - v }')" '^recent$'
is "an hour-old newest record is stale against the 2m SLO" "$(value "portbroker_port_fresh{$OBS}")" 0
http POST "$PUB" -H 'Content-Type: application/json' -d "$(obs 1 "$(date +%s%3N)")"
wait_until 5 sh -c "curl -s --max-time 2 '$B_URL/metrics' | grep -qxF 'portbroker_port_fresh{$OBS} 1'"
is "a record with event time now makes the port fresh within the 1 s tick" "$?" 0
scrape
is "e2e latency: the recent record within the SLO bucket (le=120)" "$(value "portbroker_port_e2e_latency_seconds_bucket{$OBS,le=\"120\"}")" 1
is "e2e latency: all four counted (+Inf)" "$(value "portbroker_port_e2e_latency_seconds_bucket{$OBS,le=\"+Inf\"}")" 4
http POST "$PUB" -H 'Content-Type: application/json' -d '{"records":[{"value":{"stationId":1}}]}'
is "an invalid record: 422" "$HTTP_STATUS" 422
scrape
is "rejected: 1" "$(value "portbroker_port_records_total{$OBS,direction=\"in\",outcome=\"rejected\"}")" 1
check "with traffic the exposition is still promtool-clean" promtool check metrics <"$T/m.txt"

# metrics.enabled = false: nothing counted, /metrics is 404.
start_broker OFF -o mesh.namespace=com.acme -o metrics.enabled=false || bail "serve did not start"
wait_ready "$OFF_URL" || bail "not ready"
http GET "$OFF_URL/metrics"
like "metrics.enabled=false: /metrics answers 404 saying why" "$HTTP_STATUS $HTTP_BODY" '^404 .*metrics.enabled = false'
http GET "$OFF_URL/v1/status"
is "and /v1/status still lists every port (zeros)" "$HTTP_STATUS $(jq '.ports | length' <<<"$HTTP_BODY")" "200 5"
stop_pid "$OFF_PID"
stop_pid "$B_PID"
is "the broker stops cleanly" "$STOP_RC" 0
finish
