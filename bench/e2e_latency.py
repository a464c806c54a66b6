#!/usr/bin/python3
"""End-to-end latency: HTTP publish -> route -> HTTP subscriber stream, over the example mesh on
the embedded cluster (one `portbroker serve` process).

A publisher POSTs batches to weather's output port (urn:...:weather:2:outputports:observations)
at a fixed rate; the router projects every record into tripExecution's input port `weather`; a
subscriber stream (GET .../inputports:weather/records, ndjson) reads them. Each record carries its
send time (ns, CLOCK_REALTIME) in `stationId`, which the reader schema keeps; the reader computes
arrival - send for every record. Prints e2e_p50_ms= and e2e_p99_ms= (after a warm-up), the
broker's CPU and the machine's own stalls over the run.

usage: e2e_latency.py [--rate 10000] [--seconds 10] [--batch 50] [--bin build/release/portbroker]
environment: E2E_ROUTER_FETCH_WAIT_MS (2), E2E_SUB_FETCH_WAIT_MS (1), E2E_LINGER_MS (1),
  E2E_LOG (broker log level), E2E_DEBUG=1 (lag and worst latency per second),
  E2E_TRACE=file (one line per record: partitions, offsets, send and arrival ns)
"""
import argparse
import array
import atexit
import gc
import http.client
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--rate", type=int, default=10000, help="records per second")
ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds (after warm-up)")
ap.add_argument("--warmup", type=float, default=2.0)
ap.add_argument("--batch", type=int, default=50, help="records per POST")
ap.add_argument("--threads", type=int, default=4, help="publishing connections")
ap.add_argument("--bin", default="build/release/portbroker")
ap.add_argument("-o", action="append", default=[], help="extra serve -o key=value")
args = ap.parse_args()
TRACE = os.environ.get("E2E_TRACE")  # file: one line per record for a per-stage breakdown

OUT = "urn:dpds:com.acme:dataproducts:weather:2:outputports:observations"
IN = "urn:dpds:com.acme:dataproducts:tripExecution:1:inputports:weather"
tmp = tempfile.mkdtemp(prefix="pbbench.")
port_file = os.path.join(tmp, "port")
cmd = [args.bin, "serve", "-o", "http.listen=127.0.0.1:0", "--port-file", port_file,
       "-o", "mesh.namespace=com.acme", "-o", "log.level=" + os.environ.get("E2E_LOG", "warn"),
       # Embedded cluster only: it holds a fetch that found nothing for the full
       # fetch.wait.max.ms, even when records arrive meanwhile (a real cluster answers as soon as
       # they do), and a record crosses two such fetches (router, stream). Short waits, so the
       # latency measured is the broker's own; they cost idle CPU (bench/README.md). The stream's
       # wait is shorter than the router's: with equal waits the two fetch cycles lock in phase
       # (the router's output lands just after the stream's empty fetch went out) and every
       # record waits nearly a whole stream wait. 2/1 (was 5/2): a record waits on average half
       # of each hold, so they are the largest stages at 10 k rec/s (publishes land every ~5 ms
       # per partition, so most fetches find nothing and are held); ~+8 % of a core idle.
       "-o", "router.fetch.wait.ms=" + os.environ.get("E2E_ROUTER_FETCH_WAIT_MS", "2"),
       "-o", "sub.fetch.wait.ms=" + os.environ.get("E2E_SUB_FETCH_WAIT_MS", "1"),
       # Latency tuning an operator with this goal would choose on any cluster: producers send
       # after 1 ms instead of the throughput-oriented defaults (publish 2 ms, router 5 ms).
       "-o", "publish.linger.ms=" + os.environ.get("E2E_LINGER_MS", "1"),
       "-o", "router.linger.ms=" + os.environ.get("E2E_LINGER_MS", "1")]
for kv in args.o:
    cmd += ["-o", kv]
log = open(os.path.join(tmp, "broker.log"), "w")
broker = subprocess.Popen(cmd, stdout=log, stderr=log)
# A driver that dies must not leave a broker behind to load the machine for everyone after.
atexit.register(lambda: broker.poll() is None and broker.kill())


