/*
 * test_store_commit.c -- the store suite's write sets and the reads that
 * go with them (store.h: Write sets, commit, read_many, list_range): each
 * op kind on its own (ADD bounds, overflow, EXACT, expiry; CAS versions;
 * the blind TAG_SET, TAG_DEL, APPEND and BOARD_SET), a set that does not
 * validate writing nothing wherever its conflict is, sets of one call
 * independent and in order, ops on one key validated cumulatively, reads
 * in one step, paging a list, sweeping lists, and processes committing
 * sets on one counter at once.  test_store.c runs them.
 *
 * A backend that has no commit yet (store_ops.commit NULL) reports every
 * group as a TAP "# SKIP", never as a pass.
 *
 * Every key is under the run's hash tag (kc()): a set's keys must share
 * one Redis Cluster slot, as the host's keys of one activity do.
 */
#include "store_suite.h"
#include "wops.h"

#include <stdio.h>
#include <stdlib.h>

#define NOSKIP "backend has no commit yet"

#define RACE_RIDS 50   /* request ids per process */
#define RACE_TRIES 4   /* attempts per request id */
#define RACE_STOCK 250 /* fewer than the NCHILD * RACE_RIDS request ids */

/* The run's key for name under its hash tag, in one of 64 rotating
 * static buffers owned by this file (more than run_key's 16: a set and
 * the checks after it hold many keys at once). */
static const char *kc(const char *name)
{
    static char ring[64][STORE_KEY_MAX + 1];
    static unsigned i;
    char *b = ring[i++ % 64];

    snprintf(b, sizeof ring[0], "%s", run_key("{", "}", name));
    return b;
}

/* Commit the one set op[0..n-1] at now; what became of it in *res (set
 * to a value no backend answers first, so a res left untouched shows).
 * Returns what the call returned. */
static ams_status commit1(store *s, const store_wop *op, size_t n, int64_t now,
                          store_wres *res)
{
    store_wset w = {op, n, now};

    memset(res, 0x5a, sizeof *res);
    return store_commit(s, &w, 1, res);
}

/* The status of one set committed alone: the call's when it failed,
 * else the set's (res->at and res->fresh kept for the checks). */
static ams_status commit_st(store *s, const store_wop *op, size_t n,
                            int64_t now, store_wres *res)
{
    ams_status st = commit1(s, op, n, now, res);

    return st != AMS_OK ? st : res->st;
}

/* ---- reads, as strings for the checks ---- */

static int64_t ctr(store *s, const char *key, int64_t now)
{
    int64_t v = -999;

    if (store_counter_get(s, key, now, &v) != AMS_OK)
        return -999;
    return v;
}

/* Print len bytes of p into b (size n) as text, a NUL as "\0". */
static void put_bytes(char *b, size_t n, const char *p, size_t len)
{
    size_t o = 0;

    for (size_t i = 0; i < len && o + 3 < n; i++) {
        if (p[i] == '\0') {
            b[o++] = '\\';
            b[o++] = '0';
        } else {
            b[o++] = p[i];
        }
    }
    b[o] = '\0';
}

/* The tag's bytes, or "status N".  In one of 8 rotating static buffers. */
static const char *tag_str(store *s, const char *key, int64_t now)
{
    static char ring[8][256];
    static unsigned r;
    char *b = ring[r++ % 8], *v = NULL;
    size_t len = 0;
    ams_status st = store_tag_get(s, key, now, &v, &len);

    if (st != AMS_OK)
        snprintf(b, 256, "status %d", (int)st);
    else
        put_bytes(b, 256, v, len);
    free(v);
    return b;
}

/* The value's version (0 when absent), its bytes into *bytes (one of 8
 * rotating static buffers; "status N" when absent). */
static uint64_t val_ver(store *s, const char *key, int64_t now,
                        const char **bytes)
{
    static char ring[8][256];
    static unsigned r;
    char *b = ring[r++ % 8], *v = NULL;
    size_t len = 0;
    uint64_t ver = 0;
    ams_status st = store_value_get(s, key, now, &v, &len, &ver);

    if (st != AMS_OK)
        snprintf(b, 256, "status %d", (int)st);
    else
        put_bytes(b, 256, v, len);
    free(v);
    if (bytes != NULL)
        *bytes = b;
    return st == AMS_OK ? ver : 0;
}

/* Entries from..from+max-1 of the list as "a,b,...", or "status N", or
 * what is wrong with the answer.  In one of 8 rotating static buffers. */
static const char *range_str(store *s, const char *key, size_t from,
                             size_t max, int64_t now)
{
    static char ring[8][1024];
    static unsigned r;
    char *b = ring[r++ % 8];
    store_item *it = (store_item *)1;
    size_t cnt = 99, o = 0;
    ams_status st = store_list_range(s, key, from, max, now, &it, &cnt);

    b[0] = '\0';
    if (st != AMS_OK) {
        snprintf(b, 1024, "status %d", (int)st);
        return b;
    }
    if (cnt == 0 && it != NULL) {
        snprintf(b, 1024, "no entries, but *out not NULL");
        return b;
    }
    for (size_t i = 0; i < cnt && o + 2 < 1024; i++) {
        if (i > 0)
            b[o++] = ',';
        put_bytes(b + o, 1024 - o, it[i].val, it[i].len);
        o += strlen(b + o);
    }
    store_items_free(it, cnt);
    return b;
}

static const char *list_str(store *s, const char *key, int64_t now)
{
    return range_str(s, key, 0, SIZE_MAX, now);
}

/* ---- one op kind at a time ---- */

