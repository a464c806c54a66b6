/*
 * schema — portbroker's own Avro schema model: parser, validator, Parsing Canonical Form,
 * CRC-64-AVRO fingerprint, and the schema back as JSON.
 *
 * Owns: every node of a parsed schema (pb_schema_t), the name table of its named types.
 * Must not: do I/O, use avro-c, decide compatibility (compat.c) or touch data (codec.c).
 *
 * Validation follows Apache Avro Java 1.11's Schema.Parser with default validation on. Java
 * behaviours kept on purpose: short names fall back to the null namespace; {"type": "Defined"} is
 * a reference; "order" in any case; a string default of a float/double field is parsed as a
 * number ("NaN", "Infinity" included); an invalid logicalType is ignored, not an error (python
 * avro 1.11.1 does the same, with a warning); records/enums may be empty; fixed size 0..2^31-1.
 * Stricter than Java, where the spec is: names, namespaces, aliases and symbols are ASCII
 * [A-Za-z_][A-Za-z0-9_]* per part (Java takes any Unicode letter and never checks namespaces or
 * field aliases); a non-string namespace or enum default is an error (Java ignores it); defaults
 * of enums must be symbols, of fixed the right length, of bytes/fixed code points 0-255 (Java
 * only asks for a string); duplicate JSON keys are an error (parsers disagree which one wins).
 * Errors say where: "at <JSON pointer into the schema document>: <reason>"; the root is
 * "(root)"; a pointer longer than 160 characters keeps its head and tail around "...".
 *
 * Recursion is bounded: type definitions nest at most PB_SCHEMA_MAX_DEPTH deep, so the canonical
 * form and to_json writers (which never expand a reference) are bounded too; default values are
 * checked with their own depth limit because recursive named types allow deep values.
 */
#include "schema.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsontext.h"

#define DEFAULT_MAX_DEPTH 512 /* nesting of a default value being checked */

/* ---------------------------------------------------------------------------------------------
 * A small string -> pointer hash table (open addressing; keys borrowed, never removed).
 */
typedef struct {
    const char **keys;
    void **vals;
    size_t cap, n;
} strmap_t;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h;
}

static void *strmap_get(const strmap_t *m, const char *key) {
    if (!m->cap) return NULL;
    for (size_t i = hash_str(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i]) return NULL;
        if (!strcmp(m->keys[i], key)) return m->vals[i];
    }
}

/* Insert key (must be absent) with a non-NULL value. Returns 0 or PB_ERR_NOMEM. */
static int strmap_put(strmap_t *m, const char *key, void *val) {
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        const char **keys = calloc(cap, sizeof *keys);
        void **vals = calloc(cap, sizeof *vals);
        if (!keys || !vals) {
            free(keys);
            free(vals);
            return PB_ERR_NOMEM;
        }
        for (size_t j = 0; j < m->cap; j++) {
            if (!m->keys[j]) continue;
            size_t i = hash_str(m->keys[j]) & (cap - 1);
            while (keys[i])
                i = (i + 1) & (cap - 1);
            keys[i] = m->keys[j];
            vals[i] = m->vals[j];
        }
        free(m->keys);
        free(m->vals);
        m->keys = keys;
        m->vals = vals;
        m->cap = cap;
    }
    size_t i = hash_str(key) & (m->cap - 1);
    while (m->keys[i])
        i = (i + 1) & (m->cap - 1);
    m->keys[i] = key;
    m->vals[i] = val;
    m->n++;
    return 0;
}

static void strmap_free(strmap_t *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------------------------------------
 * Names and small helpers.
 */
static const char *const type_names[] = {
    [PB_AVRO_NULL] = "null",   [PB_AVRO_BOOLEAN] = "boolean", [PB_AVRO_INT] = "int",
    [PB_AVRO_LONG] = "long",   [PB_AVRO_FLOAT] = "float",     [PB_AVRO_DOUBLE] = "double",
    [PB_AVRO_BYTES] = "bytes", [PB_AVRO_STRING] = "string",   [PB_AVRO_RECORD] = "record",
    [PB_AVRO_ENUM] = "enum",   [PB_AVRO_ARRAY] = "array",     [PB_AVRO_MAP] = "map",
    [PB_AVRO_UNION] = "union", [PB_AVRO_FIXED] = "fixed",
};

const char *pb_schema_type_name(pb_avro_type_t t) {
    if ((unsigned)t >= sizeof type_names / sizeof type_names[0]) return "?";
    return type_names[t];
}

/* The primitive type called s, or -1. */
static int primitive_type(const char *s) {
    for (int t = PB_AVRO_NULL; t <= PB_AVRO_STRING; t++)
        if (!strcmp(s, type_names[t])) return t;
    return -1;
}

/* [A-Za-z_][A-Za-z0-9_]* over exactly len bytes. */
static int valid_name(const char *s, size_t len) {
    if (len == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_') || (unsigned char)s[0] >= 0x80)
        return 0;
    for (size_t i = 1; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80 || !(isalnum(c) || c == '_')) return 0;
    }
    return 1;
}

/* Dot-separated valid names (a namespace or a fullname); "" is not valid. */
static int valid_dotted(const char *s, size_t len) {
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (!valid_name(s + start, i - start)) return 0;
            start = i + 1;
        }
    }
    return 1;
}

/* The value of a JSON string without embedded NUL (JSON_ALLOW_NUL lets "\u0000" into bytes
 * defaults), else NULL: a name or keyword with a NUL in it must not compare equal to its prefix. */
static const char *str_of(const json_t *j) {
    if (!json_is_string(j)) return NULL;
    const char *s = json_string_value(j);
    return strlen(s) == json_string_length(j) ? s : NULL;
}

