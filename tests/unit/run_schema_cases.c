/*
 * Data-driven tests of the schema parser: every .test file in tests/data/schema, one case a block
 * (blocks separated by blank lines, '#' lines are comments). Keys, one a line; a line without a
 * known key continues the previous value (so a schema may span lines):
 *   name: what the case shows (optional)
 *   schema: the schema JSON text                          (required)
 *   canonical: expected Parsing Canonical Form            (valid cases)
 *   fingerprint: expected CRC-64-AVRO, 16 hex digits      (valid cases)
 *   json: expected pb_schema_to_json, compact             (valid cases, optional)
 *   error: JSON pointer the error must name, "(root)" for the root, "-" for none (invalid JSON)
 *   reason: a substring the error message must contain    (invalid cases)
 *   code: error code name when not "invalid" (e.g. too_large)
 * Every valid case also checks that to_json reparses to the same canonical form.
 * Prints TAP, one test point per case. Data dir: $PB_ROOT/tests/data/schema, else ./tests/...
 *
 * With --batch FILE it is the oracle's harness instead: one schema a line in FILE; prints one line
 * each: "ok <fingerprint> <canonical><TAB><to_json>" or "invalid <message>".
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "schema.h"

#define MAX_KEYS 8

typedef struct {
    char *file;
    int line;
    char *val[MAX_KEYS];
} tcase_t;

static const char *const keys[MAX_KEYS] = {"name", "schema", "canonical", "fingerprint",
                                           "json", "error",  "reason",    "code"};
enum { K_NAME, K_SCHEMA, K_CANON, K_FP, K_JSON, K_ERROR, K_REASON, K_CODE };

static int n_test;
static int n_fail;

static void tap(int ok, const tcase_t *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void tap(int ok, const tcase_t *c, const char *fmt, ...) {
    n_test++;
    if (!ok) n_fail++;
    printf("%s %d - %s:%d %s\n", ok ? "ok" : "not ok", n_test, c->file, c->line,
           c->val[K_NAME] ? c->val[K_NAME] : "");
    if (!ok) {
        va_list ap;
        va_start(ap, fmt);
        printf("# ");
        vprintf(fmt, ap);
        printf("\n");
        va_end(ap);
    }
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = 0;
    return s;
}

static void append(char **dst, const char *s, int newline) {
    size_t a = *dst ? strlen(*dst) : 0, b = strlen(s);
    char *d = realloc(*dst, a + b + 2);
    if (!d) abort();
    if (a && newline) d[a++] = '\n';
    memcpy(d + a, s, b + 1);
    *dst = d;
}

static void run_case(tcase_t *c) {
    pb_schema_t *s = NULL, *s2 = NULL;
    pb_err_t err = {0};
    json_t *j = NULL;
    char *dump = NULL;
    if (!c->val[K_SCHEMA]) {
        tap(0, c, "case has no schema");
        return;
    }
    int rc = pb_schema_parse(c->val[K_SCHEMA], strlen(c->val[K_SCHEMA]), &s, &err);
    if (c->val[K_ERROR]) {
        const char *code = c->val[K_CODE] ? c->val[K_CODE] : "invalid";
        char *want = NULL;
        size_t plen = strlen(c->val[K_ERROR]);
        int wn =
            plen > 160 /* schema.c keeps the head and tail of very long pointers */
                ? asprintf(&want, "at %.60s...%s: ", c->val[K_ERROR], c->val[K_ERROR] + plen - 97)
                : asprintf(&want, "at %s: ", c->val[K_ERROR]);
        if (wn < 0) abort();
        if (!rc)
            tap(0, c, "parsed, expected an error at %s (canonical %s)", c->val[K_ERROR],
                pb_schema_canonical(s));
        else if (strcmp(pb_err_name(rc), code) || strcmp(pb_err_name(err.code), code))
            tap(0, c, "code %s, expected %s: %s", pb_err_name(rc), code, err.msg);
        else if (strcmp(c->val[K_ERROR], "-") && strncmp(err.msg, want, strlen(want)))
            tap(0, c, "error \"%s\" does not start with \"%s\"", err.msg, want);
        else if (c->val[K_REASON] && !strstr(err.msg, c->val[K_REASON]))
            tap(0, c, "error \"%s\" does not contain \"%s\"", err.msg, c->val[K_REASON]);
        else if (!*err.msg)
            tap(0, c, "empty error message");
        else
            tap(1, c, "%s", "");
        free(want);
        goto done;
    }
    if (rc) {
        tap(0, c, "rejected: %s", err.msg);
        goto done;
    }
    char fp[17];
    snprintf(fp, sizeof fp, "%016" PRIx64, pb_schema_fingerprint(s));
    if (c->val[K_CANON] && strcmp(c->val[K_CANON], pb_schema_canonical(s))) {
        tap(0, c, "canonical\n#   got  %s\n#   want %s", pb_schema_canonical(s), c->val[K_CANON]);
        goto done;
    }
    if (c->val[K_FP] && strcmp(c->val[K_FP], fp)) {
        tap(0, c, "fingerprint %s, want %s", fp, c->val[K_FP]);
        goto done;
    }
    j = pb_schema_to_json(s);
    dump = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (!dump) {
        tap(0, c, "to_json failed");
        goto done;
    }
    if (c->val[K_JSON] && strcmp(c->val[K_JSON], dump)) {
        tap(0, c, "to_json\n#   got  %s\n#   want %s", dump, c->val[K_JSON]);
        goto done;
    }
    if (pb_schema_parse(dump, strlen(dump), &s2, &err)) {
        tap(0, c, "to_json does not reparse: %s\n#   %s", err.msg, dump);
        goto done;
    }
    if (strcmp(pb_schema_canonical(s), pb_schema_canonical(s2))) {
        tap(0, c, "to_json reparses to another canonical form: %s", pb_schema_canonical(s2));
        goto done;
    }
    tap(1, c, "%s", "");
