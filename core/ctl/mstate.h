/*
 * mstate.h -- the master's state: struct master and its worker slots,
 * shared by every file of the control plane.  Only types live here; each
 * file's functions are declared in its own header (master.h the loop,
 * supervise.h the children, reload.h, center.h, admin.h, ...).
 *
 * The files below the loop never call up into it: where one must tell the
 * loop or a sibling something (a worker's message arrived, a child must
 * drop the master's state, a reload finished), it calls a hook the loop
 * wired into struct master at setup.
 */
#ifndef AMS_CORE_MSTATE_H
#define AMS_CORE_MSTATE_H

#include "conf.h"

#include <cjson/cJSON.h>

#include <stdint.h>
#include <sys/types.h>

struct event;
struct event_base;
struct evhttp;

typedef struct master master;
typedef struct mhelper mhelper; /* supervise.c */

typedef struct wslot {
    master *m;
    int index;
    pid_t pid;  /* 0: not running */
    int ctl_fd; /* master's end, -1 when closed */
    struct event *ctl_ev;
    struct event *respawn_ev;
    int ready;           /* serving its generation */
    uint64_t generation; /* the one it said it serves */
    int64_t started_ms;  /* monotonic */
    int64_t backoff_ms;  /* delay before the next respawn */
    char *failure;       /* last "failed" message, owned */
} wslot;

struct master {
    conf *c;
    struct event_base *base;
    int listen_fds[LIS_MAX]; /* c->ls.v[i]'s socket, -1 when closed */
    int nlisten;
    int admin_fd;
    struct evhttp *admin;
    struct httpguard *admin_guard; /* its deadlines, cap, accept back-off */
    wslot *w;
    int n;
    struct event *sigs[5];
    struct event *kill_timer;
    int starting; /* not every worker has been ready yet */
    int stopping;
    int exit_code;
    uint64_t generation;
    uint64_t restarts; /* workers respawned after an unplanned exit */
    mhelper *helper;   /* the running helper child, or NULL */
    /* Generations (reload.c). */
    char run_dir[1024]; /* snapshots and plugin copies (owned) */
    char snap_plugins[1200], snap_activities[1200]; /* current one */
    uint64_t snap_generation; /* the generation that snapshot is */
    struct snap_cache *snaps; /* digests of the source files (snapshot.h),
                                 owned */
    uint64_t drop_gen;        /* a snapshot to remove soon (reload.c), 0 */
    struct event *drop_ev;
    /* Where the generation's activities come from: amsd.conf's directory,
     * or a config-center version written under run_dir (center.c).  A
     * reload keeps the source of the generation serving (reload.h). */
    char src_activities[1200]; /* "" = c->activities_dir */
    char src_pins[1200];       /* plugin pins to verify, "" = none */
    uint64_t config_version;   /* the center's version serving, 0 = local */
    struct center *center;     /* NULL without config_center */
    cJSON *enabled;            /* enable/disable overrides {"id": bool} */
    struct reload *rl;         /* the reload in progress, or NULL */
    int hup_pending;           /* SIGHUP during a reload: one more after it */
    uint64_t reloads_ok, reloads_failed;

    /* Hooks the loop (master.c) wires at setup. */
    /* A worker's control message (msg owned by the caller). */
    void (*on_worker_msg)(wslot *s, const cJSON *msg);
    /* In a forked worker: free everything of the master's. */
    void (*drop_in_child)(master *m);
    /* A reload finished (ok or not) and its result is in place: the
     * config center reports what the node now serves. */
    void (*after_reload)(master *m);
};

#endif
