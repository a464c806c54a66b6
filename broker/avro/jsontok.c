/*
 * jsontok — one-pass JSON tokenizer (see jsontok.h for what it accepts).
 *
 * Owns: the token array, the decoded-string buffer, the duplicate-key check.
 * Must not: allocate per value, or accept anything RFC 8259 does not (jsontok.h lists the few
 * texts it refuses on purpose).
 *
 * A recursive descent over the bytes, depth-bounded. Strings are scanned with a plain-byte fast
 * loop; only strings with escapes are copied (decoded). Numbers are checked against the grammar
 * and kept as text unless they are int64 integers; nothing is converted that no one reads.
 */
#include "jsontok.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jsontext.h"

typedef struct parser {
    pb_jsontok_t *tk;
    const char *start, *p, *end;
    pb_err_t *err;
} parser_t;

/* The error at ps->p, with its line and column (1-based, columns in bytes) for a person. */
static int bad(parser_t *ps, const char *why) {
    size_t line = 1, col = 1, off = (size_t)(ps->p - ps->start);
    for (const char *q = ps->start; q < ps->p; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    return pb_err_set(ps->err, PB_ERR_INVALID, "line %zu column %zu (byte %zu): %s", line, col, off,
                      why);
}

static int nomem(parser_t *ps) { return pb_err_set(ps->err, PB_ERR_NOMEM, "out of memory"); }

static inline void skip_ws(parser_t *ps) {
    const char *p = ps->p, *end = ps->end;
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    ps->p = p;
}

static inline long push(parser_t *ps, uint8_t type) {
    pb_jsontok_t *tk = ps->tk;
    if (tk->n == tk->cap) {
        size_t cap = tk->cap ? tk->cap * 2 : 256;
        pb_jsontok_tok_t *t = realloc(tk->tok, cap * sizeof *t);
        if (!t) return -1;
        tk->tok = t;
        tk->cap = cap;
    }
    pb_jsontok_tok_t *t = &tk->tok[tk->n];
    t->type = type;
    t->esc = 0;
    t->len = 0;
    t->next = (uint32_t)(tk->n + 1);
    return (long)tk->n++;
}

static inline int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int hex4(const char *p, const char *end) {
    if (end - p < 4) return -1;
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval((unsigned char)p[i]);
        if (h < 0) return -1;
        v = v << 4 | h;
    }
    return v;
}

