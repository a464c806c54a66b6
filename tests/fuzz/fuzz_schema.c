/*
 * libFuzzer target for the schema parser. Any bytes: parse must return 0 or an error with a
 * message, never crash or leak. When they parse:
 *   - the canonical form reparses to the same canonical form and fingerprint, unless a named type
 *     of the null namespace is defined inside a namespaced one: the spec's canonical form writes
 *     it as a bare name there, which reads back in the enclosing namespace or clashes with it (a
 *     known limit of Parsing Canonical Form, same in Java);
 *   - pb_schema_to_json reparses to the same canonical form, and its to_json is identical;
 *   - every field default passes pb_schema_check_default against its own type.
 * Build: make build/fuzz/fuzz_schema; seeds in tests/fuzz/corpus/schema/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

static void die(const char *what, const char *a, const char *b) {
    fprintf(stderr, "fuzz_schema: %s\n  %s\n  %s\n", what, a ? a : "", b ? b : "");
    abort();
}

/* Is a null-namespace named type defined (first reached, as the canonical form writes it) while
 * a namespace is in effect? */
static int ambiguous(const pb_schema_node_t *n, const char *ns, const pb_schema_node_t **seen,
                     size_t *n_seen) {
    if (pb_schema_is_named(n)) {
        for (size_t i = 0; i < *n_seen; i++)
            if (seen[i] == n) return 0;
        seen[(*n_seen)++] = n;
        if (ns && !n->namespace_) return 1;
        ns = n->namespace_;
    }
    for (size_t i = 0; i < n->n_fields; i++)
        if (ambiguous(n->fields[i].type, ns, seen, n_seen)) return 1;
    for (size_t i = 0; i < n->n_branches; i++)
        if (ambiguous(n->branches[i], ns, seen, n_seen)) return 1;
    return n->items ? ambiguous(n->items, ns, seen, n_seen) : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pb_schema_t *s = NULL, *c = NULL, *t = NULL;
    pb_err_t err = {0};
    json_t *j = NULL, *j2 = NULL;
    char *dump = NULL;
    if (pb_schema_parse((const char *)data, size, &s, &err)) {
        if (!err.msg[0] || s) die("error without a message or with a schema", err.msg, NULL);
        return 0;
    }
    const char *canon = pb_schema_canonical(s);
    const pb_schema_node_t **seen = calloc(s->n_nodes + 1, sizeof *seen);
    size_t n_seen = 0;
    if (!seen) abort();
    int exempt = ambiguous(s->root, NULL, seen, &n_seen);
    free(seen);
    /* (when exempt the bare name may even clash with the enclosing type and not reparse) */
    if (pb_schema_parse(canon, strlen(canon), &c, &err) && !exempt)
        die("canonical form does not reparse", canon, err.msg);
    if (!exempt && strcmp(canon, pb_schema_canonical(c)))
        die("canonical form not stable", canon, pb_schema_canonical(c));
    if (!exempt && pb_schema_fingerprint(s) != pb_schema_fingerprint(c))
        die("fingerprint differs", canon, NULL);
    j = pb_schema_to_json(s);
    if (!j) die("to_json failed", canon, NULL);
    dump = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!dump) die("dump failed", canon, NULL);
    if (pb_schema_parse(dump, strlen(dump), &t, &err))
        die("to_json does not reparse", dump, err.msg);
    if (strcmp(canon, pb_schema_canonical(t)))
        die("to_json changes the canonical form", canon, pb_schema_canonical(t));
    j2 = pb_schema_to_json(t);
    if (!j2 || !json_equal(j, j2)) die("to_json not stable", dump, NULL);
    for (size_t i = 0; i < s->n_nodes; i++) {
        const pb_schema_node_t *n = s->nodes[i];
        for (size_t k = 0; k < n->n_fields; k++)
            if (n->fields[k].default_value &&
                pb_schema_check_default(n->fields[k].type, n->fields[k].default_value, &err))
                die("stored default fails check_default", n->fields[k].pointer, err.msg);
    }
    free(dump);
    json_decref(j);
    json_decref(j2);
    pb_schema_destroy(s);
    pb_schema_destroy(c);
    pb_schema_destroy(t);
    return 0;
}
