/*
 * registry — the port registry as a deterministic state machine over an event log.
 *
 * Owns: subjects, schema versions, global schema ids, compatibility configs, data products (their
 * descriptors, ports and port subjects) and bindings (input port reads output port), the record
 * format of the registry log (DESIGN.md §4 "Registry state"), applying records to the state, and
 * every query the API needs (Schema Registry semantics, ports, bindings, impact dry runs).
 * Must not: do I/O, talk to Kafka or HTTP, read the clock or a random source, or depend on the
 * instance's configuration: applying a log is a pure function of the log, so every instance that
 * replays the same records reaches the same state, the same ids and the same version numbers.
 * Not thread-safe: the loop thread owns a registry.
 *
 * The log. Every change is one record, a compact JSON object written by the builders below:
 *   {"v":1,"op":"register","req":R,"subject":S,"schema":"<schema JSON text>",
 *    "references":[{"name","subject","version"}]?,"metadata":{...}?,"ruleSet":{...}?,
 *    "id":N?,"version":N?}                      (id, version: explicit, IMPORT mode only)
 *   {"v":1,"op":"mode","req":R,"subject":S|null,"mode":"READONLY"|null,"force":bool} (null: delete)
 *   {"v":1,"op":"delete_version","req":R,"subject":S,"version":N|-1,"permanent":bool}
 *   {"v":1,"op":"delete_subject","req":R,"subject":S,"permanent":bool}
 *   {"v":1,"op":"config","req":R,"subject":S|null,"level":"FULL"|null}   (null level: delete)
 *   {"v":1,"op":"product_put","req":R,"urn":U,"descriptor":{...}}          (normalized, see below)
 *   {"v":1,"op":"product_delete","req":R,"urn":U}
 *   {"v":1,"op":"bind","req":R,"from":OUT_URN,"to":IN_URN,"reader":"<schema JSON>"|null,
 *    "start":"earliest"|"latest"}
 *   {"v":1,"op":"unbind","req":R,"id":N}
 * Any record may also carry "by":PRINCIPAL, the authenticated principal that made the change
 * (pb_registry_record_stamp; DESIGN.md §9 audit). Records without it (older logs, descriptors
 * loaded from products.dir) apply the same; applying never reads it.
 * R is the writer's request id (any string up to PB_REGISTRY_REQ_MAX bytes, e.g. a UUID): the
 * writing instance finds its own record by it when it reads the log back. A record whose "v" is
 * newer than PB_REGISTRY_RECORD_VERSION, whose op is unknown, or that is malformed is skipped:
 * the state does not change and the result says why (the caller logs it).
 *
 * Semantics (Confluent Schema Registry's where it has them):
 * - Ids are global integers from 1 in log order; the same schema (equal pb_schema_to_json compact
 *   text) always gets the same id, under any subject, also after its versions were deleted.
 * - Versions count from 1 per subject: max(existing version, soft-deleted included) + 1, so they
 *   keep counting after soft deletes and restart below a permanently deleted maximum (as
 * Confluent).
 * - Registering a schema already live under the subject returns its id and version with no check.
 *   Registering a schema equal to a soft-deleted version makes a new version with the same id and
 *   permanently removes the older soft-deleted versions of that id (as Confluent).
 * - Otherwise the candidate is checked against the subject's live versions with the subject's
 *   level (else the global one, default BACKWARD) by pb_compat_check_level, and, when the subject
 *   is an output port's subject, whatever its level (NONE included), against the reader schema of
 *   every binding of that port (the subscriber must still read it). 409 lists every
 *   incompatibility and names the subscribers; pb_registry_impact gives the same verdict.
 * - A declared port's subject (output or input port) and its versions cannot be deleted, soft or
 *   permanent: 409 / 40910 naming the port, its product and its subscribers (DESIGN §5). After
 *   the product is deleted its subjects are ordinary subjects again.
 * - A binding (bind, or "from" in product_put) to an output port with no live version is refused
 *   with 409 / 40911: a reader checked against nothing would be a rogue binding.
 * - Permanent deletes need a prior soft delete (40407 for a version, 40405 for a subject). A
 *   permanent delete that leaves a subject without versions also removes its subject config.
 * - product_put stores a product: every port's declared schema is registered under the port's
 *   subject (checked as above, with the level the descriptor's x-portbroker.compatibility states,
 *   which also becomes the subject config), each input port with "from" becomes a binding (checked
 *   against every live writer version of the output port when that port is known), all or
 *   nothing. Topics must not collide with another product's. A descriptor equal to the stored one
 *   is a no-op.
 * - bind checks the reader against every live writer version of the output port (409 naming the
 *   first failing version), registers the reader schema under the input port's subject, and
 *   checks the output port's access list against the input port's product (403). Idempotent on
 *   (from, to): a second bind replaces the reader and start and answers 200 instead of 201.
 * - product_delete refuses (409) while other products' input ports are bound to its output ports;
 *   it removes the product and the bindings of its input ports; subjects and versions stay.
 * - Modes (Confluent's): READWRITE (default), READONLY, IMPORT; global and per subject (a subject's
 *   own mode, else the global one). Registering a schema already live under the subject returns
 *   it in any mode. Otherwise READONLY refuses every write to the subject (register, deletes,
 *   config, a product's new versions) with 42205; IMPORT takes registrations only with an
 *   explicit id (and optionally version), without compatibility checks, keeping the id (an id
 *   already holding another schema: 42205); READWRITE takes registrations only without an id.
 *   Setting IMPORT where the mode in scope is not IMPORT needs the subject (global: every subject)
 *   to have no live version, unless force; it then removes the soft-deleted versions there
 *   permanently (refused with 42206 when something references one), as Confluent does.
 * - References (Avro): a register record's references name (subject, version)s whose schemas'
 *   named types the schema uses without defining them (pb_schema_parse_refs): its parse, checks
 *   and the codec see them. A version referenced by a live version cannot be soft-deleted, nor by
 *   any version permanently deleted (42206). A schema's identity (its id) is its text plus its
 *   references, metadata and ruleSet, as Confluent's. metadata and ruleSet are stored as given;
 *   a registration without them (outside IMPORT) takes those of the subject's latest version.
 * Out of memory while applying aborts the process (as Redis does): a half-applied record would
 * silently fork this instance's history from the others'; a restart replays the log.
 */
