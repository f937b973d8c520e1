/*
 * describe.c -- what a worker says about its generation (see describe.h).
 */
#include "describe.h"

#include "ctl.h"
#include "metrics.h"
#include "services.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* An answer must fit one control message: activities are added while
 * the text so far stays under this, then next_offset says where the rest
 * starts. */
#define DESCRIBE_BUDGET (CTL_MSG_MAX / 2)

/* "2026-01-01T00:00:00+08:00" of ms in the zone off_min east of UTC. */
static void iso_time(int64_t ms, int off_min, char *out, size_t len)
{
    time_t t = (time_t)((ms - (ms % 1000 + 1000) % 1000) / 1000) +
               (time_t)off_min * 60;
    int frac = (int)((ms % 1000 + 1000) % 1000);
    int a = off_min < 0 ? -off_min : off_min;
    struct tm tm;
    char base[32], fs[8] = "";

    gmtime_r(&t, &tm);
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac != 0)
        snprintf(fs, sizeof fs, ".%03d", frac);
    snprintf(out, len, "%s%s%c%02d:%02d", base, fs, off_min < 0 ? '-' : '+',
             a / 60, a % 60);
}

static void tz_name(int off_min, char *out, size_t len)
{
    int a = off_min < 0 ? -off_min : off_min;
    snprintf(out, len, "%c%02d:%02d", off_min < 0 ? '-' : '+', a / 60, a % 60);
}

/* A rule tree as the activity file writes it, with entry refs only. */
static cJSON *rule_json(const rnode *n)
{
    cJSON *j, *kids;

    if (n == NULL)
        return cJSON_CreateNull();
    j = cJSON_CreateObject();
    switch (n->kind) {
    case RN_LEAF:
        cJSON_AddStringToObject(j, "use", n->leaf ? n->leaf->ref : "?");
        break;
    case RN_NOT:
        cJSON_AddItemToObject(j, "not",
                              rule_json(n->nkids ? n->kids[0] : NULL));
        break;
    case RN_ALL:
    case RN_ANY:
        kids = cJSON_AddArrayToObject(j, n->kind == RN_ALL ? "all" : "any");
        for (size_t i = 0; i < n->nkids; i++)
            cJSON_AddItemToArray(kids, rule_json(n->kids[i]));
        break;
    }
    return j;
}

static cJSON *method_json(const method *m)
{
    cJSON *j = cJSON_CreateObject(), *lim, *ops, *sp;

    cJSON_AddStringToObject(j, "name", m->name);
    cJSON_AddBoolToObject(j, "login", m->login);
    cJSON_AddBoolToObject(j, "signed", m->signed_only);
    sp = cJSON_AddArrayToObject(j, "signed_params");
    for (size_t i = 0; i < m->nsigned_params; i++)
        cJSON_AddItemToArray(sp, cJSON_CreateString(m->signed_params[i]));
    if (m->auth != LIS_AUTH_INHERIT) /* its own, not its listener's */
        cJSON_AddStringToObject(j, "auth", lis_auth_name((lis_auth)m->auth));
    lim = cJSON_AddObjectToObject(j, "limits");
    cJSON_AddNumberToObject(lim, "user_total", (double)m->lim.user_total);
    cJSON_AddNumberToObject(lim, "user_daily", (double)m->lim.user_daily);
    cJSON_AddNumberToObject(lim, "total", (double)m->lim.total);
    cJSON_AddNumberToObject(lim, "daily", (double)m->lim.daily);
    cJSON_AddItemToObject(j, "rule", rule_json(m->rule));
    ops = cJSON_AddArrayToObject(j, "operations");
    for (size_t i = 0; i < m->nops; i++) {
        cJSON *op = cJSON_CreateObject();
        cJSON_AddStringToObject(op, "use", m->ops[i]->ref);
        if (m->ops[i]->when != NULL)
            cJSON_AddItemToObject(op, "when", rule_json(m->ops[i]->when));
        cJSON_AddItemToArray(ops, op);
    }
    if (m->handler != NULL)
        cJSON_AddStringToObject(j, "handler", m->handler->ref);
    else
        cJSON_AddNullToObject(j, "handler");
    return j;
}

