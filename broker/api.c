#include "api.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "broker.h"
#include "descriptor.h"
#include "exporter.h"
#include "id.h"
#include "log.h"
#include "ops.h"
#include "publish.h"
#include "registry.h"
#include "sr.h"
#include "sub.h"

#define JSON_TYPE "application/json"

/* ---- replies -------------------------------------------------------------------------------- */

void pb_api_reply_json(pb_http_req_t *req, int status, json_t *body) {
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        static const char oom[] = "{\"error_code\":50001,\"message\":\"out of memory\"}";
        pb_http_reply(req, 500, JSON_TYPE, oom, sizeof oom - 1);
        return;
    }
    pb_http_reply(req, status, JSON_TYPE, text, strlen(text));
    free(text);
}

void pb_api_reply_error(pb_http_req_t *req, int status, int code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (status >= 500)
        pb_log(WARN, "api", "%s %s: %d %s", pb_http_method_name(req), pb_http_path(req), status,
               msg);
    pb_api_reply_json(req, status, json_pack("{s:i,s:s}", "error_code", code, "message", msg));
}

/* ---- JSON views ----------------------------------------------------------------------------- */

static json_t *slo_json(const pb_slo_t *s) {
    json_t *o = json_object();
    if (s->has_freshness)
        json_object_set_new(o, "freshnessSeconds", json_real(s->freshness_ms / 1000.0));
    if (s->has_throughput_min)
        json_object_set_new(o, "throughputMinPerSecond", json_real(s->throughput_min_per_s));
    if (s->has_rejects_max)
        json_object_set_new(o, "rejectsMaxRatio", json_real(s->rejects_max_ratio));
    return o;
}

static const pb_registry_t *reg(const pb_broker_t *b) { return pb_store_registry(b->store); }

/* A registry write on behalf of an HTTP request: the reply is sent when the record is read back. */
typedef struct write_ctx {
    pb_http_req_t *req;
    pb_sr_reply_t rep; /* Schema Registry writes */
    int v1;            /* 1: answer in the /v1 shape */
    int bind;          /* 1: answer with the subscription object of the binding */
    pb_broker_t *b;
} write_ctx_t;
static void start_write(pb_broker_t *b, pb_http_req_t *req, write_ctx_t *w, const char *reqid,
                        const void *rec, size_t len);

/* Start a /v1 write of rec; bind: answer with the subscription object. */
static void start_v1_write(pb_broker_t *b, pb_http_req_t *req, const char *reqid,
                           const pb_buf_t *rec, int bind) {
    write_ctx_t *w = calloc(1, sizeof *w);
    if (!w) {
        pb_api_reply_error(req, 503, 50001, "out of memory");
        return;
    }
    w->v1 = 1;
    w->bind = bind;
    w->b = b;
    start_write(b, req, w, reqid, rec->data, rec->len);
}

/* A subscription object (DESIGN.md §5) for a binding. */
static json_t *binding_json(const pb_broker_t *b, const pb_registry_binding_t *bd) {
    const pb_port_t *in = pb_registry_port(reg(b), bd->to);
    const pb_port_t *out = pb_registry_port(reg(b), bd->from);
    char group[512] = "";
    if (in) pb_addr_route_group(in->topic, group, sizeof group);
    return json_pack("{s:i,s:s,s:s,s:s?,s:s,s:i,s:s,s:s,s:s}", "id", bd->id, "from", bd->from, "to",
                     bd->to, "topic", in ? in->topic : NULL, "consumerGroup", group,
                     "readerSchemaId", bd->reader_id, "start", bd->start, "state",
                     out ? "bound" : "pending", "source", bd->from_product ? "descriptor" : "api");
}

