#!/usr/bin/python3
"""Add a "fingerprint:" line after every "canonical:" line of tests/data/schema/*.test that lacks
one, computed from the hand-written canonical form with crc64avro.py (never from the C code), so
the case files check the C fingerprint against an independent implementation.
Usage: /usr/bin/python3 tests/oracle/fill_fingerprints.py tests/data/schema/*.test"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from crc64avro import hex64  # noqa: E402

for path in sys.argv[1:]:
    lines = open(path, encoding="utf-8").read().split("\n")
    out = []
    for i, line in enumerate(lines):
        out.append(line)
        if line.startswith("canonical:"):
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            if not nxt.startswith("fingerprint:"):
                out.append("fingerprint: " + hex64(line[len("canonical:"):].strip().encode("utf-8")))
    open(path, "w", encoding="utf-8").write("\n".join(out))