/* What the counter "<key>" of activity id holds (0 when absent): the
 * activity-scope key as services.c (make_key) builds it for plugins. */
static int counter(int64_t id, const char *key, int64_t now, int64_t *v)
{
    char k[STORE_KEY_MAX];
    int n = snprintf(k, sizeof k, "{a%lld}g:%s", (long long)id, key);
    ams_status st;

    *v = 0;
    if (n < 0 || (size_t)n >= sizeof k || svc.st == NULL)
        return -1;
    st = store_counter_get(svc.st, k, now, v);
    if (st == AMS_NOT_FOUND) {
        *v = 0;
        return 0;
    }
    return st == AMS_OK ? 0 : -1;
}

static cJSON *stock_item(int64_t stock, int64_t given)
{
    cJSON *j = cJSON_CreateObject();
    int64_t left = stock - given;

    cJSON_AddNumberToObject(j, "stock", (double)stock);
    cJSON_AddNumberToObject(j, "given", (double)given);
    cJSON_AddNumberToObject(j, "remaining", (double)(left > 0 ? left : 0));
    return j;
}

static double num(const cJSON *o, const char *name)
{
    return cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, name));
}

/* The stocked resources' counters, by the names the bundled plugins
 * count them under (plugins/pool.c, coupon.c, credit.c): pool prizes
 * "pool.<pool>.<prize>", coupon kinds "coupon.<kind>" (only those with a
 * stock are counted), budgets "budget.<name>".  NULL when the store
 * cannot be read. */
static cJSON *stock_json(const activity *a, int64_t now)
{
    const cJSON *res = a->resources, *it;
    cJSON *j = cJSON_CreateObject();
    cJSON *pools = cJSON_AddObjectToObject(j, "pools");
    cJSON *coupons = cJSON_AddObjectToObject(j, "coupons");
    cJSON *budgets = cJSON_AddObjectToObject(j, "budgets");
    char key[STORE_KEY_MAX];
    int64_t v;
    int bad = 0;

    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(res, "pools"))
    {
        const cJSON *pz;
        int64_t stock = 0, given = 0;
        cJSON *prizes = cJSON_CreateObject(), *pj;

        cJSON_ArrayForEach(pz, cJSON_GetObjectItemCaseSensitive(it, "prizes"))
        {
            const char *name = cJSON_GetStringValue(
                cJSON_GetObjectItemCaseSensitive(pz, "name"));
            snprintf(key, sizeof key, "pool.%s.%s", it->string,
                     name ? name : "");
            bad |= counter(a->id, key, now, &v) < 0;
            cJSON_AddItemToObject(prizes, name ? name : "",
                                  stock_item((int64_t)num(pz, "stock"), v));
            stock += (int64_t)num(pz, "stock");
            given += v;
        }
        pj = stock_item(stock, given);
        cJSON_AddItemToObject(pj, "prizes", prizes);
        cJSON_AddItemToObject(pools, it->string, pj);
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(res, "coupons"))
    {
        if (!cJSON_HasObjectItem(it, "stock"))
            continue; /* unlimited: nothing is counted */
        snprintf(key, sizeof key, "coupon.%s", it->string);
        bad |= counter(a->id, key, now, &v) < 0;
        cJSON_AddItemToObject(coupons, it->string,
                              stock_item((int64_t)num(it, "stock"), v));
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(res, "budgets"))
    {
        cJSON *bj;
        snprintf(key, sizeof key, "budget.%s", it->string);
        bad |= counter(a->id, key, now, &v) < 0;
        bj = stock_item((int64_t)num(it, "total"), v);
        cJSON_AddItemToObject(budgets, it->string, bj);
    }
    if (bad) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* This worker's answered requests of activity id, by reason, from its
 * metrics table (metrics.h): {"total": N, "by_reason": {...}}.  The
 * master sums the workers'. */
