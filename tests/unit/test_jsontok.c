/*
 * test_jsontok — the token path (jsontok + pb_codec_tokens_to_avro + pb_publish_prepare_fast)
 * against the jansson path it replaces on the publish hot path, differentially:
 *   1. tokenizer edge cases (syntax, numbers, strings, escapes, depth, duplicates, jansson quirks);
 *   2. every JSON datum of the codec's data-driven cases (tests/data/codec/NAME.test) with its
 * schema and with every fuzz schema, all flag sets;
 *   3. a generated corpus: schema-driven random data for the fuzz schemas, in random JSON shapes,
 *      half of it mutated byte-wise; and wide records (60 fields) in any member order;
 *   4. publish bodies (JSON and NDJSON, valid and not): pb_publish_prepare_fast gives exactly the
 *      records pb_publish_parse + pb_publish_prepare give, and refuses exactly what they refuse.
 * Hand-written TAP runner (one ok line per group, with the number of texts compared).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/fuzz_common.h"
#include "../fuzz/jsontok_diff.h"
#include "publish.h"

static int n_test, n_fail;

static void report(const char *name, size_t compared, const char *failure) {
    n_test++;
    if (failure) {
        n_fail++;
        printf("not ok %d - %s\n# %s\n", n_test, name, failure);
    } else {
        printf("ok %d - %s (%zu texts)\n", n_test, name, compared);
    }
}

/* ---- 1. edge cases ---- */

static const char *const edge[] = {
    "{}",
    "[]",
    " [ ] ",
    "[1,]",
    "[,1]",
    "{\"a\":1,}",
    "{\"a\" 1}",
    "{\"a\":}",
    "{a:1}",
    "[1 2]",
    "[\"a\"\"b\"]",
    "[true]",
    "[truex]",
    "[tru]",
    "[True]",
    "[nul]",
    "[null1]",
    "[false,null]",
    "[0]",
    "[-0]",
    "[01]",
    "[-01]",
    "[-]",
    "[1.]",
    "[1.5]",
    "[.5]",
    "[1e5]",
    "[1E+5]",
    "[1e-5]",
    "[1e]",
    "[1e+]",
    "[-1.25e-3]",
    "[1e400]",
    "[-1e400]",
    "[1e-400]",
    "[9223372036854775807]",
    "[9223372036854775808]",
    "[-9223372036854775808]",
    "[-9223372036854775809]",
    "[123456789012345678901234567890]",
    "[0.1234567890123456789012345678901234567890123456789012345]",
    "[\"\\u0041\"]",
    "[\"\\u00e9\\u20ac\"]",
    "[\"\\ud83d\\ude00\"]",
    "[\"\\ud83d\"]",
    "[\"\\ud83dx\"]",
    "[\"\\ude00\"]",
    "[\"\\ud83d\\u0041\"]",
    "[\"\\u0000\"]",
    "[\"a\\u0000b\", \"\\u0000\\u0000\"]",
    "{\"k\":\"\\u0000\"}",
    "{\"a\\u0000b\":1}",
    "\"\\u0000\"",
    "[\"\\u00\"]",
    "[\"\\uzzzz\"]",
    "[\"\\x\"]",
    "[\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"]",
    "[\"a\tb\"]",
    "[\"a\nb\"]",
    "[\"\xc3\xa9\"]",
    "[\"\xc3\"]",
    "[\"\xc0\x80\"]",
    "[\"\xed\xa0\x80\"]",
    "[\"\xf4\x90\x80\x80\"]",
    "[\"\xe2\x82\xac\"]",
    "[\"\xf0\x9f\x98\x80\"]",
    "[\"\xff\"]",
    "[\"abc",
    "[",
    "{",
    "{\"a\"",
    "{\"a\":1",
    "{\"a\":1,\"a\":2}",
    "{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,"
    "\"h\":8,\"i\":9,\"j\":10,\"a\":11}",
    "{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"i\":9,\"j\":10,\"k\":11}",
    "{\"\\u0061\":1,\"a\":2}",
    "{\"\\u0000\":1}",
    "{\"\":1}",
    "[] x",
    "[]]",
    "{}{}",
    "\xef\xbb\xbf[]",
    "[\x01]",
    "\t\r\n[]\t\r\n",
    "[\f]",
    "[\v]",
    "1",
    "\"s\"",
    "null",
    "",
    "   ",
};

