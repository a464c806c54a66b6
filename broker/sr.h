/*
 * sr — the Schema Registry–compatible HTTP API (DESIGN.md §5) as pure functions.
 *
 * Owns: routing of the Confluent Schema Registry paths (/subjects, /schemas, /compatibility,
 * /config, /mode), request validation with Confluent's error codes and messages, and the reply
 * bodies Confluent clients (kafkajs' @kafkajs/confluent-schema-registry, confluent_kafka's
 * SchemaRegistryClient, the Java serializers) depend on. Reads answer at once from the registry;
 * writes become a registry record that the caller appends to the log, reads back, applies, and
 * turns into the reply with pb_sr_complete.
 * Must not: do I/O, touch libevent or Kafka, or change the registry (only pb_registry_apply does).
 *
 * How the glue uses it:
 *   pb_sr_reply_t rep = {0};
 *   switch (pb_sr_handle(reg, method, path, get_param, req, body, body_len, uuid, &rep)) {
 *   case PB_SR_NOT_MINE: ...another handler...
 *   case PB_SR_REPLY:    send rep.status, rep.content_type, rep.body; pb_sr_reply_reset(&rep);
 *   case PB_SR_WRITE:    append rep.record (rep.record_len bytes) to the registry topic; when the
 *                        consumer applies the record whose result.req equals rep.req:
 *                        pb_sr_complete(&rep, &result); send as above. On a produce failure or
 *                        timeout: pb_sr_fail(&rep, 50001 or 50002, "..."), send.
 *   }
 */
#ifndef PB_SR_H
#define PB_SR_H

#include <stddef.h>

#include "registry.h"

/* Content type of every reply (Confluent's; clients also accept application/json). */
#define PB_SR_CONTENT_TYPE "application/vnd.schemaregistry.v1+json"

/* Largest request body accepted (a schema at most PB_SCHEMA_MAX_BYTES plus its JSON escaping). */
#define PB_SR_MAX_BODY (2 * 1024 * 1024)

/* Query parameter getter: the (decoded) value of parameter name, or NULL when absent. */
typedef const char *(*pb_sr_param_fn)(void *arg, const char *name);

/* What pb_sr_handle decided. */
typedef enum {
    PB_SR_NOT_MINE = 0, /* not a Schema Registry path: let another handler answer */
    PB_SR_REPLY = 1,    /* status and body are ready */
    PB_SR_WRITE = 2,    /* append record, then pb_sr_complete */
} pb_sr_outcome_t;

/* A reply, or a pending write. Zero it before use; pb_sr_reply_reset frees it. */
typedef struct pb_sr_reply {
    int status; /* HTTP status */
    char *body; /* JSON text, NUL-terminated (owned) */
    size_t body_len;
    const char *content_type; /* static */
    /* Pending write (PB_SR_WRITE): */
    char *record; /* the registry record to append (owned) */
    size_t record_len;
    char req[PB_REGISTRY_REQ_MAX + 1]; /* its request id: match pb_registry_result_t.req */
    pb_registry_op_t op;               /* what the record does */
    int config_delete;                 /* config / mode: 1 when it deletes a level / mode */
    const pb_registry_t *reg;          /* the registry the write goes to (read by complete) */
    char subject[PB_REGISTRY_SUBJECT_MAX + 1]; /* register: the subject */
} pb_sr_reply_t;

/*
 * Route one request. method "GET", "POST", "PUT", "DELETE"; path as received (percent-encoded,
 * without the query string: segments such as subject names are decoded here); param gets query
 * parameters (booleans are "true" in any case, anything else is false); body (may be NULL) and
 * body_len; req_id a fresh unique id (UUID) for the record a write produces. Returns an outcome;
 * for PB_SR_REPLY and PB_SR_WRITE *out is filled (errors are replies: {"error_code","message"}).
 * The registry is only read.
 */
pb_sr_outcome_t pb_sr_handle(const pb_registry_t *r, const char *method, const char *path,
                             pb_sr_param_fn param, void *arg, const char *body, size_t body_len,
                             const char *req_id, pb_sr_reply_t *out);

/* Turn the applied result of the pending write in rep into its reply (status and body), as
 * Confluent answers: register the registered version {"id","version","schemaType","schema",
 * "references"?,"metadata"?,"ruleSet"?} (read from rep->reg after the apply), delete version →
 * the version number, delete subject → the list of versions, PUT config {"compatibility"},
 * DELETE config {"compatibilityLevel"} (the level deleted), PUT / DELETE mode {"mode"}; failures
 * {"error_code","message"}. Frees the record. */
void pb_sr_complete(pb_sr_reply_t *rep, const pb_registry_result_t *res);

/* Make rep an error reply {"error_code": code, "message": msg} with code's HTTP status (the glue
 * uses it for Kafka failures: 50001 store error, 50002 timeout). Frees a pending record. */
void pb_sr_fail(pb_sr_reply_t *rep, int code, const char *msg);

/* The HTTP status of a registry error code (PB_SR_*, or a portbroker API code): 0 → 200, a
 * five-digit code → code / 100 (40401 → 404, 42201 → 422, 50001 → 500), a three-digit code is the
 * status itself. The one place error codes become statuses. Pure. */
int pb_sr_http_status(int error_code);

/* Free what rep holds and zero it. NULL is a no-op. */
void pb_sr_reply_reset(pb_sr_reply_t *rep);

#endif
