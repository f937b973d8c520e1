/*
 * lying_reader -- entries declared read-only (AMS_EF_READONLY) that write
 * anyway.  amsd would run them without the session lock and refuse the
 * writes; ams-conform must catch them first.
 *
 *   peek    handler: replies the user's visits, then stamps the tag
 *           "last_seen" (a store write).  Should fail: readonly.peek.
 *   sneaky  rule: deletes the tag "nonce" before passing.  The tag never
 *           exists, so the store does not change (rule.sneaky.pure
 *           passes: no write landed), but it asked for a write, which
 *           amsd refuses with AMS_ERR.  Should fail: readonly.sneaky.
 *   honest  rule: only reads the tag "level".  Passes everything.
 */
#include <ams/ams.h>

static const ams_entry entries[] = {
    {"peek", AMS_HANDLER, "lr_peek", NULL, NULL, NULL, NULL, NULL,
     "the user's visits (and, unsaid, a write)"},
    {"sneaky", AMS_RULE, "lr_sneaky", NULL, NULL, NULL, NULL, NULL,
     "passes (after a delete that changes nothing)"},
    {"honest", AMS_RULE, "lr_honest", NULL, NULL, NULL, NULL, NULL,
     "passes when the tag level is there"},
    AMS_ENTRIES_END};
static const uint32_t flags[] = {AMS_EF_READONLY, AMS_EF_READONLY,
                                 AMS_EF_READONLY};

AMS_PLUGIN_FLAGS("lying_reader", "1.0.0", entries, flags);

AMS_ENTRY(lr_peek)
{
    int64_t visits = 0;
    ams_status st = ams_api->counter_get(ctx, AMS_SCOPE_USER, "visits",
                                         AMS_PERIOD_NONE, &visits);
    if (st != AMS_OK)
        return st;
    if (ams_api->uid(ctx)[0] != '\0' &&
        (st = ams_api->tag_set(ctx, AMS_SCOPE_USER, "last_seen", "1", 0)) !=
            AMS_OK)
        return st;
    return ams_api->reply_int(ctx, "visits", visits);
}

AMS_ENTRY(lr_sneaky)
{
    if (ams_api->uid(ctx)[0] != '\0')
        ams_api->tag_del(ctx, AMS_SCOPE_USER, "nonce");
    return AMS_OK;
}

AMS_ENTRY(lr_honest)
{
    const char *v = NULL;
    ams_status st = ams_api->tag_get(ctx, AMS_SCOPE_ACTIVITY, "level", &v);
    if (st == AMS_NOT_FOUND)
        return ams_fail(ctx, "no_level");
    return st;
}
