/*
 * compat — can a reader schema read what a writer schema writes, and does a new schema version
 * keep a subject's compatibility level?
 *
 * Owns: reader/writer compatibility with Apache Avro Java's SchemaCompatibility semantics
 * (promotions, names and aliases, enum symbols and defaults, fixed sizes, field defaults, unions
 * on either side, recursion), the list of every incompatibility with its kind, its location as a
 * JSON pointer into the reader schema and a message, and the Confluent Schema Registry levels
 * (NONE, BACKWARD, FORWARD, FULL and their _TRANSITIVE forms) over a version history.
 * Must not: parse schemas (schema.c), touch data (codec.c), do I/O, or use avro-c's schema
 * matching (it is wrong on enums, unions and aliases).
 *
 * Where we deliberately differ from Java 1.11 (all are about reporting, none changes a verdict):
 *  - locations under a writer union read by a non-union reader are full pointers from the reader
 *    root; Java restarts them at "/" there;
 *  - a reader field missing from the writer, without a default, whose type is an enum with a
 *    default is READER_FIELD_MISSING_DEFAULT_VALUE; Java reports TYPE_MISMATCH (enum vs record);
 *  - a reader field that matches one writer field by name and another by alias takes the one of
 *    the same name; Java throws an exception;
 *  - an incompatible (reader, writer) pair reached at two places is reported at both places.
 * A pure module: every function is safe from any thread on distinct reports.
 */
#ifndef PB_COMPAT_H
#define PB_COMPAT_H

#include <stddef.h>

#include "err.h"
#include "schema.h"

/* Compatibility levels, with Confluent Schema Registry's meaning. */
typedef enum {
    PB_COMPAT_NONE = 0,
    PB_COMPAT_BACKWARD,            /* the new schema reads data written with the latest version */
    PB_COMPAT_BACKWARD_TRANSITIVE, /* ... with every live version */
    PB_COMPAT_FORWARD,             /* the latest version reads data written with the new schema */
    PB_COMPAT_FORWARD_TRANSITIVE,  /* every live version reads it */
    PB_COMPAT_FULL,                /* BACKWARD and FORWARD */
    PB_COMPAT_FULL_TRANSITIVE,     /* BACKWARD_TRANSITIVE and FORWARD_TRANSITIVE */
    PB_COMPAT__LEVEL_COUNT
} pb_compat_level_t;

/* Parse a level name ("BACKWARD", "full_transitive": case does not matter). Returns the level or
 * -1 when s is NULL or names no level. */
int pb_compat_level_parse(const char *s);

/* Upper-case name of a level ("BACKWARD_TRANSITIVE"); "UNKNOWN" for a value out of range. */
const char *pb_compat_level_name(pb_compat_level_t level);

/* Kinds of incompatibility: Java's SchemaIncompatibilityType names. */
typedef enum {
    PB_COMPAT_NAME_MISMATCH = 0,
    PB_COMPAT_FIXED_SIZE_MISMATCH,
    PB_COMPAT_MISSING_ENUM_SYMBOLS,
    PB_COMPAT_READER_FIELD_MISSING_DEFAULT_VALUE,
    PB_COMPAT_TYPE_MISMATCH,
    PB_COMPAT_MISSING_UNION_BRANCH,
    PB_COMPAT__KIND_COUNT
} pb_compat_kind_t;

/* "TYPE_MISMATCH" etc.; "UNKNOWN" for a value out of range. */
const char *pb_compat_kind_name(pb_compat_kind_t kind);

/* Parse a kind name (exact, upper case). Returns the kind or -1. */
int pb_compat_kind_parse(const char *s);

/* Which way a level check read: who was the reader. */
typedef enum {
    PB_COMPAT_DIR_PAIR = 0, /* a plain pb_compat_check: the reader given */
    PB_COMPAT_DIR_BACKWARD, /* the new schema reading data of an old version */
    PB_COMPAT_DIR_FORWARD,  /* an old version reading data of the new schema */
} pb_compat_dir_t;

/* "pair", "backward", "forward". */
const char *pb_compat_dir_name(pb_compat_dir_t dir);

/* One incompatibility. location is a JSON pointer into the READER schema built as Java builds
 * it: "/" for the root, "/fields/3/type/items", "/fields/0" for a field missing its default,
 * ".../name", ".../size", ".../symbols", and for a writer union branch no reader branch can read,
 * the reader union's pointer plus the WRITER branch index. message says which field, what the
 * reader and writer have and what would fix it; it does not repeat the location. */
typedef struct pb_compat_issue {
    pb_compat_kind_t kind;
    char *location; /* owned by the report */
    char *message;  /* owned by the report */
    pb_compat_dir_t dir;
    int version; /* index into the versions given to pb_compat_check_level; -1 for a pair */
} pb_compat_issue_t;

/* Most issues a report lists; more are counted in n_omitted. */
#define PB_COMPAT_MAX_ISSUES 1000

/* The result of a check. A zeroed report is a valid empty one; it owns its issues.
 * compatible is 1 when no incompatibility was found. */
typedef struct pb_compat_report {
    int compatible;
    pb_compat_issue_t *issues;
    size_t n_issues, cap_issues;
    size_t n_omitted; /* incompatibilities found beyond PB_COMPAT_MAX_ISSUES */
} pb_compat_report_t;

/* Free every issue and zero the report (ready for reuse). NULL is a no-op. */
void pb_compat_report_reset(pb_compat_report_t *r);

/*
 * Can `reader` read every datum written with `writer`? Both are borrowed.
 * The report is reset first, then filled: compatible, and every incompatibility (dir PAIR,
 * version -1) in the order found. Returns 0 when compatible; PB_ERR_INCOMPATIBLE when not, with
 * err summarising ("3 incompatibilities; first at /fields/0/type: ..."); PB_ERR_NOMEM; or
 * PB_ERR_TOO_LARGE when the pair graph is beyond the limits below (the report is then empty).
 */
int pb_compat_check(const pb_schema_t *reader, const pb_schema_t *writer,
                    pb_compat_report_t *report, pb_err_t *err);

/* Limits on one check: depth of nested (reader, writer) pairs, and distinct pairs visited. */
#define PB_COMPAT_MAX_DEPTH 2000
#define PB_COMPAT_MAX_PAIRS 250000 /* about 25 MB of bookkeeping at most */

/*
 * May `candidate` be registered after `versions` (the subject's live versions, oldest first,
 * n_versions may be 0) under `level`? Confluent's meaning: BACKWARD checks that the candidate
 * reads the latest version, FORWARD that the latest version reads the candidate, FULL both;
 * the _TRANSITIVE levels check every version instead of the latest; NONE and an empty history
 * are always compatible. Versions are checked newest first and every failing (version,
 * direction) contributes its issues, tagged with the version index and direction.
 * Returns 0, PB_ERR_INCOMPATIBLE (err names the first failing version and direction, e.g.
 * "not BACKWARD compatible with version index 2: the new schema cannot read it: at
 * /fields/1: ..."), PB_ERR_INVALID for a level out of range, PB_ERR_NOMEM or PB_ERR_TOO_LARGE.
 */
int pb_compat_check_level(pb_compat_level_t level, const pb_schema_t *candidate,
                          const pb_schema_t *const *versions, size_t n_versions,
                          pb_compat_report_t *report, pb_err_t *err);

#endif
