/*
 * test_plug_time.c -- time.window: edges (from inclusive, to exclusive),
 * windows that wrap past midnight, weekdays, time zones moving the day,
 * and init refusing bad times, days and zones.
 */
#include "phost.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

#define T0 1767225600000LL /* 2026-01-01T00:00:00Z, a Thursday */
#define DAY 86400000LL
#define HOUR 3600000LL
#define MIN 60000LL
#define SEC 1000LL

static phost *h;
static plugin *p;
static activity *act;

/* UTC time: day d after T0, hh:mm. */
static int64_t at(int d, int hh, int mm)
{
    return T0 + d * DAY + hh * HOUR + mm * MIN;
}

static instance *window(const char *params)
{
    char err[512];
    instance *in =
        phost_instance(h, act, p, "window", params, err, sizeof err);
    if (in == NULL)
        printf("# %s: %s\n", params, err);
    return in;
}

/* "ok", the failure reason, or "err<status>". */
static const char *run(instance *in, int64_t now)
{
    static char out[80];
    phost_call c;

    if (in == NULL)
        return "no instance";
    phost_run(h, in, 0, "u1", NULL, now, &c);
    if (c.st == AMS_OK)
        snprintf(out, sizeof out, "ok");
    else if (c.st == AMS_FAIL)
        snprintf(out, sizeof out, "%s", c.reason);
    else
        snprintf(out, sizeof out, "err%d", (int)c.st);
    phost_call_free(&c);
    return out;
}

static void refused(const char *params, const char *reason)
{
    char err[512];
    instance *in =
        phost_instance(h, act, p, "window", params, err, sizeof err);
    ok(in == NULL, "refused: %s", params);
    if (reason != NULL)
        has_str(err, reason, "  ... with %s", reason);
}

static void test_edges(void)
{
    instance *in = window("{\"from\":\"09:00\",\"to\":\"18:00\"}");

    is_str(run(in, at(0, 9, 0) - SEC), "outside_hours", "08:59:59 is before");
    is_str(run(in, at(0, 9, 0)), "ok", "09:00 (from) is inside");
    is_str(run(in, at(0, 12, 30)), "ok", "12:30 is inside");
    is_str(run(in, at(0, 18, 0) - SEC), "ok", "17:59:59 is inside");
    is_str(run(in, at(0, 18, 0)), "outside_hours", "18:00 (to) is outside");
    is_str(run(in, at(0, 23, 0)), "outside_hours", "23:00 is outside");
    is_str(run(in, at(5, 10, 0)), "ok", "every day without days");
    is_int(in ? in->constant : -2, -1, "not constant");

    in = window("{\"from\":\"00:00\",\"to\":\"24:00\"}");
    is_str(run(in, at(0, 0, 0)), "ok", "00:00-24:00: midnight");
    is_str(run(in, at(0, 24, 0) - SEC), "ok", "00:00-24:00: 23:59:59");
    is_int(in ? in->constant : -2, 1, "00:00-24:00 every day always passes");

    in = window("{\"from\":\"23:59\",\"to\":\"24:00\"}");
    is_str(run(in, at(0, 23, 59)), "ok", "23:59-24:00: 23:59");
    is_str(run(in, at(1, 0, 0)), "outside_hours", "23:59-24:00: 00:00");
}

static void test_wrap(void)
{
    instance *in = window("{\"from\":\"22:00\",\"to\":\"02:00\"}");

    is_str(run(in, at(0, 22, 0) - SEC), "outside_hours", "wrap: 21:59:59");
    is_str(run(in, at(0, 22, 0)), "ok", "wrap: 22:00");
    is_str(run(in, at(0, 23, 59)), "ok", "wrap: 23:59");
    is_str(run(in, at(1, 0, 0)), "ok", "wrap: 00:00");
    is_str(run(in, at(1, 2, 0) - SEC), "ok", "wrap: 01:59:59");
    is_str(run(in, at(1, 2, 0)), "outside_hours", "wrap: 02:00");
    is_str(run(in, at(1, 12, 0)), "outside_hours", "wrap: noon");

    in = window("{\"from\":\"22:00\",\"to\":\"00:00\"}");
    is_str(run(in, at(0, 23, 0)), "ok", "22:00-00:00: 23:00");
    is_str(run(in, at(1, 0, 0)), "outside_hours", "22:00-00:00: 00:00");
}

