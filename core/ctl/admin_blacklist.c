/*
 * admin_blacklist.c -- the blacklist's admin routes (admin_blacklist.h).
 *
 * The request is checked in the master (a bad body is a 400 at once, no
 * child forked); the store work runs in a helper child, one at a time
 * like the tag import (a second one meanwhile is 409); a change is then
 * read by every worker of this node (ask "blacklist_refresh") before the
 * answer goes out.
 */
#include "admin_blacklist.h"

#include "ask.h"
#include "blacklist_admin.h"
#include "clock.h"
#include "fileio.h"
#include "http.h"
#include "log.h"
#include "supervise.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/wait.h>

#define TTL_S_MAX (10LL * 366 * 86400)
#define LIST_LIMIT_MAX 2000 /* entries in one answer (the helper's pipe) */
#define LIST_LIMIT_DEFAULT 100

enum { OP_LIST, OP_ADD, OP_REMOVE, OP_IMPORT };

static const char *const op_names[] = {"list", "add", "remove", "import"};

/* The job in flight: master helpers run one at a time, so one slot. */
static struct bl_job {
    struct evhttp_request *req;
    int op;
    bl_change change;              /* add, remove */
    bl_filter filter;              /* list */
    char match[BL_VALUE_MAX + 40]; /* filter.match points here */
    int64_t activity_id;           /* import */
    int64_t timeout_s;
} job;

/* ---- in the helper child ---- */

static cJSON *store_error(const char *fmt, const char *what)
{
    cJSON *r = cJSON_CreateObject();
    char msg[700];

    snprintf(msg, sizeof msg, fmt, what);
    cJSON_AddStringToObject(r, "store_error", msg);
    return r;
}

/* The journal read into a fresh index x (caller frees it). */
static ams_status read_all(store *st, bl_index *x, int64_t now_ms)
{
    bl_index_init(x);
    return bl_journal_read(st, x, now_ms, NULL);
}

static cJSON *child_work(store *st, int64_t now_ms)
{
    struct evbuffer *in;
    bl_index x;
    cJSON *res = NULL;

    switch (job.op) {
    case OP_LIST:
        if (read_all(st, &x, now_ms) != AMS_OK)
            res = store_error("the store failed reading the %s (see the log)",
                              "blacklist");
        else
            res = bl_list_json(&x, &job.filter, now_ms);
        bl_index_free(&x);
        return res;
    case OP_REMOVE:
        if (read_all(st, &x, now_ms) != AMS_OK) {
            bl_index_free(&x);
            return store_error("the store failed reading the %s (see the "
                               "log); nothing was removed",
                               "blacklist");
        }
        if (bl_index_find(&x, job.change.activity_id, job.change.kind,
                          job.change.value) == NULL) {
            bl_index_free(&x);
            res = cJSON_CreateObject();
            cJSON_AddBoolToObject(res, "not_found", 1);
            return res;
        }
        bl_index_free(&x);
        __attribute__((fallthrough)); /* append the removal */
    case OP_ADD:
        if (bl_journal_append(st, &job.change, 1, now_ms) != AMS_OK)
            return store_error("the store failed writing the %s (see the "
                               "log); nothing changed",
                               "change");
        return cJSON_CreateObject();
    case OP_IMPORT:
        in = evhttp_request_get_input_buffer(job.req);
        return bl_import_run(st, (const char *)evbuffer_pullup(in, -1),
                             evbuffer_get_length(in), job.activity_id, now_ms);
    }
    return NULL;
}

static int child(master *m, int fd, void *arg)
{
    store_options so;
    char err[512] = "";
    store *st;
    cJSON *res;
    char *text;
    int rc;

    (void)arg;
    conf_store_options(m->c, &so);
    st = store_open(&so, err, sizeof err);
    if (st == NULL) {
        res = store_error("cannot open the store: %s", err);
    } else {
        res = child_work(st, job.change.at_ms);
        store_close(st);
    }
    text = res ? cJSON_PrintUnformatted(res) : NULL;
    cJSON_Delete(res);
    if (text == NULL) {
        log_error("blacklist %s: out of memory", op_names[job.op]);
        return 1;
    }
    rc = fileio_write_all(fd, text, strlen(text)) < 0 ? 1 : 0;
    free(text);
    return rc;
}

