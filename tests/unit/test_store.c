/*
 * test_store.c -- the store semantics every backend must keep (store.h),
 * checked only through store.h's public functions so the same suite runs
 * unchanged against each backend.  This file has the suite's main and
 * the checks of the store as a whole (keys, the families side by side,
 * the sweep, persistence, killed writers, what only LMDB has); each
 * record family's checks are in test_store_<family>.c, the write sets'
 * in test_store_commit.c (store_suite.h).
 *
 *   AMS_TEST_STORE  the store URI to test (e.g. "redis://127.0.0.1:6390",
 *                   "mem:"); default "lmdb:" + a fresh directory under
 *                   AMS_TEST_TMP
 *   AMS_TEST_TMP    where temporary directories go (default /tmp/ams-test)
 *
 * Checks that only hold for a store of our own (map size, directory
 * errors) run for lmdb: only; exact sweep counts are checked for lmdb:
 * and mem:, the stores that expire nothing by themselves.
 *
 * Concurrency is tested with real processes: each child opens the store
 * itself, as amsd's workers do, and reports through a pipe.  That, and
 * persistence across close and reopen, needs a store that outlives its
 * handle and is shared between processes: a process-local backend
 * (mem:) reports those parts as TAP "# SKIP" lines instead.
 */
#include "store_suite.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_alarm(int sig)
{
    static const char msg[] = "Bail out! store test timed out (a process "
                              "stuck on the store's write lock?)\n";
    (void)sig;
    if (write(STDOUT_FILENO, msg, sizeof msg - 1) < 0)
        _exit(2);
    _exit(1);
}

/* ---- keys, and the families side by side ---- */

static void test_bad_args(store *s)
{
    char key[STORE_KEY_MAX + 2];
    size_t n = strlen(suite.key_prefix);

    is_int(store_counter_add(s, "", 1, 0, 10, NEVER, T, NULL), AMS_ERR,
           "empty key is a bad argument");
    memcpy(key, suite.key_prefix, n);
    memset(key + n, 'x', STORE_KEY_MAX + 1 - n);
    key[STORE_KEY_MAX + 1] = '\0';
    is_int(store_tag_set(s, key, "v", 1, NEVER, T), AMS_ERR,
           "key of STORE_KEY_MAX + 1 bytes is a bad argument");
    key[STORE_KEY_MAX] = '\0';
    is_int(store_tag_set(s, key, "v", 1, NEVER, T), AMS_OK,
           "key of STORE_KEY_MAX bytes is fine");
}

static void test_key_spaces(store *s)
{
    const char *key = k("shared");
    char *v = NULL;
    size_t len;
    uint64_t ver = 0;
    int64_t n = 0;

    store_counter_add(s, key, 7, 0, 100, NEVER, T, NULL);
    store_tag_set(s, key, "tag", 3, NEVER, T);
    uint64_t made = 0;
    store_value_cas(s, key, 0, "value", 5, NEVER, T, &made);
    is_int(store_lock_acquire(s, key, "L", NEVER, T), AMS_OK,
           "lock on a key used by the other families is free");
    store_counter_get(s, key, T, &n);
    is_int(n, 7, "counter kept its value");
    store_tag_get(s, key, T, &v, &len);
    is_str(v, "tag", "tag kept its value");
    free(v);
    store_value_get(s, key, T, &v, &len, &ver);
    ok(v != NULL && strcmp(v, "value") == 0 && ver == made && made > 0,
       "value kept its value and version");
    free(v);
    store_tag_del(s, key, T);
    store_counter_get(s, key, T, &n);
    is_int(n, 7, "deleting the tag leaves the counter");
    is_int(store_lock_release(s, key, "L", T), AMS_OK,
           "lock still held by its token");
}

static void sweep_fixture(store *s, int64_t t0)
{
    char name[32];

    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "sw.t%d", i);
        store_tag_set(s, k(name), "x", 1, t0 + 100, t0);
    }
    store_counter_add(s, k("sw.c"), 1, 0, 10, t0 + 100, t0, NULL);
    store_lock_acquire(s, k("sw.l"), "tok", t0 + 100, t0);
    store_value_cas(s, k("sw.v"), 0, "x", 1, t0 + 100, t0, NULL);
    /* Live at t0 + 200: */
    store_tag_set(s, k("sw.live"), "x", 1, t0 + 10000, t0);
    store_tag_set(s, k("sw.forever"), "x", 1, NEVER, t0);
    store_tag_set(s, k("sw.moved"), "x", 1, t0 + 100, t0);
    store_tag_set(s, k("sw.moved"), "y", 1, t0 + 10000, t0);
    store_tag_set(s, k("sw.gone"), "x", 1, t0 + 100, t0);
    store_tag_del(s, k("sw.gone"), t0);
    store_counter_add(s, k("sw.c2"), 1, 0, 10, t0 + 10000, t0, NULL);
    store_counter_add(s, k("sw.c2"), 1, 0, 10, t0 + 100, t0, NULL);
    store_lock_acquire(s, k("sw.l2"), "tok", t0 + 100, t0);
    store_lock_acquire(s, k("sw.l2"), "tok", t0 + 10000, t0);
}

