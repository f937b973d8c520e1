/*
 * store_redis_conn.c -- the Redis backend's connections and the way one
 * call travels (store_redis.h); the operations are store_redis.c's and
 * store_redis_wset.c's.
 *
 * Connections.  Two paths, chosen per call.
 *
 * Blocking: one hiredis connection per handle, connect and command
 * timeouts from store_options.redis_timeout_ms (default 1000).  Used
 * outside coroutines (the config checker, the tag import, tests, and a
 * worker's own code on its main stack).  Writes to a dead socket would
 * raise SIGPIPE: it is blocked around each call and a pending one
 * consumed.
 *
 * Asynchronous: when the handle was opened with an event loop
 * (store_options.base: amsd's workers) and the call comes from inside a
 * coroutine (coro.h: every request runs in one), the call goes over a
 * hiredis async connection attached to that loop (the libevent
 * adapter): the EVALSHA is queued, the coroutine yields, and the loop
 * serves other requests until the reply, the loss of the connection or
 * the timeout wakes it.  A batch (rd_evalv_many: commit's sets,
 * read_many's slots) is queued whole and waited for once, on either
 * path: one round trip.  All of a worker's requests share that one
 * connection, so their calls are pipelined and answered in order.
 * hiredis 0.14 has no timeouts on async connections: each call arms an
 * event timer; when one expires the connection is closed, which ends
 * every call waiting on it at once (they wait on the same stall) rather
 * than each after its own timeout.  The reply callback never resumes a
 * coroutine itself, it wakes it through the call's event, so no request
 * code runs inside hiredis.
 *
 * Both paths: the scripts are loaded (SCRIPT LOAD) when the blocking
 * connection is made at open, which also checks the URI, password and
 * database before the server starts serving.  A NOSCRIPT answer (Redis
 * restarted or SCRIPT FLUSH) means the script did not run: the call is
 * sent again once as EVAL with the script's body, which runs it and
 * caches it again.  No other call is retried: after a lost connection or
 * a timeout nobody knows whether a counter_add was applied, so the
 * caller gets AMS_ERR_STORE (the log says the outcome is unknown; the
 * pipeline's idempotency record tells a retry the truth).  A batch's
 * caller learns, per call, whether it went out at all (rd_call.sent): a
 * call never written (not connected, a connect that failed before the
 * connection was up) certainly did not run.  A lost
 * connection is made again by the next call, at most once per
 * RD_RETRY_MS: while Redis is down, calls fail fast with AMS_ERR_STORE
 * instead of each waiting for a timeout.  Faults are logged to stderr,
 * at most RD_LOG_BURST lines a second per handle.
 */
#include "store_redis.h"

#include "clock.h"
#include "coro.h"

#include <errno.h>
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* Log a store fault, at most RD_LOG_BURST lines a second per handle:
 * while Redis is down every request fails, and the log must stay
 * readable (metrics count every failure). */
ams_status rd_fail(rd_store *rs, const char *op, const char *why)
{
    int64_t now = clock_mono_ms();

    if (now - rs->log_since_ms >= 1000) {
        if (rs->log_dropped > 0)
            fprintf(stderr, "store: %s: %lu more failures not logged\n",
                    rs->name, rs->log_dropped);
        rs->log_since_ms = now;
        rs->log_lines = 0;
        rs->log_dropped = 0;
    }
    if (rs->log_lines++ < RD_LOG_BURST)
        fprintf(stderr, "store: %s: %s: %s\n", rs->name, op, why);
    else
        rs->log_dropped++;
    return AMS_ERR_STORE;
}

ams_status rd_bad(rd_store *rs, const char *op, const char *why)
{
    fprintf(stderr, "store: %s: %s: %s\n", rs->name, op, why);
    return AMS_ERR;
}

static void rd_drop(rd_store *rs)
{
    if (rs->c != NULL)
        redisFree(rs->c);
    rs->c = NULL;
}

/* ---- SIGPIPE: hiredis write()s; a dead peer must not kill us ---- */

typedef struct rd_sigpipe {
    sigset_t set, old;
    int was_pending;
} rd_sigpipe;

