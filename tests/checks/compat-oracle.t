#!/usr/bin/python3
# Oracle property test for broker/avro/compat.c: thousands of seeded random (reader, writer) schema
# pairs, each judged by Debian's python3-avro 1.11.1 (avro.compatibility, a port of Java's
# SchemaCompatibility) and by our checker (build/<variant>/tests/unit/run_compat_cases --batch,
# all pairs in one process); the verdicts must agree. Prints TAP. Run from the repo root with
# PB_BUILD=build/<variant>. Knobs: PB_ORACLE_SEED, PB_ORACLE_PAIRS (default 10000).
#
# Pairs are mostly a random base schema and a mutant of it (1-3 mutations: add/remove fields with
# or without defaults, type changes along and against the promotion lines, enum symbols and
# defaults, union branches added/removed/wrapped/unwrapped, named types renamed with or without a
# reader alias, namespaces changed, fields renamed with or without an alias, fixed sizes, array vs
# map, recursion), in both directions, plus pairs of two mutants of one base.
#
# Where python avro 1.11.1 is known to differ from Java, the generator stays out of that class on
# purpose (each is covered against Java's behaviour in tests/data/compat/*.test instead):
#  1. Dotted names. python compares the "name" attribute as written, so "a.R" vs "R" in namespace
#     a, or "a.R" vs "b.R", differ there; Java compares unqualified names (both R). The generator
#     never writes a dotted name; namespaces come only from the "namespace" attribute.
#  2. Unqualified aliases in a namespace. python compares the alias strings as written with the
#     writer's full name; Java first qualifies them with the reader's namespace. The generator
#     writes every alias fully qualified.
#  3. "namespace": "". python treats it as absent (inherits the enclosing namespace), Java as the
#     null namespace. The generator never writes an empty namespace.
#  4. "error" types. python keeps type "error" apart from "record" and raises on error vs error;
#     Java treats both as RECORD. The generator writes only "record".
#  5. The same named type twice in a union ([R-definition, "long", "R"]). python 1.11.1 accepts it;
#     Java (and our parser) reject it. Not a compatibility question: the generator never does it.
# Also known but harmless for verdicts: for a reader field missing from the writer, without a
# default, whose type is an enum with a default, Java and python report TYPE_MISMATCH where we
# report READER_FIELD_MISSING_DEFAULT_VALUE (both incompatible); kinds are compared with that one
# substitution allowed. A reader field matching one writer field by name and another by alias:
# Java throws, python and we take the field of the same name.
import copy
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter

warnings.simplefilter("ignore")  # python avro warns about ignored logical types

import avro.schema  # noqa: E402
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType  # noqa: E402

SEED = int(os.environ.get("PB_ORACLE_SEED", "20240611"))
N_PAIRS = int(os.environ.get("PB_ORACLE_PAIRS", "10000"))
BUILD = os.environ.get("PB_BUILD", "build/release")
HARNESS = os.path.join(BUILD, "tests/unit/run_compat_cases")

rng = random.Random(SEED)
PRIMS = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]
PROMOTE = {"int": ["long", "float", "double"], "long": ["float", "double"], "float": ["double"],
           "string": ["bytes"], "bytes": ["string"]}
NAMESPACES = ["com.acme", "org.x", "ns"]
LOGICAL = [{"type": "long", "logicalType": "timestamp-millis"},
           {"type": "int", "logicalType": "date"},
           {"type": "string", "logicalType": "uuid"}]
NAMED = ("record", "enum", "fixed")

name_counter = [0]


def fresh(prefix="T"):
    name_counter[0] += 1
    return f"{prefix}{name_counter[0]}"


def fullname(d):
    return f"{d['namespace']}.{d['name']}" if d.get("namespace") else d["name"]


def kind(t):
    """Type kind of a JSON schema node: primitive name, 'ref', or the complex type."""
    if isinstance(t, list):
        return "union"
    if isinstance(t, str):
        return t if t in PRIMS else "ref"
    return t["type"]


