/*
 * log.c — formatting one event as one text or JSON line, written with one write(2) to stderr, the
 * level check and the rate limiter for repeated messages.
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jsontext.h"

static pb_log_level_t cur_level = PB_LOG_INFO;
static int cur_json;
static const char *names[] = {"error", "warn", "info", "debug"};

/* Rate limiter slots, keyed by call-site string pointer (stable for the process lifetime). */
#define RL_SLOTS 64
static struct {
    const char *key;
    time_t window_start;
    unsigned suppressed;
} rl[RL_SLOTS];
static pthread_mutex_t rl_lock = PTHREAD_MUTEX_INITIALIZER;

void pb_log_configure(pb_log_level_t level, int json) {
    cur_level = level;
    cur_json = json;
}

pb_log_level_t pb_log_level(void) { return cur_level; }

int pb_log_level_parse(const char *s) {
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

static void vwrite(pb_log_level_t level, const char *facility, const char *fmt, va_list ap) {
    char msg[2048], line[4608], ts[40];
    struct timespec now;
    struct tm tm;
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* Strip trailing newlines libraries like to add. */
    size_t ml = strlen(msg);
    while (ml && (msg[ml - 1] == '\n' || msg[ml - 1] == '\r'))
        msg[--ml] = '\0';
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t tl = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tl, sizeof ts - tl, ".%03ldZ", now.tv_nsec / 1000000);
    int n;
    if (cur_json) {
        char esc[4200];
        /* Cut at a whole character when the escaped text is longer than esc. */
        pb_jsontext_escape_to(esc, sizeof esc, msg, ml, 0, NULL);
        n = snprintf(line, sizeof line,
                     "{\"ts\":\"%s\",\"level\":\"%s\",\"facility\":\"%s\",\"msg\":\"%s\"}\n", ts,
                     names[level], facility, esc);
    } else {
        n = snprintf(line, sizeof line, "%s %-5s [%s] %s\n", ts, names[level], facility, msg);
    }
    if (n < 0) return;
    if ((size_t)n >= sizeof line) {
        n = sizeof line - 1;
        line[n - 1] = '\n';
    }
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

void pb_log_write(pb_log_level_t level, const char *facility, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vwrite(level, facility, fmt, ap);
    va_end(ap);
}

void pb_log_write_limited(pb_log_level_t level, const char *facility, const char *key,
                          int interval_s, const char *fmt, ...) {
    time_t now = time(NULL);
    unsigned suppressed = 0;
    int emit = 1;
    pthread_mutex_lock(&rl_lock);
    int slot = -1, free_slot = -1;
    for (int i = 0; i < RL_SLOTS; i++) {
        if (rl[i].key == key || (rl[i].key && strcmp(rl[i].key, key) == 0)) {
            slot = i;
            break;
        }
        if (!rl[i].key && free_slot < 0) free_slot = i;
    }
    if (slot < 0 && free_slot >= 0) {
        slot = free_slot;
        rl[slot].key = key;
        rl[slot].window_start = now;
        rl[slot].suppressed = 0;
    } else if (slot >= 0) {
        if (now - rl[slot].window_start < interval_s) {
            rl[slot].suppressed++;
            emit = 0;
        } else {
            suppressed = rl[slot].suppressed;
            rl[slot].suppressed = 0;
            rl[slot].window_start = now;
        }
    }
    pthread_mutex_unlock(&rl_lock);
    if (!emit) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (suppressed)
        pb_log_write(level, facility, "%s (%u similar messages suppressed)", msg, suppressed);
    else
        pb_log_write(level, facility, "%s", msg);
}