static void rd_sigpipe_block(rd_sigpipe *p)
{
    sigset_t pending;

    sigemptyset(&p->set);
    sigaddset(&p->set, SIGPIPE);
    sigemptyset(&pending);
    sigpending(&pending);
    p->was_pending = sigismember(&pending, SIGPIPE);
    sigprocmask(SIG_BLOCK, &p->set, &p->old);
}

static void rd_sigpipe_unblock(rd_sigpipe *p)
{
    if (!p->was_pending) {
        sigset_t pending;
        struct timespec zero = {0, 0};

        sigemptyset(&pending);
        sigpending(&pending);
        if (sigismember(&pending, SIGPIPE))
            while (sigtimedwait(&p->set, NULL, &zero) == SIGPIPE)
                ;
    }
    sigprocmask(SIG_SETMASK, &p->old, NULL);
}

/* ---- connecting ---- */

/* Run one plain command on the fresh connection; 0, or -1 with why. */
static int rd_simple(rd_store *rs, int argc, const char **argv,
                     const size_t *lens, redisReply **out, char *why,
                     size_t whylen)
{
    redisReply *r = redisCommandArgv(rs->c, argc, argv, lens);

    if (r == NULL) {
        snprintf(why, whylen, "%s: %s", argv[0],
                 rs->c->errstr[0] ? rs->c->errstr : "no reply");
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        /* A refusal (a wrong password, no such db) stays until the
         * configuration changes; a server still loading its data will
         * answer soon, like one not reachable yet. */
        int loading = strncmp(r->str, "LOADING", 7) == 0;
        snprintf(why, whylen, "%s: %s", argv[0], r->str);
        freeReplyObject(r);
        return loading ? -1 : -2;
    }
    if (out != NULL)
        *out = r;
    else
        freeReplyObject(r);
    return 0;
}

/* Load the scripts into the server's cache (their sha1s are known from
 * rd_shas): 0, or rd_simple's -1 or -2 with the connection dropped. */
static int rd_load_scripts(rd_store *rs, char *why, size_t whylen)
{
    for (int i = 0; i < S_COUNT; i++) {
        const char *argv[3] = {"SCRIPT", "LOAD", rd_scripts[i]};
        size_t lens[3] = {6, 4, strlen(rd_scripts[i])};
        redisReply *r = NULL;
        int rc = rd_simple(rs, 3, argv, lens, &r, why, whylen);

        if (rc == 0 && (r->type != REDIS_REPLY_STRING || r->len != 40 ||
                        memcmp(r->str, rs->sha[i], 40) != 0)) {
            snprintf(why, whylen, "SCRIPT LOAD: unexpected answer");
            rc = -2;
        }
        if (r != NULL)
            freeReplyObject(r);
        if (rc != 0) {
            rd_drop(rs);
            return rc;
        }
    }
    return 0;
}

/* The scripts' sha1s, as EVALSHA names them: computed here, so that the
 * handle can call them before it ever reached the server (a node that
 * started while Redis was away). */
static int rd_shas(rd_store *rs)
{
    for (int i = 0; i < S_COUNT; i++) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;

        if (!EVP_Digest(rd_scripts[i], strlen(rd_scripts[i]), md, &n,
                        EVP_sha1(), NULL) ||
            n != 20)
            return -1;
        for (unsigned k = 0; k < 20; k++)
            snprintf(rs->sha[i] + 2 * k, 3, "%02x", md[k]);
    }
    return 0;
}

/* A command of at most 3 arguments. */
typedef struct rd_cmd {
    int argc;
    const char *argv[3];
    size_t lens[3];
} rd_cmd;

/* Step i of what a fresh connection sends before anything else (0:
 * AUTH, 1: SELECT), the same on both paths.  Returns 0 when step i has
 * nothing to send (no password, db 0). */
