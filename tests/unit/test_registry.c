/* Unit tests for registry.c: every op through its record builder and pb_registry_apply, id reuse,
 * version numbering over soft and permanent deletes, every compatibility level over multi-version
 * histories, subscriber-aware checks, binding checks against every live version, impact dry runs,
 * determinism under random interleavings of two writers, replay, skipped records and limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "descriptor.h"
#include "registry.h"
#include "sr.h"

/* ---- helpers ---- */

#define REC(fields) "{\"type\":\"record\",\"name\":\"R\",\"fields\":[" fields "]}"
#define F_A "{\"name\":\"a\",\"type\":\"int\"}"
#define F_BDEF "{\"name\":\"b\",\"type\":\"string\",\"default\":\"x\"}"
#define F_C "{\"name\":\"c\",\"type\":\"long\"}"
#define F_CDEF "{\"name\":\"c\",\"type\":\"long\",\"default\":0}"

/* The status a client sees for a result (the HTTP layer's mapping; 201 for a new product or
 * binding). */
static int status_of(const pb_registry_result_t *res) {
    return res->error_code ? pb_sr_http_status(res->error_code) : res->created ? 201 : 200;
}

static const char *S_A = REC(F_A);
static const char *S_AB = REC(F_A "," F_BDEF);
static const char *S_AC = REC(F_A "," F_C);
static const char *S_ACDEF = REC(F_A "," F_CDEF);
static const char *S_B = REC(F_BDEF);

/* Apply the record in b (then freed) with no offset. Returns pb_registry_apply's value. */
static int apply_buf(pb_registry_t *r, pb_buf_t *b, pb_registry_result_t *res) {
    int rc = pb_registry_apply(r, -1, (const char *)b->data, b->len, res);
    pb_buf_free(b);
    return rc;
}

static int apply_text(pb_registry_t *r, const char *text, pb_registry_result_t *res) {
    return pb_registry_apply(r, -1, text, strlen(text), res);
}

static int reg(pb_registry_t *r, const char *subject, const char *schema,
               pb_registry_result_t *res) {
    pb_buf_t b = {0};
    pb_err_t err = {0};
    int rc = pb_registry_record_register(&b, "req-reg", subject, schema, strlen(schema), &err);
    if (rc) fail_msg("record_register %s: %d %s", subject, rc, err.msg);
    assert_int_equal(apply_buf(r, &b, res), 0);
    assert_string_equal(res->req, "req-reg");
    assert_int_equal(res->op, PB_REGISTRY_OP_REGISTER);
    return status_of(res);
}

static int reg_ok(pb_registry_t *r, const char *subject, const char *schema, int id, int version) {
    pb_registry_result_t res = {0};
    if (reg(r, subject, schema, &res) != 200)
        fail_msg("register under %s: %d %d %s", subject, status_of(&res), res.error_code,
                 res.message);
    if (id) assert_int_equal(res.id, id);
    if (version) assert_int_equal(res.version, version);
    int got = res.id;
    pb_registry_result_reset(&res);
    return got;
}

static int del_version(pb_registry_t *r, const char *subject, int version, int permanent,
                       pb_registry_result_t *res) {
    pb_buf_t b = {0};
    pb_err_t err = {0};
    assert_int_equal(
        pb_registry_record_delete_version(&b, "req-dv", subject, version, permanent, &err), 0);
    assert_int_equal(apply_buf(r, &b, res), 0);
    return res->error_code;
}

static int del_subject(pb_registry_t *r, const char *subject, int permanent,
                       pb_registry_result_t *res) {
    pb_buf_t b = {0};
    pb_err_t err = {0};
    assert_int_equal(pb_registry_record_delete_subject(&b, "req-ds", subject, permanent, &err), 0);
    assert_int_equal(apply_buf(r, &b, res), 0);
    return res->error_code;
}

static int set_level(pb_registry_t *r, const char *subject, int level) {
    pb_buf_t b = {0};
    pb_err_t err = {0};
    pb_registry_result_t res = {0};
    assert_int_equal(pb_registry_record_config(&b, "req-cfg", subject, level, &err), 0);
    assert_int_equal(apply_buf(r, &b, &res), 0);
    int code = res.error_code;
    pb_registry_result_reset(&res);
    return code;
}

static char *versions_text(pb_registry_t *r, const char *subject, int deleted) {
    json_t *v = NULL;
    pb_err_t err = {0};
    if (pb_registry_versions(r, subject, deleted, &v, &err)) return strdup(err.msg);
    char *s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    return s;
}

static void assert_versions(pb_registry_t *r, const char *subject, int deleted, const char *want) {
    char *got = versions_text(r, subject, deleted);
    if (strcmp(got, want) != 0)
        fail_msg("versions of %s (deleted=%d): %s, want %s", subject, deleted, got, want);
    free(got);
}

static void contains(const char *hay, const char *needle) {
    if (!hay || !strstr(hay, needle))
        fail_msg("'%s' does not contain '%s'", hay ? hay : "(null)", needle);
}

/* ---- Schema Registry semantics ---- */

static void register_ids_and_reuse(void **state) {
    (void)state;
    pb_registry_t *r = pb_registry_new();
    reg_ok(r, "s1", S_A, 1, 1);
    /* Same schema, other whitespace and key order inside the field: no new version, no check. */
    reg_ok(
        r, "s1",
        "{ \"type\" : \"record\", \"name\":\"R\", \"fields\":[{\"type\":\"int\",\"name\":\"a\"}] }",
        1, 1);
    pb_registry_result_t res = {0};
    reg(r, "s1", S_A, &res);
    assert_int_equal(res.existed, 1);
    assert_int_equal(res.changed, 0);
    pb_registry_result_reset(&res);
    reg_ok(r, "s1", S_AB, 2, 2);
    /* The same schema under another subject reuses its global id. */
    reg_ok(r, "s2", S_AB, 2, 1);
    reg_ok(r, "s2", S_A, 1, 2); /* BACKWARD: {a} reads {a,b} */
    /* Defaults matter (full JSON, not Parsing Canonical Form): another default is another schema.
     */
    reg_ok(r, "s3",
           REC(F_A ","
                   "{\"name\":\"b\",\"type\":\"string\",\"default\":\"y\"}"),
           3, 1);
    /* Docs matter too. */
    reg_ok(r, "s3", REC("{\"name\":\"a\",\"type\":\"int\",\"doc\":\"d\"}"), 4, 2);

    pb_registry_version_t v;
    pb_err_t err = {0};
    assert_int_equal(pb_registry_get_version(r, "s1", -1, 0, &v, &err), 0);
    assert_int_equal(v.version, 2);
    assert_int_equal(v.id, 2);
    assert_string_equal(v.schema,
                        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
                        "\"int\"},{\"name\":\"b\",\"type\":\"string\",\"default\":\"x\"}]}");
    assert_int_equal(pb_registry_get_version(r, "s1", 1, 0, &v, &err), 0);
    assert_int_equal(v.id, 1);
    assert_int_equal(pb_registry_get_version(r, "s1", 7, 0, &v, &err), PB_SR_VERSION_NOT_FOUND);
    assert_string_equal(err.msg, "Version 7 not found.");
    assert_int_equal(pb_registry_get_version(r, "nope", 1, 0, &v, &err), PB_SR_SUBJECT_NOT_FOUND);
    assert_string_equal(err.msg, "Subject 'nope' not found.");

    const char *text;
    assert_int_equal(pb_registry_schema_by_id(r, 2, &text, NULL, &err), 0);
    assert_string_equal(text,
                        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
                        "\"int\"},{\"name\":\"b\",\"type\":\"string\",\"default\":\"x\"}]}");
    assert_int_equal(pb_registry_schema_by_id(r, 99, &text, NULL, &err), PB_SR_SCHEMA_NOT_FOUND);
    assert_string_equal(err.msg, "Schema 99 not found");
    json_t *j = NULL;
    assert_int_equal(pb_registry_id_versions(r, 2, 0, &j, &err), 0);
    char *s = json_dumps(j, JSON_COMPACT);
    assert_string_equal(s,
                        "[{\"subject\":\"s1\",\"version\":2},{\"subject\":\"s2\",\"version\":1}]");
    free(s);
    json_decref(j);
    assert_int_equal(pb_registry_id_subjects(r, 1, 0, &j, &err), 0);
    s = json_dumps(j, JSON_COMPACT);
    assert_string_equal(s, "[\"s1\",\"s2\"]");
    free(s);
    json_decref(j);
    assert_int_equal(pb_registry_id_subjects(r, 42, 0, &j, &err), PB_SR_SCHEMA_NOT_FOUND);

    j = pb_registry_subjects(r, 0, NULL);
    s = json_dumps(j, JSON_COMPACT);
    assert_string_equal(s, "[\"s1\",\"s2\",\"s3\"]");
    free(s);
    json_decref(j);
    j = pb_registry_subjects(r, 0, "s2");
    assert_int_equal(json_array_size(j), 1);
    json_decref(j);

    /* Lookup: normalized equality, 40403 / 40401 / 42201. */
    assert_int_equal(
        pb_registry_lookup(
            r, "s2",
            "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}",
            strlen(S_A), 0, &v, &err),
        0);
    assert_int_equal(v.version, 2);
    assert_int_equal(v.id, 1);
    assert_int_equal(pb_registry_lookup(r, "s3", S_A, strlen(S_A), 0, &v, &err),
                     PB_SR_SCHEMA_NOT_FOUND);
    assert_int_equal(pb_registry_lookup(r, "zz", S_A, strlen(S_A), 0, &v, &err),
                     PB_SR_SUBJECT_NOT_FOUND);
    assert_int_equal(pb_registry_lookup(r, "s1", "{\"type\":\"recrd\"}", 17, 0, &v, &err),
                     PB_SR_INVALID_SCHEMA);
    contains(err.msg, "Invalid schema");
    pb_registry_destroy(r);
}

