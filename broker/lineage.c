/*
 * lineage — graph, DOT and OpenLineage RunEvents (see lineage.h). Must not: do I/O.
 */
#include "lineage.h"

#include <stdio.h>
#include <string.h>

#include "hash.h"
#include "timefmt.h"

#define FACETS "https://openlineage.io/spec/facets/"

/* ---- graph -------------------------------------------------------------------------------- */

static json_t *port_node(const pb_port_t *p) {
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b}", "id", p->fqn, "type", "port", "fqn",
                     p->fqn, "kind", pb_addr_kind_name(p->kind), "name", p->name, "topic", p->topic,
                     "product", p->product ? p->product->fqn : "", "declared", 1);
}

static json_t *edge(const char *from, const char *to, const char *type) {
    return json_pack("{s:s,s:s,s:s}", "from", from, "to", to, "type", type);
}

json_t *pb_lineage_graph(const pb_status_t *st, const pb_registry_t *reg) {
    json_t *nodes = json_array(), *edges = json_array(), *seen = json_object();
    json_t *out = NULL;
    size_t n = 0;
    const pb_product_t *const *products = pb_registry_products(reg, &n);
    if (!nodes || !edges || !seen) goto done;
    for (size_t i = 0; i < n; i++) {
        const pb_product_t *p = products[i];
        json_array_append_new(
            nodes, json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:s}", "id", p->fqn, "type", "product",
                             "fqn", p->fqn, "name", p->name, "major", (int)p->major, "domain",
                             p->domain ? p->domain : "", "owner", p->owner ? p->owner : ""));
        for (size_t j = 0; j < p->n_outputs; j++) {
            json_array_append_new(nodes, port_node(&p->outputs[j]));
            json_object_set_new(seen, p->outputs[j].fqn, json_true());
            json_array_append_new(edges, edge(p->fqn, p->outputs[j].fqn, "produces"));
        }
        for (size_t j = 0; j < p->n_inputs; j++) {
            json_array_append_new(nodes, port_node(&p->inputs[j]));
            json_object_set_new(seen, p->inputs[j].fqn, json_true());
            json_array_append_new(edges, edge(p->inputs[j].fqn, p->fqn, "consumes"));
        }
    }
    for (size_t i = 0; i < pb_registry_binding_count(reg); i++) {
        const pb_registry_binding_t *bd = pb_registry_binding_at(reg, i);
        const char *ends[2] = {bd->from, bd->to};
        for (int k = 0; k < 2; k++) {
            if (json_object_get(seen, ends[k])) continue;
            /* A binding to a port the registry does not (yet) hold: still a node. */
            json_array_append_new(nodes, json_pack("{s:s,s:s,s:s,s:s,s:b}", "id", ends[k], "type",
                                                   "port", "fqn", ends[k], "kind",
                                                   k ? "input" : "output", "declared", 0));
            json_object_set_new(seen, ends[k], json_true());
        }
        double rate = st ? pb_status_rate(st, bd->to) : -1;
        json_t *e = edge(bd->from, bd->to, "binding");
        json_object_set_new(e, "binding", json_integer(bd->id));
        json_object_set_new(e, "ratePerSecond", rate >= 0 ? json_real(rate) : json_null());
        json_array_append_new(edges, e);
    }
    out = json_pack("{s:O,s:O}", "nodes", nodes, "edges", edges);
done:
    json_decref(nodes);
    json_decref(edges);
    json_decref(seen);
    return out;
}

/* A DOT double-quoted string: backslash and quote escaped, control characters dropped. */
static int dot_str(pb_buf_t *out, const char *s) {
    int rc = pb_buf_putc(out, '"');
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\') rc |= pb_buf_putc(out, '\\');
        if ((unsigned char)*s >= 0x20) rc |= pb_buf_putc(out, (uint8_t)*s);
    }
    return rc | pb_buf_putc(out, '"');
}

