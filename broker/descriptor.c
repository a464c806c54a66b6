/*
 * descriptor — data product descriptors (a subset of DPDS 1.0, DESIGN.md §3).
 *
 * Owns: validation of descriptor JSON into pb_product_t, `$ref` resolution under the descriptor's
 * directory, SLO string parsing, and descriptor sets with their cross-product checks. The only I/O
 * is reading descriptor and schema files below the directories the caller names.
 * Must not: touch Kafka or the registry, or judge schema evolution (compat.c does).
 *
 * Every validation error reads "descriptor {source}: {json pointer}: {reason}"; the walk keeps the
 * current JSON pointer in the parse context so each check only states its reason.
 */
#include "descriptor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compat.h"
#include "jsontext.h"
#include "schema.h"

#define PATH_BUF 512
#define MAX_DURATION_MS (3650LL * 24 * 3600 * 1000) /* ten years */

/* Parse context: where we are, for messages. */
typedef struct {
    const char *source;
    const char *base_dir; /* NULL: $ref not allowed */
    const char *default_ns;
    int default_partitions;
    char path[PATH_BUF]; /* JSON pointer of the value being checked */
    size_t len;
    pb_err_t *err;
} ctx_t;

/* ---- context and messages ---- */

static size_t push(ctx_t *c, const char *key) {
    size_t old = c->len;
    c->len = pb_jsontext_pointer_push_to(c->path, sizeof c->path, c->len, key, strlen(key));
    return old;
}

static size_t push_idx(ctx_t *c, size_t i) {
    char num[32];
    snprintf(num, sizeof num, "%zu", i);
    return push(c, num);
}

static void pop(ctx_t *c, size_t old) {
    c->len = old;
    c->path[old] = '\0';
}

static const char *here(const ctx_t *c) { return c->len ? c->path : "(document)"; }

static int fail(ctx_t *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(ctx_t *c, int code, const char *fmt, ...) {
    char msg[PB_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return pb_err_set(c->err, code, "descriptor %s: %s: %s", c->source, here(c), msg);
}

/* Add the descriptor context to an error another module set. */
static int wrap(ctx_t *c) {
    if (c->err && !c->err->code) c->err->code = PB_ERR_INVALID;
    return pb_err_prefix(c->err, "descriptor %s: %s: ", c->source, here(c));
}

static int sdup(ctx_t *c, const char *s, char **out) {
    *out = strdup(s);
    if (!*out) return pb_err_set(c->err, PB_ERR_NOMEM, "out of memory");
    return 0;
}

/* Member key of obj as a string. Missing: an error when required, else *out = NULL. Empty strings
 * and strings with NUL characters are refused. */
static int get_string(ctx_t *c, const json_t *obj, const char *key, int required,
                      const char **out) {
    size_t old = push(c, key);
    int rc = 0;
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v) {
        if (required) rc = fail(c, PB_ERR_INVALID, "missing (required string)");
    } else if (!json_is_string(v)) {
        rc = fail(c, PB_ERR_INVALID, "must be a string, not %s", pb_schema_json_kind(v));
    } else if (json_string_length(v) != strlen(json_string_value(v))) {
        rc = fail(c, PB_ERR_INVALID, "must not contain NUL characters");
    } else if (json_string_length(v) == 0) {
        rc = fail(c, PB_ERR_INVALID, "must not be empty");
    } else {
        *out = json_string_value(v);
    }
    if (!rc) pop(c, old);
    return rc;
}

/* Member key of obj that must be an object (or array when want_array). Missing: error when
 * required, else *out = NULL. */
static int get_container(ctx_t *c, const json_t *obj, const char *key, int required, int want_array,
                         const json_t **out) {
    size_t old = push(c, key);
    int rc = 0;
    const json_t *v = json_object_get(obj, key);
    const char *want = want_array ? "array" : "object";
    *out = NULL;
    if (!v) {
        if (required) rc = fail(c, PB_ERR_INVALID, "missing (required %s)", want);
    } else if (want_array ? !json_is_array(v) : !json_is_object(v)) {
        rc = fail(c, PB_ERR_INVALID, "must be an %s, not %s", want, pb_schema_json_kind(v));
    } else {
        *out = v;
    }
    if (!rc) pop(c, old);
    return rc;
}

/* Semantic version MAJOR.MINOR.PATCH[-pre][+build]; *major gets MAJOR. Returns 0 or -1. */
static int semver(const char *s, unsigned long *major) {
    unsigned long part[3] = {0, 0, 0};
    const char *p = s;
    for (int i = 0; i < 3; i++) {
        if (!(*p >= '0' && *p <= '9')) return -1;
        if (*p == '0' && p[1] >= '0' && p[1] <= '9') return -1; /* leading zero */
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            if (++digits > 9) return -1;
            part[i] = part[i] * 10 + (unsigned long)(*p++ - '0');
        }
        if (i < 2 && *p++ != '.') return -1;
    }
    if (*p == '-' || *p == '+') {
        const char *q = p + 1;
        if (!*q) return -1;
        for (; *q; q++)
            if (!((*q >= '0' && *q <= '9') || (*q >= 'A' && *q <= 'Z') ||
                  (*q >= 'a' && *q <= 'z') || *q == '-' || *q == '.' || *q == '+'))
                return -1;
    } else if (*p) {
        return -1;
    }
    *major = part[0];
    return 0;
}

/* ---- SLO strings ---- */

/* A decimal number [0-9]+(.[0-9]+)? at *s; advances *s. Returns 0 or -1. */
static int decimal(const char **s, double *out) {
    const char *p = *s;
    double v = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
        if (++digits > 15) return -1;
        v = v * 10 + (*p++ - '0');
    }
    if (!digits) return -1;
    if (*p == '.') {
        p++;
        double scale = 0.1;
        int frac = 0;
        while (*p >= '0' && *p <= '9') {
            if (++frac > 15) return -1;
            v += (*p++ - '0') * scale;
            scale /= 10;
        }
        if (!frac) return -1;
    }
    *s = p;
    *out = v;
    return 0;
}

