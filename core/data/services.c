/*
 * services.c -- the ams_host table: what plugin code can ask of the host.
 *
 * Every function validates its arguments (a plugin bug becomes AMS_ERR and
 * a log line, not a crash of the worker) and maps the plugin's (scope, key)
 * to a host-namespaced store key, so a plugin can reach only the data of
 * the activity and user it is serving.
 */
#include "services.h"

#include "coro.h"
#include "degrade.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "text.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

svc_env svc;

#define DAY_MS 86400000LL

void svc_seed(uint64_t seed)
{
    if (seed == 0 && getrandom(&seed, sizeof seed, 0) != sizeof seed)
        seed = (uint64_t)clock_wall_ms() ^ (uint64_t)clock_mono_ms() << 20;
    svc.rng = seed;
}

/* splitmix64: small, fast, and good enough for odds; not for secrets. */
uint64_t svc_random_u64(void)
{
    uint64_t z = (svc.rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t host_random_u64(ams_ctx *ctx)
{
    (void)ctx;
    return svc_random_u64();
}

int64_t svc_now(ams_ctx *ctx)
{
    if (ctx == NULL || ctx->req == NULL)
        return clock_wall_ms();
    return ctx->req->clock_base_ms +
           (clock_mono_ms() - ctx->req->mono_start_ms);
}

static void host_log(ams_ctx *ctx, ams_log_level level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (level < AMS_LOG_ERROR || level > AMS_LOG_DEBUG)
        level = AMS_LOG_INFO;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ctx != NULL && ctx->req == NULL && ctx->inst != NULL &&
        level <= AMS_LOG_WARN) {
        /* init: the loader reports it at the instance's file:line */
        snprintf(ctx->init_log, sizeof ctx->init_log, "%.255s", msg);
        ctx->init_log_level = level;
        return;
    }
    if (ctx != NULL && ctx->inst != NULL && ctx->inst->act != NULL)
        log_msg(level, "%s (activity %lld): %s", ctx->inst->ref,
                (long long)ctx->inst->act->id, msg);
    else if (ctx != NULL && ctx->inst != NULL)
        log_msg(level, "%s: %s", ctx->inst->ref, msg);
    else
        log_msg(level, "plugin: %s", msg);
}

static int64_t host_now_ms(ams_ctx *ctx)
{
    return svc_now(ctx);
}

#define REQ_STR(field)                                                        \
    static const char *host_##field(ams_ctx *ctx)                             \
    {                                                                         \
        return ctx && ctx->req && ctx->req->field ? ctx->req->field : "";     \
    }
REQ_STR(uid)
REQ_STR(request_id)
REQ_STR(client_ip)

static const char *host_method(ams_ctx *ctx)
{
    return ctx && ctx->req && ctx->req->m ? ctx->req->m->name : "";
}

static int64_t host_activity_id(ams_ctx *ctx)
{
    if (ctx != NULL && ctx->inst != NULL && ctx->inst->act != NULL)
        return ctx->inst->act->id;
    return 0;
}

static const char *host_req_json(ams_ctx *ctx)
{
    svc_req *r = ctx ? ctx->req : NULL;

    if (r == NULL || r->params == NULL)
        return "{}";
    if (r->params_json == NULL)
        r->params_json = json_print(r->params);
    return r->params_json ? r->params_json : "{}";
}

/* Typed reads shared by the request and configured params. */
static ams_status get_int(const cJSON *obj, const char *name, int64_t *out)
{
    const cJSON *v =
        obj && name ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
    if (v == NULL)
        return AMS_NOT_FOUND;
    if (!cJSON_IsNumber(v) ||
        v->valuedouble != (double)(int64_t)v->valuedouble)
        return AMS_ERR;
    if (out)
        *out = (int64_t)v->valuedouble;
    return AMS_OK;
}

static ams_status get_number(const cJSON *obj, const char *name, double *out)
{
    const cJSON *v =
        obj && name ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
    if (v == NULL)
        return AMS_NOT_FOUND;
    if (!cJSON_IsNumber(v))
        return AMS_ERR;
    if (out)
        *out = v->valuedouble;
    return AMS_OK;
}

static ams_status get_str(const cJSON *obj, const char *name, const char **out)
{
    const cJSON *v =
        obj && name ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
    if (v == NULL)
        return AMS_NOT_FOUND;
    if (!cJSON_IsString(v))
        return AMS_ERR;
    if (out)
        *out = v->valuestring;
    return AMS_OK;
}

static const cJSON *req_params(ams_ctx *ctx)
{
    return ctx && ctx->req ? ctx->req->params : NULL;
}

static const cJSON *conf_params(ams_ctx *ctx)
{
    return ctx && ctx->inst ? ctx->inst->params : NULL;
}

static ams_status host_req_int(ams_ctx *c, const char *n, int64_t *o)
{
    return get_int(req_params(c), n, o);
}
static ams_status host_req_number(ams_ctx *c, const char *n, double *o)
{
    return get_number(req_params(c), n, o);
}
static ams_status host_req_str(ams_ctx *c, const char *n, const char **o)
{
    return get_str(req_params(c), n, o);
}
static ams_status host_conf_int(ams_ctx *c, const char *n, int64_t *o)
{
    return get_int(conf_params(c), n, o);
}
static ams_status host_conf_number(ams_ctx *c, const char *n, double *o)
{
    return get_number(conf_params(c), n, o);
}
static ams_status host_conf_str(ams_ctx *c, const char *n, const char **o)
{
    return get_str(conf_params(c), n, o);
}

static ams_status host_conf_bool(ams_ctx *c, const char *n, int *o)
{
    const cJSON *p = conf_params(c);
    const cJSON *v = p && n ? cJSON_GetObjectItemCaseSensitive(p, n) : NULL;

    if (v == NULL)
        return AMS_NOT_FOUND;
    if (!cJSON_IsBool(v))
        return AMS_ERR;
    if (o)
        *o = cJSON_IsTrue(v);
    return AMS_OK;
}

static size_t host_conf_count(ams_ctx *c, const char *n)
{
    const cJSON *p = conf_params(c);
    const cJSON *v = p && n ? cJSON_GetObjectItemCaseSensitive(p, n) : NULL;
    return cJSON_IsArray(v) ? (size_t)cJSON_GetArraySize(v) : 0;
}

static ams_status host_conf_item(ams_ctx *c, const char *n, size_t i,
                                 const char **o)
{
    const cJSON *p = conf_params(c);
    const cJSON *v = p && n ? cJSON_GetObjectItemCaseSensitive(p, n) : NULL;
    const cJSON *it;

    if (!cJSON_IsArray(v) || i >= (size_t)cJSON_GetArraySize(v))
        return AMS_NOT_FOUND;
    it = cJSON_GetArrayItem(v, (int)i);
    if (!cJSON_IsString(it))
        return AMS_ERR;
    if (o)
        *o = it->valuestring;
    return AMS_OK;
}

/* JSON text of a configured param, cached on the instance so the string
 * lives as long as the instance does. */
static const char *host_conf_json(ams_ctx *c, const char *n)
{
    instance *in = c ? c->inst : NULL;
    const cJSON *v =
        in && n ? cJSON_GetObjectItemCaseSensitive(in->params, n) : NULL;
    const cJSON *cached;
    char *text;

    if (v == NULL)
        return NULL;
    if (in->json_cache == NULL &&
        (in->json_cache = cJSON_CreateObject()) == NULL)
        return NULL;
    cached = cJSON_GetObjectItemCaseSensitive(in->json_cache, n);
    if (cJSON_IsString(cached))
        return cached->valuestring;
    text = json_print(v);
    if (text == NULL)
        return NULL;
    cached = cJSON_AddStringToObject(in->json_cache, n, text);
    free(text);
    return cJSON_IsString(cached) ? cached->valuestring : NULL;
}

static void *host_state(ams_ctx *c)
{
    return c && c->inst ? c->inst->state : NULL;
}

static ams_status host_set_reason(ams_ctx *c, const char *reason)
{
    size_t n = 0;

    if (c == NULL || reason == NULL)
        return AMS_ERR;
    for (; reason[n] != '\0'; n++) {
        char ch = reason[n];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_'))
            break;
    }
    if (n == 0 || n >= sizeof c->reason || reason[n] != '\0') {
        host_log(c, AMS_LOG_WARN,
                 "set_reason: \"%.80s\" is not [a-z0-9_]{1,63}", reason);
        return AMS_ERR;
    }
    memcpy(c->reason, reason, n + 1);
    return AMS_OK;
}

static ams_status reply_put(ams_ctx *c, const char *key, cJSON *v)
{
    cJSON *data = c && c->req ? c->req->data : NULL;

    if (v == NULL)
        return AMS_ERR_NOMEM;
    if (data == NULL || key == NULL || key[0] == '\0') {
        cJSON_Delete(v);
        return AMS_ERR;
    }
    if (cJSON_GetObjectItemCaseSensitive(data, key) != NULL)
        cJSON_ReplaceItemInObjectCaseSensitive(data, key, v);
    else
        cJSON_AddItemToObject(data, key, v);
    return AMS_OK;
}

static ams_status host_reply_int(ams_ctx *c, const char *k, int64_t v)
{
    return reply_put(c, k, cJSON_CreateNumber((double)v));
}
static ams_status host_reply_number(ams_ctx *c, const char *k, double v)
{
    return reply_put(c, k, cJSON_CreateNumber(v));
}
static ams_status host_reply_str(ams_ctx *c, const char *k, const char *v)
{
    if (v == NULL)
        return AMS_ERR;
    return reply_put(c, k, cJSON_CreateString(v));
}
static ams_status host_reply_json(ams_ctx *c, const char *k, const char *json)
{
    cJSON *v = json ? cJSON_Parse(json) : NULL;
    if (v == NULL) {
        host_log(c, AMS_LOG_WARN, "reply_json(\"%s\"): not valid JSON",
                 k ? k : "");
        return AMS_ERR;
    }
    return reply_put(c, k, v);
}

/* ---- store keys ---- */

/* The namespaced key for (scope, key, period) into out; the hash tag in
 * braces keeps one activity's keys on one Redis Cluster shard.  *expire
 * gets the end of the period plus a grace day (0 for no period).  Also the
 * one place that checks a store is there, so every store call below is
 * "make the key, then call the backend". */
static ams_status make_key(ams_ctx *c, const char *fn, ams_scope scope,
                           const char *key, ams_period period, char *out,
                           size_t outlen, int64_t *expire)
{
    const char *uid;
    int64_t id, now;
    tbuf b = TBUF(out, outlen);

    *expire = 0;
    if (c == NULL || c->req == NULL) {
        host_log(c, AMS_LOG_ERROR,
                 "%s: the store is only available while "
                 "serving a request",
                 fn);
        return AMS_ERR;
    }
    if (!svc_key_ok(key)) {
        host_log(c, AMS_LOG_ERROR,
                 "%s: key must be 1..%d printable ASCII "
                 "characters without spaces",
                 fn, SVC_KEY_MAX);
        return AMS_ERR;
    }
    id = host_activity_id(c);
    uid = host_uid(c);
    if ((scope == AMS_SCOPE_USER || scope == AMS_SCOPE_CROWD) && uid[0] == 0) {
        host_log(c, AMS_LOG_ERROR, "%s: user scope needs a uid", fn);
        return AMS_ERR;
    }
    /* Built with tbuf (text.h): snprintf cost more than the store call
     * the key is for. */
    switch (scope) {
    case AMS_SCOPE_ACTIVITY: /* "{a<id>}g:<key>" */
        tbuf_mem(&b, "{a", 2);
        tbuf_int(&b, (long long)id);
        tbuf_mem(&b, "}g:", 3);
        tbuf_str(&b, key);
        break;
    case AMS_SCOPE_USER: /* "{a<id>}u<len(uid)>:<uid>:<key>" */
        tbuf_mem(&b, "{a", 2);
        tbuf_int(&b, (long long)id);
        tbuf_mem(&b, "}u", 2);
        tbuf_int(&b, (long long)strlen(uid));
        tbuf_mem(&b, ":", 1);
        tbuf_str(&b, uid);
        tbuf_mem(&b, ":", 1);
        tbuf_str(&b, key);
        break;
    case AMS_SCOPE_CROWD:
        if (svc_crowd_key(out, outlen, uid, key) < 0)
            return AMS_ERR;
        b.n = strlen(out);
        break;
    default:
        host_log(c, AMS_LOG_ERROR, "%s: unknown scope %d", fn, (int)scope);
        return AMS_ERR;
    }
    if (period == AMS_PERIOD_DAY) {
        now = svc_now(c);
        int64_t day = svc_day(c->inst ? c->inst->act : NULL, now, expire);
        tbuf_mem(&b, "@d", 2);
        tbuf_int(&b, (long long)day);
    } else if (period != AMS_PERIOD_NONE) {
        host_log(c, AMS_LOG_ERROR, "%s: unknown period %d", fn, (int)period);
        return AMS_ERR;
    }
    if (tbuf_end(&b) < 0)
        return AMS_ERR;
    if (svc.st == NULL) {
        host_log(c, AMS_LOG_ERROR, "%s: store unavailable", fn);
        return AMS_ERR_STORE;
    }
    return AMS_OK;
}

/* The request's write set, or NULL when calls go to the store itself. */
static svc_ws *ws_of(const ams_ctx *c)
{
    return c != NULL && c->req != NULL ? c->req->ws : NULL;
}

/* An entry declared read-only that tries to write: refused, so that the
 * declaration (no session lock, nothing committed) can be trusted. */
static int writes_refused(ams_ctx *c, const char *fn)
{
    if (c == NULL || c->inst == NULL || c->inst->entry == NULL ||
        !c->inst->entry->readonly)
        return 0;
    host_log(c, AMS_LOG_ERROR,
             "%s: the entry is declared read-only (AMS_EF_READONLY) and "
             "may not write",
             fn);
    return 1;
}

static ams_status host_counter_add(ams_ctx *c, ams_scope scope,
                                   const char *key, ams_period period,
                                   int64_t delta, int64_t lo, int64_t hi,
                                   int64_t *out)
{
    char k[STORE_KEY_MAX];
    int64_t exp;
    store_journal jb;
    ams_status st =
        make_key(c, "counter_add", scope, key, period, k, sizeof k, &exp);
    if (st != AMS_OK)
        return st;
    if (lo > hi || writes_refused(c, "counter_add"))
        return AMS_ERR;
    if (ws_of(c) != NULL)
        /* Exact for what only its user contends for: the value told to
         * the plugin is then the one committed. */
        return ws_counter_add(ws_of(c), k, delta, lo, hi, exp, svc_now(c), out,
                              out != NULL && scope != AMS_SCOPE_ACTIVITY);
    return store_counter_add_j(svc.st, k, delta, lo, hi, exp, svc_now(c), out,
                               svc_req_journal(c->req, &jb));
}

static ams_status host_counter_get(ams_ctx *c, ams_scope scope,
                                   const char *key, ams_period period,
                                   int64_t *out)
{
    char k[STORE_KEY_MAX];
    int64_t exp, v = 0;
    ams_status st =
        make_key(c, "counter_get", scope, key, period, k, sizeof k, &exp);
    if (st != AMS_OK)
        return st;
    st = ws_of(c) != NULL ? ws_counter_get(ws_of(c), k, svc_now(c), &v)
                          : store_counter_get(svc.st, k, svc_now(c), &v);
    if (st == AMS_NOT_FOUND) {
        v = 0;
        st = AMS_OK;
    }
    if (out)
        *out = v;
    return st;
}

static ams_status host_lock(ams_ctx *c, ams_scope scope, const char *key,
                            int64_t ttl_ms, char token[AMS_TOKEN_LEN])
{
    char k[STORE_KEY_MAX];
    int64_t exp;
    ams_status st =
        make_key(c, "lock", scope, key, AMS_PERIOD_NONE, k, sizeof k, &exp);
    if (st != AMS_OK)
        return st;
    if (ttl_ms <= 0 || token == NULL || writes_refused(c, "lock"))
        return AMS_ERR;
    token[0] = '\0'; /* defined on failure: "" holds no lock */
    /* A lock whose holder died on this node, or whose request here could
     * not release it (the store was away), is taken over at once. */
    st = svc_host_lock_reclaim(c->req, k, ttl_ms);
    if (st == AMS_OK)
        memcpy(token, c->req->locks->token, AMS_TOKEN_LEN);
    return st;
}

static ams_status host_unlock(ams_ctx *c, ams_scope scope, const char *key,
                              const char *token)
{
    char k[STORE_KEY_MAX];
    int64_t exp;
    ams_status st =
        make_key(c, "unlock", scope, key, AMS_PERIOD_NONE, k, sizeof k, &exp);
    if (st != AMS_OK)
        return st;
    if (token == NULL || writes_refused(c, "unlock"))
        return AMS_ERR;
    if (token[0] == '\0')
        return AMS_CONFLICT;
    st = store_lock_release(svc.st, k, token, svc_now(c));
    for (svc_lock **pp = &c->req->locks; *pp; pp = &(*pp)->next) {
        svc_lock *l = *pp;
        if (strcmp(l->key, k) == 0 && strcmp(l->token, token) == 0) {
            *pp = l->next;
            free(l->key);
            free(l);
            break;
        }
    }
    return st;
}

static int64_t ttl_to_expire(ams_ctx *c, int64_t ttl_ms)
{
    return ttl_ms > 0 ? svc_now(c) + ttl_ms : 0;
}

static ams_status host_tag_set(ams_ctx *c, ams_scope scope, const char *name,
                               const char *value, int64_t ttl_ms)
{
    char k[STORE_KEY_MAX];
    int64_t exp;
    ams_status st = make_key(c, "tag_set", scope, name, AMS_PERIOD_NONE, k,
                             sizeof k, &exp);
    if (st != AMS_OK)
        return st;
    if (value == NULL || writes_refused(c, "tag_set"))
        return AMS_ERR;
    if (ws_of(c) != NULL)
        return ws_tag_set(ws_of(c), k, value, strlen(value),
                          ttl_to_expire(c, ttl_ms), svc_now(c));
    return store_tag_set(svc.st, k, value, strlen(value),
                         ttl_to_expire(c, ttl_ms), svc_now(c));
}

static ams_status host_tag_get(ams_ctx *c, ams_scope scope, const char *name,
                               const char **out)
{
    char k[STORE_KEY_MAX], *v = NULL;
    size_t len;
    int64_t exp;
    ams_status st = make_key(c, "tag_get", scope, name, AMS_PERIOD_NONE, k,
                             sizeof k, &exp);
    if (st != AMS_OK)
        return st;
    st = ws_of(c) != NULL ? ws_tag_get(ws_of(c), k, svc_now(c), &v, &len)
                          : store_tag_get(svc.st, k, svc_now(c), &v, &len);
    if (st != AMS_OK)
        return st;
    if (svc_arena_keep(c->req, v) == NULL)
        return AMS_ERR_NOMEM;
    if (out)
        *out = v;
    return AMS_OK;
}

static ams_status host_tag_del(ams_ctx *c, ams_scope scope, const char *name)
{
    char k[STORE_KEY_MAX];
    int64_t exp;
    ams_status st = make_key(c, "tag_del", scope, name, AMS_PERIOD_NONE, k,
                             sizeof k, &exp);
    if (st != AMS_OK)
        return st;
    if (writes_refused(c, "tag_del"))
        return AMS_ERR;
    if (ws_of(c) != NULL)
        return ws_tag_del(ws_of(c), k, svc_now(c));
    return store_tag_del(svc.st, k, svc_now(c));
}

static ams_status host_value_get(ams_ctx *c, ams_scope scope, const char *key,
                                 const char **val, size_t *len,
                                 uint64_t *version)
{
    char k[STORE_KEY_MAX], *v = NULL;
    size_t l = 0;
    uint64_t ver = 0;
    int64_t exp;
    ams_status st = make_key(c, "value_get", scope, key, AMS_PERIOD_NONE, k,
                             sizeof k, &exp);
    if (st != AMS_OK)
        return st;
    st = ws_of(c) != NULL
             ? ws_value_get(ws_of(c), k, svc_now(c), &v, &l, &ver)
             : store_value_get(svc.st, k, svc_now(c), &v, &l, &ver);
    if (version)
        *version = st == AMS_OK ? ver : 0;
    if (st != AMS_OK)
        return st;
    if (svc_arena_keep(c->req, v) == NULL)
        return AMS_ERR_NOMEM;
    if (val)
        *val = v;
    if (len)
        *len = l;
    return AMS_OK;
}

static ams_status host_value_cas(ams_ctx *c, ams_scope scope, const char *key,
                                 uint64_t expect, const char *val, size_t len,
                                 int64_t ttl_ms, uint64_t *version)
{
    char k[STORE_KEY_MAX];
    int64_t exp;
    store_journal jb;
    ams_status st = make_key(c, "value_cas", scope, key, AMS_PERIOD_NONE, k,
                             sizeof k, &exp);
    if (st != AMS_OK)
        return st;
    if ((val == NULL && len > 0) || writes_refused(c, "value_cas"))
        return AMS_ERR;
    if (ws_of(c) != NULL)
        return ws_value_cas(ws_of(c), k, expect, val ? val : "", len,
                            ttl_to_expire(c, ttl_ms), svc_now(c), version);
    return store_value_cas_j(svc.st, k, expect, val ? val : "", len,
                             ttl_to_expire(c, ttl_ms), svc_now(c), version,
                             svc_req_journal(c->req, &jb));
}

static void wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    coro_resume(arg);
}

