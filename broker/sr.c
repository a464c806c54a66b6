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
#include "jsontext.h"

#define MAX_SEGMENTS 8

/* ---- replies -------------------------------------------------------------------------------- */

int pb_sr_http_status(int code) {
    if (code == 0) return 200;
    if (code >= 10000) return code / 100;
    return code;
}

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
    return reply_json(rep, pb_sr_http_status(code), j);
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

/* A version as Confluent's Schema entity: subject, version, id, schemaType (always "AVRO" since
 * Confluent 7.9), schema, and references, metadata, ruleSet when it has them. */
static json_t *version_json(const pb_registry_version_t *v) {
    json_t *o = json_pack("{s:s,s:i,s:i,s:s,s:s}", "subject", v->subject, "version", v->version,
                          "id", v->id, "schemaType", "AVRO", "schema", v->schema);
    if (o && v->references) json_object_set(o, "references", (json_t *)v->references);
    if (o && v->metadata) json_object_set(o, "metadata", (json_t *)v->metadata);
    if (o && v->rule_set) json_object_set(o, "ruleSet", (json_t *)v->rule_set);
    return o;
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
    pb_registry_version_t v;
    pb_err_t err = {0};
    switch (rep->op) {
    case PB_REGISTRY_OP_REGISTER:
        /* Confluent (7.9+) answers the registered schema; {"id"} is what older clients read. */
        if (rep->reg &&
            !pb_registry_get_version(rep->reg, rep->subject, res->version, 1, &v, &err) &&
            v.id == res->id) { /* in RegisterSchemaResponse's order */
            j = json_pack("{s:i,s:i,s:s}", "id", v.id, "version", v.version, "schemaType", "AVRO");
            if (j && v.references) json_object_set(j, "references", (json_t *)v.references);
            if (j && v.metadata) json_object_set(j, "metadata", (json_t *)v.metadata);
            if (j && v.rule_set) json_object_set(j, "ruleSet", (json_t *)v.rule_set);
            if (j) json_object_set_new(j, "schema", json_string(v.schema));
        } else {
            j = json_pack("{s:i}", "id", res->id);
        }
        break;
    case PB_REGISTRY_OP_DELETE_VERSION: j = json_integer(res->version); break;
    case PB_REGISTRY_OP_DELETE_SUBJECT:
        j = res->body ? json_incref(res->body) : json_array();
        break;
    case PB_REGISTRY_OP_CONFIG:
        j = json_pack("{s:s}", rep->config_delete ? "compatibilityLevel" : "compatibility",
                      pb_compat_level_name((pb_compat_level_t)res->level));
        break;
    case PB_REGISTRY_OP_MODE:
        j = json_pack("{s:s}", "mode", pb_registry_mode_name(res->level));
        break;
    default: j = res->body ? json_incref(res->body) : json_object(); break;
    }
    reply_json(rep, 200, j);
}

/* ---- request parsing ------------------------------------------------------------------------ */

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
        if (pb_jsontext_pct_decode(p, len, 0, s, len + 1, NULL, NULL)) {
            free(s);
            goto bad;
        }
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

/* A Schema Registry request body {"schema": "...", "schemaType": "AVRO", "references": [...],
 * "metadata": {...}, "ruleSet": {...}, "id": N, "version": N}. */
typedef struct body {
    json_t *doc;        /* owned */
    const char *schema; /* into doc; NULL when absent or empty */
    size_t len;
    pb_registry_reg_opts_t opts; /* into doc */
} body_t;

/* Parse body into *b (caller decrefs b->doc). Otherwise replies and returns nonzero. The schema
 * may be absent: the caller decides what that means. */
