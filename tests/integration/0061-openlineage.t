#!/usr/bin/env bash
# OpenLineage RunEvents: START after the registry replay, RUNNING every lineage.interval.ms,
# COMPLETE on SIGTERM; POSTed to lineage.url (a node receiver that fails the first POST with 500)
# and written to lineage.topic (read back with kcat); every event and facet validated with ajv
# against ../shared/specs/openlineage (tests/data/openlineage when that is absent).
. "$(dirname "$0")/lib.sh"
[ -d tests/js/node_modules/ajv ] || bail "tests/js/node_modules missing: run deploy/install-deps.sh --test"
command -v kcat >/dev/null || bail "kcat missing"
SPECS=
for d in ../shared/specs/openlineage /work/shared/specs/openlineage tests/data/openlineage; do
  [ -f "$d/OpenLineage.json" ] && { SPECS=$d; break; }
done
[ -n "$SPECS" ] || bail "OpenLineage schemas not found"
start_kafka 3
node tests/js/gen_products.js "$T/products" 2 1h || bail "cannot generate products"
timeout 120 node tests/js/openlineage.js "$PB_BIN" "$BROKERS" "$T/products" "$SPECS" "$T/broker.log"
rc=$?
[ $rc -eq 0 ] || { _failed=1; echo "# broker log:"; tail -20 "$T/broker.log" | sed 's/^/#   /'; }
finish
