/*
 * test_store_lmdb.c -- what only the lmdb: backend's write sets show: the
 * probe of its write transactions (store_lmdb_txnid), one transaction
 * per commit call and none when nothing is written, a batch lost whole
 * when LMDB fails before its commit (map full), and the layout of lists
 * (store_lmdb.c: Lists): keys that are prefixes of others, the last list
 * in the file, generations, and sweeps that drain a list in batches and
 * count each entry once; committers killed mid-batch leave every set
 * whole or absent.  The semantics shared by every backend are
 * test_store_commit.c's.
 *
 *   AMS_TEST_TMP    where the stores go (default /tmp/ams-test)
 */
#include "fixture.h"
#include "store_lmdb.h"
#include "tap.h"
#include "wops.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define T 1000000LL
#define NEVER 0

static char base[4096];

/* A fresh lmdb: store in base/name, owned by the caller (store_close);
 * NULL with a TAP comment when it cannot be opened. */
static store *open_lmdb(const char *name, size_t map_size)
{
    char uri[4200];

    snprintf(uri, sizeof uri, "lmdb:%s", fx_fresh_dir(base, name));
    return fx_store_open(uri, map_size, STORE_SYNC_NONE);
}

/* Commit op[0..n-1] as one set at now: the call's status when it failed,
 * else the set's. */
static ams_status commit1(store *s, const store_wop *op, size_t n, int64_t now)
{
    store_wset w = {op, n, now};
    store_wres r;
    ams_status st = store_commit(s, &w, 1, &r);

    return st != AMS_OK ? st : r.st;
}

/* The whole list as "a,b,...", or "status N".  In one of 4 rotating
 * static buffers owned by this file. */
static const char *list_str(store *s, const char *key, size_t from,
                            int64_t now)
{
    static char ring[4][8192];
    static unsigned r;
    char *b = ring[r++ % 4];
    store_item *it = NULL;
    size_t n = 0, o = 0;
    ams_status st = store_list_range(s, key, from, SIZE_MAX, now, &it, &n);

    b[0] = '\0';
    if (st != AMS_OK) {
        snprintf(b, 8192, "status %d", (int)st);
        return b;
    }
    for (size_t i = 0; i < n && o + 64 < 8192; i++)
        o += (size_t)snprintf(b + o, 8192 - o, "%s%.*s", i ? "," : "",
                              (int)it[i].len, it[i].val);
    store_items_free(it, n);
    return b;
}

static void test_probe(void)
{
    store *m = fx_store_open("mem:", 0, STORE_SYNC_FULL);

    is_int(store_lmdb_txnid(NULL), 0, "store_lmdb_txnid(NULL) is 0");
    is_int(store_lmdb_txnid(m), 0, "and 0 on another backend's handle");
    store_close(m);
}

/* One write transaction per commit call, whatever it holds; none when
 * nothing is written. */