static void invalid_schemas(void **state) {
    (void)state;
    pb_buf_t b = {0};
    pb_err_t err = {0};
    /* Bad default: the parser's pointer and reason reach the message. */
    const char *bad = REC("{\"name\":\"a\",\"type\":\"int\",\"default\":\"x\"}");
    assert_int_equal(pb_registry_record_register(&b, "q", "s", bad, strlen(bad), &err),
                     PB_SR_INVALID_SCHEMA);
    contains(err.msg, "Invalid schema");
    contains(err.msg, "/fields/0");
    assert_int_equal(b.len, 0);
    assert_int_equal(pb_registry_record_register(&b, "q", "", S_A, strlen(S_A), &err),
                     PB_SR_INVALID_SUBJECT);
    assert_int_equal(pb_registry_record_register(&b, "q", "a\nb", S_A, strlen(S_A), &err),
                     PB_SR_INVALID_SUBJECT);
    contains(err.msg, "control character");
    assert_int_equal(pb_registry_record_register(&b, "", "s", S_A, strlen(S_A), &err),
                     PB_SR_STORE_ERROR);
    assert_int_equal(pb_registry_record_delete_version(&b, "q", "s", 0, 0, &err),
                     PB_SR_INVALID_VERSION);
    assert_int_equal(pb_registry_record_config(&b, "q", NULL, 99, &err), PB_SR_INVALID_LEVEL);
    /* A hand-written record carrying an invalid schema gets 42201 when applied (not a skip). */
    pb_registry_t *r = pb_registry_new();
    pb_registry_result_t res = {0};
    assert_int_equal(apply_text(r,
                                "{\"v\":1,\"op\":\"register\",\"req\":\"x\",\"subject\":\"s\","
                                "\"schema\":\"{\\\"type\\\":\\\"nope\\\"}\"}",
                                &res),
                     0);
    assert_int_equal(status_of(&res), 422);
    assert_int_equal(res.error_code, PB_SR_INVALID_SCHEMA);
    assert_int_equal(apply_text(r,
                                "{\"v\":1,\"op\":\"register\",\"req\":\"x\",\"subject\":\"\","
                                "\"schema\":\"\\\"int\\\"\"}",
                                &res),
                     0);
    assert_int_equal(res.error_code, PB_SR_INVALID_SUBJECT);
    assert_int_equal(
        apply_text(
            r, "{\"v\":1,\"op\":\"config\",\"req\":\"x\",\"subject\":null,\"level\":\"SIDEWAYS\"}",
            &res),
        0);
    assert_int_equal(res.error_code, PB_SR_INVALID_LEVEL);
    assert_int_equal(status_of(&res), 422);
    pb_registry_result_reset(&res);
    pb_registry_destroy(r);
}

static void versions_over_deletes(void **state) {
    (void)state;
    pb_registry_t *r = pb_registry_new();
    pb_registry_result_t res = {0};
    assert_int_equal(set_level(r, "s", PB_COMPAT_NONE), 0);
    reg_ok(r, "s", S_A, 1, 1);
    reg_ok(r, "s", S_B, 2, 2);
    reg_ok(r, "s", S_AC, 3, 3);
    /* Soft delete v3; versions keep counting. */
    assert_int_equal(del_version(r, "s", 3, 0, &res), 0);
    assert_int_equal(res.version, 3);
    assert_versions(r, "s", 0, "[1,2]");
    assert_versions(r, "s", 1, "[1,2,3]");
    reg_ok(r, "s", S_ACDEF, 4, 4);
    /* Soft-deleted again: 40406. Permanent without a soft delete first: 40407. */
    assert_int_equal(del_version(r, "s", 3, 0, &res), PB_SR_VERSION_SOFT_DELETED);
    assert_int_equal(status_of(&res), 404);
    contains(res.message, "Version 3 was soft deleted");
    assert_int_equal(del_version(r, "s", 2, 1, &res), PB_SR_VERSION_NOT_SOFT_DELETED);
    contains(res.message, "was not deleted first before being permanently deleted");
    assert_int_equal(del_version(r, "s", 9, 0, &res), PB_SR_VERSION_NOT_FOUND);
    assert_int_equal(del_version(r, "zz", 1, 0, &res), PB_SR_SUBJECT_NOT_FOUND);
    /* A soft-deleted version is found only with deleted=true. */
    pb_registry_version_t v;
    pb_err_t err = {0};
    assert_int_equal(pb_registry_get_version(r, "s", 3, 0, &v, &err), PB_SR_VERSION_NOT_FOUND);
    assert_int_equal(pb_registry_get_version(r, "s", 3, 1, &v, &err), 0);
    assert_int_equal(v.deleted, 1);
    /* Permanent after soft. */
    assert_int_equal(del_version(r, "s", 3, 1, &res), 0);
    assert_versions(r, "s", 1, "[1,2,4]");
    /* The id of a soft-deleted schema still resolves (readers need it); gone after permanent. */
    assert_int_equal(pb_registry_schema_by_id(r, 3, NULL, NULL, &err), PB_SR_SCHEMA_NOT_FOUND);
    /* latest: soft delete resolves to the latest live version (4). */
    assert_int_equal(del_version(r, "s", -1, 0, &res), 0);
    assert_int_equal(res.version, 4);
    assert_int_equal(pb_registry_schema_by_id(r, 4, NULL, NULL, &err), 0);
    /* Permanent delete of "latest" takes the highest version, soft-deleted included. */
    assert_int_equal(del_version(r, "s", -1, 1, &res), 0);
    assert_int_equal(res.version, 4);
    assert_versions(r, "s", 1, "[1,2]");
    /* As Confluent: the next version is max(existing) + 1, so 3 comes back after a permanent
     * delete. */
    reg_ok(r, "s", S_AC, 3, 3);
    /* Re-registering a soft-deleted schema: new version, same id, the old soft-deleted one goes. */
    assert_int_equal(del_version(r, "s", 1, 0, &res), 0);
    reg_ok(r, "s", S_A, 1, 4);
    assert_versions(r, "s", 1, "[2,3,4]");
    /* Subject deletes. */
    assert_int_equal(del_subject(r, "s", 1, &res), PB_SR_SUBJECT_NOT_SOFT_DELETED);
    contains(res.message, "Subject 's' was not deleted first before being permanently deleted");
    assert_int_equal(del_subject(r, "s", 0, &res), 0);
    char *list = json_dumps(res.body, JSON_COMPACT);
    assert_string_equal(list, "[2,3,4]");
    free(list);
    assert_versions(r, "s", 0, "Subject 's' not found.");
    assert_versions(r, "s", 1, "[2,3,4]");
    json_t *subs = pb_registry_subjects(r, 0, NULL);
    assert_int_equal(json_array_size(subs), 0);
    json_decref(subs);
    subs = pb_registry_subjects(r, 1, NULL);
    assert_int_equal(json_array_size(subs), 1);
    json_decref(subs);
    assert_int_equal(del_subject(r, "s", 0, &res), PB_SR_SUBJECT_SOFT_DELETED);
    contains(res.message, "was soft deleted");
    /* Registering into a soft-deleted subject keeps counting; nothing is checked against deleted
     * ones (and the soft-deleted v2 holding the same schema goes, as in Confluent). */
    reg_ok(r, "s", S_B, 2, 5);
    assert_versions(r, "s", 1, "[3,4,5]");
    assert_int_equal(del_subject(r, "s", 0, &res), 0);
    int lvl = -1;
    assert_int_equal(pb_registry_subject_level(r, "s", &lvl), 1);
    assert_int_equal(del_subject(r, "s", 1, &res), 0);
    list = json_dumps(res.body, JSON_COMPACT);
    assert_string_equal(list, "[3,4,5]");
    free(list);
    /* A permanent delete of the whole subject also drops its config, as Confluent does. */
    assert_int_equal(pb_registry_subject_level(r, "s", &lvl), 0);
    assert_int_equal(del_subject(r, "s", 0, &res), PB_SR_SUBJECT_NOT_FOUND);
    /* Starting over: versions restart at 1, ids are kept for known schemas. */
    reg_ok(r, "s", S_AC, 3, 1);
    pb_registry_result_reset(&res);
    pb_registry_destroy(r);
}

/* Register hist under subject with level, then cand; returns the status. */
static int level_case(int level, const char *const *hist, size_t n, int soft_delete_first,
                      const char *cand, char **message) {
    pb_registry_t *r = pb_registry_new();
    pb_registry_result_t res = {0};
    assert_int_equal(set_level(r, "s", PB_COMPAT_NONE), 0);
    for (size_t i = 0; i < n; i++)
        reg_ok(r, "s", hist[i], 0, (int)i + 1);
    if (soft_delete_first) assert_int_equal(del_version(r, "s", 1, 0, &res), 0);
    assert_int_equal(set_level(r, "s", level), 0);
    int st = reg(r, "s", cand, &res);
    if (message) *message = res.message ? strdup(res.message) : NULL;
    if (st == 409) {
        assert_int_equal(res.error_code, PB_SR_INCOMPATIBLE);
        assert_non_null(json_object_get(res.body, "incompatibilities"));
    }
    pb_registry_result_reset(&res);
    pb_registry_destroy(r);
    return st;
}

