/*
 * worker.h -- a worker process: one libevent loop serving the data plane.
 */
#ifndef AMS_CORE_WORKER_H
#define AMS_CORE_WORKER_H

#include "conf.h"

#include <cjson/cJSON.h>
#include <stdint.h>

/* What a worker starts serving: the master's current generation. */
typedef struct worker_start {
    uint64_t generation;
    const char *plugins_dir; /* the generation's snapshot */
    const char *activities_dir;
    const cJSON *enabled; /* enable/disable overrides, or NULL */
    const char *run_dir;  /* where plugin copies are written */
} worker_start;

/* Run worker `index` until told to stop; returns the process exit status
 * (0 after a clean stop, 2 when the generation or store could not be
 * loaded).  listen_fds are the shared data-plane sockets, one per listener
 * of c->ls in its order; ctl_fd the worker's
 * end of its control channel.  c and ws stay owned by the caller.
 *
 * Control messages it answers (see ctl.h):
 *   prepare {generation, plugins, activities, settings, enabled}
 *       -> prepared {generation} | prepare_failed {generation, errors}
 *   commit {generation}  -> committed {generation}
 *   abort {generation}   (drops the prepared generation)
 *   a question with an "ask" id (see ask.h, answers.h) -> answer
 *   stop */
int worker_main(conf *c, int index, const int *listen_fds, int nlisten,
                int ctl_fd, const worker_start *ws);

#endif
