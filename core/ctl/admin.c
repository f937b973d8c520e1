/*
 * admin.c -- admin routes, one table: each route names the least role
 * that may call it (see docs/operator-guide.md, "Admin plane").
 *
 * Every request goes: match the route -> authenticate (auth.h) ->
 * authorize by the route's role -> run the route -> audit (audit.h).
 * Routes answer when they are done, often later from a callback (a
 * reload, an ask of every worker, an import), so the audit record is
 * completed by a per-request hook on the answer itself (http_on_reply):
 * whatever path a route takes to answer, the record gets its final
 * status, is appended and fsync'd, and only then does the answer go out.
 */
#include "admin.h"

#include "admin_blacklist.h"
#include "admin_degrade.h"
#include "admin_info.h"
#include "ask.h"
#include "audit.h"
#include "center.h"
#include "fileio.h"
#include "http.h"
#include "httpguard.h"
#include "reload.h"
#include "supervise.h"
#include "log.h"
#include "metrics_scrape.h"
#include "clock.h"
#include "tags_import.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define TTL_S_MAX (10LL * 366 * 86400) /* ten years */

static void healthz(struct evhttp_request *req, master *m)
{
    cJSON *b = cJSON_CreateObject();
    cJSON *w = cJSON_CreateObject();
    int ready = supervise_ready(m);
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
    cJSON_AddItemToObject(b, "config", center_health(m));
    http_send_json(req, ok ? 200 : 503, b);
}

static void method_not_allowed(struct evhttp_request *req, const char *allow)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
    http_send_error(req, 405, "method_not_allowed", NULL,
                    "%s is not allowed; use %s",
                    http_method_name(evhttp_request_get_command(req)), allow);
}

int admin_peer_is_loopback(const struct sockaddr *sa)
{
    if (sa == NULL)
        return 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a =
            &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return 0;
}

/* ---- POST /admin/tags/import ---- */

/* The import in flight: master helpers run one at a time, so one slot. */
static struct import_job {
    struct evhttp_request *req;
    int64_t ttl_ms;
    int64_t timeout_s;
} job;

/* The query string: only ttl_s=SECONDS.  -1 with a message when bad. */
static int import_query(struct evhttp_request *req, int64_t *ttl_ms, char *msg,
                        size_t len)
{
    static const char *const names[] = {"ttl_s", NULL};
    static const int64_t min[] = {1}, max[] = {TTL_S_MAX};
    int64_t ttl_s = 0;

    if (admin_query_ints(req, names, min, max, &ttl_s, msg, len) < 0)
        return -1;
    *ttl_ms = ttl_s * 1000;
    return 0;
}

/* In the helper child: the store is opened here, never in the master. */
static int import_child(master *m, int fd, void *arg)
{
    const conf *c = m->c;
    store_options so;
    cJSON *res;
    char *text;
    int rc;

    (void)arg;
    conf_store_options(c, &so);
    res = tags_import_run(&so, evhttp_request_get_input_buffer(job.req),
                          clock_wall_ms(), job.ttl_ms);
    text = res ? cJSON_PrintUnformatted(res) : NULL;
    cJSON_Delete(res);
    if (text == NULL) {
        log_error("out of memory");
        return 1;
    }
    rc = fileio_write_all(fd, text, strlen(text)) < 0 ? 1 : 0;
    free(text);
    return rc;
}

static void import_failed(struct evhttp_request *req, master *m, int status,
                          int timed_out)
{
    const char *kept = "tags written before are kept; an import may be "
                       "run again";

    if (timed_out)
        http_send_error(req, 500, "import_timeout", NULL,
                        "the import did not finish within "
                        "admin_import_timeout_s (%lld s) and was stopped; %s",
                        (long long)job.timeout_s, kept);
    else if (m->stopping)
        http_send_error(req, 503, "stopping", NULL,
                        "amsd is stopping: the import was interrupted; %s",
                        kept);
    else if (WIFSIGNALED(status))
        http_send_error(req, 500, "import_failed", NULL,
                        "the import process was killed by signal %d before "
                        "it reported (see the server log); %s",
                        WTERMSIG(status), kept);
    else
        http_send_error(req, 500, "import_failed", NULL,
                        "the import process exited with status %d without "
                        "a result (see the server log); %s",
                        WEXITSTATUS(status), kept);
}

