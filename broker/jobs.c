/*
 * jobs.c — background workers for slow calls, completions back onto the loop (see jobs.h; the
 * model is Redis src/bio.c: one thread and one list per job type, a mutex and condition variable
 * per type, and a pipe towards the main thread).
 * Must not: call a job's done callback anywhere but on the loop thread (or in pb_jobs_destroy),
 * hold a lock while running work or done, or grow threads with load.
 */
#include "jobs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

struct pb_job {
    pb_job_t *next;
    pb_job_type_t type;
    pb_job_work_t work;
    pb_job_done_t done;
    void *arg;
    int cancelled; /* loop thread only (read by done dispatch on the loop) */
};

typedef struct worker {
    pb_jobs_t *owner;
    pb_job_type_t type;
    pthread_t thread;
    int started;
    pb_job_t *head, *tail; /* queued, guarded by the owner's mu */
    size_t pending;        /* queued + running; loop thread only */
    unsigned long long completed;
    pthread_cond_t cv;
} worker_t;

struct pb_jobs {
    pthread_mutex_t mu;              /* guards every worker's queue, done_*, stop */
    pb_job_t *done_head, *done_tail; /* finished, waiting for the loop */
    int stop;
    int wake[2]; /* workers write a byte; the loop drains it */
    worker_t w[PB_JOB_TYPES];
};

static const char *type_names[PB_JOB_TYPES] = {"probe", "topics", "offsets",
                                               "close", "lag",    "gzip"};

const char *pb_jobs_type_name(pb_job_type_t type) {
    return type < PB_JOB_TYPES ? type_names[type] : "?";
}

static void *worker_main(void *arg) {
    worker_t *w = arg;
    pb_jobs_t *j = w->owner;
    /* Named for top -H, perf and bench/thread_cpu.py ("pb-job-lag"; 15 characters at most). */
    char name[16];
    snprintf(name, sizeof name, "pb-job-%s", type_names[w->type]);
    pthread_setname_np(pthread_self(), name);
    pthread_mutex_lock(&j->mu);
    for (;;) {
        while (!w->head && !j->stop)
            pthread_cond_wait(&w->cv, &j->mu);
        if (!w->head) break; /* stopping with nothing left: every queued job ran */
        pb_job_t *job = w->head;
        w->head = job->next;
        if (!w->head) w->tail = NULL;
        pthread_mutex_unlock(&j->mu);
        job->work(job->arg);
        pthread_mutex_lock(&j->mu);
        job->next = NULL;
        if (j->done_tail)
            j->done_tail->next = job;
        else
            j->done_head = job;
        j->done_tail = job;
        /* One byte per job; a full pipe already wakes the loop, which takes the whole list. */
        ssize_t n = write(j->wake[1], "j", 1);
        (void)n;
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

/* Call done for every finished job, in completion order. */
static void dispatch(pb_jobs_t *j, int force_cancel) {
    pthread_mutex_lock(&j->mu);
    pb_job_t *list = j->done_head;
    j->done_head = j->done_tail = NULL;
    pthread_mutex_unlock(&j->mu);
    while (list) {
        pb_job_t *job = list;
        list = job->next;
        worker_t *w = &j->w[job->type];
        w->pending--;
        w->completed++;
        if (job->done) job->done(job->arg, job->cancelled || force_cancel);
        free(job);
    }
}

static void on_wake(void *arg) {
    pb_jobs_t *j = arg;
    char drain[256];
    while (read(j->wake[0], drain, sizeof drain) > 0) {
    }
    dispatch(j, 0);
}

pb_jobs_t *pb_jobs_new(pb_loop_t *loop, pb_err_t *err) {
    pb_jobs_t *j = calloc(1, sizeof *j);
    if (!j) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    j->wake[0] = j->wake[1] = -1;
    pthread_mutex_init(&j->mu, NULL);
    for (int t = 0; t < PB_JOB_TYPES; t++) {
        j->w[t].owner = j;
        j->w[t].type = (pb_job_type_t)t;
        pthread_cond_init(&j->w[t].cv, NULL);
    }
    if (pipe2(j->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        pb_err_set(err, PB_ERR_INTERNAL, "jobs: wake-up pipe: %s", strerror(errno));
        goto fail;
    }
    if (pb_loop_watch_fd(loop, j->wake[0], on_wake, j, err)) goto fail;
    for (int t = 0; t < PB_JOB_TYPES; t++) {
        int e = pthread_create(&j->w[t].thread, NULL, worker_main, &j->w[t]);
        if (e) {
            pb_err_set(err, PB_ERR_INTERNAL, "jobs: cannot start the %s worker thread: %s",
                       type_names[t], strerror(e));
            goto fail;
        }
        j->w[t].started = 1;
    }
    return j;
fail:
    pb_jobs_destroy(j);
    return NULL;
}

pb_job_t *pb_jobs_submit(pb_jobs_t *j, pb_job_type_t type, pb_job_work_t work, pb_job_done_t done,
                         void *arg) {
    PB_ASSERT(type < PB_JOB_TYPES && work);
    pb_job_t *job = calloc(1, sizeof *job);
    if (!job) return NULL;
    *job = (pb_job_t){.type = type, .work = work, .done = done, .arg = arg};
    worker_t *w = &j->w[type];
    pthread_mutex_lock(&j->mu);
    if (j->stop) {
        pthread_mutex_unlock(&j->mu);
        free(job);
        return NULL;
    }
    if (w->tail)
        w->tail->next = job;
    else
        w->head = job;
    w->tail = job;
    w->pending++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&j->mu);
    return job;
}

void pb_jobs_cancel(pb_job_t *job) {
    if (job) job->cancelled = 1;
}

size_t pb_jobs_pending(const pb_jobs_t *j, pb_job_type_t type) {
    return type < PB_JOB_TYPES ? j->w[type].pending : 0;
}

unsigned long long pb_jobs_completed(const pb_jobs_t *j, pb_job_type_t type) {
    return type < PB_JOB_TYPES ? j->w[type].completed : 0;
}

void pb_jobs_destroy(pb_jobs_t *j) {
    if (!j) return;
    size_t left = 0;
    pthread_mutex_lock(&j->mu);
    j->stop = 1;
    for (int t = 0; t < PB_JOB_TYPES; t++) {
        left += j->w[t].pending;
        pthread_cond_signal(&j->w[t].cv);
    }
    pthread_mutex_unlock(&j->mu);
    if (left) pb_log(INFO, "jobs", "shutdown: finishing %zu background Kafka job(s)", left);
    for (int t = 0; t < PB_JOB_TYPES; t++)
        if (j->w[t].started) pthread_join(j->w[t].thread, NULL);
    dispatch(j, 1);
    for (int t = 0; t < PB_JOB_TYPES; t++)
        pthread_cond_destroy(&j->w[t].cv);
    pthread_mutex_destroy(&j->mu);
    if (j->wake[0] >= 0) close(j->wake[0]);
    if (j->wake[1] >= 0) close(j->wake[1]);
    free(j);
}
