/*
 * status.c -- what a user has won, and what is left.
 *
 *   status.show  handler.
 *     params   pool    (pool, optional) show what is left of its prizes;
 *              coupon  (coupon, optional) show what is left of the kind.
 *     replies  data.ledger  the user's ledger in this activity, oldest
 *                           first ([] without a uid);
 *              data.pool    {"<prize>": remaining, ...}, from the counters
 *                           pool.draw keeps ("pool.<pool>.<prize>");
 *              data.coupon  {"kind": <kind>, "remaining": N}, from the
 *                           counter coupon.grant keeps ("coupon.<kind>");
 *                           remaining is null for a kind without stock.
 *     fails    never (store faults pass through).
 *     init     refuses a pool without prizes (no_prizes) or a malformed
 *              definition (bad_pool, bad_coupon).
 */
#include <ams/ams.h>

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ams_param show_params[] = {
    {"pool", AMS_T_POOL, 0, 0, 0, "a prize pool to show the stock of"},
    {"coupon", AMS_T_COUPON, 0, 0, 0, "a coupon kind to show the stock of"},
    {NULL, 0, 0, 0, 0, NULL}};

static const ams_entry entries[] = {
    {"show", AMS_HANDLER, "status_show", NULL, "status_show_init",
     "status_show_destroy", show_params,
     "{\"pool\":\"lottery\",\"coupon\":\"c20\"}",
     "the user's grants and the stock left"},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

/* status.show only reads: ledger_json and counter_get. */
static const uint32_t flags[] = {AMS_EF_READONLY};

AMS_PLUGIN_FLAGS("status", "1.0.0", entries, flags);

/* One stock counter: what is shown, the counter key, the stock. */
typedef struct stock {
    char *name;
    char *key;
    int64_t stock; /* < 0: unlimited */
} stock;

typedef struct status {
    stock coupon; /* name NULL: no coupon param */
    size_t nprizes;
    stock *prizes;
} status;

static void status_free(status *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->nprizes; i++) {
        free(s->prizes[i].name);
        free(s->prizes[i].key);
    }
    free(s->prizes);
    free(s->coupon.name);
    free(s->coupon.key);
    free(s);
}

