/*
 * activity.c -- parsing activity files into compiled activities.
 *
 * Every problem is reported with file:line and the field, and parsing goes
 * on after an error so one run of `amsd -t` lists all of them.
 */
#include "activity.h"

#include "callers.h"
#include "cfg.h"
#include "listeners.h"
#include "schema.h"

#include <libconfig.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RULE_DEPTH_MAX 32

typedef struct parser {
    const char *file;
    activity *act; /* being parsed */
    activity_plugin_fn find;
    void *ud;
    instance **all;
    errs *e;
} parser;

int activity_parse_tz(const char *s, int *offset_min)
{
    int h, m, sign;
    char extra;

    if (strcmp(s, "Z") == 0 || strcmp(s, "UTC") == 0) {
        *offset_min = 0;
        return 0;
    }
    if ((s[0] != '+' && s[0] != '-') ||
        sscanf(s + 1, "%2d:%2d%c", &h, &m, &extra) != 2 || strlen(s) != 6 ||
        h > 14 || m > 59)
        return -1;
    sign = s[0] == '-' ? -1 : 1;
    *offset_min = sign * (h * 60 + m);
    return 0;
}

int activity_parse_time(const char *s, int64_t *ms, int *offset_min)
{
    struct tm tm;
    int y, mo, d, h, mi, sec, n = 0;

    memset(&tm, 0, sizeof tm);
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
               &n) != 6 ||
        n != 19 || activity_parse_tz(s + 19, offset_min) < 0)
        return -1;
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 ||
        h > 23 || mi > 59 || sec > 60)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    /* timegm normalises 31 February into March: refuse such dates. */
    time_t t = timegm(&tm);
    if (tm.tm_mday != d || tm.tm_mon != mo - 1)
        return -1;
    *ms = ((int64_t)t - (int64_t)*offset_min * 60) * 1000;
    return 0;
}

typedef struct report_ctx {
    parser *p;
    const config_setting_t *params; /* may be NULL */
    const char *ref;
    int line;
} report_ctx;

static void report_param(void *ud, const char *field, const char *msg)
{
    report_ctx *r = ud;
    int line = r->line;

    if (field != NULL && r->params != NULL) {
        const config_setting_t *m =
            config_setting_get_member(r->params, field);
        if (m != NULL)
            line = cfg_line(m);
    }
    errs_add(r->p->e, r->p->file, line, "%s: params.%s", r->ref, msg);
}

static const char *resource_group(ams_type t)
{
    switch (t) {
    case AMS_T_POOL:
        return "pools";
    case AMS_T_COUPON:
        return "coupons";
    case AMS_T_BUDGET:
        return "budgets";
    default:
        return NULL;
    }
}

/* Params that name a resource must name one the activity declares.
 * Returns the number of problems. */
static int check_resource_params(parser *p, const ams_param *spec,
                                 const cJSON *params, report_ctx *rc)
{
    int bad = 0;
    char msg[256];

    for (size_t i = 0; spec != NULL && spec[i].name != NULL; i++) {
        const char *group = resource_group(spec[i].type);
        const cJSON *v =
            cJSON_GetObjectItemCaseSensitive(params, spec[i].name);
        const cJSON *decl;

        if (group == NULL || !cJSON_IsString(v))
            continue;
        decl = cJSON_GetObjectItemCaseSensitive(p->act->resources, group);
        if (cJSON_GetObjectItemCaseSensitive(decl, v->valuestring) != NULL)
            continue;
        snprintf(msg, sizeof msg,
                 "%s: \"%s\" is not a declared %.*s (resources.%s)",
                 spec[i].name, v->valuestring, (int)strlen(group) - 1, group,
                 group);
        report_param(rc, spec[i].name, msg);
        bad++;
    }
    return bad;
}

