"""Rebuild the product/port graph of /v1/lineage from OpenLineage RunEvents (one JSON a line in
EVENTS) and compare: 0064-openlineage-graph. A job is live from its START to its COMPLETE; each live
job's latest event gives its datasets, a dataset's port is the URN in its symlinks facet:
- a DATA_PRODUCT job (named by the product URN): product -> output port ("produces"), input port ->
  product ("consumes");
- a BINDING job: its input dataset's port -> its output dataset's port ("binding").
Prints "same" when the rebuilt edges and nodes equal those of LINEAGE_JSON (GET /v1/lineage), else
the differences. Usage: ol_graph.py EVENTS LINEAGE_JSON"""
import json
import sys

events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
lineage = json.load(open(sys.argv[2]))
live = {}
for e in events:
    name = e["job"]["name"]
    if e["eventType"] == "COMPLETE":
        live.pop(name, None)
    else:
        live[name] = e


def port(d):
    ids = d["facets"]["symlinks"]["identifiers"]
    return [i["name"] for i in ids if i["type"] == "DATA_PRODUCT_PORT"][0]


edges, nodes = set(), set()
for name, e in live.items():
    kind = e["job"]["facets"]["jobType"]["jobType"]
    ins, outs = [port(d) for d in e["inputs"]], [port(d) for d in e["outputs"]]
    if kind == "DATA_PRODUCT":
        nodes.add(name)
        nodes.update(ins + outs)
        edges.update((name, p, "produces") for p in outs)
        edges.update((p, name, "consumes") for p in ins)
    elif kind == "BINDING":
        nodes.update(ins + outs)
        edges.update((i, o, "binding") for i in ins for o in outs)
want_edges = {(x["from"], x["to"], x["type"]) for x in lineage["edges"]}
want_nodes = {x["id"] for x in lineage["nodes"]}
if edges == want_edges and nodes == want_nodes:
    print("same: %d nodes, %d edges, %d live jobs" % (len(nodes), len(edges), len(live)))
else:
    print("differ:")
    for x in sorted(want_edges - edges):
        print("  edge only in /v1/lineage:", x)
    for x in sorted(edges - want_edges):
        print("  edge only in the events:", x)
    for x in sorted(want_nodes ^ nodes):
        print("  node in one only:", x)
    sys.exit(1)
