/*
 * check_params.c -- the schema stands between activity files and plugin
 * code: invalid params are refused by the host before init runs, and the
 * example params are accepted.
 *
 * Variants are made from the entry's example by changing one param at a
 * time, so each is invalid for exactly one reason.
 */
#include "conform.h"
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INT_LIMIT 9007199254740992.0 /* 2^53: the schema's integer range */
#define LONG_STRING_MAX (1 << 20)

typedef struct variant {
    char what[240];
    cJSON *params;
} variant;

typedef struct variants {
    variant v[256];
    size_t n;
} variants;

/* Take ownership of params as a variant described by what. */
static void add(variants *vs, cJSON *params, const char *what)
{
    if (vs->n == sizeof vs->v / sizeof vs->v[0] || params == NULL) {
        cJSON_Delete(params);
        return;
    }
    snprintf(vs->v[vs->n].what, sizeof vs->v[0].what, "%s", what);
    vs->v[vs->n++].params = params;
}

/* base with param name set to v (owned). */
static cJSON *with(const cJSON *base, const char *name, cJSON *v)
{
    cJSON *p = cJSON_Duplicate(base, 1);

    if (p == NULL || v == NULL) {
        cJSON_Delete(p);
        cJSON_Delete(v);
        return NULL;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(p, name);
    cJSON_AddItemToObject(p, name, v);
    return p;
}

static cJSON *string_of_len(size_t n)
{
    char *s = malloc(n + 1);
    cJSON *v;

    if (s == NULL)
        return NULL;
    memset(s, 'a', n);
    s[n] = '\0';
    v = cJSON_CreateString(s);
    free(s);
    return v;
}

static cJSON *list_of_len(size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a != NULL && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString("x"));
    return a;
}

static void gen_missing(const ams_entry *e, const cJSON *base, variants *vs)
{
    char what[240];

    for (const ams_param *q = e->params; q && q->name; q++) {
        cJSON *p;
        if (!(q->flags & AMS_P_REQUIRED))
            continue;
        p = cJSON_Duplicate(base, 1);
        cJSON_DeleteItemFromObjectCaseSensitive(p, q->name);
        snprintf(what, sizeof what, "without the required \"%s\"", q->name);
        add(vs, p, what);
    }
}

static void gen_mistyped(const ams_entry *e, const cJSON *base, variants *vs)
{
    char what[240];
    cJSON *p;

    for (const ams_param *q = e->params; q && q->name; q++) {
        cJSON *bad[3] = {NULL, NULL, NULL};
        switch (q->type) {
        case AMS_T_INT:
            bad[0] = cJSON_CreateString("1");
            bad[1] = cJSON_CreateNumber(1.5);
            bad[2] = cJSON_CreateTrue();
            break;
        case AMS_T_NUMBER:
            bad[0] = cJSON_CreateString("1");
            bad[1] = cJSON_CreateTrue();
            break;
        case AMS_T_STRING:
        case AMS_T_POOL:
        case AMS_T_COUPON:
        case AMS_T_BUDGET:
            bad[0] = cJSON_CreateNumber(42);
            bad[1] = cJSON_CreateArray();
            cJSON_AddItemToArray(bad[1], cJSON_CreateString("x"));
            break;
        case AMS_T_BOOL:
            bad[0] = cJSON_CreateString("true");
            bad[1] = cJSON_CreateNumber(1);
            break;
        case AMS_T_STRINGS:
            bad[0] = cJSON_CreateString("x");
            bad[1] = cJSON_CreateArray();
            cJSON_AddItemToArray(bad[1], cJSON_CreateNumber(1));
            break;
        case AMS_T_JSON:
            break; /* any value is one */
        }
        for (int i = 0; i < 3; i++) {
            if (bad[i] == NULL)
                continue;
            snprintf(what, sizeof what, "\"%s\" = %s (not a %s)", q->name,
                     hx_brief(bad[i]),
                     q->type == AMS_T_STRINGS  ? "list of strings"
                     : q->type == AMS_T_INT    ? "integer"
                     : q->type == AMS_T_NUMBER ? "number"
                     : q->type == AMS_T_BOOL   ? "bool"
                                               : "string");
            add(vs, with(base, q->name, bad[i]), what);
        }
        if (q->type == AMS_T_POOL || q->type == AMS_T_COUPON ||
            q->type == AMS_T_BUDGET) {
            snprintf(what, sizeof what,
                     "\"%s\" naming a resource the activity does not declare",
                     q->name);
            add(vs,
                with(base, q->name, cJSON_CreateString("conform_undeclared")),
                what);
        }
    }
    p = cJSON_Duplicate(base, 1);
    cJSON_AddNumberToObject(p, "conform_unknown_param", 1);
    add(vs, p, "with an unknown param \"conform_unknown_param\"");
}