/* ---- in the master ---- */

/* What the audit record keeps of a change (admin.c copies "detail"). */
static cJSON *detail(void)
{
    cJSON *d = cJSON_CreateObject();
    const bl_change *c = &job.change;

    cJSON_AddStringToObject(d, "op", op_names[job.op]);
    if (job.op == OP_IMPORT) {
        cJSON_AddNumberToObject(d, "activity", (double)job.activity_id);
        return d;
    }
    cJSON_AddNumberToObject(d, "activity", (double)c->activity_id);
    cJSON_AddStringToObject(d, "kind", c->kind == BL_UID ? "uid" : "ip");
    cJSON_AddStringToObject(d, "value", c->value);
    if (job.op == OP_ADD) {
        cJSON_AddStringToObject(d, "reason", c->reason);
        if (c->expires_ms != 0)
            cJSON_AddNumberToObject(d, "expires_at",
                                    (double)(c->expires_ms / 1000));
        else
            cJSON_AddNullToObject(d, "expires_at");
    }
    return d;
}

static void ok_fields(cJSON *b)
{
    cJSON_AddNumberToObject(b, "code", 200);
    cJSON_AddStringToObject(b, "reason", "ok");
}

static void refreshed(master *m, void *arg, const cJSON *answers, int missing)
{
    struct evhttp_request *req = job.req;
    cJSON *b = arg;
    const cJSON *a;
    int n = 0, failed = 0;

    (void)m;
    job.req = NULL;
    cJSON_ArrayForEach(a, answers)
    {
        if (cJSON_GetObjectItemCaseSensitive(a, "error") != NULL)
            failed++;
        else
            n++;
    }
    cJSON_AddNumberToObject(b, "workers_refreshed", n);
    if (missing + failed > 0) {
        cJSON_AddNumberToObject(b, "workers_missing", missing + failed);
        log_warn("blacklist %s: %d worker(s) did not read the change now; "
                 "they will within blacklist.poll_ms",
                 op_names[job.op], missing + failed);
    }
    http_send_json(req, 200, b);
}

static void job_failed(struct evhttp_request *req, master *m, int status,
                       int timed_out)
{
    if (timed_out)
        http_send_error(req, 500, "timeout", NULL,
                        "the blacklist %s did not finish within "
                        "admin_import_timeout_s (%lld s) and was stopped",
                        op_names[job.op], (long long)job.timeout_s);
    else if (m->stopping)
        http_send_error(req, 503, "stopping", NULL,
                        "amsd is stopping: the blacklist %s was interrupted",
                        op_names[job.op]);
    else
        http_send_error(req, 500, "internal", NULL,
                        "the blacklist %s process ended (status %d) without "
                        "a result (see the server log)",
                        op_names[job.op], status);
}

