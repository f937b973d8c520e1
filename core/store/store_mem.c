/*
 * store_mem.c -- the in-memory store backend: URI "mem:" or "mem:NAME".
 *
 * Files, and why this one is over 1,200 lines.  The backend is two
 * files sharing store_mem_int.h: this one (the semantics and layout
 * below, the records, the single calls, sweep, inspection, open) and
 * store_mem_wset.c (commit, read_many, and list_range, the read of the
 * lists only a write set writes).  The single calls stay together here,
 * their sections in the order of store.h's record families, like the
 * other backends', so that they read side by side; a family's code is
 * short, there are six of them.
 *
 * A fake store with no disk, for the plugin conformance runner and for tests.
 * Its semantics are those of the LMDB backend (store_lmdb.c, the reference),
 * call for call: the same return codes, lazy expiry on now_ms, the same
 * expiry policies (counters, boards and lists: only the call that creates
 * them sets their expiry), value versions strictly increasing and never
 * reused, locks re-entrant by token, the same board order, and a sweep that
 * removes the same records in batches of the same size and reports the same
 * counts (a board's header and each of its members count one each, and an
 * expired board's members are drained by later sweeps, within their budget,
 * exactly as LMDB's retirement records are; so are an expired list's
 * entries, one each, also those an append to the expired list left behind,
 * as LMDB's older generations are).
 *
 * Process-local.  The data lives in the memory of the process that opened
 * the handle and goes with store_close(): nothing is shared with other
 * processes (a child forked with the handle gets a private copy; one that
 * opens "mem:" itself gets a new, empty store) and nothing outlives the
 * handle.  NAME only labels log lines: every open makes a new, empty
 * store, even under a name already open.  A handle is for one thread at
 * a time: it has no locking.
 *
 * Layout.
 *   records  one hash table keyed by (family byte, key bytes), chained,
 *            grown x2 when it holds more records than buckets (FNV-1a).
 *            The families are those of store_lmdb.c: counter, lock, tag,
 *            value, board header, journal (its body encoded as in
 *            store_enc.h), list (family 'L', as LMDB's entries; its
 *            entries in one array, oldest first, each a copy of its
 *            bytes).  An append to an expired list retires it (out of
 *            the table, in the heap at its expiry, for sweep to drain,
 *            as LMDB's older generation) and starts a new one.
 *   expiry   a binary min-heap of the records that have an expiry,
 *            ordered like LMDB's index: expire_at_ms, then family byte,
 *            then key bytes.  Each record knows its slot, so moving or
 *            dropping its expiry is O(log E).  A record that has expired
 *            stays where it is (reads treat it as absent) until it is
 *            replaced or swept.
 *   boards   each board holds its members twice, as pointers to one
 *            allocation each: sorted by rank order (score descending, the
 *            time the member reached its score ascending, member bytes
 *            ascending, a prefix first) and sorted by member bytes.  An
 *            expired board (swept, or replaced by a board_set on its key)
 *            becomes a retired record: out of the hash table, in the heap
 *            under family 'd' + its id (big-endian), as in store_lmdb.c;
 *            sweep frees its members, as many per call as its budget
 *            allows.  Board ids come from a store-wide counter.
 *
 * Costs, for R records, E of them with an expiry, and a board of N
 * members: counter, lock, tag and value calls O(1) expected plus
 * O(log E) when the expiry changes, plus the bytes copied; board_set
 * O(log N) to find the member and O(N) to shift the two pointer arrays
 * (a memmove of at most 8N bytes each: microseconds for N = 100k);
 * board_top(n) O(min(n, N)) plus the copies; board_rank O(log N) (binary
 * search of the rank order: no walk, unlike LMDB); an APPEND O(1)
 * amortized, list_range(max) O(max) plus the copies; a commit of a set
 * of n ops O(n^2) key comparisons (each op looks for the earlier ops on
 * its key: a set is a handful of ops) plus its ops' costs; sweep
 * O(k log E) for k records removed; store_mem_dump O(R log R) plus the
 * board members and list entries; close O(everything).
 *
 * Inspection (store.h): store_mem_writes() counts the calls that changed
 * the store -- exactly the calls for which LMDB would commit a write
 * transaction, so a board_set of a member to the score it already has
 * (nothing written) does not count, while a tag_set of the value the tag
 * already holds does.  Reads, calls answering anything but AMS_OK,
 * sweeps and lazy expiry do not count: a sweep only removes what reads
 * already treat as absent.  A committed set counts each of its ops as
 * the single call would count it (see store_mem_wset.c), a set that did
 * not apply counts nothing.
 *
 * store_mem_dump() prints every live record at now_ms, one line each,
 * sorted by family byte, then key bytes (so lists, family 'L', come
 * first); keys, tokens, tag and value bytes, members and list entries
 * are quoted, with '"', '\\' and every byte outside printable ASCII
 * written \xHH:
 *
 *   list "KEY" exp=E "ENTRY" ...                (entries oldest first)
 *   board "KEY" exp=E "MEMBER"=SCORE@TIME ...   (members in rank order)
 *   counter "KEY" exp=E VALUE
 *   journal "KEY" exp=E open|closed|given-back +DELTA@"COUNTER KEY" ...
 *                                              (entries oldest first)
 *   lock "KEY" exp=E "TOKEN"
 *   tag "KEY" exp=E "BYTES"
 *   value "KEY" exp=E version=V "BYTES"
 *
 * exp is expire_at_ms (0: never).  Two dumps are equal exactly when the
 * stores hold the same live data, expiries included, with one exception
 * on purpose: counters at 0 are left out.  An absent counter reads 0 too,
 * so a counter that an add created and the opposite add brought back to
 * 0 dumps as absent; what this hides is only that a stored counter keeps
 * its expiry for the next add, where an absent one would take the add's.
 * Versions are printed for values only (no other family has one), and
 * every successful value_cas takes a new version: a value put back to its
 * old bytes by an undo still dumps differently.  So comparing dumps
 * before a do and after its undo is exact for counters, tags and locks
 * (an undo must restore a tag's expiry too), and always differs once a
 * value was cas'ed.  Boards have no undo.
 */