static void test_edges(void) {
    char why[512];
    size_t n = 0;
    const char *bad = NULL;
    for (size_t i = 0; i < sizeof edge / sizeof edge[0] && !bad; i++) {
        size_t len = strlen(edge[i]);
        for (int any = 0; any < 2 && !bad; any++, n++)
            bad = jd_check(edge[i], len, any, fuzz_w, N_FUZZ_SCHEMAS, why, sizeof why);
        if (bad) snprintf(why + strlen(why), sizeof why - strlen(why), " [case %zu]", i);
    }
    /* texts with NUL bytes, with their real lengths (jansson reads one byte past a number or a
     * literal and loses it when it is a NUL) */
    static const struct {
        const char *s;
        size_t len;
    } nul[] = {{"[1\0,2]", 6},   {"[1\0\0,2]", 7}, {"[true\0]", 7},    {"[null\0 ]", 8},
               {"[\"a\"\0]", 6}, {"[1.5\0]", 6},   {"{\"a\":1\0}", 8}, {"[1,\0 2]", 7},
               {"1\0", 2},       {"-0\0", 3},      {"[1e5\0]", 6},     {"[\"\0\"]", 5},
               {"\0[]", 3},      {"[]\0", 3},      {"[false\0\0]", 9}, {"{\"a\0\":1}", 8}};
    for (size_t i = 0; i < sizeof nul / sizeof nul[0] && !bad; i++) {
        for (int any = 0; any < 2 && !bad; any++, n++)
            bad = jd_check(nul[i].s, nul[i].len, any, fuzz_w, N_FUZZ_SCHEMAS, why, sizeof why);
        if (bad) snprintf(why + strlen(why), sizeof why - strlen(why), " [nul case %zu]", i);
    }
    /* depth: jansson's limit is 2048 nested values */
    for (int depth = 2046; depth <= 2050 && !bad; depth++) {
        pb_buf_t b = {0};
        for (int k = 0; k < depth - 1; k++)
            pb_buf_putc(&b, '[');
        pb_buf_putc(&b, '1');
        for (int k = 0; k < depth - 1; k++)
            pb_buf_putc(&b, ']');
        bad = jd_check((const char *)b.data, b.len, 0, NULL, 0, why, sizeof why);
        n++;
        pb_buf_free(&b);
    }
    report("tokenizer edge cases agree with jansson", n, bad);
}

/* ---- 2. the codec's data-driven cases ---- */

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (fread(s, 1, (size_t)n, f) != (size_t)n) n = 0;
    s[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return s;
}

