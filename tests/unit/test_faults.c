/*
 * test_faults.c -- a store fault at every single store call of a
 * flash-sale grab, and what the client and the books see.
 *
 * The store is a mem: store behind a wrapper that makes call number N
 * fail with AMS_ERR_STORE, either before it reaches the store (nothing
 * happened: a refused connection) or after (it happened but the answer
 * was lost: a timeout after send).  For every N and both kinds the grab
 * of the real conf/activities/1003-flash-sale.conf must:
 *   - answer "ok" only when the grant is in the user's ledger and the
 *     stock counted it;
 *   - answer 503 store_unavailable with outcome "none" only when nothing
 *     changed (stock, limit, ledger as before), so a retry just runs;
 *   - otherwise say outcome "unknown";
 *   - and a retry with the same request_id (store healthy again)
 *     completes the grab exactly once: "ok" with one grant, one unit of
 *     stock and one of the limit taken, also when the retry itself meets
 *     a fault and a later retry finishes;
 *   - never grant without taking stock, never grant twice.
 *
 *   AMS_TEST_PLUGINS  build dir of the test plugins (bundled ones are in
 *                     ../../plugins from there)
 *   AMS_SOURCE        source tree (for conf/activities)
 *   AMS_TEST_TMP      scratch directory
 */
#include "digest.h"
#include "fixture.h"
#include "gen.h"
#include "services.h"
#include "store.h"
#include "tap.h"

#include <errno.h>
#include <openssl/evp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOW 1800000000000LL /* 2027-01-15: inside 1003's window */

/* ---- the fault-injecting store ---- */

enum { F_BEFORE, F_AFTER };

typedef struct fstore {
    store base;
    store *in;
    int calls;   /* calls seen */
    int fail_at; /* 1-based call to fail; 0: none */
    int mode;    /* F_* */
} fstore;

static fstore fs;

/* Whether this call fails, and if so whether it first reaches the store;
 * a backend that fails hands nothing back, so what the call made is freed
 * (cleanup). */
#define FAULT_THEN(expr, cleanup)                                             \
    do {                                                                      \
        if (++fs.calls != fs.fail_at)                                         \
            return (expr);                                                    \
        if (fs.mode == F_AFTER && (expr) == AMS_OK) {                         \
            cleanup;                                                          \
        }                                                                     \
        return AMS_ERR_STORE;                                                 \
    } while (0)
#define FAULT(expr) FAULT_THEN(expr, (void)0)

static ams_status f_counter_add(store *s, const char *k, int64_t d, int64_t lo,
                                int64_t hi, int64_t e, int64_t n, int64_t *out,
                                const store_journal *j)
{
    (void)s;
    FAULT(store_counter_add_j(fs.in, k, d, lo, hi, e, n, out, j));
}
static ams_status f_counter_get(store *s, const char *k, int64_t n,
                                int64_t *out)
{
    (void)s;
    FAULT(store_counter_get(fs.in, k, n, out));
}
static ams_status f_lock_acquire(store *s, const char *k, const char *t,
                                 int64_t e, int64_t n)
{
    (void)s;
    FAULT(store_lock_acquire(fs.in, k, t, e, n));
}
static ams_status f_lock_release(store *s, const char *k, const char *t,
                                 int64_t n)
{
    (void)s;
    FAULT(store_lock_release(fs.in, k, t, n));
}
static ams_status f_lock_get(store *s, const char *k, int64_t n, char **t)
{
    (void)s;
    FAULT_THEN(store_lock_get(fs.in, k, n, t), free(*t));
}
static ams_status f_tag_set(store *s, const char *k, const char *v, size_t len,
                            int64_t e, int64_t n)
{
    (void)s;
    FAULT(store_tag_set(fs.in, k, v, len, e, n));
}
static ams_status f_tag_get(store *s, const char *k, int64_t n, char **v,
                            size_t *len)
{
    (void)s;
    FAULT_THEN(store_tag_get(fs.in, k, n, v, len), free(*v));
}
static ams_status f_tag_del(store *s, const char *k, int64_t n)
{
    (void)s;
    FAULT(store_tag_del(fs.in, k, n));
}
static ams_status f_value_get(store *s, const char *k, int64_t n, char **v,
                              size_t *len, uint64_t *ver)
{
    (void)s;
    FAULT_THEN(store_value_get(fs.in, k, n, v, len, ver), free(*v));
}
static ams_status f_value_cas(store *s, const char *k, uint64_t x,
                              const char *v, size_t len, int64_t e, int64_t n,
                              uint64_t *ver, const store_journal *j)
{
    (void)s;
    FAULT(store_value_cas_j(fs.in, k, x, v, len, e, n, ver, j));
}
static ams_status f_journal_close(store *s, const store_journal *j, int gb,
                                  int64_t n, size_t *undone)
{
    (void)s;
    FAULT(store_journal_close(fs.in, j, gb, n, undone));
}
static ams_status f_board_set(store *s, const char *k, const char *m,
                              int64_t sc, int64_t e, int64_t n)
{
    (void)s;
    FAULT(store_board_set(fs.in, k, m, sc, e, n));
}
static ams_status f_board_top(store *s, const char *k, size_t c, int64_t n,
                              store_board_entry **out, size_t *cnt)
{
    (void)s;
    FAULT_THEN(store_board_top(fs.in, k, c, n, out, cnt),
               store_board_free(*out, *cnt));
}
static ams_status f_board_rank(store *s, const char *k, const char *m,
                               int64_t n, int64_t *rank, int64_t *score)
{
    (void)s;
    FAULT(store_board_rank(fs.in, k, m, n, rank, score));
}
/* A commit that fails answers every set AMS_ERR_STORE: unknown 0 when
 * the fault came before the store (nothing applied), 1 when after (the
 * sets were committed, whatever each became, but the answer was lost). */