#ifndef PB_REGISTRY_H
#define PB_REGISTRY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "compat.h"
#include "descriptor.h"
#include "err.h"
#include "schema.h"

#define PB_REGISTRY_RECORD_VERSION 1

/* Limits (the embedded Kafka keeps about 5 MiB per partition and does not compact, so records
 * stay small). Beyond a limit a write fails with 422 / 42205 (42209 for a schema), nothing changes.
 */
#define PB_REGISTRY_MAX_RECORD_BYTES (512 * 1024) /* one log record (builders refuse larger) */
#define PB_REGISTRY_MAX_SCHEMA_BYTES (128 * 1024) /* a schema's compact JSON text */
#define PB_REGISTRY_MAX_SUBJECTS 10000            /* subjects with versions or a config */
#define PB_REGISTRY_MAX_VERSIONS 2000  /* versions of one subject, soft-deleted included */
#define PB_REGISTRY_MAX_SCHEMAS 100000 /* distinct schemas (ids) */
#define PB_REGISTRY_MAX_PRODUCTS 10000
#define PB_REGISTRY_MAX_BINDINGS 10000
#define PB_REGISTRY_SUBJECT_MAX 255 /* bytes in a subject name */
#define PB_REGISTRY_REQ_MAX 64      /* bytes in a request id */

/* Confluent Schema Registry error codes (the body's "error_code"). The registry only names the
 * outcome; the HTTP layer chooses the status (pb_sr_http_status: code / 100 for the five-digit
 * ones). */
