/*
 * compat — reader/writer schema compatibility and Schema Registry compatibility levels.
 *
 * Owns: the decision whether a reader schema reads every datum of a writer schema, with Apache
 * Avro Java SchemaCompatibility's rules and its list of incompatibilities, and the levels over a
 * version history. Must not: parse schemas, do I/O, or call avro-c.
 *
 * How it works. A check walks (reader node, writer node) pairs from the two roots. Every pair is
 * memoised in a table the first time it is reached; a pair reached again while it is still being
 * computed is a recursive schema and counts as compatible (Java's RECURSION_IN_PROGRESS), and a
 * finished pair is not computed again. Each pair keeps its own findings relative to its reader
 * node: incompatibilities found at the pair itself ("issues") and links to incompatible child
 * pairs whose findings it inherits ("edges", each with the pointer tokens leading to the child).
 * Children whose findings Java throws away (the branches tried for a reader union) are not
 * linked. The links form a DAG (a pair only links to pairs finished before it), so the report is
 * rendered afterwards by walking it from the root pair, which gives every incompatibility its
 * full pointer from the reader root and the field path for its message, whatever place the pair
 * was first computed from. The walk stops listing at PB_COMPAT_MAX_ISSUES and counts the rest.
 */
#include "compat.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"

/* ---- names -------------------------------------------------------------------------------- */

static const char *const level_names[PB_COMPAT__LEVEL_COUNT] = {
    "NONE", "BACKWARD",        "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
    "FULL", "FULL_TRANSITIVE",
};

static const char *const kind_names[PB_COMPAT__KIND_COUNT] = {
    "NAME_MISMATCH",        "FIXED_SIZE_MISMATCH",
    "MISSING_ENUM_SYMBOLS", "READER_FIELD_MISSING_DEFAULT_VALUE",
    "TYPE_MISMATCH",        "MISSING_UNION_BRANCH",
};

int pb_compat_level_parse(const char *s) {
    if (!s) return -1;
    for (int i = 0; i < PB_COMPAT__LEVEL_COUNT; i++)
        if (strcasecmp(s, level_names[i]) == 0) return i;
    return -1;
}

const char *pb_compat_level_name(pb_compat_level_t level) {
    if ((int)level < 0 || level >= PB_COMPAT__LEVEL_COUNT) return "UNKNOWN";
    return level_names[level];
}

const char *pb_compat_kind_name(pb_compat_kind_t kind) {
    if ((int)kind < 0 || kind >= PB_COMPAT__KIND_COUNT) return "UNKNOWN";
    return kind_names[kind];
}

int pb_compat_kind_parse(const char *s) {
    if (!s) return -1;
    for (int i = 0; i < PB_COMPAT__KIND_COUNT; i++)
        if (strcmp(s, kind_names[i]) == 0) return i;
    return -1;
}

const char *pb_compat_dir_name(pb_compat_dir_t dir) {
    switch (dir) {
    case PB_COMPAT_DIR_PAIR: return "pair";
    case PB_COMPAT_DIR_BACKWARD: return "backward";
    case PB_COMPAT_DIR_FORWARD: return "forward";
    }
    return "unknown";
}

/* ---- the pair table ----------------------------------------------------------------------- */

#define NO_ENTRY SIZE_MAX

/* What a finding adds to the field path shown in messages. */
typedef enum { CTX_NONE = 0, CTX_FIELD, CTX_ITEMS, CTX_VALUES, CTX_WRITER_BRANCH } ctx_t;

/* A finding of one pair: an incompatibility at the pair (child == NO_ENTRY; kind says which) or
 * a link to an incompatible child pair (kind unused; ctx says what the link adds to the path).
 * tokens is the pointer suffix from the pair's reader node ("" or
 * "/fields/3/type"); text is the message (issue) or the context label (edge): a field name, or
 * "writer union branch 1 (string)". */
typedef struct item {
    size_t child;
    pb_compat_kind_t kind;
    ctx_t ctx;
    char *tokens;
    char *text;
    const char *field; /* issue only: a reader field name the message is about, or NULL */
} item_t;

typedef struct entry {
    const pb_schema_node_t *r, *w;
    int done;
    int compatible;
    int counted;
    size_t count; /* incompatibilities under this pair, saturating; valid when counted */
    item_t *items;
    size_t n_items, cap_items;
} entry_t;