#include "store_mem_int.h"
#include "store_mem.h"
#include "store_enc.h"

#include "hash.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MM_BUCKETS_MIN 64

static const store_ops mm_ops;

/* ---- errors ---- */

ams_status mm_bad(const mm_store *ms, const char *op, const char *why)
{
    fprintf(stderr, "store: %s: %s: %s\n", ms->label, op, why);
    return AMS_ERR;
}

/* ---- keys and order ---- */

static uint64_t mm_hash(int fam, const unsigned char *key, size_t klen)
{
    unsigned char f = (unsigned char)fam;

    return hash_fnv1a(hash_fnv1a(HASH_FNV1A_INIT, &f, 1), key, klen);
}

/* Byte order, a prefix first: LMDB's default key order. */
static int mm_bytes_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);

    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static const unsigned char *mm_rec_key(const mm_rec *r, size_t *len)
{
    if (r->fam == FAM_RETIRED) {
        *len = sizeof r->board->idkey;
        return r->board->idkey;
    }
    *len = r->klen;
    return r->key;
}

/* Family byte, then key bytes: the order of LMDB's data keys. */
static int mm_rec_cmp(const mm_rec *a, const mm_rec *b)
{
    const unsigned char *ka, *kb;
    size_t la, lb;

    if (a->fam != b->fam)
        return a->fam < b->fam ? -1 : 1;
    ka = mm_rec_key(a, &la);
    kb = mm_rec_key(b, &lb);
    return mm_bytes_cmp(ka, la, kb, lb);
}

/* ---- the expiry heap ---- */

static int mm_heap_less(const mm_rec *a, const mm_rec *b)
{
    if (a->expire_at_ms != b->expire_at_ms)
        return a->expire_at_ms < b->expire_at_ms;
    return mm_rec_cmp(a, b) < 0;
}

static void mm_heap_put(mm_store *ms, size_t i, mm_rec *r)
{
    ms->heap[i] = r;
    r->heap_at = i + 1;
}

static void mm_heap_up(mm_store *ms, size_t i)
{
    mm_rec *r = ms->heap[i];

    while (i > 0 && mm_heap_less(r, ms->heap[(i - 1) / 2])) {
        mm_heap_put(ms, i, ms->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    mm_heap_put(ms, i, r);
}

static void mm_heap_down(mm_store *ms, size_t i)
{
    mm_rec *r = ms->heap[i];

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= ms->nheap)
            break;
        if (c + 1 < ms->nheap && mm_heap_less(ms->heap[c + 1], ms->heap[c]))
            c++;
        if (!mm_heap_less(ms->heap[c], r))
            break;
        mm_heap_put(ms, i, ms->heap[c]);
        i = c;
    }
    mm_heap_put(ms, i, r);
}

int mm_heap_reserve(mm_store *ms, size_t more)
{
    size_t cap;
    mm_rec **grown;

    if (ms->nheap + more <= ms->capheap)
        return 0;
    cap = ms->capheap ? ms->capheap * 2 : 64;
    while (cap < ms->nheap + more)
        cap *= 2;
    grown = realloc(ms->heap, cap * sizeof *grown);
    if (grown == NULL)
        return -1;
    ms->heap = grown;
    ms->capheap = cap;
    return 0;
}

static void mm_heap_push(mm_store *ms, mm_rec *r)
{
    ms->heap[ms->nheap++] = r;
    mm_heap_up(ms, ms->nheap - 1);
}

/* r's place in the order changed: move it to where it now belongs. */
static void mm_heap_fix(mm_store *ms, mm_rec *r)
{
    size_t i = r->heap_at - 1;

    mm_heap_up(ms, i);
    if (r->heap_at - 1 == i)
        mm_heap_down(ms, i);
}

static void mm_heap_remove(mm_store *ms, mm_rec *r)
{
    size_t i = r->heap_at - 1;
    mm_rec *last = ms->heap[--ms->nheap];

    r->heap_at = 0;
    if (last == r)
        return;
    mm_heap_put(ms, i, last);
    mm_heap_fix(ms, last);
}

void mm_set_expiry(mm_store *ms, mm_rec *r, int64_t expire_at_ms)
{
    if (r->heap_at != 0 && expire_at_ms == 0)
        mm_heap_remove(ms, r);
    r->expire_at_ms = expire_at_ms;
    if (expire_at_ms == 0)
        return;
    if (r->heap_at != 0)
        mm_heap_fix(ms, r);
    else
        mm_heap_push(ms, r);
}

/* ---- the hash table ---- */

mm_rec *mm_find(const mm_store *ms, int fam, const unsigned char *key,
                size_t klen, uint64_t hash)
{
    for (mm_rec *r = ms->tab[hash & (ms->nb - 1)]; r != NULL; r = r->next)
        if (r->hash == hash && r->fam == fam && r->klen == klen &&
            memcmp(r->key, key, klen) == 0)
            return r;
    return NULL;
}

/* Double the buckets; on failure keep the table as it is (longer chains,
 * nothing lost). */