static void test_add(store *s)
{
    const char *c = kc("cm.add"), *mx = kc("cm.add.max"),
               *mn = kc("cm.add.min"), *x = kc("cm.add.exact");
    store_wop op[1];
    store_wres r;

    op[0] = w_add(c, 5, 0, 10, NEVER);
    is_int(commit1(s, op, 1, T, &r), AMS_OK, "commit: the call answers OK");
    ok(r.st == AMS_OK && r.unknown == 0, "ADD 5 within [0,10] to an absent "
                                         "counter applies");
    is_int(ctr(s, c, T), 5, "the counter is 5");
    op[0] = w_add(c, 5, 0, 10, NEVER);
    is_int(commit_st(s, op, 1, T, &r), AMS_OK, "ADD up to the upper bound");
    is_int(ctr(s, c, T), 10, "the counter is 10");
    op[0] = w_add(c, 1, 0, 10, NEVER);
    is_int(commit1(s, op, 1, T, &r), AMS_OK,
           "a conflicting set: the call still answers OK");
    is_int(r.st, AMS_CONFLICT, "ADD crossing the upper bound conflicts");
    ok(r.at == 0 && r.fresh == 10,
       "at op 0, fresh = the value found (%zu, "
       "%lld)",
       r.at, (long long)r.fresh);
    op[0] = w_add(c, -11, 0, 10, NEVER);
    is_int(commit_st(s, op, 1, T, &r), AMS_CONFLICT,
           "ADD crossing the lower bound conflicts");
    is_int(r.fresh, 10, "fresh = 10");
    is_int(ctr(s, c, T), 10, "conflicting sets changed nothing");
    op[0] = w_add(c, -10, 0, 10, NEVER);
    is_int(commit_st(s, op, 1, T, &r), AMS_OK, "ADD down to the lower bound");
    is_int(ctr(s, c, T), 0, "the counter is 0");

    op[0] = w_add(mx, INT64_MAX, INT64_MIN, INT64_MAX, NEVER);
    is_int(commit_st(s, op, 1, T, &r), AMS_OK, "ADD INT64_MAX");
    op[0] = w_add(mx, 1, INT64_MIN, INT64_MAX, NEVER);
    is_int(commit_st(s, op, 1, T, &r), AMS_CONFLICT,
           "ADD overflowing past INT64_MAX conflicts");
    ok(r.at == 0 && r.fresh == INT64_MAX, "fresh = INT64_MAX");
    is_int(ctr(s, mx, T), INT64_MAX, "the counter is unchanged");
    op[0] = w_add(mn, INT64_MIN, INT64_MIN, INT64_MAX, NEVER);
    is_int(commit_st(s, op, 1, T, &r), AMS_OK, "ADD INT64_MIN");
    op[0] = w_add(mn, -1, INT64_MIN, INT64_MAX, NEVER);
    is_int(commit_st(s, op, 1, T, &r), AMS_CONFLICT,
           "ADD underflowing past INT64_MIN conflicts");
    ok(r.fresh == INT64_MIN, "fresh = INT64_MIN");
    is_int(ctr(s, mn, T), INT64_MIN, "the counter is unchanged");

    op[0] = w_exact(x, 2, 0, 100, 0, NEVER);
    is_int(commit_st(s, op, 1, T, &r), AMS_OK,
           "EXACT expecting 0 on an absent counter applies");
    op[0] = w_exact(x, 2, 0, 100, 0, NEVER);
    is_int(commit_st(s, op, 1, T, &r), AMS_CONFLICT,
           "EXACT expecting 0 on a counter at 2 conflicts, within bounds");
    ok(r.at == 0 && r.fresh == 2, "fresh = 2");
    op[0] = w_exact(x, 2, 0, 100, 2, NEVER);
    is_int(commit_st(s, op, 1, T, &r), AMS_OK, "EXACT expecting 2 applies");
    is_int(ctr(s, x, T), 4, "the counter is 4");
    op[0] = w_exact(x, 200, 0, 100, 4, NEVER);
    is_int(commit_st(s, op, 1, T, &r), AMS_CONFLICT,
           "EXACT with the right value still keeps the bounds");
    is_int(ctr(s, x, T), 4, "the counter is unchanged");
}

static void test_add_expiry(store *s)
{
    const char *c = kc("cm.add.ttl");
    store_wop op[1];
    store_wres r;

    op[0] = w_add(c, 3, 0, 100, T + 100);
    is_int(commit_st(s, op, 1, T, &r), AMS_OK,
           "ADD creating a counter with an expiry");
    op[0] = w_add(c, 1, 0, 100, T + 500);
    is_int(commit_st(s, op, 1, T + 50, &r), AMS_OK, "ADD to the live counter");
    is_int(ctr(s, c, T + 99), 4, "live until its expiry, counting on");
    is_int(ctr(s, c, T + 100), 0,
           "expired at the creating ADD's expiry: a later ADD does not "
           "extend it");
    op[0] = w_add(c, -1, 0, 100, T + 300);
    is_int(commit_st(s, op, 1, T + 150, &r), AMS_CONFLICT,
           "an expired counter is 0 for the bounds");
    ok(r.at == 0 && r.fresh == 0, "fresh = 0");
    op[0] = w_exact(c, 2, 0, 100, 0, T + 300);
    is_int(commit_st(s, op, 1, T + 150, &r), AMS_OK,
           "and 0 for EXACT: an ADD over it starts from 0");
    is_int(ctr(s, c, T + 299), 2, "it is 2, with the new ADD's expiry");
    is_int(ctr(s, c, T + 300), 0, "and expires at it");
}

