/*
 * bench_route — routing throughput (issue #5) on the embedded cluster, in one process:
 *   - bare: a plain librdkafka consume -> produce relay of the same bytes (headers moved over, no
 *     decoding), the floor any relay pays for Kafka itself;
 *   - route: one portbroker binding (pb_routers_*: decode, project into the reader schema,
 * re-frame, lineage/trace/contract headers, exactly-once bookkeeping), with metrics counting on and
 * off;
 *   - python: a hand-written python3-confluent-kafka + python3-avro relay doing what route does
 *     (bench/python_relay.py), on fewer records (it is slow).
 * All read the same prefilled output-port topic (~100-byte Avro observations with publish-style
 * headers) and write to a topic of their own. Rates count from the first record consumed to the
 * last one acknowledged; group joins are not timed. Prints route_ratio, python_relay_ratio and
 * route_metrics_overhead_pct. Exits 1 when a relay does not deliver every record.
 * Usage: bench_route [records, default 200000] [rounds, default 5]
 */
#include <dirent.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "descriptor.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "proc.h"
#include "registry.h"
#include "router.h"

#define PARTS 24
#define SRC_TOPIC "bench.src.v1.obs"
#define SRC_URN "urn:dpds:bench:dataproducts:src:1:outputports:obs"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds used so far by the process (every thread: the relay, librdkafka's and the mock
 * brokers') and by the calling thread. Under a noisy neighbour these move much less than rates. */