static void test_sweep(store *s)
{
    const int64_t t0 = T_SWEEP;
    size_t n = 1;
    char *v = NULL;
    size_t len;
    int64_t c = 0;

    /* Drain what the earlier tests left, all expiring before t0. */
    while (n > 0 && store_sweep(s, t0, 1000, &n) == AMS_OK)
        ;
    sweep_fixture(s, t0);
    is_int(store_sweep(s, t0 + 200, 0, &n), AMS_OK, "sweep with max 0");
    is_int(n, 0, "removes nothing");
    is_int(store_sweep(s, t0 + 200, 3, &n), AMS_OK, "sweep a batch of 3");
    check_removed(n, 3, "removed 3 expired records");
    store_sweep(s, t0 + 200, 100, &n);
    check_removed(n, 4, "the next batch removes the other 4");
    store_sweep(s, t0 + 200, 100, &n);
    is_int(n, 0, "then nothing is left to remove");
    is_int(store_tag_get(s, k("sw.t0"), t0 + 200, &v, &len), AMS_NOT_FOUND,
           "a swept tag is gone");
    is_int(store_tag_get(s, k("sw.live"), t0 + 200, &v, &len), AMS_OK,
           "a live tag survives");
    free(v);
    is_int(store_tag_get(s, k("sw.forever"), t0 + 200, &v, &len), AMS_OK,
           "a tag without expiry survives");
    free(v);
    is_int(store_tag_get(s, k("sw.moved"), t0 + 200, &v, &len), AMS_OK,
           "a tag whose expiry was moved later survives");
    is_str(v, "y", "with its new value");
    free(v);
    store_counter_get(s, k("sw.c2"), t0 + 200, &c);
    is_int(c, 2, "a live counter survives");
    is_int(store_lock_acquire(s, k("sw.l2"), "other", t0 + 300, t0 + 200),
           AMS_CONFLICT, "a refreshed lock survives");
    store_sweep(s, t0 + 10000, 100, &n);
    check_removed(n, 4, "later, the 4 later-expiring records go");
    is_int(store_tag_get(s, k("sw.forever"), t0 + 10000, &v, &len), AMS_OK,
           "the tag without expiry stays");
    free(v);
}

/* Closing and reopening the store keeps everything.  The store is opened
 * with the default (full) sync mode.  Returns the reopened handle. */
static store *test_persistence(store *s)
{
    char *v = NULL;
    size_t len;
    uint64_t ver = 0;
    int64_t c = 0;

    store_counter_add(s, k("p.c"), 42, 0, 100, NEVER, T, NULL);
    store_tag_set(s, k("p.t"), "kept", 4, NEVER, T);
    uint64_t made = 0;
    store_value_cas(s, k("p.v"), 0, "val", 3, NEVER, T, &made);
    store_lock_acquire(s, k("p.l"), "tok", NEVER, T);
    store_board_set(s, k("p.b"), "u", 7, NEVER, T);
    store_board_set(s, k("p.b"), "w", 9, NEVER, T);
    store_close(s);
    s = fx_store_open(suite.uri, 0, STORE_SYNC_FULL);
    ok(s != NULL, "reopen the store");
    if (s == NULL)
        return NULL;
    store_counter_get(s, k("p.c"), T, &c);
    is_int(c, 42, "counter persisted");
    store_tag_get(s, k("p.t"), T, &v, &len);
    is_str(v, "kept", "tag persisted");
    free(v);
    store_value_get(s, k("p.v"), T, &v, &len, &ver);
    ok(v != NULL && strcmp(v, "val") == 0 && ver == made && made > 0,
       "value and version persisted");
    free(v);
    is_int(store_lock_acquire(s, k("p.l"), "other", NEVER, T), AMS_CONFLICT,
           "lock persisted");
    is_str(top_str(s, k("p.b"), 10, T), "w=9,u=7", "board persisted");
    return s;
}

/* Kill writers at random points, most likely inside a write transaction
 * (holding LMDB's writer mutex) or a read one (holding a reader slot):
 * the survivors must keep writing. */
