/*
 * api.c — the route table (one row per path template: methods, who may call it, the bodies it
 * takes) and the /v1 handlers. A request is matched in table order, checked, and handed to its
 * handler, which answers through pb_api_reply_json/pb_api_reply_error; registry writes go through
 * store.c and answer when read back. Schema Registry paths are answered by sr.c.
 * Must not: build HTTP by hand (http.c), decide registry state (registry.c), wait on anything, or
 * reach into the broker (pb_api_env_t, given by broker.c, is what it reads).
 */
#include "api.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "access.h"
#include "addr.h"
#include "descriptor.h"
#include "exporter.h"
#include "gzip.h"
#include "id.h"
#include "log.h"
#include "ops.h"
#include "publish.h"
#include "registry.h"
#include "sr.h"
#include "sample.h"
#include "sub.h"

#define JSON_TYPE "application/json"
#define PB_API_GZIP_MIN 512 /* smallest JSON reply sent gzip-compressed when the client asks */

/* ---- replies -------------------------------------------------------------------------------- */

void pb_api_reply_json(pb_http_req_t *req, int status, json_t *body) {
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        static const char oom[] = "{\"error_code\":50001,\"message\":\"out of memory\"}";
        pb_http_reply(req, 500, JSON_TYPE, oom, sizeof oom - 1);
        return;
    }
    size_t len = strlen(text);
    pb_buf_t z = {0};
    pb_err_t err = {0};
    /* curl --compressed and most clients ask for gzip; small replies are not worth it. */
    if (len >= PB_API_GZIP_MIN && pb_gzip_accepted(pb_http_header(req, "Accept-Encoding")) &&
        pb_gzip_compress(text, len, &z, &err) == 0) {
        pb_http_set_header(req, "Content-Encoding", "gzip");
        pb_http_set_header(req, "Vary", "Accept-Encoding");
        pb_http_reply(req, status, JSON_TYPE, z.data, z.len);
    } else {
        pb_http_reply(req, status, JSON_TYPE, text, len);
    }
    pb_buf_free(&z);
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

static const pb_registry_t *reg(const pb_api_env_t *b) { return pb_store_registry(b->store); }

/* A registry write on behalf of an HTTP request: the reply is sent when the record is read back. */
typedef struct write_ctx {
    pb_http_req_t *req;
    pb_sr_reply_t rep; /* Schema Registry writes */
    int v1;            /* 1: answer in the /v1 shape */
    int bind;          /* 1: answer with the subscription object of the binding */
    pb_api_env_t *b;
} write_ctx_t;
static void start_write(pb_api_env_t *b, pb_http_req_t *req, write_ctx_t *w, const char *reqid,
                        const void *rec, size_t len);

