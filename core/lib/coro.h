/*
 * coro.h -- one coroutine per request.
 *
 * Host services look synchronous to plugin code, but a call that must wait
 * (a timer, later a Redis reply) yields the request's coroutine back to the
 * worker's event loop, which resumes it when the wait is over.  Stacks come
 * from a pool: mmap'd once, with a PROT_NONE guard page below each so a
 * plugin that overflows its stack faults instead of corrupting a neighbour,
 * and reused so a request costs no mmap/munmap.
 *
 * Single-threaded: a pool and its coroutines belong to one thread.
 */
#ifndef AMS_CORE_CORO_H
#define AMS_CORE_CORO_H

#include <stddef.h>

typedef struct coro coro;
typedef struct coro_pool coro_pool;
typedef void (*coro_fn)(void *arg);

/* A pool of stacks of stack_size bytes (rounded up to pages; 0: 256 KiB),
 * keeping at most max_free idle stacks cached.  Caller owns the pool. */
coro_pool *coro_pool_new(size_t stack_size, size_t max_free);
/* Frees the pool.  Every coroutine must have finished. */
void coro_pool_free(coro_pool *p);

/* A new coroutine that will run fn(arg) at its first coro_resume().
 * NULL when no stack could be had.  The pool owns it: it is recycled when
 * fn returns. */
coro *coro_new(coro_pool *p, coro_fn fn, void *arg);

/* Run c until it yields or finishes.  Returns 1 when fn has returned (c is
 * then recycled and must not be used again), 0 when it yielded.  Must not
 * be called from inside a coroutine. */
int coro_resume(coro *c);

/* From inside a coroutine: give control back to whoever resumed it. */
void coro_yield(void);

/* The running coroutine, or NULL when called from the main stack. */
coro *coro_current(void);

/* Counters for metrics and tests. */
size_t coro_pool_live(const coro_pool *p);   /* started, not finished */
size_t coro_pool_cached(const coro_pool *p); /* idle stacks kept */

#endif
