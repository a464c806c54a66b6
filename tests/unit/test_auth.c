/* Unit tests for auth.c and access.c's token bucket: Authorization header parsing, principals and
 * their matching, the tokens file (errors with file:line), token hashing, the authorization
 * decision as a table (access rule x credentials x principal x target), JWT verification with keys
 * and signatures made here by OpenSSL (RS256, ES256; tampered, expired, wrong issuer/audience,
 * alg none and HS256 refused), and the per-principal token bucket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "auth.h"
#include "registry.h"

/* ---- Authorization header ---- */

static const struct hdr_case {
    const char *value;
    int ok;
    const char *want; /* token, or a piece of the error */
} hdr_cases[] = {
    {"Bearer abc.def-ghi_", 1, "abc.def-ghi_"},
    {"bearer   tok  ", 1, "tok"},
    {"BEARER tok", 1, "tok"},
    {"Basic dXNlcjpzM2NyZXQ=", 1, "s3cret"},      /* user:s3cret */
    {"Basic Ojp0b2s6ZW4=", 1, ":tok:en"},         /* ::tok:en : empty user, colon in password */
    {"basic eDp0", 1, "t"},                       /* x:t without padding */
    {"Basic dXNlcjo=", 0, "empty password"},      /* user: */
    {"Basic dXNlcg==", 0, "not 'user:password'"}, /* user */
    {"Basic !!!", 0, "not base64"},
    {"Basic dXNlcjp0b2sA", 0, "NUL"}, /* user:tok\0 */
    {"Bearer", 0, "without credentials"},
    {"Bearer ", 0, "without credentials"},
    {"Bearer a b", 0, "space"},
    {"Digest x=1", 0, "scheme 'Digest' is not supported"},
    {"", 0, "scheme '' is not supported"},
    {"Token abc", 0, "use 'Bearer TOKEN'"},
};

static void header_parsing(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof hdr_cases / sizeof hdr_cases[0]; i++) {
        const struct hdr_case *c = &hdr_cases[i];
        char tok[PB_AUTH_TOKEN_MAX];
        pb_auth_scheme_t sch;
        pb_err_t err = {0};
        int rc = pb_auth_parse_header(c->value, &sch, tok, sizeof tok, &err);
        if ((rc == 0) != c->ok || (c->ok && strcmp(tok, c->want) != 0) ||
            (!c->ok && !strstr(err.msg, c->want))) {
            print_error("case %zu '%s': rc %d token '%s' msg '%s', wanted '%s'\n", i, c->value, rc,
                        rc ? "" : tok, err.msg, c->want);
            fail();
        }
    }
    /* A long credential is refused, not truncated. */
    char big[PB_AUTH_TOKEN_MAX + 16] = "Bearer ";
    memset(big + 7, 'a', PB_AUTH_TOKEN_MAX);
    big[7 + PB_AUTH_TOKEN_MAX] = 0;
    char tok[PB_AUTH_TOKEN_MAX];
    pb_auth_scheme_t sch;
    pb_err_t err = {0};
    assert_int_not_equal(pb_auth_parse_header(big, &sch, tok, sizeof tok, &err), 0);
    assert_non_null(strstr(err.msg, "longer than"));
}

/* ---- principals ---- */

