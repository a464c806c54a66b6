#!/usr/bin/env bash
# A short run of every libFuzzer target on its seed corpus (the full runs are `make fuzz`).
# The fuzzers are built by the release `make test`; under SAN=asan this check has nothing to run.
cd "$(dirname "$0")/../.."
bins=(build/fuzz/fuzz_*)
bins=($(for b in "${bins[@]}"; do [ -x "$b" ] && [ ! -d "$b" ] && echo "$b"; done))
if [ -n "${SAN:-}" ] || [ ${#bins[@]} -eq 0 ]; then echo "1..0 # SKIP fuzzers are built by the release make test"; exit 0; fi
echo "1..${#bins[@]}"
n=0
for b in "${bins[@]}"; do
  n=$((n + 1))
  if out=$(FUZZ_LOG_TAG=.short FUZZ_SECONDS=${FUZZ_SHORT_SECONDS:-8} tests/fuzz/run.sh "$b" 2>&1); then
    echo "ok $n - $(tail -1 <<<"$out" | sed "s/^fuzz: //")"
  else
    echo "not ok $n - $(basename "$b") found a problem"; sed 's/^/#   /' <<<"$out"
  fi
done