static ams_status f_commit(store *s, const store_wset *w, size_t n,
                           store_wres *res)
{
    (void)s;
    if (++fs.calls != fs.fail_at)
        return store_commit(fs.in, w, n, res);
    if (fs.mode == F_AFTER)
        (void)store_commit(fs.in, w, n, res);
    for (size_t i = 0; i < n; i++) {
        memset(&res[i], 0, sizeof res[i]);
        res[i].st = AMS_ERR_STORE;
        res[i].unknown = fs.mode == F_AFTER;
    }
    return AMS_ERR_STORE;
}
/* A failed read_many or list_range hands nothing back: every out[i]
 * zeroed (val NULL); no entries. */
static ams_status f_read_many(store *s, const store_rkey *k, size_t n,
                              int64_t now, store_rval *out)
{
    (void)s;
    if (++fs.calls != fs.fail_at)
        return store_read_many(fs.in, k, n, now, out);
    if (fs.mode == F_AFTER && store_read_many(fs.in, k, n, now, out) == AMS_OK)
        store_rvals_free(out, n);
    if (n > 0)
        memset(out, 0, n * sizeof *out);
    return AMS_ERR_STORE;
}
static ams_status f_list_range(store *s, const char *k, size_t from,
                               size_t max, int64_t n, store_item **out,
                               size_t *cnt)
{
    (void)s;
    if (++fs.calls != fs.fail_at)
        return store_list_range(fs.in, k, from, max, n, out, cnt);
    if (fs.mode == F_AFTER &&
        store_list_range(fs.in, k, from, max, n, out, cnt) == AMS_OK)
        store_items_free(*out, *cnt);
    if (out != NULL)
        *out = NULL;
    if (cnt != NULL)
        *cnt = 0;
    return AMS_ERR_STORE;
}
static ams_status f_sweep(store *s, int64_t n, size_t max, size_t *removed)
{
    (void)s;
    return store_sweep(fs.in, n, max, removed);
}
static void f_close(store *s)
{
    (void)s;
}

static const store_ops fops = {
    .name = "faulty",
    .counter_add = f_counter_add,
    .counter_get = f_counter_get,
    .lock_acquire = f_lock_acquire,
    .lock_release = f_lock_release,
    .lock_get = f_lock_get,
    .tag_set = f_tag_set,
    .tag_get = f_tag_get,
    .tag_del = f_tag_del,
    .value_get = f_value_get,
    .value_cas = f_value_cas,
    .journal_close = f_journal_close,
    .board_set = f_board_set,
    .board_top = f_board_top,
    .board_rank = f_board_rank,
    .sweep = f_sweep,
    .close = f_close,
    .commit = f_commit,
    .read_many = f_read_many,
    .list_range = f_list_range,
    /* .read_rate: optional (store.h), and no backend under test has it */
};