static void done(master *m, void *arg, const char *out, size_t len, int status,
                 int timed_out)
{
    struct evhttp_request *req = job.req;
    cJSON *res = NULL;
    const cJSON *serr;
    cJSON *q;

    (void)arg;
    if (!timed_out && len > 0)
        res = cJSON_ParseWithLength(out, len);
    if (res == NULL || !cJSON_IsObject(res)) {
        cJSON_Delete(res);
        job.req = NULL;
        job_failed(req, m, status, timed_out);
        return;
    }
    serr = cJSON_GetObjectItemCaseSensitive(res, "store_error");
    if (cJSON_IsString(serr)) {
        job.req = NULL;
        cJSON_AddNumberToObject(res, "code", 503);
        cJSON_AddStringToObject(res, "reason", "store_unavailable");
        cJSON_AddStringToObject(res, "message", serr->valuestring);
        cJSON_DeleteItemFromObjectCaseSensitive(res, "store_error");
        http_send_json(req, 503, res);
        return;
    }
    if (job.op == OP_LIST) {
        job.req = NULL;
        ok_fields(res);
        http_send_json(req, 200, res);
        return;
    }
    if (job.op == OP_REMOVE &&
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "not_found"))) {
        job.req = NULL;
        cJSON_Delete(res);
        http_send_error(req, 404, "not_found", NULL, "no %s entry %s in %s",
                        job.change.kind == BL_UID ? "uid" : "ip",
                        job.change.value,
                        job.change.activity_id ? "this activity's blacklist"
                                               : "the global blacklist");
        return;
    }
    ok_fields(res);
    cJSON_AddItemToObject(res, "detail", detail());
    if (job.op == OP_IMPORT) {
        cJSON *d = cJSON_GetObjectItemCaseSensitive(res, "detail");
        cJSON_AddNumberToObject(
            d, "loaded",
            cJSON_GetNumberValue(cJSON_GetObjectItem(res, "loaded")));
        cJSON_AddNumberToObject(
            d, "rejected",
            cJSON_GetNumberValue(cJSON_GetObjectItem(res, "rejected")));
    }
    log_info("blacklist %s by the admin plane; workers reading it",
             op_names[job.op]);
    q = cJSON_CreateObject();
    cJSON_AddStringToObject(q, "type", "blacklist_refresh");
    if (q == NULL || ask_all(m, q, 10000, refreshed, res) < 0) {
        job.req = NULL;
        cJSON_AddStringToObject(res, "warning",
                                "the workers could not be told now; they "
                                "read the change within blacklist.poll_ms");
        http_send_json(req, 200, res);
    }
    cJSON_Delete(q);
}

/* 1 when a helper runs (answered 409): job must not be touched then, its
 * done() still reads it. */
static int busy(struct evhttp_request *req, const master *m)
{
    if (m->helper == NULL)
        return 0;
    http_send_error(req, 409, "conflict", NULL,
                    "an import or blacklist change is already running; "
                    "retry when it has answered");
    return 1;
}

/* Start the job of op for req (job filled in).  Answers when it cannot. */
static void start(struct evhttp_request *req, master *m, int op)
{
    if (m->stopping) {
        http_send_error(req, 503, "stopping", NULL, "amsd is stopping");
        return;
    }
    if (busy(req, m))
        return;
    job.req = req;
    job.op = op;
    job.timeout_s = m->c->admin_import_timeout_s;
    if (job.change.at_ms == 0)
        job.change.at_ms = clock_wall_ms();
    if (supervise_helper_start(m, "blacklist", job.timeout_s * 1000, child,
                               done, NULL) < 0) {
        int err = errno;
        job.req = NULL;
        http_send_error(req, err == EBUSY ? 409 : 500,
                        err == EBUSY ? "conflict" : "internal", NULL,
                        "cannot start the blacklist process: %s",
                        strerror(err));
    }
}

/* ---- reading the request ---- */

/* A non-negative integer of the query or body; -1 with msg when bad. */
static int parse_id(const char *s, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 ||
        v > ((int64_t)1 << 53))
        return -1;
    *out = v;
    return 0;
}

