#!/usr/bin/env python3
"""Bring docs/openapi.json's paths in line with the route table (`portbroker routes`).

Adds an operation for every route the document lacks (path parameters, access rule, request
media from the table; generic bodies to be refined by hand) and removes operations for routes the
server no longer has. Operations already documented are left exactly as they are, so the
hand-written response schemas survive. Test 0091 fails while the two disagree; run this, then
write the new operations' schemas.

usage: docs/openapi_sync.py BINARY [docs/openapi.json]
"""
import json
import re
import subprocess
import sys

binary = sys.argv[1]
path = sys.argv[2] if len(sys.argv) > 2 else "docs/openapi.json"
doc = json.load(open(path))
routes = [json.loads(l) for l in subprocess.run([binary, "routes"], check=True, capture_output=True,
                                                text=True).stdout.split("\n") if l.strip()]
want = {(r["path"], r["method"].lower()): r for r in routes}
paths = doc.setdefault("paths", {})
added = removed = 0
for (p, m), r in want.items():
    ops = paths.setdefault(p, {})
    if m in ops:
        continue
    op = {
        "summary": r["summary"],
        "operationId": m + "_" + re.sub(r"[^a-z0-9]+", "_", p.lower()).strip("_"),
        "x-portbroker-access": r["access"],
        "responses": {
            "default": {"$ref": "#/components/responses/Error"},
            "200": {"description": "OK",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Any"}}}},
        },
    }
    params = re.findall(r"{([^}]+)}", p)
    if params:
        op["parameters"] = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                            for n in params]
    media = {}
    if r.get("json"):
        media["application/json"] = {"schema": {"$ref": "#/components/schemas/Any"}}
    if r.get("ndjson"):
        media["application/x-ndjson"] = {"schema": {"type": "string"}}
    if media:
        op["requestBody"] = {"required": True, "content": media}
    ops[m] = op
    added += 1
for p in list(paths):
    for m in list(paths[p]):
        if m in ("get", "put", "post", "delete", "head", "patch") and (p, m) not in want:
            del paths[p][m]
            removed += 1
    if not any(k in paths[p] for k in ("get", "put", "post", "delete", "head", "patch")):
        del paths[p]
with open(path, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
print(f"{path}: {added} operations added, {removed} removed", file=sys.stderr)
