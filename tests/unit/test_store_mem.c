/*
 * test_store_mem.c -- what only the mem: backend has: its inspection API
 * (store_mem_writes, store_mem_dump, write sets included) and its
 * process-local opens.  The
 * store semantics themselves are test_store.c's, run with
 * AMS_TEST_STORE=mem: (the 'store_mem' test).
 *
 *   AMS_TEST_TMP    where the lmdb: store of the "other backend" checks
 *                   goes (default /tmp)
 */
#include "fixture.h"
#include "store_mem.h"
#include "tap.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define T 1000000LL
#define NEVER 0

/* The dump, kept in one of 8 rotating buffers ("(null)" when it failed),
 * so checks can compare two of them without freeing. */
static const char *dump(store *s, int64_t now)
{
    static char ring[8][4096];
    static unsigned r;
    char *buf = ring[r++ % 8], *d = store_mem_dump(s, now);

    snprintf(buf, 4096, "%s", d != NULL ? d : "(null)");
    free(d);
    return buf;
}

static void test_open(void)
{
    store *a = fx_store_open("mem:", 0, STORE_SYNC_FULL),
          *b = fx_store_open("mem:same", 0, STORE_SYNC_FULL),
          *c = fx_store_open("mem:same", 0, STORE_SYNC_FULL);
    int64_t v = -1;

    ok(a != NULL && b != NULL && c != NULL, "open mem: and mem:NAME twice");
    if (a == NULL || b == NULL || c == NULL)
        goto out;
    is_str(a->ops->name, "mem", "the mem backend");
    store_counter_add(b, "k", 5, 0, 10, NEVER, T, NULL);
    store_counter_get(c, "k", T, &v);
    is_int(v, 0, "two opens of one NAME are two stores (NAME is a label)");
    is_str(dump(a, T), "", "a new store dumps as \"\"");
out:
    store_close(a);
    store_close(b);
    store_close(c);
}

static void test_writes(store *s)
{
    uint64_t w0 = store_mem_writes(s), ver = 0;
    char *v = NULL;
    size_t len;
    int64_t n;
    store_board_entry *e = NULL;
    size_t cnt = 0;

    is_int(w0, 0, "a new store has made no writes");

    /* Reads, of absent and present records. */
    store_counter_get(s, "c", T, &n);
    store_tag_get(s, "t", T, &v, &len);
    store_value_get(s, "v", T, &v, &len, &ver);
    store_lock_get(s, "l", T, &v);
    store_board_top(s, "b", 10, T, &e, &cnt);
    store_board_rank(s, "b", "m", T, NULL, NULL);
    is_int(store_mem_writes(s), 0, "reads of absent records: no writes");

    is_int(store_counter_add(s, "c", 1, 0, 1, NEVER, T, NULL), AMS_OK,
           "counter_add");
    is_int(store_mem_writes(s), 1, "counts 1");
    is_int(store_counter_add(s, "c", 1, 0, 1, NEVER, T, NULL), AMS_CONFLICT,
           "counter_add past the bound");
    is_int(store_mem_writes(s), 1, "a conflicting add does not count");
    store_counter_get(s, "c", T, &n);
    is_int(store_mem_writes(s), 1, "nor does a read");

    store_tag_set(s, "t", "x", 1, NEVER, T);
    is_int(store_mem_writes(s), 2, "tag_set counts");
    store_tag_set(s, "t", "x", 1, NEVER, T);
    is_int(store_mem_writes(s), 3,
           "tag_set of the value it holds counts too (it is written)");
    store_tag_get(s, "t", T, &v, &len);
    free(v);
    is_int(store_tag_del(s, "t", T), AMS_OK, "tag_del");
    is_int(store_mem_writes(s), 4, "counts");
    is_int(store_tag_del(s, "t", T), AMS_NOT_FOUND,
           "tag_del of an absent tag");
    is_int(store_mem_writes(s), 4, "does not count");

    store_lock_acquire(s, "l", "A", NEVER, T);
    is_int(store_mem_writes(s), 5, "lock_acquire counts");
    is_int(store_lock_acquire(s, "l", "B", NEVER, T), AMS_CONFLICT,
           "lock_acquire by another token");
    is_int(store_lock_release(s, "l", "B", T), AMS_CONFLICT,
           "lock_release by another token");
    is_int(store_mem_writes(s), 5, "conflicts do not count");
    store_lock_get(s, "l", T, &v);
    free(v);
    store_lock_release(s, "l", "A", T);
    is_int(store_mem_writes(s), 6, "lock_release counts");

    store_value_cas(s, "v", 0, "a", 1, NEVER, T, &ver);
    is_int(store_mem_writes(s), 7, "value_cas counts");
    is_int(store_value_cas(s, "v", 0, "b", 1, NEVER, T, NULL), AMS_CONFLICT,
           "value_cas with a stale version");
    is_int(store_mem_writes(s), 7, "does not count");

    store_board_set(s, "b", "m", 5, NEVER, T);
    is_int(store_mem_writes(s), 8, "board_set counts");
    store_board_set(s, "b", "m", 5, NEVER, T + 1);
    is_int(store_mem_writes(s), 8,
           "board_set to the member's score writes nothing: no count");
    store_board_set(s, "b", "m", 6, NEVER, T + 1);
    is_int(store_mem_writes(s), 9, "a new score counts");
    store_board_top(s, "b", 10, T, &e, &cnt);
    store_board_free(e, cnt);
    store_board_rank(s, "b", "m", T, NULL, NULL);
    is_int(store_mem_writes(s), 9, "board reads do not count");

    is_int(store_tag_set(s, "", "x", 1, NEVER, T), AMS_ERR, "a bad argument");
    is_int(store_board_set(s, "b", "", 1, NEVER, T), AMS_ERR, "another");
    is_int(store_mem_writes(s), 9, "bad arguments do not count");

    store_tag_set(s, "ttl", "x", 1, T + 10, T);
    is_int(store_mem_writes(s), 10, "a tag with expiry");
    is_int(store_sweep(s, T + 10, 100, &len), AMS_OK, "sweep");
    is_int(len, 1, "removes it");
    is_int(store_mem_writes(s), 10, "a sweep does not count");
}

