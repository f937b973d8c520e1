/*
 * gateway.c -- request parsing, routing and the per-request coroutine.
 *
 * Everything that can be checked without plugin code is checked here, so
 * a malformed request never reaches a plugin: path, method, body size
 * (evhttp enforces the limit with 413), JSON, and the uid / request_id /
 * params fields (reqparse.h), then a signed caller's signature
 * (signed.h), whose nonce the coroutine claims before the chain runs.
 */
#include "gateway.h"

#include "admission.h"
#include "blacklist.h"
#include "clock.h"
#include "cors.h"
#include "http.h"
#include "httpguard.h"
#include "ident.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "ratelimit.h"
#include "realip.h"
#include "reqparse.h"
#include "services.h"
#include "signed.h"
#include "text.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct job {
    gateway *gw;
    struct evhttp_request *req;
    gen *g; /* pinned for the life of the request */
    cJSON *body;
    svc_req sr;
    int64_t now_ms; /* X-AMS-Now, or -1 */
    int64_t t0_ns;  /* metrics: when gateway_handle took it */
    char ip[64];    /* copied: the connection may go before we answer */
    signed_hdr sg;  /* the signed caller (signed.h), app "" when none */
    char uid[IDENT_UID_MAX + 1]; /* as identified (ident.h) */
} job;

static void maybe_idle(gateway *gw)
{
    if (gw->busy == 0 && gw->running == 0 && gw->idle_cb != NULL)
        gw->idle_cb(gw->idle_ud);
}

static void job_done(gateway *gw)
{
    gw->busy--;
    maybe_idle(gw);
}

typedef struct task {
    gateway *gw;
    coro_fn fn;
    void *arg;
} task;

static void run_task(void *arg)
{
    task t = *(task *)arg;

    free(arg);
    t.fn(t.arg);
    job_done(t.gw);
}

int gateway_task(gateway *gw, coro_fn fn, void *arg)
{
    task *t = malloc(sizeof *t);
    coro *co = t ? coro_new(gw->pool, run_task, t) : NULL;

    if (co == NULL) {
        free(t);
        return -1;
    }
    *t = (task){gw, fn, arg};
    gw->busy++;
    coro_resume(co);
    return 0;
}

/* A request stays busy until libevent has written its reply out, so a
 * graceful stop never cuts a reply in half.  libevent signals that with
 * the request's completion callback, but not when the client resets
 * mid-write: then only the connection's close callback fires.  So each
 * connection with replies in flight gets a record holding their count,
 * and whichever callback comes first releases them. */
struct gateway_conn {
    struct evhttp_connection *evcon;
    gateway *gw;
    size_t pending;
    gateway_conn *next;
};

static size_t conn_bucket(const struct evhttp_connection *evcon)
{
    uintptr_t p = (uintptr_t)evcon;
    return (size_t)((p >> 4) ^ (p >> 14)) % GATEWAY_CONN_BUCKETS;
}

static void on_close(struct evhttp_connection *evcon, void *arg)
{
    gateway_conn *rec = arg, **pp;
    gateway *gw = rec->gw;

    for (pp = &gw->conns[conn_bucket(evcon)]; *pp != NULL; pp = &(*pp)->next)
        if (*pp == rec) {
            *pp = rec->next;
            break;
        }
    while (rec->pending > 0) {
        rec->pending--;
        job_done(gw);
    }
    free(rec);
}

static void on_complete(struct evhttp_request *req, void *arg)
{
    gateway_conn *rec = arg;

    (void)req;
    if (rec->pending > 0) {
        rec->pending--;
        job_done(rec->gw);
    }
}

/* The record of evcon, created (and its close callback set) on first use.
 * Owned by the gateway until the connection closes.  NULL when memory is
 * short. */
static gateway_conn *conn_rec(gateway *gw, struct evhttp_connection *evcon)
{
    size_t b = conn_bucket(evcon);
    gateway_conn *rec;

    for (rec = gw->conns[b]; rec != NULL; rec = rec->next)
        if (rec->evcon == evcon)
            return rec;
    rec = calloc(1, sizeof *rec);
    if (rec == NULL)
        return NULL;
    rec->evcon = evcon;
    rec->gw = gw;
    rec->next = gw->conns[b];
    gw->conns[b] = rec;
    httpguard_set_closecb(evcon, on_close, rec);
    return rec;
}

/* Account for a reply about to be handed to libevent (see gateway_conn):
 * returns 1 when the completion or close callback will release it, 0 when
 * the caller must (the client is gone, or no memory to track it). */
