#!/usr/bin/env bash
# `make bench`: runs every benchmark binary built from bench/*.c (build/<variant>/bench/*) in turn.
# Each prints its own table with ratios against a baseline measured in the same run (machines here
# are noisy: absolute figures vary, ratios much less). Goal lines are `name=value`, collected at the
# end. Never a timed assertion: this is not part of `make test`.
set -uo pipefail
cd "$(dirname "$0")/.."
B=${B:-build/release}
out=$(mktemp)
status=0
for bin in "$B"/bench/*; do
  [ -x "$bin" ] && [ ! -d "$bin" ] || continue
  echo "== $(basename "$bin")"
  "$bin" | tee -a "$out" || status=1
  echo
done
for script in bench/*.py; do
  # Only the standalone benchmarks (they take --bin); the others are helpers a C benchmark runs
  # itself (python_relay.py is bench_route's peer relay).
  grep -q -- '--bin' "$script" || continue
  echo "== $(basename "$script")"
  /usr/bin/python3 "$script" --bin "$B/portbroker" | tee -a "$out" || status=1
  echo
done
for script in bench/*.sh; do
  # Shell benchmarks drive built programs end to end (bench_connectors.sh: connectors vs the CLI).
  echo "== $(basename "$script")"
  B=$B "$script" | tee -a "$out" || status=1
  echo
done
goals="route_ratio_same_records publish_ratio e2e_p99_ms python_relay_ratio healthz_p99_ms"
echo "== figures"
grep -E '^[a-z][a-z0-9_]*=[0-9.]+' "$out" | grep -vE "^($(echo $goals | tr ' ' '|'))="
# The goal lines last, in a fixed order. Goals: route_ratio_same_records >= 0.95 (#15: routing
# against a relay writing the same records), publish_ratio >= 0.9 (#14), e2e_p99_ms <= 10 (#15),
# python_relay_ratio >= 10, healthz_p99_ms < 10 (#15: /healthz while brokers go down and up and
# bindings come and go; bench_loop.sh). route_ratio (against the input bytes) stays among the figures.
echo "== goals"
for goal in $goals; do
  grep -E "^$goal=" "$out" | tail -1 | grep . || { echo "$goal=missing"; status=1; }
done
rm -f "$out"
exit $status
