/*
 * store_mem_wset.c -- the mem: backend's write-set operations: commit
 * (each set validated against a running view, its allocations made, then
 * applied, which cannot fail), read_many, and list_range, the read of the
 * lists only an APPEND writes.  The semantics, the layout and what
 * store_mem_writes() counts are documented at the top of store_mem.c;
 * what the two files share: store_mem_int.h.
 */
#include "store_mem_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- lists (STORE_W_APPEND; expiry policy: set by the append that
 * creates the list, like counters and boards) ---- */

/* Room in l for more entries: a commit reserves for all of its set's
 * appends to one list before it applies any. */
static int mm_list_reserve(mm_list *l, size_t more)
{
    size_t cap;
    store_item *grown;

    if (l->n + more <= l->cap)
        return 0;
    cap = l->cap ? l->cap * 2 : 8;
    while (cap < l->n + more)
        cap *= 2;
    grown = realloc(l->it, cap * sizeof *grown);
    if (grown == NULL)
        return -1;
    l->it = grown;
    l->cap = cap;
    return 0;
}

ams_status mm_list_range(store *s, const char *key, size_t from, size_t max,
                         int64_t now_ms, store_item **out, size_t *count)
{
    mm_call c;
    const mm_list *l;
    store_item *got;
    size_t want;
    ams_status st;

    if (out != NULL)
        *out = NULL;
    if (count != NULL)
        *count = 0;
    st = mm_begin(&c, s, "list_range", FAM_LIST, key, now_ms);
    if (st != AMS_OK || !c.live || out == NULL)
        return st; /* an absent or expired list: AMS_OK, no entries */
    l = c.r->list;
    if (from >= l->n)
        return AMS_OK;
    want = l->n - from < max ? l->n - from : max; /* max may be SIZE_MAX */
    if (want == 0)
        return AMS_OK;
    got = calloc(want, sizeof *got);
    if (got == NULL)
        return AMS_ERR_NOMEM;
    for (size_t i = 0; i < want; i++) {
        const store_item *e = &l->it[from + i];
        got[i].val = malloc(e->len + 1);
        if (got[i].val == NULL) {
            store_items_free(got, i);
            return AMS_ERR_NOMEM;
        }
        memcpy(got[i].val, e->val, e->len + 1);
        got[i].len = e->len;
    }
    *out = got;
    if (count != NULL)
        *count = want;
    return AMS_OK;
}

/* ---- write sets (store.h) ----
 *
 * A set is done in three passes, so that it is applied whole or not at
 * all: validate every op against a running view (the store as it is,
 * plus what the set's earlier ops would make of it), then allocate all
 * that applying it needs, then apply it, which cannot fail.  The sets
 * of one call go one after another, each applied before the next is
 * validated: later sets see earlier ones.
 *
 * Out of memory while allocating for set i: nothing of it is applied;
 * it and the sets after it answer AMS_ERR_NOMEM (unknown 0), the sets
 * before it stay applied (their res say so), and so does the call.
 *
 * store_mem_writes(): an applied set counts what its ops would count as
 * single calls: an ADD, a CAS, a TAG_SET and an APPEND one each, a
 * TAG_DEL one when it deleted a live tag (tag_del would have answered
 * AMS_OK), a BOARD_SET one unless the member already had that score. */

/* One op of the set being committed: its record when it was validated,
 * and what applying it needs, allocated before anything is applied.
 * Whatever the apply pass did not take is freed after it. */
typedef struct mm_prep {
    mm_call c;
    int64_t after;   /* ADD: the value after it; CAS: the version it makes */
    mm_rec *spare;   /* a record for its key, if the key has none yet */
    char *body;      /* CAS, TAG_SET, APPEND: a copy of val (NUL after) */
    mm_member *m;    /* BOARD_SET: the member, if it is new to the board */
    mm_board *board; /* BOARD_SET: a new board, if it has none live */
} mm_prep;

static const char *const mm_wop_name[] = {
    [STORE_W_ADD] = "commit ADD",
    [STORE_W_CAS] = "commit CAS",
    [STORE_W_TAG_SET] = "commit TAG_SET",
    [STORE_W_TAG_DEL] = "commit TAG_DEL",
    [STORE_W_APPEND] = "commit APPEND",
    [STORE_W_BOARD_SET] = "commit BOARD_SET",
};

static int mm_wop_fam(int kind)
{
    switch (kind) {
    case STORE_W_ADD:
        return FAM_COUNTER;
    case STORE_W_CAS:
        return FAM_VALUE;
    case STORE_W_TAG_SET:
    case STORE_W_TAG_DEL:
        return FAM_TAG;
    case STORE_W_APPEND:
        return FAM_LIST;
    case STORE_W_BOARD_SET:
        return FAM_BOARD;
    default:
        return 0;
    }
}