/* A value just outside bound b (the measured quantity x), or NULL. */
static cJSON *outside(const ams_param *q, double x)
{
    switch (q->type) {
    case AMS_T_INT:
        if (fabs(x) >= INT_LIMIT)
            return NULL;
        return cJSON_CreateNumber(x);
    case AMS_T_NUMBER:
        return isfinite(x) ? cJSON_CreateNumber(x) : NULL;
    case AMS_T_STRING:
    case AMS_T_POOL:
    case AMS_T_COUPON:
    case AMS_T_BUDGET:
        if (x < 0 || x > LONG_STRING_MAX)
            return NULL;
        return string_of_len((size_t)x);
    case AMS_T_STRINGS:
        if (x < 0 || x > 100000)
            return NULL;
        return list_of_len((size_t)x);
    default:
        return NULL;
    }
}

static void gen_bounds(const ams_entry *e, const cJSON *base, variants *vs)
{
    char what[240];

    for (const ams_param *q = e->params; q && q->name; q++) {
        const char *measure = q->type == AMS_T_INT || q->type == AMS_T_NUMBER
                                  ? "value"
                              : q->type == AMS_T_STRINGS ? "count"
                                                         : "length";
        if (q->flags & AMS_P_MIN) {
            cJSON *v = outside(q, q->min - 1);
            snprintf(what, sizeof what, "\"%s\" with %s %g (min %g)", q->name,
                     measure, q->min - 1, q->min);
            if (v != NULL)
                add(vs, with(base, q->name, v), what);
        }
        if (q->flags & AMS_P_MAX) {
            cJSON *v = outside(q, q->max + 1);
            snprintf(what, sizeof what, "\"%s\" with %s %g (max %g)", q->name,
                     measure, q->max + 1, q->max);
            if (v != NULL)
                add(vs, with(base, q->name, v), what);
        }
    }
}

/* Common start: load, find the entry, build the base params.  Returns
 * NULL (with a verdict given) when it cannot. */
static cJSON *start(ck *c, hx *h, const plugin_entry **pe)
{
    char err[CK_MSG_MAX];
    cJSON *base;

    if (hx_open(h, c, NULL, err, sizeof err) < 0) {
        ck_fail(c, "cannot load: %s", err);
        return NULL;
    }
    *pe = hx_entry(h, NULL);
    if (*pe == NULL) {
        ck_fail(c, "no entry \"%s\"", c->entry);
        return NULL;
    }
    base = hx_example(c->o, h->p, (*pe)->spec, err, sizeof err);
    if (base == NULL) {
        ck_fail(c, "%s", err);
        return NULL;
    }
    hx_declare(h, (*pe)->spec, base);
    return base;
}

void ck_params_example(ck *c)
{
    hx h;
    const plugin_entry *pe;
    instance *in;
    char why[CK_MSG_MAX];
    cJSON *base = start(c, &h, &pe);
    int rc;

    if (base == NULL) {
        hx_close(&h);
        return;
    }
    rc = hx_instance(&h, pe, base, &in, why, sizeof why);
    if (rc == HX_REJECTED)
        ck_fail(c, "the host's validator rejects the example %s: %s",
                hx_brief(base), why);
    else if (rc != HX_OK)
        ck_fail(c, "init %s the example %s: %s",
                rc == HX_INIT_REFUSED ? "refused" : "faulted on",
                hx_brief(base), why);
    else
        ck_pass(c, "%s accepted%s", hx_brief(base),
                pe->init ? " and init succeeded" : " (no init)");
    cJSON_Delete(base);
    hx_close(&h);
}

typedef void (*gen_fn)(const ams_entry *, const cJSON *, variants *);