static int rd_handshake(const rd_store *rs, int i, rd_cmd *hc)
{
    memset(hc, 0, sizeof *hc);
    if (i == 0 && rs->uri.pass != NULL) {
        hc->argv[hc->argc++] = "AUTH";
        if (rs->uri.user != NULL)
            hc->argv[hc->argc++] = rs->uri.user;
        hc->argv[hc->argc++] = rs->uri.pass;
    } else if (i == 1 && rs->uri.db != 0) {
        hc->argv[hc->argc++] = "SELECT";
        hc->argv[hc->argc++] = rs->dbtext;
    }
    for (int k = 0; k < hc->argc; k++)
        hc->lens[k] = strlen(hc->argv[k]);
    return hc->argc > 0;
}

/* Connect, authenticate, select the db and load the scripts; 0, or the
 * reason in why and -1 when the server could not be reached (or is
 * loading its data), -2 when it refused (rd_simple). */
static int rd_connect(rd_store *rs, char *why, size_t whylen)
{
    struct timeval tv = {(time_t)(rs->timeout_ms / 1000),
                         (suseconds_t)(rs->timeout_ms % 1000 * 1000)};

    rd_drop(rs);
    rs->c = redisConnectWithTimeout(rs->uri.host, rs->uri.port, tv);
    if (rs->c == NULL) {
        snprintf(why, whylen, "connect: out of memory");
        return -1;
    }
    if (rs->c->err) {
        snprintf(why, whylen, "connect: %s", rs->c->errstr);
        rd_drop(rs);
        return -1;
    }
    if (redisSetTimeout(rs->c, tv) != REDIS_OK) {
        snprintf(why, whylen, "setting the timeout: %s", rs->c->errstr);
        rd_drop(rs);
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        rd_cmd hc;
        int rc;
        if (rd_handshake(rs, i, &hc) &&
            (rc = rd_simple(rs, hc.argc, hc.argv, hc.lens, NULL, why,
                            whylen)) != 0) {
            rd_drop(rs);
            return rc;
        }
    }
    return rd_load_scripts(rs, why, whylen);
}

/* A connection for op, reconnecting if the last one was lost, at most
 * once per RD_RETRY_MS. */
static ams_status rd_ready(rd_store *rs, const char *op)
{
    char why[256];
    int64_t now;

    if (rs->c != NULL)
        return AMS_OK;
    now = clock_mono_ms();
    if (now < rs->next_try_ms)
        return rd_fail(rs, op, "not connected (reconnecting soon)");
    if (rd_connect(rs, why, sizeof why) != 0) {
        rs->next_try_ms = now + RD_RETRY_MS;
        return rd_fail(rs, op, why);
    }
    return AMS_OK;
}

/* ---- the asynchronous path (see the top of the file) ---- */

/* A batch's waiter: RW_SENT while it waits, then RW_DONE (every
 * callback came) or RW_TIMEOUT. */
enum { RW_SENT, RW_DONE, RW_TIMEOUT };
/* One command of a batch: RC_UNSENT until its callback says otherwise
 * (and after it, when the connection went before it was ever up). */
enum { RC_UNSENT, RC_REPLIED, RC_LOST };

typedef struct rd_batch rd_batch;

/* One command of a batch; hiredis' callback gets a pointer to it. */
typedef struct rd_slot {
    rd_batch *b;
    redisReply *reply; /* a copy (hiredis frees its own after the
                          callback), owned by the batch until the waiter
                          takes it */
    int state;         /* RC_* */
    int called;        /* its callback ran */
} rd_slot;

/* Commands sent together and the coroutine waiting for all of their
 * replies.  Owners: the waiter, and the callback of each command queued,
 * which hiredis runs exactly once (with the reply, or with NULL when the
 * connection goes); the last of them frees it. */
struct rd_batch {
    coro *co;
    rd_store *rs;
    struct event *ev; /* the timeout, and how the last reply wakes the
                         waiter */
    int state;        /* RW_* */
    int refs;
    size_t pending; /* callbacks still to come */
    size_t n;
    rd_slot slot[];
};

static void rd_batch_unref(rd_batch *b)
{
    if (--b->refs == 0) {
        for (size_t i = 0; i < b->n; i++)
            if (b->slot[i].reply != NULL)
                freeReplyObject(b->slot[i].reply);
        free(b);
    }
}

