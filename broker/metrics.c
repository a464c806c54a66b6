/*
 * metrics — counters, timestamps and histograms per port and per process (see metrics.h).
 * Must not: do I/O or talk to Kafka.
 */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "compat.h"
#include "err.h"

/* Default e2e latency buckets, seconds: from a millisecond (routing on one machine) to an hour
 * (a batch-fed port); a port's freshness SLO is added when not already a bound. */
static const double e2e_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,  1,
                                    2.5,   5,      10,    30,   60,    120,  300, 600,  1800, 3600};

/* Produce duration, seconds: acks=all on a healthy cluster takes a few ms. */
static const double produce_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,   0.5,   1,      2.5,   5,    10,    30};

struct pb_metrics {
    pb_metrics_port_t **ports;
    size_t n_ports, cap_ports;
    size_t *index; /* open addressing on fqn: slot -> ports[] position + 1, 0 empty */
    size_t index_cap;
    int disabled;
    pb_metrics_lag_t **lags;
    size_t n_lags, cap_lags;
    pb_metrics_hist_t produce;
    uint64_t schema_checks[2][PB_COMPAT__LEVEL_COUNT]; /* [compatible][level] */
};

const char *pb_metrics_dir_name(pb_metrics_dir_t d) { return d == PB_METRICS_IN ? "in" : "out"; }

const char *pb_metrics_outcome_name(pb_metrics_outcome_t o) {
    static const char *names[] = {"ok", "rejected", "dlq", "failed"};
    return o < PB_METRICS_OUTCOMES ? names[o] : "unknown";
}

const char *pb_metrics_dlq_reason_name(pb_metrics_dlq_reason_t r) {
    static const char *names[] = {"decode", "unknown_schema", "projection", "too_large",
                                  "undeliverable"};
    return r < PB_METRICS_DLQ_REASONS ? names[r] : "unknown";
}

static void hist_init(pb_metrics_hist_t *h, const double *bounds, size_t n, double extra) {
    memset(h, 0, sizeof *h);
    for (size_t i = 0; i < n; i++)
        h->bounds[h->n_bounds++] = bounds[i];
    if (extra <= 0 || h->n_bounds >= PB_METRICS_MAX_BUCKETS) return;
    size_t at = 0;
    while (at < h->n_bounds && h->bounds[at] < extra)
        at++;
    if (at < h->n_bounds && h->bounds[at] == extra) return;
    memmove(&h->bounds[at + 1], &h->bounds[at], (h->n_bounds - at) * sizeof h->bounds[0]);
    h->bounds[at] = extra;
    h->n_bounds++;
}

void pb_metrics_hist_observe(pb_metrics_hist_t *h, double v) {
    /* Few buckets: a linear scan beats a binary search's branches. */
    size_t i = 0;
    while (i < h->n_bounds && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum += v;
}

pb_metrics_t *pb_metrics_new(void) {
    pb_metrics_t *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    hist_init(&m->produce, produce_bounds, sizeof produce_bounds / sizeof produce_bounds[0], 0);
    return m;
}

void pb_metrics_destroy(pb_metrics_t *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_ports; i++) {
        free(m->ports[i]->fqn);
        free(m->ports[i]);
    }
    free(m->ports);
    free(m->index);
    for (size_t i = 0; i < m->n_lags; i++) {
        free(m->lags[i]->port);
        free(m->lags[i]->subscriber);
        free(m->lags[i]);
    }
    free(m->lags);
    free(m);
}

void pb_metrics_set_enabled(pb_metrics_t *m, int on) { m->disabled = !on; }

int pb_metrics_enabled(const pb_metrics_t *m) { return !m->disabled; }

static size_t fqn_hash(const char *s) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)h;
}

static pb_metrics_port_t *find_port(const pb_metrics_t *m, const char *fqn) {
    if (!m->index_cap) return NULL;
    for (size_t i = fqn_hash(fqn) & (m->index_cap - 1);; i = (i + 1) & (m->index_cap - 1)) {
        size_t at = m->index[i];
        if (!at) return NULL;
        if (!strcmp(m->ports[at - 1]->fqn, fqn)) return m->ports[at - 1];
    }
}

/* Rebuild the index with room for n ports at a load factor of at most 1/2. */
static int index_grow(pb_metrics_t *m, size_t n) {
    if (n * 2 <= m->index_cap) return 0;
    size_t cap = m->index_cap ? m->index_cap : 32;
    while (cap < n * 2)
        cap *= 2;
    size_t *ix = calloc(cap, sizeof *ix);
    if (!ix) return -1;
    for (size_t k = 0; k < m->n_ports; k++) {
        size_t i = fqn_hash(m->ports[k]->fqn) & (cap - 1);
        while (ix[i])
            i = (i + 1) & (cap - 1);
        ix[i] = k + 1;
    }
    free(m->index);
    m->index = ix;
    m->index_cap = cap;
    return 0;
}

