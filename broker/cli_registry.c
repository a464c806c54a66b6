/*
 * cli_registry — `portbroker registry import` (see cli_registry.h): a blocking command line tool
 * over two registries' HTTP APIs.
 *
 * Owns: the import plan and its summary. Must not: write the registry log itself or run in the
 * daemon (its requests block).
 */
#include "cli_registry.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "httpc.h"
#include "jsontext.h"

extern char **environ;

/* One side of the copy. */
typedef struct side {
    const char *name; /* "source" / "target" */
    const char *url;
    pb_httpc_url_t u;
} side_t;

typedef struct imp {
    side_t src, dst;
    int timeout_ms;
    size_t max_body;
    int json;
} imp_t;

/* One version to copy. */
typedef struct entry {
    char *subject;
    int version, id;
    json_t *v; /* the source's version object */
    int state; /* 0 pending, 1 copied, 2 already present, 3 refused */
    char *why; /* refused: the reason */
} entry_t;

enum { PENDING = 0, COPIED, PRESENT, REFUSED };

/* A request to one side; *out gets the answer's JSON (NULL when it is not JSON). Returns the HTTP
 * status, or -1 with err set when the side cannot be reached or answers badly. */
static int call(const imp_t *m, const side_t *s, const char *method, const char *path, json_t *body,
                json_t **out, pb_err_t *err) {
    pb_httpc_resp_t r = {0};
    char *b = body ? json_dumps(body, JSON_COMPACT) : NULL;
    *out = NULL;
    int rc = pb_httpc_request(&s->u, method, path, b, b ? strlen(b) : 0, m->timeout_ms, m->max_body,
                              &r, err);
    free(b);
    if (rc) {
        pb_err_prefix(err, "%s registry %s: ", s->name, s->url);
        return -1;
    }
    *out =
        json_loadb((const char *)r.body.data, r.body.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    pb_buf_free(&r.body);
    return r.status;
}

/* "/prefix/{segment}/suffix" with segment percent-encoded as one path segment (a subject's '/'
 * too: "a/b" is a%2Fb), into a new string (NULL: no memory). */
static char *path3(const char *prefix, const char *segment, const char *suffix) {
    pb_buf_t b = {0};
    if (pb_buf_puts(&b, prefix) || pb_jsontext_pct_encode(&b, segment, strlen(segment), 0) ||
        pb_buf_puts(&b, suffix ? suffix : "") || pb_buf_putc(&b, 0)) {
        pb_buf_free(&b);
        return NULL;
    }
    return (char *)b.data;
}

/* "HTTP 422 (42205): message" of an error answer, into a new string. */
static char *why_of(int status, const json_t *j) {
    char tmp[1200], code[32] = "";
    const char *msg = json_string_value(json_object_get(j, "message"));
    json_int_t c = json_integer_value(json_object_get(j, "error_code"));
    if (c) snprintf(code, sizeof code, " (%lld)", (long long)c);
    snprintf(tmp, sizeof tmp, "HTTP %d%s: %s", status, code, msg ? msg : "no message");
    return strdup(tmp);
}

static int cmp_entry(const void *a, const void *b) {
    const entry_t *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    int c = strcmp(x->subject, y->subject);
    return c ? c : (x->version > y->version) - (x->version < y->version);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("portbroker registry import: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

/* The level ("compatibilityLevel") or mode ("mode") a side states at path; NULL when unset (404)
 * or not answered. Owned by *hold (json_decref it). */
static const char *setting(const imp_t *m, const side_t *s, const char *path, const char *key,
                           json_t **hold, pb_err_t *err) {
    int st = call(m, s, "GET", path, NULL, hold, err);
    if (st != 200) return NULL;
    return json_string_value(json_object_get(*hold, key));
}

/* Make the target's setting at path (a /config or /mode path) equal to value if it is not. key is
 * the GET answer's member, put_key the PUT body's. Returns 1 when it changed, 0 when already so,
 * -1 on a refusal (printed as a warning, counted by the caller). */
static int align(const imp_t *m, const char *path, const char *key, const char *put_key,
                 const char *value, const char *query) {
    pb_err_t err = {0};
    json_t *hold = NULL, *ans = NULL;
    const char *now = setting(m, &m->dst, path, key, &hold, &err);
    int same = now && strcmp(now, value) == 0;
    json_decref(hold);
    if (same) return 0;
    char full[1024];
    snprintf(full, sizeof full, "%s%s", path, query ? query : "");
    json_t *body = json_pack("{s:s}", put_key, value);
    int st = call(m, &m->dst, "PUT", full, body, &ans, &err);
    json_decref(body);
    if (st != 200) {
        char *why = st < 0 ? strdup(err.msg) : why_of(st, ans);
        fprintf(stderr, "portbroker registry import: could not set %s of target %s to %s: %s\n",
                put_key, path, value, why ? why : "?");
        free(why);
        json_decref(ans);
        return -1;
    }
    json_decref(ans);
    return 1;
}

/* Copy the source's setting at prefix+subject (member key; 404: none) into into[subject]. */
static void collect_setting(const imp_t *m, const char *prefix, const char *subject,
                            const char *key, json_t *into) {
    pb_err_t err = {0};
    json_t *hold = NULL;
    char *p = path3(prefix, subject, NULL);
    const char *v = p ? setting(m, &m->src, p, key, &hold, &err) : NULL;
    if (v) json_object_set_new(into, subject, json_string(v));
    json_decref(hold);
    free(p);
}

/* Make the target's global setting at path (/config or /mode) the source's, if the source has
 * one. Returns what align() returns, or 0 when the source has none. */
static int copy_global(const imp_t *m, const char *path, const char *key, const char *put_key,
                       const char *query) {
    pb_err_t err = {0};
    json_t *hold = NULL;
    const char *v = setting(m, &m->src, path, key, &hold, &err);
    int r = v ? align(m, path, key, put_key, v, query) : 0;
    json_decref(hold);
    return r;
}

static int do_import(imp_t *m, const char *prefix) {
    pb_err_t err = {0};
    json_t *subjects = NULL, *j = NULL;
    entry_t *e = NULL;
    size_t n = 0, cap = 0;
    int rc = 2, st, settings = 0, setting_failures = 0;
    char *p = NULL;
    json_t *src_modes = json_object(), *src_levels = json_object(), *imported = json_object();
    /* 1. What the source holds. */
    p = prefix ? path3("/subjects?subjectPrefix=", prefix, NULL) : strdup("/subjects");
    st = call(m, &m->src, "GET", p, NULL, &subjects, &err);
    free(p);
    p = NULL;
    if (st != 200 || !json_is_array(subjects)) {
        fail("cannot list the source's subjects: %s", st < 0 ? err.msg : "unexpected answer");
        goto done;
    }
    for (size_t i = 0; i < json_array_size(subjects); i++) {
        const char *s = json_string_value(json_array_get(subjects, i));
        if (!s || (prefix && strncmp(s, prefix, strlen(prefix)) != 0)) continue;
        json_t *vs = NULL;
        p = path3("/subjects/", s, "/versions");
        st = call(m, &m->src, "GET", p, NULL, &vs, &err);
        free(p);
        p = NULL;
        if (st != 200 || !json_is_array(vs)) {
            json_decref(vs);
            if (st == 404) continue; /* deleted meanwhile */
            fail("source: cannot list the versions of '%s': %s", s,
                 st < 0 ? err.msg : "unexpected answer");
            goto done;
        }
        for (size_t k = 0; k < json_array_size(vs); k++) {
            char suffix[40];
            snprintf(suffix, sizeof suffix, "/versions/%lld",
                     (long long)json_integer_value(json_array_get(vs, k)));
            p = path3("/subjects/", s, suffix);
            st = call(m, &m->src, "GET", p, NULL, &j, &err);
            free(p);
            p = NULL;
            if (st != 200 || !json_is_object(j)) {
                json_decref(j);
                j = NULL;
                if (st == 404) continue;
                json_decref(vs);
                fail("source: cannot read '%s'%s: %s", s, suffix,
                     st < 0 ? err.msg : "unexpected answer");
                goto done;
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                entry_t *ne = realloc(e, cap * sizeof *e);
                if (!ne) {
                    json_decref(vs);
                    fail("out of memory");
                    goto done;
                }
                e = ne;
            }
            e[n] = (entry_t){strdup(s),
                             (int)json_integer_value(json_object_get(j, "version")),
                             (int)json_integer_value(json_object_get(j, "id")),
                             j,
                             PENDING,
                             NULL};
            j = NULL;
            const char *type = json_string_value(json_object_get(e[n].v, "schemaType"));
            if (type && strcmp(type, "AVRO") != 0) {
                e[n].state = REFUSED;
                e[n].why = strdup("its schemaType is not AVRO: portbroker serves Avro schemas");
            }
            n++;
        }
        json_decref(vs);
        /* The subject's own level and mode (404: none). */
        collect_setting(m, "/config/", s, "compatibilityLevel", src_levels);
        collect_setting(m, "/mode/", s, "mode", src_modes);
    }
    /* 2. What the target already holds of it. */
    for (size_t i = 0; i < n; i++) {
        if (e[i].state != PENDING) continue;
        char suffix[64];
        snprintf(suffix, sizeof suffix, "/versions/%d?deleted=true", e[i].version);
        p = path3("/subjects/", e[i].subject, suffix);
        st = call(m, &m->dst, "GET", p, NULL, &j, &err);
        free(p);
        p = NULL;
        if (st < 0) {
            fail("%s", err.msg);
            goto done;
        }
        if (st == 200) {
            int id = (int)json_integer_value(json_object_get(j, "id"));
            if (id == e[i].id) {
                e[i].state = PRESENT;
            } else {
                char tmp[256];
                snprintf(tmp, sizeof tmp,
                         "the target's version %d of this subject holds id %d, not %d: not "
                         "overwritten",
                         e[i].version, id, e[i].id);
                e[i].state = REFUSED;
                e[i].why = strdup(tmp);
            }
        } else if (st != 404) {
            e[i].state = REFUSED;
            e[i].why = why_of(st, j);
        }
        json_decref(j);
        j = NULL;
    }
    /* 3. IMPORT mode on the target subjects that receive versions. */
    for (size_t i = 0; i < n; i++) {
        if (e[i].state != PENDING || json_object_get(imported, e[i].subject)) continue;
        p = path3("/mode/", e[i].subject, "?force=true");
        json_t *body = json_pack("{s:s}", "mode", "IMPORT");
        st = call(m, &m->dst, "PUT", p, body, &j, &err);
        json_decref(body);
        free(p);
        p = NULL;
        if (st < 0) {
            fail("%s", err.msg);
            goto done;
        }
        if (st == 200) {
            json_object_set_new(imported, e[i].subject, json_true());
        } else {
            char *why = why_of(st, j);
            for (size_t k = i; k < n; k++)
                if (e[k].state == PENDING && strcmp(e[k].subject, e[i].subject) == 0) {
                    e[k].state = REFUSED;
                    e[k].why = why ? strdup(why) : NULL;
                }
            free(why);
        }
        json_decref(j);
        j = NULL;
    }
    /* 4. Copy in id order; a version whose reference is not there yet waits for the next pass. */
    qsort(e, n, sizeof *e, cmp_entry);
    for (int progress = 1; progress;) {
        progress = 0;
        for (size_t i = 0; i < n; i++) {
            if (e[i].state != PENDING &&
                !(e[i].state == REFUSED && e[i].why && strstr(e[i].why, "(retry)")))
                continue;
            json_t *body = json_pack("{s:O?,s:i,s:i}", "schema", json_object_get(e[i].v, "schema"),
                                     "id", e[i].id, "version", e[i].version);
            static const char *const extra[] = {"references", "metadata", "ruleSet"};
            for (int k = 0; body && k < 3; k++) {
                json_t *x = json_object_get(e[i].v, extra[k]);
                if (x && !json_is_null(x)) json_object_set(body, extra[k], x);
            }
            p = path3("/subjects/", e[i].subject, "/versions");
            st = call(m, &m->dst, "POST", p, body, &j, &err);
            json_decref(body);
            free(p);
            p = NULL;
            if (st < 0) {
                fail("%s", err.msg);
                goto done;
            }
            free(e[i].why);
            e[i].why = NULL;
            if (st == 200 && json_integer_value(json_object_get(j, "id")) == e[i].id) {
                e[i].state = COPIED;
                progress = 1;
            } else {
                char *why = st == 200 ? strdup("the target answered another id") : why_of(st, j);
                const json_t *refs = json_object_get(e[i].v, "references");
                e[i].state = REFUSED;
                if (why && json_array_size(refs) && strstr(why, "which does not exist")) {
                    size_t l = strlen(why);
                    char *w2 = realloc(why, l + 9);
                    if (w2) memcpy(w2 + l, " (retry)", 9);
                    why = w2;
                }
                e[i].why = why;
            }
            json_decref(j);
            j = NULL;
        }
    }
    for (size_t i = 0; i < n; i++) /* references that never came */
        if (e[i].why && strstr(e[i].why, " (retry)")) *strstr(e[i].why, " (retry)") = '\0';
    /* 5. Levels, then modes: the source's, subject by subject; then the global ones. */
    const char *s;
    json_t *v;
    json_object_foreach(src_levels, s, v) {
        p = path3("/config/", s, NULL);
        int r = align(m, p, "compatibilityLevel", "compatibility", json_string_value(v), NULL);
        settings += r > 0, setting_failures += r < 0;
        free(p);
        p = NULL;
    }
    json_object_foreach(imported, s, v) {
        if (json_object_get(src_modes, s)) continue;
        p = path3("/mode/", s, NULL); /* no mode of its own in the source: follow the global one */
        st = call(m, &m->dst, "DELETE", p, NULL, &j, &err);
        json_decref(j);
        j = NULL;
        free(p);
        p = NULL;
        if (st != 200 && st != 404) setting_failures++;
    }
    json_object_foreach(src_modes, s, v) {
        p = path3("/mode/", s, NULL);
        int r = align(m, p, "mode", "mode", json_string_value(v), "?force=true");
        settings += r > 0, setting_failures += r < 0;
        free(p);
        p = NULL;
    }
    if (!prefix) {
        int r = copy_global(m, "/config", "compatibilityLevel", "compatibility", NULL);
        settings += r > 0, setting_failures += r < 0;
        r = copy_global(m, "/mode", "mode", "mode", "?force=true");
        settings += r > 0, setting_failures += r < 0;
    }
    /* 6. The summary. */
    size_t count[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < n; i++)
        count[e[i].state]++;
    if (m->json) {
        json_t *o = json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:o}", "from", m->src.url, "to",
                              m->dst.url, "versions", (int)n, "copied", (int)count[COPIED],
                              "present", (int)count[PRESENT], "settings", settings,
                              "settingFailures", setting_failures, "refused", json_array());
        for (size_t i = 0; o && i < n; i++)
            if (e[i].state == REFUSED)
                json_array_append_new(json_object_get(o, "refused"),
                                      json_pack("{s:s,s:i,s:i,s:s}", "subject", e[i].subject,
                                                "version", e[i].version, "id", e[i].id, "reason",
                                                e[i].why ? e[i].why : "?"));
        char *out = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (out) puts(out);
        free(out);
        json_decref(o);
    } else {
        printf("registry import from %s into %s%s%s\n", m->src.url, m->dst.url,
               prefix ? ", subjects starting with " : "", prefix ? prefix : "");
        printf("  versions in the source: %zu (live versions; soft-deleted ones are not copied)\n",
               n);
        printf("  copied (ids and versions kept): %zu\n", count[COPIED]);
        printf("  already present in the target: %zu\n", count[PRESENT]);
        printf("  levels and modes set: %d%s\n", settings,
               setting_failures ? " (some could not be set: see above)" : "");
        printf("  refused: %zu\n", count[REFUSED]);
        for (size_t i = 0; i < n; i++)
            if (e[i].state == REFUSED)
                printf("    %s version %d (id %d): %s\n", e[i].subject, e[i].version, e[i].id,
                       e[i].why ? e[i].why : "?");
    }
    rc = count[REFUSED] || setting_failures ? 1 : 0;
done:
    free(p);
    for (size_t i = 0; i < n; i++) {
        free(e[i].subject);
        free(e[i].why);
        json_decref(e[i].v);
    }
    free(e);
    json_decref(j);
    json_decref(subjects);
    json_decref(src_modes);
    json_decref(src_levels);
    json_decref(imported);
    return rc;
}

static void usage(FILE *f) {
    fputs(
        "usage: portbroker registry import --from URL [--to URL] [--subjects PREFIX] [--json]\n"
        "                                  [-c FILE] [-o key=value]...\n"
        "  Copy every live subject version (ids, versions, references, metadata, ruleSet),\n"
        "  subject level and mode of a Confluent-compatible Schema Registry at --from into the\n"
        "  portbroker at --to (default $PORTBROKER_URL, else http://127.0.0.1:8080), through its\n"
        "  API in IMPORT mode; without --subjects the global level and mode too. Re-running\n"
        "  copies nothing twice. Exit 0 all copied or present, 1 something refused (listed),\n"
        "  2 bad arguments or a registry out of reach. Settings: registry.import.*\n",
        f);
}

int pb_cli_registry(int argc, char **argv) {
    pb_err_t err = {0};
    imp_t m;
    memset(&m, 0, sizeof m);
    m.src.name = "source";
    m.dst.name = "target";
    const char *prefix = NULL, *conf = NULL;
    int rc = 2;
    if (argc < 2 || strcmp(argv[1], "import") != 0) {
        usage(argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) ? stdout
                                                                                    : stderr);
        return argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) ? 0 : 2;
    }
    pb_config_t *cfg = pb_config_new();
    if (!cfg) return fail("out of memory");
    for (int i = 2; i < argc; i++)
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
            conf = argv[++i];
    if ((conf && pb_config_load_file(cfg, conf, &err)) || pb_config_load_env(cfg, environ, &err)) {
        fail("%s", err.msg);
        goto done;
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--from") && more) {
            m.src.url = argv[++i];
        } else if (!strcmp(a, "--to") && more) {
            m.dst.url = argv[++i];
        } else if (!strcmp(a, "--subjects") && more) {
            prefix = argv[++i];
        } else if (!strcmp(a, "--json")) {
            m.json = 1;
        } else if ((!strcmp(a, "-c") || !strcmp(a, "--config")) && more) {
            i++;
        } else if (!strcmp(a, "-o") && more) {
            char *kv = argv[++i], *eq = strchr(kv, '=');
            if (!eq) {
                fail("-o %s: expected key=value", kv);
                goto done;
            }
            *eq = '\0';
            int bad = pb_config_set(cfg, kv, eq + 1, "-o", &err);
            *eq = '=';
            if (bad) {
                fail("%s", err.msg);
                goto done;
            }
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            rc = 0;
            goto done;
        } else {
            fail("unknown or incomplete argument '%s' (--help lists them)", a);
            goto done;
        }
    }
    if (!m.src.url) {
        fail("--from URL is required: the registry to copy from");
        goto done;
    }
    if (!m.dst.url) m.dst.url = getenv("PORTBROKER_URL");
    if (!m.dst.url || !*m.dst.url) m.dst.url = "http://127.0.0.1:8080";
    if (pb_httpc_url_parse(m.src.url, &m.src.u, &err) ||
        pb_httpc_url_parse(m.dst.url, &m.dst.u, &err)) {
        fail("%s", err.msg);
        goto done;
    }
    if (prefix && !*prefix) prefix = NULL;
    m.timeout_ms = (int)cfg->import_timeout_ms;
    m.max_body = (size_t)cfg->import_max_response_bytes;
    rc = do_import(&m, prefix);
done:
    pb_config_destroy(cfg);
    return rc;
}
