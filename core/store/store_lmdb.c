/*
 * store_lmdb.c -- the embedded store backend: one LMDB environment per
 * node, shared by the worker processes through its memory map.
 *
 * Why one file of this size: one backend, one file (DESIGN.md §6), its
 * sections in the order of store.h's record families, like the other
 * backends', so that they read side by side; a family's code is short,
 * there are eight of them.
 *
 * Layout: three named databases in one environment.
 *
 *   "data"    key:   family byte + caller key, so the families are
 *                    separate key spaces (board retirements: family byte
 *                    + board id, see below; list entries: 'L' + caller
 *                    key + 0x00 + seq, see Lists)
 *             value: header + payload
 *                    [0]      family byte again: a record can never be
 *                             parsed as another family's
 *                    [1..8]   expire_at_ms, int64 big-endian, 0 = never
 *                    [9..16]  version, uint64 big-endian (values; 0 else)
 *                    [17..]   counter: int64 big-endian; lock: the token;
 *                             tag and value: the caller's bytes; board:
 *                             its id, uint64 big-endian; retired board:
 *                             nothing; journal: see store_enc.h;
 *                             list entry: the entry's bytes, and in
 *                             the version field the seq of its
 *                             generation's first entry (see Lists)
 *   "expiry"  key:   expire_at_ms (big-endian, sign bit flipped so that
 *                    byte order is numeric order) + data key
 *             value: empty
 *   "board"   the members of every board, under the board's id (8 bytes,
 *             big-endian), never under its key:
 *                    id + 'm' + member           -> score, time (int64
 *                                                   big-endian each)
 *                    id + 'o' + ~score + time + member  -> empty
 *             score and time are big-endian with the sign bit flipped and
 *             the score's bits inverted, so the 'o' ("order") entries of a
 *             board sort best first: score descending, then the time the
 *             member reached it ascending, then member bytes ascending.
 *             The 8 zero bytes key holds the last id handed out.
 *
 * Every record with an expiry has exactly one index entry, so sweep reads
 * the index from its start and stops at the first entry still in the
 * future: its cost follows what it removes, not the size of the store.
 *
 * Boards.  A board is its header record in "data" (family 'b', key: the
 * caller's key) holding an id, and the member entries under that id in
 * "board".  Ids come from a counter kept in the store, so they are never
 * reused (not even by a compacting copy, which resets LMDB's transaction
 * ids), and a fixed-width id ahead of every member key means no board can
 * read another's entries, whatever their keys.  The header carries the
 * board's expiry and its index entry; when a board expires, its members
 * cannot go in the same step: a board may hold 100k of them, and one
 * write transaction must stay short.  So expiring a board (sweep, or a
 * board_set over an expired header, which starts a new board with a new
 * id) turns it into a retirement record in "data", key 'd' + id, with the
 * board's old expiry and an index entry of its own; sweep then deletes
 * that id's members, at most as many per call as its budget allows, and
 * the retirement record and its index entry with the last of them.  A
 * sweep counts a board's header and each of its members as one removed
 * record each.
 *
 * Costs, for a board of N members: board_set O(log N) (one header read,
 * one member lookup, at most two order entries written); board_top(n)
 * O(log N + n), a cursor walk; board_rank O(log N + rank): LMDB keeps no
 * subtree counts, so rank counts the order entries ahead of the member.
 * That is microseconds per thousand ranks ahead, fine for boards up to
 * ~100k members; bigger ones would want a counted tree.
 *
 * Lists (the ledger: APPEND in a write set, list_range).  No header
 * record: a list is its entries, in "data" under 'L' + the caller's key
 * + 0x00 + a sequence number (uint32 big-endian), in append order.
 * Caller keys are printable ASCII, so the 0x00 ends the key and no other
 * list's entries can sort between a list's.  An append finds the last
 * entry with one cursor lookup (MDB_SET_RANGE to seq 0xffffffff, then
 * one step back) and writes the next seq: O(log n) whatever the list's
 * length, the 10,000th entry costing what the first did.  A list holds
 * at most 2^32 entries; an append past that is refused (AMS_ERR).
 * Every entry carries the list's expiry and its generation (the seq of
 * the generation's first entry).  A generation is what one creating
 * append started: the list's expiry is set then and kept by later
 * appends, as for counters.  An append to an expired list that sweep
 * has not removed yet starts a new generation after the old entries,
 * with the append's expiry; so the last entry always tells whether the
 * list is live and where its live part starts, and list_range walks
 * only that part, from its base (or the oldest entry sweep left of it,
 * seen only with a clock set back) + from.  The first entry of a
 * generation with an expiry holds its index entry: one per generation,
 * not one per entry.  Sweep deletes an expired generation's entries
 * oldest first, each one removed record and one of the budget (as a
 * board's members: a ledger may hold thousands, one write transaction
 * must stay short, and *removed == max must still mean "call again");
 * when the budget runs out inside the generation it moves the index
 * entry to the first entry left, at the same expiry, so the next sweep
 * goes on from there and no entry is counted twice.  It stops at the
 * first entry of a newer generation, which has an index entry of its
 * own.
 *
 * Integers are encoded byte by byte: values sit at arbitrary offsets in
 * the map, where a pointer cast would be an unaligned access.
 *
 * Every call is one transaction, and so is a commit of a whole batch of
 * write sets (see that section).  LMDB serialises writers across
 * processes with a robust process-shared mutex; that is what makes
 * counter_add and value_cas atomic between workers.  A writer killed
 * before its commit returned leaves all of its transaction or none of it
 * (all only when it died after writing the meta page: then readers may
 * see the state before it until the next writer takes the mutex back from
 * the dead one, EOWNERDEAD, and adopts that meta page).  A dead reader's
 * slot only pins old pages; mdb_reader_check() at open and in sweep frees
 * it.
 */
#include "store_backend.h"
#include "store_enc.h"
#include "store_lmdb.h"

#include <errno.h>
#include <limits.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    FAM_COUNTER = 'c',
    FAM_LOCK = 'l',
    FAM_TAG = 't',
    FAM_VALUE = 'v',
    FAM_BOARD = 'b',   /* a board's header */
    FAM_RETIRED = 'd', /* an expired board whose members are still there */
    FAM_JOURNAL = 'j', /* body: store_enc.h */
    FAM_LIST = 'L',    /* one entry of a list: see the top */
};

#define LM_HDR 17                          /* family + expire_at + version */
#define LM_KEY_MAX (1 + STORE_KEY_MAX)     /* family + caller key */
#define LM_SEQ 4                           /* a list entry's sequence number */
#define LM_LPRE_MAX (LM_KEY_MAX + 1)       /* 'L' + list key + 0x00 */
#define LM_LKEY_MAX (LM_LPRE_MAX + LM_SEQ) /* the longest data key */
#define LM_IDX_MAX (8 + LM_LKEY_MAX)       /* expire_at + data key */
#define LM_SEQ_LAST 0xffffffffu
#define LM_MAP_DEFAULT ((size_t)1 << 30)

/* Board entries: id + kind + (order: score + time) + member. */
#define LM_MEMBER_MAX 256
#define LM_BID 8                               /* id */
#define LM_BPRE (LM_BID + 1)                   /* id + kind */
#define LM_BORD (LM_BPRE + STORE_ORDER_PREFIX) /* order key w/o member */
#define LM_BKEY_MAX (LM_BORD + LM_MEMBER_MAX)
#define LM_BVAL 16 /* member entry: score + time */
enum { BK_MEMBER = 'm', BK_ORDER = 'o' };

typedef struct lm_store {
    store base;
    MDB_env *env;
    MDB_dbi data;
    MDB_dbi expiry;
    MDB_dbi board;
    pid_t pid; /* the process that opened the environment */
} lm_store;

/* One call in progress: its transaction and the record it is about. */
typedef struct lm_call {
    lm_store *ls;
    MDB_txn *txn;
    const char *op; /* names the call in log lines */
    int dirty;      /* something was written: commit, don't abort */
    int rc;         /* the LMDB error that failed the load, 0 if none */
    unsigned char key[LM_LKEY_MAX];
    size_t klen;
    /* The stored record.  An expired one is stored but not live: it reads
     * as absent, yet its index entry must be fixed when it is replaced. */
    int stored;
    int live;
    int64_t expire_at_ms;
    uint64_t version;
    const unsigned char *body; /* in the map: valid until the next write
                                  or the end of the transaction */
    size_t len;
} lm_call;

static const store_ops lm_ops;

/* ---- encoding ---- */

/* Flipping the sign bit makes memcmp order of the big-endian bytes equal
 * to signed order, which LMDB's default key comparison relies on. */
#define LM_SIGN STORE_SIGN

static size_t lm_idx_key(unsigned char *out, int64_t expire_at_ms,
                         const unsigned char *key, size_t klen)
{
    store_put_u64(out, (uint64_t)expire_at_ms ^ LM_SIGN);
    memcpy(out + 8, key, klen);
    return 8 + klen;
}

static int64_t lm_idx_expire(const unsigned char *idx)
{
    return (int64_t)(store_get_u64(idx) ^ LM_SIGN);
}

/* ---- errors ---- */

static ams_status lm_fail(const char *op, int rc)
{
    fprintf(stderr, "store: lmdb: %s: %s\n", op, mdb_strerror(rc));
    return AMS_ERR_STORE;
}

static ams_status lm_corrupt(const char *op)
{
    fprintf(stderr, "store: lmdb: %s: corrupt record\n", op);
    return AMS_ERR_STORE;
}

/* A caller bug, not a store fault: AMS_ERR so it is answered 500. */
static ams_status lm_bad(const char *op, const char *why)
{
    fprintf(stderr, "store: lmdb: %s: %s\n", op, why);
    return AMS_ERR;
}

/* ---- transactions and records ---- */

static int lm_txn_begin(lm_store *ls, unsigned flags, MDB_txn **txn)
{
    int rc = mdb_txn_begin(ls->env, NULL, flags, txn);

    /* Another process grew the map (a restart with a larger
     * lmdb_map_size while older workers still run): adopt its size. */
    if (rc == MDB_MAP_RESIZED) {
        rc = mdb_env_set_mapsize(ls->env, 0);
        if (rc == 0)
            rc = mdb_txn_begin(ls->env, NULL, flags, txn);
    }
    return rc;
}

