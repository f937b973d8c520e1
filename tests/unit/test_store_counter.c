/*
 * test_store_counter.c -- the store suite's counters (store.h: counter_add,
 * counter_get): adds within bounds, int64 overflow, expiry, and processes
 * adding to one counter at once.  test_store.c runs them.
 */
#include "store_suite.h"

#define ADDS_PER_CHILD 500
#define RACE_HI 1000 /* the counter bound: a quarter of the adds pass */

static void test_counter_bounds(store *s)
{
    const char *c = k("ctr");
    int64_t v = -1;

    is_int(store_counter_get(s, c, T, &v), AMS_OK, "get absent counter: OK");
    is_int(v, 0, "absent counter reads 0");
    is_int(store_counter_add(s, c, 5, 0, 10, NEVER, T, &v), AMS_OK,
           "add 5 within [0,10]");
    is_int(v, 5, "out is the new value");
    is_int(store_counter_add(s, c, 5, 0, 10, NEVER, T, &v), AMS_OK,
           "add up to the upper bound");
    is_int(v, 10, "value is 10");
    is_int(store_counter_add(s, c, 1, 0, 10, NEVER, T, &v), AMS_CONFLICT,
           "add crossing the upper bound conflicts");
    is_int(v, 10, "out is the unchanged value on conflict");
    is_int(store_counter_add(s, c, -11, 0, 10, NEVER, T, &v), AMS_CONFLICT,
           "add crossing the lower bound conflicts");
    is_int(v, 10, "out unchanged after lower-bound conflict");
    v = -1;
    store_counter_get(s, c, T, &v);
    is_int(v, 10, "failed adds changed nothing");
    is_int(store_counter_add(s, c, -10, 0, 10, NEVER, T, NULL), AMS_OK,
           "add down to the lower bound, out NULL");
    store_counter_get(s, c, T, &v);
    is_int(v, 0, "value is 0");
}

static void test_counter_overflow(store *s)
{
    const char *hi = k("ctr.max"), *lo = k("ctr.min");
    int64_t v = 0;

    is_int(store_counter_add(s, hi, INT64_MAX, INT64_MIN, INT64_MAX, NEVER, T,
                             &v),
           AMS_OK, "add INT64_MAX");
    is_int(store_counter_add(s, hi, 1, INT64_MIN, INT64_MAX, NEVER, T, &v),
           AMS_CONFLICT, "overflow past INT64_MAX conflicts");
    is_int(v, INT64_MAX, "value unchanged by the overflowing add");
    is_int(store_counter_add(s, lo, INT64_MIN, INT64_MIN, INT64_MAX, NEVER, T,
                             &v),
           AMS_OK, "add INT64_MIN");
    is_int(store_counter_add(s, lo, -1, INT64_MIN, INT64_MAX, NEVER, T, &v),
           AMS_CONFLICT, "overflow past INT64_MIN conflicts");
    is_int(v, INT64_MIN, "value unchanged by the underflowing add");
}

static void test_counter_expiry(store *s)
{
    const char *c = k("ctr.ttl");
    int64_t v = -1;

    store_counter_add(s, c, 3, 0, 100, T + 100, T, &v);
    is_int(store_counter_add(s, c, 1, 0, 100, T + 500, T + 50, &v), AMS_OK,
           "add to a live counter");
    is_int(v, 4, "counts on");
    store_counter_get(s, c, T + 99, &v);
    is_int(v, 4, "live until its expiry");
    store_counter_get(s, c, T + 100, &v);
    is_int(v, 0,
           "expired at expire_at_ms: the creating add's expiry holds, "
           "later adds don't extend it");
    is_int(store_counter_add(s, c, -1, 0, 100, T + 300, T + 150, &v),
           AMS_CONFLICT, "an expired counter is 0 for the bounds");
    is_int(v, 0, "out is 0");
    is_int(store_counter_add(s, c, 2, 0, 100, T + 300, T + 150, &v), AMS_OK,
           "add over an expired counter starts from 0");
    is_int(v, 2, "value 2");
    store_counter_get(s, c, T + 299, &v);
    is_int(v, 2, "re-created counter has the new expiry");
    store_counter_get(s, c, T + 300, &v);
    is_int(v, 0, "and expires at it");
}

static void child_counter(store *s, int i, tally *t)
{
    (void)i;
    for (int n = 0; n < ADDS_PER_CHILD; n++) {
        ams_status st =
            store_counter_add(s, k("race.ctr"), 1, 0, RACE_HI, NEVER, T, NULL);
        if (st == AMS_OK)
            t->ok++;
        else if (st == AMS_CONFLICT)
            t->conflict++;
        else
            t->err++;
    }
}

static void test_counter_race(store *s)
{
    tally t;
    int64_t v = 0;

    is_int(run_children(NCHILD, child_counter, &t), 0,
           "%d processes adding to one counter exit cleanly", NCHILD);
    is_int(t.err, 0, "no store errors");
    is_int(t.ok, RACE_HI, "exactly %d adds succeed", RACE_HI);
    is_int(t.conflict, NCHILD * ADDS_PER_CHILD - RACE_HI, "the rest conflict");
    store_counter_get(s, k("race.ctr"), T, &v);
    is_int(v, RACE_HI, "final value is exactly the bound");
}

void counter_tests(store *s)
{
    test_counter_bounds(s);
    test_counter_overflow(s);
    test_counter_expiry(s);
}

void counter_race(store *s)
{
    test_counter_race(s);
}