int pb_descriptor_parse_duration(const char *s, int64_t *ms, pb_err_t *err) {
    char ex[400];
    const char *p = s;
    int64_t v = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
        if (++digits > 15) break;
        v = v * 10 + (*p++ - '0');
    }
    int64_t unit = 0;
    if (digits && digits <= 15) {
        if (strcmp(p, "ms") == 0)
            unit = 1;
        else if (strcmp(p, "s") == 0)
            unit = 1000;
        else if (strcmp(p, "m") == 0)
            unit = 60 * 1000;
        else if (strcmp(p, "h") == 0)
            unit = 3600 * 1000;
        else if (strcmp(p, "d") == 0)
            unit = 24 * 3600 * 1000;
    }
    if (!unit)
        return pb_err_set(err, PB_ERR_INVALID,
                          "'%s' is not a duration (use e.g. 500ms, 30s, 5m, 1h)",
                          pb_addr_excerpt(s, ex, sizeof ex));
    if (v == 0)
        return pb_err_set(err, PB_ERR_INVALID, "duration '%s' must be positive",
                          pb_addr_excerpt(s, ex, sizeof ex));
    if (v > MAX_DURATION_MS / unit)
        return pb_err_set(err, PB_ERR_INVALID, "duration '%s' is longer than 3650d",
                          pb_addr_excerpt(s, ex, sizeof ex));
    *ms = v * unit;
    return 0;
}

int pb_descriptor_parse_rate(const char *s, double *per_s, pb_err_t *err) {
    char ex[400];
    const char *p = s;
    double v, unit = 0;
    if (decimal(&p, &v) == 0 && *p == '/') {
        p++;
        if (strcmp(p, "s") == 0)
            unit = 1;
        else if (strcmp(p, "m") == 0)
            unit = 60;
        else if (strcmp(p, "h") == 0)
            unit = 3600;
        else if (strcmp(p, "d") == 0)
            unit = 86400;
    }
    if (unit == 0)
        return pb_err_set(err, PB_ERR_INVALID, "'%s' is not a rate (use e.g. 10/s, 600/m, 1/h)",
                          pb_addr_excerpt(s, ex, sizeof ex));
    if (v <= 0)
        return pb_err_set(err, PB_ERR_INVALID, "rate '%s' must be positive",
                          pb_addr_excerpt(s, ex, sizeof ex));
    *per_s = v / unit;
    return 0;
}

int pb_descriptor_parse_percent(const char *s, double *ratio, pb_err_t *err) {
    char ex[400];
    const char *p = s;
    double v;
    if (decimal(&p, &v) != 0 || strcmp(p, "%") != 0)
        return pb_err_set(err, PB_ERR_INVALID, "'%s' is not a percentage (use e.g. 0.1%%, 5%%)",
                          pb_addr_excerpt(s, ex, sizeof ex));
    if (v > 100)
        return pb_err_set(err, PB_ERR_INVALID, "percentage '%s' is more than 100%%",
                          pb_addr_excerpt(s, ex, sizeof ex));
    *ratio = v / 100.0;
    return 0;
}

/* The levels are compat.c's (one list for the whole broker); descriptors spell them exactly. */
int pb_descriptor_compat_valid(const char *s) {
    int level = pb_compat_level_parse(s);
    return level >= 0 && strcmp(pb_compat_level_name(level), s) == 0;
}

/* ---- files ---- */

/* Read a regular file of at most max bytes into a new NUL-terminated buffer. Returns 0,
 * PB_ERR_NOT_FOUND, PB_ERR_IO, PB_ERR_TOO_LARGE or PB_ERR_NOMEM; the message has no context. */
static int read_file(const char *path, size_t max, char **out, size_t *out_len, pb_err_t *err) {
    int rc = 0, fd = -1;
    char *buf = NULL;
    struct stat st;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = pb_err_set(err, errno == ENOENT ? PB_ERR_NOT_FOUND : PB_ERR_IO, "cannot open: %s",
                        strerror(errno));
        goto done;
    }
    if (fstat(fd, &st) != 0) {
        rc = pb_err_set(err, PB_ERR_IO, "cannot stat: %s", strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = pb_err_set(err, PB_ERR_IO, "not a regular file");
        goto done;
    }
    if ((uintmax_t)st.st_size > max) {
        rc = pb_err_set(err, PB_ERR_TOO_LARGE, "%jd bytes, at most %zu are allowed",
                        (intmax_t)st.st_size, max);
        goto done;
    }
    buf = malloc(max + 1);
    if (!buf) {
        rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, max + 1 - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = pb_err_set(err, PB_ERR_IO, "read failed: %s", strerror(errno));
            goto done;
        }
        if (n == 0) break;
        len += (size_t)n;
        if (len > max) {
            rc = pb_err_set(err, PB_ERR_TOO_LARGE, "more than %zu bytes", max);
            goto done;
        }
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    buf = NULL;
done:
    if (fd >= 0) close(fd);
    free(buf);
    return rc;
}

/* Validate schema JSON with the Avro parser. The parser says "at {pointer in the schema}: reason";
 * an inline schema's pointer continues the descriptor's, a file's follows its name (ref). */
static int parse_avro(ctx_t *c, const json_t *json, const char *ref, pb_schema_t **out) {
    pb_err_t serr = {0};
    int rc = pb_schema_parse_json(json, out, &serr);
    if (!rc) return 0;
    const char *msg = serr.msg, *ptr = "", *reason = msg;
    size_t plen = 0;
    if (strncmp(msg, "at ", 3) == 0 && strstr(msg + 3, ": ")) {
        ptr = msg + 3;
        plen = (size_t)(strstr(ptr, ": ") - ptr);
        reason = ptr + plen + 2;
        if (ptr[0] != '/') plen = 0; /* "(root)" */
    }
    char ex[400];
    if (ref) {
        if (plen)
            return fail(c, rc, "'%s' at %.*s: %s", pb_addr_excerpt(ref, ex, sizeof ex), (int)plen,
                        ptr, reason);
        return fail(c, rc, "'%s': %s", pb_addr_excerpt(ref, ex, sizeof ex), reason);
    }
    size_t old = c->len;
    if (plen && c->len + plen < sizeof c->path) {
        memcpy(c->path + c->len, ptr, plen);
        c->len += plen;
        c->path[c->len] = '\0';
    }
    rc = fail(c, rc, "%s", reason);
    pop(c, old);
    return rc;
}

