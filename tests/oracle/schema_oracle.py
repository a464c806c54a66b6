#!/usr/bin/python3
"""Schema oracle: random Avro schemas, valid and deliberately broken, judged by our parser and by
Debian's python3-avro 1.11.1 (run with /usr/bin/python3, which has it). Prints TAP.

For every generated schema the generator knows what Apache Avro Java 1.11 (our reference) says:
valid, or invalid because of the one mutation it applied. Test points:
  * our verdict equals that expectation;
  * where python avro implements the same rule, python's verdict equals it as well (this keeps
    the generator honest); where python is known to be looser than Java (see PYTHON_GAPS), its
    verdict is only counted and reported;
  * for valid schemas, our Parsing Canonical Form equals python's (normalised for python's known
    canonical-form bugs, see normalise()), and our fingerprint equals CRC-64-AVRO of that form
    computed by crc64avro.py (python avro 1.11.1 has no fingerprint API), and python reads what
    we store and serve (pb_schema_to_json) to the same canonical form.

Our side runs as one process: $PB_BUILD/tests/unit/run_schema_cases --batch FILE.
Environment: PB_BUILD (default build/release), PB_ORACLE_SEED (default 20240601),
PB_ORACLE_COUNT (default 400).

Known python avro 1.11.1 deviations from Java / the spec (why PYTHON_GAPS and normalise exist):
  - field defaults are never validated ("TODO(hammer): check to ensure default is valid");
  - field names and aliases are not validated as names;
  - a union may hold the same named type twice (only unnamed duplicates are checked);
  - a fixed size is any Python int (2**31 is accepted; Java requires an int);
  - canonical form: a primitive with extra attributes (e.g. a logical type) comes out as
    {"type":"int"} instead of "int"; a fixed type is written in full every time it occurs;
    an "error" stays "error" (Java and the spec's [PRIMITIVES]/[STRIP] make it a record);
  - an empty "namespace" inside a namespaced type inherits the enclosing namespace, and "error"
    types do not pass their namespace on (the generator avoids both);
  - no null-namespace fallback for short names and no {"type": "DefinedName"} references (Java
    has both; the generator avoids them, the case files test them).
"""
import json
import os
import random
import subprocess
import sys
import tempfile
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from crc64avro import hex64  # noqa: E402

warnings.simplefilter("ignore")
import avro.schema  # noqa: E402

PRIMS = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]
NAMESPACES = ["a", "a.b", "com.acme", "x_y.z9"]
LOGICAL = [("int", "date"), ("int", "time-millis"), ("long", "time-micros"), ("long", "timestamp-millis"),
           ("long", "timestamp-micros"), ("string", "uuid"), ("long", "local-timestamp-millis")]

# mutation -> does python avro 1.11.1 reject it like Java does?
MUTATIONS = {
    "bad_name": True, "dup_field": True, "dup_symbol": True, "bad_symbol": True, "unknown_ref": True,
    "nested_union": True, "dup_prim_branch": True, "missing_fields": True, "negative_size": True,
    "missing_type": True, "enum_default": True, "prim_named": True, "redefine": True,
    "bad_namespace": True, "missing_items": True,
    # PYTHON_GAPS: Java rejects, python 1.11.1 accepts
    "bad_default": False, "dup_named_branch": False, "bad_field_name": False, "huge_size": False,
    "bad_alias": False,
}