static void every_level(void **state) {
    (void)state;
    /* History {a}, {a, c=0}; candidate {a, c} (c without default): reads the latest but not v1;
     * old versions read it (they ignore c). */
    const char *h1[] = {S_A, S_ACDEF};
    assert_int_equal(level_case(PB_COMPAT_NONE, h1, 2, 0, S_AC, NULL), 200);
    assert_int_equal(level_case(PB_COMPAT_BACKWARD, h1, 2, 0, S_AC, NULL), 200);
    char *msg = NULL;
    assert_int_equal(level_case(PB_COMPAT_BACKWARD_TRANSITIVE, h1, 2, 0, S_AC, &msg), 409);
    contains(msg,
             "Schema being registered is incompatible with an earlier schema for subject \"s\"");
    contains(msg, "errorType:'READER_FIELD_MISSING_DEFAULT_VALUE'");
    contains(msg, "location:'/fields/1'");
    contains(msg, "oldSchemaVersion: 1");
    contains(msg, "{compatibility: 'BACKWARD_TRANSITIVE'}");
    free(msg);
    assert_int_equal(level_case(PB_COMPAT_FORWARD, h1, 2, 0, S_AC, NULL), 200);
    assert_int_equal(level_case(PB_COMPAT_FORWARD_TRANSITIVE, h1, 2, 0, S_AC, NULL), 200);
    assert_int_equal(level_case(PB_COMPAT_FULL, h1, 2, 0, S_AC, NULL), 200);
    assert_int_equal(level_case(PB_COMPAT_FULL_TRANSITIVE, h1, 2, 0, S_AC, NULL), 409);
    /* With v1 soft-deleted, the transitive levels no longer see it. */
    assert_int_equal(level_case(PB_COMPAT_BACKWARD_TRANSITIVE, h1, 2, 1, S_AC, NULL), 200);
    assert_int_equal(level_case(PB_COMPAT_FULL_TRANSITIVE, h1, 2, 1, S_AC, NULL), 200);

    /* History {a}, {a, b="x"}; candidate {b="x"} drops a: it reads both, old ones cannot read it.
     */
    const char *h2[] = {S_A, S_AB};
    assert_int_equal(level_case(PB_COMPAT_BACKWARD, h2, 2, 0, S_B, NULL), 200);
    assert_int_equal(level_case(PB_COMPAT_BACKWARD_TRANSITIVE, h2, 2, 0, S_B, NULL), 200);
    assert_int_equal(level_case(PB_COMPAT_FORWARD, h2, 2, 0, S_B, &msg), 409);
    contains(msg, "oldSchemaVersion: 2");
    contains(msg, "direction:'forward'");
    free(msg);
    assert_int_equal(level_case(PB_COMPAT_FULL, h2, 2, 0, S_B, NULL), 409);
    assert_int_equal(level_case(PB_COMPAT_NONE, h2, 2, 0, S_B, NULL), 200);

    /* FORWARD vs FORWARD_TRANSITIVE: history {a,c}, {a,c=0}; candidate {a}... v1 {a,c} cannot read
     * {a} (c has no default), v2 {a,c=0} can. */
    const char *h3[] = {S_AC, S_ACDEF};
    assert_int_equal(level_case(PB_COMPAT_FORWARD, h3, 2, 0, S_A, NULL), 200);
    assert_int_equal(level_case(PB_COMPAT_FORWARD_TRANSITIVE, h3, 2, 0, S_A, &msg), 409);
    contains(msg, "oldSchemaVersion: 1");
    free(msg);
    assert_int_equal(level_case(PB_COMPAT_FORWARD_TRANSITIVE, h3, 2, 1, S_A, NULL), 200);
    assert_int_equal(level_case(PB_COMPAT_FULL, h3, 2, 0, S_A, NULL), 200);
    assert_int_equal(level_case(PB_COMPAT_FULL_TRANSITIVE, h3, 2, 0, S_A, NULL), 409);

    /* Every incompatibility is named: two broken fields, two items. */
    const char *h4[] = {REC(F_A "," F_BDEF)};
    const char *cand =
        REC("{\"name\":\"a\",\"type\":\"string\"},{\"name\":\"b\",\"type\":\"int\"}");
    assert_int_equal(level_case(PB_COMPAT_BACKWARD, h4, 1, 0, cand, &msg), 409);
    contains(msg, "location:'/fields/0/type'");
    contains(msg, "location:'/fields/1/type'");
    free(msg);
}

static void config_ops(void **state) {
    (void)state;
    pb_registry_t *r = pb_registry_new();
    pb_registry_result_t res = {0};
    assert_int_equal(pb_registry_global_level(r), PB_COMPAT_BACKWARD);
    assert_int_equal(set_level(r, NULL, PB_COMPAT_FULL), 0);
    assert_int_equal(pb_registry_global_level(r), PB_COMPAT_FULL);
    assert_int_equal(pb_registry_effective_level(r, "x"), PB_COMPAT_FULL);
    int lvl;
    assert_int_equal(pb_registry_subject_level(r, "x", &lvl), 0);
    assert_int_equal(set_level(r, "x", PB_COMPAT_NONE), 0);
    assert_int_equal(pb_registry_subject_level(r, "x", &lvl), 1);
    assert_int_equal(lvl, PB_COMPAT_NONE);
    assert_int_equal(pb_registry_effective_level(r, "x"), PB_COMPAT_NONE);
    /* A subject with only a config is not listed as a subject. */
    json_t *subs = pb_registry_subjects(r, 1, NULL);
    assert_int_equal(json_array_size(subs), 0);
    json_decref(subs);
    pb_buf_t b = {0};
    pb_err_t err = {0};
    assert_int_equal(pb_registry_record_config(&b, "q", "x", -1, &err), 0);
    apply_buf(r, &b, &res);
    assert_int_equal(status_of(&res), 200);
    assert_int_equal(res.level, PB_COMPAT_NONE); /* the deleted level */
    assert_int_equal(pb_registry_subject_level(r, "x", &lvl), 0);
    assert_int_equal(set_level(r, "x", -1), PB_SR_SUBJECT_NOT_FOUND);
    /* Deleting the global level resets it to BACKWARD. */
    assert_int_equal(set_level(r, NULL, -1), 0);
    assert_int_equal(pb_registry_global_level(r), PB_COMPAT_BACKWARD);
    pb_registry_result_reset(&res);
    pb_registry_destroy(r);
}

static void check_query(void **state) {
    (void)state;
    pb_registry_t *r = pb_registry_new();
    int ok = -1;
    json_t *msgs = NULL;
    pb_err_t err = {0};
    /* No versions: compatible. */
    assert_int_equal(pb_registry_check(r, "s", S_AC, strlen(S_AC), 0, &ok, NULL, &err), 0);
    assert_int_equal(ok, 1);
    assert_int_equal(pb_registry_check(r, "s", S_AC, strlen(S_AC), -1, &ok, NULL, &err), 0);
    assert_int_equal(ok, 1);
    assert_int_equal(pb_registry_check(r, "s", S_AC, strlen(S_AC), 1, &ok, NULL, &err),
                     PB_SR_VERSION_NOT_FOUND);
    reg_ok(r, "s", S_A, 1, 1);
    reg_ok(r, "s", S_ACDEF, 2, 2);
    assert_int_equal(pb_registry_check(r, "s", S_AC, strlen(S_AC), 0, &ok, &msgs, &err), 0);
    assert_int_equal(ok, 1);
    assert_int_equal(json_array_size(msgs), 0);
    json_decref(msgs);
    /* Against version 1 only: {a,c} cannot read {a}. */
    assert_int_equal(pb_registry_check(r, "s", S_AC, strlen(S_AC), 1, &ok, &msgs, &err), 0);
    assert_int_equal(ok, 0);
    assert_int_equal(json_array_size(msgs), 4); /* the issue, the old version and schema, level */
    contains(json_string_value(json_array_get(msgs, 0)), "READER_FIELD_MISSING_DEFAULT_VALUE");
    assert_string_equal(json_string_value(json_array_get(msgs, 1)), "{oldSchemaVersion: 1}");
    contains(json_string_value(json_array_get(msgs, 2)), "{oldSchema: '{\"type\":\"record\"");
    assert_string_equal(json_string_value(json_array_get(msgs, 3)), "{compatibility: 'BACKWARD'}");
    json_decref(msgs);
    assert_int_equal(pb_registry_check(r, "s", S_AC, strlen(S_AC), -1, &ok, NULL, &err), 0);
    assert_int_equal(ok, 1);
    assert_int_equal(pb_registry_check(r, "s", "{", 1, 0, &ok, NULL, &err), PB_SR_INVALID_SCHEMA);
    assert_int_equal(set_level(r, "s", PB_COMPAT_BACKWARD_TRANSITIVE), 0);
    assert_int_equal(pb_registry_check(r, "s", S_AC, strlen(S_AC), 0, &ok, NULL, &err), 0);
    assert_int_equal(ok, 0);
    pb_registry_destroy(r);
}

/* ---- products, bindings, subscriber-aware checks ---- */

#define OBS(fields)                                                                                \
    "{\"type\":\"record\",\"name\":\"Obs\",\"namespace\":\"w\",\"fields\":[" fields "]}"
#define F_ST "{\"name\":\"station\",\"type\":\"string\"}"
#define F_TEMP "{\"name\":\"temp\",\"type\":\"double\"}"
#define F_HUM "{\"name\":\"hum\",\"type\":\"double\",\"default\":0}"
#define F_WIND "{\"name\":\"wind\",\"type\":\"double\",\"default\":0}"
#define F_HUM_ND "{\"name\":\"hum\",\"type\":\"double\"}"

static const char *WEATHER_URN = "urn:dpds:com.acme:dataproducts:weather:2";
static const char *OBS_URN = "urn:dpds:com.acme:dataproducts:weather:2:outputports:observations";
static const char *OBS_SUBJECT = "com.acme.weather.v2.observations-value";
static const char *TRIP_URN = "urn:dpds:com.acme:dataproducts:trip:1";
static const char *TRIP_IN = "urn:dpds:com.acme:dataproducts:trip:1:inputports:weather";
static const char *TRIP_IN_SUBJECT = "com.acme.trip.v1.in.weather-value";

/* A product descriptor with one output port (schema out, extra x-portbroker members xpb) or one
 * input port (schema in, from). */
