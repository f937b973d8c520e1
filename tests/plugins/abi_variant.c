/*
 * One source, several manifests, chosen at build time, to test the ABI
 * rules:
 *   VARIANT_MAJOR      built for the next ABI major: refused
 *   VARIANT_NEEDS_NEW  needs a newer minor than the host has: refused
 *   VARIANT_NEWER_OK   built against a newer minor but needs only ours:
 *                      accepted
 *   VARIANT_MINOR0     the minor 0 layout (size up to `doc`, no
 *                      entry_flags), as a plugin built against minor 0
 *                      has: accepted, and never read-only.  The memory
 *                      past its size holds flags that the host would
 *                      refuse if it read them, so loading it shows that
 *                      the host reads no field its size does not cover.
 *   VARIANT_OLD        an older, shorter manifest (no `doc` field), as a
 *                      plugin of an older minor would have: accepted
 */
#include <ams/ams.h>

static const ams_entry entries[] = {
    {"pass", AMS_RULE, "v_pass", NULL, NULL, NULL, NULL, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};
const ams_host *ams_api;
#define FLAGS NULL

#if defined(VARIANT_MAJOR)
#define NAME "abi_major"
#define MAJOR (AMS_ABI_MAJOR + 1)
#define MINOR 0
#define MIN_MINOR 0
#define SIZE sizeof(ams_manifest)
#elif defined(VARIANT_NEEDS_NEW)
#define NAME "abi_needs_new"
#define MAJOR AMS_ABI_MAJOR
#define MINOR (AMS_ABI_MINOR + 1)
#define MIN_MINOR (AMS_ABI_MINOR + 1)
#define SIZE sizeof(ams_manifest)
#elif defined(VARIANT_NEWER_OK)
#define NAME "abi_newer_ok"
#define MAJOR AMS_ABI_MAJOR
#define MINOR (AMS_ABI_MINOR + 1)
#define MIN_MINOR AMS_ABI_MINOR
#define SIZE sizeof(ams_manifest)
#elif defined(VARIANT_MINOR0)
#define NAME "abi_minor0"
#define MAJOR AMS_ABI_MAJOR
#define MINOR 0
#define MIN_MINOR 0
#define SIZE offsetof(ams_manifest, entry_flags)
/* Not the plugin's statement: past the end of a minor 0 manifest.  Both
 * an unknown bit and READONLY, so reading it would be seen either way. */
static const uint32_t beyond[] = {AMS_EF_READONLY | 0x80u};
#undef FLAGS
#define FLAGS beyond
#else
#define NAME "abi_old"
#define MAJOR AMS_ABI_MAJOR
#define MINOR AMS_ABI_MINOR
#define MIN_MINOR AMS_ABI_MINOR
#define SIZE offsetof(ams_manifest, doc)
#endif

AMS_EXPORT const ams_manifest ams_plugin_manifest = {
    AMS_MAGIC, MAJOR,   MINOR,   MIN_MINOR, 0,    SIZE,
    NAME,      "1.0.0", entries, &ams_api,  NULL, FLAGS};

AMS_ENTRY(v_pass)
{
    return AMS_OK;
}
