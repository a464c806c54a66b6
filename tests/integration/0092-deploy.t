#!/usr/bin/env bash
# deploy/: the Kubernetes manifests validate (tests/js/deploy_check.mjs); the Containerfile builds
# with the `make install` path, multi-stage on debian:12-slim, non-root, HEALTHCHECK /healthz, and
# copies only the install tree into the final stage. No registry is reachable here, so the image is
# not built: its structure is checked.
. "$(dirname "$0")/lib.sh"
node tests/js/deploy_check.mjs deploy/kubernetes/portbroker.yaml | grep -v '^1\.\.' | sed 's/^\(not \)\{0,1\}ok [0-9]* /\1ok /' >"$T/k8s.tap"
plan $(( $(grep -c '^\(not \)\{0,1\}ok' "$T/k8s.tap") + 6 ))
while IFS= read -r l; do
  case "$l" in "ok - "*) ok "${l#ok - }";; "not ok - "*) not_ok "${l#not ok - }";; "#"*) echo "$l";; esac
done <"$T/k8s.tap"
C=deploy/container/Containerfile
is "two stages, both debian:12-slim" "$(grep -c '^FROM debian:12-slim' "$C")" 2
like "builder runs make install with PREFIX and DESTDIR" "$(cat "$C")" 'RUN make && make install PREFIX=/usr DESTDIR=/out'
final=$(awk '/^FROM/{s++} s==2' "$C" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta')
like "final stage runs as a non-root user" "$(printf '%s' "$final" | grep '^USER')" '^USER [1-9][0-9]*'
like "HEALTHCHECK on /healthz" "$final" 'HEALTHCHECK .*/healthz'
is "final stage has no -dev packages or compiler" "$(printf '%s' "$final" | grep -cE -- '-dev|build-essential|gcc')" 0
is "final stage copies only from the install tree" "$(printf '%s' "$final" | grep '^COPY' | grep -vc '^COPY --from=build /out/')" 0
finish
