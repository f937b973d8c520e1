/*
 * wops.h -- write-set operations built for the store tests, one way for
 * every test program that commits (the store suite's commit family and
 * the LMDB-only checks), so a field added to store_wop is set in one
 * place.  Keys and values are borrowed: they must outlive the commit.
 */
#ifndef AMS_TESTS_WOPS_H
#define AMS_TESTS_WOPS_H

#include "store.h"

#include <stdint.h>
#include <string.h>

static inline store_wop w_add(const char *key, int64_t delta, int64_t lo,
                              int64_t hi, int64_t exp)
{
    store_wop op = {.kind = STORE_W_ADD,
                    .key = key,
                    .delta = delta,
                    .lo = lo,
                    .hi = hi,
                    .expire_at_ms = exp};
    return op;
}

/* An ADD that holds only when the counter is exactly `expect` before. */
static inline store_wop w_exact(const char *key, int64_t delta, int64_t lo,
                                int64_t hi, int64_t expect, int64_t exp)
{
    store_wop op = w_add(key, delta, lo, hi, exp);

    op.flags = STORE_WF_EXACT;
    op.expect = expect;
    return op;
}

static inline store_wop w_cas(const char *key, uint64_t version,
                              const char *val, int64_t exp)
{
    store_wop op = {.kind = STORE_W_CAS,
                    .key = key,
                    .version = version,
                    .val = val,
                    .len = strlen(val),
                    .expire_at_ms = exp};
    return op;
}

static inline store_wop w_tag_set(const char *key, const char *val,
                                  int64_t exp)
{
    store_wop op = {.kind = STORE_W_TAG_SET,
                    .key = key,
                    .val = val,
                    .len = strlen(val),
                    .expire_at_ms = exp};
    return op;
}

static inline store_wop w_tag_del(const char *key)
{
    store_wop op = {.kind = STORE_W_TAG_DEL, .key = key};
    return op;
}

static inline store_wop w_append(const char *key, const char *val, int64_t exp)
{
    store_wop op = {.kind = STORE_W_APPEND,
                    .key = key,
                    .val = val,
                    .len = strlen(val),
                    .expire_at_ms = exp};
    return op;
}

static inline store_wop w_board(const char *key, const char *member,
                                int64_t score, int64_t exp)
{
    store_wop op = {.kind = STORE_W_BOARD_SET,
                    .key = key,
                    .val = member,
                    .len = strlen(member),
                    .delta = score,
                    .expire_at_ms = exp};
    return op;
}

#endif
