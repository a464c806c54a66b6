#!/usr/bin/env bash
# Installs every Debian package portbroker needs to build, run and test, if missing.
# Quick when all is there: it asks dpkg first and runs apt-get only for what is absent.
# Usage: deploy/install-deps.sh [--test]   (--test adds what the test suite uses)
set -euo pipefail

build_pkgs=(build-essential pkg-config librdkafka-dev libavro-dev libevent-dev libjansson-dev
            libzstd-dev curl jq)
test_pkgs=(libcmocka-dev kcat clang libclang-rt-14-dev python3-avro python3-confluent-kafka
           prometheus nodejs chromium perl)

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
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