/* Resolve `plugin.entry` of the wanted kind and validate its params. */
static instance *parse_instance(parser *p, const config_setting_t *g,
                                const char *key, ams_kind want)
{
    static const char *const allowed[] = {"use", "params", NULL};
    static const char *const allowed_op[] = {"use", "params", "when", NULL};
    const char *ref = NULL, *dot;
    char pname[64];
    const config_setting_t *params;
    const plugin_entry *en;
    plugin *pl;
    instance *in;
    report_ctx rc;
    int line = cfg_line(g);

    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        errs_add(p->e, p->file, line,
                 "%s: expected a group { use = \"plugin.entry\"; params = "
                 "{...}; }",
                 key);
        return NULL;
    }
    cfg_check_members(g, want == AMS_OPERATION ? allowed_op : allowed, p->file,
                      key, p->e);
    if (cfg_str(g, "use", 1, &ref, p->file, p->e) <= 0)
        return NULL;
    dot = strchr(ref, '.');
    if (dot == NULL || dot == ref || (size_t)(dot - ref) >= sizeof pname ||
        dot[1] == '\0') {
        errs_add(p->e, p->file, line,
                 "%s: use: \"%s\" is not \"plugin.entry\"", key, ref);
        return NULL;
    }
    memcpy(pname, ref, (size_t)(dot - ref));
    pname[dot - ref] = '\0';
    pl = p->find(p->ud, pname);
    if (pl == NULL) {
        errs_add(p->e, p->file, line,
                 "%s: use: unknown plugin \"%s\" (in \"%s\")", key, pname,
                 ref);
        return NULL;
    }
    en = plugin_find_entry(pl, dot + 1);
    if (en == NULL) {
        errs_add(p->e, p->file, line,
                 "%s: use: plugin \"%s\" has no entry \"%s\"", key, pname,
                 dot + 1);
        return NULL;
    }
    if (en->spec->kind != want) {
        errs_add(p->e, p->file, line,
                 "%s: use: \"%s\" is %s, %s is needed here", key, ref,
                 plugin_kind_article(en->spec->kind),
                 plugin_kind_article(want));
        return NULL;
    }
    params = config_setting_get_member(g, "params");
    in = calloc(1, sizeof *in);
    if (in == NULL)
        return NULL;
    in->next_all = *p->all;
    *p->all = in;
    in->entry = en;
    in->constant = -1;
    in->file = strdup(p->file);
    in->line = line;
    in->ref = strdup(ref);
    in->params = params ? schema_from_cfg(params) : cJSON_CreateObject();
    if (in->ref == NULL || in->params == NULL || in->file == NULL) {
        errs_add(p->e, p->file, line, "%s: out of memory", key);
        return NULL;
    }
    rc = (report_ctx){p, params, ref, params ? cfg_line(params) : line};
    if (params != NULL && config_setting_type(params) != CONFIG_TYPE_GROUP) {
        errs_add(p->e, p->file, rc.line, "%s: params: expected a group", ref);
        return NULL;
    }
    if (schema_validate(en->spec->params, in->params, report_param, &rc) > 0)
        return NULL;
    if (check_resource_params(p, en->spec->params, in->params, &rc) > 0)
        return NULL;
    return in;
}

static void rnode_free(rnode *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->nkids; i++)
        rnode_free(n->kids[i]);
    free(n->kids);
    free(n);
}

/* A rule expression: { use = ...; params = ...; } or { all = (...); } or
 * { any = (...); } or { not = { ... }; }. */
