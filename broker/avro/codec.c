/*
 * codec — Avro data: JSON <-> binary, the Confluent wire frame, writer -> reader resolution.
 *
 * Owns: the walks over a schema graph that encode JSON (pb_jsontok tokens; schema defaults from
 * the schema's jansson values) to Avro binary, decode (bounded) Avro binary to JSON text or just
 * validate it, and the compiled resolution plans.
 * Must not: parse schemas, decide compatibility, do I/O. No avro-c here: our own varint and
 * zigzag code is simpler to bound and faster (see bench/bench_codec.c).
 *
 * All walks share one context (cx_t) that lives on the caller's stack: the datum path as a stack
 * of segments (pushed on the way down, read only when an error is reported), the input cursor for
 * decoding, the output buffers. Nothing is allocated per datum except output growth and, for
 * records the reader reorders, a small span table when a record has more than 32 fields.
 */
#include "codec.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsontext.h"

/* ------------------------------------------------------------------------------------------ */
/* Context, path and errors                                                                   */

typedef struct seg {
    const char *s; /* key or field name; NULL for an array index */
    size_t len;
    size_t idx;
} seg_t;

typedef struct cx {
    pb_err_t *err;
    pb_codec_error_t *detail;
    int quiet; /* > 0 while trying union branches: failures are expected, skip formatting */
    int track; /* keep the path and format errors (0: the encoder's silent first pass) */
    int np;
    seg_t path[PB_CODEC_MAX_DEPTH + 4];
    /* decoding */
    const uint8_t *p, *end;
    size_t empty_left;
    pb_buf_t *text; /* JSON text output, NULL to only validate */
    pb_buf_t *bin;  /* resolver output */
    /* encoding */
    pb_buf_t *out;
    unsigned flags;
    int dflt;          /* encoding a schema default: unions take their first branch, unwrapped */
    size_t trial_work; /* nodes visited while trying unwrapped union branches */
} cx_t;

static void cx_init(cx_t *c, pb_err_t *err) {
    c->err = err;
    c->detail = NULL;
    c->quiet = 0;
    c->track = 1;
    c->np = 0;
    c->p = c->end = NULL;
    c->empty_left = PB_CODEC_MAX_EMPTY_ITEMS;
    c->text = c->bin = c->out = NULL;
    c->flags = 0;
    c->dflt = 0;
    c->trial_work = 0;
}

static inline void push_key(cx_t *c, const char *s, size_t len) {
    if (!c->track) return;
    PB_ASSERT(c->np < (int)(sizeof c->path / sizeof c->path[0]));
    c->path[c->np].s = s;
    c->path[c->np].len = len;
    c->np++;
}

static inline void push_idx(cx_t *c, size_t idx) {
    if (!c->track) return;
    PB_ASSERT(c->np < (int)(sizeof c->path / sizeof c->path[0]));
    c->path[c->np].s = NULL;
    c->path[c->np].idx = idx;
    c->np++;
}

static inline void pop(cx_t *c) { c->np -= c->track; }

/* No error is formatted now: a union trial, or the encoder's silent pass. */
static inline bool mute(const cx_t *c) { return c->quiet || !c->track; }

/* Render the path as a JSON pointer into buf (RFC 6901, jsontext's rules; cut with "..." when
 * it does not fit). */
static void render_path(const cx_t *c, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < c->np; i++) {
        char tmp[32];
        const char *s;
        size_t len, want;
        if (c->path[i].s) {
            s = c->path[i].s;
            len = c->path[i].len;
        } else {
            len = (size_t)snprintf(tmp, sizeof tmp, "%zu", c->path[i].idx);
            s = tmp;
        }
        want = n + 1 + len;
        for (size_t k = 0; k < len; k++)
            want += s[k] == '~' || s[k] == '/';
        n = pb_jsontext_pointer_push_to(buf, cap, n, s, len);
        if (n < want) {
            if (cap >= 4) memcpy(buf + cap - 4, "...", 4);
            return;
        }
    }
}

__attribute__((format(printf, 3, 4))) static int fail(cx_t *c, int code, const char *fmt, ...) {
    if (mute(c)) return code;
    pb_codec_error_t tmp;
    pb_codec_error_t *d = c->detail ? c->detail : &tmp;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->reason, sizeof d->reason, fmt, ap);
    va_end(ap);
    render_path(c, d->path, sizeof d->path);
    if (d->path[0])
        pb_err_set(c->err, code, "at %s: %s", d->path, d->reason);
    else
        pb_err_set(c->err, code, "%s", d->reason);
    return code;
}

static int nomem(cx_t *c) { return fail(c, PB_ERR_NOMEM, "out of memory"); }

