/*
 * bench_store.c -- what a store write costs in each LMDB sync mode, in one
 * run so the modes are compared on the same disk at the same moment.
 *
 *   build/bench/bench_store [DIR] [OPS] [SETS]
 *
 * Each mode does OPS bounded counter adds (one write transaction each, as
 * the host does per store call) on a fresh store under DIR, then OPS
 * reads; it prints operations per second and the mean latency.  The
 * baseline is `none` (no fsync): the others show what durability costs,
 * and `none+journal` what recording each add in a request's journal
 * costs (store.h: Journals; four adds per journal, as a grab's limits
 * and stock).
 *
 * Then write sets (store.h: Write sets), as a grab commits them: a CAS
 * "only if absent" of a 180-byte idempotency record, two bounded adds (the
 * user's limit, the stock) and one ledger APPEND, over 1000 users.  SETS
 * of them per mode and batch size, committed B at a time (1, 8, 32, 128:
 * one write transaction, one fsync per batch), under sync full and none;
 * it prints the mean per batch and per set.  Last, appends to one list
 * while it grows to 100k entries, in steps, to show that an append costs
 * the same at any length (sync none: the index lookup, not the disk).
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

/* A fresh store in base/bench-name, owned by the caller (store_close,
 * then wipe); NULL after a message. */
static store *fresh(const char *base, const char *name, int mode, char *dir,
                    size_t dlen)
{
    char uri[600], err[256], cmd[600];
    store_options so = {0};
    store *s;

    snprintf(dir, dlen, "%s/bench-%s", base, name);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return NULL;
    snprintf(uri, sizeof uri, "lmdb:%s", dir);
    so.uri = uri;
    so.lmdb_sync = mode;
    s = store_open(&so, err, sizeof err);
    if (s == NULL)
        fprintf(stderr, "%s\n", err);
    return s;
}

