/*
 * access — the HTTP API's gate in front of every handler (DESIGN.md §9).
 *
 * Owns: naming what a request touches for its route's access rule (the product in the path, the
 * port's product, the binding's input port, the subject's port, the descriptor's own FQN and its
 * input ports' `from`), authenticating the caller (auth.c), the per-principal token buckets, and
 * the audit context of writes: one `audit` log line per state change with the principal, method,
 * path, status and ids, written when the reply goes out.
 * Must not: decide who may do what (auth.c's pb_auth_decide does), parse more of a body than the
 * fields it needs, include libevent, or reach into the broker (its own configuration and the
 * registry it is handed are what it reads).
 */
#include "access.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "jsontext.h"
#include "log.h"
#include "registry.h"
#include "tls.h"

#define MAX_BUCKETS 10000 /* principals with a live bucket; beyond, the idlest is reused */

typedef struct bucket_slot {
    char principal[PB_AUTH_PRINCIPAL_MAX];
    pb_access_bucket_t publish, write;
} bucket_slot_t;

struct pb_access {
    const pb_config_t *cfg;
    pb_auth_t *auth;
    pb_loop_t *loop;
    pb_loop_timer_t *jwks_timer; /* ticks each second: is a JWKS fetch due? */
    pb_http_get_t *jwks_get;     /* the fetch in flight, or NULL */
    int64_t jwks_next_ms;        /* when the next fetch is due (monotonic) */
    int jwks_loaded;             /* keys were loaded from the URL at least once */
    bucket_slot_t *slots;
    size_t n_slots, cap_slots;
};

/* The audit context of one write request. */
typedef struct audit {
    char principal[PB_AUTH_PRINCIPAL_MAX];
    char ids[512];
    int audited; /* 1: log a line at the reply */
} audit_t;

pb_access_t *pb_access_new(const pb_config_t *cfg, pb_err_t *err) {
    pb_access_t *a = calloc(1, sizeof *a);
    if (!a) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    a->cfg = cfg;
    if (!(a->auth = pb_auth_new(cfg, err))) {
        free(a);
        return NULL;
    }
    return a;
}

int pb_access_reload(pb_access_t *a, pb_err_t *err) { return pb_auth_reload(a->auth, err); }

pb_auth_t *pb_access_auth(pb_access_t *a) { return a->auth; }

void pb_access_destroy(pb_access_t *a) {
    if (!a) return;
    pb_http_get_cancel(a->jwks_get);
    pb_loop_timer_destroy(a->jwks_timer);
    pb_auth_destroy(a->auth);
    free(a->slots);
    free(a);
}

/* ---- the JWKS refresh (auth.jwks.url) ------------------------------------------------------ */

#define JWKS_RETRY_MS 5000

static void jwks_fetched(void *arg, int status, const char *reason, const char *body, size_t len) {
    pb_access_t *a = arg;
    pb_err_t err = {0};
    pb_auth_jwks_t *keys = NULL;
    const char *url = a->cfg->auth_jwks_url;
    int64_t retry = a->cfg->auth_jwks_refresh_ms < JWKS_RETRY_MS || a->jwks_loaded
                        ? a->cfg->auth_jwks_refresh_ms
                        : JWKS_RETRY_MS;
    a->jwks_get = NULL;
    a->jwks_next_ms = pb_loop_now_ms() + retry;
    if (status != 200) {
        pb_log_rl(WARN, "auth", "auth.jwks.url %s: %s; %s, next try in %lld ms", url, reason,
                  a->jwks_loaded ? "keeping the keys held" : "JWTs are refused until it answers",
                  (long long)retry);
        return;
    }
    if (pb_auth_jwks_parse(body, len, url, &keys, &err)) {
        pb_log_rl(WARN, "auth", "auth.jwks.url: %s; %s", err.msg,
                  a->jwks_loaded ? "keeping the keys held" : "JWTs are refused until it is fixed");
        return;
    }
    if (!a->jwks_loaded)
        pb_log(INFO, "auth", "auth.jwks.url %s: %zu signing keys loaded", url,
               pb_auth_jwks_count(keys));
    pb_auth_set_jwks(a->auth, keys);
    a->jwks_loaded = 1;
    a->jwks_next_ms = pb_loop_now_ms() + a->cfg->auth_jwks_refresh_ms;
}

