/*
 * test_store_journal.c -- the store suite's journals (store.h: Journals):
 * journaled adds, the fence and the give back, absent and expired
 * journals, the limit, and adders racing a process that closes their
 * journals.  test_store.c runs them.
 */
#include "store_suite.h"

#include <stdio.h>
#include <time.h>

/* A key under the run's hash tag: a journal and the counters it records
 * must share one Redis Cluster slot, as the host's keys of one activity
 * do. */
static const char *kj(const char *name)
{
    return run_key("{", "}", name);
}

static int64_t ctr(store *s, const char *key, int64_t now)
{
    int64_t v = -999;
    if (store_counter_get(s, key, now, &v) != AMS_OK)
        return -999;
    return v;
}

static void test_journal_basics(store *s)
{
    store_journal j = {kj("jrn.1"), T + 100000};
    const char *a = kj("jrn.a"), *b = kj("jrn.b"), *v = kj("jrn.v");
    int64_t out = 0;
    size_t undone = 99;

    is_int(store_counter_add_j(s, a, 1, 0, 100, NEVER, T, &out, &j), AMS_OK,
           "journaled add");
    is_int(out, 1, "it counts like any add");
    is_int(store_counter_add_j(s, b, 2, 0, 100, NEVER, T, NULL, &j), AMS_OK,
           "a second counter in the same journal");
    is_int(store_counter_add_j(s, a, 500, 0, 100, NEVER, T, NULL, &j),
           AMS_CONFLICT, "a journaled add past its bound conflicts");
    is_int(store_counter_add_j(s, b, -1, 0, 100, NEVER, T, NULL, &j), AMS_OK,
           "a journaled add going down (an undo)");
    is_int(store_counter_add(s, a, 10, 0, 100, NEVER, T, NULL), AMS_OK,
           "someone else's add, not journaled");
    is_int(store_counter_add_j(s, a, 0, 0, 100, NEVER, T, NULL, &j), AMS_OK,
           "a journaled add of 0");
    is_int(ctr(s, a, T), 11, "a = 1 + 10");
    is_int(ctr(s, b, T), 1, "b = 2 - 1");

    is_int(store_journal_close(s, &j, 0, T + 1, &undone), AMS_OK,
           "close (fence only)");
    is_int(undone, 0, "fencing gives nothing back");
    is_int(ctr(s, a, T + 1), 11, "a unchanged by the fence");
    is_int(store_counter_add_j(s, a, 1, 0, 100, NEVER, T + 2, &out, &j),
           AMS_ERR_STORE, "a journaled add after the fence is refused");
    is_int(ctr(s, a, T + 2), 11, "and did not count");
    is_int(store_value_cas_j(s, v, 0, "x", 1, NEVER, T + 2, NULL, &j),
           AMS_ERR_STORE, "a value write fenced by it is refused");
    is_int(store_value_get(s, v, T + 2, NULL, NULL, NULL), AMS_NOT_FOUND,
           "and wrote nothing");
    is_int(store_counter_add(s, a, 1, 0, 100, NEVER, T + 2, NULL), AMS_OK,
           "an add without the journal still works");

    is_int(store_journal_close(s, &j, 1, T + 3, &undone), AMS_OK, "give back");
    is_int(undone, 4,
           "every applied journaled add given back (4; not the "
           "one that conflicted)");
    is_int(ctr(s, a, T + 3), 11,
           "a: its 1 and 0 given back, the others' "
           "10 + 1 stay");
    is_int(ctr(s, b, T + 3), 0, "b: 2 - 1 given back");
    is_int(store_journal_close(s, &j, 1, T + 4, &undone), AMS_OK,
           "give back again");
    is_int(undone, 0, "gives back nothing twice");
    is_int(ctr(s, a, T + 4), 11, "a unchanged");
    is_int(store_journal_close(s, &j, 0, T + 4, &undone), AMS_OK,
           "closing a given-back journal is fine");
    is_int(store_counter_add_j(s, a, 1, 0, 100, NEVER, T + 5, NULL, &j),
           AMS_ERR_STORE, "and it still refuses writes");
}

static void test_journal_absent(store *s)
{
    store_journal j1 = {kj("jrn.abs1"), T + 100000},
                  j2 = {kj("jrn.abs2"), T + 100000},
                  j3 = {kj("jrn.open"), T + 100000};
    const char *c = kj("jrn.c");
    size_t undone = 99;

    is_int(store_journal_close(s, &j1, 0, T, &undone), AMS_OK,
           "closing an absent journal");
    is_int(store_counter_add_j(s, c, 1, 0, 100, NEVER, T, NULL, &j1),
           AMS_ERR_STORE, "makes it refuse a write that comes later");
    is_int(store_journal_close(s, &j2, 1, T, &undone), AMS_OK,
           "giving back an absent journal");
    is_int(undone, 0, "gives back nothing");
    is_int(store_counter_add_j(s, c, 1, 0, 100, NEVER, T, NULL, &j2),
           AMS_ERR_STORE, "and refuses a later write too");
    is_int(ctr(s, c, T), 0, "nothing counted");
    is_int(store_counter_add_j(s, c, 3, 0, 100, NEVER, T, NULL, &j3), AMS_OK,
           "an add into an open journal");
    is_int(store_journal_close(s, &j3, 1, T, &undone), AMS_OK,
           "given back straight from open");
    is_int(undone, 1, "one add given back");
    is_int(ctr(s, c, T), 0, "the counter is back at 0");
    is_int(store_value_cas_j(s, kj("jrn.v2"), 0, "x", 1, NEVER, T, NULL, &j3),
           AMS_ERR_STORE, "a value write fenced by it is refused");
}

