/* Unit tests for sr.c: every Schema Registry route and every error code it answers, through the
 * pure request → reply functions, writes included (build record → apply → complete). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "sr.h"

typedef struct params {
    char buf[512];
    const char *k[8], *v[8];
    int n;
} params_t;

static const char *getp(void *arg, const char *name) {
    params_t *p = arg;
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->k[i], name) == 0) return p->v[i];
    return NULL;
}

static void parse_query(params_t *p, const char *q) {
    memset(p, 0, sizeof *p);
    if (!q) return;
    snprintf(p->buf, sizeof p->buf, "%s", q);
    for (char *save = NULL, *t = strtok_r(p->buf, "&", &save); t && p->n < 8;
         t = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(t, '=');
        if (eq) *eq = '\0';
        p->k[p->n] = t;
        p->v[p->n++] = eq ? eq + 1 : "";
    }
}

static int n_req;
static char last_body[65536];
static int last_outcome;

/* Every record a write produced, in order: a fresh registry replaying them must reach the same
 * state (assert_replays). */
#define LOG_MAX 1024
static char *log_recs[LOG_MAX];
static size_t log_lens[LOG_MAX];
static int n_log;

static void log_reset(void) {
    for (int i = 0; i < n_log; i++)
        free(log_recs[i]);
    n_log = 0;
}

/* One request: a write is applied to r and completed, like the glue does. Returns the status;
 * the body is in last_body. */
static int call(pb_registry_t *r, const char *method, const char *path, const char *query,
                const char *body) {
    params_t p;
    parse_query(&p, query);
    pb_sr_reply_t rep = {0};
    char req[32];
    snprintf(req, sizeof req, "req-%d", ++n_req);
    last_outcome =
        pb_sr_handle(r, method, path, getp, &p, body, body ? strlen(body) : 0, req, &rep);
    if (last_outcome == PB_SR_NOT_MINE) {
        last_body[0] = '\0';
        return 0;
    }
    if (last_outcome == PB_SR_WRITE) {
        assert_non_null(rep.record);
        assert_string_equal(rep.req, req);
        assert_null(rep.body);
        pb_registry_result_t res = {0};
        assert_true(n_log < LOG_MAX);
        log_recs[n_log] = malloc(rep.record_len);
        memcpy(log_recs[n_log], rep.record, rep.record_len);
        log_lens[n_log++] = rep.record_len;
        pb_registry_apply(r, -1, rep.record, rep.record_len, &res);
        assert_string_equal(res.req, req);
        pb_sr_complete(&rep, &res);
        assert_null(rep.record);
        pb_registry_result_reset(&res);
    }
    assert_non_null(rep.body);
    assert_string_equal(rep.content_type, PB_SR_CONTENT_TYPE);
    assert_int_equal(strlen(rep.body), rep.body_len);
    /* Every body is JSON. */
    json_error_t jerr;
    json_t *j = json_loads(rep.body, JSON_DECODE_ANY, &jerr);
    if (!j) fail_msg("reply is not JSON: %s", rep.body);
    json_decref(j);
    snprintf(last_body, sizeof last_body, "%s", rep.body);
    int st = rep.status;
    pb_sr_reply_reset(&rep);
    return st;
}

/* Assert an error reply with this status, code, and a message containing want. */
static void expect_error(int got_status, int status, int code, const char *want) {
    json_t *j = json_loads(last_body, 0, NULL);
    if (got_status != status || !j ||
        json_integer_value(json_object_get(j, "error_code")) != code ||
        !strstr(json_string_value(json_object_get(j, "message")), want))
        fail_msg("want %d %d '%s', got %d %s", status, code, want, got_status, last_body);
    json_decref(j);
}

static void expect_body(const char *want) {
    if (strcmp(last_body, want) != 0) fail_msg("body %s, want %s", last_body, want);
}

