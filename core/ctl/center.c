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

static void cc_kick(center *cc);
static void cc_report(center *cc);

/* What serves, for messages: "version 3 keeps serving", "the local
 * activities keep serving" (or, before anything serves, "at start"). */
const char *cc_serving(const center *cc, char *buf, size_t len)
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
cJSON *cc_errs_json(const center *cc, uint64_t n, const errs *e)
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
cJSON *cc_audit_begin(const center *cc, uint64_t n, const ckv_version *v)
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
void cc_audit_end(center *cc, cJSON *rec, int ok, const char *reason,
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
void cc_refusal_log(center *cc, uint64_t n, const cJSON *errors, cJSON *rec,
                    const char *code)
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
void cc_refuse(center *cc, uint64_t n, cJSON *errors, cJSON *rec,
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
int cc_stage(center *cc, const ckv_version *v, errs *e)
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
void cc_serve_loaded(center *cc, uint64_t n)
{
    if (cc->serving_dir[0] != '\0' &&
        strcmp(cc->serving_dir, cc->loading_dir) != 0)
        reload_rmtree(cc->serving_dir);
    memcpy(cc->serving_dir, cc->loading_dir, sizeof cc->serving_dir);
    memcpy(cc->digest, cc->loading_digest, sizeof cc->digest);
    cc->loading_dir[0] = '\0';
    (void)n;
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

void cc_on_sub(redisAsyncContext *ac, void *reply, void *priv)
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
