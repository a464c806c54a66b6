/*
 * schema — portbroker's own Avro schema model.
 *
 * Owns: parsing and validating Avro schema JSON into an immutable graph of nodes, Parsing
 * Canonical Form, and the CRC-64-AVRO (Rabin) fingerprint. Pure: no I/O, no Kafka, no avro-c.
 * Must not: decide compatibility (compat.c) or touch data (codec.c).
 *
 * A parsed schema is a graph: a reference to a named type points at the node that defined it, so
 * recursive schemas are cycles. Every node is owned by the pb_schema_t that parsed it and freed by
 * pb_schema_destroy; nodes are never shared between schemas. A parsed schema is immutable and may
 * be read from any thread.
 */
#ifndef PB_SCHEMA_H
#define PB_SCHEMA_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef enum {
    PB_AVRO_NULL = 0,
    PB_AVRO_BOOLEAN,
    PB_AVRO_INT,
    PB_AVRO_LONG,
    PB_AVRO_FLOAT,
    PB_AVRO_DOUBLE,
    PB_AVRO_BYTES,
    PB_AVRO_STRING,
    PB_AVRO_RECORD, /* also "error" */
    PB_AVRO_ENUM,
    PB_AVRO_ARRAY,
    PB_AVRO_MAP,
    PB_AVRO_UNION,
    PB_AVRO_FIXED,
} pb_avro_type_t;

/* Logical types we know and validate. An unknown or invalid logicalType is ignored (as the
 * spec says) and the node keeps PB_LOGICAL_NONE; its name stays in logical_name. */
typedef enum {
    PB_LOGICAL_NONE = 0,
    PB_LOGICAL_DECIMAL,                /* bytes or fixed; precision, scale */
    PB_LOGICAL_UUID,                   /* string (or fixed 16) */
    PB_LOGICAL_DATE,                   /* int */
    PB_LOGICAL_TIME_MILLIS,            /* int */
    PB_LOGICAL_TIME_MICROS,            /* long */
    PB_LOGICAL_TIMESTAMP_MILLIS,       /* long */
    PB_LOGICAL_TIMESTAMP_MICROS,       /* long */
    PB_LOGICAL_LOCAL_TIMESTAMP_MILLIS, /* long */
    PB_LOGICAL_LOCAL_TIMESTAMP_MICROS, /* long */
    PB_LOGICAL_DURATION,               /* fixed 12 */
} pb_logical_t;

typedef struct pb_schema_node pb_schema_node_t;

/* Field sort order ("order" attribute). */
typedef enum { PB_ORDER_ASCENDING = 0, PB_ORDER_DESCENDING, PB_ORDER_IGNORE } pb_order_t;

typedef struct pb_schema_field {
    char *name;
    char **aliases; /* field aliases (plain names) */
    size_t n_aliases;
    char *doc; /* NULL when absent; may hold U+0000: doc_len bytes */
    size_t doc_len;
    pb_schema_node_t *type; /* borrowed from the owning schema */
    json_t *default_value;  /* NULL when the field has no default; owned (one reference) */
    pb_order_t order;
    size_t index; /* position in the record */
    /* Added by schema.c (additions only): */
    json_t *props; /* other attributes of the field object (not name, type, doc, default,
                    * order, aliases), NULL when none; owned. Kept for to_json. */
    char *pointer; /* JSON pointer of the field object ("/fields/2") */
} pb_schema_field_t;

struct pb_schema_node {
    pb_avro_type_t type;

    /* Named types (record, enum, fixed): fullname = namespace + "." + name (or just name). */
    char *fullname;
    char *name;       /* unqualified */
    char *namespace_; /* NULL or "" when in the null namespace */
    char **aliases;   /* fully qualified aliases */
    size_t n_aliases;
    char *doc; /* NULL when absent; may hold U+0000: doc_len bytes */
    size_t doc_len;

    /* Logical type annotation (any node). */
    pb_logical_t logical;
    char *logical_name; /* as written, NULL when absent */
    int precision;      /* decimal */
    int scale;          /* decimal */

    /* record */
    pb_schema_field_t *fields;
    size_t n_fields;

    /* enum */
    char **symbols;
    size_t n_symbols;
    int enum_default; /* index into symbols, -1 when absent */

    /* array items / map values */
    pb_schema_node_t *items;

    /* union */
    pb_schema_node_t **branches;
    size_t n_branches;

    /* fixed */
    size_t size;

    /* JSON pointer of the node's definition in the source document ("" for the root), for error
     * messages ("/fields/3/type"). */
    char *pointer;

    /* Added by schema.c (additions only): */
    int is_error;   /* record declared as "error" (canonical form says "record") */
    int predefined; /* named type brought in from a predefined schema (pb_schema_parse_refs) */
    json_t *props;  /* other attributes ("logicalType", "precision", "connect.name"...), as Java
                     * keeps them; NULL when none; owned. Kept for to_json. */
};

/* A parsed schema. root is the top node; all nodes are owned here. */
typedef struct pb_schema {
    pb_schema_node_t *root;
    /* Private to schema.c below this line. */
    pb_schema_node_t **nodes;
    size_t n_nodes, cap_nodes;
    char *canonical; /* Parsing Canonical Form, computed at parse */
    size_t canonical_len;
    uint64_t fingerprint; /* CRC-64-AVRO of canonical */
    void *names;          /* fullname -> named node table */
} pb_schema_t;

/* Limits on what a schema may be; a bigger one is rejected with PB_ERR_TOO_LARGE. */
#define PB_SCHEMA_MAX_BYTES (1024 * 1024) /* schema JSON text */
#define PB_SCHEMA_MAX_DEPTH 64            /* nesting of type definitions */
#define PB_SCHEMA_MAX_NODES 10000

