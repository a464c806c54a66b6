/* Unit tests for schema.c at the API level: ownership, the node graph (named references shared,
 * recursion as cycles), pointers, logical types, limits, check_default, to_json round trips.
 * Validation rules case by case live in the tests/data/schema case files (run_schema_cases). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "schema.h"

static pb_schema_t *parse_ok(const char *text) {
    pb_schema_t *s = NULL;
    pb_err_t err = {0};
    int rc = pb_schema_parse(text, strlen(text), &s, &err);
    if (rc) fail_msg("parse failed: %s", err.msg);
    assert_non_null(s);
    return s;
}

static void destroy_null(void **state) {
    (void)state;
    pb_schema_destroy(NULL);
}

static void crc64_spec_values(void **state) {
    (void)state;
    assert_true(pb_schema_crc64("", 0) == 0xc15d213aa4d7a795ULL);
    assert_true(pb_schema_crc64("\"null\"", 6) == 0x63dd24e7cc258f8aULL);
    pb_schema_t *s = parse_ok("{\"type\": \"null\"}");
    assert_true(pb_schema_fingerprint(s) == 0x63dd24e7cc258f8aULL);
    assert_string_equal(pb_schema_canonical(s), "\"null\"");
    pb_schema_destroy(s);
}

static const char *list_schema =
    "{\"type\":\"record\",\"name\":\"List\",\"namespace\":\"com.acme\",\"doc\":\"a list\","
    " \"aliases\":[\"OldList\"],"
    " \"fields\":["
    "  "
    "{\"name\":\"value\",\"type\":{\"type\":\"enum\",\"name\":\"Color\",\"symbols\":[\"RED\","
    "\"GREEN\"],"
    "     \"default\":\"GREEN\"},\"default\":\"RED\",\"aliases\":[\"v\"],\"doc\":\"the value\"},"
    "  {\"name\":\"next\",\"type\":[\"null\",\"List\"],\"default\":null,\"order\":\"ignore\"},"
    "  {\"name\":\"other\",\"type\":\"Color\"},"
    "  "
    "{\"name\":\"amount\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":"
    "12,\"scale\":2}},"
    "  "
    "{\"name\":\"id\",\"type\":{\"type\":\"fixed\",\"name\":\"Id\",\"namespace\":\"org.ids\","
    "\"size\":16},"
    "     \"x-extra\":{\"k\":[1]}}"
    " ]}";

static void graph_shares_named_types(void **state) {
    (void)state;
    pb_schema_t *s = parse_ok(list_schema);
    const pb_schema_node_t *r = s->root;
    assert_int_equal(r->type, PB_AVRO_RECORD);
    assert_string_equal(r->fullname, "com.acme.List");
    assert_string_equal(r->name, "List");
    assert_string_equal(r->namespace_, "com.acme");
    assert_string_equal(r->doc, "a list");
    assert_int_equal(r->n_aliases, 1);
    assert_string_equal(r->aliases[0], "com.acme.OldList");
    assert_int_equal(r->n_fields, 5);
    /* recursion is a cycle: the union's second branch is the root node itself */
    const pb_schema_node_t *next = r->fields[1].type;
    assert_int_equal(next->type, PB_AVRO_UNION);
    assert_int_equal(next->n_branches, 2);
    assert_ptr_equal(next->branches[1], r);
    /* a reference by name is the defining node */
    assert_ptr_equal(r->fields[2].type, r->fields[0].type);
    assert_ptr_equal(pb_schema_lookup(s, "com.acme.Color"), r->fields[0].type);
    assert_ptr_equal(pb_schema_lookup(s, "org.ids.Id"), r->fields[4].type);
    assert_null(pb_schema_lookup(s, "Color"));
    assert_null(pb_schema_lookup(s, "int"));
    /* fields */
    const pb_schema_field_t *v = pb_schema_field(r, "value");
    assert_ptr_equal(v, &r->fields[0]);
    assert_null(pb_schema_field(r, "v"));
    assert_string_equal(v->doc, "the value");
    assert_int_equal(v->n_aliases, 1);
    assert_string_equal(v->aliases[0], "v");
    assert_string_equal(json_string_value(v->default_value), "RED");
    assert_int_equal(r->fields[1].order, PB_ORDER_IGNORE);
    assert_true(json_is_null(r->fields[1].default_value));
    assert_null(r->fields[2].default_value);
    assert_int_equal(r->fields[3].index, 3);
    /* enum */
    const pb_schema_node_t *e = r->fields[0].type;
    assert_int_equal(e->n_symbols, 2);
    assert_int_equal(e->enum_default, 1);
    assert_int_equal(pb_schema_symbol_index(e, "GREEN"), 1);
    assert_int_equal(pb_schema_symbol_index(e, "BLUE"), -1);
    assert_int_equal(pb_schema_symbol_index(r, "GREEN"), -1);
    /* logical */
    const pb_schema_node_t *amount = r->fields[3].type;
    assert_int_equal(amount->logical, PB_LOGICAL_DECIMAL);
    assert_string_equal(amount->logical_name, "decimal");
    assert_int_equal(amount->precision, 12);
    assert_int_equal(amount->scale, 2);
    /* field props */
    assert_non_null(r->fields[4].props);
    assert_non_null(json_object_get(r->fields[4].props, "x-extra"));
    assert_int_equal(r->fields[4].type->size, 16);
    pb_schema_destroy(s);
}

