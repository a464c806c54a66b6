#!/usr/bin/env bash
# Lag sweeps (issue #15): the lag poller runs as jobs, asks Kafka one watermarks look-up per sweep,
# and takes the route side's committed offsets from this instance's own routers (no group
# request for a binding it routes). Three records published to the weather port are routed: the
# route side then shows them committed (lag 0) without asking Kafka, the subscriber side (nobody
# reads) lags 3 records, in the stats and in /metrics, sweep after sweep.
. "$(dirname "$0")/lib.sh"
plan 6
start_kafka 3
start_broker B -c deploy/example.conf -o kafka.bootstrap.servers="$BROKERS" \
  -o sub.lag.interval.ms=300 -o log.level=debug || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
IN=urn:dpds:com.acme:dataproducts:tripExecution:1:inputports:weather
http GET "$B_URL/v1/subscriptions"
BID=$(echo "$HTTP_BODY" | jq -r --arg to "$IN" '.subscriptions[] | select(.to == $to) | .id')
[ -n "$BID" ] || bail "no binding to $IN: $HTTP_BODY"
stats() { curl -sS --max-time 5 "$B_URL/v1/subscriptions/$BID/stats"; }
rec() { printf '{"key":"st-%d","value":{"observationId":"00000000-0000-4000-8000-00000000000%d","stationId":"st-%d","observedAt":1764583200000,"location":{"lat":52.5,"lon":13.4,"elevationM":34.0},"temperatureC":4.5,"humidityPct":40.5,"condition":"RAIN","quality":{"qc":"ok"}}}' "$1" "$1" "$1"; }
http POST "$B_URL/v1/ports/weather/2/outputports/observations/records" -H 'content-type: application/json' \
  --data "{\"records\":[$(rec 1),$(rec 2),$(rec 3)]}"
is "3 records published" "$HTTP_STATUS" 200

wait_until 30 sh -c "curl -sS --max-time 2 '$B_URL/v1/subscriptions/$BID/stats' | jq -e '([.partitions[].route.committedOffset // 0] | add) == 3 and .subscribers.lagRecords == 3'"
is "route side: the 3 routed records committed, lag 0 (committed, end offsets, lag)" \
  "$(stats | jq -c '[([.partitions[].route.committedOffset // 0] | add), ([.partitions[].route.endOffset] | add), .route.lagRecords]')" "[3,3,0]"
is "subscriber side: nobody reads, 3 records behind, no commit" \
  "$(stats | jq -c '[.subscribers.lagRecords, ([.partitions[].subscribers.committedOffset] | unique)]')" "[3,[null]]"
# Once the reader holds the port's partitions, a sweep asks Kafka for no route group's commits.
check "a sweep after routing asks no route group: the routers' own offsets" \
  wait_until 10 grep -Eq "lag sweep: [0-9]+ bindings in [0-9]+ ms; committed offsets asked of 0 route groups" "$T/B.log"
lagm() { curl -sS --max-time 5 "$B_URL/metrics" | grep "^portbroker_subscription_lag_records{" | grep -- "$1" | awk '{print $NF}'; }
is "/metrics: route group lag 0, subscriber group lag 3" \
  "$(lagm 'subscriber="portbroker.route.com.acme.tripExecution.v1.in.weather"') $(lagm 'subscriber="portbroker.sub.com.acme.tripExecution.v1.in.weather"')" "0 3"
sleep 1
is "later sweeps keep the same figures" \
  "$(stats | jq -c '[.route.lagRecords, .subscribers.lagRecords]')" "[0,3]"
finish
