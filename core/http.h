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

/* Protocol or server error: {"code":status,"reason":...,"message":...}
 * and "request_id" when known (may be NULL). */
void http_send_error(struct evhttp_request *req, int status,
                     const char *reason, const char *request_id,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

const char *http_method_name(enum evhttp_cmd_type t);

#endif
