#!/usr/bin/env bash
# kafkajs and @kafkajs/confluent-schema-registry (npm) work unchanged against portbroker and the
# embedded Kafka run standalone.
. "$(dirname "$0")/lib.sh"
[ -d tests/js/node_modules/kafkajs ] || bail "tests/js/node_modules missing: run deploy/install-deps.sh --test"
start_kafka 3
start_broker B -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
# A valid datum of the weather observation schema (Avro JSON mapping as kafkajs' avsc wants it).
export PB_SAMPLE='{"observationId":"0b0e7f06-9c3e-4c07-8d8e-2f2b9c7a1a11","stationId":"x","observedAt":1700000000000,"location":{"lat":52.5,"lon":13.4,"elevationM":null},"temperatureC":21.5,"humidityPct":null,"windSpeedKmh":12.5,"condition":"CLEAR","precipitationMm":null,"quality":{}}'
timeout 90 node tests/js/sr_roundtrip.js "$B_URL" "$BROKERS"
