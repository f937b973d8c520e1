/*
 * hangs -- a rule that counts the letters of a request param and loops
 * forever on a byte that is not ASCII (it skips continuation bytes but
 * never the lead byte).  Should fail: robust.short_name ("timed out").
 */
#include <ams/ams.h>

static const ams_entry entries[] = {
    {"short_name", AMS_RULE, "hg_short_name", NULL, NULL, NULL, NULL, NULL,
     "passes when the request's name has at most 20 letters"},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

AMS_PLUGIN("hangs", "1.0.0", entries);

AMS_ENTRY(hg_short_name)
{
    const char *s;
    volatile size_t letters = 0;
    size_t i = 0;

    if (ams_api->req_str(ctx, "name", &s) != AMS_OK)
        return ams_fail(ctx, "no_name");
    while (s[i] != '\0') {
        if ((unsigned char)s[i] < 0x80) {
            letters++;
            i++;
        } else {
            while (((unsigned char)s[i] & 0xc0) == 0x80) /* the bug */
                i++;
        }
    }
    return letters <= 20 ? AMS_OK : ams_fail(ctx, "long_name");
}
