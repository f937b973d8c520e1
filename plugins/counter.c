/*
 * counter.c -- bounded counters as an operation, a rule and a handler.
 *
 *   counter.add       operation: add delta to a counter within [min, max];
 *                     fails with `reason` (default limit_reached) when the
 *                     bound would be crossed; undo subtracts it again.
 *                     With `board`, the user's new value is also their
 *                     score on that leaderboard (scope user only), so a
 *                     board ranks users by this counter (with period day:
 *                     by the value of the day they last added).
 *   counter.below     rule: passes while the counter is below max.
 *   counter.at_least  rule: passes when the counter is >= min; fails with
 *                     below_threshold.
 *   counter.get       handler: replies data.<key> with the counter's value.
 *
 * Every entry takes key, scope (user, default, or activity) and period
 * (none, default, or day: the counter starts again each day of the
 * activity's time zone).  Init refuses: bad_scope, bad_period, bad_board
 * (a board name that is not printable ASCII without spaces),
 * board_needs_user_scope.
 */
#include <ams/ams.h>

#include <stdint.h>
#include <string.h>

static const ams_param add_params[] = {
    {"key", AMS_T_STRING, AMS_P_REQUIRED | AMS_P_MIN | AMS_P_MAX, 1, 100,
     "counter name"},
    {"delta", AMS_T_INT, 0, 0, 0, "amount added (default 1)"},
    {"min", AMS_T_INT, 0, 0, 0, "lower bound (default 0)"},
    {"max", AMS_T_INT, AMS_P_REQUIRED, 0, 0, "upper bound"},
    {"scope", AMS_T_STRING, 0, 0, 0, "user (default) or activity"},
    {"period", AMS_T_STRING, 0, 0, 0, "none (default) or day"},
    {"reason", AMS_T_STRING, AMS_P_MIN | AMS_P_MAX, 1, 63,
     "reason when the bound is reached (default limit_reached)"},
    {"board", AMS_T_STRING, AMS_P_MIN | AMS_P_MAX, 1, 100,
     "leaderboard that gets the user's new value (scope user only)"},
    {NULL, 0, 0, 0, 0, NULL}};

static const ams_param read_params[] = {
    {"key", AMS_T_STRING, AMS_P_REQUIRED | AMS_P_MIN | AMS_P_MAX, 1, 100,
     "counter name"},
    {"max", AMS_T_INT, 0, 0, 0, "counter.below: the bound"},
    {"scope", AMS_T_STRING, 0, 0, 0, "user (default) or activity"},
    {"period", AMS_T_STRING, 0, 0, 0, "none (default) or day"},
    {NULL, 0, 0, 0, 0, NULL}};

static const ams_param at_least_params[] = {
    {"key", AMS_T_STRING, AMS_P_REQUIRED | AMS_P_MIN | AMS_P_MAX, 1, 100,
     "counter name"},
    {"min", AMS_T_INT, AMS_P_REQUIRED, 0, 0, "the lowest passing value"},
    {"scope", AMS_T_STRING, 0, 0, 0, "user (default) or activity"},
    {"period", AMS_T_STRING, 0, 0, 0, "none (default) or day"},
    {NULL, 0, 0, 0, 0, NULL}};