static char *schema_body(const char *schema) {
    json_t *j = json_pack("{s:s}", "schema", schema);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static const char *S1 =
    "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}";
static const char *S2 = "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
                        "\"int\"},{\"name\":\"b\",\"type\":\"string\",\"default\":\"x\"}]}";
static const char *S_BAD = "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\","
                           "\"type\":\"int\"},{\"name\":\"c\",\"type\":\"long\"}]}";

static int post_schema(pb_registry_t *r, const char *path, const char *query, const char *schema) {
    char *b = schema_body(schema);
    int st = call(r, "POST", path, query, b);
    free(b);
    return st;
}

static void contains_version(int v);

/* A register reply: Confluent 7.9+'s registered schema, {"id", "version", "schemaType", ...}. */
static void expect_registered(int id) {
    json_t *j = json_loads(last_body, 0, NULL);
    if (!j || json_integer_value(json_object_get(j, "id")) != id ||
        !json_is_integer(json_object_get(j, "version")) ||
        !json_is_string(json_object_get(j, "schemaType")) ||
        strcmp(json_string_value(json_object_get(j, "schemaType")), "AVRO") != 0 ||
        !json_is_string(json_object_get(j, "schema")))
        fail_msg("register reply %s, want id %d with version, schemaType AVRO, schema", last_body,
                 id);
    json_decref(j);
}

static void register_and_read(void **state) {
    (void)state;
    pb_registry_t *r = pb_registry_new();
    /* Register: kafkajs / confluent_kafka body shapes; extra members accepted. */
    char body[1024];
    json_t *js = json_string(S1);
    char *quoted = json_dumps(js, JSON_ENCODE_ANY);
    snprintf(body, sizeof body,
             "{\"schema\":%s,\"schemaType\":\"AVRO\",\"references\":[],\"metadata\":null,"
             "\"ruleSet\":null}",
             quoted);
    free(quoted);
    json_decref(js);
    assert_int_equal(call(r, "POST", "/subjects/orders-value/versions", NULL, body), 200);
    expect_registered(1);
    assert_int_equal(post_schema(r, "/subjects/orders-value/versions", "normalize=False", S1), 200);
    expect_registered(1);
    assert_int_equal(post_schema(r, "/subjects/orders-value/versions/", NULL, S2), 200);
    expect_registered(2);
    /* A subject with an encoded slash and space. */
    assert_int_equal(post_schema(r, "/subjects/team%2Fa%20b/versions", NULL, S2), 200);
    expect_registered(2);
    assert_int_equal(call(r, "GET", "/subjects", NULL, NULL), 200);
    expect_body("[\"orders-value\",\"team/a b\"]");
    assert_int_equal(call(r, "GET", "/subjects", "subjectPrefix=team", NULL), 200);
    expect_body("[\"team/a b\"]");
    assert_int_equal(call(r, "GET", "/subjects/orders-value/versions", NULL, NULL), 200);
    expect_body("[1,2]");
    assert_int_equal(call(r, "GET", "/subjects/orders-value/versions/1", NULL, NULL), 200);
    expect_body("{\"subject\":\"orders-value\",\"version\":1,\"id\":1,\"schemaType\":\"AVRO\","
                "\"schema\":\"{\\\"type\\\":"
                "\\\"record\\\",\\\"name\\\":\\\"R\\\",\\\"fields\\\":[{\\\"name\\\":\\\"a\\\","
                "\\\"type\\\":\\\"int\\\"}]}\"}");
    assert_int_equal(call(r, "GET", "/subjects/orders-value/versions/latest", NULL, NULL), 200);
    contains_version(2);
    assert_int_equal(call(r, "GET", "/subjects/orders-value/versions/-1", NULL, NULL), 200);
    contains_version(2);
    assert_int_equal(call(r, "GET", "/subjects/orders-value/versions/1/schema", NULL, NULL), 200);
    expect_body(S1);
    assert_int_equal(call(r, "GET", "/subjects/orders-value/versions/1/referencedby", NULL, NULL),
                     200);
    expect_body("[]");
    assert_int_equal(call(r, "GET", "/schemas/ids/1", NULL, NULL), 200);
    expect_body("{\"schemaType\":\"AVRO\",\"schema\":\"{\\\"type\\\":\\\"record\\\",\\\"name\\\":"
                "\\\"R\\\",\\\"fields\\\":["
                "{\\\"name\\\":\\\"a\\\",\\\"type\\\":\\\"int\\\"}]}\"}");
    assert_int_equal(call(r, "GET", "/schemas/ids/2/schema", NULL, NULL), 200);
    expect_body(S2);
    assert_int_equal(call(r, "GET", "/schemas/ids/2/versions", NULL, NULL), 200);
    expect_body(
        "[{\"subject\":\"orders-value\",\"version\":2},{\"subject\":\"team/a b\",\"version\":1}]");
    assert_int_equal(call(r, "GET", "/schemas/ids/2/subjects", NULL, NULL), 200);
    expect_body("[\"orders-value\",\"team/a b\"]");
    assert_int_equal(call(r, "GET", "/schemas/types", NULL, NULL), 200);
    expect_body("[\"AVRO\"]");
    /* Lookup. */
    assert_int_equal(post_schema(r, "/subjects/orders-value", NULL, S1), 200);
    expect_body("{\"subject\":\"orders-value\",\"version\":1,\"id\":1,\"schemaType\":\"AVRO\","
                "\"schema\":\"{\\\"type\\\":"
                "\\\"record\\\",\\\"name\\\":\\\"R\\\",\\\"fields\\\":[{\\\"name\\\":\\\"a\\\","
                "\\\"type\\\":\\\"int\\\"}]}\"}");
    assert_int_equal(call(r, "GET", "/mode", NULL, NULL), 200);
    expect_body("{\"mode\":\"READWRITE\"}");
    /* Not ours. */
    assert_int_equal(call(r, "GET", "/v1/ports", NULL, NULL), 0);
    assert_int_equal(last_outcome, PB_SR_NOT_MINE);
    assert_int_equal(call(r, "GET", "/subjectsX", NULL, NULL), 0);
    pb_registry_destroy(r);
}

static void contains_version(int v) {
    char want[32];
    snprintf(want, sizeof want, "\"version\":%d,", v);
    if (!strstr(last_body, want)) fail_msg("%s has no %s", last_body, want);
}

static void error_codes(void **state) {
    (void)state;
    pb_registry_t *r = pb_registry_new();
    post_schema(r, "/subjects/s/versions", NULL, S1);
    int st;
    /* 40401 */
    st = call(r, "GET", "/subjects/nope/versions", NULL, NULL);
    expect_error(st, 404, 40401, "Subject 'nope' not found.");
    st = call(r, "GET", "/subjects/nope/versions/1", NULL, NULL);
    expect_error(st, 404, 40401, "Subject 'nope' not found.");
    st = post_schema(r, "/subjects/nope", NULL, S1);
    expect_error(st, 404, 40401, "not found");
    st = call(r, "DELETE", "/subjects/nope", NULL, NULL);
    expect_error(st, 404, 40401, "Subject 'nope' not found.");
    /* 40402 */
    st = call(r, "GET", "/subjects/s/versions/7", NULL, NULL);
    expect_error(st, 404, 40402, "Version 7 not found.");
    st = call(r, "DELETE", "/subjects/s/versions/7", NULL, NULL);
    expect_error(st, 404, 40402, "Version 7 not found.");
    /* 40403 */
    st = call(r, "GET", "/schemas/ids/99", NULL, NULL);
    expect_error(st, 404, 40403, "Schema 99 not found");
    st = call(r, "GET", "/schemas/ids/abc", NULL, NULL);
    expect_error(st, 404, 40403, "Schema abc not found");
    st = call(r, "GET", "/schemas/ids/99/versions", NULL, NULL);
    expect_error(st, 404, 40403, "Schema 99 not found");
    st = post_schema(r, "/subjects/s", NULL, S2);
    expect_error(st, 404, 40403, "Schema not found");
    /* 42201 */
    st = post_schema(r, "/subjects/s/versions", NULL,
                     "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
                     "\"int\",\"default\":\"x\"}]}");
    expect_error(st, 422, 42201, "/fields/0");
    st = call(r, "POST", "/subjects/s/versions", NULL,
              "{\"schema\":\"{}\",\"schemaType\":\"PROTOBUF\"}");
    expect_error(st, 422, 42201, "Invalid schema type PROTOBUF");
    st = call(r, "POST", "/subjects/s/versions", NULL,
              "{\"schema\":\"\\\"int\\\"\",\"references\":[{\"name\":\"x\",\"subject\":\"y\","
              "\"version\":1}]}");
    expect_error(st, 422, 42201, "reference 0 (\"x\") names subject 'y' version 1, which does not");
    st = call(r, "POST", "/subjects/new/versions", NULL, "{\"schemaType\":\"AVRO\"}");
    expect_error(st, 422, 42201, "Invalid schema: Empty schema");
    st = call(r, "POST", "/subjects/s/versions", NULL, "{\"schema\":{\"type\":\"int\"}}");
    expect_error(st, 422, 42201, "must be a string");
    st = call(r, "POST", "/subjects/s/versions", NULL, NULL);
    expect_error(st, 422, 42201, "no body");
    st = call(r, "POST", "/subjects/s/versions", NULL, "{\"schema\":");
    expect_error(st, 400, 400, "Invalid request body");
    st = call(r, "POST", "/subjects/s/versions", NULL, "[1]");
    expect_error(st, 400, 400, "JSON object");
    /* 42202 */
    st = call(r, "GET", "/subjects/s/versions/abc", NULL, NULL);
    expect_error(st, 422, 42202, "The specified version 'abc' is not a valid version id");
    st = call(r, "GET", "/subjects/s/versions/0", NULL, NULL);
    expect_error(st, 422, 42202, "'0'");
    st = call(r, "GET", "/subjects/s/versions/2147483648", NULL, NULL);
    expect_error(st, 422, 42202, "[1, 2^31-1]");
    st = call(r, "DELETE", "/subjects/s/versions/-2", NULL, NULL);
    expect_error(st, 422, 42202, "'-2'");
    st = call(r, "GET", "/subjects/s/versions/2147483647", NULL, NULL);
    expect_error(st, 404, 40402, "Version 2147483647 not found.");
    /* 42203 */
    st = call(r, "PUT", "/config", NULL, "{\"compatibility\":\"SIDEWAYS\"}");
    expect_error(st, 422, 42203, "Invalid compatibility level");
    st = call(r, "PUT", "/config/s", NULL, "not json");
    expect_error(st, 422, 42203, "Invalid compatibility level");
    /* 42208 */
    st = post_schema(r, "/subjects/a%0Ab/versions", NULL, S1);
    expect_error(st, 422, 42208, "control character");
    /* 409 */
    st = post_schema(r, "/subjects/s/versions", NULL, S_BAD);
    expect_error(
        st, 409, 409,
        "Schema being registered is incompatible with an earlier schema for subject \"s\"");
    expect_error(st, 409, 409, "READER_FIELD_MISSING_DEFAULT_VALUE");
    /* 40408 */
    st = call(r, "GET", "/config/s", NULL, NULL);
    expect_error(st, 404, 40408,
                 "Subject 's' does not have subject-level compatibility configured");
    /* 405 / 404 */
    st = call(r, "PUT", "/subjects", NULL, NULL);
    expect_error(st, 405, 405, "Method Not Allowed");
    st = call(r, "GET", "/subjects/s/things", NULL, NULL);
    expect_error(st, 404, 404, "Not Found");
    st = call(r, "GET", "/subjects/s/versions/1/x", NULL, NULL);
    expect_error(st, 404, 404, "Not Found");
    st = call(r, "GET", "/subjects/%zz/versions", NULL, NULL);
    expect_error(st, 404, 404, "bad path");
    st = call(r, "GET", "/config/a/b", NULL, NULL);
    expect_error(st, 404, 404, "Not Found");
    st = call(r, "GET", "/compatibility/subjects/s/versions", NULL, NULL);
    expect_error(st, 405, 405, "Method Not Allowed");
    st = call(r, "DELETE", "/schemas/ids/1", NULL, NULL);
    expect_error(st, 405, 405, "Method Not Allowed");
    pb_registry_destroy(r);
}

static void deletes(void **state) {
    (void)state;
    pb_registry_t *r = pb_registry_new();
    call(r, "PUT", "/config/s", NULL, "{\"compatibility\":\"NONE\"}");
    post_schema(r, "/subjects/s/versions", NULL, S1);
    post_schema(r, "/subjects/s/versions", NULL, S2);
    post_schema(r, "/subjects/s/versions", NULL, S_BAD);
    int st = call(r, "DELETE", "/subjects/s/versions/2", NULL, NULL);
    assert_int_equal(st, 200);
    expect_body("2");
    st = call(r, "DELETE", "/subjects/s/versions/2", NULL, NULL);
    expect_error(st, 404, 40406, "Subject 's' Version 2 was soft deleted");
    st = call(r, "DELETE", "/subjects/s/versions/1", "permanent=true", NULL);
    expect_error(st, 404, 40407,
                 "Subject 's' Version 1 was not deleted first before being permanently deleted");
    assert_int_equal(call(r, "GET", "/subjects/s/versions", NULL, NULL), 200);
    expect_body("[1,3]");
    assert_int_equal(call(r, "GET", "/subjects/s/versions", "deleted=TRUE", NULL), 200);
    expect_body("[1,2,3]");
    st = call(r, "GET", "/subjects/s/versions/2", NULL, NULL);
    expect_error(st, 404, 40402, "Version 2 not found.");
    assert_int_equal(call(r, "GET", "/subjects/s/versions/2", "deleted=true", NULL), 200);
    assert_int_equal(post_schema(r, "/subjects/s", "deleted=true", S2), 200);
    st = post_schema(r, "/subjects/s", NULL, S2);
    expect_error(st, 404, 40403, "Schema not found");
    /* The id of a soft-deleted version still resolves; its versions show with deleted=true. */
    assert_int_equal(call(r, "GET", "/schemas/ids/2", NULL, NULL), 200);
    assert_int_equal(call(r, "GET", "/schemas/ids/2/versions", NULL, NULL), 200);
    expect_body("[]");
    assert_int_equal(call(r, "GET", "/schemas/ids/2/versions", "deleted=true", NULL), 200);
    expect_body("[{\"subject\":\"s\",\"version\":2}]");
    assert_int_equal(call(r, "DELETE", "/subjects/s/versions/2", "permanent=true", NULL), 200);
    expect_body("2");
    assert_int_equal(call(r, "DELETE", "/subjects/s/versions/latest", NULL, NULL), 200);
    expect_body("3");
    st = call(r, "DELETE", "/subjects/s", "permanent=true", NULL);
    expect_error(st, 404, 40405,
                 "Subject 's' was not deleted first before being permanently deleted");
    assert_int_equal(call(r, "DELETE", "/subjects/s", NULL, NULL), 200);
    expect_body("[1]");
    st = call(r, "DELETE", "/subjects/s", NULL, NULL);
    expect_error(st, 404, 40404, "Subject 's' was soft deleted");
    assert_int_equal(call(r, "GET", "/subjects", NULL, NULL), 200);
    expect_body("[]");
    assert_int_equal(call(r, "GET", "/subjects", "deleted=true", NULL), 200);
    expect_body("[\"s\"]");
    assert_int_equal(call(r, "DELETE", "/subjects/s", "permanent=true", NULL), 200);
    expect_body("[1,3]");
    st = call(r, "GET", "/subjects/s/versions", "deleted=true", NULL);
    expect_error(st, 404, 40401, "Subject 's' not found.");
    st = call(r, "GET", "/schemas/ids/1", NULL, NULL);
    expect_error(st, 404, 40403, "Schema 1 not found");
    pb_registry_destroy(r);
}

static void config_routes(void **state) {
    (void)state;
    pb_registry_t *r = pb_registry_new();
    assert_int_equal(call(r, "GET", "/config", NULL, NULL), 200);
    expect_body("{\"compatibilityLevel\":\"BACKWARD\"}");
    assert_int_equal(call(r, "PUT", "/config", NULL, "{\"compatibility\":\"full\"}"), 200);
    expect_body("{\"compatibility\":\"FULL\"}");
    assert_int_equal(call(r, "GET", "/config", "defaultToGlobal=true", NULL), 200);
    expect_body("{\"compatibilityLevel\":\"FULL\"}");
    int st = call(r, "GET", "/config/s", NULL, NULL);
    expect_error(st, 404, 40408, "subject-level compatibility");
    assert_int_equal(call(r, "GET", "/config/s", "defaultToGlobal=TRUE", NULL), 200);
    expect_body("{\"compatibilityLevel\":\"FULL\"}");
    assert_int_equal(
        call(r, "PUT", "/config/s", NULL, "{\"compatibility\":\"BACKWARD_TRANSITIVE\"}"), 200);
    expect_body("{\"compatibility\":\"BACKWARD_TRANSITIVE\"}");
    assert_int_equal(call(r, "GET", "/config/s", NULL, NULL), 200);
    expect_body("{\"compatibilityLevel\":\"BACKWARD_TRANSITIVE\"}");
    assert_int_equal(call(r, "DELETE", "/config/s", NULL, NULL), 200);
    expect_body("{\"compatibilityLevel\":\"BACKWARD_TRANSITIVE\"}");
    st = call(r, "DELETE", "/config/s", NULL, NULL);
    expect_error(st, 404, 40401, "Subject 's' not found.");
    assert_int_equal(call(r, "DELETE", "/config", NULL, NULL), 200);
    expect_body("{\"compatibilityLevel\":\"FULL\"}");
    assert_int_equal(call(r, "GET", "/config", NULL, NULL), 200);
    expect_body("{\"compatibilityLevel\":\"BACKWARD\"}");
    st = call(r, "POST", "/config", NULL, NULL);
    expect_error(st, 405, 405, "Method Not Allowed");
    pb_registry_destroy(r);
}

static void compatibility_routes(void **state) {
    (void)state;
    pb_registry_t *r = pb_registry_new();
    /* No versions: compatible. */
    assert_int_equal(post_schema(r, "/compatibility/subjects/s/versions/latest", NULL, S_BAD), 200);
    expect_body("{\"is_compatible\":true}");
    post_schema(r, "/subjects/s/versions", NULL, S1);
    assert_int_equal(post_schema(r, "/compatibility/subjects/s/versions/latest", NULL, S2), 200);
    expect_body("{\"is_compatible\":true}");
    assert_int_equal(post_schema(r, "/compatibility/subjects/s/versions/latest", NULL, S_BAD), 200);
    expect_body("{\"is_compatible\":false}");
    assert_int_equal(post_schema(r, "/compatibility/subjects/s/versions/1", "verbose=True", S_BAD),
                     200);
    json_t *j = json_loads(last_body, 0, NULL);
    assert_false(json_is_true(json_object_get(j, "is_compatible")));
    json_t *m = json_object_get(j, "messages");
    assert_int_equal(json_array_size(m), 4);
    assert_non_null(strstr(json_string_value(json_array_get(m, 0)),
                           "errorType:'READER_FIELD_MISSING_DEFAULT_VALUE'"));
    assert_string_equal(json_string_value(json_array_get(m, 1)), "{oldSchemaVersion: 1}");
    assert_non_null(strstr(json_string_value(json_array_get(m, 2)), "{oldSchema: '{"));
    assert_string_equal(json_string_value(json_array_get(m, 3)), "{compatibility: 'BACKWARD'}");
    json_decref(j);
    assert_int_equal(post_schema(r, "/compatibility/subjects/s/versions", "verbose=true", S2), 200);
    expect_body("{\"is_compatible\":true,\"messages\":[]}");
    int st = post_schema(r, "/compatibility/subjects/s/versions/7", NULL, S2);
    expect_error(st, 404, 40402, "Version 7 not found.");
    st = post_schema(r, "/compatibility/subjects/s/versions/x", NULL, S2);
    expect_error(st, 422, 42202, "'x'");
    st = post_schema(r, "/compatibility/subjects/s/versions", NULL, "{\"type\":\"nope\"}");
    expect_error(st, 422, 42201, "Invalid schema");
    assert_int_equal(
        post_schema(r, "/compatibility/subjects/s/versions", "verbose=true", "{\"type\":\"nope\"}"),
        200);
    assert_non_null(strstr(last_body, "\"is_compatible\":false"));
    assert_non_null(strstr(last_body, "Invalid schema"));
    st = post_schema(r, "/compatibility/subjects/s", NULL, S2);
    expect_error(st, 404, 404, "Not Found");
    pb_registry_destroy(r);
}

static void write_failures(void **state) {
    (void)state;
    pb_registry_t *r = pb_registry_new();
    params_t p;
    parse_query(&p, NULL);
    char *b = schema_body(S1);
    pb_sr_reply_t rep = {0};
    assert_int_equal(
        pb_sr_handle(r, "POST", "/subjects/s/versions", getp, &p, b, strlen(b), "req-x", &rep),
        PB_SR_WRITE);
    assert_int_equal(rep.op, PB_REGISTRY_OP_REGISTER);
    /* Kafka failed: the glue turns the pending write into a 50001. */
    pb_sr_fail(&rep, PB_SR_STORE_ERROR,
               "Register schema operation failed while writing to the Kafka store");
    assert_int_equal(rep.status, 500);
    assert_null(rep.record);
    assert_non_null(strstr(rep.body, "\"error_code\":50001"));
    pb_sr_reply_reset(&rep);
    /* A record the registry skipped answers 50001 with the reason. */
    assert_int_equal(
        pb_sr_handle(r, "POST", "/subjects/s/versions", getp, &p, b, strlen(b), "req-y", &rep),
        PB_SR_WRITE);
    pb_registry_result_t res = {0};
    pb_registry_apply(r, -1, "{\"v\":9,\"req\":\"req-y\"}", 21, &res);
    assert_int_equal(res.skipped, 1);
    pb_sr_complete(&rep, &res);
    assert_int_equal(rep.status, 500);
    assert_non_null(strstr(rep.body, "\"error_code\":50001"));
    assert_non_null(strstr(rep.body, "newer"));
    pb_registry_result_reset(&res);
    pb_sr_reply_reset(&rep);
    pb_sr_reply_reset(NULL);
    /* A bad request id is a store error before anything is written. */
    assert_int_equal(
        pb_sr_handle(r, "POST", "/subjects/s/versions", getp, &p, b, strlen(b), "", &rep),
        PB_SR_REPLY);
    assert_int_equal(rep.status, 500);
    pb_sr_reply_reset(&rep);
    free(b);
    pb_registry_destroy(r);
}

/* The log so far, replayed into a new registry, gives the same state (modes, imports, references
 * and contracts are pure functions of the log, like everything else). Resets the log. */
static void assert_replays(const pb_registry_t *r) {
    pb_registry_t *again = pb_registry_new();
    pb_registry_result_t res = {0};
    for (int i = 0; i < n_log; i++) {
        assert_int_equal(pb_registry_apply(again, i, log_recs[i], log_lens[i], &res), 0);
        pb_registry_result_reset(&res);
    }
    char *a = pb_registry_dump(r), *b = pb_registry_dump(again);
    assert_string_equal(a, b);
    free(a);
    free(b);
    pb_registry_destroy(again);
    log_reset();
}

static void modes_routes(void **state) {
    (void)state;
    log_reset();
    pb_registry_t *r = pb_registry_new();
    int st = call(r, "GET", "/mode/s", NULL, NULL);
    expect_error(st, 404, 40409, "Subject 's' does not have subject-level mode configured");
    assert_int_equal(call(r, "GET", "/mode/s", "defaultToGlobal=true", NULL), 200);
    expect_body("{\"mode\":\"READWRITE\"}");
    st = call(r, "PUT", "/mode", NULL, "{\"mode\":\"WRITEONLY\"}");
    expect_error(st, 422, 42204, "Invalid mode");
    st = call(r, "PUT", "/mode", NULL, "[1]");
    expect_error(st, 422, 42204, "Invalid mode");
    post_schema(r, "/subjects/s/versions", NULL, S1);
    /* READONLY: writes refused, an already registered schema still answers its id. */
    assert_int_equal(call(r, "PUT", "/mode/s", NULL, "{\"mode\":\"readonly\"}"), 200);
    expect_body("{\"mode\":\"READONLY\"}");
    st = post_schema(r, "/subjects/s/versions", NULL, S2);
    expect_error(st, 422, 42205, "Subject s in context . is in read-only mode");
    assert_int_equal(post_schema(r, "/subjects/s/versions", NULL, S1), 200);
    expect_registered(1);
    st = call(r, "DELETE", "/subjects/s", NULL, NULL);
    expect_error(st, 422, 42205, "read-only");
    st = call(r, "PUT", "/config/s", NULL, "{\"compatibility\":\"NONE\"}");
    expect_error(st, 422, 42205, "read-only");
    assert_int_equal(call(r, "DELETE", "/mode/s", NULL, NULL), 200);
    expect_body("{\"mode\":\"READONLY\"}");
    st = call(r, "DELETE", "/mode/s", NULL, NULL);
    expect_error(st, 404, 40401, "Subject 's' not found.");
    /* IMPORT: needs an empty subject unless forced; then ids and versions as given. */
    st = call(r, "PUT", "/mode/s", NULL, "{\"mode\":\"IMPORT\"}");
    expect_error(st, 422, 42205, "Cannot import since found existing subjects");
    assert_int_equal(call(r, "PUT", "/mode/s", "force=true", "{\"mode\":\"IMPORT\"}"), 200);
    st = post_schema(r, "/subjects/s/versions", NULL, S2);
    expect_error(st, 422, 42205, "not in read-write mode");
    char body[512];
    json_t *js = json_string(S2);
    char *q = json_dumps(js, JSON_ENCODE_ANY);
    json_decref(js);
    snprintf(body, sizeof body, "{\"schema\":%s,\"id\":100,\"version\":5}", q);
    assert_int_equal(call(r, "POST", "/subjects/s/versions", NULL, body), 200);
    expect_registered(100);
    assert_int_equal(call(r, "GET", "/subjects/s/versions", NULL, NULL), 200);
    expect_body("[1,5]");
    assert_int_equal(call(r, "POST", "/subjects/s/versions", NULL, body), 200); /* idempotent */
    expect_registered(100);
    snprintf(body, sizeof body, "{\"schema\":%s,\"id\":1,\"version\":6}", q);
    st = call(r, "POST", "/subjects/s/versions", NULL, body); /* id 1 holds S1 */
    expect_error(st, 422, 42205, "Overwrite new schema with id 1");
    free(q);
    assert_int_equal(call(r, "PUT", "/mode/s", NULL, "{\"mode\":\"READWRITE\"}"), 200);
    st = call(r, "POST", "/subjects/t/versions", NULL, "{\"schema\":\"\\\"int\\\"\",\"id\":5}");
    expect_error(st, 422, 42205, "not in import mode");
    /* New ids continue above the imported ones. */
    assert_int_equal(post_schema(r, "/subjects/t/versions", NULL, "\"int\""), 200);
    expect_registered(101);
    /* Global mode. */
    st = call(r, "PUT", "/mode", NULL, "{\"mode\":\"IMPORT\"}");
    expect_error(st, 422, 42205, "Cannot import");
    assert_int_equal(call(r, "PUT", "/mode", NULL, "{\"mode\":\"READONLY\"}"), 200);
    st = post_schema(r, "/subjects/u/versions", NULL, "\"long\"");
    expect_error(st, 422, 42205, "read-only");
    st = call(r, "PUT", "/config", NULL, "{\"compatibility\":\"NONE\"}");
    expect_error(st, 422, 42205, "read-only");
    assert_int_equal(call(r, "GET", "/mode/u", "defaultToGlobal=true", NULL), 200);
    expect_body("{\"mode\":\"READONLY\"}");
    assert_int_equal(call(r, "DELETE", "/mode", NULL, NULL), 200);
    expect_body("{\"mode\":\"READONLY\"}");
    assert_int_equal(call(r, "GET", "/mode", NULL, NULL), 200);
    expect_body("{\"mode\":\"READWRITE\"}");
    /* A subject's mode goes with its last version (Confluent). */
    assert_int_equal(call(r, "PUT", "/mode/t", NULL, "{\"mode\":\"READWRITE\"}"), 200);
    assert_int_equal(call(r, "DELETE", "/subjects/t", NULL, NULL), 200);
    assert_int_equal(call(r, "DELETE", "/subjects/t", "permanent=true", NULL), 200);
    st = call(r, "GET", "/mode/t", NULL, NULL);
    expect_error(st, 404, 40409, "mode");
    assert_replays(r);
    pb_registry_destroy(r);
}

static const char *MONEY = "{\"type\":\"record\",\"name\":\"Money\",\"namespace\":\"m\",\"fields\":"
                           "[{\"name\":\"cents\",\"type\":\"long\"}]}";

static void references_routes(void **state) {
    (void)state;
    log_reset();
    pb_registry_t *r = pb_registry_new();
    post_schema(r, "/subjects/money/versions", NULL, MONEY);
    const char *ref_body =
        "{\"schema\":\"{\\\"type\\\":\\\"record\\\",\\\"name\\\":\\\"Order\\\","
        "\\\"fields\\\":[{\\\"name\\\":\\\"total\\\",\\\"type\\\":\\\"m.Money\\\"}"
        "]}\",\"references\":[{\"name\":\"m.Money\",\"subject\":\"money\","
        "\"version\":1}]}";
    assert_int_equal(call(r, "POST", "/subjects/order/versions", NULL, ref_body), 200);
    expect_registered(2);
    /* Stored as its own text, the referenced type by name; resolved for checks and the codec. */
    assert_int_equal(call(r, "GET", "/schemas/ids/2", NULL, NULL), 200);
    expect_body("{\"schemaType\":\"AVRO\",\"schema\":\"{\\\"type\\\":\\\"record\\\",\\\"name\\\":"
                "\\\"Order\\\",\\\"fields\\\":[{\\\"name\\\":\\\"total\\\",\\\"type\\\":"
                "\\\"m.Money\\\"}]}\",\"references\":[{\"name\":\"m.Money\",\"subject\":\"money\","
                "\"version\":1}]}");
    const pb_schema_t *parsed = NULL;
    pb_err_t err = {0};
    assert_int_equal(pb_registry_schema_by_id(r, 2, NULL, &parsed, &err), 0);
    const pb_schema_node_t *money = pb_schema_lookup(parsed, "m.Money");
    assert_non_null(money);
    assert_int_equal(money->n_fields, 1);
    assert_string_equal(pb_schema_canonical(parsed),
                        "{\"name\":\"Order\",\"type\":\"record\",\"fields\":[{\"name\":\"total\","
                        "\"type\":{\"name\":\"m.Money\",\"type\":\"record\",\"fields\":[{\"name\":"
                        "\"cents\",\"type\":\"long\"}]}}]}");
    assert_int_equal(call(r, "POST", "/subjects/order", NULL, ref_body), 200);
    contains_version(1);
    assert_int_equal(call(r, "GET", "/subjects/money/versions/1/referencedby", NULL, NULL), 200);
    expect_body("[2]");
    /* Without the reference the type is unknown; a reference to nothing is named. */
    int st =
        call(r, "POST", "/subjects/order2/versions", NULL,
             "{\"schema\":\"{\\\"type\\\":\\\"record\\\",\\\"name\\\":\\\"O\\\",\\\"fields\\\":"
             "[{\\\"name\\\":\\\"t\\\",\\\"type\\\":\\\"m.Money\\\"}]}\"}");
    expect_error(st, 422, 42201, "unknown type \"m.Money\"");
    st = call(r, "POST", "/subjects/order2/versions", NULL,
              "{\"schema\":\"\\\"int\\\"\",\"references\":[{\"name\":\"m.Money\",\"subject\":"
              "\"money\",\"version\":2}]}");
    expect_error(st, 422, 42201, "names subject 'money' version 2, which does not exist");
    /* Compatibility of the referrer sees the referenced fields: a required field added to Money
     * (a new money version) makes a new Order version unreadable for BACKWARD. */
    call(r, "PUT", "/config/money", NULL, "{\"compatibility\":\"NONE\"}");
    post_schema(r, "/subjects/money/versions", NULL,
                "{\"type\":\"record\",\"name\":\"Money\",\"namespace\":\"m\",\"fields\":[{\"name\":"
                "\"cents\",\"type\":\"long\"},{\"name\":\"cur\",\"type\":\"string\"}]}");
    const char *v2 =
        "{\"schema\":\"{\\\"type\\\":\\\"record\\\",\\\"name\\\":\\\"Order\\\","
        "\\\"fields\\\":[{\\\"name\\\":\\\"total\\\",\\\"type\\\":\\\"m.Money\\\"}]}\","
        "\"references\":[{\"name\":\"m.Money\",\"subject\":\"money\",\"version\":2}]}";
    st = call(r, "POST", "/subjects/order/versions", NULL, v2);
    expect_error(st, 409, 409, "READER_FIELD_MISSING_DEFAULT_VALUE");
    expect_error(st, 409, 409, "{oldSchemaVersion: 1}");
    /* Deletes of a referenced version: 42206; soft-deleted referrers still count for a permanent
     * delete. */
    st = call(r, "DELETE", "/subjects/money/versions/1", NULL, NULL);
    expect_error(st, 422, 42206, "subject=money,version=1");
    st = call(r, "DELETE", "/subjects/money", NULL, NULL);
    expect_error(st, 422, 42206, "One or more references exist");
    assert_int_equal(call(r, "DELETE", "/subjects/order/versions/1", NULL, NULL), 200);
    assert_int_equal(call(r, "GET", "/subjects/money/versions/1/referencedby", NULL, NULL), 200);
    expect_body("[]");
    assert_int_equal(call(r, "DELETE", "/subjects/money/versions/1", NULL, NULL), 200);
    st = call(r, "DELETE", "/subjects/money/versions/1", "permanent=true", NULL);
    expect_error(st, 422, 42206, "permanently");
    assert_int_equal(call(r, "DELETE", "/subjects/order/versions/1", "permanent=true", NULL), 200);
    assert_int_equal(call(r, "DELETE", "/subjects/money/versions/1", "permanent=true", NULL), 200);
    assert_replays(r);
    pb_registry_destroy(r);
}

static void contracts_and_listings(void **state) {
    (void)state;
    log_reset();
    pb_registry_t *r = pb_registry_new();
    assert_int_equal(call(r, "POST", "/subjects/c/versions", NULL,
                          "{\"schema\":\"\\\"string\\\"\",\"metadata\":{\"properties\":{\"o\":"
                          "\"x\"}},\"ruleSet\":{\"domainRules\":[{\"name\":\"r\",\"type\":"
                          "\"CEL\",\"expr\":\"true\"}]}}"),
                     200);
    expect_registered(1);
    assert_non_null(strstr(last_body, "\"ruleSet\":{\"domainRules\":[{\"name\":\"r\",\"type\":"
                                      "\"CEL\",\"expr\":\"true\",\"kind\":\"TRANSFORM\","
                                      "\"mode\":\"WRITEREAD\"}]}"));
    pb_registry_version_t v;
    pb_err_t err = {0};
    assert_int_equal(pb_registry_get_version(r, "c", 1, 0, &v, &err), 0);
    assert_int_equal(pb_registry_rule_count(v.rule_set), 1);
    assert_int_equal(pb_registry_rule_count(NULL), 0);
    /* Inherited by a registration without them; the same text with other metadata is another id. */
    assert_int_equal(post_schema(r, "/subjects/c/versions", NULL, "\"string\""), 200);
    expect_registered(1);
    assert_int_equal(call(r, "POST", "/subjects/c/versions", NULL,
                          "{\"schema\":\"\\\"string\\\"\",\"metadata\":{\"properties\":{\"o\":"
                          "\"y\"}}}"),
                     200);
    expect_registered(2);
    contains_version(2);
    int st =
        call(r, "POST", "/subjects/c/versions", NULL,
             "{\"schema\":\"\\\"string\\\"\",\"ruleSet\":{\"domainRules\":[{\"name\":\"r\"}]}}");
    expect_error(st, 422, 42210, "Missing rule type");
    st = call(r, "POST", "/subjects/c/versions", NULL,
              "{\"schema\":\"\\\"string\\\"\",\"metadata\":{\"sensitive\":[1]}}");
    expect_error(st, 422, 42201, "/metadata/sensitive/0 must be a string");
    /* Listings: offset/limit, deletedOnly, GET /schemas, fetchMaxId. */
    post_schema(r, "/subjects/d/versions", NULL, "\"int\"");
    assert_int_equal(call(r, "GET", "/subjects", "offset=1&limit=1", NULL), 200);
    expect_body("[\"d\"]");
    assert_int_equal(call(r, "GET", "/subjects", "limit=0", NULL), 200);
    expect_body("[]");
    st = call(r, "GET", "/subjects", "offset=1x", NULL);
    expect_error(st, 400, 400, "Invalid offset '1x'");
    assert_int_equal(call(r, "DELETE", "/subjects/c/versions/1", NULL, NULL), 200);
    assert_int_equal(call(r, "GET", "/subjects/c/versions", "deletedOnly=true", NULL), 200);
    expect_body("[1]");
    assert_int_equal(call(r, "GET", "/schemas", "latestOnly=true", NULL), 200);
    json_t *j = json_loads(last_body, 0, NULL);
    assert_int_equal(json_array_size(j), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "schemaType")),
                        "AVRO");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 0), "version")), 2);
    json_decref(j);
    assert_int_equal(call(r, "GET", "/schemas", "subjectPrefix=c&deleted=true", NULL), 200);
    j = json_loads(last_body, 0, NULL);
    assert_int_equal(json_array_size(j), 2);
    json_decref(j);
    assert_int_equal(call(r, "GET", "/schemas/ids/1", "fetchMaxId=true", NULL), 200);
    assert_non_null(strstr(last_body, "\"maxId\":3"));
    /* Lookup without a schema: 40403 on a subject, 40401 without one. */
    st = call(r, "POST", "/subjects/d", NULL, "{\"schema\":\"\"}");
    expect_error(st, 404, 40403, "Schema not found");
    st = call(r, "POST", "/subjects/zz", NULL, "{}");
    expect_error(st, 404, 40401, "Subject 'zz' not found.");
    /* PUT /config {} answers the level unchanged. */
    assert_int_equal(call(r, "PUT", "/config", NULL, "{}"), 200);
    expect_body("{\"compatibility\":\"BACKWARD\"}");
    assert_int_equal(call(r, "PUT", "/config/d", NULL, "{}"), 200);
    expect_body("{}");
    st = call(r, "GET", "/config/d", NULL, NULL);
    expect_error(st, 404, 40408, "compatibility");
    assert_replays(r);
    pb_registry_destroy(r);
}

