/*
 * counter.c -- bounded counters as an operation, a rule and a handler.
 *
 *   counter.add    operation: add delta to a counter within [min, max];
 *                  fails with `reason` (default limit_reached) when the
 *                  bound would be crossed; undo subtracts it again.
 *   counter.below  rule: passes while the counter is below max.
 *   counter.get    handler: replies data.<key> with the counter's value.
 */
#include <ams/ams.h>

#include <stdint.h>
#include <string.h>

static const ams_param add_params[] = {
    {"key", AMS_T_STRING, AMS_P_REQUIRED | AMS_P_MIN | AMS_P_MAX, 1, 100,
     "counter name"},
    {"delta", AMS_T_INT, 0, 0, 0, "amount added (default 1)"},
    {"min", AMS_T_INT, 0, 0, 0, "lower bound (default 0)"},
    {"max", AMS_T_INT, AMS_P_REQUIRED, 0, 0, "upper bound"},
    {"scope", AMS_T_STRING, 0, 0, 0, "user (default) or activity"},
    {"period", AMS_T_STRING, 0, 0, 0, "none (default) or day"},
    {"reason", AMS_T_STRING, AMS_P_MIN | AMS_P_MAX, 1, 63,
     "reason when the bound is reached (default limit_reached)"},
    {NULL, 0, 0, 0, 0, NULL}};

static const ams_param read_params[] = {
    {"key", AMS_T_STRING, AMS_P_REQUIRED | AMS_P_MIN | AMS_P_MAX, 1, 100,
     "counter name"},
    {"max", AMS_T_INT, 0, 0, 0, "counter.below: the bound"},
    {"scope", AMS_T_STRING, 0, 0, 0, "user (default) or activity"},
    {"period", AMS_T_STRING, 0, 0, 0, "none (default) or day"},
    {NULL, 0, 0, 0, 0, NULL}};

static const ams_entry entries[] = {
    {"add", AMS_OPERATION, "counter_add", "counter_add_undo", NULL, NULL,
     add_params, "{\"key\":\"points\",\"delta\":10,\"max\":100}",
     "add within bounds"},
    {"below", AMS_RULE, "counter_below", NULL, NULL, NULL, read_params,
     "{\"key\":\"points\",\"max\":100}", "counter < max"},
    {"get", AMS_HANDLER, "counter_get", NULL, NULL, NULL, read_params,
     "{\"key\":\"points\"}", "reply the counter"},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

AMS_PLUGIN("counter", "1.0.0", entries);

static ams_scope scope_of(ams_ctx *ctx)
{
    return strcmp(ams_conf_str(ctx, "scope", "user"), "activity") == 0
               ? AMS_SCOPE_ACTIVITY
               : AMS_SCOPE_USER;
}

static ams_period period_of(ams_ctx *ctx)
{
    return strcmp(ams_conf_str(ctx, "period", "none"), "day") == 0
               ? AMS_PERIOD_DAY
               : AMS_PERIOD_NONE;
}

static ams_status add(ams_ctx *ctx, int undo)
{
    const char *key = ams_conf_str(ctx, "key", "");
    int64_t delta = ams_conf_int(ctx, "delta", 1), v = 0;
    int64_t lo = ams_conf_int(ctx, "min", 0), hi = ams_conf_int(ctx, "max", 0);
    ams_status st;

    /* An undo must not fail on the bounds it is restoring. */
    if (undo) {
        delta = -delta;
        lo = INT64_MIN;
        hi = INT64_MAX;
    }
    st = ams_api->counter_add(ctx, scope_of(ctx), key, period_of(ctx), delta,
                              lo, hi, &v);
    if (st == AMS_CONFLICT)
        return ams_fail(ctx, ams_conf_str(ctx, "reason", "limit_reached"));
    if (st == AMS_OK && !undo)
        ams_api->reply_int(ctx, key, v);
    return st;
}

AMS_ENTRY(counter_add)
{
    return add(ctx, 0);
}

AMS_ENTRY(counter_add_undo)
{
    return add(ctx, 1);
}

AMS_ENTRY(counter_below)
{
    int64_t v = 0;
    ams_status st = ams_api->counter_get(ctx, scope_of(ctx),
                                         ams_conf_str(ctx, "key", ""),
                                         period_of(ctx), &v);
    if (st != AMS_OK)
        return st;
    return v < ams_conf_int(ctx, "max", 0) ? AMS_OK
                                           : ams_fail(ctx, "limit_reached");
}

AMS_ENTRY(counter_get)
{
    const char *key = ams_conf_str(ctx, "key", "");
    int64_t v = 0;
    ams_status st = ams_api->counter_get(ctx, scope_of(ctx), key,
                                         period_of(ctx), &v);
    if (st != AMS_OK)
        return st;
    return ams_api->reply_int(ctx, key, v);
}
