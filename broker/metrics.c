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
#include "hash.h"

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

/* A product's slot hash: FNV-1a from the legacy start (hash.h), folded, since URNs that differ in
 * a few digits collided in the table's low bits (at 1,000 bindings the freshness pass of a scrape
 * took ~1.5 ms of probing). */
static size_t fqn_hash(const char *s) {
    return (size_t)pb_hash_fold(pb_hash_str(PB_HASH_LEGACY_BASIS, s));
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

/*
 * Text is appended with memcpy and hand-written number formatting, not printf: at 1,000 bindings
 * a scrape is ~77,000 lines (8.5 MB) and vsnprintf, with a strtod round trip per histogram bound,
 * took ~60 % of the render (bench/README.md, "/metrics at 1,000 bindings"). The text is the same
 * byte for byte (tests/unit/test_metrics.c compares the formatters with the printf ones).
 */

/* Powers of ten exactly representable as doubles (10^22 is the last). */
static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                             1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

size_t pb_metrics_fmt_u64(char *out, uint64_t v) {
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = 0;
    return n;
}

/* The printf way (the definition of the text): the shortest of %.15g, %.16g, %.17g that reads
 * back to v. */
static size_t fmt_double_slow(char *out, double v) {
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(out, PB_METRICS_NUM_MAX, "%.*g", prec, v);
        if (strtod(out, NULL) == v) break;
    }
    return n > 0 ? (size_t)n : 0;
}

size_t pb_metrics_fmt_double(char *out, double v) {
    if (isnan(v)) return (size_t)(memcpy(out, "NaN", 4), 3);
    if (isinf(v)) return (size_t)(memcpy(out, v > 0 ? "+Inf" : "-Inf", 5), 4);
    double a = fabs(v);
    char *o = out;
    if (signbit(v)) *o++ = '-';
    if (v == floor(v) && a < 1e15) /* "%.0f": every such integer is exact in a uint64 */
        return (size_t)(o - out) + pb_metrics_fmt_u64(o, (uint64_t)a);
    /*
     * %.15g of a v with decimal exponent X in [-4, 14] is fixed notation with 14 - X decimals: v
     * rounded to the grid of 10^-(14-X), trailing zeros dropped. When a grid point D = x / 10^k
     * reads back to v (checked exactly: x < 2^53 and 10^k are exact doubles, so the division is
     * rounded like strtod of D's text), D is the grid point nearest v (the grid is coarser than
     * doubles there), i.e. what %.15g prints, and the round trip %.15g needs holds. Anything else
     * (other exponents, 16 or 17 digits needed) takes the printf way.
     */
    int x10 = 14;
    while (x10 >= -4 && a < (x10 >= 0 ? p10[x10] : 1.0 / p10[-x10]))
        x10--;
    if (x10 >= -4 && a < 1e15) {
        int k = 14 - x10;
        double xd = nearbyint(a * p10[k]);
        if (xd < 1e15 && xd / p10[k] == a) {
            uint64_t x = (uint64_t)xd;
            char dig[24];
            size_t nd = pb_metrics_fmt_u64(dig, x);
            while (k > 0 && dig[nd - 1] == '0') /* trailing zeros of the fraction */
                nd--, k--;
            if (k > 0) {
                if ((size_t)k >= nd) { /* 0.000ddd */
                    *o++ = '0';
                    *o++ = '.';
                    for (size_t z = 0; z < (size_t)k - nd; z++)
                        *o++ = '0';
                    memcpy(o, dig, nd);
                    o += nd;
                } else {
                    memcpy(o, dig, nd - (size_t)k);
                    o += nd - (size_t)k;
                    *o++ = '.';
                    memcpy(o, dig + nd - (size_t)k, (size_t)k);
                    o += k;
                }
                *o = 0;
                return (size_t)(o - out);
            }
        }
    }
    return fmt_double_slow(out, v);
}

/* Append a label value: backslash, double quote and line feed escaped (text format 0.0.4). Runs
 * without any of them are copied whole. */
