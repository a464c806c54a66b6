/*
 * registry — the port registry state machine (see registry.h for the record format and the
 * semantics).
 *
 * Owns: the in-memory state built from the registry log and every decision applying a record
 * makes. Must not: do I/O, read clocks or random sources, or look at the instance's config: two
 * instances applying the same records must end in byte-identical states (pb_registry_dump).
 *
 * Layout. Schemas live once in `schemas` (index id - 1; ids are never reused) and in a table by
 * their normalized text; subject versions and bindings point at them and count references, which
 * decide whether GET /schemas/ids/{id} still finds them. Subjects are in a table by name, each with
 * its versions ascending. Products are kept in the order first stored; ports are indexed by URN
 * and output ports by subject (for the subscriber check). Bindings are kept in id order.
 *
 * Every operation checks everything first and mutates afterwards, so a failed operation changes
 * nothing. Mutations cannot fail except out of memory, which aborts (see registry.h).
 */
#include "registry.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "hash.h"

/* ---- memory: the apply path cannot fail half-way, so allocation failure aborts ----------- */

static _Noreturn void oom(void) {
    fprintf(stderr, "portbroker: registry: out of memory while applying the registry log\n");
    abort();
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) oom();
    return p;
}

static void *xcalloc(size_t n, size_t sz) {
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p) oom();
    return p;
}

static void *xrealloc(void *p, size_t n) {
    p = realloc(p, n ? n : 1);
    if (!p) oom();
    return p;
}

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = xmalloc(n);
    memcpy(d, s, n);
    return d;
}

/* Grow an array of elements of size sz so that it holds at least need. */
static void grow(void **arr, size_t *cap, size_t need, size_t sz) {
    if (need <= *cap) return;
    size_t nc = *cap ? *cap * 2 : 8;
    while (nc < need)
        nc *= 2;
    *arr = xrealloc(*arr, nc * sz);
    *cap = nc;
}

static json_t *jcheck(json_t *j) {
    if (!j) oom();
    return j;
}

/* ---- a small string-keyed hash table (chained) --------------------------------------------- */

typedef struct ment {
    char *key;
    void *val;
    struct ment *next;
} ment_t;

typedef struct map {
    ment_t **b;
    size_t nb, n;
} map_t;

static uint64_t hash_str(const char *s) { return pb_hash_str(PB_HASH_LEGACY_BASIS, s); }

static void *map_get(const map_t *m, const char *k) {
    if (!m->nb) return NULL;
    for (ment_t *e = m->b[hash_str(k) % m->nb]; e; e = e->next)
        if (strcmp(e->key, k) == 0) return e->val;
    return NULL;
}

static void map_put(map_t *m, const char *k, void *v) {
    if (m->n >= m->nb) {
        size_t nb = m->nb ? m->nb * 2 : 64;
        ment_t **b = xcalloc(nb, sizeof *b);
        for (size_t i = 0; i < m->nb; i++) {
            ment_t *e = m->b[i];
            while (e) {
                ment_t *next = e->next;
                size_t j = hash_str(e->key) % nb;
                e->next = b[j];
                b[j] = e;
                e = next;
            }
        }
        free(m->b);
        m->b = b;
        m->nb = nb;
    }
    size_t i = hash_str(k) % m->nb;
    for (ment_t *e = m->b[i]; e; e = e->next)
        if (strcmp(e->key, k) == 0) {
            e->val = v;
            return;
        }
    ment_t *e = xmalloc(sizeof *e);
    e->key = xstrdup(k);
    e->val = v;
    e->next = m->b[i];
    m->b[i] = e;
    m->n++;
}

static void map_del(map_t *m, const char *k) {
    if (!m->nb) return;
    ment_t **pp = &m->b[hash_str(k) % m->nb];
    for (; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->key, k) == 0) {
            ment_t *e = *pp;
            *pp = e->next;
            free(e->key);
            free(e);
            m->n--;
            return;
        }
}

static void map_free(map_t *m) {
    for (size_t i = 0; i < m->nb; i++) {
        ment_t *e = m->b[i];
        while (e) {
            ment_t *next = e->next;
            free(e->key);
            free(e);
            e = next;
        }
    }
    free(m->b);
    memset(m, 0, sizeof *m);
}

/* ---- state ---------------------------------------------------------------------------------- */

typedef struct sch {
    int id;
    char *text; /* normalized compact JSON (its own: referenced named types by name) */
    size_t len;
    char *key;           /* identity: text, plus references, metadata, ruleSet (key_of) */
    pb_schema_t *parsed; /* resolved: referenced named types included */
    json_t *references;  /* [{"name","subject","version"}] or NULL */
    json_t *metadata;    /* or NULL */
    json_t *rule_set;    /* or NULL */
    int refs;            /* versions (live or soft-deleted) and bindings using it */
} sch_t;

typedef struct ver {
    int version;
    sch_t *s;
    int deleted;
} ver_t;

typedef struct subj {
    char *name;
    ver_t *v; /* ascending by version */
    size_t n, cap;
    int level; /* -1: no subject-level config */
    int mode;  /* -1: no subject-level mode */
} subj_t;

typedef struct bind {
    pb_registry_binding_t pub;
    char *from, *to, *start;
    char *to_product; /* URN of the input port's product */
    sch_t *reader;
} bind_t;

struct pb_registry {
    int global_level;
    int global_mode;
    map_t subjects;  /* name -> subj_t* */
    sch_t **schemas; /* in creation order */
    size_t n_schemas, cap_schemas;
    map_t by_text; /* identity key -> sch_t* (the first with that key) */
    map_t by_id;   /* decimal id -> sch_t* */
    int next_id;   /* 1 + the largest id given so far */
    pb_product_t **products;
    size_t n_products, cap_products;
    map_t ports;        /* URN -> pb_port_t* (both kinds) */
    map_t out_subjects; /* subject -> output pb_port_t* */
    bind_t **binds;     /* ascending id */
    size_t n_binds, cap_binds;
    int next_bind_id;
    int64_t offset;
    uint64_t applied, skipped;
};

static const char *const op_names[] = {
    "none",        "register",       "delete_version", "delete_subject", "config",
    "product_put", "product_delete", "bind",           "unbind",         "mode",
};

static const char *const mode_names[] = {"READWRITE", "READONLY", "IMPORT"};

const char *pb_registry_mode_name(int mode) {
    return mode >= 0 && mode < PB_REGISTRY__MODE_COUNT ? mode_names[mode] : "READWRITE";
}

int pb_registry_mode_parse(const char *name) {
    for (int i = 0; name && i < PB_REGISTRY__MODE_COUNT; i++)
        if (strcasecmp(name, mode_names[i]) == 0) return i;
    return -1;
}

const char *pb_registry_op_name(pb_registry_op_t op) {
    if ((int)op < 0 || (size_t)op >= sizeof op_names / sizeof *op_names) return "none";
    return op_names[op];
}

pb_registry_t *pb_registry_new(void) {
    pb_registry_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->global_level = PB_COMPAT_BACKWARD;
    r->global_mode = PB_REGISTRY_READWRITE;
    r->next_id = 1;
    r->next_bind_id = 1;
    r->offset = -1;
    return r;
}

static void subj_free(subj_t *sj) {
    if (!sj) return;
    free(sj->name);
    free(sj->v);
    free(sj);
}

static void bind_free(bind_t *b) {
    if (!b) return;
    free(b->from);
    free(b->to);
    free(b->start);
    free(b->to_product);
    free(b);
}

void pb_registry_destroy(pb_registry_t *r) {
    if (!r) return;
    for (size_t i = 0; i < r->subjects.nb; i++)
        for (ment_t *e = r->subjects.b[i]; e; e = e->next)
            subj_free(e->val);
    map_free(&r->subjects);
    for (size_t i = 0; i < r->n_schemas; i++) {
        sch_t *s = r->schemas[i];
        free(s->text);
        free(s->key);
        pb_schema_destroy(s->parsed);
        json_decref(s->references);
        json_decref(s->metadata);
        json_decref(s->rule_set);
        free(s);
    }
    free(r->schemas);
    map_free(&r->by_text);
    map_free(&r->by_id);
    for (size_t i = 0; i < r->n_products; i++)
        pb_product_destroy(r->products[i]);
    free(r->products);
    map_free(&r->ports);
    map_free(&r->out_subjects);
    for (size_t i = 0; i < r->n_binds; i++)
        bind_free(r->binds[i]);
    free(r->binds);
    free(r);
}

static subj_t *subject_get(const pb_registry_t *r, const char *name) {
    return name ? map_get(&r->subjects, name) : NULL;
}

static sch_t *schema_get(const pb_registry_t *r, const char *text) {
    return map_get(&r->by_text, text);
}

static int has_live(const subj_t *sj) {
    if (!sj) return 0;
    for (size_t i = 0; i < sj->n; i++)
        if (!sj->v[i].deleted) return 1;
    return 0;
}

static const ver_t *latest_live(const subj_t *sj) {
    if (!sj) return NULL;
    for (size_t i = sj->n; i-- > 0;)
        if (!sj->v[i].deleted) return &sj->v[i];
    return NULL;
}

static ver_t *find_version(const subj_t *sj, int version) {
    if (!sj) return NULL;
    for (size_t i = 0; i < sj->n; i++)
        if (sj->v[i].version == version) return &sj->v[i];
    return NULL;
}

static int level_of(const pb_registry_t *r, const subj_t *sj) {
    return sj && sj->level >= 0 ? sj->level : r->global_level;
}

static int mode_of(const pb_registry_t *r, const subj_t *sj) {
    return sj && sj->mode >= 0 ? sj->mode : r->global_mode;
}

/* A write to subject (sj may be NULL) in READONLY mode: fails res (42205) and returns 1. */
static int read_only(const pb_registry_t *r, const subj_t *sj, const char *subject,
                     pb_registry_result_t *res);

/* Drop a subject that has neither versions nor a config nor a mode. */
static void subject_gc(pb_registry_t *r, subj_t *sj) {
    if (sj && sj->n == 0 && sj->level < 0 && sj->mode < 0) {
        map_del(&r->subjects, sj->name);
        subj_free(sj);
    }
}

static subj_t *subject_make(pb_registry_t *r, const char *name) {
    subj_t *sj = subject_get(r, name);
    if (sj) return sj;
    sj = xcalloc(1, sizeof *sj);
    sj->name = xstrdup(name);
    sj->level = -1;
    sj->mode = -1;
    map_put(&r->subjects, name, sj);
    return sj;
}

/* ---- helpers: schemas, subjects, messages --------------------------------------------------- */

/* Subject names: 1..PB_REGISTRY_SUBJECT_MAX bytes, no control characters. */
static int subject_valid(const char *s, pb_err_t *err) {
    size_t n = strlen(s);
    if (n == 0) {
        pb_err_set(err, PB_ERR_INVALID, "Invalid subject '': a subject name is not empty");
        return 0;
    }
    if (n > PB_REGISTRY_SUBJECT_MAX) {
        pb_err_set(err, PB_ERR_INVALID, "Invalid subject: %zu bytes, at most %d", n,
                   PB_REGISTRY_SUBJECT_MAX);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            char ex[64];
            pb_err_set(err, PB_ERR_INVALID, "Invalid subject '%s': control character at offset %zu",
                       pb_addr_excerpt(s, ex, sizeof ex), i);
            return 0;
        }
    }
    return 1;
}

/* Parse schema text and give its normalized compact JSON (*text, caller frees) and parse (*parsed,
 * caller destroys), with the named types of predef (referenced schemas) predefined. Returns 0,
 * PB_SR_INVALID_SCHEMA or PB_SR_SCHEMA_TOO_LARGE with err. Allocation failures here are reported
 * (this also runs on the request path). */
static int normalize_refs(const char *in, size_t len, const pb_schema_t *const *predef,
                          size_t n_predef, char **text, size_t *text_len, pb_schema_t **parsed,
                          pb_err_t *err) {
    pb_schema_t *s = NULL;
    json_t *j = NULL;
    char *out = NULL;
    int rc = 0;
    *text = NULL;
    *parsed = NULL;
    if (len > PB_SCHEMA_MAX_BYTES) {
        rc = PB_SR_SCHEMA_TOO_LARGE;
        pb_err_set(err, PB_ERR_TOO_LARGE, "Schema too large: %zu bytes, at most %d", len,
                   PB_REGISTRY_MAX_SCHEMA_BYTES);
        goto done;
    }
    if (pb_schema_parse_refs(in, len, predef, n_predef, &s, err)) {
        rc = err && err->code == PB_ERR_TOO_LARGE ? PB_SR_SCHEMA_TOO_LARGE : PB_SR_INVALID_SCHEMA;
        pb_err_prefix(err, "Invalid schema: ");
        goto done;
    }
    j = pb_schema_to_json_own(s);
    out = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (!out) {
        rc = PB_SR_STORE_ERROR;
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t n = strlen(out);
    if (n > PB_REGISTRY_MAX_SCHEMA_BYTES) {
        rc = PB_SR_SCHEMA_TOO_LARGE;
        pb_err_set(err, PB_ERR_TOO_LARGE, "Schema too large: %zu bytes as compact JSON, at most %d",
                   n, PB_REGISTRY_MAX_SCHEMA_BYTES);
        goto done;
    }
    *text = out;
    *text_len = n;
    *parsed = s;
    out = NULL;
    s = NULL;
done:
    free(out);
    json_decref(j);
    pb_schema_destroy(s);
    return rc;
}

static int normalize(const char *in, size_t len, char **text, size_t *text_len,
                     pb_schema_t **parsed, pb_err_t *err) {
    return normalize_refs(in, len, NULL, 0, text, text_len, parsed, err);
}

/* Normalize a JSON schema value (a port's declared schema). */
static int normalize_json(const json_t *v, char **text, size_t *text_len, pb_schema_t **parsed,
                          pb_err_t *err) {
    char *in = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!in) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return PB_SR_STORE_ERROR;
    }
    int rc = normalize(in, strlen(in), text, text_len, parsed, err);
    free(in);
    return rc;
}

/* Normalize a port's declared schema (a tree, or its text once the product was compacted). */
static int normalize_port(const pb_port_t *port, char **text, size_t *text_len,
                          pb_schema_t **parsed, pb_err_t *err) {
    json_t *v = pb_port_schema_json(port, 0);
    if (!v) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return PB_SR_STORE_ERROR;
    }
    int rc = normalize_json(v, text, text_len, parsed, err);
    json_decref(v);
    return rc;
}

/* An incompatibility as a JSON item. version 0: none; subscriber NULL: none. */
static void item_add(json_t *items, const pb_compat_issue_t *is, int version,
                     const char *subscriber, int binding) {
    json_t *o = jcheck(json_object());
    json_object_set_new(o, "kind", jcheck(json_string(pb_compat_kind_name(is->kind))));
    json_object_set_new(o, "location", jcheck(json_string(is->location ? is->location : "/")));
    json_object_set_new(o, "message", jcheck(json_string(is->message ? is->message : "")));
    if (version > 0) json_object_set_new(o, "version", jcheck(json_integer(version)));
    if (is->dir != PB_COMPAT_DIR_PAIR)
        json_object_set_new(o, "direction", jcheck(json_string(pb_compat_dir_name(is->dir))));
    if (subscriber) {
        json_object_set_new(o, "subscriber", jcheck(json_string(subscriber)));
        json_object_set_new(o, "binding", jcheck(json_integer(binding)));
    }
    json_array_append_new(items, o);
}

/* A check that could not run (beyond compat's limits) counts as incompatible, with a reason. */
static void item_failed(json_t *items, const char *why, int version, const char *subscriber,
                        int binding) {
    char root[] = "/";
    char *msg = xstrdup(why);
    pb_compat_issue_t is = {.kind = PB_COMPAT_TYPE_MISMATCH,
                            .location = root,
                            .dir = PB_COMPAT_DIR_PAIR,
                            .message = msg,
                            .version = -1};
    item_add(items, &is, version, subscriber, binding);
    json_t *last = json_array_get(items, json_array_size(items) - 1);
    json_object_set_new(last, "kind", jcheck(json_string("CHECK_FAILED")));
    free(msg);
}

/* Append one item in Confluent's verbose-message style to b. */
static void item_text(pb_buf_t *b, const json_t *it) {
    const char *kind = json_string_value(json_object_get(it, "kind"));
    const char *msg = json_string_value(json_object_get(it, "message"));
    const char *loc = json_string_value(json_object_get(it, "location"));
    json_t *v = json_object_get(it, "version");
    const char *dir = json_string_value(json_object_get(it, "direction"));
    const char *sub = json_string_value(json_object_get(it, "subscriber"));
    if (pb_buf_printf(b, "{errorType:'%s', description:'%s', location:'%s'", kind ? kind : "",
                      msg ? msg : "", loc ? loc : "/"))
        oom();
    if (v && pb_buf_printf(b, ", oldSchemaVersion: %d", (int)json_integer_value(v))) oom();
    if (dir && pb_buf_printf(b, ", direction:'%s'", dir)) oom();
    if (sub && pb_buf_printf(b, ", subscriber:'%s'", sub)) oom();
    if (pb_buf_puts(b, "}")) oom();
}

#define MESSAGE_MAX (64 * 1024)

#define OLD_SCHEMA_MAX (10 * 1024) /* Confluent's MAX_SCHEMA_SIZE_FOR_LOGGING */