static ams_status lm_load(lm_call *c, int64_t now_ms)
{
    MDB_val k = {c->klen, c->key}, v;
    const unsigned char *p;
    int rc = mdb_get(c->txn, c->ls->data, &k, &v);

    if (rc == MDB_NOTFOUND)
        return AMS_OK;
    if (rc != 0) {
        c->rc = rc;
        return lm_fail(c->op, rc);
    }
    p = v.mv_data;
    if (v.mv_size < LM_HDR || p[0] != c->key[0])
        return lm_corrupt(c->op);
    c->stored = 1;
    c->expire_at_ms = (int64_t)store_get_u64(p + 1);
    c->version = store_get_u64(p + 9);
    c->body = p + LM_HDR;
    c->len = v.mv_size - LM_HDR;
    c->live = c->expire_at_ms == 0 || c->expire_at_ms > now_ms;
    return AMS_OK;
}

/* Load the record of key in family fam into c, inside the transaction
 * txn that c shares with the call that opened it (one atomic step over
 * two records: a journaled add).  Nothing to finish. */
static ams_status lm_at(lm_call *c, lm_store *ls, MDB_txn *txn, const char *op,
                        int fam, const char *key, int64_t now_ms)
{
    size_t klen = key != NULL ? strlen(key) : 0;

    if (klen == 0 || klen > STORE_KEY_MAX)
        return lm_bad(op, "key is empty or longer than STORE_KEY_MAX");
    memset(c, 0, sizeof *c);
    c->ls = ls;
    c->op = op;
    c->txn = txn;
    c->key[0] = (unsigned char)fam;
    memcpy(c->key + 1, key, klen);
    c->klen = 1 + klen;
    return lm_load(c, now_ms);
}

/* Start a call on key in family fam: check the key, open the transaction
 * (MDB_RDONLY for reads) and load the record.  On success the caller must
 * finish with lm_end(). */
static ams_status lm_begin(lm_call *c, store *s, const char *op, int fam,
                           const char *key, int64_t now_ms, unsigned flags)
{
    lm_store *ls = (lm_store *)s;
    MDB_txn *txn;
    size_t klen = key != NULL ? strlen(key) : 0;
    ams_status st;
    int rc;

    if (klen == 0 || klen > STORE_KEY_MAX)
        return lm_bad(op, "key is empty or longer than STORE_KEY_MAX");
    rc = lm_txn_begin(ls, flags, &txn);
    if (rc != 0)
        return lm_fail(op, rc);
    st = lm_at(c, ls, txn, op, fam, key, now_ms);
    if (st != AMS_OK)
        mdb_txn_abort(txn);
    return st;
}

/* Commit what the call wrote if it succeeded, otherwise drop it; returns
 * st, or AMS_ERR_STORE when the commit fails (MDB_MAP_FULL surfaces
 * either here or at the write). */
static ams_status lm_end(lm_call *c, ams_status st)
{
    int rc;

    if (!c->dirty || st < 0) {
        mdb_txn_abort(c->txn);
        return st;
    }
    rc = mdb_txn_commit(c->txn);
    return rc == 0 ? st : lm_fail(c->op, rc);
}

static ams_status lm_idx_put(lm_call *c, int64_t expire_at_ms)
{
    unsigned char buf[LM_IDX_MAX];
    MDB_val k = {lm_idx_key(buf, expire_at_ms, c->key, c->klen), buf};
    MDB_val v = {0, NULL};
    int rc = mdb_put(c->txn, c->ls->expiry, &k, &v, 0);

    return rc == 0 ? AMS_OK : lm_fail(c->op, rc);
}

static ams_status lm_idx_del(lm_call *c, int64_t expire_at_ms)
{
    unsigned char buf[LM_IDX_MAX];
    MDB_val k = {lm_idx_key(buf, expire_at_ms, c->key, c->klen), buf};
    int rc = mdb_del(c->txn, c->ls->expiry, &k, NULL);

    /* A missing entry is what we want anyway. */
    return rc == 0 || rc == MDB_NOTFOUND ? AMS_OK : lm_fail(c->op, rc);
}

/* Move the record's index entry from its stored expiry to expire_at_ms. */
static ams_status lm_reindex(lm_call *c, int64_t expire_at_ms)
{
    ams_status st = AMS_OK;

    if (c->stored && c->expire_at_ms == expire_at_ms)
        return AMS_OK;
    if (c->stored && c->expire_at_ms != 0)
        st = lm_idx_del(c, c->expire_at_ms);
    if (st == AMS_OK && expire_at_ms != 0)
        st = lm_idx_put(c, expire_at_ms);
    return st;
}

/* Write the call's record.  body is the caller's memory, never the map:
 * the write may move or reuse the pages c->body points into. */
static ams_status lm_put(lm_call *c, int64_t expire_at_ms, uint64_t version,
                         const void *body, size_t len)
{
    MDB_val k = {c->klen, c->key}, v = {LM_HDR + len, NULL};
    unsigned char *p;
    ams_status st = lm_reindex(c, expire_at_ms);
    int rc;

    if (st != AMS_OK)
        return st;
    rc = mdb_put(c->txn, c->ls->data, &k, &v, MDB_RESERVE);
    if (rc != 0)
        return lm_fail(c->op, rc);
    p = v.mv_data;
    p[0] = c->key[0];
    store_put_u64(p + 1, (uint64_t)expire_at_ms);
    store_put_u64(p + 9, version);
    if (len > 0)
        memcpy(p + LM_HDR, body, len);
    c->dirty = 1;
    return AMS_OK;
}

static ams_status lm_del(lm_call *c)
{
    MDB_val k = {c->klen, c->key};
    ams_status st = AMS_OK;
    int rc;

    if (c->expire_at_ms != 0)
        st = lm_idx_del(c, c->expire_at_ms);
    if (st != AMS_OK)
        return st;
    rc = mdb_del(c->txn, c->ls->data, &k, NULL);
    if (rc != 0)
        return lm_fail(c->op, rc);
    c->dirty = 1;
    return AMS_OK;
}

/* A malloc'd, NUL-terminated copy of the record's body, owned by the
 * caller; NULL when out of memory. */
static char *lm_body_dup(const lm_call *c)
{
    char *p = malloc(c->len + 1);

    if (p != NULL) {
        if (c->len > 0)
            memcpy(p, c->body, c->len);
        p[c->len] = '\0';
    }
    return p;
}

/* ---- counters ----
 *
 * Expiry policy: expire_at_ms is applied when the counter is created (it
 * was absent or expired); later adds keep the stored expiry whatever they
 * pass.  A periodic counter's key names its period and its expiry is the
 * end of that period, so the first add decides it; keeping it means a
 * caller with a skewed clock cannot extend an old period's life. */

static ams_status lm_counter_value(const lm_call *c, int64_t *v)
{
    *v = 0;
    if (!c->live)
        return AMS_OK;
    if (c->len != 8)
        return lm_corrupt(c->op);
    *v = (int64_t)store_get_u64(c->body);
    return AMS_OK;
}

/* ---- journals (store.h; body: store_enc.h) ---- */

/* Load journal j into jc, in c's transaction; *closed: it is live and
 * closed (a write naming it is refused). */
static ams_status lm_jrn_at(lm_call *jc, const lm_call *c,
                            const store_journal *j, int64_t now_ms,
                            int *closed)
{
    ams_status st =
        lm_at(jc, c->ls, c->txn, c->op, FAM_JOURNAL, j->key, now_ms);

    *closed = 0;
    if (st != AMS_OK || !jc->live)
        return st;
    if (store_jrn_count(jc->body, jc->len) < 0)
        return lm_corrupt(c->op);
    *closed = jc->body[0] != STORE_JRN_OPEN;
    if (*closed)
        fprintf(stderr,
                "store: lmdb: %s: write refused: its journal is closed (the "
                "request's attempt was rolled back by a retry)\n",
                c->op);
    return AMS_OK;
}

/* Close the journal, giving back its adds when asked, in one
 * transaction (store.h). */
static ams_status lm_journal_close(store *s, const store_journal *j,
                                   int give_back, int64_t now_ms,
                                   size_t *undone)
{
    lm_call jc, cc;
    unsigned char *copy = NULL, b[8];
    size_t n = 0, pos = 1, klen, len = 1;
    const unsigned char *key;
    char kbuf[STORE_KEY_MAX + 1];
    int64_t delta, v, back;
    int state = 0; /* absent */
    ams_status st =
        lm_begin(&jc, s, "journal_close", FAM_JOURNAL, j->key, now_ms, 0);

    if (undone != NULL)
        *undone = 0;
    if (st != AMS_OK)
        return st;
    if (jc.live) {
        if (store_jrn_count(jc.body, jc.len) < 0)
            return lm_end(&jc, lm_corrupt(jc.op));
        state = jc.body[0];
        len = jc.len;
    }
    if (state == STORE_JRN_GIVEN_BACK ||
        (state == STORE_JRN_CLOSED && !give_back))
        return lm_end(&jc, AMS_OK);
    /* A copy out of the map: the counters' writes may move the pages
     * jc.body points into. */
    if ((copy = malloc(len)) == NULL)
        return lm_end(&jc, AMS_ERR_NOMEM);
    if (jc.live)
        memcpy(copy, jc.body, len);
    while (give_back && jc.live && st == AMS_OK &&
           store_jrn_next(copy, len, &pos, &delta, &key, &klen) == 1) {
        if (klen > STORE_KEY_MAX) {
            st = lm_corrupt(jc.op);
            break;
        }
        memcpy(kbuf, key, klen);
        kbuf[klen] = '\0';
        st = lm_at(&cc, jc.ls, jc.txn, jc.op, FAM_COUNTER, kbuf, now_ms);
        if (st == AMS_OK && cc.live)
            st = lm_counter_value(&cc, &v);
        /* An expired counter stays absent: its period is over, there is
         * nothing left to give back to. */
        if (st != AMS_OK || !cc.live ||
            __builtin_sub_overflow(v, delta, &back))
            continue;
        store_put_u64(b, (uint64_t)back);
        if ((st = lm_put(&cc, cc.expire_at_ms, 0, b, sizeof b)) == AMS_OK)
            n++;
    }
    if (give_back) {
        len = 1;
        copy[0] = STORE_JRN_GIVEN_BACK;
    } else {
        copy[0] = STORE_JRN_CLOSED; /* entries kept for a give back */
    }
    if (st == AMS_OK)
        st = lm_put(&jc, jc.live ? jc.expire_at_ms : j->expire_at_ms, 0, copy,
                    len);
    free(copy);
    st = lm_end(&jc, st);
    if (undone != NULL && st == AMS_OK)
        *undone = n;
    return st;
}