static pb_product_t *product(const char *ns, const char *name, int major, const char *out,
                             const char *xpb, const char *in, const char *from) {
    char text[8192];
    char ports[6000];
    if (out)
        snprintf(ports, sizeof ports,
                 "\"outputPorts\":[{\"name\":\"observations\",\"promises\":{\"api\":{\"schema\":%s}"
                 "}%s%s%s}]",
                 out, xpb ? ",\"x-portbroker\":{" : "", xpb ? xpb : "", xpb ? "}" : "");
    else
        snprintf(
            ports, sizeof ports,
            "\"inputPorts\":[{\"name\":\"weather\",\"promises\":{\"api\":{\"schema\":%s}}%s%s%s}]",
            in, from ? ",\"from\":\"" : "", from ? from : "", from ? "\"" : "");
    snprintf(text, sizeof text,
             "{\"dataProductDescriptor\":\"1.0.0\",\"info\":{\"fullyQualifiedName\":"
             "\"urn:dpds:%s:dataproducts:%s:%d\",\"name\":\"%s\",\"version\":\"%d.0.0\","
             "\"domain\":\"d\",\"owner\":{\"id\":\"o\"}},\"interfaceComponents\":{%s}}",
             ns, name, major, name, major, ports);
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    if (!j) fail_msg("bad test descriptor: %s: %s", jerr.text, text);
    pb_product_t *p = NULL;
    pb_err_t err = {0};
    if (pb_descriptor_parse(j, NULL, "test", ns, 1, &p, &err)) fail_msg("descriptor: %s", err.msg);
    json_decref(j);
    return p;
}

static int put(pb_registry_t *r, pb_product_t *p, pb_registry_result_t *res) {
    pb_buf_t b = {0};
    pb_err_t err = {0};
    int rc = pb_registry_record_product_put(&b, "req-put", p, &err);
    if (rc) fail_msg("product_put record: %s", err.msg);
    pb_product_destroy(p);
    assert_int_equal(apply_buf(r, &b, res), 0);
    return status_of(res);
}

static int bind(pb_registry_t *r, const char *from, const char *to, const char *reader,
                pb_registry_result_t *res) {
    pb_buf_t b = {0};
    pb_err_t err = {0};
    int rc = pb_registry_record_bind(&b, "req-bind", from, to, reader, reader ? strlen(reader) : 0,
                                     "earliest", &err);
    if (rc) fail_msg("bind record: %s", err.msg);
    assert_int_equal(apply_buf(r, &b, res), 0);
    return status_of(res);
}

static pb_registry_t *mesh(void) {
    pb_registry_t *r = pb_registry_new();
    pb_registry_result_t res = {0};
    assert_int_equal(
        put(r, product("com.acme", "weather", 2, OBS(F_ST "," F_TEMP), NULL, NULL, NULL), &res),
        201);
    assert_int_equal(put(r, product("com.acme", "trip", 1, NULL, NULL, OBS(F_ST), OBS_URN), &res),
                     201);
    pb_registry_result_reset(&res);
    return r;
}

static void products_and_ports(void **state) {
    (void)state;
    pb_registry_t *r = mesh();
    pb_registry_result_t res = {0};
    size_t n;
    const pb_product_t *const *ps = pb_registry_products(r, &n);
    assert_int_equal(n, 2);
    assert_string_equal(ps[0]->fqn, WEATHER_URN);
    const pb_port_t *port = pb_registry_port(r, OBS_URN);
    assert_non_null(port);
    assert_string_equal(port->subject, OBS_SUBJECT);
    json_t *sv = pb_registry_port_schemas(r, port);
    char *s = json_dumps(sv, JSON_COMPACT);
    assert_string_equal(s, "[{\"version\":1,\"id\":1}]");
    free(s);
    json_decref(sv);
    /* The input port's reader is registered under its subject; the binding uses it. */
    pb_registry_version_t v;
    pb_err_t err = {0};
    assert_int_equal(pb_registry_get_version(r, TRIP_IN_SUBJECT, -1, 0, &v, &err), 0);
    assert_int_equal(v.id, 2);
    assert_int_equal(pb_registry_binding_count(r), 1);
    const pb_registry_binding_t *b = pb_registry_binding_at(r, 0);
    assert_string_equal(b->from, OBS_URN);
    assert_string_equal(b->to, TRIP_IN);
    assert_int_equal(b->reader_id, 2);
    assert_int_equal(b->from_product, 1);
    assert_ptr_equal(pb_registry_binding(r, b->id), b);
    /* An unchanged descriptor: detectable before writing, and a no-op when applied. */
    pb_product_t *same = product("com.acme", "weather", 2, OBS(F_ST "," F_TEMP), NULL, NULL, NULL);
    assert_int_equal(pb_registry_product_unchanged(r, same), 1);
    char *before = pb_registry_dump(r);
    assert_int_equal(put(r, same, &res), 200);
    assert_int_equal(res.changed, 0);
    char *after = pb_registry_dump(r);
    assert_string_equal(before, after);
    free(after);
    /* A descriptor that states its level sets the subject config. */
    assert_int_equal(put(r,
                         product("com.acme", "weather", 2, OBS(F_ST "," F_TEMP "," F_HUM),
                                 "\"compatibility\":\"FULL_TRANSITIVE\"", NULL, NULL),
                         &res),
                     200);
    assert_int_equal(pb_registry_port_level(r, pb_registry_port(r, OBS_URN)),
                     PB_COMPAT_FULL_TRANSITIVE);
    assert_versions(r, OBS_SUBJECT, 0, "[1,2]");
    /* Topic collision with another product. */
    assert_int_equal(put(r,
                         product("com.acme", "other", 1, OBS(F_ST),
                                 "\"topic\":\"com.acme.weather.v2.observations\"", NULL, NULL),
                         &res),
                     409);
    contains(
        res.message,
        "already used by port urn:dpds:com.acme:dataproducts:weather:2:outputports:observations");
    /* A port whose schema breaks its own level: 409 naming the port, nothing changes. */
    free(before);
    before = pb_registry_dump(r);
    assert_int_equal(put(r,
                         product("com.acme", "weather", 2, OBS(F_ST "," F_TEMP "," F_HUM "," F_C),
                                 NULL, NULL, NULL),
                         &res),
                     409);
    contains(res.message, "port urn:dpds:com.acme:dataproducts:weather:2:outputports:observations");
    after = pb_registry_dump(r);
    assert_string_equal(before, after);
    free(after);
    free(before);
    /* Delete: refused while trip reads weather; trip first. */
    pb_buf_t rb = {0};
    assert_int_equal(pb_registry_record_product_delete(&rb, "q", WEATHER_URN, &err), 0);
    apply_buf(r, &rb, &res);
    assert_int_equal(status_of(&res), 409);
    contains(res.message, TRIP_IN);
    assert_int_equal(pb_registry_record_product_delete(&rb, "q", TRIP_URN, &err), 0);
    apply_buf(r, &rb, &res);
    assert_int_equal(status_of(&res), 200);
    assert_int_equal(pb_registry_binding_count(r), 0);
    assert_null(pb_registry_port(r, TRIP_IN));
    assert_int_equal(pb_registry_record_product_delete(&rb, "q", TRIP_URN, &err), 0);
    apply_buf(r, &rb, &res);
    assert_int_equal(status_of(&res), 404);
    assert_int_equal(pb_registry_record_product_delete(&rb, "q", WEATHER_URN, &err), 0);
    apply_buf(r, &rb, &res);
    assert_int_equal(status_of(&res), 200);
    /* Subjects stay after their product goes. */
    assert_versions(r, OBS_SUBJECT, 0, "[1,2]");
    pb_registry_result_reset(&res);
    pb_registry_destroy(r);
}