static void mm_grow(mm_store *ms)
{
    size_t nb = ms->nb * 2;
    mm_rec **tab = calloc(nb, sizeof *tab);

    if (tab == NULL)
        return;
    for (size_t i = 0; i < ms->nb; i++) {
        mm_rec *r = ms->tab[i], *next;
        for (; r != NULL; r = next) {
            next = r->next;
            r->next = tab[r->hash & (nb - 1)];
            tab[r->hash & (nb - 1)] = r;
        }
    }
    free(ms->tab);
    ms->tab = tab;
    ms->nb = nb;
}

void mm_hash_insert(mm_store *ms, mm_rec *r)
{
    mm_rec **b;

    if (ms->n >= ms->nb)
        mm_grow(ms);
    b = &ms->tab[r->hash & (ms->nb - 1)];
    r->next = *b;
    *b = r;
    ms->n++;
}

void mm_hash_remove(mm_store *ms, mm_rec *r)
{
    mm_rec **p = &ms->tab[r->hash & (ms->nb - 1)];

    while (*p != r)
        p = &(*p)->next;
    *p = r->next;
    r->next = NULL;
    ms->n--;
}

/* ---- records ---- */

void mm_board_free(mm_board *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->n; i++)
        free(b->byname[i]);
    free(b->byname);
    free(b->ord);
    free(b);
}

static void mm_list_free(mm_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->it[i].val);
    free(l->it);
    free(l);
}

void mm_rec_free(mm_rec *r)
{
    free(r->body);
    mm_board_free(r->board);
    mm_list_free(r->list);
    free(r);
}

void mm_del(mm_store *ms, mm_rec *r)
{
    mm_hash_remove(ms, r);
    if (r->heap_at != 0)
        mm_heap_remove(ms, r);
    mm_rec_free(r);
}

/* ---- calls ---- */

ams_status mm_begin(mm_call *c, store *s, const char *op, int fam,
                    const char *key, int64_t now_ms)
{
    size_t klen = key != NULL ? strlen(key) : 0;

    memset(c, 0, sizeof *c);
    c->ms = (mm_store *)s;
    c->op = op;
    if (klen == 0 || klen > STORE_KEY_MAX)
        return mm_bad(c->ms, op, "key is empty or longer than STORE_KEY_MAX");
    c->fam = fam;
    c->key = (const unsigned char *)key;
    c->klen = klen;
    c->hash = mm_hash(fam, c->key, klen);
    c->r = mm_find(c->ms, fam, c->key, klen, c->hash);
    c->live = mm_live(c->r, now_ms);
    return AMS_OK;
}

mm_rec *mm_rec_new(const mm_call *c)
{
    mm_rec *r = calloc(1, sizeof *r + c->klen);

    if (r == NULL)
        return NULL;
    r->fam = (unsigned char)c->fam;
    r->hash = c->hash;
    r->klen = c->klen;
    memcpy(r->key, c->key, c->klen);
    return r;
}

/* The call's record, created (and in the table) if absent, with room in
 * the heap for expire_at_ms; NULL when out of memory, nothing changed. */
static mm_rec *mm_make(mm_call *c, int64_t expire_at_ms)
{
    if (expire_at_ms != 0 && mm_heap_reserve(c->ms, 1) != 0)
        return NULL;
    if (c->r == NULL) {
        mm_rec *r = mm_rec_new(c);
        if (r == NULL)
            return NULL;
        mm_hash_insert(c->ms, r);
        c->r = r;
    }
    return c->r;
}

/* Store body (len bytes) with the version and expiry in the call's
 * record: a lock, tag, value or journal write.  Not counted in writes
 * (mm_put is the counted one): a journal is written by the call it
 * journals. */
static ams_status mm_store_body(mm_call *c, int64_t expire_at_ms,
                                uint64_t version, const void *body, size_t len)
{
    char *copy = malloc(len + 1);
    mm_rec *r;

    if (copy == NULL)
        return AMS_ERR_NOMEM;
    if (len > 0)
        memcpy(copy, body, len);
    copy[len] = '\0';
    if ((r = mm_make(c, expire_at_ms)) == NULL) {
        free(copy);
        return AMS_ERR_NOMEM;
    }
    free(r->body);
    r->body = copy;
    r->len = len;
    r->version = version;
    mm_set_expiry(c->ms, r, expire_at_ms);
    return AMS_OK;
}

static ams_status mm_put(mm_call *c, int64_t expire_at_ms, uint64_t version,
                         const void *body, size_t len)
{
    ams_status st = mm_store_body(c, expire_at_ms, version, body, len);

    if (st == AMS_OK)
        c->ms->writes++;
    return st;
}

char *mm_body_dup(const mm_rec *r)
{
    char *p = malloc(r->len + 1);

    if (p != NULL)
        memcpy(p, r->body, r->len + 1);
    return p;
}

/* ---- journals (store.h; body: store_enc.h) ---- */

/* Start a call on journal j; *closed: it is live and closed (a write
 * naming it is refused).  AMS_ERR_STORE when its body is corrupt. */
static ams_status mm_jrn_begin(mm_call *c, store *s, const char *op,
                               const store_journal *j, int64_t now_ms,
                               int *closed)
{
    ams_status st = mm_begin(c, s, op, FAM_JOURNAL, j->key, now_ms);

    *closed = 0;
    if (st != AMS_OK || !c->live)
        return st;
    if (store_jrn_count((const unsigned char *)c->r->body, c->r->len) < 0) {
        fprintf(stderr, "store: %s: %s: corrupt journal\n", c->ms->label, op);
        return AMS_ERR_STORE;
    }
    *closed = c->r->body[0] != STORE_JRN_OPEN;
    if (*closed)
        fprintf(stderr,
                "store: %s: %s: write refused: its journal is closed (the "
                "request's attempt was rolled back by a retry)\n",
                c->ms->label, op);
    return AMS_OK;
}