/* A deep copy of r made with malloc, which is what freeReplyObject()
 * frees with (hiredis 0.14 allocates replies with malloc); NULL when out
 * of memory. */
static redisReply *rd_reply_copy(const redisReply *r)
{
    redisReply *c = calloc(1, sizeof *c);

    if (c == NULL)
        return NULL;
    c->type = r->type;
    c->integer = r->integer;
    if (r->str != NULL) {
        if ((c->str = malloc(r->len + 1)) == NULL)
            goto oom;
        memcpy(c->str, r->str, r->len);
        c->str[r->len] = '\0';
        c->len = r->len;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
        if ((c->element = calloc(r->elements, sizeof *c->element)) == NULL)
            goto oom;
        c->elements = r->elements;
        for (size_t i = 0; i < r->elements; i++)
            if ((c->element[i] = rd_reply_copy(r->element[i])) == NULL)
                goto oom;
    }
    return c;
oom:
    freeReplyObject(c);
    return NULL;
}

/* hiredis' callback: record the outcome and, with the batch's last
 * reply, wake the waiter through its event, never by resuming the
 * coroutine here: a coroutine running inside hiredis' read handler
 * could free or reuse the connection under it.  No reply: the
 * connection went; if it never was up, the command was never written
 * (hiredis writes only once connected), so it certainly did not run. */
static void rd_async_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    rd_slot *sl = priv;
    rd_batch *b = sl->b;

    sl->called = 1;
    if (reply != NULL) {
        sl->reply = rd_reply_copy(reply);
        sl->state = sl->reply != NULL ? RC_REPLIED : RC_LOST;
    } else {
        sl->state = ac->c.flags & REDIS_CONNECTED ? RC_LOST : RC_UNSENT;
    }
    if (--b->pending == 0 && b->state == RW_SENT) {
        b->state = RW_DONE;
        event_active(b->ev, EV_TIMEOUT, 0);
    }
    rd_batch_unref(b);
}

/* Handshake replies: an error (wrong password, bad db) makes every call
 * on this connection fail, so close it once the calls already sent have
 * had their (error) answers, and reconnect later. */
static void rd_async_handshake(redisAsyncContext *ac, void *reply, void *priv)
{
    redisReply *r = reply;
    rd_store *rs = priv;

    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "store: %s: connecting: %s\n", rs->name, r->str);
        rs->next_async_ms = clock_mono_ms() + RD_RETRY_MS;
        if (rs->ac == ac) {
            rs->ac = NULL;
            redisAsyncDisconnect(ac);
        }
    }
}

static void rd_async_connected(const redisAsyncContext *ac, int status)
{
    rd_store *rs = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees ac after this (its calls are told with NULL). */
        fprintf(stderr, "store: %s: connect: %s\n", rs->name,
                ac->errstr[0] ? ac->errstr : "failed");
        if (rs->ac == ac)
            rs->ac = NULL;
        rs->next_async_ms = clock_mono_ms() + RD_RETRY_MS;
    }
}

static void rd_async_gone(const redisAsyncContext *ac, int status)
{
    rd_store *rs = ac->data;

    /* No back-off here: a server that closed an idle connection is
     * fine, and the next call connects at once; only a failed connect
     * waits RD_RETRY_MS before the next attempt. */
    if (status != REDIS_OK)
        fprintf(stderr, "store: %s: connection lost: %s\n", rs->name,
                ac->errstr[0] ? ac->errstr : "closed");
    if (rs->ac == ac)
        rs->ac = NULL; /* hiredis frees it after this */
}

/* Close the asynchronous connection now: every call still waiting on it
 * is told (no reply) and woken.  Only from outside hiredis' callbacks. */
static void rd_async_drop(rd_store *rs)
{
    redisAsyncContext *ac = rs->ac;

    rs->ac = NULL;
    if (ac != NULL)
        redisAsyncFree(ac);
}

/* An asynchronous connection, made if there is none (not again within
 * RD_RETRY_MS of a failed attempt).  The handshake is queued at once: hiredis
 * sends it, and the calls queued after it, when the connect completes, so a
 * call on a fresh connection costs no extra round trip. */
