/* libFuzzer target: the credentials parsers of auth.c (DESIGN.md §9 "Fuzzed: auth headers and
 * tokens"). The first byte picks the parser, the rest is its input:
 *   0: an Authorization header value   1: a JWT, verified against a fixed P-256 JWKS
 *   2: a tokens file                   3: a principal   4: a JWKS document
 * Properties beyond "no crash, no leak": error messages are NUL-terminated; a parsed header's token
 * is non-empty printable ASCII without spaces for Bearer; a verified JWT names a principal that
 * parses; a parsed principal acts for nothing outside its namespace; a parsed tokens file finds no
 * principal for a token it cannot hold.
 * Seeds: tests/fuzz/corpus/auth/ (the seed JWT is signed by npm jose with the key below).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

static const char jwks_text[] =
    "{\"keys\":[{\"kty\":\"EC\",\"x\":\"GuAI-rpoQV6YGtOf00OrAAvov8HX-u0f_shq-EAI2r0\",\"y\":"
    "\"OS42c9EnAsHw6b_IKIi6qveNMguo_ACiEvjpjv7ezts\",\"crv\":\"P-256\",\"kid\":\"es1\",\"alg\":"
    "\"ES256\",\"use\":\"sig\"}]}";

static void msg_ok(const pb_err_t *err) {
    if (!memchr(err->msg, '\0', sizeof err->msg)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static pb_auth_jwks_t *keys;
    if (!keys) {
        pb_err_t e = {0};
        if (pb_auth_jwks_parse(jwks_text, strlen(jwks_text), "fuzz", &keys, &e)) abort();
    }
    if (size < 1 || size > 20000) return 0;
    char *s = malloc(size);
    if (!s) return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    pb_err_t err = {0};
    switch (data[0] % 5) {
    case 0: {
        char tok[PB_AUTH_TOKEN_MAX];
        pb_auth_scheme_t sch;
        if (pb_auth_parse_header(s, &sch, tok, sizeof tok, &err) == 0) {
            if (!*tok || strlen(tok) >= sizeof tok) abort();
            if (sch == PB_AUTH_SCHEME_BEARER)
                for (const char *p = tok; *p; p++)
                    if (*p <= ' ' || (unsigned char)*p >= 0x7f) abort();
        } else {
            msg_ok(&err);
        }
        break;
    }
    case 1: {
        pb_auth_jwt_rules_t rules = {"https://idp.test", "portbroker", "sub", 60000};
        pb_auth_principal_t p;
        (void)pb_auth_is_jwt(s);
        if (pb_auth_jwt_verify(keys, s, &rules, 1800000000000LL, &p, &err) == 0) {
            pb_auth_principal_t q;
            if (pb_auth_principal_parse(p.name, &q, NULL) != 0) abort();
        } else {
            msg_ok(&err);
        }
        break;
    }
    case 2: {
        pb_auth_tokens_t *t = NULL;
        if (pb_auth_tokens_parse(s, size - 1, "fuzz.txt", &t, &err) == 0) {
            (void)pb_auth_tokens_lookup(t, "");
            if (pb_auth_tokens_count(t) > PB_AUTH_TOKENS_MAX) abort();
            pb_auth_tokens_destroy(t);
        } else {
            if (t) abort();
            msg_ok(&err);
        }
        break;
    }
    case 3: {
        pb_auth_principal_t p;
        if (pb_auth_principal_parse(s, &p, &err) == 0) {
            if (!p.admin && pb_auth_principal_acts_for(&p, "urn:dpds:zz.fuzz:dataproducts:x:1") &&
                strncmp(s, "urn:dpds:zz.fuzz:", 17) != 0)
                abort();
        } else {
            msg_ok(&err);
        }
        break;
    }
    case 4: {
        pb_auth_jwks_t *k = NULL;
        if (pb_auth_jwks_parse(s, size - 1, "fuzz", &k, &err) == 0)
            pb_auth_jwks_destroy(k);
        else
            msg_ok(&err);
        break;
    }
    }
    free(s);
    return 0;
}
