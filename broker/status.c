/*
 * status — throughput rings, freshness verdicts and the /v1/status document (see status.h).
 * Must not: do I/O or read the clock.
 */
#include "status.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lineage.h"
#include "timefmt.h"

/* One port's ring: samples[(head - n + i) mod SLOTS] for i < n, oldest first. */
typedef struct ring {
    char *fqn;
    uint64_t last_count; /* the in/ok counter at the previous sample */
    double last_ts;      /* when it was read (Unix seconds) */
    double samples[PB_STATUS_SLOTS];
    unsigned char fresh[PB_STATUS_SLOTS]; /* 1: within the freshness SLO at that sample */
    size_t head, n;
} ring_t;

struct pb_status {
    int64_t interval_ms;
    ring_t **rings;
    size_t n_rings, cap_rings;
    size_t next; /* where sample_port's search starts: after the ring it found last */
};

const char *pb_status_state_name(pb_status_state_t s) {
    static const char *names[] = {"none", "green", "amber", "red"};
    return s <= PB_STATUS_RED ? names[s] : "none";
}

pb_status_state_t pb_status_state(double slo_s, double last_ts, double now_s) {
    if (slo_s <= 0) return PB_STATUS_NONE;
    if (last_ts <= 0) return PB_STATUS_RED;
    double age = now_s - last_ts;
    if (age > slo_s) return PB_STATUS_RED;
    if (age > 0.8 * slo_s) return PB_STATUS_AMBER;
    return PB_STATUS_GREEN;
}

double pb_status_slo_seconds(const pb_port_t *p) {
    return p->slo.has_freshness ? (double)p->slo.freshness_ms / 1000.0 : 0;
}

pb_status_t *pb_status_new(int64_t interval_ms) {
    PB_ASSERT(interval_ms > 0);
    pb_status_t *st = calloc(1, sizeof *st);
    if (st) st->interval_ms = interval_ms;
    return st;
}

void pb_status_destroy(pb_status_t *st) {
    if (!st) return;
    for (size_t i = 0; i < st->n_rings; i++) {
        free(st->rings[i]->fqn);
        free(st->rings[i]);
    }
    free(st->rings);
    free(st);
}

/* The ring of fqn, searched from rings[start] round to rings[start - 1]; *at its index. A sample
 * visits the ports in the order their rings were added, so starting after the last one found
 * makes a sample of n ports O(n) instead of O(n^2) (2,000 ports: 2 M string compares). */
static ring_t *find_ring(const pb_status_t *st, const char *fqn, size_t start, size_t *at) {
    for (size_t k = 0; k < st->n_rings; k++) {
        size_t i = (start + k) % st->n_rings;
        if (!strcmp(st->rings[i]->fqn, fqn)) {
            if (at) *at = i;
            return st->rings[i];
        }
    }
    return NULL;
}

static ring_t *add_ring(pb_status_t *st, const char *fqn) {
    if (st->n_rings == st->cap_rings) {
        size_t cap = st->cap_rings ? st->cap_rings * 2 : 32;
        ring_t **nr = realloc(st->rings, cap * sizeof *nr);
        if (!nr) return NULL;
        st->rings = nr;
        st->cap_rings = cap;
    }
    ring_t *r = calloc(1, sizeof *r);
    if (!r || !(r->fqn = strdup(fqn))) {
        free(r);
        return NULL;
    }
    st->rings[st->n_rings++] = r;
    return r;
}