/* In the master, once the helper is gone: answer the request. */
static void import_done(master *m, void *arg, const char *out, size_t len,
                        int status, int timed_out)
{
    struct evhttp_request *req = job.req;
    cJSON *res = NULL;
    const cJSON *serr;

    (void)arg;
    job.req = NULL;
    if (!timed_out && len > 0)
        res = cJSON_ParseWithLength(out, len);
    if (res == NULL || !cJSON_IsObject(res)) {
        cJSON_Delete(res);
        import_failed(req, m, status, timed_out);
        return;
    }
    serr = cJSON_GetObjectItemCaseSensitive(res, "store_error");
    if (cJSON_IsString(serr)) {
        /* The counts so far go along: the operator sees where it broke. */
        cJSON_AddNumberToObject(res, "code", 503);
        cJSON_AddStringToObject(res, "reason", "store_unavailable");
        cJSON_AddStringToObject(res, "message", serr->valuestring);
        cJSON_DeleteItemFromObjectCaseSensitive(res, "store_error");
        http_send_json(req, 503, res);
        return;
    }
    log_info("tags import: %.0f loaded, %.0f rejected",
             cJSON_GetNumberValue(cJSON_GetObjectItem(res, "loaded")),
             cJSON_GetNumberValue(cJSON_GetObjectItem(res, "rejected")));
    http_send_json(req, 200, res);
}

/* Who may import was decided by admin_handle (an operator token, or a
 * loopback peer when no token is configured). */
static void route_tags_import(struct evhttp_request *req, master *m)
{
    char msg[256];
    int64_t ttl_ms;

    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        method_not_allowed(req, "POST");
        return;
    }
    if (import_query(req, &ttl_ms, msg, sizeof msg) < 0) {
        http_send_error(req, 400, "bad_request", NULL, "%s", msg);
        return;
    }
    if (m->helper != NULL) {
        http_send_error(req, 409, "conflict", NULL,
                        "an import is already running; retry when it has "
                        "answered");
        return;
    }
    if (m->stopping) {
        http_send_error(req, 503, "stopping", NULL, "amsd is stopping");
        return;
    }
    job.req = req;
    job.ttl_ms = ttl_ms;
    job.timeout_s = m->c->admin_import_timeout_s;
    if (supervise_helper_start(m, "tags import", job.timeout_s * 1000,
                               import_child, import_done, NULL) < 0) {
        int err = errno;
        job.req = NULL;
        log_error("tags import: cannot start the import process: %s",
                  strerror(err));
        http_send_error(req, 500, "internal", NULL,
                        "cannot start the import process: %s", strerror(err));
    }
}

static void reload_answer(master *m, void *arg, int ok, uint64_t generation,
                          const cJSON *errors, const cJSON *warnings)
{
    struct evhttp_request *req = arg;
    cJSON *b = cJSON_CreateObject();

    (void)m;
    cJSON_AddNumberToObject(b, "code", ok ? 200 : 422);
    cJSON_AddStringToObject(b, "reason", ok ? "ok" : "reload_refused");
    cJSON_AddNumberToObject(b, "generation", (double)generation);
    if (!ok)
        cJSON_AddItemToObject(b, "errors", cJSON_Duplicate(errors, 1));
    cJSON_AddItemToObject(b, "warnings", cJSON_Duplicate(warnings, 1));
    http_send_json(req, ok ? 200 : 422, b);
}

/* POST /admin/reload: answers when the reload is over, with the new
 * generation or every error (the old generation still serving). */
static void route_reload(struct evhttp_request *req, master *m)
{
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        method_not_allowed(req, "POST");
        return;
    }
    if (m->starting || m->stopping) {
        http_send_error(req, 503, m->stopping ? "stopping" : "starting", NULL,
                        "amsd is %s", m->stopping ? "stopping" : "starting");
        return;
    }
    if (reload_start(m, "admin", reload_answer, req) < 0)
        http_send_error(req, errno == EBUSY ? 409 : 500,
                        errno == EBUSY ? "reload_running" : "internal", NULL,
                        "%s",
                        errno == EBUSY ? "a reload is already running; "
                                         "retry when it is over"
                                       : strerror(errno));
}