/* Add bound b to a live histogram: its bucket starts empty (see pb_metrics_port). */
static void hist_add_bound(pb_metrics_hist_t *h, double b) {
    if (b <= 0 || h->n_bounds >= PB_METRICS_MAX_BUCKETS) return;
    size_t at = 0;
    while (at < h->n_bounds && h->bounds[at] < b)
        at++;
    if (at < h->n_bounds && h->bounds[at] == b) return;
    memmove(&h->bounds[at + 1], &h->bounds[at], (h->n_bounds - at) * sizeof h->bounds[0]);
    memmove(&h->counts[at + 1], &h->counts[at], (h->n_bounds + 1 - at) * sizeof h->counts[0]);
    h->bounds[at] = b;
    h->counts[at] = 0;
    h->n_bounds++;
}

const pb_metrics_port_t *pb_metrics_port_get(const pb_metrics_t *m, const char *fqn) {
    static const pb_metrics_port_t zero;
    const pb_metrics_port_t *p = find_port(m, fqn);
    return p ? p : &zero;
}

pb_metrics_port_t *pb_metrics_port(pb_metrics_t *m, const char *fqn, double freshness_slo_s) {
    if (m->disabled) return NULL;
    pb_metrics_port_t *p = find_port(m, fqn);
    if (p) {
        hist_add_bound(&p->e2e, freshness_slo_s);
        return p;
    }
    if (m->n_ports == m->cap_ports) {
        size_t cap = m->cap_ports ? m->cap_ports * 2 : 16;
        pb_metrics_port_t **np = realloc(m->ports, cap * sizeof *np);
        if (!np) return NULL;
        m->ports = np;
        m->cap_ports = cap;
    }
    if (index_grow(m, m->n_ports + 1)) return NULL;
    p = calloc(1, sizeof *p);
    if (!p || !(p->fqn = strdup(fqn))) {
        free(p);
        return NULL;
    }
    hist_init(&p->e2e, e2e_bounds, sizeof e2e_bounds / sizeof e2e_bounds[0], freshness_slo_s);
    m->ports[m->n_ports++] = p;
    size_t i = fqn_hash(fqn) & (m->index_cap - 1);
    while (m->index[i])
        i = (i + 1) & (m->index_cap - 1);
    m->index[i] = m->n_ports;
    return p;
}

pb_metrics_lag_t *pb_metrics_lag(pb_metrics_t *m, const char *port_fqn, const char *subscriber) {
    for (size_t i = 0; i < m->n_lags; i++)
        if (!strcmp(m->lags[i]->port, port_fqn) && !strcmp(m->lags[i]->subscriber, subscriber))
            return m->lags[i];
    if (m->n_lags == m->cap_lags) {
        size_t cap = m->cap_lags ? m->cap_lags * 2 : 16;
        pb_metrics_lag_t **nl = realloc(m->lags, cap * sizeof *nl);
        if (!nl) return NULL;
        m->lags = nl;
        m->cap_lags = cap;
    }
    pb_metrics_lag_t *l = calloc(1, sizeof *l);
    if (!l || !(l->port = strdup(port_fqn)) || !(l->subscriber = strdup(subscriber))) {
        if (l) free(l->port);
        free(l);
        return NULL;
    }
    m->lags[m->n_lags++] = l;
    return l;
}

void pb_metrics_produce_duration(pb_metrics_t *m, double seconds) {
    if (m->disabled) return;
    pb_metrics_hist_observe(&m->produce, seconds);
}

void pb_metrics_schema_check(pb_metrics_t *m, int compatible, const char *level) {
    if (m->disabled) return;
    for (int l = 0; l < PB_COMPAT__LEVEL_COUNT; l++)
        if (!strcmp(pb_compat_level_name((pb_compat_level_t)l), level)) {
            m->schema_checks[compatible ? 1 : 0][l]++;
            return;
        }
}

/* ---- freshness ------------------------------------------------------------------------------ */

static double slo_seconds(const pb_port_t *port) {
    return port->slo.has_freshness ? (double)port->slo.freshness_ms / 1000.0 : 0;
}

static void tick_port(pb_metrics_t *m, const pb_port_t *port, double now) {
    double slo = slo_seconds(port);
    pb_metrics_port_t *p = pb_metrics_port(m, port->fqn, slo);
    if (!p) return;
    p->fresh = slo > 0 && p->last_record_ts > 0 && now - p->last_record_ts <= slo;
}

void pb_metrics_tick(pb_metrics_t *m, const pb_product_t *const *products, size_t n_products,
                     double now) {
    if (m->disabled) return;
    for (size_t i = 0; i < n_products; i++) {
        for (size_t j = 0; j < products[i]->n_outputs; j++)
            tick_port(m, &products[i]->outputs[j], now);
        for (size_t j = 0; j < products[i]->n_inputs; j++)
            tick_port(m, &products[i]->inputs[j], now);
    }
}