static char *dupstr(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* A JSON string's value with its length (it may hold U+0000), NUL-terminated. */
static char *dupjstr(const json_t *j, size_t *len) {
    *len = json_string_length(j);
    char *d = malloc(*len + 1);
    if (d) memcpy(d, json_string_value(j), *len + 1);
    return d;
}

static char *join_name(const char *ns, const char *name) {
    if (!ns || !*ns) return dupstr(name);
    size_t a = strlen(ns), b = strlen(name);
    char *d = malloc(a + b + 2);
    if (!d) return NULL;
    memcpy(d, ns, a);
    d[a] = '.';
    memcpy(d + a + 1, name, b + 1);
    return d;
}

const char *pb_schema_json_kind(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

/* The pointer for a message: "(root)" for the root; a very long one keeps its head and tail so
 * the reason still fits in a pb_err_t. */
#define POINTER_MAX 160
static const char *pointer_str(const pb_buf_t *b, char out[POINTER_MAX + 1]) {
    if (!b->len) return "(root)";
    if (b->len <= POINTER_MAX) return (const char *)b->data;
    memcpy(out, b->data, 60);
    memcpy(out + 60, "...", 3);
    memcpy(out + 63, b->data + b->len - (POINTER_MAX - 63), POINTER_MAX - 63 + 1);
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * Default values.
 */
/* "at <pointer>: <reason>" into err: the one end of every parse and default-check failure. */
static int vfail_at(const pb_buf_t *path, pb_err_t *err, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static int vfail_at(const pb_buf_t *path, pb_err_t *err, int code, const char *fmt, va_list ap) {
    char reason[PB_ERR_MSG_MAX], tmp[POINTER_MAX + 1];
    vsnprintf(reason, sizeof reason, fmt, ap);
    return pb_err_set(err, code, "at %s: %s", pointer_str(path, tmp), reason);
}

typedef struct {
    pb_buf_t path; /* pointer of the value being checked */
    pb_err_t *err;
} dcheck_t;

static int dfail(dcheck_t *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int dfail(dcheck_t *c, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail_at(&c->path, c->err, code, fmt, ap);
    va_end(ap);
    return rc;
}

/* Code points of a (valid UTF-8) string, each must be <= 255. Returns the count or -1 and the
 * offending code point in *bad. */
static long latin1_length(const char *s, size_t len, unsigned *bad) {
    long n = 0;
    for (size_t i = 0; i < len; n++) {
        unsigned char c = (unsigned char)s[i];
        unsigned cp;
        if (c < 0x80) {
            cp = c;
            i += 1;
        } else if ((c & 0xe0) == 0xc0 && i + 1 < len) {
            cp = ((unsigned)(c & 0x1f) << 6) | ((unsigned char)s[i + 1] & 0x3f);
            i += 2;
        } else {
            /* three or four byte sequences are all above U+07FF */
            cp = (c & 0xf0) == 0xe0 && i + 2 < len
                     ? ((unsigned)(c & 0x0f) << 12) |
                           ((unsigned)((unsigned char)s[i + 1] & 0x3f) << 6) |
                           ((unsigned char)s[i + 2] & 0x3f)
                     : 0x10000;
            *bad = cp;
            return -1;
        }
        if (cp > 255) {
            *bad = cp;
            return -1;
        }
    }
    return n;
}

static const char *node_label(const pb_schema_node_t *n, char *buf, size_t size) {
    if (pb_schema_is_named(n))
        snprintf(buf, size, "%s %s", type_names[n->type], n->fullname);
    else
        snprintf(buf, size, "type %s", type_names[n->type]);
    return buf;
}

static int check_value(dcheck_t *c, const pb_schema_node_t *n, const json_t *v, int depth,
                       int via_union) {
    char label[160];
    const char *why = via_union ? " (a union default must match the union's first branch)" : "";
    if (depth > DEFAULT_MAX_DEPTH)
        return dfail(c, PB_ERR_INVALID,
                     "invalid default: nested deeper than %d levels (a record default that "
                     "includes itself?)",
                     DEFAULT_MAX_DEPTH);
    node_label(n, label, sizeof label);
#define MISMATCH()                                                                                 \
    dfail(c, PB_ERR_INVALID, "invalid default for %s%s: got %s", label, why, pb_schema_json_kind(v))
    switch (n->type) {
    case PB_AVRO_NULL: return json_is_null(v) ? 0 : MISMATCH();
    case PB_AVRO_BOOLEAN: return json_is_boolean(v) ? 0 : MISMATCH();
    case PB_AVRO_INT:
        if (!json_is_integer(v)) return MISMATCH();
        if (json_integer_value(v) < INT32_MIN || json_integer_value(v) > INT32_MAX)
            return dfail(c, PB_ERR_INVALID,
                         "invalid default for %s%s: %" JSON_INTEGER_FORMAT
                         " is out of the 32-bit range",
                         label, why, json_integer_value(v));
        return 0;
    case PB_AVRO_LONG: return json_is_integer(v) ? 0 : MISMATCH();
    case PB_AVRO_FLOAT:
    case PB_AVRO_DOUBLE:
        if (json_is_number(v)) return 0;
        /* what the parser keeps of Java's Double.valueOf("NaN"...) on a field default */
        if (depth == 0 && str_of(v) &&
            (!strcmp(str_of(v), "NaN") || !strcmp(str_of(v), "Infinity") ||
             !strcmp(str_of(v), "-Infinity")))
            return 0;
        return MISMATCH();
    case PB_AVRO_STRING: return json_is_string(v) ? 0 : MISMATCH();
    case PB_AVRO_BYTES:
    case PB_AVRO_FIXED: {
        if (!json_is_string(v)) return MISMATCH();
        unsigned bad = 0;
        long len = latin1_length(json_string_value(v), json_string_length(v), &bad);
        if (len < 0)
            return dfail(c, PB_ERR_INVALID,
                         "invalid default for %s%s: code point U+%04X is above 255 (bytes are "
                         "written as code points 0-255)",
                         label, why, bad);
        if (n->type == PB_AVRO_FIXED && (size_t)len != n->size)
            return dfail(c, PB_ERR_INVALID, "invalid default for %s%s: %ld bytes, expected %zu",
                         label, why, len, n->size);
        return 0;
    }
    case PB_AVRO_ENUM:
        if (!json_is_string(v)) return MISMATCH();
        if (!str_of(v) || pb_schema_symbol_index(n, str_of(v)) < 0)
            return dfail(c, PB_ERR_INVALID, "invalid default for %s%s: \"%s\" is not a symbol",
                         label, why, json_string_value(v));
        return 0;
    case PB_AVRO_ARRAY: {
        if (!json_is_array(v)) return MISMATCH();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            size_t mark = c->path.len;
            if (pb_jsontext_pointer_push_index(&c->path, i))
                return pb_err_set(c->err, PB_ERR_NOMEM, "out of memory");
            int rc = check_value(c, n->items, e, depth + 1, 0);
            if (rc) return rc;
            pb_jsontext_pointer_pop(&c->path, mark);
        }
        return 0;
    }
    case PB_AVRO_MAP: {
        if (!json_is_object(v)) return MISMATCH();
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e) {
            size_t mark = c->path.len;
            if (pb_jsontext_pointer_push(&c->path, k, strlen(k)))
                return pb_err_set(c->err, PB_ERR_NOMEM, "out of memory");
            int rc = check_value(c, n->items, e, depth + 1, 0);
            if (rc) return rc;
            pb_jsontext_pointer_pop(&c->path, mark);
        }
        return 0;
    }
    case PB_AVRO_UNION:
        if (n->n_branches == 0)
            return dfail(c, PB_ERR_INVALID, "invalid default: the union has no branches");
        return check_value(c, n->branches[0], v, depth, 1);
    case PB_AVRO_RECORD:
        if (!json_is_object(v)) return MISMATCH();
        for (size_t i = 0; i < n->n_fields; i++) {
            const pb_schema_field_t *f = &n->fields[i];
            const json_t *fv = json_object_get(v, f->name);
            size_t mark = c->path.len;
            if (!fv && !f->default_value)
                return dfail(c, PB_ERR_INVALID,
                             "invalid default for %s%s: missing field \"%s\", which has no default",
                             label, why, f->name);
            if (fv && pb_jsontext_pointer_push(&c->path, f->name, strlen(f->name)))
                return pb_err_set(c->err, PB_ERR_NOMEM, "out of memory");
            /* A missing field takes its own default, as in Java; errors then point at the record
             * value. */
            int rc = check_value(c, f->type, fv ? fv : f->default_value, depth + 1, 0);
            if (rc) return rc;
            pb_jsontext_pointer_pop(&c->path, mark);
        }
        return 0;
    }
#undef MISMATCH
    return dfail(c, PB_ERR_INTERNAL, "unknown node type %d", (int)n->type);
}

/* Check v against n; error paths start with prefix (a JSON pointer, "" for the value itself). */
static int check_default_at(const pb_schema_node_t *n, const json_t *v, const char *prefix,
                            pb_err_t *err) {
    dcheck_t c = {.err = err};
    int rc = pb_buf_puts(&c.path, prefix);
    if (!rc) rc = pb_buf_reserve(&c.path, 1);
    if (rc) {
        rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto done;
    }
    c.path.data[c.path.len] = '\0';
    rc = check_value(&c, n, v, 0, 0);
done:
    pb_buf_free(&c.path);
    return rc;
}

int pb_schema_check_default(const pb_schema_node_t *n, const json_t *v, pb_err_t *err) {
    PB_ASSERT(n && v);
    return check_default_at(n, v, "", err);
}

/* Java turns a string default of a float/double field into Double.valueOf(string). We take the
 * decimal subset of that grammar: [ws][+-](NaN|Infinity|digits[.digits][(e|E)[+-]digits])[fFdD][ws]
 * (also ".5", "5."). NaN and infinities stay strings (JSON has none); numbers become reals.
 * Returns a new reference or NULL when s is not such a number. */
static json_t *java_double(const char *s) {
    size_t len = strlen(s), a = 0;
    while (a < len && (unsigned char)s[a] <= ' ')
        a++;
    while (len > a && (unsigned char)s[len - 1] <= ' ')
        len--;
    int neg = 0;
    size_t i = a;
    if (i < len && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (len - i == 3 && !memcmp(s + i, "NaN", 3)) return json_string("NaN");
    if (len - i == 8 && !memcmp(s + i, "Infinity", 8))
        return json_string(neg ? "-Infinity" : "Infinity");
    size_t digits = 0, j = i;
    while (j < len && isdigit((unsigned char)s[j]))
        j++, digits++;
    if (j < len && s[j] == '.') {
        j++;
        while (j < len && isdigit((unsigned char)s[j]))
            j++, digits++;
    }
    if (!digits) return NULL;
    if (j < len && (s[j] == 'e' || s[j] == 'E')) {
        j++;
        if (j < len && (s[j] == '+' || s[j] == '-')) j++;
        size_t e = 0;
        while (j < len && isdigit((unsigned char)s[j]))
            j++, e++;
        if (!e) return NULL;
    }
    size_t end = j;
    if (j < len && strchr("fFdD", s[j])) j++;
    if (j != len) return NULL;
    char tmp[512];
    if (end - a >= sizeof tmp) return NULL;
    memcpy(tmp, s + a, end - a);
    tmp[end - a] = '\0';
    double d = strtod(tmp, NULL);
    if (!isfinite(d)) return json_string(d < 0 ? "-Infinity" : "Infinity");
    return json_real(d);
}

/* ---------------------------------------------------------------------------------------------
 * Parser.
 */
typedef struct {
    pb_schema_node_t *rec;
    size_t field;
} pending_t;

typedef struct {
    pb_schema_t *s;
    strmap_t *names; /* == s->names */
    pb_buf_t path;
    int depth;
    pending_t *pend; /* fields with defaults, checked once every name is defined */
    size_t n_pend, cap_pend;
    pb_err_t *err;
    const pb_schema_t *const *predef; /* schemas whose named types are predefined names */
    size_t n_predef;
} parser_t;

static json_t *node_json(const pb_schema_node_t *n, strmap_t *seen, const char *ns);

static int fail(parser_t *p, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(parser_t *p, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail_at(&p->path, p->err, code, fmt, ap);
    va_end(ap);
    return rc;
}

static int nomem(parser_t *p) { return pb_err_set(p->err, PB_ERR_NOMEM, "out of memory"); }

/* The same, at the current pointer plus one key. */
static int fail_at(parser_t *p, const char *key, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_at(parser_t *p, const char *key, int code, const char *fmt, ...) {
    size_t mark = p->path.len;
    if (pb_jsontext_pointer_push(&p->path, key, strlen(key))) return nomem(p);
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail_at(&p->path, p->err, code, fmt, ap);
    va_end(ap);
    pb_jsontext_pointer_pop(&p->path, mark);
    return rc;
}

static int fail_at_index(parser_t *p, const char *key, size_t i, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail_at_index(parser_t *p, const char *key, size_t i, int code, const char *fmt, ...) {
    size_t mark = p->path.len;
    if (pb_jsontext_pointer_push(&p->path, key, strlen(key)) ||
        pb_jsontext_pointer_push_index(&p->path, i))
        return nomem(p);
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail_at(&p->path, p->err, code, fmt, ap);
    va_end(ap);
    pb_jsontext_pointer_pop(&p->path, mark);
    return rc;
}

static pb_schema_node_t *node_new(parser_t *p, pb_avro_type_t t) {
    pb_schema_t *s = p->s;
    if (s->n_nodes >= PB_SCHEMA_MAX_NODES) {
        fail(p, PB_ERR_TOO_LARGE, "more than %d type definitions", PB_SCHEMA_MAX_NODES);
        return NULL;
    }
    if (s->n_nodes == s->cap_nodes) {
        size_t cap = s->cap_nodes ? s->cap_nodes * 2 : 16;
        pb_schema_node_t **nodes = realloc(s->nodes, cap * sizeof *nodes);
        if (!nodes) {
            nomem(p);
            return NULL;
        }
        s->nodes = nodes;
        s->cap_nodes = cap;
    }
    pb_schema_node_t *n = calloc(1, sizeof *n);
    if (!n || !(n->pointer = dupstr(p->path.len ? (const char *)p->path.data : ""))) {
        free(n);
        nomem(p);
        return NULL;
    }
    n->type = t;
    n->enum_default = -1;
    s->nodes[s->n_nodes++] = n;
    return n;
}

/* Look a type name up as Java's Names.get does: a dotted name is a fullname; a short name is
 * tried in the current namespace, then (if null_fallback) in the null namespace. */
static pb_schema_node_t *lookup_name(parser_t *p, const char *name, const char *ns,
                                     int null_fallback) {
    if (strchr(name, '.') || !ns || !*ns) return strmap_get(p->names, name);
    char tmp[512];
    pb_schema_node_t *n = NULL;
    size_t a = strlen(ns), b = strlen(name);
    char *full = a + b + 2 <= sizeof tmp ? tmp : malloc(a + b + 2);
    if (!full) return NULL;
    memcpy(full, ns, a);
    full[a] = '.';
    memcpy(full + a + 1, name, b + 1);
    n = strmap_get(p->names, full);
    if (full != tmp) free(full);
    if (!n && null_fallback) n = strmap_get(p->names, name);
    return n;
}

static pb_schema_node_t *parse_node(parser_t *p, const json_t *j, const char *ns);

/* The named type `full` in a predefined schema, or NULL. */
static const pb_schema_node_t *predef_get(const parser_t *p, const char *full) {
    for (size_t i = 0; i < p->n_predef; i++) {
        const pb_schema_node_t *d = pb_schema_lookup(p->predef[i], full);
        if (d) return d;
    }
    return NULL;
}

/* A name no definition so far matches: when a predefined schema defines it (resolved as
 * lookup_name resolves), its definition becomes part of this schema, as if written here in full
 * (Java's Schema.Parser with the referenced schemas' types already known). Named types it uses
 * that this schema already has stay references; every named type it brings is marked predefined.
 * NULL when no predefined schema has the name (or on failure, with err set). */
static pb_schema_node_t *import_name(parser_t *p, const char *name, const char *ns,
                                     int null_fallback) {
    const pb_schema_node_t *d = NULL;
    if (!p->n_predef) return NULL;
    if (strchr(name, '.') || !ns || !*ns) {
        d = predef_get(p, name);
    } else {
        char *full = join_name(ns, name);
        if (!full) {
            nomem(p);
            return NULL;
        }
        d = predef_get(p, full);
        free(full);
        if (!d && null_fallback) d = predef_get(p, name);
    }
    if (!d) return NULL;
    strmap_t seen = {0};
    for (size_t i = 0; i < p->names->cap; i++)
        if (p->names->keys[i] && strmap_put(&seen, p->names->keys[i], p->names->vals[i])) {
            strmap_free(&seen);
            nomem(p);
            return NULL;
        }
    json_t *def = node_json(d, &seen, NULL);
    strmap_free(&seen);
    if (!def) {
        nomem(p);
        return NULL;
    }
    size_t first = p->s->n_nodes;
    pb_schema_node_t *n = parse_node(p, def, NULL);
    json_decref(def);
    for (size_t i = first; n && i < p->s->n_nodes; i++)
        if (pb_schema_is_named(p->s->nodes[i])) p->s->nodes[i]->predefined = 1;
    return n;
}

/* Attributes of a schema object handled by the model; everything else is kept in props. */
static int reserved_key(const char *k, int is_enum) {
    static const char *const keys[] = {"type",   "name",  "namespace", "doc",     "aliases",
                                       "fields", "items", "values",    "symbols", "size"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!strcmp(k, keys[i])) return 1;
    return is_enum && !strcmp(k, "default");
}

static int field_reserved_key(const char *k) {
    static const char *const keys[] = {"name", "type", "doc", "default", "order", "aliases"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!strcmp(k, keys[i])) return 1;
    return 0;
}

/* Deep copy of the non-reserved attributes of object j, or NULL (and *rc = 0) when none. */
static json_t *collect_props(const json_t *j, int kind, int *rc) {
    json_t *props = NULL;
    const char *k;
    json_t *v;
    *rc = 0;
    json_object_foreach((json_t *)j, k, v) {
        if (kind == 2 ? field_reserved_key(k) : reserved_key(k, kind == 1)) continue;
        if (!props && !(props = json_object())) goto oom;
        if (json_object_set_new(props, k, json_deep_copy(v))) goto oom;
    }
    return props;
oom:
    json_decref(props);
    *rc = PB_ERR_NOMEM;
    return NULL;
}

/* "aliases" of a named type: an array of names, made fully qualified in the type's namespace. */
static int parse_type_aliases(parser_t *p, const json_t *j, pb_schema_node_t *n) {
    const json_t *a = json_object_get(j, "aliases");
    if (!a) return 0;
    if (!json_is_array(a))
        return fail_at(p, "aliases", PB_ERR_INVALID, "\"aliases\" must be an array of names");
    n->aliases = calloc(json_array_size(a) + 1, sizeof *n->aliases);
    if (!n->aliases) return nomem(p);
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e) {
        if (!json_is_string(e))
            return fail_at_index(p, "aliases", i, PB_ERR_INVALID,
                                 "an alias must be a string, not %s", pb_schema_json_kind(e));
        const char *s = json_string_value(e);
        if (!valid_dotted(s, json_string_length(e)))
            return fail_at_index(p, "aliases", i, PB_ERR_INVALID,
                                 "invalid alias \"%s\": each part of a name must match "
                                 "[A-Za-z_][A-Za-z0-9_]*",
                                 s);
        char *full = strchr(s, '.') ? dupstr(s) : join_name(n->namespace_, s);
        if (!full) return nomem(p);
        n->aliases[n->n_aliases++] = full;
    }
    return 0;
}

/* name / namespace of a named type; registers it. */
static int parse_name(parser_t *p, const json_t *j, pb_schema_node_t *n, const char *ns) {
    const json_t *name_j = json_object_get(j, "name");
    if (!name_j) return fail(p, PB_ERR_INVALID, "a %s requires \"name\"", type_names[n->type]);
    if (!json_is_string(name_j))
        return fail_at(p, "name", PB_ERR_INVALID, "\"name\" must be a string, not %s",
                       pb_schema_json_kind(name_j));
    const char *name = json_string_value(name_j);
    size_t len = json_string_length(name_j);
    const char *dot = strrchr(name, '.');
    if (strlen(name) != len || !valid_dotted(name, len))
        return fail_at(p, "name", PB_ERR_INVALID,
                       "invalid name \"%s\": each part of a name must match [A-Za-z_][A-Za-z0-9_]*",
                       name);
    if (dot) {
        n->name = dupstr(dot + 1);
        n->namespace_ = strndup(name, (size_t)(dot - name));
        if (!n->name || !n->namespace_) return nomem(p);
    } else {
        const json_t *ns_j = json_object_get(j, "namespace");
        if (ns_j) {
            if (!json_is_string(ns_j))
                return fail_at(p, "namespace", PB_ERR_INVALID,
                               "\"namespace\" must be a string, not %s", pb_schema_json_kind(ns_j));
            const char *s = json_string_value(ns_j);
            if (*s && (strlen(s) != json_string_length(ns_j) ||
                       !valid_dotted(s, json_string_length(ns_j))))
                return fail_at(
                    p, "namespace", PB_ERR_INVALID,
                    "invalid namespace \"%s\": each part must match [A-Za-z_][A-Za-z0-9_]*", s);
            ns = s;
        }
        n->name = dupstr(name);
        if (!n->name) return nomem(p);
        if (ns && *ns && !(n->namespace_ = dupstr(ns))) return nomem(p);
    }
    n->fullname = join_name(n->namespace_, n->name);
    if (!n->fullname) return nomem(p);
    if (primitive_type(n->fullname) >= 0)
        return fail_at(p, "name", PB_ERR_INVALID,
                       "a named type may not be called \"%s\", the name of a primitive type",
                       n->fullname);
    pb_schema_node_t *prev = strmap_get(p->names, n->fullname);
    if (prev)
        return fail_at(p, "name", PB_ERR_INVALID,
                       "redefinition of named type \"%s\" (first defined at %s)", n->fullname,
                       *prev->pointer ? prev->pointer : "(root)");
    if (strmap_put(p->names, n->fullname, n)) return nomem(p);
    const json_t *doc = json_object_get(j, "doc");
    if (json_is_string(doc) && !(n->doc = dupjstr(doc, &n->doc_len))) return nomem(p);
    return 0;
}

static int parse_order(parser_t *p, const json_t *o, pb_order_t *out) {
    static const char *const names[] = {"ascending", "descending", "ignore"};
    /* Java: Order.valueOf(text.toUpperCase()), so any case is accepted */
    if (str_of(o))
        for (int i = 0; i < 3; i++)
            if (!strcasecmp(str_of(o), names[i])) {
                *out = (pb_order_t)i;
                return 0;
            }
    return fail_at(p, "order", PB_ERR_INVALID,
                   "\"order\" must be \"ascending\", \"descending\" or \"ignore\"");
}

static int parse_field(parser_t *p, const json_t *fj, pb_schema_node_t *rec, strmap_t *seen) {
    pb_schema_field_t *f = &rec->fields[rec->n_fields];
    int rc;
    if (!json_is_object(fj))
        return fail(p, PB_ERR_INVALID, "a field must be an object, not %s",
                    pb_schema_json_kind(fj));
    if (!(f->pointer = dupstr((const char *)p->path.data))) return nomem(p);
    f->index = rec->n_fields;
    rec->n_fields++; /* from here on the field is owned by rec (freed with it) */
    const json_t *name_j = json_object_get(fj, "name");
    if (!name_j) return fail(p, PB_ERR_INVALID, "a field requires \"name\"");
    if (!json_is_string(name_j))
        return fail_at(p, "name", PB_ERR_INVALID, "\"name\" must be a string, not %s",
                       pb_schema_json_kind(name_j));
    const char *name = json_string_value(name_j);
    if (strlen(name) != json_string_length(name_j) || !valid_name(name, strlen(name)))
        return fail_at(p, "name", PB_ERR_INVALID,
                       "invalid field name \"%s\": must match [A-Za-z_][A-Za-z0-9_]*", name);
    if (strmap_get(seen, name))
        return fail_at(p, "name", PB_ERR_INVALID, "duplicate field name \"%s\" in record %s", name,
                       rec->fullname);
    if (!(f->name = dupstr(name))) return nomem(p);
    if (strmap_put(seen, f->name, f)) return nomem(p);
    const json_t *type_j = json_object_get(fj, "type");
    if (!type_j) return fail(p, PB_ERR_INVALID, "field \"%s\" requires \"type\"", name);
    size_t mark = p->path.len;
    if (pb_jsontext_pointer_push(&p->path, "type", 4)) return nomem(p);
    f->type = parse_node(p, type_j, rec->namespace_);
    if (!f->type) return p->err->code;
    pb_jsontext_pointer_pop(&p->path, mark);
    const json_t *doc = json_object_get(fj, "doc");
    if (json_is_string(doc) && !(f->doc = dupjstr(doc, &f->doc_len))) return nomem(p);
    const json_t *order = json_object_get(fj, "order");
    if (order && (rc = parse_order(p, order, &f->order))) return rc;
    const json_t *aliases = json_object_get(fj, "aliases");
    if (aliases) {
        if (!json_is_array(aliases))
            return fail_at(p, "aliases", PB_ERR_INVALID, "\"aliases\" must be an array of names");
        if (!(f->aliases = calloc(json_array_size(aliases) + 1, sizeof *f->aliases)))
            return nomem(p);
        size_t i;
        json_t *e;
        json_array_foreach(aliases, i, e) {
            if (!json_is_string(e) || !valid_name(json_string_value(e), json_string_length(e)))
                return fail_at_index(
                    p, "aliases", i, PB_ERR_INVALID,
                    "a field alias must be a name matching [A-Za-z_][A-Za-z0-9_]*");
            if (!(f->aliases[f->n_aliases++] = dupstr(json_string_value(e)))) return nomem(p);
        }
    }
    const json_t *def = json_object_get(fj, "default");
    if (def) {
        if ((f->type->type == PB_AVRO_FLOAT || f->type->type == PB_AVRO_DOUBLE) &&
            json_is_string(def)) {
            f->default_value = str_of(def) ? java_double(str_of(def)) : NULL;
            if (!f->default_value)
                return fail_at(p, "default", PB_ERR_INVALID,
                               "invalid default for type %s: \"%.60s\" is not a number",
                               type_names[f->type->type], json_string_value(def));
        } else if (!(f->default_value = json_deep_copy(def))) {
            return nomem(p);
        }
        if (p->n_pend == p->cap_pend) {
            size_t cap = p->cap_pend ? p->cap_pend * 2 : 16;
            pending_t *pend = realloc(p->pend, cap * sizeof *pend);
            if (!pend) return nomem(p);
            p->pend = pend;
            p->cap_pend = cap;
        }
        p->pend[p->n_pend++] = (pending_t){rec, f->index};
    }
    f->props = collect_props(fj, 2, &rc);
    return rc ? nomem(p) : 0;
}

static int parse_record(parser_t *p, const json_t *j, pb_schema_node_t *n) {
    const json_t *fields = json_object_get(j, "fields");
    strmap_t seen = {0};
    int rc = 0;
    if (!fields) return fail(p, PB_ERR_INVALID, "a record requires \"fields\"");
    if (!json_is_array(fields))
        return fail_at(p, "fields", PB_ERR_INVALID, "\"fields\" must be an array, not %s",
                       pb_schema_json_kind(fields));
    n->fields = calloc(json_array_size(fields) + 1, sizeof *n->fields);
    if (!n->fields) return nomem(p);
    size_t i;
    json_t *fj;
    json_array_foreach(fields, i, fj) {
        size_t mark = p->path.len;
        if (pb_jsontext_pointer_push(&p->path, "fields", 6) ||
            pb_jsontext_pointer_push_index(&p->path, i)) {
            rc = nomem(p);
            goto done;
        }
        if ((rc = parse_field(p, fj, n, &seen))) goto done;
        pb_jsontext_pointer_pop(&p->path, mark);
    }
done:
    strmap_free(&seen);
    return rc;
}

static int parse_enum(parser_t *p, const json_t *j, pb_schema_node_t *n) {
    const json_t *symbols = json_object_get(j, "symbols");
    strmap_t seen = {0};
    int rc = 0;
    if (!symbols) return fail(p, PB_ERR_INVALID, "an enum requires \"symbols\"");
    if (!json_is_array(symbols))
        return fail_at(p, "symbols", PB_ERR_INVALID, "\"symbols\" must be an array, not %s",
                       pb_schema_json_kind(symbols));
    n->symbols = calloc(json_array_size(symbols) + 1, sizeof *n->symbols);
    if (!n->symbols) return nomem(p);
    size_t i;
    json_t *e;
    json_array_foreach(symbols, i, e) {
        if (!json_is_string(e)) {
            rc = fail_at_index(p, "symbols", i, PB_ERR_INVALID, "a symbol must be a string, not %s",
                               pb_schema_json_kind(e));
            goto done;
        }
        const char *sym = json_string_value(e);
        if (strlen(sym) != json_string_length(e) || !valid_name(sym, strlen(sym))) {
            rc = fail_at_index(p, "symbols", i, PB_ERR_INVALID,
                               "invalid symbol \"%s\": must match [A-Za-z_][A-Za-z0-9_]*", sym);
            goto done;
        }
        if (strmap_get(&seen, sym)) {
            rc = fail_at_index(p, "symbols", i, PB_ERR_INVALID,
                               "duplicate symbol \"%s\" in enum %s", sym, n->fullname);
            goto done;
        }
        if (!(n->symbols[n->n_symbols] = dupstr(sym)) ||
            strmap_put(&seen, n->symbols[n->n_symbols], n)) {
            rc = nomem(p);
            goto done;
        }
        n->n_symbols++;
    }
    const json_t *def = json_object_get(j, "default");
    if (def) {
        if (!json_is_string(def)) {
            rc = fail_at(p, "default", PB_ERR_INVALID,
                         "an enum default must be one of the symbols, not %s",
                         pb_schema_json_kind(def));
            goto done;
        }
        n->enum_default = str_of(def) ? pb_schema_symbol_index(n, str_of(def)) : -1;
        if (n->enum_default < 0) {
            rc = fail_at(p, "default", PB_ERR_INVALID,
                         "enum default \"%s\" is not one of the symbols of %s",
                         json_string_value(def), n->fullname);
            goto done;
        }
    }
done:
    strmap_free(&seen);
    return rc;
}

static int parse_fixed(parser_t *p, const json_t *j, pb_schema_node_t *n) {
    const json_t *size = json_object_get(j, "size");
    if (!size) return fail(p, PB_ERR_INVALID, "a fixed requires \"size\"");
    /* Java: sizeNode.isInt() and size >= 0 */
    if (!json_is_integer(size) || json_integer_value(size) < 0 ||
        json_integer_value(size) > INT32_MAX)
        return fail_at(p, "size", PB_ERR_INVALID,
                       "\"size\" must be an integer from 0 to 2147483647");
    n->size = (size_t)json_integer_value(size);
    return 0;
}

/* Java's Decimal.getInt: the attribute must be a JSON integer in int range. */
static int int_prop(const json_t *j, const char *key, int dflt, int *out) {
    const json_t *v = json_object_get(j, key);
    if (!v) {
        *out = dflt;
        return v == NULL && dflt >= 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN ||
        json_integer_value(v) > INT32_MAX)
        return 0;
    *out = (int)json_integer_value(v);
    return 1;
}

/* An invalid logicalType annotation is ignored (Java's fromSchemaIgnoreInvalid); the name stays. */
static int parse_logical(parser_t *p, const json_t *j, pb_schema_node_t *n) {
    static const struct {
        const char *name;
        pb_logical_t lt;
        pb_avro_type_t t;
    } simple[] = {
        {"uuid", PB_LOGICAL_UUID, PB_AVRO_STRING},
        {"date", PB_LOGICAL_DATE, PB_AVRO_INT},
        {"time-millis", PB_LOGICAL_TIME_MILLIS, PB_AVRO_INT},
        {"time-micros", PB_LOGICAL_TIME_MICROS, PB_AVRO_LONG},
        {"timestamp-millis", PB_LOGICAL_TIMESTAMP_MILLIS, PB_AVRO_LONG},
        {"timestamp-micros", PB_LOGICAL_TIMESTAMP_MICROS, PB_AVRO_LONG},
        {"local-timestamp-millis", PB_LOGICAL_LOCAL_TIMESTAMP_MILLIS, PB_AVRO_LONG},
        {"local-timestamp-micros", PB_LOGICAL_LOCAL_TIMESTAMP_MICROS, PB_AVRO_LONG},
    };
    const char *name = str_of(json_object_get(j, "logicalType"));
    if (!name) return 0;
    if (!(n->logical_name = dupstr(name))) return nomem(p);
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (!strcmp(name, simple[i].name)) {
            if (n->type == simple[i].t) n->logical = simple[i].lt;
            return 0;
        }
    if (!strcmp(name, "duration")) {
        if (n->type == PB_AVRO_FIXED && n->size == 12) n->logical = PB_LOGICAL_DURATION;
    } else if (!strcmp(name, "decimal")) {
        int precision, scale;
        if (n->type != PB_AVRO_BYTES && n->type != PB_AVRO_FIXED) return 0;
        if (!json_object_get(j, "precision") || !int_prop(j, "precision", -1, &precision) ||
            !int_prop(j, "scale", 0, &scale))
            return 0;
        if (precision < 1 || scale < 0 || scale > precision) return 0;
        if (n->type == PB_AVRO_FIXED) {
            /* digits a two's complement of size bytes always holds: floor(log10(2^(8*size-1))) */
            double max = floor(log10(2.0) * (8.0 * (double)n->size - 1.0));
            if ((double)precision > max) return 0;
        }
        n->logical = PB_LOGICAL_DECIMAL;
        n->precision = precision;
        n->scale = scale;
    }
    return 0;
}

static pb_schema_node_t *parse_object(parser_t *p, const json_t *j, const char *ns) {
    const json_t *type_j = json_object_get(j, "type");
    pb_schema_node_t *n = NULL;
    int rc = 0;
    if (!type_j) {
        fail(p, PB_ERR_INVALID, "missing \"type\"");
        return NULL;
    }
    const char *tname = str_of(type_j);
    if (!tname) {
        /* Java 1.11 requires a type name here ({"type": {...}} is "No type") */
        fail_at(p, "type", PB_ERR_INVALID, "\"type\" must be a type name, not %s",
                pb_schema_json_kind(type_j));
        return NULL;
    }
    int prim = primitive_type(tname);
    if (prim >= 0) {
        if (!(n = node_new(p, (pb_avro_type_t)prim))) return NULL;
    } else if (!strcmp(tname, "record") || !strcmp(tname, "error")) {
        if (!(n = node_new(p, PB_AVRO_RECORD))) return NULL;
        n->is_error = tname[0] == 'e';
        if ((rc = parse_name(p, j, n, ns)) || (rc = parse_record(p, j, n))) return NULL;
    } else if (!strcmp(tname, "enum")) {
        if (!(n = node_new(p, PB_AVRO_ENUM))) return NULL;
        if ((rc = parse_name(p, j, n, ns)) || (rc = parse_enum(p, j, n))) return NULL;
    } else if (!strcmp(tname, "fixed")) {
        if (!(n = node_new(p, PB_AVRO_FIXED))) return NULL;
        if ((rc = parse_name(p, j, n, ns)) || (rc = parse_fixed(p, j, n))) return NULL;
    } else if (!strcmp(tname, "array") || !strcmp(tname, "map")) {
        int is_array = tname[0] == 'a';
        const char *key = is_array ? "items" : "values";
        const json_t *sub = json_object_get(j, key);
        if (!sub) {
            fail(p, PB_ERR_INVALID, "%s requires \"%s\"", is_array ? "an array" : "a map", key);
            return NULL;
        }
        if (!(n = node_new(p, is_array ? PB_AVRO_ARRAY : PB_AVRO_MAP))) return NULL;
        size_t mark = p->path.len;
        if (pb_jsontext_pointer_push(&p->path, key, strlen(key))) {
            nomem(p);
            return NULL;
        }
        if (!(n->items = parse_node(p, sub, ns))) return NULL;
        pb_jsontext_pointer_pop(&p->path, mark);
    } else {
        /* Java accepts {"type": "SomeDefinedName"} as a reference (current namespace only) and
         * ignores the other attributes. */
        n = lookup_name(p, tname, ns, 0);
        if (!n) n = import_name(p, tname, ns, 0);
        if (!n) fail_at(p, "type", PB_ERR_INVALID, "unknown type \"%s\"", tname);
        return n;
    }
    if ((rc = parse_logical(p, j, n))) return NULL;
    if (pb_schema_is_named(n) && (rc = parse_type_aliases(p, j, n))) return NULL;
    n->props = collect_props(j, n->type == PB_AVRO_ENUM, &rc);
    if (rc) {
        nomem(p);
        return NULL;
    }
    return n;
}

/* Key under which a union branch must be unique: the fullname of a named type, else the type. */
static const char *branch_key(const pb_schema_node_t *n) {
    return pb_schema_is_named(n) ? n->fullname : type_names[n->type];
}

static pb_schema_node_t *parse_union(parser_t *p, const json_t *j, const char *ns) {
    pb_schema_node_t *n = node_new(p, PB_AVRO_UNION);
    strmap_t seen = {0};
    if (!n) return NULL;
    if (!(n->branches = calloc(json_array_size(j) + 1, sizeof *n->branches))) {
        nomem(p);
        return NULL;
    }
    size_t i;
    json_t *e;
    json_array_foreach(j, i, e) {
        size_t mark = p->path.len;
        if (pb_jsontext_pointer_push_index(&p->path, i)) goto oom;
        pb_schema_node_t *b = parse_node(p, e, ns);
        if (!b) goto fail;
        if (b->type == PB_AVRO_UNION) {
            fail(p, PB_ERR_INVALID, "a union may not directly contain another union");
            goto fail;
        }
        void *prev = strmap_get(&seen, branch_key(b));
        if (prev) {
            fail(p, PB_ERR_INVALID, "duplicate union branch \"%s\" (also at index %zu)",
                 branch_key(b), (size_t)((uintptr_t)prev - 1));
            goto fail;
        }
        if (strmap_put(&seen, branch_key(b), (void *)(uintptr_t)(i + 1))) goto oom;
        n->branches[n->n_branches++] = b;
        pb_jsontext_pointer_pop(&p->path, mark);
    }
    strmap_free(&seen);
    return n;
oom:
    nomem(p);
fail:
    strmap_free(&seen);
    return NULL;
}

static pb_schema_node_t *parse_node(parser_t *p, const json_t *j, const char *ns) {
    pb_schema_node_t *n = NULL;
    if (p->depth >= PB_SCHEMA_MAX_DEPTH) {
        fail(p, PB_ERR_TOO_LARGE, "type definitions nested deeper than %d levels",
             PB_SCHEMA_MAX_DEPTH);
        return NULL;
    }
    p->depth++;
    switch (json_typeof(j)) {
    case JSON_STRING: {
        const char *s = str_of(j) ? str_of(j) : "(a name containing NUL)";
        int prim = str_of(j) ? primitive_type(s) : -1;
        if (prim >= 0)
            n = node_new(p, (pb_avro_type_t)prim);
        else if (!(n = lookup_name(p, s, ns, 1)) && !(n = import_name(p, s, ns, 1)))
            fail(p, PB_ERR_INVALID, "unknown type \"%s\"%s", s,
                 valid_dotted(s, strlen(s)) ? " (not a primitive nor a named type defined before)"
                                            : "");
        break;
    }
    case JSON_OBJECT: n = parse_object(p, j, ns); break;
    case JSON_ARRAY: n = parse_union(p, j, ns); break;
    default:
        fail(p, PB_ERR_INVALID,
             "a schema must be a type name, an object or an array (union), not %s",
             pb_schema_json_kind(j));
        break;
    }
    p->depth--;
    return n;
}

/* ---------------------------------------------------------------------------------------------
 * Parsing Canonical Form and fingerprint.
 */
static int canon(const pb_schema_node_t *n, pb_buf_t *b, strmap_t *seen) {
    int rc = 0;
    switch (n->type) {
    case PB_AVRO_UNION:
        rc = pb_buf_putc(b, '[');
        for (size_t i = 0; !rc && i < n->n_branches; i++) {
            if (i) rc = pb_buf_putc(b, ',');
            if (!rc) rc = canon(n->branches[i], b, seen);
        }
        return rc ? rc : pb_buf_putc(b, ']');
    case PB_AVRO_ARRAY:
    case PB_AVRO_MAP:
        rc = pb_buf_printf(b, "{\"type\":\"%s\",\"%s\":", type_names[n->type],
                           n->type == PB_AVRO_ARRAY ? "items" : "values");
        if (!rc) rc = canon(n->items, b, seen);
        return rc ? rc : pb_buf_putc(b, '}');
    case PB_AVRO_RECORD:
    case PB_AVRO_ENUM:
    case PB_AVRO_FIXED:
        /* names and symbols are validated identifiers: nothing to escape */
        if (strmap_get(seen, n->fullname)) return pb_buf_printf(b, "\"%s\"", n->fullname);
        if ((rc = strmap_put(seen, n->fullname, (void *)n))) return rc;
        rc = pb_buf_printf(b, "{\"name\":\"%s\",\"type\":\"%s\"", n->fullname, type_names[n->type]);
        if (rc) return rc;
        if (n->type == PB_AVRO_FIXED) {
            rc = pb_buf_printf(b, ",\"size\":%zu", n->size);
        } else if (n->type == PB_AVRO_ENUM) {
            rc = pb_buf_puts(b, ",\"symbols\":[");
            for (size_t i = 0; !rc && i < n->n_symbols; i++)
                rc = pb_buf_printf(b, "%s\"%s\"", i ? "," : "", n->symbols[i]);
            if (!rc) rc = pb_buf_putc(b, ']');
        } else {
            rc = pb_buf_puts(b, ",\"fields\":[");
            for (size_t i = 0; !rc && i < n->n_fields; i++) {
                rc = pb_buf_printf(b, "%s{\"name\":\"%s\",\"type\":", i ? "," : "",
                                   n->fields[i].name);
                if (!rc) rc = canon(n->fields[i].type, b, seen);
                if (!rc) rc = pb_buf_putc(b, '}');
            }
            if (!rc) rc = pb_buf_putc(b, ']');
        }
        return rc ? rc : pb_buf_putc(b, '}');
    default: return pb_buf_printf(b, "\"%s\"", type_names[n->type]);
    }
}

uint64_t pb_schema_crc64(const void *data, size_t len) {
    /* Rabin fingerprint as the Avro spec gives it, bit by bit (no shared table to initialise) */
    const uint64_t empty = 0xc15d213aa4d7a795ULL;
    const uint8_t *p = data;
    uint64_t fp = empty;
    for (size_t i = 0; i < len; i++) {
        uint64_t x = (fp ^ p[i]) & 0xff;
        for (int j = 0; j < 8; j++)
            x = (x >> 1) ^ (empty & (0 - (x & 1)));
        fp = (fp >> 8) ^ x;
    }
    return fp;
}

const char *pb_schema_canonical(const pb_schema_t *s) { return s->canonical; }

uint64_t pb_schema_fingerprint(const pb_schema_t *s) { return s->fingerprint; }

/* ---------------------------------------------------------------------------------------------
 * Public parse, destroy, lookups.
 */
static void field_free(pb_schema_field_t *f) {
    free(f->name);
    for (size_t i = 0; i < f->n_aliases; i++)
        free(f->aliases[i]);
    free(f->aliases);
    free(f->doc);
    json_decref(f->default_value);
    json_decref(f->props);
    free(f->pointer);
}

static void node_free(pb_schema_node_t *n) {
    free(n->fullname);
    free(n->name);
    free(n->namespace_);
    for (size_t i = 0; i < n->n_aliases; i++)
        free(n->aliases[i]);
    free(n->aliases);
    free(n->doc);
    free(n->logical_name);
    for (size_t i = 0; i < n->n_fields; i++)
        field_free(&n->fields[i]);
    free(n->fields);
    for (size_t i = 0; i < n->n_symbols; i++)
        free(n->symbols[i]);
    free(n->symbols);
    free(n->branches);
    free(n->pointer);
    json_decref(n->props);
    free(n);
}

void pb_schema_destroy(pb_schema_t *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n_nodes; i++)
        node_free(s->nodes[i]);
    free(s->nodes);
    free(s->canonical);
    if (s->names) {
        strmap_free(s->names);
        free(s->names);
    }
    free(s);
}

int pb_schema_parse_json(const json_t *json, pb_schema_t **out, pb_err_t *err) {
    return pb_schema_parse_json_refs(json, NULL, 0, out, err);
}

int pb_schema_parse_json_refs(const json_t *json, const pb_schema_t *const *predef, size_t n_predef,
                              pb_schema_t **out, pb_err_t *err) {
    parser_t p = {.err = err, .predef = predef, .n_predef = n_predef};
    pb_buf_t canonical = {0};
    strmap_t seen = {0};
    pb_err_t local;
    int rc = 0;
    PB_ASSERT(json && out);
    *out = NULL;
    if (!err) p.err = err = &local;
    pb_err_clear(err);
    if (!(p.s = calloc(1, sizeof *p.s)) || !(p.s->names = calloc(1, sizeof(strmap_t))) ||
        pb_buf_reserve(&p.path, 64)) {
        rc = nomem(&p);
        goto done;
    }
    p.names = p.s->names;
    p.path.data[0] = '\0';
    p.s->root = parse_node(&p, json, NULL);
    if (!p.s->root) {
        rc = err->code ? err->code : PB_ERR_INTERNAL;
        goto done;
    }
    for (size_t i = 0; i < p.n_pend; i++) {
        const pb_schema_field_t *f = &p.pend[i].rec->fields[p.pend[i].field];
        char prefix[PB_ERR_MSG_MAX];
        snprintf(prefix, sizeof prefix, "%s/default", f->pointer);
        if ((rc = check_default_at(f->type, f->default_value, prefix, err))) goto done;
    }
    if ((rc = canon(p.s->root, &canonical, &seen)) || (rc = pb_buf_putc(&canonical, '\0'))) {
        rc = nomem(&p);
        goto done;
    }
    p.s->canonical_len = canonical.len - 1;
    p.s->canonical = (char *)canonical.data;
    canonical.data = NULL;
    p.s->fingerprint = pb_schema_crc64(p.s->canonical, p.s->canonical_len);
    *out = p.s;
    p.s = NULL;
done:
    pb_schema_destroy(p.s);
    pb_buf_free(&p.path);
    pb_buf_free(&canonical);
    strmap_free(&seen);
    free(p.pend);
    return rc;
}

int pb_schema_parse(const char *text, size_t len, pb_schema_t **out, pb_err_t *err) {
    return pb_schema_parse_refs(text, len, NULL, 0, out, err);
}

int pb_schema_parse_refs(const char *text, size_t len, const pb_schema_t *const *predef,
                         size_t n_predef, pb_schema_t **out, pb_err_t *err) {
    json_error_t jerr;
    json_t *json = NULL;
    int rc;
    PB_ASSERT(out);
    *out = NULL;
    if (len > PB_SCHEMA_MAX_BYTES)
        return pb_err_set(err, PB_ERR_TOO_LARGE, "schema is %zu bytes, more than the limit of %d",
                          len, PB_SCHEMA_MAX_BYTES);
    /* Duplicate keys are rejected: parsers disagree on which one wins. */
    json = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!json)
        return pb_err_set(err, PB_ERR_INVALID, "schema is not valid JSON: line %d column %d: %s",
                          jerr.line, jerr.column, jerr.text);
    rc = pb_schema_parse_json_refs(json, predef, n_predef, out, err);
    json_decref(json);
    return rc;
}

const pb_schema_node_t *pb_schema_lookup(const pb_schema_t *s, const char *fullname) {
    return s && s->names ? strmap_get(s->names, fullname) : NULL;
}

const pb_schema_field_t *pb_schema_field(const pb_schema_node_t *n, const char *name) {
    if (n->type != PB_AVRO_RECORD) return NULL;
    for (size_t i = 0; i < n->n_fields; i++)
        if (!strcmp(n->fields[i].name, name)) return &n->fields[i];
    return NULL;
}

int pb_schema_symbol_index(const pb_schema_node_t *n, const char *symbol) {
    if (n->type != PB_AVRO_ENUM) return -1;
    for (size_t i = 0; i < n->n_symbols; i++)
        if (!strcmp(n->symbols[i], symbol)) return (int)i;
    return -1;
}

/* ---------------------------------------------------------------------------------------------
 * The schema back as JSON.
 */
static json_t *strings_json(char **v, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_string(v[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static int add_props(json_t *o, const json_t *props) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)props, k,
                        v) if (json_object_set_new(o, k, json_deep_copy(v))) return -1;
    return 0;
}

static json_t *node_json(const pb_schema_node_t *n, strmap_t *seen, const char *ns) {
    json_t *o = NULL;
    int bad = 0;
    if (n->type <= PB_AVRO_STRING && !n->props) return json_string(type_names[n->type]);
    if (n->type == PB_AVRO_UNION) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < n->n_branches; i++)
            if (json_array_append_new(a, node_json(n->branches[i], seen, ns))) {
                json_decref(a);
                return NULL;
            }
        return a;
    }
    if (pb_schema_is_named(n)) {
        if (strmap_get(seen, n->fullname)) return json_string(n->fullname);
        if (strmap_put(seen, n->fullname, (void *)n)) return NULL;
    }
    if (!(o = json_object())) return NULL;
    bad |= json_object_set_new(o, "type", json_string(n->is_error ? "error" : type_names[n->type]));
    if (pb_schema_is_named(n)) {
        const char *mine = n->namespace_ ? n->namespace_ : "";
        bad |= json_object_set_new(o, "name", json_string(n->name));
        if (strcmp(mine, ns ? ns : ""))
            bad |= json_object_set_new(o, "namespace", json_string(mine));
        if (n->doc) bad |= json_object_set_new(o, "doc", json_stringn(n->doc, n->doc_len));
        if (n->n_aliases)
            bad |= json_object_set_new(o, "aliases", strings_json(n->aliases, n->n_aliases));
        ns = n->namespace_;
    }
    switch (n->type) {
    case PB_AVRO_RECORD: {
        json_t *fields = json_array();
        bad |= json_object_set_new(o, "fields", fields);
        for (size_t i = 0; !bad && i < n->n_fields; i++) {
            const pb_schema_field_t *f = &n->fields[i];
            json_t *fo = json_object();
            bad |= json_array_append_new(fields, fo);
            if (bad) break;
            bad |= json_object_set_new(fo, "name", json_string(f->name));
            bad |= json_object_set_new(fo, "type", node_json(f->type, seen, ns));
            if (f->doc) bad |= json_object_set_new(fo, "doc", json_stringn(f->doc, f->doc_len));
            if (f->default_value) bad |= json_object_set(fo, "default", f->default_value);
            if (f->order != PB_ORDER_ASCENDING)
                bad |= json_object_set_new(
                    fo, "order",
                    json_string(f->order == PB_ORDER_DESCENDING ? "descending" : "ignore"));
            if (f->n_aliases)
                bad |= json_object_set_new(fo, "aliases", strings_json(f->aliases, f->n_aliases));
            if (f->props) bad |= add_props(fo, f->props);
        }
        break;
    }
    case PB_AVRO_ENUM:
        bad |= json_object_set_new(o, "symbols", strings_json(n->symbols, n->n_symbols));
        if (n->enum_default >= 0)
            bad |= json_object_set_new(o, "default", json_string(n->symbols[n->enum_default]));
        break;
    case PB_AVRO_FIXED:
        bad |= json_object_set_new(o, "size", json_integer((json_int_t)n->size));
        break;
    case PB_AVRO_ARRAY:
    case PB_AVRO_MAP:
        bad |= json_object_set_new(o, n->type == PB_AVRO_ARRAY ? "items" : "values",
                                   node_json(n->items, seen, ns));
        break;
    default: break;
    }
    if (n->props) bad |= add_props(o, n->props);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *pb_schema_to_json(const pb_schema_t *s) {
    strmap_t seen = {0};
    json_t *j = node_json(s->root, &seen, NULL);
    strmap_free(&seen);
    return j;
}

json_t *pb_schema_to_json_own(const pb_schema_t *s) {
    strmap_t seen = {0};
    for (size_t i = 0; i < s->n_nodes; i++) {
        const pb_schema_node_t *n = s->nodes[i];
        if (n->predefined && pb_schema_is_named(n) && !strmap_get(&seen, n->fullname) &&
            strmap_put(&seen, n->fullname, (void *)n)) {
            strmap_free(&seen);
            return NULL;
        }
    }
    json_t *j = node_json(s->root, &seen, NULL);
    strmap_free(&seen);
    return j;
}

int pb_schema_has_predefined(const pb_schema_t *s) {
    for (size_t i = 0; s && i < s->n_nodes; i++)
        if (s->nodes[i]->predefined) return 1;
    return 0;
}

int pb_schema_raw_key(const pb_schema_t *s) {
    if (!s) return 1;
    const pb_schema_node_t *n = s->root;
    return (n->type == PB_AVRO_STRING || n->type == PB_AVRO_BYTES) &&
           n->logical == PB_LOGICAL_NONE; /* an unknown logicalType is ignored (the spec) */
}
