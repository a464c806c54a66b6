/*
 * test_dedupe — the publish path's id memory (broker/dedupe.c), as scripted scenarios: each step
 * begins an id, settles a pending one, sweeps, or checks the counts, and states what it expects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dedupe.h"
#include "err.h"

enum { BEGIN, SETTLE, FAIL, EXPIRE, COUNT, END };

typedef struct {
    int op;
    const char *port, *id; /* BEGIN */
    uint64_t digest;       /* BEGIN */
    int64_t now;
    int expect; /* BEGIN: pb_dedupe_status_t; EXPIRE: ids forgotten; COUNT: ids held */
    int32_t partition;
    int64_t offset; /* BEGIN (SEEN, CONFLICT) and SETTLE */
    int slot;       /* BEGIN NEW: where the entry is kept; SETTLE/FAIL: which entry */
    int waiters;    /* SETTLE/FAIL: how many waiters must be told */
} step_t;

typedef struct {
    const char *name;
    int64_t window_ms;
    size_t max_ids, max_bytes;
    step_t steps[24];
} scenario_t;

#define B(port, id, dg, now, st, p, o, slot)                                                       \
    { BEGIN, port, id, dg, now, st, p, o, slot, 0 }
#define S(slot, now, p, o, nw)                                                                     \
    { SETTLE, NULL, NULL, 0, now, 0, p, o, slot, nw }
#define F(slot, now, nw)                                                                           \
    { FAIL, NULL, NULL, 0, now, 0, -1, -1, slot, nw }
#define X(now, n)                                                                                  \
    { EXPIRE, NULL, NULL, 0, now, n, 0, 0, 0, 0 }
#define C(n)                                                                                       \
    { COUNT, NULL, NULL, 0, 0, n, 0, 0, 0, 0 }
#define E                                                                                          \
    { END, NULL, NULL, 0, 0, 0, 0, 0, 0, 0 }
#define NEW PB_DEDUPE_NEW
#define SEEN PB_DEDUPE_SEEN
#define CONFLICT PB_DEDUPE_CONFLICT
#define WAIT PB_DEDUPE_WAITING