static int track(gateway *gw, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    gateway_conn *rec = evcon ? conn_rec(gw, evcon) : NULL;

    if (rec == NULL)
        return 0;
    rec->pending++;
    evhttp_request_set_on_complete_cb(req, on_complete, rec);
    return 1;
}

/* Answer with body (consumed). */
static void reply(gateway *gw, struct evhttp_request *req, int status,
                  cJSON *body)
{
    int tracked = track(gw, req);
    http_send_json(req, status, body);
    if (!tracked)
        job_done(gw);
}

/* Answer with a stored JSON text (consumed). */
static void reply_raw(gateway *gw, struct evhttp_request *req, int status,
                      char *text)
{
    int tracked = track(gw, req);
    http_send_text(req, status, text);
    free(text);
    if (!tracked)
        job_done(gw);
}

/* {"code":status,"reason":..,"message":..[,"request_id":..]}, the text
 * written directly: the same bytes as the cJSON tree printed, without
 * building and printing one for every refused request. */
static void reply_error(gateway *gw, struct evhttp_request *req, int status,
                        const char *reason, const char *rid, const char *msg)
{
    char storage[512];
    jbuf b;
    int tracked;

    jbuf_init(&b, storage, sizeof storage);
    json_put_lit(&b, "{\"code\":");
    json_put_int(&b, status);
    json_put_lit(&b, ",\"reason\":");
    json_put_string(&b, reason);
    json_put_lit(&b, ",\"message\":");
    json_put_string(&b, msg);
    if (rid != NULL) {
        json_put_lit(&b, ",\"request_id\":");
        json_put_string(&b, rid);
    }
    json_put_lit(&b, "}");
    tracked = track(gw, req);
    /* Out of memory: what http_send_json answers then. */
    http_send_text(req, b.failed ? 500 : status,
                   b.failed ? "{\"code\":500,\"reason\":\"internal\","
                              "\"message\":\"out of memory\"}"
                            : b.p);
    jbuf_free(&b);
    if (!tracked)
        job_done(gw);
}

static void job_free(job *j)
{
    svc_req_end(&j->sr);
    cJSON_Delete(j->body);
    gen_unref(j->g);
    free(j);
}

/* Metrics: one answered request.  aid 0 and m NULL when the route named
 * no known activity or method (the client's words are not labels). */
static void count(int64_t t0_ns, int64_t aid, const method *m,
                  const char *reason)
{
    metrics_count_request(aid, m ? m->name : "", reason,
                          metrics_now_ns() - t0_ns);
}

/* Metrics: the reason an answer carries (a replayed one is read back). */
static void answer_reason(const pipe_result *res, char out[64])
{
    cJSON *raw;
    const cJSON *r;

    if (res->reason[0] != '\0') {
        text_copy(out, 64, res->reason);
        return;
    }
    raw = res->raw ? cJSON_Parse(res->raw) : NULL;
    r = cJSON_GetObjectItemCaseSensitive(res->raw ? raw : res->body, "reason");
    text_copy(out, 64, cJSON_IsString(r) ? r->valuestring : "");
    cJSON_Delete(raw);
}

/* A signed request's nonce, claimed in the store before its chain runs
 * (signed.h): on every node sharing the store, a nonce is accepted once.
 * 0 to go on, -1 when j is answered. */
static int claim_nonce(job *j)
{
    ams_status st;
    cJSON *b;

    if (j->sg.app[0] == '\0')
        return 0;
    st = svc.st == NULL
             ? AMS_ERR_STORE
             : signed_nonce_claim(svc.st, &j->sg, svc_req_now(&j->sr),
                                  j->gw->c->signed_window_s);
    if (st == AMS_OK)
        return 0;
    if (st == AMS_CONFLICT) {
        reply_error(j->gw, j->req, 409, "replayed", j->sr.request_id,
                    "Authorization: this nonce was already used: a signed "
                    "request is accepted once; sign a retry anew (new nonce "
                    "and ts, same request_id)");
        count(j->t0_ns, j->sr.act->id, j->sr.m, "replayed");
        return -1;
    }
    /* Like the chain's store faults (pipeline.c): nothing was done. */
    b = cJSON_CreateObject();
    cJSON_AddNumberToObject(b, "code", 503);
    cJSON_AddStringToObject(b, "reason", "store_unavailable");
    cJSON_AddStringToObject(b, "message",
                            "the store is unavailable (during the nonce "
                            "check of a signed request)");
    cJSON_AddStringToObject(b, "request_id", j->sr.request_id);
    cJSON_AddStringToObject(b, "outcome", "none");
    reply(j->gw, j->req, 503, b);
    count(j->t0_ns, j->sr.act->id, j->sr.m, "store_unavailable");
    return -1;
}

