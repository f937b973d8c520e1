/* A manifest with the wrong magic: refused before anything else is read. */
#include <ams/ams.h>
static const ams_entry entries[] = {
    {"x", AMS_RULE, "x", NULL, NULL, NULL, NULL, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};
const ams_host *ams_api;
AMS_EXPORT const ams_manifest ams_plugin_manifest = {0xdeadbeef,
                                                     AMS_ABI_MAJOR,
                                                     AMS_ABI_MINOR,
                                                     AMS_ABI_MINOR,
                                                     0,
                                                     sizeof(ams_manifest),
                                                     "bad_magic",
                                                     "1.0.0",
                                                     entries,
                                                     &ams_api,
                                                     NULL,
                                                     NULL};
AMS_ENTRY(x)
{
    return AMS_OK;
}
