/*
 * bad_undo -- an operation that adds `amount` stamps to the user's card
 * and whose undo takes back only one.  Should fail: op.stamp.undo.
 */
#include <ams/ams.h>

#include <stdint.h>

static const ams_param params[] = {
    {"amount", AMS_T_INT, AMS_P_REQUIRED | AMS_P_MIN | AMS_P_MAX, 1, 100,
     "stamps per call"},
    {"max", AMS_T_INT, AMS_P_REQUIRED | AMS_P_MIN, 1, 0, "stamps at most"},
    {NULL, 0, 0, 0, 0, NULL}};
static const ams_entry entries[] = {
    {"stamp", AMS_OPERATION, "bu_stamp", "bu_stamp_undo", NULL, NULL, params,
     "{\"amount\":5,\"max\":1000}", "add stamps"},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

AMS_PLUGIN("bad_undo", "1.0.0", entries);

AMS_ENTRY(bu_stamp)
{
    ams_status st = ams_api->counter_add(
        ctx, AMS_SCOPE_USER, "stamps", AMS_PERIOD_NONE,
        ams_conf_int(ctx, "amount", 1), 0, ams_conf_int(ctx, "max", 0), NULL);
    return st == AMS_CONFLICT ? ams_fail(ctx, "card_full") : st;
}

AMS_ENTRY(bu_stamp_undo)
{
    /* The bug: -1 instead of -amount. */
    return ams_api->counter_add(ctx, AMS_SCOPE_USER, "stamps", AMS_PERIOD_NONE,
                                -1, INT64_MIN, INT64_MAX, NULL);
}
