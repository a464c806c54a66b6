/*
 * kafka_admin — the slow calls that run as jobs off the loop: partition counts, topic creation
 * (admin API or the embedded cluster's control topic), committed offsets of groups, offset jobs
 * for subscriber streams, and the lag probe's sweeps; and the shared clients the offset jobs and
 * the lag probe use (one offset reader, a bounded cache of group committers; the lag probe's
 * look-ups go through the instance's shared client, its record reads through the offset reader).
 * Must not: be called on the loop thread: every call here waits on the network (bounded by its
 * timeout), so callers run them as jobs (jobs.h) (pb_kafka_committers_open excepted); make a
 * client per request, job or group beyond the committers' bound.
 */
#include "kafka_int.h"

#include "hash.h"

int pb_kafka_partition_count(pb_kafka_t *k, const char *topic, int timeout_ms, pb_err_t *err) {
    const struct rd_kafka_metadata *md = NULL;
    /* All topics: asking for one topic would make the embedded cluster auto-create it. */
    rd_kafka_resp_err_t e = rd_kafka_metadata(k->rk, 1, NULL, &md, timeout_ms);
    if (e)
        return pb_err_set(err, PB_ERR_UNAVAILABLE, "kafka %s: metadata: %s", k->bootstrap,
                          rd_kafka_err2str(e)),
               -2;
    int n = -1;
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0 && !md->topics[i].err)
            n = md->topics[i].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return n;
}

int pb_kafka_partition_counts(pb_kafka_t *k, const char *const *topics, size_t n, int *counts,
                              int timeout_ms, pb_err_t *err) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(k->rk, 1, NULL, &md, timeout_ms);
    if (e)
        return pb_err_set(err, PB_ERR_UNAVAILABLE, "kafka %s: metadata: %s", k->bootstrap,
                          rd_kafka_err2str(e));
    for (size_t j = 0; j < n; j++) {
        counts[j] = -1;
        for (int i = 0; i < md->topic_cnt; i++)
            if (strcmp(md->topics[i].topic, topics[j]) == 0 && !md->topics[i].err) {
                counts[j] = md->topics[i].partition_cnt;
                break;
            }
    }
    rd_kafka_metadata_destroy(md);
    return 0;
}

/* Ask the embedded cluster (in another process) through its control topic. */
static int request_via_control(pb_kafka_t *k, const char *topic, int partitions, pb_err_t *err) {
    char cmd[400];
    int n = snprintf(cmd, sizeof cmd, "create %s %d", topic, partitions);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        k->rk, RD_KAFKA_V_TOPIC(PB_KAFKA_CONTROL_TOPIC), RD_KAFKA_V_VALUE(cmd, (size_t)n),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (e)
        return pb_err_set(err, PB_ERR_UNAVAILABLE, "embedded kafka control: %s",
                          rd_kafka_err2str(e));
    /* No flush: it would serve the producer's delivery callbacks (other requests') on this thread,
     * nested. The caller waits until metadata shows the topic; librdkafka sends it meanwhile. */
    return 0;
}

/* Create the topics t[i] with need[i] set in ONE CreateTopics request; a topic that exists already
 * is fine. */
static int create_via_admin(pb_kafka_t *k, const pb_kafka_topic_req_t *t, const int *need, size_t n,
                            int timeout_ms, pb_err_t *err) {
    char es[512];
    int rc = 0;
    size_t nn = 0;
    const char *first = NULL;
    rd_kafka_NewTopic_t **nt = calloc(n ? n : 1, sizeof *nt);
    if (!nt) return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n && !rc; i++) {
        if (!need[i]) continue;
        if (!(nt[nn] = rd_kafka_NewTopic_new(t[i].topic, t[i].partitions, -1, es, sizeof es))) {
            rc = pb_err_set(err, PB_ERR_INVALID, "topic %s: %s", t[i].topic, es);
            break;
        }
        if (t[i].compact) rd_kafka_NewTopic_set_config(nt[nn], "cleanup.policy", "compact");
        if (!first) first = t[i].topic;
        nn++;
    }
    if (rc || !nn) goto out;
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->rk);
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(k->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, es, sizeof es);
    rd_kafka_AdminOptions_set_operation_timeout(o, timeout_ms, es, sizeof es);
    rd_kafka_CreateTopics(k->rk, nt, nn, o, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 2000);
    if (!ev) {
        rc = pb_err_set(err, PB_ERR_TIMEOUT, "create %zu topics (%s...): no answer in %d ms", nn,
                        first, timeout_ms);
    } else if (rd_kafka_event_error(ev)) {
        rc = pb_err_set(err, PB_ERR_UNAVAILABLE, "create %zu topics (%s...): %s", nn, first,
                        rd_kafka_event_error_string(ev));
    } else {
        size_t cnt = 0;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        for (size_t i = 0; i < cnt && !rc; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                rc = pb_err_set(err, PB_ERR_UNAVAILABLE, "create topic %s: %s",
                                rd_kafka_topic_result_name(tr[i]),
                                rd_kafka_topic_result_error_string(tr[i]));
        }
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
out:
    for (size_t i = 0; i < nn; i++)
        rd_kafka_NewTopic_destroy(nt[i]);
    free(nt);
    return rc;
}

