#!/usr/bin/env bash
# Every shell example in README.md, docs/API.md and the schema-evolution README runs as pasted
# against a live broker on the example mesh (tests/docs_examples.py says how an example is
# judged: exit status, HTTP errors where the doc shows one, and the JSON keys the doc shows).
cd "$(dirname "$0")/../.." || exit 1
exec /usr/bin/python3 tests/docs_examples.py "${PB_BIN:-$PWD/build/release/portbroker}" \
  README.md docs/API.md schemas/examples/evolution/README.md