/* Append the add (delta to key) to the journal call jc began. */
static ams_status mm_jrn_append(mm_call *jc, const store_journal *j,
                                int64_t delta, const char *key)
{
    size_t klen = strlen(key), old = jc->live ? jc->r->len : 1;
    unsigned char *b = malloc(old + STORE_JRN_ENTRY_HDR + klen);
    ams_status st;

    if (b == NULL)
        return AMS_ERR_NOMEM;
    if (jc->live)
        memcpy(b, jc->r->body, old);
    else
        b[0] = STORE_JRN_OPEN;
    store_jrn_entry(b + old, delta, key, klen);
    st = mm_store_body(jc, jc->live ? jc->r->expire_at_ms : j->expire_at_ms, 0,
                       b, old + STORE_JRN_ENTRY_HDR + klen);
    free(b);
    return st;
}

/* Close the journal, giving back its adds when asked (store.h). */
static ams_status mm_journal_close(store *s, const store_journal *j,
                                   int give_back, int64_t now_ms,
                                   size_t *undone)
{
    mm_call jc;
    int state = 0; /* absent */
    size_t n = 0, pos = 1, klen, len = 1;
    const unsigned char *key;
    unsigned char *body = NULL, shut;
    int64_t delta;
    ams_status st =
        mm_begin(&jc, s, "journal_close", FAM_JOURNAL, j->key, now_ms);

    if (undone != NULL)
        *undone = 0;
    if (st != AMS_OK)
        return st;
    if (jc.live) {
        if (store_jrn_count((const unsigned char *)jc.r->body, jc.r->len) < 0)
            return mm_bad(jc.ms, "journal_close", "corrupt journal");
        state = (unsigned char)jc.r->body[0];
        body = (unsigned char *)jc.r->body;
        len = jc.r->len;
    }
    if (state == STORE_JRN_GIVEN_BACK ||
        (state == STORE_JRN_CLOSED && !give_back))
        return AMS_OK;
    while (give_back && body != NULL &&
           store_jrn_next(body, len, &pos, &delta, &key, &klen) == 1) {
        mm_rec *r = mm_find(jc.ms, FAM_COUNTER, key, klen,
                            mm_hash(FAM_COUNTER, key, klen));
        int64_t back;
        /* An expired counter stays absent: its period is over, there is
         * nothing left to give back to. */
        if (mm_live(r, now_ms) &&
            !__builtin_sub_overflow(r->count, delta, &back)) {
            r->count = back;
            n++;
        }
    }
    if (give_back || body == NULL) {
        shut = give_back ? STORE_JRN_GIVEN_BACK : STORE_JRN_CLOSED;
        st = mm_put(&jc, jc.live ? jc.r->expire_at_ms : j->expire_at_ms, 0,
                    &shut, 1);
    } else {
        body[0] = STORE_JRN_CLOSED; /* entries kept for a give back */
        jc.ms->writes++;
    }
    if (undone != NULL)
        *undone = n;
    return st;
}

/* ---- counters (expiry policy: see store_lmdb.c) ---- */

static ams_status mm_counter_add(store *s, const char *key, int64_t delta,
                                 int64_t lo, int64_t hi, int64_t expire_at_ms,
                                 int64_t now_ms, int64_t *out,
                                 const store_journal *j)
{
    mm_call c, jc;
    int64_t cur, next = 0;
    int closed = 0;
    ams_status st = mm_begin(&c, s, "counter_add", FAM_COUNTER, key, now_ms);
    mm_rec *r;

    if (st == AMS_OK && j != NULL) {
        st = mm_jrn_begin(&jc, s, "counter_add", j, now_ms, &closed);
        if (st == AMS_OK && closed)
            st = AMS_ERR_STORE;
        else if (st == AMS_OK && jc.live &&
                 store_jrn_count((const unsigned char *)jc.r->body,
                                 jc.r->len) >= STORE_JOURNAL_MAX)
            st = mm_bad(c.ms, "counter_add", "journal full");
    }
    if (st != AMS_OK)
        return st;
    cur = c.live ? c.r->count : 0;
    /* Overflow is a bound like any other: the add does not happen. */
    if (__builtin_add_overflow(cur, delta, &next) || next < lo || next > hi) {
        next = cur;
        st = AMS_CONFLICT;
    } else {
        int64_t exp = c.live ? c.r->expire_at_ms : expire_at_ms;
        int fresh = c.r == NULL;

        /* Both records exist before either changes: when the journal
         * cannot be written, the counter is not either. */
        if ((r = mm_make(&c, exp)) == NULL) {
            st = AMS_ERR_NOMEM;
        } else if (j != NULL &&
                   (st = mm_jrn_append(&jc, j, delta, key)) != AMS_OK) {
            if (fresh)
                mm_del(c.ms, r);
        } else {
            r->count = next;
            mm_set_expiry(c.ms, r, exp);
            c.ms->writes++;
        }
    }
    if (out != NULL && st >= 0)
        *out = next;
    return st;
}

static ams_status mm_counter_get(store *s, const char *key, int64_t now_ms,
                                 int64_t *out)
{
    mm_call c;
    ams_status st = mm_begin(&c, s, "counter_get", FAM_COUNTER, key, now_ms);

    if (st == AMS_OK && out != NULL)
        *out = c.live ? c.r->count : 0;
    return st;
}

/* ---- locks: re-entrant by token, released only by their token ---- */

static int mm_holds(const mm_call *c, const char *token, size_t tlen)
{
    return c->live && c->r->len == tlen &&
           memcmp(c->r->body, token, tlen) == 0;
}