static void jwks_tick(void *arg) {
    pb_access_t *a = arg;
    pb_err_t err = {0};
    if (a->jwks_get || pb_loop_now_ms() < a->jwks_next_ms) return;
    a->jwks_get = pb_http_get(a->loop, a->cfg->auth_jwks_url, a->cfg->auth_jwks_timeout_ms,
                              (size_t)a->cfg->auth_jwks_max_bytes, jwks_fetched, a, &err);
    if (!a->jwks_get) {
        pb_log_rl(WARN, "auth", "auth.jwks.url: %s", err.msg);
        a->jwks_next_ms = pb_loop_now_ms() + JWKS_RETRY_MS;
    }
}

int pb_access_start(pb_access_t *a, pb_loop_t *loop, pb_err_t *err) {
    a->loop = loop;
    if (!*a->cfg->auth_jwks_url) return 0;
    if (!(a->jwks_timer = pb_loop_timer_new(loop, 1000, 1, jwks_tick, a)))
        return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    jwks_tick(a); /* the first fetch now; its answer comes through the loop */
    return 0;
}

/* ---- token buckets -------------------------------------------------------------------------- */

int64_t pb_access_bucket_take(pb_access_bucket_t *b, double rate, double n, int64_t now_ms) {
    if (b->at_ms == 0) {
        b->tokens = rate;
        b->at_ms = now_ms;
    }
    if (now_ms > b->at_ms) {
        b->tokens += rate * (double)(now_ms - b->at_ms) / 1000.0;
        if (b->tokens > rate) b->tokens = rate;
        b->at_ms = now_ms;
    }
    double need = n > rate ? rate : n; /* a batch above one second's worth needs a full bucket */
    if (b->tokens >= need) {
        b->tokens -= n;
        return 0;
    }
    int64_t wait = (int64_t)((need - b->tokens) * 1000.0 / rate) + 1;
    return wait < 1 ? 1 : wait;
}

static bucket_slot_t *slot_of(pb_access_t *a, const char *principal, int64_t now_ms) {
    for (size_t i = 0; i < a->n_slots; i++)
        if (strcmp(a->slots[i].principal, principal) == 0) return &a->slots[i];
    bucket_slot_t *s = NULL;
    if (a->n_slots < a->cap_slots) {
        s = &a->slots[a->n_slots++];
    } else if (a->cap_slots < MAX_BUCKETS) {
        size_t nc = a->cap_slots ? a->cap_slots * 2 : 16;
        bucket_slot_t *ns = realloc(a->slots, nc * sizeof *ns);
        if (!ns) return NULL;
        a->slots = ns;
        a->cap_slots = nc;
        s = &a->slots[a->n_slots++];
    } else { /* reuse the slot idle longest */
        s = &a->slots[0];
        for (size_t i = 1; i < a->n_slots; i++)
            if (a->slots[i].write.at_ms < s->write.at_ms) s = &a->slots[i];
    }
    memset(s, 0, sizeof *s);
    snprintf(s->principal, sizeof s->principal, "%s", principal);
    (void)now_ms;
    return s;
}

static int reply_429(pb_http_req_t *req, int64_t wait_ms, const char *principal, const char *what,
                     int64_t rate, const char *key) {
    char ra[32];
    snprintf(ra, sizeof ra, "%lld", (long long)((wait_ms + 999) / 1000));
    pb_http_set_header(req, "Retry-After", ra);
    pb_api_reply_error(req, 429, 42901,
                       "principal %s is over its limit of %lld %s per second (%s); retry after "
                       "%s s",
                       principal, (long long)rate, what, key, ra);
    return 1;
}

/* ---- audit ---------------------------------------------------------------------------------- */

static void on_reply(pb_http_req_t *req, int status, void *arg) {
    audit_t *au = arg;
    if (au->audited)
        pb_log(INFO, "audit", "principal=%s method=%s path=%s status=%d%s%s", au->principal,
               pb_http_method_name(req), pb_http_path(req), status, au->ids[0] ? " " : "", au->ids);
    free(au);
}

const char *pb_access_principal(const pb_http_req_t *req) {
    const audit_t *au = pb_http_reply_arg(req);
    return au ? au->principal : NULL;
}

void pb_access_note(pb_http_req_t *req, const char *fmt, ...) {
    audit_t *au = pb_http_reply_arg(req);
    if (!au) return;
    size_t n = strlen(au->ids);
    if (n + 2 >= sizeof au->ids) return;
    if (n) au->ids[n++] = ' ';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(au->ids + n, sizeof au->ids - n, fmt, ap);
    va_end(ap);
}