class Gen:
    """Builds one random schema. ns_mode: every named type has an explicit namespace (so no
    definition inherits one and renames never move nested types); else no namespaces at all."""

    def __init__(self, ns_mode):
        self.ns_mode = ns_mode
        self.defs = []  # fullnames defined so far (for references)
        self.open_records = []  # records being defined (for recursive references)

    def named(self, typ):
        d = {"type": typ, "name": fresh({"record": "R", "enum": "E", "fixed": "F"}[typ])}
        if self.ns_mode:
            d["namespace"] = rng.choice(NAMESPACES)
        return d

    def type(self, depth):
        r = rng.random()
        if depth >= 3 or r < 0.40:
            if rng.random() < 0.08:
                return copy.deepcopy(rng.choice(LOGICAL))
            return rng.choice(PRIMS[1:] if rng.random() < 0.9 else PRIMS)
        if r < 0.55:
            return self.record(depth + 1)
        if r < 0.65:
            return self.enum()
        if r < 0.69:
            return self.fixed()
        if r < 0.77:
            return {"type": "array", "items": self.type(depth + 1)}
        if r < 0.84:
            return {"type": "map", "values": self.type(depth + 1)}
        if r < 0.95:
            return self.union(depth + 1)
        if self.open_records and rng.random() < 0.6:  # recursion, through a union or a collection
            ref = rng.choice(self.open_records)
            return rng.choice([["null", ref], {"type": "array", "items": ref},
                               {"type": "map", "values": ref}])
        if self.defs:
            return rng.choice(self.defs)
        return rng.choice(PRIMS)

    def record(self, depth):
        d = self.named("record")
        fn = fullname(d)
        self.open_records.append(fn)
        d["fields"] = []
        for i in range(rng.randint(1, 4)):
            f = {"name": f"f{i}", "type": self.type(depth)}
            if rng.random() < 0.3:
                f["default"] = None  # placeholder, made valid by fix_defaults
            d["fields"].append(f)
        self.open_records.pop()
        self.defs.append(fn)
        return d

    def enum(self):
        d = self.named("enum")
        d["symbols"] = [f"S{i}" for i in range(rng.randint(1, 4))]
        if rng.random() < 0.25:
            d["default"] = rng.choice(d["symbols"])
        self.defs.append(fullname(d))
        return d

    def fixed(self):
        d = self.named("fixed")
        d["size"] = rng.choice([1, 2, 4, 8, 16])
        self.defs.append(fullname(d))
        return d

    def union(self, depth):
        branches, kinds = [], set()
        for _ in range(rng.randint(1, 3)):
            t = rng.choice(PRIMS) if rng.random() < 0.7 else self.type(depth)
            k = kind(t)
            # one branch per unnamed type and per named type (see note 5 above)
            key = fullname(t) if k in NAMED else t if k == "ref" else k
            if k == "union" or key in kinds:
                continue
            kinds.add(key)
            branches.append(t)
        if not branches:
            branches = ["null"]
        if rng.random() < 0.5 and "null" not in branches:
            branches.insert(0, "null")
        return branches


# ---- walking a schema -----------------------------------------------------------------------

def positions(holder):
    """Every place a type sits: (container, key) pairs, plus the definitions by full name."""
    out, defs = [], {}

    def walk(container, key):
        t = container[key]
        out.append((container, key))
        if isinstance(t, list):
            for i in range(len(t)):
                walk(t, i)
        elif isinstance(t, dict):
            k = t["type"]
            if k in NAMED:
                defs[fullname(t)] = t
            if k == "record":
                for f in t["fields"]:
                    walk(f, "type")
            elif k == "array":
                walk(t, "items")
            elif k == "map":
                walk(t, "values")

    walk(holder, "t")
    return out, defs


def replace_refs(holder, old, new):
    for c, k in positions(holder)[0]:
        if c[k] == old:
            c[k] = new


class NoDefault(Exception):
    pass


def default_for(t, defs, seen=()):
    k = kind(t)
    if k == "ref":
        return default_for(defs[t], defs, seen)
    if k == "union":
        return default_for(t[0], defs, seen)
    if isinstance(t, dict) and k in PRIMS:
        return default_for(k, defs, seen)
    return {
        "null": lambda: None, "boolean": lambda: True, "int": lambda: 7, "long": lambda: 7,
        "float": lambda: 1.5, "double": lambda: 2.5, "bytes": lambda: "ab", "string": lambda: "s",
        "enum": lambda: t["symbols"][0], "fixed": lambda: "x" * t["size"],
        "array": lambda: [], "map": lambda: {},
        "record": lambda: record_default(t, defs, seen),
    }[k]()


def record_default(t, defs, seen):
    fn = fullname(t)
    if fn in seen:
        raise NoDefault(fn)
    return {f["name"]: default_for(f["type"], defs, seen + (fn,)) for f in t["fields"]}


