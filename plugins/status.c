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
    char *json; /* name as a JSON string, quoted and escaped, made once */
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
        free(s->prizes[i].json);
        free(s->prizes[i].key);
    }
    free(s->prizes);
    free(s->coupon.name);
    free(s->coupon.json);
    free(s->coupon.key);
    free(s);
}

static double num(const cJSON *o, const char *name, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

/* s->name = name, s->json = name as JSON text, s->key = key_prefix +
 * name; -1 when out of memory. */
static int stock_set(stock *s, const char *key_prefix, const char *name,
                     int64_t n)
{
    cJSON *str = cJSON_CreateString(name);

    s->stock = n;
    s->name = strdup(name);
    s->json = str ? cJSON_PrintUnformatted(str) : NULL;
    cJSON_Delete(str);
    if (s->name == NULL || s->json == NULL ||
        asprintf(&s->key, "%s%s", key_prefix, name) < 0) {
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

/* The objects below are small and of a fixed shape: their text is put
 * together from the names escaped once at init and the counts, instead
 * of a cJSON tree printed on every request (cJSON prints each number with
 * sprintf and reads it back with sscanf).  The host parses the text as it
 * would parse cJSON's: the answer is the same. */
typedef struct text {
    char *p;
    size_t len, cap;
} text;

/* Append n bytes; -1 when out of memory (t->p is then freed). */
static int put(text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->len + n + 1) * 2;
        char *p = realloc(t->p, cap);
        if (p == NULL) {
            free(t->p);
            t->p = NULL;
            return -1;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
    return 0;
}

static int put_str(text *t, const char *s)
{
    return put(t, s, strlen(s));
}

static int put_int(text *t, int64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%lld", (long long)v);

    return put(t, buf, (size_t)n);
}

/* Reply key with the text t built (freed here); a failed build is out
 * of memory. */
static ams_status reply_text(ams_ctx *ctx, const char *key, text *t, int rc)
{
    ams_status st =
        rc == 0 && t->p ? ams_api->reply_json(ctx, key, t->p) : AMS_ERR_NOMEM;

    free(t->p);
    return st;
}

static ams_status show_pool(ams_ctx *ctx, const status *s)
{
    text t = {NULL, 0, 0};
    int rc = put(&t, "{", 1);

    for (size_t i = 0; rc == 0 && i < s->nprizes; i++) {
        int64_t left;
        ams_status st = remaining(ctx, &s->prizes[i], &left);
        if (st != AMS_OK) {
            free(t.p);
            return st;
        }
        rc = (i > 0 ? put(&t, ",", 1) : 0) || put_str(&t, s->prizes[i].json) ||
             put(&t, ":", 1) || put_int(&t, left);
    }
    rc = rc || put(&t, "}", 1);
    return reply_text(ctx, "pool", &t, rc);
}

static ams_status show_coupon(ams_ctx *ctx, const status *s)
{
    text t = {NULL, 0, 0};
    int64_t left = 0;
    ams_status st = AMS_OK;
    int rc;

    if (s->coupon.stock >= 0)
        st = remaining(ctx, &s->coupon, &left);
    if (st != AMS_OK)
        return st;
    rc = put_str(&t, "{\"kind\":") || put_str(&t, s->coupon.json) ||
         put_str(&t, ",\"remaining\":") ||
         (s->coupon.stock >= 0 ? put_int(&t, left) : put_str(&t, "null")) ||
         put(&t, "}", 1);
    return reply_text(ctx, "coupon", &t, rc);
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