static int sample_port(pb_status_t *st, const pb_port_t *p, pb_metrics_t *m, double now_s) {
    const pb_metrics_port_t *mp = pb_metrics_port_get(m, p->fqn); /* zeros when disabled */
    size_t at = st->n_rings;
    ring_t *r = find_ring(st, p->fqn, st->next, &at);
    if (!r && !(r = add_ring(st, p->fqn))) return PB_ERR_NOMEM;
    st->next = at + 1 < st->n_rings ? at + 1 : 0; /* a new ring is the last one */
    uint64_t count = mp->records[PB_METRICS_IN][PB_METRICS_OK];
    if (r->last_ts > 0 && now_s > r->last_ts) {
        /* A counter never goes back; guard anyway so a reset reads as 0, not as 2^64. */
        uint64_t d = count >= r->last_count ? count - r->last_count : 0;
        r->samples[r->head] = (double)d / (now_s - r->last_ts);
        r->fresh[r->head] =
            pb_status_state(pb_status_slo_seconds(p), mp->last_record_ts, now_s) != PB_STATUS_RED;
        r->head = (r->head + 1) % PB_STATUS_SLOTS;
        if (r->n < PB_STATUS_SLOTS) r->n++;
    }
    r->last_count = count;
    r->last_ts = now_s;
    return 0;
}

int pb_status_sample(pb_status_t *st, const pb_registry_t *reg, pb_metrics_t *m, double now_s) {
    size_t n = 0;
    const pb_product_t *const *products = pb_registry_products(reg, &n);
    for (size_t i = 0; i < n; i++) {
        const pb_product_t *p = products[i];
        for (size_t j = 0; j < p->n_outputs; j++)
            if (sample_port(st, &p->outputs[j], m, now_s)) return PB_ERR_NOMEM;
        for (size_t j = 0; j < p->n_inputs; j++)
            if (sample_port(st, &p->inputs[j], m, now_s)) return PB_ERR_NOMEM;
    }
    return 0;
}

double pb_status_rate(const pb_status_t *st, const char *fqn) {
    const ring_t *r = find_ring(st, fqn, 0, NULL);
    if (!r || !r->n) return -1;
    return r->samples[(r->head + PB_STATUS_SLOTS - 1) % PB_STATUS_SLOTS];
}

double pb_status_fresh_ratio(const pb_status_t *st, const char *fqn) {
    const ring_t *r = find_ring(st, fqn, 0, NULL);
    if (!r || !r->n) return -1;
    size_t fresh = 0;
    for (size_t i = 0; i < r->n; i++)
        fresh += r->fresh[(r->head + PB_STATUS_SLOTS - r->n + i) % PB_STATUS_SLOTS];
    return (double)fresh / (double)r->n;
}

double pb_status_budget_left(double bad_ratio, double budget) {
    if (bad_ratio < 0) return 1;
    if (budget <= 0) return bad_ratio > 0 ? -1 : 1; /* a zero budget: any error spends it all */
    return 1 - bad_ratio / budget;
}

pb_status_state_t pb_status_budget_state(double left) {
    if (left <= 0) return PB_STATUS_RED;
    if (left < PB_STATUS_BUDGET_AMBER) return PB_STATUS_AMBER;
    return PB_STATUS_GREEN;
}

pb_status_state_t pb_status_lag_state(double slo_s, int known, double lag_s) {
    if (slo_s <= 0 || !known) return PB_STATUS_NONE;
    return pb_status_state(slo_s, 1, 1 + lag_s);
}

size_t pb_status_samples(const pb_status_t *st, const char *fqn, double *out) {
    const ring_t *r = find_ring(st, fqn, 0, NULL);
    if (!r) return 0;
    for (size_t i = 0; i < r->n; i++)
        out[i] = r->samples[(r->head + PB_STATUS_SLOTS - r->n + i) % PB_STATUS_SLOTS];
    return r->n;
}

/* ---- the document -------------------------------------------------------------------------- */

/* RFC 3339 text of Unix seconds, or JSON null for 0 (never). */
static json_t *time_json(double ts) {
    char text[PB_TIMEFMT_LEN + 1];
    if (ts <= 0 || !pb_timefmt_format((int64_t)(ts * 1000.0), text)) return json_null();
    return json_string(text);
}

/* A number rounded to 3 decimals (rates and ages need no more; keeps the document small). */
static json_t *num(double v) { return json_real(round(v * 1000.0) / 1000.0); }

