/*
 * Data-driven jsontext cases: runs every case of each tests/data/jsontext/<name>.test and prints
 * TAP, one point per case. The data dir is $PB_ROOT/tests/data/jsontext, else
 * ./tests/data/jsontext.
 *
 * A case is three lines: the operation, the input, the expected result (either line may be empty:
 * the empty string). Lines starting with '#' and blank lines between cases are skipped. In the
 * input and expected lines "\xNN" is the byte NN (so any byte can be written); every other
 * character, backslashes included, is itself.
 *   escape | escape-bytes | string | string-bytes      pb_jsontext_escape / _string (BYTES flag)
 *   escape-to CAP [bytes]        pb_jsontext_escape_to into CAP bytes; expected "<text> @<used>"
 *   pointer                      segments separated by '|' pushed on an empty pointer (pb_buf_t)
 *   pointer-to CAP               the same with pb_jsontext_pointer_push_to into CAP bytes
 *   pct [plus] [text] [cap=N]    pb_jsontext_pct_decode (cap 0: check only, expected is then the
 *                                decoded length as "len=N")
 *   pct-encode [slash]           pb_jsontext_pct_encode (PB_JSONTEXT_SLASH); every case also
 *                                decodes its result, with and without PB_JSONTEXT_PLUS, back to
 *                                the input
 * An expected line "! text" means the call must fail with a message containing text.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsontext.h"

/* Decode "\xNN" escapes of a case line in place; returns the byte length. */
static size_t unesc(char *s) {
    size_t o = 0;
    for (size_t i = 0; s[i]; i++) {
        unsigned h, l;
        if (s[i] == '\\' && s[i + 1] == 'x' && sscanf(s + i + 2, "%1x%1x", &h, &l) == 2) {
            s[o++] = (char)(h * 16 + l);
            i += 3;
        } else {
            s[o++] = s[i];
        }
    }
    s[o] = '\0';
    return o;
}

/* Printable form of got for a failure line. */
static void show(const char *what, const char *s, size_t n) {
    printf("#   %s: \"", what);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f)
            putchar(c);
        else
            printf("\\x%02x", c);
    }
    printf("\"\n");
}

static int same(const char *a, size_t an, const char *b, size_t bn) {
    return an == bn && (!an || !memcmp(a, b, an));
}

