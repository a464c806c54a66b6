#!/usr/bin/env bash
# Runs each libFuzzer target given for FUZZ_SECONDS (default 600) on its seed corpus
# (tests/fuzz/corpus/<target>/, read-only: new inputs go to build/fuzz/corpus/<target>/).
# Crashes are written to build/fuzz/crashes/. Exits 1 if any target found a problem.
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-600}
status=0
tag=${FUZZ_LOG_TAG:-}   # keeps logs of concurrent runs (make test's short run, make fuzz) apart
for bin in "$@"; do
  name=$(basename "$bin"); target=${name#fuzz_}
  seeds=tests/fuzz/corpus/$target
  work=build/fuzz/corpus/$target
  mkdir -p "$work" build/fuzz/crashes
  dict=(); [ -f "tests/fuzz/$target.dict" ] && dict=(-dict="tests/fuzz/$target.dict")
  echo "fuzz: $name for ${secs}s (seeds: $seeds)"
  if ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix=build/fuzz/crashes/"$name"- "${dict[@]}" \
       "$work" "$seeds" >"build/fuzz/$name$tag.log" 2>&1; then
    echo "fuzz: $name: ok ($(grep -a -o 'stat::number_of_executed_units: *[0-9]*' "build/fuzz/$name$tag.log" | tail -1 | grep -o '[0-9]*$') runs)"
  else
    echo "fuzz: $name: FAILED, see build/fuzz/$name$tag.log"; grep -m5 -E 'ERROR|SUMMARY' "build/fuzz/$name$tag.log"
    status=1
  fi
done
exit $status