/* For each version of sj the items name (first seen first), Confluent's "{oldSchemaVersion: N}"
 * and "{oldSchema: '<schema>'}" (a schema longer than OLD_SCHEMA_MAX cut as Confluent cuts it),
 * as a new array of strings (empty when sj is NULL). */
static json_t *old_schema_entries(const subj_t *sj, const json_t *items) {
    json_t *out = jcheck(json_array());
    for (size_t i = 0; sj && i < json_array_size(items); i++) {
        json_int_t v = json_integer_value(json_object_get(json_array_get(items, i), "version"));
        if (v <= 0) continue;
        size_t k = 0;
        while (k < i &&
               json_integer_value(json_object_get(json_array_get(items, k), "version")) != v)
            k++;
        const ver_t *ov = k == i ? find_version(sj, (int)v) : NULL;
        if (!ov) continue;
        pb_buf_t b = {0};
        if (pb_buf_printf(&b, "{oldSchemaVersion: %d}", ov->version)) oom();
        json_array_append_new(out, jcheck(json_stringn((const char *)b.data, b.len)));
        b.len = 0;
        if (ov->s->len <= OLD_SCHEMA_MAX ? pb_buf_printf(&b, "{oldSchema: '%s'}", ov->s->text)
                                         : pb_buf_printf(&b, "{oldSchema: <truncated> '%.*s...'}",
                                                         OLD_SCHEMA_MAX, ov->s->text))
            oom();
        json_array_append_new(out, jcheck(json_stringn((const char *)b.data, b.len)));
        pb_buf_free(&b);
    }
    return out;
}

/* The same, appended to b as "entry, entry, " (while b is shorter than MESSAGE_MAX). */
static void old_schemas_text(pb_buf_t *b, const subj_t *sj, const json_t *items) {
    json_t *e = old_schema_entries(sj, items);
    for (size_t i = 0; i < json_array_size(e) && b->len <= MESSAGE_MAX; i++)
        if (pb_buf_printf(b, "%s, ", json_string_value(json_array_get(e, i)))) oom();
    json_decref(e);
}

/* "details: [item, item, ..., {oldSchemaVersion: N}, {oldSchema: '...'}, ..., {compatibility:
 * 'LEVEL'}]" appended to b, cut near MESSAGE_MAX; the old schemas of sj the items name (sj may be
 * NULL: none). */
static void items_text(pb_buf_t *b, const json_t *items, int level, const subj_t *sj) {
    if (pb_buf_puts(b, "details: [")) oom();
    size_t n = json_array_size(items);
    for (size_t i = 0; i < n; i++) {
        if (b->len > MESSAGE_MAX) {
            if (pb_buf_printf(b, "{omitted: %zu}, ", n - i)) oom();
            break;
        }
        item_text(b, json_array_get(items, i));
        if (pb_buf_puts(b, ", ")) oom();
    }
    old_schemas_text(b, sj, items);
    if (level >= 0 && pb_buf_printf(b, "{compatibility: '%s'}", pb_compat_level_name(level)))
        oom();
    else if (level < 0 && b->len >= 2 && b->data[b->len - 2] == ',')
        b->len -= 2;
    if (pb_buf_puts(b, "]")) oom();
}

/* ---- checks --------------------------------------------------------------------------------- */

/* Check cand against the live versions of sj (may be NULL) with level, plus one extra writer
 * version (extra may be NULL, extra_version its number) appended after them. Adds items; returns
 * the number of incompatible (version, direction) findings, 0 when compatible. */
static int level_check(const subj_t *sj, int level, const pb_schema_t *cand,
                       const pb_schema_t *extra, int extra_version, json_t *items) {
    size_t n = 0;
    const pb_schema_t **vs = xcalloc((sj ? sj->n : 0) + 1, sizeof *vs);
    int *nums = xcalloc((sj ? sj->n : 0) + 1, sizeof *nums);
    for (size_t i = 0; sj && i < sj->n; i++)
        if (!sj->v[i].deleted) {
            vs[n] = sj->v[i].s->parsed;
            nums[n++] = sj->v[i].version;
        }
    if (extra) {
        vs[n] = extra;
        nums[n++] = extra_version;
    }
    pb_compat_report_t rep = {0};
    pb_err_t err = {0};
    int bad = 0;
    int rc = pb_compat_check_level((pb_compat_level_t)level, cand, vs, n, &rep, &err);
    if (rc == PB_ERR_INCOMPATIBLE) {
        for (size_t i = 0; i < rep.n_issues; i++) {
            const pb_compat_issue_t *is = &rep.issues[i];
            int vnum = is->version >= 0 && (size_t)is->version < n ? nums[is->version] : 0;
            item_add(items, is, vnum, NULL, 0);
        }
        bad = rep.n_issues ? (int)rep.n_issues : 1;
    } else if (rc == PB_ERR_NOMEM) {
        oom();
    } else if (rc) {
        item_failed(items, err.msg, 0, NULL, 0);
        bad = 1;
    }
    pb_compat_report_reset(&rep);
    free(vs);
    free(nums);
    return bad;
}

/* Can reader read writer? Adds items (tagged with version / subscriber); returns 1 when not. */
static int pair_check(const pb_schema_t *reader, const pb_schema_t *writer, int version,
                      const char *subscriber, int binding, json_t *items) {
    pb_compat_report_t rep = {0};
    pb_err_t err = {0};
    int rc = pb_compat_check(reader, writer, &rep, &err);
    int bad = 0;
    if (rc == PB_ERR_INCOMPATIBLE) {
        for (size_t i = 0; i < rep.n_issues; i++)
            item_add(items, &rep.issues[i], version, subscriber, binding);
        bad = 1;
    } else if (rc == PB_ERR_NOMEM) {
        oom();
    } else if (rc) {
        item_failed(items, err.msg, version, subscriber, binding);
        bad = 1;
    }
    pb_compat_report_reset(&rep);
    return bad;
}

/* A reader of an output port: a binding as it is or as it will be. */
typedef struct reader_ref {
    const char *to;
    const pb_schema_t *reader;
    int id;
} reader_ref_t;

/* Subscribers of output port urn among the current bindings. *n gets the count; caller frees. */
static reader_ref_t *readers_of(const pb_registry_t *r, const char *urn, size_t *n) {
    reader_ref_t *out = xcalloc(r->n_binds + 1, sizeof *out);
    *n = 0;
    for (size_t i = 0; i < r->n_binds; i++)
        if (strcmp(r->binds[i]->from, urn) == 0)
            out[(*n)++] =
                (reader_ref_t){r->binds[i]->to, r->binds[i]->reader->parsed, r->binds[i]->pub.id};
    return out;
}

/* Check cand as a new writer version against every reader; adds items; returns how many
 * subscribers cannot read it. */
static int subscriber_check(const reader_ref_t *rd, size_t n, const pb_schema_t *cand,
                            json_t *items) {
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += pair_check(rd[i].reader, cand, 0, rd[i].to, rd[i].id, items);
    return bad;
}

/* Distinct subscriber URNs in items, ", "-joined into b. */
static void subscribers_text(pb_buf_t *b, const json_t *items) {
    const char *last = NULL;
    size_t k = 0;
    for (size_t i = 0; i < json_array_size(items); i++) {
        const char *s = json_string_value(json_object_get(json_array_get(items, i), "subscriber"));
        if (!s || (last && strcmp(s, last) == 0)) continue;
        if (pb_buf_printf(b, "%s%s", k++ ? ", " : "", s)) oom();
        last = s;
    }
}

static int items_have(const json_t *items, const char *key) {
    for (size_t i = 0; i < json_array_size(items); i++)
        if (json_object_get(json_array_get(items, i), key)) return 1;
    return 0;
}

/* ---- results -------------------------------------------------------------------------------- */

void pb_registry_result_reset(pb_registry_result_t *res) {
    if (!res) return;
    free(res->message);
    json_decref(res->body);
    memset(res, 0, sizeof *res);
}

static void res_fail(pb_registry_result_t *res, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void res_fail(pb_registry_result_t *res, int code, const char *fmt, ...) {
    va_list ap;
    char tmp[1024];
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    free(res->message);
    res->message = xstrdup(tmp);
    res->error_code = code;
}

/* Takes the message text from b. */
static void res_fail_buf(pb_registry_result_t *res, int code, pb_buf_t *b) {
    if (pb_buf_putc(b, 0)) oom();
    free(res->message);
    res->message = (char *)b->data;
    memset(b, 0, sizeof *b);
    res->error_code = code;
}

static void res_incompatible(pb_registry_result_t *res, json_t *items, pb_buf_t *msg) {
    json_t *body = jcheck(json_object());
    json_object_set(body, "incompatibilities", items);
    json_decref(res->body);
    res->body = body;
    res_fail_buf(res, PB_SR_INCOMPATIBLE, msg);
}

/* Message of a failed register: what it conflicts with, then every incompatibility. */
static void register_message(pb_buf_t *b, const char *subject, int level, const char *port,
                             const json_t *items, const subj_t *sj) {
    int lvl = items_have(items, "version") || !items_have(items, "subscriber");
    if (pb_buf_printf(b, "Schema being registered is incompatible with ")) oom();
    if (lvl && pb_buf_printf(b, "an earlier schema for subject \"%s\"", subject)) oom();
    if (items_have(items, "subscriber")) {
        if (pb_buf_printf(b, "%sthe reader schema of subscriber(s) ", lvl ? " and with " : ""))
            oom();
        subscribers_text(b, items);
        if (pb_buf_printf(b, " of output port %s (subject \"%s\")", port ? port : "?", subject))
            oom();
    }
    if (pb_buf_puts(b, ", ")) oom();
    items_text(b, items, level, sj);
}

/* ---- schema table --------------------------------------------------------------------------- */

/* A schema's identity (Confluent's: the schema, its references, metadata and ruleSet): the text
 * alone when it has none of them, else text "\n" {"references","metadata","ruleSet"} (keys
 * sorted). Compact JSON text holds no raw newline, so the two forms never collide. Caller frees. */
static char *key_of(const char *text, const json_t *refs, const json_t *md, const json_t *rs) {
    if (!refs && !md && !rs) return xstrdup(text);
    json_t *o = jcheck(json_object());
    if (refs) json_object_set(o, "references", (json_t *)refs);
    if (md) json_object_set(o, "metadata", (json_t *)md);
    if (rs) json_object_set(o, "ruleSet", (json_t *)rs);
    char *extra = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (!extra) oom();
    size_t a = strlen(text), b = strlen(extra);
    char *k = xmalloc(a + b + 2);
    memcpy(k, text, a);
    k[a] = '\n';
    memcpy(k + a + 1, extra, b + 1);
    free(extra);
    return k;
}

static void id_key(int id, char out[16]) { snprintf(out, 16, "%d", id); }

static sch_t *schema_by_id_any(const pb_registry_t *r, int id) {
    char k[16];
    id_key(id, k);
    return map_get(&r->by_id, k);
}

/* A new schema with id (0: the next one). Takes text, key and parsed; copies the JSON values. */
static sch_t *schema_new(pb_registry_t *r, int id, char *text, size_t len, char *key,
                         pb_schema_t *parsed, const json_t *refs, const json_t *md,
                         const json_t *rs) {
    char k[16];
    grow((void **)&r->schemas, &r->cap_schemas, r->n_schemas + 1, sizeof *r->schemas);
    sch_t *s = xcalloc(1, sizeof *s);
    s->id = id > 0 ? id : r->next_id;
    if (s->id >= r->next_id) r->next_id = s->id + 1;
    s->text = text;
    s->len = len;
    s->key = key;
    s->parsed = parsed;
    s->references = refs ? jcheck(json_deep_copy(refs)) : NULL;
    s->metadata = md ? jcheck(json_deep_copy(md)) : NULL;
    s->rule_set = rs ? jcheck(json_deep_copy(rs)) : NULL;
    r->schemas[r->n_schemas++] = s;
    if (!map_get(&r->by_text, key)) map_put(&r->by_text, key, s);
    id_key(s->id, k);
    map_put(&r->by_id, k, s);
    return s;
}

/* The schema with this text (and no references, metadata or ruleSet), created if new. Takes
 * ownership of text and parsed on every path. */
static sch_t *schema_intern(pb_registry_t *r, char *text, size_t len, pb_schema_t *parsed) {
    sch_t *s = schema_get(r, text);
    if (s) {
        free(text);
        pb_schema_destroy(parsed);
        return s;
    }
    return schema_new(r, 0, text, len, xstrdup(text), parsed, NULL, NULL, NULL);
}

/* ---- references ----------------------------------------------------------------------------- */

/* Does schema s reference (subject, version)? */
static int references_sv(const sch_t *s, const char *subject, int version) {
    for (size_t i = 0; s->references && i < json_array_size(s->references); i++) {
        const json_t *ref = json_array_get(s->references, i);
        if (json_integer_value(json_object_get(ref, "version")) == version &&
            strcmp(json_string_value(json_object_get(ref, "subject")), subject) == 0)
            return 1;
    }
    return 0;
}

/* Versions referencing (subject, version): soft-deleted ones too with include_deleted, none of
 * subject skip (may be NULL). Appends their schema ids to ids (may be NULL; ascending, unique);
 * returns how many versions. */
static size_t referencing(const pb_registry_t *r, const char *subject, int version,
                          int include_deleted, const char *skip, json_t *ids) {
    size_t n = 0;
    for (size_t i = 0; i < r->subjects.nb; i++)
        for (ment_t *e = r->subjects.b[i]; e; e = e->next) {
            const subj_t *sj = e->val;
            if (skip && strcmp(sj->name, skip) == 0) continue;
            for (size_t k = 0; k < sj->n; k++) {
                if ((sj->v[k].deleted && !include_deleted) ||
                    !references_sv(sj->v[k].s, subject, version))
                    continue;
                n++;
                if (!ids) continue;
                size_t at = 0, m = json_array_size(ids);
                while (at < m && json_integer_value(json_array_get(ids, at)) < sj->v[k].s->id)
                    at++;
                if (at < m && json_integer_value(json_array_get(ids, at)) == sj->v[k].s->id)
                    continue;
                json_array_insert_new(ids, at, jcheck(json_integer(sj->v[k].s->id)));
            }
        }
    return n;
}

/* 42206 for (subject, version) when referenced (see referencing). Returns 1 when it failed res. */
static int referenced_fails(const pb_registry_t *r, const char *subject, int version,
                            int include_deleted, const char *skip, pb_registry_result_t *res) {
    json_t *ids = jcheck(json_array());
    if (!referencing(r, subject, version, include_deleted, skip, ids)) {
        json_decref(ids);
        return 0;
    }
    char *list = json_dumps(ids, JSON_COMPACT);
    json_decref(ids);
    if (!list) oom();
    res_fail(res, PB_SR_REFERENCE_EXISTS,
             "One or more references exist to the schema "
             "{magic=1,keytype=SCHEMA,subject=%s,version=%d}. Schema ids %s reference it "
             "(GET /subjects/%s/versions/%d/referencedby): delete %sthose versions first",
             subject, version, list, subject, version, include_deleted ? "permanently " : "");
    free(list);
    return 1;
}

/* The parsed schemas references (an array of {name, subject, version}; version -1 the latest
 * live one) name, into a new array (*out, caller frees; NULL when none). Returns 0, or 42201 with
 * err naming the reference that does not resolve. A referenced version may be soft-deleted (it
 * still exists; deleting it is refused while referenced). */
static int refs_resolve(const pb_registry_t *r, const json_t *refs, const pb_schema_t ***out,
                        size_t *n, pb_err_t *err) {
    size_t m = json_array_size(refs);
    *out = NULL;
    *n = 0;
    if (!m) return 0;
    const pb_schema_t **ps = calloc(m, sizeof *ps);
    if (!ps) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return PB_SR_STORE_ERROR;
    }
    for (size_t i = 0; i < m; i++) {
        const json_t *ref = json_array_get(refs, i);
        const char *name = json_string_value(json_object_get(ref, "name"));
        const char *subject = json_string_value(json_object_get(ref, "subject"));
        int version = (int)json_integer_value(json_object_get(ref, "version"));
        const subj_t *sj = subject_get(r, subject);
        const ver_t *v = version == -1 ? latest_live(sj) : find_version(sj, version);
        if (!v) {
            free(ps);
            pb_err_set(err, PB_ERR_INVALID,
                       "Invalid schema: reference %zu (\"%s\") names subject '%s' version %d, "
                       "which does not exist (register it first)",
                       i, name ? name : "", subject ? subject : "", version);
            return PB_SR_INVALID_SCHEMA;
        }
        ps[i] = v->s->parsed;
    }
    *out = ps;
    *n = m;
    return 0;
}

/* Add a new version of s to subject name (created when needed). Returns the version. Removes
 * older soft-deleted versions of the same schema, as Confluent does. */
static int version_add(pb_registry_t *r, const char *name, sch_t *s) {
    subj_t *sj = subject_make(r, name);
    int nv = sj->n ? sj->v[sj->n - 1].version + 1 : 1;
    size_t k = 0;
    for (size_t i = 0; i < sj->n; i++) {
        if (sj->v[i].deleted && sj->v[i].s == s &&
            !referencing(r, name, sj->v[i].version, 1, NULL, NULL)) {
            s->refs--;
            continue;
        }
        sj->v[k++] = sj->v[i];
    }
    sj->n = k;
    grow((void **)&sj->v, &sj->cap, sj->n + 1, sizeof *sj->v);
    sj->v[sj->n++] = (ver_t){nv, s, 0};
    s->refs++;
    return nv;
}