static const ams_entry entries[] = {
    {"add", AMS_OPERATION, "counter_add", "counter_add_undo", "counter_init",
     NULL, add_params,
     "{\"key\":\"points\",\"delta\":10,\"max\":100,\"board\":\"top\"}",
     "add within bounds"},
    {"below", AMS_RULE, "counter_below", NULL, "counter_init", NULL,
     read_params, "{\"key\":\"points\",\"max\":100}", "counter < max"},
    {"get", AMS_HANDLER, "counter_get", NULL, "counter_init", NULL,
     read_params, "{\"key\":\"points\"}", "reply the counter"},
    {"at_least", AMS_RULE, "counter_at_least", NULL, "counter_init", NULL,
     at_least_params, "{\"key\":\"points\",\"min\":50}", "counter >= min"},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

/* below, get and at_least only counter_get; add writes (counter_add,
 * board_set). */
static const uint32_t flags[] = {0, AMS_EF_READONLY, AMS_EF_READONLY,
                                 AMS_EF_READONLY};

AMS_PLUGIN_FLAGS("counter", "1.0.0", entries, flags);

static ams_scope scope_of(ams_ctx *ctx)
{
    return strcmp(ams_conf_str(ctx, "scope", "user"), "activity") == 0
               ? AMS_SCOPE_ACTIVITY
               : AMS_SCOPE_USER;
}

static ams_period period_of(ams_ctx *ctx)
{
    return strcmp(ams_conf_str(ctx, "period", "none"), "day") == 0
               ? AMS_PERIOD_DAY
               : AMS_PERIOD_NONE;
}

/* Scope and period are checked once at load, so a typo ("activty") is a
 * config error rather than a silently per-user stock. */
AMS_INIT(counter_init)
{
    const char *scope = ams_conf_str(ctx, "scope", "user");
    const char *period = ams_conf_str(ctx, "period", "none");
    const char *board = ams_conf_str(ctx, "board", NULL);

    *state = NULL;
    if (strcmp(scope, "user") != 0 && strcmp(scope, "activity") != 0)
        return ams_fail(ctx, "bad_scope");
    if (strcmp(period, "none") != 0 && strcmp(period, "day") != 0)
        return ams_fail(ctx, "bad_period");
    if (board == NULL)
        return AMS_OK;
    if (!ams_key_ok(board))
        return ams_fail(ctx, "bad_board");
    /* A board ranks users; an activity-wide counter has no user to rank. */
    if (scope_of(ctx) != AMS_SCOPE_USER)
        return ams_fail(ctx, "board_needs_user_scope");
    return AMS_OK;
}

static ams_status add(ams_ctx *ctx, int undo)
{
    const char *key = ams_conf_str(ctx, "key", "");
    const char *board = ams_conf_str(ctx, "board", NULL);
    int64_t delta = ams_conf_int(ctx, "delta", 1), v = 0;
    int64_t lo = ams_conf_int(ctx, "min", 0), hi = ams_conf_int(ctx, "max", 0);
    ams_status st;

    /* An undo must not fail on the bounds it is restoring. */
    if (undo) {
        delta = -delta;
        lo = INT64_MIN;
        hi = INT64_MAX;
    }
    st = ams_api->counter_add(ctx, scope_of(ctx), key, period_of(ctx), delta,
                              lo, hi, &v);
    if (st == AMS_CONFLICT)
        return ams_fail(ctx, ams_conf_str(ctx, "reason", "limit_reached"));
    if (st != AMS_OK)
        return st;
    if (board != NULL && (st = ams_api->board_set(ctx, board, v)) != AMS_OK) {
        /* The pipeline undoes only the operations before a failed one, so
         * a failed add takes its own delta back (an undo leaves it). */
        if (!undo)
            ams_api->counter_add(ctx, scope_of(ctx), key, period_of(ctx),
                                 -delta, INT64_MIN, INT64_MAX, NULL);
        return st;
    }
    if (!undo)
        ams_api->reply_int(ctx, key, v);
    return AMS_OK;
}

AMS_ENTRY(counter_add)
{
    return add(ctx, 0);
}

AMS_ENTRY(counter_add_undo)
{
    return add(ctx, 1);
}

AMS_ENTRY(counter_below)
{
    int64_t v = 0;
    ams_status st = ams_api->counter_get(
        ctx, scope_of(ctx), ams_conf_str(ctx, "key", ""), period_of(ctx), &v);
    if (st != AMS_OK)
        return st;
    return v < ams_conf_int(ctx, "max", 0) ? AMS_OK
                                           : ams_fail(ctx, "limit_reached");
}

AMS_ENTRY(counter_get)
{
    const char *key = ams_conf_str(ctx, "key", "");
    int64_t v = 0;
    ams_status st =
        ams_api->counter_get(ctx, scope_of(ctx), key, period_of(ctx), &v);
    if (st != AMS_OK)
        return st;
    return ams_api->reply_int(ctx, key, v);
}

AMS_ENTRY(counter_at_least)
{
    int64_t v = 0;
    ams_status st = ams_api->counter_get(
        ctx, scope_of(ctx), ams_conf_str(ctx, "key", ""), period_of(ctx), &v);
    if (st != AMS_OK)
        return st;
    return v >= ams_conf_int(ctx, "min", 0) ? AMS_OK
                                            : ams_fail(ctx, "below_threshold");
}
