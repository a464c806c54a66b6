/* Unit tests for addr.c: URN and short-form parsing and formatting, every rejection with its
 * message, access patterns, Kafka topic naming and validation (the 249 limit exactly). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

/* Assert that parsing s fails and the message contains want. */
static void reject(const char *s, const char *default_ns, const char *want) {
    pb_addr_t a;
    pb_err_t err = {0};
    int rc = pb_addr_parse(s, default_ns, &a, &err);
    if (rc != PB_ERR_INVALID || !strstr(err.msg, want)) {
        print_error("input: %s\nmessage: %s\nwanted: %s\n", s, err.msg, want);
        fail();
    }
}

static void roundtrip(const char *urn) {
    pb_addr_t a;
    pb_err_t err = {0};
    char out[PB_ADDR_URN_MAX];
    if (pb_addr_parse(urn, NULL, &a, &err)) {
        print_error("%s: %s\n", urn, err.msg);
        fail();
    }
    assert_int_equal(pb_addr_format(&a, out, sizeof out), strlen(urn));
    assert_string_equal(out, urn);
}

static void product_urn(void **state) {
    (void)state;
    pb_addr_t a;
    pb_err_t err = {0};
    assert_int_equal(
        pb_addr_parse("urn:dpds:com.acme:dataproducts:tripExecution:1", NULL, &a, &err), 0);
    assert_string_equal(a.ns, "com.acme");
    assert_string_equal(a.product, "tripExecution");
    assert_int_equal(a.major, 1);
    assert_int_equal(a.is_port, 0);
    roundtrip("urn:dpds:com.acme:dataproducts:tripExecution:1");
    roundtrip("urn:dpds:local:dataproducts:a:0");
    roundtrip("urn:dpds:de.my-org.data_team:dataproducts:x_y-z9:1000000");
    roundtrip("urn:dpds:0.1a:dataproducts:Q:42");
}

static void port_urn(void **state) {
    (void)state;
    pb_addr_t a;
    pb_err_t err = {0};
    char out[PB_ADDR_URN_MAX];
    assert_int_equal(
        pb_addr_parse("urn:dpds:com.acme:dataproducts:weather:2:outputports:observations", NULL, &a,
                      &err),
        0);
    assert_int_equal(a.is_port, 1);
    assert_int_equal(a.kind, PB_PORT_OUTPUT);
    assert_string_equal(a.port, "observations");
    assert_int_equal(a.major, 2);
    pb_addr_format_product(&a, out, sizeof out);
    assert_string_equal(out, "urn:dpds:com.acme:dataproducts:weather:2");
    roundtrip("urn:dpds:com.acme:dataproducts:weather:2:outputports:observations");
    roundtrip("urn:dpds:com.acme:dataproducts:tripExecution:1:inputports:weather");
    assert_int_equal(pb_addr_parse("urn:dpds:a:dataproducts:b:3:inputports:c", NULL, &a, &err), 0);
    assert_int_equal(a.kind, PB_PORT_INPUT);
    assert_string_equal(pb_addr_kind_segment(a.kind), "inputports");
    assert_string_equal(pb_addr_kind_name(a.kind), "input");
}

