/* Unit tests for api.c's route table: which route a method + path reaches and what its first
 * parameter captures (URNs and short forms that span segments, a port whose name is an action,
 * registry paths with encoded characters), and the table's own invariants (every route has a rule,
 * a summary, and methods; bodies only where a method takes one). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "api.h"

/* The first route (in match order) that matches path and has method m, or -1. */
static int route_for(unsigned m, const char *path, char *arg, size_t arg_size) {
    for (size_t i = 0; i < pb_api_route_count(); i++) {
        const pb_api_route_t *r = pb_api_route_at(i);
        if ((r->methods & (1u << m)) && pb_api_route_match(r, path, "com.acme", arg, arg_size))
            return (int)i;
    }
    return -1;
}

static const struct {
    pb_http_method_t method;
    const char *path;
    const char *tmpl; /* NULL: no route */
    const char *arg;
} cases[] = {
    {PB_HTTP_GET, "/healthz", "/healthz", ""},
    {PB_HTTP_GET, "/healthz/", "/healthz", ""},
    {PB_HTTP_GET, "/healthzx", NULL, NULL},
    {PB_HTTP_GET, "/v1/products/", "/v1/products", ""},
    {PB_HTTP_GET, "/v1/products/urn:dpds:com.acme:dataproducts:billing:1", "/v1/products/{product}",
     "urn:dpds:com.acme:dataproducts:billing:1"},
    {PB_HTTP_PUT, "/v1/products/billing/1", "/v1/products/{product}", "billing/1"},
    {PB_HTTP_GET, "/v1/ports/tripExecution/1/outputports/tripEvents", "/v1/ports/{port}",
     "tripExecution/1/outputports/tripEvents"},
    {PB_HTTP_POST, "/v1/ports/tripExecution/1/outputports/tripEvents/records",
     "/v1/ports/{port}/records", "tripExecution/1/outputports/tripEvents"},
    {PB_HTTP_GET, "/v1/ports/billing/1/inputports/trips/records", "/v1/ports/{port}/records",
     "billing/1/inputports/trips"},
    {PB_HTTP_POST,
     "/v1/ports/urn:dpds:com.acme:dataproducts:weather:2:outputports:observations/schemas",
     "/v1/ports/{port}/schemas",
     "urn:dpds:com.acme:dataproducts:weather:2:outputports:observations"},
    {PB_HTTP_POST, "/v1/ports/com.acme/weather/2/outputports/observations/impact",
     "/v1/ports/{port}/impact", "com.acme/weather/2/outputports/observations"},
    {PB_HTTP_POST, "/v1/ports/billing/1/inputports/trips/cursors", "/v1/ports/{port}/cursors",
     "billing/1/inputports/trips"},
    /* A port named like an action is a port, not an action on a shorter id. */
    {PB_HTTP_GET, "/v1/ports/p/1/outputports/records", "/v1/ports/{port}",
     "p/1/outputports/records"},
    {PB_HTTP_POST, "/v1/ports/p/1/outputports/records/records", "/v1/ports/{port}/records",
     "p/1/outputports/records"},
    /* Not an address before the action: the whole is a (bad) port id, answered by GET only. */
    {PB_HTTP_POST, "/v1/ports/nonsense/records", NULL, NULL},
    {PB_HTTP_GET, "/v1/ports/nonsense/records", "/v1/ports/{port}", "nonsense/records"},
    {PB_HTTP_GET, "/v1/subscriptions/7/stats", "/v1/subscriptions/{id}/stats", "7"},
    {PB_HTTP_DELETE, "/v1/subscriptions/7", "/v1/subscriptions/{id}", "7"},
    {PB_HTTP_DELETE, "/v1/subscriptions/7/stats", NULL, NULL},
    {PB_HTTP_GET, "/subjects/a%2Fb/versions/latest", "/subjects/{subject}/versions/{version}",
     "a%2Fb"},
    {PB_HTTP_POST, "/subjects/s-value/versions", "/subjects/{subject}/versions", "s-value"},
    {PB_HTTP_POST, "/compatibility/subjects/s/versions/latest",
     "/compatibility/subjects/{subject}/versions/{version}", "s"},
    {PB_HTTP_GET, "/schemas/ids/3/versions", "/schemas/ids/{id}/versions", "3"},
    {PB_HTTP_GET, "/schemas/ids//versions", NULL, NULL},
    {PB_HTTP_GET, "/nope", NULL, NULL},
};