/* The live version of subject holding s, or NULL. */
static const ver_t *live_version_of(const subj_t *sj, const sch_t *s) {
    if (!sj || !s) return NULL;
    for (size_t i = sj->n; i-- > 0;)
        if (!sj->v[i].deleted && sj->v[i].s == s) return &sj->v[i];
    return NULL;
}

/* ---- record field access -------------------------------------------------------------------- */

/* A string member: NULL when absent; *bad set when present and not a string (or null when
 * nullable is 0). */
static const char *get_str(const json_t *o, const char *k, int *bad) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return NULL;
    if (!json_is_string(v)) {
        *bad = 1;
        return NULL;
    }
    return json_string_value(v);
}

/* ---- op: register --------------------------------------------------------------------------- */

/* A version of s numbered version inserted into subject name (created when needed), in order. */
static void version_insert(pb_registry_t *r, const char *name, sch_t *s, int version) {
    subj_t *sj = subject_make(r, name);
    grow((void **)&sj->v, &sj->cap, sj->n + 1, sizeof *sj->v);
    size_t i = sj->n;
    while (i > 0 && sj->v[i - 1].version > version) {
        sj->v[i] = sj->v[i - 1];
        i--;
    }
    sj->v[i] = (ver_t){version, s, 0};
    sj->n++;
    s->refs++;
}

static int read_only(const pb_registry_t *r, const subj_t *sj, const char *subject,
                     pb_registry_result_t *res) {
    if (mode_of(r, sj) != PB_REGISTRY_READONLY) return 0;
    res_fail(res, PB_SR_NOT_PERMITTED,
             "Subject %s in context . is in read-only mode: writes are refused until its mode "
             "(PUT /mode/%s) or the global one (PUT /mode) is READWRITE",
             subject ? subject : "(global)", subject ? subject : "{subject}");
    return 1;
}

/* A registration as the record states it. */
typedef struct reg_req {
    const char *subject;
    char *text; /* normalized (taken) */
    size_t len;
    pb_schema_t *parsed; /* taken; NULL: the schema with this text is known (its parse serves) */
    const json_t *refs, *md, *rs; /* borrowed, NULL when absent */
    int id, version;              /* explicit (IMPORT), else 0 */
} reg_req_t;

/* The live version of sj whose schema has this identity key (the latest), or NULL. */
static const ver_t *live_version_key(const subj_t *sj, const char *key) {
    for (size_t i = sj ? sj->n : 0; i-- > 0;)
        if (!sj->v[i].deleted && strcmp(sj->v[i].s->key, key) == 0) return &sj->v[i];
    return NULL;
}

/* q->parsed when the record's text was known (the fast path): a parse of its own, as every
 * schema owns its nodes. */
static void ensure_parsed(const pb_registry_t *r, reg_req_t *q) {
    if (q->parsed) return;
    const sch_t *known = schema_get(r, q->text);
    pb_err_t err = {0};
    char *t2 = NULL;
    size_t l2;
    if (!known || normalize(known->text, known->len, &t2, &l2, &q->parsed, &err)) oom();
    free(t2);
}

/* Check and register (see registry.h: semantics and modes). Takes q->text and q->parsed. */
static void do_register(pb_registry_t *r, reg_req_t *q, pb_registry_result_t *res) {
    const char *subject = q->subject;
    subj_t *sj = subject_get(r, subject);
    json_t *items = NULL;
    pb_buf_t msg = {0};
    reader_ref_t *rd = NULL;
    char *key = NULL;
    int mode = mode_of(r, sj);
    const ver_t *latest = latest_live(sj);
    /* Outside IMPORT a registration without metadata / ruleSet keeps the latest version's. */
    const json_t *md = q->md, *rs = q->rs;
    if (mode != PB_REGISTRY_IMPORT && latest) {
        if (!md) md = latest->s->metadata;
        if (!rs) rs = latest->s->rule_set;
    }
    key = key_of(q->text, q->refs, md, rs);
    const ver_t *live = live_version_key(sj, key);
    if (live && (q->id <= 0 || q->id == live->s->id) &&
        (q->version <= 0 || q->version == live->version)) {
        res->id = live->s->id;
        res->version = live->version;
        res->existed = 1;
        goto done;
    }
    if (read_only(r, sj, subject, res)) goto done;
    if (q->id > 0 && mode != PB_REGISTRY_IMPORT) {
        res_fail(res, PB_SR_NOT_PERMITTED,
                 "Subject %s in context . is not in import mode: a schema with an explicit id is "
                 "registered only in IMPORT mode (PUT /mode/%s {\"mode\":\"IMPORT\"})",
                 subject, subject);
        goto done;
    }
    if (q->id <= 0 && mode != PB_REGISTRY_READWRITE) {
        res_fail(res, PB_SR_NOT_PERMITTED,
                 "Subject %s in context . is not in read-write mode: in %s mode a registration "
                 "needs an explicit \"id\"",
                 subject, pb_registry_mode_name(mode));
        goto done;
    }
    if (!sj && r->subjects.n >= PB_REGISTRY_MAX_SUBJECTS) {
        res_fail(res, PB_SR_NOT_PERMITTED, "Registry limit: at most %d subjects",
                 PB_REGISTRY_MAX_SUBJECTS);
        goto done;
    }
    if (sj && sj->n >= PB_REGISTRY_MAX_VERSIONS) {
        res_fail(res, PB_SR_NOT_PERMITTED,
                 "Registry limit: subject '%s' has %zu versions, at most %d (delete old versions "
                 "permanently first)",
                 subject, sj->n, PB_REGISTRY_MAX_VERSIONS);
        goto done;
    }
    sch_t *s = schema_get(r, key);
    if (!s && r->n_schemas >= PB_REGISTRY_MAX_SCHEMAS) {
        res_fail(res, PB_SR_NOT_PERMITTED, "Registry limit: at most %d schemas",
                 PB_REGISTRY_MAX_SCHEMAS);
        goto done;
    }
    int next = sj && sj->n ? sj->v[sj->n - 1].version + 1 : 1;
    if (mode == PB_REGISTRY_IMPORT) {
        /* Ids and versions as given, no compatibility check (a migration copies history). */
        int version = q->version > 0 ? q->version : next;
        const ver_t *at = find_version(sj, version);
        if (at) {
            res_fail(res, PB_SR_NOT_PERMITTED,
                     "Subject '%s' version %d already holds schema id %d: an import never "
                     "overwrites a version",
                     subject, version, at->s->id);
            goto done;
        }
        sch_t *byid = schema_by_id_any(r, q->id);
        if (byid && strcmp(byid->key, key) != 0) {
            res_fail(res, PB_SR_NOT_PERMITTED,
                     "Overwrite new schema with id %d in context . is not permitted: id %d holds "
                     "another schema",
                     q->id, q->id);
            goto done;
        }
        if (!byid && r->n_schemas >= PB_REGISTRY_MAX_SCHEMAS) {
            res_fail(res, PB_SR_NOT_PERMITTED, "Registry limit: at most %d schemas",
                     PB_REGISTRY_MAX_SCHEMAS);
            goto done;
        }
        if (!byid) ensure_parsed(r, q);
        s = byid ? byid : schema_new(r, q->id, q->text, q->len, key, q->parsed, q->refs, md, rs);
        if (!byid) q->text = NULL, key = NULL, q->parsed = NULL;
        version_insert(r, subject, s, version);
        res->id = s->id;
        res->version = version;
        res->changed = 1;
        goto done;
    }
    if (q->version > 0 && q->version != next) {
        res_fail(res, PB_SR_INVALID_SCHEMA,
                 "Invalid schema: version %d is not one more than the previous version (%d) of "
                 "subject '%s'",
                 q->version, next - 1, subject);
        goto done;
    }
    int level = level_of(r, sj);
    const pb_schema_t *cand = s           ? s->parsed
                              : q->parsed ? q->parsed
                                          : schema_get(r, q->text)->parsed;
    items = jcheck(json_array());
    res->checks[level_check(sj, level, cand, NULL, 0, items) ? 0 : 1][level]++;
    const pb_port_t *port = map_get(&r->out_subjects, subject);
    if (port) { /* whatever the level, NONE included (DESIGN §5: port subjects are protected) */
        size_t n;
        rd = readers_of(r, port->fqn, &n);
        subscriber_check(rd, n, cand, items);
    }
    if (json_array_size(items)) {
        register_message(&msg, subject, level, port ? port->fqn : NULL, items, sj);
        res_incompatible(res, items, &msg);
        goto done;
    }
    if (!s) {
        ensure_parsed(r, q);
        s = schema_new(r, 0, q->text, q->len, key, q->parsed, q->refs, md, rs);
        q->text = NULL, key = NULL, q->parsed = NULL;
    }
    res->id = s->id;
    res->version = version_add(r, subject, s);
    res->changed = 1;
done:
    free(rd);
    pb_buf_free(&msg);
    json_decref(items);
    free(key);
    free(q->text);
    q->text = NULL;
    pb_schema_destroy(q->parsed);
    q->parsed = NULL;
}

/* A JSON member that must be absent/null or of one kind: NULL when absent; *bad when wrong. */
static const json_t *get_kind(const json_t *o, const char *k, json_type t, int *bad) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return NULL;
    if (json_typeof(v) != t) *bad = 1;
    return v;
}

/* A positive integer member, 0 when absent; *bad when present and not one. */
static int get_pos_int(const json_t *o, const char *k, int *bad) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 2147483647) {
        *bad = 1;
        return 0;
    }
    return (int)json_integer_value(v);
}

/* Are references well-formed ({name: string, subject: string, version: int}) objects? */
static int refs_wellformed(const json_t *refs) {
    for (size_t i = 0; i < json_array_size(refs); i++) {
        const json_t *x = json_array_get(refs, i);
        if (!json_is_string(json_object_get(x, "name")) ||
            !json_is_string(json_object_get(x, "subject")) ||
            !json_is_integer(json_object_get(x, "version")))
            return 0;
    }
    return 1;
}

static int op_register(pb_registry_t *r, const json_t *rec, pb_registry_result_t *res) {
    int bad = 0;
    const char *subject = get_str(rec, "subject", &bad);
    const char *schema = get_str(rec, "schema", &bad);
    reg_req_t q = {.subject = subject};
    q.refs = get_kind(rec, "references", JSON_ARRAY, &bad);
    q.md = get_kind(rec, "metadata", JSON_OBJECT, &bad);
    q.rs = get_kind(rec, "ruleSet", JSON_OBJECT, &bad);
    q.id = get_pos_int(rec, "id", &bad);
    q.version = get_pos_int(rec, "version", &bad);
    if (bad || !subject || !schema || !refs_wellformed(q.refs)) return -1;
    if (q.refs && json_array_size(q.refs) == 0) q.refs = NULL;
    pb_err_t err = {0};
    if (!subject_valid(subject, &err)) {
        res_fail(res, PB_SR_INVALID_SUBJECT, "%s", err.msg);
        return 0;
    }
    q.text = xstrdup(schema);
    q.len = strlen(schema);
    if (!q.refs && schema_get(r, schema)) { /* already normalized and known: skip parsing */
        do_register(r, &q, res);
        return 0;
    }
    const pb_schema_t **predef = NULL;
    size_t n_predef = 0;
    int rc = refs_resolve(r, q.refs, &predef, &n_predef, &err);
    if (rc == PB_SR_STORE_ERROR) oom();
    if (!rc) {
        free(q.text);
        q.text = NULL;
        rc = normalize_refs(schema, strlen(schema), predef, n_predef, &q.text, &q.len, &q.parsed,
                            &err);
        if (rc == PB_SR_STORE_ERROR) oom();
    }
    free(predef);
    if (rc) {
        free(q.text);
        res_fail(res, rc, "%s", err.msg);
        return 0;
    }
    do_register(r, &q, res);
    return 0;
}

/* ---- op: delete_version / delete_subject ---------------------------------------------------- */

static void version_remove(pb_registry_t *r, subj_t *sj, ver_t *v) {
    v->s->refs--;
    size_t i = (size_t)(v - sj->v);
    memmove(&sj->v[i], &sj->v[i + 1], (sj->n - i - 1) * sizeof *sj->v);
    sj->n--;
    if (sj->n == 0)
        sj->level = sj->mode = -1; /* Confluent drops the subject's config and mode
                                    * with its last version */
    subject_gc(r, sj);
}

/* A declared port's subject (output or input port) and its versions cannot be deleted (soft or
 * permanent): the port's records and its subscribers depend on them. Fails res and returns 1 when
 * subject is one; names the port, its subscribers and the way out. */
static int port_protects(const pb_registry_t *r, const char *subject, pb_registry_result_t *res) {
    const pb_port_t *port = NULL;
    size_t n = 0;
    const pb_product_t *const *ps = pb_registry_products(r, &n);
    for (size_t i = 0; i < n && !port; i++) {
        for (size_t k = 0; k < ps[i]->n_outputs && !port; k++)
            if (strcmp(ps[i]->outputs[k].subject, subject) == 0) port = &ps[i]->outputs[k];
        for (size_t k = 0; k < ps[i]->n_inputs && !port; k++)
            if (strcmp(ps[i]->inputs[k].subject, subject) == 0) port = &ps[i]->inputs[k];
    }
    if (!port) return 0;
    pb_buf_t subs = {0};
    for (size_t i = 0; i < r->n_binds; i++) {
        if (strcmp(r->binds[i]->from, port->fqn) != 0) continue;
        if (pb_buf_printf(&subs, "%s%s", subs.len ? ", " : "", r->binds[i]->to)) oom();
    }
    if (pb_buf_putc(&subs, 0)) oom();
    res_fail(res, PB_SR_PORT_PROTECTED,
             "Subject '%s' is the schema of %s port %s, declared by product %s: its versions "
             "cannot be deleted while the port is declared (subscribers: %s). Change or delete "
             "the product's descriptor first; a breaking change is a new product major",
             subject, port->kind == PB_PORT_OUTPUT ? "output" : "input", port->fqn,
             port->product->fqn, subs.len > 1 ? (const char *)subs.data : "none");
    pb_buf_free(&subs);
    return 1;
}

static int op_delete_version(pb_registry_t *r, const json_t *rec, pb_registry_result_t *res) {
    int bad = 0;
    const char *subject = get_str(rec, "subject", &bad);
    json_t *jv = json_object_get(rec, "version");
    json_t *jp = json_object_get(rec, "permanent");
    if (bad || !subject || !json_is_integer(jv) || (jp && !json_is_boolean(jp))) return -1;
    json_int_t want = json_integer_value(jv);
    int permanent = json_is_true(jp);
    if (want != -1 && (want < 1 || want > 2147483647)) return -1;
    subj_t *sj = subject_get(r, subject);
    if (!sj || sj->n == 0) {
        res_fail(res, PB_SR_SUBJECT_NOT_FOUND, "Subject '%s' not found.", subject);
        return 0;
    }
    if (port_protects(r, subject, res) || read_only(r, sj, subject, res)) return 0;
    ver_t *v = NULL;
    if (want == -1) {
        v = permanent ? &sj->v[sj->n - 1] : (ver_t *)latest_live(sj);
        if (!v) {
            res_fail(res, PB_SR_SUBJECT_NOT_FOUND, "Subject '%s' not found.", subject);
            return 0;
        }
    } else {
        v = find_version(sj, (int)want);
        if (!v) {
            res_fail(res, PB_SR_VERSION_NOT_FOUND, "Version %d not found.", (int)want);
            return 0;
        }
    }
    res->version = v->version;
    if (!(!permanent && v->deleted) &&
        referenced_fails(r, subject, v->version, permanent, NULL, res))
        return 0;
    if (!permanent) {
        if (v->deleted) {
            res_fail(res, PB_SR_VERSION_SOFT_DELETED,
                     "Subject '%s' Version %d was soft deleted.Set permanent=true to delete "
                     "permanently",
                     subject, v->version);
            return 0;
        }
        v->deleted = 1;
    } else {
        if (!v->deleted) {
            res_fail(res, PB_SR_VERSION_NOT_SOFT_DELETED,
                     "Subject '%s' Version %d was not deleted first before being permanently "
                     "deleted",
                     subject, v->version);
            return 0;
        }
        version_remove(r, sj, v);
    }
    res->changed = 1;
    return 0;
}

static int op_delete_subject(pb_registry_t *r, const json_t *rec, pb_registry_result_t *res) {
    int bad = 0;
    const char *subject = get_str(rec, "subject", &bad);
    json_t *jp = json_object_get(rec, "permanent");
    if (bad || !subject || (jp && !json_is_boolean(jp))) return -1;
    int permanent = json_is_true(jp);
    subj_t *sj = subject_get(r, subject);
    if (!sj || sj->n == 0) {
        res_fail(res, PB_SR_SUBJECT_NOT_FOUND, "Subject '%s' not found.", subject);
        return 0;
    }
    if (port_protects(r, subject, res) || read_only(r, sj, subject, res)) return 0;
    if (!permanent && !has_live(sj)) {
        res_fail(res, PB_SR_SUBJECT_SOFT_DELETED,
                 "Subject '%s' was soft deleted.Set permanent=true to delete permanently", subject);
        return 0;
    }
    if (permanent && has_live(sj)) {
        res_fail(res, PB_SR_SUBJECT_NOT_SOFT_DELETED,
                 "Subject '%s' was not deleted first before being permanently deleted", subject);
        return 0;
    }
    for (size_t i = 0; i < sj->n; i++) /* versions of other subjects referencing one */
        if ((permanent || !sj->v[i].deleted) &&
            referenced_fails(r, subject, sj->v[i].version, permanent, subject, res))
            return 0;
    json_t *list = jcheck(json_array());
    for (size_t i = 0; i < sj->n; i++) {
        if (!permanent && sj->v[i].deleted) continue;
        json_array_append_new(list, jcheck(json_integer(sj->v[i].version)));
        if (!permanent) sj->v[i].deleted = 1;
    }
    if (permanent) {
        for (size_t i = 0; i < sj->n; i++)
            sj->v[i].s->refs--;
        sj->n = 0;
        sj->level = sj->mode = -1;
        subject_gc(r, sj);
    }
    res->body = list;
    res->changed = 1;
    return 0;
}

