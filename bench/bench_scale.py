#!/usr/bin/python3
"""Mesh scale: what bindings cost one `portbroker serve` instance (issue #15's bench_scale).

`portbroker kafka` runs in its own process, so the cluster's own threads, memory and CPU are not
counted. For each size N (default 10 and 100): N generated products in a ring (product i has output port
`out` and input port `in` bound to product i-1's `out`: N bindings) in a fresh products.dir, and a
fresh broker started on it. Then, for the broker process alone:
  - time from start until every binding routes: once ready, one record published to every
    output port, counted when it arrived in the input port's topic (end offsets read with
    python3-confluent-kafka);
  - idle: threads (/proc/PID/status Threads), RSS (VmRSS), and CPU over 10 s (utime + stime from
    /proc/PID/stat) as % of one core, --settle seconds after the last record;
  - parked idle (--parked, on by default): once the routers have parked every output partition
    (`router.park.idle.ms`, 60 s by default, after its last record; waited for at most that plus
    --stage-seconds) and 20 s more (the parking's own work, once), CPU over 10 s again. This is
    the steady state of a mesh with no traffic; the first sample is the minute after traffic
    stops, while partitions are still fetched. /metrics is read once a second while waiting,
    never during a sample;
  - aggregate routed records/s with all bindings busy: K more records published to every port
    (one HTTP request each, in parallel), timed until every input topic holds them.
Each stage is bounded (--stage-seconds); what is not done by then is reported as a count
("bound 37 of 100"), not waited for. Figures are printed as name=value lines (make bench shows
them under '== figures'). Never a timed assertion.

usage: bench_scale.py [--bin build/release/portbroker] [--sizes 10,100] [--stage-seconds 120]
                      [--records 200] [--settle 2] [--hold SECONDS] [--serve-prefix CMD]
                      [-o key=value]...
environment: BENCH_SCALE_SIZES overrides --sizes (e.g. 10,100,1000)
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("--bin", default="build/release/portbroker")
ap.add_argument("--sizes", default=os.environ.get("BENCH_SCALE_SIZES", "10,100"))
ap.add_argument("--stage-seconds", type=float, default=120.0)
ap.add_argument("--records", type=int, default=200, help="records per port for the busy stage")
ap.add_argument("--settle", type=float, default=2.0,
                help="seconds between 'all routing' and the idle sample (start-up work still "
                     "runs in the first ones: 30 shows the steady state)")
ap.add_argument("-o", dest="opts", action="append", default=[], metavar="key=value",
                help="a serve setting for every size (repeatable), e.g. "
                     "-o metrics.kafka.stats.interval.ms=15000 (statistics on)")
ap.add_argument("--hold", type=float, default=0.0,
                help="after the idle sample, keep the broker up this many seconds (its pid and "
                     "port printed) for inspection: /proc/PID/smaps, gdb, heaptrack")
ap.add_argument("--no-parked", dest="parked", action="store_false",
                help="skip the parked-idle sample (it waits for router.park.idle.ms)")
ap.add_argument("--serve-prefix", default="",
                help="words put before the serve command, e.g. 'env MALLOC_ARENA_MAX=2' or "
                     "'heaptrack -o /tmp/x' (split on spaces)")
args = ap.parse_args()

from confluent_kafka import Consumer, TopicPartition  # noqa: E402  (Debian's, /usr/bin/python3)

SCHEMA = {"type": "record", "name": "Tick", "namespace": "bench",
          "fields": [{"name": "id", "type": "string"}, {"name": "n", "type": "long"}]}
procs = []


def cleanup():
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def start(cmd, log):
    p = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
    procs.append(p)
    return p


def wait_file(path, p, seconds=30):
    end = time.time() + seconds
    while time.time() < end:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            return open(path).read().strip()
        if p.poll() is not None:
            break
        time.sleep(0.05)
    sys.exit("bench_scale: %s did not appear" % path)


def request(port, method, path, body=None, ctype="application/json", timeout=60):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers={"Content-Type": ctype} if body else {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def gauge(port, name):
    """A gauge's value from /metrics (no labels), or None."""
    st, body = request(port, "GET", "/metrics")
    for line in body.decode().split("\n") if st == 200 else []:
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def descriptor(NS, i, n):
    prev = (i - 1) % n
    port = lambda: {"api": {"format": "avro", "schema": SCHEMA}, "slo": {"freshness": "5m"}}  # noqa
    return json.dumps({
        "dataProductDescriptor": "1.0.0",
        "info": {"fullyQualifiedName": "urn:dpds:%s:dataproducts:p%d:1" % (NS, i),
                 "name": "p%d" % i, "version": "1.0.0", "domain": "bench",
                 "owner": {"id": "bench@example.org"}},
        "interfaceComponents": {
            "outputPorts": [{"name": "out", "version": "1.0.0", "promises": port(),
                             "x-portbroker": {"partitions": 1}}],
            "inputPorts": [{"name": "in", "version": "1.0.0", "promises": port(),
                            "from": "urn:dpds:%s:dataproducts:p%d:1:outputports:out" % (NS, prev)}],
        }})


