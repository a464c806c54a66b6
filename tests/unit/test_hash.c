/*
 * test_hash — broker/hash.h, data-driven: the published FNV-1a 64 test vectors, chaining (any
 * split of an input hashes as the whole), the field form telling "ab"+"c" from "a"+"bc", and for
 * each former hand-written copy the digest it gave for known inputs, so moving it here changed
 * nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "hash.h"

/* FNV-1a 64 test vectors from the FNV authors' test suite (test_fnv.c, fnv1a_64_vector; the same
 * vectors as draft-eastlake-fnv). len counts a trailing NUL where the suite's TEST0 does. */
static const struct {
    const char *s;
    size_t len;
    uint64_t want;
} vectors[] = {
    {"", 0, 0xcbf29ce484222325},
    {"a", 1, 0xaf63dc4c8601ec8c},
    {"foob", 4, 0xdd120e790c2512af},
    {"foobar", 6, 0x85944171f73967e8},
    {"hello", 5, 0xa430d84680aabd0b},
    {"127.0.0.1", 9, 0xaabafe7104d914be},
    {"chongo was here!\n", 17, 0x46810940eff5f915},
    {"", 1, 0xaf63bd4c8601b7df},       /* one NUL byte */
    {"a", 2, 0x089be207b544f1e4},      /* "a" and its NUL */
    {"foobar", 7, 0x34531ca7168b8f38}, /* "foobar" and its NUL */
};

static void published_vectors(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        uint64_t got = pb_hash_bytes(PB_HASH_FNV_BASIS, vectors[i].s, vectors[i].len);
        if (got != vectors[i].want) {
            print_error("vector %zu (\"%s\", %zu bytes): 0x%016llx, want 0x%016llx\n", i,
                        vectors[i].s, vectors[i].len, (unsigned long long)got,
                        (unsigned long long)vectors[i].want);
            fail();
        }
        /* The string form is the byte form up to the NUL. */
        if (vectors[i].len == strlen(vectors[i].s))
            assert_int_equal(pb_hash_str(PB_HASH_FNV_BASIS, vectors[i].s), vectors[i].want);
    }
    assert_int_equal(pb_hash_bytes(PB_HASH_FNV_BASIS, NULL, 0), PB_HASH_FNV_BASIS);
}

/* Every split of every vector (and of a longer text) hashes as the whole, from any start. */
static void chaining(void **state) {
    (void)state;
    static const uint64_t starts[] = {PB_HASH_FNV_BASIS, PB_HASH_LEGACY_BASIS, 0, 42};
    const char *texts[] = {"foobar", "chongo was here!\n",
                           "urn:dpds:com.acme:dataproducts:trip:1:outputports:events"};
    for (size_t s = 0; s < sizeof starts / sizeof starts[0]; s++)
        for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
            const char *x = texts[t];
            size_t n = strlen(x);
            uint64_t whole = pb_hash_bytes(starts[s], x, n);
            assert_int_equal(pb_hash_str(starts[s], x), whole);
            for (size_t k = 0; k <= n; k++) {
                char head[128];
                memcpy(head, x, k);
                head[k] = 0;
                assert_int_equal(pb_hash_bytes(pb_hash_bytes(starts[s], x, k), x + k, n - k),
                                 whole);
                assert_int_equal(pb_hash_str(pb_hash_str(starts[s], head), x + k), whole);
            }
        }
}

/* The field form: each string then 0xff, so fields are told apart where plain chaining is not. */
static void fields(void **state) {
    (void)state;
    static const struct {
        const char *a1, *b1, *a2, *b2; /* (a1, b1) and (a2, b2): the same bytes, other fields */
    } pairs[] = {
        {"ab", "c", "a", "bc"},
        {"", "abc", "abc", ""},
        {"urn:x:1", "urn:y:1", "urn:x:1urn:y:1", ""},
        {NULL, "a", "a", NULL},
    };
    uint64_t h = PB_HASH_LEGACY_BASIS;
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        uint64_t one = pb_hash_field(pb_hash_field(h, pairs[i].a1), pairs[i].b1);
        uint64_t two = pb_hash_field(pb_hash_field(h, pairs[i].a2), pairs[i].b2);
        if (one == two) {
            print_error("pair %zu: (%s, %s) and (%s, %s) hash alike\n", i, pairs[i].a1, pairs[i].b1,
                        pairs[i].a2, pairs[i].b2);
            fail();
        }
    }
    /* Plain chaining does not tell them apart (why the field form exists). */
    assert_int_equal(pb_hash_str(pb_hash_str(h, "ab"), "c"),
                     pb_hash_str(pb_hash_str(h, "a"), "bc"));
    /* A field is the string then the one separator byte; NULL is the empty string. */
    assert_int_equal(pb_hash_field(h, "ab"), pb_hash_bytes(h, "ab\xff", 3));
    assert_int_equal(pb_hash_field(h, NULL), pb_hash_field(h, ""));
    assert_int_equal(pb_hash_field(PB_HASH_FNV_BASIS, ""),
                     pb_hash_bytes(PB_HASH_FNV_BASIS, "\xff", 1));
}

