/*
 * commitq.c -- group commit through a committer thread (commitq.h).
 *
 * The loop thread and the committer share two lists under one mutex: the
 * queued jobs and the finished ones.  A job is one commit call of one
 * request (its sets), owned by the coroutine that waits for it on its
 * stack.  The committer takes every queued job (at most CQ_BATCH_MAX
 * sets), makes one inner commit of all their sets, moves the jobs to the
 * finished list and writes the eventfd; the loop's event on it resumes
 * each job's coroutine.  No request code ever runs on the committer: it
 * calls nothing but the inner store's commit (not the metrics wrapper,
 * whose tables are the loop's).
 */
#include "commitq.h"

#include "coro.h"
#include "log.h"
#include "metrics.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define CQ_BATCH_MAX 256 /* sets in one transaction: keeps it short */

typedef struct cq_job {
    const store_wset *sets;
    size_t n;
    store_wres *res;
    ams_status st;
    coro *co;
    int done;
    struct cq_job *next;
} cq_job;

typedef struct commitq {
    store base; /* first: a commitq * is a store * */
    store *in;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    cq_job *queued, **queued_tail; /* FIFO */
    cq_job *finished;
    int stopping;
    int efd;
    struct event *ev;
} commitq;

/* This process's, written by committers, read by the loop: atomics. */
static uint64_t batches, sets_committed;

#define IN(s) (((commitq *)(s))->in)

/* ---- the committer thread ---- */

/* Take queued jobs, at most CQ_BATCH_MAX sets in all (a job bigger than
 * that goes alone).  Called with mu held. */
static cq_job *take_batch(commitq *q, size_t *nsets)
{
    cq_job *first = q->queued, *last = NULL, *j;
    size_t n = 0;

    for (j = q->queued; j != NULL; last = j, j = j->next) {
        if (n > 0 && n + j->n > CQ_BATCH_MAX)
            break;
        n += j->n;
    }
    if (last == NULL)
        return NULL;
    q->queued = last->next;
    if (q->queued == NULL)
        q->queued_tail = &q->queued;
    last->next = NULL;
    *nsets = n;
    return first;
}

/* One inner commit for the sets of every job of batch. */
static void commit_batch(commitq *q, cq_job *batch, size_t n)
{
    store_wset *sets = malloc(n * sizeof *sets);
    store_wres *res = malloc(n * sizeof *res);
    ams_status st = AMS_ERR_NOMEM;
    size_t k = 0;

    if (sets != NULL && res != NULL) {
        for (cq_job *j = batch; j != NULL; j = j->next)
            for (size_t i = 0; i < j->n; i++)
                sets[k++] = j->sets[i];
        memset(res, 0, n * sizeof *res);
        st = store_commit(q->in, sets, n, res);
    }
    k = 0;
    for (cq_job *j = batch; j != NULL; j = j->next) {
        j->st = st;
        for (size_t i = 0; i < j->n; i++, k++) {
            if (sets != NULL && res != NULL) {
                j->res[i] = res[k];
            } else {
                memset(&j->res[i], 0, sizeof j->res[i]);
                j->res[i].st = AMS_ERR_NOMEM;
            }
        }
    }
    free(sets);
    free(res);
}

