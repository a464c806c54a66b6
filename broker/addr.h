/*
 * addr — names and addresses of data products and ports (DESIGN.md §2).
 *
 * Owns: parsing and formatting product and port URNs and their short forms, the rules for
 * namespaces, names and majors, access-list patterns, and the Kafka names derived from a port
 * (topic, dead-letter topic, subject, consumer groups) with their validation. Pure: no I/O, no
 * allocation, no global state. Must not: know descriptors, the registry or Kafka itself.
 *
 * Rules (the contract; every rejection names the input, where and why):
 * - namespace: reverse-DNS, dot-separated labels; a label is 1..63 of [A-Za-z0-9_-], starting and
 *   ending with a letter or digit ("com.acme", "local", "de.my-org.data_team"); at most
 *   PB_ADDR_NS_MAX characters in all.
 * - product and port names: [A-Za-z][A-Za-z0-9_-]*, at most PB_ADDR_NAME_MAX characters.
 * - major: decimal digits, no sign, no leading zero except "0" itself, at most PB_ADDR_MAJOR_MAX.
 * - URNs are case-sensitive and canonical as written:
 * "urn:dpds:{ns}:dataproducts:{product}:{major}" and "...:{major}:outputports:{port}" /
 * "...:inputports:{port}".
 * - short forms: "{product}/{major}", "{ns}/{product}/{major}" for products;
 *   "{product}/{major}/outputports|inputports/{port}",
 * "{ns}/{product}/{major}/outputports|inputports/{port}" for ports. Forms without a namespace take
 * the caller's default namespace.
 * - Kafka topic names: 1..249 of [A-Za-z0-9._-], not "." or "..".
 */
#ifndef PB_ADDR_H
#define PB_ADDR_H

#include <stddef.h>

#include "err.h"

#define PB_ADDR_NS_MAX 128         /* characters in a namespace */
#define PB_ADDR_LABEL_MAX 63       /* characters in one namespace label */
#define PB_ADDR_NAME_MAX 128       /* characters in a product or port name */
#define PB_ADDR_MAJOR_MAX 1000000u /* largest product major */
#define PB_ADDR_TOPIC_MAX 249      /* Kafka's limit on a topic name */
#define PB_ADDR_URN_MAX 512        /* buffer size that holds any valid URN and its NUL */
#define PB_ADDR_KAFKA_NAME_MAX 320 /* buffer size for a topic, subject or group name and NUL */

typedef enum { PB_PORT_OUTPUT = 0, PB_PORT_INPUT = 1 } pb_port_kind_t;

/* A parsed product or port address. Plain value, no heap; copy freely. */
typedef struct pb_addr {
    char ns[PB_ADDR_NS_MAX + 1];
    char product[PB_ADDR_NAME_MAX + 1];
    unsigned major;
    int is_port; /* 0: a product address; 1: a port address (kind and port are set) */
    pb_port_kind_t kind;
    char port[PB_ADDR_NAME_MAX + 1];
} pb_addr_t;

/* Check a namespace / a product or port name / a major given as text against the rules above.
 * `what` names the thing in the message ("product name", "port name"). Return 0 or PB_ERR_INVALID
 * with a message like "product name '9lives': must start with a letter". */
int pb_addr_check_namespace(const char *ns, pb_err_t *err);
int pb_addr_check_name(const char *what, const char *name, pb_err_t *err);
int pb_addr_parse_major(const char *s, unsigned *out, pb_err_t *err);

/* Parse any address: a product or port URN, or a short form (short forms without a namespace use
 * default_ns, which may be NULL: then they are an error). Fills *out. Returns 0 or PB_ERR_INVALID
 * ("port URN 'urn:dpds:x:dataproducts:trip:1:outports:a': segment 6 must be 'outputports' or
 * 'inputports', not 'outports'"). */
int pb_addr_parse(const char *s, const char *default_ns, pb_addr_t *out, pb_err_t *err);

/* Like pb_addr_parse but the address must be a product (pb_addr_parse_product) or a port
 * (pb_addr_parse_port); the other kind is PB_ERR_INVALID with a message saying so. */
int pb_addr_parse_product(const char *s, const char *default_ns, pb_addr_t *out, pb_err_t *err);
int pb_addr_parse_port(const char *s, const char *default_ns, pb_addr_t *out, pb_err_t *err);

/* Build an address from parts, validating each (a product when port is NULL). Returns 0 or
 * PB_ERR_INVALID naming the bad part. */
int pb_addr_make(const char *ns, const char *product, unsigned major, pb_port_kind_t kind,
                 const char *port, pb_addr_t *out, pb_err_t *err);

/* Canonical URN of a (the product's URN for a product address, the port's for a port address) into
 * out (cap bytes, PB_ADDR_URN_MAX always suffices). Returns the length snprintf would write. */
size_t pb_addr_format(const pb_addr_t *a, char *out, size_t cap);

/* URN of the product a port (or product) address belongs to. Returns as pb_addr_format. */
size_t pb_addr_format_product(const pb_addr_t *a, char *out, size_t cap);

/* "outputports" or "inputports"; "output" or "input". */
const char *pb_addr_kind_segment(pb_port_kind_t kind);
const char *pb_addr_kind_name(pb_port_kind_t kind);

/* ---- Access lists ---- */

/* Check an access-list pattern: "*" (every product), an exact product URN, or a prefix of a product
 * URN starting "urn:dpds:" followed by one trailing "*" ("urn:dpds:com.acme:dataproducts:*").
 * Returns 0 or PB_ERR_INVALID. */
int pb_addr_check_pattern(const char *pattern, pb_err_t *err);

/* Does a product URN match a pattern (exact, or prefix when the pattern ends with '*')? 1 or 0.
 * A pattern with a '*' anywhere but the end never matches. */
int pb_addr_match(const char *pattern, const char *product_urn);

/* ---- Kafka names ---- */

/* Validate a Kafka topic name. Returns 0 or PB_ERR_INVALID: "topic 'a b': character ' ' at offset 1
 * is not allowed; Kafka topic names use [A-Za-z0-9._-]". */
int pb_addr_check_topic(const char *topic, pb_err_t *err);

/* Default topic of a port address: "{ns}.{product}.v{major}.{port}" for output ports,
 * "{ns}.{product}.v{major}.in.{port}" for input ports. Writes into out (cap bytes,
 * PB_ADDR_KAFKA_NAME_MAX suffices) and validates the result (length). Returns 0 or PB_ERR_INVALID.
 */
int pb_addr_topic(const pb_addr_t *port, char *out, size_t cap, pb_err_t *err);

/* Dead-letter topic "{topic}.dlq", validated. Returns 0 or PB_ERR_INVALID (too long). */
int pb_addr_dlq_topic(const char *topic, char *out, size_t cap, pb_err_t *err);

/* Schema Registry subject "{topic}-value"; router group "portbroker.route.{input topic}"; HTTP
 * subscriber group "portbroker.sub.{input topic}". Return the length snprintf would write
 * (PB_ADDR_KAFKA_NAME_MAX always suffices for a valid topic). */
size_t pb_addr_subject(const char *topic, char *out, size_t cap);
size_t pb_addr_route_group(const char *input_topic, char *out, size_t cap);
size_t pb_addr_sub_group(const char *input_topic, char *out, size_t cap);

/* ---- Messages ---- */

/* A printable excerpt of untrusted text for an error message: control and non-ASCII bytes as
 * \xNN, cut to about 48 characters with "..." when longer. Writes into buf and returns buf. */
const char *pb_addr_excerpt(const char *s, char *buf, size_t cap);

#endif
