/*
 * auth — principals, credentials, tokens, JWT and the authorization decision (DESIGN.md §9).
 *
 * Owns: the pure rules of who a caller is and what it may do, and the credential sources read
 * from files (tokens, JWKS). All cryptography is OpenSSL's libcrypto: SHA-256 (EVP_Digest),
 * constant-time compares (CRYPTO_memcmp), signature checks (EVP_DigestVerify), randomness
 * (RAND_bytes). Base64 here is only a text encoding.
 * Must not: touch HTTP requests, the registry, the loop or the clock (callers pass the time), or
 * echo a secret into a message or a log.
 */
#include "auth.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "addr.h"
#include "buf.h"

/* ---- base64 (a text encoding, not crypto) ---------------------------------------------------- */

static int b64val(int c, int url) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == (url ? '-' : '+')) return 62;
    if (c == (url ? '_' : '/')) return 63;
    return -1;
}

/* Decode n chars of base64 (url: the URL-safe alphabet) into out (cap bytes). Padding '=' is
 * accepted at the end only. Returns the decoded length, or -1 when the text is not base64 or does
 * not fit. */
static long b64_decode(const char *in, size_t n, int url, unsigned char *out, size_t cap) {
    while (n && in[n - 1] == '=')
        n--;
    if (n % 4 == 1) return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)in[i], url);
        if (v < 0) return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap) return -1;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)o;
}

static void b64url_encode(const unsigned char *in, size_t n, char *out) {
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = a[(acc >> bits) & 63];
        }
    }
    if (bits) out[o++] = a[(acc << (6 - bits)) & 63];
    out[o] = '\0';
}

/* ---- principals ----------------------------------------------------------------------------- */

/* Split a product URN or pattern "urn:dpds:NS:dataproducts:P:M" into its NS, P and M segments
 * (pointers into buf, a copy). Returns 0 or -1 when the shape is wrong. */
static int split_urn(const char *s, char *buf, size_t cap, char **ns, char **prod, char **major) {
    if (strlen(s) >= cap) return -1;
    strcpy(buf, s);
    char *seg[7];
    int n = 0;
    for (char *p = buf; n < 7;) {
        seg[n++] = p;
        char *c = strchr(p, ':');
        if (!c) break;
        *c = '\0';
        p = c + 1;
    }
    if (n != 6 || strcmp(seg[0], "urn") != 0 || strcmp(seg[1], "dpds") != 0 ||
        strcmp(seg[3], "dataproducts") != 0)
        return -1;
    *ns = seg[2];
    *prod = seg[4];
    *major = seg[5];
    return 0;
}

int pb_auth_principal_parse(const char *s, pb_auth_principal_t *out, pb_err_t *err) {
    char buf[PB_AUTH_PRINCIPAL_MAX], ex[64];
    char *ns, *prod, *major;
    unsigned m;
    memset(out, 0, sizeof *out);
    if (strcmp(s, "admin") == 0) {
        strcpy(out->name, "admin");
        out->admin = 1;
        return 0;
    }
    if (split_urn(s, buf, sizeof buf, &ns, &prod, &major))
        return pb_err_set(err, PB_ERR_INVALID,
                          "principal '%s': neither 'admin' nor a product pattern "
                          "urn:dpds:{ns}:dataproducts:{product|*}:{major|*}",
                          pb_addr_excerpt(s, ex, sizeof ex));
    if (pb_addr_check_namespace(ns, err) ||
        (strcmp(prod, "*") != 0 && pb_addr_check_name("product name", prod, err)) ||
        (strcmp(major, "*") != 0 && pb_addr_parse_major(major, &m, err)))
        return pb_err_prefix(err, "principal '%s': ", pb_addr_excerpt(s, ex, sizeof ex));
    snprintf(out->name, sizeof out->name, "%s", s);
    return 0;
}

int pb_auth_principal_acts_for(const pb_auth_principal_t *p, const char *product_urn) {
    char a[PB_AUTH_PRINCIPAL_MAX], b[PB_AUTH_PRINCIPAL_MAX];
    char *pns, *pp, *pm, *uns, *up, *um;
    if (p->admin) return 1;
    if (!product_urn || split_urn(p->name, a, sizeof a, &pns, &pp, &pm) ||
        split_urn(product_urn, b, sizeof b, &uns, &up, &um))
        return 0;
    return strcmp(pns, uns) == 0 && (strcmp(pp, "*") == 0 || strcmp(pp, up) == 0) &&
           (strcmp(pm, "*") == 0 || strcmp(pm, um) == 0);
}

