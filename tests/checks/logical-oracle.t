#!/usr/bin/python3
# logical-oracle.t — natural JSON for Avro logical types (DESIGN.md §5a) against Debian's
# python3-avro 1.11.1's own logical-type conversion, both ways, on random values. Prints TAP. Run
# from the repo root with PB_BUILD=build/<variant> (PB_BIN overrides the binary);
# LOGICAL_ORACLE_SEED and LOGICAL_ORACLE_N override the defaults.
#
# Per logical type (decimal on bytes and fixed, scale 0 to 18, up to 38 digits, negative; timestamps
# in millis and micros from year 1 to 9999; dates; times in millis and micros; uuids), N values:
#   decode: python3-avro writes the value (Decimal, datetime, date, time, str) to Avro binary; our
#           `portbroker schema resolve --input hex --encoding json` prints natural JSON, which
#           parses (Decimal, datetime.fromisoformat, ...) back to the same value;
#   encode: the value as people write it (plain or exponent decimals, RFC 3339 with offsets) goes
#           through `--input json --output hex`; python3-avro reads those bytes to the same value.
import datetime as dt
import decimal
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import uuid

import avro.io
import avro.schema

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "py"))
from tap import failed, ok  # noqa: E402 (after the path)

decimal.getcontext().prec = 80
SEED = int(os.environ.get("LOGICAL_ORACLE_SEED", "1205"))
N = int(os.environ.get("LOGICAL_ORACLE_N", "300"))
rnd = random.Random(SEED)
BIN = os.environ.get("PB_BIN") or os.path.join(os.environ.get("PB_BUILD", "build/release"), "portbroker")
UTC = dt.timezone.utc
def write(schema, v):
    buf = io.BytesIO()
    avro.io.DatumWriter(schema).write(v, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def read(schema, b):
    return avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(io.BytesIO(b)))