static const char *tname(pb_avro_type_t t) {
    static const char *const names[] = {
        [PB_AVRO_NULL] = "null",   [PB_AVRO_BOOLEAN] = "boolean", [PB_AVRO_INT] = "int",
        [PB_AVRO_LONG] = "long",   [PB_AVRO_FLOAT] = "float",     [PB_AVRO_DOUBLE] = "double",
        [PB_AVRO_BYTES] = "bytes", [PB_AVRO_STRING] = "string",   [PB_AVRO_RECORD] = "record",
        [PB_AVRO_ENUM] = "enum",   [PB_AVRO_ARRAY] = "array",     [PB_AVRO_MAP] = "map",
        [PB_AVRO_UNION] = "union", [PB_AVRO_FIXED] = "fixed",
    };
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

/* The name a union branch goes by in Avro's JSON encoding. */
static const char *branch_name(const pb_schema_node_t *n) {
    return pb_schema_is_named(n) && n->fullname ? n->fullname : tname(n->type);
}

static int too_deep(cx_t *c) {
    return fail(c, PB_ERR_TOO_LARGE, "nesting deeper than %d levels", PB_CODEC_MAX_DEPTH);
}

/* ------------------------------------------------------------------------------------------ */
/* Binary primitives                                                                          */

static inline int put_long(pb_buf_t *b, int64_t v) {
    if (b->cap - b->len < 10 && pb_buf_reserve(b, 10)) return PB_ERR_NOMEM;
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    uint8_t *p = b->data + b->len;
    while (u >= 0x80) {
        *p++ = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    *p++ = (uint8_t)u;
    b->len = (size_t)(p - b->data);
    return 0;
}

static inline int put_float(pb_buf_t *b, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint8_t le[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    return pb_buf_append(b, le, 4);
}

static inline int put_double(pb_buf_t *b, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(u >> (8 * i));
    return pb_buf_append(b, le, 8);
}

static inline size_t left(const cx_t *c) { return (size_t)(c->end - c->p); }

static int truncated(cx_t *c, const char *what, size_t need) {
    return fail(c, PB_ERR_INVALID, "truncated %s: need %zu bytes, %zu left", what, need, left(c));
}

static inline int read_varint(cx_t *c, uint64_t *out) {
    const uint8_t *p = c->p;
    size_t avail = left(c);
    uint64_t r = 0;
    *out = 0;
    for (unsigned i = 0, shift = 0;; i++, shift += 7) {
        if (i == avail) return fail(c, PB_ERR_INVALID, "truncated varint");
        uint8_t b = p[i];
        if (i == 9 && b > 1) return fail(c, PB_ERR_INVALID, "varint longer than 64 bits");
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            c->p = p + i + 1;
            *out = r;
            return 0;
        }
    }
}

static inline int read_long(cx_t *c, int64_t *v) {
    uint64_t u = 0;
    *v = 0;
    int rc = read_varint(c, &u);
    if (rc) return rc;
    *v = (int64_t)((u >> 1) ^ (~(u & 1) + 1));
    return 0;
}

static inline int read_int(cx_t *c, int32_t *v) {
    int64_t l = 0;
    *v = 0;
    int rc = read_long(c, &l);
    if (rc) return rc;
    if (l < INT32_MIN || l > INT32_MAX)
        return fail(c, PB_ERR_INVALID, "int value %lld out of range", (long long)l);
    *v = (int32_t)l;
    return 0;
}

static inline uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t le64(const uint8_t *p) {
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* A length prefix (bytes, string, map key): non-negative and within the input. */
static inline int read_len(cx_t *c, const char *what, size_t *len) {
    int64_t l = 0;
    *len = 0;
    int rc = read_long(c, &l);
    if (rc) return rc;
    if (l < 0) return fail(c, PB_ERR_INVALID, "negative %s length %lld", what, (long long)l);
    if ((uint64_t)l > left(c))
        return fail(c, PB_ERR_INVALID, "%s length %lld exceeds the %zu bytes left", what,
                    (long long)l, left(c));
    *len = (size_t)l;
    return 0;
}

/* Returns the offset of the first invalid byte, or n when s[0..n) is valid UTF-8 (no overlongs,
 * no surrogates, nothing above U+10FFFF). */
static size_t utf8_check(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        /* ASCII fast path, 8 bytes at a time */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i >= n) break;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = pb_jsontext_utf8_len(s + i, n - i);
        if (!k) return i;
        i += k;
    }
    return n;
}

/* ------------------------------------------------------------------------------------------ */
/* JSON text output                                                                           */

static inline int put(pb_buf_t *b, const char *s, size_t n) { return pb_buf_append(b, s, n); }

static int put_i64(pb_buf_t *b, int64_t v) {
    char tmp[24];
    char *p = tmp + sizeof tmp;
    uint64_t u = v < 0 ? ~(uint64_t)v + 1 : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--p = '-';
    return put(b, p, (size_t)(tmp + sizeof tmp - p));
}

/* Shortest decimal text that reads back to the same double, with a '.' or exponent. */
/* Shortest %g text that reads back to exactly the value (as a double, or as a float when single),
 * always with a point or exponent so it reads as a float. */
static int fmt_real(char *buf, size_t cap, double d, bool single) {
    int n = 0;
    int lo = single ? 6 : 15, hi = single ? 9 : 17;
    for (int prec = lo; prec <= hi; prec++) {
        n = snprintf(buf, cap, "%.*g", prec, d);
        if (prec == hi || (single ? strtof(buf, NULL) == (float)d : strtod(buf, NULL) == d)) break;
    }
    if (!strpbrk(buf, ".e")) {
        buf[n++] = '.';
        buf[n++] = '0';
        buf[n] = '\0';
    }
    return n;
}

/*
 * Fast path for the common case, values with few decimals (12.75, 52.520008): find the smallest k
 * such that an integer m over 10^k is exactly the value, and print m with the point put back.
 * The check is exact (m and 10^k are exact doubles, the division is correctly rounded, so the
 * decimal m/10^k reads back to d), so a miss only means falling back to snprintf. For float the
 * decimal must be within half a float ulp of f, with a margin far above double rounding error.
 * Returns the length, or 0 when the value is not in the fast path's range.
 */
static int fmt_fast(char *buf, double d, bool single) {
    static const double p10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    double a = fabs(d);
    if (!(a < 1e15) || (a != 0 && a < 1e-5)) return 0;
    double half_ulp = 0;
    if (single) {
        int e;
        frexp(a, &e);
        half_ulp = ldexp(1.0, e - 25) * (1 - 1e-6); /* half a float ulp, minus a margin */
    }
    for (int k = 0; k <= 15; k++) {
        double m = nearbyint(d * p10[k]);
        if (fabs(m) >= 9007199254740992.0) return 0;
        double back = m / p10[k];
        if (single ? fabs(back - d) >= half_ulp && back != d : back != d) continue;
        if (single && (float)back != (float)d) continue;
        /* print m with k decimals */
        uint64_t u = (uint64_t)fabs(m);
        char digits[24];
        int nd = 0;
        do {
            digits[nd++] = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        while (nd <= k)
            digits[nd++] = '0'; /* at least one digit before the point */
        int n = 0;
        if (signbit(d)) buf[n++] = '-';
        for (int i = nd - 1; i >= k; i--)
            buf[n++] = digits[i];
        buf[n++] = '.';
        if (k == 0) buf[n++] = '0';
        for (int i = k - 1; i >= 0; i--)
            buf[n++] = digits[i];
        buf[n] = '\0';
        return n;
    }
    return 0;
}

static int put_real(pb_buf_t *b, double d, bool single) {
    if (isnan(d)) return put(b, "\"NaN\"", 5);
    if (isinf(d)) return d > 0 ? put(b, "\"Infinity\"", 10) : put(b, "\"-Infinity\"", 11);
    char tmp[40];
    int n = fmt_fast(tmp, d, single);
    if (!n) n = fmt_real(tmp, sizeof tmp, single ? (double)(float)d : d, single);
    return put(b, tmp, (size_t)n);
}

/* ------------------------------------------------------------------------------------------ */
/* JSON -> binary: shared pieces                                                              */

/* Number of code points of a (valid UTF-8) string when all are <= 255, else -1 with the
 * offending code point and its character index. */
static long cp_count(const char *s, size_t len, unsigned *bad, size_t *at) {
    long count = 0;
    for (size_t i = 0; i < len; count++) {
        uint8_t b = (uint8_t)s[i];
        if (b < 0x80) {
            i++;
        } else if (b == 0xC2 || b == 0xC3) {
            i += 2;
        } else {
            unsigned cp;
            size_t k = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : 1;
            cp = b & (k == 1 ? 0x1F : k == 2 ? 0x0F : 0x07);
            for (size_t j = 1; j <= k && i + j < len; j++)
                cp = cp << 6 | ((uint8_t)s[i + j] & 0x3F);
            *bad = cp;
            *at = (size_t)count;
            return -1;
        }
    }
    return count;
}

static void cp_write(uint8_t *dst, const char *s, size_t len) {
    for (size_t i = 0; i < len;) {
        uint8_t b = (uint8_t)s[i];
        if (b < 0x80) {
            *dst++ = b;
            i++;
        } else {
            *dst++ = (uint8_t)((b & 0x03) << 6 | ((uint8_t)s[i + 1] & 0x3F));
            i += 2;
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Natural-JSON decimals (DESIGN.md §5a): decimal text -> unscaled two's complement, exactly     */

#define DEC_MAG_BYTES (PB_CODEC_MAX_DECIMAL_DIGITS / 2 + 8) /* 10^d < 256^(d/2.4) */

/* mag (big-endian, n bytes) = mag * 10 + d. */
static void mag_muladd(uint8_t *mag, size_t n, unsigned d) {
    unsigned carry = d;
    for (size_t i = n; i-- > 0;) {
        unsigned v = mag[i] * 10u + carry;
        mag[i] = (uint8_t)v;
        carry = v >> 8;
    }
}

/*
 * Decimal text s[0..len) ("-12.50", "1.5e3", "007") for decimal(precision, scale): writes the
 * unscaled value as big-endian two's complement into out: the shortest form (Java's
 * BigInteger.toByteArray) when want < 0, else sign-extended to exactly want bytes. Returns the
 * byte count, or -1 with why filled ("...") when the text is not a decimal or does not fit.
 */
static long dec_from_text(const char *s, size_t len, int precision, int scale, long want,
                          uint8_t *out, size_t cap, char *why, size_t whycap) {
    uint8_t mag[DEC_MAG_BYTES];
    size_t i = 0, int_start, int_end, frac_start = 0, frac_end = 0;
    bool neg = false;
    long exp = 0;
    if (precision < 1 || precision > PB_CODEC_MAX_DECIMAL_DIGITS) {
        snprintf(why, whycap, "decimal precision %d is beyond the supported %d digits", precision,
                 PB_CODEC_MAX_DECIMAL_DIGITS);
        return -1;
    }
    if (i < len && s[i] == '-') neg = true, i++;
    int_start = i;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    int_end = i;
    if (i < len && s[i] == '.') {
        frac_start = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        frac_end = i;
        if (frac_end == frac_start) goto syntax;
    }
    if (int_end == int_start && frac_end == frac_start) goto syntax;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        bool eneg = false;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
        if (i >= len || s[i] < '0' || s[i] > '9') goto syntax;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (exp < 100000) exp = exp * 10 + (s[i] - '0');
            i++;
        }
        if (eneg) exp = -exp;
    }
    if (i != len) goto syntax;
    /* value = digits * 10^(exp - fraction digits); unscaled = value * 10^scale */
    long shift = exp - (long)(frac_end - frac_start) + scale;
    /* the digits, integer part then fraction, without leading zeros */
    char dig[2 * PB_CODEC_MAX_DECIMAL_DIGITS + 2];
    size_t nd = 0;
    for (size_t k = int_start; k < int_end; k++)
        if (nd || s[k] != '0') {
            if (nd >= sizeof dig) goto too_many;
            dig[nd++] = s[k];
        }
    for (size_t k = frac_start; k < frac_end; k++)
        if (nd || s[k] != '0') {
            if (nd >= sizeof dig) goto too_many;
            dig[nd++] = s[k];
        }
    if (shift < 0) {
        /* the dropped digits must be zeros */
        while (shift < 0 && nd > 0 && dig[nd - 1] == '0')
            nd--, shift++;
        if (shift < 0 && nd > 0) {
            snprintf(why, whycap, "has more than %d digit%s after the decimal point (scale %d)",
                     scale, scale == 1 ? "" : "s", scale);
            return -1;
        }
        if (nd == 0) shift = 0;
    }
    if (nd > 0 && (long)nd + shift > precision) {
    too_many:
        snprintf(why, whycap, "has more than %d digit%s (precision %d, scale %d)", precision,
                 precision == 1 ? "" : "s", precision, scale);
        return -1;
    }
    /* Work in the last nb bytes of mag only: a value below 10^precision needs at most
     * 0.416 * precision bytes, and nb keeps a sign byte above them (a decimal(12,2) is 8 bytes,
     * not the whole table). */
    size_t nb = (size_t)precision / 2 + 2;
    if (nb > sizeof mag) nb = sizeof mag;
    uint8_t *m = mag + sizeof mag - nb;
    memset(m, 0, nb);
    for (size_t k = 0; k < nd; k++)
        mag_muladd(m, nb, (unsigned)(dig[k] - '0'));
    if (nd > 0)
        for (long k = 0; k < shift; k++)
            mag_muladd(m, nb, 0);
    if (neg) { /* two's complement: invert and add one */
        unsigned carry = 1;
        for (size_t k = nb; k-- > 0;) {
            unsigned v = (uint8_t)~m[k] + carry;
            m[k] = (uint8_t)v;
            carry = v >> 8;
        }
    }
    /* shortest: drop leading bytes that only repeat the sign of the next one */
    size_t first = 0;
    uint8_t fill = (m[0] & 0x80) ? 0xff : 0x00; /* "-0" is 0 */
    while (first + 1 < nb && m[first] == fill && (m[first + 1] & 0x80) == (fill & 0x80))
        first++;
    size_t n = nb - first;
    if (want >= 0) {
        if ((size_t)want < n) {
            snprintf(why, whycap, "does not fit in fixed(%ld) (precision %d, scale %d)", want,
                     precision, scale);
            return -1;
        }
        if ((size_t)want > cap) goto too_many;
        memset(out, fill, (size_t)want - n);
        memcpy(out + ((size_t)want - n), m + first, n);
        return want;
    }
    if (n > cap) goto too_many;
    memcpy(out, m + first, n);
    return (long)n;
syntax:
    snprintf(why, whycap,
             "is not a decimal number; accepted: a string like \"12.50\" or "
             "\"-1.5e2\", or an integer");
    return -1;
}

/* RFC 4122 text form: 8-4-4-4-12 hexadecimal digits (either case). */
static bool uuid_text_ok(const char *s, size_t len) {
    if (len != 36) return false;
    for (size_t i = 0; i < 36; i++) {
        char ch = s[i];
        bool hyphen = i == 8 || i == 13 || i == 18 || i == 23;
        if (hyphen ? ch != '-'
                   : !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
                       (ch >= 'A' && ch <= 'F')))
            return false;
    }
    return true;
}

static bool is_uuid(const pb_schema_node_t *n) {
    return n->logical == PB_LOGICAL_UUID && n->type == PB_AVRO_STRING;
}

/* ---- natural-JSON dates and times (DESIGN §5a) ----------------------------------------------
 * timestamp-millis|micros: RFC 3339 ("2026-11-21T10:15:30.123Z", "...+01:00"); local-timestamp-*:
 * the same without an offset; date: "YYYY-MM-DD"; time-millis|micros: "HH:MM:SS[.fraction]".
 * Exact: a fraction finer than the type keeps nothing but zeros, else it is refused. */

static bool is_temporal(const pb_schema_node_t *n) {
    switch (n->logical) {
    case PB_LOGICAL_DATE:
    case PB_LOGICAL_TIME_MILLIS: return n->type == PB_AVRO_INT;
    case PB_LOGICAL_TIME_MICROS:
    case PB_LOGICAL_TIMESTAMP_MILLIS:
    case PB_LOGICAL_TIMESTAMP_MICROS:
    case PB_LOGICAL_LOCAL_TIMESTAMP_MILLIS:
    case PB_LOGICAL_LOCAL_TIMESTAMP_MICROS: return n->type == PB_AVRO_LONG;
    default: return false;
    }
}

static const char *temporal_form(pb_logical_t lt) {
    switch (lt) {
    case PB_LOGICAL_DATE: return "\"YYYY-MM-DD\" or days since 1970-01-01";
    case PB_LOGICAL_TIME_MILLIS: return "\"HH:MM:SS[.fff]\" or milliseconds after midnight";
    case PB_LOGICAL_TIME_MICROS: return "\"HH:MM:SS[.ffffff]\" or microseconds after midnight";
    case PB_LOGICAL_TIMESTAMP_MILLIS:
        return "an RFC 3339 time like \"2026-11-21T10:15:30.123Z\" or epoch milliseconds";
    case PB_LOGICAL_TIMESTAMP_MICROS:
        return "an RFC 3339 time like \"2026-11-21T10:15:30.123456Z\" or epoch microseconds";
    case PB_LOGICAL_LOCAL_TIMESTAMP_MILLIS:
        return "a local time like \"2026-11-21T10:15:30.123\" (no offset) or milliseconds";
    default: return "a local time like \"2026-11-21T10:15:30.123456\" (no offset) or microseconds";
    }
}

/* n digits at s[*i] as a number; false when they are not all digits. */
static bool digits(const char *s, size_t len, size_t *i, int n, int *out) {
    if (*i + (size_t)n > len) return false;
    int v = 0;
    for (int k = 0; k < n; k++) {
        char ch = s[*i + (size_t)k];
        if (ch < '0' || ch > '9') return false;
        v = v * 10 + (ch - '0');
    }
    *i += (size_t)n;
    *out = v;
    return true;
}

/* Days from 1970-01-01 of a proleptic Gregorian date (Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool parse_date(const char *s, size_t len, size_t *i, int64_t *days, const char **why) {
    int y, m, d;
    if (!digits(s, len, i, 4, &y) || *i >= len || s[(*i)++] != '-' || !digits(s, len, i, 2, &m) ||
        *i >= len || s[(*i)++] != '-' || !digits(s, len, i, 2, &d)) {
        *why = "is not a date of the form YYYY-MM-DD";
        return false;
    }
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap)) {
        *why = "is not a day of the calendar";
        return false;
    }
    *days = days_from_civil(y, m, d);
    return true;
}

/* HH:MM:SS[.fraction] into units (1000: millis, 1000000: micros) after midnight. */
static bool parse_time(const char *s, size_t len, size_t *i, int64_t unit, int64_t *out,
                       const char **why) {
    int h, mi, se;
    if (!digits(s, len, i, 2, &h) || *i >= len || s[(*i)++] != ':' || !digits(s, len, i, 2, &mi) ||
        *i >= len || s[(*i)++] != ':' || !digits(s, len, i, 2, &se)) {
        *why = "is not a time of the form HH:MM:SS[.fraction]";
        return false;
    }
    if (h > 23 || mi > 59 || se > 59) {
        *why = "is not a time of day (hours 00-23, minutes and seconds 00-59)";
        return false;
    }
    int64_t frac = 0;
    if (*i < len && s[*i] == '.') {
        (*i)++;
        int64_t scale = unit;
        size_t start = *i;
        while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
            int dgt = s[*i] - '0';
            if (scale > 1) {
                scale /= 10;
                frac += dgt * scale;
            } else if (dgt) {
                *why = unit == 1000
                           ? "has a fraction finer than milliseconds: digits would be lost"
                           : "has a fraction finer than microseconds: digits would be lost";
                return false;
            }
            (*i)++;
        }
        if (*i == start) {
            *why = "has a '.' without fraction digits";
            return false;
        }
    }
    *out = ((int64_t)h * 3600 + mi * 60 + se) * unit + frac;
    return true;
}

/* Parse the natural-JSON text of temporal node n into its Avro int/long. 0, or -1 with why. */
static int temporal_from_text(const pb_schema_node_t *n, const char *s, size_t len, int64_t *out,
                              const char **why) {
    size_t i = 0;
    int64_t days, t;
    switch (n->logical) {
    case PB_LOGICAL_DATE:
        if (!parse_date(s, len, &i, &days, why)) return -1;
        if (days < INT32_MIN || days > INT32_MAX) {
            *why = "is out of range";
            return -1;
        }
        *out = days;
        break;
    case PB_LOGICAL_TIME_MILLIS:
    case PB_LOGICAL_TIME_MICROS:
        if (!parse_time(s, len, &i, n->logical == PB_LOGICAL_TIME_MILLIS ? 1000 : 1000000, out,
                        why))
            return -1;
        break;
    default: {
        bool micros = n->logical == PB_LOGICAL_TIMESTAMP_MICROS ||
                      n->logical == PB_LOGICAL_LOCAL_TIMESTAMP_MICROS;
        bool local = n->logical == PB_LOGICAL_LOCAL_TIMESTAMP_MILLIS ||
                     n->logical == PB_LOGICAL_LOCAL_TIMESTAMP_MICROS;
        int64_t unit = micros ? 1000000 : 1000;
        if (!parse_date(s, len, &i, &days, why)) return -1;
        if (i >= len || (s[i] != 'T' && s[i] != 't' && s[i] != ' ')) {
            *why = "has no time: expected YYYY-MM-DDTHH:MM:SS";
            return -1;
        }
        i++;
        if (!parse_time(s, len, &i, unit, &t, why)) return -1;
        int64_t off = 0;
        if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
            i++;
            if (local) {
                *why = "has an offset: a local timestamp is written without one";
                return -1;
            }
        } else if (i < len && (s[i] == '+' || s[i] == '-')) {
            int sign = s[i] == '-' ? -1 : 1, oh, om;
            i++;
            if (!digits(s, len, &i, 2, &oh) || i >= len || s[i++] != ':' ||
                !digits(s, len, &i, 2, &om) || oh > 23 || om > 59) {
                *why = "has an offset that is not +HH:MM or -HH:MM";
                return -1;
            }
            if (local) {
                *why = "has an offset: a local timestamp is written without one";
                return -1;
            }
            off = sign * ((int64_t)oh * 3600 + om * 60);
        } else if (!local) {
            *why = "has no offset: add Z (UTC) or +HH:MM (RFC 3339)";
            return -1;
        }
        *out = (days * 86400 - off) * unit + t;
        break;
    }
    }
    if (i != len) {
        *why = "has extra characters after the value";
        return -1;
    }
    return 0;
}

/* Natural-JSON date/time text into c->out for temporal node n. */
static int put_temporal_text(cx_t *c, const pb_schema_node_t *n, const char *s, size_t len) {
    int64_t v;
    const char *why = NULL;
    if (temporal_from_text(n, s, len, &v, &why)) {
        if (mute(c)) return PB_ERR_INVALID;
        return fail(c, PB_ERR_INVALID, "%s value \"%.*s%s\" %s; accepted: %s", n->logical_name,
                    len > 40 ? 40 : (int)len, s, len > 40 ? "..." : "", why,
                    temporal_form(n->logical));
    }
    return put_long(c->out, v) ? nomem(c) : 0;
}

