/*
 * store_mem_int.h -- what the two files of the mem: backend share: its
 * records, the handle, one call and the helpers a write set applies
 * with.  store_mem.c holds the semantics and the layout (its top
 * comment), the single calls, sweep, inspection and open;
 * store_mem_wset.c commit, read_many and list_range.  Only those two
 * include this; the backend's inspection API is store_mem.h.
 */
#ifndef AMS_CORE_STORE_MEM_INT_H
#define AMS_CORE_STORE_MEM_INT_H

#include "store_backend.h"

#include <stddef.h>
#include <stdint.h>

enum {
    FAM_COUNTER = 'c',
    FAM_LOCK = 'l',
    FAM_TAG = 't',
    FAM_VALUE = 'v',
    FAM_BOARD = 'b',   /* a board's header */
    FAM_RETIRED = 'd', /* an expired board whose members are still there */
    FAM_JOURNAL = 'j', /* body: store_enc.h */
    FAM_LIST = 'L',    /* a list of entries (STORE_W_APPEND) */
};

#define MM_MEMBER_MAX 256 /* as LM_MEMBER_MAX */

typedef struct mm_member {
    int64_t score;
    int64_t time_ms; /* when it reached its score */
    size_t len;
    char name[]; /* len bytes and a NUL */
} mm_member;

typedef struct mm_board {
    uint64_t id;
    unsigned char idkey[8]; /* id, big-endian: the retired record's key */
    mm_member **ord;        /* rank order, best first (NULL once retired) */
    mm_member **byname;     /* member bytes ascending; owns the members */
    size_t n, cap;
} mm_board;

/* A list's entries, oldest first; each val is NUL-terminated. */
typedef struct mm_list {
    store_item *it;
    size_t n, cap;
} mm_list;

typedef struct mm_rec {
    struct mm_rec *next; /* hash chain */
    uint64_t hash;
    size_t heap_at; /* 1 + slot in the expiry heap; 0: not there */
    int64_t expire_at_ms;
    uint64_t version; /* values; 0 else */
    int64_t count;    /* counters */
    char *body;       /* lock token, tag or value bytes; NUL-terminated */
    size_t len;
    mm_board *board; /* board headers and retired boards */
    mm_list *list;   /* lists */
    /* Out of the hash table, in the heap only, until sweep drains it: a
     * retired board, or an expired list's entries that an append
     * replaced with a new list (LMDB's older generation). */
    unsigned char retired;
    unsigned char fam;
    size_t klen;
    unsigned char key[]; /* the caller's key (not NUL-terminated) */
} mm_rec;

typedef struct mm_store {
    store base;
    char *label;  /* "mem" or "mem:NAME", for log lines */
    mm_rec **tab; /* nb buckets, a power of two */
    size_t nb, n;
    mm_rec **heap; /* expiry heap */
    size_t nheap, capheap;
    uint64_t vseq;   /* the last value version handed out */
    uint64_t bseq;   /* the last board id handed out */
    uint64_t writes; /* see store_mem_writes() */
} mm_store;

/* One call in progress: the record it is about, stored or not. */
typedef struct mm_call {
    mm_store *ms;
    const char *op;
    int fam;
    const unsigned char *key;
    size_t klen;
    uint64_t hash;
    mm_rec *r; /* stored, maybe expired; NULL when absent */
    int live;
} mm_call;

/* Whether r is there and not expired at now_ms. */
static inline int mm_live(const mm_rec *r, int64_t now_ms)
{
    return r != NULL && (r->expire_at_ms == 0 || r->expire_at_ms > now_ms);
}

/* ---- store_mem.c: errors, records, calls ---- */

/* A caller bug, not a store fault: AMS_ERR, as in store_lmdb.c. */
ams_status mm_bad(const mm_store *ms, const char *op, const char *why);

/* Room for more entries, so that the push after it cannot fail: every
 * call allocates all it needs before it changes anything. */
int mm_heap_reserve(mm_store *ms, size_t more);
/* Give r the expiry expire_at_ms (0: none).  A push needs the room
 * mm_heap_reserve() made. */
void mm_set_expiry(mm_store *ms, mm_rec *r, int64_t expire_at_ms);

/* The record of (fam, key), hash its mm_hash; NULL when there is none. */
mm_rec *mm_find(const mm_store *ms, int fam, const unsigned char *key,
                size_t klen, uint64_t hash);
/* Put r into the hash table / take it out (not out of the heap). */
void mm_hash_insert(mm_store *ms, mm_rec *r);
void mm_hash_remove(mm_store *ms, mm_rec *r);

void mm_board_free(mm_board *b);
/* Free r and all it holds; it is in neither the table nor the heap. */
void mm_rec_free(mm_rec *r);
/* Drop r (a record in the hash table) altogether. */
void mm_del(mm_store *ms, mm_rec *r);

/* Start a call on key in family fam: check the key, look its record up
 * into c; AMS_ERR (logged) for a bad key.  Nothing to finish. */
ams_status mm_begin(mm_call *c, store *s, const char *op, int fam,
                    const char *key, int64_t now_ms);
/* A new record for the call's key, not yet in the table; NULL when out
 * of memory. */
mm_rec *mm_rec_new(const mm_call *c);
/* A malloc'd, NUL-terminated copy of the record's body; NULL when out of
 * memory. */
char *mm_body_dup(const mm_rec *r);

/* ---- store_mem.c: what a write set's BOARD_SET uses ---- */

/* The slot of name in b->byname, or where it would go; *found. */
size_t mm_name_find(const mm_board *b, const char *name, size_t len,
                    int *found);
/* Room for more members in both arrays: a commit reserves for all of
 * its set's board_sets on one board before it applies any. */
int mm_board_reserve(mm_board *b, size_t more);
/* Give the member (mlen bytes) score on the call's board, allocations
 * done: fresh and head, when not NULL, are a new board and its header
 * (the stored one, expired, retires); m is a new member, used when the
 * board has none of that name (freed otherwise), the arrays having room
 * for it.  Cannot fail; the caller counts the write. */
void mm_board_place(mm_call *c, mm_board *fresh, mm_rec *head, mm_member *m,
                    const char *member, size_t mlen, int64_t score,
                    int64_t expire_at_ms, int64_t now_ms);

/* ---- store_mem_wset.c: store_ops.commit, read_many, list_range ---- */

ams_status mm_commit(store *s, const store_wset *sets, size_t n,
                     store_wres *res);
ams_status mm_read_many(store *s, const store_rkey *k, size_t n,
                        int64_t now_ms, store_rval *out);
ams_status mm_list_range(store *s, const char *key, size_t from, size_t max,
                         int64_t now_ms, store_item **out, size_t *count);

#endif
