/*
 * dedupe.c — the publish path's memory of record ids (contract in dedupe.h).
 *
 * One chained hash table of entries keyed by (port, id), and one of ports. Settled entries are also
 * on two lists in the order they settled: their port's (for max_ids) and a global one (for the
 * window and max_bytes), so every bound is enforced by popping list heads, O(1) per entry.
 * Must not: allocate per lookup, or call a waiter before the entry's state is final.
 */
#include "dedupe.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"

typedef struct ptab {
    struct ptab *hnext;
    pb_dedupe_entry_t *oldest, *newest; /* settled, in settle order */
    size_t settled, pending;
    uint64_t hash;
    char name[];
} ptab_t;

struct pb_dedupe_entry {
    pb_dedupe_entry_t *hnext;
    pb_dedupe_entry_t *pprev, *pnext; /* the port's settled list */
    pb_dedupe_entry_t *gprev, *gnext; /* the global settled list */
    ptab_t *pt;
    pb_dedupe_wait_t *waiters, **wtail;
    uint64_t hash, digest;
    int64_t at_ms, offset;
    int32_t partition;
    int settled;
    size_t idlen;
    char id[];
};

struct pb_dedupe {
    int64_t window_ms;
    size_t max_ids, max_bytes;
    pb_dedupe_entry_t **slots;
    size_t nslots, count;
    ptab_t **pslots;
    size_t npslots, nports;
    pb_dedupe_entry_t *oldest, *newest; /* every port's settled entries, in settle order */
    size_t bytes;
};

uint64_t pb_dedupe_digest(const void *key, size_t klen, const void *value, size_t vlen) {
    /* The key's length first, so key "ab" + value "c" differs from "a" + "bc". */
    uint64_t h = pb_hash_bytes(PB_HASH_FNV_BASIS, &klen, sizeof klen);
    h = pb_hash_bytes(h, key, klen);
    return pb_hash_bytes(h, value, vlen);
}

pb_dedupe_t *pb_dedupe_new(int64_t window_ms, size_t max_ids, size_t max_bytes) {
    pb_dedupe_t *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->window_ms = window_ms;
    d->max_ids = max_ids ? max_ids : 1;
    d->max_bytes = max_bytes;
    d->nslots = 256;
    d->npslots = 64;
    d->slots = calloc(d->nslots, sizeof *d->slots);
    d->pslots = calloc(d->npslots, sizeof *d->pslots);
    if (!d->slots || !d->pslots) {
        pb_dedupe_destroy(d);
        return NULL;
    }
    return d;
}

void pb_dedupe_destroy(pb_dedupe_t *d) {
    if (!d) return;
    for (size_t i = 0; d->slots && i < d->nslots; i++)
        for (pb_dedupe_entry_t *e = d->slots[i], *next; e; e = next) {
            next = e->hnext;
            free(e);
        }
    for (size_t i = 0; d->pslots && i < d->npslots; i++)
        for (ptab_t *t = d->pslots[i], *next; t; t = next) {
            next = t->hnext;
            free(t);
        }
    free(d->slots);
    free(d->pslots);
    free(d);
}

size_t pb_dedupe_count(const pb_dedupe_t *d) { return d->count; }
size_t pb_dedupe_bytes(const pb_dedupe_t *d) { return d->bytes; }

/* ---- ports ---------------------------------------------------------------------------------- */

static ptab_t *port_find(pb_dedupe_t *d, const char *name, uint64_t h) {
    for (ptab_t *t = d->pslots[h & (d->npslots - 1)]; t; t = t->hnext)
        if (t->hash == h && strcmp(t->name, name) == 0) return t;
    return NULL;
}

static void port_grow(pb_dedupe_t *d) {
    size_t n = d->npslots * 2;
    ptab_t **s = calloc(n, sizeof *s);
    if (!s) return; /* longer chains, still correct */
    for (size_t i = 0; i < d->npslots; i++)
        for (ptab_t *t = d->pslots[i], *next; t; t = next) {
            next = t->hnext;
            t->hnext = s[t->hash & (n - 1)];
            s[t->hash & (n - 1)] = t;
        }
    free(d->pslots);
    d->pslots = s;
    d->npslots = n;
}

static ptab_t *port_add(pb_dedupe_t *d, const char *name, uint64_t h) {
    size_t len = strlen(name);
    ptab_t *t = calloc(1, sizeof *t + len + 1);
    if (!t) return NULL;
    memcpy(t->name, name, len + 1);
    t->hash = h;
    if (d->nports >= d->npslots) port_grow(d);
    t->hnext = d->pslots[h & (d->npslots - 1)];
    d->pslots[h & (d->npslots - 1)] = t;
    d->nports++;
    d->bytes += sizeof *t + len + 1;
    return t;
}

static void port_drop(pb_dedupe_t *d, ptab_t *t) {
    for (ptab_t **pp = &d->pslots[t->hash & (d->npslots - 1)]; *pp; pp = &(*pp)->hnext)
        if (*pp == t) {
            *pp = t->hnext;
            break;
        }
    d->nports--;
    d->bytes -= sizeof *t + strlen(t->name) + 1;
    free(t);
}

/* ---- entries -------------------------------------------------------------------------------- */