static bool is_decimal(const cx_t *c, const pb_schema_node_t *n) {
    return (c->flags & PB_CODEC_NATURAL) && n->logical == PB_LOGICAL_DECIMAL &&
           (n->type == PB_AVRO_BYTES || n->type == PB_AVRO_FIXED);
}

/* Natural-JSON decimal from text (a string's content or an integer's digits) into c->out. */
static int put_decimal_text(cx_t *c, const pb_schema_node_t *n, const char *s, size_t len) {
    uint8_t bytes[DEC_MAG_BYTES];
    char why[160];
    long want = n->type == PB_AVRO_FIXED ? (long)n->size : -1;
    long got =
        dec_from_text(s, len, n->precision, n->scale, want, bytes, sizeof bytes, why, sizeof why);
    if (got < 0) {
        if (mute(c)) return PB_ERR_INVALID;
        char shown[48];
        size_t sl = len < 40 ? len : 40;
        size_t k;
        for (k = 0; k < sl; k++)
            shown[k] = (s[k] >= 0x20 && s[k] < 0x7f && s[k] != '"') ? s[k] : '?';
        shown[k] = '\0';
        return fail(c, PB_ERR_INVALID, "decimal(%d,%d) value \"%s%s\" %s", n->precision, n->scale,
                    shown, len > sl ? "..." : "", why);
    }
    if (n->type == PB_AVRO_BYTES && put_long(c->out, got)) return nomem(c);
    if (pb_buf_append(c->out, bytes, (size_t)got)) return nomem(c);
    return 0;
}

static int put_decimal_int(cx_t *c, const pb_schema_node_t *n, int64_t v) {
    char t[32];
    int l = snprintf(t, sizeof t, "%lld", (long long)v);
    return put_decimal_text(c, n, t, (size_t)l);
}

/* ------------------------------------------------------------------------------------------ */
/* JSON (tokens) -> binary                                                                    */
/*
 * One walk over pb_jsontok tokens (the data plane's JSON) for every caller. It runs silent
 * first (c->track 0: no path kept, nothing formatted); a datum it refuses is walked again over the
 * same tokens with the path kept and the reason written where the walk stops. The two passes take
 * the same decisions (the union trial budget included), so the second fails where the first did,
 * and a datum that encodes pays for nothing but its bytes.
 */

static int enc(cx_t *c, const pb_schema_node_t *n, const pb_jsontok_t *tk, size_t i, int depth);
static int enc_default(cx_t *c, const pb_schema_node_t *n, const json_t *v, int depth);

/* Is string token t the NUL-terminated s exactly? */
static inline bool teq(const pb_jsontok_t *tk, const pb_jsontok_tok_t *t, const char *s) {
    return t->type == PB_JSONTOK_STRING && pb_jsontok_eq(tk, t, s) != 0;
}

/* "string \"abc\"", "integer 5", "number 1.5e300", "object"... for error messages. */
static void describe(const pb_jsontok_t *tk, const pb_jsontok_tok_t *t, char *buf, size_t cap) {
    switch (t->type) {
    case PB_JSONTOK_OBJECT: snprintf(buf, cap, "object"); break;
    case PB_JSONTOK_ARRAY: snprintf(buf, cap, "array"); break;
    case PB_JSONTOK_STRING: {
        int show = t->len > 40 ? 40 : (int)t->len;
        snprintf(buf, cap, "string \"%.*s%s\"", show, pb_jsontok_str(tk, t),
                 t->len > 40 ? "..." : "");
        break;
    }
    case PB_JSONTOK_INTEGER: snprintf(buf, cap, "integer %lld", (long long)t->v.i); break;
    case PB_JSONTOK_REAL:
        snprintf(buf, cap, "number %.*s%s", t->len > 40 ? 40 : (int)t->len, t->v.s,
                 t->len > 40 ? "..." : "");
        break;
    case PB_JSONTOK_TRUE: snprintf(buf, cap, "true"); break;
    case PB_JSONTOK_FALSE: snprintf(buf, cap, "false"); break;
    default: snprintf(buf, cap, "null"); break;
    }
}

static int expected(cx_t *c, const char *what, const pb_jsontok_t *tk, const pb_jsontok_tok_t *t) {
    if (mute(c)) return PB_ERR_INVALID;
    char got[96];
    describe(tk, t, got, sizeof got);
    return fail(c, PB_ERR_INVALID, "expected %s, got %s", what, got);
}

/* bytes/fixed without a logical type (or Avro's JSON encoding): a string of code points 0-255. */
static int enc_cps(cx_t *c, const pb_jsontok_t *tk, const pb_jsontok_tok_t *t, const char *what,
                   long want) {
    if (t->type != PB_JSONTOK_STRING) return expected(c, what, tk, t);
    const char *s = pb_jsontok_str(tk, t);
    size_t len = t->len;
    unsigned bad = 0;
    size_t at = 0;
    long count = cp_count(s, len, &bad, &at);
    if (count < 0)
        return fail(c, PB_ERR_INVALID,
                    "%s string has code point U+%04X at character %zu (above 255); accepted: "
                    "one character \\u0000-\\u00ff per byte",
                    what, bad, at);
    if (want >= 0 && count != want)
        return fail(c, PB_ERR_INVALID, "expected %ld bytes for %s, got %ld", want, what, count);
    pb_buf_t *b = c->out;
    if (want < 0 && put_long(b, count)) return nomem(c);
    if (pb_buf_reserve(b, (size_t)count)) return nomem(c);
    cp_write(b->data + b->len, s, len);
    b->len += (size_t)count;
    return 0;
}

/* Natural-JSON decimal from a string (its text), an integer or any other JSON number (its text as
 * written: converted exactly, never through a double). */
static int enc_decimal(cx_t *c, const pb_schema_node_t *n, const pb_jsontok_t *tk,
                       const pb_jsontok_tok_t *t) {
    switch (t->type) {
    case PB_JSONTOK_STRING: return put_decimal_text(c, n, pb_jsontok_str(tk, t), t->len);
    case PB_JSONTOK_INTEGER: return put_decimal_int(c, n, t->v.i);
    case PB_JSONTOK_REAL: return put_decimal_text(c, n, t->v.s, t->len);
    default:
        return expected(c, "a decimal (a string like \"12.50\" or a JSON number like 12.50)", tk,
                        t);
    }
}

/* float/double from a JSON number or "NaN"/"Infinity"/"-Infinity". */
static int real_of(cx_t *c, const pb_jsontok_t *tk, const pb_jsontok_tok_t *t, const char *what,
                   double *d) {
    switch (t->type) {
    case PB_JSONTOK_INTEGER: *d = (double)t->v.i; return 0;
    case PB_JSONTOK_REAL: {
        int rc = pb_jsontok_real(t, d);
        if (rc == PB_ERR_NOMEM) return nomem(c);
        if (rc)
            return fail(c, PB_ERR_INVALID, "number %.*s%s is out of range for %s",
                        t->len > 40 ? 40 : (int)t->len, t->v.s, t->len > 40 ? "..." : "", what);
        return 0;
    }
    case PB_JSONTOK_STRING:
        if (teq(tk, t, "NaN"))
            *d = NAN;
        else if (teq(tk, t, "Infinity"))
            *d = INFINITY;
        else if (teq(tk, t, "-Infinity"))
            *d = -INFINITY;
        else
            return expected(c, what, tk, t);
        return 0;
    default: return expected(c, what, tk, t);
    }
}

/* int/long from an integer token (a number beyond int64 is out of range, not of another type). */
static int enc_integer(cx_t *c, const pb_schema_node_t *n, const pb_jsontok_t *tk,
                       const pb_jsontok_tok_t *t) {
    bool is_int = n->type == PB_AVRO_INT;
    if ((c->flags & PB_CODEC_NATURAL) && is_temporal(n) && t->type == PB_JSONTOK_STRING)
        return put_temporal_text(c, n, pb_jsontok_str(tk, t), t->len);
    if (t->type == PB_JSONTOK_INTEGER) {
        if (is_int && (t->v.i < INT32_MIN || t->v.i > INT32_MAX))
            return fail(c, PB_ERR_INVALID, "value %lld out of range for int", (long long)t->v.i);
        return put_long(c->out, t->v.i) ? nomem(c) : 0;
    }
    if (pb_jsontok_is_big_integer(t))
        return fail(c, PB_ERR_INVALID, "value %.*s%s out of range for %s",
                    t->len > 40 ? 40 : (int)t->len, t->v.s, t->len > 40 ? "..." : "",
                    is_int ? "int" : "long");
    if (is_temporal(n) && (c->flags & PB_CODEC_NATURAL) && !mute(c)) {
        char what[160];
        snprintf(what, sizeof what, "%s: %s", n->logical_name, temporal_form(n->logical));
        return expected(c, what, tk, t);
    }
    return expected(c, is_int ? "int" : "long", tk, t);
}

/* Member keys by (length, bytes), for records whose members do not come in field order. */
static int key_cmp(const void *a, const void *b, void *arg) {
    const pb_jsontok_t *tk = arg;
    const pb_jsontok_tok_t *x = &tk->tok[*(const uint32_t *)a], *y = &tk->tok[*(const uint32_t *)b];
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return memcmp(pb_jsontok_str(tk, x), pb_jsontok_str(tk, y), x->len);
}

/* The value of the member named name among the sorted keys idx[0..n), or 0. */
static size_t index_find(const pb_jsontok_t *tk, const uint32_t *idx, size_t n, const char *name) {
    size_t len = strlen(name), lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const pb_jsontok_tok_t *k = &tk->tok[idx[mid]];
        int d = k->len != len ? (k->len < len ? -1 : 1) : memcmp(pb_jsontok_str(tk, k), name, len);
        if (d == 0) return idx[mid] + 1;
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* The first member of object i that is not a field of record n (its key token), or 0. */
static size_t unknown_member(const pb_schema_node_t *n, const pb_jsontok_t *tk, size_t i) {
    const pb_jsontok_tok_t *t = tk->tok;
    for (size_t k = 0, j = i + 1; k < t[i].len; k++, j = t[j + 1].next) {
        size_t f;
        for (f = 0; f < n->n_fields; f++)
            if (teq(tk, &t[j], n->fields[f].name)) break;
        if (f == n->n_fields) return j;
    }
    return 0;
}

static int enc_record(cx_t *c, const pb_schema_node_t *n, const pb_jsontok_t *tk, size_t i,
                      int depth) {
    const pb_jsontok_tok_t *t = tk->tok;
    if (t[i].type != PB_JSONTOK_OBJECT) {
        if (mute(c)) return PB_ERR_INVALID;
        char what[160];
        snprintf(what, sizeof what, "object for record %s", n->fullname ? n->fullname : "");
        return expected(c, what, tk, &t[i]);
    }
    size_t found = 0, members = t[i].len;
    uint32_t *idx = NULL; /* sorted keys, built at the first miss of a large object */
    int rc = 0;
    /* Members usually come in field order: follow them, search only when they differ (a
     * binary search for large objects, so that no order costs fields x members). */
    size_t it = members ? i + 1 : 0, seen = 0;
    for (size_t f = 0; f < n->n_fields; f++) {
        const pb_schema_field_t *fd = &n->fields[f];
        size_t fv = 0;
        if (it && teq(tk, &t[it], fd->name)) {
            fv = it + 1;
            it = ++seen < members ? t[it + 1].next : 0;
        } else if (members <= 8) {
            fv = pb_jsontok_get(tk, i, fd->name);
        } else {
            if (!idx) {
                if (!(idx = malloc(members * sizeof *idx))) {
                    rc = nomem(c);
                    goto done;
                }
                for (size_t k = 0, j = i + 1; k < members; k++, j = t[j + 1].next)
                    idx[k] = (uint32_t)j;
                qsort_r(idx, members, sizeof *idx, key_cmp, (void *)tk);
            }
            fv = index_find(tk, idx, members, fd->name);
        }
        push_key(c, fd->name, strlen(fd->name));
        if (fv) {
            found++;
            rc = enc(c, fd->type, tk, fv, depth);
        } else if (fd->default_value) {
            rc = enc_default(c, fd->type, fd->default_value, depth);
        } else {
            rc = fail(c, PB_ERR_INVALID, "missing required field (it has no default)");
        }
        if (rc) goto done;
        pop(c);
    }
    if (found != members && !(c->flags & PB_CODEC_IGNORE_UNKNOWN_FIELDS)) {
        if (mute(c)) {
            rc = PB_ERR_INVALID;
        } else {
            size_t k = unknown_member(n, tk, i);
            int show = k && t[k].len < 60 ? (int)t[k].len : 60;
            rc = fail(c, PB_ERR_INVALID, "unknown field \"%.*s\" for record %s", show,
                      k ? pb_jsontok_str(tk, &t[k]) : "", n->fullname ? n->fullname : "");
        }
    }
done:
    free(idx);
    return rc;
}

static void branch_list(const pb_schema_node_t *n, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n->n_branches && len + 1 < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? ", " : "",
                                branch_name(n->branches[i]));
}

