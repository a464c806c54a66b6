/*
 * codec — Avro data: JSON <-> binary, the Confluent wire frame, writer -> reader resolution.
 *
 * Owns: Avro's JSON encoding and natural JSON (DESIGN.md §5a) (in from pb_jsontok tokens, out as
 * JSON text), Avro binary encoding and bounded
 * decoding of untrusted bytes, the 5-byte Confluent frame header, and compiled resolution plans
 * that project writer-schema binary straight into reader-schema binary.
 * Must not: parse schemas (schema.c), decide compatibility (compat.c), do I/O or touch Kafka.
 *
 * Every function here is pure and reentrant; a schema or a resolver may be used from any number
 * of threads at once. Output goes to a caller's pb_buf_t, appended after its current contents; on
 * failure the buffer is truncated back to the length it had on entry.
 *
 * Datum errors (PB_ERR_INVALID) read "at /address/zip: expected int, got string \"abc\"": a JSON
 * pointer into the datum (record field names, array indexes, map keys; RFC 6901 escapes), then the
 * reason. An error at the datum itself has no "at ...:" part. The path and the reason are also
 * available apart through pb_codec_error_t. The encoder walks a datum silently first and only a
 * refused datum is walked again to build the path and the reason, so reporting the first error of
 * a datum costs nothing on the success path.
 *
 * Decoding untrusted bytes is bounded everywhere: lengths and block counts are checked against the
 * bytes left before anything is read or allocated, varints are at most 10 bytes, ints are range
 * checked, nesting is limited to PB_CODEC_MAX_DEPTH, strings must be valid UTF-8, booleans 0 or 1,
 * and bytes after the datum are an error.
 *
 * Floats in JSON: binary -> JSON prints the shortest text that reads back to the same value, always
 * with a '.' or an exponent (1.0, not 1). JSON has no NaN or infinities: they are written as the
 * strings "NaN", "Infinity" and "-Infinity" (as Jackson's non-numeric mode names them), and JSON ->
 * binary accepts those three strings for float and double.
 */
#ifndef PB_CODEC_H
#define PB_CODEC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "jsontok.h"
#include "schema.h"

/* Nesting limit of a datum: every record, array, map and union level counts one. */
#define PB_CODEC_MAX_DEPTH 128

/* Arrays and maps whose items can encode to zero bytes (null, empty records) are not bounded by
 * the input length: at most this many such items per datum. */
#define PB_CODEC_MAX_EMPTY_ITEMS 65536

/* With PB_CODEC_UNWRAPPED_UNIONS, deciding between branches that all take a JSON value means
 * trying them, and branches inside those again: at most this many schema nodes are tried per
 * datum, then the datum is rejected (PB_ERR_TOO_LARGE) and must be sent wrapped. */
#define PB_CODEC_MAX_UNION_TRIALS 100000

/* Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro binary. */
#define PB_CODEC_WIRE_MAGIC 0x00
#define PB_CODEC_WIRE_HEADER_LEN 5

/* Flags for pb_codec_tokens_to_avro. */
enum {
    /* A union value may also be given unwrapped (the bare value) when exactly one branch accepts
     * it; more than one is an error naming the branches. Wrapped values ({"type": v}, null) are
     * always accepted, and a one-key object whose key names a branch is read as wrapped. */
    PB_CODEC_UNWRAPPED_UNIONS = 1u << 0,
    /* Object members that are not fields of the record are ignored instead of being an error. */
    PB_CODEC_IGNORE_UNKNOWN_FIELDS = 1u << 1,
    /* Natural JSON (DESIGN.md §5a) where it differs from Avro's JSON encoding: a decimal (bytes
     * or fixed) is a JSON string of its decimal text ("12.50", "-1.5e2", leading zeros allowed)
     * or a JSON number (12.50, 1e3), converted exactly from the text as written (no floating
     * point); a value with more fractional digits than the scale or more digits than the
     * precision is refused. timestamp-*, local-timestamp-*, date and time-* take their RFC 3339
     * text (or their integer); uuid strings must be RFC 4122 text. Without this flag a decimal
     * is its bytes as a code-point string and the others are their underlying type. */
    PB_CODEC_NATURAL = 1u << 2,
};

