/*
 * bench_publish — records/s of batched HTTP publish against bare librdkafka producing the same
 * records, in one run, to the same embedded cluster.
 *
 * One process: a `portbroker serve` broker (pb_broker_start, its own loop thread, the embedded
 * 3-broker cluster) with one bench product whose output port takes ~200-byte natural-JSON
 * records (DESIGN.md §5a: a decimal as "12.34", a timestamp as RFC 3339 text). Then:
 *   1. baseline: a bare librdkafka producer (idempotent, acks=all, linger.ms=2, murmur2_random, as
 *      the broker's) produces the very records the broker would: the same Confluent-framed values,
 *      keys and the broker's header set; rate = records acknowledged / wall time.
 *   2. publish: 64 keep-alive HTTP connections (one blocking thread each, plain sockets) POST
 *      batches of 100 such records as application/json; rate = records acknowledged (200s) / wall.
 * Prints both rates and `publish_ratio=X.XX` (publish / baseline), and the broker loop thread's
 * CPU per published record (`loop_cpu_us_per_record=X.XX`, its clock over the publish phase). A
 * failed request aborts: a wrong result is not a benchmark.
 * Then the cost of authentication (DESIGN §9, goal < 3 %): the same publish load alternately with
 * auth off and with auth on (a bearer token checked against a tokens file), two rounds each, the
 * gate swapped between phases while no request is in flight; prints `auth_overhead_pct=X.X`.
 * Usage: bench_publish [seconds per phase, default 5]; PB_BENCH_METRICS=false turns counting off.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "auth.h"
#include "broker.h"
#include "codec.h"
#include "config.h"
#include "log.h"
#include "publish.h"
#include "registry.h"
#include "schema.h"

#define CONNS 64
#define BATCH 100
#define TOPIC "local.benchmark.v1.readings"
#define PATH "/v1/ports/benchmark/1/outputports/readings/records"

static const char *SCHEMA =
    "{\"type\":\"record\",\"name\":\"Reading\",\"namespace\":\"bench\",\"fields\":["
    "{\"name\":\"sensorId\",\"type\":\"string\"},"
    "{\"name\":\"at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
    "{\"name\":\"value\",\"type\":\"double\"},"
    "{\"name\":\"unit\",\"type\":{\"type\":\"enum\",\"name\":\"Unit\",\"symbols\":[\"C\",\"F\"]}},"
    "{\"name\":\"site\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"ok\",\"type\":\"boolean\"},"
    "{\"name\":\"amount\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\","
    "\"precision\":12,\"scale\":2}}]}";

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    fprintf(stderr, "bench_publish: %s\n", what);
    exit(1);
}

/* Record i as natural JSON (~200 bytes with its key): "at" (timestamp-millis) as RFC 3339 text,
 * "amount" (decimal(12,2)) as a decimal string. */
static int record_json(char *out, size_t cap, int i) {
    long long ms = 1700000000000LL + i;
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    char at[32];
    gmtime_r(&sec, &tm);
    strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%S", &tm);
    return snprintf(out, cap,
                    "{\"key\":\"sensor-%04d\",\"value\":{\"sensorId\":\"sensor-%04d\",\"at\":"
                    "\"%s.%03dZ\",\"value\":%d.25,\"unit\":\"C\",\"site\":\"plant-%d\",\"ok\":"
                    "true,\"amount\":\"%d.%02d\"}}",
                    i % 1000, i % 1000, at, (int)(ms % 1000), i % 40, i % 7, 1000 + i % 9000,
                    i % 100);
}

static char *batch_body(int base, size_t *len) {
    pb_buf_t b = {0};
    char rec[512];
    pb_buf_puts(&b, "{\"records\":[");
    for (int i = 0; i < BATCH; i++) {
        if (i) pb_buf_putc(&b, ',');
        record_json(rec, sizeof rec, base + i);
        pb_buf_puts(&b, rec);
    }
    pb_buf_puts(&b, "]}");
    *len = b.len;
    pb_buf_putc(&b, 0);
    return (char *)b.data;
}

/* ---- the broker, in-process ---- */

static pb_broker_t *g_broker;
static int g_port;

static void *broker_main(void *arg) {
    (void)arg;
    pb_broker_run(g_broker);
    return NULL;
}

