/*
 * variant.c -- one plugin, two builds (tests/plugins/build_a and build_b,
 * both named variant.so) that answer differently, for hot-reload tests.
 *
 *   variant.which   handler: replies data.build = VARIANT_BUILD ("A" or
 *                   "B"), after sleeping request param ms (default 0) on
 *                   the host clock.
 */
#include <ams/ams.h>

#ifndef VARIANT_BUILD
#error "build with -DVARIANT_BUILD=\"A\" or \"B\""
#endif

static const ams_entry entries[] = {
    {"which", AMS_HANDLER, "variant_which", NULL, NULL, NULL, NULL, NULL,
     NULL},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

AMS_PLUGIN("variant", "1.0.0", entries);

AMS_ENTRY(variant_which)
{
    int64_t ms = 0;
    if (ams_api->req_int(ctx, "ms", &ms) == AMS_OK && ms > 0 &&
        ams_api->sleep_ms(ctx, ms) != AMS_OK)
        return AMS_ERR;
    return ams_api->reply_str(ctx, "build", VARIANT_BUILD);
}
