/*
 * sub.c — subscriber streams, cursors and the lag poller (contract in sub.h). Streams are group
 * members whose records are framed (JSON, NDJSON, SSE) onto the HTTP connection with bounded
 * buffering; the lag poller's sweeps run as PB_JOB_LAG jobs (one at a time, every
 * sub.lag.interval.ms) whose results are applied on the loop thread.
 * Must not: include librdkafka or libevent, wait on the network on the loop thread, or reach into
 * the broker (pb_sub_env_t is what it reads).
 */
#include "sub.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "api.h"
#include "codec.h"
#include "gzip.h"
#include "hash.h"
#include "jobs.h"
#include "jsontext.h"
#include "log.h"
#include "metrics.h"
#include "timefmt.h"
#include "portbroker/wire.h"

#define JSON_TYPE "application/json"
#define TICK_MS 200
#define ROUNDS_PER_SERVE                                                                           \
    16 /* batches one stream may write per wake-up before others get a turn                        \
        */
#define MAX_PARTS 1024
#define PAUSE_AFTER_MS 500  /* a connection over sub.max.buffered.bytes this long: pause */
#define JOIN_GRACE_MS 15000 /* timeout_ms starts at the first assignment, or after this */
#define LAG_MAX_PARTS 256   /* partitions measured per topic */
#define LAG_TOUCHED_MAX 64  /* groups committed through this instance remembered between sweeps */

/* ---- pure parts ----------------------------------------------------------------------------- */

static int parse_int(const char *v, int64_t lo, int64_t hi, int64_t *out) {
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || errno || n < lo || n > hi) return -1;
    *out = n;
    return 0;
}

int pb_sub_parse_params(const char *(*get)(void *ctx, const char *name), void *ctx, int max_batch,
                        pb_sub_params_t *out, pb_err_t *err) {
    *out = (pb_sub_params_t){.batch = max_batch};
    const char *v = get(ctx, "format");
    if (v && strcmp(v, "ndjson") && strcmp(v, "sse"))
        return pb_err_set(err, PB_ERR_INVALID, "format: '%.64s' is not one of ndjson, sse", v);
    out->sse = v && !strcmp(v, "sse");
    int64_t n = 0;
    if ((v = get(ctx, "batch"))) {
        if (parse_int(v, 1, max_batch, &n))
            return pb_err_set(err, PB_ERR_INVALID,
                              "batch: '%.64s' is not an integer in [1, %d] (records per write; "
                              "the limit is sub.max.batch)",
                              v, max_batch);
        out->batch = (int)n;
    }
    if ((v = get(ctx, "timeout_ms"))) {
        if (parse_int(v, 0, 86400000, &n))
            return pb_err_set(err, PB_ERR_INVALID,
                              "timeout_ms: '%.64s' is not an integer in [0, 86400000] "
                              "(milliseconds without records before the stream ends; 0: never)",
                              v);
        out->timeout_ms = n;
    }
    if ((v = get(ctx, "max_records"))) {
        if (parse_int(v, 1, 1000000000, &n))
            return pb_err_set(err, PB_ERR_INVALID,
                              "max_records: '%.64s' is not an integer in [1, 1000000000] (the "
                              "stream ends after that many records)",
                              v);
        out->max_records = n;
    }
    if ((v = get(ctx, "from"))) {
        if (!strcmp(v, "committed")) {
            out->from = PB_SUB_FROM_COMMITTED;
        } else if (!strcmp(v, "earliest")) {
            out->from = PB_SUB_FROM_EARLIEST;
        } else if (!strcmp(v, "latest")) {
            out->from = PB_SUB_FROM_LATEST;
        } else if (!strncmp(v, "time:", 5)) {
            pb_err_t e = {0};
            if (pb_timefmt_parse(v + 5, strlen(v + 5), &out->from_ms, &e))
                return pb_err_set(err, PB_ERR_INVALID,
                                  "from: '%.64s' is not time:RFC3339 (e.g. "
                                  "time:2026-01-02T03:04:05Z): %s",
                                  v, e.msg);
            out->from = PB_SUB_FROM_TIME;
        } else if (!strncmp(v, "offsets:", 8)) {
            pb_err_t e = {0};
            if (pb_sub_parse_cursor(v + 8, out->from_offsets, PB_SUB_MAX_CURSOR,
                                    &out->n_from_offsets, &e))
                return pb_err_set(err, PB_ERR_INVALID, "from: '%.64s': %s", v, e.msg);
            out->from = PB_SUB_FROM_OFFSETS;
        } else {
            return pb_err_set(err, PB_ERR_INVALID,
                              "from: '%.64s' is not one of committed, earliest, latest, "
                              "time:RFC3339, offsets:PARTITION:OFFSET[,PARTITION:OFFSET...]",
                              v);
        }
    }
    v = get(ctx, "commit");
    if (v && strcmp(v, "auto") && strcmp(v, "manual"))
        return pb_err_set(err, PB_ERR_INVALID, "commit: '%.64s' is not one of auto, manual", v);
    out->manual = v && !strcmp(v, "manual");
    return pb_codec_encoding(get(ctx, "encoding"), &out->avro, err);
}

int pb_sub_parse_cursor(const char *text, pb_kafka_tp_t *out, size_t cap, size_t *n,
                        pb_err_t *err) {
    *n = 0;
    const char *p = text;
    if (!*p)
        return pb_err_set(err, PB_ERR_INVALID,
                          "empty cursor: expected PARTITION:OFFSET[,PARTITION:OFFSET...]");
    for (size_t item = 0;; item++) {
        char *end = NULL;
        errno = 0;
        long long part = *p >= '0' && *p <= '9' ? strtoll(p, &end, 10) : -1;
        if (part < 0 || errno || part > INT32_MAX || *end != ':')
            return pb_err_set(err, PB_ERR_INVALID,
                              "item %zu: expected PARTITION:OFFSET with a partition in [0, "
                              "2147483647]",
                              item + 1);
        p = end + 1;
        errno = 0;
        long long off = *p >= '0' && *p <= '9' ? strtoll(p, &end, 10) : -1;
        if (off < 0 || errno || (*end && *end != ','))
            return pb_err_set(err, PB_ERR_INVALID,
                              "item %zu (partition %lld): the offset is not a non-negative "
                              "integer (the next offset to read)",
                              item + 1, part);
        for (size_t i = 0; i < *n; i++)
            if (out[i].partition == (int32_t)part)
                return pb_err_set(err, PB_ERR_INVALID, "item %zu: partition %lld appears twice",
                                  item + 1, part);
        if (*n >= cap) return pb_err_set(err, PB_ERR_INVALID, "more than %zu partitions", cap);
        out[(*n)++] = (pb_kafka_tp_t){(int32_t)part, off, NULL};
        if (!*end) return 0;
        p = end + 1;
    }
}

void pb_sub_lag_backoff(unsigned prev_every, int none, unsigned sweep, unsigned *every,
                        unsigned *next) {
    if (!none) {
        *every = *next = 0; /* a commit (or no answer): ask at every sweep */
        return;
    }
    *every = prev_every ? prev_every * 2 : PB_SUB_LAG_UNCOMMITTED_FIRST;
    if (*every > PB_SUB_LAG_UNCOMMITTED_MAX) *every = PB_SUB_LAG_UNCOMMITTED_MAX;
    *next = sweep + *every;
}

int pb_sub_format_cursor(const pb_kafka_tp_t *c, size_t n, pb_buf_t *out) {
    for (size_t i = 0; i < n; i++)
        if (pb_buf_printf(out, "%s%" PRId32 ":%" PRId64, i ? "," : "", c[i].partition,
                          c[i].offset) < 0)
            return PB_ERR_NOMEM;
    return 0;
}

/* s[0..n) as a JSON string (jsontext's text rule: bytes that are not UTF-8 as U+0080..U+00FF). */
static int json_str(pb_buf_t *out, const void *s, size_t n) {
    return pb_jsontext_string(out, s, n, 0);
}

/* The decoded value, or an "error" member saying why there is none. */
static int render_value(const pb_registry_t *reg, const pb_kafka_record_t *rec, int avro,
                        pb_buf_t *out, uint32_t *schema_id) {
    pb_err_t err = {0};
    uint32_t id = 0;
    const uint8_t *payload = NULL;
    size_t plen = 0;
    const pb_schema_t *schema = NULL;
    size_t mark = out->len;
    if (!rec->value) {
        pb_err_set(&err, PB_ERR_INVALID, "the record has no value (a tombstone)");
    } else if (!pb_codec_wire_parse(rec->value, rec->vlen, &id, &payload, &plen, &err)) {
        /* The registry's schemas are an array indexed by id: the lookup is the cache. */
        if (pb_registry_schema_by_id(reg, (int)id, NULL, &schema, &err) == 0 && schema) {
            if (pb_buf_puts(out, "\"value\":")) return PB_ERR_NOMEM;
            int rc = pb_codec_avro_to_json_text(schema, payload, plen, avro ? 0u : PB_CODEC_NATURAL,
                                                out, &err);
            if (!rc) {
                *schema_id = id;
                return 0;
            }
            if (rc == PB_ERR_NOMEM) return rc;
            out->len = mark;
            pb_err_prefix(&err, "cannot decode with schema %" PRIu32 ": ", id);
        } else {
            pb_err_set(&err, PB_ERR_NOT_FOUND, "schema id %" PRIu32 " is not in the registry", id);
        }
    } else {
        pb_err_prefix(&err, "not a Confluent wire frame: ");
    }
    int rc = pb_buf_puts(out, "\"value\":null,\"error\":");
    if (!rc) rc = json_str(out, err.msg, strlen(err.msg));
    *schema_id = id;
    return rc ? PB_ERR_NOMEM : 0;
}

/* The key schema of the output port that published rec (its ce_source header, which the broker
 * owns), when that schema encodes keys as Avro binary (not a plain string or bytes: those keys
 * are their own bytes, as publish sends them). NULL otherwise. */
static const pb_schema_t *key_schema_of(const pb_registry_t *reg, const pb_kafka_record_t *rec) {
    const char *name;
    const void *val;
    size_t vlen;
    for (size_t i = 0; pb_kafka_record_header(rec, i, &name, &val, &vlen) == 0; i++) {
        if (strcmp(name, PB_HDR_CE_SOURCE) != 0) continue;
        char urn[PB_ADDR_URN_MAX];
        if (!val || vlen >= sizeof urn) return NULL;
        memcpy(urn, val, vlen);
        urn[vlen] = '\0';
        const pb_port_t *port = pb_registry_port(reg, urn);
        const pb_schema_t *ks = port && port->kind == PB_PORT_OUTPUT ? port->key_parsed : NULL;
        return pb_schema_raw_key(ks) ? NULL : ks;
    }
    return NULL;
}

