/*
 * log — one line per event, text or JSON, to stderr.
 *
 * Owns: the process's log level, format and the rate limiter for repeated messages. This is the
 * one piece of process-wide state: librdkafka's and libevent's log callbacks arrive without our
 * context, and a log line must be writable from any thread (each line is one write(2)).
 * Must not: block on anything but stderr, or allocate on the heap.
 */
#ifndef PB_LOG_H
#define PB_LOG_H

typedef enum { PB_LOG_ERROR = 0, PB_LOG_WARN, PB_LOG_INFO, PB_LOG_DEBUG } pb_log_level_t;

/* Set the level and format (json != 0 for one JSON object per line). Call before threads start. */
void pb_log_configure(pb_log_level_t level, int json);

/* Parse "error|warn|info|debug". Returns the level or -1. */
int pb_log_level_parse(const char *s);

/* Current level, for the macro's fast check. */
pb_log_level_t pb_log_level(void);

/* Write one line. Thread-safe. Use the pb_log macro instead. */
void pb_log_write(pb_log_level_t level, const char *facility, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like pb_log_write but at most one line per `key` per `interval_s` seconds; the next line that
 * gets through says how many were suppressed. key identifies the call site (any stable string). */
void pb_log_write_limited(pb_log_level_t level, const char *facility, const char *key,
                          int interval_s, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#define pb_log(lvl, fac, ...)                                                                      \
    do {                                                                                           \
        if (PB_LOG_##lvl <= pb_log_level()) pb_log_write(PB_LOG_##lvl, fac, __VA_ARGS__);          \
    } while (0)

/* Rate-limited: one line per call site per 10 s. */
#define pb_log_rl(lvl, fac, ...)                                                                   \
    do {                                                                                           \
        if (PB_LOG_##lvl <= pb_log_level())                                                        \
            pb_log_write_limited(PB_LOG_##lvl, fac, __FILE__ ":" PB_LOG_STR(__LINE__), 10,         \
                                 __VA_ARGS__);                                                     \
    } while (0)
#define PB_LOG_STR2(x) #x
#define PB_LOG_STR(x) PB_LOG_STR2(x)

#endif