int pb_access_charge_records(pb_access_t *a, pb_http_req_t *req, int64_t n) {
    const char *who = pb_access_principal(req);
    if (!a || !who || a->cfg->limit_publish_records <= 0) return 0;
    int64_t now = pb_loop_now_ms();
    bucket_slot_t *s = slot_of(a, who, now);
    if (!s) return 0;
    int64_t wait =
        pb_access_bucket_take(&s->publish, (double)a->cfg->limit_publish_records, (double)n, now);
    if (!wait) return 0;
    return reply_429(req, wait, who, "published records", a->cfg->limit_publish_records,
                     "limit.publish.records.per.s");
}

/* ---- naming the target ---------------------------------------------------------------------- */

/* What naming a target reads: the gate's configuration (mesh.namespace) and the registry. */
typedef struct scope {
    const pb_config_t *cfg;
    const pb_registry_t *reg;
} scope_t;

static const pb_registry_t *reg(const scope_t *b) { return b->reg; }

static const pb_port_t *port_of(const scope_t *b, const char *id) {
    pb_addr_t a;
    char urn[PB_ADDR_URN_MAX];
    if (pb_addr_parse_port(id, b->cfg->mesh_namespace, &a, NULL)) return NULL;
    pb_addr_format(&a, urn, sizeof urn);
    return pb_registry_port(reg(b), urn);
}

/* The port whose subject is subject (output or input), or NULL. */
static const pb_port_t *port_of_subject(const scope_t *b, const char *subject) {
    size_t n = 0;
    const pb_product_t *const *ps = pb_registry_products(reg(b), &n);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < ps[i]->n_outputs; j++)
            if (strcmp(ps[i]->outputs[j].subject, subject) == 0) return &ps[i]->outputs[j];
        for (size_t j = 0; j < ps[i]->n_inputs; j++)
            if (strcmp(ps[i]->inputs[j].subject, subject) == 0) return &ps[i]->inputs[j];
    }
    return NULL;
}

/* Consumer side of a binding: the input port's product, admitted by the output port's list. */
static void consumer_target(const scope_t *b, pb_auth_target_t *t, const pb_port_t *in,
                            const char *from) {
    if (!in) {
        t->missing = 1;
        return;
    }
    t->owner = in->product->fqn;
    const pb_port_t *out = from ? pb_registry_port(reg(b), from) : NULL;
    if (out && out->kind == PB_PORT_OUTPUT) {
        t->admitted = in->product->fqn;
        t->acl = (const char *const *)out->access;
        t->n_acl = out->n_access;
        t->acl_port = out->fqn;
    }
}

static int deny(pb_http_req_t *req, int status, const char *msg, audit_t *au) {
    if (status == 401) {
        pb_http_set_header(req, "WWW-Authenticate", "Bearer realm=\"portbroker\"");
        pb_api_reply_error(req, 401, 40101, "%s", msg);
    } else {
        if (au) pb_access_note(req, "denied=\"%s\"", msg);
        pb_api_reply_error(req, 403, 40301, "%s", msg);
    }
    return 1;
}

/* A PUT of a descriptor: its own FQN and every input port's `from` (DESIGN §9: the principal must
 * act for the product it writes, and a descriptor cannot bind what its product is not admitted
 * to). Returns 0 or the status with msg set. */