static json_t *counts_json(const uint64_t *c) {
    json_t *o = json_object();
    for (int k = 0; k < PB_METRICS_OUTCOMES; k++)
        json_object_set_new(o, pb_metrics_outcome_name((pb_metrics_outcome_t)k),
                            json_integer((json_int_t)c[k]));
    return o;
}

/* "routing" for the router's consumer group, "consumers" for the HTTP subscribers'. */
static const char *lag_role(const char *group) {
    return !strncmp(group, "portbroker.route.", 17) ? "routing"
           : !strncmp(group, "portbroker.sub.", 15) ? "consumers"
                                                    : "other";
}

/* A lag series, labelled by the subscribing product (the input port's) rather than the group, and
 * coloured against the input port's freshness SLO. */
static json_t *lag_json(const pb_registry_t *reg, const pb_metrics_lag_t *l) {
    const pb_port_t *in = pb_registry_port(reg, l->port);
    const pb_product_t *prod = in ? in->product : NULL;
    double slo = in ? pb_status_slo_seconds(in) : 0;
    char label[300];
    if (prod)
        snprintf(label, sizeof label, "%s v%u", prod->name, prod->major);
    else
        snprintf(label, sizeof label, "%s", l->port);
    json_t *o = json_pack("{s:s,s:s,s:b,s:o,s:o}", "port", l->port, "subscriber", l->subscriber,
                          "known", l->known, "lagRecords", l->known ? num(l->records) : json_null(),
                          "lagSeconds", l->known ? num(l->seconds) : json_null());
    if (!o) return NULL;
    json_object_set_new(o, "subscriberProduct", json_string(label));
    json_object_set_new(o, "inputPort", json_string(in ? in->name : l->port));
    json_object_set_new(o, "role", json_string(lag_role(l->subscriber)));
    json_object_set_new(o, "freshnessSloSeconds", slo > 0 ? num(slo) : json_null());
    json_object_set_new(
        o, "state",
        json_string(pb_status_state_name(pb_status_lag_state(slo, l->known, l->seconds))));
    return o;
}

/* SLO numbers, error budgets and their verdicts (the arithmetic of deploy/prometheus's rules, over
 * the broker's life for rejects and over the sample window for freshness). */
static void slo_json(json_t *o, const pb_status_t *st, const pb_port_t *p,
                     const pb_metrics_port_t *mp, double rate) {
    const pb_slo_t *s = &p->slo;
    json_t *slo = json_object();
    json_object_set_new(slo, "freshnessSeconds",
                        s->has_freshness ? num(pb_status_slo_seconds(p)) : json_null());
    json_object_set_new(slo, "throughputMinPerSecond",
                        s->has_throughput_min ? json_real(s->throughput_min_per_s) : json_null());
    json_object_set_new(slo, "rejectsMaxRatio",
                        s->has_rejects_max ? json_real(s->rejects_max_ratio) : json_null());
    json_object_set_new(o, "slo", slo);

    const uint64_t *in = mp->records[PB_METRICS_IN];
    uint64_t total = 0;
    for (int k = 0; k < PB_METRICS_OUTCOMES; k++)
        total += in[k];
    double ratio = total ? (double)in[PB_METRICS_REJECTED] / (double)total : -1;
    json_object_set_new(o, "rejectRatio", ratio >= 0 ? json_real(ratio) : json_null());
    pb_status_state_t rs = PB_STATUS_NONE;
    if (s->has_rejects_max) {
        double left = pb_status_budget_left(ratio, s->rejects_max_ratio);
        rs = pb_status_budget_state(left);
        json_object_set_new(o, "rejectBudgetLeft", num(left < -999.999 ? -999.999 : left));
    } else {
        json_object_set_new(o, "rejectBudgetLeft", json_null());
    }
    json_object_set_new(o, "rejectState", json_string(pb_status_state_name(rs)));

    double fresh = pb_status_fresh_ratio(st, p->fqn);
    if (s->has_freshness && fresh >= 0) {
        double left = pb_status_budget_left(1 - fresh, PB_STATUS_FRESH_BUDGET);
        json_object_set_new(o, "freshnessBudgetLeft", num(left < -999.999 ? -999.999 : left));
    } else {
        json_object_set_new(o, "freshnessBudgetLeft", json_null());
    }
    pb_status_state_t ts = PB_STATUS_NONE;
    if (s->has_throughput_min && rate >= 0)
        ts = rate >= s->throughput_min_per_s         ? PB_STATUS_GREEN
             : rate >= 0.8 * s->throughput_min_per_s ? PB_STATUS_AMBER
                                                     : PB_STATUS_RED;
    json_object_set_new(o, "throughputState", json_string(pb_status_state_name(ts)));
}