/* ---- op: config ----------------------------------------------------------------------------- */

static int op_config(pb_registry_t *r, const json_t *rec, pb_registry_result_t *res) {
    int bad = 0;
    const char *subject = get_str(rec, "subject", &bad);
    const char *lname = get_str(rec, "level", &bad);
    if (bad) return -1;
    int level = -1;
    if (lname) {
        level = pb_compat_level_parse(lname);
        if (level < 0) {
            res_fail(res, PB_SR_INVALID_LEVEL,
                     "Invalid compatibility level. Valid values are none, backward, forward, "
                     "full, backward_transitive, forward_transitive, and full_transitive");
            return 0;
        }
    }
    if (read_only(r, subject_get(r, subject), subject, res)) return 0;
    if (!subject) {
        res->level = level >= 0 ? level : r->global_level;
        r->global_level = level >= 0 ? level : PB_COMPAT_BACKWARD;
    } else {
        pb_err_t err = {0};
        subj_t *sj = subject_get(r, subject);
        if (level >= 0) {
            if (!subject_valid(subject, &err)) {
                res_fail(res, PB_SR_INVALID_SUBJECT, "%s", err.msg);
                return 0;
            }
            if (!sj && r->subjects.n >= PB_REGISTRY_MAX_SUBJECTS) {
                res_fail(res, PB_SR_NOT_PERMITTED, "Registry limit: at most %d subjects",
                         PB_REGISTRY_MAX_SUBJECTS);
                return 0;
            }
            sj = subject_make(r, subject);
            sj->level = level;
            res->level = level;
        } else {
            if (!sj || sj->level < 0) {
                res_fail(res, PB_SR_SUBJECT_NOT_FOUND, "Subject '%s' not found.", subject);
                return 0;
            }
            res->level = sj->level;
            sj->level = -1;
            subject_gc(r, sj);
        }
    }
    res->changed = 1;
    return 0;
}

/* ---- op: mode ------------------------------------------------------------------------------- */

/* Entering IMPORT (not forced) where the mode in scope is not IMPORT: no live version may exist
 * in subject (NULL: anywhere); the soft-deleted ones there are removed permanently, unless one is
 * referenced (42206). Returns 1 when it failed res. Checks everything before changing anything. */
static int import_clear(pb_registry_t *r, const char *subject, pb_registry_result_t *res) {
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < r->subjects.nb; i++)
            for (ment_t *e = r->subjects.b[i], *next; e; e = next) {
                next = e->next;
                subj_t *sj = e->val;
                if (subject && strcmp(sj->name, subject) != 0) continue;
                if (pass == 0) {
                    if (has_live(sj)) {
                        res_fail(res, PB_SR_NOT_PERMITTED,
                                 "Cannot import since found existing subjects: subject '%s' has "
                                 "live versions (delete them, or set the mode with ?force=true to "
                                 "import beside them)",
                                 sj->name);
                        return 1;
                    }
                    for (size_t k = 0; k < sj->n; k++)
                        if (referenced_fails(r, sj->name, sj->v[k].version, 1, NULL, res)) return 1;
                } else {
                    for (size_t k = 0; k < sj->n; k++)
                        sj->v[k].s->refs--;
                    sj->n = 0;
                    subject_gc(r, sj); /* keeps it while it has a config or mode */
                }
            }
    return 0;
}

static int op_mode(pb_registry_t *r, const json_t *rec, pb_registry_result_t *res) {
    int bad = 0;
    const char *subject = get_str(rec, "subject", &bad);
    const char *mname = get_str(rec, "mode", &bad);
    json_t *jf = json_object_get(rec, "force");
    if (bad || (jf && !json_is_boolean(jf))) return -1;
    int mode = -1;
    if (mname && (mode = pb_registry_mode_parse(mname)) < 0) {
        res_fail(res, PB_SR_INVALID_MODE,
                 "Invalid mode. Valid values are READWRITE, READONLY and IMPORT.");
        return 0;
    }
    pb_err_t err = {0};
    subj_t *sj = subject_get(r, subject);
    if (mode >= 0) {
        if (subject && !subject_valid(subject, &err)) {
            res_fail(res, PB_SR_INVALID_SUBJECT, "%s", err.msg);
            return 0;
        }
        if (subject && !sj && r->subjects.n >= PB_REGISTRY_MAX_SUBJECTS) {
            res_fail(res, PB_SR_NOT_PERMITTED, "Registry limit: at most %d subjects",
                     PB_REGISTRY_MAX_SUBJECTS);
            return 0;
        }
        if (mode == PB_REGISTRY_IMPORT && mode_of(r, sj) != PB_REGISTRY_IMPORT &&
            !json_is_true(jf) && import_clear(r, subject, res))
            return 0;
        if (subject) {
            sj = subject_make(r, subject);
            sj->mode = mode;
        } else {
            r->global_mode = mode;
        }
        res->level = mode;
    } else if (subject) {
        if (!sj || sj->mode < 0) {
            res_fail(res, PB_SR_SUBJECT_NOT_FOUND, "Subject '%s' not found.", subject);
            return 0;
        }
        res->level = sj->mode;
        sj->mode = -1;
        subject_gc(r, sj);
    } else {
        res->level = r->global_mode;
        r->global_mode = PB_REGISTRY_READWRITE;
    }
    res->changed = 1;
    return 0;
}

/* ---- products ------------------------------------------------------------------------------- */

/* The descriptor as product_put records it: schemas inlined, "from" canonical, partitions
 * explicit. New reference or NULL (out of memory). */
static json_t *normalize_descriptor(const pb_product_t *p) {
    json_t *given = pb_product_json(p);
    json_t *d = json_deep_copy(given);
    json_decref(given);
    if (!d) return NULL;
    json_t *ic = json_object_get(d, "interfaceComponents");
    for (int k = 0; k < 2; k++) {
        json_t *arr = json_object_get(ic, k ? "inputPorts" : "outputPorts");
        const pb_port_t *ports = k ? p->inputs : p->outputs;
        size_t n = k ? p->n_inputs : p->n_outputs;
        for (size_t i = 0; i < n && i < json_array_size(arr); i++) {
            const pb_port_t *port = &ports[i];
            json_t *jp = json_array_get(arr, i);
            json_t *api = json_object_get(json_object_get(jp, "promises"), "api");
            if (!json_is_object(jp) || !json_is_object(api)) continue;
            json_t *schema = pb_port_schema_json(port, 0), *key = pb_port_schema_json(port, 1);
            json_object_set_new(api, "schema", json_deep_copy(schema));
            if (json_object_get(api, "keySchema") && key)
                json_object_set_new(api, "keySchema", json_deep_copy(key));
            json_t *xpb = json_object_get(jp, "x-portbroker");
            if (!json_is_object(xpb)) {
                xpb = json_object();
                json_object_set_new(jp, "x-portbroker", xpb);
            }
            if (!xpb) {
                json_decref(schema);
                json_decref(key);
                json_decref(d);
                return NULL;
            }
            if (json_object_get(xpb, "keySchema") && key)
                json_object_set_new(xpb, "keySchema", json_deep_copy(key));
            json_decref(schema);
            json_decref(key);
            json_object_set_new(xpb, "partitions", json_integer(port->partitions));
            if (port->from) json_object_set_new(jp, "from", json_string(port->from));
        }
    }
    return d;
}

int pb_registry_product_unchanged(const pb_registry_t *r, const pb_product_t *p) {
    const pb_product_t *old = pb_registry_product(r, p->fqn);
    if (!old) return 0;
    json_t *d = normalize_descriptor(p), *stored = pb_product_json(old);
    int same = d && stored && json_equal(d, stored);
    json_decref(d);
    json_decref(stored);
    return same;
}

const pb_product_t *const *pb_registry_products(const pb_registry_t *r, size_t *n) {
    *n = r->n_products;
    return (const pb_product_t *const *)r->products;
}

const pb_product_t *pb_registry_product(const pb_registry_t *r, const char *urn) {
    for (size_t i = 0; i < r->n_products; i++)
        if (strcmp(r->products[i]->fqn, urn) == 0) return r->products[i];
    return NULL;
}

const pb_port_t *pb_registry_port(const pb_registry_t *r, const char *urn) {
    return urn ? map_get(&r->ports, urn) : NULL;
}

static void ports_index(pb_registry_t *r, pb_product_t *p, int add) {
    for (int k = 0; k < 2; k++) {
        pb_port_t *ports = k ? p->inputs : p->outputs;
        size_t n = k ? p->n_inputs : p->n_outputs;
        for (size_t i = 0; i < n; i++) {
            if (add)
                map_put(&r->ports, ports[i].fqn, &ports[i]);
            else
                map_del(&r->ports, ports[i].fqn);
            if (k == 0) {
                if (add)
                    map_put(&r->out_subjects, ports[i].subject, &ports[i]);
                else
                    map_del(&r->out_subjects, ports[i].subject);
            }
        }
    }
}

/* Did the descriptor state x-portbroker.compatibility for port i of kind k? */
static int explicit_level(const pb_product_t *p, int k, size_t i) {
    json_t *arr = json_object_get(json_object_get(p->json, "interfaceComponents"),
                                  k ? "inputPorts" : "outputPorts");
    json_t *x = json_object_get(json_array_get(arr, i), "x-portbroker");
    return json_is_string(json_object_get(x, "compatibility"));
}

/* Product URN of a port URN into out. */
static void product_of(const char *port_urn, char *out, size_t cap) {
    pb_addr_t a;
    if (pb_addr_parse_port(port_urn, NULL, &a, NULL) == 0)
        pb_addr_format_product(&a, out, cap);
    else
        snprintf(out, cap, "%s", port_urn);
}

/* A planned port of a product being stored. */
typedef struct plan_port {
    const pb_port_t *port;
    int kind;   /* 0 output, 1 input */
    char *text; /* normalized schema */
    size_t len;
    pb_schema_t *parsed;
    const sch_t *existing; /* schema already in the table, or NULL */
    int existed;           /* already live under the subject */
    int level;
    int set_level; /* descriptor states the level */
} plan_port_t;

/* A planned binding of the product's input ports. */
typedef struct plan_bind {
    const char *from, *to;
    int id; /* reused id, or 0 for a new binding */
    const plan_port_t *reader;
} plan_bind_t;

static const plan_port_t *plan_find(const plan_port_t *pp, size_t n, const char *urn) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(pp[i].port->fqn, urn) == 0) return &pp[i];
    return NULL;
}

static bind_t *bind_find(const pb_registry_t *r, const char *from, const char *to) {
    for (size_t i = 0; i < r->n_binds; i++)
        if (strcmp(r->binds[i]->from, from) == 0 && strcmp(r->binds[i]->to, to) == 0)
            return r->binds[i];
    return NULL;
}

static bind_t *bind_new(int id, const char *from, const char *to, sch_t *reader, const char *start,
                        int from_product) {
    bind_t *b = xcalloc(1, sizeof *b);
    char prod[PB_ADDR_URN_MAX];
    product_of(to, prod, sizeof prod);
    b->from = xstrdup(from);
    b->to = xstrdup(to);
    b->start = xstrdup(start);
    b->to_product = xstrdup(prod);
    b->reader = reader;
    reader->refs++;
    b->pub.id = id;
    b->pub.from = b->from;
    b->pub.to = b->to;
    b->pub.start = b->start;
    b->pub.reader_id = reader->id;
    b->pub.reader = reader->parsed;
    b->pub.from_product = from_product;
    return b;
}

/* Insert b keeping id order. */
static void bind_insert(pb_registry_t *r, bind_t *b) {
    grow((void **)&r->binds, &r->cap_binds, r->n_binds + 1, sizeof *r->binds);
    size_t i = r->n_binds;
    while (i > 0 && r->binds[i - 1]->pub.id > b->pub.id) {
        r->binds[i] = r->binds[i - 1];
        i--;
    }
    r->binds[i] = b;
    r->n_binds++;
}

static void bind_remove_at(pb_registry_t *r, size_t i) {
    bind_t *b = r->binds[i];
    b->reader->refs--;
    memmove(&r->binds[i], &r->binds[i + 1], (r->n_binds - i - 1) * sizeof *r->binds);
    r->n_binds--;
    bind_free(b);
}

static void bind_set_reader(bind_t *b, sch_t *reader) {
    reader->refs++;
    b->reader->refs--;
    b->reader = reader;
    b->pub.reader_id = reader->id;
    b->pub.reader = reader->parsed;
}

/* Which port (another product's) already uses topic t? NULL when none. */
static const pb_port_t *topic_user(const pb_registry_t *r, const char *skip_urn, const char *t) {
    for (size_t i = 0; i < r->n_products; i++) {
        const pb_product_t *q = r->products[i];
        if (strcmp(q->fqn, skip_urn) == 0) continue;
        for (int k = 0; k < 2; k++) {
            const pb_port_t *ports = k ? q->inputs : q->outputs;
            size_t n = k ? q->n_inputs : q->n_outputs;
            for (size_t j = 0; j < n; j++)
                if (strcmp(ports[j].topic, t) == 0 || strcmp(ports[j].dlq_topic, t) == 0)
                    return &ports[j];
        }
    }
    return NULL;
}

static int access_ok(const pb_port_t *out, const char *product_urn) {
    for (size_t i = 0; i < out->n_access; i++)
        if (pb_addr_match(out->access[i], product_urn)) return 1;
    return 0;
}

static void plan_free(plan_port_t *pp, size_t n) {
    for (size_t i = 0; pp && i < n; i++) {
        free(pp[i].text);
        pb_schema_destroy(pp[i].parsed);
    }
    free(pp);
}

