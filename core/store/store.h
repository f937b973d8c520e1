/*
 * store.h -- the core services' storage interface.  One interface, one
 * backend per main file (store_lmdb.c, store_mem.c, store_redis.c, each
 * naming at its top the other files of its backend); the same test
 * suite (tests/unit/test_store.c) runs against every backend.
 *
 * Keys arrive fully namespaced by the host (see services.c); a backend
 * treats them as opaque byte strings of at most STORE_KEY_MAX bytes.  The
 * families (counter, lock, tag, value, board, journal, list) live in
 * separate key spaces:
 * the same key string used as a counter and as a tag names two records.
 *
 * Time is passed in (now_ms) rather than read from the system clock so
 * that expiry follows the host clock, which tests move.  expire_at_ms is
 * absolute; 0 means "never expires".  A record whose expire_at_ms <= now_ms
 * is treated as absent by every call (lazy expiry) and removed by
 * store_sweep().
 *
 * Versions of values are opaque and strictly increasing per key; 0 means
 * absent.  A version is never reused, not even after the value expired
 * and was created again, so a stale holder can never overwrite a newer
 * value.  Counters: an absent counter reads 0 (AMS_OK); only the add that
 * creates a counter sets its expiry.  tag_del of an absent tag is
 * AMS_NOT_FOUND.
 *
 * All calls return ams_status: AMS_OK, AMS_NOT_FOUND, AMS_CONFLICT, or
 * AMS_ERR_STORE when the backend failed (the message is logged).  Returned
 * buffers are malloc'd and owned by the caller.
 *
 * Journals.  A request's counted writes can name a journal (its own
 * family, one per attempt of a request): counter_add records every add it
 * applies there, in the same atomic step.  journal_close fences the
 * attempt out: from then on a counter_add or value_cas naming the journal
 * is refused (AMS_ERR_STORE, nothing written), so a write that reaches
 * the store late (sent before a timeout, delivered after) cannot count;
 * with give_back it also gives back every add the journal recorded, in
 * the same atomic step.  This is what lets a retry of a request whose
 * outcome is unknown first stop the lost attempt, then look at what it
 * finished, and undo exactly what it counted before running it again.
 *
 * A store handle belongs to one process; open it after fork().
 */
#ifndef AMS_CORE_STORE_H
#define AMS_CORE_STORE_H

#include <ams/ams.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

struct event_base;

#define STORE_KEY_MAX 480

typedef struct store store;

typedef struct store_board_entry {
    char *member; /* malloc'd */
    int64_t score;
} store_board_entry;

/* Free what board_top returned. */
static inline void store_board_free(store_board_entry *e, size_t n)
{
    for (size_t i = 0; i < n && e != NULL; i++)
        free(e[i].member);
    free(e);
}

/* At most this many adds are recorded in one journal; one more is
 * refused (AMS_ERR, a caller bug: a request makes a handful). */
#define STORE_JOURNAL_MAX 64

/* Names a journal (see the top): its key (a key space of its own) and the
 * expiry the journal gets when the first write naming it creates it. */
typedef struct store_journal {
    const char *key;
    int64_t expire_at_ms;
} store_journal;

/*
 * Write sets.  A request's writes, collected while its chain ran, are
 * applied together in one atomic step at its end: all of a set or none
 * of it (DESIGN.md §5).  The ops of a set are validated in order, each
 * against the store as the ops before it in the same set (and the sets
 * before it in the same commit call) left it:
 *
 *   ADD       f = the live value (absent or expired: 0); lo <= f+delta <=
 *             hi, without overflow; with STORE_WF_EXACT also f == expect.
 *             A counter it creates gets expire_at_ms.
 *   CAS       v = the live version (absent or expired: 0); v == version.
 *             Applied as value_cas: bytes val/len, a new version (never
 *             one handed out before), expire_at_ms.  version 0 means
 *             "only if absent": how a request's idempotency record makes
 *             two attempts of one request_id commit at most once.
 *   TAG_SET   blind: tag_set of val/len with expire_at_ms.
 *   TAG_DEL   blind: an absent tag is fine.
 *   APPEND    blind: one entry val/len at the end of the list key (a
 *             family of its own; a list it creates gets expire_at_ms).
 *   BOARD_SET blind: board_set of member val/len, score delta.
 *
 * A set that does not validate writes nothing: res.st = AMS_CONFLICT,
 * res.at = the op, res.fresh = the value (ADD) or version (CAS) found,
 * so that the caller can run its request again against fresh state.
 * Only validation decides; nothing is half applied.
 */
typedef enum store_wkind {
    STORE_W_ADD = 1,
    STORE_W_CAS,
    STORE_W_TAG_SET,
    STORE_W_TAG_DEL,
    STORE_W_APPEND,
    STORE_W_BOARD_SET,
} store_wkind;

