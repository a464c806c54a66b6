#!/usr/bin/python3
"""Data-driven Schema Registry REST cases against a live broker: runs every block of each
tests/data/sr/*.case and prints TAP, one point per case. The cases are written from Confluent
Schema Registry's documented behaviour (its API reference and REST tests): what a Confluent
client sends, and what Confluent answers.

A file is a list of cases separated by blank lines; a line starting with '#' is a comment and
the first one names the case. A case is a sequence of requests, each followed by what its answer
must be:

  GET /subjects?deleted=true             a request: METHOD PATH [BODY], BODY one line of JSON.
  POST /subjects/a/versions {"schema": {"type": "record", ...}}
                                         a "schema" given as JSON (not a string) is sent as its
                                         compact text, as clients send it
  -> 200                                 the status
  json {"id": 1}                         the body contains this: objects key by key (recursively,
                                         extra keys allowed), arrays item by item (same length),
                                         scalars equal
  equals [1, 2]                          the body is exactly this JSON
  lacks schemaType                       the body (an object) has no such key
  contains text                          the raw body contains text
  set NAME .a.b[0]                       keep a value of the body as ${NAME} for later lines
  count N                                the body is an array of N items

${NAME} is replaced in paths, bodies and expectations (JSON values as their JSON text).
Usage: sr_cases.py URL [FILE.case...]   (default: every tests/data/sr/*.case)
"""
import glob
import json
import os
import re
import sys
import urllib.error
import urllib.request

CT = "application/vnd.schemaregistry.v1+json"


def request(url, method, path, body):
    data = None
    if body is not None:
        if isinstance(body, dict) and not isinstance(body.get("schema", ""), str):
            body = dict(body, schema=json.dumps(body["schema"], separators=(",", ":")))
        data = json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method,
                                 headers={"Content-Type": CT, "Accept": CT})
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def contains(got, want):
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and contains(got[k], v) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(map(contains, got, want))
    return got == want


def path_get(doc, expr):
    for m in re.finditer(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]", expr):
        doc = doc[m.group(1)] if m.group(1) else doc[int(m.group(2))]
    return doc


def blocks(path):
    block, start = [], 0
    for no, line in enumerate(open(path, encoding="utf-8").read().split("\n"), 1):
        if not line.strip():
            if block:
                yield start, block
            block = []
            continue
        if not block:
            start = no
        block.append((no, line))
    if block:
        yield start, block


def run_case(url, lines, var):
    """Returns None when every step holds, else a list of diagnostic lines."""
    status = body = None

    def subst(s):
        return re.sub(r"\$\{(\w+)\}", lambda m: var[m.group(1)] if isinstance(var[m.group(1)], str)
                      else json.dumps(var[m.group(1)]), s)
    for no, raw in lines:
        line = raw.strip()
        if line.startswith("#"):
            continue
        line = subst(line)
        word, _, rest = line.partition(" ")
        try:
            if word in ("GET", "POST", "PUT", "DELETE"):
                p, _, b = rest.partition(" ")
                status, body = request(url, word, p, json.loads(b) if b.strip() else None)
                last = f"{word} {p}"
            elif word == "->":
                if status != int(rest):
                    return [f"line {no}: {last}: status {status}, want {rest}", f"body: {body[:1500]}"]
            elif word == "json":
                if not contains(json.loads(body), json.loads(rest)):
                    return [f"line {no}: {last}: body does not contain {rest}", f"body: {body[:1500]}"]
            elif word == "equals":
                if json.loads(body) != json.loads(rest):
                    return [f"line {no}: {last}: body is not {rest}", f"body: {body[:1500]}"]
            elif word == "lacks":
                if rest in json.loads(body):
                    return [f"line {no}: {last}: body has {rest}", f"body: {body[:1500]}"]
            elif word == "contains":
                if rest not in body:
                    return [f"line {no}: {last}: body does not contain the text {rest}", f"body: {body[:1500]}"]
            elif word == "count":
                if len(json.loads(body)) != int(rest):
                    return [f"line {no}: {last}: {len(json.loads(body))} items, want {rest}", f"body: {body[:1500]}"]
            elif word == "set":
                name, _, expr = rest.partition(" ")
                var[name] = path_get(json.loads(body), expr.strip())
            else:
                return [f"line {no}: unknown step '{word}'"]
        except (ValueError, KeyError, IndexError, TypeError) as e:
            return [f"line {no}: {raw.strip()}: {type(e).__name__}: {e}", f"body: {(body or '')[:1500]}"]
    return None


def main():
    url = sys.argv[1].rstrip("/")
    files = sys.argv[2:] or sorted(glob.glob(os.path.join(os.path.dirname(__file__), "data", "sr", "*.case")))
    cases = [(f, start, b) for f in files for start, b in blocks(f)]
    print(f"1..{len(cases)}")
    failed = 0
    var = {}
    for n, (f, start, b) in enumerate(cases, 1):
        name = next((l.strip()[1:].strip() for _, l in b if l.strip().startswith("#")), f"case at line {start}")
        why = run_case(url, b, var)
        where = f"{os.path.basename(f)}:{start}"
        if why is None:
            print(f"ok {n} - {where} {name}")
        else:
            failed += 1
            print(f"not ok {n} - {where} {name}")
            for line in why:
                print(f"#   {line}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