class Gen:
    def __init__(self, rng):
        self.rng = rng
        self.count = 0
        self.named = []  # (fullname, namespace or None, node dict)

    def fresh(self, prefix):
        self.count += 1
        return "%s%d" % (prefix, self.count)

    def name_attrs(self, node, ns):
        """Give node a name; returns (fullname, namespace)."""
        short = self.fresh(self.rng.choice(["R", "E", "F", "T_"]))
        style = self.rng.random()
        if style < 0.5:
            node["name"] = short
            new_ns = ns
        elif style < 0.8:
            new_ns = self.rng.choice(NAMESPACES)
            node["name"] = short
            node["namespace"] = new_ns
        else:
            new_ns = self.rng.choice(NAMESPACES)
            node["name"] = new_ns + "." + short
        full = (new_ns + "." + short) if new_ns else short
        return full, new_ns

    def ref(self, ns):
        # A null-namespace type is only reachable by its bare name from the null namespace in
        # python (Java also falls back to the null namespace; the case files test that).
        usable = [t for t in self.named if t[1] or not ns]
        if not usable:
            return self.rng.choice(PRIMS)
        full, tns, node = self.rng.choice(usable)
        if tns == ns and self.rng.random() < 0.5:
            return full.rsplit(".", 1)[-1]
        return full

    def schema(self, depth, ns, allow_union=True):
        r = self.rng.random()
        if depth > 3 or r < 0.3:
            if self.named and self.rng.random() < 0.3:
                return self.ref(ns)
            if self.rng.random() < 0.15:
                base, lt = self.rng.choice(LOGICAL)
                return {"type": base, "logicalType": lt}
            p = self.rng.choice(PRIMS)
            return p if self.rng.random() < 0.7 else {"type": p}
        if r < 0.5:
            return self.record(depth, ns)
        if r < 0.6:
            return self.enum(ns)
        if r < 0.68:
            return self.fixed(ns)
        if r < 0.78:
            return {"type": "array", "items": self.schema(depth + 1, ns)}
        if r < 0.86:
            return {"type": "map", "values": self.schema(depth + 1, ns)}
        if allow_union:
            return self.union(depth, ns)
        return self.rng.choice(PRIMS)

    def union(self, depth, ns):
        branches, keys = [], set()
        for _ in range(self.rng.randint(1, 4)):
            mark = len(self.named)
            b = self.schema(depth + 1, ns, allow_union=False)
            k = self.branch_key(b, ns)
            if k in keys:
                del self.named[mark:]  # the dropped branch's definitions do not exist
                continue
            keys.add(k)
            branches.append(b)
        return branches

    def branch_key(self, b, ns):
        if isinstance(b, str):
            if b in PRIMS:
                return b
            return b if "." in b else (ns + "." + b if ns else b)
        if b.get("type") in ("record", "enum", "fixed", "error"):
            name = b["name"]
            if "." in name:
                return name
            bns = b.get("namespace", ns)
            return bns + "." + name if bns else name
        return b.get("type")

    def record(self, depth, ns):
        node = {"type": "record"}
        full, new_ns = self.name_attrs(node, ns)
        if self.rng.random() < 0.3:
            node["doc"] = "doc of " + full
        if self.rng.random() < 0.2:
            node["aliases"] = [self.fresh("Old")]
        self.named.append((full, new_ns, node))
        fields = []
        for i in range(self.rng.randint(0, 4)):
            f = {"name": "f%d" % i, "type": self.schema(depth + 1, new_ns)}
            if self.rng.random() < 0.2:
                f["doc"] = "field"
            if self.rng.random() < 0.15:
                f["order"] = self.rng.choice(["ascending", "descending", "ignore"])
            if self.rng.random() < 0.4:
                ok, v = self.value_for(f["type"], new_ns, 0)
                if ok:
                    f["default"] = v
            fields.append(f)
        node["fields"] = fields
        return node

    def enum(self, ns):
        node = {"type": "enum"}
        full, new_ns = self.name_attrs(node, ns)
        node["symbols"] = ["S%d" % i for i in range(self.rng.randint(1, 4))]
        if self.rng.random() < 0.3:
            node["default"] = self.rng.choice(node["symbols"])
        self.named.append((full, new_ns, node))
        return node

    def fixed(self, ns):
        node = {"type": "fixed"}
        full, new_ns = self.name_attrs(node, ns)
        node["size"] = self.rng.randint(0, 8)
        if node["size"] >= 4 and self.rng.random() < 0.3:
            node.update({"logicalType": "decimal", "precision": 1 + self.rng.randint(0, 8), "scale": 0})
        self.named.append((full, new_ns, node))
        return node

    def lookup(self, name, ns):
        for full, tns, node in self.named:
            if full == name or (ns and full == ns + "." + name) or (not ns and full == name):
                return node, tns
        return None, None

    def value_for(self, s, ns, depth):
        """A valid default for schema s (Java rules plus ours); (False, None) if none found."""
        if depth > 4:
            return False, None
        if isinstance(s, list):
            return self.value_for(s[0], ns, depth) if s else (False, None)
        t = s if isinstance(s, str) else s.get("type")
        rng = self.rng
        if t == "null":
            return True, None
        if t == "boolean":
            return True, rng.random() < 0.5
        if t == "int":
            return True, rng.choice([0, -1, 2 ** 31 - 1, -(2 ** 31), rng.randint(-1000, 1000)])
        if t == "long":
            return True, rng.choice([0, 2 ** 63 - 1, -(2 ** 63), rng.randint(-10 ** 12, 10 ** 12)])
        if t in ("float", "double"):
            return True, rng.choice([0, 1.5, -2.25, 7])
        if t in ("string",):
            return True, rng.choice(["", "x", "caf\u00e9"])
        if t == "bytes":
            return True, rng.choice(["", "\u00ff\u0001", "ab"])
        if t == "array":
            ok, v = self.value_for(s["items"], ns, depth + 1)
            return True, ([v] if ok else [])
        if t == "map":
            ok, v = self.value_for(s["values"], ns, depth + 1)
            return True, ({"k": v} if ok else {})
        node, tns = (s, ns) if isinstance(s, dict) else self.lookup(t, ns)
        if node is None:
            return False, None
        if isinstance(s, dict) and "name" in s:
            tns = self.node_ns(s, ns)
        kind = node.get("type")
        if kind == "enum":
            return True, node["symbols"][0]
        if kind == "fixed":
            return True, "a" * node["size"]
        if kind in ("record", "error"):
            if "fields" not in node:  # still being built (recursive reference)
                return False, None
            out = {}
            for f in node["fields"]:
                ok, v = self.value_for(f["type"], tns, depth + 1)
                if not ok:
                    return False, None
                out[f["name"]] = v
            return True, out
        return False, None

    def node_ns(self, node, ns):
        name = node["name"]
        if "." in name:
            return name.rsplit(".", 1)[0]
        return node.get("namespace", ns)