#define STORE_WF_EXACT 0x1u /* ADD: the value before it must be expect */

typedef struct store_wop {
    uint8_t kind;  /* store_wkind */
    uint8_t flags; /* STORE_WF_* */
    const char *key;
    int64_t delta, lo, hi, expect; /* ADD; BOARD_SET: delta is the score */
    int64_t expire_at_ms;
    uint64_t version; /* CAS: the expected one, 0 = absent */
    const void *val;  /* CAS, TAG_SET, APPEND, BOARD_SET (the member) */
    size_t len;
} store_wop;

typedef struct store_wset {
    const store_wop *op;
    size_t n;
    int64_t now_ms;
} store_wset;

typedef struct store_wres {
    ams_status st; /* AMS_OK: applied; AMS_CONFLICT: op[at] did not
                      validate, nothing applied; AMS_ERR_STORE: the store
                      failed (see unknown); AMS_ERR: a bad op */
    int unknown;   /* with AMS_ERR_STORE: 1 when the set may have been
                      applied (a reply lost after the send), 0 when it was
                      certainly not */
    size_t at;
    int64_t fresh;
} store_wres;

/* Reads in one step: a prefetch of what a request will read. */
enum { STORE_F_COUNTER = 'c', STORE_F_TAG = 't', STORE_F_VALUE = 'v' };

typedef struct store_rkey {
    uint8_t fam; /* STORE_F_* */
    const char *key;
} store_rkey;

typedef struct store_rval {
    ams_status st; /* AMS_OK or AMS_NOT_FOUND (counters: always OK, 0
                      when absent) */
    int64_t num;   /* counter */
    char *val;     /* tag or value bytes, malloc'd (caller frees) */
    size_t len;
    uint64_t version; /* value */
} store_rval;

/* Rate limits (GCRA) counted in the store, the shared limiter of
 * several nodes (read_rate below; core/data/ratelimit.c).  A bucket
 * holds its theoretical arrival time TAT in microseconds (absent: now).
 * An attempt at now = now_ms * 1000 conforms when max(TAT, now) - now
 * <= tau_us, and then TAT becomes max(TAT, now) + t_us; an attempt that
 * does not conform leaves TAT as it was.  Each bucket is one atomic step
 * on its own. */
typedef struct store_rate {
    const char *key; /* a key space of its own */
    int64_t t_us;    /* emission interval: 1 s / rate */
    int64_t tau_us;  /* burst tolerance: (burst - 1) * t_us */
} store_rate;

typedef struct store_rate_res {
    ams_status st;  /* AMS_OK: conformed (counted); AMS_CONFLICT: not */
    int64_t tat_us; /* the bucket's TAT after the step */
} store_rate_res;

/* One entry of a list (APPEND). */
typedef struct store_item {
    char *val; /* malloc'd */
    size_t len;
} store_item;

static inline void store_items_free(store_item *it, size_t n)
{
    for (size_t i = 0; i < n && it != NULL; i++)
        free(it[i].val);
    free(it);
}

static inline void store_rvals_free(store_rval *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].val);
        v[i].val = NULL;
    }
}