static void test_cas(store *s)
{
    const char *key = kc("cm.cas"), *b = NULL;
    uint64_t v1, v2, v3, v4;
    store_wop op[1];
    store_wres r;

    op[0] = w_cas(key, 1, "x", NEVER);
    is_int(commit_st(s, op, 1, T, &r), AMS_CONFLICT,
           "CAS expecting 1 on an absent value conflicts");
    ok(r.at == 0 && r.fresh == 0, "fresh = 0 (absent)");
    is_int(val_ver(s, key, T, NULL), 0, "nothing written");
    op[0] = w_cas(key, 0, "v1", NEVER);
    is_int(commit_st(s, op, 1, T, &r), AMS_OK,
           "CAS version 0 (only if absent) creates");
    v1 = val_ver(s, key, T, &b);
    ok(v1 > 0, "with a version > 0");
    is_str(b, "v1", "and its bytes");
    op[0] = w_cas(key, 0, "again", NEVER);
    is_int(commit_st(s, op, 1, T, &r), AMS_CONFLICT,
           "CAS version 0 on a live value conflicts");
    ok(r.at == 0 && (uint64_t)r.fresh == v1, "fresh = its version");
    op[0] = w_cas(key, v1, "v2", NEVER);
    is_int(commit_st(s, op, 1, T, &r), AMS_OK, "CAS with the current version");
    v2 = val_ver(s, key, T, &b);
    ok(v2 > v1, "the version grows (%llu > %llu)", (unsigned long long)v2,
       (unsigned long long)v1);
    is_str(b, "v2", "new bytes");
    op[0] = w_cas(key, v1, "v3", NEVER);
    is_int(commit_st(s, op, 1, T, &r), AMS_CONFLICT,
           "CAS with a stale version conflicts");
    ok((uint64_t)r.fresh == v2, "fresh = the current version");
    val_ver(s, key, T, &b);
    is_str(b, "v2", "the conflicting CAS changed nothing");
    is_int(store_value_cas(s, key, v2, "v3", 2, NEVER, T, &v3), AMS_OK,
           "value_cas takes the version a CAS made");
    op[0] = w_cas(key, v3, "v4", NEVER);
    is_int(commit_st(s, op, 1, T, &r), AMS_OK,
           "and a CAS the version value_cas made");
    v4 = val_ver(s, key, T, NULL);
    ok(v3 > v2 && v4 > v3, "versions grow across both (%llu, %llu)",
       (unsigned long long)v3, (unsigned long long)v4);
}

static void test_cas_expiry(store *s)
{
    const char *key = kc("cm.cas.ttl");
    uint64_t va, vb;
    store_wop op[1];
    store_wres r;

    op[0] = w_cas(key, 0, "a", T + 100);
    is_int(commit_st(s, op, 1, T, &r), AMS_OK,
           "CAS creating a value with an "
           "expiry");
    va = val_ver(s, key, T + 99, NULL);
    ok(va > 0, "live until its expiry");
    is_int(val_ver(s, key, T + 100, NULL), 0, "absent at it");
    op[0] = w_cas(key, va, "b", NEVER);
    is_int(commit_st(s, op, 1, T + 100, &r), AMS_CONFLICT,
           "the expired version no longer matches");
    is_int(r.fresh, 0, "fresh = 0: expired is absent");
    op[0] = w_cas(key, 0, "b", NEVER);
    is_int(commit_st(s, op, 1, T + 100, &r), AMS_OK,
           "CAS version 0 re-creates it");
    vb = val_ver(s, key, T + 100, NULL);
    ok(vb > va, "with a version never handed out before (%llu > %llu)",
       (unsigned long long)vb, (unsigned long long)va);
    op[0] = w_cas(key, va, "c", NEVER);
    is_int(commit_st(s, op, 1, T + 100, &r), AMS_CONFLICT,
           "a holder of the old version cannot overwrite it");
}

static void test_tags(store *s)
{
    const char *t = kc("cm.tag"), *g = kc("cm.tag.gone"),
               *e = kc("cm.tag.ttl"), *o = kc("cm.tag.order");
    store_wop op[2];
    store_wres r;

    op[0] = w_tag_set(t, "gold", NEVER);
    is_int(commit_st(s, op, 1, T, &r), AMS_OK, "TAG_SET on an absent tag");
    is_str(tag_str(s, t, T), "gold", "set");
    op[0] = w_tag_set(t, "silver", NEVER);
    is_int(commit_st(s, op, 1, T, &r), AMS_OK, "TAG_SET over it: blind");
    is_str(tag_str(s, t, T), "silver", "overwritten");
    op[0] = w_tag_del(g);
    is_int(commit_st(s, op, 1, T, &r), AMS_OK,
           "TAG_DEL of an absent tag: blind, the set applies");
    op[0] = w_tag_del(t);
    is_int(commit_st(s, op, 1, T, &r), AMS_OK, "TAG_DEL of a live tag");
    is_str(tag_str(s, t, T), NF_STR, "deleted");
    op[0] = w_tag_set(e, "x", T + 100);
    commit_st(s, op, 1, T, &r);
    is_str(tag_str(s, e, T + 99), "x", "a tag with an expiry is live before");
    is_str(tag_str(s, e, T + 100), NF_STR, "and absent at it");
    op[0] = w_tag_set(o, "x", NEVER);
    op[1] = w_tag_del(o);
    is_int(commit_st(s, op, 2, T, &r), AMS_OK, "TAG_SET then TAG_DEL");
    is_str(tag_str(s, o, T), NF_STR, "in op order: absent");
    op[0] = w_tag_del(o);
    op[1] = w_tag_set(o, "y", NEVER);
    is_int(commit_st(s, op, 2, T, &r), AMS_OK, "TAG_DEL then TAG_SET");
    is_str(tag_str(s, o, T), "y", "in op order: set");
    op[0] = w_tag_set(o, "z", NEVER);
    op[1] = w_tag_del(o);
    op[1].key = kc("cm.tag.other");
    commit_st(s, op, 2, T, &r);
    is_str(tag_str(s, o, T), "z", "a TAG_DEL of another key leaves it");
}

