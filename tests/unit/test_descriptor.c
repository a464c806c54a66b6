/* Unit tests for descriptor.c: the example mesh loads with every field as declared; each kind of
 * bad descriptor (fixtures under tests/data/descriptors/) is refused with the file, the JSON
 * pointer and the reason; SLO strings; sets with their cross-product checks and lookups.
 * Paths are relative to the repository root ($PB_ROOT, else the current directory). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "descriptor.h"
#include "schema.h"

#define D "tests/data/descriptors/"
#define P0 "/interfaceComponents/outputPorts/0"
#define I0 "/interfaceComponents/inputPorts/0"

static void expect_msg(const pb_err_t *err, const char *want) {
    if (!strstr(err->msg, want)) {
        print_error("message: %s\nwanted:  %s\n", err->msg, want);
        fail();
    }
}

/* ---- the example mesh ---- */

static void examples_load(void **state) {
    (void)state;
    pb_descriptor_set_t *set = NULL;
    pb_err_t err = {0};
    int rc = pb_descriptor_load_dir("schemas/examples", "com.acme", 3, &set, &err);
    if (rc) print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(set->n_products, 3);
    /* sorted by file name */
    assert_string_equal(set->products[0]->name, "billing");
    assert_string_equal(set->products[1]->name, "tripExecution");
    assert_string_equal(set->products[2]->name, "weather");

    const pb_product_t *trip =
        pb_descriptor_set_product(set, "urn:dpds:com.acme:dataproducts:tripExecution:1");
    assert_non_null(trip);
    assert_string_equal(trip->ns, "com.acme");
    assert_int_equal(trip->major, 1);
    assert_string_equal(trip->version, "1.2.0");
    assert_string_equal(trip->domain, "logistics");
    assert_string_equal(trip->owner, "trip-team@acme.example");
    assert_string_equal(trip->description,
                        "What happens to every trip, from planning to completion.");
    assert_string_equal(trip->source, "schemas/examples/tripExecution.json");
    assert_int_equal(trip->n_outputs, 1);
    assert_int_equal(trip->n_inputs, 1);

    const pb_port_t *ev = &trip->outputs[0];
    assert_int_equal(ev->kind, PB_PORT_OUTPUT);
    assert_ptr_equal(ev->product, trip);
    assert_string_equal(ev->name, "tripEvents");
    assert_string_equal(ev->fqn,
                        "urn:dpds:com.acme:dataproducts:tripExecution:1:outputports:tripEvents");
    assert_string_equal(ev->version, "1.2.0");
    assert_string_equal(ev->topic, "com.acme.tripExecution.v1.tripEvents");
    assert_string_equal(ev->dlq_topic, "com.acme.tripExecution.v1.tripEvents.dlq");
    assert_string_equal(ev->subject, "com.acme.tripExecution.v1.tripEvents-value");
    assert_int_equal(ev->partitions, 6);
    assert_string_equal(ev->compatibility, "BACKWARD_TRANSITIVE");
    assert_true(json_is_object(ev->schema)); /* from trip_event.avsc */
    assert_string_equal(json_string_value(json_object_get(ev->schema, "name")), "TripEvent");
    assert_non_null(ev->parsed);
    assert_string_equal(ev->parsed->root->fullname, "com.acme.logistics.trip.TripEvent");
    assert_null(ev->key_parsed);
    assert_null(ev->key_schema);
    assert_true(ev->slo.has_freshness);
    assert_int_equal(ev->slo.freshness_ms, 300000);
    assert_true(ev->slo.has_throughput_min);
    assert_true(fabs(ev->slo.throughput_min_per_s - 10.0) < 1e-12);
    assert_true(ev->slo.has_rejects_max);
    assert_true(fabs(ev->slo.rejects_max_ratio - 0.001) < 1e-12);
    assert_int_equal(ev->n_access, 1);
    assert_string_equal(ev->access[0], "urn:dpds:com.acme:dataproducts:*");
    assert_string_equal(ev->event_time_field, "occurredAt");
    assert_null(ev->from);
    assert_string_equal(ev->pointer, P0);

    const pb_port_t *w = &trip->inputs[0];
    assert_int_equal(w->kind, PB_PORT_INPUT);
    assert_string_equal(w->fqn,
                        "urn:dpds:com.acme:dataproducts:tripExecution:1:inputports:weather");
    assert_string_equal(w->topic, "com.acme.tripExecution.v1.in.weather");
    assert_string_equal(w->from,
                        "urn:dpds:com.acme:dataproducts:weather:2:outputports:observations");
    assert_int_equal(w->partitions, 3); /* the default */
    assert_string_equal(w->compatibility, "BACKWARD");
    assert_int_equal(w->slo.freshness_ms, 600000);
    assert_false(w->slo.has_throughput_min);
    assert_false(w->slo.has_rejects_max);
    assert_int_equal(w->n_access, 0);
    assert_ptr_equal(pb_product_port(trip, PB_PORT_INPUT, "weather"), w);
    assert_null(pb_product_port(trip, PB_PORT_OUTPUT, "weather"));

    const pb_product_t *bill = set->products[0];
    const pb_port_t *trips = pb_product_port(bill, PB_PORT_INPUT, "trips");
    assert_non_null(trips);
    /* short form resolved with the default namespace */
    assert_string_equal(trips->from, ev->fqn);
    assert_true(json_is_object(trips->schema)); /* inline */
    assert_true(fabs(trips->slo.throughput_min_per_s - 1.0 / 60) < 1e-12);
    const pb_port_t *inv = pb_product_port(bill, PB_PORT_OUTPUT, "invoices");
    assert_int_equal(inv->slo.freshness_ms, 86400000);
    assert_true(inv->slo.has_rejects_max);
    assert_true(inv->slo.rejects_max_ratio == 0.0);
    assert_int_equal(inv->n_access, 2);
    assert_true(json_is_object(inv->key_schema));
    assert_int_equal(inv->key_parsed->root->type, PB_AVRO_STRING);
    assert_int_equal(inv->key_parsed->root->logical, PB_LOGICAL_UUID);
    assert_int_equal(inv->partitions, 1);
    assert_string_equal(inv->compatibility, "FULL");
    assert_null(bill->description);

    const pb_product_t *weather = set->products[2];
    const pb_port_t *obs = &weather->outputs[0];
    assert_int_equal(weather->major, 2);
    assert_string_equal(obs->topic, "com.acme.weather.v2.observations");
    assert_true(json_is_string(obs->key_schema));
    assert_true(fabs(obs->slo.throughput_min_per_s - 10.0) < 1e-12);
    assert_true(fabs(obs->slo.rejects_max_ratio - 0.005) < 1e-12);
    /* the original JSON is kept, unknown members included */
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(weather->json, "info"), "owner"), "name")),
        "Weather team");
    /* $ref is kept as written in the JSON; the port has the resolved schema */
    const json_t *jschema = json_object_get(
        json_object_get(
            json_object_get(json_array_get(json_object_get(json_object_get(weather->json,
                                                                           "interfaceComponents"),
                                                           "outputPorts"),
                                           0),
                            "promises"),
            "api"),
        "schema");
    assert_string_equal(json_string_value(json_object_get(jschema, "$ref")),
                        "weather_observation.avsc");

    /* every input's "from" is an output port of the mesh */
    for (size_t i = 0; i < set->n_products; i++)
        for (size_t k = 0; k < set->products[i]->n_inputs; k++) {
            const pb_port_t *in = &set->products[i]->inputs[k];
            const pb_port_t *src = pb_descriptor_set_port(set, in->from);
            assert_non_null(src);
            assert_int_equal(src->kind, PB_PORT_OUTPUT);
        }
    assert_ptr_equal(pb_descriptor_set_port(set, w->fqn), w);
    assert_null(
        pb_descriptor_set_port(set, "urn:dpds:com.acme:dataproducts:weather:2:outputports:nope"));
    assert_null(pb_descriptor_set_product(set, "urn:dpds:com.acme:dataproducts:weather:1"));
    pb_descriptor_set_destroy(set);
}