static int op_product_put(pb_registry_t *r, const json_t *rec, pb_registry_result_t *res) {
    int bad = 0;
    const char *urn = get_str(rec, "urn", &bad);
    json_t *desc = json_object_get(rec, "descriptor");
    if (bad || !urn || !json_is_object(desc)) return -1;
    pb_err_t err = {0};
    pb_product_t *p = NULL;
    plan_port_t *pp = NULL;
    plan_bind_t *pb = NULL;
    size_t npp = 0, npb = 0;
    json_t *items = NULL;
    pb_buf_t msg = {0};
    reader_ref_t *rd = NULL;

    if (pb_descriptor_parse(desc, NULL, urn, NULL, 1, &p, &err)) {
        if (err.code == PB_ERR_NOMEM) oom();
        res_fail(res, PB_SR_INVALID, "%s", err.msg);
        goto done;
    }
    if (strcmp(p->fqn, urn) != 0) {
        res_fail(res, PB_SR_INVALID, "product_put for '%s' carries the descriptor of '%s'", urn,
                 p->fqn);
        goto done;
    }
    const pb_product_t *old = pb_registry_product(r, urn);
    if (old) {
        json_t *stored = pb_product_json(old);
        if (!stored) oom();
        int same = json_equal(stored, p->json);
        json_decref(stored);
        if (same) goto done;
    }
    if (!old && r->n_products >= PB_REGISTRY_MAX_PRODUCTS) {
        res_fail(res, PB_SR_NOT_PERMITTED, "Registry limit: at most %d products",
                 PB_REGISTRY_MAX_PRODUCTS);
        goto done;
    }
    /* Topics: unique against other products (the descriptor checked its own ports' names; topics
     * overridden by hand may still collide inside it). */
    size_t nports = p->n_outputs + p->n_inputs;
    for (size_t a = 0; a < nports; a++) {
        const pb_port_t *pa = a < p->n_outputs ? &p->outputs[a] : &p->inputs[a - p->n_outputs];
        const char *ts[2] = {pa->topic, pa->dlq_topic};
        for (int t = 0; t < 2; t++) {
            const pb_port_t *u = topic_user(r, urn, ts[t]);
            if (u) {
                res_fail(res, PB_SR_CONFLICT, "port %s: topic '%s' is already used by port %s",
                         pa->fqn, ts[t], u->fqn);
                goto done;
            }
            for (size_t b = a + 1; b < nports; b++) {
                const pb_port_t *pq =
                    b < p->n_outputs ? &p->outputs[b] : &p->inputs[b - p->n_outputs];
                if (strcmp(ts[t], pq->topic) == 0 || strcmp(ts[t], pq->dlq_topic) == 0) {
                    res_fail(res, PB_SR_CONFLICT, "port %s: topic '%s' is also used by port %s",
                             pa->fqn, ts[t], pq->fqn);
                    goto done;
                }
            }
        }
    }
    /* Plan every port's schema. */
    pp = xcalloc(nports, sizeof *pp);
    npp = nports; /* zeroed entries free as nothing */
    size_t new_subjects = 0, new_schemas = 0;
    for (size_t a = 0; a < nports; a++) {
        int k = a >= p->n_outputs;
        size_t i = k ? a - p->n_outputs : a;
        plan_port_t *x = &pp[a];
        x->port = k ? &p->inputs[i] : &p->outputs[i];
        x->kind = k;
        int rc = normalize_port(x->port, &x->text, &x->len, &x->parsed, &err);
        if (rc == PB_SR_STORE_ERROR) oom();
        if (rc) {
            res_fail(res, rc, "port %s: %s", x->port->fqn, err.msg);
            goto done;
        }
        subj_t *sj = subject_get(r, x->port->subject);
        x->existing = schema_get(r, x->text);
        x->existed = live_version_of(sj, x->existing) != NULL;
        x->set_level = explicit_level(p, k, i);
        x->level = x->set_level ? pb_compat_level_parse(x->port->compatibility) : level_of(r, sj);
        int mode = mode_of(r, sj);
        if (mode != PB_REGISTRY_READWRITE &&
            (!x->existed || (x->set_level && (!sj || sj->level != x->level)))) {
            res_fail(res, PB_SR_NOT_PERMITTED,
                     "port %s: subject '%s' is in %s mode, so the port's %s cannot be stored "
                     "(PUT /mode/%s {\"mode\":\"READWRITE\"} first)",
                     x->port->fqn, x->port->subject, pb_registry_mode_name(mode),
                     x->existed ? "compatibility level" : "schema as a new version",
                     x->port->subject);
            goto done;
        }
        if (!sj) new_subjects++;
        if (!x->existing) new_schemas++;
        if (sj && !x->existed && sj->n >= PB_REGISTRY_MAX_VERSIONS) {
            res_fail(res, PB_SR_NOT_PERMITTED,
                     "port %s: Registry limit: subject '%s' has %zu versions, at most %d",
                     x->port->fqn, sj->name, sj->n, PB_REGISTRY_MAX_VERSIONS);
            goto done;
        }
    }
    if (r->subjects.n + new_subjects > PB_REGISTRY_MAX_SUBJECTS ||
        r->n_schemas + new_schemas > PB_REGISTRY_MAX_SCHEMAS) {
        res_fail(res, PB_SR_NOT_PERMITTED, "Registry limit: at most %d subjects and %d schemas",
                 PB_REGISTRY_MAX_SUBJECTS, PB_REGISTRY_MAX_SCHEMAS);
        goto done;
    }
    /* Plan the bindings the input ports declare. */
    pb = xcalloc(p->n_inputs + 1, sizeof *pb);
    for (size_t i = 0; i < p->n_inputs; i++) {
        const pb_port_t *in = &p->inputs[i];
        if (!in->from) continue;
        bind_t *ex = bind_find(r, in->from, in->fqn);
        pb[npb++] = (plan_bind_t){in->from, in->fqn, ex ? ex->pub.id : 0, &pp[p->n_outputs + i]};
    }
    size_t n_new = 0;
    for (size_t i = 0; i < npb; i++)
        n_new += pb[i].id == 0;
    if (r->n_binds + n_new > PB_REGISTRY_MAX_BINDINGS) {
        res_fail(res, PB_SR_NOT_PERMITTED, "Registry limit: at most %d bindings",
                 PB_REGISTRY_MAX_BINDINGS);
        goto done;
    }
    items = jcheck(json_array());
    /* 1. Every port's schema against its subject's history and level. */
    for (size_t a = 0; a < npp; a++) {
        plan_port_t *x = &pp[a];
        if (x->existed) continue;
        json_t *its = jcheck(json_array());
        int incompatible =
            level_check(subject_get(r, x->port->subject), x->level, x->parsed, NULL, 0, its);
        res->checks[incompatible ? 0 : 1][x->level]++;
        if (json_array_size(its)) {
            if (!msg.len) {
                if (pb_buf_printf(&msg, "port %s: ", x->port->fqn)) oom();
                register_message(&msg, x->port->subject, x->level, NULL, its,
                                 subject_get(r, x->port->subject));
            }
            json_array_extend(items, its);
        }
        json_decref(its);
    }
    /* 2. Output ports: every subscriber after the change must read the new schema. */
    for (size_t a = 0; a < p->n_outputs && !json_array_size(items); a++) {
        plan_port_t *x = &pp[a];
        if (x->existed) continue; /* every level, NONE included */
        size_t n = 0;
        rd = xcalloc(r->n_binds + npb + 1, sizeof *rd);
        for (size_t i = 0; i < r->n_binds; i++) {
            const bind_t *b = r->binds[i];
            if (strcmp(b->from, x->port->fqn) != 0) continue;
            if (strcmp(b->to_product, urn) == 0) {
                if (b->pub.from_product || !plan_find(pp + p->n_outputs, p->n_inputs, b->to))
                    continue; /* replaced or gone */
            }
            rd[n++] = (reader_ref_t){b->to, b->reader->parsed, b->pub.id};
        }
        for (size_t i = 0; i < npb; i++)
            if (strcmp(pb[i].from, x->port->fqn) == 0)
                rd[n++] = (reader_ref_t){pb[i].to, pb[i].reader->parsed, pb[i].id};
        json_t *its = jcheck(json_array());
        subscriber_check(rd, n, x->parsed, its);
        free(rd);
        rd = NULL;
        if (json_array_size(its)) {
            if (pb_buf_printf(&msg, "port %s: ", x->port->fqn)) oom();
            register_message(&msg, x->port->subject, x->level, x->port->fqn, its,
                             subject_get(r, x->port->subject));
            json_array_extend(items, its);
        }
        json_decref(its);
    }
    if (json_array_size(items)) {
        res_incompatible(res, items, &msg);
        goto done;
    }
    /* 3. Declared bindings: access, and the reader against every live writer version. */
    for (size_t i = 0; i < npb; i++) {
        const plan_port_t *own = plan_find(pp, p->n_outputs, pb[i].from);
        const pb_port_t *out = own ? own->port : pb_registry_port(r, pb[i].from);
        if (own == NULL && out && strcmp(out->product->fqn, urn) == 0) out = NULL; /* port gone */
        if (!out) continue; /* the output port's product is not known yet: checked when it comes */
        if (!access_ok(out, urn)) {
            res_fail(res, PB_SR_FORBIDDEN,
                     "input port %s: output port %s does not admit product %s (its access list)",
                     pb[i].to, out->fqn, urn);
            goto done;
        }
        const subj_t *ws = subject_get(r, out->subject);
        if (!has_live(ws) && !(own && !own->existed)) {
            res_fail(res, PB_SR_PORT_NO_SCHEMA,
                     "input port %s: output port %s (subject \"%s\") has no live schema version, "
                     "so its reader cannot be checked; the owner of %s must register one first",
                     pb[i].to, out->fqn, out->subject, out->product->fqn);
            goto done;
        }
        for (size_t v = 0; ws && v < ws->n; v++) {
            if (ws->v[v].deleted) continue;
            if (pair_check(pb[i].reader->parsed, ws->v[v].s->parsed, ws->v[v].version, NULL, 0,
                           items)) {
                if (pb_buf_printf(&msg,
                                  "input port %s: its reader schema cannot read version %d of "
                                  "output port %s (subject \"%s\"), ",
                                  pb[i].to, ws->v[v].version, out->fqn, out->subject))
                    oom();
                items_text(&msg, items, -1, NULL);
                res_incompatible(res, items, &msg);
                goto done;
            }
        }
        if (own && !own->existed &&
            pair_check(pb[i].reader->parsed, own->parsed, 0, NULL, 0, items)) {
            if (pb_buf_printf(&msg,
                              "input port %s: its reader schema cannot read the new schema of "
                              "output port %s, ",
                              pb[i].to, out->fqn))
                oom();
            items_text(&msg, items, -1, NULL);
            res_incompatible(res, items, &msg);
            goto done;
        }
    }
    /* Commit: versions and levels, the product, its bindings. */
    json_t *ports_body = jcheck(json_array());
    sch_t **sch_of = xcalloc(npp + 1, sizeof *sch_of);
    for (size_t a = 0; a < npp; a++) {
        plan_port_t *x = &pp[a];
        sch_t *s = schema_intern(r, x->text, x->len, x->parsed);
        x->text = NULL;
        x->parsed = NULL;
        sch_of[a] = s;
        int version;
        const ver_t *lv = live_version_of(subject_get(r, x->port->subject), s);
        version = lv ? lv->version : version_add(r, x->port->subject, s);
        if (x->set_level) subject_make(r, x->port->subject)->level = x->level;
        json_t *o = jcheck(json_object());
        json_object_set_new(o, "fqn", jcheck(json_string(x->port->fqn)));
        json_object_set_new(o, "subject", jcheck(json_string(x->port->subject)));
        json_object_set_new(o, "id", jcheck(json_integer(s->id)));
        json_object_set_new(o, "version", jcheck(json_integer(version)));
        json_array_append_new(ports_body, o);
    }
    /* Bindings of this product's input ports: drop declared ones and those of vanished ports. */
    for (size_t i = r->n_binds; i-- > 0;) {
        bind_t *b = r->binds[i];
        if (strcmp(b->to_product, urn) != 0) continue;
        int declared = 0;
        for (size_t j = 0; j < npb; j++)
            if (pb[j].id == b->pub.id) declared = 1;
        if (declared) continue;
        if (b->pub.from_product || !plan_find(pp + p->n_outputs, p->n_inputs, b->to))
            bind_remove_at(r, i);
    }
    for (size_t j = 0; j < npb; j++) {
        sch_t *reader = sch_of[pb[j].reader - pp];
        bind_t *b = pb[j].id ? bind_find(r, pb[j].from, pb[j].to) : NULL;
        if (b) {
            bind_set_reader(b, reader);
            b->pub.from_product = 1;
        } else {
            bind_insert(r,
                        bind_new(r->next_bind_id++, pb[j].from, pb[j].to, reader, "earliest", 1));
        }
    }
    free(sch_of);
    /* Held until replaced and read rarely (GET, a later put's comparison): as text, ~1 kB instead
     * of an ~8 kB tree (8 MB at 1,000 products). */
    if (pb_product_compact(p)) oom();
    if (old) {
        size_t i = 0;
        while (r->products[i] != old)
            i++;
        ports_index(r, r->products[i], 0);
        pb_product_destroy(r->products[i]);
        r->products[i] = p;
    } else {
        grow((void **)&r->products, &r->cap_products, r->n_products + 1, sizeof *r->products);
        r->products[r->n_products++] = p;
        res->created = 1;
    }
    ports_index(r, p, 1);
    p = NULL;
    res->body = jcheck(json_object());
    json_object_set_new(res->body, "ports", ports_body);
    res->changed = 1;
done:
    free(rd);
    pb_buf_free(&msg);
    json_decref(items);
    plan_free(pp, npp);
    free(pb);
    pb_product_destroy(p);
    return 0;
}

static int op_product_delete(pb_registry_t *r, const json_t *rec, pb_registry_result_t *res) {
    int bad = 0;
    const char *urn = get_str(rec, "urn", &bad);
    if (bad || !urn) return -1;
    size_t idx = 0;
    while (idx < r->n_products && strcmp(r->products[idx]->fqn, urn) != 0)
        idx++;
    if (idx == r->n_products) {
        res_fail(res, PB_SR_NOT_FOUND, "product %s not found", urn);
        return 0;
    }
    pb_product_t *p = r->products[idx];
    for (size_t i = 0; i < r->n_binds; i++) {
        const bind_t *b = r->binds[i];
        const pb_port_t *from = pb_registry_port(r, b->from);
        if (from && from->product == p && strcmp(b->to_product, urn) != 0) {
            res_fail(res, PB_SR_CONFLICT,
                     "product %s: output port %s is bound to input port %s (binding %d); unbind "
                     "it or change that product first",
                     urn, b->from, b->to, b->pub.id);
            return 0;
        }
    }
    for (size_t i = r->n_binds; i-- > 0;)
        if (strcmp(r->binds[i]->to_product, urn) == 0) bind_remove_at(r, i);
    ports_index(r, p, 0);
    pb_product_destroy(p);
    memmove(&r->products[idx], &r->products[idx + 1],
            (r->n_products - idx - 1) * sizeof *r->products);
    r->n_products--;
    res->changed = 1;
    return 0;
}

/* ---- op: bind / unbind ---------------------------------------------------------------------- */

static int op_bind(pb_registry_t *r, const json_t *rec, pb_registry_result_t *res) {
    int bad = 0;
    const char *from = get_str(rec, "from", &bad);
    const char *to = get_str(rec, "to", &bad);
    const char *reader = get_str(rec, "reader", &bad);
    const char *start = get_str(rec, "start", &bad);
    if (bad || !from || !to) return -1;
    if (!start) start = "latest";
    if (strcmp(start, "earliest") != 0 && strcmp(start, "latest") != 0) return -1;
    pb_err_t err = {0};
    char *text = NULL;
    size_t len = 0;
    pb_schema_t *parsed = NULL;
    json_t *items = NULL;
    pb_buf_t msg = {0};
    const pb_port_t *out = pb_registry_port(r, from);
    const pb_port_t *in = pb_registry_port(r, to);
    if (!out || out->kind != PB_PORT_OUTPUT) {
        res_fail(res, PB_SR_NOT_FOUND, "output port %s not found", from);
        goto done;
    }
    if (!in || in->kind != PB_PORT_INPUT) {
        res_fail(res, PB_SR_NOT_FOUND, "input port %s not found", to);
        goto done;
    }
    if (!access_ok(out, in->product->fqn)) {
        res_fail(res, PB_SR_FORBIDDEN, "output port %s does not admit product %s (its access list)",
                 from, in->product->fqn);
        goto done;
    }
    int rc = reader ? normalize(reader, strlen(reader), &text, &len, &parsed, &err)
                    : normalize_port(in, &text, &len, &parsed, &err);
    if (rc == PB_SR_STORE_ERROR) oom();
    if (rc) {
        res_fail(res, rc, "reader schema: %s", err.msg);
        goto done;
    }
    bind_t *ex = bind_find(r, from, to);
    if (!ex && r->n_binds >= PB_REGISTRY_MAX_BINDINGS) {
        res_fail(res, PB_SR_NOT_PERMITTED, "Registry limit: at most %d bindings",
                 PB_REGISTRY_MAX_BINDINGS);
        goto done;
    }
    items = jcheck(json_array());
    const subj_t *ws = subject_get(r, out->subject);
    if (!has_live(ws)) { /* nothing to check the reader against: a rogue binding otherwise */
        res_fail(res, PB_SR_PORT_NO_SCHEMA,
                 "output port %s (subject \"%s\") has no live schema version, so the reader of "
                 "input port %s cannot be checked; the owner of %s must register one first",
                 from, out->subject, to, out->product->fqn);
        goto done;
    }
    for (size_t v = 0; ws && v < ws->n; v++) {
        if (ws->v[v].deleted) continue;
        if (pair_check(parsed, ws->v[v].s->parsed, ws->v[v].version, NULL, 0, items)) {
            if (pb_buf_printf(&msg,
                              "The reader schema of input port %s cannot read version %d of "
                              "output port %s (subject \"%s\"), ",
                              to, ws->v[v].version, from, out->subject))
                oom();
            items_text(&msg, items, -1, NULL);
            res_incompatible(res, items, &msg);
            goto done;
        }
    }
    /* The reader becomes a version of the input port's subject (the schema the input topic's
     * records are written with), checked with that subject's level. */
    subj_t *is = subject_get(r, in->subject);
    sch_t *s = schema_get(r, text);
    if (!live_version_of(is, s)) {
        if ((!is && r->subjects.n >= PB_REGISTRY_MAX_SUBJECTS) ||
            (is && is->n >= PB_REGISTRY_MAX_VERSIONS) ||
            (!s && r->n_schemas >= PB_REGISTRY_MAX_SCHEMAS)) {
            res_fail(res, PB_SR_NOT_PERMITTED,
                     "Registry limit reached registering the reader "
                     "schema under subject '%s'",
                     in->subject);
            goto done;
        }
        if (mode_of(r, is) != PB_REGISTRY_READWRITE) {
            res_fail(res, PB_SR_NOT_PERMITTED,
                     "input port %s: subject '%s' is in %s mode, so the reader schema cannot be "
                     "stored as a new version (PUT /mode/%s {\"mode\":\"READWRITE\"} first)",
                     to, in->subject, pb_registry_mode_name(mode_of(r, is)), in->subject);
            goto done;
        }
        int level = level_of(r, is);
        int incompatible = level_check(is, level, s ? s->parsed : parsed, NULL, 0, items);
        res->checks[incompatible ? 0 : 1][level]++;
        if (incompatible) {
            if (pb_buf_printf(&msg, "input port %s: ", to)) oom();
            register_message(&msg, in->subject, level, NULL, items, is);
            res_incompatible(res, items, &msg);
            goto done;
        }
        s = schema_intern(r, text, len, parsed);
        text = NULL;
        parsed = NULL;
        version_add(r, in->subject, s);
    }
    if (ex) {
        bind_set_reader(ex, s);
        free(ex->start);
        ex->start = xstrdup(start);
        ex->pub.start = ex->start;
        res->id = ex->pub.id;
    } else {
        bind_t *b = bind_new(r->next_bind_id++, from, to, s, start, 0);
        bind_insert(r, b);
        res->id = b->pub.id;
        res->created = 1;
    }
    res->changed = 1;
done:
    free(text);
    pb_schema_destroy(parsed);
    pb_buf_free(&msg);
    json_decref(items);
    return 0;
}