int pb_kafka_ensure_topics(pb_kafka_t *k, pb_kafka_topic_req_t *t, size_t n, int timeout_ms,
                           pb_err_t *err) {
    int64_t deadline = kafka_now_ms() + timeout_ms;
    if (!n) return 0;
    if (!k->embedded_known) {
        /* Kafka did not answer when the client started: is it an embedded cluster? */
        int ctl = pb_kafka_partition_count(k, PB_KAFKA_CONTROL_TOPIC, timeout_ms, err);
        if (ctl == -2) return err ? err->code : PB_ERR_UNAVAILABLE;
        k->embedded = ctl >= 0;
        k->embedded_known = 1;
        if (k->embedded)
            pb_log(INFO, "kafka",
                   "%s is a portbroker embedded cluster: topics are created through "
                   "its control topic",
                   k->bootstrap);
    }
    int rc = 0;
    const char **names = calloc(n, sizeof *names);
    int *counts = calloc(n, sizeof *counts), *need = calloc(n, sizeof *need);
    if (!names || !counts || !need) {
        rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        names[i] = t[i].topic;
    if ((rc = pb_kafka_partition_counts(k, names, n, counts, timeout_ms, err))) goto out;
    size_t missing = 0;
    for (size_t i = 0; i < n; i++) {
        if (counts[i] >= 0) continue;
        need[i] = 1; /* once per name: a list may name a topic twice */
        for (size_t j = 0; j < i && need[i]; j++)
            if (need[j] && !strcmp(names[j], names[i])) need[i] = 0;
        missing += (size_t)need[i];
    }
    if (missing) {
        if (!k->cluster && !k->embedded) {
            rc = create_via_admin(k, t, need, n, timeout_ms, err);
        } else {
            for (size_t i = 0; i < n && !rc; i++)
                if (need[i])
                    rc = k->cluster ? pb_kafka_cluster_create_topic(k->cluster, names[i],
                                                                    t[i].partitions, err)
                                    : request_via_control(k, names[i], t[i].partitions, err);
        }
        if (rc) goto out;
        /* Wait until metadata shows them all (the embedded cluster applies commands
         * asynchronously; a real cluster propagates metadata). */
        for (;;) {
            size_t absent = 0, first = 0;
            if (!pb_kafka_partition_counts(k, names, n, counts, 2000, NULL)) {
                for (size_t i = n; i-- > 0;)
                    if (counts[i] < 0) absent++, first = i;
            } else {
                absent = n;
            }
            if (!absent) break;
            if (kafka_now_ms() > deadline) {
                rc = pb_err_set(err, PB_ERR_TIMEOUT, "topic %s%s was not created within %d ms",
                                names[first], absent > 1 ? " (and others)" : "", timeout_ms);
                goto out;
            }
            usleep(20 * 1000);
        }
    }
    for (size_t i = 0; i < n; i++) {
        t[i].actual = counts[i];
        if (counts[i] != t[i].partitions && (!i || strcmp(names[i], names[i - 1])))
            pb_log(WARN, "kafka",
                   "topic %s exists with %d partitions, the descriptor asks for %d; keeping %d "
                   "(changing the count would move keys between partitions)",
                   names[i], counts[i], t[i].partitions, counts[i]);
    }
out:
    free(names);
    free(counts);
    free(need);
    return rc;
}

static int ensure_topic(pb_kafka_t *k, const char *topic, int partitions, int compact,
                        int timeout_ms, int *actual, pb_err_t *err) {
    pb_kafka_topic_req_t t = {.topic = topic, .partitions = partitions, .compact = compact};
    int rc = pb_kafka_ensure_topics(k, &t, 1, timeout_ms, err);
    if (!rc && actual) *actual = t.actual;
    return rc;
}

int pb_kafka_ensure_topic(pb_kafka_t *k, const char *topic, int partitions, int timeout_ms,
                          int *actual, pb_err_t *err) {
    return ensure_topic(k, topic, partitions, 0, timeout_ms, actual, err);
}

int pb_kafka_ensure_log_topic(pb_kafka_t *k, const char *topic, int partitions, int timeout_ms,
                              pb_err_t *err) {
    return ensure_topic(k, topic, partitions, 1, timeout_ms, NULL, err);
}

/* Committed offsets of several groups through client rk (see pb_kafka_groups_committed). */
static int groups_committed(rd_kafka_t *rk, pb_kafka_group_query_t *q, size_t n, int timeout_ms,
                            pb_err_t *err) {
    int64_t deadline = kafka_now_ms() + timeout_ms;
    size_t sent = 0, got = 0;
    rd_kafka_queue_t *rq = rd_kafka_queue_new(rk);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < q[i].n; j++)
            q[i].parts[j].offset = PB_KAFKA_OFFSET_INVALID;
        if (!q[i].n) continue;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)q[i].n);
        for (size_t j = 0; j < q[i].n; j++)
            rd_kafka_topic_partition_list_add(l, q[i].parts[j].topic, q[i].parts[j].partition);
        rd_kafka_ListConsumerGroupOffsets_t *r =
            rd_kafka_ListConsumerGroupOffsets_new(q[i].group, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (!r) continue;
        rd_kafka_AdminOptions_t *o =
            rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
        rd_kafka_AdminOptions_set_opaque(o, &q[i]);
        rd_kafka_ListConsumerGroupOffsets(rk, &r, 1, o, rq);
        rd_kafka_AdminOptions_destroy(o);
        rd_kafka_ListConsumerGroupOffsets_destroy(r);
        sent++;
    }
    char first[256] = "";
    while (got < sent) {
        int left = (int)(deadline - kafka_now_ms());
        if (left <= 0) break;
        rd_kafka_event_t *ev = rd_kafka_queue_poll(rq, left < 100 ? left : 100);
        if (!ev) continue;
        const rd_kafka_ListConsumerGroupOffsets_result_t *r =
            rd_kafka_event_ListConsumerGroupOffsets_result(ev);
        if (r) {
            got++;
            pb_kafka_group_query_t *g = rd_kafka_event_opaque(ev);
            size_t cnt = 0;
            const rd_kafka_group_result_t **gr =
                rd_kafka_ListConsumerGroupOffsets_result_groups(r, &cnt);
            if (rd_kafka_event_error(ev) && !first[0])
                snprintf(first, sizeof first, "%s", rd_kafka_event_error_string(ev));
            for (size_t i = 0; g && i < cnt; i++) {
                const rd_kafka_topic_partition_list_t *pl = rd_kafka_group_result_partitions(gr[i]);
                if (rd_kafka_group_result_error(gr[i]) && !first[0])
                    snprintf(first, sizeof first, "%s",
                             rd_kafka_error_string(rd_kafka_group_result_error(gr[i])));
                for (size_t j = 0; pl && j < g->n; j++) {
                    rd_kafka_topic_partition_t *t = rd_kafka_topic_partition_list_find(
                        pl, g->parts[j].topic, g->parts[j].partition);
                    g->parts[j].offset =
                        t && !t->err && t->offset >= 0 ? t->offset : PB_KAFKA_OFFSET_INVALID;
                }
            }
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(rq);
    if (got < sent)
        return pb_err_set(err, PB_ERR_TIMEOUT,
                          "committed offsets: %zu of %zu groups did not answer within %d ms",
                          sent - got, sent, timeout_ms);
    if (first[0]) return pb_err_set(err, PB_ERR_UNAVAILABLE, "committed offsets: %s", first);
    return 0;
}

int pb_kafka_groups_committed(pb_kafka_t *k, pb_kafka_group_query_t *q, size_t n, int timeout_ms,
                              pb_err_t *err) {
    return groups_committed(k->rk, q, n, timeout_ms, err);
}

/* ---- shared offset clients ----
 * The offset jobs, the lag probe, samples and last-records reads (kafka_consumer.c) use no client
 * of their own. Look-ups (metadata, watermarks, offsets for times, a group's committed offsets, a
 * commit from outside the group) go through the offset reader, one consumer that never joins a
 * group (the lag probe's through the shared client: see its section); reading records assigns it
 * partitions, one caller at a time (assign_mu). Every topic a read assigns stays known to the
 * reader (librdkafka 2.0.2 frees a client's topic objects only with the client), and its 1 s
 * topic scan visits them all: look-ups here never assign, and the reader itself is closed when
 * it sat unused sub.reader.idle.ms or read more than sub.reader.topics.max topics
 * (pb_kafka_reader_reap, on the PB_JOB_CLOSE worker; every user holds it, kafka_reader_get/_put,
 * and a held reader is never closed), the next user making a new one.
 * A commit from outside a group (AlterConsumerGroupOffsets: OffsetCommit with no member id) is
 * taken by Kafka while the group is empty; while it has members Kafka takes commits from members
 * only, and librdkafka joins a group only through a client whose group.id is that group (no raw
 * JoinGroup). The embedded cluster (librdkafka 2.0.2's mock) refuses a non-member in any group it
 * has seen, members or not. Those commits go through the group committers: clients of one group
 * each that join, commit and leave, at most sub.commit.clients of them kept, each closed after
 * sub.commit.client.idle.ms unused. */

#define JOB_TIMEOUT_MS 5000 /* each Kafka request of a job */
#define JOB_JOIN_MS 20000   /* a cursor commit that has to join the group: assignment */
#define JOB_LEAVE_MS 5000   /* and leave it again */
#define JOB_MAX_PARTS 1024

typedef struct committer {
    char *group;
    rd_kafka_t *rk;
    atomic_int assigned; /* the group gave this client partitions (its rebalance callback) */
    int busy;            /* a job holds it (kafka_offsets.mu) */
    int64_t used_ms;     /* last given back (kafka_now_ms) */
} committer_t;

/* A set of topic names (open addressing, at most half full): the topics the reader was assigned. */
typedef struct topic_set {
    char **e;
    size_t cap, n;
} topic_set_t;

struct kafka_offsets {
    pthread_mutex_t mu;        /* the committers' list (never held across a client's creation) */
    pthread_mutex_t reader_mu; /* the reader, its holders and its topics (never held across a
                                * client's creation or close: the loop thread takes it) */
    pthread_mutex_t assign_mu; /* one assignment of the reader at a time */
    rd_kafka_t *reader;
    int reader_refs;           /* callers holding the reader (kafka_reader_get until _put) */
    int64_t reader_born;       /* kafka_now_ms when it was made */
    int64_t reader_idle;       /* kafka_now_ms when the last holder gave it back */
    topic_set_t reader_tp;     /* topics it was assigned or given (they stay in its 1 s scan) */
    atomic_ullong recycled[2]; /* readers closed: idle, too many topics */
    committer_t **c;
    size_t n, cap;
};

static void topic_set_clear(topic_set_t *t) {
    for (size_t i = 0; i < t->cap; i++)
        free(t->e[i]);
    free(t->e);
    *t = (topic_set_t){0};
}

static size_t topic_slot(char *const *e, size_t cap, const char *topic) {
    size_t i = (size_t)pb_hash_str(PB_HASH_FNV_BASIS, topic) & (cap - 1);
    while (e[i] && strcmp(e[i], topic))
        i = (i + 1) & (cap - 1);
    return i;
}

/* Add topic to t (nothing when present). Out of memory it is not counted: the count is a
 * recycling hint, never a correctness figure. */
static void topic_set_add(topic_set_t *t, const char *topic) {
    if ((t->n + 1) * 2 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char **e = calloc(cap, sizeof *e);
        if (!e) return;
        for (size_t i = 0; i < t->cap; i++)
            if (t->e[i]) e[topic_slot(e, cap, t->e[i])] = t->e[i];
        free(t->e);
        t->e = e;
        t->cap = cap;
    }
    size_t i = topic_slot(t->e, t->cap, topic);
    if (!t->e[i] && (t->e[i] = strdup(topic))) t->n++;
}

kafka_offsets_t *kafka_offsets_new(void) {
    kafka_offsets_t *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    pthread_mutex_init(&o->mu, NULL);
    pthread_mutex_init(&o->reader_mu, NULL);
    pthread_mutex_init(&o->assign_mu, NULL);
    return o;
}

static void committer_free(committer_t *c) {
    if (!c) return;
    if (c->rk) {
        rd_kafka_consumer_close(c->rk); /* leaves the group if it is still in it */
        rd_kafka_destroy(c->rk);
    }
    free(c->group);
    free(c);
}

void kafka_offsets_destroy(kafka_offsets_t *o) {
    if (!o) return;
    for (size_t i = 0; i < o->n; i++)
        committer_free(o->c[i]);
    free(o->c);
    if (o->reader) {
        rd_kafka_consumer_close(o->reader);
        rd_kafka_destroy(o->reader);
    }
    topic_set_clear(&o->reader_tp);
    pthread_mutex_destroy(&o->assign_mu);
    pthread_mutex_destroy(&o->reader_mu);
    pthread_mutex_destroy(&o->mu);
    free(o);
}

rd_kafka_t *kafka_reader_get(pb_kafka_t *k, pb_err_t *err) {
    kafka_offsets_t *o = k->offsets;
    pthread_mutex_lock(&o->reader_mu);
    rd_kafka_t *rk = o->reader, *made = NULL;
    if (rk) o->reader_refs++;
    pthread_mutex_unlock(&o->reader_mu);
    if (rk) return rk;
    /* Made outside reader_mu: the loop thread takes it too (pb_kafka_reader_state) and must not
     * wait for a client's start. Two callers may both make one: the second is closed. */
    /* assign() needs a group.id; the reader never joins it nor commits to it. */
    rd_kafka_conf_t *conf =
        kafka_sub_consumer_conf(k, "portbroker.reader", "portbroker-reader", NULL, err);
    /* A watermark look-up waits for its request, whatever its timeout argument: with the
     * brokers down a request waits socket.timeout.ms (60 s by default) per partition, and the
     * job (and a shutdown behind it) with it. A role default: kafka.socket.timeout.ms wins. */
    if (conf && !kafka_operator_sets(k->cfg, "socket.timeout.ms") &&
        kafka_conf_set(conf, "socket.timeout.ms", "5000", err)) {
        rd_kafka_conf_destroy(conf);
        conf = NULL;
    }
    if (conf && (made = kafka_client_new(RD_KAFKA_CONSUMER, conf, "offset reader", err)))
        rd_kafka_poll_set_consumer(made);
    if (!made) return NULL;
    pthread_mutex_lock(&o->reader_mu);
    if (!o->reader) {
        o->reader = made;
        o->reader_born = kafka_now_ms();
        made = NULL;
    }
    rk = o->reader;
    o->reader_refs++;
    pthread_mutex_unlock(&o->reader_mu);
    if (made) { /* another caller's came first */
        rd_kafka_consumer_close(made);
        rd_kafka_destroy(made);
    }
    return rk;
}

void kafka_reader_put(pb_kafka_t *k, rd_kafka_t *rk) {
    kafka_offsets_t *o = k->offsets;
    if (!rk) return;
    pthread_mutex_lock(&o->reader_mu);
    PB_ASSERT(rk == o->reader && o->reader_refs > 0); /* held readers are never closed */
    if (--o->reader_refs == 0) o->reader_idle = kafka_now_ms();
    pthread_mutex_unlock(&o->reader_mu);
}

void kafka_reader_learns(pb_kafka_t *k, const char *topic) {
    kafka_offsets_t *o = k->offsets;
    pthread_mutex_lock(&o->reader_mu);
    topic_set_add(&o->reader_tp, topic);
    pthread_mutex_unlock(&o->reader_mu);
}

rd_kafka_t *kafka_reader_assign(pb_kafka_t *k, const rd_kafka_topic_partition_list_t *tl,
                                pb_err_t *err) {
    kafka_offsets_t *o = k->offsets;
    rd_kafka_t *rk = kafka_reader_get(k, err);
    if (!rk) return NULL;
    pthread_mutex_lock(&o->assign_mu);
    /* Every topic assigned becomes one of the reader's topic objects for good. */
    pthread_mutex_lock(&o->reader_mu);
    for (int i = 0; i < tl->cnt; i++)
        topic_set_add(&o->reader_tp, tl->elems[i].topic);
    pthread_mutex_unlock(&o->reader_mu);
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, tl);
    if (e) {
        pthread_mutex_unlock(&o->assign_mu);
        kafka_reader_put(k, rk);
        pb_err_set(err, PB_ERR_UNAVAILABLE, "offset reader: cannot assign: %s",
                   rd_kafka_err2str(e));
        return NULL;
    }
    return rk;
}