/* Whether ops a and b are of one kind on one key. */
static int mm_wop_same(const store_wop *a, const store_wop *b)
{
    return a->kind == b->kind && strcmp(a->key, b->key) == 0;
}

/* How many ops of set w, from op i on, are of op i's kind and key. */
static size_t mm_wop_count(const store_wset *w, size_t i)
{
    size_t n = 0;

    for (size_t j = i; j < w->n; j++)
        n += mm_wop_same(&w->op[j], &w->op[i]);
    return n;
}

/* Whether an op of set w before op i deletes op i's tag: only a TAG_DEL
 * removes a record inside a set. */
static int mm_wop_deleted_before(const store_wset *w, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (w->op[j].kind == STORE_W_TAG_DEL &&
            strcmp(w->op[j].key, w->op[i].key) == 0)
            return 1;
    return 0;
}

/* Check op's arguments and look its record up into p->c: AMS_OK, or
 * AMS_ERR (logged) for a bad op. */
static ams_status mm_wop_begin(mm_store *ms, const store_wop *op,
                               int64_t now_ms, mm_prep *p)
{
    int fam = mm_wop_fam(op->kind);
    const char *name;

    if (fam == 0)
        return mm_bad(ms, "commit", "unknown op kind");
    name = mm_wop_name[op->kind];
    if (op->kind != STORE_W_ADD && op->kind != STORE_W_TAG_DEL &&
        op->val == NULL && op->len > 0)
        return mm_bad(ms, name, "NULL value");
    if (op->kind == STORE_W_BOARD_SET &&
        (op->len == 0 || op->len > MM_MEMBER_MAX ||
         memchr(op->val, '\0', op->len) != NULL))
        return mm_bad(ms, name, "member is empty, too long or not text");
    return mm_begin(&p->c, &ms->base, name, fam, op->key, now_ms);
}

/* Pass 1: validate set w op by op against the running view, into p[]
 * (zeroed by the caller).  AMS_OK, AMS_CONFLICT or AMS_ERR, with res->at
 * and res->fresh. */
static ams_status mm_wset_validate(mm_store *ms, const store_wset *w,
                                   mm_prep *p, store_wres *res)
{
    uint64_t vseq = ms->vseq;

    /* Every op's arguments first: a bad op is a caller bug, reported
     * even when an earlier op would conflict. */
    for (size_t i = 0; i < w->n; i++) {
        if (mm_wop_begin(ms, &w->op[i], w->now_ms, &p[i]) != AMS_OK) {
            res->at = i;
            return AMS_ERR;
        }
    }
    for (size_t i = 0; i < w->n; i++) {
        const store_wop *op = &w->op[i];
        const mm_call *c = &p[i].c;
        int64_t f, next;
        uint64_t v;
        size_t j = i;

        if (op->kind != STORE_W_ADD && op->kind != STORE_W_CAS)
            continue; /* blind */
        /* The running view: what the last earlier op of this kind on
         * this key left, else the store. */
        while (j > 0 && !mm_wop_same(&w->op[j - 1], op))
            j--;
        if (op->kind == STORE_W_ADD) {
            f = j > 0 ? p[j - 1].after : c->live ? c->r->count : 0;
            if (__builtin_add_overflow(f, op->delta, &next) || next < op->lo ||
                next > op->hi ||
                ((op->flags & STORE_WF_EXACT) && f != op->expect)) {
                res->at = i;
                res->fresh = f;
                return AMS_CONFLICT;
            }
            p[i].after = next;
        } else {
            v = j > 0 ? (uint64_t)p[j - 1].after : c->live ? c->r->version : 0;
            if (v != op->version) {
                res->at = i;
                res->fresh = (int64_t)v;
                return AMS_CONFLICT;
            }
            /* The version the apply pass will hand it: the next of the
             * store-wide sequence, in op order. */
            p[i].after = (int64_t)++vseq;
        }
    }
    return AMS_OK;
}

/* Pass 2: allocate what applying the validated set w needs, into p[].
 * AMS_OK, or AMS_ERR_NOMEM with nothing changed but room reserved. */
