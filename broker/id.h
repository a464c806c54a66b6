/*
 * id — unique identifiers: random UUIDs (RFC 9562 version 4) for registry request ids and record
 * ids.
 *
 * Owns: reading the kernel's random source. Must not: be used for secrets beyond uniqueness.
 */
#ifndef PB_ID_H
#define PB_ID_H

#define PB_ID_UUID_LEN 36

/* Write a new lower-case UUIDv4 and a NUL into out (PB_ID_UUID_LEN + 1 bytes). Thread-safe. */
void pb_id_uuid4(char out[PB_ID_UUID_LEN + 1]);

#endif
