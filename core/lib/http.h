/*
 * http.h -- JSON answers over libevent's evhttp, shared by the data plane
 * (gateway.c) and the admin plane (admin.c).
 */
#ifndef AMS_CORE_HTTP_H
#define AMS_CORE_HTTP_H

#include <cjson/cJSON.h>
#include <event2/http.h>

/* Send body as the JSON answer and delete it (ownership passes here). */
void http_send_json(struct evhttp_request *req, int status, cJSON *body);

/* Send text (a JSON document, not consumed) as the answer. */
void http_send_text(struct evhttp_request *req, int status, const char *text);

/* Send len bytes of data, of content_type, as the answer (a non-JSON
 * body, e.g. the Prometheus text format); a hook (below) sees it first,
 * with *body NULL, and may still replace it with a JSON answer. */
void http_send_raw(struct evhttp_request *req, int status,
                   const char *content_type, const char *data, size_t len);

/* Protocol or server error: {"code":status,"reason":...,"message":...}
 * and "request_id" when known (may be NULL). */
void http_send_error(struct evhttp_request *req, int status,
                     const char *reason, const char *request_id,
                     const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

const char *http_method_name(enum evhttp_cmd_type t);

/*
 * A per-request hook on the answer, for the admin plane's audit log
 * (admin.c): fn(req, status, &body, arg) runs once, inside whichever
 * http_send_* call answers req, before anything is written -- so a route
 * that answers later, from a callback, is still seen with its final
 * status.  It may change the body (ownership stays with the caller) and
 * returns the status to send.
 *
 * A non-JSON answer sent with http_send_raw is seen with *body NULL.
 * One sent some other way (evhttp_send_reply directly) cannot be seen
 * before it goes out: fn then runs once it has been written, with body
 * NULL (not a pointer to NULL) and the status sent, and what it returns
 * is ignored.
 *
 * The registration is dropped when fn runs; registrations belong to the
 * process that made them (a forked worker ignores its parent's).
 * Returns 0, or -1 when out of memory.
 */
typedef int (*http_reply_fn)(struct evhttp_request *req, int status,
                             cJSON **body, void *arg);
int http_on_reply(struct evhttp_request *req, http_reply_fn fn, void *arg);

#endif