/* The key: null; decoded with the publishing port's key schema like a value (natural JSON, or
 * Avro's JSON encoding with avro); else (no such schema, or bytes it cannot decode, e.g. written
 * to the topic by another producer) a JSON string of its bytes. */
static int render_key(const pb_registry_t *reg, const pb_kafka_record_t *rec, int avro,
                      pb_buf_t *out) {
    if (!rec->key) return pb_buf_puts(out, "null") ? PB_ERR_NOMEM : 0;
    const pb_schema_t *ks = key_schema_of(reg, rec);
    if (ks) {
        pb_err_t err = {0};
        size_t mark = out->len;
        int rc = pb_codec_avro_to_json_text(ks, rec->key, rec->klen, avro ? 0u : PB_CODEC_NATURAL,
                                            out, &err);
        if (rc != PB_ERR_INVALID && rc != PB_ERR_TOO_LARGE) return rc;
        out->len = mark;
    }
    return json_str(out, rec->key, rec->klen);
}

int pb_sub_render(const pb_registry_t *reg, const pb_kafka_record_t *rec, int sse, int avro,
                  pb_buf_t *out) {
    size_t mark = out->len;
    char tbuf[PB_TIMEFMT_LEN + 1] = "";
    int rc = 0;
    if (sse)
        rc =
            pb_buf_printf(out, "id: %" PRId32 ":%" PRId64 "\nevent: record\ndata: ", rec->partition,
                          rec->offset) < 0;
    if (!rc)
        rc = pb_buf_printf(out, "{\"partition\":%" PRId32 ",\"offset\":%" PRId64 ",\"key\":",
                           rec->partition, rec->offset) < 0;
    if (!rc) rc = render_key(reg, rec, avro, out);
    uint32_t sid = 0;
    if (!rc) rc = pb_buf_putc(out, ',') || render_value(reg, rec, avro, out, &sid);
    if (!rc) rc = pb_buf_puts(out, ",\"headers\":{");
    const char *name;
    const void *val;
    size_t vlen;
    int64_t event_ms = -1;
    for (size_t i = 0; !rc && pb_kafka_record_header(rec, i, &name, &val, &vlen) == 0; i++) {
        if (i) rc = pb_buf_putc(out, ',');
        if (!rc) rc = json_str(out, name, strlen(name));
        if (!rc) rc = pb_buf_putc(out, ':');
        if (!rc) rc = val ? json_str(out, val, vlen) : pb_buf_puts(out, "null");
        if (val && !strcmp(name, "ce_time")) pb_timefmt_parse(val, vlen, &event_ms, NULL);
    }
    if (!rc)
        rc = sid ? pb_buf_printf(out, "},\"schema_id\":%" PRIu32 ",\"time\":", sid) < 0
                 : pb_buf_puts(out, "},\"schema_id\":null,\"time\":");
    if (event_ms < 0) event_ms = rec->timestamp_ms;
    if (!rc) {
        if (event_ms >= 0 && pb_timefmt_format(event_ms, tbuf))
            rc = pb_buf_printf(out, "\"%s\"}", tbuf) < 0;
        else
            rc = pb_buf_puts(out, "null}");
    }
    if (!rc) rc = pb_buf_puts(out, sse ? "\n\n" : "\n");
    if (rc) {
        out->len = mark;
        return PB_ERR_NOMEM;
    }
    return 0;
}

/* ---- replies -------------------------------------------------------------------------------- */

/* The API's JSON replies (api.h); the error code of a stream error is its HTTP status. */
#define reply_json pb_api_reply_json
#define reply_error(req, status, ...) pb_api_reply_error(req, status, status, __VA_ARGS__)

/* ---- streams -------------------------------------------------------------------------------- */

typedef struct part {
    int32_t partition;
    int64_t delivered; /* next offset after the last record written to the connection; -1 none */
    int64_t drained;   /* the same for records handed to the kernel */
    int64_t committed; /* last offset this stream committed; -1 none */
} part_t;

typedef struct stream {
    pb_sub_t *sub;
    struct stream *next;
    uint64_t id;
    char id_text[32];
    pb_http_req_t *req; /* NULL once the HTTP side is finished */
    char *port, *topic, *group;
    pb_metrics_port_t *mport;
    pb_sub_params_t prm;
    pb_kafka_stream_t *kc;
    part_t *parts;
    size_t n_parts;
    int paused;
    int64_t blocked_ms;    /* since when the connection holds more than sub.max.buffered.bytes */
    int gone;              /* the client left (or was dropped: why says which) */
    char why[200];         /* why the stream ended, for the log line that closes it ("" = over) */
    int64_t last_drain_ms; /* when queued bytes last went out (write-timeout diagnosis) */
    int ending;            /* timeout reached: waiting for queued bytes to drain */
    int dead;              /* to be freed by reap() */
    int64_t last_record_ms, last_write_ms, last_commit_ms;
    int bound;         /* a subscription bound its port when last looked (pb_sub_reconcile) */
    int assigned_once; /* timeout_ms counts from the first assignment (joining takes seconds) */
    int64_t start_ms;  /* creation, then the first assignment: a bounded poll's clock */
    uint64_t records;
    pb_kafka_tp_t *seed; /* where it started per partition (from=offsets|time, Last-Event-ID) */
    size_t n_seed;
    pb_gzip_stream_t *gz; /* Content-Encoding: gzip (the client's Accept-Encoding asked for it) */
    pb_buf_t out, zout;   /* rendered records; their compression when gz */
} stream_t;

/* A request waiting for an offset job (run on a jobs worker: PB_JOB_OFFSETS for a stream's start
 * positions, PB_JOB_CLOSE for a cursor commit): a stream about to open (st) or a cursor commit. */
typedef struct pending {
    struct pending *next;
    pb_sub_t *sub;
    pb_kafka_job_t *job;
    pb_job_t *handle; /* while queued or running */
    int finished;     /* the job's done callback ran: its result can be read */
    int orphan;       /* the sub gave up on it (shutdown): the done callback frees it */
    pb_http_req_t *req;
    stream_t *st; /* NULL: a cursor commit */
    char *group;  /* cursor commit: the group, for the reply */
} pending_t;

/* Lag poller's view of one binding, and the last measurement. */
typedef struct lag_target {
    int id;
    char *to, *out_topic, *in_topic, *route_group, *sub_group;
    /* Committed offsets the sweep need not ask Kafka for, per side (0 route, 1 subscribers):
     * the route group's as this process's routers know them, or none for a subscriber group that
     * had no commit and no stream here (backed off: pb_sub_lag_backoff). */
    int64_t *known[2];
    size_t n_known[2]; /* 0: Kafka is asked */
    int parts[2];      /* partitions of out_topic and in_topic as the routers know them, -1 */
    unsigned sweep;    /* the sweep's number (pb_sub.lag_sweeps) */
    unsigned sub_every, sub_next; /* the subscriber group's back-off before this sweep */
    uint64_t sub_key;             /* group_key(sub_group) */
} lag_target_t;

typedef struct lag_side {
    int known;
    pb_kafka_lag_part_t *parts; /* n of them, one per partition of the topic */
    size_t n;
    char error[256];
} lag_side_t;

typedef struct lag_result {
    int id;
    int64_t measured_ms; /* wall clock */
    lag_side_t route, subs;
    pb_metrics_lag_t *m[2]; /* the route and subscriber series (stable: found once per binding) */
    /* The subscriber group's back-off while it has no commit: asked again at sweep sub_next,
     * sub_every sweeps after the last ask (pb_sub_lag_backoff); 0, 0: at every sweep. */
    unsigned sub_every, sub_next;
    uint64_t sub_key; /* group_key of the group the back-off is for (a binding's input topic may
                       * change under the same id) */
} lag_result_t;

/* One sweep of the lag poller: a PB_JOB_LAG job over copies of the bindings. */
typedef struct lag_job {
    pb_sub_t *sub; /* the loop's, for lag_done only (never read by the work) */
    pb_kafka_t *kafka;
    const pb_config_t *cfg;
    pb_kafka_lag_t *probe; /* lent by the sub for the sweep (NULL: the work creates it) */
    lag_target_t *t;
    size_t n;
    lag_result_t *res; /* n of them, filled by the work */
    atomic_int stop;   /* the sub is going: end the sweep between look-ups */
    int64_t took_ms;   /* the sweep's duration */
    size_t asked[2];   /* route, subscriber groups whose committed offsets were asked of Kafka */
    /* Output partitions' watermarks from the fan-out reader's last fetch answers (no request),
     * their topic names owned by names. */
    pb_kafka_lag_wm_t *wm;
    size_t n_wm;
    char **names;
    size_t n_names;
    int64_t wm_us; /* taking them (loop thread) */
    /* The fan-out reader's parked partitions (topics copied, parts their topics' partition counts):
     * the sweep asks their high watermarks (high -1: none), and lag_done has the routers read
     * again those written to while parked. */
    pb_kafka_lag_wm_t *pk;
    int *pk_parts;
    size_t n_pk;
    size_t woke; /* parked partitions read again */
    pb_kafka_lag_sweep_stats_t st;
    char error[256]; /* the probe could not be made */
} lag_job_t;

struct pb_sub {
    pb_sub_env_t env; /* borrowed pointers (sub.h) */
    int wake[2];
    stream_t *streams;
    size_t n_streams;
    uint64_t next_id;
    pb_loop_timer_t *tick;
    pending_t *pending; /* requests waiting for offset jobs */
    size_t n_pending;
    /* lag poller: one sweep at a time as a PB_JOB_LAG job (no thread of its own) */
    pb_kafka_lag_t *probe; /* between sweeps (lent to the running one) */
    pb_job_t *lag_job;     /* the sweep under way, NULL: none */
    lag_job_t *lag_running;
    int64_t lag_next_ms; /* monotonic time of the next sweep */
    int lag_again;       /* the bindings changed during the sweep: another one right after it */
    unsigned lag_sweeps; /* sweeps started */
    /* Subscriber groups whose back-off is reset at the next sweep: these (a cursor commit through
     * this instance), or all of them (more than LAG_TOUCHED_MAX such groups). A new binding has
     * none (a new id); one whose input topic changed under its id is reset by its group_key. */
    int lag_reset_all;
    char *lag_touched[LAG_TOUCHED_MAX];
    size_t n_touched;
    int stopping;
    lag_result_t *results; /* the last sweep's */
    size_t n_results;
};

