/*
 * commitq.h -- group commit: a store whose commits, made from the
 * requests' coroutines of a worker, go to a committer thread that applies
 * whatever is queued in one store commit (LMDB: one write transaction,
 * one fsync) and wakes the requests when it is durable.
 *
 * Requests that reach their commit while one is in flight wait together
 * for the next: the batch grows with the load, with no timer and no
 * extra wait for a lone request.  The worker's loop never waits on the
 * disk meanwhile: it goes on parsing and running other requests' chains.
 * A request is answered only after its commit returned, so what it was
 * told is in the store as durably as the store's sync mode promises.
 *
 * Every other operation, and a commit made outside a coroutine (the
 * checker, tests), goes straight to the inner store on the caller's
 * thread.  Use it over a store that may be used from two threads of one
 * process (LMDB), never over mem: or Redis (whose commits are already
 * pipelined on the worker's connection).
 */
#ifndef AMS_CORE_COMMITQ_H
#define AMS_CORE_COMMITQ_H

#include "store.h"

struct event_base;

/* A store over inner (owned: closed with it) whose coroutine commits are
 * batched by a committer thread woken through base's loop.  Returns inner
 * itself when the thread cannot be started (commits then stay inline). */
store *commitq_wrap(store *inner, struct event_base *base);

/* Batches this process's committers made and the sets in them, so far:
 * for metrics and tests. */
void commitq_stats(uint64_t *batches, uint64_t *sets);

#endif
