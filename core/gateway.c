/*
 * gateway.c -- request parsing, routing and the per-request coroutine.
 *
 * Everything that can be checked without plugin code is checked here, so
 * a malformed request never reaches a plugin: path, method, body size
 * (evhttp enforces the limit with 413), JSON, and the uid / request_id /
 * params fields.
 */
#include "gateway.h"

#include "http.h"
#include "log.h"
#include "pipeline.h"
#include "services.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "/v1/activities/"

typedef struct job {
    gateway *gw;
    struct evhttp_request *req;
    gen *g;          /* pinned for the life of the request */
    cJSON *body;
    svc_req sr;
    int64_t now_ms;  /* X-AMS-Now, or -1 */
    char ip[64];     /* copied: the connection may go before we answer */
} job;

static void job_done(gateway *gw)
{
    if (--gw->busy == 0 && gw->idle_cb != NULL)
        gw->idle_cb(gw->idle_ud);
}

/* Answer and account.  A request stops being busy once its reply is
 * handed to libevent: waiting for libevent's completion callback instead
 * would leak a count whenever a client resets mid-write (the callback
 * never fires then).  The worker's stop gives the loop a short grace to
 * flush what was handed over. */
static void reply(gateway *gw, struct evhttp_request *req, int status,
                  cJSON *body)
{
    http_send_json(req, status, body);
    job_done(gw);
}

static void reply_error(gateway *gw, struct evhttp_request *req, int status,
                        const char *reason, const char *rid, const char *msg)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddNumberToObject(b, "code", status);
    cJSON_AddStringToObject(b, "reason", reason);
    cJSON_AddStringToObject(b, "message", msg);
    if (rid != NULL)
        cJSON_AddStringToObject(b, "request_id", rid);
    reply(gw, req, status, b);
}

/* "/v1/activities/123/draw" -> id, method.  0 on match. */
static int parse_path(const char *path, int64_t *id, char *mname,
                      size_t mlen)
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

/* A uid or request_id: printable ASCII without spaces, bounded. */
static int id_ok(const char *s, int allow_empty)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (s[n] < '!' || s[n] > '~')
            return 0;
    return (allow_empty || n > 0) && n <= GATEWAY_ID_MAX;
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
        snprintf(msg, len, "uid: at most %d printable characters without "
                 "spaces", GATEWAY_ID_MAX);
        return -1;
    }
    if (rid == NULL) {
        snprintf(msg, len, "request_id: missing (required string)");
        return -1;
    }
    if (!cJSON_IsString(rid) || !id_ok(rid->valuestring, 0)) {
        snprintf(msg, len, "request_id: expected a string of 1..%d printable "
                 "characters without spaces", GATEWAY_ID_MAX);
        return -1;
    }
    if (params != NULL && !cJSON_IsObject(params)) {
        snprintf(msg, len, "params: expected a JSON object");
        return -1;
    }
    return 0;
}

static cJSON *answer(const svc_req *r, pipe_result *res)
{
    cJSON *b = cJSON_CreateObject();

    if (res->http_status != 200) {
        cJSON_AddNumberToObject(b, "code", res->http_status);
        cJSON_AddStringToObject(b, "reason", res->reason);
        cJSON_AddStringToObject(b, "message", res->message);
        cJSON_AddStringToObject(b, "request_id", r->request_id);
        return b;
    }
    cJSON_AddNumberToObject(b, "code", res->code);
    cJSON_AddStringToObject(b, "reason", res->reason);
    cJSON_AddStringToObject(b, "request_id", r->request_id);
    cJSON_AddItemToObject(b, "data", r->data ? r->data
                                             : cJSON_CreateObject());
    if (res->detail != NULL) {
        cJSON_AddItemToObject(b, "detail", res->detail);
        res->detail = NULL;
    }
    return b;
}

static void job_free(job *j)
{
    svc_req_end(&j->sr);
    cJSON_Delete(j->body);
    gen_unref(j->g);
    free(j);
}