/*
 * What each former hand-written copy gave, computed with that code (copied out of the files
 * before the change) for these inputs; the expressions are the ones the sites use now:
 *   legacy  pb_hash_str(PB_HASH_LEGACY_BASIS, s): kafka_producer.c name_hash, registry.c
 *           hash_str, router.c topic_hash, sub.c group_key (and metrics.c fqn_hash)
 *   fnv     pb_hash_str(PB_HASH_FNV_BASIS, s): dedupe.c's port hash, kafka_admin.c topic_slot
 *   lag     pb_hash_str(PB_HASH_FNV_BASIS ^ 7, s): kafka_admin.c lag_ts_slot, partition 7
 *   field   pb_hash_field(PB_HASH_LEGACY_BASIS, s): lineage.c's job-set fingerprint, one field
 */
static const struct {
    const char *s;
    uint64_t legacy, fnv, lag, field;
} sites[] = {
    {"", 0x14650fb0739d0383, 0xcbf29ce484222325, 0xcbf29ce484222322, 0x44bd24d473ccebb4},
    {"a", 0x44bd8ad473cd9906, 0xaf63dc4c8601ec8c, 0xaf63db4c8601ead9, 0x9bace000c65ca21b},
    {"foobar", 0x88fad7c0a8ff07f2, 0x85944171f73967e8, 0x00632d87e6ced0d3, 0xc143a95f2958fb17},
    {"t.src.v1.obs", 0x06f90716966013b0, 0x12e8b3f0491b2eca, 0x6e58eaca6b85c691,
     0x393a5a618540cf3d},
    {"urn:dpds:com.acme:dataproducts:trip:1:outputports:events", 0x01717f927f718068,
     0xd8d7461e75569c42, 0xcb07b4b3554ead01, 0xe55c5cee8ddd8095},
    {"pb-sub-trip-1-in", 0xacfd62bec5fa6694, 0x321bd293b6ab52e2, 0x6d052e7c5821219d,
     0xecf5352a687c07d1},
};

/* pb_hash_fold: values computed independently (Python, the same three steps), and 0 stays 0. */
static void fold(void **state) {
    (void)state;
    static const struct {
        uint64_t in, out;
    } cases[] = {
        {0, 0},
        {1, UINT64_C(0xd6e8feb8b0b1032b)},
        {UINT64_C(0x14650fb0739d0383), UINT64_C(0xdae5b1ccbdddd985)}, /* legacy start of "" */
        {UINT64_C(0x0555df2adf5d972a), UINT64_C(0xc40558a6adec00a6)}, /* ...p17:1 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        assert_true(pb_hash_fold(cases[i].in) == cases[i].out);
    assert_true(pb_hash_str(PB_HASH_LEGACY_BASIS, "urn:dpds:bench:dataproducts:p17:1") ==
                UINT64_C(0x0555df2adf5d972a));
}

static void former_sites(void **state) {
    (void)state;
    assert_int_equal(PB_HASH_LEGACY_BASIS, 1469598103934665603ULL); /* as the copies wrote it */
    for (size_t i = 0; i < sizeof sites / sizeof sites[0]; i++) {
        const char *s = sites[i].s;
        uint64_t got[4] = {pb_hash_str(PB_HASH_LEGACY_BASIS, s), pb_hash_str(PB_HASH_FNV_BASIS, s),
                           pb_hash_str(PB_HASH_FNV_BASIS ^ (uint32_t)7, s),
                           pb_hash_field(PB_HASH_LEGACY_BASIS, s)};
        uint64_t want[4] = {sites[i].legacy, sites[i].fnv, sites[i].lag, sites[i].field};
        static const char *const what[4] = {"legacy", "fnv", "lag", "field"};
        for (int k = 0; k < 4; k++)
            if (got[k] != want[k]) {
                print_error("\"%s\" %s: 0x%016llx, want 0x%016llx\n", s, what[k],
                            (unsigned long long)got[k], (unsigned long long)want[k]);
                fail();
            }
        /* size_t tables (kafka_producer.c, router.c) took the low bits of the same value. */
        assert_int_equal((size_t)pb_hash_str(PB_HASH_LEGACY_BASIS, s), (size_t)sites[i].legacy);
    }
    /* lineage.c's fields chained: "ab" then "c" and "a" then "bc" (the old code's values). */
    assert_int_equal(pb_hash_field(pb_hash_field(PB_HASH_LEGACY_BASIS, "ab"), "c"),
                     0x8f445394c4cd6293);
    assert_int_equal(pb_hash_field(pb_hash_field(PB_HASH_LEGACY_BASIS, "a"), "bc"),
                     0x33b43574e9506a95);
    /* dedupe.c's id hash: the port's, continued over the id's bytes. */
    assert_int_equal(pb_hash_bytes(pb_hash_str(PB_HASH_FNV_BASIS, "p"), "id-1", 4),
                     0xdf4ae165f86e2524);
    /* lineage.c's statistics: two uint64_t counters as their bytes (a little-endian machine's). */
    if (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) {
        uint64_t v[2] = {12, 3456};
        assert_int_equal(pb_hash_bytes(PB_HASH_LEGACY_BASIS, v, sizeof v), 0xcf3a6b004ad1aab0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(published_vectors),
        cmocka_unit_test(chaining),
        cmocka_unit_test(fields),
        cmocka_unit_test(former_sites),
        cmocka_unit_test(fold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