/* Resolve a schema value at the current path: inline JSON, or {"$ref": "file"} under base_dir,
 * then validate it as Avro. *out gets a new reference, *parsed the parsed schema. */
static int resolve_schema(ctx_t *c, const json_t *v, json_t **out, pb_schema_t **parsed) {
    int rc = 0;
    char *text = NULL, *full = NULL, *real_base = NULL, *real_file = NULL;
    char ex[400];
    json_t *j = NULL;
    *out = NULL;
    *parsed = NULL;
    if (json_is_object(v) && json_object_get(v, "$ref")) {
        const char *ref;
        if (json_object_size(v) != 1) {
            rc = fail(c, PB_ERR_INVALID,
                      "a schema reference has '$ref' as its only member (found %zu members)",
                      json_object_size(v));
            goto done;
        }
        if ((rc = get_string(c, v, "$ref", 1, &ref))) goto done;
        size_t old = push(c, "$ref");
        pb_addr_excerpt(ref, ex, sizeof ex);
        if (!c->base_dir) {
            rc = fail(c, PB_ERR_INVALID,
                      "'%s': $ref needs a descriptor directory; a descriptor sent without files "
                      "must inline its schemas",
                      ex);
            goto done;
        }
        if (ref[0] == '/') {
            rc = fail(c, PB_ERR_INVALID,
                      "'%s': absolute paths are not allowed; $ref is relative to the descriptor's "
                      "directory",
                      ex);
            goto done;
        }
        for (const char *p = ref; *p;) {
            const char *e = strchr(p, '/');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            if (n == 2 && p[0] == '.' && p[1] == '.') {
                rc = fail(c, PB_ERR_INVALID,
                          "'%s' escapes the descriptor's directory ('..' is not allowed)", ex);
                goto done;
            }
            p += n + (e ? 1 : 0);
        }
        size_t flen = strlen(c->base_dir) + strlen(ref) + 2;
        full = malloc(flen);
        if (!full) {
            rc = pb_err_set(c->err, PB_ERR_NOMEM, "out of memory");
            goto done;
        }
        snprintf(full, flen, "%s/%s", c->base_dir, ref);
        real_file = realpath(full, NULL);
        if (!real_file) {
            if (errno == ENOENT || errno == ENOTDIR)
                rc = fail(c, PB_ERR_INVALID, "'%s' not found in '%.100s'", ex, c->base_dir);
            else
                rc = fail(c, PB_ERR_INVALID, "'%s': %s", ex, strerror(errno));
            goto done;
        }
        real_base = realpath(c->base_dir, NULL);
        size_t bl = real_base ? strlen(real_base) : 0;
        if (!real_base || strncmp(real_file, real_base, bl) != 0 ||
            (real_file[bl] != '/' && !(bl == 1 && real_base[0] == '/'))) {
            rc = fail(c, PB_ERR_INVALID,
                      "'%s' escapes the descriptor's directory through a symbolic link", ex);
            goto done;
        }
        size_t len = 0;
        if ((rc = read_file(real_file, PB_SCHEMA_MAX_BYTES, &text, &len, c->err))) {
            if (rc != PB_ERR_TOO_LARGE && rc != PB_ERR_NOMEM) c->err->code = PB_ERR_INVALID;
            pb_err_prefix(c->err, "'%s': ", ex);
            rc = wrap(c);
            goto done;
        }
        json_error_t jerr;
        j = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
        if (!j) {
            rc = fail(c, PB_ERR_INVALID, "'%s' is not JSON: line %d, column %d: %s", ex, jerr.line,
                      jerr.column, jerr.text);
            goto done;
        }
        if ((rc = parse_avro(c, j, ref, parsed))) goto done;
        pop(c, old);
        *out = j;
        j = NULL;
    } else if (json_is_object(v) || json_is_array(v) || json_is_string(v)) {
        if ((rc = parse_avro(c, v, NULL, parsed))) goto done;
        *out = json_incref((json_t *)v);
    } else {
        rc = fail(c, PB_ERR_INVALID,
                  "a schema is Avro schema JSON (object, string or array) or {\"$ref\": "
                  "\"file.avsc\"}, not %s",
                  pb_schema_json_kind(v));
    }
done:
    json_decref(j);
    free(text);
    free(full);
    free(real_base);
    free(real_file);
    return rc;
}

/* ---- products and ports ---- */

static void port_free(pb_port_t *p) {
    free(p->name);
    free(p->fqn);
    free(p->version);
    free(p->topic);
    free(p->dlq_topic);
    free(p->subject);
    free(p->compatibility);
    json_decref(p->schema);
    json_decref(p->key_schema);
    free(p->schema_text);
    free(p->key_schema_text);
    pb_schema_destroy(p->parsed);
    pb_schema_destroy(p->key_parsed);
    for (size_t i = 0; i < p->n_access; i++)
        free(p->access[i]);
    free(p->access);
    free(p->event_time_field);
    free(p->from);
    free(p->pointer);
}

void pb_product_destroy(pb_product_t *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n_outputs; i++)
        port_free(&p->outputs[i]);
    for (size_t i = 0; i < p->n_inputs; i++)
        port_free(&p->inputs[i]);
    free(p->outputs);
    free(p->inputs);
    free(p->fqn);
    free(p->ns);
    free(p->name);
    free(p->version);
    free(p->domain);
    free(p->owner);
    free(p->description);
    free(p->source);
    json_decref(p->json);
    free(p->json_text);
    free(p);
}

/* jansson keeps members in insertion order and writes reals with 17 significant digits: the
 * text parses back to an equal tree (json_equal), member order included. */
#define COMPACT_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