/* The wrapper must stay complete: a store operation it lacks would jump
 * to NULL when the host calls it. */
_Static_assert(sizeof(store_ops) == 21 * sizeof(void *),
               "store_ops changed: pass the new operation through in fops");

/* ---- requests ---- */

static gen *g;

/* A request to the flash sale (1003) as a worker runs it. */
static void call(const char *mname, const char *uid, const char *rid,
                 int64_t now, fx_answer *a)
{
    fx_run(g, 1003, mname, uid, rid, now, a);
}

/* What the books say, read past the wrapper. */
typedef struct books {
    int64_t stock_taken, limit_used;
    int ledger; /* grants of request_id "R" in uid's ledger */
} books;

static void read_books(const char *uid, books *bk)
{
    char key[STORE_KEY_MAX], *text = NULL;
    size_t len = 0, n = 0;
    store_item *items = NULL;
    cJSON *arr, *it;

    memset(bk, 0, sizeof *bk);
    store_counter_get(fs.in, "{a1003}g:coupon.cash1000", NOW,
                      &bk->stock_taken);
    svc_host_key(key, sizeof key, 1003, uid, "lim:grab");
    store_counter_get(fs.in, key, NOW, &bk->limit_used);
    /* The ledger: entries appended one per grant, and an array of the
     * chain before write sets, if any, under the same key. */
    svc_host_key(key, sizeof key, 1003, uid, "ledger");
    if (store_value_get(fs.in, key, NOW, &text, &len, NULL) == AMS_OK) {
        arr = cJSON_ParseWithLength(text, len);
        free(text);
        cJSON_ArrayForEach(it, arr)
        {
            const cJSON *q =
                cJSON_GetObjectItemCaseSensitive(it, "request_id");
            bk->ledger +=
                cJSON_IsString(q) && strcmp(q->valuestring, "R") == 0;
        }
        cJSON_Delete(arr);
    }
    if (store_list_range(fs.in, key, 0, 1000, NOW, &items, &n) != AMS_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        cJSON *ent = cJSON_ParseWithLength(items[i].val, items[i].len);
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(ent, "request_id");
        bk->ledger += cJSON_IsString(q) && strcmp(q->valuestring, "R") == 0;
        cJSON_Delete(ent);
    }
    store_items_free(items, n);
}

/* One fault at call n (mode), then retries with the same request_id;
 * when n2 > 0 the first retry gets a fault at its call n2 (mode2) too.
 * Returns the calls the first attempt made. */
