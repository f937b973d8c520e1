/*
 * test_plug_counter.c -- counter: the existing add / below / get entries
 * still behave, the new at_least rule (user and activity scope, per-day
 * period), add with a board keeping a leaderboard of the counter (and its
 * undo and failures), and init refusing bad scopes, periods and boards.
 */
#include "phost.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */
#define DAY 86400000LL
#define HOUR 3600000LL

static phost *h;
static plugin *p;
static activity *act;

static instance *mk(const char *entry, const char *params)
{
    char err[512];
    instance *in = phost_instance(h, act, p, entry, params, err, sizeof err);
    if (in == NULL)
        printf("# %s %s: %s\n", entry, params, err);
    return in;
}

/* "ok" (then *data, if given, gets the reply data), the reason, or
 * "err<status>". */
static const char *call(instance *in, int undo, const char *uid, int64_t now,
                        char *data, size_t datalen)
{
    static char out[80];
    phost_call c;

    if (in == NULL)
        return "no instance";
    phost_run(h, in, undo, uid, NULL, now, &c);
    if (c.st == AMS_OK)
        snprintf(out, sizeof out, "ok");
    else if (c.st == AMS_FAIL)
        snprintf(out, sizeof out, "%s", c.reason);
    else
        snprintf(out, sizeof out, "err%d", (int)c.st);
    if (data != NULL)
        snprintf(data, datalen, "%s", c.data ? c.data : "");
    phost_call_free(&c);
    return out;
}

static const char *run(instance *in, const char *uid, int64_t now)
{
    return call(in, 0, uid, now, NULL, 0);
}

static void refused(const char *entry, const char *params, const char *why)
{
    char err[512];
    ok(phost_instance(h, act, p, entry, params, err, sizeof err) == NULL,
       "%s refused: %s", entry, params);
    has_str(err, why, "  ... with %s", why);
}

/* "rank/score" of uid on board of activity 1, or the store's status. */
static const char *rank_of(const char *board, const char *uid, int64_t now)
{
    static char out[64];
    char key[128];
    int64_t rank = 0, score = 0;
    ams_status st;

    snprintf(key, sizeof key, "{a1}g:%s", board);
    st = store_board_rank(phost_store(h), key, uid, now, &rank, &score);
    if (st == AMS_OK)
        snprintf(out, sizeof out, "%lld/%lld", (long long)rank,
                 (long long)score);
    else
        snprintf(out, sizeof out, "st%d", (int)st);
    return out;
}

static void test_existing(void)
{
    instance *add = mk("add", "{\"key\":\"k\",\"delta\":3,\"max\":6}");
    instance *below = mk("below", "{\"key\":\"k\",\"max\":6}");
    instance *get = mk("get", "{\"key\":\"k\"}");
    char data[256];

    is_str(call(add, 0, "u1", T0, data, sizeof data), "ok", "add 3");
    is_str(data, "{\"k\":3}", "  replies the new value");
    is_str(run(below, "u1", T0), "ok", "below 6 at 3");
    is_str(run(add, "u1", T0), "ok", "add 3 more");
    is_str(run(add, "u1", T0), "limit_reached", "a third would cross 6");
    is_str(run(below, "u1", T0), "limit_reached", "below 6 fails at 6");
    is_str(call(get, 0, "u1", T0, data, sizeof data), "ok", "get");
    is_str(data, "{\"k\":6}", "  replies 6");
    is_str(call(add, 1, "u1", T0, NULL, 0), "ok", "undo");
    is_str(call(get, 0, "u1", T0, data, sizeof data), "ok", "get");
    is_str(data, "{\"k\":3}", "  back to 3");
}

static void test_at_least(void)
{
    instance *add = mk("add", "{\"key\":\"pts\",\"delta\":10,\"max\":1000}");
    instance *al = mk("at_least", "{\"key\":\"pts\",\"min\":50}");
    instance *stock = mk("add", "{\"key\":\"sold\",\"max\":1000,"
                                "\"scope\":\"activity\",\"period\":\"day\"}");
    instance *busy = mk("at_least", "{\"key\":\"sold\",\"min\":2,"
                                    "\"scope\":\"activity\","
                                    "\"period\":\"day\"}");
    instance *zero = mk("at_least", "{\"key\":\"nothing\",\"min\":0}");
    instance *neg = mk("at_least", "{\"key\":\"nothing\",\"min\":-5}");

    is_str(run(al, "u1", T0), "below_threshold", "0 is below 50");
    for (int i = 0; i < 4; i++)
        run(add, "u1", T0);
    is_str(run(al, "u1", T0), "below_threshold", "40 is below 50");
    run(add, "u1", T0);
    is_str(run(al, "u1", T0), "ok", "50 is at least 50");
    run(add, "u1", T0);
    is_str(run(al, "u1", T0), "ok", "60 is at least 50");
    is_str(run(al, "u2", T0), "below_threshold", "another user has 0");
    is_str(run(zero, "u9", T0), "ok", "an absent counter is 0 >= 0");
    is_str(run(neg, "u9", T0), "ok", "0 >= -5");

    run(stock, "u1", T0 + HOUR);
    is_str(run(busy, "u9", T0 + HOUR), "below_threshold",
           "activity scope: 1 sold today");
    run(stock, "u2", T0 + HOUR);
    is_str(run(busy, "u9", T0 + HOUR), "ok", "2 sold today, by anyone");
    is_str(run(busy, "u9", T0 + DAY + HOUR), "below_threshold",
           "the next day starts from 0");
}