static void principals(void **state) {
    (void)state;
    static const struct {
        const char *s;
        int ok;
    } parse[] = {
        {"admin", 1},
        {"urn:dpds:com.acme:dataproducts:billing:1", 1},
        {"urn:dpds:com.acme:dataproducts:billing:*", 1},
        {"urn:dpds:com.acme:dataproducts:*:2", 1},
        {"urn:dpds:com.acme:dataproducts:*:*", 1},
        {"Admin", 0},
        {"urn:dpds:com.acme:dataproducts:billing", 0},
        {"urn:dpds:com.acme:dataproducts:billing:1:outputports:x", 0},
        {"urn:dpds:*:dataproducts:billing:1", 0},
        {"urn:dpds:com.acme:dataproducts:9x:1", 0},
        {"urn:dpds:com.acme:dataproducts:billing:01", 0},
        {"urn:dpds:com.acme:products:billing:1", 0},
        {"", 0},
    };
    for (size_t i = 0; i < sizeof parse / sizeof parse[0]; i++) {
        pb_auth_principal_t p;
        pb_err_t err = {0};
        int rc = pb_auth_principal_parse(parse[i].s, &p, &err);
        if ((rc == 0) != parse[i].ok) {
            print_error("principal '%s': rc %d (%s)\n", parse[i].s, rc, err.msg);
            fail();
        }
        if (!rc) assert_string_equal(p.name, parse[i].s);
        if (rc) assert_non_null(strstr(err.msg, "principal '"));
    }
    static const struct {
        const char *principal, *product;
        int acts;
    } match[] = {
        {"admin", "urn:dpds:x:dataproducts:y:1", 1},
        {"urn:dpds:com.acme:dataproducts:billing:1", "urn:dpds:com.acme:dataproducts:billing:1", 1},
        {"urn:dpds:com.acme:dataproducts:billing:1", "urn:dpds:com.acme:dataproducts:billing:2", 0},
        {"urn:dpds:com.acme:dataproducts:billing:*", "urn:dpds:com.acme:dataproducts:billing:2", 1},
        {"urn:dpds:com.acme:dataproducts:billing:*", "urn:dpds:com.acme:dataproducts:billingX:2",
         0},
        {"urn:dpds:com.acme:dataproducts:*:2", "urn:dpds:com.acme:dataproducts:trip:2", 1},
        {"urn:dpds:com.acme:dataproducts:*:2", "urn:dpds:com.acme:dataproducts:trip:1", 0},
        {"urn:dpds:com.acme:dataproducts:*:*", "urn:dpds:com.acme.eu:dataproducts:trip:1", 0},
        {"urn:dpds:com.acme:dataproducts:*:*", "urn:dpds:com.acme:dataproducts:trip:7", 1},
        {"urn:dpds:com.acme:dataproducts:billing:1", NULL, 0},
    };
    for (size_t i = 0; i < sizeof match / sizeof match[0]; i++) {
        pb_auth_principal_t p;
        assert_int_equal(pb_auth_principal_parse(match[i].principal, &p, NULL), 0);
        if (pb_auth_principal_acts_for(&p, match[i].product) != match[i].acts) {
            print_error("%s for %s: wanted %d\n", match[i].principal,
                        match[i].product ? match[i].product : "(null)", match[i].acts);
            fail();
        }
    }
}

/* ---- tokens ---- */

