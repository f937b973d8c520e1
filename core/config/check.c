/*
 * check.c -- the configuration checker.
 *
 * Promises are checked per resource: every operation that declared (in its
 * init) that it takes `per_call` units from a resource promises
 * per_call x the method's limits.total calls.  When every method touching
 * a resource is capped, the promises must fit the resource's stock or
 * budget; one uncapped method makes the sum unknowable, and then only the
 * per-call amount is checked.
 */
#include "check.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int check_rule_constant(const rnode *n)
{
    int v, any_unknown = 0;

    if (n == NULL)
        return 1;
    switch (n->kind) {
    case RN_LEAF:
        return n->leaf->constant;
    case RN_NOT:
        v = check_rule_constant(n->kids[0]);
        return v < 0 ? -1 : !v;
    case RN_ALL:
        for (size_t i = 0; i < n->nkids; i++) {
            v = check_rule_constant(n->kids[i]);
            if (v == 0)
                return 0;
            any_unknown |= v < 0;
        }
        return any_unknown ? -1 : 1;
    case RN_ANY:
        for (size_t i = 0; i < n->nkids; i++) {
            v = check_rule_constant(n->kids[i]);
            if (v == 1)
                return 1;
            any_unknown |= v < 0;
        }
        return any_unknown ? -1 : 0;
    }
    return -1;
}

/* The resource an instance's param names: its kind label and capacity
 * (-1 when unlimited). */
static const cJSON *resource_of(const instance *in, const char *param,
                                const char **kind, double *cap)
{
    const ams_param *spec = in->entry->spec->params;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(in->params, param);
    const char *group;
    const cJSON *def, *v;

    for (; spec && spec->name && strcmp(spec->name, param) != 0; spec++)
        ;
    if (spec == NULL || spec->name == NULL || !cJSON_IsString(name))
        return NULL;
    group = spec->type == AMS_T_POOL     ? "pools"
            : spec->type == AMS_T_COUPON ? "coupons"
            : spec->type == AMS_T_BUDGET ? "budgets"
                                         : NULL;
    if (group == NULL)
        return NULL;
    def = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(in->act->resources, group),
        name->valuestring);
    v = cJSON_GetObjectItemCaseSensitive(
        def, spec->type == AMS_T_BUDGET ? "total" : "stock");
    *kind = spec->type == AMS_T_POOL     ? "pool"
            : spec->type == AMS_T_COUPON ? "coupon kind"
                                         : "budget";
    *cap = cJSON_IsNumber(v) ? v->valuedouble : -1;
    return def;
}

typedef struct promise {
    const cJSON *def; /* the resource (identity) */
    const char *kind, *name;
    double cap, sum;
    int uncapped;
    const instance *first;
} promise;

static promise *find_promise(promise *p, size_t *n, size_t max,
                             const cJSON *def)
{
    for (size_t i = 0; i < *n; i++)
        if (p[i].def == def)
            return &p[i];
    if (*n == max)
        return NULL;
    memset(&p[*n], 0, sizeof p[*n]);
    p[*n].def = def;
    return &p[(*n)++];
}

static void check_promises(activity *a, errs *e)
{
    promise p[64];
    size_t np = 0;

    for (size_t i = 0; i < a->nmethods; i++) {
        method *m = &a->methods[i];
        for (size_t k = 0; k < m->nops; k++) {
            instance *in = m->ops[k];
            for (size_t u = 0; u < in->nuses; u++) {
                const char *kind;
                double cap, per = (double)in->uses[u].per_call;
                const cJSON *def =
                    resource_of(in, in->uses[u].param, &kind, &cap);
                promise *pr;
                const cJSON *nm =
                    cJSON_GetObjectItemCaseSensitive(def, "name");
                if (def == NULL || cap < 0)
                    continue;
                if (per > cap)
                    errs_add(e, in->file, in->line,
                             "%s: takes %g per call but %s \"%s\" holds "
                             "only %g",
                             in->ref, per, kind, nm->valuestring, cap);
                pr = find_promise(p, &np, 64, def);
                if (pr == NULL)
                    continue;
                pr->kind = kind;
                pr->name = nm->valuestring;
                pr->cap = cap;
                if (pr->first == NULL)
                    pr->first = in;
                if (m->lim.total > 0)
                    pr->sum += per * (double)m->lim.total;
                else
                    pr->uncapped = 1;
            }
        }
    }
    for (size_t i = 0; i < np; i++)
        if (!p[i].uncapped && p[i].sum > p[i].cap)
            errs_add(e, p[i].first->file, p[i].first->line,
                     "%s \"%s\": methods are configured to give %g in all "
                     "(limits.total x per call), more than its %s of %g",
                     p[i].kind, p[i].name, p[i].sum,
                     strcmp(p[i].kind, "budget") == 0 ? "total" : "stock",
                     p[i].cap);
}

static void check_never(activity *a, errs *e)
{
    if (a->crowd != NULL && check_rule_constant(a->crowd) == 0)
        errs_warn(e, a->file, a->line,
                  "activity %lld: crowd: can never pass (no user is in it)",
                  (long long)a->id);
    for (size_t i = 0; i < a->nmethods; i++) {
        method *m = &a->methods[i];
        if (m->rule != NULL && check_rule_constant(m->rule) == 0)
            errs_warn(e, a->file, m->line,
                      "method \"%s\": rule: can never pass", m->name);
    }
}

void check_activities(activity **acts, size_t n, int64_t now_ms, errs *e)
{
    for (size_t i = 0; i < n; i++) {
        activity *a = acts[i];
        if (a->end_ms <= now_ms) {
            char when[32];
            time_t t = (time_t)(a->end_ms / 1000);
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
            errs_warn(e, a->file, a->line,
                      "activity %lld: ended at %s; its methods answer "
                      "\"ended\"",
                      (long long)a->id, when);
        }
        check_never(a, e);
        check_promises(a, e);
    }
}
