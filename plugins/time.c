/*
 * time.c -- rules on the time of day.
 *
 *   time.window  rule: passes when the host clock, in the time zone `tz`,
 *                is within [from, to) on one of `days`.
 *
 *     from  "HH:MM", required: the first minute of the window (inclusive).
 *     to    "HH:MM", required: the end of the window (exclusive); "24:00"
 *           is the end of the day.  to < from wraps past midnight
 *           (22:00-02:00); the hours after midnight belong to the day the
 *           window opened, so days = ["fri"] with 22:00-02:00 is open from
 *           Friday 22:00 to Saturday 02:00.
 *     days  optional list of mon, tue, wed, thu, fri, sat, sun (any case):
 *           the days the window opens on; absent means every day.
 *     tz    optional "+HH:MM" / "-HH:MM" offset from UTC; default: the
 *           activity's time zone (its `timezone`).
 *
 *   Init refuses: bad_time (from/to not HH:MM, from = "24:00"),
 *   empty_window (from = to), bad_day (a name not in the list above),
 *   bad_tz (not +HH:MM within +-14:00).  A call fails with outside_hours.
 */
#include <ams/ams.h>

#include <stdint.h>
#include <stdlib.h>
#include <strings.h>

#define DAY_MS 86400000LL
#define MIN_MS 60000LL

static const ams_param window_params[] = {
    {"from", AMS_T_STRING, AMS_P_REQUIRED | AMS_P_MIN | AMS_P_MAX, 5, 5,
     "HH:MM, first minute of the window"},
    {"to", AMS_T_STRING, AMS_P_REQUIRED | AMS_P_MIN | AMS_P_MAX, 5, 5,
     "HH:MM, end of the window (exclusive); before from wraps midnight"},
    {"days", AMS_T_STRINGS, AMS_P_MIN | AMS_P_MAX, 1, 7,
     "weekdays the window opens on: mon..sun (default every day)"},
    {"tz", AMS_T_STRING, AMS_P_MIN | AMS_P_MAX, 6, 6,
     "UTC offset +HH:MM or -HH:MM (default: the activity's time zone)"},
    {NULL, 0, 0, 0, 0, NULL}};

static const ams_entry entries[] = {
    {"window", AMS_RULE, "time_window", NULL, "time_window_init",
     "time_window_destroy", window_params,
     "{\"from\":\"09:00\",\"to\":\"18:00\",\"days\":[\"mon\",\"fri\"],"
     "\"tz\":\"+08:00\"}",
     "passes within daily opening hours"},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

/* time.window reads only the host clock. */
static const uint32_t flags[] = {AMS_EF_READONLY};

AMS_PLUGIN_FLAGS("time", "1.0.0", entries, flags);

typedef struct window {
    int from, to;  /* minutes since local midnight; to may be 1440 */
    int64_t tz_ms; /* offset added to UTC */
    unsigned days; /* bit 0 = Monday ... bit 6 = Sunday */
} window;

/* Minutes of "HH:MM" (exactly five characters), or -1.  max_hour is the
 * largest hour allowed; hour 24 only as "24:00" (the end of `to`'s day). */
static int parse_hhmm(const char *s, int max_hour)
{
    int h, m;

    for (int i = 0; i < 5; i++)
        if (i == 2 ? s[i] != ':' : (s[i] < '0' || s[i] > '9'))
            return -1;
    if (s[5] != '\0')
        return -1;
    h = (s[0] - '0') * 10 + (s[1] - '0');
    m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h > max_hour || (h == 24 && m != 0))
        return -1;
    return h * 60 + m;
}

static int parse_days(ams_ctx *ctx, unsigned *mask)
{
    static const char *const names[] = {"mon", "tue", "wed", "thu",
                                        "fri", "sat", "sun"};
    size_t n = ams_api->conf_count(ctx, "days");

    *mask = n == 0 ? 0x7f : 0;
    for (size_t i = 0; i < n; i++) {
        const char *d = "";
        int found = 0;
        ams_api->conf_item(ctx, "days", i, &d);
        for (unsigned k = 0; k < 7 && !found; k++)
            if (strcasecmp(d, names[k]) == 0) {
                *mask |= 1u << k;
                found = 1;
            }
        if (!found)
            return -1;
    }
    return 0;
}

AMS_INIT(time_window_init)
{
    const char *tz = ams_conf_str(ctx, "tz", NULL);
    window w;
    int off;

    w.from = parse_hhmm(ams_conf_str(ctx, "from", ""), 23);
    w.to = parse_hhmm(ams_conf_str(ctx, "to", ""), 24);
    if (w.from < 0 || w.to < 0)
        return ams_fail(ctx, "bad_time");
    /* from = to is neither "never" nor "always" unambiguously. */
    if (w.from == w.to)
        return ams_fail(ctx, "empty_window");
    if (parse_days(ctx, &w.days) < 0)
        return ams_fail(ctx, "bad_day");
    if (tz == NULL) {
        w.tz_ms = (int64_t)ams_api->tz_offset_min(ctx) * MIN_MS;
    } else {
        off = (tz[0] == '+' || tz[0] == '-') ? parse_hhmm(tz + 1, 14) : -1;
        if (off < 0 || off > 14 * 60)
            return ams_fail(ctx, "bad_tz");
        w.tz_ms = (tz[0] == '-' ? -off : off) * MIN_MS;
    }
    if (w.from == 0 && w.to == 24 * 60 && w.days == 0x7f)
        ams_api->rule_constant(ctx, 1);
    if ((*state = malloc(sizeof w)) == NULL)
        return AMS_ERR_NOMEM;
    *(window *)*state = w;
    return AMS_OK;
}

AMS_DESTROY(time_window_destroy)
{
    free(state);
}

AMS_ENTRY(time_window)
{
    const window *w = ams_api->state(ctx);
    int64_t t = ams_api->now_ms(ctx) + w->tz_ms;
    int64_t day = t / DAY_MS - (t % DAY_MS < 0); /* floor, before 1970 too */
    int min = (int)((t - day * DAY_MS) / MIN_MS);
    int open;

    if (w->from < w->to) {
        open = min >= w->from && min < w->to;
    } else {
        open = min >= w->from || min < w->to;
        if (min < w->to)
            day--; /* after midnight: the window opened yesterday */
    }
    /* Day 0 (1970-01-01) was a Thursday, bit 3. */
    if (open && (w->days >> (((day + 3) % 7 + 7) % 7) & 1u))
        return AMS_OK;
    return ams_fail(ctx, "outside_hours");
}