static ams_status host_sleep_ms(ams_ctx *c, int64_t ms)
{
    struct timeval tv;
    coro *self = coro_current();

    if (ms < 0 || ms > 3600 * 1000)
        return AMS_ERR;
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    if (svc.base == NULL || self == NULL) {
        /* No event loop (checker, conformance harness): blocking is fine. */
        struct timespec ts = {tv.tv_sec, tv.tv_usec * 1000};
        nanosleep(&ts, NULL);
        return AMS_OK;
    }
    if (event_base_once(svc.base, -1, EV_TIMEOUT, wake, self, &tv) < 0)
        return AMS_ERR;
    (void)c;
    coro_yield();
    return AMS_OK;
}

/* ---- resources, grants, ledger ---- */

static const char *host_resource_json(ams_ctx *c, const char *param)
{
    instance *in = c ? c->inst : NULL;
    const ams_param *spec;
    const cJSON *v, *group, *def, *cached;
    const char *gname = NULL;
    char cache_key[96];
    char *text;

    if (in == NULL || param == NULL || in->act == NULL)
        return NULL;
    for (spec = in->entry->spec->params; spec && spec->name; spec++)
        if (strcmp(spec->name, param) == 0)
            break;
    if (spec == NULL || spec->name == NULL)
        return NULL;
    gname = spec->type == AMS_T_POOL     ? "pools"
            : spec->type == AMS_T_COUPON ? "coupons"
            : spec->type == AMS_T_BUDGET ? "budgets"
                                         : NULL;
    v = cJSON_GetObjectItemCaseSensitive(in->params, param);
    if (gname == NULL || !cJSON_IsString(v))
        return NULL;
    group = cJSON_GetObjectItemCaseSensitive(in->act->resources, gname);
    def = cJSON_GetObjectItemCaseSensitive(group, v->valuestring);
    if (def == NULL)
        return NULL;
    /* '@' cannot start a param name, so the cache keys never collide. */
    snprintf(cache_key, sizeof cache_key, "@%s", param);
    if (in->json_cache == NULL &&
        (in->json_cache = cJSON_CreateObject()) == NULL)
        return NULL;
    cached = cJSON_GetObjectItemCaseSensitive(in->json_cache, cache_key);
    if (cJSON_IsString(cached))
        return cached->valuestring;
    text = json_print(def);
    if (text == NULL)
        return NULL;
    cached = cJSON_AddStringToObject(in->json_cache, cache_key, text);
    free(text);
    return cJSON_IsString(cached) ? cached->valuestring : NULL;
}

