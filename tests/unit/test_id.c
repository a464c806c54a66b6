/*
 * test_id — UUIDv4 and traceparent span ids from id.c's buffered random source: format, no
 * repeats across many draws (several pool refills) and threads, never an all-zero span id, and a
 * forked child drawing different bytes than its parent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "id.h"

#define PARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#define DRAWS 20000 /* 8 bytes each: ~40 refills of a 4 KiB pool */

static int cmp_span(const void *a, const void *b) { return memcmp(a, b, 16); }

/* n span ids (16 hex chars each, packed) drawn as children of PARENT. */
static char *spans(size_t n) {
    char *s = malloc(n * 16);
    char tp[PB_ID_TRACEPARENT_LEN + 1];
    assert_non_null(s);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(pb_id_traceparent_child(PARENT, strlen(PARENT), tp), 1);
        memcpy(s + i * 16, tp + 36, 16);
    }
    return s;
}

static int is_hex(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

static void test_span_ids_unique_nonzero(void **state) {
    (void)state;
    char *s = spans(DRAWS);
    for (size_t i = 0; i < DRAWS; i++) {
        assert_true(is_hex(s + i * 16, 16));
        assert_memory_not_equal(s + i * 16, "0000000000000000", 16);
    }
    qsort(s, DRAWS, 16, cmp_span);
    for (size_t i = 1; i < DRAWS; i++)
        assert_memory_not_equal(s + (i - 1) * 16, s + i * 16, 16);
    free(s);
}

static void test_uuid_format_unique(void **state) {
    (void)state;
    enum { N = 5000 };
    char(*u)[PB_ID_UUID_LEN + 1] = malloc(N * sizeof *u);
    assert_non_null(u);
    for (size_t i = 0; i < N; i++) {
        memset(u[i], 'x', sizeof u[i]);
        pb_id_uuid4(u[i]);
        assert_int_equal(strlen(u[i]), PB_ID_UUID_LEN);
        for (size_t j = 0; j < PB_ID_UUID_LEN; j++) {
            if (j == 8 || j == 13 || j == 18 || j == 23)
                assert_int_equal(u[i][j], '-');
            else
                assert_true(is_hex(&u[i][j], 1));
        }
        assert_int_equal(u[i][14], '4');           /* version 4 */
        assert_non_null(strchr("89ab", u[i][19])); /* RFC 9562 variant */
    }
    qsort(u, N, sizeof *u, (int (*)(const void *, const void *))strcmp);
    for (size_t i = 1; i < N; i++)
        assert_string_not_equal(u[i - 1], u[i]);
    free(u);
}

/* A child of fork() must not repeat the span ids its parent draws next from the same pool. */
static void test_fork_child_draws_other_bytes(void **state) {
    (void)state;
    enum { N = 64 };
    char *warm = spans(1); /* the pool now holds unread bytes the child inherits */
    free(warm);
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char *c = spans(N);
        ssize_t w = write(fd[1], c, N * 16);
        _exit(w == N * 16 ? 0 : 1);
    }
    close(fd[1]);
    char *p = spans(N);
    char c[N * 16];
    size_t got = 0;
    while (got < sizeof c) {
        ssize_t r = read(fd[0], c + got, sizeof c - got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(got, sizeof c);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < N; j++)
            assert_memory_not_equal(p + i * 16, c + j * 16, 16);
    free(p);
}

static void *draw_thread(void *arg) { return spans((size_t)(uintptr_t)arg); }

/* Threads have pools of their own: no id repeats across them. */
static void test_threads_unique(void **state) {
    (void)state;
    enum { T = 4, N = 2000 };
    pthread_t th[T];
    char *all = malloc((size_t)T * N * 16);
    assert_non_null(all);
    for (int i = 0; i < T; i++)
        assert_int_equal(pthread_create(&th[i], NULL, draw_thread, (void *)(uintptr_t)N), 0);
    for (int i = 0; i < T; i++) {
        void *r = NULL;
        pthread_join(th[i], &r);
        memcpy(all + (size_t)i * N * 16, r, N * 16);
        free(r);
    }
    qsort(all, (size_t)T * N, 16, cmp_span);
    for (size_t i = 1; i < (size_t)T * N; i++)
        assert_memory_not_equal(all + (i - 1) * 16, all + i * 16, 16);
    free(all);
}

/* A new trace when the parent is unusable: random non-zero trace id, sampled. */
static void test_new_trace(void **state) {
    (void)state;
    char a[PB_ID_TRACEPARENT_LEN + 1], b[PB_ID_TRACEPARENT_LEN + 1];
    assert_int_equal(pb_id_traceparent_child(NULL, 0, a), 0);
    assert_int_equal(pb_id_traceparent_child(NULL, 0, b), 0);
    assert_true(is_hex(a + 3, 32) && is_hex(a + 36, 16));
    assert_memory_not_equal(a + 3, "00000000000000000000000000000000", 32);
    assert_memory_not_equal(a + 3, b + 3, 32);
    assert_string_equal(a + 52, "-01");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_span_ids_unique_nonzero),
        cmocka_unit_test(test_uuid_format_unique),
        cmocka_unit_test(test_fork_child_draws_other_bytes),
        cmocka_unit_test(test_threads_unique),
        cmocka_unit_test(test_new_trace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
