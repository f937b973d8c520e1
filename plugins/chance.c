/*
 * chance.c -- a rule that passes at random.
 *
 *   chance.roll  rule: passes with probability `chance` (a number in
 *                [0, 1], required), drawn from the host's random source
 *                (seedable by tests).  Fails with reason unlucky.  A chance
 *                of 0 never passes and 1 always does; init tells the
 *                checker so.
 */
#include <ams/ams.h>

static const ams_param roll_params[] = {
    {"chance", AMS_T_NUMBER, AMS_P_REQUIRED | AMS_P_MIN | AMS_P_MAX, 0, 1,
     "probability of passing, 0..1"},
    {NULL, 0, 0, 0, 0, NULL}};

static const ams_entry entries[] = {
    {"roll", AMS_RULE, "chance_roll", NULL, "chance_roll_init", NULL,
     roll_params, "{\"chance\":0.25}", "passes with a probability"},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

/* chance.roll draws from the host's random source; it never touches the
 * store. */
static const uint32_t flags[] = {AMS_EF_READONLY};

AMS_PLUGIN_FLAGS("chance", "1.0.0", entries, flags);

AMS_INIT(chance_roll_init)
{
    double p = 0;

    *state = NULL;
    ams_api->conf_number(ctx, "chance", &p);
    if (p <= 0 || p >= 1)
        ams_api->rule_constant(ctx, p >= 1);
    return AMS_OK;
}

AMS_ENTRY(chance_roll)
{
    double p = 0;
    /* The top 53 bits give every double in [0, 1) step 2^-53 with equal
     * odds, so x < p holds with probability p (exactly 0 for 0, 1 for 1). */
    double x = (double)(ams_api->random_u64(ctx) >> 11) * 0x1.0p-53;

    ams_api->conf_number(ctx, "chance", &p);
    return x < p ? AMS_OK : ams_fail(ctx, "unlucky");
}