typedef struct checker {
    entry_t *entries;
    size_t n_entries, cap_entries;
    size_t *slots; /* open addressing: entry index + 1, 0 = empty */
    size_t n_slots;
    int depth;
    int failed; /* PB_ERR_NOMEM or PB_ERR_TOO_LARGE once something went wrong */
} checker_t;

static void checker_free(checker_t *ck) {
    for (size_t i = 0; i < ck->n_entries; i++) {
        entry_t *e = &ck->entries[i];
        for (size_t j = 0; j < e->n_items; j++) {
            free(e->items[j].tokens);
            free(e->items[j].text);
        }
        free(e->items);
    }
    free(ck->entries);
    free(ck->slots);
    memset(ck, 0, sizeof *ck);
}

static size_t pair_hash(const pb_schema_node_t *r, const pb_schema_node_t *w) {
    uint64_t h = (uint64_t)(uintptr_t)r * 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t)(uintptr_t)w + 0x7F4A7C159E3779B9ull + (h << 6) + (h >> 2);
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    return (size_t)h;
}

static size_t table_find(const checker_t *ck, const pb_schema_node_t *r,
                         const pb_schema_node_t *w) {
    if (!ck->n_slots) return NO_ENTRY;
    size_t mask = ck->n_slots - 1;
    for (size_t i = pair_hash(r, w) & mask;; i = (i + 1) & mask) {
        size_t s = ck->slots[i];
        if (!s) return NO_ENTRY;
        const entry_t *e = &ck->entries[s - 1];
        if (e->r == r && e->w == w) return s - 1;
    }
}

static void table_put(checker_t *ck, size_t idx) {
    size_t mask = ck->n_slots - 1;
    const entry_t *e = &ck->entries[idx];
    size_t i = pair_hash(e->r, e->w) & mask;
    while (ck->slots[i])
        i = (i + 1) & mask;
    ck->slots[i] = idx + 1;
}

/* Add a pair, not yet computed. Returns its index or NO_ENTRY (ck->failed set). */
static size_t table_add(checker_t *ck, const pb_schema_node_t *r, const pb_schema_node_t *w) {
    if (ck->n_entries >= PB_COMPAT_MAX_PAIRS) {
        ck->failed = PB_ERR_TOO_LARGE;
        return NO_ENTRY;
    }
    if (ck->n_entries == ck->cap_entries) {
        size_t cap = ck->cap_entries ? ck->cap_entries * 2 : 64;
        entry_t *p = realloc(ck->entries, cap * sizeof *p);
        if (!p) goto nomem;
        ck->entries = p;
        ck->cap_entries = cap;
    }
    if ((ck->n_entries + 1) * 2 > ck->n_slots) {
        size_t n = ck->n_slots ? ck->n_slots * 2 : 128;
        size_t *slots = calloc(n, sizeof *slots);
        if (!slots) goto nomem;
        free(ck->slots);
        ck->slots = slots;
        ck->n_slots = n;
        for (size_t i = 0; i < ck->n_entries; i++)
            table_put(ck, i);
    }
    size_t idx = ck->n_entries++;
    memset(&ck->entries[idx], 0, sizeof ck->entries[idx]);
    ck->entries[idx].r = r;
    ck->entries[idx].w = w;
    ck->entries[idx].compatible = 1;
    table_put(ck, idx);
    return idx;
nomem:
    ck->failed = PB_ERR_NOMEM;
    return NO_ENTRY;
}