static void pointers(void **state) {
    (void)state;
    pb_schema_t *s = parse_ok(list_schema);
    const pb_schema_node_t *r = s->root;
    assert_string_equal(r->pointer, "");
    assert_string_equal(r->fields[0].type->pointer, "/fields/0/type");
    assert_string_equal(r->fields[1].type->pointer, "/fields/1/type");
    assert_string_equal(r->fields[1].type->branches[0]->pointer, "/fields/1/type/0");
    /* a reference points at the definition */
    assert_string_equal(r->fields[2].type->pointer, "/fields/0/type");
    assert_string_equal(r->fields[4].pointer, "/fields/4");
    pb_schema_destroy(s);
}

static void to_json_round_trip(void **state) {
    (void)state;
    pb_schema_t *s = parse_ok(list_schema), *s2 = NULL;
    json_t *j = pb_schema_to_json(s);
    assert_non_null(j);
    /* everything readers need is kept */
    assert_string_equal(json_string_value(json_object_get(j, "doc")), "a list");
    json_t *f0 = json_array_get(json_object_get(j, "fields"), 0);
    assert_string_equal(json_string_value(json_object_get(f0, "default")), "RED");
    assert_string_equal(json_string_value(json_object_get(json_object_get(f0, "type"), "default")),
                        "GREEN");
    json_t *f2 = json_array_get(json_object_get(j, "fields"), 2);
    assert_string_equal(json_string_value(json_object_get(f2, "type")),
                        "com.acme.Color"); /* defined once */
    json_t *f3 = json_array_get(json_object_get(j, "fields"), 3);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(f3, "type"), "precision")),
                     12);
    pb_err_t err = {0};
    assert_int_equal(pb_schema_parse_json(j, &s2, &err), 0);
    assert_string_equal(pb_schema_canonical(s), pb_schema_canonical(s2));
    assert_true(pb_schema_fingerprint(s) == pb_schema_fingerprint(s2));
    /* and to_json is stable */
    json_t *j2 = pb_schema_to_json(s2);
    assert_true(json_equal(j, j2));
    json_decref(j);
    json_decref(j2);
    pb_schema_destroy(s);
    pb_schema_destroy(s2);
}

