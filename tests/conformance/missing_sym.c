/*
 * missing_sym -- the manifest names a function the plugin does not export
 * (it is static: written without AMS_ENTRY).  Should fail:
 * manifest.symbols (naming the symbol), manifest.loader.
 */
#include <ams/ams.h>

static const ams_param params[] = {
    {"min", AMS_T_INT, AMS_P_REQUIRED, 0, 0, "lowest amount"},
    {NULL, 0, 0, 0, 0, NULL}};
static const ams_entry entries[] = {
    {"at_least", AMS_RULE, "ms_at_least", NULL, NULL, NULL, params,
     "{\"min\":10}", "amount >= min"},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

AMS_PLUGIN("missing_sym", "1.0.0", entries);

ams_status ms_at_least(ams_ctx *ctx); /* declared, but not exported */
ams_status ms_at_least(ams_ctx *ctx)
{
    int64_t amount = 0;
    ams_api->req_int(ctx, "amount", &amount);
    return amount >= ams_conf_int(ctx, "min", 0) ? AMS_OK
                                                 : ams_fail(ctx, "too_low");
}