static ams_status host_declare_use(ams_ctx *c, const char *param,
                                   int64_t per_call)
{
    instance *in = c ? c->inst : NULL;
    struct inst_use *u;

    if (in == NULL || c->req != NULL || per_call < 0 ||
        host_resource_json(c, param) == NULL) {
        host_log(c, AMS_LOG_ERROR,
                 "declare_use(\"%s\"): only in init, for a "
                 "param naming a declared resource",
                 param ? param : "");
        return AMS_ERR;
    }
    u = realloc(in->uses, (in->nuses + 1) * sizeof *u);
    if (u == NULL)
        return AMS_ERR_NOMEM;
    in->uses = u;
    u[in->nuses].param = strdup(param);
    u[in->nuses].per_call = per_call;
    if (u[in->nuses].param == NULL)
        return AMS_ERR_NOMEM;
    in->nuses++;
    return AMS_OK;
}

static ams_status host_rule_constant(ams_ctx *c, int passes)
{
    if (c == NULL || c->inst == NULL || c->req != NULL ||
        c->inst->entry->spec->kind != AMS_RULE)
        return AMS_ERR;
    c->inst->constant = passes ? 1 : 0;
    return AMS_OK;
}

static ams_status host_grant(ams_ctx *c, const char *kind, const char *item,
                             int64_t amount, const char *extra_json)
{
    svc_req *r = c ? c->req : NULL;
    cJSON *g, *extra = NULL;

    if (r == NULL || kind == NULL || item == NULL || kind[0] == '\0' ||
        writes_refused(c, "grant"))
        return AMS_ERR;
    if (extra_json != NULL) {
        extra = cJSON_Parse(extra_json);
        if (!cJSON_IsObject(extra)) {
            cJSON_Delete(extra);
            host_log(c, AMS_LOG_WARN, "grant: extra is not a JSON object");
            return AMS_ERR;
        }
    }
    if (r->grants == NULL && (r->grants = cJSON_CreateArray()) == NULL) {
        cJSON_Delete(extra);
        return AMS_ERR_NOMEM;
    }
    g = cJSON_CreateObject();
    if (g == NULL) {
        cJSON_Delete(extra);
        return AMS_ERR_NOMEM;
    }
    cJSON_AddNumberToObject(g, "ts", (double)svc_now(c));
    cJSON_AddStringToObject(g, "method", r->m ? r->m->name : "");
    cJSON_AddStringToObject(g, "request_id",
                            r->request_id ? r->request_id : "");
    cJSON_AddStringToObject(g, "kind", kind);
    cJSON_AddStringToObject(g, "item", item);
    cJSON_AddNumberToObject(g, "amount", (double)amount);
    if (extra != NULL)
        cJSON_AddItemToObject(g, "extra", extra);
    cJSON_AddItemToArray(r->grants, g);
    return AMS_OK;
}

