#!/usr/bin/env bash
# README's "Limits" table and the config table (`portbroker config-doc`) cannot drift: every row
# names a config key with the key's default, and every limit key of the config table (a name with
# a `max` part, a `*.timeout.ms`, a `limit.*`) has its row.
PB_BIN=${PB_BIN:-build/release/portbroker}
exec /usr/bin/python3 - "$PB_BIN" README.md <<'PY'
import re, subprocess, sys

pb, readme = sys.argv[1], sys.argv[2]
doc = subprocess.run([pb, "config-doc"], capture_output=True, text=True, timeout=30).stdout
config = {}
for line in doc.splitlines():
    m = re.match(r"^\| `([^`]+)` \| \w+ \| `([^`]*)` \|", line)
    if m:
        config[m.group(1)] = m.group(2)
limit_keys = {k for k in config if re.search(r"(^|\.)max(\.|$)|\.timeout\.ms$|^limit\.", k)}

text = open(readme).read()
m = re.search(r"^## Limits\n(.*?)(?=^## )", text, re.S | re.M)
rows, problems = {}, []
if not m:
    problems.append("README.md has no '## Limits' section")
else:
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) != 4 or cells[0] == "limit" or set(cells[0]) <= set("-"):
            continue
        d, k = re.search(r"`([^`]*)`", cells[1]), re.search(r"`([^`]*)`", cells[2])
        if not d or not k:
            problems.append("row without a `default` or a `key`: " + line)
            continue
        if k.group(1) in rows:
            problems.append("two rows for " + k.group(1))
        rows[k.group(1)] = d.group(1)

checks = []
bad = [f"{k}: not a config key" for k in rows if k not in config]
bad += [f"{k}: README says {v}, the config table {config[k]}" for k, v in rows.items()
        if k in config and config[k] != v]
checks.append(("every row of README's Limits table is a config key with its default", problems + bad))
missing = sorted(limit_keys - set(rows))
checks.append((f"every limit key of the config table ({len(limit_keys)}) has a row in README's Limits table",
               [k + ": no row" for k in missing]))
print(f"1..{len(checks)}")
for i, (name, errs) in enumerate(checks, 1):
    print(("ok" if not errs else "not ok") + f" {i} - {name}")
    for e in errs:
        print("#   " + e)
PY
