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
echo "== figures"
grep -E '^[a-z][a-z0-9_]*=[0-9.]+' "$out" | grep -vE '^(route_ratio|publish_ratio|e2e_p99_ms|python_relay_ratio)='
# Issue #5's goal lines last, in a fixed order (goals: >= 0.9, >= 0.5, <= 20, >= 10).
echo "== goals"
for goal in route_ratio publish_ratio e2e_p99_ms python_relay_ratio; do
  grep -E "^$goal=" "$out" | tail -1 | grep . || { echo "$goal=missing"; status=1; }
done
rm -f "$out"
exit $status