def fix_defaults(holder):
    """Make every field default valid for its (possibly mutated) type."""
    pos, defs = positions(holder)
    for c, k in pos:
        t = c[k]
        if isinstance(t, dict) and t["type"] == "record":
            for f in t["fields"]:
                if "default" in f:
                    f["default"] = default_for(f["type"], defs)
        if isinstance(t, dict) and t["type"] == "enum" and "default" in t:
            if t["default"] not in t["symbols"]:
                t["default"] = t["symbols"][0]


# ---- mutations ------------------------------------------------------------------------------

def pick(pos, pred):
    c = [(c, k) for c, k in pos if pred(c[k])]
    return rng.choice(c) if c else None


def m_add_field(h, pos, defs, g):
    recs = [d for d in defs.values() if d["type"] == "record"]
    if not recs:
        return None
    r = rng.choice(recs)
    f = {"name": fresh("n"), "type": g.type(2)}
    wd = rng.random() < 0.5
    if wd:
        f["default"] = None
    r["fields"].insert(rng.randint(0, len(r["fields"])), f)
    return "add_field_default" if wd else "add_field_nodefault"


def m_remove_field(h, pos, defs, g):
    recs = [d for d in defs.values() if d["type"] == "record" and d["fields"]]
    if not recs:
        return None
    r = rng.choice(recs)
    r["fields"].pop(rng.randrange(len(r["fields"])))
    return "remove_field"


def m_toggle_default(h, pos, defs, g):
    fs = [f for d in defs.values() if d["type"] == "record" for f in d["fields"]]
    if not fs:
        return None
    f = rng.choice(fs)
    if "default" in f:
        del f["default"]
        return "drop_default"
    f["default"] = None
    return "add_default"


def m_promote(h, pos, defs, g):
    p = pick(pos, lambda t: isinstance(t, str) and t in PROMOTE)
    if not p:
        return None
    c, k = p
    c[k] = rng.choice(PROMOTE[c[k]])
    return "promote"


def m_retype(h, pos, defs, g):
    p = pick(pos, lambda t: not (isinstance(t, dict) and t["type"] in NAMED))
    if not p or p[0] is h:
        return None
    c, k = p
    if isinstance(c, list):  # keep unions legal: a new primitive not already there
        have = {kind(x) for x in c}
        choices = [x for x in PRIMS if x not in have]
        if not choices:
            return None
        c[k] = rng.choice(choices)
    else:
        c[k] = rng.choice(PRIMS) if rng.random() < 0.7 else g.type(2)
    return "retype"


def m_enum(h, pos, defs, g):
    es = [d for d in defs.values() if d["type"] == "enum"]
    if not es:
        return None
    e = rng.choice(es)
    op = rng.choice(["add", "remove", "default"])
    if op == "add":
        e["symbols"].insert(rng.randint(0, len(e["symbols"])), fresh("X"))
        return "enum_add_symbol"
    if op == "remove" and len(e["symbols"]) > 1:
        e["symbols"].pop(rng.randrange(len(e["symbols"])))
        return "enum_remove_symbol"
    if "default" in e:
        del e["default"]
        return "enum_drop_default"
    e["default"] = rng.choice(e["symbols"])
    return "enum_add_default"


def m_union(h, pos, defs, g):
    op = rng.choice(["add", "remove", "wrap", "unwrap"])
    if op in ("add", "remove", "unwrap"):
        p = pick(pos, lambda t: isinstance(t, list))
        if not p:
            op = "wrap"
    if op == "add":
        u = p[0][p[1]]
        have = {kind(x) for x in u}
        choices = [x for x in PRIMS if x not in have]
        if not choices:
            return None
        u.insert(rng.randint(0, len(u)), rng.choice(choices))
        return "union_add_branch"
    if op == "remove":
        u = p[0][p[1]]
        if len(u) < 2:
            return None
        u.pop(rng.randrange(len(u)))
        return "union_remove_branch"
    if op == "unwrap":
        c, k = p
        u = c[k]
        if isinstance(c, list):
            return None
        c[k] = rng.choice(u)
        return "union_unwrap"
    p = pick(pos, lambda t: not isinstance(t, list))
    if not p or isinstance(p[0], list):
        return None
    c, k = p
    t = c[k]
    other = rng.choice([x for x in PRIMS if x != kind(t)])
    c[k] = [other, t] if rng.random() < 0.5 else [t, other]
    return "union_wrap"


def m_rename_type(h, pos, defs, g):
    if not defs:
        return None
    d = rng.choice(list(defs.values()))
    old = fullname(d)
    what = rng.choice(["name", "namespace"]) if g.ns_mode else "name"
    if what == "name":
        d["name"] = fresh(d["name"][0])
    else:
        d["namespace"] = rng.choice([n for n in NAMESPACES if n != d["namespace"]])
    new = fullname(d)
    replace_refs(h, old, new)
    alias = rng.random() < 0.5
    if alias:
        d["aliases"] = d.get("aliases", []) + [old]  # fully qualified (see exclusion 2)
    return f"rename_{what}{'_alias' if alias else ''}"


