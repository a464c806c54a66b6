/*
 * descriptor — data product descriptors (a subset of DPDS 1.0, DESIGN.md §3).
 *
 * Owns: loading and validating one product's descriptor JSON (from a file or from an API body) into
 * a pb_product_t with its ports, resolving schema `$ref`s relative to the descriptor's directory,
 * parsing SLO strings, and a set of products with the cross-product checks (unique product URNs,
 * unique topics) and lookups by URN. Reads files only under the directories it is given.
 * Must not: talk to Kafka or the registry, register schemas, or decide compatibility.
 *
 * Rules the loader enforces (each rejection names the source, the JSON pointer and the reason):
 * - "dataProductDescriptor": a string "1.x.y" (any 1.* version).
 * - info: fullyQualifiedName (a product URN), name (= the URN's product name), version (semantic
 *   version whose major = the URN's major), domain, owner.id — all required strings;
 *   description optional.
 * - interfaceComponents.outputPorts / inputPorts: arrays (either may be absent) of ports. A port
 * has name (required, unique within its kind; an input and an output port may share a name, their
 *   URNs differ), version (default info.version), fullyQualifiedName (optional; must equal the
 *   derived port URN), promises.api {format: "avro" (default), schema (required), keySchema}, an
 *   optional promises.slo and an optional "x-portbroker" object {topic, partitions (1..10000),
 *   compatibility, access (output ports only), eventTimeField, keySchema}. Input ports may have
 *   "from": an output-port URN or short form.
 * - schema / keySchema: inline JSON (object, string or array) or {"$ref": "file.avsc"} naming a
 *   file under the descriptor's directory (relative, no "..", not through a symlink out of it),
 *   at most PB_SCHEMA_MAX_BYTES; either way a valid Avro schema (schema.c's rules). Errors inside
 *   an inline schema continue the descriptor's pointer (".../api/schema/fields/2/type"); errors
 *   inside a referenced file name the file and the pointer in it.
 * - access default: ["urn:dpds:{the product's namespace}:dataproducts:*"] (every product of the
 *   same namespace).
 * - A product's namespace is the one in its fullyQualifiedName and may differ from the mesh's;
 *   the mesh (default) namespace only resolves short forms in "from".
 * - Topics: every port topic and dead-letter topic is unique within the product and, in a set,
 *   across products.
 * - Unknown members anywhere are kept in the JSON and ignored; unknown SLO keys too.
 */
#ifndef PB_DESCRIPTOR_H
#define PB_DESCRIPTOR_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "err.h"
#include "schema.h"

#define PB_DESCRIPTOR_MAX_BYTES (1024 * 1024) /* a descriptor file */
#define PB_DESCRIPTOR_MAX_PORTS 1000          /* ports of one kind in one product */
#define PB_DESCRIPTOR_PARTITIONS_MAX 10000
#define PB_DESCRIPTOR_DEFAULT_COMPAT "BACKWARD"

/* Service level objectives of a port; a has_* flag is 0 when the descriptor does not state it. */
typedef struct pb_slo {
    int has_freshness;
    int64_t freshness_ms; /* "5m" -> 300000; > 0 */
    int has_throughput_min;
    double throughput_min_per_s; /* "600/m" -> 10.0; > 0 */
    int has_rejects_max;
    double rejects_max_ratio; /* "0.1%" -> 0.001; 0..1 */
} pb_slo_t;

struct pb_product;