static int put_label_value(pb_buf_t *b, const char *s) {
    size_t n = strlen(s);
    if (pb_buf_reserve(b, 2 * n)) return -1;
    char *o = (char *)b->data + b->len;
    for (;;) {
        size_t run = strcspn(s, "\\\"\n");
        memcpy(o, s, run);
        o += run;
        s += run;
        if (!*s) break;
        *o++ = '\\';
        *o++ = *s == '\n' ? 'n' : *s;
        s++;
    }
    b->len = (size_t)((uint8_t *)o - b->data);
    return 0;
}

/* [,]name="value" */
static int put_label(pb_buf_t *b, int first, const char *name, const char *value) {
    size_t nl = strlen(name);
    if (pb_buf_reserve(b, nl + 3)) return -1;
    char *o = (char *)b->data + b->len;
    if (!first) *o++ = ',';
    memcpy(o, name, nl);
    o += nl;
    *o++ = '=';
    *o++ = '"';
    b->len = (size_t)((uint8_t *)o - b->data);
    return put_label_value(b, value) || pb_buf_putc(b, '"') ? -1 : 0;
}

static int family(pb_buf_t *b, const char *name, const char *type, const char *help) {
    return pb_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{labels[,extra]} num\n, lengths given (labels, extra may be empty). */
static int line(pb_buf_t *b, const char *name, size_t nl, const char *labels, size_t ll,
                const char *extra, size_t xl, const char *num, size_t numl) {
    if (pb_buf_reserve(b, nl + ll + xl + numl + 5)) return -1;
    char *o = (char *)b->data + b->len;
    memcpy(o, name, nl);
    o += nl;
    if (ll || xl) {
        *o++ = '{';
        if (ll) memcpy(o, labels, ll); /* labels, extra may be NULL when empty */
        o += ll;
        if (ll && xl) *o++ = ',';
        if (xl) memcpy(o, extra, xl);
        o += xl;
        *o++ = '}';
    }
    *o++ = ' ';
    memcpy(o, num, numl);
    o += numl;
    *o++ = '\n';
    b->len = (size_t)((uint8_t *)o - b->data);
    return 0;
}

static size_t slen(const char *s) { return s ? strlen(s) : 0; }

/* name{labels[,extra]} value */
static int sample(pb_buf_t *b, const char *name, const char *labels, const char *extra, double v) {
    char num[PB_METRICS_NUM_MAX];
    size_t nn = pb_metrics_fmt_double(num, v);
    return line(b, name, strlen(name), labels, slen(labels), extra, slen(extra), num, nn);
}

static int sample_u64(pb_buf_t *b, const char *name, const char *labels, const char *extra,
                      uint64_t v) {
    char num[PB_METRICS_NUM_MAX];
    size_t nn = pb_metrics_fmt_u64(num, v);
    return line(b, name, strlen(name), labels, slen(labels), extra, slen(extra), num, nn);
}

/* The `le="..."` text of histogram bounds, remembered across the ports of one scrape (they share
 * the default bounds): looked for from the slot after the last one found, so a histogram walking
 * the same bounds as the one before finds each at once. */
#define LE_CACHE 48
typedef struct le_cache {
    double bound[LE_CACHE];
    char text[LE_CACHE][PB_METRICS_NUM_MAX + 6];
    uint8_t len[LE_CACHE];
    size_t n, next;
} le_cache_t;

static const char *le_text(le_cache_t *c, double bound, char *tmp, size_t *len) {
    for (size_t k = 0; c && k < c->n; k++) {
        size_t i = (c->next + k) % c->n;
        if (c->bound[i] == bound) {
            c->next = (i + 1) % c->n;
            *len = c->len[i];
            return c->text[i];
        }
    }
    char num[PB_METRICS_NUM_MAX];
    size_t nn = pb_metrics_fmt_double(num, bound);
    memcpy(tmp, "le=\"", 4);
    memcpy(tmp + 4, num, nn);
    tmp[4 + nn] = '"';
    *len = nn + 5;
    if (c && c->n < LE_CACHE) {
        memcpy(c->text[c->n], tmp, *len);
        c->bound[c->n] = bound;
        c->len[c->n] = (uint8_t)*len;
        c->n++;
    }
    return tmp;
}

/* A histogram's _bucket (cumulative, ending with +Inf), _sum and _count lines. */
static int hist_lines(pb_buf_t *b, const char *name, const char *labels, size_t ll,
                      const pb_metrics_hist_t *h, le_cache_t *lc) {
    char series[160], num[PB_METRICS_NUM_MAX], tmp[PB_METRICS_NUM_MAX + 6];
    size_t base = strlen(name), nn, tl;
    uint64_t cum = 0;
    PB_ASSERT(base + 8 < sizeof series);
    memcpy(series, name, base);
    memcpy(series + base, "_bucket", 8);
    for (size_t i = 0; i < h->n_bounds; i++) {
        cum += h->counts[i];
        const char *le = le_text(lc, h->bounds[i], tmp, &tl);
        nn = pb_metrics_fmt_u64(num, cum);
        if (line(b, series, base + 7, labels, ll, le, tl, num, nn)) return -1;
    }
    nn = pb_metrics_fmt_u64(num, h->count);
    if (line(b, series, base + 7, labels, ll, "le=\"+Inf\"", 9, num, nn)) return -1;
    memcpy(series + base, "_sum", 5);
    nn = pb_metrics_fmt_double(num, h->sum);
    if (line(b, series, base + 4, labels, ll, NULL, 0, num, nn)) return -1;
    memcpy(series + base, "_count", 7);
    nn = pb_metrics_fmt_u64(num, h->count);
    return line(b, series, base + 6, labels, ll, NULL, 0, num, nn);
}

/* One declared port as a scrape holds it: copies of what it renders of the descriptor (the
 * registry may free the product between two slices), and its series, which live as long as m. */
typedef struct sport {
    const pb_metrics_port_t *s; /* m's series, or zero */
    pb_metrics_port_t *zero;    /* owned: all-zero series with the port's e2e bounds (no series) */
    char *labels;               /* product="..",major="..",port="..",kind=".." (owned) */
    char *info;                 /* port_info's own labels (owned) */
    char *fqn;                  /* the port URN (owned): lag series find their port by it */
    size_t labels_len, info_len;
    pb_port_kind_t kind;
    int has_fresh, has_tp, has_rej;
    double fresh_s, tp, rej;
} sport_t;

/* One lag series to render and the port (index into ports) it belongs to. */
typedef struct slag {
    const pb_metrics_lag_t *l;
    size_t port;
} slag_t;

/* The families, in the order they are rendered. */
enum {
    F_PROCESS,
    F_INFO,
    F_FRESH_SLO,
    F_TP_SLO,
    F_REJ_SLO,
    F_RECORDS,
    F_BYTES,
    F_DUPS,
    F_DLQ,
    F_LAST_RECORD,
    F_LAST_RECEIVED,
    F_FRESH,
    F_E2E,
    F_LAG_RECORDS,
    F_LAG_SECONDS,
    F_END
};

static const struct {
    const char *name, *type, *help;
} port_fams[F_END] = {
    [F_INFO] = {"portbroker_port_info", "gauge",
                "Declared port: URN, topics, schema subject, version, declared compatibility "
                "level, binding source, owner and domain (always 1)."},
    [F_FRESH_SLO] = {"portbroker_port_freshness_slo_seconds", "gauge",
                     "Freshness SLO of the port: the newest record's event time may be at most "
                     "this old (promises.slo.freshness)."},
    [F_TP_SLO] = {"portbroker_port_throughput_min_records_per_second", "gauge",
                  "Throughput SLO of the port: at least this many records per second "
                  "(promises.slo.throughput.min)."},
    [F_REJ_SLO] = {"portbroker_port_rejects_max_ratio", "gauge",
                   "Reject SLO of the port: at most this fraction of published records rejected "
                   "(promises.slo.rejects.max)."},
    [F_RECORDS] = {"portbroker_port_records_total", "counter",
                   "Records per port, direction and outcome (see metrics.h for their meaning)."},
    [F_BYTES] = {"portbroker_port_bytes_total", "counter",
                 "Record bytes (Kafka message values) per port and direction."},
    [F_DUPS] = {"portbroker_publish_duplicates_total", "counter",
                "Records published again to an output port under an id it remembers "
                "(publish.dedupe.window.ms): answered with the first copy's position, not stored "
                "again."},
    [F_DLQ] = {"portbroker_dlq_records_total", "counter",
               "Records of an output port sent to its dead-letter topic, by reason."},
    [F_LAST_RECORD] = {"portbroker_port_last_record_timestamp_seconds", "gauge",
                       "Event time (ce_time or the port's eventTimeField) of the newest record, "
                       "Unix seconds; 0 before the first record."},
    [F_LAST_RECEIVED] = {"portbroker_port_last_received_timestamp_seconds", "gauge",
                         "When the broker last received a record for the port, Unix seconds; 0 "
                         "before the first record."},
    [F_FRESH] = {"portbroker_port_fresh", "gauge",
                 "1 when the newest record's event time is within the port's freshness SLO, else "
                 "0 (also before the first record); evaluated when /metrics is read."},
    [F_E2E] = {"portbroker_port_e2e_latency_seconds", "histogram",
               "Event time to arrival in the port's topic, seconds; the buckets include the "
               "port's freshness SLO."},
    [F_LAG_RECORDS] = {"portbroker_subscription_lag_records", "gauge",
                       "Records the subscriber (consumer group) has not consumed yet, summed over "
                       "partitions."},
    [F_LAG_SECONDS] = {"portbroker_subscription_lag_seconds", "gauge",
                       "Age of the oldest record the subscriber (consumer group) has not consumed "
                       "yet, seconds; 0 when caught up."},
};

struct pb_metrics_scrape {
    const pb_metrics_t *m;
    char *version;
    sport_t *ports;
    size_t n_ports;
    slag_t *lags; /* lag series of declared ports, known or not yet (rendered once known) */
    size_t n_lags, cap_lags;
    size_t lags_seen; /* m->lags[0..lags_seen) are mapped */
    size_t *ix;       /* open addressing on port URN: slot -> ports[] position + 1, 0 empty */
    size_t ix_cap;
    int fam;    /* the family being rendered (F_*) */
    int headed; /* its HELP and TYPE lines are out */
    size_t at;  /* next port (or lag) of it */
    le_cache_t le;
    pb_buf_t tmp; /* a lag's subscriber label */
    /* the direction/outcome and reason labels, from the name functions */
    char rec_x[PB_METRICS_DIRS][PB_METRICS_OUTCOMES][64], dlq_x[PB_METRICS_DLQ_REASONS][64];
    size_t rec_xl[PB_METRICS_DIRS][PB_METRICS_OUTCOMES], dlq_xl[PB_METRICS_DLQ_REASONS];
};

/* Is (d, o) a combination this kind of port uses (rendered even when zero)? */
static int combo_applies(pb_port_kind_t kind, int d, int o) {
    if (kind == PB_PORT_INPUT) return o == PB_METRICS_OK;
    if (d == PB_METRICS_IN) return o != PB_METRICS_DLQ;
    return o == PB_METRICS_OK || o == PB_METRICS_DLQ;
}

/* Label text of one record counter: name="value" pairs joined with commas (no escaping needed: the
 * values are our own names). Returns its length. */
static size_t pair(char *out, size_t len, const char *n1, const char *v1, const char *n2,
                   const char *v2) {
    int k = n2 ? snprintf(out, len, "%s=\"%s\",%s=\"%s\"", n1, v1, n2, v2)
               : snprintf(out, len, "%s=\"%s\"", n1, v1);
    return k > 0 ? (size_t)k : 0;
}

/* "{ns}.{name}" for products whose name and major another product has too (the series would
 * otherwise collide): an open-addressing count of (name, major) over the products, O(n). */
typedef struct nm_slot {
    const pb_product_t *p; /* first product seen with this name and major */
    size_t count;
} nm_slot_t;

static size_t nm_hash(const pb_product_t *p) {
    return fqn_hash(p->name) ^ (p->major * 0x9e3779b9u);
}

static nm_slot_t *nm_find(nm_slot_t *t, size_t cap, const pb_product_t *p) {
    for (size_t i = nm_hash(p) & (cap - 1);; i = (i + 1) & (cap - 1))
        if (!t[i].p || (t[i].p->major == p->major && !strcmp(t[i].p->name, p->name))) return &t[i];
}

/* Append port r's labels to x (product label `product`) and, to y, port_info's own ones. */
static int snap_labels(const pb_port_t *p, const char *product, pb_buf_t *x, pb_buf_t *y) {
    char major[24], parts[24];
    pb_metrics_fmt_u64(major, p->product->major);
    if (p->partitions < 0) {
        parts[0] = '-';
        pb_metrics_fmt_u64(parts + 1, (uint64_t) - (int64_t)p->partitions);
    } else {
        pb_metrics_fmt_u64(parts, (uint64_t)p->partitions);
    }
    return put_label(x, 1, "product", product) || put_label(x, 0, "major", major) ||
                   put_label(x, 0, "port", p->name) ||
                   put_label(x, 0, "kind", pb_addr_kind_name(p->kind)) ||
                   put_label(y, 1, "fqn", p->fqn) || put_label(y, 0, "topic", p->topic) ||
                   (p->kind == PB_PORT_OUTPUT && put_label(y, 0, "dlq_topic", p->dlq_topic)) ||
                   put_label(y, 0, "subject", p->subject) ||
                   put_label(y, 0, "version", p->version) || put_label(y, 0, "partitions", parts) ||
                   put_label(y, 0, "compatibility", p->compatibility ? p->compatibility : "") ||
                   put_label(y, 0, "from", p->from ? p->from : "") ||
                   put_label(y, 0, "owner", p->product->owner) ||
                   put_label(y, 0, "domain", p->product->domain)
               ? -1
               : 0;
}

void pb_metrics_scrape_destroy(pb_metrics_scrape_t *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n_ports; i++) {
        free(s->ports[i].zero);
        free(s->ports[i].labels);
        free(s->ports[i].info);
        free(s->ports[i].fqn);
    }
    free(s->ix);
    free(s->ports);
    free(s->lags);
    free(s->version);
    pb_buf_free(&s->tmp);
    free(s);
}

