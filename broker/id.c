#include "id.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

void pb_id_uuid4(char out[PB_ID_UUID_LEN + 1]) {
    uint8_t b[16];
    ssize_t n = getrandom(b, sizeof b, 0);
    if (n != (ssize_t)sizeof b) {
        /* getrandom does not fail for 16 bytes after boot; keep going with a clock-seeded mix. */
        uint64_t x = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)out ^ 0x9e3779b97f4a7c15ull;
        for (int i = 0; i < 16; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b[i] = (uint8_t)x;
        }
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC variant */
    snprintf(out, PB_ID_UUID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}
