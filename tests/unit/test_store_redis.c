/*
 * test_store_redis.c -- what only the redis:// backend has: URI and
 * connection errors, a server that lost its scripts (SCRIPT FLUSH, a
 * restart), a server that stops, hangs or restarts under an open handle
 * (calls fail with AMS_ERR_STORE within the timeout, then the same handle
 * reconnects by itself).  The store semantics are the store suite's
 * (test_store.c and test_store_*.c), run against Redis by
 * run_store_redis.py.
 *
 * And the asynchronous path (a store opened with an event loop, called
 * from coroutines as amsd's workers do): calls yield instead of blocking
 * the loop, many are pipelined over one connection, and every fault
 * above ends all waiting calls at once with AMS_ERR_STORE.
 *
 * This test runs its own redis-server (AMS_TEST_REDIS_SERVER, default
 * "redis-server" on PATH) on a free loopback port, in a temporary
 * directory under AMS_TEST_TMP, so it can stop and restart it.
 */
#include "coro.h"
#include "fixture.h"
#include "store.h"
#include "tap.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define T 1000000LL
#define TIMEOUT_MS 300

static char tmpdir[PATH_MAX];
static int port;
static pid_t server = -1;

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A raw hiredis connection to our server; NULL when it does not answer. */
static redisContext *raw(void)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);

    if (c != NULL && c->err) {
        redisFree(c);
        c = NULL;
    }
    return c;
}

/* Run a command on a raw connection; 1 when it answered
 * anything but an error. */
static int raw_cmd(const char *cmd)
{
    redisContext *c = raw();
    redisReply *r = c ? redisCommand(c, cmd) : NULL;
    int done = r != NULL && r->type != REDIS_REPLY_ERROR;

    if (r != NULL)
        freeReplyObject(r);
    if (c != NULL)
        redisFree(c);
    return done;
}

/* Start the server on port; 0 once it answers PING. */
static int start_server(void)
{
    const char *bin = getenv("AMS_TEST_REDIS_SERVER");
    char p[16];

    if (bin == NULL || *bin == '\0')
        bin = "redis-server";
    snprintf(p, sizeof p, "%d", port);
    fflush(stdout);
    server = fork();
    if (server == 0) {
        char log[PATH_MAX + 16];
        FILE *f;

        snprintf(log, sizeof log, "%s/redis.log", tmpdir);
        f = freopen(log, "a", stdout);
        (void)f;
        dup2(STDOUT_FILENO, STDERR_FILENO);
        execlp(bin, bin, "--port", p, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--daemonize", "no", "--dir", tmpdir,
               (char *)NULL);
        _exit(127);
    }
    if (server < 0)
        return -1;
    for (int i = 0; i < 250; i++) {
        int status;
        if (raw_cmd("PING"))
            return 0;
        if (waitpid(server, &status, WNOHANG) == server) {
            server = -1;
            return -1;
        }
        usleep(20000);
    }
    return -1;
}

/* SIGSTOP the server and wait until it is stopped: kill() returns
 * before the signal takes effect, and a server still running for a
 * moment would answer calls meant to hang. */
static void freeze_server(void)
{
    char path[64], st[256];

    kill(server, SIGSTOP);
    snprintf(path, sizeof path, "/proc/%d/stat", (int)server);
    for (int i = 0; i < 500; i++) {
        FILE *f = fopen(path, "r");
        char *paren;
        size_t n = f ? fread(st, 1, sizeof st - 1, f) : 0;

        if (f != NULL)
            fclose(f);
        st[n] = '\0';
        /* "PID (comm) STATE ...": the state follows the last ')'. */
        paren = strrchr(st, ')');
        if (paren != NULL && paren[1] == ' ' && paren[2] == 'T')
            return;
        usleep(2000);
    }
}

static void stop_server(void)
{
    if (server <= 0)
        return;
    /* SIGKILL ends a stopped process too; a SIGCONT first would let a
     * frozen server answer what it was sent before it dies. */
    kill(server, SIGKILL);
    waitpid(server, NULL, 0);
    server = -1;
}

