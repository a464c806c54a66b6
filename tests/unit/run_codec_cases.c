/*
 * run_codec_cases — data-driven codec tests: every tests/data/codec/NAME.test file, TAP output.
 *
 * A file holds cases separated by blank lines; '#' lines are comments. A case is a kind line and
 * then one line per part (schemas and JSON on one line each, binary as hex, "" for no bytes):
 *
 *   encode | encode-unwrapped | encode-lenient    schema, JSON datum, expected hex or "! error"
 *   encode-natural     as encode, natural JSON (§5a, unwrapped unions); the natural decode of
 *                      the bytes must encode to them again
 *   decode                                       schema, hex, expected JSON text or "! error"
 *   decode-natural     as decode, printing natural JSON (§5a)
 *   roundtrip                                    schema, JSON datum, hex, JSON text after decode
 *   roundtrip-natural  as roundtrip, natural JSON both ways (the text after decode, encoded
 *                      again, must give the same bytes)
 *   validate                                     schema, hex, "ok" or "! error"
 *   resolve                                      writer, reader, writer JSON datum, reader JSON
 * text or "! error" resolve-hex                                  writer, reader, writer hex, reader
 * hex or "! error" plan-error                                   writer, reader, "! error"
 *
 * "! text" expects a failure whose message contains text. Every successful encode is also decoded
 * and re-encoded, and every successful resolve is validated against the reader schema.
 *
 * With arguments `resolve ...` it is instead the `schema resolve` CLI (used by the oracle check
 * tests/checks/codec-oracle.t, so it works before main.c routes the command).
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli_resolve.h"
#include "codec.h"
#include "err.h"
#include "jsontok.h"
#include "schema.h"

static int n_test, n_fail;

static void hex(const pb_buf_t *b, char *out, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < b->len && n + 3 < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%02x", b->data[i]);
    out[n] = '\0';
}

static int unhex(const char *s, pb_buf_t *out) {
    size_t len = strlen(s);
    if (!strcmp(s, "\"\"")) return 0;
    if (len % 2) return -1;
    for (size_t i = 0; i < len; i += 2) {
        unsigned v;
        if (sscanf(s + i, "%2x", &v) != 1) return -1;
        pb_buf_putc(out, (uint8_t)v);
    }
    return 0;
}

static pb_schema_t *schema(const char *text, char *why, size_t cap) {
    pb_schema_t *s = NULL;
    pb_err_t err = {0};
    if (pb_schema_parse(text, strlen(text), &s, &err)) {
        snprintf(why, cap, "schema does not parse: %s", err.msg);
        return NULL;
    }
    return s;
}

/* Compare an outcome with the expectation: "! substring" wants rc != 0 and a message. */
static int expect(int rc, const pb_err_t *err, const char *got, const char *want, char *why,
                  size_t cap) {
    if (want[0] == '!') {
        const char *sub = want + 1;
        while (*sub == ' ')
            sub++;
        if (!rc) {
            snprintf(why, cap, "expected failure \"%s\", got success: %s", sub, got);
            return 1;
        }
        if (!strstr(err->msg, sub)) {
            snprintf(why, cap, "expected error containing \"%s\", got \"%s\"", sub, err->msg);
            return 1;
        }
        return 0;
    }
    if (rc) {
        snprintf(why, cap, "unexpected error: %s", err->msg);
        return 1;
    }
    if (strcmp(got, want)) {
        snprintf(why, cap, "expected %s, got %s", want, got);
        return 1;
    }
    return 0;
}

static char *text_of(pb_buf_t *b) {
    pb_buf_putc(b, 0);
    b->len--;
    return (char *)b->data;
}

/* decode -> JSON -> encode must give the same bytes again (canonical input); with natural set,
 * both in natural JSON (§5a). */
static int stable(const pb_schema_t *s, const pb_buf_t *bin, bool natural, char *why, size_t cap) {
    pb_buf_t t = {0}, again = {0};
    pb_err_t err = {0};
    int bad = 1;
    unsigned dflags = natural ? PB_CODEC_NATURAL : 0u;
    unsigned eflags = natural ? PB_CODEC_NATURAL | PB_CODEC_UNWRAPPED_UNIONS : 0u;
    if (pb_codec_avro_to_json_text(s, bin->data, bin->len, dflags, &t, &err)) {
        snprintf(why, cap, "decode of own encoding failed: %s", err.msg);
        goto done;
    }
    if (pb_codec_text_to_avro(s, (const char *)t.data, t.len, eflags, &again, NULL, &err)) {
        snprintf(why, cap, "re-encode of decoded %s failed: %s", text_of(&t), err.msg);
        goto done;
    }
    if (again.len != bin->len || (bin->len && memcmp(again.data, bin->data, bin->len))) {
        snprintf(why, cap, "decode->encode not stable for %s", text_of(&t));
        goto done;
    }
    bad = 0;
done:
    pb_buf_free(&t);
    pb_buf_free(&again);
    return bad;
}

