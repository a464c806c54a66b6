#!/usr/bin/env bash
# deploy/: the Kubernetes manifests validate (tests/js/deploy_check.mjs); the Containerfile builds
# with the `make install` path, multi-stage on debian:12-slim, non-root, HEALTHCHECK /healthz, and
# copies only the install tree into the final stage; the builder installs its packages with
# deploy/install-deps.sh (what `make deps` runs) and the final stage exactly the packages of the
# libraries the binary links. No container runtime or registry is here, so the image is not built:
# its structure is checked (0094 runs its HEALTHCHECK, ENV and CMD against the installed tree).
. "$(dirname "$0")/lib.sh"
node tests/js/deploy_check.mjs deploy/kubernetes/portbroker.yaml | grep -v '^1\.\.' | sed 's/^\(not \)\{0,1\}ok [0-9]* /\1ok /' >"$T/k8s.tap"
plan $(( $(grep -c '^\(not \)\{0,1\}ok' "$T/k8s.tap") + 14 ))
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
# The builder's packages come from the script a host build uses (make deps); the Makefile's deps
# target runs that same script.
build=$(awk '/^FROM/{s++} s==1' "$C")
like "builder installs packages with deploy/install-deps.sh" "$(printf '%s' "$build" | grep '^RUN')" '^RUN deploy/install-deps.sh( |$)'
like "make deps runs deploy/install-deps.sh" "$(make -n deps 2>/dev/null)" '^deploy/install-deps.sh$'
# Runtime packages: one per NEEDED library of the binary (resolved on this Debian 12 host), libc6
# excepted (in the base image), plus ca-certificates; nothing else.
# The image ships the release build: read its NEEDED list whatever variant this run tests (an ASan
# build also needs the sanitizer runtimes and links what the release build's --as-needed drops).
rel=build/release/portbroker
[ -x "$rel" ] || flock build/.make-install.lock make -s all >"$T/release.log" 2>&1 || bail "release build failed: $(tail -3 "$T/release.log")"
want=$( { for l in $(readelf -d "$rel" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
          f=$(ldconfig -p | awk -v l="$l" '$1 == l && /x86-64|x86_64/ {print $NF; exit}')
          dpkg -S "$f" 2>/dev/null || dpkg -S "$(readlink -f "$f")"; done | cut -d: -f1; echo ca-certificates; } |
        grep -vx libc6 | sort -u | tr '\n' ' ')
have=$(printf '%s' "$final" | sed -n 's/.*apt-get install -y --no-install-recommends \(.*\) && rm.*/\1/p' | tr ' ' '\n' | grep . | sort -u | tr '\n' ' ')
diag "runtime packages the binary needs: $want"
is "final stage installs exactly the packages of the binary's libraries (+ ca-certificates)" "$have" "$want"
check "the final stage's packages exist in this Debian 12's archive" apt-cache show $have
is "HEALTHCHECK uses only the base image (no curl or wget)" "$(printf '%s' "$final" | grep -cE 'curl|wget')" 0
check "the build context leaves out the host build tree (.containerignore, .dockerignore)" sh -c 'grep -qx "build/" .containerignore && cmp .containerignore .dockerignore'
# docs/OPERATIONS.md: the guide's sections (#18), and every setting it names exists (kafka.* keys
# pass through to librdkafka).
O=docs/OPERATIONS.md
is "OPERATIONS.md has sizing, scaling out, upgrades, backup of the registry, securing it" \
  "$(grep -cE '^## (Sizing|Scaling out|Upgrades|Backup of the registry|Securing it)$' "$O")" 5
known=$("$PB_BIN" config-doc | grep -o '^| `[a-z0-9_.]*`' | tr -d '|` ')
unknown=$(grep -o '`[a-z][a-z0-9_]*\(\.[a-z0-9_]\+\)\+\( = [^`]*\)\{0,1\}`' "$O" | tr -d '`' | sed 's/ = .*//' | sort -u |
  while read -r k; do case "$k" in kafka.*) ;; *) printf '%s\n' "$known" | grep -qx "$k" || echo "$k";; esac; done)
is "every setting OPERATIONS.md names is in the settings table" "$unknown" ""
finish