static void close_work(void *arg) { pb_kafka_closer_run(arg); }
static void close_done(void *arg, int cancelled) {
    (void)cancelled;
    pb_kafka_closer_free(arg);
}

/* Commit a stream's final cursors, leave the group and free the consumer off the loop, as a
 * PB_JOB_CLOSE job (inline when no job can be queued). */
static void close_async(pb_sub_t *s, pb_kafka_closer_t *c) {
    if (c && !pb_jobs_submit(s->env.jobs, PB_JOB_CLOSE, close_work, close_done, c))
        pb_kafka_closer_free(c);
}

static const pb_registry_t *reg_of(const pb_sub_t *s) { return pb_store_registry(s->env.store); }

static part_t *part_of(stream_t *st, int32_t p, int create) {
    for (size_t i = 0; i < st->n_parts; i++)
        if (st->parts[i].partition == p) return &st->parts[i];
    if (!create) return NULL;
    part_t *np = realloc(st->parts, (st->n_parts + 1) * sizeof *np);
    if (!np) return NULL;
    st->parts = np;
    st->parts[st->n_parts] = (part_t){p, -1, -1, -1};
    return &st->parts[st->n_parts++];
}

/* Offsets to commit: drained (auto) beyond what was committed. */
static size_t pending_commits(stream_t *st, int32_t *ps, int64_t *os, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < st->n_parts && n < cap; i++) {
        part_t *p = &st->parts[i];
        if (p->drained > p->committed) {
            ps[n] = p->partition;
            os[n++] = p->drained;
        }
    }
    return n;
}

static void commit_auto(stream_t *st, int async) {
    int32_t ps[MAX_PARTS];
    int64_t os[MAX_PARTS];
    if (st->prm.manual || !st->kc) return;
    size_t n = pending_commits(st, ps, os, MAX_PARTS);
    if (!n) return;
    pb_err_t err = {0};
    if (pb_kafka_stream_commit(st->kc, ps, os, n, async, &err)) {
        pb_log_rl(WARN, "sub", "stream %s on %s: %s", st->id_text, st->topic, err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++)
        part_of(st, ps[i], 0)->committed = os[i];
}

static void on_rebalance(void *arg, int assigned, const int32_t *partitions, size_t n) {
    stream_t *st = arg;
    if (assigned) {
        for (size_t i = 0; i < n; i++)
            part_of(st, partitions[i], 1);
        if (!st->assigned_once) st->last_record_ms = st->start_ms = pb_loop_now_ms();
        st->assigned_once = 1;
        pb_log(DEBUG, "sub", "stream %s: %zu partitions of %s assigned", st->id_text, n, st->topic);
        return;
    }
    /* Revoked: commit what the client has (auto), then forget those partitions. */
    commit_auto(st, 0);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < st->n_parts; j++)
            if (st->parts[j].partition == partitions[i]) {
                st->parts[j] = st->parts[--st->n_parts];
                break;
            }
    pb_log(DEBUG, "sub", "stream %s: %zu partitions of %s revoked", st->id_text, n, st->topic);
}

/* End the HTTP side now and release the consumer (committing per mode); mark for reap. */
static void stream_finish(stream_t *st) {
    pb_sub_t *s = st->sub;
    if (st->dead) return;
    st->dead = 1;
    if (st->kc) {
        int32_t ps[MAX_PARTS];
        int64_t os[MAX_PARTS];
        size_t n = st->prm.manual ? 0 : pending_commits(st, ps, os, MAX_PARTS);
        close_async(s, pb_kafka_stream_close(st->kc, ps, os, n));
        st->kc = NULL;
    }
    if (st->req) {
        pb_http_req_t *r = st->req;
        pb_buf_reset(&st->zout);
        if (st->gz && !st->gone && pb_gzip_stream_finish(st->gz, &st->zout) == 0)
            pb_http_stream_write(r, st->zout.data, st->zout.len); /* the gzip trailer */
        st->req = NULL;
        pb_http_stream_end(r);
    }
    pb_log(INFO, "sub", "stream %s on %s ended (%" PRIu64 " records, %s)", st->id_text, st->port,
           st->records,
           st->why[0] ? st->why
           : st->gone ? "client left"
                      : "stream over");
}

static void stream_free(stream_t *st) {
    free(st->seed);
    pb_gzip_stream_destroy(st->gz);
    pb_buf_free(&st->zout);
    free(st->port);
    free(st->topic);
    free(st->group);
    free(st->parts);
    pb_buf_free(&st->out);
    free(st);
}

/* Free finished streams and closers whose consumers have left. */
static void reap(pb_sub_t *s) {
    for (stream_t **pp = &s->streams; *pp;) {
        stream_t *st = *pp;
        if (st->dead) {
            *pp = st->next;
            s->n_streams--;
            stream_free(st);
        } else {
            pp = &st->next;
        }
    }
}

static int limit_reached(const stream_t *st) {
    return st->prm.max_records && st->records >= (uint64_t)st->prm.max_records;
}

/* End the stream once what it wrote has been handed to the kernel (commit=auto commits exactly
 * that), or now when nothing is queued. */
static void end_when_drained(stream_t *st) {
    if (st->dead) return;
    st->ending = 1;
    if (!st->req || pb_http_stream_queued(st->req) == 0) {
        for (size_t i = 0; i < st->n_parts; i++)
            st->parts[i].drained = st->parts[i].delivered;
        stream_finish(st);
    }
}

static int tp_cmp(const void *a, const void *b) {
    const pb_kafka_tp_t *x = a, *y = b;
    return (x->partition > y->partition) - (x->partition < y->partition);
}

/* The stream's cursor: per partition the next offset to read after what it delivered, else where
 * it was told to start. Returns the count put in c[0..cap). */
static size_t stream_cursor(const stream_t *st, pb_kafka_tp_t *c, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < st->n_parts && n < cap; i++)
        if (st->parts[i].delivered >= 0)
            c[n++] = (pb_kafka_tp_t){st->parts[i].partition, st->parts[i].delivered, NULL};
    size_t had = n;
    for (size_t i = 0; i < st->n_seed && n < cap; i++) {
        int dup = 0;
        for (size_t j = 0; j < had && !dup; j++)
            dup = c[j].partition == st->seed[i].partition;
        if (!dup) c[n++] = st->seed[i];
    }
    qsort(c, n, sizeof *c, tp_cmp);
    return n;
}

/* Render rec onto the stream's output: ndjson, or SSE with the stream's cursor after this record as
 * the event id (so Last-Event-ID resumes exactly after it). */
static int render(stream_t *st, const pb_kafka_record_t *rec) {
    part_t *p = part_of(st, rec->partition, 1);
    if (!p) return PB_ERR_NOMEM;
    int64_t was = p->delivered;
    p->delivered = rec->offset + 1;
    size_t mark = st->out.len;
    int rc = 0;
    if (st->prm.sse) {
        pb_kafka_tp_t c[MAX_PARTS];
        size_t n = stream_cursor(st, c, MAX_PARTS);
        rc = pb_buf_puts(&st->out, "id: ") || pb_sub_format_cursor(c, n, &st->out) ||
             pb_buf_puts(&st->out, "\nevent: record\ndata: ");
    }
    if (!rc) rc = pb_sub_render(reg_of(st->sub), rec, 0, st->prm.avro, &st->out);
    if (!rc && st->prm.sse) rc = pb_buf_putc(&st->out, '\n');
    if (rc) {
        st->out.len = mark;
        p->delivered = was;
        return PB_ERR_NOMEM;
    }
    return 0;
}

/* Write data[0..len) to the connection, through the stream's compressor when it has one. */
static int stream_write(stream_t *st, const void *data, size_t len) {
    if (!st->gz) return pb_http_stream_write(st->req, data, len);
    pb_buf_reset(&st->zout);
    if (pb_gzip_stream_write(st->gz, data, len, &st->zout)) return PB_ERR_NOMEM;
    int rc = pb_http_stream_write(st->req, st->zout.data, st->zout.len);
    if (st->zout.cap > 4 * (size_t)st->sub->env.cfg->sub_max_buffered_bytes) pb_buf_free(&st->zout);
    return rc;
}

static void write_out(stream_t *st) {
    if (!st->out.len || !st->req) return;
    if (stream_write(st, st->out.data, st->out.len) == 0) st->last_write_ms = pb_loop_now_ms();
    pb_buf_reset(&st->out);
}

/* Does a subscription bind input port fqn (as its "to")? */
static int port_bound(const pb_registry_t *r, const char *fqn) {
    size_t nb = pb_registry_binding_count(r);
    for (size_t i = 0; i < nb; i++)
        if (strcmp(pb_registry_binding_at(r, i)->to, fqn) == 0) return 1;
    return 0;
}

/* End st because what it reads went away: a last event saying why (NDJSON: a line
 * {"end": reason, "message": ..., "records": N}; SSE: `event: end` with that object as data),
 * then the end once it has been handed to the kernel. reason is a fixed word ("port deleted",
 * "subscription deleted"); message is plain text. */
static void end_with_event(stream_t *st, const char *reason, const char *message) {
    if (st->dead || st->ending) return;
    snprintf(st->why, sizeof st->why, "%s: %s", reason, message);
    if (st->req && !st->gone) {
        pb_buf_t ev = {0};
        int rc = st->prm.sse ? pb_buf_puts(&ev, "event: end\ndata: ") : 0;
        if (!rc) rc = pb_buf_puts(&ev, "{\"end\":") || json_str(&ev, reason, strlen(reason));
        if (!rc) rc = pb_buf_puts(&ev, ",\"message\":") || json_str(&ev, message, strlen(message));
        if (!rc) rc = pb_buf_printf(&ev, ",\"records\":%" PRIu64 "}\n", st->records);
        if (!rc && st->prm.sse) rc = pb_buf_putc(&ev, '\n');
        write_out(st); /* records rendered and not yet written go first */
        if (!rc) stream_write(st, ev.data, ev.len);
        pb_buf_free(&ev);
    }
    end_when_drained(st);
}

/* Write what the consumer has, batch by batch, until it has nothing, the connection holds more
 * than sub.max.buffered.bytes (then pause), or this stream had its share of the turn. Returns 1
 * when records are probably left. */
