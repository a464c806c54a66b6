/*
 * router — one router per binding: output-port topic -> projection -> input-port topic, exactly
 * once (see router.h for the scheme). The per-record path allocates nothing once warm: headers go
 * into reused arrays, the projected value into one reused buffer, and the relay producer carries
 * the origin offset as the message's tag.
 * Must not: include librdkafka, or keep registry pointers across pb_routers_reconcile calls.
 */
#include "router.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "codec.h"
#include "id.h"
#include "log.h"
#include "portbroker/wire.h"
#include "timefmt.h"

/* ---- pure parts ----------------------------------------------------------------------------- */

pb_router_resume_why_t pb_router_resume(int64_t lineage_next, int64_t committed, const char *start,
                                        int64_t *offset) {
    if (lineage_next >= 0 && lineage_next >= committed) {
        *offset = lineage_next;
        return PB_ROUTER_RESUME_LINEAGE;
    }
    if (committed >= 0) {
        *offset = committed;
        return PB_ROUTER_RESUME_COMMITTED;
    }
    *offset = start && !strcmp(start, "earliest") ? PB_KAFKA_OFFSET_BEGINNING : PB_KAFKA_OFFSET_END;
    return PB_ROUTER_RESUME_START;
}

const char *pb_router_resume_name(pb_router_resume_why_t why) {
    switch (why) {
    case PB_ROUTER_RESUME_LINEAGE: return "lineage header of the input partition's last record";
    case PB_ROUTER_RESUME_COMMITTED: return "committed offset";
    default: return "binding start";
    }
}

static const char *const owned[] = {
    PB_HDR_TRACEPARENT,       PB_HDR_CE_DATASCHEMA,  PB_HDR_CE_SPECVERSION, PB_HDR_CE_SOURCE,
    PB_HDR_CE_TYPE,           PB_HDR_CONTENT_TYPE,   PB_HDR_CONTRACT,       PB_HDR_LINEAGE_TOPIC,
    PB_HDR_LINEAGE_PARTITION, PB_HDR_LINEAGE_OFFSET, PB_HDR_LINEAGE_HOPS,
};
#define OWNED_MESH_FIRST 6 /* owned[6..] are mesh.* */
#define OWNED_OTHER_MESH                                                                           \
    (-2) /* a mesh.* name the broker does not set: owned, dropped by prefix                        \
          */

/* Index of name in owned[], OWNED_OTHER_MESH, or -1. Per record and header: the producer's own
 * headers (ce_id, ce_time...) are told apart by their first bytes, without a string compare each.
 */
static int owned_index(const char *name) {
    switch (name[0]) {
    case 't': return strcmp(name, PB_HDR_TRACEPARENT) ? -1 : 0;
    case 'c':
        if (name[1] == 'o') return strcmp(name, PB_HDR_CONTENT_TYPE) ? -1 : 5;
        if (name[1] != 'e' || name[2] != '_') return -1;
        for (int i = 1; i < 5; i++)
            if (!strcmp(name + 3, owned[i] + 3)) return i;
        return -1;
    case 'm':
        if (strncmp(name, "mesh.", 5)) return -1;
        for (size_t i = OWNED_MESH_FIRST; i < sizeof owned / sizeof *owned; i++)
            if (!strcmp(name + 5, owned[i] + 5)) return (int)i;
        return OWNED_OTHER_MESH;
    default: return -1;
    }
}

int pb_router_owned_header(const char *name) { return owned_index(name) != -1; }

/* Decimal text of up to 18 digits, else -1. */
static int64_t parse_int(const void *v, size_t len) {
    const char *s = v;
    int64_t n = 0;
    if (!s || len == 0 || len > 18) return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        n = n * 10 + (s[i] - '0');
    }
    return n;
}

static pb_kafka_header_t hdr(const char *name, const void *v, size_t len) {
    pb_kafka_header_t h = {name, v, len};
    return h;
}