/* Bindings of a port: to it (output port) or from it (input port). */
static json_t *bindings_json(const pb_broker_t *b, const pb_port_t *port) {
    json_t *arr = json_array();
    size_t n = pb_registry_binding_count(reg(b));
    for (size_t i = 0; i < n; i++) {
        const pb_registry_binding_t *bd = pb_registry_binding_at(reg(b), i);
        const char *side = port->kind == PB_PORT_OUTPUT ? bd->from : bd->to;
        if (strcmp(side, port->fqn) == 0) json_array_append_new(arr, binding_json(b, bd));
    }
    return arr;
}

static json_t *port_json(const pb_broker_t *b, const pb_port_t *port) {
    const pb_product_t *p = port->product;
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:s}", "fqn", port->fqn, "kind",
        pb_addr_kind_name(port->kind), "product", p->fqn, "major", (int)p->major, "name",
        port->name, "version", port->version, "topic", port->topic, "dlqTopic", port->dlq_topic,
        "partitions", port->partitions, "subject", port->subject, "compatibility",
        pb_compat_level_name(pb_registry_port_level(reg(b), port)), "owner", p->owner);
    if (!o) return NULL;
    json_object_set_new(o, "schemas", pb_registry_port_schemas(reg(b), port));
    json_object_set(o, "schema", port->schema);
    if (port->key_schema) json_object_set(o, "keySchema", port->key_schema);
    json_object_set_new(o, "slo", slo_json(&port->slo));
    if (port->kind == PB_PORT_OUTPUT) {
        json_t *acc = json_array();
        for (size_t i = 0; i < port->n_access; i++)
            json_array_append_new(acc, json_string(port->access[i]));
        json_object_set_new(o, "access", acc);
    } else if (port->from) {
        json_object_set_new(o, "from", json_string(port->from));
    }
    if (port->event_time_field)
        json_object_set_new(o, "eventTimeField", json_string(port->event_time_field));
    json_object_set_new(o, "bindings", bindings_json(b, port));
    return o;
}

static json_t *product_summary(const pb_product_t *p) {
    json_t *o = json_pack("{s:s,s:s,s:s,s:i,s:s,s:s,s:s}", "fqn", p->fqn, "namespace", p->ns,
                          "name", p->name, "major", (int)p->major, "version", p->version, "domain",
                          p->domain, "owner", p->owner);
    json_t *outs = json_array(), *ins = json_array();
    for (size_t i = 0; i < p->n_outputs; i++)
        json_array_append_new(outs, json_string(p->outputs[i].fqn));
    for (size_t i = 0; i < p->n_inputs; i++)
        json_array_append_new(ins, json_string(p->inputs[i].fqn));
    json_object_set_new(o, "outputPorts", outs);
    json_object_set_new(o, "inputPorts", ins);
    return o;
}

/* ---- handlers ------------------------------------------------------------------------------- */

static void h_healthz(pb_broker_t *b, pb_http_req_t *req, const char *rest) {
    (void)b;
    (void)rest;
    pb_api_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

static void h_readyz(pb_broker_t *b, pb_http_req_t *req, const char *rest) {
    (void)rest;
    const char *why = NULL;
    int ready = pb_broker_ready(b, &why);
    json_t *o = json_pack("{s:b,s:b,s:b,s:i}", "ready", ready, "kafka",
                          pb_kafka_reachable(b->kafka), "embeddedKafka",
                          pb_kafka_is_embedded(b->kafka), "products", (int)b->products->n_products);
    json_object_set_new(o, "registry",
                        json_pack("{s:I,s:I}", "position", (json_int_t)pb_store_position(b->store),
                                  "replayEnd", (json_int_t)pb_store_replay_end(b->store)));
    if (why) json_object_set_new(o, "reason", json_string(why));
    if (!ready) pb_http_set_header(req, "Retry-After", "1");
    pb_api_reply_json(req, ready ? 200 : 503, o);
}

static void h_products(pb_broker_t *b, pb_http_req_t *req, const char *rest) {
    (void)rest;
    json_t *arr = json_array();
    size_t n = 0;
    const pb_product_t *const *ps = pb_registry_products(reg(b), &n);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, product_summary(ps[i]));
    pb_api_reply_json(req, 200, json_pack("{s:o}", "products", arr));
}