static void urn_rejects(void **state) {
    (void)state;
    reject(
        "urn:dpds:x:dataproducts:trip:1:outports:a", NULL,
        "port URN 'urn:dpds:x:dataproducts:trip:1:outports:a': segment 6 must be 'outputports' or "
        "'inputports', not 'outports'");
    reject("urn:dpdx:x:dataproducts:trip:1", NULL, "must start with 'urn:dpds:'");
    reject("urn:", NULL, "must start with 'urn:dpds:'");
    reject("urn:dpds:x:dataproducts:trip", NULL, "fewer than 6 segments");
    reject("urn:dpds:x:dataproducts:trip:1:outputports", NULL, "7 segments");
    reject("urn:dpds:x:dataproducts:trip:1:outputports:a:b", NULL, "more than 8 segments");
    reject("urn:dpds:x:products:trip:1", NULL, "segment 3 must be 'dataproducts', not 'products'");
    reject("urn:dpds:x:dataproducts:9trip:1", NULL,
           "segment 4: product name '9trip': must start with a letter");
    reject("urn:dpds:x:dataproducts:tr.ip:1", NULL,
           "product name 'tr.ip': character '.' at offset 2 is not allowed");
    reject("urn:dpds:x:dataproducts::1", NULL, "segment 4: product name is empty");
    reject("urn:dpds:x:dataproducts:trip:", NULL, "segment 5: major is empty");
    reject("urn:dpds:x:dataproducts:trip:v1", NULL, "major 'v1': not a decimal number");
    reject("urn:dpds:x:dataproducts:trip:+1", NULL, "major '+1': not a decimal number");
    reject("urn:dpds:x:dataproducts:trip:-1", NULL, "not a decimal number");
    reject("urn:dpds:x:dataproducts:trip:01", NULL, "major '01': leading zeros are not allowed");
    reject("urn:dpds:x:dataproducts:trip:1000001", NULL, "major '1000001': larger than 1000000");
    reject("urn:dpds:x:dataproducts:trip:99999999999999999999", NULL, "larger than 1000000");
    reject("urn:dpds:x:dataproducts:trip:1:outputports:", NULL, "segment 7: port name is empty");
    reject("urn:dpds:x:dataproducts:trip:1:outputports:a b", NULL,
           "port name 'a b': character ' ' at offset 1 is not allowed");
    reject("urn:dpds:x:dataproducts:trip:1:outputports:a\x01", NULL,
           "character '\\x01' at offset 1");
    reject("urn:dpds::dataproducts:trip:1", NULL, "segment 2: namespace is empty");
    reject("urn:dpds:com..acme:dataproducts:trip:1", NULL, "empty label at offset 4");
    reject("urn:dpds:com.acme.:dataproducts:trip:1", NULL, "empty label at offset 9");
    reject("urn:dpds:.com:dataproducts:trip:1", NULL, "empty label at offset 0");
    reject("urn:dpds:com.-acme:dataproducts:trip:1", NULL,
           "label at offset 4 must start and end with a letter or digit");
    reject("urn:dpds:com.acme_:dataproducts:trip:1", NULL,
           "must start and end with a letter or digit");
    reject("urn:dpds:com/acme:dataproducts:trip:1", NULL,
           "character '/' at offset 3 is not allowed");
    reject("URN:DPDS:x:dataproducts:trip:1", NULL, "not a URN (urn:dpds:...) nor a short form");
    reject("", NULL, "not a URN");
    reject("trip", "com.acme", "not a URN");
    /* lengths */
    char name[200], urn[400];
    memset(name, 'a', 129);
    name[129] = 0;
    snprintf(urn, sizeof urn, "urn:dpds:x:dataproducts:%s:1", name);
    reject(urn, NULL, "129 characters, at most 128");
    name[128] = 0;
    snprintf(urn, sizeof urn, "urn:dpds:x:dataproducts:%s:1", name);
    roundtrip(urn);
    memset(name, 'b', 64);
    name[64] = 0;
    snprintf(urn, sizeof urn, "urn:dpds:%s:dataproducts:p:1", name);
    reject(urn, NULL, "has 64 characters, at most 63");
    char longurn[700];
    memset(longurn, 'c', sizeof longurn - 1);
    longurn[sizeof longurn - 1] = 0;
    memcpy(longurn, "urn:dpds:", 9);
    reject(longurn, NULL, "699 characters, at most 511");
}