/* Output ports: one entry per binding from it, with the subscriber's lag (routing and consumers'
 * worst) labelled by the subscribing product. */
static json_t *subscribers_json(const pb_registry_t *reg, pb_metrics_t *m, const pb_port_t *p) {
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < pb_registry_binding_count(reg); i++) {
        const pb_registry_binding_t *bd = pb_registry_binding_at(reg, i);
        if (strcmp(bd->from, p->fqn) != 0) continue;
        const pb_port_t *in = pb_registry_port(reg, bd->to);
        const pb_product_t *prod = in ? in->product : NULL;
        char label[300];
        if (prod)
            snprintf(label, sizeof label, "%s v%u", prod->name, prod->major);
        else
            snprintf(label, sizeof label, "%s", bd->to);
        json_t *lags = json_array();
        for (size_t k = 0; k < pb_metrics_lag_count(m); k++) {
            const pb_metrics_lag_t *l = pb_metrics_lag_at(m, k);
            if (!strcmp(l->port, bd->to)) json_array_append_new(lags, lag_json(reg, l));
        }
        json_array_append_new(arr, json_pack("{s:i,s:s,s:s,s:s,s:o}", "binding", bd->id, "product",
                                             label, "inputPort", bd->to, "productUrn",
                                             prod ? prod->fqn : "", "lag", lags));
    }
    return arr;
}

static json_t *port_json(const pb_status_t *st, const pb_registry_t *reg, const pb_port_t *p,
                         pb_metrics_t *m, double now_s, size_t *by_state) {
    const pb_metrics_port_t *mp = pb_metrics_port_get(m, p->fqn); /* zeros when disabled */
    double slo = pb_status_slo_seconds(p);
    pb_status_state_t state = pb_status_state(slo, mp->last_record_ts, now_s);
    by_state[state]++;
    double samples[PB_STATUS_SLOTS];
    size_t n = pb_status_samples(st, p->fqn, samples);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, num(samples[i]));
    double rate = pb_status_rate(st, p->fqn);
    json_t *dlq = json_object();
    uint64_t dlq_total = 0;
    for (int k = 0; k < PB_METRICS_DLQ_REASONS; k++) {
        json_object_set_new(dlq, pb_metrics_dlq_reason_name((pb_metrics_dlq_reason_t)k),
                            json_integer((json_int_t)mp->dlq[k]));
        dlq_total += mp->dlq[k];
    }
    json_object_set_new(dlq, "total", json_integer((json_int_t)dlq_total));
    json_t *subs = json_array();
    for (size_t i = 0; i < pb_metrics_lag_count(m); i++) {
        const pb_metrics_lag_t *l = pb_metrics_lag_at(m, i);
        if (!strcmp(l->port, p->fqn)) json_array_append_new(subs, lag_json(reg, l));
    }
    const pb_product_t *prod = p->product;
    json_t *o = json_pack(
        "{s:s,s:s,s:i,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:s,s:{s:o,s:o},s:I,s:I,s:o,s:o}", "fqn",
        p->fqn, "product", prod ? prod->fqn : "", "major", prod ? (int)prod->major : 0, "name",
        p->name, "kind", pb_addr_kind_name(p->kind), "topic", p->topic, "ratePerSecond",
        rate >= 0 ? num(rate) : json_null(), "samples", arr, "lastEventTime",
        time_json(mp->last_record_ts), "lastReceivedTime", time_json(mp->last_received_ts),
        "freshnessAgeSeconds",
        mp->last_record_ts > 0 ? num(now_s - mp->last_record_ts) : json_null(),
        "freshnessSloSeconds", slo > 0 ? num(slo) : json_null(), "state",
        pb_status_state_name(state), "records", "in", counts_json(mp->records[PB_METRICS_IN]),
        "out", counts_json(mp->records[PB_METRICS_OUT]), "rejects",
        (json_int_t)mp->records[PB_METRICS_IN][PB_METRICS_REJECTED], "failed",
        (json_int_t)mp->records[PB_METRICS_IN][PB_METRICS_FAILED], "dlq", dlq, "subscriptions",
        subs);
    if (!o) return NULL;
    json_object_set_new(o, "domain", json_string(prod && prod->domain ? prod->domain : ""));
    json_object_set_new(o, "productName", json_string(prod && prod->name ? prod->name : ""));
    json_object_set_new(o, "owner", json_string(prod && prod->owner ? prod->owner : ""));
    slo_json(o, st, p, mp, rate);
    if (p->kind == PB_PORT_OUTPUT)
        json_object_set_new(o, "subscribers", subscribers_json(reg, m, p));
    return o;
}

