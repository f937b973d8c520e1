/*
 * worker.h -- a worker process: one libevent loop serving the data plane.
 */
#ifndef AMS_CORE_WORKER_H
#define AMS_CORE_WORKER_H

#include "conf.h"

/* Run worker `index` until told to stop; returns the process exit status
 * (0 after a clean stop, 2 when the generation or store could not be
 * loaded).  listen_fd is the shared data-plane socket; ctl_fd the worker's
 * end of its control channel.  c stays owned by the caller. */
int worker_main(conf *c, int index, int listen_fd, int ctl_fd);

#endif