static double cpu(int who) {
    struct rusage ru;
    getrusage(who, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* CPU nanoseconds per thread (/proc/self/task/<tid>/schedstat), to split a relay's CPU between
 * the relay's own thread, the Kafka clients' threads and the mock brokers. */
#define MAX_THREADS 512
typedef struct snap {
    int n;
    int tid[MAX_THREADS];
    char comm[MAX_THREADS][20];
    double ns[MAX_THREADS];
    double wait[MAX_THREADS]; /* ns runnable but waiting for a CPU (schedstat's second field) */
    double t;                 /* when taken (s, monotonic) */
} snap_t;

enum { G_LOOP, G_CLIENT, G_MOCK, G_OTHER, G_N };

static void snap_take(snap_t *s) {
    char path[64], line[128];
    s->n = 0;
    s->t = now();
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while (d && (e = readdir(d)) && s->n < MAX_THREADS) {
        if (e->d_name[0] == '.') continue;
        int tid = atoi(e->d_name);
        double ns = 0, wait = 0;
        snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", tid);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fgets(line, sizeof line, f) && sscanf(line, "%lf %lf", &ns, &wait) < 1) ns = 0;
        fclose(f);
        snprintf(path, sizeof path, "/proc/self/task/%d/comm", tid);
        f = fopen(path, "r");
        s->comm[s->n][0] = 0;
        if (f) {
            if (fgets(s->comm[s->n], sizeof s->comm[s->n], f))
                s->comm[s->n][strcspn(s->comm[s->n], "\n")] = 0;
            fclose(f);
        }
        s->tid[s->n] = tid;
        s->ns[s->n] = ns;
        s->wait[s->n] = wait;
        s->n++;
    }
    if (d) closedir(d);
}

/* The relay's own thread between two snapshots, as shares of the time between them: running,
 * runnable but waiting for a CPU, and asleep (waiting for Kafka). A relay whose thread never
 * sleeps is bound by that thread's CPU, and its rate is that thread's work per record. */
typedef struct relay_state {
    double run, queued, asleep;
} relay_state_t;

/* us per record by thread group between a and b (threads created in between count from 0), and
 * the relay thread's state. */
static void snap_diff(const snap_t *a, const snap_t *b, int n, double out[G_N], relay_state_t *st) {
    int self = (int)getpid();
    for (int g = 0; g < G_N; g++)
        out[g] = 0;
    for (int i = 0; i < b->n; i++) {
        double base = 0, wbase = 0;
        for (int j = 0; j < a->n; j++)
            if (a->tid[j] == b->tid[i]) base = a->ns[j], wbase = a->wait[j];
        if (b->tid[i] == self && st && b->t > a->t) {
            double wall = (b->t - a->t) * 1e9;
            st->run = (b->ns[i] - base) / wall;
            st->queued = (b->wait[i] - wbase) / wall;
            st->asleep = 1 - st->run - st->queued;
        }
        int g = b->tid[i] == self                        ? G_LOOP
                : !strcmp(b->comm[i], "rdk:mock")        ? G_MOCK
                : !strncmp(b->comm[i], "rdk:broker", 10) ? G_CLIENT
                : !strcmp(b->comm[i], "rdk:main")        ? G_CLIENT
                                                         : G_OTHER;
        out[g] += (b->ns[i] - base) / 1000.0 / n;
    }
}

static snap_t snap_start, snap_end; /* around the last relay run, taken before its clients go */

static void die(const char *what, const char *msg) {
    fprintf(stderr, "bench_route: %s: %s\n", what, msg);
    exit(1);
}

/* Touch and give back `mib` MiB once: on a VM, the first touch of guest memory the host has not
 * backed yet costs far more than zeroing a recycled page, and the embedded cluster keeps every
 * record in memory, so whichever relay first grows the process past what earlier processes
 * touched paid for it (routed records, being bigger, most often). BENCH_ROUTE_WARM_MIB. */
static void warm_memory(size_t mib) {
    size_t len = mib << 20;
    uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    for (size_t i = 0; i < len; i += 4096)
        p[i] = 1;
    munmap(p, len);
}

/* ---- the registry: a source product and one consumer product per routed run ---- */

static void put_product(pb_registry_t *reg, const char *json_text) {
    pb_err_t err = {0};
    json_error_t je;
    json_t *j = json_loads(json_text, 0, &je);
    pb_product_t *p = NULL;
    if (!j) die("descriptor", je.text);
    if (pb_descriptor_parse(j, "schemas/examples", "bench", "bench", PARTS, &p, &err))
        die("descriptor", err.msg);
    pb_buf_t rec = {0};
    if (pb_registry_record_product_put(&rec, "bench", p, &err)) die("product_put", err.msg);
    pb_registry_result_t res = {0};
    pb_registry_apply(reg, -1, (const char *)rec.data, rec.len, &res);
    if (res.error_code) die("product_put", res.message ? res.message : "?");
    pb_registry_result_reset(&res);
    pb_buf_free(&rec);
    pb_product_destroy(p);
    json_decref(j);
}

static void delete_product(pb_registry_t *reg, const char *urn) {
    pb_err_t err = {0};
    pb_buf_t rec = {0};
    if (pb_registry_record_product_delete(&rec, "bench", urn, &err)) die("delete", err.msg);
    pb_registry_result_t res = {0};
    pb_registry_apply(reg, -1, (const char *)rec.data, rec.len, &res);
    pb_registry_result_reset(&res);
    pb_buf_free(&rec);
}

static void put_source(pb_registry_t *reg) {
    put_product(reg,
                "{\"dataProductDescriptor\":\"1.0.0\",\"info\":{\"fullyQualifiedName\":"
                "\"urn:dpds:bench:dataproducts:src:1\",\"name\":\"src\",\"version\":\"1.0.0\","
                "\"domain\":\"bench\",\"owner\":{\"id\":\"bench\"}},\"interfaceComponents\":{"
                "\"outputPorts\":[{\"name\":\"obs\",\"promises\":{\"api\":{\"format\":\"avro\","
                "\"schema\":{\"$ref\":\"weather_observation.avsc\"}}}}]}}");
}

static void put_sink(pb_registry_t *reg, int run, char *urn, size_t cap) {
    char text[2048];
    snprintf(text, sizeof text,
             "{\"dataProductDescriptor\":\"1.0.0\",\"info\":{\"fullyQualifiedName\":"
             "\"urn:dpds:bench:dataproducts:dst%d:1\",\"name\":\"dst%d\",\"version\":\"1.0.0\","
             "\"domain\":\"bench\",\"owner\":{\"id\":\"bench\"}},\"interfaceComponents\":{"
             "\"inputPorts\":[{\"name\":\"obs\",\"from\":\"" SRC_URN "\",\"promises\":{\"api\":{"
             "\"format\":\"avro\",\"schema\":{\"$ref\":\"weather_reader.avsc\"}}}}]}}",
             run, run);
    put_product(reg, text);
    snprintf(urn, cap, "urn:dpds:bench:dataproducts:dst%d:1", run);
}

/* ---- the source records ---- */

static size_t zz(uint8_t *o, int64_t v) {
    uint64_t n = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t i = 0;
    while (n & ~0x7Full) {
        o[i++] = (uint8_t)((n & 0x7F) | 0x80);
        n >>= 7;
    }
    o[i++] = (uint8_t)n;
    return i;
}

static size_t str(uint8_t *o, const char *s) {
    size_t l = strlen(s), n = zz(o, (int64_t)l);
    memcpy(o + n, s, l);
    return n + l;
}

/* A weather observation (weather_observation.avsc) framed with schema id. */
static size_t observation(uint8_t *o, int id, int i) {
    char uuid[40], st[16];
    size_t n = 0;
    double lat = 52.5, lon = 13.4;
    float t = 21.5f, w = 12.5f;
    o[n++] = 0;
    o[n++] = (uint8_t)(id >> 24);
    o[n++] = (uint8_t)(id >> 16);
    o[n++] = (uint8_t)(id >> 8);
    o[n++] = (uint8_t)id;
    snprintf(uuid, sizeof uuid, "0b0e7f06-9c3e-4c07-8d8e-%012d", i);
    snprintf(st, sizeof st, "st-%d", i % 9973);
    n += str(o + n, uuid);
    n += str(o + n, st);
    n += zz(o + n, 1700000000000LL + i);
    memcpy(o + n, &lat, 8);
    memcpy(o + n + 8, &lon, 8);
    n += 16;
    o[n++] = 0; /* elevationM null */
    memcpy(o + n, &t, 4);
    n += 4;
    o[n++] = 0; /* humidityPct null */
    memcpy(o + n, &w, 4);
    n += 4;
    o[n++] = 4; /* condition RAIN */
    o[n++] = 0; /* precipitationMm null */
    o[n++] = 2; /* quality: one entry */
    n += str(o + n, "qc");
    n += str(o + n, "ok");
    o[n++] = 0;
    return n;
}

static int acked;
static void on_fill(void *opaque, int code, const char *reason, int32_t p, int64_t off) {
    (void)opaque, (void)p, (void)off;
    if (code) die("prefill", reason);
    acked++;
}

static size_t prefill(pb_kafka_t *k, int schema_id, int n) {
    uint8_t v[256];
    size_t total = 0;
    pb_err_t err = {0};
    acked = 0;
    for (int i = 0; i < n; i++) {
        char id[40], key[16];
        snprintf(id, sizeof id, "6f1c2a9e-0d4b-4e8a-9c3f-%012d", i);
        snprintf(key, sizeof key, "st-%d", i % 9973);
        pb_kafka_header_t h[] = {
            {"ce_specversion", "1.0", 3},
            {"ce_id", id, strlen(id)},
            {"ce_source", SRC_URN, strlen(SRC_URN)},
            {"ce_type", "com.acme.weather.Observation", 28},
            {"ce_time", "2026-11-21T10:00:00.000Z", 24},
            {"content-type", "application/avro", 16},
            {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 55},
        };
        size_t len = observation(v, schema_id, i);
        total += len;
        while (pb_kafka_produce(k, SRC_TOPIC, i % PARTS, key, strlen(key), v, len, h, 7, on_fill,
                                NULL, &err) == PB_ERR_UNAVAILABLE) {
            struct pollfd p = {.fd = pb_kafka_wake_fd(k), .events = POLLIN};
            poll(&p, 1, 10);
            pb_kafka_serve(k);
        }
    }
    for (double end = now() + 60; acked < n && now() < end;) {
        struct pollfd p = {.fd = pb_kafka_wake_fd(k), .events = POLLIN};
        poll(&p, 1, 10);
        pb_kafka_serve(k);
    }
    if (acked < n) die("prefill", "not every record was acknowledged");
    return total / (size_t)n;
}

/* ---- bare librdkafka relay ---- */

static int bare_acked, bare_failed;
static void bare_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk, (void)opaque;
    if (m->err)
        bare_failed++;
    else
        bare_acked++;
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v) {
    char es[256];
    if (rd_kafka_conf_set(c, k, v, es, sizeof es)) die(k, es);
}

static const char *compression; /* BENCH_ROUTE_COMPRESSION: every producer of the run */

/* Decimal text of v (>= 0) into o; returns its length. */
static size_t dec(char *o, int64_t v) {
    char t[24];
    size_t n = 0;
    do
        t[n++] = (char)('0' + v % 10);
    while ((v /= 10) > 0);
    for (size_t i = 0; i < n; i++)
        o[i] = t[n - 1 - i];
    return n;
}

/* stamp: also drop the three owned headers the source records carry and add the seven a routed
 * record gets (same names, values of the same lengths as the router's), without decoding anything:
 * what the DESIGN §6 headers alone cost a relay. */
__attribute__((noinline)) static double bare_relay(const char *boot, const char *dst, int n,
                                                   int stamp) {
    char es[256];
    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    set(pc, "bootstrap.servers", boot);
    set(pc, "enable.idempotence", "true");
    set(pc, "acks", "all");
    set(pc, "linger.ms", "5");
    if (compression) set(pc, "compression.codec", compression);
    set(pc, "batch.num.messages", "10000");
    set(pc, "queue.buffering.max.messages", "1000000");
    rd_kafka_conf_set_dr_msg_cb(pc, bare_dr);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, es, sizeof es);
    rd_kafka_conf_t *cc = rd_kafka_conf_new();
    set(cc, "bootstrap.servers", boot);
    set(cc, "group.id", dst);
    set(cc, "enable.auto.commit", "false");
    set(cc, "enable.partition.eof", "false");
    set(cc, "fetch.wait.max.ms", "10");
    /* As the router's consumer (pb_kafka_consumer_new): without it librdkafka 2.0.2 stops
     * fetching for up to 1 s whenever 100,000 records wait in the consumer's queue. */
    set(cc, "queued.min.messages", "1000000");
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, cc, es, sizeof es);
    if (!p || !c) die("bare relay", es);
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(PARTS);
    /* The first offsets kept, as the router's "earliest" start does (router.c resume_positions):
     * a logical offset is looked up once each leader's connection is up, retried every 500 ms. */
    for (int i = 0; i < PARTS; i++) {
        int64_t low = RD_KAFKA_OFFSET_BEGINNING, high;
        if (rd_kafka_query_watermark_offsets(c, SRC_TOPIC, i, &low, &high, 5000))
            low = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_topic_partition_list_add(l, SRC_TOPIC, i)->offset = low;
    }
    rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(c);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(p, dst, NULL);
    rd_kafka_message_t *msgs[1000];
    bare_acked = bare_failed = 0;
    int sent = 0;
    double t0 = 0, deadline = now() + 120;
    while (bare_acked + bare_failed < n && now() < deadline) {
        if (!t0) snap_take(&snap_start); /* the window starts with the batch of the first record */
        ssize_t got = rd_kafka_consume_batch_queue(q, sent < n ? 10 : 0, msgs, 1000);
        for (ssize_t i = 0; i < got; i++) {
            rd_kafka_message_t *m = msgs[i];
            if (!m->err && sent < n) {
                if (!t0) t0 = now();
                rd_kafka_headers_t *h = NULL;
                rd_kafka_message_detach_headers(m, &h);
                if (stamp) {
                    char num[24];
                    if (!h) h = rd_kafka_headers_new(8);
                    rd_kafka_header_remove(h, "traceparent");
                    rd_kafka_header_remove(h, "ce_dataschema");
                    rd_kafka_header_remove(h, "mesh.contract");
                    rd_kafka_header_add(h, "mesh.lineage.topic", -1, SRC_TOPIC, -1);
                    rd_kafka_header_add(h, "mesh.lineage.partition", -1, num,
                                        (ssize_t)dec(num, m->partition));
                    rd_kafka_header_add(h, "mesh.lineage.offset", -1, num,
                                        (ssize_t)dec(num, m->offset));
                    rd_kafka_header_add(h, "mesh.lineage.hops", -1, "1", 1);
                    rd_kafka_header_add(h, "traceparent", -1,
                                        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                                        -1);
                    rd_kafka_header_add(h, "ce_dataschema", -1, "http://bench:8080/schemas/ids/3",
                                        -1);
                    rd_kafka_header_add(h, "mesh.contract", -1,
                                        "urn:dpds:bench:dataproducts:dst0:1:inputports:obs@1.0.0",
                                        -1);
                }
                while (rd_kafka_producev(
                           p, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(m->partition),
                           RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE(m->payload, m->len),
                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
                           RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                    rd_kafka_poll(p, 10);
                sent++;
            }
            rd_kafka_message_destroy(m);
        }
        rd_kafka_poll(p, sent >= n ? 10 : 0);
    }
    double t1 = now();
    snap_take(&snap_end);
    rd_kafka_queue_destroy(q);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    rd_kafka_destroy(p);
    if (bare_acked != n) die("bare relay", "not every record was delivered");
    return n / (t1 - t0);
}

/* ---- portbroker routing ---- */

static double route(const pb_config_t *cfg, pb_kafka_t *k, pb_registry_t *reg, pb_metrics_t *m,
                    int run, int n) {
    char urn[128];
    pb_err_t err = {0};
    /* fetch wait 10 ms as the bare relay's (router.fetch.wait.ms=10). */
    pb_router_env_t env = {
        .kafka = k,
        .metrics = m,
        .registry_url = "http://bench:8080",
        .fetch_wait_ms = 10,
        .inflight_max_bytes = cfg->router_inflight_kbytes * 1024, /* the daemon's default */
    };
    pb_routers_t *rs = pb_routers_new(&env, &err);
    if (!rs) die("routers", err.msg);
    put_sink(reg, run, urn, sizeof urn);
    pb_routers_reconcile(rs, reg);
    pb_routers_stats_t st = {0};
    double t0 = 0, deadline = now() + 120;
    while (st.routed + st.dlq + st.failed < (uint64_t)n && now() < deadline) {
        struct pollfd p = {.fd = pb_routers_wake_fd(rs), .events = POLLIN};
        poll(&p, 1, 10);
        if (!t0) snap_take(&snap_start); /* the window starts with the serve of the first record */
        pb_routers_serve(rs);
        pb_routers_stats(rs, &st);
        if (!t0 && (st.inflight > 0 || st.routed > 0)) t0 = now();
        static double last;
        if (getenv("BENCH_TRACE") && t0 && now() - last > 0.05) {
            last = now();
            fprintf(stderr, "%.3f routed %llu inflight %llu\n", last - t0,
                    (unsigned long long)st.routed, (unsigned long long)st.inflight);
        }
    }
    double t1 = now();
    snap_take(&snap_end);
    if (st.routed != (uint64_t)n) {
        fprintf(stderr, "routed %llu, dlq %llu, failed %llu of %d\n", (unsigned long long)st.routed,
                (unsigned long long)st.dlq, (unsigned long long)st.failed, n);
        die("route", "not every record was routed");
    }
    delete_product(reg, urn);
    pb_routers_destroy(rs);
    return n / (t1 - t0);
}

static double python_relay(const char *boot, int n) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 bench/python_relay.py %s %s bench.py.out %d "
             "schemas/examples/weather_observation.avsc schemas/examples/weather_reader.avsc",
             boot, SRC_TOPIC, n);
    FILE *f = popen(cmd, "r");
    double rate = 0;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        sscanf(line, "python_relay_rps=%lf", &rate);
    if (!f || pclose(f) != 0 || rate <= 0) die("python relay", "failed (see above)");
    return rate;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median: the VM's noise comes in bursts (a run now and then 2x faster or slower), which a
 * best-of would pick up. */
