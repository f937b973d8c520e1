/*
 * store_suite.c -- the store suite's shared helpers (store_suite.h).
 */
#include "store_suite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TMP_PREFIX "test_store"

store_suite suite;

int suite_setup(void)
{
    const char *want = getenv("AMS_TEST_STORE");

    if (fx_mkdtemp(suite.tmpdir, sizeof suite.tmpdir, TMP_PREFIX) != 0)
        return -1;
    if (want != NULL && *want != '\0')
        snprintf(suite.uri, sizeof suite.uri, "%s", want);
    else
        snprintf(suite.uri, sizeof suite.uri, "lmdb:%s/db", suite.tmpdir);
    suite.is_lmdb = strncmp(suite.uri, "lmdb:", 5) == 0;
    suite.is_local = strncmp(suite.uri, "mem:", 4) == 0;
    snprintf(suite.key_prefix, sizeof suite.key_prefix, "t%ld.%ld.",
             (long)getpid(), (long)time(NULL));
    printf("# store %s\n", suite.uri);
    return 0;
}

const char *run_key(const char *open, const char *close, const char *name)
{
    static char ring[16][STORE_KEY_MAX + 1];
    static unsigned i;
    char *b = ring[i++ % 16];

    snprintf(b, STORE_KEY_MAX + 1, "%s%s%s%s", open, suite.key_prefix, close,
             name);
    return b;
}

const char *k(const char *name)
{
    return run_key("", "", name);
}

/* ---- leaderboards ---- */

const char *top_str(store *s, const char *key, size_t n, int64_t now)
{
    static char ring[4][8192];
    static unsigned r;
    char *buf = ring[r++ % 4];
    store_board_entry *e = (store_board_entry *)1;
    size_t cnt = 99, off = 0;
    ams_status st = store_board_top(s, key, n, now, &e, &cnt);

    buf[0] = '\0';
    if (st != AMS_OK) {
        snprintf(buf, 8192, "status %d", (int)st);
        return buf;
    }
    if (cnt == 0 && e != NULL) {
        snprintf(buf, 8192, "empty top, but *out not NULL");
        return buf;
    }
    for (size_t i = 0; i < cnt && off < 8192; i++)
        off += (size_t)snprintf(buf + off, 8192 - off, "%s%s=%" PRId64,
                                i ? "," : "", e[i].member, e[i].score);
    store_board_free(e, cnt);
    return buf;
}

const char *rank_str(store *s, const char *key, const char *member,
                     int64_t now)
{
    static char ring[4][64];
    static unsigned r;
    char *buf = ring[r++ % 4];
    int64_t rank = -1, score = -1;
    ams_status st = store_board_rank(s, key, member, now, &rank, &score);

    if (st != AMS_OK)
        snprintf(buf, 64, "status %d", (int)st);
    else
        snprintf(buf, 64, "%" PRId64 ":%" PRId64, rank, score);
    return buf;
}

/* ---- skips ---- */

void skip(const char *what, const char *why)
{
    ok(1, "%s # SKIP %s", what, why);
}

/* ---- sweep ---- */

void check_removed(size_t got, size_t want, const char *what)
{
    /* A backend that expires by itself may have removed them first. */
    if (suite.is_lmdb || suite.is_local)
        is_int(got, want, "%s", what);
    else
        ok(got <= want, "%s (at most %zu)", what, want);
}

/* ---- concurrency: real processes, each with its own handle ---- */

/* Open the store, wait for the start signal (EOF on go: the parent closes
 * it once every child exists, so they really race), run fn, report. */
static void run_child(int report, int go, child_fn fn, int i)
{
    tally t = {0, 0, 0, 0, 0, 0};
    char c;
    /* STORE_SYNC_NONE: thousands of commits, and fsync is not what is
     * being tested here (committed data is in the shared map anyway). */
    store *s = fx_store_open(suite.uri, 0, STORE_SYNC_NONE);

    if (read(go, &c, 1) != 0 || s == NULL)
        t.err++;
    else
        fn(s, i, &t);
    store_close(s);
    _exit(write(report, &t, sizeof t) == (ssize_t)sizeof t ? 0 : 1);
}

int run_children(int nchild, child_fn fn, tally *sum)
{
    int rep[2], go[2], bad = 0, status;
    tally t;

    memset(sum, 0, sizeof *sum);
    if (pipe(rep) != 0)
        return nchild;
    if (pipe(go) != 0) {
        close(rep[0]);
        close(rep[1]);
        return nchild;
    }
    fflush(stdout);
    for (int i = 0; i < nchild; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            close(rep[0]);
            close(go[1]);
            run_child(rep[1], go[0], fn, i);
        }
        if (pid < 0)
            bad++;
    }
    close(rep[1]);
    close(go[0]);
    close(go[1]); /* start */
    while (read(rep[0], &t, sizeof t) == (ssize_t)sizeof t) {
        sum->ok += t.ok;
        sum->conflict += t.conflict;
        sum->violation += t.violation;
        sum->err += t.err;
        sum->undone += t.undone;
        sum->refused += t.refused;
    }
    close(rep[0]);
    while (wait(&status) > 0)
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            bad++;
    return bad;
}