int pb_product_compact(pb_product_t *p) {
    if (!p->json) return 0;
    size_t n = p->n_outputs + p->n_inputs;
    char **texts = calloc(2 * n + 1, sizeof *texts); /* schema, key schema per port; descriptor */
    int rc = texts ? 0 : PB_ERR_NOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        const pb_port_t *port = i < p->n_outputs ? &p->outputs[i] : &p->inputs[i - p->n_outputs];
        if (!(texts[2 * i] = json_dumps(port->schema, COMPACT_FLAGS)) ||
            (port->key_schema && !(texts[2 * i + 1] = json_dumps(port->key_schema, COMPACT_FLAGS))))
            rc = PB_ERR_NOMEM;
    }
    if (!rc && !(texts[2 * n] = json_dumps(p->json, COMPACT_FLAGS))) rc = PB_ERR_NOMEM;
    if (rc) { /* p unchanged */
        for (size_t i = 0; texts && i < 2 * n + 1; i++)
            free(texts[i]);
        free(texts);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        pb_port_t *port = i < p->n_outputs ? &p->outputs[i] : &p->inputs[i - p->n_outputs];
        json_decref(port->schema);
        json_decref(port->key_schema);
        port->schema = port->key_schema = NULL;
        port->schema_text = texts[2 * i];
        port->key_schema_text = texts[2 * i + 1];
    }
    json_decref(p->json);
    p->json = NULL;
    p->json_text = texts[2 * n];
    free(texts);
    return 0;
}

json_t *pb_product_json(const pb_product_t *p) {
    if (p->json) return json_incref(p->json);
    return p->json_text ? json_loads(p->json_text, JSON_ALLOW_NUL, NULL) : NULL;
}

json_t *pb_port_schema_json(const pb_port_t *port, int key) {
    json_t *tree = key ? port->key_schema : port->schema;
    const char *text = key ? port->key_schema_text : port->schema_text;
    if (tree) return json_incref(tree);
    return text ? json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;
}

int pb_port_has_key_schema(const pb_port_t *port) {
    return port->key_schema || port->key_schema_text;
}

const pb_port_t *pb_product_port(const pb_product_t *p, pb_port_kind_t kind, const char *name) {
    const pb_port_t *ports = kind == PB_PORT_INPUT ? p->inputs : p->outputs;
    size_t n = kind == PB_PORT_INPUT ? p->n_inputs : p->n_outputs;
    for (size_t i = 0; i < n; i++)
        if (strcmp(ports[i].name, name) == 0) return &ports[i];
    return NULL;
}

/* A type an event time can be read from: long (epoch millis or a timestamp logical type) or
 * string (RFC 3339). */
static int time_type(const pb_schema_node_t *n) {
    return n->type == PB_AVRO_LONG || n->type == PB_AVRO_STRING;
}

/* eventTimeField must name a top-level field of the record schema with a time type, possibly in a
 * union with null. */
static int check_event_time(ctx_t *c, const pb_port_t *port) {
    char ex[400];
    const char *f = port->event_time_field;
    const pb_schema_node_t *root = port->parsed->root;
    pb_addr_excerpt(f, ex, sizeof ex);
    if (root->type != PB_AVRO_RECORD)
        return fail(c, PB_ERR_INVALID,
                    "eventTimeField '%s' needs a record schema, the port's is %s", ex,
                    pb_schema_type_name(root->type));
    const pb_schema_field_t *fld = pb_schema_field(root, f);
    if (!fld)
        return fail(c, PB_ERR_INVALID, "'%s' is not a top-level field of the port's schema (%s)",
                    ex, root->fullname);
    const pb_schema_node_t *t = fld->type;
    int ok = time_type(t);
    if (t->type == PB_AVRO_UNION) {
        size_t n_time = 0, n_null = 0;
        for (size_t i = 0; i < t->n_branches; i++) {
            n_time += time_type(t->branches[i]) ? 1 : 0;
            n_null += t->branches[i]->type == PB_AVRO_NULL ? 1 : 0;
        }
        ok = n_time == 1 && n_time + n_null == t->n_branches;
    }
    if (!ok)
        return fail(c, PB_ERR_INVALID,
                    "field '%s' is %s; an event time is a long timestamp or an RFC 3339 string "
                    "(optionally nullable)",
                    ex, pb_schema_type_name(t->type));
    return 0;
}

static int parse_slo(ctx_t *c, const json_t *slo, pb_slo_t *out) {
    const char *s;
    int rc;
    if ((rc = get_string(c, slo, "freshness", 0, &s))) return rc;
    if (s) {
        size_t old = push(c, "freshness");
        if (pb_descriptor_parse_duration(s, &out->freshness_ms, c->err)) return wrap(c);
        out->has_freshness = 1;
        pop(c, old);
    }
    if ((rc = get_string(c, slo, "throughput.min", 0, &s))) return rc;
    if (s) {
        size_t old = push(c, "throughput.min");
        if (pb_descriptor_parse_rate(s, &out->throughput_min_per_s, c->err)) return wrap(c);
        out->has_throughput_min = 1;
        pop(c, old);
    }
    if ((rc = get_string(c, slo, "rejects.max", 0, &s))) return rc;
    if (s) {
        size_t old = push(c, "rejects.max");
        if (pb_descriptor_parse_percent(s, &out->rejects_max_ratio, c->err)) return wrap(c);
        out->has_rejects_max = 1;
        pop(c, old);
    }
    return 0;
}

static int parse_access(ctx_t *c, const pb_product_t *prod, const json_t *xpb, pb_port_t *port) {
    const json_t *acc;
    int rc;
    if ((rc = get_container(c, xpb, "access", 0, 1, &acc))) return rc;
    if (acc && port->kind == PB_PORT_INPUT) {
        push(c, "access");
        return fail(c, PB_ERR_INVALID,
                    "access lists apply to output ports only (they say who may subscribe)");
    }
    if (port->kind == PB_PORT_INPUT) return 0;
    size_t n = acc ? json_array_size(acc) : 1;
    port->access = calloc(n ? n : 1, sizeof *port->access);
    if (!port->access) return pb_err_set(c->err, PB_ERR_NOMEM, "out of memory");
    if (!acc) {
        char pat[PB_ADDR_URN_MAX];
        snprintf(pat, sizeof pat, "urn:dpds:%s:dataproducts:*", prod->ns);
        port->n_access = 1;
        return sdup(c, pat, &port->access[0]);
    }
    size_t old = push(c, "access");
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(acc, i);
        size_t o2 = push_idx(c, i);
        if (!json_is_string(v) || json_string_length(v) != strlen(json_string_value(v)))
            return fail(c, PB_ERR_INVALID, "an access pattern is a string, not %s",
                        pb_schema_json_kind(v));
        if (pb_addr_check_pattern(json_string_value(v), c->err)) return wrap(c);
        if ((rc = sdup(c, json_string_value(v), &port->access[i]))) return rc;
        port->n_access = i + 1;
        pop(c, o2);
    }
    pop(c, old);
    return 0;
}