static int scenario(int n, int mode, int n2, int mode2, int *bad)
{
    char uid[48];
    fx_answer a1, a2, a2f, a3, a4;
    books before, after1, after2;
    int calls, fine = 1;

    fs.in = fx_store_open("mem:faults", 0, STORE_SYNC_FULL);
    fs.calls = 0;
    fs.fail_at = 0;
    snprintf(uid, sizeof uid, "user-%d-%d-%d-%d", n, mode, n2, mode2);
    call("bind", uid, "B", NOW, &a1);
    if (a1.http_status != 200 || strcmp(a1.reason, "ok") != 0) {
        printf("#   bind failed: %d %s\n", a1.http_status, a1.reason);
        *bad = 1;
    }
    read_books(uid, &before);
    fs.calls = 0;
    fs.fail_at = n;
    fs.mode = mode;
    call("grab", uid, "R", NOW, &a1);
    calls = fs.calls;
    fs.fail_at = 0;
    read_books(uid, &after1);

    /* The first answer agrees with the books. */
    if (a1.http_status == 200 && strcmp(a1.reason, "ok") == 0)
        fine &=
            after1.ledger == 1 && after1.stock_taken == 1 && a1.grants == 1;
    else if (a1.http_status == 503 && strcmp(a1.outcome, "none") == 0)
        fine &= after1.ledger == 0 &&
                after1.stock_taken == before.stock_taken &&
                after1.limit_used == before.limit_used;
    else
        fine &= a1.http_status == 503 && strcmp(a1.outcome, "unknown") == 0 &&
                strcmp(a1.reason, "store_unavailable") == 0;
    /* Never a grant without its stock. */
    fine &= after1.ledger <= after1.stock_taken;

    /* Retry at once: well within the session lock's TTL, so a lock the
     * first attempt could not release must be taken over (this process
     * knows its request is over), not "busy".  Maybe it faults too;
     * then retry again, the store well. */
    fs.calls = 0;
    fs.fail_at = n2;
    fs.mode = mode2;
    call("grab", uid, "R", NOW + 10, &a2);
    fs.fail_at = 0;
    a2f = a2;
    if (n2 > 0)
        fine &= (a2.http_status == 200 && strcmp(a2.reason, "ok") == 0) ||
                (a2.http_status == 503 &&
                 strcmp(a2.reason, "store_unavailable") == 0);
    if (n2 > 0)
        call("grab", uid, "R", NOW + 20, &a2);
    call("grab", uid, "R", NOW + 30, &a3);
    call("grab", uid, "R", NOW + 40, &a4);
    read_books(uid, &after2);
    /* The truth: the grab happened exactly once, whatever was lost on
     * the way -- one grant answered and in the ledger, one unit of stock
     * and one of the user's limit taken, none left taken by an attempt
     * that did not finish. */
    fine &= a2.http_status == 200 && strcmp(a2.reason, "ok") == 0 &&
            a2.grants == 1;
    fine &= after2.ledger == 1 && after2.stock_taken == 1 &&
            after2.limit_used == 1;
    /* ... and it is stable: later retries replay it. */
    fine &= a3.http_status == 200 && strcmp(a3.reason, "ok") == 0 &&
            a3.grants == 1 && a4.http_status == 200 && a4.grants == 1;
    if (n > 0 && !fine) {
        printf("#   fault at call %d (%s), then %d (%s): first %d %s "
               "outcome=%s grants=%d (stock %lld, limit %lld, ledger %d); "
               "retry %d %s outcome=%s, retry %d %s grants=%d, again %d %s "
               "(stock %lld, limit %lld, ledger %d)\n",
               n, mode == F_BEFORE ? "before" : "after", n2,
               mode2 == F_BEFORE ? "before" : "after", a1.http_status,
               a1.reason, a1.outcome, a1.grants, (long long)after1.stock_taken,
               (long long)after1.limit_used, after1.ledger, a2f.http_status,
               a2f.reason, a2f.outcome, a2.http_status, a2.reason, a2.grants,
               a3.http_status, a3.reason, (long long)after2.stock_taken,
               (long long)after2.limit_used, after2.ledger);
        *bad = 1;
    }
    if (n == 0 && !(a1.http_status == 200 && strcmp(a1.reason, "ok") == 0)) {
        printf("#   a clean grab answered %d %s\n", a1.http_status, a1.reason);
        *bad = 1;
    }
    store_close(fs.in);
    return calls;
}