static void tokens_file(void **state) {
    (void)state;
    char hex[65], line[512], tok[128];
    pb_err_t err = {0};
    /* sha256("abc"), the FIPS 180-2 example */
    pb_auth_token_hash_hex("abc", hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(pb_auth_token_new(tok, sizeof tok, &err), 0);
    assert_true(strncmp(tok, "pbt_", 4) == 0 && strlen(tok) == 4 + 43);
    char tok2[128];
    assert_int_equal(pb_auth_token_new(tok2, sizeof tok2, &err), 0);
    assert_string_not_equal(tok, tok2);
    pb_auth_token_hash_hex(tok, hex);
    snprintf(line, sizeof line,
             "# team tokens\n\nadmin sha256:%s\n"
             "urn:dpds:com.acme:dataproducts:billing:* "
             "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD  # abc\n",
             hex);
    pb_auth_tokens_t *t = NULL;
    assert_int_equal(pb_auth_tokens_parse(line, strlen(line), "t.txt", &t, &err), 0);
    assert_int_equal(pb_auth_tokens_count(t), 2);
    const pb_auth_principal_t *p = pb_auth_tokens_lookup(t, tok);
    assert_non_null(p);
    assert_true(p->admin);
    p = pb_auth_tokens_lookup(t, "abc");
    assert_non_null(p);
    assert_string_equal(p->name, "urn:dpds:com.acme:dataproducts:billing:*");
    assert_null(pb_auth_tokens_lookup(t, "abd"));
    assert_null(pb_auth_tokens_lookup(t, ""));
    pb_auth_tokens_destroy(t);

    static const struct {
        const char *text, *want;
    } bad[] = {
        {"admin\n", "t.txt:1: expected 'PRINCIPAL sha256:HEX'"},
        {"# c\nadmin abc\n", "t.txt:2: the second field must be 'sha256:'"},
        {"admin sha256:ba78\n", "t.txt:1: the second field"},
        {"admin sha256:zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n",
         "t.txt:1: 'sha256:' digest has a non-hex digit"},
        {"\n\nroot sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n",
         "t.txt:3: principal 'root'"},
        {"admin sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad extra\n",
         "t.txt:1: expected"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t = NULL;
        pb_err_clear(&err);
        int rc = pb_auth_tokens_parse(bad[i].text, strlen(bad[i].text), "t.txt", &t, &err);
        if (rc == 0 || t || !strstr(err.msg, bad[i].want)) {
            print_error("bad %zu: rc %d msg '%s' wanted '%s'\n", i, rc, err.msg, bad[i].want);
            fail();
        }
    }
}

/* ---- the decision ---- */

#define TRIP "urn:dpds:com.acme:dataproducts:trip:1"
#define BILL "urn:dpds:com.acme:dataproducts:billing:1"
#define SPY "urn:dpds:com.acme:dataproducts:spy:1"

static const char *const only_billing[] = {BILL};

static const struct decide_case {
    pb_api_access_t access;
    int anon_read, metrics_auth;
    pb_auth_cred_t cred;
    const char *principal;
    const char *owner;
    int missing;
    const char *admitted;
    int with_acl;
    int want;
    const char *want_msg;
} decide_cases[] = {
    /* open: always */
    {PB_API_OPEN, 0, 0, PB_AUTH_NONE, NULL, NULL, 0, NULL, 0, 0, ""},
    {PB_API_OPEN, 0, 0, PB_AUTH_INVALID, NULL, NULL, 0, NULL, 0, 0, ""},
    /* metrics: open unless metrics.auth */
    {PB_API_METRICS, 0, 0, PB_AUTH_NONE, NULL, NULL, 0, NULL, 0, 0, ""},
    {PB_API_METRICS, 0, 1, PB_AUTH_NONE, NULL, NULL, 0, NULL, 0, 401, "authentication required"},
    {PB_API_METRICS, 0, 1, PB_AUTH_OK, SPY, NULL, 0, NULL, 0, 0, ""},
    {PB_API_METRICS, 1, 1, PB_AUTH_NONE, NULL, NULL, 0, NULL, 0, 401, "authentication required"},
    /* read: any principal; anonymous only with auth.anonymous = read; invalid always 401 */
    {PB_API_READ, 0, 0, PB_AUTH_NONE, NULL, NULL, 0, NULL, 0, 401, "authentication required"},
    {PB_API_READ, 1, 0, PB_AUTH_NONE, NULL, NULL, 0, NULL, 0, 0, ""},
    {PB_API_READ, 1, 0, PB_AUTH_INVALID, NULL, NULL, 0, NULL, 0, 401, "invalid credentials: bad"},
    {PB_API_READ, 0, 0, PB_AUTH_OK, SPY, NULL, 0, NULL, 0, 0, ""},
    /* owner rules */
    {PB_API_OUTPUT_OWNER, 1, 0, PB_AUTH_NONE, NULL, TRIP, 0, NULL, 0, 401, "authentication"},
    {PB_API_OUTPUT_OWNER, 0, 0, PB_AUTH_INVALID, NULL, TRIP, 0, NULL, 0, 401, "invalid"},
    {PB_API_OUTPUT_OWNER, 0, 0, PB_AUTH_OK, TRIP, TRIP, 0, NULL, 0, 0, ""},
    {PB_API_OUTPUT_OWNER, 0, 0, PB_AUTH_OK, "urn:dpds:com.acme:dataproducts:trip:*", TRIP, 0, NULL,
     0, 0, ""},
    {PB_API_OUTPUT_OWNER, 0, 0, PB_AUTH_OK, SPY, TRIP, 0, NULL, 0, 403,
     "principal " SPY " may not act: only product " TRIP " or admin may"},
    {PB_API_OUTPUT_OWNER, 0, 0, PB_AUTH_OK, "admin", TRIP, 0, NULL, 0, 0, ""},
    {PB_API_OUTPUT_OWNER, 0, 0, PB_AUTH_OK, SPY, NULL, 1, NULL, 0, 0, ""}, /* 404 from handler */
    {PB_API_PRODUCT_OWNER, 0, 0, PB_AUTH_OK, SPY, BILL, 0, NULL, 0, 403, "only product " BILL},
    {PB_API_PRODUCT_OWNER, 0, 0, PB_AUTH_OK, BILL, BILL, 0, NULL, 0, 0, ""},
    {PB_API_SUBJECT_OWNER, 0, 0, PB_AUTH_OK, TRIP, TRIP, 0, NULL, 0, 0, ""},
    {PB_API_SUBJECT_OWNER, 0, 0, PB_AUTH_OK, TRIP, NULL, 0, NULL, 0, 403, "only admin may"},
    {PB_API_SUBJECT_OWNER, 0, 0, PB_AUTH_OK, "admin", NULL, 0, NULL, 0, 0, ""},
    /* consumers: the input port's product, admitted by the output port's list */
    {PB_API_INPUT_OWNER, 0, 0, PB_AUTH_OK, BILL, BILL, 0, BILL, 1, 0, ""},
    {PB_API_INPUT_OWNER, 0, 0, PB_AUTH_OK, SPY, SPY, 0, SPY, 1, 403,
     "admits only products matching " BILL ", not " SPY},
    {PB_API_INPUT_OWNER, 0, 0, PB_AUTH_OK, SPY, BILL, 0, BILL, 1, 403, "only product " BILL},
    {PB_API_SUBSCRIPTION, 0, 0, PB_AUTH_OK, SPY, SPY, 0, SPY, 1, 403, "x-portbroker.access"},
    {PB_API_SUBSCRIPTION, 0, 0, PB_AUTH_OK, SPY, SPY, 0, NULL, 0, 0, ""},
    {PB_API_SUBSCRIPTION, 0, 0, PB_AUTH_OK, "admin", SPY, 0, SPY, 1, 0, ""},
    {PB_API_SUBSCRIPTION, 0, 0, PB_AUTH_NONE, NULL, SPY, 0, SPY, 1, 401, "authentication"},
    /* admin only */
    {PB_API_ADMIN, 0, 0, PB_AUTH_OK, TRIP, NULL, 0, NULL, 0, 403, "only admin may"},
    {PB_API_ADMIN, 0, 0, PB_AUTH_OK, "admin", NULL, 0, NULL, 0, 0, ""},
    {PB_API_ADMIN, 1, 0, PB_AUTH_NONE, NULL, NULL, 0, NULL, 0, 401, "authentication"},
};

static void decisions(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof decide_cases / sizeof decide_cases[0]; i++) {
        const struct decide_case *c = &decide_cases[i];
        pb_auth_policy_t pol = {1, c->anon_read, c->metrics_auth};
        pb_auth_principal_t p = {0};
        if (c->principal) assert_int_equal(pb_auth_principal_parse(c->principal, &p, NULL), 0);
        pb_auth_target_t t = {.access = c->access,
                              .action = "act",
                              .owner = c->owner,
                              .missing = c->missing,
                              .admitted = c->admitted,
                              .acl = c->with_acl ? only_billing : NULL,
                              .n_acl = c->with_acl ? 1 : 0,
                              .acl_port = TRIP ":outputports:trips"};
        char msg[1024];
        int got = pb_auth_decide(&pol, c->cred, &p, "bad", &t, msg, sizeof msg);
        if (got != c->want || !strstr(msg, c->want_msg)) {
            print_error("case %zu: got %d '%s', wanted %d '%s'\n", i, got, msg, c->want,
                        c->want_msg);
            fail();
        }
    }
    /* Auth off: the decision allows everything (every caller is admin). */
    pb_auth_policy_t off = {0, 0, 0};
    pb_auth_target_t t = {.access = PB_API_ADMIN, .action = "act"};
    char msg[256];
    assert_int_equal(pb_auth_decide(&off, PB_AUTH_NONE, NULL, NULL, &t, msg, sizeof msg), 0);
}

/* ---- JWT ---- */

static void b64url(const unsigned char *in, size_t n, char *out) {
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    unsigned acc = 0;
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
    out[o] = 0;
}

static void b64url_str(const char *s, char *out) {
    b64url((const unsigned char *)s, strlen(s), out);
}

static void bn_b64(const EVP_PKEY *k, const char *name, size_t pad, char *out) {
    BIGNUM *bn = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(k, name, &bn), 1);
    unsigned char buf[1024];
    int n = pad ? BN_bn2binpad(bn, buf, (int)pad) : BN_bn2bin(bn, buf);
    b64url(buf, (size_t)n, out);
    BN_free(bn);
}

