/*
 * metrics_scrape.c -- one GET /metrics (see metrics_scrape.h).
 *
 * A worker's series may take several control messages (pages, see
 * answer_stats): the first question goes to every worker, the next ones
 * name by pid the workers with pages left and where to go on.  A
 * worker's pages are summed on their own and count only once the last
 * one came, so a worker that dies or runs out of time in the middle
 * never contributes half its counters.
 *
 * Keeping the sums monotonic.  A worker's counters die with it; if the
 * total simply dropped by that much, Prometheus would take the drop for a
 * reset of the whole series and count the surviving workers' totals as
 * new increments.  So the master remembers, per worker slot, the last
 * complete table of the process in it: a worker that does not answer in
 * time is summed with what it said last, and a worker that is gone has
 * its last table folded into `retired`, which every later sum includes.
 * What a dead worker counted after its last scrape is lost; nothing is
 * counted twice, and the totals only move back when the master restarts.
 */
#include "metrics_scrape.h"

#include "ask.h"
#include "http.h"
#include "log.h"
#include "metrics_text.h"
#include "supervise.h"
#include "clock.h"
#include "httpguard.h"
#include "mstate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Distinct series a sum holds at most: every worker's cap, and the
 * workers mostly share their label sets. */
#define SUM_SERIES_MAX (4 * METRICS_SERIES_MAX)
#define ROUNDS_MAX 64

/* The master's memory of each worker slot (one master per process). */
typedef struct slot_memory {
    pid_t pid;          /* the process last heard from, or 0 */
    metrics_table last; /* its series at its last complete answer */
    uint64_t dropped;   /* the series it said it dropped */
} slot_memory;

static slot_memory *slots;
static int nslots;
static metrics_table retired = {.max = SUM_SERIES_MAX};
static uint64_t retired_dropped;

typedef struct scrape {
    struct evhttp_request *req;
    metrics_table *partial; /* per worker slot: pages so far */
    uint64_t *dropped;      /* per worker slot, from its first page */
    int nworkers;
    cJSON *from;  /* {"pid": next} still to ask */
    int complete; /* workers whose every page arrived */
    int64_t deadline_ms;
    int rounds;
} scrape;

static void scrape_free(scrape *sc)
{
    for (int i = 0; sc->partial != NULL && i < sc->nworkers; i++)
        metrics_table_free(&sc->partial[i]);
    free(sc->partial);
    free(sc->dropped);
    cJSON_Delete(sc->from);
    free(sc);
}

/* The process in slot i is gone: what it said last stays in the sums. */
static void retire(int i)
{
    metrics_table_add(&retired, &slots[i].last);
    metrics_table_free(&slots[i].last);
    retired_dropped += slots[i].dropped;
    slots[i].dropped = 0;
    slots[i].pid = 0;
}

/* Slot i's process pid answered completely with part (taken over). */
static void remember(int i, pid_t pid, metrics_table *part, uint64_t dropped)
{
    if (slots[i].pid != 0 && slots[i].pid != pid)
        retire(i);
    metrics_table_free(&slots[i].last);
    slots[i].last = *part;
    slots[i].pid = pid;
    slots[i].dropped = dropped;
    metrics_table_init(part, METRICS_SERIES_MAX);
}

/* The admin plane's guard is the master's own: its counts join the
 * workers' in amsd_connections_closed_total as plane "admin". */
static void admin_conn_series(metrics_table *sum, const master *m)
{
    static const char *const events[] = {"header_timeout", "body_timeout",
                                         "refused",        "bad_headers",
                                         "accept_error",   "early_refused"};
    httpguard_stats st;
    uint64_t vals[6];

    if (m->admin_guard == NULL)
        return;
    httpguard_get_stats(m->admin_guard, &st);
    vals[0] = st.header_timeouts;
    vals[1] = st.body_timeouts;
    vals[2] = st.refused;
    vals[3] = st.bad_headers;
    vals[4] = st.accept_errors;
    vals[5] = st.early_refused;
    for (size_t i = 0; i < 6; i++) {
        const char *labels[2] = {"admin", events[i]};
        metrics_series *s;

        if (vals[i] > 0 &&
            (s = metrics_table_get(sum, MF_CONN, labels)) != NULL)
            s->v[0] = vals[i];
    }
}

static void finish(master *m, scrape *sc)
{
    metrics_table sum;
    metrics_master mm = {
        .generation = m->generation,
        .reloads_ok = m->reloads_ok,
        .reloads_failed = m->reloads_failed,
        .worker_restarts = m->restarts,
        .workers_ready = supervise_ready(m),
        .workers_total = m->n,
        .workers_missing = m->n > sc->complete ? m->n - sc->complete : 0,
        .series_dropped = retired_dropped + retired.dropped,
    };
    size_t len = 0;
    char *text;

    metrics_table_init(&sum, SUM_SERIES_MAX);
    for (int i = 0; i < nslots; i++) {
        if (slots[i].pid != 0 && m->w[i].pid != slots[i].pid)
            retire(i);
        metrics_table_add(&sum, &slots[i].last);
        mm.series_dropped += slots[i].dropped;
    }
    metrics_table_add(&sum, &retired);
    admin_conn_series(&sum, m);
    mm.series_dropped += sum.dropped;
    text = metrics_text_write(&sum, &mm, &len);
    log_debug("metrics: %d of %d worker(s) answered in %d round(s); %zu "
              "series",
              sc->complete, m->n, sc->rounds + 1, sum.n);
    if (text == NULL)
        http_send_error(sc->req, 500, "internal", NULL, "out of memory");
    else
        http_send_raw(sc->req, 200, METRICS_CONTENT_TYPE, text, len);
    free(text);
    metrics_table_free(&sum);
    scrape_free(sc);
}