static void h_product(pb_broker_t *b, pb_http_req_t *req, const char *id) {
    pb_addr_t a;
    pb_err_t err = {0};
    char urn[512];
    if (pb_addr_parse_product(id, b->cfg->mesh_namespace, &a, &err)) {
        pb_api_reply_error(req, 404, 404, "no product '%s': %s", id, err.msg);
        return;
    }
    pb_addr_format_product(&a, urn, sizeof urn);
    const pb_product_t *p = pb_registry_product(reg(b), urn);
    if (!p) {
        pb_api_reply_error(req, 404, 404, "no product %s (GET /v1/products lists them)", urn);
        return;
    }
    json_t *o = product_summary(p);
    json_object_set(o, "descriptor", p->json);
    pb_api_reply_json(req, 200, o);
}

static const pb_port_t *registry_lookup(const void *ctx, const char *urn) {
    return pb_registry_port(ctx, urn);
}

/* PUT /v1/products/{urn}: store a descriptor (schemas inline; $ref has no meaning over HTTP).
 * DELETE: remove the product (refused while other products' input ports are bound to it). */
static void h_product_write(pb_broker_t *b, pb_http_req_t *req, const char *id) {
    pb_addr_t a;
    pb_err_t err = {0};
    char urn[512], reqid[PB_ID_UUID_LEN + 1];
    pb_buf_t rec = {0};
    pb_product_t *p = NULL;
    json_t *doc = NULL;
    int code = 0;
    if (pb_addr_parse_product(id, b->cfg->mesh_namespace, &a, &err)) {
        pb_api_reply_error(req, 404, 404, "'%s' is not a product address: %s", id, err.msg);
        return;
    }
    pb_addr_format_product(&a, urn, sizeof urn);
    pb_id_uuid4(reqid);
    if (pb_http_method(req) == PB_HTTP_DELETE) {
        code = pb_registry_record_product_delete(&rec, reqid, urn, &err);
    } else {
        size_t len = 0;
        const char *body = pb_http_body(req, &len);
        json_error_t je;
        doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
        if (!doc) {
            pb_api_reply_error(req, 422, 422, "descriptor: not JSON: line %d column %d: %s",
                               je.line, je.column, je.text);
            goto cleanup;
        }
        char source[600];
        snprintf(source, sizeof source, "PUT /v1/products/%s", urn);
        if (pb_descriptor_parse(doc, NULL, source, b->cfg->mesh_namespace,
                                (int)b->cfg->topic_partitions, &p, &err)) {
            pb_api_reply_error(req, 422, 422, "%s", err.msg);
            goto cleanup;
        }
        if (strcmp(p->fqn, urn) != 0) {
            pb_api_reply_error(
                req, 422, 422,
                "the descriptor is %s but the URL names %s: PUT it under its own URN", p->fqn, urn);
            goto cleanup;
        }
        /* Topics first, so no client can make Kafka auto-create them with its own defaults.
         * Blocking, bounded: an admin call, not a data path. */
        if (pb_broker_ensure_topics(b, p, registry_lookup, reg(b), 10000, &err)) {
            if (err.code == PB_ERR_TOO_LARGE) { /* a limit: nothing was created */
                pb_api_reply_error(req, 413, 413, "%s", err.msg);
                goto cleanup;
            }
            pb_http_set_header(req, "Retry-After", "5");
            pb_api_reply_error(req, 503, 50001, "cannot create the topics of %s: %s", urn, err.msg);
            goto cleanup;
        }
        code = pb_registry_record_product_put(&rec, reqid, p, &err);
    }
    if (code) {
        pb_api_reply_error(req, pb_registry_http_status(code), code, "%s", err.msg);
    } else {
        start_v1_write(b, req, reqid, &rec, 0);
    }
cleanup:
    pb_buf_free(&rec);
    pb_product_destroy(p);
    json_decref(doc);
}