static ams_status rd_async_ready(rd_store *rs, const char *op)
{
    redisAsyncContext *ac;
    int64_t now;

    if (rs->ac != NULL)
        return AMS_OK;
    now = clock_mono_ms();
    if (now < rs->next_async_ms)
        return rd_fail(rs, op, "not connected (reconnecting soon)");
    ac = redisAsyncConnect(rs->uri.host, rs->uri.port);
    if (ac == NULL)
        return rd_fail(rs, op, "connect: out of memory");
    if (ac->err) {
        char why[256];
        snprintf(why, sizeof why, "connect: %s", ac->errstr);
        redisAsyncFree(ac);
        rs->next_async_ms = now + RD_RETRY_MS;
        return rd_fail(rs, op, why);
    }
    ac->data = rs;
    if (redisLibeventAttach(ac, rs->evbase) != REDIS_OK) {
        redisAsyncFree(ac);
        return rd_fail(rs, op, "cannot attach to the event loop");
    }
    redisAsyncSetConnectCallback(ac, rd_async_connected);
    redisAsyncSetDisconnectCallback(ac, rd_async_gone);
    for (int i = 0; i < 2; i++) {
        rd_cmd hc;
        if (rd_handshake(rs, i, &hc) &&
            redisAsyncCommandArgv(ac, rd_async_handshake, rs, hc.argc, hc.argv,
                                  hc.lens) != REDIS_OK) {
            redisAsyncFree(ac);
            return rd_fail(rs, op, "cannot queue the handshake");
        }
    }
    rs->ac = ac;
    return AMS_OK;
}

/* The waiter's event: made active by the batch's last reply, or the
 * timeout. */
static void rd_wait_wake(evutil_socket_t fd, short what, void *arg)
{
    rd_batch *b = arg;

    (void)fd;
    (void)what;
    if (b->state == RW_SENT) {
        /* No answer in time.  The calls may or may not have run; the
         * calls behind them on this connection wait on the same stall:
         * drop the connection, which fails them all now instead of each
         * after its own timeout, and reconnect after the back-off. */
        b->state = RW_TIMEOUT;
        b->rs->next_async_ms = clock_mono_ms() + RD_RETRY_MS;
        rd_async_drop(b->rs);
    }
    coro_resume(b->co);
}

/* Why a batch failed, for the log: the worst of its calls without a
 * reply. */
static const char *rd_batch_why(const rd_batch *b, size_t queued, char *why,
                                size_t whylen)
{
    int lost = 0;

    for (size_t i = 0; i < queued; i++)
        lost |= b->slot[i].state != RC_REPLIED &&
                (!b->slot[i].called || b->slot[i].state == RC_LOST);
    if (b->state == RW_TIMEOUT && lost)
        snprintf(why, whylen,
                 "no answer within %lld ms (whether it ran is unknown)",
                 (long long)b->rs->timeout_ms);
    else if (lost)
        snprintf(why, whylen, "connection lost (whether it ran is unknown)");
    else if (b->state == RW_TIMEOUT)
        snprintf(why, whylen, "not connected within %lld ms (not sent)",
                 (long long)b->rs->timeout_ms);
    else
        snprintf(why, whylen, "connect failed (not sent)");
    return why;
}

/* Commands c[0..n-1] from inside a coroutine: queue them all on the one
 * connection (one round trip), yield until the last answer, the
 * connection's loss or the timeout.  Results as rd_commands'. */
