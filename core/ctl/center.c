/*
 * center.c -- the config center, node side (see center.h; the keys are
 * in center_kv.h).
 *
 * Connections.  cmd carries commands, sub the subscription; both are
 * ours while cc->cmd / cc->sub point at them.  A callback for a context
 * that is no longer ours is ignored.  hiredis must not have a context
 * freed under its own callback, so a context we drop goes to cc->dead
 * and the next tick (a timer: outside any hiredis callback) frees it;
 * one hiredis frees itself (a failed connect, a lost connection) is
 * only forgotten.  Losing either connection drops both, and a new pair
 * is made after the back-off.
 *
 * Versions.  cc->latest is the pointer as last read.  A version other
 * than the one serving, not refused before (cc->skip), is read
 * (cc->fetching), written under run_dir/center-N, and reloaded
 * (cc->loading); one refusal at any step is recorded and reported.
 */
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

#define CC_TICK_MS 100 /* how soon a timeout or a retry is seen */
#define CC_BACKOFF_MIN_MS 200
#define CC_BACKOFF_MAX_MS 5000
#define CC_REPORT_TTL_MIN_MS 30000 /* a node's report outlives 10 polls */
#define CC_NODES_FORGET_MS (24LL * 3600 * 1000)
#define CC_BOOT_CHECK_MS 60000
#define CC_BOOT_FALLBACKS 4 /* versions tried when the latest fails */
#define CC_REASON_MAX 8192
#define CC_DEAD_MAX 4

typedef enum { CC_DOWN, CC_CONNECTING, CC_UP } cc_link;

typedef struct center {
    master *m;
    ruri uri;
    char shown[300]; /* the URI without credentials: for every message */
    char k_pointer[CKV_KEY_MAX], k_channel[CKV_KEY_MAX];
    char k_node[CKV_KEY_MAX], k_nodes[CKV_KEY_MAX];
    redisAsyncContext *cmd, *sub;
    redisAsyncContext *dead[CC_DEAD_MAX];
    int ndead;
    int subscribed; /* sub's SUBSCRIBE confirmed */
    int answered;   /* cmd answered a read */
    cc_link link;
    char link_error[300]; /* why it is not connected ("" when up) */
    int64_t connect_at;   /* monotonic ms: when the pair was opened */
    int64_t next_connect;
    int64_t backoff_ms;
    int pending;           /* commands on cmd waiting for a reply */
    int64_t pending_since; /* the last progress while some waited */
    int checking, recheck; /* a read of the pointer in flight / again */
    int64_t next_check;
    int64_t last_answer_wall;
    struct event *tick, *kick;
    uint64_t latest;        /* the pointer, as last read */
    uint64_t fetching;      /* whose content is being read */
    uint64_t loading;       /* being reloaded */
    uint64_t skip;          /* refused: not tried again (center.h) */
    uint64_t changed;       /* serving, but other content under its
                               number (Redis lost its data and the
                               number was published again) */
    uint64_t rejected;      /* the last refused, for reports */
    char *reason;           /* why, a message a line (owned) */
    int64_t rejected_at;    /* wall ms */
    char digest[65];        /* of the version serving */
    char serving_dir[1100]; /* run_dir/center-N of it, or "" */
    char loading_dir[1100];
    char loading_digest[65];
    unsigned stages; /* versions written so far */
    cJSON *audit;    /* the running load's record (owned) */
    int closing;
    int warned_empty;
    int64_t started_at; /* wall ms */
} center;

static void cc_kick(center *cc);
static void cc_report(center *cc);

