/*
 * dedupe — the publish path's memory of record ids (ce_id), so that a producer retrying a batch
 * with the same ids (after a timeout, a 503 or a crash of its own) does not store a record twice.
 *
 * Owns: one table of ids per output port, each entry pending (its record is being produced) or
 * settled (acknowledged at partition:offset, at a time). A settled id is remembered while it is
 * younger than the window, while its port has fewer than max_ids newer settled ids, and while all
 * ports together hold less than max_bytes of entries (the oldest go first). A failed produce
 * forgets its id, so that a retry is produced again. Producers that share an id while its record
 * is in flight wait for that record's outcome (waiters) instead of producing it again.
 * Must not: produce, reply or know HTTP (publish.c does); keep anything that is not bounded by the
 * three numbers above (pending entries are bounded by the produce queue). Loop thread only.
 *
 * What it does not cover, by design (the consumers' ce_id stays the end-to-end dedupe key): ids
 * seen by another instance behind the same load balancer, and ids from before a restart.
 */
#ifndef PB_DEDUPE_H
#define PB_DEDUPE_H

#include <stddef.h>
#include <stdint.h>

typedef struct pb_dedupe pb_dedupe_t;
typedef struct pb_dedupe_entry pb_dedupe_entry_t;

/* A producer of an id that is in flight: told the outcome of that id's record once it is known.
 * code 0: acknowledged at partition:offset; else the PB_ERR_* code it failed with and reason
 * (valid during the call). The caller owns the storage; it must stay valid until cb is called. */
typedef struct pb_dedupe_wait {
    struct pb_dedupe_wait *next; /* the module's link */
    void (*cb)(struct pb_dedupe_wait *w, int code, const char *reason, int32_t partition,
               int64_t offset);
} pb_dedupe_wait_t;

typedef enum {
    PB_DEDUPE_NEW,      /* first time: produce it, then pb_dedupe_settle(*entry, ...) */
    PB_DEDUPE_SEEN,     /* acknowledged before, same record: *partition, *offset */
    PB_DEDUPE_CONFLICT, /* another key or value under this id: *partition, *offset where it was
                         * stored, or both -1 while that record is still in flight */
    PB_DEDUPE_WAITING,  /* in flight with the same record: w->cb will be called */
    PB_DEDUPE_NOMEM     /* no memory for the entry: produce it without dedupe */
} pb_dedupe_status_t;

/* A table for ids remembered window_ms after acknowledgement (> 0), at most max_ids per port and
 * max_bytes of entries overall. Returns NULL when out of memory. */
pb_dedupe_t *pb_dedupe_new(int64_t window_ms, size_t max_ids, size_t max_bytes);

/* Frees every entry. Waiters still attached are not called: the caller destroys the table only
 * once every produce has settled. NULL is a no-op. */
void pb_dedupe_destroy(pb_dedupe_t *d);

/* Look up id[0..idlen) on port (a NUL-terminated name) at now_ms, for a record whose key and value
 * bytes hash to digest (pb_dedupe_digest). Forgets what has aged out first. See
 * pb_dedupe_status_t; on PB_DEDUPE_WAITING, w is attached (its cb set by the caller). */
pb_dedupe_status_t pb_dedupe_begin(pb_dedupe_t *d, const char *port, const char *id, size_t idlen,
                                   uint64_t digest, int64_t now_ms, pb_dedupe_wait_t *w,
                                   pb_dedupe_entry_t **entry, int32_t *partition, int64_t *offset);

/* The outcome of an entry's record (from PB_DEDUPE_NEW): code 0 keeps the id as acknowledged at
 * partition:offset from now_ms on, any other code forgets it. Every waiter is then called once
 * with the same outcome. entry is invalid afterwards. */
void pb_dedupe_settle(pb_dedupe_t *d, pb_dedupe_entry_t *entry, int code, const char *reason,
                      int32_t partition, int64_t offset, int64_t now_ms);

/* Forget every settled id older than the window, on all ports (a periodic sweep; begin does it for
 * its own port). Returns how many were forgotten. */
size_t pb_dedupe_expire(pb_dedupe_t *d, int64_t now_ms);

/* Ids remembered (settled and pending) and the bytes their entries take. */
size_t pb_dedupe_count(const pb_dedupe_t *d);
size_t pb_dedupe_bytes(const pb_dedupe_t *d);

/* The digest of a record's key and value bytes, for pb_dedupe_begin (64-bit FNV-1a). */
uint64_t pb_dedupe_digest(const void *key, size_t klen, const void *value, size_t vlen);

#endif