static void rejects(ck *c, gen_fn make, const char *none)
{
    hx h;
    const plugin_entry *pe;
    variants *vs = calloc(1, sizeof *vs);
    cJSON *base = start(c, &h, &pe);
    size_t bad = 0;
    char why[CK_MSG_MAX], first[CK_MSG_MAX] = "";

    if (base == NULL || vs == NULL) {
        if (vs == NULL)
            ck_fail(c, "out of memory");
        goto out;
    }
    make(pe->spec, base, vs);
    for (size_t i = 0; i < vs->n; i++) {
        instance *in;
        unsigned long calls = hx_plugin_calls;
        int rc;

        ck_doing(c, "validating params %s", vs->v[i].what);
        rc = hx_instance(&h, pe, vs->v[i].params, &in, why, sizeof why);
        if (rc != HX_REJECTED) {
            ck_note(c, "accepted: params %s (%s)", vs->v[i].what,
                    hx_brief(vs->v[i].params));
            if (bad++ == 0)
                snprintf(first, sizeof first, "params %s were accepted%s",
                         vs->v[i].what,
                         calls != hx_plugin_calls
                             ? " and plugin code ran with them"
                             : "");
        } else if (calls != hx_plugin_calls) {
            if (bad++ == 0)
                snprintf(first, sizeof first,
                         "plugin code ran before params %s were refused",
                         vs->v[i].what);
        } else if (i == 0) {
            ck_note(c, "e.g. params %s: \"%.200s\"", vs->v[i].what, why);
        }
    }
    if (bad > 0)
        ck_fail(c, "%zu of %zu invalid variants got past the validator: %s",
                bad, vs->n, first);
    else if (vs->n == 0)
        ck_pass(c, "%s", none);
    else
        ck_pass(c,
                "%zu invalid variant%s, each refused by the host before "
                "any plugin code ran",
                vs->n, vs->n == 1 ? "" : "s");
out:
    for (size_t i = 0; vs != NULL && i < vs->n; i++)
        cJSON_Delete(vs->v[i].params);
    free(vs);
    cJSON_Delete(base);
    hx_close(&h);
}

void ck_params_missing(ck *c)
{
    rejects(c, gen_missing, "no required params: nothing can be missing");
}

void ck_params_mistyped(ck *c)
{
    rejects(c, gen_mistyped, "nothing to mistype");
}

void ck_params_bounds(ck *c)
{
    rejects(c, gen_bounds, "no bounded params");
}

void ck_params_optional(ck *c)
{
    hx h;
    const plugin_entry *pe;
    cJSON *base = start(c, &h, &pe), *req = NULL;
    size_t tried = 0, refused = 0;
    char why[CK_MSG_MAX];

    if (base == NULL)
        goto out;
    req = hx_request(c->o, h.p, pe->spec);
    for (const ams_param *q = pe->spec->params; q && q->name; q++) {
        cJSON *p;
        instance *in;
        int rc;

        if ((q->flags & AMS_P_REQUIRED) ||
            cJSON_GetObjectItemCaseSensitive(base, q->name) == NULL)
            continue;
        p = cJSON_Duplicate(base, 1);
        cJSON_DeleteItemFromObjectCaseSensitive(p, q->name);
        tried++;
        rc = hx_instance(&h, pe, p, &in, why, sizeof why);
        if (rc == HX_REJECTED) {
            ck_fail(c,
                    "without the optional \"%s\" the params are rejected: "
                    "%s",
                    q->name, why);
            cJSON_Delete(p);
            goto out;
        }
        if (rc == HX_OK) {
            hx_req rq = {"u1001", "conform-optional", req, HX_T_MON_LATE, 7,
                         NULL};
            hx_out o;
            hx_call(&h, in, &rq, 0, &o);
            hx_out_free(&o);
        } else {
            refused++;
        }
        cJSON_Delete(p);
    }
    if (tried == 0)
        ck_pass(c, "the example sets no optional params");
    else
        ck_pass(c,
                "%zu optional param%s left out one at a time: init and a "
                "call ran without crashing (%zu init%s refused cleanly)",
                tried, tried == 1 ? "" : "s", refused,
                refused == 1 ? "" : "s");
out:
    cJSON_Delete(req);
    cJSON_Delete(base);
    hx_close(&h);
}