/* POST /admin/activities/{id}/enable|disable: a flag flipped in every
 * worker's current generation (no rebuild), and remembered so later
 * generations keep it.  404 when no worker knows the activity. */
typedef struct toggle {
    struct evhttp_request *req;
    int64_t id;
    int enabled;
} toggle;

static void toggle_done(master *m, void *arg, const cJSON *answers,
                        int missing)
{
    toggle *t = arg;
    const cJSON *it;
    int found = 0;
    char key[32];

    cJSON_ArrayForEach(it, answers) found |=
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "found"));
    if (!found) {
        http_send_error(t->req, 404, "not_found", NULL,
                        "unknown activity %lld", (long long)t->id);
    } else {
        cJSON *b = cJSON_CreateObject();
        snprintf(key, sizeof key, "%lld", (long long)t->id);
        if (m->enabled == NULL)
            m->enabled = cJSON_CreateObject();
        cJSON_DeleteItemFromObjectCaseSensitive(m->enabled, key);
        cJSON_AddBoolToObject(m->enabled, key, t->enabled);
        log_info("activity %lld %s", (long long)t->id,
                 t->enabled ? "enabled" : "disabled");
        cJSON_AddNumberToObject(b, "code", 200);
        cJSON_AddStringToObject(b, "reason", "ok");
        cJSON_AddNumberToObject(b, "id", (double)t->id);
        cJSON_AddBoolToObject(b, "enabled", t->enabled);
        cJSON_AddNumberToObject(b, "generation", (double)m->generation);
        cJSON_AddNumberToObject(b, "workers_missing", missing);
        http_send_json(t->req, 200, b);
    }
    free(t);
}

static void route_toggle(struct evhttp_request *req, master *m, int64_t id,
                         int enabled)
{
    toggle *t = calloc(1, sizeof *t);
    cJSON *q = cJSON_CreateObject();

    if (t == NULL || q == NULL) {
        free(t);
        cJSON_Delete(q);
        http_send_error(req, 500, "internal", NULL, "out of memory");
        return;
    }
    *t = (toggle){req, id, enabled};
    cJSON_AddStringToObject(q, "type", "set_enabled");
    cJSON_AddNumberToObject(q, "id", (double)id);
    cJSON_AddBoolToObject(q, "enabled", enabled);
    if (ask_all(m, q, 5000, toggle_done, t) < 0) {
        free(t);
        http_send_error(req, 500, "internal", NULL, "out of memory");
    }
    cJSON_Delete(q);
}

/* ---- the route table ---- */

/* A path matched against a pattern: "{id}" matches one decimal segment,
 * whose value goes to *id. */
static int match(const char *pattern, const char *path, int64_t *id)
{
    while (*pattern != '\0') {
        if (strncmp(pattern, "{id}", 4) == 0) {
            char *end;
            long long v;
            if (*path < '0' || *path > '9')
                return 0;
            v = strtoll(path, &end, 10);
            if (v <= 0)
                return 0;
            *id = v;
            path = end;
            pattern += 4;
            continue;
        }
        if (*pattern++ != *path++)
            return 0;
    }
    return *path == '\0';
}

typedef struct admin_route {
    enum evhttp_cmd_type verb;
    const char *pattern;
    admin_role role; /* least role that may call it */
    void (*fn)(struct evhttp_request *req, master *m, int64_t id);
} admin_route;

static void r_healthz(struct evhttp_request *req, master *m, int64_t id)
{
    (void)id;
    healthz(req, m);
}
static void r_center(struct evhttp_request *req, master *m, int64_t id)
{
    (void)id;
    http_send_json(req, 200, center_describe(m));
}
static void r_reload(struct evhttp_request *req, master *m, int64_t id)
{
    (void)id;
    route_reload(req, m);
}
static void r_import(struct evhttp_request *req, master *m, int64_t id)
{
    (void)id;
    route_tags_import(req, m);
}
static void r_enable(struct evhttp_request *req, master *m, int64_t id)
{
    route_toggle(req, m, id, 1);
}
static void r_disable(struct evhttp_request *req, master *m, int64_t id)
{
    route_toggle(req, m, id, 0);
}

