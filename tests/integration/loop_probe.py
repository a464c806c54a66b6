#!/usr/bin/env python3
"""Loop responsiveness probe (issue #15): GET URL/healthz (every 10th request GET /metrics) one
after another, each on a new connection (http.client, 15 s timeout so a stalled loop is measured,
not dropped), until STOPFILE exists or MAXSECONDS pass. One line per request to OUT:
"<path> <status> <milliseconds>". Used by 0035 and bench/bench_loop.sh.

usage: loop_probe.py URL OUT STOPFILE [MAXSECONDS]
"""
import http.client
import os
import sys
import time
import urllib.parse


def main():
    url, out, stop = sys.argv[1], sys.argv[2], sys.argv[3]
    limit = float(sys.argv[4]) if len(sys.argv) > 4 else 300.0
    u = urllib.parse.urlparse(url)
    end = time.monotonic() + limit
    n = 0
    with open(out, "w", buffering=1) as f:
        while not os.path.exists(stop) and time.monotonic() < end:
            path = "/metrics" if n % 10 == 9 else "/healthz"
            t0 = time.monotonic()
            status = 0
            try:
                c = http.client.HTTPConnection(u.hostname, u.port, timeout=15)
                c.request("GET", path)
                r = c.getresponse()
                r.read()
                status = r.status
                c.close()
            except OSError:
                status = 0
            ms = (time.monotonic() - t0) * 1000.0
            f.write("%s %d %.2f\n" % (path, status, ms))
            n += 1
            time.sleep(0.005)


if __name__ == "__main__":
    main()