def m_rename_field(h, pos, defs, g):
    fs = [f for d in defs.values() if d["type"] == "record" for f in d["fields"]]
    if not fs:
        return None
    f = rng.choice(fs)
    old = f["name"]
    f["name"] = fresh("r")
    alias = rng.random() < 0.5
    if alias:
        f["aliases"] = f.get("aliases", []) + [old]
    return "rename_field_alias" if alias else "rename_field"


def m_fixed(h, pos, defs, g):
    fx = [d for d in defs.values() if d["type"] == "fixed"]
    if not fx:
        return None
    d = rng.choice(fx)
    d["size"] = rng.choice([s for s in (1, 2, 4, 8, 16, 32) if s != d["size"]])
    return "fixed_size"


def m_collection(h, pos, defs, g):
    p = pick(pos, lambda t: isinstance(t, dict) and t["type"] in ("array", "map"))
    if not p:
        return None
    c, k = p
    t = c[k]
    if rng.random() < 0.5:
        c[k] = ({"type": "map", "values": t["items"]} if t["type"] == "array"
                else {"type": "array", "items": t["values"]})
        return "array_map_swap"
    key = "items" if t["type"] == "array" else "values"
    if isinstance(t[key], str) and t[key] in PROMOTE:
        t[key] = rng.choice(PROMOTE[t[key]])
        return "collection_promote"
    return None


def m_recursion(h, pos, defs, g):
    recs = [d for d in defs.values() if d["type"] == "record"]
    if not recs:
        return None
    r = rng.choice(recs)
    ref = fullname(r)
    r["fields"].append({"name": fresh("rec"), "type": rng.choice(
        [["null", ref], {"type": "array", "items": ref}, {"type": "map", "values": ref}])})
    return "add_recursion"


MUTATIONS = [m_add_field, m_add_field, m_remove_field, m_toggle_default, m_promote, m_promote,
             m_retype, m_enum, m_enum, m_union, m_union, m_rename_type, m_rename_field, m_fixed,
             m_collection, m_recursion]


def mutate(base, g):
    for _ in range(20):
        h = {"t": copy.deepcopy(base)}
        applied = []
        for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
            pos, defs = positions(h)
            m = rng.choice(MUTATIONS)(h, *(pos, defs, g))
            if m:
                applied.append(m)
        if not applied:
            continue
        try:
            fix_defaults(h)
            py_parse(h["t"])
        except Exception:
            continue
        return h["t"], applied
    return None, []


def py_parse(s):
    return avro.schema.parse(json.dumps(s))


def base_schema():
    for _ in range(50):
        g = Gen(ns_mode=rng.random() < 0.4)
        root = g.record(0) if rng.random() < 0.85 else g.type(0)
        h = {"t": root}
        try:
            fix_defaults(h)
            py_parse(h["t"])
        except Exception:
            continue
        return h["t"], g
    raise RuntimeError("cannot generate a base schema")


