/*
 * wrong_abi -- built for the next ABI major.  Should fail: manifest.abi
 * ("built for ABI 2.0, this host speaks ABI 1.M"), manifest.loader.
 */
#include <ams/ams.h>

static const ams_entry entries[] = {
    {"pass", AMS_RULE, "wa_pass", NULL, NULL, NULL, NULL, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};
const ams_host *ams_api;

AMS_EXPORT const ams_manifest ams_plugin_manifest = {
    AMS_MAGIC,   AMS_ABI_MAJOR + 1,
    0,           0,
    0,           sizeof(ams_manifest),
    "wrong_abi", "1.0.0",
    entries,     &ams_api,
    NULL,        NULL};

AMS_ENTRY(wa_pass)
{
    return AMS_OK;
}