/* Returns the number of store calls of a clean grab. */
static int test_every_call(void)
{
    int bad = 0, total, unknown_seen = 0, none_seen = 0;

    total = scenario(0, F_BEFORE, 0, F_BEFORE, &bad);
    /* Reads, then one commit of everything it changed. */
    ok(total >= 2 && !bad, "a clean grab makes %d store calls and succeeds",
       total);
    for (int mode = F_BEFORE; mode <= F_AFTER; mode++) {
        bad = 0;
        for (int n = 1; n <= total; n++)
            scenario(n, mode, 0, F_BEFORE, &bad);
        ok(!bad,
           "a fault %s call n, for each n in 1..%d: the answer "
           "agrees with the books, and a retry with the same request_id "
           "completes the grab exactly once",
           mode == F_BEFORE ? "before" : "after", total);
    }
    /* A retry that recovers an interrupted attempt makes more calls
     * (fence, ledger, give back, then the grab again): a fault at any of
     * them, lost or refused, must leave the next retry just as able. */
    for (int mode2 = F_BEFORE; mode2 <= F_AFTER; mode2++) {
        bad = 0;
        for (int n = 1; n <= total; n++)
            for (int n2 = 1; n2 <= total + 6; n2++)
                scenario(n, F_AFTER, n2, mode2, &bad);
        ok(!bad,
           "a lost answer at call n of the grab, then a fault %s call "
           "m of its retry, for each n in 1..%d and m in 1..%d: the next "
           "retry still completes it exactly once",
           mode2 == F_BEFORE ? "before" : "after", total, total + 6);
    }
    /* Both kinds of 503 do happen (so the checks above were reached). */
    for (int n = 1; n <= total; n++) {
        fx_answer a;

        fs.in = fx_store_open("mem:kinds", 0, STORE_SYNC_FULL);
        fs.fail_at = 0;
        call("bind", "k", "B", NOW, &a);
        fs.calls = 0;
        fs.fail_at = n;
        fs.mode = F_AFTER;
        call("grab", "k", "R", NOW, &a);
        fs.fail_at = 0;
        unknown_seen += strcmp(a.outcome, "unknown") == 0;
        none_seen += strcmp(a.outcome, "none") == 0;
        store_close(fs.in);
    }
    ok(unknown_seen > 0 && none_seen > 0,
       "faults give outcome none (%d "
       "calls) and unknown (%d calls)",
       none_seen, unknown_seen);
    return total;
}

/* A store written by the chain before write sets may hold a "p" record:
 * an attempt cut off mid-way, whose counted writes (the limit, the stock)
 * went into its journal.  Its retry fences it out, gives them back when
 * the ledger shows no grant, and runs the request again; or answers ok
 * with the grant the ledger holds.  Made here by hand, as that chain
 * wrote them. */
static void legacy_attempt(const char *uid, int finished, books *bk,
                           fx_answer *retry)
{
    char idem[STORE_KEY_MAX], jrn[STORE_KEY_MAX], lim[STORE_KEY_MAX];
    char led[STORE_KEY_MAX], rec[200], hex[65];
    unsigned char md[32];
    unsigned int mdlen = 0;
    store_journal j;
    fx_answer a;

    EVP_Digest("grab", 5, md, &mdlen, EVP_sha256(), NULL); /* no params */
    digest_hex(md, hex);
    svc_host_key(idem, sizeof idem, 1003, uid, "idem:R");
    svc_host_key(jrn, sizeof jrn, 1003, uid, "jrn:R#1");
    svc_host_key(lim, sizeof lim, 1003, uid, "lim:grab");
    svc_host_key(led, sizeof led, 1003, uid, "ledger");
    j = (store_journal){jrn, NOW + 86400000};
    fs.fail_at = 0;
    call("bind", uid, "B", NOW, &a);
    snprintf(rec, sizeof rec, "{\"s\":\"p\",\"h\":\"%s\",\"a\":1}", hex);
    store_value_cas(fs.in, idem, 0, rec, strlen(rec), NOW + 86400000, NOW,
                    NULL);
    store_counter_add_j(fs.in, lim, 1, 0, 1, 0, NOW, NULL, &j);
    store_counter_add_j(fs.in, "{a1003}g:coupon.cash1000", 1, 0, 100, 0, NOW,
                        NULL, &j);
    if (finished) {
        snprintf(rec, sizeof rec,
                 "[{\"ts\":%lld,\"method\":\"grab\",\"request_id\":"
                 "\"R\",\"kind\":\"coupon\",\"item\":\"cash1000\","
                 "\"amount\":1000}]",
                 (long long)NOW);
        store_value_cas(fs.in, led, 0, rec, strlen(rec), 0, NOW, NULL);
    }
    call("grab", uid, "R", NOW + 10, retry);
    read_books(uid, bk);
}

