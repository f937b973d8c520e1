/*
 * admin_info.c -- activities, plugins and the audit log, read-only (see
 * admin_info.h).
 */
#include "admin_info.h"

#include "ask.h"
#include "audit.h"
#include "describe.h"
#include "http.h"

#include <errno.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

int admin_query_ints(struct evhttp_request *req, const char *const *names,
                     const int64_t *min, const int64_t *max, int64_t *out,
                     char *msg, size_t len)
{
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    unsigned seen = 0;
    struct evkeyvalq kv;
    struct evkeyval *p;
    int rc = 0;

    if (q == NULL || q[0] == '\0')
        return 0;
    TAILQ_INIT(&kv);
    if (evhttp_parse_query_str(q, &kv) < 0) {
        snprintf(msg, len, "query: malformed");
        return -1;
    }
    TAILQ_FOREACH(p, &kv, next)
    {
        size_t i;
        char *end;
        long long v;

        for (i = 0; names[i] != NULL && strcmp(names[i], p->key) != 0; i++)
            ;
        if (names[i] == NULL || (seen & (1u << i))) {
            int k = snprintf(msg, len,
                             "query: %s parameter \"%.64s\" "
                             "(known:",
                             names[i] ? "repeated" : "unknown", p->key);
            for (size_t n = 0; names[n] != NULL && k > 0 && (size_t)k < len;
                 n++)
                k += snprintf(msg + k, len - (size_t)k, " %s", names[n]);
            if (k > 0 && (size_t)k < len)
                snprintf(msg + k, len - (size_t)k, ")");
            rc = -1;
            break;
        }
        seen |= 1u << i;
        errno = 0;
        v = strtoll(p->value, &end, 10);
        if (errno != 0 || end == p->value || *end != '\0' || v < min[i] ||
            v > max[i]) {
            snprintf(msg, len, "%s: expected an integer in %lld..%lld",
                     names[i], (long long)min[i], (long long)max[i]);
            rc = -1;
            break;
        }
        out[i] = v;
    }
    evhttp_clear_headers(&kv);
    return rc;
}

/* ---- merging the workers' descriptions ---- */

typedef struct info_job {
    struct evhttp_request *req;
    int64_t id; /* one activity; 0: a page of them (or plugins) */
} info_job;

static int worker_of(const cJSON *a)
{
    return (int)cJSON_GetNumberValue(
        cJSON_GetObjectItemCaseSensitive(a, "worker"));
}

static double gen_of(const cJSON *a)
{
    return cJSON_GetNumberValue(
        cJSON_GetObjectItemCaseSensitive(a, "generation"));
}

/* The answer definitions are taken from (the lowest worker index that
 * answered without an error), or NULL; *ok counts the good answers. */
static const cJSON *pick(const cJSON *answers, const char *member, int *ok)
{
    const cJSON *it, *first = NULL;

    *ok = 0;
    cJSON_ArrayForEach(it, answers)
    {
        if (cJSON_HasObjectItem(it, "error") ||
            !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(it, member)))
            continue;
        (*ok)++;
        if (first == NULL || worker_of(it) < worker_of(first))
            first = it;
    }
    return first;
}

/* "workers": who answered, and the generations when they differ (a
 * reload committing while asked). */
static void add_workers(cJSON *b, const cJSON *answers, const cJSON *first,
                        int ok, int missing)
{
    cJSON *w = cJSON_AddObjectToObject(b, "workers");
    const cJSON *it;
    int differ = 0;

    cJSON_AddNumberToObject(w, "answered", ok);
    cJSON_AddNumberToObject(w, "missing", missing);
    cJSON_ArrayForEach(it, answers) differ |=
        !cJSON_HasObjectItem(it, "error") && gen_of(it) != gen_of(first);
    if (differ) {
        cJSON *g = cJSON_AddObjectToObject(w, "generations");
        char k[16];
        cJSON_ArrayForEach(it, answers)
        {
            snprintf(k, sizeof k, "%d", worker_of(it));
            cJSON_AddNumberToObject(g, k, gen_of(it));
        }
        cJSON_AddStringToObject(w, "note",
                                "the workers serve different "
                                "generations (a reload is committing): "
                                "definitions are those of the generation "
                                "in \"described_generation\"");
    }
    cJSON_AddNumberToObject(b, "described_generation", gen_of(first));
}

