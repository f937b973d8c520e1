/*
 * my_plugin.c -- a complete amsd plugin: one rule and one operation with
 * an undo.  Copy this project, rename it, and change what the entries do.
 *
 *   my_plugin.min_amount  rule: passes when the request's `amount` is at
 *                         least the configured `min`; fails with
 *                         missing_amount or too_low.
 *   my_plugin.stamp       operation: adds `count` stamps (default 1) to
 *                         the user's stamp card, which holds at most
 *                         `max`; fails with card_full.  Undo takes them
 *                         back.
 *
 * Build:  cc -shared -fPIC $(pkg-config --cflags ams-plugin) \
 *             my_plugin.c -o my_plugin.so
 * or:     meson setup build && meson test -C build   (runs ams-conform)
 */
#include <ams/ams.h>

#include <stdint.h>

/* ---- the manifest: what amsd checks before running anything ---- */

static const ams_param min_amount_params[] = {{"min", AMS_T_INT,
                                               AMS_P_REQUIRED | AMS_P_MIN, 0,
                                               0, "the lowest passing amount"},
                                              {NULL, 0, 0, 0, 0, NULL}};

static const ams_param stamp_params[] = {
    {"max", AMS_T_INT, AMS_P_REQUIRED | AMS_P_MIN | AMS_P_MAX, 1, 1000,
     "stamps a card holds"},
    {"count", AMS_T_INT, AMS_P_MIN | AMS_P_MAX, 1, 10,
     "stamps per call (default 1)"},
    {NULL, 0, 0, 0, 0, NULL}};

static const ams_entry entries[] = {
    /* name, kind, symbol, undo, init, destroy, params, example, doc */
    {"min_amount", AMS_RULE, "my_min_amount", NULL, NULL, NULL,
     min_amount_params, "{\"min\":500}", "request amount >= min"},
    {"stamp", AMS_OPERATION, "my_stamp", "my_stamp_undo", NULL, NULL,
     stamp_params, "{\"max\":10,\"count\":1}",
     "add stamps to the user's card"},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

/* One flag word per entry, in the order of `entries`.  The rule only
 * reads, and says so (AMS_EF_READONLY): a method made only of read-only
 * entries runs without the per-user lock and writes nothing.  The
 * operation writes, so it has no flag (the loader refuses READONLY on an
 * operation).  ams-conform's readonly.min_amount holds the rule to it. */
static const uint32_t flags[] = {AMS_EF_READONLY, 0};

/* The name must equal the file's stem: my_plugin.so. */
AMS_PLUGIN_FLAGS("my_plugin", "1.0.0", entries, flags);

/* ---- the rule: pure, it only reads ---- */

AMS_ENTRY(my_min_amount)
{
    int64_t amount;

    if (ams_api->req_int(ctx, "amount", &amount) != AMS_OK)
        return ams_fail(ctx, "missing_amount");
    if (amount < ams_conf_int(ctx, "min", 0))
        return ams_fail(ctx, "too_low");
    return AMS_OK;
}

/* ---- the operation and its undo ---- */

AMS_ENTRY(my_stamp)
{
    int64_t count = ams_conf_int(ctx, "count", 1), now = 0;
    ams_status st;

    /* Bounded and atomic: two requests racing for the last free slot
     * cannot both get it. */
    st = ams_api->counter_add(ctx, AMS_SCOPE_USER, "stamps", AMS_PERIOD_NONE,
                              count, 0, ams_conf_int(ctx, "max", 1), &now);
    if (st == AMS_CONFLICT)
        return ams_fail(ctx, "card_full");
    if (st != AMS_OK)
        return st; /* AMS_ERR_STORE: the client gets 503 */
    return ams_api->reply_int(ctx, "stamps", now);
}

/* Runs when a later operation of the same method fails: give back exactly
 * what my_stamp took, and never fail on the bounds being restored. */
AMS_ENTRY(my_stamp_undo)
{
    return ams_api->counter_add(ctx, AMS_SCOPE_USER, "stamps", AMS_PERIOD_NONE,
                                -ams_conf_int(ctx, "count", 1), INT64_MIN,
                                INT64_MAX, NULL);
}