static int parse_port(ctx_t *c, pb_product_t *prod, const json_t *jp, pb_port_kind_t kind,
                      pb_port_t *ports, size_t idx) {
    pb_port_t *port = &ports[idx];
    const char *name, *version, *fqn, *format, *s;
    const json_t *promises, *api, *slo, *xpb, *v;
    int rc;
    char buf[PB_ADDR_URN_MAX], ex[400];
    const char *kname = pb_addr_kind_name(kind);

    port->kind = kind;
    port->product = prod;
    if ((rc = sdup(c, c->path, &port->pointer))) return rc;
    if (!json_is_object(jp))
        return fail(c, PB_ERR_INVALID, "a port is an object, not %s", pb_schema_json_kind(jp));
    if ((rc = get_string(c, jp, "name", 1, &name))) return rc;
    size_t old = push(c, "name");
    if (pb_addr_check_name("port name", name, c->err)) return wrap(c);
    for (size_t i = 0; i < idx; i++)
        if (strcmp(ports[i].name, name) == 0)
            return fail(c, PB_ERR_INVALID, "duplicate %s port name '%s' (first at %s)", kname, name,
                        ports[i].pointer);
    pop(c, old);
    if ((rc = sdup(c, name, &port->name))) return rc;

    if ((rc = get_string(c, jp, "version", 0, &version))) return rc;
    if (version) {
        unsigned long maj;
        if (semver(version, &maj)) {
            push(c, "version");
            return fail(c, PB_ERR_INVALID,
                        "'%s' is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.2.0)",
                        pb_addr_excerpt(version, ex, sizeof ex));
        }
    }
    if ((rc = sdup(c, version ? version : prod->version, &port->version))) return rc;

    if (pb_addr_make(prod->ns, prod->name, prod->major, kind, name, &port->addr, c->err))
        return wrap(c);
    pb_addr_format(&port->addr, buf, sizeof buf);
    if ((rc = sdup(c, buf, &port->fqn))) return rc;
    if ((rc = get_string(c, jp, "fullyQualifiedName", 0, &fqn))) return rc;
    if (fqn && strcmp(fqn, port->fqn) != 0) {
        push(c, "fullyQualifiedName");
        return fail(c, PB_ERR_INVALID, "is not this port's URN '%s'", port->fqn);
    }

    /* promises.api: the schema */
    if ((rc = get_container(c, jp, "promises", 1, 0, &promises))) return rc;
    size_t o_prom = push(c, "promises");
    if ((rc = get_container(c, promises, "api", 1, 0, &api))) return rc;
    size_t o_api = push(c, "api");
    if ((rc = get_string(c, api, "format", 0, &format))) return rc;
    if (format && strcasecmp(format, "avro") != 0) {
        push(c, "format");
        return fail(c, PB_ERR_INVALID, "format '%s' is not supported; ports carry Avro (\"avro\")",
                    pb_addr_excerpt(format, ex, sizeof ex));
    }
    v = json_object_get(api, "schema");
    if (!v) {
        push(c, "schema");
        return fail(c, PB_ERR_INVALID,
                    "missing (required Avro schema or {\"$ref\": \"file.avsc\"})");
    }
    size_t o_s = push(c, "schema");
    if ((rc = resolve_schema(c, v, &port->schema, &port->parsed))) return rc;
    pop(c, o_s);
    v = json_object_get(api, "keySchema");
    if (v) {
        o_s = push(c, "keySchema");
        if ((rc = resolve_schema(c, v, &port->key_schema, &port->key_parsed))) return rc;
        pop(c, o_s);
    }
    pop(c, o_api);

    /* promises.slo */
    if ((rc = get_container(c, promises, "slo", 0, 0, &slo))) return rc;
    if (slo) {
        size_t o_slo = push(c, "slo");
        if ((rc = parse_slo(c, slo, &port->slo))) return rc;
        pop(c, o_slo);
    }
    pop(c, o_prom);

    /* x-portbroker */
    if ((rc = get_container(c, jp, "x-portbroker", 0, 0, &xpb))) return rc;
    size_t o_x = push(c, "x-portbroker");
    json_t *tmp_empty = NULL;
    if (!xpb) {
        tmp_empty = json_object();
        if (!tmp_empty) return pb_err_set(c->err, PB_ERR_NOMEM, "out of memory");
        xpb = tmp_empty;
    }
    rc = 0;
    do { /* one exit so tmp_empty is released on every path */
        if ((rc = get_string(c, xpb, "topic", 0, &s))) break;
        if (s) {
            size_t o = push(c, "topic");
            if (pb_addr_check_topic(s, c->err)) {
                rc = wrap(c);
                break;
            }
            if (s[0] == '_') { /* covers each default and its DLQ name ("{topic}.dlq") */
                rc = fail(c, PB_ERR_INVALID,
                          "topic '%s': names starting with '_' are reserved for internal topics "
                          "(portbroker's registry log '_portbroker', lineage "
                          "'_portbroker.lineage', embedded control '_portbroker.embedded.control', "
                          "Kafka's '__consumer_offsets'...); a port may not write into them",
                          s);
                break;
            }
            rc = sdup(c, s, &port->topic);
            if (rc) break;
            pop(c, o);
        } else {
            if (pb_addr_topic(&port->addr, buf, sizeof buf, c->err)) {
                pop(c, o_x);
                rc = pb_err_prefix(c->err, "derived ");
                rc = wrap(c);
                break;
            }
            if ((rc = sdup(c, buf, &port->topic))) break;
        }
        if (pb_addr_dlq_topic(port->topic, buf, sizeof buf, c->err)) {
            if (json_object_get(xpb, "topic"))
                push(c, "topic");
            else
                pop(c, o_x);
            rc = wrap(c);
            break;
        }
        if ((rc = sdup(c, buf, &port->dlq_topic))) break;
        pb_addr_subject(port->topic, buf, sizeof buf);
        if ((rc = sdup(c, buf, &port->subject))) break;

        port->partitions = c->default_partitions;
        v = json_object_get(xpb, "partitions");
        if (v) {
            size_t o = push(c, "partitions");
            if (!json_is_integer(v)) {
                rc = fail(c, PB_ERR_INVALID, "must be an integer, not %s", pb_schema_json_kind(v));
                break;
            }
            json_int_t n = json_integer_value(v);
            if (n < 1 || n > PB_DESCRIPTOR_PARTITIONS_MAX) {
                rc = fail(c, PB_ERR_INVALID, "%" JSON_INTEGER_FORMAT " is out of range 1..%d", n,
                          PB_DESCRIPTOR_PARTITIONS_MAX);
                break;
            }
            port->partitions = (int)n;
            pop(c, o);
        }

        if ((rc = get_string(c, xpb, "compatibility", 0, &s))) break;
        if (s && !pb_descriptor_compat_valid(s)) {
            push(c, "compatibility");
            rc = fail(c, PB_ERR_INVALID,
                      "unknown compatibility level '%s' (NONE, BACKWARD, BACKWARD_TRANSITIVE, "
                      "FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE)",
                      pb_addr_excerpt(s, ex, sizeof ex));
            break;
        }
        if ((rc = sdup(c, s ? s : PB_DESCRIPTOR_DEFAULT_COMPAT, &port->compatibility))) break;

        if ((rc = parse_access(c, prod, xpb, port))) break;

        v = json_object_get(xpb, "keySchema");
        if (v) {
            size_t o = push(c, "keySchema");
            if (port->key_schema) {
                rc = fail(c, PB_ERR_INVALID,
                          "key schema given twice (also at promises/api/keySchema)");
                break;
            }
            if ((rc = resolve_schema(c, v, &port->key_schema, &port->key_parsed))) break;
            pop(c, o);
        }

        if ((rc = get_string(c, xpb, "eventTimeField", 0, &s))) break;
        if (s) {
            if ((rc = sdup(c, s, &port->event_time_field))) break;
            size_t o = push(c, "eventTimeField");
            if ((rc = check_event_time(c, port))) break;
            pop(c, o);
        }
    } while (0);
    json_decref(tmp_empty);
    if (rc) return rc;
    pop(c, o_x);

    /* from */
    if ((rc = get_string(c, jp, "from", 0, &s))) return rc;
    if (s) {
        size_t o = push(c, "from");
        pb_addr_t from;
        if (kind == PB_PORT_OUTPUT)
            return fail(c, PB_ERR_INVALID, "'from' applies to input ports only");
        if (pb_addr_parse_port(s, c->default_ns, &from, c->err)) return wrap(c);
        if (from.kind != PB_PORT_OUTPUT)
            return fail(c, PB_ERR_INVALID,
                        "'%s' is an input port; 'from' names the output port this input reads",
                        pb_addr_excerpt(s, ex, sizeof ex));
        pb_addr_format(&from, buf, sizeof buf);
        if ((rc = sdup(c, buf, &port->from))) return rc;
        pop(c, o);
    }
    return 0;
}