static ams_status mm_lock_acquire(store *s, const char *key, const char *token,
                                  int64_t expire_at_ms, int64_t now_ms)
{
    mm_call c;
    size_t tlen = token != NULL ? strlen(token) : 0;
    ams_status st;

    if (tlen == 0)
        return mm_bad((mm_store *)s, "lock_acquire", "empty token");
    st = mm_begin(&c, s, "lock_acquire", FAM_LOCK, key, now_ms);
    if (st != AMS_OK)
        return st;
    if (c.live && !mm_holds(&c, token, tlen))
        return AMS_CONFLICT;
    return mm_put(&c, expire_at_ms, 0, token, tlen);
}

static ams_status mm_lock_release(store *s, const char *key, const char *token,
                                  int64_t now_ms)
{
    mm_call c;
    size_t tlen = token != NULL ? strlen(token) : 0;
    ams_status st;

    if (tlen == 0)
        return mm_bad((mm_store *)s, "lock_release", "empty token");
    st = mm_begin(&c, s, "lock_release", FAM_LOCK, key, now_ms);
    if (st != AMS_OK)
        return st;
    if (!mm_holds(&c, token, tlen))
        return AMS_CONFLICT;
    mm_del(c.ms, c.r);
    c.ms->writes++;
    return AMS_OK;
}

static ams_status mm_lock_get(store *s, const char *key, int64_t now_ms,
                              char **token)
{
    mm_call c;
    char *copy = NULL;
    ams_status st = mm_begin(&c, s, "lock_get", FAM_LOCK, key, now_ms);

    if (st != AMS_OK)
        return st;
    if (!c.live)
        st = AMS_NOT_FOUND;
    else if ((copy = mm_body_dup(c.r)) == NULL)
        st = AMS_ERR_NOMEM;
    if (token != NULL)
        *token = copy;
    else
        free(copy);
    return st;
}

/* ---- tags ---- */

static ams_status mm_tag_set(store *s, const char *key, const char *val,
                             size_t len, int64_t expire_at_ms, int64_t now_ms)
{
    mm_call c;
    ams_status st;

    if (val == NULL && len > 0)
        return mm_bad((mm_store *)s, "tag_set", "NULL value");
    st = mm_begin(&c, s, "tag_set", FAM_TAG, key, now_ms);
    if (st != AMS_OK)
        return st;
    return mm_put(&c, expire_at_ms, 0, val, len);
}

static ams_status mm_tag_get(store *s, const char *key, int64_t now_ms,
                             char **val, size_t *len)
{
    mm_call c;
    char *copy = NULL;
    ams_status st = mm_begin(&c, s, "tag_get", FAM_TAG, key, now_ms);

    if (st != AMS_OK)
        return st;
    if (!c.live)
        st = AMS_NOT_FOUND;
    else if (val != NULL && (copy = mm_body_dup(c.r)) == NULL)
        st = AMS_ERR_NOMEM;
    if (len != NULL)
        *len = st == AMS_OK ? c.r->len : 0;
    if (val != NULL)
        *val = copy;
    return st;
}

static ams_status mm_tag_del(store *s, const char *key, int64_t now_ms)
{
    mm_call c;
    ams_status st = mm_begin(&c, s, "tag_del", FAM_TAG, key, now_ms);

    if (st != AMS_OK)
        return st;
    if (!c.live)
        return AMS_NOT_FOUND; /* an expired one stays for sweep */
    mm_del(c.ms, c.r);
    c.ms->writes++;
    return AMS_OK;
}

/* ---- versioned values ----
 *
 * A successful cas takes the next number of a store-wide sequence (LMDB
 * takes its write transaction's id): versions of a key strictly increase
 * and are never reused, not even after the value expired or was swept
 * and was created again. */

static ams_status mm_value_get(store *s, const char *key, int64_t now_ms,
                               char **val, size_t *len, uint64_t *version)
{
    mm_call c;
    char *copy = NULL;
    ams_status st = mm_begin(&c, s, "value_get", FAM_VALUE, key, now_ms);

    if (st != AMS_OK)
        return st;
    if (!c.live)
        st = AMS_NOT_FOUND;
    else if (val != NULL && (copy = mm_body_dup(c.r)) == NULL)
        st = AMS_ERR_NOMEM;
    if (len != NULL)
        *len = st == AMS_OK ? c.r->len : 0;
    if (version != NULL)
        *version = st == AMS_OK ? c.r->version : 0;
    if (val != NULL)
        *val = copy;
    return st;
}

static ams_status mm_value_cas(store *s, const char *key, uint64_t expect,
                               const char *val, size_t len,
                               int64_t expire_at_ms, int64_t now_ms,
                               uint64_t *version, const store_journal *j)
{
    mm_call c;
    uint64_t cur;
    int closed = 0;
    ams_status st;

    if (val == NULL && len > 0)
        return mm_bad((mm_store *)s, "value_cas", "NULL value");
    if (j != NULL) {
        st = mm_jrn_begin(&c, s, "value_cas", j, now_ms, &closed);
        if (st != AMS_OK || closed)
            return st != AMS_OK ? st : AMS_ERR_STORE;
    }
    st = mm_begin(&c, s, "value_cas", FAM_VALUE, key, now_ms);
    if (st != AMS_OK)
        return st;
    cur = c.live ? c.r->version : 0;
    if (cur != expect) {
        st = AMS_CONFLICT;
    } else {
        st = mm_put(&c, expire_at_ms, c.ms->vseq + 1, val, len);
        if (st == AMS_OK)
            cur = ++c.ms->vseq;
    }
    if (version != NULL && st >= 0)
        *version = cur;
    return st;
}

/* ---- leaderboards (expiry policy: see store_lmdb.c) ---- */

static int mm_member_ok(const char *member, size_t *mlen)
{
    *mlen = member != NULL ? strlen(member) : 0;
    return *mlen > 0 && *mlen <= MM_MEMBER_MAX;
}

