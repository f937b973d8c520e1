/*
 * worker.c -- a worker process.
 *
 * It opens the store and builds its generation itself, after fork: LMDB
 * handles and dlopen'd plugins must not cross a fork, and a plugin that
 * crashes while loading takes down only this process.
 */
#include "worker.h"

#include "answers.h"
#include "blacklist.h"
#include "commitq.h"
#include "ctl.h"
#include "gateway.h"
#include "gen.h"
#include "httpguard.h"
#include "log.h"
#include "metrics.h"
#include "plugin.h"
#include "ratelimit.h"
#include "services.h"
#include "soldout.h"
#include "store.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

typedef struct worker {
    conf *c;
    int index;
    int ctl_fd;
    struct event_base *base;
    /* One server per listener, so that a request knows its listener's
     * settings (gateway_port), each with its guard (deadlines, connection
     * cap, accept back-off: httpguard.h). */
    struct evhttp *http[LIS_MAX];
    struct evhttp_bound_socket *bound[LIS_MAX];
    httpguard *guard[LIS_MAX];
    gateway_port ports[LIS_MAX];
    int nhttp;
    struct event *ctl_ev, *term_ev, *int_ev, *sweep_ev, *stop_timer;
    struct event *orphan_ev;
    int orphan_task; /* release_orphans is running */
    gateway gw;
    gen *prepared; /* built by prepare, waiting for commit */
    cJSON *prepared_settings;
    /* A prepare being built, a slice per loop turn (on_build). */
    gen_builder *building;
    errs build_errs;      /* the builder's problems */
    uint64_t build_n;     /* the generation it builds */
    cJSON *build_enabled; /* the prepare's enable/disable overrides */
    struct event *build_ev;
    struct event *reap_ev; /* releases old generations in slices */
    int stopping;
    /* The blacklist journal poll, and whether its read is running. */
    struct event *bl_ev;
    int bl_task;
} worker;

static void send_simple(worker *w, const char *type, const char *key,
                        const char *val, double num)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "type", type);
    if (key != NULL && val != NULL)
        cJSON_AddStringToObject(m, key, val);
    else if (key != NULL)
        cJSON_AddNumberToObject(m, key, num);
    if (ctl_send(w->ctl_fd, m) < 0)
        log_warn("control channel: send %s: %s", type, strerror(errno));
    cJSON_Delete(m);
}

/* Every reply has been written out and every request's coroutine has
 * returned (gateway.h: busy, running), so the loop can end now and
 * teardown() can free the coroutine pool. */
static void finish_stop(worker *w)
{
    event_base_loopbreak(w->base);
}

static void on_idle(void *ud)
{
    worker *w = ud;
    if (w->stopping)
        finish_stop(w);
}

static void on_stop_timeout(evutil_socket_t fd, short what, void *arg)
{
    worker *w = arg;

    (void)fd;
    (void)what;
    /* Suspended requests still own their coroutine stacks and generation:
     * tearing down under them would be unsafe, so leave at once. */
    log_warn("shutdown timeout: abandoning %zu request(s), %zu coroutine(s)",
             w->gw.busy, w->gw.running);
    _exit(1);
}

/* Stop accepting, let every started request finish, then leave the loop
 * (or leave it at the shutdown timeout, whichever comes first). */
static void begin_stop(worker *w)
{
    struct timeval tv;

    if (w->stopping)
        return;
    w->stopping = 1;
    log_info("stopping: %zu request(s) in flight", w->gw.busy);
    for (int i = 0; i < w->nhttp; i++)
        if (w->bound[i] != NULL) {
            httpguard_unbind(w->guard[i]);
            evhttp_del_accept_socket(w->http[i], w->bound[i]);
            w->bound[i] = NULL;
        }
    if (w->gw.busy == 0 && w->gw.running == 0) {
        finish_stop(w);
        return;
    }
    tv.tv_sec = (time_t)(w->c->shutdown_timeout_ms / 1000);
    tv.tv_usec = (suseconds_t)(w->c->shutdown_timeout_ms % 1000) * 1000;
    w->stop_timer = evtimer_new(w->base, on_stop_timeout, w);
    if (w->stop_timer != NULL)
        evtimer_add(w->stop_timer, &tv);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    log_debug("signal %d", (int)sig);
    begin_stop(arg);
}