/* Error codes become HTTP statuses in one place (the registry only names outcomes). */
static void http_statuses(void **state) {
    (void)state;
    static const struct {
        int code, status;
    } cases[] = {
        {0, 200},
        {PB_SR_SUBJECT_NOT_FOUND, 404},
        {PB_SR_VERSION_NOT_FOUND, 404},
        {PB_SR_INVALID_SCHEMA, 422},
        {PB_SR_SCHEMA_TOO_LARGE, 422},
        {PB_SR_STORE_ERROR, 500},
        {PB_SR_INCOMPATIBLE, 409},
        {PB_SR_PORT_PROTECTED, 409},
        {PB_SR_NOT_FOUND, 404},
        {PB_SR_FORBIDDEN, 403},
        {PB_SR_INVALID, 422},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (pb_sr_http_status(cases[i].code) != cases[i].status)
            fail_msg("code %d: status %d, want %d", cases[i].code, pb_sr_http_status(cases[i].code),
                     cases[i].status);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(http_statuses),     cmocka_unit_test(register_and_read),
        cmocka_unit_test(error_codes),       cmocka_unit_test(deletes),
        cmocka_unit_test(config_routes),     cmocka_unit_test(compatibility_routes),
        cmocka_unit_test(write_failures),    cmocka_unit_test(modes_routes),
        cmocka_unit_test(references_routes), cmocka_unit_test(contracts_and_listings),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    log_reset();
    return rc;
}