static void test_append(store *s)
{
    const char *l = kc("cm.list"), *e = kc("cm.list.ttl");
    store_wop op[3];
    store_wres r;

    is_str(list_str(s, l, T), "", "an absent list has no entries");
    op[0] = w_append(l, "a", NEVER);
    op[1] = w_append(l, "b", NEVER);
    op[2] = w_append(l, "c", NEVER);
    is_int(commit_st(s, op, 3, T, &r), AMS_OK, "three APPENDs in one set");
    op[0] = w_append(l, "d", NEVER);
    is_int(commit_st(s, op, 1, T, &r), AMS_OK, "one more in another set");
    is_str(list_str(s, l, T), "a,b,c,d", "entries oldest first");
    op[0] = w_append(l, "", NEVER);
    op[0].val = "n\0ul";
    op[0].len = 4;
    commit_st(s, op, 1, T, &r);
    is_str(range_str(s, l, 4, 1, T), "n\\0ul", "an entry is bytes, as given");

    op[0] = w_append(e, "1", T + 100);
    is_int(commit_st(s, op, 1, T, &r), AMS_OK,
           "APPEND creating a list with an expiry");
    op[0] = w_append(e, "2", T + 500);
    commit_st(s, op, 1, T + 50, &r);
    is_str(list_str(s, e, T + 99), "1,2", "live until its expiry");
    is_str(list_str(s, e, T + 100), "",
           "empty at the creating APPEND's expiry: a later APPEND does "
           "not extend it");
    op[0] = w_append(e, "3", T + 300);
    is_int(commit_st(s, op, 1, T + 150, &r), AMS_OK,
           "APPEND to the expired list");
    is_str(list_str(s, e, T + 299), "3",
           "starts a new list, with the new APPEND's expiry");
    is_str(list_str(s, e, T + 300), "", "which expires at it");
}

static void test_boards(store *s)
{
    const char *b = kc("cm.board"), *e = kc("cm.board.ttl");
    store_wop op[3];
    store_wres r;

    op[0] = w_board(b, "a", 10, NEVER);
    op[1] = w_board(b, "b", 30, NEVER);
    op[2] = w_board(b, "c", 20, NEVER);
    is_int(commit_st(s, op, 3, T, &r), AMS_OK, "three BOARD_SETs in one set");
    is_str(top_str(s, b, 10, T), "b=30,c=20,a=10", "board_top sees them");
    is_str(rank_str(s, b, "c", T), "2:20", "board_rank too");
    op[0] = w_board(b, "a", 40, NEVER);
    op[1] = w_board(b, "a", 5, NEVER);
    is_int(commit_st(s, op, 2, T + 1, &r), AMS_OK,
           "two BOARD_SETs of one member in one set");
    is_str(top_str(s, b, 10, T + 1), "b=30,c=20,a=5", "the last one holds");
    op[0] = w_board(e, "m", 1, T + 100);
    op[1] = w_board(e, "n", 2, T + 500);
    commit_st(s, op, 2, T, &r);
    is_str(top_str(s, e, 10, T + 99), "n=2,m=1",
           "a board created by a set, live before its expiry");
    is_str(top_str(s, e, 10, T + 100), "",
           "gone at the expiry of the op that created it");
}

/* ---- sets as a whole ---- */

/* Everything test_atomic's set touches, as one string: equal strings,
 * equal records.  In one of 4 rotating static buffers. */
static const char *state(store *s, int64_t now)
{
    static char ring[4][2048];
    static unsigned r;
    char *b = ring[r++ % 4];
    const char *vb = NULL;
    uint64_t ver = val_ver(s, kc("cm.at.v"), now, &vb);

    snprintf(b, 2048, "c=%lld v=%s@%llu t=%s d=%s l=%s b=%s",
             (long long)ctr(s, kc("cm.at.c"), now), vb,
             (unsigned long long)ver, tag_str(s, kc("cm.at.t"), now),
             tag_str(s, kc("cm.at.d"), now), list_str(s, kc("cm.at.l"), now),
             top_str(s, kc("cm.at.b"), 10, now));
    return b;
}

/* A set of one op of every kind, each of which validates, with a
 * conflicting op put at each of its places in turn: at even places an
 * ADD past the counter's bound, at odd ones a CAS with a stale version
 * (the good CAS then left out).  Never anything of it written. */
