/*
 * kafka_admin — the slow calls that run as jobs off the loop: partition counts, topic creation
 * (admin API or the embedded cluster's control topic), committed offsets of groups, offset jobs
 * for subscriber streams, and the lag probe's sweeps.
 * Must not: be called on the loop thread: every call here waits on the network (bounded by its
 * timeout), so callers run them as jobs (jobs.h).
 */
#include "kafka_int.h"

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

/* ---- offset jobs ---- */

#define JOB_TIMEOUT_MS 5000 /* each Kafka request of a job */
#define JOB_JOIN_MS 20000   /* a cursor commit that has to join the group: assignment */
#define JOB_MAX_PARTS 1024

struct pb_kafka_job {
    atomic_int done;
    int commit; /* pb_kafka_job_commit, else pb_kafka_job_positions */
    rd_kafka_t *rk;
    char *topic;
    int64_t ts_ms;
    pb_kafka_tp_t *tp; /* in: the offsets asked for; out: the positions */
    size_t n;
    int wake_fd;
    int assigned; /* join path: the group gave this client its assignment */
    pb_err_t err;
};

/* Check each of j->tp against its partition's watermarks. 0 or the error code (j->err set). */
static int job_check(pb_kafka_job_t *j) {
    for (size_t i = 0; i < j->n; i++) {
        int32_t p = j->tp[i].partition;
        int64_t lo = 0, hi = 0, o = j->tp[i].offset;
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(j->rk, j->topic, p, &lo, &hi, JOB_TIMEOUT_MS);
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
    rd_kafka_resp_err_t e = rd_kafka_assign(j->rk, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    int rc = -1;
    int64_t deadline = kafka_now_ms() + JOB_TIMEOUT_MS;
    while (!e && rc && kafka_now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(j->rk, 50);
        if (!m) continue;
        if (!m->err && m->partition == p && m->offset >= offset) {
            *ts = rd_kafka_message_timestamp(m, NULL);
            rc = 0;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(j->rk, NULL);
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
    rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(j->rk, j->topic, p, &lo, &hi, JOB_TIMEOUT_MS);
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

static void job_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                          rd_kafka_topic_partition_list_t *parts, void *opaque) {
    pb_kafka_job_t *j = opaque;
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        j->assigned = 1;
    } else {
        rd_kafka_assign(rk, NULL);
        j->assigned = 0;
    }
}

static rd_kafka_resp_err_t job_commit_once(pb_kafka_job_t *j) {
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new((int)j->n);
    for (size_t i = 0; i < j->n; i++)
        rd_kafka_topic_partition_list_add(tl, j->topic, j->tp[i].partition)->offset =
            j->tp[i].offset;
    rd_kafka_resp_err_t e = rd_kafka_commit(j->rk, tl, 0);
    for (int i = 0; !e && i < tl->cnt; i++)
        e = tl->elems[i].err;
    rd_kafka_topic_partition_list_destroy(tl);
    return e;
}

static int refused_member(rd_kafka_resp_err_t e) {
    return e == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID || e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
           e == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS || e == RD_KAFKA_RESP_ERR__STATE;
}

/* Commit as a non-member; when the group refuses, join, commit as a member, leave. */
static int job_commit(pb_kafka_job_t *j) {
    rd_kafka_resp_err_t e = job_commit_once(j);
    if (!e) return 0;
    if (!refused_member(e))
        return pb_err_set(&j->err, PB_ERR_UNAVAILABLE, "commit to %s: %s", j->topic,
                          rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, j->topic, RD_KAFKA_PARTITION_UA);
    e = rd_kafka_subscribe(j->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e)
        return pb_err_set(&j->err, PB_ERR_UNAVAILABLE, "join the group of %s: %s", j->topic,
                          rd_kafka_err2str(e));
    int64_t deadline = kafka_now_ms() + JOB_JOIN_MS;
    int rc = PB_ERR_TIMEOUT;
    pb_err_set(&j->err, PB_ERR_TIMEOUT,
               "the consumer group of %s gave no assignment within %d ms (a rebalance is under "
               "way); retry",
               j->topic, JOB_JOIN_MS);
    while (kafka_now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(j->rk, 100);
        if (m) rd_kafka_message_destroy(m); /* fetched while joined: not ours to read */
        if (!j->assigned) continue;
        e = job_commit_once(j);
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
    rd_kafka_consumer_close(j->rk);
    return rc;
}

void pb_kafka_job_run(pb_kafka_job_t *j) {
    int rc = j->commit ? job_check(j) : j->n ? job_check(j) : job_times(j);
    if (!rc && j->commit) rc = job_commit(j);
    if (!rc) j->err.code = 0;
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
    if (!j || !(j->topic = strdup(topic)) || (n && !(j->tp = malloc(n * sizeof *offsets)))) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (n) memcpy(j->tp, offsets, n * sizeof *offsets);
    j->n = n;
    j->ts_ms = ts_ms;
    j->commit = commit;
    j->wake_fd = wake_fd;
    rd_kafka_conf_t *conf = kafka_sub_consumer_conf(k, group, "portbroker-cursors", NULL, err);
    if (!conf) goto fail;
    rd_kafka_conf_set_rebalance_cb(conf, job_rebalance);
    rd_kafka_conf_set_opaque(conf, j);
    if (!(j->rk = kafka_client_new(RD_KAFKA_CONSUMER, conf, "offset job", err))) goto fail;
    rd_kafka_poll_set_consumer(j->rk);
    return j;
fail:
    pb_kafka_job_free(j);
    return NULL;
}

pb_kafka_job_t *pb_kafka_job_positions(pb_kafka_t *k, const pb_config_t *cfg, const char *topic,
                                       const pb_kafka_tp_t *offsets, size_t n, int64_t ts_ms,
                                       int wake_fd, pb_err_t *err) {
    (void)cfg;
    return job_start(k, "portbroker.sub.positions", topic, offsets, n, ts_ms, 0, wake_fd, err);
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
    if (j->rk) rd_kafka_destroy(j->rk);
    free(j->topic);
    free(j->tp);
    free(j);
}

/* ---- lag probe ---- */

typedef struct lag_group {
    char *group;
    rd_kafka_t *rk;
} lag_group_t;

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
    rd_kafka_t *reader;  /* assigns partitions at offsets to read one record's timestamp */
    lag_group_t *groups; /* one handle per group, for its committed offsets (never joins) */
    size_t n_groups;
    int admin_ok; /* committed offsets through the admin API work (else the group handles) */
    int sweeping; /* pb_kafka_lag_sweep: md is kept for the sweep */
    const struct rd_kafka_metadata *md;    /* the sweep's metadata, once looked up */
    const rd_kafka_metadata_topic_t **mdx; /* md's topics by name (md_topic) */
    /* The oldest unconsumed record's timestamp per topic partition (pos: the offset it was read
     * at, ts): a record does not change, so it is read again only when the position moves.
     * Emptied every LAG_TS_SWEEPS sweeps (deleted topics). */
    struct lag_tab tsc;
    /* The sweep's watermarks per topic partition (pos: low, ts: high), looked up for every topic
     * of the sweep at once: two ListOffsets requests per broker a sweep, not two per topic. */
    struct lag_tab wm;
    unsigned sweeps;
};

#define LAG_TS_SWEEPS 100
#define LAG_WM_CHUNK 200 /* partitions per watermarks look-up of a sweep */

static void lag_tab_clear(struct lag_tab *t) {
    for (size_t i = 0; i < t->cap; i++)
        free(t->e[i].topic);
    free(t->e);
    t->e = NULL;
    t->cap = t->n = 0;
}

static size_t lag_ts_slot(const struct lag_ts *t, size_t cap, const char *topic, int32_t p) {
    uint64_t h = 0xcbf29ce484222325ULL ^ (uint32_t)p;
    for (const char *c = topic; *c; c++)
        h = (h ^ (unsigned char)*c) * 0x100000001b3ULL;
    size_t i = (size_t)h & (cap - 1);
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

static int mdx_cmp(const void *a, const void *b) {
    return strcmp((*(const rd_kafka_metadata_topic_t *const *)a)->topic,
                  (*(const rd_kafka_metadata_topic_t *const *)b)->topic);
}

/* Sets l->md (taking md) and its index by name (none out of memory: md_topic scans). */
static void sweep_md(pb_kafka_lag_t *l, const struct rd_kafka_metadata *md) {
    if (l->md) rd_kafka_metadata_destroy(l->md);
    free(l->mdx);
    l->md = md;
    l->mdx = NULL;
    if (!md || !md->topic_cnt || !(l->mdx = malloc(md->topic_cnt * sizeof *l->mdx))) return;
    for (int i = 0; i < md->topic_cnt; i++)
        l->mdx[i] = &md->topics[i];
    qsort(l->mdx, (size_t)md->topic_cnt, sizeof *l->mdx, mdx_cmp);
}

/* topic in md (by the index when md is the sweep's), NULL when absent. */
static const rd_kafka_metadata_topic_t *
md_topic(const pb_kafka_lag_t *l, const struct rd_kafka_metadata *md, const char *topic) {
    if (md == l->md && l->mdx) {
        rd_kafka_metadata_topic_t key = {.topic = (char *)topic};
        const rd_kafka_metadata_topic_t *k = &key, **f = bsearch(&k, l->mdx, (size_t)md->topic_cnt,
                                                                 sizeof *l->mdx, mdx_cmp);
        return f ? *f : NULL;
    }
    for (int i = 0; i < md->topic_cnt; i++)
        if (!strcmp(md->topics[i].topic, topic)) return &md->topics[i];
    return NULL;
}

static int str_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Both watermarks of every partition of topics[0..n) into l->wm, in two offsets_for_times calls
 * (one ListOffsets request per leader each). On failure l->wm stays partly or wholly empty: the
 * measurements then look their topics up one by one. */
static void sweep_watermarks(pb_kafka_lag_t *l, const char *const *topics, size_t n,
                             int timeout_ms) {
    const char **sorted = malloc(n * sizeof *sorted);
    if (!sorted) return;
    memcpy(sorted, topics, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, str_cmp); /* a topic listed twice is asked once */
    rd_kafka_topic_partition_list_t *all = rd_kafka_topic_partition_list_new(64);
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_metadata_topic_t *mt = md_topic(l, l->md, sorted[i]);
        if (!mt || mt->err || (i && !strcmp(sorted[i], sorted[i - 1]))) continue;
        for (int p = 0; p < mt->partition_cnt; p++)
            rd_kafka_topic_partition_list_add(all, mt->topic, p);
    }
    free(sorted);
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
            failed = rd_kafka_offsets_for_times(l->reader, w, timeout_ms) != 0;
            for (int i = 0; !failed && i < w->cnt; i++) {
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
}

void pb_kafka_lag_sweep(pb_kafka_lag_t *l, const char *const *topics, size_t n, int timeout_ms) {
    const struct rd_kafka_metadata *md = NULL;
    sweep_md(l, NULL);
    l->sweeping = 1;
    lag_tab_clear(&l->wm);
    if (++l->sweeps % LAG_TS_SWEEPS == 0) lag_tab_clear(&l->tsc);
    if (!n || rd_kafka_metadata(l->reader, 1, NULL, &md, timeout_ms)) return;
    sweep_md(l, md);
    sweep_watermarks(l, topics, n, timeout_ms);
}

pb_kafka_lag_t *pb_kafka_lag_new(pb_kafka_t *k, const pb_config_t *cfg, pb_err_t *err) {
    pb_kafka_lag_t *l = calloc(1, sizeof *l);
    if (!l) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    l->k = k;
    l->cfg = cfg;
    /* Admin first: a client per group would cost ~10 threads per binding. */
    l->admin_ok = 1;
    rd_kafka_conf_t *conf =
        kafka_sub_consumer_conf(k, "portbroker.lag.reader", "portbroker-lag", NULL, err);
    /* A watermark look-up waits for its request, whatever its timeout argument: with the brokers
     * down a request waits socket.timeout.ms (60 s by default) per partition, and the poller (and
     * a shutdown that stops it) with it. A role default: kafka.socket.timeout.ms overrides it. */
    if (conf && !kafka_operator_sets(k->cfg, "socket.timeout.ms") &&
        kafka_conf_set(conf, "socket.timeout.ms", "5000", err)) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    if (!conf || !(l->reader = kafka_client_new(RD_KAFKA_CONSUMER, conf, "lag probe", err)))
        goto fail;
    rd_kafka_poll_set_consumer(l->reader);
    return l;
fail:
    pb_kafka_lag_destroy(l);
    return NULL;
}

static rd_kafka_t *lag_group_handle(pb_kafka_lag_t *l, const char *group, pb_err_t *err) {
    for (size_t i = 0; i < l->n_groups; i++)
        if (!strcmp(l->groups[i].group, group)) return l->groups[i].rk;
    lag_group_t *g = realloc(l->groups, (l->n_groups + 1) * sizeof *g);
    if (!g) return pb_err_set(err, PB_ERR_NOMEM, "out of memory"), NULL;
    l->groups = g;
    rd_kafka_conf_t *conf = kafka_sub_consumer_conf(l->k, group, "portbroker-lag", NULL, err);
    if (!conf) return NULL;
    rd_kafka_t *rk = kafka_client_new(RD_KAFKA_CONSUMER, conf, "lag probe", err);
    if (!rk) return NULL;
    char *name = strdup(group);
    if (!name) {
        rd_kafka_destroy(rk);
        return pb_err_set(err, PB_ERR_NOMEM, "out of memory"), NULL;
    }
    l->groups[l->n_groups++] = (lag_group_t){name, rk};
    return rk;
}

/* The group's committed offsets into tl through the admin API (OffsetFetch on the group's
 * coordinator): no client per group. Returns 0, or -1 when the cluster did not answer it. */
static int admin_committed(rd_kafka_t *rk, const char *group, rd_kafka_topic_partition_list_t *tl,
                           int timeout_ms) {
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
    if (res && !rd_kafka_event_error(ev)) {
        size_t n = 0;
        const rd_kafka_group_result_t **g =
            rd_kafka_ListConsumerGroupOffsets_result_groups(res, &n);
        const rd_kafka_topic_partition_list_t *got = n == 1 && !rd_kafka_group_result_error(g[0])
                                                         ? rd_kafka_group_result_partitions(g[0])
                                                         : NULL;
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
    const struct rd_kafka_metadata *md = l->sweeping ? l->md : NULL;
    *n_parts = 0;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!md && (e = rd_kafka_metadata(l->reader, 1, NULL, &md, timeout_ms))) {
        rc = pb_err_set(err, PB_ERR_UNAVAILABLE, "metadata: %s", rd_kafka_err2str(e));
        goto done;
    }
    if (l->sweeping && md != l->md) sweep_md(l, md); /* kept for the sweep's other measurements */
    const rd_kafka_metadata_topic_t *mt = md_topic(l, md, topic);
    int np = mt && !mt->err ? mt->partition_cnt : -1;
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
    /* Watermarks the sweep did not get: one ListOffsets request per leader for all partitions
     * (earliest, then latest), not two per partition. */
    for (int side = 0; side < 2 && !have_wm; side++) {
        rd_kafka_topic_partition_list_t *w = rd_kafka_topic_partition_list_new(np);
        for (int p = 0; p < np; p++)
            rd_kafka_topic_partition_list_add(w, topic, p)->offset =
                side ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
        e = rd_kafka_offsets_for_times(l->reader, w, timeout_ms);
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
    } else if (l->admin_ok && admin_committed(l->reader, group, tl, timeout_ms)) {
        l->admin_ok = 0;
        pb_log(INFO, "sub",
               "lag: the cluster did not answer ListConsumerGroupOffsets; reading "
               "committed offsets through one client per group instead");
    }
    if (!known &&
        !l->admin_ok) { /* a client of the group (it never joins) when the admin call fails */
        rd_kafka_t *g = lag_group_handle(l, group, err);
        if (!g) {
            rc = err ? err->code : PB_ERR_INTERNAL;
            goto done;
        }
        e = rd_kafka_committed(g, tl, timeout_ms);
    }
    if (e) {
        rc = pb_err_set(err, PB_ERR_UNAVAILABLE, "committed offsets of %s: %s", group,
                        rd_kafka_err2str(e));
        goto done;
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
    /* The oldest unconsumed record's timestamp: read one record at each position. */
    if (rd_kafka_assign(l->reader, want)) goto done;
    int missing = want->cnt;
    int64_t deadline = kafka_now_ms() + timeout_ms;
    while (missing > 0 && kafka_now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(l->reader, 50);
        if (!m) continue;
        if (!m->err && m->partition >= 0 && m->partition < np &&
            parts[m->partition].oldest_ts_ms < 0) {
            int64_t ts = rd_kafka_message_timestamp(m, NULL);
            parts[m->partition].oldest_ts_ms = ts >= 0 ? ts : 0;
            missing--;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(l->reader, NULL);
    for (int i = 0; i < want->cnt; i++) {
        int32_t p = want->elems[i].partition;
        struct lag_ts *seen;
        if (parts[p].oldest_ts_ms >= 0 && (seen = lag_tab_get(&l->tsc, topic, p, 1))) {
            seen->pos = want->elems[i].offset;
            seen->ts = parts[p].oldest_ts_ms;
        }
    }
done:
    if (md && !l->sweeping) rd_kafka_metadata_destroy(md);
    if (tl) rd_kafka_topic_partition_list_destroy(tl);
    if (want) rd_kafka_topic_partition_list_destroy(want);
    return rc;
}

void pb_kafka_lag_destroy(pb_kafka_lag_t *l) {
    if (!l) return;
    sweep_md(l, NULL);
    lag_tab_clear(&l->tsc);
    lag_tab_clear(&l->wm);
    for (size_t i = 0; i < l->n_groups; i++) {
        rd_kafka_destroy(l->groups[i].rk);
        free(l->groups[i].group);
    }
    free(l->groups);
    if (l->reader) {
        rd_kafka_consumer_close(l->reader);
        rd_kafka_destroy(l->reader);
    }
    free(l);
}