#define PB_SR_SUBJECT_NOT_FOUND 40401
#define PB_SR_VERSION_NOT_FOUND 40402
#define PB_SR_SCHEMA_NOT_FOUND 40403
#define PB_SR_SUBJECT_SOFT_DELETED 40404
#define PB_SR_SUBJECT_NOT_SOFT_DELETED 40405
#define PB_SR_VERSION_SOFT_DELETED 40406
#define PB_SR_VERSION_NOT_SOFT_DELETED 40407
#define PB_SR_SUBJECT_CONFIG_NOT_FOUND 40408
#define PB_SR_INCOMPATIBLE 409 /* Confluent until 2025 (newest: 40901); HTTP 409 */
/* portbroker's own 409 codes (Confluent-style five digits, HTTP 409): */
#define PB_SR_PORT_PROTECTED 40910 /* delete of a declared port's subject or version */
#define PB_SR_PORT_NO_SCHEMA 40911 /* bind to an output port with no live schema version */
#define PB_SR_INVALID_SCHEMA 42201
#define PB_SR_INVALID_VERSION 42202
#define PB_SR_INVALID_LEVEL 42203
#define PB_SR_INVALID_MODE 42204
#define PB_SR_NOT_PERMITTED 42205 /* also: a registry limit reached */
#define PB_SR_REFERENCE_EXISTS 42206
#define PB_SR_INVALID_SUBJECT 42208
#define PB_SR_SCHEMA_TOO_LARGE 42209
#define PB_SR_INVALID_RULESET 42210
#define PB_SR_SUBJECT_MODE_NOT_FOUND 40409
#define PB_SR_STORE_ERROR 50001
/* Codes of the portbroker API (not Confluent's), used by product and binding ops. */
#define PB_SR_NOT_FOUND 404 /* product, port or binding not found */
#define PB_SR_FORBIDDEN 403 /* the output port's access list does not admit the subscriber */
#define PB_SR_CONFLICT 409  /* topic collision, product still subscribed */
#define PB_SR_INVALID 422   /* invalid descriptor or binding */

typedef enum {
    PB_REGISTRY_OP_NONE = 0, /* the record could not be read */
    PB_REGISTRY_OP_REGISTER,
    PB_REGISTRY_OP_DELETE_VERSION,
    PB_REGISTRY_OP_DELETE_SUBJECT,
    PB_REGISTRY_OP_CONFIG,
    PB_REGISTRY_OP_PRODUCT_PUT,
    PB_REGISTRY_OP_PRODUCT_DELETE,
    PB_REGISTRY_OP_BIND,
    PB_REGISTRY_OP_UNBIND,
    PB_REGISTRY_OP_MODE,
} pb_registry_op_t;

/* Registry modes (Confluent's; READONLY_OVERRIDE and FORWARD are not served). */
typedef enum {
    PB_REGISTRY_READWRITE = 0,
    PB_REGISTRY_READONLY,
    PB_REGISTRY_IMPORT,
    PB_REGISTRY__MODE_COUNT
} pb_registry_mode_t;

/* "READWRITE", "READONLY", "IMPORT"; and back (any case), -1 when not a mode. */
const char *pb_registry_mode_name(int mode);
int pb_registry_mode_parse(const char *name);

/* "register", "delete_version", ... ("none" for PB_REGISTRY_OP_NONE). */
const char *pb_registry_op_name(pb_registry_op_t op);

typedef struct pb_registry pb_registry_t;

/* A new empty registry (global level BACKWARD), or NULL when out of memory. Caller owns. */
pb_registry_t *pb_registry_new(void);

/* Free a registry and everything it holds. NULL is a no-op. */
void pb_registry_destroy(pb_registry_t *r);

/* ---- Record builders -----------------------------------------------------------------------
 * Each appends one record's JSON text to *out (NUL kept after data[len]) for the caller to write
 * to the registry topic, with request id req (1..PB_REGISTRY_REQ_MAX bytes). They validate what
 * can be validated without the state and return 0, or on failure a Confluent code (above) with err
 * saying why; out is then unchanged. Schemas are parsed and stored in pb_schema_to_json compact
 * form, so the record is the normalized schema, whatever whitespace the client sent. */