static rnode *parse_rule(parser *p, const config_setting_t *g, const char *key,
                         activity *a, int depth)
{
    const config_setting_t *all, *any, *neg, *use;
    rnode *n;
    int line = cfg_line(g), forms;

    if (depth > RULE_DEPTH_MAX) {
        errs_add(p->e, p->file, line, "%s: rules nest deeper than %d", key,
                 RULE_DEPTH_MAX);
        return NULL;
    }
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        errs_add(p->e, p->file, line,
                 "%s: expected a group with one of use, all, any, not", key);
        return NULL;
    }
    all = config_setting_get_member(g, "all");
    any = config_setting_get_member(g, "any");
    neg = config_setting_get_member(g, "not");
    use = config_setting_get_member(g, "use");
    forms = !!all + !!any + !!neg + !!use;
    if (forms != 1) {
        errs_add(p->e, p->file, line,
                 "%s: a rule has exactly one of use, all, any, not (found "
                 "%d)",
                 key, forms);
        return NULL;
    }
    n = calloc(1, sizeof *n);
    if (n == NULL)
        return NULL;
    if (use != NULL) {
        n->kind = RN_LEAF;
        n->leaf = parse_instance(p, g, key, AMS_RULE);
        if (n->leaf == NULL)
            goto fail;
        n->leaf->act = a;
        return n;
    }
    if (neg != NULL) {
        static const char *const allowed[] = {"not", NULL};
        cfg_check_members(g, allowed, p->file, key, p->e);
        n->kind = RN_NOT;
        n->kids = calloc(1, sizeof *n->kids);
        if (n->kids == NULL)
            goto fail;
        n->kids[0] = parse_rule(p, neg, "not", a, depth + 1);
        n->nkids = 1;
        if (n->kids[0] == NULL)
            goto fail;
        return n;
    }
    const config_setting_t *list = all ? all : any;
    const char *form = all ? "all" : "any";
    const char *const allowed[] = {form, NULL};
    int len = config_setting_length(list);
    int bad = 0;

    cfg_check_members(g, allowed, p->file, key, p->e);
    n->kind = all ? RN_ALL : RN_ANY;
    if (config_setting_type(list) != CONFIG_TYPE_LIST || len == 0) {
        errs_add(p->e, p->file, cfg_line(list),
                 "%s: expected a non-empty list ( {...}, {...} )", form);
        goto fail;
    }
    n->kids = calloc((size_t)len, sizeof *n->kids);
    if (n->kids == NULL)
        goto fail;
    for (int i = 0; i < len; i++) {
        rnode *k = parse_rule(p, config_setting_get_elem(list, (unsigned)i),
                              form, a, depth + 1);
        if (k == NULL)
            bad = 1;
        else
            n->kids[n->nkids++] = k;
    }
    if (bad)
        goto fail;
    return n;
fail:
    rnode_free(n);
    return NULL;
}

static void parse_limits(parser *p, const config_setting_t *g, method *m)
{
    static const char *const allowed[] = {"user_total", "user_daily", "total",
                                          "daily", NULL};
    if (g == NULL)
        return;
    if (!config_setting_is_group(g)) {
        errs_add(p->e, p->file, cfg_line(g),
                 "limits: expected a group { user_total = N; ... }");
        return;
    }
    cfg_check_members(g, allowed, p->file, "limits", p->e);
    cfg_int(g, "user_total", 0, 0, INT32_MAX, &m->lim.user_total, p->file,
            p->e);
    cfg_int(g, "user_daily", 0, 0, INT32_MAX, &m->lim.user_daily, p->file,
            p->e);
    cfg_int(g, "total", 0, 0, INT32_MAX, &m->lim.total, p->file, p->e);
    cfg_int(g, "daily", 0, 0, INT32_MAX, &m->lim.daily, p->file, p->e);
}

/* Point every leaf of a rule tree at the method it serves. */
static void rule_set_method(rnode *n, method *m)
{
    if (n == NULL)
        return;
    if (n->kind == RN_LEAF)
        n->leaf->m = m;
    for (size_t i = 0; i < n->nkids; i++)
        rule_set_method(n->kids[i], m);
}

static int method_name_ok(const char *s)
{
    return plugin_name_ok(s);
}