static const scenario_t scenarios[] = {
    {"acknowledged id is recognised with its position",
     60000,
     100,
     1 << 20,
     {B("p", "a", 1, 0, NEW, 0, 0, 0), S(0, 10, 2, 41, 0), B("p", "a", 1, 20, SEEN, 2, 41, 0),
      B("p", "b", 1, 20, NEW, 0, 0, 1), C(2), E}},
    {"another record under a known id is a conflict, in flight or stored",
     60000,
     100,
     1 << 20,
     {B("p", "a", 1, 0, NEW, 0, 0, 0), B("p", "a", 2, 1, CONFLICT, -1, -1, 0), S(0, 2, 0, 7, 0),
      B("p", "a", 2, 3, CONFLICT, 0, 7, 0), B("p", "a", 1, 3, SEEN, 0, 7, 0), E}},
    {"the same id in flight waits, and every waiter hears the outcome once",
     60000,
     100,
     1 << 20,
     {B("p", "a", 5, 0, NEW, 0, 0, 0), B("p", "a", 5, 1, WAIT, -1, -1, 0),
      B("p", "a", 5, 1, WAIT, -1, -1, 0), S(0, 2, 1, 9, 2), B("p", "a", 5, 3, SEEN, 1, 9, 0), E}},
    {"a failed produce forgets the id (a retry is produced) and fails its waiters",
     60000,
     100,
     1 << 20,
     {B("p", "a", 5, 0, NEW, 0, 0, 0), B("p", "a", 5, 1, WAIT, -1, -1, 0), F(0, 2, 1), C(0),
      B("p", "a", 5, 3, NEW, 0, 0, 0), E}},
    {"the same id on two ports is two ids",
     60000,
     100,
     1 << 20,
     {B("p", "a", 1, 0, NEW, 0, 0, 0), B("q", "a", 2, 0, NEW, 0, 0, 1), S(0, 1, 0, 1, 0),
      S(1, 1, 0, 2, 0), B("q", "a", 2, 2, SEEN, 0, 2, 0), B("p", "a", 1, 2, SEEN, 0, 1, 0), E}},
    {"the window: remembered until window_ms after the acknowledgement",
     1000,
     100,
     1 << 20,
     {B("p", "a", 1, 0, NEW, 0, 0, 0), S(0, 100, 0, 1, 0), B("p", "a", 1, 1099, SEEN, 0, 1, 0),
      B("p", "a", 1, 1100, NEW, 0, 0, 1), E}},
    {"a pending id never ages out",
     1000,
     100,
     1 << 20,
     {B("p", "a", 1, 0, NEW, 0, 0, 0), X(5000, 0), B("p", "a", 1, 5000, WAIT, -1, -1, 0),
      S(0, 5001, 0, 3, 1), C(1), X(6001, 1), C(0), E}},
    {"max_ids per port: the port's oldest goes, other ports keep theirs",
     60000,
     2,
     1 << 20,
     {B("q", "z", 1, 0, NEW, 0, 0, 3), S(3, 0, 0, 0, 0), B("p", "a", 1, 1, NEW, 0, 0, 0),
      S(0, 1, 0, 1, 0), B("p", "b", 1, 2, NEW, 0, 0, 1), S(1, 2, 0, 2, 0),
      B("p", "c", 1, 3, NEW, 0, 0, 2), S(2, 3, 0, 3, 0), C(3), B("p", "b", 1, 4, SEEN, 0, 2, 0),
      B("q", "z", 1, 4, SEEN, 0, 0, 0), B("p", "a", 1, 4, NEW, 0, 0, 0), E}},
    {"max_bytes: the oldest of any port goes first",
     60000,
     100,
     500, /* ~113 bytes an entry with a 1-byte id, ~50 a port: four entries on two ports do not fit
           */
     {B("q", "z", 1, 0, NEW, 0, 0, 0), S(0, 0, 0, 0, 0), B("p", "a", 1, 1, NEW, 0, 0, 1),
      S(1, 1, 0, 1, 0), B("p", "b", 1, 2, NEW, 0, 0, 2), S(2, 2, 0, 2, 0),
      B("p", "c", 1, 3, NEW, 0, 0, 3), S(3, 3, 0, 3, 0), B("p", "c", 1, 4, SEEN, 0, 3, 0),
      B("q", "z", 1, 4, NEW, 0, 0, 0), E}},
    {"the sweep forgets every port's old ids",
     1000,
     100,
     1 << 20,
     {B("p", "a", 1, 0, NEW, 0, 0, 0), S(0, 0, 0, 1, 0), B("q", "b", 1, 0, NEW, 0, 0, 1),
      S(1, 500, 0, 2, 0), X(999, 0), X(1000, 1), C(1), X(1500, 1), C(0), E}},
};

typedef struct {
    pb_dedupe_wait_t w;
    int calls, code;
    int32_t partition;
    int64_t offset;
} waiter_t;

static void heard(pb_dedupe_wait_t *w, int code, const char *reason, int32_t partition,
                  int64_t offset) {
    (void)reason;
    waiter_t *t = (waiter_t *)w;
    t->calls++;
    t->code = code;
    t->partition = partition;
    t->offset = offset;
}

