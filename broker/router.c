/*
 * router — fan-out routing: each output-port partition read once, every record projected into the
 * input topic of each binding from its port, exactly once (see router.h for the scheme). The
 * per-record path allocates nothing once warm: headers go into reused arrays, the projected value
 * into one reused buffer per binding, and the shared producer carries the binding's slot and the
 * origin offset as the message's tag.
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
#include "hash.h"
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
        /* The fourth byte first: ce_id and ce_time (the producer's, per record) rarely need a
         * string compare at all. */
        for (int i = 1; i < 5; i++)
            if (name[3] == owned[i][3] && !strcmp(name + 3, owned[i] + 3)) return i;
        return -1;
    case 'm':
        if (strncmp(name, "mesh.", 5)) return -1;
        for (size_t i = OWNED_MESH_FIRST; i < sizeof owned / sizeof *owned; i++)
            if (name[5] == owned[i][5] && !strcmp(name + 5, owned[i] + 5)) return (int)i;
        return OWNED_OTHER_MESH;
    default: return -1;
    }
}

int pb_router_owned_header(const char *name) { return owned_index(name) != -1; }

int pb_router_bytes_full(int64_t held, int64_t bound) { return held > 0 && held >= bound; }

size_t pb_router_take(int64_t held, int64_t bound, int64_t per_record, size_t most) {
    if (!most || pb_router_bytes_full(held, bound)) return 0;
    if (per_record < 0) return 1;     /* one, to learn what a record takes */
    if (per_record == 0) return most; /* records routed nowhere (counted only) */
    int64_t fit = (bound - held) / per_record;
    if (fit < 1) return 1; /* below the bound: one more may pass it */
    return (uint64_t)fit < most ? (size_t)fit : most;
}

int pb_router_should_park(const pb_router_park_view_t *v) {
    return v->park_idle_ms > 0 && v->idle_ms >= v->park_idle_ms && v->settled && !v->busy &&
           !v->queued && v->pos >= 0 && v->high >= 0 && v->pos == v->high;
}

int pb_router_should_unpark(int64_t pos, int64_t high) { return pos >= 0 && high > pos; }

const char *pb_router_unpark_name(pb_router_unpark_why_t why) {
    switch (why) {
    case PB_ROUTER_UNPARK_PUBLISH: return "publish";
    case PB_ROUTER_UNPARK_SWEEP: return "sweep";
    default: return "binding";
    }
}

#define OWNED_KEEP_FIRST 2 /* owned[2..5]: ce_specversion, ce_source, ce_type, content-type */
#define OWNED_KEEP_LAST 5

/* The value the broker sets for owned[j] (OWNED_KEEP_FIRST <= j <= OWNED_KEEP_LAST), or NULL. */
static const char *keep_value(int j, const pb_router_hop_t *hop) {
    switch (j) {
    case 2: return "1.0";
    case 3: return hop->source;
    case 4: return hop->type;
    default: return "application/avro";
    }
}

/* Fold header (owned index j, value v/len) into the keep candidates: seen[] counts copies. */
static void keep_fold(int j, const void *v, size_t len, const pb_router_hop_t *hop, unsigned *keep,
                      unsigned *seen) {
    if (j < OWNED_KEEP_FIRST || j > OWNED_KEEP_LAST) return;
    unsigned bit = 1u << (j - OWNED_KEEP_FIRST);
    if (*seen & bit) {
        *keep &= ~bit; /* a repeated name is replaced */
        return;
    }
    *seen |= bit;
    const char *want = keep_value(j, hop);
    if (v && want && strlen(want) == len && !memcmp(v, want, len)) *keep |= bit;
}

unsigned pb_router_keep(const pb_kafka_header_t *in, size_t n_in, const pb_router_hop_t *hop) {
    unsigned keep = 0, seen = 0;
    for (size_t i = 0; i < n_in; i++)
        keep_fold(owned_index(in[i].name), in[i].value, in[i].len, hop, &keep, &seen);
    return keep;
}

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

size_t pb_router_hop_headers(const pb_kafka_header_t *in, size_t n_in, const pb_router_hop_t *hop,
                             pb_kafka_header_t *out, char *scratch) {
    size_t k = 0;
    const pb_kafka_header_t *parent = NULL;
    int has_id = 0, has_time = 0;
    for (size_t i = 0; i < n_in; i++) {
        const char *name = in[i].name;
        if (name[0] == 't' && !strcmp(name, PB_HDR_TRACEPARENT)) parent = &in[i];
        if (name[0] != 'c' || name[1] != 'e' || name[2] != '_' || !in[i].value || !in[i].len)
            continue;
        if (name[3] == 'i' && !strcmp(name, PB_HDR_CE_ID)) has_id = 1;
        if (name[3] == 't' && !strcmp(name, PB_HDR_CE_TIME)) has_time = 1;
    }
    char *tp = scratch;                               /* 56 bytes */
    char *part = scratch + PB_ID_TRACEPARENT_LEN + 1; /* 24 */
    char *off = part + 24;                            /* 24 */
    char *id = off + 24;                              /* 300: topic/partition/offset */
    char *tm = id + 300;                              /* PB_TIMEFMT_LEN + 1 */
    pb_id_traceparent_child(parent ? parent->value : NULL, parent ? parent->len : 0, tp);
    size_t pl =
        pb_metrics_fmt_u64(part, (uint64_t)(hop->origin_partition < 0 ? 0 : hop->origin_partition));
    size_t ol =
        pb_metrics_fmt_u64(off, (uint64_t)(hop->origin_offset < 0 ? 0 : hop->origin_offset));
    unsigned keep = hop->keep;
    out[k++] = hdr(PB_HDR_TRACEPARENT, tp, PB_ID_TRACEPARENT_LEN);
    if (!(keep & PB_ROUTER_KEEP_SPECVERSION)) out[k++] = hdr(PB_HDR_CE_SPECVERSION, "1.0", 3);
    if (hop->source && !(keep & PB_ROUTER_KEEP_SOURCE))
        out[k++] = hdr(PB_HDR_CE_SOURCE, hop->source, strlen(hop->source));
    if (hop->type && !(keep & PB_ROUTER_KEEP_TYPE))
        out[k++] = hdr(PB_HDR_CE_TYPE, hop->type, strlen(hop->type));
    if (!(keep & PB_ROUTER_KEEP_CONTENT_TYPE))
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
    pb_router_hop_t all = *hop;
    all.keep = 0;
    for (size_t i = 0; i < n_in; i++)
        if (!pb_router_owned_header(in[i].name)) out[k++] = in[i];
    return k + pb_router_hop_headers(in, n_in, &all, out + k, scratch);
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
    int64_t offset;   /* origin offset */
    int64_t event_ms; /* ce_time, -1 unknown */
    uint8_t done;     /* 1 acknowledged, 2 failed */
    uint8_t kind;     /* 0 routed, 1 + pb_metrics_dlq_reason_t dead-lettered */
    uint8_t trunc;    /* a dead letter with its value truncated */
} slot_t;

/* One binding's progress on one partition of its output topic. */
typedef struct part {
    int assigned;
    int resolving;    /* a recovery's look-ups run (a job): ignore the partition until it is done */
    int broken;       /* a record was not produced: ignore the partition, then resume from the
                       * input's tail */
    int revoking;     /* revoked with records in flight: routes nothing, given up once they land */
    int64_t retry_ms; /* earliest time of the next recovery attempt */
    int64_t next;     /* next origin offset this binding takes: the shared reader may deliver
                       * earlier ones again after another binding rewound it (-1: the first one
                       * delivered) */
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

/* Flow control: with HOLD_AT records in flight (all bindings together), or their bytes at
 * env.inflight_max_bytes (router.inflight.kbytes), the routers take no more messages from the
 * shared consumer's queue (they wait there, fetched; librdkafka bounds that queue) until
 * deliveries bring it down. One consumed record becomes one copy per binding, so the reader takes
 * at most (HOLD_AT - in flight) / fan-out records at a time, in batches of READ_BATCH, and no more
 * than the bytes left fit at what a record's copies took lately (pb_router_take). A record met
 * with the byte bound reached anyway (one larger than those before) is not routed: its partition
 * is rewound to it (rewind_full), so at most one record's copies pass the bound. */
#define HOLD_AT PB_ROUTER_HOLD_AT
#define READ_BATCH 256
/* Records taken from the reader per wake-up: a backlog is routed in slices (~10 ms each in a
 * release build), and the loop serves HTTP and other clients between them (the routers wake
 * themselves again when they stopped at this bound). */
#define SERVE_SLICE 2048
#define CACHE_MAX 256 /* writer ids cached per binding (a flood of bogus ids resets it) */

/* A delivery's tag: the binding's slot and the origin offset. */
#define SLOT_BITS 15
#define SLOT_MAX (1u << SLOT_BITS)
#define OFFSET_BITS 47
#define OFFSET_MASK ((INT64_C(1) << OFFSET_BITS) - 1)

/* A change of the reader's subscription makes the group rebalance (seconds): changes that come in
 * a burst (products loaded at start, a mesh applied at once) wait until reconciles have been quiet
 * this long, so they cost one rebalance. */
#define SUBSCRIBE_QUIET_MS 300

/* Direct writes timestamped up to this long before the reader got their partition are counted
 * (producer clocks, and records written while the partition moved between instances). */
#define COUNT_SLACK_MS 10000

/* The shared consumer's group: it only spreads output partitions over instances; each binding's
 * progress is its own (input tail + its group portbroker.route.{input topic}). */
#define FANOUT_GROUP "portbroker.fanout"

/* A writer schema id's fate: a resolver into the reader, or why not. */
typedef struct wcache {
    uint32_t id;
    const pb_schema_t *writer;
    pb_resolver_t *res;
    pb_metrics_dlq_reason_t reason; /* when res is NULL */
    char msg[512];
} wcache_t;

typedef struct port port_t;

/* One binding. */
typedef struct router {
    pb_routers_t *rs;
    port_t *port; /* NULL once removed */
    uint32_t slot;
    uint64_t serial; /* unique in the process: how a job's result finds its binding again */
    int binding_id;
    int seen; /* reconcile mark */
    char *from, *to, *start;
    char *out_topic, *in_topic, *dlq_topic;
    char group[PB_ADDR_KAFKA_NAME_MAX];
    char *contract, *dataschema;
    int reader_id;
    int in_parts; /* partitions of the input topic */
    const pb_schema_t *reader;
    part_t *parts;
    size_t n_parts;
    pb_metrics_port_t *m_out, *m_in;
    wcache_t *cache; /* grows to CACHE_MAX (a binding usually sees one or two writer ids) */
    size_t n_cache, cap_cache;
    wcache_t *last;
    pb_buf_t out;
    uint64_t routed, dlq, failed;
    int64_t inflight;
    int64_t last_commit_ms;
    int64_t stop_deadline; /* removed: freed once nothing is in flight, or after this */
} router_t;

/* The shared reader's state of one partition of an output topic. */
typedef struct fpart {
    int assigned;
    int resolving;      /* assigned paused: the bindings' positions are being looked up (a job) */
    int revoking;       /* revoked, kept until the bindings' records in flight landed: not read */
    uint32_t gen;       /* bumped at every assignment and revocation: a job's result for an older
                         * one is dropped */
    int64_t pos;        /* offset of the next record it delivers (-1: unknown) */
    int64_t counted;    /* direct writes below it are counted (-1: from the next one read) */
    int64_t since_ms;   /* wall time of the assignment: older records are history, not counted */
    int64_t rewind;     /* the first record not taken for the byte bound: read again (-1: none) */
    int64_t reading_ms; /* loop time the reader began reading it (resolved, or read again after
                         * it was parked): its fetch figures are current a fetch wait later; -1:
                         * not reading */
    int64_t active_ms;  /* loop time of its last record, or reading_ms: idle since (parking) */
    int parked;         /* paused in the reader for idleness (router.park.idle.ms): not fetched
                         * until a publish, the lag sweep or a binding needs it. The only reason
                         * the routers pause a partition in librdkafka (flow control stops taking
                         * records, a look-up defers the assignment, a revocation ignores them) */
} fpart_t;

/* An output topic read by this instance, and the bindings fanned out from it. */
struct port {
    char *topic;
    int declared;         /* a declared output port (read and counted even without bindings) */
    char contract[600];   /* mesh.contract HTTP publish stamps: {port URN}@{version} */
    pb_metrics_port_t *m; /* the output port's metrics (NULL: none) */
    router_t **b;
    size_t n_b, cap_b;
    fpart_t *parts;
    size_t n_parts;
    size_t n_parked; /* of parts */
};

struct pb_routers {
    pb_router_env_t env;
    char *url;
    const pb_registry_t *reg;
    int wake[2];
    router_t **r; /* live bindings */
    size_t n, cap;
    router_t **dying; /* removed bindings with records in flight */
    size_t n_dying, cap_dying;
    port_t **ports;
    size_t n_ports, cap_ports;
    port_t *last_port; /* of the last message: runs of one topic are the rule */
    pb_kafka_consumer_t *c;
    pb_kafka_producer_t *p;
    router_t **slots; /* by delivery slot */
    uint32_t next_slot;
    int subs_dirty;            /* the set of ports changed: subscribe again */
    int64_t last_reconcile_ms; /* subscriptions wait for a quiet moment (SUBSCRIBE_QUIET_MS) */
    pb_kafka_header_t *hin, *hout;
    size_t hcap;
    pb_loop_timer_t *tick;
    int retry; /* a binding could not be routed yet (topics missing): reconcile again on tick */
    uint64_t next_serial;
    struct rjob *jobs; /* resume look-ups in flight (cancelled at destroy) */
    struct tentry *tc; /* topic cache (open addressing) */
    size_t tc_n, tc_cap;
    struct tjob *tjob; /* the topic look-up in flight (one at a time) */
    int64_t ev_ms;     /* the record being fanned out: its ce_time (ms, -1 none; with metrics) */
    int64_t batch_wall_ms; /* wall clock at the start of the batch being fanned out (one read) */
    int decoded;           /* ... and a binding's resolver read its value (so it is valid) */
    /* A revocation waiting for the records in flight of its partitions (the group waits with
     * it): given up once they landed, or at rv_deadline. Topics are copies. */
    pb_kafka_tp_t *rv;
    size_t n_rv, cap_rv;
    int64_t rv_since, rv_deadline;
    int closing; /* pb_routers_destroy: revocations are finished at once */
    /* The byte bound (router.inflight.kbytes): what one record's copies took lately (a decaying
     * maximum), the most bytes ever in flight, records left for a rewind in this serve and how
     * often that happened. */
    int64_t rec_bytes, peak_bytes;
    int rewind_due;
    uint64_t rewinds;
    /* Parking (router.park.idle.ms): partitions parked now; a batch of partitions to pause or
     * resume in one librdkafka call; unparks by reason since start; what the next summary line
     * reports (parked and read again since the last one, at most one INFO line a PARK_LOG_MS). */
    size_t n_parked;
    pb_kafka_tp_t *pz;
    size_t n_pz, cap_pz;
    uint64_t unparks[PB_ROUTER_UNPARK_REASONS];
    size_t log_parked, log_unparked[PB_ROUTER_UNPARK_REASONS];
    int64_t log_ms;
};

static void *grow(void *a, size_t *cap, size_t elem) {
    size_t c = *cap ? *cap * 2 : 8;
    void *n = realloc(a, c * elem);
    PB_ASSERT(n); /* a pointer per binding or port */
    *cap = c;
    return n;
}

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
    if (r->n_cache == r->cap_cache) {
        size_t cap = r->cap_cache ? r->cap_cache * 2 : 2;
        wcache_t *c = realloc(r->cache, cap * sizeof *c);
        PB_ASSERT(c); /* CACHE_MAX entries at most */
        r->cache = c;
        r->cap_cache = cap;
    }
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
            np[i].next_commit = np[i].committed = np[i].esc_offset = np[i].skip_below = np[i].next =
                -1;
        r->parts = np;
        r->n_parts = n;
    }
    return &r->parts[partition];
}