/* Sign header.payload with k (RS256, or ES256 as raw r||s) into a compact JWS. */
static void sign(EVP_PKEY *k, int ec, const char *header, const char *payload, char *out) {
    char h[1024], p[2048], s[1024];
    b64url_str(header, h);
    b64url_str(payload, p);
    snprintf(out, 4096, "%s.%s", h, p);
    unsigned char sig[1024];
    size_t sl = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &sl, (unsigned char *)out, strlen(out)), 1);
    EVP_MD_CTX_free(ctx);
    if (ec) {
        const unsigned char *pp = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &pp, (long)sl);
        unsigned char raw[64];
        BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32);
        ECDSA_SIG_free(es);
        b64url(raw, 64, s);
    } else {
        b64url(sig, sl, s);
    }
    strcat(out, ".");
    strcat(out, s);
}

static void jwt(void **state) {
    (void)state;
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(rsa);
    assert_non_null(ec);
    char n[600], e[16], x[64], y[64], jwks[2048];
    bn_b64(rsa, OSSL_PKEY_PARAM_RSA_N, 0, n);
    bn_b64(rsa, OSSL_PKEY_PARAM_RSA_E, 0, e);
    bn_b64(ec, OSSL_PKEY_PARAM_EC_PUB_X, 32, x);
    bn_b64(ec, OSSL_PKEY_PARAM_EC_PUB_Y, 32, y);
    snprintf(
        jwks, sizeof jwks,
        "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r1\",\"use\":\"sig\",\"n\":\"%s\",\"e\":\"%s\"},"
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"e1\",\"x\":\"%s\",\"y\":\"%s\"},"
        "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"},"
        "{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
        n, e, x, y);
    pb_auth_jwks_t *keys = NULL;
    pb_err_t err = {0};
    assert_int_equal(pb_auth_jwks_parse(jwks, strlen(jwks), "jwks.json", &keys, &err), 0);
    assert_int_equal(pb_auth_jwks_count(keys), 2);

    pb_auth_jwt_rules_t rules = {"https://idp.example", "portbroker", "sub", 60000};
    const int64_t now = 1800000000000LL; /* ms */
    char tok[4096], payload[1024];
    pb_auth_principal_t p;