/* printf into a new heap string; NULL when out of memory. */
static char *fmt_alloc(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *fmt_alloc(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* Append a finding to pair idx and mark it incompatible. Takes ownership of tokens and text
 * (freed on failure). Returns 0 or -1 (ck->failed set). */
static int add_item(checker_t *ck, size_t idx, size_t child, pb_compat_kind_t kind, ctx_t ctx,
                    char *tokens, char *text, const char *field) {
    entry_t *e = &ck->entries[idx];
    if (!tokens || !text) goto nomem;
    if (e->n_items == e->cap_items) {
        size_t cap = e->cap_items ? e->cap_items * 2 : 4;
        item_t *p = realloc(e->items, cap * sizeof *p);
        if (!p) goto nomem;
        e->items = p;
        e->cap_items = cap;
    }
    e->items[e->n_items++] = (item_t){child, kind, ctx, tokens, text, field};
    e->compatible = 0;
    return 0;
nomem:
    free(tokens);
    free(text);
    ck->failed = PB_ERR_NOMEM;
    return -1;
}

static int add_issue(checker_t *ck, size_t idx, pb_compat_kind_t kind, char *tokens,
                     const char *field, char *msg) {
    return add_item(ck, idx, NO_ENTRY, kind, CTX_NONE, tokens, msg, field);
}

/* ---- describing nodes for messages -------------------------------------------------------- */

static const char *type_name(pb_avro_type_t t) {
    static const char *const names[] = {"null",   "boolean", "int",    "long",   "float",
                                        "double", "bytes",   "string", "record", "enum",
                                        "array",  "map",     "union",  "fixed"};
    if ((int)t < 0 || (size_t)t >= sizeof names / sizeof names[0]) return "?";
    return names[t];
}

/* "int", "record 'com.acme.Trip'", "array", "union [null, long, record 'X']". */
static void describe(const pb_schema_node_t *n, char *out, size_t cap) {
    if (pb_schema_is_named(n)) {
        snprintf(out, cap, "%s '%s'", type_name(n->type), n->fullname ? n->fullname : "?");
        return;
    }
    if (n->type != PB_AVRO_UNION) {
        snprintf(out, cap, "%s", type_name(n->type));
        return;
    }
    size_t len = (size_t)snprintf(out, cap, "union [");
    for (size_t i = 0; i < n->n_branches && len < cap; i++) {
        const pb_schema_node_t *b = n->branches[i];
        const char *bn = pb_schema_is_named(b) && b->fullname ? b->fullname : type_name(b->type);
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? ", " : "", bn);
    }
    if (len < cap) snprintf(out + len, cap - len, "]");
    if (len >= cap && cap > 4) memcpy(out + cap - 5, "...]", 5);
}

/* Which reader types can read a writer primitive, for the hint in TYPE_MISMATCH. */
static const char *readable_as(pb_avro_type_t w) {
    switch (w) {
    case PB_AVRO_INT: return "int, long, float or double";
    case PB_AVRO_LONG: return "long, float or double";
    case PB_AVRO_FLOAT: return "float or double";
    case PB_AVRO_STRING: return "string or bytes";
    case PB_AVRO_BYTES: return "bytes or string";
    default: return NULL;
    }
}

/* ---- the check ---------------------------------------------------------------------------- */

static int visit(checker_t *ck, const pb_schema_node_t *r, const pb_schema_node_t *w, size_t *out);

/* Check child pair (r, w) and, when it is incompatible, link it under pair idx (its findings
 * become idx's) with `tokens` and the context `label` (taken, freed on every path; NULL means
 * out of memory). Returns 0 or -1 on failure. */
static int merge(checker_t *ck, size_t idx, const pb_schema_node_t *r, const pb_schema_node_t *w,
                 const char *tokens, ctx_t ctx, char *label) {
    size_t child;
    int rc = visit(ck, r, w, &child);
    if (rc < 0 || rc == 1) {
        free(label);
        return rc < 0 ? -1 : 0;
    }
    return add_item(ck, idx, child, PB_COMPAT_TYPE_MISMATCH, ctx, strdup(tokens), label, NULL);
}

static int type_mismatch(checker_t *ck, size_t idx, const pb_schema_node_t *r,
                         const pb_schema_node_t *w) {
    char rd[160], wd[160];
    describe(r, rd, sizeof rd);
    describe(w, wd, sizeof wd);
    const char *hint = readable_as(w->type);
    char *msg = hint ? fmt_alloc("reader type %s cannot read writer type %s (a writer %s can be "
                                 "read as %s)",
                                 rd, wd, wd, hint)
                     : fmt_alloc("reader type %s cannot read writer type %s", rd, wd);
    return add_issue(ck, idx, PB_COMPAT_TYPE_MISMATCH, strdup(""), NULL, msg);
}

/* Java's schemaNameEquals: same unqualified name, or a reader alias names the writer. */
static int check_names(checker_t *ck, size_t idx, const pb_schema_node_t *r,
                       const pb_schema_node_t *w) {
    if (r->name && w->name && strcmp(r->name, w->name) == 0) return 0;
    for (size_t i = 0; i < r->n_aliases; i++)
        if (w->fullname && strcmp(r->aliases[i], w->fullname) == 0) return 0;
    const char *t = type_name(r->type);
    char *msg = fmt_alloc("reader %s '%s' cannot read writer %s '%s': the names differ and no "
                          "reader alias is '%s' (rename, or add the alias to the reader)",
                          t, r->fullname, t, w->fullname, w->fullname);
    return add_issue(ck, idx, PB_COMPAT_NAME_MISMATCH, strdup("/name"), NULL, msg);
}

static int check_fixed_size(checker_t *ck, size_t idx, const pb_schema_node_t *r,
                            const pb_schema_node_t *w) {
    if (r->size == w->size) return 0;
    char *msg = fmt_alloc("reader fixed '%s' has size %zu but writer fixed '%s' has size %zu",
                          r->fullname, r->size, w->fullname, w->size);
    return add_issue(ck, idx, PB_COMPAT_FIXED_SIZE_MISMATCH, strdup("/size"), NULL, msg);
}

static int has_symbol(const pb_schema_node_t *e, const char *s) {
    for (size_t i = 0; i < e->n_symbols; i++)
        if (strcmp(e->symbols[i], s) == 0) return 1;
    return 0;
}

/* Writer symbols must all be reader symbols, unless the reader has a default symbol. */
static int check_enum_symbols(checker_t *ck, size_t idx, const pb_schema_node_t *r,
                              const pb_schema_node_t *w) {
    if (r->enum_default >= 0 && (size_t)r->enum_default < r->n_symbols) return 0;
    pb_buf_t list = {0};
    size_t missing = 0;
    int rc = 0;
    for (size_t i = 0; i < w->n_symbols; i++) {
        if (has_symbol(r, w->symbols[i])) continue;
        if (missing < 10) rc |= pb_buf_printf(&list, "%s'%s'", missing ? ", " : "", w->symbols[i]);
        missing++;
    }
    if (!missing) goto done;
    if (missing > 10) rc |= pb_buf_printf(&list, " and %zu more", missing - 10);
    if (rc) {
        ck->failed = PB_ERR_NOMEM;
        rc = -1;
        goto done;
    }
    char *msg = fmt_alloc("reader enum '%s' has no symbol%s %s the writer can write, and no "
                          "default (add the symbol%s or an enum default to the reader)",
                          r->fullname, missing > 1 ? "s" : "", (const char *)list.data,
                          missing > 1 ? "s" : "");
    rc = add_issue(ck, idx, PB_COMPAT_MISSING_ENUM_SYMBOLS, strdup("/symbols"), NULL, msg);
done:
    pb_buf_free(&list);
    return rc;
}

static const pb_schema_field_t *writer_field(const pb_schema_node_t *w, const char *name) {
    for (size_t i = 0; i < w->n_fields; i++)
        if (strcmp(w->fields[i].name, name) == 0) return &w->fields[i];
    return NULL;
}

/* Java's lookupWriterField: by name, else by a reader field alias. Java throws when a name and
 * an alias (or two aliases) match different writer fields; the field of the same name wins here,
 * then the first alias, as python avro does. */
static const pb_schema_field_t *lookup_writer_field(const pb_schema_node_t *w,
                                                    const pb_schema_field_t *rf) {
    const pb_schema_field_t *f = writer_field(w, rf->name);
    for (size_t i = 0; !f && i < rf->n_aliases; i++)
        f = writer_field(w, rf->aliases[i]);
    return f;
}

static int check_fields(checker_t *ck, size_t idx, const pb_schema_node_t *r,
                        const pb_schema_node_t *w) {
    for (size_t i = 0; i < r->n_fields; i++) {
        const pb_schema_field_t *rf = &r->fields[i];
        const pb_schema_field_t *wf = lookup_writer_field(w, rf);
        if (wf) {
            char tokens[48];
            snprintf(tokens, sizeof tokens, "/fields/%zu/type", i);
            if (merge(ck, idx, rf->type, wf->type, tokens, CTX_FIELD, strdup(rf->name)) < 0)
                return -1;
            continue;
        }
        if (rf->default_value) continue;
        /* Java 1.11 turns this into TYPE_MISMATCH (enum vs record) when the field's type is an
         * enum with a default; the verdict is the same and this is what is really wrong. */
        char *msg =
            fmt_alloc("writer record '%s' has no field '%s'%s and the reader field has no "
                      "default (add a default to the reader field)",
                      w->fullname, rf->name, rf->n_aliases ? " (nor any of its aliases)" : "");
        if (add_issue(ck, idx, PB_COMPAT_READER_FIELD_MISSING_DEFAULT_VALUE,
                      fmt_alloc("/fields/%zu", i), rf->name, msg) < 0)
            return -1;
    }
    return 0;
}

static int is_primitive(pb_avro_type_t t) { return t <= PB_AVRO_STRING; }

/* Can a reader primitive read a different writer primitive? Avro's promotions. */
static int promotes(pb_avro_type_t r, pb_avro_type_t w) {
    switch (r) {
    case PB_AVRO_LONG: return w == PB_AVRO_INT;
    case PB_AVRO_FLOAT: return w == PB_AVRO_INT || w == PB_AVRO_LONG;
    case PB_AVRO_DOUBLE: return w == PB_AVRO_INT || w == PB_AVRO_LONG || w == PB_AVRO_FLOAT;
    case PB_AVRO_BYTES: return w == PB_AVRO_STRING;
    case PB_AVRO_STRING: return w == PB_AVRO_BYTES;
    default: return 0;
    }
}

/* Compute pair idx = (r, w). Returns 0 or -1. */
static int calc(checker_t *ck, size_t idx, const pb_schema_node_t *r, const pb_schema_node_t *w) {
    char rd[160], wd[160];
    if (r->type == w->type) {
        switch (r->type) {
        case PB_AVRO_ARRAY:
            return merge(ck, idx, r->items, w->items, "/items", CTX_ITEMS, strdup("[]"));
        case PB_AVRO_MAP:
            return merge(ck, idx, r->items, w->items, "/values", CTX_VALUES, strdup("{}"));
        case PB_AVRO_FIXED:
            if (check_names(ck, idx, r, w) < 0) return -1;
            return check_fixed_size(ck, idx, r, w);
        case PB_AVRO_ENUM:
            if (check_names(ck, idx, r, w) < 0) return -1;
            return check_enum_symbols(ck, idx, r, w);
        case PB_AVRO_RECORD:
            if (check_names(ck, idx, r, w) < 0) return -1;
            return check_fields(ck, idx, r, w);
        case PB_AVRO_UNION:
            /* Every writer branch must be readable by the reader union. Java reports the
             * branch at the reader union's pointer plus the writer branch index. */
            for (size_t i = 0; i < w->n_branches; i++) {
                size_t child;
                int rc = visit(ck, r, w->branches[i], &child);
                if (rc < 0) return -1;
                if (rc == 1) continue;
                describe(w->branches[i], wd, sizeof wd);
                describe(r, rd, sizeof rd);
                char *msg = fmt_alloc("writer union branch %zu (%s) cannot be read by any branch "
                                      "of the reader %s",
                                      i, wd, rd);
                if (add_issue(ck, idx, PB_COMPAT_MISSING_UNION_BRANCH, fmt_alloc("/%zu", i), NULL,
                              msg) < 0)
                    return -1;
            }
            return 0;
        default: return 0; /* primitives */
        }
    }
    if (w->type == PB_AVRO_UNION) {
        /* A non-union reader must read every writer branch; findings are merged. */
        for (size_t i = 0; i < w->n_branches; i++) {
            describe(w->branches[i], wd, sizeof wd);
            if (merge(ck, idx, r, w->branches[i], "", CTX_WRITER_BRANCH,
                      fmt_alloc("writer union branch %zu (%s)", i, wd)) < 0)
                return -1;
        }
        return 0;
    }
    if (r->type == PB_AVRO_UNION) {
        /* Some reader branch must read the writer; what the other branches lack is not news. */
        for (size_t i = 0; i < r->n_branches; i++) {
            size_t child;
            int rc = visit(ck, r->branches[i], w, &child);
            if (rc < 0) return -1;
            if (rc == 1) return 0;
        }
        describe(r, rd, sizeof rd);
        describe(w, wd, sizeof wd);
        return add_issue(ck, idx, PB_COMPAT_MISSING_UNION_BRANCH, strdup(""), NULL,
                         fmt_alloc("no branch of the reader %s can read writer type %s", rd, wd));
    }
    if (is_primitive(r->type) && promotes(r->type, w->type)) return 0;
    return type_mismatch(ck, idx, r, w);
}

/* Check pair (r, w), memoised. *out receives its entry, or NO_ENTRY when the pair is in progress
 * (a recursion, compatible by assumption). Returns 1 compatible, 0 incompatible, -1 failure. */
static int visit(checker_t *ck, const pb_schema_node_t *r, const pb_schema_node_t *w, size_t *out) {
    *out = NO_ENTRY;
    if (ck->failed) return -1;
    size_t idx = table_find(ck, r, w);
    if (idx != NO_ENTRY) {
        if (!ck->entries[idx].done) return 1;
        *out = idx;
        return ck->entries[idx].compatible;
    }
    if (ck->depth >= PB_COMPAT_MAX_DEPTH) {
        ck->failed = PB_ERR_TOO_LARGE;
        return -1;
    }
    idx = table_add(ck, r, w);
    if (idx == NO_ENTRY) return -1;
    ck->depth++;
    int rc = calc(ck, idx, r, w);
    ck->depth--;
    if (rc < 0 || ck->failed) return -1;
    ck->entries[idx].done = 1;
    *out = idx;
    return ck->entries[idx].compatible;
}

/* ---- rendering the report ----------------------------------------------------------------- */

/* Number of incompatibilities under pair idx, saturating at SIZE_MAX / 2. */
static size_t count_issues(checker_t *ck, size_t idx) {
    entry_t *e = &ck->entries[idx];
    if (e->counted) return e->count;
    size_t n = 0;
    for (size_t i = 0; i < e->n_items; i++) {
        size_t c = e->items[i].child == NO_ENTRY ? 1 : count_issues(ck, e->items[i].child);
        n = (n + c > SIZE_MAX / 2) ? SIZE_MAX / 2 : n + c;
    }
    e = &ck->entries[idx];
    e->count = n;
    e->counted = 1;
    return n;
}

typedef struct render {
    checker_t *ck;
    pb_compat_report_t *report;
    pb_compat_dir_t dir;
    int version;
    pb_buf_t ptr;     /* pointer from the reader root */
    pb_buf_t field;   /* field path: "trip.stops[].amount" */
    const char *note; /* context label of the innermost writer-branch edge, when it is the last */
    int failed;
} render_t;

static int report_add(pb_compat_report_t *r, pb_compat_kind_t kind, const char *location,
                      const char *message, pb_compat_dir_t dir, int version) {
    if (r->n_issues >= PB_COMPAT_MAX_ISSUES) {
        r->n_omitted++;
        return 0;
    }
    if (r->n_issues == r->cap_issues) {
        size_t cap = r->cap_issues ? r->cap_issues * 2 : 8;
        pb_compat_issue_t *p = realloc(r->issues, cap * sizeof *p);
        if (!p) return PB_ERR_NOMEM;
        r->issues = p;
        r->cap_issues = cap;
    }
    char *loc = strdup(location);
    char *msg = strdup(message);
    if (!loc || !msg) {
        free(loc);
        free(msg);
        return PB_ERR_NOMEM;
    }
    r->issues[r->n_issues++] = (pb_compat_issue_t){kind, loc, msg, dir, version};
    return 0;
}

/* Append text and keep the buffer NUL-terminated (pb_buf_printf does). Returns 0 or -1. */
static int puts_z(pb_buf_t *b, const char *s) { return pb_buf_printf(b, "%s", s) ? -1 : 0; }

static int append_field(pb_buf_t *b, ctx_t ctx, const char *label) {
    if (ctx == CTX_FIELD) return pb_buf_printf(b, "%s%s", b->len ? "." : "", label) ? -1 : 0;
    if (ctx == CTX_ITEMS || ctx == CTX_VALUES) return puts_z(b, label);
    return 0;
}

static void render_issue(render_t *rd, const item_t *it) {
    size_t ptr_len = rd->ptr.len, field_len = rd->field.len;
    char *message = NULL;
    if (puts_z(&rd->ptr, it->tokens)) goto nomem;
    if (it->field && append_field(&rd->field, CTX_FIELD, it->field)) goto nomem;
    /* An empty buffer may have no data yet. */
    const char *loc = rd->ptr.len ? (const char *)rd->ptr.data : "/";
    const char *path = rd->field.len ? (const char *)rd->field.data : NULL;
    if (path && rd->note)
        message = fmt_alloc("field '%s': %s: %s", path, rd->note, it->text);
    else if (path)
        message = fmt_alloc("field '%s': %s", path, it->text);
    else if (rd->note)
        message = fmt_alloc("%s: %s", rd->note, it->text);
    else
        message = strdup(it->text);
    if (!message) goto nomem;
    if (report_add(rd->report, it->kind, loc, message, rd->dir, rd->version)) goto nomem;
    goto done;
nomem:
    rd->failed = PB_ERR_NOMEM;
done:
    free(message);
    rd->ptr.len = ptr_len;
    rd->field.len = field_len;
    if (rd->ptr.data) rd->ptr.data[ptr_len] = 0;
    if (rd->field.data) rd->field.data[field_len] = 0;
}

static void render(render_t *rd, size_t idx) {
    size_t n_items = rd->ck->entries[idx].n_items;
    for (size_t i = 0; i < n_items && !rd->failed; i++) {
        const item_t *it = &rd->ck->entries[idx].items[i];
        if (rd->report->n_issues >= PB_COMPAT_MAX_ISSUES) {
            size_t c = it->child == NO_ENTRY ? 1 : count_issues(rd->ck, it->child);
            rd->report->n_omitted += c;
            continue;
        }
        if (it->child == NO_ENTRY) {
            render_issue(rd, it);
            continue;
        }
        size_t ptr_len = rd->ptr.len, field_len = rd->field.len;
        const char *note = rd->note;
        if (puts_z(&rd->ptr, it->tokens) || append_field(&rd->field, it->ctx, it->text)) {
            rd->failed = PB_ERR_NOMEM;
            return;
        }
        /* A writer-branch label is shown only for findings right under it. */
        rd->note = it->ctx == CTX_WRITER_BRANCH ? it->text : (it->ctx == CTX_NONE ? note : NULL);
        render(rd, it->child);
        rd->note = note;
        rd->ptr.len = ptr_len;
        rd->field.len = field_len;
        if (rd->ptr.data) rd->ptr.data[ptr_len] = 0;
        if (rd->field.data) rd->field.data[field_len] = 0;
    }
}

/* Check reader against writer and append the findings to report (not reset). Returns 1
 * compatible, 0 incompatible, or a negative PB_ERR_* code. */
static int check_into(const pb_schema_node_t *reader, const pb_schema_node_t *writer,
                      pb_compat_report_t *report, pb_compat_dir_t dir, int version) {
    checker_t ck = {0};
    render_t rd = {0};
    size_t root;
    int rc = visit(&ck, reader, writer, &root);
    if (rc < 0) {
        rc = -(ck.failed ? ck.failed : PB_ERR_INTERNAL);
        goto done;
    }
    if (rc == 0) {
        rd = (render_t){.ck = &ck, .report = report, .dir = dir, .version = version};
        render(&rd, root);
        if (rd.failed) rc = -rd.failed;
    }
done:
    pb_buf_free(&rd.ptr);
    pb_buf_free(&rd.field);
    checker_free(&ck);
    return rc;
}

/* ---- public ------------------------------------------------------------------------------- */

void pb_compat_report_reset(pb_compat_report_t *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_issues; i++) {
        free(r->issues[i].location);
        free(r->issues[i].message);
    }
    free(r->issues);
    memset(r, 0, sizeof *r);
}