static fpart_t *fpart_of(port_t *pt, int32_t partition) {
    if (partition < 0) return NULL;
    if ((size_t)partition >= pt->n_parts) {
        size_t n = (size_t)partition + 1;
        fpart_t *np = realloc(pt->parts, n * sizeof *np);
        PB_ASSERT(np);
        for (size_t i = pt->n_parts; i < n; i++) {
            np[i].assigned = np[i].resolving = np[i].revoking = np[i].parked = 0;
            np[i].gen = 0;
            np[i].pos = np[i].counted = np[i].rewind = np[i].reading_ms = np[i].active_ms = -1;
        }
        pt->parts = np;
        pt->n_parts = n;
    }
    return &pt->parts[partition];
}

static port_t *port_indexed(const pb_routers_t *rs, const char *topic);

/* The port of an output topic: the last one found, else the topic index (port_index): a record's
 * look-up costs a hash, not a scan of every port. */
static port_t *port_find(pb_routers_t *rs, const char *topic) {
    if (rs->last_port && !strcmp(rs->last_port->topic, topic)) return rs->last_port;
    port_t *pt = port_indexed(rs, topic);
    if (pt) rs->last_port = pt;
    return pt;
}

static slot_t *ring_at(part_t *p, size_t i) { return &p->ring[(p->head + i) & (p->cap - 1)]; }

static void ring_push(part_t *p, int64_t offset, int64_t event_ms, uint8_t kind, uint8_t trunc) {
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
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
    p->broken = 0;
}

/* Commit the binding's acknowledged offsets to its own group (lag reads them; the resume
 * decision takes the later of them and the input's tail). */
static void commit(router_t *r, int force) {
    int64_t now = pb_loop_now_ms();
    pb_routers_t *rs = r->rs;
    if (!rs->p || (!force && now - r->last_commit_ms < rs->env.commit_interval_ms)) return;
    r->last_commit_ms = now;
    pb_kafka_tp_t tp[64];
    size_t n = 0;
    for (size_t i = 0; i < r->n_parts; i++) {
        part_t *p = &r->parts[i];
        if (!p->assigned || p->next_commit < 0 || p->next_commit <= p->committed) continue;
        tp[n].partition = (int32_t)i;
        tp[n].offset = p->next_commit;
        tp[n].topic = r->out_topic;
        p->committed = p->next_commit;
        if (++n == sizeof tp / sizeof *tp || i + 1 == r->n_parts) {
            pb_err_t err = {0};
            if (pb_kafka_producer_group_commit(rs->p, r->group, tp, n, &err))
                pb_log_rl(WARN, "router", "%s: %s", r->to, err.msg);
            n = 0;
        }
    }
    if (n) {
        pb_err_t err = {0};
        if (pb_kafka_producer_group_commit(rs->p, r->group, tp, n, &err))
            pb_log_rl(WARN, "router", "%s: %s", r->to, err.msg);
    }
}

/* A binding's partition that cannot make progress: it ignores what the reader delivers until
 * recover() decides again where it resumes. The reader and the other bindings go on. */
static void set_broken(part_t *p) { p->broken = 1; }

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
    pb_routers_t *rs = arg;
    uint32_t sl = (uint32_t)((uint64_t)d->tag >> OFFSET_BITS);
    int64_t off = d->tag & OFFSET_MASK;
    router_t *r = sl < SLOT_MAX ? rs->slots[sl] : NULL;
    if (!r) return;
    r->inflight--;
    part_t *p = part_of(r, d->partition);
    slot_t *s = p ? ring_find(p, off) : NULL;
    if (!s || s->done) return; /* revoked meanwhile: the next owner decides from the tail */
    p->pending--;
    if (d->code) {
        s->done = 2;
        r->failed++;
        if (d->permanent && !p->broken) {
            /* The record itself is refused: next time send what the next step says. */
            int level = !s->kind ? 1 : !s->trunc ? 2 : 3;
            if (p->esc_offset != off || p->esc_level < level) {
                if (p->esc_offset != off || level == 1)
                    snprintf(p->esc_msg, sizeof p->esc_msg, "%s refused the %s: %s", d->topic,
                             level == 1 ? "routed copy" : "dead letter",
                             d->reason ? d->reason : "error");
                p->esc_offset = off;
                p->esc_level = level;
            }
            p->retry_ms = 0; /* no cluster trouble to wait out */
            pb_log(ERROR, "router",
                   "%s: %s[%d]@%" PRId64 ": %s refused it for good (%s); it goes %s", r->to,
                   r->out_topic, (int)d->partition, off, d->topic, d->reason,
                   level == 1   ? "to the dead-letter topic instead"
                   : level == 2 ? "to the dead-letter topic truncated"
                                : "nowhere: skipped");
        } else if (!p->broken) {
            pb_log(ERROR, "router",
                   "%s: producing origin offset %" PRId64 " of %s[%d] to %s failed: %s; partition "
                   "%d stops, then resumes from the input topic's tail",
                   r->to, off, r->out_topic, (int)d->partition, d->topic, d->reason,
                   (int)d->partition);
        }
        set_broken(p);
    } else {
        s->done = 1;
        pb_metrics_t *m = rs->env.metrics;
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

static int64_t tag_of(const router_t *r, int64_t offset) {
    return (int64_t)((uint64_t)r->slot << OFFSET_BITS) | (offset & OFFSET_MASK);
}

/* Send once. A full local queue (PB_ERR_UNAVAILABLE) is not waited out on the loop: the caller
 * stops the partition, which resumes from the input topic's tail once its records in flight
 * landed (recover), as after a failed delivery. */
static int send(router_t *r, const char *topic, const pb_kafka_msg_t *m, const void *val,
                size_t vlen, const pb_kafka_header_t *h, size_t nh, pb_err_t *err) {
    int rc = pb_kafka_producer_send(r->rs->p, topic, m->partition, m->key, m->key_len, val, vlen, h,
                                    nh, tag_of(r, m->offset), err);
    if (!rc) r->inflight++;
    return rc;
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
    pb_routers_t *rs = r->rs;
    char scratch[PB_ROUTER_SCRATCH], full[24], tmsg[512];
    size_t vlen = m->value ? m->value_len : 0;
    if (trunc && vlen > DLQ_TRUNCATED_BYTES) {
        snprintf(tmsg, sizeof tmsg, "%s (value truncated to %d of %zu bytes)", msg,
                 DLQ_TRUNCATED_BYTES, vlen);
        msg = tmsg;
    }
    pb_router_failure_t f = {reason, msg};
    size_t nh = pb_router_dlq_headers(rs->hin, n_in, r->out_topic, m->partition, m->offset, &f,
                                      rs->hout, scratch);
    if (trunc && vlen > DLQ_TRUNCATED_BYTES) {
        int fl = snprintf(full, sizeof full, "%zu", vlen);
        rs->hout[nh++] = (pb_kafka_header_t){PB_ROUTER_HDR_TRUNCATED, full, (size_t)fl};
        vlen = DLQ_TRUNCATED_BYTES;
    }
    pb_err_t err = {0};
    pb_log_rl(WARN, "router", "%s: %s[%d]@%" PRId64 " to %s: %s", r->to, r->out_topic,
              (int)m->partition, m->offset, r->dlq_topic, msg);
    int rc = send(r, r->dlq_topic, m, m->value, vlen, rs->hout, nh, &err);
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
        set_broken(p);
        return;
    }
    ring_push(p, m->offset, -1, (uint8_t)(1 + reason), (uint8_t)trunc);
}

static void dead_letter(router_t *r, part_t *p, const pb_kafka_msg_t *m, size_t n_in,
                        pb_metrics_dlq_reason_t reason, const char *msg) {
    dead_letter_as(r, p, m, n_in, reason, msg, 0);
}