static void run(const scenario_t *sc) {
    pb_dedupe_t *d = pb_dedupe_new(sc->window_ms, sc->max_ids, sc->max_bytes);
    assert_non_null(d);
    pb_dedupe_entry_t *slots[8] = {0};
    waiter_t waiters[8];
    int nw = 0;
    memset(waiters, 0, sizeof waiters);
    for (const step_t *s = sc->steps; s->op != END; s++) {
        int i = (int)(s - sc->steps);
        switch (s->op) {
        case BEGIN: {
            pb_dedupe_entry_t *e = NULL;
            int32_t p = -7;
            int64_t o = -7;
            waiter_t *w = &waiters[nw];
            w->w.cb = heard;
            pb_dedupe_status_t st = pb_dedupe_begin(d, s->port, s->id, strlen(s->id), s->digest,
                                                    s->now, &w->w, &e, &p, &o);
            if ((int)st != s->expect)
                fail_msg("%s, step %d: status %d, want %d", sc->name, i, st, s->expect);
            if (st == PB_DEDUPE_NEW) slots[s->slot] = e;
            if (st == PB_DEDUPE_WAITING) nw++;
            if ((st == PB_DEDUPE_SEEN || st == PB_DEDUPE_CONFLICT) &&
                (p != s->partition || o != s->offset))
                fail_msg("%s, step %d: at %d:%lld, want %d:%lld", sc->name, i, p, (long long)o,
                         s->partition, (long long)s->offset);
            break;
        }
        case SETTLE:
        case FAIL: {
            int before[8];
            for (int k = 0; k < nw; k++)
                before[k] = waiters[k].calls;
            int code = s->op == FAIL ? PB_ERR_UNAVAILABLE : 0;
            pb_dedupe_settle(d, slots[s->slot], code, code ? "down" : NULL, s->partition, s->offset,
                             s->now);
            slots[s->slot] = NULL;
            int told = 0;
            for (int k = 0; k < nw; k++) {
                if (waiters[k].calls == before[k]) continue;
                told++;
                assert_int_equal(waiters[k].calls, 1);
                assert_int_equal(waiters[k].code, code);
                if (!code) {
                    assert_int_equal(waiters[k].partition, s->partition);
                    assert_int_equal(waiters[k].offset, s->offset);
                }
            }
            if (told != s->waiters)
                fail_msg("%s, step %d: %d waiters told, want %d", sc->name, i, told, s->waiters);
            break;
        }
        case EXPIRE:
            if ((int)pb_dedupe_expire(d, s->now) != s->expect)
                fail_msg("%s, step %d: sweep forgot a different number than %d", sc->name, i,
                         s->expect);
            break;
        case COUNT:
            if ((int)pb_dedupe_count(d) != s->expect)
                fail_msg("%s, step %d: %zu ids held, want %d", sc->name, i, pb_dedupe_count(d),
                         s->expect);
            if (s->expect == 0 && pb_dedupe_bytes(d) != 0)
                fail_msg("%s, step %d: %zu bytes held with no id", sc->name, i, pb_dedupe_bytes(d));
            break;
        }
    }
    pb_dedupe_destroy(d);
}

static void test_scenarios(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
        run(&scenarios[i]);
}

/* Many ids on many ports (the tables grow): each is recognised afterwards, and the sweep empties
 * them all. */
static void test_many(void **state) {
    (void)state;
    pb_dedupe_t *d = pb_dedupe_new(1000, 100000, (size_t)1 << 30);
    char port[32], id[32];
    for (int i = 0; i < 50000; i++) {
        snprintf(port, sizeof port, "port-%d", i % 300);
        snprintf(id, sizeof id, "id-%d", i);
        pb_dedupe_entry_t *e = NULL;
        int32_t p;
        int64_t o;
        assert_int_equal(pb_dedupe_begin(d, port, id, strlen(id), (uint64_t)i, 0, NULL, &e, &p, &o),
                         PB_DEDUPE_NEW);
        pb_dedupe_settle(d, e, 0, NULL, i % 3, i, 0);
    }
    assert_int_equal(pb_dedupe_count(d), 50000);
    for (int i = 0; i < 50000; i++) {
        snprintf(port, sizeof port, "port-%d", i % 300);
        snprintf(id, sizeof id, "id-%d", i);
        pb_dedupe_entry_t *e = NULL;
        int32_t p;
        int64_t o;
        assert_int_equal(
            pb_dedupe_begin(d, port, id, strlen(id), (uint64_t)i, 10, NULL, &e, &p, &o),
            PB_DEDUPE_SEEN);
        assert_int_equal(o, i);
    }
    assert_int_equal(pb_dedupe_expire(d, 1000), 50000);
    assert_int_equal(pb_dedupe_count(d), 0);
    assert_int_equal(pb_dedupe_bytes(d), 0);
    pb_dedupe_destroy(d);
}

/* The digest tells key and value apart ("ab" + "c" is not "a" + "bc"). */
static void test_digest(void **state) {
    (void)state;
    assert_int_not_equal(pb_dedupe_digest("ab", 2, "c", 1), pb_dedupe_digest("a", 1, "bc", 2));
    assert_int_equal(pb_dedupe_digest("a", 1, "bc", 2), pb_dedupe_digest("a", 1, "bc", 2));
    /* The values the hand-written FNV-1a gave before broker/hash.h (the key's length goes in as
     * the bytes of a size_t: these are a 64-bit little-endian machine's). */
    if (sizeof(size_t) == 8 && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) {
        assert_int_equal(pb_dedupe_digest("key", 3, "value", 5), 0x50fa28ac01149182);
        assert_int_equal(pb_dedupe_digest("", 0, "", 0), 0xa8c7f832281a39c5);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scenarios),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_digest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
