/*
 * unique.c -- "the same value counts once": an operation that claims a
 * request param's value for good (an invitee's phone, an order number).
 *
 *   unique.claim  operation.
 *     field   required: the request param whose value is claimed (a
 *             string, or an integer taken as its decimal text).
 *     scope   activity (default: once in the whole activity) or user (once
 *             per user).
 *     reason  the reason when the value was claimed before (default
 *             duplicate).
 *   The claim is the counter "uniq.<field>:<value>" going from 0 to 1
 *   atomically, so two concurrent requests with the same value cannot
 *   both win.  Undo releases the claim.
 *   Fails: missing_param (the request has no such param), bad_param (not
 *   a string or integer, or not 1..150 printable ASCII characters without
 *   spaces), <reason> (already claimed).
 *   Init refuses: bad_field (field not printable ASCII without spaces),
 *   bad_scope, bad_reason (not [a-z0-9_]).
 */
#include <ams/ams.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define VALUE_MAX 150
/* "uniq." + field (<= 40) + ":" + value stays within the host's 200. */
#define KEY_LEN (5 + 40 + 1 + VALUE_MAX + 1)

static const ams_param claim_params[] = {
    {"field", AMS_T_STRING, AMS_P_REQUIRED | AMS_P_MIN | AMS_P_MAX, 1, 40,
     "request param whose value is claimed"},
    {"scope", AMS_T_STRING, 0, 0, 0, "activity (default) or user"},
    {"reason", AMS_T_STRING, AMS_P_MIN | AMS_P_MAX, 1, 63,
     "reason when already claimed (default duplicate)"},
    {NULL, 0, 0, 0, 0, NULL}};

static const ams_entry entries[] = {
    {"claim", AMS_OPERATION, "unique_claim", "unique_claim_undo",
     "unique_claim_init", NULL, claim_params,
     "{\"field\":\"invitee\",\"scope\":\"activity\"}",
     "claim a request value once"},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

AMS_PLUGIN("unique", "1.0.0", entries);

/* 1 when s is 1..max characters, each in [lo, hi] or one of extra. */
static int chars_ok(const char *s, size_t max, char lo, char hi,
                    const char *extra)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if ((s[n] < lo || s[n] > hi) && strchr(extra, s[n]) == NULL)
            return 0;
    return n >= 1 && n <= max;
}

static ams_scope scope_of(ams_ctx *ctx)
{
    const char *s = ams_conf_str(ctx, "scope", "activity");
    return strcmp(s, "activity") == 0 ? AMS_SCOPE_ACTIVITY
           : strcmp(s, "user") == 0   ? AMS_SCOPE_USER
                                      : (ams_scope)0;
}

AMS_INIT(unique_claim_init)
{
    *state = NULL;
    if (!chars_ok(ams_conf_str(ctx, "field", ""), 40, '!', '~', ""))
        return ams_fail(ctx, "bad_field");
    if (scope_of(ctx) == 0)
        return ams_fail(ctx, "bad_scope");
    if (!chars_ok(ams_conf_str(ctx, "reason", "duplicate"), 63, 'a', 'z',
                  "0123456789_"))
        return ams_fail(ctx, "bad_reason");
    return AMS_OK;
}

/* The claim's key into key[KEY_LEN]: NULL, or the reason it cannot be
 * built. */
static const char *claim_key(ams_ctx *ctx, char *key)
{
    const char *field = ams_conf_str(ctx, "field", ""), *v = NULL;
    char num[24];
    int64_t i;
    ams_status st = ams_api->req_str(ctx, field, &v);

    if (st == AMS_NOT_FOUND)
        return "missing_param";
    /* An integer id (a JSON number) is claimed as its decimal text, so
     * 42 and "42" are the same value. */
    if (st != AMS_OK && ams_api->req_int(ctx, field, &i) == AMS_OK) {
        snprintf(num, sizeof num, "%" PRId64, i);
        v = num;
    }
    if (v == NULL || !chars_ok(v, VALUE_MAX, '!', '~', ""))
        return "bad_param";
    snprintf(key, KEY_LEN, "uniq.%s:%s", field, v);
    return NULL;
}

AMS_ENTRY(unique_claim)
{
    char key[KEY_LEN];
    const char *why = claim_key(ctx, key);
    ams_status st;

    if (why != NULL)
        return ams_fail(ctx, why);
    st = ams_api->counter_add(ctx, scope_of(ctx), key, AMS_PERIOD_NONE, 1, 0,
                              1, NULL);
    if (st == AMS_CONFLICT)
        return ams_fail(ctx, ams_conf_str(ctx, "reason", "duplicate"));
    return st;
}

/* Runs in the same request as the claim, so the same params give the same
 * key; unbounded, so releasing cannot fail on a bound. */
AMS_ENTRY(unique_claim_undo)
{
    char key[KEY_LEN];

    if (claim_key(ctx, key) != NULL)
        return AMS_ERR;
    return ams_api->counter_add(ctx, scope_of(ctx), key, AMS_PERIOD_NONE, -1,
                                INT64_MIN, INT64_MAX, NULL);
}