/* Commit one set at T; the set's status (the call's when it failed). */
static ams_status commit1(store *s, const store_wop *op, size_t n)
{
    store_wset w = {op, n, T};
    store_wres r;
    ams_status st = store_commit(s, &w, 1, &r);

    return st != AMS_OK ? st : r.st;
}

/* A committed set counts its ops as their single calls would. */
static void test_commit_writes(store *s)
{
    store_wop op[9] = {
        {.kind = STORE_W_ADD, .key = "c", .delta = 1, .lo = 0, .hi = 5},
        {.kind = STORE_W_CAS, .key = "v", .val = "x", .len = 1},
        {.kind = STORE_W_TAG_SET, .key = "t", .val = "x", .len = 1},
        {.kind = STORE_W_TAG_DEL, .key = "absent"},
        {.kind = STORE_W_APPEND, .key = "l", .val = "e", .len = 1},
        {.kind = STORE_W_APPEND, .key = "l", .val = "f", .len = 1},
        {.kind = STORE_W_BOARD_SET,
         .key = "b",
         .val = "m",
         .len = 1,
         .delta = 3},
        {.kind = STORE_W_BOARD_SET,
         .key = "b",
         .val = "m",
         .len = 1,
         .delta = 3},
        {.kind = STORE_W_TAG_DEL, .key = "t"},
    };
    store_wop bad = {
        .kind = STORE_W_ADD, .key = "c", .delta = 9, .lo = 0, .hi = 5};
    store_wset w[2] = {{op, 1, T}, {&bad, 1, T}};
    store_wres r[2];

    is_int(commit1(s, op, 9), AMS_OK, "a set of 9 ops applies");
    is_int(store_mem_writes(s), 7,
           "counts 7: not the TAG_DEL of an absent tag, nor the BOARD_SET "
           "to the score the member has");
    op[1].version = 1000;
    is_int(commit1(s, op, 2), AMS_CONFLICT, "a set with a stale CAS");
    is_int(store_mem_writes(s), 7, "counts nothing, its ADD included");
    op[0].key = "";
    is_int(commit1(s, op, 1), AMS_ERR, "a set with a bad op");
    is_int(store_mem_writes(s), 7, "counts nothing");
    op[0].key = "c";
    is_int(store_commit(s, w, 2, r), AMS_OK,
           "two sets, the second "
           "conflicting");
    is_int(store_mem_writes(s), 8, "count the first only");
    is_int(commit1(s, op, 0), AMS_OK, "an empty set");
    is_int(store_mem_writes(s), 8, "counts nothing");
}