static int fail_code(pb_compat_report_t *report, int rc, pb_err_t *err) {
    pb_compat_report_reset(report);
    if (rc == PB_ERR_TOO_LARGE)
        return pb_err_set(err, rc,
                          "schemas too large to compare (more than %d nested or %d "
                          "distinct reader/writer type pairs)",
                          PB_COMPAT_MAX_DEPTH, PB_COMPAT_MAX_PAIRS);
    return pb_err_set(err, rc, "out of memory checking schema compatibility");
}

static size_t total_issues(const pb_compat_report_t *r) { return r->n_issues + r->n_omitted; }

int pb_compat_check(const pb_schema_t *reader, const pb_schema_t *writer,
                    pb_compat_report_t *report, pb_err_t *err) {
    PB_ASSERT(reader && writer && report);
    pb_compat_report_reset(report);
    int rc = check_into(reader->root, writer->root, report, PB_COMPAT_DIR_PAIR, -1);
    if (rc < 0) return fail_code(report, -rc, err);
    report->compatible = rc;
    if (rc) return 0;
    size_t n = total_issues(report);
    if (report->n_issues)
        return pb_err_set(err, PB_ERR_INCOMPATIBLE, "%zu incompatibilit%s; first at %s: %s", n,
                          n == 1 ? "y" : "ies", report->issues[0].location,
                          report->issues[0].message);
    return pb_err_set(err, PB_ERR_INCOMPATIBLE, "incompatible");
}

