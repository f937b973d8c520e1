/*
 * store_mem.h -- what only the in-memory backend offers: inspection of a
 * mem: store for the plugin conformance runner and tests.
 */
#ifndef AMS_CORE_STORE_MEM_H
#define AMS_CORE_STORE_MEM_H

#include "store.h"

#include <stdint.h>

/* On another backend's handle (or NULL) these return 0 and NULL. */
/* Number of successful mutations (writes/deletes of any family) since
 * open: the calls for which the LMDB backend would commit a write (a
 * board_set to the member's current score writes nothing); not reads,
 * not calls answering anything but AMS_OK, not sweeps.  A committed
 * write set counts each op as its single call would (a TAG_DEL of an
 * absent tag and a BOARD_SET to the current score: 0; an APPEND: 1); a
 * set that did not apply counts 0.  For telling whether a rule wrote to
 * the store. */
uint64_t store_mem_writes(store *s);
/* A canonical text dump of every live record at now_ms (sorted by
 * family+key, one line each, bytes hex-escaped), malloc'd, caller frees;
 * NULL when out of memory.  Two dumps compare equal when the stores hold
 * the same data, so "do + undo leaves the store as it was" is a string
 * comparison.  Exact for counters (one at 0 dumps as absent: it reads
 * the same), tags and locks; values are dumped with their version, which
 * every successful cas changes, so a value's dump differs after any cas,
 * even one that put its old bytes back.  Format: see store_mem.c. */
char *store_mem_dump(store *s, int64_t now_ms);

#endif