static int serve_stream(stream_t *st) {
    pb_sub_t *s = st->sub;
    size_t max_buffered = (size_t)s->env.cfg->sub_max_buffered_bytes;
    if (st->dead || st->gone || st->ending || !st->kc || !st->req) return 0;
    for (int round = 0; round < ROUNDS_PER_SERVE; round++) {
        if (pb_http_stream_queued(st->req) > max_buffered) {
            /* Stop taking records until the connection drains (on_drain serves again). Only a
             * client that stays behind gets its partitions paused (on_tick): pausing drops
             * librdkafka's prefetched records, too costly for a brief hiccup. */
            if (!st->blocked_ms) st->blocked_ms = pb_loop_now_ms();
            return 0;
        }
        int n = 0;
        pb_kafka_record_t rec = {0};
        while (n < st->prm.batch && !limit_reached(st) && pb_kafka_stream_poll(st->kc, &rec)) {
            if (st->dead || !st->kc) { /* a rebalance callback cannot end us, but be safe */
                pb_kafka_record_release(&rec);
                return 0;
            }
            if (render(st, &rec) == 0) {
                pb_metrics_count(st->mport, PB_METRICS_OUT, PB_METRICS_OK, 1, rec.vlen);
                st->records++;
            } else {
                pb_log_rl(ERROR, "sub", "stream %s: out of memory rendering a record", st->id_text);
            }
            pb_kafka_record_release(&rec);
            n++;
        }
        if (n) {
            st->last_record_ms = pb_loop_now_ms();
            write_out(st);
        }
        if (limit_reached(st)) {
            /* max_records: the rest stays in Kafka (prefetched records are dropped, never
             * committed) for the next poll of the group. */
            end_when_drained(st);
            return 0;
        }
        if (!n) return 0;
    }
    return 1;
}

static void kick(pb_sub_t *s);

static void serve_all(pb_sub_t *s) {
    int more = 0;
    for (stream_t *st = s->streams; st; st = st->next)
        more |= serve_stream(st);
    reap(s);
    if (more) kick(s);
}

static void on_kick(void *arg) {
    pb_sub_t *s = arg;
    serve_all(s);
}

/* Serve again soon (records were left after a stream's turn). */
static void kick(pb_sub_t *s) {
    char c = 'k';
    /* The wake pipe is non-blocking: a full pipe already means "serve again". */
    if (write(s->wake[1], &c, 1) < 0) {
    }
}

static void pending_serve(pb_sub_t *s, int all);

static void on_wake(void *arg) {
    pb_sub_t *s = arg;
    char drain[256];
    while (read(s->wake[0], drain, sizeof drain) > 0) {
    }
    if (s->pending) pending_serve(s, 0);
    on_kick(s);
}

static void on_drain(pb_http_req_t *r, void *arg) {
    (void)r;
    stream_t *st = arg;
    st->last_drain_ms = pb_loop_now_ms();
    for (size_t i = 0; i < st->n_parts; i++)
        st->parts[i].drained = st->parts[i].delivered;
    if (st->ending) {
        stream_finish(st);
        kick(st->sub); /* reap */
        return;
    }
    st->blocked_ms = 0;
    if (st->paused) {
        pb_kafka_stream_pause(st->kc, 0);
        st->paused = 0;
        pb_log(DEBUG, "sub", "stream %s resumed", st->id_text);
    }
    kick(st->sub);
}

static void on_client_close(pb_http_req_t *r, void *arg) {
    stream_t *st = arg;
    st->gone = 1;
    /* Bytes still queued and none drained for http.timeout.ms: the write timeout dropped a client
     * that stopped reading; otherwise the client closed the connection. */
    size_t queued = pb_http_stream_unsent(r);
    int64_t t = st->sub->env.cfg->http_timeout_ms, quiet = pb_loop_now_ms() - st->last_drain_ms;
    if (queued && quiet >= t - 50)
        snprintf(st->why, sizeof st->why,
                 "write timeout: the client read nothing for http.timeout.ms = %" PRId64
                 " ms with %zu bytes queued",
                 t, queued);
    else
        snprintf(st->why, sizeof st->why, "client left");
    st->req = NULL;
    pb_http_stream_end(r);
    stream_finish(st);
    kick(st->sub); /* freed by reap(), outside this callback */
}

static void lag_start(pb_sub_t *s);
static void lag_touch(pb_sub_t *s, const char *group);

static void reap_work(void *arg) {
    pb_kafka_committers_reap(arg);
    pb_kafka_reader_reap(arg);
}

/* Close the group committers unused past sub.commit.client.idle.ms and the offset reader when it
 * is due (idle, or too many topics: pb_kafka_reader_state), as a PB_JOB_CLOSE job (the worker
 * that runs cursor commits; while commits are queued there, the next tick tries again). */
static void committers_reap(pb_sub_t *s) {
    size_t expired = 0;
    if (s->stopping || !s->env.kafka || pb_jobs_pending(s->env.jobs, PB_JOB_CLOSE)) return;
    int due = pb_kafka_committers_open(s->env.kafka, &expired) && expired;
    if (!due && !pb_kafka_reader_state(s->env.kafka, NULL)) return;
    pb_jobs_submit(s->env.jobs, PB_JOB_CLOSE, reap_work, NULL, s->env.kafka);
}

static void on_tick(void *arg) {
    pb_sub_t *s = arg;
    int64_t now = pb_loop_now_ms();
    const pb_config_t *cfg = s->env.cfg;
    for (stream_t *st = s->streams; st; st = st->next) {
        if (st->dead) continue;
        if (st->blocked_ms && !st->paused && st->kc && now - st->blocked_ms >= PAUSE_AFTER_MS) {
            pb_kafka_stream_pause(st->kc, 1);
            st->paused = 1;
            pb_log(DEBUG, "sub", "stream %s paused: the client is not reading", st->id_text);
        }
        if (now - st->last_commit_ms >= cfg->sub_commit_interval_ms) {
            commit_auto(st, 1);
            st->last_commit_ms = now;
        }
        /* Before the first assignment, allow the group a join (a stream beyond the partition
         * count may never get one: it still ends). */
        int64_t idle_limit = st->prm.timeout_ms + (st->assigned_once ? 0 : JOIN_GRACE_MS);
        /* A bounded poll (max_records) lasts timeout_ms in all; a plain stream ends after
         * timeout_ms without records. */
        int64_t since = st->prm.max_records ? st->start_ms : st->last_record_ms;
        if (st->prm.timeout_ms && !st->ending && now - since >= idle_limit) {
            snprintf(st->why, sizeof st->why,
                     st->prm.max_records ? "bounded poll over: timeout_ms = %" PRId64 " ms elapsed"
                                         : "idle: no record for timeout_ms = %" PRId64 " ms",
                     st->prm.timeout_ms);
            end_when_drained(st);
            continue;
        }
        if (st->prm.sse && st->req && now - st->last_write_ms >= cfg->sub_heartbeat_ms &&
            pb_http_stream_queued(st->req) == 0) {
            static const char hb[] = ": keepalive\n\n";
            if (stream_write(st, hb, sizeof hb - 1) == 0) st->last_write_ms = now;
        }
    }
    if (s->pending) pending_serve(s, 0); /* a safety net for a missed wake-up, as below */
    serve_all(s);                        /* also a safety net for a missed wake-up */
    lag_start(s);
    committers_reap(s);
}

static const char *query_get(void *ctx, const char *name) { return pb_http_query(ctx, name); }

/* Start consuming for st (fully built, st->req set, not yet listed): join the group with the
 * start positions start[0..n) and dflt, send the headers, list the stream. Replies on failure. */
static void stream_open(pb_sub_t *s, stream_t *st, const pb_kafka_tp_t *start, size_t n,
                        int64_t dflt) {
    pb_err_t err = {0};
    pb_http_req_t *req = st->req;
    st->kc = pb_kafka_stream_new(s->env.kafka, s->env.cfg, st->group, st->topic,
                                 (int)((s->env.cfg->sub_max_buffered_bytes + 1023) / 1024),
                                 s->wake[1], on_rebalance, st, &err);
    if (st->kc && pb_kafka_stream_start_at(st->kc, start, n, dflt, &err)) {
        close_async(s, pb_kafka_stream_close(st->kc, NULL, NULL, 0));
        st->kc = NULL;
    }
    if (!st->kc) {
        pb_http_set_header(req, "Retry-After", "5");
        reply_error(req, 503, "cannot consume %s: %s", st->topic, err.msg);
        stream_free(st);
        return;
    }
    /* The positions it starts from are its cursor until it delivers (SSE event ids). */
    for (size_t i = 0; i < n; i++)
        if (start[i].offset >= 0) {
            pb_kafka_tp_t *ns = realloc(st->seed, (st->n_seed + 1) * sizeof *ns);
            if (!ns) break;
            st->seed = ns;
            st->seed[st->n_seed++] = start[i];
        }
    st->last_record_ms = st->last_write_ms = st->last_commit_ms = st->start_ms = st->last_drain_ms =
        pb_loop_now_ms();
    pb_http_set_header(req, "X-Stream-Id", st->id_text);
    pb_http_set_header(req, "X-Consumer-Group", st->group);
    if (pb_gzip_accepted(pb_http_header(req, "Accept-Encoding")) &&
        (st->gz = pb_gzip_stream_new())) {
        pb_http_set_header(req, "Content-Encoding", "gzip");
        pb_http_set_header(req, "Vary", "Accept-Encoding");
    }
    if (pb_http_stream_start(req, 200, st->prm.sse ? "text/event-stream" : "application/x-ndjson",
                             on_drain, on_client_close, st)) {
        /* The client left before the headers went out. */
        close_async(s, pb_kafka_stream_close(st->kc, NULL, NULL, 0));
        pb_http_reply(req, 200, NULL, NULL, 0);
        stream_free(st);
        return;
    }
    if (st->prm.sse) {
        pb_buf_printf(&st->out, ": stream %s on %s (group %s)\n\n", st->id_text, st->port,
                      st->group);
        write_out(st);
    }
    st->next = s->streams;
    s->streams = st;
    s->n_streams++;
    static const char *const froms[] = {"committed", "earliest", "latest", "time", "offsets"};
    pb_log(INFO, "sub",
           "stream %s on %s from %s (%s, batch %d, timeout %" PRId64 " ms, max_records %" PRId64
           ", commit %s, from %s)",
           st->id_text, st->port, pb_http_peer(req), st->prm.sse ? "sse" : "ndjson", st->prm.batch,
           st->prm.timeout_ms, st->prm.max_records, st->prm.manual ? "manual" : "auto",
           froms[st->prm.from]);
}

static void pending_free(pending_t *pd) {
    pb_kafka_job_free(pd->job);
    free(pd->group);
    free(pd);
}

/* Jobs worker: the offset job's Kafka work (sees only the job). */
static void pending_work(void *arg) { pb_kafka_job_run(((pending_t *)arg)->job); }