static void defaults_are_copies(void **state) {
    (void)state;
    json_error_t jerr;
    json_t *j =
        json_loads("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
                   "{\"type\":\"array\",\"items\":\"int\"},\"default\":[1,2]}]}",
                   0, &jerr);
    assert_non_null(j);
    pb_schema_t *s = NULL;
    pb_err_t err = {0};
    assert_int_equal(pb_schema_parse_json(j, &s, &err), 0);
    json_t *src = json_object_get(json_array_get(json_object_get(j, "fields"), 0), "default");
    json_array_append_new(src, json_integer(3));
    json_decref(j); /* the schema keeps nothing borrowed from the input */
    assert_int_equal(json_array_size(s->root->fields[0].default_value), 2);
    pb_schema_destroy(s);
}

static void check_default_api(void **state) {
    (void)state;
    pb_schema_t *s = parse_ok("{\"type\":\"map\",\"values\":[\"int\",\"null\"]}");
    pb_err_t err = {0};
    json_t *good = json_pack("{s:i,s:i}", "a", 1, "b", 2);
    json_t *bad = json_pack("{s:i,s:n}", "a", 1, "x/y", NULL);
    json_t *notmap = json_pack("[]");
    assert_int_equal(pb_schema_check_default(s->root, good, &err), 0);
    assert_int_equal(pb_schema_check_default(s->root, bad, &err), PB_ERR_INVALID);
    assert_string_equal(err.msg,
                        "at /x~1y: invalid default for type int (a union default must match the "
                        "union's first branch): got null");
    assert_int_equal(pb_schema_check_default(s->root, notmap, &err), PB_ERR_INVALID);
    assert_string_equal(err.msg, "at (root): invalid default for type map: got an array");
    assert_int_equal(pb_schema_check_default(s->root, bad, NULL), PB_ERR_INVALID);
    json_decref(good);
    json_decref(bad);
    json_decref(notmap);
    pb_schema_destroy(s);
}

static void errors_without_err(void **state) {
    (void)state;
    pb_schema_t *s = (pb_schema_t *)0x1;
    assert_int_equal(pb_schema_parse("\"nope\"", 6, &s, NULL), PB_ERR_INVALID);
    assert_null(s);
    assert_int_equal(pb_schema_parse("{", 1, &s, NULL), PB_ERR_INVALID);
    assert_null(s);
}

static void byte_limit(void **state) {
    (void)state;
    size_t n = PB_SCHEMA_MAX_BYTES + 1;
    char *text = malloc(n);
    assert_non_null(text);
    memset(text, ' ', n);
    memcpy(text, "\"int\"", 5);
    pb_schema_t *s = NULL;
    pb_err_t err = {0};
    assert_int_equal(pb_schema_parse(text, n, &s, &err), PB_ERR_TOO_LARGE);
    assert_non_null(strstr(err.msg, "1048576"));
    assert_int_equal(pb_schema_parse(text, n - 1, &s, &err), 0); /* exactly the limit is fine */
    pb_schema_destroy(s);
    free(text);
}

/* A record of n int fields: n + 1 nodes. */
static char *wide_record(size_t n) {
    pb_buf_t b = {0};
    pb_buf_puts(&b, "{\"type\":\"record\",\"name\":\"W\",\"fields\":[");
    for (size_t i = 0; i < n; i++)
        pb_buf_printf(&b, "%s{\"name\":\"f%zu\",\"type\":\"int\"}", i ? "," : "", i);
    pb_buf_puts(&b, "]}");
    pb_buf_putc(&b, 0);
    return (char *)b.data;
}

static void node_limit(void **state) {
    (void)state;
    pb_schema_t *s = NULL;
    pb_err_t err = {0};
    char *ok = wide_record(PB_SCHEMA_MAX_NODES - 1);
    char *big = wide_record(PB_SCHEMA_MAX_NODES);
    assert_int_equal(pb_schema_parse(ok, strlen(ok), &s, &err), 0);
    assert_int_equal(s->root->n_fields, PB_SCHEMA_MAX_NODES - 1);
    pb_schema_destroy(s);
    assert_int_equal(pb_schema_parse(big, strlen(big), &s, &err), PB_ERR_TOO_LARGE);
    assert_string_equal(err.msg, "at /fields/9999/type: more than 10000 type definitions");
    free(ok);
    free(big);
}

