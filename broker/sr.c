/*
 * sr — Schema Registry–compatible routes over the registry (see sr.h).
 *
 * Owns: path matching, parameter and body validation, Confluent's reply shapes and error codes.
 * Must not: do I/O or mutate the registry; every change leaves here as a registry record.
 */
#include "sr.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"

#define MAX_SEGMENTS 8

/* ---- replies -------------------------------------------------------------------------------- */

void pb_sr_reply_reset(pb_sr_reply_t *rep) {
    if (!rep) return;
    free(rep->body);
    free(rep->record);
    memset(rep, 0, sizeof *rep);
}

/* Set the reply to status and the JSON value j (taken; NULL means out of memory). */
static pb_sr_outcome_t reply_json(pb_sr_reply_t *rep, int status, json_t *j) {
    free(rep->body);
    rep->body = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    rep->content_type = PB_SR_CONTENT_TYPE;
    if (!rep->body) {
        /* Out of memory: a static body, still valid JSON. */
        static const char oom[] = "{\"error_code\":50001,\"message\":\"out of memory\"}";
        rep->body = malloc(sizeof oom);
        if (rep->body) memcpy(rep->body, oom, sizeof oom);
        rep->body_len = rep->body ? sizeof oom - 1 : 0;
        rep->status = 500;
        return PB_SR_REPLY;
    }
    rep->body_len = strlen(rep->body);
    rep->status = status;
    return PB_SR_REPLY;
}

static pb_sr_outcome_t reply_error(pb_sr_reply_t *rep, int code, const char *msg) {
    free(rep->record);
    rep->record = NULL;
    rep->record_len = 0;
    json_t *j = json_object();
    if (j) {
        json_object_set_new(j, "error_code", json_integer(code));
        /* A message may hold bytes from the request that are not UTF-8: keep it valid. */
        json_t *m = json_string(msg);
        if (!m) m = json_string("(message not valid UTF-8)");
        json_object_set_new(j, "message", m);
    }
    return reply_json(rep, pb_registry_http_status(code), j);
}

static pb_sr_outcome_t reply_errorf(pb_sr_reply_t *rep, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static pb_sr_outcome_t reply_errorf(pb_sr_reply_t *rep, int code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return reply_error(rep, code, msg);
}

void pb_sr_fail(pb_sr_reply_t *rep, int code, const char *msg) { reply_error(rep, code, msg); }

/* A pending write: take the record in b. */
static pb_sr_outcome_t write_record(pb_sr_reply_t *rep, pb_buf_t *b, const char *req,
                                    pb_registry_op_t op) {
    rep->record = (char *)b->data;
    rep->record_len = b->len;
    memset(b, 0, sizeof *b);
    snprintf(rep->req, sizeof rep->req, "%s", req);
    rep->op = op;
    rep->content_type = PB_SR_CONTENT_TYPE;
    return PB_SR_WRITE;
}

void pb_sr_complete(pb_sr_reply_t *rep, const pb_registry_result_t *res) {
    free(rep->record);
    rep->record = NULL;
    rep->record_len = 0;
    if (res->skipped || res->error_code) {
        reply_error(rep, res->error_code ? res->error_code : PB_SR_STORE_ERROR,
                    res->message ? res->message : "the registry did not apply the write");
        return;
    }
    json_t *j = NULL;
    switch (rep->op) {
    case PB_REGISTRY_OP_REGISTER: j = json_pack("{s:i}", "id", res->id); break;
    case PB_REGISTRY_OP_DELETE_VERSION: j = json_integer(res->version); break;
    case PB_REGISTRY_OP_DELETE_SUBJECT:
        j = res->body ? json_incref(res->body) : json_array();
        break;
    case PB_REGISTRY_OP_CONFIG:
        j = json_pack("{s:s}", rep->config_delete ? "compatibilityLevel" : "compatibility",
                      pb_compat_level_name((pb_compat_level_t)res->level));
        break;
    default: j = res->body ? json_incref(res->body) : json_object(); break;
    }
    reply_json(rep, 200, j);
}

/* ---- request parsing ------------------------------------------------------------------------ */

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Split path into percent-decoded segments (owned by the caller, free each). Returns the count,
 * or -1 when there are too many or a bad escape. A trailing slash is ignored. */
static int split(const char *path, char **seg) {
    int n = 0;
    const char *p = path;
    if (*p == '/') p++;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (n == MAX_SEGMENTS) goto bad;
        char *s = malloc(len + 1);
        if (!s) goto bad;
        size_t k = 0;
        for (size_t i = 0; i < len; i++) {
            if (p[i] == '%') {
                int h = i + 2 < len ? hexval((unsigned char)p[i + 1]) : -1;
                int l = h >= 0 ? hexval((unsigned char)p[i + 2]) : -1;
                if (h < 0 || l < 0) {
                    free(s);
                    goto bad;
                }
                s[k++] = (char)(h * 16 + l);
                i += 2;
            } else {
                s[k++] = p[i];
            }
        }
        s[k] = '\0';
        seg[n++] = s;
        if (!e) break;
        p = e + 1;
    }
    return n;
bad:
    for (int i = 0; i < n; i++)
        free(seg[i]);
    return -1;
}