def cpu_s(pid):
    """User + system CPU seconds of a process so far (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        st = f.read().rsplit(")", 1)[1].split()
    return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")


def fail(msg):
    print("e2e_latency: " + msg, file=sys.stderr)
    broker.kill()
    sys.exit(1)


deadline = time.time() + 30
while not (os.path.exists(port_file) and open(port_file).read().strip()):
    if time.time() > deadline or broker.poll() is not None:
        fail("broker did not start (log in %s)" % tmp)
    time.sleep(0.05)
port = int(open(port_file).read())
while True:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("GET", "/readyz")
        if c.getresponse().status == 200:
            break
    except OSError:
        pass
    if time.time() > deadline:
        fail("broker not ready")
    time.sleep(0.1)

# Send and arrival ns of every record, in a flat array: a list of tuples is what Python's cyclic
# garbage collector walks, and at 10 k rec/s its full collections over ~100 k tuples held the
# reader for 20-70 ms (records read in such a pause arrived "late": ~1 % of them, the whole p99
# margin). The collector is off while measuring, too (the driver makes no cycles).
lat = array.array("q")  # send ns, arrival ns, per record (one extend: atomic under the GIL)
raw = []  # (arrival_ns, chunk) with E2E_TRACE
stop = threading.Event()
joined = threading.Event()


def reader():
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(("GET /v1/ports/%s/records?batch=500 HTTP/1.1\r\nHost: bench\r\n\r\n" % IN).encode())
    f = s.makefile("rb")
    while f.readline() not in (b"\r\n", b""):  # headers
        pass
    joined.set()
    while not stop.is_set():
        size = f.readline()
        if not size:
            break
        n = int(size.strip(), 16)
        chunk = f.read(n)
        f.readline()
        now = time.time_ns()
        if TRACE:
            raw.append((now, chunk))
        # Cheap extraction (the driver must not be the bottleneck): "stationId":"t<ns>"
        pos = chunk.find(b'"stationId":"t')
        while pos >= 0:
            q = chunk.index(b'"', pos + 14)
            sent = int(chunk[pos + 14:q])
            lat.extend((sent, now))
            pos = chunk.find(b'"stationId":"t', q)
    s.close()


t = threading.Thread(target=reader, daemon=True)
t.start()
joined.wait(10)

path = "/v1/ports/%s/records" % OUT
start = time.time()
end = start + args.warmup + args.seconds


def publisher(k, results):
    """One keep-alive connection sending batches at rate/threads (replies come after Kafka acks,
    so several connections keep the rate while earlier batches are being acknowledged). Each runs
    in a process of its own: as threads of this process they would hold the reader thread off the
    GIL for up to the switch interval (5 ms), which showed as ~11 ms arrival delays at p99."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    sent = errors = 0
    interval = args.batch * args.threads / args.rate
    next_t = start + k * interval / args.threads
    while time.time() < end:
        d = next_t - time.time()
        if d > 0:
            time.sleep(d)
        next_t += interval
        now_ns = time.time_ns()
        body = template.replace("@T@", str(now_ns)).replace("@MS@", str(now_ns // 1000000))
        conn.request("POST", path, body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        if resp.status == 200:
            sent += args.batch
        else:
            errors += 1
    results.put((sent, errors))


def stall_watch(stop_at, out):
    """Sleeps 1 ms at a time and reports the wake-ups that came over 10 ms late: the machine's own
    stalls (CPU contention, the VM paused), which hit every stage and process alike."""
    stalls, last = [], time.monotonic()
    while last < stop_at:
        time.sleep(0.001)
        now = time.monotonic()
        if now - last > 0.011:
            stalls.append((now - last) * 1000)
        last = now
    out.put(stalls)


# One batch body, the send time substituted per POST (keys spread records over partitions).
template = json.dumps({"records": [{"key": "st%d" % j, "value": {
    "observationId": "00000000-0000-4000-8000-%012d" % j, "stationId": "t@T@", "observedAt": 0,
    "location": {"lat": 52.5, "lon": 13.4, "elevationM": None}, "temperatureC": 21.5,
    "humidityPct": None, "windSpeedKmh": 12.5, "condition": "CLEAR", "precipitationMm": None,
    "quality": {}}} for j in range(args.batch)]}).replace('"observedAt": 0', '"observedAt": @MS@')
# Wait until the pipeline flows (router and stream groups joined: ~3 s on the embedded cluster),
# so the measurement is not about the joins.
probe = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
ready_by = time.time() + 30
while not lat:
    if time.time() > ready_by:
        fail("no record reached the subscriber within 30 s (log in %s)" % tmp)
    probe.request("POST", path, template.replace("@T@", str(time.time_ns())).replace("@MS@", "0"),
                  {"Content-Type": "application/json"})
    probe.getresponse().read()
    time.sleep(0.3)
time.sleep(0.5)
del lat[:]
gc.collect()
gc.disable()
cpu_before = cpu_s(broker.pid)
start = time.time()
end = start + args.warmup + args.seconds
mp = multiprocessing.get_context("fork")
results = mp.Queue()
stall_q = mp.Queue()
watcher = mp.Process(target=stall_watch, args=(time.monotonic() + (end - start), stall_q))
watcher.start()
pubs = [mp.Process(target=publisher, args=(k, results)) for k in range(args.threads)]
for pr in pubs:
    pr.start()
sent = errors = 0
for _ in pubs:
    s_, e_ = results.get()
    sent, errors = sent + s_, errors + e_
for pr in pubs:
    pr.join()
stalls = stall_q.get()
watcher.join()
time.sleep(1.0)  # let the tail arrive
stop.set()
if os.environ.get("E2E_DEBUG"):
    for _ in range(3):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/v1/subscriptions/2/stats")
        st = json.loads(c.getresponse().read())
        print("lag route %s subscribers %s" % (st.get("route"), st.get("subscribers")), file=sys.stderr)
        time.sleep(1.5)
broker_cpu, cpu_wall = cpu_s(broker.pid) - cpu_before, time.time() - start
broker.terminate()
try:
    broker.wait(15)
except subprocess.TimeoutExpired:
    broker.kill()

measure_from = int((start + args.warmup) * 1e9)
xs = sorted((a - s) / 1e6 for s, a in zip(lat[0::2], lat[1::2]) if s >= measure_from)
elapsed = time.time() - start
if not xs:
    fail("no records reached the subscriber (sent %d, log in %s)" % (sent, tmp))
p = lambda q: xs[min(len(xs) - 1, int(q * len(xs)))]
print("published %d records in %.1f s (%d failed batches), target %d rec/s; measured %d records "
      "after a %.0f s warm-up" % (sent, elapsed, errors, args.rate, len(xs), args.warmup))
print("broker CPU %.2f s over the run (%.0f%% of one core)" % (broker_cpu, 100 * broker_cpu / cpu_wall))
print("machine stalls (a 1 ms sleep in another process waking over 10 ms late): %d, longest %.0f ms"
      % (len(stalls), max(stalls) if stalls else 0))
print("latency ms: p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f" %
      (p(0.5), p(0.9), p(0.99), p(0.999), xs[-1]))
if os.environ.get("E2E_DEBUG"):
    by_s = {}
    for s_, a_ in zip(lat[0::2], lat[1::2]):
        l_ = (a_ - s_) / 1e6
        k = int((s_ / 1e9 - start))
        by_s[k] = max(by_s.get(k, 0), l_)
    print("max latency by second since start: " + " ".join("%d:%.0f" % kv for kv in sorted(by_s.items())), file=sys.stderr)
    print("broker log: " + tmp, file=sys.stderr)
if TRACE:
    # dest partition, dest offset, origin partition, origin offset, send ns, arrival ns
    with open(TRACE, "w") as tf:
        tf.write("# measure_from %d\n" % measure_from)  # send ns from which records count
        for now, chunk in raw:
            for line in chunk.splitlines():
                if not line.strip():
                    continue
                r = json.loads(line)
                h = r["headers"]
                tf.write("%d %d %s %s %s %d\n" % (
                    r["partition"], r["offset"], h.get("mesh.lineage.partition"),
                    h.get("mesh.lineage.offset"), r["value"]["stationId"][1:], now))
print("e2e_p50_ms=%.2f" % p(0.5))
print("e2e_p99_ms=%.2f" % p(0.99))
