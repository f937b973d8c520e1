/*
 * admin.c -- admin routes.  For now: GET /healthz.
 */
#include "admin.h"

#include "http.h"

#include <string.h>

static void healthz(struct evhttp_request *req, master *m)
{
    cJSON *b = cJSON_CreateObject();
    cJSON *w = cJSON_CreateObject();
    int ready = master_ready(m);
    int ok = ready > 0 && !m->starting && !m->stopping;

    cJSON_AddStringToObject(b, "status",
                            m->stopping   ? "stopping"
                            : m->starting ? "starting"
                            : ready > 0   ? "ok"
                                          : "down");
    cJSON_AddNumberToObject(b, "generation", (double)m->generation);
    cJSON_AddNumberToObject(w, "ready", ready);
    cJSON_AddNumberToObject(w, "total", m->n);
    cJSON_AddNumberToObject(w, "restarts", (double)m->restarts);
    cJSON_AddItemToObject(b, "workers", w);
    http_send_json(req, ok ? 200 : 503, b);
}

void admin_handle(struct evhttp_request *req, void *arg)
{
    master *m = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));

    if (path != NULL && strcmp(path, "/healthz") == 0) {
        if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                              "GET");
            http_send_error(req, 405, "method_not_allowed", NULL,
                            "%s is not allowed; use GET",
                            http_method_name(
                                evhttp_request_get_command(req)));
            return;
        }
        healthz(req, m);
        return;
    }
    http_send_error(req, 404, "not_found", NULL, "no admin route %s",
                    path ? path : "?");
}