static void test_codec_cases(void) {
    const char *root = getenv("PB_ROOT");
    char dir[1024], path[1300], why[512];
    snprintf(dir, sizeof dir, "%s/tests/data/codec", root ? root : ".");
    DIR *d = opendir(dir);
    size_t n = 0;
    const char *bad = d ? NULL : "cannot open tests/data/codec";
    struct dirent *e;
    while (d && !bad && (e = readdir(d))) {
        size_t nl = strlen(e->d_name);
        if (nl < 5 || strcmp(e->d_name + nl - 5, ".test")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len;
        char *text = read_file(path, &len);
        /* blocks of non-comment lines separated by blank lines */
        char *lines[16];
        int nlines = 0;
        for (char *line = strtok(text, "\n");; line = strtok(NULL, "\n")) {
            int end = !line || (line[0] == '\0');
            if (line && line[0] != '#' && nlines < 16) lines[nlines++] = line;
            /* strtok skips empty lines: a kind word starts the next case */
            int next_kind = line && nlines > 1 && line[0] >= 'a' && line[0] <= 'z' &&
                            !strchr(line, '"') && !strchr(line, ' ');
            if (next_kind || end) {
                int take = next_kind ? nlines - 1 : nlines;
                const char *kind = take > 0 ? lines[0] : "";
                const char *schema_text = NULL, *json = NULL;
                if (!strncmp(kind, "encode", 6) || !strcmp(kind, "roundtrip")) {
                    schema_text = take > 1 ? lines[1] : NULL;
                    json = take > 2 ? lines[2] : NULL;
                } else if (!strcmp(kind, "resolve")) {
                    schema_text = take > 1 ? lines[1] : NULL;
                    json = take > 3 ? lines[3] : NULL;
                }
                if (schema_text && json) {
                    pb_schema_t *s = NULL;
                    pb_err_t err = {0};
                    if (!pb_schema_parse(schema_text, strlen(schema_text), &s, &err)) {
                        pb_schema_t *all[N_FUZZ_SCHEMAS + 1];
                        all[0] = s;
                        memcpy(all + 1, fuzz_w, sizeof fuzz_w);
                        bad = jd_check(json, strlen(json), 1, all, N_FUZZ_SCHEMAS + 1, why,
                                       sizeof why);
                        if (bad)
                            snprintf(why + strlen(why), sizeof why - strlen(why), " [%s: %.80s]",
                                     e->d_name, json);
                        n++;
                        pb_schema_destroy(s);
                    }
                }
                if (next_kind) {
                    lines[0] = line;
                    nlines = 1;
                } else {
                    nlines = 0;
                }
            }
            if (!line || bad) break;
        }
        free(text);
    }
    if (d) closedir(d);
    if (!bad && n < 100) bad = "fewer than 100 codec cases found";
    report("codec data-driven cases: both encoders agree", n, bad);
}

/* ---- 3. a generated corpus ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static unsigned rnd(unsigned n) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static void ws(pb_buf_t *b) {
    static const char *const w[] = {"", "", "", " ", "\n", "\t ", "\r\n"};
    pb_buf_puts(b, w[rnd(7)]);
}

static void gen_string(pb_buf_t *b, int bytes_only) {
    static const char *const parts[] = {"a",
                                        "Z",
                                        " ",
                                        "\\n",
                                        "\\\"",
                                        "\\\\",
                                        "\\/",
                                        "\\u00e9",
                                        "\\u00ff",
                                        "\\u0001",
                                        "\xc3\xa9",
                                        "\\u20ac",
                                        "\xe2\x82\xac",
                                        "\\ud83d\\ude00",
                                        "\xf0\x9f\x98\x80",
                                        "NaN",
                                        "x y",
                                        "\\t",
                                        "~",
                                        "/"};
    pb_buf_putc(b, '"');
    unsigned n = rnd(6);
    if (rnd(8) == 0) {
        static const char *const whole[] = {"NaN", "Infinity", "-Infinity", "RED", "A", "STARTED"};
        pb_buf_puts(b, whole[rnd(6)]);
    } else {
        for (unsigned i = 0; i < n; i++) {
            unsigned k = rnd(20);
            if (bytes_only && rnd(4)) k = rnd(10) < 3 ? 8 : rnd(3); /* mostly code points <= 255 */
            pb_buf_puts(b, parts[k]);
        }
    }
    pb_buf_putc(b, '"');
}

static int g_strict; /* publish bodies: mostly valid values, so most bodies are accepted */

/* A random bad choice, rarely when g_strict. */
static int oops(unsigned one_in) { return rnd(g_strict ? one_in * 40 : one_in) == 0; }

