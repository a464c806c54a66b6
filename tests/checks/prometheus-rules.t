#!/usr/bin/env bash
# The shipped Prometheus rules: `promtool check rules` clean, `promtool test rules` passing (every
# alert firing and not firing), the example scrape config valid.
set -u
cd "$(dirname "$0")/../.."
echo "1..3"
n=0
t() { # t DESCRIPTION command...
  n=$((n + 1))
  if out=$("${@:2}" 2>&1); then echo "ok $n - $1"; else echo "not ok $n - $1"; printf '%s\n' "$out" | sed 's/^/#   /' | head -60; fi
}
t "promtool check rules deploy/prometheus/portbroker.rules.yml" promtool check rules deploy/prometheus/portbroker.rules.yml
t "promtool test rules deploy/prometheus/tests/*.yml" promtool test rules deploy/prometheus/tests/*.yml
t "promtool check config deploy/prometheus/prometheus.yml" promtool check config deploy/prometheus/prometheus.yml