static ams_status mm_wset_alloc(mm_store *ms, const store_wset *w, mm_prep *p)
{
    size_t expiring = 0;

    for (size_t i = 0; i < w->n; i++) {
        const store_wop *op = &w->op[i];
        mm_prep *q = &p[i];

        /* Every op may give a record an expiry: room in the heap for
         * all of them (more than enough). */
        expiring += op->expire_at_ms != 0;
        if (op->kind == STORE_W_TAG_DEL)
            continue;
        if (op->kind == STORE_W_BOARD_SET) {
            size_t more = mm_wop_count(w, i);
            /* A board an earlier op of the set creates is that op's
             * fresh board, with room for this op too. */
            if (q->c.live) {
                if (mm_board_reserve(q->c.r->board, more) != 0)
                    return AMS_ERR_NOMEM;
            } else if ((q->board = calloc(1, sizeof *q->board)) == NULL ||
                       mm_board_reserve(q->board, more) != 0 ||
                       (q->spare = mm_rec_new(&q->c)) == NULL) {
                return AMS_ERR_NOMEM;
            }
            q->m = malloc(sizeof *q->m + op->len + 1);
            if (q->m == NULL)
                return AMS_ERR_NOMEM;
            continue;
        }
        if (op->kind != STORE_W_ADD) { /* CAS, TAG_SET, APPEND */
            q->body = malloc(op->len + 1);
            if (q->body == NULL)
                return AMS_ERR_NOMEM;
            if (op->len > 0)
                memcpy(q->body, op->val, op->len);
            q->body[op->len] = '\0';
        }
        if (op->kind == STORE_W_APPEND) {
            /* Room for the set's appends to this list from here on: in
             * the live list, else in a new one (an expired one retires,
             * its entries left for sweep; a list an earlier op of the
             * set creates is that op's, with room for this op too). */
            mm_rec *r = q->c.r;
            if (!q->c.live) {
                if ((r = q->spare = mm_rec_new(&q->c)) == NULL ||
                    (r->list = calloc(1, sizeof *r->list)) == NULL)
                    return AMS_ERR_NOMEM;
            }
            if (mm_list_reserve(r->list, mm_wop_count(w, i)) != 0)
                return AMS_ERR_NOMEM;
            continue;
        }
        /* A record for a key that has none, or whose tag an earlier
         * TAG_DEL of the set will delete. */
        if ((q->c.r == NULL ||
             (op->kind == STORE_W_TAG_SET && mm_wop_deleted_before(w, i))) &&
            (q->spare = mm_rec_new(&q->c)) == NULL)
            return AMS_ERR_NOMEM;
    }
    return mm_heap_reserve(ms, expiring) == 0 ? AMS_OK : AMS_ERR_NOMEM;
}

/* The op's record: the stored one, or the spare (into the table) when
 * the key has none; *made says which. */
static mm_rec *mm_wop_rec(mm_prep *q, int *made)
{
    mm_call *c = &q->c;

    c->r = mm_find(c->ms, c->fam, c->key, c->klen, c->hash);
    *made = c->r == NULL;
    if (c->r == NULL) {
        c->r = q->spare;
        q->spare = NULL;
        mm_hash_insert(c->ms, c->r);
    }
    return c->r;
}

/* Pass 3: apply the validated set w with what pass 2 allocated; cannot
 * fail.  Each op finds its record again: an earlier op of the set may
 * have made it (or, for a tag, deleted it). */
static void mm_wset_apply(mm_store *ms, const store_wset *w, mm_prep *p)
{
    for (size_t i = 0; i < w->n; i++) {
        const store_wop *op = &w->op[i];
        mm_prep *q = &p[i];
        mm_call *c = &q->c;
        mm_rec *r;
        int made, live;

        if (op->kind == STORE_W_BOARD_SET) {
            const mm_board *b;
            size_t at;
            int found = 0;

            c->r = mm_find(ms, FAM_BOARD, c->key, c->klen, c->hash);
            c->live = mm_live(c->r, w->now_ms);
            if (c->live) {
                b = c->r->board;
                at = mm_name_find(b, op->val, op->len, &found);
                if (found && b->byname[at]->score == op->delta)
                    continue; /* keeps its time; nothing written */
            }
            mm_board_place(c, c->live ? NULL : q->board,
                           c->live ? NULL : q->spare, found ? NULL : q->m,
                           op->val, op->len, op->delta, op->expire_at_ms,
                           w->now_ms);
            if (!found)
                q->m = NULL;        /* placed on the board */
            if (c->r == q->spare) { /* the board is the one it made */
                q->board = NULL;
                q->spare = NULL;
            }
            ms->writes++;
            continue;
        }
        if (op->kind == STORE_W_APPEND) {
            r = mm_find(ms, FAM_LIST, c->key, c->klen, c->hash);
            if (!mm_live(r, w->now_ms)) {
                /* An expired list is absent: the append starts a new
                 * one, the old entries left for sweep to count. */
                if (r != NULL) {
                    mm_hash_remove(ms, r);
                    r->retired = 1;
                }
                r = q->spare;
                q->spare = NULL;
                mm_hash_insert(ms, r);
                mm_set_expiry(ms, r, op->expire_at_ms);
            }
            r->list->it[r->list->n].val = q->body;
            r->list->it[r->list->n++].len = op->len;
            q->body = NULL;
            ms->writes++;
            continue;
        }
        if (op->kind == STORE_W_TAG_DEL) {
            c->r = mm_find(ms, FAM_TAG, c->key, c->klen, c->hash);
            if (mm_live(c->r, w->now_ms)) {
                mm_del(ms, c->r);
                ms->writes++;
            }
            continue; /* an expired one stays for sweep */
        }
        r = mm_wop_rec(q, &made);
        live = !made && mm_live(r, w->now_ms);
        switch (op->kind) {
        case STORE_W_ADD:
            /* Only the add that creates the counter sets its expiry. */
            r->count = q->after;
            if (!live)
                mm_set_expiry(ms, r, op->expire_at_ms);
            break;
        default: /* CAS, TAG_SET */
            free(r->body);
            r->body = q->body;
            r->len = op->len;
            q->body = NULL;
            r->version = op->kind == STORE_W_CAS ? ++ms->vseq : 0;
            mm_set_expiry(ms, r, op->expire_at_ms);
        }
        ms->writes++;
    }
}