static void test_atomic(store *s)
{
    const char *c = kc("cm.at.c"), *v = kc("cm.at.v"), *t = kc("cm.at.t"),
               *d = kc("cm.at.d"), *l = kc("cm.at.l"), *b = kc("cm.at.b");
    char before[2048], want[2048];
    store_wop good[6], op[7];
    store_wres r;
    uint64_t ver;
    int bad_at = 0, bad_fresh = 0, bad_state = 0;

    /* Records for every op to change. */
    good[0] = w_add(c, 5, 0, 10, NEVER);
    good[1] = w_cas(v, 0, "old", NEVER);
    good[2] = w_tag_set(t, "old", NEVER);
    good[3] = w_tag_set(d, "old", NEVER);
    good[4] = w_append(l, "old", NEVER);
    good[5] = w_board(b, "m", 1, NEVER);
    is_int(commit_st(s, good, 6, T, &r), AMS_OK,
           "a set of one op of each kind");
    ver = val_ver(s, v, T, NULL);
    snprintf(want, sizeof want, "c=5 v=old@%llu t=old d=old l=old b=m=1",
             (unsigned long long)ver);
    snprintf(before, sizeof before, "%s", state(s, T));
    ok(ver > 0 && strcmp(before, want) == 0, "every op applied (%s)", before);

    good[0] = w_add(c, 1, 0, 10, NEVER);
    good[1] = w_cas(v, ver, "new", NEVER);
    good[2] = w_tag_set(t, "new", NEVER);
    good[3] = w_tag_del(d);
    good[4] = w_append(l, "new", NEVER);
    good[5] = w_board(b, "m", 2, NEVER);
    for (size_t at = 0; at < 7; at++) {
        int64_t fresh;

        for (size_t i = 0, j = 0; i < 7; i++)
            op[i] = i == at ? w_add(c, 100, 0, 10, NEVER) : good[j++];
        if (at % 2 == 0) {
            /* The good ADD (+1) validates first unless the conflicting
             * one is op 0: the running view. */
            fresh = at == 0 ? 5 : 6;
        } else {
            for (size_t i = 0; i < 7; i++)
                if (op[i].kind == STORE_W_CAS)
                    op[i] = w_tag_set(t, "new", NEVER);
            op[at] = w_cas(v, ver + 1000, "stale", NEVER);
            fresh = (int64_t)ver;
        }
        if (commit_st(s, op, 7, T + 1, &r) != AMS_CONFLICT || r.at != at ||
            r.unknown != 0)
            bad_at++;
        if (r.fresh != fresh)
            bad_fresh++;
        if (strcmp(state(s, T + 1), before) != 0)
            bad_state++;
    }
    is_int(bad_at, 0,
           "a conflicting op at each of the 7 places of a set: CONFLICT at "
           "it");
    is_int(bad_fresh, 0, "with fresh = the value or version found");
    is_int(bad_state, 0,
           "and every record as before: no op of the set applied");
    is_int(commit_st(s, good, 6, T + 1, &r), AMS_OK,
           "the set without the conflicting op applies");
    ver = val_ver(s, v, T + 1, NULL);
    snprintf(want, sizeof want,
             "c=6 v=new@%llu t=new d=" NF_STR " l=old,new b=m=2",
             (unsigned long long)ver);
    is_str(state(s, T + 1), want, "every op of it");
}

static void test_several_sets(store *s)
{
    const char *c = kc("cm.sets.c"), *v = kc("cm.sets.v"),
               *t = kc("cm.sets.t"), *l = kc("cm.sets.l");
    store_wop o0[2], o1[2], o2[1], o3[1], o4[1], o5[1];
    store_wset w[6];
    store_wres r[6];
    uint64_t made;
    const char *vb = NULL;

    o0[0] = w_add(c, 1, 0, 1, NEVER);
    o0[1] = w_append(l, "s0", NEVER);
    o1[0] = w_append(l, "s1", NEVER);
    o1[1] = w_add(c, 1, 0, 1, NEVER); /* over the bound set 0 reached */
    o2[0] = w_cas(v, 0, "s2", NEVER);
    o3[0] = w_cas(v, 0, "s3", NEVER); /* set 2 made it */
    o4[0] = w_exact(c, 0, 0, 1, 1, NEVER);
    o5[0] = w_tag_set(t, "s5", NEVER);
    w[0] = (store_wset){o0, 2, T};
    w[1] = (store_wset){o1, 2, T};
    w[2] = (store_wset){o2, 1, T};
    w[3] = (store_wset){o3, 1, T};
    w[4] = (store_wset){o4, 1, T};
    w[5] = (store_wset){o5, 1, T};
    memset(r, 0x5a, sizeof r);
    is_int(store_commit(s, w, 6, r), AMS_OK,
           "six sets in one call, two conflicting: the call answers OK");
    made = val_ver(s, v, T, NULL);
    is_int(r[0].st, AMS_OK, "set 0 applies");
    is_int(r[1].st, AMS_CONFLICT, "set 1 sees set 0's add: conflicts");
    ok(r[1].at == 1 && r[1].fresh == 1, "at its op 1, fresh = 1");
    is_int(r[2].st, AMS_OK, "set 2 applies after it");
    is_int(r[3].st, AMS_CONFLICT, "set 3 sees set 2's value: conflicts");
    ok(r[3].at == 0 && made > 0 && (uint64_t)r[3].fresh == made,
       "fresh = the version set 2 made");
    is_int(r[4].st, AMS_OK, "set 4's EXACT sees 1: applies");
    is_int(r[5].st, AMS_OK, "set 5 applies");
    is_int(ctr(s, c, T), 1, "the counter counted set 0 only");
    is_str(list_str(s, l, T), "s0",
           "set 1's APPEND was not applied: its set conflicted");
    val_ver(s, v, T, &vb);
    is_str(vb, "s2", "the value is set 2's");
    is_str(tag_str(s, t, T), "s5", "the tag is set 5's");

    /* A set with a bad op is refused whole; the others apply. */
    o0[0] = w_tag_set(kc("cm.sets.bad"), "x", NEVER);
    o0[1] = w_tag_set("", "x", NEVER);
    o1[0] = w_tag_set(kc("cm.sets.good"), "y", NEVER);
    w[0] = (store_wset){o0, 2, T};
    w[1] = (store_wset){o1, 1, T};
    is_int(store_commit(s, w, 2, r), AMS_OK,
           "a set with a bad op (empty key) and a good one: OK");
    ok(r[0].st == AMS_ERR && r[0].at == 1, "the bad set: AMS_ERR at op 1");
    is_str(tag_str(s, kc("cm.sets.bad"), T), NF_STR, "nothing of it applied");
    ok(r[1].st == AMS_OK &&
           strcmp(tag_str(s, kc("cm.sets.good"), T), "y") == 0,
       "the other set applied");
    is_int(commit_st(s, NULL, 0, T, &r[0]), AMS_OK, "an empty set applies");
}

