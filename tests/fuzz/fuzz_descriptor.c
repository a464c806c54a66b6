/* libFuzzer target: arbitrary bytes as a descriptor (DESIGN.md §3) and as addresses (§2).
 *
 * The bytes are parsed as JSON and validated as a descriptor sent through the API (no base
 * directory, so no file is ever opened). Properties checked beyond "no crash, no leak":
 * - a parsed product's port URNs parse back to the same address and format to the same text;
 * - every error message starts with "descriptor " and is NUL-terminated within the buffer;
 * - the bytes as an address: a URN that parses formats back to itself; a short form that parses
 *   formats to a URN that parses to the same address.
 * Seeds: tests/fuzz/corpus/descriptor/ (the example mesh and the bad fixtures).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "descriptor.h"

static void check_addr(const char *s) {
    pb_addr_t a, b;
    pb_err_t err = {0};
    char out[PB_ADDR_URN_MAX], topic[PB_ADDR_KAFKA_NAME_MAX];
    if (pb_addr_parse(s, "com.acme", &a, &err) == 0) {
        pb_addr_format(&a, out, sizeof out);
        if (strncmp(s, "urn:", 4) == 0 && strcmp(out, s) != 0) abort();
        if (pb_addr_parse(out, NULL, &b, &err) != 0 || memcmp(&a, &b, sizeof a) != 0) abort();
        if (a.is_port && pb_addr_topic(&a, topic, sizeof topic, &err) == 0 &&
            pb_addr_check_topic(topic, &err) != 0)
            abort();
    } else if (memchr(err.msg, '\0', sizeof err.msg) == NULL) {
        abort();
    }
    pb_addr_check_topic(s, &err);
    pb_addr_check_pattern(s, &err);
    (void)pb_addr_match(s, "urn:dpds:com.acme:dataproducts:trip:1");
    int64_t ms;
    double d;
    pb_descriptor_parse_duration(s, &ms, &err);
    pb_descriptor_parse_rate(s, &d, &err);
    pb_descriptor_parse_percent(s, &d, &err);
}

static void check_product(const pb_product_t *p) {
    pb_err_t err = {0};
    char out[PB_ADDR_URN_MAX];
    for (int k = 0; k < 2; k++) {
        const pb_port_t *ports = k ? p->inputs : p->outputs;
        size_t n = k ? p->n_inputs : p->n_outputs;
        for (size_t i = 0; i < n; i++) {
            pb_addr_t a;
            if (pb_addr_parse_port(ports[i].fqn, NULL, &a, &err) != 0) abort();
            pb_addr_format(&a, out, sizeof out);
            if (strcmp(out, ports[i].fqn) != 0) abort();
            if (pb_addr_check_topic(ports[i].topic, &err) ||
                pb_addr_check_topic(ports[i].dlq_topic, &err))
                abort();
            if (!ports[i].parsed || ports[i].partitions < 1) abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 64 * 1024) return 0;
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (size < 1024) check_addr(s);

    json_error_t jerr;
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (j) {
        pb_product_t *p = NULL;
        pb_err_t err = {0};
        if (pb_descriptor_parse(j, NULL, "fuzz", "com.acme", 3, &p, &err) == 0) {
            check_product(p);
            pb_descriptor_set_t *set = pb_descriptor_set_new();
            if (set) {
                const char *fqn = p->fqn;
                if (pb_descriptor_set_add(set, p, &err) == 0 &&
                    !pb_descriptor_set_product(set, fqn))
                    abort();
                pb_descriptor_set_destroy(set);
            } else {
                pb_product_destroy(p);
            }
        } else if (strncmp(err.msg, "descriptor fuzz: ", 17) != 0 || !err.code) {
            abort();
        }
        json_decref(j);
    }
    free(s);
    return 0;
}
