/*
 * rlconf.c -- `rate_limits` lists (rlconf.h): strict like the rest of the
 * configuration, every problem named by file:line.
 */
#include "rlconf.h"

#include "cfg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const key_names[RL_KEY_COUNT] = {
    [RL_KEY_UID] = "uid",       [RL_KEY_IP] = "ip",
    [RL_KEY_METHOD] = "method", [RL_KEY_ACTIVITY] = "activity",
    [RL_KEY_APP] = "app",
};

/* A bucket's whole burst must refill within this: keeps every product
 * of the GCRA arithmetic far inside int64 microseconds. */
#define RL_SPAN_MAX_US (366LL * 86400 * 1000000)
#define RL_COUNT_MAX 1000000000LL

const char *rlconf_key_name(rl_keykind k)
{
    return (unsigned)k < RL_KEY_COUNT ? key_names[k] : "?";
}

static int key_parse(const char *s, rl_keykind *out)
{
    for (int k = 0; k < RL_KEY_COUNT; k++)
        if (strcmp(s, key_names[k]) == 0) {
            *out = (rl_keykind)k;
            return 0;
        }
    return -1;
}

static int name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= RL_NAME_MAX || s[0] < 'a' || s[0] > 'z')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

/* Digits only, 1..max; -1 otherwise.  *end after them. */
static int64_t digits(const char *s, const char **end, int64_t max)
{
    int64_t v = 0;
    const char *p = s;

    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        if (v > max)
            return -1;
    }
    *end = p;
    return p == s || v < 1 ? -1 : v;
}

int rlconf_rate(const char *s, int64_t *count, int64_t *per_ms,
                const char **why)
{
    const char *p;
    int64_t n = digits(s, &p, RL_COUNT_MAX), k = 1, unit;

    *why = "expected \"N/s\", \"N/m\", \"N/h\", \"N/d\" or \"N/KUNIT\" "
           "(e.g. \"100/10s\") with N in 1..1000000000, or \"off\"";
    if (n < 0 || *p != '/')
        return -1;
    p++;
    if (*p >= '0' && *p <= '9' && (k = digits(p, &p, 1000000)) < 0)
        return -1;
    switch (*p) {
    case 's':
        unit = 1000;
        break;
    case 'm':
        unit = 60 * 1000;
        break;
    case 'h':
        unit = 3600 * 1000;
        break;
    case 'd':
        unit = 86400 * 1000;
        break;
    default:
        return -1;
    }
    if (p[1] != '\0')
        return -1;
    if (k * unit > RL_SPAN_MAX_US / 1000) {
        *why = "the period is longer than a year";
        return -1;
    }
    if (k * unit * 1000 / n < 1) {
        *why = "faster than one request a microsecond";
        return -1;
    }
    *count = n;
    *per_ms = k * unit;
    return 0;
}

/* t_us and tau_us of l from count, per_ms and burst; -1 with *why. */
static int derive(rl_limit *l, const char **why)
{
    if (l->off)
        return 0;
    l->t_us = l->per_ms * 1000 / l->count;
    if (l->burst < 1 || l->burst > RL_COUNT_MAX ||
        l->burst > RL_SPAN_MAX_US / l->t_us) {
        *why = "burst: 1..1000000000, and the whole burst must refill "
               "within a year";
        return -1;
    }
    l->tau_us = (l->burst - 1) * l->t_us +
                (l->t_us - 1 < RL_JITTER_US ? l->t_us - 1 : RL_JITTER_US);
    return 0;
}

static void set_label(rl_limit *l, const char *prefix)
{
    size_t p = strlen(prefix), n = strlen(l->name);

    if (p + n >= sizeof l->label) /* bounded by the callers: cannot be */
        p = n = 0;
    memcpy(l->label, prefix, p);
    memcpy(l->label + p, l->name, n + 1);
}

/* One { ... } of the list into l; -1 when it had a problem. */
static int parse_one(const config_setting_t *g, const char *file,
                     const char *prefix, rl_limit *l, errs *e)
{
    static const char *const allowed[] = {"name",  "key",    "rate",
                                          "burst", "shadow", NULL};
    const char *key = NULL, *rate = NULL, *name = NULL, *why;
    size_t before = e->nerrors;
    int line = cfg_line(g);

    memset(l, 0, sizeof *l);
    l->line = line;
    cfg_check_members(g, allowed, file, "rate_limits", e);
    if (cfg_str(g, "key", 1, &key, file, e) > 0 && key_parse(key, &l->key) < 0)
        errs_add(e, file, line,
                 "rate_limits: key \"%s\" is not one of uid, ip, method, "
                 "activity, app",
                 key);
    if (cfg_str(g, "name", 0, &name, file, e) > 0 && !name_ok(name))
        errs_add(e, file, line,
                 "rate_limits: name \"%s\" must match [a-z][a-z0-9_]* "
                 "(at most %d characters)",
                 name, RL_NAME_MAX - 1);
    if (name == NULL)
        name = key;
    if (name != NULL && name_ok(name))
        memcpy(l->name, name, strlen(name) + 1);
    if (cfg_str(g, "rate", 1, &rate, file, e) > 0) {
        if (strcmp(rate, "off") == 0)
            l->off = 1;
        else if (rlconf_rate(rate, &l->count, &l->per_ms, &why) < 0)
            errs_add(e, file, line, "rate_limits: rate \"%s\": %s", rate, why);
    }
    l->burst = l->count;
    cfg_int(g, "burst", 0, 1, RL_COUNT_MAX, &l->burst, file, e);
    cfg_bool(g, "shadow", 0, &l->shadow, file, e);
    if (e->nerrors == before && derive(l, &why) < 0)
        errs_add(e, file, line, "rate_limits: %s", why);
    set_label(l, prefix);
    return e->nerrors > before ? -1 : 0;
}

