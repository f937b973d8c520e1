/*
 * bench_store.c -- what a store write costs in each LMDB sync mode, in one
 * run so the modes are compared on the same disk at the same moment.
 *
 *   build/bench/bench_store [DIR] [OPS]
 *
 * Each mode does OPS bounded counter adds (one write transaction each, as
 * the host does per store call) on a fresh store under DIR, then OPS
 * reads; it prints operations per second and the mean latency.  The
 * baseline is `none` (no fsync): the others show what durability costs,
 * and `none+journal` what recording each add in a request's journal
 * costs (store.h: Journals; four adds per journal, as a grab's limits
 * and stock).
 */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run(const char *base, const char *name, int mode, int journaled,
               long ops)
{
    char dir[512], uri[600], err[256], key[64], cmd[600], jkey[64];
    store_journal j = {jkey, 0};
    store_options so = {0};
    store *s;
    double t0, tw, tr;
    int64_t v;

    snprintf(dir, sizeof dir, "%s/bench-%s", base, name);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return -1;
    snprintf(uri, sizeof uri, "lmdb:%s", dir);
    so.uri = uri;
    so.lmdb_sync = mode;
    s = store_open(&so, err, sizeof err);
    if (s == NULL) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    t0 = now_s();
    for (long i = 0; i < ops; i++) {
        snprintf(key, sizeof key, "{a1}u%ld:k", i % 1000);
        snprintf(jkey, sizeof jkey, "{a1}hj%ld", i / 4);
        if (store_counter_add_j(s, key, 1, 0, INT64_MAX, 0, 0, &v,
                                journaled ? &j : NULL) != AMS_OK)
            return -1;
    }
    tw = now_s() - t0;
    t0 = now_s();
    for (long i = 0; i < ops; i++) {
        snprintf(key, sizeof key, "{a1}u%ld:k", i % 1000);
        store_counter_get(s, key, 0, &v);
    }
    tr = now_s() - t0;
    printf("%-12s  writes %9.0f/s (%7.1f us)   reads %9.0f/s (%5.1f us)\n",
           name, ops / tw, tw / ops * 1e6, ops / tr, tr / ops * 1e6);
    store_close(s);
    return system(cmd) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *base = argc > 1 ? argv[1] : "/tmp";
    long ops = argc > 2 ? atol(argv[2]) : 2000;

    printf("LMDB counter_add, %ld ops per mode, store under %s\n", ops, base);
    if (run(base, "none", STORE_SYNC_NONE, 0, ops) < 0 ||
        run(base, "none+journal", STORE_SYNC_NONE, 1, ops) < 0 ||
        run(base, "meta", STORE_SYNC_META, 0, ops) < 0 ||
        run(base, "full", STORE_SYNC_FULL, 0, ops) < 0)
        return 1;
    return 0;
}
