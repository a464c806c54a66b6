# Shared helpers for integration tests (sourced). TAP output, bounded waits, processes killed by PID.
# Every test runs from the repo root with PB_BIN set by tests/run.sh.
set -u
PB_BIN=${PB_BIN:-$PWD/build/release/portbroker}
T=$(mktemp -d "${TMPDIR:-/tmp}/pbtest.XXXXXX")
_pids=()
_n=0
_failed=0

cleanup() {
  for p in "${_pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  for p in "${_pids[@]}"; do wait "$p" 2>/dev/null; done
  if [ "$_failed" -eq 0 ]; then rm -rf "$T"; else postmortem; echo "# test files kept in $T"; fi
}
# A failed test shows any process of ours that crashed: the handler's report (portbroker: crashed)
# or a sanitizer's, from the logs in $T, so CI's output says where without the files.
postmortem() {
  local f
  for f in "$T"/*.log "$T"/*.err; do
    [ -f "$f" ] || continue
    grep -qE 'portbroker: crashed|ERROR: (Address|Leak|Thread|UndefinedBehavior)Sanitizer|runtime error:' "$f" || continue
    echo "# $(basename "$f") holds a crash report:"
    grep -E -B5 -A40 'portbroker: crashed|ERROR: [A-Za-z]+Sanitizer|runtime error:' "$f" | head -60 | sed 's/^/#   /'
  done
}
trap cleanup EXIT

plan() { echo "1..$1"; }
ok() { _n=$((_n + 1)); echo "ok $_n - $1"; }
not_ok() { _n=$((_n + 1)); _failed=$((_failed + 1)); echo "not ok $_n - $1"; shift; for l in "$@"; do echo "#   $l"; done; }
# check "description" command...: ok when the command succeeds.
check() { local d=$1; shift; if "$@" >"$T/check.out" 2>&1; then ok "$d"; else not_ok "$d" "command: $*" "$(head -c 2000 "$T/check.out")"; fi; }
# is "description" actual expected
is() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "got:      $2" "expected: $3"; fi; }
# like "description" actual regex
like() { if printf '%s' "$2" | grep -Eq -- "$3"; then ok "$1"; else not_ok "$1" "got:      $(printf '%s' "$2" | head -c 1500)" "expected to match: $3"; fi; }
diag() { echo "# $*"; }
bail() { echo "Bail out! $*"; _failed=1; exit 1; }

# wait_until SECONDS command...: poll every 0.1 s, bounded.
wait_until() {
  local limit=$1; shift
  local end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $end ] && return 1
    sleep 0.1
  done
}

# start_kafka [brokers]: runs `portbroker kafka` in the background; sets KAFKA_PID and BROKERS.
start_kafka() {
  "$PB_BIN" kafka --brokers "${1:-3}" --brokers-file "$T/brokers" >"$T/kafka.out" 2>"$T/kafka.err" &
  KAFKA_PID=$!
  _pids+=("$KAFKA_PID")
  wait_until 20 test -s "$T/brokers" || bail "portbroker kafka did not start: $(cat "$T/kafka.err")"
  BROKERS=$(cat "$T/brokers")
}

# start_broker NAME [serve args...]: starts `portbroker serve` on 127.0.0.1:0; sets
# <NAME>_PID and <NAME>_URL; logs in $T/NAME.log. Waits (bounded) for the port file only.
start_broker() {
  local name=$1; shift
  rm -f "$T/$name.port"
  "$PB_BIN" serve -o http.listen=127.0.0.1:0 --port-file "$T/$name.port" "$@" >"$T/$name.out" 2>"$T/$name.log" &
  local pid=$!
  _pids+=("$pid")
  eval "${name}_PID=$pid"
  if ! wait_until 30 test -s "$T/$name.port"; then
    echo "# broker $name did not start; log:"; sed 's/^/#   /' "$T/$name.log" | tail -20
    return 1
  fi
  eval "${name}_URL=http://127.0.0.1:$(cat "$T/$name.port")"
}

# wait_ready URL [seconds]
wait_ready() { wait_until "${2:-30}" curl -fsS --max-time 2 "$1/readyz"; }

# http METHOD URL [curl args...]: prints the body, then sets HTTP_STATUS. A JSON API client: with
# a body (-d/--data*) and no Content-Type of the caller's own, it sends application/json (the
# broker answers 415 to a body of another or no media type: DESIGN §5).
http() {
  local m=$1 u=$2 a has_body=0 has_ct=0; shift 2
  for a in "$@"; do
    case "$a" in -d | --data | --data-binary | --data-raw | -d?* | --data=* | --data-binary=*) has_body=1 ;; esac
    case "${a,,}" in content-type:*) has_ct=1 ;; esac
  done
  [ $has_body = 1 ] && [ $has_ct = 0 ] && set -- -H 'Content-Type: application/json' "$@"
  HTTP_STATUS=$(curl -sS --max-time 10 -X "$m" -o "$T/http.body" -w '%{http_code}' "$@" "$u")
  HTTP_BODY=$(cat "$T/http.body")
}

# stop_pid PID [seconds]: SIGTERM and wait (bounded); sets STOP_RC (124 if it had to be killed).
stop_pid() {
  local pid=$1 limit=${2:-10}
  kill -TERM "$pid" 2>/dev/null
  local end=$((SECONDS + limit))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $end ]; then kill -KILL "$pid"; wait "$pid" 2>/dev/null; STOP_RC=124; return; fi
    sleep 0.1
  done
  wait "$pid"; STOP_RC=$?
}

# cpu_pct PID SECONDS: CPU the process used over SECONDS, in hundredths of a percent (CPU_PCT) and
# as text (CPU_TEXT, "0.33%").
cpu_pct() {
  local hz t0 t1
  hz=$(getconf CLK_TCK)
  t0=$(awk '{print $14+$15}' /proc/"$1"/stat); sleep "$2"; t1=$(awk '{print $14+$15}' /proc/"$1"/stat)
  CPU_PCT=$(( (t1 - t0) * 100 * 100 / (hz * $2) ))
  CPU_TEXT="$((CPU_PCT / 100)).$(printf %02d $((CPU_PCT % 100)))%"
}

finish() { [ "$_failed" -eq 0 ]; exit $?; }
