/*
 * id.c — UUIDv4 and span ids from a per-thread pool of kernel random bytes (getrandom), refilled
 * 4 KiB at a time and emptied in a fork child.
 */
#include "id.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "err.h"

/*
 * Random bytes from a per-thread pool refilled from getrandom(2) 4 KiB at a time: a span id per
 * routed record used to cost a syscall each (~6% of the routing thread); now 1/512th of them, from
 * the same source. Fork safety: the child of a fork() must not hand out the bytes its parent will,
 * so a pthread_atfork child handler empties the pool of the forking thread (a child's only
 * thread; the other threads' pools do not exist in the child). Checking getpid() per call instead
 * would cost the syscall this saves.
 */
#define POOL 4096

typedef struct pool {
    size_t pos; /* next unread byte; POOL: empty */
    uint8_t b[POOL];
} pool_t;

static _Thread_local pool_t pool = {.pos = POOL};
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void) { pool.pos = POOL; }

static void register_atfork(void) { pthread_atfork(NULL, NULL, on_fork_child); }

/* getrandom, else (it does not fail for small sizes after boot) a clock-seeded mix. */
static void fill(uint8_t *b, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(b + got, n - got, 0);
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (got == n) return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)getpid() ^
                 (uint64_t)(uintptr_t)b ^ 0x9e3779b97f4a7c15ull;
    for (size_t i = got; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b[i] = (uint8_t)x;
    }
}

static void random_bytes(uint8_t *b, size_t n) {
    PB_ASSERT(n <= POOL);
    if (pool.pos + n > POOL) {
        /* Registered before the first bytes are pooled: a fork before it has nothing to share. */
        pthread_once(&atfork_once, register_atfork);
        fill(pool.b, POOL);
        pool.pos = 0;
    }
    memcpy(b, pool.b + pool.pos, n);
    pool.pos += n;
}

static void hex(char *out, const uint8_t *b, size_t n) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
}

/* n lower-case hex digits, not all zero (W3C: all-zero ids are invalid). Per routed record:
 * branch-free arithmetic the compiler vectorises for the constant lengths (32, 16). */
static inline int valid_id(const char *s, size_t n) {
    unsigned char bad = 0, nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        unsigned char digit = (unsigned char)(c - '0') < 10;
        unsigned char lower = (unsigned char)(c - 'a') < 6;
        bad |= (unsigned char)!(digit | lower);
        nonzero |= (unsigned char)(c ^ '0');
    }
    return !bad && nonzero;
}

int pb_id_traceparent_child(const char *parent, size_t len, char out[PB_ID_TRACEPARENT_LEN + 1]) {
    uint8_t span[8], trace[16];
    int kept = parent && len == PB_ID_TRACEPARENT_LEN && !memcmp(parent, "00-", 3) &&
               valid_id(parent + 3, 32) && parent[35] == '-' && valid_id(parent + 36, 16) &&
               parent[52] == '-' && isxdigit((unsigned char)parent[53]) &&
               isxdigit((unsigned char)parent[54]);
    do
        random_bytes(span, sizeof span);
    while (!span[0] && !memcmp(span, span + 1, 7)); /* never the all-zero id */
    memcpy(out, "00-", 3);
    if (kept) {
        memcpy(out + 3, parent + 3, 32);
    } else {
        random_bytes(trace, sizeof trace);
        trace[0] |= 1; /* never all zero */
        hex(out + 3, trace, sizeof trace);
    }
    out[35] = '-';
    hex(out + 36, span, sizeof span);
    out[52] = '-';
    if (kept) {
        out[53] = parent[53];
        out[54] = parent[54];
    } else {
        out[53] = '0';
        out[54] = '1';
    }
    out[55] = 0;
    return kept;
}

void pb_id_uuid4(char out[PB_ID_UUID_LEN + 1]) {
    uint8_t b[16];
    random_bytes(b, sizeof b);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC variant */
    /* 8-4-4-4-12 */
    hex(out, b, 4);
    out[8] = '-';
    hex(out + 9, b + 4, 2);
    out[13] = '-';
    hex(out + 14, b + 6, 2);
    out[18] = '-';
    hex(out + 19, b + 8, 2);
    out[23] = '-';
    hex(out + 24, b + 10, 6);
    out[36] = 0;
}