static int connect_port(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read one HTTP response (Content-Length framed); returns the status or -1. buf holds the body. */
static int read_response(int fd, char *buf, size_t cap, size_t *body_len) {
    size_t have = 0;
    char *hend = NULL;
    while (!hend) {
        if (have + 1 >= cap) return -1;
        ssize_t r = read(fd, buf + have, cap - have - 1);
        if (r <= 0) return -1;
        have += (size_t)r;
        buf[have] = 0;
        hend = strstr(buf, "\r\n\r\n");
    }
    int status = atoi(buf + 9);
    char *cl = strcasestr(buf, "content-length:");
    size_t clen = cl && cl < hend ? (size_t)atol(cl + 15) : 0;
    size_t hlen = (size_t)(hend + 4 - buf);
    while (have < hlen + clen) {
        if (have + 1 >= cap) return -1;
        ssize_t r = read(fd, buf + have, cap - have - 1);
        if (r <= 0) return -1;
        have += (size_t)r;
    }
    buf[have] = 0;
    memmove(buf, buf + hlen, clen + 1);
    *body_len = clen;
    return status;
}

static int http_get_status(const char *path) {
    char req[256], buf[8192];
    size_t bl;
    int fd = connect_port(g_port);
    if (fd < 0) return -1;
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    int st = write_all(fd, req, (size_t)n) ? -1 : read_response(fd, buf, sizeof buf, &bl);
    close(fd);
    return st;
}

/* ---- HTTP load ---- */

static char g_auth_header[256]; /* "" or "Authorization: Bearer ...\r\n" */
static atomic_int g_stop;
static atomic_llong g_acked;
static atomic_int g_failed;
static clockid_t g_loop_clock; /* the broker loop thread's CPU clock */
static double g_loop_cpu_us;   /* its CPU per acknowledged record over the last publish phase */

static double cpu_s(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *conn_main(void *arg) {
    int id = (int)(intptr_t)arg;
    size_t blen;
    char *body = batch_body(id * BATCH, &blen);
    char head[512];
    int hn = snprintf(head, sizeof head,
                      "POST " PATH " HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                      "%sContent-Length: %zu\r\n\r\n",
                      g_auth_header, blen);
    size_t reqlen = (size_t)hn + blen;
    char *req = malloc(reqlen);
    memcpy(req, head, (size_t)hn);
    memcpy(req + hn, body, blen);
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    int fd = connect_port(g_port);
    if (fd < 0) die("connect");
    while (!atomic_load(&g_stop)) {
        size_t bl = 0;
        if (write_all(fd, req, reqlen)) die("write");
        int st = read_response(fd, buf, cap, &bl);
        if (st != 200) {
            fprintf(stderr, "bench_publish: HTTP %d: %.300s\n", st, st > 0 ? buf : "");
            atomic_fetch_add(&g_failed, 1);
            break;
        }
        atomic_fetch_add(&g_acked, BATCH);
    }
    close(fd);
    free(buf);
    free(req);
    free(body);
    return NULL;
}

static double run_publish(double secs) {
    pthread_t th[CONNS];
    atomic_store(&g_stop, 0);
    atomic_store(&g_acked, 0);
    for (int i = 0; i < CONNS; i++)
        pthread_create(&th[i], NULL, conn_main, (void *)(intptr_t)i);
    usleep(500 * 1000); /* warm-up: connections open, batches flowing */
    long long a0 = atomic_load(&g_acked);
    double t0 = now(), c0 = cpu_s(g_loop_clock);
    usleep((useconds_t)(secs * 1e6));
    long long a1 = atomic_load(&g_acked);
    double t1 = now(), c1 = cpu_s(g_loop_clock);
    g_loop_cpu_us = a1 > a0 ? (c1 - c0) * 1e6 / (double)(a1 - a0) : 0;
    atomic_store(&g_stop, 1);
    for (int i = 0; i < CONNS; i++)
        pthread_join(th[i], NULL);
    if (atomic_load(&g_failed)) die("a publish request failed");
    return (double)(a1 - a0) / (t1 - t0);
}

/* ---- baseline: bare librdkafka ---- */

static atomic_llong g_dr_ok, g_dr_err;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    if (m->err)
        atomic_fetch_add(&g_dr_err, 1);
    else
        atomic_fetch_add(&g_dr_ok, 1);
}

typedef struct prepared {
    pb_buf_t body, values;
    pb_publish_scratch_t sc; /* records point into body and sc */
    pb_publish_record_t *recs;
    size_t n;
} prepared_t;

/* The records the broker would produce for n records of record_json. */
static void prepare_records(const pb_schema_t *s, int id, size_t n, prepared_t *p) {
    char rec[512];
    pb_err_t err = {0};
    pb_publish_errors_t e = {0};
    pb_publish_limits_t lim = {1 << 30, 1 << 30, 1 << 20, 64, 16384};
    pb_buf_puts(&p->body, "{\"records\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) pb_buf_putc(&p->body, ',');
        record_json(rec, sizeof rec, (int)i);
        pb_buf_puts(&p->body, rec);
    }
    pb_buf_puts(&p->body, "]}");
    if (pb_publish_parse((const char *)p->body.data, p->body.len, PB_PUBLISH_JSON, &lim, &p->sc, &e,
                         &err))
        die(err.msg);
    p->n = n;
    p->recs = calloc(n, sizeof *p->recs);
    pb_publish_target_t t = {s, (uint32_t)id, "at", 0, NULL, 0};
    if (pb_publish_prepare(&t, &lim, &p->sc, p->recs, &p->values, &e, &err)) die(err.msg);
    pb_publish_errors_free(&e);
}

static double run_baseline(const char *bootstrap, const prepared_t *p, const pb_publish_stamp_t *st,
                           double secs, int with_headers) {
    char es[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[][2] = {{"bootstrap.servers", bootstrap},
                           {"enable.idempotence", "true"},
                           {"acks", "all"},
                           {"linger.ms", "2"},
                           {"partitioner", "murmur2_random"},
                           {"client.id", "bench-baseline"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], es, sizeof es)) die(es);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, es, sizeof es);
    if (!rk) die(es);
    atomic_store(&g_dr_ok, 0);
    atomic_store(&g_dr_err, 0);
    pb_kafka_header_t h[PB_PUBLISH_BROKER_HEADERS + 64];
    pb_publish_hdrbuf_t hb;
    /* Warm-up: connections and metadata. */
    rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_VALUE((void *)(uintptr_t) "x", 1),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    rd_kafka_flush(rk, 10000);
    long long sent = 0, base_ok = atomic_load(&g_dr_ok);
    double t0 = now(), deadline = t0 + secs;
    while (now() < deadline) {
        for (size_t i = 0; i < p->n; i++) {
            const pb_publish_record_t *r = &p->recs[i];
            rd_kafka_headers_t *hdrs = NULL;
            if (with_headers) {
                char id[64];
                snprintf(id, sizeof id, "0b0e7f06-9c3e-4c07-8d8e-%012lld", sent % 1000000000000LL);
                size_t nh = pb_publish_headers(st, r, id, 36, &hb, h, sizeof h / sizeof h[0]);
                hdrs = rd_kafka_headers_new(nh);
                for (size_t j = 0; j < nh; j++)
                    rd_kafka_header_add(hdrs, h[j].name, -1, h[j].value, (ssize_t)h[j].len);
            }
            for (;;) {
                rd_kafka_resp_err_t e =
                    rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_KEY(r->key, r->klen),
                                      RD_KAFKA_V_VALUE((void *)(p->values.data + r->voff), r->vlen),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                      RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
                if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                    rd_kafka_poll(rk, 1);
                    continue;
                }
                if (e) die(rd_kafka_err2str(e));
                break;
            }
            sent++;
            if ((sent & 1023) == 0) rd_kafka_poll(rk, 0);
        }
    }
    rd_kafka_flush(rk, 30000);
    double t1 = now();
    if (atomic_load(&g_dr_err)) die("baseline deliveries failed");
    long long okn = atomic_load(&g_dr_ok) - base_ok;
    rd_kafka_destroy(rk);
    return (double)okn / (t1 - t0);
}