done:
    free(dump);
    json_decref(j);
    pb_schema_destroy(s);
    pb_schema_destroy(s2);
}

static void run_file(const char *dir, const char *name) {
    char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0) abort();
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("not ok %d - cannot open %s\n", ++n_test, path);
        n_fail++;
        free(path);
        return;
    }
    free(path);
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, last = -1;
    tcase_t c = {0};
    for (;;) {
        ssize_t got = getline(&line, &cap, f);
        lineno++;
        int blank = got < 0 || trim(line)[0] == '\0';
        if (blank) {
            if (c.file) run_case(&c);
            for (int k = 0; k < MAX_KEYS; k++)
                free(c.val[k]);
            free(c.file);
            memset(&c, 0, sizeof c);
            last = -1;
            if (got < 0) break;
            continue;
        }
        if (line[0] == '#') continue;
        char *t = trim(line);
        int k;
        for (k = 0; k < MAX_KEYS; k++) {
            size_t n = strlen(keys[k]);
            if (!strncmp(t, keys[k], n) && t[n] == ':') break;
        }
        if (!c.file) {
            c.file = strdup(name);
            c.line = lineno;
        }
        if (k < MAX_KEYS) {
            append(&c.val[k], trim(t + strlen(keys[k]) + 1), 0);
            last = k;
        } else if (last >= 0) {
            append(&c.val[last], t, 1);
        } else {
            printf("# %s:%d: line outside a key ignored\n", name, lineno);
        }
    }
    free(line);
    fclose(f);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int batch(const char *path) {
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!f) {
        perror(path);
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) >= 0) {
        if (got && line[got - 1] == '\n') line[--got] = 0;
        pb_schema_t *s = NULL;
        pb_err_t err = {0};
        if (pb_schema_parse(line, (size_t)got, &s, &err)) {
            for (char *p = err.msg; *p; p++)
                if (*p == '\n') *p = ' ';
            printf("invalid %s\n", err.msg);
        } else {
            json_t *j = pb_schema_to_json(s);
            char *dump = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
            printf("ok %016" PRIx64 " %s\t%s\n", pb_schema_fingerprint(s), pb_schema_canonical(s),
                   dump ? dump : "null");
            free(dump);
            json_decref(j);
        }
        pb_schema_destroy(s);
    }
    free(line);
    if (f != stdin) fclose(f);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--batch")) return batch(argv[2]);
    const char *root = getenv("PB_ROOT");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/data/schema", root && *root ? root : ".");
    DIR *d = opendir(dir);
    if (!d) {
        printf("1..1\nnot ok 1 - cannot open %s\n", dir);
        return 1;
    }
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t len = strlen(e->d_name);
        if (len > 5 && !strcmp(e->d_name + len - 5, ".test")) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    /* TAP plan at the end: the count is known only after reading the files */
    for (size_t i = 0; i < n; i++) {
        run_file(dir, names[i]);
        free(names[i]);
    }
    if (n_test == 0) printf("not ok %d - no cases found in %s\n", ++n_test, dir), n_fail++;
    printf("1..%d\n", n_test);
    return n_fail ? 1 : 0;
}
