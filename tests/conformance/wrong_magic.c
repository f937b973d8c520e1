/*
 * wrong_magic -- a manifest whose magic is not AMS_MAGIC (hand-written
 * instead of made with AMS_PLUGIN).  Should fail: manifest.magic,
 * manifest.loader; everything else in the manifest is not checked.
 */
#include <ams/ams.h>

static const ams_entry entries[] = {
    {"pass", AMS_RULE, "wm_pass", NULL, NULL, NULL, NULL, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};
const ams_host *ams_api;

AMS_EXPORT const ams_manifest ams_plugin_manifest = {
    0x314d5341u, /* "ASM1": bytes swapped */
    AMS_ABI_MAJOR,
    AMS_ABI_MINOR,
    AMS_ABI_MINOR,
    0,
    sizeof(ams_manifest),
    "wrong_magic",
    "1.0.0",
    entries,
    &ams_api,
    NULL,
    NULL};

AMS_ENTRY(wm_pass)
{
    return AMS_OK;
}