static void pending_serve(pb_sub_t *s, int all);

/* Loop thread: the job is done; its request is answered now. */
static void pending_done(void *arg, int cancelled) {
    pending_t *pd = arg;
    if (pd->orphan || cancelled) { /* unlinked by pending_serve(s, 1): the sub is going */
        pending_free(pd);
        return;
    }
    pd->handle = NULL;
    pd->finished = 1;
    pending_serve(pd->sub, 0);
}

/* Queue req behind job (takes both): the job runs on a jobs worker. */
static void pending_add(pb_sub_t *s, pb_kafka_job_t *job, pb_http_req_t *req, stream_t *st,
                        const char *group) {
    pending_t *pd = calloc(1, sizeof *pd);
    char *g = group ? strdup(group) : NULL;
    if (pd) *pd = (pending_t){s->pending, s, job, NULL, 0, 0, req, st, g};
    if (!pd || (group && !g) ||
        !(pd->handle = pb_jobs_submit(s->env.jobs, st ? PB_JOB_OFFSETS : PB_JOB_CLOSE, pending_work,
                                      pending_done, pd))) {
        free(pd);
        free(g);
        pb_kafka_job_free(job);
        if (st) stream_free(st);
        reply_error(req, 503, "out of memory");
        return;
    }
    s->pending = pd;
    s->n_pending++;
}

static void cursor_done(pb_sub_t *s, pending_t *pd);

/* Finish the requests whose jobs are done. Loop thread. */
static void pending_serve(pb_sub_t *s, int all) {
    for (pending_t **pp = &s->pending; *pp;) {
        pending_t *pd = *pp;
        if (!all && !pd->finished) {
            pp = &pd->next;
            continue;
        }
        *pp = pd->next;
        s->n_pending--;
        if (!pd->finished) { /* shutting down: the job's done callback frees it */
            pb_http_set_header(pd->req, "Retry-After", "5");
            reply_error(pd->req, 503, "the broker is shutting down");
            if (pd->st) stream_free(pd->st);
            pd->st = NULL;
            pd->orphan = 1;
            pb_jobs_cancel(pd->handle);
            continue;
        } else if (pd->st) {
            const pb_kafka_tp_t *pos = NULL;
            size_t n = 0;
            pb_err_t err = {0};
            int rc = pb_kafka_job_result(pd->job, &pos, &n, &err);
            if (rc == PB_ERR_INVALID) {
                reply_error(pd->req, 422, "%s %s",
                            pd->st->prm.from == PB_SUB_FROM_TIME       ? "from:"
                            : pb_http_header(pd->req, "Last-Event-ID") ? "Last-Event-ID:"
                                                                       : "from:",
                            err.msg);
                stream_free(pd->st);
            } else if (rc) {
                pb_http_set_header(pd->req, "Retry-After", "2");
                reply_error(pd->req, 503, "cannot find where to start on %s: %s", pd->st->topic,
                            err.msg);
                stream_free(pd->st);
            } else {
                stream_open(s, pd->st, pos, n, PB_KAFKA_OFFSET_STORED);
            }
        } else {
            cursor_done(s, pd);
        }
        pending_free(pd);
    }
}

void pb_sub_handle_records(pb_sub_t *s, pb_http_req_t *req, const pb_port_t *port) {
    pb_err_t err = {0};
    pb_sub_params_t *prm = NULL;
    stream_t *st = NULL;
    char group[PB_ADDR_KAFKA_NAME_MAX];
    if (port->kind != PB_PORT_INPUT) {
        reply_error(req, 405,
                    "%s is an output port: subscribers read input ports (GET "
                    "/v1/ports/{input-port}/records); bind one with PUT /v1/subscriptions",
                    port->fqn);
        return;
    }
    if (!(st = calloc(1, sizeof *st))) goto nomem;
    prm = &st->prm;
    if (pb_sub_parse_params(query_get, req, (int)s->env.cfg->sub_max_batch, prm, &err)) {
        reply_error(req, 400, "%s", err.msg);
        stream_free(st);
        return;
    }
    /* An EventSource reconnecting sends the id of the last event it got: resume right after it,
     * whatever from= the URL says (it is the URL of the first connection). */
    const char *last = pb_http_header(req, "Last-Event-ID");
    if (last && *last) {
        if (pb_sub_parse_cursor(last, prm->from_offsets, PB_SUB_MAX_CURSOR, &prm->n_from_offsets,
                                &err)) {
            reply_error(req, 400,
                        "Last-Event-ID: '%.64s' is not an event id of this API "
                        "(PARTITION:OFFSET[,PARTITION:OFFSET...]): %s",
                        last, err.msg);
            stream_free(st);
            return;
        }
        prm->from = PB_SUB_FROM_OFFSETS;
    }
    if (s->n_streams + s->n_pending >= (size_t)s->env.cfg->sub_max_streams) {
        pb_http_set_header(req, "Retry-After", "5");
        reply_error(req, 503,
                    "%zu subscriber streams are open on this instance, the limit "
                    "(sub.max.streams); retry later or on another instance",
                    s->n_streams + s->n_pending);
        stream_free(st);
        return;
    }
    for (size_t i = 0; i < prm->n_from_offsets; i++)
        if (port->partitions > 0 && prm->from_offsets[i].partition >= port->partitions) {
            reply_error(req, 422, "%s: partition %d: %s has %d partitions (0..%d)",
                        last && *last ? "Last-Event-ID" : "from",
                        (int)prm->from_offsets[i].partition, port->fqn, port->partitions,
                        port->partitions - 1);
            stream_free(st);
            return;
        }
    st->sub = s;
    st->id = ++s->next_id;
    snprintf(st->id_text, sizeof st->id_text, "s-%" PRIu64, st->id);
    pb_addr_sub_group(port->topic, group, sizeof group);
    if (!(st->port = strdup(port->fqn)) || !(st->topic = strdup(port->topic)) ||
        !(st->group = strdup(group)))
        goto nomem;
    st->bound = port_bound(reg_of(s), port->fqn);
    st->mport = pb_metrics_port(s->env.metrics, port->fqn,
                                port->slo.has_freshness ? port->slo.freshness_ms / 1000.0 : 0);
    st->req = req;
    if (prm->from == PB_SUB_FROM_TIME || prm->from == PB_SUB_FROM_OFFSETS) {
        /* Offsets are checked against the partitions' watermarks, a time is looked up: Kafka
         * requests, on a job thread. */
        pb_kafka_job_t *job = pb_kafka_job_positions(
            s->env.kafka, s->env.cfg, port->topic, prm->from_offsets,
            prm->from == PB_SUB_FROM_OFFSETS ? prm->n_from_offsets : 0, prm->from_ms, -1, &err);
        if (!job) {
            pb_http_set_header(req, "Retry-After", "5");
            reply_error(req, 503, "cannot consume %s: %s", port->topic, err.msg);
            stream_free(st);
            return;
        }
        pending_add(s, job, req, st, NULL);
        return;
    }
    stream_open(s, st, NULL, 0,
                prm->from == PB_SUB_FROM_EARLIEST ? PB_KAFKA_OFFSET_BEGINNING
                : prm->from == PB_SUB_FROM_LATEST ? PB_KAFKA_OFFSET_END
                                                  : PB_KAFKA_OFFSET_STORED);
    return;
nomem:
    if (st) stream_free(st);
    reply_error(req, 503, "out of memory");
}

/* ---- cursors -------------------------------------------------------------------------------- */

/* The stream of port on this instance that cursors go through: the one X-Stream-Id (or ?stream=)
 * names, or without a name the only one open here. NULL: commit through the group instead (the
 * stream may be open on another instance behind a load balancer, or over). */
static stream_t *local_stream(pb_sub_t *s, pb_http_req_t *req, const pb_port_t *port) {
    const char *want = pb_http_header(req, "X-Stream-Id");
    if (!want) want = pb_http_query(req, "stream");
    stream_t *found = NULL;
    size_t open = 0;
    for (stream_t *st = s->streams; st; st = st->next) {
        if (st->dead || !st->kc || strcmp(st->port, port->fqn)) continue;
        open++;
        if (want ? !strcmp(want, st->id_text) : 1) found = st;
    }
    return want || open == 1 ? found : NULL;
}

/* Commit through an open stream of this instance: only offsets it delivered. Replies. */
static void cursors_local(pb_http_req_t *req, stream_t *st, const pb_kafka_tp_t *c, size_t n) {
    int32_t ps[MAX_PARTS];
    int64_t os[MAX_PARTS];
    for (size_t i = 0; i < n; i++) {
        int32_t p = c[i].partition;
        int64_t o = c[i].offset;
        part_t *pt = part_of(st, p, 0);
        if (!pt) {
            char assigned[256] = "";
            for (size_t k = 0; k < st->n_parts && strlen(assigned) < 200; k++)
                snprintf(assigned + strlen(assigned), sizeof assigned - strlen(assigned), "%s%d",
                         k ? ", " : "", (int)st->parts[k].partition);
            reply_error(req, 409,
                        "cursors[%zu]: partition %d is not assigned to stream %s (assigned: "
                        "%s)",
                        i, (int)p, st->id_text, *assigned ? assigned : "none yet");
            return;
        }
        if (pt->delivered < 0 || o > pt->delivered) {
            if (pt->delivered < 0)
                reply_error(req, 422,
                            "cursors[%zu]: stream %s has delivered nothing from partition %d yet",
                            i, st->id_text, (int)p);
            else
                reply_error(req, 422,
                            "cursors[%zu]: offset %" PRId64 " is beyond what stream %s delivered "
                            "from partition %d (at most %" PRId64 ", the offset after the last "
                            "record delivered)",
                            i, o, st->id_text, (int)p, pt->delivered);
            return;
        }
        ps[i] = p;
        os[i] = o;
    }
    pb_err_t err = {0};
    int rc = pb_kafka_stream_commit(st->kc, ps, os, n, 0, &err);
    if (rc) {
        if (rc != PB_ERR_CONFLICT) pb_http_set_header(req, "Retry-After", "1");
        reply_error(req, rc == PB_ERR_CONFLICT ? 409 : 503, "%s", err.msg);
        return;
    }
    json_t *done = json_array();
    for (size_t k = 0; k < n; k++) {
        part_t *pt = part_of(st, ps[k], 0);
        if (pt) pt->committed = os[k];
        json_array_append_new(
            done, json_pack("{s:i,s:I}", "partition", (int)ps[k], "offset", (json_int_t)os[k]));
    }
    pb_http_set_header(req, "X-Stream-Id", st->id_text);
    reply_json(req, 200,
               json_pack("{s:s,s:s,s:o}", "stream", st->id_text, "consumerGroup", st->group,
                         "committed", done));
}