static ams_status host_ledger_json(ams_ctx *c, const char **out)
{
    cJSON *arr;
    char *text;
    ams_status st;

    if (c == NULL || c->req == NULL || out == NULL)
        return AMS_ERR;
    if ((st = svc_ledger_read(c->req, &arr)) != AMS_OK)
        return st;
    text = json_print(arr);
    cJSON_Delete(arr);
    if (text == NULL || svc_arena_keep(c->req, text) == NULL)
        return AMS_ERR_NOMEM;
    *out = text;
    return AMS_OK;
}

/* ---- leaderboards ---- */

static ams_status board_key(ams_ctx *c, const char *fn, const char *board,
                            char *out, size_t outlen)
{
    int64_t exp;
    return make_key(c, fn, AMS_SCOPE_ACTIVITY, board, AMS_PERIOD_NONE, out,
                    outlen, &exp);
}

static ams_status host_board_set(ams_ctx *c, const char *board, int64_t score)
{
    char k[STORE_KEY_MAX];
    ams_status st = board_key(c, "board_set", board, k, sizeof k);

    if (st != AMS_OK)
        return st;
    if (host_uid(c)[0] == '\0' || writes_refused(c, "board_set"))
        return AMS_ERR;
    if (degrade_off[DEGRADE_BOARD_UPDATES])
        return AMS_OK; /* turned off by an operator (degrade.h) */
    if (ws_of(c) != NULL)
        return ws_board_set(ws_of(c), k, host_uid(c), score, 0);
    return store_board_set(svc.st, k, host_uid(c), score, 0, svc_now(c));
}