static cJSON *requests_json(int64_t id)
{
    const metrics_table *t = metrics_worker_table();
    cJSON *j = cJSON_CreateObject(), *by;
    char ids[24];
    double total = 0;

    snprintf(ids, sizeof ids, "%lld", (long long)id);
    by = cJSON_AddObjectToObject(j, "by_reason");
    for (size_t i = 0; t != NULL && i < t->n; i++) {
        const metrics_series *se = t->all[i];
        const char *reason;
        cJSON *have;

        if (se->family != MF_REQUESTS ||
            strcmp(metrics_label(se, 0), ids) != 0)
            continue;
        reason = metrics_label(se, 2);
        have = cJSON_GetObjectItemCaseSensitive(by, reason);
        if (have != NULL)
            cJSON_SetNumberValue(have, have->valuedouble + (double)se->v[0]);
        else
            cJSON_AddNumberToObject(by, reason, (double)se->v[0]);
        total += (double)se->v[0];
    }
    cJSON_AddNumberToObject(j, "total", total);
    return j;
}

static const char *base_name(const char *path)
{
    const char *s = path ? strrchr(path, '/') : NULL;
    return s ? s + 1 : path ? path : "";
}

static cJSON *activity_json(const activity *a, int64_t now)
{
    cJSON *j = cJSON_CreateObject(), *ms, *live, *stock;
    char buf[64];

    cJSON_AddNumberToObject(j, "id", (double)a->id);
    cJSON_AddStringToObject(j, "name", a->name ? a->name : "");
    if (a->tenant != NULL)
        cJSON_AddStringToObject(j, "tenant", a->tenant);
    else
        cJSON_AddNullToObject(j, "tenant");
    cJSON_AddBoolToObject(j, "enabled", a->enabled);
    iso_time(a->start_ms, a->tz_offset_min, buf, sizeof buf);
    cJSON_AddStringToObject(j, "start", buf);
    iso_time(a->end_ms, a->tz_offset_min, buf, sizeof buf);
    cJSON_AddStringToObject(j, "end", buf);
    tz_name(a->tz_offset_min, buf, sizeof buf);
    cJSON_AddStringToObject(j, "timezone", buf);
    snprintf(buf, sizeof buf, "%.40s:%d", base_name(a->file), a->line);
    cJSON_AddStringToObject(j, "file", buf);
    cJSON_AddItemToObject(j, "crowd", rule_json(a->crowd));
    ms = cJSON_AddArrayToObject(j, "methods");
    for (size_t i = 0; i < a->nmethods; i++)
        cJSON_AddItemToArray(ms, method_json(&a->methods[i]));
    cJSON_AddItemToObject(j, "resources", cJSON_Duplicate(a->resources, 1));
    live = cJSON_AddObjectToObject(j, "live");
    cJSON_AddItemToObject(live, "requests", requests_json(a->id));
    stock = stock_json(a, now);
    if (stock != NULL) {
        cJSON_AddItemToObject(live, "stock", stock);
    } else {
        cJSON_AddNullToObject(live, "stock");
        cJSON_AddStringToObject(live, "stock_error",
                                "the store could not be read");
    }
    return j;
}

static int by_id(const void *x, const void *y)
{
    const activity *a = *(activity *const *)x, *b = *(activity *const *)y;
    return (a->id > b->id) - (a->id < b->id);
}