static void reply_gen(worker *w, const char *type, uint64_t n,
                      const char *errors)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "type", type);
    cJSON_AddNumberToObject(m, "generation", (double)n);
    if (errors != NULL)
        cJSON_AddStringToObject(m, "errors", errors);
    if (ctl_send(w->ctl_fd, m) < 0)
        log_warn("control channel: send %s: %s", type, strerror(errno));
    cJSON_Delete(m);
}

static uint64_t msg_generation(const cJSON *msg)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(msg, "generation");
    return cJSON_IsNumber(v) ? (uint64_t)v->valuedouble : 0;
}

/* Drop what a prepare built or is building (an abort, a newer prepare,
 * the end). */
static void drop_prepared(worker *w)
{
    gen_unref(w->prepared);
    w->prepared = NULL;
    cJSON_Delete(w->prepared_settings);
    w->prepared_settings = NULL;
    gen_builder_free(w->building);
    w->building = NULL;
    errs_free(&w->build_errs);
    cJSON_Delete(w->build_enabled);
    w->build_enabled = NULL;
    if (w->build_ev != NULL)
        event_del(w->build_ev);
}

/* The methods of g against the listeners (listeners.h: a method that
 * needs a login must not be anonymous): of the settings s (a prepare's),
 * or with s NULL of those in force.  -1 when any is wrong. */
static int check_methods(worker *w, const cJSON *s, const gen *g, errs *e)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(s, "jwt");
    const cJSON *gw = cJSON_GetObjectItemCaseSensitive(s, "gateway_auth");
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(gw, "secret");
    lis_set ls = {0};
    int rc;

    if (s == NULL || lis_from_json(&ls, cJSON_GetObjectItemCaseSensitive(
                                            s, "listeners")) < 0)
        return lis_check_gen(&w->c->ls, w->c->jwt.n,
                             w->c->gw.secret_len[0] > 0, g, e);
    rc = lis_check_gen(&ls,
                       (size_t)cJSON_GetArraySize(
                           cJSON_GetObjectItemCaseSensitive(j, "keys")),
                       cJSON_IsString(sec) && sec->valuestring[0] != '\0', g,
                       e);
    lis_free(&ls);
    return rc;
}

/* How long one slice of a build may hold the loop: requests that arrive
 * meanwhile wait at most about this long per loop turn. */
#define BUILD_SLICE_US 3000

static void on_build(evutil_socket_t fd, short what, void *arg)
{
    static const struct timeval now = {0, 0};
    worker *w = arg;
    uint64_t n = w->build_n;
    char *text;

    (void)fd;
    (void)what;
    if (w->building == NULL)
        return;
    if (gen_builder_step(w->building, BUILD_SLICE_US)) {
        /* A timer, not event_active: the loop polls the sockets (and
         * runs what is ready) before the next slice. */
        evtimer_add(w->build_ev, &now);
        return;
    }
    w->prepared = gen_builder_finish(w->building);
    w->building = NULL;
    if (w->prepared != NULL &&
        check_methods(w, w->prepared_settings, w->prepared, &w->build_errs) <
            0) {
        gen_unref(w->prepared);
        w->prepared = NULL;
    }
    if (w->prepared == NULL) {
        text = errs_join(&w->build_errs);
        reply_gen(w, "prepare_failed", n, text ? text : "out of memory");
        free(text);
        cJSON_Delete(w->prepared_settings);
        w->prepared_settings = NULL;
    } else {
        gen_apply_enabled(w->prepared, w->build_enabled);
        reply_gen(w, "prepared", n, NULL);
    }
    errs_free(&w->build_errs);
    cJSON_Delete(w->build_enabled);
    w->build_enabled = NULL;
}

/* Phase one: build the next generation beside the current one, a slice
 * of about BUILD_SLICE_US per loop turn, so requests keep being served
 * meanwhile.  It shares with the current generation what did not change
 * (its plugins, when every plugin file is the same, and then every
 * activity file whose digest is the same: gen.h); requests already
 * running keep their generation. */