static int op_unbind(pb_registry_t *r, const json_t *rec, pb_registry_result_t *res) {
    json_t *jid = json_object_get(rec, "id");
    if (!json_is_integer(jid)) return -1;
    json_int_t id = json_integer_value(jid);
    for (size_t i = 0; i < r->n_binds; i++)
        if (r->binds[i]->pub.id == id) {
            bind_remove_at(r, i);
            res->id = (int)id;
            res->changed = 1;
            return 0;
        }
    res_fail(res, PB_SR_NOT_FOUND, "subscription %" JSON_INTEGER_FORMAT " not found", id);
    return 0;
}

/* ---- apply ---------------------------------------------------------------------------------- */

static int skip(pb_registry_t *r, pb_registry_result_t *res, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int skip(pb_registry_t *r, pb_registry_result_t *res, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    json_decref(res->body);
    res->body = NULL;
    free(res->message);
    res->message = xstrdup(tmp);
    res->skipped = 1;
    res->error_code = PB_SR_STORE_ERROR;
    res->changed = 0;
    r->skipped++;
    return 1;
}

int pb_registry_apply(pb_registry_t *r, int64_t offset, const char *value, size_t len,
                      pb_registry_result_t *res) {
    pb_registry_result_reset(res);
    json_t *rec = NULL;
    int rc = 0;
    if (offset >= 0 && r->offset >= 0 && offset <= r->offset) {
        rc = skip(r, res, "offset %" PRId64 " already applied (last %" PRId64 ")", offset,
                  r->offset);
        return rc; /* the offset does not move back */
    }
    if (offset >= 0) r->offset = offset;
    if (!value || len == 0) {
        rc = skip(r, res, "empty record (tombstone?)");
        goto done;
    }
    if (len > PB_REGISTRY_MAX_RECORD_BYTES) {
        rc = skip(r, res, "record of %zu bytes is larger than %d", len,
                  PB_REGISTRY_MAX_RECORD_BYTES);
        goto done;
    }
    json_error_t jerr;
    rec = json_loadb(value, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!rec) {
        rc = skip(r, res, "record is not JSON: %s at offset %d", jerr.text, jerr.position);
        goto done;
    }
    if (!json_is_object(rec)) {
        rc = skip(r, res, "record is not a JSON object");
        goto done;
    }
    json_t *req = json_object_get(rec, "req");
    if (json_is_string(req) && json_string_length(req) <= PB_REGISTRY_REQ_MAX)
        snprintf(res->req, sizeof res->req, "%s", json_string_value(req));
    json_t *v = json_object_get(rec, "v");
    if (!json_is_integer(v) || json_integer_value(v) < 1) {
        rc = skip(r, res, "record has no format version \"v\" (a positive integer)");
        goto done;
    }
    if (json_integer_value(v) > PB_REGISTRY_RECORD_VERSION) {
        rc = skip(r, res,
                  "record format v%" JSON_INTEGER_FORMAT " is newer than this broker reads (v%d); "
                  "upgrade this instance",
                  json_integer_value(v), PB_REGISTRY_RECORD_VERSION);
        goto done;
    }
    const char *op = json_string_value(json_object_get(rec, "op"));
    if (!op) {
        rc = skip(r, res, "record has no \"op\"");
        goto done;
    }
    static int (*const fns[])(pb_registry_t *, const json_t *, pb_registry_result_t *) = {
        NULL,           op_register,       op_delete_version, op_delete_subject, op_config,
        op_product_put, op_product_delete, op_bind,           op_unbind,         op_mode,
    };
    pb_registry_op_t which = PB_REGISTRY_OP_NONE;
    for (int i = 1; i < (int)(sizeof fns / sizeof *fns); i++)
        if (strcmp(op, op_names[i]) == 0) which = (pb_registry_op_t)i;
    if (which == PB_REGISTRY_OP_NONE) {
        char ex[64];
        rc = skip(r, res, "unknown op '%s'", pb_addr_excerpt(op, ex, sizeof ex));
        goto done;
    }
    res->op = which;
    if (fns[which](r, rec, res) < 0) {
        rc = skip(r, res, "malformed %s record: a member is missing or has the wrong type", op);
        goto done;
    }
    r->applied++;
done:
    json_decref(rec);
    return rc;
}

int64_t pb_registry_offset(const pb_registry_t *r) { return r->offset; }
uint64_t pb_registry_applied_count(const pb_registry_t *r) { return r->applied; }
uint64_t pb_registry_skipped_count(const pb_registry_t *r) { return r->skipped; }

/* ---- record builders ------------------------------------------------------------------------ */

static int req_check(const char *req, pb_err_t *err) {
    if (!req || !*req || strlen(req) > PB_REGISTRY_REQ_MAX)
        return pb_err_set(err, PB_ERR_INVALID, "request id: 1..%d bytes", PB_REGISTRY_REQ_MAX),
               PB_SR_STORE_ERROR;
    return 0;
}

/* Finish a record: set v, op, req first, dump compactly into out. Takes rec. */
static int emit(pb_buf_t *out, json_t *rec, pb_err_t *err) {
    int rc = 0;
    char *s = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    if (!s) {
        rc = PB_SR_STORE_ERROR;
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t n = strlen(s);
    if (n > PB_REGISTRY_MAX_RECORD_BYTES) {
        rc = PB_SR_NOT_PERMITTED;
        pb_err_set(err, PB_ERR_TOO_LARGE, "registry record of %zu bytes, at most %d", n,
                   PB_REGISTRY_MAX_RECORD_BYTES);
        goto done;
    }
    size_t old = out->len;
    if (pb_buf_append(out, s, n) || pb_buf_reserve(out, 1)) {
        out->len = old;
        rc = PB_SR_STORE_ERROR;
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto done;
    }
    out->data[out->len] = '\0';
done:
    free(s);
    json_decref(rec);
    return rc;
}

static json_t *rec_head(const char *op, const char *req) {
    json_t *rec = json_object();
    if (!rec) return NULL;
    json_object_set_new(rec, "v", json_integer(PB_REGISTRY_RECORD_VERSION));
    json_object_set_new(rec, "op", json_string(op));
    json_object_set_new(rec, "req", json_string(req));
    return rec;
}

/* jansson's json_string needs UTF-8; subjects from URLs may not be. */
static int subject_arg(const char *subject, pb_err_t *err) {
    if (!subject_valid(subject, err)) return PB_SR_INVALID_SUBJECT;
    json_t *j = json_string(subject);
    if (!j) {
        pb_err_set(err, PB_ERR_INVALID, "Invalid subject: not UTF-8");
        return PB_SR_INVALID_SUBJECT;
    }
    json_decref(j);
    return 0;
}

int pb_registry_record_register(pb_buf_t *out, const char *req, const char *subject,
                                const char *schema, size_t len, pb_err_t *err) {
    return pb_registry_record_register_ex(out, NULL, req, subject, schema, len, NULL, err);
}

/* ---- registration extras: references, metadata, ruleSet (validated on the request path) ---- */

/* A string array member at what (for messages); returns 0 or sets err. */
static int string_array(const json_t *a, const char *what, pb_err_t *err) {
    if (!json_is_array(a))
        return pb_err_set(err, PB_ERR_INVALID, "%s must be an array of strings, not %s", what,
                          pb_schema_json_kind(a));
    for (size_t i = 0; i < json_array_size(a); i++)
        if (!json_is_string(json_array_get(a, i)))
            return pb_err_set(err, PB_ERR_INVALID, "%s/%zu must be a string, not %s", what, i,
                              pb_schema_json_kind(json_array_get(a, i)));
    return 0;
}

/* references → a new normalized array ({name, subject, version} only; version -1 resolved to the
 * latest live version when r is given), or NULL when absent or empty. 42201 with err. */
static int refs_normalize(const pb_registry_t *r, const json_t *in, json_t **out, pb_err_t *err) {
    *out = NULL;
    if (!in || json_is_null(in) || (json_is_array(in) && json_array_size(in) == 0)) return 0;
    if (!json_is_array(in)) {
        pb_err_set(err, PB_ERR_INVALID,
                   "Invalid schema: \"references\" must be an array of {\"name\", \"subject\", "
                   "\"version\"}, not %s",
                   pb_schema_json_kind(in));
        return PB_SR_INVALID_SCHEMA;
    }
    json_t *a = json_array();
    for (size_t i = 0; a && i < json_array_size(in); i++) {
        const json_t *x = json_array_get(in, i);
        const json_t *name = json_object_get(x, "name"), *sub = json_object_get(x, "subject");
        const json_t *ver = json_object_get(x, "version");
        pb_err_t sub_err = {0};
        const char *why = NULL;
        if (!json_is_object(x))
            why = "must be an object {\"name\", \"subject\", \"version\"}";
        else if (!json_is_string(name) || json_string_length(name) == 0)
            why = "needs \"name\" (the referenced named type's full name), a non-empty string";
        else if (!json_is_string(sub) || !subject_valid(json_string_value(sub), &sub_err))
            why = "needs \"subject\", a valid subject name";
        else if (!json_is_integer(ver) ||
                 (json_integer_value(ver) != -1 &&
                  (json_integer_value(ver) < 1 || json_integer_value(ver) > 2147483647)))
            why = "needs \"version\", 1..2^31-1 or -1 (the latest)";
        if (why) {
            json_decref(a);
            pb_err_set(err, PB_ERR_INVALID, "Invalid schema: /references/%zu %s", i, why);
            return PB_SR_INVALID_SCHEMA;
        }
        int v = (int)json_integer_value(ver);
        if (v == -1 && r) {
            const ver_t *lv = latest_live(subject_get(r, json_string_value(sub)));
            if (!lv) {
                json_decref(a);
                pb_err_set(err, PB_ERR_INVALID,
                           "Invalid schema: /references/%zu names subject '%s', which has no live "
                           "version",
                           i, json_string_value(sub));
                return PB_SR_INVALID_SCHEMA;
            }
            v = lv->version;
        }
        if (json_array_append_new(
                a, json_pack("{s:O,s:O,s:i}", "name", name, "subject", sub, "version", v))) {
            json_decref(a);
            a = NULL;
        }
    }
    if (!a) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return PB_SR_STORE_ERROR;
    }
    *out = a;
    return 0;
}

/* metadata ({"tags": {path: [string]}, "properties": {name: string}, "sensitive": [string]}) →
 * a new copy, NULL when absent. 42201 with err naming the member. */
static int metadata_check(const json_t *in, json_t **out, pb_err_t *err) {
    const char *k;
    const json_t *v;
    *out = NULL;
    if (!in || json_is_null(in)) return 0;
    if (!json_is_object(in)) {
        pb_err_set(err, PB_ERR_INVALID, "Invalid metadata: must be an object, not %s",
                   pb_schema_json_kind(in));
        return PB_SR_INVALID_SCHEMA;
    }
    json_object_foreach((json_t *)in, k, v) {
        int bad = 0;
        if (strcmp(k, "tags") == 0) {
            const char *path;
            const json_t *tags;
            if (!json_is_object(v)) {
                pb_err_set(err, PB_ERR_INVALID,
                           "Invalid metadata: /metadata/tags must be an object {path: [tag]}");
                return PB_SR_INVALID_SCHEMA;
            }
            json_object_foreach((json_t *)v, path, tags) {
                if (string_array(tags, "/metadata/tags/<path>", err)) bad = 1;
            }
        } else if (strcmp(k, "properties") == 0) {
            const char *name;
            const json_t *val;
            if (!json_is_object(v)) {
                bad = 1;
                pb_err_set(err, PB_ERR_INVALID,
                           "/metadata/properties must be an object {name: string}");
            }
            json_object_foreach((json_t *)v, name, val) {
                if (!bad && !json_is_string(val)) {
                    bad = 1;
                    pb_err_set(err, PB_ERR_INVALID,
                               "/metadata/properties/%s must be a string, not %s", name,
                               pb_schema_json_kind(val));
                }
            }
        } else if (strcmp(k, "sensitive") == 0) {
            bad = string_array(v, "/metadata/sensitive", err) != 0;
        } else {
            pb_err_set(err, PB_ERR_INVALID,
                       "unknown member /metadata/%s (Confluent's metadata has tags, properties "
                       "and sensitive)",
                       k);
            bad = 1;
        }
        if (bad) {
            pb_err_prefix(err, "Invalid metadata: ");
            return PB_SR_INVALID_SCHEMA;
        }
    }
    if (!(*out = json_deep_copy(in))) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return PB_SR_STORE_ERROR;
    }
    return 0;
}

static int in_list(const char *s, const char *const *list) {
    for (; s && *list; list++)
        if (strcmp(s, *list) == 0) return 1;
    return 0;
}

/* One rule of ruleSet/<group>/<i> (Confluent's Rule.validate), completed with the defaults kind
 * TRANSFORM and mode WRITEREAD into *out. 0 or -1 with err. */
static int rule_check(const json_t *in, const char *group, size_t i, int migration, json_t **out,
                      pb_err_t *err) {
    static const char *const kinds[] = {"TRANSFORM", "CONDITION", NULL};
    static const char *const migr[] = {"UPGRADE", "DOWNGRADE", "UPDOWN", NULL};
    static const char *const dom[] = {"WRITE", "READ", "WRITEREAD", NULL};
    static const char *const strs[] = {"name", "doc",       "kind",      "mode", "type",
                                       "expr", "onSuccess", "onFailure", NULL};
    const char *k;
    const json_t *v;
    *out = NULL;
    if (!json_is_object(in))
        return pb_err_set(err, PB_ERR_INVALID, "/ruleSet/%s/%zu must be an object", group, i), -1;
    json_object_foreach((json_t *)in, k, v) {
        if (in_list(k, strs)) {
            if (!json_is_string(v))
                return pb_err_set(err, PB_ERR_INVALID, "/ruleSet/%s/%zu/%s must be a string", group,
                                  i, k),
                       -1;
        } else if (strcmp(k, "tags") == 0) {
            if (string_array(v, "tags", err))
                return pb_err_prefix(err, "/ruleSet/%s/%zu/", group, i), -1;
        } else if (strcmp(k, "params") == 0) {
            const char *pk;
            const json_t *pv;
            if (!json_is_object(v))
                return pb_err_set(err, PB_ERR_INVALID,
                                  "/ruleSet/%s/%zu/params must be an object {name: string}", group,
                                  i),
                       -1;
            json_object_foreach((json_t *)v, pk, pv) {
                if (!json_is_string(pv))
                    return pb_err_set(err, PB_ERR_INVALID,
                                      "/ruleSet/%s/%zu/params/%s must be a string", group, i, pk),
                           -1;
            }
        } else if (strcmp(k, "disabled") == 0) {
            if (!json_is_boolean(v))
                return pb_err_set(err, PB_ERR_INVALID,
                                  "/ruleSet/%s/%zu/disabled must be true or false", group, i),
                       -1;
        } else {
            return pb_err_set(err, PB_ERR_INVALID, "/ruleSet/%s/%zu: unknown member \"%s\"", group,
                              i, k),
                   -1;
        }
    }
    const char *name = json_string_value(json_object_get(in, "name"));
    if (!name)
        return pb_err_set(err, PB_ERR_INVALID, "/ruleSet/%s/%zu: Missing rule name", group, i), -1;
    size_t nl = strlen(name);
    int ok = nl > 0 && nl <= 256 && (isalpha((unsigned char)name[0]) || name[0] == '_');
    for (size_t c = 1; ok && c < nl; c++)
        ok = isalnum((unsigned char)name[c]) || name[c] == '_' || name[c] == '-';
    if (!ok)
        return pb_err_set(err, PB_ERR_INVALID,
                          "/ruleSet/%s/%zu: rule name \"%s\" must be 1..256 characters "
                          "[A-Za-z_][A-Za-z0-9_-]*",
                          group, i, name),
               -1;
    if (!json_object_get(in, "type"))
        return pb_err_set(err, PB_ERR_INVALID, "/ruleSet/%s/%zu: Missing rule type", group, i), -1;
    const char *kind = json_string_value(json_object_get(in, "kind"));
    const char *mode = json_string_value(json_object_get(in, "mode"));
    if (kind && !in_list(kind, kinds))
        return pb_err_set(err, PB_ERR_INVALID,
                          "/ruleSet/%s/%zu/kind \"%s\": TRANSFORM or CONDITION", group, i, kind),
               -1;
    if (!mode) mode = "WRITEREAD";
    if (!in_list(mode, migration ? migr : dom))
        return pb_err_set(err, PB_ERR_INVALID,
                          migration ? "/ruleSet/%s/%zu/mode \"%s\": Migration rules can only be "
                                      "UPGRADE, DOWNGRADE, UPDOWN"
                                    : "/ruleSet/%s/%zu/mode \"%s\": Domain and encoding rules can "
                                      "only be WRITE, READ, WRITEREAD",
                          group, i, mode),
               -1;
    int multi = strcmp(mode, "WRITEREAD") == 0 || strcmp(mode, "UPDOWN") == 0;
    const char *acts[2] = {json_string_value(json_object_get(in, "onSuccess")),
                           json_string_value(json_object_get(in, "onFailure"))};
    for (int a = 0; a < 2; a++)
        if (!multi && acts[a] && strchr(acts[a], ','))
            return pb_err_set(err, PB_ERR_INVALID,
                              "/ruleSet/%s/%zu: Multiple actions only valid with WRITEREAD and "
                              "UPDOWN",
                              group, i),
                   -1;
    json_t *o = json_deep_copy(in);
    if (!o || json_object_set_new(o, "kind", json_string(kind ? kind : "TRANSFORM")) ||
        json_object_set_new(o, "mode", json_string(mode))) {
        json_decref(o);
        return pb_err_set(err, PB_ERR_NOMEM, "out of memory"), -1;
    }
    *out = o;
    return 0;
}

