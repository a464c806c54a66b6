/*
 * lineage — the product/port graph (GET /v1/lineage, JSON and Graphviz) and OpenLineage 2-0-2
 * RunEvents: one job per data product and one per binding (DESIGN.md §8).
 *
 * Owns: building the graph from the registry (nodes: products and ports; edges: product → output
 * port, output port → input port for each binding with its live rate, input port → product), its
 * DOT text, and the OpenLineage jobs and RunEvent JSON (every port a dataset in namespace
 * kafka://{first bootstrap server}, named by its topic, with symlinks, schema and dataSource
 * facets; RUNNING and COMPLETE events add outputStatistics from the counters). Which jobs are
 * live, their run ids and when to emit is ops.c's.
 * Must not: do I/O, read the clock or a random source (callers pass time and run id), or send
 * anything (ops.c does).
 */
#ifndef PB_LINEAGE_H
#define PB_LINEAGE_H

#include <jansson.h>
#include <stdint.h>

#include "buf.h"
#include "metrics.h"
#include "registry.h"
#include "status.h"

#define PB_LINEAGE_SCHEMA_URL "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
#define PB_LINEAGE_JOB_NAMESPACE "portbroker"

/*
 * The graph as a new JSON object {"nodes": [...], "edges": [...]} (docs/API.md). A binding whose
 * output port is not in the registry still gets a node ("declared": false), so every edge joins
 * two nodes. Rates come from st (NULL: no rates). NULL out of memory.
 */
json_t *pb_lineage_graph(const pb_status_t *st, const pb_registry_t *reg);

/* Append the graph (as returned by pb_lineage_graph) as a Graphviz digraph to out. 0 or
 * PB_ERR_NOMEM. */
int pb_lineage_dot(const json_t *graph, pb_buf_t *out);

/* What every event of one broker process shares. */
typedef struct pb_lineage_ctx {
    const char *bootstrap; /* kafka.bootstrap.servers in use ("h1:p1,h2:p2") */
    const char *producer;  /* URI naming this software and version */
} pb_lineage_ctx_t;

/*
 * The mesh's OpenLineage jobs (DESIGN.md §8), as a new JSON object: job name -> body, a body being
 * {"job": {namespace, name, facets}, "inputs": [...], "outputs": [...]} (a RunEvent without its
 * type, time and run):
 * - one job per declared data product, named by its URN: its input ports' topics as inputs, its
 *   output ports' topics as outputs (jobType DATA_PRODUCT);
 * - one job per binding, named "binding:{output-port URN}->{input-port URN}": the output port's
 *   topic as input, the input port's topic as output (jobType BINDING). A binding end the
 *   registry does not hold is left out of the job's datasets.
 * So a lineage server draws product -> topic -> binding -> topic -> product. Every dataset is in
 * namespace kafka://{first bootstrap server}, named by its topic, with symlinks (the port URN),
 * schema and dataSource facets. m (may be NULL) adds outputStatistics (rowCount and size of the
 * records accepted into the topic since the process started) to every output dataset. All jobs
 * are in namespace PB_LINEAGE_JOB_NAMESPACE. NULL out of memory.
 */
json_t *pb_lineage_jobs(const pb_lineage_ctx_t *ctx, const pb_registry_t *reg, pb_metrics_t *m);

/* Longest job name: "binding:" + two port URNs + "->" (each URN a few hundred bytes at most). */
#define PB_LINEAGE_JOB_NAME_MAX 1200

/* One job of pb_lineage_jobs alone (a new body, NULL out of memory): product p's, or binding bd's
 * (named by pb_lineage_binding_name). For rebuilding the job whose statistics changed. */
json_t *pb_lineage_product_job(const pb_lineage_ctx_t *ctx, const pb_registry_t *reg,
                               const pb_product_t *p, pb_metrics_t *m);
json_t *pb_lineage_binding_job(const pb_lineage_ctx_t *ctx, const pb_registry_t *reg,
                               const pb_registry_binding_t *bd, pb_metrics_t *m);

/* A binding job's name, "binding:{from}->{to}", into out[cap] (PB_LINEAGE_JOB_NAME_MAX). */
void pb_lineage_binding_name(const pb_registry_binding_t *bd, char *out, size_t cap);

/* A fingerprint of the outputStatistics a job's body holds (product p's outputs, binding bd's
 * input port) as m counts them now: equal values, an unchanged body while the registry is
 * unchanged. m NULL: a constant. Cheap (no allocation, creates no series). */
uint64_t pb_lineage_product_stats(const pb_product_t *p, const pb_metrics_t *m);
uint64_t pb_lineage_binding_stats(const pb_registry_t *reg, const pb_registry_binding_t *bd,
                                  const pb_metrics_t *m);

/*
 * One RunEvent (new object) of a job body from pb_lineage_jobs: type "START", "RUNNING" or
 * "COMPLETE", run_id a UUID, now_s the event time. START leaves the outputStatistics facets out.
 * NULL out of memory.
 */
json_t *pb_lineage_run_event(const pb_lineage_ctx_t *ctx, const json_t *body, const char *type,
                             const char *run_id, double now_s);

/*
 * The text of pb_lineage_run_event's event for a job body given as its compact JSON text
 * body[0..len) (json_dumps JSON_COMPACT of a pb_lineage_jobs body), appended to out: the same
 * bytes as json_dumps(pb_lineage_run_event(...), JSON_COMPACT), without parsing the body. type
 * "RUNNING" or "COMPLETE" (START strips statistics: use pb_lineage_run_event). Returns 0,
 * PB_ERR_INVALID (not a body, or START), or PB_ERR_NOMEM (out may hold part).
 */
int pb_lineage_event_text(const pb_lineage_ctx_t *ctx, const char *body, size_t len,
                          const char *type, const char *run_id, double now_s, pb_buf_t *out);

/* A fingerprint of the job set of reg (product URNs, binding ends): it changes when a job would
 * appear or go. Cheap (no allocation); for deciding when to rebuild the jobs. */
uint64_t pb_lineage_jobs_hash(const pb_registry_t *reg);

/* The dataset namespace for a bootstrap list: "kafka://" + its first host:port, into out. */
void pb_lineage_namespace(const char *bootstrap, char *out, size_t cap);

#endif
