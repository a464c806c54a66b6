#!/usr/bin/env bash
# OpenLineage RunEvents: START after the registry replay, RUNNING every lineage.interval.ms,
# COMPLETE on SIGTERM; POSTed to lineage.url (a node receiver that fails the first POST with 500)
# and written to lineage.topic (read back with kcat); every event and facet validated with ajv
# against the spec vendored in tests/data/openlineage (OpenLineage.json 2-0-2 and its facets). A job
# per data product and one per binding, each its own run.
. "$(dirname "$0")/lib.sh"
[ -d tests/js/node_modules/ajv ] || bail "tests/js/node_modules missing: run deploy/install-deps.sh --test"
command -v kcat >/dev/null || bail "kcat missing"
SPECS=
for d in tests/data/openlineage ../shared/specs/openlineage /work/shared/specs/openlineage; do
  [ -f "$d/OpenLineage.json" ] && { SPECS=$d; break; }
done
[ -n "$SPECS" ] || bail "OpenLineage schemas not found"
start_kafka 3
node tests/js/gen_products.js "$T/products" 2 1h || bail "cannot generate products"
# The node script prints test points 1..16; its plan line moves to the end (with ours).
timeout 120 node tests/js/openlineage.js "$PB_BIN" "$BROKERS" "$T/products" "$SPECS" "$T/broker.log" | sed '/^1\.\.[0-9]*$/d'
rc=${PIPESTATUS[0]}
[ $rc -eq 0 ] || { _failed=1; echo "# broker log:"; tail -20 "$T/broker.log" | sed 's/^/#   /'; }

# An endpoint that refuses connections: the broker retries with backoff, says so, and still stops
# promptly on SIGTERM (queued POSTs are waited for at most 5 s).
_n=16
start_broker D -o kafka.bootstrap.servers="$BROKERS" -o products.dir="$T/products" -o mesh.namespace=com.test \
  -o lineage.url=http://127.0.0.1:1/api/v1/lineage -o lineage.topic= || bail "serve did not start"
wait_until 20 grep -q 'retry 2/5' "$T/D.log"
like "a refused POST is retried with backoff" "$(grep -m1 'retry' "$T/D.log")" 'POST http://127.0.0.1:1/api/v1/lineage: connection failed or timed out; retry 2/5 in 250 ms'
t0=$SECONDS
stop_pid "$D_PID" 15
like "SIGTERM with the endpoint down: exits 0 within 7 s" "rc=$STOP_RC after $((SECONDS - t0)) s" '^rc=0 after [0-7] s$'
echo "1..$_n"
finish