static const char *str(const json_t *o, const char *k) {
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

int pb_lineage_dot(const json_t *graph, pb_buf_t *out) {
    size_t i;
    json_t *v;
    int rc =
        pb_buf_printf(out, "digraph lineage {\n  rankdir=LR;\n  node [fontname=\"sans-serif\"];\n");
    json_array_foreach(json_object_get(graph, "nodes"), i, v) {
        int product = !strcmp(str(v, "type"), "product");
        char label[1024];
        if (product)
            snprintf(label, sizeof label, "%s v%lld", str(v, "name"),
                     (long long)json_integer_value(json_object_get(v, "major")));
        else
            snprintf(label, sizeof label, "%s%s%s",
                     *str(v, "name") ? str(v, "name") : str(v, "fqn"),
                     *str(v, "topic") ? "\\n" : "", str(v, "topic"));
        rc |= pb_buf_printf(out, "  ");
        rc |= dot_str(out, str(v, "id"));
        /* The label keeps its "\n" escape: DOT reads it as a line break. */
        rc |= pb_buf_printf(out, " [shape=%s, label=\"", product ? "box" : "ellipse");
        for (const char *c = label; *c; c++) {
            if (*c == '"') rc |= pb_buf_putc(out, '\\');
            if ((unsigned char)*c >= 0x20) rc |= pb_buf_putc(out, (uint8_t)*c);
        }
        rc |= pb_buf_printf(out, "\"%s];\n",
                            product                             ? ", style=bold"
                            : !strcmp(str(v, "kind"), "output") ? ", color=blue"
                                                                : ", color=darkgreen");
    }
    json_array_foreach(json_object_get(graph, "edges"), i, v) {
        rc |= pb_buf_printf(out, "  ");
        rc |= dot_str(out, str(v, "from"));
        rc |= pb_buf_printf(out, " -> ");
        rc |= dot_str(out, str(v, "to"));
        if (!strcmp(str(v, "type"), "binding")) {
            json_t *r = json_object_get(v, "ratePerSecond");
            if (json_is_number(r))
                rc |= pb_buf_printf(out, " [label=\"%.3g/s\", penwidth=2]", json_number_value(r));
            else
                rc |= pb_buf_printf(out, " [label=\"binding %lld\", penwidth=2]",
                                    (long long)json_integer_value(json_object_get(v, "binding")));
        } else {
            rc |= pb_buf_printf(out, " [style=dashed]");
        }
        rc |= pb_buf_printf(out, ";\n");
    }
    rc |= pb_buf_printf(out, "}\n");
    return rc ? PB_ERR_NOMEM : 0;
}

/* ---- OpenLineage -------------------------------------------------------------------------- */

void pb_lineage_namespace(const char *bootstrap, char *out, size_t cap) {
    size_t n = strcspn(bootstrap ? bootstrap : "", ",");
    snprintf(out, cap, "kafka://%.*s", (int)n, bootstrap ? bootstrap : "");
}

static json_t *facet(const pb_lineage_ctx_t *job, const char *schema_file, const char *def) {
    char url[256];
    snprintf(url, sizeof url, FACETS "%s#/$defs/%s", schema_file, def);
    return json_pack("{s:s,s:s}", "_producer", job->producer, "_schemaURL", url);
}

/* Avro type as OpenLineage field type text: "string", "long", "record", "union"... and for a
 * logical type its name ("timestamp-millis"); named types their full name. */
static const char *field_type(const pb_schema_node_t *t) {
    if (t->logical_name && t->logical != PB_LOGICAL_NONE) return t->logical_name;
    if (pb_schema_is_named(t) && t->fullname) return t->fullname;
    return pb_schema_type_name(t->type);
}

/* Fields of record node n, nested records expanded up to depth levels (recursive schemas stop). */
static json_t *fields_json(const pb_schema_node_t *n, int depth) {
    json_t *arr = json_array();
    for (size_t i = 0; i < n->n_fields; i++) {
        const pb_schema_field_t *f = &n->fields[i];
        const pb_schema_node_t *t = f->type;
        /* ["null", X] reads as X: the usual optional field. */
        if (t->type == PB_AVRO_UNION && t->n_branches == 2 && t->branches[0]->type == PB_AVRO_NULL)
            t = t->branches[1];
        json_t *o = json_pack("{s:s,s:s,s:I}", "name", f->name, "type", field_type(t),
                              "ordinal_position", (json_int_t)(f->index + 1));
        if (f->doc) json_object_set_new(o, "description", json_stringn(f->doc, f->doc_len));
        if (t->type == PB_AVRO_RECORD && depth > 0)
            json_object_set_new(o, "fields", fields_json(t, depth - 1));
        json_array_append_new(arr, o);
    }
    return arr;
}

static json_t *dataset(const pb_lineage_ctx_t *job, const char *ns, const pb_port_t *p,
                       const pb_registry_t *reg) {
    json_t *facets = json_object();
    json_t *sym = facet(job, "1-0-1/SymlinksDatasetFacet.json", "SymlinksDatasetFacet");
    json_object_set_new(sym, "identifiers",
                        json_pack("[{s:s,s:s,s:s}]", "namespace", "urn:dpds", "name", p->fqn,
                                  "type", "DATA_PRODUCT_PORT"));
    json_object_set_new(facets, "symlinks", sym);
    /* The schema facet shows the port's latest registered schema, else the declared one. */
    const pb_schema_t *schema = p->parsed;
    pb_registry_version_t v;
    pb_err_t err = {0};
    if (reg && !pb_registry_get_version(reg, p->subject, -1, 0, &v, &err) && v.parsed)
        schema = v.parsed;
    if (schema && schema->root && schema->root->type == PB_AVRO_RECORD) {
        json_t *sf = facet(job, "1-2-0/SchemaDatasetFacet.json", "SchemaDatasetFacet");
        json_object_set_new(sf, "fields", fields_json(schema->root, 8));
        json_object_set_new(facets, "schema", sf);
    }
    json_t *ds = facet(job, "1-0-1/DatasourceDatasetFacet.json", "DatasourceDatasetFacet");
    json_object_set_new(ds, "name", json_string(ns));
    json_object_set_new(ds, "uri", json_string(ns));
    json_object_set_new(facets, "dataSource", ds);
    return json_pack("{s:s,s:s,s:o}", "namespace", ns, "name", p->topic, "facets", facets);
}

/* outputStatistics of a dataset: what the port's counters saw accepted into its topic. */
static void add_stats(const pb_lineage_ctx_t *ctx, json_t *d, const pb_port_t *port,
                      pb_metrics_t *m) {
    pb_metrics_port_t *mp = pb_metrics_port(m, port->fqn, pb_status_slo_seconds(port));
    json_t *os = facet(ctx, "1-0-2/OutputStatisticsOutputDatasetFacet.json",
                       "OutputStatisticsOutputDatasetFacet");
    json_object_set_new(
        os, "rowCount",
        json_integer(mp ? (json_int_t)mp->records[PB_METRICS_IN][PB_METRICS_OK] : 0));
    json_object_set_new(os, "size", json_integer(mp ? (json_int_t)mp->bytes[PB_METRICS_IN] : 0));
    json_object_set_new(d, "outputFacets", json_pack("{s:o}", "outputStatistics", os));
}

static json_t *job_body(const pb_lineage_ctx_t *ctx, const char *name, const char *type,
                        json_t *inputs, json_t *outputs) {
    json_t *jt = facet(ctx, "2-0-4/JobTypeJobFacet.json", "JobTypeJobFacet");
    json_object_set_new(jt, "processingType", json_string("STREAMING"));
    json_object_set_new(jt, "integration", json_string("PORTBROKER"));
    json_object_set_new(jt, "jobType", json_string(type));
    return json_pack("{s:{s:s,s:s,s:{s:o}},s:o,s:o}", "job", "namespace", PB_LINEAGE_JOB_NAMESPACE,
                     "name", name, "facets", "jobType", jt, "inputs", inputs, "outputs", outputs);
}

json_t *pb_lineage_product_job(const pb_lineage_ctx_t *ctx, const pb_registry_t *reg,
                               const pb_product_t *p, pb_metrics_t *m) {
    char ns[600];
    pb_lineage_namespace(ctx->bootstrap, ns, sizeof ns);
    json_t *inputs = json_array(), *outputs = json_array();
    for (size_t j = 0; j < p->n_inputs; j++)
        json_array_append_new(inputs, dataset(ctx, ns, &p->inputs[j], reg));
    for (size_t j = 0; j < p->n_outputs; j++) {
        json_t *d = dataset(ctx, ns, &p->outputs[j], reg);
        if (m) add_stats(ctx, d, &p->outputs[j], m);
        json_array_append_new(outputs, d);
    }
    return job_body(ctx, p->fqn, "DATA_PRODUCT", inputs, outputs);
}

void pb_lineage_binding_name(const pb_registry_binding_t *bd, char *out, size_t cap) {
    snprintf(out, cap, "binding:%s->%s", bd->from, bd->to);
}

json_t *pb_lineage_binding_job(const pb_lineage_ctx_t *ctx, const pb_registry_t *reg,
                               const pb_registry_binding_t *bd, pb_metrics_t *m) {
    char ns[600], name[PB_LINEAGE_JOB_NAME_MAX];
    pb_lineage_namespace(ctx->bootstrap, ns, sizeof ns);
    const pb_port_t *from = pb_registry_port(reg, bd->from), *to = pb_registry_port(reg, bd->to);
    pb_lineage_binding_name(bd, name, sizeof name);
    json_t *inputs = json_array(), *outputs = json_array();
    if (from) json_array_append_new(inputs, dataset(ctx, ns, from, reg));
    if (to) {
        json_t *d = dataset(ctx, ns, to, reg);
        if (m) add_stats(ctx, d, to, m);
        json_array_append_new(outputs, d);
    }
    return job_body(ctx, name, "BINDING", inputs, outputs);
}

json_t *pb_lineage_jobs(const pb_lineage_ctx_t *ctx, const pb_registry_t *reg, pb_metrics_t *m) {
    size_t n = 0;
    json_t *jobs = json_object();
    const pb_product_t *const *products = pb_registry_products(reg, &n);
    if (!jobs) return NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *body = pb_lineage_product_job(ctx, reg, products[i], m);
        if (!body || json_object_set_new(jobs, products[i]->fqn, body)) goto oom;
    }
    for (size_t i = 0; i < pb_registry_binding_count(reg); i++) {
        const pb_registry_binding_t *bd = pb_registry_binding_at(reg, i);
        char name[PB_LINEAGE_JOB_NAME_MAX];
        pb_lineage_binding_name(bd, name, sizeof name);
        json_t *body = pb_lineage_binding_job(ctx, reg, bd, m);
        if (!body || json_object_set_new(jobs, name, body)) goto oom;
    }
    return jobs;
oom:
    json_decref(jobs);
    return NULL;
}