static void *committer(void *arg)
{
    commitq *q = arg;

    pthread_mutex_lock(&q->mu);
    for (;;) {
        cq_job *batch, *j;
        size_t n = 0;
        uint64_t one = 1;

        while (q->queued == NULL && !q->stopping)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->queued == NULL)
            break; /* stopping, and nothing left to commit */
        batch = take_batch(q, &n);
        pthread_mutex_unlock(&q->mu);
        commit_batch(q, batch, n);
        pthread_mutex_lock(&q->mu);
        __atomic_add_fetch(&batches, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&sets_committed, n, __ATOMIC_RELAXED);
        for (j = batch; j->next != NULL; j = j->next)
            ;
        j->next = q->finished;
        q->finished = batch;
        /* A full eventfd counter cannot happen: the loop drains it. */
        if (write(q->efd, &one, sizeof one) < 0 && errno != EAGAIN)
            log_error("commit: cannot wake the loop: %s", strerror(errno));
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* ---- the loop side ---- */

static void on_finished(evutil_socket_t fd, short what, void *arg)
{
    commitq *q = arg;
    uint64_t count;
    cq_job *j, *next;

    (void)what;
    if (read(fd, &count, sizeof count) < 0 && errno != EAGAIN)
        return;
    pthread_mutex_lock(&q->mu);
    j = q->finished;
    q->finished = NULL;
    pthread_mutex_unlock(&q->mu);
    {
        static uint64_t seen;
        uint64_t b = __atomic_load_n(&batches, __ATOMIC_RELAXED);
        metrics_count_commit("batch", b - seen);
        seen = b;
    }
    for (; j != NULL; j = next) {
        next = j->next; /* the job lives on the coroutine's stack */
        j->done = 1;
        coro_resume(j->co);
    }
}

static ams_status cq_commit(store *s, const store_wset *sets, size_t n,
                            store_wres *res)
{
    commitq *q = (commitq *)s;
    cq_job job = {sets, n, res, AMS_OK, coro_current(), 0, NULL};

    if (job.co == NULL || n == 0)
        return store_commit(q->in, sets, n, res);
    pthread_mutex_lock(&q->mu);
    *q->queued_tail = &job;
    q->queued_tail = &job.next;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    while (!job.done)
        coro_yield();
    return job.st;
}

/* ---- everything else: straight through ---- */

static ams_status cq_counter_add(store *s, const char *k, int64_t d,
                                 int64_t lo, int64_t hi, int64_t exp,
                                 int64_t now, int64_t *out,
                                 const store_journal *j)
{
    return store_counter_add_j(IN(s), k, d, lo, hi, exp, now, out, j);
}

static ams_status cq_counter_get(store *s, const char *k, int64_t now,
                                 int64_t *out)
{
    return store_counter_get(IN(s), k, now, out);
}

static ams_status cq_lock_acquire(store *s, const char *k, const char *tok,
                                  int64_t exp, int64_t now)
{
    return store_lock_acquire(IN(s), k, tok, exp, now);
}

static ams_status cq_lock_release(store *s, const char *k, const char *tok,
                                  int64_t now)
{
    return store_lock_release(IN(s), k, tok, now);
}

static ams_status cq_lock_get(store *s, const char *k, int64_t now, char **tok)
{
    return store_lock_get(IN(s), k, now, tok);
}

static ams_status cq_tag_set(store *s, const char *k, const char *v,
                             size_t len, int64_t exp, int64_t now)
{
    return store_tag_set(IN(s), k, v, len, exp, now);
}

static ams_status cq_tag_get(store *s, const char *k, int64_t now, char **v,
                             size_t *len)
{
    return store_tag_get(IN(s), k, now, v, len);
}

static ams_status cq_tag_del(store *s, const char *k, int64_t now)
{
    return store_tag_del(IN(s), k, now);
}

static ams_status cq_value_get(store *s, const char *k, int64_t now, char **v,
                               size_t *len, uint64_t *ver)
{
    return store_value_get(IN(s), k, now, v, len, ver);
}

static ams_status cq_value_cas(store *s, const char *k, uint64_t expect,
                               const char *v, size_t len, int64_t exp,
                               int64_t now, uint64_t *ver,
                               const store_journal *j)
{
    return store_value_cas_j(IN(s), k, expect, v, len, exp, now, ver, j);
}

static ams_status cq_journal_close(store *s, const store_journal *j,
                                   int give_back, int64_t now, size_t *undone)
{
    return store_journal_close(IN(s), j, give_back, now, undone);
}

static ams_status cq_board_set(store *s, const char *k, const char *member,
                               int64_t score, int64_t exp, int64_t now)
{
    return store_board_set(IN(s), k, member, score, exp, now);
}

static ams_status cq_board_top(store *s, const char *k, size_t n, int64_t now,
                               store_board_entry **out, size_t *count)
{
    return store_board_top(IN(s), k, n, now, out, count);
}

static ams_status cq_board_rank(store *s, const char *k, const char *member,
                                int64_t now, int64_t *rank, int64_t *score)
{
    return store_board_rank(IN(s), k, member, now, rank, score);
}

static ams_status cq_sweep(store *s, int64_t now, size_t max, size_t *removed)
{
    return store_sweep(IN(s), now, max, removed);
}

static ams_status cq_read_many(store *s, const store_rkey *k, size_t n,
                               int64_t now, store_rval *out)
{
    return store_read_many(IN(s), k, n, now, out);
}

static ams_status cq_list_range(store *s, const char *k, size_t from,
                                size_t max, int64_t now, store_item **out,
                                size_t *count)
{
    return store_list_range(IN(s), k, from, max, now, out, count);
}

/* LMDB has none (store.h): AMS_ERR, as store_read_rate answers. */
static ams_status cq_read_rate(store *s, const store_rkey *k, size_t n,
                               const store_rate *r, size_t nr, int64_t now,
                               store_rval *out, store_rate_res *rout)
{
    return store_read_rate(IN(s), k, n, r, nr, now, out, rout);
}

/* Stop the committer once it has committed everything queued (a worker
 * closes its store after its last request finished), then close. */
static void cq_close(store *s)
{
    commitq *q = (commitq *)s;

    pthread_mutex_lock(&q->mu);
    q->stopping = 1;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL);
    event_free(q->ev);
    close(q->efd);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    store_close(q->in);
    free(q);
}