static const admin_route routes[] = {
    {EVHTTP_REQ_GET, "/healthz", ROLE_PUBLIC, r_healthz},
    {EVHTTP_REQ_GET, "/metrics", ROLE_VIEWER, metrics_scrape_route},
    {EVHTTP_REQ_POST, "/admin/reload", ROLE_OPERATOR, r_reload},
    {EVHTTP_REQ_POST, "/admin/tags/import", ROLE_OPERATOR, r_import},
    {EVHTTP_REQ_POST, "/admin/activities/{id}/enable", ROLE_OPERATOR,
     r_enable},
    {EVHTTP_REQ_POST, "/admin/activities/{id}/disable", ROLE_OPERATOR,
     r_disable},
    {EVHTTP_REQ_GET, "/admin/activities", ROLE_VIEWER, admin_info_activities},
    {EVHTTP_REQ_GET, "/admin/activities/{id}", ROLE_VIEWER,
     admin_info_activities},
    {EVHTTP_REQ_GET, "/admin/plugins", ROLE_VIEWER, admin_info_plugins},
    {EVHTTP_REQ_GET, "/admin/audit", ROLE_ADMIN, admin_info_audit},
    {EVHTTP_REQ_GET, "/admin/center", ROLE_VIEWER, r_center},
    {EVHTTP_REQ_GET, "/admin/blacklist", ROLE_VIEWER, admin_blacklist_list},
    {EVHTTP_REQ_POST, "/admin/blacklist", ROLE_OPERATOR, admin_blacklist_add},
    {EVHTTP_REQ_POST, "/admin/blacklist/remove", ROLE_OPERATOR,
     admin_blacklist_remove},
    {EVHTTP_REQ_POST, "/admin/blacklist/import", ROLE_OPERATOR,
     admin_blacklist_import},
    {EVHTTP_REQ_GET, "/admin/degrade", ROLE_VIEWER, admin_degrade_get},
    {EVHTTP_REQ_POST, "/admin/degrade", ROLE_OPERATOR, admin_degrade_set},
};

/* ---- authentication, authorization, audit ---- */

/* Who is asking, once authenticated. */
typedef struct caller {
    const char *who;  /* token name, "loopback", or NULL (unknown) */
    admin_role role;  /* ROLE_PUBLIC: none */
    const char *auth; /* "token", "loopback" or "none" */
} caller;

/* One admin request waiting for its answer: the audit record the answer
 * completes (admin_answered). */
typedef struct admin_req {
    master *m;
    cJSON *rec;
    int changes; /* POST: the files in force are recorded before/after */
} admin_req;

int admin_start(master *m)
{
    char err[512];

    if (audit_prepare(m->c->audit_log, err, sizeof err) < 0) {
        log_error("audit_log: %s (the admin plane does not start when it "
                  "cannot record what it does)",
                  err);
        return -1;
    }
    if (m->c->tokens.n == 0)
        log_warn("admin: no admin_tokens configured: the admin plane "
                 "answers loopback clients only, each as admin (a "
                 "development default; configure tokens for production)");
    else
        log_info("admin: %zu token(s); audit log %s", m->c->tokens.n,
                 m->c->audit_log);
    return 0;
}

static void peer_name(struct evhttp_request *req, char *out, size_t len)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    char *host = NULL;
    ev_uint16_t port = 0;

    if (evcon != NULL)
        evhttp_connection_get_peer(evcon, &host, &port);
    if (host == NULL)
        snprintf(out, len, "?");
    else
        snprintf(out, len, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
                 (unsigned)port);
}

/* 0 with *c filled, or the status to refuse with (401, or 403 for a
 * peer that is not loopback when no token is configured) and why. */