/* Ports of one kind: "outputPorts" / "inputPorts" under interfaceComponents. */
static int parse_ports(ctx_t *c, pb_product_t *prod, const json_t *ic, pb_port_kind_t kind) {
    const char *key = kind == PB_PORT_INPUT ? "inputPorts" : "outputPorts";
    const json_t *arr;
    int rc;
    if ((rc = get_container(c, ic, key, 0, 1, &arr))) return rc;
    if (!arr) return 0;
    size_t n = json_array_size(arr);
    size_t old = push(c, key);
    if (n > PB_DESCRIPTOR_MAX_PORTS)
        return fail(c, PB_ERR_TOO_LARGE, "%zu ports, at most %d", n, PB_DESCRIPTOR_MAX_PORTS);
    pb_port_t *ports = n ? calloc(n, sizeof *ports) : NULL;
    if (n && !ports) return pb_err_set(c->err, PB_ERR_NOMEM, "out of memory");
    if (kind == PB_PORT_INPUT) {
        prod->inputs = ports;
        prod->n_inputs = n;
    } else {
        prod->outputs = ports;
        prod->n_outputs = n;
    }
    for (size_t i = 0; i < n; i++) {
        size_t o = push_idx(c, i);
        if ((rc = parse_port(c, prod, json_array_get(arr, i), kind, ports, i))) return rc;
        pop(c, o);
    }
    pop(c, old);
    return 0;
}

/* Calls fn for each topic (port and dead-letter) of p with the port; stops at a nonzero return. */
typedef int (*topic_fn)(const char *topic, const pb_port_t *port, void *arg);
static int each_topic(const pb_product_t *p, topic_fn fn, void *arg) {
    int rc;
    for (int k = 0; k < 2; k++) {
        const pb_port_t *ports = k ? p->inputs : p->outputs;
        size_t n = k ? p->n_inputs : p->n_outputs;
        for (size_t i = 0; i < n; i++) {
            if ((rc = fn(ports[i].topic, &ports[i], arg))) return rc;
            if ((rc = fn(ports[i].dlq_topic, &ports[i], arg))) return rc;
        }
    }
    return 0;
}

typedef struct {
    const char *topic;
    const pb_port_t *self; /* skip this port's own pair */
    const pb_port_t *found;
    int count;
} topic_find_t;

static int find_topic(const char *topic, const pb_port_t *port, void *arg) {
    topic_find_t *f = arg;
    if (port == f->self || strcmp(topic, f->topic) != 0) return 0;
    f->found = port;
    return 1;
}

/* Topics unique within the product: a later port whose topic another port uses is the error. */
static int check_product_topics(ctx_t *c, const pb_product_t *p) {
    for (int k = 0; k < 2; k++) {
        const pb_port_t *ports = k ? p->inputs : p->outputs;
        size_t n = k ? p->n_inputs : p->n_outputs;
        for (size_t i = 0; i < n; i++) {
            const char *ts[2] = {ports[i].topic, ports[i].dlq_topic};
            for (int t = 0; t < 2; t++) {
                topic_find_t f = {ts[t], &ports[i], NULL, 0};
                each_topic(p, find_topic, &f);
                /* report once, at the port that comes later in document order */
                if (f.found && (f.found->kind < ports[i].kind ||
                                (f.found->kind == ports[i].kind && f.found < &ports[i]))) {
                    snprintf(c->path, sizeof c->path, "%s", ports[i].pointer);
                    c->len = strlen(c->path);
                    return fail(c, PB_ERR_INVALID, "%stopic '%s' is also used by %s port '%s'",
                                t ? "dead-letter " : "", ts[t], pb_addr_kind_name(f.found->kind),
                                f.found->name);
                }
            }
        }
    }
    return 0;
}