def main():
    t0 = time.time()
    pairs = []  # (reader, writer, mutations)
    while len(pairs) < N_PAIRS:
        base, g = base_schema()
        m1, ops1 = mutate(base, g)
        if m1 is None:
            continue
        r = rng.random()
        if r < 0.45:
            pairs.append((m1, base, ops1))
        elif r < 0.9:
            pairs.append((base, m1, ops1))
        else:
            m2, ops2 = mutate(base, g)
            if m2 is None:
                continue
            pairs.append((m1, m2, ops1 + ops2))

    # python avro's verdicts
    py = []
    py_errors = 0
    for reader, writer, _ in pairs:
        try:
            res = ReaderWriterCompatibilityChecker().get_compatibility(py_parse(reader), py_parse(writer))
            py.append((res.compatibility is SchemaCompatibilityType.compatible,
                       sorted(t.name.upper() for t in res.incompatibilities)))
        except Exception as e:  # noqa: BLE001
            py.append(None)
            py_errors += 1
            if py_errors <= 3:
                print(f"# python avro raised {type(e).__name__}: {e}")

    # ours, all pairs in one process
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for reader, writer, _ in pairs:
            f.write(json.dumps([reader, writer]) + "\n")
        path = f.name
    try:
        with open(path) as inp:
            proc = subprocess.run([HARNESS, "--batch"], stdin=inp, capture_output=True, text=True,
                                  timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        print("1..1")
        print(f"not ok 1 - run {HARNESS} --batch: {e}")
        return 1
    finally:
        os.unlink(path)
    ours = proc.stdout.splitlines()

    tests = []

    def check(ok, name, diags=()):
        tests.append((ok, name, list(diags)))

    check(proc.returncode == 0 and len(ours) == len(pairs),
          f"harness answered every pair ({len(ours)}/{len(pairs)}, exit {proc.returncode})",
          [proc.stderr[-2000:]] if proc.stderr else [])

    parse_bad, verdict_bad, kind_bad = [], [], []
    compared = n_compat = 0
    ops_seen = Counter()
    for i, (reader, writer, ops) in enumerate(pairs):
        if i >= len(ours) or py[i] is None:
            continue
        line = ours[i]
        if line.startswith("E "):
            parse_bad.append((i, line))
            continue
        fields = line.split()
        ours_ok, ours_kinds = fields[0] == "1", sorted(fields[1:])
        py_ok, py_kinds = py[i]
        compared += 1
        n_compat += py_ok
        for op in ops:
            ops_seen[op] += 1
        if ours_ok != py_ok:
            verdict_bad.append((i, ops, py_ok, py_kinds, line))
            continue
        if not py_ok and Counter(ours_kinds) != Counter(py_kinds):
            # The one allowed substitution: python/Java TYPE_MISMATCH for a missing enum-typed
            # field whose enum has a default, where we say READER_FIELD_MISSING_DEFAULT_VALUE.
            extra_ours = Counter(ours_kinds) - Counter(py_kinds)
            extra_py = Counter(py_kinds) - Counter(ours_kinds)
            if not (set(extra_ours) <= {"READER_FIELD_MISSING_DEFAULT_VALUE"}
                    and set(extra_py) <= {"TYPE_MISMATCH"}
                    and sum(extra_ours.values()) == sum(extra_py.values())):
                kind_bad.append((i, ops, py_kinds, ours_kinds))

    def show(i):
        return f"#   reader {json.dumps(pairs[i][0])}\n#   writer {json.dumps(pairs[i][1])}"

    check(not parse_bad, f"our parser accepts every schema python avro accepts ({len(parse_bad)} rejected)",
          [f"pair {i}: {msg}\n{show(i)}" for i, msg in parse_bad[:5]])
    check(py_errors == 0, f"python avro judged every pair ({py_errors} raised)")
    check(compared >= 2000, f"at least 2000 pairs compared ({compared}, seed {SEED})")
    check(not verdict_bad, f"verdicts agree with python avro on all {compared} pairs "
                           f"({len(verdict_bad)} disagree)",
          [f"pair {i} after {ops}: python {'compatible' if p else 'incompatible ' + str(pk)}, "
           f"ours: {o}\n{show(i)}" for i, ops, p, pk, o in verdict_bad[:10]])
    frac = n_compat / compared if compared else 0
    check(0.2 <= frac <= 0.8, f"both verdicts well represented ({n_compat} compatible, "
                              f"{compared - n_compat} incompatible)")
    check(not kind_bad, f"incompatibility kinds agree with python avro ({len(kind_bad)} differ)",
          [f"pair {i} after {ops}: python {pk}, ours {ok}\n{show(i)}" for i, ops, pk, ok in kind_bad[:5]])
    missing_ops = [m for m in ("add_field_default", "add_field_nodefault", "remove_field", "promote",
                               "retype", "enum_add_symbol", "enum_remove_symbol", "enum_add_default",
                               "union_add_branch", "union_remove_branch", "union_wrap", "union_unwrap",
                               "rename_name", "rename_name_alias", "rename_field_alias", "fixed_size",
                               "array_map_swap", "add_recursion") if ops_seen[m] < 20]
    check(not missing_ops, "every mutation class exercised at least 20 times",
          [f"rare: {missing_ops}"] if missing_ops else [])

    print(f"1..{len(tests)}")
    for n, (ok, name, diags) in enumerate(tests, 1):
        print(f"{'ok' if ok else 'not ok'} {n} - {name}")
        for d in diags:
            for ln in d.splitlines():
                print(ln if ln.startswith("#") else f"# {ln}")
    print(f"# {len(pairs)} pairs in {time.time() - t0:.1f}s; mutations: {dict(sorted(ops_seen.items()))}")
    return 0 if all(ok for ok, _, _ in tests) else 1


if __name__ == "__main__":
    sys.exit(main())
