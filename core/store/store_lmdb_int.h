/*
 * store_lmdb_int.h -- what the files of the LMDB backend share: the
 * families and sizes of the layout, the handle, one call and the record
 * helpers.  store_lmdb.c holds the layout (its top comment), the single
 * calls, sweep and open; store_lmdb_list.c the list family;
 * store_lmdb_wset.c commit and read_many.  Only those three include
 * this; the backend's public probe is store_lmdb.h.
 */
#ifndef AMS_CORE_STORE_LMDB_INT_H
#define AMS_CORE_STORE_LMDB_INT_H

#include "store_backend.h"
#include "store_enc.h"

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

enum {
    FAM_COUNTER = 'c',
    FAM_LOCK = 'l',
    FAM_TAG = 't',
    FAM_VALUE = 'v',
    FAM_BOARD = 'b',   /* a board's header */
    FAM_RETIRED = 'd', /* an expired board whose members are still there */
    FAM_JOURNAL = 'j', /* body: store_enc.h */
    FAM_LIST = 'L',    /* one entry of a list: top of store_lmdb.c */
};

#define LM_HDR 17                          /* family + expire_at + version */
#define LM_KEY_MAX (1 + STORE_KEY_MAX)     /* family + caller key */
#define LM_SEQ 4                           /* a list entry's sequence number */
#define LM_LPRE_MAX (LM_KEY_MAX + 1)       /* 'L' + list key + 0x00 */
#define LM_LKEY_MAX (LM_LPRE_MAX + LM_SEQ) /* the longest data key */
#define LM_IDX_MAX (8 + LM_LKEY_MAX)       /* expire_at + data key */
#define LM_SEQ_LAST 0xffffffffu

/* Board entries: id + kind + (order: score + time) + member. */
#define LM_MEMBER_MAX 256
#define LM_BID 8                               /* id */
#define LM_BPRE (LM_BID + 1)                   /* id + kind */
#define LM_BORD (LM_BPRE + STORE_ORDER_PREFIX) /* order key w/o member */
#define LM_BKEY_MAX (LM_BORD + LM_MEMBER_MAX)
#define LM_BVAL 16 /* member entry: score + time */

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

/* ---- encoding ---- */

/* Flipping the sign bit makes memcmp order of the big-endian bytes equal
 * to signed order, which LMDB's default key comparison relies on. */
#define LM_SIGN STORE_SIGN

static inline size_t lm_idx_key(unsigned char *out, int64_t expire_at_ms,
                                const unsigned char *key, size_t klen)
{
    store_put_u64(out, (uint64_t)expire_at_ms ^ LM_SIGN);
    memcpy(out + 8, key, klen);
    return 8 + klen;
}

static inline int64_t lm_idx_expire(const unsigned char *idx)
{
    return (int64_t)(store_get_u64(idx) ^ LM_SIGN);
}

/* ---- errors ---- */

/* An LMDB error rc in call op: logged, AMS_ERR_STORE. */
ams_status lm_fail(const char *op, int rc);
/* A record that does not parse: logged, AMS_ERR_STORE. */
ams_status lm_corrupt(const char *op);
/* A caller bug, not a store fault: AMS_ERR so it is answered 500. */
ams_status lm_bad(const char *op, const char *why);

/* ---- transactions and records (store_lmdb.c) ---- */

/* mdb_txn_begin on ls's environment, adopting a map another process
 * grew; returns an LMDB error code. */
int lm_txn_begin(lm_store *ls, unsigned flags, MDB_txn **txn);
/* Load the record of key in family fam into c, inside the transaction
 * txn that c shares with the call that opened it (one atomic step over
 * two records: a journaled add).  Nothing to finish. */
ams_status lm_at(lm_call *c, lm_store *ls, MDB_txn *txn, const char *op,
                 int fam, const char *key, int64_t now_ms);
/* Write the call's record.  body is the caller's memory, never the map:
 * the write may move or reuse the pages c->body points into. */
ams_status lm_put(lm_call *c, int64_t expire_at_ms, uint64_t version,
                  const void *body, size_t len);
/* Delete the call's record, with its index entry. */
ams_status lm_del(lm_call *c);
/* A malloc'd, NUL-terminated copy of the record's body, owned by the
 * caller; NULL when out of memory. */
char *lm_body_dup(const lm_call *c);
/* The value of the counter loaded in c: 0 when it is not live. */
ams_status lm_counter_value(const lm_call *c, int64_t *v);

/* ---- leaderboards (store_lmdb.c): what a write set's BOARD_SET uses ---- */

/* The key of member's entry in board id ("board": id + 'm' + member);
 * returns its length. */
size_t lm_member_key(unsigned char *out, uint64_t id, const char *member,
                     size_t mlen);
/* The id a live board header holds. */
ams_status lm_board_id(const lm_call *c, uint64_t *id);
/* Make the call's header a new, empty board: retire the expired one it
 * replaces, if any, and take the next id. */
ams_status lm_board_create(lm_call *c, int64_t expire_at_ms, uint64_t *id);
/* Give member of board id the score; a member already at that score
 * keeps its time, and nothing is written. */
ams_status lm_member_set(lm_call *c, uint64_t id, const char *member,
                         size_t mlen, int64_t score, int64_t now_ms);

/* ---- lists (store_lmdb_list.c) ---- */

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

/* Start l on list key: its prefix; AMS_ERR when the key is bad. */
ams_status lm_list_init(lm_list *l, const char *op, const char *key);
/* Read the list's state from its last entry, found with one cursor
 * lookup (the first key after the highest seq the list could have, then
 * one step back): O(log n) whatever the length of the list.  *lrc: the
 * LMDB error, if that is what failed. */
ams_status lm_list_last(lm_store *ls, MDB_txn *txn, const char *op, lm_list *l,
                        int64_t now_ms, int *lrc);
/* Append one entry to list l, whose state lm_list_last just read (and
 * which this updates): after its last entry, in its generation when it
 * is live, else as the first entry of a new generation, which gets
 * expire_at_ms and the index entry.  The caller checked that the list is
 * not full.  Returns an LMDB error code. */
int lm_list_append(lm_store *ls, MDB_txn *txn, lm_list *l, const void *val,
                   size_t len, int64_t expire_at_ms, int64_t now_ms);
/* Sweep the expired generation of a list from idx's entry (idx a copy,
 * not the map): delete its entries oldest first, as many as budget (at
 * least 1) allows, each one removed record; when the budget runs out
 * first, the index entry moves to the first entry left, at the same
 * expiry, and the next sweep goes on from there.  base: the generation's
 * (from the entry's record).  *used: the budget this took, at least 1.
 * Returns an LMDB error code. */
int lm_list_drain(lm_store *ls, MDB_txn *txn, const unsigned char *idx,
                  size_t ilen, uint64_t base, size_t budget, size_t *removed,
                  size_t *used);
/* store_ops.list_range. */
ams_status lm_list_range(store *s, const char *key, size_t from, size_t max,
                         int64_t now_ms, store_item **out, size_t *count);

/* ---- write sets and batched reads (store_lmdb_wset.c) ---- */

/* store_ops.commit and store_ops.read_many. */
ams_status lm_commit(store *s, const store_wset *sets, size_t n,
                     store_wres *res);
ams_status lm_read_many(store *s, const store_rkey *k, size_t n,
                        int64_t now_ms, store_rval *out);

#endif