/* ---- subscriptions (bindings) -------------------------------------------------------------- */

static void h_subscriptions(pb_broker_t *b, pb_http_req_t *req, const char *rest) {
    (void)rest;
    json_t *arr = json_array();
    size_t n = pb_registry_binding_count(reg(b));
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, binding_json(b, pb_registry_binding_at(reg(b), i)));
    pb_api_reply_json(req, 200, json_pack("{s:o}", "subscriptions", arr));
}

/* Canonical URN of a port address given in a body field; replies 422 and returns -1 if bad. */
static int body_port(pb_broker_t *b, pb_http_req_t *req, json_t *doc, const char *field,
                     pb_port_kind_t kind, char *urn, size_t cap) {
    pb_addr_t a;
    pb_err_t err = {0};
    const char *s = json_string_value(json_object_get(doc, field));
    if (!s) {
        pb_api_reply_error(req, 422, 422,
                           "subscription: \"%s\" must be a port address (URN or short form)",
                           field);
        return -1;
    }
    if (pb_addr_parse_port(s, b->cfg->mesh_namespace, &a, &err)) {
        pb_api_reply_error(req, 422, 422, "subscription: \"%s\": %s", field, err.msg);
        return -1;
    }
    if (a.kind != kind) {
        pb_api_reply_error(req, 422, 422, "subscription: \"%s\" must be an %s port, '%s' is not",
                           field, kind == PB_PORT_OUTPUT ? "output" : "input", s);
        return -1;
    }
    pb_addr_format(&a, urn, cap);
    return 0;
}

/* PUT /v1/subscriptions {"from": output port, "to": input port, "readerSchema"?, "start"?}:
 * idempotent on from+to; the reader schema is checked against every live writer version. */
static void h_subscription_put(pb_broker_t *b, pb_http_req_t *req, const char *rest) {
    (void)rest;
    size_t len = 0;
    const char *body = pb_http_body(req, &len);
    json_error_t je;
    pb_err_t err = {0};
    char from[512], to[512], reqid[PB_ID_UUID_LEN + 1];
    char *reader = NULL;
    pb_buf_t rec = {0};
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(doc)) {
        pb_api_reply_error(req, 422, 422,
                           "subscription: the body must be a JSON object {\"from\", \"to\", "
                           "\"readerSchema\"?, \"start\"?}%s%s",
                           doc ? "" : ": ", doc ? "" : je.text);
        goto cleanup;
    }
    if (body_port(b, req, doc, "from", PB_PORT_OUTPUT, from, sizeof from) ||
        body_port(b, req, doc, "to", PB_PORT_INPUT, to, sizeof to))
        goto cleanup;
    json_t *rs = json_object_get(doc, "readerSchema");
    if (rs && !json_is_null(rs))
        reader = json_is_string(rs) ? strdup(json_string_value(rs))
                                    : json_dumps(rs, JSON_COMPACT | JSON_ENCODE_ANY);
    const char *start = json_string_value(json_object_get(doc, "start"));
    if (json_object_get(doc, "start") && !start) {
        pb_api_reply_error(req, 422, 422,
                           "subscription: \"start\" must be \"earliest\" or \"latest\"");
        goto cleanup;
    }
    pb_id_uuid4(reqid);
    int code = pb_registry_record_bind(&rec, reqid, from, to, reader, reader ? strlen(reader) : 0,
                                       start, &err);
    if (code) {
        pb_api_reply_error(req, pb_registry_http_status(code), code, "subscription: %s", err.msg);
        goto cleanup;
    }
    start_v1_write(b, req, reqid, &rec, 1);
cleanup:
    free(reader);
    pb_buf_free(&rec);
    json_decref(doc);
}