static void test_txns(void)
{
    store *s = open_lmdb("txns", 0);
    store_wop a[2], b[2], c[1], bad[1], del[1];
    store_wset w[3];
    store_wres r[3];
    store_rkey rk[2] = {{STORE_F_COUNTER, "c"}, {STORE_F_VALUE, "v1"}};
    store_rval rv[2];
    uint64_t t0, ver = 0;
    char *val = NULL;
    size_t len;

    if (!ok(s != NULL, "open an lmdb: store"))
        return;
    t0 = store_lmdb_txnid(s);
    ok(t0 > 0, "a new store has committed its setup (%llu)",
       (unsigned long long)t0);
    a[0] = w_add("c", 1, 0, 2, 0);
    a[1] = w_cas("v1", 0, "one", 0);
    b[0] = w_add("c", 1, 0, 2, 0);
    b[1] = w_cas("v2", 0, "two", 0);
    c[0] = w_add("c", 1, 0, 2, 0); /* the third: over the bound */
    w[0] = (store_wset){a, 2, T};
    w[1] = (store_wset){b, 2, T};
    w[2] = (store_wset){c, 1, T};
    is_int(store_commit(s, w, 3, r), AMS_OK, "three sets in one call");
    ok(r[0].st == AMS_OK && r[1].st == AMS_OK && r[2].st == AMS_CONFLICT,
       "two apply, the third conflicts");
    is_int(store_lmdb_txnid(s), t0 + 1, "one write transaction for them all");
    store_value_get(s, "v1", T, &val, &len, &ver);
    free(val);
    is_int(ver, t0 + 1, "a CAS's version is the id of its transaction");
    store_value_get(s, "v2", T, NULL, NULL, &ver);
    is_int(ver, t0 + 1, "every CAS of the batch gets it (another key)");

    t0 = store_lmdb_txnid(s);
    is_int(store_commit(s, w, 3, r), AMS_OK, "the same three again");
    ok(r[0].st == AMS_CONFLICT && r[1].st == AMS_CONFLICT &&
           r[2].st == AMS_CONFLICT,
       "all conflict");
    is_int(store_lmdb_txnid(s), t0, "no write transaction committed");
    bad[0] = w_cas("", 0, "x", 0);
    del[0] = (store_wop){.kind = STORE_W_TAG_DEL, .key = "absent"};
    w[0] = (store_wset){bad, 1, T};
    w[1] = (store_wset){del, 1, T};
    is_int(store_commit(s, w, 2, r), AMS_OK,
           "a bad set and a TAG_DEL of an absent tag");
    ok(r[0].st == AMS_ERR && r[1].st == AMS_OK, "refused and applied");
    is_int(store_lmdb_txnid(s), t0, "neither wrote: no transaction");
    is_int(store_read_many(s, rk, 2, T, rv), AMS_OK, "read_many");
    ok(rv[0].num == 2 && rv[1].version == ver, "reads both");
    store_rvals_free(rv, 2);
    list_str(s, "l", 0, T);
    is_int(store_lmdb_txnid(s), t0, "reads commit nothing");
    store_close(s);
}

/* An LMDB error before the commit loses the whole batch, certainly. */
static void test_map_full(void)
{
    enum { NSETS = 64, BIG = 4000 };
    store *s = open_lmdb("full", 256 * 1024);
    store_wop op[NSETS][2];
    store_wset w[NSETS];
    store_wres r[NSETS];
    char key[NSETS][32], *big = malloc(BIG + 1);
    int64_t v = -1;
    uint64_t t0;
    int bad = 0;

    if (!ok(s != NULL && big != NULL, "open an lmdb: store of 256 KiB")) {
        store_close(s);
        free(big);
        return;
    }
    memset(big, 'x', BIG);
    big[BIG] = '\0';
    op[0][0] = w_add("stock", 1, 0, 100, 0);
    is_int(commit1(s, op[0], 1, T), AMS_OK, "a first set");
    t0 = store_lmdb_txnid(s);
    for (int i = 0; i < NSETS; i++) {
        snprintf(key[i], sizeof key[i], "big%d", i);
        op[i][0] = w_add("stock", 1, 0, 100, 0);
        op[i][1] = w_cas(key[i], 0, big, 0);
        w[i] = (store_wset){op[i], 2, T};
    }
    is_int(store_commit(s, w, NSETS, r), AMS_ERR_STORE,
           "%d sets of %d bytes each do not fit: AMS_ERR_STORE", NSETS, BIG);
    for (int i = 0; i < NSETS; i++)
        bad += r[i].st != AMS_ERR_STORE || r[i].unknown != 0;
    is_int(bad, 0, "every set AMS_ERR_STORE, certainly not applied");
    is_int(store_lmdb_txnid(s), t0, "no transaction committed");
    store_counter_get(s, "stock", T, &v);
    is_int(v, 1, "the first set's add only");
    is_int(commit1(s, op[0], 1, T), AMS_OK, "the store takes a small set");
    store_counter_get(s, "stock", T, &v);
    is_int(v, 2, "which applies");
    store_close(s);
    free(big);
}