/* Run one case; returns 1 when it passes. */
static int run(const char *op, char *in, char *expect, char *why, size_t whycap) {
    size_t inlen;
    pb_buf_t got = {0};
    pb_err_t err = {0};
    char fixed[512];
    int ok = 0, rc = 0;
    size_t explen;
    int want_err = expect[0] == '!' && expect[1] == ' ';
    unsigned cap = 0;
    if (!strcmp(op, "escape") || !strcmp(op, "escape-bytes") || !strcmp(op, "string") ||
        !strcmp(op, "string-bytes")) {
        inlen = unesc(in);
        unsigned f = strstr(op, "bytes") ? PB_JSONTEXT_BYTES : 0;
        rc = op[1] == 's' ? pb_jsontext_escape(&got, in, inlen, f)
                          : pb_jsontext_string(&got, in, inlen, f);
        if (!rc && got.data && got.data[got.len] != '\0') {
            snprintf(why, whycap, "no NUL after the text");
            goto done;
        }
    } else if (sscanf(op, "escape-to %u", &cap) == 1) {
        inlen = unesc(in);
        size_t used = 0;
        if (cap > sizeof fixed) cap = sizeof fixed;
        size_t n =
            pb_jsontext_escape_to(fixed, cap, in, inlen, strstr(op, "bytes") ? 1u : 0u, &used);
        if (strlen(fixed) != n) {
            snprintf(why, whycap, "returned %zu, wrote %zu", n, strlen(fixed));
            goto done;
        }
        rc = pb_buf_append(&got, fixed, n) || pb_buf_printf(&got, " @%zu", used) < 0;
    } else if (!strcmp(op, "pointer") || sscanf(op, "pointer-to %u", &cap) == 1) {
        size_t len = 0;
        fixed[0] = '\0';
        if (cap > sizeof fixed) cap = sizeof fixed;
        for (char *seg = in, *bar; seg; seg = bar) {
            bar = strchr(seg, '|');
            if (bar) *bar++ = '\0';
            size_t sl = unesc(seg);
            if (cap)
                len = pb_jsontext_pointer_push_to(fixed, cap, len, seg, sl);
            else if ((rc = pb_jsontext_pointer_push(&got, seg, sl)))
                break;
        }
        if (cap) {
            if (strlen(fixed) != len) {
                snprintf(why, whycap, "returned %zu, path is %zu long", len, strlen(fixed));
                goto done;
            }
            rc = pb_buf_append(&got, fixed, len);
        } else if (!rc) {
            /* Popping back to a shorter length keeps a C string. */
            size_t keep = got.len;
            if (pb_jsontext_pointer_push_index(&got, 42)) goto done;
            pb_jsontext_pointer_pop(&got, keep);
            if (got.len != keep || got.data[keep] != '\0') {
                snprintf(why, whycap, "pop did not restore the pointer");
                goto done;
            }
        }
    } else if (!strcmp(op, "pct-encode") || !strcmp(op, "pct-encode slash")) {
        inlen = unesc(in);
        rc = pb_jsontext_pct_encode(&got, in, inlen, strstr(op, "slash") ? PB_JSONTEXT_SLASH : 0);
        if (!rc && got.data && got.data[got.len] != '\0') {
            snprintf(why, whycap, "no NUL after the text");
            goto done;
        }
        for (unsigned f = 0; !rc && f <= PB_JSONTEXT_PLUS; f += PB_JSONTEXT_PLUS) {
            size_t n = 0;
            if (pb_jsontext_pct_decode(got.data ? (const char *)got.data : "", got.len, f, fixed,
                                       sizeof fixed, &n, &err) ||
                !same(fixed, n, in, inlen)) {
                snprintf(why, whycap, "decoding the result%s does not give the input back: %s",
                         f ? " with PB_JSONTEXT_PLUS" : "", err.msg);
                goto done;
            }
        }
    } else if (!strncmp(op, "pct", 3) && (op[3] == '\0' || op[3] == ' ')) {
        unsigned f = 0;
        cap = sizeof fixed;
        if (strstr(op, " plus")) f |= PB_JSONTEXT_PLUS;
        if (strstr(op, " text")) f |= PB_JSONTEXT_TEXT;
        const char *c = strstr(op, " cap=");
        if (c) cap = (unsigned)atoi(c + 5);
        if (cap > sizeof fixed) cap = sizeof fixed;
        inlen = unesc(in);
        size_t n = 0;
        rc = pb_jsontext_pct_decode(in, inlen, f, cap ? fixed : NULL, cap, &n, &err);
        if (!rc && cap && fixed[n] != '\0') {
            snprintf(why, whycap, "no NUL after the decoded bytes");
            goto done;
        }
        if (!rc) rc = cap ? pb_buf_append(&got, fixed, n) : pb_buf_printf(&got, "len=%zu", n) < 0;
    } else {
        snprintf(why, whycap, "unknown operation '%s'", op);
        goto done;
    }
    if (want_err) {
        if (!rc)
            snprintf(why, whycap, "succeeded, expected an error containing '%s'", expect + 2);
        else if (!strstr(err.msg, expect + 2))
            snprintf(why, whycap, "error '%s' does not contain '%s'", err.msg, expect + 2);
        else
            ok = 1;
        goto done;
    }
    if (rc) {
        snprintf(why, whycap, "failed: %s", err.msg[0] ? err.msg : "(no message)");
        goto done;
    }
    explen = unesc(expect);
    if (same((const char *)got.data, got.len, expect, explen)) {
        ok = 1;
    } else {
        snprintf(why, whycap, "output differs");
        show("want", expect, explen);
        show("got ", got.data ? (const char *)got.data : "", got.len);
    }
done:
    pb_buf_free(&got);
    return ok;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) buf[n] = '\0';
    fclose(f);
    return buf;
}

static int run_file(const char *dir, const char *name, int *num) {
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = slurp(path);
    int failed = 0;
    if (!text) {
        printf("not ok %d - %s: cannot read\n", ++*num, name);
        return 1;
    }
    char *lines[4096];
    size_t nl = 0;
    for (char *p = text; p && nl < 4096;) {
        char *e = strchr(p, '\n');
        if (e) *e = '\0';
        lines[nl++] = p;
        p = e ? e + 1 : NULL;
    }
    for (size_t i = 0; i < nl; i++) {
        if (!lines[i][0] || lines[i][0] == '#') continue;
        char why[400] = "";
        int ok = 0;
        if (i + 2 >= nl) {
            snprintf(why, sizeof why, "case at line %zu has no input and expected lines", i + 1);
        } else {
            ok = run(lines[i], lines[i + 1], lines[i + 2], why, sizeof why);
        }
        printf("%s %d - %s:%zu %s%s%s\n", ok ? "ok" : "not ok", ++*num, name, i + 1, lines[i],
               ok ? "" : ": ", why);
        failed += !ok;
        i += 2;
    }
    free(text);
    return failed;
}

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void) {
    char dir[1024];
    const char *root = getenv("PB_ROOT");
    snprintf(dir, sizeof dir, "%s/tests/data/jsontext", root ? root : ".");
    DIR *d = opendir(dir);
    if (!d) {
        printf("1..0 # SKIP no %s\n", dir);
        return 1;
    }
    char *names[64];
    size_t n = 0;
    for (struct dirent *e = readdir(d); e && n < 64; e = readdir(d)) {
        size_t l = strlen(e->d_name);
        if (l > 5 && !strcmp(e->d_name + l - 5, ".test")) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    int failed = 0, num = 0;
    for (size_t i = 0; i < n; i++) {
        failed += run_file(dir, names[i], &num);
        free(names[i]);
    }
    printf("1..%d\n", num);
    return num == 0 || failed ? 1 : 0;
}