#define CLAIMS(iss, aud, exp, extra)                                                               \
    snprintf(payload, sizeof payload,                                                              \
             "{\"iss\":\"%s\",\"aud\":%s,\"exp\":%lld,\"sub\":\"" BILL "\"%s}", iss, aud,          \
             (long long)(exp), extra)
    CLAIMS("https://idp.example", "\"portbroker\"", now / 1000 + 300, "");
    sign(rsa, 0, "{\"alg\":\"RS256\",\"kid\":\"r1\"}", payload, tok);
    assert_true(pb_auth_is_jwt(tok));
    assert_int_equal(pb_auth_jwt_verify(keys, tok, &rules, now, &p, &err), 0);
    assert_string_equal(p.name, BILL);
    /* ES256 without a kid; aud as an array */
    CLAIMS("https://idp.example", "[\"x\",\"portbroker\"]", now / 1000 + 300, "");
    sign(ec, 1, "{\"alg\":\"ES256\",\"typ\":\"JWT\"}", payload, tok);
    assert_int_equal(pb_auth_jwt_verify(keys, tok, &rules, now, &p, &err), 0);

    static const struct {
        const char *what, *want;
    } refusals[] = {
        {"tampered", "signature does not verify"},
        {"expired", "expired at"},
        {"leeway", ""},
        {"issuer", "issuer"},
        {"audience", "audience"},
        {"none", "alg 'none' is refused"},
        {"HS256", "alg 'HS256' is refused"},
        {"other key", "signature does not verify"},
        {"kid", "no RSA key with kid 'zz'"},
        {"nbf", "not valid before"},
        {"no exp", "no \"exp\""},
        {"bad sub", "claim \"sub\""},
        {"two parts", "three base64url parts"},
    };
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        const char *w = refusals[i].what;
        CLAIMS("https://idp.example", "\"portbroker\"", now / 1000 + 300, "");
        if (!strcmp(w, "expired"))
            CLAIMS("https://idp.example", "\"portbroker\"", now / 1000 - 61, "");
        if (!strcmp(w, "leeway"))
            CLAIMS("https://idp.example", "\"portbroker\"", now / 1000 - 30, "");
        if (!strcmp(w, "issuer"))
            CLAIMS("https://evil.example", "\"portbroker\"", now / 1000 + 9, "");
        if (!strcmp(w, "audience"))
            CLAIMS("https://idp.example", "[\"other\"]", now / 1000 + 9, "");
        if (!strcmp(w, "nbf"))
            CLAIMS("https://idp.example", "\"portbroker\"", now / 1000 + 900,
                   ",\"nbf\":1900000000");
        if (!strcmp(w, "no exp"))
            snprintf(payload, sizeof payload,
                     "{\"iss\":\"https://idp.example\",\"aud\":\"portbroker\"}");
        if (!strcmp(w, "bad sub"))
            snprintf(payload, sizeof payload,
                     "{\"iss\":\"https://idp.example\",\"aud\":\"portbroker\",\"exp\":%lld,\"sub\":"
                     "\"bob\"}",
                     (long long)(now / 1000 + 9));
        const char *hdr = "{\"alg\":\"RS256\"}";
        if (!strcmp(w, "kid")) hdr = "{\"alg\":\"RS256\",\"kid\":\"zz\"}";
        if (!strcmp(w, "other key"))
            sign(other, 1, "{\"alg\":\"ES256\"}", payload, tok);
        else
            sign(rsa, 0, hdr, payload, tok);
        if (!strcmp(w, "tampered")) { /* flip a payload character: the signature no longer holds */
            char *d = strchr(tok, '.') + 5;
            *d = *d == 'A' ? 'B' : 'A';
        }
        if (!strcmp(w, "none") || !strcmp(w, "HS256")) {
            char h[128], pl[2048];
            b64url_str(!strcmp(w, "none") ? "{\"alg\":\"none\"}" : "{\"alg\":\"HS256\"}", h);
            b64url_str(payload, pl);
            snprintf(tok, sizeof tok, "%s.%s.%s", h, pl, !strcmp(w, "none") ? "" : "c2lnbmF0dXJl");
        }
        if (!strcmp(w, "two parts")) strcpy(tok, "abc.def");
        pb_err_clear(&err);
        int rc = pb_auth_jwt_verify(keys, tok, &rules, now, &p, &err);
        int want_ok = !*refusals[i].want;
        if ((rc == 0) != want_ok || (!want_ok && !strstr(err.msg, refusals[i].want))) {
            print_error("%s: rc %d msg '%s' wanted '%s'\n", w, rc, err.msg, refusals[i].want);
            fail();
        }
    }
    pb_auth_jwks_destroy(keys);
    /* JWKS errors name the key and member. */
    static const struct {
        const char *doc, *want;
    } badjwks[] = {
        {"[]", "no \"keys\" array"},
        {"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"!!\",\"e\":\"AQAB\"}]}", "keys[0].n: not base64url"},
        {"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AQAB\",\"y\":\"AQAB\"}]}",
         "32 bytes"},
        {"{\"keys\":[{}]}", "keys[0]: not a JWK"},
        {"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}", "at least 2048"},
    };
    for (size_t i = 0; i < sizeof badjwks / sizeof badjwks[0]; i++) {
        keys = NULL;
        int rc = pb_auth_jwks_parse(badjwks[i].doc, strlen(badjwks[i].doc), "j", &keys, &err);
        if (!rc || keys || !strstr(err.msg, badjwks[i].want)) {
            print_error("jwks %zu: rc %d '%s' wanted '%s'\n", i, rc, err.msg, badjwks[i].want);
            fail();
        }
    }
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(other);
}

