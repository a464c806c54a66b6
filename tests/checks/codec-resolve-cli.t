#!/usr/bin/env bash
# `schema resolve` CLI: output, error lines, exit codes. Runs the CLI through the run_codec_cases
# binary (it is the CLI when called with "resolve"), and through $PB_BIN when that routes it.
set -uo pipefail
B=${PB_BUILD:-build/release}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
n=0
fails=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails + 1)); fi; }

cat > "$T/w.avsc" <<'J'
{"type":"record","name":"R","fields":[{"name":"id","type":"int"},{"name":"drop","type":"string"},
 {"name":"u","type":["null","int","string"]},{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}}]}
J
cat > "$T/r.avsc" <<'J'
{"type":"record","name":"R","fields":[{"name":"id","type":"long"},{"name":"u","type":["null","long"]},
 {"name":"e","type":{"type":"enum","name":"E","symbols":["B"]}},{"name":"x","type":"double","default":1}]}
J
echo '{"type":"record","name":"R","fields":[{"name":"q","type":"int"}]}' > "$T/other.avsc"
echo '{"type":"nope"}' > "$T/bad.avsc"
DEC='{"type":"bytes","logicalType":"decimal","precision":6,"scale":2}'
echo '{"type":"record","name":"L","fields":[{"name":"fare","type":["null",'"$DEC"']},{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}}]}' > "$T/lw.avsc"
echo '{"type":"record","name":"L","fields":[{"name":"fare","type":["null",'"$DEC"']},{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},{"name":"d","type":{"type":"int","logicalType":"date"},"default":20413}]}' > "$T/lr.avsc"

clis=("$B/tests/unit/run_codec_cases")
if [ -n "${PB_BIN:-}" ] && [ -x "$PB_BIN" ] && "$PB_BIN" schema resolve --help 2>&1 | grep -q -- --writer; then clis+=("$PB_BIN schema"); fi