static const pb_registry_binding_t *find_binding(pb_broker_t *b, pb_http_req_t *req,
                                                 const char *id) {
    char *end = NULL;
    long n = strtol(id, &end, 10);
    const pb_registry_binding_t *bd = NULL;
    if (*id && !*end && n > 0 && n <= INT32_MAX) bd = pb_registry_binding(reg(b), (int)n);
    if (!bd)
        pb_api_reply_error(req, 404, 404, "no subscription '%s' (GET /v1/subscriptions lists them)",
                           id);
    return bd;
}

static void h_subscription(pb_broker_t *b, pb_http_req_t *req, const char *id) {
    size_t idn = strlen(id);
    if (idn > 6 && strcmp(id + idn - 6, "/stats") == 0 && idn - 6 < 32) {
        char num[32];
        memcpy(num, id, idn - 6);
        num[idn - 6] = '\0';
        const pb_registry_binding_t *sbd = find_binding(b, req, num);
        if (sbd && pb_http_method(req) == PB_HTTP_DELETE)
            pb_api_reply_error(req, 405, 405, "stats take GET");
        else if (sbd)
            pb_sub_handle_stats(b->sub, req, sbd);
        return;
    }
    const pb_registry_binding_t *bd = find_binding(b, req, id);
    if (!bd) return;
    if (pb_http_method(req) != PB_HTTP_DELETE) {
        pb_api_reply_json(req, 200, binding_json(b, bd));
        return;
    }
    pb_err_t err = {0};
    char reqid[PB_ID_UUID_LEN + 1];
    pb_buf_t rec = {0};
    pb_id_uuid4(reqid);
    int code = pb_registry_record_unbind(&rec, reqid, bd->id, &err);
    if (code) {
        pb_api_reply_error(req, pb_registry_http_status(code), code, "%s", err.msg);
    } else {
        start_v1_write(b, req, reqid, &rec, 0);
    }
    pb_buf_free(&rec);
}

static void h_ports(pb_broker_t *b, pb_http_req_t *req, const char *rest) {
    (void)rest;
    json_t *arr = json_array();
    size_t n = 0;
    const pb_product_t *const *ps = pb_registry_products(reg(b), &n);
    for (size_t i = 0; i < n; i++) {
        const pb_product_t *p = ps[i];
        for (size_t j = 0; j < p->n_outputs; j++)
            json_array_append_new(arr, port_json(b, &p->outputs[j]));
        for (size_t j = 0; j < p->n_inputs; j++)
            json_array_append_new(arr, port_json(b, &p->inputs[j]));
    }
    pb_api_reply_json(req, 200, json_pack("{s:o}", "ports", arr));
}

/* Resolve a port id (URN or short form) to a loaded port; replies 404 and returns NULL if not. */
static const pb_port_t *find_port(pb_broker_t *b, pb_http_req_t *req, const char *id) {
    pb_addr_t a;
    pb_err_t err = {0};
    char urn[512];
    if (pb_addr_parse_port(id, b->cfg->mesh_namespace, &a, &err)) {
        pb_api_reply_error(req, 404, 404, "no port '%s': %s", id, err.msg);
        return NULL;
    }
    pb_addr_format(&a, urn, sizeof urn);
    const pb_port_t *port = pb_registry_port(reg(b), urn);
    if (!port) pb_api_reply_error(req, 404, 404, "no port %s (GET /v1/ports lists them)", urn);
    return port;
}

static void send_sr(pb_http_req_t *req, pb_sr_reply_t *rep) {
    pb_http_reply(req, rep->status, rep->content_type ? rep->content_type : PB_SR_CONTENT_TYPE,
                  rep->body, rep->body ? strlen(rep->body) : 0);
    pb_sr_reply_reset(rep);
}

