/* Unit tests for jobs.c: work runs off the loop thread, done runs on it in completion order, a slow
 * job of one type does not delay another type, cancel and destroy call done with cancelled = 1
 * after the work ran. A real loop (loop.c) drives the completions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "jobs.h"
#include "loop.h"

typedef struct rec {
    pb_loop_t *loop;
    pthread_t loop_thread; /* the thread running the test (and the loop) */
    int sleep_ms;
    atomic_int worked;
    int off_loop; /* work ran on another thread */
    int done, cancelled, stop_after;
    int *order, *n_order, tag;
} rec_t;

static void work(void *arg) {
    rec_t *r = arg;
    r->off_loop = !pthread_equal(pthread_self(), r->loop_thread);
    if (r->sleep_ms) usleep((useconds_t)r->sleep_ms * 1000);
    atomic_store(&r->worked, 1);
}

static void done(void *arg, int cancelled) {
    rec_t *r = arg;
    assert_true(pthread_equal(pthread_self(), r->loop_thread));
    r->done++;
    r->cancelled = cancelled;
    if (r->order) r->order[(*r->n_order)++] = r->tag;
    if (r->stop_after) pb_loop_stop(r->loop);
}

static void guard(void *arg) { pb_loop_stop(arg); } /* bounds every test's loop run */

static void runs_off_loop_and_completes_on_it(void **state) {
    (void)state;
    pb_err_t err = {0};
    pb_loop_t *loop = pb_loop_new(&err);
    pb_jobs_t *j = pb_jobs_new(loop, &err);
    assert_non_null(j);
    rec_t r = {.loop = loop, .loop_thread = pthread_self(), .stop_after = 1};
    assert_non_null(pb_jobs_submit(j, PB_JOB_TOPICS, work, done, &r));
    assert_int_equal(pb_jobs_pending(j, PB_JOB_TOPICS), 1);
    pb_loop_timer_t *t = pb_loop_timer_new(loop, 5000, 0, guard, loop);
    pb_loop_run(loop);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.cancelled, 0);
    assert_true(r.off_loop);
    assert_int_equal(pb_jobs_pending(j, PB_JOB_TOPICS), 0);
    assert_int_equal(pb_jobs_completed(j, PB_JOB_TOPICS), 1);
    pb_loop_timer_destroy(t);
    pb_jobs_destroy(j);
    pb_loop_destroy(loop);
}

/* A topic creation that hangs (here 1.5 s) does not hold the probe behind it. */
static void types_do_not_wait_for_each_other(void **state) {
    (void)state;
    pb_err_t err = {0};
    pb_loop_t *loop = pb_loop_new(&err);
    pb_jobs_t *j = pb_jobs_new(loop, &err);
    int order[4], n = 0;
    rec_t slow = {.loop = loop,
                  .loop_thread = pthread_self(),
                  .sleep_ms = 1500,
                  .order = order,
                  .n_order = &n,
                  .tag = 1,
                  .stop_after = 1};
    rec_t fast = {
        .loop = loop, .loop_thread = pthread_self(), .order = order, .n_order = &n, .tag = 2};
    assert_non_null(pb_jobs_submit(j, PB_JOB_TOPICS, work, done, &slow));
    assert_non_null(pb_jobs_submit(j, PB_JOB_PROBE, work, done, &fast));
    pb_loop_timer_t *t = pb_loop_timer_new(loop, 10000, 0, guard, loop);
    pb_loop_run(loop);
    assert_int_equal(n, 2);
    assert_int_equal(order[0], 2); /* the probe finished first */
    assert_int_equal(order[1], 1);
    pb_loop_timer_destroy(t);
    pb_jobs_destroy(j);
    pb_loop_destroy(loop);
}

/* Jobs of one type run in submission order. */
static void fifo_within_a_type(void **state) {
    (void)state;
    pb_err_t err = {0};
    pb_loop_t *loop = pb_loop_new(&err);
    pb_jobs_t *j = pb_jobs_new(loop, &err);
    int order[8], n = 0;
    rec_t r[5];
    for (int i = 0; i < 5; i++) {
        r[i] = (rec_t){.loop = loop,
                       .loop_thread = pthread_self(),
                       .order = order,
                       .n_order = &n,
                       .tag = i,
                       .stop_after = i == 4,
                       .sleep_ms = i == 0 ? 50 : 0};
        assert_non_null(pb_jobs_submit(j, PB_JOB_OFFSETS, work, done, &r[i]));
    }
    pb_loop_timer_t *t = pb_loop_timer_new(loop, 5000, 0, guard, loop);
    pb_loop_run(loop);
    assert_int_equal(n, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(order[i], i);
    pb_loop_timer_destroy(t);
    pb_jobs_destroy(j);
    pb_loop_destroy(loop);
}

/* Cancel: the work still runs, done says cancelled. Destroy: queued work runs (a close must
 * commit), done is called with cancelled = 1, on the destroying thread. */
static void cancel_and_destroy(void **state) {
    (void)state;
    pb_err_t err = {0};
    pb_loop_t *loop = pb_loop_new(&err);
    pb_jobs_t *j = pb_jobs_new(loop, &err);
    rec_t a = {.loop = loop, .loop_thread = pthread_self(), .sleep_ms = 100, .stop_after = 1};
    pb_job_t *ja = pb_jobs_submit(j, PB_JOB_CLOSE, work, done, &a);
    assert_non_null(ja);
    pb_jobs_cancel(ja);
    pb_loop_timer_t *t = pb_loop_timer_new(loop, 5000, 0, guard, loop);
    pb_loop_run(loop);
    assert_int_equal(a.done, 1);
    assert_int_equal(a.cancelled, 1);
    assert_true(atomic_load(&a.worked));
    rec_t q[3];
    for (int i = 0; i < 3; i++) {
        q[i] = (rec_t){.loop = loop, .loop_thread = pthread_self(), .sleep_ms = 30};
        assert_non_null(pb_jobs_submit(j, PB_JOB_CLOSE, work, done, &q[i]));
    }
    pb_jobs_destroy(j); /* the loop is not running: destroy itself delivers */
    for (int i = 0; i < 3; i++) {
        assert_true(atomic_load(&q[i].worked));
        assert_int_equal(q[i].done, 1);
        assert_int_equal(q[i].cancelled, 1);
    }
    pb_loop_timer_destroy(t);
    pb_loop_destroy(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(runs_off_loop_and_completes_on_it),
        cmocka_unit_test(types_do_not_wait_for_each_other),
        cmocka_unit_test(fifo_within_a_type),
        cmocka_unit_test(cancel_and_destroy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
