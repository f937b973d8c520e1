/*
 * impure_rule -- a rule that counts the user's visits in the store (it
 * should be an operation).  It is deterministic: the same store gives the
 * same verdict.  Should fail: rule.first_visit.pure.
 */
#include <ams/ams.h>

static const ams_entry entries[] = {
    {"first_visit", AMS_RULE, "ir_first_visit", NULL, NULL, NULL, NULL, NULL,
     "passes on the user's first visit"},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

AMS_PLUGIN("impure_rule", "1.0.0", entries);

AMS_ENTRY(ir_first_visit)
{
    int64_t visits = 0;
    ams_status st =
        ams_api->counter_add(ctx, AMS_SCOPE_USER, "visits", AMS_PERIOD_NONE, 1,
                             0, INT64_MAX, &visits);
    if (st != AMS_OK)
        return st;
    return visits == 1 ? AMS_OK : ams_fail(ctx, "visited_before");
}