static ams_status host_board_top(ams_ctx *c, const char *board, size_t n,
                                 const char **out)
{
    char k[STORE_KEY_MAX], *text;
    store_board_entry *e = NULL;
    size_t count = 0;
    cJSON *arr;
    ams_status st = board_key(c, "board_top", board, k, sizeof k);

    if (st != AMS_OK)
        return st;
    if (out == NULL || n > 10000)
        return AMS_ERR;
    st = store_board_top(svc.st, k, n, svc_now(c), &e, &count);
    if (st == AMS_NOT_FOUND) {
        *out = "[]";
        return AMS_OK;
    }
    if (st != AMS_OK)
        return st;
    arr = cJSON_CreateArray();
    for (size_t i = 0; arr != NULL && i < count; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "rank", (double)(i + 1));
        cJSON_AddStringToObject(o, "uid", e[i].member);
        cJSON_AddNumberToObject(o, "score", (double)e[i].score);
        cJSON_AddItemToArray(arr, o);
    }
    store_board_free(e, count);
    text = arr ? json_print(arr) : NULL;
    cJSON_Delete(arr);
    if (text == NULL || svc_arena_keep(c->req, text) == NULL)
        return AMS_ERR_NOMEM;
    *out = text;
    return AMS_OK;
}

static ams_status host_board_rank(ams_ctx *c, const char *board, int64_t *rank,
                                  int64_t *score)
{
    char k[STORE_KEY_MAX];
    int64_t r = 0, s = 0;
    ams_status st = board_key(c, "board_rank", board, k, sizeof k);

    if (st != AMS_OK)
        return st;
    if (host_uid(c)[0] == '\0')
        return AMS_NOT_FOUND;
    st = store_board_rank(svc.st, k, host_uid(c), svc_now(c), &r, &s);
    if (rank)
        *rank = st == AMS_OK ? r : 0;
    if (score)
        *score = st == AMS_OK ? s : 0;
    return st;
}