/* The query of GET /admin/blacklist into job.filter. */
static int list_query(struct evhttp_request *req, char *msg, size_t len)
{
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    struct evkeyvalq kv;
    struct evkeyval *p;
    int rc = 0;

    job.filter = (bl_filter){-1, 0, NULL, 0, LIST_LIMIT_DEFAULT};
    if (q == NULL || q[0] == '\0')
        return 0;
    TAILQ_INIT(&kv);
    if (evhttp_parse_query_str(q, &kv) < 0) {
        snprintf(msg, len, "query: malformed");
        return -1;
    }
    TAILQ_FOREACH(p, &kv, next)
    {
        int64_t v;
        if (strcmp(p->key, "activity") == 0) {
            if (parse_id(p->value, &job.filter.activity_id) < 0) {
                snprintf(msg, len,
                         "activity: expected an activity id (0: "
                         "the global blacklist)");
                rc = -1;
            }
        } else if (strcmp(p->key, "kind") == 0) {
            if (strcmp(p->value, "uid") == 0)
                job.filter.kind = BL_UID;
            else if (strcmp(p->value, "ip") == 0)
                job.filter.kind = BL_IP;
            else {
                snprintf(msg, len, "kind: expected uid or ip");
                rc = -1;
            }
        } else if (strcmp(p->key, "match") == 0) {
            snprintf(job.match, sizeof job.match, "%s", p->value);
            job.filter.match = job.match;
        } else if (strcmp(p->key, "include_expired") == 0) {
            job.filter.include_expired =
                strcmp(p->value, "1") == 0 || strcmp(p->value, "true") == 0;
        } else if (strcmp(p->key, "limit") == 0) {
            if (parse_id(p->value, &v) < 0 || v < 1 || v > LIST_LIMIT_MAX) {
                snprintf(msg, len, "limit: expected 1..%d", LIST_LIMIT_MAX);
                rc = -1;
            } else {
                job.filter.limit = (size_t)v;
            }
        } else {
            snprintf(msg, len,
                     "query: unknown parameter \"%.64s\" (known: activity "
                     "kind match include_expired limit)",
                     p->key);
            rc = -1;
        }
        if (rc < 0)
            break;
    }
    evhttp_clear_headers(&kv);
    return rc;
}

static const char *body_str(const cJSON *b, const char *name, int *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, name);

    if (v == NULL)
        return NULL;
    if (!cJSON_IsString(v)) {
        *bad = 1;
        return NULL;
    }
    return v->valuestring;
}

/* The expiry of an add: expires_at (Unix seconds as a number or text,
 * or ISO UTC) or ttl_s, not both. */
static int body_expiry(const cJSON *b, int64_t now_ms, int64_t *ms, char *msg,
                       size_t len)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(b, "expires_at");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(b, "ttl_s");
    char text[64];

    *ms = 0;
    if (e != NULL && t != NULL) {
        snprintf(msg, len, "expires_at and ttl_s: give one of them");
        return -1;
    }
    if (t != NULL) {
        if (!cJSON_IsNumber(t) || t->valuedouble < 1 ||
            t->valuedouble > (double)TTL_S_MAX ||
            t->valuedouble != (double)(int64_t)t->valuedouble) {
            snprintf(msg, len, "ttl_s: expected whole seconds, 1..%lld",
                     (long long)TTL_S_MAX);
            return -1;
        }
        *ms = now_ms + (int64_t)t->valuedouble * 1000;
        return 0;
    }
    if (e == NULL || cJSON_IsNull(e))
        return 0;
    if (cJSON_IsNumber(e) && e->valuedouble >= 0 && e->valuedouble < 1e12)
        snprintf(text, sizeof text, "%lld", (long long)e->valuedouble);
    else if (cJSON_IsString(e))
        snprintf(text, sizeof text, "%s", e->valuestring);
    else
        text[0] = '?';
    if (bl_expiry_parse(text, ms, msg, len) < 0)
        return -1;
    if (*ms != 0 && *ms <= now_ms) {
        snprintf(msg, len, "expires_at: already past");
        return -1;
    }
    return 0;
}