/* ruleSet → a new copy with every rule completed (rule_check), NULL when absent. 42210. */
static int ruleset_check(const json_t *in, json_t **out, pb_err_t *err) {
    static const char *const groups[] = {"migrationRules", "domainRules", "encodingRules", NULL};
    const char *k;
    const json_t *v;
    *out = NULL;
    if (!in || json_is_null(in)) return 0;
    if (!json_is_object(in)) {
        pb_err_set(err, PB_ERR_INVALID, "Invalid ruleSet: must be an object, not %s",
                   pb_schema_json_kind(in));
        return PB_SR_INVALID_RULESET;
    }
    json_t *rs = json_object(), *names = json_object();
    int rc = rs && names ? 0 : PB_SR_STORE_ERROR;
    json_object_foreach((json_t *)in, k, v) {
        if (rc) break;
        if (!in_list(k, groups)) {
            pb_err_set(err, PB_ERR_INVALID,
                       "/ruleSet: unknown member \"%s\" (migrationRules, domainRules, "
                       "encodingRules)",
                       k);
            rc = PB_SR_INVALID_RULESET;
        } else if (json_is_null(v)) {
            continue;
        } else if (!json_is_array(v)) {
            pb_err_set(err, PB_ERR_INVALID, "/ruleSet/%s must be an array of rules", k);
            rc = PB_SR_INVALID_RULESET;
        } else {
            json_t *arr = json_array();
            if (!arr || json_object_set_new(rs, k, arr)) rc = PB_SR_STORE_ERROR;
            for (size_t i = 0; !rc && i < json_array_size(v); i++) {
                json_t *rule = NULL;
                if (rule_check(json_array_get(v, i), k, i, strcmp(k, "migrationRules") == 0, &rule,
                               err)) {
                    rc = err->code == PB_ERR_NOMEM ? PB_SR_STORE_ERROR : PB_SR_INVALID_RULESET;
                    break;
                }
                const char *name = json_string_value(json_object_get(rule, "name"));
                if (json_object_get(names, name)) {
                    pb_err_set(err, PB_ERR_INVALID,
                               "/ruleSet/%s/%zu: Found rule with duplicate name '%s'", k, i, name);
                    rc = PB_SR_INVALID_RULESET;
                } else if (json_object_set_new(names, name, json_true()) ||
                           json_array_append_new(arr, rule)) {
                    rc = PB_SR_STORE_ERROR;
                }
                if (rc) json_decref(rule);
            }
        }
    }
    json_decref(names);
    if (rc) {
        json_decref(rs);
        if (rc == PB_SR_STORE_ERROR && err->code != PB_ERR_NOMEM)
            pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        if (rc == PB_SR_INVALID_RULESET) pb_err_prefix(err, "Invalid ruleSet: ");
        return rc;
    }
    *out = rs;
    return 0;
}

int pb_registry_record_register_ex(pb_buf_t *out, const pb_registry_t *r, const char *req,
                                   const char *subject, const char *schema, size_t len,
                                   const pb_registry_reg_opts_t *o, pb_err_t *err) {
    static const pb_registry_reg_opts_t none = {0};
    char *text = NULL;
    size_t tl = 0;
    pb_schema_t *parsed = NULL;
    json_t *refs = NULL, *md = NULL, *rs = NULL, *rec = NULL;
    const pb_schema_t **predef = NULL;
    size_t n_predef = 0;
    int rc;
    if (!o) o = &none;
    if ((rc = req_check(req, err)) || (rc = subject_arg(subject, err))) return rc;
    if ((rc = refs_normalize(r, o->references, &refs, err)) ||
        (rc = metadata_check(o->metadata, &md, err)) || (rc = ruleset_check(o->rule_set, &rs, err)))
        goto done;
    if (refs && !r) { /* checked when applied: store the text as sent */
        if (len > PB_SCHEMA_MAX_BYTES) {
            rc = PB_SR_SCHEMA_TOO_LARGE;
            pb_err_set(err, PB_ERR_TOO_LARGE, "Schema too large: %zu bytes, at most %d", len,
                       PB_REGISTRY_MAX_SCHEMA_BYTES);
            goto done;
        }
        text = malloc(len + 1);
        if (!text) {
            rc = PB_SR_STORE_ERROR;
            pb_err_set(err, PB_ERR_NOMEM, "out of memory");
            goto done;
        }
        memcpy(text, schema, len);
        text[len] = '\0';
        tl = len;
    } else {
        if (refs && (rc = refs_resolve(r, refs, &predef, &n_predef, err))) goto done;
        if ((rc = normalize_refs(schema, len, predef, n_predef, &text, &tl, &parsed, err)))
            goto done;
    }
    rec = rec_head("register", req);
    if (rec) {
        json_object_set_new(rec, "subject", json_string(subject));
        json_object_set_new(rec, "schema", json_stringn(text, tl));
        if (refs) json_object_set(rec, "references", refs);
        if (md) json_object_set(rec, "metadata", md);
        if (rs) json_object_set(rec, "ruleSet", rs);
        if (o->id > 0) json_object_set_new(rec, "id", json_integer(o->id));
        if (o->version > 0) json_object_set_new(rec, "version", json_integer(o->version));
    }
    rc = emit(out, rec, err);
done:
    free(predef);
    free(text);
    pb_schema_destroy(parsed);
    json_decref(refs);
    json_decref(md);
    json_decref(rs);
    return rc;
}

int pb_registry_record_mode(pb_buf_t *out, const char *req, const char *subject, int mode,
                            int force, pb_err_t *err) {
    int rc;
    if ((rc = req_check(req, err))) return rc;
    if (subject && (rc = subject_arg(subject, err))) return rc;
    if (mode >= PB_REGISTRY__MODE_COUNT) {
        pb_err_set(err, PB_ERR_INVALID,
                   "Invalid mode. Valid values are READWRITE, READONLY and IMPORT.");
        return PB_SR_INVALID_MODE;
    }
    json_t *rec = rec_head("mode", req);
    if (rec) {
        json_object_set_new(rec, "subject", subject ? json_string(subject) : json_null());
        json_object_set_new(rec, "mode",
                            mode >= 0 ? json_string(pb_registry_mode_name(mode)) : json_null());
        json_object_set_new(rec, "force", json_boolean(force));
    }
    return emit(out, rec, err);
}

int pb_registry_record_delete_version(pb_buf_t *out, const char *req, const char *subject,
                                      int version, int permanent, pb_err_t *err) {
    int rc;
    if ((rc = req_check(req, err)) || (rc = subject_arg(subject, err))) return rc;
    if (version != -1 && version < 1) {
        pb_err_set(err, PB_ERR_INVALID,
                   "The specified version '%d' is not a valid version id. "
                   "Allowed values are between [1, 2^31-1] and the string \"latest\"",
                   version);
        return PB_SR_INVALID_VERSION;
    }
    json_t *rec = rec_head("delete_version", req);
    if (rec) {
        json_object_set_new(rec, "subject", json_string(subject));
        json_object_set_new(rec, "version", json_integer(version));
        json_object_set_new(rec, "permanent", json_boolean(permanent));
    }
    return emit(out, rec, err);
}

int pb_registry_record_delete_subject(pb_buf_t *out, const char *req, const char *subject,
                                      int permanent, pb_err_t *err) {
    int rc;
    if ((rc = req_check(req, err)) || (rc = subject_arg(subject, err))) return rc;
    json_t *rec = rec_head("delete_subject", req);
    if (rec) {
        json_object_set_new(rec, "subject", json_string(subject));
        json_object_set_new(rec, "permanent", json_boolean(permanent));
    }
    return emit(out, rec, err);
}

int pb_registry_record_config(pb_buf_t *out, const char *req, const char *subject, int level,
                              pb_err_t *err) {
    int rc;
    if ((rc = req_check(req, err))) return rc;
    if (subject && (rc = subject_arg(subject, err))) return rc;
    if (level >= PB_COMPAT__LEVEL_COUNT) {
        pb_err_set(err, PB_ERR_INVALID, "Invalid compatibility level");
        return PB_SR_INVALID_LEVEL;
    }
    json_t *rec = rec_head("config", req);
    if (rec) {
        json_object_set_new(rec, "subject", subject ? json_string(subject) : json_null());
        json_object_set_new(rec, "level",
                            level >= 0 ? json_string(pb_compat_level_name(level)) : json_null());
    }
    return emit(out, rec, err);
}

int pb_registry_record_product_put(pb_buf_t *out, const char *req, const pb_product_t *p,
                                   pb_err_t *err) {
    int rc;
    if ((rc = req_check(req, err))) return rc;
    for (int k = 0; k < 2; k++) {
        const pb_port_t *ports = k ? p->inputs : p->outputs;
        size_t n = k ? p->n_inputs : p->n_outputs;
        for (size_t i = 0; i < n; i++) {
            char *text = NULL;
            size_t tl;
            pb_schema_t *parsed = NULL;
            if ((rc = normalize_port(&ports[i], &text, &tl, &parsed, err))) {
                pb_err_prefix(err, "port %s: ", ports[i].fqn);
                return rc;
            }
            free(text);
            pb_schema_destroy(parsed);
        }
    }
    json_t *d = normalize_descriptor(p);
    json_t *rec = d ? rec_head("product_put", req) : NULL;
    if (rec) {
        json_object_set_new(rec, "urn", json_string(p->fqn));
        json_object_set(rec, "descriptor", d);
    }
    json_decref(d);
    return emit(out, rec, err);
}

int pb_registry_record_product_delete(pb_buf_t *out, const char *req, const char *urn,
                                      pb_err_t *err) {
    int rc;
    pb_addr_t a;
    if ((rc = req_check(req, err))) return rc;
    if (pb_addr_parse_product(urn, NULL, &a, err)) return PB_SR_INVALID;
    json_t *rec = rec_head("product_delete", req);
    if (rec) json_object_set_new(rec, "urn", json_string(urn));
    return emit(out, rec, err);
}

int pb_registry_record_bind(pb_buf_t *out, const char *req, const char *from, const char *to,
                            const char *reader, size_t reader_len, const char *start,
                            pb_err_t *err) {
    int rc;
    pb_addr_t a;
    char *text = NULL;
    size_t tl = 0;
    pb_schema_t *parsed = NULL;
    if ((rc = req_check(req, err))) return rc;
    if (pb_addr_parse_port(from, NULL, &a, err)) return PB_SR_INVALID;
    if (a.kind != PB_PORT_OUTPUT) {
        pb_err_set(err, PB_ERR_INVALID, "'from' must be an output port, not %s", from);
        return PB_SR_INVALID;
    }
    if (pb_addr_parse_port(to, NULL, &a, err)) return PB_SR_INVALID;
    if (a.kind != PB_PORT_INPUT) {
        pb_err_set(err, PB_ERR_INVALID, "'to' must be an input port, not %s", to);
        return PB_SR_INVALID;
    }
    if (start && strcmp(start, "earliest") != 0 && strcmp(start, "latest") != 0) {
        char ex[64];
        pb_err_set(err, PB_ERR_INVALID, "start '%s': use \"earliest\" or \"latest\"",
                   pb_addr_excerpt(start, ex, sizeof ex));
        return PB_SR_INVALID;
    }
    if (reader) {
        if ((rc = normalize(reader, reader_len, &text, &tl, &parsed, err))) {
            pb_err_prefix(err, "readerSchema: ");
            return rc;
        }
        pb_schema_destroy(parsed);
    }
    json_t *rec = rec_head("bind", req);
    if (rec) {
        json_object_set_new(rec, "from", json_string(from));
        json_object_set_new(rec, "to", json_string(to));
        json_object_set_new(rec, "reader", text ? json_stringn(text, tl) : json_null());
        json_object_set_new(rec, "start", json_string(start ? start : "latest"));
    }
    free(text);
    return emit(out, rec, err);
}

int pb_registry_record_unbind(pb_buf_t *out, const char *req, int id, pb_err_t *err) {
    int rc;
    if ((rc = req_check(req, err))) return rc;
    json_t *rec = rec_head("unbind", req);
    if (rec) json_object_set_new(rec, "id", json_integer(id));
    return emit(out, rec, err);
}

/* ---- queries -------------------------------------------------------------------------------- */

int pb_registry_global_level(const pb_registry_t *r) { return r->global_level; }

int pb_registry_subject_level(const pb_registry_t *r, const char *subject, int *level) {
    const subj_t *sj = subject_get(r, subject);
    if (!sj || sj->level < 0) return 0;
    *level = sj->level;
    return 1;
}

int pb_registry_effective_level(const pb_registry_t *r, const char *subject) {
    return level_of(r, subject_get(r, subject));
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *pb_registry_subjects(const pb_registry_t *r, int include_deleted, const char *prefix) {
    const char **names = calloc(r->subjects.n + 1, sizeof *names);
    json_t *arr = json_array();
    size_t n = 0;
    if (!names || !arr) goto fail;
    for (size_t i = 0; i < r->subjects.nb; i++)
        for (ment_t *e = r->subjects.b[i]; e; e = e->next) {
            const subj_t *sj = e->val;
            if (include_deleted == PB_REGISTRY_DELETED_ONLY
                    ? !(sj->n > 0 && !has_live(sj))
                    : !(include_deleted ? sj->n > 0 : has_live(sj)))
                continue;
            if (prefix && strncmp(sj->name, prefix, strlen(prefix)) != 0) continue;
            names[n++] = sj->name;
        }
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(arr, json_string(names[i]))) goto fail;
    free(names);
    return arr;
fail:
    free(names);
    json_decref(arr);
    return NULL;
}

static int not_found_subject(const char *subject, pb_err_t *err) {
    pb_err_set(err, PB_ERR_NOT_FOUND, "Subject '%s' not found.", subject);
    return PB_SR_SUBJECT_NOT_FOUND;
}

int pb_registry_versions(const pb_registry_t *r, const char *subject, int include_deleted,
                         json_t **out, pb_err_t *err) {
    const subj_t *sj = subject_get(r, subject);
    *out = NULL;
    if (!sj || !(include_deleted ? sj->n > 0 : has_live(sj)))
        return not_found_subject(subject, err);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < sj->n; i++)
        if (include_deleted == PB_REGISTRY_DELETED_ONLY ? sj->v[i].deleted
                                                        : include_deleted || !sj->v[i].deleted)
            if (json_array_append_new(arr, json_integer(sj->v[i].version))) {
                json_decref(arr);
                arr = NULL;
            }
    if (!arr) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return PB_SR_STORE_ERROR;
    }
    *out = arr;
    return 0;
}

static void fill_version(const subj_t *sj, const ver_t *v, pb_registry_version_t *out) {
    out->subject = sj->name;
    out->version = v->version;
    out->id = v->s->id;
    out->deleted = v->deleted;
    out->schema = v->s->text;
    out->parsed = v->s->parsed;
    out->references = v->s->references;
    out->metadata = v->s->metadata;
    out->rule_set = v->s->rule_set;
}

int pb_registry_get_version(const pb_registry_t *r, const char *subject, int version,
                            int include_deleted, pb_registry_version_t *out, pb_err_t *err) {
    const subj_t *sj = subject_get(r, subject);
    memset(out, 0, sizeof *out);
    if (!sj || !(include_deleted ? sj->n > 0 : has_live(sj)))
        return not_found_subject(subject, err);
    const ver_t *v = NULL;
    if (version == -1)
        v = include_deleted ? &sj->v[sj->n - 1] : latest_live(sj);
    else {
        v = find_version(sj, version);
        if (v && v->deleted && !include_deleted) v = NULL;
    }
    if (!v) {
        if (version == -1)
            pb_err_set(err, PB_ERR_NOT_FOUND, "Version latest not found.");
        else
            pb_err_set(err, PB_ERR_NOT_FOUND, "Version %d not found.", version);
        return PB_SR_VERSION_NOT_FOUND;
    }
    fill_version(sj, v, out);
    return 0;
}

static const sch_t *schema_by_id(const pb_registry_t *r, int id) {
    const sch_t *s = schema_by_id_any(r, id);
    return s && s->refs > 0 ? s : NULL;
}

int pb_registry_schema_info(const pb_registry_t *r, int id, pb_registry_version_t *out,
                            pb_err_t *err) {
    const sch_t *s = schema_by_id(r, id);
    memset(out, 0, sizeof *out);
    if (!s) {
        pb_err_set(err, PB_ERR_NOT_FOUND, "Schema %d not found", id);
        return PB_SR_SCHEMA_NOT_FOUND;
    }
    out->id = s->id;
    out->schema = s->text;
    out->parsed = s->parsed;
    out->references = s->references;
    out->metadata = s->metadata;
    out->rule_set = s->rule_set;
    return 0;
}

int pb_registry_max_id(const pb_registry_t *r) { return r->next_id - 1; }

size_t pb_registry_rule_count(const json_t *rule_set) {
    const char *k;
    json_t *v;
    size_t n = 0;
    json_object_foreach((json_t *)rule_set, k, v) {
        if (json_is_array(v)) n += json_array_size(v);
    }
    return n;
}