static ams_status lm_counter_add(store *s, const char *key, int64_t delta,
                                 int64_t lo, int64_t hi, int64_t expire_at_ms,
                                 int64_t now_ms, int64_t *out,
                                 const store_journal *j)
{
    lm_call c, jc;
    int64_t cur, next = 0;
    unsigned char b[8], *jb = NULL;
    size_t jlen = 0, klen = strlen(key != NULL ? key : "");
    int closed = 0;
    ams_status st =
        lm_begin(&c, s, "counter_add", FAM_COUNTER, key, now_ms, 0);

    if (st != AMS_OK)
        return st;
    if (j != NULL) {
        st = lm_jrn_at(&jc, &c, j, now_ms, &closed);
        if (st == AMS_OK && closed)
            st = AMS_ERR_STORE;
        else if (st == AMS_OK && jc.live &&
                 store_jrn_count(jc.body, jc.len) >= STORE_JOURNAL_MAX)
            st = lm_bad("counter_add", "journal full");
    }
    if (st == AMS_OK)
        st = lm_counter_value(&c, &cur);
    if (st == AMS_OK) {
        /* Overflow is a bound like any other: the add does not happen. */
        if (__builtin_add_overflow(cur, delta, &next) || next < lo ||
            next > hi) {
            next = cur;
            st = AMS_CONFLICT;
        } else if (j != NULL) {
            /* The journal's new body, copied out of the map before the
             * counter's write can move the pages it lives in. */
            size_t old = jc.live ? jc.len : 1;
            jlen = old + STORE_JRN_ENTRY_HDR + klen;
            if ((jb = malloc(jlen)) == NULL) {
                st = AMS_ERR_NOMEM;
            } else {
                if (jc.live)
                    memcpy(jb, jc.body, old);
                else
                    jb[0] = STORE_JRN_OPEN;
                store_jrn_entry(jb + old, delta, key, klen);
            }
        }
    }
    if (st == AMS_OK) {
        store_put_u64(b, (uint64_t)next);
        st =
            lm_put(&c, c.live ? c.expire_at_ms : expire_at_ms, 0, b, sizeof b);
    }
    if (st == AMS_OK && jb != NULL)
        st = lm_put(&jc, jc.live ? jc.expire_at_ms : j->expire_at_ms, 0, jb,
                    jlen);
    free(jb);
    st = lm_end(&c, st);
    if (out != NULL && st >= 0)
        *out = next;
    return st;
}

/* An absent or expired counter reads as 0 with AMS_OK, the value an add
 * would start from: callers never need to tell the two apart. */
static ams_status lm_counter_get(store *s, const char *key, int64_t now_ms,
                                 int64_t *out)
{
    lm_call c;
    int64_t v;
    ams_status st =
        lm_begin(&c, s, "counter_get", FAM_COUNTER, key, now_ms, MDB_RDONLY);

    if (st != AMS_OK)
        return st;
    st = lm_end(&c, lm_counter_value(&c, &v));
    if (out != NULL && st == AMS_OK)
        *out = v;
    return st;
}

/* ---- locks: re-entrant by token, released only by their token ---- */

static int lm_holds(const lm_call *c, const char *token, size_t tlen)
{
    return c->live && c->len == tlen && memcmp(c->body, token, tlen) == 0;
}

static ams_status lm_lock_acquire(store *s, const char *key, const char *token,
                                  int64_t expire_at_ms, int64_t now_ms)
{
    lm_call c;
    size_t tlen = token != NULL ? strlen(token) : 0;
    ams_status st;

    if (tlen == 0)
        return lm_bad("lock_acquire", "empty token");
    st = lm_begin(&c, s, "lock_acquire", FAM_LOCK, key, now_ms, 0);
    if (st != AMS_OK)
        return st;
    if (c.live && !lm_holds(&c, token, tlen))
        st = AMS_CONFLICT;
    else
        st = lm_put(&c, expire_at_ms, 0, token, tlen);
    return lm_end(&c, st);
}

static ams_status lm_lock_release(store *s, const char *key, const char *token,
                                  int64_t now_ms)
{
    lm_call c;
    size_t tlen = token != NULL ? strlen(token) : 0;
    ams_status st;

    if (tlen == 0)
        return lm_bad("lock_release", "empty token");
    st = lm_begin(&c, s, "lock_release", FAM_LOCK, key, now_ms, 0);
    if (st != AMS_OK)
        return st;
    st = lm_holds(&c, token, tlen) ? lm_del(&c) : AMS_CONFLICT;
    return lm_end(&c, st);
}

/* The holder's token as a malloc'd string the caller owns;
 * AMS_NOT_FOUND when the lock is free (absent or expired). */
static ams_status lm_lock_get(store *s, const char *key, int64_t now_ms,
                              char **token)
{
    lm_call c;
    char *copy = NULL;
    ams_status st =
        lm_begin(&c, s, "lock_get", FAM_LOCK, key, now_ms, MDB_RDONLY);

    if (st != AMS_OK)
        return st;
    if (!c.live)
        st = AMS_NOT_FOUND;
    else if ((copy = lm_body_dup(&c)) == NULL)
        st = AMS_ERR_NOMEM;
    if (token != NULL)
        *token = copy;
    else
        free(copy);
    return lm_end(&c, st);
}

/* ---- tags ---- */

static ams_status lm_tag_set(store *s, const char *key, const char *val,
                             size_t len, int64_t expire_at_ms, int64_t now_ms)
{
    lm_call c;
    ams_status st;

    if (val == NULL && len > 0)
        return lm_bad("tag_set", "NULL value");
    st = lm_begin(&c, s, "tag_set", FAM_TAG, key, now_ms, 0);
    if (st != AMS_OK)
        return st;
    return lm_end(&c, lm_put(&c, expire_at_ms, 0, val, len));
}

/* *val (may be NULL) receives a malloc'd copy owned by the caller, with a
 * NUL after its *len bytes; NULL and AMS_NOT_FOUND when absent. */
static ams_status lm_tag_get(store *s, const char *key, int64_t now_ms,
                             char **val, size_t *len)
{
    lm_call c;
    char *copy = NULL;
    ams_status st =
        lm_begin(&c, s, "tag_get", FAM_TAG, key, now_ms, MDB_RDONLY);

    if (st != AMS_OK)
        return st;
    if (!c.live)
        st = AMS_NOT_FOUND;
    else if (val != NULL && (copy = lm_body_dup(&c)) == NULL)
        st = AMS_ERR_NOMEM;
    if (len != NULL)
        *len = st == AMS_OK ? c.len : 0;
    if (val != NULL)
        *val = copy;
    return lm_end(&c, st);
}

/* Deleting an absent (or expired) tag is AMS_NOT_FOUND, so a caller that
 * cares can tell "removed" from "was not there"; the many that don't
 * treat both as done. */
static ams_status lm_tag_del(store *s, const char *key, int64_t now_ms)
{
    lm_call c;
    ams_status st = lm_begin(&c, s, "tag_del", FAM_TAG, key, now_ms, 0);

    if (st != AMS_OK)
        return st;
    return lm_end(&c, c.live ? lm_del(&c) : AMS_NOT_FOUND);
}

/* ---- versioned values ----
 *
 * Version policy: an absent value has version 0; a successful cas stores
 * the id of its write transaction.  LMDB's transaction ids only grow, so
 * versions of one key strictly increase and are never reused, not even
 * after the value expired and was created again: a caller still holding
 * an expired value's version can never overwrite its successor. */

/* *val (may be NULL) receives a malloc'd, NUL-terminated copy owned by
 * the caller; *val NULL, *len 0, *version 0 and AMS_NOT_FOUND when
 * absent. */
static ams_status lm_value_get(store *s, const char *key, int64_t now_ms,
                               char **val, size_t *len, uint64_t *version)
{
    lm_call c;
    char *copy = NULL;
    ams_status st =
        lm_begin(&c, s, "value_get", FAM_VALUE, key, now_ms, MDB_RDONLY);

    if (st != AMS_OK)
        return st;
    if (!c.live)
        st = AMS_NOT_FOUND;
    else if (val != NULL && (copy = lm_body_dup(&c)) == NULL)
        st = AMS_ERR_NOMEM;
    if (len != NULL)
        *len = st == AMS_OK ? c.len : 0;
    if (version != NULL)
        *version = st == AMS_OK ? c.version : 0;
    if (val != NULL)
        *val = copy;
    return lm_end(&c, st);
}

/* *version (may be NULL) receives the new version on AMS_OK and the
 * current one on AMS_CONFLICT.  expire_at_ms replaces the stored expiry
 * on every successful cas. */
static ams_status lm_value_cas(store *s, const char *key, uint64_t expect,
                               const char *val, size_t len,
                               int64_t expire_at_ms, int64_t now_ms,
                               uint64_t *version, const store_journal *j)
{
    lm_call c, jc;
    uint64_t cur;
    int closed = 0;
    ams_status st;

    if (val == NULL && len > 0)
        return lm_bad("value_cas", "NULL value");
    st = lm_begin(&c, s, "value_cas", FAM_VALUE, key, now_ms, 0);
    if (st != AMS_OK)
        return st;
    if (j != NULL &&
        ((st = lm_jrn_at(&jc, &c, j, now_ms, &closed)) != AMS_OK || closed))
        return lm_end(&c, st != AMS_OK ? st : AMS_ERR_STORE);
    cur = c.live ? c.version : 0;
    if (cur != expect)
        st = AMS_CONFLICT;
    else
        st = lm_put(&c, expire_at_ms, cur = (uint64_t)mdb_txn_id(c.txn), val,
                    len);
    st = lm_end(&c, st);
    if (version != NULL && st >= 0)
        *version = cur;
    return st;
}

/* ---- leaderboards (layout and costs: see the top of the file) ----
 *
 * Expiry policy, as for counters: expire_at_ms is applied when the board
 * is created (it was absent or expired); later sets keep the board's
 * expiry whatever they pass.  An absent or expired board has no members:
 * board_top gives an empty list (AMS_OK), board_rank AMS_NOT_FOUND. */