/* ---- notes ---- */

static void note_name(const ams_ctx *c, char out[32])
{
    snprintf(out, 32, "%p", (const void *)c->inst);
}

static ams_status host_note_set(ams_ctx *c, const char *text)
{
    char name[32];
    svc_req *r = c ? c->req : NULL;

    if (r == NULL || c->inst == NULL || text == NULL)
        return AMS_ERR;
    if (r->notes == NULL && (r->notes = cJSON_CreateObject()) == NULL)
        return AMS_ERR_NOMEM;
    note_name(c, name);
    cJSON_DeleteItemFromObjectCaseSensitive(r->notes, name);
    return cJSON_AddStringToObject(r->notes, name, text) ? AMS_OK
                                                         : AMS_ERR_NOMEM;
}

static ams_status host_note_get(ams_ctx *c, const char **out)
{
    char name[32];
    const cJSON *v;

    if (c == NULL || c->req == NULL || c->inst == NULL || out == NULL)
        return AMS_ERR;
    note_name(c, name);
    v = cJSON_GetObjectItemCaseSensitive(c->req->notes, name);
    if (!cJSON_IsString(v))
        return AMS_NOT_FOUND;
    *out = v->valuestring;
    return AMS_OK;
}

static int host_tz_offset_min(ams_ctx *c)
{
    return c && c->inst && c->inst->act ? c->inst->act->tz_offset_min : 0;
}