static double median(const double *v, int n) {
    double s[10];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

int main(int argc, char **argv) {
    /* The broker process's allocator settings (main.c), for the bare relay too: same process. */
    pb_proc_tune();
    const char *warm = getenv("BENCH_ROUTE_WARM_MIB");
    warm_memory(warm ? (size_t)atol(warm) : 3072);
    int n = argc > 1 ? atoi(argv[1]) : 200000;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (rounds < 1 || rounds > 10) rounds = 5;
    /* BENCH_ROUTE_ONLY=1: routing runs only; =bare: bare relays only (for profiling). */
    const char *only = getenv("BENCH_ROUTE_ONLY");
    int only_bare = only && !strcmp(only, "bare");
    int only_route = only && !only_bare;
    pb_err_t err = {0};
    pb_log_configure(PB_LOG_ERROR, 0);
    pb_kafka_cluster_t *cl = pb_kafka_cluster_new(3, &err);
    if (!cl) die("cluster", err.msg);
    pb_config_t *cfg = pb_config_new();
    /* BENCH_ROUTE_COMPRESSION=lz4: kafka.compression.codec for every producer (prefill, bare relay,
     * router), as `-o kafka.compression.codec=lz4` would set it for the broker. */
    compression = getenv("BENCH_ROUTE_COMPRESSION");
    if (compression && pb_config_set(cfg, "kafka.compression.codec", compression, "bench", &err))
        die("config", err.msg);
    pb_kafka_t *k = pb_kafka_new(cfg, pb_kafka_cluster_bootstraps(cl), cl, &err);
    if (!k) die("kafka", err.msg);
    const char *boot = pb_kafka_cluster_bootstraps(cl);
    pb_registry_t *reg = pb_registry_new();
    pb_metrics_t *metrics = pb_metrics_new();
    put_source(reg);
    const pb_port_t *src = pb_registry_port(reg, SRC_URN);
    if (!src) die("registry", "source port missing");
    pb_registry_version_t ver;
    if (pb_registry_get_version(reg, src->subject, -1, 0, &ver, &err)) die("registry", err.msg);
    if (pb_kafka_ensure_topic(k, SRC_TOPIC, PARTS, 10000, NULL, &err)) die("topic", err.msg);
    char bare_topic[64], stamp_topic[64];
    double t = now();
    size_t avg = prefill(k, ver.id, n);
    printf("prefilled %d records (%zu bytes of value on average, 7 headers) into %d partitions "
           "in %.1f s; compression %s\n",
           n, avg, PARTS, now() - t, compression ? compression : "none");

    double bare[10], stamped[10], vs_stamped[10], on[10], off[10], ratio[10], overhead[10];
    double win_bare[10], win_on[10]; /* process CPU us/record from first record to last ack */
    double cpu_bare[10], cpu_on[10], cpu_off[10], thr_bare[10], thr_on[10], thr_off[10];
    double asleep_st[10], asleep_on[10]; /* the relay thread's idle share (relay_state_t) */
    for (int r = 0; r < rounds; r++) {
        snprintf(bare_topic, sizeof bare_topic, "bench.bare%d", r);
        snprintf(stamp_topic, sizeof stamp_topic, "bench.stamped%d", r);
        if (pb_kafka_ensure_topic(k, bare_topic, PARTS, 10000, NULL, &err) ||
            pb_kafka_ensure_topic(k, stamp_topic, PARTS, 10000, NULL, &err))
            die("topic", err.msg);
        double c0 = cpu(RUSAGE_SELF), t0 = cpu(RUSAGE_THREAD);
        double gb[G_N] = {0}, gst[G_N] = {0}, gon[G_N] = {0}, goff[G_N] = {0};
        relay_state_t sb = {0}, sst = {0}, son = {0};
        /* Even rounds run bare first, odd rounds last: neither side always gets the warmer (or
         * the more crowded) moment. */
        double c1 = 0, t1 = 0, c3 = 0, t3 = 0;
        if (r % 2 == 0) {
            bare[r] = only_route ? 1 : bare_relay(boot, bare_topic, n, 0);
            if (!only_route) snap_diff(&snap_start, &snap_end, n, gb, &sb);
            c1 = cpu(RUSAGE_SELF), t1 = cpu(RUSAGE_THREAD);
            cpu_bare[r] = (c1 - c0) / n * 1e6, thr_bare[r] = (t1 - t0) / n * 1e6;
            stamped[r] = only_route ? 1 : bare_relay(boot, stamp_topic, n, 1);
            if (!only_route) snap_diff(&snap_start, &snap_end, n, gst, &sst);
            c0 = cpu(RUSAGE_SELF), t0 = cpu(RUSAGE_THREAD);
        }
        on[r] = only_bare ? 1 : route(cfg, k, reg, metrics, 2 * r, n);
        if (!only_bare) snap_diff(&snap_start, &snap_end, n, gon, &son);
        double c2 = cpu(RUSAGE_SELF), t2 = cpu(RUSAGE_THREAD);
        off[r] = only_bare ? 1 : route(cfg, k, reg, NULL, 2 * r + 1, n);
        if (!only_bare) snap_diff(&snap_start, &snap_end, n, goff, NULL);
        c3 = cpu(RUSAGE_SELF), t3 = cpu(RUSAGE_THREAD);
        cpu_on[r] = (c2 - c0) / n * 1e6, thr_on[r] = (t2 - t0) / n * 1e6;
        cpu_off[r] = (c3 - c2) / n * 1e6, thr_off[r] = (t3 - t2) / n * 1e6;
        if (r % 2 == 1) {
            stamped[r] = only_route ? 1 : bare_relay(boot, stamp_topic, n, 1);
            if (!only_route) snap_diff(&snap_start, &snap_end, n, gst, &sst);
            c3 = cpu(RUSAGE_SELF), t3 = cpu(RUSAGE_THREAD);
            bare[r] = only_route ? 1 : bare_relay(boot, bare_topic, n, 0);
            if (!only_route) snap_diff(&snap_start, &snap_end, n, gb, &sb);
            c1 = cpu(RUSAGE_SELF), t1 = cpu(RUSAGE_THREAD);
            cpu_bare[r] = (c1 - c3) / n * 1e6, thr_bare[r] = (t1 - t3) / n * 1e6;
        }
        double wb = gb[G_LOOP] + gb[G_CLIENT] + gb[G_MOCK] + gb[G_OTHER];
        double won = gon[G_LOOP] + gon[G_CLIENT] + gon[G_MOCK] + gon[G_OTHER];
        win_bare[r] = wb, win_on[r] = won;
        ratio[r] = on[r] / bare[r];
        vs_stamped[r] = on[r] / stamped[r];
        overhead[r] = (off[r] - on[r]) / off[r] * 100.0;
        printf("round %d: bare %.0f rec/s, bare + the routed headers %.0f rec/s, route %.0f rec/s "
               "(metrics on), %.0f rec/s (off): ratio %.2f, %.2f against bare + headers\n",
               r + 1, bare[r], stamped[r], on[r], off[r], ratio[r], vs_stamped[r]);
        printf("round %d: CPU us/record bare %.2f / %.2f, route %.2f / %.2f (on), %.2f / %.2f "
               "(off)\n",
               r + 1, cpu_bare[r], thr_bare[r], cpu_on[r], thr_on[r], cpu_off[r], thr_off[r]);
        printf("round %d: CPU us/record while relaying by thread (loop / clients / mock / other): "
               "bare %.2f / %.2f / %.2f / %.2f, bare + headers %.2f / %.2f / %.2f / %.2f, "
               "route %.2f / %.2f / %.2f / %.2f (on), %.2f / %.2f / %.2f / %.2f (off)\n",
               r + 1, gb[G_LOOP], gb[G_CLIENT], gb[G_MOCK], gb[G_OTHER], gst[G_LOOP], gst[G_CLIENT],
               gst[G_MOCK], gst[G_OTHER], gon[G_LOOP], gon[G_CLIENT], gon[G_MOCK], gon[G_OTHER],
               goff[G_LOOP], goff[G_CLIENT], goff[G_MOCK], goff[G_OTHER]);
        printf("round %d: relay thread running / waiting for a CPU / asleep, %% of the run: bare "
               "%.0f / %.0f / %.0f, bare + headers %.0f / %.0f / %.0f, route %.0f / %.0f / %.0f\n",
               r + 1, 100 * sb.run, 100 * sb.queued, 100 * sb.asleep, 100 * sst.run,
               100 * sst.queued, 100 * sst.asleep, 100 * son.run, 100 * son.queued,
               100 * son.asleep);
        asleep_st[r] = sst.asleep, asleep_on[r] = son.asleep;
    }
    int py_n = n < 20000 ? n : 20000;
    if (pb_kafka_ensure_topic(k, "bench.py.out", PARTS, 10000, NULL, &err)) die("topic", err.msg);
    double py = only ? 1 : python_relay(boot, py_n);
    double b = median(bare, rounds), o = median(on, rounds), f = median(off, rounds);
    printf("\n| relay | rec/s (median of %d) |\n|---|---:|\n", rounds);
    printf("| bare librdkafka consume->produce | %.0f |\n", b);
    printf("| the same, adding the seven routed headers (no decoding) | %.0f |\n",
           median(stamped, rounds));
    printf("| portbroker route (metrics on) | %.0f |\n", o);
    printf("| portbroker route (metrics off) | %.0f |\n", f);
    printf("| python3 confluent-kafka + avro (%d records) | %.0f |\n\n", py_n, py);
    printf("CPU per record, us (median): bare %.2f process / %.2f relay thread; route %.2f / %.2f "
           "(metrics on), %.2f / %.2f (off)\n",
           median(cpu_bare, rounds), median(thr_bare, rounds), median(cpu_on, rounds),
           median(thr_on, rounds), median(cpu_off, rounds), median(thr_off, rounds));
    printf("CPU per record while relaying (first record to last ack, all threads; median): bare "
           "%.2f, route %.2f (metrics on)\n",
           median(win_bare, rounds), median(win_on, rounds));
    printf("route_cpu_ratio_relaying=%.2f\n", median(win_bare, rounds) / median(win_on, rounds));
    printf("route_cpu_ratio=%.2f\n", median(cpu_bare, rounds) / median(cpu_on, rounds));
    /* Near 0: both relays are bound by their own thread's CPU (not by Kafka), so
     * route_ratio_same_records is about the ratio of that thread's work per record. */
    printf("route_relay_thread_asleep_pct=%.0f\nsame_records_relay_thread_asleep_pct=%.0f\n",
           100 * median(asleep_on, rounds), 100 * median(asleep_st, rounds));
    printf("route_bare_rps=%.0f\nroute_rps=%.0f\n", b, o);
    /* Ratios: median of each round's (adjacent runs share the machine's mood). */
    printf("route_ratio=%.2f\n", median(ratio, rounds));
    /* What portbroker's own work costs (decode, project, encode, span, exactly-once bookkeeping)
     * once a relay writes the same records: route against the bare relay stamping the headers. */
    printf("route_ratio_same_records=%.2f\n", median(vs_stamped, rounds));
    printf("python_relay_ratio=%.1f\n", o / py);
    printf("route_metrics_overhead_pct=%.1f\n", median(overhead, rounds));
    pb_metrics_destroy(metrics);
    pb_registry_destroy(reg);
    pb_kafka_destroy(k, 1000);
    pb_config_destroy(cfg);
    pb_kafka_cluster_destroy(cl);
    return 0;
}
