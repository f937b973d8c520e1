/*
 * soldout.h -- what this worker knows to be sold out: a bounded counter
 * (a stock) that an add of +delta could not fit under its upper bound hi.
 * A grab of a known sold-out stock is refused from memory, without a
 * store read or a commit (DESIGN.md §5: "what is known to be sold out is
 * answered from memory").
 *
 * A fact is kept for SOLDOUT_TTL_MS and for its hi only, and forgotten on
 * a reload (soldout_clear) and when this worker gives a unit back
 * (soldout_forget): a unit given back elsewhere (another worker or node)
 * is seen at most SOLDOUT_TTL_MS late, which can refuse a grab that would
 * have fitted, never let one through that does not.
 */
#ifndef AMS_CORE_SOLDOUT_H
#define AMS_CORE_SOLDOUT_H

#include <stdint.h>

#define SOLDOUT_TTL_MS 1000
#define SOLDOUT_MAX 4096 /* facts kept; the oldest goes first */

/* 1 when key is known sold out for bound hi at now (monotonic ms), with
 * the value it was seen at in *value. */
int soldout_get(const char *key, int64_t hi, int64_t now_ms, int64_t *value);
/* 1 when key is known sold out at now for some bound (prefetch leaves
 * such a stock unread: the add that follows is refused from memory). */
int soldout_known(const char *key, int64_t now_ms);
void soldout_set(const char *key, int64_t hi, int64_t value, int64_t now_ms);
void soldout_forget(const char *key);
void soldout_clear(void);
/* Grabs refused from memory so far (metrics). */
uint64_t soldout_hits(void);

#endif