/* The rank order of (score, time, name) against m: < 0 when it ranks
 * before m. */
static int mm_order_cmp(int64_t score, int64_t time_ms, const char *name,
                        size_t len, const mm_member *m)
{
    if (score != m->score)
        return score > m->score ? -1 : 1;
    if (time_ms != m->time_ms)
        return time_ms < m->time_ms ? -1 : 1;
    return mm_bytes_cmp(name, len, m->name, m->len);
}

/* The first slot of b->ord whose member does not rank before (score,
 * time, name): the member's own slot when it is on the board. */
static size_t mm_ord_find(const mm_board *b, int64_t score, int64_t time_ms,
                          const char *name, size_t len)
{
    size_t lo = 0, hi = b->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (mm_order_cmp(score, time_ms, name, len, b->ord[mid]) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t mm_name_find(const mm_board *b, const char *name, size_t len,
                    int *found)
{
    size_t lo = 0, hi = b->n;

    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c =
            mm_bytes_cmp(name, len, b->byname[mid]->name, b->byname[mid]->len);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void mm_arr_insert(mm_member **a, size_t n, size_t at, mm_member *m)
{
    memmove(a + at + 1, a + at, (n - at) * sizeof *a);
    a[at] = m;
}

static void mm_arr_remove(mm_member **a, size_t n, size_t at)
{
    memmove(a + at, a + at + 1, (n - at - 1) * sizeof *a);
}

int mm_board_reserve(mm_board *b, size_t more)
{
    size_t cap;
    mm_member **o, **m;

    if (b->n + more <= b->cap)
        return 0;
    cap = b->cap ? b->cap * 2 : 8;
    while (cap < b->n + more)
        cap *= 2;
    o = realloc(b->ord, cap * sizeof *o);
    if (o == NULL)
        return -1;
    b->ord = o;
    m = realloc(b->byname, cap * sizeof *m);
    if (m == NULL)
        return -1; /* ord merely has more room than it needs */
    b->byname = m;
    b->cap = cap;
    return 0;
}

/* The expired board header r becomes a retired record: out of the hash
 * table, in the heap under its id, its members left for sweep. */
static void mm_retire(mm_store *ms, mm_rec *r)
{
    mm_hash_remove(ms, r);
    r->fam = FAM_RETIRED;
    r->retired = 1;
    free(r->board->ord);
    r->board->ord = NULL;
    mm_heap_fix(ms, r); /* same expiry, another key */
}

void mm_board_place(mm_call *c, mm_board *fresh, mm_rec *head, mm_member *m,
                    const char *member, size_t mlen, int64_t score,
                    int64_t expire_at_ms, int64_t now_ms)
{
    mm_board *b = fresh != NULL ? fresh : c->r->board;
    int found;
    size_t at;

    if (fresh != NULL) {
        if (c->r != NULL)
            mm_retire(c->ms, c->r);
        fresh->id = ++c->ms->bseq;
        for (int i = 7; i >= 0; i--)
            fresh->idkey[7 - i] = (unsigned char)(fresh->id >> (8 * i));
        head->board = fresh;
        mm_hash_insert(c->ms, head);
        mm_set_expiry(c->ms, head, expire_at_ms);
        c->r = head;
        c->live = 1;
    }
    at = mm_name_find(b, member, mlen, &found);
    if (found) {
        free(m);
        m = b->byname[at];
        mm_arr_remove(b->ord, b->n,
                      mm_ord_find(b, m->score, m->time_ms, m->name, m->len));
        b->n--;
    } else {
        m->len = mlen;
        memcpy(m->name, member, mlen);
        m->name[mlen] = '\0';
        mm_arr_insert(b->byname, b->n, at, m);
    }
    m->score = score;
    m->time_ms = now_ms;
    mm_arr_insert(b->ord, b->n, mm_ord_find(b, score, now_ms, member, mlen),
                  m);
    b->n++;
}

static ams_status mm_board_set(store *s, const char *key, const char *member,
                               int64_t score, int64_t expire_at_ms,
                               int64_t now_ms)
{
    mm_call c;
    mm_board *b = NULL, *fresh = NULL;
    mm_rec *head = NULL;
    mm_member *m = NULL;
    size_t mlen, at = 0;
    int found = 0;
    ams_status st;

    if (!mm_member_ok(member, &mlen))
        return mm_bad((mm_store *)s, "board_set",
                      "member is empty or too long");
    st = mm_begin(&c, s, "board_set", FAM_BOARD, key, now_ms);
    if (st != AMS_OK)
        return st;
    if (c.live) {
        b = c.r->board;
        at = mm_name_find(b, member, mlen, &found);
        if (found && b->byname[at]->score == score)
            return AMS_OK; /* keeps its time; nothing written */
    } else {
        /* A new board (over an expired one, which retires): a header of
         * its own, so the old one can stay in the heap as the retired
         * record. */
        fresh = calloc(1, sizeof *fresh);
        head = mm_rec_new(&c);
        if (fresh == NULL || head == NULL ||
            (expire_at_ms != 0 && mm_heap_reserve(c.ms, 1) != 0))
            goto nomem;
        b = fresh;
    }
    if (!found) {
        m = malloc(sizeof *m + mlen + 1);
        if (m == NULL || mm_board_reserve(b, 1) != 0)
            goto nomem;
    }
    mm_board_place(&c, fresh, head, m, member, mlen, score, expire_at_ms,
                   now_ms);
    c.ms->writes++;
    return AMS_OK;

nomem:
    free(m);
    if (fresh != NULL)
        mm_board_free(fresh);
    free(head);
    return AMS_ERR_NOMEM;
}

static ams_status mm_board_top(store *s, const char *key, size_t n,
                               int64_t now_ms, store_board_entry **out,
                               size_t *count)
{
    mm_call c;
    const mm_board *b;
    store_board_entry *got;
    size_t cnt = 0, want;
    ams_status st;

    if (out != NULL)
        *out = NULL;
    if (count != NULL)
        *count = 0;
    st = mm_begin(&c, s, "board_top", FAM_BOARD, key, now_ms);
    if (st != AMS_OK || !c.live || n == 0 || out == NULL)
        return st; /* an absent or expired board: AMS_OK, no entries */
    b = c.r->board;
    want = n < b->n ? n : b->n; /* n may be SIZE_MAX */
    if (want == 0)
        return AMS_OK;
    got = calloc(want, sizeof *got);
    if (got == NULL)
        return AMS_ERR_NOMEM;
    for (; cnt < want; cnt++) {
        const mm_member *m = b->ord[cnt];
        got[cnt].member = malloc(m->len + 1);
        if (got[cnt].member == NULL) {
            store_board_free(got, cnt);
            return AMS_ERR_NOMEM;
        }
        memcpy(got[cnt].member, m->name, m->len + 1);
        got[cnt].score = m->score;
    }
    *out = got;
    if (count != NULL)
        *count = cnt;
    return AMS_OK;
}

static ams_status mm_board_rank(store *s, const char *key, const char *member,
                                int64_t now_ms, int64_t *rank, int64_t *score)
{
    mm_call c;
    const mm_board *b;
    const mm_member *m;
    size_t mlen, at;
    int found;
    ams_status st;

    if (rank != NULL)
        *rank = 0;
    if (score != NULL)
        *score = 0;
    if (!mm_member_ok(member, &mlen))
        return mm_bad((mm_store *)s, "board_rank",
                      "member is empty or too long");
    st = mm_begin(&c, s, "board_rank", FAM_BOARD, key, now_ms);
    if (st != AMS_OK)
        return st;
    if (!c.live)
        return AMS_NOT_FOUND;
    b = c.r->board;
    at = mm_name_find(b, member, mlen, &found);
    if (!found)
        return AMS_NOT_FOUND;
    m = b->byname[at];
    if (rank != NULL)
        *rank =
            (int64_t)mm_ord_find(b, m->score, m->time_ms, m->name, m->len) + 1;
    if (score != NULL)
        *score = m->score;
    return AMS_OK;
}

/* ---- sweep ---- */

/* Free up to budget members of retired board b; returns the budget this
 * took (at least 1), as lm_board_drain does. */
static size_t mm_board_drain(mm_board *b, size_t budget, size_t *removed)
{
    size_t k = 0;

    while (b->n > 0 && k < budget) {
        free(b->byname[--b->n]);
        k++;
    }
    *removed += k;
    return k > 0 ? k : 1;
}

/* Free up to budget of an expired list's entries, oldest first; returns
 * the budget this took (at least 1), as lm_list_drain does. */
static size_t mm_list_drain(mm_list *l, size_t budget, size_t *removed)
{
    size_t k = l->n < budget ? l->n : budget;

    for (size_t i = 0; i < k; i++)
        free(l->it[i].val);
    memmove(l->it, l->it + k, (l->n - k) * sizeof *l->it);
    l->n -= k;
    *removed += k;
    return k > 0 ? k : 1;
}

/* The budget and the counts of lm_sweep_batch(): each expired record
 * visited takes 1 and counts 1 (a board's header too, its members then
 * becoming a retired record at the same expiry); a retired board's
 * members take 1 and count 1 each, and the retired record goes with the
 * last of them; an expired list's entries (live in the table, or
 * retired by an append) take 1 and count 1 each, and the record goes
 * with the last of them.  *removed == max means "call again soon". */
static ams_status mm_sweep(store *s, int64_t now_ms, size_t max,
                           size_t *removed)
{
    mm_store *ms = (mm_store *)s;
    size_t spent = 0, n = 0;

    while (spent < max && ms->nheap > 0) {
        mm_rec *r = ms->heap[0];

        spent++;
        if (r->expire_at_ms > now_ms)
            break;
        if (r->fam == FAM_RETIRED) {
            spent += mm_board_drain(r->board, max - spent + 1, &n) - 1;
            if (r->board->n == 0) {
                mm_heap_remove(ms, r);
                mm_rec_free(r);
            }
        } else if (r->fam == FAM_BOARD) {
            mm_retire(ms, r);
            n++;
        } else if (r->fam == FAM_LIST) {
            spent += mm_list_drain(r->list, max - spent + 1, &n) - 1;
            if (r->list->n > 0) {
                /* Budget spent: the rest at the next sweep. */
            } else if (r->retired) {
                mm_heap_remove(ms, r);
                mm_rec_free(r);
            } else {
                mm_del(ms, r);
            }
        } else {
            mm_del(ms, r);
            n++;
        }
    }
    if (removed != NULL)
        *removed = n;
    return AMS_OK;
}

/* ---- inspection ---- */

uint64_t store_mem_writes(store *s)
{
    return s != NULL && s->ops == &mm_ops ? ((mm_store *)s)->writes : 0;
}

static void mm_dump_bytes(FILE *f, const void *p, size_t len)
{
    const unsigned char *b = p;

    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '"' && b[i] != '\\')
            fputc(b[i], f);
        else
            fprintf(f, "\\x%02x", b[i]);
    }
    fputc('"', f);
}

static int mm_dump_cmp(const void *a, const void *b)
{
    return mm_rec_cmp(*(mm_rec *const *)a, *(mm_rec *const *)b);
}

static void mm_dump_rec(FILE *f, const mm_rec *r)
{
    static const struct {
        int fam;
        const char *name;
    } names[] = {{FAM_BOARD, "board"},     {FAM_COUNTER, "counter"},
                 {FAM_JOURNAL, "journal"}, {FAM_LIST, "list"},
                 {FAM_LOCK, "lock"},       {FAM_TAG, "tag"},
                 {FAM_VALUE, "value"}};
    const char *name = "?";

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].fam == r->fam)
            name = names[i].name;
    fprintf(f, "%s ", name);
    mm_dump_bytes(f, r->key, r->klen);
    fprintf(f, " exp=%" PRId64, r->expire_at_ms);
    switch (r->fam) {
    case FAM_COUNTER:
        fprintf(f, " %" PRId64, r->count);
        break;
    case FAM_VALUE:
        fprintf(f, " version=%" PRIu64 " ", r->version);
        mm_dump_bytes(f, r->body, r->len);
        break;
    case FAM_JOURNAL: {
        size_t pos = 1, klen;
        const unsigned char *key;
        int64_t delta;

        fputs(r->body[0] == STORE_JRN_OPEN     ? " open"
              : r->body[0] == STORE_JRN_CLOSED ? " closed"
                                               : " given-back",
              f);
        while (store_jrn_next((const unsigned char *)r->body, r->len, &pos,
                              &delta, &key, &klen) == 1) {
            fprintf(f, " %+" PRId64 "@", delta);
            mm_dump_bytes(f, key, klen);
        }
        break;
    }
    case FAM_LIST:
        for (size_t i = 0; i < r->list->n; i++) {
            fputc(' ', f);
            mm_dump_bytes(f, r->list->it[i].val, r->list->it[i].len);
        }
        break;
    case FAM_BOARD:
        for (size_t i = 0; i < r->board->n; i++) {
            const mm_member *m = r->board->ord[i];
            fputc(' ', f);
            mm_dump_bytes(f, m->name, m->len);
            fprintf(f, "=%" PRId64 "@%" PRId64, m->score, m->time_ms);
        }
        break;
    default: /* lock, tag */
        fputc(' ', f);
        mm_dump_bytes(f, r->body, r->len);
    }
    fputc('\n', f);
}