static void gen(pb_buf_t *b, const pb_schema_node_t *n, int depth) {
    ws(b);
    if (oops(25)) { /* a value of some other type */
        static const char *const any[] = {"null", "true", "1", "2.5", "\"s\"", "[]", "{}", "-7"};
        pb_buf_puts(b, any[rnd(8)]);
        return;
    }
    switch (n->type) {
    case PB_AVRO_NULL: pb_buf_puts(b, "null"); break;
    case PB_AVRO_BOOLEAN: pb_buf_puts(b, rnd(2) ? "true" : "false"); break;
    case PB_AVRO_INT:
    case PB_AVRO_LONG: {
        static const char *const v[] = {
            "0",           "-1", "2147483647", "2147483648",          "-2147483648",
            "-2147483649", "42", "1e2",        "9223372036854775807", "-9223372036854775808"};
        pb_buf_puts(b, v[oops(2) ? rnd(10) : 6]);
        break;
    }
    case PB_AVRO_FLOAT:
    case PB_AVRO_DOUBLE: {
        static const char *const v[] = {"0.5",  "-1.25e3", "1e39",    "3.4028235e38",
                                        "12",   "1e-50",   "\"NaN\"", "\"-Infinity\"",
                                        "-0.0", "1E308"};
        pb_buf_puts(b, v[rnd(10)]);
        break;
    }
    case PB_AVRO_STRING: gen_string(b, 0); break;
    case PB_AVRO_BYTES: gen_string(b, 1); break;
    case PB_AVRO_FIXED:
        if (!oops(2))
            pb_buf_puts(b, rnd(2) ? "\"abc\"" : "\"\\u00ff\\u0001x\"");
        else
            gen_string(b, 1);
        break;
    case PB_AVRO_ENUM:
        if (oops(5))
            pb_buf_puts(b, "\"NOPE\"");
        else
            pb_buf_printf(b, "\"%s\"", n->symbols[rnd((unsigned)n->n_symbols)]);
        break;
    case PB_AVRO_ARRAY: {
        unsigned k = depth > 3 ? 0 : rnd(4);
        pb_buf_putc(b, '[');
        for (unsigned i = 0; i < k; i++) {
            if (i) pb_buf_putc(b, ',');
            gen(b, n->items, depth + 1);
        }
        ws(b);
        pb_buf_putc(b, ']');
        break;
    }
    case PB_AVRO_MAP: {
        unsigned k = depth > 3 ? 0 : rnd(4);
        pb_buf_putc(b, '{');
        for (unsigned i = 0; i < k; i++) {
            if (i) pb_buf_putc(b, ',');
            pb_buf_printf(b, "\"k%u%s\":", i, rnd(4) ? "" : "\\u00e9");
            gen(b, n->items, depth + 1);
        }
        pb_buf_putc(b, '}');
        break;
    }
    case PB_AVRO_RECORD: {
        size_t order[64], nf = n->n_fields < 64 ? n->n_fields : 64;
        for (size_t i = 0; i < nf; i++)
            order[i] = i;
        if (rnd(3) == 0)
            for (size_t i = nf; i > 1; i--) {
                size_t j = rnd((unsigned)i), t = order[i - 1];
                order[i - 1] = order[j];
                order[j] = t;
            }
        pb_buf_putc(b, '{');
        int first = 1;
        for (size_t i = 0; i < nf; i++) {
            const pb_schema_field_t *f = &n->fields[order[i]];
            if (oops(12)) continue; /* missing: its default, or an error */
            if (!first) pb_buf_putc(b, ',');
            first = 0;
            ws(b);
            pb_buf_printf(b, "\"%s\":", f->name);
            gen(b, f->type, depth + 1);
        }
        if (oops(15)) pb_buf_printf(b, "%s\"extra\":1", first ? "" : ",");
        pb_buf_putc(b, '}');
        break;
    }
    case PB_AVRO_UNION: {
        const pb_schema_node_t *br = n->branches[rnd((unsigned)n->n_branches)];
        if (depth > 3)
            for (size_t i = 0; i < n->n_branches; i++)
                if (n->branches[i]->type == PB_AVRO_NULL) br = n->branches[i];
        if (br->type == PB_AVRO_NULL) {
            pb_buf_puts(b, "null");
        } else if (rnd(2)) {
            const char *name = pb_schema_is_named(br) && br->fullname ? br->fullname : NULL;
            static const char *const tn[] = {
                [PB_AVRO_BOOLEAN] = "boolean", [PB_AVRO_INT] = "int",
                [PB_AVRO_LONG] = "long",       [PB_AVRO_FLOAT] = "float",
                [PB_AVRO_DOUBLE] = "double",   [PB_AVRO_BYTES] = "bytes",
                [PB_AVRO_STRING] = "string",   [PB_AVRO_ARRAY] = "array",
                [PB_AVRO_MAP] = "map"};
            if (!name) name = (size_t)br->type < sizeof tn / sizeof tn[0] ? tn[br->type] : "x";
            pb_buf_printf(b, "{\"%s\":", name ? name : "x");
            gen(b, br, depth + 1);
            pb_buf_putc(b, '}');
        } else {
            gen(b, br, depth + 1);
        }
        break;
    }
    }
}