static void on_write_done(void *ctx, const pb_registry_result_t *res, int code, const char *msg) {
    write_ctx_t *w = ctx;
    if (!w->v1) {
        if (res)
            pb_sr_complete(&w->rep, res);
        else
            pb_sr_fail(&w->rep, code, msg);
        send_sr(w->req, &w->rep);
    } else if (!res) {
        pb_http_set_header(w->req, "Retry-After", "1");
        pb_api_reply_error(w->req, 503, code, "%s", msg);
    } else if (res->error_code) {
        json_t *o = json_pack("{s:i,s:s}", "error_code", res->error_code, "message",
                              res->message ? res->message : "");
        if (res->body) json_object_set(o, "details", res->body);
        pb_api_reply_json(w->req, res->status, o);
    } else if (w->bind && pb_registry_binding(reg(w->b), res->id)) {
        pb_api_reply_json(w->req, res->status ? res->status : 200,
                          binding_json(w->b, pb_registry_binding(reg(w->b), res->id)));
    } else if (res->body) {
        pb_api_reply_json(w->req, res->status ? res->status : 200, json_incref(res->body));
    } else if (res->op == PB_REGISTRY_OP_REGISTER) {
        pb_api_reply_json(w->req, res->existed ? 200 : 201,
                          json_pack("{s:i,s:i,s:b}", "id", res->id, "version", res->version,
                                    "existed", res->existed));
    } else {
        pb_api_reply_json(w->req, res->status ? res->status : 200, json_pack("{s:b}", "ok", 1));
    }
    free(w);
}

/* Start a write of rec (built with request id reqid); replies when it is applied. */
static void start_write(pb_broker_t *b, pb_http_req_t *req, write_ctx_t *w, const char *reqid,
                        const void *rec, size_t len) {
    pb_err_t err = {0};
    w->req = req;
    if (pb_store_write(b->store, reqid, rec, len, on_write_done, w, &err)) {
        pb_http_set_header(req, "Retry-After", "1");
        if (w->v1)
            pb_api_reply_error(req, 503, 50001, "%s", err.msg);
        else {
            pb_sr_fail(&w->rep, 50001, err.msg);
            send_sr(req, &w->rep);
        }
        free(w);
    }
}

