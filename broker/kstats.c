/*
 * kstats — librdkafka statistics JSON parsed into pb_kstats_client_t, and the latest report per
 * shared client handed from the polling thread to the loop under a mutex (see kstats.h).
 * Must not: include librdkafka, render metrics (metrics.c does), or hold the mutex for anything
 * but a struct copy (the parse runs before taking it).
 */
#include "kstats.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct pb_kstats {
    pthread_mutex_t mu;
    pb_kstats_client_t latest[PB_KSTATS_ROLES];
};

const char *pb_kstats_role_name(pb_kstats_role_t r) {
    switch (r) {
    case PB_KSTATS_PUBLISH: return "publish";
    case PB_KSTATS_RELAY: return "relay";
    case PB_KSTATS_READER: return "reader";
    default: return "?";
    }
}

/* A non-negative integer field of o (librdkafka writes counters as JSON integers). */
static int get_int(json_t *o, const char *key, const char *where, int64_t *out, pb_err_t *err) {
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        return pb_err_set(err, PB_ERR_INVALID, "librdkafka statistics: %s.%s: %s", where, key,
                          v ? "not an integer" : "missing");
    *out = json_integer_value(v);
    return 0;
}

static void copy_str(char *dst, json_t *v) {
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    size_t n = strlen(s);
    if (n >= PB_KSTATS_NAME_MAX) n = PB_KSTATS_NAME_MAX - 1;
    memcpy(dst, s, n);
    dst[n] = 0;
}

static int parse_broker(json_t *b, const char *key, pb_kstats_broker_t *out, pb_err_t *err) {
    char where[PB_KSTATS_NAME_MAX + 16];
    int64_t id = 0, tx = 0, rx = 0, tmo = 0, cnt = 0, avg = 0, p99 = 0;
    snprintf(where, sizeof where, "brokers[\"%s\"]", key);
    json_t *state = json_object_get(b, "state"), *rtt = json_object_get(b, "rtt");
    if (!json_is_string(state))
        return pb_err_set(err, PB_ERR_INVALID, "librdkafka statistics: %s.state: missing", where);
    if (!json_is_object(rtt))
        return pb_err_set(err, PB_ERR_INVALID, "librdkafka statistics: %s.rtt: missing", where);
    if (get_int(b, "nodeid", where, &id, err) || get_int(b, "txerrs", where, &tx, err) ||
        get_int(b, "rxerrs", where, &rx, err) || get_int(b, "req_timeouts", where, &tmo, err))
        return PB_ERR_INVALID;
    strncat(where, ".rtt", sizeof where - strlen(where) - 1);
    if (get_int(rtt, "cnt", where, &cnt, err) || get_int(rtt, "avg", where, &avg, err) ||
        get_int(rtt, "p99", where, &p99, err))
        return PB_ERR_INVALID;
    copy_str(out->addr, json_object_get(b, "nodename"));
    out->id = (int32_t)id;
    out->up = !strcmp(json_string_value(state), "UP");
    out->has_rtt = cnt > 0;
    out->rtt_avg_s = (double)avg / 1e6;
    out->rtt_p99_s = (double)p99 / 1e6;
    out->errors = (uint64_t)(tx > 0 ? tx : 0) + (uint64_t)(rx > 0 ? rx : 0);
    out->timeouts = (uint64_t)(tmo > 0 ? tmo : 0);
    return 0;
}