static int parse_product(ctx_t *c, const json_t *json, pb_product_t *p) {
    const char *s, *fqn, *name, *version;
    const json_t *info, *owner, *ic;
    int rc;
    char ex[400];
    if (!json_is_object(json))
        return fail(c, PB_ERR_INVALID, "a descriptor is a JSON object, not %s",
                    pb_schema_json_kind(json));

    if ((rc = get_string(c, json, "dataProductDescriptor", 1, &s))) return rc;
    unsigned long maj;
    if (semver(s, &maj) || maj != 1) {
        push(c, "dataProductDescriptor");
        return fail(c, PB_ERR_INVALID,
                    "'%s' is not a supported DPDS version (portbroker reads 1.x.y)",
                    pb_addr_excerpt(s, ex, sizeof ex));
    }

    if ((rc = get_container(c, json, "info", 1, 0, &info))) return rc;
    size_t o_info = push(c, "info");
    if ((rc = get_string(c, info, "fullyQualifiedName", 1, &fqn))) return rc;
    size_t o = push(c, "fullyQualifiedName");
    if (strncmp(fqn, "urn:", 4) != 0)
        return fail(c, PB_ERR_INVALID,
                    "'%s' is not a product URN (urn:dpds:{namespace}:dataproducts:{name}:{major})",
                    pb_addr_excerpt(fqn, ex, sizeof ex));
    if (pb_addr_parse_product(fqn, NULL, &p->addr, c->err)) return wrap(c);
    pop(c, o);
    char buf[PB_ADDR_URN_MAX];
    pb_addr_format(&p->addr, buf, sizeof buf);
    if ((rc = sdup(c, buf, &p->fqn)) || (rc = sdup(c, p->addr.ns, &p->ns)) ||
        (rc = sdup(c, p->addr.product, &p->name)))
        return rc;
    p->major = p->addr.major;

    if ((rc = get_string(c, info, "name", 1, &name))) return rc;
    if (strcmp(name, p->name) != 0) {
        push(c, "name");
        return fail(c, PB_ERR_INVALID,
                    "'%s' does not match the product name '%s' in fullyQualifiedName",
                    pb_addr_excerpt(name, ex, sizeof ex), p->name);
    }
    if ((rc = get_string(c, info, "version", 1, &version))) return rc;
    if (semver(version, &maj)) {
        push(c, "version");
        return fail(c, PB_ERR_INVALID,
                    "'%s' is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.2.0)",
                    pb_addr_excerpt(version, ex, sizeof ex));
    }
    if (maj != p->major) {
        push(c, "version");
        return fail(c, PB_ERR_INVALID,
                    "major version %lu of '%s' does not match the major %u in fullyQualifiedName "
                    "(a new major is a new product URN)",
                    maj, pb_addr_excerpt(version, ex, sizeof ex), p->major);
    }
    if ((rc = sdup(c, version, &p->version))) return rc;
    if ((rc = get_string(c, info, "domain", 1, &s)) || (rc = sdup(c, s, &p->domain))) return rc;
    if ((rc = get_container(c, info, "owner", 1, 0, &owner))) return rc;
    o = push(c, "owner");
    if ((rc = get_string(c, owner, "id", 1, &s)) || (rc = sdup(c, s, &p->owner))) return rc;
    pop(c, o);
    if ((rc = get_string(c, info, "description", 0, &s))) return rc;
    if (s && (rc = sdup(c, s, &p->description))) return rc;
    pop(c, o_info);

    if ((rc = get_container(c, json, "interfaceComponents", 1, 0, &ic))) return rc;
    o = push(c, "interfaceComponents");
    if ((rc = parse_ports(c, p, ic, PB_PORT_OUTPUT))) return rc;
    if ((rc = parse_ports(c, p, ic, PB_PORT_INPUT))) return rc;
    pop(c, o);
    return check_product_topics(c, p);
}

int pb_descriptor_parse(const json_t *json, const char *base_dir, const char *source_name,
                        const char *default_ns, int default_partitions, pb_product_t **out,
                        pb_err_t *err) {
    PB_ASSERT(json && out);
    ctx_t c = {.source = source_name ? source_name : "(inline)",
               .base_dir = base_dir,
               .default_ns = default_ns,
               .default_partitions = default_partitions,
               .err = err};
    pb_product_t *p = NULL;
    int rc;
    *out = NULL;
    if (default_partitions < 1 || default_partitions > PB_DESCRIPTOR_PARTITIONS_MAX) {
        rc = pb_err_set(err, PB_ERR_INVALID, "default partitions %d out of range 1..%d",
                        default_partitions, PB_DESCRIPTOR_PARTITIONS_MAX);
        goto done;
    }
    p = calloc(1, sizeof *p);
    if (!p) {
        rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((rc = sdup(&c, c.source, &p->source))) goto done;
    if ((rc = parse_product(&c, json, p))) goto done;
    p->json = json_incref((json_t *)json);
    *out = p;
    p = NULL;
done:
    pb_product_destroy(p);
    return rc;
}

int pb_descriptor_load_file(const char *path, const char *default_ns, int default_partitions,
                            pb_product_t **out, pb_err_t *err) {
    char *text = NULL, *dir = NULL;
    json_t *json = NULL;
    size_t len = 0;
    int rc;
    *out = NULL;
    if ((rc = read_file(path, PB_DESCRIPTOR_MAX_BYTES, &text, &len, err))) {
        pb_err_prefix(err, "descriptor %s: ", path);
        goto done;
    }
    json_error_t jerr;
    json = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!json) {
        rc = pb_err_set(err, PB_ERR_INVALID, "descriptor %s: not JSON: line %d, column %d: %s",
                        path, jerr.line, jerr.column, jerr.text);
        goto done;
    }
    const char *slash = strrchr(path, '/');
    if (!slash) {
        dir = strdup(".");
    } else {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        dir = strndup(path, n);
    }
    if (!dir) {
        rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto done;
    }
    rc = pb_descriptor_parse(json, dir, path, default_ns, default_partitions, out, err);
done:
    free(text);
    free(dir);
    json_decref(json);
    return rc;
}