static void test_dump(store *s)
{
    /* Copies: dump()'s buffers rotate. */
    char empty[4096], before[4096];
    uint64_t ver = 0;

    snprintf(empty, sizeof empty, "%s", dump(s, T));
    is_str(empty, "", "an empty store dumps as \"\"");

    store_counter_add(s, "c", 1, 0, 100, NEVER, T, NULL);
    ok(strcmp(dump(s, T), empty) != 0, "a counter add changes the dump");
    store_counter_add(s, "c", -1, 0, 100, NEVER, T, NULL);
    is_str(dump(s, T), empty,
           "do + undo of an add on an absent counter: equal (0 dumps as "
           "absent)");

    store_counter_add(s, "n", 3, 0, 100, T + 1000, T, NULL);
    snprintf(before, sizeof before, "%s", dump(s, T));
    store_counter_add(s, "n", 2, 0, 100, NEVER, T, NULL);
    ok(strcmp(dump(s, T), before) != 0, "an add to a counter changes it");
    store_counter_add(s, "n", -2, 0, 100, NEVER, T, NULL);
    is_str(dump(s, T), before, "do + undo of an add: equal");

    store_tag_set(s, "keep", "k", 1, NEVER, T);
    snprintf(before, sizeof before, "%s", dump(s, T));
    store_tag_set(s, "t", "gold", 4, T + 500, T);
    ok(strcmp(dump(s, T), before) != 0, "a tag set changes the dump");
    store_tag_del(s, "t", T);
    is_str(dump(s, T), before, "do + undo of a tag set (del): equal");
    store_tag_set(s, "keep", "other", 5, NEVER, T);
    ok(strcmp(dump(s, T), before) != 0, "overwriting a tag changes it");
    store_tag_set(s, "keep", "k", 1, NEVER, T);
    is_str(dump(s, T), before, "and putting the old value back restores it");
    store_tag_set(s, "keep", "k", 1, T + 900, T);
    ok(strcmp(dump(s, T), before) != 0,
       "the same bytes with another expiry differ");
    store_tag_set(s, "keep", "k", 1, NEVER, T);

    snprintf(before, sizeof before, "%s", dump(s, T));
    store_tag_del(s, "keep", T);
    ok(strcmp(dump(s, T), before) != 0, "a tag del changes the dump");
    store_tag_set(s, "keep", "k", 1, NEVER, T);
    is_str(dump(s, T), before, "do + undo of a tag del (set back): equal");

    store_lock_acquire(s, "l", "tok", T + 100, T);
    ok(strcmp(dump(s, T), before) != 0, "a lock changes the dump");
    store_lock_release(s, "l", "tok", T);
    is_str(dump(s, T), before, "do + undo of a lock: equal");

    store_value_cas(s, "v", 0, "a", 1, NEVER, T, &ver);
    snprintf(before, sizeof before, "%s", dump(s, T));
    store_value_cas(s, "v", ver, "b", 1, NEVER, T, &ver);
    store_value_cas(s, "v", ver, "a", 1, NEVER, T, &ver);
    ok(strcmp(dump(s, T), before) != 0,
       "a value cas'ed and back: differs (its version moved on)");

    store_board_set(s, "b", "m", 1, NEVER, T);
    snprintf(before, sizeof before, "%s", dump(s, T));
    store_board_set(s, "b", "m", 2, NEVER, T);
    ok(strcmp(dump(s, T), before) != 0, "a board score changes the dump");

    /* Expired records are not in a dump taken after their expiry. */
    snprintf(before, sizeof before, "%s", dump(s, T + 5000));
    store_tag_set(s, "gone", "x", 1, T + 10, T);
    store_counter_add(s, "gone", 1, 0, 10, T + 10, T, NULL);
    store_board_set(s, "gone", "m", 1, T + 10, T);
    store_lock_acquire(s, "gone", "tok", T + 10, T);
    store_value_cas(s, "gone", 0, "x", 1, T + 10, T, NULL);
    {
        store_wop op = {.kind = STORE_W_APPEND,
                        .key = "gone",
                        .val = "e",
                        .len = 1,
                        .expire_at_ms = T + 10};
        commit1(s, &op, 1);
    }
    ok(strcmp(dump(s, T), dump(s, T + 5000)) != 0, "live at T");
    is_str(dump(s, T + 5000), before, "gone from a dump after their expiry");
}