static void mutate(pb_buf_t *b) {
    static const char bytes[] = "{}[],:\"\\0123456789.eE-+ tfnu\x00\xc3\xff";
    unsigned k = 1 + rnd(3);
    for (unsigned i = 0; i < k && b->len; i++) {
        size_t at = rnd((unsigned)b->len);
        uint8_t c = (uint8_t)bytes[rnd(sizeof bytes - 1)];
        switch (rnd(3)) {
        case 0: b->data[at] = c; break;
        case 1:
            memmove(b->data + at, b->data + at + 1, b->len - at - 1);
            b->len--;
            break;
        default:
            pb_buf_putc(b, 0);
            memmove(b->data + at + 1, b->data + at, b->len - at - 1);
            b->data[at] = c;
        }
    }
}

static void test_generated(void) {
    char why[512];
    const char *bad = NULL;
    size_t n = 0, accepted = 0;
    for (int i = 0; i < 30000 && !bad; i++) {
        pb_buf_t b = {0};
        int k = (int)rnd(N_FUZZ_SCHEMAS);
        gen(&b, fuzz_w[k]->root, 0);
        if (rnd(2)) mutate(&b);
        bad = jd_check((const char *)b.data, b.len, 1, fuzz_w, N_FUZZ_SCHEMAS, why, sizeof why);
        if (bad)
            snprintf(why + strlen(why), sizeof why - strlen(why), " [%.*s]", (int)b.len,
                     (const char *)b.data);
        /* count the texts that really encode, so the corpus is known to reach the encoders */
        json_t *v = json_loadb((const char *)b.data, b.len, JSON_DECODE_ANY, NULL);
        pb_buf_t o = {0};
        pb_err_t err = {0};
        if (v && !pb_codec_json_to_avro(fuzz_w[k], v, PB_CODEC_UNWRAPPED_UNIONS, &o, NULL, &err)) {
            accepted++;
            if (accepted == 1) fuzz_check_encoded(k, &o);
        }
        json_decref(v);
        pb_buf_free(&o);
        pb_buf_free(&b);
        n++;
    }
    if (!bad && accepted < 3000) {
        snprintf(why, sizeof why, "only %zu of %zu generated texts encode", accepted, n);
        bad = why;
    }
    report("generated corpus: both paths agree", n, bad);
}

/* Wide records: members in reverse and shuffled order (the sorted-key lookup of large objects),
 * some missing (defaults or errors), some unknown. */
static void test_wide_records(void) {
    char why[512];
    const char *bad = NULL;
    size_t n = 0;
    pb_buf_t st = {0};
    pb_buf_puts(&st, "{\"type\":\"record\",\"name\":\"W\",\"fields\":[");
    for (int f = 0; f < 60; f++)
        pb_buf_printf(&st, "%s{\"name\":\"f%d\",\"type\":\"int\"%s}", f ? "," : "", f,
                      f % 7 == 3 ? ",\"default\":7" : "");
    pb_buf_puts(&st, "]}");
    pb_schema_t *s = NULL;
    pb_err_t err = {0};
    if (pb_schema_parse((const char *)st.data, st.len, &s, &err)) abort();
    for (int i = 0; i < 2000 && !bad; i++) {
        int order[64], nf = 60;
        for (int f = 0; f < nf; f++)
            order[f] = i % 3 == 0 ? nf - 1 - f : f;
        if (i % 3 == 1)
            for (int f = nf; f > 1; f--) {
                int j = (int)rnd((unsigned)f), tmp = order[f - 1];
                order[f - 1] = order[j];
                order[j] = tmp;
            }
        pb_buf_t b = {0};
        pb_buf_putc(&b, '{');
        int first = 1;
        for (int f = 0; f < nf; f++) {
            if (order[f] % 7 == 3 && rnd(2)) continue; /* defaulted */
            if (rnd(400) == 0) continue;               /* missing: an error */
            pb_buf_printf(&b, "%s\"f%d\":%d", first ? "" : ",", order[f], (int)rnd(1000));
            first = 0;
        }
        if (rnd(20) == 0) pb_buf_puts(&b, ",\"f60\":1"); /* unknown */
        pb_buf_putc(&b, '}');
        bad = jd_check((const char *)b.data, b.len, 1, &s, 1, why, sizeof why);
        pb_buf_free(&b);
        n++;
    }
    pb_schema_destroy(s);
    pb_buf_free(&st);
    report("wide records in any member order: both encoders agree", n, bad);
}

