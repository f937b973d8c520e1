/*
 * store_lmdb.c -- the embedded store backend: one LMDB environment per
 * node, shared by the worker processes through its memory map.
 *
 * Files, and why this one is over 1,200 lines.  The backend is three
 * files sharing store_lmdb_int.h: this one (the layout below, the record
 * helpers, the single calls, sweep, open), store_lmdb_list.c (the list
 * family) and store_lmdb_wset.c (commit and read_many).  The single
 * calls stay together here, their sections in the order of store.h's
 * record families, like the other backends', so that they read side by
 * side and next to the layout they write and the sweep that removes it;
 * a family's code is short, there are six of them.
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
 * own.  The code: store_lmdb_list.c.
 *
 * Integers are encoded byte by byte: values sit at arbitrary offsets in
 * the map, where a pointer cast would be an unaligned access.
 *
 * Every call is one transaction, and so is a commit of a whole batch of
 * write sets (see store_lmdb_wset.c).  LMDB serialises writers across
 * processes with a robust process-shared mutex; that is what makes
 * counter_add and value_cas atomic between workers.  A writer killed
 * before its commit returned leaves all of its transaction or none of it
 * (all only when it died after writing the meta page: then readers may
 * see the state before it until the next writer takes the mutex back from
 * the dead one, EOWNERDEAD, and adopts that meta page).  A dead reader's
 * slot only pins old pages; mdb_reader_check() at open and in sweep frees
 * it.
 */
#include "store_lmdb_int.h"
#include "store_lmdb.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define LM_MAP_DEFAULT ((size_t)1 << 30)

/* The kind byte after a board entry's id (LM_BID, store_lmdb_int.h). */
enum { BK_MEMBER = 'm', BK_ORDER = 'o' };

static const store_ops lm_ops;

/* ---- errors ---- */

ams_status lm_fail(const char *op, int rc)
{
    fprintf(stderr, "store: lmdb: %s: %s\n", op, mdb_strerror(rc));
    return AMS_ERR_STORE;
}

ams_status lm_corrupt(const char *op)
{
    fprintf(stderr, "store: lmdb: %s: corrupt record\n", op);
    return AMS_ERR_STORE;
}

ams_status lm_bad(const char *op, const char *why)
{
    fprintf(stderr, "store: lmdb: %s: %s\n", op, why);
    return AMS_ERR;
}

/* ---- transactions and records ---- */

int lm_txn_begin(lm_store *ls, unsigned flags, MDB_txn **txn)
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

ams_status lm_at(lm_call *c, lm_store *ls, MDB_txn *txn, const char *op,
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

ams_status lm_put(lm_call *c, int64_t expire_at_ms, uint64_t version,
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

ams_status lm_del(lm_call *c)
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

char *lm_body_dup(const lm_call *c)
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

ams_status lm_counter_value(const lm_call *c, int64_t *v)
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

size_t lm_member_key(unsigned char *out, uint64_t id, const char *member,
                     size_t mlen)
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

ams_status lm_board_id(const lm_call *c, uint64_t *id)
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

ams_status lm_board_create(lm_call *c, int64_t expire_at_ms, uint64_t *id)
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

ams_status lm_member_set(lm_call *c, uint64_t id, const char *member,
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

/* ---- the probe of write transactions (store_lmdb.h) ---- */

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