/* ---- rendering ------------------------------------------------------------------------------ */

/* One declared port as rendered: its labels and its series (or zeros when never counted). */
typedef struct rport {
    const pb_port_t *port;
    const pb_metrics_port_t *s;
    pb_metrics_port_t zero; /* used when s is not in m yet; its e2e has the right bounds */
    char *labels;           /* product="..",major="..",port="..",kind=".." (owned) */
} rport_t;

/* A double as Prometheus reads it: the shortest text that reads back to the same value. */
static void fmt_double(char *out, size_t n, double v) {
    if (isnan(v)) {
        snprintf(out, n, "NaN");
    } else if (isinf(v)) {
        snprintf(out, n, v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(out, n, "%.0f", v);
    } else {
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(out, n, "%.*g", prec, v);
            if (strtod(out, NULL) == v) break;
        }
    }
}

/* A label value: backslash, double quote and line feed escaped (text format 0.0.4). */
static int put_label_value(pb_buf_t *b, const char *s) {
    int rc = 0;
    for (; *s && !rc; s++) {
        if (*s == '\\')
            rc = pb_buf_puts(b, "\\\\");
        else if (*s == '"')
            rc = pb_buf_puts(b, "\\\"");
        else if (*s == '\n')
            rc = pb_buf_puts(b, "\\n");
        else
            rc = pb_buf_putc(b, (uint8_t)*s);
    }
    return rc;
}

static int put_label(pb_buf_t *b, int first, const char *name, const char *value) {
    if (pb_buf_printf(b, "%s%s=\"", first ? "" : ",", name)) return -1;
    if (put_label_value(b, value)) return -1;
    return pb_buf_putc(b, '"');
}