/*
 * Read an `encoding` query parameter value (NULL: absent) as publish and streams take it: 0 and
 * *avro set (json, the default: 0; avro: 1), or PB_ERR_INVALID naming the accepted values.
 */
int pb_codec_encoding(const char *v, int *avro, pb_err_t *err);

/* Largest decimal precision the natural-JSON conversion handles (digits). */
#define PB_CODEC_MAX_DECIMAL_DIGITS 1200

/* A datum error split in its parts, for callers that report them apart (publish's 422 body). */
typedef struct pb_codec_error {
    char path[192];   /* JSON pointer into the datum, "" for the datum itself; "..." when cut */
    char reason[200]; /* "expected int, got string \"abc\"" */
} pb_codec_error_t;

/*
 * Encode the JSON value at token root of tk (pb_jsontok_parse) for schema s as Avro binary
 * appended to out. Without flags the value is in Avro's JSON encoding: records are objects (a
 * missing field with a default takes the default; members that are not fields are an error
 * unless PB_CODEC_IGNORE_UNKNOWN_FIELDS), enums are symbol strings, bytes and fixed are strings
 * of code points 0-255 (U+0000 included), unions are null or {"branch name": value} with named
 * branches by full name and others by type name ("int", "array", "map"), logical types as their
 * underlying type; ints and floats are range checked ("NaN", "Infinity", "-Infinity" strings for
 * float/double). PB_CODEC_NATURAL and PB_CODEC_UNWRAPPED_UNIONS give natural JSON (§5a).
 * Returns 0, PB_ERR_INVALID (err and, when not NULL, detail say where and why, naming the
 * accepted forms), PB_ERR_TOO_LARGE (nesting deeper than PB_CODEC_MAX_DEPTH, or
 * PB_CODEC_MAX_UNION_TRIALS exceeded; detail is filled too) or PB_ERR_NOMEM. tk is borrowed; on
 * failure out is as on entry. Only a refused datum is walked twice (the second time to say where
 * and why). Any thread (tk is only read).
 */
int pb_codec_tokens_to_avro(const pb_schema_t *s, const pb_jsontok_t *tk, size_t root,
                            unsigned flags, pb_buf_t *out, pb_codec_error_t *detail, pb_err_t *err);

/*
 * The same from JSON text json[0..len) (tokenized with a tokenizer of its own: for callers off
 * the hot path). Text that is not JSON is PB_ERR_INVALID "not JSON: line 1 column 5 (byte 4):
 * ..."; otherwise as pb_codec_tokens_to_avro.
 */
int pb_codec_text_to_avro(const pb_schema_t *s, const char *json, size_t len, unsigned flags,
                          pb_buf_t *out, pb_codec_error_t *detail, pb_err_t *err);

/*
 * Decode one datum of schema s from data[0..len) and append it to out as JSON text in Avro's JSON
 * encoding (unions wrapped, bytes as code-point strings, floats as described above). The whole
 * input must be one datum. flags: 0, or PB_CODEC_NATURAL for natural JSON (DESIGN.md §5a), in
 * the canonical forms publish reads back to the same bytes: a decimal is the string of its exact
 * value with `scale` fraction digits ("12.50", "-0.05"); timestamp-millis|micros are RFC 3339 UTC
 * with the type's full fraction ("2026-11-21T10:15:30.000Z"), local-timestamp-* the same without
 * Z, date "YYYY-MM-DD", time-millis|micros "HH:MM:SS.fff[fff]"; a temporal value RFC 3339 cannot
 * write (year outside 0001-9999, time of day outside one day) stays its integer; a decimal with
 * more than PB_CODEC_MAX_DECIMAL_DIGITS digits is PB_ERR_INVALID (read it without the flag);
 * plain bytes/fixed and unions (wrapped) are as without the flag. Returns 0, PB_ERR_INVALID
 * (truncated, over a limit, bad UTF-8, trailing bytes...: err says where), PB_ERR_TOO_LARGE
 * (nesting or empty-item limit) or PB_ERR_NOMEM.
 */
