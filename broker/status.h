/*
 * status — what ops see at a glance: per-port throughput rings, freshness against the SLO, and the
 * JSON of GET /v1/status (DESIGN.md §5 Ops, §8; the shape is documented in docs/API.md).
 *
 * Owns: one fixed-size ring per port of throughput samples (records/s into the port's topic,
 * PB_STATUS_SLOTS samples: 15 minutes at the default 10 s period), the freshness verdict
 * (green/amber/red), and building the status document from the registry's ports and bindings and
 * the metrics counters the data plane updates.
 * Must not: do I/O, read the clock (callers pass `now`), or change a counter. The loop thread owns
 * a pb_status_t (not thread-safe).
 */
#ifndef PB_STATUS_H
#define PB_STATUS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "descriptor.h"
#include "metrics.h"
#include "registry.h"

#define PB_STATUS_SLOTS 90 /* samples kept per port */

typedef struct pb_status pb_status_t;

/* Freshness verdict of a port. */
typedef enum {
    PB_STATUS_NONE = 0, /* no freshness SLO: nothing to be late against */
    PB_STATUS_GREEN,    /* age <= 80 % of the SLO */
    PB_STATUS_AMBER,    /* 80 % of the SLO < age <= the SLO */
    PB_STATUS_RED,      /* age > the SLO, or no record ever seen */
} pb_status_state_t;

/* "none", "green", "amber", "red". */
const char *pb_status_state_name(pb_status_state_t s);

/* The verdict for a port whose freshness SLO is slo_s seconds (<= 0: none) and whose newest
 * record has event time last_ts (Unix seconds, 0: never), at now_s. Pure. */
pb_status_state_t pb_status_state(double slo_s, double last_ts, double now_s);

/* New, empty rings with samples every interval_ms (> 0). NULL out of memory. Caller owns. */
pb_status_t *pb_status_new(int64_t interval_ms);

/* Free everything. NULL is a no-op. */
void pb_status_destroy(pb_status_t *st);

/*
 * Take one sample of every port of reg at now_s (Unix seconds): its rate is the growth of the
 * port's "in"/"ok" record counter since the previous sample divided by the time between them. A
 * port seen for the first time only records the counter (its first sample comes next time). Each
 * port's metrics series is created (pb_metrics_port) when missing. Returns 0 or PB_ERR_NOMEM.
 */
int pb_status_sample(pb_status_t *st, const pb_registry_t *reg, pb_metrics_t *m, double now_s);

/* Records/s into port fqn over the last sample, or -1 when there is no sample yet. */
double pb_status_rate(const pb_status_t *st, const char *fqn);

/* Fraction (0..1) of port fqn's samples in the window at which it was fresh (within its freshness
 * SLO), or -1 without samples. */
double pb_status_fresh_ratio(const pb_status_t *st, const char *fqn);

#define PB_STATUS_FRESH_BUDGET 0.01 /* stale 1 % of the time: deploy/prometheus's objective */
#define PB_STATUS_BUDGET_AMBER 0.25 /* amber below a quarter of the budget left */

/* Error budget left (1 untouched, 0 spent, < 0 overspent) when a fraction bad_ratio of events was
 * bad against an objective allowing budget (0..1): 1 - bad_ratio / budget, as the rules'
 * portbroker:port_*_budget_remaining. A zero budget is spent (-1) by any bad event. bad_ratio < 0
 * (no events): 1. Pure. */
double pb_status_budget_left(double bad_ratio, double budget);

/* Verdict of a budget left: red when spent (<= 0), amber below PB_STATUS_BUDGET_AMBER. */
pb_status_state_t pb_status_budget_state(double left);

/* Verdict of a subscriber's lag of lag_s seconds against its input port's freshness SLO slo_s
 * (as pb_status_state for an age); none without an SLO or before a measurement (known 0). */
pb_status_state_t pb_status_lag_state(double slo_s, int known, double lag_s);

/* The samples of port fqn, oldest first, into out (PB_STATUS_SLOTS entries); returns the count. */
size_t pb_status_samples(const pb_status_t *st, const char *fqn, double *out);

/* The GET /v1/status document at now_s (docs/API.md): every port of reg with its rate, samples,
 * freshness, rejects, DLQ and subscription lag, the bindings, a summary, and the lineage graph
 * (pb_lineage_graph). New reference, NULL out of memory. */
json_t *pb_status_json(const pb_status_t *st, const pb_registry_t *reg, pb_metrics_t *m,
                       double now_s);

/* Freshness SLO of a port in seconds, 0 when it states none. */
double pb_status_slo_seconds(const pb_port_t *p);

#endif
