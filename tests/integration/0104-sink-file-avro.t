#!/usr/bin/env bash
# pb-sink-file --format avro (issue #16): Avro Object Container Files in the reader schema with the
# null, deflate and zstandard codecs, read back by python3-avro's DataFileReader (zstandard through
# python3-zstandard); killed with SIGKILL mid-stream and restarted, the files still hold every
# record exactly once and stay readable (the file is cut back to its last checkpointed block).
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
plan 8
$PY -c 'import avro.datafile' 2>/dev/null || bail "python3-avro is not installed (deploy/install-deps.sh --test installs it)"
SINK=$(dirname "$PB_BIN")/connectors/pb-sink-file
start_kafka 3
start_broker B -o kafka.bootstrap.servers="$BROKERS" -o mesh.namespace=com.acme || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
export PORTBROKER_URL=$B_URL
IN=tripExecution/1/inputports/weather
pub() { # pub FROM TO
  awk -v a="$1" -v b="$2" 'BEGIN { for (i = a; i <= b; i++) printf "{\"key\":\"st-%d\",\"value\":{\"observationId\":\"00000000-0000-4000-8000-%012d\",\"stationId\":\"st-%d\",\"observedAt\":1795256130000,\"location\":{\"lat\":48.1,\"lon\":11.6},\"temperatureC\":%d.5,\"condition\":\"SNOW\"}}\n", i, i, i, i }' \
    | "$PB_BIN" publish weather/2/outputports/observations 2>"$T/pub.err" || bail "publish: $(cat "$T/pub.err")"
}
# read DIR: every record of every .avro file as one JSON line (python3-avro).
read_dir() {
  $PY - "$1" <<'PYEOF'
import glob, json, sys
from avro.datafile import DataFileReader
from avro.io import DatumReader
for f in sorted(glob.glob(sys.argv[1] + "/*.avro")):
    with open(f, "rb") as fh:
        r = DataFileReader(fh, DatumReader())
        codec = r.get_meta("avro.codec").decode()
        for rec in r:
            print(json.dumps({"codec": codec, "stationId": rec["stationId"], "t": rec["temperatureC"], "vis": rec["visibilityKm"]}))
PYEOF
}
"$SINK" --port "$IN" --dir "$T/x" --format avro --codec lz4 >"$T/h" 2>&1; rc=$?
like "--codec lz4: exit 2 naming the choices" "$rc $(cat "$T/h")" "^2 .*--codec: 'lz4' is not one of null, deflate, zstandard"
n=0
for codec in null deflate zstandard; do
  pub $((n + 1)) $((n + 200)); n=$((n + 200))
  "$SINK" --port "$IN" --dir "$T/$codec" --format avro --codec "$codec" --once --wait-ms 3000 --batch 50 2>"$T/$codec.err"
  is "$codec: DataFileReader reads the 200 records, the codec named in the header" \
    "$(read_dir "$T/$codec" | jq -s -c '[length, (map(.codec) | unique), (map(.stationId) | unique | length), (map(.vis) | unique)]')" "[200,[\"$codec\"],200,[null]]"
done
# kill -9 mid-stream, restart: every record once, every file readable.
pub 1001 4000
"$SINK" --port "$IN" --dir "$T/k" --format avro --codec deflate --batch 100 --flush-ms 200 --rotate-bytes 8000 2>"$T/k1.err" &
KP=$!; _pids+=("$KP")
wait_until 60 sh -c "[ \$(jq '[.next[]] | add' '$T/k/.pb-sink-file.checkpoint' 2>/dev/null || echo 0) -ge 800 ]" || diag "no progress: $(tail -2 "$T/k1.err")"
kill -KILL "$KP"; wait "$KP" 2>/dev/null
"$SINK" --port "$IN" --dir "$T/k" --format avro --codec deflate --batch 100 --flush-ms 200 --rotate-bytes 8000 --once --wait-ms 4000 2>"$T/k2.err"
like "restart resumes from the checkpoint" "$(head -1 "$T/k2.err")" "resuming at records-[0-9]+\.avro byte [0-9]+"
read_dir "$T/k" >"$T/k.json"
is "after kill -9 and restart: 3000 records, each once, all files readable" \
  "$(jq -s -c '[length, (map(.stationId) | unique | length)]' "$T/k.json")" "[3000,3000]"
check "rotated by size" test "$(ls "$T"/k/*.avro | wc -l)" -gt 1
like "summary names the avro file" "$(tail -1 "$T/k2.err")" "records written, .* file records-[0-9]+\.avro"
finish