static store *open_uri(const char *u, char *err, size_t errlen)
{
    store_options o = {.uri = u, .redis_timeout_ms = TIMEOUT_MS};

    err[0] = '\0';
    return store_open(&o, err, errlen);
}

static void test_open_errors(void)
{
    static const struct {
        const char *uri, *want;
    } bad[] = {
        {"redis://", "no host"},
        {"redis://:6379", "no host"},
        {"redis://127.0.0.1:notaport", "port is not"},
        {"redis://127.0.0.1:70000", "port is not"},
        {"redis://127.0.0.1:6379/x", "database is not"},
        {"redis://[::1", "closing ']'"},
    };
    char u[128], err[512];
    store *s;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = open_uri(bad[i].uri, err, sizeof err);
        ok(s == NULL, "open %s fails", bad[i].uri);
        has_str(err, bad[i].want, "  because: %s", bad[i].want);
        has_str(err, bad[i].uri, "  the message names the URI");
        store_close(s);
    }
    snprintf(u, sizeof u, "redis://127.0.0.1:%d", fx_free_port());
    s = open_uri(u, err, sizeof err);
    ok(s == NULL, "open with nothing listening fails");
    has_str(err, "refused", "  connection refused");
    has_str(err, u, "  the message names the URI");
    printf("# %s\n", err);
    store_close(s);
    snprintf(u, sizeof u, "redis://:sekrit@127.0.0.1:%d/0", port);
    s = open_uri(u, err, sizeof err);
    ok(s == NULL, "open with a password the server does not take fails");
    has_str(err, "AUTH", "  the message says AUTH failed");
    ok(strstr(err, "sekrit") == NULL, "  and does not show the password");
    printf("# %s\n", err);
    store_close(s);
    snprintf(u, sizeof u, "redis://127.0.0.1:%d/99999", port);
    s = open_uri(u, err, sizeof err);
    ok(s == NULL, "open with a database the server does not have fails");
    has_str(err, "SELECT", "  the message says SELECT failed");
    store_close(s);
}

static void test_db(void)
{
    char u0[128], u1[128], err[512];
    store *a, *b;
    char *v = NULL;

    snprintf(u0, sizeof u0, "redis://127.0.0.1:%d/0", port);
    snprintf(u1, sizeof u1, "redis://127.0.0.1:%d/1", port);
    a = open_uri(u0, err, sizeof err);
    b = open_uri(u1, err, sizeof err);
    ok(a != NULL && b != NULL, "open databases 0 and 1");
    if (a == NULL || b == NULL) {
        store_close(a);
        store_close(b);
        return;
    }
    store_tag_set(a, "db.tag", "zero", 4, 0, T);
    is_int(store_tag_get(b, "db.tag", T, &v, NULL), AMS_NOT_FOUND,
           "a tag in db 0 is not in db 1");
    store_tag_set(b, "db.tag", "one", 3, 0, T);
    store_tag_get(a, "db.tag", T, &v, NULL);
    is_str(v, "zero", "and db 1's does not touch db 0's");
    free(v);
    store_close(a);
    store_close(b);
}

static void test_script_flush(store *s)
{
    int64_t v = 0;
    uint64_t ver = 0;
    char *tok = NULL;

    store_counter_add(s, "sf.c", 5, 0, 100, 0, T, NULL);
    ok(raw_cmd("SCRIPT FLUSH"), "SCRIPT FLUSH on the server");
    is_int(store_counter_add(s, "sf.c", 1, 0, 100, 0, T, &v), AMS_OK,
           "the next call reloads the scripts and succeeds");
    is_int(v, 6, "  and did its work once");
    ok(raw_cmd("SCRIPT FLUSH"), "SCRIPT FLUSH again");
    is_int(store_value_cas(s, "sf.v", 0, "x", 1, 0, T, &ver), AMS_OK,
           "value_cas after the flush");
    is_int(store_lock_acquire(s, "sf.l", "me", 0, T), AMS_OK,
           "lock_acquire, another script, works too");
    is_int(store_lock_get(s, "sf.l", T, &tok), AMS_OK, "lock_get");
    is_str(tok, "me", "  the holder");
    free(tok);
}