/* FNV-1a over a port's output statistics as add_stats reads them. */
static uint64_t stats_mix(uint64_t h, const pb_metrics_t *m, const pb_port_t *port) {
    const pb_metrics_port_t *mp = pb_metrics_port_get(m, port->fqn);
    uint64_t v[2] = {mp->records[PB_METRICS_IN][PB_METRICS_OK], mp->bytes[PB_METRICS_IN]};
    return pb_hash_bytes(h, v, sizeof v);
}

uint64_t pb_lineage_product_stats(const pb_product_t *p, const pb_metrics_t *m) {
    uint64_t h = PB_HASH_LEGACY_BASIS;
    for (size_t j = 0; m && j < p->n_outputs; j++)
        h = stats_mix(h, m, &p->outputs[j]);
    return h;
}

uint64_t pb_lineage_binding_stats(const pb_registry_t *reg, const pb_registry_binding_t *bd,
                                  const pb_metrics_t *m) {
    const pb_port_t *to = pb_registry_port(reg, bd->to);
    return m && to ? stats_mix(PB_HASH_LEGACY_BASIS, m, to) : PB_HASH_LEGACY_BASIS;
}

json_t *pb_lineage_run_event(const pb_lineage_ctx_t *ctx, const json_t *body, const char *type,
                             const char *run_id, double now_s) {
    char when[PB_TIMEFMT_LEN + 1];
    pb_timefmt_format((int64_t)(now_s * 1000.0), when);
    json_t *outputs = json_object_get(body, "outputs");
    json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:{s:s},s:O,s:O,s:O}", "eventType", type, "eventTime",
                           when, "producer", ctx->producer, "schemaURL", PB_LINEAGE_SCHEMA_URL,
                           "run", "runId", run_id, "job", json_object_get(body, "job"), "inputs",
                           json_object_get(body, "inputs"), "outputs", outputs);
    if (ev && !strcmp(type, "START")) {
        /* A start has no statistics yet: copies of the outputs without them. */
        json_t *copy = json_deep_copy(outputs);
        size_t i;
        json_t *d;
        json_array_foreach(copy, i, d) json_object_del(d, "outputFacets");
        if (!copy || json_object_set_new(ev, "outputs", copy)) {
            json_decref(ev);
            return NULL;
        }
    }
    return ev;
}