/* Could branch b take token t unwrapped, judging by JSON type alone? */
static bool maybe_accepts(const cx_t *c, const pb_schema_node_t *b, const pb_jsontok_t *tk,
                          const pb_jsontok_tok_t *t) {
    bool number = t->type == PB_JSONTOK_INTEGER || t->type == PB_JSONTOK_REAL;
    switch (b->type) {
    case PB_AVRO_NULL: return t->type == PB_JSONTOK_NULL;
    case PB_AVRO_BOOLEAN: return t->type == PB_JSONTOK_TRUE || t->type == PB_JSONTOK_FALSE;
    case PB_AVRO_INT:
    case PB_AVRO_LONG:
        return t->type == PB_JSONTOK_INTEGER || pb_jsontok_is_big_integer(t) ||
               (is_temporal(b) && t->type == PB_JSONTOK_STRING);
    case PB_AVRO_FLOAT:
    case PB_AVRO_DOUBLE:
        if (t->type == PB_JSONTOK_STRING)
            return teq(tk, t, "NaN") || teq(tk, t, "Infinity") || teq(tk, t, "-Infinity");
        return number;
    case PB_AVRO_BYTES:
    case PB_AVRO_FIXED: return t->type == PB_JSONTOK_STRING || (is_decimal(c, b) && number);
    case PB_AVRO_STRING: return t->type == PB_JSONTOK_STRING;
    case PB_AVRO_ENUM:
        if (t->type != PB_JSONTOK_STRING) return false;
        for (size_t k = 0; k < b->n_symbols; k++)
            if (teq(tk, t, b->symbols[k])) return true;
        return false;
    case PB_AVRO_ARRAY: return t->type == PB_JSONTOK_ARRAY;
    case PB_AVRO_MAP:
    case PB_AVRO_RECORD: return t->type == PB_JSONTOK_OBJECT;
    case PB_AVRO_UNION: return false;
    }
    return false;
}

static int enc_union(cx_t *c, const pb_schema_node_t *n, const pb_jsontok_t *tk, size_t i,
                     int depth) {
    pb_buf_t *b = c->out;
    const pb_jsontok_tok_t *t = &tk->tok[i];
    if (t->type == PB_JSONTOK_NULL) {
        for (size_t k = 0; k < n->n_branches; k++)
            if (n->branches[k]->type == PB_AVRO_NULL) return put_long(b, (int64_t)k) ? nomem(c) : 0;
    } else if (t->type == PB_JSONTOK_OBJECT && t->len == 1) {
        const pb_jsontok_tok_t *key = &tk->tok[i + 1];
        for (size_t k = 0; k < n->n_branches; k++) {
            const pb_schema_node_t *br = n->branches[k];
            if (br->type == PB_AVRO_NULL || !teq(tk, key, branch_name(br))) continue;
            if (put_long(b, (int64_t)k)) return nomem(c);
            push_key(c, pb_jsontok_str(tk, key), key->len);
            int rc = enc(c, br, tk, i + 2, depth);
            if (rc) return rc;
            pop(c);
            return 0;
        }
    }
    char names[160], got[96];
    if (!(c->flags & PB_CODEC_UNWRAPPED_UNIONS)) {
        if (mute(c)) return PB_ERR_INVALID;
        branch_list(n, names, sizeof names);
        describe(tk, t, got, sizeof got);
        if (t->type == PB_JSONTOK_OBJECT && t->len == 1) {
            const pb_jsontok_tok_t *key = &tk->tok[i + 1];
            snprintf(got, sizeof got, "object with key \"%.*s\"",
                     key->len > 40 ? 40 : (int)key->len, pb_jsontok_str(tk, key));
        }
        return fail(c, PB_ERR_INVALID,
                    "expected union value {\"type\": value} with type one of [%s], got %s", names,
                    got);
    }
    /* Unwrapped: exactly one branch must accept the value. */
    size_t cand[64], nc = 0;
    for (size_t k = 0; k < n->n_branches; k++)
        if (maybe_accepts(c, n->branches[k], tk, t)) {
            if (nc == sizeof cand / sizeof cand[0]) break;
            cand[nc++] = k;
        }
    if (nc == 0) {
        if (mute(c)) return PB_ERR_INVALID;
        branch_list(n, names, sizeof names);
        describe(tk, t, got, sizeof got);
        return fail(c, PB_ERR_INVALID, "no branch of union [%s] accepts %s", names, got);
    }
    if (nc == 1) {
        if (put_long(b, (int64_t)cand[0])) return nomem(c);
        return enc(c, n->branches[cand[0]], tk, i, depth);
    }
    size_t start = b->len, keep = 0, accepted[64], na = 0;
    int np = c->np; /* a failed trial returns without popping its path */
    c->quiet++;
    for (size_t k = 0; k < nc; k++) {
        size_t at = b->len;
        int rc = put_long(b, (int64_t)cand[k]);
        if (!rc) rc = enc(c, n->branches[cand[k]], tk, i, depth);
        c->np = np;
        if (rc == PB_ERR_NOMEM) {
            c->quiet--;
            b->len = start;
            return nomem(c);
        }
        if (c->trial_work > PB_CODEC_MAX_UNION_TRIALS) {
            c->quiet--;
            b->len = start;
            return fail(c, PB_ERR_TOO_LARGE,
                        "unwrapped union values too ambiguous to decide within %d steps; wrap "
                        "them as {\"type\": value}",
                        PB_CODEC_MAX_UNION_TRIALS);
        }
        if (rc == 0 && na++ == 0)
            keep = b->len;
        else
            b->len = at;
        if (rc == 0) accepted[na - 1] = cand[k];
    }
    c->quiet--;
    if (na == 1) {
        b->len = keep;
        return 0;
    }
    b->len = start;
    if (mute(c)) return PB_ERR_INVALID;
    names[0] = '\0';
    size_t len = 0;
    const size_t *list = na ? accepted : cand;
    size_t nl = na ? na : nc;
    for (size_t k = 0; k < nl && len + 1 < sizeof names; k++)
        len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", k ? ", " : "",
                                branch_name(n->branches[list[k]]));
    describe(tk, t, got, sizeof got);
    if (na == 0) return fail(c, PB_ERR_INVALID, "no branch of union [%s] accepts %s", names, got);
    return fail(c, PB_ERR_INVALID,
                "ambiguous union value %s: branches %s all accept it; wrap it as {\"type\": value}",
                got, names);
}

static int enc(cx_t *c, const pb_schema_node_t *n, const pb_jsontok_t *tk, size_t i, int depth) {
    pb_buf_t *b = c->out;
    const pb_jsontok_tok_t *t = &tk->tok[i];
    /* Trying branches inside branches is exponential in the nesting: bound the work. */
    if (c->quiet && ++c->trial_work > PB_CODEC_MAX_UNION_TRIALS) return PB_ERR_TOO_LARGE;
    switch (n->type) {
    case PB_AVRO_NULL: return t->type == PB_JSONTOK_NULL ? 0 : expected(c, "null", tk, t);
    case PB_AVRO_BOOLEAN:
        if (t->type != PB_JSONTOK_TRUE && t->type != PB_JSONTOK_FALSE)
            return expected(c, "boolean", tk, t);
        return pb_buf_putc(b, t->type == PB_JSONTOK_TRUE ? 1 : 0) ? nomem(c) : 0;
    case PB_AVRO_INT:
    case PB_AVRO_LONG: return enc_integer(c, n, tk, t);
    case PB_AVRO_FLOAT: {
        double d;
        int rc = real_of(c, tk, t, "float", &d);
        if (rc) return rc;
        float f = (float)d;
        if (isinf(f) && !isinf(d))
            return fail(c, PB_ERR_INVALID, "value %g out of range for float", d);
        return put_float(b, f) ? nomem(c) : 0;
    }
    case PB_AVRO_DOUBLE: {
        double d;
        int rc = real_of(c, tk, t, "double", &d);
        if (rc) return rc;
        return put_double(b, d) ? nomem(c) : 0;
    }
    case PB_AVRO_BYTES:
        if (is_decimal(c, n)) return enc_decimal(c, n, tk, t);
        return enc_cps(c, tk, t, "bytes", -1);
    case PB_AVRO_FIXED:
        if (is_decimal(c, n)) return enc_decimal(c, n, tk, t);
        return enc_cps(c, tk, t, "fixed", (long)n->size);
    case PB_AVRO_STRING: {
        if (t->type != PB_JSONTOK_STRING)
            return expected(c, is_uuid(n) ? "uuid string" : "string", tk, t);
        const char *s = pb_jsontok_str(tk, t);
        if (is_uuid(n) && !uuid_text_ok(s, t->len)) {
            if (mute(c)) return PB_ERR_INVALID;
            char shown[64];
            describe(tk, t, shown, sizeof shown);
            return fail(c, PB_ERR_INVALID,
                        "%s is not a UUID: expected RFC 4122 text, 36 characters like "
                        "\"123e4567-e89b-12d3-a456-426614174000\"",
                        shown + 7 /* past "string " */);
        }
        if (put_long(b, (int64_t)t->len) || pb_buf_append(b, s, t->len)) return nomem(c);
        return 0;
    }
    case PB_AVRO_ENUM:
        if (t->type != PB_JSONTOK_STRING) return expected(c, "enum symbol string", tk, t);
        for (size_t k = 0; k < n->n_symbols; k++)
            if (teq(tk, t, n->symbols[k])) return put_long(b, (int64_t)k) ? nomem(c) : 0;
        if (mute(c)) return PB_ERR_INVALID;
        return fail(c, PB_ERR_INVALID, "\"%.*s\" is not a symbol of enum %s",
                    t->len > 60 ? 60 : (int)t->len, pb_jsontok_str(tk, t),
                    n->fullname ? n->fullname : "");
    case PB_AVRO_ARRAY: {
        if (t->type != PB_JSONTOK_ARRAY) return expected(c, "array", tk, t);
        if (++depth > PB_CODEC_MAX_DEPTH) return too_deep(c);
        size_t len = t->len;
        if (len && put_long(b, (int64_t)len)) return nomem(c);
        for (size_t k = 0, j = i + 1; k < len; k++, j = tk->tok[j].next) {
            push_idx(c, k);
            int rc = enc(c, n->items, tk, j, depth);
            if (rc) return rc;
            pop(c);
        }
        return pb_buf_putc(b, 0) ? nomem(c) : 0;
    }
    case PB_AVRO_MAP: {
        if (t->type != PB_JSONTOK_OBJECT) return expected(c, "object for map", tk, t);
        if (++depth > PB_CODEC_MAX_DEPTH) return too_deep(c);
        size_t len = t->len;
        if (len && put_long(b, (int64_t)len)) return nomem(c);
        for (size_t k = 0, j = i + 1; k < len; k++, j = tk->tok[j + 1].next) {
            const pb_jsontok_tok_t *key = &tk->tok[j];
            const char *ks = pb_jsontok_str(tk, key);
            if (put_long(b, (int64_t)key->len) || pb_buf_append(b, ks, key->len)) return nomem(c);
            push_key(c, ks, key->len);
            int rc = enc(c, n->items, tk, j + 1, depth);
            if (rc) return rc;
            pop(c);
        }
        return pb_buf_putc(b, 0) ? nomem(c) : 0;
    }
    case PB_AVRO_RECORD:
        if (++depth > PB_CODEC_MAX_DEPTH) return too_deep(c);
        return enc_record(c, n, tk, i, depth);
    case PB_AVRO_UNION:
        if (++depth > PB_CODEC_MAX_DEPTH) return too_deep(c);
        return enc_union(c, n, tk, i, depth);
    }
    return fail(c, PB_ERR_INTERNAL, "unknown schema node type %d", (int)n->type);
}

/* ---- schema defaults -> binary ---------------------------------------------------------------
 * A field default is schema JSON (jansson: schema.c owns it and checked it against the field's
 * type): Avro's JSON encoding, a union's default for its first branch, unwrapped; bytes and fixed
 * as code-point strings whatever the datum's encoding (natural JSON is for data, not schemas);
 * a float/double default may be "NaN", "Infinity" or "-Infinity" (schema.h). Used for the
 * fields a datum leaves out and for resolution plans. */

static bool jstr_is(const json_t *v, const char *lit) {
    size_t n = strlen(lit);
    return json_is_string(v) && json_string_length(v) == n && !memcmp(json_string_value(v), lit, n);
}

static int bad_default(cx_t *c, const pb_schema_node_t *n) {
    return fail(c, PB_ERR_INVALID, "the schema's default value does not match its %s type",
                tname(n->type));
}

