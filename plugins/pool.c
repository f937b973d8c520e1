/*
 * pool.c -- draw a prize from a prize pool.
 *
 *   pool.draw  operation.
 *     params   pool     (pool, required) the resource to draw from;
 *              miss_ok  (bool, default false) a probability-mode miss is
 *                       a success without a prize instead of a failure.
 *     draws    Each prize's stock is an activity counter
 *              "pool.<pool>.<prize>" counting the prizes given, taken with
 *              a bounded add so it never passes the prize's stock, even
 *              with many workers and nodes drawing at once.  A sold-out
 *              prize is never given.
 *              - weights (the pool's prizes have "weight"): one of the
 *                prizes still in stock, in proportion to its weight; a
 *                sold-out prize's weight leaves the draw and the others
 *                keep their relative odds.  When another request takes a
 *                prize's last unit first, the draw is made again without
 *                it (at most once per prize).
 *              - probabilities (the prizes have "probability"): one roll
 *                against the absolute odds of every prize; landing on a
 *                sold-out prize, or past their sum, is a miss, so the
 *                prizes still in stock keep exactly their odds.  Losing
 *                the last unit to another request is a miss too (a second
 *                roll would raise the others' odds).
 *     fails    sold_out  no prize with odds above 0 is left in stock;
 *              no_prize  probability mode: the roll missed (unless
 *                        miss_ok).  Like any failing operation it undoes
 *                        the method's earlier operations and gives back
 *                        the method's limits: a lottery with a per-user
 *                        draw limit that must count misses sets miss_ok.
 *     grants   ("prize", <prize>, <value>); replies data.prize (null on a
 *              miss_ok miss) and data.value.
 *     undo     gives back exactly the prize this request drew.
 *     init     refuses a pool that mixes weights and probabilities
 *              (mixed_odds), a prize whose counter key would not be
 *              printable ASCII of at most 200 bytes (bad_name), a pool
 *              without prizes (no_prizes); declares 1 unit per call.
 *
 * The pool's own "stock" is not counted: the loader ensures the prizes'
 * stocks add up to no more than it, so the prize counters are the bound.
 */
#include <ams/ams.h>

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ams_param draw_params[] = {
    {"pool", AMS_T_POOL, AMS_P_REQUIRED, 0, 0, "the prize pool to draw from"},
    {"miss_ok", AMS_T_BOOL, 0, 0, 0,
     "probability mode: a miss succeeds without a prize (default false: "
     "it fails with no_prize)"},
    {NULL, 0, 0, 0, 0, NULL}};

