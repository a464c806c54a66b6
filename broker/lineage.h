/*
 * lineage — the product/port graph (GET /v1/lineage, JSON and Graphviz) and OpenLineage 2-0-2
 * RunEvents describing the broker as one long-running job (DESIGN.md §8).
 *
 * Owns: building the graph from the registry (nodes: products and ports; edges: product → output
 * port, output port → input port for each binding with its live rate, input port → product), its
 * DOT text, and the RunEvent JSON (every port a dataset in namespace kafka://{first bootstrap
 * server}, named by its topic, with symlinks, schema and dataSource facets; RUNNING events add
 * outputStatistics from the counters).
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
typedef struct pb_lineage_job {
    const char *run_id;    /* UUID, one per process */
    const char *job_name;  /* "{mesh.namespace}.broker" */
    const char *bootstrap; /* kafka.bootstrap.servers in use ("h1:p1,h2:p2") */
    const char *producer;  /* URI naming this software and version */
} pb_lineage_job_t;

/*
 * One RunEvent as a new JSON object. type is "START", "RUNNING" or "COMPLETE"; now_s the event
 * time. Every port of reg is an output dataset (the broker writes every port's topic: output
 * ports by publishing, input ports by routing); the output ports read by a binding are also input
 * datasets. m (may be NULL) adds the outputStatistics facet (rowCount and size of the records
 * accepted into each topic since the process started) to RUNNING and COMPLETE events.
 * NULL out of memory.
 */
json_t *pb_lineage_event(const pb_lineage_job_t *job, const char *type, const pb_registry_t *reg,
                         pb_metrics_t *m, double now_s);

/* The dataset namespace for a bootstrap list: "kafka://" + its first host:port, into out. */
void pb_lineage_namespace(const char *bootstrap, char *out, size_t cap);

#endif
