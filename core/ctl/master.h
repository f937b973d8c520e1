/*
 * master.h -- the master process: listening sockets, worker supervision,
 * the admin plane.  It never loads a plugin, so a plugin bug cannot take
 * down the control plane.  Its state is mstate.h's; its children are
 * supervise.h's.
 */
#ifndef AMS_CORE_MASTER_H
#define AMS_CORE_MASTER_H

#include "conf.h"

/* Run the master until stopped; returns the process exit status. */
int master_run(conf *c);

#endif
