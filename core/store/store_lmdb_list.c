/*
 * store_lmdb_list.c -- the LMDB backend's list family (the ledger): a
 * list's state read from its last entry, the append a write set's APPEND
 * makes (store_lmdb_wset.c), list_range, and the drain of an expired
 * generation that sweep (store_lmdb.c) calls.  The layout and the
 * generations are documented at the top of store_lmdb.c ("Lists"); what
 * the files share: store_lmdb_int.h.
 *
 * Expiry policy, as for counters and boards: expire_at_ms is applied when
 * an append creates the list (it was absent or expired); later appends
 * keep the list's expiry whatever they pass.
 */
#include "store_lmdb_int.h"

#include <stdlib.h>

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

ams_status lm_list_init(lm_list *l, const char *op, const char *key)
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

ams_status lm_list_last(lm_store *ls, MDB_txn *txn, const char *op, lm_list *l,
                        int64_t now_ms, int *lrc)
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

int lm_list_append(lm_store *ls, MDB_txn *txn, lm_list *l, const void *val,
                   size_t len, int64_t expire_at_ms, int64_t now_ms)
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
ams_status lm_list_range(store *s, const char *key, size_t from, size_t max,
                         int64_t now_ms, store_item **out, size_t *count)
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

int lm_list_drain(lm_store *ls, MDB_txn *txn, const unsigned char *idx,
                  size_t ilen, uint64_t base, size_t budget, size_t *removed,
                  size_t *used)
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
