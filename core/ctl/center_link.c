/*
 * center_link.c -- the config center's two Redis connections (commands
 * and the subscription), made again with back-off when lost; see
 * center.c.
 */
#include "center_int.h"

#include "center.h"
#include "audit.h"
#include "center_kv.h"
#include "fileio.h"
#include "gen.h"
#include "log.h"
#include "pins.h"
#include "plugin.h"
#include "redis_uri.h"
#include "reload.h"
#include "services.h"
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- connections ---- */

/* ac is dropped: the next tick frees it (never under its callback). */
void cc_bury(center *cc, redisAsyncContext *ac)
{
    if (ac == NULL)
        return;
    if (cc->ndead < CC_DEAD_MAX)
        cc->dead[cc->ndead++] = ac;
    else
        redisAsyncDisconnect(ac); /* hiredis frees it when it can */
}

/* hiredis is freeing ac itself: it must not be freed again. */
static void cc_unbury(center *cc, const redisAsyncContext *ac)
{
    for (int i = 0; i < cc->ndead; i++)
        if (cc->dead[i] == ac) {
            cc->dead[i] = cc->dead[--cc->ndead];
            return;
        }
}

/* Free the dropped contexts; only outside hiredis' callbacks. */
void cc_free_dead(center *cc)
{
    redisAsyncContext *dead[CC_DEAD_MAX];
    int n = cc->ndead;

    /* Freeing runs their callbacks, which may look at the list. */
    memcpy(dead, cc->dead, sizeof dead);
    cc->ndead = 0;
    for (int i = 0; i < n; i++)
        redisAsyncFree(dead[i]);
}

/* The pair is gone (going: a context hiredis frees itself, or NULL):
 * drop what is left, forget what was in flight, retry after the
 * back-off. */
void cc_lost(center *cc, const redisAsyncContext *going, const char *why)
{
    char buf[64];

    if (cc->cmd != going)
        cc_bury(cc, cc->cmd);
    if (cc->sub != going)
        cc_bury(cc, cc->sub);
    cc->cmd = cc->sub = NULL;
    cc->subscribed = cc->answered = 0;
    cc->pending = cc->checking = cc->recheck = 0;
    cc->fetching = 0;
    /* Said once per kind of failure, not at every retry. */
    if (cc->link == CC_UP)
        log_warn("config center %s: connection lost (%s); %s; "
                 "reconnecting",
                 cc->shown, why, cc_serving(cc, buf, sizeof buf));
    else if (strcmp(cc->link_error, why) != 0)
        log_warn("config center %s: %s; %s; retrying", cc->shown, why,
                 cc_serving(cc, buf, sizeof buf));
    snprintf(cc->link_error, sizeof cc->link_error, "%s", why);
    cc->link = CC_DOWN;
    cc->backoff_ms =
        cc->backoff_ms == 0 ? CC_BACKOFF_MIN_MS : cc->backoff_ms * 2;
    if (cc->backoff_ms > CC_BACKOFF_MAX_MS)
        cc->backoff_ms = CC_BACKOFF_MAX_MS;
    cc->next_connect = clock_mono_ms() + cc->backoff_ms;
}

/* Both connections work: say so once. */
void cc_maybe_up(center *cc)
{
    if (!cc->subscribed || !cc->answered || cc->link == CC_UP)
        return;
    cc->link = CC_UP;
    cc->backoff_ms = 0;
    cc->link_error[0] = '\0';
    log_info("config center %s: connected as node \"%s\" (prefix \"%s\")",
             cc->shown, cc->m->c->cc_node, cc->m->c->cc_prefix);
}

static void cc_on_connect(const redisAsyncContext *ac, int status)
{
    center *cc = ac->data;
    char why[300];

    if (cc->closing || status == REDIS_OK)
        return;
    cc_unbury(cc, ac); /* hiredis frees it after this */
    if (ac != cc->cmd && ac != cc->sub)
        return;
    snprintf(why, sizeof why, "cannot connect: %s",
             ac->errstr[0] ? ac->errstr : "failed");
    cc_lost(cc, ac, why);
}

static void cc_on_disconnect(const redisAsyncContext *ac, int status)
{
    center *cc = ac->data;
    char why[300];

    if (cc->closing)
        return;
    cc_unbury(cc, ac); /* hiredis frees it after this */
    if (ac != cc->cmd && ac != cc->sub)
        return;
    snprintf(why, sizeof why, "connection lost: %s",
             status != REDIS_OK && ac->errstr[0] ? ac->errstr
                                                 : "closed by the server");
    cc_lost(cc, ac, why);
}

/* The center a reply on ac is for, NULL when ac is no longer ours; the
 * reply is counted. */
center *cc_mine(redisAsyncContext *ac)
{
    center *cc = ac->data;

    if (cc->closing || ac != cc->cmd)
        return NULL;
    cc->pending--;
    cc->pending_since = clock_mono_ms();
    return cc;
}

