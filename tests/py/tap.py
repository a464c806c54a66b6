"""TAP output for the Python test clients in this folder: ok(cond, name, diag) prints one test
point (diagnostics after a failure); failed() counts the failures for the exit status.
TAP_START=k in the environment numbers the points from k+1 (the calling .t prints the plan and
runs several clients one after another); started() says whether it was given."""
import os

_n = int(os.environ.get("TAP_START", "0"))
_started = "TAP_START" in os.environ and _n > 0
_failed = 0


def ok(cond, name, diag=""):
    global _n, _failed
    _n += 1
    print(("ok" if cond else "not ok"), _n, "-", name)
    if not cond:
        _failed += 1
        for line in str(diag).splitlines():
            print("#  ", line)


def started():
    return _started


def failed():
    return _failed