static void test_killed_writer(store *s)
{
    int64_t before = 0, after = 0;
    size_t n;
    int killed = 0;

    for (int round = 0; round < 5; round++) {
        int fds[2], status;
        char c;
        pid_t pid;

        if (pipe(fds) != 0)
            break;
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            store *cs = fx_store_open(suite.uri, 0, STORE_SYNC_NONE);
            int64_t got;

            if (cs == NULL || write(fds[1], "r", 1) != 1)
                _exit(1);
            for (int64_t i = 0;; i++) {
                store_counter_add(cs, k("kill.ctr"), 1, 0, INT64_MAX, NEVER, T,
                                  NULL);
                store_tag_set(cs, k("kill.tag"), "x", 1, T + i, T);
                store_counter_get(cs, k("kill.ctr"), T, &got);
            }
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
    is_int(killed, 5, "5 writers killed with SIGKILL mid-loop");
    /* Write before comparing: a writer killed inside its commit may or may
     * not have committed, and a read before the next write can still see
     * the state before that commit. */
    is_int(store_counter_add(s, k("kill.ctr"), 1, 0, INT64_MAX, NEVER, T,
                             &before),
           AMS_OK, "write after the kills");
    ok(before > 1, "on top of what the killed writers committed (%lld)",
       (long long)before);
    is_int(store_counter_get(s, k("kill.ctr"), T, &after), AMS_OK,
           "read after the kills");
    is_int(after, before, "reads what was written");
    store_counter_add(s, k("kill.ctr"), 1, 0, INT64_MAX, NEVER, T, &after);
    is_int(after, before + 1, "and the next write builds on it");
    is_int(store_sweep(s, T_SWEEP, 100000, &n), AMS_OK,
           "sweep (which reclaims dead readers) works");
}

/* ---- lmdb: only ---- */

static void test_lmdb_open(void)
{
    char u[PATH_MAX + 64], path[PATH_MAX + 16];
    char err[512] = "";
    store_options o = {.uri = u};
    store *s;
    FILE *f;

    snprintf(u, sizeof u, "lmdb:%s/a/b/c", suite.tmpdir);
    s = store_open(&o, err, sizeof err);
    ok(s != NULL, "open creates missing parent directories");
    if (s != NULL)
        is_int(store_counter_add(s, "x", 1, 0, 1, NEVER, T, NULL), AMS_OK,
               "and the store works");
    store_close(s);

    snprintf(path, sizeof path, "%s/file", suite.tmpdir);
    f = fopen(path, "w");
    if (f != NULL)
        fclose(f);
    snprintf(u, sizeof u, "lmdb:%s", path);
    s = store_open(&o, err, sizeof err);
    ok(s == NULL, "open on a regular file fails");
    has_str(err, path, "the message names the directory");
    printf("# %s\n", err);
    store_close(s);
    snprintf(u, sizeof u, "lmdb:%s/sub", path);
    s = store_open(&o, err, sizeof err);
    ok(s == NULL, "open under a regular file fails");
    has_str(err, "Not a directory", "the message says why");
    printf("# %s\n", err);
    store_close(s);
}

static void test_lmdb_map_full(void)
{
    char u[PATH_MAX + 64], name[32], big[2000];
    store *s;
    ams_status st = AMS_OK;
    int i;

    memset(big, 'x', sizeof big);
    snprintf(u, sizeof u, "lmdb:%s/small", suite.tmpdir);
    s = fx_store_open(u, 256 * 1024, STORE_SYNC_NONE);
    ok(s != NULL, "open a 256 KiB store");
    if (s == NULL)
        return;
    for (i = 0; i < 1000 && st == AMS_OK; i++) {
        snprintf(name, sizeof name, "big%d", i);
        st = store_tag_set(s, name, big, sizeof big, NEVER, T);
    }
    is_int(st, AMS_ERR_STORE, "a full map is AMS_ERR_STORE (after %d sets)",
           i);
    is_int(store_tag_get(s, "big0", T, NULL, NULL), AMS_OK,
           "what was committed is still readable");
    store_close(s);
    s = fx_store_open(u, 16 * 1024 * 1024, STORE_SYNC_NONE);
    ok(s != NULL, "reopen with a larger map");
    if (s != NULL)
        is_int(store_tag_set(s, name, big, sizeof big, NEVER, T), AMS_OK,
               "and the write that failed now fits");
    store_close(s);
}

int main(void)
{
    store *s;

    signal(SIGALRM, on_alarm);
    alarm(100);
    if (suite_setup() != 0)
        return 1;
    s = fx_store_open(suite.uri, 0, STORE_SYNC_FULL);
    if (!ok(s != NULL, "open %s", suite.uri))
        return tap_done();
    /* The families in turn, then the checks that need what they all left
     * in the store: the sweep drains it (the boards' sweep after the
     * others', on a later clock), the races and the killed writers run
     * on a store that holds it. */
    test_bad_args(s);
    counter_tests(s);
    lock_tests(s);
    tag_tests(s);
    value_tests(s);
    journal_tests(s);
    test_key_spaces(s);
    board_tests(s);
    commit_tests(s);
    test_sweep(s);
    board_sweep_tests(s);
    commit_sweep_tests(s);
    if (suite.is_local) {
        static const char why[] = "mem: is process-local";
        skip("persistence across close and reopen", why);
        skip("processes racing on one counter", why);
        skip("processes racing for one lock", why);
        skip("processes racing on one board", why);
        skip("processes adding through journals while one closes them", why);
        skip("processes committing write sets on one counter", why);
        skip("writers killed mid-write", why);
        store_close(s);
        s = NULL;
    } else {
        s = test_persistence(s);
    }
    if (s != NULL) {
        counter_race(s);
        lock_race(s);
        board_race(s);
        journal_race(s);
        commit_race(s);
        test_killed_writer(s);
        store_close(s);
    }
    if (suite.is_lmdb) {
        test_lmdb_open();
        test_lmdb_map_full();
    }
    fx_rm_rf(suite.tmpdir);
    return tap_done();
}