static ams_status rd_commands_async(rd_store *rs, const char *op, rd_call **c,
                                    size_t n)
{
    struct timeval tv = {(time_t)(rs->timeout_ms / 1000),
                         (suseconds_t)(rs->timeout_ms % 1000 * 1000)};
    rd_batch *b;
    size_t queued;
    ams_status st = AMS_OK;
    char why[128];

    if ((st = rd_async_ready(rs, op)) != AMS_OK)
        return st;
    if ((b = calloc(1, sizeof *b + n * sizeof b->slot[0])) == NULL)
        return rd_fail(rs, op, "out of memory");
    b->co = coro_current();
    b->rs = rs;
    b->state = RW_SENT;
    b->refs = 1;
    b->n = n;
    if ((b->ev = evtimer_new(rs->evbase, rd_wait_wake, b)) == NULL) {
        free(b);
        return rd_fail(rs, op, "out of memory");
    }
    for (queued = 0; queued < n; queued++) {
        b->slot[queued].b = b;
        if (redisAsyncCommandArgv(rs->ac, rd_async_reply, &b->slot[queued],
                                  3 + c[queued]->argc, c[queued]->argv,
                                  c[queued]->lens) != REDIS_OK)
            break;
        b->refs++;
        b->pending++;
    }
    if (queued > 0) {
        evtimer_add(b->ev, &tv);
        coro_yield();
    }
    event_free(b->ev);
    for (size_t i = 0; i < n; i++) {
        rd_slot *sl = &b->slot[i];

        if (sl->state == RC_REPLIED) {
            c[i]->reply = sl->reply;
            sl->reply = NULL;
        } else {
            /* A callback still to come (a timeout on a connection that
             * hiredis had not let go of) may yet run it. */
            c[i]->sent = i < queued && (!sl->called || sl->state == RC_LOST);
            if (st == AMS_OK)
                st = rd_fail(rs, op,
                             i < queued
                                 ? rd_batch_why(b, queued, why, sizeof why)
                                 : "cannot queue the command");
        }
    }
    rd_batch_unref(b);
    return st;
}

/* ---- one batch of calls, on either path ---- */

/* Commands c[0..n-1] on the blocking connection, written together and
 * then read (one round trip).  Results as rd_commands'. */
static ams_status rd_commands_sync(rd_store *rs, const char *op, rd_call **c,
                                   size_t n)
{
    ams_status st;
    rd_sigpipe sp;
    size_t queued, i;

    if ((st = rd_ready(rs, op)) != AMS_OK)
        return st;
    rd_sigpipe_block(&sp);
    for (queued = 0; queued < n; queued++)
        if (redisAppendCommandArgv(rs->c, 3 + c[queued]->argc, c[queued]->argv,
                                   c[queued]->lens) != REDIS_OK)
            break;
    for (i = 0; i < queued; i++) {
        void *r = NULL;

        if (redisGetReply(rs->c, &r) != REDIS_OK || r == NULL)
            break;
        c[i]->reply = r;
    }
    if (i < queued) {
        char why[256];

        if (rs->c->err == REDIS_ERR_IO &&
            (errno == EAGAIN || errno == EWOULDBLOCK))
            snprintf(why, sizeof why,
                     "no answer within %lld ms (whether it ran is unknown)",
                     (long long)rs->timeout_ms);
        else
            snprintf(why, sizeof why, "%s (whether it ran is unknown)",
                     rs->c->errstr[0] ? rs->c->errstr : "connection lost");
        for (; i < queued; i++)
            c[i]->sent = 1;
        st = rd_fail(rs, op, why);
        rd_drop(rs); /* the next call reconnects */
    } else if (queued < n) {
        st = rd_fail(rs, op, "cannot queue the command");
    }
    rd_sigpipe_unblock(&sp);
    return st;
}

/* Send the commands c[i]->argv[0 .. 3 + c[i]->argc) in one round trip
 * and get their replies into c[i]->reply (an error reply is a reply),
 * c[i]->sent saying for one without whether it may have run.  AMS_OK
 * when every command has a reply, else AMS_ERR_STORE (logged), with the
 * replies that came.  Inside a coroutine of a process with an event
 * loop the call yields; elsewhere it blocks. */
static ams_status rd_commands(rd_store *rs, const char *op, rd_call **c,
                              size_t n)
{
    for (size_t i = 0; i < n; i++) {
        c[i]->reply = NULL;
        c[i]->sent = 0;
    }
    if (rs->evbase != NULL && coro_current() != NULL)
        return rd_commands_async(rs, op, c, n);
    return rd_commands_sync(rs, op, c, n);
}