static int parse_method(parser *p, const config_setting_t *g, activity *a,
                        method *m)
{
    static const char *const allowed[] = {
        "name",          "login",       "auth",    "limits",
        "rule",          "operations",  "handler", "signed",
        "signed_params", "rate_limits", NULL};
    const config_setting_t *ops, *rule, *handler;
    const char *name = NULL;
    size_t before = p->e->nerrors;

    m->act = a;
    m->line = cfg_line(g);
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        errs_add(p->e, p->file, m->line, "methods: expected groups");
        return -1;
    }
    cfg_check_members(g, allowed, p->file, "method", p->e);
    if (cfg_str(g, "name", 1, &name, p->file, p->e) > 0) {
        if (!method_name_ok(name))
            errs_add(p->e, p->file, m->line,
                     "method name \"%s\" must match [a-z][a-z0-9_]*", name);
        m->name = strdup(name);
    }
    cfg_bool(g, "login", 0, &m->login, p->file, p->e);
    callers_method_read(g, &m->signed_only, &m->signed_params,
                        &m->nsigned_params, p->file, p->e);
    if (cfg_str(g, "auth", 0, &name, p->file, p->e) > 0 &&
        (m->auth = (int)lis_auth_parse(name)) == LIS_AUTH_INHERIT)
        errs_add(p->e, p->file, cfg_line(config_setting_get_member(g, "auth")),
                 "auth: \"%s\" is not one of jwt, gateway, none, body", name);
    parse_limits(p, config_setting_get_member(g, "limits"), m);
    if (m->name != NULL) {
        char prefix[RL_LABEL_MAX];
        snprintf(prefix, sizeof prefix, "%lld.%s:", (long long)a->id, m->name);
        rlconf_parse(config_setting_get_member(g, "rate_limits"), p->file,
                     prefix, &m->rl, p->e);
    }
    rule = config_setting_get_member(g, "rule");
    if (rule != NULL) {
        m->rule = parse_rule(p, rule, "rule", a, 0);
        rule_set_method(m->rule, m);
    }
    ops = config_setting_get_member(g, "operations");
    if (ops != NULL) {
        int len = config_setting_length(ops);
        if (config_setting_type(ops) != CONFIG_TYPE_LIST) {
            errs_add(p->e, p->file, cfg_line(ops),
                     "operations: expected a list ( {...}, {...} )");
        } else if (len > METHOD_OPS_MAX) {
            errs_add(p->e, p->file, cfg_line(ops),
                     "operations: %d of them, at most %d per method", len,
                     METHOD_OPS_MAX);
        } else if (len > 0) {
            m->ops = calloc((size_t)len, sizeof *m->ops);
            for (int i = 0; m->ops != NULL && i < len; i++) {
                const config_setting_t *og =
                    config_setting_get_elem(ops, (unsigned)i);
                const config_setting_t *when;
                instance *in =
                    parse_instance(p, og, "operations", AMS_OPERATION);
                if (in == NULL)
                    continue;
                in->act = a;
                in->m = m;
                m->ops[m->nops++] = in;
                when = config_setting_get_member(og, "when");
                if (when != NULL) {
                    in->when = parse_rule(p, when, "when", a, 0);
                    rule_set_method(in->when, m);
                }
            }
        }
    }
    handler = config_setting_get_member(g, "handler");
    if (handler != NULL) {
        m->handler = parse_instance(p, handler, "handler", AMS_HANDLER);
        if (m->handler != NULL) {
            m->handler->act = a;
            m->handler->m = m;
        }
    }
    if (m->nops == 0 && handler == NULL && ops != NULL &&
        config_setting_type(ops) == CONFIG_TYPE_LIST &&
        config_setting_length(ops) == 0)
        errs_add(p->e, p->file, m->line,
                 "method \"%s\": operations is empty and there is no handler",
                 name ? name : "?");
    if (ops == NULL && handler == NULL)
        errs_add(p->e, p->file, m->line,
                 "method \"%s\": has no operations and no handler",
                 name ? name : "?");
    return p->e->nerrors > before ? -1 : 0;
}

