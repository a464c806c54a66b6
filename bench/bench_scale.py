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
  - with --scrape S: GET /healthz every 10 ms for S seconds alone, then S seconds more while
    another client reads GET /metrics back to back (a scraper that never waits): /healthz p50/p99/
    max both ways, scrapes done, the body's bytes (--scrape-gzip: the scraper sends
    Accept-Encoding: gzip, as Prometheus does), the loop thread's CPU per scrape (its
    /proc/PID/task/PID/stat over the scraping seconds, less the same thread's CPU over the seconds
    alone); with --compare-bin B the same for binary B (its own namespace) right after, figures
    suffixed _base, and the ratios printed;
  - aggregate routed records/s with all bindings busy: K more records published to every port
    (one HTTP request each, in parallel), timed until every input topic holds them.
Each stage is bounded (--stage-seconds); what is not done by then is reported as a count
("bound 37 of 100"), not waited for. Figures are printed as name=value lines (make bench shows
them under '== figures'). Never a timed assertion.

usage: bench_scale.py [--bin build/release/portbroker] [--sizes 10,100] [--stage-seconds 120]
                      [--records 200] [--settle 2] [--hold SECONDS] [--serve-prefix CMD]
                      [--scrape SECONDS [--scrape-gzip] [--compare-bin OTHER]] [--no-busy] [-o key=value]...
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
ap.add_argument("--scrape", type=float, default=0.0,
                help="seconds of /healthz alone, then as many with /metrics read back to back")
ap.add_argument("--scrape-gzip", action="store_true",
                help="the scraper sends Accept-Encoding: gzip, as Prometheus does")
ap.add_argument("--compare-bin", default="",
                help="with --scrape: run each size again with this binary (e.g. main's build)")
ap.add_argument("--no-busy", dest="busy", action="store_false",
                help="skip the busy stage (aggregate routed records/s)")
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


def loop_cpu(pid):
    """CPU seconds of the loop thread (the main thread: its tid is the pid)."""
    f = open("/proc/%d/task/%d/stat" % (pid, pid)).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def healthz_for(port, seconds):
    """GET /healthz every 10 ms for `seconds` on one kept-alive connection: latencies in ms."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    lat, end = [], time.time() + seconds
    while time.time() < end:
        t = time.perf_counter()
        c.request("GET", "/healthz")
        r = c.getresponse()
        r.read()
        lat.append((time.perf_counter() - t) * 1000)
        time.sleep(0.01)
    c.close()
    return sorted(lat)


def pct(xs, q):
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


SCRAPER = """
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=60)
h = {"Accept-Encoding": "gzip"} if sys.argv[2] == "gzip" else {}
while True:
    c.request("GET", "/metrics", headers=h)
    print(len(c.getresponse().read()), flush=True)
"""


def scrape_stage(size, port, pid, suffix):
    """/healthz alone, then with /metrics read back to back (see the module comment)."""
    c0 = loop_cpu(pid)
    alone = healthz_for(port, args.scrape)
    idle_cpu = loop_cpu(pid) - c0
    # The scraper runs in its own process (no GIL shared with the /healthz client), reading
    # /metrics again and again on one connection, one line per scrape (its length), flushed.
    out = open(os.path.join(tempfile.gettempdir(), "bench_scale.scrapes.%d" % pid), "w+")
    sc = subprocess.Popen([sys.executable, "-c", SCRAPER, str(port),
                           "gzip" if args.scrape_gzip else "identity"], stdout=out)
    c0 = loop_cpu(pid)
    busy = healthz_for(port, args.scrape)
    scrape_cpu = loop_cpu(pid) - c0
    sc.terminate()
    sc.wait(timeout=30)
    out.seek(0)
    done = [int(x) for x in out.read().split()]
    out.close()
    os.unlink(out.name)
    n = max(1, len(done))
    per = 1000.0 * max(0.0, scrape_cpu - idle_cpu) / n
    print("bindings=%d%s: /healthz alone p50 %.2f p99 %.2f max %.2f ms; while /metrics is read "
          "back to back (%d scrapes of %d bytes): p50 %.2f p99 %.2f max %.2f ms; loop thread "
          "%.1f ms CPU per scrape"
          % (size, suffix, pct(alone, .5), pct(alone, .99), alone[-1], len(done),
             done[-1] if done else 0, pct(busy, .5), pct(busy, .99), busy[-1], per))
    fig = {"healthz_p99_ms_alone": pct(alone, .99), "healthz_p99_ms_scraped": pct(busy, .99),
           "healthz_max_ms_scraped": busy[-1], "scrapes": len(done),
           "scrape_bytes": done[-1] if done else 0, "scrape_loop_cpu_ms": per}
    for k, v in fig.items():
        print("scale_%d_%s%s=%s" % (size, k, suffix, ("%.2f" % v) if isinstance(v, float) else v))
    sys.stdout.flush()
    return fig


def run(size, brokers, tmp, binary=None, suffix=""):
    # A namespace and a registry topic per size: the sizes share one cluster, not their state.
    binary = binary or args.bin
    NS = "bench.s%d%s" % (size, suffix.replace("_", "."))
    d = tempfile.mkdtemp(dir=tmp, prefix="n%d%s." % (size, suffix))
    os.makedirs(os.path.join(d, "products"))
    for i in range(size):
        with open(os.path.join(d, "products", "p%d.json" % i), "w") as f:
            f.write(descriptor(NS, i, size))
    log = open(os.path.join(d, "serve.log"), "w")
    portf = os.path.join(d, "port")
    t0 = time.time()
    b = start(args.serve_prefix.split() + [binary, "serve", "-o", "http.listen=127.0.0.1:0", "-o", "kafka.bootstrap.servers=" + brokers,
               "-o", "products.dir=" + os.path.join(d, "products"), "-o", "mesh.namespace=" + NS,
               "-o", "registry.topic=_portbroker.%s" % NS,
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
    fig = scrape_stage(size, port, b.pid, suffix) if args.scrape > 0 else None
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
    if args.busy and bound >= stored and stored:
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
    return fig


def main():
    tmp = tempfile.mkdtemp(prefix="bench_scale.")
    klog = open(os.path.join(tmp, "kafka.log"), "w")
    bf = os.path.join(tmp, "brokers")
    k = start([args.bin, "kafka", "--brokers", "3", "--brokers-file", bf], klog)
    brokers = wait_file(bf, k)
    print("bench_scale: portbroker kafka (pid %d) at %s; one serve per size; logs in %s"
          % (k.pid, brokers, tmp))
    for size in [int(x) for x in args.sizes.split(",") if x]:
        fig = run(size, brokers, tmp)
        if fig and args.compare_bin:
            base = run(size, brokers, tmp, args.compare_bin, "_base")
            print("scale_%d_scrape_loop_cpu_base_over_this=%.2f"
                  % (size, base["scrape_loop_cpu_ms"] / max(fig["scrape_loop_cpu_ms"], 0.01)))
            print("scale_%d_healthz_p99_scraped_base_over_this=%.2f"
                  % (size, base["healthz_p99_ms_scraped"] / max(fig["healthz_p99_ms_scraped"], 0.01)))


if __name__ == "__main__":
    try:
        main()
    finally:
        cleanup()