/* Gateway checks that may wait on the store, before the chain: the rate
 * limits (ratelimit.h), which count every attempt that reaches them.
 * 1 when the request was answered (429) here. */
static int gate_refused(job *j)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(j->req);
    rl_verdict v;
    char msg[320];

    rl_check(&j->sr, &j->gw->c->rate_limits, &v);
    rl_headers(&v, out);
    if (!v.refused)
        return 0;
    rl_message(&v, msg, sizeof msg);
    reply_error(j->gw, j->req, 429, "rate_limited", j->sr.request_id, msg);
    count(j->t0_ns, j->sr.act->id, j->sr.m, "rate_limited");
    return 1;
}

/* The coroutine body: everything a plugin runs happens here.  It counts
 * in gw->running until it returns, not just until its reply: job_free()
 * may still wait on the store after the reply (releasing the session
 * lock), and a stop that freed the coroutine pool under it would crash
 * the worker. */
static void run_job(void *arg)
{
    job *j = arg;
    gateway *gw = j->gw;
    pipe_result res;
    char why[64];

    /* Rate limits before the nonce: a refused attempt does not spend the
     * caller's nonce. */
    if (!gate_refused(j) && claim_nonce(j) == 0) {
        pipeline_run(&j->sr, &res);
        answer_reason(&res, why); /* metrics: before the reply takes it */
        if (res.raw != NULL)
            reply_raw(j->gw, j->req, res.http_status, res.raw);
        else
            reply(j->gw, j->req, res.http_status, res.body);
        count(j->t0_ns, j->sr.act->id, j->sr.m, why);
    }
    /* Before job_free: it may release the last hold on the generation
     * that owns the activity. */
    admission_leave(j->sr.act);
    job_free(j);
    gw->running--;
    maybe_idle(gw);
}

static const char *str_member(const cJSON *o, const char *name,
                              const char *def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : def;
}

static int64_t test_clock(gateway *gw, struct evhttp_request *req)
{
    const char *h;
    char *end;
    long long v;

    if (!gw->c->clock_header)
        return -1;
    h = evhttp_find_header(evhttp_request_get_input_headers(req), "X-AMS-Now");
    if (h == NULL)
        return -1;
    v = strtoll(h, &end, 10);
    /* Bounded to year 9999 so clock arithmetic can never overflow. */
    return (*end == '\0' && end != h && v >= 0 && v <= 253402300799999LL) ? v
                                                                          : -2;
}

static job *make_job(gateway *gw, struct evhttp_request *req, method *m,
                     cJSON *body, int64_t now_ms, int64_t t0_ns,
                     const char *uid, const char *ip, const signed_hdr *sg)
{
    job *j = calloc(1, sizeof *j);

    if (j == NULL)
        return NULL;
    j->gw = gw;
    j->req = req;
    j->t0_ns = t0_ns;
    j->g = gw->current;
    gen_ref(j->g);
    j->body = body;
    text_copy(j->uid, sizeof j->uid, uid);
    j->sr.uid = j->uid;
    j->sr.request_id = str_member(body, "request_id", "");
    j->sr.params = cJSON_GetObjectItemCaseSensitive(body, "params");
    text_copy(j->ip, sizeof j->ip, ip);
    j->sr.client_ip = j->ip;
    /* The signed caller speaks for the user: the uid stays the body's. */
    j->sg = *sg;
    j->sr.app = sg->app[0] != '\0' ? j->sg.app : NULL;
    j->sr.act = m->act;
    j->sr.m = m;
    if (svc_req_begin(&j->sr, now_ms) < 0) {
        j->body = NULL;
        job_free(j);
        return NULL;
    }
    return j;
}

/* The blacklist (blacklist.h): once the uid and the client address are
 * known, before any store call or plugin code.  1 when it refused the
 * request (answered, counted, j freed). */
static int blacklisted(gateway *gw, job *j)
{
    bl_hit hit;
    char *text;

    if (!blacklist_check(j->sr.act->id, j->sr.uid, j->sr.client_ip,
                         svc_req_now(&j->sr), &hit))
        return 0;
    text = blacklist_reply(&hit, j->sr.request_id, gw->c->bl_show_reason);
    if (text != NULL)
        reply_raw(gw, j->req, 403, text);
    else
        reply_error(gw, j->req, 500, "internal", NULL, "out of memory");
    count(j->t0_ns, j->sr.act->id, j->sr.m, "blacklisted");
    job_free(j);
    return 1;
}

