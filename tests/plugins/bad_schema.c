/* Malformed manifest: bad names, a param with min > max, bounds on a
 * bool, an undo on a rule, a duplicate entry.  Every problem is reported. */
#include <ams/ams.h>
static const ams_param params[] = {
    {"lo_hi", AMS_T_INT, AMS_P_MIN | AMS_P_MAX, 10, 1, NULL},
    {"flag", AMS_T_BOOL, AMS_P_MAX, 0, 1, NULL},
    {"Bad-Name", AMS_T_INT, 0, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, NULL}};
static const ams_entry entries[] = {
    {"r", AMS_RULE, "bs_r", "bs_r", NULL, NULL, params, NULL, NULL},
    {"r", AMS_RULE, "bs_r", NULL, NULL, NULL, NULL, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};
AMS_PLUGIN("bad_schema", "1.0", entries);
AMS_ENTRY(bs_r)
{
    return AMS_OK;
}