typedef struct store_ops {
    const char *name;

    /* j: NULL, or the journal that records the add when it is applied
     * (and refuses it when closed). */
    ams_status (*counter_add)(store *s, const char *key, int64_t delta,
                              int64_t lo, int64_t hi, int64_t expire_at_ms,
                              int64_t now_ms, int64_t *out,
                              const store_journal *j);
    ams_status (*counter_get)(store *s, const char *key, int64_t now_ms,
                              int64_t *out);

    ams_status (*lock_acquire)(store *s, const char *key, const char *token,
                               int64_t expire_at_ms, int64_t now_ms);
    ams_status (*lock_release)(store *s, const char *key, const char *token,
                               int64_t now_ms);
    /* The current holder's token (malloc'd, caller frees), or
     * AMS_NOT_FOUND when the lock is free. */
    ams_status (*lock_get)(store *s, const char *key, int64_t now_ms,
                           char **token);

    ams_status (*tag_set)(store *s, const char *key, const char *val,
                          size_t len, int64_t expire_at_ms, int64_t now_ms);
    ams_status (*tag_get)(store *s, const char *key, int64_t now_ms,
                          char **val, size_t *len);
    ams_status (*tag_del)(store *s, const char *key, int64_t now_ms);

    ams_status (*value_get)(store *s, const char *key, int64_t now_ms,
                            char **val, size_t *len, uint64_t *version);
    /* j: NULL, or a journal that fences the write out once closed (it
     * records nothing). */
    ams_status (*value_cas)(store *s, const char *key, uint64_t expect,
                            const char *val, size_t len, int64_t expire_at_ms,
                            int64_t now_ms, uint64_t *version,
                            const store_journal *j);

    /* Close j (see Journals): absent, it is created closed (with
     * j->expire_at_ms); open, it is closed.  give_back: also give back
     * every add it recorded, unless that was done before (each counter
     * still live gets the opposite of its add; an expired one stays
     * absent), all in one atomic step; *undone (may be NULL) receives how
     * many adds this call gave back.  AMS_OK. */
    ams_status (*journal_close)(store *s, const store_journal *j,
                                int give_back, int64_t now_ms, size_t *undone);

    /* Leaderboards: key names a board; members ranked by score
     * descending, ties by the time (now_ms) the member reached its score,
     * then by member.  board_set replaces a member's score (same score:
     * keeps its time).  expire_at_ms applies to the whole board (set on
     * creation, like counters). */
    ams_status (*board_set)(store *s, const char *key, const char *member,
                            int64_t score, int64_t expire_at_ms,
                            int64_t now_ms);
    /* The first n entries, best first, into *out (malloc'd array of
     * *count entries, each member malloc'd; free with store_board_free).
     * An absent or expired board is AMS_OK with no entries. */
    ams_status (*board_top)(store *s, const char *key, size_t n,
                            int64_t now_ms, store_board_entry **out,
                            size_t *count);
    /* 1-based rank and score of member; AMS_NOT_FOUND when absent. */
    ams_status (*board_rank)(store *s, const char *key, const char *member,
                             int64_t now_ms, int64_t *rank, int64_t *score);

    ams_status (*sweep)(store *s, int64_t now_ms, size_t max, size_t *removed);
    void (*close)(store *s);

    /* Apply each of the n sets atomically and independently of the
     * others (see Write sets; LMDB: all in one write transaction, one
     * fsync), res[i] saying what became of sets[i].  Returns AMS_OK when
     * every set was decided (applied, conflicting, or refused for a bad
     * op: res[i].st AMS_ERR, nothing of it applied, the other sets
     * unaffected), else the failure of them all (AMS_ERR_STORE, each
     * res[i] saying whether it may have been applied). */
    ams_status (*commit)(store *s, const store_wset *sets, size_t n,
                         store_wres *res);
    /* Read n records at now_ms in one step (LMDB: one read transaction;
     * Redis: one round trip) into out[0..n-1] (their val malloc'd: free
     * with store_rvals_free).  AMS_OK, or the failure of them all (out
     * then holds nothing to free: every val NULL). */
    ams_status (*read_many)(store *s, const store_rkey *k, size_t n,
                            int64_t now_ms, store_rval *out);
    /* Entries from..from+max-1 of list key, oldest first, into *out
     * (malloc'd array of *count, free with store_items_free).  An absent
     * or expired list has none. */
    ams_status (*list_range)(store *s, const char *key, size_t from,
                             size_t max, int64_t now_ms, store_item **out,
                             size_t *count);
    /* read_many of the n keys k and the GCRA steps of the nr buckets r
     * (see Rate limits), all in one step: one Redis round trip, so that
     * a request's rate limits cost it nothing more than its prefetch.
     * Only the shared backend has it (NULL elsewhere: one node counts
     * in shared memory, core/data/ratelimit.c).  AMS_OK with out and
     * rout filled, or the failure of them all (then out holds nothing
     * to free, and no bucket is known to have counted). */
    ams_status (*read_rate)(store *s, const store_rkey *k, size_t n,
                            const store_rate *r, size_t nr, int64_t now_ms,
                            store_rval *out, store_rate_res *rout);
} store_ops;

/* Every backend's handle starts with this. */
struct store {
    const store_ops *ops;
};

typedef struct store_options {
    const char *uri;          /* "lmdb:DIR", "mem:[NAME]",
                                 "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]" */
    size_t lmdb_map_size;     /* bytes; 0: default (1 GiB) */
    int lmdb_sync;            /* STORE_SYNC_* */
    int64_t redis_timeout_ms; /* connect and command timeout; 0: default
                                 (1000) */
    const char *redis_user;   /* AUTH user and password when the URI has
                                 none (a URI that has one and these too
                                 is refused); NULL: none */
    const char *redis_password;
    /* 1: open even when the server cannot be reached now (a server that
     * refuses, e.g. a wrong password, still fails the open); calls fail
     * with AMS_ERR_STORE until it is reached.  0: fail the open. */
    int redis_lazy;
    /* The event loop of the process (a worker's): when set, calls made
     * from inside a coroutine (coro.h) wait by yielding instead of
     * blocking the loop, pipelined over one connection; see
     * store_redis.c.  NULL: every call blocks. */
    struct event_base *base;
} store_options;

enum { STORE_SYNC_FULL = 0, STORE_SYNC_META = 1, STORE_SYNC_NONE = 2 };

/* Open the backend the URI names.  On failure returns NULL and writes a
 * message into err. The caller owns the handle: store_close() it. */