/* The TCP peer, and the client address (realip.h) as text into ip. */
static void client_of(const listener *l, struct evhttp_request *req,
                      cidr_ip *peer, int *peer_ok, char ip[64])
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *name =
        l->real_ip == LIS_RIP_FORWARDED ? "Forwarded" : "X-Forwarded-For";
    struct evkeyval *kv;
    char *host = NULL, joined[4096];
    ev_uint16_t port;
    size_t n = 0;
    cidr_ip client;

    evhttp_connection_get_peer(evhttp_request_get_connection(req), &host,
                               &port);
    *peer_ok = host != NULL && cidr_ip_parse(host, peer) == 0;
    text_copy(ip, 64, host ? host : "");
    if (!*peer_ok || !lis_trusted(l, peer))
        return;
    /* Every line of the header, in order, as one list. */
    for (kv = h->tqh_first; kv != NULL; kv = kv->next.tqe_next) {
        size_t vl = strlen(kv->value);
        if (strcasecmp(kv->key, name) != 0)
            continue;
        if (n + vl + 1 >= sizeof joined)
            return; /* longer than any proxy chain: the peer itself, as
                       its rightmost entries could not be read */
        if (n > 0)
            joined[n++] = ',';
        memcpy(joined + n, kv->value, vl);
        n += vl;
    }
    if (n == 0)
        return;
    realip_walk(joined, n, l->real_ip == LIS_RIP_FORWARDED, l->proxies,
                l->nproxies, peer, &client);
    cidr_ip_format(&client, ip, 64);
}

/* Who the user is (ident.h), the body being checked.  0 with uid set, or
 * -1 after answering the refusal. */
static int identify(gateway *gw, const listener *l, struct evhttp_request *req,
                    const method *m, const cJSON *body, int peer_trusted,
                    const char *signed_app, int64_t now_ms, char *uid,
                    int64_t t0)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    ident_req r;
    ident_res res;

    memset(&r, 0, sizeof r);
    r.mode = m->auth != LIS_AUTH_INHERIT ? (lis_auth)m->auth : l->auth;
    r.login = m->login;
    r.signed_app = signed_app; /* verified by signed_gate, or NULL */
    r.authorization = evhttp_find_header(h, "Authorization");
    r.gw_uid = evhttp_find_header(h, IDENT_GW_UID);
    r.gw_ts = evhttp_find_header(h, IDENT_GW_TS);
    r.gw_sig = evhttp_find_header(h, IDENT_GW_SIG);
    r.method = http_method_name(evhttp_request_get_command(req));
    r.target = evhttp_request_get_uri(req);
    r.body_uid = str_member(body, "uid", NULL);
    r.peer_trusted = peer_trusted;
    r.now_s = (now_ms >= 0 ? now_ms : clock_wall_ms()) / 1000;
    if (ident_decide(&r, &gw->c->jwt, &gw->c->gw, &res) == 0) {
        text_copy(uid, IDENT_UID_MAX + 1, res.uid);
        return 0;
    }
    if (res.www_auth[0] != '\0')
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "WWW-Authenticate", res.www_auth);
    reply_error(gw, req, res.status, res.reason,
                str_member(body, "request_id", NULL), res.msg);
    count(t0, m->act->id, m, res.reason);
    return -1;
}

/* OPTIONS on an activity route: a CORS preflight, 204 (cors.h). */
static void preflight(gateway *gw, const listener *l,
                      struct evhttp_request *req, const char *origin)
{
    int tracked = track(gw, req);

    cors_preflight(l, origin, evhttp_request_get_output_headers(req));
    evhttp_send_reply(req, 204, "No Content", NULL);
    if (!tracked)
        job_done(gw);
}