static int family(pb_buf_t *b, const char *name, const char *type, const char *help) {
    return pb_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{labels[,extra]} value */
static int sample(pb_buf_t *b, const char *name, const char *labels, const char *extra, double v) {
    char num[64];
    fmt_double(num, sizeof num, v);
    int has = labels && *labels, has_x = extra && *extra;
    return pb_buf_printf(b, "%s%s%s%s%s%s %s\n", name, has || has_x ? "{" : "", has ? labels : "",
                         has && has_x ? "," : "", has_x ? extra : "", has || has_x ? "}" : "", num);
}

static int sample_u64(pb_buf_t *b, const char *name, const char *labels, const char *extra,
                      uint64_t v) {
    int has = labels && *labels, has_x = extra && *extra;
    return pb_buf_printf(b, "%s%s%s%s%s%s %" PRIu64 "\n", name, has || has_x ? "{" : "",
                         has ? labels : "", has && has_x ? "," : "", has_x ? extra : "",
                         has || has_x ? "}" : "", v);
}

/* A histogram's _bucket (cumulative, ending with +Inf), _sum and _count lines. */
static int hist_lines(pb_buf_t *b, const char *name, const char *labels,
                      const pb_metrics_hist_t *h) {
    char series[160], le[96], num[64];
    uint64_t cum = 0;
    snprintf(series, sizeof series, "%s_bucket", name);
    for (size_t i = 0; i < h->n_bounds; i++) {
        cum += h->counts[i];
        fmt_double(num, sizeof num, h->bounds[i]);
        snprintf(le, sizeof le, "le=\"%s\"", num);
        if (sample_u64(b, series, labels, le, cum)) return -1;
    }
    if (sample_u64(b, series, labels, "le=\"+Inf\"", h->count)) return -1;
    snprintf(series, sizeof series, "%s_sum", name);
    if (sample(b, series, labels, NULL, h->sum)) return -1;
    snprintf(series, sizeof series, "%s_count", name);
    return sample_u64(b, series, labels, NULL, h->count);
}

/* The product label: its name, or "{ns}.{name}" when another product has the same name and major
 * in another namespace (the series would otherwise collide). */
static const char *product_label(const pb_product_t *const *ps, size_t n, const pb_product_t *p,
                                 char *buf, size_t len) {
    for (size_t i = 0; i < n; i++)
        if (ps[i] != p && ps[i]->major == p->major && !strcmp(ps[i]->name, p->name)) {
            snprintf(buf, len, "%s.%s", p->ns, p->name);
            return buf;
        }
    return p->name;
}

static int port_labels(rport_t *r, const char *product) {
    pb_buf_t b = {0};
    char major[24];
    snprintf(major, sizeof major, "%u", r->port->product->major);
    if (put_label(&b, 1, "product", product) || put_label(&b, 0, "major", major) ||
        put_label(&b, 0, "port", r->port->name) ||
        put_label(&b, 0, "kind", pb_addr_kind_name(r->port->kind)) || pb_buf_putc(&b, 0)) {
        pb_buf_free(&b);
        return -1;
    }
    r->labels = (char *)b.data;
    return 0;
}

/* Is (d, o) a combination this kind of port uses (rendered even when zero)? */
static int combo_applies(pb_port_kind_t kind, int d, int o) {
    if (kind == PB_PORT_INPUT) return o == PB_METRICS_OK;
    if (d == PB_METRICS_IN) return o != PB_METRICS_DLQ;
    return o == PB_METRICS_OK || o == PB_METRICS_DLQ;
}

static int render_ports(const pb_metrics_t *m, rport_t *rp, size_t n, pb_buf_t *b) {
    char extra[256];
    /* portbroker_port_info */
    if (family(b, "portbroker_port_info", "gauge",
               "Declared port: URN, topics, schema subject, version, declared compatibility "
               "level, binding source, owner and domain (always 1)."))
        return -1;
    for (size_t i = 0; i < n; i++) {
        const pb_port_t *p = rp[i].port;
        pb_buf_t x = {0};
        char parts[16];
        snprintf(parts, sizeof parts, "%d", p->partitions);
        int rc = put_label(&x, 1, "fqn", p->fqn) || put_label(&x, 0, "topic", p->topic) ||
                 (p->kind == PB_PORT_OUTPUT && put_label(&x, 0, "dlq_topic", p->dlq_topic)) ||
                 put_label(&x, 0, "subject", p->subject) ||
                 put_label(&x, 0, "version", p->version) || put_label(&x, 0, "partitions", parts) ||
                 put_label(&x, 0, "compatibility", p->compatibility ? p->compatibility : "") ||
                 put_label(&x, 0, "from", p->from ? p->from : "") ||
                 put_label(&x, 0, "owner", p->product->owner) ||
                 put_label(&x, 0, "domain", p->product->domain) || pb_buf_putc(&x, 0) ||
                 sample(b, "portbroker_port_info", rp[i].labels, (char *)x.data, 1);
        pb_buf_free(&x);
        if (rc) return -1;
    }
    /* SLO gauges: only for ports whose descriptor states the SLO. */
    if (family(b, "portbroker_port_freshness_slo_seconds", "gauge",
               "Freshness SLO of the port: the newest record's event time may be at most this "
               "old (promises.slo.freshness)."))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (rp[i].port->slo.has_freshness &&
            sample(b, "portbroker_port_freshness_slo_seconds", rp[i].labels, NULL,
                   (double)rp[i].port->slo.freshness_ms / 1000.0))
            return -1;
    if (family(b, "portbroker_port_throughput_min_records_per_second", "gauge",
               "Throughput SLO of the port: at least this many records per second "
               "(promises.slo.throughput.min)."))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (rp[i].port->slo.has_throughput_min &&
            sample(b, "portbroker_port_throughput_min_records_per_second", rp[i].labels, NULL,
                   rp[i].port->slo.throughput_min_per_s))
            return -1;
    if (family(b, "portbroker_port_rejects_max_ratio", "gauge",
               "Reject SLO of the port: at most this fraction of published records rejected "
               "(promises.slo.rejects.max)."))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (rp[i].port->slo.has_rejects_max &&
            sample(b, "portbroker_port_rejects_max_ratio", rp[i].labels, NULL,
                   rp[i].port->slo.rejects_max_ratio))
            return -1;
    /* Counters. */
    if (family(b, "portbroker_port_records_total", "counter",
               "Records per port, direction and outcome (see metrics.h for their meaning)."))
        return -1;
    for (size_t i = 0; i < n; i++)
        for (int d = 0; d < PB_METRICS_DIRS; d++)
            for (int o = 0; o < PB_METRICS_OUTCOMES; o++) {
                uint64_t v = rp[i].s->records[d][o];
                if (!v && !combo_applies(rp[i].port->kind, d, o)) continue;
                snprintf(extra, sizeof extra, "direction=\"%s\",outcome=\"%s\"",
                         pb_metrics_dir_name((pb_metrics_dir_t)d),
                         pb_metrics_outcome_name((pb_metrics_outcome_t)o));
                if (sample_u64(b, "portbroker_port_records_total", rp[i].labels, extra, v))
                    return -1;
            }
    if (family(b, "portbroker_port_bytes_total", "counter",
               "Record bytes (Kafka message values) per port and direction."))
        return -1;
    for (size_t i = 0; i < n; i++)
        for (int d = 0; d < PB_METRICS_DIRS; d++) {
            snprintf(extra, sizeof extra, "direction=\"%s\"",
                     pb_metrics_dir_name((pb_metrics_dir_t)d));
            if (sample_u64(b, "portbroker_port_bytes_total", rp[i].labels, extra,
                           rp[i].s->bytes[d]))
                return -1;
        }
    if (family(b, "portbroker_publish_duplicates_total", "counter",
               "Records published again to an output port under an id it remembers "
               "(publish.dedupe.window.ms): answered with the first copy's position, not stored "
               "again."))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (rp[i].port->kind == PB_PORT_OUTPUT &&
            sample_u64(b, "portbroker_publish_duplicates_total", rp[i].labels, NULL,
                       rp[i].s->duplicates))
            return -1;
    if (family(b, "portbroker_dlq_records_total", "counter",
               "Records of an output port sent to its dead-letter topic, by reason."))
        return -1;
    for (size_t i = 0; i < n; i++)
        for (int r = 0; r < PB_METRICS_DLQ_REASONS; r++) {
            uint64_t v = rp[i].s->dlq[r];
            if (!v && rp[i].port->kind != PB_PORT_OUTPUT) continue;
            snprintf(extra, sizeof extra, "reason=\"%s\"",
                     pb_metrics_dlq_reason_name((pb_metrics_dlq_reason_t)r));
            if (sample_u64(b, "portbroker_dlq_records_total", rp[i].labels, extra, v)) return -1;
        }
    /* Timestamps and freshness. */
    if (family(b, "portbroker_port_last_record_timestamp_seconds", "gauge",
               "Event time (ce_time or the port's eventTimeField) of the newest record, Unix "
               "seconds; 0 before the first record."))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (sample(b, "portbroker_port_last_record_timestamp_seconds", rp[i].labels, NULL,
                   rp[i].s->last_record_ts))
            return -1;
    if (family(b, "portbroker_port_last_received_timestamp_seconds", "gauge",
               "When the broker last received a record for the port, Unix seconds; 0 before the "
               "first record."))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (sample(b, "portbroker_port_last_received_timestamp_seconds", rp[i].labels, NULL,
                   rp[i].s->last_received_ts))
            return -1;
    if (family(b, "portbroker_port_fresh", "gauge",
               "1 when the newest record's event time is within the port's freshness SLO, else 0 "
               "(also before the first record); evaluated when /metrics is read."))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (rp[i].port->slo.has_freshness &&
            sample(b, "portbroker_port_fresh", rp[i].labels, NULL, rp[i].s->fresh ? 1 : 0))
            return -1;
    if (family(b, "portbroker_port_e2e_latency_seconds", "histogram",
               "Event time to arrival in the port's topic, seconds; the buckets include the "
               "port's freshness SLO."))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (hist_lines(b, "portbroker_port_e2e_latency_seconds", rp[i].labels, &rp[i].s->e2e))
            return -1;
    (void)m;
    return 0;
}

static int render_lags(const pb_metrics_t *m, const rport_t *rp, size_t n, pb_buf_t *b,
                       int seconds) {
    const char *name =
        seconds ? "portbroker_subscription_lag_seconds" : "portbroker_subscription_lag_records";
    if (family(b, name, "gauge",
               seconds ? "Age of the oldest record the subscriber (consumer group) has not "
                         "consumed yet, seconds; 0 when caught up."
                       : "Records the subscriber (consumer group) has not consumed yet, summed "
                         "over partitions."))
        return -1;
    for (size_t k = 0; k < m->n_lags; k++) {
        const pb_metrics_lag_t *l = m->lags[k];
        if (!l->known) continue;
        const rport_t *r = NULL;
        for (size_t i = 0; i < n && !r; i++)
            if (!strcmp(rp[i].port->fqn, l->port)) r = &rp[i];
        if (!r) continue;
        pb_buf_t x = {0};
        int rc = put_label(&x, 1, "subscriber", l->subscriber) || pb_buf_putc(&x, 0) ||
                 sample(b, name, r->labels, (char *)x.data, seconds ? l->seconds : l->records);
        pb_buf_free(&x);
        if (rc) return -1;
    }
    return 0;
}

static int render_process(const pb_metrics_t *m, const char *version, pb_buf_t *b) {
    pb_buf_t x = {0};
    int rc = family(b, "portbroker_build_info", "gauge",
                    "The running portbroker's version (always 1).") ||
             put_label(&x, 1, "version", version) || pb_buf_putc(&x, 0) ||
             sample(b, "portbroker_build_info", (char *)x.data, NULL, 1);
    pb_buf_free(&x);
    if (rc) return -1;
    if (family(b, "portbroker_produce_duration_seconds", "histogram",
               "Kafka produce duration, from enqueue to acknowledgement, seconds.") ||
        hist_lines(b, "portbroker_produce_duration_seconds", NULL, &m->produce))
        return -1;
    if (family(b, "portbroker_schema_checks_total", "counter",
               "Schema compatibility checks the registry performed, by result and level."))
        return -1;
    for (int c = 1; c >= 0; c--)
        for (int l = 0; l < PB_COMPAT__LEVEL_COUNT; l++) {
            char extra[128];
            snprintf(extra, sizeof extra, "result=\"%s\",level=\"%s\"",
                     c ? "compatible" : "incompatible", pb_compat_level_name((pb_compat_level_t)l));
            if (sample_u64(b, "portbroker_schema_checks_total", NULL, extra,
                           m->schema_checks[c][l]))
                return -1;
        }
    return 0;
}

int pb_metrics_render(const pb_metrics_t *m, const pb_product_t *const *products, size_t n_products,
                      const char *version, pb_buf_t *out) {
    int rc = 0;
    size_t n = 0, cap = 0;
    rport_t *rp = NULL;
    for (size_t i = 0; i < n_products; i++)
        cap += products[i]->n_outputs + products[i]->n_inputs;
    if (cap && !(rp = calloc(cap, sizeof *rp))) return PB_ERR_NOMEM;
    for (size_t i = 0; i < n_products; i++) {
        const pb_product_t *p = products[i];
        char pl[600];
        const char *product = product_label(products, n_products, p, pl, sizeof pl);
        for (size_t j = 0; j < p->n_outputs + p->n_inputs; j++) {
            rport_t *r = &rp[n++];
            r->port = j < p->n_outputs ? &p->outputs[j] : &p->inputs[j - p->n_outputs];
            r->s = find_port(m, r->port->fqn);
            if (!r->s) {
                hist_init(&r->zero.e2e, e2e_bounds, sizeof e2e_bounds / sizeof e2e_bounds[0],
                          slo_seconds(r->port));
                r->s = &r->zero;
            }
            if (port_labels(r, product)) {
                rc = PB_ERR_NOMEM;
                goto done;
            }
        }
    }
    if (render_process(m, version, out) || render_ports(m, rp, n, out) ||
        render_lags(m, rp, n, out, 0) || render_lags(m, rp, n, out, 1))
        rc = PB_ERR_NOMEM;
done:
    for (size_t i = 0; i < n; i++)
        free(rp[i].labels);
    free(rp);
    return rc;
}

/* ---- reading the lag series (#6) ---- */

size_t pb_metrics_lag_count(const pb_metrics_t *m) { return m->n_lags; }

const pb_metrics_lag_t *pb_metrics_lag_at(const pb_metrics_t *m, size_t i) {
    return i < m->n_lags ? m->lags[i] : NULL;
}

int pb_metrics_render_router(int64_t records, int64_t bytes, int64_t peak_bytes, int64_t max_bytes,
                             pb_buf_t *b) {
    static const struct {
        const char *name, *help;
    } f[] = {
        {"portbroker_router_inflight_records",
         "Routed records in flight: produced to input topics, not yet acknowledged by Kafka (all "
         "bindings; the routers take no more records at 20000)."},
        {"portbroker_router_inflight_bytes",
         "Values, keys and headers of the routed records in flight (the routers take no more "
         "records once it reaches portbroker_router_inflight_max_bytes)."},
        {"portbroker_router_inflight_peak_bytes",
         "The most bytes of routed records in flight at once since the process started (at most "
         "the bound plus one record's copies)."},
        {"portbroker_router_inflight_max_bytes",
         "The bound on bytes of routed records in flight (router.inflight.kbytes)."},
    };
    const int64_t v[] = {records, bytes, peak_bytes, max_bytes};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
        if (family(b, f[i].name, "gauge", f[i].help) ||
            sample_u64(b, f[i].name, "", NULL, v[i] > 0 ? (uint64_t)v[i] : 0))
            return -1;
    return 0;
}

int pb_metrics_render_router_parked(uint64_t read_parts, uint64_t parked, const uint64_t *unparks,
                                    const char *const *reasons, size_t n_reasons, pb_buf_t *b) {
    if (family(b, "portbroker_router_read_partitions", "gauge",
               "Output partitions the fan-out reader of this instance holds (assigned by its "
               "consumer group and started).") ||
        sample_u64(b, "portbroker_router_read_partitions", "", NULL, read_parts) ||
        family(b, "portbroker_router_parked_partitions", "gauge",
               "Of those, partitions parked for idleness (router.park.idle.ms): not fetched until "
               "a publish on this instance or a lag sweep finds records in them.") ||
        sample_u64(b, "portbroker_router_parked_partitions", "", NULL, parked) ||
        family(b, "portbroker_router_unparks_total", "counter",
               "Parked partitions read again, by reason: publish (this instance published to the "
               "port), sweep (a lag sweep found records written past the reader), binding (a "
               "binding needed earlier records)."))
        return -1;
    for (size_t i = 0; i < n_reasons; i++) {
        char l[64];
        snprintf(l, sizeof l, "reason=\"%s\"", reasons[i]);
        if (sample_u64(b, "portbroker_router_unparks_total", l, NULL, unparks[i])) return -1;
    }
    return 0;
}

int pb_metrics_render_dedupe(size_t ids, size_t bytes, pb_buf_t *b) {
    return family(b, "portbroker_publish_dedupe_ids", "gauge",
                  "Record ids the publish path remembers, all output ports (settled and in "
                  "flight).") ||
                   sample_u64(b, "portbroker_publish_dedupe_ids", "", NULL, ids) ||
                   family(b, "portbroker_publish_dedupe_bytes", "gauge",
                          "Memory the remembered record ids take (publish.dedupe.max.bytes "
                          "bounds it).") ||
                   sample_u64(b, "portbroker_publish_dedupe_bytes", "", NULL, bytes)
               ? -1
               : 0;
}

int pb_metrics_render_proc(const pb_proc_stats_t *st, pb_buf_t *b) {
    static const struct {
        const char *name, *type, *help;
        size_t off;
        int integer;
    } f[] = {
        {"process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
         offsetof(pb_proc_stats_t, cpu_seconds), 0},
        {"process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
         offsetof(pb_proc_stats_t, resident_bytes), 1},
        {"process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
         offsetof(pb_proc_stats_t, virtual_bytes), 1},
        {"process_open_fds", "gauge", "Number of open file descriptors.",
         offsetof(pb_proc_stats_t, open_fds), 1},
        {"process_max_fds", "gauge", "Maximum number of open file descriptors.",
         offsetof(pb_proc_stats_t, max_fds), 1},
        {"process_start_time_seconds", "gauge",
         "Start time of the process since unix epoch in seconds.",
         offsetof(pb_proc_stats_t, start_time), 0},
        {"portbroker_threads", "gauge",
         "OS threads of the process (librdkafka runs several per Kafka client).",
         offsetof(pb_proc_stats_t, threads), 1},
    };
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
        const char *at = (const char *)st + f[i].off;
        double v = f[i].integer ? (double)*(const int64_t *)at : *(const double *)at;
        if (v < 0) continue;
        if (family(b, f[i].name, f[i].type, f[i].help) || sample(b, f[i].name, NULL, NULL, v))
            return -1;
    }
    return 0;
}

