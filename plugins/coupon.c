/*
 * coupon.c -- give coupons of a declared kind.
 *
 *   coupon.grant  operation.
 *     params   coupon  (coupon, required) the coupon kind;
 *              count   (int 1..100, default 1) coupons per call.
 *     takes    When the kind has a "stock", the activity counter
 *              "coupon.<kind>" counts the coupons given, taken with a
 *              bounded add of count: all count coupons or none, never
 *              more than the stock however many requests race.  A kind
 *              without a stock is unlimited.
 *     fails    sold_out  fewer than count coupons are left.
 *     grants   count x ("coupon", <kind>, <value>,
 *              {"expires_at": now + expire_days days, in ms});
 *              replies data.coupon (the kind), data.count and
 *              data.expires_at.
 *     undo     gives the stock back (nothing for an unlimited kind).
 *     init     refuses a kind whose counter key would not be printable
 *              ASCII of at most 200 bytes (bad_name); declares count
 *              units per call.
 */
#include <ams/ams.h>

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ams_param grant_params[] = {
    {"coupon", AMS_T_COUPON, AMS_P_REQUIRED, 0, 0, "the coupon kind"},
    {"count", AMS_T_INT, AMS_P_MIN | AMS_P_MAX, 1, 100,
     "coupons per call (default 1)"},
    {NULL, 0, 0, 0, 0, NULL}};

static const ams_entry entries[] = {
    {"grant", AMS_OPERATION, "coupon_grant", "coupon_grant_undo",
     "coupon_grant_init", "coupon_grant_destroy", grant_params,
     "{\"coupon\":\"c20\",\"count\":1}",
     "give coupons within the kind's stock; undo gives the stock back"},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

AMS_PLUGIN("coupon", "1.0.0", entries);

#define DAY_MS 86400000LL

typedef struct coupon {
    char *kind;
    char *key; /* "coupon.<kind>", activity scope */
    int64_t value;
    int64_t days;  /* validity from the grant */
    int64_t stock; /* < 0: unlimited */
    int64_t count;
} coupon;

static void coupon_free(coupon *c)
{
    if (c == NULL)
        return;
    free(c->kind);
    free(c->key);
    free(c);
}

static double num(const cJSON *o, const char *name, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

AMS_INIT(coupon_grant_init)
{
    const char *text = ams_api->resource_json(ctx, "coupon");
    cJSON *def = text ? cJSON_Parse(text) : NULL;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(def, "name");
    coupon *c;

    if (!cJSON_IsString(name)) {
        cJSON_Delete(def);
        return ams_fail(ctx, "bad_coupon");
    }
    c = calloc(1, sizeof *c);
    if (c == NULL || (c->kind = strdup(name->valuestring)) == NULL ||
        asprintf(&c->key, "coupon.%s", c->kind) < 0) {
        if (c != NULL)
            c->key = NULL;
        coupon_free(c);
        cJSON_Delete(def);
        return AMS_ERR_NOMEM;
    }
    c->value = (int64_t)num(def, "value", 0);
    c->days = (int64_t)num(def, "expire_days", 30);
    c->stock = (int64_t)num(def, "stock", -1);
    c->count = ams_conf_int(ctx, "count", 1);
    cJSON_Delete(def);
    if (!ams_key_ok(c->key)) {
        coupon_free(c);
        return ams_fail(ctx, "bad_name");
    }
    if (ams_api->declare_use(ctx, "coupon", c->count) != AMS_OK) {
        coupon_free(c);
        return AMS_ERR;
    }
    *state = c;
    return AMS_OK;
}

AMS_DESTROY(coupon_grant_destroy)
{
    coupon_free(state);
}

static ams_status give_back(ams_ctx *ctx, const coupon *c)
{
    if (c->stock < 0)
        return AMS_OK;
    return ams_api->counter_add(ctx, AMS_SCOPE_ACTIVITY, c->key,
                                AMS_PERIOD_NONE, -c->count, INT64_MIN,
                                INT64_MAX, NULL);
}

static ams_status give(ams_ctx *ctx, const coupon *c)
{
    char extra[64];
    int64_t expires = ams_api->now_ms(ctx) + c->days * DAY_MS;
    ams_status st = AMS_OK;

    snprintf(extra, sizeof extra, "{\"expires_at\":%lld}", (long long)expires);
    for (int64_t i = 0; i < c->count && st == AMS_OK; i++)
        st = ams_api->grant(ctx, "coupon", c->kind, c->value, extra);
    if (st == AMS_OK)
        st = ams_api->reply_str(ctx, "coupon", c->kind);
    if (st == AMS_OK)
        st = ams_api->reply_int(ctx, "count", c->count);
    if (st == AMS_OK)
        st = ams_api->reply_int(ctx, "expires_at", expires);
    if (st == AMS_OK)
        st = ams_api->note_set(ctx, "taken");
    return st;
}

AMS_ENTRY(coupon_grant)
{
    const coupon *c = ams_api->state(ctx);
    ams_status st;

    if (c == NULL)
        return AMS_ERR;
    if (c->stock >= 0) {
        st =
            ams_api->counter_add(ctx, AMS_SCOPE_ACTIVITY, c->key,
                                 AMS_PERIOD_NONE, c->count, 0, c->stock, NULL);
        if (st == AMS_CONFLICT)
            return ams_fail(ctx, "sold_out");
        if (st != AMS_OK)
            return st;
    }
    st = give(ctx, c);
    if (st != AMS_OK)
        give_back(ctx, c);
    return st;
}

AMS_ENTRY(coupon_grant_undo)
{
    const coupon *c = ams_api->state(ctx);
    const char *note;
    ams_status st = ams_api->note_get(ctx, &note);

    /* Only a call that took coupons left a note: nothing else to undo. */
    if (st == AMS_NOT_FOUND)
        return AMS_OK;
    if (st != AMS_OK)
        return st;
    return c != NULL ? give_back(ctx, c) : AMS_ERR;
}