/* Register schema text (len bytes) under subject. 42201 invalid schema (the parser's pointer and
 * reason), 42209 too large, 42208 invalid subject. */
int pb_registry_record_register(pb_buf_t *out, const char *req, const char *subject,
                                const char *schema, size_t len, pb_err_t *err);

/* What a registration carries beside the schema (all optional; zero it). The JSON values are
 * borrowed and validated by the builder: references an array of {"name": string, "subject":
 * string, "version": 1..2^31-1 or -1 (the latest, resolved against r)}, metadata an object
 * ({"tags": {path: [string]}, "properties": {k: string}, "sensitive": [string]}), ruleSet an
 * object ({"migrationRules"|"domainRules"|"encodingRules": [rule]}, a rule {"name", "type", "kind":
 * TRANSFORM|CONDITION, "mode": ..., ...} as Confluent validates it). id / version > 0: explicit
 * (IMPORT mode). */
typedef struct pb_registry_reg_opts {
    const json_t *references;
    const json_t *metadata;
    const json_t *rule_set;
    int id;
    int version;
} pb_registry_reg_opts_t;

/* pb_registry_record_register with opts (NULL: none). r (may be NULL) resolves references so
 * the schema is parsed and normalized with them: 42201 names a reference that does not exist or
 * a type the schema uses and no reference defines; 42210 an invalid ruleSet; 42201 bad metadata
 * or references (the JSON path and why). Without r a schema with references is stored as sent and
 * checked when applied. */
int pb_registry_record_register_ex(pb_buf_t *out, const pb_registry_t *r, const char *req,
                                   const char *subject, const char *schema, size_t len,
                                   const pb_registry_reg_opts_t *opts, pb_err_t *err);

/* Set (mode >= 0) or delete (mode < 0) the mode of subject, or the global one (subject NULL;
 * deleting it resets it to READWRITE). force: set IMPORT although versions exist. */
int pb_registry_record_mode(pb_buf_t *out, const char *req, const char *subject, int mode,
                            int force, pb_err_t *err);

/* Delete version (1..2^31-1, or -1 for the latest) of subject, softly or permanently. */
int pb_registry_record_delete_version(pb_buf_t *out, const char *req, const char *subject,
                                      int version, int permanent, pb_err_t *err);

/* Delete every version of subject, softly or permanently. */
int pb_registry_record_delete_subject(pb_buf_t *out, const char *req, const char *subject,
                                      int permanent, pb_err_t *err);

/* Set (level >= 0) or delete (level < 0) the compatibility level of subject, or the global one
 * when subject is NULL (deleting the global level resets it to BACKWARD). */
int pb_registry_record_config(pb_buf_t *out, const char *req, const char *subject, int level,
                              pb_err_t *err);

/* Store product p (borrowed): its descriptor JSON with every schema inlined ($ref resolved), each
 * "from" in canonical URN form and x-portbroker.partitions explicit, so applying it depends on
 * nothing but the record. 42201 when a port's schema is not valid Avro (naming the port). */
int pb_registry_record_product_put(pb_buf_t *out, const char *req, const pb_product_t *p,
                                   pb_err_t *err);

/* Remove product urn. */
int pb_registry_record_product_delete(pb_buf_t *out, const char *req, const char *urn,
                                      pb_err_t *err);

/* Bind input port `to` to output port `from` (URNs, canonical) with a reader schema (text of
 * reader_len bytes; NULL: the input port's declared schema) and start "earliest" or "latest"
 * (NULL: "latest"). 422 for a bad URN or start, 42201 for a bad reader schema. */
int pb_registry_record_bind(pb_buf_t *out, const char *req, const char *from, const char *to,
                            const char *reader, size_t reader_len, const char *start,
                            pb_err_t *err);

/* Remove binding id. */
int pb_registry_record_unbind(pb_buf_t *out, const char *req, int id, pb_err_t *err);