static int run_case(char **ln, int n, char *why, size_t cap) {
    const char *kind = ln[0];
    pb_schema_t *s1 = NULL, *s2 = NULL;
    pb_resolver_t *res = NULL;
    pb_buf_t a = {0}, b = {0}, t = {0};
    pb_err_t err = {0};
    pb_jsontok_t tk = {0};
    size_t root = 0;
    int bad = 1, rc;
    char got[4096];
    bool natural = strstr(kind, "-natural") != NULL;
    int want_parts = !strncmp(kind, "roundtrip", 9) ? 5
                     : !strcmp(kind, "plan-error")  ? 4
                     : !strncmp(kind, "resolve", 7) ? 5
                                                    : 4;
    if (n != want_parts) {
        snprintf(why, cap, "case has %d lines, %s wants %d", n, kind, want_parts);
        return 1;
    }
    if (!(s1 = schema(ln[1], why, cap))) goto done;
    bool two = !strncmp(kind, "resolve", 7) || !strcmp(kind, "plan-error");
    if (two && !(s2 = schema(ln[2], why, cap))) goto done;
    if (!strncmp(kind, "encode", 6) || !strncmp(kind, "roundtrip", 9)) {
        if (pb_jsontok_parse(&tk, ln[2], strlen(ln[2]), &root, &err)) {
            snprintf(why, cap, "datum is not JSON: %s", err.msg);
            goto done;
        }
        unsigned flags = !strcmp(kind, "encode-unwrapped") ? PB_CODEC_UNWRAPPED_UNIONS
                         : !strcmp(kind, "encode-lenient") ? PB_CODEC_IGNORE_UNKNOWN_FIELDS
                         : natural ? PB_CODEC_NATURAL | PB_CODEC_UNWRAPPED_UNIONS
                                   : 0;
        pb_codec_error_t detail;
        rc = pb_codec_tokens_to_avro(s1, &tk, root, flags, &a, &detail, &err);
        hex(&a, got, sizeof got);
        if (rc && a.len) {
            snprintf(why, cap, "output not truncated on error");
            goto done;
        }
        if (expect(rc, &err, got, strcmp(ln[3], "\"\"") ? ln[3] : "", why, cap)) goto done;
        if (!rc && stable(s1, &a, false, why, cap)) goto done;
        if (!rc && natural && stable(s1, &a, true, why, cap)) goto done;
        if (rc && (!detail.reason[0] || !strstr(err.msg, detail.reason))) {
            snprintf(why, cap, "error detail \"%s\" disagrees with the message \"%s\"",
                     detail.reason, err.msg);
            goto done;
        }
        if (!strncmp(kind, "roundtrip", 9)) {
            hex(&a, got, sizeof got);
            if (strcmp(got, strcmp(ln[3], "\"\"") ? ln[3] : "")) {
                snprintf(why, cap, "encoded to %s, expected %s", got, ln[3]);
                goto done;
            }
            if (pb_codec_avro_to_json_text(s1, a.data, a.len, natural ? PB_CODEC_NATURAL : 0u, &t,
                                           &err)) {
                snprintf(why, cap, "decode failed: %s", err.msg);
                goto done;
            }
            if (strcmp(text_of(&t), ln[4])) {
                snprintf(why, cap, "decoded to %s, expected %s", text_of(&t), ln[4]);
                goto done;
            }
        }
    } else if (!strncmp(kind, "decode", 6) || !strcmp(kind, "validate")) {
        if (unhex(ln[2], &a)) {
            snprintf(why, cap, "bad hex");
            goto done;
        }
        if (!strncmp(kind, "decode", 6)) {
            rc = pb_codec_avro_to_json_text(s1, a.data, a.len, natural ? PB_CODEC_NATURAL : 0u, &t,
                                            &err);
            if (rc && t.len) {
                snprintf(why, cap, "output not truncated on error");
                goto done;
            }
            /* validate must agree with decode (natural JSON refuses a few valid data: a
             * decimal with more digits than it prints) */
            pb_err_t e2 = {0};
            if (!natural && !!pb_codec_validate(s1, a.data, a.len, &e2) != !!rc) {
                snprintf(why, cap, "validate (%s) and decode (%s) disagree", e2.msg, err.msg);
                goto done;
            }
            if (expect(rc, &err, rc ? "" : text_of(&t), ln[3], why, cap)) goto done;
        } else {
            rc = pb_codec_validate(s1, a.data, a.len, &err);
            if (expect(rc, &err, "ok", ln[3], why, cap)) goto done;
        }
    } else if (two) {
        rc = pb_resolver_new(s1, s2, &res, &err);
        if (!strcmp(kind, "plan-error")) {
            if (expect(rc, &err, "plan built", ln[3], why, cap)) goto done;
        } else {
            if (rc) {
                if (expect(rc, &err, "", ln[4], why, cap)) goto done;
                bad = 0;
                goto done;
            }
            if (!strcmp(kind, "resolve")) {
                if (pb_codec_text_to_avro(s1, ln[3], strlen(ln[3]), 0, &a, NULL, &err)) {
                    snprintf(why, cap, "writer datum does not encode: %s", err.msg);
                    goto done;
                }
            } else if (unhex(ln[3], &a)) {
                snprintf(why, cap, "bad hex");
                goto done;
            }
            rc = pb_resolver_run(res, a.data, a.len, &b, &err);
            if (rc && b.len) {
                snprintf(why, cap, "output not truncated on error");
                goto done;
            }
            if (!rc) {
                pb_err_t e2 = {0};
                if (pb_codec_validate(s2, b.data, b.len, &e2)) {
                    hex(&b, got, sizeof got);
                    snprintf(why, cap, "resolver output %s is not valid for the reader: %s", got,
                             e2.msg);
                    goto done;
                }
            }
            if (!strcmp(kind, "resolve")) {
                if (!rc && pb_codec_avro_to_json_text(s2, b.data, b.len, 0, &t, &err)) {
                    snprintf(why, cap, "decode of resolved failed: %s", err.msg);
                    goto done;
                }
                if (expect(rc, &err, rc ? "" : text_of(&t), ln[4], why, cap)) goto done;
            } else {
                hex(&b, got, sizeof got);
                if (expect(rc, &err, got, ln[4], why, cap)) goto done;
            }
        }
    } else {
        snprintf(why, cap, "unknown case kind \"%s\"", kind);
        goto done;
    }
    bad = 0;
done:
    pb_jsontok_free(&tk);
    pb_resolver_destroy(res);
    pb_schema_destroy(s1);
    pb_schema_destroy(s2);
    pb_buf_free(&a);
    pb_buf_free(&b);
    pb_buf_free(&t);
    return bad;
}

