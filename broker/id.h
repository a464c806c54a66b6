/*
 * id — unique identifiers: random UUIDs (RFC 9562 version 4) for registry request ids and record
 * ids, and W3C trace context span ids (traceparent).
 *
 * Owns: reading the kernel's random source, through a per-thread 4 KiB pool refilled from
 * getrandom(2) and emptied in the child of a fork(). Must not: be used for secrets beyond
 * uniqueness.
 */
#ifndef PB_ID_H
#define PB_ID_H

#include <stddef.h>

#define PB_ID_UUID_LEN 36

/* Write a new lower-case UUIDv4 and a NUL into out (PB_ID_UUID_LEN + 1 bytes). Thread-safe. */
void pb_id_uuid4(char out[PB_ID_UUID_LEN + 1]);

/* "00-" + 32 hex trace id + "-" + 16 hex span id + "-" + 2 hex flags. */
#define PB_ID_TRACEPARENT_LEN 55

/*
 * A traceparent for a new span that is a child of `parent` (a W3C traceparent header value; may be
 * NULL or invalid): the parent's trace id and flags with a new random span id. When parent is
 * absent or not a valid version-00 traceparent (wrong length, non-hex, all-zero ids), a new trace
 * is started (sampled flag 01). Writes PB_ID_TRACEPARENT_LEN chars and a NUL. Returns 1 when the
 * parent's trace was kept, 0 when a new one was started. Thread-safe.
 */
int pb_id_traceparent_child(const char *parent, size_t len, char out[PB_ID_TRACEPARENT_LEN + 1]);

#endif