static void good_fixture(void **state) {
    (void)state;
    pb_product_t *p = NULL;
    pb_err_t err = {0};
    assert_int_equal(pb_descriptor_load_file(D "good.json", "com.acme", 12, &p, &err), 0);
    assert_string_equal(p->fqn, "urn:dpds:com.acme:dataproducts:trip:1");
    assert_null(p->description);
    const pb_port_t *in = &p->inputs[0];
    assert_string_equal(in->version, "1.0.0"); /* defaults to info.version */
    assert_int_equal(in->partitions, 12);
    assert_true(json_is_string(in->schema));
    /* default access: every product of the product's namespace */
    assert_int_equal(p->outputs[0].n_access, 1);
    assert_string_equal(p->outputs[0].access[0], "urn:dpds:com.acme:dataproducts:*");
    pb_product_destroy(p);

    /* a short "from" without a default namespace cannot be resolved */
    assert_int_equal(pb_descriptor_load_file(D "good.json", NULL, 1, &p, &err), PB_ERR_INVALID);
    assert_null(p);
    expect_msg(&err, "descriptor " D "good.json: " I0
                     "/from: address 'weather/2/outputports/observations': "
                     "a short form without a namespace needs a default namespace");
    /* default partitions are range-checked */
    assert_int_equal(pb_descriptor_load_file(D "good.json", "x", 0, &p, &err), PB_ERR_INVALID);
    expect_msg(&err, "default partitions 0 out of range 1..10000");

    assert_int_equal(pb_descriptor_load_file(D "ref_ok/product.json", "com.acme", 1, &p, &err), 0);
    assert_string_equal(json_string_value(json_object_get(p->outputs[0].schema, "name")), "Event");
    pb_product_destroy(p);
}

/* Through the API: JSON without a file. */
/* pb_product_compact keeps the descriptor as text: what pb_product_json gives back afterwards is
 * the descriptor as given (equal, members in the same order: the same compact text), reals and
 * non-ASCII text included, and the ports' schema trees stay usable. */
static void compact_round_trip(void **state) {
    (void)state;
    json_error_t jerr;
    json_t *j = json_load_file(D "good.json", 0, &jerr);
    assert_non_null(j);
    /* members a tree would order differently if it sorted; reals that need 17 digits; escapes */
    json_object_set_new(j, "zz-first-added", json_real(0.1));
    json_object_set_new(j, "aa-then",
                        json_pack("{s:f,s:f,s:I,s:s}", "tiny", 5e-324, "big",
                                  1.7976931348623157e308, "i", (json_int_t)1 << 62, "text",
                                  "caf\u00e9 \"q\" \\ \n \u2603"));
    /* U+0000 inside strings, of the descriptor and of a port's schema (0018's descriptors) */
    json_object_set_new(json_object_get(j, "aa-then"), "nul", json_stringn("a\0b", 3));
    json_object_set_new(
        json_object_get(
            json_object_get(
                json_object_get(
                    json_array_get(
                        json_object_get(json_object_get(j, "interfaceComponents"), "outputPorts"),
                        0),
                    "promises"),
                "api"),
            "schema"),
        "doc", json_stringn("x\0y", 3));
    pb_product_t *p = NULL;
    pb_err_t err = {0};
    assert_int_equal(pb_descriptor_parse(j, NULL, NULL, "com.acme", 2, &p, &err), 0);
    char *before = json_dumps(j, JSON_COMPACT);
    assert_non_null(before);
    assert_null(p->inputs[0].key_schema);
    json_t *copy = json_deep_copy(p->outputs[0].schema);
    assert_false(pb_port_has_key_schema(&p->inputs[0]));
    json_object_set_new(
        json_object_get(
            json_object_get(
                json_array_get(
                    json_object_get(json_object_get(j, "interfaceComponents"), "inputPorts"), 0),
                "promises"),
            "api"),
        "keySchema", json_string("string"));
    pb_product_destroy(p);
    assert_int_equal(pb_descriptor_parse(j, NULL, NULL, "com.acme", 2, &p, &err), 0);
    free(before);
    before = json_dumps(j, JSON_COMPACT);
    assert_true(pb_port_has_key_schema(&p->inputs[0]));
    assert_int_equal(pb_product_compact(p), 0);
    assert_null(p->json);
    assert_non_null(p->json_text);
    for (size_t i = 0; i < p->n_outputs + p->n_inputs; i++) { /* trees gone, texts there */
        const pb_port_t *port = i < p->n_outputs ? &p->outputs[i] : &p->inputs[i - p->n_outputs];
        assert_null(port->schema);
        assert_null(port->key_schema);
        assert_non_null(port->schema_text);
        assert_non_null(port->parsed);
    }
    assert_int_equal(pb_product_compact(p), 0); /* idempotent */
    json_t *back = pb_product_json(p);
    assert_non_null(back);
    assert_true(json_equal(back, j));
    char *after = json_dumps(back, JSON_COMPACT);
    assert_string_equal(after, before);
    json_t *schema = pb_port_schema_json(&p->outputs[0], 0),
           *key = pb_port_schema_json(&p->inputs[0], 1);
    assert_true(json_equal(schema, copy));
    assert_true(pb_port_has_key_schema(&p->inputs[0]));
    assert_true(json_is_string(key)); /* a schema that is not an object reads back too */
    assert_string_equal(json_string_value(key), "string");
    assert_false(pb_port_has_key_schema(&p->outputs[0]));
    assert_null(pb_port_schema_json(&p->outputs[0], 1));
    free(before);
    free(after);
    json_decref(back);
    json_decref(schema);
    json_decref(key);
    json_decref(copy);
    /* before compacting, pb_product_json is a new reference to the tree itself */
    pb_product_destroy(p);
    assert_int_equal(pb_descriptor_parse(j, NULL, NULL, "com.acme", 2, &p, &err), 0);
    back = pb_product_json(p);
    assert_ptr_equal(back, j);
    json_decref(back);
    pb_product_destroy(p);
    json_decref(j);
}

