/*
 * libFuzzer target for compat.c: the input is two schemas separated by a NUL byte (reader, then
 * writer). Both are parsed; when both parse, the pair is checked both ways and as a two-version
 * FULL_TRANSITIVE history. Looks for crashes, leaks, unbounded recursion and reports that
 * contradict their verdict.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_report(int rc, const pb_compat_report_t *rep) {
    if (rc == PB_ERR_NOMEM || rc == PB_ERR_TOO_LARGE) return;
    if (rc != 0 && rc != PB_ERR_INCOMPATIBLE) abort();
    if ((rc == 0) != (rep->compatible == 1)) abort();
    if (rep->compatible && (rep->n_issues || rep->n_omitted)) abort();
    if (!rep->compatible && !rep->n_issues) abort();
    for (size_t i = 0; i < rep->n_issues; i++)
        if (!rep->issues[i].location || rep->issues[i].location[0] != '/' ||
            !rep->issues[i].message || !rep->issues[i].message[0])
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *sep = memchr(data, 0, size);
    if (!sep) return 0;
    size_t n1 = (size_t)(sep - data);
    pb_schema_t *a = NULL, *b = NULL;
    pb_err_t err = {0};
    pb_compat_report_t rep = {0};
    if (pb_schema_parse((const char *)data, n1, &a, &err)) goto done;
    if (pb_schema_parse((const char *)sep + 1, size - n1 - 1, &b, &err)) goto done;
    check_report(pb_compat_check(a, b, &rep, &err), &rep);
    check_report(pb_compat_check(b, a, &rep, &err), &rep);
    check_report(pb_compat_check(a, a, &rep, &err), &rep);
    if (pb_compat_check(a, a, &rep, &err) == PB_ERR_INCOMPATIBLE) abort(); /* reflexive */
    const pb_schema_t *versions[2] = {a, b};
    check_report(pb_compat_check_level(PB_COMPAT_FULL_TRANSITIVE, b, versions, 2, &rep, &err),
                 &rep);
done:
    pb_compat_report_reset(&rep);
    pb_schema_destroy(a);
    pb_schema_destroy(b);
    return 0;
}