int pb_lineage_event_text(const pb_lineage_ctx_t *ctx, const char *body, size_t len,
                          const char *type, const char *run_id, double now_s, pb_buf_t *out) {
    char when[PB_TIMEFMT_LEN + 1];
    if (len < 2 || body[0] != '{' || body[1] == '}' || !strcmp(type, "START"))
        return PB_ERR_INVALID;
    pb_timefmt_format((int64_t)(now_s * 1000.0), when);
    /* The event's own members first, in pb_lineage_run_event's order, then the body's (job,
     * inputs, outputs) as they are: the same bytes as dumping that event compactly. */
    json_t *head =
        json_pack("{s:s,s:s,s:s,s:s,s:{s:s}}", "eventType", type, "eventTime", when, "producer",
                  ctx->producer, "schemaURL", PB_LINEAGE_SCHEMA_URL, "run", "runId", run_id);
    char *text = head ? json_dumps(head, JSON_COMPACT) : NULL;
    json_decref(head);
    if (!text) return PB_ERR_NOMEM;
    size_t hl = strlen(text);
    text[hl - 1] = ','; /* the closing brace: the body's members follow */
    int rc = pb_buf_append(out, text, hl) || pb_buf_append(out, body + 1, len - 1);
    free(text);
    return rc ? PB_ERR_NOMEM : 0;
}

uint64_t pb_lineage_jobs_hash(const pb_registry_t *reg) {
    uint64_t h = PB_HASH_LEGACY_BASIS; /* fields with a separator: "ab"+"c" != "a"+"bc" */
    size_t n = 0;
    const pb_product_t *const *products = pb_registry_products(reg, &n);
    for (size_t i = 0; i < n; i++)
        h = pb_hash_field(h, products[i]->fqn);
    h = pb_hash_field(h, "|");
    for (size_t i = 0; i < pb_registry_binding_count(reg); i++) {
        const pb_registry_binding_t *bd = pb_registry_binding_at(reg, i);
        h = pb_hash_field(pb_hash_field(h, bd->from), bd->to);
    }
    return h;
}