void gateway_handle(struct evhttp_request *req, void *arg)
{
    gateway_port *gp = arg;
    gateway *gw = gp->gw;
    const listener *lis = &gw->c->ls.v[gp->listener];
    const char *origin =
        evhttp_find_header(evhttp_request_get_input_headers(req), "Origin");
    char uid[IDENT_UID_MAX + 1], ip[64];
    cidr_ip peer;
    int peer_ok;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    char name[96], msg[256];
    const char *raw, *why;
    int64_t id, now_ms;
    int status;
    signed_hdr sg;
    method *m;
    cJSON *body;
    job *j;
    coro *co;
    size_t len;
    int64_t t0 = metrics_now_ns();

    if (httpguard_admit(req)) {
        count(t0, 0, NULL, "bad_request");
        return;
    }
    gw->busy++;
    if (origin != NULL)
        cors_answer(lis, origin, evhttp_request_get_output_headers(req));
    if (path == NULL || reqparse_path(path, &id, name, sizeof name) < 0) {
        reply_error(gw, req, 404, "not_found", NULL,
                    "no such route; use POST /v1/activities/{id}/{method}");
        count(t0, 0, NULL, "not_found");
        return;
    }
    if (evhttp_request_get_command(req) == EVHTTP_REQ_OPTIONS) {
        preflight(gw, lis, req, origin);
        count(t0, 0, NULL, "preflight");
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                          "POST");
        snprintf(msg, sizeof msg, "%s is not allowed; use POST",
                 http_method_name(evhttp_request_get_command(req)));
        reply_error(gw, req, 405, "method_not_allowed", NULL, msg);
        count(t0, 0, NULL, "method_not_allowed");
        return;
    }
    m = gen_route(gw->current, id, name);
    if (m == NULL) {
        /* gen_activity walks every activity: once, not twice.  The message
         * is built without snprintf, as unknown ids are what a scan or a
         * stale client sends most. */
        int known = gen_activity(gw->current, id) != NULL;
        tbuf b = TBUF(msg, sizeof msg);

        tbuf_str(&b, known ? "activity " : "unknown activity ");
        tbuf_int(&b, (long long)id);
        if (known) {
            tbuf_str(&b, " has no method \"");
            tbuf_str(&b, name);
            tbuf_str(&b, "\"");
        }
        tbuf_end(&b);
        reply_error(gw, req, 404, "not_found", NULL, msg);
        count(t0, known ? id : 0, NULL, "not_found");
        return;
    }
    /* Before the body is even parsed: shedding must be cheap. */
    if (admission_check(gw->c, gw->running, m->act, httpguard_waited_ms(req),
                        msg, sizeof msg) < 0) {
        char ra[24];
        snprintf(ra, sizeof ra, "%lld",
                 (long long)gw->c->overload.retry_after_s);
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "Retry-After", ra);
        reply_error(gw, req, 503, "overloaded", NULL, msg);
        count(t0, id, m, "overloaded");
        return;
    }
    len = evbuffer_get_length(in);
    raw = (const char *)evbuffer_pullup(in, -1);
    body = reqparse_body(raw, len, msg, sizeof msg);
    if (body == NULL) {
        reply_error(gw, req, 400, "bad_request", NULL, msg);
        count(t0, id, m, "bad_request");
        return;
    }
    if (reqparse_fields(body, msg, sizeof msg) < 0) {
        reply_error(gw, req, 400, "bad_request",
                    str_member(body, "request_id", NULL), msg);
        cJSON_Delete(body);
        count(t0, id, m, "bad_request");
        return;
    }
    if ((now_ms = test_clock(gw, req)) == -2) {
        reply_error(gw, req, 400, "bad_request",
                    str_member(body, "request_id", NULL),
                    "X-AMS-Now: expected milliseconds since the epoch");
        cJSON_Delete(body);
        count(t0, id, m, "bad_request");
        return;
    }
    if (signed_gate(req, m, cJSON_GetObjectItemCaseSensitive(body, "params"),
                    gw->c, raw, len, now_ms >= 0 ? now_ms : clock_wall_ms(),
                    &sg, &status, &why, msg, sizeof msg) < 0) {
        if (status == 401)
            evhttp_add_header(evhttp_request_get_output_headers(req),
                              "WWW-Authenticate", SIGNED_SCHEME);
        reply_error(gw, req, status, why, str_member(body, "request_id", NULL),
                    msg);
        cJSON_Delete(body);
        count(t0, id, m, why);
        return;
    }
    client_of(lis, req, &peer, &peer_ok, ip);
    if (identify(gw, lis, req, m, body, peer_ok && lis_trusted(lis, &peer),
                 sg.app[0] != '\0' ? sg.app : NULL, now_ms, uid, t0) < 0) {
        cJSON_Delete(body);
        return;
    }
    j = make_job(gw, req, m, body, now_ms, t0, uid, ip, &sg);
    if (j != NULL && blacklisted(gw, j))
        return;
    co = j ? coro_new(gw->pool, run_job, j) : NULL;
    if (co == NULL) {
        reply_error(gw, req, 503, "overloaded",
                    str_member(body, "request_id", NULL),
                    "no memory for another request; retry later");
        if (j != NULL)
            job_free(j);
        else
            cJSON_Delete(body);
        count(t0, id, m, "overloaded");
        return;
    }
    gw->running++;
    admission_enter(m->act);
    coro_resume(co);
}