static size_t lm_member_key(unsigned char *out, uint64_t id,
                            const char *member, size_t mlen)
{
    store_put_u64(out, id);
    out[LM_BID] = BK_MEMBER;
    memcpy(out + LM_BPRE, member, mlen);
    return LM_BPRE + mlen;
}

static size_t lm_order_key(unsigned char *out, uint64_t id, int64_t score,
                           int64_t time_ms, const char *member, size_t mlen)
{
    store_put_u64(out, id);
    out[LM_BID] = BK_ORDER;
    return LM_BPRE +
           store_order_key(out + LM_BPRE, score, time_ms, member, mlen);
}

static int lm_member_ok(const char *member, size_t *mlen)
{
    *mlen = member != NULL ? strlen(member) : 0;
    return *mlen > 0 && *mlen <= LM_MEMBER_MAX;
}

/* The id a live board header holds. */
static ams_status lm_board_id(const lm_call *c, uint64_t *id)
{
    if (c->len != LM_BID)
        return lm_corrupt(c->op);
    *id = store_get_u64(c->body);
    return AMS_OK;
}

/* Leave the members of board id to sweep: a retirement record expiring at
 * expire_at_ms, with its index entry.  Returns an LMDB error code. */
static int lm_board_retire(lm_store *ls, MDB_txn *txn, uint64_t id,
                           int64_t expire_at_ms)
{
    unsigned char dkey[1 + LM_BID], rec[LM_HDR], ikey[8 + sizeof dkey];
    MDB_val k = {sizeof dkey, dkey}, v = {sizeof rec, rec};
    MDB_val ik = {sizeof ikey, ikey}, iv = {0, NULL};
    int rc;

    dkey[0] = FAM_RETIRED;
    store_put_u64(dkey + 1, id);
    rec[0] = FAM_RETIRED;
    store_put_u64(rec + 1, (uint64_t)expire_at_ms);
    store_put_u64(rec + 9, 0);
    lm_idx_key(ikey, expire_at_ms, dkey, sizeof dkey);
    rc = mdb_put(txn, ls->data, &k, &v, 0);
    return rc == 0 ? mdb_put(txn, ls->expiry, &ik, &iv, 0) : rc;
}

/* Make the call's header a new, empty board: retire the expired one it
 * replaces, if any, and take the next id. */
static ams_status lm_board_create(lm_call *c, int64_t expire_at_ms,
                                  uint64_t *id)
{
    unsigned char seq[LM_BID] = {0}, b[LM_BID];
    MDB_val k = {sizeof seq, seq}, v;
    uint64_t old;
    ams_status st;
    int rc;

    if (c->stored) {
        if ((st = lm_board_id(c, &old)) != AMS_OK)
            return st;
        rc = lm_board_retire(c->ls, c->txn, old, c->expire_at_ms);
        if (rc != 0)
            return lm_fail(c->op, rc);
        c->dirty = 1;
    }
    rc = mdb_get(c->txn, c->ls->board, &k, &v);
    if (rc == 0 && v.mv_size != LM_BID)
        return lm_corrupt(c->op);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return lm_fail(c->op, rc);
    *id = (rc == 0 ? store_get_u64(v.mv_data) : 0) + 1;
    store_put_u64(b, *id);
    v = (MDB_val){sizeof b, b};
    rc = mdb_put(c->txn, c->ls->board, &k, &v, 0);
    if (rc != 0)
        return lm_fail(c->op, rc);
    c->dirty = 1;
    return lm_put(c, expire_at_ms, 0, b, sizeof b);
}

/* Give member of board id the score; a member already at that score
 * keeps its time, and nothing is written. */
static ams_status lm_member_set(lm_call *c, uint64_t id, const char *member,
                                size_t mlen, int64_t score, int64_t now_ms)
{
    unsigned char mk[LM_BKEY_MAX], ok[LM_BKEY_MAX], val[LM_BVAL];
    MDB_val k = {lm_member_key(mk, id, member, mlen), mk}, v, o;
    int rc = mdb_get(c->txn, c->ls->board, &k, &v);

    if (rc == 0) {
        const unsigned char *p = v.mv_data;
        int64_t old;

        if (v.mv_size != LM_BVAL)
            return lm_corrupt(c->op);
        old = (int64_t)store_get_u64(p);
        if (old == score)
            return AMS_OK;
        o = (MDB_val){lm_order_key(ok, id, old, (int64_t)store_get_u64(p + 8),
                                   member, mlen),
                      ok};
        rc = mdb_del(c->txn, c->ls->board, &o, NULL);
        if (rc == MDB_NOTFOUND)
            rc = 0; /* what we want anyway */
    } else if (rc == MDB_NOTFOUND) {
        rc = 0;
    }
    if (rc != 0)
        return lm_fail(c->op, rc);
    store_put_u64(val, (uint64_t)score);
    store_put_u64(val + 8, (uint64_t)now_ms);
    v = (MDB_val){sizeof val, val};
    o = (MDB_val){lm_order_key(ok, id, score, now_ms, member, mlen), ok};
    rc = mdb_put(c->txn, c->ls->board, &k, &v, 0);
    if (rc == 0) {
        MDB_val empty = {0, NULL};
        rc = mdb_put(c->txn, c->ls->board, &o, &empty, 0);
    }
    if (rc != 0)
        return lm_fail(c->op, rc);
    c->dirty = 1;
    return AMS_OK;
}

static ams_status lm_board_set(store *s, const char *key, const char *member,
                               int64_t score, int64_t expire_at_ms,
                               int64_t now_ms)
{
    lm_call c;
    uint64_t id = 0;
    size_t mlen;
    ams_status st;

    if (!lm_member_ok(member, &mlen))
        return lm_bad("board_set", "member is empty or too long");
    st = lm_begin(&c, s, "board_set", FAM_BOARD, key, now_ms, 0);
    if (st != AMS_OK)
        return st;
    st =
        c.live ? lm_board_id(&c, &id) : lm_board_create(&c, expire_at_ms, &id);
    if (st == AMS_OK)
        st = lm_member_set(&c, id, member, mlen, score, now_ms);
    return lm_end(&c, st);
}

/* Position cur on the first order entry of board id; *k receives it.
 * Returns MDB_NOTFOUND when the board has none. */
static int lm_order_first(MDB_cursor *cur, uint64_t id, unsigned char *pre,
                          MDB_val *k)
{
    MDB_val v;
    int rc;

    store_put_u64(pre, id);
    pre[LM_BID] = BK_ORDER;
    *k = (MDB_val){LM_BPRE, pre};
    rc = mdb_cursor_get(cur, k, &v, MDB_SET_RANGE);
    if (rc == 0 && (k->mv_size < LM_BPRE || memcmp(k->mv_data, pre, LM_BPRE)))
        rc = MDB_NOTFOUND;
    return rc;
}

/* The next order entry of the board whose prefix is pre. */
static int lm_order_next(MDB_cursor *cur, const unsigned char *pre, MDB_val *k)
{
    MDB_val v;
    int rc = mdb_cursor_get(cur, k, &v, MDB_NEXT);

    if (rc == 0 && (k->mv_size < LM_BPRE || memcmp(k->mv_data, pre, LM_BPRE)))
        rc = MDB_NOTFOUND;
    return rc;
}

/* Append the order entry k to *out, growing it as needed: n may be far
 * more than the board holds, so it is never allocated up front. */
static ams_status lm_top_push(const MDB_val *k, store_board_entry **out,
                              size_t *count, size_t *cap)
{
    const unsigned char *p = k->mv_data;
    store_board_entry *e;
    size_t mlen;

    if (k->mv_size <= LM_BORD)
        return lm_corrupt("board_top");
    if (*count == *cap) {
        size_t cap2 = *cap ? *cap * 2 : 16;
        store_board_entry *grown = realloc(*out, cap2 * sizeof **out);
        if (grown == NULL)
            return AMS_ERR_NOMEM;
        *out = grown;
        *cap = cap2;
    }
    e = &(*out)[*count];
    mlen = k->mv_size - LM_BORD;
    e->member = malloc(mlen + 1);
    if (e->member == NULL)
        return AMS_ERR_NOMEM;
    memcpy(e->member, p + LM_BORD, mlen);
    e->member[mlen] = '\0';
    e->score = store_score_dec(store_get_u64(p + LM_BPRE));
    (*count)++;
    return AMS_OK;
}

/* The first n order entries of board id into *out (*count of them). */
static ams_status lm_top_read(lm_call *c, uint64_t id, size_t n,
                              store_board_entry **out, size_t *count)
{
    unsigned char pre[LM_BPRE];
    MDB_cursor *cur;
    MDB_val k;
    size_t cap = 0;
    ams_status st = AMS_OK;
    int rc = mdb_cursor_open(c->txn, c->ls->board, &cur);

    if (rc != 0)
        return lm_fail(c->op, rc);
    rc = lm_order_first(cur, id, pre, &k);
    while (rc == 0) {
        st = lm_top_push(&k, out, count, &cap);
        if (st != AMS_OK || *count == n)
            break;
        rc = lm_order_next(cur, pre, &k);
    }
    mdb_cursor_close(cur);
    if (st == AMS_OK && rc != 0 && rc != MDB_NOTFOUND)
        st = lm_fail(c->op, rc);
    return st;
}

/* The board's entries are read in one read transaction: a consistent
 * snapshot even while other processes write. */
static ams_status lm_board_top(store *s, const char *key, size_t n,
                               int64_t now_ms, store_board_entry **out,
                               size_t *count)
{
    lm_call c;
    store_board_entry *got = NULL;
    size_t cnt = 0;
    uint64_t id;
    ams_status st;

    if (out != NULL)
        *out = NULL;
    if (count != NULL)
        *count = 0;
    st = lm_begin(&c, s, "board_top", FAM_BOARD, key, now_ms, MDB_RDONLY);
    if (st != AMS_OK)
        return st;
    if (c.live && n > 0) {
        st = lm_board_id(&c, &id);
        if (st == AMS_OK)
            st = lm_top_read(&c, id, n, &got, &cnt);
    }
    st = lm_end(&c, st);
    if (st != AMS_OK || out == NULL) {
        store_board_free(got, cnt);
        return st;
    }
    *out = got;
    if (count != NULL)
        *count = cnt;
    return st;
}