static char *buf_str(pb_buf_t *b, size_t *len) {
    *len = b->len;
    if (pb_buf_putc(b, 0)) return NULL;
    char *s = (char *)b->data;
    *b = (pb_buf_t){0};
    return s;
}

/* Map the lag series made since the last call to their declared port (those of undeclared ports
 * are left out), in creation order. Returns 0 or -1 out of memory. */
static int map_lags(pb_metrics_scrape_t *s) {
    const pb_metrics_t *m = s->m;
    for (; s->lags_seen < m->n_lags; s->lags_seen++) {
        const pb_metrics_lag_t *lag = m->lags[s->lags_seen];
        for (size_t h = fqn_hash(lag->port) & (s->ix_cap - 1); s->ix[h];
             h = (h + 1) & (s->ix_cap - 1)) {
            if (strcmp(s->ports[s->ix[h] - 1].fqn, lag->port)) continue;
            if (s->n_lags == s->cap_lags) {
                size_t c = s->cap_lags ? 2 * s->cap_lags : 16;
                slag_t *nl = realloc(s->lags, c * sizeof *nl);
                if (!nl) return -1;
                s->lags = nl;
                s->cap_lags = c;
            }
            s->lags[s->n_lags++] = (slag_t){lag, s->ix[h] - 1};
            break;
        }
    }
    return 0;
}

