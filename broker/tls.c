/*
 * tls — OpenSSL server contexts for the HTTP listener, their reload, and client-certificate
 * principals.
 *
 * Owns: the SSL_CTX in force and the file names it was made from. Only TLS 1.2 and 1.3 are
 * offered; with a client CA, a client certificate is asked for (not required: bearer tokens still
 * work) and one that does not verify fails the handshake.
 * Must not: include libevent (http.c wraps the SSL objects), or decide what a principal may do.
 */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pb_tls {
    char *cert, *key, *client_ca;
    SSL_CTX *ctx;
};

/* OpenSSL's last error as text (its reason string, not a flag name). */
static const char *ossl_reason(void) {
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return r ? r : "unknown OpenSSL error";
}

static SSL_CTX *make_ctx(const pb_tls_t *t, pb_err_t *err) {
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        pb_err_set(err, PB_ERR_NOMEM, "TLS: cannot make a context: %s", ossl_reason());
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1) {
        pb_err_set(err, PB_ERR_INVALID, "http.tls.cert.file %s: %s", t->cert, ossl_reason());
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1) {
        pb_err_set(err, PB_ERR_INVALID, "http.tls.key.file %s: %s", t->key, ossl_reason());
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        pb_err_set(err, PB_ERR_INVALID,
                   "http.tls.key.file %s: the key does not match the certificate in %s", t->key,
                   t->cert);
        goto fail;
    }
    if (t->client_ca) {
        if (SSL_CTX_load_verify_locations(ctx, t->client_ca, NULL) != 1) {
            pb_err_set(err, PB_ERR_INVALID, "http.tls.client.ca.file %s: %s", t->client_ca,
                       ossl_reason());
            goto fail;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(t->client_ca);
        if (names) SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_verify_depth(ctx, 5);
        /* Sessions resumed without the certificate would lose the principal. */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_num_tickets(ctx, 0);
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

pb_tls_t *pb_tls_new(const char *cert, const char *key, const char *client_ca, pb_err_t *err) {
    pb_tls_t *t = calloc(1, sizeof *t);
    if (!t || !(t->cert = strdup(cert)) || !(t->key = strdup(key)) ||
        (client_ca && *client_ca && !(t->client_ca = strdup(client_ca)))) {
        pb_tls_destroy(t);
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (!(t->ctx = make_ctx(t, err))) {
        pb_tls_destroy(t);
        return NULL;
    }
    return t;
}

int pb_tls_reload(pb_tls_t *t, pb_err_t *err) {
    SSL_CTX *ctx = make_ctx(t, err);
    if (!ctx) return err ? err->code : PB_ERR_INVALID;
    SSL_CTX_free(t->ctx); /* connections made from it hold their own reference */
    t->ctx = ctx;
    return 0;
}

void *pb_tls_new_ssl(void *arg) {
    pb_tls_t *t = arg;
    return SSL_new(t->ctx);
}

int pb_tls_peer_name(const void *ssl_, char *out, size_t cap) {
    SSL *ssl = (SSL *)ssl_;
    int rc = -1;
    if (!ssl) return 0;
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (!cert) return 0;
    if (SSL_get_verify_result(ssl) != X509_V_OK) goto done;
    GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans) && rc < 0; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
        if (g->type != GEN_URI) continue;
        const unsigned char *d = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
        int n = ASN1_STRING_length(g->d.uniformResourceIdentifier);
        if (n > 0 && (size_t)n < cap && !memchr(d, '\0', (size_t)n)) {
            memcpy(out, d, (size_t)n);
            out[n] = '\0';
            rc = 1;
        }
    }
    GENERAL_NAMES_free(sans);
    if (rc < 0) {
        int n =
            X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, out, (int)cap);
        if (n > 0 && (size_t)n < cap && strlen(out) == (size_t)n) rc = 1;
    }
done:
    X509_free(cert);
    return rc;
}

void pb_tls_fingerprint(const pb_tls_t *t, char out[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    X509 *c = SSL_CTX_get0_certificate(t->ctx);
    out[0] = '\0';
    if (!c || !X509_digest(c, EVP_sha256(), md, &n)) return;
    for (unsigned i = 0; i < n && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

void pb_tls_destroy(pb_tls_t *t) {
    if (!t) return;
    SSL_CTX_free(t->ctx);
    free(t->cert);
    free(t->key);
    free(t->client_ca);
    free(t);
}
