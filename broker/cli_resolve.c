/*
 * cli_resolve — `portbroker schema resolve`: project Avro datums from a writer to a reader schema.
 *
 * Owns: argument parsing, reading stdin line by line, exit codes. Must not: hold codec or schema
 * logic; it only strings pb_codec_* and pb_resolver_* together.
 */
#include "cli_resolve.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "codec.h"
#include "err.h"
#include "schema.h"

#define EXIT_NO 1
#define EXIT_INVALID 2

static void usage(void) {
    fprintf(
        stderr,
        "usage: portbroker schema resolve --writer W.avsc --reader R.avsc\n"
        "         [--input json|hex] [--output json|hex] [--unwrapped] [--encoding avro|json]\n"
        "  Reads writer datums one a line on stdin (JSON, or hex of the Avro binary), prints\n"
        "  each in the reader schema. JSON is Avro's JSON encoding (--encoding avro, the\n"
        "  default: the Avro spec's tool) or natural JSON as streams give it (--encoding json:\n"
        "  decimals \"12.50\", RFC 3339 timestamps, dates, times; unions may be unwrapped).\n"
        "  Exit 0 all resolved, 1 some could not be, 2 invalid input.\n");
}

static int load_schema(const char *what, const char *path, pb_schema_t **out) {
    pb_err_t err = {0};
    pb_buf_t b = {0};
    int rc = EXIT_INVALID;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s schema %s: %s\n", what, path, strerror(errno));
        return EXIT_INVALID;
    }
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (pb_buf_append(&b, chunk, n)) {
            fprintf(stderr, "%s schema %s: out of memory\n", what, path);
            goto done;
        }
    }
    if (ferror(f)) {
        fprintf(stderr, "%s schema %s: read error\n", what, path);
        goto done;
    }
    if (pb_schema_parse((const char *)b.data, b.len, out, &err)) {
        fprintf(stderr, "%s schema %s: %s\n", what, path, err.msg);
        goto done;
    }
    rc = 0;
done:
    fclose(f);
    pb_buf_free(&b);
    return rc;
}