/* Ops on one key in one set: each validated against what the ones before
 * it leave. */
static void test_same_key(store *s)
{
    const char *c = kc("cm.same.c"), *c2 = kc("cm.same.c2"),
               *v = kc("cm.same.v");
    store_wop op[3];
    store_wres r;

    op[0] = w_add(c, 3, 0, 5, NEVER);
    op[1] = w_add(c, 3, 0, 5, NEVER);
    is_int(commit_st(s, op, 2, T, &r), AMS_CONFLICT,
           "two ADDs that each fit [0,5] alone but not together conflict");
    ok(r.at == 1 && r.fresh == 3, "at the second, fresh = 3: the first's "
                                  "result");
    is_int(ctr(s, c, T), 0, "neither applied");
    op[1] = w_add(c, 2, 0, 5, NEVER);
    is_int(commit_st(s, op, 2, T, &r), AMS_OK, "+3 then +2 fit: apply");
    is_int(ctr(s, c, T), 5, "the counter is 5");
    op[0] = w_add(c2, 2, 0, 100, NEVER);
    op[1] = w_exact(c2, 1, 0, 100, 2, NEVER);
    op[2] = w_exact(c2, 1, 0, 100, 3, NEVER);
    is_int(commit_st(s, op, 3, T, &r), AMS_OK,
           "EXACT ops expecting what the earlier ADDs left apply");
    is_int(ctr(s, c2, T), 4, "the counter is 4");
    op[0] = w_add(c2, 1, 0, 100, NEVER);
    op[1] = w_exact(c2, 1, 0, 100, 4, NEVER);
    is_int(commit_st(s, op, 2, T, &r), AMS_CONFLICT,
           "EXACT expecting the value from before the set conflicts");
    ok(r.at == 1 && r.fresh == 5, "fresh = 5");
    is_int(ctr(s, c2, T), 4, "nothing applied");
    op[0] = w_cas(v, 0, "first", NEVER);
    op[1] = w_cas(v, 0, "second", NEVER);
    is_int(commit_st(s, op, 2, T, &r), AMS_CONFLICT,
           "two CAS version 0 of one key: the second sees the first's");
    ok(r.at == 1 && r.fresh != 0, "at the second, fresh not 0");
    is_int(val_ver(s, v, T, NULL), 0, "the value is still absent");
}

/* The families stay apart inside a set too. */
static void test_key_spaces(store *s)
{
    const char *key = kc("cm.shared"), *vb = NULL;
    store_wop op[5];
    store_wres r;

    op[0] = w_add(key, 7, 0, 100, NEVER);
    op[1] = w_cas(key, 0, "value", NEVER);
    op[2] = w_tag_set(key, "tag", NEVER);
    op[3] = w_append(key, "entry", NEVER);
    op[4] = w_board(key, "m", 9, NEVER);
    is_int(commit_st(s, op, 5, T, &r), AMS_OK,
           "one key in every family of one set");
    val_ver(s, key, T, &vb);
    ok(ctr(s, key, T) == 7 && strcmp(vb, "value") == 0 &&
           strcmp(tag_str(s, key, T), "tag") == 0 &&
           strcmp(list_str(s, key, T), "entry") == 0 &&
           strcmp(top_str(s, key, 10, T), "m=9") == 0,
       "each family reads its own record: the list too is a key space of "
       "its own");
}

/* ---- reads in one step ---- */

static void test_read_many(store *s)
{
    store_rkey key[10];
    store_rval out[10];
    uint64_t ver = 0;
    const char *c = kc("rm.c"), *t = kc("rm.t"), *v = kc("rm.v");
    size_t n = 0;

    store_counter_add(s, c, 7, 0, 100, NEVER, T, NULL);
    store_tag_set(s, t, "a\0b", 3, NEVER, T);
    store_value_cas(s, v, 0, "val", 3, NEVER, T, &ver);
    store_counter_add(s, kc("rm.c.ttl"), 3, 0, 100, T + 10, T, NULL);
    store_tag_set(s, kc("rm.t.ttl"), "x", 1, T + 10, T);
    store_value_cas(s, kc("rm.v.ttl"), 0, "x", 1, T + 10, T, NULL);
    key[n++] = (store_rkey){STORE_F_COUNTER, c};
    key[n++] = (store_rkey){STORE_F_TAG, t};
    key[n++] = (store_rkey){STORE_F_VALUE, v};
    key[n++] = (store_rkey){STORE_F_COUNTER, kc("rm.absent")};
    key[n++] = (store_rkey){STORE_F_TAG, kc("rm.absent")};
    key[n++] = (store_rkey){STORE_F_VALUE, kc("rm.absent")};
    key[n++] = (store_rkey){STORE_F_COUNTER, kc("rm.c.ttl")};
    key[n++] = (store_rkey){STORE_F_TAG, kc("rm.t.ttl")};
    key[n++] = (store_rkey){STORE_F_VALUE, kc("rm.v.ttl")};
    key[n++] = (store_rkey){STORE_F_TAG, c}; /* the counter's key */
    memset(out, 0x5a, sizeof out);
    is_int(store_read_many(s, key, n, T + 20, out), AMS_OK,
           "read_many of 10 records of 3 families");
    ok(out[0].st == AMS_OK && out[0].num == 7 && out[0].val == NULL,
       "a counter: its value");
    ok(out[1].st == AMS_OK && out[1].len == 3 && out[1].val != NULL &&
           memcmp(out[1].val, "a\0b", 3) == 0,
       "a tag: its bytes and length");
    ok(out[2].st == AMS_OK && out[2].len == 3 && out[2].val != NULL &&
           memcmp(out[2].val, "val", 3) == 0 && out[2].version == ver,
       "a value: its bytes and the version value_cas made");
    ok(out[3].st == AMS_OK && out[3].num == 0, "an absent counter: OK, 0");
    ok(out[4].st == AMS_NOT_FOUND && out[4].val == NULL && out[4].len == 0,
       "an absent tag: AMS_NOT_FOUND, no bytes");
    ok(out[5].st == AMS_NOT_FOUND && out[5].val == NULL && out[5].len == 0 &&
           out[5].version == 0,
       "an absent value: AMS_NOT_FOUND, no bytes, version 0");
    ok(out[6].st == AMS_OK && out[6].num == 0, "an expired counter: OK, 0");
    ok(out[7].st == AMS_NOT_FOUND && out[7].val == NULL,
       "an expired tag: AMS_NOT_FOUND");
    ok(out[8].st == AMS_NOT_FOUND && out[8].val == NULL && out[8].version == 0,
       "an expired value: AMS_NOT_FOUND, version 0");
    ok(out[9].st == AMS_NOT_FOUND,
       "a tag under a counter's key: absent, another family");
    store_rvals_free(out, n);
    ok(out[1].val == NULL, "store_rvals_free clears what it freed");
    memset(out, 0x5a, sizeof out);
    is_int(store_read_many(s, key, 3, T + 5, out), AMS_OK,
           "read_many again, before the expiries");
    ok(out[0].num == 7 && out[2].version == ver,
       "the same records, read again");
    store_rvals_free(out, 3);
    is_int(store_read_many(s, key, 0, T, out), AMS_OK,
           "read_many of no records: OK");
}