/*
 * Parse and validate schema JSON text (any JSON value: "string", {...}, [...]).
 * Validation is as strict as Apache Avro Java's Schema.Parser with default validation on: names,
 * duplicates, redefinitions, unknown type names, defaults against their types (a union default
 * matches the first branch), enum defaults, nested unions, duplicate union branches, fixed size.
 * On success *out receives a new schema (caller owns; pb_schema_destroy). On failure returns
 * PB_ERR_INVALID (or PB_ERR_TOO_LARGE) and err says "at /fields/2/type: reason".
 */
int pb_schema_parse(const char *text, size_t len, pb_schema_t **out, pb_err_t *err);

/* Same, from a jansson value (borrowed). */
int pb_schema_parse_json(const json_t *json, pb_schema_t **out, pb_err_t *err);

/*
 * Parse with predefined names (Schema Registry references): a type name the text does not define
 * resolves, as names resolve in the text, to the named type of that name in predef[0..n_predef)
 * (borrowed parsed schemas; the first that defines it wins). Its definition becomes part of the
 * result as if the text had written it there (the graph is self-contained: compat and the codec
 * see every named type), and the named types brought in are marked predefined, so
 * pb_schema_to_json_own writes them back as names. Canonical form and fingerprint are those of the
 * resolved schema. Otherwise as pb_schema_parse; predef NULL / 0 is pb_schema_parse.
 */
int pb_schema_parse_refs(const char *text, size_t len, const pb_schema_t *const *predef,
                         size_t n_predef, pb_schema_t **out, pb_err_t *err);
int pb_schema_parse_json_refs(const json_t *json, const pb_schema_t *const *predef, size_t n_predef,
                              pb_schema_t **out, pb_err_t *err);

/* Free a schema and every node. NULL is a no-op. */
void pb_schema_destroy(pb_schema_t *s);

/* Parsing Canonical Form (NUL-terminated, owned by s), exactly as the spec defines it (names
 * written as fullnames, named types in full the first time). For fingerprints and equality, not
 * for storage: like Java's, it writes a null-namespace type defined inside a namespaced one as a
 * bare name, which reads back in the enclosing namespace. Store pb_schema_to_json instead. */
const char *pb_schema_canonical(const pb_schema_t *s);

/* CRC-64-AVRO fingerprint of the canonical form. */
uint64_t pb_schema_fingerprint(const pb_schema_t *s);

/* CRC-64-AVRO (Rabin) of arbitrary bytes, as the Avro spec defines it. */
uint64_t pb_schema_crc64(const void *data, size_t len);

/* "an object", "a string", "an integer"... for messages about a JSON value of the wrong kind. */
const char *pb_schema_json_kind(const json_t *v);

/* Name of a type ("record", "int"...). */
const char *pb_schema_type_name(pb_avro_type_t t);

/* The schema back as JSON with everything that matters for readers (docs, defaults, aliases,
 * logical types, order), named types defined once and referenced by full name after; the form we
 * store and serve. Returns a new reference or NULL on out-of-memory. */
json_t *pb_schema_to_json(const pb_schema_t *s);

/* As pb_schema_to_json, but named types brought in from predefined schemas (pb_schema_parse_refs)
 * are written as their full names, never defined: the schema's own text, which parses again with
 * the same predefined schemas. Equal to pb_schema_to_json when nothing was predefined. New
 * reference or NULL on out-of-memory. */
json_t *pb_schema_to_json_own(const pb_schema_t *s);

/* 1 when s holds a named type brought in from a predefined schema, else 0. */
int pb_schema_has_predefined(const pb_schema_t *s);

/* True when a node is a named type. */
static inline int pb_schema_is_named(const pb_schema_node_t *n) {
    return n->type == PB_AVRO_RECORD || n->type == PB_AVRO_ENUM || n->type == PB_AVRO_FIXED;
}

/* The named type (record, enum, fixed) with this full name, or NULL. Borrowed from s. */
/* Do keys of key schema s travel as their raw bytes (DESIGN.md §6)? 1 for NULL and for a plain
 * "string" or "bytes" without a logical type; 0 for any other schema (a record, a long, a uuid
 * string, a decimal), whose keys are its Avro binary. Pure. */
int pb_schema_raw_key(const pb_schema_t *s);

const pb_schema_node_t *pb_schema_lookup(const pb_schema_t *s, const char *fullname);

/* The field of record n called name, or NULL (linear search). Borrowed. */
const pb_schema_field_t *pb_schema_field(const pb_schema_node_t *n, const char *name);

/* Index of symbol in enum n, or -1. */
int pb_schema_symbol_index(const pb_schema_node_t *n, const char *symbol);

/* Does JSON value v (Avro JSON encoding as used in defaults: unions NOT wrapped, value must match
 * the first branch) match node n? Fills err with the path and reason on mismatch. Returns
 * 0/PB_ERR_INVALID. */
int pb_schema_check_default(const pb_schema_node_t *n, const json_t *v, pb_err_t *err);
/*
 * Notes on stored defaults (field->default_value), for the codec:
 * - bytes and fixed defaults are JSON strings whose code points (0-255) are the bytes; checked.
 * - enum defaults are checked against the symbols; fixed defaults against the size.
 * - A float/double field default may be, as Apache Avro Java accepts, a string: the parser turns
 *   "1.5" into the number 1.5 and keeps "NaN", "Infinity" and "-Infinity" as those strings
 *   (JSON has no such numbers). Only at the top of a float/double field's default, not nested.
 * - A record default object may omit fields that have their own default.
 */

#endif