/* Decimal text of v into out (no NUL); returns the length. */
static size_t fmt_u64(char *out, uint64_t v) {
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

size_t pb_router_hop_headers(const pb_kafka_header_t *in, size_t n_in, const pb_router_hop_t *hop,
                             pb_kafka_header_t *out, char *scratch) {
    size_t k = 0;
    const pb_kafka_header_t *parent = NULL;
    int has_id = 0, has_time = 0;
    for (size_t i = 0; i < n_in; i++) {
        const char *name = in[i].name;
        if (name[0] == 't' && !strcmp(name, PB_HDR_TRACEPARENT)) parent = &in[i];
        if (name[0] == 'c' && !strcmp(name, PB_HDR_CE_ID) && in[i].value && in[i].len) has_id = 1;
        if (name[0] == 'c' && !strcmp(name, PB_HDR_CE_TIME) && in[i].value && in[i].len)
            has_time = 1;
    }
    char *tp = scratch;                               /* 56 bytes */
    char *part = scratch + PB_ID_TRACEPARENT_LEN + 1; /* 24 */
    char *off = part + 24;                            /* 24 */
    char *id = off + 24;                              /* 300: topic/partition/offset */
    char *tm = id + 300;                              /* PB_TIMEFMT_LEN + 1 */
    pb_id_traceparent_child(parent ? parent->value : NULL, parent ? parent->len : 0, tp);
    size_t pl = fmt_u64(part, (uint64_t)(hop->origin_partition < 0 ? 0 : hop->origin_partition));
    size_t ol = fmt_u64(off, (uint64_t)(hop->origin_offset < 0 ? 0 : hop->origin_offset));
    out[k++] = hdr(PB_HDR_TRACEPARENT, tp, PB_ID_TRACEPARENT_LEN);
    out[k++] = hdr(PB_HDR_CE_SPECVERSION, "1.0", 3);
    if (hop->source) out[k++] = hdr(PB_HDR_CE_SOURCE, hop->source, strlen(hop->source));
    if (hop->type) out[k++] = hdr(PB_HDR_CE_TYPE, hop->type, strlen(hop->type));
    out[k++] = hdr(PB_HDR_CONTENT_TYPE, "application/avro", 16);
    out[k++] = hdr(PB_HDR_CE_DATASCHEMA, hop->dataschema, strlen(hop->dataschema));
    out[k++] = hdr(PB_HDR_CONTRACT, hop->contract, strlen(hop->contract));
    out[k++] = hdr(PB_HDR_LINEAGE_TOPIC, hop->origin_topic, strlen(hop->origin_topic));
    out[k++] = hdr(PB_HDR_LINEAGE_PARTITION, part, pl);
    out[k++] = hdr(PB_HDR_LINEAGE_OFFSET, off, ol);
    /* Always 1: see pb_router_hop_headers in router.h. */
    out[k++] = hdr(PB_HDR_LINEAGE_HOPS, "1", 1);
    if (!has_id) {
        /* A record written straight to the topic without an id: one derived from its origin
         * position, the same on every retry and every instance. */
        size_t tl = strlen(hop->origin_topic), il = 0;
        if (tl > 249) tl = 249;
        memcpy(id, hop->origin_topic, tl);
        il = tl;
        id[il++] = '/';
        memcpy(id + il, part, pl);
        il += pl;
        id[il++] = '/';
        memcpy(id + il, off, ol);
        il += ol;
        out[k++] = hdr(PB_HDR_CE_ID, id, il);
    }
    if (!has_time && hop->origin_ts_ms > 0) {
        size_t tl = pb_timefmt_format(hop->origin_ts_ms, tm);
        if (tl) out[k++] = hdr(PB_HDR_CE_TIME, tm, tl);
    }
    return k;
}

size_t pb_router_headers(const pb_kafka_header_t *in, size_t n_in, const pb_router_hop_t *hop,
                         pb_kafka_header_t *out, char *scratch) {
    size_t k = 0;
    for (size_t i = 0; i < n_in; i++)
        if (!pb_router_owned_header(in[i].name)) out[k++] = in[i];
    return k + pb_router_hop_headers(in, n_in, hop, out + k, scratch);
}

const char *pb_router_dlq_stage(pb_metrics_dlq_reason_t r) {
    return r == PB_METRICS_DLQ_PROJECTION                                       ? "TRANSFORMATION"
           : r == PB_METRICS_DLQ_TOO_LARGE || r == PB_METRICS_DLQ_UNDELIVERABLE ? "KAFKA_PRODUCE"
                                                                                : "VALUE_CONVERTER";
}

const char *pb_router_dlq_class(pb_metrics_dlq_reason_t r) {
    switch (r) {
    case PB_METRICS_DLQ_DECODE: return "portbroker.DecodeError";
    case PB_METRICS_DLQ_UNKNOWN_SCHEMA: return "portbroker.UnknownSchemaError";
    case PB_METRICS_DLQ_TOO_LARGE:
    case PB_METRICS_DLQ_UNDELIVERABLE: return "portbroker.RecordRefusedError";
    default: return "portbroker.ProjectionError";
    }
}

#define DLQ(x) PB_HDR_DLQ_PREFIX x

size_t pb_router_dlq_headers(const pb_kafka_header_t *in, size_t n_in, const char *origin_topic,
                             int32_t origin_partition, int64_t origin_offset,
                             const pb_router_failure_t *f, pb_kafka_header_t *out, char *scratch) {
    size_t k = 0;
    size_t plen = strlen(PB_HDR_DLQ_PREFIX);
    for (size_t i = 0; i < n_in; i++)
        if (strncmp(in[i].name, PB_HDR_DLQ_PREFIX, plen) != 0) out[k++] = in[i];
    char *part = scratch, *off = scratch + 12;
    int pl = snprintf(part, 12, "%" PRId32, origin_partition);
    int ol = snprintf(off, 21, "%" PRId64, origin_offset);
    const char *stage = pb_router_dlq_stage(f->reason), *cls = pb_router_dlq_class(f->reason);
    out[k++] = hdr(DLQ("topic"), origin_topic, strlen(origin_topic));
    out[k++] = hdr(DLQ("partition"), part, (size_t)pl);
    out[k++] = hdr(DLQ("offset"), off, (size_t)ol);
    out[k++] = hdr(DLQ("stage"), stage, strlen(stage));
    out[k++] = hdr(DLQ("exception.class.name"), cls, strlen(cls));
    out[k++] = hdr(DLQ("exception.message"), f->message, strlen(f->message));
    return k;
}

/* ---- routers -------------------------------------------------------------------------------- */

/* A record sent and not yet acknowledged, in send order per partition. */
typedef struct slot {
    int64_t offset;   /* origin offset (the tag) */
    int64_t event_ms; /* ce_time, -1 unknown */
    uint8_t done;     /* 1 acknowledged, 2 failed */
    uint8_t kind;     /* 0 routed, 1 + pb_metrics_dlq_reason_t dead-lettered */
    uint8_t trunc;    /* a dead letter with its value truncated */
} slot_t;

typedef struct part {
    int assigned, paused;
    int broken;       /* a record was not produced: stop, then resume from the input's tail */
    int64_t retry_ms; /* earliest time of the next recovery attempt */
    size_t pending;   /* slots not yet acknowledged or failed */
    slot_t *ring;     /* cap is a power of two */
    size_t cap, head, count;
    int64_t next_commit; /* every origin offset below it is acknowledged (-1: none yet) */
    int64_t committed;   /* last value committed (-1: none) */
    /* A record Kafka refused for good (its size, or its form): what to send instead next time it
     * is read. Never stuck: each refusal moves it one step, routed copy -> dead letter ->
     * truncated dead letter -> skipped (counted and logged), so a partition always gets past. */
    int64_t esc_offset; /* its origin offset (-1: none) */
    int64_t skip_below; /* after a recovery that went back to esc_offset: records below this
                         * offset other than esc_offset already landed (-1: none) */
    int esc_level;      /* 1 dead letter, 2 truncated dead letter, 3 skip */
    char esc_msg[512];  /* why the routed copy was refused */
} part_t;

/* Flow control per router: with HOLD_AT records in flight the router takes no more messages from
 * its consumer's queue (they wait there, fetched; librdkafka bounds that queue) until deliveries
 * bring it down. A small window keeps in-flight messages and their headers in memory that is
 * reused rather than freshly faulted in; pausing partitions instead would drop their prefetched
 * messages and cost a fetch round trip each time. */
#define HOLD_AT 10000
#define CACHE_MAX 256 /* writer ids cached per router (a flood of bogus ids resets it) */

/* A writer schema id's fate: a resolver into the reader, or why not. */
typedef struct wcache {
    uint32_t id;
    const pb_schema_t *writer;
    pb_resolver_t *res;
    pb_metrics_dlq_reason_t reason; /* when res is NULL */
    char msg[512];
} wcache_t;

typedef struct router {
    pb_routers_t *rs;
    int binding_id;
    int seen; /* reconcile mark */
    char *from, *to, *start;
    char *out_topic, *in_topic, *dlq_topic;
    char group[PB_ADDR_KAFKA_NAME_MAX];
    char *contract, *dataschema;
    int reader_id;
    const pb_schema_t *reader;
    part_t *parts;
    size_t n_parts;
    pb_kafka_consumer_t *c;
    pb_kafka_producer_t *p;
    pb_metrics_port_t *m_out, *m_in;
    wcache_t *cache;
    size_t n_cache;
    wcache_t *last;
    pb_buf_t out;
    pb_kafka_header_t *hin, *hout;
    size_t hcap;
    uint64_t routed, dlq, failed;
    int64_t last_commit_ms;
    int stopping;
} router_t;

struct pb_routers {
    pb_router_env_t env;
    char *url;
    const pb_registry_t *reg;
    int wake[2];
    router_t **r;
    size_t n, cap;
    pb_loop_timer_t *tick;
    int retry; /* a binding could not be routed yet (topics missing): reconcile again on tick */
};

static void cache_clear(router_t *r) {
    for (size_t i = 0; i < r->n_cache; i++)
        pb_resolver_destroy(r->cache[i].res);
    r->n_cache = 0;
    r->last = NULL;
}

static wcache_t *writer_for(router_t *r, uint32_t id) {
    if (r->last && r->last->id == id) return r->last;
    for (size_t i = 0; i < r->n_cache; i++)
        if (r->cache[i].id == id) return r->last = &r->cache[i];
    if (r->n_cache == CACHE_MAX) cache_clear(r);
    wcache_t *w = &r->cache[r->n_cache];
    memset(w, 0, sizeof *w);
    w->id = id;
    pb_err_t err = {0};
    const char *text = NULL;
    if (id > INT32_MAX || pb_registry_schema_by_id(r->rs->reg, (int)id, &text, &w->writer, &err)) {
        w->reason = PB_METRICS_DLQ_UNKNOWN_SCHEMA;
        snprintf(w->msg, sizeof w->msg, "schema id %" PRIu32 " is not in the registry: %s", id,
                 err.msg);
    } else if (pb_resolver_new(w->writer, r->reader, &w->res, &err)) {
        w->reason = PB_METRICS_DLQ_PROJECTION;
        snprintf(w->msg, sizeof w->msg,
                 "writer schema id %" PRIu32 " cannot be read as reader schema id %d: %s", id,
                 r->reader_id, err.msg);
    }
    r->n_cache++;
    return r->last = w;
}

static part_t *part_of(router_t *r, int32_t partition) {
    if (partition < 0) return NULL;
    if ((size_t)partition >= r->n_parts) {
        size_t n = (size_t)partition + 1;
        part_t *np = realloc(r->parts, n * sizeof *np);
        PB_ASSERT(np); /* a few bytes per partition */
        memset(np + r->n_parts, 0, (n - r->n_parts) * sizeof *np);
        for (size_t i = r->n_parts; i < n; i++)
            np[i].next_commit = np[i].committed = np[i].esc_offset = np[i].skip_below = -1;
        r->parts = np;
        r->n_parts = n;
    }
    return &r->parts[partition];
}

static slot_t *ring_at(part_t *p, size_t i) { return &p->ring[(p->head + i) & (p->cap - 1)]; }

static void ring_push(part_t *p, int64_t offset, int64_t event_ms, uint8_t kind, uint8_t trunc) {
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 1024;
        slot_t *n = malloc(cap * sizeof *n);
        PB_ASSERT(n); /* bounded by HOLD_AT plus a fetch */
        for (size_t i = 0; i < p->count; i++)
            n[i] = *ring_at(p, i);
        free(p->ring);
        p->ring = n;
        p->cap = cap;
        p->head = 0;
    }
    slot_t *s = &p->ring[(p->head + p->count) & (p->cap - 1)];
    s->offset = offset;
    s->event_ms = event_ms;
    s->done = 0;
    s->kind = kind;
    s->trunc = trunc;
    p->count++;
    p->pending++;
}

