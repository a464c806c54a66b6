#!/usr/bin/python3
"""systemd's side of sd_notify for 0095-sd-notify.t: binds an AF_UNIX datagram socket (a path, or
'@name' for an abstract one) and writes one JSON line per datagram received to OUT, flushed:
{"t": seconds since start, "msg": {KEY: VALUE...}, "readyz": HTTP status of URL/readyz fetched the
moment a READY=1 arrives (URL read from PORTFILE; null otherwise)}. Runs until killed."""
import json, socket, sys, time, urllib.request, urllib.error

addr, out, portfile = sys.argv[1], sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
t0 = time.monotonic()
with open(out, "a") as f:
    print(json.dumps({"t": 0, "msg": {"BOUND": "1"}, "readyz": None}), file=f, flush=True)
    while True:
        data = s.recv(4096).decode()
        msg = dict(l.split("=", 1) for l in data.split("\n") if "=" in l)
        readyz = None
        if msg.get("READY") == "1":
            try:
                port = open(portfile).read().strip()
                readyz = urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2).status
            except urllib.error.HTTPError as e:
                readyz = e.code
            except Exception as e:
                readyz = str(e)
        print(json.dumps({"t": round(time.monotonic() - t0, 3), "msg": msg, "raw": data, "readyz": readyz}), file=f, flush=True)