int pb_metrics_scrape_begin(const pb_metrics_t *m, const pb_product_t *const *products,
                            size_t n_products, const char *version, pb_metrics_scrape_t **out) {
    pb_metrics_scrape_t *s = calloc(1, sizeof *s);
    nm_slot_t *nm = NULL;
    size_t cap = 0, nm_cap = 16;
    pb_buf_t x = {0}, y = {0};
    *out = NULL;
    if (!s || !(s->version = strdup(version))) goto nomem;
    s->m = m;
    for (int d = 0; d < PB_METRICS_DIRS; d++)
        for (int o = 0; o < PB_METRICS_OUTCOMES; o++)
            s->rec_xl[d][o] = pair(s->rec_x[d][o], sizeof s->rec_x[d][o], "direction",
                                   pb_metrics_dir_name((pb_metrics_dir_t)d), "outcome",
                                   pb_metrics_outcome_name((pb_metrics_outcome_t)o));
    for (int k = 0; k < PB_METRICS_DLQ_REASONS; k++)
        s->dlq_xl[k] = pair(s->dlq_x[k], sizeof s->dlq_x[k], "reason",
                            pb_metrics_dlq_reason_name((pb_metrics_dlq_reason_t)k), NULL, NULL);
    for (size_t i = 0; i < n_products; i++)
        cap += products[i]->n_outputs + products[i]->n_inputs;
    if (cap && !(s->ports = calloc(cap, sizeof *s->ports))) goto nomem;
    while (nm_cap < 2 * n_products)
        nm_cap *= 2;
    if (!(nm = calloc(nm_cap, sizeof *nm))) goto nomem;
    for (size_t i = 0; i < n_products; i++) {
        nm_slot_t *e = nm_find(nm, nm_cap, products[i]);
        e->p = e->p ? e->p : products[i];
        e->count++;
    }
    for (size_t i = 0; i < n_products; i++) {
        const pb_product_t *p = products[i];
        char pl[600];
        const char *product = p->name;
        if (nm_find(nm, nm_cap, p)->count > 1) {
            snprintf(pl, sizeof pl, "%s.%s", p->ns, p->name);
            product = pl;
        }
        for (size_t j = 0; j < p->n_outputs + p->n_inputs; j++) {
            const pb_port_t *port =
                j < p->n_outputs ? &p->outputs[j] : &p->inputs[j - p->n_outputs];
            sport_t *r = &s->ports[s->n_ports++];
            if (!(r->fqn = strdup(port->fqn))) goto nomem;
            r->kind = port->kind;
            r->has_fresh = port->slo.has_freshness;
            r->fresh_s = (double)port->slo.freshness_ms / 1000.0;
            r->has_tp = port->slo.has_throughput_min;
            r->tp = port->slo.throughput_min_per_s;
            r->has_rej = port->slo.has_rejects_max;
            r->rej = port->slo.rejects_max_ratio;
            if (!(r->s = find_port(m, port->fqn))) {
                if (!(r->zero = calloc(1, sizeof *r->zero))) goto nomem;
                hist_init(&r->zero->e2e, e2e_bounds, sizeof e2e_bounds / sizeof e2e_bounds[0],
                          slo_seconds(port));
                r->s = r->zero;
            }
            x.len = y.len = 0;
            if (snap_labels(port, product, &x, &y) || !(r->labels = buf_str(&x, &r->labels_len)) ||
                !(r->info = buf_str(&y, &r->info_len)))
                goto nomem;
        }
    }
    s->ix_cap = 16;
    while (s->ix_cap < 2 * s->n_ports)
        s->ix_cap *= 2;
    if (!(s->ix = calloc(s->ix_cap, sizeof *s->ix))) goto nomem;
    for (size_t k = 0; k < s->n_ports; k++) {
        size_t h = fqn_hash(s->ports[k].fqn) & (s->ix_cap - 1);
        while (s->ix[h])
            h = (h + 1) & (s->ix_cap - 1);
        s->ix[h] = k + 1;
    }
    if (map_lags(s)) goto nomem;
    free(nm);
    *out = s;
    return 0;
nomem:
    pb_buf_free(&x);
    pb_buf_free(&y);
    free(nm);
    pb_metrics_scrape_destroy(s);
    return PB_ERR_NOMEM;
}