void kafka_reader_release(pb_kafka_t *k, rd_kafka_t *rk) {
    rd_kafka_assign(rk, NULL);
    /* What is left (the unassigned partitions' records are dropped by librdkafka; errors stay
     * queued until polled): not the next caller's to see. */
    rd_kafka_message_t *m;
    while ((m = rd_kafka_consumer_poll(rk, 0)))
        rd_kafka_message_destroy(m);
    pthread_mutex_unlock(&k->offsets->assign_mu);
    kafka_reader_put(k, rk);
}

/* Why the reader should be closed now: 1 idle, 2 too many topics, 0 not (held, young, or none).
 * reader_mu held. */
static int reader_due(const kafka_offsets_t *o, const pb_config_t *cfg, int64_t now) {
    int64_t idle = cfg ? cfg->sub_reader_idle_ms : 30000;
    int64_t max = cfg ? cfg->sub_reader_topics_max : 256;
    if (!o->reader || o->reader_refs) return 0;
    if (now - o->reader_idle >= idle) return 1;
    /* A reader in steady use is replaced for its topics at most once per idle period: a new one
     * costs its threads, connections and metadata again. */
    if ((int64_t)o->reader_tp.n > max && now - o->reader_born >= idle) return 2;
    return 0;
}

int pb_kafka_reader_state(pb_kafka_t *k, pb_kafka_reader_state_t *st) {
    kafka_offsets_t *o = k->offsets;
    pthread_mutex_lock(&o->reader_mu);
    int due = reader_due(o, k->cfg, kafka_now_ms());
    if (st) {
        st->open = o->reader != NULL;
        st->topics = o->reader ? o->reader_tp.n : 0;
        st->closed_idle = atomic_load(&o->recycled[0]);
        st->closed_topics = atomic_load(&o->recycled[1]);
    }
    pthread_mutex_unlock(&o->reader_mu);
    return due;
}

void pb_kafka_reader_reap(pb_kafka_t *k) {
    kafka_offsets_t *o = k->offsets;
    pthread_mutex_lock(&o->reader_mu);
    int why = reader_due(o, k->cfg, kafka_now_ms());
    rd_kafka_t *rk = why ? o->reader : NULL;
    size_t topics = o->reader_tp.n;
    if (rk) { /* nobody holds it: the next caller makes a fresh one */
        o->reader = NULL;
        topic_set_clear(&o->reader_tp);
    }
    pthread_mutex_unlock(&o->reader_mu);
    if (!rk) return;
    rd_kafka_consumer_close(rk); /* never joined a group: nothing to leave */
    rd_kafka_destroy(rk);
    atomic_fetch_add(&o->recycled[why - 1], 1);
    pb_log(DEBUG, "kafka",
           "offset reader closed (%s; it knew %zu topics); the next look-up makes "
           "a new one",
           why == 1 ? "idle" : "too many topics", topics);
}

/* Both watermarks of topic [p] through rk in timeout_ms at most: offsets_for_times, which keeps
 * its timeout, unlike rd_kafka_query_watermark_offsets (which waits for the answer of a leader it
 * knows socket.timeout.ms long, whatever its timeout: with the brokers down, a shared client that
 * knew them waited 5 s per partition). */
static rd_kafka_resp_err_t wm_query(rd_kafka_t *rk, const char *topic, int32_t p, int64_t *lo,
                                    int64_t *hi, int timeout_ms) {
    int64_t deadline = kafka_now_ms() + timeout_ms;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int side = 0; side < 2 && !e; side++) {
        int left = (int)(deadline - kafka_now_ms());
        rd_kafka_topic_partition_list_t *w = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_t *x = rd_kafka_topic_partition_list_add(w, topic, p);
        x->offset = side ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
        e = rd_kafka_offsets_for_times(rk, w, left > 0 ? left : 1);
        if (!e) e = x->err;
        if (!e && x->offset < 0) e = RD_KAFKA_RESP_ERR__TIMED_OUT; /* no answer in time */
        if (!e) *(side ? hi : lo) = x->offset;
        rd_kafka_topic_partition_list_destroy(w);
    }
    return e;
}