static void subscriber_aware_register(void **state) {
    (void)state;
    pb_registry_t *r = mesh();
    pb_registry_result_t res = {0};
    /* Dropping "station" is BACKWARD-compatible, but trip's reader needs it. */
    const char *drop = OBS(F_TEMP);
    assert_int_equal(reg(r, OBS_SUBJECT, drop, &res), 409);
    assert_int_equal(res.error_code, PB_SR_INCOMPATIBLE);
    contains(res.message, "the reader schema of subscriber(s) "
                          "urn:dpds:com.acme:dataproducts:trip:1:inputports:weather");
    contains(res.message, "READER_FIELD_MISSING_DEFAULT_VALUE");
    contains(res.message, "subscriber:'urn:dpds:com.acme:dataproducts:trip:1:inputports:weather'");
    json_t *it = json_array_get(json_object_get(res.body, "incompatibilities"), 0);
    assert_string_equal(json_string_value(json_object_get(it, "subscriber")), TRIP_IN);
    assert_versions(r, OBS_SUBJECT, 0, "[1]");
    /* Both a level problem and a subscriber problem: both named. */
    const char *both = OBS(F_TEMP "," F_HUM_ND);
    assert_int_equal(reg(r, OBS_SUBJECT, both, &res), 409);
    contains(res.message, "an earlier schema for subject");
    contains(res.message, "subscriber(s)");
    /* The impact dry run says the same and changes nothing. */
    char *before = pb_registry_dump(r);
    json_t *imp = NULL;
    pb_err_t err = {0};
    assert_int_equal(pb_registry_impact(r, OBS_URN, drop, strlen(drop), &imp, &err), 0);
    assert_false(json_is_true(json_object_get(imp, "compatible")));
    assert_string_equal(json_string_value(json_object_get(imp, "subject")), OBS_SUBJECT);
    assert_true(json_is_null(json_object_get(imp, "registered")));
    json_t *levels = json_object_get(imp, "levels");
    assert_true(json_is_true(json_object_get(json_object_get(levels, "BACKWARD"), "compatible")));
    assert_false(json_is_true(json_object_get(json_object_get(levels, "FORWARD"), "compatible")));
    assert_int_equal(json_object_size(levels), PB_COMPAT__LEVEL_COUNT);
    json_t *sub = json_array_get(json_object_get(imp, "subscribers"), 0);
    assert_string_equal(json_string_value(json_object_get(sub, "input")), TRIP_IN);
    assert_false(json_is_true(json_object_get(sub, "compatible")));
    assert_true(json_array_size(json_object_get(sub, "incompatibilities")) > 0);
    json_decref(imp);
    /* An already registered schema: no check, compatible. */
    assert_int_equal(pb_registry_impact(r, OBS_SUBJECT, OBS(F_ST "," F_TEMP),
                                        strlen(OBS(F_ST "," F_TEMP)), &imp, &err),
                     0);
    assert_true(json_is_true(json_object_get(imp, "compatible")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(imp, "registered"), "id")),
                     1);
    json_decref(imp);
    assert_int_equal(pb_registry_impact(r, OBS_SUBJECT, "{", 1, &imp, &err), PB_SR_INVALID_SCHEMA);
    char *after = pb_registry_dump(r);
    assert_string_equal(before, after);
    free(before);
    free(after);
    /* A compatible change for the subscriber passes. */
    reg_ok(r, OBS_SUBJECT, OBS(F_ST "," F_TEMP "," F_HUM), 3, 2);
    /* Level NONE: no level check, but the subscriber check holds (DESIGN §5: port subjects are
     * protected), and the impact dry run agrees with the real check on the same candidates. */
    assert_int_equal(set_level(r, OBS_SUBJECT, PB_COMPAT_NONE), 0);
    const char *cands[] = {drop, OBS(F_TEMP "," F_HUM), OBS(F_ST "," F_HUM "," F_TEMP), OBS(F_ST),
                           "\"string\""};
    for (size_t i = 0; i < sizeof cands / sizeof *cands; i++) {
        before = pb_registry_dump(r);
        assert_int_equal(pb_registry_impact(r, OBS_URN, cands[i], strlen(cands[i]), &imp, &err), 0);
        int dry = json_is_true(json_object_get(imp, "compatible"));
        json_decref(imp);
        int st = reg(r, OBS_SUBJECT, cands[i], &res);
        if (dry != (st == 200))
            fail_msg("candidate %zu: impact says %d, register answers %d %s", i, dry, st,
                     res.message);
        if (st != 200) {
            after = pb_registry_dump(r);
            assert_string_equal(before, after);
            free(after);
        }
        free(before);
    }
    assert_int_equal(reg(r, OBS_SUBJECT, drop, &res), 409);
    assert_int_equal(res.error_code, PB_SR_INCOMPATIBLE);
    contains(res.message, "subscriber(s) urn:dpds:com.acme:dataproducts:trip:1:inputports:weather");
    contains(res.message, "READER_FIELD_MISSING_DEFAULT_VALUE");
    /* A producer re-put that would break the subscriber is refused with the input port named. */
    assert_int_equal(set_level(r, OBS_SUBJECT, PB_COMPAT_BACKWARD), 0);
    assert_int_equal(put(r, product("com.acme", "weather", 2, OBS(F_HUM), NULL, NULL, NULL), &res),
                     409);
    contains(res.message, TRIP_IN);
    /* A consumer re-put whose reader breaks its own input subject's level: refused. */
    assert_int_equal(
        put(r, product("com.acme", "trip", 1, NULL, NULL, OBS(F_ST "," F_HUM_ND), OBS_URN), &res),
        409);
    contains(res.message, "an earlier schema for subject \"com.acme.trip.v1.in.weather-value\"");
    /* With that level NONE, the reader still cannot read a live writer version: the first is named.
     */
    assert_int_equal(set_level(r, TRIP_IN_SUBJECT, PB_COMPAT_NONE), 0);
    assert_int_equal(
        put(r, product("com.acme", "trip", 1, NULL, NULL, OBS(F_ST "," F_HUM_ND), OBS_URN), &res),
        409);
    contains(res.message, "cannot read version 1 of output port");
    pb_registry_result_reset(&res);
    pb_registry_destroy(r);
}

static void bind_checks_every_version(void **state) {
    (void)state;
    pb_registry_t *r = pb_registry_new();
    pb_registry_result_t res = {0};
    assert_int_equal(put(r, product("com.acme", "weather", 2, OBS(F_ST), NULL, NULL, NULL), &res),
                     201);
    reg_ok(r, OBS_SUBJECT, OBS(F_ST "," F_HUM), 0, 2);
    reg_ok(r, OBS_SUBJECT, OBS(F_ST "," F_HUM "," F_WIND), 0, 3);
    /* trip without "from": no binding yet. */
    assert_int_equal(put(r, product("com.acme", "trip", 1, NULL, NULL, OBS(F_ST), NULL), &res),
                     201);
    assert_int_equal(pb_registry_binding_count(r), 0);
    /* A reader needing hum (no default) reads v2 and v3 but not v1. */
    const char *reader = OBS(F_ST "," F_HUM_ND);
    assert_int_equal(bind(r, OBS_URN, TRIP_IN, reader, &res), 409);
    contains(res.message, "cannot read version 1 of output port "
                          "urn:dpds:com.acme:dataproducts:weather:2:outputports:observations");
    assert_int_equal(pb_registry_binding_count(r), 0);
    pb_err_t err = {0};
    /* v1 soft-deleted: the reader reads every live version, and (BACKWARD on the input subject:
     * it must read the input port's v1 {station}) ... it cannot: hum has no default. */
    /* v1 cannot be deleted while the port is declared (soft or permanent): 40910, nothing
     * changes, and the bind is still checked against v1. */
    char *before = pb_registry_dump(r);
    assert_int_equal(del_version(r, OBS_SUBJECT, 1, 0, &res), PB_SR_PORT_PROTECTED);
    assert_int_equal(status_of(&res), 409);
    contains(res.message, OBS_URN);
    contains(res.message, "new product major");
    assert_int_equal(del_version(r, OBS_SUBJECT, 1, 1, &res), PB_SR_PORT_PROTECTED);
    char *after = pb_registry_dump(r);
    assert_string_equal(before, after);
    free(before);
    free(after);
    assert_int_equal(bind(r, OBS_URN, TRIP_IN, reader, &res), 409);
    contains(res.message, "cannot read version 1 of output port");
    /* A reader with hum defaulted passes both. */
    const char *reader2 = OBS(F_ST "," F_HUM);
    assert_int_equal(bind(r, OBS_URN, TRIP_IN, reader2, &res), 201);
    int id = res.id;
    assert_int_equal(pb_registry_binding_count(r), 1);
    const pb_registry_binding_t *b = pb_registry_binding(r, id);
    assert_string_equal(b->start, "earliest");
    assert_int_equal(b->from_product, 0);
    pb_registry_version_t v;
    assert_int_equal(pb_registry_get_version(r, TRIP_IN_SUBJECT, -1, 0, &v, &err), 0);
    assert_int_equal(v.id, b->reader_id);
    /* Idempotent on (from, to): 200, same id. No reader: the input port's declared schema. */
    assert_int_equal(bind(r, OBS_URN, TRIP_IN, NULL, &res), 200);
    assert_int_equal(res.id, id);
    /* Unknown ports: 404; access list: 403. */
    assert_int_equal(
        bind(r, "urn:dpds:com.acme:dataproducts:x:1:outputports:y", TRIP_IN, NULL, &res), 404);
    assert_int_equal(
        bind(r, OBS_URN, "urn:dpds:com.acme:dataproducts:x:1:inputports:y", NULL, &res), 404);
    assert_int_equal(put(r, product("org.other", "spy", 1, NULL, NULL, OBS(F_ST), NULL), &res),
                     201);
    assert_int_equal(
        bind(r, OBS_URN, "urn:dpds:org.other:dataproducts:spy:1:inputports:weather", NULL, &res),
        403);
    assert_int_equal(res.error_code, PB_SR_FORBIDDEN);
    contains(res.message, "access list");
    /* A descriptor-declared binding is subject to the same access list. */
    assert_int_equal(put(r, product("org.other", "spy", 1, NULL, NULL, OBS(F_ST), OBS_URN), &res),
                     403);
    /* Unbind. */
    pb_buf_t rb = {0};
    assert_int_equal(pb_registry_record_unbind(&rb, "q", id, &err), 0);
    apply_buf(r, &rb, &res);
    assert_int_equal(status_of(&res), 200);
    assert_int_equal(pb_registry_binding_count(r), 0);
    assert_int_equal(pb_registry_record_unbind(&rb, "q", id, &err), 0);
    apply_buf(r, &rb, &res);
    assert_int_equal(status_of(&res), 404);
    /* Bad bind arguments are refused by the builder. */
    assert_int_equal(pb_registry_record_bind(&rb, "q", TRIP_IN, OBS_URN, NULL, 0, NULL, &err),
                     PB_SR_INVALID);
    assert_int_equal(pb_registry_record_bind(&rb, "q", OBS_URN, TRIP_IN, NULL, 0, "now", &err),
                     PB_SR_INVALID);
    assert_int_equal(pb_registry_record_bind(&rb, "q", OBS_URN, TRIP_IN, "{", 1, NULL, &err),
                     PB_SR_INVALID_SCHEMA);
    assert_int_equal(rb.len, 0);
    pb_registry_result_reset(&res);
    pb_registry_destroy(r);
}

/* A consumer declared before its producer: the binding waits, and the producer's put is checked
 * against it. */
static void pending_binding(void **state) {
    (void)state;
    pb_registry_t *r = pb_registry_new();
    pb_registry_result_t res = {0};
    assert_int_equal(put(r, product("com.acme", "trip", 1, NULL, NULL, OBS(F_ST), OBS_URN), &res),
                     201);
    assert_int_equal(pb_registry_binding_count(r), 1);
    assert_int_equal(put(r, product("com.acme", "weather", 2, OBS(F_TEMP), NULL, NULL, NULL), &res),
                     409);
    contains(res.message, TRIP_IN);
    assert_int_equal(
        put(r, product("com.acme", "weather", 2, OBS(F_TEMP "," F_ST), NULL, NULL, NULL), &res),
        201);
    pb_registry_result_reset(&res);
    pb_registry_destroy(r);
}

/* ---- determinism, replay, skipped records ---- */

typedef struct logrec {
    char *text;
} logrec_t;

static char *mk_register(const char *req, const char *subject, const char *schema) {
    pb_buf_t b = {0};
    pb_err_t err = {0};
    if (pb_registry_record_register(&b, req, subject, schema, strlen(schema), &err))
        fail_msg("%s", err.msg);
    return (char *)b.data;
}

static char *mk_config(const char *req, const char *subject, int level) {
    pb_buf_t b = {0};
    pb_err_t err = {0};
    if (pb_registry_record_config(&b, req, subject, level, &err)) fail_msg("%s", err.msg);
    return (char *)b.data;
}

