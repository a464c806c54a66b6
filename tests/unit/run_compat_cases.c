/*
 * Data-driven compatibility cases: runs every block of each tests/data/compat/<name>.test and
 * prints TAP, one point per case. The data dir is $PB_ROOT/tests/data/compat, else
 * ./tests/data/compat.
 *
 * A block (cases are separated by blank lines; lines starting with '#' are comments, the first
 * one names the case):
 *   reader <schema JSON on one line>          a pair case ...
 *   writer <schema JSON>
 * or
 *   level <LEVEL>                             a level case: the live versions oldest first,
 *   version <schema JSON>                     then the candidate
 *   new <schema JSON>
 * then the verdict, `compatible` or `incompatible`, then for an incompatible case every expected
 * incompatibility, one a line, compared as a multiset with what the checker reports:
 *   <KIND> <location>                         pair case
 *   <KIND> <location> v<index> backward|forward   level case
 * and optionally `message <text>`: some reported message must contain text.
 *
 * With --batch it is the harness of tests/checks/compat-oracle.t instead: each stdin line is a
 * JSON array [reader, writer]; each output line is `1` (compatible), `0` (incompatible, followed
 * by the kinds reported) or `E <error>` when a schema does not parse.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "schema.h"

#define MAX_LINES 256

typedef struct block {
    const char *file;
    int line; /* first line of the block */
    char name[200];
    char *lines[MAX_LINES];
    int lineno[MAX_LINES];
    int n;
} block_t;

static int n_case;
static int n_failed;

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void diag(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("# ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
}

static int parse_schema(const block_t *b, int i, const char *text, pb_schema_t **out) {
    pb_err_t err = {0};
    if (pb_schema_parse(text, strlen(text), out, &err)) {
        diag("%s:%d: schema does not parse: %s", b->file, b->lineno[i], err.msg);
        return -1;
    }
    return 0;
}

static int first_word_is_kind(const char *l) {
    char word[64];
    size_t n = strcspn(l, " ");
    if (n >= sizeof word) return 0;
    memcpy(word, l, n);
    word[n] = 0;
    return pb_compat_kind_parse(word) >= 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run one block; returns 1 pass, 0 fail. */
static int run_block(const block_t *b) {
    pb_schema_t *reader = NULL, *writer = NULL, *cand = NULL;
    pb_schema_t *versions[64];
    size_t n_versions = 0;
    int level = -1, verdict = -1, ok = 0, is_level = 0;
    char *expect[MAX_LINES];
    size_t n_expect = 0;
    const char *want_msg[16];
    size_t n_want_msg = 0;
    char *got[PB_COMPAT_MAX_ISSUES];
    size_t n_got = 0;
    pb_compat_report_t rep = {0};
    pb_err_t err = {0};

    for (int i = 0; i < b->n; i++) {
        char *l = b->lines[i];
        if (strncmp(l, "reader ", 7) == 0) {
            if (parse_schema(b, i, l + 7, &reader)) goto done;
        } else if (strncmp(l, "writer ", 7) == 0) {
            if (parse_schema(b, i, l + 7, &writer)) goto done;
        } else if (strncmp(l, "level ", 6) == 0) {
            is_level = 1;
            level = pb_compat_level_parse(l + 6);
            if (level < 0) {
                diag("%s:%d: unknown level '%s'", b->file, b->lineno[i], l + 6);
                goto done;
            }
        } else if (strncmp(l, "version ", 8) == 0) {
            if (n_versions == 64 || parse_schema(b, i, l + 8, &versions[n_versions])) goto done;
            n_versions++;
        } else if (strncmp(l, "new ", 4) == 0) {
            if (parse_schema(b, i, l + 4, &cand)) goto done;
        } else if (strcmp(l, "compatible") == 0) {
            verdict = 1;
        } else if (strcmp(l, "incompatible") == 0) {
            verdict = 0;
        } else if (strncmp(l, "message ", 8) == 0) {
            if (n_want_msg < 16) want_msg[n_want_msg++] = l + 8;
        } else if (first_word_is_kind(l)) {
            expect[n_expect++] = l;
        } else {
            diag("%s:%d: cannot understand line: %s", b->file, b->lineno[i], l);
            goto done;
        }
    }
    if (verdict < 0 || (is_level ? !cand : (!reader || !writer))) {
        diag("%s:%d: incomplete case (needs reader+writer or level+new, and a verdict)", b->file,
             b->line);
        goto done;
    }
    int rc = is_level ? pb_compat_check_level((pb_compat_level_t)level, cand,
                                              (const pb_schema_t *const *)versions, n_versions,
                                              &rep, &err)
                      : pb_compat_check(reader, writer, &rep, &err);
    if (rc != 0 && rc != PB_ERR_INCOMPATIBLE) {
        diag("check failed: %s", err.msg);
        goto done;
    }
    if ((rc == 0) != rep.compatible || (rc != 0 && !err.msg[0])) {
        diag("return code %d disagrees with report (compatible=%d) or no message", rc,
             rep.compatible);
        goto done;
    }
    for (size_t i = 0; i < rep.n_issues; i++) {
        const pb_compat_issue_t *is = &rep.issues[i];
        char buf[512];
        if (is_level)
            snprintf(buf, sizeof buf, "%s %s v%d %s", pb_compat_kind_name(is->kind), is->location,
                     is->version, pb_compat_dir_name(is->dir));
        else
            snprintf(buf, sizeof buf, "%s %s", pb_compat_kind_name(is->kind), is->location);
        got[n_got++] = strdup(buf);
    }
    qsort(got, n_got, sizeof got[0], cmp_str);
    qsort(expect, n_expect, sizeof expect[0], cmp_str);
    int same = rep.compatible == verdict && n_got == n_expect && rep.n_omitted == 0;
    for (size_t i = 0; same && i < n_got; i++)
        same = strcmp(got[i], expect[i]) == 0;
    for (size_t m = 0; same && m < n_want_msg; m++) {
        int found = 0;
        for (size_t i = 0; !found && i < rep.n_issues; i++)
            found = strstr(rep.issues[i].message, want_msg[m]) != NULL;
        if (!found) {
            diag("no message contains: %s", want_msg[m]);
            same = 0;
        }
    }
    if (!same) {
        diag("%s:%d: expected %s with %zu issue(s), got %s with %zu:", b->file, b->line,
             verdict ? "compatible" : "incompatible", n_expect,
             rep.compatible ? "compatible" : "incompatible", n_got);
        for (size_t i = 0; i < n_expect; i++)
            diag("  expected: %s", expect[i]);
        for (size_t i = 0; i < rep.n_issues; i++)
            diag("  got: %s %s v%d %s: %s", pb_compat_kind_name(rep.issues[i].kind),
                 rep.issues[i].location, rep.issues[i].version,
                 pb_compat_dir_name(rep.issues[i].dir), rep.issues[i].message);
        goto done;
    }
    ok = 1;
done:
    for (size_t i = 0; i < n_got; i++)
        free(got[i]);
    for (size_t i = 0; i < n_versions; i++)
        pb_schema_destroy(versions[i]);
    pb_schema_destroy(reader);
    pb_schema_destroy(writer);
    pb_schema_destroy(cand);
    pb_compat_report_reset(&rep);
    return ok;
}

static void finish_block(block_t *b) {
    if (b->n == 0) return;
    int ok = run_block(b);
    n_case++;
    if (!ok) n_failed++;
    printf("%s %d - %s:%d %s\n", ok ? "ok" : "not ok", n_case, b->file, b->line, b->name);
    for (int i = 0; i < b->n; i++)
        free(b->lines[i]);
    b->n = 0;
    b->name[0] = 0;
}

static int run_file(const char *dir, const char *name) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("not ok %d - cannot open %s: %s\n", ++n_case, path, strerror(errno));
        n_failed++;
        return -1;
    }
    block_t b = {.file = name};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (len == 0) {
            finish_block(&b);
            continue;
        }
        if (line[0] == '#') {
            if (!b.name[0]) snprintf(b.name, sizeof b.name, "%s", line + 1 + (line[1] == ' '));
            if (b.n == 0) b.line = lineno;
            continue;
        }
        if (b.n == 0 && !b.name[0]) b.line = lineno;
        if (b.n == MAX_LINES) {
            diag("%s:%d: block too long", name, lineno);
            continue;
        }
        b.lineno[b.n] = lineno;
        b.lines[b.n++] = strdup(line);
    }
    finish_block(&b);
    free(line);
    fclose(f);
    return 0;
}

