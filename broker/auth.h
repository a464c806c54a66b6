/*
 * auth — who a caller is and what it may do (DESIGN.md §9).
 *
 * Owns: principals ("admin" or a product pattern), parsing the Authorization header (Bearer, and
 * HTTP Basic with the token as password), the tokens file (`PRINCIPAL sha256:HEX` lines), token
 * hashing (SHA-256, constant-time compare), JWT verification (RS256/ES256 against a JWKS, issuer,
 * audience, exp/nbf) and the authorization decision: a pure function of the route's access rule,
 * the principal, the product the request names and the output port's access list.
 * Everything here is pure (no I/O, no clock: callers pass the time) except pb_auth_new/reload,
 * which read the configured files. OpenSSL's libcrypto does every cryptographic step.
 * Must not: know HTTP requests, the registry or the loop (access.c names a request's target).
 */
#ifndef PB_AUTH_H
#define PB_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "config.h"
#include "err.h"

#define PB_AUTH_PRINCIPAL_MAX 512 /* bytes of a principal and its NUL */
#define PB_AUTH_TOKEN_MAX 8192    /* bytes of a presented token (opaque or JWT) */
#define PB_AUTH_TOKENS_MAX 100000 /* lines in a tokens file */

/* ---- principals ---- */

/* "admin", or a product pattern urn:dpds:{ns}:dataproducts:{product|*}:{major|*}. Plain value. */
typedef struct pb_auth_principal {
    char name[PB_AUTH_PRINCIPAL_MAX]; /* as written: what logs and messages show */
    int admin;
} pb_auth_principal_t;

/* Parse a principal. Returns 0, or PB_ERR_INVALID naming the bad part ("principal 'urn:dpds:x':
 * ..."). Pure. */
int pb_auth_principal_parse(const char *s, pb_auth_principal_t *out, pb_err_t *err);

/* Does principal p act for product_urn (admin: every product; a pattern: segment-wise, '*' any)?
 * 1 or 0. Pure. */
int pb_auth_principal_acts_for(const pb_auth_principal_t *p, const char *product_urn);

/* ---- credentials ---- */

typedef enum {
    PB_AUTH_SCHEME_BEARER = 1, /* "Bearer TOKEN" */
    PB_AUTH_SCHEME_BASIC,      /* "Basic base64(user:TOKEN)": the password is the token */
} pb_auth_scheme_t;

/* Parse an Authorization header value into the token it carries (NUL-terminated into token,
 * cap bytes). Scheme names are case-insensitive; Basic's user name is ignored. Returns 0, or
 * PB_ERR_INVALID saying what is wrong ("Authorization: Basic credentials are not base64"), never
 * echoing the secret. Pure. */
int pb_auth_parse_header(const char *value, pb_auth_scheme_t *scheme, char *token, size_t cap,
                         pb_err_t *err);

/* SHA-256 of token as 64 lowercase hex digits and a NUL into hex (65 bytes). */
void pb_auth_token_hash_hex(const char *token, char hex[65]);

/* A new random token (32 bytes from OpenSSL's RAND_bytes, base64url, no padding) into out (at least
 * 64 bytes). Returns 0 or PB_ERR_INTERNAL when the random source fails. */
int pb_auth_token_new(char *out, size_t cap, pb_err_t *err);

/* ---- the tokens file ---- */

typedef struct pb_auth_tokens pb_auth_tokens_t;

/* Parse a tokens file's text: lines `PRINCIPAL sha256:HEX` (64 hex digits), blank lines and `#`
 * comments. file names the source in errors ("tokens.txt:3: ..."). Returns 0 and *out (caller
 * destroys), or PB_ERR_INVALID / PB_ERR_NOMEM with nothing allocated. Pure. */
int pb_auth_tokens_parse(const char *text, size_t len, const char *file, pb_auth_tokens_t **out,
                         pb_err_t *err);

/* Number of tokens. */
size_t pb_auth_tokens_count(const pb_auth_tokens_t *t);

/* The principal of token, or NULL. Hashes once and compares every entry in constant time. */
const pb_auth_principal_t *pb_auth_tokens_lookup(const pb_auth_tokens_t *t, const char *token);

/* NULL is a no-op. */
void pb_auth_tokens_destroy(pb_auth_tokens_t *t);

/* ---- JWT (OIDC) ---- */

typedef struct pb_auth_jwks pb_auth_jwks_t;

/* Parse a JWKS document ({"keys":[...]}): RSA keys (kty RSA, n, e) and EC P-256 keys (kty EC,
 * crv P-256, x, y); keys with another kty/crv or use other than "sig" are skipped. Returns 0 and
 * *out (caller destroys), or PB_ERR_INVALID naming the key and member at fault ("keys[1].n: not
 * base64url"). source names the document in errors. */