static char *mk_delete(const char *req, const char *subject, int version, int permanent) {
    pb_buf_t b = {0};
    pb_err_t err = {0};
    if (pb_registry_record_delete_version(&b, req, subject, version, permanent, &err))
        fail_msg("%s", err.msg);
    return (char *)b.data;
}

/* A writer's stream of records: registers of a family of schemas over a few subjects, some
 * compatible, some not, with level changes and deletes mixed in. */
static void writer_records(unsigned seed, const char *who, char **out, size_t n) {
    static const char *fields[] = {
        "{\"name\":\"f0\",\"type\":\"int\"}",
        "{\"name\":\"f1\",\"type\":\"string\",\"default\":\"\"}",
        "{\"name\":\"f2\",\"type\":\"long\"}",
        "{\"name\":\"f3\",\"type\":\"double\",\"default\":1.5}",
        "{\"name\":\"f4\",\"type\":[\"null\",\"int\"],\"default\":null}",
    };
    static const char *subjects[] = {"orders-value", "users-value", "clicks-value"};
    for (size_t i = 0; i < n; i++) {
        char req[64];
        snprintf(req, sizeof req, "%s-%zu", who, i);
        unsigned x = (unsigned)rand_r(&seed);
        const char *subject = subjects[x % 3];
        if (x % 11 == 0) {
            out[i] = mk_config(req, subject, (int)((x / 11) % PB_COMPAT__LEVEL_COUNT));
        } else if (x % 13 == 0) {
            out[i] = mk_delete(req, subject, (int)((x / 13) % 4) + 1, (x / 7) % 2);
        } else {
            char schema[1024] = "{\"type\":\"record\",\"name\":\"E\",\"fields\":[";
            unsigned mask = (x / 3) % 32;
            if (!mask) mask = 1;
            int first = 1;
            for (int f = 0; f < 5; f++)
                if (mask & (1u << f)) {
                    if (!first) strcat(schema, ",");
                    strcat(schema, fields[f]);
                    first = 0;
                }
            strcat(schema, "]}");
            out[i] = mk_register(req, subject, schema);
        }
    }
}

static void assert_unique_ids(const char *dump) {
    json_t *d = json_loads(dump, 0, NULL);
    assert_non_null(d);
    json_t *schemas = json_object_get(d, "schemas");
    for (size_t i = 0; i < json_array_size(schemas); i++) {
        json_t *a = json_array_get(schemas, i);
        assert_int_equal(json_integer_value(json_object_get(a, "id")), (json_int_t)i + 1);
        for (size_t k = i + 1; k < json_array_size(schemas); k++)
            assert_string_not_equal(
                json_string_value(json_object_get(a, "schema")),
                json_string_value(json_object_get(json_array_get(schemas, k), "schema")));
    }
    json_decref(d);
}

static void determinism_two_writers(void **state) {
    (void)state;
    enum { N = 60 };
    char *a[N], *b[N];
    writer_records(7, "A", a, N);
    writer_records(99, "B", b, N);
    unsigned seed = 12345;
    for (int round = 0; round < 25; round++) {
        /* One random interleaving, keeping each writer's order. */
        char *log[2 * N];
        size_t ia = 0, ib = 0, n = 0;
        while (ia < N || ib < N) {
            int pick_a = ib == N || (ia < N && rand_r(&seed) % 2);
            log[n++] = pick_a ? a[ia++] : b[ib++];
        }
        pb_registry_t *r1 = pb_registry_new(), *r2 = pb_registry_new();
        pb_registry_result_t x = {0}, y = {0};
        for (size_t i = 0; i < n; i++) {
            pb_registry_apply(r1, (int64_t)i, log[i], strlen(log[i]), &x);
            pb_registry_apply(r2, (int64_t)i, log[i], strlen(log[i]), &y);
            /* Queries between records must not matter. */
            json_t *q = pb_registry_subjects(r2, 1, NULL);
            json_decref(q);
            assert_string_equal(x.req, y.req);
            assert_int_equal(x.error_code, y.error_code);
            assert_int_equal(x.created, y.created);
            assert_int_equal(x.id, y.id);
            assert_int_equal(x.version, y.version);
            assert_int_equal(x.skipped, 0);
        }
        char *d1 = pb_registry_dump(r1), *d2 = pb_registry_dump(r2);
        assert_string_equal(d1, d2);
        assert_unique_ids(d1);
        /* Replay from the start (a restart) reproduces the same state. */
        pb_registry_t *r3 = pb_registry_new();
        for (size_t i = 0; i < n; i++)
            pb_registry_apply(r3, (int64_t)i, log[i], strlen(log[i]), &x);
        char *d3 = pb_registry_dump(r3);
        assert_string_equal(d1, d3);
        /* Re-reading records already applied (a consumer seek) changes nothing. */
        for (size_t i = 0; i < n; i += 7)
            assert_int_equal(pb_registry_apply(r3, (int64_t)i, log[i], strlen(log[i]), &x), 1);
        free(d3);
        d3 = pb_registry_dump(r3);
        assert_string_equal(d1, d3);
        assert_int_equal(pb_registry_offset(r3), (int64_t)n - 1);
        if (round == 0) assert_true(strlen(d1) > 200);
        free(d1);
        free(d2);
        free(d3);
        pb_registry_result_reset(&x);
        pb_registry_result_reset(&y);
        pb_registry_destroy(r1);
        pb_registry_destroy(r2);
        pb_registry_destroy(r3);
    }
    for (int i = 0; i < N; i++) {
        free(a[i]);
        free(b[i]);
    }
}

/* Two writers race to register incompatible schemas: the one applied second loses, with the real
 * outcome, everywhere. */
static void losing_write(void **state) {
    (void)state;
    char *wa = mk_register("A-1", "s", S_AC);
    char *wb = mk_register("B-1", "s", S_ACDEF);
    char *w0 = mk_register("0", "s", S_A);
    pb_registry_t *r = pb_registry_new();
    pb_registry_result_t res = {0};
    apply_text(r, w0, &res);
    apply_text(r, wb, &res);
    assert_int_equal(status_of(&res), 200);
    assert_string_equal(res.req, "B-1");
    assert_int_equal(set_level(r, "s", PB_COMPAT_BACKWARD_TRANSITIVE), 0);
    apply_text(r, wa, &res);
    assert_string_equal(res.req, "A-1");
    assert_int_equal(status_of(&res), 409);
    pb_registry_result_reset(&res);
    pb_registry_destroy(r);
    free(wa);
    free(wb);
    free(w0);
}

static void skipped_records(void **state) {
    (void)state;
    pb_registry_t *r = mesh();
    char *before = pb_registry_dump(r);
    pb_registry_result_t res = {0};
    static const struct {
        const char *rec, *why;
    } cases[] = {
        {"not json", "not JSON"},
        {"[1,2]", "not a JSON object"},
        {"{\"op\":\"register\"}", "no format version"},
        {"{\"v\":0,\"op\":\"register\"}", "no format version"},
        {"{\"v\":\"1\",\"op\":\"register\"}", "no format version"},
        {"{\"v\":2,\"op\":\"register\",\"req\":\"future\",\"subject\":\"s\",\"schema\":"
         "\"\\\"int\\\"\"}",
         "format v2 is newer"},
        {"{\"v\":1,\"req\":\"r\"}", "no \"op\""},
        {"{\"v\":1,\"op\":\"compact\",\"req\":\"r\"}", "unknown op 'compact'"},
        {"{\"v\":1,\"op\":\"register\",\"subject\":\"s\"}", "malformed register record"},
        {"{\"v\":1,\"op\":\"register\",\"subject\":1,\"schema\":\"\\\"int\\\"\"}",
         "malformed register"},
        {"{\"v\":1,\"op\":\"delete_version\",\"subject\":\"s\",\"version\":0}",
         "malformed delete_version"},
        {"{\"v\":1,\"op\":\"delete_version\",\"subject\":\"s\",\"version\":1,\"permanent\":"
         "\"yes\"}",
         "malformed"},
        {"{\"v\":1,\"op\":\"delete_subject\"}", "malformed delete_subject"},
        {"{\"v\":1,\"op\":\"config\",\"level\":3}", "malformed config"},
        {"{\"v\":1,\"op\":\"product_put\",\"urn\":\"u\",\"descriptor\":[]}",
         "malformed product_put"},
        {"{\"v\":1,\"op\":\"product_delete\"}", "malformed product_delete"},
        {"{\"v\":1,\"op\":\"bind\",\"from\":\"a\"}", "malformed bind"},
        {"{\"v\":1,\"op\":\"bind\",\"from\":\"a\",\"to\":\"b\",\"start\":\"now\"}",
         "malformed bind"},
        {"{\"v\":1,\"op\":\"unbind\",\"id\":\"1\"}", "malformed unbind"},
        {"{\"v\":1,\"op\":\"register\",\"op\":\"config\"}", "not JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_int_equal(apply_text(r, cases[i].rec, &res), 1);
        assert_int_equal(res.skipped, 1);
        assert_int_equal(res.changed, 0);
        assert_int_equal(status_of(&res), 500);
        assert_int_equal(res.error_code, PB_SR_STORE_ERROR);
        contains(res.message, cases[i].why);
    }
    /* The writer of a v2 record still learns its fate by its request id. */
    apply_text(r, cases[5].rec, &res);
    assert_string_equal(res.req, "future");
    assert_int_equal(pb_registry_apply(r, -1, "", 0, &res), 1);
    contains(res.message, "empty record");
    assert_int_equal(pb_registry_skipped_count(r), sizeof cases / sizeof *cases + 2);
    char *after = pb_registry_dump(r);
    assert_string_equal(before, after);
    free(before);
    free(after);
    /* A product_put whose descriptor is invalid is applied as a 422, not skipped. */
    assert_int_equal(
        apply_text(r, "{\"v\":1,\"op\":\"product_put\",\"urn\":\"u\",\"descriptor\":{}}", &res), 0);
    assert_int_equal(status_of(&res), 422);
    contains(res.message, "descriptor u");
    pb_registry_result_reset(&res);
    pb_registry_destroy(r);
}

/* Every op kind in one log; replaying it into a fresh registry reproduces the dump exactly. */
static void replay_all_ops(void **state) {
    (void)state;
    char *log[16];
    size_t n = 0;
    pb_buf_t b = {0};
    pb_err_t err = {0};
    pb_product_t *w = product("com.acme", "weather", 2, OBS(F_ST "," F_TEMP),
                              "\"compatibility\":\"FULL\"", NULL, NULL);
    pb_product_t *t = product("com.acme", "trip", 1, NULL, NULL, OBS(F_ST), NULL);
    assert_int_equal(pb_registry_record_product_put(&b, "p1", w, &err), 0);
    log[n++] = (char *)b.data;
    memset(&b, 0, sizeof b);
    assert_int_equal(pb_registry_record_product_put(&b, "p2", t, &err), 0);
    log[n++] = (char *)b.data;
    memset(&b, 0, sizeof b);
    pb_product_destroy(w);
    pb_product_destroy(t);
    assert_int_equal(pb_registry_record_bind(&b, "b1", OBS_URN, TRIP_IN, NULL, 0, NULL, &err), 0);
    log[n++] = (char *)b.data;
    memset(&b, 0, sizeof b);
    log[n++] = mk_register("r1", OBS_SUBJECT, OBS(F_ST "," F_TEMP "," F_HUM));
    log[n++] = mk_config("c1", NULL, PB_COMPAT_FORWARD);
    log[n++] = mk_delete("d1", OBS_SUBJECT, 1, 0);
    assert_int_equal(pb_registry_record_unbind(&b, "u1", 1, &err), 0);
    log[n++] = (char *)b.data;
    memset(&b, 0, sizeof b);
    assert_int_equal(pb_registry_record_product_delete(&b, "x1", TRIP_URN, &err), 0);
    log[n++] = (char *)b.data;
    memset(&b, 0, sizeof b);
    assert_int_equal(pb_registry_record_delete_subject(&b, "x2", TRIP_IN_SUBJECT, 0, &err), 0);
    log[n++] = (char *)b.data;
    memset(&b, 0, sizeof b);
    pb_registry_t *r1 = pb_registry_new(), *r2 = pb_registry_new();
    pb_registry_result_t res = {0};
    /* d1 deletes a version of a declared port: refused (40910), replayed the same everywhere. */
    static const int want[] = {201, 201, 201, 200, 200, 409, 200, 200, 200};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(pb_registry_apply(r1, (int64_t)i, log[i], strlen(log[i]), &res), 0);
        if (status_of(&res) != want[i])
            fail_msg("record %zu (%s): %d %s", i, log[i], status_of(&res), res.message);
    }
    for (size_t i = 0; i < n; i++)
        pb_registry_apply(r2, (int64_t)i, log[i], strlen(log[i]), &res);
    char *d1 = pb_registry_dump(r1), *d2 = pb_registry_dump(r2);
    assert_string_equal(d1, d2);
    contains(d1, "\"globalLevel\":\"FORWARD\"");
    contains(d1, "\"bindings\":[]");
    free(d1);
    free(d2);
    for (size_t i = 0; i < n; i++)
        free(log[i]);
    pb_registry_result_reset(&res);
    pb_registry_destroy(r1);
    pb_registry_destroy(r2);
}