static void parse_inline(void **state) {
    (void)state;
    json_error_t jerr;
    json_t *j = json_load_file(D "good.json", 0, &jerr);
    assert_non_null(j);
    pb_product_t *p = NULL;
    pb_err_t err = {0};
    /* same name for an output and an input port is allowed: different URNs and topics */
    json_t *in0 =
        json_array_get(json_object_get(json_object_get(j, "interfaceComponents"), "inputPorts"), 0);
    json_object_set_new(in0, "name", json_string("events"));
    /* unknown members anywhere, and unknown SLO keys, are kept and ignored */
    json_object_set_new(j, "x-future", json_pack("{s:i}", "a", 1));
    json_t *slo = json_object_get(
        json_object_get(
            json_array_get(
                json_object_get(json_object_get(j, "interfaceComponents"), "outputPorts"), 0),
            "promises"),
        "slo");
    json_object_set_new(slo, "availability", json_string("99.9%"));
    assert_int_equal(pb_descriptor_parse(j, NULL, "PUT /v1/products", "com.acme", 2, &p, &err), 0);
    assert_string_equal(p->inputs[0].fqn,
                        "urn:dpds:com.acme:dataproducts:trip:1:inputports:events");
    assert_string_equal(p->outputs[0].fqn,
                        "urn:dpds:com.acme:dataproducts:trip:1:outputports:events");
    assert_string_equal(p->inputs[0].topic, "com.acme.trip.v1.in.events");
    assert_string_equal(p->outputs[0].topic, "com.acme.trip.v1.events");
    assert_ptr_equal(p->json, j);
    assert_string_equal(p->source, "PUT /v1/products");
    assert_non_null(json_object_get(p->json, "x-future"));
    pb_product_destroy(p);

    /* an event time may be a nullable timestamp or a string */
    json_t *port0 = json_array_get(
        json_object_get(json_object_get(j, "interfaceComponents"), "outputPorts"), 0);
    json_t *fields = json_object_get(
        json_object_get(json_object_get(json_object_get(port0, "promises"), "api"), "schema"),
        "fields");
    json_array_append_new(fields,
                          json_pack("{s:s,s:[s,{s:s,s:s}],s:n}", "name", "t2", "type", "null",
                                    "type", "long", "logicalType", "timestamp-micros", "default"));
    json_object_set_new(json_object_get(port0, "x-portbroker"), "eventTimeField",
                        json_string("t2"));
    assert_int_equal(pb_descriptor_parse(j, NULL, NULL, "com.acme", 2, &p, &err), 0);
    assert_string_equal(p->outputs[0].event_time_field, "t2");
    pb_product_destroy(p);
    json_object_set_new(json_object_get(port0, "x-portbroker"), "eventTimeField",
                        json_string("id"));
    assert_int_equal(pb_descriptor_parse(j, NULL, NULL, "com.acme", 2, &p, &err), 0);
    pb_product_destroy(p);

    /* $ref without a directory */
    json_t *api = json_object_get(
        json_object_get(
            json_array_get(
                json_object_get(json_object_get(j, "interfaceComponents"), "outputPorts"), 0),
            "promises"),
        "api");
    json_object_set_new(api, "schema", json_pack("{s:s}", "$ref", "event.avsc"));
    assert_int_equal(pb_descriptor_parse(j, NULL, NULL, "com.acme", 2, &p, &err), PB_ERR_INVALID);
    assert_null(p);
    expect_msg(&err,
               "descriptor (inline): " P0 "/promises/api/schema/$ref: 'event.avsc': $ref needs a "
               "descriptor directory");
    json_decref(j);

    /* not an object */
    j = json_integer(3);
    assert_int_equal(pb_descriptor_parse(j, NULL, "body", NULL, 1, &p, &err), PB_ERR_INVALID);
    expect_msg(&err, "descriptor body: (document): a descriptor is a JSON object, not an integer");
    json_decref(j);
}

/* ---- bad descriptors: one fixture per error kind ---- */

typedef struct {
    const char *file;
    int code;
    const char *want; /* substring of the message; starts with the pointer where there is one */
} bad_case_t;