/* Start a /v1 write of rec; bind: answer with the subscription object. */
static void start_v1_write(pb_api_env_t *b, pb_http_req_t *req, const char *reqid,
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
static json_t *binding_json(const pb_api_env_t *b, const pb_registry_binding_t *bd) {
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
static json_t *bindings_json(const pb_api_env_t *b, const pb_port_t *port) {
    json_t *arr = json_array();
    size_t n = pb_registry_binding_count(reg(b));
    for (size_t i = 0; i < n; i++) {
        const pb_registry_binding_t *bd = pb_registry_binding_at(reg(b), i);
        const char *side = port->kind == PB_PORT_OUTPUT ? bd->from : bd->to;
        if (strcmp(side, port->fqn) == 0) json_array_append_new(arr, binding_json(b, bd));
    }
    return arr;
}

static json_t *port_json(const pb_api_env_t *b, const pb_port_t *port) {
    const pb_product_t *p = port->product;
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:s}", "fqn", port->fqn, "kind",
        pb_addr_kind_name(port->kind), "product", p->fqn, "major", (int)p->major, "name",
        port->name, "version", port->version, "topic", port->topic, "dlqTopic", port->dlq_topic,
        "partitions", port->partitions, "subject", port->subject, "compatibility",
        pb_compat_level_name(pb_registry_port_level(reg(b), port)), "owner", p->owner);
    if (!o) return NULL;
    json_object_set_new(o, "schemas", pb_registry_port_schemas(reg(b), port));
    /* A data contract's rules are stored and served but not executed yet: say so, never pretend. */
    pb_registry_version_t latest;
    pb_err_t lerr = {0};
    if (!pb_registry_get_version(reg(b), port->subject, -1, 0, &latest, &lerr) &&
        pb_registry_rule_count(latest.rule_set) > 0)
        json_object_set_new(o, "rulesEnforced", json_false());
    json_object_set_new(o, "schema", pb_port_schema_json(port, 0));
    if (pb_port_has_key_schema(port))
        json_object_set_new(o, "keySchema", pb_port_schema_json(port, 1));
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

static void h_healthz(pb_api_env_t *b, pb_http_req_t *req, const char *rest) {
    (void)rest;
    pb_api_reply_health(req, b->failure ? b->failure(b->owner) : NULL);
}

void pb_api_reply_health(pb_http_req_t *req, const char *failure) {
    if (failure)
        pb_api_reply_json(req, 503, json_pack("{s:s,s:s}", "status", "failed", "reason", failure));
    else
        pb_api_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

static void h_readyz(pb_api_env_t *b, pb_http_req_t *req, const char *rest) {
    (void)rest;
    const char *why = NULL;
    int ready = b->ready(b->owner, &why);
    json_t *o = json_pack("{s:b,s:b,s:b,s:i}", "ready", ready, "kafka",
                          pb_kafka_reachable(b->kafka), "embeddedKafka",
                          pb_kafka_is_embedded(b->kafka), "products", (int)b->n_products(b->owner));
    json_object_set_new(o, "registry",
                        json_pack("{s:I,s:I}", "position", (json_int_t)pb_store_position(b->store),
                                  "replayEnd", (json_int_t)pb_store_replay_end(b->store)));
    if (why) json_object_set_new(o, "reason", json_string(why));
    if (!ready) pb_http_set_header(req, "Retry-After", "1");
    pb_api_reply_json(req, ready ? 200 : 503, o);
}

static void h_products(pb_api_env_t *b, pb_http_req_t *req, const char *rest) {
    (void)rest;
    json_t *arr = json_array();
    size_t n = 0;
    const pb_product_t *const *ps = pb_registry_products(reg(b), &n);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, product_summary(ps[i]));
    pb_api_reply_json(req, 200, json_pack("{s:o}", "products", arr));
}

static void h_product(pb_api_env_t *b, pb_http_req_t *req, const char *id) {
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
    json_t *o = product_summary(p), *d = pb_product_json(p);
    if (!d || json_object_set_new(o, "descriptor", d)) { /* steals d, also on failure */
        json_decref(o);
        pb_api_reply_error(req, 500, 50001, "out of memory");
        return;
    }
    pb_api_reply_json(req, 200, o);
}

static const pb_port_t *registry_lookup(const void *ctx, const char *urn) {
    return pb_registry_port(ctx, urn);
}

/* A PUT /v1/products waiting for its topics (PB_JOB_TOPICS). */
typedef struct product_put {
    pb_api_env_t *b;
    pb_http_req_t *req; /* replied to in product_topics_done (valid until then, even if the
                           client left: the reply frees it) */
    pb_product_t *p;
    char reqid[PB_ID_UUID_LEN + 1];
    char urn[512];
} product_put_t;

static void product_topics_done(void *arg, int rc, const pb_err_t *terr, int cancelled) {
    product_put_t *pp = arg;
    pb_buf_t rec = {0};
    pb_err_t err = {0};
    int code;
    if (cancelled) goto cleanup; /* shutting down: the HTTP server and its requests are gone */
    if (rc) {
        pb_http_set_header(pp->req, "Retry-After", "5");
        pb_api_reply_error(pp->req, 503, 50001, "cannot create the topics of %s: %s", pp->urn,
                           terr->msg);
    } else if ((code = pb_registry_record_product_put(&rec, pp->reqid, pp->p, &err))) {
        pb_api_reply_error(pp->req, pb_sr_http_status(code), code, "%s", err.msg);
    } else {
        start_v1_write(pp->b, pp->req, pp->reqid, &rec, 0);
    }
cleanup:
    pb_buf_free(&rec);
    pb_product_destroy(pp->p);
    free(pp);
}

/* PUT /v1/products/{urn}: store a descriptor (schemas inline; $ref has no meaning over HTTP).
 * DELETE: remove the product (refused while other products' input ports are bound to it). */
static void h_product_write(pb_api_env_t *b, pb_http_req_t *req, const char *id) {
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
        doc = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
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
        /* Topics first, so no client can make Kafka auto-create them with its own defaults. A
         * job (Kafka may take seconds, or not answer): the reply follows in product_topics_done. */
        product_put_t *pp = calloc(1, sizeof *pp);
        if (!pp) {
            pb_api_reply_error(req, 503, 50001, "out of memory");
            goto cleanup;
        }
        *pp = (product_put_t){.b = b, .req = req, .p = p};
        snprintf(pp->reqid, sizeof pp->reqid, "%s", reqid);
        snprintf(pp->urn, sizeof pp->urn, "%s", urn);
        if (b->ensure_topics(b->owner, p, registry_lookup, reg(b), 10000, product_topics_done, pp,
                             &err)) {
            free(pp);
            if (err.code == PB_ERR_TOO_LARGE) /* a limit: nothing was created */
                pb_api_reply_error(req, 413, 413, "%s", err.msg);
            else if (err.code == PB_ERR_INVALID) /* a reserved topic: nothing was created */
                pb_api_reply_error(req, 422, 422, "%s", err.msg);
            else
                pb_api_reply_error(req, 503, 50001, "%s", err.msg);
            goto cleanup;
        }
        p = NULL; /* the job's now */
        goto cleanup;
    }
    if (code) {
        pb_api_reply_error(req, pb_sr_http_status(code), code, "%s", err.msg);
    } else {
        start_v1_write(b, req, reqid, &rec, 0);
    }
cleanup:
    pb_buf_free(&rec);
    pb_product_destroy(p);
    json_decref(doc);
}

