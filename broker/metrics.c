/*
 * metrics — counters, timestamps and histograms per port and per process (see metrics.h).
 * Must not: do I/O or talk to Kafka.
 */
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

#include "compat.h"

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
    static const char *names[] = {"decode", "unknown_schema", "projection"};
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
    for (size_t i = 0; i < m->n_lags; i++) {
        free(m->lags[i]->port);
        free(m->lags[i]->subscriber);
        free(m->lags[i]);
    }
    free(m->lags);
    free(m);
}

pb_metrics_port_t *pb_metrics_port(pb_metrics_t *m, const char *fqn, double freshness_slo_s) {
    for (size_t i = 0; i < m->n_ports; i++)
        if (!strcmp(m->ports[i]->fqn, fqn)) return m->ports[i];
    if (m->n_ports == m->cap_ports) {
        size_t cap = m->cap_ports ? m->cap_ports * 2 : 16;
        pb_metrics_port_t **np = realloc(m->ports, cap * sizeof *np);
        if (!np) return NULL;
        m->ports = np;
        m->cap_ports = cap;
    }
    pb_metrics_port_t *p = calloc(1, sizeof *p);
    if (!p || !(p->fqn = strdup(fqn))) {
        free(p);
        return NULL;
    }
    hist_init(&p->e2e, e2e_bounds, sizeof e2e_bounds / sizeof e2e_bounds[0], freshness_slo_s);
    m->ports[m->n_ports++] = p;
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
    pb_metrics_hist_observe(&m->produce, seconds);
}

void pb_metrics_schema_check(pb_metrics_t *m, int compatible, const char *level) {
    for (int l = 0; l < PB_COMPAT__LEVEL_COUNT; l++)
        if (!strcmp(pb_compat_level_name((pb_compat_level_t)l), level)) {
            m->schema_checks[compatible ? 1 : 0][l]++;
            return;
        }
}

/* ---- reading the lag series (#6) ---- */

size_t pb_metrics_lag_count(const pb_metrics_t *m) { return m->n_lags; }

const pb_metrics_lag_t *pb_metrics_lag_at(const pb_metrics_t *m, size_t i) {
    return i < m->n_lags ? m->lags[i] : NULL;
}
