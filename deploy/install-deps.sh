#!/usr/bin/env bash
# Installs every Debian package portbroker needs to build, run and test, if missing.
# Quick when all is there: it asks dpkg first and runs apt-get only for what is absent.
# Usage: deploy/install-deps.sh [--test]   (--test adds what the test suite uses)
set -euo pipefail

build_pkgs=(build-essential pkg-config librdkafka-dev libavro-dev libevent-dev libjansson-dev libssl-dev openssl libpq-dev
            libzstd-dev zlib1g-dev curl jq kcat)
test_pkgs=(libcmocka-dev clang clang-format libclang-rt-14-dev python3-avro python3-zstandard python3-confluent-kafka python3-requests
           prometheus nodejs chromium perl postgresql systemd python3-jwt python3-cryptography)

want=("${build_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then
  want+=("${test_pkgs[@]}")
  # Debian's nodejs ships without npm; NodeSource's nodejs bundles it (and conflicts with Debian's npm).
  command -v npm >/dev/null 2>&1 || want+=(npm)
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm clients for the tests (kafkajs, the Confluent registry client, cloudevents, ajv,
# playwright-core), pinned by tests/js/package-lock.json. Reinstalled only when the lock changes.
if [ "${1:-}" = "--test" ]; then
  js="$(cd "$(dirname "$0")/.." && pwd)/tests/js"
  stamp="$js/node_modules/.portbroker-lock"
  if ! cmp -s "$js/package-lock.json" "$stamp" 2>/dev/null; then
    echo "install-deps: npm ci in tests/js" >&2
    (cd "$js" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null)
    cp "$js/package-lock.json" "$stamp"
  fi
fi
