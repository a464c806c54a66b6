#!/usr/bin/env bash
# Library boundaries (STYLE.md): only kafka.c includes librdkafka; only http.c and loop.c include
# libevent; avro-c nowhere in broker/ except the files listed in AVRO_OK. Each .c includes its own
# header first. Prints TAP when called with --tap, else plain messages; exits 1 on a violation.
cd "$(dirname "$0")/.."
tap=${1:-}
fail=0
n=0
report() { n=$((n + 1)); if [ -n "$2" ]; then fail=1; [ "$tap" ] && echo "not ok $n - $1" || echo "lint: $1"; printf '%s\n' "$2" | sed 's/^/#   /'; else [ "$tap" ] && echo "ok $n - $1"; fi; }
AVRO_OK="broker/codec.c"
[ "$tap" ] && echo "1..4"
report "only broker/kafka.c includes librdkafka" "$(grep -l 'librdkafka/' broker/*.[ch] | grep -v '^broker/kafka.c$')"
report "only broker/http.c and broker/loop.c include libevent" "$(grep -l '<event2/' broker/*.[ch] | grep -vE '^broker/(http|loop).c$')"
report "avro-c only in $AVRO_OK" "$(grep -l '<avro.h>\|<avro/' broker/*.[ch] | grep -vxF "$AVRO_OK")"
bad=""
for c in broker/*.c; do
  h=$(basename "$c" .c).h
  [ -f "broker/$h" ] || continue
  first=$(grep -m1 '^#include' "$c")
  [ "$first" = "#include \"$h\"" ] || bad="$bad$c: first include is '$first', not \"$h\""$'\n'
done
report "each .c includes its own header first" "${bad%$'\n'}"
exit $fail
