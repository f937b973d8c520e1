/* The manifest names a function that is not exported. */
#include <ams/ams.h>
static const ams_entry entries[] = {
    {"r", AMS_RULE, "ms_not_there", NULL, NULL, NULL, NULL, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};
AMS_PLUGIN("missing_symbol", "1.0.0", entries);
