#!/usr/bin/env bash
# Schema Registry parity (issue 19): the data-driven REST cases of tests/data/sr/*.case (written
# from Confluent's documented behaviour) against a live broker, run by tests/sr_cases.py with
# /usr/bin/python3's urllib. One broker for every file; the cases use their own subjects.
. "$(dirname "$0")/lib.sh"
mkdir -p "$T/products"
start_broker B -o products.dir="$T/products" || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
timeout 300 /usr/bin/python3 tests/sr_cases.py "$B_URL"