static size_t utf8_put(char *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string; ps->p is just past the opening quote. */
static int string(parser_t *ps) {
    const unsigned char *s = (const unsigned char *)ps->p, *end = (const unsigned char *)ps->end;
    const unsigned char *p = s;
    /* Fast scan: plain printable ASCII. */
    for (;;) {
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        if (p == end) {
            ps->p = (const char *)p;
            return bad(ps, "premature end of input in a string");
        }
        if (*p >= 0x80) {
            size_t k = pb_jsontext_utf8_len(p, (size_t)(end - p));
            if (!k) {
                ps->p = (const char *)p;
                return bad(ps, "invalid UTF-8");
            }
            p += k;
            continue;
        }
        break;
    }
    long ti = push(ps, PB_JSONTOK_STRING);
    if (ti < 0) return nomem(ps);
    pb_jsontok_tok_t *t = &ps->tk->tok[ti];
    if (*p == '"') {
        t->v.s = (const char *)s;
        t->len = (uint32_t)(p - s);
        ps->p = (const char *)p + 1;
        return 0;
    }
    if (*p != '\\') {
        ps->p = (const char *)p;
        return bad(ps, "control character in a string");
    }
    /* Escapes: decode into strs (reserved for the whole input by the caller). */
    pb_jsontok_t *tk = ps->tk;
    char *o0 = tk->strs + tk->strs_len, *o = o0;
    memcpy(o, s, (size_t)(p - s));
    o += p - s;
    for (;;) {
        if (p == end) {
            ps->p = (const char *)p;
            return bad(ps, "premature end of input in a string");
        }
        unsigned c = *p;
        if (c == '"') break;
        if (c < 0x20) {
            ps->p = (const char *)p;
            return bad(ps, "control character in a string");
        }
        if (c >= 0x80) {
            size_t k = pb_jsontext_utf8_len(p, (size_t)(end - p));
            if (!k) {
                ps->p = (const char *)p;
                return bad(ps, "invalid UTF-8");
            }
            memcpy(o, p, k);
            o += k;
            p += k;
            continue;
        }
        if (c != '\\') {
            *o++ = (char)c;
            p++;
            continue;
        }
        ps->p = (const char *)p;
        if (++p == end) return bad(ps, "premature end of input in a string");
        switch (*p) {
        case '"':
        case '\\':
        case '/': *o++ = (char)*p; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            int v = hex4((const char *)p + 1, (const char *)end);
            if (v < 0) return bad(ps, "invalid \\u escape");
            p += 4;
            uint32_t cp = (uint32_t)v;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                int v2 = end - p >= 7 && p[1] == '\\' && p[2] == 'u'
                             ? hex4((const char *)p + 3, (const char *)end)
                             : -1;
                if (v2 < 0xDC00 || v2 > 0xDFFF) return bad(ps, "invalid surrogate pair");
                cp = ((cp - 0xD800) << 10) + ((uint32_t)v2 - 0xDC00) + 0x10000;
                p += 6;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return bad(ps, "lone low surrogate");
            }
            o += utf8_put(o, cp);
            break;
        }
        default: return bad(ps, "invalid escape");
        }
        p++;
    }
    t = &tk->tok[ti];
    t->esc = 1;
    t->v.off = tk->strs_len;
    t->len = (uint32_t)(o - o0);
    tk->strs_len += (size_t)(o - o0);
    ps->p = (const char *)p + 1;
    return 0;
}

static int number(parser_t *ps) {
    const char *b = ps->p, *p = b, *end = ps->end;
    int neg = 0;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    if (p < end && *p == '0') {
        p++;
        if (p < end && *p >= '0' && *p <= '9') return bad(ps, "invalid number (leading zero)");
    } else if (p < end && *p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        return bad(ps, "invalid number");
    }
    if (p == end || (*p != '.' && *p != 'e' && *p != 'E')) {
        /* Integer: an INTEGER token in the int64 range, else a REAL one keeping its text. */
        uint64_t u = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        int fits = 1;
        for (const char *q = b + neg; q < p && fits; q++) {
            unsigned d = (unsigned)(*q - '0');
            if (u > (lim - d) / 10) fits = 0;
            u = u * 10 + d;
        }
        if (fits) {
            long ti = push(ps, PB_JSONTOK_INTEGER);
            if (ti < 0) return nomem(ps);
            ps->tk->tok[ti].v.i = neg ? (int64_t)(0 - u) : (int64_t)u;
            ps->p = p;
            return 0;
        }
    }
    if (p < end && *p == '.') {
        p++;
        if (p == end || *p < '0' || *p > '9') return bad(ps, "invalid number");
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p == end || *p < '0' || *p > '9') return bad(ps, "invalid number");
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    long ti = push(ps, PB_JSONTOK_REAL);
    if (ti < 0) return nomem(ps);
    ps->tk->tok[ti].v.s = b;
    ps->tk->tok[ti].len = (uint32_t)(p - b);
    ps->p = p;
    return 0;
}