/* Calls until one answers AMS_OK, for up to ms; the number it took, or
 * -1. */
static int until_ok(store *s, int ms)
{
    int64_t end = mono_ms() + ms;

    for (int n = 1; mono_ms() < end; n++) {
        if (store_tag_set(s, "rc.tag", "back", 4, 0, T) == AMS_OK)
            return n;
        usleep(20000);
    }
    return -1;
}

static void test_restart(store *s)
{
    int64_t t0, v = 0;
    uint64_t before = 0, after = 0;
    char *val = NULL;
    ams_status st;

    store_value_cas(s, "rc.v", 0, "a", 1, 0, T, &before);
    ok(before > 0, "a value before the restart (version %llu)",
       (unsigned long long)before);
    stop_server();
    t0 = mono_ms();
    st = store_counter_add(s, "rc.c", 1, 0, 10, 0, T, NULL);
    is_int(st, AMS_ERR_STORE, "server gone: a call fails with AMS_ERR_STORE");
    ok(mono_ms() - t0 < TIMEOUT_MS + 200, "  within the timeout (%lld ms)",
       (long long)(mono_ms() - t0));
    t0 = mono_ms();
    is_int(store_tag_get(s, "rc.tag", T, &val, NULL), AMS_ERR_STORE,
           "the next call fails too");
    is_int(store_counter_get(s, "rc.c", T, &v), AMS_ERR_STORE,
           "and the next (reconnects are paced)");
    ok(mono_ms() - t0 < TIMEOUT_MS, "  fast (%lld ms)",
       (long long)(mono_ms() - t0));
    ok(start_server() == 0, "start the server again, empty, no scripts");
    ok(until_ok(s, 2000) > 0, "the same handle reconnects and works again");
    is_int(store_counter_add(s, "rc.c", 2, 0, 10, 0, T, &v), AMS_OK,
           "counter_add after the restart");
    is_int(v, 2, "  on the new server");
    is_int(store_value_cas(s, "rc.v", 0, "b", 1, 0, T, &after), AMS_OK,
           "the value is gone with the server's data: created again");
    ok(after > before,
       "  with a version above any handed out before (%llu > %llu)",
       (unsigned long long)after, (unsigned long long)before);
}

static void test_hang(store *s)
{
    int64_t t0, el;
    ams_status st;

    freeze_server();
    t0 = mono_ms();
    st = store_counter_add(s, "hang.c", 1, 0, 10, 0, T, NULL);
    el = mono_ms() - t0;
    is_int(st, AMS_ERR_STORE, "server hung: AMS_ERR_STORE");
    ok(el >= TIMEOUT_MS - 50 && el < TIMEOUT_MS + 300,
       "  after the %d ms timeout (%lld ms)", TIMEOUT_MS, (long long)el);
    kill(server, SIGCONT);
    ok(until_ok(s, 2000) > 0, "server resumed: the handle works again");
}

/* ---- the asynchronous path ---- */

static struct event_base *evb;
static coro_pool *pool;

/* One coroutine's call and what became of it. */
typedef struct job {
    store *s;
    int kind; /* 0: counter_add +1 on "as.c", 1: tag_set */
    ams_status st;
    int64_t v;
    int64_t started, ended;
    int done;
} job;

static int running, most_running;

static void job_run(void *arg)
{
    job *j = arg;

    j->started = mono_ms();
    running++;
    if (running > most_running)
        most_running = running;
    if (j->kind == 0)
        j->st = store_counter_add(j->s, "as.c", 1, 0, 1000000, 0, T, &j->v);
    else
        j->st = store_tag_set(j->s, "as.tag", "x", 1, 0, T);
    running--;
    j->ended = mono_ms();
    j->done = 1;
}

