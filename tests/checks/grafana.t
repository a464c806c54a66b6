#!/usr/bin/env bash
# deploy/grafana/portbroker.json: valid JSON, a `port` template variable, and every PromQL
# expression (panel targets and variable queries) uses only metric names a running broker exports
# on /metrics (histograms with their _bucket/_sum/_count series) or that the shipped recording rules
# define, only known PromQL functions, and (port series) filters by $port.
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh
plan 6
DASH=deploy/grafana/portbroker.json
RULES=deploy/prometheus/portbroker.rules.yml

check "the dashboard is valid JSON" jq -e . "$DASH"
is "it has a port template variable" "$(jq -r '.templating.list[] | select(.name == "port") | .type' "$DASH")" query

start_broker B -o mesh.namespace=com.acme -o metrics.kafka.stats.interval.ms=200 || bail "serve did not start"
wait_ready "$B_URL" || bail "not ready"
# The statistics families (portbroker_kafka_broker_*, _stats_timestamp_seconds) appear with the
# Kafka clients' first statistics report (statistics are off by default: switched on here).
wait_until 20 sh -c "curl -sS --max-time 5 '$B_URL/metrics' >'$T/metrics.txt' && grep -q '^# TYPE portbroker_kafka_stats_timestamp_seconds ' '$T/metrics.txt'"
stop_pid "$B_PID"
awk '$1 == "#" && $2 == "TYPE" { print $3; if ($4 == "histogram") { print $3 "_bucket"; print $3 "_sum"; print $3 "_count" } }' \
  "$T/metrics.txt" >"$T/names"
sed -n 's/^ *- record: *\([a-zA-Z_:][a-zA-Z0-9_:]*\) *$/\1/p' "$RULES" >>"$T/names"
like "names from /metrics and the recording rules" "$(wc -l <"$T/names")" '^[0-9]{2,}$'

jq -r '[.panels[] | .targets[]?.expr] + [.templating.list[] | .query.query? // empty] | .[]' "$DASH" >"$T/exprs"
like "the dashboard has expressions (one a line)" "$(wc -l <"$T/exprs")" '^[0-9]{2,}$'

cat >"$T/check.py" <<'PY'
import re, sys
names = set(open(sys.argv[1]).read().split())
funcs = set("""abs absent absent_over_time avg avg_over_time bottomk ceil changes clamp clamp_max
clamp_min count count_over_time count_values delta deriv exp floor group histogram_quantile
holt_winters idelta increase irate label_join label_replace last_over_time ln log10 log2 max
max_over_time min min_over_time predict_linear quantile quantile_over_time rate resets round scalar
sgn sort sort_desc sqrt stddev stdvar sum sum_over_time time timestamp topk vector label_values""".split())
keywords = {"and", "or", "unless", "bool", "offset"}
bad, unfiltered = [], []
process_wide = {"portbroker_build_info", "portbroker_schema_checks_total"}
for line in open(sys.argv[2]):
    e = line.strip()
    if not e:
        continue
    s = e.replace("$__rate_interval", "5m")
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', s)                      # string literals
    s = re.sub(r"\{[^}]*\}", "", s)                                 # label matchers
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\[[^\]]*\]", "", s)                                 # ranges
    s = re.sub(r"\blabel_values\(([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*[a-zA-Z_]+\)", r"\1", s)
    s = re.sub(r"(?<![A-Za-z0-9_:])\d+(\.\d+)?(e[+-]?\d+)?", " ", s)  # numbers
    used = []
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", s):
        tok, rest = m.group(0), s[m.end():].lstrip()
        if rest.startswith("("):
            if tok not in funcs:
                bad.append(f"unknown function {tok} in: {e}")
        elif tok in keywords:
            pass
        elif tok not in names:
            bad.append(f"unknown metric {tok} in: {e}")
        else:
            used.append(tok)
    if not used:
        bad.append(f"no metric name found in: {e}")
    if any(u not in process_wide and not u.startswith(("portbroker_produce_duration", "portbroker_kafka_", "portbroker:kafka_")) for u in used) \
            and "$port" not in e and "label_values" not in e:
        unfiltered.append(e)
print("\n".join(bad))
print("--")
print("\n".join(unfiltered))
PY
python3 "$T/check.py" "$T/names" "$T/exprs" >"$T/check.out" 2>&1 || bail "checker failed: $(cat "$T/check.out")"
is "every expression uses only exported or recorded metric names and known functions" "$(sed '/^--$/,$d' "$T/check.out")" ""
is "every port expression filters by \$port" "$(sed '1,/^--$/d' "$T/check.out")" ""
finish
