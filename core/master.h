/*
 * master.h -- the master process: listening sockets, worker supervision,
 * the admin plane.  It never loads a plugin, so a plugin bug cannot take
 * down the control plane.
 */
#ifndef AMS_CORE_MASTER_H
#define AMS_CORE_MASTER_H

#include "conf.h"

#include <cjson/cJSON.h>

#include <stdint.h>
#include <sys/types.h>

struct event;
struct event_base;
struct evhttp;

typedef struct master master;
typedef struct mhelper mhelper;

typedef struct wslot {
    master *m;
    int index;
    pid_t pid;            /* 0: not running */
    int ctl_fd;           /* master's end, -1 when closed */
    struct event *ctl_ev;
    struct event *respawn_ev;
    int ready;            /* serving its generation */
    uint64_t generation;  /* the one it said it serves */
    int64_t started_ms;   /* monotonic */
    int64_t backoff_ms;   /* delay before the next respawn */
    char *failure;        /* last "failed" message, owned */
} wslot;

struct master {
    conf *c;
    struct event_base *base;
    int listen_fd, admin_fd;
    struct evhttp *admin;
    wslot *w;
    int n;
    struct event *sigs[5];
    struct event *kill_timer;
    int starting;         /* not every worker has been ready yet */
    int stopping;
    int exit_code;
    uint64_t generation;
    uint64_t restarts;    /* workers respawned after an unplanned exit */
    mhelper *helper;      /* the running helper child, or NULL */
    /* Generations (reload.c). */
    char run_dir[1024];   /* snapshots and plugin copies (owned) */
    char snap_plugins[1200], snap_activities[1200]; /* current one */
    uint64_t snap_generation; /* the generation that snapshot is */
    /* Where the generation's activities come from: amsd.conf's directory,
     * or a config-center version written under run_dir (center.c).  A
     * reload keeps the source of the generation serving (reload.h). */
    char src_activities[1200]; /* "" = c->activities_dir */
    char src_pins[1200];       /* plugin pins to verify, "" = none */
    uint64_t config_version;   /* the center's version serving, 0 = local */
    struct center *center;     /* NULL without config_center */
    cJSON *enabled;       /* enable/disable overrides {"id": bool} */
    struct reload *rl;    /* the reload in progress, or NULL */
    int hup_pending;      /* SIGHUP during a reload: one more after it */
    uint64_t reloads_ok, reloads_failed;
};

/* Ask worker s to stop gracefully (it is then respawned). */
void master_restart_worker(master *m, wslot *s);

/* Run the master until stopped; returns the process exit status. */
int master_run(conf *c);

/* Number of workers ready to serve. */
int master_ready(const master *m);

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
 * it wrote (NUL-terminated, at most MASTER_HELPER_OUT_MAX bytes; more is
 * an error, status then says SIGKILL), status is its wait status,
 * timed_out says the master killed it after timeout_ms.  When amsd stops,
 * a running helper is sent SIGTERM and done() still runs before the
 * master exits.
 *
 * Returns 0, or -1 with errno (EBUSY: a helper is already running).
 */
#define MASTER_HELPER_OUT_MAX (1 << 20)

typedef int (*master_helper_fn)(master *m, int fd, void *arg);
typedef void (*master_helper_done)(master *m, void *arg, const char *out,
                                   size_t len, int status, int timed_out);

int master_helper_start(master *m, const char *name, int64_t timeout_ms,
                        master_helper_fn fn, master_helper_done done,
                        void *arg);

#endif
