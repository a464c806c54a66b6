#!/usr/bin/env bash
# Console time to first render (issue #17): 1,000 ports (250 generated products, four ports each;
# the first 50 products bound in a tree, 49 bindings, so the broker under test stays light on a
# shared machine; BENCH_CONSOLE_BOUND=250 binds them all) served by `portbroker serve` with the
# embedded Kafka cluster, then bench/console_render.js in headless Chromium: median time from
# navigation start to the paint of the first rows and to every row in the table, the DOM size, and /v1/status's size
# and fetch time. Prints `name=value` lines. Skips (exit 0, says why) without Chromium or
# tests/js/node_modules.
set -uo pipefail
cd "$(dirname "$0")/.."
B=${B:-build/release}
PORTS_PRODUCTS=${BENCH_CONSOLE_PRODUCTS:-250}
BOUND=${BENCH_CONSOLE_BOUND:-50}
if [ ! -x /usr/bin/chromium ] || [ ! -d tests/js/node_modules/playwright-core ]; then
  echo "# bench_console: skipped (needs /usr/bin/chromium and tests/js/node_modules: make test-deps)"
  exit 0
fi
T=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
node tests/js/gen_products.js "$T/products" "$PORTS_PRODUCTS" 1h || exit 1
# Unbind the products past BOUND: drop their input port's "from".
node -e '
  const fs = require("fs"), dir = process.argv[1], bound = Number(process.argv[2]);
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".json"))) {
    const d = JSON.parse(fs.readFileSync(`${dir}/${f}`));
    if (Number(d.info.name.slice(1)) >= bound) delete d.interfaceComponents.inputPorts[0].from;
    fs.writeFileSync(`${dir}/${f}`, JSON.stringify(d));
  }' "$T/products" "$BOUND" || exit 1
"$B/portbroker" serve -o http.listen=127.0.0.1:0 --port-file "$T/port" -o products.dir="$T/products" \
  -o mesh.namespace=com.test >"$T/serve.log" 2>&1 &
pid=$!
url=
for _ in $(seq 600); do
  if [ -s "$T/port" ] && curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$(cat "$T/port")/readyz"; then
    url="http://127.0.0.1:$(cat "$T/port")"; break
  fi
  sleep 0.2
done
[ -n "$url" ] || { echo "# bench_console: the broker was not ready in 120 s"; tail -5 "$T/serve.log"; exit 1; }
ports=$(curl -fsS --max-time 30 "$url/v1/status" | jq '.ports | length')
timeout 600 node bench/console_render.js "$url" "$ports" "${BENCH_CONSOLE_RUNS:-5}"