/* ---- the shared Kafka clients: reachability and produce queues always, librdkafka statistics
 * when switched on (kstats.h) ---- */

typedef struct kfam {
    const char *name, *type, *help;
} kfam_t;

/* The `client` label, then broker_id and broker for per-broker series. */
static int kafka_labels(pb_buf_t *x, pb_kstats_role_t role, const pb_kstats_broker_t *br) {
    char id[16];
    x->len = 0;
    if (put_label(x, 1, "client", pb_kstats_role_name(role))) return -1;
    if (br) {
        snprintf(id, sizeof id, "%d", (int)br->id);
        if (put_label(x, 0, "broker_id", id) || put_label(x, 0, "broker", br->addr)) return -1;
    }
    return pb_buf_putc(x, 0);
}

int pb_metrics_render_kafka_clients(int reachable, const pb_kstats_queue_t q[PB_KSTATS_ROLES],
                                    pb_buf_t *b) {
    static const kfam_t fams[] = {
        {"portbroker_kafka_produce_queue_messages", "gauge",
         "Records in the producer's queue, not yet acknowledged by Kafka (nor failed)."},
        {"portbroker_kafka_produce_queue_max_messages", "gauge",
         "Most records the producer's queue holds (queue.buffering.max.messages); a full queue "
         "refuses new records."},
        {"portbroker_kafka_produce_queue_bytes", "gauge",
         "Bytes of record values in the producer's queue, not yet acknowledged by Kafka (nor "
         "failed)."},
        {"portbroker_kafka_produce_queue_max_bytes", "gauge",
         "Most bytes of record values the producer's queue holds (queue.buffering.max.kbytes)."},
    };
    static const char reach[] = "portbroker_kafka_reachable";
    pb_buf_t x = {0};
    int rc = 0, any = 0;
    if (reachable >= 0)
        rc = family(b, reach, "gauge",
                    "1 when the Kafka cluster answered the instance's last reachability probe (a "
                    "metadata request every second, 2 s timeout), else 0: publishes answer 503 at "
                    "once while it is 0.") ||
             sample(b, reach, NULL, NULL, reachable ? 1 : 0);
    for (int r = 0; r < PB_KSTATS_ROLES; r++)
        any |= q[r].present;
    for (size_t f = 0; any && f < sizeof fams / sizeof *fams && !rc; f++) {
        rc = family(b, fams[f].name, fams[f].type, fams[f].help);
        for (int r = 0; r < PB_KSTATS_ROLES && !rc; r++) {
            const pb_kstats_queue_t *k = &q[r];
            if (!k->present) continue;
            int64_t v = f == 0 ? k->msgs : f == 1 ? k->max_msgs : f == 2 ? k->bytes : k->max_bytes;
            if ((f == 1 || f == 3) && v <= 0) continue; /* unknown maximum: no ratio against 0 */
            rc = kafka_labels(&x, (pb_kstats_role_t)r, NULL) ||
                 sample_u64(b, fams[f].name, (char *)x.data, NULL, (uint64_t)(v > 0 ? v : 0));
        }
    }
    pb_buf_free(&x);
    return rc ? -1 : 0;
}