int pb_compat_check_level(pb_compat_level_t level, const pb_schema_t *candidate,
                          const pb_schema_t *const *versions, size_t n_versions,
                          pb_compat_report_t *report, pb_err_t *err) {
    PB_ASSERT(candidate && report && (versions || !n_versions));
    pb_compat_report_reset(report);
    if ((int)level < 0 || level >= PB_COMPAT__LEVEL_COUNT)
        return pb_err_set(err, PB_ERR_INVALID, "unknown compatibility level %d", (int)level);
    report->compatible = 1;
    if (level == PB_COMPAT_NONE || n_versions == 0) return 0;
    int backward = level == PB_COMPAT_BACKWARD || level == PB_COMPAT_BACKWARD_TRANSITIVE ||
                   level == PB_COMPAT_FULL || level == PB_COMPAT_FULL_TRANSITIVE;
    int forward = level == PB_COMPAT_FORWARD || level == PB_COMPAT_FORWARD_TRANSITIVE ||
                  level == PB_COMPAT_FULL || level == PB_COMPAT_FULL_TRANSITIVE;
    int transitive = level == PB_COMPAT_BACKWARD_TRANSITIVE ||
                     level == PB_COMPAT_FORWARD_TRANSITIVE || level == PB_COMPAT_FULL_TRANSITIVE;
    size_t stop = transitive ? 0 : n_versions - 1;
    int first_version = -1;
    pb_compat_dir_t first_dir = PB_COMPAT_DIR_PAIR;
    size_t first_issue = 0;
    /* Newest first, as Confluent checks, so the first failure named is the most recent one. */
    for (size_t v = n_versions; v-- > stop;) {
        PB_ASSERT(versions[v]);
        for (int d = 0; d < 2; d++) {
            pb_compat_dir_t dir = d == 0 ? PB_COMPAT_DIR_BACKWARD : PB_COMPAT_DIR_FORWARD;
            if ((d == 0 && !backward) || (d == 1 && !forward)) continue;
            size_t before = report->n_issues;
            int rc = dir == PB_COMPAT_DIR_BACKWARD
                         ? check_into(candidate->root, versions[v]->root, report, dir, (int)v)
                         : check_into(versions[v]->root, candidate->root, report, dir, (int)v);
            if (rc < 0) return fail_code(report, -rc, err);
            if (rc == 0 && first_version < 0) {
                first_version = (int)v;
                first_dir = dir;
                first_issue = before;
            }
            if (rc == 0) report->compatible = 0;
        }
    }
    if (report->compatible) return 0;
    const char *who = first_dir == PB_COMPAT_DIR_BACKWARD
                          ? "the new schema cannot read data written with it"
                          : "it cannot read data written with the new schema";
    if (first_issue < report->n_issues) {
        const pb_compat_issue_t *is = &report->issues[first_issue];
        return pb_err_set(err, PB_ERR_INCOMPATIBLE,
                          "not %s compatible with version index %d (%s): %zu incompatibilit%s; "
                          "first at %s: %s",
                          pb_compat_level_name(level), first_version, who, total_issues(report),
                          total_issues(report) == 1 ? "y" : "ies", is->location, is->message);
    }
    return pb_err_set(err, PB_ERR_INCOMPATIBLE, "not %s compatible with version index %d (%s)",
                      pb_compat_level_name(level), first_version, who);
}
