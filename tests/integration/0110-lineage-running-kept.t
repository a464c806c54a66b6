#!/usr/bin/env bash
# OpenLineage RUNNING events from kept bodies (issue #15, idle CPU): while the registry is
# unchanged, a job whose statistics did not move is sent from the body text kept since it was
# built (no JSON rebuilt); a job whose statistics moved is rebuilt alone; any registry change
# (a product changed through the API) rebuilds every body. The events must stay what they were:
# the same body from RUNNING to RUNNING while idle, the new counts after a publish, the changed
# product's new datasets after a PUT, every event valid OpenLineage 2-0-2.
. "$(dirname "$0")/lib.sh"
[ -d tests/js/node_modules/ajv ] || bail "tests/js/node_modules missing: run make test-deps"
plan 6
python3 tests/integration/ol_receiver.py "$T/ol.port" "$T/events" &
_pids+=($!)
wait_until 10 test -s "$T/ol.port" || bail "the receiver did not start"
start_broker B -c deploy/example.conf -o lineage.url="http://127.0.0.1:$(cat "$T/ol.port")/api/v1/lineage" \
  -o lineage.interval.ms=1000 -o log.level=debug || bail "serve did not start"
wait_ready "$B_URL" 60 || bail "not ready: $(tail -3 "$T/B.log")"
WJ=urn:dpds:com.acme:dataproducts:weather:2
running() { jq -c --arg j "$1" 'select(.eventType == "RUNNING" and .job.name == $j) | del(.eventTime)' "$T/events"; }
nrun() { running "$1" | wc -l; }
wait_until 20 bash -c "[ \$(jq -c --arg j $WJ 'select(.eventType == \"RUNNING\" and .job.name == \$j)' $T/events | wc -l) -ge 3 ]" ||
  bail "fewer than 3 RUNNING events of $WJ"
is "idle: the weather job's last two RUNNING events are the same but for their time" \
  "$(running "$WJ" | tail -2 | uniq | wc -l)" "1"
# A publish moves the weather product's statistics: its next RUNNING shows it.
obs='{"key":"st-1","value":{"observationId":"00000000-0000-4000-8000-000000000001","stationId":"st-1","observedAt":1764583200000,"location":{"lat":52.5,"lon":13.4,"elevationM":34.0},"temperatureC":4.5,"humidityPct":40.5,"condition":"RAIN","quality":{"qc":"ok"}}}'
http POST "$B_URL/v1/ports/weather/2/outputports/observations/records" --data "{\"records\":[$obs]}"
rows() { running "$WJ" | tail -1 | jq -r '[.outputs[] | .outputFacets.outputStatistics.rowCount] | tostring'; }
export -f running rows; export T WJ
wait_until 15 bash -c "[ \"\$(rows)\" = '[1]' ]"
is "after one record published: rowCount 1 in the next RUNNING" "$(rows)" "[1]"
# A product changed through the API (a second output port): every body is rebuilt.
# The observations schema gains an optional field (compatible): the binding job reading it changes
# its body with no change to its statistics.
jq --slurpfile s schemas/examples/weather_observation.avsc \
  '.interfaceComponents.outputPorts[0].promises.api.schema = ($s[0] | .fields += [{"name": "note", "type": ["null", "string"], "default": null, "doc": "added"}]) |
   .interfaceComponents.outputPorts += [.interfaceComponents.outputPorts[0] | .name = "observations2"]' \
  schemas/examples/weather.json >"$T/weather.json"
http PUT "$B_URL/v1/products/$WJ" --data-binary @"$T/weather.json"
like "PUT the weather product with a second output port" "$HTTP_STATUS" '^20[01]$'
outs() { running "$WJ" | tail -1 | jq -r '[.outputs[].name] | join(",")'; }
export -f outs
wait_until 15 bash -c "[ \"\$(outs)\" = 'com.acme.weather.v2.observations,com.acme.weather.v2.observations2' ]"
is "its next RUNNING has both output datasets" "$(outs)" "com.acme.weather.v2.observations,com.acme.weather.v2.observations2"
BJ="binding:$WJ:outputports:observations->urn:dpds:com.acme:dataproducts:tripExecution:1:inputports:weather"
note() { running "$BJ" | tail -1 | jq -r '[.inputs[0].facets.schema.fields[].name] | index("note") != null'; }
export -f note; export BJ
wait_until 15 bash -c "[ \"\$(note)\" = true ]"
is "the binding job's next RUNNING reads the new schema (same statistics, new body)" "$(note)" "true"
stop_pid "$B_PID" 15
check "every event received is valid OpenLineage 2-0-2 (ajv, with its facets)" node tests/js/ol_schema.js tests/data/openlineage "$T/events"
finish