/* ---- credentials ---------------------------------------------------------------------------- */

int pb_auth_parse_header(const char *value, pb_auth_scheme_t *scheme, char *token, size_t cap,
                         pb_err_t *err) {
    char ex[64];
    while (*value == ' ' || *value == '\t')
        value++;
    size_t sl = strcspn(value, " \t");
    const char *rest = value + sl;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    size_t rl = strlen(rest);
    while (rl && (rest[rl - 1] == ' ' || rest[rl - 1] == '\t'))
        rl--;
    int bearer = sl == 6 && strncasecmp(value, "Bearer", 6) == 0;
    int basic = sl == 5 && strncasecmp(value, "Basic", 5) == 0;
    if (!bearer && !basic) {
        char sch[32];
        snprintf(sch, sizeof sch, "%.*s", (int)(sl < 24 ? sl : 24), value);
        return pb_err_set(err, PB_ERR_INVALID,
                          "Authorization: scheme '%s' is not supported (use 'Bearer TOKEN', or "
                          "'Basic' with the token as password)",
                          pb_addr_excerpt(sch, ex, sizeof ex));
    }
    if (!rl)
        return pb_err_set(err, PB_ERR_INVALID, "Authorization: %s without credentials",
                          bearer ? "Bearer" : "Basic");
    if (rl >= PB_AUTH_TOKEN_MAX || rl >= cap)
        return pb_err_set(err, PB_ERR_INVALID, "Authorization: credentials longer than %d bytes",
                          PB_AUTH_TOKEN_MAX - 1);
    for (size_t i = 0; i < rl; i++)
        if (rest[i] <= ' ' || (unsigned char)rest[i] >= 0x7f)
            return pb_err_set(err, PB_ERR_INVALID,
                              "Authorization: %s credentials hold a space or a non-ASCII byte at "
                              "offset %zu",
                              bearer ? "Bearer" : "Basic", i);
    if (bearer) {
        memcpy(token, rest, rl);
        token[rl] = '\0';
        *scheme = PB_AUTH_SCHEME_BEARER;
        return 0;
    }
    unsigned char dec[PB_AUTH_TOKEN_MAX];
    long n = b64_decode(rest, rl, 0, dec, sizeof dec - 1);
    if (n < 0)
        return pb_err_set(err, PB_ERR_INVALID, "Authorization: Basic credentials are not base64");
    dec[n] = '\0';
    unsigned char *colon = memchr(dec, ':', (size_t)n);
    if (!colon)
        return pb_err_set(err, PB_ERR_INVALID,
                          "Authorization: Basic credentials are not 'user:password' (the password "
                          "is the token)");
    size_t tl = (size_t)(dec + n - (colon + 1));
    if (!tl)
        return pb_err_set(err, PB_ERR_INVALID,
                          "Authorization: Basic credentials have an empty password (the password "
                          "is the token)");
    if (memchr(colon + 1, '\0', tl))
        return pb_err_set(err, PB_ERR_INVALID, "Authorization: Basic password holds a NUL byte");
    memcpy(token, colon + 1, tl);
    token[tl] = '\0';
    *scheme = PB_AUTH_SCHEME_BASIC;
    return 0;
}

static void sha256(const void *data, size_t len, unsigned char md[32]) {
    unsigned int n = 32;
    if (!EVP_Digest(data, len, md, &n, EVP_sha256(), NULL)) PB_ASSERT(!"EVP_Digest(SHA-256)");
}

