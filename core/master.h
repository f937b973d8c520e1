/*
 * master.h -- the master process: listening sockets, worker supervision,
 * the admin plane.  It never loads a plugin, so a plugin bug cannot take
 * down the control plane.
 */
#ifndef AMS_CORE_MASTER_H
#define AMS_CORE_MASTER_H

#include "conf.h"

#include <stdint.h>
#include <sys/types.h>

struct event;
struct event_base;
struct evhttp;

typedef struct master master;

typedef struct wslot {
    master *m;
    int index;
    pid_t pid;            /* 0: not running */
    int ctl_fd;           /* master's end, -1 when closed */
    struct event *ctl_ev;
    struct event *respawn_ev;
    int ready;            /* serving its generation */
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
};

/* Run the master until stopped; returns the process exit status. */
int master_run(conf *c);

/* Number of workers ready to serve. */
int master_ready(const master *m);

#endif