/* Start n jobs as coroutines, then run the loop until all are done or
 * ms passed; the number done. */
static int run_jobs(job *jobs, int n, int ms)
{
    int64_t end = mono_ms() + ms;
    int done = 0;

    most_running = 0;
    for (int i = 0; i < n; i++) {
        coro *c = coro_new(pool, job_run, &jobs[i]);
        if (c != NULL)
            coro_resume(c);
    }
    while (mono_ms() < end) {
        done = 0;
        for (int i = 0; i < n; i++)
            done += jobs[i].done;
        if (done == n)
            break;
        event_base_loop(evb, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        usleep(200);
    }
    return done;
}

static void jobs_init(job *jobs, int n, store *s, int kind)
{
    memset(jobs, 0, sizeof *jobs * (size_t)n);
    for (int i = 0; i < n; i++) {
        jobs[i].s = s;
        jobs[i].kind = kind;
    }
}

static int count_st(const job *jobs, int n, ams_status st)
{
    int k = 0;

    for (int i = 0; i < n; i++)
        k += jobs[i].st == st;
    return k;
}

/* Jobs of the tag kind until one succeeds, for up to ms; 1 when one did. */
static int until_ok_async(store *s, int ms)
{
    int64_t end = mono_ms() + ms;

    while (mono_ms() < end) {
        job j;
        jobs_init(&j, 1, s, 1);
        if (run_jobs(&j, 1, TIMEOUT_MS + 500) == 1 && j.st == AMS_OK)
            return 1;
        usleep(20000);
    }
    return 0;
}

enum { NJOBS = 64 };

static void test_async_pipeline(store *s)
{
    static job jobs[NJOBS];
    char seen[NJOBS + 1] = {0};
    int distinct = 1;

    store_counter_add(s, "as.c", 0, 0, 1000000, 0, T, NULL);
    jobs_init(jobs, NJOBS, s, 0);
    is_int(run_jobs(jobs, NJOBS, 5000), NJOBS,
           "async: %d coroutines' "
           "calls all end",
           NJOBS);
    is_int(count_st(jobs, NJOBS, AMS_OK), NJOBS, "  all AMS_OK");
    is_int(most_running, NJOBS,
           "  all %d were waiting at once: a call "
           "yields, it does not block the loop",
           NJOBS);
    for (int i = 0; i < NJOBS; i++) {
        if (jobs[i].v < 1 || jobs[i].v > NJOBS || seen[jobs[i].v])
            distinct = 0;
        else
            seen[jobs[i].v] = 1;
    }
    ok(distinct,
       "  each add saw its own result, 1..%d: one atomic add "
       "each",
       NJOBS);
    {
        int64_t v = 0;
        store_counter_get(s, "as.c", T, &v);
        is_int(v, NJOBS,
               "  the counter holds %d (read on the blocking "
               "path, outside any coroutine)",
               NJOBS);
    }
}

static int ticks;

static void tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    ticks++;
}

static void test_async_hang(store *s)
{
    static job jobs[16];
    struct timeval every = {0, 20000};
    struct event *t = event_new(evb, -1, EV_PERSIST, tick, NULL);
    int64_t t0, last = 0;

    event_add(t, &every);
    ticks = 0;
    freeze_server();
    jobs_init(jobs, 16, s, 0);
    t0 = mono_ms();
    is_int(run_jobs(jobs, 16, 5000), 16, "async, server hung: 16 calls end");
    is_int(count_st(jobs, 16, AMS_ERR_STORE), 16, "  all with AMS_ERR_STORE");
    for (int i = 0; i < 16; i++)
        if (jobs[i].ended - t0 > last)
            last = jobs[i].ended - t0;
    ok(last >= TIMEOUT_MS - 50 && last < TIMEOUT_MS + 300,
       "  all within one %d ms timeout, not one each (last after %lld ms)",
       TIMEOUT_MS, (long long)last);
    ok(ticks >= TIMEOUT_MS / 20 / 2,
       "  the loop kept running meanwhile "
       "(%d ticks of 20 ms)",
       ticks);
    event_free(t);
    kill(server, SIGCONT);
    ok(until_ok_async(s, 2000), "server resumed: async calls work again");
}