ams_status rd_evalv_many(rd_store *rs, const char *op, rd_call *calls,
                         size_t n)
{
    rd_call *small[8], **v = small;
    size_t m = 0;
    ams_status st, again;

    if (n == 0)
        return AMS_OK;
    if (n > sizeof small / sizeof small[0] &&
        (v = malloc(n * sizeof *v)) == NULL) {
        for (size_t i = 0; i < n; i++) {
            calls[i].reply = NULL;
            calls[i].sent = 0;
        }
        return rd_fail(rs, op, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        rd_call *c = &calls[i];

        snprintf(c->nk, sizeof c->nk, "%d", c->nkeys);
        c->argv[0] = "EVALSHA";
        c->lens[0] = 7;
        c->argv[1] = rs->sha[c->script];
        c->lens[1] = 40;
        c->argv[2] = c->nk;
        c->lens[2] = strlen(c->nk);
        v[i] = c;
    }
    st = rd_commands(rs, op, v, n);
    for (size_t i = 0; i < n; i++) {
        rd_call *c = &calls[i];

        if (c->reply == NULL || c->reply->type != REDIS_REPLY_ERROR ||
            strncmp(c->reply->str, "NOSCRIPT", 8) != 0)
            continue;
        /* The server lost its scripts (restart, SCRIPT FLUSH); the
         * script did not run.  EVAL with the body runs it and caches it
         * again under the same sha, in one more round trip. */
        freeReplyObject(c->reply);
        c->argv[0] = "EVAL";
        c->lens[0] = 4;
        c->argv[1] = rd_scripts[c->script];
        c->lens[1] = strlen(rd_scripts[c->script]);
        v[m++] = c;
    }
    if (m > 0) {
        fprintf(stderr,
                "store: %s: %s: script gone (NOSCRIPT), sending "
                "it again\n",
                rs->name, op);
        again = rd_commands(rs, op, v, m);
        if (st == AMS_OK)
            st = again;
    }
    if (v != small)
        free(v);
    return st;
}

ams_status rd_evalv(rd_store *rs, const char *op, int script, int nkeys,
                    int argc, const char **argv, size_t *lens,
                    redisReply **out)
{
    rd_call c = {.script = script,
                 .nkeys = nkeys,
                 .argc = argc,
                 .argv = argv,
                 .lens = lens};
    ams_status st = rd_evalv_many(rs, op, &c, 1);

    *out = NULL;
    if (st != AMS_OK) {
        if (c.reply != NULL)
            freeReplyObject(c.reply);
        return st;
    }
    if (c.reply->type == REDIS_REPLY_ERROR) {
        st = rd_fail(rs, op, c.reply->str);
        freeReplyObject(c.reply);
        return st;
    }
    *out = c.reply;
    return AMS_OK;
}

ams_status rd_eval(rd_store *rs, const char *op, int script, int nkeys,
                   const rd_args *a, redisReply **out)
{
    const char *argv[3 + RD_MAXARG];
    size_t lens[3 + RD_MAXARG];

    for (int i = 0; i < a->n; i++) {
        argv[3 + i] = a->v[i];
        lens[3 + i] = a->len[i];
    }
    return rd_evalv(rs, op, script, nkeys, a->n, argv, lens, out);
}

/* ---- start and end ---- */

int rd_conn_start(rd_store *rs, int lazy, char *why, size_t whylen)
{
    rd_sigpipe sp;
    int rc;

    if (rd_shas(rs) != 0) {
        snprintf(why, whylen, "cannot hash the scripts");
        return -1;
    }
    rd_sigpipe_block(&sp);
    rc = rd_connect(rs, why, whylen);
    rd_sigpipe_unblock(&sp);
    if (rc == -1 && lazy) {
        /* Not reachable (yet): serve anyway; every call answers
         * AMS_ERR_STORE at once until a connect succeeds (rd_ready). */
        fprintf(stderr,
                "store: %s: not reachable (%s); serving anyway: "
                "store calls fail until it is\n",
                rs->name, why);
        rs->next_try_ms = clock_mono_ms() + RD_RETRY_MS;
        return 0;
    }
    return rc == 0 ? 0 : -1;
}

void rd_conn_close(rd_store *rs)
{
    rd_async_drop(rs);
    rd_drop(rs);
}