/* Free what the apply pass of a set of n ops did not take. */
static void mm_prep_free(mm_prep *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i].spare != NULL)
            mm_rec_free(p[i].spare);
        mm_board_free(p[i].board);
        free(p[i].body);
        free(p[i].m);
    }
}

ams_status mm_commit(store *s, const store_wset *sets, size_t n,
                     store_wres *res)
{
    mm_store *ms = (mm_store *)s;
    ams_status st = AMS_OK;

    if (n > 0 && (sets == NULL || res == NULL))
        return mm_bad(ms, "commit", "NULL sets or results");
    for (size_t i = 0; i < n; i++) {
        const store_wset *w = &sets[i];
        mm_prep *p = NULL;

        memset(&res[i], 0, sizeof res[i]);
        if (st != AMS_OK) { /* out of memory in an earlier set */
            res[i].st = st;
            continue;
        }
        if (w->n > 0 && w->op == NULL) {
            res[i].st = mm_bad(ms, "commit", "a set of ops without ops");
            continue;
        }
        if (w->n > 0 && (p = calloc(w->n, sizeof *p)) == NULL) {
            res[i].st = st = AMS_ERR_NOMEM;
            continue;
        }
        res[i].st = mm_wset_validate(ms, w, p, &res[i]);
        if (res[i].st == AMS_OK && mm_wset_alloc(ms, w, p) != AMS_OK)
            res[i].st = st = AMS_ERR_NOMEM;
        if (res[i].st == AMS_OK)
            mm_wset_apply(ms, w, p);
        mm_prep_free(p, w->n);
        free(p);
    }
    return st;
}

/* ---- reads in one step ---- */

/* read_many's family letters are the record families' bytes. */
_Static_assert((int)STORE_F_COUNTER == (int)FAM_COUNTER &&
                   (int)STORE_F_TAG == (int)FAM_TAG &&
                   (int)STORE_F_VALUE == (int)FAM_VALUE,
               "STORE_F_* are not the family bytes");

ams_status mm_read_many(store *s, const store_rkey *k, size_t n,
                        int64_t now_ms, store_rval *out)
{
    mm_store *ms = (mm_store *)s;
    ams_status st = AMS_OK;

    if (n == 0)
        return AMS_OK;
    if (k == NULL || out == NULL)
        return mm_bad(ms, "read_many", "NULL keys or results");
    memset(out, 0, n * sizeof *out);
    for (size_t i = 0; i < n && st == AMS_OK; i++) {
        mm_call c;
        int fam = k[i].fam;

        if (fam != STORE_F_COUNTER && fam != STORE_F_TAG &&
            fam != STORE_F_VALUE) {
            st = mm_bad(ms, "read_many", "unknown family");
            break;
        }
        st = mm_begin(&c, s, "read_many", fam, k[i].key, now_ms);
        if (st != AMS_OK)
            break;
        if (fam == STORE_F_COUNTER) {
            out[i].num = c.live ? c.r->count : 0; /* absent: 0, AMS_OK */
        } else if (!c.live) {
            out[i].st = AMS_NOT_FOUND;
        } else if ((out[i].val = mm_body_dup(c.r)) == NULL) {
            st = AMS_ERR_NOMEM;
        } else {
            out[i].len = c.r->len;
            out[i].version = c.r->version; /* tags: 0 */
        }
    }
    if (st != AMS_OK) { /* the failure of them all: nothing handed back */
        store_rvals_free(out, n);
        memset(out, 0, n * sizeof *out);
    }
    return st;
}
