/*
 * degrade.c -- degradation switches (degrade.h).
 */
#include "degrade.h"

#include <string.h>

unsigned char degrade_off[DEGRADE_N];

static const struct {
    const char *name, *what;
} switches[DEGRADE_N] = {
#define DEGRADE_ROW(id, name, what) {name, what},
    DEGRADE_SWITCHES(DEGRADE_ROW)
#undef DEGRADE_ROW
};

int degrade_find(const char *name)
{
    for (int i = 0; i < DEGRADE_N; i++)
        if (strcmp(switches[i].name, name) == 0)
            return i;
    return -1;
}

const char *degrade_name(degrade_id id)
{
    return id < DEGRADE_N ? switches[id].name : "?";
}

cJSON *degrade_json(void)
{
    cJSON *o = cJSON_CreateObject();

    for (int i = 0; o != NULL && i < DEGRADE_N; i++) {
        cJSON *s = cJSON_AddObjectToObject(o, switches[i].name);
        cJSON_AddBoolToObject(s, "on", !degrade_off[i]);
        cJSON_AddStringToObject(s, "skips", switches[i].what);
    }
    return o;
}

cJSON *degrade_off_json(void)
{
    cJSON *a = cJSON_CreateArray();

    for (int i = 0; a != NULL && i < DEGRADE_N; i++)
        if (degrade_off[i])
            cJSON_AddItemToArray(a, cJSON_CreateString(switches[i].name));
    return a;
}

void degrade_set_off(const cJSON *names)
{
    const cJSON *n;
    unsigned char off[DEGRADE_N] = {0};

    cJSON_ArrayForEach(n, names)
    {
        int i = cJSON_IsString(n) ? degrade_find(n->valuestring) : -1;
        if (i >= 0)
            off[i] = 1;
    }
    memcpy(degrade_off, off, sizeof off);
}

int answer_set_degrade(gen *current, const cJSON *q, cJSON *reply)
{
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(q, "off");

    (void)current;
    if (!cJSON_IsArray(off)) {
        cJSON_AddStringToObject(reply, "error", "set_degrade: off");
        return -1;
    }
    degrade_set_off(off);
    cJSON_AddItemToObject(reply, "switches", degrade_json());
    return 0;
}