int kafka_watermarks(rd_kafka_t *rk, const char *topic, int32_t p, int64_t *lo, int64_t *hi,
                     int timeout_ms, pb_err_t *err) {
    rd_kafka_resp_err_t e = wm_query(rk, topic, p, lo, hi, timeout_ms);
    if (e)
        return pb_err_set(err,
                          kafka_map_err(e) == PB_ERR_TIMEOUT ? PB_ERR_TIMEOUT : PB_ERR_UNAVAILABLE,
                          "watermarks of %s[%d]: %s", topic, (int)p, rd_kafka_err2str(e));
    return 0;
}

/* m is a record (not an error) of topic: the reader serves every topic. */
static int is_record_of(const rd_kafka_message_t *m, const char *topic) {
    return !m->err && m->rkt && !strcmp(rd_kafka_topic_name(m->rkt), topic);
}

static void committer_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                                rd_kafka_topic_partition_list_t *parts, void *opaque) {
    committer_t *c = opaque;
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        atomic_store(&c->assigned, 1);
    } else {
        rd_kafka_assign(rk, NULL);
        atomic_store(&c->assigned, 0);
    }
}

/* Close (on this thread) the committers idle past sub.commit.client.idle.ms, and with room set as
 * many least recently used idle ones as it takes to leave room for one more. */
static void committers_trim(pb_kafka_t *k, int room) {
    kafka_offsets_t *o = k->offsets;
    int64_t now = kafka_now_ms(), idle = k->cfg ? k->cfg->sub_commit_client_idle_ms : 30000;
    size_t max = k->cfg ? (size_t)k->cfg->sub_commit_clients : 2;
    for (;;) {
        committer_t *victim = NULL;
        size_t at = 0;
        pthread_mutex_lock(&o->mu);
        for (size_t i = 0; i < o->n; i++) {
            committer_t *c = o->c[i];
            if (c->busy) continue;
            if (now - c->used_ms >= idle || (room && o->n >= max)) {
                if (!victim || c->used_ms < victim->used_ms) victim = c, at = i;
            }
        }
        if (victim) o->c[at] = o->c[--o->n];
        pthread_mutex_unlock(&o->mu);
        if (!victim) return;
        pb_log(DEBUG, "kafka", "group committer of %s closed (%s)", victim->group,
               now - victim->used_ms >= idle ? "idle" : "room for another group");
        committer_free(victim);
    }
}

/* The committer of group (made when none is cached, the least recently used one closed for it
 * when sub.commit.clients are open), marked busy. NULL with err set. Jobs worker. */