ams_status svc_call(ams_entry_fn fn, ams_ctx *ctx)
{
    int64_t t0 = metrics_now_ns(); /* metrics: time inside the entry */
    ams_status st = fn(ctx);

    metrics_count_call(ctx ? ctx->inst : NULL, fn, metrics_now_ns() - t0);

    if (st < AMS_ERR_NOMEM || st > AMS_CONFLICT) {
        host_log(ctx, AMS_LOG_ERROR, "returned an unknown status %d", (int)st);
        return AMS_ERR;
    }
    return st;
}

const ams_host services_host = {
    .size = sizeof(ams_host),
    .abi_major = AMS_ABI_MAJOR,
    .abi_minor = AMS_ABI_MINOR,
    .log = host_log,
    .now_ms = host_now_ms,
    .random_u64 = host_random_u64,
    .uid = host_uid,
    .request_id = host_request_id,
    .client_ip = host_client_ip,
    .method = host_method,
    .activity_id = host_activity_id,
    .req_json = host_req_json,
    .req_int = host_req_int,
    .req_number = host_req_number,
    .req_str = host_req_str,
    .conf_int = host_conf_int,
    .conf_number = host_conf_number,
    .conf_str = host_conf_str,
    .conf_bool = host_conf_bool,
    .conf_count = host_conf_count,
    .conf_item = host_conf_item,
    .conf_json = host_conf_json,
    .state = host_state,
    .set_reason = host_set_reason,
    .reply_int = host_reply_int,
    .reply_number = host_reply_number,
    .reply_str = host_reply_str,
    .reply_json = host_reply_json,
    .counter_add = host_counter_add,
    .counter_get = host_counter_get,
    .lock = host_lock,
    .unlock = host_unlock,
    .tag_set = host_tag_set,
    .tag_get = host_tag_get,
    .tag_del = host_tag_del,
    .value_get = host_value_get,
    .value_cas = host_value_cas,
    .sleep_ms = host_sleep_ms,
    .resource_json = host_resource_json,
    .declare_use = host_declare_use,
    .rule_constant = host_rule_constant,
    .grant = host_grant,
    .ledger_json = host_ledger_json,
    .board_set = host_board_set,
    .board_top = host_board_top,
    .board_rank = host_board_rank,
    .note_set = host_note_set,
    .note_get = host_note_get,
    .tz_offset_min = host_tz_offset_min,
};

/* gen_host.init: an instance's init runs with a context of its own, which
 * keeps what it set and logged for the loader's message. */
static ams_status init_instance(instance *in, char *reason, size_t reason_len,
                                char *log, size_t log_len)
{
    ams_ctx ctx = {.req = NULL, .inst = in};
    ams_status st = in->entry->init(&ctx, &in->state);

    snprintf(reason, reason_len, "%s", ctx.reason);
    snprintf(log, log_len, "%s", ctx.init_log);
    return st;
}

const gen_host svc_gen_host = {.table = &services_host, .init = init_instance};