static void on_prepare(worker *w, const cJSON *msg)
{
    static const struct timeval now = {0, 0};
    uint64_t n = msg_generation(msg);
    const cJSON *pl = cJSON_GetObjectItemCaseSensitive(msg, "plugins");
    const cJSON *ac = cJSON_GetObjectItemCaseSensitive(msg, "activities");
    const cJSON *settings = cJSON_GetObjectItemCaseSensitive(msg, "settings");
    const cJSON *enabled = cJSON_GetObjectItemCaseSensitive(msg, "enabled");

    drop_prepared(w);
    if (!cJSON_IsString(pl) || !cJSON_IsString(ac) || n == 0) {
        reply_gen(w, "prepare_failed", n, "malformed prepare message");
        return;
    }
    if (w->build_ev == NULL)
        w->build_ev = evtimer_new(w->base, on_build, w);
    w->build_n = n;
    w->building =
        gen_builder_new(&svc_gen_host, pl->valuestring, ac->valuestring, n, 1,
                        w->gw.current, &w->build_errs);
    w->build_enabled = enabled ? cJSON_Duplicate(enabled, 1) : NULL;
    w->prepared_settings = settings ? cJSON_Duplicate(settings, 1) : NULL;
    if (w->building == NULL || w->build_ev == NULL) {
        drop_prepared(w);
        reply_gen(w, "prepare_failed", n, "out of memory");
        return;
    }
    evtimer_add(w->build_ev, &now);
}

/* The http { } limits on server h. */
static void http_limits(worker *w, struct evhttp *h)
{
    struct timeval tv;

    tv.tv_sec = (time_t)(w->c->timeout_ms / 1000);
    tv.tv_usec = (suseconds_t)(w->c->timeout_ms % 1000) * 1000;
    evhttp_set_timeout_tv(h, &tv);
    evhttp_set_max_body_size(h, (ev_ssize_t)w->c->max_body);
    evhttp_set_max_headers_size(h, (ev_ssize_t)w->c->max_headers);
}

static void apply_settings(worker *w, const cJSON *s)
{
    if (s == NULL)
        return;
    conf_apply_reloadable(w->c, s);
    log_level = w->c->log_level;
    svc.idem_ttl_ms = w->c->idempotency_ttl_s * 1000;
    for (int i = 0; i < w->nhttp; i++)
        http_limits(w, w->http[i]);
}

/* A slice of releasing old generations (gen_reap), then the next. */
static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    static const struct timeval now = {0, 0};
    worker *w = arg;

    (void)fd;
    (void)what;
    if (gen_reap(BUILD_SLICE_US))
        evtimer_add(w->reap_ev, &now);
}

/* gen_unref queued a generation to release (gen_defer_release). */
static void schedule_reap(void *arg)
{
    static const struct timeval now = {0, 0};
    worker *w = arg;

    if (!evtimer_pending(w->reap_ev, NULL))
        evtimer_add(w->reap_ev, &now);
}

/* Phase two: swap.  Requests that started on the old generation hold a
 * reference and finish on it; it is released (its plugins unloaded) when
 * the last of them ends, in slices like the build when it is big (a
 * reload that changed a plugin leaves the old one 10,000 activities to
 * destroy and free: 0.2 s in one go). */
static void on_commit(worker *w, const cJSON *msg)
{
    uint64_t n = msg_generation(msg);
    gen *old = w->gw.current;

    if (w->prepared == NULL || w->prepared->number != n) {
        reply_gen(w, "commit_failed", n, "no such prepared generation");
        return;
    }
    if (w->reap_ev == NULL &&
        (w->reap_ev = evtimer_new(w->base, on_reap, w)) != NULL)
        gen_defer_release(schedule_reap, w);
    apply_settings(w, w->prepared_settings);
    w->gw.current = w->prepared;
    soldout_clear();      /* a reload may have raised a stock */
    rl_prefilter_clear(); /* or a rate limit */
    w->prepared = NULL;
    drop_prepared(w);
    log_info("serving generation %llu (%zu activities, %zu plugins)",
             (unsigned long long)n, w->gw.current->nacts,
             w->gw.current->nplugins);
    gen_unref(old);
    reply_gen(w, "committed", n, NULL);
}