/* An error reply r from Redis, or none at all: what to say. */
int cc_failed(const redisReply *r, const char *what, char *why, size_t len)
{
    if (r != NULL && r->type != REDIS_REPLY_ERROR)
        return 0;
    snprintf(why, len, "%s: %s", what, r ? r->str : "no reply");
    return 1;
}

/* Send a command on cmd, counted until its reply. */
int cc_send(center *cc, redisCallbackFn *fn, int argc, const char **argv,
            const size_t *lens)
{
    if (cc->cmd == NULL ||
        redisAsyncCommandArgv(cc->cmd, fn, NULL, argc, argv, lens) != REDIS_OK)
        return -1;
    if (cc->pending++ == 0)
        cc->pending_since = clock_mono_ms();
    return 0;
}

/* AUTH and SELECT replies, on either connection: a refusal drops the
 * pair (a wrong password will not get better by itself; it is retried
 * with the back-off and said once). */
static void cc_on_handshake(redisAsyncContext *ac, void *reply, void *priv)
{
    center *cc = ac->data;
    char why[300];

    (void)priv;
    if (cc->closing || (ac != cc->cmd && ac != cc->sub))
        return;
    if (ac == cc->cmd)
        cc_mine(ac);
    if (reply != NULL &&
        cc_failed(reply, "refused the handshake", why, sizeof why))
        cc_lost(cc, NULL, why);
}

void cc_on_written(redisAsyncContext *ac, void *reply, void *priv)
{
    center *cc = cc_mine(ac);
    char why[300];

    (void)priv;
    if (cc != NULL && reply != NULL &&
        cc_failed(reply, "writing this node's report", why, sizeof why))
        log_warn("config center %s: %s", cc->shown, why);
}

/* Queue the handshake of ac (AUTH, and SELECT on cmd), then, on sub, the
 * subscription; hiredis sends them once connected.  -1 on failure. */
static int cc_handshake(center *cc, redisAsyncContext *ac, int is_sub,
                        redisCallbackFn *on_sub)
{
    const char *argv[3];
    int argc = 0, rc = REDIS_OK;
    char db[16];

    if (cc->uri.pass != NULL) {
        argv[argc++] = "AUTH";
        if (cc->uri.user != NULL)
            argv[argc++] = cc->uri.user;
        argv[argc++] = cc->uri.pass;
        rc = is_sub ? redisAsyncCommandArgv(ac, cc_on_handshake, NULL, argc,
                                            argv, NULL)
                    : (cc_send(cc, cc_on_handshake, argc, argv, NULL) == 0
                           ? REDIS_OK
                           : REDIS_ERR);
    }
    if (rc == REDIS_OK && !is_sub && cc->uri.db != 0) {
        snprintf(db, sizeof db, "%d", cc->uri.db);
        argv[0] = "SELECT";
        argv[1] = db;
        rc = cc_send(cc, cc_on_handshake, 2, argv, NULL) == 0 ? REDIS_OK
                                                              : REDIS_ERR;
    }
    if (rc == REDIS_OK && is_sub) {
        argv[0] = "SUBSCRIBE";
        argv[1] = cc->k_channel;
        rc = redisAsyncCommandArgv(ac, on_sub, NULL, 2, argv, NULL);
    }
    return rc == REDIS_OK ? 0 : -1;
}

/* One new asynchronous connection on the master's loop; NULL with the
 * reason in why. */
static redisAsyncContext *cc_open(center *cc, char *why, size_t len)
{
    redisAsyncContext *ac = redisAsyncConnect(cc->uri.host, cc->uri.port);

    if (ac == NULL) {
        snprintf(why, len, "cannot connect: out of memory");
        return NULL;
    }
    if (ac->err) {
        snprintf(why, len, "cannot connect: %s", ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = cc;
    if (redisLibeventAttach(ac, cc->m->base) != REDIS_OK) {
        snprintf(why, len, "cannot attach to the event loop");
        redisAsyncFree(ac);
        return NULL;
    }
    redisAsyncSetConnectCallback(ac, cc_on_connect);
    redisAsyncSetDisconnectCallback(ac, cc_on_disconnect);
    return ac;
}

/* Open a new pair (from the tick only: nothing of ours is on the stack). */
void cc_connect(center *cc)
{
    char why[300] = "";

    cc->connect_at = clock_mono_ms();
    cc->link = CC_CONNECTING;
    if ((cc->cmd = cc_open(cc, why, sizeof why)) == NULL ||
        (cc->sub = cc_open(cc, why, sizeof why)) == NULL ||
        cc_handshake(cc, cc->cmd, 0, NULL) < 0 ||
        cc_handshake(cc, cc->sub, 1, cc_on_sub) < 0) {
        if (why[0] == '\0')
            snprintf(why, sizeof why, "cannot queue the handshake");
        cc->link = CC_DOWN;
        cc_lost(cc, NULL, why);
    }
}