/* ---- 4. publish bodies ---- */

static const char *record_variants[] = {
    "{\"value\":%s}",
    "{\"key\":\"k-%d\",\"value\":%s}",
    "{\"value\":%s,\"key\":null,\"id\":\"id-%d\"}",
    "{\"value\":%s,\"time\":\"2026-11-21T10:00:0%dZ\"}",
    "{\"value\":%s,\"time\":\"yesterday-%d\"}",
    "{\"value\":%s,\"headers\":{\"app\":\"x%d\",\"traceparent\":"
    "\"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\",\"ce_id\":\"no\"}}",
    "{\"value\":%s,\"headers\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\",\"d\":\"%d\"}}",
    "{\"value\":%s,\"headers\":{\"\":\"x%d\"}}",
    "{\"value\":%s,\"headers\":{\"h\\u00e9\":\"v\\n%d\",\"ce_correlationid\":\"c\"}}",
    "{\"value\":%s,\"headers\":null,\"id\":\"%d\"}",
    "{\"value\":%s,\"bogus\":%d}",
    "{\"key\":%d,\"value\":%s}",
    "{\"key\":{\"id\":%d},\"value\":%s}",
    "[%s,%d]",
    "{\"value\":%s,\"id\":\"\",\"x\":%d}",
};

static const char *KEY_SCHEMA =
    "{\"type\":\"record\",\"name\":\"K\",\"fields\":[{\"name\":\"id\",\"type\":\"int\"}]}";

static int same_records(const pb_publish_record_t *a, const pb_buf_t *va,
                        const pb_publish_record_t *b, const pb_buf_t *vb) {
    const char *ka = a->key_encoded ? (const char *)va->data + a->koff : a->key;
    const char *kb = b->key_encoded ? (const char *)vb->data + b->koff : b->key;
    if (a->klen != b->klen || !ka != !kb || (ka && memcmp(ka, kb, a->klen))) return 0;
    if (a->key_encoded != b->key_encoded || a->idlen != b->idlen || !a->id != !b->id ||
        (a->id && memcmp(a->id, b->id, a->idlen)) || a->event_ms != b->event_ms ||
        a->vlen != b->vlen || memcmp(va->data + a->voff, vb->data + b->voff, a->vlen))
        return 0;
    pb_publish_stamp_t st = {.source = "urn:s", .type = "t", .recorded_time = "r", .span = "s"};
    pb_kafka_header_t ha[32], hb[32];
    pb_publish_hdrbuf_t ba, bb;
    size_t na = pb_publish_headers(&st, a, "id", 2, &ba, ha, 32);
    size_t nb = pb_publish_headers(&st, b, "id", 2, &bb, hb, 32);
    if (na != nb) return 0;
    for (size_t i = 0; i < na; i++)
        if (strcmp(ha[i].name, hb[i].name) || ha[i].len != hb[i].len ||
            /* a child of the record's traceparent gets a new random span id each time */
            (strcmp(ha[i].name, "traceparent") && memcmp(ha[i].value, hb[i].value, ha[i].len)) ||
            (!strcmp(ha[i].name, "traceparent") &&
             memcmp(ha[i].value, hb[i].value, ha[i].len < 36 ? ha[i].len : 36)))
            return 0;
    return 1;
}