static void test_journal_expiry(store *s)
{
    store_journal j = {kj("jrn.e1"), T + 100000},
                  jshort = {kj("jrn.e2"), T + 100},
                  jlong = {kj("jrn.e2"), T + 100000};
    const char *c = kj("jrn.ce"), *d = kj("jrn.cd");
    size_t undone = 99;

    is_int(store_counter_add_j(s, c, 5, 0, 100, T + 50, T, NULL, &j), AMS_OK,
           "journaled add to a counter that expires at T+50");
    is_int(store_journal_close(s, &j, 1, T + 60, &undone), AMS_OK,
           "give back after the counter expired");
    is_int(undone, 0, "nothing to give back to");
    is_int(ctr(s, c, T + 60), 0, "the expired counter stays absent (not -5)");
    is_int(store_counter_add(s, c, 1, 0, 100, T + 500, T + 60, NULL), AMS_OK,
           "a new add creates it afresh");
    is_int(ctr(s, c, T + 60), 1, "from 0");

    is_int(store_counter_add_j(s, d, 1, 0, 100, NEVER, T, NULL, &jshort),
           AMS_OK, "journaled add, journal expiring at T+100");
    is_int(store_counter_add_j(s, d, 1, 0, 100, NEVER, T + 200, NULL, &jlong),
           AMS_OK, "after its expiry a write naming it starts it anew");
    is_int(store_journal_close(s, &jlong, 1, T + 200, &undone), AMS_OK,
           "give back");
    is_int(undone, 1, "only the add of the new journal");
    is_int(ctr(s, d, T + 200), 1, "the first add stays");
}

static void test_journal_limits(store *s)
{
    store_journal j = {kj("jrn.full"), T + 100000};
    const char *c = kj("jrn.cf");
    int fine = 0;
    size_t undone = 0;

    for (int i = 0; i < STORE_JOURNAL_MAX; i++)
        fine += store_counter_add_j(s, c, 1, 0, 1000, NEVER, T, NULL, &j) ==
                AMS_OK;
    is_int(fine, STORE_JOURNAL_MAX, "%d journaled adds", STORE_JOURNAL_MAX);
    is_int(store_counter_add_j(s, c, 1, 0, 1000, NEVER, T, NULL, &j), AMS_ERR,
           "one more is refused as a caller error");
    is_int(ctr(s, c, T), STORE_JOURNAL_MAX, "and did not count");
    is_int(store_value_cas_j(s, kj("jrn.vf"), 0, "x", 1, NEVER, T, NULL, &j),
           AMS_OK, "a value write fenced by a full, open journal is fine");
    is_int(store_journal_close(s, &j, 1, T, &undone), AMS_OK, "give back");
    is_int(undone, STORE_JOURNAL_MAX, "all %d given back", STORE_JOURNAL_MAX);
    is_int(ctr(s, c, T), 0, "counter back at 0");
    is_int(store_value_get(s, kj("jrn.vf"), T, NULL, NULL, NULL), AMS_OK,
           "the value write stays (journals give back counters only)");
}

/* Adders write through their own journals while another process closes
 * them all with give back: an add either lands before the close (and is
 * given back, exactly once) or is refused; none lands after. */
#define JRN_ADDERS 6

static void child_journal(store *s, int i, tally *t)
{
    char name[32], key[STORE_KEY_MAX + 1];
    store_journal j = {key, T + 100000};
    struct timespec pause = {0, 300 * 1000};

    if (i == 0) { /* the closer */
        struct timespec wait = {0, 5 * 1000 * 1000};
        nanosleep(&wait, NULL);
        for (int c = 1; c <= JRN_ADDERS; c++) {
            size_t undone = 0;
            snprintf(name, sizeof name, "race.j%d", c);
            snprintf(key, sizeof key, "%s", kj(name));
            if (store_journal_close(s, &j, 1, T, &undone) != AMS_OK)
                t->err++;
            t->undone += (int)undone;
        }
        return;
    }
    snprintf(name, sizeof name, "race.j%d", i);
    snprintf(key, sizeof key, "%s", kj(name)); /* kj's buffers rotate */
    for (int n = 0; n < STORE_JOURNAL_MAX - 4; n++) {
        ams_status st = store_counter_add_j(s, kj("race.jc"), 1, 0, INT64_MAX,
                                            NEVER, T, NULL, &j);
        if (st == AMS_ERR_STORE) {
            t->refused++;
            return;
        }
        if (st == AMS_OK)
            t->ok++;
        else
            t->err++;
        nanosleep(&pause, NULL);
    }
    /* Out of adds before the close: wait for the fence (a fenced value
     * write records nothing), for at most 10 s. */
    for (int n = 0; n < 10000; n++) {
        ams_status st =
            store_value_cas_j(s, kj("race.jv"), 1, "x", 1, NEVER, T, NULL, &j);
        if (st == AMS_ERR_STORE) {
            t->refused++;
            return;
        }
        nanosleep(&pause, NULL);
    }
    t->err++;
}

static void test_journal_race(store *s)
{
    tally t;

    is_int(run_children(1 + JRN_ADDERS, child_journal, &t), 0,
           "%d processes adding through journals while one closes them "
           "exit cleanly",
           JRN_ADDERS);
    is_int(t.err, 0, "no store errors");
    is_int(t.refused, JRN_ADDERS, "every adder was fenced out");
    ok(t.ok > 0, "adds landed before the close (%d)", t.ok);
    is_int(t.undone, t.ok, "exactly the adds that landed were given back");
    is_int(ctr(s, kj("race.jc"), T), 0,
           "the counter is back at 0: no add "
           "landed after the close");
}

void journal_tests(store *s)
{
    test_journal_basics(s);
    test_journal_absent(s);
    test_journal_expiry(s);
    test_journal_limits(s);
}

void journal_race(store *s)
{
    test_journal_race(s);
}