/* One worker's answer: its page summed into its partial table, which is
 * remembered for the slot with the last page; a worker with pages left
 * is added to next as "pid": where to go on. */
static void take_page(scrape *sc, const cJSON *a, cJSON *next)
{
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(a, "worker");
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(a, "pid");
    const cJSON *series = cJSON_GetObjectItemCaseSensitive(a, "series");
    const cJSON *more = cJSON_GetObjectItemCaseSensitive(a, "next");
    const cJSON *dropped = cJSON_GetObjectItemCaseSensitive(a, "dropped");
    char key[24];
    size_t bad;
    int i;

    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "skip")))
        return;
    if (!cJSON_IsNumber(w) || !cJSON_IsNumber(pid) || pid->valueint <= 0 ||
        !cJSON_IsArray(series) || w->valueint < 0 ||
        w->valueint >= sc->nworkers) {
        log_warn("metrics: a worker's answer is malformed; left out");
        return;
    }
    i = w->valueint;
    bad = metrics_merge(&sc->partial[i], series);
    if (bad > 0)
        log_warn("metrics: worker %d: %zu malformed series left out", i, bad);
    if (cJSON_IsNumber(dropped))
        sc->dropped[i] = (uint64_t)dropped->valuedouble;
    if (cJSON_IsNumber(more)) {
        snprintf(key, sizeof key, "%d", pid->valueint);
        cJSON_AddNumberToObject(next, key, more->valuedouble);
        return;
    }
    remember(i, (pid_t)pid->valueint, &sc->partial[i], sc->dropped[i]);
    sc->complete++;
}

static void on_answers(master *m, void *arg, const cJSON *answers, int missing)
{
    scrape *sc = arg;
    cJSON *next = cJSON_CreateObject(), *q;
    const cJSON *a;
    int64_t left;

    (void)missing; /* counted as workers_total - complete */
    if (next == NULL) {
        finish(m, sc);
        return;
    }
    cJSON_ArrayForEach(a, answers) take_page(sc, a, next);
    cJSON_Delete(sc->from);
    sc->from = next;
    left = sc->deadline_ms - clock_mono_ms();
    if (next->child == NULL || left <= 0 || ++sc->rounds >= ROUNDS_MAX) {
        if (next->child != NULL)
            log_warn("metrics: some workers' series did not all arrive "
                     "in time; their last complete answer is used");
        finish(m, sc);
        return;
    }
    q = cJSON_CreateObject();
    if (q == NULL || !cJSON_AddStringToObject(q, "type", "stats") ||
        !cJSON_AddItemReferenceToObject(q, "from", sc->from) ||
        ask_all(m, q, left, on_answers, sc) < 0)
        finish(m, sc);
    cJSON_Delete(q);
}

static scrape *scrape_new(master *m, struct evhttp_request *req)
{
    scrape *sc;

    if (slots == NULL) {
        if ((slots = calloc((size_t)m->n, sizeof *slots)) == NULL)
            return NULL;
        nslots = m->n;
        for (int i = 0; i < nslots; i++)
            metrics_table_init(&slots[i].last, METRICS_SERIES_MAX);
    }
    if ((sc = calloc(1, sizeof *sc)) == NULL)
        return NULL;
    sc->req = req;
    sc->nworkers = nslots < m->n ? nslots : m->n;
    sc->partial = calloc((size_t)sc->nworkers, sizeof *sc->partial);
    sc->dropped = calloc((size_t)sc->nworkers, sizeof *sc->dropped);
    if (sc->partial == NULL || sc->dropped == NULL) {
        scrape_free(sc);
        return NULL;
    }
    for (int i = 0; i < sc->nworkers; i++)
        metrics_table_init(&sc->partial[i], METRICS_SERIES_MAX);
    sc->deadline_ms = clock_mono_ms() + METRICS_SCRAPE_TIMEOUT_MS;
    return sc;
}

void metrics_scrape_route(struct evhttp_request *req, master *m, int64_t id)
{
    scrape *sc = m->n > 0 ? scrape_new(m, req) : NULL;
    cJSON *q = cJSON_CreateObject();

    (void)id;
    if (sc == NULL || q == NULL ||
        !cJSON_AddStringToObject(q, "type", "stats") ||
        ask_all(m, q, METRICS_SCRAPE_TIMEOUT_MS, on_answers, sc) < 0) {
        if (sc != NULL)
            scrape_free(sc);
        http_send_error(req, 500, "internal", NULL, "out of memory");
    }
    cJSON_Delete(q);
}