static void test_list_range(store *s)
{
    const char *l = kc("lr.l");
    store_wop op[5];
    store_wres r;
    store_item *it = (store_item *)1;
    size_t cnt = 99;

    op[0] = w_append(l, "e0", NEVER);
    op[1] = w_append(l, "e1", NEVER);
    op[2] = w_append(l, "e2", NEVER);
    op[3] = w_append(l, "e3", NEVER);
    op[4] = w_append(l, "e4", NEVER);
    is_int(commit_st(s, op, 5, T, &r), AMS_OK, "a list of 5 entries");
    is_str(range_str(s, l, 0, 2, T), "e0,e1", "from 0, max 2");
    is_str(range_str(s, l, 2, 2, T), "e2,e3", "from 2, max 2");
    is_str(range_str(s, l, 4, 2, T), "e4", "from 4, max 2: past the end");
    is_str(range_str(s, l, 5, 2, T), "", "from 5: none");
    is_str(range_str(s, l, 100, SIZE_MAX, T), "", "from 100: none");
    is_str(range_str(s, l, 1, 0, T), "", "max 0: none");
    is_str(range_str(s, l, 0, SIZE_MAX, T), "e0,e1,e2,e3,e4",
           "max SIZE_MAX: all");
    is_str(range_str(s, l, 3, SIZE_MAX, T), "e3,e4", "from 3, max SIZE_MAX");
    is_int(store_list_range(s, kc("lr.absent"), 0, 10, T, &it, &cnt), AMS_OK,
           "an absent list: OK");
    ok(it == NULL && cnt == 0, "no entries, *out NULL");
    store_tag_set(s, kc("lr.tag"), "x", 1, NEVER, T);
    is_str(list_str(s, kc("lr.tag"), T), "", "a tag's key is no list");
}

/* ---- sweep ---- */

/* Append n (at most 5) entries "e0".."e<n-1>" to the list in one set at
 * now, expiring at exp. */
static void fill(store *s, const char *key, int n, int64_t exp, int64_t now)
{
    static const char *const e[5] = {"e0", "e1", "e2", "e3", "e4"};
    store_wop op[5];
    store_wres r;

    for (int i = 0; i < n && i < 5; i++)
        op[i] = w_append(key, e[i], exp);
    commit_st(s, op, (size_t)(n < 5 ? n : 5), now, &r);
}

/* An expired list's entries are swept one removed record each, within
 * the budget, also those of a list an append re-created after its
 * expiry (LMDB: its older generation). */
static void test_list_sweep(store *s)
{
    const int64_t t2 = T_SWEEP + 200000;
    const char *a = kc("cs.a"), *b = kc("cs.b"), *c = kc("cs.c");
    store_wop op[1];
    store_wres r;
    size_t n = 1;

    while (n > 0 && store_sweep(s, t2, 1000, &n) == AMS_OK)
        ;
    fill(s, a, 3, t2 + 100, t2);
    fill(s, b, 2, NEVER, t2);
    fill(s, c, 5, t2 + 100, t2);
    op[0] = w_append(a, "new", t2 + 1000);
    commit_st(s, op, 1, t2 + 100, &r);
    is_str(list_str(s, a, t2 + 100), "new",
           "a re-created after its expiry, before any sweep");
    /* The old a (3 entries) and c (5). */
    is_int(store_sweep(s, t2 + 200, 3, &n), AMS_OK, "sweep a batch of 3");
    check_removed(n, 3, "removed 3 (the old a's entries)");
    store_sweep(s, t2 + 200, 3, &n);
    check_removed(n, 3, "the next batch of 3 stops inside c");
    store_sweep(s, t2 + 200, 100, &n);
    check_removed(n, 2, "the next removes c's last 2");
    store_sweep(s, t2 + 200, 100, &n);
    is_int(n, 0, "then nothing is left");
    is_str(list_str(s, c, t2 + 200), "", "c is gone");
    is_str(list_str(s, b, t2 + 200), "e0,e1", "a list without expiry stays");
    is_str(list_str(s, a, t2 + 200), "new", "the new a stays");
    op[0] = w_append(c, "fresh", NEVER);
    commit_st(s, op, 1, t2 + 200, &r);
    is_str(list_str(s, c, t2 + 200), "fresh",
           "a new list under a swept list's key holds only its entry");
    op[0] = w_append(a, "new2", NEVER);
    commit_st(s, op, 1, t2 + 200, &r);
    for (int i = 0; i < 2; i++) {
        store_sweep(s, t2 + 1000, 1, &n);
        check_removed(n, 1, "sweep a one entry at a time");
    }
    store_sweep(s, t2 + 1000, 1, &n);
    is_int(n, 0, "a took 2, then nothing is left");
    is_str(list_str(s, a, t2 + 1000), "", "a is gone");
    is_str(list_str(s, c, t2 + 1000), "fresh", "the fresh c stays");
}

