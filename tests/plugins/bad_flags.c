/*
 * bad_flags -- entry flags the loader must refuse, each with a message
 * naming the entry: bits this host does not know on a rule, and
 * AMS_EF_READONLY on an operation.  A handler with correct flags sits
 * between them and is not reported.
 */
#include <ams/ams.h>

static const ams_entry entries[] = {
    {"r", AMS_RULE, "bf_entry", NULL, NULL, NULL, NULL, NULL, NULL},
    {"h", AMS_HANDLER, "bf_entry", NULL, NULL, NULL, NULL, NULL, NULL},
    {"op", AMS_OPERATION, "bf_entry", NULL, NULL, NULL, NULL, NULL, NULL},
    AMS_ENTRIES_END};
static const uint32_t flags[] = {AMS_EF_READONLY | 0x6u, AMS_EF_READONLY,
                                 AMS_EF_READONLY};

AMS_PLUGIN_FLAGS("bad_flags", "1.0.0", entries, flags);

AMS_ENTRY(bf_entry)
{
    return AMS_OK;
}