def walk(s, path=()):
    """Yield (path, node) for every schema position (not field objects)."""
    yield path, s
    if isinstance(s, list):
        for i, b in enumerate(s):
            yield from walk(b, path + (i,))
    elif isinstance(s, dict):
        t = s.get("type")
        if t in ("record", "error"):
            for i, f in enumerate(s.get("fields", [])):
                yield from walk(f["type"], path + ("fields", i, "type"))
        elif t == "array":
            yield from walk(s["items"], path + ("items",))
        elif t == "map":
            yield from walk(s["values"], path + ("values",))


def mutate(gen, s, kind):
    """Apply mutation kind somewhere in s (in place when possible). Returns the new root or None."""
    rng = gen.rng
    nodes = list(walk(s))
    dicts = [n for _, n in nodes if isinstance(n, dict)]
    records = [n for n in dicts if n.get("type") == "record"]
    enums = [n for n in dicts if n.get("type") == "enum"]
    fixeds = [n for n in dicts if n.get("type") == "fixed"]
    named = records + enums + fixeds
    unions = [n for _, n in nodes if isinstance(n, list)]
    if kind == "bad_name" and named:
        rng.choice(named)["name"] = rng.choice(["1abc", "a-b", "has space", "a..b"])
    elif kind == "dup_field" and [r for r in records if r["fields"]]:
        r = rng.choice([r for r in records if r["fields"]])
        r["fields"].append({"name": r["fields"][0]["name"], "type": "int"})
    elif kind == "dup_symbol" and enums:
        e = rng.choice(enums)
        e["symbols"].append(e["symbols"][0])
    elif kind == "bad_symbol" and enums:
        rng.choice(enums)["symbols"].append(rng.choice(["9x", "a-b", ""]))
    elif kind == "unknown_ref" and records:
        rng.choice(records)["fields"].append({"name": "zz", "type": "NoSuchType"})
    elif kind == "nested_union" and unions:
        rng.choice(unions).append(["int", "string"] if True else None)
    elif kind == "dup_prim_branch" and unions:
        u = rng.choice(unions)
        u.extend(["boolean", {"type": "boolean"}])
    elif kind == "missing_fields" and records:
        del rng.choice(records)["fields"]
    elif kind == "negative_size" and fixeds:
        rng.choice(fixeds)["size"] = -1 * rng.randint(1, 5)
    elif kind == "missing_type" and records:
        r = rng.choice(records)
        r["fields"].append({"name": "mt", "type": {"items": "int"}})
    elif kind == "enum_default" and enums:
        rng.choice(enums)["default"] = "NOT_A_SYMBOL"
    elif kind == "prim_named":
        return {"type": "record", "name": "Wrap", "fields": [
            {"name": "a", "type": s}, {"name": "b", "type": {"type": "fixed", "name": rng.choice(PRIMS), "size": 1}}]}
    elif kind == "redefine" and named:
        n = rng.choice(named)
        full = gen_fullname(s, n)
        return {"type": "record", "name": "Wrap", "namespace": "wrap", "fields": [
            {"name": "a", "type": s}, {"name": "b", "type": {"type": "enum", "name": full, "symbols": ["A"]}}]}
    elif kind == "bad_namespace" and named:
        n = rng.choice(named)
        n["name"] = n["name"].rsplit(".", 1)[-1]
        n["namespace"] = rng.choice(["1a", "a.-b", "a..b", "a b"])
    elif kind == "missing_items":
        return {"type": "record", "name": "Wrap", "fields": [{"name": "a", "type": s},
                                                              {"name": "b", "type": {"type": "array"}}]}
    elif kind == "bad_default":
        bad = rng.choice([
            ("int", "1"), ("int", 2 ** 31), ("long", 1.5), ("string", 3), ("boolean", None), ("null", 0),
            (["null", "int"], 3), (["string", "null"], None), ({"type": "array", "items": "int"}, ["x"]),
            ({"type": "map", "values": "long"}, {"k": "v"}), ("bytes", "\u0100"), ("float", "fast"),
            ({"type": "enum", "name": "BadE", "symbols": ["A"]}, "B"),
            ({"type": "fixed", "name": "BadF", "size": 2}, "abc"),
            ({"type": "record", "name": "BadR", "fields": [{"name": "x", "type": "int"}]}, {}),
        ])
        return {"type": "record", "name": "Wrap", "fields": [{"name": "a", "type": s},
                                                              {"name": "b", "type": bad[0], "default": bad[1]}]}
    elif kind == "dup_named_branch":
        return {"type": "record", "name": "Wrap", "fields": [
            {"name": "a", "type": s},
            {"name": "b", "type": [{"type": "fixed", "name": "Twice", "size": 1}, "Twice"]}]}
    elif kind == "bad_field_name":
        return {"type": "record", "name": "Wrap", "fields": [
            {"name": "a", "type": s}, {"name": rng.choice(["b-c", "1b", "b c"]), "type": "int"}]}
    elif kind == "huge_size":
        return {"type": "record", "name": "Wrap", "fields": [
            {"name": "a", "type": s}, {"name": "b", "type": {"type": "fixed", "name": "Huge", "size": 2 ** 31}}]}
    elif kind == "bad_alias":
        return {"type": "record", "name": "Wrap", "aliases": ["not valid"], "fields": [{"name": "a", "type": s}]}
    else:
        return None
    return s