static void test_legacy(void)
{
    books bk;
    fx_answer a, again;

    fs.in = fx_store_open("mem:legacy", 0, STORE_SYNC_FULL);
    legacy_attempt("old1", 0, &bk, &a);
    ok(a.http_status == 200 && strcmp(a.reason, "ok") == 0 && a.grants == 1 &&
           bk.ledger == 1 && bk.stock_taken == 1 && bk.limit_used == 1,
       "an attempt cut off by the chain before write sets: its retry gives "
       "its counted writes back and runs it once (%d %s, stock %lld, "
       "limit %lld, ledger %d)",
       a.http_status, a.reason, (long long)bk.stock_taken,
       (long long)bk.limit_used, bk.ledger);
    call("grab", "old1", "R", NOW + 20, &again);
    ok(again.http_status == 200 && again.grants == 1 &&
           strcmp(again.data, a.data) == 0,
       "... and then replays it");
    legacy_attempt("old2", 1, &bk, &a);
    ok(a.http_status == 200 && strcmp(a.reason, "ok") == 0 && a.grants == 1 &&
           bk.ledger == 1 && bk.stock_taken == 2 && bk.limit_used == 1,
       "one that finished (its grant in the ledger): ok with that grant, "
       "nothing taken again (stock %lld in all, limit %lld, ledger %d)",
       (long long)bk.stock_taken, (long long)bk.limit_used, bk.ledger);
    store_close(fs.in);
}

/* A plugin lock whose release failed (the store was away when its
 * request ended) is remembered as an orphan of this process and released
 * by svc_release_orphans() once the store answers (the worker calls it
 * every second), so a retry elsewhere finds it free.  The session lock
 * lives in the worker's memory and never reaches the store. */
static void test_orphans(const char *tplugins)
{
    char key[STORE_KEY_MAX], *holder = NULL, dir[PATH_MAX], so[PATH_MAX * 2];
    char plug[PATH_MAX * 2 + 16];
    const char *acts, *plugins;
    fx_answer a;
    errs e = {0};
    gen *hg;
    int total;

    fx_scratch(dir, sizeof dir, "orphans");
    acts = fx_fresh_dir(dir, "activities");
    /* testplug alone: the test plugins' directory holds broken ones. */
    plugins = fx_fresh_dir(dir, "plugins");
    snprintf(so, sizeof so, "%s/testplug.so", tplugins);
    snprintf(plug, sizeof plug, "%s/testplug.so", plugins);
    if (symlink(so, plug) < 0)
        printf("# symlink %s: %s\n", plug, strerror(errno));
    fx_put(acts, "hold.conf",
           "activities = ({ id = 9100; name = \"hold\";"
           " start = \"2026-01-01T00:00:00Z\"; end = \"2030-01-01T00:00:00Z\";"
           " methods = ({ name = \"hold\"; login = true;"
           " operations = ({ use = \"testplug.hold\"; }); }); });\n");
    fs.in = fx_store_open("mem:orphans", 0, STORE_SYNC_FULL);
    fs.fail_at = 0;
    hg = fx_gen_build(plugins, acts, 1, &e);
    if (!ok(hg != NULL, "an activity whose operation takes a plugin lock")) {
        fx_dump_errs(&e);
        errs_free(&e);
        store_close(fs.in);
        return;
    }
    errs_free(&e);
    svc_release_orphans(NOW); /* forget the scenarios' (their stores are
                                 gone: nothing to release there) */
    ok(svc_orphans() == 0, "no orphaned locks to begin with");
    fs.calls = 0;
    fx_run(hg, 9100, "hold", "o", "C", NOW, &a);
    total = fs.calls;
    ok(a.http_status == 200 && strcmp(a.reason, "ok") == 0 && total >= 2,
       "a clean run takes and releases the lock (%d store calls)", total);
    fs.calls = 0;
    fs.fail_at = total; /* the last call: the lock's release */
    fs.mode = F_BEFORE;
    fx_run(hg, 9100, "hold", "o", "R", NOW, &a);
    fs.fail_at = 0;
    snprintf(key, sizeof key, "{a9100}g:held");
    ok(a.http_status == 200 &&
           store_lock_get(fs.in, key, NOW, &holder) == AMS_OK &&
           svc_orphans() == 1,
       "a run whose lock release failed: ok, the lock still held, one "
       "orphan (%zu)",
       svc_orphans());
    free(holder);
    fs.calls = 0;
    fs.fail_at = 1;
    ok(svc_release_orphans(NOW + 5) == 0 && svc_orphans() == 1 &&
           store_lock_get(fs.in, key, NOW + 5, NULL) == AMS_OK,
       "the store still failing: not released, still remembered");
    fs.fail_at = 0;
    ok(svc_release_orphans(NOW + 6) == 1 && svc_orphans() == 0 &&
           store_lock_get(fs.in, key, NOW + 6, NULL) == AMS_NOT_FOUND,
       "the store back: released and forgotten");
    gen_unref(hg);
    store_close(fs.in);
}