/* Many named references cost no nodes; duplicate checks stay fast on wide inputs. */
static void wide_enum(void **state) {
    (void)state;
    pb_buf_t b = {0};
    pb_buf_puts(&b, "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[");
    for (int i = 0; i < 50000; i++)
        pb_buf_printf(&b, "%s\"S%d\"", i ? "," : "", i);
    pb_buf_puts(&b, ",\"S123\"]}");
    pb_schema_t *s = NULL;
    pb_err_t err = {0};
    assert_int_equal(pb_schema_parse((char *)b.data, b.len, &s, &err), PB_ERR_INVALID);
    assert_string_equal(err.msg, "at /symbols/50000: duplicate symbol \"S123\" in enum E");
    pb_buf_free(&b);
}

static void type_names(void **state) {
    (void)state;
    assert_string_equal(pb_schema_type_name(PB_AVRO_NULL), "null");
    assert_string_equal(pb_schema_type_name(PB_AVRO_RECORD), "record");
    assert_string_equal(pb_schema_type_name(PB_AVRO_FIXED), "fixed");
    assert_string_equal(pb_schema_type_name((pb_avro_type_t)99), "?");
}

static void nul_in_names(void **state) {
    (void)state;
    pb_schema_t *s = NULL;
    pb_err_t err = {0};
    const char t1[] = "\"int\\u0000x\"";
    assert_int_equal(pb_schema_parse(t1, sizeof t1 - 1, &s, &err), PB_ERR_INVALID);
    const char t2[] =
        "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"],\"default\":\"A\\u0000\"}";
    assert_int_equal(pb_schema_parse(t2, sizeof t2 - 1, &s, &err), PB_ERR_INVALID);
    assert_string_equal(err.msg, "at /default: enum default \"A\" is not one of the symbols of E");
    const char t3[] = "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\\u0000b\","
                      "\"type\":\"int\"}]}";
    assert_int_equal(pb_schema_parse(t3, sizeof t3 - 1, &s, &err), PB_ERR_INVALID);
    assert_null(s);
}

/* Predefined names (Schema Registry references): a name the text does not define resolves to a
 * referenced schema's named type, which becomes part of the graph; to_json_own writes it back as
 * a name; canonical form and fingerprint are those of the resolved schema. */
static char *dump_compact(json_t *j) {
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    return s;
}