/* Copy record (len bytes, as a builder above wrote it) into out with "by":principal added (or
 * replaced). Returns 0, or PB_SR_STORE_ERROR when the record is not a JSON object / out of memory
 * (err says which). Pure. */
int pb_registry_record_stamp(const void *record, size_t len, const char *principal, pb_buf_t *out,
                             pb_err_t *err);

/* Is product p (borrowed) already stored with exactly this descriptor (after the normalization
 * product_put does)? 1 or 0. Lets the caller skip writing an unchanged product at start. */
int pb_registry_product_unchanged(const pb_registry_t *r, const pb_product_t *p);

/* ---- Applying the log ---------------------------------------------------------------------- */

/* What applying one record did. Zero it before first use; pb_registry_apply resets it. */
typedef struct pb_registry_result {
    char req[PB_REGISTRY_REQ_MAX + 1]; /* the record's request id ("" when none or unreadable) */
    pb_registry_op_t op;               /* NONE when the record could not be read */
    int skipped;    /* 1: not applied (malformed, unknown op, newer "v", replayed offset) */
    int error_code; /* 0 on success, else a PB_SR_* code (50001 when skipped) */
    int created;    /* product_put, bind: 1 when the product or binding is new (else replaced) */
    char *message;  /* why it failed or was skipped (owned); NULL on success */
    int changed;    /* 1 when the state changed */
    int id;         /* register: schema id; bind: binding id; unbind: the removed id */
    int version;    /* register: the version; delete_version: the deleted version */
    int existed;    /* register: the schema was already live under the subject (no check) */
    int level;      /* config: the level set, or (delete) the level deleted; mode: the mode set
                     * or deleted */
    json_t *body;   /* owned or NULL: delete_subject: [versions]; 409 incompatible: the
                     * {"incompatibilities":[...]} list (see pb_registry_impact for items) */
    /* Compatibility checks this record ran (register, product_put, bind: each new schema against
     * its subject's history at the subject's level): checks[1][level] compatible, checks[0][level]
     * not. A register of a schema already live runs none. For portbroker_schema_checks_total. */
    int checks[2][PB_COMPAT__LEVEL_COUNT];
} pb_registry_result_t;

/* Free what a result holds and zero it. NULL is a no-op. */
void pb_registry_result_reset(pb_registry_result_t *res);

/*
 * Apply the record at `offset` of the registry topic (value bytes, len; borrowed). Deterministic:
 * the outcome and the new state depend only on the state and the record. offset >= 0 must grow:
 * a record at or below the last applied offset is skipped ("already applied"), so re-reading the
 * log after a seek is harmless; offset -1 means "no offset" (always applied). Fills *res.
 * Returns 0 when the record was applied (res->error_code says whether the operation succeeded) or 1
 * when it was skipped (res->message says why; log it).
 */
int pb_registry_apply(pb_registry_t *r, int64_t offset, const char *value, size_t len,
                      pb_registry_result_t *res);

/* Offset of the last applied record (-1 when none), and how many were applied and skipped. */
int64_t pb_registry_offset(const pb_registry_t *r);
uint64_t pb_registry_applied_count(const pb_registry_t *r);
uint64_t pb_registry_skipped_count(const pb_registry_t *r);

/* The whole state as canonical JSON text (subjects, versions, schemas, configs, products,
 * bindings, counters; not the offset), for tests and debugging: two registries in the same state
 * dump the same text. Caller frees; NULL when out of memory. */
char *pb_registry_dump(const pb_registry_t *r);

/* ---- Queries (borrowed results stay valid until the next pb_registry_apply) -----------------
 * Fallible queries return 0 or a PB_SR_* code with err->msg in Confluent's wording. */