void pb_auth_token_hash_hex(const char *token, char hex[65]) {
    unsigned char md[32];
    sha256(token, strlen(token), md);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

int pb_auth_token_new(char *out, size_t cap, pb_err_t *err) {
    unsigned char r[32];
    char enc[48];
    if (RAND_bytes(r, sizeof r) != 1)
        return pb_err_set(err, PB_ERR_INTERNAL, "OpenSSL's random source failed");
    b64url_encode(r, sizeof r, enc);
    if ((size_t)snprintf(out, cap, "pbt_%s", enc) >= cap)
        return pb_err_set(err, PB_ERR_INTERNAL, "token buffer too small");
    return 0;
}

/* ---- the tokens file ------------------------------------------------------------------------ */

typedef struct token_entry {
    unsigned char hash[32];
    pb_auth_principal_t principal;
} token_entry_t;

struct pb_auth_tokens {
    token_entry_t *e;
    size_t n;
};

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int pb_auth_tokens_parse(const char *text, size_t len, const char *file, pb_auth_tokens_t **out,
                         pb_err_t *err) {
    int rc = 0;
    pb_auth_tokens_t *t = calloc(1, sizeof *t);
    size_t cap = 0;
    unsigned lineno = 0;
    char line[2048];
    if (!t) return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
        const char *l = text + pos;
        pos += ll + (nl ? 1 : 0);
        lineno++;
        if (ll >= sizeof line) {
            rc = pb_err_set(err, PB_ERR_INVALID, "%s:%u: line longer than %zu bytes", file, lineno,
                            sizeof line - 1);
            goto fail;
        }
        memcpy(line, l, ll);
        line[ll] = '\0';
        if (memchr(line, '\0', ll)) {
            rc = pb_err_set(err, PB_ERR_INVALID, "%s:%u: NUL byte", file, lineno);
            goto fail;
        }
        char *s = line;
        while (isspace((unsigned char)*s))
            s++;
        if (!*s || *s == '#') continue;
        char *f1 = strtok(s, " \t\r"), *f2 = strtok(NULL, " \t\r"), *f3 = strtok(NULL, " \t\r");
        if (!f2 || (f3 && *f3 != '#')) {
            rc = pb_err_set(err, PB_ERR_INVALID,
                            "%s:%u: expected 'PRINCIPAL sha256:HEX' (two fields; `portbroker "
                            "token PRINCIPAL` prints such a line)",
                            file, lineno);
            goto fail;
        }
        token_entry_t e;
        memset(&e, 0, sizeof e);
        if ((rc = pb_auth_principal_parse(f1, &e.principal, err))) {
            pb_err_prefix(err, "%s:%u: ", file, lineno);
            goto fail;
        }
        if (strncmp(f2, "sha256:", 7) != 0 || strlen(f2 + 7) != 64) {
            rc = pb_err_set(err, PB_ERR_INVALID,
                            "%s:%u: the second field must be 'sha256:' and 64 hex digits (the "
                            "SHA-256 of the token), not a token itself",
                            file, lineno);
            goto fail;
        }
        for (int i = 0; i < 32; i++) {
            int hi = hexval((unsigned char)f2[7 + 2 * i]),
                lo = hexval((unsigned char)f2[8 + 2 * i]);
            if (hi < 0 || lo < 0) {
                rc = pb_err_set(err, PB_ERR_INVALID, "%s:%u: 'sha256:' digest has a non-hex digit",
                                file, lineno);
                goto fail;
            }
            e.hash[i] = (unsigned char)(hi << 4 | lo);
        }
        if (t->n >= PB_AUTH_TOKENS_MAX) {
            rc = pb_err_set(err, PB_ERR_TOO_LARGE, "%s:%u: more than %d tokens", file, lineno,
                            PB_AUTH_TOKENS_MAX);
            goto fail;
        }
        if (t->n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            token_entry_t *ne = realloc(t->e, nc * sizeof *ne);
            if (!ne) {
                rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
                goto fail;
            }
            t->e = ne;
            cap = nc;
        }
        t->e[t->n++] = e;
    }
    *out = t;
    return 0;
fail:
    pb_auth_tokens_destroy(t);
    return rc;
}

size_t pb_auth_tokens_count(const pb_auth_tokens_t *t) { return t ? t->n : 0; }

const pb_auth_principal_t *pb_auth_tokens_lookup(const pb_auth_tokens_t *t, const char *token) {
    unsigned char md[32];
    const pb_auth_principal_t *found = NULL;
    if (!t) return NULL;
    sha256(token, strlen(token), md);
    /* Every entry is compared, in constant time each: no early exit tells how far a guess got. */
    for (size_t i = 0; i < t->n; i++)
        if (CRYPTO_memcmp(md, t->e[i].hash, 32) == 0 && !found) found = &t->e[i].principal;
    return found;
}

void pb_auth_tokens_destroy(pb_auth_tokens_t *t) {
    if (!t) return;
    free(t->e);
    free(t);
}

/* ---- JWKS ----------------------------------------------------------------------------------- */

#define JWKS_MAX_KEYS 64

typedef struct jwk {
    char kid[128];
    int ec; /* 0: RSA (RS256), 1: EC P-256 (ES256) */
    EVP_PKEY *pkey;
} jwk_t;

struct pb_auth_jwks {
    jwk_t k[JWKS_MAX_KEYS];
    size_t n;
};