char *store_mem_dump(store *s, int64_t now_ms)
{
    mm_store *ms = (mm_store *)s;
    mm_rec **all;
    size_t n = 0, size = 0;
    char *buf = NULL;
    FILE *f;

    if (s == NULL || s->ops != &mm_ops)
        return NULL;
    all = malloc((ms->n ? ms->n : 1) * sizeof *all);
    if (all == NULL)
        return NULL;
    for (size_t i = 0; i < ms->nb; i++)
        for (mm_rec *r = ms->tab[i]; r != NULL; r = r->next)
            if (mm_live(r, now_ms) &&
                !(r->fam == FAM_COUNTER && r->count == 0))
                all[n++] = r;
    qsort(all, n, sizeof *all, mm_dump_cmp);
    f = open_memstream(&buf, &size);
    if (f != NULL) {
        for (size_t i = 0; i < n; i++)
            mm_dump_rec(f, all[i]);
        if (ferror(f)) {
            fclose(f);
            free(buf);
            buf = NULL;
        } else if (fclose(f) != 0) {
            free(buf);
            buf = NULL;
        }
    }
    free(all);
    return buf;
}

/* ---- open and close ---- */

static void mm_close(store *s)
{
    mm_store *ms = (mm_store *)s;

    /* Retired records are in the heap only; the heap's other records
     * are in the table, freed below (so this goes first). */
    for (size_t i = 0; i < ms->nheap; i++)
        if (ms->heap[i]->retired)
            mm_rec_free(ms->heap[i]);
    for (size_t i = 0; i < ms->nb; i++) {
        mm_rec *r = ms->tab[i], *next;
        for (; r != NULL; r = next) {
            next = r->next;
            mm_rec_free(r);
        }
    }
    free(ms->heap);
    free(ms->tab);
    free(ms->label);
    free(ms);
}