/* Counts the order entries from the board's first to the member's own:
 * O(rank) (see the top of the file). */
static ams_status lm_rank_count(lm_call *c, uint64_t id, const char *member,
                                size_t mlen, int64_t score, int64_t time_ms,
                                int64_t *rank)
{
    unsigned char pre[LM_BPRE], ok[LM_BKEY_MAX];
    size_t olen = lm_order_key(ok, id, score, time_ms, member, mlen);
    MDB_cursor *cur;
    MDB_val k;
    int64_t r = 1;
    int rc = mdb_cursor_open(c->txn, c->ls->board, &cur);

    if (rc != 0)
        return lm_fail(c->op, rc);
    rc = lm_order_first(cur, id, pre, &k);
    while (rc == 0 &&
           !(k.mv_size == olen && memcmp(k.mv_data, ok, olen) == 0)) {
        r++;
        rc = lm_order_next(cur, pre, &k);
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND) /* a member without its order entry */
        return lm_corrupt(c->op);
    if (rc != 0)
        return lm_fail(c->op, rc);
    *rank = r;
    return AMS_OK;
}

/* *rank and *score (either may be NULL) are 0 unless AMS_OK. */
static ams_status lm_board_rank(store *s, const char *key, const char *member,
                                int64_t now_ms, int64_t *rank, int64_t *score)
{
    lm_call c;
    unsigned char mk[LM_BKEY_MAX];
    MDB_val k, v;
    uint64_t id;
    size_t mlen;
    int64_t r = 0, sc = 0;
    ams_status st;
    int rc;

    if (rank != NULL)
        *rank = 0;
    if (score != NULL)
        *score = 0;
    if (!lm_member_ok(member, &mlen))
        return lm_bad("board_rank", "member is empty or too long");
    st = lm_begin(&c, s, "board_rank", FAM_BOARD, key, now_ms, MDB_RDONLY);
    if (st != AMS_OK)
        return st;
    if (!c.live)
        st = AMS_NOT_FOUND;
    else
        st = lm_board_id(&c, &id);
    if (st == AMS_OK) {
        k = (MDB_val){lm_member_key(mk, id, member, mlen), mk};
        rc = mdb_get(c.txn, c.ls->board, &k, &v);
        if (rc == MDB_NOTFOUND)
            st = AMS_NOT_FOUND;
        else if (rc != 0)
            st = lm_fail(c.op, rc);
        else if (v.mv_size != LM_BVAL)
            st = lm_corrupt(c.op);
        else {
            sc = (int64_t)store_get_u64(v.mv_data);
            st = lm_rank_count(
                &c, id, member, mlen, sc,
                (int64_t)store_get_u64((unsigned char *)v.mv_data + 8), &r);
        }
    }
    st = lm_end(&c, st);
    if (st == AMS_OK) {
        if (rank != NULL)
            *rank = r;
        if (score != NULL)
            *score = sc;
    }
    return st;
}

/* ---- lists (layout: see the top) ----
 *
 * Expiry policy, as for counters and boards: expire_at_ms is applied when
 * an append creates the list (it was absent or expired); later appends
 * keep the list's expiry whatever they pass. */

/* The state of a list, as its last entry tells it. */
typedef struct lm_list {
    unsigned char key[LM_LKEY_MAX]; /* prefix, then room for a seq */
    size_t plen;                    /* 'L' + list key + 0x00 */
    int found;                      /* it has an entry, live or not */
    int live;
    uint32_t last; /* the last entry's seq */
    uint32_t base; /* the seq of its generation's first entry */
    int64_t expire_at_ms;
} lm_list;

static void lm_put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t lm_get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

/* Start l on list key: its prefix; AMS_ERR when the key is bad. */
static ams_status lm_list_init(lm_list *l, const char *op, const char *key)
{
    size_t klen = key != NULL ? strlen(key) : 0;

    memset(l, 0, sizeof *l);
    if (klen == 0 || klen > STORE_KEY_MAX)
        return lm_bad(op, "key is empty or longer than STORE_KEY_MAX");
    l->key[0] = FAM_LIST;
    memcpy(l->key + 1, key, klen);
    l->key[1 + klen] = '\0';
    l->plen = 2 + klen;
    return AMS_OK;
}

/* Read the list's state from its last entry, found with one cursor
 * lookup (the first key after the highest seq the list could have, then
 * one step back): O(log n) whatever the length of the list.  *lrc: the
 * LMDB error, if that is what failed. */
static ams_status lm_list_last(lm_store *ls, MDB_txn *txn, const char *op,
                               lm_list *l, int64_t now_ms, int *lrc)
{
    size_t klen = l->plen + LM_SEQ;
    const unsigned char *p;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, ls->data, &cur);

    l->found = 0;
    if (rc == 0) {
        lm_put_u32(l->key + l->plen, LM_SEQ_LAST);
        k = (MDB_val){klen, l->key};
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc == 0 &&
            !(k.mv_size == klen && memcmp(k.mv_data, l->key, klen) == 0))
            rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
        else if (rc == MDB_NOTFOUND)
            rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        if (rc == 0 && k.mv_size == klen &&
            memcmp(k.mv_data, l->key, l->plen) == 0) {
            l->found = 1;
            l->last = lm_get_u32((const unsigned char *)k.mv_data + l->plen);
        }
        mdb_cursor_close(cur);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        *lrc = rc;
        return lm_fail(op, rc);
    }
    if (!l->found)
        return AMS_OK;
    p = v.mv_data;
    if (v.mv_size < LM_HDR || p[0] != FAM_LIST ||
        store_get_u64(p + 9) > l->last)
        return lm_corrupt(op);
    l->expire_at_ms = (int64_t)store_get_u64(p + 1);
    l->base = (uint32_t)store_get_u64(p + 9);
    l->live = l->expire_at_ms == 0 || l->expire_at_ms > now_ms;
    return AMS_OK;
}

/* Append one entry to list l, whose state lm_list_last just read (and
 * which this updates): after its last entry, in its generation when it
 * is live, else as the first entry of a new generation, which gets
 * expire_at_ms and the index entry.  The caller checked that the list is
 * not full.  Returns an LMDB error code. */
static int lm_list_append(lm_store *ls, MDB_txn *txn, lm_list *l,
                          const void *val, size_t len, int64_t expire_at_ms,
                          int64_t now_ms)
{
    unsigned char ikey[LM_IDX_MAX], *p;
    uint32_t seq = l->found ? l->last + 1 : 0;
    MDB_val k = {l->plen + LM_SEQ, l->key}, v = {LM_HDR + len, NULL};
    int rc;

    if (!l->found || !l->live) {
        l->base = seq;
        l->expire_at_ms = expire_at_ms;
    }
    lm_put_u32(l->key + l->plen, seq);
    rc = mdb_put(txn, ls->data, &k, &v, MDB_RESERVE);
    if (rc != 0)
        return rc;
    p = v.mv_data;
    p[0] = FAM_LIST;
    store_put_u64(p + 1, (uint64_t)l->expire_at_ms);
    store_put_u64(p + 9, l->base);
    if (len > 0)
        memcpy(p + LM_HDR, val, len);
    if (seq == l->base && l->expire_at_ms != 0) {
        MDB_val ik = {lm_idx_key(ikey, l->expire_at_ms, l->key, k.mv_size),
                      ikey};
        MDB_val iv = {0, NULL};
        rc = mdb_put(txn, ls->expiry, &ik, &iv, 0);
    }
    l->found = 1;
    l->last = seq;
    l->live = l->expire_at_ms == 0 || l->expire_at_ms > now_ms;
    return rc;
}

/* Position cur on the oldest entry left of l's live generation and put
 * its seq in *first: the generation's base, unless sweep has begun to
 * drain it, which a reader sees only with a clock set back before the
 * expiry (then the list reads as what is left).  Nothing past the last
 * entry can be of the generation, so the entry found always is. */
static ams_status lm_list_first(MDB_cursor *cur, lm_list *l, uint32_t *first)
{
    MDB_val k, v;
    int rc;

    lm_put_u32(l->key + l->plen, l->base);
    k = (MDB_val){l->plen + LM_SEQ, l->key};
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return lm_fail("list_range", rc);
    if (rc == MDB_NOTFOUND || k.mv_size != l->plen + LM_SEQ ||
        memcmp(k.mv_data, l->key, l->plen) != 0 || v.mv_size < LM_HDR ||
        store_get_u64((const unsigned char *)v.mv_data + 9) != l->base)
        return lm_corrupt("list_range"); /* not even the last entry */
    *first = lm_get_u32((const unsigned char *)k.mv_data + l->plen);
    return *first <= l->last ? AMS_OK : lm_corrupt("list_range");
}

/* Entries from..from+max-1 of the live generation, read in one read
 * transaction: a consistent snapshot while others append.  O(log n +
 * max): two lookups, then a walk.  *out (an array of *count, each val
 * malloc'd and NUL-terminated) is owned by the caller:
 * store_items_free(). */