static int enc_default(cx_t *c, const pb_schema_node_t *n, const json_t *v, int depth) {
    pb_buf_t *b = c->out;
    switch (n->type) {
    case PB_AVRO_NULL: return json_is_null(v) ? 0 : bad_default(c, n);
    case PB_AVRO_BOOLEAN:
        if (!json_is_boolean(v)) return bad_default(c, n);
        return pb_buf_putc(b, json_is_true(v) ? 1 : 0) ? nomem(c) : 0;
    case PB_AVRO_INT:
    case PB_AVRO_LONG: {
        if (!json_is_integer(v)) return bad_default(c, n);
        json_int_t x = json_integer_value(v);
        if (n->type == PB_AVRO_INT && (x < INT32_MIN || x > INT32_MAX)) return bad_default(c, n);
        return put_long(b, x) ? nomem(c) : 0;
    }
    case PB_AVRO_FLOAT:
    case PB_AVRO_DOUBLE: {
        double d;
        if (json_is_number(v))
            d = json_number_value(v);
        else if (jstr_is(v, "NaN"))
            d = NAN;
        else if (jstr_is(v, "Infinity"))
            d = INFINITY;
        else if (jstr_is(v, "-Infinity"))
            d = -INFINITY;
        else
            return bad_default(c, n);
        if (n->type == PB_AVRO_DOUBLE) return put_double(b, d) ? nomem(c) : 0;
        if (isinf((float)d) && !isinf(d)) return bad_default(c, n);
        return put_float(b, (float)d) ? nomem(c) : 0;
    }
    case PB_AVRO_BYTES:
    case PB_AVRO_FIXED: {
        if (!json_is_string(v)) return bad_default(c, n);
        const char *s = json_string_value(v);
        size_t len = json_string_length(v), at = 0;
        unsigned badcp = 0;
        long count = cp_count(s, len, &badcp, &at);
        if (count < 0 || (n->type == PB_AVRO_FIXED && count != (long)n->size))
            return bad_default(c, n);
        if (n->type == PB_AVRO_BYTES && put_long(b, count)) return nomem(c);
        if (pb_buf_reserve(b, (size_t)count)) return nomem(c);
        cp_write(b->data + b->len, s, len);
        b->len += (size_t)count;
        return 0;
    }
    case PB_AVRO_STRING:
        if (!json_is_string(v)) return bad_default(c, n);
        if (put_long(b, (int64_t)json_string_length(v)) ||
            pb_buf_append(b, json_string_value(v), json_string_length(v)))
            return nomem(c);
        return 0;
    case PB_AVRO_ENUM:
        for (size_t k = 0; k < n->n_symbols; k++)
            if (jstr_is(v, n->symbols[k])) return put_long(b, (int64_t)k) ? nomem(c) : 0;
        return bad_default(c, n);
    case PB_AVRO_ARRAY: {
        if (!json_is_array(v)) return bad_default(c, n);
        if (++depth > PB_CODEC_MAX_DEPTH) return too_deep(c);
        size_t len = json_array_size(v);
        if (len && put_long(b, (int64_t)len)) return nomem(c);
        for (size_t k = 0; k < len; k++) {
            int rc = enc_default(c, n->items, json_array_get(v, k), depth);
            if (rc) return rc;
        }
        return pb_buf_putc(b, 0) ? nomem(c) : 0;
    }
    case PB_AVRO_MAP: {
        if (!json_is_object(v)) return bad_default(c, n);
        if (++depth > PB_CODEC_MAX_DEPTH) return too_deep(c);
        size_t len = json_object_size(v);
        if (len && put_long(b, (int64_t)len)) return nomem(c);
        const char *key;
        const json_t *mv;
        json_object_foreach((json_t *)v, key, mv) {
            size_t kl = strlen(key);
            if (put_long(b, (int64_t)kl) || pb_buf_append(b, key, kl)) return nomem(c);
            int rc = enc_default(c, n->items, mv, depth);
            if (rc) return rc;
        }
        return pb_buf_putc(b, 0) ? nomem(c) : 0;
    }
    case PB_AVRO_RECORD: {
        if (!json_is_object(v)) return bad_default(c, n);
        if (++depth > PB_CODEC_MAX_DEPTH) return too_deep(c);
        for (size_t k = 0; k < n->n_fields; k++) {
            const pb_schema_field_t *f = &n->fields[k];
            const json_t *fv = json_object_get(v, f->name);
            if (!fv) fv = f->default_value;
            if (!fv) return bad_default(c, n);
            int rc = enc_default(c, f->type, fv, depth);
            if (rc) return rc;
        }
        return 0;
    }
    case PB_AVRO_UNION:
        if (n->n_branches == 0) return bad_default(c, n);
        if (++depth > PB_CODEC_MAX_DEPTH) return too_deep(c);
        if (put_long(b, 0)) return nomem(c);
        return enc_default(c, n->branches[0], v, depth);
    }
    return fail(c, PB_ERR_INTERNAL, "unknown schema node type %d", (int)n->type);
}

/* Encode a schema default (unions unwrapped, first branch) — used for resolver plans. */
static int encode_default(const pb_schema_node_t *n, const json_t *v, pb_buf_t *out,
                          pb_err_t *err) {
    cx_t c;
    cx_init(&c, err);
    c.out = out;
    return enc_default(&c, n, v, 0);
}

int pb_codec_encoding(const char *v, int *avro, pb_err_t *err) {
    *avro = 0;
    if (!v || !strcmp(v, "json")) return 0;
    if (!strcmp(v, "avro")) {
        *avro = 1;
        return 0;
    }
    return pb_err_set(err, PB_ERR_INVALID,
                      "encoding: '%.64s' is not one of json (natural JSON: decimals as \"12.50\", "
                      "timestamps as RFC 3339; the default), avro (Avro's JSON encoding exactly)",
                      v);
}

int pb_codec_tokens_to_avro(const pb_schema_t *s, const pb_jsontok_t *tk, size_t root,
                            unsigned flags, pb_buf_t *out, pb_codec_error_t *detail,
                            pb_err_t *err) {
    cx_t c;
    size_t start = out->len;
    cx_init(&c, err);
    c.track = 0; /* the silent pass */
    c.out = out;
    c.flags = flags;
    int rc = enc(&c, s->root, tk, root, 0);
    if (rc == PB_ERR_INVALID || rc == PB_ERR_TOO_LARGE) {
        /* Refused: walk the same tokens again, keeping the path, to say where and why. */
        out->len = start;
        cx_init(&c, err);
        c.detail = detail;
        c.out = out;
        c.flags = flags;
        int again = enc(&c, s->root, tk, root, 0);
        PB_ASSERT(again != 0);
        rc = again;
    } else if (rc) {
        pb_err_set(err, rc, "out of memory");
        if (detail) {
            detail->path[0] = '\0';
            snprintf(detail->reason, sizeof detail->reason, "out of memory");
        }
    }
    if (rc) out->len = start;
    return rc;
}

int pb_codec_text_to_avro(const pb_schema_t *s, const char *json, size_t len, unsigned flags,
                          pb_buf_t *out, pb_codec_error_t *detail, pb_err_t *err) {
    pb_jsontok_t tk = {0};
    size_t root = 0;
    int rc = pb_jsontok_parse(&tk, json, len, &root, err);
    if (rc) {
        if (rc != PB_ERR_NOMEM) pb_err_prefix(err, "not JSON: ");
        if (detail) {
            detail->path[0] = '\0';
            snprintf(detail->reason, sizeof detail->reason, "%.199s", err ? err->msg : "not JSON");
        }
    } else {
        rc = pb_codec_tokens_to_avro(s, &tk, root, flags, out, detail, err);
    }
    pb_jsontok_free(&tk);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Binary -> JSON text / validation                                                           */

/* Smallest encoding of a datum of n (0 when a datum can be empty). Bounded in depth: deeper
 * records count as 0, which only makes the caller more careful. */
static size_t min_size(const pb_schema_node_t *n, int depth) {
    switch (n->type) {
    case PB_AVRO_NULL: return 0;
    case PB_AVRO_FLOAT: return 4;
    case PB_AVRO_DOUBLE: return 8;
    case PB_AVRO_FIXED: return n->size;
    case PB_AVRO_RECORD: {
        if (depth > 4) return 0;
        size_t sum = 0;
        for (size_t i = 0; i < n->n_fields && sum < 8; i++)
            sum += min_size(n->fields[i].type, depth + 1);
        return sum;
    }
    default: return 1;
    }
}

/* Check a block count against the bytes left (or the empty-item budget). */
static int check_count(cx_t *c, int64_t count, size_t min_item) {
    if (min_item) {
        if ((uint64_t)count > left(c) / min_item)
            return fail(c, PB_ERR_INVALID, "block count %lld exceeds the %zu bytes left",
                        (long long)count, left(c));
    } else {
        if ((uint64_t)count > c->empty_left)
            return fail(c, PB_ERR_TOO_LARGE, "more than %d items that encode to no bytes",
                        PB_CODEC_MAX_EMPTY_ITEMS);
        c->empty_left -= (size_t)count;
    }
    return 0;
}

/* Read a block header: *count = 0 at the end; *block_end set for negative counts (sized blocks). */
static int read_block(cx_t *c, int64_t *count, const uint8_t **block_end) {
    int rc = read_long(c, count);
    if (rc) return rc;
    *block_end = NULL;
    if (*count < 0) {
        if (*count == INT64_MIN) return fail(c, PB_ERR_INVALID, "block count out of range");
        *count = -*count;
        int64_t size;
        if ((rc = read_long(c, &size))) return rc;
        if (size < 0 || (uint64_t)size > left(c))
            return fail(c, PB_ERR_INVALID, "block size %lld out of range (%zu bytes left)",
                        (long long)size, left(c));
        *block_end = c->p + size;
    }
    return 0;
}

static int block_done(cx_t *c, const uint8_t *block_end) {
    if (block_end && c->p != block_end)
        return fail(c, PB_ERR_INVALID, "block size does not match its items (%+lld bytes)",
                    (long long)(c->p - block_end));
    return 0;
}

/* ---- natural JSON out (DESIGN.md §5a): decimals, dates and times as people read them --------
 * The printed forms are the canonical forms publish reads back to the same bytes, so natural JSON
 * -> Avro -> natural JSON is the identity on them:
 * - decimal: the exact value with exactly `scale` fraction digits ("12.50", "-0.05", "7" at scale
 *   0), from the two's-complement bytes; no floating point.
 * - timestamp-millis|micros: "YYYY-MM-DDTHH:MM:SS.fffZ" (3 digits) or ".ffffffZ" (6 digits): always
 *   UTC, always the type's full fraction, so text order is time order; local-timestamp-*: the same
 *   without the Z. date: "YYYY-MM-DD". time-millis|micros: "HH:MM:SS.fff" / "HH:MM:SS.ffffff".
 * - A value RFC 3339 cannot write (a year before 0001 or after 9999; a time of day outside
 *   00:00:00-23:59:59.999999) stays the integer, which publish accepts too. */

#define DAYS_0001_01_01 (-719162) /* days from 1970-01-01 */
#define DAYS_9999_12_31 2932896

/* Floor division (b > 0). */
static inline int64_t floordiv(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b < 0) ? q - 1 : q;
}

/* Proleptic Gregorian date of days since 1970-01-01 (Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int *y, int *m, int *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

/* n decimal digits of v (0 <= v < 10^n) at p. */
static char *put_digits(char *p, int64_t v, int n) {
    for (int k = n - 1; k >= 0; k--, v /= 10)
        p[k] = (char)('0' + v % 10);
    return p + n;
}

static char *put_date(char *p, int64_t days) {
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    p = put_digits(p, y, 4);
    *p++ = '-';
    p = put_digits(p, m, 2);
    *p++ = '-';
    return put_digits(p, d, 2);
}

/* "HH:MM:SS.f..." of v units (1000 or 1000000 a second, frac_digits 3 or 6) after midnight. */
static char *put_time(char *p, int64_t v, int64_t unit, int frac_digits) {
    int64_t secs = v / unit;
    p = put_digits(p, secs / 3600, 2);
    *p++ = ':';
    p = put_digits(p, secs / 60 % 60, 2);
    *p++ = ':';
    p = put_digits(p, secs % 60, 2);
    *p++ = '.';
    return put_digits(p, v % unit, frac_digits);
}

/* Print temporal value v of node n as its natural-JSON string, or as the integer when RFC 3339
 * cannot write it. */
static int put_temporal(pb_buf_t *b, const pb_schema_node_t *n, int64_t v) {
    char tmp[40], *p = tmp;
    *p++ = '"';
    switch (n->logical) {
    case PB_LOGICAL_DATE:
        if (v < DAYS_0001_01_01 || v > DAYS_9999_12_31) return put_i64(b, v);
        p = put_date(p, v);
        break;
    case PB_LOGICAL_TIME_MILLIS:
    case PB_LOGICAL_TIME_MICROS: {
        bool ms = n->logical == PB_LOGICAL_TIME_MILLIS;
        int64_t unit = ms ? 1000 : 1000000;
        if (v < 0 || v >= 86400 * unit) return put_i64(b, v);
        p = put_time(p, v, unit, ms ? 3 : 6);
        break;
    }
    default: {
        bool ms = n->logical == PB_LOGICAL_TIMESTAMP_MILLIS ||
                  n->logical == PB_LOGICAL_LOCAL_TIMESTAMP_MILLIS;
        bool local = n->logical == PB_LOGICAL_LOCAL_TIMESTAMP_MILLIS ||
                     n->logical == PB_LOGICAL_LOCAL_TIMESTAMP_MICROS;
        int64_t unit = ms ? 1000 : 1000000, per_day = 86400 * unit;
        int64_t days = floordiv(v, per_day);
        if (days < DAYS_0001_01_01 || days > DAYS_9999_12_31) return put_i64(b, v);
        p = put_date(p, days);
        *p++ = 'T';
        p = put_time(p, v - days * per_day, unit, ms ? 3 : 6);
        if (!local) *p++ = 'Z';
        break;
    }
    }
    *p++ = '"';
    return put(b, tmp, (size_t)(p - tmp));
}

/* Print the decimal whose unscaled value is the big-endian two's complement s[0..len) (empty is
 * 0) with scale fraction digits. Returns 0, PB_ERR_NOMEM, or PB_ERR_TOO_LARGE when the value has
 * more significant bytes than DEC_MAG_BYTES (more digits than any precision publish takes). */
