#!/usr/bin/env bash
# make install (PREFIX/DESTDIR): the installed binary, run from /, serves the installed examples;
# the compiled-in products.dir is the final $PREFIX path; a missing products.dir names the
# setting; --version/-V; GET / redirects; /v1/openapi.json is the embedded docs/openapi.json;
# the installed unit passes systemd-analyze verify, has the hardening the issue asks for and an
# exposure of at most 2.0 (systemd-analyze security --offline), Type=notify because the binary
# speaks sd_notify (0095); the man page renders without warnings and lists every command of --help
# and every setting of the table.
. "$(dirname "$0")/lib.sh"
plan 21
D="$T/dest"
# Build the install objects apart from the tree's build (B stays the tested variant).
# flock: 0093 and 0094 both build the install binary; two makes at once in one tree clash.
flock build/.make-install.lock make -s install DESTDIR="$D" PREFIX=/usr >"$T/install.log" 2>&1 || bail "make install failed: $(tail -5 "$T/install.log")"
BIN="$D/usr/bin/portbroker"
check "binary installed in PREFIX/bin" test -x "$BIN"
is "three example products installed" "$(ls "$D/usr/share/portbroker/examples"/*.json | wc -l)" 3
check "config installed in /etc/portbroker (FHS for PREFIX=/usr)" test -s "$D/etc/portbroker/portbroker.conf"
check "deploy files installed" test -s "$D/usr/share/portbroker/deploy/prometheus/portbroker.rules.yml" -a -s "$D/usr/share/portbroker/deploy/grafana/portbroker.json"
dump=$(cd / && "$BIN" serve --config-dump 2>&1)
like "compiled-in products.dir is the final PREFIX path (no DESTDIR)" "$dump" "^products.dir = /usr/share/portbroker/examples$"
out=$(cd / && "$BIN" serve -o http.listen=127.0.0.1:0 2>&1); rc=$?
is "missing products.dir exits 2" "$rc" 2
like "missing products.dir names the setting" "$out" "products.dir: descriptor directory /usr/share/portbroker/examples: No such file or directory; set products.dir"
# Run from / with only the DESTDIR relocation given.
( cd / && exec "$BIN" serve -o http.listen=127.0.0.1:0 --port-file "$T/i.port" \
    -o products.dir="$D/usr/share/portbroker/examples" -o mesh.namespace=com.acme ) >"$T/i.out" 2>"$T/i.log" &
_pids+=($!)
wait_until 30 test -s "$T/i.port" || bail "installed broker did not start: $(tail -5 "$T/i.log")"
U=http://127.0.0.1:$(cat "$T/i.port")
check "installed broker ready (/readyz 200)" wait_ready "$U" 60
http GET "$U/v1/products"
is "/v1/products lists the three examples" "$(printf '%s' "$HTTP_BODY" | python3 -c 'import json,sys; d=json.load(sys.stdin); d=d.get("products",d) if isinstance(d,dict) else d; print(len(d))')" 3
code=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code} %{redirect_url}' "$U/")
like "GET / redirects to /dashboard" "$code" "^30[27] $U/dashboard$"
curl -sS --max-time 5 -o "$T/openapi.json" "$U/v1/openapi.json"
check "/v1/openapi.json is docs/openapi.json byte for byte" cmp "$T/openapi.json" docs/openapi.json
like "--version prints version and libraries" "$("$BIN" --version)" "^portbroker $(cat VERSION)"$'\n'"librdkafka "
is "-V is --version" "$("$BIN" -V)" "$("$BIN" --version)"
# systemd: verify the installed unit with ExecStart pointing at the DESTDIR binary.
sed "s|/usr/bin/portbroker|$BIN|; s|/etc/portbroker/portbroker.conf|$D/etc/portbroker/portbroker.conf|" \
  "$D/usr/lib/systemd/system/portbroker.service" >"$T/portbroker.service"
check "systemd-analyze verify accepts the unit (man page found in DESTDIR)" sh -c "MANPATH='$D/usr/share/man' systemd-analyze verify '$T/portbroker.service' 2>&1 | tee /dev/stderr | (! grep -v 'Failed to .*bus\|^$' )"
# Hardening (#18): a dedicated user, read-only system, no new privileges, no capabilities, no
# ReadWritePaths (the broker writes nothing: Kafka holds its state), reload = SIGHUP.
U="$D/usr/lib/systemd/system/portbroker.service"
hard=$(grep -E '^(DynamicUser|User|ProtectSystem|NoNewPrivileges|CapabilityBoundingSet|AmbientCapabilities|ReadWritePaths|ExecReload|Type|NotifyAccess)=' "$U" | sort | tr '\n' ' ')
is "unit hardening and reload directives" "$hard" \
  'AmbientCapabilities= CapabilityBoundingSet= DynamicUser=yes ExecReload=/bin/kill -HUP $MAINPID NoNewPrivileges=yes NotifyAccess=main ProtectSystem=strict Type=notify User=portbroker '
check "systemd-analyze security --offline: exposure at most 2.0" sh -c \
  "systemd-analyze security --offline=yes --threshold=20 '$T/portbroker.service' >'$T/security.txt' 2>&1 || { tail -3 '$T/security.txt'; exit 1; }"
diag "$(grep -o 'Overall exposure level.*' "$T/security.txt")"
check "Type=notify: the installed binary speaks sd_notify (READY=1 to NOTIFY_SOCKET)" sh -c "grep -q NOTIFY_SOCKET '$BIN' && grep -q 'READY=1' '$BIN'"
# man page: renders, no groff warnings, lists every settings key.
w=$(groff -man -ww -z -Tutf8 "$D/usr/share/man/man1/portbroker.1" 2>&1)
is "man page renders without warnings" "$w" ""
keys=$("$BIN" config-doc | grep -o '^| `[a-z.]*`' | tr -d '|` ' | sort)
missing=$(for k in $keys; do MANWIDTH=200 man -l "$D/usr/share/man/man1/portbroker.1" 2>/dev/null | grep -qF "$k" || echo "$k"; done)
is "man page lists every setting of the table" "$missing" ""
# Every command of --help, with its argument line, is in the man page's COMMANDS section.
cmds=$("$BIN" --help | sed -n 's/^  \([a-z][a-z-]*\)\( .*\)\{0,1\}$/\1/p')
mancmds=$(MANWIDTH=200 man -l "$D/usr/share/man/man1/portbroker.1" 2>/dev/null | sed -n '/^COMMANDS/,/^[A-Z]/p')
missing=$(for c in $cmds; do printf '%s\n' "$mancmds" | grep -qE "^ +$c( |$)" || echo "$c"; done)
is "man page documents every command of --help ($(echo $cmds | wc -w))" "$missing" ""
is "man page: the same synopsis lines as --help" \
  "$(MANWIDTH=300 man -l "$D/usr/share/man/man1/portbroker.1" 2>/dev/null | sed -n '/^SYNOPSIS/,/^[A-Z]/p' | sed -n 's/^ *portbroker  *//p' | tr -s ' ')" \
  "$("$BIN" --help | sed -n 's/^  \([a-z][a-z-]*\( .*\)\{0,1\}\)$/\1/p' | tr -s ' ')"
finish