def gen_fullname(root, target):
    """Fullname of named node target inside root (recomputed by walking namespaces)."""
    def rec(s, ns):
        if isinstance(s, list):
            for b in s:
                r = rec(b, ns)
                if r:
                    return r
            return None
        if not isinstance(s, dict):
            return None
        t = s.get("type")
        new_ns = ns
        if t in ("record", "enum", "fixed", "error"):
            name = s["name"]
            if "." in name:
                new_ns, short = name.rsplit(".", 1)
            else:
                short = name
                new_ns = s.get("namespace", ns) or None
            if s is target:
                return (new_ns + "." + short) if new_ns else short
        if t in ("record", "error"):
            for f in s.get("fields", []):
                r = rec(f["type"], new_ns)
                if r:
                    return r
        elif t == "array":
            return rec(s["items"], ns)
        elif t == "map":
            return rec(s["values"], ns)
        return None
    return rec(root, None)


def normalise(canon_text):
    """Python's canonical form with its known bugs undone (see the module docstring)."""
    seen = set()

    def fix(v):
        if isinstance(v, list):
            return [fix(x) for x in v]
        if isinstance(v, dict):
            if set(v) == {"type"} and v["type"] in PRIMS:
                return v["type"]
            if "name" in v and v.get("type") in ("record", "enum", "fixed", "error"):
                if v["name"] in seen:
                    return v["name"]
                seen.add(v["name"])
            out = {}
            for k, x in v.items():
                if k == "type" and x == "error":
                    x = "record"
                out[k] = fix(x) if k in ("type", "fields", "items", "values") else x
            return out
        return v
    return json.dumps(fix(json.loads(canon_text)), separators=(",", ":"), ensure_ascii=False)