static int put_decimal(pb_buf_t *b, const uint8_t *s, size_t len, int scale) {
    bool neg = len && (s[0] & 0x80);
    uint8_t fill = neg ? 0xff : 0x00;
    while (len && s[0] == fill) /* sign-extension bytes carry no digits */
        s++, len--;
    if (len > DEC_MAG_BYTES) return PB_ERR_TOO_LARGE;
    /* magnitude in base 10^9, least significant limb first */
    uint32_t limb[DEC_MAG_BYTES * 8 / 29 + 2];
    size_t nl = 0;
    unsigned borrow = neg; /* -x = ~x + 1, byte by byte from the least significant */
    uint8_t mag[DEC_MAG_BYTES + 1];
    size_t mn = len;
    if (neg) {
        /* magnitude 256^len - s: one 0xff put back in front, then negated ("ff" is -1) */
        for (size_t k = len; k-- > 0;) {
            unsigned v = (uint8_t)~s[k] + borrow;
            mag[k + 1] = (uint8_t)v;
            borrow = v >> 8;
        }
        mag[0] = (uint8_t)borrow; /* the stripped 0xff: ~0xff + carry */
        mn = len + 1;
    } else {
        memcpy(mag, s, len);
    }
    for (size_t k = 0; k < mn; k++) {
        uint64_t carry = mag[k];
        for (size_t i = 0; i < nl; i++) {
            uint64_t x = (uint64_t)limb[i] * 256 + carry;
            limb[i] = (uint32_t)(x % 1000000000u);
            carry = x / 1000000000u;
        }
        while (carry) {
            limb[nl++] = (uint32_t)(carry % 1000000000u);
            carry /= 1000000000u;
        }
    }
    char dig[sizeof limb / sizeof limb[0] * 9 + 1];
    size_t nd = 0;
    if (nl == 0) {
        dig[nd++] = '0';
    } else {
        nd = (size_t)snprintf(dig, sizeof dig, "%u", limb[nl - 1]);
        for (size_t i = nl - 1; i-- > 0;)
            nd += (size_t)snprintf(dig + nd, sizeof dig - nd, "%09u", limb[i]);
    }
    size_t sc = (size_t)scale, lead = nd <= sc ? sc + 1 - nd : 0; /* zeros before the digits */
    if (pb_buf_reserve(b, nd + lead + 4)) return PB_ERR_NOMEM;
    uint8_t *o = b->data + b->len;
    *o++ = '"';
    if (neg && nl) *o++ = '-';
    size_t total = lead + nd;
    for (size_t k = 0; k < total; k++) {
        if (k == total - sc && sc) *o++ = '.';
        *o++ = (uint8_t)(k < lead ? '0' : dig[k - lead]);
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    return 0;
}

/* A natural-JSON decimal of node n from s[0..len) into c->text. */
static int dec_decimal_text(cx_t *c, const pb_schema_node_t *n, const uint8_t *s, size_t len) {
    if (n->precision > PB_CODEC_MAX_DECIMAL_DIGITS)
        return fail(c, PB_ERR_INVALID,
                    "decimal precision %d is beyond the %d digits natural JSON handles; read "
                    "it with encoding=avro",
                    n->precision, PB_CODEC_MAX_DECIMAL_DIGITS);
    int rc = put_decimal(c->text, s, len, n->scale);
    if (rc == PB_ERR_TOO_LARGE)
        return fail(c, PB_ERR_INVALID,
                    "decimal(%d,%d) value of %zu bytes has more than %d digits; read it with "
                    "encoding=avro",
                    n->precision, n->scale, len, PB_CODEC_MAX_DECIMAL_DIGITS);
    return rc ? nomem(c) : 0;
}

static int dec(cx_t *c, const pb_schema_node_t *n, int depth);

static int dec_string(cx_t *c, bool is_bytes, const char *what) {
    size_t len;
    int rc = read_len(c, what, &len);
    if (rc) return rc;
    const uint8_t *s = c->p;
    if (!is_bytes) {
        size_t bad = utf8_check(s, len);
        if (bad != len)
            return fail(c, PB_ERR_INVALID, "invalid UTF-8 in %s at byte %zu", what, bad);
    }
    c->p += len;
    if (!c->text) return 0;
    rc = is_bytes ? pb_jsontext_string(c->text, s, len, PB_JSONTEXT_BYTES)
                  : pb_jsontext_string(c->text, s, len, 0);
    return rc ? nomem(c) : 0;
}

static int dec(cx_t *c, const pb_schema_node_t *n, int depth) {
    pb_buf_t *t = c->text;
    int rc;
    switch (n->type) {
    case PB_AVRO_NULL: return t && put(t, "null", 4) ? nomem(c) : 0;
    case PB_AVRO_BOOLEAN: {
        if (c->p == c->end) return truncated(c, "boolean", 1);
        uint8_t v = *c->p;
        if (v > 1) return fail(c, PB_ERR_INVALID, "invalid boolean byte 0x%02x", v);
        c->p++;
        if (t && (v ? put(t, "true", 4) : put(t, "false", 5))) return nomem(c);
        return 0;
    }
    case PB_AVRO_INT: {
        int32_t v;
        if ((rc = read_int(c, &v))) return rc;
        if (t && (c->flags & PB_CODEC_NATURAL) && is_temporal(n))
            return put_temporal(t, n, v) ? nomem(c) : 0;
        return t && put_i64(t, v) ? nomem(c) : 0;
    }
    case PB_AVRO_LONG: {
        int64_t v;
        if ((rc = read_long(c, &v))) return rc;
        if (t && (c->flags & PB_CODEC_NATURAL) && is_temporal(n))
            return put_temporal(t, n, v) ? nomem(c) : 0;
        return t && put_i64(t, v) ? nomem(c) : 0;
    }
    case PB_AVRO_FLOAT: {
        if (left(c) < 4) return truncated(c, "float", 4);
        uint32_t u = le32(c->p);
        c->p += 4;
        float f;
        memcpy(&f, &u, 4);
        return t && put_real(t, f, true) ? nomem(c) : 0;
    }
    case PB_AVRO_DOUBLE: {
        if (left(c) < 8) return truncated(c, "double", 8);
        uint64_t u = le64(c->p);
        c->p += 8;
        double d;
        memcpy(&d, &u, 8);
        return t && put_real(t, d, false) ? nomem(c) : 0;
    }
    case PB_AVRO_BYTES: {
        if (!t || !is_decimal(c, n)) return dec_string(c, true, "bytes");
        size_t len;
        if ((rc = read_len(c, "bytes", &len))) return rc;
        const uint8_t *s = c->p;
        c->p += len;
        return dec_decimal_text(c, n, s, len);
    }
    case PB_AVRO_STRING: return dec_string(c, false, "string");
    case PB_AVRO_FIXED: {
        if (left(c) < n->size) return truncated(c, "fixed", n->size);
        const uint8_t *s = c->p;
        c->p += n->size;
        if (t && is_decimal(c, n)) return dec_decimal_text(c, n, s, n->size);
        return t && pb_jsontext_string(t, s, n->size, PB_JSONTEXT_BYTES) ? nomem(c) : 0;
    }
    case PB_AVRO_ENUM: {
        int32_t i;
        if ((rc = read_int(c, &i))) return rc;
        if (i < 0 || (size_t)i >= n->n_symbols)
            return fail(c, PB_ERR_INVALID, "enum index %d out of range (%zu symbols)", i,
                        n->n_symbols);
        if (!t) return 0;
        const char *sym = n->symbols[i];
        if (pb_buf_putc(t, '"') || put(t, sym, strlen(sym)) || pb_buf_putc(t, '"')) return nomem(c);
        return 0;
    }
    case PB_AVRO_ARRAY:
    case PB_AVRO_MAP: {
        if (++depth > PB_CODEC_MAX_DEPTH) return too_deep(c);
        bool is_map = n->type == PB_AVRO_MAP;
        size_t min_item = min_size(n->items, 0) + (is_map ? 1 : 0);
        if (t && pb_buf_putc(t, is_map ? '{' : '[')) return nomem(c);
        size_t idx = 0;
        for (;;) {
            int64_t count;
            const uint8_t *bend;
            if ((rc = read_block(c, &count, &bend))) return rc;
            if (count == 0) break;
            if ((rc = check_count(c, count, min_item))) return rc;
            for (int64_t k = 0; k < count; k++, idx++) {
                if (t && idx && pb_buf_putc(t, ',')) return nomem(c);
                if (is_map) {
                    size_t kl;
                    if ((rc = read_len(c, "map key", &kl))) return rc;
                    const uint8_t *key = c->p;
                    size_t bad = utf8_check(key, kl);
                    if (bad != kl)
                        return fail(c, PB_ERR_INVALID, "invalid UTF-8 in map key at byte %zu", bad);
                    c->p += kl;
                    if (t && (pb_jsontext_string(t, key, kl, 0) || pb_buf_putc(t, ':')))
                        return nomem(c);
                    push_key(c, (const char *)key, kl);
                } else {
                    push_idx(c, idx);
                }
                if ((rc = dec(c, n->items, depth))) return rc;
                pop(c);
            }
            if ((rc = block_done(c, bend))) return rc;
        }
        if (t && pb_buf_putc(t, is_map ? '}' : ']')) return nomem(c);
        return 0;
    }
    case PB_AVRO_RECORD: {
        if (++depth > PB_CODEC_MAX_DEPTH) return too_deep(c);
        if (t && pb_buf_putc(t, '{')) return nomem(c);
        for (size_t i = 0; i < n->n_fields; i++) {
            const pb_schema_field_t *f = &n->fields[i];
            size_t fl = strlen(f->name);
            if (t) {
                if (pb_buf_reserve(t, fl + 4)) return nomem(c);
                if (i) t->data[t->len++] = ',';
                t->data[t->len++] = '"';
                memcpy(t->data + t->len, f->name, fl);
                t->len += fl;
                t->data[t->len++] = '"';
                t->data[t->len++] = ':';
            }
            push_key(c, f->name, fl);
            if ((rc = dec(c, f->type, depth))) return rc;
            pop(c);
        }
        if (t && pb_buf_putc(t, '}')) return nomem(c);
        return 0;
    }
    case PB_AVRO_UNION: {
        if (++depth > PB_CODEC_MAX_DEPTH) return too_deep(c);
        int64_t i;
        if ((rc = read_long(c, &i))) return rc;
        if (i < 0 || (uint64_t)i >= n->n_branches)
            return fail(c, PB_ERR_INVALID, "union branch %lld out of range (%zu branches)",
                        (long long)i, n->n_branches);
        const pb_schema_node_t *br = n->branches[i];
        if (br->type == PB_AVRO_NULL) return t && put(t, "null", 4) ? nomem(c) : 0;
        const char *name = branch_name(br);
        size_t nl = strlen(name);
        if (t && (put(t, "{\"", 2) || put(t, name, nl) || put(t, "\":", 2))) return nomem(c);
        push_key(c, name, nl);
        if ((rc = dec(c, br, depth))) return rc;
        pop(c);
        return t && pb_buf_putc(t, '}') ? nomem(c) : 0;
    }
    }
    return fail(c, PB_ERR_INTERNAL, "unknown schema node type %d", (int)n->type);
}

static int trailing(cx_t *c) {
    if (c->p != c->end)
        return fail(c, PB_ERR_INVALID, "%zu trailing bytes after the datum", left(c));
    return 0;
}

int pb_codec_avro_to_json_text(const pb_schema_t *s, const uint8_t *data, size_t len,
                               unsigned flags, pb_buf_t *out, pb_err_t *err) {
    cx_t c;
    cx_init(&c, err);
    c.p = data;
    c.end = data + len;
    c.text = out;
    c.flags = flags;
    size_t start = out->len;
    int rc = dec(&c, s->root, 0);
    if (!rc) rc = trailing(&c);
    if (rc) out->len = start;
    return rc;
}

int pb_codec_avro_to_json(const pb_schema_t *s, const uint8_t *data, size_t len, json_t **out,
                          pb_err_t *err) {
    pb_buf_t b = {0};
    int rc = pb_codec_avro_to_json_text(s, data, len, 0, &b, err);
    if (rc) goto done;
    json_error_t je;
    *out = json_loadb((const char *)b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!*out) rc = pb_err_set(err, PB_ERR_INTERNAL, "decoded JSON does not parse: %s", je.text);
done:
    pb_buf_free(&b);
    return rc;
}

int pb_codec_validate(const pb_schema_t *s, const uint8_t *data, size_t len, pb_err_t *err) {
    cx_t c;
    cx_init(&c, err);
    c.p = data;
    c.end = data + len;
    int rc = dec(&c, s->root, 0);
    if (!rc) rc = trailing(&c);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Wire frame                                                                                 */

int pb_codec_wire_parse(const uint8_t *frame, size_t len, uint32_t *schema_id,
                        const uint8_t **payload, size_t *payload_len, pb_err_t *err) {
    if (len < PB_CODEC_WIRE_HEADER_LEN)
        return pb_err_set(err, PB_ERR_INVALID, "frame too short: %zu bytes, need at least %d", len,
                          PB_CODEC_WIRE_HEADER_LEN);
    if (frame[0] != PB_CODEC_WIRE_MAGIC)
        return pb_err_set(err, PB_ERR_INVALID, "bad magic byte 0x%02x, expected 0x%02x", frame[0],
                          PB_CODEC_WIRE_MAGIC);
    uint32_t id =
        (uint32_t)frame[1] << 24 | (uint32_t)frame[2] << 16 | (uint32_t)frame[3] << 8 | frame[4];
    if (id > INT32_MAX)
        return pb_err_set(err, PB_ERR_INVALID, "schema id %u out of range (above %d)", id,
                          INT32_MAX);
    *schema_id = id;
    *payload = frame + PB_CODEC_WIRE_HEADER_LEN;
    *payload_len = len - PB_CODEC_WIRE_HEADER_LEN;
    return 0;
}

int pb_codec_wire_header(pb_buf_t *out, uint32_t schema_id) {
    uint8_t h[PB_CODEC_WIRE_HEADER_LEN] = {PB_CODEC_WIRE_MAGIC, (uint8_t)(schema_id >> 24),
                                           (uint8_t)(schema_id >> 16), (uint8_t)(schema_id >> 8),
                                           (uint8_t)schema_id};
    return pb_buf_append(out, h, sizeof h);
}

/* ------------------------------------------------------------------------------------------ */
/* Resolution plans                                                                           */

typedef enum {
    OP_FAIL,
    OP_NULL,
    OP_BOOL,
    OP_INT, /* also int -> long: same encoding */
    OP_LONG,
    OP_FLOAT,
    OP_DOUBLE,
    OP_INT_FLOAT,
    OP_INT_DOUBLE,
    OP_LONG_FLOAT,
    OP_LONG_DOUBLE,
    OP_FLOAT_DOUBLE,
    OP_BYTES,
    OP_STRING, /* also bytes -> string (checked UTF-8) and string -> bytes */
    OP_FIXED,
    OP_ENUM,
    OP_ARRAY,
    OP_MAP,
    OP_RECORD,
    OP_WUNION, /* writer is a union */
    OP_RUNION, /* reader is a union, writer is not */
} op_t;

typedef struct plan plan_t;

enum { STEP_READ, STEP_SKIP, STEP_DEFAULT };

typedef struct step {
    int kind;
    size_t ridx;                     /* READ, DEFAULT: reader field index */
    const pb_schema_field_t *wfield; /* READ, SKIP */
    plan_t *plan;                    /* READ */
    size_t dflt_off;                 /* DEFAULT: into the plan's dflt */
    size_t dflt_len;
} step_t;

typedef struct wbranch {
    plan_t *plan; /* NULL when the branch cannot be read */
    int64_t ridx; /* reader branch to write, -1 when the reader is not a union */
    char *why;    /* why the branch cannot be read */
} wbranch_t;

struct plan {
    op_t op;
    const pb_schema_node_t *w, *r;
    char *why;     /* OP_FAIL */
    plan_t *inner; /* ARRAY/MAP items, RUNION branch */
    int64_t ridx;  /* RUNION */
    size_t min_item;
    /* record */
    step_t *steps;
    size_t n_steps;
    bool reorder;
    uint8_t *dflt; /* all pre-encoded defaults of this record, back to back */
    size_t *rdflt_off,
        *rdflt_len; /* reorder: per reader field, default bytes (len SIZE_MAX: none) */
    size_t n_rfields;
    size_t dflt_total;
    /* enum */
    int64_t *emap; /* writer symbol -> reader symbol, -1 none */
    /* writer union */
    wbranch_t *wb;
    size_t n_wb;
};

typedef struct memo {
    const pb_schema_node_t *w, *r;
    plan_t *plan;
} memo_t;

struct pb_resolver {
    plan_t *root;
    const pb_schema_t *writer;
    bool identity; /* same Parsing Canonical Form: the bytes only need validating */
    plan_t **all;
    size_t n_all, cap_all;
    memo_t *memo;
    size_t n_memo, cap_memo;
};

static void plan_free(plan_t *p) {
    if (!p) return;
    free(p->why);
    free(p->steps);
    free(p->dflt);
    free(p->rdflt_off);
    free(p->rdflt_len);
    free(p->emap);
    if (p->wb)
        for (size_t i = 0; i < p->n_wb; i++)
            free(p->wb[i].why);
    free(p->wb);
    free(p);
}

void pb_resolver_destroy(pb_resolver_t *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_all; i++)
        plan_free(r->all[i]);
    free(r->all);
    free(r->memo);
    free(r);
}

static plan_t *plan_alloc(pb_resolver_t *R, op_t op, const pb_schema_node_t *w,
                          const pb_schema_node_t *r) {
    if (R->n_all == R->cap_all) {
        size_t cap = R->cap_all ? R->cap_all * 2 : 16;
        plan_t **a = realloc(R->all, cap * sizeof *a);
        if (!a) return NULL;
        R->all = a;
        R->cap_all = cap;
    }
    plan_t *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->op = op;
    p->w = w;
    p->r = r;
    R->all[R->n_all++] = p;
    return p;
}

static bool names_match(const pb_schema_node_t *w, const pb_schema_node_t *r) {
    if (!w->fullname || !r->fullname) return false;
    if (!strcmp(w->fullname, r->fullname)) return true;
    if (w->name && r->name && !strcmp(w->name, r->name)) return true;
    for (size_t i = 0; i < r->n_aliases; i++)
        if (!strcmp(r->aliases[i], w->fullname)) return true;
    return false;
}

static bool promotes(pb_avro_type_t w, pb_avro_type_t r) {
    switch (w) {
    case PB_AVRO_INT: return r == PB_AVRO_LONG || r == PB_AVRO_FLOAT || r == PB_AVRO_DOUBLE;
    case PB_AVRO_LONG: return r == PB_AVRO_FLOAT || r == PB_AVRO_DOUBLE;
    case PB_AVRO_FLOAT: return r == PB_AVRO_DOUBLE;
    case PB_AVRO_STRING: return r == PB_AVRO_BYTES;
    case PB_AVRO_BYTES: return r == PB_AVRO_STRING;
    default: return false;
    }
}

/* The reader union branch a non-union writer type goes to, or -1. */
static long best_branch(const pb_schema_node_t *ru, const pb_schema_node_t *w) {
    for (size_t j = 0; j < ru->n_branches; j++) {
        const pb_schema_node_t *b = ru->branches[j];
        if (b->type != w->type) continue;
        if (!pb_schema_is_named(w) || names_match(w, b)) return (long)j;
    }
    for (size_t j = 0; j < ru->n_branches; j++)
        if (promotes(w->type, ru->branches[j]->type)) return (long)j;
    return -1;
}

/* Where a node is defined in its schema document, for plan errors. */
static const char *where(const pb_schema_node_t *n) {
    return n->pointer && n->pointer[0] ? n->pointer : "(root)";
}

static int build(pb_resolver_t *R, const pb_schema_node_t *w, const pb_schema_node_t *r,
                 plan_t **out, pb_err_t *err);

static int build_record(pb_resolver_t *R, plan_t *p, pb_err_t *err) {
    const pb_schema_node_t *w = p->w, *r = p->r;
    int rc = 0;
    size_t nr = r->n_fields, nw = w->n_fields;
    long *match = malloc((nr + 1) * sizeof *match);   /* reader field -> writer field, -1 none */
    long *wmatch = malloc((nw + 1) * sizeof *wmatch); /* writer field -> reader field, -1 none */
    plan_t **fplans = calloc(nw + 1, sizeof *fplans);
    pb_buf_t dflt = {0};
    p->rdflt_off = malloc((nr + 1) * sizeof *p->rdflt_off);
    p->rdflt_len = malloc((nr + 1) * sizeof *p->rdflt_len);
    p->steps = calloc(nw + nr + 1, sizeof *p->steps);
    if (!match || !wmatch || !fplans || !p->rdflt_off || !p->rdflt_len || !p->steps) goto oom;
    for (size_t j = 0; j < nw; j++)
        wmatch[j] = -1;
    for (size_t i = 0; i < nr; i++) {
        const pb_schema_field_t *rf = &r->fields[i];
        match[i] = -1;
        for (size_t j = 0; j < nw && match[i] < 0; j++)
            if (wmatch[j] < 0 && !strcmp(w->fields[j].name, rf->name)) match[i] = (long)j;
        for (size_t a = 0; a < rf->n_aliases && match[i] < 0; a++)
            for (size_t j = 0; j < nw && match[i] < 0; j++)
                if (wmatch[j] < 0 && !strcmp(w->fields[j].name, rf->aliases[a])) match[i] = (long)j;
        p->rdflt_len[i] = SIZE_MAX;
        p->rdflt_off[i] = 0;
        if (match[i] >= 0) {
            wmatch[match[i]] = (long)i;
            continue;
        }
        if (!rf->default_value) {
            rc = pb_err_set(err, PB_ERR_INCOMPATIBLE,
                            "at %s: reader field \"%s\" of %s has no default and the writer record "
                            "%s has no such field",
                            where(r), rf->name, r->fullname, w->fullname);
            goto done;
        }
        size_t before = dflt.len;
        if ((rc = encode_default(rf->type, rf->default_value, &dflt, err))) {
            pb_err_prefix(err, "default of reader field \"%s\" of %s: ", rf->name, r->fullname);
            if (rc != PB_ERR_NOMEM) rc = PB_ERR_INCOMPATIBLE;
            goto done;
        }
        p->rdflt_off[i] = before;
        p->rdflt_len[i] = dflt.len - before;
    }
    for (size_t j = 0; j < nw; j++) {
        if (wmatch[j] < 0) continue;
        const pb_schema_field_t *rf = &r->fields[wmatch[j]];
        if ((rc = build(R, w->fields[j].type, rf->type, &fplans[j], err))) {
            pb_err_prefix(err, "field \"%s\" of %s: ", rf->name, r->fullname);
            goto done;
        }
    }
    /* Can the fields stream straight through in writer order, defaults slotted in between? */
    bool ordered = true;
    size_t next = 0;
    for (size_t j = 0; j < nw && ordered; j++) {
        if (wmatch[j] < 0) continue;
        size_t k = (size_t)wmatch[j];
        if (k < next) ordered = false;
        for (size_t i = next; i < k && ordered; i++)
            if (match[i] >= 0) ordered = false;
        next = k + 1;
    }
    p->reorder = !ordered;
    p->n_rfields = nr;
    p->dflt = dflt.data; /* owned by the plan from here */
    p->dflt_total = dflt.len;
    dflt.data = NULL;
    size_t ns = 0;
    next = 0;
    for (size_t j = 0; j < nw; j++) {
        if (wmatch[j] < 0) {
            p->steps[ns++] = (step_t){.kind = STEP_SKIP, .wfield = &w->fields[j]};
            continue;
        }
        size_t k = (size_t)wmatch[j];
        if (ordered) {
            for (; next < k; next++)
                p->steps[ns++] = (step_t){.kind = STEP_DEFAULT,
                                          .ridx = next,
                                          .dflt_off = p->rdflt_off[next],
                                          .dflt_len = p->rdflt_len[next]};
            next = k + 1;
        }
        p->steps[ns++] =
            (step_t){.kind = STEP_READ, .ridx = k, .wfield = &w->fields[j], .plan = fplans[j]};
    }
    if (ordered)
        for (; next < nr; next++)
            p->steps[ns++] = (step_t){.kind = STEP_DEFAULT,
                                      .ridx = next,
                                      .dflt_off = p->rdflt_off[next],
                                      .dflt_len = p->rdflt_len[next]};
    p->n_steps = ns;
    goto done;
oom:
    rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
done:
    free(match);
    free(wmatch);
    free(fplans);
    pb_buf_free(&dflt);
    return rc;
}

/* No plan for this pair: PB_ERR_INCOMPATIBLE with the reason. */
__attribute__((format(printf, 2, 3))) static int incompatible(pb_err_t *err, const char *fmt, ...) {
    char msg[PB_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return pb_err_set(err, PB_ERR_INCOMPATIBLE, "%s", msg);
}

static int build(pb_resolver_t *R, const pb_schema_node_t *w, const pb_schema_node_t *r,
                 plan_t **out, pb_err_t *err) {
    plan_t *p = NULL;
    int rc;
    if (w->type == PB_AVRO_UNION) {
        if (!(p = plan_alloc(R, OP_WUNION, w, r))) goto oom;
        p->wb = calloc(w->n_branches + 1, sizeof *p->wb);
        if (!p->wb) goto oom;
        p->n_wb = w->n_branches;
        size_t ok = 0;
        pb_err_t first = {0};
        for (size_t i = 0; i < w->n_branches; i++) {
            const pb_schema_node_t *wb = w->branches[i];
            const pb_schema_node_t *target = r;
            pb_err_t e = {0};
            p->wb[i].ridx = -1;
            if (r->type == PB_AVRO_UNION) {
                long j = best_branch(r, wb);
                if (j < 0) {
                    pb_err_set(
                        &e, PB_ERR_INCOMPATIBLE,
                        "at %s: writer union branch %s matches no branch of the reader union",
                        where(r), branch_name(wb));
                    goto branch_failed;
                }
                p->wb[i].ridx = j;
                target = r->branches[j];
            }
            rc = build(R, wb, target, &p->wb[i].plan, &e);
            if (rc == PB_ERR_NOMEM) goto oom;
            if (rc == 0) {
                ok++;
                continue;
            }
        branch_failed:
            p->wb[i].plan = NULL;
            if (!(p->wb[i].why = strdup(e.msg))) goto oom;
            if (!first.code) first = e;
        }
        if (ok == 0) {
            pb_err_set(err, PB_ERR_INCOMPATIBLE, "%s", first.msg);
            return PB_ERR_INCOMPATIBLE;
        }
        *out = p;
        return 0;
    }
    if (r->type == PB_AVRO_UNION) {
        long j = best_branch(r, w);
        if (j < 0)
            return incompatible(err, "at %s: writer type %s matches no branch of the reader union",
                                where(r), branch_name(w));
        if (!(p = plan_alloc(R, OP_RUNION, w, r))) goto oom;
        p->ridx = j;
        if ((rc = build(R, w, r->branches[j], &p->inner, err))) return rc;
        *out = p;
        return 0;
    }
    op_t op = OP_FAIL;
    if (w->type == r->type) {
        switch (w->type) {
        case PB_AVRO_NULL: op = OP_NULL; break;
        case PB_AVRO_BOOLEAN: op = OP_BOOL; break;
        case PB_AVRO_INT: op = OP_INT; break;
        case PB_AVRO_LONG: op = OP_LONG; break;
        case PB_AVRO_FLOAT: op = OP_FLOAT; break;
        case PB_AVRO_DOUBLE: op = OP_DOUBLE; break;
        case PB_AVRO_BYTES: op = OP_BYTES; break;
        case PB_AVRO_STRING: op = OP_STRING; break;
        case PB_AVRO_FIXED:
            if (!names_match(w, r))
                return incompatible(
                    err, "at %s: writer fixed %s does not match reader fixed %s by name or alias",
                    where(r), w->fullname, r->fullname);
            if (w->size != r->size)
                return incompatible(err,
                                    "at %s: fixed %s has size %zu in the writer, %zu in the reader",
                                    where(r), r->fullname, w->size, r->size);
            op = OP_FIXED;
            break;
        case PB_AVRO_ENUM: {
            if (!names_match(w, r))
                return incompatible(
                    err, "at %s: writer enum %s does not match reader enum %s by name or alias",
                    where(r), w->fullname, r->fullname);
            if (!(p = plan_alloc(R, OP_ENUM, w, r))) goto oom;
            p->emap = malloc((w->n_symbols + 1) * sizeof *p->emap);
            if (!p->emap) goto oom;
            for (size_t i = 0; i < w->n_symbols; i++) {
                p->emap[i] = r->enum_default >= 0 ? r->enum_default : -1;
                for (size_t j = 0; j < r->n_symbols; j++)
                    if (!strcmp(w->symbols[i], r->symbols[j])) {
                        p->emap[i] = (int64_t)j;
                        break;
                    }
            }
            *out = p;
            return 0;
        }
        case PB_AVRO_ARRAY:
        case PB_AVRO_MAP:
            if (!(p = plan_alloc(R, w->type == PB_AVRO_ARRAY ? OP_ARRAY : OP_MAP, w, r))) goto oom;
            p->min_item = min_size(w->items, 0) + (w->type == PB_AVRO_MAP ? 1 : 0);
            if ((rc = build(R, w->items, r->items, &p->inner, err))) return rc;
            *out = p;
            return 0;
        case PB_AVRO_RECORD: {
            if (!names_match(w, r))
                return incompatible(
                    err, "at %s: writer record %s does not match reader record %s by name or alias",
                    where(r), w->fullname, r->fullname);
            for (size_t i = 0; i < R->n_memo; i++)
                if (R->memo[i].w == w && R->memo[i].r == r) {
                    if (R->memo[i].plan->op == OP_FAIL)
                        return pb_err_set(err, PB_ERR_INCOMPATIBLE, "%s", R->memo[i].plan->why);
                    *out = R->memo[i].plan;
                    return 0;
                }
            if (!(p = plan_alloc(R, OP_RECORD, w, r))) goto oom;
            if (R->n_memo == R->cap_memo) {
                size_t cap = R->cap_memo ? R->cap_memo * 2 : 8;
                memo_t *m = realloc(R->memo, cap * sizeof *m);
                if (!m) goto oom;
                R->memo = m;
                R->cap_memo = cap;
            }
            R->memo[R->n_memo++] = (memo_t){w, r, p};
            if ((rc = build_record(R, p, err))) {
                if (rc == PB_ERR_NOMEM) return rc;
                /* Anything already pointing at this pair fails the same way at run time. */
                p->op = OP_FAIL;
                if (!(p->why = strdup(err->msg))) goto oom;
                return rc;
            }
            *out = p;
            return 0;
        }
        case PB_AVRO_UNION: break; /* handled above */
        }
    } else {
        switch (w->type) {
        case PB_AVRO_INT:
            op = r->type == PB_AVRO_LONG     ? OP_INT
                 : r->type == PB_AVRO_FLOAT  ? OP_INT_FLOAT
                 : r->type == PB_AVRO_DOUBLE ? OP_INT_DOUBLE
                                             : OP_FAIL;
            break;
        case PB_AVRO_LONG:
            op = r->type == PB_AVRO_FLOAT    ? OP_LONG_FLOAT
                 : r->type == PB_AVRO_DOUBLE ? OP_LONG_DOUBLE
                                             : OP_FAIL;
            break;
        case PB_AVRO_FLOAT: op = r->type == PB_AVRO_DOUBLE ? OP_FLOAT_DOUBLE : OP_FAIL; break;
        case PB_AVRO_STRING: op = r->type == PB_AVRO_BYTES ? OP_STRING : OP_FAIL; break;
        case PB_AVRO_BYTES: op = r->type == PB_AVRO_STRING ? OP_STRING : OP_FAIL; break;
        default: break;
        }
    }
    if (op == OP_FAIL)
        return incompatible(err, "at %s: writer type %s cannot be read as reader type %s", where(r),
                            branch_name(w), branch_name(r));
    if (!(p = plan_alloc(R, op, w, r))) goto oom;
    *out = p;
    return 0;
oom:
    return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
}

/* ------------------------------------------------------------------------------------------ */
/* Running a plan                                                                             */

static int run(cx_t *c, const plan_t *p, int depth);

static int run_record_reordered(cx_t *c, const plan_t *p, int depth) {
    pb_buf_t *b = c->bin;
    size_t local[2 * 32], *span = local, nr = p->n_rfields;
    int rc = 0;
    if (nr > 32 && !(span = malloc(2 * nr * sizeof *span))) return nomem(c);
    for (size_t i = 0; i < nr; i++)
        span[2 * i + 1] = SIZE_MAX;
    size_t base = b->len;
    for (size_t k = 0; k < p->n_steps; k++) {
        const step_t *s = &p->steps[k];
        push_key(c, s->wfield->name, strlen(s->wfield->name));
        if (s->kind == STEP_SKIP) {
            rc = dec(c, s->wfield->type, depth);
        } else {
            size_t off = b->len;
            rc = run(c, s->plan, depth);
            span[2 * s->ridx] = off;
            span[2 * s->ridx + 1] = b->len - off;
        }
        if (rc) goto done;
        pop(c);
    }
    /* Append the fields again in reader order, then slide them over the writer-order copy. */
    size_t end = b->len;
    if (pb_buf_reserve(b, end - base + p->dflt_total)) {
        rc = nomem(c);
        goto done;
    }
    for (size_t i = 0; i < nr; i++) {
        bool read = span[2 * i + 1] != SIZE_MAX;
        size_t len = read ? span[2 * i + 1] : p->rdflt_len[i];
        if (!len) continue; /* (p->dflt is NULL when every default is empty) */
        memcpy(b->data + b->len, read ? b->data + span[2 * i] : p->dflt + p->rdflt_off[i], len);
        b->len += len;
    }
    memmove(b->data + base, b->data + end, b->len - end);
    b->len = base + (b->len - end);
done:
    if (span != local) free(span);
    return rc;
}

static int run(cx_t *c, const plan_t *p, int depth) {
    pb_buf_t *b = c->bin;
    int rc;
    switch (p->op) {
    case OP_FAIL: return fail(c, PB_ERR_INVALID, "cannot resolve: %s", p->why);
    case OP_NULL: return 0;
    case OP_BOOL: {
        if (c->p == c->end) return truncated(c, "boolean", 1);
        uint8_t v = *c->p;
        if (v > 1) return fail(c, PB_ERR_INVALID, "invalid boolean byte 0x%02x", v);
        c->p++;
        return pb_buf_putc(b, v) ? nomem(c) : 0;
    }
    case OP_INT: {
        int32_t v;
        if ((rc = read_int(c, &v))) return rc;
        return put_long(b, v) ? nomem(c) : 0;
    }
    case OP_LONG: {
        int64_t v;
        if ((rc = read_long(c, &v))) return rc;
        return put_long(b, v) ? nomem(c) : 0;
    }
    case OP_FLOAT:
    case OP_DOUBLE: {
        size_t n = p->op == OP_FLOAT ? 4 : 8;
        if (left(c) < n) return truncated(c, p->op == OP_FLOAT ? "float" : "double", n);
        rc = pb_buf_append(b, c->p, n);
        c->p += n;
        return rc ? nomem(c) : 0;
    }
    case OP_INT_FLOAT:
    case OP_INT_DOUBLE: {
        int32_t v;
        if ((rc = read_int(c, &v))) return rc;
        rc = p->op == OP_INT_FLOAT ? put_float(b, (float)v) : put_double(b, (double)v);
        return rc ? nomem(c) : 0;
    }
    case OP_LONG_FLOAT:
    case OP_LONG_DOUBLE: {
        int64_t v;
        if ((rc = read_long(c, &v))) return rc;
        rc = p->op == OP_LONG_FLOAT ? put_float(b, (float)v) : put_double(b, (double)v);
        return rc ? nomem(c) : 0;
    }
    case OP_FLOAT_DOUBLE: {
        if (left(c) < 4) return truncated(c, "float", 4);
        uint32_t u = le32(c->p);
        c->p += 4;
        float f;
        memcpy(&f, &u, 4);
        return put_double(b, (double)f) ? nomem(c) : 0;
    }
    case OP_BYTES:
    case OP_STRING: {
        bool text = p->op == OP_STRING;
        const char *what = p->w->type == PB_AVRO_BYTES ? "bytes" : "string";
        size_t len;
        if ((rc = read_len(c, what, &len))) return rc;
        if (text) {
            size_t bad = utf8_check(c->p, len);
            if (bad != len)
                return fail(c, PB_ERR_INVALID, "invalid UTF-8 in %s at byte %zu%s", what, bad,
                            p->w->type == PB_AVRO_BYTES ? " (the reader wants a string)" : "");
        }
        if (put_long(b, (int64_t)len) || pb_buf_append(b, c->p, len)) return nomem(c);
        c->p += len;
        return 0;
    }
    case OP_FIXED: {
        size_t n = p->w->size;
        if (left(c) < n) return truncated(c, "fixed", n);
        rc = pb_buf_append(b, c->p, n);
        c->p += n;
        return rc ? nomem(c) : 0;
    }
    case OP_ENUM: {
        int32_t i;
        if ((rc = read_int(c, &i))) return rc;
        if (i < 0 || (size_t)i >= p->w->n_symbols)
            return fail(c, PB_ERR_INVALID, "enum index %d out of range (%zu symbols)", i,
                        p->w->n_symbols);
        if (p->emap[i] < 0)
            return fail(c, PB_ERR_INVALID,
                        "symbol \"%s\" is not in reader enum %s, which has no default",
                        p->w->symbols[i], p->r->fullname);
        return put_long(b, p->emap[i]) ? nomem(c) : 0;
    }
    case OP_ARRAY:
    case OP_MAP: {
        if (++depth > PB_CODEC_MAX_DEPTH) return too_deep(c);
        bool is_map = p->op == OP_MAP;
        size_t idx = 0;
        for (;;) {
            int64_t count;
            const uint8_t *bend;
            if ((rc = read_block(c, &count, &bend))) return rc;
            if (count == 0) break;
            if ((rc = check_count(c, count, p->min_item))) return rc;
            if (put_long(b, count)) return nomem(c);
            for (int64_t k = 0; k < count; k++, idx++) {
                if (is_map) {
                    size_t kl;
                    if ((rc = read_len(c, "map key", &kl))) return rc;
                    const uint8_t *key = c->p;
                    size_t bad = utf8_check(key, kl);
                    if (bad != kl)
                        return fail(c, PB_ERR_INVALID, "invalid UTF-8 in map key at byte %zu", bad);
                    if (put_long(b, (int64_t)kl) || pb_buf_append(b, key, kl)) return nomem(c);
                    c->p += kl;
                    push_key(c, (const char *)key, kl);
                } else {
                    push_idx(c, idx);
                }
                if ((rc = run(c, p->inner, depth))) return rc;
                pop(c);
            }
            if ((rc = block_done(c, bend))) return rc;
        }
        return pb_buf_putc(b, 0) ? nomem(c) : 0;
    }
    case OP_RECORD: {
        if (++depth > PB_CODEC_MAX_DEPTH) return too_deep(c);
        if (p->reorder) return run_record_reordered(c, p, depth);
        for (size_t k = 0; k < p->n_steps; k++) {
            const step_t *s = &p->steps[k];
            if (s->kind == STEP_DEFAULT) {
                if (s->dflt_len && pb_buf_append(b, p->dflt + s->dflt_off, s->dflt_len))
                    return nomem(c);
                continue;
            }
            push_key(c, s->wfield->name, strlen(s->wfield->name));
            rc = s->kind == STEP_SKIP ? dec(c, s->wfield->type, depth) : run(c, s->plan, depth);
            if (rc) return rc;
            pop(c);
        }
        return 0;
    }
    case OP_WUNION: {
        if (++depth > PB_CODEC_MAX_DEPTH) return too_deep(c);
        int64_t i;
        if ((rc = read_long(c, &i))) return rc;
        if (i < 0 || (uint64_t)i >= p->n_wb)
            return fail(c, PB_ERR_INVALID, "union branch %lld out of range (%zu branches)",
                        (long long)i, p->n_wb);
        const wbranch_t *wb = &p->wb[i];
        const pb_schema_node_t *wn = p->w->branches[i];
        if (wn->type != PB_AVRO_NULL) {
            const char *name = branch_name(wn);
            push_key(c, name, strlen(name));
        }
        if (!wb->plan) return fail(c, PB_ERR_INVALID, "cannot resolve: %s", wb->why);
        if (wb->ridx >= 0 && put_long(b, wb->ridx)) return nomem(c);
        if ((rc = run(c, wb->plan, depth))) return rc;
        if (wn->type != PB_AVRO_NULL) pop(c);
        return 0;
    }
    case OP_RUNION:
        if (put_long(b, p->ridx)) return nomem(c);
        return run(c, p->inner, depth);
    }
    return fail(c, PB_ERR_INTERNAL, "bad plan op %d", (int)p->op);
}

int pb_resolver_run(const pb_resolver_t *r, const uint8_t *in, size_t len, pb_buf_t *out,
                    pb_err_t *err) {
    cx_t c;
    cx_init(&c, err);
    c.p = in;
    c.end = in + len;
    c.bin = out;
    size_t start = out->len;
    if (r->identity) {
        int rc = dec(&c, r->writer->root, 0);
        if (!rc) rc = trailing(&c);
        if (!rc && pb_buf_append(out, in, len)) rc = nomem(&c);
        return rc;
    }
    int rc = run(&c, r->root, 0);
    if (!rc) rc = trailing(&c);
    if (rc) out->len = start;
    return rc;
}

int pb_resolver_new(const pb_schema_t *writer, const pb_schema_t *reader, pb_resolver_t **out,
                    pb_err_t *err) {
    pb_resolver_t *R = calloc(1, sizeof *R);
    if (!R) return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    int rc = build(R, writer->root, reader->root, &R->root, err);
    if (rc) {
        pb_resolver_destroy(R);
        return rc;
    }
    /* Same canonical form, same binary layout: defaults, aliases and logical types cannot matter
     * when every field and symbol is the same, so running is validating and copying. */
    R->writer = writer;
    R->identity = !strcmp(pb_schema_canonical(writer), pb_schema_canonical(reader));
    *out = R;
    return 0;
}