static void test_board(void)
{
    instance *add = mk("add", "{\"key\":\"score\",\"delta\":10,\"max\":50,"
                              "\"board\":\"top\"}");
    instance *plain = mk("add", "{\"key\":\"score\",\"delta\":1,\"max\":50}");
    char uid[301];

    is_str(rank_of("top", "u1", T0), "st2", "nobody on the board yet");
    for (int i = 0; i < 3; i++)
        is_str(run(add, "u1", T0 + i), "ok", "u1 adds 10");
    is_str(rank_of("top", "u1", T0), "1/30", "u1 is first with 30");
    is_str(run(add, "u2", T0 + 10), "ok", "u2 adds 10");
    is_str(rank_of("top", "u2", T0), "2/10", "u2 is second with 10");
    for (int i = 0; i < 3; i++)
        run(add, "u2", T0 + 20 + i);
    is_str(rank_of("top", "u2", T0), "1/40", "u2 overtakes with 40");
    is_str(rank_of("top", "u1", T0), "2/30", "u1 is second");

    is_str(call(add, 1, "u2", T0 + 30, NULL, 0), "ok", "undo u2's last add");
    is_str(rank_of("top", "u2", T0), "2/30",
           "the board follows the undo (tie: u1 got to 30 first)");

    run(add, "u2", T0 + 40);
    run(add, "u2", T0 + 41);
    is_str(rank_of("top", "u2", T0), "1/50", "u2 at the max, 50");
    is_str(run(add, "u2", T0 + 42), "limit_reached", "u2 cannot pass 50");
    is_str(rank_of("top", "u2", T0), "1/50", "  and the board is unchanged");

    is_str(run(plain, "u1", T0 + 50), "ok", "an add without a board");
    is_str(rank_of("top", "u1", T0), "2/30", "  leaves the board alone");

    /* A uid too long to be a board member: the add must not stay. */
    memset(uid, 'x', 300);
    uid[300] = '\0';
    instance *get = mk("get", "{\"key\":\"score\"}");
    char data[128];
    ok(strncmp(run(add, uid, T0 + 60), "err", 3) == 0,
       "board_set failing fails the add");
    is_str(call(get, 0, uid, T0 + 60, data, sizeof data), "ok", "get");
    is_str(data, "{\"score\":0}", "  and the add was taken back");
}

static void test_refusals(void)
{
    static const char *const names[] = {"add", "below", "get", "at_least"};

    refused("add", "{\"key\":\"k\",\"max\":1,\"scope\":\"activty\"}",
            "bad_scope");
    refused("below", "{\"key\":\"k\",\"max\":1,\"scope\":\"crowd\"}",
            "bad_scope");
    refused("get", "{\"key\":\"k\",\"period\":\"week\"}", "bad_period");
    refused("at_least", "{\"key\":\"k\",\"min\":1,\"period\":\"daily\"}",
            "bad_period");
    refused("at_least", "{\"key\":\"k\"}", "min");
    refused("at_least", "{\"key\":\"k\",\"min\":1.5}", "min");
    refused("at_least", "{\"key\":\"k\",\"min\":1,\"max\":2}", "max");
    refused("add",
            "{\"key\":\"k\",\"max\":1,\"board\":\"top\","
            "\"scope\":\"activity\"}",
            "board_needs_user_scope");
    refused("add", "{\"key\":\"k\",\"max\":1,\"board\":\"my board\"}",
            "bad_board");
    refused("add", "{\"key\":\"k\",\"max\":1,\"board\":\"\"}", "board");
    refused("below", "{\"key\":\"k\",\"max\":1,\"board\":\"top\"}", "board");
    ok(mk("add", "{\"key\":\"k\",\"max\":1,\"board\":\"top\","
                 "\"scope\":\"user\",\"period\":\"day\"}") != NULL,
       "board with explicit user scope");
    for (int i = 0; i < 4; i++) {
        const plugin_entry *en = plugin_find_entry(p, names[i]);
        ok(en && en->spec->example && mk(names[i], en->spec->example),
           "counter.%s: the manifest's example validates and inits", names[i]);
    }
}

int main(void)
{
    h = phost_open("plug_counter");
    p = h ? phost_plugin(h, phost_bundled("counter")) : NULL;
    act = p ? phost_activity(h, 1, 0, NULL) : NULL;
    if (act == NULL) {
        ok(0, "phost and counter.so");
        phost_close(h);
        return tap_done();
    }
    test_existing();
    test_at_least();
    test_board();
    test_refusals();
    phost_close(h);
    return tap_done();
}