/* A question from the master (ask.h): answered from the current
 * generation by the function answers.c names for its type. */
static void on_ask(worker *w, const cJSON *msg)
{
    answer_fn fn = answers_find(ctl_type(msg));
    cJSON *reply = cJSON_CreateObject();

    if (reply == NULL)
        return;
    if (fn == NULL)
        cJSON_AddStringToObject(reply, "error", "unknown question");
    else
        fn(w->gw.current, msg, reply);
    cJSON_AddStringToObject(reply, "type", "answer");
    cJSON_AddItemToObject(
        reply, "ask",
        cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(msg, "ask"), 1));
    if (ctl_send(w->ctl_fd, reply) < 0)
        log_warn("control channel: answer: %s", strerror(errno));
    cJSON_Delete(reply);
}

static void on_ctl(evutil_socket_t fd, short what, void *arg)
{
    worker *w = arg;
    cJSON *msg;
    int r;

    (void)what;
    while ((r = ctl_recv(fd, &msg)) == 1) {
        const char *type = ctl_type(msg);
        if (strcmp(type, "stop") == 0)
            begin_stop(w);
        else if (strcmp(type, "prepare") == 0)
            on_prepare(w, msg);
        else if (strcmp(type, "commit") == 0)
            on_commit(w, msg);
        else if (strcmp(type, "abort") == 0)
            drop_prepared(w);
        else if (cJSON_GetObjectItemCaseSensitive(msg, "ask") != NULL)
            on_ask(w, msg);
        else
            log_warn("control channel: unknown message \"%s\"", type);
        cJSON_Delete(msg);
    }
    if (r == 0) {
        /* The master is gone: nobody supervises us any more. */
        log_warn("master went away; stopping");
        event_del(w->ctl_ev);
        begin_stop(w);
    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
        log_warn("control channel: %s", strerror(errno));
    }
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    size_t removed = 0;

    (void)fd;
    (void)what;
    (void)arg;
    if (svc.st != NULL &&
        store_sweep(svc.st, clock_wall_ms(), 1000, &removed) == AMS_OK &&
        removed > 0)
        log_debug("sweep: removed %zu expired record(s)", removed);
}

/* Locks left by requests that the store cut off (services.c) are
 * released as soon as the store answers again, so the users' retries
 * are not "busy" on another worker or node until the locks expire. */
#define ORPHAN_RETRY_MS 1000

static void release_orphans(void *arg)
{
    worker *w = arg;
    size_t n = svc_release_orphans(clock_wall_ms());

    if (n > 0)
        log_info("released %zu lock(s) left by requests the store cut off", n);
    w->orphan_task = 0;
}

static void on_orphans(evutil_socket_t fd, short what, void *arg)
{
    worker *w = arg;

    (void)fd;
    (void)what;
    if (svc_orphans() == 0 || w->orphan_task || w->stopping)
        return;
    /* Set before: the task may run to its end inside gateway_task (a
     * store that fails at once does not yield). */
    w->orphan_task = 1;
    if (gateway_task(&w->gw, release_orphans, w) != 0)
        w->orphan_task = 0;
}

/* The blacklist journal (blacklist.h), read from where this worker got
 * to: changes made on other nodes apply here within blacklist.poll_ms
 * plus one store round trip.  In a coroutine, so a slow store does not
 * stall the loop. */
static void bl_read(void *arg)
{
    worker *w = arg;

    blacklist_refresh(svc.st, clock_wall_ms());
    w->bl_task = 0;
}

static void on_bl_poll(evutil_socket_t fd, short what, void *arg)
{
    worker *w = arg;

    (void)fd;
    (void)what;
    if (w->bl_task || w->stopping)
        return;
    w->bl_task = 1;
    if (gateway_task(&w->gw, bl_read, w) != 0)
        w->bl_task = 0;
}

/* The worker's loop.  Through evhttp, every request changes its
 * connection's events three times (reading stops while it runs, read and
 * write are watched while the answer goes out, then only read again);
 * with epoll's changelist the changes made in one pass of the loop reach
 * the kernel as one epoll_ctl, two a request instead of four.  The
 * changelist's caveat, descriptors made by dup() registered side by side,
 * does not arise: the worker registers none.  Caller owns the base. */