/* The body of an add (add) or a remove into job.change; -1 with msg. */
static int change_body(struct evhttp_request *req, int add, char *msg,
                       size_t len)
{
    static const char *const known_add[] = {
        "kind", "value", "reason", "activity", "expires_at", "ttl_s", NULL};
    static const char *const known_rm[] = {"kind", "value", "activity", NULL};
    const char *const *known = add ? known_add : known_rm;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    cJSON *b =
        n ? cJSON_ParseWithLength((const char *)evbuffer_pullup(in, -1), n)
          : NULL;
    const cJSON *it, *act;
    const char *kind, *value, *reason;
    int bad = 0, rc = -1;

    memset(&job.change, 0, sizeof job.change);
    job.change.add = add;
    job.change.at_ms = clock_wall_ms();
    if (!cJSON_IsObject(b)) {
        snprintf(msg, len,
                 "body: expected a JSON object {\"kind\":\"uid\"|\"ip\","
                 "\"value\":..%s}",
                 add ? ", \"reason\":.., \"expires_at\"|\"ttl_s\":.." : "");
        goto out;
    }
    cJSON_ArrayForEach(it, b)
    {
        size_t i;
        for (i = 0; known[i] != NULL && strcmp(known[i], it->string) != 0; i++)
            ;
        if (known[i] == NULL) {
            snprintf(msg, len, "body: unknown member \"%.64s\"", it->string);
            goto out;
        }
    }
    kind = body_str(b, "kind", &bad);
    value = body_str(b, "value", &bad);
    reason = body_str(b, "reason", &bad);
    if (bad || kind == NULL || value == NULL) {
        snprintf(msg, len,
                 "kind, value%s: expected strings (kind and value "
                 "required)",
                 add ? ", reason" : "");
        goto out;
    }
    if (bl_value_parse(kind, value, &job.change, msg, len) < 0)
        goto out;
    act = cJSON_GetObjectItemCaseSensitive(b, "activity");
    if (act != NULL &&
        (!cJSON_IsNumber(act) || act->valuedouble < 0 ||
         act->valuedouble > (double)((int64_t)1 << 53) ||
         act->valuedouble != (double)(int64_t)act->valuedouble)) {
        snprintf(msg, len,
                 "activity: expected an activity id (0 or absent: "
                 "the global blacklist)");
        goto out;
    }
    job.change.activity_id = act ? (int64_t)act->valuedouble : 0;
    if (add) {
        if (reason != NULL && bl_reason_check(reason, msg, len) < 0)
            goto out;
        snprintf(job.change.reason, sizeof job.change.reason, "%s",
                 reason ? reason : "");
        if (body_expiry(b, job.change.at_ms, &job.change.expires_ms, msg,
                        len) < 0)
            goto out;
    }
    rc = 0;
out:
    cJSON_Delete(b);
    return rc;
}

/* ---- the routes ---- */

void admin_blacklist_list(struct evhttp_request *req, master *m, int64_t id)
{
    char msg[256];

    (void)id;
    if (busy(req, m))
        return;
    memset(&job.change, 0, sizeof job.change);
    if (list_query(req, msg, sizeof msg) < 0) {
        http_send_error(req, 400, "bad_request", NULL, "%s", msg);
        return;
    }
    start(req, m, OP_LIST);
}

static void change_route(struct evhttp_request *req, master *m, int op)
{
    char msg[256];

    if (busy(req, m))
        return;
    if (change_body(req, op == OP_ADD, msg, sizeof msg) < 0) {
        http_send_error(req, 400, "bad_request", NULL, "%s", msg);
        return;
    }
    start(req, m, op);
}

void admin_blacklist_add(struct evhttp_request *req, master *m, int64_t id)
{
    (void)id;
    change_route(req, m, OP_ADD);
}

void admin_blacklist_remove(struct evhttp_request *req, master *m, int64_t id)
{
    (void)id;
    change_route(req, m, OP_REMOVE);
}

void admin_blacklist_import(struct evhttp_request *req, master *m, int64_t id)
{
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    struct evkeyvalq kv;
    const char *a;
    int64_t aid = 0;

    (void)id;
    if (busy(req, m))
        return;
    TAILQ_INIT(&kv);
    if (q != NULL && q[0] != '\0') {
        if (evhttp_parse_query_str(q, &kv) < 0 ||
            ((a = evhttp_find_header(&kv, "activity")) != NULL &&
             parse_id(a, &aid) < 0) ||
            (TAILQ_FIRST(&kv) != NULL &&
             (strcmp(TAILQ_FIRST(&kv)->key, "activity") != 0 ||
              TAILQ_NEXT(TAILQ_FIRST(&kv), next) != NULL))) {
            evhttp_clear_headers(&kv);
            http_send_error(req, 400, "bad_request", NULL,
                            "query: only activity=ID (0 or absent: the "
                            "global blacklist)");
            return;
        }
        evhttp_clear_headers(&kv);
    }
    memset(&job.change, 0, sizeof job.change);
    job.activity_id = aid;
    start(req, m, OP_IMPORT);
}