static void test_dump_format(void)
{
    store *a = fx_store_open("mem:a", 0, STORE_SYNC_FULL),
          *b = fx_store_open("mem:b", 0, STORE_SYNC_FULL);
    static const char *keys[] = {"k3", "k1", "k2", "k10", "k"};
    char want[1024];
    uint64_t ver = 0;
    /* A list, family 'L': its line sorts first. */
    store_wop app[3] = {
        {.kind = STORE_W_APPEND,
         .key = "l",
         .val = "e1",
         .len = 2,
         .expire_at_ms = T + 9},
        {.kind = STORE_W_APPEND, .key = "l", .val = "", .len = 1},
        {.kind = STORE_W_APPEND, .key = "l", .val = "", .len = 0}};

    if (!ok(a != NULL && b != NULL, "open two stores"))
        goto out;
    /* The same data, written in opposite orders. */
    for (int i = 0; i < 5; i++) {
        store_tag_set(a, keys[i], keys[i], strlen(keys[i]), NEVER, T);
        store_tag_set(b, keys[4 - i], keys[4 - i], strlen(keys[4 - i]), NEVER,
                      T);
    }
    store_board_set(a, "b", "x", 1, NEVER, T);
    store_board_set(a, "b", "y", 2, NEVER, T + 1);
    store_board_set(b, "b", "y", 2, NEVER, T + 1);
    store_board_set(b, "b", "x", 1, NEVER, T);
    is_str(dump(a, T), dump(b, T),
           "the same data written in other orders dumps the same");
    store_tag_set(a, "bin", "a\0\"\\\n\xff", 6, T + 7, T);
    store_counter_add(a, "c", -4, -10, 10, NEVER, T, NULL);
    store_lock_acquire(a, "l k", "tok", NEVER, T);
    store_value_cas(a, "v", 0, "", 0, NEVER, T, &ver);
    commit1(a, app, 3);
    snprintf(want, sizeof want,
             "list \"l\" exp=1000009 \"e1\" \"\\x00\" \"\"\n"
             "board \"b\" exp=0 \"y\"=2@1000001 \"x\"=1@1000000\n"
             "counter \"c\" exp=0 -4\n"
             "lock \"l k\" exp=0 \"tok\"\n"
             "tag \"bin\" exp=1000007 \"a\\x00\\x22\\x5c\\x0a\\xff\"\n"
             "tag \"k\" exp=0 \"k\"\n"
             "tag \"k1\" exp=0 \"k1\"\n"
             "tag \"k10\" exp=0 \"k10\"\n"
             "tag \"k2\" exp=0 \"k2\"\n"
             "tag \"k3\" exp=0 \"k3\"\n"
             "value \"v\" exp=0 version=%llu \"\"\n",
             (unsigned long long)ver);
    is_str(dump(a, T), want,
           "one line a record, by family then key bytes, bytes escaped");
out:
    store_close(a);
    store_close(b);
}

/* On a handle of another backend the inspection API answers 0 and NULL. */
static void test_other_backend(void)
{
    const char *base = getenv("AMS_TEST_TMP");
    char dir[PATH_MAX], u[PATH_MAX + 16];
    store *s;
    char *d;

    if (base == NULL || *base == '\0')
        base = "/tmp";
    mkdir(base, 0700);
    snprintf(dir, sizeof dir, "%s/test_store_mem.XXXXXX", base);
    if (mkdtemp(dir) == NULL) {
        ok(0, "mkdtemp %s: %s", dir, strerror(errno));
        return;
    }
    snprintf(u, sizeof u, "lmdb:%s", dir);
    s = fx_store_open(u, 0, STORE_SYNC_FULL);
    if (ok(s != NULL, "open an lmdb: store")) {
        store_tag_set(s, "t", "x", 1, NEVER, T);
        is_int(store_mem_writes(s), 0, "store_mem_writes on lmdb: is 0");
        d = store_mem_dump(s, T);
        ok(d == NULL, "store_mem_dump on lmdb: is NULL");
        free(d);
        store_close(s);
    }
    ok(store_mem_writes(NULL) == 0 && store_mem_dump(NULL, T) == NULL,
       "and on NULL");
    snprintf(u, sizeof u, "%s/data.mdb", dir);
    unlink(u);
    snprintf(u, sizeof u, "%s/lock.mdb", dir);
    unlink(u);
    rmdir(dir);
}

int main(void)
{
    store *s;

    test_open();
    s = fx_store_open("mem:writes", 0, STORE_SYNC_FULL);
    if (ok(s != NULL, "open mem:writes")) {
        test_writes(s);
        store_close(s);
    }
    s = fx_store_open("mem:commit", 0, STORE_SYNC_FULL);
    if (ok(s != NULL, "open mem:commit")) {
        test_commit_writes(s);
        store_close(s);
    }
    s = fx_store_open("mem:dump", 0, STORE_SYNC_FULL);
    if (ok(s != NULL, "open mem:dump")) {
        test_dump(s);
        store_close(s);
    }
    test_dump_format();
    test_other_backend();
    return tap_done();
}