typedef struct pb_port {
    pb_port_kind_t kind;
    char *name;
    char *fqn;      /* port URN */
    pb_addr_t addr; /* the same, parsed */
    char *version;
    char *topic;     /* derived, or x-portbroker.topic */
    char *dlq_topic; /* {topic}.dlq */
    char *subject;   /* {topic}-value */
    int partitions;
    char *compatibility;     /* one of NONE, BACKWARD(_TRANSITIVE), FORWARD(_TRANSITIVE),
                                FULL(_TRANSITIVE) */
    json_t *schema;          /* Avro schema JSON, $ref resolved; one reference owned; NULL once
                              * pb_product_compact made it text: read it with pb_port_schema_json */
    pb_schema_t *parsed;     /* the same, parsed and validated (pb_schema_parse_json); owned */
    json_t *key_schema;      /* NULL when the key is raw string/bytes (or compacted); owned */
    char *schema_text;       /* after pb_product_compact: schema as compact JSON text */
    char *key_schema_text;   /* after pb_product_compact: key_schema so, NULL without one */
    pb_schema_t *key_parsed; /* parsed key_schema or NULL; owned */
    pb_slo_t slo;
    char **access; /* output ports: product URN patterns (pb_addr_match); input ports: none */
    size_t n_access;
    char *event_time_field; /* NULL when absent; a top-level field of the record schema whose type
                             * is long (timestamp-millis/-micros or plain millis) or string (RFC
                             * 3339), or a union of null and one of those */
    char *from;             /* input ports: canonical output-port URN, or NULL */
    char *pointer; /* JSON pointer of the port in the descriptor ("/interfaceComponents/...") */
    struct pb_product *product; /* back pointer to the owner */
} pb_port_t;

typedef struct pb_product {
    char *fqn;      /* product URN */
    pb_addr_t addr; /* the same, parsed */
    char *ns;
    char *name;
    unsigned major;
    char *version;
    char *domain;
    char *owner;       /* info.owner.id */
    char *description; /* NULL when absent */
    char *source;      /* file path or the caller's source name, for messages */
    json_t *json;      /* the descriptor as given (unknown members kept); one reference owned;
                        * NULL once pb_product_compact made it text: read it with pb_product_json */
    char *json_text;   /* after pb_product_compact: the same as compact JSON text; else NULL */
    pb_port_t *outputs;
    size_t n_outputs;
    pb_port_t *inputs;
    size_t n_inputs;
} pb_product_t;

/* A set of products with unique URNs and unique topics (ports' and dead-letter topics). */
typedef struct pb_descriptor_set {
    pb_product_t **products; /* owned, in insertion order (load_dir: sorted by file name) */
    size_t n_products, cap_products;
} pb_descriptor_set_t;

/*
 * Validate a descriptor given as JSON. json is borrowed; the product keeps a new reference to it,
 * so the caller must not modify it afterwards. base_dir is the directory `$ref`s are resolved
 * against; NULL makes any `$ref` an error (descriptors PUT through the API). source_name names the
 * descriptor in messages (NULL: "(inline)"). default_ns resolves short forms in "from" (may be
 * NULL); default_partitions (1..10000) applies to ports without x-portbroker.partitions.
 * On success *out gets a new product (caller owns; pb_product_destroy). On failure returns
 * PB_ERR_INVALID (PB_ERR_TOO_LARGE for an oversized schema file) and err reads
 * "descriptor {source}: {json pointer}: {reason}".
 */
int pb_descriptor_parse(const json_t *json, const char *base_dir, const char *source_name,
                        const char *default_ns, int default_partitions, pb_product_t **out,
                        pb_err_t *err);

/* Read and validate a descriptor file; `$ref`s resolve against the file's directory. Returns as
 * pb_descriptor_parse, and PB_ERR_IO / PB_ERR_NOT_FOUND / PB_ERR_TOO_LARGE for the file itself,
 * PB_ERR_INVALID with line and column when it is not JSON. */
int pb_descriptor_load_file(const char *path, const char *default_ns, int default_partitions,
                            pb_product_t **out, pb_err_t *err);

/* Free a product and its ports. NULL is a no-op. */
void pb_product_destroy(pb_product_t *p);