def python_verdict(text):
    try:
        return True, avro.schema.parse(text)
    except Exception as e:  # python avro raises several kinds (and TypeError on some inputs)
        return False, e


def main():
    seed = int(os.environ.get("PB_ORACLE_SEED", "20240601"))
    count = int(os.environ.get("PB_ORACLE_COUNT", "400"))
    build = os.environ.get("PB_BUILD", "build/release")
    harness = os.path.join(build, "tests", "unit", "run_schema_cases")
    if not os.access(harness, os.X_OK):
        print("1..0 # SKIP %s not built" % harness)
        return 0
    rng = random.Random(seed)
    cases = []
    kinds = list(MUTATIONS)
    while len(cases) < count:
        gen = Gen(rng)
        s = gen.schema(0, None)
        if rng.random() < 0.45:
            cases.append((s, None))
            continue
        kind = rng.choice(kinds)
        m = mutate(gen, s, kind)
        if m is not None:
            cases.append((m, kind))
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
        for s, _ in cases:
            f.write(json.dumps(s) + "\n")
        batch_path = f.name
    try:
        out = subprocess.run([harness, "--batch", batch_path], capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(batch_path)
    lines = out.stdout.split("\n")
    print("1..%d" % len(cases))
    failed = 0
    gaps = {}
    for i, (s, kind) in enumerate(cases):
        text = json.dumps(s)
        ours = lines[i] if i < len(lines) else "(no output)"
        ours_ok = ours.startswith("ok ")
        py_ok, py = python_verdict(text)
        problems = []
        label = kind or "valid"
        if kind is None:
            if not ours_ok:
                problems.append("we reject a valid schema: " + ours)
            if not py_ok:
                problems.append("python rejects a schema the generator thinks valid: %s" % py)
            if ours_ok and py_ok:
                _, fp, rest = ours.split(" ", 2)
                canon, stored = rest.split("\t", 1)
                want = normalise(py.canonical_form)
                if canon != want:
                    problems.append("canonical form differs\n#   ours:   %s\n#   python: %s" % (canon, want))
                # what we store and serve (to_json) must read the same in python avro
                st_ok, st = python_verdict(stored)
                if not st_ok:
                    problems.append("python rejects our to_json: %s\n#   %s" % (st, stored))
                elif normalise(st.canonical_form) != want:
                    problems.append("our to_json reads differently in python: %s" % normalise(st.canonical_form))
                if fp != hex64(canon.encode("utf-8")):
                    problems.append("fingerprint %s, CRC-64-AVRO of our canonical form is %s" %
                                    (fp, hex64(canon.encode("utf-8"))))
        else:
            if ours_ok:
                problems.append("we accept a schema with mutation %s" % kind)
            if MUTATIONS[kind] and py_ok:
                problems.append("python accepts mutation %s (generator expectation wrong?)" % kind)
            if not MUTATIONS[kind] and py_ok:
                gaps[kind] = gaps.get(kind, 0) + 1
        if problems:
            failed += 1
            print("not ok %d - %s" % (i + 1, label))
            print("#   schema: %s" % text[:2000])
            for p in problems:
                print("#   " + p)
        else:
            print("ok %d - %s" % (i + 1, label))
    for kind, n in sorted(gaps.items()):
        print("# known python 1.11.1 gap: accepted %d schema(s) with %s (Java and we reject)" % (n, kind))
    print("# seed %d, %d schemas, %d failed" % (seed, len(cases), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