static int authenticate_parts(const master *m, const char *authorization,
                              const struct sockaddr *peer, caller *c,
                              const char **why, int *bad_token)
{
    const auth_table *t = &m->c->tokens;
    const auth_token *tok;

    *c = (caller){NULL, ROLE_PUBLIC, "none"};
    if (t->n == 0) {
        if (!admin_peer_is_loopback(peer)) {
            *why = "no admin_tokens are configured: the admin plane "
                   "answers loopback clients only";
            return 403;
        }
        *c = (caller){"loopback", ROLE_ADMIN, "loopback"};
        return 0;
    }
    switch (auth_check(t, authorization, &tok)) {
    case AUTH_OK:
        *c = (caller){tok->name, tok->role, "token"};
        return 0;
    case AUTH_MISSING:
        *why = "missing credentials: send Authorization: Bearer <token>";
        return 401;
    case AUTH_MALFORMED:
        *why = "the Authorization header is not \"Bearer <token>\"";
        return 401;
    case AUTH_UNKNOWN:
        break;
    }
    *why = "unknown token";
    *bad_token = 1;
    return 401;
}

static int authenticate(struct evhttp_request *req, const master *m, caller *c,
                        const char **why, int *bad_token)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);

    return authenticate_parts(
        m,
        evhttp_find_header(evhttp_request_get_input_headers(req),
                           "Authorization"),
        evcon ? evhttp_connection_get_addr(evcon) : NULL, c, why, bad_token);
}

/* The record's first half: everything known before the route runs.
 * "ts" comes first (audit.h) and is set when the answer is. */
static cJSON *record_parts(const master *m, const char *verb, const char *path,
                           const char *query, const admin_route *r, int64_t id,
                           const caller *c, const char *peer)
{
    cJSON *rec = cJSON_CreateObject();

    if (rec == NULL)
        return NULL;
    cJSON_AddNumberToObject(rec, "ts", 0);
    if (c->who != NULL) {
        cJSON_AddStringToObject(rec, "who", c->who);
        cJSON_AddStringToObject(rec, "role", auth_role_name(c->role));
    } else {
        cJSON_AddNullToObject(rec, "who");
        cJSON_AddNullToObject(rec, "role");
    }
    cJSON_AddStringToObject(rec, "auth", c->auth);
    cJSON_AddStringToObject(rec, "verb", verb);
    cJSON_AddStringToObject(rec, "path", path ? path : "");
    if (query != NULL && query[0] != '\0')
        cJSON_AddStringToObject(rec, "query", query);
    if (r != NULL)
        cJSON_AddStringToObject(rec, "route", r->pattern);
    else
        cJSON_AddNullToObject(rec, "route");
    if (id > 0)
        cJSON_AddNumberToObject(rec, "id", (double)id);
    cJSON_AddStringToObject(rec, "client", peer);
    cJSON_AddNumberToObject(rec, "generation_before", (double)m->generation);
    return cJSON_IsObject(rec) ? rec : NULL;
}

static cJSON *record_begin(struct evhttp_request *req, const master *m,
                           const admin_route *r, int64_t id, const caller *c)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    char peer[128];

    peer_name(req, peer, sizeof peer);
    return record_parts(m, http_method_name(evhttp_request_get_command(req)),
                        evhttp_uri_get_path(uri), evhttp_uri_get_query(uri), r,
                        id, c, peer);
}

/* The second half, from the answer (late: it has already gone out, see
 * http_on_reply), then append.  -1 when the record could not be written
 * (logged). */
static int record_finish(admin_req *ar, int status, const cJSON *body,
                         int late)
{
    master *m = ar->m;
    cJSON *rec = ar->rec;
    const char *reason =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "reason"));
    const char *message = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(body, "message"));

    cJSON_AddNumberToObject(rec, "status", status);
    cJSON_AddStringToObject(rec, "reason",
                            reason         ? reason
                            : status < 400 ? "ok"
                                           : "error");
    if (message != NULL && status >= 400)
        cJSON_AddStringToObject(rec, "message", message);
    /* What a change changed, when its route says (a blacklist entry). */
    if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(body, "detail")))
        cJSON_AddItemToObject(
            rec, "detail",
            cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(body, "detail"),
                            1));
    if (late)
        cJSON_AddBoolToObject(rec, "answered_before_audit", 1);
    cJSON_AddNumberToObject(rec, "generation_after", (double)m->generation);
    if (ar->changes) {
        cJSON *sums = cJSON_GetObjectItemCaseSensitive(rec, "checksums");
        if (sums != NULL)
            cJSON_AddItemToObject(sums, "after", audit_files_in_force(m));
    }
    return audit_record(m, rec);
}

