/*
 * http.c -- JSON replies.
 */
#include "http.h"

#include "json.h"

#include <event2/buffer.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Pending hooks (http_on_reply): admin requests waiting for their
 * answer, a handful at most, so a list. */
typedef struct reply_hook {
    struct evhttp_request *req;
    http_reply_fn fn;
    void *arg;
    pid_t pid;
    struct reply_hook *next;
} reply_hook;

static reply_hook *hooks;

/* Unlink and return req's hook, or NULL.  The newest registration of req
 * is found first. */
static reply_hook *hook_take(struct evhttp_request *req)
{
    pid_t self;

    if (hooks == NULL)
        return NULL;
    self = getpid();
    for (reply_hook **pp = &hooks; *pp != NULL; pp = &(*pp)->next)
        if ((*pp)->req == req && (*pp)->pid == self) {
            reply_hook *h = *pp;
            *pp = h->next;
            return h;
        }
    return NULL;
}

/* Run req's hook, if any, on (status, body): the status to send. */
static int run_hook(struct evhttp_request *req, int status, cJSON **body)
{
    reply_hook *h = hook_take(req);

    if (h != NULL) {
        status = h->fn(req, status, body, h->arg);
        free(h);
    }
    return status;
}

/* evhttp's "reply written" callback: a hook still registered means the
 * answer bypassed http_send_*. */
static void hook_complete(struct evhttp_request *req, void *arg)
{
    (void)arg;
    run_hook(req, evhttp_request_get_response_code(req), NULL);
}

int http_on_reply(struct evhttp_request *req, http_reply_fn fn, void *arg)
{
    reply_hook *h = malloc(sizeof *h);

    if (h == NULL)
        return -1;
    *h = (reply_hook){req, fn, arg, getpid(), hooks};
    hooks = h;
    evhttp_request_set_on_complete_cb(req, hook_complete, NULL);
    return 0;
}

/* The Date header of this second.  evhttp would format it for every
 * reply (gmtime and snprintf, a tenth of an error answer's cost); one
 * already present is left as it is.  Same text, from the same function. */
static const char *date_now(void)
{
    static time_t at = (time_t)-1;
    static char text[64];
    time_t now = time(NULL);

    if (now != at) {
        struct tm tm;
        if (gmtime_r(&now, &tm) == NULL ||
            evutil_date_rfc1123(text, sizeof text, &tm) <= 0)
            return NULL; /* evhttp adds its own */
        at = now;
    }
    return text;
}

/* Send len bytes of JSON text and a newline as the answer.  The headers
 * evhttp would add to a 1.1 answer (evhttp_make_header_response: Date,
 * then Content-Length), in its order, but cheaper: a cached date, the
 * length without snprintf.  Other answers (1.0, HEAD, ...) are left to
 * evhttp. */
static void send_json_text(struct evhttp_request *req, int status,
                           const char *text, size_t len)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    const char *date;

    evbuffer_add(out, text, len);
    evbuffer_add(out, "\n", 1);
    evhttp_add_header(h, "Content-Type", "application/json");
    if (req->major == 1 && req->minor >= 1 && req->type != EVHTTP_REQ_HEAD &&
        req->type != EVHTTP_REQ_CONNECT && status >= 200 && status != 204 &&
        status != 304 && evhttp_find_header(h, "Date") == NULL &&
        evhttp_find_header(h, "Content-Length") == NULL &&
        (date = date_now()) != NULL) {
        char n[24], *p = n + sizeof n;
        size_t v = evbuffer_get_length(out);

        *--p = '\0';
        do {
            *--p = (char)('0' + v % 10);
            v /= 10;
        } while (v != 0);
        evhttp_add_header(h, "Date", date);
        evhttp_add_header(h, "Content-Length", p);
    }
    /* libevent's phrase, but it knows none past 417 ("Client Error"). */
    evhttp_send_reply(req, status, status == 429 ? "Too Many Requests" : NULL,
                      NULL);
}

static void send_text(struct evhttp_request *req, int status, const char *text)
{
    send_json_text(req, status, text, strlen(text));
}

void http_send_text(struct evhttp_request *req, int status, const char *text)
{
    if (hooks != NULL && text != NULL) {
        reply_hook *h = hook_take(req);
        if (h != NULL) {
            /* A hooked answer is JSON the hook may amend. */
            cJSON *body = cJSON_Parse(text);
            status = h->fn(req, status, &body, h->arg);
            free(h);
            http_send_json(req, status, body);
            return;
        }
    }
    send_text(req, status, text);
}

void http_send_json(struct evhttp_request *req, int status, cJSON *body)
{
    /* Most answers fit: printed here and copied once, into the reply. */
    char storage[2048];
    jbuf text;

    if (hooks != NULL)
        status = run_hook(req, status, &body);
    jbuf_init(&text, storage, sizeof storage);
    json_put_item(&text, body); /* fails on NULL */
    cJSON_Delete(body);
    if (text.failed) {
        jbuf_free(&text);
        send_text(req, 500,
                  "{\"code\":500,\"reason\":\"internal\","
                  "\"message\":\"out of memory\"}");
        return;
    }
    send_json_text(req, status, text.p, text.len);
    jbuf_free(&text);
}

void http_send_raw(struct evhttp_request *req, int status,
                   const char *content_type, const char *data, size_t len)
{
    cJSON *body = NULL;

    if (hooks != NULL)
        status = run_hook(req, status, &body);
    if (body != NULL) { /* the hook replaced the answer */
        http_send_json(req, status, body);
        return;
    }
    evbuffer_add(evhttp_request_get_output_buffer(req), data, len);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      content_type);
    evhttp_send_reply(req, status, NULL, NULL); /* libevent's phrase */
}

void http_send_error(struct evhttp_request *req, int status,
                     const char *reason, const char *request_id,
                     const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    cJSON *b = cJSON_CreateObject();

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON_AddNumberToObject(b, "code", status);
    cJSON_AddStringToObject(b, "reason", reason);
    cJSON_AddStringToObject(b, "message", msg);
    if (request_id != NULL)
        cJSON_AddStringToObject(b, "request_id", request_id);
    http_send_json(req, status, b);
}

const char *http_method_name(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    }
    return "?";
}
