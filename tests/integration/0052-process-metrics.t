#!/usr/bin/env bash
# The process_* series of /metrics (as Prometheus client libraries export them) and
# portbroker_threads, compared with what the kernel says of the same process (/proc/PID, ps).
. "$(dirname "$0")/lib.sh"
plan 10
start_broker B || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
m() { curl -fsS --max-time 5 "$B_URL/metrics" >"$T/m.txt" || return 1; }
v() { awk -v n="$1" '$1 == n { print $2 }' "$T/m.txt"; }
# Clients made lazily after readiness (the offset reader, at the first lag sweep) add threads and
# fds: compare once the process has settled (its task and fd counts unchanged for 2 s, bounded).
settled() {
  local a b
  a="$(ls /proc/"$B_PID"/task | wc -l) $(ls /proc/"$B_PID"/fd | wc -l)"; sleep 2
  b="$(ls /proc/"$B_PID"/task | wc -l) $(ls /proc/"$B_PID"/fd | wc -l)"; [ "$a" = "$b" ]
}
wait_until 30 settled || diag "the process did not settle in 30 s; comparing anyway"
m || bail "no /metrics"
check "promtool check metrics accepts the exposition with the process series" promtool check metrics <"$T/m.txt"
like "every process family has HELP and TYPE" "$(grep -cE '^# TYPE (process_(cpu_seconds_total counter|resident_memory_bytes gauge|virtual_memory_bytes gauge|open_fds gauge|max_fds gauge|start_time_seconds gauge)|portbroker_threads gauge)$' "$T/m.txt")" '^7$'
fds=$(ls /proc/"$B_PID"/fd | wc -l)
check "process_open_fds ($(v process_open_fds)) is the fd table's size ($fds) within 10" \
  awk -v a="$(v process_open_fds)" -v b="$fds" 'BEGIN { d = a - b; exit !(a > 0 && d < 10 && d > -10) }'
is "process_max_fds is the soft limit of /proc/PID/limits" "$(v process_max_fds)" "$(awk '/^Max open files/ {print $4}' /proc/"$B_PID"/limits)"
rss=$(awk '/^VmRSS/ {print $2 * 1024}' /proc/"$B_PID"/status)
check "process_resident_memory_bytes ($(v process_resident_memory_bytes)) is VmRSS ($rss) within 25%" \
  awk -v a="$(v process_resident_memory_bytes)" -v b="$rss" 'BEGIN { exit !(a > 1000000 && a < b * 1.25 && a > b * 0.75) }'
vsz=$(awk '/^VmSize/ {print $2 * 1024}' /proc/"$B_PID"/status)
check "process_virtual_memory_bytes is VmSize within 10%" \
  awk -v a="$(v process_virtual_memory_bytes)" -v b="$vsz" 'BEGIN { exit !(a < b * 1.1 && a > b * 0.9) }'
started=$(( $(date +%s) - $(ps -o etimes= -p "$B_PID") ))
check "process_start_time_seconds ($(v process_start_time_seconds)) is when ps says it started ($started) within 3 s" \
  awk -v a="$(v process_start_time_seconds)" -v b="$started" 'BEGIN { d = a - b; exit !(d < 3 && d > -3) }'
th=$(ls /proc/"$B_PID"/task | wc -l)
check "portbroker_threads ($(v portbroker_threads)) is the task count ($th) within 3" \
  awk -v a="$(v portbroker_threads)" -v b="$th" 'BEGIN { d = a - b; exit !(a > 1 && d < 3 && d > -3) }'
cpu0=$(v process_cpu_seconds_total)
ticks=$(awk '{print $14 + $15}' /proc/"$B_PID"/stat)
check "process_cpu_seconds_total ($cpu0) is utime+stime of /proc/PID/stat within 0.2 s" \
  awk -v a="$cpu0" -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { d = a - t / hz; exit !(d < 0.2 && d > -0.2) }'
for i in $(seq 1 300); do curl -fsS --max-time 2 -o /dev/null "$B_URL/metrics"; done
m
check "process_cpu_seconds_total grows with work ($cpu0 -> $(v process_cpu_seconds_total) after 300 scrapes)" \
  awk -v a="$cpu0" -v b="$(v process_cpu_seconds_total)" 'BEGIN { exit !(b > a) }'
finish