/* ---- subscriptions (bindings) -------------------------------------------------------------- */

static void h_subscriptions(pb_api_env_t *b, pb_http_req_t *req, const char *rest) {
    (void)rest;
    json_t *arr = json_array();
    size_t n = pb_registry_binding_count(reg(b));
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, binding_json(b, pb_registry_binding_at(reg(b), i)));
    pb_api_reply_json(req, 200, json_pack("{s:o}", "subscriptions", arr));
}

/* Canonical URN of a port address given in a body field; replies 422 and returns -1 if bad. */
/* v's text when v is a JSON string without U+0000, else NULL. Bodies are parsed with
 * JSON_ALLOW_NUL (a schema default may hold "\u0000"), so a string used as C text (an address,
 * a schema's JSON text) must be checked: cut at its NUL it would name something else. */
static const char *c_text(const json_t *v) {
    const char *s = json_string_value(v);
    return s && strlen(s) == json_string_length(v) ? s : NULL;
}

static int body_port(pb_api_env_t *b, pb_http_req_t *req, json_t *doc, const char *field,
                     pb_port_kind_t kind, char *urn, size_t cap) {
    pb_addr_t a;
    pb_err_t err = {0};
    const char *s = c_text(json_object_get(doc, field));
    if (!s) {
        pb_api_reply_error(req, 422, 422,
                           "subscription: \"%s\" must be a port address (URN or short form) "
                           "without U+0000",
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
static void h_subscription_put(pb_api_env_t *b, pb_http_req_t *req, const char *rest) {
    (void)rest;
    size_t len = 0;
    const char *body = pb_http_body(req, &len);
    json_error_t je;
    pb_err_t err = {0};
    char from[512], to[512], reqid[PB_ID_UUID_LEN + 1];
    char *reader = NULL;
    pb_buf_t rec = {0};
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
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
    if (json_is_string(rs) && !c_text(rs)) {
        pb_api_reply_error(req, 422, 422,
                           "subscription: \"readerSchema\" as a string is the schema's JSON text, "
                           "which cannot hold a raw U+0000 (inside its strings write \\u0000)");
        goto cleanup;
    }
    if (rs && !json_is_null(rs))
        reader = json_is_string(rs) ? strdup(json_string_value(rs))
                                    : json_dumps(rs, JSON_COMPACT | JSON_ENCODE_ANY);
    const char *start = c_text(json_object_get(doc, "start"));
    if (json_object_get(doc, "start") && !start) {
        pb_api_reply_error(req, 422, 422,
                           "subscription: \"start\" must be \"earliest\" or \"latest\"");
        goto cleanup;
    }
    pb_id_uuid4(reqid);
    int code = pb_registry_record_bind(&rec, reqid, from, to, reader, reader ? strlen(reader) : 0,
                                       start, &err);
    if (code) {
        pb_api_reply_error(req, pb_sr_http_status(code), code, "subscription: %s", err.msg);
        goto cleanup;
    }
    start_v1_write(b, req, reqid, &rec, 1);
cleanup:
    free(reader);
    pb_buf_free(&rec);
    json_decref(doc);
}

static const pb_registry_binding_t *find_binding(pb_api_env_t *b, pb_http_req_t *req,
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

static void h_subscription_stats(pb_api_env_t *b, pb_http_req_t *req, const char *id) {
    const pb_registry_binding_t *bd = find_binding(b, req, id);
    if (bd) pb_sub_handle_stats(b->sub, req, bd);
}

static void h_subscription(pb_api_env_t *b, pb_http_req_t *req, const char *id) {
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
        pb_api_reply_error(req, pb_sr_http_status(code), code, "%s", err.msg);
    } else {
        start_v1_write(b, req, reqid, &rec, 0);
    }
    pb_buf_free(&rec);
}

static void h_ports(pb_api_env_t *b, pb_http_req_t *req, const char *rest) {
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
static const pb_port_t *find_port(pb_api_env_t *b, pb_http_req_t *req, const char *id) {
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

/* The ids a write's audit line names. */
static void note_result(pb_http_req_t *req, const pb_registry_result_t *res) {
    switch (res->op) {
    case PB_REGISTRY_OP_REGISTER:
        pb_access_note(req, "schema_id=%d version=%d", res->id, res->version);
        break;
    case PB_REGISTRY_OP_DELETE_VERSION: pb_access_note(req, "version=%d", res->version); break;
    case PB_REGISTRY_OP_BIND:
    case PB_REGISTRY_OP_UNBIND: pb_access_note(req, "binding=%d", res->id); break;
    default: break;
    }
    if (res->error_code) pb_access_note(req, "error_code=%d", res->error_code);
}

static void on_write_done(void *ctx, const pb_registry_result_t *res, int code, const char *msg) {
    write_ctx_t *w = ctx;
    if (res) note_result(w->req, res);
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
        pb_api_reply_json(w->req, pb_sr_http_status(res->error_code), o);
    } else if (w->bind && pb_registry_binding(reg(w->b), res->id)) {
        pb_api_reply_json(w->req, res->created ? 201 : 200,
                          binding_json(w->b, pb_registry_binding(reg(w->b), res->id)));
    } else if (res->body) {
        pb_api_reply_json(w->req, res->created ? 201 : 200, json_incref(res->body));
    } else if (res->op == PB_REGISTRY_OP_REGISTER) {
        pb_api_reply_json(w->req, res->existed ? 200 : 201,
                          json_pack("{s:i,s:i,s:b}", "id", res->id, "version", res->version,
                                    "existed", res->existed));
    } else {
        pb_api_reply_json(w->req, res->created ? 201 : 200, json_pack("{s:b}", "ok", 1));
    }
    free(w);
}

/* Start a write of rec (built with request id reqid); replies when it is applied. */
static void start_write(pb_api_env_t *b, pb_http_req_t *req, write_ctx_t *w, const char *reqid,
                        const void *rec, size_t len) {
    pb_err_t err = {0};
    pb_buf_t stamped = {0};
    w->req = req;
    /* The principal goes into the record that makes the change (DESIGN §9 audit). */
    const char *by = pb_access_principal(req);
    if (by && pb_registry_record_stamp(rec, len, by, &stamped, &err) == 0) {
        rec = stamped.data;
        len = stamped.len;
    }
    int rc = pb_store_write(b->store, reqid, rec, len, on_write_done, w, &err);
    pb_buf_free(&stamped);
    if (rc) {
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
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    char *text = NULL;
    if (!doc) {
        pb_err_set(err, PB_ERR_INVALID, "body is not JSON: line %d column %d: %s", je.line,
                   je.column, je.text);
        return NULL;
    }
    json_t *sch = json_is_object(doc) ? json_object_get(doc, "schema") : NULL;
    if (!sch) sch = doc;
    if (json_is_string(sch) && !c_text(sch)) {
        json_decref(doc);
        pb_err_set(err, PB_ERR_INVALID,
                   "\"schema\" as a string is the schema's JSON text, which cannot hold a raw "
                   "U+0000 (inside its strings write \\u0000)");
        return NULL;
    }
    text = json_is_string(sch) ? strdup(json_string_value(sch))
                               : json_dumps(sch, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(doc);
    if (!text) pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    return text;
}

static void port_schemas_post(pb_api_env_t *b, pb_http_req_t *req, const pb_port_t *port) {
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
        pb_api_reply_error(req, pb_sr_http_status(code), code, "%s", err.msg);
    } else {
        start_v1_write(b, req, reqid, &rec, 0);
    }
    pb_buf_free(&rec);
}

static void port_impact(pb_api_env_t *b, pb_http_req_t *req, const pb_port_t *port) {
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
        pb_api_reply_error(req, pb_sr_http_status(code), code, "%s", err.msg);
    else
        pb_api_reply_json(req, 200, out);
}

/* GET /v1/ports/{port}: the port object. */
static void h_port(pb_api_env_t *b, pb_http_req_t *req, const char *id) {
    const pb_port_t *port = find_port(b, req, id);
    if (port) pb_api_reply_json(req, 200, port_json(b, port));
}

static void h_port_schemas(pb_api_env_t *b, pb_http_req_t *req, const char *id) {
    const pb_port_t *port = find_port(b, req, id);
    if (port) port_schemas_post(b, req, port);
}

static void h_port_impact(pb_api_env_t *b, pb_http_req_t *req, const char *id) {
    const pb_port_t *port = find_port(b, req, id);
    if (port) port_impact(b, req, port);
}

static void h_port_publish(pb_api_env_t *b, pb_http_req_t *req, const char *id) {
    const pb_port_t *port = find_port(b, req, id);
    if (port) pb_publish_handle(&b->publish, req, port);
}

static void h_port_sample(pb_api_env_t *b, pb_http_req_t *req, const char *id) {
    const pb_port_t *port = find_port(b, req, id);
    if (port) pb_sample_handle(b->sample, req, port);
}

static void h_port_stream(pb_api_env_t *b, pb_http_req_t *req, const char *id) {
    const pb_port_t *port = find_port(b, req, id);
    if (port) pb_sub_handle_records(b->sub, req, port);
}

static void h_port_cursors(pb_api_env_t *b, pb_http_req_t *req, const char *id) {
    const pb_port_t *port = find_port(b, req, id);
    if (port) pb_sub_handle_cursors(b->sub, req, port);
}

/* ---- Schema Registry–compatible API --------------------------------------------------------- */

static const char *sr_param(void *arg, const char *name) { return pb_http_query(arg, name); }

/* Returns 0 when the path is not a Schema Registry path. sr.c parses the raw path itself (a subject
 * may hold an encoded '/'); the route table only says which paths and methods exist. */
static int try_sr(pb_api_env_t *b, pb_http_req_t *req) {
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
        pb_exporter_sr_reply(b->exporter, pb_http_method_name(req), pb_http_raw_path(req), &w->rep);
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

typedef void (*handler_fn)(pb_api_env_t *b, pb_http_req_t *req, const char *arg);

static void h_sr(pb_api_env_t *b, pb_http_req_t *req, const char *arg) {
    (void)arg;
    if (!try_sr(b, req))
        pb_api_reply_error(req, 404, 404, "no route %s %s", pb_http_method_name(req),
                           pb_http_path(req));
}

/* GET /metrics, with the env's pb_exporter_t. */
static void h_metrics(pb_api_env_t *b, pb_http_req_t *req, const char *arg) {
    pb_exporter_handle(b->exporter, req, arg);
}

/* The ops module's routes, with the env's pb_ops_t. */
#define OPS_ROUTE(name)                                                                            \
    static void h_ops_##name(pb_api_env_t *b, pb_http_req_t *req, const char *arg) {               \
        pb_ops_h_##name(b->ops, req, arg);                                                         \
    }
OPS_ROUTE(status)
OPS_ROUTE(lineage)
OPS_ROUTE(root)
OPS_ROUTE(openapi)
OPS_ROUTE(dashboard)
OPS_ROUTE(dashboard_js)
OPS_ROUTE(dashboard_css)
OPS_ROUTE(dashboard_svg)
#undef OPS_ROUTE

#define M(x) (1u << PB_HTTP_##x)
#define GET_ (M(GET) | M(HEAD))
#define J PB_API_MEDIA_JSON
#define JN (PB_API_MEDIA_JSON | PB_API_MEDIA_NDJSON)
#define RP PB_API_REPLAYED
#define SR (PB_API_SR | PB_API_REPLAYED)
/* Every route the server has, in match order (the first whose template and method match wins;
 * where a path matches but no method does, the answer is 405 with the methods it has). A template
 * is literal segments and {params}: {port} and {product} take a URN or a short form (one or more
 * segments; followed by more segments, what they capture must parse as an address), any other
 * {param} exactly one segment. The handler gets the first param, decoded. Schema Registry routes
 * match the raw path (a subject may hold an encoded '/') and are answered by sr.c. */
static const struct route {
    pb_api_route_t r;
    handler_fn fn;
} routes[] = {
    {{GET_, "/healthz", PB_API_OPEN, 0, 0, "liveness"}, h_healthz},
    {{GET_, "/readyz", PB_API_OPEN, 0, 0, "readiness: registry replayed and Kafka reachable"},
     h_readyz},
    {{GET_, "/metrics", PB_API_METRICS, 0, 0, "Prometheus metrics"}, h_metrics},
    {{GET_, "/v1/products", PB_API_READ, 0, RP, "list data products"}, h_products},
    {{GET_, "/v1/products/{product}", PB_API_READ, 0, RP, "a product and its descriptor"},
     h_product},
    {{M(PUT) | M(DELETE), "/v1/products/{product}", PB_API_PRODUCT_OWNER, J, RP,
      "store (PUT, a descriptor) or remove (DELETE) a product"},
     h_product_write},
    {{GET_, "/v1/ports", PB_API_READ, 0, RP, "list ports"}, h_ports},
    {{M(POST), "/v1/ports/{port}/schemas", PB_API_OUTPUT_OWNER, J, RP,
      "register a schema version on an output port"},
     h_port_schemas},
    {{M(POST), "/v1/ports/{port}/impact", PB_API_READ, J, RP,
      "dry run: which levels and subscribers a candidate schema would break"},
     h_port_impact},
    {{M(POST), "/v1/ports/{port}/records", PB_API_OUTPUT_OWNER, JN, RP,
      "publish records to an output port"},
     h_port_publish},
    {{GET_, "/v1/ports/{port}/records", PB_API_INPUT_OWNER, 0, RP,
      "stream an input port's records (ndjson or SSE)"},
     h_port_stream},
    {{M(POST), "/v1/ports/{port}/cursors", PB_API_INPUT_OWNER, J, RP,
      "commit an input port's stream cursors"},
     h_port_cursors},
    {{GET_, "/v1/ports/{port}/sample", PB_API_PORT_OWNER, 0, RP,
      "the port's most recent records (sample data)"},
     h_port_sample},
    {{GET_, "/v1/ports/{port}", PB_API_READ, 0, RP, "a port"}, h_port},
    {{GET_, "/v1/subscriptions", PB_API_READ, 0, RP, "list bindings"}, h_subscriptions},
    {{M(PUT), "/v1/subscriptions", PB_API_SUBSCRIPTION, J, RP,
      "bind an input port to an output port"},
     h_subscription_put},
    {{GET_, "/v1/subscriptions/{id}/stats", PB_API_READ, 0, RP, "a binding's lag per partition"},
     h_subscription_stats},
    {{GET_, "/v1/subscriptions/{id}", PB_API_READ, 0, RP, "a binding"}, h_subscription},
    {{M(DELETE), "/v1/subscriptions/{id}", PB_API_SUBSCRIPTION, 0, RP, "remove a binding"},
     h_subscription},
    {{GET_, "/v1/status", PB_API_READ, 0, 0, "the dashboard's JSON"}, h_ops_status},
    {{GET_, "/v1/lineage", PB_API_READ, 0, 0, "the product and port graph"}, h_ops_lineage},
    {{GET_, "/", PB_API_OPEN, 0, 0, "redirect to /dashboard"}, h_ops_root},
    {{GET_, "/v1/openapi.json", PB_API_READ, 0, 0, "this API's OpenAPI 3.1 document"},
     h_ops_openapi},
    {{GET_, "/dashboard", PB_API_READ, 0, 0, "the ops console"}, h_ops_dashboard},
    {{GET_, "/dashboard.js", PB_API_READ, 0, 0, "the console's script"}, h_ops_dashboard_js},
    {{GET_, "/dashboard.css", PB_API_READ, 0, 0, "the console's style"}, h_ops_dashboard_css},
    {{GET_, "/dashboard.svg", PB_API_READ, 0, 0, "the console's icon"}, h_ops_dashboard_svg},
    /* Schema Registry–compatible API (DESIGN §5). */
    {{M(GET), "/subjects", PB_API_READ, 0, SR, "list subjects"}, h_sr},
    {{M(POST), "/subjects/{subject}", PB_API_READ, J, SR, "look a schema up in a subject"}, h_sr},
    {{M(DELETE), "/subjects/{subject}", PB_API_ADMIN, 0, SR, "delete a subject"}, h_sr},
    {{M(GET), "/subjects/{subject}/versions", PB_API_READ, 0, SR, "a subject's versions"}, h_sr},
    {{M(POST), "/subjects/{subject}/versions", PB_API_SUBJECT_OWNER, J, SR,
      "register a schema under a subject"},
     h_sr},
    {{M(GET), "/subjects/{subject}/versions/{version}", PB_API_READ, 0, SR, "a version"}, h_sr},
    {{M(DELETE), "/subjects/{subject}/versions/{version}", PB_API_ADMIN, 0, SR, "delete a version"},
     h_sr},
    {{M(GET), "/subjects/{subject}/versions/{version}/schema", PB_API_READ, 0, SR,
      "a version's schema text"},
     h_sr},
    {{M(GET), "/subjects/{subject}/versions/{version}/referencedby", PB_API_READ, 0, SR,
      "ids of schemas that reference a version"},
     h_sr},
    {{M(GET), "/schemas", PB_API_READ, 0, SR,
      "schema versions (?subjectPrefix, ?latestOnly, ?deleted, ?offset, ?limit)"},
     h_sr},
    {{M(GET), "/schemas/types", PB_API_READ, 0, SR, "schema types"}, h_sr},
    {{M(GET), "/schemas/ids/{id}", PB_API_READ, 0, SR, "a schema by id"}, h_sr},
    {{M(GET), "/schemas/ids/{id}/schema", PB_API_READ, 0, SR, "a schema's text by id"}, h_sr},
    {{M(GET), "/schemas/ids/{id}/versions", PB_API_READ, 0, SR, "subject-versions of an id"}, h_sr},
    {{M(GET), "/schemas/ids/{id}/subjects", PB_API_READ, 0, SR, "subjects of an id"}, h_sr},
    {{M(POST), "/compatibility/subjects/{subject}/versions", PB_API_READ, J, SR,
      "test a schema against a subject's versions"},
     h_sr},
    {{M(POST), "/compatibility/subjects/{subject}/versions/{version}", PB_API_READ, J, SR,
      "test a schema against one version"},
     h_sr},
    {{M(GET), "/config", PB_API_READ, 0, SR, "the global compatibility level"}, h_sr},
    {{M(PUT), "/config", PB_API_ADMIN, J, SR, "set the global compatibility level"}, h_sr},
    {{M(GET), "/config/{subject}", PB_API_READ, 0, SR, "a subject's compatibility level"}, h_sr},
    {{M(PUT) | M(DELETE), "/config/{subject}", PB_API_SUBJECT_OWNER, J, SR,
      "set or clear a subject's compatibility level"},
     h_sr},
    {{M(GET), "/mode", PB_API_READ, 0, SR, "the registry mode"}, h_sr},
    {{M(PUT) | M(DELETE), "/mode", PB_API_ADMIN, J, SR,
      "set (READWRITE, READONLY, IMPORT) or reset the global mode"},
     h_sr},
    {{M(GET), "/mode/{subject}", PB_API_READ, 0, SR, "a subject's mode"}, h_sr},
    {{M(PUT) | M(DELETE), "/mode/{subject}", PB_API_SUBJECT_OWNER, J, SR,
      "set or clear a subject's mode"},
     h_sr},
};
#undef M
#undef GET_
#undef J
#undef JN
#undef RP
#undef SR

size_t pb_api_route_count(void) { return sizeof routes / sizeof routes[0]; }

const pb_api_route_t *pb_api_route_at(size_t i) {
    return i < pb_api_route_count() ? &routes[i].r : NULL;
}

/* Is a {param} an address that may span segments? */
static int multi_segment(const char *name, size_t len) {
    return (len == 6 && memcmp(name, "{port}", 6) == 0) ||
           (len == 9 && memcmp(name, "{product}", 9) == 0);
}

/* Does path (no query) match tmpl? On a match, the first param's text (raw, undecoded) is
 * [*arg, *arg + *arg_len). ns resolves short forms where a multi-segment param must be an
 * address. Pure. */
static int match(const char *tmpl, const char *path, const char *ns, const char **arg,
                 size_t *arg_len, int have_arg) {
    while (*tmpl == '/' && *path == '/') {
        tmpl++;
        path++;
        const char *te = strchr(tmpl, '/'), *pe = strchr(path, '/');
        size_t tl = te ? (size_t)(te - tmpl) : strlen(tmpl);
        size_t pl = pe ? (size_t)(pe - path) : strlen(path);
        if (tl && tmpl[0] == '{') {
            if (!pl) return 0;
            if (multi_segment(tmpl, tl)) {
                if (!te) { /* last: everything that remains (a trailing '/' excepted) */
                    size_t all = strlen(path);
                    if (all && path[all - 1] == '/') all--;
                    if (!all) return 0;
                    if (!have_arg) *arg = path, *arg_len = all;
                    return 1;
                }
                /* Followed by more: try the longest capture that leaves a match for the rest
                 * and parses as an address (a port may be called "records"). */
                for (const char *cut = path + strlen(path); cut > path; cut--) {
                    if (*cut != '/') continue;
                    char id[1024];
                    size_t n = (size_t)(cut - path);
                    if (n >= sizeof id) continue;
                    memcpy(id, path, n);
                    id[n] = '\0';
                    pb_addr_t a;
                    int ok = tl == 6 ? pb_addr_parse_port(id, ns, &a, NULL) == 0
                                     : pb_addr_parse_product(id, ns, &a, NULL) == 0;
                    const char *a0 = NULL;
                    size_t l0 = 0;
                    if (ok && match(te, cut, ns, &a0, &l0, 1)) {
                        if (!have_arg) *arg = path, *arg_len = n;
                        return 1;
                    }
                }
                return 0;
            }
            if (!have_arg) *arg = path, *arg_len = pl;
            have_arg = 1;
        } else if (tl != pl || memcmp(tmpl, path, tl) != 0) {
            return 0;
        }
        tmpl += tl;
        path += pl;
    }
    /* Both done, tolerating one trailing slash on the path. */
    return !*tmpl && (!*path || strcmp(path, "/") == 0);
}

int pb_api_route_match(const pb_api_route_t *r, const char *path, const char *ns, char *arg,
                       size_t arg_size) {
    const char *a = NULL;
    size_t n = 0;
    if (!match(r->path, path, ns, &a, &n, 0)) return 0;
    if (arg_size) {
        if (n >= arg_size) n = arg_size - 1;
        if (n) memcpy(arg, a, n);
        arg[n] = '\0';
    }
    return 1;
}

static const char *const method_names[] = {"",       "GET",  "POST",    "PUT",
                                           "DELETE", "HEAD", "OPTIONS", "PATCH"};

int pb_api_methods_format(unsigned methods, char *out, size_t size) {
    size_t used = 0;
    if (size) out[0] = '\0';
    for (int k = 1; k < 8; k++) {
        if (!(methods & (1u << k))) continue;
        int n = snprintf(out + used, size > used ? size - used : 0, "%s%s", used ? ", " : "",
                         method_names[k]);
        if (n < 0 || (size_t)n >= (size > used ? size - used : 0)) return -1;
        used += (size_t)n;
    }
    return 0;
}

/* The media types each PB_API_MEDIA_* bit admits. */
static const struct {
    unsigned bit;
    const char *type;
} media_types[] = {
    {PB_API_MEDIA_JSON, "application/json"},
    {PB_API_MEDIA_JSON, "application/vnd.schemaregistry.v1+json"},
    {PB_API_MEDIA_JSON, "application/vnd.schemaregistry+json"},
    {PB_API_MEDIA_NDJSON, "application/x-ndjson"},
    {PB_API_MEDIA_NDJSON, "application/ndjson"},
    {PB_API_MEDIA_NDJSON, "application/jsonl"},
};

/* The one media-type gate (DESIGN §5): a request to a route that takes a body (r->media != 0)
 * whose Content-Type is present and not one of the route's types, or that has a body and no
 * Content-Type at all, gets 415 naming what was sent and what is accepted. A body-less request
 * without Content-Type (DELETE, an empty POST) passes: the handler judges it. This closes the
 * browser "simple request" hole (text/plain, x-www-form-urlencoded, multipart). Returns 1 if a
 * 415 was sent (req freed), else 0. */
static int media_check(pb_http_req_t *req, const pb_api_route_t *r) {
    if (!r->media) return 0;
    const char *ct = pb_http_header(req, "Content-Type");
    size_t len = 0;
    (void)pb_http_body(req, &len);
    if ((!ct || !*ct) && !len) return 0;
    if (ct && *ct)
        for (size_t i = 0; i < sizeof media_types / sizeof media_types[0]; i++)
            if ((r->media & media_types[i].bit) && pb_http_media_is(ct, media_types[i].type))
                return 0;
    char accepted[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < sizeof media_types / sizeof media_types[0]; i++) {
        if (!(r->media & media_types[i].bit)) continue;
        int n = snprintf(accepted + used, sizeof accepted - used, "%s%s", used ? ", " : "",
                         media_types[i].type);
        if (n < 0 || (size_t)n >= sizeof accepted - used) break;
        used += (size_t)n;
    }
    char sent[128];
    snprintf(sent, sizeof sent, "%s", ct && *ct ? ct : "");
    for (char *c = sent; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e) *c = '?';
    if (ct && *ct)
        pb_api_reply_error(req, 415, 415,
                           "Content-Type '%s' is not accepted on %s %s: send one of %s", sent,
                           pb_http_method_name(req), r->path, accepted);
    else
        pb_api_reply_error(req, 415, 415,
                           "a %zu-byte body without Content-Type is not accepted on %s %s: send "
                           "one of %s",
                           len, pb_http_method_name(req), r->path, accepted);
    return 1;
}

void pb_api_handle(pb_http_req_t *req, void *arg) {
    pb_api_env_t *b = arg;
    const char *path = pb_http_path(req);
    unsigned m = 1u << pb_http_method(req);
    unsigned allowed = 0;
    char param[1024];
    pb_log(DEBUG, "api", "%s %s from %s", pb_http_method_name(req), path, pb_http_peer(req));
    for (size_t i = 0; i < pb_api_route_count(); i++) {
        const struct route *rt = &routes[i];
        const char *p = rt->r.flags & PB_API_SR ? pb_http_raw_path(req) : path;
        if (!pb_api_route_match(&rt->r, p, b->cfg->mesh_namespace, param, sizeof param)) continue;
        if (rt->r.methods & m) {
            /* Before the access check, which reads owners from the same state. */
            if ((rt->r.flags & PB_API_REPLAYED) && b->reply_if_loading(b->owner, req)) return;
            if (pb_access_check(b->access, reg(b), req, &rt->r, param))
                return;                           /* 401, 403 or 429 sent */
            if (media_check(req, &rt->r)) return; /* 415 sent */
            rt->fn(b, req, param);
            return;
        }
        allowed |= rt->r.methods;
    }
    if (!allowed) {
        /* Under the registry's roots sr.c answers Confluent's own 404/405 bodies. It only answers
         * what the table lists, but a path outside the table is still held to the strictest rule
         * for its kind, so nothing is reachable around the table. */
        static const pb_api_route_t other_read = {0, "(no route)", PB_API_READ,
                                                  0, PB_API_SR,    "read"};
        static const pb_api_route_t other_write = {0, "(no route)", PB_API_ADMIN,
                                                   0, PB_API_SR,    "write"};
        int read = m & ((1u << PB_HTTP_GET) | (1u << PB_HTTP_HEAD) | (1u << PB_HTTP_OPTIONS));
        if (pb_access_check(b->access, reg(b), req, read ? &other_read : &other_write, "")) return;
        if (try_sr(b, req)) return;
        pb_api_reply_error(req, 404, 404, "no route %s %s", pb_http_method_name(req), path);
        return;
    }
    char allow[128];
    pb_api_methods_format(allowed, allow, sizeof allow);
    pb_http_set_header(req, "Allow", allow);
    pb_api_reply_error(req, 405, 405, "method %s is not allowed on %s (allowed: %s)",
                       pb_http_method_name(req), path, allow);
}