/* Lists whose keys are prefixes of each other stay apart; the last list
 * of the file is found too (no key after it). */
static void test_list_keys(void)
{
    store *s = open_lmdb("lkeys", 0);
    store_wop op[2];
    char e[16];

    if (!ok(s != NULL, "open an lmdb: store"))
        return;
    op[0] = w_append("z", "z0", NEVER);
    op[1] = w_append("z", "z1", NEVER);
    is_int(commit1(s, op, 2, T), AMS_OK, "two APPENDs to the file's only key");
    op[0] = w_append("z", "z2", NEVER);
    commit1(s, op, 1, T);
    is_str(list_str(s, "z", 0, T), "z0,z1,z2",
           "the last list of the file: nothing after it");
    op[0] = w_append("q1", "a", NEVER);
    commit1(s, op, 1, T);
    is_str(list_str(s, "q", 0, T), "", "q is not q1's prefix: absent");
    op[0] = w_append("q", "b", NEVER);
    op[1] = w_append("q", "c", NEVER);
    commit1(s, op, 2, T);
    op[0] = w_append("q1", "d", NEVER);
    commit1(s, op, 1, T);
    is_str(list_str(s, "q", 0, T), "b,c", "q holds its own");
    is_str(list_str(s, "q1", 0, T), "a,d", "q1 its own");
    for (int i = 0; i < 3000; i++) {
        snprintf(e, sizeof e, "%d", i);
        op[0] = w_append("long", e, NEVER);
        commit1(s, op, 1, T);
    }
    is_str(list_str(s, "long", 2997, T), "2997,2998,2999",
           "3000 APPENDs, oldest first");
    is_str(list_str(s, "lon", 0, T), "", "a shorter key: absent");
    store_close(s);
}

/* An expired list: drained by sweeps within their budget, each entry
 * counted once; an APPEND before that starts a new generation that the
 * sweeps leave alone until it expires in turn. */
static void test_list_sweep(void)
{
    store *s = open_lmdb("lsweep", 0);
    store_wop op[10];
    char e[10][8];
    size_t n = 0, total = 0;

    if (!ok(s != NULL, "open an lmdb: store"))
        return;
    for (int i = 0; i < 10; i++) {
        snprintf(e[i], sizeof e[i], "e%d", i);
        op[i] = w_append("l", e[i], T + 100);
    }
    is_int(commit1(s, op, 10, T), AMS_OK, "a list of 10 expiring at T+100");
    op[0] = (store_wop){.kind = STORE_W_TAG_SET,
                        .key = "t",
                        .val = "x",
                        .len = 1,
                        .expire_at_ms = T + 100};
    commit1(s, op, 1, T);
    is_int(store_sweep(s, T + 99, 100, &n), AMS_OK, "a sweep before it");
    is_int(n, 0, "removes nothing");
    store_sweep(s, T + 100, 4, &n);
    is_int(n, 4, "a sweep of budget 4 at the expiry: 4 entries");
    is_str(list_str(s, "l", 0, T + 99), "e4,e5,e6,e7,e8,e9",
           "the oldest went (read before the expiry)");
    op[0] = w_append("l", "n0", T + 500);
    op[1] = w_append("l", "n1", NEVER);
    is_int(commit1(s, op, 2, T + 200), AMS_OK,
           "APPENDs to the expired, half swept list");
    is_str(list_str(s, "l", 0, T + 200), "n0,n1",
           "start a new generation with the first one's expiry");
    store_sweep(s, T + 200, 4, &n);
    is_int(n, 4, "the next sweep: 4 more old entries");
    store_sweep(s, T + 200, 100, &n);
    is_int(n, 3, "then the last 2 and the tag");
    store_sweep(s, T + 200, 100, &n);
    is_int(n, 0, "then nothing: the new generation is live");
    is_str(list_str(s, "l", 1, T + 499), "n1", "and whole");
    store_sweep(s, T + 500, 1, &n);
    total += n;
    store_sweep(s, T + 500, 1, &n);
    total += n;
    is_int(total, 2, "at its expiry it goes, one entry per budget");
    store_sweep(s, T + 500, 100, &n);
    is_int(n, 0, "each once");
    is_str(list_str(s, "l", 0, T + 500), "", "the list is absent");
    op[0] = w_append("l", "again", NEVER);
    commit1(s, op, 1, T + 500);
    is_str(list_str(s, "l", 0, T + 500), "again", "a new list under its key");
    store_close(s);
}