static void add_counts(cJSON *dst, const cJSON *src)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, src)
    {
        cJSON *have = cJSON_GetObjectItemCaseSensitive(dst, it->string);
        if (!cJSON_IsNumber(it))
            continue;
        if (cJSON_IsNumber(have))
            cJSON_SetNumberValue(have, have->valuedouble + it->valuedouble);
        else
            cJSON_AddNumberToObject(dst, it->string, it->valuedouble);
    }
}

/* live.requests of act (from the first answer) becomes the sum over
 * every worker that described the same activity. */
static void sum_requests(cJSON *act, const cJSON *answers, const cJSON *first)
{
    cJSON *live = cJSON_GetObjectItemCaseSensitive(act, "live");
    cJSON *req = cJSON_GetObjectItemCaseSensitive(live, "requests");
    cJSON *by = cJSON_GetObjectItemCaseSensitive(req, "by_reason");
    cJSON *total = cJSON_GetObjectItemCaseSensitive(req, "total");
    double id =
        cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(act, "id"));
    const cJSON *ans, *other;

    if (!cJSON_IsObject(by) || !cJSON_IsNumber(total))
        return;
    cJSON_ArrayForEach(ans, answers)
    {
        if (ans == first || cJSON_HasObjectItem(ans, "error"))
            continue;
        cJSON_ArrayForEach(other,
                           cJSON_GetObjectItemCaseSensitive(ans, "activities"))
        {
            const cJSON *oreq;
            if (cJSON_GetNumberValue(
                    cJSON_GetObjectItemCaseSensitive(other, "id")) != id)
                continue;
            oreq = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(other, "live"), "requests");
            add_counts(by,
                       cJSON_GetObjectItemCaseSensitive(oreq, "by_reason"));
            cJSON_SetNumberValue(
                total,
                total->valuedouble +
                    cJSON_GetNumberValue(
                        cJSON_GetObjectItemCaseSensitive(oreq, "total")));
            break;
        }
    }
}

static void no_answer(struct evhttp_request *req, int missing)
{
    http_send_error(req, 503, "no_workers", NULL,
                    "no worker answered (%d did not in time or were not "
                    "ready); retry",
                    missing);
}

static void activities_done(master *m, void *arg, const cJSON *answers,
                            int missing)
{
    info_job *j = arg;
    int ok;
    const cJSON *first = pick(answers, "activities", &ok);
    cJSON *b, *acts, *it;

    (void)m;
    if (first == NULL) {
        no_answer(j->req, missing);
        free(j);
        return;
    }
    acts = cJSON_Duplicate(
        cJSON_GetObjectItemCaseSensitive(first, "activities"), 1);
    cJSON_ArrayForEach(it, acts) sum_requests(it, answers, first);
    if (j->id > 0 && cJSON_GetArraySize(acts) == 0) {
        cJSON_Delete(acts);
        http_send_error(j->req, 404, "not_found", NULL,
                        "unknown activity %lld", (long long)j->id);
        free(j);
        return;
    }
    b = cJSON_CreateObject();
    cJSON_AddNumberToObject(b, "code", 200);
    cJSON_AddStringToObject(b, "reason", "ok");
    add_workers(b, answers, first, ok, missing);
    if (j->id > 0) {
        cJSON_AddItemToObject(b, "activity",
                              cJSON_DetachItemFromArray(acts, 0));
        cJSON_Delete(acts);
    } else {
        const cJSON *next =
            cJSON_GetObjectItemCaseSensitive(first, "next_offset");
        cJSON_AddNumberToObject(
            b, "total",
            cJSON_GetNumberValue(
                cJSON_GetObjectItemCaseSensitive(first, "total")));
        cJSON_AddNumberToObject(
            b, "offset",
            cJSON_GetNumberValue(
                cJSON_GetObjectItemCaseSensitive(first, "offset")));
        cJSON_AddNumberToObject(b, "count", cJSON_GetArraySize(acts));
        cJSON_AddItemToObject(b, "next_offset",
                              cJSON_IsNumber(next)
                                  ? cJSON_CreateNumber(next->valuedouble)
                                  : cJSON_CreateNull());
        cJSON_AddItemToObject(b, "activities", acts);
    }
    http_send_json(j->req, 200, b);
    free(j);
}