/* A group commit's job is done: reply. */
static void cursor_done(pb_sub_t *s, pending_t *pd) {
    const pb_kafka_tp_t *c = NULL;
    size_t n = 0;
    pb_err_t err = {0};
    int rc = pb_kafka_job_result(pd->job, &c, &n, &err);
    if (rc == PB_ERR_INVALID) {
        reply_error(pd->req, 422, "cursors: %s; nothing was committed", err.msg);
        return;
    }
    if (rc) {
        pb_http_set_header(pd->req, "Retry-After", "2");
        reply_error(pd->req, 503, "cursors: %s; nothing was committed", err.msg);
        return;
    }
    json_t *done = json_array();
    pb_buf_t text = {0};
    for (size_t k = 0; k < n; k++)
        json_array_append_new(done, json_pack("{s:i,s:I}", "partition", (int)c[k].partition,
                                              "offset", (json_int_t)c[k].offset));
    /* A commit from outside any stream moves the whole group: say who and where to. */
    if (pb_sub_format_cursor(c, n, &text) == 0)
        pb_log(INFO, "sub", "cursors of group %s committed through the group for %s: %.*s",
               pd->group, pb_http_peer(pd->req), (int)text.len,
               text.data ? (const char *)text.data : "");
    pb_buf_free(&text);
    lag_touch(s, pd->group); /* its lag shows the commit at the next sweep */
    reply_json(pd->req, 200,
               json_pack("{s:n,s:s,s:o}", "stream", "consumerGroup", pd->group, "committed", done));
}

void pb_sub_handle_cursors(pb_sub_t *s, pb_http_req_t *req, const pb_port_t *port) {
    json_error_t je;
    size_t len = 0;
    const char *body = pb_http_body(req, &len);
    json_t *doc = NULL;
    pb_kafka_tp_t c[MAX_PARTS];
    size_t n = 0;
    if (port->kind != PB_PORT_INPUT) {
        reply_error(req, 405, "%s is an output port: cursors belong to input-port streams",
                    port->fqn);
        return;
    }
    doc = json_loadb(body, len, 0, &je);
    if (!doc) {
        reply_error(req, 400, "body: invalid JSON at line %d column %d: %s", je.line, je.column,
                    json_error_code(&je) == json_error_null_character
                        ? "\\u0000 (U+0000) has no place in cursors"
                        : je.text);
        return;
    }
    json_t *arr = json_object_get(doc, "cursors");
    if (!json_is_object(doc) || !json_is_array(arr) || json_array_size(arr) == 0) {
        reply_error(req, 422,
                    "body: expected {\"cursors\": [{\"partition\": p, \"offset\": o}, ...]} with "
                    "at least one cursor (offset: the next offset to read)");
        goto cleanup;
    }
    if (json_array_size(arr) > MAX_PARTS) {
        reply_error(req, 422, "cursors: %zu cursors, at most %d", json_array_size(arr), MAX_PARTS);
        goto cleanup;
    }
    size_t i;
    json_t *cj;
    json_array_foreach(arr, i, cj) {
        json_t *jp = json_object_get(cj, "partition"), *jo = json_object_get(cj, "offset");
        if (!json_is_integer(jp) || json_integer_value(jp) < 0 ||
            json_integer_value(jp) > INT32_MAX) {
            reply_error(req, 422, "cursors[%zu].partition: expected a non-negative integer", i);
            goto cleanup;
        }
        if (!json_is_integer(jo) || json_integer_value(jo) < 0) {
            reply_error(req, 422,
                        "cursors[%zu].offset: expected a non-negative integer (the next offset "
                        "to read: last processed offset + 1)",
                        i);
            goto cleanup;
        }
        int32_t p = (int32_t)json_integer_value(jp);
        for (size_t k = 0; k < n; k++)
            if (c[k].partition == p) {
                reply_error(req, 422, "cursors[%zu]: partition %d appears twice", i, (int)p);
                goto cleanup;
            }
        if (port->partitions > 0 && p >= port->partitions) {
            reply_error(req, 422,
                        "cursors[%zu]: partition %d does not exist: %s has %d partitions "
                        "(0..%d)",
                        i, (int)p, port->fqn, port->partitions, port->partitions - 1);
            goto cleanup;
        }
        c[n++] = (pb_kafka_tp_t){p, json_integer_value(jo), NULL};
    }
    stream_t *st = local_stream(s, req, port);
    if (st) {
        cursors_local(req, st, c, n);
        goto cleanup;
    }
    /* No stream of this port here (it may be open on another instance, or over): through the
     * group, with the offsets checked against the partitions, on a job thread. */
    if (s->n_streams + s->n_pending >= (size_t)s->env.cfg->sub_max_streams) {
        pb_http_set_header(req, "Retry-After", "2");
        reply_error(req, 503,
                    "%zu subscriber streams and cursor commits are under way on this instance, "
                    "the limit (sub.max.streams); retry later or on another instance",
                    s->n_streams + s->n_pending);
        goto cleanup;
    }
    char group[PB_ADDR_KAFKA_NAME_MAX];
    pb_addr_sub_group(port->topic, group, sizeof group);
    pb_err_t err = {0};
    pb_kafka_job_t *job =
        pb_kafka_job_commit(s->env.kafka, s->env.cfg, group, port->topic, c, n, -1, &err);
    if (!job) {
        pb_http_set_header(req, "Retry-After", "2");
        reply_error(req, 503, "cursors: %s", err.msg);
        goto cleanup;
    }
    pending_add(s, job, req, NULL, group);
cleanup:
    json_decref(doc);
}

/* ---- lag ------------------------------------------------------------------------------------ */

static void targets_free(lag_target_t *t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(t[i].to);
        free(t[i].out_topic);
        free(t[i].in_topic);
        free(t[i].route_group);
        free(t[i].sub_group);
        free(t[i].known[0]);
        free(t[i].known[1]);
    }
    free(t);
}

/* Streams whose port or binding the registry no longer has end, saying why. */
static void streams_reconcile(pb_sub_t *s, const pb_registry_t *r) {
    char msg[sizeof((stream_t *)0)->why];
    for (stream_t *st = s->streams; st; st = st->next) {
        if (st->dead || st->ending) continue;
        const pb_port_t *p = pb_registry_port(r, st->port);
        if (!p || p->kind != PB_PORT_INPUT) {
            snprintf(msg, sizeof msg,
                     "%s is no longer declared (its product's descriptor was deleted or "
                     "changed)",
                     st->port);
            end_with_event(st, "port deleted", msg);
            continue;
        }
        int bound = port_bound(r, st->port);
        if (st->bound && !bound) {
            snprintf(msg, sizeof msg,
                     "no subscription binds %s any more (it was deleted: DELETE "
                     "/v1/subscriptions/{id})",
                     st->port);
            end_with_event(st, "subscription deleted", msg);
            continue;
        }
        st->bound = bound;
    }
    kick(s); /* reap streams that ended at once */
}

void pb_sub_reconcile(pb_sub_t *s) {
    if (!s) return;
    streams_reconcile(s, reg_of(s));
    /* The bindings changed: measure them at the next tick (the sweep builds its targets from the
     * registry then), or right after the sweep under way. */
    s->lag_next_ms = 0;
    s->lag_again = 1;
}

/* A cursor commit of group went through this instance: the next sweep asks the group's committed
 * offsets whatever its back-off. Loop thread. */
static void lag_touch(pb_sub_t *s, const char *group) {
    for (size_t i = 0; i < s->n_touched; i++)
        if (!strcmp(s->lag_touched[i], group)) return;
    if (s->n_touched == LAG_TOUCHED_MAX || !(s->lag_touched[s->n_touched] = strdup(group))) {
        s->lag_reset_all = 1;
        return;
    }
    s->n_touched++;
}

static void lag_touched_clear(pb_sub_t *s) {
    for (size_t i = 0; i < s->n_touched; i++)
        free(s->lag_touched[i]);
    s->n_touched = 0;
    s->lag_reset_all = 0;
}

/* A fingerprint of a group's name (FNV-1a). */
static uint64_t group_key(const char *g) { return pb_hash_str(PB_HASH_LEGACY_BASIS, g); }

static int lag_touched(const pb_sub_t *s, const char *group) {
    if (s->lag_reset_all) return 1;
    for (size_t i = 0; i < s->n_touched; i++)
        if (!strcmp(s->lag_touched[i], group)) return 1;
    return 0;
}

/* Whether a measured side found no committed offset on any partition (0 when not measured). */
static int no_commit(const lag_side_t *side) {
    if (!side->known || !side->n) return 0;
    for (size_t p = 0; p < side->n; p++)
        if (side->parts[p].committed >= 0) return 0;
    return 1;
}

static int target_cmp(const void *a, const void *b) {
    int x = ((const lag_target_t *)a)->id, y = ((const lag_target_t *)b)->id;
    return (x > y) - (x < y);
}

static int result_cmp(const void *a, const void *b) {
    int x = ((const lag_result_t *)a)->id, y = ((const lag_result_t *)b)->id;
    return (x > y) - (x < y);
}

/* Whether a stream of group is open in this process (its commits then move the lag). */
static int group_streaming(const pb_sub_t *s, const char *group) {
    for (const stream_t *st = s->streams; st; st = st->next)
        if (!st->dead && st->group && !strcmp(st->group, group)) return 1;
    return 0;
}

/* The bindings to measure, copied from the registry (a job sees only its copies). NULL out of
 * memory. Loop thread. */