/* The answer hook (http_on_reply): every admin answer names the
 * generation serving; an audited one goes out only once recorded, and
 * when it cannot be recorded the caller is told so with a 500 that still
 * carries the action's own answer. */
static int admin_answered(struct evhttp_request *req, int status, cJSON **body,
                          void *arg)
{
    admin_req *ar = arg;
    master *m = ar->m;

    (void)req;
    if (body != NULL && cJSON_IsObject(*body) &&
        !cJSON_HasObjectItem(*body, "generation"))
        cJSON_AddNumberToObject(*body, "generation", (double)m->generation);
    if (record_finish(ar, status, body ? *body : NULL, body == NULL) < 0 &&
        body != NULL) {
        cJSON *w = cJSON_CreateObject();
        cJSON_AddNumberToObject(w, "code", 500);
        cJSON_AddStringToObject(w, "reason", "audit_failed");
        cJSON_AddStringToObject(w, "message",
                                "the action ran but could not be recorded "
                                "in the audit log (see the server log); its "
                                "own answer is in \"result\"");
        cJSON_AddNumberToObject(w, "generation", (double)m->generation);
        cJSON_AddNumberToObject(w, "result_status", status);
        cJSON_AddItemToObject(w, "result", *body ? *body : cJSON_CreateNull());
        *body = w;
        status = 500;
    }
    cJSON_Delete(ar->rec);
    free(ar);
    return status;
}

/* Register the audit of req; NULL when out of memory. */
static admin_req *audit_begin(struct evhttp_request *req, master *m,
                              const admin_route *r, int64_t id,
                              const caller *c)
{
    admin_req *ar = calloc(1, sizeof *ar);

    if (ar == NULL || (ar->rec = record_begin(req, m, r, id, c)) == NULL ||
        http_on_reply(req, admin_answered, ar) < 0) {
        if (ar != NULL)
            cJSON_Delete(ar->rec);
        free(ar);
        return NULL;
    }
    ar->m = m;
    return ar;
}

#define CHALLENGE(bad_token)                                                  \
    ((bad_token) ? "Bearer realm=\"amsd-admin\", error=\"invalid_token\""     \
                 : "Bearer realm=\"amsd-admin\"")

static void unauthorized(struct evhttp_request *req, const char *why,
                         int bad_token)
{
    evhttp_add_header(evhttp_request_get_output_headers(req),
                      "WWW-Authenticate", CHALLENGE(bad_token));
    http_send_error(req, 401, "unauthorized", NULL, "%s", why);
}

void admin_handle(struct evhttp_request *req, void *arg)
{
    master *m = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    enum evhttp_cmd_type verb = evhttp_request_get_command(req);
    const admin_route *r = NULL;
    const char *allow = NULL, *why = NULL;
    int64_t id = 0;
    admin_req *ar;
    caller c;
    int refused, bad_token = 0;

    if (httpguard_admit(req))
        return; /* a smuggling form: 400, unaudited like a malformed line */
    for (size_t i = 0; path != NULL && i < sizeof routes / sizeof routes[0];
         i++) {
        int64_t rid = 0;
        if (!match(routes[i].pattern, path, &rid))
            continue;
        if (routes[i].verb != verb) {
            allow = routes[i].verb == EVHTTP_REQ_GET ? "GET" : "POST";
            continue;
        }
        r = &routes[i];
        id = rid;
        break;
    }
    if (r != NULL && r->role == ROLE_PUBLIC) {
        r->fn(req, m, id); /* liveness: no token, not audited */
        return;
    }
    /* Everything else, unknown paths included, is for callers only. */
    refused = authenticate(req, m, &c, &why, &bad_token);
    ar = audit_begin(req, m, r, id, &c);
    if (ar == NULL) {
        log_error("admin: out of memory: %s %s refused unaudited",
                  http_method_name(verb), path ? path : "?");
        http_send_error(req, 500, "internal", NULL,
                        "out of memory: the action cannot be audited, so "
                        "it was not run");
        return;
    }
    if (refused == 401) {
        unauthorized(req, why, bad_token);
    } else if (refused != 0) {
        http_send_error(req, refused, "forbidden", NULL, "%s", why);
    } else if (r == NULL && allow != NULL) {
        method_not_allowed(req, allow);
    } else if (r == NULL) {
        http_send_error(req, 404, "not_found", NULL, "no admin route %s",
                        path ? path : "?");
    } else if (c.role < r->role) {
        cJSON *b = cJSON_CreateObject();
        char msg[256];
        snprintf(msg, sizeof msg, "%s %s needs the %s role; \"%s\" has %s",
                 http_method_name(verb), r->pattern, auth_role_name(r->role),
                 c.who, auth_role_name(c.role));
        cJSON_AddNumberToObject(b, "code", 403);
        cJSON_AddStringToObject(b, "reason", "forbidden");
        cJSON_AddStringToObject(b, "message", msg);
        cJSON_AddStringToObject(b, "needs", auth_role_name(r->role));
        cJSON_AddStringToObject(b, "role", auth_role_name(c.role));
        http_send_json(req, 403, b);
    } else {
        if (verb == EVHTTP_REQ_POST) {
            /* A change: what was in force before goes in the record. */
            cJSON *sums = cJSON_AddObjectToObject(ar->rec, "checksums");
            ar->changes = 1;
            cJSON_AddItemToObject(sums, "before", audit_files_in_force(m));
        }
        r->fn(req, m, id);
    }
}