static void test_async_kill(store *s)
{
    static job jobs[16];
    int64_t t0;

    freeze_server(); /* so the calls are surely in flight */
    jobs_init(jobs, 16, s, 0);
    for (int i = 0; i < 16; i++) {
        coro *c = coro_new(pool, job_run, &jobs[i]);
        if (c != NULL)
            coro_resume(c);
    }
    event_base_loop(evb, EVLOOP_ONCE | EVLOOP_NONBLOCK); /* send them */
    is_int(running, 16, "async: 16 calls in flight");
    t0 = mono_ms();
    stop_server();
    while (running > 0 && mono_ms() - t0 < 5000) {
        event_base_loop(evb, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        usleep(200);
    }
    is_int(count_st(jobs, 16, AMS_ERR_STORE), 16,
           "server killed: every "
           "call in flight ends with AMS_ERR_STORE");
    ok(mono_ms() - t0 < TIMEOUT_MS,
       "  at once, not after the timeout "
       "(%lld ms)",
       (long long)(mono_ms() - t0));
    ok(start_server() == 0, "start the server again");
    ok(until_ok_async(s, 2000), "  the async connection comes back by "
                                "itself");
}

static void test_async_idle_close(store *s)
{
    job j;

    /* Redis' "timeout" setting closes idle clients; CLIENT KILL does the
     * same to every client at once. */
    ok(raw_cmd("CLIENT KILL TYPE normal SKIPME yes"),
       "async: the server "
       "closes the connection (an idle timeout)");
    usleep(50000);
    event_base_loop(evb, EVLOOP_ONCE | EVLOOP_NONBLOCK); /* notice it */
    jobs_init(&j, 1, s, 1);
    run_jobs(&j, 1, 2000);
    is_int(j.st, AMS_OK, "  the next call reconnects at once and succeeds");
}

static void test_async_script_flush(store *s)
{
    job j;

    ok(raw_cmd("SCRIPT FLUSH"), "async: SCRIPT FLUSH");
    jobs_init(&j, 1, s, 0);
    run_jobs(&j, 1, 2000);
    is_int(j.st, AMS_OK,
           "  the next call sends the script again and "
           "succeeds");
}

static void test_async_auth(void)
{
    char u[128], err[512] = "";
    store_options o = {.redis_timeout_ms = TIMEOUT_MS,
                       .redis_password = "pa55"};
    store *s;
    job j;

    snprintf(u, sizeof u, "redis://127.0.0.1:%d", port);
    o.uri = u;
    o.base = evb;
    ok(raw_cmd("CONFIG SET requirepass pa55"), "the server now wants a "
                                               "password");
    s = store_open(&o, err, sizeof err);
    ok(s != NULL, "open with the password from the settings (%s)", err);
    if (s != NULL) {
        jobs_init(&j, 1, s, 1);
        run_jobs(&j, 1, 2000);
        is_int(j.st, AMS_OK, "  an async call authenticates too");
        store_close(s);
    }
    snprintf(u, sizeof u, "redis://:other@127.0.0.1:%d", port);
    s = store_open(&o, err, sizeof err);
    ok(s == NULL, "a password in the URI and in the settings: refused");
    has_str(err, "in the URI and in the redis settings", "  saying so");
    ok(strstr(err, "other") == NULL && strstr(err, "pa55") == NULL,
       "  without showing either");
    store_close(s);
    {
        redisContext *c = raw();
        redisReply *r = c ? redisCommand(c, "AUTH pa55") : NULL;
        if (r != NULL)
            freeReplyObject(r);
        r = c ? redisCommand(c, "CONFIG SET requirepass %s", "") : NULL;
        ok(r != NULL && r->type == REDIS_REPLY_STATUS, "password off again");
        if (r != NULL)
            freeReplyObject(r);
        if (c != NULL)
            redisFree(c);
    }
}

/* A worker opens its store lazily: a Redis that is away at start is like
 * one that goes away later.  One that refuses still fails the open. */
static void test_lazy(void)
{
    char u[128], err[512] = "";
    store_options o = {.redis_timeout_ms = TIMEOUT_MS, .redis_lazy = 1};
    store *s, *sa;
    job j;
    int64_t t0;

    snprintf(u, sizeof u, "redis://:sekrit@127.0.0.1:%d", port);
    o.uri = u;
    s = store_open(&o, err, sizeof err);
    ok(s == NULL, "lazy open with a password the server refuses: fails");
    has_str(err, "AUTH", "  saying AUTH failed");
    store_close(s);

    stop_server();
    snprintf(u, sizeof u, "redis://127.0.0.1:%d", port);
    s = store_open(&o, err, sizeof err);
    ok(s != NULL, "lazy open with nothing listening: a handle (%s)", err);
    o.base = evb;
    sa = store_open(&o, err, sizeof err);
    ok(sa != NULL, "  and with an event loop (%s)", err);
    if (s == NULL || sa == NULL) {
        store_close(s);
        store_close(sa);
        start_server();
        return;
    }
    t0 = mono_ms();
    is_int(store_counter_add(s, "lz.c", 1, 0, 10, 0, T, NULL), AMS_ERR_STORE,
           "its calls fail with AMS_ERR_STORE");
    jobs_init(&j, 1, sa, 1);
    run_jobs(&j, 1, 2000);
    is_int(j.st, AMS_ERR_STORE, "  async ones too");
    ok(mono_ms() - t0 < TIMEOUT_MS, "  at once (%lld ms)",
       (long long)(mono_ms() - t0));
    ok(start_server() == 0, "the server starts");
    ok(until_ok(s, 2000) > 0, "the handle connects and works");
    ok(until_ok_async(sa, 2000), "  the async one too");
    store_close(s);
    store_close(sa);
}

static void test_async(void)
{
    char u[128], err[512];
    store_options o = {.redis_timeout_ms = TIMEOUT_MS};
    store *s;

    evb = event_base_new();
    pool = coro_pool_new(0, 64);
    snprintf(u, sizeof u, "redis://127.0.0.1:%d", port);
    o.uri = u;
    o.base = evb;
    s = store_open(&o, err, sizeof err);
    if (ok(s != NULL, "open %s with an event loop", u)) {
        test_async_pipeline(s);
        test_async_hang(s);
        test_async_script_flush(s);
        test_async_idle_close(s);
        test_async_kill(s);
        store_close(s);
    }
    test_async_auth();
    test_lazy();
    coro_pool_free(pool);
    event_base_free(evb);
}

int main(void)
{
    char err[512], u[128];
    store *s;

    alarm(60);
    if (fx_mkdtemp(tmpdir, sizeof tmpdir, "test_store_redis") != 0)
        return 1;
    for (int i = 0; i < 5 && server < 0; i++)
        if ((port = fx_free_port()) <= 0 || start_server() != 0)
            server = -1;
    if (!ok(server > 0, "redis-server runs on port %d", port))
        return tap_done();
    test_open_errors();
    test_db();
    snprintf(u, sizeof u, "redis://127.0.0.1:%d", port);
    s = open_uri(u, err, sizeof err);
    if (ok(s != NULL, "open %s", u)) {
        test_script_flush(s);
        test_restart(s);
        test_hang(s);
        store_close(s);
    }
    test_async();
    stop_server();
    fx_rm_rf(tmpdir);
    return tap_done();
}
