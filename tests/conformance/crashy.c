/*
 * crashy -- a rule that reads a request param without checking it is
 * there: a request without "code" (or with a non-string one) crashes it.
 * Tested with --request giving a code, so only robustness should fail:
 * robust.code_ok ("crashed with SIGSEGV").
 */
#include <ams/ams.h>

#include <string.h>

static const ams_entry entries[] = {
    {"code_ok", AMS_RULE, "cr_code_ok", NULL, NULL, NULL, NULL, NULL,
     "passes when the request's code has 4 characters or more"},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

AMS_PLUGIN("crashy", "1.0.0", entries);

AMS_ENTRY(cr_code_ok)
{
    const char *code = NULL;
    ams_api->req_str(ctx, "code", &code); /* the bug: status ignored */
    return strlen(code) >= 4 ? AMS_OK : ams_fail(ctx, "short_code");
}
