/*
 * wset.h -- a request's write set: the overlay through which its store
 * calls go while its chain runs (DESIGN.md §5, "the request is the unit of
 * work").
 *
 * Reads return the store's record with the request's own pending writes
 * applied on top; a record is read from the store once per run (the first
 * time it is asked for) and then answered from the set.  Writes are only
 * recorded, in call order, as store_wop's.  At the end the pipeline either
 * drops them (a refusal, a fault) or commits them with ws_commit() in one
 * atomic store step, which validates again what the answers given to the
 * plugins depended on: counter bounds (and, for EXACT adds, the value
 * seen), value versions.  A set that no longer validates is applied not
 * at all; the pipeline runs the request again on fresh state.
 *
 * Values handed out (tag and value bytes) are malloc'd copies the caller
 * owns.  A value's version as seen inside the set is its store version,
 * or a provisional one (bit 63 set) for a write of this request: valid for
 * later calls of the same request only, which is the only place a plugin
 * can use it.
 */
#ifndef AMS_CORE_WSET_H
#define AMS_CORE_WSET_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct svc_ws svc_ws;

/* A new, empty set over st (not owned); NULL when memory is short. */
svc_ws *ws_new(store *st);
void ws_free(svc_ws *ws);

/* Forget everything: writes and reads (a run starts again on fresh
 * state). */
void ws_reset(svc_ws *ws);
/* Drop the writes, keep what was read. */
void ws_drop_writes(svc_ws *ws);
/* How many writes the set holds. */
size_t ws_writes(const svc_ws *ws);
/* How many store reads the set made (for tests and metrics). */
size_t ws_reads(const svc_ws *ws);

ams_status ws_counter_get(svc_ws *ws, const char *key, int64_t now_ms,
                          int64_t *out);
/* As store counter_add, against what the request sees; recorded as an ADD
 * whose bounds the commit checks again.  exact: the commit also checks
 * that the value before it is still the one seen (for a plugin that was
 * told the new value of a counter only its user contends for). */
ams_status ws_counter_add(svc_ws *ws, const char *key, int64_t delta,
                          int64_t lo, int64_t hi, int64_t expire_at_ms,
                          int64_t now_ms, int64_t *out, int exact);

/* *val malloc'd (caller frees), NUL-terminated after len bytes. */
ams_status ws_tag_get(svc_ws *ws, const char *key, int64_t now_ms, char **val,
                      size_t *len);
ams_status ws_tag_set(svc_ws *ws, const char *key, const char *val, size_t len,
                      int64_t expire_at_ms, int64_t now_ms);
/* AMS_OK when the request saw the tag, AMS_NOT_FOUND when it did not. */
ams_status ws_tag_del(svc_ws *ws, const char *key, int64_t now_ms);

/* *val malloc'd (caller frees), NUL-terminated after len bytes. */
ams_status ws_value_get(svc_ws *ws, const char *key, int64_t now_ms,
                        char **val, size_t *len, uint64_t *version);
ams_status ws_value_cas(svc_ws *ws, const char *key, uint64_t expect,
                        const char *val, size_t len, int64_t expire_at_ms,
                        int64_t now_ms, uint64_t *version);

/* A write of key the request did not read: committed only if the store's
 * version is still version (0: absent).  Not visible to the request's
 * reads. */
ams_status ws_put_if(svc_ws *ws, const char *key, uint64_t version,
                     const char *val, size_t len, int64_t expire_at_ms);

/* Blind writes: recorded, applied by the commit. */
ams_status ws_board_set(svc_ws *ws, const char *key, const char *member,
                        int64_t score, int64_t expire_at_ms);
ams_status ws_append(svc_ws *ws, const char *key, const char *val, size_t len,
                     int64_t expire_at_ms);

/* Records read ahead (store read_many): each becomes what the set read
 * for its key, unless the set already has it.  Takes the values (v[i].val,
 * now owned by the set). */
void ws_prefill(svc_ws *ws, const store_rkey *k, store_rval *v, size_t n);
/* The keys the set had to read from the store one by one (not
 * prefilled), at most max of them into out (keys valid while the set
 * keeps its reads); returns how many. */
size_t ws_misses(const svc_ws *ws, store_rkey *out, size_t max);

/* Commit the writes in one atomic step (store_commit with one set) at
 * now_ms.  *res says what became of them (see store.h); the return value
 * is res->st.  The writes stay in the set either way. */
ams_status ws_commit(svc_ws *ws, int64_t now_ms, store_wres *res);
/* Op i of the writes (as ws_commit numbers them), or NULL. */
const store_wop *ws_op(const svc_ws *ws, size_t i);
/* After a commit: what it taught about sold-out stocks (soldout.h): an
 * ADD that no longer fitted under its bound (res), units given back
 * (negative adds of a set that was applied). */
void ws_learn(const svc_ws *ws, const store_wres *res);

#endif