static const bad_case_t bad_cases[] = {
    /* not JSON */
    {"bad/not_json.json", PB_ERR_INVALID,
     "descriptor " D "bad/not_json.json: not JSON: line 4, column 20: "},
    {"bad/duplicate_key.json", PB_ERR_INVALID, "not JSON: line 3, column 25: duplicate object key"},
    {"bad/nul_in_string.json", PB_ERR_INVALID, ": /info/domain: must not contain NUL characters"},
    {"bad/root_array.json", PB_ERR_INVALID,
     "(document): a descriptor is a JSON object, not an array"},
    /* required fields, types */
    {"bad/missing_info_name.json", PB_ERR_INVALID, ": /info/name: missing (required string)"},
    {"bad/ill_typed_version.json", PB_ERR_INVALID,
     ": /info/version: must be a string, not an integer"},
    {"bad/missing_interface.json", PB_ERR_INVALID,
     ": /interfaceComponents: missing (required object)"},
    {"bad/outputs_not_array.json", PB_ERR_INVALID,
     ": /interfaceComponents/outputPorts: must be an array, not an object"},
    {"bad/missing_owner_id.json", PB_ERR_INVALID, ": /info/owner/id: missing (required string)"},
    {"bad/empty_domain.json", PB_ERR_INVALID, ": /info/domain: must not be empty"},
    {"bad/schema_missing.json", PB_ERR_INVALID,
     ": " P0 "/promises/api/schema: missing (required Avro schema"},
    {"bad/schema_number.json", PB_ERR_INVALID,
     ": " P0 "/promises/api/schema: a schema is Avro schema JSON (object, string or array)"},
    {"bad/format_json.json", PB_ERR_INVALID,
     ": " P0 "/promises/api/format: format 'json' is not supported"},
    /* DPDS version */
    {"bad/dpds_version_2.json", PB_ERR_INVALID,
     ": /dataProductDescriptor: '2.0.0' is not a supported DPDS version (portbroker reads 1.x.y)"},
    {"bad/dpds_version_short.json", PB_ERR_INVALID,
     ": /dataProductDescriptor: '1.0' is not a supported DPDS version"},
    /* FQN */
    {"bad/bad_fqn.json", PB_ERR_INVALID,
     ": /info/fullyQualifiedName: product URN 'urn:dpds:com.acme:dataproduct:trip:1': segment 3 "
     "must be 'dataproducts'"},
    {"bad/fqn_not_urn.json", PB_ERR_INVALID,
     ": /info/fullyQualifiedName: 'trip' is not a product URN"},
    {"bad/fqn_is_port.json", PB_ERR_INVALID,
     ": /info/fullyQualifiedName: 'urn:dpds:com.acme:dataproducts:trip:1:outputports:x' is a port "
     "address"},
    {"bad/fqn_bad_namespace.json", PB_ERR_INVALID,
     ": /info/fullyQualifiedName: product URN 'urn:dpds:com..acme:dataproducts:trip:1': segment 2: "
     "namespace 'com..acme': empty label at offset 4"},
    {"bad/name_mismatch.json", PB_ERR_INVALID,
     ": /info/name: 'tripExecution' does not match the product name 'trip' in fullyQualifiedName"},
    {"bad/major_mismatch.json", PB_ERR_INVALID,
     ": /info/version: major version 2 of '2.0.0' does not match the major 1 in "
     "fullyQualifiedName"},
    {"bad/bad_semver.json", PB_ERR_INVALID, ": /info/version: '1.2' is not a semantic version"},
    /* ports */
    {"bad/bad_port_name.json", PB_ERR_INVALID,
     ": " P0 "/name: port name 'trip events': character ' ' at offset 4 is not allowed"},
    {"bad/port_name_digit.json", PB_ERR_INVALID,
     ": " I0 "/name: port name '1weather': must start with a letter"},
    {"bad/duplicate_port.json", PB_ERR_INVALID,
     ": /interfaceComponents/outputPorts/1/name: duplicate output port name 'events' (first at " P0
     ")"},
    {"bad/port_fqn_mismatch.json", PB_ERR_INVALID,
     ": " P0 "/fullyQualifiedName: is not this port's URN "
     "'urn:dpds:com.acme:dataproducts:trip:1:outputports:events'"},
    {"bad/port_bad_version.json", PB_ERR_INVALID,
     ": " P0 "/version: 'v1' is not a semantic version"},
    /* topics */
    {"bad/topic_illegal.json", PB_ERR_INVALID,
     ": " P0 "/x-portbroker/topic: topic 'a b': character ' ' at offset 1 is not allowed; Kafka "
     "topic names use [A-Za-z0-9._-]"},
    {"bad/topic_internal_registry.json", PB_ERR_INVALID,
     ": " P0 "/x-portbroker/topic: topic '_portbroker': names starting with '_' are reserved"},
    {"bad/topic_internal_lineage.json", PB_ERR_INVALID,
     ": " P0 "/x-portbroker/topic: topic '_portbroker.lineage': names starting with '_'"},
    {"bad/topic_internal_control.json", PB_ERR_INVALID,
     ": " P0 "/x-portbroker/topic: topic '_portbroker.embedded.control': names starting with"},
    {"bad/topic_internal_consumer_offsets.json", PB_ERR_INVALID,
     ": " P0 "/x-portbroker/topic: topic '__consumer_offsets': names starting with '_' are "
     "reserved for internal topics"},
    {"bad/topic_too_long.json", PB_ERR_INVALID, ": " P0 "/x-portbroker/topic: topic 'tttttttt"},
    {"bad/topic_too_long.json", PB_ERR_INVALID, "...': 250 characters, Kafka allows at most 249"},
    {"bad/topic_dlq_too_long.json", PB_ERR_INVALID, ": " P0 "/x-portbroker/topic: topic 'ttt"},
    {"bad/topic_dlq_too_long.json", PB_ERR_INVALID,
     "': 246 characters; its dead-letter topic ('.dlq' added) would have 250, Kafka allows 249"},
    {"bad/topic_derived_too_long.json", PB_ERR_INVALID, ": " P0 ": derived topic 'com.acme.ppp"},
    {"bad/topic_derived_too_long.json", PB_ERR_INVALID,
     "...': 269 characters, Kafka allows at most 249"},
    {"bad/topic_clash.json", PB_ERR_INVALID,
     ": " I0 ": topic 'shared.topic' is also used by output port 'events'"},
    {"bad/topic_clash_dlq.json", PB_ERR_INVALID,
     ": " I0 ": topic 'x.dlq' is also used by output port 'events'"},
    /* $ref */
    {"ref_not_found/product.json", PB_ERR_INVALID,
     "descriptor " D "ref_not_found/product.json: " P0
     "/promises/api/schema/$ref: 'missing.avsc' not found in '" D "ref_not_found'"},
    {"ref_escape/product.json", PB_ERR_INVALID,
     ": " P0 "/promises/api/schema/$ref: '../shared.avsc' escapes the descriptor's directory ('..' "
     "is not allowed)"},
    {"ref_escape_inner/product.json", PB_ERR_INVALID,
     "$ref: 'sub/../../shared.avsc' escapes the descriptor's directory"},
    {"ref_absolute/product.json", PB_ERR_INVALID,
     "$ref: '/etc/passwd': absolute paths are not allowed"},
    {"ref_symlink/product.json", PB_ERR_INVALID,
     "$ref: 'link.avsc' escapes the descriptor's directory through a symbolic link"},
    {"ref_not_json/product.json", PB_ERR_INVALID,
     "$ref: 'bad.avsc' is not JSON: line 3, column 14: invalid token"},
    {"ref_directory/product.json", PB_ERR_INVALID, "$ref: 'sub': not a regular file"},
    {"ref_extra_members/product.json", PB_ERR_INVALID,
     ": " P0
     "/promises/api/schema: a schema reference has '$ref' as its only member (found 2 members)"},
    /* compatibility */
    {"bad/compat_unknown.json", PB_ERR_INVALID,
     ": " P0
     "/x-portbroker/compatibility: unknown compatibility level 'BACKWARDS' (NONE, BACKWARD,"},
    {"bad/compat_lowercase.json", PB_ERR_INVALID, "unknown compatibility level 'backward'"},
    /* SLOs */
    {"bad/slo_freshness.json", PB_ERR_INVALID,
     "descriptor " D "bad/slo_freshness.json: " P0
     "/promises/slo/freshness: '5 minutes' is not a duration (use e.g. 500ms, 30s, 5m, 1h)"},
    {"bad/slo_freshness_zero.json", PB_ERR_INVALID,
     ": " P0 "/promises/slo/freshness: duration '0s' must be positive"},
    {"bad/slo_freshness_number.json", PB_ERR_INVALID,
     ": " P0 "/promises/slo/freshness: must be a string, not an integer"},
    {"bad/slo_throughput.json", PB_ERR_INVALID,
     ": " P0
     "/promises/slo/throughput.min: '10 per second' is not a rate (use e.g. 10/s, 600/m, 1/h)"},
    {"bad/slo_rejects_range.json", PB_ERR_INVALID,
     ": " P0 "/promises/slo/rejects.max: percentage '150%' is more than 100%"},
    {"bad/slo_rejects_nopct.json", PB_ERR_INVALID,
     ": " P0 "/promises/slo/rejects.max: '0.1' is not a percentage"},
    /* partitions */
    {"bad/partitions_zero.json", PB_ERR_INVALID,
     ": " P0 "/x-portbroker/partitions: 0 is out of range 1..10000"},
    {"bad/partitions_big.json", PB_ERR_INVALID,
     ": " P0 "/x-portbroker/partitions: 10001 is out of range 1..10000"},
    {"bad/partitions_string.json", PB_ERR_INVALID,
     ": " P0 "/x-portbroker/partitions: must be an integer, not a string"},
    {"bad/partitions_real.json", PB_ERR_INVALID,
     ": " P0 "/x-portbroker/partitions: must be an integer, not a real number"},
    /* from */
    {"bad/from_input_port.json", PB_ERR_INVALID,
     ": " I0 "/from: 'urn:dpds:com.acme:dataproducts:weather:2:inputports:observations' is an "
     "input port; 'from' names the output port"},
    {"bad/from_product.json", PB_ERR_INVALID,
     ": " I0 "/from: 'urn:dpds:com.acme:dataproducts:weather:2' is a product address; a port "
     "address is expected"},
    {"bad/from_garbage.json", PB_ERR_INVALID,
     ": " I0 "/from: address 'weather': not a URN (urn:dpds:...) nor a short form"},
    {"bad/from_on_output.json", PB_ERR_INVALID,
     ": " P0 "/from: 'from' applies to input ports only"},
    /* access */
    {"bad/access_on_input.json", PB_ERR_INVALID,
     ": " I0 "/x-portbroker/access: access lists apply to output ports only"},
    {"bad/access_bad_pattern.json", PB_ERR_INVALID,
     ": " P0 "/x-portbroker/access/1: access pattern 'com.acme/*': must be '*', a product URN"},
    {"bad/access_not_array.json", PB_ERR_INVALID,
     ": " P0 "/x-portbroker/access: must be an array, not a string"},
    /* eventTimeField, keySchema */
    {"bad/event_time_unknown.json", PB_ERR_INVALID,
     ": " P0 "/x-portbroker/eventTimeField: 'when' is not a top-level field of the port's schema"},
    {"bad/event_time_not_record.json", PB_ERR_INVALID,
     ": " I0 "/x-portbroker/eventTimeField: eventTimeField 'at' needs a record schema"},
    {"bad/event_time_wrong_type.json", PB_ERR_INVALID,
     ": " P0 "/x-portbroker/eventTimeField: field 'temp' is double; an event time is a long "
     "timestamp or an RFC 3339 string (optionally nullable)"},
    {"bad/event_time_union_two.json", PB_ERR_INVALID,
     ": " P0 "/x-portbroker/eventTimeField: field 't2' is union; an event time is"},
    /* Avro schema validation (schema.c): inline pointers continue the descriptor's */
    {"bad/schema_not_avro.json", PB_ERR_INVALID,
     ": " P0 "/promises/api/schema/fields/1/type: unknown type \"strin\""},
    {"bad/schema_bad_default.json", PB_ERR_INVALID,
     ": " P0 "/promises/api/schema/fields/2/default: invalid default for type int"},
    {"bad/key_schema_not_avro.json", PB_ERR_INVALID,
     ": " P0 "/x-portbroker/keySchema: a fixed requires \"size\""},
    {"ref_not_avro/product.json", PB_ERR_INVALID,
     ": " P0
     "/promises/api/schema/$ref: 'event.avsc' at /fields/0/type: unknown type \"timestamp\""},
    {"bad/key_schema_twice.json", PB_ERR_INVALID,
     ": " P0 "/x-portbroker/keySchema: key schema given twice"},
};

