/*
 * answers.c -- the worker's table of questions it answers.
 */
#include "answers.h"
#include "blacklist.h"
#include "degrade.h"
#include "describe.h"

#include <string.h>

static const struct {
    const char *type;
    answer_fn fn;
} table[] = {
    {"set_enabled", answer_set_enabled},
    {"describe", answer_describe},
    {"stats", answer_stats},
    {"blacklist_refresh", answer_blacklist_refresh},
    {"set_degrade", answer_set_degrade}, /* degrade.c */
};

answer_fn answers_find(const char *type)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].type, type) == 0)
            return table[i].fn;
    return NULL;
}

/* {"id": N, "enabled": bool} -> {"found": bool}.  One flag of a generation
 * that is otherwise immutable: safe, since the worker is single-threaded
 * and the pipeline reads it once per request. */
int answer_set_enabled(gen *current, const cJSON *q, cJSON *reply)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(q, "id");
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(q, "enabled");
    activity *a;

    if (!cJSON_IsNumber(id) || !cJSON_IsBool(en)) {
        cJSON_AddStringToObject(reply, "error", "set_enabled: id, enabled");
        return -1;
    }
    a = gen_activity(current, (int64_t)id->valuedouble);
    if (a != NULL)
        a->enabled = cJSON_IsTrue(en);
    cJSON_AddBoolToObject(reply, "found", a != NULL);
    return 0;
}