static lag_target_t *targets_build(pb_sub_t *s, size_t *n_out) {
    const pb_registry_t *r = reg_of(s);
    size_t nb = pb_registry_binding_count(r), n = 0;
    lag_target_t *t = calloc(nb ? nb : 1, sizeof *t);
    if (!t) return NULL;
    for (size_t i = 0; i < nb; i++) {
        const pb_registry_binding_t *bd = pb_registry_binding_at(r, i);
        const pb_port_t *in = pb_registry_port(r, bd->to), *out = pb_registry_port(r, bd->from);
        if (!in || !out) continue;
        char rg[PB_ADDR_KAFKA_NAME_MAX], sg[PB_ADDR_KAFKA_NAME_MAX];
        pb_addr_route_group(in->topic, rg, sizeof rg);
        pb_addr_sub_group(in->topic, sg, sizeof sg);
        lag_target_t *x = &t[n++];
        x->id = bd->id;
        x->to = strdup(bd->to);
        x->out_topic = strdup(out->topic);
        x->in_topic = strdup(in->topic);
        x->route_group = strdup(rg);
        x->sub_group = strdup(sg);
        x->parts[0] = x->parts[1] = -1;
        if (!x->to || !x->out_topic || !x->in_topic || !x->route_group || !x->sub_group) {
            targets_free(t, n);
            return NULL;
        }
    }
    /* The route side's committed offsets where this process routes every partition: its routers
     * write them, so the sweep need not ask the group (one request per binding otherwise). */
    const pb_routers_t *rs = s->env.routers;
    size_t nr = pb_routers_count(rs);
    int64_t *buf = nr ? malloc(LAG_MAX_PARTS * sizeof *buf) : NULL;
    qsort(t, n, sizeof *t, target_cmp); /* by id, as the results are */
    for (size_t i = 0; buf && i < nr; i++) {
        int id, out_parts, in_parts;
        /* The topics' partition counts: the sweep asks no metadata for them. */
        pb_routers_partitions(rs, i, &id, &out_parts, &in_parts);
        lag_target_t key = {.id = id}, *x = bsearch(&key, t, n, sizeof *t, target_cmp);
        if (!x) continue;
        x->parts[0] = out_parts;
        x->parts[1] = in_parts;
        size_t np = pb_routers_committed(rs, i, &id, buf, LAG_MAX_PARTS);
        if (!np || x->known[0] || !(x->known[0] = malloc(np * sizeof *buf))) continue;
        memcpy(x->known[0], buf, np * sizeof *buf);
        x->n_known[0] = np;
    }
    free(buf);
    /* Subscriber groups: one request each a sweep. A group found with no commit and no stream
     * here (the usual state of a binding nobody reads over HTTP) is backed off: asked again 12,
     * 24, 48, 60, 60, ... sweeps later (pb_sub_lag_backoff: never more often than every 12th
     * sweep, as before the back-off); the sweeps
     * between count its lag from the first kept record, as Kafka would answer. A first commit
     * through another instance shows within PB_SUB_LAG_UNCOMMITTED_MAX sweeps; a commit through
     * this one (a stream here, a cursor commit: lag_touch) or a new binding at the next. */
    unsigned sweep = s->lag_sweeps++;
    for (size_t i = 0; i < n; i++) {
        lag_result_t key = {.id = t[i].id};
        const lag_result_t *prev =
            s->results ? bsearch(&key, s->results, s->n_results, sizeof key, result_cmp) : NULL;
        t[i].sweep = sweep;
        t[i].sub_key = group_key(t[i].sub_group);
        if (!prev || !prev->subs.known || !prev->subs.n || prev->sub_key != t[i].sub_key ||
            lag_touched(s, t[i].sub_group) || group_streaming(s, t[i].sub_group))
            continue; /* asked, back-off 0 */
        t[i].sub_every = prev->sub_every;
        t[i].sub_next = prev->sub_next;
        if (!no_commit(&prev->subs) || !prev->sub_every || (int)(sweep - prev->sub_next) >= 0 ||
            !(t[i].known[1] = malloc(prev->subs.n * sizeof *t[i].known[1])))
            continue;
        for (size_t p = 0; p < prev->subs.n; p++)
            t[i].known[1][p] = -1;
        t[i].n_known[1] = prev->subs.n;
    }
    lag_touched_clear(s);
    *n_out = n;
    return t;
}

/* The output partitions' watermarks the fan-out reader has without a request (router.h says when
 * they are trusted), copied into j for the sweep. 0, or -1 out of memory. Loop thread. */
static int64_t mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int reader_watermarks(pb_sub_t *s, lag_job_t *j) {
    const pb_routers_t *rs = s->env.routers;
    size_t np = pb_routers_port_count(rs), cap = 0;
    if (!np || !j->n) return 0;
    int64_t t0 = mono_us();
    int64_t *lo = malloc(LAG_MAX_PARTS * sizeof *lo), *hi = malloc(LAG_MAX_PARTS * sizeof *hi);
    int rc = lo && hi && (j->names = calloc(np, sizeof *j->names)) ? 0 : -1;
    for (size_t i = 0; !rc && i < np; i++) {
        const char *topic = NULL;
        size_t n = pb_routers_port_watermarks(rs, i, &topic, lo, hi, LAG_MAX_PARTS);
        char *name = NULL;
        for (size_t p = 0; !rc && p < n; p++) {
            if (lo[p] < 0 || hi[p] < 0) continue;
            if (!name && !(name = j->names[j->n_names++] = strdup(topic))) rc = -1;
            if (!rc && j->n_wm == cap) {
                size_t nc = cap ? 2 * cap : 256;
                pb_kafka_lag_wm_t *w = realloc(j->wm, nc * sizeof *w);
                if (!w)
                    rc = -1;
                else
                    j->wm = w, cap = nc;
            }
            if (!rc)
                j->wm[j->n_wm++] = (pb_kafka_lag_wm_t){
                    .topic = name, .partition = (int32_t)p, .low = lo[p], .high = hi[p]};
        }
    }
    free(lo);
    free(hi);
    j->wm_us = mono_us() - t0;
    return rc;
}

/* The routers' parked partitions, copied into j for the sweep. 0, or -1 out of memory. Loop
 * thread. */
static int parked_take(pb_sub_t *s, lag_job_t *j) {
    size_t n = pb_routers_parked_count(s->env.routers);
    if (!n) return 0;
    pb_routers_parked_t *pr = malloc(n * sizeof *pr);
    j->pk = calloc(n, sizeof *j->pk);
    j->pk_parts = calloc(n, sizeof *j->pk_parts);
    if (!pr || !j->pk || !j->pk_parts) {
        free(pr);
        return -1;
    }
    n = pb_routers_parked(s->env.routers, pr, n);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        /* A topic's partitions come together: one copy of its name for them. */
        const char *name =
            i && !strcmp(pr[i].topic, pr[i - 1].topic) ? j->pk[i - 1].topic : strdup(pr[i].topic);
        if (!name) {
            rc = -1;
            break;
        }
        j->pk[i] =
            (pb_kafka_lag_wm_t){.topic = name, .partition = pr[i].partition, .low = -1, .high = -1};
        j->pk_parts[i] = pr[i].parts;
        j->n_pk++;
    }
    free(pr);
    return rc;
}

static void results_free(lag_result_t *res, size_t n) {
    for (size_t i = 0; res && i < n; i++) {
        free(res[i].route.parts);
        free(res[i].subs.parts);
    }
    free(res);
}

static void lag_job_free(lag_job_t *j) {
    if (!j) return;
    for (size_t i = 0; i < j->n_names; i++)
        free(j->names[i]);
    free(j->names);
    free(j->wm);
    for (size_t i = 0; i < j->n_pk; i++)
        if (!i || j->pk[i].topic != j->pk[i - 1].topic) free((char *)j->pk[i].topic);
    free(j->pk);
    free(j->pk_parts);
    targets_free(j->t, j->n);
    results_free(j->res, j->n);
    free(j);
}

/* PB_JOB_LAG work: one sweep over the job's targets with the probe (created here the first time;
 * its look-ups share the instance's offset reader). Sees only the job. */
static void lag_work(void *arg) {
    lag_job_t *j = arg;
    pb_err_t err = {0};
    if (!j->probe && !(j->probe = pb_kafka_lag_new(j->kafka, j->cfg, &err))) {
        snprintf(j->error, sizeof j->error, "%s", err.msg);
        return;
    }
    pb_kafka_lag_part_t *scratch = malloc(LAG_MAX_PARTS * sizeof *scratch);
    if (!scratch) return;
    int64_t t0 = pb_loop_wall_ms();
    pb_kafka_lag_topic_t *all = malloc((2 * j->n + j->n_pk + 1) * sizeof *all);
    size_t n_all = 0;
    for (size_t i = 0; all && i < j->n; i++) {
        all[n_all++] = (pb_kafka_lag_topic_t){j->t[i].out_topic, j->t[i].parts[0]};
        all[n_all++] = (pb_kafka_lag_topic_t){j->t[i].in_topic, j->t[i].parts[1]};
    }
    /* Parked partitions' topics too (a declared port without bindings is read and may be parked):
     * the reader does not fetch them, so only Kafka knows whether they were written to. */
    for (size_t i = 0; all && i < j->n_pk; i++)
        if (!i || j->pk[i].topic != j->pk[i - 1].topic)
            all[n_all++] = (pb_kafka_lag_topic_t){j->pk[i].topic, j->pk_parts[i]};
    /* One watermarks look-up for the whole pass, of the partitions the fan-out reader's fetch
     * answers did not give. */
    pb_kafka_lag_sweep(j->probe, all, n_all, j->wm, j->n_wm, 2000, &j->st);
    free(all);
    for (size_t i = 0; i < j->n_pk; i++) {
        int64_t lo, hi;
        if (!pb_kafka_lag_watermark(j->probe, j->pk[i].topic, j->pk[i].partition, &lo, &hi))
            j->pk[i].low = lo, j->pk[i].high = hi;
    }
    /* Stop between look-ups too: a pass may take seconds per target with Kafka down. */
    for (size_t i = 0; i < j->n && !atomic_load(&j->stop); i++) {
        lag_target_t *t = &j->t[i];
        j->res[i].id = t->id;
        lag_side_t *sides[2] = {&j->res[i].route, &j->res[i].subs};
        const char *groups[2] = {t->route_group, t->sub_group};
        const char *topics[2] = {t->out_topic, t->in_topic};
        for (int k = 0; k < 2; k++) {
            pb_err_t e = {0};
            size_t np = 0;
            j->asked[k] += !t->n_known[k];
            if (pb_kafka_lag_measure(j->probe, groups[k], topics[k], t->known[k], t->n_known[k],
                                     scratch, LAG_MAX_PARTS, &np, 2000, &e)) {
                snprintf(sides[k]->error, sizeof sides[k]->error, "%s", e.msg);
                continue;
            }
            /* Sized to the topic: a fixed array per side cost ~20 kB per binding. */
            if (np && !(sides[k]->parts = malloc(np * sizeof *scratch))) {
                snprintf(sides[k]->error, sizeof sides[k]->error, "out of memory");
                continue;
            }
            if (np) memcpy(sides[k]->parts, scratch, np * sizeof *scratch);
            sides[k]->n = np;
            sides[k]->known = 1;
        }
        j->res[i].measured_ms = pb_loop_wall_ms();
    }
    pb_kafka_lag_sweep_end(j->probe); /* the offset reader its reads held may be closed now */
    j->took_ms = pb_loop_wall_ms() - t0;
    free(scratch);
}

