/*
 * param.c -- rules on the request's params.
 *
 *   param.compare  passes when params.<field> <op> value, op one of
 *                  ge, gt, le, lt, eq, ne; a missing or non-numeric field
 *                  fails with reason missing_param.
 */
#include <ams/ams.h>

#include <string.h>

static const ams_param compare_params[] = {
    {"field", AMS_T_STRING, AMS_P_REQUIRED | AMS_P_MIN | AMS_P_MAX, 1, 64,
     "name of the request param"},
    {"op", AMS_T_STRING, AMS_P_REQUIRED, 0, 0, "ge, gt, le, lt, eq or ne"},
    {"value", AMS_T_NUMBER, AMS_P_REQUIRED, 0, 0, "what to compare with"},
    {"reason", AMS_T_STRING, AMS_P_MIN | AMS_P_MAX, 1, 63,
     "reason when it fails (default below_threshold)"},
    {NULL, 0, 0, 0, 0, NULL}};

static const ams_entry entries[] = {
    {"compare", AMS_RULE, "param_compare", NULL, "param_compare_init", NULL,
     compare_params, "{\"field\":\"amount\",\"op\":\"ge\",\"value\":500}",
     "compare a numeric request param"},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

/* param.compare reads only the request. */
static const uint32_t flags[] = {AMS_EF_READONLY};

AMS_PLUGIN_FLAGS("param", "1.0.0", entries, flags);

static const char *const ops[] = {"ge", "gt", "le", "lt", "eq", "ne", NULL};

/* The op is checked once at load, so a typo is a config error, not a
 * request-time surprise.  The state is the op's index (no allocation). */
AMS_INIT(param_compare_init)
{
    const char *op = ams_conf_str(ctx, "op", "");
    for (long i = 0; ops[i] != NULL; i++)
        if (strcmp(ops[i], op) == 0) {
            *state = (void *)(i + 1);
            return AMS_OK;
        }
    return ams_fail(ctx, "unknown_op");
}

AMS_ENTRY(param_compare)
{
    long op = (long)ams_api->state(ctx) - 1;
    double have, want = 0;
    int pass;

    if (ams_api->req_number(ctx, ams_conf_str(ctx, "field", ""), &have) !=
        AMS_OK)
        return ams_fail(ctx, "missing_param");
    ams_api->conf_number(ctx, "value", &want);
    switch (op) {
    case 0:
        pass = have >= want;
        break;
    case 1:
        pass = have > want;
        break;
    case 2:
        pass = have <= want;
        break;
    case 3:
        pass = have < want;
        break;
    case 4:
        pass = have == want;
        break;
    default:
        pass = have != want;
        break;
    }
    return pass
               ? AMS_OK
               : ams_fail(ctx, ams_conf_str(ctx, "reason", "below_threshold"));
}