/* One version of a subject. */
typedef struct pb_registry_version {
    const char *subject;
    int version;
    int id;
    int deleted;               /* soft-deleted */
    const char *schema;        /* compact JSON text (its own: referenced named types by name) */
    const pb_schema_t *parsed; /* resolved: referenced named types included */
    const json_t *references;  /* [{"name","subject","version"}] or NULL (borrowed) */
    const json_t *metadata;    /* or NULL */
    const json_t *rule_set;    /* or NULL */
} pb_registry_version_t;

/* Global level, the subject's own level (returns 1 and sets *level when configured, else 0), and
 * the level that applies to subject (its own, else the global one; subject may be NULL). */
int pb_registry_global_level(const pb_registry_t *r);
int pb_registry_subject_level(const pb_registry_t *r, const char *subject, int *level);
int pb_registry_effective_level(const pb_registry_t *r, const char *subject);

/* Modes: the global one, the subject's own (returns 1 and sets *mode when set, else 0), and the
 * one in scope for subject (its own, else the global one). */
int pb_registry_global_mode(const pb_registry_t *r);
int pb_registry_subject_mode(const pb_registry_t *r, const char *subject, int *mode);
int pb_registry_effective_mode(const pb_registry_t *r, const char *subject);

/* How many rules a ruleSet (a version's rule_set, may be NULL) holds in all its groups. Pure. */
size_t pb_registry_rule_count(const json_t *rule_set);

/* The largest schema id in use (0 when none), for ?fetchMaxId. */
int pb_registry_max_id(const pb_registry_t *r);

/* Listing filters (include_deleted arguments below): */
#define PB_REGISTRY_LIVE 0         /* live versions only */
#define PB_REGISTRY_WITH_DELETED 1 /* soft-deleted ones too */
#define PB_REGISTRY_DELETED_ONLY 2 /* soft-deleted ones only (subjects: with no live version) */

/* Subject names with a live version (with include_deleted: with any version), sorted, optionally
 * only those starting with prefix (NULL: all). New JSON array (caller owns) or NULL (no memory). */
json_t *pb_registry_subjects(const pb_registry_t *r, int include_deleted, const char *prefix);

/* Versions of subject as a new JSON array of integers, ascending (soft-deleted ones only with
 * include_deleted). 40401 when the subject has no (live) version. */
int pb_registry_versions(const pb_registry_t *r, const char *subject, int include_deleted,
                         json_t **out, pb_err_t *err);

/* Version `version` (-1: the latest live one, or with include_deleted the latest of all) of
 * subject. A soft-deleted version is found only with include_deleted. 40401 / 40402. */
int pb_registry_get_version(const pb_registry_t *r, const char *subject, int version,
                            int include_deleted, pb_registry_version_t *out, pb_err_t *err);

/* The ids of the schemas whose live versions (with include_deleted: any version) reference
 * version (-1: latest) of subject, ascending. New JSON array. 40401 / 40402 as get_version. */
int pb_registry_referenced_by(const pb_registry_t *r, const char *subject, int version,
                              int include_deleted, json_t **out, pb_err_t *err);

/* Schema by id with what a version of it carries (subject NULL, version 0 in *out): text,
 * parse, references, metadata, ruleSet. 40403 as pb_registry_schema_by_id. */
int pb_registry_schema_info(const pb_registry_t *r, int id, pb_registry_version_t *out,
                            pb_err_t *err);

/* Schema by global id: text and parse (borrowed). 40403 when no version (soft-deleted included)
 * or binding uses the id. */
int pb_registry_schema_by_id(const pb_registry_t *r, int id, const char **text,
                             const pb_schema_t **parsed, pb_err_t *err);

/* [{"subject","version"}...] / ["subject"...] of the versions using id (soft-deleted ones with
 * include_deleted), sorted by subject then version. 40403 when none. New JSON (caller owns). */
int pb_registry_id_versions(const pb_registry_t *r, int id, int include_deleted, json_t **out,
                            pb_err_t *err);
int pb_registry_id_subjects(const pb_registry_t *r, int id, int include_deleted, json_t **out,
                            pb_err_t *err);

