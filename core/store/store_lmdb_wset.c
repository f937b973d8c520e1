/*
 * store_lmdb_wset.c -- the LMDB backend's write sets (store.h: Write
 * sets) and batched reads: commit (the checks of a set's arguments, its
 * validation against the batch's transaction, its apply) and read_many.
 * The record layout, the list family's included, is documented at the
 * top of store_lmdb.c; the lists' own code is store_lmdb_list.c; what
 * the files share: store_lmdb_int.h.
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
 * version twice.
 */
#include "store_lmdb_int.h"

#include <stdlib.h>

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
ams_status lm_commit(store *s, const store_wset *sets, size_t n,
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
ams_status lm_read_many(store *s, const store_rkey *k, size_t n,
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