int pb_codec_avro_to_json_text(const pb_schema_t *s, const uint8_t *data, size_t len,
                               unsigned flags, pb_buf_t *out, pb_err_t *err);

/* Same, as a jansson value: *out receives a new reference (caller owns). */
int pb_codec_avro_to_json(const pb_schema_t *s, const uint8_t *data, size_t len, json_t **out,
                          pb_err_t *err);

/* Check that data[0..len) is exactly one valid datum of schema s, with the same bounds as the
 * decoders. Returns 0, PB_ERR_INVALID or PB_ERR_TOO_LARGE. Allocates nothing. */
int pb_codec_validate(const pb_schema_t *s, const uint8_t *data, size_t len, pb_err_t *err);

/*
 * Parse a Confluent frame: checks length and magic, returns the schema id and the payload (a
 * pointer into frame). Returns 0 or PB_ERR_INVALID ("frame too short: 3 bytes, need at least 5",
 * "bad magic byte 0x7b, expected 0x00"). Schema ids above INT32_MAX are rejected (Confluent ids
 * are positive Java ints).
 */
int pb_codec_wire_parse(const uint8_t *frame, size_t len, uint32_t *schema_id,
                        const uint8_t **payload, size_t *payload_len, pb_err_t *err);

/* Append the 5-byte frame header for schema_id to out. Returns 0 or PB_ERR_NOMEM. */
int pb_codec_wire_header(pb_buf_t *out, uint32_t schema_id);

/* A compiled writer -> reader resolution plan. Immutable once built; run it from any thread. */
typedef struct pb_resolver pb_resolver_t;

/*
 * Compile the plan that turns binary written with `writer` into binary for `reader`, per the Avro
 * spec's resolution rules: record fields matched by name or reader field aliases (writer fields
 * the reader lacks are skipped, reader fields the writer lacks take their default, encoded once
 * here), named types matched by full name, unqualified name or reader alias, enums by symbol (a
 * symbol the reader lacks takes the reader's enum default, else fails per datum), promotions
 * int->long/float/double, long->float/double, float->double, string<->bytes, unions: a writer
 * union resolves per branch (a branch that cannot resolve fails per datum, only for data that
 * uses it), a non-union writer goes to the first reader branch of the same type (named: same
 * name), else the first it promotes to. Recursive schemas work.
 * Both schemas are borrowed and must outlive the resolver. On success *out receives a new resolver
 * (pb_resolver_destroy). Returns 0, PB_ERR_INCOMPATIBLE when no datum of writer can be read
 * ("at /fields/2 (address): reader field zip has no default and the writer has no such field"),
 * or PB_ERR_NOMEM.
 */
int pb_resolver_new(const pb_schema_t *writer, const pb_schema_t *reader, pb_resolver_t **out,
                    pb_err_t *err);

/*
 * Resolve one writer datum in[0..len) into reader binary appended to out. The input is decoded
 * with the same bounds as pb_codec_validate (the whole input must be one valid writer datum, also
 * in the parts the reader skips). Returns 0, PB_ERR_INVALID (bad input, or a datum the plan cannot
 * resolve: an enum symbol without a reader default, a writer union branch the reader cannot read,
 * bytes that are not UTF-8 for a reader string; err says where), PB_ERR_TOO_LARGE or PB_ERR_NOMEM.
 * When both schemas have the same Parsing Canonical Form the output is the input, validated.
 */
int pb_resolver_run(const pb_resolver_t *r, const uint8_t *in, size_t len, pb_buf_t *out,
                    pb_err_t *err);

/* Free a resolver. NULL is a no-op. */
void pb_resolver_destroy(pb_resolver_t *r);

#endif