static void bad_case(void **state) {
    const bad_case_t *c = *state;
    char path[512];
    snprintf(path, sizeof path, D "%s", c->file);
    pb_product_t *p = (pb_product_t *)0x1;
    pb_err_t err = {0};
    int rc = pb_descriptor_load_file(path, "com.acme", 3, &p, &err);
    if (rc != c->code || !strstr(err.msg, c->want) || strncmp(err.msg, "descriptor ", 11) != 0) {
        print_error("file: %s\nrc: %d (want %d)\nmessage: %s\nwanted:  %s\n", path, rc, c->code,
                    err.msg, c->want);
        fail();
    }
    assert_null(p);
    /* every message names the file */
    assert_non_null(strstr(err.msg, path));
}

/* Every fixture in tests/data/descriptors/bad/ has a case in the table (no orphan fixtures). */
static void every_fixture_has_a_case(void **state) {
    (void)state;
    pb_descriptor_set_t *set = NULL;
    pb_err_t err = {0};
    /* load_dir stops at the first bad file, in name order */
    assert_int_equal(pb_descriptor_load_dir(D "bad", "com.acme", 3, &set, &err), PB_ERR_INVALID);
    assert_null(set);
    expect_msg(&err, "descriptor " D "bad/access_bad_pattern.json: ");
    FILE *ls = popen("ls " D "bad", "r");
    assert_non_null(ls);
    char name[256];
    while (fgets(name, sizeof name, ls)) {
        name[strcspn(name, "\n")] = 0;
        int found = 0;
        for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++)
            if (strncmp(bad_cases[i].file, "bad/", 4) == 0 &&
                strcmp(bad_cases[i].file + 4, name) == 0)
                found = 1;
        if (!found) {
            print_error("fixture %s has no case\n", name);
            fail();
        }
    }
    pclose(ls);
}