int pb_registry_global_mode(const pb_registry_t *r) { return r->global_mode; }

int pb_registry_subject_mode(const pb_registry_t *r, const char *subject, int *mode) {
    const subj_t *sj = subject_get(r, subject);
    if (!sj || sj->mode < 0) return 0;
    *mode = sj->mode;
    return 1;
}

int pb_registry_effective_mode(const pb_registry_t *r, const char *subject) {
    return mode_of(r, subject_get(r, subject));
}

int pb_registry_referenced_by(const pb_registry_t *r, const char *subject, int version,
                              int include_deleted, json_t **out, pb_err_t *err) {
    pb_registry_version_t v;
    *out = NULL;
    int rc = pb_registry_get_version(r, subject, version, 1, &v, err);
    if (rc) return rc;
    json_t *ids = jcheck(json_array());
    referencing(r, subject, v.version, include_deleted, NULL, ids);
    *out = ids;
    return 0;
}

int pb_registry_schema_by_id(const pb_registry_t *r, int id, const char **text,
                             const pb_schema_t **parsed, pb_err_t *err) {
    const sch_t *s = schema_by_id(r, id);
    if (!s) {
        pb_err_set(err, PB_ERR_NOT_FOUND, "Schema %d not found", id);
        return PB_SR_SCHEMA_NOT_FOUND;
    }
    if (text) *text = s->text;
    if (parsed) *parsed = s->parsed;
    return 0;
}

typedef struct sv {
    const char *subject;
    int version;
} sv_t;

static int cmp_sv(const void *a, const void *b) {
    const sv_t *x = a, *y = b;
    int c = strcmp(x->subject, y->subject);
    return c ? c : (x->version > y->version) - (x->version < y->version);
}

/* Sorted (subject, version) pairs using schema id; NULL and *n 0 when none. */
static sv_t *id_uses(const pb_registry_t *r, int id, int include_deleted, size_t *n) {
    sv_t *out = NULL;
    size_t cap = 0;
    *n = 0;
    for (size_t i = 0; i < r->subjects.nb; i++)
        for (ment_t *e = r->subjects.b[i]; e; e = e->next) {
            const subj_t *sj = e->val;
            for (size_t k = 0; k < sj->n; k++) {
                if (sj->v[k].s->id != id || (sj->v[k].deleted && !include_deleted)) continue;
                grow((void **)&out, &cap, *n + 1, sizeof *out);
                out[(*n)++] = (sv_t){sj->name, sj->v[k].version};
            }
        }
    if (*n) qsort(out, *n, sizeof *out, cmp_sv);
    return out;
}

int pb_registry_id_versions(const pb_registry_t *r, int id, int include_deleted, json_t **out,
                            pb_err_t *err) {
    size_t n;
    *out = NULL;
    if (!schema_by_id(r, id)) {
        pb_err_set(err, PB_ERR_NOT_FOUND, "Schema %d not found", id);
        return PB_SR_SCHEMA_NOT_FOUND;
    }
    sv_t *uses = id_uses(r, id, include_deleted, &n);
    json_t *arr = jcheck(json_array());
    for (size_t i = 0; i < n; i++) {
        json_t *o = jcheck(json_object());
        json_object_set_new(o, "subject", jcheck(json_string(uses[i].subject)));
        json_object_set_new(o, "version", jcheck(json_integer(uses[i].version)));
        json_array_append_new(arr, o);
    }
    free(uses);
    *out = arr;
    return 0;
}

int pb_registry_id_subjects(const pb_registry_t *r, int id, int include_deleted, json_t **out,
                            pb_err_t *err) {
    size_t n;
    *out = NULL;
    if (!schema_by_id(r, id)) {
        pb_err_set(err, PB_ERR_NOT_FOUND, "Schema %d not found", id);
        return PB_SR_SCHEMA_NOT_FOUND;
    }
    sv_t *uses = id_uses(r, id, include_deleted, &n);
    json_t *arr = jcheck(json_array());
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(uses[i].subject, uses[i - 1].subject) != 0)
            json_array_append_new(arr, jcheck(json_string(uses[i].subject)));
    free(uses);
    *out = arr;
    return 0;
}

/* A request's schema with its extras (o may be NULL): references normalized and resolved against
 * r, metadata and ruleSet checked; the normalized text and parse. Caller frees what it gets. */
static int parse_request(const pb_registry_t *r, const char *schema, size_t len,
                         const pb_registry_reg_opts_t *o, char **text, pb_schema_t **parsed,
                         json_t **refs, json_t **md, json_t **rs, pb_err_t *err) {
    const pb_schema_t **predef = NULL;
    size_t n_predef = 0, tl;
    int rc;
    *text = NULL;
    *parsed = NULL;
    *refs = *md = *rs = NULL;
    if (o &&
        ((rc = refs_normalize(r, o->references, refs, err)) ||
         (rc = metadata_check(o->metadata, md, err)) || (rc = ruleset_check(o->rule_set, rs, err))))
        goto fail;
    if (*refs && (rc = refs_resolve(r, *refs, &predef, &n_predef, err))) goto fail;
    rc = normalize_refs(schema, len, predef, n_predef, text, &tl, parsed, err);
    free(predef);
    if (!rc) return 0;
fail:
    json_decref(*refs);
    json_decref(*md);
    json_decref(*rs);
    *refs = *md = *rs = NULL;
    return rc;
}

int pb_registry_lookup(const pb_registry_t *r, const char *subject, const char *schema, size_t len,
                       int include_deleted, pb_registry_version_t *out, pb_err_t *err) {
    return pb_registry_lookup_ex(r, subject, schema, len, NULL, include_deleted, out, err);
}

int pb_registry_lookup_ex(const pb_registry_t *r, const char *subject, const char *schema,
                          size_t len, const pb_registry_reg_opts_t *o, int include_deleted,
                          pb_registry_version_t *out, pb_err_t *err) {
    char *text = NULL, *keys[2] = {NULL, NULL};
    pb_schema_t *parsed = NULL;
    json_t *refs, *md, *rs;
    memset(out, 0, sizeof *out);
    int rc = parse_request(r, schema, len, o, &text, &parsed, &refs, &md, &rs, err);
    if (rc) return rc;
    pb_schema_destroy(parsed);
    const subj_t *sj = subject_get(r, subject);
    if (!sj || !(include_deleted ? sj->n > 0 : has_live(sj))) {
        rc = not_found_subject(subject, err);
        goto done;
    }
    /* As Confluent: the schema as sent, then with the latest version's metadata and ruleSet
     * where the request has none (what a registration would store). */
    const ver_t *latest = latest_live(sj);
    keys[0] = key_of(text, refs, md, rs);
    if (latest && ((!md && latest->s->metadata) || (!rs && latest->s->rule_set)))
        keys[1] = key_of(text, refs, md ? md : latest->s->metadata, rs ? rs : latest->s->rule_set);
    for (int k = 0; k < 2; k++)
        for (size_t i = sj->n; keys[k] && i-- > 0;)
            if (strcmp(sj->v[i].s->key, keys[k]) == 0 && (include_deleted || !sj->v[i].deleted)) {
                fill_version(sj, &sj->v[i], out);
                goto done;
            }
    pb_err_set(err, PB_ERR_NOT_FOUND, "Schema not found");
    rc = PB_SR_SCHEMA_NOT_FOUND;
done:
    free(keys[0]);
    free(keys[1]);
    free(text);
    json_decref(refs);
    json_decref(md);
    json_decref(rs);
    return rc;
}

int pb_registry_check(const pb_registry_t *r, const char *subject, const char *schema, size_t len,
                      int version, int *compatible, json_t **messages, pb_err_t *err) {
    return pb_registry_check_ex(r, subject, schema, len, NULL, version, compatible, messages, err);
}

int pb_registry_check_ex(const pb_registry_t *r, const char *subject, const char *schema,
                         size_t len, const pb_registry_reg_opts_t *o, int version, int *compatible,
                         json_t **messages, pb_err_t *err) {
    char *text = NULL;
    pb_schema_t *parsed = NULL;
    json_t *items = NULL, *refs, *md, *rs;
    *compatible = 0;
    if (messages) *messages = NULL;
    const subj_t *sj = subject_get(r, subject);
    const ver_t *one = NULL;
    if (version > 0) {
        one = find_version(sj, version);
        if (!one || one->deleted) {
            pb_err_set(err, PB_ERR_NOT_FOUND, "Version %d not found.", version);
            return PB_SR_VERSION_NOT_FOUND;
        }
    } else if (version == -1) {
        one = latest_live(sj);
    }
    int rc = parse_request(r, schema, len, o, &text, &parsed, &refs, &md, &rs, err);
    if (rc) return rc;
    free(text);
    json_decref(refs);
    json_decref(md);
    json_decref(rs);
    int level = level_of(r, sj);
    items = jcheck(json_array());
    if (version == 0)
        level_check(sj, level, parsed, NULL, 0, items);
    else if (one)
        level_check(NULL, level, parsed, one->s->parsed, one->version, items);
    *compatible = json_array_size(items) == 0;
    if (messages) {
        json_t *arr = jcheck(json_array());
        for (size_t i = 0; i < json_array_size(items); i++) {
            pb_buf_t b = {0};
            item_text(&b, json_array_get(items, i));
            json_array_append_new(arr, jcheck(json_stringn((const char *)b.data, b.len)));
            pb_buf_free(&b);
        }
        if (!*compatible) {
            /* Confluent's {oldSchemaVersion: N} and {oldSchema: '...'} entries, one each. */
            json_t *old = old_schema_entries(sj, items);
            json_array_extend(arr, old);
            json_decref(old);
            char tmp[64];
            snprintf(tmp, sizeof tmp, "{compatibility: '%s'}", pb_compat_level_name(level));
            json_array_append_new(arr, jcheck(json_string(tmp)));
        }
        *messages = arr;
    }
    json_decref(items);
    pb_schema_destroy(parsed);
    return 0;
}

int pb_registry_impact(const pb_registry_t *r, const char *subject, const char *schema, size_t len,
                       json_t **out, pb_err_t *err) {
    char *text = NULL;
    size_t tl;
    pb_schema_t *parsed = NULL;
    *out = NULL;
    const pb_port_t *port = pb_registry_port(r, subject);
    if (port)
        subject = port->subject;
    else
        port = map_get(&r->out_subjects, subject);
    int rc = normalize(schema, len, &text, &tl, &parsed, err);
    if (rc) return rc;
    const subj_t *sj = subject_get(r, subject);
    const sch_t *s = schema_get(r, text);
    free(text);
    int level = level_of(r, sj);
    const ver_t *live = live_version_of(sj, s);
    json_t *o = jcheck(json_object());
    json_object_set_new(o, "subject", jcheck(json_string(subject)));
    json_object_set_new(o, "level", jcheck(json_string(pb_compat_level_name(level))));
    if (port) json_object_set_new(o, "port", jcheck(json_string(port->fqn)));
    if (live) {
        json_t *reg = jcheck(json_object());
        json_object_set_new(reg, "id", jcheck(json_integer(s->id)));
        json_object_set_new(reg, "version", jcheck(json_integer(live->version)));
        json_object_set_new(o, "registered", reg);
    } else {
        json_object_set_new(o, "registered", json_null());
    }
    int level_ok = 1;
    json_t *levels = jcheck(json_object());
    for (int l = 0; l < PB_COMPAT__LEVEL_COUNT; l++) {
        json_t *items = jcheck(json_array());
        level_check(sj, l, parsed, NULL, 0, items);
        json_t *lo = jcheck(json_object());
        json_object_set_new(lo, "compatible", json_boolean(json_array_size(items) == 0));
        json_object_set_new(lo, "incompatibilities", items);
        json_object_set_new(levels, pb_compat_level_name(l), lo);
        if (l == level && json_array_size(items)) level_ok = 0;
    }
    json_object_set_new(o, "levels", levels);
    int subs_ok = 1;
    json_t *subs = jcheck(json_array());
    if (port) {
        size_t n;
        reader_ref_t *rd = readers_of(r, port->fqn, &n);
        for (size_t i = 0; i < n; i++) {
            json_t *items = jcheck(json_array());
            pair_check(rd[i].reader, parsed, 0, rd[i].to, rd[i].id, items);
            json_t *so = jcheck(json_object());
            json_object_set_new(so, "binding", jcheck(json_integer(rd[i].id)));
            json_object_set_new(so, "input", jcheck(json_string(rd[i].to)));
            json_object_set_new(so, "compatible", json_boolean(json_array_size(items) == 0));
            json_object_set_new(so, "incompatibilities", items);
            json_array_append_new(subs, so);
            if (json_array_size(items)) subs_ok = 0; /* as do_register: every level */
        }
        free(rd);
    }
    json_object_set_new(o, "subscribers", subs);
    json_object_set_new(o, "compatible", json_boolean(live || (level_ok && subs_ok)));
    pb_schema_destroy(parsed);
    *out = o;
    return 0;
}

int pb_registry_port_level(const pb_registry_t *r, const pb_port_t *port) {
    return pb_registry_effective_level(r, port->subject);
}

json_t *pb_registry_port_schemas(const pb_registry_t *r, const pb_port_t *port) {
    const subj_t *sj = subject_get(r, port->subject);
    json_t *arr = json_array();
    for (size_t i = 0; arr && sj && i < sj->n; i++) {
        if (sj->v[i].deleted) continue;
        json_t *o = json_object();
        if (!o || json_array_append_new(arr, o) ||
            json_object_set_new(o, "version", json_integer(sj->v[i].version)) ||
            json_object_set_new(o, "id", json_integer(sj->v[i].s->id))) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

size_t pb_registry_binding_count(const pb_registry_t *r) { return r->n_binds; }

const pb_registry_binding_t *pb_registry_binding_at(const pb_registry_t *r, size_t i) {
    return i < r->n_binds ? &r->binds[i]->pub : NULL;
}

const pb_registry_binding_t *pb_registry_binding(const pb_registry_t *r, int id) {
    for (size_t i = 0; i < r->n_binds; i++)
        if (r->binds[i]->pub.id == id) return &r->binds[i]->pub;
    return NULL;
}

char *pb_registry_dump(const pb_registry_t *r) {
    json_t *d = json_object();
    char *out = NULL;
    if (!d) return NULL;
    json_object_set_new(d, "globalLevel", json_string(pb_compat_level_name(r->global_level)));
    json_object_set_new(d, "nextBindingId", json_integer(r->next_bind_id));
    json_t *schemas = json_array();
    for (size_t i = 0; schemas && i < r->n_schemas; i++) {
        const sch_t *sc = r->schemas[i];
        json_t *o = json_pack("{s:i,s:s,s:i}", "id", sc->id, "schema", sc->text, "refs", sc->refs);
        if (o && sc->references) json_object_set(o, "references", sc->references);
        if (o && sc->metadata) json_object_set(o, "metadata", sc->metadata);
        if (o && sc->rule_set) json_object_set(o, "ruleSet", sc->rule_set);
        json_array_append_new(schemas, o);
    }
    if (r->global_mode != PB_REGISTRY_READWRITE)
        json_object_set_new(d, "globalMode", json_string(pb_registry_mode_name(r->global_mode)));
    json_object_set_new(d, "nextId", json_integer(r->next_id));
    json_object_set_new(d, "schemas", schemas);
    json_t *subjects = json_object();
    for (size_t i = 0; subjects && i < r->subjects.nb; i++)
        for (ment_t *e = r->subjects.b[i]; e; e = e->next) {
            const subj_t *sj = e->val;
            json_t *vs = json_array();
            for (size_t k = 0; vs && k < sj->n; k++)
                json_array_append_new(
                    vs, json_pack("[i,i,b]", sj->v[k].version, sj->v[k].s->id, sj->v[k].deleted));
            json_object_set_new(
                subjects, sj->name,
                json_pack("{s:s?,s:s?,s:o*}", "level",
                          sj->level >= 0 ? pb_compat_level_name(sj->level) : NULL, "mode",
                          sj->mode >= 0 ? pb_registry_mode_name(sj->mode) : NULL, "versions", vs));
        }
    json_object_set_new(d, "subjects", subjects);
    json_t *products = json_array();
    for (size_t i = 0; products && i < r->n_products; i++)
        json_array_append_new(products, json_pack("{s:s,s:o}", "urn", r->products[i]->fqn,
                                                  "descriptor", pb_product_json(r->products[i])));
    json_object_set_new(d, "products", products);
    json_t *binds = json_array();
    for (size_t i = 0; binds && i < r->n_binds; i++) {
        const bind_t *b = r->binds[i];
        json_array_append_new(binds,
                              json_pack("{s:i,s:s,s:s,s:i,s:s,s:b}", "id", b->pub.id, "from",
                                        b->from, "to", b->to, "reader", b->reader->id, "start",
                                        b->start, "fromProduct", b->pub.from_product));
    }
    json_object_set_new(d, "bindings", binds);
    out = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(d);
    return out;
}

int pb_registry_record_stamp(const void *record, size_t len, const char *principal, pb_buf_t *out,
                             pb_err_t *err) {
    json_t *rec = json_loadb(record, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    if (!json_is_object(rec)) {
        json_decref(rec);
        pb_err_set(err, PB_ERR_INVALID, "registry record to stamp is not a JSON object");
        return PB_SR_STORE_ERROR;
    }
    if (json_object_set_new(rec, "by", json_string(principal))) {
        json_decref(rec);
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return PB_SR_STORE_ERROR;
    }
    return emit(out, rec, err);
}