/* ---- token bucket ---- */

static void buckets(void **state) {
    (void)state;
    pb_access_bucket_t b = {0};
    /* 10/s: 10 at once, then the 11th waits ~100 ms; after 100 ms one more passes. */
    for (int i = 0; i < 10; i++)
        assert_int_equal(pb_access_bucket_take(&b, 10, 1, 1000), 0);
    int64_t w = pb_access_bucket_take(&b, 10, 1, 1000);
    assert_true(w >= 99 && w <= 101);
    assert_int_equal(pb_access_bucket_take(&b, 10, 1, 1100), 0);
    /* A batch larger than the rate passes on a full bucket and leaves it in debt. */
    pb_access_bucket_t c = {0};
    assert_int_equal(pb_access_bucket_take(&c, 10, 25, 5000), 0);
    w = pb_access_bucket_take(&c, 10, 1, 5000);
    assert_true(w > 1500); /* 15 in debt + 1 needed: 1.6 s */
    assert_int_equal(pb_access_bucket_take(&c, 10, 1, 6700), 0);
}

/* The principal stamped into a registry record ("by") changes nothing when applied, and a record
 * without it (older logs) applies the same. */
static void registry_stamp(void **state) {
    (void)state;
    pb_buf_t rec = {0}, stamped = {0};
    pb_err_t err = {0};
    const char *schema = "{\"type\":\"string\"}";
    assert_int_equal(
        pb_registry_record_register(&rec, "r1", "s-value", schema, strlen(schema), &err), 0);
    assert_int_equal(
        pb_registry_record_stamp(rec.data, rec.len, "urn:dpds:a:dataproducts:b:*", &stamped, &err),
        0);
    assert_non_null(strstr((const char *)stamped.data, "\"by\":\"urn:dpds:a:dataproducts:b:*\""));
    assert_non_null(strstr((const char *)stamped.data, "\"req\":\"r1\""));
    pb_registry_t *a = pb_registry_new(), *b = pb_registry_new();
    pb_registry_result_t ra = {0}, rb = {0};
    assert_int_equal(pb_registry_apply(a, 0, (const char *)rec.data, rec.len, &ra), 0);
    assert_int_equal(pb_registry_apply(b, 0, (const char *)stamped.data, stamped.len, &rb), 0);
    assert_false(ra.skipped);
    assert_false(rb.skipped);
    assert_int_equal(ra.id, rb.id);
    assert_int_equal(ra.version, rb.version);
    assert_string_equal(rb.req, "r1");
    char *da = pb_registry_dump(a), *db = pb_registry_dump(b);
    assert_string_equal(da, db);
    free(da);
    free(db);
    pb_buf_t bad = {0};
    assert_int_not_equal(pb_registry_record_stamp("[1]", 3, "admin", &bad, &err), 0);
    pb_registry_result_reset(&ra);
    pb_registry_result_reset(&rb);
    pb_registry_destroy(a);
    pb_registry_destroy(b);
    pb_buf_free(&rec);
    pb_buf_free(&stamped);
    pb_buf_free(&bad);
}

static void loopback(void **state) {
    (void)state;
    assert_true(pb_auth_host_is_loopback("127.0.0.1"));
    assert_true(pb_auth_host_is_loopback("127.5.0.1"));
    assert_true(pb_auth_host_is_loopback("::1"));
    assert_true(pb_auth_host_is_loopback("localhost"));
    assert_false(pb_auth_host_is_loopback("0.0.0.0"));
    assert_false(pb_auth_host_is_loopback("::"));
    assert_false(pb_auth_host_is_loopback("10.0.0.1"));
    assert_false(pb_auth_host_is_loopback("example.com"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_parsing),
        cmocka_unit_test(principals),
        cmocka_unit_test(tokens_file),
        cmocka_unit_test(decisions),
        cmocka_unit_test(jwt),
        cmocka_unit_test(buckets),
        cmocka_unit_test(loopback),
        cmocka_unit_test(registry_stamp),
    };
    return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