/* The route of verb and path (NULL: none) and its {id}. */
static const admin_route *find_route(const char *verb, const char *path,
                                     int64_t *id)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (strcmp(http_method_name(routes[i].verb), verb) == 0 &&
            match(routes[i].pattern, path, id))
            return &routes[i];
    return NULL;
}

int admin_early_check(void *ud, const char *method, const char *target,
                      const char *authorization, const struct sockaddr *peer,
                      char *body, size_t bodylen, char *hdr, size_t hdrlen)
{
    master *m = ud;
    const char *why = NULL, *query = NULL;
    char path[512], host[INET6_ADDRSTRLEN] = "?",
                    client[INET6_ADDRSTRLEN + 16];
    int bad_token = 0, st;
    unsigned port = 0;
    int64_t id = 0;
    const admin_route *r;
    caller c;
    cJSON *rec, *b;
    char *q, *text;

    st = authenticate_parts(m, authorization, peer, &c, &why, &bad_token);
    if (st == 0)
        return 0;
    snprintf(path, sizeof path, "%s", target);
    if ((q = strchr(path, '?')) != NULL) {
        *q = '\0';
        query = q + 1;
    }
    r = find_route(method, path, &id);
    if (peer->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)peer;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
    } else if (peer->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)peer;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
    }
    snprintf(client, sizeof client, strchr(host, ':') ? "[%s]:%u" : "%s:%u",
             host, port);
    /* Audited like the same refusal made after the body (admin_handle). */
    rec = record_parts(m, method, path, query, r, r ? id : 0, &c, client);
    if (rec != NULL) {
        cJSON_AddNumberToObject(rec, "status", st);
        cJSON_AddStringToObject(rec, "reason",
                                st == 401 ? "unauthorized" : "forbidden");
        cJSON_AddStringToObject(rec, "message", why);
        cJSON_AddBoolToObject(rec, "body_unread", 1);
        cJSON_AddNumberToObject(rec, "generation_after",
                                (double)m->generation);
        audit_record(m, rec);
        cJSON_Delete(rec);
    }
    b = cJSON_CreateObject();
    cJSON_AddNumberToObject(b, "code", st);
    cJSON_AddStringToObject(b, "reason",
                            st == 401 ? "unauthorized" : "forbidden");
    cJSON_AddStringToObject(b, "message", why);
    cJSON_AddNumberToObject(b, "generation", (double)m->generation);
    text = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    snprintf(body, bodylen, "%s", text ? text : "{}");
    free(text);
    if (st == 401)
        snprintf(hdr, hdrlen, "WWW-Authenticate: %s\r\n",
                 CHALLENGE(bad_token));
    else if (hdrlen > 0)
        hdr[0] = '\0';
    return st;
}