static int check_descriptor(const scope_t *b, pb_http_req_t *req, const pb_auth_policy_t *pol,
                            const pb_auth_principal_t *p, char *msg, size_t cap) {
    size_t len = 0;
    const char *body = pb_http_body(req, &len);
    json_t *doc = json_loadb(body, len, 0, NULL);
    int st = 0;
    const char *fqn =
        json_string_value(json_object_get(json_object_get(doc, "info"), "fullyQualifiedName"));
    pb_addr_t pa;
    char urn[PB_ADDR_URN_MAX], action[1200];
    if (!fqn || pb_addr_parse_product(fqn, NULL, &pa, NULL)) goto done; /* the handler's 422 */
    pb_addr_format_product(&pa, urn, sizeof urn);
    snprintf(action, sizeof action, "store the descriptor of product %s", urn);
    pb_auth_target_t t = {.access = PB_API_PRODUCT_OWNER, .action = action, .owner = urn};
    if ((st = pb_auth_decide(pol, PB_AUTH_OK, p, NULL, &t, msg, cap))) goto done;
    const json_t *ins = json_object_get(json_object_get(doc, "interfaceComponents"), "inputPorts");
    for (size_t i = 0; json_is_array(ins) && i < json_array_size(ins); i++) {
        const char *from = json_string_value(json_object_get(json_array_get(ins, i), "from"));
        pb_addr_t fa;
        char furn[PB_ADDR_URN_MAX];
        if (!from || pb_addr_parse_port(from, pa.ns, &fa, NULL)) continue;
        pb_addr_format(&fa, furn, sizeof furn);
        const pb_port_t *out = pb_registry_port(reg(b), furn);
        if (!out || out->kind != PB_PORT_OUTPUT) continue;
        snprintf(action, sizeof action, "bind an input port of %s to output port %s", urn, furn);
        pb_auth_target_t c = {.access = PB_API_INPUT_OWNER,
                              .action = action,
                              .owner = urn,
                              .admitted = urn,
                              .acl = (const char *const *)out->access,
                              .n_acl = out->n_access,
                              .acl_port = out->fqn};
        if ((st = pb_auth_decide(pol, PB_AUTH_OK, p, NULL, &c, msg, cap))) goto done;
    }
done:
    json_decref(doc);
    return st;
}

/* mTLS: a verified client certificate's URI SAN or CN as the principal (no Authorization header).
 */
static pb_auth_cred_t cert_principal(pb_http_req_t *req, pb_auth_principal_t *p, char *why,
                                     size_t cap) {
    char name[PB_AUTH_PRINCIPAL_MAX];
    pb_err_t err = {0};
    int rc = pb_tls_peer_name(pb_http_req_tls(req), name, sizeof name);
    if (rc == 0) return PB_AUTH_NONE;
    if (rc < 0) {
        snprintf(why, cap, "the client certificate has no URI SAN or CN to name a principal");
        return PB_AUTH_INVALID;
    }
    if (pb_auth_principal_parse(name, p, &err)) {
        snprintf(why, cap, "client certificate: %.200s", err.msg);
        return PB_AUTH_INVALID;
    }
    return PB_AUTH_OK;
}

/* Is this a state change the audit log records? Registry writes; publishing and cursor commits
 * are the data plane (counted in metrics, not audited line by line). */
static int audited(const pb_api_route_t *r, pb_http_method_t m) {
    if (m == PB_HTTP_GET || m == PB_HTTP_HEAD || m == PB_HTTP_OPTIONS) return 0;
    if (r->access == PB_API_READ) return 0; /* POST lookups, impact and compatibility dry runs */
    return r->access != PB_API_INPUT_OWNER && strstr(r->path, "/records") == NULL;
}

