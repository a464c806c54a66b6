"""TAP output for the Python test clients in this folder: ok(cond, name, diag) prints one test
point (diagnostics after a failure); failed() counts the failures for the exit status."""

_n = 0
_failed = 0


def ok(cond, name, diag=""):
    global _n, _failed
    _n += 1
    print(("ok" if cond else "not ok"), _n, "-", name)
    if not cond:
        _failed += 1
        for line in str(diag).splitlines():
            print("#  ", line)


def failed():
    return _failed