/* ---- limits ---- */

static void limit_versions(void **state) {
    (void)state;
    pb_registry_t *r = pb_registry_new();
    pb_registry_result_t res = {0};
    assert_int_equal(set_level(r, "s", PB_COMPAT_NONE), 0);
    char schema[64];
    for (int i = 0; i < PB_REGISTRY_MAX_VERSIONS; i++) {
        snprintf(schema, sizeof schema, "{\"type\":\"fixed\",\"name\":\"F\",\"size\":%d}", i + 1);
        reg_ok(r, "s", schema, i + 1, i + 1);
    }
    snprintf(schema, sizeof schema, "{\"type\":\"fixed\",\"name\":\"F\",\"size\":%d}", 99999);
    assert_int_equal(reg(r, "s", schema, &res), 422);
    assert_int_equal(res.error_code, PB_SR_NOT_PERMITTED);
    contains(res.message, "at most 2000");
    /* A registered one still answers. */
    reg_ok(r, "s", "{\"type\":\"fixed\",\"name\":\"F\",\"size\":1}", 1, 1);
    pb_registry_result_reset(&res);
    pb_registry_destroy(r);
}

static void limit_subjects(void **state) {
    (void)state;
    pb_registry_t *r = pb_registry_new();
    char subject[32];
    for (int i = 0; i < PB_REGISTRY_MAX_SUBJECTS; i++) {
        snprintf(subject, sizeof subject, "s%d", i);
        assert_int_equal(set_level(r, subject, PB_COMPAT_FULL), 0);
    }
    assert_int_equal(set_level(r, "one-more", PB_COMPAT_FULL), PB_SR_NOT_PERMITTED);
    pb_registry_result_t res = {0};
    assert_int_equal(reg(r, "one-more", S_A, &res), 422);
    contains(res.message, "at most 10000 subjects");
    /* Existing subjects still take versions. */
    reg_ok(r, "s5", S_A, 1, 1);
    pb_registry_result_reset(&res);
    pb_registry_destroy(r);
}

