#!/usr/bin/env bash
# docs/OPERATIONS.md "Backup of the registry", run as written: the registry topic of one cluster is
# backed up with kcat (key TAB value per line), restored into a new cluster (the topic created first
# by a broker started with an empty products.dir and stopped, the document's second way), and a
# broker on the new cluster serves the same products, subjects, schema ids, levels and
# subscriptions as the old one did.
. "$(dirname "$0")/lib.sh"
plan 9
doc=docs/OPERATIONS.md
# The commands are taken from the document, with its placeholders filled in.
backup_cmd=$(sed -n 's/^    \(kcat .* -C .*\) > registry.tsv$/\1/p' "$doc")
restore_cmd=$(sed -n 's/^    \(kcat .* -P .*\) < registry.tsv$/\1/p' "$doc")
[ -n "$backup_cmd" ] && [ -n "$restore_cmd" ] || bail "no backup/restore kcat lines found in $doc"
mkdir -p "$T/products"; cp schemas/examples/* "$T/products/"
start_kafka 3; K1=$BROKERS; K1_PID=$KAFKA_PID
start_broker A -o kafka.bootstrap.servers="$K1" -o mesh.namespace=com.acme -o products.dir="$T/products" || bail "serve A"
wait_ready "$A_URL" 60 || bail "A not ready"
SR='Content-Type: application/vnd.schemaregistry.v1+json'
for f in a b; do
  http POST "$A_URL/subjects/backup-value/versions" -H "$SR" \
    -d "{\"schema\":\"{\\\"type\\\":\\\"record\\\",\\\"name\\\":\\\"B\\\",\\\"fields\\\":[{\\\"name\\\":\\\"$f\\\",\\\"type\\\":\\\"int\\\",\\\"default\\\":0}]}\"}"
done
http PUT "$A_URL/config/backup-value" -H "$SR" -d '{"compatibility":"NONE"}'
snapshot() { # URL: what the registry holds, in a stable text form
  local u=$1
  curl -fsS --max-time 5 "$u/v1/products" | jq -c '[.products[].fqn] | sort'
  curl -fsS --max-time 5 "$u/subjects" | jq -c 'sort'
  for s in $(curl -fsS --max-time 5 "$u/subjects" | jq -r '.[]' | sort); do
    for v in $(curl -fsS --max-time 5 "$u/subjects/$s/versions" | jq -r '.[]'); do
      curl -fsS --max-time 5 "$u/subjects/$s/versions/$v" | jq -c '{subject, version, id}'
    done
  done
  curl -fsS --max-time 5 "$u/config/backup-value"
  curl -fsS --max-time 5 "$u/v1/subscriptions" | jq -c '[.subscriptions[] | {id, from, to, readerSchemaId}] | sort_by(.id)'
}
snapshot "$A_URL" >"$T/before.txt" || bail "snapshot of A failed"
diag "registry before: $(wc -l <"$T/before.txt") lines, $(grep -c '"id"' "$T/before.txt") schema versions"
# Backup (the broker may keep running: the topic is read like any other).
K=$K1; (eval "${backup_cmd//\$KAFKA/\$K}") >"$T/registry.tsv" 2>"$T/backup.err"
high=$(kcat -b "$K1" -Q -t _portbroker:0:-1 2>/dev/null | awk '{print $NF}')
is "backup holds every record of the registry topic" "$(wc -l <"$T/registry.tsv")" "$high"
stop_pid "$A_PID" 20
# A new, empty cluster: create the topic as the document says, then restore.
"$PB_BIN" kafka --brokers 3 --brokers-file "$T/brokers2" >"$T/k2.out" 2>"$T/k2.err" & _pids+=($!)
wait_until 20 test -s "$T/brokers2" || bail "second cluster did not start"
K2=$(cat "$T/brokers2")
mkdir -p "$T/empty"
start_broker E -o kafka.bootstrap.servers="$K2" -o mesh.namespace=com.acme -o products.dir="$T/empty" || bail "serve E"
wait_ready "$E_URL" 60 || bail "E not ready"
stop_pid "$E_PID" 20
is "registry topic created empty on the new cluster (1 partition)" \
  "$(kcat -b "$K2" -L -t _portbroker | grep -c 'partition [0-9]') $(kcat -b "$K2" -Q -t _portbroker:0:-1 2>/dev/null | awk '{print $NF}')" "1 0"
K=$K2; (eval "${restore_cmd//\$KAFKA/\$K}") <"$T/registry.tsv" 2>"$T/restore.err"
is "restore exits 0" "$?" 0
is "the new topic holds as many records" "$(kcat -b "$K2" -Q -t _portbroker:0:-1 2>/dev/null | awk '{print $NF}')" "$high"
is "... keys and values identical, in order" "$(kcat -b "$K2" -C -t _portbroker -o beginning -e -q -f '%k\t%s\n' | md5sum)" "$(md5sum <"$T/registry.tsv")"
start_broker B -o kafka.bootstrap.servers="$K2" -o mesh.namespace=com.acme -o products.dir="$T/products" || bail "serve B"
check "broker on the restored cluster ready" wait_ready "$B_URL" 60
snapshot "$B_URL" >"$T/after.txt"
check "same products, subjects, schema ids, levels and subscriptions" diff "$T/before.txt" "$T/after.txt"
http POST "$B_URL/subjects/backup-value/versions" -H "$SR" \
  -d '{"schema":"{\"type\":\"record\",\"name\":\"B\",\"fields\":[{\"name\":\"c\",\"type\":\"int\",\"default\":0}]}"}'
new_id=$(jq .id <<<"$HTTP_BODY")
max_id=$(grep -o '"id":[0-9]*' "$T/before.txt" | cut -d: -f2 | sort -n | tail -1)
check "a schema registered after the restore gets a new id ($new_id > $max_id)" test "$new_id" -gt "$max_id"
check "nothing in the restored broker's log says the registry was inconsistent" sh -c "! grep -Ei 'corrupt|inconsisten|unknown record|skipp' '$T/B.log'"
diag "snapshot compared: $(tr "\n" " " <"$T/after.txt" | cut -c1-600)"
finish