static int flag(pb_sr_param_fn param, void *arg, const char *name) {
    const char *v = param ? param(arg, name) : NULL;
    return v && strcasecmp(v, "true") == 0;
}

/* A version in a path: "latest" or -1 → -1, 1..2^31-1 → itself. Returns 0 or 42202. */
static int parse_version(const char *s, int *out, pb_sr_reply_t *rep) {
    if (strcasecmp(s, "latest") == 0) {
        *out = -1;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long v = *s ? strtol(s, &end, 10) : 0;
    if (*s && !errno && end && *end == '\0' && (v == -1 || (v >= 1 && v <= 2147483647L))) {
        *out = (int)v;
        return 0;
    }
    char ex[64];
    pb_addr_excerpt(s, ex, sizeof ex);
    reply_errorf(rep, PB_SR_INVALID_VERSION,
                 "The specified version '%s' is not a valid version id. Allowed values are between "
                 "[1, 2^31-1] and the string \"latest\"",
                 ex);
    return PB_SR_INVALID_VERSION;
}

/* A schema id in a path: 1..2^31-1. Returns 0 or replies 40403. */
static int parse_id(const char *s, int *out, pb_sr_reply_t *rep) {
    char *end = NULL;
    errno = 0;
    long v = *s ? strtol(s, &end, 10) : 0;
    if (*s && !errno && end && *end == '\0' && v >= 1 && v <= 2147483647L) {
        *out = (int)v;
        return 0;
    }
    char ex[64];
    reply_errorf(rep, PB_SR_SCHEMA_NOT_FOUND, "Schema %s not found",
                 pb_addr_excerpt(s, ex, sizeof ex));
    return PB_SR_SCHEMA_NOT_FOUND;
}

/* The schema request body {"schema": "...", "schemaType": "AVRO", "references": [], ...}.
 * On success *schema points into *doc (caller decrefs). Otherwise replies and returns nonzero. */
static int parse_schema_body(const char *body, size_t len, json_t **doc, const char **schema,
                             size_t *schema_len, pb_sr_reply_t *rep) {
    json_error_t jerr;
    *doc = NULL;
    if (!body || len == 0) {
        reply_error(rep, PB_SR_INVALID_SCHEMA, "Invalid schema: the request has no body");
        return 1;
    }
    if (len > PB_SR_MAX_BODY) {
        reply_errorf(rep, PB_SR_SCHEMA_TOO_LARGE, "Request body of %zu bytes is larger than %d",
                     len, PB_SR_MAX_BODY);
        return 1;
    }
    json_t *j = json_loadb(body, len, 0, &jerr);
    if (!j || !json_is_object(j)) {
        if (j)
            reply_error(rep, 400, "Invalid request body: a JSON object is expected");
        else
            reply_errorf(rep, 400, "Invalid request body: %s at line %d column %d", jerr.text,
                         jerr.line, jerr.column);
        json_decref(j);
        return 1;
    }
    json_t *type = json_object_get(j, "schemaType");
    if (type && !json_is_null(type) &&
        (!json_is_string(type) || strcasecmp(json_string_value(type), "AVRO") != 0)) {
        reply_errorf(rep, PB_SR_INVALID_SCHEMA,
                     "Invalid schema type %s: this registry serves AVRO schemas only",
                     json_is_string(type) ? json_string_value(type) : "(not a string)");
        json_decref(j);
        return 1;
    }
    json_t *refs = json_object_get(j, "references");
    if (refs && !json_is_null(refs) && (!json_is_array(refs) || json_array_size(refs) > 0)) {
        reply_error(rep, PB_SR_INVALID_SCHEMA,
                    "Invalid schema: schema references are not supported; send the schema with "
                    "every named type defined inline");
        json_decref(j);
        return 1;
    }
    json_t *s = json_object_get(j, "schema");
    if (!json_is_string(s)) {
        reply_error(rep, PB_SR_INVALID_SCHEMA,
                    s ? "Invalid schema: \"schema\" must be a string holding the schema JSON"
                      : "Invalid schema: the body has no \"schema\"");
        json_decref(j);
        return 1;
    }
    *doc = j;
    *schema = json_string_value(s);
    *schema_len = json_string_length(s);
    return 0;
}

/* ---- routes --------------------------------------------------------------------------------- */

typedef struct ctx {
    const pb_registry_t *r;
    const char *method;
    pb_sr_param_fn param;
    void *arg;
    const char *body;
    size_t body_len;
    const char *req;
    pb_sr_reply_t *rep;
} ctx_t;

static int is(const ctx_t *c, const char *m) { return strcmp(c->method, m) == 0; }

static pb_sr_outcome_t not_allowed(ctx_t *c) {
    return reply_error(c->rep, 405, "HTTP 405 Method Not Allowed");
}

static pb_sr_outcome_t not_found(ctx_t *c) {
    return reply_error(c->rep, 404, "HTTP 404 Not Found");
}

static pb_sr_outcome_t from_err(ctx_t *c, int code, const pb_err_t *err) {
    return reply_error(c->rep, code, err->msg);
}

static json_t *version_json(const pb_registry_version_t *v) {
    return json_pack("{s:s,s:i,s:i,s:s}", "subject", v->subject, "version", v->version, "id", v->id,
                     "schema", v->schema);
}

/* Builder failure → reply. */
static pb_sr_outcome_t build_failed(ctx_t *c, int code, const pb_err_t *err) {
    return reply_error(c->rep, code, err->msg);
}

static pb_sr_outcome_t route_subjects(ctx_t *c, char **seg, int n) {
    pb_err_t err = {0};
    pb_buf_t b = {0};
    int rc;
    const char *subject = n >= 2 ? seg[1] : NULL;
    if (n == 1) { /* /subjects */
        if (!is(c, "GET")) return not_allowed(c);
        const char *prefix = c->param ? c->param(c->arg, "subjectPrefix") : NULL;
        return reply_json(c->rep, 200,
                          pb_registry_subjects(c->r, flag(c->param, c->arg, "deleted"), prefix));
    }
    if (n == 2) { /* /subjects/{s} */
        if (is(c, "POST")) {
            json_t *doc;
            const char *schema;
            size_t len;
            if (parse_schema_body(c->body, c->body_len, &doc, &schema, &len, c->rep))
                return PB_SR_REPLY;
            pb_registry_version_t v;
            rc = pb_registry_lookup(c->r, subject, schema, len, flag(c->param, c->arg, "deleted"),
                                    &v, &err);
            json_decref(doc);
            if (rc) return from_err(c, rc, &err);
            return reply_json(c->rep, 200, version_json(&v));
        }
        if (is(c, "DELETE")) {
            rc = pb_registry_record_delete_subject(&b, c->req, subject,
                                                   flag(c->param, c->arg, "permanent"), &err);
            if (rc) return build_failed(c, rc, &err);
            return write_record(c->rep, &b, c->req, PB_REGISTRY_OP_DELETE_SUBJECT);
        }
        return not_allowed(c);
    }
    if (strcmp(seg[2], "versions") != 0) return not_found(c);
    if (n == 3) { /* /subjects/{s}/versions */
        if (is(c, "GET")) {
            json_t *list;
            rc =
                pb_registry_versions(c->r, subject, flag(c->param, c->arg, "deleted"), &list, &err);
            if (rc) return from_err(c, rc, &err);
            return reply_json(c->rep, 200, list);
        }
        if (is(c, "POST")) {
            json_t *doc;
            const char *schema;
            size_t len;
            if (parse_schema_body(c->body, c->body_len, &doc, &schema, &len, c->rep))
                return PB_SR_REPLY;
            rc = pb_registry_record_register(&b, c->req, subject, schema, len, &err);
            json_decref(doc);
            if (rc) return build_failed(c, rc, &err);
            return write_record(c->rep, &b, c->req, PB_REGISTRY_OP_REGISTER);
        }
        return not_allowed(c);
    }
    int version;
    if (parse_version(seg[3], &version, c->rep)) return PB_SR_REPLY;
    if (n == 4) { /* /subjects/{s}/versions/{v} */
        if (is(c, "GET")) {
            pb_registry_version_t v;
            rc = pb_registry_get_version(c->r, subject, version, flag(c->param, c->arg, "deleted"),
                                         &v, &err);
            if (rc) return from_err(c, rc, &err);
            return reply_json(c->rep, 200, version_json(&v));
        }
        if (is(c, "DELETE")) {
            rc = pb_registry_record_delete_version(&b, c->req, subject, version,
                                                   flag(c->param, c->arg, "permanent"), &err);
            if (rc) return build_failed(c, rc, &err);
            return write_record(c->rep, &b, c->req, PB_REGISTRY_OP_DELETE_VERSION);
        }
        return not_allowed(c);
    }
    if (n == 5 && (strcmp(seg[4], "schema") == 0 || strcmp(seg[4], "referencedby") == 0)) {
        if (!is(c, "GET")) return not_allowed(c);
        pb_registry_version_t v;
        rc = pb_registry_get_version(c->r, subject, version, flag(c->param, c->arg, "deleted"), &v,
                                     &err);
        if (rc) return from_err(c, rc, &err);
        if (strcmp(seg[4], "referencedby") == 0) return reply_json(c->rep, 200, json_array());
        json_error_t jerr;
        return reply_json(c->rep, 200, json_loads(v.schema, JSON_DECODE_ANY, &jerr));
    }
    return not_found(c);
}

static pb_sr_outcome_t route_schemas(ctx_t *c, char **seg, int n) {
    pb_err_t err = {0};
    int rc, id;
    if (n == 2 && strcmp(seg[1], "types") == 0) {
        if (!is(c, "GET")) return not_allowed(c);
        return reply_json(c->rep, 200, json_pack("[s]", "AVRO"));
    }
    if (n < 3 || strcmp(seg[1], "ids") != 0) return not_found(c);
    if (!is(c, "GET")) return not_allowed(c);
    if (parse_id(seg[2], &id, c->rep)) return PB_SR_REPLY;
    if (n == 3 || (n == 4 && strcmp(seg[3], "schema") == 0)) {
        const char *text;
        rc = pb_registry_schema_by_id(c->r, id, &text, NULL, &err);
        if (rc) return from_err(c, rc, &err);
        if (n == 4) {
            json_error_t jerr;
            return reply_json(c->rep, 200, json_loads(text, JSON_DECODE_ANY, &jerr));
        }
        return reply_json(c->rep, 200, json_pack("{s:s}", "schema", text));
    }
    if (n == 4 && (strcmp(seg[3], "versions") == 0 || strcmp(seg[3], "subjects") == 0)) {
        json_t *list;
        int deleted = flag(c->param, c->arg, "deleted");
        rc = strcmp(seg[3], "versions") == 0
                 ? pb_registry_id_versions(c->r, id, deleted, &list, &err)
                 : pb_registry_id_subjects(c->r, id, deleted, &list, &err);
        if (rc) return from_err(c, rc, &err);
        return reply_json(c->rep, 200, list);
    }
    return not_found(c);
}

static pb_sr_outcome_t route_compat(ctx_t *c, char **seg, int n) {
    pb_err_t err = {0};
    if (!(n == 4 || n == 5) || strcmp(seg[1], "subjects") != 0 || strcmp(seg[3], "versions") != 0)
        return not_found(c);
    if (!is(c, "POST")) return not_allowed(c);
    int version = 0;
    if (n == 5 && parse_version(seg[4], &version, c->rep)) return PB_SR_REPLY;
    int verbose = flag(c->param, c->arg, "verbose");
    json_t *doc;
    const char *schema;
    size_t len;
    if (parse_schema_body(c->body, c->body_len, &doc, &schema, &len, c->rep)) return PB_SR_REPLY;
    int ok = 0;
    json_t *msgs = NULL;
    int rc =
        pb_registry_check(c->r, seg[2], schema, len, version, &ok, verbose ? &msgs : NULL, &err);
    json_decref(doc);
    if (rc == PB_SR_INVALID_SCHEMA && verbose) {
        ok = 0;
        msgs = json_pack("[s]", err.msg);
    } else if (rc) {
        return from_err(c, rc, &err);
    }
    json_t *j = json_pack("{s:b}", "is_compatible", ok);
    if (j && verbose)
        json_object_set_new(j, "messages", msgs ? msgs : json_array());
    else
        json_decref(msgs);
    return reply_json(c->rep, 200, j);
}

static pb_sr_outcome_t route_config(ctx_t *c, char **seg, int n) {
    pb_err_t err = {0};
    pb_buf_t b = {0};
    int rc;
    if (n > 2) return not_found(c);
    const char *subject = n == 2 ? seg[1] : NULL;
    if (is(c, "GET")) {
        int level = pb_registry_global_level(c->r);
        if (subject && !pb_registry_subject_level(c->r, subject, &level) &&
            !flag(c->param, c->arg, "defaultToGlobal"))
            return reply_errorf(c->rep, PB_SR_SUBJECT_CONFIG_NOT_FOUND,
                                "Subject '%s' does not have subject-level compatibility configured",
                                subject);
        return reply_json(c->rep, 200,
                          json_pack("{s:s}", "compatibilityLevel",
                                    pb_compat_level_name((pb_compat_level_t)level)));
    }
    if (is(c, "PUT")) {
        json_error_t jerr;
        json_t *j = c->body && c->body_len ? json_loadb(c->body, c->body_len, 0, &jerr) : NULL;
        const char *name = json_string_value(json_object_get(j, "compatibility"));
        if (!name) name = json_string_value(json_object_get(j, "compatibilityLevel"));
        int level = pb_compat_level_parse(name);
        json_decref(j);
        if (level < 0)
            return reply_error(c->rep, PB_SR_INVALID_LEVEL,
                               "Invalid compatibility level. Valid values are none, backward, "
                               "forward, full, backward_transitive, forward_transitive, and "
                               "full_transitive");
        rc = pb_registry_record_config(&b, c->req, subject, level, &err);
        if (rc) return build_failed(c, rc, &err);
        return write_record(c->rep, &b, c->req, PB_REGISTRY_OP_CONFIG);
    }
    if (is(c, "DELETE")) {
        int level;
        if (subject && !pb_registry_subject_level(c->r, subject, &level))
            return reply_errorf(c->rep, PB_SR_SUBJECT_NOT_FOUND, "Subject '%s' not found.",
                                subject);
        rc = pb_registry_record_config(&b, c->req, subject, -1, &err);
        if (rc) return build_failed(c, rc, &err);
        c->rep->config_delete = 1;
        return write_record(c->rep, &b, c->req, PB_REGISTRY_OP_CONFIG);
    }
    return not_allowed(c);
}

pb_sr_outcome_t pb_sr_handle(const pb_registry_t *r, const char *method, const char *path,
                             pb_sr_param_fn param, void *arg, const char *body, size_t body_len,
                             const char *req_id, pb_sr_reply_t *out) {
    char *seg[MAX_SEGMENTS] = {0};
    pb_sr_outcome_t rc;
    ctx_t c = {r, method, param, arg, body, body_len, req_id, out};
    static const char *const roots[] = {"subjects", "schemas", "compatibility", "config", "mode"};
    const char *p = path && *path == '/' ? path + 1 : path;
    int mine = 0;
    for (size_t i = 0; p && i < sizeof roots / sizeof *roots; i++) {
        size_t l = strlen(roots[i]);
        if (strncmp(p, roots[i], l) == 0 && (p[l] == '\0' || p[l] == '/')) mine = 1;
    }
    if (!mine) return PB_SR_NOT_MINE;
    pb_sr_reply_reset(out);
    int n = split(path, seg);
    if (n < 0) return reply_error(out, 404, "HTTP 404 Not Found: bad path");
    for (int i = 0; i < n; i++)
        if (!seg[i][0]) { /* an empty segment ("//") names nothing */
            rc = not_found(&c);
            goto done;
        }
    if (strcmp(seg[0], "subjects") == 0)
        rc = route_subjects(&c, seg, n);
    else if (strcmp(seg[0], "schemas") == 0)
        rc = route_schemas(&c, seg, n);
    else if (strcmp(seg[0], "compatibility") == 0)
        rc = route_compat(&c, seg, n);
    else if (strcmp(seg[0], "config") == 0)
        rc = route_config(&c, seg, n);
    else if (n <= 2 && is(&c, "GET"))
        rc = reply_json(out, 200, json_pack("{s:s}", "mode", "READWRITE"));
    else
        rc = n <= 2 ? not_allowed(&c) : not_found(&c);
done:
    for (int i = 0; i < n; i++)
        free(seg[i]);
    return rc;
}