/* A valid Avro schema of exactly size bytes: {"type":"string","doc":"xxx..."}. */
static void write_big_schema(const char *path, size_t size) {
    static const char head[] = "{\"type\":\"string\",\"doc\":\"", tail[] = "\"}";
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(head, f);
    for (size_t i = 0; i < size - (sizeof head - 1) - (sizeof tail - 1); i++)
        fputc('x', f);
    fputs(tail, f);
    fclose(f);
}

static void ref_too_large(void **state) {
    (void)state;
    char dir[] = "/tmp/pb_desc_XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    json_error_t jerr;
    json_t *j = json_load_file(D "ref_ok/product.json", 0, &jerr);
    assert_non_null(j);
    snprintf(path, sizeof path, "%s/product.json", dir);
    json_t *api = json_object_get(
        json_object_get(
            json_array_get(
                json_object_get(json_object_get(j, "interfaceComponents"), "outputPorts"), 0),
            "promises"),
        "api");
    json_object_set_new(api, "schema", json_pack("{s:s}", "$ref", "big.avsc"));
    json_object_del(
        json_object_get(
            json_array_get(
                json_object_get(json_object_get(j, "interfaceComponents"), "outputPorts"), 0),
            "x-portbroker"),
        "eventTimeField");
    assert_int_equal(json_dump_file(j, path, 0), 0);
    json_decref(j);
    snprintf(path, sizeof path, "%s/big.avsc", dir);
    write_big_schema(path, PB_SCHEMA_MAX_BYTES + 1);

    pb_product_t *p = NULL;
    pb_err_t err = {0};
    snprintf(path, sizeof path, "%s/product.json", dir);
    assert_int_equal(pb_descriptor_load_file(path, "com.acme", 1, &p, &err), PB_ERR_TOO_LARGE);
    expect_msg(&err, P0
               "/promises/api/schema/$ref: 'big.avsc': 1048577 bytes, at most 1048576 are allowed");

    /* one byte less is accepted */
    snprintf(path, sizeof path, "%s/big.avsc", dir);
    write_big_schema(path, PB_SCHEMA_MAX_BYTES);
    snprintf(path, sizeof path, "%s/product.json", dir);
    if (pb_descriptor_load_file(path, "com.acme", 1, &p, &err)) {
        print_error("%s\n", err.msg);
        fail();
    }
    assert_int_equal(p->outputs[0].parsed->root->type, PB_AVRO_STRING);
    pb_product_destroy(p);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void file_errors(void **state) {
    (void)state;
    pb_product_t *p = NULL;
    pb_err_t err = {0};
    assert_int_equal(pb_descriptor_load_file(D "nope.json", "x", 1, &p, &err), PB_ERR_NOT_FOUND);
    expect_msg(&err, "descriptor " D "nope.json: cannot open: No such file or directory");
    assert_int_equal(pb_descriptor_load_file(D "bad", "x", 1, &p, &err), PB_ERR_IO);
    expect_msg(&err, "descriptor " D "bad: not a regular file");
    pb_descriptor_set_t *set = NULL;
    assert_int_equal(pb_descriptor_load_dir(D "nodir", "x", 1, &set, &err), PB_ERR_NOT_FOUND);
    expect_msg(&err, "descriptor directory " D "nodir: No such file or directory");
    /* an empty directory is an empty set */
    char dir[] = "/tmp/pb_desc_XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(pb_descriptor_load_dir(dir, "x", 1, &set, &err), 0);
    assert_int_equal(set->n_products, 0);
    pb_descriptor_set_destroy(set);
    rmdir(dir);
}

/* ---- sets ---- */

static void sets(void **state) {
    (void)state;
    pb_descriptor_set_t *set = NULL;
    pb_err_t err = {0};
    assert_int_equal(pb_descriptor_load_dir(D "set_dup_product", "com.acme", 1, &set, &err),
                     PB_ERR_CONFLICT);
    assert_null(set);
    expect_msg(&err, "descriptor " D
                     "set_dup_product/b.json: product urn:dpds:com.acme:dataproducts:trip:1 "
                     "is already defined by " D "set_dup_product/a.json");
    assert_int_equal(pb_descriptor_load_dir(D "set_topic_clash", "com.acme", 1, &set, &err),
                     PB_ERR_CONFLICT);
    expect_msg(&err, "descriptor " D
                     "set_topic_clash/b.json: port urn:dpds:com.acme:dataproducts:other:1:"
                     "outputports:events: topic 'com.acme.trip.v1.events' is already used by port "
                     "urn:dpds:com.acme:dataproducts:trip:1:outputports:events");

    /* set_add: ownership is taken on failure too (ASan checks nothing leaks) */
    set = pb_descriptor_set_new();
    assert_non_null(set);
    pb_product_t *a = NULL, *b = NULL;
    assert_int_equal(pb_descriptor_load_file(D "good.json", "com.acme", 1, &a, &err), 0);
    assert_int_equal(pb_descriptor_load_file(D "good.json", "com.acme", 1, &b, &err), 0);
    assert_int_equal(pb_descriptor_set_add(set, a, &err), 0);
    assert_int_equal(pb_descriptor_set_add(set, b, &err), PB_ERR_CONFLICT);
    assert_int_equal(set->n_products, 1);
    assert_ptr_equal(pb_descriptor_set_product(set, "urn:dpds:com.acme:dataproducts:trip:1"), a);
    /* many products: the array grows */
    for (int i = 0; i < 20; i++) {
        json_error_t jerr;
        json_t *j = json_load_file(D "good.json", 0, &jerr);
        char urn[100], name[20];
        snprintf(name, sizeof name, "p%d", i);
        snprintf(urn, sizeof urn, "urn:dpds:com.acme:dataproducts:%s:1", name);
        json_t *info = json_object_get(j, "info");
        json_object_set_new(info, "fullyQualifiedName", json_string(urn));
        json_object_set_new(info, "name", json_string(name));
        pb_product_t *p = NULL;
        assert_int_equal(pb_descriptor_parse(j, NULL, name, "com.acme", 1, &p, &err), 0);
        json_decref(j);
        assert_int_equal(pb_descriptor_set_add(set, p, &err), 0);
    }
    assert_int_equal(set->n_products, 21);
    assert_non_null(
        pb_descriptor_set_port(set, "urn:dpds:com.acme:dataproducts:p19:1:inputports:weather"));

    /* put: replace by URN (topics may stay the same), or add when new */
    pb_product_t *old = NULL;
    assert_int_equal(pb_descriptor_load_file(D "good.json", "com.acme", 5, &b, &err), 0);
    assert_int_equal(pb_descriptor_set_put(set, b, &old, &err), 0);
    assert_ptr_equal(old, a);
    pb_product_destroy(old);
    assert_int_equal(set->n_products, 21);
    assert_int_equal(pb_descriptor_set_product(set, "urn:dpds:com.acme:dataproducts:trip:1")
                         ->outputs[0]
                         .partitions,
                     5);
    /* put of a product whose topic another product uses: refused, set unchanged */
    json_error_t jerr;
    json_t *j = json_load_file(D "set_topic_clash/b.json", 0, &jerr);
    assert_non_null(j);
    json_object_set_new(json_object_get(j, "info"), "fullyQualifiedName",
                        json_string("urn:dpds:com.acme:dataproducts:p3:1"));
    json_object_set_new(json_object_get(j, "info"), "name", json_string("p3"));
    pb_product_t *c = NULL;
    assert_int_equal(pb_descriptor_parse(j, NULL, "clash", "com.acme", 1, &c, &err), 0);
    json_decref(j);
    const pb_product_t *p3 = pb_descriptor_set_product(set, "urn:dpds:com.acme:dataproducts:p3:1");
    assert_int_equal(pb_descriptor_set_put(set, c, &old, &err), PB_ERR_CONFLICT);
    expect_msg(&err, "topic 'com.acme.trip.v1.events' is already used by port "
                     "urn:dpds:com.acme:dataproducts:trip:1:outputports:events");
    assert_null(old);
    assert_ptr_equal(pb_descriptor_set_product(set, "urn:dpds:com.acme:dataproducts:p3:1"), p3);
    /* remove */
    pb_product_t *r = pb_descriptor_set_remove(set, "urn:dpds:com.acme:dataproducts:p3:1");
    assert_ptr_equal(r, p3);
    pb_product_destroy(r);
    assert_int_equal(set->n_products, 20);
    assert_null(pb_descriptor_set_product(set, "urn:dpds:com.acme:dataproducts:p3:1"));
    assert_null(pb_descriptor_set_remove(set, "urn:dpds:com.acme:dataproducts:p3:1"));
    assert_non_null(pb_descriptor_set_product(set, "urn:dpds:com.acme:dataproducts:p19:1"));
    pb_descriptor_set_destroy(set);

    pb_descriptor_set_destroy(NULL);
    pb_product_destroy(NULL);
}

/* ---- SLO strings ---- */

static void durations(void **state) {
    (void)state;
    static const struct {
        const char *s;
        int64_t ms;
    } ok[] = {{"500ms", 500},
              {"30s", 30000},
              {"5m", 300000},
              {"1h", 3600000},
              {"1d", 86400000},
              {"1ms", 1},
              {"3650d", 3650LL * 86400000},
              {"90m", 5400000},
              {"007s", 7000}};
    pb_err_t err = {0};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ms = -1;
        assert_int_equal(pb_descriptor_parse_duration(ok[i].s, &ms, &err), 0);
        assert_int_equal(ms, ok[i].ms);
    }
    static const char *bad[] = {"5 minutes", "",      "5",   "m",     "1.5h",
                                "5M",        " 5m",   "5m ", "-5m",   "+5m",
                                "1e3s",      "5mins", "1w",  "0x10s", "9999999999999999s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms;
        assert_int_equal(pb_descriptor_parse_duration(bad[i], &ms, &err), PB_ERR_INVALID);
        expect_msg(&err, "is not a duration (use e.g. 500ms, 30s, 5m, 1h)");
    }
    int64_t ms;
    assert_int_equal(pb_descriptor_parse_duration("0ms", &ms, &err), PB_ERR_INVALID);
    expect_msg(&err, "duration '0ms' must be positive");
    assert_int_equal(pb_descriptor_parse_duration("3651d", &ms, &err), PB_ERR_INVALID);
    expect_msg(&err, "duration '3651d' is longer than 3650d");
    assert_int_equal(pb_descriptor_parse_duration("999999999999999ms", &ms, &err), PB_ERR_INVALID);
    expect_msg(&err, "is longer than 3650d");
}

