/*
 * test_store_lock.c -- the store suite's locks (store.h: lock_acquire,
 * lock_release): tokens, refresh, expiry, and processes racing for one
 * lock.  test_store.c runs them.
 */
#include "store_suite.h"

#include <sched.h>
#include <stdio.h>

#define LOCK_TRIES 300

static void test_locks(store *s)
{
    const char *l = k("lock");

    is_int(store_lock_acquire(s, l, "A", T + 100, T), AMS_OK, "A acquires");
    is_int(store_lock_acquire(s, l, "B", T + 100, T + 10), AMS_CONFLICT,
           "B conflicts while A holds");
    is_int(store_lock_acquire(s, l, "A", T + 200, T + 20), AMS_OK,
           "A re-acquires with its token (refresh)");
    is_int(store_lock_acquire(s, l, "B", T + 300, T + 150), AMS_CONFLICT,
           "refresh extended the expiry");
    is_int(store_lock_release(s, l, "B", T + 150), AMS_CONFLICT,
           "release by the wrong token fails");
    is_int(store_lock_acquire(s, l, "B", T + 300, T + 150), AMS_CONFLICT,
           "and did not release it");
    is_int(store_lock_release(s, l, "A", T + 150), AMS_OK,
           "release by the right token");
    is_int(store_lock_release(s, l, "A", T + 150), AMS_CONFLICT,
           "release of a free lock conflicts");
    is_int(store_lock_acquire(s, l, "B", T + 300, T + 160), AMS_OK,
           "B acquires the released lock");
    is_int(store_lock_acquire(s, l, "A", T + 400, T + 300), AMS_OK,
           "an expired lock is free for another token");
    is_int(store_lock_release(s, l, "B", T + 310), AMS_CONFLICT,
           "the expired holder cannot release the new holder's lock");
    is_int(store_lock_release(s, l, "A", T + 400), AMS_CONFLICT,
           "releasing one's own expired lock conflicts");
    is_int(store_lock_acquire(s, l, "B", NEVER, T + 400), AMS_OK,
           "lock without expiry");
    is_int(store_lock_release(s, l, "B", T + 1000000000), AMS_OK,
           "is still held much later and released");
}

/* While holding the lock, push a [0,1] guard counter to 1 and back: a
 * second holder at the same moment would find it at 1 and conflict. */
static void hold_lock(store *s, tally *t)
{
    ams_status st =
        store_counter_add(s, k("race.guard"), 1, 0, 1, NEVER, T, NULL);

    t->ok++;
    if (st == AMS_CONFLICT) {
        t->violation++;
        return;
    }
    if (st != AMS_OK)
        t->err++;
    sched_yield(); /* give another process the chance to break in */
    if (store_counter_add(s, k("race.guard"), -1, 0, 1, NEVER, T, NULL) !=
        AMS_OK)
        t->err++;
}

static void child_lock(store *s, int i, tally *t)
{
    char tok[32];

    snprintf(tok, sizeof tok, "child-%d", i);
    for (int n = 0; n < LOCK_TRIES; n++) {
        ams_status st =
            store_lock_acquire(s, k("race.lock"), tok, T + 1000000, T);
        if (st == AMS_CONFLICT) {
            t->conflict++;
            sched_yield();
            continue;
        }
        if (st != AMS_OK) {
            t->err++;
            continue;
        }
        hold_lock(s, t);
        if (store_lock_release(s, k("race.lock"), tok, T) != AMS_OK)
            t->err++;
    }
}

static void test_lock_race(store *s)
{
    tally t;
    int64_t v = -1;

    is_int(run_children(NCHILD, child_lock, &t), 0,
           "%d processes racing for one lock exit cleanly", NCHILD);
    is_int(t.err, 0, "no store errors");
    ok(t.ok > 0, "the lock was taken (%d times)", t.ok);
    ok(t.conflict > 0, "and contended (%d conflicts)", t.conflict);
    is_int(t.violation, 0, "never two holders at once");
    store_counter_get(s, k("race.guard"), T, &v);
    is_int(v, 0, "guard counter is back to 0");
}

void lock_tests(store *s)
{
    test_locks(s);
}

void lock_race(store *s)
{
    test_lock_race(s);
}