static struct event_base *worker_base(void)
{
    struct event_config *cfg = event_config_new();
    struct event_base *b = NULL;

    if (cfg != NULL &&
        event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) == 0)
        b = event_base_new_with_config(cfg);
    if (cfg != NULL)
        event_config_free(cfg);
    return b != NULL ? b : event_base_new();
}

static int setup_one(worker *w, int i, int listen_fd)
{
    struct evhttp *h = evhttp_new(w->base);

    if (h == NULL)
        return -1;
    w->http[w->nhttp++] = h;
    http_limits(w, h);
    /* Accept every verb so the gateway can answer 405 with a message. */
    evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
                                      EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                      EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                      EVHTTP_REQ_PATCH);
    w->ports[i] = (gateway_port){&w->gw, (size_t)i};
    evhttp_set_gencb(h, gateway_handle, &w->ports[i]);
    w->bound[i] = evhttp_accept_socket_with_handle(h, listen_fd);
    if (w->bound[i] != NULL)
        w->guard[i] =
            httpguard_new(w->base, h, w->bound[i], &w->c->conn, "data plane");
    return w->bound[i] && w->guard[i] ? 0 : -1;
}

static int setup_http(worker *w, const int *fds, int n)
{
    if (n < 1 || n > LIS_MAX || (size_t)n != w->c->ls.n)
        return -1;
    httpguard_set_counter(metrics_count_conn); /* amsd_connections_... */
    for (int i = 0; i < n; i++)
        if (setup_one(w, i, fds[i]) < 0)
            return -1;
    return 0;
}

static struct event *add_timer(worker *w, int64_t ms, event_callback_fn cb)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    struct event *ev = event_new(w->base, -1, EV_PERSIST, cb, w);
    if (ev != NULL)
        event_add(ev, &tv);
    return ev;
}

static void teardown(worker *w)
{
    struct event *evs[] = {w->ctl_ev,   w->term_ev,    w->int_ev,
                           w->sweep_ev, w->stop_timer, w->orphan_ev};
    sigset_t stop;

    /* From here the worker only leaves, and a stop signal that comes now
     * (one sent to the whole process group after the master's stop
     * message, the parent-death SIGTERM, a second stop) must not kill it
     * halfway through teardown or through the exit-time checks after it
     * (a sanitizer build's leak check runs at exit).  Blocked, not
     * ignored: freeing term_ev and int_ev below puts back the disposition
     * libevent found when they were added, SIG_DFL, over any SIG_IGN; a
     * blocked signal stays pending and dies with the process. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigprocmask(SIG_BLOCK, &stop, NULL);
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i] != NULL)
            event_free(evs[i]);
    if (w->bl_ev != NULL)
        event_free(w->bl_ev);
    /* Freeing the server closes the idle connections, whose close
     * callbacks must not start another stop. */
    w->gw.idle_cb = NULL;
    for (int i = 0; i < w->nhttp; i++)
        evhttp_free(w->http[i]);
    /* After: the connections' close callbacks. */
    for (int i = 0; i < w->nhttp; i++)
        httpguard_free(w->guard[i]);
    drop_prepared(w);
    if (w->build_ev != NULL)
        event_free(w->build_ev);
    gen_unref(w->gw.current);
    /* Whatever waits to be released goes now, before the store and the
     * loop it may use. */
    gen_defer_release(NULL, NULL);
    if (w->reap_ev != NULL)
        event_free(w->reap_ev);
    if (w->gw.pool != NULL)
        coro_pool_free(w->gw.pool);
    blacklist_reset();
    store_close(svc.st);
    svc.st = NULL;
    svc.base = NULL;
    if (w->base != NULL)
        event_base_free(w->base);
    close(w->ctl_fd);
}

static int fail(worker *w, const char *what)
{
    log_error("%s", what);
    send_simple(w, "failed", "errors", what, 0);
    teardown(w);
    return 2;
}