static void rates_and_percents(void **state) {
    (void)state;
    pb_err_t err = {0};
    double v;
    assert_int_equal(pb_descriptor_parse_rate("10/s", &v, &err), 0);
    assert_true(v == 10.0);
    assert_int_equal(pb_descriptor_parse_rate("600/m", &v, &err), 0);
    assert_true(fabs(v - 10.0) < 1e-12);
    assert_int_equal(pb_descriptor_parse_rate("1/h", &v, &err), 0);
    assert_true(fabs(v - 1.0 / 3600) < 1e-15);
    assert_int_equal(pb_descriptor_parse_rate("24/d", &v, &err), 0);
    assert_true(fabs(v - 24.0 / 86400) < 1e-15);
    assert_int_equal(pb_descriptor_parse_rate("0.5/s", &v, &err), 0);
    assert_true(v == 0.5);
    static const char *badr[] = {"10",   "10/",  "/s",   "10/sec", "10 /s", "1./s",
                                 ".5/s", "-1/s", "10/S", "1e1/s",  ""};
    for (size_t i = 0; i < sizeof badr / sizeof badr[0]; i++) {
        assert_int_equal(pb_descriptor_parse_rate(badr[i], &v, &err), PB_ERR_INVALID);
        expect_msg(&err, "is not a rate (use e.g. 10/s, 600/m, 1/h)");
    }
    assert_int_equal(pb_descriptor_parse_rate("0/s", &v, &err), PB_ERR_INVALID);
    expect_msg(&err, "rate '0/s' must be positive");
    assert_int_equal(pb_descriptor_parse_rate("0.000/m", &v, &err), PB_ERR_INVALID);

    assert_int_equal(pb_descriptor_parse_percent("0.1%", &v, &err), 0);
    assert_true(fabs(v - 0.001) < 1e-15);
    assert_int_equal(pb_descriptor_parse_percent("100%", &v, &err), 0);
    assert_true(v == 1.0);
    assert_int_equal(pb_descriptor_parse_percent("0%", &v, &err), 0);
    assert_true(v == 0.0);
    assert_int_equal(pb_descriptor_parse_percent("5%", &v, &err), 0);
    assert_true(fabs(v - 0.05) < 1e-15);
    static const char *badp[] = {"0.1", "%", ".5%", "5 %", "-1%", "5%%", "5%x", "abc", ""};
    for (size_t i = 0; i < sizeof badp / sizeof badp[0]; i++) {
        assert_int_equal(pb_descriptor_parse_percent(badp[i], &v, &err), PB_ERR_INVALID);
        expect_msg(&err, "is not a percentage (use e.g. 0.1%, 5%)");
    }
    assert_int_equal(pb_descriptor_parse_percent("100.01%", &v, &err), PB_ERR_INVALID);
    expect_msg(&err, "percentage '100.01%' is more than 100%");
}

