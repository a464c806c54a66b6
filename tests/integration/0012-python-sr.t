#!/usr/bin/env bash
# python3-confluent-kafka's SchemaRegistryClient (Debian, run with /usr/bin/python3) against portbroker.
. "$(dirname "$0")/lib.sh"
start_broker B -o mesh.namespace=com.acme || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
timeout 60 /usr/bin/python3 tests/py/sr_client.py "$B_URL"
