/*
 * random_rule -- a rule that rolls its own dice with rand() instead of
 * the host's seedable random_u64.  Should fail: rule.lucky.deterministic.
 */
#include <ams/ams.h>

#include <stdlib.h>

static const ams_entry entries[] = {
    {"lucky", AMS_RULE, "rr_lucky", NULL, NULL, NULL, NULL, NULL,
     "passes half of the time"},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

AMS_PLUGIN("random_rule", "1.0.0", entries);

AMS_ENTRY(rr_lucky)
{
    return rand() % 2 ? AMS_OK : ams_fail(ctx, "unlucky");
}