static void compat_levels(void **state) {
    (void)state;
    const char *ok[] = {"NONE",           "BACKWARD",           "BACKWARD_TRANSITIVE",
                        "FORWARD",        "FORWARD_TRANSITIVE", "FULL",
                        "FULL_TRANSITIVE"};
    for (size_t i = 0; i < 7; i++)
        assert_true(pb_descriptor_compat_valid(ok[i]));
    assert_false(pb_descriptor_compat_valid("backward"));
    assert_false(pb_descriptor_compat_valid("FULL "));
    assert_false(pb_descriptor_compat_valid(""));
    assert_false(pb_descriptor_compat_valid("TRANSITIVE"));
}

int main(void) {
    const char *root = getenv("PB_ROOT");
    if (root && chdir(root) != 0) {
        fprintf(stderr, "cannot chdir to PB_ROOT %s\n", root);
        return 1;
    }
    enum { NB = sizeof bad_cases / sizeof bad_cases[0] };
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(examples_load),
        cmocka_unit_test(good_fixture),
        cmocka_unit_test(parse_inline),
        cmocka_unit_test(compact_round_trip),
        cmocka_unit_test(every_fixture_has_a_case),
        cmocka_unit_test(ref_too_large),
        cmocka_unit_test(file_errors),
        cmocka_unit_test(sets),
        cmocka_unit_test(durations),
        cmocka_unit_test(rates_and_percents),
        cmocka_unit_test(compat_levels),
    };
    enum { NF = sizeof fixed / sizeof fixed[0] };
    static struct CMUnitTest tests[NF + NB];
    static char names[NB][300];
    memcpy(tests, fixed, sizeof fixed);
    for (size_t i = 0; i < NB; i++) {
        snprintf(names[i], sizeof names[i], "bad %s%s", bad_cases[i].file,
                 i && strcmp(bad_cases[i].file, bad_cases[i - 1].file) == 0 ? " (2)" : "");
        tests[NF + i] = (struct CMUnitTest){names[i], bad_case, NULL, NULL, (void *)&bad_cases[i]};
    }
    return _cmocka_run_group_tests("descriptor", tests, NF + NB, NULL, NULL);
}