static double num(const cJSON *o, const char *name, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

/* s->name = name, s->key = key_prefix + name; -1 when out of memory. */
static int stock_set(stock *s, const char *key_prefix, const char *name,
                     int64_t n)
{
    s->stock = n;
    s->name = strdup(name);
    if (s->name == NULL || asprintf(&s->key, "%s%s", key_prefix, name) < 0) {
        s->key = NULL;
        return -1;
    }
    return 0;
}

static const char *pool_parse(const char *text, status *s)
{
    cJSON *def = cJSON_Parse(text);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(def, "name");
    const cJSON *prizes = cJSON_GetObjectItemCaseSensitive(def, "prizes");
    size_t n = (size_t)cJSON_GetArraySize(prizes);
    const char *why = NULL;
    char *prefix = NULL;

    if (!cJSON_IsString(name) || !cJSON_IsArray(prizes))
        why = "bad_pool";
    else if (n == 0)
        why = "no_prizes";
    else if (asprintf(&prefix, "pool.%s.", name->valuestring) < 0) {
        prefix = NULL; /* asprintf leaves it undefined */
        why = "no_memory";
    } else if ((s->prizes = calloc(n, sizeof *s->prizes)) == NULL)
        why = "no_memory";
    for (size_t i = 0; why == NULL && i < n; i++) {
        const cJSON *p = cJSON_GetArrayItem(prizes, (int)i);
        const cJSON *pname = cJSON_GetObjectItemCaseSensitive(p, "name");
        s->nprizes++;
        if (!cJSON_IsString(pname))
            why = "bad_pool";
        else if (stock_set(&s->prizes[i], prefix, pname->valuestring,
                           (int64_t)num(p, "stock", 0)) < 0)
            why = "no_memory";
    }
    free(prefix);
    cJSON_Delete(def);
    return why;
}

static const char *coupon_parse(const char *text, status *s)
{
    cJSON *def = cJSON_Parse(text);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(def, "name");
    const char *why = NULL;

    if (!cJSON_IsString(name))
        why = "bad_coupon";
    else if (stock_set(&s->coupon, "coupon.", name->valuestring,
                       (int64_t)num(def, "stock", -1)) < 0)
        why = "no_memory";
    cJSON_Delete(def);
    return why;
}

AMS_INIT(status_show_init)
{
    const char *pool = ams_api->resource_json(ctx, "pool");
    const char *coupon = ams_api->resource_json(ctx, "coupon");
    const char *why = NULL;
    status *s = calloc(1, sizeof *s);

    if (s == NULL)
        return AMS_ERR_NOMEM;
    if (pool != NULL)
        why = pool_parse(pool, s);
    if (why == NULL && coupon != NULL)
        why = coupon_parse(coupon, s);
    if (why != NULL) {
        status_free(s);
        return strcmp(why, "no_memory") == 0 ? AMS_ERR_NOMEM
                                             : ams_fail(ctx, why);
    }
    *state = s;
    return AMS_OK;
}

AMS_DESTROY(status_show_destroy)
{
    status_free(state);
}

/* What is left of one stock (never below 0). */
static ams_status remaining(ams_ctx *ctx, const stock *s, int64_t *left)
{
    int64_t used = 0;
    ams_status st = ams_api->counter_get(ctx, AMS_SCOPE_ACTIVITY, s->key,
                                         AMS_PERIOD_NONE, &used);
    *left = s->stock - used > 0 ? s->stock - used : 0;
    return st;
}

/* Reply key with obj (consumed). */
static ams_status reply_obj(ams_ctx *ctx, const char *key, cJSON *obj)
{
    char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
    ams_status st = text ? ams_api->reply_json(ctx, key, text) : AMS_ERR_NOMEM;
    free(text);
    cJSON_Delete(obj);
    return st;
}

static ams_status show_pool(ams_ctx *ctx, const status *s)
{
    cJSON *obj = cJSON_CreateObject();

    for (size_t i = 0; obj != NULL && i < s->nprizes; i++) {
        int64_t left;
        ams_status st = remaining(ctx, &s->prizes[i], &left);
        if (st != AMS_OK) {
            cJSON_Delete(obj);
            return st;
        }
        if (cJSON_AddNumberToObject(obj, s->prizes[i].name, (double)left) ==
            NULL) {
            cJSON_Delete(obj);
            return AMS_ERR_NOMEM;
        }
    }
    return reply_obj(ctx, "pool", obj);
}

static ams_status show_coupon(ams_ctx *ctx, const status *s)
{
    cJSON *obj = cJSON_CreateObject();
    int64_t left = 0;
    ams_status st = AMS_OK;

    if (s->coupon.stock >= 0)
        st = remaining(ctx, &s->coupon, &left);
    if (st != AMS_OK || obj == NULL) {
        cJSON_Delete(obj);
        return st != AMS_OK ? st : AMS_ERR_NOMEM;
    }
    cJSON_AddStringToObject(obj, "kind", s->coupon.name);
    if (s->coupon.stock >= 0)
        cJSON_AddNumberToObject(obj, "remaining", (double)left);
    else
        cJSON_AddNullToObject(obj, "remaining");
    return reply_obj(ctx, "coupon", obj);
}

AMS_ENTRY(status_show)
{
    const status *s = ams_api->state(ctx);
    const char *ledger = "[]";
    ams_status st = AMS_OK;

    if (s == NULL)
        return AMS_ERR;
    if (ams_api->uid(ctx)[0] != '\0')
        st = ams_api->ledger_json(ctx, &ledger);
    if (st == AMS_OK)
        st = ams_api->reply_json(ctx, "ledger", ledger);
    if (st == AMS_OK && s->nprizes > 0)
        st = show_pool(ctx, s);
    if (st == AMS_OK && s->coupon.name != NULL)
        st = show_coupon(ctx, s);
    return st;
}
