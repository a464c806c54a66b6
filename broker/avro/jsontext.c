/*
 * jsontext — JSON string escaping, JSON pointers (RFC 6901) and strict percent-decoding, shared by
 * every module that writes JSON text or reads a URL (the rules are in jsontext.h).
 *
 * Owns: nothing but code. Pure: no I/O, no global state, heap only through pb_buf_t. Must not:
 * know schemas, Avro, HTTP or jansson; grow a second set of rules (a caller that needs another
 * rule adds a flag here, with a case in tests/data/jsontext/).
 */
#include "jsontext.h"

#include <stdio.h>
#include <string.h>

static const char hexd[] = "0123456789abcdef";

size_t pb_jsontext_utf8_len(const uint8_t *p, size_t n) {
    unsigned b = p[0];
    size_t k;
    uint32_t cp;
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) {
        k = 1;
        cp = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
        k = 2;
        cp = b & 0x0F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        k = 3;
        cp = b & 0x07;
    } else {
        return 0;
    }
    if (n <= k) return 0;
    for (size_t j = 1; j <= k; j++) {
        if ((p[j] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (p[j] & 0x3F);
    }
    if ((k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return k + 1;
}

/* Is byte c copied as is inside a run (ASCII that needs no escape)? */
static inline int plain(uint8_t c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

/* The escaped form of the character at s[0] (n >= 1) into o (8 bytes suffice). Returns the
 * output length; *used gets the input bytes it stands for. */
static size_t esc_one(const uint8_t *s, size_t n, unsigned flags, char *o, size_t *used) {
    uint8_t c = s[0];
    *used = 1;
    if (c < 0x80 || (flags & PB_JSONTEXT_BYTES)) {
        switch (c) {
        case '"': memcpy(o, "\\\"", 2); return 2;
        case '\\': memcpy(o, "\\\\", 2); return 2;
        case '\b': memcpy(o, "\\b", 2); return 2;
        case '\t': memcpy(o, "\\t", 2); return 2;
        case '\n': memcpy(o, "\\n", 2); return 2;
        case '\f': memcpy(o, "\\f", 2); return 2;
        case '\r': memcpy(o, "\\r", 2); return 2;
        default: break;
        }
        if (c < 0x20) {
            memcpy(o, "\\u00", 4);
            o[4] = hexd[c >> 4];
            o[5] = hexd[c & 15];
            return 6;
        }
        if (c < 0x80) {
            o[0] = (char)c;
            return 1;
        }
    } else {
        size_t k = pb_jsontext_utf8_len(s, n);
        if (k) {
            memcpy(o, s, k);
            *used = k;
            return k;
        }
    }
    /* A byte as its code point U+0080..U+00FF. */
    o[0] = (char)(0xC0 | c >> 6);
    o[1] = (char)(0x80 | (c & 0x3F));
    return 2;
}

int pb_jsontext_escape(pb_buf_t *out, const void *p, size_t n, unsigned flags) {
    const uint8_t *s = p;
    size_t i = 0;
    if (pb_buf_reserve(out, n + 1)) goto nomem;
    while (i < n) {
        size_t run = i;
        while (run < n && plain(s[run]))
            run++;
        if (run > i) {
            if (pb_buf_append(out, s + i, run - i)) goto nomem;
            i = run;
            continue;
        }
        char tmp[8];
        size_t used, k = esc_one(s + i, n - i, flags, tmp, &used);
        if (pb_buf_append(out, tmp, k)) goto nomem;
        i += used;
    }
    if (pb_buf_reserve(out, 1)) goto nomem;
    out->data[out->len] = '\0';
    return 0;
nomem:
    if (out->data && out->len < out->cap) out->data[out->len] = '\0';
    return PB_ERR_NOMEM;
}

int pb_jsontext_string(pb_buf_t *out, const void *s, size_t n, unsigned flags) {
    if (pb_buf_putc(out, '"') || pb_jsontext_escape(out, s, n, flags) || pb_buf_reserve(out, 2))
        return PB_ERR_NOMEM;
    out->data[out->len++] = '"';
    out->data[out->len] = '\0';
    return 0;
}

size_t pb_jsontext_escape_to(char *out, size_t cap, const void *p, size_t n, unsigned flags,
                             size_t *used) {
    const uint8_t *s = p;
    size_t i = 0, o = 0;
    while (i < n) {
        char tmp[8];
        size_t u, k = esc_one(s + i, n - i, flags, tmp, &u);
        if (o + k + 1 > cap) break;
        memcpy(out + o, tmp, k);
        o += k;
        i += u;
    }
    if (cap) out[o] = '\0';
    if (used) *used = i;
    return o;
}

/* ---- JSON pointers ---- */

int pb_jsontext_pointer_push(pb_buf_t *path, const char *seg, size_t n) {
    size_t extra = 1;
    for (size_t i = 0; i < n; i++)
        extra += (seg[i] == '~' || seg[i] == '/') ? 2 : 1;
    if (pb_buf_reserve(path, extra + 1)) return PB_ERR_NOMEM;
    uint8_t *o = path->data + path->len;
    *o++ = '/';
    for (size_t i = 0; i < n; i++) {
        if (seg[i] == '~' || seg[i] == '/') {
            *o++ = '~';
            *o++ = seg[i] == '~' ? '0' : '1';
        } else {
            *o++ = (uint8_t)seg[i];
        }
    }
    *o = '\0';
    path->len += extra;
    return 0;
}

int pb_jsontext_pointer_push_index(pb_buf_t *path, size_t i) {
    char tmp[24];
    int k = snprintf(tmp, sizeof tmp, "%zu", i);
    return pb_jsontext_pointer_push(path, tmp, (size_t)k);
}

void pb_jsontext_pointer_pop(pb_buf_t *path, size_t len) {
    if (len > path->len) return;
    path->len = len;
    if (path->data) path->data[len] = '\0';
}

size_t pb_jsontext_pointer_push_to(char *path, size_t cap, size_t len, const char *seg, size_t n) {
    if (len + 2 > cap) return len;
    path[len++] = '/';
    for (size_t i = 0; i < n; i++) {
        int esc = seg[i] == '~' || seg[i] == '/';
        if (len + (esc ? 2 : 1) + 1 > cap) break;
        if (esc) {
            path[len++] = '~';
            path[len++] = seg[i] == '~' ? '0' : '1';
        } else {
            path[len++] = seg[i];
        }
    }
    path[len] = '\0';
    return len;
}

/* ---- percent-decoding ---- */

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The up to three characters at s[i..n) for a message, non-printing ones as '?'. */
static void found(const char *s, size_t i, size_t n, char out[4]) {
    size_t k = 0;
    for (; k < 3 && i + k < n; k++) {
        unsigned char c = (unsigned char)s[i + k];
        out[k] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    out[k] = '\0';
}

int pb_jsontext_pct_decode(const char *s, size_t n, unsigned flags, char *out, size_t cap,
                           size_t *out_len, pb_err_t *err) {
    uint8_t seq[4];
    size_t have = 0, want = 0, seq_at = 0, o = 0;
    for (size_t i = 0; i < n; i++) {
        size_t at = i;
        int c = (unsigned char)s[i];
        if (c == '%') {
            int h = i + 1 < n ? hexval((unsigned char)s[i + 1]) : -1;
            int l = h >= 0 && i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
            if (h < 0 || l < 0) {
                char f[4];
                found(s, i, n, f);
                return pb_err_set(err, PB_ERR_INVALID,
                                  "at offset %zu: '%%' must be followed by two hex digits, not "
                                  "'%s'",
                                  i, f);
            }
            c = h * 16 + l;
            i += 2;
        } else if (c == '+' && (flags & PB_JSONTEXT_PLUS)) {
            c = ' ';
        }
        if (flags & PB_JSONTEXT_TEXT) {
            if (c == 0)
                return pb_err_set(err, PB_ERR_INVALID, "at offset %zu: %%00 (NUL) is not allowed",
                                  at);
            if (have < want) { /* inside a multi-byte sequence */
                seq[have++] = (uint8_t)c;
                if (have == want) {
                    if (pb_jsontext_utf8_len(seq, want) != want) goto not_utf8;
                    have = want = 0;
                }
            } else if (c >= 0x80) {
                want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
                if (!want) {
                    seq_at = at;
                    goto not_utf8;
                }
                seq[0] = (uint8_t)c;
                have = 1;
                seq_at = at;
            }
        }
        if (out) {
            if (o + 1 >= cap)
                return pb_err_set(err, PB_ERR_TOO_LARGE, "decodes to more than %zu bytes",
                                  cap ? cap - 1 : 0);
            out[o] = (char)c;
        }
        o++;
    }
    if (have < want) goto not_utf8;
    if (out && cap) out[o] = '\0';
    if (out_len) *out_len = o;
    return 0;
not_utf8:
    return pb_err_set(err, PB_ERR_INVALID, "at offset %zu: the decoded bytes are not UTF-8",
                      seq_at);
}

/* Copied as is by pb_jsontext_pct_encode (RFC 3986's unreserved set, and '/' when asked). */
static int unreserved(uint8_t c, unsigned flags) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || (c == '/' && (flags & PB_JSONTEXT_SLASH));
}

int pb_jsontext_pct_encode(pb_buf_t *out, const void *p, size_t n, unsigned flags) {
    static const char hexu[] = "0123456789ABCDEF"; /* RFC 3986 2.1: uppercase */
    const uint8_t *s = p;
    size_t need = 1; /* the NUL */
    for (size_t i = 0; i < n; i++)
        need += unreserved(s[i], flags) ? 1 : 3;
    if (pb_buf_reserve(out, need)) return PB_ERR_NOMEM; /* all or nothing */
    uint8_t *o = out->data + out->len;
    for (size_t i = 0; i < n; i++) {
        if (unreserved(s[i], flags)) {
            *o++ = s[i];
        } else {
            *o++ = '%';
            *o++ = (uint8_t)hexu[s[i] >> 4];
            *o++ = (uint8_t)hexu[s[i] & 15];
        }
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = '\0';
    return 0;
}