int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : 5;
    if (secs <= 0) secs = 5;
    char dir[] = "/tmp/bench_publish.XXXXXX", path[256];
    if (!mkdtemp(dir)) die("mkdtemp");
    snprintf(path, sizeof path, "%s/benchmark.json", dir);
    FILE *f = fopen(path, "w");
    fprintf(f,
            "{\"dataProductDescriptor\":\"1.0.0\",\"info\":{\"fullyQualifiedName\":"
            "\"urn:dpds:local:dataproducts:benchmark:1\",\"name\":\"benchmark\",\"version\":"
            "\"1.0.0\",\"domain\":\"bench\",\"owner\":{\"id\":\"bench\"}},\"interfaceComponents\":"
            "{\"outputPorts\":[{\"name\":\"readings\",\"version\":\"1.0.0\",\"promises\":{\"api\":"
            "{\"format\":\"avro\",\"schema\":%s}},\"x-portbroker\":{\"partitions\":6,"
            "\"eventTimeField\":\"at\"}}]}}",
            SCHEMA);
    fclose(f);
    pb_err_t err = {0};
    pb_config_t *cfg = pb_config_new();
    if (pb_config_set(cfg, "http.listen", "127.0.0.1:0", "bench", &err) ||
        pb_config_set(cfg, "products.dir", dir, "bench", &err) ||
        pb_config_set(cfg, "log.level", "warn", "bench", &err))
        die(err.msg);
    /* PB_BENCH_METRICS=false: the same run with metrics.enabled = false (overhead of counting). */
    const char *metrics = getenv("PB_BENCH_METRICS");
    if (metrics && pb_config_set(cfg, "metrics.enabled", metrics, "bench", &err)) die(err.msg);
    pb_log_configure(PB_LOG_ERROR, 0);
    if (pb_broker_start(cfg, NULL, NULL, &g_broker, &err)) die(err.msg);
    g_port = pb_http_port(g_broker->http);
    pthread_t bt;
    pthread_create(&bt, NULL, broker_main, NULL);
    pthread_setname_np(bt, "pb-loop");
    if (pthread_getcpuclockid(bt, &g_loop_clock)) die("pthread_getcpuclockid");
    for (int i = 0; i < 300 && http_get_status("/readyz") != 200; i++)
        usleep(100 * 1000);
    if (http_get_status("/readyz") != 200) die("broker not ready");
    const char *bootstrap = pb_kafka_cluster_bootstraps(g_broker->cluster);

    /* The records the broker would produce, for the baseline. Reading the registry from this
     * thread while the loop is idle. */
    pb_registry_version_t ver;
    if (pb_registry_get_version(pb_store_registry(g_broker->store), TOPIC "-value", -1, 0, &ver,
                                &err))
        die(err.msg);
    prepared_t prep = {0};
    prepare_records(ver.parsed, ver.id, 10000, &prep);
    char ds[300];
    snprintf(ds, sizeof ds, "%s/schemas/ids/%d", g_broker->registry_url, ver.id);
    pb_publish_stamp_t st = {
        .source = "urn:dpds:local:dataproducts:benchmark:1:outputports:readings",
        .type = "bench.Reading",
        .dataschema = ds,
        .contract = "urn:dpds:local:dataproducts:benchmark:1:outputports:readings@1.0.0",
        .recorded_time = "2026-11-21T10:00:00.000Z",
        .span = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    };
    printf("records: %zu-byte JSON records (with key), %d per request, %d connections; Avro value "
           "%zu bytes framed\n",
           (size_t)record_json((char[512]){0}, 512, 1), BATCH, CONNS, prep.recs[0].vlen);

    double base_h = run_baseline(bootstrap, &prep, &st, secs, 1);
    printf("baseline: bare librdkafka, same values, keys and headers   %10.0f rec/s\n", base_h);
    double base_nh = run_baseline(bootstrap, &prep, &st, secs, 0);
    printf("baseline: bare librdkafka, same values and keys, no headers %10.0f rec/s\n", base_nh);
    double pub = run_publish(secs);
    printf("publish:  HTTP POST, JSON, %d x %d records                  %10.0f rec/s\n", CONNS,
           BATCH, pub);
    printf("publish_ratio=%.2f\n", pub / base_h);
    printf("loop_cpu_us_per_record=%.2f\n", g_loop_cpu_us);
    printf("publish_ratio_vs_headerless=%.2f\n", pub / base_nh);
    fflush(stdout);

    /* Auth on vs off: a second gate reading a tokens file with this bench's token. */
    char token[128], hex[65], tpath[300];
    if (pb_auth_token_new(token, sizeof token, &err)) die(err.msg);
    pb_auth_token_hash_hex(token, hex);
    snprintf(tpath, sizeof tpath, "%s/tokens.txt", dir);
    f = fopen(tpath, "w");
    fprintf(f, "urn:dpds:local:dataproducts:benchmark:* sha256:%s\n", hex);
    fclose(f);
    pb_config_t *cfg_on = pb_config_new();
    if (pb_config_set(cfg_on, "auth.tokens.file", tpath, "bench", &err)) die(err.msg);
    pb_access_t *on = pb_access_new(cfg_on, &err), *off = g_broker->access;
    if (!on) die(err.msg);
    double r_off = 0, r_on = 0;
    /* The gate is swapped where the API and the publish path read it (pb_api_env_t). */
    for (int round = 0; round < 2; round++) {
        g_broker->api.access = g_broker->api.publish.access = off;
        g_auth_header[0] = '\0';
        r_off += run_publish(secs);
        g_broker->api.access = g_broker->api.publish.access = on;
        snprintf(g_auth_header, sizeof g_auth_header, "Authorization: Bearer %s\r\n", token);
        r_on += run_publish(secs);
    }
    printf("publish:  auth off                                          %10.0f rec/s\n", r_off / 2);
    printf("publish:  auth on (bearer token, tokens file)               %10.0f rec/s\n", r_on / 2);
    printf("auth_overhead_pct=%.1f\n", (r_off - r_on) / r_off * 100.0);
    fflush(stdout);
    remove(tpath);
    /* The broker and cluster die with the process; nothing to keep. */
    remove(path);
    rmdir(dir);
    _exit(0);
}