for cli in "${clis[@]}"; do
  name=${cli##*/}
  printf '%s\n' '{"id":1,"drop":"x","u":{"int":5},"e":"B"}' '' '{"id":-2,"drop":"","u":null,"e":"B"}' \
    | $cli resolve --writer "$T/w.avsc" --reader "$T/r.avsc" > "$T/out" 2> "$T/err"
  rc=$?
  want=$'{"id":1,"u":{"long":5},"e":"B","x":1.0}\n{"id":-2,"u":null,"e":"B","x":1.0}'
  [ $rc = 0 ] && [ "$(cat "$T/out")" = "$want" ] && [ ! -s "$T/err" ]; ok $? "$name: resolves every line (rc=$rc)"

  printf '%s\n' '{"id":1,"drop":"x","u":{"string":"s"},"e":"B"}' '{"id":2,"drop":"x","u":null,"e":"A"}' '{"id":3,"drop":"x","u":null,"e":"B"}' \
    | $cli resolve --writer "$T/w.avsc" --reader "$T/r.avsc" > "$T/out" 2> "$T/err"
  rc=$?
  [ $rc = 1 ] && grep -q '^line 1: at /u/string: cannot resolve' "$T/err" \
    && grep -q '^line 2: at /e: symbol "A" is not in reader enum E, which has no default' "$T/err" \
    && [ "$(cat "$T/out")" = '{"id":3,"u":null,"e":"B","x":1.0}' ]; ok $? "$name: unresolvable datums: line, path, reason, exit 1 (rc=$rc)"

  printf '%s\n' '{"id":"x","drop":"x","u":null,"e":"B"}' 'not json' | $cli resolve --writer "$T/w.avsc" --reader "$T/r.avsc" > "$T/out" 2> "$T/err"
  rc=$?
  [ $rc = 2 ] && grep -q '^line 1: not a valid writer datum: at /id: expected int, got string "x"' "$T/err" \
    && grep -q '^line 2: not a valid writer datum: not JSON' "$T/err"; ok $? "$name: invalid writer datums exit 2 (rc=$rc)"

  echo '0a' | $cli resolve --writer "$T/w.avsc" --reader "$T/r.avsc" --input hex > /dev/null 2> "$T/err"
  rc=$?
  [ $rc = 2 ] && grep -q '^line 1: not a valid writer datum: at /drop: truncated varint' "$T/err"; ok $? "$name: bad hex datum exits 2 (rc=$rc)"

  echo '{"id":1,"drop":"","u":null,"e":"A"}' | $cli resolve --writer "$T/w.avsc" --reader "$T/r.avsc" --output hex > "$T/out" 2>/dev/null
  rc=$?
  [ $rc = 1 ]; ok $? "$name: --output hex with an unresolvable datum exits 1 (rc=$rc)"

  echo '{"id":7,"drop":"","u":null,"e":"B"}' | $cli resolve --writer "$T/w.avsc" --reader "$T/r.avsc" --output hex > "$T/out"
  rc=$?
  [ $rc = 0 ] && [ "$(cat "$T/out")" = "0e0000000000000000f03f" ]; ok $? "$name: --output hex (rc=$rc, $(cat "$T/out"))"

  $cli resolve --writer "$T/w.avsc" --reader "$T/other.avsc" < /dev/null > /dev/null 2> "$T/err"
  rc=$?
  [ $rc = 1 ] && grep -q 'reader field "q" of R has no default' "$T/err"; ok $? "$name: schemas that cannot resolve exit 1 (rc=$rc)"

  $cli resolve --writer "$T/bad.avsc" --reader "$T/r.avsc" < /dev/null > /dev/null 2> "$T/err"; rc=$?
  [ $rc = 2 ]; ok $? "$name: invalid schema exits 2 (rc=$rc)"
  $cli resolve --writer "$T/missing.avsc" --reader "$T/r.avsc" < /dev/null > /dev/null 2>&1; rc=$?
  [ $rc = 2 ]; ok $? "$name: missing file exits 2 (rc=$rc)"
  $cli resolve --writer "$T/w.avsc" < /dev/null > /dev/null 2>&1; rc=$?
  [ $rc = 2 ]; ok $? "$name: missing --reader exits 2 (rc=$rc)"

  # --encoding json: natural JSON in and out (DESIGN.md §5a); avro (default): Avro's JSON encoding
  printf '%s\n' '{"fare":"12.5","at":"2026-11-21T11:15:30+01:00"}' \
    | $cli resolve --writer "$T/lw.avsc" --reader "$T/lr.avsc" --encoding json > "$T/out" 2> "$T/err"
  rc=$?
  [ $rc = 0 ] && [ "$(cat "$T/out")" = '{"fare":{"bytes":"12.50"},"at":"2026-11-21T10:15:30.000Z","d":"2025-11-21"}' ]
  ok $? "$name: --encoding json: decimal, timestamp and date as natural JSON (rc=$rc, $(cat "$T/out" "$T/err"))"
  printf '%s\n' '{"fare":{"bytes":"\u0001\u0000"},"at":0}' \
    | $cli resolve --writer "$T/lw.avsc" --reader "$T/lr.avsc" > "$T/out" 2> "$T/err"
  rc=$?
  [ $rc = 0 ] && [ "$(cat "$T/out")" = '{"fare":{"bytes":"\u0001\u0000"},"at":0,"d":20413}' ]
  ok $? "$name: default encoding avro: bytes with NUL and integers kept (rc=$rc, $(cat "$T/out" "$T/err"))"
  $cli resolve --writer "$T/lw.avsc" --reader "$T/lr.avsc" --encoding xml < /dev/null > /dev/null 2> "$T/err"; rc=$?
  [ $rc = 2 ] && grep -q "^schema resolve: --encoding: 'xml' is not one of avro, json" "$T/err"
  ok $? "$name: --encoding xml exits 2 naming the choices (rc=$rc)"
done
echo "1..$n"
[ $fails = 0 ]