static int literal(parser_t *ps) {
    const char *b = ps->p, *p = b;
    while (p < ps->end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
        p++;
    size_t n = (size_t)(p - b);
    uint8_t type;
    if (n == 4 && !memcmp(b, "true", 4))
        type = PB_JSONTOK_TRUE;
    else if (n == 5 && !memcmp(b, "false", 5))
        type = PB_JSONTOK_FALSE;
    else if (n == 4 && !memcmp(b, "null", 4))
        type = PB_JSONTOK_NULL;
    else
        return bad(ps, "invalid token");
    if (push(ps, type) < 0) return nomem(ps);
    ps->p = p;
    return 0;
}

static uint32_t key_hash(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static int key_eq(const pb_jsontok_t *tk, const pb_jsontok_tok_t *a, const pb_jsontok_tok_t *b) {
    return a->len == b->len && !memcmp(pb_jsontok_str(tk, a), pb_jsontok_str(tk, b), a->len);
}

/* Is some key of object obj (n members) repeated? */
static int has_duplicates(parser_t *ps, size_t obj, size_t n, int *dup) {
    pb_jsontok_t *tk = ps->tk;
    const pb_jsontok_tok_t *t = tk->tok;
    *dup = 0;
    if (n < 2) return 0;
    if (n <= 8) {
        size_t keys[8], k = 0;
        for (size_t i = obj + 1; k < n; i = t[i + 1].next)
            keys[k++] = i;
        for (size_t a = 1; a < n; a++)
            for (size_t b = 0; b < a; b++)
                if (key_eq(tk, &t[keys[a]], &t[keys[b]])) {
                    *dup = 1;
                    return 0;
                }
        return 0;
    }
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    if (tk->scratch_cap < cap) {
        uint32_t *s = realloc(tk->scratch, cap * sizeof *s);
        if (!s) return nomem(ps);
        tk->scratch = s;
        tk->scratch_cap = cap;
    }
    uint32_t *slot = tk->scratch;
    memset(slot, 0, cap * sizeof *slot); /* 0 = empty: a key is never token 0 */
    size_t i = obj + 1;
    for (size_t m = 0; m < n; m++, i = t[i + 1].next) {
        size_t h = key_hash(pb_jsontok_str(tk, &t[i]), t[i].len) & (cap - 1);
        while (slot[h]) {
            if (key_eq(tk, &t[slot[h]], &t[i])) {
                *dup = 1;
                return 0;
            }
            h = (h + 1) & (cap - 1);
        }
        slot[h] = (uint32_t)i;
    }
    return 0;
}

static int value(parser_t *ps, int depth);

static int object(parser_t *ps, int depth) {
    long oi = push(ps, PB_JSONTOK_OBJECT);
    if (oi < 0) return nomem(ps);
    size_t n = 0;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        ps->tk->tok[oi].next = (uint32_t)ps->tk->n;
        return 0;
    }
    for (;;) {
        if (ps->p == ps->end || *ps->p != '"') return bad(ps, "string or '}' expected");
        ps->p++;
        int rc = string(ps);
        if (rc) return rc;
        skip_ws(ps);
        if (ps->p == ps->end || *ps->p != ':') return bad(ps, "':' expected");
        ps->p++;
        if ((rc = value(ps, depth + 1))) return rc;
        n++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            skip_ws(ps);
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') break;
        return bad(ps, "'}' expected");
    }
    ps->p++;
    pb_jsontok_tok_t *o = &ps->tk->tok[oi];
    o->len = (uint32_t)n;
    o->next = (uint32_t)ps->tk->n;
    int dup = 0, rc = has_duplicates(ps, (size_t)oi, n, &dup);
    if (rc) return rc;
    if (dup) return bad(ps, "duplicate object key");
    return 0;
}

static int array(parser_t *ps, int depth) {
    long ai = push(ps, PB_JSONTOK_ARRAY);
    if (ai < 0) return nomem(ps);
    size_t n = 0;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        ps->tk->tok[ai].next = (uint32_t)ps->tk->n;
        return 0;
    }
    for (;;) {
        int rc = value(ps, depth + 1);
        if (rc) return rc;
        n++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']') break;
        return bad(ps, "']' expected");
    }
    ps->p++;
    ps->tk->tok[ai].len = (uint32_t)n;
    ps->tk->tok[ai].next = (uint32_t)ps->tk->n;
    return 0;
}

#define STR_(x) #x
#define STR(x) STR_(x) /* a macro's value as text */