static void short_forms(void **state) {
    (void)state;
    pb_addr_t a;
    pb_err_t err = {0};
    char out[PB_ADDR_URN_MAX];
    assert_int_equal(pb_addr_parse("tripExecution/1/outputports/tripEvents", "com.acme", &a, &err),
                     0);
    pb_addr_format(&a, out, sizeof out);
    assert_string_equal(out,
                        "urn:dpds:com.acme:dataproducts:tripExecution:1:outputports:tripEvents");
    assert_int_equal(pb_addr_parse("org.x/weather/2/inputports/obs", "com.acme", &a, &err), 0);
    pb_addr_format(&a, out, sizeof out);
    assert_string_equal(out, "urn:dpds:org.x:dataproducts:weather:2:inputports:obs");
    assert_int_equal(pb_addr_parse("billing/3", "local", &a, &err), 0);
    pb_addr_format(&a, out, sizeof out);
    assert_string_equal(out, "urn:dpds:local:dataproducts:billing:3");
    assert_int_equal(pb_addr_parse("com.acme/billing/3", NULL, &a, &err), 0);
    pb_addr_format(&a, out, sizeof out);
    assert_string_equal(out, "urn:dpds:com.acme:dataproducts:billing:3");

    reject("trip/1/outputports/a", NULL, "needs a default namespace");
    reject("trip/1/outputport/a", "com.acme", "segment 2 must be 'outputports' or 'inputports'");
    reject("com.acme/trip/1/outports/a", NULL, "segment 3 must be 'outputports' or 'inputports'");
    reject("trip/x/outputports/a", "com.acme", "segment 1: major 'x'");
    reject("com..acme/trip/1/outputports/a", NULL, "segment 0: namespace 'com..acme'");
    reject("trip/1/outputports/a", "bad ns", "default namespace: namespace 'bad ns'");
    reject("a/b/c/d/e/f", "com.acme", "not a URN (urn:dpds:...) nor a short form");
    reject("trip/1/outputports/", "com.acme", "segment 3: port name is empty");
    reject("/trip/1", "com.acme", "segment 0: namespace is empty");

    /* product vs port expectations */
    assert_int_equal(pb_addr_parse_port("trip/1", "x", &a, &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "is a product address; a port address is expected"));
    assert_int_equal(pb_addr_parse_product("trip/1/outputports/a", "x", &a, &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "is a port address; a product address is expected"));
    assert_int_equal(pb_addr_parse_port("trip/1/inputports/a", "x", &a, &err), 0);
    assert_int_equal(pb_addr_parse_product("urn:dpds:x:dataproducts:trip:1", NULL, &a, &err), 0);
}

static void make_addr(void **state) {
    (void)state;
    pb_addr_t a;
    pb_err_t err = {0};
    char out[PB_ADDR_URN_MAX];
    assert_int_equal(pb_addr_make("com.acme", "billing", 1, PB_PORT_OUTPUT, "invoices", &a, &err),
                     0);
    pb_addr_format(&a, out, sizeof out);
    assert_string_equal(out, "urn:dpds:com.acme:dataproducts:billing:1:outputports:invoices");
    assert_int_equal(pb_addr_make("com.acme", "billing", 1, PB_PORT_OUTPUT, NULL, &a, &err), 0);
    assert_int_equal(a.is_port, 0);
    assert_int_equal(pb_addr_make("com.acme", "bil ling", 1, PB_PORT_OUTPUT, NULL, &a, &err),
                     PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "product name 'bil ling'"));
    assert_int_equal(pb_addr_make("com.acme", "b", 1000001, PB_PORT_OUTPUT, NULL, &a, &err),
                     PB_ERR_INVALID);
    assert_int_equal(pb_addr_make("com.acme", "b", 1, PB_PORT_INPUT, "1x", &a, &err),
                     PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "port name '1x': must start with a letter"));
}

