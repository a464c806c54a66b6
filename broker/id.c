#include "id.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

static void random_bytes(uint8_t *b, size_t n) {
    ssize_t got = getrandom(b, n, 0);
    if (got == (ssize_t)n) return;
    /* getrandom does not fail for small sizes after boot; keep going with a clock-seeded mix. */
    static _Thread_local uint64_t x;
    x ^= (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)b ^ 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b[i] = (uint8_t)x;
    }
}

static void hex(char *out, const uint8_t *b, size_t n) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
}

/* n lower-case hex digits, not all zero (W3C: all-zero ids are invalid). */
static int valid_id(const char *s, size_t n) {
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
        if (s[i] != '0') nonzero = 1;
    }
    return nonzero;
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
    snprintf(out, PB_ID_UUID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}