static void test_publish_bodies(void) {
    char why[512];
    const char *bad = NULL;
    size_t n = 0, fast_ok = 0;
    pb_schema_t *ks = NULL;
    pb_err_t err = {0};
    if (pb_schema_parse(KEY_SCHEMA, strlen(KEY_SCHEMA), &ks, &err)) abort();
    pb_publish_scratch_t sc = {0};
    g_strict = 1;
    for (int i = 0; i < 4000 && !bad; i++) {
        int ndjson = (int)rnd(3) == 0;
        pb_publish_limits_t lim = {1 << 20, rnd(4) ? 50 : 3, rnd(4) ? 4096 : 120, 3,
                                   rnd(4) ? 1000 : 30};
        pb_publish_target_t t = {fuzz_w[0],          7, rnd(4) ? "occurredAt" : NULL, (int)rnd(2),
                                 rnd(3) ? NULL : ks, 0};
        pb_buf_t body = {0};
        unsigned nrec = rnd(6);
        if (!ndjson) pb_buf_puts(&body, rnd(20) ? "{\"records\":[" : "{\"records\":[],\"x\":[");
        for (unsigned r = 0; r < nrec; r++) {
            pb_buf_t v = {0};
            gen(&v, fuzz_w[0]->root, 1);
            pb_buf_putc(&v, 0);
            unsigned pick =
                rnd(10) < 6 ? rnd(4) : rnd(sizeof record_variants / sizeof record_variants[0]);
            const char *fmt = record_variants[pick];
            if (r && !ndjson) pb_buf_putc(&body, ',');
            if (ndjson && rnd(5) == 0) pb_buf_puts(&body, "  \n");
            for (const char *f = fmt; *f; f++) { /* %s: the value, %d: the record number */
                if (f[0] == '%' && f[1] == 's') {
                    pb_buf_puts(&body, (const char *)v.data);
                    f++;
                } else if (f[0] == '%' && f[1] == 'd') {
                    pb_buf_printf(&body, "%u", r);
                    f++;
                } else {
                    pb_buf_putc(&body, (uint8_t)*f);
                }
            }
            if (ndjson) pb_buf_putc(&body, '\n');
            pb_buf_free(&v);
        }
        if (!ndjson) pb_buf_puts(&body, "]}");
        if (rnd(10) == 0) mutate(&body);
        pb_publish_format_t fmt = ndjson ? PB_PUBLISH_NDJSON : PB_PUBLISH_JSON;

        pb_buf_t vf = {0}, vs = {0};
        pb_publish_record_t *rf = NULL, *rs = NULL;
        size_t nf = 0;
        pb_buf_putc(&vf, 0x55);
        int rcf = pb_publish_prepare_fast(&t, &lim, (const char *)body.data, body.len, fmt, &sc,
                                          &rf, &nf, &vf, &err);
        json_t *records = NULL;
        pb_publish_errors_t *e = calloc(1, sizeof *e);
        int rcs = pb_publish_parse((const char *)body.data, body.len, fmt, &lim, &records, e, &err);
        size_t ns = rcs ? 0 : json_array_size(records);
        if (!rcs && ns == 0) rcs = -1; /* the handler refuses an empty body */
        if (!rcs) {
            rs = calloc(ns, sizeof *rs);
            rcs = pb_publish_prepare(&t, &lim, records, rs, &vs, e, &err);
        }
        if (!rcf != !rcs) {
            snprintf(why, sizeof why, "fast path %s, jansson path %s: %.*s",
                     rcf ? "refuses" : "accepts", rcs ? "refuses" : "accepts", (int)body.len,
                     (const char *)body.data);
            bad = why;
        } else if (rcf && vf.len != 1) {
            bad = "a refused body left bytes in values";
        } else if (!rcf) {
            fast_ok++;
            if (nf != ns) bad = "record counts differ";
            for (size_t r = 0; r < nf && !bad; r++)
                if (!same_records(&rf[r], &vf, &rs[r], &vs)) {
                    snprintf(why, sizeof why, "record %zu differs: %.*s", r, (int)body.len,
                             (const char *)body.data);
                    bad = why;
                }
        }
        free(rf);
        free(rs);
        free(e);
        json_decref(records);
        pb_buf_free(&vf);
        pb_buf_free(&vs);
        pb_buf_free(&body);
        n++;
    }
    if (!bad && (fast_ok < 400 || fast_ok > n - 400)) {
        snprintf(why, sizeof why, "%zu of %zu bodies accepted: the mix is off", fast_ok, n);
        bad = why;
    }
    g_strict = 0;
    pb_publish_scratch_free(&sc);
    pb_schema_destroy(ks);
    report("publish bodies: pb_publish_prepare_fast == pb_publish_parse + pb_publish_prepare", n,
           bad);
}

int main(void) {
    fuzz_setup();
    printf("1..5\n");
    test_edges();
    test_codec_cases();
    test_generated();
    test_wide_records();
    test_publish_bodies();
    return n_fail ? 1 : 0;
}
