#include "api.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "broker.h"
#include "descriptor.h"
#include "log.h"

#define JSON_TYPE "application/json"

/* ---- replies -------------------------------------------------------------------------------- */

/* Reply with a JSON document; steals the reference to body. */
static void reply_json(pb_http_req_t *req, int status, json_t *body) {
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

static void reply_error(pb_http_req_t *req, int status, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void reply_error(pb_http_req_t *req, int status, int code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (status >= 500) pb_log(WARN, "api", "%s %s: %d %s", pb_http_method_name(req),
                              pb_http_path(req), status, msg);
    reply_json(req, status, json_pack("{s:i,s:s}", "error_code", code, "message", msg));
}

/* ---- JSON views ----------------------------------------------------------------------------- */

static json_t *slo_json(const pb_slo_t *s) {
    json_t *o = json_object();
    if (s->has_freshness) json_object_set_new(o, "freshnessSeconds", json_real(s->freshness_ms / 1000.0));
    if (s->has_throughput_min)
        json_object_set_new(o, "throughputMinPerSecond", json_real(s->throughput_min_per_s));
    if (s->has_rejects_max) json_object_set_new(o, "rejectsMaxRatio", json_real(s->rejects_max_ratio));
    return o;
}

/* Input ports bound to an output port, from the loaded descriptors. */
static json_t *bindings_json(const pb_broker_t *b, const pb_port_t *port) {
    json_t *arr = json_array();
    const pb_descriptor_set_t *set = b->products;
    for (size_t i = 0; i < set->n_products; i++) {
        const pb_product_t *p = set->products[i];
        for (size_t j = 0; j < p->n_inputs; j++) {
            const pb_port_t *in = &p->inputs[j];
            if (!in->from) continue;
            const char *from = in->from, *to = in->fqn;
            if (port->kind == PB_PORT_OUTPUT ? strcmp(from, port->fqn) != 0
                                             : strcmp(to, port->fqn) != 0)
                continue;
            char group[512];
            pb_addr_route_group(in->topic, group, sizeof group);
            json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s}", "from", from, "to", to,
                                                 "topic", in->topic, "consumerGroup", group,
                                                 "source", "descriptor"));
        }
    }
    return arr;
}

static json_t *port_json(const pb_broker_t *b, const pb_port_t *port) {
    const pb_product_t *p = port->product;
    json_t *o = json_pack("{s:s,s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:s}", "fqn", port->fqn,
                          "kind", pb_addr_kind_name(port->kind), "product", p->fqn, "major",
                          (int)p->major, "name", port->name, "version", port->version, "topic",
                          port->topic, "dlqTopic", port->dlq_topic, "partitions", port->partitions,
                          "subject", port->subject, "compatibility", port->compatibility, "owner",
                          p->owner);
    if (!o) return NULL;
    json_object_set(o, "schema", port->schema);
    if (port->key_schema) json_object_set(o, "keySchema", port->key_schema);
    json_object_set_new(o, "slo", slo_json(&port->slo));
    if (port->kind == PB_PORT_OUTPUT) {
        json_t *acc = json_array();
        for (size_t i = 0; i < port->n_access; i++) json_array_append_new(acc, json_string(port->access[i]));
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
    for (size_t i = 0; i < p->n_outputs; i++) json_array_append_new(outs, json_string(p->outputs[i].fqn));
    for (size_t i = 0; i < p->n_inputs; i++) json_array_append_new(ins, json_string(p->inputs[i].fqn));
    json_object_set_new(o, "outputPorts", outs);
    json_object_set_new(o, "inputPorts", ins);
    return o;
}

/* ---- handlers ------------------------------------------------------------------------------- */

static void h_healthz(pb_broker_t *b, pb_http_req_t *req, const char *rest) {
    (void)b;
    (void)rest;
    reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

static void h_readyz(pb_broker_t *b, pb_http_req_t *req, const char *rest) {
    (void)rest;
    const char *why = NULL;
    int ready = pb_broker_ready(b, &why);
    json_t *o = json_pack("{s:b,s:b,s:b,s:i}", "ready", ready, "kafka", pb_kafka_reachable(b->kafka),
                          "embeddedKafka", pb_kafka_is_embedded(b->kafka), "products",
                          (int)b->products->n_products);
    if (why) json_object_set_new(o, "reason", json_string(why));
    if (!ready) pb_http_set_header(req, "Retry-After", "1");
    reply_json(req, ready ? 200 : 503, o);
}

static void h_products(pb_broker_t *b, pb_http_req_t *req, const char *rest) {
    (void)rest;
    json_t *arr = json_array();
    for (size_t i = 0; i < b->products->n_products; i++)
        json_array_append_new(arr, product_summary(b->products->products[i]));
    reply_json(req, 200, json_pack("{s:o}", "products", arr));
}

static void h_product(pb_broker_t *b, pb_http_req_t *req, const char *id) {
    pb_addr_t a;
    pb_err_t err = {0};
    char urn[512];
    if (pb_addr_parse_product(id, b->cfg->mesh_namespace, &a, &err)) {
        reply_error(req, 404, 404, "no product '%s': %s", id, err.msg);
        return;
    }
    pb_addr_format_product(&a, urn, sizeof urn);
    const pb_product_t *p = pb_descriptor_set_product(b->products, urn);
    if (!p) {
        reply_error(req, 404, 404, "no product %s (GET /v1/products lists them)", urn);
        return;
    }
    json_t *o = product_summary(p);
    json_object_set(o, "descriptor", p->json);
    reply_json(req, 200, o);
}

static void h_ports(pb_broker_t *b, pb_http_req_t *req, const char *rest) {
    (void)rest;
    json_t *arr = json_array();
    for (size_t i = 0; i < b->products->n_products; i++) {
        const pb_product_t *p = b->products->products[i];
        for (size_t j = 0; j < p->n_outputs; j++) json_array_append_new(arr, port_json(b, &p->outputs[j]));
        for (size_t j = 0; j < p->n_inputs; j++) json_array_append_new(arr, port_json(b, &p->inputs[j]));
    }
    reply_json(req, 200, json_pack("{s:o}", "ports", arr));
}

/* Resolve a port id (URN or short form) to a loaded port; replies 404 and returns NULL if not. */
static const pb_port_t *find_port(pb_broker_t *b, pb_http_req_t *req, const char *id) {
    pb_addr_t a;
    pb_err_t err = {0};
    char urn[512];
    if (pb_addr_parse_port(id, b->cfg->mesh_namespace, &a, &err)) {
        reply_error(req, 404, 404, "no port '%s': %s", id, err.msg);
        return NULL;
    }
    pb_addr_format(&a, urn, sizeof urn);
    const pb_port_t *port = pb_descriptor_set_port(b->products, urn);
    if (!port) reply_error(req, 404, 404, "no port %s (GET /v1/ports lists them)", urn);
    return port;
}

static void h_port(pb_broker_t *b, pb_http_req_t *req, const char *id) {
    const pb_port_t *port = find_port(b, req, id);
    if (port) reply_json(req, 200, port_json(b, port));
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
    {"/v1/products", 0, M(GET) | M(HEAD), h_products},
    {"/v1/products/", 1, M(GET) | M(HEAD), h_product},
    {"/v1/ports", 0, M(GET) | M(HEAD), h_ports},
    {"/v1/ports/", 1, M(GET) | M(HEAD), h_port},
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
        reply_error(req, 404, 404, "no route %s %s", pb_http_method_name(req), path);
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
    reply_error(req, 405, 405, "method %s is not allowed on %s (allowed: %s)",
                pb_http_method_name(req), path, allow);
}