/* ---- sets ---- */

pb_descriptor_set_t *pb_descriptor_set_new(void) { return calloc(1, sizeof(pb_descriptor_set_t)); }

void pb_descriptor_set_destroy(pb_descriptor_set_t *set) {
    if (!set) return;
    for (size_t i = 0; i < set->n_products; i++)
        pb_product_destroy(set->products[i]);
    free(set->products);
    free(set);
}

typedef struct {
    const pb_descriptor_set_t *set;
    const pb_product_t *self;
    const pb_product_t *skip; /* the product being replaced */
    pb_err_t *err;
} clash_t;

static int clash(const char *topic, const pb_port_t *port, void *arg) {
    clash_t *cl = arg;
    for (size_t i = 0; i < cl->set->n_products; i++) {
        topic_find_t f = {topic, NULL, NULL, 0};
        if (cl->set->products[i] == cl->skip) continue;
        if (each_topic(cl->set->products[i], find_topic, &f))
            return pb_err_set(cl->err, PB_ERR_CONFLICT,
                              "descriptor %s: port %s: topic '%s' is already used by port %s (%s)",
                              cl->self->source, port->fqn, topic, f.found->fqn,
                              f.found->product->source);
    }
    return 0;
}

static size_t find_index(const pb_descriptor_set_t *set, const char *urn) {
    for (size_t i = 0; i < set->n_products; i++)
        if (strcmp(set->products[i]->fqn, urn) == 0) return i;
    return SIZE_MAX;
}

/* Add or replace; replace says whether an existing product with p's URN may be replaced. */
static int set_insert(pb_descriptor_set_t *set, pb_product_t *p, int replace,
                      pb_product_t **replaced, pb_err_t *err) {
    int rc = 0;
    PB_ASSERT(set && p);
    if (replaced) *replaced = NULL;
    size_t at = find_index(set, p->fqn);
    if (at != SIZE_MAX && !replace) {
        rc = pb_err_set(err, PB_ERR_CONFLICT, "descriptor %s: product %s is already defined by %s",
                        p->source, p->fqn, set->products[at]->source);
        goto done;
    }
    clash_t cl = {set, p, at == SIZE_MAX ? NULL : set->products[at], err};
    if ((rc = each_topic(p, clash, &cl))) goto done;
    if (at != SIZE_MAX) {
        *replaced = set->products[at];
        set->products[at] = p;
        p = NULL;
        goto done;
    }
    if (set->n_products == set->cap_products) {
        size_t cap = set->cap_products ? set->cap_products * 2 : 8;
        pb_product_t **np = realloc(set->products, cap * sizeof *np);
        if (!np) {
            rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
            goto done;
        }
        set->products = np;
        set->cap_products = cap;
    }
    set->products[set->n_products++] = p;
    p = NULL;
done:
    pb_product_destroy(p);
    return rc;
}

int pb_descriptor_set_add(pb_descriptor_set_t *set, pb_product_t *p, pb_err_t *err) {
    return set_insert(set, p, 0, NULL, err);
}

int pb_descriptor_set_put(pb_descriptor_set_t *set, pb_product_t *p, pb_product_t **replaced,
                          pb_err_t *err) {
    PB_ASSERT(replaced);
    return set_insert(set, p, 1, replaced, err);
}

pb_product_t *pb_descriptor_set_remove(pb_descriptor_set_t *set, const char *urn) {
    size_t at = find_index(set, urn);
    if (at == SIZE_MAX) return NULL;
    pb_product_t *p = set->products[at];
    memmove(&set->products[at], &set->products[at + 1],
            (set->n_products - at - 1) * sizeof *set->products);
    set->n_products--;
    return p;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int pb_descriptor_load_dir(const char *dir, const char *default_ns, int default_partitions,
                           pb_descriptor_set_t **out, pb_err_t *err) {
    int rc = 0;
    DIR *d = NULL;
    char **names = NULL, *path = NULL;
    size_t n = 0, cap = 0;
    pb_descriptor_set_t *set = NULL;
    *out = NULL;
    d = opendir(dir);
    if (!d) {
        rc = pb_err_set(err, errno == ENOENT ? PB_ERR_NOT_FOUND : PB_ERR_IO,
                        "descriptor directory %s: %s", dir, strerror(errno));
        goto done;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 6 || strcmp(e->d_name + len - 5, ".json") != 0) continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **nn = realloc(names, nc * sizeof *nn);
            if (!nn) {
                rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
                goto done;
            }
            names = nn;
            cap = nc;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
            goto done;
        }
        n++;
    }
    if (n) qsort(names, n, sizeof *names, cmp_names);
    if (!(set = pb_descriptor_set_new())) {
        rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        pb_product_t *p = NULL;
        free(path);
        if (asprintf(&path, "%s/%s", dir, names[i]) < 0) {
            path = NULL;
            rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
            goto done;
        }
        if ((rc = pb_descriptor_load_file(path, default_ns, default_partitions, &p, err)))
            goto done;
        if ((rc = pb_descriptor_set_add(set, p, err))) goto done;
    }
    *out = set;
    set = NULL;
done:
    if (d) closedir(d);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(path);
    pb_descriptor_set_destroy(set);
    return rc;
}

const pb_product_t *pb_descriptor_set_product(const pb_descriptor_set_t *set, const char *urn) {
    size_t at = find_index(set, urn);
    return at == SIZE_MAX ? NULL : set->products[at];
}

const pb_port_t *pb_descriptor_set_port(const pb_descriptor_set_t *set, const char *urn) {
    for (size_t i = 0; i < set->n_products; i++) {
        const pb_product_t *p = set->products[i];
        for (size_t k = 0; k < p->n_outputs; k++)
            if (strcmp(p->outputs[k].fqn, urn) == 0) return &p->outputs[k];
        for (size_t k = 0; k < p->n_inputs; k++)
            if (strcmp(p->inputs[k].fqn, urn) == 0) return &p->inputs[k];
    }
    return NULL;
}