static void parse_window(parser *p, const config_setting_t *g, activity *a)
{
    const char *start = NULL, *end = NULL, *tz = NULL;
    int off_start = 0, off_end = 0, start_ok = 0, end_ok = 0;

    if (cfg_str(g, "start", 1, &start, p->file, p->e) > 0 &&
        !(start_ok =
              activity_parse_time(start, &a->start_ms, &off_start) == 0))
        errs_add(p->e, p->file,
                 cfg_line(config_setting_get_member(g, "start")),
                 "start: \"%s\" is not YYYY-MM-DDTHH:MM:SS+HH:MM", start);
    if (cfg_str(g, "end", 1, &end, p->file, p->e) > 0 &&
        !(end_ok = activity_parse_time(end, &a->end_ms, &off_end) == 0))
        errs_add(p->e, p->file, cfg_line(config_setting_get_member(g, "end")),
                 "end: \"%s\" is not YYYY-MM-DDTHH:MM:SS+HH:MM", end);
    a->tz_offset_min = off_start;
    if (cfg_str(g, "timezone", 0, &tz, p->file, p->e) > 0 &&
        activity_parse_tz(tz, &a->tz_offset_min) < 0)
        errs_add(p->e, p->file,
                 cfg_line(config_setting_get_member(g, "timezone")),
                 "timezone: \"%s\" is not +HH:MM, -HH:MM or Z", tz);
    if (start_ok && end_ok && a->end_ms <= a->start_ms)
        errs_add(p->e, p->file, cfg_line(config_setting_get_member(g, "end")),
                 "end: %s is not after start %s", end, start);
}

/* One resource definition; returns its JSON or NULL after reporting. */
static cJSON *parse_prize(parser *p, const config_setting_t *g, double *psum,
                          double *wsum, int64_t *stock_sum, int *nprob)
{
    static const char *const allowed[] = {"name",        "stock", "weight",
                                          "probability", "value", NULL};
    const config_setting_t *w, *pr;
    const char *name = NULL;
    int64_t stock = 0, value = 0;
    double weight = 1.0, prob = -1;
    cJSON *j;
    int line = cfg_line(g);

    if (!config_setting_is_group(g)) {
        errs_add(p->e, p->file, line, "prizes: expected groups");
        return NULL;
    }
    cfg_check_members(g, allowed, p->file, "prize", p->e);
    if (cfg_str(g, "name", 1, &name, p->file, p->e) > 0 &&
        !plugin_name_ok(name))
        errs_add(p->e, p->file, line,
                 "prize: name \"%s\" must match [a-z][a-z0-9_]*", name);
    cfg_int(g, "stock", 1, 0, INT32_MAX, &stock, p->file, p->e);
    cfg_int(g, "value", 0, 0, INT64_MAX, &value, p->file, p->e);
    w = config_setting_get_member(g, "weight");
    pr = config_setting_get_member(g, "probability");
    if (w != NULL && pr != NULL)
        errs_add(p->e, p->file, line,
                 "prize \"%s\": give a weight or a probability, not both",
                 name ? name : "?");
    if (w != NULL) {
        weight = config_setting_get_float(w);
        if (config_setting_type(w) == CONFIG_TYPE_INT ||
            config_setting_type(w) == CONFIG_TYPE_INT64)
            weight = (double)config_setting_get_int64(w);
        if (!(weight >= 0))
            errs_add(p->e, p->file, cfg_line(w),
                     "weight: %g must not be negative", weight);
    }
    if (pr != NULL) {
        (*nprob)++;
        prob = config_setting_type(pr) == CONFIG_TYPE_FLOAT
                   ? config_setting_get_float(pr)
                   : (double)config_setting_get_int64(pr);
        if (!(prob >= 0 && prob <= 1))
            errs_add(p->e, p->file, cfg_line(pr),
                     "probability: %g is outside [0, 1]", prob);
        else
            *psum += prob;
    } else {
        *wsum += weight;
    }
    *stock_sum += stock;
    j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", name ? name : "");
    cJSON_AddNumberToObject(j, "stock", (double)stock);
    cJSON_AddNumberToObject(j, "value", (double)value);
    if (prob >= 0)
        cJSON_AddNumberToObject(j, "probability", prob);
    else
        cJSON_AddNumberToObject(j, "weight", weight);
    return j;
}

