#!/usr/bin/env bash
# connectors/pb-sink-postgres end to end (issue #16): a real PostgreSQL cluster (initdb in a temp
# dir, 127.0.0.1 on a free port, run as the postgres user, killed by PID) receives tripExecution/1's
# input port: the table comes from the reader schema (uuid, timestamptz, jsonb, double, real), rows
# are upserted by key in batched transactions with the offsets in pb_sink_offsets. Killed with
# SIGKILL mid-stream and restarted: the table holds every key once with its latest record, and
# pb_sink_offsets equals the topic's end offsets.
. "$(dirname "$0")/lib.sh"
plan 9
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || bail "PostgreSQL is not installed (deploy/install-deps.sh installs postgresql)"
SINK=$(dirname "$PB_BIN")/connectors/pb-sink-postgres
PGDIR=$T/pg
mkdir -p "$PGDIR" && chown postgres "$PGDIR" && chmod 755 "$T"
runuser -u postgres -- "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust >"$T/initdb.log" 2>&1 || bail "initdb: $(tail -3 "$T/initdb.log")"
PGPORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
runuser -u postgres -- "$PGBIN/postgres" -D "$PGDIR/data" -h 127.0.0.1 -p "$PGPORT" -k "$PGDIR" >"$T/pg.log" 2>&1 &
PGPID=$!; _pids+=("$PGPID")
CONN="host=127.0.0.1 port=$PGPORT user=postgres dbname=postgres connect_timeout=5"
psqlq() { psql "$CONN" -Atq -c "$1"; }
wait_until 30 psqlq "select 1" || bail "postgres did not start: $(tail -5 "$T/pg.log")"
# runuser stays the parent: the postmaster's own PID (postmaster.pid, line 1) is what to kill.
_pids+=("$(head -1 "$PGDIR/data/postmaster.pid")")
start_kafka 3
start_broker B -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
export PORTBROKER_URL=$B_URL
IN=tripExecution/1/inputports/weather
N=3000 KEYS=300
awk -v n=$N -v k=$KEYS 'BEGIN { for (i = 1; i <= n; i++) printf "{\"key\":\"st-%d\",\"value\":{\"observationId\":\"00000000-0000-4000-8000-%012d\",\"stationId\":\"st-%d\",\"observedAt\":%.0f,\"location\":{\"lat\":48.1,\"lon\":11.6},\"temperatureC\":%d.5,\"condition\":\"SNOW\"}}\n", i % k, i, i % k, 1795256130000 + i * 1000, i }' >"$T/in.ndjson"
"$PB_BIN" publish weather/2/outputports/observations -f "$T/in.ndjson" --id-prefix pg- 2>"$T/pub.err" || bail "publish: $(cat "$T/pub.err")"

"$SINK" --port "$IN" --conninfo "$CONN" >"$T/h" 2>&1; rc=$?
like "without --table: exit 2" "$rc $(head -1 "$T/h")" "^2 .*--port and --table are required"
run() { "$SINK" --port "$IN" --table observations --conninfo "$CONN" --batch 200 --flush-ms 200 >>"$T/sink.out" 2>>"$T/sink.err" & KP=$!; _pids+=("$KP"); }
run
wait_until 90 sh -c "[ \"\$(psql '$CONN' -Atq -c 'select coalesce(sum(next_offset),0) from pb_sink_offsets' 2>/dev/null || echo 0)\" -ge 600 ]" || diag "no progress: $(tail -3 "$T/sink.err")"
kill -KILL "$KP"; wait "$KP" 2>/dev/null
S1=$(psqlq 'select sum(next_offset) from pb_sink_offsets')
check "killed mid-stream ($S1 of $N records committed to the table)" test "$S1" -lt "$N"
run
wait_until 120 sh -c "[ \"\$(psql '$CONN' -Atq -c 'select sum(next_offset) from pb_sink_offsets')\" -ge $N ]" || diag "incomplete: $(tail -3 "$T/sink.err")"
stop_pid "$KP" 10
is "SIGTERM: exit 0" "$STOP_RC" 0
like "summary" "$(tail -1 "$T/sink.err")" "pb-sink-postgres: .* -> observations: [0-9]+ records upserted in [0-9]+ transactions"
is "column types from the reader schema" \
  "$(psqlq "select string_agg(column_name || ':' || data_type, ',' order by ordinal_position) from information_schema.columns where table_name = 'observations'")" \
  'pb_key:text,observationId:uuid,stationId:text,observedAt:timestamp with time zone,location:jsonb,temperatureC:double precision,condition:text,visibilityKm:real,pb_partition:integer,pb_offset:bigint'
is "every key once" "$(psqlq 'select count(*), count(distinct pb_key) from observations')" "$KEYS|$KEYS"
# The latest record of key st-K is i = N - KEYS + K (or N for K = 0): its temperature and time.
is "each row is its key's latest record (temperature, time, uuid)" \
  "$(psqlq "select count(*) from observations where \"temperatureC\" = (case when substr(pb_key,4)::int = 0 then $N else $N - $KEYS + substr(pb_key,4)::int end) + 0.5 and \"observedAt\" = to_timestamp((1795256130000 + (\"temperatureC\" - 0.5) * 1000) / 1000.0) and \"observationId\" = ('00000000-0000-4000-8000-' || lpad(((\"temperatureC\" - 0.5)::int)::text, 12, '0'))::uuid")" "$KEYS"
http GET "$B_URL/v1/subscriptions"
BID=$(echo "$HTTP_BODY" | jq -r '.subscriptions[] | select(.to | endswith("tripExecution:1:inputports:weather")) | .id')
is "pb_sink_offsets equal the topic's end offsets" \
  "$(psqlq "select string_agg(partition || ':' || next_offset, ',' order by partition) from pb_sink_offsets")" \
  "$(curl -sS "$B_URL/v1/subscriptions/$BID/stats" | jq -r '[.partitions | sort_by(.partition)[] | "\(.partition):\(.subscribers.endOffset)"] | join(",")')"
check "location went in as jsonb" test "$(psqlq "select count(*) from observations where (location->>'lat')::float8 = 48.1")" = "$KEYS"
finish