/* Decode a base64url JSON member of key i into out (cap). Returns its length or -1 with err. */
static long jwk_b64(const json_t *key, const char *member, size_t i, const char *source,
                    unsigned char *out, size_t cap, pb_err_t *err) {
    const char *s = json_string_value(json_object_get(key, member));
    if (!s) {
        pb_err_set(err, PB_ERR_INVALID, "%s: keys[%zu].%s: missing (a base64url string)", source, i,
                   member);
        return -1;
    }
    long n = b64_decode(s, strlen(s), 1, out, cap);
    if (n <= 0) {
        pb_err_set(err, PB_ERR_INVALID, "%s: keys[%zu].%s: not base64url or longer than %zu bytes",
                   source, i, member, cap);
        return -1;
    }
    return n;
}

static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld) {
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

static EVP_PKEY *rsa_key(const unsigned char *n, long nl, const unsigned char *e, long el) {
    BIGNUM *bn = BN_bin2bn(n, (int)nl, NULL), *be = BN_bin2bn(e, (int)el, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *k = NULL;
    if (bn && be && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
        k = pkey_fromdata("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return k;
}

static EVP_PKEY *ec_key(const unsigned char *x, const unsigned char *y) {
    unsigned char pub[65];
    pub[0] = 0x04;
    memcpy(pub + 1, x, 32);
    memcpy(pub + 33, y, 32);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *k = NULL;
    if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub))
        k = pkey_fromdata("EC", bld);
    OSSL_PARAM_BLD_free(bld);
    return k;
}

int pb_auth_jwks_parse(const char *text, size_t len, const char *source, pb_auth_jwks_t **out,
                       pb_err_t *err) {
    json_error_t je;
    int rc = 0;
    pb_auth_jwks_t *k = NULL;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    json_t *keys = doc ? json_object_get(doc, "keys") : NULL;
    if (!doc)
        return pb_err_set(err, PB_ERR_INVALID, "%s: not JSON: line %d column %d: %s", source,
                          je.line, je.column, je.text);
    if (!json_is_array(keys)) {
        rc = pb_err_set(err, PB_ERR_INVALID, "%s: not a JWKS: no \"keys\" array", source);
        goto done;
    }
    if (!(k = calloc(1, sizeof *k))) {
        rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < json_array_size(keys); i++) {
        const json_t *key = json_array_get(keys, i);
        const char *kty = json_string_value(json_object_get(key, "kty"));
        const char *use = json_string_value(json_object_get(key, "use"));
        const char *kid = json_string_value(json_object_get(key, "kid"));
        const char *crv = json_string_value(json_object_get(key, "crv"));
        if (!json_is_object(key) || !kty) {
            rc =
                pb_err_set(err, PB_ERR_INVALID, "%s: keys[%zu]: not a JWK (no \"kty\")", source, i);
            goto done;
        }
        if (use && strcmp(use, "sig") != 0) continue;
        int ec = strcmp(kty, "EC") == 0;
        if (!ec && strcmp(kty, "RSA") != 0) continue;
        if (ec && (!crv || strcmp(crv, "P-256") != 0)) continue;
        if (k->n >= JWKS_MAX_KEYS) {
            rc = pb_err_set(err, PB_ERR_TOO_LARGE, "%s: more than %d usable keys", source,
                            JWKS_MAX_KEYS);
            goto done;
        }
        jwk_t *j = &k->k[k->n];
        snprintf(j->kid, sizeof j->kid, "%s", kid ? kid : "");
        j->ec = ec;
        if (ec) {
            unsigned char x[33], y[33];
            long xl = jwk_b64(key, "x", i, source, x, sizeof x, err);
            long yl = xl < 0 ? -1 : jwk_b64(key, "y", i, source, y, sizeof y, err);
            if (xl < 0 || yl < 0) {
                rc = PB_ERR_INVALID;
                goto done;
            }
            if (xl != 32 || yl != 32) {
                rc = pb_err_set(err, PB_ERR_INVALID,
                                "%s: keys[%zu]: P-256 coordinates are 32 bytes each", source, i);
                goto done;
            }
            j->pkey = ec_key(x, y);
        } else {
            unsigned char n[1024], e[16];
            long nl = jwk_b64(key, "n", i, source, n, sizeof n, err);
            long el = nl < 0 ? -1 : jwk_b64(key, "e", i, source, e, sizeof e, err);
            if (nl < 0 || el < 0) {
                rc = PB_ERR_INVALID;
                goto done;
            }
            if (nl < 256) {
                rc = pb_err_set(err, PB_ERR_INVALID,
                                "%s: keys[%zu].n: an RSA modulus of %ld bits; at least 2048",
                                source, i, nl * 8);
                goto done;
            }
            j->pkey = rsa_key(n, nl, e, el);
        }
        if (!j->pkey) {
            rc = pb_err_set(err, PB_ERR_INVALID, "%s: keys[%zu]: OpenSSL refuses the key%s", source,
                            i, ec ? " (not a point on P-256)" : "");
            goto done;
        }
        k->n++;
    }
    *out = k;
    k = NULL;
done:
    pb_auth_jwks_destroy(k);
    json_decref(doc);
    return rc;
}

size_t pb_auth_jwks_count(const pb_auth_jwks_t *k) { return k ? k->n : 0; }

void pb_auth_jwks_destroy(pb_auth_jwks_t *k) {
    if (!k) return;
    for (size_t i = 0; i < k->n; i++)
        EVP_PKEY_free(k->k[i].pkey);
    free(k);
}

/* ---- JWT ------------------------------------------------------------------------------------ */

int pb_auth_is_jwt(const char *token) {
    int dots = 0;
    for (const char *p = token; *p; p++) {
        if (*p == '.')
            dots++;
        else if (b64val((unsigned char)*p, 1) < 0)
            return 0;
    }
    return dots == 2;
}

/* Decode a base64url JSON part into an object. NULL when it is not one. */
static json_t *jwt_json(const char *s, size_t n) {
    unsigned char buf[PB_AUTH_TOKEN_MAX];
    long l = b64_decode(s, n, 1, buf, sizeof buf);
    if (l <= 0) return NULL;
    json_t *j = json_loadb((const char *)buf, (size_t)l, JSON_REJECT_DUPLICATES, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static int verify_sig(EVP_PKEY *k, int ec, const char *data, size_t dl, const unsigned char *sig,
                      size_t sl) {
    int ok = 0;
    unsigned char *der = NULL;
    int derlen = 0;
    if (ec) {
        if (sl != 64) return 0;
        ECDSA_SIG *s = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig, 32, NULL), *ss = BN_bin2bn(sig + 32, 32, NULL);
        if (!s || !r || !ss || !ECDSA_SIG_set0(s, r, ss)) {
            BN_free(r);
            BN_free(ss);
            ECDSA_SIG_free(s);
            return 0;
        }
        derlen = i2d_ECDSA_SIG(s, &der);
        ECDSA_SIG_free(s);
        if (derlen <= 0) return 0;
        sig = der;
        sl = (size_t)derlen;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, k) == 1 &&
        EVP_DigestVerify(ctx, sig, sl, (const unsigned char *)data, dl) == 1)
        ok = 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    return ok;
}

static void fmt_time(int64_t unix_s, char *out, size_t cap) {
    time_t t = (time_t)unix_s;
    struct tm tm;
    if (gmtime_r(&t, &tm))
        strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
    else
        snprintf(out, cap, "%lld", (long long)unix_s);
}

int pb_auth_jwt_verify(const pb_auth_jwks_t *keys, const char *token,
                       const pb_auth_jwt_rules_t *rules, int64_t now_ms, pb_auth_principal_t *out,
                       pb_err_t *err) {
    int rc = PB_ERR_UNAUTHORIZED;
    json_t *hdr = NULL, *claims = NULL;
    char ex[64];
    size_t tl = strlen(token);
    const char *d1 = strchr(token, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (tl >= PB_AUTH_TOKEN_MAX || !d1 || !d2 || strchr(d2 + 1, '.')) {
        pb_err_set(err, rc, "JWT: not three base64url parts separated by dots");
        goto done;
    }
    if (!(hdr = jwt_json(token, (size_t)(d1 - token)))) {
        pb_err_set(err, rc, "JWT: the header is not a base64url JSON object");
        goto done;
    }
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    if (!alg) {
        pb_err_set(err, rc, "JWT: the header has no \"alg\"");
        goto done;
    }
    int ec = strcmp(alg, "ES256") == 0;
    if (!ec && strcmp(alg, "RS256") != 0) {
        pb_err_set(err, rc, "JWT: alg '%s' is refused (RS256 or ES256 only)",
                   pb_addr_excerpt(alg, ex, sizeof ex));
        goto done;
    }
    if (json_object_get(hdr, "crit")) {
        pb_err_set(err, rc,
                   "JWT: the header has \"crit\" extensions, which this broker does not "
                   "understand");
        goto done;
    }
    const char *kid = json_string_value(json_object_get(hdr, "kid"));
    unsigned char sig[1024];
    long sl = b64_decode(d2 + 1, strlen(d2 + 1), 1, sig, sizeof sig);
    if (sl <= 0) {
        pb_err_set(err, rc, "JWT: the signature is not base64url");
        goto done;
    }
    int tried = 0, ok = 0;
    for (size_t i = 0; keys && i < keys->n && !ok; i++) {
        const jwk_t *k = &keys->k[i];
        if (k->ec != ec || (kid && strcmp(k->kid, kid) != 0)) continue;
        tried++;
        ok = verify_sig(k->pkey, ec, token, (size_t)(d2 - token), sig, (size_t)sl);
    }
    if (!tried) {
        pb_err_set(err, rc, "JWT: no %s key%s%s%s in the JWKS", ec ? "EC P-256" : "RSA",
                   kid ? " with kid '" : "", kid ? pb_addr_excerpt(kid, ex, sizeof ex) : "",
                   kid ? "'" : "");
        goto done;
    }
    if (!ok) {
        pb_err_set(err, rc, "JWT: the signature does not verify");
        goto done;
    }
    if (!(claims = jwt_json(d1 + 1, (size_t)(d2 - d1 - 1)))) {
        pb_err_set(err, rc, "JWT: the payload is not a base64url JSON object");
        goto done;
    }
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    if (!iss || strcmp(iss, rules->issuer) != 0) {
        pb_err_set(err, rc, "JWT: issuer '%s' is not the configured auth.jwt.issuer",
                   iss ? pb_addr_excerpt(iss, ex, sizeof ex) : "(none)");
        goto done;
    }
    const json_t *aud = json_object_get(claims, "aud");
    int aud_ok = json_is_string(aud) && strcmp(json_string_value(aud), rules->audience) == 0;
    for (size_t i = 0; json_is_array(aud) && i < json_array_size(aud) && !aud_ok; i++) {
        const char *a = json_string_value(json_array_get(aud, i));
        aud_ok = a && strcmp(a, rules->audience) == 0;
    }
    if (!aud_ok) {
        pb_err_set(err, rc, "JWT: audience does not include the configured auth.jwt.audience");
        goto done;
    }
    const json_t *exp = json_object_get(claims, "exp"), *nbf = json_object_get(claims, "nbf");
    if (!json_is_number(exp)) {
        pb_err_set(err, rc, "JWT: no \"exp\" (expiry) claim");
        goto done;
    }
    char when[40];
    double expv = json_number_value(exp);
    if (expv * 1000.0 + (double)rules->leeway_ms < (double)now_ms) {
        fmt_time((int64_t)expv, when, sizeof when);
        pb_err_set(err, rc, "JWT: expired at %s", when);
        goto done;
    }
    if (nbf && (!json_is_number(nbf) ||
                json_number_value(nbf) * 1000.0 > (double)now_ms + (double)rules->leeway_ms)) {
        fmt_time(json_is_number(nbf) ? (int64_t)json_number_value(nbf) : 0, when, sizeof when);
        pb_err_set(err, rc, "JWT: not valid before %s", when);
        goto done;
    }
    const char *who = json_string_value(json_object_get(claims, rules->principal_claim));
    if (!who) {
        pb_err_set(err, rc,
                   "JWT: no string claim \"%s\" (auth.jwt.principal.claim) to name the "
                   "principal",
                   rules->principal_claim);
        goto done;
    }
    pb_err_t perr = {0};
    if (pb_auth_principal_parse(who, out, &perr)) {
        pb_err_set(err, rc, "JWT: claim \"%s\": %s", rules->principal_claim, perr.msg);
        goto done;
    }
    rc = 0;
done:
    json_decref(hdr);
    json_decref(claims);
    return rc;
}

/* ---- the decision --------------------------------------------------------------------------- */

/* The rule of each access kind (DESIGN.md §9):
 *   open     : anyone, always
 *   metrics  : anyone; with metrics.auth = true, any principal (anonymous reads do not cover it)
 *   read     : any principal; anonymous callers with auth.anonymous = read
 *   owner    : the target's owning product (a pattern acting for it), or admin
 *   consumer : owner, and the output port's access list admits the input port's product
 *   admin    : admin only
 * Invalid credentials are 401 on every route that is not open, also where anonymous callers
 * pass: a client with a wrong token learns so instead of silently acting as nobody. */
typedef enum { R_OPEN, R_METRICS, R_READ, R_OWNER, R_CONSUMER, R_ADMIN } rule_t;
static const rule_t rules_of[] = {
    [PB_API_OPEN] = R_OPEN,
    [PB_API_METRICS] = R_METRICS,
    [PB_API_READ] = R_READ,
    [PB_API_PRODUCT_OWNER] = R_OWNER,
    [PB_API_OUTPUT_OWNER] = R_OWNER,
    [PB_API_INPUT_OWNER] = R_CONSUMER,
    [PB_API_SUBSCRIPTION] = R_CONSUMER,
    [PB_API_SUBJECT_OWNER] = R_OWNER,
    [PB_API_PORT_OWNER] = R_OWNER,
    [PB_API_ADMIN] = R_ADMIN,
};

static const char *cred_help =
    "send 'Authorization: Bearer TOKEN' (or HTTP Basic with the token as password)";

int pb_auth_decide(const pb_auth_policy_t *pol, pb_auth_cred_t cred, const pb_auth_principal_t *p,
                   const char *why, const pb_auth_target_t *t, char *msg, size_t cap) {
    PB_ASSERT((size_t)t->access < sizeof rules_of / sizeof rules_of[0]);
    rule_t rule = rules_of[t->access];
    const char *action = t->action ? t->action : "do this";
    if (cap) msg[0] = '\0';
    if (rule == R_OPEN || !pol->enabled) return 0;
    if (rule == R_METRICS && !pol->metrics_auth) return 0;
    if (cred == PB_AUTH_INVALID) {
        snprintf(msg, cap, "invalid credentials: %s", why && *why ? why : "not accepted");
        return 401;
    }
    if (cred == PB_AUTH_NONE) {
        if (rule == R_READ && pol->anonymous_read) return 0; /* not metrics: not a catalog read */
        snprintf(msg, cap, "authentication required to %s: %s", action, cred_help);
        return 401;
    }
    if (p->admin || rule == R_READ || rule == R_METRICS) return 0;
    if (rule == R_ADMIN || (!t->owner && !t->missing)) {
        snprintf(msg, cap, "principal %s may not %s: only admin may", p->name, action);
        return 403;
    }
    if (t->missing) return 0;
    if (!pb_auth_principal_acts_for(p, t->owner)) {
        snprintf(msg, cap, "principal %s may not %s: only product %s or admin may", p->name, action,
                 t->owner);
        return 403;
    }
    if (rule == R_CONSUMER && t->acl && t->admitted) {
        for (size_t i = 0; i < t->n_acl; i++)
            if (pb_addr_match(t->acl[i], t->admitted)) return 0;
        int n = snprintf(msg, cap,
                         "principal %s may not %s: output port %s admits only products matching",
                         p->name, action, t->acl_port ? t->acl_port : "(bound)");
        for (size_t i = 0; i < t->n_acl && n > 0 && (size_t)n < cap; i++)
            n += snprintf(msg + n, cap - (size_t)n, "%s %s", i ? "," : "", t->acl[i]);
        if (n > 0 && (size_t)n < cap)
            snprintf(msg + n, cap - (size_t)n, "%s, not %s (its x-portbroker.access list)",
                     t->n_acl ? "" : " nothing", t->admitted);
        return 403;
    }
    return 0;
}

/* ---- the configured sources ----------------------------------------------------------------- */

struct pb_auth {
    const pb_config_t *cfg;
    pb_auth_policy_t pol;
    pb_auth_tokens_t *tokens;
    pb_auth_jwks_t *jwks;
    pb_auth_jwt_rules_t rules;
};

static int read_file(const char *path, const char *key, pb_buf_t *out, pb_err_t *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return pb_err_set(err, PB_ERR_IO, "%s %s: cannot open: %s", key, path, strerror(errno));
    char chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (out->len + n > 64u * 1024 * 1024 || pb_buf_append(out, chunk, n)) {
            rc = pb_err_set(err, PB_ERR_TOO_LARGE, "%s %s: larger than 64 MiB or out of memory",
                            key, path);
            break;
        }
    if (!rc && ferror(f)) rc = pb_err_set(err, PB_ERR_IO, "%s %s: read error", key, path);
    fclose(f);
    return rc;
}

/* Load the files into fresh objects; commit only when both parse. */
static int load(pb_auth_t *a, pb_err_t *err) {
    pb_buf_t buf = {0};
    pb_auth_tokens_t *tokens = NULL;
    pb_auth_jwks_t *jwks = NULL;
    int rc = 0;
    const pb_config_t *c = a->cfg;
    if (*c->auth_tokens_file) {
        if ((rc = read_file(c->auth_tokens_file, "auth.tokens.file", &buf, err))) goto done;
        if ((rc = pb_auth_tokens_parse(buf.data ? (const char *)buf.data : "", buf.len,
                                       c->auth_tokens_file, &tokens, err))) {
            pb_err_prefix(err, "auth.tokens.file ");
            goto done;
        }
    }
    if (*c->auth_jwks_file) {
        pb_buf_reset(&buf);
        if ((rc = read_file(c->auth_jwks_file, "auth.jwks.file", &buf, err))) goto done;
        if ((rc = pb_auth_jwks_parse(buf.data ? (const char *)buf.data : "", buf.len,
                                     c->auth_jwks_file, &jwks, err))) {
            pb_err_prefix(err, "auth.jwks.file ");
            goto done;
        }
    }
    pb_auth_tokens_destroy(a->tokens);
    a->tokens = tokens;
    tokens = NULL;
    if (*c->auth_jwks_file) {
        pb_auth_jwks_destroy(a->jwks);
        a->jwks = jwks;
        jwks = NULL;
    }
done:
    pb_auth_tokens_destroy(tokens);
    pb_auth_jwks_destroy(jwks);
    pb_buf_free(&buf);
    return rc;
}

pb_auth_t *pb_auth_new(const pb_config_t *cfg, pb_err_t *err) {
    pb_auth_t *a = calloc(1, sizeof *a);
    if (!a) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    a->cfg = cfg;
    a->pol.enabled = *cfg->auth_tokens_file || *cfg->auth_jwks_file || *cfg->auth_jwks_url ||
                     *cfg->http_tls_client_ca_file;
    a->pol.anonymous_read = strcmp(cfg->auth_anonymous, "read") == 0;
    a->pol.metrics_auth = strcmp(cfg->metrics_auth, "true") == 0;
    a->rules.issuer = cfg->auth_jwt_issuer;
    a->rules.audience = cfg->auth_jwt_audience;
    a->rules.principal_claim = cfg->auth_jwt_principal_claim;
    a->rules.leeway_ms = cfg->auth_jwt_leeway_ms;
    if (load(a, err)) {
        pb_auth_destroy(a);
        return NULL;
    }
    return a;
}

int pb_auth_reload(pb_auth_t *a, pb_err_t *err) { return load(a, err); }

void pb_auth_set_jwks(pb_auth_t *a, pb_auth_jwks_t *keys) {
    pb_auth_jwks_destroy(a->jwks);
    a->jwks = keys;
}

const pb_auth_policy_t *pb_auth_policy(const pb_auth_t *a) { return &a->pol; }

pb_auth_cred_t pb_auth_authenticate(const pb_auth_t *a, const char *authorization, int64_t now_ms,
                                    pb_auth_principal_t *p, char *why, size_t cap) {
    char token[PB_AUTH_TOKEN_MAX];
    pb_auth_scheme_t scheme;
    pb_err_t err = {0};
    if (!a->pol.enabled) {
        pb_auth_principal_parse("admin", p, NULL);
        return PB_AUTH_OK;
    }
    if (!authorization) return PB_AUTH_NONE;
    if (pb_auth_parse_header(authorization, &scheme, token, sizeof token, &err)) {
        snprintf(why, cap, "%s", err.msg);
        return PB_AUTH_INVALID;
    }
    const pb_auth_principal_t *tp = pb_auth_tokens_lookup(a->tokens, token);
    if (tp) {
        *p = *tp;
        return PB_AUTH_OK;
    }
    if (pb_auth_is_jwt(token)) {
        if (!a->jwks) {
            snprintf(why, cap,
                     "a JWT, but no keys to check it (auth.jwks.file / auth.jwks.url not set or "
                     "not loaded yet)");
            return PB_AUTH_INVALID;
        }
        if (pb_auth_jwt_verify(a->jwks, token, &a->rules, now_ms, p, &err)) {
            snprintf(why, cap, "%s", err.msg);
            return PB_AUTH_INVALID;
        }
        return PB_AUTH_OK;
    }
    snprintf(why, cap, "unknown token (%s bearer token not in auth.tokens.file)",
             scheme == PB_AUTH_SCHEME_BASIC ? "the Basic password is a" : "a");
    return PB_AUTH_INVALID;
}

void pb_auth_destroy(pb_auth_t *a) {
    if (!a) return;
    pb_auth_tokens_destroy(a->tokens);
    pb_auth_jwks_destroy(a->jwks);
    free(a);
}

int pb_auth_host_is_loopback(const char *host) {
    unsigned char b[16];
    if (strcmp(host, "localhost") == 0) return 1;
    if (inet_pton(AF_INET, host, b) == 1) return b[0] == 127;
    if (inet_pton(AF_INET6, host, b) == 1) {
        static const unsigned char one[16] = {[15] = 1};
        static const unsigned char v4[12] = {[10] = 0xff, [11] = 0xff};
        return memcmp(b, one, 16) == 0 || (memcmp(b, v4, 12) == 0 && b[12] == 127);
    }
    return 0;
}