static void patterns(void **state) {
    (void)state;
    pb_err_t err = {0};
    assert_int_equal(pb_addr_check_pattern("*", &err), 0);
    assert_int_equal(pb_addr_check_pattern("urn:dpds:com.acme:dataproducts:*", &err), 0);
    assert_int_equal(pb_addr_check_pattern("urn:dpds:com.acme:dataproducts:trip*", &err), 0);
    assert_int_equal(pb_addr_check_pattern("urn:dpds:com.acme:dataproducts:billing:1", &err), 0);
    assert_int_equal(pb_addr_check_pattern("urn:dpds:*:dataproducts:x:1", &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "'*' is only allowed at the end"));
    assert_int_equal(pb_addr_check_pattern("com.acme/*", &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "must be '*', a product URN, or a URN prefix"));
    assert_int_equal(pb_addr_check_pattern("urn:dpds:com.acme:dataproducts:billing", &err),
                     PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "access pattern: "));
    assert_int_equal(pb_addr_check_pattern("urn:dpds:a:dataproducts:b:1:outputports:c", &err),
                     PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "names a port; access lists admit products"));

    const char *trip = "urn:dpds:com.acme:dataproducts:tripExecution:1";
    assert_true(pb_addr_match("*", trip));
    assert_true(pb_addr_match("urn:dpds:com.acme:dataproducts:*", trip));
    assert_true(pb_addr_match("urn:dpds:com.acme:dataproducts:trip*", trip));
    assert_true(pb_addr_match(trip, trip));
    assert_false(pb_addr_match("urn:dpds:com.acme:dataproducts:tripExecution:2", trip));
    assert_false(pb_addr_match("urn:dpds:com.acme:dataproducts:tripExecution", trip));
    assert_false(pb_addr_match("urn:dpds:com.acme.eu:dataproducts:*", trip));
    assert_false(pb_addr_match("urn:dpds:com.acme:dataproducts:*",
                               "urn:dpds:com.acme.evil:dataproducts:x:1"));
    assert_false(pb_addr_match("urn:dpds:*:dataproducts:*", trip));
    assert_false(pb_addr_match("urn:dpds:com.acme:dataproducts:billing*", trip));
}

static void reject_topic(const char *t, const char *want) {
    pb_err_t err = {0};
    int rc = pb_addr_check_topic(t, &err);
    if (rc != PB_ERR_INVALID || !strstr(err.msg, want)) {
        print_error("topic: %s\nmessage: %s\nwanted: %s\n", t, err.msg, want);
        fail();
    }
}