static cJSON *parse_pool(parser *p, const config_setting_t *g,
                         const char *name)
{
    static const char *const allowed[] = {"name", "stock", "prizes", NULL};
    const config_setting_t *prizes = config_setting_get_member(g, "prizes");
    cJSON *j = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    double psum = 0, wsum = 0;
    int64_t stock = -1, sum = 0;
    int nprob = 0;
    int line = cfg_line(g);

    cfg_check_members(g, allowed, p->file, "pool", p->e);
    cfg_int(g, "stock", 0, 0, INT32_MAX, &stock, p->file, p->e);
    if (prizes == NULL || config_setting_type(prizes) != CONFIG_TYPE_LIST ||
        config_setting_length(prizes) == 0)
        errs_add(p->e, p->file, prizes ? cfg_line(prizes) : line,
                 "pool \"%s\": prizes: expected a non-empty list", name);
    for (int i = 0; prizes && i < config_setting_length(prizes); i++) {
        const config_setting_t *pz =
            config_setting_get_elem(prizes, (unsigned)i);
        cJSON *pj = parse_prize(p, pz, &psum, &wsum, &sum, &nprob);
        if (pj == NULL)
            continue;
        for (int k = 0; k < cJSON_GetArraySize(arr); k++)
            if (strcmp(cJSON_GetArrayItem(arr, k)->child->valuestring,
                       pj->child->valuestring) == 0)
                errs_add(p->e, p->file, cfg_line(pz),
                         "pool \"%s\": prize \"%s\" declared twice", name,
                         pj->child->valuestring);
        cJSON_AddItemToArray(arr, pj);
    }
    if (psum > 1.0 + 1e-9)
        errs_add(p->e, p->file, line,
                 "pool \"%s\": prize probabilities add up to %g, more than "
                 "1: they cannot be met",
                 name, psum);
    /* Weights are relative: all zero means nothing can ever be drawn.
     * (Probabilities are absolute; all zero is just a pool that always
     * misses, and bad ones were reported above.) */
    if (prizes && config_setting_length(prizes) > 0 && nprob == 0 && wsum == 0)
        errs_add(p->e, p->file, line,
                 "pool \"%s\": every prize has weight 0: none can be drawn",
                 name);
    if (stock >= 0 && sum > stock)
        errs_add(p->e, p->file, line,
                 "pool \"%s\": prizes promise %lld in all, more than the "
                 "pool's stock of %lld",
                 name, (long long)sum, (long long)stock);
    cJSON_AddStringToObject(j, "name", name);
    cJSON_AddNumberToObject(j, "stock", (double)(stock >= 0 ? stock : sum));
    cJSON_AddItemToObject(j, "prizes", arr);
    return j;
}

static cJSON *parse_coupon(parser *p, const config_setting_t *g,
                           const char *name)
{
    static const char *const allowed[] = {"name", "value", "expire_days",
                                          "stock", NULL};
    int64_t value = 0, days = 30, stock = -1;
    cJSON *j = cJSON_CreateObject();

    cfg_check_members(g, allowed, p->file, "coupon", p->e);
    cfg_int(g, "value", 1, 1, INT64_MAX, &value, p->file, p->e);
    cfg_int(g, "expire_days", 0, 1, 3650, &days, p->file, p->e);
    cfg_int(g, "stock", 0, 0, INT32_MAX, &stock, p->file, p->e);
    cJSON_AddStringToObject(j, "name", name);
    cJSON_AddNumberToObject(j, "value", (double)value);
    cJSON_AddNumberToObject(j, "expire_days", (double)days);
    if (stock >= 0)
        cJSON_AddNumberToObject(j, "stock", (double)stock);
    return j;
}

static cJSON *parse_budget(parser *p, const config_setting_t *g,
                           const char *name)
{
    static const char *const allowed[] = {"name", "total", NULL};
    int64_t total = 0;
    cJSON *j = cJSON_CreateObject();

    cfg_check_members(g, allowed, p->file, "budget", p->e);
    cfg_int(g, "total", 1, 1, INT64_MAX, &total, p->file, p->e);
    cJSON_AddStringToObject(j, "name", name);
    cJSON_AddNumberToObject(j, "total", (double)total);
    return j;
}