static void predefined_names(void **state) {
    (void)state;
    pb_err_t err = {0};
    pb_schema_t *cur = NULL, *money = NULL, *order = NULL, *inline_order = NULL, *two = NULL;
    const char *cur_t = "{\"type\":\"enum\",\"name\":\"Currency\",\"namespace\":\"c\","
                        "\"symbols\":[\"EUR\",\"USD\"]}";
    const char *money_t = "{\"type\":\"record\",\"name\":\"Money\",\"namespace\":\"m\",\"fields\":"
                          "[{\"name\":\"cents\",\"type\":\"long\"},{\"name\":\"cur\",\"type\":"
                          "\"c.Currency\"}]}";
    const char *order_t = "{\"type\":\"record\",\"name\":\"Order\",\"namespace\":\"m\",\"fields\":"
                          "[{\"name\":\"total\",\"type\":\"Money\"},{\"name\":\"cur\",\"type\":"
                          "\"c.Currency\"}]}";
    assert_int_equal(pb_schema_parse(cur_t, strlen(cur_t), &cur, &err), 0);
    /* Without the predefined schema the name is unknown. */
    assert_int_equal(pb_schema_parse(money_t, strlen(money_t), &money, &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "unknown type \"c.Currency\""));
    const pb_schema_t *p1[] = {cur};
    assert_int_equal(pb_schema_parse_refs(money_t, strlen(money_t), p1, 1, &money, &err), 0);
    assert_true(pb_schema_has_predefined(money));
    assert_false(pb_schema_has_predefined(cur));
    /* Two levels: Money brings Currency; Currency used again later is the same node. */
    const pb_schema_t *p2[] = {money};
    assert_int_equal(pb_schema_parse_refs(order_t, strlen(order_t), p2, 1, &order, &err), 0);
    const pb_schema_node_t *m = pb_schema_lookup(order, "m.Money");
    const pb_schema_node_t *c = pb_schema_lookup(order, "c.Currency");
    assert_non_null(m);
    assert_non_null(c);
    assert_ptr_equal(m->fields[1].type, c);
    assert_ptr_equal(order->root->fields[1].type, c);
    assert_int_equal(c->n_symbols, 2);
    char *own = dump_compact(pb_schema_to_json_own(order));
    assert_string_equal(own, "{\"type\":\"record\",\"name\":\"Order\",\"namespace\":\"m\","
                             "\"fields\":[{\"name\":\"total\",\"type\":\"m.Money\"},{\"name\":"
                             "\"cur\",\"type\":\"c.Currency\"}]}");
    free(own);
    /* The resolved form equals the same schema written inline: same canonical form, fingerprint. */
    char *full = dump_compact(pb_schema_to_json(order));
    assert_int_equal(pb_schema_parse(full, strlen(full), &inline_order, &err), 0);
    assert_string_equal(pb_schema_canonical(order), pb_schema_canonical(inline_order));
    assert_true(pb_schema_fingerprint(order) == pb_schema_fingerprint(inline_order));
    free(full);
    /* A type the text defines itself is not taken from the predefined schemas; redefining one the
     * text already brought in is an error, as Java's parser says. */
    const char *redef = "[\"c.Currency\",{\"type\":\"enum\",\"name\":\"Currency\",\"namespace\":"
                        "\"c\",\"symbols\":[\"X\"]}]";
    assert_int_equal(pb_schema_parse_refs(redef, strlen(redef), p1, 1, &two, &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "redefinition of named type \"c.Currency\""));
    pb_schema_destroy(cur);
    pb_schema_destroy(money);
    pb_schema_destroy(order);
    pb_schema_destroy(inline_order);
    pb_schema_destroy(two);
}

/* Which key schemas travel as raw bytes (DESIGN.md §6). */
static void raw_keys(void **state) {
    (void)state;
    static const struct {
        const char *schema;
        int raw;
    } cases[] = {
        {"\"string\"", 1},
        {"\"bytes\"", 1},
        {"{\"type\":\"string\",\"logicalType\":\"no-such-type\"}", 1}, /* ignored: plain */
        {"{\"type\":\"string\",\"logicalType\":\"uuid\"}", 0},
        {"{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":6,\"scale\":2}", 0},
        {"\"long\"", 0},
        {"{\"type\":\"record\",\"name\":\"K\",\"fields\":[{\"name\":\"a\",\"type\":\"string\"}]}",
         0},
        {"{\"type\":\"fixed\",\"name\":\"F\",\"size\":4}", 0},
    };
    assert_int_equal(pb_schema_raw_key(NULL), 1);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pb_schema_t *s = NULL;
        pb_err_t err = {0};
        if (pb_schema_parse(cases[i].schema, strlen(cases[i].schema), &s, &err))
            fail_msg("%s: %s", cases[i].schema, err.msg);
        if (pb_schema_raw_key(s) != cases[i].raw)
            fail_msg("%s: raw %d, want %d", cases[i].schema, pb_schema_raw_key(s), cases[i].raw);
        pb_schema_destroy(s);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(destroy_null),
        cmocka_unit_test(raw_keys),
        cmocka_unit_test(crc64_spec_values),
        cmocka_unit_test(graph_shares_named_types),
        cmocka_unit_test(pointers),
        cmocka_unit_test(to_json_round_trip),
        cmocka_unit_test(defaults_are_copies),
        cmocka_unit_test(check_default_api),
        cmocka_unit_test(errors_without_err),
        cmocka_unit_test(byte_limit),
        cmocka_unit_test(node_limit),
        cmocka_unit_test(wide_enum),
        cmocka_unit_test(type_names),
        cmocka_unit_test(nul_in_names),
        cmocka_unit_test(predefined_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