/* The schema a /v1 body carries: {"schema": {...} | "..."} or the schema itself. New string. */
static char *body_schema(pb_http_req_t *req, pb_err_t *err) {
    size_t len = 0;
    const char *body = pb_http_body(req, &len);
    json_error_t je;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    char *text = NULL;
    if (!doc) {
        pb_err_set(err, PB_ERR_INVALID, "body is not JSON: line %d column %d: %s", je.line,
                   je.column, je.text);
        return NULL;
    }
    json_t *sch = json_is_object(doc) ? json_object_get(doc, "schema") : NULL;
    if (!sch) sch = doc;
    text = json_is_string(sch) ? strdup(json_string_value(sch))
                               : json_dumps(sch, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(doc);
    if (!text) pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    return text;
}

static void port_schemas_post(pb_broker_t *b, pb_http_req_t *req, const pb_port_t *port) {
    pb_err_t err = {0};
    char reqid[PB_ID_UUID_LEN + 1];
    pb_buf_t rec = {0};
    if (port->kind != PB_PORT_OUTPUT) {
        pb_api_reply_error(req, 405, 405,
                           "%s is an input port: its reader schema comes with its binding; "
                           "register writer schemas on output ports",
                           port->fqn);
        return;
    }
    char *text = body_schema(req, &err);
    if (!text) {
        pb_api_reply_error(req, 422, 42201, "%s", err.msg);
        return;
    }
    pb_id_uuid4(reqid);
    int code = pb_registry_record_register(&rec, reqid, port->subject, text, strlen(text), &err);
    free(text);
    if (code) {
        pb_api_reply_error(req, pb_registry_http_status(code), code, "%s", err.msg);
    } else {
        start_v1_write(b, req, reqid, &rec, 0);
    }
    pb_buf_free(&rec);
}

static void port_impact(pb_broker_t *b, pb_http_req_t *req, const pb_port_t *port) {
    pb_err_t err = {0};
    json_t *out = NULL;
    char *text = body_schema(req, &err);
    if (!text) {
        pb_api_reply_error(req, 422, 42201, "%s", err.msg);
        return;
    }
    int code = pb_registry_impact(reg(b), port->fqn, text, strlen(text), &out, &err);
    free(text);
    if (code)
        pb_api_reply_error(req, pb_registry_http_status(code), code, "%s", err.msg);
    else
        pb_api_reply_json(req, 200, out);
}

/* /v1/ports/{port}[/schemas|/impact]: the port id may contain '/' (short forms), so the action is
 * the last segment when what precedes it names a port. */
static void h_port(pb_broker_t *b, pb_http_req_t *req, const char *id) {
    static const char *actions[] = {"/schemas", "/impact", "/records", "/cursors"};
    char buf[1024];
    const char *action = NULL;
    for (size_t i = 0; i < sizeof actions / sizeof actions[0] && !action; i++) {
        size_t n = strlen(id), an = strlen(actions[i]);
        if (n > an && n - an < sizeof buf && strcmp(id + n - an, actions[i]) == 0) {
            memcpy(buf, id, n - an);
            buf[n - an] = '\0';
            pb_addr_t a;
            if (pb_addr_parse_port(buf, b->cfg->mesh_namespace, &a, NULL) == 0) {
                action = actions[i];
                id = buf;
            }
        }
    }
    pb_http_method_t m = pb_http_method(req);
    if (action && strcmp(action, "/records") == 0 && m == PB_HTTP_GET) {
        const pb_port_t *port = find_port(b, req, id);
        if (port) pb_sub_handle_records(b->sub, req, port);
        return;
    }
    if (!action && m != PB_HTTP_GET && m != PB_HTTP_HEAD) {
        pb_http_set_header(req, "Allow", "GET, HEAD");
        pb_api_reply_error(req, 405, 405,
                           "method %s is not allowed on a port (POST .../schemas or "
                           ".../impact)",
                           pb_http_method_name(req));
        return;
    }
    if (action && m != PB_HTTP_POST) {
        pb_http_set_header(req, "Allow", "POST");
        pb_api_reply_error(req, 405, 405, "%s takes POST", action + 1);
        return;
    }
    const pb_port_t *port = find_port(b, req, id);
    if (!port) return;
    if (!action)
        pb_api_reply_json(req, 200, port_json(b, port));
    else if (strcmp(action, "/schemas") == 0)
        port_schemas_post(b, req, port);
    else if (strcmp(action, "/records") == 0)
        pb_publish_handle(b, req, port);
    else if (strcmp(action, "/cursors") == 0)
        pb_sub_handle_cursors(b->sub, req, port);
    else
        port_impact(b, req, port);
}

/* ---- Schema Registry–compatible API --------------------------------------------------------- */

static const char *sr_param(void *arg, const char *name) { return pb_http_query(arg, name); }

/* Returns 0 when the path is not a Schema Registry path. */
static int try_sr(pb_broker_t *b, pb_http_req_t *req) {
    char reqid[PB_ID_UUID_LEN + 1];
    size_t len = 0;
    const char *body = pb_http_body(req, &len);
    write_ctx_t *w = calloc(1, sizeof *w);
    if (!w) {
        pb_api_reply_error(req, 503, 50001, "out of memory");
        return 1;
    }
    pb_id_uuid4(reqid);
    switch (pb_sr_handle(reg(b), pb_http_method_name(req), pb_http_raw_path(req), sr_param, req,
                         body, len, reqid, &w->rep)) {
    case PB_SR_NOT_MINE: free(w); return 0;
    case PB_SR_REPLY:
        pb_exporter_sr_reply(b, pb_http_method_name(req), pb_http_raw_path(req), &w->rep);
        send_sr(req, &w->rep);
        free(w);
        return 1;
    case PB_SR_WRITE:
        start_write(b, req, w, w->rep.req, w->rep.record, w->rep.record_len);
        return 1;
    }
    free(w);
    return 0;
}

/* ---- routing -------------------------------------------------------------------------------- */

typedef void (*handler_fn)(pb_broker_t *b, pb_http_req_t *req, const char *rest);

#define M(x) (1u << PB_HTTP_##x)
/* A route matches the whole path, or (prefix) the path's start; `rest` is what follows. Several
 * routes may share a path with different methods; a path with no route for the method is a 405
 * whose Allow lists the ones it has. */
static const struct route {
    const char *path;
    int prefix;
    unsigned methods;
    handler_fn fn;
} routes[] = {
    {"/healthz", 0, M(GET) | M(HEAD), h_healthz},
    {"/readyz", 0, M(GET) | M(HEAD), h_readyz},
    {"/metrics", 0, M(GET) | M(HEAD), pb_exporter_handle},
    {"/v1/products", 0, M(GET) | M(HEAD), h_products},
    {"/v1/products/", 1, M(GET) | M(HEAD), h_product},
    {"/v1/products/", 1, M(PUT) | M(DELETE), h_product_write},
    {"/v1/ports", 0, M(GET) | M(HEAD), h_ports},
    {"/v1/subscriptions", 0, M(GET) | M(HEAD), h_subscriptions},
    {"/v1/subscriptions", 0, M(PUT), h_subscription_put},
    {"/v1/subscriptions/", 1, M(GET) | M(HEAD) | M(DELETE), h_subscription},
    {"/v1/ports/", 1, M(GET) | M(HEAD) | M(POST) | M(PUT) | M(DELETE), h_port},
    {"/v1/status", 0, M(GET) | M(HEAD), pb_ops_h_status},
    {"/v1/lineage", 0, M(GET) | M(HEAD), pb_ops_h_lineage},
    {"/dashboard", 0, M(GET) | M(HEAD), pb_ops_h_dashboard},
    {"/dashboard.js", 0, M(GET) | M(HEAD), pb_ops_h_dashboard_js},
    {"/dashboard.css", 0, M(GET) | M(HEAD), pb_ops_h_dashboard_css},
    {"/dashboard.svg", 0, M(GET) | M(HEAD), pb_ops_h_dashboard_svg},
};
#undef M

static int route_matches(const struct route *r, const char *path, const char **rest) {
    size_t n = strlen(r->path);
    if (r->prefix) {
        if (strncmp(path, r->path, n) != 0 || !path[n]) return 0;
        *rest = path + n;
        return 1;
    }
    /* Exact, tolerating one trailing slash. */
    if (strncmp(path, r->path, n) != 0 || (path[n] && strcmp(path + n, "/") != 0)) return 0;
    *rest = "";
    return 1;
}

void pb_api_handle(pb_http_req_t *req, void *arg) {
    pb_broker_t *b = arg;
    const char *path = pb_http_path(req);
    unsigned m = 1u << pb_http_method(req);
    unsigned allowed = 0;
    pb_log(DEBUG, "api", "%s %s from %s", pb_http_method_name(req), path, pb_http_peer(req));
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const char *rest = NULL;
        if (!route_matches(&routes[i], path, &rest)) continue;
        if (routes[i].methods & m) {
            routes[i].fn(b, req, rest);
            return;
        }
        allowed |= routes[i].methods;
    }
    if (!allowed) {
        if (try_sr(b, req)) return;
        pb_api_reply_error(req, 404, 404, "no route %s %s", pb_http_method_name(req), path);
        return;
    }
    char allow[128] = "";
    static const char *names[] = {"", "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"};
    for (int k = 1; k < 8; k++)
        if (allowed & (1u << k)) {
            if (*allow) strcat(allow, ", ");
            strcat(allow, names[k]);
        }
    pb_http_set_header(req, "Allow", allow);
    pb_api_reply_error(req, 405, 405, "method %s is not allowed on %s (allowed: %s)",
                       pb_http_method_name(req), path, allow);
}