static int value(parser_t *ps, int depth) {
    if (depth > PB_JSONTOK_MAX_DEPTH)
        return bad(ps, "maximum parsing depth reached (values nest at most " STR(
                           PB_JSONTOK_MAX_DEPTH) " deep)");
    skip_ws(ps);
    if (ps->p == ps->end) return bad(ps, "premature end of input");
    switch (*ps->p) {
    case '{': return object(ps, depth);
    case '[': return array(ps, depth);
    case '"': ps->p++; return string(ps);
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9': return number(ps);
    default: return literal(ps);
    }
}

int pb_jsontok_parse(pb_jsontok_t *tk, const char *json, size_t len, size_t *root, pb_err_t *err) {
    if (len >= UINT32_MAX / 2 || tk->n + len / 2 + 2 >= UINT32_MAX)
        return pb_err_set(err, PB_ERR_TOO_LARGE, "JSON text of %zu bytes is too large", len);
    /* Decoded strings are never longer than their source text. */
    if (tk->strs_cap - tk->strs_len < len + 1) {
        size_t cap = tk->strs_len + len + 1;
        if (cap < 2 * tk->strs_cap) cap = 2 * tk->strs_cap;
        char *s = realloc(tk->strs, cap);
        if (!s) return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        tk->strs = s;
        tk->strs_cap = cap;
    }
    size_t n0 = tk->n, s0 = tk->strs_len;
    parser_t ps = {tk, json, json, json + len, err};
    int rc = value(&ps, 1);
    if (!rc) {
        skip_ws(&ps);
        if (ps.p != ps.end) rc = bad(&ps, "end of input expected");
    }
    if (rc) {
        tk->n = n0;
        tk->strs_len = s0;
        return rc;
    }
    *root = n0;
    return 0;
}

void pb_jsontok_reset(pb_jsontok_t *tk) {
    tk->n = 0;
    tk->strs_len = 0;
}

void pb_jsontok_free(pb_jsontok_t *tk) {
    if (!tk) return;
    free(tk->tok);
    free(tk->strs);
    free(tk->scratch);
    memset(tk, 0, sizeof *tk);
}

int pb_jsontok_eq(const pb_jsontok_t *tk, const pb_jsontok_tok_t *t, const char *s) {
    /* t may hold U+0000: compare lengths first, never strncmp past s's end */
    size_t n = strnlen(s, (size_t)t->len + 1);
    return n == t->len && memcmp(s, pb_jsontok_str(tk, t), n) == 0;
}

size_t pb_jsontok_get(const pb_jsontok_t *tk, size_t obj, const char *key) {
    const pb_jsontok_tok_t *t = tk->tok;
    size_t i = obj + 1;
    for (uint32_t m = 0; m < t[obj].len; m++, i = t[i + 1].next)
        if (pb_jsontok_eq(tk, &t[i], key)) return i + 1;
    return 0;
}

int pb_jsontok_real(const pb_jsontok_tok_t *t, double *d) {
    if (t->type == PB_JSONTOK_INTEGER) {
        *d = (double)t->v.i;
        return 0;
    }
    /* The text is not NUL-terminated (it may end the input): strtod reads a copy. */
    char small[128], *txt = small;
    size_t n = t->len;
    if (n >= sizeof small && !(txt = malloc(n + 1))) return PB_ERR_NOMEM;
    memcpy(txt, t->v.s, n);
    txt[n] = '\0';
    errno = 0;
    *d = strtod(txt, NULL);
    int overflow = (*d == HUGE_VAL || *d == -HUGE_VAL) && errno == ERANGE;
    if (txt != small) free(txt);
    return overflow ? -1 : 0;
}

int pb_jsontok_is_big_integer(const pb_jsontok_tok_t *t) {
    if (t->type != PB_JSONTOK_REAL) return 0;
    for (uint32_t k = 0; k < t->len; k++)
        if (t->v.s[k] == '.' || t->v.s[k] == 'e' || t->v.s[k] == 'E') return 0;
    return 1;
}