static void topics(void **state) {
    (void)state;
    pb_addr_t a;
    pb_err_t err = {0};
    char t[PB_ADDR_KAFKA_NAME_MAX], d[PB_ADDR_KAFKA_NAME_MAX], s[PB_ADDR_KAFKA_NAME_MAX];
    assert_int_equal(
        pb_addr_parse("urn:dpds:com.acme:dataproducts:tripExecution:1:outputports:tripEvents", NULL,
                      &a, &err),
        0);
    assert_int_equal(pb_addr_topic(&a, t, sizeof t, &err), 0);
    assert_string_equal(t, "com.acme.tripExecution.v1.tripEvents");
    assert_int_equal(pb_addr_dlq_topic(t, d, sizeof d, &err), 0);
    assert_string_equal(d, "com.acme.tripExecution.v1.tripEvents.dlq");
    assert_int_equal(pb_addr_subject(t, s, sizeof s),
                     strlen("com.acme.tripExecution.v1.tripEvents-value"));
    assert_string_equal(s, "com.acme.tripExecution.v1.tripEvents-value");

    assert_int_equal(
        pb_addr_parse("urn:dpds:com.acme:dataproducts:billing:1:inputports:trips", NULL, &a, &err),
        0);
    assert_int_equal(pb_addr_topic(&a, t, sizeof t, &err), 0);
    assert_string_equal(t, "com.acme.billing.v1.in.trips");
    pb_addr_route_group(t, s, sizeof s);
    assert_string_equal(s, "portbroker.route.com.acme.billing.v1.in.trips");
    pb_addr_sub_group(t, s, sizeof s);
    assert_string_equal(s, "portbroker.sub.com.acme.billing.v1.in.trips");

    /* validation */
    assert_int_equal(pb_addr_check_topic("a.b_c-D9", &err), 0);
    assert_int_equal(pb_addr_check_topic("...", &err), 0);
    reject_topic("a b",
                 "topic 'a b': character ' ' at offset 1 is not allowed; Kafka topic names use "
                 "[A-Za-z0-9._-]");
    reject_topic("a/b", "character '/' at offset 1");
    reject_topic("ab\xc3\xa9", "character '\\xc3' at offset 2");
    reject_topic("", "topic name is empty");
    reject_topic(".", "'.' and '..' are not allowed");
    reject_topic("..", "'.' and '..' are not allowed");

    /* 249 exactly */
    char big[300];
    memset(big, 'x', sizeof big);
    big[249] = 0;
    assert_int_equal(pb_addr_check_topic(big, &err), 0);
    big[249] = 'x';
    big[250] = 0;
    reject_topic(big, "250 characters, Kafka allows at most 249");
    /* the DLQ topic adds 4: a 245-character topic still has a legal DLQ, 246 does not */
    big[245] = 0;
    assert_int_equal(pb_addr_dlq_topic(big, d, sizeof d, &err), 0);
    assert_int_equal(strlen(d), 249);
    big[245] = 'x';
    big[246] = 0;
    assert_int_equal(pb_addr_dlq_topic(big, d, sizeof d, &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, ": 246 characters; its dead-letter topic ('.dlq' added) would "
                                    "have 250, Kafka allows 249"));
    /* the DLQ of a topic with an illegal character is refused for the character */
    assert_int_equal(pb_addr_dlq_topic("a b", d, sizeof d, &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "character ' ' at offset 1"));

    /* derived topics can exceed 249 with long names */
    char name[129], ns[129];
    memset(name, 'n', 128);
    name[128] = 0;
    memcpy(ns, "a", 2);
    assert_int_equal(pb_addr_make(ns, name, 1, PB_PORT_OUTPUT, name, &a, &err), 0);
    assert_int_equal(pb_addr_topic(&a, t, sizeof t, &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "Kafka allows at most 249"));
    /* ns(1) + product(119) + ".v1." + port(125) = 1+1+119+4+125 = 250; one less fits exactly */
    name[119] = 0;
    char port[129];
    memset(port, 'p', 124);
    port[124] = 0;
    assert_int_equal(pb_addr_make("a", name, 1, PB_PORT_OUTPUT, port, &a, &err), 0);
    assert_int_equal(pb_addr_topic(&a, t, sizeof t, &err), 0);
    assert_int_equal(strlen(t), 249);
    port[124] = 'p';
    port[125] = 0;
    assert_int_equal(pb_addr_make("a", name, 1, PB_PORT_OUTPUT, port, &a, &err), 0);
    assert_int_equal(pb_addr_topic(&a, t, sizeof t, &err), PB_ERR_INVALID);
}

static void excerpts(void **state) {
    (void)state;
    char buf[400];
    assert_string_equal(pb_addr_excerpt("ab\ncd", buf, sizeof buf), "ab\\x0acd");
    char big[200];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = 0;
    pb_addr_excerpt(big, buf, sizeof buf);
    assert_int_equal(strlen(buf), 83);
    assert_string_equal(buf + 80, "...");
    /* a small buffer never overflows */
    char small[16];
    pb_addr_excerpt(big, small, sizeof small);
    assert_true(strlen(small) < sizeof small);
    assert_non_null(strstr(small, "..."));
}

/* Without an error to fill, a refusal is still a refusal (the route table parses with err NULL). */
static void null_err(void **state) {
    (void)state;
    pb_addr_t a;
    assert_int_not_equal(pb_addr_parse_port("p/1/outputports", "com.acme", &a, NULL), 0);
    assert_int_not_equal(pb_addr_parse_product("9lives/1", "com.acme", &a, NULL), 0);
    assert_int_not_equal(pb_addr_parse("x/1", "Bad ns", &a, NULL), 0);
    assert_int_equal(pb_addr_parse_port("p/1/outputports/q", "com.acme", &a, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(null_err),    cmocka_unit_test(product_urn), cmocka_unit_test(port_urn),
        cmocka_unit_test(urn_rejects), cmocka_unit_test(short_forms), cmocka_unit_test(make_addr),
        cmocka_unit_test(patterns),    cmocka_unit_test(topics),      cmocka_unit_test(excerpts),
    };
    return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}