/* resources = { pools = (...); coupons = (...); budgets = (...); } */
static void parse_resources(parser *p, const config_setting_t *g, activity *a)
{
    static const char *const allowed[] = {"pools", "coupons", "budgets", NULL};
    static const struct {
        const char *group;
        cJSON *(*parse)(parser *, const config_setting_t *, const char *);
    } kinds[] = {{"pools", parse_pool},
                 {"coupons", parse_coupon},
                 {"budgets", parse_budget}};

    if (g == NULL)
        return;
    if (!config_setting_is_group(g)) {
        errs_add(p->e, p->file, cfg_line(g),
                 "resources: expected a group { pools = (...); ... }");
        return;
    }
    cfg_check_members(g, allowed, p->file, "resources", p->e);
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        const config_setting_t *list =
            config_setting_get_member(g, kinds[k].group);
        cJSON *dst =
            cJSON_GetObjectItemCaseSensitive(a->resources, kinds[k].group);
        if (list == NULL)
            continue;
        if (config_setting_type(list) != CONFIG_TYPE_LIST) {
            errs_add(p->e, p->file, cfg_line(list),
                     "resources.%s: expected a list ( {...}, {...} )",
                     kinds[k].group);
            continue;
        }
        for (int i = 0; i < config_setting_length(list); i++) {
            const config_setting_t *r =
                config_setting_get_elem(list, (unsigned)i);
            const char *name = NULL;
            cJSON *j;
            if (!config_setting_is_group(r)) {
                errs_add(p->e, p->file, cfg_line(r),
                         "resources.%s: expected groups", kinds[k].group);
                continue;
            }
            if (cfg_str(r, "name", 1, &name, p->file, p->e) <= 0)
                continue;
            if (!plugin_name_ok(name)) {
                errs_add(p->e, p->file, cfg_line(r),
                         "resources.%s: name \"%s\" must match "
                         "[a-z][a-z0-9_]*",
                         kinds[k].group, name);
                continue;
            }
            if (cJSON_GetObjectItemCaseSensitive(dst, name) != NULL) {
                errs_add(p->e, p->file, cfg_line(r),
                         "resources.%s: \"%s\" declared twice", kinds[k].group,
                         name);
                continue;
            }
            j = kinds[k].parse(p, r, name);
            if (j != NULL)
                cJSON_AddItemToObject(dst, name, j);
        }
    }
}

static activity *parse_activity(parser *p, const config_setting_t *g)
{
    static const char *const allowed[] = {
        "id",          "name",          "tenant", "enabled",   "start",
        "end",         "timezone",      "crowd",  "resources", "methods",
        "rate_limits", "max_in_flight", NULL};
    const config_setting_t *methods, *crowd;
    const char *s;
    activity *a = calloc(1, sizeof *a);
    size_t before = p->e->nerrors;

    if (a == NULL)
        return NULL;
    a->line = cfg_line(g);
    a->file = strdup(p->file);
    a->enabled = 1;
    a->resources = cJSON_CreateObject();
    cJSON_AddItemToObject(a->resources, "pools", cJSON_CreateObject());
    cJSON_AddItemToObject(a->resources, "coupons", cJSON_CreateObject());
    cJSON_AddItemToObject(a->resources, "budgets", cJSON_CreateObject());
    p->act = a;
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        errs_add(p->e, p->file, a->line, "activities: expected groups");
        return a;
    }
    cfg_check_members(g, allowed, p->file, "activity", p->e);
    cfg_int(g, "id", 1, 1, (int64_t)1 << 53, &a->id, p->file, p->e);
    if (cfg_str(g, "name", 1, &s, p->file, p->e) > 0)
        a->name = strdup(s);
    if (cfg_str(g, "tenant", 0, &s, p->file, p->e) > 0)
        a->tenant = strdup(s);
    cfg_bool(g, "enabled", 0, &a->enabled, p->file, p->e);
    cfg_int(g, "max_in_flight", 0, 0, 1000000, &a->max_in_flight, p->file,
            p->e);
    parse_window(p, g, a);
    {
        char prefix[RL_LABEL_MAX];
        snprintf(prefix, sizeof prefix, "%lld:", (long long)a->id);
        rlconf_parse(config_setting_get_member(g, "rate_limits"), p->file,
                     prefix, &a->rl, p->e);
    }
    parse_resources(p, config_setting_get_member(g, "resources"), a);
    crowd = config_setting_get_member(g, "crowd");
    if (crowd != NULL)
        a->crowd = parse_rule(p, crowd, "crowd", a, 0);
    methods = config_setting_get_member(g, "methods");
    if (methods == NULL || config_setting_type(methods) != CONFIG_TYPE_LIST ||
        config_setting_length(methods) == 0) {
        errs_add(p->e, p->file, methods ? cfg_line(methods) : a->line,
                 "methods: expected a non-empty list ( {...}, {...} )");
        return a;
    }
    int n = config_setting_length(methods);
    a->methods = calloc((size_t)n, sizeof *a->methods);
    if (a->methods == NULL)
        return a;
    for (int i = 0; i < n; i++) {
        method *m = &a->methods[a->nmethods++];
        parse_method(p, config_setting_get_elem(methods, (unsigned)i), a, m);
        for (size_t j = 0; m->name && j + 1 < a->nmethods; j++)
            if (a->methods[j].name && strcmp(a->methods[j].name, m->name) == 0)
                errs_add(p->e, p->file, m->line,
                         "method \"%s\" defined twice in activity %lld "
                         "(first at line %d)",
                         m->name, (long long)a->id, a->methods[j].line);
    }
    (void)before;
    return a;
}