def proc_figures(pid):
    st = open("/proc/%d/status" % pid).read()
    threads = int(st.split("Threads:")[1].split()[0])
    rss_kb = int(st.split("VmRSS:")[1].split()[0])
    return threads, rss_kb


def cpu_seconds(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def in_topic(NS, i):
    return "%s.p%d.v1.in.in" % (NS, i)


def arrived(NS, consumer, n, want):
    """How many input topics hold at least `want` records."""
    done = 0
    for i in range(n):
        try:
            lo, hi = consumer.get_watermark_offsets(TopicPartition(in_topic(NS, i), 0), timeout=5)
        except Exception:  # topic not there yet
            continue
        if hi >= want:
            done += 1
    return done


def publish_all(NS, port, n, count, first):
    def one(i):
        recs = "".join(json.dumps({"key": "k%d" % j, "value": {"id": "p%d-%d" % (i, j), "n": j}}) + "\n"
                       for j in range(first, first + count))
        path = "/v1/ports/urn:dpds:%s:dataproducts:p%d:1:outputports:out/records" % (NS, i)
        for _ in range(20):
            st, _body = request(port, "POST", path, recs.encode(), "application/x-ndjson")
            if st == 200:
                return 1
            time.sleep(0.5)
        return 0
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        return sum(ex.map(one, range(n)))


def run(size, brokers, tmp):
    # A namespace and a registry topic per size: the sizes share one cluster, not their state.
    NS = "bench.s%d" % size
    d = tempfile.mkdtemp(dir=tmp, prefix="n%d." % size)
    os.makedirs(os.path.join(d, "products"))
    for i in range(size):
        with open(os.path.join(d, "products", "p%d.json" % i), "w") as f:
            f.write(descriptor(NS, i, size))
    log = open(os.path.join(d, "serve.log"), "w")
    portf = os.path.join(d, "port")
    t0 = time.time()
    b = start(args.serve_prefix.split() + [args.bin, "serve", "-o", "http.listen=127.0.0.1:0", "-o", "kafka.bootstrap.servers=" + brokers,
               "-o", "products.dir=" + os.path.join(d, "products"), "-o", "mesh.namespace=" + NS,
               "-o", "registry.topic=_portbroker.bench.s%d" % size,
               "-o", "log.level=warn", "--port-file", portf]
              + [a for o in args.opts for a in ("-o", o)], log)
    port = int(wait_file(portf, b, args.stage_seconds))
    while time.time() - t0 < args.stage_seconds and request(port, "GET", "/readyz")[0] != 200:
        time.sleep(0.2)
    ready_s = time.time() - t0
    st, body = request(port, "GET", "/v1/products")
    stored = len(json.loads(body)["products"]) if st == 200 else 0
    cons = Consumer({"bootstrap.servers": brokers, "group.id": "bench-scale-probe"})
    published = publish_all(NS, port, stored, 1, 0)
    bound = 0
    while time.time() - t0 < 2 * args.stage_seconds:
        bound = arrived(NS, cons, stored, 1)
        if bound >= stored:
            break
        time.sleep(0.5)
    bound_s = time.time() - t0
    time.sleep(args.settle)
    c0, w0 = cpu_seconds(b.pid), time.time()
    time.sleep(10)
    idle_pct = 100.0 * (cpu_seconds(b.pid) - c0) / (time.time() - w0)
    threads, rss_kb = proc_figures(b.pid)
    parked_pct, parked, read = None, 0, 0
    if args.parked and bound >= stored and stored:
        t1 = time.time()
        while time.time() - t1 < 60 + args.stage_seconds:
            parked, read = gauge(port, "portbroker_router_parked_partitions") or 0, \
                gauge(port, "portbroker_router_read_partitions") or 0
            if read and parked >= read:
                break
            time.sleep(1)
        if read and parked >= read:
            # Parking is a transition that costs work once (a pause of every partition, then the
            # first lag sweeps that ask the parked partitions' watermarks): at 1,000 bindings a
            # sample started 5 s after it read 3.7-4.4 %, one started 20 s after 1.7 %.
            time.sleep(20)
            c0, w0 = cpu_seconds(b.pid), time.time()
            time.sleep(10)
            parked_pct = 100.0 * (cpu_seconds(b.pid) - c0) / (time.time() - w0)
    if args.hold > 0:
        print("bench_scale: holding serve pid %d (http port %d) for %.0f s; RSS %.1f MB"
              % (b.pid, port, args.hold, rss_kb / 1024))
        sys.stdout.flush()
        time.sleep(args.hold)
    rate, routed = 0.0, 0
    if bound >= stored and stored:
        t2 = time.time()
        publish_all(NS, port, stored, args.records, 1)
        while time.time() - t2 < args.stage_seconds:
            routed = arrived(NS, cons, stored, 1 + args.records)
            if routed >= stored:
                break
            time.sleep(0.2)
        if routed >= stored:
            rate = stored * args.records / (time.time() - t2)
    cons.close()
    b.send_signal(signal.SIGTERM)
    try:
        b.wait(timeout=30)
    except subprocess.TimeoutExpired:
        b.kill()
        b.wait()
    print("bindings=%d: %d products loaded, ready after %.1f s; %d of %d bindings routing %.1f s after "
          "start; idle: %d threads, RSS %.1f MB, CPU %.2f %% of a core; busy: %s"
          % (size, stored, ready_s, bound, stored, bound_s, threads, rss_kb / 1024, idle_pct,
             "%.0f rec/s routed" % rate if rate else "not measured (not every binding routes)"))
    print("scale_%d_threads=%d" % (size, threads))
    print("scale_%d_rss_mb=%.1f" % (size, rss_kb / 1024))
    print("scale_%d_idle_cpu_pct=%.2f" % (size, idle_pct))
    if args.parked:
        print("bindings=%d: parked idle: %d of %d output partitions parked, %s"
              % (size, parked, read, "CPU %.2f %% of a core" % parked_pct if parked_pct is not None
                 else "not measured (not all parked in time)"))
    if parked_pct is not None:
        print("scale_%d_parked_idle_cpu_pct=%.2f" % (size, parked_pct))
    print("scale_%d_bound=%d" % (size, bound))
    print("scale_%d_bound_seconds=%.1f" % (size, bound_s))
    if rate:
        print("scale_%d_routed_rec_per_s=%.0f" % (size, rate))
    sys.stdout.flush()


def main():
    tmp = tempfile.mkdtemp(prefix="bench_scale.")
    klog = open(os.path.join(tmp, "kafka.log"), "w")
    bf = os.path.join(tmp, "brokers")
    k = start([args.bin, "kafka", "--brokers", "3", "--brokers-file", bf], klog)
    brokers = wait_file(bf, k)
    print("bench_scale: portbroker kafka (pid %d) at %s; one serve per size; logs in %s"
          % (k.pid, brokers, tmp))
    for size in [int(x) for x in args.sizes.split(",") if x]:
        run(size, brokers, tmp)


if __name__ == "__main__":
    try:
        main()
    finally:
        cleanup()