static int wipe(store *s, const char *dir)
{
    char cmd[600];

    store_close(s);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

#define GRAB_OPS 4
/* About the size of a binary ledger entry (issue 12 design, §5.2). */
#define LEDGER_ENTRY "ledger entry: ts, method, request_id, kind, item, amount"
#define BATCH_MAX 128

/* The keys of one grab-shaped set: the request's idempotency record
 * (never seen before: the CAS creates it), the user's limit and ledger,
 * and the activity's stock. */
typedef struct grab {
    char idem[64], limit[64], ledger[64];
    store_wop op[GRAB_OPS];
} grab;

static void grab_fill(grab *g, long i, const char *idem_val, int64_t now)
{
    long user = i % 1000;

    snprintf(g->idem, sizeof g->idem, "{a1}hi:r%ld", i);
    snprintf(g->limit, sizeof g->limit, "{a1}hu%ld:lim", user);
    snprintf(g->ledger, sizeof g->ledger, "{a1}hu%ld:ledger", user);
    g->op[0] = (store_wop){.kind = STORE_W_CAS,
                           .key = g->idem,
                           .version = 0,
                           .val = idem_val,
                           .len = 180,
                           .expire_at_ms = now + 86400000};
    g->op[1] = (store_wop){.kind = STORE_W_ADD,
                           .key = g->limit,
                           .delta = 1,
                           .lo = 0,
                           .hi = INT64_MAX,
                           .expire_at_ms = now + 86400000};
    g->op[2] = (store_wop){.kind = STORE_W_ADD,
                           .key = "{a1}stock",
                           .delta = -1,
                           .lo = INT64_MIN + 1,
                           .hi = INT64_MAX};
    g->op[3] = (store_wop){.kind = STORE_W_APPEND,
                           .key = g->ledger,
                           .val = LEDGER_ENTRY,
                           .len = sizeof LEDGER_ENTRY - 1,
                           .expire_at_ms = 0};
}

/* SETS grab-shaped sets, committed batch at a time. */
static int run_sets(const char *base, const char *name, int mode, long sets,
                    size_t batch)
{
    static grab g[BATCH_MAX];
    store_wset ws[BATCH_MAX];
    store_wres res[BATCH_MAX];
    char dir[512], idem_val[180];
    long done = 0, nb = 0;
    int64_t now = 1700000000000;
    store *s = fresh(base, name, mode, dir, sizeof dir);
    double t0, t;

    if (s == NULL)
        return -1;
    memset(idem_val, 'a', sizeof idem_val);
    t0 = now_s();
    while (done < sets) {
        size_t n =
            (size_t)(sets - done) < batch ? (size_t)(sets - done) : batch;
        for (size_t i = 0; i < n; i++) {
            grab_fill(&g[i], done + (long)i, idem_val, now);
            ws[i] = (store_wset){g[i].op, GRAB_OPS, now};
        }
        if (store_commit(s, ws, n, res) != AMS_OK)
            return -1;
        for (size_t i = 0; i < n; i++)
            if (res[i].st != AMS_OK) {
                fprintf(stderr, "set %ld: status %d at op %zu\n",
                        done + (long)i, res[i].st, res[i].at);
                return -1;
            }
        done += (long)n;
        nb++;
    }
    t = now_s() - t0;
    printf("%-5s B=%-4zu %6ld batches  %9.1f us/batch  %8.2f us/set  "
           "%9.0f sets/s\n",
           name, batch, nb, t / nb * 1e6, t / sets * 1e6, sets / t);
    return wipe(s, dir);
}

/* Appends to one list, timed per step of `step` appends, up to n. */
static int run_list(const char *base, long n, long step)
{
    char dir[512];
    store_wres res;
    store_wop op = {.kind = STORE_W_APPEND,
                    .key = "{a1}hu1:ledger",
                    .val = LEDGER_ENTRY,
                    .len = sizeof LEDGER_ENTRY - 1};
    store_wset ws = {&op, 1, 0};
    store *s = fresh(base, "list", STORE_SYNC_NONE, dir, sizeof dir);
    double t0;

    if (s == NULL)
        return -1;
    printf("one list, sync none, one append per commit:\n");
    for (long at = 0; at < n; at += step) {
        t0 = now_s();
        for (long i = 0; i < step; i++)
            if (store_commit(s, &ws, 1, &res) != AMS_OK || res.st != AMS_OK)
                return -1;
        if (at == 0 || at + step >= n || (at / step) % 4 == 0)
            printf("  entries %6ld..%-6ld  %6.2f us/append\n", at,
                   at + step - 1, (now_s() - t0) / step * 1e6);
    }
    return wipe(s, dir);
}

int main(int argc, char **argv)
{
    static const size_t batches[] = {1, 8, 32, 128};
    const char *base = argc > 1 ? argv[1] : "/tmp";
    long ops = argc > 2 ? atol(argv[2]) : 2000;
    long sets = argc > 3 ? atol(argv[3]) : 4096;

    printf("LMDB counter_add, %ld ops per mode, store under %s\n", ops, base);
    if (run(base, "none", STORE_SYNC_NONE, 0, ops) < 0 ||
        run(base, "none+journal", STORE_SYNC_NONE, 1, ops) < 0 ||
        run(base, "meta", STORE_SYNC_META, 0, ops) < 0 ||
        run(base, "full", STORE_SYNC_FULL, 0, ops) < 0)
        return 1;
    printf("\nLMDB commit of grab-shaped write sets (CAS-if-absent 180 B, "
           "2 bounded adds, 1 append), %ld sets per row\n",
           sets);
    for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++)
        if (run_sets(base, "full", STORE_SYNC_FULL, sets, batches[i]) < 0)
            return 1;
    for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++)
        if (run_sets(base, "none", STORE_SYNC_NONE, sets, batches[i]) < 0)
            return 1;
    printf("\n");
    return run_list(base, 100000, 5000) < 0 ? 1 : 0;
}