static void grow(pb_dedupe_t *d) {
    size_t n = d->nslots * 2;
    pb_dedupe_entry_t **s = calloc(n, sizeof *s);
    if (!s) return;
    for (size_t i = 0; i < d->nslots; i++)
        for (pb_dedupe_entry_t *e = d->slots[i], *next; e; e = next) {
            next = e->hnext;
            e->hnext = s[e->hash & (n - 1)];
            s[e->hash & (n - 1)] = e;
        }
    free(d->slots);
    d->slots = s;
    d->nslots = n;
}

/* Unlink e from everything, free it, and its port when that holds nothing more. */
static void drop(pb_dedupe_t *d, pb_dedupe_entry_t *e) {
    for (pb_dedupe_entry_t **pp = &d->slots[e->hash & (d->nslots - 1)]; *pp; pp = &(*pp)->hnext)
        if (*pp == e) {
            *pp = e->hnext;
            break;
        }
    ptab_t *t = e->pt;
    if (e->settled) {
        if (e->pprev)
            e->pprev->pnext = e->pnext;
        else
            t->oldest = e->pnext;
        if (e->pnext)
            e->pnext->pprev = e->pprev;
        else
            t->newest = e->pprev;
        if (e->gprev)
            e->gprev->gnext = e->gnext;
        else
            d->oldest = e->gnext;
        if (e->gnext)
            e->gnext->gprev = e->gprev;
        else
            d->newest = e->gprev;
        t->settled--;
    } else {
        t->pending--;
    }
    d->count--;
    d->bytes -= sizeof *e + e->idlen;
    free(e);
    if (t->settled == 0 && t->pending == 0) port_drop(d, t);
}

size_t pb_dedupe_expire(pb_dedupe_t *d, int64_t now_ms) {
    size_t n = 0;
    while (d->oldest && now_ms - d->oldest->at_ms >= d->window_ms) {
        drop(d, d->oldest);
        n++;
    }
    return n;
}

pb_dedupe_status_t pb_dedupe_begin(pb_dedupe_t *d, const char *port, const char *id, size_t idlen,
                                   uint64_t digest, int64_t now_ms, pb_dedupe_wait_t *w,
                                   pb_dedupe_entry_t **entry, int32_t *partition, int64_t *offset) {
    pb_dedupe_expire(d, now_ms);
    uint64_t ph = pb_hash_str(PB_HASH_FNV_BASIS, port);
    ptab_t *t = port_find(d, port, ph);
    uint64_t h = pb_hash_bytes(ph, id, idlen);
    if (t)
        for (pb_dedupe_entry_t *e = d->slots[h & (d->nslots - 1)]; e; e = e->hnext) {
            if (e->hash != h || e->pt != t || e->idlen != idlen || memcmp(e->id, id, idlen))
                continue;
            *partition = e->settled ? e->partition : -1;
            *offset = e->settled ? e->offset : -1;
            if (e->digest != digest) return PB_DEDUPE_CONFLICT;
            if (e->settled) return PB_DEDUPE_SEEN;
            w->next = NULL;
            *e->wtail = w;
            e->wtail = &w->next;
            return PB_DEDUPE_WAITING;
        }
    if (!t && !(t = port_add(d, port, ph))) return PB_DEDUPE_NOMEM;
    pb_dedupe_entry_t *e = calloc(1, sizeof *e + idlen);
    if (!e) {
        if (t->settled == 0 && t->pending == 0) port_drop(d, t);
        return PB_DEDUPE_NOMEM;
    }
    memcpy(e->id, id, idlen);
    e->idlen = idlen;
    e->hash = h;
    e->digest = digest;
    e->pt = t;
    e->partition = -1;
    e->offset = -1;
    e->wtail = &e->waiters;
    if (d->count >= d->nslots) grow(d);
    e->hnext = d->slots[h & (d->nslots - 1)];
    d->slots[h & (d->nslots - 1)] = e;
    d->count++;
    d->bytes += sizeof *e + idlen;
    t->pending++;
    *entry = e;
    return PB_DEDUPE_NEW;
}

void pb_dedupe_settle(pb_dedupe_t *d, pb_dedupe_entry_t *e, int code, const char *reason,
                      int32_t partition, int64_t offset, int64_t now_ms) {
    pb_dedupe_wait_t *w = e->waiters;
    if (code) {
        drop(d, e); /* forgotten: a retry is produced again */
    } else {
        ptab_t *t = e->pt;
        e->settled = 1;
        e->partition = partition;
        e->offset = offset;
        e->at_ms = now_ms;
        e->waiters = NULL;
        e->wtail = &e->waiters;
        t->pending--;
        t->settled++;
        e->pprev = t->newest;
        if (t->newest)
            t->newest->pnext = e;
        else
            t->oldest = e;
        t->newest = e;
        e->gprev = d->newest;
        if (d->newest)
            d->newest->gnext = e;
        else
            d->oldest = e;
        d->newest = e;
        /* The bounds, oldest first (e itself is the newest: it goes last, if ever). */
        while (t->settled > d->max_ids)
            drop(d, t->oldest);
        while (d->bytes > d->max_bytes && d->oldest)
            drop(d, d->oldest);
    }
    while (w) {
        pb_dedupe_wait_t *next = w->next; /* a waiter may free its storage in its cb */
        w->cb(w, code, reason, partition, offset);
        w = next;
    }
}