static int describe_activities(gen *g, const cJSON *q, cJSON *reply)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(q, "id");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(q, "offset");
    const cJSON *lim = cJSON_GetObjectItemCaseSensitive(q, "limit");
    size_t offset = cJSON_IsNumber(off) && off->valuedouble > 0
                        ? (size_t)off->valuedouble
                        : 0;
    size_t limit = cJSON_IsNumber(lim) && lim->valuedouble >= 1
                       ? (size_t)lim->valuedouble
                       : DESCRIBE_LIMIT_DEFAULT;
    int64_t now = clock_wall_ms();
    cJSON *arr = cJSON_AddArrayToObject(reply, "activities");
    activity **sorted;
    size_t i, used = 0;

    if (cJSON_IsNumber(id)) {
        activity *a = gen_activity(g, (int64_t)id->valuedouble);
        if (a != NULL)
            cJSON_AddItemToArray(arr, activity_json(a, now));
        cJSON_AddNumberToObject(reply, "total", a != NULL);
        return 0;
    }
    if (limit > DESCRIBE_LIMIT_MAX)
        limit = DESCRIBE_LIMIT_MAX;
    sorted = malloc((g->nacts ? g->nacts : 1) * sizeof *sorted);
    if (sorted == NULL) {
        cJSON_AddStringToObject(reply, "error", "out of memory");
        return -1;
    }
    memcpy(sorted, g->acts, g->nacts * sizeof *sorted);
    qsort(sorted, g->nacts, sizeof *sorted, by_id);
    for (i = offset; i < g->nacts && i < offset + limit; i++) {
        cJSON *aj = activity_json(sorted[i], now);
        char *text = cJSON_PrintUnformatted(aj);
        size_t len = text ? strlen(text) : 0;
        free(text);
        if (i > offset && used + len > DESCRIBE_BUDGET) {
            cJSON_Delete(aj);
            break; /* the rest in the next page */
        }
        used += len;
        cJSON_AddItemToArray(arr, aj);
    }
    free(sorted);
    cJSON_AddNumberToObject(reply, "total", (double)g->nacts);
    cJSON_AddNumberToObject(reply, "offset", (double)offset);
    if (i < g->nacts)
        cJSON_AddNumberToObject(reply, "next_offset", (double)i);
    else
        cJSON_AddNullToObject(reply, "next_offset");
    return 0;
}

static cJSON *plugin_json(const plugin *p, uint64_t generation)
{
    cJSON *j = cJSON_CreateObject(), *es;
    char abi[16];

    cJSON_AddStringToObject(j, "name", p->name);
    cJSON_AddStringToObject(j, "version",
                            p->m && p->m->version ? p->m->version : "");
    snprintf(abi, sizeof abi, "%u.%u", p->m ? p->m->abi_major : 0,
             p->m ? p->m->abi_minor : 0);
    cJSON_AddStringToObject(j, "abi", abi);
    cJSON_AddNumberToObject(j, "min_minor", p->m ? p->m->min_minor : 0);
    cJSON_AddStringToObject(j, "file", base_name(p->path));
    cJSON_AddStringToObject(j, "sha256", p->sha256);
    es = cJSON_AddArrayToObject(j, "entries");
    for (size_t i = 0; i < p->nentries; i++) {
        const plugin_entry *e = &p->entries[i];
        cJSON *ej = cJSON_CreateObject();
        cJSON_AddStringToObject(ej, "name", e->spec->name);
        cJSON_AddStringToObject(ej, "kind", plugin_kind_name(e->spec->kind));
        cJSON_AddBoolToObject(ej, "undo", e->undo != NULL);
        cJSON_AddItemToArray(es, ej);
    }
    cJSON_AddNumberToObject(j, "generation", (double)generation);
    return j;
}

int answer_describe(gen *current, const cJSON *q, cJSON *reply)
{
    const char *what =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(q, "what"));

    if (current == NULL) {
        cJSON_AddStringToObject(reply, "error", "no generation");
        return -1;
    }
    cJSON_AddNumberToObject(reply, "generation", (double)current->number);
    if (what != NULL && strcmp(what, "activities") == 0)
        return describe_activities(current, q, reply);
    if (what != NULL && strcmp(what, "plugins") == 0) {
        cJSON *arr = cJSON_AddArrayToObject(reply, "plugins");
        for (size_t i = 0; i < current->nplugins; i++)
            cJSON_AddItemToArray(
                arr, plugin_json(current->plugins[i], current->number));
        return 0;
    }
    cJSON_AddStringToObject(reply, "error",
                            "describe: what is activities or plugins");
    return -1;
}