/* The coroutine body: everything a plugin runs happens here. */
static void run_job(void *arg)
{
    job *j = arg;
    pipe_result res;
    cJSON *b;
    int status;

    pipeline_run(&j->sr, &res);
    status = res.http_status;
    b = answer(&j->sr, &res);
    if (status == 200)
        j->sr.data = NULL; /* now owned by b */
    cJSON_Delete(res.detail);
    reply(j->gw, j->req, status, b);
    job_free(j);
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
    h = evhttp_find_header(evhttp_request_get_input_headers(req),
                           "X-AMS-Now");
    if (h == NULL)
        return -1;
    v = strtoll(h, &end, 10);
    return (*end == '\0' && end != h && v >= 0) ? v : -2;
}

static job *make_job(gateway *gw, struct evhttp_request *req, method *m,
                     cJSON *body, int64_t now_ms)
{
    job *j = calloc(1, sizeof *j);
    char *host = NULL;
    ev_uint16_t port;

    if (j == NULL)
        return NULL;
    j->gw = gw;
    j->req = req;
    j->g = gw->current;
    gen_ref(j->g);
    j->body = body;
    j->sr.uid = str_member(body, "uid", "");
    j->sr.request_id = str_member(body, "request_id", "");
    j->sr.params = cJSON_GetObjectItemCaseSensitive(body, "params");
    evhttp_connection_get_peer(evhttp_request_get_connection(req), &host,
                               &port);
    snprintf(j->ip, sizeof j->ip, "%s", host ? host : "");
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

    gw->busy++;
    if (path == NULL || parse_path(path, &id, name, sizeof name) < 0) {
        reply_error(gw, req, 404, "not_found", NULL,
                    "no such route; use POST /v1/activities/{id}/{method}");
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                          "POST");
        snprintf(msg, sizeof msg, "%s is not allowed; use POST",
                 http_method_name(evhttp_request_get_command(req)));
        reply_error(gw, req, 405, "method_not_allowed", NULL, msg);
        return;
    }
    m = gen_route(gw->current, id, name);
    if (m == NULL) {
        if (gen_activity(gw->current, id) == NULL)
            snprintf(msg, sizeof msg, "unknown activity %lld", (long long)id);
        else
            snprintf(msg, sizeof msg, "activity %lld has no method \"%s\"",
                     (long long)id, name);
        reply_error(gw, req, 404, "not_found", NULL, msg);
        return;
    }
    len = evbuffer_get_length(in);
    body = cJSON_ParseWithLength((const char *)evbuffer_pullup(in, -1), len);
    if (body == NULL) {
        const char *at = cJSON_GetErrorPtr();
        const char *start = (const char *)evbuffer_pullup(in, -1);
        snprintf(msg, sizeof msg, "body: malformed JSON at byte %ld",
                 at && start ? (long)(at - start) : 0L);
        reply_error(gw, req, 400, "bad_request", NULL, msg);
        return;
    }
    if (check_body(body, msg, sizeof msg) < 0) {
        reply_error(gw, req, 400, "bad_request",
                    str_member(body, "request_id", NULL), msg);
        cJSON_Delete(body);
        return;
    }
    if ((now_ms = test_clock(gw, req)) == -2) {
        reply_error(gw, req, 400, "bad_request",
                    str_member(body, "request_id", NULL),
                    "X-AMS-Now: expected milliseconds since the epoch");
        cJSON_Delete(body);
        return;
    }
    j = make_job(gw, req, m, body, now_ms);
    co = j ? coro_new(gw->pool, run_job, j) : NULL;
    if (co == NULL) {
        reply_error(gw, req, 503, "overloaded",
                    str_member(body, "request_id", NULL),
                    "no memory for another request; retry later");
        if (j != NULL)
            job_free(j);
        else
            cJSON_Delete(body);
        return;
    }
    coro_resume(co);
}