#define KILL_BATCH 16

/* A committer's loop, until it is killed: batches of sets that each add
 * 1 to a counter, create a record of their own (CAS-if-absent) and
 * append its number to a list. */
static void commit_forever(store *s, int child)
{
    static char key[KILL_BATCH][48], num[KILL_BATCH][48];
    store_wop op[KILL_BATCH][3];
    store_wset w[KILL_BATCH];
    store_wres r[KILL_BATCH];

    for (long i = 0;; i += KILL_BATCH) {
        for (int j = 0; j < KILL_BATCH; j++) {
            snprintf(key[j], sizeof key[j], "rec.%d.%ld", child, i + j);
            snprintf(num[j], sizeof num[j], "%d.%ld", child, i + j);
            op[j][0] = w_add("kill.n", 1, 0, INT64_MAX, 0);
            op[j][1] = w_cas(key[j], 0, "x", 0);
            op[j][2] = w_append("kill.l", num[j], NEVER);
            w[j] = (store_wset){op[j], 3, T};
        }
        store_commit(s, w, KILL_BATCH, r);
    }
}

/* Kill committers at random points, most likely inside a batch's write
 * transaction: what they committed must be whole sets. */
static void test_killed_committer(void)
{
    char dir[4200], uri[4300];
    store *s;
    store_item *it = NULL;
    size_t n = 0, missing = 0;
    int64_t count = -1;
    int killed = 0;

    snprintf(dir, sizeof dir, "%s", fx_fresh_dir(base, "killed"));
    snprintf(uri, sizeof uri, "lmdb:%s", dir);
    for (int round = 0; round < 5; round++) {
        int fds[2], status;
        char c;
        pid_t pid;

        if (pipe(fds) != 0)
            break;
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            store *cs = fx_store_open(uri, 0, STORE_SYNC_NONE);

            if (cs == NULL || write(fds[1], "r", 1) != 1)
                _exit(1);
            commit_forever(cs, round);
        }
        close(fds[1]);
        if (pid > 0 && read(fds[0], &c, 1) == 1) {
            usleep(10000 + 7000 * round);
            kill(pid, SIGKILL);
        }
        close(fds[0]);
        if (pid > 0 && waitpid(pid, &status, 0) == pid &&
            WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
            killed++;
    }
    is_int(killed, 5, "5 committers killed with SIGKILL mid-loop");
    s = fx_store_open(uri, 0, STORE_SYNC_NONE);
    if (!ok(s != NULL, "the store opens after them"))
        return;
    /* A write first: it adopts a dead writer's last commit, if any. */
    store_tag_set(s, "after", "x", 1, NEVER, T);
    store_counter_get(s, "kill.n", T, &count);
    is_int(store_list_range(s, "kill.l", 0, SIZE_MAX, T, &it, &n), AMS_OK,
           "the list reads");
    ok(count > 0 && (size_t)count == n,
       "as many entries as adds (%lld, %zu): no set half applied",
       (long long)count, n);
    for (size_t i = 0; i < n; i++) {
        char key[64];

        snprintf(key, sizeof key, "rec.%s", it[i].val);
        missing += store_value_get(s, key, T, NULL, NULL, NULL) != AMS_OK;
    }
    is_int(missing, 0, "and every entry's set made its record");
    store_items_free(it, n);
    store_close(s);
}

int main(void)
{
    fx_scratch(base, sizeof base, "store_lmdb");
    test_probe();
    test_txns();
    test_map_full();
    test_list_keys();
    test_list_sweep();
    test_killed_committer();
    fx_rm_rf(base);
    return tap_done();
}