static int cmp_name(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_test_file(const struct dirent *d) {
    size_t n = strlen(d->d_name);
    return n > 5 && strcmp(d->d_name + n - 5, ".test") == 0;
}

/* Harness mode for the oracle test. */
static int batch(void) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        json_error_t jerr;
        json_t *pair = json_loads(line, 0, &jerr);
        pb_schema_t *r = NULL, *w = NULL;
        pb_err_t err = {0};
        pb_compat_report_t rep = {0};
        if (!pair || !json_is_array(pair) || json_array_size(pair) != 2) {
            printf("E bad input line: %s\n", pair ? "not a [reader, writer] array" : jerr.text);
        } else if (pb_schema_parse_json(json_array_get(pair, 0), &r, &err)) {
            printf("E reader: %s\n", err.msg);
        } else if (pb_schema_parse_json(json_array_get(pair, 1), &w, &err)) {
            printf("E writer: %s\n", err.msg);
        } else {
            int rc = pb_compat_check(r, w, &rep, &err);
            if (rc && rc != PB_ERR_INCOMPATIBLE) {
                printf("E check: %s\n", err.msg);
            } else {
                printf("%d", rep.compatible);
                for (size_t i = 0; i < rep.n_issues; i++)
                    printf(" %s", pb_compat_kind_name(rep.issues[i].kind));
                putchar('\n');
            }
        }
        fflush(stdout);
        pb_compat_report_reset(&rep);
        pb_schema_destroy(r);
        pb_schema_destroy(w);
        json_decref(pair);
    }
    free(line);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--batch") == 0) return batch();
    const char *root = getenv("PB_ROOT");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/data/compat", root && *root ? root : ".");
    struct dirent **names = NULL;
    int n = scandir(dir, &names, is_test_file, cmp_name);
    if (n <= 0) {
        printf("1..1\nnot ok 1 - no *.test files in %s\n", dir);
        free(names);
        return 1;
    }
    /* The plan goes last: the number of cases is known only after reading the files. */
    for (int i = 0; i < n; i++) {
        run_file(dir, names[i]->d_name);
        free(names[i]);
    }
    free(names);
    printf("1..%d\n", n_case);
    return n_failed ? 1 : 0;
}