static committer_t *committer_take(pb_kafka_t *k, const char *group, pb_err_t *err) {
    kafka_offsets_t *o = k->offsets;
    committer_t *c = NULL;
    pthread_mutex_lock(&o->mu);
    for (size_t i = 0; i < o->n && !c; i++)
        if (!o->c[i]->busy && !strcmp(o->c[i]->group, group)) c = o->c[i];
    if (c) c->busy = 1;
    pthread_mutex_unlock(&o->mu);
    if (c) return c;
    committers_trim(k, 1);
    if (!(c = calloc(1, sizeof *c)) || !(c->group = strdup(group))) {
        free(c);
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    rd_kafka_conf_t *conf = kafka_sub_consumer_conf(k, group, "portbroker-cursors", NULL, err);
    if (conf) {
        rd_kafka_conf_set_rebalance_cb(conf, committer_rebalance);
        rd_kafka_conf_set_opaque(conf, c);
        c->rk = kafka_client_new(RD_KAFKA_CONSUMER, conf, "group committer", err);
    }
    if (!c->rk) {
        committer_free(c);
        return NULL;
    }
    rd_kafka_poll_set_consumer(c->rk);
    c->busy = 1;
    pthread_mutex_lock(&o->mu);
    size_t cap = o->n == o->cap ? o->cap * 2 + 4 : o->cap;
    committer_t **grown = cap != o->cap ? realloc(o->c, cap * sizeof *grown) : o->c;
    if (grown) {
        o->c = grown;
        o->cap = cap;
        o->c[o->n++] = c;
    }
    pthread_mutex_unlock(&o->mu);
    if (!grown) {
        committer_free(c);
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return c;
}

/* Give c back (ok: it left the group and can serve again), or close it. */
static void committer_give(pb_kafka_t *k, committer_t *c, int ok) {
    kafka_offsets_t *o = k->offsets;
    pthread_mutex_lock(&o->mu);
    c->busy = 0;
    c->used_ms = kafka_now_ms();
    if (!ok)
        for (size_t i = 0; i < o->n; i++)
            if (o->c[i] == c) {
                o->c[i] = o->c[--o->n];
                break;
            }
    pthread_mutex_unlock(&o->mu);
    if (!ok) committer_free(c);
}

size_t pb_kafka_committers_open(pb_kafka_t *k, size_t *expired) {
    kafka_offsets_t *o = k->offsets;
    int64_t now = kafka_now_ms(), idle = k->cfg ? k->cfg->sub_commit_client_idle_ms : 30000;
    pthread_mutex_lock(&o->mu);
    size_t n = o->n, x = 0;
    for (size_t i = 0; i < o->n; i++)
        x += !o->c[i]->busy && now - o->c[i]->used_ms >= idle;
    pthread_mutex_unlock(&o->mu);
    if (expired) *expired = x;
    return n;
}

void pb_kafka_committers_reap(pb_kafka_t *k) { committers_trim(k, 0); }

/* ---- offset jobs ---- */

struct pb_kafka_job {
    atomic_int done;
    int commit; /* pb_kafka_job_commit, else pb_kafka_job_positions */
    pb_kafka_t *k;
    rd_kafka_t *rk; /* the offset reader, while running */
    char *topic, *group;
    int64_t ts_ms;
    pb_kafka_tp_t *tp; /* in: the offsets asked for; out: the positions */
    size_t n;
    int wake_fd;
    pb_err_t err;
};

/* Check each of j->tp against its partition's watermarks. 0 or the error code (j->err set). */
static int job_check(pb_kafka_job_t *j) {
    for (size_t i = 0; i < j->n; i++) {
        int32_t p = j->tp[i].partition;
        int64_t lo = 0, hi = 0, o = j->tp[i].offset;
        rd_kafka_resp_err_t e = wm_query(j->rk, j->topic, p, &lo, &hi, JOB_TIMEOUT_MS);
        if (e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
            e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            return pb_err_set(&j->err, PB_ERR_INVALID, "partition %d: %s has no such partition",
                              (int)p, j->topic);
        if (e)
            return pb_err_set(&j->err, PB_ERR_UNAVAILABLE, "%s [%d] watermarks: %s", j->topic,
                              (int)p, rd_kafka_err2str(e));
        if (o > hi)
            return pb_err_set(&j->err, PB_ERR_INVALID,
                              "partition %d: offset %" PRId64 " is beyond its end (the next "
                              "offset to be written is %" PRId64 ")",
                              (int)p, o, hi);
        if (o < lo)
            return pb_err_set(&j->err, PB_ERR_INVALID,
                              "partition %d: offset %" PRId64 " was deleted by retention (the "
                              "first offset kept is %" PRId64 ")",
                              (int)p, o, lo);
    }
    return 0;
}

/* The Kafka timestamp of the record at offset (or the first after it) of partition p: 0 and *ts, or
 * -1 when none could be read in time. */
static int job_read_ts(pb_kafka_job_t *j, int32_t p, int64_t offset, int64_t *ts) {
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tl, j->topic, p)->offset = offset;
    rd_kafka_t *rk = kafka_reader_assign(j->k, tl, NULL);
    rd_kafka_topic_partition_list_destroy(tl);
    if (!rk) return -1;
    int rc = -1;
    int64_t deadline = kafka_now_ms() + JOB_TIMEOUT_MS;
    while (rc && kafka_now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
        if (!m) continue;
        if (is_record_of(m, j->topic) && m->partition == p && m->offset >= offset) {
            *ts = rd_kafka_message_timestamp(m, NULL);
            rc = 0;
        }
        rd_kafka_message_destroy(m);
    }
    kafka_reader_release(j->k, rk);
    return rc;
}

/*
 * Kafka answered "no record at or after ts" (-1) for partition p holding [lo, hi): true when the
 * last record is older; a cluster that does not index timestamps (the embedded one answers -1 to
 * every such query) is caught here, and the offset is then found by a binary search over the
 * records' timestamps (log2(records) single-record reads; assumes timestamps grow with offsets, as
 * LogAppendTime and ordinary producers give). *out: the offset, or PB_KAFKA_OFFSET_END.
 */
static int job_time_fallback(pb_kafka_job_t *j, int32_t p, int64_t *out) {
    int64_t lo = 0, hi = 0, ts = -1;
    rd_kafka_resp_err_t e = wm_query(j->rk, j->topic, p, &lo, &hi, JOB_TIMEOUT_MS);
    if (e)
        return pb_err_set(&j->err, PB_ERR_UNAVAILABLE, "%s [%d] watermarks: %s", j->topic, (int)p,
                          rd_kafka_err2str(e));
    *out = PB_KAFKA_OFFSET_END;
    if (hi <= lo) return 0;
    if (job_read_ts(j, p, hi - 1, &ts))
        return pb_err_set(&j->err, PB_ERR_UNAVAILABLE, "%s [%d]: cannot read offset %" PRId64,
                          j->topic, (int)p, hi - 1);
    if (ts < j->ts_ms) return 0;
    int64_t a = lo, b = hi - 1;
    while (a < b) {
        int64_t mid = a + (b - a) / 2;
        if (job_read_ts(j, p, mid, &ts))
            return pb_err_set(&j->err, PB_ERR_UNAVAILABLE, "%s [%d]: cannot read offset %" PRId64,
                              j->topic, (int)p, mid);
        if (ts >= j->ts_ms)
            b = mid;
        else
            a = mid + 1;
    }
    *out = a;
    return 0;
}

/* The first offset at or after j->ts_ms of every partition of the topic, into j->tp. */
static int job_times(pb_kafka_job_t *j) {
    const struct rd_kafka_metadata *md = NULL;
    kafka_reader_learns(j->k, j->topic); /* a topic object of the reader's from here on */
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(j->rk, j->topic, NULL);
    rd_kafka_resp_err_t e =
        rkt ? rd_kafka_metadata(j->rk, 0, rkt, &md, JOB_TIMEOUT_MS) : RD_KAFKA_RESP_ERR__FAIL;
    if (rkt) rd_kafka_topic_destroy(rkt);
    if (e) return pb_err_set(&j->err, PB_ERR_UNAVAILABLE, "metadata: %s", rd_kafka_err2str(e));
    int np = md->topic_cnt == 1 && !md->topics[0].err ? md->topics[0].partition_cnt : -1;
    rd_kafka_metadata_destroy(md);
    if (np <= 0)
        return pb_err_set(&j->err, PB_ERR_UNAVAILABLE, "topic %s has no partitions yet", j->topic);
    if (np > JOB_MAX_PARTS) np = JOB_MAX_PARTS;
    if (!(j->tp = calloc((size_t)np, sizeof *j->tp)))
        return pb_err_set(&j->err, PB_ERR_NOMEM, "out of memory");
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(np);
    for (int p = 0; p < np; p++)
        rd_kafka_topic_partition_list_add(tl, j->topic, p)->offset = j->ts_ms;
    e = rd_kafka_offsets_for_times(j->rk, tl, JOB_TIMEOUT_MS);
    int rc = 0;
    for (int i = 0; !e && i < tl->cnt; i++) {
        if (tl->elems[i].err) e = tl->elems[i].err;
        j->tp[i] = (pb_kafka_tp_t){
            tl->elems[i].partition,
            tl->elems[i].offset >= 0 ? tl->elems[i].offset : PB_KAFKA_OFFSET_END, NULL};
    }
    if (e)
        rc = pb_err_set(&j->err, PB_ERR_UNAVAILABLE, "offsets for time on %s: %s", j->topic,
                        rd_kafka_err2str(e));
    for (int i = 0; !rc && i < np; i++)
        if (j->tp[i].offset == PB_KAFKA_OFFSET_END)
            rc = job_time_fallback(j, j->tp[i].partition, &j->tp[i].offset);
    if (!rc) j->n = (size_t)np;
    rd_kafka_topic_partition_list_destroy(tl);
    return rc;
}

/* Offsets of the job as a partition list of its topic. */
static rd_kafka_topic_partition_list_t *job_list(const pb_kafka_job_t *j) {
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new((int)j->n);
    for (size_t i = 0; i < j->n; i++)
        rd_kafka_topic_partition_list_add(tl, j->topic, j->tp[i].partition)->offset =
            j->tp[i].offset;
    return tl;
}

/* The first error of a commit's partitions (0: all committed). */
static rd_kafka_resp_err_t parts_err(const rd_kafka_topic_partition_list_t *tl) {
    for (int i = 0; tl && i < tl->cnt; i++)
        if (tl->elems[i].err) return tl->elems[i].err;
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* Commit from outside the group through the reader (AlterConsumerGroupOffsets: OffsetCommit to
 * the group's coordinator as no member). Kafka's answer, or __TIMED_OUT. */
static rd_kafka_resp_err_t job_commit_outside(pb_kafka_job_t *j) {
    char es[256];
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TIMED_OUT;
    rd_kafka_topic_partition_list_t *tl = job_list(j);
    rd_kafka_AlterConsumerGroupOffsets_t *a = rd_kafka_AlterConsumerGroupOffsets_new(j->group, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    rd_kafka_queue_t *q = rd_kafka_queue_new(j->rk);
    rd_kafka_AdminOptions_t *o =
        rd_kafka_AdminOptions_new(j->rk, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
    rd_kafka_AdminOptions_set_request_timeout(o, JOB_TIMEOUT_MS, es, sizeof es);
    rd_kafka_AlterConsumerGroupOffsets(j->rk, &a, 1, o, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, JOB_TIMEOUT_MS + 1000);
    const rd_kafka_AlterConsumerGroupOffsets_result_t *r =
        ev ? rd_kafka_event_AlterConsumerGroupOffsets_result(ev) : NULL;
    if (ev && rd_kafka_event_error(ev)) {
        e = rd_kafka_event_error(ev);
    } else if (r) {
        size_t cnt = 0;
        const rd_kafka_group_result_t **g =
            rd_kafka_AlterConsumerGroupOffsets_result_groups(r, &cnt);
        const rd_kafka_error_t *ge = cnt == 1 ? rd_kafka_group_result_error(g[0]) : NULL;
        e = cnt != 1 ? RD_KAFKA_RESP_ERR__FAIL
            : ge     ? rd_kafka_error_code(ge)
                     : parts_err(rd_kafka_group_result_partitions(g[0]));
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_AlterConsumerGroupOffsets_destroy(a);
    return e;
}

/* Commit as a member through c (joined). */
static rd_kafka_resp_err_t job_commit_member(pb_kafka_job_t *j, rd_kafka_t *rk) {
    rd_kafka_topic_partition_list_t *tl = job_list(j);
    rd_kafka_resp_err_t e = rd_kafka_commit(rk, tl, 0);
    if (!e) e = parts_err(tl);
    rd_kafka_topic_partition_list_destroy(tl);
    return e;
}

static int refused_member(rd_kafka_resp_err_t e) {
    return e == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID || e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
           e == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS || e == RD_KAFKA_RESP_ERR__STATE;
}

/* Join j's group through committer c, commit as a member, leave. 0 or the error code (j->err);
 * *left: c left the group (it can serve another commit). */
static int job_commit_joined(pb_kafka_job_t *j, committer_t *c, int *left) {
    *left = 0;
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, j->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e)
        return pb_err_set(&j->err, PB_ERR_UNAVAILABLE, "join the group of %s: %s", j->topic,
                          rd_kafka_err2str(e));
    int64_t deadline = kafka_now_ms() + JOB_JOIN_MS;
    int rc = pb_err_set(&j->err, PB_ERR_TIMEOUT,
                        "the consumer group of %s gave no assignment within %d ms (a rebalance "
                        "is under way); retry",
                        j->topic, JOB_JOIN_MS);
    while (kafka_now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 100);
        if (m) rd_kafka_message_destroy(m); /* fetched while joined: not ours to read */
        if (!atomic_load(&c->assigned)) continue;
        e = job_commit_member(j, c->rk);
        if (!e) {
            rc = 0;
            break;
        }
        if (!refused_member(e)) {
            rc = pb_err_set(&j->err, PB_ERR_UNAVAILABLE, "commit to %s: %s", j->topic,
                            rd_kafka_err2str(e));
            break;
        }
    }
    /* Leave (librdkafka sends LeaveGroup once the revocation is served), so the members get their
     * partitions back at once; the client stays for the group's next commit. */
    if (rd_kafka_unsubscribe(c->rk)) return rc;
    deadline = kafka_now_ms() + JOB_LEAVE_MS;
    while (atomic_load(&c->assigned) && kafka_now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 50);
        if (m) rd_kafka_message_destroy(m);
    }
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 0); /* the leave's own events */
    if (m) rd_kafka_message_destroy(m);
    *left = !atomic_load(&c->assigned);
    return rc;
}

/* Commit from outside the group; when the group refuses a non-member, join it through a group
 * committer, commit as a member, leave. */
static int job_commit(pb_kafka_job_t *j) {
    rd_kafka_resp_err_t e = job_commit_outside(j);
    if (!e) return 0;
    if (!refused_member(e))
        return pb_err_set(&j->err, PB_ERR_UNAVAILABLE, "commit to %s: %s", j->topic,
                          rd_kafka_err2str(e));
    committer_t *c = committer_take(j->k, j->group, &j->err);
    if (!c) return j->err.code;
    int left = 0, rc = job_commit_joined(j, c, &left);
    committer_give(j->k, c, left);
    return rc;
}

void pb_kafka_job_run(pb_kafka_job_t *j) {
    int rc = (j->rk = kafka_reader_get(j->k, &j->err)) ? 0
             : j->err.code                             ? j->err.code
                                                       : PB_ERR_INTERNAL;
    if (!rc) rc = j->commit ? job_check(j) : j->n ? job_check(j) : job_times(j);
    if (!rc && j->commit) rc = job_commit(j);
    if (!rc) j->err.code = 0;
    kafka_reader_put(j->k, j->rk);
    j->rk = NULL;
    atomic_store(&j->done, 1);
    char c = 'j';
    if (j->wake_fd >= 0 && write(j->wake_fd, &c, 1) < 0) {
        /* a full wake pipe already means "look again" */
    }
}

static pb_kafka_job_t *job_start(pb_kafka_t *k, const char *group, const char *topic,
                                 const pb_kafka_tp_t *offsets, size_t n, int64_t ts_ms, int commit,
                                 int wake_fd, pb_err_t *err) {
    pb_kafka_job_t *j = calloc(1, sizeof *j);
    if (!j || !(j->topic = strdup(topic)) || (group && !(j->group = strdup(group))) ||
        (n && !(j->tp = malloc(n * sizeof *offsets)))) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        pb_kafka_job_free(j);
        return NULL;
    }
    if (n) memcpy(j->tp, offsets, n * sizeof *offsets);
    j->k = k;
    j->n = n;
    j->ts_ms = ts_ms;
    j->commit = commit;
    j->wake_fd = wake_fd;
    return j;
}

pb_kafka_job_t *pb_kafka_job_positions(pb_kafka_t *k, const pb_config_t *cfg, const char *topic,
                                       const pb_kafka_tp_t *offsets, size_t n, int64_t ts_ms,
                                       int wake_fd, pb_err_t *err) {
    (void)cfg;
    return job_start(k, NULL, topic, offsets, n, ts_ms, 0, wake_fd, err);
}

pb_kafka_job_t *pb_kafka_job_commit(pb_kafka_t *k, const pb_config_t *cfg, const char *group,
                                    const char *topic, const pb_kafka_tp_t *offsets, size_t n,
                                    int wake_fd, pb_err_t *err) {
    (void)cfg;
    return job_start(k, group, topic, offsets, n, 0, 1, wake_fd, err);
}

int pb_kafka_job_done(const pb_kafka_job_t *j) { return atomic_load(&j->done); }

int pb_kafka_job_result(const pb_kafka_job_t *j, const pb_kafka_tp_t **out, size_t *n,
                        pb_err_t *err) {
    if (j->err.code) {
        if (err) *err = j->err;
        return j->err.code;
    }
    *out = j->tp;
    *n = j->n;
    return 0;
}

void pb_kafka_job_free(pb_kafka_job_t *j) {
    if (!j) return;
    free(j->topic);
    free(j->group);
    free(j->tp);
    free(j);
}

/* ---- lag probe ----
 * A sweep's look-ups (partition counts when the caller lacks one, watermarks, the groups'
 * committed offsets) go through the instance's shared client (k->rk, a producer): ListOffsets
 * (rd_kafka_offsets_for_times) and the admin API work on any client type and make no topic object
 * in it (leaders come from the metadata cache, filled by a request naming the topics it lacks,
 * which never creates one), so they add no topic to any client's 1 s scan. The shared client
 * outlives the jobs layer; the routers' producer, which knows every input topic too, is destroyed
 * before it (broker.c), while a sweep may still be running. Only the oldest unconsumed record's
 * timestamp needs a consumer: those reads assign the offset reader, once per position. */

/* Values per topic partition: open addressing, at most half full. */
struct lag_tab {
    struct lag_ts {
        char *topic;
        int32_t partition;
        int64_t pos, ts;
    } * e;
    size_t cap, n;
};

struct pb_kafka_lag {
    pb_kafka_t *k;
    const pb_config_t *cfg;
    int sweeping; /* pb_kafka_lag_sweep ran: the measurements use its counts and watermarks */
    /* The oldest unconsumed record's timestamp per topic partition (pos: the offset it was read
     * at, ts): a record does not change, so it is read again only when the position moves.
     * Emptied every LAG_TS_SWEEPS sweeps (deleted topics). */
    struct lag_tab tsc;
    /* The sweep's watermarks per topic partition (pos: low, ts: high): the caller's, and the
     * others looked up for every topic of the sweep at once (two ListOffsets requests per broker
     * a sweep, not two per topic). */
    struct lag_tab wm;
    /* The sweep's partition count per topic (partition -1, pos: the count, -1 absent). */
    struct lag_tab cnt;
    char md_error[200]; /* the sweep needed the cluster's metadata and could not get it */
    int reader_md;      /* the sweep filled the offset reader's metadata cache (before reads) */
    rd_kafka_t *reader; /* that reader, held until the sweep ends */
    char wm_error[200]; /* the sweep's watermarks look-up failed (brokers down?): measurements
                         * missing some say so instead of asking again, topic by topic */
    unsigned sweeps;
};

#define LAG_TS_SWEEPS 100
#define LAG_MD_SWEEPS 100    /* a sweep in this many asks the metadata: topics grown since */
#define LAG_WM_CHUNK 200     /* partitions per watermarks look-up of a sweep */
#define LAG_CNT_UNKNOWN (-2) /* a count the sweep could not learn (l->md_error says why) */

static void lag_tab_clear(struct lag_tab *t) {
    for (size_t i = 0; i < t->cap; i++)
        free(t->e[i].topic);
    free(t->e);
    t->e = NULL;
    t->cap = t->n = 0;
}

static size_t lag_ts_slot(const struct lag_ts *t, size_t cap, const char *topic, int32_t p) {
    size_t i = (size_t)pb_hash_str(PB_HASH_FNV_BASIS ^ (uint32_t)p, topic) & (cap - 1);
    while (t[i].topic && (t[i].partition != p || strcmp(t[i].topic, topic)))
        i = (i + 1) & (cap - 1);
    return i;
}

/* The entry of topic[p] in tab; created (pos -1) when create is set. NULL when absent or out of
 * memory. */
static struct lag_ts *lag_tab_get(struct lag_tab *tab, const char *topic, int32_t p, int create) {
    if (create && (tab->n + 1) * 2 > tab->cap) {
        size_t cap = tab->cap ? tab->cap * 2 : 1024;
        struct lag_ts *t = calloc(cap, sizeof *t);
        if (!t) return NULL;
        for (size_t i = 0; i < tab->cap; i++)
            if (tab->e[i].topic)
                t[lag_ts_slot(t, cap, tab->e[i].topic, tab->e[i].partition)] = tab->e[i];
        free(tab->e);
        tab->e = t;
        tab->cap = cap;
    }
    if (!tab->cap) return NULL;
    struct lag_ts *e = &tab->e[lag_ts_slot(tab->e, tab->cap, topic, p)];
    if (e->topic) return e;
    if (!create || !(e->topic = strdup(topic))) return NULL;
    e->partition = p;
    e->pos = -1;
    tab->n++;
    return e;
}

/* The partition count of every topic of the sweep (l->cnt) from the cluster's metadata: the
 * answer's count, or -1 for a topic the answer lacks. All topics, through the shared client: naming
 * one would make the embedded cluster create it (a producer's metadata request may auto-create).
 * 0, or -1 with l->md_error set (the counts are left as they were). */
static int counts_from_metadata(pb_kafka_lag_t *l, int timeout_ms) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(l->k->rk, 1, NULL, &md, timeout_ms);
    if (e) {
        snprintf(l->md_error, sizeof l->md_error, "metadata: %s", rd_kafka_err2str(e));
        return -1;
    }
    for (size_t i = 0; i < l->cnt.cap; i++)
        if (l->cnt.e[i].topic) l->cnt.e[i].ts = 0; /* not in the answer yet */
    for (int i = 0; i < md->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *mt = &md->topics[i];
        struct lag_ts *c = lag_tab_get(&l->cnt, mt->topic, -1, 0);
        if (!c) continue;
        c->pos = mt->err ? -1 : mt->partition_cnt;
        c->ts = 1;
    }
    for (size_t i = 0; i < l->cnt.cap; i++)
        if (l->cnt.e[i].topic && !l->cnt.e[i].ts) l->cnt.e[i].pos = -1; /* no such topic */
    rd_kafka_metadata_destroy(md);
    return 0;
}

/* Both watermarks of every partition of the sweep's topics that l->wm lacks, in two
 * offsets_for_times calls per LAG_WM_CHUNK partitions (one ListOffsets request per leader each),
 * through the shared client: offsets_for_times finds leaders in the metadata cache (a request
 * naming the topics it lacks, never creating one) and makes no topic object. Returns the number of
 * partitions asked. On failure l->wm stays partly empty: the measurements then ask per topic. */
static size_t sweep_watermarks(pb_kafka_lag_t *l, int timeout_ms) {
    rd_kafka_topic_partition_list_t *all = rd_kafka_topic_partition_list_new(64);
    for (size_t i = 0; i < l->cnt.cap; i++) {
        const struct lag_ts *c = &l->cnt.e[i];
        if (!c->topic) continue;
        for (int32_t p = 0; p < c->pos; p++)
            if (!lag_tab_get(&l->wm, c->topic, p, 0))
                rd_kafka_topic_partition_list_add(all, c->topic, p);
    }
    size_t asked = (size_t)all->cnt;
    /* In chunks: librdkafka matches each partition of an answer to its request by a linear search
     * (quadratic in the list: 80 ms of CPU a sweep at 2,000 partitions in one list). */
    int failed = 0;
    for (int at = 0; at < all->cnt && !failed; at += LAG_WM_CHUNK) {
        int end = at + LAG_WM_CHUNK < all->cnt ? at + LAG_WM_CHUNK : all->cnt;
        for (int side = 0; side < 2 && !failed; side++) {
            rd_kafka_topic_partition_list_t *w = rd_kafka_topic_partition_list_new(end - at);
            for (int i = at; i < end; i++)
                rd_kafka_topic_partition_list_add(w, all->elems[i].topic, all->elems[i].partition)
                    ->offset = side ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
            rd_kafka_resp_err_t we = rd_kafka_offsets_for_times(l->k->rk, w, timeout_ms);
            /* Kafka unreachable: the rest would wait as long. Another error (every topic of the
             * chunk gone) leaves its topics to their measurements. */
            if (we == RD_KAFKA_RESP_ERR__TIMED_OUT || we == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
                we == RD_KAFKA_RESP_ERR__TRANSPORT) {
                failed = 1;
                snprintf(l->wm_error, sizeof l->wm_error, "watermarks: %s", rd_kafka_err2str(we));
            }
            for (int i = 0; !we && i < w->cnt; i++) {
                const rd_kafka_topic_partition_t *x = &w->elems[i];
                struct lag_ts *e;
                if (x->err || x->offset < 0 ||
                    !(e = lag_tab_get(&l->wm, x->topic, x->partition, 1)))
                    continue;
                if (side)
                    e->ts = x->offset;
                else
                    e->pos = x->offset, e->ts = -1;
            }
            rd_kafka_topic_partition_list_destroy(w);
        }
    }
    rd_kafka_topic_partition_list_destroy(all);
    return asked;
}

void pb_kafka_lag_sweep(pb_kafka_lag_t *l, const pb_kafka_lag_topic_t *topics, size_t n,
                        const pb_kafka_lag_wm_t *known, size_t n_known, int timeout_ms,
                        pb_kafka_lag_sweep_stats_t *st) {
    pb_kafka_lag_sweep_stats_t none;
    if (!st) st = &none;
    memset(st, 0, sizeof *st);
    pb_kafka_lag_sweep_end(l); /* the last one's, when its caller did not end it */
    l->sweeping = 1;
    l->md_error[0] = l->wm_error[0] = 0;
    l->reader_md = 0;
    lag_tab_clear(&l->wm);
    lag_tab_clear(&l->cnt);
    if (++l->sweeps % LAG_TS_SWEEPS == 0) lag_tab_clear(&l->tsc);
    /* Counts: the caller's (the routers'); the metadata where one is unknown, and every
     * LAG_MD_SWEEPS sweeps (the first included) for partitions added since. */
    int need_md = l->sweeps % LAG_MD_SWEEPS == 1;
    for (size_t i = 0; i < n; i++) {
        struct lag_ts *c = lag_tab_get(&l->cnt, topics[i].topic, -1, 1);
        if (!c) continue;
        if (topics[i].partitions > c->pos) c->pos = topics[i].partitions;
        if (c->pos <= 0) need_md = 1;
    }
    if (n && need_md) {
        st->metadata = 1;
        if (counts_from_metadata(l, timeout_ms))
            for (size_t i = 0; i < l->cnt.cap; i++) /* unknown: the measurements say why */
                if (l->cnt.e[i].topic && l->cnt.e[i].pos <= 0) l->cnt.e[i].pos = LAG_CNT_UNKNOWN;
    }
    for (size_t i = 0; i < n_known; i++) {
        struct lag_ts *e = known[i].low >= 0 && known[i].high >= known[i].low
                               ? lag_tab_get(&l->wm, known[i].topic, known[i].partition, 1)
                               : NULL;
        if (!e) continue;
        e->pos = known[i].low;
        e->ts = known[i].high;
        st->from_caller++;
    }
    if (n) st->asked = sweep_watermarks(l, timeout_ms);
}

void pb_kafka_lag_sweep_end(pb_kafka_lag_t *l) {
    if (!l || !l->reader) return;
    kafka_reader_put(l->k, l->reader);
    l->reader = NULL;
}

int pb_kafka_lag_watermark(pb_kafka_lag_t *l, const char *topic, int32_t partition, int64_t *low,
                           int64_t *high) {
    const struct lag_ts *w = l->sweeping ? lag_tab_get(&l->wm, topic, partition, 0) : NULL;
    if (!w || w->pos < 0 || w->ts < 0) return -1;
    *low = w->pos;
    *high = w->ts;
    return 0;
}

pb_kafka_lag_t *pb_kafka_lag_new(pb_kafka_t *k, const pb_config_t *cfg, pb_err_t *err) {
    pb_kafka_lag_t *l = calloc(1, sizeof *l);
    if (!l) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    l->k = k;
    l->cfg = cfg;
    return l;
}

/* The group's committed offsets into tl through the admin API (OffsetFetch on the group's
 * coordinator): no client per group. Returns 0, or -1 with why[256] (no answer, or the group's
 * error). */
static int admin_committed(rd_kafka_t *rk, const char *group, rd_kafka_topic_partition_list_t *tl,
                           int timeout_ms, char *why) {
    int rc = -1;
    char es[256];
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
    rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, es, sizeof es);
    rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(group, tl);
    rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, o, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
    const rd_kafka_ListConsumerGroupOffsets_result_t *res =
        ev ? rd_kafka_event_ListConsumerGroupOffsets_result(ev) : NULL;
    snprintf(why, 256, "%s",
             !ev                        ? "no answer from its coordinator in time"
             : rd_kafka_event_error(ev) ? rd_kafka_event_error_string(ev)
             : !res                     ? "no answer from its coordinator"
                                        : "the coordinator answered without the group");
    if (res && !rd_kafka_event_error(ev)) {
        size_t n = 0;
        const rd_kafka_group_result_t **g =
            rd_kafka_ListConsumerGroupOffsets_result_groups(res, &n);
        const rd_kafka_error_t *ge = n == 1 ? rd_kafka_group_result_error(g[0]) : NULL;
        const rd_kafka_topic_partition_list_t *got =
            n == 1 && !ge ? rd_kafka_group_result_partitions(g[0]) : NULL;
        if (ge) snprintf(why, 256, "%s", rd_kafka_error_string(ge));
        if (got) {
            for (int i = 0; i < tl->cnt; i++) {
                tl->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
                for (int j = 0; j < got->cnt; j++)
                    if (got->elems[j].partition == tl->elems[i].partition && !got->elems[j].err)
                        tl->elems[i].offset = got->elems[j].offset;
            }
            rc = 0;
        }
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    return rc;
}

int pb_kafka_lag_measure(pb_kafka_lag_t *l, const char *group, const char *topic,
                         const int64_t *known, size_t n_known, pb_kafka_lag_part_t *parts,
                         size_t cap, size_t *n_parts, int timeout_ms, pb_err_t *err) {
    int rc = 0;
    rd_kafka_topic_partition_list_t *tl = NULL, *want = NULL;
    const struct rd_kafka_metadata *md = NULL;
    *n_parts = 0;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    /* The partition count: the sweep's, or (outside a sweep, or a topic it did not name) the
     * cluster's metadata through the shared client. */
    const struct lag_ts *count = l->sweeping ? lag_tab_get(&l->cnt, topic, -1, 0) : NULL;
    int np = -1;
    if (count && count->pos == LAG_CNT_UNKNOWN) {
        rc = pb_err_set(err, PB_ERR_UNAVAILABLE, "partition count of %s: %s", topic, l->md_error);
        goto done;
    } else if (count) {
        np = (int)count->pos;
    } else {
        if ((e = rd_kafka_metadata(l->k->rk, 1, NULL, &md, timeout_ms))) {
            rc = pb_err_set(err, PB_ERR_UNAVAILABLE, "metadata: %s", rd_kafka_err2str(e));
            goto done;
        }
        for (int i = 0; i < md->topic_cnt; i++)
            if (!strcmp(md->topics[i].topic, topic))
                np = md->topics[i].err ? -1 : md->topics[i].partition_cnt;
    }
    if (np < 0) {
        rc = pb_err_set(err, PB_ERR_NOT_FOUND, "topic %s does not exist", topic);
        goto done;
    }
    if (known && n_known != (size_t)np) known = NULL; /* the partitions changed: ask Kafka */
    if ((size_t)np > cap) np = (int)cap;
    int have_wm = l->sweeping;
    for (int p = 0; p < np; p++) {
        parts[p] = (pb_kafka_lag_part_t){
            .partition = p, .low = -1, .high = -1, .committed = -1, .oldest_ts_ms = -1};
        const struct lag_ts *w = have_wm ? lag_tab_get(&l->wm, topic, p, 0) : NULL;
        if (w && w->pos >= 0 && w->ts >= 0)
            parts[p].low = w->pos, parts[p].high = w->ts;
        else
            have_wm = 0;
    }
    if (!have_wm && l->sweeping && l->wm_error[0]) {
        /* The sweep's look-up failed: asking again per topic would wait as long per topic. */
        rc = pb_err_set(err, PB_ERR_UNAVAILABLE, "%s %s", topic, l->wm_error);
        goto done;
    }
    /* Watermarks the sweep did not get (a partition it got no answer for): one ListOffsets
     * request per leader for all partitions (earliest, then latest), not two per partition. */
    for (int side = 0; side < 2 && !have_wm; side++) {
        rd_kafka_topic_partition_list_t *w = rd_kafka_topic_partition_list_new(np);
        for (int p = 0; p < np; p++)
            rd_kafka_topic_partition_list_add(w, topic, p)->offset =
                side ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
        e = rd_kafka_offsets_for_times(l->k->rk, w, timeout_ms);
        for (int p = 0; !e && p < w->cnt; p++) {
            rd_kafka_topic_partition_t *x = &w->elems[p];
            if (x->err)
                e = x->err;
            else if (x->partition >= 0 && x->partition < np)
                *(side ? &parts[x->partition].high : &parts[x->partition].low) = x->offset;
        }
        rd_kafka_topic_partition_list_destroy(w);
        if (e) {
            rc = pb_err_set(err, PB_ERR_UNAVAILABLE, "%s watermarks: %s", topic,
                            rd_kafka_err2str(e));
            goto done;
        }
    }
    tl = rd_kafka_topic_partition_list_new(np);
    for (int p = 0; p < np; p++) {
        if (parts[p].low < 0 || parts[p].high < 0) {
            rc = pb_err_set(err, PB_ERR_UNAVAILABLE, "%s [%d] watermarks: no answer", topic, p);
            goto done;
        }
        rd_kafka_topic_partition_list_add(tl, topic, p);
    }
    if (known) { /* the caller knows the group's offsets (its own routers): no request */
        for (int p = 0; p < np; p++)
            tl->elems[p].offset = known[p] >= 0 ? known[p] : RD_KAFKA_OFFSET_INVALID;
    } else {
        char why[256];
        if (admin_committed(l->k->rk, group, tl, timeout_ms, why)) {
            rc = pb_err_set(err, PB_ERR_UNAVAILABLE, "committed offsets of %s: %s", group, why);
            goto done;
        }
    }
    want = rd_kafka_topic_partition_list_new(np);
    for (int p = 0; p < np; p++) {
        int64_t c = tl->elems[p].offset;
        parts[p].committed = c >= 0 ? c : -1;
        int64_t pos = c >= 0 ? c : parts[p].low;
        if (pos < parts[p].low) pos = parts[p].low; /* expired records count from the first kept */
        if (pos >= parts[p].high) continue;
        const struct lag_ts *seen = lag_tab_get(&l->tsc, topic, p, 0);
        if (seen && seen->pos == pos)
            parts[p].oldest_ts_ms = seen->ts; /* the same record as last time */
        else
            rd_kafka_topic_partition_list_add(want, topic, p)->offset = pos;
    }
    *n_parts = (size_t)np;
    if (want->cnt == 0) goto done;
    /* The oldest unconsumed record's timestamp: read one record at each position. A partition
     * of a topic the reader's metadata cache lacks waits for librdkafka's leader query (~200 ms
     * each, one topic at a time here): once per sweep that reads, the cluster's metadata fills
     * the cache first (entries only, no topic object). */
    if (l->sweeping && !l->reader_md) {
        /* Held until the sweep ends (pb_kafka_lag_sweep_end): the reads after it need this
         * reader's cache, not a fresh reader's (pb_kafka_reader_reap closes only unheld ones). */
        const struct rd_kafka_metadata *rmd = NULL;
        l->reader = kafka_reader_get(l->k, NULL);
        l->reader_md = 1;
        if (l->reader && !rd_kafka_metadata(l->reader, 1, NULL, &rmd, timeout_ms))
            rd_kafka_metadata_destroy(rmd);
    }
    rd_kafka_t *rk = kafka_reader_assign(l->k, want, NULL);
    if (!rk) goto done;
    int missing = want->cnt;
    int64_t deadline = kafka_now_ms() + timeout_ms;
    while (missing > 0 && kafka_now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
        if (!m) continue;
        if (is_record_of(m, topic) && m->partition >= 0 && m->partition < np &&
            parts[m->partition].oldest_ts_ms < 0) {
            int64_t ts = rd_kafka_message_timestamp(m, NULL);
            parts[m->partition].oldest_ts_ms = ts >= 0 ? ts : 0;
            missing--;
        }
        rd_kafka_message_destroy(m);
    }
    kafka_reader_release(l->k, rk);
    for (int i = 0; i < want->cnt; i++) {
        int32_t p = want->elems[i].partition;
        struct lag_ts *seen;
        if (parts[p].oldest_ts_ms >= 0 && (seen = lag_tab_get(&l->tsc, topic, p, 1))) {
            seen->pos = want->elems[i].offset;
            seen->ts = parts[p].oldest_ts_ms;
        }
    }
done:
    if (md) rd_kafka_metadata_destroy(md);
    if (tl) rd_kafka_topic_partition_list_destroy(tl);
    if (want) rd_kafka_topic_partition_list_destroy(want);
    return rc;
}

void pb_kafka_lag_destroy(pb_kafka_lag_t *l) {
    if (!l) return;
    pb_kafka_lag_sweep_end(l);
    lag_tab_clear(&l->tsc);
    lag_tab_clear(&l->wm);
    lag_tab_clear(&l->cnt);
    free(l); /* the reader is the instance's (kafka_offsets_destroy) */
}