static void plugins_done(master *m, void *arg, const cJSON *answers,
                         int missing)
{
    info_job *j = arg;
    int ok;
    const cJSON *first = pick(answers, "plugins", &ok);
    cJSON *b;

    (void)m;
    if (first == NULL) {
        no_answer(j->req, missing);
        free(j);
        return;
    }
    b = cJSON_CreateObject();
    cJSON_AddNumberToObject(b, "code", 200);
    cJSON_AddStringToObject(b, "reason", "ok");
    add_workers(b, answers, first, ok, missing);
    cJSON_AddItemToObject(
        b, "plugins",
        cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(first, "plugins"),
                        1));
    http_send_json(j->req, 200, b);
    free(j);
}

static void ask_describe(struct evhttp_request *req, master *m, cJSON *q,
                         int64_t id, ask_done_fn done)
{
    info_job *j = calloc(1, sizeof *j);

    if (j == NULL || q == NULL) {
        free(j);
        cJSON_Delete(q);
        http_send_error(req, 500, "internal", NULL, "out of memory");
        return;
    }
    *j = (info_job){req, id};
    cJSON_AddStringToObject(q, "type", "describe");
    if (ask_all(m, q, ADMIN_INFO_TIMEOUT_MS, done, j) < 0) {
        free(j);
        http_send_error(req, 500, "internal", NULL, "out of memory");
    }
    cJSON_Delete(q);
}

void admin_info_activities(struct evhttp_request *req, master *m, int64_t id)
{
    static const char *const names[] = {"offset", "limit", NULL};
    static const int64_t min[] = {0, 1};
    static const int64_t max[] = {INT32_MAX, DESCRIBE_LIMIT_MAX};
    int64_t v[] = {0, DESCRIBE_LIMIT_DEFAULT};
    cJSON *q;
    char msg[256];

    if (id == 0 &&
        admin_query_ints(req, names, min, max, v, msg, sizeof msg) < 0) {
        http_send_error(req, 400, "bad_request", NULL, "%s", msg);
        return;
    }
    q = cJSON_CreateObject();
    cJSON_AddStringToObject(q, "what", "activities");
    if (id > 0) {
        cJSON_AddNumberToObject(q, "id", (double)id);
    } else {
        cJSON_AddNumberToObject(q, "offset", (double)v[0]);
        cJSON_AddNumberToObject(q, "limit", (double)v[1]);
    }
    ask_describe(req, m, q, id, activities_done);
}

void admin_info_plugins(struct evhttp_request *req, master *m, int64_t id)
{
    cJSON *q = cJSON_CreateObject();

    (void)id;
    cJSON_AddStringToObject(q, "what", "plugins");
    ask_describe(req, m, q, 0, plugins_done);
}

/* ---- the audit log ---- */

void admin_info_audit(struct evhttp_request *req, master *m, int64_t id)
{
    static const char *const names[] = {"since", "limit", NULL};
    static const int64_t min[] = {0, 1};
    static const int64_t max[] = {INT64_MAX, AUDIT_READ_MAX};
    int64_t v[] = {0, AUDIT_READ_DEFAULT};
    size_t matched = 0, skipped = 0;
    cJSON *b, *arr;
    char msg[256];

    (void)id;
    if (admin_query_ints(req, names, min, max, v, msg, sizeof msg) < 0) {
        http_send_error(req, 400, "bad_request", NULL, "%s", msg);
        return;
    }
    b = cJSON_CreateObject();
    cJSON_AddNumberToObject(b, "code", 200);
    cJSON_AddStringToObject(b, "reason", "ok");
    cJSON_AddNumberToObject(b, "since", (double)v[0]);
    arr = cJSON_CreateArray();
    if (audit_read(m->c->audit_log, v[0], (size_t)v[1], arr, &matched,
                   &skipped) < 0) {
        int err = errno;
        cJSON_Delete(arr);
        cJSON_Delete(b);
        http_send_error(req, 500, "audit_unreadable", NULL,
                        "cannot read the audit log %s: %s", m->c->audit_log,
                        strerror(err));
        return;
    }
    cJSON_AddNumberToObject(b, "count", cJSON_GetArraySize(arr));
    cJSON_AddNumberToObject(b, "matched", (double)matched);
    cJSON_AddBoolToObject(b, "truncated",
                          matched > (size_t)cJSON_GetArraySize(arr));
    if (skipped > 0)
        cJSON_AddNumberToObject(b, "unreadable_lines", (double)skipped);
    cJSON_AddItemToObject(b, "records", arr);
    http_send_json(req, 200, b);
}