static ams_status lm_list_range(store *s, const char *key, size_t from,
                                size_t max, int64_t now_ms, store_item **out,
                                size_t *count)
{
    lm_store *ls = (lm_store *)s;
    store_item *it = NULL;
    size_t n = 0, got = 0, span;
    MDB_cursor *cur = NULL;
    MDB_txn *txn;
    MDB_val k, v;
    MDB_cursor_op step = MDB_GET_CURRENT;
    uint32_t first = 0;
    lm_list l;
    int rc = 0, lrc = 0;
    ams_status st = lm_list_init(&l, "list_range", key);

    if (out != NULL)
        *out = NULL;
    if (count != NULL)
        *count = 0;
    if (st != AMS_OK || out == NULL)
        return st;
    rc = lm_txn_begin(ls, MDB_RDONLY, &txn);
    if (rc != 0)
        return lm_fail("list_range", rc);
    st = lm_list_last(ls, txn, "list_range", &l, now_ms, &lrc);
    if (st == AMS_OK && l.found && l.live && max > 0) {
        if ((rc = mdb_cursor_open(txn, ls->data, &cur)) != 0)
            st = lm_fail("list_range", rc);
        else
            st = lm_list_first(cur, &l, &first);
    }
    if (st == AMS_OK && cur != NULL) {
        span = (size_t)(l.last - first) + 1;
        if (from < span)
            n = span - from < max ? span - from : max;
    }
    if (n > 0 && (it = calloc(n, sizeof *it)) == NULL)
        st = AMS_ERR_NOMEM;
    if (st == AMS_OK && n > 0 && from > 0) {
        lm_put_u32(l.key + l.plen, first + (uint32_t)from);
        step = MDB_SET_KEY;
    }
    /* The entries left of a generation are contiguous: walk them. */
    for (size_t i = 0; st == AMS_OK && i < n; i++) {
        const unsigned char *p;

        k = (MDB_val){l.plen + LM_SEQ, l.key};
        rc = mdb_cursor_get(cur, &k, &v, step);
        step = MDB_NEXT;
        if (rc != 0 && rc != MDB_NOTFOUND) {
            st = lm_fail("list_range", rc);
            break;
        }
        p = v.mv_data;
        if (rc == MDB_NOTFOUND || k.mv_size != l.plen + LM_SEQ ||
            memcmp(k.mv_data, l.key, l.plen) != 0 ||
            lm_get_u32((const unsigned char *)k.mv_data + l.plen) !=
                first + (uint32_t)(from + i) ||
            v.mv_size < LM_HDR || store_get_u64(p + 9) != l.base) {
            st = lm_corrupt("list_range"); /* a gap in the generation */
            break;
        }
        it[i].len = v.mv_size - LM_HDR;
        if ((it[i].val = malloc(it[i].len + 1)) == NULL) {
            st = AMS_ERR_NOMEM;
            break;
        }
        memcpy(it[i].val, p + LM_HDR, it[i].len);
        it[i].val[it[i].len] = '\0';
        got++;
    }
    if (cur != NULL)
        mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (st != AMS_OK) {
        store_items_free(it, got);
        return st;
    }
    *out = it;
    if (count != NULL)
        *count = n;
    return AMS_OK;
}

/* Sweep the expired generation of a list from idx's entry (idx a copy,
 * not the map): delete its entries oldest first, as many as budget (at
 * least 1) allows, each one removed record; when the budget runs out
 * first, the index entry moves to the first entry left, at the same
 * expiry, and the next sweep goes on from there.  base: the generation's
 * (from the entry's record).  *used: the budget this took, at least 1.
 * Returns an LMDB error code. */
static int lm_list_drain(lm_store *ls, MDB_txn *txn, const unsigned char *idx,
                         size_t ilen, uint64_t base, size_t budget,
                         size_t *removed, size_t *used)
{
    unsigned char key[LM_LKEY_MAX], nidx[LM_IDX_MAX];
    size_t dlen = ilen - 8, plen = dlen - LM_SEQ, n = 0;
    int64_t exp = lm_idx_expire(idx);
    MDB_val ik = {ilen, (void *)idx}, k, v;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, ls->data, &cur);

    *used = 1;
    if (rc != 0)
        return rc;
    memcpy(key, idx + 8, dlen);
    for (;;) {
        const unsigned char *p;

        /* After a delete, the key just deleted finds the next one. */
        k = (MDB_val){dlen, key};
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc != 0)
            break;
        p = v.mv_data;
        if (k.mv_size != dlen || memcmp(k.mv_data, key, plen) != 0 ||
            v.mv_size < LM_HDR || p[0] != FAM_LIST ||
            (int64_t)store_get_u64(p + 1) != exp ||
            store_get_u64(p + 9) != base)
            break; /* the generation ends (a newer one may follow) */
        memcpy(key, k.mv_data, dlen);
        if (n == budget) {
            MDB_val nk = {lm_idx_key(nidx, exp, key, dlen), nidx};
            MDB_val nv = {0, NULL};
            rc = mdb_put(txn, ls->expiry, &nk, &nv, 0);
            break;
        }
        rc = mdb_cursor_del(cur, 0);
        if (rc != 0)
            break;
        n++;
        (*removed)++;
    }
    mdb_cursor_close(cur);
    *used = n > 0 ? n : 1;
    return rc == 0 ? mdb_del(txn, ls->expiry, &ik, NULL) : rc;
}

/* ---- write sets and batched reads (store.h: Write sets) ----
 *
 * All the sets of one commit call share one write transaction, so one
 * fsync (sync = full) pays for the batch.  Each set is validated whole
 * before any of it is written: a set that does not validate has touched
 * nothing, so no nested transaction is needed to roll it back (LMDB
 * mallocs a dirty page list for each child transaction, which would
 * cost more than the set).  Validation reads through the batch's own
 * transaction, so it sees what the sets before it wrote; the ops before
 * it in the same set are added on top (adds) or checked (CAS).
 *
 * Every CAS of the batch gets the transaction's id as its version, as
 * value_cas does.  A key written by a CAS earlier in the same
 * transaction therefore holds a version nobody has been handed yet; a
 * CAS against it conflicts (fresh = that version), since it could only
 * match by guessing, and applying it would give the key the same
 * version twice. */

typedef struct lm_batch {
    lm_store *ls;
    MDB_txn *txn;
    uint64_t txnid; /* the version of every CAS in the batch */
    int dirty;      /* something was written: commit */
    int rc;         /* an LMDB error: the transaction is lost */
} lm_batch;

#define LM_COMMIT_OP "commit"

static int lm_key_ok(const char *key)
{
    size_t klen = key != NULL ? strlen(key) : 0;

    return klen > 0 && klen <= STORE_KEY_MAX;
}

/* Check op o's arguments: AMS_OK, or AMS_ERR (logged) for a bad op, a
 * caller bug.  All of a set's ops are checked before any is validated,
 * so a bad op is reported even when an earlier one would conflict (as
 * store_mem.c does). */
static ams_status lm_wop_args(const store_wop *o)
{
    if (o->kind < STORE_W_ADD || o->kind > STORE_W_BOARD_SET)
        return lm_bad(LM_COMMIT_OP, "unknown op kind");
    if (!lm_key_ok(o->key))
        return lm_bad(LM_COMMIT_OP,
                      "key is empty or longer than STORE_KEY_MAX");
    if (o->kind != STORE_W_ADD && o->kind != STORE_W_TAG_DEL &&
        o->val == NULL && o->len > 0)
        return lm_bad(LM_COMMIT_OP, "NULL value");
    /* Members are text, as board_set's (strlen) are. */
    if (o->kind == STORE_W_BOARD_SET &&
        (o->len == 0 || o->len > LM_MEMBER_MAX ||
         memchr(o->val, '\0', o->len) != NULL))
        return lm_bad(LM_COMMIT_OP, "member is empty, too long or not text");
    return AMS_OK;
}

/* Validate op j of set w, whose arguments passed, against the
 * transaction and the ops before it in w.  AMS_OK; AMS_CONFLICT with
 * *fresh; AMS_ERR for a full list; AMS_ERR_STORE for a damaged record or
 * an LMDB error (then b->rc). */
static ams_status lm_wop_check(lm_batch *b, const store_wset *w, size_t j,
                               int64_t *fresh)
{
    const store_wop *o = &w->op[j];
    lm_call c;
    lm_list l;
    uint64_t v, id;
    int64_t f = 0, nx;
    size_t earlier = 0;
    ams_status st;

    c.rc = 0; /* not every op loads a record into c */
    switch (o->kind) {
    case STORE_W_ADD:
        st = lm_at(&c, b->ls, b->txn, LM_COMMIT_OP, FAM_COUNTER, o->key,
                   w->now_ms);
        if (st == AMS_OK)
            st = lm_counter_value(&c, &f);
        if (st != AMS_OK)
            break;
        /* Each earlier add passed its own bounds: no overflow here. */
        for (size_t i = 0; i < j; i++)
            if (w->op[i].kind == STORE_W_ADD &&
                strcmp(w->op[i].key, o->key) == 0)
                f += w->op[i].delta;
        *fresh = f;
        if (__builtin_add_overflow(f, o->delta, &nx) || nx < o->lo ||
            nx > o->hi || ((o->flags & STORE_WF_EXACT) && f != o->expect))
            st = AMS_CONFLICT;
        break;
    case STORE_W_CAS:
        st = lm_at(&c, b->ls, b->txn, LM_COMMIT_OP, FAM_VALUE, o->key,
                   w->now_ms);
        if (st != AMS_OK)
            break;
        v = c.live ? c.version : 0;
        for (size_t i = 0; i < j; i++)
            if (w->op[i].kind == STORE_W_CAS &&
                strcmp(w->op[i].key, o->key) == 0)
                v = b->txnid;
        *fresh = (int64_t)v;
        if (v != o->version || v == b->txnid)
            st = AMS_CONFLICT;
        break;
    case STORE_W_APPEND:
        /* Blind, but a damaged last entry or a full list would fail the
         * apply, and with it the whole batch: find them now. */
        st = lm_list_init(&l, LM_COMMIT_OP, o->key);
        if (st == AMS_OK)
            st = lm_list_last(b->ls, b->txn, LM_COMMIT_OP, &l, w->now_ms,
                              &c.rc);
        if (st != AMS_OK)
            break;
        for (size_t i = 0; i < j; i++)
            if (w->op[i].kind == STORE_W_APPEND &&
                strcmp(w->op[i].key, o->key) == 0)
                earlier++;
        if (l.found && (uint64_t)l.last + 1 + earlier > LM_SEQ_LAST)
            st = lm_bad(LM_COMMIT_OP, "list full (2^32 entries)");
        break;
    case STORE_W_BOARD_SET:
        /* Blind too; the header and the member's entry are read for the
         * same reason as a list's last entry. */
        st = lm_at(&c, b->ls, b->txn, LM_COMMIT_OP, FAM_BOARD, o->key,
                   w->now_ms);
        if (st == AMS_OK && c.live)
            st = lm_board_id(&c, &id);
        if (st == AMS_OK && c.live) {
            unsigned char mk[LM_BKEY_MAX];
            MDB_val mkv = {lm_member_key(mk, id, o->val, o->len), mk}, mv;
            int rc = mdb_get(b->txn, b->ls->board, &mkv, &mv);

            if (rc == 0 && mv.mv_size != LM_BVAL)
                st = lm_corrupt(LM_COMMIT_OP);
            else if (rc != 0 && rc != MDB_NOTFOUND)
                st = lm_fail(LM_COMMIT_OP, c.rc = rc);
        }
        break;
    default: /* TAG_SET, TAG_DEL: blind, nothing to read */
        st = AMS_OK;
    }
    if (st == AMS_ERR_STORE && c.rc != 0)
        b->rc = c.rc;
    return st;
}