int pb_metrics_scrape_rewind(pb_metrics_scrape_t *s, double now) {
    for (size_t i = 0; i < s->n_ports; i++) {
        sport_t *r = &s->ports[i];
        pb_metrics_port_t *p = r->zero ? find_port(s->m, r->fqn) : (pb_metrics_port_t *)r->s;
        if (!p) continue; /* still no series: its zeros */
        if (r->zero) {
            free(r->zero);
            r->zero = NULL;
            r->s = p;
        }
        /* as pb_metrics_tick: fresh when the SLO is met as of now (no SLO: never) */
        double slo = r->has_fresh ? r->fresh_s : 0;
        p->fresh = slo > 0 && p->last_record_ts > 0 && now - p->last_record_ts <= slo;
    }
    s->fam = F_PROCESS;
    s->at = 0;
    s->headed = 0;
    return map_lags(s);
}

/* Item i (a port, or a lag series for the lag families) of family f. */
static int row(pb_metrics_scrape_t *s, int f, size_t i, pb_buf_t *b) {
    const char *name = port_fams[f].name;
    size_t nl = strlen(name), nn;
    char num[PB_METRICS_NUM_MAX], x[160];
    if (f == F_LAG_RECORDS || f == F_LAG_SECONDS) {
        const slag_t *g = &s->lags[i];
        const sport_t *r = &s->ports[g->port];
        if (!g->l->known) return 0; /* not measured yet */
        s->tmp.len = 0;
        if (put_label(&s->tmp, 1, "subscriber", g->l->subscriber)) return -1;
        nn = pb_metrics_fmt_double(num, f == F_LAG_SECONDS ? g->l->seconds : g->l->records);
        return line(b, name, nl, r->labels, r->labels_len, (char *)s->tmp.data, s->tmp.len, num,
                    nn);
    }
    const sport_t *r = &s->ports[i];
    const pb_metrics_port_t *p = r->s;
    const char *L = r->labels;
    size_t ll = r->labels_len;
    switch (f) {
    case F_INFO: return line(b, name, nl, L, ll, r->info, r->info_len, "1", 1);
    case F_FRESH_SLO:
    case F_TP_SLO:
    case F_REJ_SLO:
        if (!(f == F_FRESH_SLO ? r->has_fresh : f == F_TP_SLO ? r->has_tp : r->has_rej)) return 0;
        nn = pb_metrics_fmt_double(num, f == F_FRESH_SLO ? r->fresh_s
                                        : f == F_TP_SLO  ? r->tp
                                                         : r->rej);
        return line(b, name, nl, L, ll, NULL, 0, num, nn);
    case F_RECORDS:
        for (int d = 0; d < PB_METRICS_DIRS; d++)
            for (int o = 0; o < PB_METRICS_OUTCOMES; o++) {
                uint64_t v = p->records[d][o];
                if (!v && !combo_applies(r->kind, d, o)) continue;
                nn = pb_metrics_fmt_u64(num, v);
                if (line(b, name, nl, L, ll, s->rec_x[d][o], s->rec_xl[d][o], num, nn)) return -1;
            }
        return 0;
    case F_BYTES:
        for (int d = 0; d < PB_METRICS_DIRS; d++) {
            size_t xl = pair(x, sizeof x, "direction", pb_metrics_dir_name((pb_metrics_dir_t)d),
                             NULL, NULL);
            nn = pb_metrics_fmt_u64(num, p->bytes[d]);
            if (line(b, name, nl, L, ll, x, xl, num, nn)) return -1;
        }
        return 0;
    case F_DUPS:
        if (r->kind != PB_PORT_OUTPUT) return 0;
        nn = pb_metrics_fmt_u64(num, p->duplicates);
        return line(b, name, nl, L, ll, NULL, 0, num, nn);
    case F_DLQ:
        for (int k = 0; k < PB_METRICS_DLQ_REASONS; k++) {
            uint64_t v = p->dlq[k];
            if (!v && r->kind != PB_PORT_OUTPUT) continue;
            nn = pb_metrics_fmt_u64(num, v);
            if (line(b, name, nl, L, ll, s->dlq_x[k], s->dlq_xl[k], num, nn)) return -1;
        }
        return 0;
    case F_LAST_RECORD:
    case F_LAST_RECEIVED:
        nn = pb_metrics_fmt_double(num,
                                   f == F_LAST_RECORD ? p->last_record_ts : p->last_received_ts);
        return line(b, name, nl, L, ll, NULL, 0, num, nn);
    case F_FRESH:
        if (!r->has_fresh) return 0;
        return line(b, name, nl, L, ll, NULL, 0, p->fresh ? "1" : "0", 1);
    case F_E2E: return hist_lines(b, name, L, ll, &p->e2e, &s->le);
    default: return 0;
    }
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
        hist_lines(b, "portbroker_produce_duration_seconds", NULL, 0, &m->produce, NULL))
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