static void test_days(void)
{
    instance *in = window("{\"from\":\"09:00\",\"to\":\"18:00\","
                          "\"days\":[\"thu\"]}");
    is_str(run(in, at(0, 10, 0)), "ok", "thu: Thursday");
    is_str(run(in, at(1, 10, 0)), "outside_hours", "thu: Friday");
    is_str(run(in, at(-1, 10, 0)), "outside_hours", "thu: Wednesday");
    is_str(run(in, at(7, 10, 0)), "ok", "thu: next Thursday");
    is_str(run(in, at(0, 20, 0)), "outside_hours", "thu: Thursday evening");

    in = window("{\"from\":\"00:00\",\"to\":\"24:00\","
                "\"days\":[\"SAT\",\"sun\"]}");
    is_int(in ? in->constant : -2, -1, "with days: not constant");
    is_str(run(in, at(1, 12, 0)), "outside_hours", "weekend: Friday");
    is_str(run(in, at(2, 0, 0)), "ok", "weekend: Saturday 00:00");
    is_str(run(in, at(3, 23, 59)), "ok", "weekend: Sunday 23:59");
    is_str(run(in, at(4, 0, 0)), "outside_hours", "weekend: Monday 00:00");

    /* Every name, each on its own day: Mon 2026-01-05 is day 4. */
    static const char *const names[] = {"mon", "tue", "wed", "thu",
                                        "fri", "sat", "sun"};
    for (int i = 0; i < 7; i++) {
        char params[128];
        snprintf(params, sizeof params,
                 "{\"from\":\"00:00\",\"to\":\"24:00\",\"days\":[\"%s\"]}",
                 names[i]);
        in = window(params);
        int hits = 0, day_ok = 0;
        for (int d = 4; d < 11; d++)
            if (strcmp(run(in, at(d, 12, 0)), "ok") == 0) {
                hits++;
                day_ok = d == 4 + i;
            }
        ok(hits == 1 && day_ok, "%s passes on its day only", names[i]);
    }

    /* After midnight belongs to the day the window opened. */
    in = window("{\"from\":\"22:00\",\"to\":\"02:00\",\"days\":[\"fri\"]}");
    is_str(run(in, at(1, 23, 0)), "ok", "fri night: Friday 23:00");
    is_str(run(in, at(2, 1, 0)), "ok", "fri night: Saturday 01:00");
    is_str(run(in, at(2, 23, 0)), "outside_hours",
           "fri night: Saturday 23:00");
    is_str(run(in, at(1, 1, 0)), "outside_hours",
           "fri night: Friday 01:00 (Thursday's night)");
}

static void test_tz(void)
{
    instance *in = window("{\"from\":\"09:00\",\"to\":\"18:00\","
                          "\"days\":[\"fri\"],\"tz\":\"+08:00\"}");
    /* Friday 09:00 at +08:00 is Friday 01:00 UTC. */
    is_str(run(in, at(1, 1, 0) - SEC), "outside_hours", "+08: 08:59:59 local");
    is_str(run(in, at(1, 1, 0)), "ok", "+08: Fri 09:00 local = Fri 01:00 UTC");
    is_str(run(in, at(1, 10, 0) - SEC), "ok", "+08: 17:59:59 local");
    is_str(run(in, at(1, 10, 0)), "outside_hours", "+08: 18:00 local");
    is_str(run(in, at(0, 17, 0)), "outside_hours",
           "+08: Thu 17:00 UTC is Fri 01:00 local, before 09:00");

    /* The zone moves the day. */
    in = window("{\"from\":\"00:00\",\"to\":\"24:00\",\"days\":[\"fri\"],"
                "\"tz\":\"+08:00\"}");
    is_str(run(in, at(0, 16, 0) - SEC), "outside_hours",
           "+08: Thu 15:59:59 UTC is still Thursday");
    is_str(run(in, at(0, 16, 0)), "ok", "+08: Thu 16:00 UTC is Friday");
    is_str(run(in, at(1, 16, 0)), "outside_hours",
           "+08: Fri 16:00 UTC is Sat");

    in = window("{\"from\":\"00:00\",\"to\":\"24:00\",\"days\":[\"fri\"],"
                "\"tz\":\"-05:00\"}");
    is_str(run(in, at(1, 5, 0) - SEC), "outside_hours",
           "-05: Fri 04:59:59 UTC is Thursday");
    is_str(run(in, at(1, 5, 0)), "ok", "-05: Fri 05:00 UTC is Friday");
    is_str(run(in, at(2, 4, 0)), "ok", "-05: Sat 04:00 UTC is Friday");

    in = window("{\"from\":\"09:00\",\"to\":\"09:30\",\"tz\":\"+05:30\"}");
    is_str(run(in, at(0, 3, 30)), "ok", "+05:30: 03:30 UTC is 09:00");
    is_str(run(in, at(0, 4, 0)), "outside_hours",
           "+05:30: 04:00 UTC is 09:30");
    ok(window("{\"from\":\"09:00\",\"to\":\"10:00\",\"tz\":\"-14:00\"}") !=
           NULL,
       "-14:00 accepted");
}