/* Find schema text (len bytes) under subject: the version holding the same normalized schema.
 * 42201 invalid schema, 40401 subject has no (live) version, 40403 not under the subject. */
int pb_registry_lookup(const pb_registry_t *r, const char *subject, const char *schema, size_t len,
                       int include_deleted, pb_registry_version_t *out, pb_err_t *err);

/* pb_registry_lookup with references (resolved as register resolves them) and, when given,
 * metadata and ruleSet that must match too (absent: the subject's latest ones, then any). */
int pb_registry_lookup_ex(const pb_registry_t *r, const char *subject, const char *schema,
                          size_t len, const pb_registry_reg_opts_t *opts, int include_deleted,
                          pb_registry_version_t *out, pb_err_t *err);

/*
 * Would schema text be compatible? version 0: against the subject's live versions per its level
 * (what register checks, without the subscriber check); version > 0 or -1 (latest): against that
 * one live version with the subject's level. A subject without versions is compatible.
 * *compatible gets 1/0 and, when messages is not NULL, *messages a new JSON array of strings (one
 * per incompatibility, then {compatibility: 'LEVEL'}). 42201 invalid schema; 40402 version given
 * and not found (not for -1).
 */
int pb_registry_check(const pb_registry_t *r, const char *subject, const char *schema, size_t len,
                      int version, int *compatible, json_t **messages, pb_err_t *err);

/* pb_registry_check of a schema with references (opts->references; NULL opts: none). */
int pb_registry_check_ex(const pb_registry_t *r, const char *subject, const char *schema,
                         size_t len, const pb_registry_reg_opts_t *opts, int version,
                         int *compatible, json_t **messages, pb_err_t *err);

/*
 * Dry run of registering schema text under subject (or the subject of port URN `subject` when it
 * names a known port): changes nothing. *out gets a new object:
 *   {"subject", "level", "registered": {"id","version"} | null (already live: no check),
 *    "compatible": bool (what register would answer), "levels": {"NONE": {"compatible": bool,
 *    "incompatibilities": [...]}, "BACKWARD": ...every level...}, "subscribers": [{"binding",
 *    "input", "compatible", "incompatibilities": [...]}]}
 * An incompatibility item is {"kind","location","message","version"?,"direction"?,"subscriber"?}.
 * 42201 invalid schema.
 */
int pb_registry_impact(const pb_registry_t *r, const char *subject, const char *schema, size_t len,
                       json_t **out, pb_err_t *err);

/* ---- Products, ports, bindings ---- */

/* Products in the order they were first stored; *n gets the count. Borrowed. */
const pb_product_t *const *pb_registry_products(const pb_registry_t *r, size_t *n);

/* A product / a port (output or input) by canonical URN, or NULL. Borrowed. */
const pb_product_t *pb_registry_product(const pb_registry_t *r, const char *urn);
const pb_port_t *pb_registry_port(const pb_registry_t *r, const char *urn);

/* The port's level (its subject's effective level) and a new JSON array [{"version","id"}] of the
 * live versions of its subject (empty when none), for GET /v1/ports/{port}. */
int pb_registry_port_level(const pb_registry_t *r, const pb_port_t *port);
json_t *pb_registry_port_schemas(const pb_registry_t *r, const pb_port_t *port);

/* A binding. from_product: declared by the input port's "from" (else by a bind record). */
typedef struct pb_registry_binding {
    int id;
    const char *from; /* output-port URN */
    const char *to;   /* input-port URN */
    int reader_id;    /* schema id of the reader schema */
    const pb_schema_t *reader;
    const char *start; /* "earliest" or "latest" */
    int from_product;
} pb_registry_binding_t;

/* Number of bindings; pb_registry_binding_at(r, i) for i < n, in id order. Borrowed. */
size_t pb_registry_binding_count(const pb_registry_t *r);
const pb_registry_binding_t *pb_registry_binding_at(const pb_registry_t *r, size_t i);
/* By id, or NULL. */
const pb_registry_binding_t *pb_registry_binding(const pb_registry_t *r, int id);

#endif