/* ---- processes committing at once ---- */

static void child_commit(store *s, int i, tally *t)
{
    char rec[RACE_RIDS][STORE_KEY_MAX + 1], name[64];
    const char *stock = kc("race.commit.stock");
    int won[RACE_RIDS] = {0};

    for (int n = 0; n < RACE_RIDS; n++) {
        snprintf(name, sizeof name, "race.commit.%d.%d", i, n);
        snprintf(rec[n], sizeof rec[n], "%s", kc(name));
    }
    for (int n = 0; n < RACE_RIDS * RACE_TRIES; n++) {
        int q = n % RACE_RIDS;
        store_wop op[2] = {w_add(stock, 1, 0, RACE_STOCK, NEVER),
                           w_cas(rec[q], 0, "won", NEVER)};
        store_wres r;
        int64_t v;

        if (commit1(s, op, 2, T, &r) != AMS_OK) {
            t->err++;
            continue;
        }
        if (r.st == AMS_OK) {
            t->ok++;
            /* The CAS-if-absent record: one request_id commits once. */
            t->violation += won[q]++ > 0;
        } else if (r.st == AMS_CONFLICT) {
            t->conflict++;
            /* Only applied sets move the stock, and only this process
             * writes its records: a conflict is the stock at the bound
             * or a record this process made. */
            if (!(r.at == 0 && r.fresh == RACE_STOCK) &&
                !(r.at == 1 && won[q] > 0 && r.fresh != 0))
                t->violation++;
        } else {
            t->err++;
        }
        if (store_counter_get(s, stock, T, &v) != AMS_OK || v > RACE_STOCK)
            t->violation++;
    }
}

static void test_commit_race(store *s)
{
    char name[64];
    int present = 0;
    tally t;

    is_int(run_children(NCHILD, child_commit, &t), 0,
           "%d processes committing sets on one counter exit cleanly", NCHILD);
    is_int(t.err, 0, "no store errors");
    is_int(t.violation, 0,
           "nobody over: no request_id committed twice, the counter never "
           "seen past %d, every conflict at the op it had to be",
           RACE_STOCK);
    is_int(t.ok, RACE_STOCK, "exactly %d sets applied", RACE_STOCK);
    is_int(t.conflict, NCHILD * RACE_RIDS * RACE_TRIES - RACE_STOCK,
           "the rest conflicted");
    is_int(ctr(s, kc("race.commit.stock"), T), RACE_STOCK,
           "the counter is exactly the bound");
    for (int i = 0; i < NCHILD; i++)
        for (int n = 0; n < RACE_RIDS; n++) {
            snprintf(name, sizeof name, "race.commit.%d.%d", i, n);
            present += val_ver(s, kc(name), T, NULL) > 0;
        }
    is_int(present, RACE_STOCK,
           "exactly the applied sets' records exist: no half-applied set");
}

/* ---- what test_store.c runs ---- */

static const char *const groups[] = {
    "write sets: ADD bounds, overflow and EXACT",
    "write sets: ADD expiry on create, expired counters read as 0",
    "write sets: CAS versions",
    "write sets: CAS versions never reused across expiry",
    "write sets: TAG_SET and TAG_DEL, blind",
    "write sets: APPEND order and expiry",
    "write sets: BOARD_SET through board_top and board_rank",
    "write sets: a conflict anywhere leaves the whole set unapplied",
    "write sets: several sets in one call",
    "write sets: ops on one key validate cumulatively",
    "write sets: the families apart",
    "read_many",
    "list_range paging",
};

void commit_tests(store *s)
{
    if (s->ops->commit == NULL) {
        for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
            skip(groups[i], NOSKIP);
        return;
    }
    /* The three arrive together: a backend with only some would jump to
     * NULL below. */
    if (!ok(s->ops->read_many != NULL && s->ops->list_range != NULL,
            "a backend with commit has read_many and list_range"))
        return;
    test_add(s);
    test_add_expiry(s);
    test_cas(s);
    test_cas_expiry(s);
    test_tags(s);
    test_append(s);
    test_boards(s);
    test_atomic(s);
    test_several_sets(s);
    test_same_key(s);
    test_key_spaces(s);
    test_read_many(s);
    test_list_range(s);
}

void commit_sweep_tests(store *s)
{
    if (s->ops->commit == NULL)
        skip("write sets: lists swept entry by entry", NOSKIP);
    else
        test_list_sweep(s);
}

void commit_race(store *s)
{
    if (s->ops->commit == NULL)
        skip("processes committing write sets on one counter", NOSKIP);
    else
        test_commit_race(s);
}
