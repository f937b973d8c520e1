/*
 * session.h -- the per-user session lock of the chain (DESIGN.md §2 step
 * 5): while a request of user U runs method M of activity A, a second one
 * of the same (A, M, U) is answered "busy" at once, never queued.
 *
 * The lock lives in the worker's memory: taking and releasing it costs no
 * store write, and a worker that dies takes its locks with it.  It is
 * exact within a worker; two requests of one user that reach two workers
 * or two nodes may both run, and the commit then decides (a limit or a
 * stock bound lets one of them through, and the other is refused).
 */
#ifndef AMS_CORE_SESSION_H
#define AMS_CORE_SESSION_H

#include <stdint.h>

typedef struct session_hold {
    uint64_t hash; /* 0: holds nothing */
    char *name;    /* owned */
} session_hold;

/* Take the lock of (activity, method, uid) into *h.  AMS_OK (0), or 3
 * (AMS_CONFLICT) when another request of this worker holds it, or -3
 * (AMS_ERR_NOMEM). */
int session_enter(session_hold *h, int64_t activity, const char *method,
                  const char *uid);
/* Release what *h holds (nothing: no-op). */
void session_leave(session_hold *h);
/* How many locks this worker holds now. */
unsigned long session_held(void);

#endif