/* Write op o of set w, which validated.  Any failure loses the batch:
 * the set may be half written. */
static ams_status lm_wop_apply(lm_batch *b, const store_wset *w,
                               const store_wop *o)
{
    unsigned char buf[8];
    int64_t cur, next;
    uint64_t id;
    lm_call c;
    lm_list l;
    ams_status st;
    int rc;

    switch (o->kind) {
    case STORE_W_ADD:
        st = lm_at(&c, b->ls, b->txn, LM_COMMIT_OP, FAM_COUNTER, o->key,
                   w->now_ms);
        if (st == AMS_OK)
            st = lm_counter_value(&c, &cur);
        if (st == AMS_OK && __builtin_add_overflow(cur, o->delta, &next))
            st = lm_corrupt(LM_COMMIT_OP); /* validated: cannot happen */
        if (st == AMS_OK) {
            store_put_u64(buf, (uint64_t)next);
            st = lm_put(&c, c.live ? c.expire_at_ms : o->expire_at_ms, 0, buf,
                        sizeof buf);
        }
        break;
    case STORE_W_CAS:
        st = lm_at(&c, b->ls, b->txn, LM_COMMIT_OP, FAM_VALUE, o->key,
                   w->now_ms);
        if (st == AMS_OK)
            st = lm_put(&c, o->expire_at_ms, b->txnid, o->val, o->len);
        break;
    case STORE_W_TAG_SET:
        st =
            lm_at(&c, b->ls, b->txn, LM_COMMIT_OP, FAM_TAG, o->key, w->now_ms);
        if (st == AMS_OK)
            st = lm_put(&c, o->expire_at_ms, 0, o->val, o->len);
        break;
    case STORE_W_TAG_DEL:
        /* As tag_del: an expired tag is left to sweep, which counts it. */
        st =
            lm_at(&c, b->ls, b->txn, LM_COMMIT_OP, FAM_TAG, o->key, w->now_ms);
        if (st == AMS_OK && c.live)
            st = lm_del(&c);
        break;
    case STORE_W_APPEND:
        c.dirty = 0;
        c.rc = 0;
        st = lm_list_init(&l, LM_COMMIT_OP, o->key);
        if (st == AMS_OK)
            st = lm_list_last(b->ls, b->txn, LM_COMMIT_OP, &l, w->now_ms,
                              &c.rc);
        if (st == AMS_OK) {
            rc = lm_list_append(b->ls, b->txn, &l, o->val, o->len,
                                o->expire_at_ms, w->now_ms);
            if (rc != 0)
                st = lm_fail(LM_COMMIT_OP, rc);
            c.dirty = 1;
        }
        break;
    case STORE_W_BOARD_SET:
        st = lm_at(&c, b->ls, b->txn, LM_COMMIT_OP, FAM_BOARD, o->key,
                   w->now_ms);
        if (st == AMS_OK)
            st = c.live ? lm_board_id(&c, &id)
                        : lm_board_create(&c, o->expire_at_ms, &id);
        if (st == AMS_OK)
            st = lm_member_set(&c, id, o->val, o->len, o->delta, w->now_ms);
        break;
    default:
        return lm_bad(LM_COMMIT_OP, "unknown op kind");
    }
    b->dirty |= c.dirty;
    return st;
}

/* Decide set w into *res: validate all of it, then write all of it.
 * Returns AMS_OK when it was decided (res->st: applied, conflicting, or
 * refused), else the failure that loses the whole batch. */
static ams_status lm_wset_run(lm_batch *b, const store_wset *w,
                              store_wres *res)
{
    ams_status st = AMS_OK;

    *res = (store_wres){AMS_OK, 0, 0, 0};
    if (w->n > 0 && w->op == NULL) {
        res->st = lm_bad(LM_COMMIT_OP, "a set without its ops");
        return AMS_OK;
    }
    for (size_t j = 0; j < w->n && st == AMS_OK; j++) {
        st = lm_wop_args(&w->op[j]);
        res->at = j;
    }
    for (size_t j = 0; j < w->n && st == AMS_OK; j++) {
        st = lm_wop_check(b, w, j, &res->fresh);
        res->at = j;
    }
    if (b->rc != 0)
        return AMS_ERR_STORE;
    if (st != AMS_OK) {
        /* Conflicting, a bad op, or a damaged record: this set only. */
        res->st = st;
        if (st != AMS_CONFLICT)
            res->fresh = 0;
        return AMS_OK;
    }
    res->at = 0;
    res->fresh = 0;
    for (size_t j = 0; j < w->n; j++)
        if ((st = lm_wop_apply(b, w, &w->op[j])) != AMS_OK)
            return st;
    return AMS_OK;
}

/* Every set of the batch in one write transaction and one commit; res
 * (n entries, the caller's) says what became of each. */
static ams_status lm_commit(store *s, const store_wset *sets, size_t n,
                            store_wres *res)
{
    lm_batch b = {(lm_store *)s, NULL, 0, 0, 0};
    ams_status st = AMS_OK;
    size_t i;
    int rc;

    if (n == 0)
        return AMS_OK;
    if (sets == NULL || res == NULL)
        return lm_bad(LM_COMMIT_OP, "NULL sets or results");
    for (i = 0; i < n; i++)
        res[i] = (store_wres){AMS_ERR_STORE, 0, 0, 0};
    rc = lm_txn_begin(b.ls, 0, &b.txn);
    if (rc != 0)
        return lm_fail(LM_COMMIT_OP, rc);
    b.txnid = (uint64_t)mdb_txn_id(b.txn);
    for (i = 0; i < n && st == AMS_OK; i++)
        st = lm_wset_run(&b, &sets[i], &res[i]);
    if (st != AMS_OK) {
        /* Nothing of the batch reaches the file: certainly not applied. */
        mdb_txn_abort(b.txn);
        for (i = 0; i < n; i++)
            res[i] = (store_wres){AMS_ERR_STORE, 0, 0, 0};
        return AMS_ERR_STORE;
    }
    if (!b.dirty) {
        /* Every set conflicted (or wrote nothing): no write transaction,
         * so the last committed txn id does not move. */
        mdb_txn_abort(b.txn);
        return AMS_OK;
    }
    rc = mdb_txn_commit(b.txn);
    if (rc != 0) {
        /* An error in the commit itself (EIO on the meta page, say) may
         * come after the data reached the disk: the sets that were to be
         * applied may have been; those that were not, certainly were
         * not. */
        lm_fail(LM_COMMIT_OP, rc);
        for (i = 0; i < n; i++)
            res[i] = (store_wres){AMS_ERR_STORE, res[i].st == AMS_OK, 0, 0};
        return AMS_ERR_STORE;
    }
    return AMS_OK;
}

/* All n reads in one read transaction: one snapshot.  out[i].val is
 * malloc'd and owned by the caller (store_rvals_free); on failure none
 * is left. */
static ams_status lm_read_many(store *s, const store_rkey *k, size_t n,
                               int64_t now_ms, store_rval *out)
{
    lm_store *ls = (lm_store *)s;
    MDB_txn *txn;
    lm_call c;
    ams_status st = AMS_OK;
    int rc;

    if (n == 0)
        return AMS_OK;
    if (k == NULL || out == NULL)
        return lm_bad("read_many", "NULL keys or results");
    for (size_t i = 0; i < n; i++)
        out[i] = (store_rval){AMS_NOT_FOUND, 0, NULL, 0, 0};
    rc = lm_txn_begin(ls, MDB_RDONLY, &txn);
    if (rc != 0)
        return lm_fail("read_many", rc);
    for (size_t i = 0; i < n && st == AMS_OK; i++) {
        store_rval *r = &out[i];

        if (k[i].fam != STORE_F_COUNTER && k[i].fam != STORE_F_TAG &&
            k[i].fam != STORE_F_VALUE) {
            st = lm_bad("read_many", "unknown family");
            break;
        }
        st = lm_at(&c, ls, txn, "read_many", k[i].fam, k[i].key, now_ms);
        if (st != AMS_OK)
            break;
        if (k[i].fam == STORE_F_COUNTER) {
            st = lm_counter_value(&c, &r->num);
            r->st = AMS_OK;
        } else if (c.live) {
            if ((r->val = lm_body_dup(&c)) == NULL)
                st = AMS_ERR_NOMEM;
            r->len = c.len;
            r->version = k[i].fam == STORE_F_VALUE ? c.version : 0;
            r->st = AMS_OK;
        }
    }
    mdb_txn_abort(txn);
    if (st != AMS_OK) {
        store_rvals_free(out, n);
        for (size_t i = 0; i < n; i++)
            out[i] = (store_rval){AMS_NOT_FOUND, 0, NULL, 0, 0};
    }
    return st;
}

uint64_t store_lmdb_txnid(store *s)
{
    MDB_envinfo info;

    if (s == NULL || s->ops != &lm_ops)
        return 0;
    if (mdb_env_info(((lm_store *)s)->env, &info) != 0)
        return 0;
    return (uint64_t)info.me_last_txnid;
}

/* ---- sweep ---- */

static void lm_reap_readers(lm_store *ls, const char *op)
{
    int dead = 0, rc = mdb_reader_check(ls->env, &dead);

    if (rc != 0)
        lm_fail(op, rc);
    else if (dead > 0)
        fprintf(stderr,
                "store: lmdb: %s: freed %d reader slot(s) of dead "
                "processes\n",
                op, dead);
}

/* Delete up to budget members of retired board id, each with its order
 * entry; *done when none is left.  *used: the budget this took. */