static int parse_body(const char *body, size_t len, body_t *b, pb_sr_reply_t *rep) {
    json_error_t jerr;
    memset(b, 0, sizeof *b);
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
            reply_errorf(rep, 400, "Invalid request body: %s at line %d column %d",
                         /* jansson's text names its flag; say what is refused instead */
                         json_error_code(&jerr) == json_error_null_character
                             ? "\\u0000 (U+0000) is allowed only inside the schema text's strings"
                             : jerr.text,
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
    json_t *s = json_object_get(j, "schema");
    if (s && !json_is_null(s) && !json_is_string(s)) {
        reply_error(rep, PB_SR_INVALID_SCHEMA,
                    "Invalid schema: \"schema\" must be a string holding the schema JSON");
        json_decref(j);
        return 1;
    }
    static const char *const ints[] = {"id", "version"};
    int vals[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(j, ints[i]);
        if (!v || json_is_null(v)) continue;
        if (!json_is_integer(v) || json_integer_value(v) > 2147483647 ||
            json_integer_value(v) < -1) {
            reply_errorf(rep, PB_SR_INVALID_SCHEMA,
                         "Invalid schema: \"%s\" must be an integer (1..2^31-1; -1 or 0: none)",
                         ints[i]);
            json_decref(j);
            return 1;
        }
        vals[i] = (int)json_integer_value(v);
    }
    b->doc = j;
    if (json_is_string(s) && json_string_length(s) > 0) {
        b->schema = json_string_value(s);
        b->len = json_string_length(s);
    }
    b->opts.references = json_object_get(j, "references");
    b->opts.metadata = json_object_get(j, "metadata");
    b->opts.rule_set = json_object_get(j, "ruleSet");
    b->opts.id = vals[0] > 0 ? vals[0] : 0;
    b->opts.version = vals[1] > 0 ? vals[1] : 0;
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

static const char *qparam(const ctx_t *c, const char *name) {
    return c->param ? c->param(c->arg, name) : NULL;
}

static pb_sr_outcome_t not_allowed(ctx_t *c) {
    return reply_error(c->rep, 405, "HTTP 405 Method Not Allowed");
}

static pb_sr_outcome_t not_found(ctx_t *c) {
    return reply_error(c->rep, 404, "HTTP 404 Not Found");
}

static pb_sr_outcome_t from_err(ctx_t *c, int code, const pb_err_t *err) {
    return reply_error(c->rep, code, err->msg);
}

/* Builder failure → reply. */
static pb_sr_outcome_t build_failed(ctx_t *c, int code, const pb_err_t *err) {
    return reply_error(c->rep, code, err->msg);
}

/* The listing filter of ?deleted / ?deletedOnly (deletedOnly wins, as Confluent's). */
static int filter(const ctx_t *c) {
    if (flag(c->param, c->arg, "deletedOnly")) return PB_REGISTRY_DELETED_ONLY;
    return flag(c->param, c->arg, "deleted") ? PB_REGISTRY_WITH_DELETED : PB_REGISTRY_LIVE;
}

/* ?offset (default 0) and ?limit (default -1: all; negative: all) applied to list (taken), as
 * Confluent pages its listings. Replies 400 for a value that is not an integer (or a negative
 * offset) and returns NULL. */
static json_t *paginate(ctx_t *c, json_t *list) {
    static const char *const names[] = {"offset", "limit"};
    long v[2] = {0, -1};
    for (int i = 0; i < 2; i++) {
        const char *s = qparam(c, names[i]);
        if (!s) continue;
        char *end = NULL;
        errno = 0;
        long x = *s ? strtol(s, &end, 10) : 0;
        if (!*s || errno || *end || x > 2147483647L || x < -2147483647L || (i == 0 && x < 0)) {
            char ex[64];
            reply_errorf(c->rep, 400, "Invalid %s '%s': %s", names[i],
                         pb_addr_excerpt(s, ex, sizeof ex),
                         i == 0 ? "a non-negative integer" : "an integer (negative: no limit)");
            json_decref(list);
            return NULL;
        }
        v[i] = x;
    }
    if (!list || (v[0] == 0 && v[1] < 0)) return list;
    json_t *out = json_array();
    size_t n = json_array_size(list);
    for (size_t i = (size_t)v[0]; out && i < n && (v[1] < 0 || i < (size_t)v[0] + (size_t)v[1]);
         i++)
        json_array_append(out, json_array_get(list, i));
    json_decref(list);
    return out;
}

/* Reply with a paged listing (taken). */
static pb_sr_outcome_t reply_list(ctx_t *c, json_t *list) {
    json_t *page = paginate(c, list);
    return page ? reply_json(c->rep, 200, page) : PB_SR_REPLY;
}

/* POST /subjects/{s}/versions. A body without a schema re-registers the latest version's schema
 * (and references) with the body's metadata / ruleSet, as Confluent does. */
static pb_sr_outcome_t do_register(ctx_t *c, const char *subject) {
    pb_err_t err = {0};
    pb_buf_t b = {0};
    body_t q;
    if (parse_body(c->body, c->body_len, &q, c->rep)) return PB_SR_REPLY;
    const char *schema = q.schema;
    size_t len = q.len;
    pb_registry_version_t latest;
    if (!schema) {
        if (pb_registry_get_version(c->r, subject, -1, 0, &latest, &err)) {
            json_decref(q.doc);
            return reply_error(c->rep, PB_SR_INVALID_SCHEMA, "Invalid schema: Empty schema");
        }
        schema = latest.schema;
        len = strlen(schema);
        if (!q.opts.references) q.opts.references = latest.references;
    }
    int rc = pb_registry_record_register_ex(&b, c->r, c->req, subject, schema, len, &q.opts, &err);
    json_decref(q.doc);
    if (rc) return build_failed(c, rc, &err);
    snprintf(c->rep->subject, sizeof c->rep->subject, "%s", subject);
    c->rep->reg = c->r;
    return write_record(c->rep, &b, c->req, PB_REGISTRY_OP_REGISTER);
}

/* POST /subjects/{s}: is this schema (with its references, metadata, ruleSet) registered here? */
static pb_sr_outcome_t do_lookup(ctx_t *c, const char *subject) {
    pb_err_t err = {0};
    body_t q;
    pb_registry_version_t v;
    int deleted = flag(c->param, c->arg, "deleted");
    if (parse_body(c->body, c->body_len, &q, c->rep)) return PB_SR_REPLY;
    int rc;
    if (!q.schema) { /* Confluent: nothing to find, so 40401 or 40403 */
        json_t *vs = NULL;
        rc = pb_registry_versions(c->r, subject, deleted, &vs, &err);
        json_decref(vs);
        json_decref(q.doc);
        if (rc) return from_err(c, rc, &err);
        return reply_error(c->rep, PB_SR_SCHEMA_NOT_FOUND, "Schema not found");
    }
    rc = pb_registry_lookup_ex(c->r, subject, q.schema, q.len, &q.opts, deleted, &v, &err);
    json_decref(q.doc);
    if (rc) return from_err(c, rc, &err);
    return reply_json(c->rep, 200, version_json(&v));
}

static pb_sr_outcome_t route_subjects(ctx_t *c, char **seg, int n) {
    pb_err_t err = {0};
    pb_buf_t b = {0};
    int rc;
    const char *subject = n >= 2 ? seg[1] : NULL;
    if (n == 1) { /* /subjects */
        if (!is(c, "GET")) return not_allowed(c);
        return reply_list(c, pb_registry_subjects(c->r, filter(c), qparam(c, "subjectPrefix")));
    }
    if (n == 2) { /* /subjects/{s} */
        if (is(c, "POST")) return do_lookup(c, subject);
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
            int f = filter(c);
            rc = pb_registry_versions(c->r, subject, f, &list, &err);
            if (rc == PB_SR_SUBJECT_NOT_FOUND && f == PB_REGISTRY_DELETED_ONLY) {
                json_t *all = NULL; /* a subject with versions but none deleted: [] */
                if (!pb_registry_versions(c->r, subject, PB_REGISTRY_WITH_DELETED, &all, &err)) {
                    json_decref(all);
                    return reply_json(c->rep, 200, json_array());
                }
            }
            if (rc) return from_err(c, rc, &err);
            return reply_list(c, list);
        }
        if (is(c, "POST")) return do_register(c, subject);
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
    if (n == 5 && strcmp(seg[4], "referencedby") == 0) {
        if (!is(c, "GET")) return not_allowed(c);
        json_t *ids;
        rc = pb_registry_referenced_by(c->r, subject, version, flag(c->param, c->arg, "deleted"),
                                       &ids, &err);
        if (rc) return from_err(c, rc, &err);
        return reply_list(c, ids);
    }
    if (n == 5 && strcmp(seg[4], "schema") == 0) {
        if (!is(c, "GET")) return not_allowed(c);
        pb_registry_version_t v;
        rc = pb_registry_get_version(c->r, subject, version, flag(c->param, c->arg, "deleted"), &v,
                                     &err);
        if (rc) return from_err(c, rc, &err);
        json_error_t jerr;
        return reply_json(c->rep, 200,
                          json_loads(v.schema, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr));
    }
    return not_found(c);
}

/* GET /schemas: every version (soft-deleted ones with ?deleted) of the subjects starting with
 * ?subjectPrefix, by subject then version; ?latestOnly: each subject's latest one. */
static pb_sr_outcome_t list_schemas(ctx_t *c) {
    pb_err_t err = {0};
    int deleted = flag(c->param, c->arg, "deleted");
    int latest_only = flag(c->param, c->arg, "latestOnly");
    json_t *subjects = pb_registry_subjects(c->r, deleted, qparam(c, "subjectPrefix"));
    json_t *out = json_array();
    for (size_t i = 0; subjects && out && i < json_array_size(subjects); i++) {
        const char *s = json_string_value(json_array_get(subjects, i));
        json_t *vs = NULL;
        if (pb_registry_versions(c->r, s, deleted, &vs, &err)) continue;
        size_t nv = json_array_size(vs);
        for (size_t k = latest_only && nv ? nv - 1 : 0; k < nv; k++) {
            pb_registry_version_t v;
            if (!pb_registry_get_version(c->r, s, (int)json_integer_value(json_array_get(vs, k)),
                                         deleted, &v, &err))
                json_array_append_new(out, version_json(&v));
        }
        json_decref(vs);
    }
    json_decref(subjects);
    return reply_list(c, out);
}

static pb_sr_outcome_t route_schemas(ctx_t *c, char **seg, int n) {
    pb_err_t err = {0};
    int rc, id;
    if (n == 1) {
        if (!is(c, "GET")) return not_allowed(c);
        return list_schemas(c);
    }
    if (n == 2 && strcmp(seg[1], "types") == 0) {
        if (!is(c, "GET")) return not_allowed(c);
        return reply_json(c->rep, 200, json_pack("[s]", "AVRO"));
    }
    if (n < 3 || strcmp(seg[1], "ids") != 0) return not_found(c);
    if (!is(c, "GET")) return not_allowed(c);
    if (parse_id(seg[2], &id, c->rep)) return PB_SR_REPLY;
    if (n == 3 || (n == 4 && strcmp(seg[3], "schema") == 0)) {
        pb_registry_version_t v;
        rc = pb_registry_schema_info(c->r, id, &v, &err);
        if (rc) return from_err(c, rc, &err);
        if (n == 4) {
            json_error_t jerr;
            return reply_json(c->rep, 200,
                              json_loads(v.schema, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr));
        }
        json_t *o = json_pack("{s:s,s:s}", "schemaType", "AVRO", "schema", v.schema);
        if (o && v.references) json_object_set(o, "references", (json_t *)v.references);
        if (o && v.metadata) json_object_set(o, "metadata", (json_t *)v.metadata);
        if (o && v.rule_set) json_object_set(o, "ruleSet", (json_t *)v.rule_set);
        const char *subject = qparam(c, "subject");
        if (o && subject && *subject) { /* Confluent 7.9+: the subject-version it has there */
            json_t *uses = NULL;
            int found = 0;
            if (!pb_registry_id_versions(c->r, id, 0, &uses, &err))
                for (size_t i = 0; i < json_array_size(uses) && !found; i++) {
                    json_t *u = json_array_get(uses, i);
                    if (strcmp(json_string_value(json_object_get(u, "subject")), subject)) continue;
                    json_object_set(o, "subject", json_object_get(u, "subject"));
                    json_object_set(o, "version", json_object_get(u, "version"));
                    found = 1;
                }
            json_decref(uses);
            if (!found) {
                json_decref(o);
                return reply_errorf(c->rep, PB_SR_SCHEMA_NOT_FOUND,
                                    "Schema %d not found under subject '%s'", id, subject);
            }
        }
        if (o && flag(c->param, c->arg, "fetchMaxId"))
            json_object_set_new(o, "maxId", json_integer(pb_registry_max_id(c->r)));
        return reply_json(c->rep, 200, o);
    }
    if (n == 4 && (strcmp(seg[3], "versions") == 0 || strcmp(seg[3], "subjects") == 0)) {
        json_t *list;
        int deleted = flag(c->param, c->arg, "deleted");
        rc = strcmp(seg[3], "versions") == 0
                 ? pb_registry_id_versions(c->r, id, deleted, &list, &err)
                 : pb_registry_id_subjects(c->r, id, deleted, &list, &err);
        if (rc) return from_err(c, rc, &err);
        return reply_list(c, list);
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
    body_t q;
    if (parse_body(c->body, c->body_len, &q, c->rep)) return PB_SR_REPLY;
    if (!q.schema) {
        json_decref(q.doc);
        return reply_error(c->rep, PB_SR_INVALID_SCHEMA, "Invalid schema: Empty schema");
    }
    int ok = 0;
    json_t *msgs = NULL;
    int rc = pb_registry_check_ex(c->r, seg[2], q.schema, q.len, &q.opts, version, &ok,
                                  verbose ? &msgs : NULL, &err);
    json_decref(q.doc);
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
        json_t *lv = json_object_get(j, "compatibility");
        if (!lv || json_is_null(lv)) lv = json_object_get(j, "compatibilityLevel");
        if (json_is_object(j) && (!lv || json_is_null(lv))) {
            /* No level in the request: Confluent leaves it as it is and answers it. */
            json_decref(j);
            int level = pb_registry_global_level(c->r);
            if (subject && !pb_registry_subject_level(c->r, subject, &level))
                return reply_json(c->rep, 200, json_object());
            return reply_json(c->rep, 200,
                              json_pack("{s:s}", "compatibility",
                                        pb_compat_level_name((pb_compat_level_t)level)));
        }
        int level = pb_compat_level_parse(json_string_value(lv));
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

static pb_sr_outcome_t route_mode(ctx_t *c, char **seg, int n) {
    pb_err_t err = {0};
    pb_buf_t b = {0};
    int rc, mode;
    if (n > 2) return not_found(c);
    const char *subject = n == 2 ? seg[1] : NULL;
    if (is(c, "GET")) {
        mode = pb_registry_global_mode(c->r);
        if (subject && !pb_registry_subject_mode(c->r, subject, &mode) &&
            !flag(c->param, c->arg, "defaultToGlobal"))
            return reply_errorf(c->rep, PB_SR_SUBJECT_MODE_NOT_FOUND,
                                "Subject '%s' does not have subject-level mode configured",
                                subject);
        return reply_json(c->rep, 200, json_pack("{s:s}", "mode", pb_registry_mode_name(mode)));
    }
    if (is(c, "PUT")) {
        json_error_t jerr;
        json_t *j = c->body && c->body_len ? json_loadb(c->body, c->body_len, 0, &jerr) : NULL;
        json_t *mv = json_object_get(j, "mode");
        if (!json_is_object(j) || (mv && !json_is_null(mv) && !json_is_string(mv))) {
            json_decref(j);
            return reply_error(c->rep, PB_SR_INVALID_MODE,
                               "Invalid mode: the body is {\"mode\": \"READWRITE\" | \"READONLY\" "
                               "| \"IMPORT\"}");
        }
        mode = mv && !json_is_null(mv) ? pb_registry_mode_parse(json_string_value(mv)) : -1;
        int clear = !mv || json_is_null(mv); /* Confluent: {"mode": null} clears it */
        json_decref(j);
        if (!clear && mode < 0)
            return reply_error(c->rep, PB_SR_INVALID_MODE,
                               "Invalid mode. Valid values are READWRITE, READONLY and IMPORT.");
        if (clear && subject && !pb_registry_subject_mode(c->r, subject, &rc))
            return reply_json(c->rep, 200, json_object());
        rc = pb_registry_record_mode(&b, c->req, subject, clear ? -1 : mode,
                                     flag(c->param, c->arg, "force"), &err);
        if (rc) return build_failed(c, rc, &err);
        c->rep->config_delete = clear;
        return write_record(c->rep, &b, c->req, PB_REGISTRY_OP_MODE);
    }
    if (is(c, "DELETE")) {
        if (subject && !pb_registry_subject_mode(c->r, subject, &mode))
            return reply_errorf(c->rep, PB_SR_SUBJECT_NOT_FOUND, "Subject '%s' not found.",
                                subject);
        rc = pb_registry_record_mode(&b, c->req, subject, -1, 0, &err);
        if (rc) return build_failed(c, rc, &err);
        c->rep->config_delete = 1;
        return write_record(c->rep, &b, c->req, PB_REGISTRY_OP_MODE);
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
    else
        rc = route_mode(&c, seg, n);
done:
    for (int i = 0; i < n; i++)
        free(seg[i]);
    return rc;
}