/* The slot of origin offset off (binary search: offsets grow in send order), or NULL. */
static slot_t *ring_find(part_t *p, int64_t off) {
    size_t lo = 0, hi = p->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        slot_t *s = ring_at(p, mid);
        if (s->offset == off) return s;
        if (s->offset < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void ring_reset(part_t *p) {
    p->head = p->count = p->pending = 0;
    p->paused = p->broken = 0;
}

static void commit(router_t *r, int force) {
    int64_t now = pb_loop_now_ms();
    if (!r->c || (!force && now - r->last_commit_ms < r->rs->env.commit_interval_ms)) return;
    pb_kafka_tp_t tp[64];
    size_t n = 0;
    r->last_commit_ms = now;
    for (size_t i = 0; i < r->n_parts; i++) {
        part_t *p = &r->parts[i];
        if (!p->assigned || p->next_commit < 0 || p->next_commit <= p->committed) continue;
        tp[n].partition = (int32_t)i;
        tp[n].offset = p->next_commit;
        p->committed = p->next_commit;
        if (++n == sizeof tp / sizeof *tp) {
            pb_err_t err = {0};
            if (pb_kafka_consumer_commit(r->c, tp, n, &err))
                pb_log_rl(WARN, "router", "%s: %s", r->to, err.msg);
            n = 0;
        }
    }
    pb_err_t err = {0};
    if (n && pb_kafka_consumer_commit(r->c, tp, n, &err))
        pb_log_rl(WARN, "router", "%s: %s", r->to, err.msg);
}

static int64_t inflight(const router_t *r) { return r->p ? pb_kafka_producer_inflight(r->p) : 0; }

/* Stop fetching a partition that cannot make progress; recover() restarts it. */
static void set_broken(router_t *r, int32_t pn, part_t *p) {
    pb_err_t err = {0};
    p->broken = 1;
    if (!p->paused && !pb_kafka_consumer_pause(r->c, pn, 1, &err)) p->paused = 1;
}

/* Acknowledged slots at the head leave the ring; what they cover becomes committable. */
static void advance(part_t *p) {
    while (p->count && !p->broken) {
        slot_t *h = ring_at(p, 0);
        if (h->done != 1) break;
        p->next_commit = h->offset + 1;
        p->head = (p->head + 1) & (p->cap - 1);
        p->count--;
    }
}

static void on_delivery(void *arg, const pb_kafka_delivery_t *d) {
    router_t *r = arg;
    part_t *p = part_of(r, d->partition);
    slot_t *s = p ? ring_find(p, d->tag) : NULL;
    if (!s || s->done) return; /* revoked meanwhile: the next owner decides from the tail */
    p->pending--;
    if (d->code) {
        s->done = 2;
        r->failed++;
        if (d->permanent && !p->broken) {
            /* The record itself is refused: next time send what the next step says. */
            int level = !s->kind ? 1 : !s->trunc ? 2 : 3;
            if (p->esc_offset != d->tag || p->esc_level < level) {
                if (p->esc_offset != d->tag || level == 1)
                    snprintf(p->esc_msg, sizeof p->esc_msg, "%s refused the %s: %s", d->topic,
                             level == 1 ? "routed copy" : "dead letter",
                             d->reason ? d->reason : "error");
                p->esc_offset = d->tag;
                p->esc_level = level;
            }
            p->retry_ms = 0; /* no cluster trouble to wait out */
            pb_log(ERROR, "router",
                   "%s: %s[%d]@%" PRId64 ": %s refused it for good (%s); it goes %s", r->to,
                   r->out_topic, (int)d->partition, d->tag, d->topic, d->reason,
                   level == 1   ? "to the dead-letter topic instead"
                   : level == 2 ? "to the dead-letter topic truncated"
                                : "nowhere: skipped");
        } else if (!p->broken) {
            pb_log(ERROR, "router",
                   "%s: producing origin offset %" PRId64 " of %s[%d] to %s failed: %s; partition "
                   "%d stops, then resumes from the input topic's tail",
                   r->to, d->tag, r->out_topic, (int)d->partition, d->topic, d->reason,
                   (int)d->partition);
        }
        set_broken(r, d->partition, p);
    } else {
        s->done = 1;
        pb_metrics_t *m = r->rs->env.metrics;
        if (s->kind) {
            r->dlq++;
            if (r->m_out) {
                pb_metrics_count(r->m_out, PB_METRICS_OUT, PB_METRICS_DLQ, 1, d->value_len);
                pb_metrics_dlq(r->m_out, (pb_metrics_dlq_reason_t)(s->kind - 1));
            }
        } else {
            r->routed++;
            if (m) {
                double now = (double)pb_loop_wall_ms() / 1000.0;
                pb_metrics_count(r->m_out, PB_METRICS_OUT, PB_METRICS_OK, 1, d->value_len);
                pb_metrics_count(r->m_in, PB_METRICS_IN, PB_METRICS_OK, 1, d->value_len);
                if (s->event_ms >= 0 && r->m_in) {
                    double ev = (double)s->event_ms / 1000.0;
                    pb_metrics_seen(r->m_in, ev, now);
                    pb_metrics_hist_observe(&r->m_in->e2e, now > ev ? now - ev : 0);
                } else {
                    pb_metrics_seen(r->m_in, 0, now);
                }
                pb_metrics_produce_duration(m, (double)d->latency_us / 1e6);
            }
        }
    }
    advance(p);
}

/* Send with a bounded retry while the local queue is full. */
static int send(router_t *r, const char *topic, const pb_kafka_msg_t *m, const void *val,
                size_t vlen, const pb_kafka_header_t *h, size_t nh, pb_err_t *err) {
    for (int tries = 0;; tries++) {
        int rc = pb_kafka_producer_send(r->p, topic, m->partition, m->key, m->key_len, val, vlen, h,
                                        nh, m->offset, err);
        if (rc != PB_ERR_UNAVAILABLE || tries == 100) return rc;
        pb_kafka_producer_wait(r->p, 100);
    }
}

/* The most of a refused record's value a truncated dead letter keeps. */
#define DLQ_TRUNCATED_BYTES 65536

/* Neither the input topic nor the dead-letter topic takes the record: count it, log where it came
 * from, and go past it (its slot is acknowledged at once, so the offset is committed). */
static void skip(router_t *r, part_t *p, const pb_kafka_msg_t *m, const char *msg,
                 const char *dlq_err) {
    pb_log(ERROR, "router",
           "%s: SKIPPED %s[%d]@%" PRId64 " (%zu value bytes): %s; the dead-letter topic %s "
           "refused it too (%s). Nothing of it is written anywhere; read it from the output topic "
           "at that position",
           r->to, r->out_topic, (int)m->partition, m->offset, m->value_len, msg, r->dlq_topic,
           dlq_err);
    ring_push(p, m->offset, -1, (uint8_t)(1 + PB_METRICS_DLQ_UNDELIVERABLE), 0);
    slot_t *s = ring_at(p, p->count - 1);
    s->done = 1;
    p->pending--;
    r->dlq++;
    if (r->m_out) {
        pb_metrics_count(r->m_out, PB_METRICS_OUT, PB_METRICS_DLQ, 1, 0);
        pb_metrics_dlq(r->m_out, PB_METRICS_DLQ_UNDELIVERABLE);
    }
    advance(p);
}

/* Send m to the dead-letter topic with Kafka Connect's error headers. trunc: keep at most
 * DLQ_TRUNCATED_BYTES of the value and say so (header mesh.dlq.value.truncated = the original
 * length). A dead letter refused for its size or form is sent truncated, and a truncated one
 * refused is skipped: a partition never stops on one record. */
static void dead_letter_as(router_t *r, part_t *p, const pb_kafka_msg_t *m, size_t n_in,
                           pb_metrics_dlq_reason_t reason, const char *msg, int trunc) {
    char scratch[PB_ROUTER_SCRATCH], full[24], tmsg[512];
    size_t vlen = m->value ? m->value_len : 0;
    if (trunc && vlen > DLQ_TRUNCATED_BYTES) {
        snprintf(tmsg, sizeof tmsg, "%s (value truncated to %d of %zu bytes)", msg,
                 DLQ_TRUNCATED_BYTES, vlen);
        msg = tmsg;
    }
    pb_router_failure_t f = {reason, msg};
    size_t nh = pb_router_dlq_headers(r->hin, n_in, r->out_topic, m->partition, m->offset, &f,
                                      r->hout, scratch);
    if (trunc && vlen > DLQ_TRUNCATED_BYTES) {
        int fl = snprintf(full, sizeof full, "%zu", vlen);
        r->hout[nh++] = (pb_kafka_header_t){PB_ROUTER_HDR_TRUNCATED, full, (size_t)fl};
        vlen = DLQ_TRUNCATED_BYTES;
    }
    pb_err_t err = {0};
    pb_log_rl(WARN, "router", "%s: %s[%d]@%" PRId64 " to %s: %s", r->to, r->out_topic,
              (int)m->partition, m->offset, r->dlq_topic, msg);
    int rc = send(r, r->dlq_topic, m, m->value, vlen, r->hout, nh, &err);
    if (rc == PB_ERR_TOO_LARGE || rc == PB_ERR_INVALID) {
        if (!trunc) {
            dead_letter_as(r, p, m, n_in, reason, msg, 1);
            return;
        }
        skip(r, p, m, msg, err.msg);
        return;
    }
    if (rc) {
        pb_log_rl(ERROR, "router", "%s: dead letter not produced: %s", r->to, err.msg);
        set_broken(r, m->partition, p);
        return;
    }
    ring_push(p, m->offset, -1, (uint8_t)(1 + reason), (uint8_t)trunc);
}

static void dead_letter(router_t *r, part_t *p, const pb_kafka_msg_t *m, size_t n_in,
                        pb_metrics_dlq_reason_t reason, const char *msg) {
    dead_letter_as(r, p, m, n_in, reason, msg, 0);
}

/* m's headers into r->hin (names and values point into m); returns their count. */
static size_t read_headers(router_t *r, const pb_kafka_msg_t *m) {
    size_t n_in = pb_kafka_msg_header_count(m);
    if (n_in + PB_ROUTER_EXTRA_HEADERS + PB_ROUTER_DLQ_HEADERS + 1 > r->hcap) {
        size_t cap = (n_in + 16) * 2 + PB_ROUTER_EXTRA_HEADERS + PB_ROUTER_DLQ_HEADERS;
        pb_kafka_header_t *a = realloc(r->hin, cap * sizeof *a);
        PB_ASSERT(a);
        r->hin = a;
        pb_kafka_header_t *b = realloc(r->hout, cap * sizeof *b);
        PB_ASSERT(b);
        r->hout = b;
        r->hcap = cap;
    }
    for (size_t i = 0; i < n_in; i++) {
        const void *v;
        size_t len;
        pb_kafka_msg_header_at(m, i, &r->hin[i].name, &v, &len);
        r->hin[i].value = v;
        r->hin[i].len = len;
    }
    return n_in;
}

/* Send instead what the partition's escalation says for m (a record refused for good). */
static void escalate(router_t *r, part_t *p, const pb_kafka_msg_t *m, size_t n_in) {
    if (p->esc_level >= 3) {
        skip(r, p, m, p->esc_msg, "a truncated dead letter");
        return;
    }
    dead_letter_as(r, p, m, n_in, PB_METRICS_DLQ_TOO_LARGE, p->esc_msg, p->esc_level >= 2);
}

static void route_one(router_t *r, const pb_kafka_msg_t *m) {
    part_t *p = part_of(r, m->partition);
    if (!p->assigned) return; /* a message of a revoked partition: its next owner routes it */
    if (p->broken) return;
    size_t n_in = read_headers(r, m);
    int64_t event_ms = -1;
    /* Owned headers the producer sent (every copy dropped from the moved list): our constants,
     * as m's header names die with the move; "mesh." drops any other mesh.* name. */
    const char *drop[sizeof owned / sizeof *owned + 1];
    size_t n_drop = 0;
    unsigned present = 0;
    for (size_t i = 0; i < n_in; i++) {
        const char *name = r->hin[i].name;
        int j = owned_index(name);
        if (j == OWNED_OTHER_MESH) j = (int)(sizeof owned / sizeof *owned);
        if (j >= 0 && !(present & (1u << j))) {
            present |= 1u << j;
            drop[n_drop++] = j < (int)(sizeof owned / sizeof *owned) ? owned[j] : "mesh.";
        }
        if (r->rs->env.metrics && r->hin[i].value && name[0] == 'c' &&
            !strcmp(name, PB_HDR_CE_TIME) &&
            pb_timefmt_parse(r->hin[i].value, r->hin[i].len, &event_ms, NULL) != 0)
            event_ms = -1;
    }
    if (p->esc_offset == m->offset && p->esc_level > 0) {
        escalate(r, p, m, n_in);
        return;
    }
    if (m->offset < p->skip_below) {
        /* Landed before the recovery went back for the refused record: acknowledged already. */
        ring_push(p, m->offset, -1, 0, 0);
        slot_t *s = ring_at(p, p->count - 1);
        s->done = 1;
        p->pending--;
        advance(p);
        return;
    }
    uint32_t id;
    const uint8_t *payload;
    size_t plen;
    pb_err_t err = {0};
    if (pb_codec_wire_parse(m->value, m->value ? m->value_len : 0, &id, &payload, &plen, &err)) {
        dead_letter(r, p, m, n_in, PB_METRICS_DLQ_DECODE, err.msg);
        return;
    }
    wcache_t *w = writer_for(r, id);
    if (!w->res) {
        dead_letter(r, p, m, n_in, w->reason, w->msg);
        return;
    }
    r->out.len = 0;
    if (pb_codec_wire_header(&r->out, (uint32_t)r->reader_id) ||
        pb_resolver_run(w->res, payload, plen, &r->out, &err)) {
        char msg[512];
        pb_err_t verr = {0};
        if (pb_codec_validate(w->writer, payload, plen, &verr)) {
            snprintf(msg, sizeof msg, "value does not decode with writer schema id %" PRIu32 ": %s",
                     id, verr.msg);
            dead_letter(r, p, m, n_in, PB_METRICS_DLQ_DECODE, msg);
        } else {
            snprintf(msg, sizeof msg, "writer schema id %" PRIu32 " -> reader schema id %d: %s", id,
                     r->reader_id, err.msg);
            dead_letter(r, p, m, n_in, PB_METRICS_DLQ_PROJECTION, msg);
        }
        return;
    }
    char scratch[PB_ROUTER_SCRATCH];
    const char *type = r->reader && r->reader->root && r->reader->root->fullname
                           ? r->reader->root->fullname
                           : r->to;
    pb_router_hop_t hop = {r->out_topic, m->partition, m->offset, r->dataschema,
                           r->contract,  r->from,      type,      m->timestamp_ms};
    /* The producer's headers moved over, owned ones dropped, the broker's appended: nothing is
     * copied twice. */
    size_t nh = pb_router_hop_headers(r->hin, n_in, &hop, r->hout, scratch);
    int rc = pb_kafka_producer_forward(r->p, r->in_topic, m, r->out.data, r->out.len, drop, n_drop,
                                       r->hout, nh, m->offset, &err);
    if (rc == PB_ERR_TOO_LARGE || rc == PB_ERR_INVALID) {
        /* Refused before it left (the routed copy is larger than the producer may send): a
         * dead letter instead, with m's headers read again (the forward moved them). */
        snprintf(p->esc_msg, sizeof p->esc_msg, "%s refused the routed copy (%zu bytes): %.160s",
                 r->in_topic, r->out.len, err.msg);
        p->esc_offset = m->offset;
        p->esc_level = 1;
        pb_log(ERROR, "router", "%s: %s[%d]@%" PRId64 ": %s; it goes to %s instead", r->to,
               r->out_topic, (int)m->partition, m->offset, p->esc_msg, r->dlq_topic);
        escalate(r, p, m, read_headers(r, m));
        return;
    }
    if (rc) {
        pb_log_rl(ERROR, "router", "%s: %s[%d]@%" PRId64 " not produced to %s: %s", r->to,
                  r->out_topic, (int)m->partition, m->offset, r->in_topic, err.msg);
        set_broken(r, m->partition, p);
        return;
    }
    ring_push(p, m->offset, event_ms, 0, 0);
}

static void on_batch(void *arg, const pb_kafka_msg_t *msgs, size_t n) {
    router_t *r = arg;
    for (size_t i = 0; i < n; i++)
        route_one(r, &msgs[i]);
}

/* ---- assignment: where each partition resumes ---- */

typedef struct tail_ctx {
    router_t *r;
    int64_t *lineage_next; /* by partition */
    int64_t *tail;         /* offset of the input partition's last record, by partition */
    size_t n;
} tail_ctx_t;

static void on_tail(void *arg, const pb_kafka_msg_t *m) {
    tail_ctx_t *t = arg;
    const void *v;
    size_t len;
    if (m->partition < 0 || (size_t)m->partition >= t->n) return;
    if (!pb_kafka_msg_header(m, PB_HDR_LINEAGE_TOPIC, &v, &len) || len != strlen(t->r->out_topic) ||
        memcmp(v, t->r->out_topic, len) != 0)
        return;
    if (!pb_kafka_msg_header(m, PB_HDR_LINEAGE_OFFSET, &v, &len)) return;
    int64_t off = parse_int(v, len);
    if (off < 0) return;
    t->lineage_next[m->partition] = off + 1;
    t->tail[m->partition] = m->offset;
}

/*
 * Where each of parts[0..n) resumes: the later of the input partition's last record's origin
 * offset + 1 and the group's committed offset, else the binding's start. Sets each offset and logs
 * why (context: "assigned", "after a failed delivery"). Blocking, bounded (rebalance paths).
 * *committed_out (n entries, may be NULL) gets the committed offsets (-1: none).
 */
static void resume_positions(router_t *r, pb_kafka_tp_t *parts, size_t n, const char *context,
                             int64_t *committed_out) {
    int32_t maxp = -1;
    for (size_t i = 0; i < n; i++)
        if (parts[i].partition > maxp) maxp = parts[i].partition;
    size_t np = (size_t)(maxp + 1);
    int64_t *lineage = malloc((np ? np : 1) * sizeof *lineage);
    int64_t *tail = malloc((np ? np : 1) * sizeof *tail);
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    pb_kafka_tp_t *com = malloc((n ? n : 1) * sizeof *com);
    PB_ASSERT(lineage && tail && ids && com);
    for (size_t i = 0; i < np; i++)
        lineage[i] = tail[i] = -1;
    for (size_t i = 0; i < n; i++) {
        ids[i] = parts[i].partition;
        com[i].partition = parts[i].partition;
        com[i].offset = PB_KAFKA_OFFSET_INVALID;
    }
    pb_err_t err = {0};
    if (pb_kafka_consumer_committed(r->c, com, n, 5000, &err)) {
        pb_log(WARN, "router", "%s: %s; deciding from the input topic's tail alone", r->to,
               err.msg);
        for (size_t i = 0; i < n; i++)
            com[i].offset = PB_KAFKA_OFFSET_INVALID;
    }
    tail_ctx_t t = {r, lineage, tail, np};
    if (pb_kafka_last_records(r->rs->env.kafka, r->in_topic, ids, n, 10000, on_tail, &t, &err))
        pb_log(ERROR, "router",
               "%s: %s; resuming from committed offsets only (records routed after the last "
               "commit may be routed again)",
               r->to, err.msg);
    /* Bounds the low-watermark look-ups below together (a rebalance callback). */
    int64_t wm_deadline = pb_loop_now_ms() + 5000;
    for (size_t i = 0; i < n; i++) {
        int32_t pn = parts[i].partition;
        int64_t c = com[i].offset >= 0 ? com[i].offset : -1;
        int64_t off;
        pb_router_resume_why_t why = pb_router_resume(lineage[pn], c, r->start, &off);
        /* "earliest" as the first offset kept: a logical offset makes librdkafka look it up itself
         * once the partition leader's connection is up, retrying every 500 ms until then (a new
         * binding's partitions started up to half a second apart). The broker's client is
         * connected; a position deleted meanwhile is reset to earliest (offset_reset); past the
         * deadline or on error the logical offset stays. */
        int64_t low, high, left = wm_deadline - pb_loop_now_ms();
        if (off == PB_KAFKA_OFFSET_BEGINNING && left > 0 &&
            !pb_kafka_watermarks(r->rs->env.kafka, r->out_topic, pn, &low, &high, (int)left,
                                 &err) &&
            low >= 0)
            off = low;
        parts[i].offset = off;
        if (committed_out) committed_out[i] = c;
        if (why == PB_ROUTER_RESUME_LINEAGE)
            pb_log(INFO, "router",
                   "%s: partition %d of %s %s: resumes at offset %" PRId64
                   " (lineage header of input offset %" PRId64 " of %s; committed %" PRId64 ")",
                   r->to, (int)pn, r->out_topic, context, off, tail[pn], r->in_topic, c);
        else if (why == PB_ROUTER_RESUME_COMMITTED)
            pb_log(INFO, "router",
                   "%s: partition %d of %s %s: resumes at offset %" PRId64 " (committed offset)",
                   r->to, (int)pn, r->out_topic, context, off);
        else
            pb_log(INFO, "router", "%s: partition %d of %s %s: starts at the %s (binding start %s)",
                   r->to, (int)pn, r->out_topic, context,
                   off == PB_KAFKA_OFFSET_END ? "end" : "beginning", r->start);
    }
    free(lineage);
    free(tail);
    free(ids);
    free(com);
}

static void on_assign(router_t *r, pb_kafka_tp_t *parts, size_t n) {
    int64_t *com = malloc((n ? n : 1) * sizeof *com);
    PB_ASSERT(com);
    for (size_t i = 0; i < n; i++)
        part_of(r, parts[i].partition);
    resume_positions(r, parts, n, "assigned", com);
    for (size_t i = 0; i < n; i++) {
        part_t *p = part_of(r, parts[i].partition);
        ring_reset(p);
        p->skip_below = -1;
        p->assigned = 1;
        p->committed = com[i];
        p->next_commit = parts[i].offset >= 0 ? parts[i].offset : -1;
    }
    free(com);
}

/* A partition whose record could not be produced, once nothing of it is in flight: decide again
 * from the input topic's tail (what landed) and move the fetch position there. */
static void recover(router_t *r, int32_t pn, part_t *p) {
    pb_kafka_tp_t tp = {pn, 0};
    pb_err_t err = {0};
    p->retry_ms = pb_loop_now_ms() + 5000; /* a partition that keeps failing retries slowly */
    resume_positions(r, &tp, 1, "after a failed delivery", NULL);
    p->skip_below = -1;
    if (p->esc_offset >= 0 && tp.offset > p->esc_offset) {
        /* Records after the refused one landed meanwhile: read it again, and skip those. */
        p->skip_below = tp.offset;
        tp.offset = p->esc_offset;
    }
    if (pb_kafka_consumer_seek(r->c, pn, tp.offset, &err)) {
        pb_log_rl(ERROR, "router", "%s: %s", r->to, err.msg);
        return;
    }
    ring_reset(p);
    p->paused = 1; /* still paused in the consumer: set_broken paused it */
    p->next_commit = tp.offset >= 0 ? tp.offset : -1;
    if (!pb_kafka_consumer_pause(r->c, pn, 0, &err)) p->paused = 0;
}

static void on_revoke(router_t *r, pb_kafka_tp_t *parts, size_t n) {
    int left = r->p ? pb_kafka_producer_wait(r->p, r->rs->env.revoke_wait_ms) : 0;
    if (left)
        pb_log(WARN, "router",
               "%s: %d records still in flight after %d ms at revocation; the next owner may "
               "route them again",
               r->to, left, r->rs->env.revoke_wait_ms);
    commit(r, 1);
    for (size_t i = 0; i < n; i++) {
        part_t *p = part_of(r, parts[i].partition);
        p->assigned = 0;
        ring_reset(p);
    }
    pb_log(INFO, "router",
           "%s: %zu partitions of %s revoked (%" PRIu64 " routed, %" PRIu64
           " dead-lettered so far)",
           r->to, n, r->out_topic, r->routed, r->dlq);
}

static void on_rebalance(void *arg, int assigned, pb_kafka_tp_t *parts, size_t n) {
    router_t *r = arg;
    if (assigned)
        on_assign(r, parts, n);
    else
        on_revoke(r, parts, n);
}

/* ---- lifecycle ---- */

/* a + sep + b, malloc'd (NULL out of memory). */
static char *join(const char *a, const char *sep, const char *b) {
    size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
    char *s = malloc(la + ls + lb + 1);
    if (!s) return NULL;
    memcpy(s, a, la);
    memcpy(s + la, sep, ls);
    memcpy(s + la + ls, b, lb + 1);
    return s;
}

static void router_destroy(router_t *r) {
    if (!r) return;
    r->stopping = 1;
    pb_kafka_consumer_destroy(r->c); /* revokes: waits for in-flight records and commits */
    r->c = NULL;
    int left = pb_kafka_producer_destroy(r->p, r->rs->env.revoke_wait_ms);
    if (left) pb_log(WARN, "router", "%s: %d records undelivered at stop", r->to, left);
    cache_clear(r);
    for (size_t i = 0; i < r->n_parts; i++)
        free(r->parts[i].ring);
    free(r->parts);
    free(r->cache);
    pb_buf_free(&r->out);
    free(r->hin);
    free(r->hout);
    free(r->from);
    free(r->to);
    free(r->start);
    free(r->out_topic);
    free(r->in_topic);
    free(r->dlq_topic);
    free(r->contract);
    free(r->dataschema);
    free(r);
}

/* Point the router at the registry's current schemas (pointers change with every apply). */
static int refresh(router_t *r, const pb_registry_binding_t *b) {
    cache_clear(r);
    r->reader = b->reader;
    if (r->reader_id != b->reader_id || !r->dataschema) {
        char id[16];
        snprintf(id, sizeof id, "%d", b->reader_id);
        char *ds = join(r->rs->url, "/schemas/ids/", id);
        if (!ds) return PB_ERR_NOMEM;
        free(r->dataschema);
        r->dataschema = ds;
        r->reader_id = b->reader_id;
    }
    return 0;
}

static double slo_s(const pb_port_t *p) {
    return p->slo.has_freshness ? (double)p->slo.freshness_ms / 1000.0 : 0;
}

static router_t *router_start(pb_routers_t *rs, const pb_registry_binding_t *b, pb_err_t *err) {
    const pb_port_t *out = pb_registry_port(rs->reg, b->from);
    const pb_port_t *in = pb_registry_port(rs->reg, b->to);
    if (!out || !in) {
        pb_err_set(err, PB_ERR_NOT_FOUND, "binding %d: port %s is not in the registry", b->id,
                   out ? b->to : b->from);
        return NULL;
    }
    int parts = pb_kafka_partition_count(rs->env.kafka, out->topic, 5000, err);
    if (parts < 0) {
        if (parts == -1)
            pb_err_set(err, PB_ERR_NOT_FOUND, "binding %d: output topic %s does not exist yet",
                       b->id, out->topic);
        return NULL;
    }
    int actual = 0;
    if (pb_kafka_ensure_topic(rs->env.kafka, in->topic, parts, 15000, &actual, err) ||
        pb_kafka_ensure_topic(rs->env.kafka, out->dlq_topic, parts, 15000, NULL, err))
        return NULL;
    if (actual != parts)
        pb_log(WARN, "router",
               "%s: input topic %s has %d partitions, output topic %s has %d: records of "
               "partitions it lacks cannot be routed",
               in->fqn, in->topic, actual, out->topic, parts);
    router_t *r = calloc(1, sizeof *r);
    if (!r) goto nomem;
    r->rs = rs;
    r->binding_id = b->id;
    r->reader_id = -1;
    r->from = strdup(b->from);
    r->to = strdup(b->to);
    r->start = strdup(b->start ? b->start : "latest");
    r->out_topic = strdup(out->topic);
    r->in_topic = strdup(in->topic);
    r->dlq_topic = strdup(out->dlq_topic);
    r->contract = join(in->fqn, "@", in->version);
    r->cache = calloc(CACHE_MAX, sizeof *r->cache);
    if (!r->from || !r->to || !r->start || !r->out_topic || !r->in_topic || !r->dlq_topic ||
        !r->contract || !r->cache || refresh(r, b))
        goto nomem;
    pb_addr_route_group(in->topic, r->group, sizeof r->group);
    if (rs->env.metrics) {
        r->m_out = pb_metrics_port(rs->env.metrics, out->fqn, slo_s(out));
        r->m_in = pb_metrics_port(rs->env.metrics, in->fqn, slo_s(in));
    }
    part_of(r, parts - 1);
    r->p =
        pb_kafka_producer_new(rs->env.kafka, "portbroker-router", rs->wake[1], on_delivery, r, err);
    if (!r->p) goto fail;
    pb_kafka_consumer_conf_t cc = {
        .group = r->group,
        .topic = r->out_topic,
        /* Only for an explicit position below the first offset (records deleted): the start of
         * a binding without any position is decided in on_assign. */
        .offset_reset = "earliest",
        .client_id = "portbroker-router",
        .batch_max = 1000,
        /* Idle cost vs latency of a quiet topic (config router.fetch.wait.ms, see
         * pb_kafka_consumer_conf_t). A real cluster answers a fetch as soon as records arrive
         * (long poll), so this costs no latency there. The embedded one answers an empty fetch
         * only after the wait: 100 ms costs ~0.4% CPU per idle binding, the default 500 ms keeps
         * an idle broker with the example mesh at ~0.7% (0001's budget is 1%). */
        .fetch_wait_ms = rs->env.fetch_wait_ms,
        .wake_fd = rs->wake[1],
        .on_batch = on_batch,
        .on_rebalance = on_rebalance,
        .arg = r,
    };
    r->c = pb_kafka_consumer_new(rs->env.kafka, &cc, err);
    if (!r->c) goto fail;
    pb_log(INFO, "router",
           "router started: %s -> %s (%s -> %s, %d partitions, group %s, reader schema id %d, "
           "start %s)",
           b->from, b->to, r->out_topic, r->in_topic, parts, r->group, r->reader_id, r->start);
    return r;
nomem:
    pb_err_set(err, PB_ERR_NOMEM, "out of memory");
fail:
    router_destroy(r);
    return NULL;
}

static void serve_all(pb_routers_t *rs) {
    char drain[256];
    while (read(rs->wake[0], drain, sizeof drain) > 0) {
    }
    for (size_t i = 0; i < rs->n; i++) {
        router_t *r = rs->r[i];
        pb_kafka_producer_serve(r->p);
        /* Deliveries wake the loop again while messages wait in the consumer's queue. */
        int64_t room = HOLD_AT - inflight(r);
        if (room > 0) pb_kafka_consumer_serve_max(r->c, (size_t)room);
        pb_kafka_producer_serve(r->p);
        int64_t now = pb_loop_now_ms();
        for (size_t j = 0; j < r->n_parts; j++) {
            part_t *p = &r->parts[j];
            if (p->broken && p->assigned && p->pending == 0 && now >= p->retry_ms)
                recover(r, (int32_t)j, p);
        }
        /* By interval only: a commit per wake-up would cost more than routing (the loop's tick
         * commits a quiet router). */
        commit(r, 0);
    }
}

static void on_wake(void *arg) { serve_all(arg); }

/* Commits of a quiet router, reconcile retries for routers that could not start yet, and a poll
 * of every consumer: the loop otherwise polls one only when its queue wakes the fd, and a group
 * member that does not poll within max.poll.interval.ms (5 min) is thrown out of its group. */
static void on_tick(void *arg) {
    pb_routers_t *rs = arg;
    if (rs->retry && rs->reg) pb_routers_reconcile(rs, rs->reg);
    serve_all(rs);
}

pb_routers_t *pb_routers_new(const pb_router_env_t *env, pb_err_t *err) {
    pb_routers_t *rs = calloc(1, sizeof *rs);
    if (!rs) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    rs->env = *env;
    rs->wake[0] = rs->wake[1] = -1;
    if (!rs->env.commit_interval_ms) rs->env.commit_interval_ms = 1000;
    if (!rs->env.revoke_wait_ms) rs->env.revoke_wait_ms = 10000;
    if (!rs->env.fetch_wait_ms) rs->env.fetch_wait_ms = 500;
    rs->url = strdup(env->registry_url ? env->registry_url : "");
    if (!rs->url) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    rs->env.registry_url = rs->url;
    if (pipe2(rs->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        pb_err_set(err, PB_ERR_INTERNAL, "router wake pipe: %s", strerror(errno));
        goto fail;
    }
    if (env->loop) {
        if (pb_loop_watch_fd(env->loop, rs->wake[0], on_wake, rs, err)) goto fail;
        rs->tick = pb_loop_timer_new(env->loop, rs->env.commit_interval_ms, 1, on_tick, rs);
        if (!rs->tick) {
            pb_err_set(err, PB_ERR_NOMEM, "out of memory");
            goto fail;
        }
    }
    return rs;
fail:
    pb_routers_destroy(rs);
    return NULL;
}

int pb_routers_wake_fd(const pb_routers_t *rs) { return rs->wake[0]; }
void pb_routers_serve(pb_routers_t *rs) { serve_all(rs); }

void pb_routers_reconcile(pb_routers_t *rs, const pb_registry_t *reg) {
    rs->reg = reg;
    rs->retry = 0;
    size_t nb = pb_registry_binding_count(reg);
    for (size_t i = 0; i < rs->n; i++)
        rs->r[i]->seen = 0;
    for (size_t j = 0; j < nb; j++) {
        const pb_registry_binding_t *b = pb_registry_binding_at(reg, j);
        router_t *r = NULL;
        for (size_t i = 0; i < rs->n && !r; i++)
            if (rs->r[i]->binding_id == b->id) r = rs->r[i];
        if (r) {
            r->seen = 1;
            if (refresh(r, b)) pb_log(ERROR, "router", "%s: out of memory", r->to);
            continue;
        }
        if (rs->n == rs->cap) {
            size_t cap = rs->cap ? rs->cap * 2 : 8;
            router_t **a = realloc(rs->r, cap * sizeof *a);
            if (!a) continue;
            rs->r = a;
            rs->cap = cap;
        }
        pb_err_t err = {0};
        r = router_start(rs, b, &err);
        if (!r) {
            /* Ports or topics appear a moment later while products are being stored. */
            if (err.code == PB_ERR_NOT_FOUND)
                pb_log(DEBUG, "router", "binding %d not routed yet: %s", b->id, err.msg);
            else
                pb_log_rl(WARN, "router", "binding %d (%s -> %s) not routed yet: %s", b->id,
                          b->from, b->to, err.msg);
            rs->retry = 1;
            continue;
        }
        r->seen = 1;
        rs->r[rs->n++] = r;
    }
    for (size_t i = 0; i < rs->n;) {
        if (rs->r[i]->seen) {
            i++;
            continue;
        }
        router_t *r = rs->r[i];
        pb_log(INFO, "router", "router stopped: %s -> %s (binding %d removed)", r->from, r->to,
               r->binding_id);
        rs->r[i] = rs->r[--rs->n];
        router_destroy(r);
    }
}

void pb_routers_stats(const pb_routers_t *rs, pb_routers_stats_t *out) {
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < rs->n; i++) {
        out->routed += rs->r[i]->routed;
        out->dlq += rs->r[i]->dlq;
        out->failed += rs->r[i]->failed;
        out->inflight += inflight(rs->r[i]);
    }
    out->routers = rs->n;
}

void pb_routers_destroy(pb_routers_t *rs) {
    if (!rs) return;
    for (size_t i = 0; i < rs->n; i++) {
        pb_log(INFO, "router", "router stopped: %s -> %s (shutdown)", rs->r[i]->from, rs->r[i]->to);
        router_destroy(rs->r[i]);
    }
    free(rs->r);
    pb_loop_timer_destroy(rs->tick);
    /* The loop's watch of wake[0] goes with the loop; closing first is harmless for epoll. */
    if (rs->wake[0] >= 0) close(rs->wake[0]);
    if (rs->wake[1] >= 0) close(rs->wake[1]);
    free(rs->url);
    free(rs);
}
