/*
 * flagged -- entry flags (ABI minor 1) as the loader and ams-conform see
 * them: two entries declared read-only, a rule and an operation that are
 * not.  Built with AMS_PLUGIN_FLAGS_MIN(..., 0), so it also claims to work
 * with a minor 0 host (which ignores the flags).
 *
 *   flagged.peek   rule, read-only: passes while the user's counter
 *                  "bumps" is below 1000.
 *   flagged.show   handler, read-only: replies data.bumps.
 *   flagged.plain  rule, no flags: always passes.
 *   flagged.bump   operation: adds 1 to "bumps"; undo takes it back.
 */
#include <ams/ams.h>

#include <stdint.h>

static const ams_entry entries[] = {
    {"peek", AMS_RULE, "fl_peek", NULL, NULL, NULL, NULL, NULL, NULL},
    {"show", AMS_HANDLER, "fl_show", NULL, NULL, NULL, NULL, NULL, NULL},
    {"plain", AMS_RULE, "fl_plain", NULL, NULL, NULL, NULL, NULL, NULL},
    {"bump", AMS_OPERATION, "fl_bump", "fl_bump_undo", NULL, NULL, NULL, NULL,
     NULL},
    AMS_ENTRIES_END};
static const uint32_t flags[] = {AMS_EF_READONLY, AMS_EF_READONLY, 0, 0};

AMS_PLUGIN_FLAGS_MIN("flagged", "1.0.0", entries, flags, 0);

static ams_status bumps(ams_ctx *ctx, int64_t *v)
{
    return ams_api->counter_get(ctx, AMS_SCOPE_USER, "bumps", AMS_PERIOD_NONE,
                                v);
}

AMS_ENTRY(fl_peek)
{
    int64_t v = 0;
    ams_status st = bumps(ctx, &v);
    if (st != AMS_OK)
        return st;
    return v < 1000 ? AMS_OK : ams_fail(ctx, "too_many");
}

AMS_ENTRY(fl_show)
{
    int64_t v = 0;
    ams_status st = bumps(ctx, &v);
    return st == AMS_OK ? ams_api->reply_int(ctx, "bumps", v) : st;
}

AMS_ENTRY(fl_plain)
{
    return AMS_OK;
}

AMS_ENTRY(fl_bump)
{
    return ams_api->counter_add(ctx, AMS_SCOPE_USER, "bumps", AMS_PERIOD_NONE,
                                1, 0, INT64_MAX, NULL);
}

AMS_ENTRY(fl_bump_undo)
{
    return ams_api->counter_add(ctx, AMS_SCOPE_USER, "bumps", AMS_PERIOD_NONE,
                                -1, INT64_MIN, INT64_MAX, NULL);
}