int worker_main(conf *c, int index, const int *listen_fds, int nlisten,
                int ctl_fd, const worker_start *ws)
{
    static char role[32];
    worker w;
    errs e = {0};
    char err[512];
    store_options so;

    memset(&w, 0, sizeof w);
    w.c = c;
    w.index = index;
    w.ctl_fd = ctl_fd;
    snprintf(role, sizeof role, "worker %d", index);
    log_role = role;
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    signal(SIGPIPE, SIG_IGN);
    svc_seed(c->random_seed ? (uint64_t)c->random_seed + (uint64_t)index : 0);

    w.base = worker_base();
    w.gw.pool = coro_pool_new((size_t)c->stack_kb * 1024, 256);
    if (w.base == NULL || w.gw.pool == NULL)
        return fail(&w, "out of memory");
    svc.base = w.base;
    svc.idem_ttl_ms = c->idempotency_ttl_s * 1000;
    conf_store_options(c, &so);
    so.base = w.base;
    /* A Redis that is away at start is like one that goes away later:
     * serve, answering store_unavailable, until it is back.  One that
     * refuses (a wrong password or db) still stops the start. */
    so.redis_lazy = 1;
    /* Behind a counter of store failures (metrics_store.c); LMDB's commits
     * through a committer thread, so that requests reaching their commit
     * together share one transaction and one fsync (commitq.h). */
    svc.st = store_open(&so, err, sizeof err);
    if (svc.st != NULL && strncmp(so.uri, "lmdb:", 5) == 0)
        svc.st = commitq_wrap(svc.st, w.base);
    svc.st = metrics_store_wrap(svc.st);
    if (svc.st == NULL)
        return fail(&w, err);
    plugin_set_copy_dir(ws->run_dir);
    w.gw.current = gen_build_at(c, &svc_gen_host, ws->plugins_dir,
                                ws->activities_dir, ws->generation, 1, &e);
    if (w.gw.current == NULL) {
        char *msg = errs_join(&e);
        int rc = fail(&w, msg ? msg : "generation failed to load");
        free(msg);
        errs_free(&e);
        return rc;
    }
    if (check_methods(&w, NULL, w.gw.current, &e) < 0) {
        char *msg = errs_join(&e);
        int rc = fail(&w, msg ? msg : "out of memory");
        free(msg);
        errs_free(&e);
        return rc;
    }
    /* The warnings (auth = "body" on a method...), once per start. */
    for (size_t i = 0; index == 0 && i < e.n; i++)
        log_warn("%s", e.msgs[i]);
    errs_free(&e);
    gen_apply_enabled(w.gw.current, ws->enabled);
    w.gw.c = c;
    w.gw.idle_cb = on_idle;
    w.gw.idle_ud = &w;
    if (setup_http(&w, listen_fds, nlisten) < 0)
        return fail(&w, "cannot serve the listening socket");
    w.ctl_ev = event_new(w.base, ctl_fd, EV_READ | EV_PERSIST, on_ctl, &w);
    w.term_ev = evsignal_new(w.base, SIGTERM, on_signal, &w);
    w.int_ev = evsignal_new(w.base, SIGINT, on_signal, &w);
    if (!w.ctl_ev || !w.term_ev || !w.int_ev || event_add(w.ctl_ev, NULL) ||
        event_add(w.term_ev, NULL) || event_add(w.int_ev, NULL))
        return fail(&w, "cannot set up events");
    w.sweep_ev = add_timer(&w, c->sweep_ms, on_sweep);
    w.orphan_ev = add_timer(&w, ORPHAN_RETRY_MS, on_orphans);
    /* Before serving: a restarted worker never lets through what the
     * blacklist refuses (unless the store cannot be read now). */
    if (blacklist_refresh(svc.st, clock_wall_ms()) != AMS_OK)
        log_warn("blacklist: the store cannot be read now; serving "
                 "without it until it can (retried every %lld ms)",
                 (long long)c->bl_poll_ms);
    w.bl_ev = add_timer(&w, c->bl_poll_ms, on_bl_poll);
    if (getppid() == 1)
        return fail(&w, "master exited during start");

    send_simple(&w, "ready", "generation", NULL, (double)w.gw.current->number);
    log_info("serving generation %llu (%zu activities, %zu plugins)",
             (unsigned long long)w.gw.current->number, w.gw.current->nacts,
             w.gw.current->nplugins);
    event_base_dispatch(w.base);
    log_info("stopped");
    teardown(&w);
    return 0;
}