int pb_access_check(pb_access_t *a, const pb_registry_t *registry, pb_http_req_t *req,
                    const pb_api_route_t *r, const char *param) {
    if (!a) return 0;
    const scope_t sc = {a->cfg, registry}, *b = &sc;
    const pb_auth_policy_t *pol = pb_auth_policy(a->auth);
    pb_auth_principal_t p;
    char why[PB_ERR_MSG_MAX] = "", msg[1024], action[1400];
    pb_http_method_t m = pb_http_method(req);
    snprintf(action, sizeof action, "%s (%s %s)", r->summary, pb_http_method_name(req),
             pb_http_path(req));
    pb_auth_target_t t = {.access = r->access, .action = action};
    if (r->access == PB_API_OPEN) return 0;
    const char *authz = pb_http_header(req, "Authorization");
    pb_auth_cred_t cred =
        pb_auth_authenticate(a->auth, authz, pb_loop_wall_ms(), &p, why, sizeof why);
    if (cred == PB_AUTH_NONE && !authz) cred = cert_principal(req, &p, why, sizeof why);
    audit_t *au = NULL;
    int need_ctx =
        audited(r, m) || (r->access == PB_API_OUTPUT_OWNER && a->cfg->limit_publish_records > 0 &&
                          strstr(r->path, "/records") != NULL);
    if (cred == PB_AUTH_OK && need_ctx) {
        /* Writes carry the principal to the registry record and the audit line; publishes carry
         * it to the records limit. */
        if ((au = calloc(1, sizeof *au))) {
            snprintf(au->principal, sizeof au->principal, "%s", p.name);
            au->audited = audited(r, m);
            pb_http_on_reply(req, on_reply, au);
        }
    }
    const pb_port_t *port = NULL;
    switch (r->access) {
    case PB_API_OPEN:
    case PB_API_METRICS:
    case PB_API_READ:
    case PB_API_ADMIN: break;
    case PB_API_PRODUCT_OWNER: {
        pb_addr_t pa;
        char urn[PB_ADDR_URN_MAX];
        if (pb_addr_parse_product(param, b->cfg->mesh_namespace, &pa, NULL)) {
            t.missing = 1;
            break;
        }
        pb_addr_format_product(&pa, urn, sizeof urn);
        pb_access_note(req, "product=%s", urn);
        t.owner = urn;
        int st = pb_auth_decide(pol, cred, &p, why, &t, msg, sizeof msg);
        if (!st && cred == PB_AUTH_OK && m == PB_HTTP_PUT)
            st = check_descriptor(b, req, pol, &p, msg, sizeof msg);
        if (st) return deny(req, st, msg, au);
        goto allowed;
    }
    case PB_API_OUTPUT_OWNER:
    case PB_API_PORT_OWNER:
        if ((port = port_of(b, param)))
            t.owner = port->product->fqn, pb_access_note(req, "port=%s", port->fqn);
        else
            t.missing = 1;
        break;
    case PB_API_INPUT_OWNER:
        port = port_of(b, param);
        consumer_target(b, &t, port && port->kind == PB_PORT_INPUT ? port : NULL,
                        port ? port->from : NULL);
        if (port && port->kind != PB_PORT_INPUT) t.missing = 1, t.owner = port->product->fqn;
        break;
    case PB_API_SUBSCRIPTION:
        if (m == PB_HTTP_PUT) {
            size_t len = 0;
            const char *body = pb_http_body(req, &len);
            json_t *doc = json_loadb(body, len, 0, NULL);
            const char *to = json_string_value(json_object_get(doc, "to"));
            const char *from = json_string_value(json_object_get(doc, "from"));
            const pb_port_t *in = to ? port_of(b, to) : NULL;
            const pb_port_t *out = from ? port_of(b, from) : NULL;
            if (in && in->kind == PB_PORT_INPUT) pb_access_note(req, "to=%s", in->fqn);
            consumer_target(b, &t, in && in->kind == PB_PORT_INPUT ? in : NULL,
                            out ? out->fqn : NULL);
            int st = pb_auth_decide(pol, cred, &p, why, &t, msg, sizeof msg);
            json_decref(doc);
            if (st) return deny(req, st, msg, au);
            goto allowed;
        } else {
            char *end = NULL;
            long id = strtol(param, &end, 10);
            const pb_registry_binding_t *bd = *param && !*end && id > 0 && id <= INT32_MAX
                                                  ? pb_registry_binding(reg(b), (int)id)
                                                  : NULL;
            if (bd) pb_access_note(req, "binding=%d", bd->id);
            consumer_target(b, &t, bd ? pb_registry_port(reg(b), bd->to) : NULL,
                            bd ? bd->from : NULL);
        }
        break;
    case PB_API_SUBJECT_OWNER: {
        char subject[PB_REGISTRY_SUBJECT_MAX + 1];
        /* A bad escape or a name too long for a subject names no port (not a cut prefix). */
        if (pb_jsontext_pct_decode(param, strlen(param), PB_JSONTEXT_TEXT, subject, sizeof subject,
                                   NULL, NULL))
            subject[0] = '\0';
        pb_access_note(req, "subject=%s", subject);
        if ((port = port_of_subject(b, subject))) t.owner = port->product->fqn;
        break;
    }
    }
    int st = pb_auth_decide(pol, cred, &p, why, &t, msg, sizeof msg);
    if (st) return deny(req, st, msg, au);
allowed:
    if (au && au->audited && a->cfg->limit_write_requests > 0) {
        int64_t now = pb_loop_now_ms();
        bucket_slot_t *s = slot_of(a, au->principal, now);
        int64_t wait =
            s ? pb_access_bucket_take(&s->write, (double)a->cfg->limit_write_requests, 1.0, now)
              : 0;
        if (wait)
            return reply_429(req, wait, au->principal, "write requests",
                             a->cfg->limit_write_requests, "limit.write.requests.per.s");
    }
    return 0;
}