static void apply_lag(pb_sub_t *s, const lag_job_t *j);

/* PB_JOB_LAG done: the results replace the last ones; the probe goes back to s for the next
 * sweep. Loop thread. */
static void lag_done(void *arg, int cancelled) {
    lag_job_t *j = arg;
    if (cancelled) { /* s is gone or going: the probe was the job's to free */
        pb_kafka_lag_destroy(j->probe);
        lag_job_free(j);
        return;
    }
    pb_sub_t *s = j->sub;
    s->lag_job = NULL;
    s->lag_running = NULL;
    s->probe = j->probe;
    /* Parked partitions written to meanwhile (a direct producer, another instance) are read
     * again. */
    if (j->n_pk) j->woke = pb_routers_sweep_parked(s->env.routers, j->pk, j->n_pk);
    if (j->error[0]) {
        pb_log_rl(ERROR, "sub", "lag poller: %s", j->error);
    } else {
        apply_lag(s, j);
        results_free(s->results, s->n_results);
        s->results = j->res;
        s->n_results = j->n;
        j->res = NULL;
        pb_log(DEBUG, "sub",
               "lag sweep: %zu bindings in %" PRId64
               " ms; committed offsets asked of %zu route groups (the others are this process's "
               "routers') and %zu subscriber groups; watermarks of %zu partitions from the fan-out "
               "reader (taken in %" PRId64 " us), %zu asked of Kafka; %zu parked partitions, %zu "
               "of them read again (written to); %s",
               s->n_results, j->took_ms, j->asked[0], j->asked[1], j->st.from_caller, j->wm_us,
               j->st.asked, j->n_pk, j->woke,
               j->st.metadata ? "partition counts from the cluster's metadata"
                              : "partition counts from the routers");
    }
    lag_job_free(j);
    s->lag_next_ms = s->lag_again ? 0 : pb_loop_now_ms() + s->env.cfg->sub_lag_interval_ms;
    s->lag_again = 0;
}

/* Start a sweep as a PB_JOB_LAG job when one is due and none runs. Loop thread. */
static void lag_start(pb_sub_t *s) {
    if (s->lag_job || s->stopping || pb_loop_now_ms() < s->lag_next_ms) return;
    lag_job_t *j = calloc(1, sizeof *j);
    if (!j) return;
    j->sub = s;
    j->kafka = s->env.kafka;
    j->cfg = s->env.cfg;
    atomic_init(&j->stop, 0);
    if (!(j->t = targets_build(s, &j->n)) || !(j->res = calloc(j->n ? j->n : 1, sizeof *j->res)) ||
        reader_watermarks(s, j) || parked_take(s, j)) {
        lag_job_free(j);
        return;
    }
    j->probe = s->probe; /* lent for the sweep; comes back in lag_done */
    s->lag_again = 0;
    if (!(s->lag_job = pb_jobs_submit(s->env.jobs, PB_JOB_LAG, lag_work, lag_done, j))) {
        lag_job_free(j);
        return;
    }
    s->probe = NULL;
    s->lag_running = j;
    s->lag_next_ms = INT64_MAX; /* set again when it is done */
}

/* Records and seconds a side lags on partition part (seconds measured against now_ms). */
static void side_lag(const pb_kafka_lag_part_t *p, int64_t now_ms, int64_t *records,
                     double *seconds) {
    int64_t pos = p->committed >= 0 ? p->committed : p->low;
    if (pos < p->low) pos = p->low;
    *records = p->high > pos ? p->high - pos : 0;
    *seconds = 0;
    if (*records > 0 && p->oldest_ts_ms >= 0 && now_ms > p->oldest_ts_ms)
        *seconds = (double)(now_ms - p->oldest_ts_ms) / 1000.0;
}

static void side_total(const lag_side_t *side, int64_t now_ms, int64_t *records, double *seconds) {
    *records = 0;
    *seconds = 0;
    for (size_t i = 0; i < side->n; i++) {
        int64_t r;
        double sec;
        side_lag(&side->parts[i], now_ms, &r, &sec);
        *records += r;
        if (sec > *seconds) *seconds = sec;
    }
}

/* Update the lag metrics from j's results (each binding's series looked up once: the last
 * sweep's results, sorted by id as j's are, carry them). Loop thread. */
static void apply_lag(pb_sub_t *s, const lag_job_t *j) {
    int64_t now = pb_loop_wall_ms();
    for (size_t i = 0; i < j->n; i++) {
        lag_result_t *res = &j->res[i];
        const lag_target_t *t = &j->t[i];
        const lag_result_t *prev =
            s->results ? bsearch(res, s->results, s->n_results, sizeof *res, result_cmp) : NULL;
        const char *groups[2] = {t->route_group, t->sub_group};
        const lag_side_t *sides[2] = {&res->route, &res->subs};
        /* The subscriber group's back-off: kept by a sweep that did not ask, moved by one that
         * did (doubled while it finds no commit; 0 on a commit or no answer). */
        res->sub_key = t->sub_key;
        if (t->n_known[1]) {
            res->sub_every = t->sub_every;
            res->sub_next = t->sub_next;
        } else {
            pb_sub_lag_backoff(t->sub_every, no_commit(&res->subs), t->sweep, &res->sub_every,
                               &res->sub_next);
        }
        for (int k = 0; k < 2; k++) {
            if (!sides[k]->known) continue;
            if (!(res->m[k] = prev ? prev->m[k] : NULL))
                res->m[k] = pb_metrics_lag(s->env.metrics, t->to, groups[k]);
            if (!res->m[k]) continue;
            int64_t rec;
            double sec;
            side_total(sides[k], now, &rec, &sec);
            res->m[k]->known = 1;
            res->m[k]->records = (double)rec;
            res->m[k]->seconds = sec;
        }
    }
}

static json_t *side_json(const pb_kafka_lag_part_t *p, int64_t now_ms) {
    int64_t rec;
    double sec;
    side_lag(p, now_ms, &rec, &sec);
    return json_pack("{s:I,s:o,s:I,s:f}", "endOffset", (json_int_t)p->high, "committedOffset",
                     p->committed >= 0 ? json_integer(p->committed) : json_null(), "lagRecords",
                     (json_int_t)rec, "lagSeconds", sec);
}

static json_t *side_summary(const lag_side_t *side, const char *group, int64_t now_ms) {
    if (!side->known)
        return json_pack("{s:s,s:n,s:n,s:s}", "consumerGroup", group, "lagRecords", "lagSeconds",
                         "error", side->error);
    int64_t rec;
    double sec;
    side_total(side, now_ms, &rec, &sec);
    return json_pack("{s:s,s:I,s:f}", "consumerGroup", group, "lagRecords", (json_int_t)rec,
                     "lagSeconds", sec);
}

void pb_sub_handle_stats(pb_sub_t *s, pb_http_req_t *req, const pb_registry_binding_t *bd) {
    const lag_result_t *res = NULL;
    for (size_t i = 0; i < s->n_results; i++)
        if (s->results[i].id == bd->id) res = &s->results[i];
    if (!res) {
        pb_http_set_header(req, "Retry-After", "1");
        reply_error(req, 503,
                    "the lag of subscription %d has not been measured yet (every %" PRId64
                    " ms, sub.lag.interval.ms)",
                    bd->id, s->env.cfg->sub_lag_interval_ms);
        return;
    }
    const pb_port_t *in = pb_registry_port(reg_of(s), bd->to);
    char rg[PB_ADDR_KAFKA_NAME_MAX] = "", sg[PB_ADDR_KAFKA_NAME_MAX] = "";
    if (in) {
        pb_addr_route_group(in->topic, rg, sizeof rg);
        pb_addr_sub_group(in->topic, sg, sizeof sg);
    }
    int64_t now = pb_loop_wall_ms();
    char when[PB_TIMEFMT_LEN + 1];
    pb_timefmt_format(res->measured_ms, when);
    size_t np = res->route.n > res->subs.n ? res->route.n : res->subs.n;
    json_t *parts = json_array();
    for (size_t p = 0; p < np; p++) {
        json_t *o = json_pack("{s:i}", "partition", (int)p);
        json_object_set_new(o, "route",
                            p < res->route.n ? side_json(&res->route.parts[p], now) : json_null());
        json_object_set_new(o, "subscribers",
                            p < res->subs.n ? side_json(&res->subs.parts[p], now) : json_null());
        json_array_append_new(parts, o);
    }
    int64_t rr = 0, sr = 0;
    double rs = 0, ss = 0;
    side_total(&res->route, now, &rr, &rs);
    side_total(&res->subs, now, &sr, &ss);
    /* Overall: records not yet delivered end to end, and the age of the oldest of them. */
    json_t *o =
        json_pack("{s:i,s:s,s:s,s:s,s:o,s:o,s:o,s:I,s:f}", "id", bd->id, "from", bd->from, "to",
                  bd->to, "measuredAt", when, "route", side_summary(&res->route, rg, now),
                  "subscribers", side_summary(&res->subs, sg, now), "partitions", parts,
                  "lagRecords", (json_int_t)(rr + sr), "lagSeconds", rs > ss ? rs : ss);
    reply_json(req, 200, o);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

pb_sub_t *pb_sub_new(const pb_sub_env_t *env, pb_err_t *err) {
    pb_sub_t *s = calloc(1, sizeof *s);
    if (!s) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->env = *env;
    s->wake[0] = s->wake[1] = -1;
    if (pipe2(s->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        pb_err_set(err, PB_ERR_INTERNAL, "subscriber streams: %s", strerror(errno));
        goto fail;
    }
    if (pb_loop_watch_fd(env->loop, s->wake[0], on_wake, s, err)) goto fail;
    if (!(s->tick = pb_loop_timer_new(env->loop, TICK_MS, 1, on_tick, s))) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    return s;
fail:
    pb_sub_destroy(s);
    return NULL;
}

void pb_sub_destroy(pb_sub_t *s) {
    if (!s) return;
    pending_serve(s, 1);
    for (stream_t *st = s->streams; st; st = st->next)
        stream_finish(st);
    reap(s);
    s->stopping = 1;
    if (s->lag_job) { /* the sweep ends at its next look-up; its done frees it and the probe */
        atomic_store(&s->lag_running->stop, 1);
        pb_jobs_cancel(s->lag_job);
    }
    pb_kafka_lag_destroy(s->probe);
    pb_loop_timer_destroy(s->tick);
    results_free(s->results, s->n_results);
    lag_touched_clear(s);
    if (s->wake[0] >= 0) close(s->wake[0]);
    if (s->wake[1] >= 0) close(s->wake[1]);
    free(s);
}
