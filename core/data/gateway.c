/*
 * gateway.c -- request parsing, routing and the per-request coroutine.
 *
 * Everything that can be checked without plugin code is checked here, so
 * a malformed request never reaches a plugin: path, method, body size
 * (evhttp enforces the limit with 413), JSON, and the uid / request_id /
 * params fields.
 */
#include "gateway.h"

#include "admission.h"
#include "http.h"
#include "httpguard.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "services.h"
#include "text.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "/v1/activities/"

typedef struct job {
    gateway *gw;
    struct evhttp_request *req;
    gen *g; /* pinned for the life of the request */
    cJSON *body;
    svc_req sr;
    int64_t now_ms; /* X-AMS-Now, or -1 */
    int64_t t0_ns;  /* metrics: when gateway_handle took it */
    char ip[64];    /* copied: the connection may go before we answer */
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

/* "/v1/activities/123/draw" -> id, method.  0 on match. */
static int parse_path(const char *path, int64_t *id, char *mname, size_t mlen)
{
    const char *p, *slash;
    int64_t v = 0;
    size_t n;

    if (strncmp(path, PREFIX, sizeof PREFIX - 1) != 0)
        return -1;
    p = path + sizeof PREFIX - 1;
    if (*p < '1' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > ((int64_t)1 << 53) / 10)
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (*p != '/')
        return -1;
    slash = p;
    n = strlen(slash + 1);
    if (n == 0 || n >= mlen || strchr(slash + 1, '/') != NULL)
        return -1;
    memcpy(mname, slash + 1, n + 1);
    *id = v;
    return 0;
}

/* One JSON value and nothing after it but white space: trailing bytes
 * would otherwise be ignored, and `{..}{..}` served as its first half.
 * Returns the value (caller owns) or NULL with msg set. */
static cJSON *parse_body(const char *start, size_t len, char *msg,
                         size_t msglen)
{
    const char *end = NULL;
    cJSON *body;

    if (start == NULL || len == 0) {
        snprintf(msg, msglen, "body: empty; expected a JSON object");
        return NULL;
    }
    body = cJSON_ParseWithLengthOpts(start, len, &end, 0);
    if (body == NULL) {
        const char *at = cJSON_GetErrorPtr();
        snprintf(msg, msglen, "body: malformed JSON at byte %ld",
                 at && at >= start ? (long)(at - start) : 0L);
        return NULL;
    }
    while (end < start + len && strchr(" \t\r\n", *end) != NULL)
        end++;
    if (end != start + len) {
        snprintf(msg, msglen,
                 "body: malformed JSON: unexpected data at byte %ld after "
                 "the value",
                 (long)(end - start));
        cJSON_Delete(body);
        return NULL;
    }
    return body;
}

/* A uid or request_id: printable ASCII without spaces, bounded. */
static int id_ok(const char *s, int allow_empty)
{
    return text_is_token(s, allow_empty ? 0 : 1, GATEWAY_ID_MAX);
}

/* Validate the body; on error writes a message and returns -1. */
static int check_body(const cJSON *b, char *msg, size_t len)
{
    const cJSON *uid = cJSON_GetObjectItemCaseSensitive(b, "uid");
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(b, "request_id");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(b, "params");

    if (!cJSON_IsObject(b)) {
        snprintf(msg, len, "body: expected a JSON object");
        return -1;
    }
    if (uid != NULL && !cJSON_IsString(uid)) {
        snprintf(msg, len, "uid: expected a string");
        return -1;
    }
    if (uid != NULL && !id_ok(uid->valuestring, 1)) {
        snprintf(msg, len,
                 "uid: at most %d printable characters without "
                 "spaces",
                 GATEWAY_ID_MAX);
        return -1;
    }
    if (rid == NULL) {
        snprintf(msg, len, "request_id: missing (required string)");
        return -1;
    }
    if (!cJSON_IsString(rid) || !id_ok(rid->valuestring, 0)) {
        snprintf(msg, len,
                 "request_id: expected a string of 1..%d printable "
                 "characters without spaces",
                 GATEWAY_ID_MAX);
        return -1;
    }
    if (params != NULL && !cJSON_IsObject(params)) {
        snprintf(msg, len, "params: expected a JSON object");
        return -1;
    }
    return 0;
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

    pipeline_run(&j->sr, &res);
    answer_reason(&res, why); /* metrics: before the reply consumes it */
    if (res.raw != NULL)
        reply_raw(j->gw, j->req, res.http_status, res.raw);
    else
        reply(j->gw, j->req, res.http_status, res.body);
    count(j->t0_ns, j->sr.act->id, j->sr.m, why);
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
                     cJSON *body, int64_t now_ms, int64_t t0_ns)
{
    job *j = calloc(1, sizeof *j);
    char *host = NULL;
    ev_uint16_t port;

    if (j == NULL)
        return NULL;
    j->gw = gw;
    j->req = req;
    j->t0_ns = t0_ns;
    j->g = gw->current;
    gen_ref(j->g);
    j->body = body;
    j->sr.uid = str_member(body, "uid", "");
    j->sr.request_id = str_member(body, "request_id", "");
    j->sr.params = cJSON_GetObjectItemCaseSensitive(body, "params");
    evhttp_connection_get_peer(evhttp_request_get_connection(req), &host,
                               &port);
    text_copy(j->ip, sizeof j->ip, host ? host : "");
    j->sr.client_ip = j->ip;
    j->sr.act = m->act;
    j->sr.m = m;
    if (svc_req_begin(&j->sr, now_ms) < 0) {
        j->body = NULL;
        job_free(j);
        return NULL;
    }
    return j;
}

void gateway_handle(struct evhttp_request *req, void *arg)
{
    gateway *gw = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    char name[96], msg[256];
    int64_t id, now_ms;
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
    if (path == NULL || parse_path(path, &id, name, sizeof name) < 0) {
        reply_error(gw, req, 404, "not_found", NULL,
                    "no such route; use POST /v1/activities/{id}/{method}");
        count(t0, 0, NULL, "not_found");
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
    body = parse_body((const char *)evbuffer_pullup(in, -1), len, msg,
                      sizeof msg);
    if (body == NULL) {
        reply_error(gw, req, 400, "bad_request", NULL, msg);
        count(t0, id, m, "bad_request");
        return;
    }
    if (check_body(body, msg, sizeof msg) < 0) {
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
    j = make_job(gw, req, m, body, now_ms, t0);
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
