/*
 * schema.c -- param schema validation.
 */
#include "schema.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* JSON numbers are doubles: integers are exact only below 2^53, and a
 * larger one may already have been rounded to it, so 2^53 is refused. */
#define SCHEMA_INT_LIMIT 9007199254740992.0

const char *schema_type_name(ams_type t)
{
    switch (t) {
    case AMS_T_INT:
        return "integer";
    case AMS_T_NUMBER:
        return "number";
    case AMS_T_STRING:
        return "string";
    case AMS_T_BOOL:
        return "boolean";
    case AMS_T_STRINGS:
        return "list of strings";
    case AMS_T_JSON:
        return "value";
    case AMS_T_POOL:
        return "pool name";
    case AMS_T_COUPON:
        return "coupon kind name";
    case AMS_T_BUDGET:
        return "budget name";
    }
    return "unknown";
}

/* The quantity bounds apply to: the value, a length or a count. */
static int measure(const ams_param *q, const cJSON *v, double *out,
                   const char **what)
{
    switch (q->type) {
    case AMS_T_INT:
        if (!cJSON_IsNumber(v) || floor(v->valuedouble) != v->valuedouble ||
            fabs(v->valuedouble) >= SCHEMA_INT_LIMIT)
            return -1;
        *out = v->valuedouble;
        *what = "value";
        return 0;
    case AMS_T_NUMBER:
        if (!cJSON_IsNumber(v))
            return -1;
        *out = v->valuedouble;
        *what = "value";
        return 0;
    case AMS_T_STRING:
    case AMS_T_POOL:
    case AMS_T_COUPON:
    case AMS_T_BUDGET:
        if (!cJSON_IsString(v))
            return -1;
        *out = (double)strlen(v->valuestring);
        *what = "length";
        return 0;
    case AMS_T_BOOL:
        return cJSON_IsBool(v) ? 0 : -1;
    case AMS_T_STRINGS: {
        const cJSON *it;
        if (!cJSON_IsArray(v))
            return -1;
        cJSON_ArrayForEach(it, v) if (!cJSON_IsString(it)) return -1;
        *out = (double)cJSON_GetArraySize(v);
        *what = "count";
        return 0;
    }
    case AMS_T_JSON:
        return 0;
    }
    return -1;
}

static int check_one(const ams_param *q, const cJSON *v,
                     schema_report_fn report, void *ud)
{
    char msg[256];
    double x = 0;
    const char *what = "value";

    if (measure(q, v, &x, &what) < 0) {
        snprintf(msg, sizeof msg, "%s: expected %s%s", q->name,
                 q->type == AMS_T_INT ? "an " : "a ",
                 schema_type_name(q->type));
        report(ud, q->name, msg);
        return 1;
    }
    if ((q->flags & AMS_P_MIN) && x < q->min) {
        snprintf(msg, sizeof msg, "%s: %s %g is below the minimum %g", q->name,
                 what, x, q->min);
        report(ud, q->name, msg);
        return 1;
    }
    if ((q->flags & AMS_P_MAX) && x > q->max) {
        snprintf(msg, sizeof msg, "%s: %s %g is above the maximum %g", q->name,
                 what, x, q->max);
        report(ud, q->name, msg);
        return 1;
    }
    return 0;
}

int schema_validate(const ams_param *spec, const cJSON *obj,
                    schema_report_fn report, void *ud)
{
    char msg[256];
    int bad = 0;
    const cJSON *it;

    if (obj != NULL && !cJSON_IsObject(obj)) {
        report(ud, NULL, "params: expected a group of named values");
        return 1;
    }
    for (size_t i = 0; spec != NULL && spec[i].name != NULL; i++) {
        const cJSON *v =
            obj ? cJSON_GetObjectItemCaseSensitive(obj, spec[i].name) : NULL;
        if (v == NULL) {
            if (spec[i].flags & AMS_P_REQUIRED) {
                snprintf(msg, sizeof msg, "%s: missing (required %s)",
                         spec[i].name, schema_type_name(spec[i].type));
                report(ud, NULL, msg);
                bad++;
            }
            continue;
        }
        bad += check_one(&spec[i], v, report, ud);
    }
    if (obj == NULL)
        return bad;
    cJSON_ArrayForEach(it, obj)
    {
        int known = 0;
        for (size_t i = 0; spec != NULL && spec[i].name != NULL; i++)
            if (strcmp(spec[i].name, it->string) == 0)
                known = 1;
        if (!known) {
            snprintf(msg, sizeof msg, "%s: unknown parameter", it->string);
            report(ud, it->string, msg);
            bad++;
        }
    }
    return bad;
}

cJSON *schema_from_cfg(const config_setting_t *s)
{
    cJSON *out = NULL;

    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        return cJSON_CreateNumber((double)config_setting_get_int64(s));
    case CONFIG_TYPE_FLOAT:
        return cJSON_CreateNumber(config_setting_get_float(s));
    case CONFIG_TYPE_STRING:
        return cJSON_CreateString(config_setting_get_string(s));
    case CONFIG_TYPE_BOOL:
        return cJSON_CreateBool(config_setting_get_bool(s));
    case CONFIG_TYPE_GROUP:
        out = cJSON_CreateObject();
        break;
    case CONFIG_TYPE_ARRAY:
    case CONFIG_TYPE_LIST:
        out = cJSON_CreateArray();
        break;
    default:
        return cJSON_CreateNull();
    }
    if (out == NULL)
        return NULL;
    for (int i = 0; i < config_setting_length(s); i++) {
        const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
        cJSON *v = schema_from_cfg(m);
        if (v == NULL) {
            cJSON_Delete(out);
            return NULL;
        }
        if (cJSON_IsObject(out))
            cJSON_AddItemToObject(out, config_setting_name(m), v);
        else
            cJSON_AddItemToArray(out, v);
    }
    return out;
}
