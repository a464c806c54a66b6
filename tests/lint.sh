#!/usr/bin/env bash
# Library boundaries (STYLE.md): only the kafka files (kafka.c, kafka_<role>.c, kafka_int.h)
# include librdkafka, and kafka_int.h only they; only http.c and loop.c include
# libevent; avro-c nowhere in broker/ except the files listed in AVRO_OK. Each .c includes its own
# header first. broker/avro/ (libpbavro.a, linked by the connectors without the daemon) includes
# only its own headers, the C library and jansson. broker.h (pb_broker_t) is known only to the
# composition root (BROKER_OK). Prints TAP when called with --tap, else plain messages; exits 1 on a violation.
cd "$(dirname "$0")/.."
tap=${1:-}
fail=0
n=0
report() { n=$((n + 1)); if [ -n "$2" ]; then fail=1; [ "$tap" ] && echo "not ok $n - $1" || echo "lint: $1"; printf '%s\n' "$2" | sed 's/^/#   /'; else [ "$tap" ] && echo "ok $n - $1"; fi; }
AVRO_OK="broker/avro/codec.c"
[ "$tap" ] && echo "1..7"
report "only broker/kafka*.c and kafka_int.h include librdkafka" "$(grep -l 'librdkafka/' broker/*.[ch] | grep -vE '^broker/kafka(_[a-z]+)?\.c$|^broker/kafka_int\.h$')"
report "kafka_int.h only in broker/kafka*.c" "$(grep -rl --include='*.[ch]' '"kafka_int.h"' broker bench tests client connectors | grep -vE '^broker/kafka(_[a-z]+)?\.c$')"
report "only broker/http.c and broker/loop.c include libevent" "$(grep -l '<event2/' broker/*.[ch] | grep -vE '^broker/(http|loop).c$')"
report "avro-c only in $AVRO_OK" "$(grep -l '<avro.h>\|<avro/' broker/*.[ch] broker/avro/*.[ch] | grep -vxF "$AVRO_OK")"
# broker/avro/ is self-contained: a quoted include must name a file in broker/avro/, an angle one
# the C library or jansson (avro-c only in AVRO_OK, checked above).
bad=""
for f in broker/avro/*.[ch]; do
  while IFS= read -r line; do
    inc=${line#*#include }
    case "$inc" in
      \"*/*\") bad="$bad$f: $line (not in broker/avro/)"$'\n' ;;
      \"*\") [ -f "broker/avro/${inc//\"/}" ] || bad="$bad$f: $line (not in broker/avro/)"$'\n' ;;
      \<jansson.h\>|\<avro.h\>) ;;
      \<*\>) hn=${inc#<}; hn=${hn%>}
        case "$hn" in
          assert.h|ctype.h|errno.h|float.h|inttypes.h|limits.h|math.h|stdarg.h|stdbool.h|stddef.h|stdint.h|stdio.h|stdlib.h|string.h|strings.h) ;;
          *) bad="$bad$f: $line (only the C library and jansson)"$'\n' ;;
        esac ;;
      *) bad="$bad$f: $line"$'\n' ;;
    esac
  done < <(grep '^[[:space:]]*#[[:space:]]*include' "$f")
done
report "broker/avro/ includes only itself, the C library and jansson" "${bad%$'\n'}"
bad=""
for c in broker/*.c broker/avro/*.c; do
  h=$(basename "$c" .c).h
  [ -f "$(dirname "$c")/$h" ] || continue
  first=$(grep -m1 '^#include' "$c")
  [ "$first" = "#include \"$h\"" ] || bad="$bad$c: first include is '$first', not \"$h\""$'\n'
done
report "each .c includes its own header first" "${bad%$'\n'}"
# The composition root: broker.c builds every module and hands each the narrow env it declares in
# its own header; main.c starts, runs and destroys the broker (`serve`). Every other file in
# broker/ (headers included) neither includes broker.h nor names pb_broker_t / struct pb_broker,
# so no module reaches back into the whole broker (the include cycle broken in the env commits).
# Comments are blanked first (line numbers kept) so a prose mention is not a use.
BROKER_OK="broker/broker.c broker/broker.h broker/main.c"
bad=""
for f in broker/*.[ch] broker/avro/*.[ch]; do
  case " $BROKER_OK " in *" $f "*) continue ;; esac
  hits=$(sed -e 's://.*$::' -e 's:/\*.*\*/::g' -e 's:^[[:space:]]*/\*.*$::' -e 's:^[[:space:]]*\*.*$::' "$f" |
    grep -nE '#[[:space:]]*include[[:space:]]*"broker\.h"|\bstruct pb_broker\b|\bpb_broker_t\b' || true)
  [ -n "$hits" ] && bad="$bad$(printf '%s\n' "$hits" | sed "s|^|$f:|")"$'\n'
done
report "only $BROKER_OK know pb_broker_t (modules get an env)" "${bad%$'\n'}"
exit $fail