static const ams_entry entries[] = {
    {"draw", AMS_OPERATION, "pool_draw", "pool_draw_undo", "pool_draw_init",
     "pool_draw_destroy", draw_params, "{\"pool\":\"lottery\"}",
     "draw a prize within its stock; undo gives it back"},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

AMS_PLUGIN("pool", "1.0.0", entries);

typedef struct prize {
    char *name;
    char *key; /* "pool.<pool>.<prize>", activity scope */
    int64_t stock, value;
    double odds; /* weight, or absolute probability */
} prize;

typedef struct pool {
    int by_probability;
    int miss_ok;
    size_t n;
    prize p[];
} pool;

#define PICK_SOLD_OUT ((size_t)-1)
#define PICK_MISS ((size_t)-2)

static void pool_free(pool *pl)
{
    if (pl == NULL)
        return;
    for (size_t i = 0; i < pl->n; i++) {
        free(pl->p[i].name);
        free(pl->p[i].key);
    }
    free(pl);
}

static double num(const cJSON *o, const char *name, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

/* One prize of the definition into p; a reason on failure. */
static const char *prize_parse(const cJSON *j, const char *pool_name,
                               int *mode, prize *p)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
    const cJSON *prob = cJSON_GetObjectItemCaseSensitive(j, "probability");
    int m = cJSON_IsNumber(prob) ? 1 : 0;

    if (!cJSON_IsString(name))
        return "bad_pool";
    if (*mode >= 0 && *mode != m)
        return "mixed_odds";
    *mode = m;
    p->stock = (int64_t)num(j, "stock", 0);
    p->value = (int64_t)num(j, "value", 0);
    p->odds = m ? prob->valuedouble : num(j, "weight", 1.0);
    if (!(p->odds >= 0) || p->stock < 0)
        return "bad_pool";
    p->name = strdup(name->valuestring);
    if (p->name == NULL ||
        asprintf(&p->key, "pool.%s.%s", pool_name, p->name) < 0) {
        p->key = NULL;
        return "no_memory";
    }
    return ams_key_ok(p->key) ? NULL : "bad_name";
}

AMS_INIT(pool_draw_init)
{
    const char *text = ams_api->resource_json(ctx, "pool");
    cJSON *def = text ? cJSON_Parse(text) : NULL;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(def, "name");
    const cJSON *prizes = cJSON_GetObjectItemCaseSensitive(def, "prizes");
    const char *why = NULL;
    int mode = -1, miss_ok = 0;
    size_t n = (size_t)cJSON_GetArraySize(prizes);
    pool *pl;

    if (!cJSON_IsString(name) || !cJSON_IsArray(prizes) || n == 0) {
        cJSON_Delete(def);
        return ams_fail(ctx, cJSON_IsArray(prizes) ? "no_prizes" : "bad_pool");
    }
    pl = calloc(1, sizeof *pl + n * sizeof pl->p[0]);
    if (pl == NULL) {
        cJSON_Delete(def);
        return AMS_ERR_NOMEM;
    }
    for (size_t i = 0; i < n && why == NULL; i++, pl->n++)
        why = prize_parse(cJSON_GetArrayItem(prizes, (int)i),
                          name->valuestring, &mode, &pl->p[i]);
    if (why != NULL && strcmp(why, "no_memory") != 0)
        ams_api->log(ctx, AMS_LOG_ERROR, "pool \"%s\", prize %zu: %s",
                     name->valuestring, pl->n, why);
    cJSON_Delete(def);
    if (why != NULL) {
        pool_free(pl);
        return strcmp(why, "no_memory") == 0 ? AMS_ERR_NOMEM
                                             : ams_fail(ctx, why);
    }
    pl->by_probability = mode == 1;
    ams_api->conf_bool(ctx, "miss_ok", &miss_ok);
    pl->miss_ok = miss_ok;
    if (ams_api->declare_use(ctx, "pool", 1) != AMS_OK) {
        pool_free(pl);
        return AMS_ERR;
    }
    *state = pl;
    return AMS_OK;
}

AMS_DESTROY(pool_draw_destroy)
{
    pool_free(state);
}

/* A uniform double in [0, 1) from the host's (seedable) random source. */
static double uniform(ams_ctx *ctx)
{
    return (double)(ams_api->random_u64(ctx) >> 11) * 0x1.0p-53;
}

/* Can prize i still be drawn?  left[i] is its stock minus those given. */
static int drawable(const pool *pl, const int64_t *left, size_t i)
{
    return left[i] > 0 && pl->p[i].odds > 0;
}

static int any_drawable(const pool *pl, const int64_t *left)
{
    for (size_t i = 0; i < pl->n; i++)
        if (drawable(pl, left, i))
            return 1;
    return 0;
}

/* The prize to try, or PICK_SOLD_OUT / PICK_MISS. */
static size_t pick(ams_ctx *ctx, const pool *pl, const int64_t *left)
{
    double total = 0, acc = 0, x;
    size_t last = PICK_SOLD_OUT;

    for (size_t i = 0; i < pl->n; i++)
        if (drawable(pl, left, i)) {
            total += pl->p[i].odds;
            last = i;
        }
    if (last == PICK_SOLD_OUT)
        return PICK_SOLD_OUT;
    x = uniform(ctx);
    if (pl->by_probability) {
        for (size_t i = 0; i < pl->n; i++) {
            acc += pl->p[i].odds;
            if (x < acc)
                return left[i] > 0 ? i : PICK_MISS;
        }
        return PICK_MISS;
    }
    x *= total;
    for (size_t i = 0; i < pl->n; i++) {
        if (!drawable(pl, left, i))
            continue;
        acc += pl->p[i].odds;
        if (x < acc)
            return i;
    }
    return last; /* x rounded up to the total */
}

static ams_status give_back(ams_ctx *ctx, const prize *p)
{
    return ams_api->counter_add(ctx, AMS_SCOPE_ACTIVITY, p->key,
                                AMS_PERIOD_NONE, -1, INT64_MIN, INT64_MAX,
                                NULL);
}

/* Record the prize taken for this request; on failure it goes back. */
static ams_status won(ams_ctx *ctx, const prize *p)
{
    ams_status st = ams_api->grant(ctx, "prize", p->name, p->value, NULL);

    if (st == AMS_OK)
        st = ams_api->reply_str(ctx, "prize", p->name);
    if (st == AMS_OK)
        st = ams_api->reply_int(ctx, "value", p->value);
    if (st == AMS_OK)
        st = ams_api->note_set(ctx, p->name);
    if (st != AMS_OK)
        give_back(ctx, p);
    return st;
}

static ams_status missed(ams_ctx *ctx, const pool *pl)
{
    ams_status st;

    if (!pl->miss_ok)
        return ams_fail(ctx, "no_prize");
    st = ams_api->reply_json(ctx, "prize", "null");
    return st == AMS_OK ? ams_api->reply_int(ctx, "value", 0) : st;
}

static ams_status draw(ams_ctx *ctx, const pool *pl, int64_t *left)
{
    for (size_t i = 0; i < pl->n; i++) {
        int64_t used = 0;
        ams_status st = ams_api->counter_get(
            ctx, AMS_SCOPE_ACTIVITY, pl->p[i].key, AMS_PERIOD_NONE, &used);
        if (st != AMS_OK)
            return st;
        left[i] = pl->p[i].stock - used;
    }
    /* Every lost race removes one prize, so n + 1 rounds always end. */
    for (size_t round = 0; round <= pl->n; round++) {
        size_t i = pick(ctx, pl, left);
        ams_status st;

        if (i == PICK_SOLD_OUT)
            return ams_fail(ctx, "sold_out");
        if (i == PICK_MISS)
            return missed(ctx, pl);
        st = ams_api->counter_add(ctx, AMS_SCOPE_ACTIVITY, pl->p[i].key,
                                  AMS_PERIOD_NONE, 1, 0, pl->p[i].stock, NULL);
        if (st == AMS_OK)
            return won(ctx, &pl->p[i]);
        if (st != AMS_CONFLICT)
            return st;
        left[i] = 0;
        if (pl->by_probability && any_drawable(pl, left))
            return missed(ctx, pl);
    }
    return ams_fail(ctx, "sold_out");
}

AMS_ENTRY(pool_draw)
{
    const pool *pl = ams_api->state(ctx);
    int64_t *left;
    ams_status st;

    if (pl == NULL)
        return AMS_ERR;
    left = malloc(pl->n * sizeof *left);
    if (left == NULL)
        return AMS_ERR_NOMEM;
    st = draw(ctx, pl, left);
    free(left);
    return st;
}

AMS_ENTRY(pool_draw_undo)
{
    const pool *pl = ams_api->state(ctx);
    const char *name;
    ams_status st = ams_api->note_get(ctx, &name);

    if (st == AMS_NOT_FOUND)
        return AMS_OK; /* nothing was drawn (a miss_ok miss) */
    if (st != AMS_OK || pl == NULL)
        return st != AMS_OK ? st : AMS_ERR;
    for (size_t i = 0; i < pl->n; i++)
        if (strcmp(pl->p[i].name, name) == 0)
            return give_back(ctx, &pl->p[i]);
    ams_api->log(ctx, AMS_LOG_ERROR, "pool.draw undo: no prize \"%s\"", name);
    return AMS_ERR;
}