_Static_assert(sizeof(store_ops) == 21 * sizeof(void *),
               "store_ops changed: pass the new operation through in "
               "commitq.c");

static const store_ops cq_ops = {
    .name = "commitq",
    .counter_add = cq_counter_add,
    .counter_get = cq_counter_get,
    .lock_acquire = cq_lock_acquire,
    .lock_release = cq_lock_release,
    .lock_get = cq_lock_get,
    .tag_set = cq_tag_set,
    .tag_get = cq_tag_get,
    .tag_del = cq_tag_del,
    .value_get = cq_value_get,
    .value_cas = cq_value_cas,
    .journal_close = cq_journal_close,
    .board_set = cq_board_set,
    .board_top = cq_board_top,
    .board_rank = cq_board_rank,
    .sweep = cq_sweep,
    .close = cq_close,
    .commit = cq_commit,
    .read_many = cq_read_many,
    .list_range = cq_list_range,
    .read_rate = cq_read_rate,
};

store *commitq_wrap(store *inner, struct event_base *base)
{
    commitq *q;

    if (inner == NULL || base == NULL || (q = calloc(1, sizeof *q)) == NULL)
        return inner;
    q->base.ops = &cq_ops;
    q->in = inner;
    q->queued_tail = &q->queued;
    q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->efd < 0)
        goto fail;
    q->ev = event_new(base, q->efd, EV_READ | EV_PERSIST, on_finished, q);
    if (q->ev == NULL || event_add(q->ev, NULL) < 0)
        goto fail;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    if (pthread_create(&q->thread, NULL, committer, q) != 0) {
        pthread_cond_destroy(&q->cv);
        pthread_mutex_destroy(&q->mu);
        goto fail;
    }
    return &q->base;
fail:
    log_warn("commit: no committer thread (%s): commits stay inline",
             strerror(errno));
    if (q->ev != NULL)
        event_free(q->ev);
    if (q->efd >= 0)
        close(q->efd);
    free(q);
    return inner;
}

void commitq_stats(uint64_t *b, uint64_t *s)
{
    *b = __atomic_load_n(&batches, __ATOMIC_RELAXED);
    *s = __atomic_load_n(&sets_committed, __ATOMIC_RELAXED);
}
