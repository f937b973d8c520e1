/*
 * metrics_store.c -- a store that counts its backend's failures (see
 * metrics_store_wrap in metrics.h).  Pure pass-through otherwise: same
 * arguments, same answers.
 */
#include "metrics.h"

#include <stdlib.h>

typedef struct counted {
    store base; /* first: a counted * is a store * */
    store *in;
} counted;

#define IN(s) (((counted *)(s))->in)

/* A new store operation must be passed through here too, or calling it
 * on a worker's store would jump to NULL. */
_Static_assert(sizeof(store_ops) == 21 * sizeof(void *),
               "store_ops changed: pass the new operation through in "
               "metrics_store.c");

static ams_status seen(ams_status st, const char *op)
{
    if (st == AMS_ERR_STORE)
        metrics_count_store_error(op);
    return st;
}

static ams_status c_counter_add(store *s, const char *k, int64_t d, int64_t lo,
                                int64_t hi, int64_t exp, int64_t now,
                                int64_t *out, const store_journal *j)
{
    return seen(store_counter_add_j(IN(s), k, d, lo, hi, exp, now, out, j),
                "counter_add");
}

static ams_status c_counter_get(store *s, const char *k, int64_t now,
                                int64_t *out)
{
    return seen(store_counter_get(IN(s), k, now, out), "counter_get");
}

static ams_status c_lock_acquire(store *s, const char *k, const char *tok,
                                 int64_t exp, int64_t now)
{
    return seen(store_lock_acquire(IN(s), k, tok, exp, now), "lock_acquire");
}

static ams_status c_lock_release(store *s, const char *k, const char *tok,
                                 int64_t now)
{
    return seen(store_lock_release(IN(s), k, tok, now), "lock_release");
}

static ams_status c_lock_get(store *s, const char *k, int64_t now, char **tok)
{
    return seen(store_lock_get(IN(s), k, now, tok), "lock_get");
}

static ams_status c_tag_set(store *s, const char *k, const char *v, size_t len,
                            int64_t exp, int64_t now)
{
    return seen(store_tag_set(IN(s), k, v, len, exp, now), "tag_set");
}

static ams_status c_tag_get(store *s, const char *k, int64_t now, char **v,
                            size_t *len)
{
    return seen(store_tag_get(IN(s), k, now, v, len), "tag_get");
}

static ams_status c_tag_del(store *s, const char *k, int64_t now)
{
    return seen(store_tag_del(IN(s), k, now), "tag_del");
}

static ams_status c_value_get(store *s, const char *k, int64_t now, char **v,
                              size_t *len, uint64_t *ver)
{
    return seen(store_value_get(IN(s), k, now, v, len, ver), "value_get");
}

static ams_status c_value_cas(store *s, const char *k, uint64_t expect,
                              const char *v, size_t len, int64_t exp,
                              int64_t now, uint64_t *ver,
                              const store_journal *j)
{
    return seen(store_value_cas_j(IN(s), k, expect, v, len, exp, now, ver, j),
                "value_cas");
}

static ams_status c_journal_close(store *s, const store_journal *j,
                                  int give_back, int64_t now, size_t *undone)
{
    return seen(store_journal_close(IN(s), j, give_back, now, undone),
                "journal_close");
}

static ams_status c_board_set(store *s, const char *k, const char *member,
                              int64_t score, int64_t exp, int64_t now)
{
    return seen(store_board_set(IN(s), k, member, score, exp, now),
                "board_set");
}

static ams_status c_board_top(store *s, const char *k, size_t n, int64_t now,
                              store_board_entry **out, size_t *count)
{
    return seen(store_board_top(IN(s), k, n, now, out, count), "board_top");
}

static ams_status c_board_rank(store *s, const char *k, const char *member,
                               int64_t now, int64_t *rank, int64_t *score)
{
    return seen(store_board_rank(IN(s), k, member, now, rank, score),
                "board_rank");
}

static ams_status c_sweep(store *s, int64_t now, size_t max, size_t *removed)
{
    return seen(store_sweep(IN(s), now, max, removed), "sweep");
}

static ams_status c_commit(store *s, const store_wset *sets, size_t n,
                           store_wres *res)
{
    return seen(store_commit(IN(s), sets, n, res), "commit");
}

static ams_status c_read_many(store *s, const store_rkey *k, size_t n,
                              int64_t now, store_rval *out)
{
    return seen(store_read_many(IN(s), k, n, now, out), "read_many");
}

static ams_status c_list_range(store *s, const char *k, size_t from,
                               size_t max, int64_t now, store_item **out,
                               size_t *count)
{
    return seen(store_list_range(IN(s), k, from, max, now, out, count),
                "list_range");
}

static ams_status c_read_rate(store *s, const store_rkey *k, size_t n,
                              const store_rate *r, size_t nr, int64_t now,
                              store_rval *out, store_rate_res *rout)
{
    return seen(store_read_rate(IN(s), k, n, r, nr, now, out, rout),
                "read_rate");
}

static void c_close(store *s)
{
    store_close(IN(s));
    free(s);
}

static const store_ops counted_ops = {
    .name = "counted",
    .counter_add = c_counter_add,
    .counter_get = c_counter_get,
    .lock_acquire = c_lock_acquire,
    .lock_release = c_lock_release,
    .lock_get = c_lock_get,
    .tag_set = c_tag_set,
    .tag_get = c_tag_get,
    .tag_del = c_tag_del,
    .value_get = c_value_get,
    .value_cas = c_value_cas,
    .journal_close = c_journal_close,
    .board_set = c_board_set,
    .board_top = c_board_top,
    .board_rank = c_board_rank,
    .sweep = c_sweep,
    .close = c_close,
    .commit = c_commit,
    .read_many = c_read_many,
    .list_range = c_list_range,
    .read_rate = c_read_rate,
};

store *metrics_store_wrap(store *inner)
{
    counted *c;

    if (inner == NULL)
        return NULL;
    if ((c = malloc(sizeof *c)) == NULL)
        return inner; /* uncounted, but serving */
    c->base.ops = &counted_ops;
    c->in = inner;
    return &c->base;
}