static int hexval(int ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static int unhex(const char *s, size_t len, pb_buf_t *out, pb_err_t *err) {
    if (len % 2) return pb_err_set(err, PB_ERR_INVALID, "odd number of hex digits (%zu)", len);
    for (size_t i = 0; i < len; i += 2) {
        int hi = hexval((unsigned char)s[i]), lo = hexval((unsigned char)s[i + 1]);
        if (hi < 0 || lo < 0)
            return pb_err_set(err, PB_ERR_INVALID, "not a hex digit at column %zu", i + 1);
        if (pb_buf_putc(out, (uint8_t)(hi << 4 | lo)))
            return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    }
    return 0;
}

int pb_cli_schema_resolve(int argc, char **argv) {
    const char *wpath = NULL, *rpath = NULL, *in_fmt = "json", *out_fmt = "json",
               *encoding = "avro";
    unsigned flags = 0;
    pb_schema_t *ws = NULL, *rs = NULL;
    pb_resolver_t *res = NULL;
    pb_buf_t wbin = {0}, rbin = {0}, text = {0};
    pb_jsontok_t tk = {0};
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = !strcmp(a, "--writer")     ? &wpath
                            : !strcmp(a, "--reader")   ? &rpath
                            : !strcmp(a, "--input")    ? &in_fmt
                            : !strcmp(a, "--output")   ? &out_fmt
                            : !strcmp(a, "--encoding") ? &encoding
                                                       : NULL;
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "schema resolve: %s needs a value\n", a);
                usage();
                return EXIT_INVALID;
            }
            *slot = argv[++i];
        } else if (!strcmp(a, "--json")) {
            /* the dispatcher passes --json through: our output is JSON lines already */
        } else if (!strcmp(a, "--unwrapped")) {
            flags |= PB_CODEC_UNWRAPPED_UNIONS;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        } else {
            fprintf(stderr, "schema resolve: unknown argument %s\n", a);
            usage();
            return EXIT_INVALID;
        }
    }
    if (!wpath || !rpath) {
        fprintf(stderr, "schema resolve: --writer and --reader are required\n");
        usage();
        return EXIT_INVALID;
    }
    if (strcmp(encoding, "avro") && strcmp(encoding, "json")) {
        fprintf(stderr, "schema resolve: --encoding: '%s' is not one of avro, json\n", encoding);
        return EXIT_INVALID;
    }
    unsigned dflags = 0; /* the decoder's: natural JSON, unions stay wrapped */
    if (!strcmp(encoding, "json")) {
        flags |= PB_CODEC_NATURAL | PB_CODEC_UNWRAPPED_UNIONS;
        dflags = PB_CODEC_NATURAL;
    }
    int in_hex = !strcmp(in_fmt, "hex"), out_hex = !strcmp(out_fmt, "hex");
    if ((!in_hex && strcmp(in_fmt, "json")) || (!out_hex && strcmp(out_fmt, "json"))) {
        fprintf(stderr, "schema resolve: --input and --output take json or hex\n");
        return EXIT_INVALID;
    }
    if ((rc = load_schema("writer", wpath, &ws)) || (rc = load_schema("reader", rpath, &rs)))
        goto done;
    pb_err_t err = {0};
    if (pb_resolver_new(ws, rs, &res, &err)) {
        fprintf(stderr, "schema resolve: %s cannot be read as %s: %s\n", wpath, rpath, err.msg);
        rc = err.code == PB_ERR_INCOMPATIBLE ? EXIT_NO : EXIT_INVALID;
        goto done;
    }

    ssize_t n;
    for (unsigned long lineno = 1; (n = getline(&line, &cap, stdin)) >= 0; lineno++) {
        size_t len = (size_t)n;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        size_t sp = 0;
        while (sp < len && (line[sp] == ' ' || line[sp] == '\t'))
            sp++;
        if (sp == len && !in_hex) continue; /* in hex, an empty line is the empty datum */
        pb_buf_reset(&wbin);
        pb_buf_reset(&rbin);
        pb_buf_reset(&text);
        pb_err_clear(&err);
        int bad = 0;
        if (in_hex) {
            if (unhex(line + sp, len - sp, &wbin, &err) ||
                pb_codec_validate(ws, wbin.data, wbin.len, &err))
                bad = EXIT_INVALID;
        } else {
            size_t root = 0;
            pb_jsontok_reset(&tk);
            int prc = pb_jsontok_parse(&tk, line, len, &root, &err);
            if (prc) {
                if (prc == PB_ERR_NOMEM) goto oom;
                pb_err_prefix(&err, "not JSON: ");
                bad = EXIT_INVALID;
            } else if (pb_codec_tokens_to_avro(ws, &tk, root, flags, &wbin, NULL, &err)) {
                bad = EXIT_INVALID;
            }
        }
        if (bad) {
            fprintf(stderr, "line %lu: not a valid writer datum: %s\n", lineno, err.msg);
            rc = EXIT_INVALID;
            continue;
        }
        if (pb_resolver_run(res, wbin.data, wbin.len, &rbin, &err)) {
            fprintf(stderr, "line %lu: %s\n", lineno, err.msg);
            if (rc < EXIT_NO) rc = EXIT_NO;
            continue;
        }
        if (out_hex) {
            static const char hx[] = "0123456789abcdef";
            for (size_t i = 0; i < rbin.len; i++)
                if (pb_buf_putc(&text, (uint8_t)hx[rbin.data[i] >> 4]) ||
                    pb_buf_putc(&text, (uint8_t)hx[rbin.data[i] & 15]))
                    goto oom;
        } else if (pb_codec_avro_to_json_text(rs, rbin.data, rbin.len, dflags, &text, &err)) {
            /* The resolver only writes valid reader data; a failure here is a bug, but for
             * natural JSON's one limit (a decimal beyond PB_CODEC_MAX_DECIMAL_DIGITS). */
            fprintf(stderr, "line %lu: internal error: %s\n", lineno, err.msg);
            rc = EXIT_INVALID;
            continue;
        }
        if (pb_buf_putc(&text, '\n')) goto oom;
        fwrite(text.data, 1, text.len, stdout);
    }
    if (fflush(stdout)) {
        fprintf(stderr, "schema resolve: write error: %s\n", strerror(errno));
        rc = EXIT_INVALID;
    }
    goto done;
oom:
    fprintf(stderr, "schema resolve: out of memory\n");
    rc = EXIT_INVALID;
done:
    free(line);
    pb_jsontok_free(&tk);
    pb_buf_free(&wbin);
    pb_buf_free(&rbin);
    pb_buf_free(&text);
    pb_resolver_destroy(res);
    pb_schema_destroy(ws);
    pb_schema_destroy(rs);
    return rc;
}