int pb_metrics_scrape_step(pb_metrics_scrape_t *s, size_t budget, pb_buf_t *out, int *done) {
    size_t start = out->len;
    *done = 0;
    while (s->fam < F_END) {
        if (out->len > start && out->len - start >= budget) return 0;
        if (s->fam == F_PROCESS) {
            if (render_process(s->m, s->version, out)) return PB_ERR_NOMEM;
            s->fam++;
            continue;
        }
        size_t n = s->fam >= F_LAG_RECORDS ? s->n_lags : s->n_ports;
        if (!s->headed &&
            family(out, port_fams[s->fam].name, port_fams[s->fam].type, port_fams[s->fam].help))
            return PB_ERR_NOMEM;
        s->headed = 1;
        while (s->at < n && (out->len == start || out->len - start < budget))
            if (row(s, s->fam, s->at++, out)) return PB_ERR_NOMEM;
        if (s->at >= n) {
            s->fam++;
            s->at = 0;
            s->headed = 0;
        }
    }
    *done = 1;
    return 0;
}

int pb_metrics_render(const pb_metrics_t *m, const pb_product_t *const *products, size_t n_products,
                      const char *version, pb_buf_t *out) {
    pb_metrics_scrape_t *s = NULL;
    int done = 0;
    int rc = pb_metrics_scrape_begin(m, products, n_products, version, &s);
    if (!rc) rc = pb_metrics_scrape_step(s, SIZE_MAX, out, &done);
    pb_metrics_scrape_destroy(s);
    return rc;
}

/* ---- reading the lag series (#6) ---- */

size_t pb_metrics_lag_count(const pb_metrics_t *m) { return m->n_lags; }

const pb_metrics_lag_t *pb_metrics_lag_at(const pb_metrics_t *m, size_t i) {
    return i < m->n_lags ? m->lags[i] : NULL;
}

int pb_metrics_render_router(int64_t records, int64_t bytes, int64_t peak_bytes, int64_t max_bytes,
                             int64_t hold_records, pb_buf_t *b) {
    char hold_help[256];
    snprintf(
        hold_help, sizeof hold_help,
        "Routed records in flight: produced to input topics, not yet acknowledged by Kafka (all "
        "bindings; the routers take no more records at %" PRId64 ").",
        hold_records);
    const struct {
        const char *name, *help;
    } f[] = {
        {"portbroker_router_inflight_records", hold_help},
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