static int lm_board_drain(lm_store *ls, MDB_txn *txn, uint64_t id,
                          size_t budget, size_t *removed, size_t *used,
                          int *done)
{
    unsigned char pre[LM_BID], key[LM_BKEY_MAX], ok[LM_BKEY_MAX];
    MDB_cursor *cur;
    MDB_val k, v, o;
    size_t n = 0;
    int rc = mdb_cursor_open(txn, ls->board, &cur);

    *done = 0;
    if (rc != 0)
        return rc;
    store_put_u64(pre, id);
    for (;;) {
        k = (MDB_val){sizeof pre, pre};
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND ||
            (rc == 0 && (k.mv_size < LM_BPRE ||
                         memcmp(k.mv_data, pre, sizeof pre) != 0))) {
            *done = 1;
            rc = 0;
            break;
        }
        if (rc != 0 || n == budget)
            break;
        /* Copies: the deletes below change the pages k and v are in. */
        memcpy(key, k.mv_data, k.mv_size);
        k.mv_data = key;
        o.mv_size = 0;
        if (key[LM_BID] == BK_MEMBER && v.mv_size == LM_BVAL &&
            k.mv_size - LM_BPRE <= LM_MEMBER_MAX) {
            const unsigned char *p = v.mv_data;
            o = (MDB_val){lm_order_key(ok, id, (int64_t)store_get_u64(p),
                                       (int64_t)store_get_u64(p + 8),
                                       (const char *)key + LM_BPRE,
                                       k.mv_size - LM_BPRE),
                          ok};
        }
        rc = mdb_del(txn, ls->board, &k, NULL);
        if (rc == 0 && o.mv_size > 0) {
            rc = mdb_del(txn, ls->board, &o, NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0;
            if (rc == 0)
                (*removed)++;
        }
        if (rc != 0)
            break;
        n++; /* an entry without its member (damage) costs budget too */
    }
    mdb_cursor_close(cur);
    *used = n > 0 ? n : 1;
    return rc;
}

/* Sweep the expired index entry idx (a copy, not the map: the deletes
 * below change pages) within budget (at least 1): remove its data record
 * if the record still expires then, and the entry.  An expiring board
 * becomes a retirement record; a retirement record takes its board's
 * members with it, as many as the budget allows, and goes with the last
 * one.  *used: the budget this took, at least 1.  Returns an LMDB error
 * code. */
static int lm_sweep_one(lm_store *ls, MDB_txn *txn, const unsigned char *idx,
                        size_t ilen, size_t budget, size_t *removed,
                        size_t *used)
{
    MDB_val ik = {ilen, (void *)idx}, dk = {ilen - 8, (void *)(idx + 8)}, v;
    const unsigned char *p;
    int rc = mdb_get(txn, ls->data, &dk, &v);

    *used = 1;
    if (rc == MDB_NOTFOUND)
        return mdb_del(txn, ls->expiry, &ik, NULL); /* stale entry */
    if (rc != 0)
        return rc;
    p = v.mv_data;
    if (v.mv_size < LM_HDR ||
        (int64_t)store_get_u64(p + 1) != lm_idx_expire(idx))
        return mdb_del(txn, ls->expiry, &ik, NULL); /* keep the record */
    if (idx[8] == FAM_LIST && p[0] == FAM_LIST && dk.mv_size > 2 + LM_SEQ)
        return lm_list_drain(ls, txn, idx, ilen, store_get_u64(p + 9), budget,
                             removed, used);
    if (idx[8] == FAM_RETIRED && dk.mv_size == 1 + LM_BID) {
        int done;

        rc = lm_board_drain(ls, txn, store_get_u64(idx + 9), budget, removed,
                            used, &done);
        if (rc != 0 || !done)
            return rc; /* the next sweep goes on with it */
        /* Not a record of the caller's: its members were what counted. */
    } else {
        if (idx[8] == FAM_BOARD && v.mv_size == LM_HDR + LM_BID)
            rc = lm_board_retire(ls, txn, store_get_u64(p + LM_HDR),
                                 lm_idx_expire(idx));
        if (rc == 0)
            (*removed)++;
    }
    if (rc == 0)
        rc = mdb_del(txn, ls->data, &dk, NULL);
    return rc == 0 ? mdb_del(txn, ls->expiry, &ik, NULL) : rc;
}

/* One write transaction spending a budget of max, so a sweep after a
 * long pause never holds the writer lock for long: *removed == max means
 * "call again soon".  Each index entry visited takes 1 of the budget, a
 * retired board's members 1 each.  *removed counts data records and board
 * members; an index entry that no longer matches its record (which only
 * a damaged file could hold) is dropped without counting. */
static int lm_sweep_batch(lm_store *ls, MDB_txn *txn, int64_t now_ms,
                          size_t max, size_t *removed)
{
    unsigned char idx[LM_IDX_MAX];
    MDB_cursor *cur;
    MDB_val k, v;
    size_t spent = 0, used;
    int rc = mdb_cursor_open(txn, ls->expiry, &cur);

    if (rc != 0)
        return rc;
    while (rc == 0 && spent < max) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        if (rc != 0)
            break;
        spent++;
        if (k.mv_size < 9 || k.mv_size > LM_IDX_MAX) {
            rc = mdb_cursor_del(cur, 0); /* not ours: never sweepable */
            continue;
        }
        if (lm_idx_expire(k.mv_data) > now_ms)
            break;
        memcpy(idx, k.mv_data, k.mv_size);
        rc = lm_sweep_one(ls, txn, idx, k.mv_size, max - spent + 1, removed,
                          &used);
        spent += used - 1;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static ams_status lm_sweep(store *s, int64_t now_ms, size_t max,
                           size_t *removed)
{
    lm_store *ls = (lm_store *)s;
    MDB_txn *txn;
    size_t n = 0;
    int rc;

    if (removed != NULL)
        *removed = 0;
    lm_reap_readers(ls, "sweep");
    if (max == 0)
        return AMS_OK;
    rc = lm_txn_begin(ls, 0, &txn);
    if (rc != 0)
        return lm_fail("sweep", rc);
    rc = lm_sweep_batch(ls, txn, now_ms, max, &n);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return lm_fail("sweep", rc);
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0)
        return lm_fail("sweep", rc);
    if (removed != NULL)
        *removed = n;
    return AMS_OK;
}

/* ---- open and close ---- */

static void lm_close(store *s)
{
    lm_store *ls = (lm_store *)s;

    /* A child that inherited the handle must not close the environment:
     * closing its descriptors would drop this process's fcntl locks on
     * the lock file, which its own handle relies on.  The parent's
     * environment memory stays with the child until it exits. */
    if (ls->pid == getpid())
        mdb_env_close(ls->env);
    free(ls);
}

/* mkdir -p: 0700 because the store holds user data and only the node's
 * own processes, which run as one user, open it. */
static int lm_mkdirs(const char *dir)
{
    char path[PATH_MAX];
    size_t n = strlen(dir);

    if (n >= sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path, dir, n + 1);
    for (char *p = path + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(path, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

static unsigned lm_env_flags(int sync)
{
    switch (sync) {
    case STORE_SYNC_META:
        /* Data pages are synced, the meta page is not: an OS crash may
         * undo the last commit but keeps the database consistent. */
        return MDB_NOMETASYNC;
    case STORE_SYNC_NONE:
        /* No fsync at all.  A commit is in the shared file mapping as
         * soon as it returns, so it survives any process crash (kill -9
         * of a worker); only an OS crash or power loss can lose recent
         * commits, and with this flag may also corrupt the file. */
        return MDB_NOSYNC;
    default:
        return 0; /* STORE_SYNC_FULL: fsync on every commit */
    }
}

static int lm_env_open(MDB_env *env, const char *dir, const store_options *opt)
{
    size_t map = opt->lmdb_map_size ? opt->lmdb_map_size : LM_MAP_DEFAULT;
    int rc = mdb_env_set_maxdbs(env, 3);

    if (rc == 0)
        rc = mdb_env_set_mapsize(env, map);
    if (rc == 0)
        rc = mdb_env_open(env, dir, lm_env_flags(opt->lmdb_sync), 0600);
    return rc;
}

static int lm_dbi_open(lm_store *ls)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(ls->env, NULL, 0, &txn);

    if (rc != 0)
        return rc;
    rc = mdb_dbi_open(txn, "data", MDB_CREATE, &ls->data);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "expiry", MDB_CREATE, &ls->expiry);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "board", MDB_CREATE, &ls->board);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

/* Returns a handle the caller owns (store_close() it), or NULL with a
 * message naming dir and the reason in err. */
store *store_lmdb_open(const char *dir, const store_options *opt, char *err,
                       size_t errlen)
{
    lm_store *ls;
    int rc;

    if (lm_mkdirs(dir) != 0) {
        snprintf(err, errlen, "store: lmdb: %s: cannot create: %s", dir,
                 strerror(errno));
        return NULL;
    }
    ls = calloc(1, sizeof *ls);
    if (ls == NULL) {
        snprintf(err, errlen, "store: lmdb: %s: out of memory", dir);
        return NULL;
    }
    ls->base.ops = &lm_ops;
    ls->pid = getpid();
    rc = mdb_env_create(&ls->env);
    if (rc != 0) {
        snprintf(err, errlen, "store: lmdb: %s: %s", dir, mdb_strerror(rc));
        free(ls);
        return NULL;
    }
    rc = lm_env_open(ls->env, dir, opt);
    if (rc == 0 && mdb_env_get_maxkeysize(ls->env) < LM_IDX_MAX)
        rc = MDB_BAD_VALSIZE; /* an LMDB built with a smaller key limit */
    if (rc == 0) {
        lm_reap_readers(ls, "open");
        rc = lm_dbi_open(ls);
    }
    if (rc != 0) {
        snprintf(err, errlen, "store: lmdb: %s: cannot open: %s", dir,
                 mdb_strerror(rc));
        mdb_env_close(ls->env);
        free(ls);
        return NULL;
    }
    return &ls->base;
}

static const store_ops lm_ops = {
    .name = "lmdb",
    .counter_add = lm_counter_add,
    .counter_get = lm_counter_get,
    .lock_acquire = lm_lock_acquire,
    .lock_release = lm_lock_release,
    .lock_get = lm_lock_get,
    .tag_set = lm_tag_set,
    .tag_get = lm_tag_get,
    .tag_del = lm_tag_del,
    .value_get = lm_value_get,
    .value_cas = lm_value_cas,
    .journal_close = lm_journal_close,
    .board_set = lm_board_set,
    .board_top = lm_board_top,
    .board_rank = lm_board_rank,
    .sweep = lm_sweep,
    .close = lm_close,
    .commit = lm_commit,
    .read_many = lm_read_many,
    .list_range = lm_list_range,
};
