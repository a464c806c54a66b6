#!/usr/bin/env bash
# docs/CONFIGURATION.md must be exactly what the config table generates (`make docs`).
echo "1..1"
if diff -u docs/CONFIGURATION.md <("$PB_BIN" config-doc) >/tmp/config-doc.diff.$$ 2>&1; then
  echo "ok 1 - docs/CONFIGURATION.md matches the config table"
else
  echo "not ok 1 - docs/CONFIGURATION.md is stale: run 'make docs'"; sed 's/^/#   /' /tmp/config-doc.diff.$$ | head -40
fi
rm -f /tmp/config-doc.diff.$$