/* A new, empty store (see the top of the file: NAME only labels log
 * lines); opt is not used and may be NULL.  Returns a handle the caller
 * owns (store_close() it), or NULL with a message in err. */
store *store_mem_open(const char *name, const store_options *opt, char *err,
                      size_t errlen)
{
    mm_store *ms = calloc(1, sizeof *ms);

    (void)opt;
    if (name == NULL)
        name = "";
    if (ms != NULL) {
        ms->base.ops = &mm_ops;
        if (asprintf(&ms->label, "mem%s%s", *name ? ":" : "", name) < 0)
            ms->label = NULL;
        ms->nb = MM_BUCKETS_MIN;
        ms->tab = calloc(ms->nb, sizeof *ms->tab);
    }
    if (ms == NULL || ms->label == NULL || ms->tab == NULL) {
        if (ms != NULL) {
            free(ms->label);
            free(ms->tab);
            free(ms);
        }
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "store: mem:%s: out of memory", name);
        return NULL;
    }
    return &ms->base;
}

static const store_ops mm_ops = {
    .name = "mem",
    .counter_add = mm_counter_add,
    .counter_get = mm_counter_get,
    .lock_acquire = mm_lock_acquire,
    .lock_release = mm_lock_release,
    .lock_get = mm_lock_get,
    .tag_set = mm_tag_set,
    .tag_get = mm_tag_get,
    .tag_del = mm_tag_del,
    .value_get = mm_value_get,
    .value_cas = mm_value_cas,
    .journal_close = mm_journal_close,
    .board_set = mm_board_set,
    .board_top = mm_board_top,
    .board_rank = mm_board_rank,
    .sweep = mm_sweep,
    .close = mm_close,
    .commit = mm_commit,
    .read_many = mm_read_many,
    .list_range = mm_list_range,
};
