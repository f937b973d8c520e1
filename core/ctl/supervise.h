/*
 * supervise.h -- the master's children: the workers (spawned, respawned
 * with back-off, restarted on request) and helper children for admin jobs.
 */
#ifndef AMS_CORE_SUPERVISE_H
#define AMS_CORE_SUPERVISE_H

#include "mstate.h"

#include <stddef.h>
#include <stdint.h>

/* Make the n worker slots (not started).  0, or -1 when out of memory. */
int supervise_init(master *m);
/* Free the slots and a helper (without its done(): only a child whose
 * master state is being dropped, or the master at exit, gets here). */
void supervise_free(master *m);

/* Fork worker s; on failure, try again in a second. */
void supervise_spawn(master *m, wslot *s);
/* Ask worker s to stop gracefully (it is then respawned at once). */
void supervise_restart(master *m, wslot *s);
/* Worker s exited unplanned: respawn it after a back-off that grows while
 * workers keep dying young, so a crash loop cannot spin. */
void supervise_respawn_later(master *m, wslot *s);
/* s's process is gone: close its channel. */
void supervise_close_slot(wslot *s);

/* Number of workers ready to serve. */
int supervise_ready(const master *m);
/* 1 when no worker and no helper runs. */
int supervise_all_exited(const master *m);
/* Graceful stop: ask every worker to stop, SIGTERM the helper; no more
 * respawns. */
void supervise_stop_all(master *m);
/* The stop took too long: SIGKILL every child still running. */
void supervise_kill_all(master *m);

/*
 * Helpers: a short-lived child the master forks for one admin job that
 * must not run in the master itself -- one that opens the store, say (a
 * store handle must not cross the fork of a later worker).  At most one
 * helper runs at a time.
 *
 * In the child, fn(m, fd, arg) runs with the master's memory as it was at
 * the fork and fd, the write end of a pipe; it writes its result there
 * and returns the exit status.  The child then _exit()s: nothing of the
 * master's is torn down there.  Its other inherited descriptors are closed
 * first and it dies with the master.
 *
 * In the master, done(m, arg, out, len, status, timed_out) runs from the
 * loop once the child has exited and the pipe is drained: out holds what
 * it wrote (NUL-terminated, at most SUPERVISE_HELPER_OUT_MAX bytes; more
 * is an error, status then says SIGKILL), status is its wait status,
 * timed_out says the master killed it after timeout_ms.  When amsd stops,
 * a running helper is sent SIGTERM and done() still runs before the
 * master exits.
 *
 * Returns 0, or -1 with errno (EBUSY: a helper is already running).
 */
#define SUPERVISE_HELPER_OUT_MAX (1 << 20)

typedef int (*supervise_helper_fn)(master *m, int fd, void *arg);
typedef void (*supervise_helper_done)(master *m, void *arg, const char *out,
                                      size_t len, int status, int timed_out);

int supervise_helper_start(master *m, const char *name, int64_t timeout_ms,
                           supervise_helper_fn fn, supervise_helper_done done,
                           void *arg);
/* The loop reaped pid: 1 when it was the helper (its done() may run). */
int supervise_helper_reaped(master *m, pid_t pid, int status);

#endif
