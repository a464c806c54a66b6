#!/usr/bin/env bash
# The daemon's sources and public headers are clang-formatted (.clang-format); `make format` fixes.
echo "1..1"
if out=$(make -s format-check 2>&1); then
  echo "ok 1 - broker/ and include/ are clang-formatted"
else
  echo "not ok 1 - clang-format would change $(grep -c 'error:' <<<"$out") places: run 'make format'"
  grep 'error:' <<<"$out" | head -10 | sed 's/^/#   /'
fi