static void limit_bytes(void **state) {
    (void)state;
    /* A schema beyond PB_REGISTRY_MAX_SCHEMA_BYTES: 42209 from the builder and from apply. */
    pb_buf_t big = {0};
    pb_buf_puts(&big, "{\"type\":\"record\",\"name\":\"Big\",\"fields\":[");
    for (int i = 0; big.len < PB_REGISTRY_MAX_SCHEMA_BYTES + 100; i++)
        pb_buf_printf(
            &big,
            "%s{\"name\":\"field_with_a_long_name_%d\",\"type\":\"string\",\"doc\":\"%0200d\"}",
            i ? "," : "", i, i);
    pb_buf_puts(&big, "]}");
    pb_buf_t b = {0};
    pb_err_t err = {0};
    assert_int_equal(
        pb_registry_record_register(&b, "q", "s", (const char *)big.data, big.len, &err),
        PB_SR_SCHEMA_TOO_LARGE);
    contains(err.msg, "Schema too large");
    json_t *rec = json_pack("{s:i,s:s,s:s,s:s,s:s%}", "v", 1, "op", "register", "req", "q",
                            "subject", "s", "schema", (const char *)big.data, big.len);
    char *text = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    pb_registry_t *r = pb_registry_new();
    pb_registry_result_t res = {0};
    assert_int_equal(apply_text(r, text, &res), 0);
    assert_int_equal(res.error_code, PB_SR_SCHEMA_TOO_LARGE);
    assert_int_equal(status_of(&res), 422);
    free(text);
    /* A record beyond PB_REGISTRY_MAX_RECORD_BYTES is skipped. */
    pb_buf_t huge = {0};
    pb_buf_puts(&huge,
                "{\"v\":1,\"op\":\"register\",\"req\":\"q\",\"subject\":\"s\",\"schema\":\"");
    while (huge.len < PB_REGISTRY_MAX_RECORD_BYTES)
        pb_buf_puts(&huge, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    pb_buf_puts(&huge, "\"}");
    assert_int_equal(pb_registry_apply(r, -1, (const char *)huge.data, huge.len, &res), 1);
    contains(res.message, "larger than");
    pb_buf_free(&huge);
    pb_buf_free(&big);
    pb_registry_result_reset(&res);
    pb_registry_destroy(r);
}

static void names(void **state) {
    (void)state;
    assert_string_equal(pb_registry_op_name(PB_REGISTRY_OP_PRODUCT_PUT), "product_put");
    assert_string_equal(pb_registry_op_name((pb_registry_op_t)99), "none");
    pb_registry_destroy(NULL);
    pb_registry_result_reset(NULL);
}

/* Every compatibility check the registry runs is reported in the result (for
 * portbroker_schema_checks_total): register, product_put and bind, with the level used; none for a
 * schema already live. */
static int checks_total(const pb_registry_result_t *res) {
    int n = 0;
    for (int c = 0; c < 2; c++)
        for (int l = 0; l < PB_COMPAT__LEVEL_COUNT; l++)
            n += res->checks[c][l];
    return n;
}

static void check_counts(void **state) {
    (void)state;
    pb_registry_t *r = pb_registry_new();
    pb_registry_result_t res = {0};
    assert_int_equal(reg(r, "s", S_A, &res), 200);
    assert_int_equal(res.checks[1][PB_COMPAT_BACKWARD], 1);
    assert_int_equal(checks_total(&res), 1);
    assert_int_equal(reg(r, "s", S_A, &res), 200); /* already live: no check */
    assert_true(res.existed);
    assert_int_equal(checks_total(&res), 0);
    assert_int_equal(reg(r, "s", S_AC, &res), 409); /* new field without default */
    assert_int_equal(res.checks[0][PB_COMPAT_BACKWARD], 1);
    assert_int_equal(checks_total(&res), 1);
    assert_int_equal(set_level(r, "s", PB_COMPAT_FULL), 0);
    assert_int_equal(reg(r, "s", S_AB, &res), 200);
    assert_int_equal(res.checks[1][PB_COMPAT_FULL], 1);
    assert_int_equal(checks_total(&res), 1);
    /* product_put: one check per new port schema, at the descriptor's level */
    assert_int_equal(put(r,
                         product("com.acme", "weather", 2, OBS(F_ST "," F_TEMP),
                                 "\"compatibility\":\"FULL_TRANSITIVE\"", NULL, NULL),
                         &res),
                     201);
    assert_int_equal(res.checks[1][PB_COMPAT_FULL_TRANSITIVE], 1);
    assert_int_equal(checks_total(&res), 1);
    pb_registry_result_reset(&res);
    pb_registry_destroy(r);
}

/* DESIGN §5: a declared port's subject and versions cannot be deleted (soft or permanent), through
 * any path; the refusal names the port, its subscribers and the way out, and changes nothing. Once
 * the product is deleted, the subject is an ordinary subject again. */
static void port_subjects_protected(void **state) {
    (void)state;
    pb_registry_t *r = mesh();
    pb_registry_result_t res = {0};
    char *before = pb_registry_dump(r);
    const char *subjects[] = {OBS_SUBJECT, TRIP_IN_SUBJECT};
    for (size_t i = 0; i < 2; i++) {
        for (int perm = 0; perm < 2; perm++) {
            assert_int_equal(del_subject(r, subjects[i], perm, &res), PB_SR_PORT_PROTECTED);
            assert_int_equal(status_of(&res), 409);
            assert_int_equal(del_version(r, subjects[i], -1, perm, &res), PB_SR_PORT_PROTECTED);
            assert_int_equal(del_version(r, subjects[i], 1, perm, &res), PB_SR_PORT_PROTECTED);
        }
    }
    assert_int_equal(del_subject(r, OBS_SUBJECT, 0, &res), PB_SR_PORT_PROTECTED);
    contains(res.message,
             "output port urn:dpds:com.acme:dataproducts:weather:2:outputports:observations");
    contains(res.message, "subscribers: urn:dpds:com.acme:dataproducts:trip:1:inputports:weather");
    contains(res.message, "declared by product urn:dpds:com.acme:dataproducts:weather:2");
    contains(res.message, "new product major");
    assert_int_equal(del_subject(r, TRIP_IN_SUBJECT, 0, &res), PB_SR_PORT_PROTECTED);
    contains(res.message, "input port urn:dpds:com.acme:dataproducts:trip:1:inputports:weather");
    contains(res.message, "subscribers: none");
    char *after = pb_registry_dump(r);
    assert_string_equal(before, after);
    free(before);
    free(after);
    /* Unknown subjects keep Confluent's answer; a non-port subject is deleted as usual. */
    assert_int_equal(del_subject(r, "nope-value", 0, &res), PB_SR_SUBJECT_NOT_FOUND);
    reg_ok(r, "plain-value", "\"string\"", 0, 1);
    assert_int_equal(del_subject(r, "plain-value", 0, &res), 0);
    assert_int_equal(status_of(&res), 200);
    /* The trip product deleted: its input subject is no longer protected. */
    pb_buf_t b = {0};
    pb_err_t err = {0};
    assert_int_equal(pb_registry_record_product_delete(&b, "req-pd", TRIP_URN, &err), 0);
    assert_int_equal(apply_buf(r, &b, &res), 0);
    assert_int_equal(status_of(&res), 200);
    assert_int_equal(del_subject(r, TRIP_IN_SUBJECT, 0, &res), 0);
    assert_int_equal(status_of(&res), 200);
    assert_int_equal(del_subject(r, OBS_SUBJECT, 0, &res), PB_SR_PORT_PROTECTED);
    contains(res.message, "subscribers: none");
    pb_registry_result_reset(&res);
    pb_registry_destroy(r);
}

static int set_mode(pb_registry_t *r, const char *subject, int mode, int force,
                    pb_registry_result_t *res) {
    pb_buf_t b = {0};
    pb_err_t err = {0};
    assert_int_equal(pb_registry_record_mode(&b, "req-mode", subject, mode, force, &err), 0);
    assert_int_equal(apply_buf(r, &b, res), 0);
    assert_int_equal(res->op, PB_REGISTRY_OP_MODE);
    return res->error_code;
}

/* A log written before modes, references and contracts existed replays as it did (same ids, same
 * state); a mode record on top applies; an old broker that meets a mode record skips it (unknown
 * op) rather than misapplying it. Modes hold for every writer: product_put and bind too. */
static void modes_and_old_logs(void **state) {
    (void)state;
    static const char *const old_log[] = {
        "{\"v\":1,\"op\":\"register\",\"req\":\"a\",\"subject\":\"s\",\"schema\":\"\\\"int\\\"\"}",
        "{\"v\":1,\"op\":\"config\",\"req\":\"b\",\"subject\":\"s\",\"level\":\"NONE\"}",
        "{\"v\":1,\"op\":\"register\",\"req\":\"c\",\"subject\":\"s\",\"schema\":\"\\\"long\\\"\"}",
        "{\"v\":1,\"op\":\"delete_version\",\"req\":\"d\",\"subject\":\"s\",\"version\":1,"
        "\"permanent\":false}",
        "{\"v\":1,\"op\":\"register\",\"req\":\"e\",\"subject\":\"t\",\"schema\":\"\\\"int\\\"\"}",
    };
    pb_registry_t *r = pb_registry_new();
    pb_registry_result_t res = {0};
    for (size_t i = 0; i < sizeof old_log / sizeof *old_log; i++) {
        assert_int_equal(pb_registry_apply(r, (int64_t)i, old_log[i], strlen(old_log[i]), &res), 0);
        assert_int_equal(res.error_code, 0);
    }
    assert_versions(r, "s", 1, "[1,2]");
    assert_versions(r, "t", 0, "[1]");
    pb_registry_version_t v;
    pb_err_t err = {0};
    assert_int_equal(pb_registry_get_version(r, "t", 1, 0, &v, &err), 0);
    assert_int_equal(v.id, 1); /* the same schema, the same id, as before */
    assert_null(v.references);
    assert_null(v.metadata);
    assert_null(v.rule_set);
    assert_int_equal(pb_registry_max_id(r), 2);
    assert_int_equal(pb_registry_global_mode(r), PB_REGISTRY_READWRITE);
    int mode = -1;
    assert_int_equal(pb_registry_subject_mode(r, "s", &mode), 0);
    /* A mode record; READONLY refuses the subject's writes, not the others'. */
    assert_int_equal(set_mode(r, "s", PB_REGISTRY_READONLY, 0, &res), 0);
    assert_int_equal(pb_registry_subject_mode(r, "s", &mode), 1);
    assert_int_equal(mode, PB_REGISTRY_READONLY);
    assert_int_equal(pb_registry_effective_mode(r, "s"), PB_REGISTRY_READONLY);
    assert_int_equal(reg(r, "s", "\"float\"", &res), 422);
    assert_int_equal(res.error_code, PB_SR_NOT_PERMITTED);
    contains(res.message, "read-only mode");
    assert_int_equal(del_version(r, "s", 2, 0, &res), PB_SR_NOT_PERMITTED);
    reg_ok(r, "t", "\"float\"", 3, 2);
    /* Unknown to a broker of the previous release: it skips the record (and logs why). */
    char *rec = NULL;
    {
        pb_buf_t b = {0};
        assert_int_equal(pb_registry_record_mode(&b, "q", "t", PB_REGISTRY_IMPORT, 1, &err), 0);
        rec = strndup((const char *)b.data, b.len);
        pb_buf_free(&b);
    }
    contains(rec, "\"op\":\"mode\"");
    contains(rec, "\"mode\":\"IMPORT\"");
    contains(rec, "\"force\":true");
    free(rec);
    /* An invalid mode in a record is a refusal, not a crash; a mode only deletes what is set. */
    const char *bad =
        "{\"v\":1,\"op\":\"mode\",\"req\":\"m\",\"subject\":null,\"mode\":\"FORWARD\"}";
    assert_int_equal(apply_text(r, bad, &res), 0);
    assert_int_equal(res.error_code, PB_SR_INVALID_MODE);
    assert_int_equal(set_mode(r, "t", -1, 0, &res), PB_SR_SUBJECT_NOT_FOUND);
    pb_registry_result_reset(&res);
    pb_registry_destroy(r);

    /* Product writes: a port subject in READONLY or IMPORT mode takes no new version. */
    r = mesh();
    assert_int_equal(set_mode(r, OBS_SUBJECT, PB_REGISTRY_READONLY, 0, &res), 0);
    char *before = pb_registry_dump(r);
    assert_int_equal(
        put(r, product("com.acme", "weather", 2, OBS(F_ST "," F_TEMP "," F_HUM), NULL, NULL, NULL),
            &res),
        422);
    assert_int_equal(res.error_code, PB_SR_NOT_PERMITTED);
    contains(res.message, "is in READONLY mode");
    char *after = pb_registry_dump(r);
    assert_string_equal(before, after);
    free(before);
    free(after);
    /* IMPORT on a port subject with versions needs force; then only explicit ids register. */
    assert_int_equal(set_mode(r, OBS_SUBJECT, -1, 0, &res), 0);
    assert_int_equal(set_mode(r, OBS_SUBJECT, PB_REGISTRY_IMPORT, 0, &res), PB_SR_NOT_PERMITTED);
    contains(res.message, "Cannot import since found existing subjects");
    assert_int_equal(set_mode(r, OBS_SUBJECT, PB_REGISTRY_IMPORT, 1, &res), 0);
    assert_int_equal(
        put(r, product("com.acme", "weather", 2, OBS(F_ST "," F_TEMP "," F_HUM), NULL, NULL, NULL),
            &res),
        422);
    contains(res.message, "is in IMPORT mode");
    pb_registry_result_reset(&res);
    pb_registry_destroy(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(register_ids_and_reuse),
        cmocka_unit_test(invalid_schemas),
        cmocka_unit_test(versions_over_deletes),
        cmocka_unit_test(every_level),
        cmocka_unit_test(config_ops),
        cmocka_unit_test(check_query),
        cmocka_unit_test(products_and_ports),
        cmocka_unit_test(subscriber_aware_register),
        cmocka_unit_test(bind_checks_every_version),
        cmocka_unit_test(pending_binding),
        cmocka_unit_test(determinism_two_writers),
        cmocka_unit_test(losing_write),
        cmocka_unit_test(skipped_records),
        cmocka_unit_test(replay_all_ops),
        cmocka_unit_test(limit_versions),
        cmocka_unit_test(limit_subjects),
        cmocka_unit_test(limit_bytes),
        cmocka_unit_test(names),
        cmocka_unit_test(check_counts),
        cmocka_unit_test(port_subjects_protected),
        cmocka_unit_test(modes_and_old_logs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
