/*
 * hash — the broker's one 64-bit FNV-1a (Fowler/Noll/Vo), for hash tables and change fingerprints.
 *
 * Owns: FNV-1a 64 over bytes and over NUL-terminated strings, continuing from a given state so a
 * caller chains several fields into one digest, and the field form that ends each string with a
 * separator byte. Pure: static inline, no allocation, no state, no I/O; any thread.
 * Must not: be used where a digest has to resist a chosen input. FNV is not keyed: whoever picks
 * the strings can pick colliding ones, so a table keyed by client input stays correct only
 * because it compares whole keys and is bounded by other limits. Not a checksum of stored data.
 *
 * Rules (the contract; tests/unit/test_hash.c fixes every value):
 * - One step is h = (h ^ byte) * PB_HASH_FNV_PRIME, modulo 2^64, for each byte in order.
 *   Starting from PB_HASH_FNV_BASIS, that is FNV-1a 64 as published (draft-eastlake-fnv):
 *   "" -> 0xcbf29ce484222325, "a" -> 0xaf63dc4c8601ec8c, "foobar" -> 0x85944171f73967e8.
 * - Chaining: pb_hash_bytes(pb_hash_bytes(h, a, n), b, m) is pb_hash_bytes(h, a b, n + m). So a
 *   digest of several fields is one of their concatenation: "ab" + "c" and "a" + "bc" are the
 *   same. Callers that need fields told apart either hash each field's length first (dedupe) or
 *   use pb_hash_field, which follows each string with the byte PB_HASH_FIELD_SEP (0xff, never in
 *   UTF-8 text): fields without that byte then never run into each other.
 * - Values are stable: a change of any function or constant here changes every table's layout and
 *   every fingerprint. Today no digest is stored or sent to another process (dedupe, lineage and
 *   sub keep theirs in memory, the rest are table slots); a user that starts to must say so here.
 */
#ifndef PB_HASH_H
#define PB_HASH_H

#include <stddef.h>
#include <stdint.h>

#define PB_HASH_FNV_PRIME UINT64_C(0x100000001b3)      /* 2^40 + 2^8 + 0xb3 */
#define PB_HASH_FNV_BASIS UINT64_C(0xcbf29ce484222325) /* FNV-1a 64's offset basis */
/* The start the broker's older tables and fingerprints use (the kafka producer's and the routers'
 * topic tables, the registry's subject map, sub's group keys, lineage's fingerprints, metrics'
 * port index): the offset basis's decimal, 14695981039346656037, with its last digit lost. A
 * start as good as any for a table; kept so those digests and table orders stay what they were.
 * New code starts from PB_HASH_FNV_BASIS. */
#define PB_HASH_LEGACY_BASIS UINT64_C(1469598103934665603)
#define PB_HASH_FIELD_SEP 0xffu /* pb_hash_field's separator byte */

/* h continued over p[0..n) (p may be NULL when n is 0). */
static inline uint64_t pb_hash_bytes(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * PB_HASH_FNV_PRIME;
    return h;
}

/* h continued over the bytes of s before its NUL (s not NULL): pb_hash_bytes(h, s, strlen(s)). */
static inline uint64_t pb_hash_str(uint64_t h, const char *s) {
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * PB_HASH_FNV_PRIME;
    return h;
}

/* h with its high bits folded into its low ones, for a table that takes the low bits as its slot
 * (slot = pb_hash_fold(h) & (cap - 1)). FNV's low bits depend only on the low bits of the bytes:
 * keys that differ in a few digits ("...p17", "...p71") share low bits and make long probe runs.
 * A multiply between two xor-shifts, so every bit of h reaches the low bits. */
static inline uint64_t pb_hash_fold(uint64_t h) {
    h ^= h >> 32;
    h *= UINT64_C(0xd6e8feb86659fd93);
    return h ^ (h >> 32);
}

/* h continued over s (NULL hashes as "") and then the byte PB_HASH_FIELD_SEP. */
static inline uint64_t pb_hash_field(uint64_t h, const char *s) {
    if (s) h = pb_hash_str(h, s);
    return (h ^ PB_HASH_FIELD_SEP) * PB_HASH_FNV_PRIME;
}

#endif