int pb_metrics_render_offset_reader(size_t topics, unsigned long long closed_idle,
                                    unsigned long long closed_topics, pb_buf_t *b) {
    static const char tn[] = "portbroker_kafka_offset_reader_topics",
                      cn[] = "portbroker_kafka_offset_reader_closed_total";
    return family(b, tn, "gauge",
                  "Topics the instance's offset reader (stream positions, samples, the lag "
                  "sweep's oldest-record reads) has read since it was made; librdkafka visits "
                  "each every second until the reader is closed. 0: none open.") ||
                   sample_u64(b, tn, "", NULL, topics) ||
                   family(b, cn, "counter",
                          "Offset readers closed: unused for sub.reader.idle.ms (reason idle) or "
                          "past sub.reader.topics.max topics (reason topics); the next look-up "
                          "makes a new one.") ||
                   sample_u64(b, cn, "reason=\"idle\"", NULL, closed_idle) ||
                   sample_u64(b, cn, "reason=\"topics\"", NULL, closed_topics)
               ? -1
               : 0;
}

int pb_metrics_render_kafka(const pb_kstats_client_t c[PB_KSTATS_ROLES], pb_buf_t *b) {
    static const kfam_t client_fams[] = {
        {"portbroker_kafka_stats_timestamp_seconds", "gauge",
         "Time of the Kafka client's last librdkafka statistics report, Unix seconds "
         "(metrics.kafka.stats.interval.ms apart; older means the client is not polled)."},
    };
    static const kfam_t broker_fams[] = {
        {"portbroker_kafka_broker_up", "gauge",
         "1 when the client is connected to the Kafka broker, else 0 (a broker the client never "
         "needed stays 0: connections are made on demand)."},
        {"portbroker_kafka_broker_rtt_avg_seconds", "gauge",
         "Average request round-trip time to the Kafka broker over the last statistics "
         "interval, seconds (absent when no request was answered in it)."},
        {"portbroker_kafka_broker_rtt_p99_seconds", "gauge",
         "99th percentile of the request round-trip time to the Kafka broker over the last "
         "statistics interval, seconds (absent when no request was answered in it)."},
        {"portbroker_kafka_broker_request_errors_total", "counter",
         "Requests to the Kafka broker that failed to be sent or whose response was an error "
         "(librdkafka txerrs + rxerrs), since the client started."},
        {"portbroker_kafka_broker_request_timeouts_total", "counter",
         "Requests to the Kafka broker that timed out, since the client started."},
    };
    pb_buf_t x = {0};
    int rc = 0, any = 0;
    for (int r = 0; r < PB_KSTATS_ROLES; r++)
        any |= c[r].valid;
    if (!any) return 0;
    for (size_t f = 0; f < sizeof client_fams / sizeof *client_fams && !rc; f++) {
        rc = family(b, client_fams[f].name, client_fams[f].type, client_fams[f].help);
        for (int r = 0; r < PB_KSTATS_ROLES && !rc; r++) {
            if (!c[r].valid) continue;
            rc = kafka_labels(&x, (pb_kstats_role_t)r, NULL) ||
                 sample(b, client_fams[f].name, (char *)x.data, NULL, c[r].time_s);
        }
    }
    for (size_t f = 0; f < sizeof broker_fams / sizeof *broker_fams && !rc; f++) {
        rc = family(b, broker_fams[f].name, broker_fams[f].type, broker_fams[f].help);
        for (int r = 0; r < PB_KSTATS_ROLES && !rc; r++)
            for (size_t i = 0; c[r].valid && i < c[r].n_brokers && !rc; i++) {
                const pb_kstats_broker_t *br = &c[r].brokers[i];
                if ((f == 1 || f == 2) && !br->has_rtt) continue;
                rc = kafka_labels(&x, (pb_kstats_role_t)r, br);
                if (rc) break;
                const char *n = broker_fams[f].name;
                const char *l = (char *)x.data;
                rc = f == 0   ? sample(b, n, l, NULL, br->up)
                     : f == 1 ? sample(b, n, l, NULL, br->rtt_avg_s)
                     : f == 2 ? sample(b, n, l, NULL, br->rtt_p99_s)
                     : f == 3 ? sample_u64(b, n, l, NULL, br->errors)
                              : sample_u64(b, n, l, NULL, br->timeouts);
            }
    }
    pb_buf_free(&x);
    return rc ? -1 : 0;
}