static void matching(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char arg[256] = "?";
        int k = route_for(cases[i].method, cases[i].path, arg, sizeof arg);
        const char *got = k < 0 ? NULL : pb_api_route_at((size_t)k)->path;
        int ok = cases[i].tmpl
                     ? got && strcmp(got, cases[i].tmpl) == 0 && strcmp(arg, cases[i].arg) == 0
                     : got == NULL;
        if (!ok) {
            print_error("case %zu: %s -> %s (%s), wanted %s (%s)\n", i, cases[i].path,
                        got ? got : "no route", arg, cases[i].tmpl ? cases[i].tmpl : "no route",
                        cases[i].arg ? cases[i].arg : "");
            fail();
        }
    }
}

static void truncation(void **state) {
    (void)state;
    char arg[5];
    const pb_api_route_t *r = NULL;
    for (size_t i = 0; i < pb_api_route_count(); i++)
        if (strcmp(pb_api_route_at(i)->path, "/v1/subscriptions/{id}") == 0) r = pb_api_route_at(i);
    assert_non_null(r);
    assert_int_equal(pb_api_route_match(r, "/v1/subscriptions/123456", NULL, arg, sizeof arg), 1);
    assert_string_equal(arg, "1234");
}

static void table_invariants(void **state) {
    (void)state;
    assert_true(pb_api_route_count() > 20);
    assert_null(pb_api_route_at(pb_api_route_count()));
    for (size_t i = 0; i < pb_api_route_count(); i++) {
        const pb_api_route_t *r = pb_api_route_at(i);
        assert_non_null(r->path);
        assert_true(r->path[0] == '/');
        assert_true(r->methods != 0);
        assert_true(r->access <= PB_API_ADMIN);
        assert_non_null(r->summary);
        assert_true(r->summary[0] != '\0');
        unsigned body_methods = (1u << PB_HTTP_POST) | (1u << PB_HTTP_PUT);
        if (r->media) assert_true(r->methods & body_methods);
        if (r->methods & body_methods) assert_true(r->media != 0);
        /* Writes are never open to everyone. */
        unsigned writes = body_methods | (1u << PB_HTTP_DELETE);
        if (r->methods & writes) assert_true(r->access != PB_API_OPEN);
        /* What the registry's state answers waits for its replay (503, never a 404 for a port
         * not replayed yet): products, ports, bindings and every Schema Registry route. */
        int replayed = !strncmp(r->path, "/v1/products", 12) || !strncmp(r->path, "/v1/ports", 9) ||
                       !strncmp(r->path, "/v1/subscriptions", 17) || (r->flags & PB_API_SR);
        if (replayed != !!(r->flags & PB_API_REPLAYED)) fail_msg("%s: replayed flag", r->path);
    }
}

static void methods_format(void **state) {
    (void)state;
    char out[64];
    assert_int_equal(
        pb_api_methods_format((1u << PB_HTTP_GET) | (1u << PB_HTTP_DELETE), out, sizeof out), 0);
    assert_string_equal(out, "GET, DELETE");
    assert_int_equal(pb_api_methods_format((1u << PB_HTTP_GET) | (1u << PB_HTTP_DELETE), out, 5),
                     -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matching),
        cmocka_unit_test(truncation),
        cmocka_unit_test(table_invariants),
        cmocka_unit_test(methods_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