/* Keep p's descriptor and its ports' schema and key_schema as compact JSON text instead of
 * jansson trees (for products held long and read rarely: the trees of a small descriptor are
 * ~8 kB, its text ~1 kB). The parsed schemas stay. Idempotent. Returns 0, or PB_ERR_NOMEM with p
 * unchanged. */
int pb_product_compact(pb_product_t *p);

/* A port's schema (key: its key schema) as given: a new reference (parsed from the text once
 * compacted), or NULL when out of memory or, for key, when the port has no key schema. */
json_t *pb_port_schema_json(const pb_port_t *port, int key);

/* Does the port have a key schema (tree or text)? */
int pb_port_has_key_schema(const pb_port_t *port);

/* p's descriptor as given: a new reference (a tree parsed from the text once compacted, equal to
 * the one given to pb_descriptor_parse), or NULL when out of memory. */
json_t *pb_product_json(const pb_product_t *p);

/* A port of p by kind and name, or NULL. */
const pb_port_t *pb_product_port(const pb_product_t *p, pb_port_kind_t kind, const char *name);

/* ---- SLO strings (exposed for the config and API modules and for tests) ---- */

/* "500ms", "30s", "5m", "1h", "1d": a positive integer and a unit, at most 3650d. Returns 0 or
 * PB_ERR_INVALID ("'5 minutes' is not a duration (use e.g. 500ms, 30s, 5m, 1h)"). */
int pb_descriptor_parse_duration(const char *s, int64_t *ms, pb_err_t *err);

/* "10/s", "600/m", "1/h", "24/d", "0.5/s": a positive decimal number per unit; *per_s per second.
 */
int pb_descriptor_parse_rate(const char *s, double *per_s, pb_err_t *err);

/* "0.1%", "5%", "100%": a decimal percentage 0..100; *ratio = percentage / 100. */
int pb_descriptor_parse_percent(const char *s, double *ratio, pb_err_t *err);

/* Is s one of the seven compatibility levels (exact, upper case)? 1 or 0. */
int pb_descriptor_compat_valid(const char *s);

/* ---- Sets ---- */

/* A new empty set (caller owns; pb_descriptor_set_destroy), or NULL when out of memory. */
pb_descriptor_set_t *pb_descriptor_set_new(void);

/* Add a product. Takes ownership of p on every path (freed on failure). Fails with
 * PB_ERR_CONFLICT when the product URN is already in the set or one of its topics (port or
 * dead-letter) is already used by another port, naming both. */
int pb_descriptor_set_add(pb_descriptor_set_t *set, pb_product_t *p, pb_err_t *err);

/* Add p, or replace the product with the same URN (the API's PUT). Takes ownership of p on every
 * path. Topics are checked against every other product. On success *replaced gets the product
 * that was replaced (caller owns; NULL when p is new). Fails with PB_ERR_CONFLICT on a topic clash,
 * leaving the set unchanged. */
int pb_descriptor_set_put(pb_descriptor_set_t *set, pb_product_t *p, pb_product_t **replaced,
                          pb_err_t *err);

/* Take the product with this URN out of the set: returns it (caller owns) or NULL. */
pb_product_t *pb_descriptor_set_remove(pb_descriptor_set_t *set, const char *urn);

/* Load every "*.json" file directly in dir (not hidden ones), sorted by name, into a new set.
 * On success *out gets the set (caller owns). On failure nothing is returned and err names the
 * first bad file. */
int pb_descriptor_load_dir(const char *dir, const char *default_ns, int default_partitions,
                           pb_descriptor_set_t **out, pb_err_t *err);

/* Lookups by canonical URN (borrowed results, valid while the set lives), or NULL. */
const pb_product_t *pb_descriptor_set_product(const pb_descriptor_set_t *set, const char *urn);
const pb_port_t *pb_descriptor_set_port(const pb_descriptor_set_t *set, const char *urn);

/* Free a set and its products. NULL is a no-op. */
void pb_descriptor_set_destroy(pb_descriptor_set_t *set);

#endif