int rlconf_parse(const config_setting_t *list, const char *file,
                 const char *label_prefix, rl_set *out, errs *e)
{
    size_t before = e->nerrors;
    int n;

    memset(out, 0, sizeof *out);
    if (list == NULL)
        return 0;
    if (config_setting_type(list) != CONFIG_TYPE_LIST) {
        errs_add(e, file, cfg_line(list),
                 "rate_limits: expected a list ( { key = \"uid\"; rate = "
                 "\"5/s\"; burst = 10; }, ... )");
        return -1;
    }
    n = config_setting_length(list);
    if (n > RL_LIST_MAX) {
        errs_add(e, file, cfg_line(list),
                 "rate_limits: %d limits, at most %d in one list", n,
                 RL_LIST_MAX);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
        rl_limit *l = &out->v[out->n];

        if (!config_setting_is_group(g)) {
            errs_add(
                e, file, cfg_line(g),
                "rate_limits: expected groups { key = ...; rate = ...; }");
            continue;
        }
        if (parse_one(g, file, label_prefix, l, e) < 0)
            continue;
        for (size_t j = 0; j < out->n; j++)
            if (strcmp(out->v[j].name, l->name) == 0) {
                errs_add(e, file, l->line,
                         "rate_limits: \"%s\" given twice (first at line "
                         "%d); give one a name = \"...\"",
                         l->name, out->v[j].line);
                l = NULL;
                break;
            }
        if (l != NULL)
            out->n++;
    }
    return e->nerrors > before ? -1 : 0;
}

cJSON *rlconf_to_json(const rl_set *s)
{
    cJSON *a = cJSON_CreateArray();

    for (size_t i = 0; a != NULL && i < s->n; i++) {
        const rl_limit *l = &s->v[i];
        cJSON *o = cJSON_CreateObject();

        if (o == NULL || !cJSON_AddItemToArray(a, o)) {
            cJSON_Delete(o);
            cJSON_Delete(a);
            return NULL;
        }
        cJSON_AddStringToObject(o, "name", l->name);
        cJSON_AddStringToObject(o, "label", l->label);
        cJSON_AddStringToObject(o, "key", key_names[l->key]);
        cJSON_AddBoolToObject(o, "off", l->off);
        cJSON_AddBoolToObject(o, "shadow", l->shadow);
        cJSON_AddNumberToObject(o, "count", (double)l->count);
        cJSON_AddNumberToObject(o, "per_ms", (double)l->per_ms);
        cJSON_AddNumberToObject(o, "burst", (double)l->burst);
        cJSON_AddNumberToObject(o, "line", l->line);
    }
    return a;
}

static int64_t num_of(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

int rlconf_from_json(const cJSON *j, rl_set *out)
{
    const cJSON *o;
    const char *why;

    memset(out, 0, sizeof *out);
    if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) > RL_LIST_MAX)
        return -1;
    cJSON_ArrayForEach(o, j)
    {
        rl_limit *l = &out->v[out->n];
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
        const cJSON *label = cJSON_GetObjectItemCaseSensitive(o, "label");
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(o, "key");

        memset(l, 0, sizeof *l);
        if (!cJSON_IsString(name) || !name_ok(name->valuestring) ||
            !cJSON_IsString(label) ||
            strlen(label->valuestring) >= RL_LABEL_MAX ||
            !cJSON_IsString(key) || key_parse(key->valuestring, &l->key) < 0)
            goto bad;
        memcpy(l->name, name->valuestring, strlen(name->valuestring) + 1);
        memcpy(l->label, label->valuestring, strlen(label->valuestring) + 1);
        l->off = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "off"));
        l->shadow =
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "shadow"));
        l->count = num_of(o, "count");
        l->per_ms = num_of(o, "per_ms");
        l->burst = num_of(o, "burst");
        l->line = (int)num_of(o, "line");
        if (!l->off && (l->count < 1 || l->count > RL_COUNT_MAX ||
                        l->per_ms < 1 || l->per_ms > RL_SPAN_MAX_US / 1000 ||
                        l->per_ms * 1000 / l->count < 1))
            goto bad;
        if (derive(l, &why) < 0)
            goto bad;
        out->n++;
    }
    return 0;
bad:
    memset(out, 0, sizeof *out);
    return -1;
}
