/*
 * Data-driven librdkafka statistics cases: for each tests/data/kstats/<name>.expected, parses
 * <name>.json (statistics JSON captured from real clients against the embedded cluster; see
 * capture.py there) with pb_kstats_parse and renders it with pb_metrics_render_kafka; prints TAP,
 * one point per case. The data dir is $PB_ROOT/tests/data/kstats, else ./tests/data/kstats.
 *
 * An .expected file: lines starting with '#' are comments; the first other line is
 *   role publish|relay|reader          the slot the report is rendered in
 * then either the exact sample lines of /metrics (HELP and TYPE lines are not compared; order
 * matters), or one line
 *   error <text>                       the parse must fail with a message containing text.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kstats.h"
#include "metrics.h"

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0, r;
    do {
        if (n + 4096 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
    } while (r > 0);
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

/* The expected text without comments, and the role line taken off. */
static int run_case(const char *dir, const char *name, int num) {
    char path[1400], why[512] = "";
    size_t elen = 0, jlen = 0;
    int ok = 0, role = -1;
    pb_buf_t got = {0}, want = {0};
    pb_kstats_client_t *c = calloc(PB_KSTATS_ROLES, sizeof *c);
    snprintf(path, sizeof path, "%s/%s.expected", dir, name);
    char *exp = slurp(path, &elen);
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    char *json = slurp(path, &jlen);
    if (!c || !exp || !json) {
        snprintf(why, sizeof why, "cannot read %s(.json|.expected)", name);
        goto done;
    }
    const char *error = NULL;
    for (char *line = strtok(exp, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#' || !line[0]) continue;
        if (role < 0) {
            for (int r = 0; r < PB_KSTATS_ROLES; r++)
                if (!strncmp(line, "role ", 5) &&
                    !strcmp(line + 5, pb_kstats_role_name((pb_kstats_role_t)r)))
                    role = r;
            if (role < 0) {
                snprintf(why, sizeof why, "first line must be `role publish|relay|reader`: %s",
                         line);
                goto done;
            }
        } else if (!strncmp(line, "error ", 6)) {
            error = line + 6;
        } else if (pb_buf_puts(&want, line) || pb_buf_putc(&want, '\n')) {
            goto done;
        }
    }
    pb_err_t err = {0};
    int rc = pb_kstats_parse(json, jlen, &c[role], &err);
    if (error) {
        if (!rc)
            snprintf(why, sizeof why, "parsed, expected an error containing '%s'", error);
        else if (!strstr(err.msg, error))
            snprintf(why, sizeof why, "error '%s' does not contain '%s'", err.msg, error);
        else
            ok = 1;
        goto done;
    }
    if (rc) {
        snprintf(why, sizeof why, "parse failed: %s", err.msg);
        goto done;
    }
    pb_buf_t all = {0};
    if (pb_metrics_render_kafka(c, &all)) goto done;
    /* Keep the sample lines only. */
    for (size_t i = 0; i < all.len;) {
        const char *l = (const char *)all.data + i;
        const char *nl = memchr(l, '\n', all.len - i);
        size_t n = nl ? (size_t)(nl - l) + 1 : all.len - i;
        if (l[0] != '#') (void)pb_buf_append(&got, l, n);
        i += n;
    }
    pb_buf_free(&all);
    if (got.len == want.len && (!got.len || !memcmp(got.data, want.data, got.len))) {
        ok = 1;
    } else {
        snprintf(why, sizeof why, "rendered series differ");
        fprintf(stderr, "# --- want\n%.*s# --- got\n%.*s", (int)want.len,
                want.data ? (const char *)want.data : "", (int)got.len,
                got.data ? (const char *)got.data : "");
    }
done:
    printf("%s %d - kstats %s%s%s\n", ok ? "ok" : "not ok", num, name, ok ? "" : ": ", why);
    pb_buf_free(&got);
    pb_buf_free(&want);
    free(exp);
    free(json);
    free(c);
    return ok;
}

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void) {
    char dir[1024];
    const char *root = getenv("PB_ROOT");
    snprintf(dir, sizeof dir, "%s/tests/data/kstats", root ? root : ".");
    DIR *d = opendir(dir);
    if (!d) {
        printf("1..0 # SKIP no %s\n", dir);
        return 1;
    }
    char *names[256];
    size_t n = 0;
    for (struct dirent *e = readdir(d); e && n < 256; e = readdir(d)) {
        size_t l = strlen(e->d_name);
        if (l > 9 && !strcmp(e->d_name + l - 9, ".expected"))
            names[n++] = strndup(e->d_name, l - 9);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    printf("1..%zu\n", n);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        failed += !run_case(dir, names[i], (int)i + 1);
        free(names[i]);
    }
    return n == 0 || failed ? 1 : 0;
}