/* m's headers into rs->hin (names and values point into m); returns their count. */
static size_t read_headers(pb_routers_t *rs, const pb_kafka_msg_t *m) {
    size_t spare = PB_ROUTER_EXTRA_HEADERS + PB_ROUTER_DLQ_HEADERS + 1;
    size_t n_in = pb_kafka_msg_headers(m, rs->hin, rs->hcap > spare ? rs->hcap - spare : 0);
    if (n_in + spare > rs->hcap) {
        size_t cap = (n_in + 16) * 2 + PB_ROUTER_EXTRA_HEADERS + PB_ROUTER_DLQ_HEADERS;
        pb_kafka_header_t *a = realloc(rs->hin, cap * sizeof *a);
        PB_ASSERT(a);
        rs->hin = a;
        pb_kafka_header_t *b = realloc(rs->hout, cap * sizeof *b);
        PB_ASSERT(b);
        rs->hout = b;
        rs->hcap = cap;
        n_in = pb_kafka_msg_headers(m, rs->hin, cap - spare);
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

/* Route m (its n_in headers in rs->hin) for binding r. last: r is the last binding m goes to,
 * so m's headers may be moved into the copy instead of copied. */
static void route_one(router_t *r, const pb_kafka_msg_t *m, size_t n_in, int last) {
    pb_routers_t *rs = r->rs;
    part_t *p = part_of(r, m->partition);
    if (!p->assigned || p->broken) return;
    /* Below next: handled already, delivered again because the reader went back for another
     * binding (a new one, or one recovering). */
    if (p->next >= 0 && m->offset < p->next) return;
    p->next = m->offset + 1;
    int64_t event_ms = rs->ev_ms; /* on_batch's scan_record */
    /* Owned headers the producer sent (every copy dropped from the moved list): our constants,
     * as m's header names die with the move; "mesh." drops any other mesh.* name. */
    const char *drop[sizeof owned / sizeof *owned + 1];
    size_t n_drop = 0;
    unsigned present = 0, keep = 0, seen = 0;
    const char *type = r->reader && r->reader->root && r->reader->root->fullname
                           ? r->reader->root->fullname
                           : r->to;
    pb_router_hop_t hop = {r->out_topic,  m->partition,    m->offset,
                           r->dataschema, r->contract,     r->from,
                           type,          m->timestamp_ms, 0};
    for (size_t i = 0; i < n_in; i++) {
        const char *name = rs->hin[i].name;
        int j = owned_index(name);
        if (j == OWNED_OTHER_MESH) j = (int)(sizeof owned / sizeof *owned);
        if (j >= 0) {
            present |= 1u << j;
            keep_fold(j, rs->hin[i].value, rs->hin[i].len, &hop, &keep, &seen);
        }
    }
    /* Owned headers the producer sent go, but those that already say what the broker would
     * (one copy, same value: pb_router_keep) stay where they are: no drop, no new allocation. */
    hop.keep = last ? keep : 0;
    for (int j = 0; present >> j; j++) {
        if (!(present & (1u << j))) continue;
        if (j >= OWNED_KEEP_FIRST && j <= OWNED_KEEP_LAST &&
            (hop.keep & (1u << (j - OWNED_KEEP_FIRST))))
            continue;
        drop[n_drop++] = j < (int)(sizeof owned / sizeof *owned) ? owned[j] : "mesh.";
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
    rs->decoded =
        1; /* the resolver read every byte with the writer schema: count_direct trusts it */
    char scratch[PB_ROUTER_SCRATCH];
    int rc;
    if (!last) {
        /* Other bindings still read m's headers: this copy gets its own. */
        size_t nh = pb_router_headers(rs->hin, n_in, &hop, rs->hout, scratch);
        rc = send(r, r->in_topic, m, r->out.data, r->out.len, rs->hout, nh, &err);
    } else {
        /* The producer's headers moved over, owned ones dropped, the broker's appended: nothing
         * is copied twice. */
        size_t nh = pb_router_hop_headers(rs->hin, n_in, &hop, rs->hout, scratch);
        rc = pb_kafka_producer_forward(rs->p, r->in_topic, m, r->out.data, r->out.len, drop, n_drop,
                                       rs->hout, nh, tag_of(r, m->offset), &err);
        if (!rc) r->inflight++;
    }
    if (rc == PB_ERR_TOO_LARGE || rc == PB_ERR_INVALID) {
        /* Refused before it left (the routed copy is larger than the producer may send): a
         * dead letter instead, with m's headers read again (a forward moved them). */
        snprintf(p->esc_msg, sizeof p->esc_msg, "%s refused the routed copy (%zu bytes): %.160s",
                 r->in_topic, r->out.len, err.msg);
        p->esc_offset = m->offset;
        p->esc_level = 1;
        pb_log(ERROR, "router", "%s: %s[%d]@%" PRId64 ": %s; it goes to %s instead", r->to,
               r->out_topic, (int)m->partition, m->offset, p->esc_msg, r->dlq_topic);
        escalate(r, p, m, last ? read_headers(rs, m) : n_in);
        return;
    }
    if (rc) {
        pb_log_rl(ERROR, "router", "%s: %s[%d]@%" PRId64 " not produced to %s: %s", r->to,
                  r->out_topic, (int)m->partition, m->offset, r->in_topic, err.msg);
        set_broken(p);
        return;
    }
    ring_push(p, m->offset, event_ms, 0, 0);
}

/* One pass over the record's headers (rs->hin[0..n_in)): its event time from the last ce_time
 * (epoch ms; -1 when absent, null or not an RFC 3339 time) and whether its last mesh.contract is
 * the one HTTP publish of pt stamps (*published). */
static int64_t scan_record(const pb_routers_t *rs, size_t n_in, const port_t *pt, int *published) {
    const pb_kafka_header_t *time = NULL, *contract = NULL;
    for (size_t i = 0; i < n_in; i++) {
        const char *name = rs->hin[i].name;
        if (name[0] == 'c' && !strcmp(name, PB_HDR_CE_TIME))
            time = &rs->hin[i];
        else if (name[0] == 'm' && !strcmp(name, PB_HDR_CONTRACT))
            contract = &rs->hin[i];
    }
    size_t cl = strlen(pt->contract);
    *published = contract && contract->value && contract->len == cl &&
                 !memcmp(contract->value, pt->contract, cl);
    int64_t ev = -1;
    if (!time || !time->value || pb_timefmt_parse(time->value, time->len, &ev, NULL) != 0) ev = -1;
    return ev;
}

/* A record a producer wrote straight to the output topic (not through HTTP publish, which stamps
 * the port's mesh.contract and counts its records itself): counted as the port's input, ok when
 * its value is a Confluent frame whose schema id the registry knows and whose bytes decode with
 * that schema, else rejected; its event time is ce_time (ev_ms), else the Kafka timestamp.
 * decoded: a binding's resolver just read the value with its writer schema, which validates it
 * (pb_resolver_run decodes with the bounds of pb_codec_validate), so it is not decoded again. */
static void count_direct(pb_routers_t *rs, port_t *pt, const pb_kafka_msg_t *m, int64_t ev_ms,
                         int decoded) {
    uint32_t id;
    const uint8_t *payload;
    size_t plen;
    const char *text = NULL;
    const pb_schema_t *w = NULL;
    pb_err_t err = {0};
    if (!decoded &&
        (pb_codec_wire_parse(m->value, m->value ? m->value_len : 0, &id, &payload, &plen, &err) ||
         id > INT32_MAX || pb_registry_schema_by_id(rs->reg, (int)id, &text, &w, &err) ||
         pb_codec_validate(w, payload, plen, &err))) {
        pb_metrics_count(pt->m, PB_METRICS_IN, PB_METRICS_REJECTED, 1, 0);
        pb_log_rl(WARN, "router",
                  "%s[%d]@%" PRId64 ": a record written straight to the topic is "
                  "rejected: %s",
                  pt->topic, (int)m->partition, m->offset, err.msg);
        return;
    }
    int64_t ev = ev_ms >= 0 ? ev_ms : m->timestamp_ms;
    pb_metrics_count(pt->m, PB_METRICS_IN, PB_METRICS_OK, 1, m->value_len);
    pb_metrics_seen(pt->m, ev > 0 ? (double)ev / 1000.0 : 0, (double)rs->batch_wall_ms / 1000.0);
}

/* Each record of the shared reader, once, to every binding of its topic. */
static void on_batch(void *arg, const pb_kafka_msg_t *msgs, size_t n) {
    pb_routers_t *rs = arg;
    int64_t t_ms = rs->env.park_idle_ms > 0 ? pb_loop_now_ms() : 0;
    rs->batch_wall_ms = rs->reg ? pb_loop_wall_ms() : 0; /* count_direct's "seen at" */
    for (size_t i = 0; i < n; i++) {
        const pb_kafka_msg_t *m = &msgs[i];
        port_t *pt = port_find(rs, m->topic);
        if (!pt) continue; /* a topic no longer bound: its partitions are being revoked */
        fpart_t *fp = fpart_of(pt, m->partition);
        /* Not assigned yet (deferred), or revoked and held for its records in flight: nothing
         * is read. */
        if (fp->resolving || fp->revoking) continue;
        /* The byte bound reached within the batch: this record and every later one are read
         * again after a seek back (rewind_full); routing order per partition is kept. */
        int64_t held = rs->p ? pb_kafka_producer_inflight_bytes(rs->p) : 0;
        if (fp->rewind >= 0 || pb_router_bytes_full(held, rs->env.inflight_max_bytes)) {
            if (fp->rewind < 0) fp->rewind = m->offset;
            rs->rewind_due = 1;
            continue;
        }
        fp->pos = m->offset + 1;
        fp->active_ms = t_ms; /* not idle: parking waits router.park.idle.ms from here */
        /* Once per record, whatever rewinds the bindings ask for. */
        int count = 0;
        if (pt->m && rs->reg && m->offset >= fp->counted) {
            fp->counted = m->offset + 1;
            /* What was written before this instance got the partition is history (the reader
             * may start far back for a binding from "earliest"): counting it would show as a
             * burst of throughput at every start. */
            count = m->timestamp_ms < 0 || m->timestamp_ms >= fp->since_ms - COUNT_SLACK_MS;
        }
        if (!pt->n_b && !count) continue;
        /* Headers read once for the count and every binding (the last binding moves them). */
        size_t n_in = read_headers(rs, m);
        int published = 0;
        rs->ev_ms = rs->env.metrics || count ? scan_record(rs, n_in, pt, &published) : -1;
        rs->decoded = 0;
        for (size_t k = 0; k < pt->n_b; k++)
            route_one(pt->b[k], m, n_in, k + 1 == pt->n_b);
        if (count && !published) count_direct(rs, pt, m, rs->ev_ms, rs->decoded);
        if (rs->p) {
            /* What this record's copies took (0 without bindings): the next take is sized by
             * it. */
            int64_t now = pb_kafka_producer_inflight_bytes(rs->p);
            int64_t cost = now - held;
            if (cost >= rs->rec_bytes)
                rs->rec_bytes = cost;
            else
                rs->rec_bytes -= (rs->rec_bytes - cost) >> 6;
            if (now > rs->peak_bytes) rs->peak_bytes = now;
        }
    }
}

/* ---- parking idle partitions (router.park.idle.ms) ---------------------------------------- */

/* An idle output partition is paused in the reader (parked): librdkafka 2.0.2 has no fetch
 * sessions, so every fetch request and every empty answer lists each partition read, and the
 * reader's broker threads match each partition of an answer to its topic by a linear search over
 * the reader's topics: at 1,000 idle ports that was most of an idle instance's CPU. A parked
 * partition is read again at once when this instance publishes to its port
 * (pb_routers_port_publish), when a binding needs records it has passed (rewind_to), and otherwise
 * when the lag sweep finds its high watermark beyond the reader's position
 * (pb_routers_sweep_parked): a direct write waits up to one sweep. Parking only pauses: no seek, no
 * commit; librdkafka fetches again from the record after the last one delivered. */

/* At most one INFO summary of parking a minute (the rest at DEBUG). */
#define PARK_LOG_MS 60000

static void pz_add(pb_routers_t *rs, const char *topic, int32_t pn) {
    if (rs->n_pz == rs->cap_pz) rs->pz = grow(rs->pz, &rs->cap_pz, sizeof *rs->pz);
    rs->pz[rs->n_pz++] = (pb_kafka_tp_t){.topic = topic, .partition = pn, .offset = 0};
}

/* Pause (1) or resume (0) the batch in one librdkafka call, and empty it. */
static void pz_flush(pb_routers_t *rs, int pause) {
    if (!rs->n_pz) return;
    pb_err_t err = {0};
    if (rs->c && pb_kafka_consumer_pause_many(rs->c, rs->pz, rs->n_pz, pause, &err))
        pb_log_rl(WARN, "router", "fan-out reader: %s", err.msg);
    rs->n_pz = 0;
}

/* Partition pn of pt is no longer parked: into the resume batch (the caller flushes it). why < 0:
 * given up (revoked, port dropped), not counted as a read again. */
static void unpark_mark(pb_routers_t *rs, port_t *pt, size_t pn, int why) {
    fpart_t *fp = &pt->parts[pn];
    if (!fp->parked) return;
    fp->parked = 0;
    pt->n_parked--;
    rs->n_parked--;
    int64_t now = pb_loop_now_ms();
    /* Its fetch figures are old until the next fetch answer (pb_routers_port_watermarks). */
    if (fp->assigned && fp->reading_ms >= 0) fp->reading_ms = now;
    fp->active_ms = now;
    if (why >= 0) {
        rs->unparks[why]++;
        rs->log_unparked[why]++;
    }
    pz_add(rs, pt->topic, (int32_t)pn);
    pb_log(DEBUG, "router", "%s[%zu]: parked partition read again (%s) at offset %" PRId64,
           pt->topic, pn,
           why >= 0 ? pb_router_unpark_name((pb_router_unpark_why_t)why) : "given up", fp->pos);
}

/* Every parked partition of pt read again at once. */
static void unpark_port(pb_routers_t *rs, port_t *pt, int why) {
    for (size_t j = 0; pt->n_parked && j < pt->n_parts; j++)
        unpark_mark(rs, pt, j, why);
    pz_flush(rs, 0);
}

/* Whether a binding of pt still needs partition pn, the reader being at pos. */
static int binding_busy(const port_t *pt, size_t pn, int64_t pos) {
    for (size_t k = 0; k < pt->n_b; k++) {
        const router_t *r = pt->b[k];
        if (pn >= r->n_parts) return 1;
        const part_t *p = &r->parts[pn];
        if (!p->assigned || p->resolving || p->broken || p->revoking || p->pending ||
            (p->next >= 0 && p->next < pos))
            return 1;
    }
    return 0;
}

/* The INFO summary, at most every PARK_LOG_MS, when something was parked or read again. */
static void park_log(pb_routers_t *rs, int64_t now) {
    size_t un = 0;
    for (int w = 0; w < PB_ROUTER_UNPARK_REASONS; w++)
        un += rs->log_unparked[w];
    if ((!rs->log_parked && !un) || (rs->log_ms && now - rs->log_ms < PARK_LOG_MS)) return;
    size_t reading = 0;
    for (size_t i = 0; i < rs->n_ports; i++)
        for (size_t j = 0; j < rs->ports[i]->n_parts; j++)
            reading += rs->ports[i]->parts[j].assigned;
    pb_log(INFO, "router",
           "fan-out reader: %zu idle partitions parked and %zu read again (publish %zu, lag sweep "
           "%zu, binding %zu) %s; %zu of the %zu partitions it holds are parked now (not fetched "
           "until a publish here or a lag sweep finds records: router.park.idle.ms = %" PRId64 ")",
           rs->log_parked, un, rs->log_unparked[PB_ROUTER_UNPARK_PUBLISH],
           rs->log_unparked[PB_ROUTER_UNPARK_SWEEP], rs->log_unparked[PB_ROUTER_UNPARK_BINDING],
           rs->log_ms ? "in the last minute or more" : "since start", rs->n_parked, reading,
           rs->env.park_idle_ms);
    rs->log_ms = now;
    rs->log_parked = 0;
    memset(rs->log_unparked, 0, sizeof rs->log_unparked);
}

/* Park every partition idle for router.park.idle.ms that the reader is caught up on and no
 * binding needs (pb_router_should_park). On the tick. */
static void park_pass(pb_routers_t *rs) {
    if (rs->env.park_idle_ms <= 0 || !rs->c) return;
    int64_t now = pb_loop_now_ms();
    int64_t settled = now - (rs->env.fetch_wait_ms + 1000);
    pb_router_park_view_t v = {.park_idle_ms = rs->env.park_idle_ms,
                               .queued = pb_kafka_consumer_queued(rs->c) > 0};
    for (size_t i = 0; i < rs->n_ports && !v.queued; i++) {
        port_t *pt = rs->ports[i];
        for (size_t j = 0; j < pt->n_parts; j++) {
            fpart_t *fp = &pt->parts[j];
            /* Cheap tests first: most partitions are busy or parked already. */
            if (fp->parked || !fp->assigned || fp->active_ms < 0 ||
                now - fp->active_ms < rs->env.park_idle_ms)
                continue;
            v.idle_ms = now - fp->active_ms;
            v.settled =
                !fp->resolving && !fp->revoking && fp->reading_ms >= 0 && fp->reading_ms <= settled;
            v.busy = fp->rewind >= 0 || binding_busy(pt, j, fp->pos);
            v.pos = fp->pos;
            v.high = -1;
            int64_t lo = -1;
            /* The cached figures (a linear search in librdkafka) only for a candidate. */
            if (v.settled && !v.busy && v.pos >= 0 &&
                pb_kafka_consumer_watermarks_cached(rs->c, pt->topic, (int32_t)j, &lo, &v.high))
                v.high = -1;
            if (!pb_router_should_park(&v)) continue;
            fp->parked = 1;
            pt->n_parked++;
            rs->n_parked++;
            rs->log_parked++;
            pz_add(rs, pt->topic, (int32_t)j);
            pb_log(DEBUG, "router", "%s[%zu]: parked at offset %" PRId64 " (idle %" PRId64 " ms)",
                   pt->topic, j, fp->pos, v.idle_ms);
        }
    }
    /* On failure they count as parked anyway: a partition marked parked that librdkafka still
     * fetches costs a fetch, one paused but not marked would never be read again. */
    pz_flush(rs, 1);
    park_log(rs, now);
}

/* ---- where each binding resumes ---- */

/* Deciding where a binding's partition resumes takes look-ups in Kafka (its group's committed
 * offset, the input partition's last record, the output partition's watermarks): they run as a
 * PB_JOB_OFFSETS job on copies (a binding may go meanwhile), and the decisions are applied on the
 * loop when it completes. Meanwhile the reader's new partitions wait unassigned (the assignment
 * is deferred: the group waits for it), a recovering binding partition is ignored. */

typedef enum resume_kind {
    RESUME_ASSIGNED, /* the group gave the shared reader partitions: they are assigned, each
                      * where its furthest-behind binding resumes */
    RESUME_JOINED,   /* a new binding of partitions the reader holds: the reader goes back if
                      * it needs to */
    RESUME_RECOVER,  /* a binding's partition after a failed delivery */
} resume_kind_t;

/* One binding partition to decide (strings copied: the job sees nothing of the routers). */
typedef struct want {
    uint64_t serial; /* the binding */
    int32_t pn;
    uint32_t gen; /* its port partition's fpart_t.gen at submit */
    char *group, *out_topic, *in_topic, *start, *to;
    int in_parts;
    int64_t lineage_next, tail, committed;
    int64_t off; /* the decision: absolute, or PB_KAFKA_OFFSET_BEGINNING / _END */
    pb_router_resume_why_t why;
} want_t;

/* A partition of the shared reader's deferred assignment (RESUME_ASSIGNED). */
typedef struct held {
    char *topic;
    int32_t pn;
    uint32_t gen;
    int64_t end; /* its end offset, looked up by the job (-1 unknown): where the reader starts when
                  * no binding needs earlier records, so records written while it was held are
                  * still read (counted as direct writes) */
} held_t;

typedef struct rjob {
    pb_routers_t *rs; /* on the loop only */
    pb_kafka_t *kafka;
    resume_kind_t kind;
    want_t *w;
    size_t n, cap;
    held_t *held;
    size_t n_held;
    pb_job_t *job;
    struct rjob *next, **prev;
    char warn[512], error[512]; /* what the look-ups could not learn (logged on the loop) */
} rjob_t;

static const char *kind_context(resume_kind_t k) {
    return k == RESUME_ASSIGNED ? "assigned"
           : k == RESUME_JOINED ? "joined"
                                : "after a failed delivery";
}

static void rjob_free(rjob_t *j) {
    if (!j) return;
    for (size_t i = 0; i < j->n; i++) {
        free(j->w[i].group);
        free(j->w[i].out_topic);
        free(j->w[i].in_topic);
        free(j->w[i].start);
        free(j->w[i].to);
    }
    for (size_t i = 0; i < j->n_held; i++)
        free(j->held[i].topic);
    free(j->w);
    free(j->held);
    free(j);
}

static rjob_t *rjob_new(pb_routers_t *rs, resume_kind_t kind) {
    rjob_t *j = calloc(1, sizeof *j);
    PB_ASSERT(j); /* a few bytes per decision */
    j->rs = rs;
    j->kafka = rs->env.kafka;
    j->kind = kind;
    return j;
}

static char *dup_or_die(const char *s) {
    char *d = strdup(s);
    PB_ASSERT(d);
    return d;
}

/* Add binding r's partition pn (entries of one binding are contiguous: add them together). */
static void rjob_want(rjob_t *j, router_t *r, int32_t pn) {
    if (j->n == j->cap) j->w = grow(j->w, &j->cap, sizeof *j->w);
    want_t *w = &j->w[j->n++];
    memset(w, 0, sizeof *w);
    w->serial = r->serial;
    w->pn = pn;
    w->gen = r->port ? fpart_of(r->port, pn)->gen : 0;
    w->group = dup_or_die(r->group);
    w->out_topic = dup_or_die(r->out_topic);
    w->in_topic = dup_or_die(r->in_topic);
    w->start = dup_or_die(r->start);
    w->to = dup_or_die(r->to);
    w->in_parts = r->in_parts;
}

typedef struct tail_ctx {
    want_t *w;
    size_t n;
} tail_ctx_t;

static void on_tail(void *arg, const pb_kafka_msg_t *m) {
    tail_ctx_t *t = arg;
    for (size_t i = 0; i < t->n; i++) {
        want_t *w = &t->w[i];
        if (w->pn != m->partition || strcmp(w->in_topic, m->topic)) continue;
        const void *v;
        size_t len;
        if (!pb_kafka_msg_header(m, PB_HDR_LINEAGE_TOPIC, &v, &len) ||
            len != strlen(w->out_topic) || memcmp(v, w->out_topic, len) != 0)
            return;
        if (!pb_kafka_msg_header(m, PB_HDR_LINEAGE_OFFSET, &v, &len)) return;
        int64_t off = parse_int(v, len);
        if (off < 0) return;
        w->lineage_next = off + 1;
        w->tail = m->offset;
        return;
    }
}

/*
 * The job (PB_JOB_OFFSETS worker; sees only j's copies and the broker's thread-safe client): where
 * each want resumes: the later of its input partition's last record's origin offset + 1 and its
 * group's committed offset, else the binding's start ("earliest" as the partition's first offset
 * kept, "latest" as its end; the logical offset when the look-up fails). All look-ups of the batch
 * go out together; each is bounded (committed 5 s, tails 10 s, watermarks 5 s in all).
 */
static void resume_work(void *arg) {
    rjob_t *j = arg;
    want_t *w = j->w;
    size_t n = j->n;
    int64_t low, high;
    pb_err_t err = {0};
    for (size_t i = 0; i < j->n_held; i++)
        j->held[i].end =
            pb_kafka_watermarks(j->kafka, j->held[i].topic, j->held[i].pn, &low, &high, 5000, &err)
                ? -1
                : high;
    if (!n) return;
    pb_kafka_tp_t *com = calloc(n, sizeof *com);
    pb_kafka_tp_t *tails = calloc(n, sizeof *tails);
    pb_kafka_group_query_t *q = calloc(n, sizeof *q);
    PB_ASSERT(com && tails && q); /* a few bytes per partition */
    size_t nq = 0, nt = 0;
    for (size_t i = 0; i < n; i++) {
        w[i].lineage_next = w[i].tail = w[i].committed = -1;
        com[i].topic = w[i].out_topic;
        com[i].partition = w[i].pn;
        if (!nq || strcmp(q[nq - 1].group, w[i].group) || w[i].serial != w[i - 1].serial) {
            q[nq].group = w[i].group;
            q[nq].parts = &com[i];
            nq++;
        }
        q[nq - 1].n++;
        if (w[i].pn < w[i].in_parts) {
            tails[nt].topic = w[i].in_topic;
            tails[nt].partition = w[i].pn;
            nt++;
        }
    }
    if (pb_kafka_groups_committed(j->kafka, q, nq, 5000, &err))
        snprintf(j->warn, sizeof j->warn,
                 "%zu bindings: %s; deciding from the input topics' tails alone", nq, err.msg);
    for (size_t i = 0; i < n; i++)
        w[i].committed = com[i].offset >= 0 ? com[i].offset : -1;
    tail_ctx_t t = {w, n};
    if (pb_kafka_last_records_tps(j->kafka, tails, nt, 10000, on_tail, &t, &err))
        snprintf(j->error, sizeof j->error,
                 "%zu bindings: %s; resuming from committed offsets only (records routed after "
                 "the last commit may be routed again)",
                 nq, err.msg);
    int64_t wm_deadline = pb_loop_now_ms() + 5000; /* bounds the watermark look-ups together */
    for (size_t i = 0; i < n; i++) {
        int64_t off;
        w[i].why = pb_router_resume(w[i].lineage_next, w[i].committed, w[i].start, &off);
        /* The start as an absolute offset, so the shared reader knows how far back this binding
         * needs it: "earliest" the first offset kept, "latest" the end. On error the logical
         * offset stays (librdkafka resolves it). */
        int64_t left = wm_deadline - pb_loop_now_ms();
        if (off < 0 && left > 0 &&
            !pb_kafka_watermarks(j->kafka, w[i].out_topic, w[i].pn, &low, &high, (int)left, &err) &&
            low >= 0 && high >= 0)
            off = off == PB_KAFKA_OFFSET_BEGINNING ? low : high;
        w[i].off = off;
    }
    free(com);
    free(tails);
    free(q);
}

static void log_decision(const want_t *w, const char *context) {
    if (w->why == PB_ROUTER_RESUME_LINEAGE)
        pb_log(INFO, "router",
               "%s: partition %d of %s %s: resumes at offset %" PRId64
               " (lineage header of input offset %" PRId64 " of %s; committed %" PRId64 ")",
               w->to, (int)w->pn, w->out_topic, context, w->off, w->tail, w->in_topic,
               w->committed);
    else if (w->why == PB_ROUTER_RESUME_COMMITTED)
        pb_log(INFO, "router",
               "%s: partition %d of %s %s: resumes at offset %" PRId64 " (committed offset)", w->to,
               (int)w->pn, w->out_topic, context, w->off);
    else
        pb_log(INFO, "router",
               "%s: partition %d of %s %s: starts at the %s, offset %" PRId64 " (binding start %s)",
               w->to, (int)w->pn, w->out_topic, context,
               !strcmp(w->start, "earliest") ? "beginning" : "end", w->off, w->start);
}

/* A decided position becomes the binding's partition state. */
static void part_start(part_t *p, int64_t off, int64_t committed) {
    ring_reset(p);
    p->skip_below = -1;
    p->assigned = 1;
    p->resolving = 0;
    p->committed = committed;
    p->next_commit = off >= 0 ? off : -1;
    p->next = off >= 0 ? off : -1;
}

/* Move the shared reader of pt's partition back to off when a binding needs records it has
 * passed (the other bindings skip them: they are below their next). */
static void rewind_to(pb_routers_t *rs, port_t *pt, int32_t pn, int64_t off) {
    fpart_t *fp = fpart_of(pt, pn);
    if (!fp->assigned || fp->resolving || !rs->c) return;
    if (off == PB_KAFKA_OFFSET_END) return;
    if (off >= 0 && fp->pos >= 0 && off >= fp->pos) return;
    if (off >= 0 && fp->pos < 0) return; /* not read yet: starts at or before off */
    if (fp->parked) {
        /* A binding needs records the reader passed: fetch again. */
        unpark_mark(rs, pt, (size_t)pn, PB_ROUTER_UNPARK_BINDING);
        pz_flush(rs, 0);
    }
    pb_err_t err = {0};
    if (pb_kafka_consumer_seek(rs->c, pt->topic, pn, off, &err)) {
        pb_log_rl(ERROR, "router", "%s[%d]: %s", pt->topic, (int)pn, err.msg);
        return;
    }
    fp->pos = off >= 0 ? off : -1;
}

static router_t *router_by_serial(pb_routers_t *rs, uint64_t serial) {
    for (size_t i = 0; i < rs->n; i++)
        if (rs->r[i]->serial == serial) return rs->r[i];
    return NULL;
}

/* Where the reader of pt's partition pn starts: where the binding furthest behind resumes (the
 * job's decisions, and the positions bindings that joined meanwhile decided). */
static int64_t reader_start(port_t *pt, int32_t pn, const rjob_t *j) {
    int64_t start = PB_KAFKA_OFFSET_END;
    int begin = 0;
    for (size_t i = 0; i < j->n; i++) {
        const want_t *w = &j->w[i];
        if (w->pn != pn || strcmp(w->out_topic, pt->topic)) continue;
        if (w->off == PB_KAFKA_OFFSET_BEGINNING) begin = 1;
        if (w->off >= 0 && (start < 0 || w->off < start)) start = w->off;
    }
    for (size_t k = 0; k < pt->n_b; k++) {
        const part_t *p = (size_t)pn < pt->b[k]->n_parts ? &pt->b[k]->parts[pn] : NULL;
        if (p && p->assigned && p->next >= 0 && (start < 0 || p->next < start)) start = p->next;
    }
    return begin ? PB_KAFKA_OFFSET_BEGINNING : start;
}

/* Apply a completed job's decisions (loop thread). Decisions for a binding that is gone, or for a
 * partition assigned or revoked again since, are dropped (a later job decides those). */
static void resume_apply_wants(rjob_t *j) {
    pb_routers_t *rs = j->rs;
    const char *context = kind_context(j->kind);
    if (j->warn[0]) pb_log(WARN, "router", "%s", j->warn);
    if (j->error[0]) pb_log(ERROR, "router", "%s", j->error);
    for (size_t i = 0; i < j->n; i++) {
        want_t *w = &j->w[i];
        router_t *r = router_by_serial(rs, w->serial);
        if (!r || !r->port) continue;
        fpart_t *fp = fpart_of(r->port, w->pn);
        if (fp->gen != w->gen || !fp->assigned) continue;
        part_t *p = part_of(r, w->pn);
        log_decision(w, context);
        if (j->kind == RESUME_RECOVER) {
            if (!p->resolving) continue;
            p->resolving = 0;
            int64_t off = w->off, skip_below = -1;
            if (p->esc_offset >= 0 && off > p->esc_offset) {
                /* Records after the refused one landed meanwhile: read it again, skip those. */
                skip_below = off;
                off = p->esc_offset;
            }
            int64_t committed = p->committed;
            part_start(p, off, committed);
            p->broken = 0;
            p->skip_below = skip_below;
            rewind_to(rs, r->port, w->pn, off);
        } else {
            part_start(p, w->off, w->committed);
            if (j->kind == RESUME_JOINED) rewind_to(rs, r->port, w->pn, w->off);
        }
    }
}

static void resume_apply(rjob_t *j) {
    pb_routers_t *rs = j->rs;
    resume_apply_wants(j);
    if (!j->n_held) return;
    /* The deferred assignment, every partition of it (the group waits for all). */
    pb_kafka_tp_t *tp = calloc(j->n_held, sizeof *tp);
    PB_ASSERT(tp);
    for (size_t i = 0; i < j->n_held; i++) {
        held_t *h = &j->held[i];
        port_t *pt = port_find(rs, h->topic);
        fpart_t *fp = pt ? fpart_of(pt, h->pn) : NULL;
        int64_t start = pt ? reader_start(pt, h->pn, j) : PB_KAFKA_OFFSET_END;
        if (start == PB_KAFKA_OFFSET_END && h->end >= 0) start = h->end;
        tp[i] = (pb_kafka_tp_t){.topic = h->topic, .partition = h->pn, .offset = start};
        if (fp && fp->gen == h->gen) {
            fp->resolving = 0;
            fp->pos = fp->counted = start >= 0 ? start : -1;
            fp->reading_ms = fp->active_ms = pb_loop_now_ms();
        }
    }
    pb_err_t err = {0};
    if (rs->c && pb_kafka_consumer_assign(rs->c, tp, j->n_held, &err))
        pb_log(ERROR, "router", "fan-out reader: %s; the group will assign them again", err.msg);
    else
        pb_log(INFO, "router", "fan-out reader: %zu partitions started (%zu binding partitions)",
               j->n_held, j->n);
    free(tp);
}

static void resume_done(void *arg, int cancelled) {
    rjob_t *j = arg;
    if (!cancelled) {
        *j->prev = j->next;
        if (j->next) j->next->prev = j->prev;
        resume_apply(j);
    }
    rjob_free(j);
}

/* Run j: as a job when the routers have a jobs layer (its decisions applied when it completes),
 * else at once (tests). */
static void resume_submit(rjob_t *j) {
    pb_routers_t *rs = j->rs;
    j->next = rs->jobs;
    j->prev = &rs->jobs;
    if (rs->jobs) rs->jobs->prev = &j->next;
    rs->jobs = j;
    if (rs->env.jobs &&
        (j->job = pb_jobs_submit(rs->env.jobs, PB_JOB_OFFSETS, resume_work, resume_done, j)))
        return;
    resume_work(j);
    resume_done(j, 0);
}

static void on_assign(pb_routers_t *rs, pb_kafka_tp_t *parts, size_t n) {
    rjob_t *j = rjob_new(rs, RESUME_ASSIGNED);
    j->held = calloc(n ? n : 1, sizeof *j->held);
    PB_ASSERT(j->held);
    /* Binding by binding (contiguous, one committed-offsets request each). */
    for (size_t i = 0; i < rs->n; i++) {
        router_t *r = rs->r[i];
        for (size_t k = 0; k < n; k++)
            if (parts[k].topic && !strcmp(parts[k].topic, r->out_topic) && r->port) {
                fpart_t *fp = fpart_of(r->port, parts[k].partition);
                if (!fp->resolving) fp->gen++; /* once per partition: before its first want */
                fp->resolving = 1;
                rjob_want(j, r, parts[k].partition);
            }
    }
    for (size_t k = 0; k < n; k++) {
        /* Assigned once the job decided (or at once below, without a jobs layer). */
        parts[k].offset = rs->env.jobs ? PB_KAFKA_OFFSET_HOLD : PB_KAFKA_OFFSET_END;
        port_t *pt = parts[k].topic ? port_find(rs, parts[k].topic) : NULL;
        fpart_t *fp = pt ? fpart_of(pt, parts[k].partition) : NULL;
        if (fp) {
            if (!fp->resolving) fp->gen++; /* a port without bindings (declared, counted) */
            /* Newly assigned partitions start unparked (a revocation resumed them already). */
            if (fp->parked) unpark_mark(rs, pt, (size_t)parts[k].partition, -1);
            fp->assigned = 1;
            fp->resolving = 1;
            fp->pos = fp->counted = fp->reading_ms = -1;
            fp->since_ms = pb_loop_wall_ms();
        }
        j->held[j->n_held++] = (held_t){dup_or_die(parts[k].topic ? parts[k].topic : ""),
                                        parts[k].partition, fp ? fp->gen : 0, -1};
    }
    pz_flush(rs, 0);
    pb_log(INFO, "router",
           "fan-out reader: %zu partitions assigned (%zu binding partitions); looking up where "
           "each binding resumes",
           n, j->n);
    if (rs->env.jobs) {
        resume_submit(j);
        return;
    }
    /* Inline (no jobs layer): decide now and give the reader its start offsets in the
     * assignment itself (no seek, no pause). */
    resume_work(j);
    resume_apply_wants(j);
    for (size_t k = 0; k < n; k++) {
        port_t *pt = parts[k].topic ? port_find(rs, parts[k].topic) : NULL;
        if (!pt) continue;
        fpart_t *fp = fpart_of(pt, parts[k].partition);
        int64_t start = reader_start(pt, parts[k].partition, j);
        parts[k].offset = start;
        fp->pos = fp->counted = start >= 0 ? start : -1;
        fp->resolving = 0;
        fp->reading_ms = fp->active_ms = pb_loop_now_ms();
    }
    rjob_free(j);
}

/* A binding's partition whose record could not be produced, once nothing of it is in flight:
 * decide again from the input topic's tail (what landed) and have the reader deliver from there. */
static void recover(router_t *r, int32_t pn, part_t *p) {
    p->retry_ms = pb_loop_now_ms() + 5000; /* a partition that keeps failing retries slowly */
    p->resolving = 1;
    rjob_t *j = rjob_new(r->rs, RESUME_RECOVER);
    rjob_want(j, r, pn);
    resume_submit(j);
}

/* Records of binding partitions of (topic, pn) not yet acknowledged, over every live binding. */
static size_t pending_of(pb_routers_t *rs, const char *topic, int32_t pn) {
    size_t n = 0;
    for (size_t i = 0; i < rs->n; i++) {
        router_t *r = rs->r[i];
        if (strcmp(r->out_topic, topic) || pn < 0 || (size_t)pn >= r->n_parts) continue;
        n += r->parts[pn].pending;
    }
    return n;
}

/* The end of a revocation: the bindings commit what landed and forget the partitions, and the
 * reader's state of them is reset. A look-up still running for them is dropped (gen). */
static void revoke_apply(pb_routers_t *rs, const pb_kafka_tp_t *parts, size_t n) {
    for (size_t i = 0; i < rs->n; i++) {
        router_t *r = rs->r[i];
        size_t k = 0;
        for (size_t j = 0; j < n; j++)
            if (parts[j].topic && !strcmp(parts[j].topic, r->out_topic)) k++;
        if (!k) continue;
        commit(r, 1);
        for (size_t j = 0; j < n; j++) {
            if (!parts[j].topic || strcmp(parts[j].topic, r->out_topic)) continue;
            part_t *p = part_of(r, parts[j].partition);
            p->assigned = p->revoking = 0;
            ring_reset(p);
        }
        pb_log(INFO, "router",
               "%s: %zu partitions of %s revoked (%" PRIu64 " routed, %" PRIu64
               " dead-lettered so far)",
               r->to, k, r->out_topic, r->routed, r->dlq);
    }
    for (size_t j = 0; j < n; j++) {
        port_t *pt = parts[j].topic ? port_find(rs, parts[j].topic) : NULL;
        if (!pt) continue;
        fpart_t *fp = fpart_of(pt, parts[j].partition);
        /* Forgotten with the partition: resumed in librdkafka too, whose pause would outlive the
         * revocation and stop the next assignment of it here. */
        unpark_mark(rs, pt, (size_t)parts[j].partition, -1);
        fp->assigned = fp->resolving = fp->revoking = 0;
        fp->gen++; /* a look-up still running for this assignment is dropped */
        fp->pos = fp->reading_ms = fp->active_ms = -1;
    }
    pz_flush(rs, 0);
}

/* A deferred revocation: once nothing of its partitions is in flight (every delivery report in),
 * or at its deadline (then the next owner may route those records again: logged), the partitions
 * are given up. Called at every wake-up and tick while one waits; never waits itself. */
static void revoke_finish(pb_routers_t *rs, int force) {
    if (!rs->n_rv) return;
    size_t left = 0;
    for (size_t j = 0; j < rs->n_rv; j++)
        left += pending_of(rs, rs->rv[j].topic, rs->rv[j].partition);
    int64_t now = pb_loop_now_ms();
    if (left && !force && now < rs->rv_deadline) return;
    if (left)
        pb_log(WARN, "router",
               "%zu records still in flight %" PRId64 " ms after the revocation of %zu "
               "partitions; they are given up anyway and the next owner may route those records "
               "again (router.revoke.wait.ms)",
               left, now - rs->rv_since, rs->n_rv);
    else
        pb_log(INFO, "router",
               "revocation of %zu partitions: their records in flight landed after %" PRId64
               " ms; partitions given up",
               rs->n_rv, now - rs->rv_since);
    revoke_apply(rs, rs->rv, rs->n_rv);
    pb_err_t err = {0};
    if (rs->c && pb_kafka_consumer_unassign(rs->c, rs->rv, rs->n_rv, &err))
        pb_log(ERROR, "router",
               "fan-out reader: %s; the group will settle it at its next rebalance", err.msg);
    for (size_t j = 0; j < rs->n_rv; j++)
        free((char *)rs->rv[j].topic);
    rs->n_rv = 0;
}

/* The group takes partitions away. Records of them still in flight must land before another
 * instance resumes from the input topics' tails (exactly once, see router.h), but the loop does
 * not wait for them: the revocation is held (the partitions stay assigned and read nothing, the
 * group waits) and finished by revoke_finish when their delivery reports are in. */
static void on_revoke(pb_routers_t *rs, pb_kafka_tp_t *parts, size_t n) {
    size_t busy = 0;
    for (size_t j = 0; j < n; j++)
        if (parts[j].topic) busy += pending_of(rs, parts[j].topic, parts[j].partition);
    if (!busy) {
        revoke_apply(rs, parts, n);
        return;
    }
    if (rs->closing) {
        /* Leaving the group at shutdown: the one place the revocation is waited for (bounded). */
        int left = rs->p ? pb_kafka_producer_wait(rs->p, rs->env.revoke_wait_ms) : 0;
        if (left)
            pb_log(WARN, "router",
                   "%d records still in flight after %d ms at revocation; the next owner may "
                   "route them again",
                   left, rs->env.revoke_wait_ms);
        revoke_apply(rs, parts, n);
        return;
    }
    if (!rs->n_rv) {
        rs->rv_since = pb_loop_now_ms();
        rs->rv_deadline = rs->rv_since + rs->env.revoke_wait_ms;
    }
    for (size_t j = 0; j < n; j++) {
        if (!parts[j].topic) continue;
        if (rs->n_rv == rs->cap_rv) rs->rv = grow(rs->rv, &rs->cap_rv, sizeof *rs->rv);
        rs->rv[rs->n_rv++] =
            (pb_kafka_tp_t){.topic = dup_or_die(parts[j].topic), .partition = parts[j].partition};
        port_t *pt = port_find(rs, parts[j].topic);
        if (pt) {
            fpart_t *fp = fpart_of(pt, parts[j].partition);
            fp->revoking = 1;
            fp->assigned = fp->resolving = 0;
            fp->reading_ms = -1;
            fp->gen++; /* a look-up still running for this assignment is dropped */
        }
        for (size_t i = 0; i < rs->n; i++)
            if (!strcmp(rs->r[i]->out_topic, parts[j].topic))
                part_of(rs->r[i], parts[j].partition)->revoking = 1;
    }
    parts[0].offset = PB_KAFKA_OFFSET_HOLD;
    pb_log(INFO, "router",
           "fan-out reader: %zu partitions revoked with %zu records in flight; given up once "
           "those land (at most %d ms)",
           n, busy, rs->env.revoke_wait_ms);
}

static void on_rebalance(void *arg, int assigned, pb_kafka_tp_t *parts, size_t n) {
    pb_routers_t *rs = arg;
    if (assigned)
        on_assign(rs, parts, n);
    else
        on_revoke(rs, parts, n);
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

static void router_free(router_t *r) {
    if (!r) return;
    if (r->rs->slots[r->slot] == r) r->rs->slots[r->slot] = NULL;
    cache_clear(r);
    for (size_t i = 0; i < r->n_parts; i++)
        free(r->parts[i].ring);
    free(r->parts);
    free(r->cache);
    pb_buf_free(&r->out);
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

const char *pb_routers_failure(pb_routers_t *rs) {
    return rs && rs->p ? pb_kafka_producer_failure(rs->p) : NULL;
}

/* The shared clients, made with the first binding. */
static int clients(pb_routers_t *rs, pb_err_t *err) {
    if (!rs->p) {
        rs->p = pb_kafka_producer_new(rs->env.kafka, "portbroker-router", rs->wake[1], on_delivery,
                                      rs, err);
        if (!rs->p) return err->code;
    }
    if (!rs->c) {
        pb_kafka_consumer_conf_t cc = {
            .group = FANOUT_GROUP,
            .topic = NULL, /* subscribed in reconcile */
            .cooperative = 1,
            /* Only for an explicit position below the first offset (records deleted): where a
             * binding starts is decided in on_assign. */
            .offset_reset = "earliest",
            .client_id = "portbroker-router",
            .batch_max = READ_BATCH,
            /* Idle cost vs latency of a quiet topic (config router.fetch.wait.ms). A real
             * cluster answers a fetch as soon as records arrive (long poll); the embedded one
             * only after the wait. One reader for all ports: its idle cost does not grow with
             * bindings. */
            .fetch_wait_ms = rs->env.fetch_wait_ms,
            .wake_fd = rs->wake[1],
            .on_batch = on_batch,
            .on_rebalance = on_rebalance,
            .arg = rs,
        };
        rs->c = pb_kafka_consumer_new(rs->env.kafka, &cc, err);
        if (!rs->c) return err->code;
    }
    return 0;
}

static int slot_take(pb_routers_t *rs, router_t *r, pb_err_t *err) {
    for (uint32_t i = 0; i < SLOT_MAX; i++) {
        uint32_t s = (rs->next_slot + i) % SLOT_MAX;
        if (!rs->slots[s]) {
            rs->slots[s] = r;
            r->slot = s;
            r->serial = ++rs->next_serial;
            rs->next_slot = (s + 1) % SLOT_MAX;
            return 0;
        }
    }
    return pb_err_set(err, PB_ERR_UNAVAILABLE,
                      "%u bindings are routed or stopping on this instance: no room for more",
                      SLOT_MAX);
}

static void port_index(pb_routers_t *rs, const char *topic, port_t *pt);

static port_t *port_get(pb_routers_t *rs, const char *topic) {
    port_t *pt = port_find(rs, topic);
    if (pt) return pt;
    pt = calloc(1, sizeof *pt);
    PB_ASSERT(pt);
    pt->topic = strdup(topic);
    PB_ASSERT(pt->topic);
    port_index(rs, topic, pt);
    if (rs->n_ports == rs->cap_ports)
        rs->ports = grow(rs->ports, &rs->cap_ports, sizeof *rs->ports);
    rs->ports[rs->n_ports++] = pt;
    rs->subs_dirty = 1;
    return pt;
}

static void port_drop(pb_routers_t *rs, port_t *pt);

static void port_detach(pb_routers_t *rs, router_t *r) {
    port_t *pt = r->port;
    if (!pt) return;
    for (size_t i = 0; i < pt->n_b; i++)
        if (pt->b[i] == r) {
            memmove(&pt->b[i], &pt->b[i + 1], (pt->n_b - i - 1) * sizeof *pt->b);
            pt->n_b--;
            break;
        }
    r->port = NULL;
    if (pt->n_b || pt->declared) return;
    port_drop(rs, pt);
}

/* Forget a port (no binding, not declared): the next subscription leaves it. */
static void port_drop(pb_routers_t *rs, port_t *pt) {
    unpark_port(rs, pt, -1); /* librdkafka's pause outlives the topic's revocation */
    port_index(rs, pt->topic, NULL);
    for (size_t i = 0; i < rs->n_ports; i++)
        if (rs->ports[i] == pt) {
            rs->ports[i] = rs->ports[--rs->n_ports];
            break;
        }
    if (rs->last_port == pt) rs->last_port = NULL;
    free(pt->b);
    free(pt->parts);
    free(pt->topic);
    free(pt);
    rs->subs_dirty = 1;
}

/* Partition counts of a new binding's topics, looked up for many bindings at once (-1: absent). */
/* ---- topic look-ups as jobs ---- */

/* What the routers know of a topic: its partition count (TOPIC_ABSENT: not in the cluster when last
 * looked up, TOPIC_UNKNOWN: not looked up yet, or the look-up failed). Reconcile reads only this
 * cache; what it lacks a PB_JOB_TOPICS job looks up (and creates: a binding's input and dead-letter
 * topics, with its output topic's partition count), then reconcile runs again. */
#define TOPIC_ABSENT (-1)
#define TOPIC_UNKNOWN (-2)
#define TOPIC_RECHECK_MS 1000 /* an absent topic is looked up again at most this often */

typedef struct tentry {
    char *name; /* NULL: free slot */
    int count;
    int64_t at_ms; /* when it was looked up */
    port_t *port;  /* the reader's port of this topic (NULL: none): port_find */
} tentry_t;

static size_t topic_hash(const char *s) { return (size_t)pb_hash_str(PB_HASH_LEGACY_BASIS, s); }

static tentry_t *tc_slot(tentry_t *t, size_t cap, const char *name) {
    size_t i = topic_hash(name) & (cap - 1);
    while (t[i].name && strcmp(t[i].name, name))
        i = (i + 1) & (cap - 1);
    return &t[i];
}

/* The entry of name, added (TOPIC_UNKNOWN) when missing. */
static tentry_t *tc_get(pb_routers_t *rs, const char *name) {
    if ((rs->tc_n + 1) * 2 > rs->tc_cap) {
        size_t cap = rs->tc_cap ? rs->tc_cap * 2 : 64;
        tentry_t *t = calloc(cap, sizeof *t);
        PB_ASSERT(t); /* a few bytes per topic */
        for (size_t i = 0; i < rs->tc_cap; i++)
            if (rs->tc[i].name) *tc_slot(t, cap, rs->tc[i].name) = rs->tc[i];
        free(rs->tc);
        rs->tc = t;
        rs->tc_cap = cap;
    }
    tentry_t *e = tc_slot(rs->tc, rs->tc_cap, name);
    if (!e->name) {
        e->name = dup_or_die(name);
        e->count = TOPIC_UNKNOWN;
        rs->tc_n++;
    }
    return e;
}

/* The entry of name, or NULL (never added). */
static tentry_t *tc_find(const pb_routers_t *rs, const char *name) {
    if (!rs->tc_cap) return NULL;
    tentry_t *e = tc_slot(rs->tc, rs->tc_cap, name);
    return e->name ? e : NULL;
}

static void port_index(pb_routers_t *rs, const char *topic, port_t *pt) {
    tentry_t *e = pt ? tc_get(rs, topic) : tc_find(rs, topic);
    if (e) e->port = pt;
}

static port_t *port_indexed(const pb_routers_t *rs, const char *topic) {
    tentry_t *e = tc_find(rs, topic);
    return e ? e->port : NULL;
}

/* The cached count, or TOPIC_UNKNOWN when it should be looked up (never, or absent and stale). */
static int tc_count(pb_routers_t *rs, const char *name) {
    tentry_t *e = tc_get(rs, name);
    if (e->count == TOPIC_ABSENT && pb_loop_now_ms() - e->at_ms >= TOPIC_RECHECK_MS)
        return TOPIC_UNKNOWN;
    return e->count;
}

/* A look-up job: names[0..n) looked up; each triple (out, in, dlq) of a binding also creates its
 * in and dlq topics with out's count when out exists and they do not (in or dlq -1: none). */
typedef struct tjob {
    pb_routers_t *rs;
    pb_kafka_t *kafka;
    char **names;
    int *counts;
    size_t n, cap;
    size_t (*trip)[3];
    size_t nt, cap_t;
    pb_job_t *job;
    char error[512];
} tjob_t;

static void tjob_free(tjob_t *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n; i++)
        free(t->names[i]);
    free(t->names);
    free(t->counts);
    free(t->trip);
    free(t);
}

static size_t tjob_name(tjob_t *t, const char *name) {
    for (size_t i = t->n; i-- > 0;) /* the same names come together (a binding's) */
        if (!strcmp(t->names[i], name)) return i;
    if (t->n == t->cap) {
        size_t c = t->cap;
        t->names = grow(t->names, &c, sizeof *t->names);
        int *n = realloc(t->counts, c * sizeof *n);
        PB_ASSERT(n);
        t->counts = n;
        t->cap = c;
    }
    t->names[t->n] = dup_or_die(name);
    t->counts[t->n] = TOPIC_UNKNOWN;
    return t->n++;
}

static void tjob_binding(tjob_t *t, const char *out, const char *in, const char *dlq) {
    if (t->nt == t->cap_t) t->trip = grow(t->trip, &t->cap_t, sizeof *t->trip);
    t->trip[t->nt][0] = tjob_name(t, out);
    t->trip[t->nt][1] = tjob_name(t, in);
    t->trip[t->nt][2] = tjob_name(t, dlq);
    t->nt++;
}

static void topics_work(void *arg) { /* PB_JOB_TOPICS worker: sees only the job */
    tjob_t *t = arg;
    pb_err_t err = {0};
    if (pb_kafka_partition_counts(t->kafka, (const char *const *)t->names, t->n, t->counts, 5000,
                                  &err)) {
        for (size_t i = 0; i < t->n; i++)
            t->counts[i] = TOPIC_ABSENT; /* looked up again in TOPIC_RECHECK_MS */
        snprintf(t->error, sizeof t->error, "%s", err.msg);
        return;
    }
    size_t ne = 0;
    pb_kafka_topic_req_t *req = calloc(2 * t->nt + 1, sizeof *req);
    size_t *at = calloc(2 * t->nt + 1, sizeof *at);
    PB_ASSERT(req && at);
    for (size_t i = 0; i < t->nt; i++) {
        int parts = t->counts[t->trip[i][0]];
        if (parts < 0) continue;
        for (int k = 1; k <= 2; k++)
            if (t->counts[t->trip[i][k]] < 0) {
                at[ne] = t->trip[i][k];
                req[ne++] =
                    (pb_kafka_topic_req_t){.topic = t->names[t->trip[i][k]], .partitions = parts};
            }
    }
    if (ne && pb_kafka_ensure_topics(t->kafka, req, ne, 15000, &err))
        snprintf(t->error, sizeof t->error, "%s", err.msg);
    else
        for (size_t i = 0; i < ne; i++)
            t->counts[at[i]] = req[i].actual;
    free(req);
    free(at);
}

static void topics_done(void *arg, int cancelled) {
    tjob_t *t = arg;
    if (!cancelled) {
        pb_routers_t *rs = t->rs;
        rs->tjob = NULL;
        int64_t now = pb_loop_now_ms();
        for (size_t i = 0; i < t->n; i++) {
            tentry_t *e = tc_get(rs, t->names[i]);
            e->count = t->counts[i];
            e->at_ms = now;
        }
        if (t->error[0])
            pb_log_rl(WARN, "router", "topic look-up for %zu bindings and ports: %s; trying again",
                      t->n, t->error);
        if (rs->reg) pb_routers_reconcile(rs, rs->reg); /* what the look-up allows starts now */
    }
    tjob_free(t);
}

/* Run t: as a job (reconcile runs again when it completes), or at once without a jobs layer. */
static void topics_submit(pb_routers_t *rs, tjob_t *t) {
    t->rs = rs;
    t->kafka = rs->env.kafka;
    if (rs->env.jobs &&
        (t->job = pb_jobs_submit(rs->env.jobs, PB_JOB_TOPICS, topics_work, topics_done, t))) {
        rs->tjob = t;
        return;
    }
    topics_work(t);
    int64_t now = pb_loop_now_ms();
    for (size_t i = 0; i < t->n; i++) {
        tentry_t *e = tc_get(rs, t->names[i]);
        e->count = t->counts[i];
        e->at_ms = now;
    }
    tjob_free(t);
}

typedef struct known {
    int out, in, dlq;
} known_t;

static router_t *router_start(pb_routers_t *rs, const pb_registry_binding_t *b, const known_t *kn,
                              pb_err_t *err) {
    const pb_port_t *out = pb_registry_port(rs->reg, b->from);
    const pb_port_t *in = pb_registry_port(rs->reg, b->to);
    if (!out || !in) {
        pb_err_set(err, PB_ERR_NOT_FOUND, "binding %d: port %s is not in the registry", b->id,
                   out ? b->to : b->from);
        return NULL;
    }
    int parts = kn->out;
    if (parts < 0 || kn->in < 0 || kn->dlq < 0) {
        pb_err_set(err, PB_ERR_NOT_FOUND, "binding %d: %s %s %s", b->id,
                   parts < 0    ? "output topic"
                   : kn->in < 0 ? "input topic"
                                : "dead-letter topic",
                   parts < 0    ? out->topic
                   : kn->in < 0 ? in->topic
                                : out->dlq_topic,
                   parts == TOPIC_ABSENT ? "does not exist yet" : "is being looked up or created");
        return NULL;
    }
    int actual = kn->in;
    if (actual != parts)
        pb_log(WARN, "router",
               "%s: input topic %s has %d partitions, output topic %s has %d: records of "
               "partitions it lacks cannot be routed",
               in->fqn, in->topic, actual, out->topic, parts);
    if (clients(rs, err)) return NULL;
    router_t *r = calloc(1, sizeof *r);
    if (!r) goto nomem;
    r->rs = rs;
    r->binding_id = b->id;
    r->reader_id = -1;
    r->in_parts = actual;
    r->from = strdup(b->from);
    r->to = strdup(b->to);
    r->start = strdup(b->start ? b->start : "latest");
    r->out_topic = strdup(out->topic);
    r->in_topic = strdup(in->topic);
    r->dlq_topic = strdup(out->dlq_topic);
    r->contract = join(in->fqn, "@", in->version);
    if (!r->from || !r->to || !r->start || !r->out_topic || !r->in_topic || !r->dlq_topic ||
        !r->contract || refresh(r, b))
        goto nomem;
    pb_addr_route_group(in->topic, r->group, sizeof r->group);
    if (rs->env.metrics) {
        r->m_out = pb_metrics_port(rs->env.metrics, out->fqn, slo_s(out));
        r->m_in = pb_metrics_port(rs->env.metrics, in->fqn, slo_s(in));
    }
    part_of(r, parts - 1);
    if (slot_take(rs, r, err)) goto fail;
    pb_log(INFO, "router",
           "router started: %s -> %s (%s -> %s, %d partitions, fanned out by the instance's "
           "reader, progress in group %s, reader schema id %d, start %s)",
           b->from, b->to, r->out_topic, r->in_topic, parts, r->group, r->reader_id, r->start);
    return r;
nomem:
    pb_err_set(err, PB_ERR_NOMEM, "out of memory");
fail:
    if (r) router_free(r);
    return NULL;
}

/* Make the reader's subscription the set of bound output topics, once reconciles are quiet. */
static void subscribe(pb_routers_t *rs) {
    /* Not while a revocation is held: the group settles that one first (bounded). */
    if (!rs->subs_dirty || !rs->c || rs->n_rv) return;
    if (pb_loop_now_ms() - rs->last_reconcile_ms < SUBSCRIBE_QUIET_MS) return;
    const char **t = malloc((rs->n_ports ? rs->n_ports : 1) * sizeof *t);
    PB_ASSERT(t);
    for (size_t i = 0; i < rs->n_ports; i++)
        t[i] = rs->ports[i]->topic;
    pb_err_t err = {0};
    if (pb_kafka_consumer_subscribe(rs->c, t, rs->n_ports, &err))
        pb_log_rl(ERROR, "router", "fan-out reader: %s; retrying", err.msg);
    else
        rs->subs_dirty = 0;
    free(t);
}

/* Free removed bindings once their last records are delivered (or the wait is over). */
static void reap(pb_routers_t *rs) {
    int64_t now = pb_loop_now_ms();
    for (size_t i = 0; i < rs->n_dying;) {
        router_t *r = rs->dying[i];
        if (r->inflight > 0 && now < r->stop_deadline) {
            i++;
            continue;
        }
        if (r->inflight > 0)
            pb_log(WARN, "router", "%s: %" PRId64 " records undelivered at stop", r->to,
                   r->inflight);
        rs->dying[i] = rs->dying[--rs->n_dying];
        router_free(r);
    }
}

/* Records the byte bound left unread in a batch: their partitions go back to the first of them
 * (the reader's queue drops what it fetched past it), read again once deliveries made room. */
static void rewind_full(pb_routers_t *rs) {
    rs->rewind_due = 0;
    rs->rewinds++;
    for (size_t i = 0; i < rs->n_ports; i++) {
        port_t *pt = rs->ports[i];
        for (size_t j = 0; j < pt->n_parts; j++) {
            fpart_t *fp = &pt->parts[j];
            int64_t off = fp->rewind;
            fp->rewind = -1;
            if (off < 0 || !fp->assigned || fp->resolving || fp->revoking) continue;
            pb_err_t err = {0};
            if (pb_kafka_consumer_seek(rs->c, pt->topic, (int32_t)j, off, &err)) {
                /* Not assigned any more: its next owner reads from its own decision. */
                pb_log_rl(WARN, "router", "%s[%zu]: %s", pt->topic, j, err.msg);
                continue;
            }
            fp->pos = off;
            pb_log(DEBUG, "router",
                   "%s[%zu]: %" PRId64 " bytes in flight reached router.inflight.kbytes: read "
                   "again from offset %" PRId64,
                   pt->topic, j, pb_kafka_producer_inflight_bytes(rs->p), off);
        }
    }
}

static void serve_all(pb_routers_t *rs) {
    char drain[256];
    while (read(rs->wake[0], drain, sizeof drain) > 0) {
    }
    subscribe(rs);
    if (rs->p) pb_kafka_producer_serve(rs->p);
    if (rs->c) {
        /* Deliveries wake the loop again while messages wait in the consumer's queue. */
        size_t fan = 1;
        for (size_t i = 0; i < rs->n_ports; i++)
            if (rs->ports[i]->n_b > fan) fan = rs->ports[i]->n_b;
        int64_t room = HOLD_AT - (rs->p ? pb_kafka_producer_inflight(rs->p) : 0);
        size_t max = room > 0 ? (size_t)room / fan + 1 : 0;
        if (max > SERVE_SLICE) max = SERVE_SLICE;
        if (rs->p)
            max = pb_router_take(pb_kafka_producer_inflight_bytes(rs->p),
                                 rs->env.inflight_max_bytes, rs->rec_bytes, max);
        /* Took all it asked for and the byte bound is not reached (stopped at the slice, or at
         * a size estimate): come back after the loop's other events (a full pipe means a wake-up
         * is pending already). Stopped for room, deliveries wake it. */
        if (max && pb_kafka_consumer_serve_max(rs->c, max) >= max &&
            !pb_router_bytes_full(rs->p ? pb_kafka_producer_inflight_bytes(rs->p) : 0,
                                  rs->env.inflight_max_bytes) &&
            write(rs->wake[1], "", 1) < 0 && errno != EAGAIN)
            pb_log_rl(WARN, "router", "router wake pipe: %s", strerror(errno));
        if (rs->rewind_due) rewind_full(rs);
        if (rs->p) pb_kafka_producer_serve(rs->p);
    }
    int64_t now = pb_loop_now_ms();
    for (size_t i = 0; i < rs->n; i++) {
        router_t *r = rs->r[i];
        for (size_t j = 0; j < r->n_parts; j++) {
            part_t *p = &r->parts[j];
            if (p->broken && !p->resolving && !p->revoking && p->assigned && p->pending == 0 &&
                now >= p->retry_ms)
                recover(r, (int32_t)j, p);
        }
        /* By interval only: a commit per wake-up would cost more than routing (the loop's tick
         * commits a quiet binding). */
        commit(r, 0);
    }
    revoke_finish(rs, 0);
    reap(rs);
}

static void on_wake(void *arg) { serve_all(arg); }

/* Commits of a quiet binding, reconcile retries for bindings that could not start yet, and a
 * poll of the reader: the loop otherwise polls it only when its queue wakes the fd, and a group
 * member that does not poll within max.poll.interval.ms (5 min) is thrown out of its group. */
static void on_tick(void *arg) {
    pb_routers_t *rs = arg;
    if (rs->retry && rs->reg) pb_routers_reconcile(rs, rs->reg);
    serve_all(rs);
    park_pass(rs);
}

pb_routers_t *pb_routers_new(const pb_router_env_t *env, pb_err_t *err) {
    if (env->inflight_max_bytes <= 0) {
        pb_err_set(err, PB_ERR_INVALID,
                   "routers: inflight_max_bytes %" PRId64 " must be > 0 (router.inflight.kbytes)",
                   env->inflight_max_bytes);
        return NULL;
    }
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
    rs->rec_bytes = -1; /* not known until a record was routed */
    rs->url = strdup(env->registry_url ? env->registry_url : "");
    rs->slots = calloc(SLOT_MAX, sizeof *rs->slots);
    if (!rs->url || !rs->slots) {
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

/* Every declared output port is read (and its direct writes counted) with or without bindings;
 * ports no longer declared and without bindings are dropped. */
/* The declared output ports the reader does not read yet whose topic the cache lacks: into *t
 * (made when needed), unless a look-up is in flight already. */
static void declare_lookups(pb_routers_t *rs, const pb_registry_t *reg, tjob_t **t) {
    size_t np = 0;
    const pb_product_t *const *prods = pb_registry_products(reg, &np);
    if (rs->tjob || !rs->env.kafka) return;
    for (size_t i = 0; i < np; i++)
        for (size_t j = 0; j < prods[i]->n_outputs; j++) {
            const pb_port_t *o = &prods[i]->outputs[j];
            if (port_find(rs, o->topic) || tc_count(rs, o->topic) != TOPIC_UNKNOWN) continue;
            if (!*t) *t = calloc(1, sizeof **t);
            PB_ASSERT(*t);
            tjob_name(*t, o->topic);
        }
}

static void declare_ports(pb_routers_t *rs, const pb_registry_t *reg) {
    size_t np = 0;
    const pb_product_t *const *prods = pb_registry_products(reg, &np);
    for (size_t i = 0; i < rs->n_ports; i++)
        rs->ports[i]->declared = 0;
    for (size_t i = 0; i < np; i++) {
        for (size_t j = 0; j < prods[i]->n_outputs; j++) {
            const pb_port_t *o = &prods[i]->outputs[j];
            port_t *pt = port_find(rs, o->topic);
            if (!pt) {
                /* Not before its topic exists (the cache says so): subscribing to a missing topic
                 * would log errors until it appears. declare_lookups asked for the rest. */
                if (tc_count(rs, o->topic) < 0) {
                    rs->retry = 1;
                    continue;
                }
                pt = port_get(rs, o->topic);
            }
            pt->declared = 1;
            snprintf(pt->contract, sizeof pt->contract, "%s@%s", o->fqn, o->version);
            if (!pt->m && rs->env.metrics)
                pt->m = pb_metrics_port(rs->env.metrics, o->fqn, slo_s(o));
        }
    }
    for (size_t i = 0; i < rs->n_ports;) {
        port_t *pt = rs->ports[i];
        if (pt->declared || pt->n_b) {
            i++;
            continue;
        }
        port_drop(rs, pt);
    }
    if (rs->n_ports) {
        pb_err_t err = {0};
        if (clients(rs, &err)) pb_log_rl(WARN, "router", "fan-out reader: %s", err.msg);
    }
}

void pb_routers_reconcile(pb_routers_t *rs, const pb_registry_t *reg) {
    rs->reg = reg;
    rs->retry = 0;
    size_t nb = pb_registry_binding_count(reg);
    size_t first_new = rs->n;
    for (size_t i = 0; i < rs->n; i++)
        rs->r[i]->seen = 0;
    /* The topics of every new binding from the cache; what it lacks, one job looks up (and
     * creates) for them all, and reconcile runs again when it completes. */
    known_t *kn = calloc(nb ? nb : 1, sizeof *kn);
    PB_ASSERT(kn);
    tjob_t *t = NULL;
    for (size_t j = 0; j < nb; j++) {
        const pb_registry_binding_t *b = pb_registry_binding_at(reg, j);
        int have = 0;
        for (size_t i = 0; i < rs->n && !have; i++)
            have = rs->r[i]->binding_id == b->id;
        const pb_port_t *out = have ? NULL : pb_registry_port(reg, b->from);
        const pb_port_t *in = have ? NULL : pb_registry_port(reg, b->to);
        kn[j].out = kn[j].in = kn[j].dlq = TOPIC_UNKNOWN;
        if (!out || !in) continue;
        kn[j].out = tc_count(rs, out->topic);
        kn[j].in = tc_count(rs, in->topic);
        kn[j].dlq = tc_count(rs, out->dlq_topic);
        /* UNKNOWN: never looked up, or absent when last looked up a while ago (an input or
         * dead-letter topic the job creates then). */
        int stale = kn[j].out == TOPIC_UNKNOWN ||
                    (kn[j].out >= 0 && (kn[j].in == TOPIC_UNKNOWN || kn[j].dlq == TOPIC_UNKNOWN));
        if (stale && !rs->tjob && rs->env.kafka) {
            if (!t) t = calloc(1, sizeof *t);
            PB_ASSERT(t);
            tjob_binding(t, out->topic, in->topic, out->dlq_topic);
        }
    }
    declare_lookups(rs, reg, &t);
    if (t) {
        int inline_run = !rs->env.jobs;
        topics_submit(rs, t);
        if (inline_run)
            for (size_t j = 0; j < nb; j++) { /* looked up at once: read the cache again */
                const pb_registry_binding_t *b = pb_registry_binding_at(reg, j);
                const pb_port_t *out = pb_registry_port(reg, b->from);
                const pb_port_t *in = pb_registry_port(reg, b->to);
                if (!out || !in) continue;
                kn[j].out = tc_count(rs, out->topic);
                kn[j].in = tc_count(rs, in->topic);
                kn[j].dlq = tc_count(rs, out->dlq_topic);
            }
    }
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
        pb_err_t err = {0};
        r = router_start(rs, b, &kn[j], &err);
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
        if (rs->n == rs->cap) rs->r = grow(rs->r, &rs->cap, sizeof *rs->r);
        rs->r[rs->n++] = r;
    }
    free(kn);
    /* Removed bindings leave their port at once; their records in flight still land. */
    for (size_t i = 0; i < rs->n;) {
        router_t *r = rs->r[i];
        if (r->seen) {
            i++;
            continue;
        }
        pb_log(INFO, "router", "router stopped: %s -> %s (binding %d removed)", r->from, r->to,
               r->binding_id);
        commit(r, 1);
        port_detach(rs, r);
        memmove(&rs->r[i], &rs->r[i + 1], (rs->n - i - 1) * sizeof *rs->r);
        rs->n--;
        if (i < first_new) first_new--;
        r->stop_deadline = pb_loop_now_ms() + rs->env.revoke_wait_ms;
        if (rs->n_dying == rs->cap_dying)
            rs->dying = grow(rs->dying, &rs->cap_dying, sizeof *rs->dying);
        rs->dying[rs->n_dying++] = r;
    }
    /* New bindings join their port; where the reader already has the port's partitions, they
     * decide their positions (one job for them all) and the reader goes back if one needs it. */
    rjob_t *joined = NULL;
    for (size_t i = first_new; i < rs->n; i++) {
        router_t *r = rs->r[i];
        port_t *pt = port_get(rs, r->out_topic);
        if (pt->n_b == pt->cap_b) pt->b = grow(pt->b, &pt->cap_b, sizeof *pt->b);
        pt->b[pt->n_b++] = r;
        r->port = pt;
        for (size_t j = 0; j < pt->n_parts; j++) {
            if (!pt->parts[j].assigned) continue;
            if (!joined) joined = rjob_new(rs, RESUME_JOINED);
            rjob_want(joined, r, (int32_t)j);
        }
    }
    if (joined) resume_submit(joined);
    declare_ports(rs, reg);
    if (rs->subs_dirty) rs->last_reconcile_ms = pb_loop_now_ms();
    reap(rs);
}

void pb_routers_stats(const pb_routers_t *rs, pb_routers_stats_t *out) {
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < rs->n; i++) {
        out->routed += rs->r[i]->routed;
        out->dlq += rs->r[i]->dlq;
        out->failed += rs->r[i]->failed;
    }
    out->inflight = rs->p ? pb_kafka_producer_inflight(rs->p) : 0;
    out->inflight_bytes = rs->p ? pb_kafka_producer_inflight_bytes(rs->p) : 0;
    out->inflight_bytes_peak = rs->peak_bytes;
    out->inflight_max_bytes = rs->env.inflight_max_bytes;
    out->rewinds = rs->rewinds;
    out->routers = rs->n;
    out->parked = rs->n_parked;
    memcpy(out->unparks, rs->unparks, sizeof out->unparks);
    for (size_t i = 0; i < rs->n_ports; i++)
        for (size_t j = 0; j < rs->ports[i]->n_parts; j++)
            out->read_parts += rs->ports[i]->parts[j].assigned && !rs->ports[i]->parts[j].resolving;
}

size_t pb_routers_count(const pb_routers_t *rs) { return rs ? rs->n : 0; }

size_t pb_routers_committed(const pb_routers_t *rs, size_t i, int *binding_id, int64_t *out,
                            size_t cap) {
    const router_t *r = rs->r[i];
    *binding_id = r->binding_id;
    if (!r->n_parts || r->n_parts > cap) return 0;
    for (size_t k = 0; k < r->n_parts; k++) {
        const part_t *p = &r->parts[k];
        if (!p->assigned || p->resolving || p->broken) return 0; /* not known here */
        /* What the next commit writes: every origin offset below it was routed and acknowledged. */
        out[k] = p->next_commit >= 0 ? p->next_commit : p->committed;
    }
    return r->n_parts;
}

void pb_routers_partitions(const pb_routers_t *rs, size_t i, int *binding_id, int *out_parts,
                           int *in_parts) {
    const router_t *r = rs->r[i];
    *binding_id = r->binding_id;
    *out_parts = (int)r->n_parts;
    *in_parts = r->in_parts;
}

size_t pb_routers_port_count(const pb_routers_t *rs) { return rs && rs->c ? rs->n_ports : 0; }

size_t pb_routers_port_watermarks(const pb_routers_t *rs, size_t i, const char **topic,
                                  int64_t *low, int64_t *high, size_t cap) {
    const port_t *pt = rs->ports[i];
    size_t n = pt->n_parts < cap ? pt->n_parts : cap;
    /* A fetch answer within the reader's wait (the broker's longest), plus the round trip and
     * librdkafka's fetch scheduling. */
    int64_t settled = pb_loop_now_ms() - (rs->env.fetch_wait_ms + 1000);
    *topic = pt->topic;
    /* Records waiting for the routers (a backlog, or flow control holding them): the reader may
     * have stopped fetching, every partition's figures may be old. */
    int queued = pb_kafka_consumer_queued(rs->c) > 0;
    for (size_t p = 0; p < n; p++) {
        const fpart_t *fp = &pt->parts[p];
        int64_t lo = -1, hi = -1;
        low[p] = high[p] = -1;
        /* Parked: not fetched, the figures are as old as the parking. */
        if (queued || fp->parked || !fp->assigned || fp->resolving || fp->revoking ||
            fp->reading_ms < 0 || fp->reading_ms > settled || fp->pos < 0 ||
            pb_kafka_consumer_watermarks_cached(rs->c, pt->topic, (int32_t)p, &lo, &hi) || lo < 0 ||
            hi < lo)
            continue;
        /* Caught up: the routers were given every record below the high watermark, so the reader
         * is fetching at the end and the answer is at most one fetch wait old. */
        if (fp->pos != hi) continue;
        low[p] = lo;
        high[p] = hi;
    }
    return n;
}

void pb_routers_port_publish(pb_routers_t *rs, const char *topic) {
    if (!rs || !rs->n_parked) return;
    port_t *pt = port_indexed(rs, topic);
    if (pt && pt->n_parked) unpark_port(rs, pt, PB_ROUTER_UNPARK_PUBLISH);
}

size_t pb_routers_parked_count(const pb_routers_t *rs) { return rs ? rs->n_parked : 0; }

size_t pb_routers_parked(const pb_routers_t *rs, pb_routers_parked_t *out, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; rs && i < rs->n_ports && n < cap; i++) {
        const port_t *pt = rs->ports[i];
        for (size_t j = 0; pt->n_parked && j < pt->n_parts && n < cap; j++)
            if (pt->parts[j].parked)
                out[n++] = (pb_routers_parked_t){pt->topic, (int32_t)j, (int)pt->n_parts,
                                                 pt->parts[j].pos};
    }
    return n;
}

size_t pb_routers_sweep_parked(pb_routers_t *rs, const pb_kafka_lag_wm_t *wm, size_t n) {
    size_t woke = 0;
    for (size_t i = 0; rs && rs->n_parked && i < n; i++) {
        port_t *pt = port_indexed(rs, wm[i].topic);
        if (!pt || wm[i].partition < 0 || (size_t)wm[i].partition >= pt->n_parts) continue;
        fpart_t *fp = &pt->parts[wm[i].partition];
        if (!fp->parked || !pb_router_should_unpark(fp->pos, wm[i].high)) continue;
        unpark_mark(rs, pt, (size_t)wm[i].partition, PB_ROUTER_UNPARK_SWEEP);
        woke++;
    }
    pz_flush(rs, 0);
    return woke;
}

void pb_routers_destroy(pb_routers_t *rs) {
    if (!rs) return;
    /* Look-ups still running: their results are dropped (done only frees them). */
    for (rjob_t *j = rs->jobs, *next; j; j = next) {
        next = j->next;
        pb_jobs_cancel(j->job);
    }
    rs->jobs = NULL;
    if (rs->tjob) pb_jobs_cancel(rs->tjob->job);
    rs->tjob = NULL;
    /* Leaving the group revokes everything (on_revoke: in-flight records land, commits go out);
     * a revocation held meanwhile is finished first, with the same bounded wait. */
    rs->closing = 1;
    if (rs->n_rv && rs->p) pb_kafka_producer_wait(rs->p, rs->env.revoke_wait_ms);
    revoke_finish(rs, 1);
    free(rs->rv);
    rs->rv = NULL;
    pb_kafka_consumer_destroy(rs->c);
    rs->c = NULL;
    for (size_t i = 0; i < rs->n; i++) {
        pb_log(INFO, "router", "router stopped: %s -> %s (shutdown)", rs->r[i]->from, rs->r[i]->to);
        commit(rs->r[i], 1);
    }
    int left = pb_kafka_producer_destroy(rs->p, rs->env.revoke_wait_ms);
    if (left) pb_log(WARN, "router", "%d routed records undelivered at stop", left);
    rs->p = NULL;
    for (size_t i = 0; i < rs->n; i++) {
        rs->r[i]->port = NULL;
        router_free(rs->r[i]);
    }
    for (size_t i = 0; i < rs->n_dying; i++)
        router_free(rs->dying[i]);
    for (size_t i = 0; i < rs->n_ports; i++) {
        free(rs->ports[i]->b);
        free(rs->ports[i]->parts);
        free(rs->ports[i]->topic);
        free(rs->ports[i]);
    }
    free(rs->ports);
    for (size_t i = 0; i < rs->tc_cap; i++)
        free(rs->tc[i].name);
    free(rs->tc);
    free(rs->r);
    free(rs->dying);
    free(rs->slots);
    free(rs->hin);
    free(rs->hout);
    free(rs->pz);
    pb_loop_timer_destroy(rs->tick);
    /* The loop's watch of wake[0] goes with the loop; closing first is harmless for epoll. */
    if (rs->wake[0] >= 0) close(rs->wake[0]);
    if (rs->wake[1] >= 0) close(rs->wake[1]);
    free(rs->url);
    free(rs);
}