/* Brokers in node id order, so the rendered series keep their order between reports. */
static int by_id(const void *a, const void *b) {
    const pb_kstats_broker_t *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

/* librdkafka writes the per-topic section ("topics": a partition's worth of figures per partition
 * of every topic the client knows: megabytes for a fan-out reader of a thousand ports) after the
 * top-level counters and "brokers", the only parts read here. The text up to it, closed with '}',
 * is parsed instead of the whole document; a document without the marker is parsed whole. */
static const char TOPICS_MARK[] = ", \"topics\":{";

int pb_kstats_parse(const char *json, size_t len, pb_kstats_client_t *out, pb_err_t *err) {
    json_error_t je;
    int rc = PB_ERR_INVALID;
    char *head = NULL;
    const char *cut = memmem(json, len, TOPICS_MARK, sizeof TOPICS_MARK - 1);
    if (cut && (head = malloc((size_t)(cut - json) + 1))) {
        memcpy(head, json, (size_t)(cut - json));
        head[cut - json] = '}';
        len = (size_t)(cut - json) + 1;
        json = head;
    }
    json_t *root = json_loadb(json, len, 0, &je);
    free(head);
    memset(out, 0, sizeof *out);
    if (!root) {
        pb_err_set(err, PB_ERR_INVALID, "librdkafka statistics: not JSON: %s at %d:%d", je.text,
                   je.line, je.column);
        goto done;
    }
    json_t *type = json_object_get(root, "type"), *brokers = json_object_get(root, "brokers");
    int64_t t = 0;
    if (!json_is_object(root) || !json_is_string(type) || !json_is_object(brokers)) {
        pb_err_set(err, PB_ERR_INVALID,
                   "librdkafka statistics: expected an object with \"type\" and \"brokers\"");
        goto done;
    }
    if (get_int(root, "time", "top level", &t, err)) goto done;
    copy_str(out->name, json_object_get(root, "name"));
    out->time_s = (double)t;
    const char *key;
    json_t *b;
    json_object_foreach(brokers, key, b) {
        json_t *src = json_object_get(b, "source");
        /* Logical brokers (GroupCoordinator) repeat a real one; internal ones are librdkafka's. */
        if (!json_is_object(b) ||
            (json_is_string(src) && (!strcmp(json_string_value(src), "logical") ||
                                     !strcmp(json_string_value(src), "internal"))))
            continue;
        pb_kstats_broker_t tmp;
        if (parse_broker(b, key, &tmp, err)) goto done;
        if (tmp.id < 0) continue; /* a bootstrap address whose node id is not known yet */
        if (out->n_brokers == PB_KSTATS_BROKERS_MAX) {
            out->brokers_left_out++;
            continue;
        }
        out->brokers[out->n_brokers++] = tmp;
    }
    qsort(out->brokers, out->n_brokers, sizeof *out->brokers, by_id);
    out->valid = 1;
    rc = 0;
done:
    json_decref(root);
    return rc;
}

pb_kstats_t *pb_kstats_new(void) {
    pb_kstats_t *ks = calloc(1, sizeof *ks);
    if (!ks) return NULL;
    if (pthread_mutex_init(&ks->mu, NULL) != 0) {
        free(ks);
        return NULL;
    }
    return ks;
}

void pb_kstats_destroy(pb_kstats_t *ks) {
    if (!ks) return;
    pthread_mutex_destroy(&ks->mu);
    free(ks);
}

int pb_kstats_offer(pb_kstats_t *ks, pb_kstats_role_t role, const char *json, size_t len) {
    pb_err_t err = {0};
    pb_kstats_client_t *c = malloc(sizeof *c); /* ~12 KiB: off librdkafka's thread stacks */
    PB_ASSERT(role >= 0 && role < PB_KSTATS_ROLES);
    if (!c) return PB_ERR_NOMEM; /* this report is skipped; the next one may fit */
    if (pb_kstats_parse(json, len, c, &err)) {
        pb_log_rl(WARN, "kafka",
                  "statistics of the %s client not understood (kept the previous ones): %s",
                  pb_kstats_role_name(role), err.msg);
        free(c);
        return err.code;
    }
    pthread_mutex_lock(&ks->mu);
    ks->latest[role] = *c;
    pthread_mutex_unlock(&ks->mu);
    free(c);
    return 0;
}

void pb_kstats_snapshot(pb_kstats_t *ks, pb_kstats_client_t out[PB_KSTATS_ROLES]) {
    pthread_mutex_lock(&ks->mu);
    memcpy(out, ks->latest, sizeof ks->latest);
    pthread_mutex_unlock(&ks->mu);
}
