/*
 * prefetch.h -- what a method reads, learned per worker, so that the next
 * request of the same method reads it all in one step (store read_many:
 * one LMDB read transaction, one Redis round trip) before its chain runs,
 * instead of one store call per read (DESIGN.md §5: "one pipelined round
 * trip for the reads the chain needs up front").
 *
 * For each (activity id, method name) it keeps the keys its requests read
 * from the store (their write set's misses), at most PREFETCH_KEYS, with
 * the request's user (and its request_id in the idempotency record's key)
 * written as a placeholder, so that another request reads its own
 * records.  What is learned is only a guess: a key
 * read for nothing costs a little; a key missed is read when the chain
 * asks for it and learned then.  A reload keeps what was learned (the
 * same activity reads the same keys, mostly).
 */
#ifndef AMS_CORE_PREFETCH_H
#define AMS_CORE_PREFETCH_H

#include "wset.h"

#include <stdint.h>

#define PREFETCH_KEYS 16
#define PREFETCH_METHODS 4096

/* Fill ws with what method (activity, method) of user uid (may be NULL)
 * is known to read, in one store read.  Returns how many records it
 * read, or -1 with *st set when the store failed (nothing kept). */
int prefetch_fill(svc_ws *ws, store *st, int64_t activity, const char *method,
                  const char *uid, const char *rid, int64_t now_ms,
                  ams_status *st_out);
/* prefetch_fill, and in the same store call (one Redis round trip) the
 * GCRA steps of the nr rate buckets r, answered in rres
 * (store_read_rate; ratelimit.h).  Even with nothing learned yet. */
int prefetch_fill_rate(svc_ws *ws, store *st, int64_t activity,
                       const char *method, const char *uid, const char *rid,
                       int64_t now_ms, const store_rate *r, size_t nr,
                       store_rate_res *rres, ams_status *st_out);
/* Learn what ws had to read one by one (its misses) for a request of
 * user uid with request_id rid. */
void prefetch_learn(const svc_ws *ws, int64_t activity, const char *method,
                    const char *uid, const char *rid);

#endif