def resolve(schema_json, lines, args):
    with tempfile.NamedTemporaryFile("w", suffix=".avsc", delete=False) as f:
        f.write(schema_json)
        path = f.name
    try:
        r = subprocess.run([BIN, "schema", "resolve", "--writer", path, "--reader", path, "--encoding", "json"] + args,
                           input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(path)
    return r.returncode, r.stdout.split("\n")[:len(lines)], r.stderr


def rand_ts(unit):
    lo = int(dt.datetime(1, 1, 1, tzinfo=UTC).timestamp())
    hi = int(dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp())
    pick = rnd.random()
    secs = rnd.randint(-86400 * 3, 86400 * 3) if pick < 0.2 else rnd.randint(lo, hi)  # around 1970 too
    sub = rnd.randrange(1000) * 1000 if unit == "millis" else rnd.randrange(1000000)
    return dt.datetime.fromtimestamp(secs, UTC).replace(microsecond=sub)


def rfc3339(v):
    # as people write it: an offset other than Z half the time (the same instant)
    if rnd.random() < 0.5:
        return v.isoformat().replace("+00:00", "Z")
    off = dt.timedelta(minutes=rnd.choice([-600, -330, -60, 60, 330, 840]))
    try:
        return v.astimezone(dt.timezone(off)).isoformat()
    except OverflowError:
        return v.isoformat().replace("+00:00", "Z")


def rand_dec(prec, scale):
    digits = rnd.randint(1, prec)
    n = rnd.randint(0, 10 ** digits - 1) * rnd.choice([1, -1])
    return decimal.Decimal(n).scaleb(-scale)


def dec_text(v):
    r = rnd.random()
    if r < 0.6:
        return json.dumps(format(v, "f"))       # "12.50"
    if r < 0.8:
        return format(v, "f")                    # a JSON number, exactly as written
    return json.dumps(format(v, "E"))            # "1.250E+1": exponent form


def parse_natural(kind, text):
    j = json.loads(text)
    if kind == "decimal":
        return decimal.Decimal(j)
    if kind in ("timestamp-millis", "timestamp-micros"):
        return dt.datetime.fromisoformat(j.replace("Z", "+00:00")).astimezone(UTC)
    if kind == "date":
        return dt.date.fromisoformat(j)
    if kind in ("time-millis", "time-micros"):
        return dt.time.fromisoformat(j)
    return j


CASES = []
for prec, scale in [(4, 2), (9, 0), (18, 6), (38, 18), (20, 20)]:
    CASES.append(("decimal", {"type": "bytes", "logicalType": "decimal", "precision": prec, "scale": scale},
                  lambda p=prec, s=scale: rand_dec(p, s), dec_text))
CASES.append(("decimal", {"type": "fixed", "name": "D16", "size": 16, "logicalType": "decimal", "precision": 38,
                          "scale": 4}, lambda: rand_dec(38, 4), dec_text))
for unit in ("millis", "micros"):
    CASES.append(("timestamp-" + unit, {"type": "long", "logicalType": "timestamp-" + unit},
                  lambda u=unit: rand_ts(u), lambda v: json.dumps(rfc3339(v))))
CASES.append(("date", {"type": "int", "logicalType": "date"},
              lambda: dt.date.fromordinal(rnd.randint(1, dt.date(9999, 12, 31).toordinal())),
              lambda v: json.dumps(v.isoformat())))
CASES.append(("time-millis", {"type": "int", "logicalType": "time-millis"},
              lambda: dt.time(rnd.randrange(24), rnd.randrange(60), rnd.randrange(60), rnd.randrange(1000) * 1000),
              lambda v: json.dumps(v.isoformat(timespec="milliseconds"))))
CASES.append(("time-micros", {"type": "long", "logicalType": "time-micros"},
              lambda: dt.time(rnd.randrange(24), rnd.randrange(60), rnd.randrange(60), rnd.randrange(1000000)),
              lambda v: json.dumps(v.isoformat(timespec="microseconds"))))
CASES.append(("uuid", {"type": "string", "logicalType": "uuid"},
              lambda: str(uuid.UUID(int=rnd.getrandbits(128))), lambda v: json.dumps(v)))

print("1..%d" % (2 * len(CASES)))
for kind, sj, gen, text_of in CASES:
    stext = json.dumps(sj)
    schema = avro.schema.parse(stext)
    vals = [gen() for _ in range(N)]
    label = "%s %s" % (kind, stext)
    # decode: python3-avro's bytes -> our natural JSON -> the same value
    rc, out, err = resolve(stext, [write(schema, v).hex() for v in vals], ["--input", "hex", "--output", "json"])
    bad = []
    for v, line in zip(vals, out):
        try:
            got = parse_natural(kind, line)
        except Exception as e:  # noqa: BLE001 (any parse failure is a mismatch)
            got = "unparsable %r (%s)" % (line, e)
        if got != v:
            bad.append("%r -> %s" % (v, line))
    ok(rc == 0 and not bad and len(out) == N,
       "decode %d python3-avro values as natural JSON: %s" % (N, label),
       "exit %d %s\n%s" % (rc, err.strip()[:300], "\n".join(bad[:5])))
    # encode: natural JSON as people write it -> our bytes -> python3-avro reads the same value
    texts = [text_of(v) for v in vals]
    rc, out, err = resolve(stext, texts, ["--input", "json", "--output", "hex"])
    bad = []
    for v, t, line in zip(vals, texts, out):
        try:
            got = read(schema, bytes.fromhex(line))
        except Exception as e:  # noqa: BLE001
            got = "unreadable %r (%s)" % (line, e)
        if got != v:
            bad.append("%s -> %s -> %r, want %r" % (t, line, got, v))
    ok(rc == 0 and not bad and len(out) == N,
       "encode %d natural JSON values, read back by python3-avro: %s" % (N, label),
       "exit %d %s\n%s" % (rc, err.strip()[:300], "\n".join(bad[:5])))
sys.exit(1 if failed() else 0)