/* The wrapper's write sets and reads in one step, which no grab makes
 * yet: a fault before leaves nothing applied and says so, a fault after
 * applies and says it may have; neither hands anything back. */
static void test_wrapper_sets(void)
{
    store_wop op[2] = {
        {.kind = STORE_W_ADD, .key = "c", .delta = 1, .lo = 0, .hi = 10},
        {.kind = STORE_W_APPEND, .key = "l", .val = "e", .len = 1}};
    store_wset w = {op, 2, NOW};
    store_wres r;
    store_rkey k = {STORE_F_COUNTER, "c"};
    store_rval v;
    store_item *it = NULL;
    size_t cnt = 9;
    int64_t c = -1;

    fs.in = fx_store_open("mem:wrapper", 0, STORE_SYNC_FULL);
    fs.calls = 0;
    fs.fail_at = 1;
    fs.mode = F_BEFORE;
    ok(store_commit(&fs.base, &w, 1, &r) == AMS_ERR_STORE &&
           r.st == AMS_ERR_STORE && r.unknown == 0 &&
           store_counter_get(fs.in, "c", NOW, &c) == AMS_OK && c == 0,
       "commit, a fault before: AMS_ERR_STORE, unknown 0, nothing applied");
    fs.calls = 0;
    fs.mode = F_AFTER;
    ok(store_commit(&fs.base, &w, 1, &r) == AMS_ERR_STORE &&
           r.st == AMS_ERR_STORE && r.unknown == 1 &&
           store_counter_get(fs.in, "c", NOW, &c) == AMS_OK && c == 1,
       "commit, a fault after: AMS_ERR_STORE, unknown 1, applied");
    fs.calls = 0;
    ok(store_read_many(&fs.base, &k, 1, NOW, &v) == AMS_ERR_STORE &&
           v.val == NULL && v.num == 0,
       "read_many, a fault after: AMS_ERR_STORE, nothing handed back");
    fs.calls = 0;
    ok(store_list_range(&fs.base, "l", 0, 10, NOW, &it, &cnt) ==
               AMS_ERR_STORE &&
           it == NULL && cnt == 0,
       "list_range, a fault after: AMS_ERR_STORE, no entries (freed)");
    fs.fail_at = 0;
    ok(store_commit(&fs.base, &w, 1, &r) == AMS_OK && r.st == AMS_OK &&
           store_list_range(&fs.base, "l", 0, 10, NOW, &it, &cnt) == AMS_OK &&
           cnt == 2,
       "no fault: the calls pass through");
    store_items_free(it, cnt);
    store_close(fs.in);
}

int main(void)
{
    const char *tp = getenv("AMS_TEST_PLUGINS"), *src = getenv("AMS_SOURCE");
    char plugins[PATH_MAX], acts[PATH_MAX];
    errs e = {0};

    if (tp == NULL || src == NULL) {
        printf("Bail out! AMS_TEST_PLUGINS and AMS_SOURCE must be set\n");
        return 1;
    }
    snprintf(plugins, sizeof plugins, "%s/../../plugins", tp);
    snprintf(acts, sizeof acts, "%s/conf/activities", src);
    fs.base.ops = &fops;
    svc.st = &fs.base;
    svc.idem_ttl_ms = 86400000;
    svc_seed(1);
    /* Plugin init may touch the store: give it a healthy one. */
    fs.in = fx_store_open("mem:init", 0, STORE_SYNC_FULL);
    g = fx_gen_build(plugins, acts, 1, &e);
    store_close(fs.in);
    if (!ok(g != NULL, "the 1003 flash sale builds")) {
        fx_dump_errs(&e);
        return tap_done();
    }
    test_every_call();
    test_legacy();
    test_orphans(tp);
    test_wrapper_sets();
    gen_unref(g);
    errs_free(&e);
    return tap_done();
}