static void run_file(const char *path, const char *name) {
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("not ok %d - %s: cannot open\n", ++n_test, name);
        n_fail++;
        return;
    }
    char *lines[16];
    int n = 0, lineno = 0, start = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    for (;;) {
        len = getline(&line, &cap, f);
        if (len >= 0) {
            lineno++;
            while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                line[--len] = '\0';
            if (line[0] == '#') continue;
            if (len) {
                if (!n) start = lineno;
                if (n < 16) lines[n++] = strdup(line);
                continue;
            }
        }
        if (n) {
            char why[8192] = "";
            int bad = run_case(lines, n, why, sizeof why);
            printf("%s %d - %s:%d %s\n", bad ? "not ok" : "ok", ++n_test, name, start, lines[0]);
            if (bad) {
                n_fail++;
                printf("#   %s\n", why);
            }
            for (int i = 0; i < n; i++)
                free(lines[i]);
            n = 0;
        }
        if (len < 0) break;
    }
    free(line);
    fclose(f);
}

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "resolve")) return pb_cli_schema_resolve(argc - 1, argv + 1);
    const char *root = getenv("PB_ROOT") ? getenv("PB_ROOT") : ".";
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/data/codec", root);
    DIR *d = opendir(dir);
    if (!d) {
        printf("1..0 # SKIP no %s\n", dir);
        return 1;
    }
    char *names[256];
    size_t nn = 0;
    struct dirent *e;
    while ((e = readdir(d)) && nn < 256) {
        size_t l = strlen(e->d_name);
        if (l > 5 && !strcmp(e->d_name + l - 5, ".test")) names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, nn, sizeof *names, cmp);
    for (size_t i = 0; i < nn; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        run_file(path, names[i]);
        free(names[i]);
    }
    printf("1..%d\n", n_test);
    return n_fail ? 1 : 0;
}