int activity_parse_file(const char *path, activity_plugin_fn find, void *ud,
                        activity ***acts, size_t *nacts, instance **all,
                        errs *e)
{
    return activity_parse_file_as(path, path, find, ud, acts, nacts, all, e);
}

int activity_parse_file_as(const char *file, const char *path,
                           activity_plugin_fn find, void *ud, activity ***acts,
                           size_t *nacts, instance **all, errs *e)
{
    static const char *const allowed[] = {"activities", NULL};
    parser p = {path, NULL, find, ud, all, e};
    config_t cf;
    const config_setting_t *list;
    size_t before = e->nerrors;

    /* From here `path` is the name messages give, `file` what is read. */
    if (cfg_read_as(&cf, file, path, e) < 0)
        return -1;
    cfg_check_members(config_root_setting(&cf), allowed, path, "file", e);
    list = config_lookup(&cf, "activities");
    if (list == NULL || config_setting_type(list) != CONFIG_TYPE_LIST) {
        errs_add(e, path, list ? cfg_line(list) : 0,
                 "activities: expected a list: activities = ( {...} );");
        config_destroy(&cf);
        return -1;
    }
    for (int i = 0; i < config_setting_length(list); i++) {
        activity *a =
            parse_activity(&p, config_setting_get_elem(list, (unsigned)i));
        activity **grown;
        if (a == NULL) {
            errs_add(e, path, 0, "out of memory");
            break;
        }
        grown = realloc(*acts, (*nacts + 1) * sizeof **acts);
        if (grown == NULL) {
            activity_free(a);
            errs_add(e, path, 0, "out of memory");
            break;
        }
        *acts = grown;
        (*acts)[(*nacts)++] = a;
    }
    config_destroy(&cf);
    return e->nerrors > before ? -1 : 0;
}

void activity_instance_free(instance *in)
{
    cJSON_Delete(in->params);
    cJSON_Delete(in->json_cache);
    rnode_free(in->when);
    for (size_t i = 0; i < in->nuses; i++)
        free(in->uses[i].param);
    free(in->uses);
    free(in->ref);
    free(in->file);
    free(in);
}

void activity_free(activity *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->nmethods; i++) {
        method *m = &a->methods[i];
        rnode_free(m->rule);
        free(m->ops);
        free(m->name);
        callers_params_free(m->signed_params, m->nsigned_params);
    }
    free(a->methods);
    rnode_free(a->crowd);
    cJSON_Delete(a->resources);
    free(a->name);
    free(a->tenant);
    free(a->file);
    free(a);
}
