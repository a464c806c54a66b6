/* Unit tests for exporter.c built from its pb_exporter_env_t alone, without a broker (the point of
 * the env: a module is made from what it uses): metrics.enabled switches counting on or off; a
 * record applied before the exporter exists (NULL)
 * or while metrics are off touches nothing else in the env (here: no store at all). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "exporter.h"
#include "loop.h"
#include "metrics.h"

typedef struct fixture {
    pb_config_t *cfg;
    pb_loop_t *loop;
    pb_metrics_t *metrics;
} fixture_t;

static int setup(void **state) {
    static fixture_t f;
    pb_err_t err = {0};
    f.cfg = pb_config_new();
    f.loop = pb_loop_new(&err);
    f.metrics = pb_metrics_new();
    if (!f.cfg || !f.loop || !f.metrics) return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    pb_metrics_destroy(f->metrics);
    pb_loop_destroy(f->loop);
    pb_config_destroy(f->cfg);
    return 0;
}

static pb_exporter_env_t env_of(const fixture_t *f) {
    return (pb_exporter_env_t){.cfg = f->cfg, .loop = f->loop, .metrics = f->metrics};
}

static void enabled_by_default(void **state) {
    fixture_t *f = *state;
    pb_err_t err = {0};
    pb_exporter_env_t env = env_of(f);
    pb_exporter_t *x = pb_exporter_new(&env, &err);
    assert_non_null(x);
    assert_int_equal(err.code, 0);
    assert_true(pb_metrics_enabled(f->metrics));
    pb_exporter_destroy(x); /* stops its timers: the loop is destroyed after it with nothing left */
}

static void disabled_counts_nothing(void **state) {
    fixture_t *f = *state;
    pb_err_t err = {0};
    assert_int_equal(pb_config_set(f->cfg, "metrics.enabled", "false", "test", &err), 0);
    pb_exporter_env_t env = env_of(f);
    pb_exporter_t *x = pb_exporter_new(&env, &err);
    assert_non_null(x);
    assert_false(pb_metrics_enabled(f->metrics));
    /* Metrics off: a registry record applied reads nothing (env.store is NULL here). */
    pb_registry_result_t res = {.op = PB_REGISTRY_OP_PRODUCT_PUT, .changed = 1};
    pb_exporter_applied(x, &res);
    pb_exporter_destroy(x);
    assert_int_equal(pb_config_set(f->cfg, "metrics.enabled", "true", "test", &err), 0);
}

static void null_is_a_no_op(void **state) {
    (void)state;
    pb_registry_result_t res = {.op = PB_REGISTRY_OP_PRODUCT_PUT, .changed = 1};
    pb_exporter_applied(NULL, &res); /* start-up failed before the exporter was made */
    pb_exporter_destroy(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(enabled_by_default),
        cmocka_unit_test(disabled_counts_nothing),
        cmocka_unit_test(null_is_a_no_op),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