int pb_auth_jwks_parse(const char *text, size_t len, const char *source, pb_auth_jwks_t **out,
                       pb_err_t *err);
size_t pb_auth_jwks_count(const pb_auth_jwks_t *k);
void pb_auth_jwks_destroy(pb_auth_jwks_t *k);

typedef struct pb_auth_jwt_rules {
    const char *issuer;          /* "iss" must equal it */
    const char *audience;        /* "aud" (a string or an array) must hold it */
    const char *principal_claim; /* claim naming the principal, e.g. "sub" */
    int64_t leeway_ms;           /* tolerance on exp and nbf */
} pb_auth_jwt_rules_t;

/* Does token look like a JWT (three base64url parts separated by dots)? Pure. */
int pb_auth_is_jwt(const char *token);

/* Verify a compact JWS: alg RS256 or ES256 only (none, HS* and others are refused), a signature by
 * a key of keys (the one whose "kid" matches, else any key of the alg's type), then the claims:
 * iss, aud, exp (required), nbf, each with leeway, against now_ms (Unix ms). Fills *out from the
 * principal claim. Returns 0, or PB_ERR_UNAUTHORIZED with the reason ("JWT expired at
 * 2026-...", "JWT signature does not verify"). Pure apart from libcrypto. */
int pb_auth_jwt_verify(const pb_auth_jwks_t *keys, const char *token,
                       const pb_auth_jwt_rules_t *rules, int64_t now_ms, pb_auth_principal_t *out,
                       pb_err_t *err);

/* ---- the decision ---- */

/* What the caller presented. */
typedef enum {
    PB_AUTH_NONE = 0, /* no credentials */
    PB_AUTH_INVALID,  /* credentials that do not verify */
    PB_AUTH_OK,       /* a principal */
} pb_auth_cred_t;

typedef struct pb_auth_policy {
    int enabled;        /* a credential source is configured; off: every caller is admin */
    int anonymous_read; /* auth.anonymous = read */
    int metrics_auth;   /* metrics.auth = true */
} pb_auth_policy_t;

/* What a request touches, as access.c finds it. */
typedef struct pb_auth_target {
    pb_api_access_t access;
    const char *action;   /* for messages: "publish to output port urn:..." */
    const char *owner;    /* product URN that owns the target; NULL: only admin (a non-port subject,
                             the global config) */
    int missing;          /* the target does not exist: authenticated callers pass (the handler
                             answers 404) */
    const char *admitted; /* product that must be admitted by the access list below (INPUT_OWNER,
                             SUBSCRIPTION): the input port's product */
    const char *const *acl; /* the output port's x-portbroker.access; NULL: no list applies */
    size_t n_acl;
    const char *acl_port; /* the output port, for messages */
} pb_auth_target_t;

/* Decide: 0 (allow), 401 or 403, with msg (cap bytes) naming the principal, the action and who
 * may do it. cred/p: what authentication found (p is read only when cred is PB_AUTH_OK); why:
 * authentication's reason for PB_AUTH_INVALID. Pure and table-driven: see the rules in auth.c. */
int pb_auth_decide(const pb_auth_policy_t *pol, pb_auth_cred_t cred, const pb_auth_principal_t *p,
                   const char *why, const pb_auth_target_t *t, char *msg, size_t cap);

/* ---- the configured sources ---- */

typedef struct pb_auth pb_auth_t;

/* Build from cfg: reads auth.tokens.file and auth.jwks.file if set. Returns NULL with err set
 * ("auth.tokens.file tokens.txt:3: ...") when a file cannot be read or parsed. cfg is borrowed
 * and must outlive the object. Start-up thread. */
pb_auth_t *pb_auth_new(const pb_config_t *cfg, pb_err_t *err);

/* Re-read the configured files (SIGHUP). On error nothing changes and err says why. */
int pb_auth_reload(pb_auth_t *a, pb_err_t *err);

/* Replace the JWKS (a background refresh from auth.jwks.url). Takes ownership of keys. */
void pb_auth_set_jwks(pb_auth_t *a, pb_auth_jwks_t *keys);

/* The policy in force. */
const pb_auth_policy_t *pb_auth_policy(const pb_auth_t *a);

/* Authenticate an Authorization header value (NULL: none) at now_ms. Returns the credential state;
 * on PB_AUTH_OK fills *p; on PB_AUTH_INVALID writes the reason into why (cap bytes). With auth off
 * every caller is admin. */
pb_auth_cred_t pb_auth_authenticate(const pb_auth_t *a, const char *authorization, int64_t now_ms,
                                    pb_auth_principal_t *p, char *why, size_t cap);

/* NULL is a no-op. */
void pb_auth_destroy(pb_auth_t *a);

/* Is host a loopback address ("127.x.y.z", "::1", "localhost")? Pure. */
int pb_auth_host_is_loopback(const char *host);

#endif