store *store_open(const store_options *opt, char *err, size_t errlen);
void store_close(store *s);

/* Convenience wrappers (static inline so the vtable stays the one truth). */
static inline ams_status store_counter_add(store *s, const char *k, int64_t d,
                                           int64_t lo, int64_t hi, int64_t exp,
                                           int64_t now, int64_t *out)
{
    return s->ops->counter_add(s, k, d, lo, hi, exp, now, out, NULL);
}
static inline ams_status store_counter_add_j(store *s, const char *k,
                                             int64_t d, int64_t lo, int64_t hi,
                                             int64_t exp, int64_t now,
                                             int64_t *out,
                                             const store_journal *j)
{
    return s->ops->counter_add(s, k, d, lo, hi, exp, now, out, j);
}
static inline ams_status store_journal_close(store *s, const store_journal *j,
                                             int give_back, int64_t now,
                                             size_t *undone)
{
    return s->ops->journal_close(s, j, give_back, now, undone);
}
static inline ams_status store_counter_get(store *s, const char *k,
                                           int64_t now, int64_t *out)
{
    return s->ops->counter_get(s, k, now, out);
}
static inline ams_status store_lock_acquire(store *s, const char *k,
                                            const char *tok, int64_t exp,
                                            int64_t now)
{
    return s->ops->lock_acquire(s, k, tok, exp, now);
}
static inline ams_status store_lock_release(store *s, const char *k,
                                            const char *tok, int64_t now)
{
    return s->ops->lock_release(s, k, tok, now);
}
static inline ams_status store_lock_get(store *s, const char *k, int64_t now,
                                        char **tok)
{
    return s->ops->lock_get(s, k, now, tok);
}
static inline ams_status store_tag_set(store *s, const char *k, const char *v,
                                       size_t len, int64_t exp, int64_t now)
{
    return s->ops->tag_set(s, k, v, len, exp, now);
}
static inline ams_status store_tag_get(store *s, const char *k, int64_t now,
                                       char **v, size_t *len)
{
    return s->ops->tag_get(s, k, now, v, len);
}
static inline ams_status store_tag_del(store *s, const char *k, int64_t now)
{
    return s->ops->tag_del(s, k, now);
}
static inline ams_status store_value_get(store *s, const char *k, int64_t now,
                                         char **v, size_t *len, uint64_t *ver)
{
    return s->ops->value_get(s, k, now, v, len, ver);
}
static inline ams_status store_value_cas(store *s, const char *k,
                                         uint64_t expect, const char *v,
                                         size_t len, int64_t exp, int64_t now,
                                         uint64_t *ver)
{
    return s->ops->value_cas(s, k, expect, v, len, exp, now, ver, NULL);
}
static inline ams_status store_value_cas_j(store *s, const char *k,
                                           uint64_t expect, const char *v,
                                           size_t len, int64_t exp,
                                           int64_t now, uint64_t *ver,
                                           const store_journal *j)
{
    return s->ops->value_cas(s, k, expect, v, len, exp, now, ver, j);
}
static inline ams_status store_board_set(store *s, const char *k,
                                         const char *member, int64_t score,
                                         int64_t exp, int64_t now)
{
    return s->ops->board_set(s, k, member, score, exp, now);
}
static inline ams_status store_board_top(store *s, const char *k, size_t n,
                                         int64_t now, store_board_entry **out,
                                         size_t *count)
{
    return s->ops->board_top(s, k, n, now, out, count);
}
static inline ams_status store_board_rank(store *s, const char *k,
                                          const char *member, int64_t now,
                                          int64_t *rank, int64_t *score)
{
    return s->ops->board_rank(s, k, member, now, rank, score);
}
static inline ams_status store_commit(store *s, const store_wset *sets,
                                      size_t n, store_wres *res)
{
    return s->ops->commit(s, sets, n, res);
}
static inline ams_status store_read_many(store *s, const store_rkey *k,
                                         size_t n, int64_t now,
                                         store_rval *out)
{
    return s->ops->read_many(s, k, n, now, out);
}
/* AMS_ERR when the backend has no read_rate. */
static inline ams_status store_read_rate(store *s, const store_rkey *k,
                                         size_t n, const store_rate *r,
                                         size_t nr, int64_t now,
                                         store_rval *out, store_rate_res *rout)
{
    if (s->ops->read_rate == NULL)
        return AMS_ERR;
    return s->ops->read_rate(s, k, n, r, nr, now, out, rout);
}
static inline ams_status store_list_range(store *s, const char *key,
                                          size_t from, size_t max, int64_t now,
                                          store_item **out, size_t *count)
{
    return s->ops->list_range(s, key, from, max, now, out, count);
}
static inline ams_status store_sweep(store *s, int64_t now, size_t max,
                                     size_t *removed)
{
    return s->ops->sweep(s, now, max, removed);
}

#endif