static int64_t cc_ms_or(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static struct timeval cc_tv(int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

/* What serves, for messages: "version 3 keeps serving", "the local
 * activities keep serving" (or, before anything serves, "at start"). */
static const char *cc_serving(const center *cc, char *buf, size_t len)
{
    if (cc->m->snap_activities[0] == '\0')
        return "at start";
    if (cc->m->config_version == 0)
        return "the local activities keep serving";
    snprintf(buf, len, "version %" PRIu64 " keeps serving",
             cc->m->config_version);
    return buf;
}

/* ---- refusals and the audit log ---- */

/* msg with run_dir/center-N.K/activities/ (and run_dir/center-N.K/)
 * written as "vN/": messages name the version's files, not this node's
 * copy of them. */
static void cc_shorten(const center *cc, uint64_t n, const char *msg,
                       char *out, size_t len)
{
    char dir[1200], tag[32];
    size_t dl, tl, o = 0;

    snprintf(dir, sizeof dir, "%s/center-", cc->m->run_dir);
    tl = (size_t)snprintf(tag, sizeof tag, "v%" PRIu64 "/", n);
    dl = strlen(dir);
    while (*msg != '\0' && o + 1 < len) {
        if (strncmp(msg, dir, dl) == 0 && strchr(msg + dl, '/') != NULL) {
            msg = strchr(msg + dl, '/') + 1;
            if (strncmp(msg, "activities/", 11) == 0)
                msg += 11;
            if (o + tl >= len)
                break;
            memcpy(out + o, tag, tl);
            o += tl;
        } else {
            out[o++] = *msg++;
        }
    }
    out[o] = '\0';
}

/* The error messages of e (warnings left out), shortened, as a JSON
 * array of strings (caller deletes). */
static cJSON *cc_errs_json(const center *cc, uint64_t n, const errs *e)
{
    cJSON *arr = cJSON_CreateArray();
    char buf[2048];

    for (size_t i = 0; i < e->n; i++) {
        if (strncmp(e->msgs[i], "warning: ", 9) == 0 ||
            strstr(e->msgs[i], ": warning: ") != NULL)
            continue;
        cc_shorten(cc, n, e->msgs[i], buf, sizeof buf);
        cJSON_AddItemToArray(arr, cJSON_CreateString(buf));
    }
    if (cJSON_GetArraySize(arr) == 0)
        cJSON_AddItemToArray(arr, cJSON_CreateString("refused (no message)"));
    return arr;
}

/* The audit record of loading version v, begun before anything changes
 * (caller owns it; cc_audit_end finishes and frees it). */
static cJSON *cc_audit_begin(const center *cc, uint64_t n,
                             const ckv_version *v)
{
    const master *m = cc->m;
    cJSON *rec = cJSON_CreateObject(), *sums;

    cJSON_AddNumberToObject(rec, "ts", 0); /* first (audit.h) */
    cJSON_AddStringToObject(rec, "who", "config-center");
    cJSON_AddNullToObject(rec, "role");
    cJSON_AddStringToObject(rec, "auth", "config_center");
    cJSON_AddStringToObject(rec, "verb", "LOAD");
    cJSON_AddStringToObject(rec, "path", "config_center");
    cJSON_AddNullToObject(rec, "route");
    cJSON_AddStringToObject(rec, "client", cc->shown);
    cJSON_AddStringToObject(rec, "node", m->c->cc_node);
    cJSON_AddNumberToObject(rec, "config_version", (double)n);
    cJSON_AddNumberToObject(rec, "config_version_before",
                            (double)m->config_version);
    if (v != NULL && v->digest[0] != '\0')
        cJSON_AddStringToObject(rec, "digest", v->digest);
    if (v != NULL && v->publisher != NULL)
        cJSON_AddStringToObject(rec, "publisher", v->publisher);
    if (v != NULL && v->published_at > 0)
        cJSON_AddNumberToObject(rec, "published_at", (double)v->published_at);
    cJSON_AddNumberToObject(rec, "generation_before", (double)m->generation);
    /* At start there is no generation yet to sum up. */
    if (m->snap_activities[0] != '\0') {
        sums = cJSON_AddObjectToObject(rec, "checksums");
        cJSON_AddItemToObject(sums, "before", audit_files_in_force(m));
    }
    return rec;
}

/* Finish rec (consumed) with the outcome and append it.  errors: the
 * refusal's messages, or NULL. */
static void cc_audit_end(center *cc, cJSON *rec, int ok, const char *reason,
                         const cJSON *errors)
{
    master *m = cc->m;
    cJSON *sums;

    if (rec == NULL)
        return;
    sums = cJSON_GetObjectItemCaseSensitive(rec, "checksums");
    cJSON_AddNumberToObject(rec, "status", ok ? 200 : 422);
    cJSON_AddStringToObject(rec, "reason", reason);
    if (errors != NULL && cJSON_GetArraySize(errors) > 0) {
        cJSON_AddStringToObject(
            rec, "message",
            cJSON_GetStringValue(cJSON_GetArrayItem(errors, 0)));
        cJSON_AddItemToObject(rec, "errors", cJSON_Duplicate(errors, 1));
    }
    cJSON_AddNumberToObject(rec, "generation_after", (double)m->generation);
    cJSON_AddNumberToObject(rec, "config_version_after",
                            (double)m->config_version);
    if (sums != NULL)
        cJSON_AddItemToObject(sums, "after", audit_files_in_force(m));
    audit_record(m, rec);
    cJSON_Delete(rec);
}

/* Version n is refused: log why (errors, an array of messages) and
 * audit it (rec consumed, or begun here when NULL). */
static void cc_refusal_log(center *cc, uint64_t n, const cJSON *errors,
                           cJSON *rec, const char *code)
{
    const cJSON *it;
    char buf[64];

    log_error("config center: version %" PRIu64 " refused; %s:", n,
              cc_serving(cc, buf, sizeof buf));
    cJSON_ArrayForEach(it, errors) log_error("  %s", it->valuestring);
    cc_audit_end(cc, rec ? rec : cc_audit_begin(cc, n, NULL), 0, code, errors);
}

/* Version n is refused: cc_refusal_log(), and remember why (errors is
 * consumed): it is reported, and not tried again (center.h). */
static void cc_refuse(center *cc, uint64_t n, cJSON *errors, cJSON *rec,
                      const char *code)
{
    char *reason = calloc(1, CC_REASON_MAX);
    const cJSON *it;
    size_t o = 0;

    cJSON_ArrayForEach(it, errors)
    {
        if (reason != NULL && o + 2 < CC_REASON_MAX)
            o += (size_t)snprintf(reason + o, CC_REASON_MAX - o, "%s%s",
                                  o > 0 ? "\n" : "", it->valuestring);
    }
    free(cc->reason);
    cc->reason = reason;
    cc->rejected = n;
    cc->skip = n;
    cc->rejected_at = clock_wall_ms();
    cc_refusal_log(cc, n, errors, rec, code);
    cJSON_Delete(errors);
    cc_report(cc);
}

/* Write version v under run_dir/center-N.K (cc->loading_dir), K
 * counting the tries: never over the copy that serves, even when the
 * same number comes again. */
static int cc_stage(center *cc, const ckv_version *v, errs *e)
{
    snprintf(cc->loading_dir, sizeof cc->loading_dir,
             "%s/center-%" PRIu64 ".%u", cc->m->run_dir, v->number,
             ++cc->stages);
    if (ckv_write_dir(v, cc->loading_dir, e) < 0) {
        reload_rmtree(cc->loading_dir);
        cc->loading_dir[0] = '\0';
        return -1;
    }
    snprintf(cc->loading_digest, sizeof cc->loading_digest, "%s", v->digest);
    return 0;
}

/* The loading version now serves. */
static void cc_serve_loaded(center *cc, uint64_t n)
{
    if (cc->serving_dir[0] != '\0' &&
        strcmp(cc->serving_dir, cc->loading_dir) != 0)
        reload_rmtree(cc->serving_dir);
    memcpy(cc->serving_dir, cc->loading_dir, sizeof cc->serving_dir);
    memcpy(cc->digest, cc->loading_digest, sizeof cc->digest);
    cc->loading_dir[0] = '\0';
    (void)n;
}

/* ---- connections ---- */

/* ac is dropped: the next tick frees it (never under its callback). */
static void cc_bury(center *cc, redisAsyncContext *ac)
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
static void cc_free_dead(center *cc)
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
static void cc_lost(center *cc, const redisAsyncContext *going,
                    const char *why)
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
static void cc_maybe_up(center *cc)
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
static center *cc_mine(redisAsyncContext *ac)
{
    center *cc = ac->data;

    if (cc->closing || ac != cc->cmd)
        return NULL;
    cc->pending--;
    cc->pending_since = clock_mono_ms();
    return cc;
}

/* An error reply r from Redis, or none at all: what to say. */
static int cc_failed(const redisReply *r, const char *what, char *why,
                     size_t len)
{
    if (r != NULL && r->type != REDIS_REPLY_ERROR)
        return 0;
    snprintf(why, len, "%s: %s", what, r ? r->str : "no reply");
    return 1;
}

/* Send a command on cmd, counted until its reply. */
static int cc_send(center *cc, redisCallbackFn *fn, int argc,
                   const char **argv, const size_t *lens)
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

static void cc_on_written(redisAsyncContext *ac, void *reply, void *priv)
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

static void cc_on_sub(redisAsyncContext *ac, void *reply, void *priv);

/* Open a new pair (from the tick only: nothing of ours is on the stack). */
static void cc_connect(center *cc)
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

/* ---- reading the pointer and loading versions ---- */

static void cc_on_loaded(master *m, void *arg, int ok, uint64_t generation,
                         const cJSON *errors, const cJSON *warnings);

/* Read version n's content (reply of HGETALL), write it under run_dir
 * and start its reload.  Every refusal is recorded. */
static void cc_load(center *cc, uint64_t n, const redisReply *r)
{
    master *m = cc->m;
    char pin_file[1200], acts[1200];
    ckv_version v;
    errs e = {0};
    cJSON *rec;
    reload_source src;

    if (ckv_from_reply(n, r, &v, &e) < 0 || cc_stage(cc, &v, &e) < 0) {
        cc_refuse(cc, n, cc_errs_json(cc, n, &e), cc_audit_begin(cc, n, &v),
                  "version_refused");
        goto out;
    }
    snprintf(acts, sizeof acts, "%s/activities", cc->loading_dir);
    snprintf(pin_file, sizeof pin_file, "%s/%s", cc->loading_dir,
             CKV_PINS_FILE);
    src = (reload_source){acts, v.pins ? pin_file : NULL, n};
    log_info("config center: loading version %" PRIu64 " (%zu activity "
             "file(s)%s, digest %.12s, published by %s)",
             n, v.nfiles, v.pins ? ", plugin pins" : "", v.digest,
             v.publisher ? v.publisher : "?");
    rec = cc_audit_begin(cc, n, &v);
    cc->loading = n;
    cc->audit = rec;
    /* The reload may end (refused) before it returns: state is set. */
    if (reload_start_from(m, "config center", &src, cc_on_loaded, cc) < 0) {
        int err = errno;
        cc->loading = 0;
        cc->audit = NULL;
        reload_rmtree(cc->loading_dir);
        cc->loading_dir[0] = '\0';
        if (err == EBUSY) {
            cJSON_Delete(rec); /* another reload: tried after it */
        } else {
            cJSON *errors = cJSON_CreateArray();
            char msg[256];
            snprintf(msg, sizeof msg, "cannot start the reload: %s",
                     strerror(err));
            cJSON_AddItemToArray(errors, cJSON_CreateString(msg));
            cc_refuse(cc, n, errors, rec, "reload_refused");
        }
    }
out:
    ckv_free(&v);
    errs_free(&e);
}

static void cc_on_loaded(master *m, void *arg, int ok, uint64_t generation,
                         const cJSON *errors, const cJSON *warnings)
{
    center *cc = arg;
    uint64_t n = cc->loading;
    cJSON *rec = cc->audit;

    (void)m;
    (void)warnings;
    cc->loading = 0;
    cc->audit = NULL;
    if (ok) {
        cc_serve_loaded(cc, n);
        cc->changed = 0;
        log_info("config center: version %" PRIu64 " serving (generation "
                 "%" PRIu64 ")",
                 n, generation);
        cc_audit_end(cc, rec, 1, "ok", NULL);
        cc_report(cc);
    } else {
        cJSON *arr = cJSON_CreateArray();
        const cJSON *it;
        char buf[2048];

        reload_rmtree(cc->loading_dir);
        cc->loading_dir[0] = '\0';
        cJSON_ArrayForEach(it, errors)
        {
            const char *msg = cJSON_GetStringValue(it);
            cc_shorten(cc, n, msg ? msg : "?", buf, sizeof buf);
            cJSON_AddItemToArray(arr, cJSON_CreateString(buf));
        }
        cc_refuse(cc, n, arr, rec, "reload_refused");
    }
    cc_kick(cc); /* the pointer may have moved on meanwhile */
}

static void cc_on_content(redisAsyncContext *ac, void *reply, void *priv)
{
    center *cc = cc_mine(ac);
    uint64_t n;
    char why[300];

    (void)priv;
    if (cc == NULL)
        return;
    n = cc->fetching;
    cc->fetching = 0;
    if (reply == NULL || n == 0)
        return;
    if (cc_failed(reply, "reading a version", why, sizeof why)) {
        log_warn("config center %s: %s", cc->shown, why);
        return; /* the next check tries again */
    }
    if (cc->m->rl != NULL || cc->m->starting || cc->m->stopping)
        return; /* likewise, once the reload is over */
    cc_load(cc, n, reply);
}

/* Read the content of the latest version when it should serve and
 * nothing is in the way. */
static void cc_maybe_load(center *cc)
{
    const master *m = cc->m;
    uint64_t n = cc->latest;
    char key[CKV_KEY_MAX];
    const char *argv[2] = {"HGETALL", key};

    if (n == 0 || (n == m->config_version && n != cc->changed) ||
        n == cc->skip || cc->fetching || cc->loading || m->rl != NULL ||
        m->starting || m->stopping || cc->cmd == NULL)
        return;
    ckv_version_key(key, m->c->cc_prefix, n);
    if (cc_send(cc, cc_on_content, 2, argv, NULL) == 0)
        cc->fetching = n;
}

static void cc_on_digest(redisAsyncContext *ac, void *reply, void *priv)
{
    center *cc = cc_mine(ac);
    const redisReply *r = reply;
    uint64_t n;

    (void)priv;
    if (cc == NULL || r == NULL || r->type != REDIS_REPLY_STRING)
        return;
    n = cc->m->config_version;
    if (n != 0 && n == cc->latest && strcmp(r->str, cc->digest) != 0 &&
        cc->changed != n) {
        log_warn("config center: version %" PRIu64 " in Redis is not the "
                 "version %" PRIu64 " serving (digest %.12s, not %.12s): "
                 "loading it",
                 n, n, r->str, cc->digest);
        cc->changed = n;
        cc_maybe_load(cc);
    }
}

/* Is the version serving still what Redis holds under its number? */
static void cc_ask_digest(center *cc, uint64_t n)
{
    char key[CKV_KEY_MAX];
    const char *argv[3] = {"HGET", key, "digest"};

    ckv_version_key(key, cc->m->c->cc_prefix, n);
    cc_send(cc, cc_on_digest, 3, argv, NULL);
}

static void cc_on_pointer(redisAsyncContext *ac, void *reply, void *priv)
{
    center *cc = cc_mine(ac);
    const redisReply *r = reply;
    uint64_t n = 0;
    char why[300];

    (void)priv;
    if (cc == NULL)
        return;
    cc->checking = 0;
    if (r == NULL)
        return;
    if (cc_failed(r, "reading the version pointer", why, sizeof why)) {
        cc_lost(cc, NULL, why);
        return;
    }
    if (r->type == REDIS_REPLY_STRING)
        n = strtoull(r->str, NULL, 10);
    cc->answered = 1;
    cc->last_answer_wall = clock_wall_ms();
    cc_maybe_up(cc);
    if (n != cc->latest && n != 0)
        log_info("config center: version %" PRIu64 " published", n);
    if (n == 0 && !cc->warned_empty)
        log_warn("config center %s: nothing published under \"%s\" yet",
                 cc->shown, cc->m->c->cc_prefix);
    cc->warned_empty = n == 0;
    cc->latest = n;
    if (n != 0 && n == cc->m->config_version)
        cc_ask_digest(cc, n);
    cc_maybe_load(cc);
    if (cc->recheck) {
        cc->recheck = 0;
        cc_kick(cc);
    }
}

/* Read the pointer now (and report): on a notification, on connecting,
 * every poll_ms. */
static void cc_check(center *cc)
{
    const char *argv[2] = {"GET", cc->k_pointer};

    if (cc->cmd == NULL)
        return;
    if (cc->checking) {
        cc->recheck = 1;
        return;
    }
    if (cc_send(cc, cc_on_pointer, 2, argv, NULL) == 0)
        cc->checking = 1;
    cc->next_check = clock_mono_ms() + cc->m->c->cc_poll_ms;
    cc_report(cc);
}

static void cc_on_sub(redisAsyncContext *ac, void *reply, void *priv)
{
    center *cc = ac->data;
    const redisReply *r = reply, *kind;
    char why[300];

    (void)priv;
    if (cc->closing || ac != cc->sub || r == NULL)
        return;
    if (cc_failed(r, "SUBSCRIBE", why, sizeof why)) {
        cc_lost(cc, NULL, why);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        (kind = r->element[0])->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(kind->str, "subscribe") == 0) {
        cc->subscribed = 1;
        cc_maybe_up(cc);
        cc_check(cc); /* whatever was published while we were away */
    } else if (strcmp(kind->str, "message") == 0) {
        log_debug("config center: notified of version %s",
                  r->element[2]->type == REDIS_REPLY_STRING
                      ? r->element[2]->str
                      : "?");
        cc_check(cc);
    }
}

/* ---- the node's report ---- */

static void cc_report(center *cc)
{
    const master *m = cc->m;
    char num[10][24], ttl[24], now_s[24], old_s[24];
    int64_t now = clock_wall_ms();
    int64_t ttl_ms = cc_ms_or(CC_REPORT_TTL_MIN_MS, 10 * m->c->cc_poll_ms);
    const char *hset[32];
    int n = 0;
    const char *expire[3] = {"PEXPIRE", cc->k_node, ttl};
    const char *zadd[4] = {"ZADD", cc->k_nodes, now_s, m->c->cc_node};
    const char *zrem[4] = {"ZREMRANGEBYSCORE", cc->k_nodes, "-inf", old_s};
    const struct {
        const char *field;
        int64_t v;
    } nums[] = {{CKV_NODE_VERSION, (int64_t)m->config_version},
                {CKV_NODE_LATEST, (int64_t)cc->latest},
                {CKV_NODE_LOADING,
                 (int64_t)(cc->loading ? cc->loading : cc->fetching)},
                {CKV_NODE_REJECTED, (int64_t)cc->rejected},
                {CKV_NODE_REJECTED_AT, cc->rejected_at},
                {CKV_NODE_UPDATED_AT, now},
                {CKV_NODE_POLL_MS, m->c->cc_poll_ms},
                {CKV_NODE_GENERATION, (int64_t)m->generation},
                {"pid", (int64_t)getpid()},
                {"started_at", cc->started_at}};

    if (cc->cmd == NULL)
        return;
    hset[n++] = "HSET";
    hset[n++] = cc->k_node;
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        snprintf(num[i], sizeof num[i], "%" PRId64, nums[i].v);
        hset[n++] = nums[i].field;
        hset[n++] = num[i];
    }
    hset[n++] = CKV_NODE_DIGEST;
    hset[n++] = cc->digest;
    hset[n++] = CKV_NODE_REASON;
    hset[n++] = cc->reason ? cc->reason : "";
    hset[n++] = "amsd_version";
    hset[n++] = AMSD_VERSION;
    snprintf(ttl, sizeof ttl, "%" PRId64, ttl_ms);
    snprintf(now_s, sizeof now_s, "%" PRId64, now);
    snprintf(old_s, sizeof old_s, "(%" PRId64,
             now - (int64_t)CC_NODES_FORGET_MS);
    cc_send(cc, cc_on_written, n, hset, NULL);
    cc_send(cc, cc_on_written, 3, expire, NULL);
    cc_send(cc, cc_on_written, 4, zadd, NULL);
    cc_send(cc, cc_on_written, 4, zrem, NULL);
}

/* ---- the clock ---- */

static void cc_on_tick(evutil_socket_t fd, short what, void *arg)
{
    center *cc = arg;
    const master *m = cc->m;
    int64_t now = clock_mono_ms(), timeout = m->c->cc_timeout_ms;
    char why[128];

    (void)fd;
    (void)what;
    cc_free_dead(cc);
    if ((cc->cmd != NULL || cc->sub != NULL) && cc->link != CC_UP &&
        now - cc->connect_at > timeout) {
        snprintf(why, sizeof why, "no connection within %" PRId64 " ms",
                 timeout);
        cc_lost(cc, NULL, why);
    } else if (cc->pending > 0 && now - cc->pending_since > timeout) {
        snprintf(why, sizeof why, "no answer within %" PRId64 " ms", timeout);
        cc_lost(cc, NULL, why);
    }
    cc_free_dead(cc);
    if (m->stopping)
        return;
    if (cc->cmd == NULL && cc->sub == NULL && now >= cc->next_connect)
        cc_connect(cc);
    if (cc->link == CC_UP && now >= cc->next_check)
        cc_check(cc);
    cc_maybe_load(cc);
}

static void cc_on_kick(evutil_socket_t fd, short what, void *arg)
{
    center *cc = arg;

    cc->next_check = 0;
    cc_on_tick(fd, what, arg);
}

/* Check now, from the loop (never inside the caller). */
static void cc_kick(center *cc)
{
    if (cc->kick != NULL)
        event_active(cc->kick, EV_TIMEOUT, 0);
}

/* ---- the start (blocking) ---- */

/* One blocking command; NULL (with why) on an error or no reply. */
static redisReply *cc_sync_cmd(redisContext *rc, int argc, const char **argv,
                               const char *what, char *why, size_t len)
{
    redisReply *r = redisCommandArgv(rc, argc, argv, NULL);

    if (r == NULL) {
        snprintf(why, len, "%s: %s", what, rc->errstr);
        return NULL;
    }
    if (cc_failed(r, what, why, len)) {
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* A blocking connection for the start: at most timeout_ms to connect and
 * for each command.  NULL with the reason in why. */
static redisContext *cc_sync_open(center *cc, char *why, size_t len)
{
    struct timeval tv = cc_tv(cc->m->c->cc_timeout_ms);
    redisContext *rc = redisConnectWithTimeout(cc->uri.host, cc->uri.port, tv);
    const char *argv[3];
    char db[16];
    int argc = 0;
    redisReply *r;

    if (rc == NULL || rc->err) {
        snprintf(why, len, "cannot connect: %s",
                 rc ? rc->errstr : "out of memory");
        if (rc != NULL)
            redisFree(rc);
        return NULL;
    }
    redisSetTimeout(rc, tv);
    if (cc->uri.pass != NULL) {
        argv[argc++] = "AUTH";
        if (cc->uri.user != NULL)
            argv[argc++] = cc->uri.user;
        argv[argc++] = cc->uri.pass;
        r = cc_sync_cmd(rc, argc, argv, "refused the handshake", why, len);
        freeReplyObject(r);
        if (r == NULL) {
            redisFree(rc);
            return NULL;
        }
    }
    if (cc->uri.db != 0) {
        snprintf(db, sizeof db, "%d", cc->uri.db);
        argv[0] = "SELECT";
        argv[1] = db;
        r = cc_sync_cmd(rc, 2, argv, "SELECT", why, len);
        freeReplyObject(r);
        if (r == NULL) {
            redisFree(rc);
            return NULL;
        }
    }
    return rc;
}

/* Build the generation from acts in a child process, as `amsd -t` does
 * (the master itself never loads a plugin).  Every problem goes to e;
 * returns 0 when it built. */
static int cc_boot_check(center *cc, const char *acts, errs *e)
{
    master *m = cc->m;
    int fds[2], status = 0, r;
    char buf[4096], *out = NULL;
    size_t len = 0;
    FILE *mem;
    pid_t pid;
    int64_t deadline = clock_mono_ms() + CC_BOOT_CHECK_MS;

    if (pipe2(fds, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
        errs_add(e, NULL, 0, "cannot check the version: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        errs ce = {0};
        gen *g;
        char *text;

        close(fds[0]);
        log_role = "check";
        plugin_set_copy_dir(m->run_dir);
        g = gen_build_at(m->c, &svc_gen_host, m->c->plugins_dir, acts, 0, 1,
                         &ce);
        text = errs_join(&ce);
        if (text != NULL)
            fileio_write_all(fds[1], text, strlen(text));
        _exit(g == NULL || ce.nerrors > 0 ? 1 : 0);
    }
    close(fds[1]);
    mem = open_memstream(&out, &len);
    for (;;) {
        struct pollfd p = {fds[0], POLLIN, 0};
        int64_t left = deadline - clock_mono_ms();
        ssize_t n;

        if (left <= 0) {
            kill(pid, SIGKILL);
            errs_add(e, NULL, 0, "checking the version took more than %d s",
                     CC_BOOT_CHECK_MS / 1000);
            break;
        }
        if ((r = poll(&p, 1, (int)left)) < 0 && errno != EINTR)
            break;
        if (r <= 0)
            continue;
        if ((n = read(fds[0], buf, sizeof buf)) > 0 && mem != NULL)
            fwrite(buf, 1, (size_t)n, mem);
        else if (n == 0 || errno != EINTR)
            break;
    }
    close(fds[0]);
    if (mem != NULL)
        fclose(mem);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        free(out);
        return 0;
    }
    for (char *line = out ? strtok(out, "\n") : NULL; line != NULL;
         line = strtok(NULL, "\n"))
        errs_add(e, NULL, 0, "%s", line);
    if (WIFSIGNALED(status))
        errs_add(e, NULL, 0,
                 "checking the version crashed (signal %d: %s): "
                 "a plugin's load or init crashed",
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (e->nerrors == 0)
        errs_add(e, NULL, 0, "the check failed (status %d)",
                 WEXITSTATUS(status));
    free(out);
    return -1;
}

/* Version n (its HGETALL reply r) written under run_dir, its pins and
 * its activities checked as the workers would check them: 0, or -1 with
 * every problem in e. */
static int cc_boot_stage(center *cc, uint64_t n, const redisReply *r,
                         ckv_version *v, errs *e)
{
    const conf *c = cc->m->c;
    char path[1200];

    if (ckv_from_reply(n, r, v, e) < 0 || cc_stage(cc, v, e) < 0)
        return -1;
    snprintf(path, sizeof path, "%s/%s", cc->loading_dir, CKV_PINS_FILE);
    if (v->pins != NULL &&
        pins_verify_file(path, c->plugins_dir, c->plugins_dir, e) < 0)
        return -1;
    snprintf(path, sizeof path, "%s/activities", cc->loading_dir);
    return cc_boot_check(cc, path, e);
}

/* Try to start on version n: 0 when it passed and is now m's source; a
 * refusal is logged and audited, and recorded as this node's when
 * latest (a fallback's is not: the latest is what status asks about);
 * -1 also when Redis failed. */
static int cc_boot_try(center *cc, redisContext *rc, uint64_t n, int latest)
{
    master *m = cc->m;
    char key[CKV_KEY_MAX], why[300];
    const char *argv[2] = {"HGETALL", key};
    redisReply *r;
    ckv_version v;
    errs e = {0};
    cJSON *rec;
    int ok;

    ckv_version_key(key, m->c->cc_prefix, n);
    if ((r = cc_sync_cmd(rc, 2, argv, "reading a version", why, sizeof why)) ==
        NULL) {
        log_warn("config center %s: %s", cc->shown, why);
        return -1;
    }
    ok = cc_boot_stage(cc, n, r, &v, &e) == 0;
    rec = cc_audit_begin(cc, n, &v);
    if (ok) {
        snprintf(m->src_activities, sizeof m->src_activities, "%s/activities",
                 cc->loading_dir);
        if (v.pins != NULL)
            snprintf(m->src_pins, sizeof m->src_pins, "%s/%s", cc->loading_dir,
                     CKV_PINS_FILE);
        m->config_version = n;
        cc_serve_loaded(cc, n);
        log_info("config center %s: starting on version %" PRIu64
                 " (%zu activity file(s), digest %.12s)",
                 cc->shown, n, v.nfiles, v.digest);
        cc_audit_end(cc, rec, 1, "ok", NULL);
    } else {
        cJSON *errors = cc_errs_json(cc, n, &e);
        if (cc->loading_dir[0] != '\0')
            reload_rmtree(cc->loading_dir);
        cc->loading_dir[0] = '\0';
        if (latest) {
            cc_refuse(cc, n, errors, rec, "version_refused");
        } else {
            cc_refusal_log(cc, n, errors, rec, "version_refused");
            cJSON_Delete(errors);
        }
    }
    ckv_free(&v);
    errs_free(&e);
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/* The versions to fall back on when the latest is refused at start:
 * the one this node served before (its last report), then the kept ones
 * below the latest, newest first; at most CC_BOOT_FALLBACKS, into out.
 * Returns how many. */
static size_t cc_fallbacks(center *cc, redisContext *rc, uint64_t latest,
                           uint64_t *out)
{
    const conf *c = cc->m->c;
    char key[CKV_KEY_MAX], vkey[CKV_KEY_MAX];
    const char *hget[3] = {"HGET", key, CKV_NODE_VERSION};
    const char *range[4] = {"ZREVRANGE", vkey, "0", "-1"};
    redisReply *r;
    size_t n = 0;

    ckv_node_key(key, c->cc_prefix, c->cc_node);
    if ((r = redisCommandArgv(rc, 3, hget, NULL)) != NULL) {
        uint64_t v =
            r->type == REDIS_REPLY_STRING ? strtoull(r->str, NULL, 10) : 0;
        if (v != 0 && v != latest)
            out[n++] = v;
        freeReplyObject(r);
    }
    ckv_key(vkey, c->cc_prefix, CKV_VERSIONS);
    if ((r = redisCommandArgv(rc, 4, range, NULL)) == NULL)
        return n;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements &&
                       n < CC_BOOT_FALLBACKS;
         i++) {
        uint64_t v = strtoull(r->element[i]->str, NULL, 10);
        if (v != 0 && v < latest && (n == 0 || v != out[0]))
            out[n++] = v;
    }
    freeReplyObject(r);
    return n;
}

void center_boot(master *m)
{
    center *cc = m->center;
    char why[300];
    const char *get[2] = {"GET", NULL};
    uint64_t latest = 0, fallback[CC_BOOT_FALLBACKS];
    size_t nfallback, i;
    redisContext *rc;
    redisReply *r;

    if (cc == NULL)
        return;
    get[1] = cc->k_pointer;
    if ((rc = cc_sync_open(cc, why, sizeof why)) == NULL ||
        (r = cc_sync_cmd(rc, 2, get, "reading the version pointer", why,
                         sizeof why)) == NULL) {
        log_warn("config center %s: %s: starting on the local activities "
                 "(%s), trying again in the background",
                 cc->shown, why, m->c->activities_dir);
        snprintf(cc->link_error, sizeof cc->link_error, "%s", why);
        if (rc != NULL)
            redisFree(rc);
        return;
    }
    if (r->type == REDIS_REPLY_STRING)
        latest = strtoull(r->str, NULL, 10);
    freeReplyObject(r);
    cc->latest = latest;
    if (latest == 0) {
        cc->warned_empty = 1;
        log_warn("config center %s: nothing published under \"%s\" yet: "
                 "starting on the local activities (%s)",
                 cc->shown, m->c->cc_prefix, m->c->activities_dir);
    } else if (cc_boot_try(cc, rc, latest, 1) < 0) {
        nfallback = cc_fallbacks(cc, rc, latest, fallback);
        for (i = 0; i < nfallback; i++)
            if (cc_boot_try(cc, rc, fallback[i], 0) == 0)
                break;
        if (i == nfallback)
            log_warn("config center %s: starting on the local activities "
                     "(%s) instead",
                     cc->shown, m->c->activities_dir);
    }
    redisFree(rc);
}

/* ---- life cycle and state ---- */

int center_open(master *m)
{
    const conf *c = m->c;
    const char *why;
    center *cc;

    if (c->cc_redis == NULL)
        return 0;
    if ((cc = calloc(1, sizeof *cc)) == NULL) {
        log_error("config center: out of memory");
        return -1;
    }
    cc->m = m;
    if (ruri_parse(c->cc_redis, &cc->uri, &why) < 0 ||
        (c->cc_password != NULL &&
         ruri_set_auth(&cc->uri, c->cc_user, c->cc_password) < 0)) {
        log_error("config center: config_center.redis: %s",
                  c->cc_password ? "out of memory" : why);
        ruri_free(&cc->uri);
        free(cc);
        return -1;
    }
    ruri_display(&cc->uri, cc->shown, sizeof cc->shown);
    ckv_key(cc->k_pointer, c->cc_prefix, CKV_POINTER);
    ckv_key(cc->k_channel, c->cc_prefix, CKV_CHANNEL);
    ckv_key(cc->k_nodes, c->cc_prefix, CKV_NODES);
    ckv_node_key(cc->k_node, c->cc_prefix, c->cc_node);
    cc->started_at = clock_wall_ms();
    cc->link = CC_DOWN;
    m->center = cc;
    return 0;
}

int center_run(master *m)
{
    center *cc = m->center;
    struct timeval tv = cc_tv(CC_TICK_MS);

    if (cc == NULL)
        return 0;
    cc->tick = event_new(m->base, -1, EV_PERSIST, cc_on_tick, cc);
    cc->kick = event_new(m->base, -1, 0, cc_on_kick, cc);
    if (cc->tick == NULL || cc->kick == NULL || event_add(cc->tick, &tv) < 0) {
        log_error("config center: cannot set up its timers");
        return -1;
    }
    cc_kick(cc);
    return 0;
}

void center_after_reload(master *m)
{
    center *cc = m->center;

    if (cc == NULL || cc->loading != 0)
        return;
    if (cc->skip != 0)
        log_info("config center: after a local reload, version %" PRIu64
                 " (refused before) is tried again",
                 cc->skip);
    cc->skip = 0;
    cc_kick(cc);
}

static const char *cc_link_name(const center *cc)
{
    return cc->link == CC_UP           ? "connected"
           : cc->link == CC_CONNECTING ? "connecting"
                                       : "unreachable";
}

cJSON *center_health(const master *m)
{
    const center *cc = m->center;
    cJSON *j = cJSON_CreateObject();

    cJSON_AddNumberToObject(j, "version", (double)m->config_version);
    cJSON_AddStringToObject(j, "source",
                            m->config_version ? "center" : "local");
    if (cc == NULL) {
        cJSON_AddStringToObject(j, "center", "off");
        return j;
    }
    cJSON_AddStringToObject(j, "center", cc_link_name(cc));
    cJSON_AddNumberToObject(j, "latest", (double)cc->latest);
    if (cc->loading || cc->fetching)
        cJSON_AddNumberToObject(
            j, "loading", (double)(cc->loading ? cc->loading : cc->fetching));
    if (cc->rejected)
        cJSON_AddNumberToObject(j, "rejected", (double)cc->rejected);
    return j;
}

cJSON *center_describe(const master *m)
{
    const center *cc = m->center;
    cJSON *j = center_health(m), *lines;

    cJSON_AddNumberToObject(j, "code", 200);
    cJSON_AddStringToObject(j, "reason", "ok");
    if (cc == NULL)
        return j;
    cJSON_AddStringToObject(j, "redis", cc->shown);
    cJSON_AddStringToObject(j, "prefix", m->c->cc_prefix);
    cJSON_AddStringToObject(j, "node", m->c->cc_node);
    cJSON_AddNumberToObject(j, "poll_ms", (double)m->c->cc_poll_ms);
    cJSON_AddNumberToObject(j, "timeout_ms", (double)m->c->cc_timeout_ms);
    if (cc->link_error[0] != '\0')
        cJSON_AddStringToObject(j, "error", cc->link_error);
    if (cc->last_answer_wall > 0)
        cJSON_AddNumberToObject(j, "last_answer_ms",
                                (double)cc->last_answer_wall);
    cJSON_AddStringToObject(j, "digest", cc->digest);
    if (cc->skip != 0)
        cJSON_AddNumberToObject(j, "skipping", (double)cc->skip);
    if (cc->rejected != 0) {
        char *copy = strdup(cc->reason ? cc->reason : "");
        lines = cJSON_AddArrayToObject(j, "rejected_reason");
        for (char *l = copy ? strtok(copy, "\n") : NULL; l != NULL;
             l = strtok(NULL, "\n"))
            cJSON_AddItemToArray(lines, cJSON_CreateString(l));
        free(copy);
        cJSON_AddNumberToObject(j, "rejected_at", (double)cc->rejected_at);
    }
    return j;
}

void center_free(master *m)
{
    center *cc = m->center;

    if (cc == NULL)
        return;
    cc->closing = 1; /* callbacks run by the frees below do nothing */
    cc_bury(cc, cc->cmd);
    cc_bury(cc, cc->sub);
    cc->cmd = cc->sub = NULL;
    cc_free_dead(cc);
    if (cc->tick != NULL)
        event_free(cc->tick);
    if (cc->kick != NULL)
        event_free(cc->kick);
    cJSON_Delete(cc->audit);
    free(cc->reason);
    ruri_free(&cc->uri);
    free(cc);
    m->center = NULL;
}