static void test_refusals(void)
{
    refused("{\"from\":\"24:00\",\"to\":\"02:00\"}", "bad_time");
    refused("{\"from\":\"12:60\",\"to\":\"13:00\"}", "bad_time");
    refused("{\"from\":\"ab:cd\",\"to\":\"13:00\"}", "bad_time");
    refused("{\"from\":\"12-30\",\"to\":\"13:00\"}", "bad_time");
    refused("{\"from\":\"12:00\",\"to\":\"25:00\"}", "bad_time");
    refused("{\"from\":\"12:00\",\"to\":\"24:01\"}", "bad_time");
    refused("{\"from\":\"+1:00\",\"to\":\"13:00\"}", "bad_time");
    refused("{\"from\":\"9:00\",\"to\":\"13:00\"}", "from");
    refused("{\"to\":\"13:00\"}", "from");
    refused("{\"from\":\"12:00\"}", "to");
    refused("{\"from\":\"10:00\",\"to\":\"10:00\"}", "empty_window");
    refused("{\"from\":\"00:00\",\"to\":\"00:00\"}", "empty_window");
    refused("{\"from\":\"09:00\",\"to\":\"10:00\",\"days\":[\"mon\","
            "\"funday\"]}",
            "bad_day");
    refused("{\"from\":\"09:00\",\"to\":\"10:00\",\"days\":[\"monday\"]}",
            "bad_day");
    refused("{\"from\":\"09:00\",\"to\":\"10:00\",\"days\":[]}", "days");
    refused("{\"from\":\"09:00\",\"to\":\"10:00\",\"tz\":\"+15:00\"}",
            "bad_tz");
    refused("{\"from\":\"09:00\",\"to\":\"10:00\",\"tz\":\"+14:30\"}",
            "bad_tz");
    refused("{\"from\":\"09:00\",\"to\":\"10:00\",\"tz\":\"+08:60\"}",
            "bad_tz");
    refused("{\"from\":\"09:00\",\"to\":\"10:00\",\"tz\":\"x08:00\"}",
            "bad_tz");
    refused("{\"from\":\"09:00\",\"to\":\"10:00\",\"tz\":\"+8:00\"}", "tz");
    refused("{\"from\":\"09:00\",\"to\":\"10:00\",\"at\":1}", "unknown");
}

/* Without tz, the window is in the activity's own time zone. */
static void test_activity_tz(void)
{
    activity *plain = act;
    instance *in;

    act = phost_activity(h, 2, 8 * 60, NULL); /* timezone = "+08:00" */
    in = window("{\"from\":\"09:00\",\"to\":\"10:00\"}");
    is_str(run(in, at(0, 1, 30)), "ok",
           "activity at +08:00: 01:30Z is 09:30 local, inside");
    is_str(run(in, at(0, 9, 30)), "outside_hours",
           "  09:30Z is 17:30 local, outside");
    in = window("{\"from\":\"09:00\",\"to\":\"10:00\",\"tz\":\"+00:00\"}");
    is_str(run(in, at(0, 9, 30)), "ok", "  an explicit tz wins");
    act = plain;
}

static void test_example(void)
{
    const plugin_entry *en = plugin_find_entry(p, "window");
    ok(en && en->spec->example && window(en->spec->example) != NULL,
       "the manifest's example validates and inits");
}

int main(void)
{
    h = phost_open("plug_time");
    p = h ? phost_plugin(h, phost_bundled("time")) : NULL;
    act = p ? phost_activity(h, 1, 0, NULL) : NULL;
    if (act == NULL) {
        ok(0, "phost and time.so");
        phost_close(h);
        return tap_done();
    }
    test_edges();
    test_wrap();
    test_days();
    test_tz();
    test_refusals();
    test_activity_tz();
    test_example();
    phost_close(h);
    return tap_done();
}