json_t *pb_status_json(const pb_status_t *st, const pb_registry_t *reg, pb_metrics_t *m,
                       double now_s) {
    json_t *doc = NULL, *ports = json_array(), *bindings = json_array(), *graph = NULL;
    size_t by_state[PB_STATUS_RED + 1] = {0};
    size_t n = 0, n_ports = 0;
    const pb_product_t *const *products = pb_registry_products(reg, &n);
    if (!ports || !bindings) goto done;
    for (size_t i = 0; i < n; i++) {
        const pb_product_t *p = products[i];
        for (size_t j = 0; j < p->n_outputs + p->n_inputs; j++) {
            const pb_port_t *port =
                j < p->n_outputs ? &p->outputs[j] : &p->inputs[j - p->n_outputs];
            json_t *o = port_json(st, reg, port, m, now_s, by_state);
            if (!o || json_array_append_new(ports, o)) goto done;
            n_ports++;
        }
    }
    for (size_t i = 0; i < pb_registry_binding_count(reg); i++) {
        const pb_registry_binding_t *bd = pb_registry_binding_at(reg, i);
        double rate = pb_status_rate(st, bd->to);
        json_t *lag = json_array();
        for (size_t k = 0; k < pb_metrics_lag_count(m); k++) {
            const pb_metrics_lag_t *l = pb_metrics_lag_at(m, k);
            if (!strcmp(l->port, bd->to)) json_array_append_new(lag, lag_json(reg, l));
        }
        json_array_append_new(bindings,
                              json_pack("{s:i,s:s,s:s,s:s,s:o,s:o}", "id", bd->id, "from", bd->from,
                                        "to", bd->to, "start", bd->start, "ratePerSecond",
                                        rate >= 0 ? num(rate) : json_null(), "lag", lag));
    }
    if (!(graph = pb_lineage_graph(st, reg))) goto done;
    doc = json_pack(
        "{s:o,s:o,s:o,s:o,s:{s:I,s:I,s:I,s:I,s:I},s:O,s:O,s:O}", "now", time_json(now_s),
        "sampleIntervalSeconds", num(st->interval_ms / 1000.0), "windowSeconds",
        num(st->interval_ms / 1000.0 * PB_STATUS_SLOTS), "amberRatio", num(0.8), "summary", "ports",
        (json_int_t)n_ports, "green", (json_int_t)by_state[PB_STATUS_GREEN], "amber",
        (json_int_t)by_state[PB_STATUS_AMBER], "red", (json_int_t)by_state[PB_STATUS_RED], "none",
        (json_int_t)by_state[PB_STATUS_NONE], "ports", ports, "bindings", bindings, "lineage",
        graph);
done:
    json_decref(ports);
    json_decref(bindings);
    json_decref(graph);
    return doc;
}
